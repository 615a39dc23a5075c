//! The registry of kinetic model families: names, parameter tables, quality
//! attributes, and construction of a model from SI parameters.

use std::path::Path;
use std::sync::Arc;

use crate::bioreactor::platform::{self, ChoPlatform, PlatformParams};
use crate::bioreactor::xing2010::{self, Xing2010, Xing2010Params};
use crate::definition::kinetic::ParamSpec;
use crate::error::Diagnostics;

/// A model family known to biotwin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Xing et al. (2010) CHO fed-batch kinetics (`xing2010`).
    Xing2010,
    /// The platform CHO model with vessel coupling and quality states (`cho_platform`).
    ChoPlatform,
}

/// A constructed model of any family.
#[derive(Debug, Clone)]
pub enum AnyModel {
    /// A Xing 2010 model.
    Xing2010(Xing2010),
    /// A platform CHO model.
    ChoPlatform(ChoPlatform),
}

/// Shared, immutable vessel physics (kLa, pressure) for models that need it.
pub type VesselHandle = Arc<dyn crate::bioreactor::vessel::Vessel>;

impl Family {
    /// Every family.
    pub const ALL: &'static [Family] = &[Family::Xing2010, Family::ChoPlatform];

    /// The family named `name` (as in model files), if any.
    pub fn parse(name: &str) -> Option<Family> {
        Family::ALL.iter().copied().find(|f| f.name() == name)
    }
    /// Names of every family.
    pub fn names() -> Vec<&'static str> {
        Family::ALL.iter().map(|f| f.name()).collect()
    }
    /// The family's name in model files.
    pub fn name(self) -> &'static str {
        match self {
            Family::Xing2010 => "xing2010",
            Family::ChoPlatform => "cho_platform",
        }
    }
    /// The family's parameter table, in parameter order.
    pub fn params(self) -> &'static [ParamSpec] {
        match self {
            Family::Xing2010 => xing2010::PARAMS,
            Family::ChoPlatform => platform::PARAMS,
        }
    }
    /// End-of-batch quality attributes the family reports.
    pub fn cqa_names(self) -> Vec<&'static str> {
        match self {
            Family::Xing2010 => xing2010::QUALITY.to_vec(),
            Family::ChoPlatform => platform::QUALITY.to_vec(),
        }
    }
    /// Whether the family needs an equipment file (gas transfer).
    pub fn needs_vessel(self) -> bool {
        matches!(self, Family::ChoPlatform)
    }
    /// Builds the model. `Scenario` checks that families needing a vessel
    /// have one; without it the platform model gets no oxygen transfer.
    pub fn build(self, params_si: &[f64], vessel: Option<&VesselHandle>, v0_m3: f64) -> AnyModel {
        match self {
            Family::Xing2010 => AnyModel::Xing2010(
                Xing2010::new(Xing2010Params::from_si(params_si)).with_volume_scale(v0_m3),
            ),
            Family::ChoPlatform => {
                let v: VesselHandle = match vessel {
                    Some(v) => v.clone(),
                    None => Arc::new(crate::bioreactor::vessel::NoVessel),
                };
                AnyModel::ChoPlatform(ChoPlatform::new(
                    PlatformParams::from_si(params_si),
                    v,
                    v0_m3,
                ))
            }
        }
    }
}

/// Loads an equipment file as vessel physics.
pub fn load_vessel(path: &Path) -> Result<VesselHandle, Diagnostics> {
    crate::bioreactor::vessel::load(path)
}
