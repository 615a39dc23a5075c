//! The pre-registered CHO platform result of `docs/fit.md`: fit 6
//! parameters of the platform model to B01–B30, predict the edge batches
//! B31–B36 from their recipes alone, and compare the RMSE of final titer
//! and galactosylation with the uncalibrated model and PLS.
//!
//! The numbers are those of the second run (platform model 2.0.0; the first
//! run, on model-1.0.0 data, is kept in docs/fit.md), held at their
//! reported precision: a change in the model, solver or estimator that
//! moves them must be re-reported. About 15-25 s.

use std::path::Path;

use biotwin_ml::calibration::estimate::{Settings, estimate};
use biotwin_ml::calibration::setup::{Request, from_dataset};
use biotwin_ml::data::Dataset;
use biotwin_ml::surrogates::hybrid::mechanistic::MechanisticSpec;
use biotwin_ml::surrogates::pls::PlsParams;
use biotwin_ml::surrogates::train::{ModelChoice, Validation, evaluate, train};
use biotwin_ml::surrogates::unfold::UnfoldingSpec;

const DATA: &str = concat!(
    concat!(env!("CARGO_MANIFEST_DIR"), "/../.."),
    "/training-data/cho-platform"
);
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
const OBSERVE: [&str; 5] = [
    "viable_cells",
    "viability",
    "titer",
    "glucose",
    "galactosylated",
];
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
            let pr = spec
                .targets_of(&out, &batch.id, &targets, &mapping)
                .unwrap();
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
    eprintln!(
        "| calibrated (biotwin fit) | {:.4} | {:.4} |",
        fit[0], fit[1]
    );
    eprintln!(
        "| uncalibrated platform model | {:.4} | {:.4} |",
        nom[0], nom[1]
    );
    eprintln!(
        "| PLS, recipe only | {:.4} | {:.4} |",
        pls_recipe[0], pls_recipe[1]
    );
    eprintln!(
        "| PLS, CLI default (50 % data) | {:.4} | {:.4} |",
        pls_cli[0], pls_cli[1]
    );
    // As reported in docs/fit.md, second run (platform model 2.0.0 and the
    // data regenerated with it; 4 decimals; margin 1 in the last digit).
    let near = |x: f64, want: f64| (x - want).abs() <= 1.5e-4;
    assert!(
        near(fit[0], 1.1878) && near(fit[1], 0.0304),
        "calibrated {fit:?}"
    );
    assert!(
        near(nom[0], 1.7033) && near(nom[1], 0.0305),
        "uncalibrated {nom:?}"
    );
    assert!(
        near(pls_recipe[0], 1.1822) && near(pls_recipe[1], 0.0219),
        "PLS {pls_recipe:?}"
    );
    assert!(
        near(pls_cli[0], 0.9838) && near(pls_cli[1], 0.0218),
        "PLS {pls_cli:?}"
    );
    let est = |a: &str| e.parameters.iter().find(|q| q.address == a).unwrap();
    for (a, want) in [
        ("model.mu_max", 0.043789),
        ("model.k_d", 8.4914e-4),
        ("model.beta_lp", 23.434),
        ("model.m_glc", 8.6649e-12),
        ("model.k_lys", 2.6803e-2),
        ("model.gal_ref", 35.219),
    ] {
        let q = est(a);
        assert!(
            (q.estimate / want - 1.0).abs() < 5e-4,
            "{a}: {}",
            q.estimate
        );
        assert_eq!(q.verdict, "well determined", "{a}");
    }
}
