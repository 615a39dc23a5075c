//! The xing2010 family against the independent SciPy reference
//! (tests/fixtures/cho, copied from shared/reference/cho: Radau rtol 1e-10).
//! Every state, every hour, within 1e-4 relative; at rtol 1e-10 the README's
//! "4.7e-10" is held to 1e-9 (a 2x margin); Dop853 at rtol 1e-10 (measured
//! 4.4e-11) to 1e-10; at the benchmark's rtol 1e-6 (measured 9.8e-7) to 2e-6.

use biotwin_core::simulation::{Scenario, load_process};
use biotwin_core::solver::{Method, Tolerances};
use std::path::Path;

/// Dopri5 at the benchmark's rtol 1e-6: measured 9.8e-7, asserted < 2e-6.
const BENCH_BOUND: f64 = 2e-6;

fn reference() -> Vec<Vec<f64>> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/cho/xing2010_trajectory_nominal.csv"
    ))
    .unwrap();
    text.lines()
        .skip(1)
        .map(|l| l.split(',').map(|x| x.parse().unwrap()).collect())
        .collect()
}

fn scenario(method: Method, rtol: f64) -> Scenario {
    let def = load_process(Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../process-models/processes/xing2010-reference.toml"
    )))
    .unwrap();
    let mut s = Scenario::from_definition(&def).unwrap();
    s.options.method = method;
    s.options.tolerances = Tolerances {
        rtol,
        atol: rtol * 1e-3,
        ..Tolerances::default()
    };
    s.options.output_interval_s = Some(3600.0);
    s
}

/// Maps our output columns to the reference's state columns (units converted).
fn compare(method: Method, rtol: f64, bound: f64) -> f64 {
    let out = scenario(method, rtol).simulate(true).unwrap();
    let reference = reference();
    assert_eq!(out.n_rows(), reference.len(), "one row per hour, 0..=336");
    let col = |name: &str| out.columns.iter().position(|c| c == name).unwrap();
    // (our column, factor to reference unit, reference column)
    let map = [
        ("xv_1e6_cells_per_ml", 1e9, 1),
        ("xd_1e6_cells_per_ml", 1e9, 2),
        ("glucose_mm", 1.0, 3),
        ("glutamine_mm", 1.0, 4),
        ("lactate_mm", 1.0, 5),
        ("ammonium_mm", 1.0, 6),
        ("titer_g_per_l", 1.0, 7),
        ("volume_l", 1.0, 8),
    ];
    let mut worst: f64 = 0.0;
    for (row, r) in out.rows().zip(&reference) {
        assert!((row[col("time_h")] - r[0]).abs() < 1e-9);
        for &(name, f, j) in &map {
            let ours = row[col(name)] * f;
            // Relative to the reference value itself; Xd is exactly 0 only at t = 0.
            let rel = if r[j] == 0.0 {
                ours.abs()
            } else {
                (ours - r[j]).abs() / r[j].abs()
            };
            assert!(
                rel <= bound,
                "{name} at t = {} h: {ours} vs {} (rel {rel:.2e})",
                r[0],
                r[j]
            );
            worst = worst.max(rel);
        }
    }
    worst
}

#[test]
fn nominal_trajectory_matches_scipy_within_1e_4_dopri5() {
    let worst = compare(Method::Dopri5, 1e-10, 1e-4);
    eprintln!("worst relative error, Dopri5 rtol 1e-10: {worst:.2e}");
    // README: "matches the SciPy reference trajectory at every hour to 4.7e-10".
    assert!(
        worst < 1e-9,
        "README claims 4.7e-10 at rtol 1e-10 (asserted < 1e-9): {worst:.2e}"
    );
}

#[test]
fn nominal_trajectory_matches_scipy_within_1e_4_dop853() {
    let worst = compare(Method::Dop853, 1e-10, 1e-4);
    eprintln!("worst relative error, Dop853 rtol 1e-10: {worst:.2e}");
    assert!(
        worst < 1e-10,
        "Dop853 rtol 1e-10: {worst:.2e} (asserted < 1e-10)"
    );
}

#[test]
fn nominal_trajectory_matches_scipy_at_the_benchmark_tolerance() {
    // rtol 1e-6 is the speed-comparison setting: still within the 1e-4 bound.
    let worst = compare(Method::Dopri5, 1e-6, 1e-4);
    eprintln!("worst relative error, Dopri5 rtol 1e-6: {worst:.2e}");
    assert!(
        worst < BENCH_BOUND,
        "rtol 1e-6: {worst:.2e} (asserted < {BENCH_BOUND:e})"
    );
}

/// `simulate_states` (what the SciPy comparison times) is the same
/// trajectory as the rows of `simulate`: same times, same states.
#[test]
fn states_on_the_grid_are_the_trajectory_of_simulate() {
    let s = scenario(Method::Dopri5, 1e-6);
    let out = s.simulate(true).unwrap();
    let (times, states) = s.simulate_states().unwrap();
    assert_eq!(times.len(), out.n_rows());
    assert_eq!(states.len(), 8 * times.len());
    let col = |name: &str| out.columns.iter().position(|c| c == name).unwrap();
    for ((t, y), row) in times.iter().zip(states.chunks(8)).zip(out.rows()) {
        assert_eq!(*t / 3600.0, row[col("time_h")]);
        // Titer (state 6, kg/m3 = g/L) and volume (state 7, m3 -> L):
        // bit-identical, the same solver path produced both.
        assert_eq!(y[6], row[col("titer_g_per_l")]);
        assert_eq!(y[7] * 1e3, row[col("volume_l")]);
    }
}
