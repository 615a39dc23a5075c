//! Every number in an equipment file must say where it comes from.
//!
//! The `[sources]` table maps a field path (`vessel.tank_diameter_m`,
//! `impellers[1].power_number`) or an enclosing table (`impellers`, `kla`) to a
//! free-text source: a vendor data sheet, a paper, or "assumed" with the
//! reasoning. A number with no source, a source for a field that does not
//! exist, and an empty source are all reported.

use std::collections::BTreeMap;

use crate::definition::source::SourceFile;
use crate::error::Diagnostics;

/// Dotted paths (`a.b[0].c`) of every numeric value in the file outside
/// `[sources]`.
pub fn numeric_field_paths(text: &str) -> Vec<String> {
    numeric_fields(text).into_iter().map(|(p, _)| p).collect()
}

/// Every numeric value in the file outside `[sources]`, with its dotted path.
pub fn numeric_fields(text: &str) -> Vec<(String, f64)> {
    let Ok(table) = toml::from_str::<toml::Table>(text) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (k, v) in &table {
        if k != "sources" {
            walk(v, k.clone(), &mut out);
        }
    }
    out
}

/// True when a source text marks its number as assumed (the word
/// "assumed", any case), the convention of the equipment, model and
/// specification files.
pub fn marks_assumed(source: &str) -> bool {
    source.to_ascii_lowercase().contains("assumed")
}

/// [`marks_assumed`] for one field of a table-wide source: a text that says
/// only that the *range* is assumed ("van 't Riet (1979) constants ...;
/// validity range assumed") marks the range bounds (a last path segment
/// with `min` or `max`), not the constants.
fn marks_field_assumed(source: &str, field: &str) -> bool {
    let lower = source.to_ascii_lowercase();
    if !lower.contains("assumed") {
        return false;
    }
    if lower.matches("assumed").count() == 1 && lower.contains("range assumed") {
        let last = field.rsplit('.').next().unwrap_or(field);
        return last.contains("min") || last.contains("max");
    }
    true
}

/// A number of an equipment file whose source marks it assumed.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SourcedNumber {
    /// Dotted field path, e.g. `vessel.bottom_depth_m`, `impellers[0].power_number`.
    pub field: String,
    /// Its value, in the unit of the field.
    pub value: f64,
    /// The `[sources]` text that covers it (the most specific entry).
    pub source: String,
}

/// The numbers of an equipment file (its text and `[sources]` table) whose
/// most specific covering source marks them assumed ([`marks_assumed`]).
pub fn assumed_numbers(text: &str, sources: &BTreeMap<String, String>) -> Vec<SourcedNumber> {
    numeric_fields(text)
        .into_iter()
        .filter_map(|(field, value)| {
            let (_, source) = sources
                .iter()
                .filter(|(k, _)| covers(k, &field))
                .max_by_key(|(k, _)| k.len())?;
            marks_field_assumed(source, &field).then(|| SourcedNumber {
                field,
                value,
                source: source.clone(),
            })
        })
        .collect()
}

/// Every field path in the file (tables included), for checking source keys.
fn all_field_paths(text: &str) -> Vec<String> {
    fn walk_all(v: &toml::Value, path: String, out: &mut Vec<String>) {
        out.push(path.clone());
        match v {
            toml::Value::Table(t) => {
                for (k, v) in t {
                    walk_all(v, format!("{path}.{k}"), out);
                }
            }
            toml::Value::Array(a) => {
                for (i, v) in a.iter().enumerate() {
                    walk_all(v, format!("{path}[{i}]"), out);
                }
            }
            _ => {}
        }
    }
    let Ok(table) = toml::from_str::<toml::Table>(text) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (k, v) in &table {
        if k != "sources" {
            walk_all(v, k.clone(), &mut out);
        }
    }
    out
}

fn walk(v: &toml::Value, path: String, out: &mut Vec<(String, f64)>) {
    match v {
        toml::Value::Integer(i) => out.push((path, *i as f64)),
        toml::Value::Float(x) => out.push((path, *x)),
        toml::Value::Table(t) => {
            for (k, v) in t {
                walk(v, format!("{path}.{k}"), out);
            }
        }
        toml::Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                walk(v, format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// True when `key` names `path` itself or a table or array element enclosing it.
fn covers(key: &str, path: &str) -> bool {
    path == key
        || path
            .strip_prefix(key)
            .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
}

/// Line of a `[sources]` entry, found by its quoted or bare key.
fn line_of_source_key(src: &SourceFile, key: &str) -> Option<usize> {
    let quoted = format!("\"{key}\"");
    let mut in_sources = false;
    for (i, line) in src.text.lines().enumerate() {
        let t = line.trim_start();
        if t.starts_with('[') {
            in_sources = t.starts_with("[sources]");
            continue;
        }
        if in_sources
            && (t.starts_with(&quoted)
                || t.starts_with(&format!("{key} "))
                || t.starts_with(&format!("{key}=")))
        {
            return Some(i + 1);
        }
    }
    src.line_of("sources")
}

/// Checks that every number has a source and every source names a field.
pub fn check_sources(
    src: &SourceFile,
    sources: &BTreeMap<String, String>,
    diags: &mut Diagnostics,
) {
    for path in numeric_field_paths(&src.text) {
        if !sources.keys().any(|k| covers(k, &path)) {
            diags.push(src.diag(
                &path,
                "a source for this number in [sources] (vendor data sheet, paper, or \"assumed: why\")",
                format!("no entry for `{path}` or an enclosing table"),
            ));
        }
    }
    let fields = all_field_paths(&src.text);
    for (key, text) in sources {
        let line = line_of_source_key(src, key);
        if !fields.iter().any(|f| f == key) {
            diags.push(
                src.diag(
                    "sources",
                    "a key naming a field or table of this file (e.g. \"vessel.tank_diameter_m\", \"impellers\")",
                    format!("`{key}`, which is not a field of this file"),
                )
                .at_line(line),
            );
        }
        if text.trim().is_empty() {
            diags.push(
                src.diag(
                    "sources",
                    "a non-empty source text (data sheet, paper, or \"assumed: why\")",
                    format!("an empty source for `{key}`"),
                )
                .at_line(line),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn assumed_numbers_follow_the_most_specific_source() {
        use super::{BTreeMap, assumed_numbers};
        let text = "[vessel]\nd_m = 1.2\nh_m = 1.8\n[kla]\na = 93.6\np_max = 150\n[sources]\n\"vessel\" = \"assumed: typical\"\n\"vessel.h_m\" = \"vendor data sheet\"\n\"kla\" = \"van 't Riet 1979; validity range assumed\"\n";
        let sources: BTreeMap<String, String> =
            toml::from_str::<toml::Table>(text).unwrap()["sources"]
                .as_table()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect();
        let got: Vec<(String, f64)> = assumed_numbers(text, &sources)
            .into_iter()
            .map(|n| (n.field, n.value))
            .collect();
        assert_eq!(
            got,
            vec![
                ("kla.p_max".to_string(), 150.0),
                ("vessel.d_m".to_string(), 1.2)
            ]
        );
    }

    use super::*;

    #[test]
    fn lists_numeric_paths_including_array_elements() {
        let text = "id = \"x\"\n[vessel]\nt = 1.0\n[[impellers]]\nd = 2\n[[impellers]]\nd = 3\n[sources]\n\"vessel.t\" = \"a\"\n";
        let p = numeric_field_paths(text);
        assert_eq!(p, vec!["impellers[0].d", "impellers[1].d", "vessel.t"]);
    }

    #[test]
    fn coverage_by_enclosing_table() {
        assert!(covers("impellers", "impellers[0].d"));
        assert!(covers("impellers[0]", "impellers[0].d"));
        assert!(!covers("impellers[0]", "impellers[1].d"));
        assert!(!covers("vessel.t", "vessel.tank"));
    }
}
