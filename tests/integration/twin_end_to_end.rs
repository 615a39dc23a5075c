//! One calibrated twin through every job, through the binary: `fit` a
//! model to development batches and register it, `promote` it, run the
//! transfer study on it (`transfer --model NAME`), then run live mode on it
//! (`live --model NAME`): every prediction names the registry id and the
//! model text's sha256. A newer promotion is picked up by a batch that
//! starts after it and recorded in the audit trail, while a batch that
//! started before keeps its model across a restart; a tampered registry
//! model is refused (exit 2) by transfer and live alike. `live --model
//! FILE` serves a calibrated model file the same way: the file's text is
//! stored at the batch's start, so a running batch keeps it whatever
//! happens to the file, and an edit reaches only batches started after it.

use std::path::Path;
use std::process::{Command, Output};

use biotwin::live::Store;
use biotwin::live::sqlite_store::SqliteStore;
use biotwin::registry::mechanistic::load_calibrated;

use crate::live_support::sites::{ExportRow, copy_site, shipped_export};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn bin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_biotwin"))
        .current_dir(ROOT)
        .args(args)
        .output()
        .expect("binary runs")
}

fn ok(o: &Output) -> String {
    let so = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        o.status.success(),
        "{so}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    so
}

/// Fits beta_lp and mu_max to three development batches and registers the
/// result as the next version of `cho-line`.
fn fit_and_register(reg: &Path, out: &Path, batches: &[&str]) {
    let hold = (1..=36)
        .map(|i| format!("B{i:02}"))
        .filter(|b| !batches.contains(&b.as_str()))
        .collect::<Vec<_>>()
        .join(",");
    ok(&bin(&[
        "fit",
        "--process",
        "process-models/processes/cho-platform-3l.toml",
        "--dataset",
        "training-data/cho-platform",
        "--quiet",
        "--parameters",
        "model.beta_lp,model.mu_max",
        "--observe",
        "titer,viable_cells",
        "--holdout",
        &hold,
        "--starts",
        "0",
        "--out",
        out.to_str().unwrap(),
        "--register",
        "cho-line",
        "--registry",
        reg.to_str().unwrap(),
        "--user",
        "tester",
    ]));
}

fn promote(reg: &Path, id: &str) {
    ok(&bin(&[
        "promote",
        id,
        "--registry",
        reg.to_str().unwrap(),
        "--reason",
        "calibrated on the development batches",
        "--user",
        "tester",
    ]));
}

fn live(site: &Path, reg: &Path) -> Output {
    bin(&[
        "live",
        "--config",
        site.to_str().unwrap(),
        "--once",
        "--model",
        "cho-line",
        "--registry",
        reg.to_str().unwrap(),
    ])
}

/// The rows of an export within its first `hours` (the batch is still
/// running after them).
fn first_hours(rows: &[ExportRow], hours: f64) -> Vec<ExportRow> {
    let t0 = rows
        .iter()
        .map(|r| r.time_unix_s)
        .fold(f64::INFINITY, f64::min);
    rows.iter()
        .filter(|r| r.time_unix_s < t0 + hours * 3600.0)
        .cloned()
        .collect()
}

/// The example site in `dir` replaying `rows`, its batch B01 naming
/// `model = "registry:cho-line"` in the registry `reg`; the file and its
/// document (for further edits).
fn site_serving_cho_line(
    dir: &Path,
    rows: &[ExportRow],
    reg: &Path,
) -> (std::path::PathBuf, toml_edit::DocumentMut) {
    let site = copy_site("example-site.toml", dir, Some(rows));
    let mut doc: toml_edit::DocumentMut = std::fs::read_to_string(&site).unwrap().parse().unwrap();
    doc["site"]["registry"] = toml_edit::value(reg.display().to_string());
    doc["batches"]
        .as_array_of_tables_mut()
        .unwrap()
        .get_mut(0)
        .unwrap()["model"] = toml_edit::value("registry:cho-line");
    std::fs::write(&site, doc.to_string()).unwrap();
    (site, doc)
}

/// Adds batch B02 to the site file `site` (`doc`): a copy of its first
/// batch on the same unit, starting after B01 ends.
fn add_b02_after_b01(site: &Path, doc: &mut toml_edit::DocumentMut) {
    let mut b02 = doc["batches"]
        .as_array_of_tables()
        .unwrap()
        .get(0)
        .unwrap()
        .clone();
    b02["id"] = toml_edit::value("B02");
    b02["start"] = toml_edit::value("2025-02-01T00:00:00Z");
    b02["planned_end"] = toml_edit::value("2025-02-15T00:00:00Z");
    doc["batches"].as_array_of_tables_mut().unwrap().push(b02);
    std::fs::write(site, doc.to_string()).unwrap();
}

/// The sha256 of the model batch `batch` started on (its `batch.started`).
fn started_sha256(audit: &[biotwin::live::AuditEntry], batch: &str) -> String {
    audit
        .iter()
        .find(|e| e.action == "batch.started" && e.detail["batch"] == batch)
        .unwrap()
        .detail["model"]["sha256"]
        .as_str()
        .unwrap()
        .to_string()
}

/// `biotwin live --config SITE --once`, which must succeed.
fn live_once_ok(site: &Path) -> String {
    ok(&bin(&[
        "live",
        "--config",
        site.to_str().unwrap(),
        "--once",
    ]))
}

#[test]
fn fit_register_promote_transfer_and_live_serve_one_calibrated_twin() {
    let dir = tempfile::tempdir().unwrap();
    let reg = dir.path().join("models");
    fit_and_register(&reg, &dir.path().join("fit1"), &["B01", "B02", "B03"]);
    let v1 = load_calibrated(&reg, "cho-line-v1").unwrap();

    // Only a promoted model serves live predictions.
    let site_dir = dir.path().join("site");
    std::fs::create_dir_all(&site_dir).unwrap();
    let rows = shipped_export("example-site.toml");
    // The first 100 h of batch B01: the batch is still running afterwards.
    let early = first_hours(&rows, 100.0);
    let site = copy_site("example-site.toml", &site_dir, Some(&early));
    let refused = live(&site, &reg);
    assert_eq!(refused.status.code(), Some(2));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("cho-line"), "{err}");
    promote(&reg, "cho-line-v1");

    // Transfer on the promoted model: the package names it, the fit's
    // parameters are drawn jointly and ranked among the Sobol' factors.
    let tr = dir.path().join("transfer");
    ok(&bin(&[
        "transfer",
        "--process",
        "process-models/processes/cho-platform-3l.toml",
        "--to",
        "sut-2000l-pbt-drilled",
        "--model",
        "cho-line",
        "--registry",
        reg.to_str().unwrap(),
        "--runs",
        "48",
        "--sobol-base",
        "16",
        "--quiet",
        "--out",
        tr.to_str().unwrap(),
    ]));
    let pkg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(tr.join("transfer.json")).unwrap()).unwrap();
    let m = &pkg["model"];
    assert_eq!(m["sha256"], v1.sha256.as_str());
    assert!(
        m["resolved_from"]
            .as_str()
            .unwrap()
            .ends_with("/cho-line-v1"),
        "{m}"
    );
    assert_eq!(
        m["calibration"]["sampled_jointly"],
        serde_json::json!(["beta_lp", "mu_max"])
    );
    let factors: Vec<&str> = pkg["sensitivity"]["factors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert!(
        factors.contains(&"model.beta_lp") && factors.contains(&"model.mu_max"),
        "{factors:?}"
    );
    // The output folder carries the model it ran, byte for byte, and the
    // translated process names that copy.
    assert_eq!(
        std::fs::read_to_string(tr.join("model.toml")).unwrap(),
        v1.toml
    );
    let translated = std::fs::read_to_string(tr.join("translated-process.toml")).unwrap();
    assert!(
        translated.contains("model = \"model.toml\""),
        "{translated}"
    );
    // The folder moves with its model: the translated process simulates
    // from a copy of the folder elsewhere.
    let moved = dir.path().join("moved");
    std::fs::create_dir_all(&moved).unwrap();
    for f in std::fs::read_dir(&tr).unwrap() {
        let f = f.unwrap().path();
        if f.is_file() {
            std::fs::copy(&f, moved.join(f.file_name().unwrap())).unwrap();
        }
    }
    ok(&bin(&[
        "simulate",
        moved.join("translated-process.toml").to_str().unwrap(),
    ]));
    let report = std::fs::read_to_string(tr.join("report.md")).unwrap();
    assert!(
        report.contains("cho-line-v1") && report.contains("drawn jointly"),
        "{report}"
    );

    // Live on the promoted model: every prediction names it.
    let so = ok(&live(&site, &reg));
    assert!(so.contains("registry:cho-line-v1"), "{so}");
    let store_path = site_dir.join("live.sqlite");
    let preds = |store: &SqliteStore| store.predictions("sponsor-a", "B01").unwrap();
    {
        let store = SqliteStore::open(&store_path).unwrap();
        let p = preds(&store);
        assert!(!p.is_empty());
        for r in &p {
            assert!(
                r.model_id.contains("/registry:cho-line-v1/")
                    && r.model_id.ends_with(&format!("sha256:{}", v1.sha256)),
                "{}",
                r.model_id
            );
        }
        let started = store
            .audit()
            .unwrap()
            .into_iter()
            .find(|e| e.action == "batch.started")
            .unwrap();
        assert_eq!(started.detail["model"]["sha256"], v1.sha256.as_str());
        assert_eq!(started.detail["model_reference"], "registry:cho-line");
    }

    // A second version is promoted while B01 runs: B01 keeps v1 across the
    // restart (its model was bound at its start).
    fit_and_register(&reg, &dir.path().join("fit2"), &["B04", "B05", "B06"]);
    promote(&reg, "cho-line-v2");
    let v2 = load_calibrated(&reg, "cho-line-v2").unwrap();
    assert_ne!(v1.sha256, v2.sha256);
    let site_full = copy_site("example-site.toml", &site_dir, Some(&rows));
    ok(&live(&site_full, &reg));
    {
        let store = SqliteStore::open(&store_path).unwrap();
        let p = preds(&store);
        assert!(p.len() > 20, "{}", p.len());
        assert!(
            p.iter()
                .all(|r| r.model_id.contains("/registry:cho-line-v1/")),
            "a running batch changed its model"
        );
    }

    // A batch that starts after the promotion gets v2, and the change is
    // in the audit trail: the site file's own `model = "registry:cho-line"`.
    let dir2 = tempfile::tempdir().unwrap();
    let (site2, _) = site_serving_cho_line(dir2.path(), &early, &reg);
    live_once_ok(&site2);
    let store2 = SqliteStore::open(&dir2.path().join("live.sqlite")).unwrap();
    let p2 = store2.predictions("sponsor-a", "B01").unwrap();
    assert!(!p2.is_empty());
    assert!(
        p2.iter()
            .all(|r| r.model_id.ends_with(&format!("sha256:{}", v2.sha256))),
        "{}",
        p2[0].model_id
    );
    let started = store2
        .audit()
        .unwrap()
        .into_iter()
        .find(|e| e.action == "batch.started")
        .unwrap();
    assert_eq!(started.detail["model_reference"], "registry:cho-line");
    assert!(
        started.detail["model"]["source"]
            .as_str()
            .unwrap()
            .ends_with("/cho-line-v2")
    );

    // Tampered: one byte of the registered model's artifact.
    let art = reg.join(&v2.record.artifact);
    let t = std::fs::read_to_string(&art).unwrap();
    std::fs::write(&art, t.replacen("beta_lp", "beta_LP", 1)).unwrap();
    let dir3 = tempfile::tempdir().unwrap();
    let site3 = copy_site("example-site.toml", dir3.path(), Some(&early));
    for o in [
        live(&site3, &reg),
        bin(&[
            "transfer",
            "--process",
            "process-models/processes/cho-platform-3l.toml",
            "--to",
            "sut-2000l-pbt-drilled",
            "--model",
            "cho-line",
            "--registry",
            reg.to_str().unwrap(),
            "--runs",
            "8",
            "--sobol-base",
            "4",
            "--quiet",
            "--out",
            dir3.path().join("t").to_str().unwrap(),
        ]),
    ] {
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    // Nothing was recorded for the refused live run.
    assert!(
        !dir3.path().join("live.sqlite").exists()
            || SqliteStore::open(&dir3.path().join("live.sqlite"))
                .unwrap()
                .predictions("sponsor-a", "B01")
                .unwrap()
                .is_empty()
    );
}

/// `live --model FILE` (issue 13: every job takes `--model ID|FILE`): the
/// calibrated model file `fit` wrote serves live without the registry.
/// Every prediction names the file (absolute path) and its sha256, and the
/// batch's start records both with the reference as given, that it came
/// from a loose file (not sealed), and stores the file's text. The file is
/// edited while the batch runs: it is another model, which reaches only a
/// batch started after the edit (`model.changed`, both hashes); the
/// running batch resumes on its stored copy, even once the file is gone. A
/// site file's `model = "PATH"` (relative to the site file) does the same;
/// a malformed, missing, out-of-range or wrong-family file is refused
/// before anything is recorded.
#[test]
fn live_serves_a_calibrated_model_file_and_keeps_a_running_batch_on_its_stored_copy() {
    let dir = tempfile::tempdir().unwrap();
    let reg = dir.path().join("models");
    fit_and_register(&reg, &dir.path().join("fit1"), &["B01", "B02", "B03"]);
    let file = dir.path().join("fit1").join("model.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    let sha = biotwin::definition::process::text_sha256(&text);
    let canonical = std::fs::canonicalize(&file).unwrap().display().to_string();
    let rows = shipped_export("example-site.toml");
    let site_dir = dir.path().join("site");
    std::fs::create_dir_all(&site_dir).unwrap();
    let live_file = |hours: f64| {
        let site = copy_site(
            "example-site.toml",
            &site_dir,
            Some(&first_hours(&rows, hours)),
        );
        bin(&[
            "live",
            "--config",
            site.to_str().unwrap(),
            "--once",
            "--model",
            file.to_str().unwrap(),
        ])
    };
    let store_path = site_dir.join("live.sqlite");
    let preds = || {
        SqliteStore::open(&store_path)
            .unwrap()
            .predictions("sponsor-a", "B01")
            .unwrap()
    };
    let named = format!("/file:{canonical}/");
    let so = ok(&live_file(48.0));
    assert!(so.contains(&named), "{so}");
    let p1 = preds();
    assert!(!p1.is_empty());
    for r in &p1 {
        assert!(
            r.model_id.contains(&named) && r.model_id.ends_with(&format!("sha256:{sha}")),
            "{}",
            r.model_id
        );
    }
    let started = SqliteStore::open(&store_path)
        .unwrap()
        .audit()
        .unwrap()
        .into_iter()
        .find(|e| e.action == "batch.started")
        .unwrap();
    assert_eq!(started.detail["model"]["sha256"], sha.as_str());
    assert_eq!(started.detail["model"]["source"], canonical.as_str());
    assert_eq!(started.detail["model"]["id"], "cho-line");
    assert_eq!(started.detail["model_reference"], file.to_str().unwrap());

    let audit = || SqliteStore::open(&store_path).unwrap().audit().unwrap();
    let actions = |a: &str| -> Vec<serde_json::Value> {
        audit()
            .into_iter()
            .filter(|e| e.action == a)
            .map(|e| e.detail)
            .collect()
    };
    // A loose file: not sealed, from a file, its text stored once.
    assert_eq!(started.detail["model_from_file"], true);
    assert_eq!(started.detail["model_sealed"], false);
    assert!(p1.iter().all(|r| r.model_id.contains("/sealed:false/")));
    let stored = actions("model.stored");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["sha256"], sha.as_str());
    assert_eq!(stored[0]["text"], text.as_str());

    // Edited while B01 runs (one comment line): another model, which
    // reaches only batches that start after the edit. B01 resumes from
    // the copy stored at its start; B02, added to the site now, starts on
    // the edited file, recorded as model.changed with both hashes.
    let edited = format!("{text}\n# edited\n");
    let edited_sha = biotwin::definition::process::text_sha256(&edited);
    std::fs::write(&file, &edited).unwrap();
    let with_b02 = |hours: f64, model: bool| {
        let site = copy_site(
            "example-site.toml",
            &site_dir,
            Some(&first_hours(&rows, hours)),
        );
        let mut doc: toml_edit::DocumentMut =
            std::fs::read_to_string(&site).unwrap().parse().unwrap();
        let batches = doc["batches"].as_array_of_tables_mut().unwrap();
        let mut b02 = batches.get(0).unwrap().clone();
        b02["id"] = toml_edit::value("B02");
        b02["start"] = toml_edit::value("2025-02-01T00:00:00Z");
        b02["planned_end"] = toml_edit::value("2025-02-15T00:00:00Z");
        batches.push(b02);
        std::fs::write(&site, doc.to_string()).unwrap();
        let mut args = vec!["live", "--config", site.to_str().unwrap(), "--once"];
        if model {
            args.extend(["--model", file.to_str().unwrap()]);
        }
        bin(&args)
    };
    ok(&with_b02(100.0, true));
    let p2 = preds();
    assert!(p2.len() > p1.len(), "{} {}", p2.len(), p1.len());
    assert!(p2.iter().all(|r| r.model_id == p1[0].model_id));
    let changed = actions("model.changed");
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert_eq!(changed[0]["batch"], "B02");
    assert_eq!(changed[0]["previous_sha256"], sha.as_str());
    assert_eq!(changed[0]["sha256"], edited_sha.as_str());
    let stored = actions("model.stored");
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[1]["sha256"], edited_sha.as_str());
    let starts = actions("batch.started");
    assert_eq!(starts.len(), 2);
    assert_eq!(starts[1]["batch"], "B02");
    assert_eq!(starts[1]["model"]["sha256"], edited_sha.as_str());

    // The file gone altogether: B01 still resumes on its stored copy, and
    // nothing about models is recorded again.
    std::fs::remove_file(&file).unwrap();
    ok(&with_b02(150.0, false));
    let p3 = preds();
    assert!(p3.len() > p2.len(), "{} {}", p3.len(), p2.len());
    assert!(p3.iter().all(|r| r.model_id == p1[0].model_id));
    assert_eq!(actions("model.stored").len(), 2);
    assert_eq!(actions("model.changed").len(), 1);
    std::fs::write(&file, &text).unwrap();

    // A site file naming the file, relative to itself.
    let dir2 = tempfile::tempdir().unwrap();
    let local = dir2.path().join("cho-line.toml");
    std::fs::write(&local, &text).unwrap();
    let site2 = copy_site(
        "example-site.toml",
        dir2.path(),
        Some(&first_hours(&rows, 48.0)),
    );
    let set_model = |site: &Path, model: &str| {
        let mut doc: toml_edit::DocumentMut =
            std::fs::read_to_string(site).unwrap().parse().unwrap();
        doc["batches"]
            .as_array_of_tables_mut()
            .unwrap()
            .get_mut(0)
            .unwrap()["model"] = toml_edit::value(model);
        std::fs::write(site, doc.to_string()).unwrap();
    };
    set_model(&site2, "cho-line.toml");
    live_once_ok(&site2);
    let local_named = format!(
        "/file:{}/",
        std::fs::canonicalize(&local).unwrap().display()
    );
    let p = SqliteStore::open(&dir2.path().join("live.sqlite"))
        .unwrap()
        .predictions("sponsor-a", "B01")
        .unwrap();
    assert!(!p.is_empty());
    assert!(
        p.iter()
            .all(|r| r.model_id.contains(&local_named)
                && r.model_id.ends_with(&format!("sha256:{sha}"))),
        "{}",
        p[0].model_id
    );

    // Bad files, refused before anything is recorded: a malformed stored
    // discrepancy (as `simulate --model FILE` refuses it), a missing file
    // on the command line and in the site file.
    let dir3 = tempfile::tempdir().unwrap();
    let bad = dir3.path().join("bad.toml");
    std::fs::write(
        &bad,
        format!("{text}\n[calibration.discrepancy]\nschema = \"biotwin.discrepancy/9\"\n"),
    )
    .unwrap();
    let site3 = copy_site(
        "example-site.toml",
        dir3.path(),
        Some(&first_hours(&rows, 48.0)),
    );
    let missing = dir3.path().join("missing.toml");
    let shipped =
        std::fs::read_to_string(Path::new(ROOT).join("process-models/models/cho-platform.toml"))
            .unwrap();
    let out_of_range = dir3.path().join("negative-mu.toml");
    let mu = "mu_max    = { value = 0.045,";
    assert!(shipped.contains(mu));
    std::fs::write(
        &out_of_range,
        shipped.replace(mu, "mu_max    = { value = -0.045,"),
    )
    .unwrap();
    let xing = Path::new(ROOT).join("process-models/models/xing2010.toml");
    let with_model = |m: &Path| {
        bin(&[
            "live",
            "--config",
            site3.to_str().unwrap(),
            "--once",
            "--model",
            m.to_str().unwrap(),
        ])
    };
    for (o, needles) in [
        (
            with_model(&out_of_range),
            vec!["negative-mu.toml", "mu_max"],
        ),
        (
            with_model(&xing),
            vec![
                "xing2010.toml",
                "--model",
                "family",
                "cho_platform",
                "xing2010",
            ],
        ),
        (
            bin(&[
                "live",
                "--config",
                site3.to_str().unwrap(),
                "--once",
                "--model",
                bad.to_str().unwrap(),
            ]),
            vec!["bad.toml", "calibration.discrepancy"],
        ),
        (
            bin(&[
                "live",
                "--config",
                site3.to_str().unwrap(),
                "--once",
                "--model",
                missing.to_str().unwrap(),
            ]),
            vec!["missing.toml", "no such file"],
        ),
        (
            {
                set_model(&site3, "missing.toml");
                bin(&["live", "--config", site3.to_str().unwrap(), "--once"])
            },
            vec!["missing.toml", "model", "no such file"],
        ),
    ] {
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(!err.contains("panicked"), "{err}");
        for n in needles {
            assert!(err.contains(n), "`{n}` not in: {err}");
        }
    }
    assert!(!dir3.path().join("live.sqlite").exists());
}

/// A model file edited between batches: the batch that finished on it
/// keeps its record, the next batch to start runs the edited file, and the
/// change is in the audit trail (`model.changed`: same source, previous and
/// new sha256).
#[test]
fn a_model_file_edited_between_batches_is_recorded_as_a_model_change() {
    let dir = tempfile::tempdir().unwrap();
    let reg = dir.path().join("models");
    fit_and_register(&reg, &dir.path().join("fit1"), &["B01", "B02", "B03"]);
    let text = std::fs::read_to_string(dir.path().join("fit1").join("model.toml")).unwrap();
    let local = dir.path().join("cho-line.toml");
    std::fs::write(&local, &text).unwrap();
    let before = biotwin::definition::process::text_sha256(&text);
    // B01 runs to its end on the file.
    let site = copy_site(
        "example-site.toml",
        dir.path(),
        Some(&shipped_export("example-site.toml")),
    );
    let mut doc: toml_edit::DocumentMut = std::fs::read_to_string(&site).unwrap().parse().unwrap();
    doc["batches"]
        .as_array_of_tables_mut()
        .unwrap()
        .get_mut(0)
        .unwrap()["model"] = toml_edit::value("cho-line.toml");
    std::fs::write(&site, doc.to_string()).unwrap();
    live_once_ok(&site);
    // Edited; B02 (same unit, after B01) is added.
    let edited = format!("{text}\n# edited after B01\n");
    std::fs::write(&local, &edited).unwrap();
    let after = biotwin::definition::process::text_sha256(&edited);
    add_b02_after_b01(&site, &mut doc);
    live_once_ok(&site);
    let store = SqliteStore::open(&dir.path().join("live.sqlite")).unwrap();
    let audit = store.audit().unwrap();
    let started = |b: &str| started_sha256(&audit, b);
    assert_eq!(started("B01"), before);
    assert_eq!(started("B02"), after);
    let changed: Vec<_> = audit
        .iter()
        .filter(|e| e.action == "model.changed")
        .collect();
    assert_eq!(changed.len(), 1, "{changed:?}");
    let c = &changed[0].detail;
    let source = std::fs::canonicalize(&local).unwrap().display().to_string();
    assert_eq!(c["batch"], "B02");
    assert_eq!(c["previous"], source.as_str());
    assert_eq!(c["now"], source.as_str());
    assert_eq!(c["previous_sha256"], before.as_str());
    assert_eq!(c["sha256"], after.as_str());
    assert!(
        store
            .predictions("sponsor-a", "B01")
            .unwrap()
            .iter()
            .all(|p| p.model_id.ends_with(&before))
    );
}

#[test]
fn scale_up_runs_a_calibrated_model_and_its_translated_file_names_a_copy() {
    let dir = tempfile::tempdir().unwrap();
    let reg = dir.path().join("models");
    fit_and_register(&reg, &dir.path().join("fit"), &["B01", "B02", "B03"]);
    promote(&reg, "cho-line-v1");
    let v1 = load_calibrated(&reg, "cho-line-v1").unwrap();
    let out = dir.path().join("translated.toml");
    let scale = |model: Option<&str>| {
        let mut args = vec![
            "scale-up",
            "--process",
            "process-models/processes/cho-platform-3l.toml",
            "--to",
            "sut-2000l-pbt-drilled",
            "--json",
        ];
        if let Some(m) = model {
            args.extend(["--model", m, "--registry", reg.to_str().unwrap()]);
            args.extend(["--write-process", out.to_str().unwrap()]);
        }
        ok(&bin(&args))
    };
    // The calibrated model changes the operating point (peak OUR, pCO2).
    let base: serde_json::Value = serde_json::from_str(&scale(None)).unwrap();
    let cal: serde_json::Value = serde_json::from_str(&scale(Some("cho-line"))).unwrap();
    assert_ne!(base["source_conditions"], cal["source_conditions"]);
    let copy = dir.path().join("translated.model.toml");
    assert_eq!(std::fs::read_to_string(&copy).unwrap(), v1.toml);
    let t = std::fs::read_to_string(&out).unwrap();
    assert!(t.contains("translated.model.toml"), "{t}");
    ok(&bin(&["validate", out.to_str().unwrap()]));
    ok(&bin(&["simulate", out.to_str().unwrap()]));
}

#[test]
fn a_batch_registered_after_a_promotion_gets_the_new_version_and_the_change_is_audited() {
    let dir = tempfile::tempdir().unwrap();
    let reg = dir.path().join("models");
    fit_and_register(&reg, &dir.path().join("fit1"), &["B01", "B02", "B03"]);
    promote(&reg, "cho-line-v1");
    let v1 = load_calibrated(&reg, "cho-line-v1").unwrap();
    let rows = shipped_export("example-site.toml");
    let early = first_hours(&rows, 48.0);
    let (site, mut doc) = site_serving_cho_line(dir.path(), &early, &reg);
    live_once_ok(&site);

    // v2 promoted; the site file gains batch B02 (same unit, after B01).
    fit_and_register(&reg, &dir.path().join("fit2"), &["B04", "B05", "B06"]);
    promote(&reg, "cho-line-v2");
    let v2 = load_calibrated(&reg, "cho-line-v2").unwrap();
    add_b02_after_b01(&site, &mut doc);
    live_once_ok(&site);

    let store = SqliteStore::open(&dir.path().join("live.sqlite")).unwrap();
    let audit = store.audit().unwrap();
    let started = |b: &str| started_sha256(&audit, b);
    // B01 keeps v1 (it started before the promotion); B02 gets v2.
    assert_eq!(started("B01"), v1.sha256);
    assert_eq!(started("B02"), v2.sha256);
    assert!(
        store
            .predictions("sponsor-a", "B01")
            .unwrap()
            .iter()
            .all(|p| p.model_id.ends_with(&v1.sha256))
    );
    let changed: Vec<_> = audit
        .iter()
        .filter(|e| e.action == "model.changed")
        .collect();
    assert_eq!(changed.len(), 1, "{changed:?}");
    let c = &changed[0].detail;
    assert_eq!(c["batch"], "B02");
    assert!(
        c["previous"].as_str().unwrap().ends_with("/cho-line-v1"),
        "{c}"
    );
    assert!(c["now"].as_str().unwrap().ends_with("/cho-line-v2"), "{c}");
    assert_eq!(c["sha256"], v2.sha256.as_str());
    ok(&bin(&[
        "audit",
        "verify",
        "--store",
        dir.path().join("live.sqlite").to_str().unwrap(),
    ]));
}

/// A process file can name a registered model (`model = "registry:NAME"`,
/// issue 13 item 4): `simulate` and `transfer` run that model, say which
/// version and hash, and `transfer.json` records it; a registry that does
/// not hold the name is exit 2 naming it; `validate` (which takes no
/// registry) says where such a reference is resolved.
#[test]
fn a_process_file_naming_a_registered_model_runs_it() {
    let dir = tempfile::tempdir().unwrap();
    let reg = dir.path().join("models");
    fit_and_register(&reg, &dir.path().join("fit1"), &["B01", "B02", "B03"]);
    promote(&reg, "cho-line-v1");
    let v1 = load_calibrated(&reg, "cho-line-v1").unwrap();
    let root = std::env::current_dir().unwrap().join("process-models");
    let text = std::fs::read_to_string(root.join("processes/cho-platform-3l.toml"))
        .unwrap()
        .replace("model = \"cho-platform\"", "model = \"registry:cho-line\"")
        .replace(
            "recipe = \"cho-platform-14d\"",
            &format!("recipe = {:?}", root.join("recipes/cho-platform-14d.toml")),
        )
        .replace(
            "equipment = \"bench-3l-glass\"",
            &format!(
                "equipment = {:?}",
                root.join("equipment/bench-3l-glass.toml")
            ),
        )
        .replace(
            "specifications = \"cho-mab-upstream\"",
            &format!(
                "specifications = {:?}",
                root.join("specs/cho-mab-upstream.toml")
            ),
        );
    assert!(text.contains("registry:cho-line"));
    let process = dir.path().join("line.toml");
    std::fs::write(&process, text).unwrap();
    let p = process.to_str().unwrap();
    let r = reg.to_str().unwrap();

    let sim = ok(&bin(&["simulate", p, "--registry", r]));
    assert!(sim.contains("cho-line-v1"), "{sim}");
    assert!(sim.contains(&v1.sha256), "{sim}");

    let tr = dir.path().join("transfer");
    ok(&bin(&[
        "transfer",
        "--process",
        p,
        "--to",
        "sut-2000l-pbt-drilled",
        "--registry",
        r,
        "--runs",
        "8",
        "--sobol-base",
        "4",
        "--quiet",
        "--out",
        tr.to_str().unwrap(),
    ]));
    let pkg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(tr.join("transfer.json")).unwrap()).unwrap();
    assert_eq!(pkg["model"]["sha256"], v1.sha256.as_str());

    let empty = dir.path().join("no-models");
    let missing = bin(&["simulate", p, "--registry", empty.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&missing.stderr);
    assert_eq!(missing.status.code(), Some(2), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    // `validate` resolves the reference in the registry it is given (default
    // `models`, absent here: exit 2 naming the field).
    let v = bin(&["validate", p]);
    let err = String::from_utf8_lossy(&v.stderr);
    assert_eq!(v.status.code(), Some(2), "{err}");
    assert!(
        err.contains("cho-line") && err.contains("process.model"),
        "{err}"
    );
    let valid = ok(&bin(&["validate", "--registry", r, p]));
    assert!(valid.contains("valid process file"), "{valid}");
    // An unknown name in an existing registry: the process file's field,
    // not the command line's --model.
    let other = dir.path().join("other.toml");
    std::fs::write(
        &other,
        std::fs::read_to_string(&process)
            .unwrap()
            .replace("registry:cho-line", "registry:no-such-line"),
    )
    .unwrap();
    let v = bin(&["validate", "--registry", r, other.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&v.stderr);
    assert_eq!(v.status.code(), Some(2), "{err}");
    assert!(
        err.contains("other.toml") && err.contains("process.model") && !err.contains("--model"),
        "{err}"
    );

    // A live site whose batch names no model runs the one its process file
    // names: every prediction carries the registry id and hash, and the
    // batch's start records the reference.
    let site_dir = dir.path().join("site");
    std::fs::create_dir_all(&site_dir).unwrap();
    let early = first_hours(&shipped_export("example-site.toml"), 48.0);
    let site = copy_site("example-site.toml", &site_dir, Some(&early));
    let mut doc: toml_edit::DocumentMut = std::fs::read_to_string(&site).unwrap().parse().unwrap();
    let b01 = doc["batches"]
        .as_array_of_tables_mut()
        .unwrap()
        .get_mut(0)
        .unwrap();
    assert!(b01.get("model").is_none());
    b01["process"] = toml_edit::value(p);
    std::fs::write(&site, doc.to_string()).unwrap();
    // Without a registry the batch is refused, naming the process file's
    // field; `live --registry DIR` supplies one.
    let refused = bin(&["live", "--config", site.to_str().unwrap(), "--once"]);
    let err = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{err}");
    assert!(
        err.contains("process.model") && err.contains("line.toml"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    ok(&bin(&[
        "live",
        "--config",
        site.to_str().unwrap(),
        "--once",
        "--registry",
        r,
    ]));
    let store = SqliteStore::open(&site_dir.join("live.sqlite")).unwrap();
    let preds = store.predictions("sponsor-a", "B01").unwrap();
    assert!(!preds.is_empty());
    for pr in &preds {
        assert!(
            pr.model_id.contains("/registry:cho-line-v1/")
                && pr.model_id.ends_with(&format!("sha256:{}", v1.sha256)),
            "{}",
            pr.model_id
        );
    }
    let started = store
        .audit()
        .unwrap()
        .into_iter()
        .find(|e| e.action == "batch.started" && e.detail["batch"] == "B01")
        .unwrap();
    assert_eq!(started.detail["model_reference"], "registry:cho-line");
}

/// A batch on its process file's own model, that model file then edited
/// so that it no longer parses: the restart is refused (exit 2) saying the
/// file was edited since the batch started, with both hashes — the hash is
/// compared before the file is parsed — and records nothing.
#[test]
fn live_names_an_edit_of_a_process_model_before_parsing_it() {
    let dir = tempfile::tempdir().unwrap();
    let pm = dir.path().join("pm");
    for sub in [
        "processes",
        "models",
        "recipes",
        "equipment",
        "specs",
        "discrepancy",
    ] {
        let from = Path::new(ROOT).join("process-models").join(sub);
        std::fs::create_dir_all(pm.join(sub)).unwrap();
        for f in std::fs::read_dir(&from).unwrap() {
            let f = f.unwrap().path();
            if f.is_file() {
                std::fs::copy(&f, pm.join(sub).join(f.file_name().unwrap())).unwrap();
            }
        }
    }
    let rows = shipped_export("example-site.toml");
    let site_dir = dir.path().join("site");
    std::fs::create_dir_all(&site_dir).unwrap();
    let run = |hours: f64| {
        let site = copy_site(
            "example-site.toml",
            &site_dir,
            Some(&first_hours(&rows, hours)),
        );
        let mut doc: toml_edit::DocumentMut =
            std::fs::read_to_string(&site).unwrap().parse().unwrap();
        doc["batches"]
            .as_array_of_tables_mut()
            .unwrap()
            .get_mut(0)
            .unwrap()["process"] = toml_edit::value(
            pm.join("processes/cho-platform-3l.toml")
                .display()
                .to_string(),
        );
        std::fs::write(&site, doc.to_string()).unwrap();
        bin(&["live", "--config", site.to_str().unwrap(), "--once"])
    };
    ok(&run(48.0));
    let store = || SqliteStore::open(&site_dir.join("live.sqlite")).unwrap();
    let n_audit = store().audit().unwrap().len();
    let model = pm.join("models/cho-platform.toml");
    let text = std::fs::read_to_string(&model).unwrap();
    let sha = biotwin::definition::process::text_sha256(&text);
    let broken = format!("{text}\n[broken\n");
    let broken_sha = biotwin::definition::process::text_sha256(&broken);
    std::fs::write(&model, &broken).unwrap();
    let o = run(100.0);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    for n in [
        "edited since the batch started",
        sha.as_str(),
        broken_sha.as_str(),
        "cho-platform.toml",
        "batches.B01.model",
    ] {
        assert!(err.contains(n), "`{n}` not in: {err}");
    }
    assert_eq!(store().audit().unwrap().len(), n_audit);
}
