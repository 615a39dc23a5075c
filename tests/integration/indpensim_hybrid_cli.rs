//! `biotwin train --model serial-hybrid` on the IndPenSim data set (the
//! serial hybrid on the IndPenSim backbone, docs/hybrid.md) through the
//! binary, on a small subset: train on two batches, evaluate a third from
//! the recipe alone and at 50 %; the pre-registered held-out batches are
//! refused without --held-out; a wrong target exits 2.

use std::process::Command;

const PEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/training-data/indpensim");

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

#[test]
fn train_a_serial_hybrid_on_two_batches_and_evaluate_a_third() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("penhyb");
    let out_s = out.to_str().unwrap();
    let holdout: Vec<String> = (3..=20).map(|i| format!("B{i:02}")).collect();
    let holdout = holdout.join(",");
    let (code, stdout, stderr) = biotwin(&[
        "train",
        "--dataset",
        PEN,
        "--model",
        "serial-hybrid",
        "--target",
        "final_penicillin",
        "--holdout",
        &holdout,
        "--iterations",
        "1",
        "--quiet",
        "--out",
        out_s,
    ]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("indpensim-serial-hybrid on indpensim (2 training batches"),
        "{stdout}"
    );
    assert!(
        stdout.contains("in_sample/final_penicillin@50%"),
        "{stdout}"
    );
    assert!(out.join("model.json").is_file());

    let json = dir.path().join("eval.json");
    let (code, stdout, stderr) = biotwin(&[
        "evaluate",
        out_s,
        "--dataset",
        PEN,
        "--batches",
        "B03",
        "--fractions",
        "0,0.5",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(v["kind"], "indpensim-serial-hybrid");
    assert_eq!(v["batches_used_in_training"].as_array().unwrap().len(), 0);
    let s = v["summary"].as_array().unwrap();
    assert_eq!(s.len(), 2);
    let truth = v["batches"][0]["truth_final_g_per_l"].as_f64().unwrap();
    for (i, p) in v["batches"][0]["points"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        let (m, lo, hi) = (
            p["mean_g_per_l"].as_f64().unwrap(),
            p["p05_g_per_l"].as_f64().unwrap(),
            p["p95_g_per_l"].as_f64().unwrap(),
        );
        assert!(lo < m && m < hi, "{p}");
        // A final penicillin an engineer would accept for this process
        // (its batches end at 20-31 g/L): within 30 % of B03's.
        assert!((m / truth - 1.0).abs() < 0.3, "{p} vs {truth}");
        let ape = s[i]["mape_pct"].as_f64().unwrap();
        assert!(
            (ape - (m / truth - 1.0).abs() * 100.0).abs() < 1e-9,
            "{ape}"
        );
    }

    // B16-B20 are the pre-registered held-out batches.
    let (code, _, stderr) = biotwin(&["evaluate", out_s, "--dataset", PEN, "--batches", "B16"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--held-out"), "{stderr}");
}

#[test]
fn a_target_other_than_final_penicillin_is_refused() {
    let (code, _, stderr) = biotwin(&[
        "train",
        "--dataset",
        PEN,
        "--model",
        "serial-hybrid",
        "--target",
        "final_biomass",
        "--out",
        "/nonexistent/never-written",
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("final_penicillin"), "{stderr}");
}
