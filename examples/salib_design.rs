//! Writes biotwin's Saltelli and Morris designs for the Ishigami function
//! (three factors uniform on [-π, π]) as JSON on stdout, for the SALib
//! cross-check in `validation/salib/cross_check.py`: SALib then analyses the
//! same points and outputs, and `tests/sensitivity_salib.rs` holds biotwin's
//! estimators to its numbers.
//!
//!   cargo run --release --example salib_design > design.json

use std::f64::consts::PI;

use biotwin::sensitivity::{Factor, MorrisDesign, MorrisOptions, SaltelliDesign};

/// The settings the fixture was made with (also in the test).
const SOBOL_BASE: usize = 1024;
const SOBOL_SEED: u64 = 2024;
const MORRIS_TRAJECTORIES: usize = 50;
const MORRIS_SEED: u64 = 7;

fn main() {
    let factors: Vec<Factor> = ["x1", "x2", "x3"]
        .iter()
        .map(|n| Factor::uniform(*n, -PI, PI))
        .collect();
    let sobol = SaltelliDesign::new(&factors, SOBOL_BASE, SOBOL_SEED).expect("valid design");
    let morris = MorrisDesign::new(
        &factors,
        &MorrisOptions {
            trajectories: MORRIS_TRAJECTORIES,
            seed: MORRIS_SEED,
            ..MorrisOptions::default()
        },
    )
    .expect("valid design");
    let out = serde_json::json!({
        "factors": ["x1", "x2", "x3"],
        "bounds": [[-PI, PI], [-PI, PI], [-PI, PI]],
        "sobol": {"base_samples": SOBOL_BASE, "seed": SOBOL_SEED,
                  "layout": "per base sample: A, B, A_B^(1), ..., A_B^(k)",
                  "points": sobol.points()},
        "morris": {"trajectories": MORRIS_TRAJECTORIES, "levels": 4, "seed": MORRIS_SEED,
                   "layout": "trajectory after trajectory, k + 1 points each",
                   "points": morris.points()},
    });
    println!("{}", serde_json::to_string(&out).expect("serialisable"));
}
