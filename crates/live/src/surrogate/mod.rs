//! [`SurrogatePredictor`]: a live [`Predictor`] built from a ladder of
//! data-driven surrogates (PLS or GP of [`biotwin_ml::surrogates`]), one per cut
//! fraction of batch time.
//!
//! * Inputs: the observations assimilated so far (kept by sample time, lab
//!   results with the time they became known) and the batch plan (planned
//!   duration, recipe parameters, CQA specification limits).
//! * At a forecast, the batch time of the latest information t picks the
//!   highest rung with cut f·D ≤ t; its features are built from the
//!   observations by the same unfolding that built its training rows. A rung
//!   whose variables are not all observed yet, or whose leave-batch-out
//!   RMSE on its training batches is not below the prior's sd, gives way to
//!   the next lower one; below the first, the forecast is the training
//!   batches' prior.
//! * Interval: mean ± q·s, s the model's predictive sd and q the calibrated
//!   multiplier of [`calibration`] (normalised conformal scores from
//!   leave-batch-out on the training batches only). P(in spec) from the
//!   normal distribution with that central interval.
//!
//! The forecast is deterministic: the seed is not used (no sampling).
//! Equations, feature choice and measured accuracy: `docs/live.md`,
//! section "Surrogate predictor".

pub mod calibration;
pub mod evaluate;
pub mod file;
pub mod ladder;
pub mod observed;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use nalgebra::DMatrix;

use self::ladder::Ladder;
use self::observed::ObservedBatch;
use crate::Error;
use crate::{CqaForecast, Forecast, Observation, Predictor};
use biotwin_core::sensitivity::distribution::{standard_normal_cdf, standard_normal_quantile};
use biotwin_ml::data::{BatchMeta, SignalKind};
use biotwin_ml::surrogates::Predict;

/// A loaded ladder with its model id, shared by the predictors of many
/// batches.
#[derive(Debug, Clone)]
pub struct SharedLadder {
    /// The trained ladder.
    pub ladder: Ladder,
    /// `surrogate-ladder:<name>@<first 16 hex of the content sha256>`.
    pub model_id: String,
}

impl SharedLadder {
    /// Shares `ladder` under its model id (name and content hash). Errors when
    /// the ladder cannot be serialised for hashing.
    pub fn new(ladder: Ladder) -> Result<Arc<SharedLadder>, Error> {
        let sha = ladder.content_sha256()?;
        let model_id = format!("surrogate-ladder:{}@{}", ladder.config.name, &sha[..16]);
        Ok(Arc::new(SharedLadder { ladder, model_id }))
    }

    /// Loads a sealed ladder file (refused when altered).
    pub fn load(path: impl AsRef<Path>) -> Result<Arc<SharedLadder>, Error> {
        SharedLadder::new(Ladder::load(path)?)
    }
}

/// What is known of a batch before it runs.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchPlan {
    /// Batch id (for messages).
    pub batch_id: String,
    /// Planned duration, seconds.
    pub duration_s: f64,
    /// Planned recipe parameters (SI), those the ladder's rungs use.
    pub parameters: BTreeMap<String, f64>,
    /// Specification limits (lower, upper) by target name.
    pub specs: BTreeMap<String, (Option<f64>, Option<f64>)>,
}

/// The live predictor of one batch.
#[derive(Debug, Clone)]
pub struct SurrogatePredictor {
    shared: Arc<SharedLadder>,
    plan: BatchPlan,
    meta: BatchMeta,
    online: Vec<String>,
    offline: Vec<String>,
    observed: ObservedBatch,
    /// The extrapolation warning was printed for this batch (once is
    /// enough; every forecast carries the flag in its state).
    warned_extrapolation: bool,
    /// The extrapolation check of the latest forecast's input.
    last_extrapolation: Option<biotwin_ml::surrogates::extrapolation::Extrapolation>,
}

/// State entries of a surrogate forecast: the rung's cut, and the
/// extrapolation check of its input ([`biotwin_ml::surrogates::extrapolation`]):
/// training SDs beyond the training range of the worst feature, and 1 when
/// flagged (0 otherwise). Absent before the first rung (the prior has no
/// input).
pub const STATE_CUT: &str = "surrogate_cut_fraction";
/// State entry: training SDs beyond the training range of the worst
/// feature (see [`STATE_CUT`]).
pub const STATE_EXTRAPOLATION_SD: &str = "surrogate_extrapolation_sd";
/// State entry: 1 when the extrapolation check flagged the input, else 0.
pub const STATE_EXTRAPOLATION_FLAG: &str = "surrogate_extrapolation_flagged";

impl SurrogatePredictor {
    /// A predictor for the batch of `plan`; every parameter the ladder reads
    /// must be in the plan.
    pub fn new(shared: Arc<SharedLadder>, plan: BatchPlan) -> Result<SurrogatePredictor, Error> {
        let source = format!("batch plan {}", plan.batch_id);
        if !(plan.duration_s.is_finite() && plan.duration_s > 0.0) {
            return Err(Error::input(
                &source,
                "duration_s",
                "a positive planned duration",
                plan.duration_s.to_string(),
            ));
        }
        let cfg = &shared.ladder.config;
        for p in &cfg.parameters {
            match plan.parameters.get(p) {
                Some(v) if v.is_finite() => {}
                found => {
                    return Err(Error::input(
                        &source,
                        format!("parameters.{p}"),
                        format!(
                            "the recipe parameter `{p}` the model {} uses",
                            shared.model_id
                        ),
                        found.map_or("none".into(), |v| v.to_string()),
                    ));
                }
            }
        }
        let meta = BatchMeta {
            id: plan.batch_id.clone(),
            equipment: String::new(),
            working_volume_m3: None,
            recipe: String::new(),
            material_lots: BTreeMap::new(),
            start_unix_s: 0.0,
            end_unix_s: plan.duration_s,
            parameters: plan.parameters.clone(),
            cqas: BTreeMap::new(),
            files: vec![],
        };
        Ok(SurrogatePredictor {
            online: cfg.online.clone(),
            offline: cfg.offline.clone(),
            shared,
            plan,
            meta,
            observed: ObservedBatch::default(),
            warned_extrapolation: false,
            last_extrapolation: None,
        })
    }

    /// Loads a ladder file and makes the predictor of one batch.
    pub fn from_artifact(
        path: impl AsRef<Path>,
        plan: BatchPlan,
    ) -> Result<SurrogatePredictor, Error> {
        SurrogatePredictor::new(SharedLadder::load(path)?, plan)
    }

    /// The extrapolation check of the latest forecast's input (`None` for a
    /// forecast from the prior, or when the training range is unknown).
    pub fn last_extrapolation(
        &self,
    ) -> Option<&biotwin_ml::surrogates::extrapolation::Extrapolation> {
        self.last_extrapolation.as_ref()
    }

    /// The cut fraction of the rung the next forecast uses (0 for the prior).
    pub fn current_cut(&self) -> f64 {
        self.choose().map_or(0.0, |(cut, _)| cut)
    }

    /// Highest usable rung whose features can be built: (cut, features).
    fn choose(&self) -> Option<(f64, (usize, Vec<f64>))> {
        let now = self.observed.latest_s()?;
        let ladder = &self.shared.ladder;
        let record = self.observed.record(&self.meta);
        let source = Path::new("live");
        for (k, rung) in ladder.rungs.iter().enumerate().rev() {
            if rung.cut_fraction * self.plan.duration_s > now
                || !rung.informative(&ladder.prior, &ladder.config.targets)
            {
                continue;
            }
            let Some(spec) = rung.artifact.unfolding.as_ref() else {
                continue; // refused on load; here for types only
            };
            if let Ok(x) = spec.features(&record, source) {
                return Some((rung.cut_fraction, (k, x)));
            }
        }
        None
    }
}

/// `kg/m3` → `kg_per_m3`, for CQA names with their unit.
pub fn unit_slug(unit: &str) -> String {
    unit.replace('/', "_per_")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

impl Predictor for SurrogatePredictor {
    fn model_id(&self) -> String {
        self.shared.model_id.clone()
    }

    fn assimilate(&mut self, obs: &Observation) -> Result<bool, Error> {
        let kind = if self.online.contains(&obs.variable) {
            SignalKind::Online
        } else if self.offline.contains(&obs.variable) {
            SignalKind::Offline
        } else {
            return Ok(false);
        };
        for (field, v) in [
            ("time_s", obs.time_s),
            ("available_s", obs.available_s),
            ("value_si", obs.value_si),
        ] {
            if !v.is_finite() {
                return Err(Error::input(
                    format!(
                        "observation of `{}` in batch {}",
                        obs.variable, self.plan.batch_id
                    ),
                    field,
                    "a finite number",
                    v.to_string(),
                ));
            }
        }
        self.observed.insert(kind, obs);
        Ok(true)
    }

    fn forecast(&mut self, _seed: u64) -> Result<Forecast, Error> {
        let ladder = &self.shared.ladder;
        let cfg = &ladder.config;
        let z = standard_normal_quantile(0.5 + cfg.interval_level / 2.0);
        // (cut, mean, half-width) per target.
        let mut extrapolation = None;
        let (cut, means, halves): (f64, Vec<f64>, Vec<f64>) = match self.choose() {
            Some((cut, (k, x))) => {
                let rung = &ladder.rungs[k];
                extrapolation = rung.artifact.extrapolation(&x);
                let p = rung
                    .artifact
                    .model
                    .predict(&DMatrix::from_row_slice(1, x.len(), &x))?;
                let means = (0..cfg.targets.len()).map(|j| p.mean[(0, j)]).collect();
                let halves = (0..cfg.targets.len())
                    .map(|j| rung.calibration.sd_multiplier[j] * p.std[(0, j)])
                    .collect();
                (cut, means, halves)
            }
            None => (
                0.0,
                ladder.prior.iter().map(|p| p.mean).collect(),
                ladder.prior.iter().map(|p| p.half_width).collect(),
            ),
        };
        let cqas = cfg
            .targets
            .iter()
            .enumerate()
            .map(|(j, t)| {
                let (mean, half) = (means[j], halves[j]);
                let (lower_spec, upper_spec) = self.plan.specs.get(t).copied().unwrap_or_default();
                let p_in_spec = (lower_spec.is_some() || upper_spec.is_some()).then(|| {
                    let sd = half / z;
                    let cdf = |limit: f64| {
                        if sd > 0.0 {
                            standard_normal_cdf((limit - mean) / sd)
                        } else if mean <= limit {
                            1.0
                        } else {
                            0.0
                        }
                    };
                    upper_spec.map_or(1.0, cdf) - lower_spec.map_or(0.0, cdf)
                });
                CqaForecast {
                    name: format!("{t}_{}", unit_slug(&ladder.target_units[j])),
                    mean,
                    p05: mean - half,
                    p95: mean + half,
                    lower_spec,
                    upper_spec,
                    p_in_spec,
                }
            })
            .collect();
        let mut state: Vec<(String, f64, f64)> = self
            .observed
            .last_values()
            .into_iter()
            .map(|(v, x)| (v, x, 0.0))
            .collect();
        state.push((STATE_CUT.into(), cut, 0.0));
        if let Some(e) = &extrapolation {
            state.push((STATE_EXTRAPOLATION_SD.into(), e.sd_beyond_range, 0.0));
            state.push((STATE_EXTRAPOLATION_FLAG.into(), f64::from(e.flagged), 0.0));
            if e.flagged && !self.warned_extrapolation {
                self.warned_extrapolation = true;
                eprintln!(
                    "{}",
                    e.warning(&format!(
                        "batch {} (rung {:.0} %)",
                        self.plan.batch_id,
                        100.0 * cut
                    ))
                );
            }
        }
        self.last_extrapolation = extrapolation;
        Ok(Forecast {
            time_s: self.observed.latest_s().unwrap_or(0.0),
            cqas,
            state,
        })
    }
}
