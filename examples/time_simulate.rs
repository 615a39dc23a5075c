//! Times repeated single simulations of a process (one thread) and prints
//! the median CPU time of the thread per run in seconds; used by
//! benches/compare_scipy.sh. CPU time, not wall time, because the SciPy side
//! is timed the same way (`time.thread_time`): on a shared, loaded machine a
//! 10 ms SciPy run is preempted almost every time while a 10 µs run almost
//! never is, so wall-clock medians would flatter the ratio.
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
    // BIOTWIN_TIME_OUTPUT: `rows` (default; the full trajectory of
    // `biotwin simulate`, every output column at every hour), `states` (the
    // states at every hour, what SciPy's reference returns) or `final` (the
    // final state only, isolating the integration).
    let output = std::env::var("BIOTWIN_TIME_OUTPUT").unwrap_or_else(|_| "rows".into());
    if !["rows", "states", "final"].contains(&output.as_str()) {
        eprintln!("BIOTWIN_TIME_OUTPUT must be rows, states or final, not `{output}`");
        std::process::exit(2);
    }
    let mut times = Vec::with_capacity(runs);
    let mut walls = Vec::with_capacity(runs);
    let mut sink = 0.0;
    if let Ok(o) = s.simulate(true) {
        let st = o.stats;
        eprintln!(
            "work per run: {} segments, {} accepted and {} rejected steps, {} rhs evaluations, {} output rows",
            st.segments,
            st.accepted_steps,
            st.rejected_steps,
            st.rhs_evaluations,
            o.data.len() / o.columns.len().max(1)
        );
    }
    // Runs are timed in groups of BATCH: reading the thread's CPU clock is a
    // system call (~0.6 us), a visible share of a ~7 us run if paid per run.
    // The median is over the groups' mean times.
    const BATCH: usize = 50;
    let groups = (runs / BATCH).max(1);
    for _ in 0..groups {
        let c0 = thread_cpu_s();
        let t0 = Instant::now();
        for _ in 0..BATCH {
            let r = match output.as_str() {
                "states" => s.simulate_states().map(|(t, y)| (t.len() + y.len()) as f64),
                o => s.simulate(o == "rows").map(|o| o.data.len() as f64),
            };
            match r {
                Ok(n) => sink += n,
                Err(e) => {
                    eprintln!("{e}");
                    std::process::exit(3);
                }
            }
        }
        walls.push(t0.elapsed().as_secs_f64() / BATCH as f64);
        times.push((thread_cpu_s() - c0) / BATCH as f64);
    }
    let runs = groups * BATCH;
    times.sort_by(f64::total_cmp);
    walls.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    println!("{median:.9e}");
    eprintln!(
        "biotwin ({output}): {runs} runs, median {:.2} us CPU ({:.2} us wall) per run (checksum {sink})",
        median * 1e6,
        walls[walls.len() / 2] * 1e6
    );
}

/// CPU time consumed by this thread, seconds.
fn thread_cpu_s() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec; the clock id is valid on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}
