//! Crash and restart of the real binary: `biotwin live` (the built
//! executable) is killed with SIGKILL at 20 seeded moments, restarted each
//! time on the same store, and finally run to the end. The store must then
//! hold every prediction exactly once, the same as an uninterrupted run's,
//! and its audit trail must verify (`biotwin audit verify`).
//!
//! Both predictors of `biotwin live`: 10 kills on the shipped CHO example
//! site (mechanistic EKF, CHO platform model) and 10 on the IndPenSim site
//! (surrogate ladder), each a replay at high `--speed`.

use crate::live_support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use biotwin::live::Store;
use biotwin::live::config::SiteConfig;
use biotwin::live::pg_store::PgTarget;
use biotwin::live::sqlite_store::SqliteStore;
use live_support::sites::{BIN, copy_site};
use live_support::*;

/// Seeded numbers (core's SplitMix64), uniform in [lo, hi).
pub(crate) fn delays(seed: u64, n: usize, lo: f64, hi: f64) -> Vec<f64> {
    let mut rng = biotwin::random::SplitMix64::new(seed);
    (0..n).map(|_| lo + (hi - lo) * rng.uniform()).collect()
}

fn live(site: &Path, speed: Option<&str>) -> Command {
    let mut c = Command::new(BIN);
    c.args(["live", "--once", "--config"]).arg(site);
    if let Some(s) = speed {
        c.args(["--speed", s]);
    }
    c.stdout(Stdio::null()).stderr(Stdio::piped());
    c
}

/// (seq, model id, input hash, forecast) of every batch, in store order,
/// from the store the site file names.
pub(crate) fn records(cfg: &SiteConfig) -> Vec<(String, u64, String, String, String)> {
    let s = biotwin::live::opened::open(cfg).unwrap();
    let mut out = Vec::new();
    for b in &cfg.batches {
        for p in s.predictions(&b.tenant, &b.id).unwrap() {
            out.push((
                b.id.clone(),
                p.seq,
                p.model_id,
                p.input_sha256,
                serde_json::to_string(&p.forecast).unwrap(),
            ));
        }
    }
    out
}

/// Kills `biotwin live` at 10 seeded moments spread over the batch,
/// restarting on the same store each time; then runs it to the end and
/// compares with an uninterrupted run. Moment i: once the store holds k_i
/// predictions (k_i seeded, sorted, spread over the run), plus a seeded
/// 0-40 ms, so that kills land between and inside store transactions and
/// during the replay of a resume. With `pg`, the killed runs write to that
/// PostgreSQL database (`[store] url`) instead of a SQLite file.
fn kill_and_restart(site_name: &str, speed: &str, seed: u64, pg: Option<&PgTarget>) {
    // The uninterrupted reference run.
    let ref_dir = tempfile::tempdir().unwrap();
    let ref_site = copy_site(site_name, ref_dir.path(), None);
    let cfg = SiteConfig::read(&ref_site).unwrap();
    let out = live(&ref_site, None).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reference = records(&cfg);
    let n = reference.len();
    assert!(n >= 20, "{site_name}: {n} predictions");

    let dir = tempfile::tempdir().unwrap();
    let site = copy_site(site_name, dir.path(), None);
    if let Some(t) = pg {
        let text = std::fs::read_to_string(&site).unwrap();
        let mut doc: toml_edit::DocumentMut = text.parse().unwrap();
        let st = doc["store"].as_table_mut().unwrap();
        st.remove("path");
        st["url"] = toml_edit::value(&t.url);
        std::fs::write(&site, doc.to_string()).unwrap();
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
    }
    let kcfg = SiteConfig::read(&site).unwrap();
    let store = match pg {
        Some(t) => std::path::PathBuf::from(&t.url),
        None => dir.path().join("live.sqlite"),
    };
    let mut targets: Vec<usize> = delays(seed, 10, 1.0, (n - 1) as f64)
        .into_iter()
        .map(|x| x as usize)
        .collect();
    targets.sort();
    let jitter = delays(seed ^ 0xABCD, 10, 0.0, 0.040);
    let mut at_kill = Vec::new();
    for (i, (k, j)) in targets.iter().zip(&jitter).enumerate() {
        let mut child = live(&site, Some(speed)).spawn().unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while records(&kcfg).len() < *k {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("{site_name}: run {i} ended ({status}) before {k} predictions");
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{site_name}: no progress"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_secs_f64(*j));
        let running = child.try_wait().unwrap().is_none();
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        assert!(running, "{site_name}: run {i} finished before its kill");
        at_kill.push(records(&kcfg).len());
    }
    eprintln!("{site_name}: {n} predictions; killed at {at_kill:?}");
    // The kills spread over the run.
    assert!(
        at_kill[0] < n / 4 && at_kill[9] > n / 2,
        "{at_kill:?} of {n}"
    );

    // The final restart runs to the end, unpaced.
    let out = live(&site, None).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = records(&kcfg);
    // Every prediction once: same (batch, seq) list, same model, same input
    // data (hash) and the same forecast as the run that was never killed.
    assert_eq!(got.len(), n, "{site_name}");
    for (g, r) in got.iter().zip(&reference) {
        assert_eq!(g, r, "{site_name}");
    }

    let s = biotwin::live::opened::open(&kcfg).unwrap();
    let trail = s.audit().unwrap();
    for action in ["batch.started", "batch.finished"] {
        assert_eq!(
            trail.iter().filter(|e| e.action == action).count(),
            cfg.batches.len(),
            "{site_name}: {action}"
        );
    }
    // Every reading stored once in spite of 11 replays.
    let ref_store = SqliteStore::open(&ref_dir.path().join("live.sqlite")).unwrap();
    for b in &cfg.batches {
        assert_eq!(
            s.readings(&b.tenant, &b.id).unwrap().len(),
            ref_store.readings(&b.tenant, &b.id).unwrap().len()
        );
    }
    drop(s);
    let mut verify = Command::new(BIN);
    verify.args(["audit", "verify", "--store"]).arg(&store);
    // A PostgreSQL site's processes append to its anchor file (SQLite's is
    // found beside the store): every line written across the 11 killed and
    // restarted runs must still be reached.
    if let Some(a) = &kcfg.store_anchor {
        verify.arg("--anchor").arg(a);
    }
    let out = verify.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("intact") && stdout.contains("all reached"),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// CHO example site: 14 days replayed at 400,000x (about 3 s of replay,
/// paced by the EKF's work as much as by the clock).
#[test]
fn kill_9_of_biotwin_live_at_10_moments_mechanistic_ekf() {
    kill_and_restart(CHO_SITE, "400000", 0xC0FFEE, None);
}

/// IndPenSim site: 230 h replayed at 400,000x (about 2 s).
#[test]
fn kill_9_of_biotwin_live_at_10_moments_surrogate_ladder() {
    kill_and_restart(PEN_SITE, "400000", 0x5EED, None);
}

/// The same on the PostgreSQL store (IndPenSim site): the killed runs write
/// to a database (`[store] url`, migrated with `biotwin store migrate`),
/// `biotwin audit verify --store postgres://...` checks the result.
/// Needs BIOTWIN_PG_URL (skips without it unless BIOTWIN_REQUIRE_PG=1).
#[test]
fn kill_9_of_biotwin_live_at_10_moments_on_postgres() {
    let Some(db) = biotwin::live::store_suite::pg_test_db("kill_9_of_biotwin_live_on_postgres")
    else {
        return;
    };
    kill_and_restart(PEN_SITE, "400000", 0xB16B00B5, Some(&db.target));
}

const CHO_SITE: &str = "example-site.toml";
const PEN_SITE: &str = "indpensim-site.toml";

#[test]
fn audit_verify_names_the_broken_entry() {
    let (dir, site_file) = site(&clean_rows());
    let run = run_site(&site_file, TrendFactory::new(0.0), None);
    drop(run);
    let store_path = dir.path().join("live.sqlite");
    let conn = rusqlite::Connection::open(&store_path).unwrap();
    conn.execute(
        "UPDATE audit SET entry_json = replace(entry_json, 'B1', 'B7') WHERE seq = 1",
        [],
    )
    .unwrap();
    drop(conn);
    let out = Command::new(env!("CARGO_BIN_EXE_biotwin"))
        .args(["audit", "verify", "--store"])
        .arg(&store_path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("audit[1]") && stderr.contains("altered"),
        "{stderr}"
    );
}

#[test]
fn cli_live_reports_missing_predictors_and_has_examples_in_help() {
    let bin = env!("CARGO_BIN_EXE_biotwin");
    let help = Command::new(bin).args(["live", "--help"]).output().unwrap();
    assert!(String::from_utf8_lossy(&help.stdout).contains("biotwin live --config"));
    let help = Command::new(bin)
        .args(["audit", "verify", "--help"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&help.stdout).contains("biotwin audit verify --store"));

    let (dir, site_file) = site(&clean_rows());
    let out = Command::new(bin)
        .args(["live", "--once", "--config"])
        .arg(&site_file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    // The error names the site file, the batch's field and the bad process
    // file (a bare `[process]` table, no model).
    assert!(
        stderr.contains(&site_file.display().to_string())
            && stderr.contains("batches.B1.process")
            && stderr.contains("process.toml"),
        "{stderr}"
    );
    // Nothing was recorded for a site that could not start.
    let store = SqliteStore::open(&dir.path().join("live.sqlite")).unwrap();
    assert!(store.audit().unwrap().is_empty());
    assert!(store.batch("sponsor-a", "B1").unwrap().is_none());
    drop(dir);

    // The shipped example site is a valid site file.
    let root = env!("CARGO_MANIFEST_DIR");
    let cfg =
        SiteConfig::read(Path::new(root).join("process-models/sites/example-site.toml")).unwrap();
    assert_eq!(cfg.batches[0].id, "B01");
    let v = Command::new(bin)
        .arg("validate")
        .arg(Path::new(root).join("process-models/sites/example-site.toml"))
        .output()
        .unwrap();
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));
    assert!(String::from_utf8_lossy(&v.stdout).contains("valid live site file"));
    assert_eq!(cfg.tags.len(), 13);
    assert!(cfg.tags["titer"].lab);
}

// Several workers on one PostgreSQL site, killed and taking over each
// other's batches: `live_fleet.rs`.

/// `biotwin store copy` moves a site's SQLite store (a real run of the
/// IndPenSim site) into PostgreSQL; `biotwin audit verify` passes on the
/// copy, which holds the same predictions. A URL with a password is refused
/// (exit 2) without repeating it.
#[test]
fn store_copy_of_a_live_site_verifies_on_postgres() {
    let Some(db) = biotwin::live::store_suite::pg_test_db("store_copy_of_a_live_site") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let site = copy_site(PEN_SITE, dir.path(), None);
    let out = live(&site, None).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sqlite = dir.path().join("live.sqlite");
    let out = Command::new(BIN)
        .args(["store", "copy", "--from"])
        .arg(&sqlite)
        .args(["--to", &db.target.url])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("both chains verified"),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
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
    let cfg = SiteConfig::read(&site).unwrap();
    let from = records(&cfg);
    let pg = biotwin::live::pg_store::PgStore::open(&db.target).unwrap();
    let mut n = 0;
    for b in &cfg.batches {
        for (p, r) in pg
            .predictions(&b.tenant, &b.id)
            .unwrap()
            .iter()
            .zip(from.iter().filter(|r| r.0 == b.id))
        {
            assert_eq!((p.seq, &p.input_sha256), (r.1, &r.3));
            n += 1;
        }
    }
    assert_eq!(n, from.len());
    let out = Command::new(BIN)
        .args(["store", "copy", "--from"])
        .arg(&sqlite)
        .args(["--to", "postgres://bio:hunter2-pw@127.0.0.1/x"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        !stderr.contains("hunter2") && stderr.contains("--to"),
        "{stderr}"
    );
}
