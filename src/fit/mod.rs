//! Parameter estimation: the one estimator of biotwin (`docs/fit.md`).
//!
//! * [`dual`]: forward-mode dual numbers; model right-hand sides generic
//!   over [`dual::Scalar`] give exact forward sensitivities;
//! * [`lm`]: the Levenberg–Marquardt solver, its problem trait and the
//!   multi-start executor (Latin hypercube, bounds) — used by `biotwin fit`
//!   and by the serial and calibrated hybrids;
//! * [`problem`]: maximum likelihood of process-model parameters from
//!   batch records (the residuals and their sensitivities);
//! * [`estimate`]: the estimate, Fisher and profile-likelihood intervals,
//!   correlations and identifiability verdicts.

pub mod dual;
pub mod lm;
pub mod estimate;
pub mod problem;
pub mod report;
pub mod setup;
