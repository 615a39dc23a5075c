//! Ladder files: the same sealing as single-model artifacts
//! ([`biotwin_ml::surrogates::artifact`]): `{ "content_sha256": "<hex>",
//! "ladder": { ... } }`, the hash over the compact JSON of `ladder`, checked
//! on load so that an altered file is refused; written atomically.

use std::path::Path;

use super::ladder::{LADDER_FORMAT, Ladder};
use crate::Error;
use biotwin_core::error::Diagnostic;
use biotwin_ml::surrogates::Predict;
use biotwin_ml::surrogates::artifact::content_sha256;

impl Ladder {
    /// sha256 of the ladder's content (the one written into its file): the
    /// version part of the model id.
    pub fn content_sha256(&self) -> Result<String, Error> {
        let value = serde_json::to_value(self).map_err(|e| Error::io("<ladder>", e))?;
        Ok(content_sha256(&value))
    }

    /// Writes the sealed ladder atomically.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), Error> {
        Ok(biotwin_ml::surrogates::sealed::save(
            path.as_ref(),
            "ladder",
            self,
            false,
        )?)
    }

    /// Reads a ladder, refusing it when its content does not match its hash
    /// or its rungs do not fit together.
    pub fn load(path: impl AsRef<Path>) -> Result<Ladder, Error> {
        let path = path.as_ref();
        let bad = |field: &str, expected: &str, found: String, line: Option<usize>| {
            Error::from(Diagnostic::new(path, field, expected, found).at_line(line))
        };
        let ladder: Ladder =
            biotwin_ml::surrogates::sealed::load(path, "ladder", "surrogate ladder")?;
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
