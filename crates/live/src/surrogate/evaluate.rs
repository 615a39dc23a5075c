//! Evaluation of a ladder as it runs live: each batch of a dataset is
//! replayed into a fresh [`SurrogatePredictor`] (the live code, not a
//! re-implementation of the rung choice), its observations delivered in the
//! order they became available, and the forecast current at each chosen
//! fraction f of the batch's duration D is kept: the one made from every
//! observation available by f·D (online values at their sample time, lab
//! results at their result time). Each is compared with the batch's
//! recorded end-of-batch CQA: absolute percentage error, squared error,
//! and whether the ladder's interval (its `interval_level`, 90 % for
//! ladders trained by `biotwin train --ladder`) covers the truth.
//!
//! Aggregates per target and fraction over the evaluated batches:
//! MAPE = mean |ŷ − y| / |y| · 100 (undefined when some y = 0),
//! RMSE = √(mean (ŷ − y)²), coverage = share of batches inside the
//! interval, and the number of forecasts flagged by the extrapolation check
//! ([`biotwin_ml::surrogates::extrapolation`]).

use std::sync::Arc;

use serde::Serialize;

use super::{BatchPlan, SharedLadder, SurrogatePredictor};
use crate::Error;
use crate::{Observation, Predictor};
use biotwin_ml::data::{BatchRecord, Dataset};
use biotwin_ml::surrogates::extrapolation::Extrapolation;

/// The fractions of batch time evaluated by default: 10 %, 20 %, …, 100 %.
pub fn default_fractions() -> Vec<f64> {
    (1..=10).map(|k| k as f64 / 10.0).collect()
}

/// One forecast of one target at one fraction of one batch.
#[derive(Debug, Clone, Serialize)]
pub struct PointForecast {
    /// Fraction of the batch's planned duration at which the forecast holds.
    pub fraction: f64,
    /// Batch time of the latest information the forecast used, s.
    pub time_s: f64,
    /// Cut fraction of the rung used (0: the training prior).
    pub rung_cut_fraction: f64,
    /// Target (CQA) name, as in the ladder's configuration.
    pub target: String,
    /// The batch's recorded end-of-batch value, in the target's SI unit.
    pub observed: f64,
    /// Forecast mean, same unit.
    pub mean: f64,
    /// Lower end of the ladder's prediction interval (the forecast's `p05`
    /// field, at the ladder's `interval_level`).
    pub lower: f64,
    /// Upper end of the interval (the forecast's `p95` field).
    pub upper: f64,
    /// |mean − observed| / |observed| · 100 (`None` when observed = 0).
    pub ape_percent: Option<f64>,
    /// Whether `lower <= observed <= upper`.
    pub covered: bool,
    /// The extrapolation check of the rung's input (`None` for the prior).
    pub extrapolation: Option<Extrapolation>,
}

/// Aggregate over batches of one target at one fraction.
#[derive(Debug, Clone, Serialize)]
pub struct FractionMetrics {
    /// Fraction of the planned duration.
    pub fraction: f64,
    /// Target name.
    pub target: String,
    /// Number of batches aggregated.
    pub n: usize,
    /// Mean absolute percentage error, %; `None` when some observed value is 0.
    pub mape_percent: Option<f64>,
    /// Root mean squared error, in the target's SI unit.
    pub rmse: f64,
    /// Share of batches whose truth lies inside the interval.
    pub coverage: f64,
    /// Forecasts whose input the extrapolation check flagged.
    pub n_extrapolation_flagged: usize,
}

/// The result of [`evaluate_ladder`].
#[derive(Debug, Clone, Serialize)]
pub struct LadderEvaluation {
    /// Model id of the ladder ([`SharedLadder::model_id`]).
    pub model_id: String,
    /// Nominal coverage of the ladder's interval (0 to 1).
    pub interval_level: f64,
    /// The evaluated batches, in the order given.
    pub batch_ids: Vec<String>,
    /// Per batch, its forecasts (fraction-major, then target).
    pub per_batch: Vec<(String, Vec<PointForecast>)>,
    /// Target-major, then fraction.
    pub aggregate: Vec<FractionMetrics>,
}

/// A batch's records as the live mapping stage would deliver them, sorted
/// by availability time.
pub fn observations_of(batch: &BatchRecord) -> Vec<Observation> {
    let mut out = Vec::new();
    for (var, ts) in &batch.online {
        for (t, v) in ts.time_s.iter().zip(&ts.value) {
            out.push(Observation {
                variable: var.clone(),
                time_s: *t,
                available_s: *t,
                value_si: *v,
            });
        }
    }
    for (var, samples) in &batch.offline {
        for s in samples {
            out.push(Observation {
                variable: var.clone(),
                time_s: s.sample_time_s,
                available_s: s.result_time_s.unwrap_or(s.sample_time_s),
                value_si: s.value,
            });
        }
    }
    out.sort_by(|a, b| a.available_s.total_cmp(&b.available_s));
    out
}

/// Replays `batch` into a fresh predictor of `shared` and returns, for
/// each fraction (ascending), the forecast and its extrapolation check.
pub fn replay_at(
    shared: &Arc<SharedLadder>,
    batch: &BatchRecord,
    fractions: &[f64],
) -> Result<Vec<(f64, crate::Forecast, Option<Extrapolation>)>, Error> {
    let plan = BatchPlan {
        batch_id: batch.id().to_string(),
        duration_s: batch.duration_s(),
        parameters: batch.meta.parameters.clone(),
        specs: Default::default(),
    };
    let mut p = SurrogatePredictor::new(shared.clone(), plan)?;
    // The caller reports every flagged forecast itself; the live
    // once-per-batch console warning would repeat it.
    p.warned_extrapolation = true;
    let obs = observations_of(batch);
    let mut next = 0;
    let mut out = Vec::new();
    let mut sorted = fractions.to_vec();
    sorted.sort_by(f64::total_cmp);
    for f in sorted {
        let until = f * batch.duration_s();
        while next < obs.len() && obs[next].available_s <= until {
            p.assimilate(&obs[next])?;
            next += 1;
        }
        let fc = p.forecast(0)?;
        out.push((f, fc, p.last_extrapolation().cloned()));
    }
    Ok(out)
}

/// Evaluates the ladder on `batches` of `dataset` at `fractions` of each
/// batch's duration.
pub fn evaluate_ladder(
    shared: &Arc<SharedLadder>,
    dataset: &Dataset,
    batches: &[String],
    fractions: &[f64],
) -> Result<LadderEvaluation, Error> {
    let manifest = dataset.dir.join(biotwin_ml::data::dataset::MANIFEST_FILE);
    let cfg = &shared.ladder.config;
    let spec = cfg.spec(cfg.cut_fractions[0]);
    let mut per_batch = Vec::new();
    for id in batches {
        let b = dataset.batch(id).ok_or_else(|| {
            Error::input(
                &manifest,
                "--batches",
                "batch ids of the dataset",
                format!("`{id}`"),
            )
        })?;
        let truth = spec.targets_of(b, &manifest)?;
        let mut points = Vec::new();
        for (f, fc, ex) in replay_at(shared, b, fractions)? {
            let cut = fc
                .state
                .iter()
                .find(|s| s.0 == super::STATE_CUT)
                .map_or(0.0, |s| s.1);
            for (j, t) in cfg.targets.iter().enumerate() {
                let c = &fc.cqas[j];
                let y = truth[j];
                points.push(PointForecast {
                    fraction: f,
                    time_s: fc.time_s,
                    rung_cut_fraction: cut,
                    target: t.clone(),
                    observed: y,
                    mean: c.mean,
                    lower: c.p05,
                    upper: c.p95,
                    ape_percent: (y != 0.0).then(|| 100.0 * (c.mean - y).abs() / y.abs()),
                    covered: c.p05 <= y && y <= c.p95,
                    extrapolation: ex.clone(),
                });
            }
        }
        per_batch.push((id.clone(), points));
    }
    let mut fr = fractions.to_vec();
    fr.sort_by(f64::total_cmp);
    let mut aggregate = Vec::new();
    for t in &cfg.targets {
        for &f in &fr {
            let pts: Vec<&PointForecast> = per_batch
                .iter()
                .flat_map(|(_, p)| p)
                .filter(|p| p.fraction == f && &p.target == t)
                .collect();
            let n = pts.len();
            if n == 0 {
                continue;
            }
            let apes: Option<Vec<f64>> = pts.iter().map(|p| p.ape_percent).collect();
            aggregate.push(FractionMetrics {
                fraction: f,
                target: t.clone(),
                n,
                mape_percent: apes.map(|a| a.iter().sum::<f64>() / n as f64),
                rmse: (pts
                    .iter()
                    .map(|p| (p.mean - p.observed).powi(2))
                    .sum::<f64>()
                    / n as f64)
                    .sqrt(),
                coverage: pts.iter().filter(|p| p.covered).count() as f64 / n as f64,
                n_extrapolation_flagged: pts
                    .iter()
                    .filter(|p| p.extrapolation.as_ref().is_some_and(|e| e.flagged))
                    .count(),
            });
        }
    }
    Ok(LadderEvaluation {
        model_id: shared.model_id.clone(),
        interval_level: cfg.interval_level,
        batch_ids: batches.to_vec(),
        per_batch,
        aggregate,
    })
}
