//! One benchmark per column model, each a full simulation of a shipped case
//! at the discretisation its CADET comparison uses (see docs/downstream.md):
//!
//! * `lrm_langmuir`: lumped rate model without pores, Protein A reference case
//!   (3600 s, 16 DG elements of degree 4);
//! * `lrmp_langmuir`: the same with lumped pores (film transfer);
//! * `grm_langmuir`: general rate model with pore diffusion (4 elements, radial
//!   spectral element of degree 4);
//! * `lrm_sma_gradient`: CEX salt gradient with SMA binding (48 elements).
//!
//! `cargo bench --bench columns`

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use biotwin::downstream::column::{self, ColumnSpec};
use criterion::{Criterion, criterion_group, criterion_main};

fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/chromatography")
        .join(name);
    std::fs::read_to_string(path).expect("fixture")
}

fn spec(name: &str, text: &str) -> ColumnSpec {
    column::parse_column_text(name, text).expect("valid column file")
}

fn bench_columns(c: &mut Criterion) {
    let grm_text = fixture("grm_langmuir.toml");
    let lrmp_text = grm_text
        .replace(
            "model = \"general_rate\"",
            "model = \"lumped_rate_with_pores\"",
        )
        .replace("radial_polynomial_degree = 4", "#")
        .replace("pore_diffusion_m2_per_s = 1e-11\n", "")
        .replace("pore_diffusion_m2_per_s = 1e-10\n", "");
    let cases = [
        ("lrm_langmuir", spec("lrm", &fixture("a_lrm_langmuir.toml"))),
        ("lrmp_langmuir", spec("lrmp", &lrmp_text)),
        ("grm_langmuir", spec("grm", &grm_text)),
        (
            "lrm_sma_gradient",
            spec("sma", &fixture("cex_sma_gradient.toml")),
        ),
    ];
    let mut group = c.benchmark_group("columns");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(8));
    for (name, s) in &cases {
        group.bench_function(*name, |b| {
            b.iter(|| column::simulate(black_box(s)).expect("simulation"))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_columns);
criterion_main!(benches);
