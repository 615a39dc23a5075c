//! Monte Carlo of one arm of the transfer (source, target, adjusted target,
//! alternative lots) over the declared uncertainty, with the end-of-batch
//! metrics summarised and 5–95 % envelopes of the main trajectories.
//!
//! Sampling is the one of [`biotwin_core::montecarlo`]: run `i` draws every input by
//! inverse CDF from a generator seeded by `(seed, i)` alone, so two arms run
//! with the same seed see the same draws of the same inputs (common random
//! numbers: differences between arms are not sampling noise), and results
//! do not depend on the thread count. Unlike `montecarlo::run` every run is
//! recorded, because the transfer needs trajectory metrics (peak pCO₂) and
//! envelopes; only the first [`BAND_RUNS`] trajectories are kept in memory.

use indicatif::{ProgressBar, ProgressStyle};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rayon::prelude::*;
use serde::Serialize;

use crate::error::Error;
use biotwin_core::definition::specs::Specifications;
use biotwin_core::montecarlo::{InputSet, Summary, quantile, run_seed, summarise};
use biotwin_core::simulation::{Outcome, Scenario};

/// Trajectory columns drawn with envelopes in `trajectories.svg`.
pub const BAND_COLUMNS: [&str; 6] = [
    "xv_1e6_cells_per_ml",
    "titer_g_per_l",
    "pco2_mmhg",
    "do_pct",
    "osmolality_mosm_per_kg",
    "galactosylated_pct",
];

/// The derived metric for CO₂ accumulation: the highest dissolved CO₂ of
/// the batch (the recorded trajectory's maximum), mmHg.
pub const PEAK_PCO2: &str = "peak_pco2_mmhg";

/// Envelopes are estimated from the first this-many Monte Carlo runs.
pub const BAND_RUNS: usize = 400;

/// End-of-batch metrics of a model: its quality attributes, then the
/// trajectory metrics the transfer adds ([`PEAK_PCO2`]).
pub fn metric_names(scenario: &Scenario) -> Vec<String> {
    let mut names: Vec<String> = scenario
        .family
        .cqa_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    names.push(PEAK_PCO2.to_string());
    names
}

/// Metrics of one recorded batch, in the order of [`metric_names`].
pub fn metrics(outcome: &Outcome) -> Vec<f64> {
    let mut v: Vec<f64> = outcome.quality.iter().map(|(_, v)| *v).collect();
    v.push(
        outcome
            .column("pco2_mmhg")
            .map(|c| c.into_iter().fold(f64::NAN, f64::max))
            .unwrap_or(f64::NAN),
    );
    v
}

/// Simulates a scenario (recorded) and returns its metrics.
pub fn evaluate(scenario: &Scenario) -> Result<Vec<f64>, Error> {
    Ok(scenario.simulate(true).map(|o| metrics(&o))?)
}

/// A progress bar on stderr with a label, hidden when `show` is false.
pub fn progress_bar(len: u64, label: &str, show: bool) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let b = ProgressBar::new(len);
    b.set_style(
        ProgressStyle::with_template(&format!(
            "{{spinner}} {label:<28} {{bar:36}} {{pos}}/{{len}} ({{per_sec}}, eta {{eta}})"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    b
}

/// A spinner with a label for steps of unknown length, hidden when `show`
/// is false.
pub fn spinner(label: &str, show: bool) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let b = ProgressBar::new_spinner();
    b.set_style(
        ProgressStyle::with_template(&format!("{{spinner}} {label:<28} {{elapsed}}"))
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    b.enable_steady_tick(std::time::Duration::from_millis(120));
    b
}

/// 5–95 % envelope of one trajectory column, with the nominal run.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Band {
    /// Trajectory column, with its unit (e.g. `xv_1e6_cells_per_ml`).
    pub column: String,
    /// The nominal run's values on [`Bands::time_h`].
    pub nominal: Vec<f64>,
    /// 5th percentile over the Monte Carlo runs at each time.
    pub p05: Vec<f64>,
    /// 95th percentile over the Monte Carlo runs at each time.
    pub p95: Vec<f64>,
}

/// Envelopes on the nominal run's time grid.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Bands {
    /// The nominal run's output times, h.
    pub time_h: Vec<f64>,
    /// Runs the envelopes were estimated from.
    pub runs: usize,
    /// One envelope per plotted column.
    pub columns: Vec<Band>,
}

/// Monte Carlo of one arm.
#[derive(Debug, Clone, Serialize)]
pub struct ArmStudy {
    /// Monte Carlo runs attempted.
    pub runs: usize,
    /// Seed of the runs (common random numbers across arms).
    pub seed: u64,
    /// Runs whose simulation failed (left out of every statistic).
    pub failed: usize,
    /// The first failure's run index and error, for the report.
    pub first_failure: Option<String>,
    /// Nominal (no uncertainty) metrics, by name.
    pub nominal: Vec<(String, f64)>,
    /// Distribution (mean, sd, percentiles) of each metric over the successful runs.
    pub summary: Vec<Summary>,
    /// Fraction of successful runs meeting every specified limit at once.
    pub prob_all_in_spec: Option<f64>,
    /// Fraction of successful runs whose peak pCO₂ stays at or below the limit.
    pub prob_peak_pco2_within_limit: f64,
    /// The peak-pCO₂ limit used, mmHg (the scale-up calculator's, from
    /// [`biotwin_core::scaleup::ScaleUpParameters`]).
    pub pco2_limit_mmhg: f64,
    /// Fraction of successful runs whose every toleranced metric is within
    /// its tolerance of the source's nominal value (comparability with the
    /// source; set by the study, see [`ArmStudy::set_comparability`]).
    pub prob_comparable_to_source: Option<f64>,
    /// Trajectory envelopes (None when the nominal run lacks a plotted column).
    #[serde(skip)]
    pub bands: Option<Bands>,
    /// Metrics per run (NaN rows for failed runs), in `metric_names` order.
    #[serde(skip)]
    pub outcomes: Vec<Vec<f64>>,
}

impl ArmStudy {
    /// Summary of the metric `name`, if it is one.
    pub fn summary_of(&self, name: &str) -> Option<&Summary> {
        self.summary.iter().find(|s| s.name == name)
    }
    /// Nominal value of the metric `name`, if it is one.
    pub fn nominal_of(&self, name: &str) -> Option<f64> {
        self.nominal
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| *v)
    }

    /// Sets [`ArmStudy::prob_comparable_to_source`]: the share of successful
    /// runs with every metric within its tolerance `t_i` of the reference
    /// `r_i` on its side (`adjust::Side`: `y ≥ r(1 − t)` for a floor,
    /// `y ≤ r(1 + t)` for a ceiling, `|y − r| ≤ t |r|` otherwise; metric
    /// names in `names` order).
    pub fn set_comparability(
        &mut self,
        names: &[String],
        reference: &[(String, f64)],
        tolerances: &[super::adjust::Tolerance],
    ) {
        let terms: Vec<(usize, f64, f64)> = tolerances
            .iter()
            .filter_map(|t| {
                let j = names.iter().position(|n| *n == t.metric)?;
                let r = reference.iter().find(|(n, _)| *n == t.metric)?.1;
                Some((j, r, t.relative_pct / 100.0))
            })
            .collect();
        let ok: Vec<&Vec<f64>> = self
            .outcomes
            .iter()
            .filter(|o| o.iter().all(|v| v.is_finite()))
            .collect();
        self.prob_comparable_to_source = (!terms.is_empty() && !ok.is_empty()).then(|| {
            ok.iter()
                .filter(|o| {
                    terms
                        .iter()
                        .all(|(j, r, t)| super::adjust::Side::of(&names[*j]).within(o[*j], *r, *t))
                })
                .count() as f64
                / ok.len() as f64
        });
    }
}

fn band_rows(outcome: &Outcome) -> Option<Vec<Vec<f64>>> {
    BAND_COLUMNS.iter().map(|c| outcome.column(c)).collect()
}

/// Runs the nominal batch and `runs` Monte Carlo batches of `scenario` over
/// `inputs`; `label` names the progress bar.
#[allow(clippy::too_many_arguments)]
pub fn run_arm(
    label: &str,
    scenario: &Scenario,
    inputs: &InputSet,
    specs: Option<&Specifications>,
    runs: usize,
    seed: u64,
    pco2_limit_mmhg: f64,
    progress: bool,
) -> Result<ArmStudy, Error> {
    let names = metric_names(scenario);
    let nominal_outcome = scenario.simulate(true)?;
    let nominal_values = metrics(&nominal_outcome);
    let bar = progress_bar(runs as u64, &format!("Monte Carlo: {label}"), progress);
    type RunResult = (Result<Vec<f64>, String>, Option<Vec<Vec<f64>>>);
    let results: Vec<RunResult> = (0..runs)
        .into_par_iter()
        .map_init(
            || scenario.clone(),
            |s, i| {
                let mut rng = StdRng::seed_from_u64(run_seed(seed, i as u64));
                let draw = inputs.draw(&mut rng);
                inputs.apply(s, &draw);
                let out = s.simulate(true);
                inputs.restore(s);
                bar.inc(1);
                match out {
                    Ok(o) => {
                        let band = if i < BAND_RUNS { band_rows(&o) } else { None };
                        (Ok(metrics(&o)), band)
                    }
                    Err(e) => (Err(e.to_string()), None),
                }
            },
        )
        .collect();
    bar.finish_and_clear();

    let mut failed = 0;
    let mut first_failure = None;
    let mut outcomes = Vec::with_capacity(runs);
    let mut band_runs = Vec::new();
    for (i, (out, band)) in results.into_iter().enumerate() {
        match out {
            Ok(m) => outcomes.push(m),
            Err(e) => {
                failed += 1;
                if first_failure.is_none() {
                    first_failure = Some(format!("run {i}: {e}"));
                }
                outcomes.push(vec![f64::NAN; names.len()]);
            }
        }
        if let Some(b) = band {
            band_runs.push(b);
        }
    }
    let summary = summarise(&names, &outcomes, specs);
    let ok: Vec<&Vec<f64>> = outcomes
        .iter()
        .filter(|o| o.iter().all(|v| v.is_finite()))
        .collect();
    let n_ok = ok.len().max(1) as f64;
    let limits: Vec<(usize, &biotwin_core::definition::specs::Limit)> = names
        .iter()
        .enumerate()
        .filter_map(|(j, n)| specs.and_then(|s| s.limit(n)).map(|l| (j, l)))
        .collect();
    let prob_all_in_spec = (!limits.is_empty()).then(|| {
        ok.iter()
            .filter(|o| limits.iter().all(|(j, l)| l.contains(o[*j])))
            .count() as f64
            / n_ok
    });
    let j_pco2 = names.len() - 1;
    let prob_peak_pco2_within_limit =
        ok.iter().filter(|o| o[j_pco2] <= pco2_limit_mmhg).count() as f64 / n_ok;
    let bands = bands(&nominal_outcome, &band_runs);
    Ok(ArmStudy {
        runs,
        seed,
        failed,
        first_failure,
        nominal: names.iter().cloned().zip(nominal_values).collect(),
        summary,
        prob_all_in_spec,
        prob_peak_pco2_within_limit,
        pco2_limit_mmhg,
        prob_comparable_to_source: None,
        bands,
        outcomes,
    })
}

/// Per-time-point 5 and 95 % quantiles over the runs whose grid matches the
/// nominal run's (the output grid is fixed, so all do unless a run failed).
fn bands(nominal: &Outcome, runs: &[Vec<Vec<f64>>]) -> Option<Bands> {
    let time_h = nominal.column("time_h")?;
    let nominal_cols = band_rows(nominal)?;
    let n = time_h.len();
    let runs: Vec<&Vec<Vec<f64>>> = runs
        .iter()
        .filter(|r| r.iter().all(|c| c.len() == n))
        .collect();
    let columns = BAND_COLUMNS
        .iter()
        .enumerate()
        .map(|(c, name)| {
            let (mut p05, mut p95) = (Vec::with_capacity(n), Vec::with_capacity(n));
            for t in 0..n {
                let mut v: Vec<f64> = runs
                    .iter()
                    .map(|r| r[c][t])
                    .filter(|x| x.is_finite())
                    .collect();
                v.sort_by(f64::total_cmp);
                p05.push(quantile(&v, 0.05));
                p95.push(quantile(&v, 0.95));
            }
            Band {
                column: name.to_string(),
                nominal: nominal_cols[c].clone(),
                p05,
                p95,
            }
        })
        .collect();
    Some(Bands {
        time_h,
        runs: runs.len(),
        columns,
    })
}
