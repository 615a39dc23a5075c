//! Cost of the sensitivity machinery itself (design, parallel evaluation,
//! estimators, bootstrap) on a model that costs almost nothing, so that the
//! time left for the real model in a transfer study is known.
//!
//! Model: the Sobol' G-function (Saltelli & Sobol' 1995) over 6 factors,
//! g(x) = Π (|4x_i − 2| + a_i)/(1 + a_i), a = (0, 1, 4.5, 9, 99, 99).

use std::hint::black_box;

use biotwin::sensitivity::{Factor, MorrisOptions, SobolOptions, morris_analysis, sobol_analysis};
use criterion::{Criterion, criterion_group, criterion_main};

const A: [f64; 6] = [0.0, 1.0, 4.5, 9.0, 99.0, 99.0];

fn g_function(x: &[f64]) -> Result<Vec<f64>, String> {
    Ok(vec![
        x.iter()
            .zip(&A)
            .map(|(x, a)| ((4.0 * x - 2.0).abs() + a) / (1.0 + a))
            .product(),
    ])
}

fn factors() -> Vec<Factor> {
    (1..=6)
        .map(|i| Factor::uniform(format!("x{i}"), 0.0, 1.0))
        .collect()
}

fn bench_sobol(c: &mut Criterion) {
    let factors = factors();
    let outputs = vec!["g".to_string()];
    let options = SobolOptions {
        base_samples: 1024,
        bootstrap_resamples: 1000,
        confidence_level: 0.95,
        seed: 1,
    };
    c.bench_function("sobol N=1024 k=6 (8192 runs, 1000 bootstrap)", |b| {
        b.iter(|| {
            sobol_analysis(&factors, &outputs, &g_function, black_box(&options), None)
                .expect("runs")
        })
    });
}

fn bench_morris(c: &mut Criterion) {
    let factors = factors();
    let outputs = vec!["g".to_string()];
    let options = MorrisOptions {
        trajectories: 20,
        spread_candidates: Some(100),
        seed: 1,
        ..MorrisOptions::default()
    };
    c.bench_function("morris r=20 of 100 candidates k=6", |b| {
        b.iter(|| {
            morris_analysis(&factors, &outputs, &g_function, black_box(&options), None)
                .expect("runs")
        })
    });
}

criterion_group!(benches, bench_sobol, bench_morris);
criterion_main!(benches);
