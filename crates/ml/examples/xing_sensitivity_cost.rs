//! Cost of one xing2010 batch with exact forward sensitivities for 6
//! parameters against a plain run of the same batch (issue 13: ≤ 4×): the
//! problem of `benches/fit.rs` (`sensitivities_6_parameters_1_batch`,
//! `plain_run_1_batch`), residuals against residuals plus Jacobian, on one
//! thread (no thread-pool hand-off in either). For a load-independent
//! figure run each mode under callgrind and compare instruction counts
//! (docs/fit.md "Speed"):
//!
//! ```text
//! cargo run --release -p biotwin-ml --example xing_sensitivity_cost            # both, timed
//! valgrind --tool=callgrind target/release/examples/xing_sensitivity_cost plain 30
//! valgrind --tool=callgrind target/release/examples/xing_sensitivity_cost sens 30
//! perf stat -e task-clock target/release/examples/xing_sensitivity_cost sens 400
//! cargo run --release -p biotwin-ml --example xing_sensitivity_cost runs  # integration alone
//! ```
//!
//! `plain`/`sens` compare what a fit pays per batch (`Problem::residuals`:
//! a `Scenario` run writing every hourly output row, against
//! `Problem::jacobian`); `run-plain`/`run-sens`/`runs` the integration
//! alone, both writing the states on the same hourly grid.

use std::path::Path;
use std::time::Instant;

use biotwin_core::bioreactor::xing2010;
use biotwin_core::simulation::{Family, Scenario, load_process};
use biotwin_ml::calibration::problem::{Batch, Problem, Sample, observables};
use biotwin_ml::calibration::setup::{Request, build};
use biotwin_ml::surrogates::hybrid::serial::{self, Direction};

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

/// The bench's one-batch problem (n_batches = 1, batch S00).
fn problem(path: &str) -> Problem {
    let def = load_process(Path::new(path)).expect("the shipped xing2010 process");
    let ff = def.model.params.file_factor.clone();
    let obs = observables(Family::Xing2010);
    let observed: Vec<_> = OBSERVE
        .iter()
        .map(|v| obs.iter().find(|o| o.variable == *v).unwrap().clone())
        .collect();
    let mut s = Scenario::from_definition(&def).unwrap();
    s.apply("initial.xv_1e6_cells_per_ml", 0.2 + 0.3 * 0.5, &ff)
        .unwrap();
    s.apply("feeds.scale", 0.8, &ff).unwrap();
    let mut truth = s.clone();
    truth.apply("model.mu_max", 0.032, &ff).unwrap();
    truth.apply("model.q_mab", 1.3e-12, &ff).unwrap();
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
            let wiggle = 1.0 + 0.02 * ((h + v * 7) as f64).sin();
            samples.push(Sample {
                variable: v,
                time_h: h as f64,
                value: col[r] * o.to_si * wiggle,
            });
        }
    }
    let params: Vec<String> = PARAMS.iter().map(|p| format!("model.{p}")).collect();
    build(
        vec![Batch {
            id: "S00".into(),
            scenario: s,
            samples,
        }],
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

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "both".into());
    let reps: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200);
    let up = format!("../../{PROCESS}");
    let path = [PROCESS, up.as_str()]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("run from the repository root");
    let one = problem(path);
    assert!(one.exact);
    let theta: Vec<f64> = one
        .parameters
        .iter()
        .map(|q| q.transform.to_theta(q.initial))
        .collect();
    // One worker: the batch loop's parallel iterator runs inline.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("a thread pool");
    let time = |sens: bool| {
        pool.install(|| {
            let t0 = Instant::now();
            let mut sink = 0.0;
            for _ in 0..reps {
                sink += if sens {
                    let (r, j) = one.jacobian(&theta).unwrap();
                    r[0] + j[(0, 0)]
                } else {
                    one.residuals(&theta).unwrap()[0]
                };
            }
            std::hint::black_box(sink);
            t0.elapsed().as_secs_f64() / reps as f64
        })
    };
    // The integration alone: the serial hybrid's run of the same batch,
    // plain against 6 directions, both writing the states on the hourly
    // grid (no output rows, no residuals).
    let s = &one.batches[0].scenario;
    let mut p = [0.0; serial::NP];
    p.copy_from_slice(&s.params_si[..serial::NP]);
    let dirs: Vec<Direction> = PARAMS
        .iter()
        .map(|n| Direction::LnParam(xing2010::PARAMS.iter().position(|q| q.name == *n).unwrap()))
        .collect();
    // Xv, glucose, lactate, titer: the observed states.
    let read = [0, 2, 4, 6];
    let integrate = |d: &[Direction]| {
        let t0 = Instant::now();
        let mut sink = 0.0;
        for _ in 0..reps {
            let r = serial::run_with_sensitivities(p, None, d, &read, None, &s.recipe, &s.options)
                .unwrap();
            sink += r.states[r.states.len() - 1][0];
        }
        std::hint::black_box(sink);
        t0.elapsed().as_secs_f64() / reps as f64
    };
    match mode.as_str() {
        "run-plain" => println!("plain integration: {:.1} µs", 1e6 * integrate(&[])),
        "run-sens" => println!(
            "integration, 6 sensitivities: {:.1} µs",
            1e6 * integrate(&dirs)
        ),
        "runs" => {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            for _ in 0..5 {
                a.push(integrate(&[]));
                b.push(integrate(&dirs));
            }
            a.sort_by(f64::total_cmp);
            b.sort_by(f64::total_cmp);
            println!(
                "integration alone: plain {:.1} µs, with 6 sensitivities {:.1} µs: {:.2}× (medians of 5 × {reps})",
                1e6 * a[2],
                1e6 * b[2],
                b[2] / a[2]
            );
        }
        "dump" => {
            // Residuals and Jacobian in full precision (to compare two
            // builds of the exact path).
            let (r, j) = one.jacobian(&theta).unwrap();
            for i in 0..r.len() {
                print!("{:e}", r[i]);
                for a in 0..j.ncols() {
                    print!(" {:e}", j[(i, a)]);
                }
                println!();
            }
        }
        "plain" => println!("plain run: {:.1} µs", 1e6 * time(false)),
        "sens" => println!("6 sensitivities: {:.1} µs", 1e6 * time(true)),
        _ => {
            let (mut p, mut q) = (Vec::new(), Vec::new());
            for _ in 0..5 {
                p.push(time(false));
                q.push(time(true));
            }
            p.sort_by(f64::total_cmp);
            q.sort_by(f64::total_cmp);
            println!(
                "plain run {:.1} µs, with 6 sensitivities {:.1} µs: {:.2}× (medians of 5 × {reps})",
                1e6 * p[2],
                1e6 * q[2],
                q[2] / p[2]
            );
        }
    }
}
