//! Load benchmark of the live web API while the store is being written.
//!
//! `cargo run --release --example web_load -- [--rate 300] [--seconds 30] [--clients 6]
//! [--fairness [--blocks 4] [--warmup 2]] [--flood N] [--flood-nice 10] [--no-bulk-lane]
//! [--no-vectored-writes]`
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
//! The writer writes while a phase's requests are scheduled, not in the
//! tail where late answers are still awaited.
//!
//! `--fairness` runs both on the same server and writer, in `--blocks B`
//! blocks (default 4, made even) of `2 * seconds / B` each, in the order
//! no flood, flood, flood, no flood (repeated for more blocks), after
//! `--warmup` s (default 2) of load that is not counted. The writer keeps
//! growing the store meanwhile, and the light requests' cost grows with it
//! (`COUNT(*)` of a readings page, the predictions list), so a flood phase
//! run after a no-flood phase would read a larger store; in this order a
//! steady drift weighs on both conditions alike. Each condition's blocks
//! are pooled (`seconds` of load each), and the run prints sponsor-b's p50
//! and p99 ratio flood / no flood, whether the 2x bound (both ratios <= 2)
//! and p99 <= 10 ms (in each condition) were met, each as one
//! `web_load: CRITERION ...` line at the end, the mean batch size of each
//! condition (how well the order balanced the growth), one line per block
//! and the CPU the flood added to each group of threads per page.
//!
//! The flood threads stand for a client on another machine: here they
//! share the server's cores, so they drain the bodies without parsing and
//! run at niceness `--flood-nice` (default 10; 0 makes them compete with
//! the server as equals). `--no-bulk-lane` turns the server's bulk lane
//! (`live::web::bulk`) off, `--no-vectored-writes` the vectored socket
//! writes of its connections (`live::web::limits::set_vectored_writes`),
//! for comparison.
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

    // The writer: what `biotwin live` does to the store meanwhile. It
    // writes while a phase's requests are scheduled (until `write_until`,
    // ms after `epoch`), not in the tail after a phase where late answers
    // are still awaited, so that every block of --fairness grows the store
    // by the same amount (a flood block's tail is longer).
    let stop = Arc::new(AtomicBool::new(false));
    let writes = Arc::new(AtomicU64::new(0));
    let epoch = Instant::now();
    let write_until = Arc::new(AtomicU64::new(0));
    let writer = {
        let (stop, writes, write_until) = (stop.clone(), writes.clone(), write_until.clone());
        let path = path.clone();
        std::thread::Builder::new()
            .name("load-writer".into())
            .spawn(move || {
                let w = SqliteStore::open(&path).unwrap();
                let (mut k, mut seq) = (0u64, 20u64);
                while !stop.load(Ordering::Relaxed) {
                    let now_ms = epoch.elapsed().as_millis() as u64;
                    if now_ms >= write_until.load(Ordering::Relaxed) {
                        std::thread::sleep(Duration::from_millis(10));
                        continue;
                    }
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
    // --fairness: blocks of no flood (q) and flood (f) in the order
    // q f f q, repeated, so that a drift in time (the writer growing the
    // store, the machine's load) weighs on both conditions alike; each
    // condition gets `seconds` in all, pooled over its blocks.
    let blocks = if fairness {
        (((arg("--blocks", 4.0) as usize).clamp(2, 40) + 1) / 2) * 2
    } else {
        1
    };
    let plan: Vec<usize> = if fairness {
        (0..blocks)
            .map(|k| if matches!(k % 4, 1 | 2) { flood } else { 0 })
            .collect()
    } else {
        vec![flood]
    };
    let block_seconds = if fairness {
        seconds * 2.0 / blocks as f64
    } else {
        seconds
    };
    stages::enable();
    let bulk_lane = !std::env::args().any(|a| a == "--no-bulk-lane");
    biotwin::live::web::bulk::set_enabled(bulk_lane);
    // Before any connection is accepted.
    let vectored = !std::env::args().any(|a| a == "--no-vectored-writes");
    biotwin::live::web::limits::set_vectored_writes(vectored);
    println!(
        "web_load: vectored writes (answers' bodies written as made, not copied into hyper's buffer first): {}",
        if vectored {
            "on"
        } else {
            "off (--no-vectored-writes)"
        }
    );
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
    if fairness {
        let warmup = arg("--warmup", 2.0).clamp(0.0, 60.0);
        println!(
            "web_load: --fairness: {blocks} blocks of {block_seconds:.1} s in the order q f f q (q no flood, f {flood} flood threads of sponsor-a at nice {flood_nice}), after {warmup:.1} s of load not counted; load average at start {}",
            load_average()
        );
        if warmup > 0.0 {
            write_while(&write_until, epoch, warmup);
            let _ = phase(addr, rate, warmup, clients, 0, flood_nice, 99);
        }
        let _ = stages::drain();
    }
    // Pooled per condition: [no flood, flood] (only the first without
    // --fairness).
    let mut pools: [Pool; 2] = Default::default();
    for (k, flood) in plan.into_iter().enumerate() {
        let before = writes.load(Ordering::Relaxed);
        if !fairness {
            println!(
                "web_load: phase 1 ({}), load average at start {}",
                if flood > 0 {
                    format!("{flood} flood threads of sponsor-a at nice {flood_nice}")
                } else {
                    "no flood".into()
                },
                load_average()
            );
        }
        let threads0 = server_threads();
        let _ = stages::drain();
        write_while(&write_until, epoch, block_seconds);
        let run = phase(
            addr,
            rate,
            block_seconds,
            clients,
            flood,
            flood_nice,
            k as u64,
        );
        let samples = stages::drain();
        let threads1 = server_threads();
        let after = writes.load(Ordering::Relaxed);
        // Readings per tenant's batch: 5,000 at the start, 20 per round.
        let size = |w: u64| 5000 + 20 * w;
        if fairness {
            let mut b: Vec<f64> = run
                .done
                .iter()
                .filter(|d| d.tenant == 1)
                .map(|d| ms(d.done.saturating_duration_since(d.due)))
                .collect();
            b.sort_by(f64::total_cmp);
            println!(
                "web_load: block {} ({}): {} requests in {:.1} s, {} errors; sponsor-b p50 {:.2} ms, p99 {:.2} ms; {} pages of sponsor-a; batch {} -> {} readings per tenant; load average {}",
                k + 1,
                if flood > 0 { "flood" } else { "no flood" },
                run.done.len(),
                run.wall,
                run.done.iter().filter(|d| !d.ok).count(),
                quantile(&b, 0.5),
                quantile(&b, 0.99),
                run.downloads,
                size(before),
                size(after),
                load_average()
            );
        }
        let pool = &mut pools[usize::from(flood > 0)];
        pool.blocks += 1;
        pool.flood = flood;
        pool.writes += after - before;
        pool.batch_size_sum += (size(before) + size(after)) as f64 / 2.0;
        pool.samples.extend(samples);
        for (name, (n, cpu, runq)) in thread_deltas(&threads0, &threads1, &run) {
            let g = pool.threads.entry(name).or_default();
            g.0 = g.0.max(n);
            g.1 += cpu;
            g.2 += runq;
        }
        pool.run.done.extend(run.done);
        pool.run.wall += run.wall;
        pool.run.downloads += run.downloads;
        pool.run.flood |= run.flood;
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    let mut results = Vec::new();
    for pool in pools.iter().filter(|p| p.blocks > 0) {
        if fairness {
            println!(
                "web_load: {} pooled over {} blocks ({:.1} s of load; mean batch size {:.0} readings per tenant)",
                if pool.flood > 0 {
                    format!("flood ({} threads)", pool.flood)
                } else {
                    "no flood".to_string()
                },
                pool.blocks,
                pool.run.wall,
                pool.batch_size_sum / pool.blocks as f64
            );
        }
        if pool.flood > 0 {
            println!(
                "web_load: {} flood threads of sponsor-a downloaded {} pages of up to 5,000 readings meanwhile",
                pool.flood, pool.run.downloads
            );
        }
        results.push(report(&pool.run, &pool.samples, rate, clients, pool.writes));
        print_threads(&pool.threads, pool.run.wall);
    }
    // One line per criterion, for whoever re-runs this.
    for r in &results {
        println!(
            "web_load: CRITERION p99 <= 10 ms with 0 errors, {}: {} (p99 {:.2} ms, {} errors, {} requests)",
            if r.flood {
                "under sponsor-a's flood (its own requests queue behind its pages)"
            } else if fairness {
                "no flood (the q blocks pooled)"
            } else {
                "no flood"
            },
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
            "web_load: CRITERION 2x fairness (sponsor-b p50 and p99 under sponsor-a's flood / without, blocks pooled): {} (p50 {:.2} -> {:.2} ms, {r50:.2}x; p99 {:.2} -> {:.2} ms, {r99:.2}x; sponsor-b's median lateness of sending {:.2} and {:.2} ms)",
            // A client that could not keep its schedule measures the
            // backlog of the machine, not the flood.
            // `!(x <= 1)`: a NaN lateness (no sponsor-b request at all)
            // is not judged either.
            if !(a.b_late50 <= 1.0 && b.b_late50 <= 1.0) {
                "NOT JUDGED (sponsor-b's clients fell behind their schedule: the machine could not carry the load)"
            } else if r50 <= 2.0 && r99 <= 2.0 {
                "met"
            } else {
                "NOT met"
            },
            a.b50,
            b.b50,
            a.b99,
            b.b99,
            a.b_late50,
            b.b_late50
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
        // What the flood added to each thread group (both conditions ran
        // the same scheduled load), per flood page.
        let (q, f) = (&pools[0], &pools[1]);
        println!(
            "web_load: CPU added by the flood per thread group (flood - no flood, {} pages):",
            f.run.downloads
        );
        let names: std::collections::BTreeSet<&String> =
            q.threads.keys().chain(f.threads.keys()).collect();
        for name in names {
            let cpu = |p: &Pool| p.threads.get(name).map_or(0, |g| g.1) as f64 * 1e-9;
            let (cq, cf) = (cpu(q), cpu(f));
            if cq + cf < 0.001 {
                continue;
            }
            println!(
                "  {name:<16} {cq:>7.2} -> {cf:>7.2} s  ({:+.3} ms per page)",
                (cf - cq) * 1e3 / f.run.downloads.max(1) as f64
            );
        }
    }
}

/// Lets the writer write for the `seconds` of a phase about to start (its
/// 0.2 s lead included).
fn write_while(write_until: &AtomicU64, epoch: Instant, seconds: f64) {
    let end = epoch.elapsed() + Duration::from_secs_f64(seconds + 0.2);
    write_until.store(end.as_millis() as u64, Ordering::Relaxed);
}

/// One condition's blocks, pooled.
#[derive(Default)]
struct Pool {
    blocks: usize,
    flood: usize,
    run: Run,
    samples: Vec<Stages>,
    writes: u64,
    /// Sum over blocks of the mean readings per tenant's batch.
    batch_size_sum: f64,
    /// Thread group -> (threads, ns on a CPU, ns runnable waiting).
    threads: std::collections::BTreeMap<String, (usize, u64, u64)>,
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
/// The server's async workers name themselves
/// `live::web::background::ASYNC_WORKER_NAME`; its blocking threads keep
/// `biotwin-web`, the bulk pool `biotwin-bulk`.
fn thread_deltas(
    t0: &std::collections::HashMap<u64, (String, u64, u64)>,
    t1: &std::collections::HashMap<u64, (String, u64, u64)>,
    run: &Run,
) -> std::collections::BTreeMap<String, (usize, u64, u64)> {
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
    groups
}

fn print_threads(groups: &std::collections::BTreeMap<String, (usize, u64, u64)>, wall: f64) {
    println!("  threads during the phase (CPU s / run-queue wait s, {wall:.1} s wall):");
    for (name, (n, cpu, runq)) in groups {
        if cpu + runq < 1_000_000 {
            continue;
        }
        println!(
            "    {name:<16} x{n:<3} cpu {:>7.2} s  runnable-but-waiting {:>7.2} s",
            *cpu as f64 * 1e-9,
            *runq as f64 * 1e-9
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
#[derive(Default)]
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
    /// Sponsor-b's median lateness of sending (due -> sent), ms.
    b_late50: f64,
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
        b_late50: {
            let mut v: Vec<f64> = all
                .iter()
                .filter(|r| r.tenant == 1)
                // A request never sent counts as late without bound.
                .map(|d| {
                    d.sent.as_ref().map_or(f64::INFINITY, |s| {
                        ms(s.sent.saturating_duration_since(d.due))
                    })
                })
                .collect();
            v.sort_by(f64::total_cmp);
            quantile(&v, 0.5)
        },
    }
}
