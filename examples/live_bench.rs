//! Live benchmark with the real mechanistic predictor (issue 6, speed item):
//! 1,000 concurrent batches of the xing2010 reference process, each
//! receiving one update per 10 s of simulated time, through the live engine
//! and one SQLite store, on two threads (the engine is single-threaded; the
//! batches are split between two engines sharing the store, as a site
//! would run two `biotwin live` workers). Every update is stored, mapped,
//! assimilated by the batch's extended Kalman filter and followed by a
//! 200-member forecast to the batch end, which is recorded.
//!
//!   cargo run --release --example live_bench -- [--hours H] [--threads N] [--batches N]
//!
//! Prints updates/s achieved against the 100/s required, and the per-update
//! latency (assimilation since the last forecast + the forecast, on the
//! thread that ran it) p50/p99, wall clock and thread CPU time.
//!
//! The plant: the reference process simulated once with mu_max +5 %; each
//! batch reads its broth volume (online) every 10 s and, every hour, a
//! viable-cell lab result, with a small per-batch offset so that no two
//! batches are identical.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use biotwin::data::tag_map::conversion;
use biotwin::live::Error;
use biotwin::live::config::{BatchConfig, SiteConfig, TagConfig, TenantConfig};
use biotwin::live::engine::{Engine, EngineOptions, PredictorFactory};
use biotwin::live::factory::SiteFactory;
use biotwin::live::mechanistic::MechanisticOptions;
use biotwin::live::sqlite_store::SqliteStore;
use biotwin::live::{Forecast, Observation, Predictor, Quality, Reading, Store};
use biotwin::simulation::{Scenario, load_process};

const UPDATE_EVERY_S: f64 = 10.0;
const START: f64 = 1_735_689_600.0;

/// CPU time of this thread, ns (the wall clock on a shared machine includes
/// waiting for a core).
fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec we own.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc == 0 {
        ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
    } else {
        0
    }
}

/// (wall ms, CPU ms) of each update: assimilation since the last forecast
/// plus the forecast.
type Latencies = Arc<Mutex<Vec<(f64, f64)>>>;

/// The real predictor, timed.
struct Timed {
    inner: Box<dyn Predictor>,
    wall_s: f64,
    cpu_ns: u64,
    out: Latencies,
}

impl Predictor for Timed {
    fn model_id(&self) -> String {
        self.inner.model_id()
    }
    fn assimilate(&mut self, o: &Observation) -> Result<bool, Error> {
        let (t0, c0) = (Instant::now(), thread_cpu_ns());
        let r = self.inner.assimilate(o);
        self.wall_s += t0.elapsed().as_secs_f64();
        self.cpu_ns += thread_cpu_ns().saturating_sub(c0);
        r
    }
    fn forecast(&mut self, seed: u64) -> Result<Forecast, Error> {
        let (t0, c0) = (Instant::now(), thread_cpu_ns());
        let f = self.inner.forecast(seed);
        let wall = self.wall_s + t0.elapsed().as_secs_f64();
        let cpu = self.cpu_ns + thread_cpu_ns().saturating_sub(c0);
        if let Ok(mut v) = self.out.lock() {
            v.push((wall * 1e3, cpu as f64 * 1e-6));
        }
        (self.wall_s, self.cpu_ns) = (0.0, 0);
        f
    }
}

struct TimedFactory {
    real: SiteFactory,
    out: Latencies,
}

impl PredictorFactory for TimedFactory {
    fn create(&self, b: &BatchConfig) -> Result<Box<dyn Predictor>, Error> {
        Ok(Box::new(Timed {
            inner: self.real.create(b)?,
            wall_s: 0.0,
            cpu_ns: 0,
            out: self.out.clone(),
        }))
    }
}

fn tag(tag: &str, variable: &str, unit: &str, si: &str, lab: bool) -> TagConfig {
    TagConfig {
        tag: tag.into(),
        variable: variable.into(),
        unit: unit.into(),
        to_si: conversion(unit, si).expect("unit converts"),
        min: 0.0,
        max: 1e9,
        stale_after_s: 7200.0,
        lab,
        result_delay_s: 0.0,
    }
}

fn site(ids: std::ops::Range<usize>, process: &PathBuf, store: PathBuf) -> SiteConfig {
    let mut tags = BTreeMap::new();
    tags.insert("VOL".into(), tag("VOL", "volume", "L", "m3", false));
    tags.insert("XV".into(), tag("XV", "viable_cells", "1/m3", "1/m3", true));
    SiteConfig {
        file: "generated (examples/live_bench.rs)".into(),
        sha256: String::new(),
        name: "bench".into(),
        forecast_every_s: UPDATE_EVERY_S, // a forecast at every update
        store_path: store,
        store_pg: None,
        store_anchor: None,
        registry: None,
        p_in_spec_min: 0.9,
        tenants: vec![TenantConfig {
            id: "t".into(),
            token_sha256: "0".repeat(64),
        }],
        tags,
        batches: ids
            .map(|i| BatchConfig {
                id: format!("B{i:04}"),
                tenant: "t".into(),
                unit: format!("U{i:04}"),
                start_unix_s: START,
                // Planned 14 d: the forecast integrates to the real end.
                planned_end_unix_s: START + 336.0 * 3600.0,
                process: process.clone(),
                predictor: "mechanistic".into(),
                model: None,
                model_from_process: false,
            })
            .collect(),
        sources: vec![],
    }
}

/// Linear interpolation in an hourly table.
fn interp(t_h: &[f64], y: &[f64], t: f64) -> f64 {
    let k = t_h.partition_point(|&x| x <= t).clamp(1, t_h.len() - 1);
    let (a, b) = (t_h[k - 1], t_h[k]);
    y[k - 1] + (y[k] - y[k - 1]) * ((t - a) / (b - a)).clamp(0.0, 1.0)
}

fn pct(sorted: &[f64], q: f64) -> f64 {
    sorted[((q * (sorted.len() - 1) as f64).round() as usize).min(sorted.len() - 1)]
}

fn main() -> Result<(), Error> {
    let (mut hours, mut threads, mut batches) = (0.05, 2usize, 1000usize);
    let args: Vec<String> = std::env::args().skip(1).collect();
    for w in args.windows(2) {
        match w[0].as_str() {
            "--hours" => hours = w[1].parse().unwrap_or(hours),
            "--threads" => threads = w[1].parse().unwrap_or(threads),
            "--batches" => batches = w[1].parse().unwrap_or(batches),
            _ => {}
        }
    }
    let threads = threads.max(1);
    let process = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("process-models/processes/xing2010-reference.toml");

    // The plant trajectory.
    let def = load_process(&process).map_err(Error::from)?;
    let mut sc = Scenario::from_definition(&def).map_err(Error::from)?;
    if let Some(j) = sc.family.params().iter().position(|s| s.name == "mu_max") {
        sc.params_si[j] *= 1.05;
    }
    let out = sc.simulate(true)?;
    let col = |n: &str| out.columns.iter().position(|c| c == n).expect("column");
    let (it, iv, ix) = (col("time_h"), col("volume_l"), col("xv_1e6_cells_per_ml"));
    let rows: Vec<Vec<f64>> = out.rows().map(|r| r.to_vec()).collect();
    let t_h: Vec<f64> = rows.iter().map(|r| r[it]).collect();
    let vol: Vec<f64> = rows.iter().map(|r| r[iv]).collect();
    let xv: Vec<f64> = rows.iter().map(|r| r[ix]).collect();

    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
    let path = dir.path().join("bench.sqlite");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path)?);
    let lat: Latencies = Arc::new(Mutex::new(Vec::new()));
    let steps = (hours * 3600.0 / UPDATE_EVERY_S).round() as usize;

    // Engines, one per thread, each with its share of the batches; the
    // predictors (1,000 filters) are built before the clock starts.
    let t_build = Instant::now();
    let mut engines = Vec::new();
    for k in 0..threads {
        let ids = (k * batches / threads)..((k + 1) * batches / threads);
        let cfg = Arc::new(site(ids, &process, path.clone()));
        let factory = Arc::new(TimedFactory {
            real: SiteFactory::new(&cfg.file, MechanisticOptions::default()),
            out: lat.clone(),
        });
        let opts = EngineOptions {
            progress_every: None,
            ..EngineOptions::default()
        };
        let mut e = Engine::new(cfg.clone(), store.clone(), factory, vec![], opts);
        e.start()?;
        engines.push((e, cfg));
    }
    let build_s = t_build.elapsed().as_secs_f64();

    let t0 = Instant::now();
    let results: Vec<Result<(u64, u64), Error>> = std::thread::scope(|s| {
        let handles: Vec<_> = engines
            .iter_mut()
            .map(|(engine, cfg)| {
                let (t_h, vol, xv) = (&t_h, &vol, &xv);
                s.spawn(move || -> Result<(u64, u64), Error> {
                    let units: Vec<String> = cfg.batches.iter().map(|b| b.unit.clone()).collect();
                    for k in 0..steps {
                        let ts = (k + 1) as f64 * UPDATE_EVERY_S;
                        let th = ts / 3600.0;
                        for (i, unit) in units.iter().enumerate() {
                            let offset = 1.0 + 0.002 * ((i % 7) as f64 - 3.0);
                            let mut rs = vec![Reading {
                                tag: "VOL".into(),
                                time_unix_s: START + ts,
                                available_unix_s: None,
                                value: interp(t_h, vol, th) * offset,
                                quality: Quality::Good,
                            }];
                            if (ts as u64).is_multiple_of(3600) {
                                rs.push(Reading {
                                    tag: "XV".into(),
                                    time_unix_s: START + ts,
                                    available_unix_s: None,
                                    value: interp(t_h, xv, th) * 1e12 * offset, // 1e6/mL -> 1/m3
                                    quality: Quality::Good,
                                });
                            }
                            engine.ingest(unit, &rs)?;
                        }
                    }
                    let st = engine.stats();
                    Ok((st.predictions_new, st.observations_assimilated))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("engine thread"))
            .collect()
    });
    let wall = t0.elapsed().as_secs_f64();
    let (mut preds, mut assimilated) = (0, 0);
    for r in results {
        let (p, a) = r?;
        preds += p;
        assimilated += a;
    }
    let updates = (steps * batches) as f64;
    let achieved = updates / wall;
    let required = batches as f64 / UPDATE_EVERY_S;
    println!(
        "{batches} batches (xing2010-reference, mechanistic EKF + 200-member forecast at every update), {steps} updates each ({hours} h simulated at 1 update/{UPDATE_EVERY_S} s), {threads} threads, SQLite store; predictors built in {build_s:.1} s"
    );
    println!("predictions recorded: {preds}; observations assimilated: {assimilated}");
    println!(
        "achieved {achieved:.0} updates/s, required {required:.0} updates/s: {} ({:.1}x headroom; {wall:.1} s wall)",
        if achieved >= required {
            "keeps up"
        } else {
            "FALLS BEHIND"
        },
        achieved / required
    );
    let v = lat.lock().map(|v| v.clone()).unwrap_or_default();
    if !v.is_empty() {
        let mut w: Vec<f64> = v.iter().map(|x| x.0).collect();
        let mut c: Vec<f64> = v.iter().map(|x| x.1).collect();
        w.sort_by(f64::total_cmp);
        c.sort_by(f64::total_cmp);
        println!(
            "per-update latency (estimation + 200-member forecast), {} updates: wall ms p50 {:.2} p99 {:.2}; thread CPU ms p50 {:.2} p99 {:.2}; floor p99 <= 10 ms: {}",
            v.len(),
            pct(&w, 0.5),
            pct(&w, 0.99),
            pct(&c, 0.5),
            pct(&c, 0.99),
            if pct(&c, 0.99) <= 10.0 {
                "met (CPU)"
            } else {
                "NOT met"
            }
        );
    }
    Ok(())
}
