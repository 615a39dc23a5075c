//! Per-update latency of the mechanistic live predictor: replays a synthetic
//! batch (the process's model with perturbed parameters, hourly online tags,
//! daily lab samples) and times each update = assimilate the observations of
//! one time stamp + a 200-member forecast to the batch end, on one thread.
//! Also reports what the looser ensemble tolerance costs in accuracy.
//!
//! cargo run --release --example live_latency [-- PROCESS.toml ...]
//! (environment `LIVE_FORECAST_RTOL` overrides the ensemble tolerance)
//!
//! `cargo run --release --example live_latency -- --indpensim [DIR] [BATCH]
//! [MEMBERS] [FORECAST_MEMBERS]` times the IndPenSim ensemble Kalman filter
//! instead (issue 15; `live_latency/indpensim.rs`).

use std::path::PathBuf;
use std::time::Instant;

use biotwin::live::mechanistic::{MechanisticOptions, MechanisticPredictor};
use biotwin::live::{Observation, Predictor};
use biotwin::simulation::{Scenario, load_process};

#[path = "live_latency/indpensim.rs"]
mod indpensim;

const COLS: &[(&str, &str, f64, f64, bool)] = &[
    ("volume", "volume_l", 1e-3, 0.005, true),
    ("pco2", "pco2_mmhg", 133.322_368, 0.03, true),
    ("dissolved_o2", "do_pct", 0.01, 0.01, true),
    ("viable_cells", "xv_1e6_cells_per_ml", 1e12, 0.05, false),
    ("viability", "viability_pct", 0.01, 0.01, false),
    ("glucose", "glucose_mm", 0.18016, 0.03, false),
    ("glucose", "glucose_g_per_l", 1.0, 0.03, false),
    ("glutamine", "glutamine_mm", 1.0, 0.05, false),
    ("lactate", "lactate_mm", 0.09008, 0.04, false),
    ("lactate", "lactate_g_per_l", 1.0, 0.04, false),
    ("ammonium", "ammonium_mm", 1.0, 0.05, false),
    ("titer", "titer_g_per_l", 1.0, 0.03, false),
];

/// CPU time of this thread, ns: on a shared machine the wall-clock latency
/// includes waiting for a core; this does not.
fn thread_cpu_ns() -> Option<u64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec we own.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    (rc == 0).then(|| ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
}

fn pct(sorted: &[f64], q: f64) -> f64 {
    sorted[((q * (sorted.len() - 1) as f64).round() as usize).min(sorted.len() - 1)]
}

fn main() {
    let all: Vec<String> = std::env::args().skip(1).collect();
    if all.first().is_some_and(|a| a == "--indpensim") {
        indpensim::main(&all[1..]);
        return;
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("process-models/processes");
    let args: Vec<PathBuf> = std::env::args().skip(1).map(PathBuf::from).collect();
    let files = if args.is_empty() {
        vec![
            root.join("xing2010-reference.toml"),
            root.join("cho-platform-3l.toml"),
        ]
    } else {
        args
    };
    for file in files {
        let def = load_process(&file).expect("process file");
        let mut sc = Scenario::from_definition(&def).expect("scenario");
        let j = sc
            .family
            .params()
            .iter()
            .position(|s| s.name == "mu_max")
            .unwrap();
        sc.params_si[j] *= 1.05;
        let out = sc.simulate(true).expect("plant");
        let col = |name: &str| out.columns.iter().position(|c| c == name);
        let it = col("time_h").unwrap();
        let mut state = 12345u64;
        let mut noise = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 3.46 // unit variance
        };
        // Updates: every hour, the online tags; every 24 h also the lab.
        let mut updates: Vec<Vec<Observation>> = Vec::new();
        for row in out.rows().skip(1) {
            let t = row[it];
            let lab = (t.round() as i64) % 24 == 0;
            let mut u = Vec::new();
            for &(var, c, f, rel, online) in COLS {
                if let Some(i) = col(c).filter(|_| online || lab) {
                    u.push(Observation {
                        variable: var.into(),
                        time_s: t * 3600.0,
                        available_s: t * 3600.0,
                        value_si: row[i] * f * (1.0 + rel * noise()),
                    });
                }
            }
            updates.push(u);
        }
        let base = MechanisticOptions {
            forecast_rtol: std::env::var("LIVE_FORECAST_RTOL")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(MechanisticOptions::default().forecast_rtol),
            ..Default::default()
        };
        println!("{}: ensemble rtol {:e}", def.id, base.forecast_rtol);
        let mut p =
            MechanisticPredictor::from_process_file(&file, base.clone()).expect("predictor");
        let mut times = Vec::with_capacity(updates.len());
        let mut cpu = Vec::with_capacity(updates.len());
        let (mut t_assim, mut t_fc) = (0.0, 0.0);
        for (k, u) in updates.iter().enumerate() {
            let c0 = thread_cpu_ns();
            let t0 = Instant::now();
            for o in u {
                p.assimilate(o).expect("assimilate");
            }
            let t1 = Instant::now();
            let f = p.forecast(k as u64).expect("forecast");
            let t2 = Instant::now();
            std::hint::black_box(f);
            if let (Some(a), Some(b)) = (c0, thread_cpu_ns()) {
                cpu.push((b - a) as f64 * 1e-6);
            }
            t_assim += (t1 - t0).as_secs_f64();
            t_fc += (t2 - t1).as_secs_f64();
            times.push((t2 - t0).as_secs_f64() * 1e3);
        }
        times.sort_by(f64::total_cmp);
        let n = times.len() as f64;
        let verdict = |p99: f64| if p99 <= 10.0 { "met" } else { "NOT met" };
        println!(
            "{}: {} updates, wall-clock latency ms p50 {:.2} p99 {:.2} max {:.2} (mean assimilate {:.2}, forecast {:.2}); floor p99 <= 10 ms: {}",
            def.id,
            times.len(),
            pct(&times, 0.5),
            pct(&times, 0.99),
            times[times.len() - 1],
            t_assim / n * 1e3,
            t_fc / n * 1e3,
            verdict(pct(&times, 0.99))
        );
        // The thread's CPU time: what one core spends, whatever else the
        // machine is doing (on a loaded machine the wall clock includes
        // waiting for a core).
        if cpu.len() == times.len() && cpu.iter().sum::<f64>() > 0.0 {
            cpu.sort_by(f64::total_cmp);
            println!(
                "  CPU time per update ms p50 {:.2} p99 {:.2} max {:.2}; floor p99 <= 10 ms: {}",
                pct(&cpu, 0.5),
                pct(&cpu, 0.99),
                cpu[cpu.len() - 1],
                verdict(pct(&cpu, 0.99))
            );
        }
        // Accuracy of the looser ensemble tolerance: the same forecast (same
        // seed, same estimate) at the default and at a tight tolerance.
        let mut tight = MechanisticPredictor::from_process_file(
            &file,
            MechanisticOptions {
                forecast_rtol: 1e-8,
                ..Default::default()
            },
        )
        .expect("predictor");
        let mut loose = MechanisticPredictor::from_process_file(&file, base).expect("predictor");
        for u in updates.iter().take(updates.len() / 2) {
            for o in u {
                tight.assimilate(o).expect("assimilate");
                loose.assimilate(o).expect("assimilate");
            }
        }
        let (a, b) = (loose.forecast(7).unwrap(), tight.forecast(7).unwrap());
        for (x, y) in a.cqas.iter().zip(&b.cqas) {
            let width = (y.p95 - y.p05).abs().max(1e-300);
            println!(
                "  {:<24} mean {:>10.4} (tight {:>10.4}), |Δmean|/width {:.1e}, |Δp05|/width {:.1e}, |Δp95|/width {:.1e}",
                x.name,
                x.mean,
                y.mean,
                (x.mean - y.mean).abs() / width,
                (x.p05 - y.p05).abs() / width,
                (x.p95 - y.p95).abs() / width
            );
        }
    }
}
