//! The third pre-registered CHO calibration study of `docs/fit.md`
//! ("Third run"): the parameter set is chosen on B01–B30 of
//! `training-data/cho-platform` only (`third_run_choice_on_b01_b30`,
//! in-sample), and the calibrated model then predicts fresh edge batches
//! that no earlier run has seen (`training-data/cho-edge-1901`, generator
//! seed 1901).
//!
//! The two studies are `#[ignore]`d (each takes about a minute or more on
//! the shared 2-core machine):
//!
//! ```text
//! cargo test --release -p biotwin-ml --test integration fit_cho_third -- --ignored --nocapture
//! ```

use std::path::PathBuf;

use biotwin_ml::calibration::estimate::{Estimate, Settings, estimate};
use biotwin_ml::calibration::setup::{Request, from_dataset};
use biotwin_ml::data::Dataset;
use biotwin_ml::surrogates::hybrid::mechanistic::MechanisticSpec;

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

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn platform_dir() -> PathBuf {
    PathBuf::from(format!("{ROOT}/training-data/cho-platform"))
}

fn mapping() -> PathBuf {
    platform_dir().join("mechanistic.toml")
}

/// B01–B30: the interior batches of `cho-platform`.
fn interior(ds: &Dataset) -> Vec<String> {
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
fn fit(
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
fn predict_targets(
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

fn rmse(pairs: &[([f64; 2], [f64; 2])]) -> [f64; 2] {
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

fn pearson(x: &[f64], y: &[f64]) -> f64 {
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
#[ignore = "in-sample choice of the third run, ~5 min on 2 cores"]
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
