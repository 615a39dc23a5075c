//! Running the model on every point of a design, in parallel.
//!
//! The model is any `Fn(&[f64]) -> Result<Vec<f64>, E> + Sync`: factor values
//! in, one value per output (CQA) out. Points are evaluated with rayon and
//! collected in design order, so results do not depend on the thread count.
//!
//! A failed run is never dropped or averaged away: the estimators need every
//! run of the design, so any failure (an `Err`, a non-finite output, a wrong
//! number of outputs) fails the whole evaluation with the count of failed
//! runs and the first one in design order.

use std::fmt;

use indicatif::ProgressBar;
use rayon::prelude::*;

/// Why one model run is unusable.
#[derive(Debug, Clone, PartialEq)]
pub enum RunFailure<E> {
    /// The model returned an error.
    Model(E),
    /// The model returned a NaN or infinite value for an output.
    NonFinite {
        /// Name of the output.
        output: String,
        /// The value returned.
        value: f64,
    },
    /// The model returned the wrong number of outputs.
    WrongLength {
        /// Number of outputs declared.
        expected: usize,
        /// Number returned.
        found: usize,
    },
}

impl<E: fmt::Display> fmt::Display for RunFailure<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunFailure::Model(e) => write!(f, "{e}"),
            RunFailure::NonFinite { output, value } => {
                write!(f, "output `{output}` is {value}, expected a finite number")
            }
            RunFailure::WrongLength { expected, found } => {
                write!(f, "model returned {found} outputs, expected {expected}")
            }
        }
    }
}

/// Some runs of a design failed; the analysis cannot go on.
#[derive(Debug, Clone, PartialEq)]
pub struct EvaluationFailure<E> {
    /// Number of failed runs.
    pub failed: usize,
    /// Number of runs in the design.
    pub total: usize,
    /// Index (in design order) of the first failed run.
    pub first_run: usize,
    /// Factor values of the first failed run, with the factor names.
    pub first_point: Vec<(String, f64)>,
    /// Why the first failed run failed.
    pub first_failure: RunFailure<E>,
}

impl<E: fmt::Display> fmt::Display for EvaluationFailure<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} of {} model runs failed; first failure at run {} (",
            self.failed, self.total, self.first_run
        )?;
        for (i, (name, v)) in self.first_point.iter().enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(f, "{name} = {v}")?;
        }
        write!(f, "): {}", self.first_failure)
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for EvaluationFailure<E> {}

/// Evaluates `model` at every point (rows of factor values) and returns one
/// output row per point, in the same order. `factor_names` label the first
/// failed point in an error; `output_names` fix the expected output count.
/// `progress`, when given, is advanced once per finished run.
pub fn evaluate_points<F, E>(
    model: &F,
    points: &[Vec<f64>],
    factor_names: &[String],
    output_names: &[String],
    progress: Option<&ProgressBar>,
) -> Result<Vec<Vec<f64>>, EvaluationFailure<E>>
where
    F: Fn(&[f64]) -> Result<Vec<f64>, E> + Sync,
    E: Send,
{
    let results: Vec<Result<Vec<f64>, RunFailure<E>>> = points
        .par_iter()
        .map(|x| {
            let run = check_run(model(x), output_names);
            if let Some(bar) = progress {
                bar.inc(1);
            }
            run
        })
        .collect();

    let failed = results.iter().filter(|r| r.is_err()).count();
    let mut outputs = Vec::with_capacity(results.len());
    let mut first = None;
    for (i, r) in results.into_iter().enumerate() {
        match r {
            Ok(y) => outputs.push(y),
            Err(e) => {
                if first.is_none() {
                    first = Some((i, e));
                }
            }
        }
    }
    match first {
        None => Ok(outputs),
        Some((i, failure)) => Err(EvaluationFailure {
            failed,
            total: points.len(),
            first_run: i,
            first_point: factor_names
                .iter()
                .cloned()
                .zip(points[i].iter().copied())
                .collect(),
            first_failure: failure,
        }),
    }
}

fn check_run<E>(
    run: Result<Vec<f64>, E>,
    output_names: &[String],
) -> Result<Vec<f64>, RunFailure<E>> {
    let y = run.map_err(RunFailure::Model)?;
    if y.len() != output_names.len() {
        return Err(RunFailure::WrongLength {
            expected: output_names.len(),
            found: y.len(),
        });
    }
    if let Some((name, &value)) = output_names.iter().zip(&y).find(|(_, v)| !v.is_finite()) {
        return Err(RunFailure::NonFinite {
            output: name.clone(),
            value,
        });
    }
    Ok(y)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_counted_and_the_first_is_reported() {
        let points: Vec<Vec<f64>> = (0..100).map(|i| vec![i as f64]).collect();
        let model = |x: &[f64]| -> Result<Vec<f64>, String> {
            if x[0] >= 90.0 {
                Err(format!("solver failed at {}", x[0]))
            } else if x[0] == 50.0 {
                Ok(vec![f64::NAN])
            } else {
                Ok(vec![x[0]])
            }
        };
        let names = vec!["x".to_string()];
        let outs = vec!["y".to_string()];
        let err = evaluate_points(&model, &points, &names, &outs, None).expect_err("must fail");
        assert_eq!(err.failed, 11);
        assert_eq!(err.total, 100);
        assert_eq!(err.first_run, 50);
        assert!(matches!(err.first_failure, RunFailure::NonFinite { .. }));
        assert!(err.to_string().contains("11 of 100"));
    }

    #[test]
    fn results_keep_design_order() {
        let points: Vec<Vec<f64>> = (0..1000).map(|i| vec![i as f64]).collect();
        let model = |x: &[f64]| -> Result<Vec<f64>, String> { Ok(vec![2.0 * x[0]]) };
        let y = evaluate_points(&model, &points, &["x".into()], &["y".into()], None).expect("ok");
        assert!(y.iter().enumerate().all(|(i, v)| v[0] == 2.0 * i as f64));
    }
}
