//! Saved surrogate models: a JSON file carrying the fitted model with its
//! training-data hash, code version, hyperparameters and metrics, sealed with
//! a sha256 of its content.
//!
//! File layout: `{ "content_sha256": "<hex>", "artifact": { ... } }`. The
//! hash is sha256 of the `artifact` value serialised by serde_json in compact
//! form (keys in the order read; numbers in shortest round-trip form, read
//! back exactly thanks to serde_json's `float_roundtrip` feature), so
//! loading recomputes it from what is in the file: any changed number,
//! name or added key makes it differ and the file is refused. (This detects
//! alteration, not forgery: whoever can rewrite the file can rewrite the hash;
//! the model registry's audit trail is what makes a swap visible.)
//!
//! Writes are atomic: a temporary file in the same directory, fsync, rename.

use std::collections::BTreeMap;
use std::path::Path;

use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::gp::GpModel;
use super::metrics::Metrics;
use super::pls::PlsModel;
use super::unfold::UnfoldingSpec;
use super::{Predict, Prediction, SurrogateError};
use crate::error::Error;
use biotwin_core::error::Diagnostic;

/// Format tag written into every artifact.
pub const FORMAT: &str = "biotwin-surrogate/1";

/// A fitted model of any kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum SurrogateModel {
    /// Partial least squares regression (`pls.rs`).
    Pls(PlsModel),
    /// Gaussian process regression (`gp.rs`).
    Gp(GpModel),
    /// Parallel hybrid: mechanistic prior plus a PLS/GP residual model.
    Hybrid(super::hybrid::residual::ResidualModel),
    /// Ensemble of small neural networks (`nn.rs`).
    Nn(super::nn::NnModel),
    /// Calibrated serial hybrid (`hybrid/calibrated.rs`).
    #[serde(rename = "serial-hybrid")]
    SerialHybrid(Box<super::hybrid::calibrated::CalibratedSerialHybrid>),
    /// Elastic net, one linfa-elasticnet model per target (`linfa_models.rs`).
    #[serde(rename = "elastic-net")]
    ElasticNet(super::linfa_models::ElasticNetModel),
    /// ε-SVR, one linfa-svm model per target (`linfa_models.rs`).
    Svr(super::linfa_models::SvrModel),
    /// Random forest of regression trees (`forest.rs`).
    #[serde(rename = "random-forest")]
    RandomForest(super::forest::ForestModel),
    /// A calibrated mechanistic model file (`biotwin fit`,
    /// `registry/mechanistic.rs`): simulated, not evaluated on features.
    Mechanistic(Box<crate::registry::mechanistic::CalibratedModel>),
    /// Serial hybrid on the IndPenSim backbone (`hybrid/indpensim.rs`):
    /// simulated from a batch's recipe and record, not evaluated on
    /// features.
    #[serde(rename = "indpensim-serial-hybrid")]
    IndPenSimSerialHybrid(Box<super::hybrid::indpensim::PenHybridModel>),
}

impl SurrogateModel {
    /// Short name of the kind, as `biotwin train --model` and the registry
    /// name it (`pls`, `gp`, `hybrid`, `nn`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            SurrogateModel::Pls(_) => "pls",
            SurrogateModel::Gp(_) => "gp",
            SurrogateModel::Hybrid(_) => "hybrid",
            SurrogateModel::Nn(_) => "nn",
            SurrogateModel::SerialHybrid(_) => "serial-hybrid",
            SurrogateModel::ElasticNet(_) => "elastic-net",
            SurrogateModel::Svr(_) => "svr",
            SurrogateModel::RandomForest(_) => "random-forest",
            SurrogateModel::Mechanistic(_) => "mechanistic",
            SurrogateModel::IndPenSimSerialHybrid(_) => "indpensim-serial-hybrid",
        }
    }

    /// The hyperparameters, for listings.
    pub fn hyperparameters(&self) -> serde_json::Value {
        match self {
            SurrogateModel::Pls(m) => serde_json::to_value(&m.params),
            SurrogateModel::Gp(m) => serde_json::to_value(serde_json::json!({
                "kernel": m.kernel,
                "jitter": m.jitter,
            })),
            SurrogateModel::Hybrid(m) => serde_json::to_value(serde_json::json!({
                "mechanistic_columns": m.mechanistic_columns,
                "corrector": m.correction.kind(),
                "corrector_hyperparameters": m.correction.hyperparameters(),
            })),
            SurrogateModel::Nn(m) => serde_json::to_value(&m.params),
            SurrogateModel::SerialHybrid(m) => serde_json::to_value(serde_json::json!({
                "parameters": m.parameters,
                "ridge": m.report.ridge,
                "conditions": m.conditions,
            })),
            SurrogateModel::ElasticNet(m) => serde_json::to_value(&m.params),
            SurrogateModel::Svr(m) => serde_json::to_value(serde_json::json!({
                "params": m.params,
                "kernel_width": m.kernel_width,
            })),
            SurrogateModel::RandomForest(m) => serde_json::to_value(&m.params),
            SurrogateModel::Mechanistic(m) => serde_json::to_value(serde_json::json!({
                "base_model": m.base_model,
                "parameters": m.parameters,
            })),
            SurrogateModel::IndPenSimSerialHybrid(m) => serde_json::to_value(&m.params),
        }
        .unwrap_or(serde_json::Value::Null)
    }
}

impl Predict for SurrogateModel {
    fn n_features(&self) -> usize {
        match self {
            SurrogateModel::Pls(m) => m.n_features(),
            SurrogateModel::Gp(m) => m.n_features(),
            SurrogateModel::Hybrid(m) => m.n_features(),
            SurrogateModel::Nn(m) => m.n_features(),
            SurrogateModel::SerialHybrid(m) => m.n_features(),
            SurrogateModel::ElasticNet(m) => m.n_features(),
            SurrogateModel::Svr(m) => m.n_features(),
            SurrogateModel::RandomForest(m) => m.n_features(),
            SurrogateModel::Mechanistic(_) | SurrogateModel::IndPenSimSerialHybrid(_) => 0,
        }
    }
    fn n_targets(&self) -> usize {
        match self {
            SurrogateModel::Pls(m) => m.n_targets(),
            SurrogateModel::Gp(m) => m.n_targets(),
            SurrogateModel::Hybrid(m) => m.n_targets(),
            SurrogateModel::Nn(m) => m.n_targets(),
            SurrogateModel::SerialHybrid(m) => m.n_targets(),
            SurrogateModel::ElasticNet(m) => m.n_targets(),
            SurrogateModel::Svr(m) => m.n_targets(),
            SurrogateModel::RandomForest(m) => m.n_targets(),
            SurrogateModel::Mechanistic(_) => 0,
            SurrogateModel::IndPenSimSerialHybrid(_) => 1,
        }
    }
    fn predict(&self, x: &DMatrix<f64>) -> Result<Prediction, SurrogateError> {
        match self {
            SurrogateModel::Pls(m) => m.predict(x),
            SurrogateModel::Gp(m) => m.predict(x),
            SurrogateModel::Hybrid(m) => m.predict(x),
            SurrogateModel::Nn(m) => m.predict(x),
            SurrogateModel::SerialHybrid(m) => Predict::predict(m.as_ref(), x),
            SurrogateModel::ElasticNet(m) => m.predict(x),
            SurrogateModel::Svr(m) => m.predict(x),
            SurrogateModel::RandomForest(m) => m.predict(x),
            SurrogateModel::Mechanistic(m) => Err(SurrogateError::Numerical(format!(
                "`{}` is a calibrated mechanistic model: it is simulated (its model file), not evaluated on features",
                m.model_id
            ))),
            SurrogateModel::IndPenSimSerialHybrid(_) => Err(SurrogateError::Numerical(
                "the serial hybrid on IndPenSim is simulated from a batch's recipe and record (biotwin evaluate), not evaluated on features".into(),
            )),
        }
    }
}

/// Everything needed to use, trace and compare a fitted model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Artifact {
    /// Format tag, [`FORMAT`]; other formats are refused on load.
    pub format: String,
    /// Version of the biotwin crate that fitted the model.
    pub code_version: String,
    /// When the model was fitted, Unix s (UTC).
    pub created_at_unix_s: u64,
    /// Content hash of the training dataset (`Dataset::content_hash`).
    pub training_data_hash: Option<String>,
    /// Feature (input column) names, in the order `predict` expects.
    pub feature_names: Vec<String>,
    /// Target (output column) names, in the order `predict` returns.
    pub target_names: Vec<String>,
    /// How features are built from batch records, when they were.
    pub unfolding: Option<UnfoldingSpec>,
    /// The hyperparameters the model was fitted with, as JSON.
    pub hyperparameters: serde_json::Value,
    /// Metrics by name, e.g. `leave_batch_out/final_penicillin`.
    pub metrics: BTreeMap<String, Metrics>,
    /// The fitted model.
    pub model: SurrogateModel,
    /// Range of the training inputs, for the extrapolation check
    /// ([`super::extrapolation`]); absent in artifacts saved before it was
    /// recorded (their content hash is unchanged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training_range: Option<super::extrapolation::FeatureRange>,
}

impl Artifact {
    /// An artifact for `model`, stamped with this crate's version and now.
    pub fn new(
        model: SurrogateModel,
        feature_names: Vec<String>,
        target_names: Vec<String>,
        training_data_hash: Option<String>,
    ) -> Artifact {
        let created_at_unix_s = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Artifact {
            format: FORMAT.to_string(),
            code_version: env!("CARGO_PKG_VERSION").to_string(),
            created_at_unix_s,
            training_data_hash,
            feature_names,
            target_names,
            unfolding: None,
            hyperparameters: model.hyperparameters(),
            metrics: BTreeMap::new(),
            model,
            training_range: None,
        }
    }

    /// Writes the sealed artifact atomically.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), Error> {
        super::sealed::save(path.as_ref(), "artifact", self, true)
    }

    /// Reads an artifact, refusing it when its content does not match its
    /// hash or it does not describe a usable model.
    pub fn load(path: impl AsRef<Path>) -> Result<Artifact, Error> {
        let path = path.as_ref();
        let bad = |field: &str, expected: &str, found: String, line: Option<usize>| {
            Error::artifact(Diagnostic::new(path, field, expected, found).at_line(line))
        };
        let artifact: Artifact = super::sealed::load(path, "artifact", "model artifact")?;
        if artifact.format != FORMAT {
            return Err(bad(
                "artifact.format",
                FORMAT,
                artifact.format.clone(),
                None,
            ));
        }
        let (p, q) = (artifact.model.n_features(), artifact.model.n_targets());
        if artifact.feature_names.len() != p || artifact.target_names.len() != q {
            return Err(bad(
                "artifact.feature_names",
                &format!("{p} feature and {q} target names (the model's)"),
                format!(
                    "{} and {}",
                    artifact.feature_names.len(),
                    artifact.target_names.len()
                ),
                None,
            ));
        }
        Ok(artifact)
    }
}

/// Hex sha256 of the compact serde_json serialisation of `value`.
pub fn content_sha256(value: &serde_json::Value) -> String {
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    hex::encode(Sha256::digest(&bytes))
}

pub use biotwin_core::output::atomic::write_atomic;
