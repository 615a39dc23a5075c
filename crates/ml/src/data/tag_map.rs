//! The tag-to-variable mapping file (`tags.toml`) of a dataset.
//!
//! Historians name signals by tag (`BR01.PH`, `FIC-101.PV`); models name them by
//! quantity (`ph`, `penicillin`). The map declares each *variable* once with its
//! SI unit, then each *tag* with the variable it measures, the unit the export
//! writes it in, and whether it is an online signal or an offline lab result:
//!
//! ```toml
//! [variables.penicillin]
//! si_unit = "kg/m3"
//! description = "penicillin concentration"
//!
//! [tags."BR01.OFFLINE_PENICILLIN"]
//! variable = "penicillin"
//! unit = "g/L"
//! kind = "offline"
//! ```
//!
//! A tag whose unit has another dimension than its variable's SI unit is a
//! "wrong unit" diagnostic, so a pressure exported in `mmHg` for a variable
//! declared in `kg/m3` is caught before any number is used. Variables are also
//! the vocabulary of per-batch scalar parameters and CQAs in the manifest.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use biotwin_core::definition::source::SourceFile;
use biotwin_core::error::Diagnostics;
use biotwin_core::units::{Unit, temperature_to_kelvin};

#[derive(Debug, Clone, Deserialize)]
struct TagMapFile {
    variables: BTreeMap<String, VariableEntry>,
    #[serde(default)]
    tags: BTreeMap<String, TagEntry>,
}

#[derive(Debug, Clone, Deserialize)]
struct VariableEntry {
    si_unit: String,
    #[serde(default)]
    description: String,
}

#[derive(Debug, Clone, Deserialize)]
struct TagEntry {
    variable: String,
    unit: String,
    kind: SignalKind,
    #[serde(default)]
    description: String,
}

/// Whether a tag is sampled by an online sensor or measured offline in a lab.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SignalKind {
    /// Sampled by an online sensor (a time series).
    Online,
    /// Measured offline in a lab (sampled, with a later result).
    Offline,
}

/// A quantity the dataset knows, with the SI unit its values are stored in.
#[derive(Debug, Clone, PartialEq)]
pub struct Variable {
    /// Variable name (what batch records and models call it).
    pub name: String,
    /// SI unit its values are stored in (e.g. `kg/m3`).
    pub si_unit: String,
    /// Free description (may be empty).
    pub description: String,
}

/// Affine map from an exported value to SI: `si = raw * factor + offset`.
/// The offset is non-zero only for temperatures given in degrees Celsius.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Conversion {
    /// Multiplier from the exported unit to SI.
    pub factor: f64,
    /// Additive offset, in the SI unit (non-zero for °C → K).
    pub offset: f64,
}

impl Conversion {
    /// `raw` (exported unit) in SI: `raw * factor + offset`.
    pub fn apply(&self, raw: f64) -> f64 {
        raw * self.factor + self.offset
    }
}

/// One historian tag and how to turn its values into a variable.
#[derive(Debug, Clone, PartialEq)]
pub struct Tag {
    /// Tag name as the export writes it.
    pub name: String,
    /// The variable it measures.
    pub variable: String,
    /// Unit the export writes its values in.
    pub unit: String,
    /// Online sensor or offline lab value.
    pub kind: SignalKind,
    /// Free description (may be empty).
    pub description: String,
    /// Conversion from `unit` to the variable's SI unit.
    pub to_si: Conversion,
}

/// A validated tag map.
#[derive(Debug, Clone, PartialEq)]
pub struct TagMap {
    /// Variables by name.
    pub variables: BTreeMap<String, Variable>,
    /// Tags by name.
    pub tags: BTreeMap<String, Tag>,
}

impl TagMap {
    /// Reads and validates `path`; every problem is reported with its line.
    pub fn read(path: impl AsRef<Path>) -> Result<TagMap, Diagnostics> {
        let src = SourceFile::read(path)?;
        let file: TagMapFile = src.parse()?;
        let mut diags = Diagnostics::new();
        let mut variables = BTreeMap::new();
        for (name, v) in &file.variables {
            match Unit::parse(&v.si_unit) {
                Ok(u) if (u.factor - 1.0).abs() < 1e-12 => {}
                Ok(_) => diags.push(diag_in(
                    &src,
                    "variables",
                    name,
                    "si_unit",
                    "an SI unit (factor 1, e.g. kg/m3, Pa, K, m3/s)",
                    format!("`{}`", v.si_unit),
                )),
                Err(e) => diags.push(diag_in(&src, "variables", name, "si_unit", "a unit", e)),
            }
            variables.insert(
                name.clone(),
                Variable {
                    name: name.clone(),
                    si_unit: v.si_unit.clone(),
                    description: v.description.clone(),
                },
            );
        }
        let mut tags = BTreeMap::new();
        for (name, t) in &file.tags {
            let Some(var) = variables.get(&t.variable) else {
                diags.push(diag_in(
                    &src,
                    "tags",
                    name,
                    "variable",
                    "a variable declared under [variables]",
                    format!("`{}`", t.variable),
                ));
                continue;
            };
            match conversion(&t.unit, &var.si_unit) {
                Ok(to_si) => {
                    tags.insert(
                        name.clone(),
                        Tag {
                            name: name.clone(),
                            variable: t.variable.clone(),
                            unit: t.unit.clone(),
                            kind: t.kind,
                            description: t.description.clone(),
                            to_si,
                        },
                    );
                }
                Err(e) => diags.push(diag_in(
                    &src,
                    "tags",
                    name,
                    "unit",
                    format!(
                        "a unit convertible to `{}` (the SI unit of `{}`)",
                        var.si_unit, t.variable
                    ),
                    e.to_string(),
                )),
            }
        }
        diags.into_result(TagMap { variables, tags })
    }
}

/// Why a unit cannot be converted to a variable's SI unit ([`conversion`]);
/// the text is a diagnostic's `found` half.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConversionError {
    /// The variable's SI unit or the export's temperature unit is not one
    /// biotwin knows (the unit parser's message).
    #[error("{0}")]
    Unknown(String),
    /// The export's unit is not one biotwin knows.
    #[error("{message} in `{unit}`")]
    Unit {
        /// The export's unit.
        unit: String,
        /// The unit parser's message.
        message: String,
    },
    /// The units are of different dimensions.
    #[error("`{unit}` of dimension [{found}], but `{si_unit}` is [{expected}]")]
    Dimension {
        /// The export's unit.
        unit: String,
        /// Its dimension.
        found: String,
        /// The variable's SI unit.
        si_unit: String,
        /// Its dimension.
        expected: String,
    },
}

/// The conversion from `unit` to the variable's `si_unit`, or why there is none.
pub fn conversion(unit: &str, si_unit: &str) -> Result<Conversion, ConversionError> {
    if si_unit.trim() == "K" {
        let offset =
            temperature_to_kelvin(0.0, unit).map_err(|r| ConversionError::Unknown(r.into()))?;
        return Ok(Conversion {
            factor: 1.0,
            offset,
        });
    }
    let want = Unit::parse(si_unit).map_err(|r| ConversionError::Unknown(r.into()))?;
    let got = Unit::parse(unit).map_err(|message| ConversionError::Unit {
        unit: unit.to_string(),
        message: message.into(),
    })?;
    if got.dim != want.dim {
        return Err(ConversionError::Dimension {
            unit: unit.to_string(),
            found: got.dim.to_string(),
            si_unit: si_unit.to_string(),
            expected: want.dim.to_string(),
        });
    }
    Ok(Conversion {
        factor: got.factor / want.factor,
        offset: 0.0,
    })
}

/// A diagnostic for `field` inside the table of a (possibly quoted) key.
/// `SourceFile::line_of` splits paths on dots, which tag names contain, so the
/// line is found from the text: the key's first occurrence, then the field's.
fn diag_in(
    src: &SourceFile,
    table: &str,
    key: &str,
    field: &str,
    expected: impl Into<String>,
    found: impl Into<String>,
) -> biotwin_core::error::Diagnostic {
    let path = format!("{table}.{}.{field}", quote_key(key));
    let line = src.text.find(&quote_key(key)).map(|at| {
        let after = src.text[at..]
            .find(&format!("{field} "))
            .or_else(|| src.text[at..].find(&format!("{field}=")))
            .map(|o| at + o)
            .unwrap_or(at);
        src.line_of_offset(after)
    });
    biotwin_core::error::Diagnostic::new(&src.path, path, expected, found).at_line(line)
}

/// Tag names contain dots, so they are quoted in field paths (`tags."BR01.PH"`).
pub(crate) fn quote_key(key: &str) -> String {
    if key
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        key.to_string()
    } else {
        format!("\"{key}\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_units_and_celsius() {
        let c = conversion("g/L", "kg/m3").unwrap();
        assert!((c.apply(2.5) - 2.5).abs() < 1e-15);
        let c = conversion("mg/L", "kg/m3").unwrap();
        assert!((c.apply(1200.0) - 1.2).abs() < 1e-12);
        let c = conversion("C", "K").unwrap();
        assert!((c.apply(37.0) - 310.15).abs() < 1e-12);
        assert!(conversion("mmHg", "kg/m3").is_err());
    }
}
