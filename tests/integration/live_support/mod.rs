//! Shared pieces of the live tests: a small test predictor (linear trend
//! of one variable, extrapolated to the batch end with a residual-based
//! prediction interval) that logs what the engine hands it, a synthetic
//! export writer and a site file; and, in [`sites`], the shipped example
//! sites with the real predictors of `biotwin live` (mechanistic EKF,
//! surrogate ladder).
#![allow(dead_code)]

pub mod sites;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use biotwin::live::Error;
use biotwin::live::config::{BatchConfig, SiteConfig};
use biotwin::live::engine::{Engine, EngineOptions, PredictorFactory, open_source};
use biotwin::live::sqlite_store::SqliteStore;
use biotwin::live::{CqaForecast, Forecast, Observation, Predictor, Source, Store};

/// Batch start of every synthetic batch: 2025-01-01T00:00:00Z.
pub const START: f64 = 1_735_689_600.0;
pub const HOURS: f64 = 48.0;
pub const EVERY_S: f64 = 6.0 * 3600.0;

/// What a predictor saw, for assertions: observations and forecast calls.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Obs(Observation),
    Forecast(u64),
}

/// Linear least-squares trend of `variable` against sample time,
/// extrapolated to `end_s`. The interval: t-free normal approximation
/// mean +- z * s * sqrt(1 + 1/n + (t - tbar)^2 / Sxx), with s the residual
/// standard deviation; quantiles and P(in spec) from a seeded ensemble.
pub struct TrendPredictor {
    variable: String,
    end_s: f64,
    lower_spec: f64,
    /// (time_s, value), kept sorted by time so that arrival order does not
    /// change the fit.
    points: Vec<(f64, f64)>,
    latest_s: f64,
    log: Arc<Mutex<Vec<Event>>>,
}

impl Predictor for TrendPredictor {
    fn model_id(&self) -> String {
        format!("linear-trend:{}@1", self.variable)
    }

    fn assimilate(&mut self, obs: &Observation) -> Result<bool, Error> {
        if let Ok(mut l) = self.log.lock() {
            l.push(Event::Obs(obs.clone()));
        }
        if obs.variable != self.variable {
            return Ok(false);
        }
        let at = self.points.partition_point(|p| p.0 <= obs.time_s);
        self.points.insert(at, (obs.time_s, obs.value_si));
        self.latest_s = self.latest_s.max(obs.available_s);
        Ok(true)
    }

    fn forecast(&mut self, seed: u64) -> Result<Forecast, Error> {
        if let Ok(mut l) = self.log.lock() {
            l.push(Event::Forecast(seed));
        }
        let n = self.points.len() as f64;
        let (mean, sd) = if self.points.len() < 3 {
            let last = self.points.last().map_or(0.0, |p| p.1);
            (last, last.abs().max(1.0))
        } else {
            let tbar = self.points.iter().map(|p| p.0).sum::<f64>() / n;
            let ybar = self.points.iter().map(|p| p.1).sum::<f64>() / n;
            let sxx: f64 = self.points.iter().map(|p| (p.0 - tbar).powi(2)).sum();
            let sxy: f64 = self
                .points
                .iter()
                .map(|p| (p.0 - tbar) * (p.1 - ybar))
                .sum();
            let slope = sxy / sxx;
            let mean = ybar + slope * (self.end_s - tbar);
            let sse: f64 = self
                .points
                .iter()
                .map(|p| (p.1 - ybar - slope * (p.0 - tbar)).powi(2))
                .sum();
            let s = (sse / (n - 2.0)).sqrt().max(1e-9);
            let sd = s * (1.0 + 1.0 / n + (self.end_s - tbar).powi(2) / sxx).sqrt();
            (mean, sd)
        };
        let mut rng = biotwin::random::SplitMix64::new(seed);
        let mut draws: Vec<f64> = (0..200).map(|_| mean + sd * rng.normal_open()).collect();
        draws.sort_by(f64::total_cmp);
        let p_in = draws.iter().filter(|d| **d >= self.lower_spec).count() as f64 / 200.0;
        Ok(Forecast {
            time_s: self.latest_s,
            cqas: vec![CqaForecast {
                name: format!("{}_end", self.variable),
                mean,
                p05: draws[10],
                p95: draws[189],
                lower_spec: Some(self.lower_spec),
                upper_spec: None,
                p_in_spec: Some(p_in),
            }],
            state: self
                .points
                .last()
                .map(|p| (self.variable.clone(), p.1, sd))
                .into_iter()
                .collect(),
        })
    }
}

/// Factory of trend predictors on `titer`; every predictor it makes logs
/// into `log` (per batch id).
#[derive(Clone, Default)]
pub struct TrendFactory {
    pub lower_spec: f64,
    pub logs: Arc<Mutex<BTreeMap<String, Arc<Mutex<Vec<Event>>>>>>,
}

impl TrendFactory {
    pub fn new(lower_spec: f64) -> Self {
        TrendFactory {
            lower_spec,
            logs: Arc::default(),
        }
    }
    pub fn events(&self, batch: &str) -> Vec<Event> {
        let logs = self.logs.lock().unwrap();
        logs.get(batch)
            .map(|l| l.lock().unwrap().clone())
            .unwrap_or_default()
    }
}

impl PredictorFactory for TrendFactory {
    fn create(&self, batch: &BatchConfig) -> Result<Box<dyn Predictor>, Error> {
        let log = Arc::new(Mutex::new(Vec::new()));
        self.logs
            .lock()
            .unwrap()
            .insert(batch.id.clone(), log.clone());
        Ok(Box::new(TrendPredictor {
            variable: "titer".into(),
            end_s: batch.planned_end_unix_s - batch.start_unix_s,
            lower_spec: self.lower_spec,
            points: Vec::new(),
            latest_s: 0.0,
            log,
        }))
    }
}

/// One row of a long export.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub time_unix_s: f64,
    pub tag: String,
    pub value: f64,
    pub quality: &'static str,
    pub result_unix_s: Option<f64>,
}

/// A clean 48 h batch: DO every 10 min (percent), titer every 6 h from the
/// lab (g/L, linear 0.05 g/L/h with a small deterministic wiggle), its result
/// 2 h after the sample and written to the export at that time.
pub fn clean_rows() -> Vec<Row> {
    let mut rows = Vec::new();
    for i in 0..=(HOURS as usize * 6) {
        let t = START + i as f64 * 600.0;
        rows.push(Row {
            time_unix_s: t,
            tag: "DO".into(),
            value: 40.0 + (i % 7) as f64 * 0.3,
            quality: "good",
            result_unix_s: None,
        });
    }
    for k in 0..8 {
        let h = 1.0 + 6.0 * k as f64;
        rows.push(Row {
            time_unix_s: START + h * 3600.0,
            tag: "TITER".into(),
            value: titer_at(h),
            quality: "good",
            result_unix_s: Some(START + (h + 2.0) * 3600.0),
        });
    }
    sort_as_exported(&mut rows);
    rows
}

pub fn titer_at(h: f64) -> f64 {
    0.05 * h + 0.01 * (h * 0.7).sin()
}

/// Rows in the order a historian export would list them: by the time each
/// value became known.
pub fn sort_as_exported(rows: &mut [Row]) {
    rows.sort_by(|a, b| {
        a.result_unix_s
            .unwrap_or(a.time_unix_s)
            .total_cmp(&b.result_unix_s.unwrap_or(b.time_unix_s))
    });
}

pub fn fmt_time(t: f64) -> String {
    biotwin::data::timestamp::format_rfc3339(t)
}

pub fn write_export(path: &Path, rows: &[Row]) {
    let mut s = String::from("timestamp,tag,value,quality,result_timestamp\n");
    for r in rows {
        s.push_str(&format!(
            "{},{},{},{},{}\n",
            fmt_time(r.time_unix_s),
            r.tag,
            r.value,
            r.quality,
            r.result_unix_s.map(fmt_time).unwrap_or_default()
        ));
    }
    std::fs::write(path, s).unwrap();
}

/// A site file for one 48 h batch `B1` on unit `BR1` replaying `export`.
/// `titer_unit` is the unit the historian writes titer in.
pub fn site_text(titer_unit: &str) -> String {
    format!(
        r#"[site]
name = "test-site"
forecast_every_s = {EVERY_S}

[store]
path = "live.sqlite"

[alerts]
p_in_spec_min = 0.9

[variables.dissolved_o2]
si_unit = "1"

[variables.titer]
si_unit = "kg/m3"

[[tenants]]
id = "sponsor-a"
token_sha256 = "{zeros}"

[[tags]]
tag = "DO"
variable = "dissolved_o2"
unit = "%"
min = 0.0
max = 100.0
stale_after_s = 7200.0

[[tags]]
tag = "TITER"
variable = "titer"
unit = "{titer_unit}"
min = 0.0
max = 20.0
stale_after_s = 43200.0
lab = true
result_delay_h = 2.0

[[batches]]
id = "B1"
tenant = "sponsor-a"
unit = "BR1"
start = "2025-01-01T00:00:00Z"
planned_end = "2025-01-03T00:00:00Z"
process = "process.toml"
predictor = "mechanistic"

[[sources]]
kind = "replay"
path = "export.csv"
format = "long"
unit = "BR1"
"#,
        zeros = "0".repeat(64)
    )
}

/// A folder with a site file and `rows` as its export.
pub fn site(rows: &[Row]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("process.toml"), "[process]\n").unwrap();
    write_export(&dir.path().join("export.csv"), rows);
    let p = dir.path().join("site.toml");
    std::fs::write(&p, site_text("g/L")).unwrap();
    (dir, p)
}

pub fn quiet() -> EngineOptions {
    EngineOptions {
        progress_every: None,
        retry_base: std::time::Duration::from_millis(5),
        retry_max: std::time::Duration::from_millis(40),
        once_max_failures: 8,
    }
}

/// The outcome of a run: its counts and the store.
pub struct Run {
    pub stats: biotwin::live::engine::Stats,
    pub store: Arc<SqliteStore>,
    pub factory: TrendFactory,
}

/// Runs the site once (unpaced), with the site's own sources or `sources`.
pub fn run_site(
    site_file: &Path,
    factory: TrendFactory,
    sources: Option<Vec<(Box<dyn Source>, String)>>,
) -> Run {
    let cfg = Arc::new(SiteConfig::read(site_file).unwrap());
    let store = Arc::new(SqliteStore::open(&cfg.store_path).unwrap());
    let sources = sources.unwrap_or_else(|| {
        cfg.sources
            .iter()
            .map(|s| (open_source(s, 0.0).unwrap(), s.unit.clone()))
            .collect()
    });
    let mut e = Engine::new(
        cfg,
        store.clone(),
        Arc::new(factory.clone()),
        sources,
        quiet(),
    );
    e.start().unwrap();
    let stats = e.run(true).unwrap().clone();
    Run {
        stats,
        store,
        factory,
    }
}

/// Predictions without the wall-clock creation time, for comparing runs.
pub fn predictions(store: &dyn Store) -> Vec<(u64, String, Forecast)> {
    store
        .predictions("sponsor-a", "B1")
        .unwrap()
        .into_iter()
        .map(|p| (p.seq, p.input_sha256, p.forecast))
        .collect()
}

/// No reading vanished: each was accepted or refused with a reason.
pub fn assert_accounted(stats: &biotwin::live::engine::Stats) {
    assert_eq!(
        stats.observations_accepted + stats.rejections.total(),
        stats.readings_received + stats.readings_resumed,
        "{stats}"
    );
}
