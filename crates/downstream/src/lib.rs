//! Downstream processing: chromatography columns and the other unit
//! operations from harvest to drug substance.
//!
//! Equations, units and parameter sources of every model are given in each
//! module and collected in `docs/downstream.md`.
//!
//! Two entry points:
//!
//! * a chromatography column: [`column::load`] reads a column file into a
//!   validated [`column::ColumnSpec`] (SI), [`column::simulate()`] integrates
//!   it into a [`column::ColumnResult`] (outlet profile, pools, mass balance);
//! * a whole train from harvest to drug substance: [`train::load_train`] and
//!   [`train::run_train`], whose [`train::TrainResult`] holds every step's
//!   [`unit_ops::StepReport`] and the specification checks.
//!
//! Errors: [`error::Error`], the crate's own failures (a column's or a
//! UF/DF integration) as typed variants and the core's file and input
//! problems passed through in [`error::Error::Core`].
//!
//! Shipped files: `process-models/downstream/` (`protein_a_column.toml`,
//! `cex_column.toml`, `cho_mab_train.toml`).

#![warn(missing_docs)]

pub mod binding;
pub mod column;
pub mod error;
pub mod train;
pub mod unit_ops;
