//! Headless Chromium for the tests that render a page (the live QA page,
//! the transfer report): one way to find the browser, to opt out, and to
//! run it.
//!
//! Without `/usr/bin/chromium` a test fails with an install hint, unless
//! `BIOTWIN_SKIP_CHROMIUM=1` opts out explicitly (CI never sets it).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub const CHROMIUM: &str = "/usr/bin/chromium";

/// Whether the browser is there; `false` only when the caller opted out.
pub fn available_or_skip() -> bool {
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

/// Runs headless Chromium on `url` with profile folder `profile` and the
/// `extra` flags (e.g. `--dump-dom`, `--screenshot=…`) and returns what it
/// prints. Its output goes to files, not pipes, so a large DOM cannot block
/// the browser on a full pipe. The flags keep it off this machine's closed
/// network. A browser that hangs is killed after 120 s so that the test
/// ends; that bound is a safety net, not a timing assertion.
pub fn run(url: &str, profile: &Path, extra: &[&str]) -> String {
    let out_dir = tempfile::tempdir().expect("a folder for chromium's output");
    let stdout = out_dir.path().join("stdout");
    let stderr = out_dir.path().join("stderr");
    let mut child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout).expect("chromium's stdout file"))
        .stderr(std::fs::File::create(&stderr).expect("chromium's stderr file"))
        .spawn()
        .expect("start chromium");
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait for chromium") {
            break s;
        }
        if start.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("chromium did not finish on {url}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        status.success(),
        "chromium failed: {}",
        std::fs::read_to_string(&stderr).unwrap_or_default()
    );
    std::fs::read_to_string(&stdout).expect("chromium's output")
}
