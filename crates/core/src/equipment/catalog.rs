//! Finding equipment files: a catalog id or a path.

use std::path::{Path, PathBuf};

use crate::error::Diagnostic;

/// Reads only `id` and `name` of a candidate file (no validation, so that a
/// broken file still shows up in listings and is reported when loaded).
fn id_and_name(path: &Path) -> Option<(Option<String>, Option<String>)> {
    let text = std::fs::read_to_string(path).ok()?;
    let table = toml::from_str::<toml::Table>(&text).ok()?;
    let get = |k: &str| table.get(k).and_then(|v| v.as_str()).map(str::to_string);
    Some((get("id"), get("name")))
}

fn toml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "toml"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

fn looks_like_path(reference: &str) -> bool {
    reference.contains('/') || reference.contains('\\') || reference.ends_with(".toml")
}

/// A catalog id (file stem or `id` inside a file of `catalog_dir`) or a path
/// (relative to `relative_to_dir`). The diagnostic names the reference and the
/// known ids; callers replace its file/line/field with the referring field's.
pub fn resolve_equipment(
    reference: &str,
    relative_to_dir: &Path,
    catalog_dir: &Path,
) -> Result<PathBuf, Diagnostic> {
    let reference = reference.trim();
    if looks_like_path(reference) {
        let path = relative_to_dir.join(reference);
        if path.is_file() {
            return Ok(path);
        }
        return Err(Diagnostic::new(
            relative_to_dir,
            "equipment",
            "an existing equipment file (path relative to the referring file) or a catalog id",
            format!("`{reference}`: no such file ({})", path.display()),
        ));
    }
    let by_stem = catalog_dir.join(format!("{reference}.toml"));
    if by_stem.is_file() {
        return Ok(by_stem);
    }
    for file in toml_files(catalog_dir) {
        if let Some((Some(id), _)) = id_and_name(&file)
            && id == reference
        {
            return Ok(file);
        }
    }
    let known: Vec<String> = list_catalog(catalog_dir)
        .into_iter()
        .map(|(id, _, _)| id)
        .collect();
    Err(Diagnostic::new(
        relative_to_dir,
        "equipment",
        if known.is_empty() {
            format!(
                "a path to an equipment file (the catalog {} has no entries)",
                catalog_dir.display()
            )
        } else {
            format!(
                "a catalog id (one of: {}) or a path to an equipment file",
                known.join(", ")
            )
        },
        format!("`{reference}`"),
    ))
}

/// Every `*.toml` file of the catalog as (id, name, path), sorted by id. A file
/// that is not valid TOML is listed under its file stem with a note as name.
pub fn list_catalog(catalog_dir: &Path) -> Vec<(String, String, PathBuf)> {
    let mut out: Vec<(String, String, PathBuf)> = toml_files(catalog_dir)
        .into_iter()
        .map(|path| {
            let stem = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            match id_and_name(&path) {
                Some((id, name)) => (
                    id.unwrap_or(stem),
                    name.unwrap_or_else(|| "(no name)".to_string()),
                    path,
                ),
                None => (stem, "(not a valid TOML file)".to_string(), path),
            }
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}
