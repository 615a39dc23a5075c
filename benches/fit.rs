//! `biotwin fit`'s estimator (docs/fit.md, "Speed"): fitting 6 parameters
//! of the xing2010 model to 30 simulated batches (exact sensitivities, no
//! profiles, one start), and the cost of one run with sensitivities for 6
//! parameters against a plain run of the same batch; and the CHO platform
//! fit of docs/fit.md's pre-registered result (6 parameters, batches
//! B01–B30 of `training-data/cho-platform`, 5 observed variables, exact
//! sensitivities, one start, no profiles), and one platform batch plain
//! against with sensitivities for those 6 parameters.
//!
//! `cargo bench --bench fit`

use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};

use biotwin::calibration::estimate::{Settings, estimate};
use biotwin::calibration::problem::{Batch, Problem, Sample, observables};
use biotwin::calibration::setup::{Request, build};
use biotwin::simulation::{Family, Scenario, load_process};

const PROCESS: &str = "process-models/processes/xing2010-reference.toml";
const PARAMS: [&str; 6] = [
    "mu_max",
    "mu_d_max",
    "Y_x_glc",
    "Y_lac_glc",
    "q_mab",
    "KI_lac",
];
const OBSERVE: [&str; 4] = ["viable_cells", "titer", "glucose", "lactate"];

fn problem(n_batches: usize) -> Problem {
    let def = load_process(Path::new(PROCESS)).unwrap();
    let ff = def.model.params.file_factor.clone();
    let obs = observables(Family::Xing2010);
    let observed: Vec<_> = OBSERVE
        .iter()
        .map(|v| obs.iter().find(|o| o.variable == *v).unwrap().clone())
        .collect();
    let mut batches = Vec::new();
    for i in 0..n_batches {
        let mut s = Scenario::from_definition(&def).unwrap();
        let u = (i as f64 + 0.5) / n_batches as f64;
        s.apply("initial.xv_1e6_cells_per_ml", 0.2 + 0.3 * u, &ff)
            .unwrap();
        s.apply(
            "feeds.scale",
            0.8 + 0.5 * ((i * 7 % n_batches) as f64 / n_batches as f64),
            &ff,
        )
        .unwrap();
        let truth = {
            let mut t = s.clone();
            t.apply("model.mu_max", 0.032, &ff).unwrap();
            t.apply("model.q_mab", 1.3e-12, &ff).unwrap();
            t
        };
        let out = truth.simulate(true).unwrap();
        let tcol = out.column("time_h").unwrap();
        let mut samples = Vec::new();
        for (v, o) in observed.iter().enumerate() {
            let col = out.column(&o.column).unwrap();
            for h in (24..=336).step_by(24) {
                let r = tcol
                    .iter()
                    .position(|x| (x - h as f64).abs() < 1e-9)
                    .unwrap();
                // ±2 % deterministic "noise".
                let wiggle = 1.0 + 0.02 * ((i * 31 + h + v * 7) as f64).sin();
                samples.push(Sample {
                    variable: v,
                    time_h: h as f64,
                    value: col[r] * o.to_si * wiggle,
                });
            }
        }
        batches.push(Batch {
            id: format!("S{i:02}"),
            scenario: s,
            samples,
        });
    }
    let params: Vec<String> = PARAMS.iter().map(|p| format!("model.{p}")).collect();
    build(
        batches,
        &ff,
        observed,
        &Request {
            parameters: &params,
            observe: &[],
            declared_sd: &[],
        },
    )
    .unwrap()
    .0
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("fit");
    g.sample_size(10);
    let base = problem(30);
    assert!(base.exact);
    g.bench_function("xing2010_6_parameters_30_batches", |b| {
        b.iter(|| {
            let mut p = problem_clone(&base);
            estimate(
                &mut p,
                &Settings {
                    profiles: false,
                    ..Settings::default()
                },
            )
            .unwrap()
        })
    });
    let one = problem(1);
    let theta: Vec<f64> = one
        .parameters
        .iter()
        .map(|q| q.transform.to_theta(q.initial))
        .collect();
    g.bench_function("plain_run_1_batch", |b| {
        b.iter(|| one.residuals(&theta).unwrap())
    });
    g.bench_function("sensitivities_6_parameters_1_batch", |b| {
        b.iter(|| one.jacobian(&theta).unwrap())
    });
    g.finish();

    let mut g = c.benchmark_group("fit_platform");
    g.sample_size(10);
    let (ds, spec) = cho_platform_data();
    g.bench_function("cho_platform_6_parameters_30_batches", |b| {
        b.iter(|| {
            let mut p = cho_platform_problem(&ds, &spec, 30);
            estimate(
                &mut p,
                &Settings {
                    profiles: false,
                    extra_starts: 0,
                    ..Settings::default()
                },
            )
            .unwrap()
        })
    });
    // One batch: a plain run against a run with exact sensitivities for the
    // 6 parameters (one augmented run; docs/fit.md "Speed", issue bar ≤ 4×).
    let one = cho_platform_problem(&ds, &spec, 1);
    assert!(one.exact);
    let theta: Vec<f64> = one
        .parameters
        .iter()
        .map(|q| q.transform.to_theta(q.initial))
        .collect();
    g.bench_function("cho_platform_plain_run_1_batch", |b| {
        b.iter(|| one.residuals(&theta).unwrap())
    });
    g.bench_function("cho_platform_sensitivities_6_parameters_1_batch", |b| {
        b.iter(|| one.jacobian(&theta).unwrap())
    });
    g.finish();
}

use biotwin::data::dataset::Dataset;
use biotwin::surrogates::hybrid::mechanistic::{FILE, MechanisticSpec};

const CHO_DATA: &str = "training-data/cho-platform";

fn cho_platform_data() -> (Dataset, MechanisticSpec) {
    let data = Path::new(CHO_DATA);
    let ds = Dataset::load(data).unwrap();
    let mut spec = MechanisticSpec::load(&data.join(FILE)).unwrap();
    spec.process = "process-models/processes/cho-platform-3l.toml".into();
    (ds, spec)
}

/// The pre-registered CHO fit's problem (docs/fit.md): B01–B30, built from
/// the loaded dataset (the scenarios of every batch are part of a fit).
fn cho_platform_problem(ds: &Dataset, spec: &MechanisticSpec, n: usize) -> Problem {
    use biotwin::calibration::setup::from_dataset;
    let mapping = Path::new(CHO_DATA).join(FILE);
    let ids: Vec<String> = (1..=n).map(|i| format!("B{i:02}")).collect();
    let params: Vec<String> = ["mu_max", "k_d", "beta_lp", "m_glc", "k_lys", "gal_ref"]
        .iter()
        .map(|p| format!("model.{p}"))
        .collect();
    let observe: Vec<String> = [
        "viable_cells",
        "viability",
        "titer",
        "glucose",
        "galactosylated",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    from_dataset(
        spec,
        &mapping,
        ds,
        &ids,
        &Request {
            parameters: &params,
            observe: &observe,
            declared_sd: &[],
        },
    )
    .unwrap()
    .0
}

fn problem_clone(p: &Problem) -> Problem {
    let params: Vec<String> = p.parameters.iter().map(|q| q.address.clone()).collect();
    let def = load_process(Path::new(PROCESS)).unwrap();
    build(
        p.batches.clone(),
        &def.model.params.file_factor,
        p.observed.clone(),
        &Request {
            parameters: &params,
            observe: &[],
            declared_sd: &[],
        },
    )
    .unwrap()
    .0
}

criterion_group!(benches, bench);
criterion_main!(benches);
