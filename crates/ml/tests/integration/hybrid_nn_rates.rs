//! Serial hybrid with a neural-network rate correction (docs/hybrid.md,
//! "Neural-network rate correction"): the plant's growth and productivity
//! depend on lactate and ammonium in a way the Monod backbone lacks; the
//! network, trained on whole trajectories through the ODE solution (exact
//! forward sensitivities of every weight), learns the missing factors and
//! predicts held-out batches far better than the backbone.

use crate::noise_support;

use noise_support::Noise;
use std::path::Path;
use std::time::Instant;

use biotwin_core::bioreactor::simulate::{RunOptions, run};
use biotwin_core::simulation::{Scenario, load_process};
use biotwin_core::solver::{Method, Tolerances};
use biotwin_ml::surrogates::hybrid::rate_net::{RateNet, RateNetSpec};
use biotwin_ml::surrogates::hybrid::serial::{
    NM, NP, NS, SensitivityCulture, rates, simulate_with_net,
};
use biotwin_ml::surrogates::hybrid::{
    BatchObservations, HybridArtifact, HybridModel, SerialHybridParams,
};

const PROCESS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../process-models/processes/xing2010-reference.toml"
);

/// The plant's missing mechanism: one tanh unit of lactate and ammonium,
/// a = tanh(1.5 Amm/5 − 0.8 Lac/20 − 0.5), growth × exp(−0.4 a − 0.1),
/// productivity × exp(0.5 a + 0.2).
fn truth_net() -> RateNet {
    RateNet {
        corrected: vec![0, 6],
        hidden: 1,
        weights: vec![0.0, 0.0, -0.8, 1.5, -0.5, -0.4, 0.5, -0.1, 0.2],
    }
}

fn scenario() -> (Scenario, Vec<f64>) {
    let def = load_process(Path::new(PROCESS)).expect("reference process loads");
    let s = Scenario::from_definition(&def).expect("scenario");
    (s, def.model.params.file_factor.clone())
}

fn nominal() -> [f64; NP] {
    let mut p = [0.0; NP];
    p.copy_from_slice(&scenario().0.params_si);
    p
}

fn opts() -> RunOptions {
    SerialHybridParams::new(nominal().to_vec(), &[]).run_options()
}

/// A plant batch: (seeding cells/L, feed scale, initial lactate mM, initial
/// ammonium mM); daily samples of the seven measured states, 1 % noise.
fn plant_batch(id: &str, c: [f64; 4], noise: &mut Noise) -> BatchObservations {
    let (mut s, ff) = scenario();
    for (a, v) in [
        ("initial.xv_cells_per_l", c[0]),
        ("feeds.scale", c[1]),
        ("initial.lactate_mm", c[2]),
        ("initial.ammonium_mm", c[3]),
    ] {
        s.apply(a, v, &ff).unwrap();
    }
    let tr = simulate_with_net(&nominal(), Some(&truth_net()), &s.recipe, &opts())
        .expect("plant simulates");
    let values = tr
        .states
        .iter()
        .map(|y| {
            let mut v = [0.0; NM];
            for k in 0..NM {
                v[k] = y[k] * (1.0 + 0.01 * noise.normal());
            }
            v
        })
        .collect();
    BatchObservations {
        id: id.into(),
        recipe: s.recipe.clone(),
        times_s: tr.times_s.clone(),
        values,
    }
}

fn batches(design: &[[f64; 4]], prefix: &str, noise: &mut Noise) -> Vec<BatchObservations> {
    design
        .iter()
        .enumerate()
        .map(|(i, c)| plant_batch(&format!("{prefix}{i}"), *c, noise))
        .collect()
}

/// Weighted RMS error of trajectories against the observations.
fn rmse(
    predict: impl Fn(&BatchObservations) -> Vec<[f64; NS]>,
    bs: &[BatchObservations],
    w: &[f64],
) -> f64 {
    let (mut s, mut n) = (0.0, 0usize);
    for b in bs {
        for (y, obs) in predict(b).iter().zip(&b.values) {
            for k in 0..NM {
                s += ((y[k] - obs[k]) / w[k]).powi(2);
                n += 1;
            }
        }
    }
    (s / n as f64).sqrt()
}

fn spec() -> RateNetSpec {
    RateNetSpec {
        corrected: vec!["mu".into(), "q_p".into()],
        hidden: 4,
        weight_decay: 1e-5,
        seed: 11,
    }
}

#[test]
fn network_learns_the_missing_rate_factors_through_the_ode() {
    let mut noise = Noise::new(77);
    // Seeding 2–6·10⁸ cells/L, feed 0.9–1.4 ×, lactate 1–30 mM and
    // ammonium 0.5–8 mM at the start: the inputs span the plant's range.
    let train = batches(
        &[
            [2e8, 1.0, 1.0, 0.5],
            [4e8, 1.2, 10.0, 2.0],
            [6e8, 0.9, 20.0, 4.0],
            [3e8, 1.4, 30.0, 1.0],
            [5e8, 1.1, 5.0, 6.0],
            [2.5e8, 1.3, 15.0, 8.0],
            [4.5e8, 0.95, 25.0, 3.0],
            [3.5e8, 1.25, 2.0, 5.0],
        ],
        "T",
        &mut noise,
    );
    let val = batches(
        &[[3e8, 1.15, 12.0, 3.5], [5.5e8, 1.0, 22.0, 1.5]],
        "V",
        &mut noise,
    );
    let test = batches(
        &[
            [2.2e8, 1.05, 8.0, 2.5],
            [4.2e8, 1.35, 18.0, 6.5],
            [5.8e8, 0.92, 27.0, 0.8],
        ],
        "X",
        &mut noise,
    );
    let mut hp = SerialHybridParams::new(nominal().to_vec(), &[]);
    hp.network = Some(spec());
    hp.max_iter = 60;
    hp.patience = 8;
    let t0 = Instant::now();
    let model = hp.fit(&train, &val).expect("trains");
    let wall = t0.elapsed().as_secs_f64();
    let r = &model.report;
    println!(
        "{} iterations (best {}), {} sensitivity runs, {:.2} s, stopped early: {}, converged: {}",
        r.history.len() - 1,
        r.best_iteration,
        r.sensitivity_runs,
        wall,
        r.stopped_early,
        r.converged
    );
    assert!(r.best_iteration >= 1 && r.failure.is_none(), "{r:?}");

    let w = &model.weights;
    let backbone = rmse(
        |b| {
            simulate_with_net(&nominal(), None, &b.recipe, &opts())
                .unwrap()
                .states
        },
        &test,
        w,
    );
    let hybrid = rmse(|b| model.predict(&b.recipe).unwrap().states, &test, w);
    println!("held-out weighted RMSE: backbone {backbone:.4}, NN-corrected {hybrid:.4}");
    // 1 % noise on values of O(1) weight: the floor is about 0.01.
    assert!(hybrid < 0.03, "NN-corrected hybrid RMSE {hybrid}");
    // README: "held-out trajectory error 0.326 -> 0.0138" (measured 0.3259,
    // 0.0138): each within 1 %.
    assert!((backbone / 0.326 - 1.0).abs() < 0.01, "backbone {backbone}");
    assert!((hybrid / 0.0138 - 1.0).abs() < 0.01, "hybrid {hybrid}");
    assert!(hybrid < backbone / 4.0, "{hybrid} vs backbone {backbone}");

    // The learned factors against the true ones at the held-out batches'
    // true states (where the data inform them).
    let truth = truth_net();
    let (mut worst_mu, mut worst_qp): (f64, f64) = (0.0, 0.0);
    for b in &test {
        let tr = simulate_with_net(&nominal(), Some(&truth), &b.recipe, &opts()).unwrap();
        for y in &tr.states {
            let base = rates(&nominal(), y);
            let learned = model.rates(y);
            let f_true = truth.factors(
                [y[2].max(0.0), y[3].max(0.0), y[4].max(0.0), y[5].max(0.0)],
                None,
            );
            worst_mu = worst_mu.max((learned.mu / base.mu / f_true[0] - 1.0).abs());
            worst_qp = worst_qp.max((learned.q_p / base.q_p / f_true[6] - 1.0).abs());
        }
    }
    println!(
        "worst relative error of the learned factor: growth {worst_mu:.3}, productivity {worst_qp:.3}"
    );
    // README: "learned factors within 5.2 %" (measured 5.2 %, 3.9 %):
    // asserted < 5.3 %.
    assert!(
        worst_mu < 0.053 && worst_qp < 0.053,
        "{worst_mu} {worst_qp}"
    );

    // Sealed artifact round trip: identical predictions.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nn-serial.json");
    let art = HybridArtifact::new(HybridModel::Serial(Box::new(model.clone())), None);
    art.save(&path).unwrap();
    let back = HybridArtifact::load(&path).unwrap();
    let HybridModel::Serial(m2) = back.model else {
        panic!("kind")
    };
    assert_eq!(m2.net, model.net);
    assert_eq!(
        m2.predict(&test[0].recipe).unwrap(),
        model.predict(&test[0].recipe).unwrap()
    );
}

#[test]
fn weight_sensitivities_match_central_differences_through_the_ode() {
    let (mut s, ff) = scenario();
    s.apply("feeds.scale", 1.2, &ff).unwrap();
    s.apply("initial.ammonium_mm", 3.0, &ff).unwrap();
    let mut net = RateNet::new(&spec()).unwrap();
    for (i, w) in net.weights.iter_mut().enumerate() {
        *w += 0.2 * ((i as f64) * 1.3).sin();
    }
    let p = nominal();
    let opts = RunOptions {
        method: Method::Dopri5,
        tolerances: Tolerances {
            rtol: 1e-10,
            atol: 1e-12,
            ..Tolerances::default()
        },
        output_interval_s: Some(86_400.0),
    };
    for j in [0, 5, 17, 20, net.n_weights() - 1] {
        let sens = run(
            &SensitivityCulture::with_net(p, Some(net.clone()), Err(j), s.recipe.initial_volume_m3),
            &s.recipe,
            &opts,
        )
        .unwrap();
        let z = sens.final_state;
        let h = 1e-4;
        let (mut up, mut dn) = (net.clone(), net.clone());
        up.weights[j] += h;
        dn.weights[j] -= h;
        let a = simulate_with_net(&p, Some(&up), &s.recipe, &opts).unwrap();
        let b = simulate_with_net(&p, Some(&dn), &s.recipe, &opts).unwrap();
        let (ya, yb) = (a.states.last().unwrap(), b.states.last().unwrap());
        for k in 0..NM {
            let fd = (ya[k] - yb[k]) / (2.0 * h);
            let scale = [1e12, 1e12, 10.0, 10.0, 10.0, 10.0, 1.0][k];
            assert!(
                (z[NS + k] - fd).abs() < 1e-5 * scale + 1e-3 * fd.abs(),
                "weight {j}, state {k}: sensitivity {} vs difference {fd}",
                z[NS + k]
            );
        }
    }
}

#[test]
fn bad_network_settings_are_clear_errors() {
    let mut hp = SerialHybridParams::new(nominal().to_vec(), &[]);
    hp.network = Some(RateNetSpec {
        corrected: vec!["growth".into()],
        ..spec()
    });
    let e = hp.fit(&[], &[]).unwrap_err().to_string();
    assert!(
        e.contains("training batches") || e.contains("growth"),
        "{e}"
    );
    let mut noise = Noise::new(1);
    let b = batches(&[[3e8, 1.0, 1.0, 0.5]], "B", &mut noise);
    let e = hp.fit(&b, &[]).unwrap_err().to_string();
    assert!(e.contains("growth") && e.contains("q_p"), "{e}");
    // No learned parameter and no network: nothing to train.
    let hp = SerialHybridParams::new(nominal().to_vec(), &[]);
    let e = hp.fit(&b, &[]).unwrap_err().to_string();
    assert!(e.contains("rate network"), "{e}");
}
