//! Evaluation of the IndPenSim ensemble Kalman filter
//! (`biotwin_core::bioreactor::indpensim::estimate`) on recorded batches:
//! the historian export with measurement noise added (seeded), replayed
//! step by step into the filter; at each chosen fraction of batch time the
//! forecast of the final penicillin (230 h) is compared with the recorded
//! final value. `docs/indpensim-forecast.md` has the protocol.
//!
//! The filter reads only the historian (online tags, lab samples), the
//! recipe plan and the batch start. The truth (`batches.csv` `final_P_gL`)
//! is read only to score.

use std::path::Path;

use crate::error::Error;
use biotwin_core::bioreactor::indpensim::estimate::{
    Estimator, LabSample, N_ONLINE, Noise, ParameterEstimate, Prior, Settings,
};
use biotwin_core::bioreactor::indpensim::{N_STEPS, STEP_H};
use biotwin_core::random::{SplitMix64, mix, run_seed};

use crate::data::indpensim::read_recipe;
use crate::data::indpensim_historian::{
    HistorianRecord, batch_start, batch_value, read_historian_with,
};

/// Everything an evaluation run is set by.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalSettings {
    /// Settings of the ensemble Kalman filter.
    pub filter: Settings,
    /// Prior of the estimated parameters.
    pub prior: Prior,
    /// Noise added to the (noise-free) record.
    pub data_noise: Noise,
    /// Seed of the added noise (mixed with the batch id).
    pub noise_seed: u64,
    /// Seed of the future disturbances of the forecasts.
    pub forecast_seed: u64,
    /// Fractions of the batch time (230 h) at which a forecast is scored.
    pub fractions: Vec<f64>,
    /// Members run in each forecast (the first N of the filter's; `None`:
    /// all, as registered). A cheaper forecast for live use
    /// (`docs/indpensim-forecast.md`, "Live").
    pub forecast_members: Option<usize>,
}

impl Default for EvalSettings {
    fn default() -> Self {
        EvalSettings {
            filter: Settings::default(),
            prior: Prior::default(),
            data_noise: Noise::default(),
            noise_seed: 101,
            forecast_seed: 202,
            fractions: (1..=10).map(|i| i as f64 / 10.0).collect(),
            forecast_members: None,
        }
    }
}

/// One scored forecast.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ForecastPoint {
    /// Fraction of the batch time (230 h) the forecast was scored at.
    pub fraction: f64,
    /// Batch time of the forecast, h (the fraction's simulation step).
    pub time_h: f64,
    /// Forecast mean of the final penicillin concentration, g/L.
    pub mean_g_per_l: f64,
    /// 5 % quantile of the forecast members, g/L.
    pub p05_g_per_l: f64,
    /// 95 % quantile of the forecast members, g/L.
    pub p95_g_per_l: f64,
    /// |mean − truth| / truth · 100.
    pub ape_pct: f64,
    /// Whether [p05, p95] holds the truth.
    pub covered: bool,
    /// Ensemble mean and SD of each estimated parameter at this time.
    pub parameters: Vec<(String, f64, f64)>,
    /// Members replaced during the filter so far / failed in this forecast.
    pub members_replaced: usize,
    /// Members that failed to integrate in this forecast.
    pub forecast_members_failed: usize,
    /// Forecast members run with a kinetic parameter capped at the prior
    /// mean + `FORECAST_PARAMETER_CAP_SD` SDs.
    pub forecast_members_capped: usize,
    /// Online readings rejected by the gross-error check so far.
    pub readings_rejected: usize,
    /// Step inputs run at the plan's set-point so far because the record
    /// lacked the applied value (0 with the plan-only filter, which does
    /// not read them).
    pub applied_inputs_missing: usize,
}

/// One batch's evaluation.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BatchOutcome {
    /// Batch id (`B01`, ...).
    pub batch_id: String,
    /// The record's final penicillin concentration (`final_P_gL`), g/L.
    pub truth_final_g_per_l: f64,
    /// Whether the filter stepped its members with the recipe inputs as
    /// applied (`estimate::Settings::applied_inputs`; `false`: the
    /// plan-only filter, `--plan-inputs`): which filter made the result.
    pub applied_inputs: bool,
    /// One scored forecast per fraction, in order.
    pub points: Vec<ForecastPoint>,
}

/// The pre-registered held-out batches of `docs/indpensim-forecast.md`:
/// entry points refuse them unless asked for the protocol's one run.
pub const HELD_OUT: [&str; 5] = ["B16", "B17", "B18", "B19", "B20"];

/// Why a run may not score a pre-registered held-out batch
/// ([`check_held_out`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeldOutRefusal {
    /// A held-out batch was asked for without `--held-out`.
    #[error(
        "{batch} is a pre-registered held-out batch: pass --held-out for the protocol's one run"
    )]
    NotAskedFor {
        /// The first held-out batch of the run.
        batch: String,
    },
    /// `--held-out` without naming the filter.
    #[error(
        "{batch} is a pre-registered held-out batch: with --held-out, name the filter: \
         --plan-inputs (the pre-registered plan-only filter) or --applied-inputs"
    )]
    FilterUnnamed {
        /// The first held-out batch of the run.
        batch: String,
    },
}

/// Checks a run's batches against the pre-registered held-out set: a
/// held-out batch needs `held_out` (the protocol's one run) and an
/// explicit choice of filter (`inputs_chosen`: `--plan-inputs`, the
/// pre-registered plan-only filter, or `--applied-inputs`), since the
/// default filter changed after the registration. The one check of the
/// example and of `biotwin forecast`.
pub fn check_held_out(
    batches: &[String],
    held_out: bool,
    inputs_chosen: bool,
) -> Result<(), HeldOutRefusal> {
    let Some(b) = batches.iter().find(|b| HELD_OUT.contains(&b.as_str())) else {
        return Ok(());
    };
    if !held_out {
        return Err(HeldOutRefusal::NotAskedFor { batch: b.clone() });
    }
    if !inputs_chosen {
        return Err(HeldOutRefusal::FilterUnnamed { batch: b.clone() });
    }
    Ok(())
}

/// A stable seed per batch id (the added noise of batch `batch_id` is
/// seeded with `batch_seed(noise_seed, batch_id)`).
pub fn batch_seed(seed: u64, batch_id: &str) -> u64 {
    batch_id
        .bytes()
        .fold(mix(seed), |h, b| mix(h ^ u64::from(b)))
}

/// The record with measurement noise: lognormal relative errors (pH:
/// additive) at the SDs of `noise`, independent per reading.
pub fn add_noise(record: &HistorianRecord, noise: &Noise, seed: u64) -> HistorianRecord {
    let mut rng = SplitMix64::new(run_seed(seed, 0));
    let mut out = record.clone();
    for step in &mut out.online {
        for j in 0..N_ONLINE {
            let e = noise.online[j] * rng.normal();
            step.values[j] = if j == 1 {
                step.values[j] + e
            } else {
                step.values[j] * e.exp()
            };
        }
        for f in &mut step.flows {
            *f *= (noise.flows * rng.normal()).exp();
        }
    }
    // The applied recipe inputs get the flows' relative noise from a
    // stream of their own, so that the noise of every other reading is
    // the same as before they were read.
    let mut rng_applied = SplitMix64::new(run_seed(seed, 1));
    for step in &mut out.online {
        for v in step.applied.iter_mut().flatten() {
            *v *= (noise.flows * rng_applied.normal()).exp();
        }
    }
    for s in &mut out.lab {
        for (j, v) in s.values.iter_mut().enumerate() {
            if let Some(x) = v {
                *x *= (noise.lab[j] * rng.normal()).exp();
            }
        }
    }
    out
}

fn param_list(p: &[ParameterEstimate]) -> Vec<(String, f64, f64)> {
    p.iter()
        .map(|e| (e.name.to_string(), e.mean, e.sd))
        .collect()
}

/// Runs the filter over a batch's (noisy) record and scores the forecast
/// at each fraction.
pub fn evaluate_batch(dir: &Path, batch_id: &str, s: &EvalSettings) -> Result<BatchOutcome, Error> {
    let recipe = read_recipe(&dir.join("recipes.json"), batch_id)?;
    let start = batch_start(dir, batch_id)?;
    let path = dir
        .join("batches")
        .join(format!("{batch_id}_historian.csv.gz"));
    let record = read_historian_with(&path, &start, N_STEPS, s.filter.applied_inputs)?;
    let truth = batch_value(dir, batch_id, "final_P_gL")?;
    let noisy = add_noise(&record, &s.data_noise, batch_seed(s.noise_seed, batch_id));
    run_record(&recipe, &noisy, truth, batch_id, s)
}

/// The step a fraction of the batch falls on.
pub fn step_of(fraction: f64) -> usize {
    ((fraction * N_STEPS as f64).round() as usize).clamp(0, N_STEPS)
}

/// Runs the filter over a record (already noisy) and scores against
/// `truth`.
pub fn run_record(
    recipe: &biotwin_core::bioreactor::indpensim::Recipe,
    record: &HistorianRecord,
    truth: f64,
    batch_id: &str,
    s: &EvalSettings,
) -> Result<BatchOutcome, Error> {
    let lab0: &LabSample = &record.lab[0];
    let mut est = Estimator::new(recipe, lab0, &s.prior, &s.filter)?;
    let mut targets: Vec<(f64, usize)> = s.fractions.iter().map(|&f| (f, step_of(f))).collect();
    targets.sort_by_key(|t| t.1);
    let mut points = Vec::new();
    let mut next_target = 0;
    let last = targets.last().map_or(0, |t| t.1).min(record.online.len());
    // Forecasts at step 0 (fraction 0) would use the prior only.
    while next_target < targets.len() && targets[next_target].1 == 0 {
        points.push(score(&est, targets[next_target].0, truth, s)?);
        next_target += 1;
    }
    replay(&mut est, record, last, |est, k| {
        while next_target < targets.len() && targets[next_target].1 == k {
            points.push(score(est, targets[next_target].0, truth, s)?);
            next_target += 1;
        }
        Ok(())
    })?;
    Ok(BatchOutcome {
        batch_id: batch_id.to_string(),
        truth_final_g_per_l: truth,
        applied_inputs: s.filter.applied_inputs,
        points,
    })
}

/// Runs the filter through a record's steps 1..=`last` as the evaluation
/// does: each step's online readings, then every lab sample taken within
/// half a step of the step's end (at its sample time; samples between two
/// steps' windows are skipped, as the live engine does), then `after_step`
/// with the estimator and the step number. The one replay of a record
/// (the evaluation, `biotwin forecast`, the diagnosis example).
pub fn replay(
    est: &mut Estimator,
    record: &HistorianRecord,
    last: usize,
    mut after_step: impl FnMut(&Estimator, usize) -> Result<(), Error>,
) -> Result<(), Error> {
    let mut lab_iter = record.lab.iter().skip(1).peekable();
    for k in 1..=last.min(record.online.len()) {
        est.advance(&record.online[k - 1])?;
        let t = k as f64 * STEP_H;
        while let Some(sample) = lab_iter.peek() {
            if sample.time_h <= t + 0.5 * STEP_H {
                if sample.time_h > t - 0.5 * STEP_H {
                    est.assimilate_lab(sample)?;
                }
                lab_iter.next();
            } else {
                break;
            }
        }
        after_step(est, k)?;
    }
    Ok(())
}

fn score(
    est: &Estimator,
    fraction: f64,
    truth: f64,
    s: &EvalSettings,
) -> Result<ForecastPoint, Error> {
    let seed = run_seed(s.forecast_seed, est.step() as u64);
    let f = est.forecast_members(seed, s.forecast_members.unwrap_or(est.members()))?;
    Ok(ForecastPoint {
        fraction,
        time_h: f.time_h,
        mean_g_per_l: f.mean_g_per_l,
        p05_g_per_l: f.p05_g_per_l,
        p95_g_per_l: f.p95_g_per_l,
        ape_pct: (f.mean_g_per_l - truth).abs() / truth.abs() * 100.0,
        covered: f.p05_g_per_l <= truth && truth <= f.p95_g_per_l,
        parameters: param_list(&est.parameters()),
        members_replaced: est.replaced(),
        forecast_members_failed: f.failed_members,
        forecast_members_capped: f.capped_members,
        readings_rejected: est.rejected(),
        applied_inputs_missing: est.plan_fallbacks(),
    })
}

/// Per fraction over batches: (fraction, MAPE %, coverage 0–1, n).
pub fn summarise(outcomes: &[BatchOutcome]) -> Vec<(f64, f64, f64, usize)> {
    let mut fractions: Vec<f64> = outcomes
        .iter()
        .flat_map(|o| o.points.iter().map(|p| p.fraction))
        .collect();
    fractions.sort_by(f64::total_cmp);
    fractions.dedup();
    fractions
        .into_iter()
        .map(|f| {
            let pts: Vec<&ForecastPoint> = outcomes
                .iter()
                .flat_map(|o| o.points.iter().filter(move |p| p.fraction == f))
                .collect();
            let n = pts.len();
            let mape = pts.iter().map(|p| p.ape_pct).sum::<f64>() / n as f64;
            let cov = pts.iter().filter(|p| p.covered).count() as f64 / n as f64;
            (f, mape, cov, n)
        })
        .collect()
}
