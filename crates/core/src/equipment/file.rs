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
    /// Glass bench-scale vessel.
    Glass,
    /// Single-use bag bioreactor.
    SingleUse,
    /// Stainless-steel tank.
    Stainless,
}

/// An equipment file (`process-models/equipment/*.toml`) as written, before validation; units in the field names.
#[derive(Debug, Deserialize)]
pub struct EquipmentFile {
    /// Equipment identifier.
    pub id: String,
    /// Human-readable name.
    pub name: String,
    /// What the vessel is made of.
    pub kind: VesselKind,
    /// The `[vessel]` table: tank geometry and working volume.
    pub vessel: VesselSection,
    /// The `[[impellers]]` on the shaft, bottom first.
    pub impellers: Vec<ImpellerSection>,
    /// The `[sparger]` table.
    pub sparger: SpargerSection,
    /// The `[agitation]` table: speed limits.
    pub agitation: AgitationSection,
    /// The `[kla]` table: the vessel's kLa correlation.
    pub kla: KlaSection,
    /// The `[sources]` table: field path → where the number comes from.
    #[serde(default)]
    pub sources: BTreeMap<String, String>,
}

/// The `[vessel]` table of an equipment file.
#[derive(Debug, Deserialize)]
pub struct VesselSection {
    /// Inner tank diameter T, m.
    pub tank_diameter_m: f64,
    /// Shape of the bottom head.
    pub bottom: BottomShape,
    /// Required for `dished`; implied for `flat` (0) and `hemispherical` (T/2).
    pub bottom_depth_m: Option<f64>,
    /// Height of the cylindrical wall above the bottom head, m.
    pub straight_side_height_m: f64,
    /// Headspace gauge pressure, bar.
    pub headspace_gauge_pressure_bar: f64,
    /// Smallest working volume, L.
    pub working_volume_min_l: f64,
    /// Largest working volume, L.
    pub working_volume_max_l: f64,
}

/// One `[[impellers]]` entry of an equipment file.
#[derive(Debug, Deserialize)]
pub struct ImpellerSection {
    /// Impeller type (decides the correlations used).
    #[serde(rename = "type")]
    pub kind: ImpellerType,
    /// Impeller diameter D, m.
    pub diameter_m: f64,
    /// Turbulent (ungassed) power number Np.
    pub power_number: f64,
    /// Blade height W, m.
    pub blade_width_m: f64,
    /// Height of the impeller's centre above the lowest point of the vessel, m.
    pub clearance_m: f64,
}

/// The `[sparger]` table of an equipment file.
#[derive(Debug, Deserialize)]
pub struct SpargerSection {
    /// Sparger type.
    #[serde(rename = "type")]
    pub kind: SpargerType,
    /// Hole or pore diameter, informational.
    pub hole_diameter_mm: Option<f64>,
    /// Lowest gas flow, standard L/min (0 °C, 1 atm).
    pub gas_flow_min_slpm: f64,
    /// Highest gas flow, standard L/min (0 °C, 1 atm).
    pub gas_flow_max_slpm: f64,
}

/// The `[agitation]` table of an equipment file.
#[derive(Debug, Deserialize)]
pub struct AgitationSection {
    /// Lowest agitation, rpm.
    pub min_rpm: f64,
    /// Highest agitation, rpm.
    pub max_rpm: f64,
    /// Highest allowed impeller tip speed, m/s (shear limit), if any.
    pub max_tip_speed_m_per_s: Option<f64>,
}

/// The `[kla]` table of an equipment file: the vessel's fitted kLa correlation.
#[derive(Debug, Deserialize)]
pub struct KlaSection {
    /// kLa [1/h] = a (P/V [W/m³])^alpha (v_s [m/s])^beta.
    pub a: f64,
    /// Exponent of P/V (gassed power per volume).
    pub alpha: f64,
    /// Exponent of the superficial gas velocity v_s.
    pub beta: f64,
    /// Lower end of the P/V range the correlation was fitted over, W/m³.
    pub p_per_v_min_w_per_m3: f64,
    /// Upper end of the P/V range the correlation was fitted over, W/m³.
    pub p_per_v_max_w_per_m3: f64,
    /// Lower end of the v_s range the correlation was fitted over, m/s.
    pub v_s_min_m_per_s: f64,
    /// Upper end of the v_s range the correlation was fitted over, m/s.
    pub v_s_max_m_per_s: f64,
}
