//! Sustained throughput of a multi-worker PostgreSQL site (issue 19):
//! 10,000 concurrent batches, one online update per 10 s each (1,000
//! updates/s needed), shared by 2 worker *processes* through batch leases
//! (`pg_lease`), PostgreSQL on the same machine.
//!
//!   cargo run --release -p biotwin-live --example fleet_throughput -- \
//!       --url postgres://user@host:port/EMPTY_DB [--batches 10000] [--workers 2] \
//!       [--seconds 60] [--speed 1] [--forecast-every-s 60]
//!
//! The database must be empty (it is migrated here). Each worker is this
//! program re-run with `--worker`: its own engine, store connections and
//! lease connection, fed the whole site's stream (every worker receives
//! every update, as from a historian subscription, and stores and
//! processes only the batches it holds). Updates are paced in wall-clock
//! time: batch i's k-th update (batch time k x 10 s, k = 1, 2, ...) is due
//! `((k - 1) x 10 + i x 10 / batches) / speed` s after the start, so they arrive
//! evenly, `batches / 10 x speed` per second. Each worker loop hands every
//! update that is due to the engine in one `ingest_many` (stored in one
//! transaction: group commit), which maps, assimilates and, every
//! `forecast_every_s` of batch time, forecasts and records a prediction
//! (its own transaction). Latency of an update: from when it was due to
//! when the call that stored and processed it returned. Start-up
//! (registration, first acquisition and `batch.started` of every batch) is
//! not timed: the clock starts when every worker holds its share.
//!
//! Batch i started `forecast_every_s x i / batches` before the first
//! update, so the batches' forecasts fall evenly (`batches /
//! forecast_every_s` predictions/s, 167/s by default), as for batches
//! started at different times; started all at once, every batch forecasts
//! within the same update interval (a burst of 10,000 predictions in 10 s).
//!
//! The predictor is the recursive least-squares trend with a 200-member
//! ensemble of `examples/live_throughput.rs`.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use biotwin_live::Error;
use biotwin_live::config::{BatchConfig, SiteConfig, TagConfig, TenantConfig};
use biotwin_live::engine::{Engine, EngineOptions, PredictorFactory};
use biotwin_live::pg_lease::PgBatchLeases;
use biotwin_live::pg_store::{PgStore, PgTarget};
use biotwin_live::trend::TrendFactory;
use biotwin_live::{Quality, Reading};

const UPDATE_EVERY_S: f64 = 10.0;
const START: f64 = 1_735_689_600.0;

fn site(batches: usize, forecast_every_s: f64) -> SiteConfig {
    let mut tags = BTreeMap::new();
    tags.insert(
        "X".to_string(),
        TagConfig {
            tag: "X".into(),
            variable: "x".into(),
            unit: "g/L".into(),
            to_si: biotwin_ml::data::tag_map::conversion("g/L", "kg/m3")
                .expect("g/L converts to kg/m3"),
            min: -1e9,
            max: 1e9,
            stale_after_s: 3600.0,
            lab: false,
            result_delay_s: 0.0,
        },
    );
    SiteConfig {
        file: "generated".into(),
        sha256: String::new(),
        name: "fleet-throughput".into(),
        forecast_every_s,
        store_path: "unused".into(),
        store_pg: None,
        store_anchor: None,
        registry: None,
        p_in_spec_min: 0.9,
        tenants: vec![TenantConfig {
            id: "t".into(),
            token_sha256: "0".repeat(64),
        }],
        tags,
        batches: (0..batches)
            .map(|i| BatchConfig {
                id: format!("B{i:05}"),
                tenant: "t".into(),
                unit: format!("U{i:05}"),
                // Concurrent batches started at different times (spread
                // over one forecast interval), as on a plant: their
                // forecasts fall evenly, not all in the same second.
                start_unix_s: START - forecast_every_s * i as f64 / batches as f64,
                planned_end_unix_s: START + 14.0 * 86400.0,
                process: "generated".into(),
                predictor: "trend".into(),
                model: None,
                model_from_process: false,
            })
            .collect(),
        sources: vec![],
    }
}

struct Opts {
    url: String,
    batches: usize,
    workers: usize,
    seconds: f64,
    speed: f64,
    forecast_every_s: f64,
    worker: Option<usize>,
}

fn opts() -> Opts {
    let mut o = Opts {
        url: String::new(),
        batches: 10_000,
        workers: 2,
        seconds: 60.0,
        speed: 1.0,
        forecast_every_s: 60.0,
        worker: None,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for w in args.windows(2) {
        let v = &w[1];
        match w[0].as_str() {
            "--url" => o.url = v.clone(),
            "--batches" => o.batches = v.parse().expect("--batches N"),
            "--workers" => o.workers = v.parse().expect("--workers N"),
            "--seconds" => o.seconds = v.parse().expect("--seconds S"),
            "--speed" => o.speed = v.parse().expect("--speed X"),
            "--forecast-every-s" => o.forecast_every_s = v.parse().expect("--forecast-every-s S"),
            "--worker" => o.worker = Some(v.parse().expect("--worker I")),
            _ => {}
        }
    }
    assert!(
        !o.url.is_empty(),
        "--url postgres://user@host:port/EMPTY_DB is required"
    );
    o
}

fn quantile(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * q).round() as usize]
}

fn main() -> Result<(), Error> {
    let o = opts();
    match o.worker {
        Some(i) => worker(&o, i),
        None => parent(&o),
    }
}

fn parent(o: &Opts) -> Result<(), Error> {
    let t = PgTarget::new(&o.url, None);
    PgStore::migrate(&t)?;
    let exe = std::env::current_exe().map_err(|e| Error::io("current_exe", e))?;
    let mut kids = Vec::new();
    for i in 0..o.workers {
        let mut c = Command::new(&exe);
        c.args(std::env::args().skip(1))
            .args(["--worker", &i.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        kids.push(c.spawn().map_err(|e| Error::io("spawn worker", e))?);
    }
    let mut lines: Vec<_> = kids
        .iter_mut()
        .map(|k| std::io::BufReader::new(k.stdout.take().unwrap()).lines())
        .collect();
    let say = |kids: &mut Vec<std::process::Child>, s: &str| {
        for k in kids.iter_mut() {
            let stdin = k.stdin.as_mut().unwrap();
            writeln!(stdin, "{s}").unwrap();
            stdin.flush().unwrap();
        }
    };
    let expect =
        |lines: &mut Vec<std::io::Lines<std::io::BufReader<std::process::ChildStdout>>>,
         what: &str|
         -> Vec<String> {
            lines
                .iter_mut()
                .map(|l| {
                    let line = l.next().expect("a worker ended early").unwrap();
                    assert!(line.starts_with(what), "expected `{what}`, got `{line}`");
                    line
                })
                .collect()
        };
    expect(&mut lines, "connected");
    let t_setup = Instant::now();
    say(&mut kids, "start");
    // Each worker ticks until the load is balanced, then says ready.
    let ready = expect(&mut lines, "ready");
    eprintln!(
        "start-up (registration, acquisition, batch.started x {}): {:.1} s; {ready:?}",
        o.batches,
        t_setup.elapsed().as_secs_f64()
    );
    let go = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        + 0.5;
    say(&mut kids, &format!("go {go}"));
    let results = expect(&mut lines, "result");
    for k in kids.iter_mut() {
        k.wait().map_err(|e| Error::io("worker", e))?;
    }
    let mut updates = 0.0;
    let mut lat: Vec<f64> = Vec::new();
    let mut wall: f64 = 0.0;
    let mut preds = 0.0;
    for r in &results {
        let v: serde_json::Value = serde_json::from_str(&r["result ".len()..]).unwrap();
        updates += v["updates"].as_f64().unwrap();
        preds += v["predictions"].as_f64().unwrap();
        wall = wall.max(v["wall_s"].as_f64().unwrap());
        lat.extend(
            v["latencies_ms"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap()),
        );
        println!(
            "worker {}: holds {} batches, {} updates, {} predictions, {} rounds, p99 {:.1} ms",
            v["worker"],
            v["held"],
            v["updates"],
            v["predictions"],
            v["rounds"],
            v["p99_ms"].as_f64().unwrap_or(f64::NAN)
        );
    }
    let needed = o.batches as f64 / UPDATE_EVERY_S * o.speed;
    let achieved = updates / wall;
    let p50 = quantile(&mut lat, 0.5);
    let p99 = quantile(&mut lat, 0.99);
    let max = quantile(&mut lat, 1.0);
    println!(
        "{} batches, {} workers, {:.0} s at speed {} ({} updates/s needed): {updates:.0} updates and {preds:.0} predictions stored in {wall:.1} s = {achieved:.0} updates/s ({}); update latency p50 {p50:.1} ms, p99 {p99:.1} ms, max {max:.1} ms",
        o.batches,
        o.workers,
        o.seconds,
        o.speed,
        needed,
        if achieved >= 0.99 * needed && p99 < 1000.0 * UPDATE_EVERY_S / o.speed {
            "keeps up"
        } else {
            "FALLS BEHIND"
        }
    );
    Ok(())
}

fn worker(o: &Opts, index: usize) -> Result<(), Error> {
    let t = PgTarget::new(&o.url, None);
    let cfg = Arc::new(site(o.batches, o.forecast_every_s));
    let store = PgStore::open(&t)?;
    let leases = PgBatchLeases::connect(&t, &cfg.name)?;
    store.set_fence(leases.fence())?;
    let stdin = std::io::stdin();
    let mut input = stdin.lock().lines();
    println!("connected");
    assert_eq!(input.next().unwrap().unwrap(), "start");
    let opts = EngineOptions {
        progress_every: None,
        ..EngineOptions::default()
    };
    let factory: Arc<dyn PredictorFactory> = Arc::new(TrendFactory);
    let mut engine = Engine::new(cfg.clone(), Arc::new(store), factory, vec![], opts)
        .with_leases(Box::new(leases), Box::new(|_| unreachable!("no sources")));
    engine.start()?;
    // Balanced: this worker holds its share (batches / workers, rounded up
    // for the first ones) for two ticks in a row.
    let share = o.batches.div_ceil(o.workers);
    let low = o.batches / o.workers;
    let mut stable = 0;
    while stable < 2 {
        std::thread::sleep(std::time::Duration::from_millis(200));
        engine.step(false)?;
        let n = engine.running().len();
        stable = if n >= low && n <= share {
            stable + 1
        } else {
            0
        };
    }
    println!("ready {index} holds {}", engine.running().len());
    let go: f64 = input.next().unwrap().unwrap()["go ".len()..]
        .parse()
        .unwrap();
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
    };
    while now() < go {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let n = o.batches;
    // Update k (batch time k x 10 s, k = 1, 2, ...) of batch i.
    let due_at = |i: usize, k: u64| {
        go + ((k - 1) as f64 * UPDATE_EVERY_S + i as f64 * UPDATE_EVERY_S / n as f64) / o.speed
    };
    let mut next_k = vec![1u64; n];
    let mut latencies: Vec<f64> = Vec::new();
    let before = engine.stats().clone();
    let mut updates = 0u64;
    let end = go + o.seconds;
    let mut rounds = 0u64;
    loop {
        let t_now = now();
        if t_now >= end {
            break;
        }
        engine.step(false)?; // lease tick when due
        let held: std::collections::HashSet<String> = engine.running().into_iter().collect();
        let mut polled: Vec<(String, Vec<Reading>)> = Vec::new();
        let mut due_times: Vec<(f64, bool)> = Vec::new();
        for (i, b) in cfg.batches.iter().enumerate() {
            let mut rs = Vec::new();
            while due_at(i, next_k[i]) <= t_now && due_at(i, next_k[i]) < end {
                let k = next_k[i];
                let time = START + k as f64 * UPDATE_EVERY_S;
                rs.push(Reading {
                    tag: "X".into(),
                    time_unix_s: time,
                    available_unix_s: None,
                    value: 0.1 * (time - START) / 3600.0 + 0.01 * ((i as u64 + k) % 13) as f64,
                    quality: Quality::Good,
                });
                due_times.push((due_at(i, k), held.contains(&b.id)));
                next_k[i] += 1;
            }
            if !rs.is_empty() {
                polled.push((b.unit.clone(), rs));
            }
        }
        if polled.is_empty() {
            std::thread::sleep(std::time::Duration::from_millis(2));
            continue;
        }
        engine.ingest_many(&polled)?;
        rounds += 1;
        let done = now();
        for (d, mine) in due_times {
            if mine {
                updates += 1;
                latencies.push((done - d) * 1000.0);
            }
        }
    }
    let wall = now() - go;
    let s = engine.stats();
    let mut l = latencies.clone();
    let result = serde_json::json!({
        "worker": index,
        "held": engine.running().len(),
        "updates": updates,
        "predictions": s.predictions_new - before.predictions_new,
        "rounds": rounds,
        "wall_s": wall,
        "p99_ms": quantile(&mut l, 0.99),
        "latencies_ms": latencies,
    });
    println!("result {result}");
    Ok(())
}
