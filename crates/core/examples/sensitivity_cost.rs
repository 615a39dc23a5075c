//! Cost of one CHO platform batch with exact forward sensitivities for 6
//! parameters against a plain run of the same batch (issue 13: ≤ 4×).
//! Prints the wall-time ratio; for a load-independent figure run each mode
//! under `valgrind --tool=callgrind` and compare instruction counts:
//!
//! ```text
//! cargo run --release -p biotwin-core --example sensitivity_cost            # both, timed
//! valgrind --tool=callgrind target/release/examples/sensitivity_cost plain 20
//! valgrind --tool=callgrind target/release/examples/sensitivity_cost sens 20
//! ```

use std::path::Path;
use std::time::Instant;

use biotwin_core::bioreactor::platform::{self, sensitivity::run_with_sensitivities};
use biotwin_core::simulation::{AnyModel, Scenario, load_process};

const PROCESS: &str = "process-models/processes/cho-platform-3l.toml";
const PARAMS: [&str; 6] = ["mu_max", "k_d", "beta_lp", "m_glc", "k_lys", "gal_ref"];

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "both".into());
    let reps: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200);
    let up = format!("../../{PROCESS}");
    let path = [PROCESS, up.as_str()]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("run from the repository root");
    let def = load_process(Path::new(path)).expect("the shipped 3 L process");
    let s = Scenario::from_definition(&def).expect("a valid scenario");
    let AnyModel::ChoPlatform(m) = s.model() else {
        panic!("the 3 L process runs the platform model")
    };
    let dirs: Vec<(usize, f64)> = PARAMS
        .iter()
        .map(|n| {
            let i = platform::PARAMS.iter().position(|p| p.name == *n).unwrap();
            (i, s.params_si[i])
        })
        .collect();
    // The columns the pre-registered CHO fit observes (docs/fit.md).
    let wanted: Vec<usize> = [
        "xv_1e6_cells_per_ml",
        "viability_pct",
        "titer_g_per_l",
        "glucose_g_per_l",
        "galactosylated_pct",
    ]
    .iter()
    .map(|c| {
        platform::OUTPUT_COLUMNS
            .iter()
            .position(|x| x == c)
            .unwrap()
    })
    .collect();
    let cols = Some(wanted.as_slice());
    let time = |d: &[(usize, f64)]| {
        let t0 = Instant::now();
        let mut sink = 0.0;
        for _ in 0..reps {
            let t = run_with_sensitivities(&m, d, cols, &s.recipe, &s.options).unwrap();
            sink += t.values[t.values.len() - 1];
        }
        std::hint::black_box(sink);
        t0.elapsed().as_secs_f64() / reps as f64
    };
    match mode.as_str() {
        "plain" => println!("plain run: {:.1} µs", 1e6 * time(&[])),
        "sens" => println!("6 sensitivities: {:.1} µs", 1e6 * time(&dirs)),
        _ => {
            // Alternate to share the machine's load fairly.
            let (mut p, mut q) = (Vec::new(), Vec::new());
            for _ in 0..5 {
                p.push(time(&[]));
                q.push(time(&dirs));
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
