//! An example batch for the demo server and the page's browser test, with
//! forecasts from real simulations of an example process (no invented
//! numbers).
//!
//! The process file's declared uncertainty (`[[uncertainty]]`) is sampled
//! into an ensemble of simulated batches; one further draw plays the plant.
//! Every `forecast_every_h` hours up to `now_h`, the plant's measurements so
//! far (viable cells, glucose, titer every 6 h) weight each ensemble member
//! by its Gaussian likelihood (relative measurement sd `rel_sd`), and the
//! weighted 5/50/95 % quantiles and in-spec fraction of the members'
//! end-of-batch CQAs are the forecast: importance sampling of the prior
//! ensemble, the simplest honest conditional forecast. When the weights
//! collapse onto a few members (effective sample size below 10 % of the
//! ensemble) the likelihood is tempered until it no longer does, so the
//! interval does not shrink to one member's value.
//!
//! Where the model has them (the CHO platform model), the plant's DO, pH
//! and temperature are stored hourly as online tags, and the batch's
//! recipe markers and tags are recorded in `batch.started` as `biotwin
//! live` records them, so that the page's trajectory chart has what a live
//! batch gives it.

use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::json;

use crate::Error;
use crate::batch_context::{BatchContext, TagRecord, markers};
use crate::mechanistic::observe::observables;
use crate::{
    AlertRecord, BatchInfo, CqaForecast, Forecast, Observation, PredictionRecord, Quality, Reading,
    Store,
};
use biotwin_core::montecarlo::uncertain_inputs;
use biotwin_core::simulation::{Outcome, Scenario, load_process};
use biotwin_ml::surrogates::artifact::content_sha256;

/// What to make.
#[derive(Debug, Clone)]
pub struct DemoBatch {
    /// Tenant the demo batch belongs to.
    pub tenant: String,
    /// Batch id.
    pub batch_id: String,
    /// Production unit it runs on.
    pub unit: String,
    /// Process file whose model, recipe and `[[uncertainty]]` are simulated.
    pub process: std::path::PathBuf,
    /// Ensemble size (the plant is one more simulation).
    pub members: usize,
    /// Seed of the ensemble and plant draws (the same seed gives the same
    /// batch).
    pub seed: u64,
    /// Batch time of "now": forecasts and readings stop here.
    pub now_h: f64,
    /// Batch time between forecasts, h.
    pub forecast_every_h: f64,
    /// Relative sd of the measurements in the likelihood.
    pub rel_sd: f64,
    /// An alert is raised when P(in spec) falls below this.
    pub alert_below: f64,
    /// Batch start, Unix s (UTC).
    pub start_unix_s: f64,
}

/// The columns measured on the plant (as the model names them), those the
/// model has: lab results every [`SAMPLE_EVERY_H`], used in the likelihood.
const MEASURED: &[&str] = &[
    "xv_1e6_cells_per_ml",
    "glucose_mm",
    "glucose_g_per_l",
    "titer_g_per_l",
];
const SAMPLE_EVERY_H: f64 = 6.0;
/// Online tags recorded hourly where the model has the column (the CHO
/// platform model does; Xing 2010 has none): (column, dataset variable,
/// unit, factor and offset to SI). Shown on the page, not in the
/// likelihood.
const ONLINE: &[(&str, &str, &str, f64, f64)] = &[
    ("do_pct", "dissolved_o2", "%", 0.01, 0.0),
    ("ph", "ph", "1", 1.0, 0.0),
    ("temperature_c", "temperature", "degC", 1.0, 273.15),
];

/// What was stored.
#[derive(Debug, Clone)]
pub struct DemoSummary {
    /// Forecasts stored.
    pub predictions: usize,
    /// Lab results (the measurements of the likelihood).
    pub readings: usize,
    /// Online tag values (hourly), where the model has the columns.
    pub online_readings: usize,
    /// Alerts raised.
    pub alerts: usize,
    /// Names of the CQAs forecast.
    pub cqas: Vec<String>,
    /// The plant's true end-of-batch CQAs (for a check of the forecasts).
    pub plant_quality: Vec<(String, f64)>,
}

fn value_at(o: &Outcome, col: &str, time_h: f64) -> Option<f64> {
    let ti = o.columns.iter().position(|c| c == "time_h")?;
    let ci = o.columns.iter().position(|c| c == col)?;
    // Rows are on an hourly grid: the row closest in time.
    o.rows()
        .min_by(|a, b| (a[ti] - time_h).abs().total_cmp(&(b[ti] - time_h).abs()))
        .map(|r| r[ci])
}

/// Batch time of the last output row.
fn end_h(o: &Outcome) -> f64 {
    let ti = o.columns.iter().position(|c| c == "time_h").unwrap_or(0);
    o.rows().last().map_or(0.0, |r| r[ti])
}

/// Weighted quantile of (value, weight) pairs sorted by value.
fn weighted_quantile(sorted: &[(f64, f64)], q: f64) -> f64 {
    let total: f64 = sorted.iter().map(|p| p.1).sum();
    let mut acc = 0.0;
    for &(v, w) in sorted {
        acc += w;
        if acc >= q * total {
            return v;
        }
    }
    sorted.last().map_or(f64::NAN, |p| p.0)
}

/// Simulates the ensemble and the plant, and stores the batch, its readings,
/// a forecast every `forecast_every_h` and any alert.
pub fn fill(store: &dyn Store, d: &DemoBatch) -> Result<DemoSummary, Error> {
    let def = load_process(&d.process)?;
    let mut scenario = Scenario::from_definition(&def)?;
    let inputs = uncertain_inputs(&def, &mut scenario)?;
    let mut rng = StdRng::seed_from_u64(d.seed);
    let mut outcomes = Vec::with_capacity(d.members + 1);
    for _ in 0..=d.members {
        let mut s = scenario.clone();
        let draw = inputs.draw(&mut rng);
        inputs.apply(&mut s, &draw);
        outcomes.push(s.simulate(true)?);
    }
    let plant = outcomes.remove(0);
    let names: Vec<String> = plant.quality.iter().map(|(n, _)| n.clone()).collect();
    let limits: Vec<(Option<f64>, Option<f64>)> = names
        .iter()
        .map(|n| {
            def.specifications
                .as_ref()
                .and_then(|s| s.limit(n))
                .map_or((None, None), |l| (l.min, l.max))
        })
        .collect();

    store.upsert_batch(&BatchInfo {
        tenant: d.tenant.clone(),
        batch_id: d.batch_id.clone(),
        unit: d.unit.clone(),
        start_unix_s: d.start_unix_s,
        end_unix_s: d.start_unix_s + end_h(&plant) * 3600.0,
        finished: false,
    })?;

    // The recipe's feeds and shifts and the tags, recorded as `biotwin
    // live` records them when a batch starts.
    let has = |c: &str| plant.columns.iter().any(|x| x == c);
    let mut tags: Vec<TagRecord> = MEASURED
        .iter()
        .filter(|c| has(c))
        .filter_map(|c| {
            let o = observables(&[*c]).into_iter().next()?;
            Some(TagRecord {
                tag: c.to_string(),
                variable: o.variable.to_string(),
                unit: c.to_string(),
                to_si_factor: o.factor,
                to_si_offset: 0.0,
                lab: true,
            })
        })
        .collect();
    tags.extend(ONLINE.iter().filter(|o| has(o.0)).map(|o| TagRecord {
        tag: o.0.to_string(),
        variable: o.1.to_string(),
        unit: o.2.to_string(),
        to_si_factor: o.3,
        to_si_offset: o.4,
        lab: false,
    }));
    let plan = BatchContext {
        markers: markers(&scenario.recipe),
        recipe_known: true,
        tags,
    };
    store.append_audit(
        "biotwin-live",
        Some(&d.tenant),
        "batch.started",
        json!({"batch": d.batch_id, "unit": d.unit, "predictor": "demo", "plan": plan}),
    )?;

    // The plant's measurements, as readings and as observations.
    let mut obs: Vec<Observation> = Vec::new();
    let mut readings = Vec::new();
    let mut t = SAMPLE_EVERY_H;
    while t <= d.now_h + 1e-9 {
        for col in MEASURED {
            if let Some(v) = value_at(&plant, col, t) {
                readings.push(Reading {
                    tag: col.to_string(),
                    time_unix_s: d.start_unix_s + t * 3600.0,
                    available_unix_s: None,
                    value: v,
                    quality: Quality::Good,
                });
                obs.push(Observation {
                    variable: col.to_string(),
                    time_s: t * 3600.0,
                    available_s: t * 3600.0,
                    value_si: v,
                });
            }
        }
        t += SAMPLE_EVERY_H;
    }
    let n_lab = readings.len();
    let mut t = 0.0;
    while t <= d.now_h + 1e-9 {
        for (col, ..) in ONLINE {
            if let Some(v) = value_at(&plant, col, t).filter(|v| v.is_finite()) {
                readings.push(Reading {
                    tag: col.to_string(),
                    time_unix_s: d.start_unix_s + t * 3600.0,
                    available_unix_s: None,
                    value: v,
                    quality: Quality::Good,
                });
            }
        }
        t += 1.0;
    }
    store.insert_readings(&d.tenant, &d.batch_id, &readings)?;

    let mut n_pred = 0;
    let mut n_alerts = 0;
    let mut seq = 0u64;
    let mut t = d.forecast_every_h;
    while t <= d.now_h + 1e-9 {
        let used: Vec<&Observation> = obs.iter().filter(|o| o.time_s <= t * 3600.0).collect();
        // Log-likelihood of each member given the measurements so far.
        let loglik: Vec<f64> = outcomes
            .iter()
            .map(|m| {
                used.iter()
                    .map(|o| {
                        let mv = value_at(m, &o.variable, o.time_s / 3600.0).unwrap_or(f64::NAN);
                        let sd = d.rel_sd * o.value_si.abs().max(1e-3);
                        let z = (mv - o.value_si) / sd;
                        if z.is_finite() {
                            -0.5 * z * z
                        } else {
                            f64::NEG_INFINITY
                        }
                    })
                    .sum()
            })
            .collect();
        let max = loglik.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let mut temper = 1.0;
        let weights = loop {
            let w: Vec<f64> = loglik.iter().map(|l| ((l - max) / temper).exp()).collect();
            let s: f64 = w.iter().sum();
            let ess = s * s / w.iter().map(|x| x * x).sum::<f64>();
            if ess >= 0.1 * outcomes.len() as f64 || temper > 1e6 {
                break w;
            }
            temper *= 2.0;
        };
        let total: f64 = weights.iter().sum();
        let mut cqas = Vec::new();
        for (j, name) in names.iter().enumerate() {
            let mut vw: Vec<(f64, f64)> = outcomes
                .iter()
                .zip(&weights)
                .filter_map(|(m, &w)| m.quality.get(j).map(|q| (q.1, w)))
                .filter(|p| p.0.is_finite())
                .collect();
            vw.sort_by(|a, b| a.0.total_cmp(&b.0));
            let mean = vw.iter().map(|p| p.0 * p.1).sum::<f64>() / total;
            let (lo, hi) = limits[j];
            let p_in = (lo.is_some() || hi.is_some()).then(|| {
                (vw.iter()
                    .filter(|p| lo.is_none_or(|l| p.0 >= l) && hi.is_none_or(|h| p.0 <= h))
                    .map(|p| p.1)
                    .sum::<f64>()
                    / total)
                    .clamp(0.0, 1.0)
            });
            cqas.push(CqaForecast {
                name: name.clone(),
                mean,
                p05: weighted_quantile(&vw, 0.05),
                p95: weighted_quantile(&vw, 0.95),
                lower_spec: lo,
                upper_spec: hi,
                p_in_spec: p_in,
            });
        }
        let state = MEASURED
            .iter()
            .filter(|c| has(c))
            .map(|col| {
                let v: Vec<f64> = outcomes
                    .iter()
                    .map(|m| value_at(m, col, t).unwrap_or(f64::NAN))
                    .collect();
                let m = v.iter().zip(&weights).map(|(x, w)| x * w).sum::<f64>() / total;
                let var = v
                    .iter()
                    .zip(&weights)
                    .map(|(x, w)| w * (x - m).powi(2))
                    .sum::<f64>()
                    / total;
                (col.to_string(), m, var.sqrt())
            })
            .collect();
        let forecast = Forecast {
            time_s: t * 3600.0,
            cqas,
            state,
        };
        for c in &forecast.cqas {
            if let Some(p) = c.p_in_spec.filter(|p| *p < d.alert_below) {
                let new = store.insert_alert(&AlertRecord {
                    tenant: d.tenant.clone(),
                    batch_id: d.batch_id.clone(),
                    cqa: c.name.clone(),
                    first_predicted_s: forecast.time_s,
                    p_in_spec: p,
                    threshold: d.alert_below,
                    acknowledged_by: None,
                })?;
                if new {
                    n_alerts += 1;
                    store.append_audit(
                        "biotwin-live",
                        Some(&d.tenant),
                        "alert.raised",
                        json!({ "batch_id": d.batch_id, "cqa": c.name, "p_in_spec": p }),
                    )?;
                }
            }
        }
        let input_sha256 = content_sha256(&serde_json::to_value(&used).unwrap_or_default());
        if store.insert_prediction(&PredictionRecord {
            tenant: d.tenant.clone(),
            batch_id: d.batch_id.clone(),
            seq,
            model_id: format!("{}/importance-weighted-ensemble-{}@demo", def.id, d.members),
            input_sha256,
            created_unix_s: d.start_unix_s + t * 3600.0,
            forecast,
        })? {
            n_pred += 1;
        }
        seq += 1;
        t += d.forecast_every_h;
    }
    Ok(DemoSummary {
        predictions: n_pred,
        readings: n_lab,
        online_readings: readings.len() - n_lab,
        alerts: n_alerts,
        cqas: names,
        plant_quality: plant.quality.clone(),
    })
}
