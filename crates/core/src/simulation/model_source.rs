//! Where a process's kinetic model comes from: the one resolver behind
//! `--model`. Today a reference is a model file (a calibrated one from
//! `biotwin fit`, or any file in the schema of `process-models/models/`);
//! a registry id plugs in here later, returning the same
//! [`ResolvedModel`]: the validated model and its provenance (source, id,
//! version, content hash) for the records.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::definition::kinetic::KineticModel;
use crate::definition::process::{InputFile, ProcessDefinition};
use crate::error::{Diagnostic, Diagnostics};

use super::Family;

/// What a prediction records about its model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelProvenance {
    /// The model file's `[model] id`.
    pub id: String,
    /// The model file's `[model] version`.
    pub version: String,
    /// Where it was read from: a path (a registry id later).
    pub source: String,
    /// sha256 of the model file's bytes, hex.
    pub sha256: String,
}

/// A kinetic model resolved from a process file's reference, with its provenance.
#[derive(Debug, Clone)]
pub struct ResolvedModel {
    /// The validated model.
    pub model: KineticModel,
    /// What a prediction records about it.
    pub provenance: ModelProvenance,
    /// The file it was read from.
    pub path: PathBuf,
    /// The model file's text, verbatim (its sha256 is `provenance.sha256`):
    /// what a study copies beside its outputs so that they name a file that
    /// exists wherever the folder goes.
    pub text: String,
}

/// Resolves `--model REFERENCE`: a model file path. The error names the
/// option and what was found.
pub fn resolve_model(reference: &str) -> Result<ResolvedModel, Diagnostics> {
    let path = Path::new(reference);
    if !path.is_file() {
        return Err(Diagnostic::new(
            "<command line>",
            "--model",
            "a model file (TOML in the schema of process-models/models/, e.g. a calibrated model from `biotwin fit`)",
            format!("`{reference}` (no such file)"),
        )
        .into());
    }
    let text = std::fs::read_to_string(path).map_err(|e| {
        Diagnostics::from(Diagnostic::new(
            path,
            "",
            "a readable TOML file",
            e.to_string(),
        ))
    })?;
    let sha256 = crate::definition::process::text_sha256(&text);
    from_text(path.display().to_string(), path.to_path_buf(), text, sha256)
}

/// The one place a resolved model is built: validated from its text, with
/// `source` and `sha256` (of the text) as its provenance.
fn from_text(
    source: String,
    path: PathBuf,
    text: String,
    sha256: String,
) -> Result<ResolvedModel, Diagnostics> {
    let model = KineticModel::load_text(
        &path,
        text.clone(),
        |f| Family::parse(f).map(|f| f.params()),
        &Family::names(),
    )?;
    Ok(ResolvedModel {
        provenance: ModelProvenance {
            id: model.id.clone(),
            version: model.version.clone(),
            source,
            sha256,
        },
        model,
        path,
        text,
    })
}

/// Resolves a model whose text came from elsewhere than a plain file (a
/// registry artifact): `label` names it in diagnostics and records
/// (e.g. `registry:models/cho-fit-v2`), `sha256` is the content hash the
/// source sealed with it, checked here against the text.
pub fn resolve_model_text(
    label: &str,
    text: String,
    sha256: &str,
) -> Result<ResolvedModel, Diagnostics> {
    let found = crate::definition::process::text_sha256(&text);
    if found != sha256 {
        return Err(Diagnostic::new(
            label,
            "--model",
            format!("a model text with sha256 {sha256}, as sealed"),
            format!("sha256 {found}: the text was altered"),
        )
        .into());
    }
    from_text(label.to_string(), PathBuf::from(label), text, found)
}

/// The provenance of the model a loaded process names.
pub fn provenance_of(def: &ProcessDefinition) -> ModelProvenance {
    let input = def.inputs.iter().find(|i| i.role == "model");
    ModelProvenance {
        id: def.model.id.clone(),
        version: def.model.version.clone(),
        source: input.map_or(String::new(), |i| i.path.display().to_string()),
        sha256: input.map_or(String::new(), |i| i.sha256.clone()),
    }
}

/// Replaces a loaded process's model with a resolved one (same family:
/// the recipe, equipment and `[[uncertainty]]` addresses were validated
/// against it).
pub fn with_model(def: &mut ProcessDefinition, m: &ResolvedModel) -> Result<(), Diagnostics> {
    with_model_at(def, m, &m.path)
}

/// [`with_model`], recording `path` (a copy of the model's text, e.g. in a
/// study's output folder) as the process's model input.
pub fn with_model_at(
    def: &mut ProcessDefinition,
    m: &ResolvedModel,
    path: &Path,
) -> Result<(), Diagnostics> {
    if m.model.family != def.model.family {
        return Err(Diagnostic::new(
            "<command line>",
            "--model",
            format!(
                "a model of the process's family `{}` ({})",
                def.model.family,
                def.path.display()
            ),
            format!("`{}` of family `{}`", m.path.display(), m.model.family),
        )
        .into());
    }
    def.model = m.model.clone();
    def.inputs.retain(|i| i.role != "model");
    def.inputs.push(InputFile {
        role: "model".into(),
        path: path.to_path_buf(),
        sha256: m.provenance.sha256.clone(),
    });
    Ok(())
}
