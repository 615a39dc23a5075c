//! biotwin: a predictive digital twin for biopharmaceutical manufacturing.
//!
//! Data flows one way: **definition** (process-model files, validated) →
//! **simulation** (bioreactor kinetics integrated by the solver, downstream unit
//! operations) → **prediction** (quality attributes, Monte Carlo, surrogates) →
//! **report** (CSV/JSON/SVG writers, CLI tables).
//!
//! Inside the engine every quantity is SI (s, m³, kg, mol, K, Pa; cells are
//! counted). Units appear only at the edges: in input files, where [`units`]
//! converts them, and in output column names such as `glucose_g_per_l`.

pub mod bioreactor;
pub mod cli;
pub mod definition;
pub mod error;
pub mod montecarlo;
pub mod output;
pub mod simulation;
pub mod solver;
pub mod units;
// Modules added by feature branches go below this line.
pub mod data;
pub mod datagen;
pub mod downstream;
pub mod equipment;
pub mod calibration;
pub mod fit;
pub mod live;
pub mod optimise;
pub mod registry;
pub mod scaleup;
pub mod sensitivity;
pub mod surrogates;
pub mod transfer;
