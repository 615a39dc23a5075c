//! Scale-up calculator speed: loading a vessel file and one full comparison
//! (source + nine criteria, two of them solved by bisection).

use std::hint::black_box;
use std::path::{Path, PathBuf};

use biotwin::equipment::Equipment;
use biotwin::scaleup::{OperatingPoint, ScaleUpParameters, render_table, scale_up};
use criterion::{Criterion, criterion_group, criterion_main};

fn catalog(id: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("process-models/equipment")
        .join(format!("{id}.toml"))
}

fn bench_scaleup(c: &mut Criterion) {
    let bench_path = catalog("bench-3l-glass");
    let source = Equipment::load(&bench_path).expect("catalog file loads");
    let target = Equipment::load(&catalog("ss-15000l")).expect("catalog file loads");
    let point = OperatingPoint {
        volume_m3: 2.0e-3,
        agitation_rps: 250.0 / 60.0,
        sparge_gas_slpm: 0.1,
        temperature_k: 310.15,
        peak_our_mol_per_m3_s: 5e-4,
    };
    let params = ScaleUpParameters::default();

    c.bench_function("equipment_load", |b| {
        b.iter(|| Equipment::load(black_box(&bench_path)))
    });
    c.bench_function("scale_up_all_criteria", |b| {
        b.iter(|| {
            scale_up(
                black_box(&source),
                &point,
                black_box(&target),
                None,
                &params,
            )
        })
    });
    let report = scale_up(&source, &point, &target, None, &params).expect("valid point");
    c.bench_function("render_table", |b| {
        b.iter(|| render_table(black_box(&report)))
    });
}

criterion_group!(benches, bench_scaleup);
criterion_main!(benches);
