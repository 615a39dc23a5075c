//! The parallel and the calibrated serial hybrid on the CHO platform
//! dataset against PLS and GP on the
//! edge-of-DoE (extrapolation) batches (it wins on galactosylation, not on
//! final titer), and goes through `biotwin train
//! --model hybrid` / `evaluate` like the other surrogates.
//!
//! The models are chosen before looking at the test batches: the same
//! features and settings as `biotwin train`'s defaults (offline values at
//! 50 % of batch time and the 8 DoE parameters), PLS with 2 components,
//! GP with RBF kernel fitted by ML-II, and the hybrid with a 2-component PLS
//! residual model. Held out of every fit: interior B21–B26 and edge
//! B31–B36 (as in training-data/cho-platform/README.md).

use crate::cho_comparison::{
    EDGE, INTERIOR, TARGETS, at_stated as at_readme, gp, names, rmse_on, serial_rmse,
};
use crate::tamper_support;

use std::path::Path;
use std::process::Command;

use biotwin::data::Dataset;
use biotwin::surrogates::hybrid::calibrated::{CalibratedParams, CalibratedSerialHybrid};
use biotwin::surrogates::hybrid::mechanistic::MechanisticSpec;
use biotwin::surrogates::hybrid::parallel::Corrector;
use biotwin::surrogates::hybrid::residual::ResidualParams;
use biotwin::surrogates::pls::PlsParams;
use biotwin::surrogates::train::ModelChoice;
use biotwin::surrogates::unfold::UnfoldingSpec;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/training-data/cho-platform");

fn spec(mechanistic: bool) -> UnfoldingSpec {
    crate::cho_comparison::spec(Path::new(DATA), &TARGETS, mechanistic)
}

#[test]
fn hybrid_vs_pls_and_gp_on_edge_of_doe_batches() {
    let ds = Dataset::load(DATA).unwrap();
    let (plain, hyb) = (spec(false), spec(true));
    let nf = plain.feature_names().len();
    let nh = hyb.feature_names().len();
    let q = TARGETS.len();
    let models: Vec<(&str, UnfoldingSpec, ModelChoice)> = vec![
        ("PLS", plain.clone(), ModelChoice::Pls(PlsParams::new(2))),
        ("GP", plain.clone(), ModelChoice::Gp(gp(nf))),
        (
            "hybrid (PLS residuals)",
            hyb.clone(),
            ModelChoice::Hybrid(ResidualParams {
                corrector: Corrector::Pls(PlsParams::new(2)),
                mechanistic_columns: (nh - q..nh).collect(),
            }),
        ),
        (
            "hybrid (GP residuals)",
            hyb.clone(),
            ModelChoice::Hybrid(ResidualParams {
                corrector: Corrector::Gp(gp(nh)),
                mechanistic_columns: (nh - q..nh).collect(),
            }),
        ),
    ];
    let mut edge = Vec::new();
    println!("RMSE (SI: titer kg/m3, fractions, HCP kg/m3): interior B21–B26 | edge B31–B36");
    for (name, s, c) in &models {
        let (ri, re) = (rmse_on(&ds, s, c, &INTERIOR), rmse_on(&ds, s, c, &EDGE));
        for j in 0..q {
            println!(
                "  {name:24} {:16} {:10.4e} | {:10.4e}",
                TARGETS[j], ri[j], re[j]
            );
        }
        edge.push(re);
    }
    // The calibrated serial hybrid (CalibratedParams::cho_default, settings
    // fixed before the comparison), trained on the same batches.
    let held: Vec<&str> = INTERIOR.iter().chain(&EDGE).copied().collect();
    let train_set: Vec<_> = ds
        .batches
        .iter()
        .filter(|b| !held.contains(&b.id()))
        .collect();
    let mech = hyb.mechanistic.as_ref().unwrap();
    let serial = CalibratedSerialHybrid::fit(
        mech,
        &train_set,
        &names(&TARGETS),
        &CalibratedParams::cho_default(),
        Path::new(DATA),
    )
    .expect("serial hybrid fits");
    let rmse = |m: &CalibratedSerialHybrid, batches: &[&str]| {
        serial_rmse(&ds, Path::new(DATA), m, &TARGETS, batches)
    };
    let (ri, re) = (rmse(&serial, &INTERIOR), rmse(&serial, &EDGE));
    for j in 0..q {
        println!(
            "  {:24} {:16} {:10.4e} | {:10.4e}",
            "serial hybrid (calib.)", TARGETS[j], ri[j], re[j]
        );
    }
    edge.push(re);
    // Added after the first comparison: λ chosen from a grid by the
    // validation loss (training batches only), reported beside the
    // pre-registered λ = 1, not instead of it.
    let selected = CalibratedSerialHybrid::fit_selecting_ridge(
        mech,
        &train_set,
        &names(&TARGETS),
        &CalibratedParams::cho_default(),
        &[0.1, 1.0, 10.0, 100.0, 1000.0],
        Path::new(DATA),
    )
    .expect("serial hybrid fits");
    let (ri, re) = (rmse(&selected, &INTERIOR), rmse(&selected, &EDGE));
    println!(
        "  (λ = {} chosen by validation loss)",
        selected.report.ridge
    );
    for j in 0..q {
        println!(
            "  {:24} {:16} {:10.4e} | {:10.4e}",
            "serial hybrid (λ by val.)", TARGETS[j], ri[j], re[j]
        );
    }
    edge.push(re);
    // The chosen hybrid (PLS residuals) against both surrogates on the
    // extrapolation batches. Galactosylation (a glycan CQA): the hybrid
    // wins. Final titer: on the platform-model-1.0.0 data it did NOT (edge
    // RMSE 0.535 vs PLS 0.488 g/L, measured 2026-12-04); on the data
    // regenerated with model 2.0.0 (2026-12-05, same settings, nothing
    // chosen on them) it does: 0.526 vs PLS 0.996, GP 1.291 — docs/hybrid.md.
    let j = 1;
    assert!(
        edge[2][j] < edge[0][j] && edge[2][j] < edge[1][j],
        "{}: hybrid {:.4e} vs PLS {:.4e}, GP {:.4e}",
        TARGETS[j],
        edge[2][j],
        edge[0][j],
        edge[1][j]
    );
    // Titer: better than the GP's extrapolation, not than PLS's.
    assert!(edge[2][0] < edge[1][0]);
    // The calibrated serial hybrid (edge titer): 0.533 g/L on the 1.0.0
    // data, better than the GP (0.753), not than PLS (0.488); on the 2.0.0
    // data 1.905, worse than both (PLS 0.996, GP 1.291): its three
    // response-surface parameters (mu_max, beta_lp, k_d) do not reach the
    // ammonium-driven death that now sets the decline. Stated, so held.
    assert!(edge[4][0] > edge[1][0] && edge[4][0] > edge[0][0]);
    // README's numbers (edge RMSE, model 2.0.0 data), each at ±1 %.
    at_readme("galactosylation, parallel hybrid", edge[2][1], 0.03198);
    at_readme("galactosylation, PLS", edge[0][1], 0.03603);
    at_readme("galactosylation, GP", edge[1][1], 0.03846);
    at_readme("titer, parallel hybrid", edge[2][0], 0.5257);
    at_readme("titer, PLS", edge[0][0], 0.9956);
    at_readme("titer, GP", edge[1][0], 1.291);
    // The parallel hybrid now wins on titer too: stated, so held.
    assert!(edge[2][0] < edge[0][0]);
}

#[test]
fn train_and_evaluate_a_hybrid_from_the_cli() {
    let exe = env!("CARGO_BIN_EXE_biotwin");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cho-hybrid");
    let o = Command::new(exe)
        .args(["train", "--dataset", DATA, "--model", "hybrid"])
        .args(["--target", "final_titer,galactosylated", "--quiet"])
        .args(["--holdout", "B31,B32,B33,B34,B35,B36", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{text}");
    assert!(text.contains("hybrid on cho-platform"), "{text}");
    let model = std::fs::read_to_string(out.join("model.json")).unwrap();
    assert!(model.contains("\"kind\": \"hybrid\"") && model.contains("mechanistic_final_titer"));
    assert!(model.contains("training_data_hash"));

    let o = Command::new(exe)
        .arg("evaluate")
        .arg(&out)
        .args([
            "--dataset",
            DATA,
            "--extrapolation",
            "B31,B32,B33,B34,B35,B36",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{text}");
    assert!(
        text.contains("final_titer") && text.contains("galactosylated"),
        "{text}"
    );

    // Registered like the others.
    let reg = dir.path().join("registry");
    let o = Command::new(exe)
        .args([
            "train",
            "--dataset",
            DATA,
            "--model",
            "hybrid",
            "--corrector",
            "gp",
        ])
        .args([
            "--target",
            "final_titer",
            "--quiet",
            "--cv",
            "3",
            "--registry",
        ])
        .arg(&reg)
        .args(["--name", "cho-hybrid", "--user", "tester"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{text}");
    let o = Command::new(exe)
        .args(["models", "--registry"])
        .arg(&reg)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(o.status.success() && text.contains("hybrid"), "{text}");

    // One altered digit: refused with exit 2.
    tamper_support::alter_first_digit_after(&out.join("model.json"), "\"mechanistic_columns\"");
    let o = Command::new(exe)
        .arg("evaluate")
        .arg(&out)
        .args(["--dataset", DATA])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("altered"));

    // A target the mechanistic model does not map: clear input error.
    let o = Command::new(exe)
        .args([
            "train",
            "--dataset",
            DATA,
            "--model",
            "hybrid",
            "--target",
            "final_viability,nope",
        ])
        .args(["--quiet", "--out"])
        .arg(dir.path().join("x"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
}

/// The calibrated serial hybrid with `gal_ref` fitted to galactosylation and
/// per-batch effects, each prediction conditioned on the batch's own data
/// known at 50 % of batch time, against PLS, GP and the parallel hybrid
/// given the same data: the latest values at 50 % (as above) and, in
/// addition, PLS on the daily history up to 50 % (8 points per variable).
/// Every CQA the mechanistic model maps is reported, all three glycans
/// included.
///
/// Order of events (docs/hybrid.md): `cho_conditioned` was first run with a
/// quadratic surface for `gal_ref` like the kinetic parameters ("pre-
/// registered" below: titer won, galactosylation lost); the linear surface
/// for `gal_ref` (one end-of-batch value per batch informs it) was chosen
/// after that run. Both are reported.
#[test]
fn conditioned_serial_hybrid_vs_pls_and_gp_on_edge_of_doe_batches() {
    let ds = Dataset::load(DATA).unwrap();
    let targets = [
        "final_titer",
        "galactosylated",
        "afucosylated",
        "high_mannose",
        "acidic_variants",
        "hcp",
    ];
    let q = targets.len();
    let plain = UnfoldingSpec {
        targets: names(&targets),
        ..spec(false)
    };
    let history = UnfoldingSpec {
        n_points: 8,
        ..plain.clone()
    };
    let hyb = UnfoldingSpec {
        targets: names(&targets),
        ..spec(true)
    };
    let (nf, nh) = (plain.feature_names().len(), hyb.feature_names().len());
    let held: Vec<String> = names(&INTERIOR).into_iter().chain(names(&EDGE)).collect();
    let mut edge = Vec::new();
    let mut table = |name: &str, ri: &[f64], re: &[f64]| {
        for j in 0..q {
            println!(
                "  {name:32} {:16} {:10.4e} | {:10.4e}",
                targets[j], ri[j], re[j]
            );
        }
        edge.push(re.to_vec());
    };
    println!("RMSE (SI): interior B21–B26 | edge B31–B36");
    for (name, s, c) in [
        ("PLS", &plain, ModelChoice::Pls(PlsParams::new(2))),
        (
            "PLS, daily history",
            &history,
            ModelChoice::Pls(PlsParams::new(2)),
        ),
        ("GP", &plain, ModelChoice::Gp(gp(nf))),
        (
            "parallel hybrid (PLS residuals)",
            &hyb,
            ModelChoice::Hybrid(ResidualParams {
                corrector: Corrector::Pls(PlsParams::new(2)),
                mechanistic_columns: (nh - q..nh).collect(),
            }),
        ),
    ] {
        table(
            name,
            &rmse_on(&ds, s, &c, &INTERIOR),
            &rmse_on(&ds, s, &c, &EDGE),
        );
    }
    let train_set: Vec<_> = ds
        .batches
        .iter()
        .filter(|b| !held.iter().any(|h| h == b.id()))
        .collect();
    let mech = MechanisticSpec::load(&Path::new(DATA).join("mechanistic.toml")).unwrap();
    let pre_registered = CalibratedParams {
        linear_only: vec![],
        ..CalibratedParams::cho_conditioned(0.5)
    };
    for (name, params) in [
        ("serial, conditioned (pre-reg.)", pre_registered),
        (
            "serial, conditioned",
            CalibratedParams::cho_conditioned(0.5),
        ),
    ] {
        let model = CalibratedSerialHybrid::fit(
            &mech,
            &train_set,
            &names(&targets),
            &params,
            Path::new(DATA),
        )
        .expect("conditioned serial hybrid fits");
        let c = model.conditioning.as_ref().expect("conditioning learned");
        println!(
            "  {name}: per-batch effect SDs (ln p) {:?}, residual SDs {:?}",
            c.effect_sd, c.noise_sd
        );
        table(
            name,
            &serial_rmse(&ds, Path::new(DATA), &model, &targets, &INTERIOR),
            &serial_rmse(&ds, Path::new(DATA), &model, &targets, &EDGE),
        );
    }
    // Edge RMSE on the platform-model-1.0.0 data (measured 2026-12-05):
    // titer 0.202 (pre-reg.) / 0.209 vs PLS 0.632, PLS history 0.612, GP
    // 0.661, parallel hybrid 0.604 g/L; galactosylated 0.0074 (linear
    // gal_ref) vs ≥ 0.0231, but 0.0408 with the pre-registered quadratic
    // surface. Re-measured on the data regenerated with model 2.0.0 (same
    // settings, nothing chosen on them): titer 0.297 (pre-reg.) / 0.280 vs
    // PLS 0.974, PLS history 0.893, GP 1.341, parallel hybrid 0.658 g/L;
    // afucosylated 0.0025 / 0.0024 vs ≥ 0.0031; high mannose 0.0028 vs
    // ≥ 0.0047; galactosylated 0.0155 (pre-reg.) / 0.0095 vs ≥ 0.0302. README's
    // numbers (edge RMSE, 2.0.0 data), each at ±1 %; loses to PLS on acidic
    // variants and HCP.
    at_readme("titer, conditioned serial", edge[5][0], 0.2798);
    at_readme("titer, GP", edge[2][0], 1.341);
    at_readme("titer, parallel hybrid", edge[3][0], 0.6585);
    at_readme("galactosylation, conditioned serial", edge[5][1], 0.009510);
    at_readme("galactosylation, parallel hybrid", edge[3][1], 0.03016);
    for j in [4, 5] {
        assert!(
            edge[5][j] > edge[0][j],
            "{}: stated as a loss to PLS",
            targets[j]
        );
    }
    let best_other = |j: usize| (0..4).map(|m| edge[m][j]).fold(f64::INFINITY, f64::min);
    for (model, js) in [(4, [0, 2, 3].as_slice()), (5, [0, 1, 2, 3].as_slice())] {
        for &j in js {
            assert!(
                edge[model][j] < best_other(j),
                "model {model}, {}: {:.4e} vs best of PLS/GP/parallel {:.4e}",
                targets[j],
                edge[model][j],
                best_other(j)
            );
        }
    }
}
