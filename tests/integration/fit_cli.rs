//! `biotwin fit` through the binary: a small fit writes its outputs and a
//! calibrated model that registers (kind `mechanistic`), promotes and loads,
//! and is refused once tampered; bad input exits 2 with a message naming
//! the address, variable or batch.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use biotwin::registry::mechanistic::load_calibrated;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn data() -> PathBuf {
    Path::new(ROOT).join("training-data/cho-platform")
}
fn process() -> PathBuf {
    Path::new(ROOT).join("process-models/processes/cho-platform-3l.toml")
}

/// All batches but `keep`, comma-joined (held out so the fit stays small).
fn holdout_all_but(keep: &[&str]) -> String {
    (1..=36)
        .map(|i| format!("B{i:02}"))
        .filter(|b| !keep.contains(&b.as_str()))
        .collect::<Vec<_>>()
        .join(",")
}

fn fit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_biotwin"))
        .arg("fit")
        .args(["--process", process().to_str().unwrap()])
        .args(["--dataset", data().to_str().unwrap()])
        .arg("--quiet")
        .args(args)
        .output()
        .expect("binary runs")
}

/// An output directory nothing should be written to (bad input stops first).
fn out_dir() -> PathBuf {
    std::env::temp_dir().join(format!(
        "biotwin-fit-cli-never-written-{}",
        std::process::id()
    ))
}

fn refused(o: &Output, needles: &[&str]) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "stderr: {err}");
    assert!(!err.contains("panicked"), "{err}");
    for n in needles {
        assert!(err.contains(n), "`{n}` not in: {err}");
    }
    assert!(!out_dir().exists(), "nothing is written on bad input");
}

#[test]
fn fit_register_promote_load_and_refuse_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fit");
    let reg = dir.path().join("models");
    let hold = holdout_all_but(&["B01", "B02", "B03"]);
    let o = fit(&[
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
    ]);
    let so = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{so}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        so.contains("registered cho-line-v1 (kind mechanistic)"),
        "{so}"
    );
    // Outputs.
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("fit.json")).unwrap()).unwrap();
    assert_eq!(json["schema"], "biotwin.fit/1");
    assert_eq!(json["batches"].as_array().unwrap().len(), 3);
    assert_eq!(json["held_out"].as_array().unwrap().len(), 33);
    // The model file it wrote, by sha256 (a loose file carries no seal).
    let model_text = std::fs::read_to_string(out.join("model.toml")).unwrap();
    assert_eq!(json["model_file"], "model.toml");
    assert_eq!(
        json["model_sha256"],
        biotwin::definition::process::text_sha256(&model_text).as_str()
    );
    for q in json["parameters"].as_array().unwrap() {
        let e = q["estimate"].as_f64().unwrap();
        assert!(e.is_finite() && e > 0.0);
        let ci = q["fisher_ci95"].as_array().unwrap();
        if let (Some(lo), Some(hi)) = (ci[0].as_f64(), ci[1].as_f64()) {
            assert!(lo <= e && e <= hi, "{q}");
        }
    }
    assert!(json["aic"].as_f64().unwrap().is_finite());
    for b in ["B01", "B02", "B03"] {
        let svg = std::fs::read_to_string(out.join("plots").join(format!("{b}.svg"))).unwrap();
        assert!(svg.starts_with("<svg"));
    }
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("model.beta_lp") && md.contains("AIC"));
    // The calibrated model file (biotwin.calibration/1).
    let text = std::fs::read_to_string(out.join("model.toml")).unwrap();
    let doc: toml::Table = toml::from_str(&text).unwrap();
    let cal = doc["calibration"].as_table().unwrap();
    assert_eq!(cal["schema"].as_str(), Some("biotwin.calibration/1"));
    assert_eq!(cal["base_model"].as_str(), Some("cho-platform"));
    assert_eq!(cal["dataset_sha256"].as_str().unwrap().len(), 64);
    let cov = cal["covariance"].as_table().unwrap();
    let m = cov["matrix"].as_array().unwrap();
    assert_eq!(cov["parameters"].as_array().unwrap().len(), m.len());
    let beta = doc["parameters"]["beta_lp"].as_table().unwrap();
    assert!(
        beta["source"]
            .as_str()
            .unwrap()
            .starts_with("fitted by biotwin fit (dataset sha256 ")
    );
    assert_eq!(doc["model"]["id"].as_str(), Some("cho-line"));

    // Registry: loads, promotes, and is refused when altered.
    let l = load_calibrated(&reg, "cho-line-v1").unwrap();
    assert_eq!((l.version, l.toml.as_str()), (1, text.as_str()));
    assert_eq!(l.record.kind, "mechanistic");
    let p = Command::new(env!("CARGO_BIN_EXE_biotwin"))
        .args([
            "promote",
            "cho-line-v1",
            "--registry",
            reg.to_str().unwrap(),
        ])
        .args(["--reason", "first calibration", "--user", "tester"])
        .output()
        .unwrap();
    assert!(p.status.success(), "{}", String::from_utf8_lossy(&p.stderr));
    // The twin from the registry: `simulate --model ID` runs the registered
    // model, names its id and sealed hash, and predicts what the file does.
    let sim = |model: &str| {
        Command::new(env!("CARGO_BIN_EXE_biotwin"))
            .arg("simulate")
            .arg(process())
            .args(["--model", model, "--registry", reg.to_str().unwrap()])
            .output()
            .unwrap()
    };
    let by_id = sim("cho-line-v1");
    let so_id = String::from_utf8_lossy(&by_id.stdout).to_string();
    assert!(
        by_id.status.success(),
        "{so_id}{}",
        String::from_utf8_lossy(&by_id.stderr)
    );
    assert!(
        so_id.contains("registry:") && so_id.contains("cho-line-v1"),
        "{so_id}"
    );
    assert!(so_id.contains(&l.sha256), "{so_id}");
    let by_file = sim(out.join("model.toml").to_str().unwrap());
    let so_file = String::from_utf8_lossy(&by_file.stdout).to_string();
    assert!(by_file.status.success());
    let table = |t: &str| {
        t.lines()
            .skip_while(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(table(&so_id), table(&so_file));
    let missing = sim("cho-line-v9");
    assert_eq!(missing.status.code(), Some(2));
    let art = reg.join(&l.record.artifact);
    let t = std::fs::read_to_string(&art).unwrap();
    std::fs::write(&art, t.replacen("beta_lp", "beta_LP", 1)).unwrap();
    let e = load_calibrated(&reg, "cho-line-v1").unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(e.to_string().contains("altered"), "{e}");
    let tampered = sim("cho-line-v1");
    assert_eq!(
        tampered.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&tampered.stdout)
    );
}

#[test]
fn cross_validation_predicts_every_fitted_batch_once() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cv");
    let hold = holdout_all_but(&["B01", "B02", "B03", "B04"]);
    let o = fit(&[
        "--parameters",
        "model.beta_lp",
        "--observe",
        "titer",
        "--holdout",
        &hold,
        "--cv",
        "2",
        "--starts",
        "0",
        "--no-profiles",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("fit.json")).unwrap()).unwrap();
    let held: Vec<&str> = json["held_out"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["batch"].as_str().unwrap())
        .collect();
    // 32 held-out batches, then each of the 4 fitted ones once by its fold.
    assert_eq!(held.len(), 36);
    for b in ["B01", "B02", "B03", "B04"] {
        assert_eq!(held.iter().filter(|h| **h == b).count(), 1, "{held:?}");
    }
    assert!(json["parameters"][0]["profile_ci95"].is_null());
}

#[test]
fn unknown_address_is_named() {
    let hold = holdout_all_but(&["B01", "B02"]);
    let o = fit(&[
        "--parameters",
        "model.mu_max,model.not_a_param",
        "--holdout",
        &hold,
        "--out",
        out_dir().to_str().unwrap(),
    ]);
    refused(&o, &["model.not_a_param", "mu_max"]);
}

#[test]
fn parameter_without_effect_on_the_observed_variables_is_named() {
    let hold = holdout_all_but(&["B01", "B02"]);
    let o = fit(&[
        "--parameters",
        "model.mu_max,model.dna_lys",
        "--observe",
        "titer,viable_cells",
        "--holdout",
        &hold,
        "--out",
        out_dir().to_str().unwrap(),
    ]);
    refused(&o, &["model.dna_lys", "no effect"]);
}

#[test]
fn observed_variable_missing_from_the_dataset_is_named() {
    let hold = holdout_all_but(&["B01", "B02"]);
    let o = fit(&[
        "--parameters",
        "model.mu_max",
        "--observe",
        "titer,dead_cells",
        "--holdout",
        &hold,
        "--out",
        out_dir().to_str().unwrap(),
    ]);
    refused(&o, &["dead_cells", "none in the dataset"]);
}

#[test]
fn batch_whose_recipe_cannot_be_mapped_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let map = dir.path().join("mapping.toml");
    std::fs::write(
        &map,
        format!(
            "process = {:?}\n[[condition]]\nparameter = \"stirrer_speed\"\naddress = \"setpoints.agitation_rpm\"\n",
            process().to_str().unwrap()
        ),
    )
    .unwrap();
    let hold = holdout_all_but(&["B01", "B02"]);
    let o = fit(&[
        "--parameters",
        "model.mu_max",
        "--mapping",
        map.to_str().unwrap(),
        "--holdout",
        &hold,
        "--out",
        out_dir().to_str().unwrap(),
    ]);
    refused(&o, &["batches.B01.parameters.stirrer_speed"]);
}

/// `--discrepancy linear` (docs/fit.md, "Model discrepancy"): estimated on
/// the fitted batches' residuals, stored in fit.json and in the calibrated
/// model file (`[calibration.discrepancy]`, which `simulate --model` still
/// reads), and applied to every held-out prediction: predicted = model
/// prediction + the stored discrepancy evaluated at the batch's manifest
/// conditions (recomputed here from the stored JSON), with a positive
/// predictive SD. An unknown form exits 2 naming the option.
#[test]
fn discrepancy_is_estimated_stored_and_applied_to_held_out_batches() {
    use biotwin::calibration::discrepancy::Discrepancy;
    let keep: Vec<String> = (1..=12).map(|i| format!("B{i:02}")).collect();
    let keep_ref: Vec<&str> = keep.iter().map(|s| s.as_str()).collect();
    let hold = holdout_all_but(&keep_ref);
    let o = fit(&[
        "--parameters",
        "model.beta_lp",
        "--observe",
        "titer",
        "--holdout",
        &hold,
        "--discrepancy",
        "spline",
        "--out",
        out_dir().to_str().unwrap(),
    ]);
    refused(&o, &["--discrepancy", "`linear` or `gp`", "`spline`"]);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fit");
    let o = fit_beta_lp_with_linear_discrepancy(&hold, &out);
    let so = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{so}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(so.contains("discrepancy (linear) final_titer"), "{so}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("fit.json")).unwrap()).unwrap();
    let d: Discrepancy = serde_json::from_value(json["discrepancy"].clone()).unwrap();
    assert_eq!(d.schema, "biotwin.discrepancy/2");
    assert_eq!(d.batches, keep);
    assert_eq!(d.conditions.len(), 8);
    for t in ["final_titer", "galactosylated"] {
        let td = d.targets.iter().find(|x| x.target == t).unwrap();
        assert!(td.residual_sd.is_finite() && td.residual_sd > 0.0, "{td:?}");
    }
    let ds = biotwin::data::Dataset::load(data()).unwrap();
    let held = json["held_out"].as_array().unwrap();
    assert_eq!(held.len(), 24);
    let mut n = 0;
    for h in held {
        let id = h["batch"].as_str().unwrap();
        let rec = ds.batch(id).unwrap();
        let x: Vec<f64> = d
            .conditions
            .iter()
            .map(|c| rec.meta.parameters[c])
            .collect();
        for c in h["cqas"].as_array().unwrap() {
            let name = c["cqa"].as_str().unwrap();
            let want = d.correct(name, &x).unwrap().unwrap();
            let (pr, eta, delta, sd) = (
                c["predicted"].as_f64().unwrap(),
                c["model_predicted"].as_f64().unwrap(),
                c["discrepancy"].as_f64().unwrap(),
                c["predictive_sd"].as_f64().unwrap(),
            );
            assert!((delta - want.correction).abs() <= 1e-12 * (1.0 + want.correction.abs()));
            assert!((pr - (eta + delta)).abs() <= 1e-9 * (1.0 + pr.abs()), "{c}");
            assert!(
                sd > 0.0 && (sd - want.predictive_sd).abs() <= 1e-12 * sd,
                "{c}"
            );
            n += 1;
        }
    }
    assert_eq!(n, 24 * 8);
    // The calibrated model file carries it, and still runs.
    let text = std::fs::read_to_string(out.join("model.toml")).unwrap();
    let doc: toml::Table = toml::from_str(&text).unwrap();
    let stored: Discrepancy = doc["calibration"]["discrepancy"]
        .clone()
        .try_into()
        .unwrap();
    assert_eq!((stored.form, &stored.conditions), (d.form, &d.conditions));
    let x0: Vec<f64> = d.scaler.mean.iter().copied().collect();
    for t in ["final_titer", "galactosylated"] {
        let (a, b) = (
            stored.correct(t, &x0).unwrap().unwrap(),
            d.correct(t, &x0).unwrap().unwrap(),
        );
        assert!((a.correction - b.correction).abs() <= 1e-12 * (1.0 + b.correction.abs()));
        assert!((a.predictive_sd / b.predictive_sd - 1.0).abs() <= 1e-12);
    }
    let sim = Command::new(env!("CARGO_BIN_EXE_biotwin"))
        .arg("simulate")
        .arg(process())
        .args(["--model", out.join("model.toml").to_str().unwrap()])
        .args(["--out", dir.path().join("sim.csv").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        sim.status.success(),
        "{}",
        String::from_utf8_lossy(&sim.stderr)
    );
}

fn biotwin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_biotwin"))
        .args(args)
        .output()
        .expect("binary runs")
}

/// The model file's recipe discrepancy in the jobs (docs/fit.md, "In the
/// jobs"): `simulate --model FILE` on the shipped 3 L process with a
/// held-out batch's conditions set through the mapping's addresses gives
/// model + δ equal to fit.json's held-out prediction of that batch (and
/// the same δ); `transfer` to a 2000 L vessel refuses δ on the target for
/// agitation, with the reason in transfer.json and the HTML report, and
/// applies it at the source; a /1 model file (no mapping) still runs,
/// with the reason δ is not applied.
/// `fit` of `model.beta_lp` to titer with a linear recipe discrepancy,
/// holding out `hold`, one start, no profiles (the two discrepancy tests'
/// fit).
fn fit_beta_lp_with_linear_discrepancy(hold: &str, out: &Path) -> Output {
    fit(&[
        "--parameters",
        "model.beta_lp",
        "--observe",
        "titer",
        "--holdout",
        hold,
        "--starts",
        "0",
        "--no-profiles",
        "--discrepancy",
        "linear",
        "--out",
        out.to_str().unwrap(),
    ])
}

#[test]
fn simulate_and_transfer_apply_the_model_files_discrepancy() {
    use biotwin::calibration::discrepancy::{Discrepancy, RANGE_MARGIN};
    let keep: Vec<String> = (1..=12).map(|i| format!("B{i:02}")).collect();
    let keep_ref: Vec<&str> = keep.iter().map(|s| s.as_str()).collect();
    let hold = holdout_all_but(&keep_ref);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fit");
    let o = fit_beta_lp_with_linear_discrepancy(&hold, &out);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("fit.json")).unwrap()).unwrap();
    let d: Discrepancy = serde_json::from_value(json["discrepancy"].clone()).unwrap();
    assert_eq!(d.mapping.len(), d.conditions.len());
    let ds = biotwin::data::Dataset::load(data()).unwrap();
    // A held-out batch whose every condition lies where δ applies.
    let inside = |id: &str| {
        let p = &ds.batch(id).unwrap().meta.parameters;
        d.mapping.iter().all(|m| {
            let w = m.max - m.min;
            let v = p[&m.parameter];
            v >= m.min - RANGE_MARGIN * w && v <= m.max + RANGE_MARGIN * w
        })
    };
    let held = json["held_out"].as_array().unwrap();
    let h = held
        .iter()
        .find(|h| inside(h["batch"].as_str().unwrap()))
        .expect("a held-out batch inside the calibration range");
    let id = h["batch"].as_str().unwrap();
    let p = &ds.batch(id).unwrap().meta.parameters;
    let mut args: Vec<String> = vec![
        "simulate".into(),
        process().to_str().unwrap().into(),
        "--model".into(),
        out.join("model.toml").to_str().unwrap().into(),
        "--out".into(),
        dir.path().join("sim.json").to_str().unwrap().into(),
    ];
    for m in &d.mapping {
        let v = p[&m.parameter] * m.factor;
        args.push("--set".into());
        args.push(if m.address == "shifts.temperature_k" {
            // The 3 L recipe's one temperature shift, in °C.
            format!("shifts[0].temperature_c={}", v - 273.15)
        } else {
            format!("{}={v}", m.address)
        });
    }
    let args_ref: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    let sim = biotwin(&args_ref);
    let so = String::from_utf8_lossy(&sim.stdout);
    assert!(
        sim.status.success(),
        "{so}{}",
        String::from_utf8_lossy(&sim.stderr)
    );
    assert!(so.contains("model + recipe discrepancy δ"), "{so}");
    let sj: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("sim.json")).unwrap())
            .unwrap();
    let sd = &sj["discrepancy"];
    assert_eq!(sd["status"], "applied", "{sd}");
    let mut n = 0;
    for q in sd["qualities"].as_array().unwrap() {
        let target = q["target"].as_str().unwrap();
        let factor = d
            .qualities
            .iter()
            .find(|x| x.target == target)
            .unwrap()
            .factor;
        let c = h["cqas"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["cqa"] == target)
            .unwrap();
        let (want, want_delta) = (
            c["predicted"].as_f64().unwrap(),
            c["discrepancy"].as_f64().unwrap(),
        );
        let got = q["corrected"].as_f64().unwrap() * factor;
        let got_delta = q["discrepancy"].as_f64().unwrap() * factor;
        assert!(
            (got - want).abs() <= 1e-9 * want.abs().max(1e-9),
            "{id} {target}: simulate {got}, fit {want}"
        );
        assert!(
            (got_delta - want_delta).abs() <= 1e-9 * (1e-9 + want_delta.abs()),
            "{id} {target}: δ simulate {got_delta}, fit {want_delta}"
        );
        let (lo, hi, sd95) = (
            q["lower_95"].as_f64().unwrap(),
            q["upper_95"].as_f64().unwrap(),
            q["predictive_sd"].as_f64().unwrap(),
        );
        assert!(sd95 > 0.0 && lo < got / factor && hi > got / factor, "{q}");
        n += 1;
    }
    assert_eq!(n, 8, "{sd}");

    // Transfer to 2000 L: agitation in rpm is far outside the bench range.
    let tr = dir.path().join("transfer");
    let t = biotwin(&[
        "transfer",
        "--process",
        process().to_str().unwrap(),
        "--to",
        "sut-2000l-pbt-drilled",
        "--model",
        out.join("model.toml").to_str().unwrap(),
        "--runs",
        "8",
        "--sobol-base",
        "8",
        "--quiet",
        "--out",
        tr.to_str().unwrap(),
    ]);
    assert!(t.status.success(), "{}", String::from_utf8_lossy(&t.stderr));
    let tj: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(tr.join("transfer.json")).unwrap()).unwrap();
    let md = &tj["model_discrepancy"];
    assert_eq!(md["source"]["status"], "applied", "{md}");
    for arm in ["target", "adjusted"] {
        assert_eq!(md[arm]["status"], "refused", "{md}");
        let reason = md[arm]["reason"].as_str().unwrap();
        for n in ["`agitation`", "setpoints.agitation_rpm", "not extrapolated"] {
            assert!(reason.contains(n), "{reason}");
        }
    }
    let html = std::fs::read_to_string(tr.join("report.html")).unwrap();
    assert!(
        html.contains("δ not applied"),
        "no refusal in the HTML report"
    );

    // A /1 model file (written before the mapping) still runs.
    let text = std::fs::read_to_string(out.join("model.toml")).unwrap();
    let mut doc: toml::Table = toml::from_str(&text).unwrap();
    let disc = doc
        .get_mut("calibration")
        .and_then(|c| c.get_mut("discrepancy"))
        .and_then(|d| d.as_table_mut())
        .unwrap();
    disc.insert("schema".into(), "biotwin.discrepancy/1".into());
    disc.remove("mapping");
    disc.remove("qualities");
    let v1 = dir.path().join("model-v1.toml");
    std::fs::write(&v1, toml::to_string(&doc).unwrap()).unwrap();
    let sim = biotwin(&[
        "simulate",
        process().to_str().unwrap(),
        "--model",
        v1.to_str().unwrap(),
    ]);
    let so = String::from_utf8_lossy(&sim.stdout);
    assert!(
        sim.status.success(),
        "{so}{}",
        String::from_utf8_lossy(&sim.stderr)
    );
    assert!(
        so.contains("not applied") && so.contains("biotwin.discrepancy/1"),
        "{so}"
    );

    // A hand-edited model whose δ has one coefficient too few is bad input
    // naming the file and the field (exit 2), neither indexed out of bounds
    // nor silently truncated, nor a soft "not applied" note (review finding).
    let mut doc: toml::Table = toml::from_str(&text).unwrap();
    let coefficients = doc
        .get_mut("calibration")
        .and_then(|c| c.get_mut("discrepancy"))
        .and_then(|d| d.get_mut("targets"))
        .and_then(|t| t.as_array_mut())
        .and_then(|t| t[0].get_mut("correction"))
        .and_then(|c| c.get_mut("coefficients"))
        .and_then(|c| c.as_array_mut())
        .expect("a linear δ's coefficients");
    coefficients.pop();
    let short = dir.path().join("model-short.toml");
    std::fs::write(&short, toml::to_string(&doc).unwrap()).unwrap();
    let sim = biotwin(&[
        "simulate",
        process().to_str().unwrap(),
        "--model",
        short.to_str().unwrap(),
    ]);
    let se = String::from_utf8_lossy(&sim.stderr);
    assert_eq!(sim.status.code(), Some(2), "{se}");
    assert!(
        se.contains("model-short.toml")
            && se.contains("calibration.discrepancy")
            && se.contains("coefficients"),
        "{se}"
    );
}

/// A model discrepancy that cannot be estimated (three fitted batches for
/// a δ in more conditions than that allows) is a failed calibration step:
/// exit 3 (not 1, not 2), the task and the calibration's reason named,
/// no panic.
#[test]
fn a_discrepancy_that_cannot_be_estimated_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fit");
    let hold = holdout_all_but(&["B01", "B02", "B03"]);
    let o = fit(&[
        "--parameters",
        "model.mu_max",
        "--observe",
        "titer",
        "--holdout",
        &hold,
        "--starts",
        "0",
        "--no-profiles",
        "--discrepancy",
        "linear",
        "--out",
        out.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "stderr: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.contains("the model discrepancy failed:")
            && err.contains("calibration batches, found 3"),
        "{err}"
    );
}
