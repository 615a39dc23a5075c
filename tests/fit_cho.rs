//! The pre-registered CHO platform result of `docs/fit.md`: fit 6
//! parameters of the platform model to B01–B30, predict the edge batches
//! B31–B36 from their recipes alone, and compare the RMSE of final titer
//! and galactosylation with the uncalibrated model and PLS.
//!
//! Slow (finite-difference Jacobian of the 24-state platform model, 30
//! batches, profiles): `cargo test --release --test fit_cho -- --ignored
//! --nocapture`.

use std::path::Path;

use biotwin::data::Dataset;
use biotwin::fit::estimate::{Settings, estimate};
use biotwin::fit::setup::{Request, from_dataset};
use biotwin::surrogates::hybrid::mechanistic::MechanisticSpec;
use biotwin::surrogates::pls::PlsParams;
use biotwin::surrogates::train::{ModelChoice, Validation, evaluate, train};
use biotwin::surrogates::unfold::UnfoldingSpec;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/training-data/cho-platform");
const EDGE: [&str; 6] = ["B31", "B32", "B33", "B34", "B35", "B36"];
const TARGETS: [&str; 2] = ["final_titer", "galactosylated"];
const PARAMETERS: [&str; 6] = [
    "model.mu_max",
    "model.k_d",
    "model.beta_lp",
    "model.m_glc",
    "model.k_lys",
    "model.gal_ref",
];
const OBSERVE: [&str; 5] = ["viable_cells", "viability", "titer", "glucose", "galactosylated"];
const DESIGN: [&str; 8] = [
    "agitation",
    "do_setpoint",
    "feed_glucose",
    "feed_scale",
    "ph_setpoint",
    "seeding_density",
    "shift_temperature",
    "shift_time",
];

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn pls_rmse(ds: &Dataset, offline: &[&str]) -> Vec<f64> {
    let spec = UnfoldingSpec {
        online: vec![],
        offline: names(offline),
        parameters: names(&DESIGN),
        targets: names(&TARGETS),
        cutoff_fraction: 0.5,
        n_points: 1,
        mechanistic: None,
    };
    let art = train(
        ds,
        &spec,
        &ModelChoice::Pls(PlsParams::new(2)),
        &Validation::Holdout(names(&EDGE)),
    )
    .expect("PLS trains");
    let ev = evaluate(&art, ds, Some(&names(&EDGE))).expect("evaluates");
    (0..TARGETS.len())
        .map(|j| {
            let n = ev.observed.nrows() as f64;
            ((0..ev.observed.nrows())
                .map(|i| (ev.prediction.mean[(i, j)] - ev.observed[(i, j)]).powi(2))
                .sum::<f64>()
                / n)
                .sqrt()
        })
        .collect()
}

#[test]
#[ignore = "slow: the pre-registered CHO run of docs/fit.md"]
fn cho_platform_fit_predicts_edge_batches() {
    let ds = Dataset::load(DATA).unwrap();
    let mapping = Path::new(DATA).join("mechanistic.toml");
    let spec = MechanisticSpec::load(&mapping).unwrap();
    let fit_ids: Vec<String> = ds
        .batch_ids()
        .into_iter()
        .filter(|b| !EDGE.contains(&b.as_str()))
        .collect();
    assert_eq!(fit_ids.len(), 30);
    let params = names(&PARAMETERS);
    let observe = names(&OBSERVE);
    let req = Request {
        parameters: &params,
        observe: &observe,
        declared_sd: &[],
    };
    let (mut p, decl) = from_dataset(&spec, &mapping, &ds, &fit_ids, &req).unwrap();
    let t0 = std::time::Instant::now();
    let e = estimate(
        &mut p,
        &Settings {
            extra_starts: 4,
            seed: 1,
            declared_sd: decl,
            ..Settings::default()
        },
    )
    .unwrap();
    eprintln!("fit wall time {:.1} s", t0.elapsed().as_secs_f64());
    for q in &e.parameters {
        eprintln!(
            "{:<16} start {:.4e} est {:.4e} Fisher {:?} profile {:?} {} — {}",
            q.address, q.initial, q.estimate, q.fisher_ci, q.profile_ci, q.verdict, q.reason
        );
    }
    // Edge batches from their recipes: calibrated and uncalibrated.
    let edge = names(&EDGE);
    let (hp, _) = from_dataset(&spec, &mapping, &ds, &edge, &req).unwrap();
    let nominal: Vec<f64> = hp
        .parameters
        .iter()
        .map(|q| q.transform.to_theta(q.initial))
        .collect();
    let targets = names(&TARGETS);
    let mut ss_fit = [0.0; 2];
    let mut ss_nom = [0.0; 2];
    for (b, batch) in hp.batches.iter().enumerate() {
        let rec = ds.batch(&batch.id).unwrap();
        for (theta, ss) in [(&e.theta, &mut ss_fit), (&nominal, &mut ss_nom)] {
            let (_, out) = hp.predict(b, theta).unwrap();
            let pr = spec.targets_of(&out, &batch.id, &targets, &mapping).unwrap();
            for j in 0..2 {
                ss[j] += (pr[j] - rec.meta.cqas[TARGETS[j]]).powi(2);
            }
        }
    }
    let rmse = |ss: [f64; 2]| ss.map(|s| (s / 6.0).sqrt());
    let (fit, nom) = (rmse(ss_fit), rmse(ss_nom));
    let pls_recipe = pls_rmse(&ds, &[]);
    let pls_cli = pls_rmse(
        &ds,
        &[
            "ammonium",
            "glucose",
            "glutamine",
            "lactate",
            "osmolality",
            "titer",
            "viability",
            "viable_cells",
        ],
    );
    eprintln!("| model | final titer RMSE (g/L) | galactosylated RMSE (fraction) |");
    eprintln!("| calibrated (biotwin fit) | {:.4} | {:.4} |", fit[0], fit[1]);
    eprintln!("| uncalibrated platform model | {:.4} | {:.4} |", nom[0], nom[1]);
    eprintln!("| PLS, recipe only | {:.4} | {:.4} |", pls_recipe[0], pls_recipe[1]);
    eprintln!("| PLS, CLI default (50 % data) | {:.4} | {:.4} |", pls_cli[0], pls_cli[1]);
    assert!(fit.iter().chain(&nom).all(|x| x.is_finite()));
}
