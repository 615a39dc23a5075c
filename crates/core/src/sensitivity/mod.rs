//! Global sensitivity analysis of a black-box model with several outputs.
//!
//! Which uncertain inputs (receiving-site set-points, raw-material
//! attributes) drive each predicted quality attribute? Two methods, both
//! generic over a model closure `Fn(&[f64]) -> Result<Vec<f64>, E> + Sync`
//! (factor values in, one value per output out), evaluated in parallel:
//!
//! * [`morris`]: elementary-effects screening (Morris 1991) with the μ*
//!   measure of Campolongo, Cariboni & Saltelli (2007) and optional
//!   trajectory selection for spread; r(k + 1) runs. Cheap ranking.
//! * [`sobol`]: first-order and total Sobol' indices from a Saltelli design
//!   on a scrambled Sobol sequence (Saltelli et al. 2010, Jansen 1999);
//!   N(k + 2) runs. Quantitative shares of output variance.
//!
//! Both give bootstrap percentile confidence intervals and are reproducible:
//! the same seed gives bit-identical results whatever the thread count.
//!
//! Factors are sampled by inverse CDF from unit-hypercube points
//! ([`distribution`], [`sampling`]). Equations, conventions and references:
//! `docs/sensitivity.md`.
//!
//! ```
//! use biotwin_core::sensitivity::{Factor, MorrisOptions, SobolOptions, morris_analysis, sobol_analysis};
//!
//! let factors = vec![
//!     Factor::uniform("agitation_rpm", 80.0, 120.0),
//!     Factor::uniform("air_flow_l_per_min", 0.5, 2.0),
//! ];
//! let outputs = vec!["titer_g_per_l".to_string()];
//! // Any closure: factor values in, one value per output out.
//! let model = |x: &[f64]| -> Result<Vec<f64>, String> { Ok(vec![0.01 * x[0] + 2.0 * x[1]]) };
//!
//! let screening = morris_analysis(&factors, &outputs, &model, &MorrisOptions::default(), None)
//!     .map_err(|e| e.to_string())?;
//! assert_eq!(screening.outputs[0].ranking(), vec!["air_flow_l_per_min", "agitation_rpm"]);
//!
//! let options = SobolOptions { base_samples: 256, ..SobolOptions::default() };
//! let sobol = sobol_analysis(&factors, &outputs, &model, &options, None).map_err(|e| e.to_string())?;
//! let json = serde_json::to_string_pretty(&sobol).map_err(|e| e.to_string())?;
//! assert!(json.contains("\"first_order\""));
//! # Ok::<(), String>(())
//! ```

pub mod bootstrap;
pub mod distribution;
pub mod evaluate;
pub mod factor;
pub mod morris;
pub mod sampling;
pub mod sobol;
pub mod trajectory;

use std::fmt;
use std::path::Path;

pub use bootstrap::Estimate;
pub use distribution::Distribution;
pub use evaluate::{EvaluationFailure, RunFailure, evaluate_points};
pub use factor::{Factor, PROGRAMMATIC_ORIGIN, validate_factors};
pub use morris::{MorrisDesign, MorrisOptions, MorrisResult, morris_analysis};
pub use sampling::sample_factors;
pub use sobol::{SaltelliDesign, SobolOptions, SobolResult, sobol_analysis};

use crate::error::{Diagnostic, Diagnostics};

/// Why an analysis did not produce a result.
#[derive(Debug)]
pub enum SensitivityError<E> {
    /// The factors or the options are invalid (maps to an input error).
    Setup(Diagnostics),
    /// Model runs failed; how many, and the first one.
    Evaluation(EvaluationFailure<E>),
}

impl<E: fmt::Display> fmt::Display for SensitivityError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SensitivityError::Setup(d) => write!(f, "{d}"),
            SensitivityError::Evaluation(e) => write!(f, "{e}"),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for SensitivityError<E> {}

/// A problem with the analysis settings passed in code (not read from a
/// file); reported against [`PROGRAMMATIC_ORIGIN`].
pub(crate) fn setup_diagnostic(
    field: impl Into<String>,
    expected: impl Into<String>,
    found: impl Into<String>,
) -> Diagnostic {
    Diagnostic::new(PROGRAMMATIC_ORIGIN, field, expected, found)
}

/// Factor validation for analyses called from code.
pub(crate) fn setup_problem(factors: &[Factor]) -> Result<(), Diagnostics> {
    validate_factors(factors, Path::new(PROGRAMMATIC_ORIGIN), "factors")
}

/// Output names must exist and be unique, or results would be ambiguous.
pub(crate) fn check_names(names: &[String], field: &str) -> Result<(), Diagnostics> {
    let mut d = Diagnostics::new();
    if names.is_empty() {
        d.push(setup_diagnostic(
            field,
            "at least one name",
            "an empty list",
        ));
    }
    for (i, n) in names.iter().enumerate() {
        if n.trim().is_empty() || names[..i].contains(n) {
            d.push(setup_diagnostic(
                format!("{field}[{i}]"),
                "a non-empty name used once",
                format!("`{n}`"),
            ));
        }
    }
    d.into_result(())
}
