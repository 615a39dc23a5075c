//! Saved hybrid models: the same sealed layout as surrogate artifacts,
//! `{ "content_sha256": "<hex>", "artifact": { ... } }`, with the hash
//! computed by [`content_sha256`] over the compact serialisation of
//! `artifact`. Any altered number or name makes the hash differ and the
//! file is refused.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::parallel::ParallelHybrid;
use super::serial::SerialHybrid;
use crate::error::{Diagnostic, Error};
use crate::surrogates::artifact::{content_sha256, write_atomic};

/// Format tag written into every hybrid artifact.
pub const FORMAT: &str = "biotwin-hybrid/1";

/// A fitted hybrid model of either kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum HybridModel {
    Serial(Box<SerialHybrid>),
    Parallel(Box<ParallelHybrid>),
}

/// A hybrid model with its provenance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HybridArtifact {
    pub format: String,
    pub code_version: String,
    pub created_at_unix_s: u64,
    pub training_data_hash: Option<String>,
    /// Held-out metrics by name (free-form numbers).
    pub metrics: std::collections::BTreeMap<String, f64>,
    pub model: HybridModel,
}

#[derive(Serialize)]
struct SealedOut<'a> {
    content_sha256: String,
    artifact: &'a serde_json::Value,
}

impl HybridArtifact {
    pub fn new(model: HybridModel, training_data_hash: Option<String>) -> HybridArtifact {
        HybridArtifact {
            format: FORMAT.to_string(),
            code_version: env!("CARGO_PKG_VERSION").to_string(),
            created_at_unix_s: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            training_data_hash,
            metrics: Default::default(),
            model,
        }
    }

    /// Writes the sealed artifact atomically.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), Error> {
        let path = path.as_ref();
        let value = serde_json::to_value(self).map_err(|e| Error::io(path, e))?;
        let sealed = SealedOut {
            content_sha256: content_sha256(&value),
            artifact: &value,
        };
        let text = serde_json::to_string_pretty(&sealed).map_err(|e| Error::io(path, e))?;
        write_atomic(path, text.as_bytes())
    }

    /// Reads an artifact, refusing it when its content does not match its
    /// hash.
    pub fn load(path: impl AsRef<Path>) -> Result<HybridArtifact, Error> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let bad = |field: &str, expected: &str, found: String| {
            Error::from(Diagnostic::new(path, field, expected, found))
        };
        let mut root: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| bad("", "a JSON hybrid-model artifact", e.to_string()))?;
        let obj = root
            .as_object_mut()
            .ok_or_else(|| bad("", "a JSON object", "another JSON value".into()))?;
        let stored = match obj.remove("content_sha256") {
            Some(serde_json::Value::String(s)) => s,
            _ => return Err(bad("content_sha256", "a sha256 hex string", "none".into())),
        };
        let value = obj
            .remove("artifact")
            .ok_or_else(|| bad("artifact", "the model content", "none".into()))?;
        if let Some(extra) = obj.keys().next() {
            return Err(bad(
                "",
                "only content_sha256 and artifact",
                format!("`{extra}`"),
            ));
        }
        let actual = content_sha256(&value);
        if actual != stored {
            return Err(bad(
                "content_sha256",
                &format!("the sha256 of the artifact content, {stored}"),
                format!("{actual}: the file was altered after it was written; refusing to load it"),
            ));
        }
        let artifact: HybridArtifact = serde_json::from_value(value)
            .map_err(|e| bad("artifact", "a biotwin hybrid-model artifact", e.to_string()))?;
        if artifact.format != FORMAT {
            return Err(bad("artifact.format", FORMAT, artifact.format.clone()));
        }
        Ok(artifact)
    }
}
