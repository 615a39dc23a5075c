//! Downstream processing: chromatography columns and the other unit
//! operations from harvest to drug substance.
//!
//! Equations, units and parameter sources of every model are given in each
//! module and collected in `docs/downstream.md`.

#![warn(missing_docs)]

pub mod binding;
pub mod column;
pub mod train;
pub mod unit_ops;
