//! Calibration of a process model to batch records (`biotwin fit`,
//! `docs/fit.md`), built on the one estimator in [`biotwin_core::fit`]:
//!
//! * [`problem`]: maximum likelihood of process-model parameters from
//!   batch records (the residuals and their sensitivities);
//! * [`setup`]: a dataset's batches mapped to scenarios and observations;
//! * [`estimate`]: the estimate, Fisher and profile-likelihood intervals,
//!   correlations and identifiability verdicts;
//! * [`discrepancy`]: a recipe-conditioned model discrepancy of the
//!   end-of-batch predictions (`linear` or `gp`);
//! * [`report`]: the Markdown report, `fit.json` and plots.

pub mod discrepancy;
pub mod estimate;
pub mod problem;
pub mod report;
pub mod setup;
