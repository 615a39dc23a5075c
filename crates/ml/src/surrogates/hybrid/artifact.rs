//! Saved hybrid models: the same sealed layout as surrogate artifacts,
//! `{ "content_sha256": "<hex>", "artifact": { ... } }`, with the hash
//! computed by [`content_sha256`](crate::surrogates::artifact::content_sha256) over the compact serialisation of
//! `artifact`. Any altered number or name makes the hash differ and the
//! file is refused.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::parallel::ParallelHybrid;
use super::serial::SerialHybrid;
use crate::error::Error;
use biotwin_core::error::Diagnostic;

/// Format tag written into every hybrid artifact.
pub const FORMAT: &str = "biotwin-hybrid/1";

/// A fitted hybrid model of either kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum HybridModel {
    /// A serial hybrid (rates learned inside the mass balances).
    Serial(Box<SerialHybrid>),
    /// A parallel hybrid (mechanistic prediction plus a learned correction).
    Parallel(Box<ParallelHybrid>),
}

/// A hybrid model with its provenance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HybridArtifact {
    /// Format tag, [`FORMAT`]; other formats are refused on load.
    pub format: String,
    /// Version of biotwin that trained the model (the crate version).
    pub code_version: String,
    /// When the model was trained, Unix s (UTC).
    pub created_at_unix_s: u64,
    /// Content hash of the training dataset, when trained on one.
    pub training_data_hash: Option<String>,
    /// Held-out metrics by name (free-form numbers).
    pub metrics: std::collections::BTreeMap<String, f64>,
    /// The fitted model.
    pub model: HybridModel,
}

impl HybridArtifact {
    /// An artifact of `model` stamped now with this crate's version and
    /// [`FORMAT`], without metrics.
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
        crate::surrogates::sealed::save(path.as_ref(), "artifact", self, true)
    }

    /// Reads an artifact, refusing it when its content does not match its
    /// hash.
    pub fn load(path: impl AsRef<Path>) -> Result<HybridArtifact, Error> {
        let path = path.as_ref();
        let bad = |field: &str, expected: &str, found: String| {
            Error::artifact(Diagnostic::new(path, field, expected, found))
        };
        let artifact: HybridArtifact =
            crate::surrogates::sealed::load(path, "artifact", "hybrid-model artifact")?;
        if artifact.format != FORMAT {
            return Err(bad("artifact.format", FORMAT, artifact.format.clone()));
        }
        Ok(artifact)
    }
}
