//! Hybrid (mechanistic + machine-learning) models; see `docs/hybrid.md`.
//!
//! * [`serial`]: fed-batch mass balances with specific rates from a
//!   trainable rate model, fitted to whole trajectories through the ODE
//!   solution with forward sensitivities;
//! * [`parallel`]: a mechanistic prediction of end-of-batch quality
//!   attributes plus a PLS or GP correction of its residuals;
//! * [`residual`] with [`mechanistic`]: the parallel hybrid on batch records,
//!   as a surrogate (`biotwin train --model hybrid`);
//! * [`indpensim`]: the serial hybrid on the IndPenSim backbone (learned
//!   specific penicillin production rate; `biotwin train --model
//!   serial-hybrid` on an IndPenSim dataset);
//! * [`artifact`]: both saved as JSON sealed with a sha256.

pub mod artifact;
pub mod calibrated;
pub mod dual;
pub mod indpensim;
pub mod mechanistic;
pub mod parallel;
pub mod rate_net;
pub mod residual;
pub mod serial;

pub use artifact::{HybridArtifact, HybridModel};
pub use parallel::{Corrector, ParallelHybrid, ParallelHybridParams};
pub use serial::{BatchObservations, SerialHybrid, SerialHybridParams, Trajectories};
