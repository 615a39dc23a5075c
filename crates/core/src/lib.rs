//! biotwin-core: the mechanistic engine of biotwin.
//!
//! Data flows one way: **definition** (process-model files, validated) →
//! **simulation** (bioreactor kinetics integrated by the solver) →
//! **prediction** (quality attributes, Monte Carlo, sensitivity, scale-up) →
//! **report** (CSV/JSON/SVG writers).
//!
//! Inside the engine every quantity is SI (s, m³, kg, mol, K, Pa; cells are
//! counted). Units appear only at the edges: in input files, where [`units`]
//! converts them, and in output column names such as `glucose_g_per_l`.
//!
//! This crate has no async runtime, database, web or columnar-file
//! dependency: a researcher can run a Monte Carlo or a scale-up with it alone.

#![warn(missing_docs)]

pub mod bioreactor;
pub mod definition;
pub mod equipment;
pub mod error;
pub mod fit;
pub mod montecarlo;
pub mod optimise;
pub mod output;
pub mod random;
pub mod scaleup;
pub mod sensitivity;
pub mod simulation;
pub mod solver;
pub mod units;
