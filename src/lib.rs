//! biotwin: a predictive digital twin for biopharmaceutical manufacturing.
//!
//! The `biotwin` binary is a thin command-line layer ([`cli`]) over the
//! library crates, re-exported here under their historical paths:
//! `biotwin-core` (engine), `biotwin-downstream`, `biotwin-transfer`,
//! `biotwin-ml` (data, surrogates, registry) and `biotwin-live`.
//! See docs/architecture.md.

pub use biotwin_core::{
    bioreactor, definition, equipment, error, fit, montecarlo, optimise, output, random, scaleup,
    sensitivity, simulation, solver, units,
};
pub use biotwin_downstream as downstream;
pub use biotwin_live as live;
pub use biotwin_ml::{calibration, data, datagen, registry, surrogates};
pub use biotwin_transfer as transfer;
pub mod cli;
