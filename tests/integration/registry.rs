//! Model registry: round trip, promotion records, tamper detection; and the
//! train -> evaluate -> promote path through the binary on the CHO dataset.

use std::path::Path;
use std::process::Command;

use biotwin::data::Dataset;
use biotwin::registry::{GENESIS, LOG_FILE, Registry, verify};
use biotwin::surrogates::pls::PlsParams;
use biotwin::surrogates::train::{ModelChoice, Validation, predict_batch, train};
use biotwin::surrogates::unfold::UnfoldingSpec;

pub(crate) const CHO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/training-data/cho-platform");
const HELD: [&str; 4] = ["B21", "B22", "B23", "B24"];
const EDGE: &str = "B31,B32,B33,B34,B35,B36";

fn biotwin(args: &[&str]) -> (i32, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_biotwin"))
        .args(args)
        .env("USER", "test-user")
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

pub(crate) fn artifact(ds: &Dataset) -> biotwin::surrogates::artifact::Artifact {
    let spec = UnfoldingSpec {
        online: vec![],
        offline: vec!["titer".into(), "viable_cells".into()],
        parameters: vec!["shift_temperature".into(), "do_setpoint".into()],
        targets: vec!["final_titer".into()],
        cutoff_fraction: 0.5,
        n_points: 1,
        mechanistic: None,
    };
    let held: Vec<String> = HELD.iter().map(|s| s.to_string()).collect();
    train(
        ds,
        &spec,
        &ModelChoice::Pls(PlsParams::new(2)),
        &Validation::Holdout(held),
    )
    .unwrap()
}

#[test]
fn round_trip_versions_promotions_and_tamper_detection() {
    let ds = Dataset::load(CHO).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let reg = Registry::new(dir.path());
    let a = artifact(&ds);
    let held: Vec<String> = HELD.iter().map(|s| s.to_string()).collect();
    let r1 = reg
        .register("titer", &a, "holdout", &held, Some(CHO), "alice")
        .unwrap();
    let r2 = reg
        .register("titer", &a, "holdout", &held, Some(CHO), "bob")
        .unwrap();
    let other = reg
        .register("other", &a, "holdout", &held, None, "bob")
        .unwrap();
    assert_eq!((r1.id.as_str(), r1.version), ("titer-v1", 1));
    assert_eq!((r2.id.as_str(), r2.version), ("titer-v2", 2));
    assert_eq!(other.version, 1);
    assert_eq!(
        r1.training_data_hash.as_deref(),
        Some(ds.content_hash.as_str())
    );
    assert_eq!(r2.created_by, "bob");
    assert_eq!(r1.targets, vec!["final_titer".to_string()]);
    assert!(r1.metrics.contains_key("holdout/final_titer"));

    // Loaded back it predicts exactly as before.
    let (rec, back) = reg.load("titer-v2").unwrap();
    assert_eq!(rec, r2);
    let b = ds.batch("B21").unwrap();
    let src = Path::new(CHO);
    assert_eq!(
        predict_batch(&back, b, src).unwrap().mean,
        predict_batch(&a, b, src).unwrap().mean
    );

    // Promotions record who, why and the previous serving model.
    let p1 = reg.promote("titer-v1", "first model", "carol").unwrap();
    assert_eq!(p1.promotion.as_ref().unwrap().previous, None);
    let p2 = reg
        .promote("titer-v2", "lower hold-out RMSE", "dave")
        .unwrap();
    let pr = p2.promotion.as_ref().unwrap();
    assert_eq!(pr.previous.as_deref(), Some("titer-v1"));
    assert_eq!(
        (p2.user.as_str(), pr.reason.as_str()),
        ("dave", "lower hold-out RMSE")
    );
    assert!(
        reg.promote("titer-v2", "again", "dave").is_err(),
        "already serving"
    );
    assert!(reg.promote("titer-v9", "none such", "dave").is_err());
    assert!(
        reg.promote("titer-v1", " ", "dave").is_err(),
        "a reason is required"
    );
    let st = reg.state().unwrap();
    assert_eq!(
        st.serving.get("titer").map(String::as_str),
        Some("titer-v2")
    );
    assert!(!st.serving.contains_key("other"));

    let v = verify(dir.path()).unwrap();
    assert_eq!((v.entries, v.artifacts), (5, 3));
    assert_ne!(v.head, GENESIS);

    // Each line links to the one before.
    let log = dir.path().join(LOG_FILE);
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5);

    // Altering an entry (who promoted) is detected.
    let tampered = text.replacen("\"user\":\"carol\"", "\"user\":\"mallory\"", 1);
    assert_ne!(tampered, text);
    std::fs::write(&log, &tampered).unwrap();
    let e = verify(dir.path()).unwrap_err().to_string();
    assert!(e.contains("line 4 sha256") && e.contains("altered"), "{e}");
    // ... and no new entry is chained onto a broken log.
    assert!(reg.promote("titer-v1", "roll back", "eve").is_err());

    // Re-hashing the altered entry breaks the link to the next one.
    let mut entries = reg.entries().unwrap();
    entries[3].sha256 = entries[3].compute_sha256().unwrap();
    let rewritten: String = entries
        .iter()
        .map(|e| serde_json::to_string(e).unwrap() + "\n")
        .collect();
    std::fs::write(&log, rewritten).unwrap();
    let e = verify(dir.path()).unwrap_err().to_string();
    assert!(e.contains("line 5 prev_sha256"), "{e}");

    // Deleting a line in the middle is detected.
    let without: String = lines
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 1)
        .map(|(_, l)| format!("{l}\n"))
        .collect();
    std::fs::write(&log, without).unwrap();
    assert!(verify(dir.path()).is_err());

    // Original log back: verifies again; a replaced artifact file does not.
    std::fs::write(&log, &text).unwrap();
    verify(dir.path()).unwrap();
    let v1 = dir.path().join(&r1.artifact);
    let v2 = dir.path().join(&r2.artifact);
    // A validly sealed artifact, but not the registered file.
    let mut a3 = a.clone();
    a3.created_at_unix_s += 1;
    a3.save(&v1).unwrap();
    let e = verify(dir.path()).unwrap_err().to_string();
    assert!(e.contains("altered or replaced"), "{e}");
    assert!(reg.load("titer-v1").is_err());
    reg.load("titer-v2").unwrap();
    assert!(v2.is_file());
}

#[test]
fn train_evaluate_promote_through_the_binary_with_tampering_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let reg = d.join("reg");
    let reg_s = reg.to_str().unwrap();
    let out = d.join("pls-model");
    // Whole-batch hold-out: 4 interior batches and the 6 edge batches.
    let holdout = format!("B21,B22,B23,B24,{EDGE}");
    let (code, o, e) = biotwin(&[
        "train",
        "--dataset",
        CHO,
        "--model",
        "pls",
        "--target",
        "final_titer,galactosylated",
        "--holdout",
        &holdout,
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(code, 0, "{o}\n{e}");
    assert!(
        o.contains("holdout/final_titer") && o.contains("train/final_titer"),
        "{o}"
    );
    assert!(out.join("model.json").is_file());

    // Evaluate: without --batches the held-out ones; interpolation and
    // extrapolation metrics reported separately; parity plot and JSON.
    let svg = d.join("parity.svg");
    let json = d.join("eval.json");
    let (code, o, e) = biotwin(&[
        "evaluate",
        out.to_str().unwrap(),
        "--dataset",
        CHO,
        "--extrapolation",
        EDGE,
        "--parity",
        svg.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{o}\n{e}");
    assert!(o.contains("10 batches evaluated"), "{o}");
    for k in [
        "all/final_titer",
        "interpolation/final_titer",
        "extrapolation/final_titer",
        "extrapolation/galactosylated",
    ] {
        assert!(o.contains(k), "{k} missing:\n{o}");
    }
    assert!(std::fs::read_to_string(&svg).unwrap().starts_with("<svg"));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let m = &v["metrics"];
    for k in ["interpolation/final_titer", "extrapolation/final_titer"] {
        assert!(m[k]["rmse"].as_f64().unwrap() > 0.0, "{k}");
        assert!(m[k]["r2"].is_number() || m[k]["r2"].is_null());
        let c = m[k]["coverage_95"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&c));
    }
    assert_eq!(m["interpolation/final_titer"]["n"], 4);
    assert_eq!(m["extrapolation/final_titer"]["n"], 6);
    eprintln!(
        "PLS final titer RMSE (kg/m3): interpolation {:.4}, extrapolation {:.4}",
        m["interpolation/final_titer"]["rmse"], m["extrapolation/final_titer"]["rmse"]
    );

    // A tampered artifact is refused by evaluate (exit 2, names the hash).
    let model = out.join("model.json");
    let text = std::fs::read_to_string(&model).unwrap();
    let i = text.find("\"code_version\": \"").unwrap() + "\"code_version\": \"".len();
    let mut t = text.clone();
    t.replace_range(i..i + 1, "9");
    std::fs::write(&model, t).unwrap();
    let (code, o, e) = biotwin(&["evaluate", out.to_str().unwrap(), "--dataset", CHO]);
    assert_eq!(code, 2, "{o}\n{e}");
    assert!(e.contains("content_sha256"), "{e}");

    // Registry: two versions, promote, list, verify.
    for (model, user) in [("pls", "alice"), ("gp", "bob")] {
        let (code, o, e) = biotwin(&[
            "train",
            "--dataset",
            CHO,
            "--model",
            model,
            "--target",
            "final_titer",
            "--holdout",
            "B21,B22,B23,B24",
            "--registry",
            reg_s,
            "--name",
            "cho-titer",
            "--user",
            user,
            "--quiet",
        ]);
        assert_eq!(code, 0, "{o}\n{e}");
        assert!(o.contains("registered cho-titer-v"), "{o}");
    }
    let (code, o, e) = biotwin(&[
        "promote",
        "cho-titer-v1",
        "--registry",
        reg_s,
        "--reason",
        "baseline",
    ]);
    assert_eq!(code, 0, "{o}\n{e}");
    assert!(
        o.contains("promoted by test-user") && o.contains("previous: none"),
        "{o}"
    );
    let (code, o, e) = biotwin(&[
        "promote",
        "cho-titer-v2",
        "--registry",
        reg_s,
        "--reason",
        "GP beats PLS on B21-B24",
        "--user",
        "carol",
    ]);
    assert_eq!(code, 0, "{o}\n{e}");
    assert!(o.contains("previous: cho-titer-v1"), "{o}");
    let (code, o, e) = biotwin(&["models", "--registry", reg_s]);
    assert_eq!(code, 0, "{o}\n{e}");
    for s in [
        "cho-titer-v1",
        "cho-titer-v2",
        "SERVING",
        "alice",
        "bob",
        "carol",
        "audit trail verified: 4 entries",
    ] {
        assert!(o.contains(s), "{s} missing:\n{o}");
    }
    // Evaluate a registered model by id (defaults to its held-out batches).
    let (code, o, e) = biotwin(&[
        "evaluate",
        "cho-titer-v2",
        "--registry",
        reg_s,
        "--dataset",
        CHO,
    ]);
    assert_eq!(code, 0, "{o}\n{e}");
    assert!(o.contains("4 batches evaluated: B21,B22,B23,B24"), "{o}");
    // The same chain through `audit verify` (QA's one command for records).
    let (code, o, e) = biotwin(&["audit", "verify", "--registry", reg_s]);
    assert_eq!(code, 0, "{o}\n{e}");
    assert!(
        o.contains("registry log intact: 4 entries, 2 artifacts unaltered"),
        "{o}"
    );

    // Tampering with the log: models reports it and fails.
    let log = reg.join("registry.jsonl");
    let t = std::fs::read_to_string(&log)
        .unwrap()
        .replacen("GP beats PLS", "GP beats all", 1);
    std::fs::write(&log, t).unwrap();
    let (code, o, e) = biotwin(&["models", "--registry", reg_s]);
    assert_eq!(code, 2, "{o}\n{e}");
    assert!(
        o.contains("DOES NOT VERIFY") && e.contains("sha256"),
        "{o}\n{e}"
    );
    let (code, o, e) = biotwin(&["audit", "verify", "--registry", reg_s]);
    assert_eq!(code, 2, "{o}\n{e}");
    assert!(e.contains("registry.jsonl") && e.contains("sha256"), "{e}");
}

#[test]
fn bad_input_gets_one_clear_message_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m");
    let out_s = out.to_str().unwrap();
    let (code, _, e) = biotwin(&[
        "train",
        "--dataset",
        CHO,
        "--model",
        "pls",
        "--target",
        "nope",
        "--out",
        out_s,
        "--quiet",
    ]);
    assert_eq!(code, 2);
    assert!(
        e.contains("--target") && e.contains("final_titer") && e.lines().count() <= 3,
        "{e}"
    );
    let (code, _, e) = biotwin(&[
        "train",
        "--dataset",
        CHO,
        "--model",
        "pls",
        "--target",
        "final_titer",
        "--holdout",
        "B99",
        "--out",
        out_s,
    ]);
    assert_eq!(code, 2);
    assert!(e.contains("B99"), "{e}");
    let (code, _, e) = biotwin(&[
        "evaluate",
        "no-such-model-v1",
        "--registry",
        dir.path().to_str().unwrap(),
        "--dataset",
        CHO,
    ]);
    assert_eq!(code, 2);
    assert!(e.contains("no-such-model-v1"), "{e}");
    let (code, _, e) = biotwin(&[
        "promote",
        "x-v1",
        "--registry",
        dir.path().to_str().unwrap(),
        "--reason",
        "r",
    ]);
    assert_eq!(code, 2);
    assert!(e.contains("registry"), "{e}");
    let (code, _, e) = biotwin(&[
        "models",
        "--registry",
        dir.path().join("none").to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{e}");
}

#[test]
fn concurrent_registrations_all_land_with_distinct_versions() {
    let ds = Dataset::load(CHO).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let a = artifact(&ds);
    std::thread::scope(|scope| {
        let writers: Vec<_> = (0..4)
            .map(|_| {
                let a = &a;
                let reg = Registry::new(dir.path());
                scope.spawn(move || reg.register("c", a, "holdout", &[], None, "u"))
            })
            .collect();
        let mut versions: Vec<u64> = writers
            .into_iter()
            .map(|w| w.join().unwrap().unwrap().version)
            .collect();
        versions.sort_unstable();
        assert_eq!(versions, [1, 2, 3, 4]);
    });
    // The hash chain is intact: the writers took turns.
    verify(dir.path()).unwrap();
}

#[test]
fn a_held_lock_makes_a_second_writer_wait_and_default_registry_is_models() {
    let ds = Dataset::load(CHO).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let reg = Registry::new(dir.path());
    let a = artifact(&ds);
    // A lock file left behind by a killed writer holds no lock: no blocking.
    std::fs::write(dir.path().join("registry.lock"), "").unwrap();
    let first = reg.register("t", &a, "holdout", &[], None, "u").unwrap();
    assert_eq!(first.version, 1);
    // A held lock makes the next writer wait; releasing it lets it land.
    let held = std::fs::File::options()
        .write(true)
        .open(dir.path().join("registry.lock"))
        .unwrap();
    held.lock().unwrap();
    let before = std::fs::read(dir.path().join(LOG_FILE)).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            let r = reg.register("t", &a, "holdout", &[], None, "u");
            tx.send(()).unwrap();
            r
        });
        assert!(
            rx.recv_timeout(std::time::Duration::from_millis(500))
                .is_err(),
            "a writer went past a held lock"
        );
        let now = std::fs::read(dir.path().join(LOG_FILE)).unwrap();
        assert!(now == before, "the log changed while the lock was held");
        drop(held);
        assert_eq!(writer.join().unwrap().unwrap().version, 2);
    });

    // Without --out, train registers into ./models.
    let o = Command::new(env!("CARGO_BIN_EXE_biotwin"))
        .args([
            "train",
            "--dataset",
            CHO,
            "--model",
            "pls",
            "--target",
            "final_titer",
            "--quiet",
            "--user",
            "u",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(dir.path().join("models").join(LOG_FILE).is_file());
    assert!(
        dir.path()
            .join("models/pls-final_titer/v1/model.json")
            .is_file()
    );
}
