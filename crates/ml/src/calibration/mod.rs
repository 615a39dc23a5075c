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

/// Why a calibration or one of its figures could not be carried out: a
/// batch's model run failed, a residual was not finite, the estimation or
/// the plotting back end failed, the calibrated model file could not be
/// written, or a recipe discrepancy could not be fitted or applied
/// ([`discrepancy::Discrepancy`]). The message names the batch or the step;
/// the caller says which task it was (e.g. `the fit failed: …`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct CalibrationError {
    /// What failed, naming the batch or the step.
    pub message: String,
}

/// The model runs and residuals of [`problem::Problem`] (and the other
/// steps) build their failures as text naming the batch; a calibration
/// keeps that text.
impl From<String> for CalibrationError {
    fn from(message: String) -> Self {
        CalibrationError { message }
    }
}

impl From<&str> for CalibrationError {
    fn from(message: &str) -> Self {
        CalibrationError {
            message: message.to_string(),
        }
    }
}
