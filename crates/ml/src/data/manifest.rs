//! The dataset manifest (`dataset.toml`): which batches exist, what is known
//! about each (equipment, scale, recipe, material lots, time window, scalar
//! process parameters, end-of-batch CQAs) and which files hold its time series.
//!
//! ```toml
//! name = "indpensim"
//! tag_map = "tags.toml"
//!
//! [[batches]]
//! id = "B01"
//! equipment = "IndPenSim 100 m3 stirred fermenter"
//! working_volume_m3 = 100.0
//! recipe = "default"
//! start = "2024-01-01T00:00:00Z"
//! end = "2024-01-10T14:00:00Z"
//! material_lots = { seed = "PC-2024-001" }
//! files = [{ path = "batches/B01_historian.csv.gz", format = "long" }]
//! parameters = { sugar_feed_scale = { value = 1.0, unit = "-" } }
//! cqas = { final_penicillin = { value = 29.06, unit = "g/L" } }
//! ```
//!
//! Parameters and CQAs name variables of the tag map, so their units are
//! checked and converted to SI like every time series.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::tag_map::{TagMap, conversion};
use super::timestamp::parse_rfc3339;
use biotwin_core::definition::source::SourceFile;
use biotwin_core::error::Diagnostics;

#[derive(Debug, Clone, Deserialize)]
struct ManifestFile {
    name: String,
    #[serde(default)]
    description: String,
    tag_map: String,
    batches: Vec<BatchEntry>,
}

#[derive(Debug, Clone, Deserialize)]
struct BatchEntry {
    id: String,
    equipment: String,
    #[serde(default)]
    working_volume_m3: Option<f64>,
    recipe: String,
    start: String,
    end: String,
    #[serde(default)]
    material_lots: BTreeMap<String, String>,
    files: Vec<FileEntry>,
    #[serde(default)]
    parameters: BTreeMap<String, Quantity>,
    #[serde(default)]
    cqas: BTreeMap<String, Quantity>,
}

#[derive(Debug, Clone, Deserialize)]
struct FileEntry {
    path: String,
    format: FileFormat,
}

#[derive(Debug, Clone, Deserialize)]
struct Quantity {
    value: f64,
    unit: String,
}

/// Layout of a time-series file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    /// One row per sample: `timestamp,tag,value[,quality][,result_timestamp]`.
    Long,
    /// One row per time, one column per tag; the first column is the time.
    Wide,
}

/// What the manifest says about one batch, validated, times in Unix seconds
/// and quantities in SI.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchMeta {
    /// Batch id, unique within the dataset.
    pub id: String,
    /// Equipment the batch ran in (free text).
    pub equipment: String,
    /// Working volume, m³, when the manifest gives it.
    pub working_volume_m3: Option<f64>,
    /// Recipe name (free text).
    pub recipe: String,
    /// Material lots by material (`seed = "PC-2024-001"`).
    pub material_lots: BTreeMap<String, String>,
    /// Batch start, Unix seconds (UTC).
    pub start_unix_s: f64,
    /// Batch end, Unix seconds (UTC), after the start.
    pub end_unix_s: f64,
    /// Scalar process parameters (recipe factors, set-points), SI.
    pub parameters: BTreeMap<String, f64>,
    /// End-of-batch critical quality attributes, SI.
    pub cqas: BTreeMap<String, f64>,
    /// Time-series files, resolved against the dataset directory.
    pub files: Vec<(PathBuf, FileFormat)>,
}

impl BatchMeta {
    /// Batch duration, s.
    pub fn duration_s(&self) -> f64 {
        self.end_unix_s - self.start_unix_s
    }
}

/// A validated manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The manifest file read.
    pub path: PathBuf,
    /// Dataset name.
    pub name: String,
    /// Free description (may be empty).
    pub description: String,
    /// The tag map file (resolved against the dataset directory).
    pub tag_map_path: PathBuf,
    /// Batches in manifest order.
    pub batches: Vec<BatchMeta>,
}

impl Manifest {
    /// Reads `dataset.toml` and the tag map it names, checking every batch
    /// entry against the tag map. All problems of both files are reported.
    pub fn read(path: impl AsRef<Path>) -> Result<(Manifest, TagMap), Diagnostics> {
        let path = path.as_ref();
        let dir = path.parent().unwrap_or(Path::new("."));
        let src = SourceFile::read(path)?;
        let file: ManifestFile = src.parse()?;
        let tag_map_path = dir.join(&file.tag_map);
        let tags = TagMap::read(&tag_map_path)?;
        let mut diags = Diagnostics::new();
        let mut seen = BTreeMap::new();
        let mut batches = Vec::new();
        for (i, b) in file.batches.iter().enumerate() {
            let field = |f: &str| format!("batches[{i}].{f}");
            if b.id.trim().is_empty() {
                diags.push(src.diag(&field("id"), "a non-empty batch id", "\"\""));
            }
            if let Some(first) = seen.insert(b.id.clone(), i) {
                diags.push(src.diag(
                    &field("id"),
                    "a batch id used once",
                    format!("`{}` again (first at batches[{first}])", b.id),
                ));
            }
            let start = parse_rfc3339(&b.start)
                .map_err(|e| {
                    diags.push(src.diag(&field("start"), "an RFC 3339 timestamp", e.to_string()))
                })
                .ok();
            let end = parse_rfc3339(&b.end)
                .map_err(|e| {
                    diags.push(src.diag(&field("end"), "an RFC 3339 timestamp", e.to_string()))
                })
                .ok();
            if let (Some(s), Some(e)) = (start, end)
                && e <= s
            {
                diags.push(src.diag(
                    &field("end"),
                    format!("a time after start ({})", b.start),
                    format!("`{}`", b.end),
                ));
            }
            if let Some(v) = b.working_volume_m3
                && !(v.is_finite() && v > 0.0)
            {
                diags.push(src.diag(
                    &field("working_volume_m3"),
                    "a positive volume in m3",
                    v.to_string(),
                ));
            }
            if b.files.is_empty() {
                diags.push(src.diag(&field("files"), "at least one time-series file", "[]"));
            }
            let mut files = Vec::new();
            for (j, f) in b.files.iter().enumerate() {
                let p = dir.join(&f.path);
                if !p.is_file() {
                    diags.push(src.diag(
                        &field(&format!("files[{j}].path")),
                        "an existing file relative to the manifest",
                        format!("`{}` (not found)", f.path),
                    ));
                }
                files.push((p, f.format));
            }
            let parameters =
                quantities(&src, &tags, &b.parameters, &field("parameters"), &mut diags);
            let cqas = quantities(&src, &tags, &b.cqas, &field("cqas"), &mut diags);
            batches.push(BatchMeta {
                id: b.id.clone(),
                equipment: b.equipment.clone(),
                working_volume_m3: b.working_volume_m3,
                recipe: b.recipe.clone(),
                material_lots: b.material_lots.clone(),
                start_unix_s: start.unwrap_or(f64::NAN),
                end_unix_s: end.unwrap_or(f64::NAN),
                parameters,
                cqas,
                files,
            });
        }
        let manifest = Manifest {
            path: path.to_path_buf(),
            name: file.name,
            description: file.description,
            tag_map_path,
            batches,
        };
        diags.into_result((manifest, tags))
    }
}

/// Converts named quantities to SI through the tag map's variables.
fn quantities(
    src: &SourceFile,
    tags: &TagMap,
    items: &BTreeMap<String, Quantity>,
    field: &str,
    diags: &mut Diagnostics,
) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for (name, q) in items {
        let here = format!("{field}.{name}");
        let Some(var) = tags.variables.get(name) else {
            diags.push(src.diag(
                &here,
                "a variable declared in the tag map",
                format!("`{name}`"),
            ));
            continue;
        };
        if !q.value.is_finite() {
            diags.push(src.diag(
                &format!("{here}.value"),
                "a finite number",
                q.value.to_string(),
            ));
            continue;
        }
        match conversion(&q.unit, &var.si_unit) {
            Ok(c) => {
                out.insert(name.clone(), c.apply(q.value));
            }
            Err(e) => diags.push(src.diag(
                &format!("{here}.unit"),
                format!("a unit convertible to `{}`", var.si_unit),
                e.to_string(),
            )),
        }
    }
    out
}
