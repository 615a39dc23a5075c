//! Ladder files: the same sealing as single-model artifacts
//! ([`crate::surrogates::artifact`]): `{ "content_sha256": "<hex>",
//! "ladder": { ... } }`, the hash over the compact JSON of `ladder`, checked
//! on load so that an altered file is refused; written atomically.

use std::path::Path;

use serde::Serialize;

use super::ladder::{LADDER_FORMAT, Ladder};
use crate::error::{Diagnostic, Error};
use crate::surrogates::Predict;
use crate::surrogates::artifact::{content_sha256, write_atomic};

#[derive(Serialize)]
struct SealedOut<'a> {
    content_sha256: String,
    ladder: &'a serde_json::Value,
}

impl Ladder {
    /// sha256 of the ladder's content (the one written into its file): the
    /// version part of the model id.
    pub fn content_sha256(&self) -> Result<String, Error> {
        let value = serde_json::to_value(self).map_err(|e| Error::io("<ladder>", e))?;
        Ok(content_sha256(&value))
    }

    /// Writes the sealed ladder atomically.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), Error> {
        let path = path.as_ref();
        let value = serde_json::to_value(self).map_err(|e| Error::io(path, e))?;
        let sealed = SealedOut {
            content_sha256: content_sha256(&value),
            ladder: &value,
        };
        let text = serde_json::to_string(&sealed).map_err(|e| Error::io(path, e))?;
        write_atomic(path, text.as_bytes())
    }

    /// Reads a ladder, refusing it when its content does not match its hash
    /// or its rungs do not fit together.
    pub fn load(path: impl AsRef<Path>) -> Result<Ladder, Error> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let bad = |field: &str, expected: &str, found: String, line: Option<usize>| {
            Error::from(Diagnostic::new(path, field, expected, found).at_line(line))
        };
        let mut root: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| bad("", "a JSON surrogate ladder", e.to_string(), Some(e.line())))?;
        let obj = root
            .as_object_mut()
            .ok_or_else(|| bad("", "a JSON object", "another JSON value".into(), None))?;
        let stored = match obj.remove("content_sha256") {
            Some(serde_json::Value::String(s)) => s,
            _ => {
                return Err(bad(
                    "content_sha256",
                    "a sha256 hex string",
                    "none".into(),
                    None,
                ));
            }
        };
        let value = obj
            .remove("ladder")
            .ok_or_else(|| bad("ladder", "the ladder content", "none".into(), None))?;
        if let Some(extra) = obj.keys().next() {
            return Err(bad(
                "",
                "only content_sha256 and ladder",
                format!("`{extra}`"),
                None,
            ));
        }
        let actual = content_sha256(&value);
        if actual != stored {
            return Err(bad(
                "content_sha256",
                &format!("the sha256 of the ladder content, {stored}"),
                format!("{actual}: the file was altered after it was written; refusing to load it"),
                None,
            ));
        }
        let ladder: Ladder = serde_json::from_value(value)
            .map_err(|e| bad("ladder", "a biotwin surrogate ladder", e.to_string(), None))?;
        if ladder.format != LADDER_FORMAT {
            return Err(bad(
                "ladder.format",
                LADDER_FORMAT,
                ladder.format.clone(),
                None,
            ));
        }
        let q = ladder.config.targets.len();
        if ladder.prior.len() != q || ladder.target_units.len() != q {
            return Err(bad(
                "ladder.prior",
                &format!("{q} entries (one per target)"),
                ladder.prior.len().to_string(),
                None,
            ));
        }
        for (k, r) in ladder.rungs.iter().enumerate() {
            let a = &r.artifact;
            if a.model.n_targets() != q
                || r.calibration.sd_multiplier.len() != q
                || a.feature_names.len() != a.model.n_features()
                || a.unfolding.is_none()
            {
                return Err(bad(
                    &format!("ladder.rungs[{k}]"),
                    &format!("a model of {q} targets with its unfolding and calibration"),
                    format!(
                        "{} targets, {} multipliers",
                        a.model.n_targets(),
                        r.calibration.sd_multiplier.len()
                    ),
                    None,
                ));
            }
        }
        Ok(ladder)
    }
}
