//! The fourth pre-registered CHO calibration study of `docs/fit.md`
//! ("Fourth run"): the third run's calibrated model (set B on B01–B30)
//! plus a recipe-conditioned model discrepancy δ(x) estimated on the
//! B01–B30 residuals only (`calibration::discrepancy`). The discrepancy's
//! form is chosen on B01–B30 alone (`fourth_run_choice_on_b01_b30`,
//! in-sample), and the corrected model then predicts fresh edge batches
//! that did not exist when the plan was committed
//! (`training-data/cho-edge-2001`, generator seed 2001).
//!
//! The two studies are `#[ignore]`d (minutes on the shared 2-core
//! machine):
//!
//! ```text
//! cargo test --release -p biotwin-ml --test integration fit_cho_fourth -- --ignored --nocapture
//! ```

use std::path::PathBuf;

use biotwin_ml::calibration::discrepancy::{Corrected, EndPoints, Form, end_points};
use biotwin_ml::calibration::setup::{Request, from_dataset};
use biotwin_ml::data::Dataset;
use biotwin_ml::surrogates::hybrid::mechanistic::MechanisticSpec;

use super::fit_cho_third::{
    CHOSEN, OBSERVE, OFFLINE_DEFAULT, TARGETS, check_generated_edge_batches, fit, interior,
    mapping, names, platform_dir, pls_predictions, rmse,
};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

fn fresh_dir() -> PathBuf {
    PathBuf::from(format!("{ROOT}/training-data/cho-edge-2001"))
}

fn seen_dir() -> PathBuf {
    PathBuf::from(format!("{ROOT}/training-data/cho-edge-1901"))
}

/// The two targets of `batches` of `ds` as the platform model predicts them
/// at θ (None: nominal parameters), with their conditions and observations.
fn targets_at(ds: &Dataset, batches: &[String], theta: Option<&[f64]>) -> EndPoints {
    let spec = MechanisticSpec::load(&mapping()).unwrap();
    let params = names(&CHOSEN);
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
    end_points(&spec, &mapping(), ds, &hp, theta, &names(&TARGETS)).unwrap()
}

type Pairs = Vec<([f64; 2], [f64; 2])>;

fn pairs(ep: &EndPoints, pred: impl Fn(usize, usize) -> f64) -> Pairs {
    (0..ep.batches.len())
        .map(|i| {
            (
                [pred(i, 0), pred(i, 1)],
                [ep.observed[i][0].unwrap(), ep.observed[i][1].unwrap()],
            )
        })
        .collect()
}

/// Corrected predictions and their 95 % predictive intervals' hits.
fn corrected_pairs(ep: &EndPoints, corr: &[Vec<(f64, Option<Corrected>)>]) -> (Pairs, [usize; 2]) {
    let p = pairs(ep, |i, j| corr[i][j].0);
    let mut hits = [0, 0];
    for (i, (pr, ob)) in p.iter().enumerate() {
        for j in 0..2 {
            let sd = corr[i][j].1.unwrap().predictive_sd;
            if (pr[j] - ob[j]).abs() <= 1.96 * sd {
                hits[j] += 1;
            }
        }
    }
    (p, hits)
}

/// In-sample choice of the discrepancy's form on B01–B30 only (nothing of
/// B31–B36, cho-edge-1901 or the fresh batches is read): a 5-fold
/// cross-validation of the whole two-stage estimate within B01–B30 (fold f
/// holds out B(f+1), B(f+6), …; in each fold set B is refitted to the 24
/// others with one start and no profiles, δ is estimated on those 24
/// batches' residuals, and the 6 held-out batches are predicted from their
/// recipes), for no δ, `linear` and `gp`.
///
/// Rule of the choice (written before this analysis was run): the form with
/// the lowest mean over the two targets of (CV RMSE / CV RMSE without δ);
/// `linear` is taken over `gp` when within 2 % of it (fewer assumptions, and
/// a plane extrapolates to the edges where a stationary GP reverts to the
/// mean); no δ (and no fourth run) if neither lowers that mean by 2 % or
/// more.
#[test]
#[ignore = "in-sample choice of the fourth run, ~1-2 min on 2 cores"]
fn fourth_run_choice_on_b01_b30() {
    let ds = Dataset::load(platform_dir()).unwrap();
    let ids = interior(&ds);
    let src = platform_dir().join("dataset.toml");
    let mut none: Pairs = Vec::new();
    let mut lin: Pairs = Vec::new();
    let mut gp: Pairs = Vec::new();
    let mut cover = [[0usize; 2]; 2];
    let t0 = std::time::Instant::now();
    for f in 0..5 {
        let test: Vec<String> = ids
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 5 == f)
            .map(|(_, b)| b.clone())
            .collect();
        let train: Vec<String> = ids.iter().filter(|b| !test.contains(b)).cloned().collect();
        let ef = fit(&ds, &train, &CHOSEN, 0, false);
        let ep_train = targets_at(&ds, &train, Some(&ef.theta));
        let ep_test = targets_at(&ds, &test, Some(&ef.theta));
        none.extend(pairs(&ep_test, |i, j| ep_test.predicted[(i, j)]));
        for (k, form) in [Form::Linear, Form::Gp].into_iter().enumerate() {
            let d = ep_train.discrepancy(form, &src).unwrap();
            let corr = ep_test.corrected(&d).unwrap();
            let (p, hits) = corrected_pairs(&ep_test, &corr);
            cover[k][0] += hits[0];
            cover[k][1] += hits[1];
            if k == 0 {
                lin.extend(p);
            } else {
                gp.extend(p);
            }
            for t in &d.targets {
                eprintln!(
                    "  fold {f} {:?} {}: sd {:.4} loo {:.4} (without {:.4}) {}",
                    form,
                    t.target,
                    t.residual_sd,
                    t.loo_rmse,
                    t.rmse_without,
                    match &t.correction {
                        biotwin_ml::calibration::discrepancy::Correction::Linear {
                            ridge, ..
                        } => format!("ridge {ridge}"),
                        biotwin_ml::calibration::discrepancy::Correction::Gp { model } =>
                            format!("gp {:?}", model.kernel),
                    }
                );
            }
        }
    }
    let (rn, rl, rg) = (rmse(&none), rmse(&lin), rmse(&gp));
    let ratio = |r: [f64; 2]| 0.5 * (r[0] / rn[0] + r[1] / rn[1]);
    eprintln!(
        "\n5-fold CV within B01-B30 ({:.1} s), RMSE final titer (g/L) / galactosylated:",
        t0.elapsed().as_secs_f64()
    );
    eprintln!(
        "| no discrepancy | {:.4} | {:.4} | 1.000 | - |",
        rn[0], rn[1]
    );
    eprintln!(
        "| linear | {:.4} | {:.4} | {:.3} | {} / {} of 30 |",
        rl[0],
        rl[1],
        ratio(rl),
        cover[0][0],
        cover[0][1]
    );
    eprintln!(
        "| gp | {:.4} | {:.4} | {:.3} | {} / {} of 30 |",
        rg[0],
        rg[1],
        ratio(rg),
        cover[1][0],
        cover[1][1]
    );
    // The full fit's discrepancy (in-sample) for the record.
    let e = fit(&ds, &ids, &CHOSEN, 4, false);
    let ep = targets_at(&ds, &ids, Some(&e.theta));
    for form in [Form::Linear, Form::Gp] {
        let d = ep.discrepancy(form, &src).unwrap();
        eprintln!(
            "\nfull B01-B30 discrepancy {form:?}: {}",
            serde_json::to_string(&d.targets).unwrap()
        );
    }
}

/// The discrepancy's form chosen on B01–B30 (docs/fit.md, "Fourth run").
pub const FORM: Form = Form::Linear;

/// Comparator rows on `test` of `test_ds`: (name, rmse[2], closer[2]), and
/// the corrected model's 95 % interval hits.
fn comparison(
    train_ds: &Dataset,
    test_ds: &Dataset,
    test: &[String],
    theta: &[f64],
    d: &biotwin_ml::calibration::discrepancy::Discrepancy,
) -> (Vec<(&'static str, [f64; 2], [usize; 2])>, [usize; 2]) {
    let ep = targets_at(test_ds, test, Some(theta));
    let nom_ep = targets_at(test_ds, test, None);
    let corr = ep.corrected(d).unwrap();
    let (cd, hits) = corrected_pairs(&ep, &corr);
    let cal = pairs(&ep, |i, j| ep.predicted[(i, j)]);
    let nom = pairs(&nom_ep, |i, j| nom_ep.predicted[(i, j)]);
    let by_id = |v: Vec<(String, [f64; 2], [f64; 2])>| -> Pairs {
        test.iter()
            .map(|b| {
                let (_, p, o) = v.iter().find(|(id, _, _)| id == b).unwrap();
                (*p, *o)
            })
            .collect()
    };
    let pls_r = by_id(pls_predictions(train_ds, test_ds, test, &[]));
    let pls_c = by_id(pls_predictions(train_ds, test_ds, test, &OFFLINE_DEFAULT));
    for ((_, o), (_, o2)) in cd.iter().zip(&pls_r) {
        assert_eq!(o, o2);
    }
    eprintln!(
        "| batch | observed titer | cal. + δ (± 1.96 SD) | calibrated | uncalibrated | PLS recipe | PLS default | observed gal | cal. + δ (± 1.96 SD) | calibrated | uncalibrated | PLS recipe | PLS default |"
    );
    for (i, b) in test.iter().enumerate() {
        let sd = |j: usize| corr[i][j].1.unwrap().predictive_sd * 1.96;
        eprintln!(
            "| {b} | {:.3} | {:.3} ± {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.4} | {:.4} ± {:.4} | {:.4} | {:.4} | {:.4} | {:.4} |",
            cd[i].1[0],
            cd[i].0[0],
            sd(0),
            cal[i].0[0],
            nom[i].0[0],
            pls_r[i].0[0],
            pls_c[i].0[0],
            cd[i].1[1],
            cd[i].0[1],
            sd(1),
            cal[i].0[1],
            nom[i].0[1],
            pls_r[i].0[1],
            pls_c[i].0[1]
        );
    }
    let wins = |other: &Pairs| -> [usize; 2] {
        [0, 1].map(|j| {
            cd.iter()
                .zip(other)
                .filter(|((c, o), (p, _))| (c[j] - o[j]).abs() < (p[j] - o[j]).abs())
                .count()
        })
    };
    (
        vec![
            ("calibrated model + linear discrepancy", rmse(&cd), [0, 0]),
            (
                "calibrated model, no discrepancy (third run's)",
                rmse(&cal),
                wins(&cal),
            ),
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
        ],
        hits,
    )
}

fn print_table(rows: &[(&str, [f64; 2], [usize; 2])], hits: [usize; 2], n: usize) {
    eprintln!(
        "| model | final titer RMSE (g/L) | galactosylated RMSE (fraction) | corrected closer (titer / gal, of {n}) |"
    );
    for (name, r, w) in rows {
        eprintln!(
            "| {name} | {:.4} | {:.4} | {} / {} |",
            r[0], r[1], w[0], w[1]
        );
    }
    eprintln!(
        "95 % predictive intervals of the corrected model contain the observed value: titer {} of {n}, galactosylated {} of {n}",
        hits[0], hits[1]
    );
}

/// The fourth run (docs/fit.md, "Fourth run"): set B fitted to B01–B30 (4
/// extra starts, profiles), δ (`FORM`) estimated on the B01–B30 residuals,
/// then the 12 fresh edge batches of seed 2001 predicted from their
/// recipes; cho-edge-1901 and B31–B36 reported as "chosen on".
#[test]
#[ignore = "the pre-registered fourth run, ~30 s on 2 cores"]
fn fourth_run_fresh_edge_batches() {
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
            "| `{}` | {:.4e} | {:.4e} | {:?} | {:?} | {} |",
            q.address, q.initial, q.estimate, q.fisher_ci, q.profile_ci, q.verdict
        );
    }
    let src = platform_dir().join("dataset.toml");
    let ep = targets_at(&ds, &ids, Some(&e.theta));
    let d = ep.discrepancy(FORM, &src).unwrap();
    eprintln!(
        "discrepancy ({:?}) on B01-B30: {}",
        FORM,
        serde_json::to_string(&d.targets).unwrap()
    );
    eprintln!("conditions {:?}, scaler {:?}", d.conditions, d.scaler);
    let test = fresh.batch_ids();
    assert_eq!(test.len(), 12);
    eprintln!("\nFresh edge batches (cho-edge-2001, B01-B12), held out:");
    let (rows, hits) = comparison(&ds, &fresh, &test, &e.theta, &d);
    print_table(&rows, hits, test.len());
    let seen = Dataset::load(seen_dir()).unwrap();
    let seen_ids = seen.batch_ids();
    eprintln!("\ncho-edge-1901 (chosen on: not a criterion):");
    let (rows1, hits1) = comparison(&ds, &seen, &seen_ids, &e.theta, &d);
    print_table(&rows1, hits1, seen_ids.len());
    let old: Vec<String> = ds
        .batch_ids()
        .into_iter()
        .filter(|b| b.as_str() > "B30")
        .collect();
    eprintln!("\nB31-B36 of cho-platform (chosen on: not a criterion):");
    let (rows2, hits2) = comparison(&ds, &ds, &old, &e.theta, &d);
    print_table(&rows2, hits2, old.len());
    // As reported in docs/fit.md ("Fourth run", as it came out; 4 decimals,
    // margin 1.5 in the last digit): a change in the model, solver,
    // estimator, discrepancy or data that moves them must be re-reported.
    let near = |x: f64, want: f64| (x - want).abs() <= 1.5e-4;
    for (rows, want) in [
        (
            &rows,
            [
                [1.0287, 0.0201],
                [1.2212, 0.0316],
                [1.7755, 0.0315],
                [1.2895, 0.0236],
                [0.9248, 0.0210],
            ],
        ),
        (
            &rows1,
            [
                [1.0841, 0.0247],
                [0.9558, 0.0312],
                [1.4678, 0.0324],
                [1.5571, 0.0243],
                [0.8877, 0.0274],
            ],
        ),
        (
            &rows2,
            [
                [0.8164, 0.0197],
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
    assert_eq!((hits, hits1, hits2), ([10, 11], [10, 10], [5, 6]));
}

/// `training-data/cho-edge-2001` is what the generator makes with the
/// documented arguments (seed 2001, no interior point, 12 edge points),
/// and every batch is an edge point of the design rule.
#[test]
fn fresh_edge_2001_batches_are_the_generators_edge_points() {
    check_generated_edge_batches(&fresh_dir(), 2001);
}
