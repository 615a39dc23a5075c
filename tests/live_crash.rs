//! Crash and restart: a live run is killed with SIGKILL part-way through a
//! paced replay, then restarted with `--once` semantics. The store must then
//! hold every prediction exactly once, the same set as an uninterrupted run,
//! and its audit trail must verify (`biotwin audit verify`).
//!
//! The killed process is this test binary itself, re-run with
//! [`CHILD_ENV`] set so that only [`child_process_entry_point`] does work:
//! it runs the real engine and SQLite store with the test predictor (the
//! shipped binary has no predictor of its own until the model branches are
//! wired in).

mod live_support;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use biotwin::live::Store;
use biotwin::live::config::SiteConfig;
use biotwin::live::engine::{Engine, open_source};
use biotwin::live::sqlite_store::SqliteStore;
use live_support::*;

const CHILD_ENV: &str = "BIOTWIN_LIVE_CRASH_CHILD_SITE";
/// 48 h of batch in about 6 s of wall time.
const SPEED: f64 = 28_800.0;

/// Not a test of its own: the body of the child process (does nothing
/// unless the parent test set [`CHILD_ENV`]).
#[test]
fn child_process_entry_point() {
    let Ok(site_file) = std::env::var(CHILD_ENV) else {
        return;
    };
    let cfg = Arc::new(SiteConfig::read(&site_file).unwrap());
    let store = Arc::new(SqliteStore::open(&cfg.store_path).unwrap());
    let sources = cfg
        .sources
        .iter()
        .map(|s| (open_source(s, SPEED).unwrap(), s.unit.clone()))
        .collect();
    let mut e = Engine::new(
        cfg,
        store,
        Arc::new(TrendFactory::new(2.2)),
        sources,
        quiet(),
    );
    e.start().unwrap();
    e.run(false).unwrap();
}

fn predictions_in(path: &Path) -> usize {
    SqliteStore::open(path)
        .ok()
        .and_then(|s| s.predictions("sponsor-a", "B1").ok())
        .map_or(0, |p| p.len())
}

#[test]
fn kill_9_mid_replay_then_restart_records_every_prediction_once() {
    let (dir, site_file) = site(&clean_rows());
    let store_path = dir.path().join("live.sqlite");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_process_entry_point",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &site_file)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while predictions_in(&store_path) < 2 {
        assert!(Instant::now() < deadline, "child made no predictions");
        assert!(child.try_wait().unwrap().is_none(), "child ended early");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let at_kill = predictions_in(&store_path);
    assert!(
        (2..8).contains(&at_kill),
        "killed mid-way, found {at_kill} of 8"
    );

    // Restart: resume from the store, replay the export again (unpaced).
    let resumed = run_site(&site_file, TrendFactory::new(2.2), None);
    assert!(resumed.stats.readings_resumed > 0, "{}", resumed.stats);
    assert!(resumed.stats.predictions_existing >= at_kill as u64);
    assert_accounted(&resumed.stats);

    let (_d2, reference_site) = site(&clean_rows());
    let reference = run_site(&reference_site, TrendFactory::new(2.2), None);
    let got = predictions(resumed.store.as_ref());
    assert_eq!(got.len(), 8);
    assert_eq!(got, predictions(reference.store.as_ref()));
    assert_eq!(
        resumed.store.readings("sponsor-a", "B1").unwrap().len(),
        clean_rows().len()
    );
    assert_eq!(
        resumed.store.alerts("sponsor-a").unwrap().len(),
        reference.store.alerts("sponsor-a").unwrap().len()
    );
    // One batch.started and one batch.finished in spite of two runs.
    let trail = resumed.store.audit().unwrap();
    for action in ["batch.started", "batch.finished", "alert.raised"] {
        assert_eq!(
            trail.iter().filter(|e| e.action == action).count(),
            1,
            "{action}"
        );
    }
    drop(resumed);

    let out = Command::new(env!("CARGO_BIN_EXE_biotwin"))
        .args(["audit", "verify", "--store"])
        .arg(&store_path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("intact"), "{stdout}");
}

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
