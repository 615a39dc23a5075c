//! Variance-based (Sobol') sensitivity indices with Saltelli sampling.
//!
//! Design (Saltelli 2002; Saltelli et al. 2010): two independent N × k
//! matrices A and B are the first and last k coordinates of one 2k-dimensional
//! scrambled Sobol sequence; for each factor i, A_B^(i) is A with column i
//! taken from B. The model runs on every row of A, B and the k matrices
//! A_B^(i): N(k + 2) runs.
//!
//! Estimators, with f_A = f(A_j), f_B = f(B_j), f_i = f(A_B^(i)_j) and V the
//! variance of all 2N values of f_A and f_B:
//! * first order (Saltelli et al. 2010, table 2 (b)):
//!   S_i = (1/N) Σ_j f_B (f_i − f_A) / V
//! * total (Jansen 1999; Saltelli et al. 2010, table 2 (f)):
//!   S_Ti = (1/2N) Σ_j (f_A − f_i)² / V
//!
//! Outputs are centred by their overall mean before estimation: the
//! estimators are shift-invariant in expectation, and centring removes the
//! cancellation that a large mean (titer in g/L around 5 with a spread of
//! 0.01) would otherwise cause in f_B (f_i − f_A).
//!
//! Confidence intervals: bootstrap percentile intervals over base samples
//! (each resample keeps the rows of A, B and A_B^(i) of a drawn base sample
//! together), as in SALib.

use indicatif::ProgressBar;
use serde::Serialize;

use super::bootstrap::{Estimate, bootstrap, percentile_intervals};
use super::evaluate::evaluate_points;
use super::factor::Factor;
use super::sampling::{MAX_DIMENSIONS, MAX_POINTS, scramble_seed, sobol_point, to_factor_space};
use super::{SensitivityError, check_names, setup_problem};
use crate::error::Diagnostics;

/// Settings of a Sobol analysis.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct SobolOptions {
    /// N, the number of base samples; a power of two keeps the Sobol net
    /// balanced. Model runs: N(k + 2).
    pub base_samples: usize,
    /// Number of bootstrap resamples for the confidence intervals.
    pub bootstrap_resamples: usize,
    /// Confidence level of the intervals, in (0, 1), e.g. 0.95.
    pub confidence_level: f64,
    /// Seed of the scrambled sequence and of the bootstrap.
    pub seed: u64,
}

impl Default for SobolOptions {
    fn default() -> Self {
        SobolOptions {
            base_samples: 1024,
            bootstrap_resamples: 1000,
            confidence_level: 0.95,
            seed: 0,
        }
    }
}

/// First-order and total index of one factor for one output.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FactorSobol {
    /// Factor name.
    pub factor: String,
    /// First-order index S_i with its bootstrap interval.
    pub first_order: Estimate,
    /// Total index S_Ti with its bootstrap interval.
    pub total: Estimate,
}

/// Indices for one output.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SobolOutput {
    /// Output name.
    pub name: String,
    /// Mean of the output over A and B.
    pub mean: f64,
    /// Variance of the output over A and B (the denominator of the indices).
    pub variance: f64,
    /// One entry per factor, in factor order; `None` when the output does
    /// not vary over the design, where indices are undefined (0/0).
    pub indices: Option<Vec<FactorSobol>>,
}

impl SobolOutput {
    /// The indices of factor `name`, if defined.
    pub fn factor(&self, name: &str) -> Option<&FactorSobol> {
        self.indices.as_ref()?.iter().find(|f| f.factor == name)
    }
}

/// Result of a Sobol analysis, ready for JSON.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SobolResult {
    /// Names the design and estimators.
    pub method: String,
    /// Factor names, in design order.
    pub factors: Vec<String>,
    /// Base samples N (rows of each of A and B).
    pub base_samples: usize,
    /// Model runs, N(k + 2).
    pub model_runs: usize,
    /// Seed of the design and the bootstrap.
    pub seed: u64,
    /// Bootstrap resamples.
    pub bootstrap_resamples: usize,
    /// Confidence level of the intervals.
    pub confidence_level: f64,
    /// Indices per output.
    pub outputs: Vec<SobolOutput>,
}

impl SobolResult {
    /// The indices of output `name`, if present.
    pub fn output(&self, name: &str) -> Option<&SobolOutput> {
        self.outputs.iter().find(|o| o.name == name)
    }
}

/// The Saltelli design: N(k + 2) points in factor space, grouped by base
/// sample as rows A_j, B_j, A_B^(1)_j, …, A_B^(k)_j.
#[derive(Debug, Clone)]
pub struct SaltelliDesign {
    factors: Vec<Factor>,
    base_samples: usize,
    seed: u64,
    points: Vec<Vec<f64>>,
}

impl SaltelliDesign {
    /// Builds the design; the factors must be valid (see
    /// [`validate_factors`](super::validate_factors)).
    pub fn new(factors: &[Factor], base_samples: usize, seed: u64) -> Result<Self, Diagnostics> {
        let k = factors.len();
        let mut problems = Diagnostics::new();
        if let Err(d) = setup_problem(factors) {
            problems.extend(d);
        }
        if !(2..=MAX_POINTS).contains(&base_samples) {
            problems.push(super::setup_diagnostic(
                "base_samples",
                format!("an integer in [2, {MAX_POINTS}] (a power of two is best)"),
                base_samples.to_string(),
            ));
        }
        if base_samples.saturating_mul(k + 2) > MAX_RUNS {
            problems.push(super::setup_diagnostic(
                "base_samples",
                format!("at most {MAX_RUNS} model runs, N(k + 2), in one design"),
                format!("{} runs", base_samples.saturating_mul(k + 2)),
            ));
        }
        if 2 * k > MAX_DIMENSIONS {
            problems.push(super::setup_diagnostic(
                "factors",
                format!(
                    "at most {} factors for a Saltelli design",
                    MAX_DIMENSIONS / 2
                ),
                format!("{k} factors"),
            ));
        }
        problems.into_result(())?;

        let scramble = scramble_seed(seed);
        let mut points = Vec::with_capacity(base_samples * (k + 2));
        for j in 0..base_samples {
            let a = sobol_point(j, 0, k, scramble);
            let b = sobol_point(j, k, k, scramble);
            points.push(to_factor_space(&a, factors));
            points.push(to_factor_space(&b, factors));
            for i in 0..k {
                let mut ab = a.clone();
                ab[i] = b[i];
                points.push(to_factor_space(&ab, factors));
            }
        }
        Ok(SaltelliDesign {
            factors: factors.to_vec(),
            base_samples,
            seed,
            points,
        })
    }

    /// Points to run the model on, rows of factor values in factor order.
    pub fn points(&self) -> &[Vec<f64>] {
        &self.points
    }

    /// The factors, in design order.
    pub fn factors(&self) -> &[Factor] {
        &self.factors
    }

    /// Number of model runs, N(k + 2).
    pub fn runs(&self) -> usize {
        self.points.len()
    }

    /// Estimates the indices from model outputs, one row per design point (in
    /// [`points`](Self::points) order) with one value per output.
    pub fn analyse(
        &self,
        outputs: &[Vec<f64>],
        output_names: &[String],
        bootstrap_resamples: usize,
        confidence_level: f64,
    ) -> Result<SobolResult, Diagnostics> {
        let mut problems = Diagnostics::new();
        if let Err(d) = check_names(output_names, "outputs") {
            problems.extend(d);
        }
        if outputs.len() != self.runs() || outputs.iter().any(|r| r.len() != output_names.len()) {
            problems.push(super::setup_diagnostic(
                "outputs",
                format!(
                    "{} rows of {} finite values (one per design point)",
                    self.runs(),
                    output_names.len()
                ),
                format!("{} rows", outputs.len()),
            ));
        }
        if outputs.iter().flatten().any(|v| !v.is_finite()) {
            problems.push(super::setup_diagnostic(
                "outputs",
                "finite values",
                "NaN or infinite values",
            ));
        }
        check_bootstrap(&mut problems, bootstrap_resamples, confidence_level);
        problems.into_result(())?;

        let k = self.factors.len();
        let n = self.base_samples;
        let n_out = output_names.len();
        let centred = centre(outputs, k, n);

        let all: Vec<usize> = (0..n).collect();
        let statistic = |idx: &[usize]| -> Vec<f64> {
            (0..n_out)
                .flat_map(|o| estimate(&centred, idx, k, o))
                .collect()
        };
        let point = statistic(&all);
        let replicates = bootstrap(n, bootstrap_resamples, self.seed, SOBOL_STREAM, statistic);
        let intervals = percentile_intervals(&point, &replicates, confidence_level);

        let out = output_names
            .iter()
            .enumerate()
            .map(|(o, name)| {
                let (mean, variance) = mean_variance(outputs, k, n, o);
                let constant = variance <= (1e-12 * mean.abs()).powi(2) || variance == 0.0;
                let chunk = &intervals[o * 2 * k..(o + 1) * 2 * k];
                SobolOutput {
                    name: name.clone(),
                    mean,
                    variance,
                    indices: (!constant).then(|| {
                        self.factors
                            .iter()
                            .enumerate()
                            .map(|(i, f)| FactorSobol {
                                factor: f.name.clone(),
                                first_order: chunk[i],
                                total: chunk[k + i],
                            })
                            .collect()
                    }),
                }
            })
            .collect();

        Ok(SobolResult {
            method: "Saltelli sampling on a scrambled Sobol sequence; first order: Saltelli et al. 2010; total: Jansen 1999; bootstrap percentile intervals".into(),
            factors: self.factors.iter().map(|f| f.name.clone()).collect(),
            base_samples: n,
            model_runs: self.runs(),
            seed: self.seed,
            bootstrap_resamples,
            confidence_level,
            outputs: out,
        })
    }
}

/// Largest design accepted: ten million runs keep the stored design and
/// outputs within a few GB for up to ~30 factors.
pub const MAX_RUNS: usize = 10_000_000;

/// Keeps the Sobol bootstrap stream apart from Morris's under the same seed.
const SOBOL_STREAM: u64 = 0x5a17e111;

pub(super) fn check_bootstrap(problems: &mut Diagnostics, resamples: usize, level: f64) {
    if resamples < 10 {
        problems.push(super::setup_diagnostic(
            "bootstrap_resamples",
            "at least 10 (1000 is usual)",
            resamples.to_string(),
        ));
    }
    if !(level > 0.0 && level < 1.0) {
        problems.push(super::setup_diagnostic(
            "confidence_level",
            "a probability in (0, 1), e.g. 0.95",
            level.to_string(),
        ));
    }
}

/// Runs a full Sobol analysis: design, parallel model runs, estimation.
pub fn sobol_analysis<F, E>(
    factors: &[Factor],
    output_names: &[String],
    model: &F,
    options: &SobolOptions,
    progress: Option<&ProgressBar>,
) -> Result<SobolResult, SensitivityError<E>>
where
    F: Fn(&[f64]) -> Result<Vec<f64>, E> + Sync,
    E: Send,
{
    let mut problems = Diagnostics::new();
    if let Err(d) = check_names(output_names, "outputs") {
        problems.extend(d);
    }
    check_bootstrap(
        &mut problems,
        options.bootstrap_resamples,
        options.confidence_level,
    );
    let design = SaltelliDesign::new(factors, options.base_samples, options.seed);
    if let Err(d) = &design {
        problems.extend(d.clone());
    }
    problems.into_result(()).map_err(SensitivityError::Setup)?;
    let design = design.map_err(SensitivityError::Setup)?;

    let names: Vec<String> = factors.iter().map(|f| f.name.clone()).collect();
    let outputs = evaluate_points(model, design.points(), &names, output_names, progress)
        .map_err(SensitivityError::Evaluation)?;
    design
        .analyse(
            &outputs,
            output_names,
            options.bootstrap_resamples,
            options.confidence_level,
        )
        .map_err(SensitivityError::Setup)
}

fn row(j: usize, k: usize) -> usize {
    j * (k + 2)
}

/// Mean and (population) variance of output `o` over the rows of A and B.
fn mean_variance(y: &[Vec<f64>], k: usize, n: usize, o: usize) -> (f64, f64) {
    let values = (0..n).flat_map(|j| [y[row(j, k)][o], y[row(j, k) + 1][o]]);
    let count = 2 * n;
    let mean = values.clone().sum::<f64>() / count as f64;
    let var = values.map(|v| (v - mean).powi(2)).sum::<f64>() / count as f64;
    (mean, var)
}

/// Outputs minus each output's mean over A and B.
fn centre(y: &[Vec<f64>], k: usize, n: usize) -> Vec<Vec<f64>> {
    let n_out = y.first().map_or(0, |r| r.len());
    let means: Vec<f64> = (0..n_out).map(|o| mean_variance(y, k, n, o).0).collect();
    y.iter()
        .map(|r| r.iter().zip(&means).map(|(v, m)| v - m).collect())
        .collect()
}

/// [S_1..S_k, ST_1..ST_k] of output `o` from the base samples `idx`.
fn estimate(y: &[Vec<f64>], idx: &[usize], k: usize, o: usize) -> Vec<f64> {
    let n = idx.len() as f64;
    let (mut sum, mut sum_sq) = (0.0, 0.0);
    for &j in idx {
        for v in [y[row(j, k)][o], y[row(j, k) + 1][o]] {
            sum += v;
            sum_sq += v * v;
        }
    }
    let mean = sum / (2.0 * n);
    let var = sum_sq / (2.0 * n) - mean * mean;
    let mut first = vec![0.0; k];
    let mut total = vec![0.0; k];
    for &j in idx {
        let r = row(j, k);
        let (fa, fb) = (y[r][o], y[r + 1][o]);
        for i in 0..k {
            let fi = y[r + 2 + i][o];
            first[i] += fb * (fi - fa);
            total[i] += (fa - fi).powi(2);
        }
    }
    first
        .iter()
        .map(|s| s / n / var)
        .chain(total.iter().map(|s| s / (2.0 * n) / var))
        .collect()
}
