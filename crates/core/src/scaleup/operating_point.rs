//! What the scale-up starts from: the source vessel's operating point, and the
//! physical parameters the comparison assumes.

use serde::{Deserialize, Serialize};

use crate::bioreactor::gas_transfer::BROTH_DENSITY_KG_PER_M3;
use crate::error::{Diagnostic, Diagnostics};

/// Operating point on the source vessel, SI except the gas flow, which recipes
/// give in standard litres per minute (0 °C, 1 atm).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OperatingPoint {
    /// Liquid volume, m³.
    pub volume_m3: f64,
    /// Agitation, revolutions per second.
    pub agitation_rps: f64,
    /// Total sparge gas flow, SLPM.
    pub sparge_gas_slpm: f64,
    /// Culture temperature, K.
    pub temperature_k: f64,
    /// Peak oxygen uptake rate of the culture, mol/(m³ s).
    pub peak_our_mol_per_m3_s: f64,
}

/// Where an operating point's problems are reported when it did not come from
/// a file (the CLI replaces this with the process file and field).
pub const OPERATING_POINT_SOURCE: &str = "<operating point>";

impl OperatingPoint {
    /// Every field must be finite and positive (OUR may be zero).
    pub fn validate(&self) -> Diagnostics {
        let mut d = Diagnostics::new();
        let mut need = |field: &str, value: f64, unit: &str, allow_zero: bool| {
            let ok = value.is_finite() && (value > 0.0 || (allow_zero && value == 0.0));
            if !ok {
                d.push(Diagnostic::new(
                    OPERATING_POINT_SOURCE,
                    field,
                    format!(
                        "a {} number ({unit})",
                        if allow_zero {
                            "non-negative"
                        } else {
                            "positive"
                        }
                    ),
                    format!("{value}"),
                ));
            }
        };
        need("volume_m3", self.volume_m3, "m³", false);
        need("agitation_rps", self.agitation_rps, "1/s", false);
        need("sparge_gas_slpm", self.sparge_gas_slpm, "SLPM", false);
        need("temperature_k", self.temperature_k, "K", false);
        need(
            "peak_our_mol_per_m3_s",
            self.peak_our_mol_per_m3_s,
            "mol/(m³ s)",
            true,
        );
        d
    }
}

/// Physical assumptions of the comparison; each default is documented with
/// its source in `docs/scale-up.md`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ScaleUpParameters {
    /// Broth density, kg/m³ (water-like, as in the gas-transfer model).
    pub density_kg_per_m3: f64,
    /// Broth dynamic viscosity, Pa s. Water at 37 °C is 0.69 mPa s; culture
    /// media are slightly more viscous. 0.9 mPa s assumed.
    pub viscosity_pa_s: f64,
    /// Respiratory quotient CPR/OUR: 0.9–1 for CHO (primer §2); 0.95 assumed.
    pub respiratory_quotient: f64,
    /// kLa_CO2 / kLa_O2 = √(D_CO2/D_O2) = √(1.92/2.42) ≈ 0.89 by penetration
    /// theory (Royce & Thornhill, AIChE J. 37:1680, 1991).
    pub kla_co2_over_kla_o2: f64,
    /// Dissolved-O₂ set-point as a fraction of air saturation at 1 atm and the
    /// culture temperature, for the OTR driving force. 0.4 assumed.
    pub do_setpoint_fraction: f64,
    /// Below this impeller Reynolds number the flow is transitional and the
    /// turbulent power number and mixing correlation are estimates.
    pub turbulent_reynolds_min: f64,
    /// Kolmogorov eddies smaller than a cell (15–20 µm, primer §4) are flagged.
    pub kolmogorov_min_um: f64,
    /// pCO₂ above this is flagged (primer §2: 80–150 mmHg inhibits growth).
    pub pco2_limit_mmhg: f64,
}

impl ScaleUpParameters {
    /// Physical ranges: positive properties, RQ and the kLa ratio in (0, 2],
    /// DO set-point in [0, 1).
    pub fn validate(&self) -> Diagnostics {
        let mut d = Diagnostics::new();
        let checks: [(&str, f64, (f64, f64), bool); 8] = [
            (
                "density_kg_per_m3",
                self.density_kg_per_m3,
                (0.0, f64::MAX),
                false,
            ),
            (
                "viscosity_pa_s",
                self.viscosity_pa_s,
                (0.0, f64::MAX),
                false,
            ),
            (
                "respiratory_quotient",
                self.respiratory_quotient,
                (0.0, 2.0),
                false,
            ),
            (
                "kla_co2_over_kla_o2",
                self.kla_co2_over_kla_o2,
                (0.0, 2.0),
                false,
            ),
            (
                "do_setpoint_fraction",
                self.do_setpoint_fraction,
                (0.0, 1.0),
                true,
            ),
            (
                "turbulent_reynolds_min",
                self.turbulent_reynolds_min,
                (0.0, f64::MAX),
                false,
            ),
            (
                "kolmogorov_min_um",
                self.kolmogorov_min_um,
                (0.0, f64::MAX),
                true,
            ),
            (
                "pco2_limit_mmhg",
                self.pco2_limit_mmhg,
                (0.0, f64::MAX),
                false,
            ),
        ];
        for (field, value, (lo, hi), lo_inclusive) in checks {
            let above = if lo_inclusive {
                value >= lo
            } else {
                value > lo
            };
            // `do_setpoint_fraction` must stay below 1 (a driving force is needed).
            let below = if field == "do_setpoint_fraction" {
                value < hi
            } else {
                value <= hi
            };
            if !(value.is_finite() && above && below) {
                d.push(Diagnostic::new(
                    OPERATING_POINT_SOURCE,
                    format!("parameters.{field}"),
                    format!(
                        "a value in {}{lo}, {hi}]",
                        if lo_inclusive { "[" } else { "(" }
                    ),
                    format!("{value}"),
                ));
            }
        }
        d
    }
}

impl Default for ScaleUpParameters {
    fn default() -> Self {
        ScaleUpParameters {
            density_kg_per_m3: BROTH_DENSITY_KG_PER_M3,
            viscosity_pa_s: 0.9e-3,
            respiratory_quotient: 0.95,
            kla_co2_over_kla_o2: 0.89,
            do_setpoint_fraction: 0.4,
            turbulent_reynolds_min: 1e4,
            kolmogorov_min_um: 20.0,
            pco2_limit_mmhg: 150.0,
        }
    }
}
