//! Downstream unit operations other than the column models: each takes a
//! [`Stream`] and returns a [`StepReport`] with the product stream, the
//! waste, the species formed and a per-species mass balance.

pub mod clarification;
pub mod polishing;
pub mod protein_a;
pub mod step;
pub mod stream;
pub mod ufdf;
pub mod viral_inactivation;

pub use step::StepReport;
pub use stream::Stream;
