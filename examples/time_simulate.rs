//! Times repeated single simulations of a process (one thread) and prints
//! the median wall time per run in seconds; used by benches/compare_scipy.sh.
//!
//! Usage: cargo run --release --example time_simulate -- PROCESS.toml [RUNS] [RTOL]
use std::path::Path;
use std::time::Instant;

use biotwin::simulation::{Scenario, load_process};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(path) = args.get(1) else {
        eprintln!("usage: time_simulate PROCESS.toml [RUNS] [RTOL]");
        std::process::exit(2);
    };
    let runs: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(2000);
    let def = match load_process(Path::new(path)) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let mut s = match Scenario::from_definition(&def) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    if let Some(rtol) = args.get(3).and_then(|s| s.parse().ok()) {
        s.options.tolerances.rtol = rtol;
    }
    let mut times = Vec::with_capacity(runs);
    let mut sink = 0.0;
    for _ in 0..runs {
        let t0 = Instant::now();
        match s.simulate(true) {
            Ok(o) => sink += o.data.len() as f64,
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(3);
            }
        }
        times.push(t0.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    println!("{median:.9e}");
    eprintln!(
        "biotwin: {runs} runs, median {:.2} us per run (checksum {sink})",
        median * 1e6
    );
}
