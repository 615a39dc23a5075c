//! Hybrid models (docs/hybrid.md): the serial hybrid recovers known
//! kinetics from noisy trajectories; artifacts round-trip and refuse
//! tampering; the parallel hybrid corrects a systematic model mismatch.

use crate::noise_support;

use noise_support::Noise;
use std::path::Path;
use std::time::Instant;

use biotwin_core::bioreactor::xing2010::PARAMS;
use biotwin_core::simulation::{Scenario, load_process};
use biotwin_ml::surrogates::hybrid::parallel::mechanistic_cqas;
use biotwin_ml::surrogates::hybrid::serial::NM;
use biotwin_ml::surrogates::hybrid::{
    BatchObservations, Corrector, HybridArtifact, HybridModel, ParallelHybrid, SerialHybrid,
    SerialHybridParams,
};
use biotwin_ml::surrogates::pls::PlsParams;
use nalgebra::DMatrix;

const PROCESS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../process-models/processes/xing2010-reference.toml"
);

fn base() -> (Scenario, Vec<f64>) {
    let def = load_process(Path::new(PROCESS)).expect("reference process loads");
    let s = Scenario::from_definition(&def).expect("scenario");
    (s, def.model.params.file_factor.clone())
}

fn idx(name: &str) -> usize {
    PARAMS.iter().position(|p| p.name == name).unwrap()
}

/// A batch of the true xing2010 model (hourly output), sampled daily with
/// `cv` multiplicative measurement noise.
fn batch(
    id: &str,
    seed_cells_per_l: f64,
    feed_scale: f64,
    truth_si: &[f64],
    cv: f64,
    noise: &mut Noise,
) -> BatchObservations {
    let (mut s, ff) = base();
    s.params_si = truth_si.to_vec();
    s.apply("initial.xv_cells_per_l", seed_cells_per_l, &ff)
        .unwrap();
    s.apply("feeds.scale", feed_scale, &ff).unwrap();
    let out = s.simulate(true).expect("truth simulates");
    let col = |n: &str| out.column(n).unwrap();
    let (t, xv, xd) = (
        col("time_h"),
        col("xv_1e6_cells_per_ml"),
        col("xd_1e6_cells_per_ml"),
    );
    let (glc, gln, lac, amm, mab) = (
        col("glucose_mm"),
        col("glutamine_mm"),
        col("lactate_mm"),
        col("ammonium_mm"),
        col("titer_g_per_l"),
    );
    let mut times_s = Vec::new();
    let mut values = Vec::new();
    for i in (0..t.len()).step_by(24) {
        assert!((t[i] - i as f64).abs() < 1e-9);
        times_s.push(t[i] * 3600.0);
        let exact = [
            xv[i] * 1e12,
            xd[i] * 1e12,
            glc[i],
            gln[i],
            lac[i],
            amm[i],
            mab[i],
        ];
        let mut v = [0.0; NM];
        for k in 0..NM {
            v[k] = exact[k] * (1.0 + cv * noise.normal());
        }
        values.push(v);
    }
    BatchObservations {
        id: id.to_string(),
        recipe: s.recipe.clone(),
        times_s,
        values,
    }
}

const LEARNED: [&str; 6] = [
    "mu_max",
    "mu_d_max",
    "Y_x_glc",
    "Y_x_gln",
    "Y_lac_glc",
    "q_mab",
];
/// Starting values: truth times these factors (up to 50 % off).
const START: [f64; 6] = [1.4, 0.6, 1.5, 0.7, 1.3, 0.75];

fn start_params(truth: &[f64]) -> Vec<f64> {
    let mut p = truth.to_vec();
    for (n, f) in LEARNED.iter().zip(START) {
        p[idx(n)] *= f;
    }
    p
}

fn design(n: usize) -> Vec<(f64, f64)> {
    // Seeding 2–6 × 10^8 cells/L, feed 0.95–1.4 × nominal (glucose never
    // runs out): a grid.
    let seeds = [2e8, 3e8, 4e8, 5e8, 6e8];
    let feeds = [0.95, 1.1, 1.25, 1.4];
    let mut d = Vec::new();
    for f in feeds {
        for s in seeds {
            d.push((s, f));
        }
    }
    d.truncate(n);
    d
}

fn train_serial(n_train: usize) -> (SerialHybrid, Vec<f64>, f64, Vec<BatchObservations>) {
    let (s, _) = base();
    let truth = s.params_si.clone();
    let mut noise = Noise::new(42);
    let train: Vec<_> = design(n_train)
        .into_iter()
        .enumerate()
        .map(|(i, (sd, f))| batch(&format!("T{i}"), sd, f, &truth, 0.01, &mut noise))
        .collect();
    let val: Vec<_> = [(2.5e8, 1.0), (5.5e8, 1.3)]
        .into_iter()
        .enumerate()
        .map(|(i, (sd, f))| batch(&format!("V{i}"), sd, f, &truth, 0.01, &mut noise))
        .collect();
    let hp = SerialHybridParams::new(start_params(&truth), &LEARNED);
    let t0 = Instant::now();
    let model = hp.fit(&train, &val).expect("training succeeds");
    let wall = t0.elapsed().as_secs_f64();
    (model, truth, wall, val)
}

#[test]
fn serial_hybrid_recovers_known_kinetics() {
    let (model, truth, wall, val) = train_serial(9);
    println!(
        "serial hybrid, 9 training + 2 validation batches: {wall:.2} s, {} iterations (best {}), {} sensitivity runs, early stop {}, converged {}",
        model.report.history.len() - 1,
        model.report.best_iteration,
        model.report.sensitivity_runs,
        model.report.stopped_early,
        model.report.converged
    );
    for (name, f) in LEARNED.iter().zip(START) {
        let (got, want) = (model.param(name).unwrap(), truth[idx(name)]);
        let rel = (got / want - 1.0).abs();
        println!(
            "  {name:10} start {:+6.1} %  fitted {:+7.3} %",
            (f - 1.0) * 100.0,
            (got / want - 1.0) * 100.0
        );
        // README: "recovers known xing2010 kinetics within 0.3 %" (measured
        // worst 0.265 %, mu_d_max), asserted < 0.35 %.
        assert!(
            rel < 0.0035,
            "{name}: fitted {got}, truth {want} ({:.3} % off)",
            rel * 100.0
        );
    }
    // Rates over the observed state range match the true rate expressions.
    let mut p_true = [0.0; 18];
    p_true.copy_from_slice(&truth);
    let mut worst: f64 = 0.0;
    for b in &val {
        for v in &b.values {
            let y = [v[0], v[1], v[2], v[3], v[4], v[5], v[6], 1.0];
            let (r, t) = (
                model.rates(&y),
                biotwin_ml::surrogates::hybrid::serial::rates(&p_true, &y),
            );
            for (a, b) in [
                (r.mu, t.mu),
                (r.mu_d, t.mu_d),
                (r.q_glc, t.q_glc),
                (r.q_p, t.q_p),
            ] {
                if b.abs() > 1e-3 * 1e-4 / 3600.0 {
                    worst = worst.max((a / b - 1.0).abs());
                }
            }
        }
    }
    println!(
        "  worst relative rate error over validation states: {:.3} %",
        worst * 100.0
    );
    // Measured 0.265 %: asserted < 0.35 %.
    assert!(worst < 0.0035, "worst rate error {:.3} %", worst * 100.0);
    let rmse = model.weighted_rmse(&val).unwrap();
    println!("  validation weighted RMSE {rmse:.4} (noise 1 %)");
    // At the 1 % noise floor (measured 0.0105).
    assert!(rmse < 0.011, "{rmse}");
}

#[test]
fn serial_hybrid_trains_on_20_batches() {
    let (model, truth, wall, _) = train_serial(20);
    println!(
        "serial hybrid, 20 training + 2 validation batches: {wall:.2} s, {} iterations, {} sensitivity + {} forward runs",
        model.report.history.len() - 1,
        model.report.sensitivity_runs,
        model.report.forward_runs
    );
    for name in LEARNED {
        let (got, want) = (model.param(name).unwrap(), truth[idx(name)]);
        assert!((got / want - 1.0).abs() < 0.05, "{name}");
    }
    // The wall time is printed, not asserted (it depends on the machine).
    let _ = wall;
}

#[test]
fn early_stopping_keeps_the_best_validation_iterate() {
    // Validation batches from a different plant (q_mab 30 % higher): the
    // validation error stops improving and training stops early with the
    // best-validation parameters.
    let (s, _) = base();
    let truth = s.params_si.clone();
    let mut other = truth.clone();
    other[idx("q_mab")] *= 1.3;
    let mut noise = Noise::new(7);
    let train: Vec<_> = design(6)
        .into_iter()
        .map(|(sd, f)| batch("T", sd, f, &truth, 0.01, &mut noise))
        .collect();
    let val = vec![batch("V", 5e8, 1.0, &other, 0.01, &mut noise)];
    let mut hp = SerialHybridParams::new(start_params(&truth), &LEARNED);
    hp.patience = 2;
    let m = hp.fit(&train, &val).unwrap();
    let best = m.report.history[m.report.best_iteration]
        .validation_mse
        .unwrap();
    for h in &m.report.history {
        assert!(h.validation_mse.unwrap() >= best);
    }
    assert!(m.report.best_iteration < m.report.history.len() - 1 || m.report.converged);
}

#[test]
fn artifacts_round_trip_and_refuse_tampering() {
    let (s, _) = base();
    let truth = s.params_si.clone();
    let mut noise = Noise::new(3);
    let train: Vec<_> = design(4)
        .into_iter()
        .map(|(sd, f)| batch("T", sd, f, &truth, 0.01, &mut noise))
        .collect();
    let mut hp = SerialHybridParams::new(start_params(&truth), &LEARNED);
    hp.max_iter = 3;
    let model = hp.fit(&train, &[]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("serial.json");
    let mut art = HybridArtifact::new(HybridModel::Serial(Box::new(model.clone())), None);
    art.metrics.insert("train_weighted_rmse".into(), 0.01);
    art.save(&path).unwrap();
    let back = HybridArtifact::load(&path).unwrap();
    assert_eq!(back, art);
    let HybridModel::Serial(m2) = back.model else {
        panic!("kind")
    };
    let (a, b) = (
        model.predict(&train[0].recipe).unwrap(),
        m2.predict(&train[0].recipe).unwrap(),
    );
    assert_eq!(a, b, "identical predictions after the round trip");

    // Change one fitted parameter's digit: refused.
    let text = std::fs::read_to_string(&path).unwrap();
    let key = text.find("\"params_si\"").unwrap();
    let digit = key
        + text[key..]
            .find(|c: char| c.is_ascii_digit() && c != '0')
            .unwrap();
    let mut bytes = text.into_bytes();
    bytes[digit] = if bytes[digit] == b'9' {
        b'8'
    } else {
        bytes[digit] + 1
    };
    std::fs::write(&path, bytes).unwrap();
    let err = HybridArtifact::load(&path).unwrap_err().to_string();
    assert!(err.contains("altered"), "{err}");
}

/// End-of-batch titer and lactate with the plant (`params`) under
/// conditions (seeding, feed scale, feed glucose).
fn cqas(params: &[f64], c: &[f64; 3]) -> Vec<f64> {
    let (mut s, ff) = base();
    s.params_si = params.to_vec();
    s.apply("initial.xv_cells_per_l", c[0], &ff).unwrap();
    s.apply("feeds.scale", c[1], &ff).unwrap();
    s.apply("media.feed.glucose_mm", c[2], &ff).unwrap();
    mechanistic_cqas(&s, &["titer_g_per_l", "lactate_mm"]).unwrap()
}

#[test]
fn parallel_hybrid_corrects_a_systematic_mismatch() {
    let (s, _) = base();
    let model = s.params_si.clone();
    // The plant: 25 % higher productivity, slower growth, stronger
    // ammonium inhibition than the mechanistic model assumes.
    let mut plant = model.clone();
    plant[idx("q_mab")] *= 1.25;
    plant[idx("mu_max")] *= 0.92;
    plant[idx("KI_amm")] *= 0.8;
    let mut noise = Noise::new(11);
    let conds: Vec<[f64; 3]> = (0..24)
        .map(|_| {
            [
                2e8 + 4e8 * noise.uniform(),
                1.0 + 0.4 * noise.uniform(),
                380.0 + 120.0 * noise.uniform(),
            ]
        })
        .collect();
    let q = 2;
    let mut x = DMatrix::zeros(conds.len(), 3);
    let mut mech = DMatrix::zeros(conds.len(), q);
    let mut obs = DMatrix::zeros(conds.len(), q);
    for (i, c) in conds.iter().enumerate() {
        let (m, p) = (cqas(&model, c), cqas(&plant, c));
        for j in 0..3 {
            x[(i, j)] = c[j];
        }
        for j in 0..q {
            mech[(i, j)] = m[j];
            obs[(i, j)] = p[j] * (1.0 + 0.01 * noise.normal());
        }
    }
    let (tr, te): (Vec<usize>, Vec<usize>) = (0..conds.len()).partition(|i| i % 4 != 0);
    let names = vec!["titer_g_per_l".to_string(), "lactate_mm".to_string()];
    let hybrid = ParallelHybrid::fit(
        &Corrector::Pls(PlsParams::new(3)),
        &x.select_rows(&tr),
        &mech.select_rows(&tr),
        &obs.select_rows(&tr),
        vec!["seed".into(), "feed_scale".into(), "feed_glucose".into()],
        names.clone(),
    )
    .unwrap();
    let pred = hybrid
        .predict(&x.select_rows(&te), &mech.select_rows(&te))
        .unwrap();
    let (obs_te, mech_te) = (obs.select_rows(&te), mech.select_rows(&te));
    for j in 0..q {
        let rmse = |m: &DMatrix<f64>| {
            ((0..te.len())
                .map(|i| (m[(i, j)] - obs_te[(i, j)]).powi(2))
                .sum::<f64>()
                / te.len() as f64)
                .sqrt()
        };
        let (r_mech, r_hyb) = (rmse(&mech_te), rmse(&pred.mean));
        println!(
            "parallel hybrid {}: held-out RMSE mechanistic {r_mech:.4}, corrected {r_hyb:.4} ({:.0} % lower)",
            names[j],
            100.0 * (1.0 - r_hyb / r_mech)
        );
        // README: "parallel hybrid cuts held-out titer RMSE 59 %" (measured
        // 59.4 %; lactate 93.9 %): asserted >= 58 % and >= 93 %.
        let floor = [0.58, 0.93][j];
        assert!(
            1.0 - r_hyb / r_mech >= floor,
            "{}: {:.1} % lower, asserted >= {:.0} %",
            names[j],
            100.0 * (1.0 - r_hyb / r_mech),
            100.0 * floor
        );
    }
    // Round trip of the parallel hybrid too.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("parallel.json");
    HybridArtifact::new(HybridModel::Parallel(Box::new(hybrid.clone())), None)
        .save(&path)
        .unwrap();
    let HybridModel::Parallel(back) = HybridArtifact::load(&path).unwrap().model else {
        panic!("kind")
    };
    assert_eq!(
        back.predict(&x.select_rows(&te), &mech.select_rows(&te))
            .unwrap(),
        pred
    );
}

#[test]
fn forward_sensitivities_match_central_differences() {
    use biotwin_core::bioreactor::simulate::{RunOptions, run};
    use biotwin_core::solver::{Method, Tolerances};
    use biotwin_ml::surrogates::hybrid::serial::{SensitivityCulture, simulate};
    let (mut s, ff) = base();
    // Continuous feed switched on at 72 h: the event path is exercised.
    s.apply("feeds.scale", 1.2, &ff).unwrap();
    let mut p = [0.0; 18];
    p.copy_from_slice(&s.params_si);
    let opts = RunOptions {
        method: Method::Dopri5,
        tolerances: Tolerances {
            rtol: 1e-10,
            atol: 1e-12,
            ..Tolerances::default()
        },
        output_interval_s: Some(86_400.0),
    };
    for name in ["mu_max", "Y_x_glc", "q_mab", "KI_lac"] {
        let j = idx(name);
        let sens = run(
            &SensitivityCulture::new(p, j, s.recipe.initial_volume_m3),
            &s.recipe,
            &opts,
        )
        .unwrap();
        let z = sens.final_state;
        // Central differences are limited by the adaptive step choice (their
        // spread over h = 1e-6…1e-3 is ~1e-4 relative): compare to 1e-3.
        let h: f64 = 1e-3;
        let (mut up, mut dn) = (p, p);
        up[j] *= h.exp();
        dn[j] *= (-h).exp();
        let (a, b) = (
            simulate(&up, &s.recipe, &opts).unwrap(),
            simulate(&dn, &s.recipe, &opts).unwrap(),
        );
        let (ya, yb) = (a.states.last().unwrap(), b.states.last().unwrap());
        for k in 0..7 {
            let fd = (ya[k] - yb[k]) / (2.0 * h);
            let scale = [1e12, 1e12, 10.0, 10.0, 10.0, 10.0, 1.0][k];
            assert!(
                (z[8 + k] - fd).abs() < 1e-4 * scale + 1e-3 * fd.abs(),
                "{name}, state {k}: sensitivity {} vs difference {fd}",
                z[8 + k]
            );
        }
    }
}

/// A batch of the true model under varied media: `c` = (seeding cells/L,
/// feed scale, initial glucose mM, initial glutamine mM, feed glutamine mM,
/// initial lactate mM, initial ammonium mM); sampled every `every_h` hours.
fn varied_batch(
    id: &str,
    c: [f64; 7],
    truth_si: &[f64],
    every_h: usize,
    cv: f64,
    noise: &mut Noise,
) -> BatchObservations {
    let (mut s, ff) = base();
    s.params_si = truth_si.to_vec();
    for (a, v) in [
        ("initial.xv_cells_per_l", c[0]),
        ("feeds.scale", c[1]),
        ("initial.glucose_mm", c[2]),
        ("initial.glutamine_mm", c[3]),
        ("media.feed.glutamine_mm", c[4]),
        ("initial.lactate_mm", c[5]),
        ("initial.ammonium_mm", c[6]),
    ] {
        s.apply(a, v, &ff).unwrap();
    }
    let out = s.simulate(true).expect("truth simulates");
    let col = |n: &str| out.column(n).unwrap();
    let t = col("time_h");
    let cols = [
        col("xv_1e6_cells_per_ml"),
        col("xd_1e6_cells_per_ml"),
        col("glucose_mm"),
        col("glutamine_mm"),
        col("lactate_mm"),
        col("ammonium_mm"),
        col("titer_g_per_l"),
    ];
    let mut times_s = Vec::new();
    let mut values = Vec::new();
    for i in (0..t.len()).step_by(every_h) {
        times_s.push(t[i] * 3600.0);
        let mut v = [0.0; NM];
        for k in 0..NM {
            let unit = if k < 2 { 1e12 } else { 1.0 };
            v[k] = cols[k][i] * unit * (1.0 + cv * noise.normal());
        }
        values.push(v);
    }
    BatchObservations {
        id: id.to_string(),
        recipe: s.recipe.clone(),
        times_s,
        values,
    }
}

/// Learned in the Monod recovery test: the six rates' scales plus the
/// half-saturation, inhibition and death constants.
const MONOD_LEARNED: [(&str, f64); 12] = [
    ("mu_max", 1.3),
    ("mu_d_max", 0.75),
    ("K_gln", 1.5),
    ("KI_lac", 0.7),
    ("KI_amm", 1.3),
    ("KD_lac", 1.3),
    ("KD_amm", 0.75),
    ("a2", 1.4),
    ("Y_x_glc", 1.3),
    ("Y_x_gln", 0.8),
    ("Y_lac_glc", 1.2),
    ("q_mab", 0.8),
];

#[test]
fn serial_hybrid_recovers_monod_constants() {
    let (s, _) = base();
    let truth = s.params_si.clone();
    let mut noise = Noise::new(2024);
    // Conditions: glutamine-starved media (phases with Gln near K_gln and
    // a2), lactate and ammonium spiked at the start (inhibition and death
    // constants excited at concentrations near KI/KD), varied seeding and
    // feeding.
    let conds: Vec<[f64; 7]> = vec![
        [4e8, 1.0, 35.0, 6.0, 40.0, 1.0, 0.5],
        [3e8, 1.2, 35.0, 1.0, 2.0, 1.0, 2.5],
        [5e8, 1.0, 30.0, 0.5, 0.0, 1.0, 3.0],
        [4e8, 1.3, 40.0, 2.0, 5.0, 30.0, 2.0],
        [3e8, 1.1, 35.0, 4.0, 20.0, 50.0, 6.0],
        [6e8, 1.0, 45.0, 6.0, 40.0, 10.0, 10.0],
        [2e8, 1.4, 35.0, 3.0, 10.0, 1.0, 4.0],
        [5e8, 1.2, 40.0, 1.5, 3.0, 20.0, 2.5],
        [4e8, 1.0, 35.0, 8.0, 60.0, 1.0, 0.5],
        [3e8, 1.3, 50.0, 0.8, 1.0, 40.0, 3.5],
    ];
    let every_h = 12;
    let train: Vec<_> = conds
        .iter()
        .enumerate()
        .map(|(i, c)| varied_batch(&format!("T{i}"), *c, &truth, every_h, 0.01, &mut noise))
        .collect();
    let val = vec![
        varied_batch(
            "V0",
            [3.5e8, 1.15, 38.0, 1.2, 4.0, 15.0, 3.0],
            &truth,
            every_h,
            0.01,
            &mut noise,
        ),
        varied_batch(
            "V1",
            [4.5e8, 1.05, 35.0, 5.0, 30.0, 35.0, 5.0],
            &truth,
            every_h,
            0.01,
            &mut noise,
        ),
    ];
    let mut start = truth.clone();
    for (n, f) in MONOD_LEARNED {
        start[idx(n)] *= f;
    }
    let names: Vec<&str> = MONOD_LEARNED.iter().map(|(n, _)| *n).collect();
    let mut hp = SerialHybridParams::new(start, &names);
    hp.sample_interval_s = every_h as f64 * 3600.0;
    let t0 = Instant::now();
    let model = hp.fit(&train, &val).expect("training succeeds");
    println!(
        "Monod recovery, {} training + {} validation batches: {:.2} s, {} iterations (best {}), failure {:?}",
        train.len(),
        val.len(),
        t0.elapsed().as_secs_f64(),
        model.report.history.len() - 1,
        model.report.best_iteration,
        model.report.failure
    );
    let mut worst: f64 = 0.0;
    for (name, f) in MONOD_LEARNED {
        let (got, want) = (model.param(name).unwrap(), truth[idx(name)]);
        let rel = (got / want - 1.0).abs();
        worst = worst.max(rel);
        println!(
            "  {name:10} start {:+6.1} %  fitted {:+7.3} %",
            (f - 1.0) * 100.0,
            (got / want - 1.0) * 100.0
        );
    }
    for (name, _) in MONOD_LEARNED {
        let (got, want) = (model.param(name).unwrap(), truth[idx(name)]);
        // README: "12 parameters ... within 1.4 %" (measured worst
        // 1.356 %, mu_d_max), asserted < 1.5 %.
        assert!(
            (got / want - 1.0).abs() < 0.015,
            "{name}: fitted {got}, truth {want}"
        );
    }
    assert!(worst < 0.015, "worst {:.3} %", worst * 100.0);
}

/// Recovery on data biotwin did not make: the SciPy reference trajectory
/// (tests/fixtures/cho, Radau rtol 1e-10, the nominal recipe) is the only
/// batch. Training on its states at 0, 12, 24, … h and validating on 6, 18,
/// 30, … h, from the same 25–50 % wrong start as above, the six rate
/// parameters come back to the values SciPy's model used (the process
/// file's). Noise-free: what remains is solver and sampling error.
#[test]
fn serial_hybrid_recovers_kinetics_from_the_scipy_reference_trajectory() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/cho/xing2010_trajectory_nominal.csv"
    ))
    .unwrap();
    let rows: Vec<Vec<f64>> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(|x| x.parse().unwrap()).collect())
        .collect();
    let (s, _) = base();
    let truth = s.params_si.clone();
    let sampled = |offset_h: usize, id: &str| {
        let mut times_s = Vec::new();
        let mut values = Vec::new();
        for r in rows.iter().skip(offset_h).step_by(12) {
            times_s.push(r[0] * 3600.0);
            // cells/L -> cells/m3; mM = mol/m3; g/L = kg/m3.
            values.push([r[1] * 1e3, r[2] * 1e3, r[3], r[4], r[5], r[6], r[7]]);
        }
        BatchObservations {
            id: id.to_string(),
            recipe: s.recipe.clone(),
            times_s,
            values,
        }
    };
    let train = vec![sampled(0, "scipy-even")];
    let val = vec![sampled(6, "scipy-odd")];
    let mut hp = SerialHybridParams::new(start_params(&truth), &LEARNED);
    hp.sample_interval_s = 6.0 * 3600.0;
    let model = hp.fit(&train, &val).expect("training succeeds");
    let mut worst: f64 = 0.0;
    for (name, f) in LEARNED.iter().zip(START) {
        let (got, want) = (model.param(name).unwrap(), truth[idx(name)]);
        let rel = (got / want - 1.0).abs();
        worst = worst.max(rel);
        println!(
            "  SciPy data: {name:10} start {:+6.1} %  fitted {:+9.5} %",
            (f - 1.0) * 100.0,
            (got / want - 1.0) * 100.0
        );
    }
    println!("  worst {:.2e}", worst);
    assert!(worst < RECOVERY_FROM_SCIPY, "worst {worst:.2e}");
}

/// Bound of the recovery from SciPy's trajectory: measured worst 1.56e-5
/// (Y_x_glc; the others 1.5e-6 to 7.1e-6), asserted at 3x.
const RECOVERY_FROM_SCIPY: f64 = 5e-5;

/// The xing2010 fit's sensitivity run (issue 13, ≤ 4× a plain run) on the
/// reference batch: tangents on the fed-back and observed states only
/// (Xv, Glc, Gln, Lac, Amm + mAb: S = 6) and output at a few times of the
/// hourly grid give exactly the numbers of the full run (every state's
/// tangent, every hour), whose state part is exactly the plain run's; and
/// the derivatives agree with central differences.
#[test]
fn short_sensitivity_runs_match_the_full_run_and_central_differences() {
    use biotwin_core::bioreactor::simulate::output_times;
    use biotwin_ml::surrogates::hybrid::serial::{Direction, run_with_sensitivities};
    let (mut s, ff) = base();
    s.apply("feeds.scale", 1.2, &ff).unwrap();
    let mut p = [0.0; 18];
    p.copy_from_slice(&s.params_si);
    let names = [
        "mu_max",
        "mu_d_max",
        "Y_x_glc",
        "Y_lac_glc",
        "q_mab",
        "KI_lac",
    ];
    let dirs: Vec<Direction> = names.iter().map(|n| Direction::LnParam(idx(n))).collect();
    let opts = &s.options;
    let full = run_with_sensitivities(p, None, &dirs, &[], None, &s.recipe, opts).unwrap();
    let plain = run_with_sensitivities(p, None, &[], &[], None, &s.recipe, opts).unwrap();
    assert_eq!(full.states, plain.states, "the plain run's steps");
    assert_eq!(full.carried.len(), 7);
    // Daily times of the hourly grid, as a fit's samples read them.
    let grid = output_times(&s.recipe, opts).unwrap();
    let rows: Vec<usize> = (0..grid.len()).step_by(24).collect();
    let times: Vec<f64> = rows.iter().map(|&i| grid[i]).collect();
    // Xv, Glc, Lac, titer: what the fit bench observes.
    let read = [0, 2, 4, 6];
    let short =
        run_with_sensitivities(p, None, &dirs, &read, Some(&times), &s.recipe, opts).unwrap();
    assert_eq!(short.carried, &[0, 2, 3, 4, 5, 6], "no Xd, no V tangent");
    assert_eq!(short.times_s, times);
    // Unsorted output times, or one past the end, are refused in release
    // builds too (a caller indexing states by times would otherwise find
    // fewer states than times: review finding).
    let end = s.recipe.duration_s;
    for bad in [
        vec![7200.0, 3600.0],
        vec![0.0, end + 3600.0],
        vec![f64::NAN],
    ] {
        let e = run_with_sensitivities(p, None, &dirs, &read, Some(&bad), &s.recipe, opts)
            .err()
            .unwrap_or_else(|| panic!("{bad:?} accepted"));
        assert!(e.message.contains("sorted output times"), "{e:?}");
    }
    for (r, &i) in rows.iter().enumerate() {
        assert_eq!(short.states[r], full.states[i], "row {i}: bit-identical");
        for (k, n) in names.iter().enumerate() {
            for q in 0..7 {
                let want = full.derivative(k, i, q).unwrap();
                match short.derivative(k, r, q) {
                    Some(d) => assert_eq!(d, want, "{n} state {q} row {i}"),
                    None => assert_eq!(q, 1, "only Xd's derivative is not carried"),
                }
            }
            assert_eq!(short.derivative(k, r, 7), Some(0.0), "V depends on no θ");
        }
    }
    // Central differences at tight tolerances (the reference process runs
    // at rtol 1e-6, where a difference quotient is mostly step-size noise).
    let mut tight = *opts;
    tight.tolerances.rtol = 1e-10;
    tight.tolerances.atol = 1e-13;
    let exact =
        run_with_sensitivities(p, None, &dirs, &read, Some(&times), &s.recipe, &tight).unwrap();
    let h = 1e-4;
    let scale = [1e12, 1e12, 10.0, 10.0, 10.0, 10.0, 1.0];
    for (k, n) in names.iter().enumerate() {
        let (mut up, mut dn) = (p, p);
        up[idx(n)] *= f64::exp(h);
        dn[idx(n)] *= f64::exp(-h);
        let a =
            run_with_sensitivities(up, None, &[], &[], Some(&times), &s.recipe, &tight).unwrap();
        let b =
            run_with_sensitivities(dn, None, &[], &[], Some(&times), &s.recipe, &tight).unwrap();
        for r in 0..times.len() {
            for &q in &read {
                let fd = (a.states[r][q] - b.states[r][q]) / (2.0 * h);
                let d = exact.derivative(k, r, q).unwrap();
                assert!(
                    // Observed: within 1e-9 of the scale + 1e-8 relative.
                    (d - fd).abs() <= 1e-7 * scale[q] + 1e-6 * fd.abs(),
                    "{n}, state {q}, day {r}: exact {d} vs central {fd}"
                );
            }
        }
    }
}
