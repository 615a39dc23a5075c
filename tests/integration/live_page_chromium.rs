//! The QA page in a real browser: headless Chromium loads it from a server
//! on a loopback port, with a tenant token handed over in the URL fragment
//! (read by the page's script into session storage; fragments are never
//! sent to the server), and the rendered DOM must show the example batch:
//! its id, its CQAs against specification, and an SVG forecast band.
//!
//! Without `/usr/bin/chromium` the test fails with an install hint, unless
//! `BIOTWIN_SKIP_CHROMIUM=1` opts out explicitly.

use crate::live_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use biotwin::live::memory_store::MemoryStore;
use biotwin::live::web::auth::token_sha256_hex;
use biotwin::live::web::demo::{DemoBatch, fill};
use biotwin::live::web::serve_on;
use biotwin::live::{BatchInfo, Store};

const CHROMIUM: &str = "/usr/bin/chromium";
const TOKEN: &str = "page-test-token-5b1c0e7d";

fn chromium_or_skip() -> bool {
    if Path::new(CHROMIUM).exists() {
        return true;
    }
    if std::env::var("BIOTWIN_SKIP_CHROMIUM").as_deref() == Ok("1") {
        eprintln!("SKIPPED: {CHROMIUM} not found and BIOTWIN_SKIP_CHROMIUM=1");
        return false;
    }
    panic!(
        "{CHROMIUM} not found: install the Debian package (`sudo apt-get install chromium`), \
         or set BIOTWIN_SKIP_CHROMIUM=1 to skip this test"
    );
}

/// Runs headless Chromium on `url` and returns what it prints (the DOM, or
/// nothing for a screenshot). A browser that hangs is killed after 120 s so
/// that the test ends; that bound is a safety net, not a timing assertion.
fn chromium(url: &str, profile: &Path, extra: &[&str]) -> String {
    let mut cmd = Command::new(CHROMIUM);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        // Lets the page's fetches finish before the DOM is taken.
        "--virtual-time-budget=20000",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .args(extra)
    .arg(url)
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("start chromium");
    let start = Instant::now();
    loop {
        if child.try_wait().expect("wait for chromium").is_some() {
            break;
        }
        if start.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("chromium did not finish on {url}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().expect("chromium output");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_page_shows_the_example_batch_with_forecast_bands() {
    if !chromium_or_skip() {
        return;
    }
    let store = Arc::new(MemoryStore::new());
    let demo = DemoBatch {
        tenant: "page-test".into(),
        batch_id: "XING-PAGE-7".into(),
        unit: "BR-TEST".into(),
        process: PathBuf::from("process-models/processes/xing2010-reference.toml"),
        members: 48,
        seed: 11,
        now_h: 96.0,
        forecast_every_h: 12.0,
        rel_sd: 0.05,
        alert_below: 0.95,
        start_unix_s: 1.7e9,
    };
    let summary = fill(store.as_ref(), &demo).expect("example batch");
    assert_eq!(summary.predictions, 8);
    // Another tenant's batch, which the page must not show.
    store
        .upsert_batch(&BatchInfo {
            tenant: "other".into(),
            batch_id: "OTHER-SECRET-1".into(),
            unit: "BR-X".into(),
            start_unix_s: 1.7e9,
            end_unix_s: 1.8e9,
            finished: false,
        })
        .unwrap();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    let tenants = vec![
        ("page-test".to_string(), token_sha256_hex(TOKEN)),
        ("other".to_string(), token_sha256_hex("other-token-123")),
    ];
    rt.spawn(serve_on(listener, store.clone(), tenants));

    let profile = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{port}/#token={TOKEN}");
    let dom = chromium(&url, profile.path(), &["--dump-dom"]);
    assert!(
        dom.contains("XING-PAGE-7"),
        "batch id missing from the page:\n{dom}"
    );
    assert!(dom.contains("titer_g_per_l"), "CQA missing:\n{dom}");
    assert!(dom.contains("viability_pct"));
    assert!(dom.contains("class=\"band\""), "no forecast band:\n{dom}");
    assert!(dom.contains("spec-lower"), "no specification line:\n{dom}");
    assert!(dom.contains("P(in spec)"));
    assert!(dom.contains("in progress"));
    assert!(
        !dom.contains("OTHER-SECRET-1"),
        "another tenant's batch shown"
    );
    assert!(
        !dom.contains(TOKEN),
        "the token must not end up in the page"
    );
    // One plot per CQA of the latest forecast.
    assert_eq!(dom.matches("class=\"band\"").count(), summary.cqas.len());

    // Without a token the page asks for one and shows no data.
    let profile2 = tempfile::tempdir().unwrap();
    let dom = chromium(
        &format!("http://127.0.0.1:{port}/"),
        profile2.path(),
        &["--dump-dom"],
    );
    assert!(
        dom.contains("<section id=\"login\">"),
        "login not shown:\n{dom}"
    );
    assert!(
        dom.contains("<section id=\"app\" hidden"),
        "data section shown:\n{dom}"
    );
    assert!(!dom.contains("XING-PAGE-7"));
    assert!(!dom.contains("class=\"band\""));
    rt.shutdown_background();
}

/// The page over the SQLite store of a real live run (replay through the
/// engine with the live tests' trend predictor), served as `biotwin serve`
/// serves it: a background server on the store's own connection.
#[test]
fn the_page_shows_a_batch_from_a_live_runs_sqlite_store() {
    if !chromium_or_skip() {
        return;
    }
    use biotwin::live::sqlite_store::SqliteStore;
    use biotwin::live::web::background::spawn;
    use live_support::{TrendFactory, clean_rows, run_site, site};

    let (dir, site_file) = site(&clean_rows());
    let run = run_site(&site_file, TrendFactory::new(1.0), None);
    let n = run.store.predictions("sponsor-a", "B1").unwrap().len();
    assert_eq!(n, 8);
    // Another tenant's batch in the same store, which the page must not show.
    run.store
        .upsert_batch(&BatchInfo {
            tenant: "other".into(),
            batch_id: "OTHER-SECRET-2".into(),
            unit: "BR-X".into(),
            start_unix_s: 1.7e9,
            end_unix_s: 1.8e9,
            finished: false,
        })
        .unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("live.sqlite")).unwrap());
    let tenants = vec![
        ("sponsor-a".to_string(), token_sha256_hex(TOKEN)),
        ("other".to_string(), token_sha256_hex("other-token-456")),
    ];
    let server = spawn("127.0.0.1:0".parse().unwrap(), store, tenants).unwrap();
    let profile = tempfile::tempdir().unwrap();
    let url = format!("http://{}/#token={TOKEN}", server.addr());
    let dom = chromium(&url, profile.path(), &["--dump-dom"]);
    assert!(
        dom.contains(">B1<"),
        "batch id missing from the page:\n{dom}"
    );
    assert!(dom.contains("titer_end"), "CQA missing:\n{dom}");
    assert_eq!(dom.matches("class=\"band\"").count(), 1, "{dom}");
    assert!(dom.contains("P(in spec)"));
    assert!(dom.contains("finished"), "{dom}");
    assert!(
        !dom.contains("OTHER-SECRET-2"),
        "another tenant's batch shown"
    );
    assert!(
        !dom.contains(TOKEN),
        "the token must not end up in the page"
    );
}
