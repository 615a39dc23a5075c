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
//! 2x bound (both ratios <= 2) and p99 <= 10 ms (in each phase) were met,
//! each as one `web_load: CRITERION ...` line at the end.
//!
//! The flood threads stand for a client on another machine: here they
//! share the server's cores, so they drain the bodies without parsing and
//! run at niceness `--flood-nice` (default 10; 0 makes them compete with
//! the server as equals). `--no-bulk-lane` turns the server's bulk lane
//! (`live::web::bulk`) off, for comparison.
//!
//! Instrumentation (`live::web::stages`, switched on here): every load
//! request carries a trace id; the server records its stages (tenant share,
//! fair gate, wait for a worker thread, store work and serialisation with
//! the thread's CPU time and run-queue wait from
//! `/proc/thread-self/schedstat`), the client its send, first byte and
//! end. Each phase prints, per tenant, the mean / p50 / p99 of each stage
//! (they add up to the latency), the flood pages' stages, and the CPU time
//! and run-queue wait of each group of threads (server workers, bulk pool,
//! writer, load clients, flood clients); `--fairness` ends with where
//! sponsor-b's mean latency changed under the flood, stage by stage.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use biotwin::live::sqlite_store::SqliteStore;
use biotwin::live::web::auth::token_sha256_hex;
use biotwin::live::web::background::spawn;
use biotwin::live::web::stages::{self, Stages, TRACE_HEADER};
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

/// Client-side times of one request.
#[derive(Clone, Copy)]
struct Sent {
    /// The request was written.
    sent: Instant,
    /// The status line arrived.
    first_byte: Instant,
}

/// One GET on a keep-alive connection, with `trace` as the server's trace
/// id; the status and the client-side times, or None when broken. The body
/// is read into `body` and not parsed.
fn get(
    conn: &mut BufReader<TcpStream>,
    path: &str,
    token: &str,
    trace: u64,
    body: &mut Vec<u8>,
) -> Option<(u16, Sent)> {
    write!(
        conn.get_mut(),
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n{TRACE_HEADER}: {trace}\r\n\r\n"
    )
    .ok()?;
    let sent = Instant::now();
    let mut line = String::new();
    conn.read_line(&mut line).ok()?;
    let first_byte = Instant::now();
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
    body.resize(length?, 0);
    conn.read_exact(body).ok()?;
    Some((status, Sent { sent, first_byte }))
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
        std::thread::Builder::new()
            .name("load-writer".into())
            .spawn(move || {
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
            .unwrap()
    };

    let fairness = std::env::args().any(|a| a == "--fairness");
    let flood = arg("--flood", if fairness { 4.0 } else { 0.0 }) as usize;
    let flood_nice = arg("--flood-nice", 10.0) as i32;
    let phases: Vec<usize> = if fairness {
        vec![0, flood]
    } else {
        vec![flood]
    };
    stages::enable();
    let bulk_lane = !std::env::args().any(|a| a == "--no-bulk-lane");
    biotwin::live::web::bulk::set_enabled(bulk_lane);
    println!(
        "web_load: bulk lane (pages of more than {} readings on threads at nice +{}): {}",
        biotwin::live::web::bulk::LIGHT_ITEMS,
        biotwin::live::web::bulk::BULK_NICE_STEP,
        if bulk_lane {
            "on"
        } else {
            "off (--no-bulk-lane)"
        }
    );
    let mut results = Vec::new();
    for (k, flood) in phases.into_iter().enumerate() {
        let before = writes.load(Ordering::Relaxed);
        println!(
            "web_load: phase {} ({}), load average at start {}",
            k + 1,
            if flood > 0 {
                format!("{flood} flood threads of sponsor-a at nice {flood_nice}")
            } else {
                "no flood".into()
            },
            load_average()
        );
        let threads0 = server_threads();
        let _ = stages::drain();
        let run = phase(addr, rate, seconds, clients, flood, flood_nice, k as u64);
        let samples = stages::drain();
        let threads1 = server_threads();
        let writes = writes.load(Ordering::Relaxed) - before;
        if flood > 0 {
            println!(
                "web_load: {flood} flood threads of sponsor-a downloaded {} pages of up to 5,000 readings meanwhile",
                run.downloads
            );
        }
        results.push(report(&run, &samples, rate, clients, writes));
        print_threads(&threads0, &threads1, &run);
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    // One line per criterion, for whoever re-runs this.
    for (k, r) in results.iter().enumerate() {
        println!(
            "web_load: CRITERION p99 <= 10 ms with 0 errors, phase {} ({}): {} (p99 {:.2} ms, {} errors, {} requests)",
            k + 1,
            if r.flood { "flood" } else { "no flood" },
            if r.errors == 0 && r.p99 <= 10.0 {
                "met"
            } else {
                "NOT met"
            },
            r.p99,
            r.errors,
            r.n
        );
    }
    if let [a, b] = &results[..] {
        let (r50, r99) = (b.b50 / a.b50, b.b99 / a.b99);
        println!(
            "web_load: CRITERION 2x fairness (sponsor-b p50 and p99 under sponsor-a's flood / without): {} (p50 {:.2} -> {:.2} ms, {r50:.2}x; p99 {:.2} -> {:.2} ms, {r99:.2}x)",
            if r50 <= 2.0 && r99 <= 2.0 {
                "met"
            } else {
                "NOT met"
            },
            a.b50,
            b.b50,
            a.b99,
            b.b99
        );
        println!(
            "web_load: where sponsor-b's mean latency changed under the flood (ms, no flood -> flood):"
        );
        for (i, name) in STAGES.iter().enumerate() {
            println!(
                "  {name:<34} {:>7.3} -> {:>7.3}  ({:+.3})",
                a.b_means[i],
                b.b_means[i],
                b.b_means[i] - a.b_means[i]
            );
        }
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// (thread name, ns on a CPU, ns waiting in the run queue) of this
/// process's threads, by thread id (Linux `/proc/self/task`).
fn server_threads() -> std::collections::HashMap<u64, (String, u64, u64)> {
    let mut m = std::collections::HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return m;
    };
    for e in dir.flatten() {
        let Some(tid) = e.file_name().to_str().and_then(|t| t.parse().ok()) else {
            continue;
        };
        let name = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
        let st = std::fs::read_to_string(e.path().join("schedstat")).unwrap_or_default();
        let mut it = st.split_whitespace().map(|v| v.parse::<u64>().unwrap_or(0));
        let (cpu, runq) = (it.next().unwrap_or(0), it.next().unwrap_or(0));
        m.insert(tid, (name.trim().to_string(), cpu, runq));
    }
    m
}

/// CPU time and run-queue wait per thread group during a phase: the
/// server's threads from `/proc` (a blocking thread that ended during the
/// phase is missing), the generator's own threads as they reported them.
fn print_threads(
    t0: &std::collections::HashMap<u64, (String, u64, u64)>,
    t1: &std::collections::HashMap<u64, (String, u64, u64)>,
    run: &Run,
) {
    let mut groups: std::collections::BTreeMap<String, (usize, u64, u64)> = Default::default();
    for (tid, (name, cpu, runq)) in t1 {
        let (c0, r0) = t0.get(tid).map(|v| (v.1, v.2)).unwrap_or((0, 0));
        if name.starts_with("load-client") || name.starts_with("load-flood") {
            continue;
        }
        let g = groups.entry(name.clone()).or_default();
        g.0 += 1;
        g.1 += cpu - c0.min(*cpu);
        g.2 += runq - r0.min(*runq);
    }
    for (name, cpu, runq) in &run.generator_threads {
        let g = groups.entry(name.clone()).or_default();
        g.0 += 1;
        g.1 += cpu;
        g.2 += runq;
    }
    println!(
        "  threads during the phase (CPU s / run-queue wait s, {:.1} s wall):",
        run.wall
    );
    for (name, (n, cpu, runq)) in groups {
        if cpu + runq < 1_000_000 {
            continue;
        }
        println!(
            "    {name:<16} x{n:<3} cpu {:>7.2} s  runnable-but-waiting {:>7.2} s",
            cpu as f64 * 1e-9,
            runq as f64 * 1e-9
        );
    }
}

/// Sets this thread's niceness (Linux; the flood client's threads).
fn set_own_nice(n: i32) {
    // SAFETY: system calls on this thread's own id.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, n);
    }
}

/// One answered (or failed) request of the load clients.
struct Done {
    tenant: usize,
    trace: u64,
    due: Instant,
    sent: Option<Sent>,
    done: Instant,
    ok: bool,
}

/// One load run.
struct Run {
    done: Vec<Done>,
    wall: f64,
    downloads: u64,
    flood: bool,
    /// (name, ns on a CPU, ns in the run queue) of the generator's client
    /// and flood threads, each reported by the thread itself at its end.
    generator_threads: Vec<(String, u64, u64)>,
}

const FLOOD_TRACE: u64 = 1 << 40;

fn phase(
    addr: SocketAddr,
    rate: f64,
    seconds: f64,
    clients: usize,
    flood: usize,
    flood_nice: i32,
    phase_no: u64,
) -> Run {
    let stop = Arc::new(AtomicBool::new(false));
    // The flood lasts the scheduled run (sponsor-a's own requests, queued
    // behind it, are answered after).
    let flood_end = Instant::now() + Duration::from_secs_f64(seconds + 0.2);
    let flooders: Vec<_> = (0..flood.min(32))
        .map(|f| {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("load-flood".into())
                .spawn(move || {
                    // A real flooding client runs on its own machine; here
                    // it shares the server's cores, so it runs at lower
                    // priority (--flood-nice) and drains bodies unparsed.
                    set_own_nice(flood_nice);
                    let mut conn = connect(addr);
                    let mut body = Vec::new();
                    let mut n = 0u64;
                    while !stop.load(Ordering::Relaxed) && Instant::now() < flood_end {
                        let path = format!(
                            "/api/batches/A1/readings?limit=5000&offset={}",
                            (n % 2) * 5000
                        );
                        let trace = FLOOD_TRACE + (f as u64) * (1 << 32) + n;
                        if get(&mut conn, &path, TOKENS[0].2, trace, &mut body).is_none() {
                            conn = connect(addr);
                        }
                        n += 1;
                    }
                    let (cpu, runq) = stages::schedstat();
                    (n, ("load-flood".to_string(), cpu, runq))
                })
                .unwrap()
        })
        .collect();
    let total = (rate * seconds) as usize;
    let interval = Duration::from_secs_f64(clients as f64 / rate);
    let start = Instant::now() + Duration::from_millis(200);
    let handles: Vec<_> = (0..clients)
        .map(|c| {
            std::thread::Builder::new()
                .name("load-client".into())
                .spawn(move || {
                    let mut conn = connect(addr);
                    let mut body = Vec::new();
                    let mut out: Vec<Done> = Vec::new();
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
                        let trace = phase_no * 10_000_000 + i as u64;
                        let answer = get(&mut conn, &path, token, trace, &mut body);
                        let done = Instant::now();
                        if answer.is_none() {
                            conn = connect(addr);
                        }
                        out.push(Done {
                            tenant,
                            trace,
                            due,
                            sent: answer.map(|a| a.1),
                            done,
                            ok: answer.is_some_and(|a| a.0 == 200),
                        });
                        i += clients;
                        k += 1;
                    }
                    let (cpu, runq) = stages::schedstat();
                    (out, ("load-client".to_string(), cpu, runq))
                })
                .unwrap()
        })
        .collect();
    let mut done: Vec<Done> = Vec::new();
    let mut generator_threads = Vec::new();
    for h in handles {
        let (d, t) = h.join().unwrap();
        done.extend(d);
        generator_threads.push(t);
    }
    let wall = start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let mut downloads = 0;
    for h in flooders {
        let (n, t) = h.join().unwrap();
        downloads += n;
        generator_threads.push(t);
    }
    Run {
        done,
        wall,
        downloads,
        flood: flood > 0,
        generator_threads,
    }
}

/// The stages a load request's latency is split into (they add up to it).
const STAGES: [&str; 11] = [
    "client late (due -> sent)",
    "to server (sent -> handler entered)",
    "before gate (tenant share, auth)",
    "fair gate wait",
    "pool wait (slot -> thread runs)",
    "store+serialise on CPU",
    "store+serialise runnable, no CPU",
    "store+serialise other (I/O, locks)",
    "after work (wake, handler end)",
    "write (handler end -> 1st byte)",
    "body read",
];

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// A request's stages in ms (see [`STAGES`]), when the server's sample
/// was found.
fn split(d: &Done, s: &Stages) -> Option<[f64; 11]> {
    let sent = d.sent?;
    let handler = s.left.saturating_duration_since(s.entered);
    let other = s.work_wall.saturating_sub(s.work_cpu + s.work_runq);
    let after = handler.saturating_sub(s.before_gate + s.gate_wait + s.pool_wait + s.work_wall);
    Some([
        ms(sent.sent.saturating_duration_since(d.due)),
        ms(s.entered.saturating_duration_since(sent.sent)),
        ms(s.before_gate),
        ms(s.gate_wait),
        ms(s.pool_wait),
        ms(s.work_cpu),
        ms(s.work_runq),
        ms(other),
        ms(after),
        ms(sent.first_byte.saturating_duration_since(s.left)),
        ms(d.done.saturating_duration_since(sent.first_byte)),
    ])
}

/// What a phase's summary needs later.
struct Summary {
    n: usize,
    errors: usize,
    p99: f64,
    b50: f64,
    b99: f64,
    flood: bool,
    b_means: [f64; 11],
}

/// Prints one run's latencies and stages.
fn report(run: &Run, samples: &[Stages], rate: f64, clients: usize, writes: u64) -> Summary {
    let all = &run.done;
    let wall = run.wall;
    let errors = all.iter().filter(|r| !r.ok).count();
    let lat = |d: &Done| ms(d.done.saturating_duration_since(d.due));
    println!(
        "web_load: {} requests in {wall:.1} s ({:.0}/s asked, {:.0}/s achieved) over 2 tenants, {clients} keep-alive clients, while a writer inserted {} readings per tenant ({writes} rounds)",
        all.len(),
        rate,
        all.len() as f64 / wall,
        writes * 20
    );
    for (label, filter) in [
        ("sponsor-a", Some(0)),
        ("sponsor-b", Some(1)),
        ("all", None),
    ] {
        let mut v: Vec<f64> = all
            .iter()
            .filter(|r| filter.is_none_or(|t| r.tenant == t))
            .map(lat)
            .collect();
        v.sort_by(f64::total_cmp);
        println!(
            "  {label:<10} n {:>5}  p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>8.2} ms",
            v.len(),
            quantile(&v, 0.5),
            quantile(&v, 0.99),
            v.last().copied().unwrap_or(f64::NAN)
        );
    }
    let by_trace: std::collections::HashMap<u64, &Stages> = samples
        .iter()
        .filter_map(|s| s.trace_id.map(|t| (t, s)))
        .collect();
    let mut b_means = [0.0; 11];
    for (label, tenant) in [("sponsor-a", 0), ("sponsor-b", 1)] {
        let rows: Vec<[f64; 11]> = all
            .iter()
            .filter(|d| d.tenant == tenant)
            .filter_map(|d| split(d, by_trace.get(&d.trace)?))
            .collect();
        if rows.is_empty() {
            continue;
        }
        println!(
            "  {label} stages ({} of its requests traced): mean / p50 / p99 ms",
            rows.len()
        );
        for (i, name) in STAGES.iter().enumerate() {
            let mut v: Vec<f64> = rows.iter().map(|r| r[i]).collect();
            let mean = v.iter().sum::<f64>() / v.len() as f64;
            v.sort_by(f64::total_cmp);
            println!(
                "    {name:<36} {mean:>8.3} {:>8.3} {:>8.3}",
                quantile(&v, 0.5),
                quantile(&v, 0.99)
            );
            if tenant == 1 {
                b_means[i] = mean;
            }
        }
    }
    let flood: Vec<&Stages> = samples
        .iter()
        .filter(|s| s.trace_id.is_some_and(|t| t >= FLOOD_TRACE))
        .collect();
    if !flood.is_empty() {
        let n = flood.len() as f64;
        let mean =
            |f: &dyn Fn(&Stages) -> Duration| flood.iter().map(|s| ms(f(s))).sum::<f64>() / n;
        println!(
            "  flood pages ({}): mean ms handler {:.2}, gate wait {:.2}, pool wait {:.2}, work wall {:.2} (cpu {:.2}, runnable {:.2}); lane {:?}",
            flood.len(),
            mean(&|s| s.left.saturating_duration_since(s.entered)),
            mean(&|s| s.gate_wait),
            mean(&|s| s.pool_wait),
            mean(&|s| s.work_wall),
            mean(&|s| s.work_cpu),
            mean(&|s| s.work_runq),
            flood[0].lane
        );
    }
    let mut v: Vec<f64> = all.iter().map(lat).collect();
    v.sort_by(f64::total_cmp);
    let p99 = quantile(&v, 0.99);
    let mut b: Vec<f64> = all.iter().filter(|r| r.tenant == 1).map(lat).collect();
    b.sort_by(f64::total_cmp);
    println!(
        "  errors {errors}; target p99 <= 10 ms with 0 errors: {}",
        if errors == 0 && p99 <= 10.0 {
            "met"
        } else {
            "NOT met"
        }
    );
    Summary {
        n: all.len(),
        errors,
        p99,
        b50: quantile(&b, 0.5),
        b99: quantile(&b, 0.99),
        flood: run.flood,
        b_means,
    }
}
