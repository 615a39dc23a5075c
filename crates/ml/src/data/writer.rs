//! Writing batch records as a dataset directory in the documented format
//! (manifest, tag map, one long export per batch), e.g. for data generated
//! by a simulator. Loading what was written gives the same records and the
//! same content hash whenever every time is exactly representable as
//! start + offset (whole seconds, or binary fractions such as 0.5 s).
//!
//! Values are written in SI: the tag map written has one tag per variable,
//! named after it, in the variable's SI unit. Every file is written
//! atomically.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use serde::Serialize;

use super::batch::BatchRecord;
use super::dataset::MANIFEST_FILE;
use super::tag_map::{SignalKind, TagMap};
use super::timestamp::format_rfc3339;
use crate::error::Error;
use biotwin_core::output::atomic::write_atomic;

/// Name of the tag map the writer produces.
pub const TAG_MAP_FILE: &str = "tags.toml";

#[derive(Serialize)]
struct ManifestOut<'a> {
    name: &'a str,
    description: &'a str,
    tag_map: &'a str,
    batches: Vec<BatchOut<'a>>,
}

#[derive(Serialize)]
struct BatchOut<'a> {
    id: &'a str,
    equipment: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    working_volume_m3: Option<f64>,
    recipe: &'a str,
    start: String,
    end: String,
    material_lots: &'a BTreeMap<String, String>,
    files: Vec<FileOut>,
    parameters: BTreeMap<&'a str, QuantityOut<'a>>,
    cqas: BTreeMap<&'a str, QuantityOut<'a>>,
}

#[derive(Serialize)]
struct FileOut {
    path: String,
    format: &'static str,
}

#[derive(Serialize)]
struct QuantityOut<'a> {
    value: f64,
    unit: &'a str,
}

#[derive(Serialize)]
struct TagMapOut<'a> {
    variables: BTreeMap<&'a str, VariableOut<'a>>,
    tags: BTreeMap<&'a str, TagOut<'a>>,
}

#[derive(Serialize)]
struct VariableOut<'a> {
    si_unit: &'a str,
    description: &'a str,
}

#[derive(Serialize)]
struct TagOut<'a> {
    variable: &'a str,
    unit: &'a str,
    kind: &'static str,
}

/// A file-name-safe form of a batch id.
fn file_stem(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Writes `batches` (whose variables are those of `tags`) as a dataset in
/// `dir` (created if missing): `dataset.toml`, `tags.toml` and
/// `batches/<id>.csv[.gz]`.
pub fn write_dataset(
    dir: &Path,
    name: &str,
    description: &str,
    tags: &TagMap,
    batches: &[BatchRecord],
    gzip: bool,
) -> Result<(), Error> {
    let batch_dir = dir.join("batches");
    std::fs::create_dir_all(&batch_dir).map_err(|e| Error::io(&batch_dir, e))?;
    // One kind per variable across the dataset (the tag is named after it).
    let mut kinds: BTreeMap<&str, SignalKind> = BTreeMap::new();
    for b in batches {
        let scalars = b.meta.parameters.keys().chain(b.meta.cqas.keys());
        if let Some(v) = scalars
            .into_iter()
            .find(|v| !tags.variables.contains_key(*v))
        {
            return Err(Error::in_dataset(
                dir.join(TAG_MAP_FILE),
                format!("variables.{v}"),
                "every parameter and CQA of the batches declared in the tag map",
                format!("`{v}` in batch {} is not declared", b.id()),
            ));
        }
        let series = b.online.keys().map(|v| (v, SignalKind::Online));
        let labs = b.offline.keys().map(|v| (v, SignalKind::Offline));
        for (v, k) in series.chain(labs) {
            if !tags.variables.contains_key(v) {
                return Err(Error::in_dataset(
                    dir.join(TAG_MAP_FILE),
                    format!("variables.{v}"),
                    "every variable of the batches declared in the tag map",
                    format!("`{v}` in batch {} is not declared", b.id()),
                ));
            }
            if *kinds.entry(v.as_str()).or_insert(k) != k {
                return Err(Error::in_dataset(
                    dir.join(TAG_MAP_FILE),
                    format!("tags.{v}.kind"),
                    "a variable online in every batch or offline in every batch",
                    format!("`{v}` both online and offline"),
                ));
            }
        }
    }
    let tag_map = TagMapOut {
        variables: tags
            .variables
            .values()
            .map(|v| {
                (
                    v.name.as_str(),
                    VariableOut {
                        si_unit: &v.si_unit,
                        description: &v.description,
                    },
                )
            })
            .collect(),
        tags: kinds
            .iter()
            .map(|(v, k)| {
                (
                    *v,
                    TagOut {
                        variable: v,
                        unit: &tags.variables[*v].si_unit,
                        kind: match k {
                            SignalKind::Online => "online",
                            SignalKind::Offline => "offline",
                        },
                    },
                )
            })
            .collect(),
    };
    let text = toml::to_string(&tag_map).map_err(|e| Error::io(dir.join(TAG_MAP_FILE), e))?;
    write_atomic(&dir.join(TAG_MAP_FILE), text.as_bytes())?;

    let mut used_stems = BTreeMap::new();
    let mut out_batches = Vec::new();
    for b in batches {
        let mut stem = file_stem(b.id());
        let count = used_stems.entry(stem.clone()).or_insert(0usize);
        *count += 1;
        if *count > 1 {
            stem = format!("{stem}_{count}");
        }
        let rel = format!("batches/{stem}.csv{}", if gzip { ".gz" } else { "" });
        write_batch_csv(&dir.join(&rel), b, gzip)?;
        out_batches.push(BatchOut {
            id: b.id(),
            equipment: &b.meta.equipment,
            working_volume_m3: b.meta.working_volume_m3,
            recipe: &b.meta.recipe,
            start: format_rfc3339(b.meta.start_unix_s),
            end: format_rfc3339(b.meta.end_unix_s),
            material_lots: &b.meta.material_lots,
            files: vec![FileOut {
                path: rel,
                format: "long",
            }],
            parameters: in_si(tags, &b.meta.parameters),
            cqas: in_si(tags, &b.meta.cqas),
        });
    }
    let manifest = ManifestOut {
        name,
        description,
        tag_map: TAG_MAP_FILE,
        batches: out_batches,
    };
    let text = toml::to_string(&manifest).map_err(|e| Error::io(dir.join(MANIFEST_FILE), e))?;
    Ok(write_atomic(&dir.join(MANIFEST_FILE), text.as_bytes())?)
}

/// Named SI values with their variables' SI units.
fn in_si<'a>(tags: &'a TagMap, m: &'a BTreeMap<String, f64>) -> BTreeMap<&'a str, QuantityOut<'a>> {
    m.iter()
        .map(|(k, v)| {
            let unit = tags
                .variables
                .get(k)
                .map(|x| x.si_unit.as_str())
                .unwrap_or("1");
            (k.as_str(), QuantityOut { value: *v, unit })
        })
        .collect()
}

/// One batch as a long export `timestamp,tag,value,result_timestamp`.
fn write_batch_csv(path: &Path, b: &BatchRecord, gzip: bool) -> Result<(), Error> {
    let start = b.meta.start_unix_s;
    let mut w = csv::Writer::from_writer(Vec::new());
    let io = |e: csv::Error| Error::io(path, e);
    w.write_record(["timestamp", "tag", "value", "result_timestamp"])
        .map_err(io)?;
    for (v, ts) in &b.online {
        for (t, x) in ts.time_s.iter().zip(&ts.value) {
            w.write_record([
                format_rfc3339(start + t),
                v.clone(),
                x.to_string(),
                String::new(),
            ])
            .map_err(io)?;
        }
    }
    for (v, samples) in &b.offline {
        for s in samples {
            let result = s
                .result_time_s
                .map(|r| format_rfc3339(start + r))
                .unwrap_or_default();
            w.write_record([
                format_rfc3339(start + s.sample_time_s),
                v.clone(),
                s.value.to_string(),
                result,
            ])
            .map_err(io)?;
        }
    }
    let bytes = w.into_inner().map_err(|e| Error::io(path, e))?;
    let bytes = if gzip {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&bytes).map_err(|e| Error::io(path, e))?;
        gz.finish().map_err(|e| Error::io(path, e))?
    } else {
        bytes
    };
    Ok(write_atomic(path, &bytes)?)
}
