//! The third pre-registered CHO calibration study of `docs/fit.md`
//! ("Third run"): the parameter set is chosen on B01–B30 of
//! `training-data/cho-platform` only (`third_run_choice_on_b01_b30`,
//! in-sample), and the calibrated model then predicts fresh edge batches
//! that no earlier run has seen (`training-data/cho-edge-1901`, generator
//! seed 1901).
//!
//! The two studies are `#[ignore]`d (about 2 min and 20 s on the shared
//! 2-core machine; the CI runs the two short checks at the end):
//!
//! ```text
//! cargo test --release -p biotwin-ml --test integration fit_cho_third -- --ignored --nocapture
//! ```

use std::path::PathBuf;

use biotwin_ml::calibration::estimate::{Estimate, Settings, estimate};
use biotwin_ml::calibration::setup::{Request, from_dataset};
use biotwin_ml::data::Dataset;
use biotwin_ml::datagen::{ChoDoeOptions, write_cho_dataset};
use biotwin_ml::surrogates::hybrid::mechanistic::MechanisticSpec;
use biotwin_ml::surrogates::pls::PlsParams;
use biotwin_ml::surrogates::train::{ModelChoice, Validation, evaluate, train};
use biotwin_ml::surrogates::unfold::UnfoldingSpec;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
pub const TARGETS: [&str; 2] = ["final_titer", "galactosylated"];
pub const OBSERVE: [&str; 5] = [
    "viable_cells",
    "viability",
    "titer",
    "glucose",
    "galactosylated",
];
pub const DESIGN: [&str; 8] = [
    "agitation",
    "do_setpoint",
    "feed_glucose",
    "feed_scale",
    "ph_setpoint",
    "seeding_density",
    "shift_temperature",
    "shift_time",
];

pub fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

pub fn platform_dir() -> PathBuf {
    PathBuf::from(format!("{ROOT}/training-data/cho-platform"))
}

pub fn mapping() -> PathBuf {
    platform_dir().join("mechanistic.toml")
}

/// B01–B30: the interior batches of `cho-platform`.
pub fn interior(ds: &Dataset) -> Vec<String> {
    let ids: Vec<String> = ds
        .batch_ids()
        .into_iter()
        .filter(|b| b.as_str() <= "B30")
        .collect();
    assert_eq!(ids.len(), 30);
    ids
}

/// Fits `parameters` to `batches` of `ds` (5 observed variables, all σ
/// estimated).
pub fn fit(
    ds: &Dataset,
    batches: &[String],
    parameters: &[&str],
    extra_starts: usize,
    profiles: bool,
) -> Estimate {
    let spec = MechanisticSpec::load(&mapping()).unwrap();
    let params = names(parameters);
    let observe = names(&OBSERVE);
    let req = Request {
        parameters: &params,
        observe: &observe,
        declared_sd: &[],
    };
    let (mut p, decl) = from_dataset(&spec, &mapping(), ds, batches, &req).unwrap();
    estimate(
        &mut p,
        &Settings {
            extra_starts,
            seed: 1,
            declared_sd: decl,
            profiles,
            ..Settings::default()
        },
    )
    .unwrap()
}

/// Predicted and observed targets of `batches` of `ds`, simulated from
/// their recipes alone at θ (None: the model's nominal values).
pub fn predict_targets(
    ds: &Dataset,
    batches: &[String],
    parameters: &[&str],
    theta: Option<&[f64]>,
) -> Vec<([f64; 2], [f64; 2])> {
    let spec = MechanisticSpec::load(&mapping()).unwrap();
    let params = names(parameters);
    let observe = names(&OBSERVE);
    let req = Request {
        parameters: &params,
        observe: &observe,
        declared_sd: &[],
    };
    let (hp, _) = from_dataset(&spec, &mapping(), ds, batches, &req).unwrap();
    let nominal: Vec<f64> = hp
        .parameters
        .iter()
        .map(|q| q.transform.to_theta(q.initial))
        .collect();
    let theta = theta.unwrap_or(&nominal);
    let targets = names(&TARGETS);
    hp.batches
        .iter()
        .enumerate()
        .map(|(b, batch)| {
            let rec = ds.batch(&batch.id).unwrap();
            let (_, out) = hp.predict(b, theta).unwrap();
            let pr = spec
                .targets_of(&out, &batch.id, &targets, &mapping())
                .unwrap();
            (
                [pr[0], pr[1]],
                [rec.meta.cqas[TARGETS[0]], rec.meta.cqas[TARGETS[1]]],
            )
        })
        .collect()
}

pub fn rmse(pairs: &[([f64; 2], [f64; 2])]) -> [f64; 2] {
    let n = pairs.len() as f64;
    [0, 1].map(|j| {
        (pairs
            .iter()
            .map(|(p, o)| (p[j] - o[j]).powi(2))
            .sum::<f64>()
            / n)
            .sqrt()
    })
}

pub fn pearson(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let sxy: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let sxx: f64 = x.iter().map(|a| (a - mx).powi(2)).sum();
    let syy: f64 = y.iter().map(|b| (b - my).powi(2)).sum();
    sxy / (sxx * syy).sqrt()
}

/// The candidate parameter sets of the choice (docs/fit.md, "Third run").
const CANDIDATES: [(&str, &[&str]); 4] = [
    (
        "A (runs 1-2)",
        &[
            "model.mu_max",
            "model.k_d",
            "model.beta_lp",
            "model.m_glc",
            "model.k_lys",
            "model.gal_ref",
        ],
    ),
    (
        "B (k_d_amm for k_d)",
        &[
            "model.mu_max",
            "model.k_d_amm",
            "model.beta_lp",
            "model.m_glc",
            "model.k_lys",
            "model.gal_ref",
        ],
    ),
    (
        "C (B + g_qp)",
        &[
            "model.mu_max",
            "model.k_d_amm",
            "model.beta_lp",
            "model.g_qp",
            "model.m_glc",
            "model.k_lys",
            "model.gal_ref",
        ],
    ),
    (
        "D (C + k_d)",
        &[
            "model.mu_max",
            "model.k_d",
            "model.k_d_amm",
            "model.beta_lp",
            "model.g_qp",
            "model.m_glc",
            "model.k_lys",
            "model.gal_ref",
        ],
    ),
];

/// In-sample analysis on B01–B30 only (the choice of the third run's
/// parameter set; nothing of B31–B36 or of the fresh edge batches is read):
/// for each candidate set, the full fit's verdicts and correlations, the
/// per-batch residuals of the two targets against the DoE factors, and a
/// 5-fold cross-validation over B01–B30 (fold f holds out B(f+1), B(f+6), …;
/// one start, no profiles) of the targets predicted from the recipes.
///
/// Rule of the choice (written before this analysis was run): the set with
/// the lowest cross-validated RMSE of final titer, provided every parameter
/// of its full fit is well determined (profile closed on both sides) and its
/// cross-validated galactosylation RMSE is not above set A's by more than
/// 5 %; within 2 % of the lowest titer RMSE the smaller set is taken.
#[test]
#[ignore = "in-sample choice of the third run, ~2 min on 2 cores"]
fn third_run_choice_on_b01_b30() {
    let ds = Dataset::load(platform_dir()).unwrap();
    let ids = interior(&ds);
    for (name, set) in CANDIDATES {
        let t0 = std::time::Instant::now();
        let e = fit(&ds, &ids, set, 4, true);
        eprintln!(
            "\n== {name}: in-sample fit of B01-B30 ({:.1} s), -2 log L {:.1}, AIC {:.1}, BIC {:.1}, converged {}",
            t0.elapsed().as_secs_f64(),
            -2.0 * e.log_likelihood,
            e.aic,
            e.bic,
            e.converged
        );
        for q in &e.parameters {
            eprintln!(
                "  {:<16} start {:.4e} est {:.4e} profile {:?} {}",
                q.address, q.initial, q.estimate, q.profile_ci, q.verdict
            );
        }
        let k = e.parameters.len();
        for a in 0..k {
            for b in a + 1..k {
                let r = e.correlation[(a, b)];
                if r.abs() > 0.7 {
                    eprintln!(
                        "  corr {} - {}: {r:.2}",
                        e.parameters[a].address, e.parameters[b].address
                    );
                }
            }
        }
        eprintln!(
            "  sd: {:?}",
            e.sd.iter().map(|s| format!("{s:.3e}")).collect::<Vec<_>>()
        );
        // Residual structure (in-sample): predicted − observed per batch
        // against each DoE factor.
        let pairs = predict_targets(&ds, &ids, set, Some(&e.theta));
        let r_in = rmse(&pairs);
        eprintln!(
            "  in-sample RMSE final titer {:.4} g/L, galactosylated {:.4}",
            r_in[0], r_in[1]
        );
        for (j, t) in TARGETS.iter().enumerate() {
            let res: Vec<f64> = pairs.iter().map(|(p, o)| p[j] - o[j]).collect();
            let cors: Vec<String> = DESIGN
                .iter()
                .map(|f| {
                    let x: Vec<f64> = ids
                        .iter()
                        .map(|b| ds.batch(b).unwrap().meta.parameters[*f])
                        .collect();
                    format!("{f} {:+.2}", pearson(&x, &res))
                })
                .collect();
            eprintln!("  residual {t} vs factors: {}", cors.join(", "));
        }
        // 5-fold CV within B01–B30.
        let t0 = std::time::Instant::now();
        let mut all = Vec::new();
        for f in 0..5 {
            let test: Vec<String> = ids
                .iter()
                .enumerate()
                .filter(|(i, _)| i % 5 == f)
                .map(|(_, b)| b.clone())
                .collect();
            let train: Vec<String> = ids.iter().filter(|b| !test.contains(b)).cloned().collect();
            let ef = fit(&ds, &train, set, 0, false);
            all.extend(predict_targets(&ds, &test, set, Some(&ef.theta)));
        }
        let cv = rmse(&all);
        eprintln!(
            "  5-fold CV (B01-B30) RMSE final titer {:.4} g/L, galactosylated {:.4} ({:.1} s)",
            cv[0],
            cv[1],
            t0.elapsed().as_secs_f64()
        );
    }
    let nom = rmse(&predict_targets(&ds, &ids, CANDIDATES[0].1, None));
    eprintln!(
        "\nuncalibrated model on B01-B30: RMSE final titer {:.4} g/L, galactosylated {:.4}",
        nom[0], nom[1]
    );
}

/// The set chosen on B01–B30 (docs/fit.md, "Third run": set B).
pub const CHOSEN: [&str; 6] = [
    "model.mu_max",
    "model.k_d_amm",
    "model.beta_lp",
    "model.m_glc",
    "model.k_lys",
    "model.gal_ref",
];

fn fresh_dir() -> PathBuf {
    PathBuf::from(format!("{ROOT}/training-data/cho-edge-1901"))
}

/// PLS (2 components) trained on B01–B30 of `train_ds`, predicting
/// `test` batches of `test_ds`: (batch, predicted, observed) per batch.
pub fn pls_predictions(
    train_ds: &Dataset,
    test_ds: &Dataset,
    test: &[String],
    offline: &[&str],
) -> Vec<(String, [f64; 2], [f64; 2])> {
    let spec = UnfoldingSpec {
        online: vec![],
        offline: names(offline),
        parameters: names(&DESIGN),
        targets: names(&TARGETS),
        cutoff_fraction: 0.5,
        n_points: 1,
        mechanistic: None,
    };
    let edge: Vec<String> = train_ds
        .batch_ids()
        .into_iter()
        .filter(|b| b.as_str() > "B30")
        .collect();
    let art = train(
        train_ds,
        &spec,
        &ModelChoice::Pls(PlsParams::new(2)),
        &Validation::Holdout(edge),
    )
    .expect("PLS trains");
    let ev = evaluate(&art, test_ds, Some(test)).expect("evaluates");
    (0..ev.observed.nrows())
        .map(|i| {
            (
                ev.batch_ids[i].clone(),
                [ev.prediction.mean[(i, 0)], ev.prediction.mean[(i, 1)]],
                [ev.observed[(i, 0)], ev.observed[(i, 1)]],
            )
        })
        .collect()
}

pub const OFFLINE_DEFAULT: [&str; 8] = [
    "ammonium",
    "glucose",
    "glutamine",
    "lactate",
    "osmolality",
    "titer",
    "viability",
    "viable_cells",
];

/// RMSE of each comparator on `test` of `test_ds`, and how many batches
/// the calibrated model's absolute error is the smaller: rows (name,
/// rmse[2], wins[2]).
fn comparison(
    train_ds: &Dataset,
    test_ds: &Dataset,
    test: &[String],
    theta: &[f64],
) -> Vec<(&'static str, [f64; 2], [usize; 2])> {
    let cal = predict_targets(test_ds, test, &CHOSEN, Some(theta));
    let nom = predict_targets(test_ds, test, &CHOSEN, None);
    let by_id = |v: Vec<(String, [f64; 2], [f64; 2])>| -> Vec<([f64; 2], [f64; 2])> {
        test.iter()
            .map(|b| {
                let (_, p, o) = v.iter().find(|(id, _, _)| id == b).unwrap();
                (*p, *o)
            })
            .collect()
    };
    let pls_r = by_id(pls_predictions(train_ds, test_ds, test, &[]));
    let pls_c = by_id(pls_predictions(train_ds, test_ds, test, &OFFLINE_DEFAULT));
    for ((c, o), (_, o2)) in cal.iter().zip(&pls_r) {
        // The same observed CQAs in both paths.
        assert_eq!(o, o2);
        assert!(c.iter().all(|v| v.is_finite()));
    }
    eprintln!(
        "| batch | observed titer | calibrated | uncalibrated | PLS recipe | PLS default | observed gal | calibrated | uncalibrated | PLS recipe | PLS default |"
    );
    for (i, b) in test.iter().enumerate() {
        eprintln!(
            "| {b} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.4} | {:.4} | {:.4} | {:.4} | {:.4} |",
            cal[i].1[0],
            cal[i].0[0],
            nom[i].0[0],
            pls_r[i].0[0],
            pls_c[i].0[0],
            cal[i].1[1],
            cal[i].0[1],
            nom[i].0[1],
            pls_r[i].0[1],
            pls_c[i].0[1]
        );
    }
    let wins = |other: &[([f64; 2], [f64; 2])]| -> [usize; 2] {
        [0, 1].map(|j| {
            cal.iter()
                .zip(other)
                .filter(|((c, o), (p, _))| (c[j] - o[j]).abs() < (p[j] - o[j]).abs())
                .count()
        })
    };
    vec![
        ("calibrated platform model (set B)", rmse(&cal), [0, 0]),
        ("uncalibrated platform model", rmse(&nom), wins(&nom)),
        (
            "PLS, 2 comp., recipe only, B01-B30",
            rmse(&pls_r),
            wins(&pls_r),
        ),
        (
            "PLS, 2 comp., default features (50 % data), B01-B30",
            rmse(&pls_c),
            wins(&pls_c),
        ),
    ]
}

fn print_table(rows: &[(&str, [f64; 2], [usize; 2])], n: usize) {
    eprintln!(
        "| model | final titer RMSE (g/L) | galactosylated RMSE (fraction) | calibrated closer (titer / gal, of {n}) |"
    );
    for (name, r, w) in rows {
        eprintln!(
            "| {name} | {:.4} | {:.4} | {} / {} |",
            r[0], r[1], w[0], w[1]
        );
    }
}

/// The third run (docs/fit.md, "Third run: fresh edge batches"): set B fitted
/// to B01–B30 with 4 extra starts and profiles, then the 12 fresh edge
/// batches of seed 1901 predicted from their recipes, against the
/// uncalibrated model and PLS; B31–B36 reported as "chosen on".
#[test]
#[ignore = "the pre-registered third run, ~20 s on 2 cores"]
fn third_run_fresh_edge_batches() {
    let ds = Dataset::load(platform_dir()).unwrap();
    let fresh = Dataset::load(fresh_dir()).unwrap();
    let ids = interior(&ds);
    let t0 = std::time::Instant::now();
    let e = fit(&ds, &ids, &CHOSEN, 4, true);
    eprintln!(
        "fit of B01-B30: {:.1} s wall, {} observations, {} iterations, converged {}, start costs {:?}",
        t0.elapsed().as_secs_f64(),
        e.n_observations,
        e.iterations,
        e.converged,
        e.start_costs
    );
    for q in &e.parameters {
        eprintln!(
            "| `{}` | {:.4e} | {:.4e} | {:?} | {:?} | {} | {} |",
            q.address, q.initial, q.estimate, q.fisher_ci, q.profile_ci, q.verdict, q.reason
        );
    }
    let k = e.parameters.len();
    for a in 0..k {
        for b in a + 1..k {
            eprintln!(
                "corr {} - {}: {:.2}",
                e.parameters[a].address,
                e.parameters[b].address,
                e.correlation[(a, b)]
            );
        }
    }
    eprintln!("sd: {:?}", e.sd);
    let test = fresh.batch_ids();
    assert_eq!(test.len(), 12);
    eprintln!("\nFresh edge batches (cho-edge-1901, B01-B12), held out:");
    let rows = comparison(&ds, &fresh, &test, &e.theta);
    print_table(&rows, test.len());
    let old: Vec<String> = ds
        .batch_ids()
        .into_iter()
        .filter(|b| b.as_str() > "B30")
        .collect();
    eprintln!("\nB31-B36 of cho-platform (chosen on: not a criterion):");
    let rows_old = comparison(&ds, &ds, &old, &e.theta);
    print_table(&rows_old, old.len());
    // As reported in docs/fit.md ("Third run", as it came out; 4 decimals,
    // margin 1 in the last digit): a change in the model, solver,
    // estimator or data that moves them must be re-reported.
    let near = |x: f64, want: f64| (x - want).abs() <= 1.5e-4;
    for (rows, want) in [
        (
            &rows,
            [
                [0.9558, 0.0312],
                [1.4678, 0.0324],
                [1.5571, 0.0243],
                [0.8877, 0.0274],
            ],
        ),
        (
            &rows_old,
            [
                [1.1505, 0.0309],
                [1.7033, 0.0305],
                [1.1822, 0.0219],
                [0.9838, 0.0218],
            ],
        ),
    ] {
        for ((name, r, _), w) in rows.iter().zip(want) {
            assert!(near(r[0], w[0]) && near(r[1], w[1]), "{name}: {r:?}");
        }
    }
    for (a, want) in [
        ("model.mu_max", 4.2803e-2),
        ("model.k_d_amm", 4.6579e-2),
        ("model.beta_lp", 23.486),
        ("model.m_glc", 9.0116e-12),
        ("model.k_lys", 3.1793e-2),
        ("model.gal_ref", 34.949),
    ] {
        let q = e.parameters.iter().find(|q| q.address == a).unwrap();
        assert!(
            (q.estimate / want - 1.0).abs() < 5e-4,
            "{a}: {}",
            q.estimate
        );
        assert_eq!(q.verdict, "well determined", "{a}");
    }
}

/// The fresh edge batches are what the generator makes with the documented
/// arguments (seed 1901, no interior point, 12 edge points), and every one
/// is an edge point of the design rule: each factor at a corner of the
/// coded design (0 or 1) or 15 % of the range beyond it, 2–3 beyond.
#[test]
fn fresh_edge_batches_are_the_generators_edge_points() {
    check_generated_edge_batches(&fresh_dir(), 1901);
}

/// `dir` is what the generator makes with seed `seed`, no interior point
/// and 12 edge points, and every batch is an edge point (shared by the
/// fresh test sets of the third and fourth runs).
pub fn check_generated_edge_batches(dir: &std::path::Path, seed: u64) {
    let ds = Dataset::load(dir).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ds.batches.len(), 12);
    let mut o = ChoDoeOptions::new(format!(
        "{ROOT}/process-models/processes/cho-platform-3l.toml"
    ));
    o.seed = seed;
    o.n_interior = 0;
    o.n_edge = 12;
    let tmp = tempfile::tempdir().unwrap();
    write_cho_dataset(tmp.path(), &o).unwrap();
    let again = Dataset::load(tmp.path()).unwrap();
    assert_eq!(
        again.content_hash,
        ds.content_hash,
        "{} is not what the generator makes: rebuild it (see its README)",
        dir.display()
    );
    let design = std::fs::read_to_string(dir.join("design.csv")).unwrap();
    let mut lines = design.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let coded: Vec<usize> = (0..header.len())
        .filter(|&i| header[i].ends_with("_coded"))
        .collect();
    assert_eq!(coded.len(), 8);
    let mut n = 0;
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f[1], "true", "{line}");
        let c: Vec<f64> = coded.iter().map(|&i| f[i].parse().unwrap()).collect();
        assert!(
            c.iter().all(|&v| [0.0, 1.0, -0.15, 1.15].contains(&v)),
            "{line}"
        );
        let beyond = c.iter().filter(|&&v| v == -0.15 || v == 1.15).count();
        assert!((1..=3).contains(&beyond), "{line}");
        n += 1;
    }
    assert_eq!(n, 12);
}

/// The chosen set is identifiable from few batches: fitted to B01–B06 (one
/// start, no profiles), every parameter's Fisher 95 % interval is finite
/// and within a factor 10 ("well determined" without profiles), and no
/// two parameters are correlated beyond |r| 0.95.
#[test]
fn chosen_set_is_identifiable_on_six_interior_batches() {
    let ds = Dataset::load(platform_dir()).unwrap();
    let six: Vec<String> = (1..=6).map(|i| format!("B{i:02}")).collect();
    let e = fit(&ds, &six, &CHOSEN, 0, false);
    assert!(e.converged);
    for q in &e.parameters {
        assert_eq!(q.verdict, "well determined", "{}: {}", q.address, q.reason);
        let [lo, hi] = q.fisher_ci;
        let (lo, hi) = (lo.unwrap(), hi.unwrap());
        assert!(
            lo < q.estimate && q.estimate < hi && hi / lo < 10.0,
            "{q:?}"
        );
    }
    let k = e.parameters.len();
    for a in 0..k {
        for b in a + 1..k {
            assert!(e.correlation[(a, b)].abs() < 0.95, "{a} {b}");
        }
    }
}
