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

use biotwin_core::error::Diagnostic;

/// Why a calibration or one of its figures could not be carried out: a
/// batch's model run failed, a residual was not finite, the estimation or
/// the plotting back end failed, the calibrated model file could not be
/// written, or a recipe discrepancy could not be fitted or applied
/// ([`discrepancy::Discrepancy`]). The message names the batch or the step;
/// the caller says which task it was (e.g. `the fit failed: …`).
///
/// A failure that is a problem of the user's input (a field of the mapping
/// or of the base model file) carries its [`Diagnostic`] in `input`
/// ([`CalibrationError::input`]); `biotwin_ml::Error::calibration` reports
/// it as an input error (exit code 2), the others as a failed calibration
/// (exit code 3).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct CalibrationError {
    /// What failed, naming the batch or the step.
    pub message: String,
    /// The field of the user's input at fault, when the failure is one.
    pub input: Option<Box<Diagnostic>>,
}

impl CalibrationError {
    /// A failure caused by `field` of the user's `file`: what was
    /// `expected` and what was `found`.
    pub fn input(
        file: impl AsRef<std::path::Path>,
        field: impl Into<String>,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) -> Self {
        let d = Diagnostic::new(file, field, expected, found);
        CalibrationError {
            message: d.to_string(),
            input: Some(Box::new(d)),
        }
    }
}

/// The model runs and residuals of [`problem::Problem`] (and the other
/// steps) build their failures as text naming the batch; a calibration
/// keeps that text.
impl From<String> for CalibrationError {
    fn from(message: String) -> Self {
        CalibrationError {
            message,
            input: None,
        }
    }
}

impl From<&str> for CalibrationError {
    fn from(message: &str) -> Self {
        CalibrationError::from(message.to_string())
    }
}
