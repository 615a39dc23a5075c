//! Monte Carlo: reproducible for a seed whatever the thread count, different
//! for another seed, and its statistics agree with the declared spread.

use std::path::Path;

use biotwin_core::montecarlo::{run, uncertain_inputs};
use biotwin_core::simulation::{Scenario, load_process};

fn study(threads: usize, seed: u64, runs: usize) -> biotwin_core::montecarlo::MonteCarloResult {
    let def = load_process(Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../process-models/processes/xing2010-reference.toml"
    )))
    .unwrap();
    let mut s = Scenario::from_definition(&def).unwrap();
    let inputs = uncertain_inputs(&def, &mut s).unwrap();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| run(&s, &inputs, def.specifications.as_ref(), runs, seed, false))
}

#[test]
fn same_seed_same_result_on_any_thread_count() {
    let a = study(1, 42, 200);
    let b = study(3, 42, 200);
    assert_eq!(a.samples, b.samples);
    assert_eq!(a.outcomes, b.outcomes);
    assert_eq!(a.summary, b.summary);
    let c = study(2, 43, 200);
    assert_ne!(a.samples, c.samples);
}

#[test]
fn sampled_inputs_follow_the_declared_distributions() {
    let r = study(2, 7, 4000);
    assert_eq!(r.failed, 0, "{:?}", r.first_failure);
    // mu_max: lognormal, median 0.029 1/h, CV 5 %.
    let mu: Vec<f64> = r.samples.iter().map(|s| s[0]).collect();
    let mut sorted = mu.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    assert!((median / 0.029 - 1.0).abs() < 0.005, "median {median}");
    let mean = mu.iter().sum::<f64>() / mu.len() as f64;
    let sd = (mu.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (mu.len() - 1) as f64).sqrt();
    assert!((sd / mean - 0.05).abs() < 0.004, "cv {}", sd / mean);
    // Titer responds to the inputs: a spread, and a higher mu_max gives more product.
    let titer = r
        .summary
        .iter()
        .find(|s| s.name == "titer_g_per_l")
        .unwrap();
    assert!(titer.sd > 0.0 && titer.p05 < titer.p50 && titer.p50 < titer.p95);
    // P(in spec) recounted independently from the per-run outcomes (spec: titer ≥ 1 g/L).
    let j = r
        .quality_names
        .iter()
        .position(|n| n == "titer_g_per_l")
        .unwrap();
    let inside = r.outcomes.iter().filter(|o| o[j] >= 1.0).count() as f64 / r.outcomes.len() as f64;
    assert_eq!(titer.prob_in_spec, Some(inside));
    assert!(
        inside > 0.5 && inside < 1.0,
        "the nominal 1.15 g/L sits near the 1 g/L limit: {inside}"
    );
}

/// The xing2010 model file plus a fit's covariance of ln mu_max and ln q_mab
/// (SD 0.05 and 0.08, correlation −0.6), written into `dir`.
fn calibrated_xing(dir: &Path) -> std::path::PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let base = std::fs::read_to_string(root.join("process-models/models/xing2010.toml")).unwrap();
    let (s1, s2, rho) = (0.05f64, 0.08f64, -0.6f64);
    let text = format!(
        r#"{base}
[calibration]
schema = "biotwin.calibration/1"
base_model = "xing2010"
dataset = "an example written by crates/core/tests/integration/montecarlo.rs"
dataset_sha256 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
created_utc = "2026-12-05T08:00:00Z"
command = "none (a test's example, not a fit)"
batches = ["B01"]
n_observations = 100
log_likelihood = -1.0
aic = 6.0
bic = 8.0

[calibration.covariance]
parameters = ["mu_max", "q_mab"]
transforms = ["ln", "ln"]
matrix = [[{v1:e}, {c:e}], [{c:e}, {v2:e}]]
"#,
        v1 = s1 * s1,
        v2 = s2 * s2,
        c = rho * s1 * s2
    );
    let p = dir.join("xing2010-calibrated.toml");
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn a_fit_covariance_is_drawn_jointly_in_log_space_and_supersedes_declared_entries() {
    use biotwin_core::montecarlo::run_seed;
    use biotwin_core::simulation::model_source::{resolve_model, with_model};
    use rand::SeedableRng;
    let dir = tempfile::tempdir().unwrap();
    let model = calibrated_xing(dir.path());
    let mut def = load_process(Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../process-models/processes/xing2010-reference.toml"
    )))
    .unwrap();
    let resolved = resolve_model(model.to_str().unwrap()).unwrap();
    with_model(&mut def, &resolved).unwrap();
    let mut s = Scenario::from_definition(&def).unwrap();
    let set = uncertain_inputs(&def, &mut s).unwrap();
    // The declared lognormal entries on mu_max and q_mab are superseded
    // (and say so); the feed glucose entry still applies, independently.
    assert_eq!(set.notes.len(), 2, "{:?}", set.notes);
    assert!(set.notes[0].contains("model.mu_max") && set.notes[0].contains("superseded"));
    let names: Vec<&str> = set.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(
        names,
        ["media.feed.glucose_mm", "model.mu_max", "model.q_mab"]
    );
    assert_eq!(set.joint.len(), 1);
    assert_eq!(set.joint[0].members, [1, 2]);

    let n = 20_000;
    let draws: Vec<Vec<f64>> = (0..n)
        .map(|i| set.draw(&mut rand::rngs::StdRng::seed_from_u64(run_seed(5, i))))
        .collect();
    let col = |k: usize, ln: bool| -> Vec<f64> {
        draws
            .iter()
            .map(|d| if ln { d[k].ln() } else { d[k] })
            .collect()
    };
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let cov = |a: &[f64], b: &[f64]| {
        let (ma, mb) = (mean(a), mean(b));
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - ma) * (y - mb))
            .sum::<f64>()
            / (a.len() - 1) as f64
    };
    let (g, m, q) = (col(0, false), col(1, true), col(2, true));
    // Medians at the model file's values, spreads and correlation as stated
    // (sampling error of 20,000 draws: SD of an SD ≈ 0.5 %, of rho ≈ 0.005).
    assert!((mean(&m) - 0.029f64.ln()).abs() < 0.002, "{}", mean(&m));
    assert!((mean(&q) - 1.51e-12f64.ln()).abs() < 0.003, "{}", mean(&q));
    let (sm, sq) = (cov(&m, &m).sqrt(), cov(&q, &q).sqrt());
    assert!((sm / 0.05 - 1.0).abs() < 0.03, "sd ln mu_max {sm}");
    assert!((sq / 0.08 - 1.0).abs() < 0.03, "sd ln q_mab {sq}");
    let rho = cov(&m, &q) / (sm * sq);
    assert!((rho + 0.6).abs() < 0.02, "rho {rho}");
    // The independent input stays uncorrelated with the joint ones.
    let rg = cov(&g, &m) / (cov(&g, &g).sqrt() * sm);
    assert!(rg.abs() < 0.03, "rho(glucose, mu_max) {rg}");
    // 95 % of draws inside the 95 % ellipse of the covariance (chi² 2 dof).
    let (a, b, c) = (0.05f64 * 0.05, -0.6 * 0.05 * 0.08, 0.08f64 * 0.08);
    let det = a * c - b * b;
    let inside = m
        .iter()
        .zip(&q)
        .filter(|(x, y)| {
            let (dx, dy) = (*x - 0.029f64.ln(), *y - 1.51e-12f64.ln());
            (c * dx * dx - 2.0 * b * dx * dy + a * dy * dy) / det <= 5.991
        })
        .count() as f64
        / n as f64;
    assert!(
        (inside - 0.95).abs() < 0.006,
        "inside the 95 % ellipse: {inside}"
    );

    // Monte Carlo over the set runs and reports the group and the notes.
    let r = run(&s, &set, def.specifications.as_ref(), 50, 3, false);
    assert_eq!(r.failed, 0, "{:?}", r.first_failure);
    assert_eq!(
        r.joint,
        [vec!["model.mu_max".to_string(), "model.q_mab".to_string()]]
    );
    assert_eq!(r.notes.len(), 2);
}
