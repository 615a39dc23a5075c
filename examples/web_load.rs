//! Load benchmark of the live web API while the store is being written.
//!
//! `cargo run --release --example web_load -- [--rate 300] [--seconds 30] [--clients 6]`
//!
//! Loopback only, bounded in count and time: a SQLite store with one running
//! batch per tenant (two tenants) is served by the real server
//! (`live::web::background::spawn`, its limits included) on 127.0.0.1; a
//! writer thread meanwhile inserts readings (20 per tenant every 100 ms) and
//! a prediction per tenant every second through its own connection, as
//! `biotwin live` does; `--clients` threads, each with one keep-alive
//! connection, send `rate` requests per second in all, open loop (each
//! request has a scheduled time; latency is measured from that time, so a
//! slow answer also counts against the requests queued behind it), spread
//! over both tenants and over `/api/batches`, `/api/batches/{id}`,
//! `/readings?limit=100` and `/predictions`. At most `rate * seconds`
//! requests are sent. Prints the count, errors (non-200 or broken
//! connections), p50 / p99 / max latency per tenant and overall, and whether
//! p99 <= 10 ms with 0 errors was met.
//!
//! `--flood N` adds N threads that download sponsor-a's readings in pages
//! of 5,000 back to back for the scheduled run time (not counted above): compare
//! sponsor-b's latencies with and without it for per-tenant fairness.
//!
//! `--fairness` runs both back to back on the same server and writer: the
//! load alone, then the load with `--flood N` (default 4) flooders, and
//! prints sponsor-b's p50 and p99 ratio flood / no flood and whether the
//! 2x bound (both ratios <= 2) and p99 <= 10 ms (in each phase) were met.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use biotwin::live::sqlite_store::SqliteStore;
use biotwin::live::web::auth::token_sha256_hex;
use biotwin::live::web::background::spawn;
use biotwin::live::{BatchInfo, CqaForecast, Forecast, PredictionRecord, Quality, Reading, Store};

const TOKENS: [(&str, &str, &str); 2] = [
    ("sponsor-a", "A1", "load-token-a-0123456789"),
    ("sponsor-b", "B1", "load-token-b-9876543210"),
];

fn arg(name: &str, default: f64) -> f64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn prediction(tenant: &str, batch: &str, seq: u64) -> PredictionRecord {
    PredictionRecord {
        tenant: tenant.into(),
        batch_id: batch.into(),
        seq,
        model_id: "load@1".into(),
        input_sha256: format!("{seq:064x}"),
        created_unix_s: seq as f64,
        forecast: Forecast {
            time_s: 3600.0 * seq as f64,
            cqas: vec![CqaForecast {
                name: "titer_g_per_l".into(),
                mean: 2.4,
                p05: 2.1,
                p95: 2.7,
                lower_spec: Some(1.0),
                upper_spec: None,
                p_in_spec: Some(0.99),
            }],
            state: vec![("xv".into(), 1.0e13, 1.0e12)],
        },
    }
}

fn readings(t0: f64, n: usize) -> Vec<Reading> {
    (0..n)
        .map(|i| Reading {
            tag: ["ph", "dissolved_o2", "glucose", "temperature"][i % 4].into(),
            time_unix_s: t0 + i as f64,
            available_unix_s: None,
            value: 7.0 + (i % 7) as f64 * 0.01,
            quality: Quality::Good,
        })
        .collect()
}

/// One GET on a keep-alive connection; the status, or None when broken.
fn get(conn: &mut BufReader<TcpStream>, path: &str, token: &str) -> Option<u16> {
    write!(
        conn.get_mut(),
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\r\n"
    )
    .ok()?;
    let mut line = String::new();
    conn.read_line(&mut line).ok()?;
    let status: u16 = line.split(' ').nth(1)?.parse().ok()?;
    let mut length = None;
    loop {
        line.clear();
        conn.read_line(&mut line).ok()?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some(v) = l.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse::<usize>().ok();
        }
    }
    let mut body = vec![0u8; length?];
    conn.read_exact(&mut body).ok()?;
    Some(status)
}

fn connect(addr: SocketAddr) -> BufReader<TcpStream> {
    let s = TcpStream::connect(addr).expect("connect to the loopback server");
    s.set_nodelay(true).ok();
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    BufReader::new(s)
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * q).round() as usize]
}

fn main() {
    let rate = arg("--rate", 300.0).clamp(1.0, 5000.0);
    let seconds = arg("--seconds", 30.0).clamp(1.0, 300.0);
    let clients = (arg("--clients", 6.0) as usize).clamp(1, 64);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("load.sqlite");
    let store = Arc::new(SqliteStore::open(&path).unwrap());
    for (t, b, _) in TOKENS {
        store
            .upsert_batch(&BatchInfo {
                tenant: t.into(),
                batch_id: b.into(),
                unit: format!("BR-{b}"),
                start_unix_s: 1.7e9,
                end_unix_s: 1.7e9 + 14.0 * 86400.0,
                finished: false,
            })
            .unwrap();
        // A batch already a few days in: 5,000 readings, 20 predictions.
        store.insert_readings(t, b, &readings(1.7e9, 5000)).unwrap();
        for seq in 0..20 {
            store.insert_prediction(&prediction(t, b, seq)).unwrap();
        }
    }
    let tenants = TOKENS
        .iter()
        .map(|(t, _, tok)| (t.to_string(), token_sha256_hex(tok)))
        .collect();
    let server = spawn("127.0.0.1:0".parse().unwrap(), store, tenants).unwrap();
    let addr = server.addr();

    // The writer: what `biotwin live` does to the store meanwhile.
    let stop = Arc::new(AtomicBool::new(false));
    let writes = Arc::new(AtomicU64::new(0));
    let writer = {
        let (stop, writes) = (stop.clone(), writes.clone());
        let path = path.clone();
        std::thread::spawn(move || {
            let w = SqliteStore::open(&path).unwrap();
            let (mut k, mut seq) = (0u64, 20u64);
            while !stop.load(Ordering::Relaxed) {
                for (t, b, _) in TOKENS {
                    w.insert_readings(t, b, &readings(1.8e9 + k as f64 * 20.0, 20))
                        .unwrap();
                    if k % 10 == 0 {
                        w.insert_prediction(&prediction(t, b, seq)).unwrap();
                    }
                }
                if k % 10 == 0 {
                    seq += 1;
                }
                k += 1;
                writes.store(k, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };

    let fairness = std::env::args().any(|a| a == "--fairness");
    let flood = arg("--flood", if fairness { 4.0 } else { 0.0 }) as usize;
    let phases: Vec<usize> = if fairness {
        vec![0, flood]
    } else {
        vec![flood]
    };
    let mut b_stats = Vec::new();
    for flood in phases {
        let before = writes.load(Ordering::Relaxed);
        let (all, wall, downloads) = phase(addr, rate, seconds, clients, flood);
        let writes = writes.load(Ordering::Relaxed) - before;
        if flood > 0 {
            println!(
                "web_load: {flood} flood threads of sponsor-a downloaded {downloads} pages of up to 5,000 readings meanwhile"
            );
        }
        b_stats.push(report(&all, wall, rate, clients, writes));
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    if let [(b50, b99, ok0), (f50, f99, ok1)] = b_stats[..] {
        let (r50, r99) = (f50 / b50, f99 / b99);
        println!(
            "web_load: fairness: sponsor-b p50 {b50:.2} -> {f50:.2} ms ({r50:.2}x), p99 {b99:.2} -> {f99:.2} ms ({r99:.2}x) under sponsor-a's flood; 2x bound: {}; p99 <= 10 ms with 0 errors: {} without flood, {} with",
            if r50 <= 2.0 && r99 <= 2.0 {
                "met"
            } else {
                "NOT met"
            },
            if ok0 { "met" } else { "NOT met" },
            if ok1 { "met" } else { "NOT met" },
        );
    }
}

/// One load run: the requests' (tenant, latency ms, ok), the wall time, and
/// the pages the flooders downloaded.
fn phase(
    addr: SocketAddr,
    rate: f64,
    seconds: f64,
    clients: usize,
    flood: usize,
) -> (Vec<(usize, f64, bool)>, f64, u64) {
    let stop = Arc::new(AtomicBool::new(false));
    // The flood lasts the scheduled run (sponsor-a's own requests, queued
    // behind it, are answered after).
    let flood_end = Instant::now() + Duration::from_secs_f64(seconds + 0.2);
    let flooders: Vec<_> = (0..flood.min(32))
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut conn = connect(addr);
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) && Instant::now() < flood_end {
                    let path = format!(
                        "/api/batches/A1/readings?limit=5000&offset={}",
                        (n % 2) * 5000
                    );
                    if get(&mut conn, &path, TOKENS[0].2).is_none() {
                        conn = connect(addr);
                    }
                    n += 1;
                }
                n
            })
        })
        .collect();
    let total = (rate * seconds) as usize;
    let interval = Duration::from_secs_f64(clients as f64 / rate);
    let start = Instant::now() + Duration::from_millis(200);
    let handles: Vec<_> = (0..clients)
        .map(|c| {
            std::thread::spawn(move || {
                let mut conn = connect(addr);
                let mut out: Vec<(usize, f64, bool)> = Vec::new();
                let mut i = c;
                let mut k = 0u32;
                while i < total {
                    let due = start
                        + interval.mul_f64(k as f64)
                        + interval.mul_f64(c as f64 / clients as f64);
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    let tenant = i % 2;
                    let (_, batch, token) = TOKENS[tenant];
                    let path = match (i / 2) % 4 {
                        0 => "/api/batches".to_string(),
                        1 => format!("/api/batches/{batch}"),
                        2 => format!(
                            "/api/batches/{batch}/readings?limit=100&offset={}",
                            (i * 37) % 4900
                        ),
                        _ => format!("/api/batches/{batch}/predictions"),
                    };
                    let status = get(&mut conn, &path, token);
                    let ms = due.elapsed().as_secs_f64() * 1e3;
                    let ok = status == Some(200);
                    if status.is_none() {
                        conn = connect(addr);
                    }
                    out.push((tenant, ms, ok));
                    i += clients;
                    k += 1;
                }
                out
            })
        })
        .collect();
    let mut all: Vec<(usize, f64, bool)> = Vec::new();
    for h in handles {
        all.extend(h.join().unwrap());
    }
    let wall = start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let downloads: u64 = flooders.into_iter().map(|h| h.join().unwrap()).sum();
    (all, wall, downloads)
}

/// Prints one run's latencies; sponsor-b's p50 and p99, and whether the
/// whole run met p99 <= 10 ms with 0 errors.
fn report(
    all: &[(usize, f64, bool)],
    wall: f64,
    rate: f64,
    clients: usize,
    writes: u64,
) -> (f64, f64, bool) {
    let errors = all.iter().filter(|r| !r.2).count();
    println!(
        "web_load: {} requests in {wall:.1} s ({:.0}/s asked, {:.0}/s achieved) over 2 tenants, {clients} keep-alive clients, while a writer made {} store writes per tenant",
        all.len(),
        rate,
        all.len() as f64 / wall,
        writes * 2
    );
    for (label, filter) in [
        ("sponsor-a", Some(0)),
        ("sponsor-b", Some(1)),
        ("all", None),
    ] {
        let mut ms: Vec<f64> = all
            .iter()
            .filter(|r| filter.is_none_or(|t| r.0 == t))
            .map(|r| r.1)
            .collect();
        ms.sort_by(f64::total_cmp);
        println!(
            "  {label:<10} n {:>5}  p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>8.2} ms",
            ms.len(),
            quantile(&ms, 0.5),
            quantile(&ms, 0.99),
            ms.last().copied().unwrap_or(f64::NAN)
        );
    }
    let mut ms: Vec<f64> = all.iter().map(|r| r.1).collect();
    ms.sort_by(f64::total_cmp);
    let p99 = quantile(&ms, 0.99);
    let mut b: Vec<f64> = all.iter().filter(|r| r.0 == 1).map(|r| r.1).collect();
    b.sort_by(f64::total_cmp);
    println!(
        "  errors {errors}; target p99 <= 10 ms with 0 errors: {}",
        if errors == 0 && p99 <= 10.0 {
            "met"
        } else {
            "NOT met"
        }
    );
    (
        quantile(&b, 0.5),
        quantile(&b, 0.99),
        errors == 0 && p99 <= 10.0,
    )
}
