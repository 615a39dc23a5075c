//! The ladder: one surrogate per cut fraction of batch time, each trained on
//! whole batches' data up to its cut (the batch-wise unfolding of
//! [`biotwin_ml::surrogates::unfold`]), each with its own interval calibration.
//!
//! A forecast at batch time t uses the highest rung whose cut f·D ≤ t (D the
//! planned duration), so no rung ever needs data the batch does not have yet.
//! Before the first cut the forecast is the population prior of the training
//! batches (mean ± t-quantile · sample sd · √(1 + 1/n), the prediction
//! interval of a new draw from a normal population).

use std::collections::BTreeMap;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::calibration::{Calibration, calibrate};
use crate::Error;
use biotwin_core::error::Diagnostic;
use biotwin_ml::data::Dataset;
use biotwin_ml::surrogates::artifact::Artifact;
use biotwin_ml::surrogates::gp::GpParams;
use biotwin_ml::surrogates::pls::PlsParams;
use biotwin_ml::surrogates::train::ModelChoice;
use biotwin_ml::surrogates::unfold::UnfoldingSpec;

/// Format tag written into every ladder file.
pub const LADDER_FORMAT: &str = "biotwin-surrogate-ladder/1";

/// The model fitted at every rung.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum RungModel {
    /// Gaussian process regression.
    Gp(GpParams),
    /// Partial least squares regression.
    Pls(PlsParams),
    /// Elastic net (linfa-elasticnet), one model per target.
    #[serde(rename = "elastic-net")]
    ElasticNet(biotwin_ml::surrogates::linfa_models::ElasticNetParams),
    /// ε-SVR (linfa-svm), one model per target.
    Svr(biotwin_ml::surrogates::linfa_models::SvrParams),
    /// Random forest of regression trees.
    #[serde(rename = "random-forest")]
    RandomForest(biotwin_ml::surrogates::forest::ForestParams),
}

impl RungModel {
    /// The same model as the one dispatch of choices to fits names it
    /// ([`ModelChoice`], which `biotwin train --model` uses): a rung is
    /// fitted through that dispatch, not a copy of it.
    pub fn choice(&self) -> ModelChoice {
        match self.clone() {
            RungModel::Gp(p) => ModelChoice::Gp(p),
            RungModel::Pls(p) => ModelChoice::Pls(p),
            RungModel::ElasticNet(p) => ModelChoice::ElasticNet(p),
            RungModel::Svr(p) => ModelChoice::Svr(p),
            RungModel::RandomForest(p) => ModelChoice::RandomForest(p),
        }
    }

    /// The rung model for a choice, or `None` for the kinds a ladder does
    /// not fit (the hybrids and the neural-network ensemble, which need
    /// batch records or a mechanistic mapping at every rung).
    pub fn from_choice(choice: ModelChoice) -> Option<RungModel> {
        match choice {
            ModelChoice::Pls(p) => Some(RungModel::Pls(p)),
            ModelChoice::Gp(p) => Some(RungModel::Gp(p)),
            ModelChoice::ElasticNet(p) => Some(RungModel::ElasticNet(p)),
            ModelChoice::Svr(p) => Some(RungModel::Svr(p)),
            ModelChoice::RandomForest(p) => Some(RungModel::RandomForest(p)),
            ModelChoice::Hybrid(_) | ModelChoice::Nn(_) | ModelChoice::SerialHybrid(_) => None,
        }
    }
}

/// What to train: variables, targets, cuts, model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LadderConfig {
    /// Name for the model id (`surrogate-ladder:<name>@<hash>`).
    pub name: String,
    /// Online variables (tag-map names), read at the cut.
    pub online: Vec<String>,
    /// Offline (lab) variables, the latest result known at the cut.
    pub offline: Vec<String>,
    /// Per-batch scalar parameters (the planned recipe), known at the start.
    pub parameters: Vec<String>,
    /// End-of-batch CQAs (manifest names).
    pub targets: Vec<String>,
    /// Points per trajectory, as in [`UnfoldingSpec::n_points`].
    pub n_points: usize,
    /// Cut fractions of batch time, strictly increasing in (0, 1].
    pub cut_fractions: Vec<f64>,
    /// The model fitted at every rung, with its hyperparameters.
    pub model: RungModel,
    /// Nominal coverage of the prediction interval (0.9: p05..p95).
    pub interval_level: f64,
}

impl LadderConfig {
    /// The unfolding of the rung at `cut`.
    pub fn spec(&self, cut: f64) -> UnfoldingSpec {
        UnfoldingSpec {
            online: self.online.clone(),
            offline: self.offline.clone(),
            parameters: self.parameters.clone(),
            targets: self.targets.clone(),
            cutoff_fraction: cut,
            n_points: self.n_points,
            // Rungs are PLS or GP on observed data; the parallel hybrid's
            // mechanistic features are not used by the ladder.
            mechanistic: None,
        }
    }

    fn check(&self) -> Result<(), Error> {
        let bad = |field: &str, expected: &str, found: String| {
            Err(Error::input("<ladder config>", field, expected, found))
        };
        let cuts = &self.cut_fractions;
        if cuts.is_empty()
            || cuts.iter().any(|f| !(*f > 0.0 && *f <= 1.0))
            || cuts.windows(2).any(|w| w[1] <= w[0])
        {
            return bad(
                "cut_fractions",
                "strictly increasing fractions in (0, 1]",
                format!("{cuts:?}"),
            );
        }
        if !(self.interval_level > 0.0 && self.interval_level < 1.0) {
            return bad(
                "interval_level",
                "a coverage in (0, 1)",
                self.interval_level.to_string(),
            );
        }
        if self.targets.is_empty() {
            return bad("targets", "at least one CQA", "none".into());
        }
        Ok(())
    }
}

/// One rung: the model for forecasts made at or after `cut_fraction`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rung {
    /// Fraction of the planned batch duration from which the rung is used.
    pub cut_fraction: f64,
    /// The fitted model with its unfolding, hyperparameters, data hash and
    /// leave-batch-out metrics (on the training batches).
    pub artifact: Artifact,
    /// Conformal calibration of the rung's prediction interval.
    pub calibration: Calibration,
}

impl Rung {
    /// Whether the rung beats the prior on its own training batches: its
    /// leave-batch-out RMSE is below the prior's sd for every target. A
    /// rung that does not (too early in the batch for its features to say
    /// anything) is skipped at forecast time.
    pub fn informative(&self, prior: &[PriorTarget], targets: &[String]) -> bool {
        targets.iter().zip(prior).all(|(t, p)| {
            self.calibration
                .metrics
                .get(t)
                .is_some_and(|m| m.rmse < p.sd)
        })
    }
}

/// Population prior of one target (used before the first cut).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriorTarget {
    /// Mean of the training batches' end-of-batch values.
    pub mean: f64,
    /// Sample standard deviation of the training batches.
    pub sd: f64,
    /// Half-width of the prior prediction interval.
    pub half_width: f64,
}

/// A trained ladder of surrogates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ladder {
    /// Format tag, [`LADDER_FORMAT`]; other formats are refused on load.
    pub format: String,
    /// Version of biotwin that trained the ladder (the crate version).
    pub code_version: String,
    /// When the ladder was trained, Unix s (UTC).
    pub created_at_unix_s: u64,
    /// What was trained: variables, targets, cuts, model.
    pub config: LadderConfig,
    /// Content hash of the dataset (`Dataset::content_hash`).
    pub training_data_hash: String,
    /// The batches the rungs were fitted on.
    pub training_batches: Vec<String>,
    /// SI unit of each target (from the tag map), for CQA names.
    pub target_units: Vec<String>,
    /// Population prior per target (in `config.targets` order), used before
    /// the first usable rung.
    pub prior: Vec<PriorTarget>,
    /// Rungs by increasing cut fraction.
    pub rungs: Vec<Rung>,
}

impl Ladder {
    /// The rungs usable at batch time `t_s` of a batch planned to last
    /// `duration_s`, highest cut first.
    pub fn usable(&self, t_s: f64, duration_s: f64) -> impl Iterator<Item = &Rung> {
        self.rungs
            .iter()
            .rev()
            .filter(move |r| r.cut_fraction * duration_s <= t_s)
    }

    /// Every variable some rung reads from observations.
    pub fn variables(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .config
            .online
            .iter()
            .chain(&self.config.offline)
            .cloned()
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

/// Trains a ladder on the batches `training` of `dataset` (all when `None`).
/// Rungs are fitted in parallel; each rung's interval is calibrated by
/// leave-batch-out on the same training batches only.
pub fn train_ladder(
    dataset: &Dataset,
    training: Option<&[String]>,
    config: &LadderConfig,
) -> Result<Ladder, Error> {
    config.check()?;
    let manifest = dataset.dir.join(biotwin_ml::data::dataset::MANIFEST_FILE);
    let batches: Vec<String> = match training {
        None => dataset.batch_ids(),
        Some(b) => {
            for id in b {
                if dataset.batch(id).is_none() {
                    return Err(Diagnostic::new(
                        &manifest,
                        "batches",
                        "training batch ids of the dataset",
                        format!("`{id}`"),
                    )
                    .into());
                }
            }
            b.to_vec()
        }
    };
    if batches.len() < 3 {
        return Err(Error::input(
            &manifest,
            "batches",
            "at least 3 training batches (leave-batch-out calibration)",
            batches.len().to_string(),
        ));
    }
    let mut target_units = Vec::new();
    for t in &config.targets {
        let unit = dataset.tag_map.variables.get(t).map(|v| v.si_unit.clone());
        target_units.push(unit.ok_or_else(|| {
            Error::from(Diagnostic::new(
                &manifest,
                format!("targets.{t}"),
                "a variable declared in the tag map",
                "none",
            ))
        })?);
    }
    let rungs: Result<Vec<Rung>, Error> = config
        .cut_fractions
        .par_iter()
        .map(|&cut| {
            let spec = config.spec(cut);
            let all = spec.training_set(dataset)?;
            let data = all.subset(&all.rows_of(&batches));
            let model = config.model.fit(&data)?;
            let calibration = calibrate(&config.model, &data, config.interval_level)?;
            let mut artifact = Artifact::new(
                model,
                data.feature_names.clone(),
                data.target_names.clone(),
                Some(dataset.content_hash.clone()),
            );
            artifact.unfolding = Some(spec);
            artifact.training_range = Some(
                biotwin_ml::surrogates::extrapolation::FeatureRange::of(&data.x),
            );
            artifact.metrics = calibration
                .metrics
                .iter()
                .map(|(t, m)| (format!("leave_batch_out/{t}"), m.clone()))
                .collect::<BTreeMap<_, _>>();
            Ok(Rung {
                cut_fraction: cut,
                artifact,
                calibration,
            })
        })
        .collect();
    let rungs = rungs?;
    // The prior, from the first rung's targets (the same for every rung).
    let y = &rungs_targets(dataset, &batches, config)?;
    let prior = prior_of(y, config.interval_level);
    Ok(Ladder {
        format: LADDER_FORMAT.into(),
        code_version: env!("CARGO_PKG_VERSION").into(),
        created_at_unix_s: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        config: config.clone(),
        training_data_hash: dataset.content_hash.clone(),
        training_batches: batches,
        target_units,
        prior,
        rungs,
    })
}

/// Targets of the training batches, one column per target.
fn rungs_targets(
    dataset: &Dataset,
    batches: &[String],
    config: &LadderConfig,
) -> Result<Vec<Vec<f64>>, Error> {
    let manifest = dataset.dir.join(biotwin_ml::data::dataset::MANIFEST_FILE);
    let spec = config.spec(config.cut_fractions[0]);
    let mut cols = vec![Vec::new(); config.targets.len()];
    for id in batches {
        if let Some(b) = dataset.batch(id) {
            for (j, v) in spec.targets_of(b, &manifest)?.into_iter().enumerate() {
                cols[j].push(v);
            }
        }
    }
    Ok(cols)
}

fn prior_of(cols: &[Vec<f64>], level: f64) -> Vec<PriorTarget> {
    cols.iter()
        .map(|c| {
            let n = c.len() as f64;
            let mean = c.iter().sum::<f64>() / n;
            let sd = (c.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
            let t = student_t_quantile(0.5 + level / 2.0, n - 1.0);
            PriorTarget {
                mean,
                sd,
                half_width: t * sd * (1.0 + 1.0 / n).sqrt(),
            }
        })
        .collect()
}

/// Quantile of Student's t (statrs), the normal one if that fails.
fn student_t_quantile(p: f64, dof: f64) -> f64 {
    use statrs::distribution::{ContinuousCDF, StudentsT};
    match StudentsT::new(0.0, 1.0, dof) {
        Ok(t) => t.inverse_cdf(p),
        Err(_) => biotwin_core::sensitivity::distribution::standard_normal_quantile(p),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use biotwin_ml::surrogates::forest::ForestParams;
    use biotwin_ml::surrogates::linfa_models::{ElasticNetParams, SvrParams};
    use biotwin_ml::surrogates::nn::NnParams;

    /// Every rung kind goes to the one dispatch of choices to fits and
    /// back unchanged; the kinds a ladder does not fit have no rung.
    #[test]
    fn a_rung_model_is_fitted_through_the_one_choice_dispatch() {
        let rungs = [
            RungModel::Gp(biotwin_ml::surrogates::gp::GpParams::fixed(
                biotwin_ml::surrogates::gp::RbfKernel {
                    signal_variance: 1.0,
                    length_scales: vec![1.0, 2.0],
                    noise_variance: 0.1,
                },
            )),
            RungModel::Pls(PlsParams::new(2)),
            RungModel::ElasticNet(ElasticNetParams::default()),
            RungModel::Svr(SvrParams::default()),
            RungModel::RandomForest(ForestParams::default()),
        ];
        for r in rungs {
            assert_eq!(RungModel::from_choice(r.choice()), Some(r));
        }
        for no_rung in [
            ModelChoice::Nn(NnParams::default()),
            ModelChoice::SerialHybrid(Box::new(
                biotwin_ml::surrogates::hybrid::calibrated::CalibratedParams::cho_default(),
            )),
        ] {
            assert_eq!(RungModel::from_choice(no_rung), None);
        }
    }
}
