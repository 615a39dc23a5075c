//! Specification limits for quality attributes.
//!
//! ```toml
//! [specifications]
//! id = "cho-mab-upstream"
//! [[limits]]
//! cqa = "titer_g_per_l"
//! min = 3.0
//! ```
//! `cqa` must be an output of the model family the process uses; that check
//! happens when the process is assembled (the family is known there).

use std::path::Path;

use serde::Deserialize;

use super::source::SourceFile;
use crate::error::Diagnostics;

/// A specification file (`process-models/specs/*.toml`) as written.
#[derive(Debug, Clone, Deserialize)]
pub struct SpecFile {
    /// The `[specifications]` table.
    pub specifications: SpecHeader,
    /// Limits on critical quality attributes (`[[limits]]`).
    #[serde(default)]
    pub limits: Vec<Limit>,
}

/// The `[specifications]` table.
#[derive(Debug, Clone, Deserialize)]
pub struct SpecHeader {
    /// Specification set identifier.
    pub id: String,
    /// Free text for people.
    #[serde(default)]
    pub description: String,
}

/// An acceptance range of one critical quality attribute (CQA).
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
pub struct Limit {
    /// Output name of the attribute (`titer_g_per_l`, `viability_pct`); the unit is in the name.
    pub cqa: String,
    /// Lower limit, if any (inclusive).
    pub min: Option<f64>,
    /// Upper limit, if any (inclusive).
    pub max: Option<f64>,
    /// Free remark.
    #[serde(default)]
    pub note: String,
}

impl Limit {
    /// Whether `x` lies within the limits (inclusive).
    pub fn contains(&self, x: f64) -> bool {
        self.min.is_none_or(|m| x >= m) && self.max.is_none_or(|m| x <= m)
    }
    /// The range as text (`a – b`, `≥ a`, `≤ b`).
    pub fn describe(&self) -> String {
        match (self.min, self.max) {
            (Some(a), Some(b)) => format!("{a} – {b}"),
            (Some(a), None) => format!("≥ {a}"),
            (None, Some(b)) => format!("≤ {b}"),
            (None, None) => "—".into(),
        }
    }
}

/// A validated specification set.
#[derive(Debug, Clone, PartialEq)]
pub struct Specifications {
    /// Specification set identifier.
    pub id: String,
    /// Limits, one per attribute.
    pub limits: Vec<Limit>,
}

impl Specifications {
    /// Loads limits; `known_cqas` (if given) are the names a limit may use.
    pub fn load(path: &Path, known_cqas: Option<&[&str]>) -> Result<Specifications, Diagnostics> {
        let src = SourceFile::read(path)?;
        let f: SpecFile = src.parse()?;
        let mut d = Diagnostics::new();
        for (i, l) in f.limits.iter().enumerate() {
            let field = format!("limits[{i}]");
            if l.min.is_none() && l.max.is_none() {
                d.push(src.diag(&field, "min, max or both", "neither"));
            }
            if let (Some(a), Some(b)) = (l.min, l.max)
                && a > b
            {
                d.push(src.diag(
                    &format!("{field}.max"),
                    format!("a value ≥ min = {a}"),
                    format!("{b}"),
                ));
            }
            for (k, v) in [("min", l.min), ("max", l.max)] {
                if v.is_some_and(|x| !x.is_finite()) {
                    d.push(src.diag(
                        &format!("{field}.{k}"),
                        "a finite number",
                        "NaN or infinity",
                    ));
                }
            }
            if let Some(known) = known_cqas
                && !known.contains(&l.cqa.as_str())
            {
                d.push(src.diag(
                    &format!("{field}.cqa"),
                    format!("a quality attribute of the model ({})", known.join(", ")),
                    format!("`{}`", l.cqa),
                ));
            }
        }
        d.into_result(Specifications {
            id: f.specifications.id,
            limits: f.limits,
        })
    }

    /// The limit on attribute `cqa`, if any.
    pub fn limit(&self, cqa: &str) -> Option<&Limit> {
        self.limits.iter().find(|l| l.cqa == cqa)
    }
}
