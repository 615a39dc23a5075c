//! Calibrated mechanistic models in the registry (kind `mechanistic`):
//! the model file written by `biotwin fit` (`biotwin.calibration/1`,
//! docs/fit.md) stored as a sealed artifact like every other model, so the
//! registry's file hash, the artifact's content hash and the model text's
//! own sha256 all guard it, and `promote` works on it unchanged.

use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{ModelRecord, Registry};
use crate::surrogates::artifact::{Artifact, SurrogateModel};
use biotwin_core::error::{Diagnostic, Error};

/// The registered content of a calibrated model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalibratedModel {
    /// `[model] id` of the file.
    pub model_id: String,
    /// The model the fit started from.
    pub base_model: String,
    /// Fitted `model.*` parameter names.
    pub parameters: Vec<String>,
    /// The calibrated model file, verbatim.
    pub toml: String,
    /// sha256 of `toml`'s bytes.
    pub toml_sha256: String,
}

/// A calibrated model loaded from the registry.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedCalibrated {
    /// Registry id `<name>-v<version>`.
    pub id: String,
    pub name: String,
    pub version: u64,
    /// The calibrated model TOML text.
    pub toml: String,
    /// sha256 of the TOML text.
    pub sha256: String,
    pub record: ModelRecord,
}

/// Hex sha256 of text.
pub fn text_sha256(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Registers a calibrated model file's text as the next version of `name`.
#[allow(clippy::too_many_arguments)]
pub fn register(
    registry: &Registry,
    name: &str,
    toml_text: &str,
    model_id: &str,
    base_model: &str,
    parameters: &[String],
    dataset_sha256: &str,
    dataset: &str,
    batches_held_out: &[String],
    user: &str,
) -> Result<ModelRecord, Error> {
    let content = CalibratedModel {
        model_id: model_id.to_string(),
        base_model: base_model.to_string(),
        parameters: parameters.to_vec(),
        toml: toml_text.to_string(),
        toml_sha256: text_sha256(toml_text),
    };
    let artifact = Artifact::new(
        SurrogateModel::Mechanistic(Box::new(content)),
        vec![],
        vec![],
        Some(dataset_sha256.to_string()),
    );
    let validation = if batches_held_out.is_empty() {
        "in-sample (profile likelihood and Fisher intervals)"
    } else {
        "holdout"
    };
    registry.register(
        name,
        &artifact,
        validation,
        batches_held_out,
        Some(dataset),
        user,
    )
}

/// Loads the calibrated model TOML text, id, version and sha256 of registry
/// id `id` from the registry in `dir`. Refuses a model of another kind, an
/// altered artifact file (registry file hash, content seal) and a text
/// whose sha256 differs from the one sealed with it.
pub fn load_calibrated(dir: &Path, id: &str) -> Result<LoadedCalibrated, Error> {
    let reg = Registry::new(dir);
    let (record, artifact) = reg.load(id)?;
    let path = dir.join(&record.artifact);
    let SurrogateModel::Mechanistic(m) = artifact.model else {
        return Err(Diagnostic::new(
            &path,
            "artifact.model.kind",
            "a calibrated mechanistic model (kind `mechanistic`, from biotwin fit)",
            format!("kind `{}`", record.kind),
        )
        .into());
    };
    let found = text_sha256(&m.toml);
    if found != m.toml_sha256 {
        return Err(Diagnostic::new(
            &path,
            "artifact.model.toml_sha256",
            format!("the sha256 of the model text, {}", m.toml_sha256),
            format!("{found}: the model text was altered"),
        )
        .into());
    }
    Ok(LoadedCalibrated {
        id: record.id.clone(),
        name: record.name.clone(),
        version: record.version,
        toml: m.toml,
        sha256: found,
        record,
    })
}
