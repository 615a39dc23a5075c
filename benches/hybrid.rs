//! Hybrid-model speed: serial-hybrid prediction of a 14-day batch (daily
//! grid) and the parallel hybrid's corrected prediction of 6 batches.

use std::hint::black_box;
use std::path::Path;

use biotwin::simulation::{Scenario, load_process};
use biotwin::surrogates::hybrid::{Corrector, ParallelHybrid, SerialHybrid, SerialHybridParams};
use biotwin::surrogates::pls::PlsParams;
use criterion::{Criterion, criterion_group, criterion_main};
use nalgebra::DMatrix;

fn serial(c: &mut Criterion) {
    let def = load_process(Path::new(
        "process-models/processes/xing2010-reference.toml",
    ))
    .unwrap();
    let s = Scenario::from_definition(&def).unwrap();
    let hp = SerialHybridParams::new(s.params_si.clone(), &["mu_max", "q_mab"]);
    // An untrained model predicts at the same cost as a trained one.
    let model = SerialHybrid {
        hyperparameters: hp,
        params_si: s.params_si.clone(),
        weights: vec![1.0; 7],
        report: Default::default(),
        net: None,
    };
    c.bench_function("serial_hybrid_predict_14d", |b| {
        b.iter(|| model.predict(black_box(&s.recipe)).unwrap())
    });
    // With a 4-unit network correcting growth and productivity.
    let spec = biotwin::surrogates::hybrid::rate_net::RateNetSpec {
        corrected: vec!["mu".into(), "q_p".into()],
        hidden: 4,
        weight_decay: 0.0,
        seed: 1,
    };
    let nn = SerialHybrid {
        net: Some(biotwin::surrogates::hybrid::rate_net::RateNet::new(&spec).unwrap()),
        ..model.clone()
    };
    c.bench_function("serial_hybrid_nn_predict_14d", |b| {
        b.iter(|| nn.predict(black_box(&s.recipe)).unwrap())
    });
}

fn parallel(c: &mut Criterion) {
    let n = 24;
    let x = DMatrix::from_fn(n, 3, |i, j| ((i * 7 + j * 13) % 23) as f64 / 23.0);
    let mech = DMatrix::from_fn(n, 2, |i, j| 1.0 + x[(i, 0)] + j as f64 * x[(i, 1)]);
    let obs = &mech * 1.2;
    let m = ParallelHybrid::fit(
        &Corrector::Pls(PlsParams::new(2)),
        &x,
        &mech,
        &obs,
        vec!["a".into(), "b".into(), "c".into()],
        vec!["y0".into(), "y1".into()],
    )
    .unwrap();
    let (xt, mt) = (x.rows(0, 6).into_owned(), mech.rows(0, 6).into_owned());
    c.bench_function("parallel_hybrid_predict_6_batches", |b| {
        b.iter(|| m.predict(black_box(&xt), black_box(&mt)).unwrap())
    });
}

criterion_group!(benches, serial, parallel);
criterion_main!(benches);
