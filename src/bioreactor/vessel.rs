//! What a culture model needs to know about its vessel: oxygen transfer
//! coefficient and mean liquid pressure at the current operating point.

use std::fmt::Debug;
use std::path::Path;

use crate::error::{Diagnostic, Diagnostics};

pub trait Vessel: Debug + Send + Sync {
    /// Equipment id, for records.
    fn id(&self) -> &str;
    /// kLa of O₂ (1/s) at agitation (1/s), actual gas flow (m³/s), volume (m³).
    fn kla_o2_per_s(&self, agitation_rps: f64, gas_flow_m3_per_s: f64, volume_m3: f64) -> f64;
    /// Mean absolute pressure in the liquid (Pa) at a volume.
    fn mean_pressure_pa(&self, volume_m3: f64) -> f64;
}

/// Loads an equipment file; equipment support lives in `crate::equipment`.
pub fn load(path: &Path) -> Result<std::sync::Arc<dyn Vessel>, Diagnostics> {
    Err(Diagnostic::new(
        path,
        "",
        "an equipment file (equipment catalog support is not built yet)",
        "an equipment reference",
    )
    .into())
}
