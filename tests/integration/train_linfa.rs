//! `biotwin train --model elastic-net|svr|random-forest` through the binary:
//! register, promote, evaluate by registry id; bad hyper-parameters exit 2
//! naming the flag, what was expected and what was found.

use std::process::Command;

const CHO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/training-data/cho-platform");

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
fn linfa_models_register_promote_and_evaluate_by_id() {
    let dir = tempfile::tempdir().unwrap();
    let reg = dir.path().join("reg");
    let reg_s = reg.to_str().unwrap();
    for (model, extra) in [
        ("elastic-net", vec!["--penalty", "0.05"]),
        ("svr", vec!["--c", "2", "--svr-kernel", "linear"]),
        ("random-forest", vec!["--trees", "30", "--seed", "7"]),
    ] {
        let mut args = vec![
            "train",
            "--dataset",
            CHO,
            "--model",
            model,
            "--target",
            "final_titer,galactosylated",
            "--holdout",
            "B21,B22,B23,B24",
            "--registry",
            reg_s,
            "--name",
            model,
            "--quiet",
        ];
        args.extend(extra);
        let (code, o, e) = biotwin(&args);
        assert_eq!(code, 0, "{model}: {o}\n{e}");
        assert!(o.contains(&format!("registered {model}-v1")), "{o}");
        assert!(o.contains("holdout/final_titer"), "{o}");
        let id = format!("{model}-v1");
        let (code, o, e) = biotwin(&[
            "promote",
            &id,
            "--registry",
            reg_s,
            "--reason",
            "linfa CLI test",
        ]);
        assert_eq!(code, 0, "{model}: {o}\n{e}");
        let (code, o, e) = biotwin(&["evaluate", &id, "--registry", reg_s, "--dataset", CHO]);
        assert_eq!(code, 0, "{model}: {o}\n{e}");
        assert!(o.contains("4 batches evaluated"), "{model}: {o}");
        assert!(!o.contains("NaN"), "{model}: {o}");
    }
    let (code, o, e) = biotwin(&["models", "--registry", reg_s]);
    assert_eq!(code, 0, "{o}\n{e}");
    for kind in ["elastic-net", "svr", "random-forest"] {
        assert!(o.contains(kind), "{kind} not listed:\n{o}");
    }
    assert_eq!(o.matches("SERVING").count(), 3, "{o}");
}

#[test]
fn bad_or_misplaced_hyperparameters_exit_2_naming_the_flag() {
    for (args, flag, expected, found) in [
        (
            vec!["--model", "elastic-net", "--l1-ratio", "1.5"],
            "--l1-ratio",
            "[0, 1]",
            "1.5",
        ),
        (vec!["--model", "svr", "--c", "-1"], "--c", "> 0", "-1"),
        (
            vec!["--model", "random-forest", "--max-features", "0"],
            "--max-features",
            "(0, 1]",
            "0",
        ),
        (
            vec!["--model", "pls", "--trees", "10"],
            "--trees",
            "--model random-forest",
            "--model pls",
        ),
        (
            vec![
                "--model",
                "svr",
                "--svr-kernel",
                "linear",
                "--kernel-width",
                "2",
            ],
            "--kernel-width",
            "--svr-kernel gaussian",
            "--svr-kernel linear",
        ),
    ] {
        let mut all = vec![
            "train",
            "--dataset",
            CHO,
            "--target",
            "final_titer",
            "--out",
            "/nonexistent/never-written",
            "--quiet",
        ];
        all.extend(args.iter().copied());
        let (code, o, e) = biotwin(&all);
        assert_eq!(code, 2, "{args:?}: {o}\n{e}");
        for part in [flag, expected, found] {
            assert!(e.contains(part), "{args:?}: `{part}` missing in:\n{e}");
        }
    }
}

#[test]
fn a_random_forest_serves_as_the_rungs_of_a_live_ladder() {
    let dir = tempfile::tempdir().unwrap();
    let ladder = dir.path().join("rf-ladder.json");
    let l = ladder.to_str().unwrap();
    let (code, o, e) = biotwin(&[
        "train",
        "--dataset",
        CHO,
        "--model",
        "random-forest",
        "--trees",
        "30",
        "--target",
        "final_titer",
        "--ladder",
        "0.3,0.6",
        "--holdout",
        "B21,B22",
        "--out",
        l,
        "--quiet",
    ]);
    assert_eq!(code, 0, "{o}\n{e}");
    assert!(o.contains("ladder of 2 rungs"), "{o}");
    // Replayed through the live predictor on the held-out batches.
    let (code, o, e) = biotwin(&["evaluate", l, "--dataset", CHO, "--batches", "B21,B22"]);
    assert_eq!(code, 0, "{o}\n{e}");
    assert!(o.contains("B21") && o.contains("B22"), "{o}");
    assert!(!o.contains("NaN"), "{o}");
}
