//! Process files: the top-level file that names a kinetic model, a recipe,
//! optionally an equipment and specification limits, plus solver settings and
//! declared uncertainty.
//!
//! References are either a path relative to the process file (anything with
//! a `/` or ending in `.toml`) or an id: the file `<id>.toml` in the catalog
//! folder of that kind (`models/`, `recipes/`, `equipment/`, `specs/`) found
//! next to the process file's folder or above it (the `process-models/` tree).

use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::kinetic::KineticModel;
use super::recipe::Recipe;
use super::source::SourceFile;
use super::specs::Specifications;
use super::uncertainty::UncertaintyFile;
use crate::error::{Diagnostic, Diagnostics};
use crate::solver::{Method, Tolerances};

/// A process file (`process-models/processes/*.toml`) as written, before validation.
#[derive(Debug, Clone, Deserialize)]
pub struct ProcessFile {
    /// The `[process]` table.
    pub process: ProcessHeader,
    /// The `[solver]` table (defaults when absent).
    #[serde(default)]
    pub solver: SolverFile,
    /// Declared parameter uncertainty (`[[uncertainty]]`), for Monte Carlo.
    #[serde(default)]
    pub uncertainty: Vec<UncertaintyFile>,
    /// Overrides applied on top of the model and recipe, by address
    /// (`"initial.volume_l" = 1400`), so one recipe serves several scales.
    #[serde(default)]
    pub set: std::collections::BTreeMap<String, f64>,
}

/// The `[process]` table: what the process is made of.
#[derive(Debug, Clone, Deserialize)]
pub struct ProcessHeader {
    /// Process identifier.
    pub id: String,
    /// Human-readable name.
    pub name: String,
    /// Free text for people.
    #[serde(default)]
    pub description: String,
    /// Kinetic model file, relative to `models/` (or a registry reference).
    pub model: String,
    /// Recipe file, relative to `recipes/`.
    pub recipe: String,
    /// Equipment file, relative to `equipment/` (needed by families with gas transfer).
    pub equipment: Option<String>,
    /// Specification file, relative to `specs/`.
    pub specifications: Option<String>,
    /// Downstream train run on the harvest (file in `downstream/`).
    pub downstream: Option<String>,
}

/// The `[solver]` table.
#[derive(Debug, Clone, Deserialize)]
pub struct SolverFile {
    /// Integration method.
    #[serde(default = "default_method")]
    pub method: Method,
    /// Relative tolerance.
    #[serde(default = "default_rtol")]
    pub rtol: f64,
    /// Absolute tolerance, on the scaled state.
    #[serde(default = "default_atol")]
    pub atol: f64,
    /// Interval of output rows, h.
    #[serde(default = "default_interval")]
    pub output_interval_h: f64,
}

fn default_method() -> Method {
    Method::Dopri5
}
fn default_rtol() -> f64 {
    1e-6
}
fn default_atol() -> f64 {
    1e-9
}
fn default_interval() -> f64 {
    1.0
}

impl Default for SolverFile {
    fn default() -> Self {
        SolverFile {
            method: default_method(),
            rtol: default_rtol(),
            atol: default_atol(),
            output_interval_h: default_interval(),
        }
    }
}

/// One input file that went into a result: for the record.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct InputFile {
    /// What the file was (`process`, `model`, `recipe`, `equipment`, …).
    pub role: String,
    /// Its path as resolved.
    pub path: PathBuf,
    /// Hex sha256 of its bytes.
    pub sha256: String,
}

/// A loaded, validated process (without the equipment physics, which the
/// simulation layer attaches).
#[derive(Debug, Clone)]
pub struct ProcessDefinition {
    /// The process file's path.
    pub path: PathBuf,
    /// Process identifier.
    pub id: String,
    /// Human-readable name.
    pub name: String,
    /// The validated kinetic model.
    pub model: KineticModel,
    /// The validated recipe, SI.
    pub recipe: Recipe,
    /// Resolved equipment file, if the process names one.
    pub equipment_path: Option<PathBuf>,
    /// Resolved downstream-train file, if the process names one.
    pub downstream_path: Option<PathBuf>,
    /// Specifications, if the process names them.
    pub specifications: Option<Specifications>,
    /// Integration method.
    pub method: Method,
    /// Integration tolerances.
    pub tolerances: Tolerances,
    /// Interval of output rows, s.
    pub output_interval_s: f64,
    /// Declared parameter uncertainty, as written.
    pub uncertainty: Vec<UncertaintyFile>,
    /// `[set]` overrides, in file order of keys.
    pub overrides: Vec<(String, f64)>,
    /// Every input file with its hash, for the record.
    pub inputs: Vec<InputFile>,
}

/// Catalog kind of a reference: the directory below `process-models/` it points into.
#[derive(Debug, Clone, Copy)]
pub enum Catalog {
    /// `models/`: kinetic model files.
    Models,
    /// `recipes/`: recipe files.
    Recipes,
    /// `equipment/`: equipment files.
    Equipment,
    /// `specs/`: specification files.
    Specs,
    /// `downstream/`: downstream-train files.
    Downstream,
}

impl Catalog {
    fn dir(self) -> &'static str {
        match self {
            Catalog::Models => "models",
            Catalog::Recipes => "recipes",
            Catalog::Equipment => "equipment",
            Catalog::Specs => "specs",
            Catalog::Downstream => "downstream",
        }
    }
}

/// Resolves a reference written in `src` at `field`.
pub fn resolve(
    reference: &str,
    kind: Catalog,
    src: &SourceFile,
    field: &str,
) -> Result<PathBuf, Diagnostic> {
    let base = src.path.parent().unwrap_or(Path::new("."));
    let is_path = reference.contains('/') || reference.ends_with(".toml");
    if is_path {
        let p = base.join(reference);
        if p.is_file() {
            return Ok(p);
        }
        return Err(src.diag(
            field,
            format!("an existing {} file", kind.dir()),
            format!("`{reference}` (no such file: {})", p.display()),
        ));
    }
    if let Some(dir) = catalog_dir(base, kind) {
        let p = dir.join(format!("{reference}.toml"));
        if p.is_file() {
            return Ok(p);
        }
        let known = list_ids(&dir);
        return Err(src.diag(
            field,
            format!("an id in {} ({})", dir.display(), known.join(", ")),
            format!("`{reference}`"),
        ));
    }
    Err(src.diag(
        field,
        format!("a path or an id in a `{}/` catalog folder", kind.dir()),
        format!("`{reference}` (no catalog folder found)"),
    ))
}

/// The catalog folder of a kind: `<ancestor>/<kind>` for the nearest
/// ancestor of `base` (including itself) that has one.
pub fn catalog_dir(base: &Path, kind: Catalog) -> Option<PathBuf> {
    let mut dir = Some(base);
    while let Some(d) = dir {
        let c = d.join(kind.dir());
        if c.is_dir() {
            return Some(c);
        }
        dir = d.parent();
    }
    None
}

/// Ids (file stems) of the TOML files in a catalog folder, sorted.
pub fn list_ids(dir: &Path) -> Vec<String> {
    let mut ids: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

/// Hex sha256 of a text's UTF-8 bytes (equal to [`file_sha256`] of a file
/// holding exactly that text).
pub fn text_sha256(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Hex sha256 of a file's bytes; an empty string when the file cannot be read (the hash is for the record only).
pub fn file_sha256(path: &Path) -> String {
    match std::fs::read(path) {
        Ok(bytes) => hex::encode(Sha256::digest(&bytes)),
        Err(_) => String::new(),
    }
}

/// The prefix of a process file's `model` naming a registered model.
pub const REGISTRY_PREFIX: &str = "registry:";

/// The registry reference of a process file's `model` (`registry:NAME` →
/// `NAME`), read without loading anything else; `None` for a model file or
/// an unreadable process file (whose errors the loader reports).
pub fn registry_model_of(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let v: toml::Value = toml::from_str(&text).ok()?;
    v.get("process")?
        .get("model")?
        .as_str()?
        .strip_prefix(REGISTRY_PREFIX)
        .map(str::to_string)
}

impl ProcessDefinition {
    /// Loads a process file and every file it references, reporting the
    /// problems of all of them together.
    pub fn load(
        path: &Path,
        params_for: impl Fn(&str) -> Option<&'static [super::kinetic::ParamSpec]>,
        families: &[&str],
        cqas_for: impl Fn(&str) -> Option<Vec<&'static str>>,
    ) -> Result<ProcessDefinition, Diagnostics> {
        Self::load_with_model(path, None, params_for, families, cqas_for)
    }

    /// As [`ProcessDefinition::load`]; with `model`, that (already loaded
    /// and checked) model stands for the one the process names — how a
    /// process's `model = "registry:NAME"` is served once the command line
    /// has found NAME in the model registry (the core knows no registry).
    /// The caller records the model as an input (`model_source::with_model`).
    pub fn load_with_model(
        path: &Path,
        model: Option<&KineticModel>,
        params_for: impl Fn(&str) -> Option<&'static [super::kinetic::ParamSpec]>,
        families: &[&str],
        cqas_for: impl Fn(&str) -> Option<Vec<&'static str>>,
    ) -> Result<ProcessDefinition, Diagnostics> {
        let src = SourceFile::read(path)?;
        let file: ProcessFile = src.parse()?;
        let mut d = Diagnostics::new();
        let h = &file.process;
        let s = &file.solver;
        for (name, v, lo, hi) in [
            ("rtol", s.rtol, 1e-14, 1e-2),
            ("atol", s.atol, 1e-16, 1e-2),
            ("output_interval_h", s.output_interval_h, 1e-3, 1e4),
        ] {
            if !(v >= lo && v <= hi) {
                d.push(src.diag(
                    &format!("solver.{name}"),
                    format!("a number in [{lo:e}, {hi:e}]"),
                    format!("{v}"),
                ));
            }
        }
        let mut inputs = vec![InputFile {
            role: "process".into(),
            path: path.to_path_buf(),
            sha256: file_sha256(path),
        }];
        let mut take =
            |r: Result<PathBuf, Diagnostic>, role: &str, d: &mut Diagnostics| -> Option<PathBuf> {
                match r {
                    Ok(p) => {
                        inputs.push(InputFile {
                            role: role.into(),
                            sha256: file_sha256(&p),
                            path: p.clone(),
                        });
                        Some(p)
                    }
                    Err(e) => {
                        d.push(e);
                        None
                    }
                }
            };
        let model_path = match model {
            Some(_) => None,
            None if h.model.starts_with(REGISTRY_PREFIX) => {
                d.push(src.diag(
                    "process.model",
                    "a model file here; a `registry:NAME` model is looked up by `biotwin simulate`, `scale-up`, `transfer` and `fit` (--registry DIR, default `models`), not by this command",
                    format!("`{}`", h.model),
                ));
                None
            }
            None => take(
                resolve(&h.model, Catalog::Models, &src, "process.model"),
                "model",
                &mut d,
            ),
        };
        let recipe_path = take(
            resolve(&h.recipe, Catalog::Recipes, &src, "process.recipe"),
            "recipe",
            &mut d,
        );
        let equipment_path = h.equipment.as_ref().and_then(|e| {
            take(
                resolve(e, Catalog::Equipment, &src, "process.equipment"),
                "equipment",
                &mut d,
            )
        });
        let downstream_path = h.downstream.as_ref().and_then(|e| {
            take(
                resolve(e, Catalog::Downstream, &src, "process.downstream"),
                "downstream",
                &mut d,
            )
        });
        let spec_path = h.specifications.as_ref().and_then(|e| {
            take(
                resolve(e, Catalog::Specs, &src, "process.specifications"),
                "specifications",
                &mut d,
            )
        });

        let model = match model {
            Some(m) => Some(m.clone()),
            None => model_path.and_then(|p| match KineticModel::load(&p, &params_for, families) {
                Ok(m) => Some(m),
                Err(e) => {
                    d.extend(e);
                    None
                }
            }),
        };
        let recipe = recipe_path.and_then(|p| match Recipe::load(&p) {
            Ok(r) => Some(r),
            Err(e) => {
                d.extend(e);
                None
            }
        });
        let cqas = model.as_ref().and_then(|m| cqas_for(&m.family));
        let specifications =
            spec_path.and_then(|p| match Specifications::load(&p, cqas.as_deref()) {
                Ok(s) => Some(s),
                Err(e) => {
                    d.extend(e);
                    None
                }
            });
        match (model, recipe) {
            (Some(model), Some(recipe)) if d.is_empty() => Ok(ProcessDefinition {
                path: path.to_path_buf(),
                id: h.id.clone(),
                name: h.name.clone(),
                model,
                recipe,
                equipment_path,
                downstream_path,
                specifications,
                method: s.method,
                tolerances: Tolerances {
                    rtol: s.rtol,
                    atol: s.atol,
                    ..Tolerances::default()
                },
                output_interval_s: s.output_interval_h * 3600.0,
                uncertainty: file.uncertainty.clone(),
                overrides: file.set.iter().map(|(k, v)| (k.clone(), *v)).collect(),
                inputs,
            }),
            _ => Err(d),
        }
    }

    /// Diagnostic at the key `address` of the process file's `[set]` table.
    pub fn set_diag(
        &self,
        address: &str,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) -> Diagnostic {
        let field = format!("set.\"{address}\"");
        match SourceFile::read(&self.path) {
            Ok(src) => Diagnostic::new(&self.path, field, expected, found)
                .at_line(src.line_of_keys(&["set", address])),
            Err(_) => Diagnostic::new(&self.path, field, expected, found),
        }
    }

    /// Line-aware diagnostic in the process file itself.
    pub fn diag(
        &self,
        field: &str,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) -> Diagnostic {
        match SourceFile::read(&self.path) {
            Ok(src) => src.diag(field, expected, found),
            Err(_) => Diagnostic::new(&self.path, field, expected, found),
        }
    }
}
