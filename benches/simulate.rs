//! Upstream simulation benchmarks: one 14-day xing2010 run (the SciPy
//! comparison case: rtol 1e-6, hourly output) and one final-state-only run.
use std::path::Path;

use biotwin::simulation::{Scenario, load_process};
use criterion::{Criterion, criterion_group, criterion_main};

fn scenario(path: &str) -> Scenario {
    let def = load_process(Path::new(path)).expect("shipped process loads");
    Scenario::from_definition(&def).expect("scenario")
}

fn xing2010(c: &mut Criterion) {
    let s = scenario("process-models/processes/xing2010-reference.toml");
    c.bench_function("xing2010_14d_hourly_output_rtol1e-6", |b| {
        b.iter(|| s.simulate(true).unwrap())
    });
    c.bench_function("xing2010_14d_final_state_rtol1e-6", |b| {
        b.iter(|| s.simulate(false).unwrap())
    });
}

criterion_group!(benches, xing2010);
criterion_main!(benches);
