//! Several active `biotwin live` workers on one PostgreSQL site (batch
//! leases, `crates/live/src/pg_lease.rs`; docs/live.md, "Several workers per
//! site"): three workers replay 60 batches of the IndPenSim site while one
//! of them, chosen by a seeded draw, is killed with SIGKILL at 3 seeded
//! moments and restarted. Every prediction must be recorded exactly once
//! and be the one an uninterrupted single-worker run makes, the audit trail
//! and the record ledger must verify, and each killed worker's batches must
//! be held by a live worker again within the documented bound. The full
//! 1,000-batch / 10-kill run is `scripts/fleet_kill.sh` (docs/live.md).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::live_crash::{delays, records};
use crate::live_support::sites::{BIN, copy_site, shipped_export};
use biotwin::live::config::SiteConfig;
use biotwin::live::pg_lease::{self, LEASE_TICK_S, LEASE_TTL_S, LeaseRow};
use biotwin::live::pg_store::PgTarget;

const PEN_SITE: &str = "indpensim-site.toml";

/// The IndPenSim site with `n` batches, each on a unit of its own with a
/// replay of the same export (online tags thinned to one value an hour,
/// every lab result kept), store `pg` if given (else the SQLite file).
pub fn fleet_site(dir: &Path, n: usize, pg: Option<&PgTarget>) -> PathBuf {
    let rows: Vec<_> = shipped_export(PEN_SITE)
        .into_iter()
        .filter(|r| r.tag.contains("OFFLINE") || r.time_unix_s % 3600.0 == 0.0)
        .collect();
    let site = copy_site(PEN_SITE, dir, Some(&rows));
    let text = std::fs::read_to_string(&site).unwrap();
    let mut doc: toml_edit::DocumentMut = text.parse().unwrap();
    let b0 = doc["batches"]
        .as_array_of_tables()
        .unwrap()
        .get(0)
        .unwrap()
        .clone();
    let s0 = doc["sources"]
        .as_array_of_tables()
        .unwrap()
        .get(0)
        .unwrap()
        .clone();
    let mut bs = toml_edit::ArrayOfTables::new();
    let mut ss = toml_edit::ArrayOfTables::new();
    for i in 0..n {
        let mut b = b0.clone();
        b["id"] = toml_edit::value(format!("B{i:04}"));
        b["unit"] = toml_edit::value(format!("U{i:04}"));
        bs.push(b);
        let mut s = s0.clone();
        s["unit"] = toml_edit::value(format!("U{i:04}"));
        ss.push(s);
    }
    doc["batches"] = toml_edit::Item::ArrayOfTables(bs);
    doc["sources"] = toml_edit::Item::ArrayOfTables(ss);
    if let Some(t) = pg {
        let st = doc["store"].as_table_mut().unwrap();
        st.remove("path");
        st["url"] = toml_edit::value(&t.url);
    }
    std::fs::write(&site, doc.to_string()).unwrap();
    site
}

fn worker(site: &Path, speed: &str, log: &Path) -> Child {
    Command::new(BIN)
        .args(["live", "--config"])
        .arg(site)
        .args(["--speed", speed])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap()
}

/// The process id in a worker id (`host:pid:random`).
fn pid_of(worker: &str) -> Option<u32> {
    worker.rsplit(':').nth(1)?.parse().ok()
}

fn key(r: &LeaseRow) -> (String, String) {
    (r.tenant.clone(), r.batch_id.clone())
}

/// Runs `n` batches on three workers, killing one `kills` times; returns
/// the takeover times (s) with the number of batches each dead worker held.
pub fn fleet_run(
    n: usize,
    kills: usize,
    speed: &str,
    window_s: (f64, f64),
    seed: u64,
) -> Option<Vec<(usize, f64)>> {
    let db = biotwin::live::store_suite::pg_test_db("three_workers_share_a_postgres_site")?;
    // The reference: one uninterrupted worker on a SQLite store.
    let ref_dir = tempfile::tempdir().unwrap();
    let ref_site = fleet_site(ref_dir.path(), n, None);
    let out = Command::new(BIN)
        .args(["live", "--once", "--config"])
        .arg(&ref_site)
        .stdout(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reference = records(&SiteConfig::read(&ref_site).unwrap());
    let per_batch = reference.len() / n;
    assert!(
        per_batch >= 10 && reference.len() == per_batch * n,
        "{}",
        reference.len()
    );

    let dir = tempfile::tempdir().unwrap();
    let site = fleet_site(dir.path(), n, Some(&db.target));
    let out = Command::new(BIN)
        .args(["store", "migrate", "--config"])
        .arg(&site)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cfg = SiteConfig::read(&site).unwrap();

    let mut at: Vec<f64> = delays(seed, kills, window_s.0, window_s.1);
    at.sort_by(f64::total_cmp);
    let victims: Vec<usize> = delays(seed ^ 0x5151, kills, 0.0, 3.0)
        .into_iter()
        .map(|x| (x as usize).min(2))
        .collect();
    let mut logs = 0;
    let mut log = || {
        logs += 1;
        dir.path().join(format!("worker{logs}.log"))
    };
    let t0 = Instant::now();
    let mut workers: Vec<Child> = (0..3).map(|_| worker(&site, speed, &log())).collect();
    // The bound for a worker that vanished without closing its session;
    // a killed process's session ends at once, so a survivor's next tick
    // (every LEASE_TICK_S) takes its batches.
    let bound_s = LEASE_TTL_S + 2.0 * LEASE_TICK_S;
    let mut takeovers = Vec::new();
    for (k, (t, &v)) in at.iter().zip(&victims).enumerate() {
        while t0.elapsed().as_secs_f64() < *t {
            std::thread::sleep(Duration::from_millis(5));
        }
        let pid = workers[v].id();
        let his = |rows: &[LeaseRow]| -> Vec<(String, String)> {
            rows.iter()
                .filter(|r| !r.finished && r.worker.as_deref().and_then(pid_of) == Some(pid))
                .map(key)
                .collect()
        };
        let held = his(&pg_lease::leases(&db.target).unwrap());
        workers[v].kill().unwrap(); // SIGKILL
        let killed = Instant::now();
        let status = workers[v].wait().unwrap();
        assert!(
            status.code().is_none(),
            "worker {v} had ended before kill {k}: {status}"
        );
        loop {
            let rows = pg_lease::leases(&db.target).unwrap();
            let waiting = rows
                .iter()
                .filter(|r| held.contains(&key(r)) && !r.finished)
                .filter(|r| !r.held || r.worker.as_deref().and_then(pid_of) == Some(pid))
                .count();
            if waiting == 0 {
                break;
            }
            assert!(
                killed.elapsed().as_secs_f64() < bound_s,
                "kill {k}: {waiting} of the {} batches of the killed worker not taken over after {bound_s} s",
                held.len()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        takeovers.push((held.len(), killed.elapsed().as_secs_f64()));
        eprintln!(
            "kill {k} at {t:.1} s: {} batches taken over in {:.3} s",
            held.len(),
            killed.elapsed().as_secs_f64()
        );
        workers[v] = worker(&site, speed, &log());
    }
    let deadline = Instant::now() + Duration::from_secs(120 + n as u64 / 2);
    for (i, mut w) in workers.into_iter().enumerate() {
        loop {
            if let Some(status) = w.try_wait().unwrap() {
                if !status.success() {
                    // The last lines of every log: which worker said what.
                    let mut tails = String::new();
                    for l in 1..=logs {
                        let text =
                            std::fs::read_to_string(dir.path().join(format!("worker{l}.log")))
                                .unwrap_or_default();
                        let last: Vec<&str> = text.lines().rev().take(4).collect();
                        tails.push_str(&format!("\nworker{l}.log: {}", last.join(" | ")));
                    }
                    panic!("worker {i}: {status}{tails}");
                }
                break;
            }
            if Instant::now() >= deadline {
                let rows = pg_lease::leases(&db.target).unwrap();
                let _ = w.kill();
                panic!(
                    "worker {i} did not finish: {} of {} predictions stored; leases: {} finished, {} held, {} free or orphaned",
                    records(&cfg).len(),
                    reference.len(),
                    rows.iter().filter(|r| r.finished).count(),
                    rows.iter().filter(|r| !r.finished && r.held).count(),
                    rows.iter().filter(|r| !r.finished && !r.held).count()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let got = records(&cfg);
    assert_eq!(got.len(), reference.len(), "every prediction exactly once");
    for (g, r) in got.iter().zip(&reference) {
        assert_eq!(g, r);
    }
    let rows = pg_lease::leases(&db.target).unwrap();
    assert!(rows.iter().all(|r| r.finished), "unfinished: {rows:?}");
    let out = Command::new(BIN)
        .args(["audit", "verify", "--store", &db.target.url])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("records intact"),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!(
        "{n} batches, 3 workers, {kills} kills (t = {at:.2?} s): {} predictions once each; takeover (batches held, s): {takeovers:.3?}",
        got.len()
    );
    Some(takeovers)
}

/// 60 batches, 3 workers, one killed at 3 seeded moments (about 5 s of
/// replay at 160,000x).
#[test]
fn three_workers_share_a_postgres_site_and_take_over_a_killed_one() {
    let Some(t) = fleet_run(60, 3, "160000", (2.0, 4.5), 0xF1EE7) else {
        return;
    };
    assert_eq!(t.len(), 3);
    assert!(
        t.iter().any(|(held, _)| *held > 0),
        "no kill hit a worker holding batches: {t:?}"
    );
}

/// The full run of issue 19 (not in CI: minutes): 1,000 batches, 3
/// workers, one killed at 10 seeded moments between 60 and 180 s, at
/// 4,000x (a batch's replay takes about 200 s, so the kills fall after
/// start-up and before the batches end). `scripts/fleet_kill.sh` runs it;
/// docs/live.md reports its output.
#[test]
#[ignore = "minutes of wall clock; run by scripts/fleet_kill.sh"]
fn fleet_1000_batches_10_kills_on_postgres() {
    let Some(t) = fleet_run(1000, 10, "4000", (60.0, 180.0), 0x1000_F1EE7) else {
        return;
    };
    assert_eq!(t.len(), 10);
}
