//! Uncertain factors: a name and a distribution, plus their validation.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::distribution::Distribution;
use crate::error::{Diagnostic, Diagnostics};

/// One uncertain input of the model (a set-point, a material attribute).
/// The name should carry the unit, e.g. `agitation_rpm`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Factor {
    /// Factor name, with its unit (`agitation_rpm`).
    pub name: String,
    /// Its distribution, in the factor's unit.
    pub distribution: Distribution,
}

impl Factor {
    /// A factor named `name` with `distribution`.
    pub fn new(name: impl Into<String>, distribution: Distribution) -> Factor {
        Factor {
            name: name.into(),
            distribution,
        }
    }

    /// Uniform factor on [low, high], the common case for set-point ranges.
    pub fn uniform(name: impl Into<String>, low: f64, high: f64) -> Factor {
        Factor::new(name, Distribution::Uniform { low, high })
    }
}

/// Where factors that were not read from a file are reported to come from.
pub const PROGRAMMATIC_ORIGIN: &str = "<sensitivity setup>";

/// Checks every factor; each problem names `{prefix}[i].distribution.{param}`
/// in `file`. An empty list and duplicate names are problems too, because
/// indices would be reported against the wrong input.
pub fn validate_factors(factors: &[Factor], file: &Path, prefix: &str) -> Result<(), Diagnostics> {
    let mut diags = Diagnostics::new();
    if factors.is_empty() {
        diags.push(Diagnostic::new(
            file,
            prefix,
            "at least one factor",
            "an empty list",
        ));
    }
    for (i, f) in factors.iter().enumerate() {
        if f.name.trim().is_empty() {
            diags.push(Diagnostic::new(
                file,
                format!("{prefix}[{i}].name"),
                "a non-empty factor name",
                "an empty string",
            ));
        }
        if let Some(j) = factors[..i].iter().position(|g| g.name == f.name) {
            diags.push(Diagnostic::new(
                file,
                format!("{prefix}[{i}].name"),
                format!(
                    "a name not used by another factor (factor {j} is already `{}`)",
                    f.name
                ),
                format!("`{}`", f.name),
            ));
        }
        for p in f.distribution.problems() {
            diags.push(Diagnostic::new(
                file,
                format!("{prefix}[{i}].distribution.{}", p.field),
                p.expected,
                p.found,
            ));
        }
    }
    diags.into_result(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factors_read_from_toml() {
        #[derive(serde::Deserialize)]
        struct Study {
            factors: Vec<Factor>,
        }
        let text = r#"
            [[factors]]
            name = "agitation_rpm"
            distribution = { kind = "uniform", low = 80.0, high = 120.0 }
            [[factors]]
            name = "glucose_feed_g_per_l"
            distribution = { kind = "truncated_normal", mean = 500.0, sd = 10.0, low = -inf, high = 510.0 }
            [[factors]]
            name = "lot_manganese_umol_per_l"
            distribution = { kind = "log_normal", mu_ln = 0.0, sigma_ln = 0.3 }
        "#;
        let study: Study = toml::from_str(text).expect("parses");
        assert_eq!(study.factors.len(), 3);
        assert_eq!(
            study.factors[1].distribution.finite_support(),
            (false, true)
        );
        validate_factors(&study.factors, Path::new("study.toml"), "factors").expect("valid");
        let typo = r#"factors = [{ name = "x", distribution = { kind = "uniform", low = 0.0, hgih = 1.0 } }]"#;
        assert!(toml::from_str::<Study>(typo).is_err());
    }

    #[test]
    fn duplicate_and_invalid_factors_are_reported_together() {
        let factors = vec![
            Factor::uniform("x", 0.0, 1.0),
            Factor::uniform("x", 2.0, 1.0),
        ];
        let diags = validate_factors(&factors, Path::new("study.toml"), "factors")
            .expect_err("two problems");
        assert_eq!(diags.len(), 2);
        assert!(diags.mentions("factors[1].name"));
        assert!(diags.mentions("factors[1].distribution.high"));
    }
}
