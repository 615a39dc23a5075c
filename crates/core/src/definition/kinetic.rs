//! Kinetic-model files: a named model family plus a parameter table with
//! units and sources.
//!
//! ```toml
//! [model]
//! id = "xing2010"
//! family = "xing2010"
//! version = "1.0.0"
//! source = "Xing et al., Biotechnol. Prog. 26:208 (2010)"
//!
//! [parameters]
//! mu_max = { value = 0.029, unit = "1/h", source = "Xing 2010" }
//! ```
//!
//! Each family publishes its parameter list ([`ParamSpec`]): name, canonical
//! unit, physically admissible range. A file must give every parameter of its
//! family, in any unit of the right dimension, within range.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::source::SourceFile;
use crate::error::Diagnostics;
use crate::units::{Unit, to_si};

/// A kinetic model file (`process-models/models/*.toml`) as written, before validation.
#[derive(Debug, Clone, Deserialize)]
pub struct KineticModelFile {
    /// The `[model]` table.
    pub model: ModelHeader,
    /// Parameters by name, each with value, unit and source.
    pub parameters: BTreeMap<String, ParamEntry>,
    /// Present in calibrated model files (`biotwin.calibration/1`).
    pub calibration: Option<super::calibration::CalibrationFile>,
}

/// The `[model]` table of a model file.
#[derive(Debug, Clone, Deserialize)]
pub struct ModelHeader {
    /// Model identifier.
    pub id: String,
    /// Kinetic family (`xing2010`, `cho_platform`).
    pub family: String,
    /// Version of the parameter set.
    pub version: String,
    /// Free text for people.
    #[serde(default)]
    pub description: String,
    /// Publication or data the model follows.
    #[serde(default)]
    pub source: String,
}

/// One parameter of a model file.
#[derive(Debug, Clone, Deserialize)]
pub struct ParamEntry {
    /// Value, in `unit`.
    pub value: f64,
    /// Unit of the value; must have the dimension of the family's canonical unit.
    pub unit: String,
    /// Where the value comes from (publication, fit, assumption).
    #[serde(default)]
    pub source: String,
    /// Free remark.
    #[serde(default)]
    pub note: String,
}

/// One parameter of a model family.
#[derive(Debug, Clone, Copy)]
pub struct ParamSpec {
    /// Parameter name, as in model files.
    pub name: &'static str,
    /// Canonical unit, also the dimension any given unit must have.
    pub unit: &'static str,
    /// Admissible range in the canonical unit (inclusive).
    pub min: f64,
    /// Upper end of the admissible range in the canonical unit (inclusive).
    pub max: f64,
    /// What the parameter means, for messages and docs.
    pub meaning: &'static str,
    /// For a parameter added to a family after model files existed: the
    /// value (canonical unit) that reproduces the earlier law, used when a
    /// file does not give the parameter. Such files (a sealed calibrated
    /// model in a registry, say) keep loading and mean what they meant.
    /// `None`: every file must give it.
    pub absent: Option<f64>,
}

/// A validated parameter set in SI, in the family's order, remembering the
/// file's unit of each parameter so `--set` values can use it.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamSet {
    /// Values in SI, in the family's parameter order.
    pub values_si: Vec<f64>,
    /// Factor from the file's unit to SI, per parameter.
    pub file_factor: Vec<f64>,
    /// The file's unit of each parameter.
    pub file_unit: Vec<String>,
}

/// A validated kinetic model.
#[derive(Debug, Clone, PartialEq)]
pub struct KineticModel {
    /// Model identifier.
    pub id: String,
    /// Kinetic family.
    pub family: String,
    /// Version of the parameter set.
    pub version: String,
    /// Parameter values.
    pub params: ParamSet,
    /// The fit's provenance and parameter covariance, for a calibrated
    /// model file.
    pub calibration: Option<super::calibration::Calibration>,
}

impl KineticModel {
    /// Loads and validates a model file against the parameter table of its
    /// family, looked up with `specs_for(family)`.
    pub fn load(
        path: &Path,
        specs_for: impl Fn(&str) -> Option<&'static [ParamSpec]>,
        families: &[&str],
    ) -> Result<KineticModel, Diagnostics> {
        Self::from_source(SourceFile::read(path)?, specs_for, families)
    }

    /// Validates a model file's text; `label` names it in diagnostics (a
    /// path, or where the text came from, e.g. a registry id).
    pub fn load_text(
        label: &Path,
        text: String,
        specs_for: impl Fn(&str) -> Option<&'static [ParamSpec]>,
        families: &[&str],
    ) -> Result<KineticModel, Diagnostics> {
        Self::from_source(
            SourceFile::from_text(label.to_path_buf(), text),
            specs_for,
            families,
        )
    }

    fn from_source(
        src: SourceFile,
        specs_for: impl Fn(&str) -> Option<&'static [ParamSpec]>,
        families: &[&str],
    ) -> Result<KineticModel, Diagnostics> {
        let file: KineticModelFile = src.parse()?;
        let Some(specs) = specs_for(&file.model.family) else {
            return Err(src
                .diag(
                    "model.family",
                    format!("a known model family ({})", families.join(", ")),
                    format!("`{}`", file.model.family),
                )
                .into());
        };
        let params = validate_params(&file.parameters, specs, &src);
        let calibration = file
            .calibration
            .as_ref()
            .map(|c| super::calibration::validate(c, &file.parameters, specs, &src))
            .transpose();
        let (params, calibration) = match (params, calibration) {
            (Ok(p), Ok(c)) => (p, c),
            (p, c) => {
                let mut d = Diagnostics::new();
                if let Err(e) = p {
                    d.extend(e);
                }
                if let Err(e) = c {
                    d.extend(e);
                }
                return Err(d);
            }
        };
        Ok(KineticModel {
            id: file.model.id,
            family: file.model.family,
            version: file.model.version,
            params,
            calibration,
        })
    }
}

/// Checks presence, units and ranges of every parameter of a family.
pub fn validate_params(
    given: &BTreeMap<String, ParamEntry>,
    specs: &[ParamSpec],
    src: &SourceFile,
) -> Result<ParamSet, Diagnostics> {
    let mut d = Diagnostics::new();
    let mut set = ParamSet {
        values_si: vec![0.0; specs.len()],
        file_factor: vec![1.0; specs.len()],
        file_unit: vec![String::new(); specs.len()],
    };
    for (name, _) in given.iter() {
        if !specs.iter().any(|s| s.name == name) {
            let known: Vec<_> = specs.iter().map(|s| s.name).collect();
            d.push(src.diag(
                &format!("parameters.{name}"),
                format!("a parameter of this family ({})", known.join(", ")),
                format!("unknown parameter `{name}`"),
            ));
        }
    }
    for (i, spec) in specs.iter().enumerate() {
        let field = format!("parameters.{}", spec.name);
        let Some(entry) = given.get(spec.name) else {
            if let Some(v) = spec.absent {
                let factor = Unit::parse(spec.unit).map(|u| u.factor).unwrap_or(1.0);
                set.values_si[i] = v * factor;
                set.file_factor[i] = factor;
                set.file_unit[i] = spec.unit.to_string();
                continue;
            }
            d.push(src.diag(
                "parameters",
                format!(
                    "parameter `{}` ({}, in {})",
                    spec.name, spec.meaning, spec.unit
                ),
                "it missing",
            ));
            continue;
        };
        let si = match to_si(entry.value, &entry.unit, spec.unit) {
            Ok(v) => v,
            Err(e) => {
                d.push(src.diag(
                    &format!("{field}.unit"),
                    format!("a unit of {} such as {}", spec.meaning, spec.unit),
                    e,
                ));
                continue;
            }
        };
        // Range check in the canonical unit for a readable message.
        let canonical_factor = Unit::parse(spec.unit).map(|u| u.factor).unwrap_or(1.0);
        let canonical = si / canonical_factor;
        if !canonical.is_finite() || canonical < spec.min || canonical > spec.max {
            d.push(src.diag(
                &format!("{field}.value"),
                format!(
                    "{} in [{}, {}] {}",
                    spec.name, spec.min, spec.max, spec.unit
                ),
                format!(
                    "{} {} (= {canonical:.6e} {})",
                    entry.value, entry.unit, spec.unit
                ),
            ));
        }
        set.values_si[i] = si;
        set.file_factor[i] = Unit::parse(&entry.unit).map(|u| u.factor).unwrap_or(1.0);
        set.file_unit[i] = entry.unit.clone();
    }
    d.into_result(set)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    const SPECS: &[ParamSpec] = &[
        ParamSpec {
            name: "mu_max",
            unit: "1/h",
            min: 0.0,
            max: 0.2,
            absent: None,
            meaning: "max growth rate",
        },
        ParamSpec {
            name: "k_s",
            unit: "mM",
            min: 0.0,
            max: 100.0,
            absent: None,
            meaning: "Monod constant",
        },
    ];

    fn run(text: &str) -> Result<ParamSet, Diagnostics> {
        let src = SourceFile::from_text(PathBuf::from("m.toml"), text.to_string());
        let f: KineticModelFile = src.parse()?;
        validate_params(&f.parameters, SPECS, &src)
    }

    const HEAD: &str = "[model]\nid='m'\nfamily='x'\nversion='1'\n[parameters]\n";

    #[test]
    fn converts_units_and_keeps_file_factor() {
        let p = run(&format!(
            "{HEAD}mu_max = {{ value = 0.72, unit = '1/d' }}\nk_s = {{ value = 1, unit = 'mM' }}\n"
        ))
        .unwrap();
        assert!((p.values_si[0] - 0.72 / 86400.0).abs() < 1e-18);
        assert!((p.file_factor[0] - 1.0 / 86400.0).abs() < 1e-18);
    }

    #[test]
    fn wrong_unit_missing_unknown_and_out_of_range_are_all_reported() {
        let e = run(&format!(
            "{HEAD}mu_max = {{ value = 0.5, unit = '1/h' }}\nbogus = {{ value = 1, unit = 'mM' }}\n"
        ))
        .unwrap_err();
        assert!(e.mentions("parameters.mu_max.value"), "{e}");
        assert!(e.mentions("parameters.bogus"), "{e}");
        assert!(e.iter().any(|d| d.expected.contains("k_s")), "{e}");
        let e = run(&format!(
            "{HEAD}mu_max = {{ value = 0.03, unit = 'g/L' }}\nk_s = {{ value = 1, unit = 'mM' }}\n"
        ))
        .unwrap_err();
        assert!(e.mentions("parameters.mu_max.unit"), "{e}");
        assert!(e.0[0].found.contains("dimension"), "{e}");
    }
}
