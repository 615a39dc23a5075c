//! Calibrated mechanistic models in the registry (kind `mechanistic`):
//! the model file written by `biotwin fit` (`biotwin.calibration/1`,
//! docs/fit.md) stored as a sealed artifact like every other model, so the
//! registry's file hash, the artifact's content hash and the model text's
//! own sha256 all guard it, and `promote` works on it unchanged.

use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{ModelRecord, Registry};
use crate::error::Error;
use crate::surrogates::artifact::{Artifact, SurrogateModel};
use biotwin_core::error::Diagnostic;
use biotwin_core::simulation::model_source::{self, ResolvedModel};

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
    /// Model name in the registry.
    pub name: String,
    /// Version within the name.
    pub version: u64,
    /// The calibrated model TOML text.
    pub toml: String,
    /// sha256 of the TOML text.
    pub sha256: String,
    /// The registry's record of the model (who registered it, when, hashes).
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

/// Resolves a model reference (`--model`): a **path** (it contains `/` or
/// a backslash, or ends in `.toml`) is a model file; anything else is looked up in
/// the registry `registry` (which must verify: hash chain, anchors,
/// artifacts) as a model **name** (its promoted version serves) or a
/// registered **id** `<name>-v<version>` — so a stray file named like a
/// model never shadows the registry. A file is checked by
/// [`resolve_file`]. With `promoted_only` (live mode: of a registry, only
/// promoted models serve predictions) an id must be the promoted version of
/// its name. A registry model's text is checked against the sha256 sealed
/// with it; the provenance's `source` is `registry:<dir>/<id>` for a
/// registry model, the path as given for a file.
pub fn resolve_reference(
    reference: &str,
    registry: &Path,
    promoted_only: bool,
) -> Result<ResolvedModel, Error> {
    if is_path(reference) {
        return resolve_file(reference);
    }
    resolve_registered(reference, registry, promoted_only)
}

/// A model **file** (`--model FILE`, a live site's `model = "PATH"`): the
/// one check every job applies to one. The model is validated as in its
/// own file, and a stored recipe discrepancy must be well formed
/// ([`check_discrepancy`]). A file carries no seal of its own (its sha256
/// is recorded wherever it is used; registering it seals it). The
/// provenance's `source` is `reference` as given.
pub fn resolve_file(reference: &str) -> Result<ResolvedModel, Error> {
    checked(model_source::resolve_model(reference)?)
}

/// A model file's text kept elsewhere than the file (the copy `biotwin
/// live` stores when a batch starts on a loose file): `source` is the path
/// it was read from (diagnostics and records name it), `sha256` the hash
/// recorded with it, compared with the text's before anything is parsed;
/// then checked as [`resolve_file`] checks the file.
pub fn resolve_stored(source: &str, text: String, sha256: &str) -> Result<ResolvedModel, Error> {
    checked(model_source::resolve_model_text(source, text, sha256)?)
}

/// `resolved` once its stored discrepancy passes [`check_discrepancy`].
fn checked(resolved: ResolvedModel) -> Result<ResolvedModel, Error> {
    check_discrepancy(
        resolved
            .model
            .calibration
            .as_ref()
            .and_then(|c| c.discrepancy.as_ref()),
        &resolved.path,
    )?;
    Ok(resolved)
}

/// A calibrated model's stored recipe discrepancy must be well formed (its
/// arrays as long as its conditions, every number finite, a known schema):
/// a malformed one is bad input naming the model file (or registry label),
/// exit 2, not a note that δ was not applied. Whether δ applies to a given
/// process (its conditions inside the calibration range) is decided later,
/// softly.
pub fn check_discrepancy(stored: Option<&toml::Value>, model_file: &Path) -> Result<(), Error> {
    match stored.map(crate::calibration::discrepancy::Discrepancy::from_stored) {
        Some(Err(r)) => Err(Error::input(
            model_file,
            "calibration.discrepancy",
            "a discrepancy object as `biotwin fit --discrepancy` writes it (schema biotwin.discrepancy/1 or /2)",
            r.to_string(),
        )),
        _ => Ok(()),
    }
}

/// Whether a model reference names a file (rather than a registry model).
pub fn is_path(reference: &str) -> bool {
    reference.contains('/') || reference.contains('\\') || reference.ends_with(".toml")
}

/// [`resolve_reference`] in the registry only: `reference` is a model name
/// (its promoted version) or a registered id.
pub fn resolve_registered(
    reference: &str,
    registry: &Path,
    promoted_only: bool,
) -> Result<ResolvedModel, Error> {
    let reg = Registry::new(registry);
    if !reg.log_path().is_file() {
        return Err(Error::input(
            "<command line>",
            "--model",
            format!(
                "a model file, or a calibrated model's name or id in the registry {} (--registry DIR)",
                registry.display()
            ),
            format!(
                "`{reference}`: no such file, and no registry log in {}",
                registry.display()
            ),
        ));
    }
    super::verify(registry)?;
    let state = reg.state()?;
    let id = if let Some(id) = state.serving.get(reference) {
        id.clone()
    } else if state.models.iter().any(|m| m.id == reference) {
        if promoted_only && !state.serving.values().any(|v| v == reference) {
            return Err(Error::not_found(Diagnostic::new(
                reg.log_path(),
                "--model",
                "a promoted model (only promoted models serve live predictions)",
                format!("`{reference}`: registered but not promoted (biotwin promote {reference})"),
            )));
        }
        reference.to_string()
    } else {
        let names: std::collections::BTreeSet<&str> =
            state.models.iter().map(|m| m.name.as_str()).collect();
        return Err(Error::not_found(Diagnostic::new(
            reg.log_path(),
            "--model",
            format!(
                "a model file, a registered model id, or a model name with a promoted version (names: {})",
                names.into_iter().collect::<Vec<_>>().join(", ")
            ),
            format!("`{reference}`"),
        )));
    };
    let loaded = load_calibrated(registry, &id)?;
    // The label is recorded with every live prediction and used to reload
    // a resumed batch's model: an absolute directory, so a restart from
    // another working directory finds the same registry.
    let dir = std::fs::canonicalize(registry).unwrap_or_else(|_| registry.to_path_buf());
    let label = format!("registry:{}/{}", dir.display(), loaded.id);
    checked(model_source::resolve_model_text(
        &label,
        loaded.toml,
        &loaded.sha256,
    )?)
}

/// The registry id in a provenance `source` written by
/// [`resolve_reference`] (`registry:<dir>/<id>`), with the directory.
pub fn registry_source(source: &str) -> Option<(std::path::PathBuf, String)> {
    let rest = source.strip_prefix("registry:")?;
    let (dir, id) = rest.rsplit_once('/')?;
    Some((std::path::PathBuf::from(dir), id.to_string()))
}
