//! Surrogate speed: PLS fit and predict, GP fit (fixed kernel) and predict,
//! on deterministic synthetic data of the sizes met in practice (20-200
//! batches, tens of unfolded features).

use std::hint::black_box;

use biotwin::surrogates::gp::{GpParams, RbfKernel};
use biotwin::surrogates::pls::PlsParams;
use biotwin::surrogates::{Fit, Predict, TrainingSet};
use criterion::{Criterion, criterion_group, criterion_main};
use nalgebra::DMatrix;

fn data(n: usize, p: usize) -> TrainingSet {
    let x = DMatrix::from_fn(n, p, |i, j| {
        (((i * 31 + j * 17) % 97) as f64 / 97.0 - 0.5) * (1 + j % 5) as f64
    });
    let y = DMatrix::from_fn(n, 1, |i, _| {
        let r = x.row(i);
        r.iter().take(5).sum::<f64>() + (r[0] * 2.0).sin()
    });
    TrainingSet::from_matrices(x, y)
}

fn pls(c: &mut Criterion) {
    let ts = data(200, 50);
    let params = PlsParams::new(3);
    c.bench_function("pls_fit_200x50_3comp", |b| {
        b.iter(|| params.fit(black_box(&ts)).unwrap())
    });
    let model = params.fit(&ts).unwrap();
    let one = ts.x.rows(0, 1).into_owned();
    c.bench_function("pls_predict_1x50", |b| {
        b.iter(|| model.predict(black_box(&one)).unwrap())
    });
    c.bench_function("pls_predict_200x50", |b| {
        b.iter(|| model.predict(black_box(&ts.x)).unwrap())
    });
}

fn gp(c: &mut Criterion) {
    let ts = data(200, 5);
    let params = GpParams {
        standardise_x: true,
        normalise_y: true,
        ..GpParams::fixed(RbfKernel {
            signal_variance: 1.0,
            length_scales: vec![1.0; 5],
            noise_variance: 0.01,
        })
    };
    c.bench_function("gp_fit_fixed_200x5", |b| {
        b.iter(|| params.fit(black_box(&ts)).unwrap())
    });
    let model = params.fit(&ts).unwrap();
    let one = ts.x.rows(0, 1).into_owned();
    c.bench_function("gp_predict_1x5_n200", |b| {
        b.iter(|| model.predict(black_box(&one)).unwrap())
    });
    let many = ts.x.rows(0, 100).into_owned();
    c.bench_function("gp_predict_100x5_n200", |b| {
        b.iter(|| model.predict(black_box(&many)).unwrap())
    });
}

criterion_group!(benches, pls, gp);
criterion_main!(benches);
