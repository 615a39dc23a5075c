//! The site configuration of live mode (`site.toml`): which historian tags
//! measure which model variable in which unit, which batch runs on which
//! production unit and when, where the data comes from, who may see what.
//!
//! ```toml
//! [site]
//! name = "example-site"
//! forecast_every_s = 21600        # batch time between forecasts, s
//!
//! [store]
//! path = "live.sqlite"            # relative to this file, or instead:
//! # url = "postgres://biotwin@db.example:5432/site"  # no password here:
//! # password_env = "PGPASSWORD"   # the variable that holds it (default)
//!
//! [alerts]
//! p_in_spec_min = 0.9             # alert when P(in spec) of a CQA falls below
//!
//! [variables.glucose]
//! si_unit = "kg/m3"
//!
//! [[tenants]]
//! id = "sponsor-a"
//! token_sha256 = "…64 hex digits…"
//!
//! [[tags]]
//! tag = "glucose"
//! variable = "glucose"
//! unit = "g/L"                    # unit the historian writes
//! min = 0.0                       # valid range, in `unit`
//! max = 50.0
//! stale_after_s = 172800
//! lab = true                      # stamped with sample time, known later
//! result_delay_h = 1.0            # when the export has no result time
//!
//! [[batches]]
//! id = "B01"
//! tenant = "sponsor-a"
//! unit = "BR-01"
//! start = "2025-01-01T00:00:00Z"
//! planned_end = "2025-01-15T00:00:00Z"
//! process = "../processes/cho-platform-3l.toml"
//! predictor = "mechanistic"       # or "surrogate:PATH"
//! model = "registry:cho-fit"      # optional, mechanistic only: the promoted
//!                                 # version of a calibrated model in the
//!                                 # site's registry ([site] registry = DIR),
//!                                 # or a model file ("fit/model.toml",
//!                                 # relative to this file)
//!
//! [[sources]]
//! kind = "replay"                 # replay | tail | opcua
//! path = "B01.csv.gz"
//! format = "long"                 # long | wide (CSV or Parquet) | parquet
//! unit = "BR-01"
//!
//! [[sources]]                     # an OPC UA server (fields of `OpcUaConfig`)
//! kind = "opcua"
//! unit = "BR-02"
//! endpoint = "opc.tcp://historian.example:4840/"
//! publishing_interval_ms = 1000   # and the other optional OpcUaConfig keys
//! [[sources.nodes]]
//! tag = "glucose"
//! node_id = "ns=2;s=BR02.Glucose"
//! lab = true
//! ```
//!
//! Unknown keys are reported all at once (through
//! [`SourceFile::parse`], which collects them instead of stopping at the
//! first, as `deny_unknown_fields` would); every semantic problem is reported
//! with file, line, field, expected and found.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::opcua::{OpcUaConfig, OpcUaNode};
use biotwin_core::definition::source::SourceFile;
use biotwin_core::error::{Diagnostic, Diagnostics};
use biotwin_ml::data::tag_map::{Conversion, conversion};
use biotwin_ml::data::timestamp::parse_rfc3339;

#[derive(Debug, Clone, Deserialize)]
struct SiteFile {
    site: SiteSection,
    store: StoreSection,
    #[serde(default)]
    alerts: Option<AlertsSection>,
    #[serde(default)]
    variables: BTreeMap<String, VariableSection>,
    #[serde(default)]
    tenants: Vec<TenantConfig>,
    #[serde(default)]
    tags: Vec<TagSection>,
    #[serde(default)]
    batches: Vec<BatchSection>,
    #[serde(default)]
    sources: Vec<SourceSection>,
}

#[derive(Debug, Clone, Deserialize)]
struct SiteSection {
    name: String,
    forecast_every_s: f64,
    /// Model registry of `registry:NAME` batch models (relative to the file).
    #[serde(default)]
    registry: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
struct StoreSection {
    /// A SQLite file (relative to the site file) ...
    #[serde(default)]
    path: Option<PathBuf>,
    /// ... or a PostgreSQL database, `postgres://user@host:port/dbname`
    /// (no password: see `password_env`).
    #[serde(default)]
    url: Option<String>,
    /// Environment variable holding the database password (`PGPASSWORD`).
    #[serde(default)]
    password_env: Option<String>,
    /// A PostgreSQL site's anchor file for this process (relative to the
    /// site file; default `<site file stem>.anchor.jsonl` beside it).
    #[serde(default)]
    anchor: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
struct AlertsSection {
    #[serde(default = "default_p_in_spec_min")]
    p_in_spec_min: f64,
}

fn default_p_in_spec_min() -> f64 {
    0.9
}

#[derive(Debug, Clone, Deserialize)]
struct VariableSection {
    si_unit: String,
}

/// A sponsor and the SHA-256 (hex) of its API token.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TenantConfig {
    /// Tenant identifier (what batches name in `tenant`).
    pub id: String,
    /// SHA-256 (64 hex digits) of the tenant's API token; the token
    /// itself is never stored.
    pub token_sha256: String,
}

#[derive(Debug, Clone, Deserialize)]
struct TagSection {
    tag: String,
    variable: String,
    unit: String,
    min: f64,
    max: f64,
    stale_after_s: f64,
    #[serde(default)]
    lab: bool,
    #[serde(default)]
    result_delay_h: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
struct BatchSection {
    id: String,
    tenant: String,
    unit: String,
    start: String,
    planned_end: String,
    process: PathBuf,
    predictor: String,
    #[serde(default)]
    model: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct SourceSection {
    kind: SourceKind,
    #[serde(default)]
    path: Option<PathBuf>,
    #[serde(default)]
    endpoint: Option<String>,
    #[serde(default)]
    format: Option<DataFormat>,
    unit: String,
    /// A replay of a damaged CSV/gzip export keeps what precedes the damage
    /// (recorded as `source.partial`) instead of refusing the file.
    #[serde(default)]
    accept_partial: bool,
    // OPC UA only: the keys of `OpcUaConfig` (its defaults when absent).
    #[serde(default)]
    nodes: Option<Vec<OpcUaNode>>,
    #[serde(default)]
    publishing_interval_ms: Option<u64>,
    #[serde(default)]
    security: Option<String>,
    #[serde(default)]
    reconnect_initial_ms: Option<u64>,
    #[serde(default)]
    reconnect_max_ms: Option<u64>,
    #[serde(default)]
    backfill: Option<bool>,
    #[serde(default)]
    backfill_from_unix_s: Option<f64>,
}

impl SourceSection {
    /// Names of the OPC UA keys given (wrong on a file source).
    fn opcua_keys(&self) -> Vec<&'static str> {
        let given = [
            ("nodes", self.nodes.is_some()),
            (
                "publishing_interval_ms",
                self.publishing_interval_ms.is_some(),
            ),
            ("security", self.security.is_some()),
            ("reconnect_initial_ms", self.reconnect_initial_ms.is_some()),
            ("reconnect_max_ms", self.reconnect_max_ms.is_some()),
            ("backfill", self.backfill.is_some()),
            ("backfill_from_unix_s", self.backfill_from_unix_s.is_some()),
        ];
        given.iter().filter(|g| g.1).map(|g| g.0).collect()
    }

    /// The OPC UA connection this entry describes, defaults filled in.
    fn opcua(&self) -> OpcUaConfig {
        let mut c = OpcUaConfig::new(
            self.endpoint.clone().unwrap_or_default(),
            self.nodes.clone().unwrap_or_default(),
        );
        if let Some(v) = self.publishing_interval_ms {
            c.publishing_interval_ms = v;
        }
        if let Some(v) = &self.security {
            c.security = v.clone();
        }
        if let Some(v) = self.reconnect_initial_ms {
            c.reconnect_initial_ms = v;
        }
        if let Some(v) = self.reconnect_max_ms {
            c.reconnect_max_ms = v;
        }
        if let Some(v) = self.backfill {
            c.backfill = v;
        }
        c.backfill_from_unix_s = self.backfill_from_unix_s;
        c
    }
}

/// Where readings come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// Replay of an exported file (`path`), paced or as fast as possible.
    Replay,
    /// A file followed as it grows (`path`; long layout, not Parquet).
    Tail,
    /// An OPC UA subscription (`endpoint`, `nodes`).
    Opcua,
}

/// Layout of an exported or followed file. Whether a replayed export is CSV
/// (plain or gzip) or Parquet is read from the file itself, as for datasets;
/// `long` and `wide` apply to both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataFormat {
    /// Long layout: one row per (time, tag, value[, quality]).
    Long,
    /// Wide layout: one row per time, one column per tag.
    Wide,
    /// A Parquet export whose layout is read from its columns (long when it
    /// has `tag` and `value`, else wide).
    Parquet,
}

/// How one historian tag becomes an observation.
#[derive(Debug, Clone, PartialEq)]
pub struct TagConfig {
    /// Historian tag name (the key readings carry).
    pub tag: String,
    /// Model variable it measures (e.g. `glucose`), whose SI unit
    /// `[variables.NAME] si_unit` gives.
    pub variable: String,
    /// Unit the historian writes the tag in.
    pub unit: String,
    /// From `unit` to the variable's SI unit.
    pub to_si: Conversion,
    /// Valid range, in `unit` (inclusive).
    pub min: f64,
    /// Upper end of the valid range, in `unit` (inclusive).
    pub max: f64,
    /// A value older than this (behind the newest reading of its unit) is stale.
    pub stale_after_s: f64,
    /// A lab result: stamped with its sample time, available later.
    pub lab: bool,
    /// Delay of a lab result when the export gives no result time, s.
    pub result_delay_s: f64,
}

/// One batch: which tenant, which production unit, when, which model.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchConfig {
    /// Batch identifier, unique within its tenant.
    pub id: String,
    /// Tenant the batch belongs to (one of `tenants`).
    pub tenant: String,
    /// Production unit (bioreactor) it runs on; sources of this unit feed it.
    pub unit: String,
    /// Batch start, Unix seconds (UTC), from the file's RFC 3339 `start`:
    /// batch time zero.
    pub start_unix_s: f64,
    /// Planned end, Unix seconds (UTC), after `start_unix_s`: the last
    /// forecast is made here.
    pub planned_end_unix_s: f64,
    /// Process definition (resolved against the site file's directory).
    pub process: PathBuf,
    /// `mechanistic`, `surrogate:PATH`, or what a factory knows.
    pub predictor: String,
    /// The kinetic model to run instead of the process file's:
    /// `registry:NAME` (the promoted version of NAME, or NAME's promoted id,
    /// in the site's registry, bound when the engine registers the batch),
    /// or a model file's path (a site file's relative path resolved against
    /// its directory; `live --model FILE` as given).
    pub model: Option<String>,
    /// Whether `model` is the process file's own `model = "registry:NAME"`
    /// (the site file names none): errors about it then name the process.
    pub model_from_process: bool,
}

/// One source of readings for one production unit.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceConfig {
    /// What the source is.
    pub kind: SourceKind,
    /// File of a replay or tail source (resolved), endpoint of an OPC UA one.
    pub path: Option<PathBuf>,
    /// Endpoint URL of an OPC UA source (`opc.tcp://…`).
    pub endpoint: Option<String>,
    /// Layout of a file source (OPC UA sources ignore it).
    pub format: DataFormat,
    /// Production unit whose tags the source carries.
    pub unit: String,
    /// The validated connection of an OPC UA source.
    pub opcua: Option<OpcUaConfig>,
    /// Replay only: accept a damaged export in part (`accept_partial`).
    pub accept_partial: bool,
}

/// A validated site configuration; paths are resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteConfig {
    /// The file it was read from (for records and messages).
    pub file: PathBuf,
    /// SHA-256 (hex) of the file's text: the engine records it at every
    /// start and records a `config.changed` when it differs from the last.
    pub sha256: String,
    /// The site's name (`[site] name`), for records and the page.
    pub name: String,
    /// Batch time between forecasts, s (> 0).
    pub forecast_every_s: f64,
    /// The SQLite store; empty when `store_pg` is set.
    pub store_path: PathBuf,
    /// The PostgreSQL store (`[store] url`), instead of `store_path`.
    pub store_pg: Option<crate::pg_store::PgTarget>,
    /// A PostgreSQL site's anchor file (`[store] anchor`, resolved; by
    /// default `<site file stem>.anchor.jsonl` beside the site file): every
    /// process that writes the database appends where its chains stood
    /// (a SQLite store's anchor is `<store>.anchor.jsonl`; None then).
    pub store_anchor: Option<PathBuf>,
    /// The model registry that `registry:NAME` batch models name (resolved).
    pub registry: Option<PathBuf>,
    /// Alert level: an alert is raised when a CQA's probability of being in
    /// specification falls below it (`[alerts] p_in_spec_min`, default 0.9).
    pub p_in_spec_min: f64,
    /// Tenants and their token hashes.
    pub tenants: Vec<TenantConfig>,
    /// By tag name.
    pub tags: BTreeMap<String, TagConfig>,
    /// Batches, in file order.
    pub batches: Vec<BatchConfig>,
    /// Sources of readings, in file order.
    pub sources: Vec<SourceConfig>,
}

impl SiteConfig {
    /// Reads and validates a site file; every problem is reported at once.
    pub fn read(path: impl AsRef<Path>) -> Result<SiteConfig, Diagnostics> {
        let src = SourceFile::read(path)?;
        let file: SiteFile = src.parse()?;
        validate(&src, file)
    }

    /// The batch running on `unit` at `unix_s` (start <= t <= planned end).
    pub fn batch_on(&self, unit: &str, unix_s: f64) -> Option<&BatchConfig> {
        self.batches
            .iter()
            .find(|b| b.unit == unit && b.start_unix_s <= unix_s && unix_s <= b.planned_end_unix_s)
    }
}

/// This host's name for default per-host file names (letters, digits,
/// `.`, `-`, `_` kept; `host` if the system has none).
fn host_name() -> String {
    let raw = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .unwrap_or_default();
    let name: String = raw
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty() { "host".into() } else { name }
}

fn validate(src: &SourceFile, f: SiteFile) -> Result<SiteConfig, Diagnostics> {
    let mut d = Diagnostics::new();
    let dir = src.path.parent().map(Path::to_path_buf).unwrap_or_default();
    let resolve = |p: &Path| {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            dir.join(p)
        }
    };

    if f.site.name.trim().is_empty() {
        d.push(src.diag("site.name", "a non-empty site name", "``"));
    }
    let store_pg = match (&f.store.path, &f.store.url) {
        (Some(_), Some(_)) => {
            d.push(src.diag(
                "store.url",
                "either `path` (a SQLite file) or `url` (a PostgreSQL database), not both",
                "both",
            ));
            None
        }
        (None, None) => {
            d.push(src.diag(
                "store",
                "`path` (a SQLite file) or `url` (postgres://user@host:port/dbname)",
                "neither",
            ));
            None
        }
        (None, Some(url)) => {
            let t = crate::pg_store::PgTarget::new(url, f.store.password_env.as_deref());
            match t.parse() {
                Ok(_) => Some(t),
                Err((expected, found)) => {
                    d.push(src.diag("store.url", expected, found));
                    None
                }
            }
        }
        (Some(_), None) => {
            if f.store.anchor.is_some() {
                d.push(src.diag(
                    "store.anchor",
                    "anchor only with a PostgreSQL `url` (a SQLite store's anchor is `<store>.anchor.jsonl`: make that a link to append-only media)",
                    "a SQLite `path`",
                ));
            }
            if f.store.password_env.is_some() {
                d.push(src.diag(
                    "store.password_env",
                    "password_env only with a PostgreSQL `url`",
                    "a SQLite `path`",
                ));
            }
            None
        }
    };
    if let Some(a) = &f.store.anchor {
        if a.as_os_str().is_empty() || resolve(a).is_dir() {
            d.push(src.diag(
                "store.anchor",
                "a file to append anchor lines to (relative to the site file)",
                format!("`{}`", a.display()),
            ));
        }
    }
    if !(f.site.forecast_every_s.is_finite() && f.site.forecast_every_s > 0.0) {
        d.push(src.diag(
            "site.forecast_every_s",
            "a positive number of seconds of batch time",
            f.site.forecast_every_s.to_string(),
        ));
    }
    let p_in_spec_min = f.alerts.as_ref().map_or(0.9, |a| a.p_in_spec_min);
    if !(0.0..=1.0).contains(&p_in_spec_min) {
        d.push(src.diag(
            "alerts.p_in_spec_min",
            "a probability in [0, 1]",
            p_in_spec_min.to_string(),
        ));
    }

    let mut tenant_ids = BTreeSet::new();
    for (i, t) in f.tenants.iter().enumerate() {
        if !tenant_ids.insert(t.id.clone()) {
            d.push(src.diag(
                &format!("tenants[{i}].id"),
                "a tenant id used once",
                format!("`{}` again", t.id),
            ));
        }
        let h = &t.token_sha256;
        if h.len() != 64 || !h.bytes().all(|c| c.is_ascii_hexdigit()) {
            d.push(src.diag(
                &format!("tenants[{i}].token_sha256"),
                "the SHA-256 of the tenant's token as 64 hex digits",
                format!("`{h}` ({} characters)", h.len()),
            ));
        }
    }

    for (name, v) in &f.variables {
        match biotwin_core::units::Unit::parse(&v.si_unit) {
            Ok(u) if (u.factor - 1.0).abs() < 1e-12 => {}
            Ok(_) => d.push(src.diag(
                &format!("variables.{name}.si_unit"),
                "an SI unit (factor 1, e.g. kg/m3, 1/m3, Pa, K)",
                format!("`{}`", v.si_unit),
            )),
            Err(e) => d.push(src.diag(&format!("variables.{name}.si_unit"), "a unit", e)),
        }
    }

    let mut tags = BTreeMap::new();
    for (i, t) in f.tags.iter().enumerate() {
        let at = |field: &str| format!("tags[{i}].{field}");
        let Some(var) = f.variables.get(&t.variable) else {
            d.push(src.diag(
                &at("variable"),
                "a variable declared under [variables.NAME] with its si_unit",
                format!("`{}`", t.variable),
            ));
            continue;
        };
        let to_si = match conversion(&t.unit, &var.si_unit) {
            Ok(c) => c,
            Err(e) => {
                d.push(src.diag(
                    &at("unit"),
                    format!(
                        "a unit convertible to `{}` (the SI unit of `{}`)",
                        var.si_unit, t.variable
                    ),
                    e.to_string(),
                ));
                continue;
            }
        };
        if !(t.min.is_finite() && t.max.is_finite() && t.min <= t.max) {
            d.push(src.diag(
                &at("max"),
                format!("finite min <= max (in {})", t.unit),
                format!("min {} max {}", t.min, t.max),
            ));
        }
        if !(t.stale_after_s.is_finite() && t.stale_after_s > 0.0) {
            d.push(src.diag(
                &at("stale_after_s"),
                "a positive number of seconds",
                t.stale_after_s.to_string(),
            ));
        }
        let delay_h = t.result_delay_h.unwrap_or(0.0);
        if !(delay_h.is_finite() && delay_h >= 0.0) {
            d.push(src.diag(&at("result_delay_h"), "a delay >= 0 h", delay_h.to_string()));
        }
        if t.result_delay_h.is_some() && !t.lab {
            d.push(src.diag(
                &at("result_delay_h"),
                "no result delay on an online tag (set lab = true)",
                format!("{delay_h} h"),
            ));
        }
        let cfg = TagConfig {
            tag: t.tag.clone(),
            variable: t.variable.clone(),
            unit: t.unit.clone(),
            to_si,
            min: t.min,
            max: t.max,
            stale_after_s: t.stale_after_s,
            lab: t.lab,
            result_delay_s: delay_h * 3600.0,
        };
        if tags.insert(t.tag.clone(), cfg).is_some() {
            d.push(src.diag(
                &at("tag"),
                "a tag listed once",
                format!("`{}` again", t.tag),
            ));
        }
    }

    // Each tag's range in its variable's SI unit (for predictors that
    // check plausibility).
    let tag_ranges: Vec<crate::indpensim::TagRange> = f
        .tags
        .iter()
        .enumerate()
        .filter_map(|(i, t)| {
            let c = tags.get(&t.tag)?;
            Some((
                format!("tags[{i}]"),
                t.variable.clone(),
                c.to_si.apply(t.min),
                c.to_si.apply(t.max),
            ))
        })
        .collect();
    let mut batches = Vec::new();
    let mut batch_ids = BTreeSet::new();
    for (i, b) in f.batches.iter().enumerate() {
        let at = |field: &str| format!("batches[{i}].{field}");
        if !batch_ids.insert(b.id.clone()) {
            d.push(src.diag(
                &at("id"),
                "a batch id used once",
                format!("`{}` again", b.id),
            ));
        }
        if !tenant_ids.contains(&b.tenant) {
            d.push(src.diag(
                &at("tenant"),
                "a tenant declared under [[tenants]]",
                format!("`{}`", b.tenant),
            ));
        }
        let start = parse_rfc3339(&b.start).map_err(|e| {
            d.push(src.diag(&at("start"), "an RFC 3339 timestamp", e.to_string()));
        });
        let end = parse_rfc3339(&b.planned_end).map_err(|e| {
            d.push(src.diag(&at("planned_end"), "an RFC 3339 timestamp", e.to_string()));
        });
        let (Ok(start), Ok(end)) = (start, end) else {
            continue;
        };
        if end <= start {
            d.push(src.diag(
                &at("planned_end"),
                format!("a time after the start {}", b.start),
                format!("`{}`", b.planned_end),
            ));
            continue;
        }
        let process = resolve(&b.process);
        if !process.is_file() {
            d.push(src.diag(
                &at("process"),
                "a process TOML file (relative to the site file)",
                format!("`{}` (no such file)", process.display()),
            ));
        }
        let p = b.predictor.trim();
        let enkf = p.strip_prefix(crate::indpensim::PREDICTOR_PREFIX);
        if !(p == "mechanistic"
            || p.strip_prefix("surrogate:").is_some_and(|s| !s.is_empty())
            || enkf.is_some_and(|s| !s.is_empty()))
        {
            d.push(src.diag(
                &at("predictor"),
                "`mechanistic`, `surrogate:PATH` or `indpensim-enkf:PATH`",
                format!("`{}`", b.predictor),
            ));
        }
        // A `mechanistic` batch's process file, read once: a process
        // definition (the EKF runs its [process]) whose `model` may name a
        // registered model, or refused here, before any store is opened.
        let mut process_model = None;
        if p == "mechanistic" && process.is_file() {
            match mechanistic_process(&process) {
                MechanisticProcess::Definition(registry_model) => {
                    // A process file may name the registered model itself
                    // (`model = "registry:NAME"` in its [process] table):
                    // the batch then runs that reference, exactly as if the
                    // site file named it.
                    process_model = registry_model.filter(|_| b.model.is_none());
                }
                MechanisticProcess::NotADefinition {
                    penicillin: Some(penicillin),
                    ..
                } => {
                    d.push(src.diag(
                        &at("predictor"),
                        format!(
                            "for IndPenSim batch `{}`: `predictor = \"{}PATH\"`, PATH an IndPenSim \
                             filter file naming the recipes (e.g. `indpensim-enkf.toml` beside \
                             `indpensim-enkf-site.toml` in process-models/sites/; docs/live.md, \
                             \"IndPenSim ensemble Kalman filter\"). `mechanistic` runs the EKF of a \
                             process definition ([process]: model xing2010 or cho_platform, its \
                             recipe and equipment); IndPenSim has none",
                            b.id,
                            crate::indpensim::PREDICTOR_PREFIX
                        ),
                        format!(
                            "`mechanistic`, with process `{}` (a specifications file \
                             ([specifications], a limit on `{penicillin}`), no [process])",
                            process.display()
                        ),
                    ));
                }
                MechanisticProcess::NotADefinition {
                    found,
                    penicillin: None,
                } => {
                    d.push(src.diag(
                        &at("process"),
                        format!(
                            "for `mechanistic` batch `{}`: a process definition with a [process] \
                             table (model xing2010 or cho_platform, its recipe and equipment), \
                             whose EKF the batch runs",
                            b.id
                        ),
                        format!("`{}` ({found})", process.display()),
                    ));
                }
            }
        }
        if let Some(file) = enkf.filter(|s| !s.is_empty()) {
            crate::indpensim::check_site(
                src,
                &at("predictor"),
                &resolve(Path::new(file)),
                &f.variables
                    .iter()
                    .map(|(k, v)| (k.clone(), v.si_unit.clone()))
                    .collect(),
                &tag_ranges,
                &mut d,
            );
        }
        let model = match b.model.as_deref().map(str::trim) {
            // Resolved in the site's registry ([site] registry or
            // `live --registry DIR`) when the engine registers the batch.
            None => process_model
                .as_ref()
                .map(|name| format!("registry:{name}")),
            Some(m) if p != "mechanistic" => {
                d.push(src.diag(
                    &at("model"),
                    "no model for a surrogate predictor (a model serves `mechanistic` batches)",
                    format!("`{m}` with predictor `{p}`"),
                ));
                None
            }
            Some(m) => match m.strip_prefix("registry:") {
                Some(name) if !name.is_empty() && f.site.registry.is_some() => {
                    Some(format!("registry:{name}"))
                }
                Some(name) if !name.is_empty() => {
                    d.push(src.diag(
                        &at("model"),
                        "a [site] registry = \"DIR\" for `registry:NAME` models",
                        "no registry in [site]",
                    ));
                    None
                }
                None if biotwin_ml::registry::mechanistic::is_path(m) => {
                    // A model file (relative to the site file), checked as
                    // `simulate --model FILE` checks one when the engine
                    // registers the batch.
                    let file = resolve(Path::new(m));
                    if file.is_file() {
                        Some(file.display().to_string())
                    } else {
                        d.push(src.diag(
                            &at("model"),
                            "a model file (relative to the site file)",
                            format!("`{}` (no such file)", file.display()),
                        ));
                        None
                    }
                }
                _ => {
                    d.push(src.diag(
                        &at("model"),
                        "`registry:NAME` (a calibrated model promoted in the site's registry) or a model file's path (`PATH.toml`, relative to the site file)",
                        format!("`{m}`"),
                    ));
                    None
                }
            },
        };
        let predictor = match (p.strip_prefix("surrogate:"), enkf) {
            (Some(path), _) => format!("surrogate:{}", resolve(Path::new(path)).display()),
            (None, Some(path)) => format!(
                "{}{}",
                crate::indpensim::PREDICTOR_PREFIX,
                resolve(Path::new(path)).display()
            ),
            (None, None) => p.to_string(),
        };
        // Two batches on one unit at once would make the owner of a reading
        // ambiguous.
        for other in &batches {
            let o: &BatchConfig = other;
            if o.unit == b.unit && start < o.planned_end_unix_s && o.start_unix_s < end {
                d.push(src.diag(
                    &at("start"),
                    format!("no overlap with batch `{}` on unit `{}`", o.id, o.unit),
                    format!("`{}`", b.start),
                ));
            }
        }
        batches.push(BatchConfig {
            id: b.id.clone(),
            tenant: b.tenant.clone(),
            unit: b.unit.clone(),
            start_unix_s: start,
            planned_end_unix_s: end,
            process,
            predictor,
            model_from_process: b.model.is_none() && process_model.is_some(),
            model,
        });
    }

    let units: BTreeSet<&str> = f.batches.iter().map(|b| b.unit.as_str()).collect();
    let mut sources = Vec::new();
    for (i, s) in f.sources.iter().enumerate() {
        let at = |field: &str| format!("sources[{i}].{field}");
        if !units.contains(s.unit.as_str()) {
            d.push(src.diag(
                &at("unit"),
                "a production unit that some [[batches]] entry runs on",
                format!("`{}`", s.unit),
            ));
        }
        let format = s.format.unwrap_or(DataFormat::Long);
        let mut path = None;
        let mut opcua = None;
        if s.kind != SourceKind::Opcua {
            for key in s.opcua_keys() {
                d.push(src.diag(
                    &at(key),
                    "no OPC UA key on a replay or tail source (kind = \"opcua\")",
                    format!("`{key}`"),
                ));
            }
        }
        match s.kind {
            SourceKind::Replay | SourceKind::Tail => match &s.path {
                None => d.push(src.diag(
                    &format!("sources[{i}]"),
                    "a `path` for a replay or tail source",
                    "none",
                )),
                Some(p) => {
                    let p = resolve(p);
                    if s.kind == SourceKind::Replay && !p.is_file() {
                        d.push(src.diag(
                            &at("path"),
                            "an export file (relative to the site file)",
                            format!("`{}` (no such file)", p.display()),
                        ));
                    }
                    if s.kind == SourceKind::Tail && format != DataFormat::Long {
                        d.push(src.diag(
                            &at("format"),
                            "`long` for a followed file",
                            format!("{format:?}").to_lowercase(),
                        ));
                    }
                    // A Parquet file is whole only once its footer is
                    // written; it cannot be followed row by row.
                    if s.kind == SourceKind::Tail
                        && biotwin_ml::data::parquet_source::is_parquet(&p)
                    {
                        d.push(src.diag(
                            &at("path"),
                            "a CSV file for a followed file (replay a Parquet export instead)",
                            format!("`{}` (Parquet)", p.display()),
                        ));
                    }
                    path = Some(p);
                }
            },
            SourceKind::Opcua => {
                if s.endpoint.is_none() {
                    d.push(src.diag(
                        &format!("sources[{i}]"),
                        "an `endpoint` (opc.tcp://host:port) for an OPC UA source",
                        "none",
                    ));
                }
                if s.path.is_some() {
                    d.push(src.diag(
                        &at("path"),
                        "no `path` on an OPC UA source (it has an `endpoint`)",
                        "a path",
                    ));
                }
                let c = s.opcua();
                match c.validate(&src.path, &format!("sources[{i}]")) {
                    // Re-made through the source file to get their lines.
                    Err(problems) => {
                        for p in problems.iter() {
                            if s.endpoint.is_none() && p.field.ends_with(".endpoint") {
                                continue; // reported above
                            }
                            d.push(src.diag(&p.field, p.expected.clone(), p.found.clone()));
                        }
                    }
                    Ok(_) => opcua = Some(c),
                }
            }
        }
        if s.accept_partial && s.kind != SourceKind::Replay {
            d.push(src.diag(
                &at("accept_partial"),
                "accept_partial only on a replay source (a followed file or OPC UA has no whole file to cut)",
                format!("a `{:?}` source", s.kind).to_lowercase(),
            ));
        }
        sources.push(SourceConfig {
            kind: s.kind,
            path,
            endpoint: s.endpoint.clone(),
            format,
            unit: s.unit.clone(),
            opcua,
            accept_partial: s.accept_partial,
        });
    }

    d.into_result(SiteConfig {
        file: src.path.clone(),
        sha256: {
            use sha2::Digest;
            hex::encode(sha2::Sha256::digest(src.text.as_bytes()))
        },
        name: f.site.name,
        forecast_every_s: f.site.forecast_every_s,
        store_path: f.store.path.as_deref().map(resolve).unwrap_or_default(),
        store_anchor: match (&store_pg, &f.store.anchor) {
            (None, _) => None,
            (Some(_), Some(a)) => Some(resolve(a)),
            (Some(_), None) => Some({
                let stem = src
                    .path
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "site".into());
                dir.join(format!("{stem}.{}.anchor.jsonl", host_name()))
            }),
        },
        store_pg,
        registry: f.site.registry.as_deref().map(resolve),
        p_in_spec_min,
        tenants: f.tenants,
        tags,
        batches,
        sources,
    })
}

/// A diagnostic against the site file without a located line (for problems
/// found after reading, e.g. by the engine).
pub fn site_diag(
    cfg: &SiteConfig,
    field: &str,
    expected: impl Into<String>,
    found: impl Into<String>,
) -> Diagnostic {
    Diagnostic::new(&cfg.file, field, expected, found)
}

/// What the site check needs of a `mechanistic` batch's process file.
enum MechanisticProcess {
    /// A process definition (a `[process]` table), with the registered
    /// model its `model = "registry:NAME"` names, if any.
    Definition(Option<String>),
    /// Not a process definition: `found` says what the file is instead;
    /// `penicillin`, when it is a specifications file with a limit on final
    /// penicillin (the IndPenSim CQA), i.e. an IndPenSim batch, names that
    /// CQA.
    NotADefinition {
        found: String,
        penicillin: Option<String>,
    },
}

/// Reads a `mechanistic` batch's process file once: a process definition
/// (its registry reference, as
/// [`biotwin_core::definition::process::registry_model_of`] reads it) or
/// what the file is instead (unreadable, not TOML, or TOML without a
/// `[process]` table). The definition's own fields are checked when the
/// predictor is made.
fn mechanistic_process(process: &Path) -> MechanisticProcess {
    let not = |found: String| MechanisticProcess::NotADefinition {
        found,
        penicillin: None,
    };
    let text = match std::fs::read_to_string(process) {
        Ok(t) => t,
        Err(e) => return not(format!("unreadable: {e}")),
    };
    let value: toml::Table = match toml::from_str(&text) {
        Ok(v) => v,
        Err(e) => {
            let line = e
                .span()
                // Newlines before the error's first byte, + 1 (an error at
                // the start of a line is on that line, not the one before).
                .map(|r| {
                    text.as_bytes()[..r.start.min(text.len())]
                        .iter()
                        .filter(|&&c| c == b'\n')
                        .count()
                        + 1
                });
            let at = line.map(|l| format!(" at line {l}")).unwrap_or_default();
            return not(format!(
                "not TOML{at}: {}",
                e.message().lines().next().unwrap_or("")
            ));
        }
    };
    if let Some(process) = value.get("process") {
        // `model = "registry:NAME"`, spelled as the core's
        // `registry_model_of` reads it from the file.
        let registry_model = process
            .get("model")
            .and_then(toml::Value::as_str)
            .and_then(|m| m.strip_prefix(biotwin_core::definition::process::REGISTRY_PREFIX))
            .map(str::to_string);
        return MechanisticProcess::Definition(registry_model);
    }
    let specifications = value.contains_key("specifications");
    let found = if specifications {
        "a specifications file ([specifications]), no [process]".to_string()
    } else if value.is_empty() {
        "no tables, no [process]".to_string()
    } else {
        let keys: Vec<&str> = value.keys().map(String::as_str).collect();
        format!("{}, no [process]", keys.join(", "))
    };
    let penicillin = value
        .get("limits")
        .and_then(toml::Value::as_array)
        .filter(|_| specifications)
        .and_then(|limits| {
            limits
                .iter()
                .filter_map(|l| l.get("cqa").and_then(toml::Value::as_str))
                .find(|c| *c == "final_penicillin" || *c == crate::indpensim::CQA)
                .map(str::to_string)
        });
    MechanisticProcess::NotADefinition { found, penicillin }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, text: &str) -> PathBuf {
        std::fs::write(dir.join("process.toml"), "[process]\n").unwrap();
        std::fs::write(dir.join("export.csv"), "timestamp,tag,value\n").unwrap();
        let p = dir.join("site.toml");
        std::fs::write(&p, text).unwrap();
        p
    }

    const GOOD: &str = r#"
[site]
name = "t"
forecast_every_s = 3600.0
[store]
path = "s.sqlite"
[variables.glucose]
si_unit = "kg/m3"
[[tenants]]
id = "a"
token_sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
[[tags]]
tag = "GLC"
variable = "glucose"
unit = "mg/L"
min = 0.0
max = 20000.0
stale_after_s = 86400.0
lab = true
result_delay_h = 2.0
[[batches]]
id = "B1"
tenant = "a"
unit = "BR1"
start = "2025-01-01T00:00:00Z"
planned_end = "2025-01-02T00:00:00Z"
process = "process.toml"
predictor = "mechanistic"
[[sources]]
kind = "replay"
path = "export.csv"
unit = "BR1"
"#;

    /// `mechanistic` on an IndPenSim batch (its process a specifications
    /// file with a final-penicillin limit) is refused at load, naming the
    /// site file, its line, the batch and the spelling that works; any other
    /// process file without a [process] table is refused at load too, on the
    /// batch's `process`, without the IndPenSim hint.
    #[test]
    fn mechanistic_on_an_indpensim_batch_names_the_enkf_spelling() {
        let dir = tempfile::tempdir().unwrap();
        let specs = |cqa: &str| {
            format!("[specifications]\nid = \"s\"\n[[limits]]\ncqa = \"{cqa}\"\nmin = 20.0\n")
        };
        std::fs::write(dir.path().join("specs.toml"), specs("final_penicillin")).unwrap();
        let site = GOOD.replace("process = \"process.toml\"", "process = \"specs.toml\"");
        let e = SiteConfig::read(write(dir.path(), &site)).unwrap_err();
        let m = e.to_string();
        assert!(
            m.contains("site.toml:") && m.contains("batches[0].predictor"),
            "{m}"
        );
        assert!(m.contains("IndPenSim batch `B1`"), "{m}");
        assert!(m.contains("predictor = \"indpensim-enkf:PATH\""), "{m}");
        assert!(
            m.contains("specs.toml") && m.contains("no [process]"),
            "{m}"
        );

        std::fs::write(dir.path().join("specs.toml"), specs("titer")).unwrap();
        let m = SiteConfig::read(write(dir.path(), &site))
            .unwrap_err()
            .to_string();
        assert!(m.contains("batches[0].process"), "{m}");
        assert!(m.contains("for `mechanistic` batch `B1`"), "{m}");
        assert!(
            m.contains("a specifications file ([specifications]), no [process]"),
            "{m}"
        );
        assert!(!m.contains("IndPenSim"), "{m}");
        // The same batch spelled `indpensim-enkf:PATH` passes this check (it
        // then needs the filter file and the 18 variables: other checks).
        let enkf = site.replace(
            "predictor = \"mechanistic\"",
            "predictor = \"indpensim-enkf:f.toml\"",
        );
        std::fs::write(dir.path().join("specs.toml"), specs("final_penicillin")).unwrap();
        let m = SiteConfig::read(write(dir.path(), &enkf))
            .unwrap_err()
            .to_string();
        assert!(!m.contains("IndPenSim batch `B1`"), "{m}");
    }

    /// A `mechanistic` batch whose process file is not a process
    /// definition (other tables, not TOML) is refused when the site file is
    /// read (exit 2), naming the site file's line, the batch, what was
    /// expected and what the file is; a [process] table passes this check.
    #[test]
    fn a_mechanistic_batch_without_a_process_table_is_refused_at_load() {
        let dir = tempfile::tempdir().unwrap();
        let site = GOOD.replace("process = \"process.toml\"", "process = \"other.toml\"");
        let line = site
            .lines()
            .position(|l| l.starts_with("process = \"other.toml\""))
            .unwrap()
            + 1;
        let cases = [
            (
                "[model]\nid = \"m\"\n[parameters]\n",
                "model, parameters, no [process]",
            ),
            ("", "no tables, no [process]"),
            ("[process\n", "not TOML at line 1"),
            ("a = 1\n= 2\n", "not TOML at line 2"),
        ];
        for (text, found) in cases {
            std::fs::write(dir.path().join("other.toml"), text).unwrap();
            let e = crate::Error::Config(SiteConfig::read(write(dir.path(), &site)).unwrap_err());
            assert_eq!(e.exit_code(), 2, "{e}");
            let m = e.to_string();
            assert!(
                m.contains(&format!("site.toml:{line}: batches[0].process")),
                "{m}"
            );
            assert!(
                m.contains("for `mechanistic` batch `B1`: a process definition with a [process]"),
                "{m}"
            );
            assert!(m.contains("other.toml") && m.contains(found), "{m}");
            assert!(!m.contains("IndPenSim"), "{m}");
        }
        std::fs::write(dir.path().join("other.toml"), "[process]\n").unwrap();
        assert!(SiteConfig::read(write(dir.path(), &site)).is_ok());
    }

    #[test]
    fn a_postgres_store_is_a_url_without_password() {
        let dir = tempfile::tempdir().unwrap();
        let pg = GOOD.replace(
            "path = \"s.sqlite\"",
            "url = \"postgres://bio@db.example:5433/site\"\npassword_env = \"SITE_PW\"",
        );
        let cfg = SiteConfig::read(write(dir.path(), &pg)).unwrap();
        let t = cfg.store_pg.unwrap();
        assert_eq!(t.password_env, "SITE_PW");
        assert_eq!(t.display(), "postgres://bio@db.example:5433/site");
        assert_eq!(cfg.store_path, PathBuf::new());

        let secret = GOOD.replace(
            "path = \"s.sqlite\"",
            "url = \"postgres://bio:hunter2-pw@db.example/site\"",
        );
        let e = SiteConfig::read(write(dir.path(), &secret))
            .unwrap_err()
            .to_string();
        assert!(e.contains("store.url") && e.contains("PGPASSWORD"), "{e}");
        assert!(!e.contains("hunter2"), "{e}");

        let both = GOOD.replace(
            "path = \"s.sqlite\"",
            "path = \"s.sqlite\"\nurl = \"postgres://bio@db/site\"",
        );
        let e = SiteConfig::read(write(dir.path(), &both))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not both"), "{e}");
    }

    #[test]
    fn a_postgres_site_has_an_anchor_file_and_a_sqlite_site_may_not_name_one() {
        let dir = tempfile::tempdir().unwrap();
        let pg = GOOD.replace("path = \"s.sqlite\"", "url = \"postgres://bio@db/site\"");
        let cfg = SiteConfig::read(write(dir.path(), &pg)).unwrap();
        assert_eq!(
            cfg.store_anchor,
            Some(
                dir.path()
                    .join(format!("site.{}.anchor.jsonl", host_name()))
            )
        );
        for bad in ["\"\"", "\".\""] {
            let t = GOOD.replace(
                "path = \"s.sqlite\"",
                &format!("url = \"postgres://bio@db/site\"\nanchor = {bad}"),
            );
            let e = SiteConfig::read(write(dir.path(), &t))
                .unwrap_err()
                .to_string();
            assert!(e.contains("store.anchor"), "{bad}: {e}");
        }
        let named = GOOD.replace(
            "path = \"s.sqlite\"",
            "url = \"postgres://bio@db/site\"\nanchor = \"worm/w1.anchor.jsonl\"",
        );
        let cfg = SiteConfig::read(write(dir.path(), &named)).unwrap();
        assert_eq!(
            cfg.store_anchor,
            Some(dir.path().join("worm/w1.anchor.jsonl"))
        );
        let cfg = SiteConfig::read(write(dir.path(), GOOD)).unwrap();
        assert_eq!(cfg.store_anchor, None);
        let sqlite_named = GOOD.replace(
            "path = \"s.sqlite\"",
            "path = \"s.sqlite\"\nanchor = \"a.jsonl\"",
        );
        let e = SiteConfig::read(write(dir.path(), &sqlite_named))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("store.anchor") && e.contains("only with a PostgreSQL"),
            "{e}"
        );
    }

    #[test]
    fn a_good_file_is_read_with_conversions_and_resolved_paths() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = SiteConfig::read(write(dir.path(), GOOD)).unwrap();
        let t = &cfg.tags["GLC"];
        assert!((t.to_si.apply(1500.0) - 1.5).abs() < 1e-12);
        assert_eq!(t.result_delay_s, 7200.0);
        assert_eq!(cfg.p_in_spec_min, 0.9);
        assert_eq!(cfg.store_path, dir.path().join("s.sqlite"));
        assert_eq!(cfg.sources[0].format, DataFormat::Long);
        let b = cfg.batch_on("BR1", 1_735_689_600.0 + 10.0).unwrap();
        assert_eq!(b.id, "B1");
        assert!(cfg.batch_on("BR1", 1_735_689_600.0 - 10.0).is_none());
        assert!(cfg.batch_on("BR2", 1_735_689_600.0 + 10.0).is_none());
    }

    #[test]
    fn every_problem_is_reported_at_once_with_lines() {
        let dir = tempfile::tempdir().unwrap();
        let bad = GOOD
            .replace("unit = \"mg/L\"", "unit = \"mmHg\"")
            .replace("tenant = \"a\"", "tenant = \"zz\"")
            .replace("token_sha256 = \"0000", "token_sha256 = \"xx")
            .replace("path = \"export.csv\"", "path = \"missing.csv\"");
        let e = SiteConfig::read(write(dir.path(), &bad)).unwrap_err();
        assert!(e.mentions("tags[0].unit"), "{e}");
        assert!(e.mentions("batches[0].tenant"), "{e}");
        assert!(e.mentions("tenants[0].token_sha256"), "{e}");
        assert!(e.mentions("sources[0].path"), "{e}");
        assert!(e.iter().all(|d| d.line.is_some()), "{e}");

        let unknown = GOOD.replace("lab = true", "lab = true\ncolour = 1\nsmell = 2");
        let e = SiteConfig::read(write(dir.path(), &unknown)).unwrap_err();
        assert_eq!(e.len(), 2, "{e}");
    }

    #[test]
    fn an_opcua_source_is_read_into_its_connection_and_bad_fields_are_located() {
        let dir = tempfile::tempdir().unwrap();
        let opcua = GOOD.replace(
            "kind = \"replay\"\npath = \"export.csv\"\nunit = \"BR1\"",
            "kind = \"opcua\"\nunit = \"BR1\"\nendpoint = \"opc.tcp://h:4840/\"\n\
             publishing_interval_ms = 250\n[[sources.nodes]]\ntag = \"GLC\"\n\
             node_id = \"ns=2;i=7\"\nlab = true\n",
        );
        let cfg = SiteConfig::read(write(dir.path(), &opcua)).unwrap();
        let c = cfg.sources[0].opcua.as_ref().unwrap();
        assert_eq!(c.endpoint, "opc.tcp://h:4840/");
        assert_eq!(c.publishing_interval_ms, 250);
        assert_eq!(c.reconnect_max_ms, 10_000);
        assert!(c.backfill && c.nodes[0].lab && c.nodes[0].tag == "GLC");

        let bad = opcua
            .replace("ns=2;i=7", "nonsense")
            .replace("opc.tcp://h:4840/", "http://h");
        let e = SiteConfig::read(write(dir.path(), &bad)).unwrap_err();
        assert!(e.mentions("sources[0].endpoint"), "{e}");
        assert!(e.mentions("sources[0].nodes[0].node_id"), "{e}");
        assert!(e.iter().all(|d| d.line.is_some()), "{e}");

        let mixed = GOOD.replace(
            "path = \"export.csv\"",
            "path = \"export.csv\"\nbackfill = false",
        );
        let e = SiteConfig::read(write(dir.path(), &mixed)).unwrap_err();
        assert!(e.mentions("sources[0].backfill"), "{e}");
    }

    #[test]
    fn a_parquet_export_can_be_replayed_but_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("export.parquet"), b"PAR1").unwrap();
        let replay = GOOD.replace(
            "path = \"export.csv\"",
            "path = \"export.parquet\"\nformat = \"parquet\"",
        );
        let cfg = SiteConfig::read(write(dir.path(), &replay)).unwrap();
        assert_eq!(cfg.sources[0].format, DataFormat::Parquet);

        let tail = GOOD.replace(
            "kind = \"replay\"\npath = \"export.csv\"",
            "kind = \"tail\"\npath = \"export.parquet\"",
        );
        let e = SiteConfig::read(write(dir.path(), &tail)).unwrap_err();
        assert_eq!(e.len(), 1, "{e}");
        assert!(e.mentions("sources[0].path"), "{e}");
    }
}
