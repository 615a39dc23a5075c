//! Transfer study speed: one recorded target batch with its metrics (the
//! unit of every Monte Carlo, Sobol and optimiser evaluation), the
//! adjustment alone, and a reduced end-to-end study (1,000 runs per arm,
//! Sobol N = 128). The full study (10,000 runs per arm, N = 1,024, 8
//! factors) is timed with the CLI; command and numbers in docs/transfer.md.

use std::hint::black_box;
use std::path::PathBuf;

use biotwin::simulation::{Scenario, load_process};
use biotwin::transfer::adjust::{adjust, default_variables};
use biotwin::transfer::study::{evaluate, metric_names};
use biotwin::transfer::{StudyOptions, default_optimiser, default_tolerances, run_study};
use criterion::{Criterion, criterion_group, criterion_main};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn bench_transfer(c: &mut Criterion) {
    let def = load_process(&root().join("process-models/processes/cho-platform-2000l.toml"))
        .expect("example process loads");
    let mut scenario = Scenario::from_definition(&def).expect("scenario");
    c.bench_function("transfer_target_batch_metrics", |b| {
        b.iter(|| black_box(evaluate(black_box(&scenario)).expect("runs")))
    });

    let eq = biotwin::equipment::Equipment::load(def.equipment_path.as_ref().expect("vessel"))
        .expect("vessel loads");
    let vars = default_variables(&mut scenario, &def.model.params.file_factor, &eq);
    let names = metric_names(&scenario);
    let mut at_source = scenario.clone();
    let sparge = scenario
        .address("setpoints.sparge_slpm", &def.model.params.file_factor)
        .expect("address");
    at_source.set(&sparge, 80.0);
    let reference: Vec<(String, f64)> = names
        .into_iter()
        .zip(evaluate(&at_source).expect("runs"))
        .collect();
    let mut group = c.benchmark_group("transfer_slow");
    group.sample_size(10);
    group.bench_function("adjustment_4_variables_4_starts", |b| {
        b.iter(|| {
            black_box(
                adjust(
                    &scenario,
                    &reference,
                    &default_tolerances(),
                    &vars,
                    &default_optimiser(1),
                )
                .expect("adjusts"),
            )
        })
    });
    let out = tempfile::tempdir().expect("tempdir");
    let mut opts = StudyOptions::new(
        root().join("process-models/processes/cho-platform-3l.toml"),
        "sut-2000l-pbt-drilled",
        out.path(),
    );
    opts.runs = 1000;
    opts.sobol_base = 128;
    group.bench_function("study_1000_runs_sobol_128", |b| {
        b.iter(|| black_box(run_study(&opts).expect("study runs")))
    });
    group.finish();
}

criterion_group!(benches, bench_transfer);
criterion_main!(benches);
