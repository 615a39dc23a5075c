//! Process-model definition files: kinetic models, recipes, equipment and
//! specifications, read with serde and validated with precise diagnostics.

pub mod calibration;
pub mod kinetic;
pub mod process;
pub mod recipe;
pub mod source;
pub mod species;
pub mod specs;
pub mod uncertainty;
