//! The shipped example sites with their real predictors, for the fault and
//! crash tests: `example-site.toml` (CHO platform batch B01, the mechanistic
//! EKF predictor) and `indpensim-site.toml` (IndPenSim batch B01, the
//! surrogate ladder). Each is copied into a temporary directory with its
//! paths made absolute, its store there, and optionally its export replaced
//! by a (faulted) copy.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use biotwin::live::config::SiteConfig;
use biotwin::live::engine::{Engine, Stats, open_source};
use biotwin::live::factory::SiteFactory;
use biotwin::live::mechanistic::MechanisticOptions;
use biotwin::live::sqlite_store::SqliteStore;
use biotwin::live::{Forecast, Store};

pub const ROOT: &str = env!("CARGO_MANIFEST_DIR");
pub const BIN: &str = env!("CARGO_BIN_EXE_biotwin");

pub fn sites_dir() -> PathBuf {
    Path::new(ROOT).join("process-models/sites")
}

/// One row of a long export (quality and result time optional).
#[derive(Debug, Clone, PartialEq)]
pub struct ExportRow {
    pub time_unix_s: f64,
    pub tag: String,
    pub value: f64,
    pub quality: Option<String>,
    pub result_unix_s: Option<f64>,
}

/// The export a shipped site replays (its first source), parsed.
pub fn shipped_export(site: &str) -> Vec<ExportRow> {
    let cfg = SiteConfig::read(sites_dir().join(site)).unwrap();
    let path = cfg.sources[0]
        .path
        .as_ref()
        .expect("a replay source with a path");
    let mut text = String::new();
    let f = std::fs::File::open(path).unwrap();
    flate2::read::GzDecoder::new(f)
        .read_to_string(&mut text)
        .unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |n: &str| header.iter().position(|h| *h == n);
    let (t, g, v) = (
        col("timestamp").unwrap(),
        col("tag").unwrap(),
        col("value").unwrap(),
    );
    let (q, r) = (col("quality"), col("result_timestamp"));
    let ts = |s: &str| biotwin::data::timestamp::parse_rfc3339(s).unwrap();
    lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            ExportRow {
                time_unix_s: ts(f[t]),
                tag: f[g].to_string(),
                value: f[v].parse().unwrap(),
                quality: q.map(|i| f[i].to_string()).filter(|s| !s.is_empty()),
                result_unix_s: r
                    .and_then(|i| f.get(i))
                    .filter(|s| !s.is_empty())
                    .map(|s| ts(s)),
            }
        })
        .collect()
}

pub fn write_rows(path: &Path, rows: &[ExportRow]) {
    let fmt = biotwin::data::timestamp::format_rfc3339;
    let mut s = String::from("timestamp,tag,value,quality,result_timestamp\n");
    for r in rows {
        s.push_str(&format!(
            "{},{},{},{},{}\n",
            fmt(r.time_unix_s),
            r.tag,
            r.value,
            r.quality.as_deref().unwrap_or("good"),
            r.result_unix_s.map(fmt).unwrap_or_default()
        ));
    }
    std::fs::write(path, s).unwrap();
}

/// Copies shipped site `name` into `dir`: relative paths resolved against
/// the shipped file, the store `dir/live.sqlite`; with `rows`, the export is
/// replaced by `dir/export.csv` holding them. Returns the site file.
pub fn copy_site(name: &str, dir: &Path, rows: Option<&[ExportRow]>) -> PathBuf {
    let text = std::fs::read_to_string(sites_dir().join(name)).unwrap();
    let mut doc: toml_edit::DocumentMut = text.parse().unwrap();
    let abs = |p: &str| sites_dir().join(p).display().to_string();
    doc["store"]["path"] = toml_edit::value(dir.join("live.sqlite").display().to_string());
    for b in doc["batches"].as_array_of_tables_mut().unwrap().iter_mut() {
        let process = abs(b["process"].as_str().unwrap());
        b["process"] = toml_edit::value(process);
        let predictor = b["predictor"].as_str().unwrap().to_string();
        if let Some(p) = predictor.strip_prefix("surrogate:") {
            b["predictor"] = toml_edit::value(format!("surrogate:{}", abs(p)));
        }
    }
    for s in doc["sources"].as_array_of_tables_mut().unwrap().iter_mut() {
        let path = match rows {
            Some(rows) => {
                let p = dir.join("export.csv");
                write_rows(&p, rows);
                p.display().to_string()
            }
            None => abs(s["path"].as_str().unwrap()),
        };
        s["path"] = toml_edit::value(path);
    }
    let site = dir.join(name);
    std::fs::write(&site, doc.to_string()).unwrap();
    site
}

/// The outcome of a run of the real engine with the real predictors.
pub struct RealRun {
    pub stats: Stats,
    pub store: Arc<SqliteStore>,
    pub _dir: tempfile::TempDir,
}

/// Runs site `name` (with `rows` as its export, if given) once, unpaced,
/// through the engine and the predictor factory of `biotwin live`.
pub fn run_real(name: &str, rows: Option<&[ExportRow]>) -> RealRun {
    run_real_with(name, rows, None)
}

/// As [`run_real`], with `sources` replacing the site's own.
pub fn run_real_with(
    name: &str,
    rows: Option<&[ExportRow]>,
    sources: Option<Vec<(Box<dyn biotwin::live::Source>, String)>>,
) -> RealRun {
    let dir = tempfile::tempdir().unwrap();
    let site = copy_site(name, dir.path(), rows);
    let cfg = Arc::new(SiteConfig::read(&site).unwrap());
    let store = Arc::new(SqliteStore::open(&cfg.store_path).unwrap());
    let sources = sources.unwrap_or_else(|| {
        cfg.sources
            .iter()
            .map(|s| (open_source(s, 0.0).unwrap(), s.unit.clone()))
            .collect()
    });
    let factory = Arc::new(SiteFactory::new(&site, MechanisticOptions::default()));
    let mut e = Engine::new(cfg, store.clone(), factory, sources, super::quiet());
    e.start().unwrap();
    let stats = e.run(true).unwrap().clone();
    RealRun {
        stats,
        store,
        _dir: dir,
    }
}

/// (seq, input hash, forecast) of batch B01 of sponsor-a.
pub fn forecasts(store: &dyn Store) -> Vec<(u64, String, Forecast)> {
    store
        .predictions("sponsor-a", "B01")
        .unwrap()
        .into_iter()
        .map(|p| (p.seq, p.input_sha256, p.forecast))
        .collect()
}
