//! Morris elementary-effects screening.
//!
//! Along each trajectory (see [`trajectory`](super::trajectory)) one factor
//! moves at a time by ±Δ in the unit coordinate u; the elementary effect of
//! that factor is EE = [f(x + Δu·e_i) − f(x)] / Δu (Morris 1991). Over the r
//! trajectories, per factor and output:
//! * μ = mean EE (signed: direction of the effect; cancels for
//!   non-monotonic effects),
//! * μ* = mean |EE| (Campolongo, Cariboni & Saltelli 2007: overall
//!   importance, the ranking measure),
//! * σ = sample standard deviation of EE (non-linearity or interactions).
//!
//! Units: u runs from 0 to 1 across the factor's screening range, so EE is in
//! output units per full range. A factor with finite support (uniform,
//! triangular, truncated normal) is screened over its whole support; an
//! infinite tail is cut at the quantile `tail_probability` (0.5 % by default),
//! i.e. u ↦ F⁻¹(q_lo + u (q_hi − q_lo)). For y = Σ a_i x_i with uniform factors,
//! μ*_i = |a_i| (high_i − low_i) exactly, σ_i = 0.
//!
//! Confidence intervals on μ*: bootstrap percentile intervals over
//! trajectories.

use indicatif::ProgressBar;
use serde::{Deserialize, Serialize};

use super::bootstrap::{Estimate, bootstrap, percentile_intervals};
use super::evaluate::evaluate_points;
use super::factor::Factor;
use super::sobol::check_bootstrap;
use super::trajectory::{Trajectory, delta, random_trajectories, select_for_spread};
use super::{SensitivityError, check_names, setup_diagnostic, setup_problem};
use crate::error::Diagnostics;

/// Settings of a Morris screening.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MorrisOptions {
    /// r, the number of trajectories (10–50 usual). Model runs: r(k + 1).
    pub trajectories: usize,
    /// p, the number of grid levels (even; 4 is usual).
    pub levels: usize,
    /// Improved spread: draw this many candidate trajectories and keep the r
    /// most spread out (Campolongo et al. 2007). `None` keeps r random ones.
    pub spread_candidates: Option<usize>,
    /// Probability cut from each infinite tail to bound the screening range.
    pub tail_probability: f64,
    /// Bootstrap resamples for the confidence interval of μ*.
    pub bootstrap_resamples: usize,
    /// Confidence level of the interval (0.95: 95 %).
    pub confidence_level: f64,
    /// Seed of the design and the bootstrap.
    pub seed: u64,
}

impl Default for MorrisOptions {
    fn default() -> Self {
        MorrisOptions {
            trajectories: 20,
            levels: 4,
            spread_candidates: None,
            tail_probability: 0.005,
            bootstrap_resamples: 1000,
            confidence_level: 0.95,
            seed: 0,
        }
    }
}

/// Morris measures of one factor for one output.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MorrisFactor {
    /// Factor name.
    pub factor: String,
    /// μ: mean of the elementary effects (signed), in the output's unit.
    pub mu: f64,
    /// μ* with its bootstrap confidence interval.
    pub mu_star: Estimate,
    /// σ: standard deviation of the elementary effects, in the output's unit.
    pub sigma: f64,
}

/// Morris measures for one output, in factor order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MorrisOutput {
    /// Output name.
    pub name: String,
    /// Measures per factor, in factor order.
    pub factors: Vec<MorrisFactor>,
}

impl MorrisOutput {
    /// The measures of factor `name`, if present.
    pub fn factor(&self, name: &str) -> Option<&MorrisFactor> {
        self.factors.iter().find(|f| f.factor == name)
    }

    /// Factor names from most to least influential by μ* (ties keep factor
    /// order).
    pub fn ranking(&self) -> Vec<&str> {
        let mut order: Vec<&MorrisFactor> = self.factors.iter().collect();
        order.sort_by(|a, b| b.mu_star.value.total_cmp(&a.mu_star.value));
        order.iter().map(|f| f.factor.as_str()).collect()
    }
}

/// Result of a Morris screening, ready for JSON.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MorrisResult {
    /// Method name, for the record.
    pub method: String,
    /// Factor names, in design order.
    pub factors: Vec<String>,
    /// Number of trajectories r.
    pub trajectories: usize,
    /// Number of grid levels p.
    pub levels: usize,
    /// Δ in unit coordinates.
    pub delta: f64,
    /// Candidate trajectories drawn for improved spread, if used.
    pub spread_candidates: Option<usize>,
    /// Probability cut from each infinite tail.
    pub tail_probability: f64,
    /// Model runs, r(k + 1).
    pub model_runs: usize,
    /// Seed of the design and the bootstrap.
    pub seed: u64,
    /// Bootstrap resamples.
    pub bootstrap_resamples: usize,
    /// Confidence level of the intervals.
    pub confidence_level: f64,
    /// Measures per output.
    pub outputs: Vec<MorrisOutput>,
}

impl MorrisResult {
    /// The measures of output `name`, if present.
    pub fn output(&self, name: &str) -> Option<&MorrisOutput> {
        self.outputs.iter().find(|o| o.name == name)
    }
}

/// The Morris design: r trajectories of k + 1 points each.
#[derive(Debug, Clone)]
pub struct MorrisDesign {
    factors: Vec<Factor>,
    options: MorrisOptions,
    trajectories: Vec<Trajectory>,
    points: Vec<Vec<f64>>,
}

impl MorrisDesign {
    /// Builds the design for `factors`; invalid options or factors are diagnostics naming the field.
    pub fn new(factors: &[Factor], options: &MorrisOptions) -> Result<Self, Diagnostics> {
        let mut problems = Diagnostics::new();
        if let Err(d) = setup_problem(factors) {
            problems.extend(d);
        }
        let o = options;
        if o.levels < 2 || !o.levels.is_multiple_of(2) {
            problems.push(setup_diagnostic(
                "levels",
                "an even number of grid levels ≥ 2 (4 is usual)",
                o.levels.to_string(),
            ));
        }
        if o.trajectories < 2 {
            problems.push(setup_diagnostic(
                "trajectories",
                "at least 2 trajectories (10–50 usual)",
                o.trajectories.to_string(),
            ));
        }
        if let Some(m) = o.spread_candidates
            && m < o.trajectories
        {
            problems.push(setup_diagnostic(
                "spread_candidates",
                format!("at least the number of trajectories ({})", o.trajectories),
                m.to_string(),
            ));
        }
        if !(o.tail_probability > 0.0 && o.tail_probability < 0.5) {
            problems.push(setup_diagnostic(
                "tail_probability",
                "a probability in (0, 0.5), e.g. 0.005",
                o.tail_probability.to_string(),
            ));
        }
        check_bootstrap(&mut problems, o.bootstrap_resamples, o.confidence_level);
        problems.into_result(())?;

        let k = factors.len();
        let trajectories = match o.spread_candidates {
            None => random_trajectories(o.trajectories, k, o.levels, o.seed),
            Some(m) => {
                let candidates = random_trajectories(m, k, o.levels, o.seed);
                select_for_spread(&candidates, o.trajectories)
                    .into_iter()
                    .map(|i| candidates[i].clone())
                    .collect()
            }
        };
        let points = trajectories
            .iter()
            .flat_map(|t| {
                t.points
                    .iter()
                    .map(|u| screening_values(u, factors, o.tail_probability))
            })
            .collect();
        Ok(MorrisDesign {
            factors: factors.to_vec(),
            options: o.clone(),
            trajectories,
            points,
        })
    }

    /// Points to run the model on, trajectory after trajectory.
    pub fn points(&self) -> &[Vec<f64>] {
        &self.points
    }

    /// Number of model runs the design needs.
    pub fn runs(&self) -> usize {
        self.points.len()
    }

    /// Computes μ, μ*, σ and the μ* intervals from the model outputs, one row
    /// per design point in [`points`](Self::points) order.
    pub fn analyse(
        &self,
        outputs: &[Vec<f64>],
        output_names: &[String],
    ) -> Result<MorrisResult, Diagnostics> {
        let mut problems = Diagnostics::new();
        if let Err(d) = check_names(output_names, "outputs") {
            problems.extend(d);
        }
        if outputs.len() != self.runs()
            || outputs
                .iter()
                .any(|r| r.len() != output_names.len() || r.iter().any(|v| !v.is_finite()))
        {
            problems.push(setup_diagnostic(
                "outputs",
                format!(
                    "{} rows of {} finite values (one per design point)",
                    self.runs(),
                    output_names.len()
                ),
                format!("{} rows, or non-finite values", outputs.len()),
            ));
        }
        problems.into_result(())?;

        let k = self.factors.len();
        let r = self.trajectories.len();
        let n_out = output_names.len();
        // ee[o][i][t]: elementary effect of factor i on output o in trajectory t.
        let mut ee = vec![vec![vec![0.0; r]; k]; n_out];
        for (t, traj) in self.trajectories.iter().enumerate() {
            let base = t * (k + 1);
            for s in 0..k {
                let i = traj.moved[s];
                for (o, ee_o) in ee.iter_mut().enumerate() {
                    ee_o[i][t] = (outputs[base + s + 1][o] - outputs[base + s][o]) / traj.step[s];
                }
            }
        }

        let mu_star = |idx: &[usize]| -> Vec<f64> {
            ee.iter()
                .flat_map(|ee_o| {
                    ee_o.iter()
                        .map(|e| idx.iter().map(|&t| e[t].abs()).sum::<f64>() / idx.len() as f64)
                })
                .collect()
        };
        let all: Vec<usize> = (0..r).collect();
        let point = mu_star(&all);
        let o = &self.options;
        let replicates = bootstrap(r, o.bootstrap_resamples, o.seed, MORRIS_STREAM, mu_star);
        let intervals = percentile_intervals(&point, &replicates, o.confidence_level);

        let outputs_out = output_names
            .iter()
            .enumerate()
            .map(|(out, name)| MorrisOutput {
                name: name.clone(),
                factors: self
                    .factors
                    .iter()
                    .enumerate()
                    .map(|(i, f)| {
                        let e = &ee[out][i];
                        let mu = e.iter().sum::<f64>() / r as f64;
                        let var = e.iter().map(|v| (v - mu).powi(2)).sum::<f64>() / (r - 1) as f64;
                        MorrisFactor {
                            factor: f.name.clone(),
                            mu,
                            mu_star: intervals[out * k + i],
                            sigma: var.sqrt(),
                        }
                    })
                    .collect(),
            })
            .collect();

        Ok(MorrisResult {
            method: "Morris 1991 trajectories, mu* of Campolongo et al. 2007, bootstrap percentile intervals on mu*".into(),
            factors: self.factors.iter().map(|f| f.name.clone()).collect(),
            trajectories: r,
            levels: o.levels,
            delta: delta(o.levels),
            spread_candidates: o.spread_candidates,
            tail_probability: o.tail_probability,
            model_runs: self.runs(),
            seed: o.seed,
            bootstrap_resamples: o.bootstrap_resamples,
            confidence_level: o.confidence_level,
            outputs: outputs_out,
        })
    }
}

/// Keeps the Morris bootstrap stream apart from Sobol's under the same seed.
const MORRIS_STREAM: u64 = 0x40bb15;

/// Factor values of a unit-cube point over each factor's screening range.
fn screening_values(u: &[f64], factors: &[Factor], tail: f64) -> Vec<f64> {
    u.iter()
        .zip(factors)
        .map(|(&u, f)| {
            let (lower_finite, upper_finite) = f.distribution.finite_support();
            let q_lo = if lower_finite { 0.0 } else { tail };
            let q_hi = if upper_finite { 1.0 } else { 1.0 - tail };
            f.distribution.quantile(q_lo + u * (q_hi - q_lo))
        })
        .collect()
}

/// Runs a full Morris screening: design, parallel model runs, measures.
pub fn morris_analysis<F, E>(
    factors: &[Factor],
    output_names: &[String],
    model: &F,
    options: &MorrisOptions,
    progress: Option<&ProgressBar>,
) -> Result<MorrisResult, SensitivityError<E>>
where
    F: Fn(&[f64]) -> Result<Vec<f64>, E> + Sync,
    E: Send,
{
    let mut problems = Diagnostics::new();
    if let Err(d) = check_names(output_names, "outputs") {
        problems.extend(d);
    }
    let design = MorrisDesign::new(factors, options);
    if let Err(d) = &design {
        problems.extend(d.clone());
    }
    problems.into_result(()).map_err(SensitivityError::Setup)?;
    let design = design.map_err(SensitivityError::Setup)?;
    let names: Vec<String> = factors.iter().map(|f| f.name.clone()).collect();
    let outputs = evaluate_points(model, design.points(), &names, output_names, progress)
        .map_err(SensitivityError::Evaluation)?;
    design
        .analyse(&outputs, output_names)
        .map_err(SensitivityError::Setup)
}
