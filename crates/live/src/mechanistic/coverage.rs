//! Calibration of the mechanistic forecast on recorded batches: each batch
//! of a dataset is replayed into a fresh [`MechanisticPredictor`] built for
//! that batch's planned conditions (the dataset's `mechanistic.toml` maps
//! its manifest parameters onto the process), observations delivered in
//! the order they became available, and a forecast made at every
//! `every_s` of batch time and at each chosen fraction of its duration.
//! Every forecast is compared with the batch's recorded end-of-batch CQAs
//! (`docs/live.md`, "Calibration of the forecast bands").
//!
//! What it measures, per CQA and fraction f: coverage of the 90 % interval
//! (share of batches whose recorded value lies in [p05, p95]); the
//! reliability of the whole predictive distribution (for nominal central
//! levels 10 … 90 %, the share of recorded values inside that central
//! interval of the members, from the stored quantiles); and, against
//! specification limits, whether and when P(in spec) first fell below the
//! alert threshold (a false alert on a batch whose recorded values are in
//! specification; the lead time before the batch end on one that is not).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use super::{MechanisticOptions, MechanisticPredictor};
use crate::Error;
use crate::surrogate::evaluate::observations_of;
use crate::{Forecast, Predictor};
use biotwin_core::definition::specs::Limit;
use biotwin_core::simulation::load_process;
use biotwin_ml::data::{BatchRecord, Dataset};
use biotwin_ml::surrogates::hybrid::mechanistic::MechanisticSpec;

/// One CQA of one forecast against the batch's recorded value.
#[derive(Debug, Clone, Serialize)]
pub struct Point {
    /// Batch id.
    pub batch: String,
    /// Batch time the forecast was made at (information time), h.
    pub time_h: f64,
    /// Fraction of the batch duration this forecast stands for (`None`
    /// for the forecasts made only for the alert cadence).
    pub fraction: Option<f64>,
    /// Dataset CQA name (`final_titer`, `galactosylated`, ...).
    pub cqa: String,
    /// Recorded end-of-batch value, dataset SI.
    pub recorded: f64,
    /// Forecast mean, in the unit of `recorded`.
    pub mean: f64,
    /// 5 % quantile of the forecast members, same unit.
    pub p05: f64,
    /// 95 % quantile, same unit.
    pub p95: f64,
    /// Central-interval quantiles (5, 10, …, 95 %) of the members.
    pub quantiles: Vec<f64>,
    /// P(in spec) against the limits given to the run, if any for this CQA.
    pub p_in_spec: Option<f64>,
}

/// A dataset replayed through the mechanistic predictor.
#[derive(Debug, Clone, Serialize)]
pub struct Replay {
    /// Every CQA of every forecast of every batch, in replay order.
    pub points: Vec<Point>,
    /// Per batch: duration, h.
    pub duration_h: BTreeMap<String, f64>,
}

/// The quantile levels kept per forecast (5 %, 10 %, …, 95 %).
pub fn levels() -> Vec<f64> {
    (1..=19).map(|k| k as f64 * 0.05).collect()
}

/// Replays `ids` of `dataset` (with its `mechanistic.toml`) through the
/// mechanistic predictor: a forecast every `every_s` and at each fraction.
/// `limits` are in the model's CQA names and units (`titer_g_per_l`,
/// `galactosylated_pct`), as in a specification file.
pub fn replay(
    dataset: &Dataset,
    ids: &[String],
    fractions: &[f64],
    every_s: f64,
    opts: &MechanisticOptions,
    limits: &[Limit],
) -> Result<Replay, Error> {
    let spec = MechanisticSpec::load(&dataset.dir.join("mechanistic.toml"))?;
    let def = load_process(&spec.process)?;
    let mut points = Vec::new();
    let mut duration_h = BTreeMap::new();
    for id in ids {
        let (mut p, b) = predictor_for(dataset, &spec, &def, id, opts)?;
        p.set_specification_limits(limits.to_vec());
        let d = b.duration_s();
        duration_h.insert(id.clone(), d / 3600.0);
        let seed = crate::engine::seed_of(REPLAY_TENANT, id);
        for (t, frac, fc) in replay_batch(&mut p, b, fractions, every_s, seed)? {
            for c in &fc.cqas {
                let Some(m) = spec.cqa.iter().find(|m| m.quality == c.name) else {
                    continue;
                };
                let Some(&recorded) = b.meta.cqas.get(&m.target) else {
                    continue;
                };
                let qs = fc
                    .state
                    .iter()
                    .filter(|s| s.0.starts_with(&format!("{}@q", c.name)))
                    .map(|s| s.1 * m.factor)
                    .collect();
                points.push(Point {
                    batch: id.clone(),
                    time_h: t / 3600.0,
                    fraction: frac,
                    cqa: m.target.clone(),
                    recorded,
                    mean: c.mean * m.factor,
                    p05: c.p05 * m.factor,
                    p95: c.p95 * m.factor,
                    quantiles: qs,
                    p_in_spec: c.p_in_spec,
                });
            }
        }
    }
    Ok(Replay { points, duration_h })
}

/// A fresh predictor for batch `id` of `dataset`, built for the batch's
/// planned conditions (`spec`: the dataset's `mechanistic.toml`; `def`: its
/// process), with the batch's conditions set for the model discrepancy.
pub fn predictor_for<'a>(
    dataset: &'a Dataset,
    spec: &MechanisticSpec,
    def: &biotwin_core::definition::process::ProcessDefinition,
    id: &str,
    opts: &MechanisticOptions,
) -> Result<(MechanisticPredictor, &'a BatchRecord), Error> {
    let manifest = dataset.dir.join(biotwin_ml::data::dataset::MANIFEST_FILE);
    let b = dataset.batch(id).ok_or_else(|| {
        Error::input(
            &manifest,
            "batches",
            "batch ids of the dataset",
            id.to_string(),
        )
    })?;
    let (sc, _) = spec
        .scenario(id, &b.meta.parameters, &manifest)
        .map_err(Error::from)?;
    let mut p = MechanisticPredictor::from_scenario(def, &sc, opts.clone())?;
    p.set_conditions(&b.meta.parameters);
    Ok((p, b))
}

/// The tenant name the replay derives its per-batch seeds from (as the
/// engine does from a site's tenant: [`crate::engine::seed_of`]).
pub const REPLAY_TENANT: &str = "calibration";

/// Forecast times of one batch: every `every_s` up to the end, and each
/// fraction of its duration; (time, fraction, forecast), ascending. Every
/// forecast of the batch uses `seed` (common random numbers, as the engine).
pub fn replay_batch(
    p: &mut MechanisticPredictor,
    b: &BatchRecord,
    fractions: &[f64],
    every_s: f64,
    seed: u64,
) -> Result<Vec<(f64, Option<f64>, Forecast)>, Error> {
    let d = b.duration_s();
    let mut times: Vec<(f64, Option<f64>)> = Vec::new();
    if every_s > 0.0 {
        let mut k = 1.0;
        while k * every_s <= d + 1e-6 {
            times.push((k * every_s, None));
            k += 1.0;
        }
    }
    for &f in fractions {
        let t = f * d;
        match times.iter_mut().find(|(s, _)| (s - t).abs() < 1e-6) {
            Some(e) => e.1 = Some(f),
            None => times.push((t, Some(f))),
        }
    }
    times.sort_by(|a, b| a.0.total_cmp(&b.0));
    let obs = observations_of(b);
    let mut next = 0;
    let mut out = Vec::new();
    p.set_quantile_levels(levels());
    for (t, frac) in times {
        while next < obs.len() && obs[next].available_s <= t {
            p.assimilate(&obs[next])?;
            next += 1;
        }
        let fc = p.forecast(seed)?;
        out.push((t, frac, fc));
    }
    Ok(out)
}

/// Coverage of the 90 % interval per (CQA, fraction): (hits, n).
pub fn coverage90(r: &Replay) -> BTreeMap<(String, u32), (usize, usize)> {
    let mut m: BTreeMap<(String, u32), (usize, usize)> = BTreeMap::new();
    for p in &r.points {
        let Some(f) = p.fraction else { continue };
        let e = m
            .entry((p.cqa.clone(), (f * 100.0).round() as u32))
            .or_default();
        e.1 += 1;
        if p.p05 <= p.recorded && p.recorded <= p.p95 {
            e.0 += 1;
        }
    }
    m
}

/// Reliability per CQA: for nominal central levels 10 %, 20 %, …, 90 %,
/// the observed share of recorded values inside that central interval,
/// pooled over the fractions given (each forecast one sample).
pub fn reliability(r: &Replay) -> BTreeMap<String, Vec<(f64, f64)>> {
    let lv = levels();
    let mut out = BTreeMap::new();
    let cqas: std::collections::BTreeSet<&String> = r.points.iter().map(|p| &p.cqa).collect();
    for c in cqas {
        let pts: Vec<&Point> = r
            .points
            .iter()
            .filter(|p| &p.cqa == c && p.fraction.is_some() && p.quantiles.len() == lv.len())
            .collect();
        let mut curve = Vec::new();
        for k in 1..=9 {
            // Central level k·10 %: quantiles (0.5 − k·0.05, 0.5 + k·0.05).
            let lo = 9 - k; // index of level 0.5 − 0.05 k (levels[i] = 0.05 (i+1))
            let hi = 9 + k;
            let inside = pts
                .iter()
                .filter(|p| p.quantiles[lo] <= p.recorded && p.recorded <= p.quantiles[hi])
                .count();
            if !pts.is_empty() {
                curve.push((k as f64 * 0.1, inside as f64 / pts.len() as f64));
            }
        }
        out.insert(c.clone(), curve);
    }
    out
}

/// Whether a recorded value meets a limit given in model units; `factor`
/// converts model units to the dataset's (`galactosylated_pct` × 0.01).
pub fn in_spec(recorded: f64, limit: &Limit, factor: f64) -> bool {
    limit.min.is_none_or(|lo| recorded >= lo * factor)
        && limit.max.is_none_or(|hi| recorded <= hi * factor)
}

/// Per batch: the first forecast time at which some CQA's P(in spec) fell
/// below `threshold` (an alert), h; `None` when none did. The forecast at
/// time 0 (before any data) is not one the engine makes and is skipped.
pub fn first_alert_h(r: &Replay, threshold: f64) -> BTreeMap<String, Option<(f64, String)>> {
    let mut out: BTreeMap<String, Option<(f64, String)>> = BTreeMap::new();
    for p in &r.points {
        let e = out.entry(p.batch.clone()).or_insert(None);
        if let Some(q) = p.p_in_spec
            && p.time_h > 0.0
            && q < threshold
            && e.as_ref().is_none_or(|(t, _)| p.time_h < *t)
        {
            *e = Some((p.time_h, p.cqa.clone()));
        }
    }
    out
}

/// The dataset's `mechanistic.toml` CQA factor of `quality` (model unit
/// to dataset SI), 1 when unmapped.
pub fn factor_of(dataset_dir: &Path, quality: &str) -> Result<f64, Error> {
    let spec = MechanisticSpec::load(&dataset_dir.join("mechanistic.toml"))?;
    Ok(spec
        .cqa
        .iter()
        .find(|m| m.quality == quality)
        .map_or(1.0, |m| m.factor))
}
