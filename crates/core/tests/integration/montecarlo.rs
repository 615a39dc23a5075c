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
