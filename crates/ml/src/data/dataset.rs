//! Loading a whole dataset directory: manifest, tag map, every batch's files,
//! converted to SI and checked against each batch's time window.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::batch::{BatchRecord, LabSample, TimeSeries};
use super::content_hash::content_hash;
use super::csv_source::Positions;
use super::long_format::read_long;
use super::manifest::{BatchMeta, FileFormat, Manifest};
use super::raw::RawSample;
use super::tag_map::{SignalKind, TagMap};
use super::wide_format::read_wide;
use biotwin_core::error::{Diagnostic, Diagnostics};

/// Name of the manifest inside a dataset directory.
pub const MANIFEST_FILE: &str = "dataset.toml";

/// Timestamps may sit this close outside the batch window (seconds): exports
/// round instants to the millisecond.
const WINDOW_SLACK_S: f64 = 1e-3;

/// A loaded dataset.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// The dataset's directory (where `dataset.toml` is).
    pub dir: PathBuf,
    /// Dataset name (manifest `name`).
    pub name: String,
    /// Free description (manifest `description`; may be empty).
    pub description: String,
    /// The validated tag map: variables with their SI units, tags with their
    /// conversions.
    pub tag_map: TagMap,
    /// In manifest order.
    pub batches: Vec<BatchRecord>,
    /// sha256 of the canonical content (see [`content_hash`]), hex.
    pub content_hash: String,
}

impl Dataset {
    /// Loads `path`, a dataset directory or its `dataset.toml`. Every problem
    /// in every file is reported.
    pub fn load(path: impl AsRef<Path>) -> Result<Dataset, Diagnostics> {
        let path = path.as_ref();
        let manifest_path = if path.is_dir() {
            path.join(MANIFEST_FILE)
        } else {
            path.to_path_buf()
        };
        let (manifest, tag_map) = Manifest::read(&manifest_path)?;
        let results: Vec<Result<BatchRecord, Diagnostics>> = manifest
            .batches
            .par_iter()
            .map(|meta| load_batch(meta, &tag_map))
            .collect();
        let mut diags = Diagnostics::new();
        let mut batches = Vec::new();
        for r in results {
            match r {
                Ok(b) => batches.push(b),
                Err(d) => diags.extend(d),
            }
        }
        if !diags.is_empty() {
            return Err(diags);
        }
        let content_hash = content_hash(&tag_map, &batches);
        Ok(Dataset {
            dir: manifest_path
                .parent()
                .unwrap_or(Path::new("."))
                .to_path_buf(),
            name: manifest.name,
            description: manifest.description,
            tag_map,
            batches,
            content_hash,
        })
    }

    /// The batch with id `id`, if the dataset has it.
    pub fn batch(&self, id: &str) -> Option<&BatchRecord> {
        self.batches.iter().find(|b| b.id() == id)
    }

    /// Batch ids in manifest order.
    pub fn batch_ids(&self) -> Vec<String> {
        self.batches.iter().map(|b| b.id().to_string()).collect()
    }
}

/// Reads one batch's files and builds its record.
pub fn load_batch(meta: &BatchMeta, tags: &TagMap) -> Result<BatchRecord, Diagnostics> {
    let mut diags = Diagnostics::new();
    let mut raw: Vec<(usize, RawSample)> = Vec::new();
    for (k, (path, format)) in meta.files.iter().enumerate() {
        let r = match format {
            FileFormat::Long => read_long(path, tags),
            FileFormat::Wide => read_wide(path, tags, meta.start_unix_s),
        };
        match r {
            Ok(samples) => raw.extend(samples.into_iter().map(|s| (k, s))),
            Err(d) => diags.extend(d),
        }
    }
    if !diags.is_empty() {
        return Err(diags);
    }
    // CSV lines or Parquet rows, to place the problems found below.
    let positions: Vec<Positions> = meta.files.iter().map(|(p, _)| Positions::of(p)).collect();
    // Group by variable; keep file and line for the checks below.
    struct Point {
        t: f64,
        result: Option<f64>,
        v: f64,
        file: usize,
        line: usize,
        tag: String,
    }
    let mut by_var: BTreeMap<String, (SignalKind, Vec<Point>)> = BTreeMap::new();
    for (file, s) in raw {
        let Some(tag) = tags.tags.get(&s.tag) else {
            continue; // readers only return known tags
        };
        let diag = |expected: String, found: String| {
            let d = Diagnostic::new(&meta.files[file].0, "timestamp", expected, found);
            positions[file].place(d, Some(s.line))
        };
        if s.time_unix_s < meta.start_unix_s - WINDOW_SLACK_S
            || s.time_unix_s > meta.end_unix_s + WINDOW_SLACK_S
        {
            if diags.len() < super::csv_source::MAX_DIAGNOSTICS_PER_FILE {
                diags.push(diag(
                    format!(
                        "a time within batch {}'s window (manifest start..end)",
                        meta.id
                    ),
                    format!(
                        "{:.3} h from the batch start",
                        (s.time_unix_s - meta.start_unix_s) / 3600.0
                    ),
                ));
            }
            continue;
        }
        let entry = by_var
            .entry(tag.variable.clone())
            .or_insert_with(|| (tag.kind, Vec::new()));
        if entry.0 != tag.kind {
            let d = Diagnostic::new(
                &meta.files[file].0,
                "tag",
                format!(
                    "tags of variable `{}` all online or all offline",
                    tag.variable
                ),
                format!("`{}` is {:?}", s.tag, tag.kind),
            );
            diags.push(positions[file].place(d, Some(s.line)));
            continue;
        }
        entry.1.push(Point {
            t: s.time_unix_s - meta.start_unix_s,
            result: s.result_unix_s.map(|r| r - meta.start_unix_s),
            v: tag.to_si.apply(s.value),
            file,
            line: s.line,
            tag: s.tag.clone(),
        });
    }
    let mut online = BTreeMap::new();
    let mut offline = BTreeMap::new();
    for (var, (kind, mut pts)) in by_var {
        pts.sort_by(|a, b| a.t.total_cmp(&b.t));
        // Two values at one instant make the series ambiguous.
        for w in pts.windows(2) {
            if w[1].t == w[0].t && diags.len() < super::csv_source::MAX_DIAGNOSTICS_PER_FILE {
                let first = match positions[w[0].file] {
                    Positions::Lines => format!("line {}", w[0].line),
                    Positions::Rows => format!("row {}", w[0].line),
                };
                let d = Diagnostic::new(
                    &meta.files[w[1].file].0,
                    "timestamp",
                    format!(
                        "one value of `{var}` per instant (already given by `{}` at {first})",
                        w[0].tag
                    ),
                    format!("a second value at {:.3} h", w[1].t / 3600.0),
                );
                diags.push(positions[w[1].file].place(d, Some(w[1].line)));
            }
        }
        match kind {
            SignalKind::Online => {
                online.insert(
                    var,
                    TimeSeries {
                        time_s: pts.iter().map(|p| p.t).collect(),
                        value: pts.iter().map(|p| p.v).collect(),
                    },
                );
            }
            SignalKind::Offline => {
                offline.insert(
                    var,
                    pts.iter()
                        .map(|p| LabSample {
                            sample_time_s: p.t,
                            result_time_s: p.result,
                            value: p.v,
                        })
                        .collect::<Vec<_>>(),
                );
            }
        }
    }
    diags.into_result(BatchRecord {
        meta: meta.clone(),
        online,
        offline,
    })
}
