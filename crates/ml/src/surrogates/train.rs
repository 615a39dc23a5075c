//! Training and evaluating a surrogate on a dataset in one call: the entry
//! points for `biotwin train` and `biotwin evaluate`.
//!
//! `train` unfolds the dataset, validates by whole batches as asked, fits the
//! final model, and returns an [`Artifact`] carrying the unfolding, the
//! dataset hash and the metrics. With a hold-out list the final model is
//! fitted *without* those batches, so that evaluating it on them later is an
//! honest test; with cross-validation it is fitted on all batches and the
//! metrics are the out-of-sample ones.

use nalgebra::DMatrix;

use super::artifact::{Artifact, SurrogateModel};
use super::cv::{
    CvResult, Split, cross_validate_with, edge_of_doe, k_fold_by_batch, leave_batch_out,
};
use super::gp::GpParams;
use super::hybrid::mechanistic::MechanisticSpec;
use super::metrics::{Metrics, metrics_by_target};
use super::pls::PlsParams;
use super::unfold::UnfoldingSpec;
use super::{Fit, Predict, Prediction, SurrogateError, TrainingSet};
use crate::data::{BatchRecord, Dataset};
use crate::error::Error;
use biotwin_core::error::Diagnostic;

/// Which model to fit, with its hyperparameters.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelChoice {
    /// Partial least squares regression.
    Pls(PlsParams),
    /// Gaussian process regression.
    Gp(GpParams),
    /// Parallel hybrid (the unfolding must carry a mechanistic spec).
    Hybrid(crate::surrogates::hybrid::residual::ResidualParams),
    /// Ensemble of small neural networks.
    Nn(crate::surrogates::nn::NnParams),
    /// Calibrated serial hybrid (fitted to the training set's batch records
    /// under its mechanistic mapping).
    SerialHybrid(Box<crate::surrogates::hybrid::calibrated::CalibratedParams>),
    /// Elastic net (linfa-elasticnet), one model per target.
    ElasticNet(crate::surrogates::linfa_models::ElasticNetParams),
    /// ε-SVR (linfa-svm), one model per target.
    Svr(crate::surrogates::linfa_models::SvrParams),
    /// Random forest of multi-output regression trees.
    RandomForest(crate::surrogates::forest::ForestParams),
}

/// How to validate, always by whole batches.
#[derive(Debug, Clone, PartialEq)]
pub enum Validation {
    /// Train on every batch; no held-out metrics.
    None,
    /// Hold these batches out of training; metrics on them.
    Holdout(Vec<String>),
    /// k folds of batches.
    KFold(usize),
    /// Each batch held out once (k = number of batches).
    LeaveBatchOut,
    /// Hold out the `n_edge` batches at the edge of the design spanned by
    /// these manifest parameters (extrapolation).
    EdgeOfDoe {
        /// Manifest parameters spanning the design.
        factors: Vec<String>,
        /// How many edge batches to hold out.
        n_edge: usize,
    },
}

impl Validation {
    /// Prefix of the metric names (`<prefix>/<target>`).
    pub fn label(&self) -> String {
        match self {
            Validation::None => "none".into(),
            Validation::Holdout(_) => "holdout".into(),
            Validation::KFold(k) => format!("kfold{k}_by_batch"),
            Validation::LeaveBatchOut => "leave_batch_out".into(),
            Validation::EdgeOfDoe { .. } => "edge_of_doe".into(),
        }
    }
}

/// The one dispatch from hyperparameters to a fitted model of any kind.
impl Fit for ModelChoice {
    type Model = SurrogateModel;
    fn fit(&self, data: &TrainingSet) -> Result<SurrogateModel, SurrogateError> {
        Ok(match self {
            ModelChoice::Pls(p) => SurrogateModel::Pls(p.fit(data)?),
            ModelChoice::Gp(p) => SurrogateModel::Gp(p.fit(data)?),
            ModelChoice::Hybrid(p) => SurrogateModel::Hybrid(p.fit(data)?),
            ModelChoice::Nn(p) => SurrogateModel::Nn(p.fit(data)?),
            ModelChoice::SerialHybrid(p) => SurrogateModel::SerialHybrid(Box::new(p.fit(data)?)),
            ModelChoice::ElasticNet(p) => SurrogateModel::ElasticNet(p.fit(data)?),
            ModelChoice::Svr(p) => SurrogateModel::Svr(p.fit(data)?),
            ModelChoice::RandomForest(p) => SurrogateModel::RandomForest(p.fit(data)?),
        })
    }
}

/// Out-of-sample predictions of `choice` on `splits`: from the held-out
/// feature rows, except for a serial hybrid that conditions on batch data,
/// which reads the held-out rows' batch records from the set.
fn cv_choice(
    choice: &ModelChoice,
    data: &TrainingSet,
    splits: &[Split],
) -> Result<CvResult, SurrogateError> {
    cross_validate_with(choice, data, splits, |model, rows| match model {
        SurrogateModel::SerialHybrid(m) if m.conditioning.is_some() => {
            let records = data.records_of_rows(rows)?;
            m.predict_records(&records, data.source())
                .map_err(|e| SurrogateError::Numerical(format!("serial hybrid: {e}")))
        }
        _ => model.predict(&data.x.select_rows(rows)),
    })
}

/// The model's predictions of rows `rows` of `data` (unfolded from
/// `dataset`): from the feature rows, except for a serial hybrid that
/// conditions on batch data, which reads the rows' batch records.
fn predict_rows(
    model: &SurrogateModel,
    data: &TrainingSet,
    rows: &[usize],
    dataset: &Dataset,
) -> Result<Prediction, Error> {
    if let SurrogateModel::SerialHybrid(m) = model
        && m.conditioning.is_some()
    {
        let manifest = dataset.dir.join(crate::data::dataset::MANIFEST_FILE);
        let records = rows
            .iter()
            .map(|&r| {
                dataset.batch(&data.batch_ids[r]).ok_or_else(|| {
                    Error::input(
                        &manifest,
                        "batches",
                        "the batch of a row",
                        &data.batch_ids[r],
                    )
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        return m.predict_records(&records, &manifest);
    }
    Ok(model.predict(&data.x.select_rows(rows))?)
}

/// Fits `choice` on `dataset` unfolded by `spec`, validated as asked.
pub fn train(
    dataset: &Dataset,
    spec: &UnfoldingSpec,
    choice: &ModelChoice,
    validation: &Validation,
) -> Result<Artifact, Error> {
    train_with_mechanistic(dataset, spec, None, choice, validation)
}

/// [`train`] with the batches' mechanistic mapping given apart from the
/// unfolding (`Some`: the serial hybrid, which simulates the batches itself
/// and so adds no mechanistic feature columns); `None`: the unfolding's.
pub fn train_with_mechanistic(
    dataset: &Dataset,
    spec: &UnfoldingSpec,
    mechanistic: Option<&MechanisticSpec>,
    choice: &ModelChoice,
    validation: &Validation,
) -> Result<Artifact, Error> {
    let mut data = spec.training_set(dataset)?;
    if let Some(m) = mechanistic {
        data = data.with_mechanistic(std::sync::Arc::new(m.clone()));
    }
    let manifest = dataset.dir.join(crate::data::dataset::MANIFEST_FILE);
    let mut metrics = std::collections::BTreeMap::new();
    let (splits, final_batches): (Vec<Split>, Vec<String>) = match validation {
        Validation::None => (vec![], data.batch_ids.clone()),
        Validation::Holdout(held) => {
            for h in held {
                if !data.batch_ids.contains(h) {
                    return Err(Diagnostic::new(
                        &manifest,
                        "holdout",
                        "batch ids of the dataset",
                        format!("`{h}`"),
                    )
                    .into());
                }
            }
            let train: Vec<String> = data
                .batch_ids
                .iter()
                .filter(|b| !held.contains(b))
                .cloned()
                .collect();
            (
                vec![Split {
                    train: train.clone(),
                    test: held.clone(),
                }],
                train,
            )
        }
        Validation::KFold(k) => (
            k_fold_by_batch(&data.batch_ids, *k)?,
            data.batch_ids.clone(),
        ),
        Validation::LeaveBatchOut => (leave_batch_out(&data.batch_ids), data.batch_ids.clone()),
        Validation::EdgeOfDoe { factors, n_edge } => {
            let mut design = DMatrix::zeros(dataset.batches.len(), factors.len());
            for (i, b) in dataset.batches.iter().enumerate() {
                for (j, f) in factors.iter().enumerate() {
                    design[(i, j)] = *b.meta.parameters.get(f).ok_or_else(|| {
                        Error::from(Diagnostic::new(
                            &manifest,
                            format!("batches.{}.parameters.{f}", b.id()),
                            "the design factor of the edge-of-DoE split",
                            "no value",
                        ))
                    })?;
                }
            }
            let split = edge_of_doe(&dataset.batch_ids(), &design, *n_edge)?;
            (vec![split], data.batch_ids.clone())
        }
    };
    if !splits.is_empty() {
        let r = cv_choice(choice, &data, &splits)?;
        for (t, m) in r.metrics {
            metrics.insert(format!("{}/{t}", validation.label()), m);
        }
    }
    let train_set = data.subset(&data.rows_of(&final_batches));
    let model = choice.fit(&train_set)?;
    let all_rows: Vec<usize> = (0..train_set.batch_ids.len()).collect();
    let fitted = predict_rows(&model, &train_set, &all_rows, dataset)?;
    for (t, m) in metrics_by_target(&fitted, &train_set.y, &train_set.target_names) {
        metrics.insert(format!("train/{t}"), m);
    }
    let mut artifact = Artifact::new(
        model,
        data.feature_names.clone(),
        data.target_names.clone(),
        Some(dataset.content_hash.clone()),
    );
    artifact.unfolding = Some(spec.clone());
    artifact.metrics = metrics;
    artifact.training_range = Some(super::extrapolation::FeatureRange::of(&train_set.x));
    Ok(artifact)
}

/// Predictions of a saved model for one batch record, from the data up to
/// the model's cut-off.
pub fn predict_batch(
    artifact: &Artifact,
    batch: &BatchRecord,
    source: &std::path::Path,
) -> Result<Prediction, Error> {
    let spec = artifact.unfolding.as_ref().ok_or_else(|| {
        Error::input(
            source,
            "unfolding",
            "a model trained on batch records (with an unfolding)",
            "a model without one",
        )
    })?;
    let x = spec.features(batch, source)?;
    if let SurrogateModel::SerialHybrid(m) = &artifact.model
        && m.conditioning.is_some()
    {
        return m.predict_records(&[batch], source);
    }
    let x = DMatrix::from_row_slice(1, x.len(), &x);
    Ok(artifact.model.predict(&x)?)
}

/// Held-out evaluation of a model on the batches of a dataset.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// The input row of each evaluated batch (for the extrapolation check).
    pub features: DMatrix<f64>,
    /// Batch of each evaluated row.
    pub batch_ids: Vec<String>,
    /// Recorded CQAs of those batches (rows × targets, SI).
    pub observed: DMatrix<f64>,
    /// Predicted mean and SD of each.
    pub prediction: Prediction,
    /// Metrics per target name.
    pub metrics: std::collections::BTreeMap<String, Metrics>,
    /// The dataset is the one the model was trained on (same content hash):
    /// only batches held out at training give test metrics then.
    pub dataset_is_training_data: bool,
}

/// Predicts every batch of `dataset` (or only `batches`) with the model and
/// compares with the CQAs.
pub fn evaluate(
    artifact: &Artifact,
    dataset: &Dataset,
    batches: Option<&[String]>,
) -> Result<Evaluation, Error> {
    let spec = artifact.unfolding.as_ref().ok_or_else(|| {
        Error::input(
            "<model>",
            "unfolding",
            "a model trained on batch records (with an unfolding)",
            "a model without one",
        )
    })?;
    let data = spec.training_set(dataset)?;
    let rows: Vec<usize> = match batches {
        None => (0..data.batch_ids.len()).collect(),
        Some(b) => data.rows_of(b),
    };
    let prediction = predict_rows(&artifact.model, &data, &rows, dataset)?;
    let sub = data.subset(&rows);
    let metrics = metrics_by_target(&prediction, &sub.y, &sub.target_names);
    Ok(Evaluation {
        features: sub.x.clone(),
        batch_ids: sub.batch_ids.clone(),
        observed: sub.y,
        prediction,
        metrics,
        dataset_is_training_data: artifact.training_data_hash.as_deref()
            == Some(dataset.content_hash.as_str()),
    })
}
