//! Issue 14 reproducers through the binary, where a user meets them: bad
//! historian data (non-ASCII timestamps, a stray quote, a truncated gzip
//! export, conflicting duplicates), non-finite results, `validate` against
//! `simulate`, and the tamper suite of the live store and the registry
//! (every kind of record, truncation through anchors).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use biotwin::data::Dataset;
use biotwin::live::Store;
use biotwin::live::sqlite_store::SqliteStore;
use biotwin::registry::Registry;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn biotwin(args: &[&str]) -> (i32, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_biotwin"))
        .args(args)
        .env("USER", "test-user")
        .output()
        .unwrap();
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    );
    assert!(!err.contains("panicked"), "a panic reached the user: {err}");
    (o.status.code().unwrap_or(-1), out, err)
}

fn b01_lines() -> Vec<String> {
    let f = std::fs::File::open(format!(
        "{ROOT}/training-data/cho-platform/batches/B01.csv.gz"
    ))
    .unwrap();
    let mut s = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(f), &mut s).unwrap();
    s.lines().map(str::to_string).collect()
}

/// The example site rewritten to read `export` and write its store in `dir`.
fn site(dir: &Path, export: &Path, kind: &str) -> PathBuf {
    let text =
        std::fs::read_to_string(format!("{ROOT}/process-models/sites/example-site.toml")).unwrap();
    let text = text
        .replace(
            "\"../../target/live/example-site.sqlite\"",
            &format!("{:?}", dir.join("s.sqlite")),
        )
        .replace(
            "\"../processes/",
            &format!("\"{ROOT}/process-models/processes/"),
        )
        .replace(
            "\"../../training-data/cho-platform/batches/B01.csv.gz\"",
            &format!("{:?}", export),
        )
        .replace("kind = \"replay\"", &format!("kind = \"{kind}\""));
    let p = dir.join("site.toml");
    std::fs::write(&p, text).unwrap();
    p
}

fn live_once(site: &Path) -> (i32, String, String) {
    biotwin(&["live", "--config", site.to_str().unwrap(), "--once"])
}

fn store_counts(dir: &Path) -> (usize, usize) {
    let s = SqliteStore::open(&dir.join("s.sqlite")).unwrap();
    (
        s.readings("sponsor-a", "B01").unwrap().len(),
        s.predictions("sponsor-a", "B01").unwrap().len(),
    )
}

#[test]
fn a_non_ascii_timestamp_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("B01.csv");
    std::fs::write(&export, b01_lines().join("\n") + "\n").unwrap();
    let s = site(dir.path(), &export, "replay");
    let text = std::fs::read_to_string(&s).unwrap().replace(
        "start = \"2025-01-01T00:00:00Z\"",
        "start = \"2025-01-01T00:00:0\u{e9}Z\"",
    );
    let bad = dir.path().join("bad-site.toml");
    std::fs::write(&bad, text).unwrap();
    let (code, _, err) = biotwin(&["validate", bad.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("start") && err.contains("RFC 3339"), "{err}");

    // A historian row: refused with its line, the rest read.
    let mut lines = b01_lines();
    lines.insert(5, "2025-01-03T00:00:0\u{e9}Z,ph,7.0,".into());
    std::fs::write(&export, lines.join("\n") + "\n").unwrap();
    let (code, out, err) = live_once(&s);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("B01.csv:6"), "{err}");
    assert!(
        out.contains("malformed rows 1") || err.contains("malformed rows 1"),
        "{out}{err}"
    );
    assert_eq!(store_counts(dir.path()), (3434, 56));
}

#[test]
fn a_followed_file_with_a_non_ascii_timestamp_restarts_cleanly() {
    use biotwin::live::tail::TailSource;
    use biotwin::live::{Poll, Source};
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("live.csv");
    std::fs::write(
        &p,
        "timestamp,tag,value\n2025-01-03T00:00:0\u{e9}Z,ph,7.0\n2025-01-03T00:00:01Z,ph,7.1\n",
    )
    .unwrap();
    // Each start (a restart reads the file from its beginning) refuses the
    // same row and goes on.
    for _ in 0..2 {
        let mut t = TailSource::new(&p);
        match t.poll().unwrap() {
            Poll::Readings(r) => assert_eq!(r.iter().map(|x| x.value).collect::<Vec<_>>(), [7.1]),
            other => panic!("{other:?}"),
        }
        assert_eq!(t.malformed_rows(), 1);
    }
}

#[test]
fn a_stray_quote_costs_its_row_only() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("B01.csv");
    let mut lines = b01_lines();
    lines.insert(101, "2025-01-01T03:00:00Z,\"ph,7.0,".into());
    std::fs::write(&export, lines.join("\n") + "\n").unwrap();
    let (code, out, err) = live_once(&site(dir.path(), &export, "replay"));
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("B01.csv:102") && err.contains("unterminated quote"),
        "{err}"
    );
    assert!(
        out.contains("malformed rows 1") || err.contains("malformed rows 1"),
        "{out}{err}"
    );
    // Every one of the 3,434 readings and 56 predictions, as without it.
    assert_eq!(store_counts(dir.path()), (3434, 56));
}

#[test]
fn a_truncated_gzip_export_is_refused_whole() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(format!(
        "{ROOT}/training-data/cho-platform/batches/B01.csv.gz"
    ))
    .unwrap();
    let export = dir.path().join("B01.csv.gz");
    std::fs::write(&export, &bytes[..bytes.len() / 2]).unwrap();
    let (code, _, err) = live_once(&site(dir.path(), &export, "replay"));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("truncated or damaged"), "{err}");
    assert_eq!(store_counts(dir.path()), (0, 0));

    // A damaged byte inside the stream: the same.
    let mut damaged = bytes.clone();
    let mid = damaged.len() / 2;
    damaged[mid] ^= 0x5a;
    std::fs::write(&export, &damaged).unwrap();
    let (code, _, err) = live_once(&site(dir.path(), &export, "replay"));
    assert_eq!(code, 2, "{err}");
    assert_eq!(store_counts(dir.path()), (0, 0));
}

#[test]
fn a_truncated_gzip_export_is_accepted_in_part_only_when_told_and_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(format!(
        "{ROOT}/training-data/cho-platform/batches/B01.csv.gz"
    ))
    .unwrap();
    let export = dir.path().join("B01.csv.gz");
    std::fs::write(&export, &bytes[..bytes.len() / 2]).unwrap();
    let site = site(dir.path(), &export, "replay");
    let text = std::fs::read_to_string(&site).unwrap();
    // The site's one source says it accepts a partial export.
    let text = text.replacen(
        "kind = \"replay\"",
        "kind = \"replay\"\naccept_partial = true",
        1,
    );
    std::fs::write(&site, text).unwrap();
    let (code, _, err) = live_once(&site);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("partial export accepted") && err.contains("complete lines"),
        "{err}"
    );
    let (readings, _) = store_counts(dir.path());
    // About half the file decodes; every kept reading is a whole line.
    assert!(readings > 500 && readings < 3434, "{readings}");
    let s = SqliteStore::open(&dir.path().join("s.sqlite")).unwrap();
    let partial: Vec<_> = s
        .audit()
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "source.partial")
        .collect();
    assert_eq!(partial.len(), 1);
    assert!(partial[0].detail["what"].as_str().unwrap().contains("lost"));
}

#[test]
fn conflicting_duplicates_are_refused_under_their_own_reason() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("B01.csv");
    let mut lines = b01_lines();
    // Same tag and time as line 2, another value; and an exact duplicate.
    let first = lines[1].clone();
    let mut f: Vec<&str> = first.split(',').collect();
    f[2] = "0.453";
    lines.push(f.join(","));
    lines.push(first.clone());
    std::fs::write(&export, lines.join("\n") + "\n").unwrap();
    let (code, out, err) = live_once(&site(dir.path(), &export, "replay"));
    assert_eq!(code, 0, "{err}");
    let all = format!("{out}{err}");
    assert!(all.contains("conflicting_duplicate 1"), "{all}");
    assert!(err.contains("two different values"), "{err}");
}

#[test]
fn non_finite_results_and_inputs_are_errors() {
    let p = format!("{ROOT}/process-models/processes/cho-platform-3l.toml");
    let (code, out, err) = biotwin(&["simulate", &p, "--set", "initial.xv_1e6_cells_per_ml=0"]);
    assert_eq!(code, 3, "{out}{err}");
    assert!(err.contains("viability_pct is NaN"), "{err}");
    assert!(!out.contains("NaN"), "{out}");
    let (code, out, err) = biotwin(&["simulate", &p, "--set", "initial.titer_g_per_l=1e308"]);
    assert_eq!(code, 3, "{out}{err}");
    assert!(err.contains("is inf"), "{err}");
    assert!(!out.contains("inf"), "{out}");

    let dir = tempfile::tempdir().unwrap();
    let lot = dir.path().join("lot.toml");
    std::fs::write(
        &lot,
        "[lot]\nid = \"x\"\n[[uncertainty]]\nparameter = \"media.feed_a.glucose_g_per_l\"\ndistribution = \"normal\"\nmean = nan\nsd = 8.0\n",
    )
    .unwrap();
    let (code, _, err) = biotwin(&["validate", lot.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("uncertainty[0].mean") && err.contains("finite"),
        "{err}"
    );

    // cv_pct = 1e308 in a process file's [[uncertainty]].
    let text = std::fs::read_to_string(&p)
        .unwrap()
        .replacen("cv_pct = 5.0", "cv_pct = 1e308", 1);
    let proc_ = write_beside(&p, dir.path(), "p.toml", &text);
    let (code, _, err) = biotwin(&["validate", proc_.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("cv_pct"), "{err}");
}

/// A copy of the process-models tree in `dir` with `name` replaced by `text`
/// (so the copy's relative references resolve).
fn write_beside(original: &str, dir: &Path, name: &str, text: &str) -> PathBuf {
    let tree = dir.join("pm");
    copy_tree(&Path::new(ROOT).join("process-models"), &tree);
    let rel = Path::new(original)
        .strip_prefix(Path::new(ROOT).join("process-models"))
        .unwrap();
    let out = tree.join(rel).with_file_name(name);
    std::fs::write(&out, text).unwrap();
    out
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let t = to.join(e.file_name());
        if e.path().is_dir() {
            copy_tree(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), t).unwrap();
        }
    }
}

#[test]
fn validate_refuses_what_simulate_needs() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("pm");
    copy_tree(&Path::new(ROOT).join("process-models"), &tree);
    let recipe = tree.join("recipes/cho-platform-14d.toml");
    let original = std::fs::read_to_string(&recipe).unwrap();
    let process = tree.join("processes/cho-platform-3l.toml");
    for key in [
        "sparge_slpm",
        "xv_1e6_cells_per_ml",
        "glutamine_mm",
        "osmolality_mosm_per_kg",
        "agitation_rpm",
        "do_pct",
    ] {
        // Drop the first line setting the key (the initial/set-point one).
        let mut dropped = false;
        let text: Vec<&str> = original
            .lines()
            .filter(|l| {
                let hit = !dropped && l.trim_start().starts_with(&format!("{key} "));
                dropped |= hit;
                !hit
            })
            .collect();
        assert!(dropped, "{key}");
        std::fs::write(&recipe, text.join("\n")).unwrap();
        let (code, _, err) = biotwin(&["validate", process.to_str().unwrap()]);
        assert_eq!(code, 2, "{key}: {err}");
        assert!(
            err.contains("process.recipe") || err.contains(key),
            "{key}: {err}"
        );
    }
    std::fs::write(&recipe, &original).unwrap();
    let (code, _, err) = biotwin(&["validate", process.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
}

/// Runs the example site once into a fresh store; returns (dir, store).
fn recorded_store() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("B01.csv");
    std::fs::write(&export, b01_lines().join("\n") + "\n").unwrap();
    let (code, _, err) = live_once(&site(dir.path(), &export, "replay"));
    assert_eq!(code, 0, "{err}");
    // An acknowledged alert too, so alerts are in the suite.
    let s = SqliteStore::open(&dir.path().join("s.sqlite")).unwrap();
    s.insert_alert(&biotwin::live::AlertRecord {
        tenant: "sponsor-a".into(),
        batch_id: "B01".into(),
        cqa: "titer_g_per_l".into(),
        first_predicted_s: 3600.0,
        p_in_spec: 0.5,
        threshold: 0.9,
        acknowledged_by: None,
    })
    .unwrap();
    assert!(
        s.acknowledge_alert("sponsor-a", "B01", "titer_g_per_l", "qa.anna")
            .unwrap()
    );
    let store = dir.path().join("s.sqlite");
    (dir, store)
}

fn verify_store(store: &Path, anchor: Option<&Path>) -> (i32, String, String) {
    let mut args = vec!["audit", "verify", "--store", store.to_str().unwrap()];
    if let Some(a) = anchor {
        args.extend(["--anchor", a.to_str().unwrap()]);
    }
    biotwin(&args)
}

#[test]
fn every_kind_of_store_tampering_is_detected() {
    let (dir, store) = recorded_store();
    let anchor = dir.path().join("s.sqlite.anchor.jsonl");
    let (code, out, err) = verify_store(&store, Some(&anchor));
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("records intact: 1 batches, 3434 readings, 56 predictions, 1 alerts"),
        "{out}"
    );
    let cases = [
        (
            "edit a forecast",
            "UPDATE predictions SET forecast_json = replace(forecast_json, '\"mean\":', '\"mean\":1') WHERE seq = 3",
        ),
        (
            "delete a prediction",
            "DELETE FROM predictions WHERE seq = 55",
        ),
        (
            "glucose x10",
            "UPDATE readings SET value = value * 10 WHERE tag = 'glucose'",
        ),
        ("delete a reading", "DELETE FROM readings WHERE id = 7"),
        (
            "insert a reading",
            "INSERT INTO readings (tenant, batch_id, tag, time_unix_s, value, quality) VALUES ('sponsor-a', 'B01', 'ph', 1.0, 7.0, 'good')",
        ),
        (
            "insert a fake batch",
            "INSERT INTO batches VALUES ('sponsor-a', 'FAKE', 'BR', 0, 1, 0)",
        ),
        (
            "move a batch to another tenant",
            "UPDATE batches SET tenant = 'sponsor-b'",
        ),
        ("unfinish a batch", "UPDATE batches SET finished = 0"),
        (
            "un-acknowledge an alert",
            "UPDATE alerts SET acknowledged_by = NULL",
        ),
        ("delete an alert", "DELETE FROM alerts"),
        (
            "delete the last audit row",
            "DELETE FROM audit WHERE seq = (SELECT MAX(seq) FROM audit)",
        ),
        ("delete all audit rows", "DELETE FROM audit"),
        ("drop the audit table", "DROP TABLE audit"),
        ("drop the ledger", "DROP TABLE ledger"),
        (
            "truncate ledger, audit and the last prediction together",
            "DELETE FROM predictions WHERE seq = 55; DELETE FROM ledger WHERE seq >= (SELECT MAX(seq) - 4 FROM ledger); DELETE FROM audit WHERE seq = (SELECT MAX(seq) FROM audit)",
        ),
        (
            "empty everything",
            "DELETE FROM ledger; DELETE FROM audit; DELETE FROM predictions; DELETE FROM readings; DELETE FROM batches; DELETE FROM alerts",
        ),
    ];
    let pristine = std::fs::read(&store).unwrap();
    for (what, sql) in cases {
        let t = dir.path().join("t.sqlite");
        std::fs::write(&t, &pristine).unwrap();
        {
            let c = rusqlite::Connection::open(&t).unwrap();
            c.execute_batch(sql).unwrap();
        }
        let (code, out, err) = verify_store(&t, Some(&anchor));
        assert_eq!(code, 2, "{what}: not detected\n{out}{err}");
    }
}

#[test]
fn a_store_written_before_record_chaining_is_adopted_on_open_and_says_so() {
    let (dir, store) = recorded_store();
    {
        let c = rusqlite::Connection::open(&store).unwrap();
        c.execute_batch("DROP TABLE ledger; DROP TABLE store_meta")
            .unwrap();
    }
    // As old stores are: verify refuses, naming why.
    let (code, _, err) = verify_store(&store, None);
    assert_eq!(code, 2);
    assert!(err.contains("no record ledger"), "{err}");
    // Opening it for writing adopts its records, on the record.
    let s = SqliteStore::open(&store).unwrap();
    let trail = s.audit().unwrap();
    assert_eq!(trail.last().unwrap().action, "store.records_adopted");
    drop(s);
    let fresh_anchor = dir.path().join("none.jsonl");
    let _ = fresh_anchor;
    let (code, out, err) = biotwin(&[
        "audit",
        "verify",
        "--store",
        store.to_str().unwrap(),
        "--anchor",
        dir.path().join("s.sqlite.anchor.jsonl").to_str().unwrap(),
    ]);
    // The old anchors no longer match the re-made ledger: adoption after a
    // dropped ledger is itself visible against the anchors.
    assert_eq!(code, 2, "{out}{err}");
}

fn pls_artifact() -> biotwin::surrogates::artifact::Artifact {
    use biotwin::surrogates::pls::PlsParams;
    use biotwin::surrogates::train::{ModelChoice, Validation, train};
    use biotwin::surrogates::unfold::UnfoldingSpec;
    let ds = Dataset::load(format!("{ROOT}/training-data/cho-platform")).unwrap();
    let spec = UnfoldingSpec {
        online: vec![],
        offline: vec!["titer".into(), "viable_cells".into()],
        parameters: vec!["shift_temperature".into(), "do_setpoint".into()],
        targets: vec!["final_titer".into()],
        cutoff_fraction: 0.5,
        n_points: 1,
        mechanistic: None,
    };
    train(
        &ds,
        &spec,
        &ModelChoice::Pls(PlsParams::new(2)),
        &Validation::Holdout(vec!["B21".into(), "B22".into()]),
    )
    .unwrap()
}

#[test]
fn registry_truncation_and_emptying_are_detected_and_refused() {
    let outer = tempfile::tempdir().unwrap();
    let dir = outer.path().join("models");
    let reg = Registry::new(&dir);
    let a = pls_artifact();
    let held = vec!["B21".to_string(), "B22".to_string()];
    reg.register("titer", &a, "holdout", &held, None, "alice")
        .unwrap();
    reg.promote("titer-v1", "first", "alice").unwrap();
    reg.register("titer", &a, "holdout", &held, None, "alice")
        .unwrap();
    reg.promote("titer-v2", "better", "alice").unwrap();
    let d = dir.to_str().unwrap();
    let (code, out, err) = biotwin(&["audit", "verify", "--registry", d]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("registry anchors: 4 lines"), "{out}");
    let log = dir.join("registry.jsonl");
    let full = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = full.lines().collect();

    // Deleting the last line would make v1 serve again: found by the anchor.
    std::fs::write(&log, lines[..3].join("\n") + "\n").unwrap();
    let (code, _, err) = biotwin(&["audit", "verify", "--registry", d]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("truncated"), "{err}");
    // ... and evaluate refuses the registry.
    let (code, _, err) = biotwin(&[
        "evaluate",
        "titer-v1",
        "--registry",
        d,
        "--dataset",
        &format!("{ROOT}/training-data/cho-platform"),
        "--batches",
        "B21",
    ]);
    assert_eq!(code, 2, "{err}");

    // An emptied log with artifacts on disk, even without the anchor.
    std::fs::write(&log, "").unwrap();
    std::fs::remove_file(reg.anchor_path()).unwrap();
    let (code, _, err) = biotwin(&["audit", "verify", "--registry", d]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("the log does not record"), "{err}");
    std::fs::write(&log, full).unwrap();
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    f.write_all(b"").unwrap();
}
