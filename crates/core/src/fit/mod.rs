//! The one estimator of biotwin (`docs/fit.md`): generic numerics with no
//! knowledge of datasets.
//!
//! * [`dual`]: forward-mode dual numbers; model right-hand sides generic
//!   over [`dual::Scalar`] give exact forward sensitivities;
//! * [`lm`]: the Levenberg–Marquardt solver, its problem trait and the
//!   multi-start executor (Latin hypercube, bounds) — used by `biotwin fit`
//!   (through `calibration`) and by the serial and calibrated hybrids.
//!
//! [`lm::levenberg_marquardt`] shows a small fit with a known answer.

pub mod dual;
pub mod lm;
