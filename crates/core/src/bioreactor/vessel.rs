//! What a culture model needs to know about its vessel: the oxygen transfer
//! coefficient and the mean liquid pressure at the current operating point.
//! The equipment catalog (`crate::equipment`) provides it.

use std::fmt::Debug;
use std::path::Path;
use std::sync::Arc;

use crate::equipment::Equipment;
use crate::error::Diagnostics;

/// What a culture needs from its vessel: kLa and mean pressure over agitation, gas flow and volume, and the equipment when there is one.
/// Implemented by [`crate::equipment::Equipment`] and by `NoVessel` (families that need no vessel); SI throughout.
pub trait Vessel: Debug + Send + Sync {
    /// Equipment id, for records.
    fn id(&self) -> &str;
    /// kLa of O₂ (1/s) at agitation (1/s), actual gas flow (m³/s), volume (m³).
    fn kla_o2_per_s(&self, agitation_rps: f64, gas_flow_m3_per_s: f64, volume_m3: f64) -> f64;
    /// Mean absolute pressure in the liquid (Pa) at a volume.
    fn mean_pressure_pa(&self, volume_m3: f64) -> f64;
    /// The equipment file behind this vessel, for `equipment.*` addresses
    /// and vessel limits; `None` for stand-ins.
    fn equipment(&self) -> Option<&Equipment> {
        None
    }
}

impl Vessel for Equipment {
    fn id(&self) -> &str {
        Equipment::id(self)
    }
    fn kla_o2_per_s(&self, agitation_rps: f64, gas_flow_m3_per_s: f64, volume_m3: f64) -> f64 {
        Equipment::kla_o2_per_s(self, agitation_rps, gas_flow_m3_per_s, volume_m3)
    }
    fn mean_pressure_pa(&self, volume_m3: f64) -> f64 {
        Equipment::mean_liquid_pressure_pa(self, volume_m3)
    }
    fn equipment(&self) -> Option<&Equipment> {
        Some(self)
    }
}

/// No vessel: no oxygen transfer at all. Only for building a model whose
/// vessel is checked elsewhere; a simulation with it starves of O₂.
#[derive(Debug)]
pub struct NoVessel;

impl Vessel for NoVessel {
    fn id(&self) -> &str {
        "none"
    }
    fn kla_o2_per_s(&self, _: f64, _: f64, _: f64) -> f64 {
        0.0
    }
    fn mean_pressure_pa(&self, _: f64) -> f64 {
        101_325.0
    }
}

/// Loads an equipment file as vessel physics.
pub fn load(path: &Path) -> Result<Arc<dyn Vessel>, Diagnostics> {
    Ok(Arc::new(Equipment::load(path)?))
}
