//! Sparger types and the gas-flow window of a sparger.

use serde::{Deserialize, Serialize};

/// How gas enters the liquid. The type matters for the bubble size, which the
/// vessel's own kLa correlation captures (a microsparger's fine bubbles give a
/// high kLa for O₂ but strip little CO₂ at low flow, because the CO₂ removal
/// at low vvm is limited by the gas flow, not by kLa).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SpargerType {
    /// Drilled pipe.
    DrilledPipe,
    /// Ring sparger.
    Ring,
    /// Open pipe.
    OpenPipe,
    /// Microsparger (sintered or fine-pore).
    Microsparger,
    /// Frit.
    Frit,
}

/// The sparger of a vessel, flows in standard litres per minute (0 °C, 1 atm).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Sparger {
    /// Sparger type.
    #[serde(rename = "type")]
    pub kind: SpargerType,
    /// Hole or pore diameter, mm (informational).
    pub hole_diameter_mm: Option<f64>,
    /// Lowest gas flow, standard L/min.
    pub gas_flow_min_slpm: f64,
    /// Highest gas flow, standard L/min.
    pub gas_flow_max_slpm: f64,
}
