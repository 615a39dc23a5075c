//! The registry of kinetic model families: names, parameter tables, quality
//! attributes, and construction of a model from SI parameters.

use std::path::Path;
use std::sync::Arc;

use crate::bioreactor::xing2010::{self, Xing2010, Xing2010Params};
use crate::definition::kinetic::ParamSpec;
use crate::error::Diagnostics;

/// A model family known to biotwin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Xing2010,
}

/// A constructed model of any family.
#[derive(Debug, Clone)]
pub enum AnyModel {
    Xing2010(Xing2010),
}

/// Shared, immutable vessel physics (kLa, pressure) for models that need it.
pub type VesselHandle = Arc<dyn crate::bioreactor::vessel::Vessel>;

impl Family {
    pub const ALL: &'static [Family] = &[Family::Xing2010];

    pub fn parse(name: &str) -> Option<Family> {
        Family::ALL.iter().copied().find(|f| f.name() == name)
    }
    pub fn names() -> Vec<&'static str> {
        Family::ALL.iter().map(|f| f.name()).collect()
    }
    pub fn name(self) -> &'static str {
        match self {
            Family::Xing2010 => "xing2010",
        }
    }
    pub fn params(self) -> &'static [ParamSpec] {
        match self {
            Family::Xing2010 => xing2010::PARAMS,
        }
    }
    /// End-of-batch quality attributes the family reports.
    pub fn cqa_names(self) -> Vec<&'static str> {
        match self {
            Family::Xing2010 => xing2010::QUALITY.to_vec(),
        }
    }
    pub fn needs_vessel(self) -> bool {
        false
    }
    pub fn build(self, params_si: &[f64], _vessel: Option<&VesselHandle>, v0_m3: f64) -> AnyModel {
        match self {
            Family::Xing2010 => AnyModel::Xing2010(
                Xing2010::new(Xing2010Params::from_si(params_si)).with_volume_scale(v0_m3),
            ),
        }
    }
}

/// Loads an equipment file as vessel physics.
pub fn load_vessel(path: &Path) -> Result<VesselHandle, Diagnostics> {
    crate::bioreactor::vessel::load(path)
}
