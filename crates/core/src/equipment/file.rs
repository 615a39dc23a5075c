//! The equipment file as written by users (TOML, physical units in field
//! names). Semantic checks live in [`super::validate`]; this module only
//! mirrors the file's layout for serde. The format is documented in
//! `docs/equipment.md`.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::geometry::BottomShape;
use super::power::ImpellerType;
use super::sparger::SpargerType;

/// What the vessel is made of; decides nothing in the physics, but tells the
/// reader which catalog entry is which.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum VesselKind {
    Glass,
    SingleUse,
    Stainless,
}

#[derive(Debug, Deserialize)]
pub struct EquipmentFile {
    pub id: String,
    pub name: String,
    pub kind: VesselKind,
    pub vessel: VesselSection,
    pub impellers: Vec<ImpellerSection>,
    pub sparger: SpargerSection,
    pub agitation: AgitationSection,
    pub kla: KlaSection,
    #[serde(default)]
    pub sources: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
pub struct VesselSection {
    pub tank_diameter_m: f64,
    pub bottom: BottomShape,
    /// Required for `dished`; implied for `flat` (0) and `hemispherical` (T/2).
    pub bottom_depth_m: Option<f64>,
    pub straight_side_height_m: f64,
    pub headspace_gauge_pressure_bar: f64,
    pub working_volume_min_l: f64,
    pub working_volume_max_l: f64,
}

#[derive(Debug, Deserialize)]
pub struct ImpellerSection {
    #[serde(rename = "type")]
    pub kind: ImpellerType,
    pub diameter_m: f64,
    pub power_number: f64,
    pub blade_width_m: f64,
    pub clearance_m: f64,
}

#[derive(Debug, Deserialize)]
pub struct SpargerSection {
    #[serde(rename = "type")]
    pub kind: SpargerType,
    /// Hole or pore diameter, informational.
    pub hole_diameter_mm: Option<f64>,
    pub gas_flow_min_slpm: f64,
    pub gas_flow_max_slpm: f64,
}

#[derive(Debug, Deserialize)]
pub struct AgitationSection {
    pub min_rpm: f64,
    pub max_rpm: f64,
    pub max_tip_speed_m_per_s: Option<f64>,
}

#[derive(Debug, Deserialize)]
pub struct KlaSection {
    /// kLa [1/h] = a (P/V [W/m³])^alpha (v_s [m/s])^beta.
    pub a: f64,
    pub alpha: f64,
    pub beta: f64,
    pub p_per_v_min_w_per_m3: f64,
    pub p_per_v_max_w_per_m3: f64,
    pub v_s_min_m_per_s: f64,
    pub v_s_max_m_per_s: f64,
}
