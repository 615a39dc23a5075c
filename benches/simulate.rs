//! Upstream simulation benchmarks:
//! * one 14-day xing2010 run at rtol 1e-6 with hourly output (the SciPy
//!   comparison case of benches/compare_scipy.sh) and final-state only;
//! * one platform-model run (3 L example) with and without output;
//! * a 10,000-batch Monte Carlo of the platform example (rayon, all cores).
use std::path::Path;

use biotwin::montecarlo;
use biotwin::simulation::{Scenario, load_process};
use criterion::{Criterion, criterion_group, criterion_main};

fn scenario(path: &str) -> (biotwin::definition::process::ProcessDefinition, Scenario) {
    let def = load_process(Path::new(path)).expect("shipped process loads");
    let s = Scenario::from_definition(&def).expect("scenario");
    (def, s)
}

fn single_runs(c: &mut Criterion) {
    let (_, x) = scenario("process-models/processes/xing2010-reference.toml");
    c.bench_function("xing2010_14d_hourly_output_rtol1e-6", |b| {
        b.iter(|| x.simulate(true).unwrap())
    });
    c.bench_function("xing2010_14d_final_state_rtol1e-6", |b| {
        b.iter(|| x.simulate(false).unwrap())
    });
    let (_, p) = scenario("process-models/processes/cho-platform-3l.toml");
    c.bench_function("platform_3l_14d_hourly_output", |b| {
        b.iter(|| p.simulate(true).unwrap())
    });
    c.bench_function("platform_3l_14d_final_state", |b| {
        b.iter(|| p.simulate(false).unwrap())
    });
}

fn monte_carlo(c: &mut Criterion) {
    let (def, mut p) = scenario("process-models/processes/cho-platform-3l.toml");
    let inputs = montecarlo::uncertain_inputs(&def, &mut p).expect("uncertainty");
    let mut g = c.benchmark_group("monte_carlo");
    g.sample_size(10);
    g.bench_function("platform_3l_10000_batches", |b| {
        b.iter(|| montecarlo::run(&p, &inputs, def.specifications.as_ref(), 10_000, 1, false))
    });
    g.finish();
}

criterion_group!(benches, single_runs, monte_carlo);
criterion_main!(benches);
