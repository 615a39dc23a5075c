//! Substrate depletion in the xing2010 model (issue 14, item 10): with no
//! feed the culture runs out of glucose; maintenance uptake then ramps to
//! zero below 0.1 mM (`xing2010::DEPLETION_RAMP_MM`) instead of driving
//! glucose negative, so the run completes (it used to exit 3 with "Glc
//! became negative beyond tolerance").

use std::path::Path;
use std::process::Command;

use biotwin::simulation::{Scenario, load_process};

const PROCESS: &str = "process-models/processes/xing2010-reference.toml";

#[test]
fn unfed_culture_runs_out_of_glucose_without_going_negative() {
    let def = load_process(Path::new(PROCESS)).unwrap();
    let mut s = Scenario::from_definition(&def).unwrap();
    s.apply("feeds.scale", 0.0, &def.model.params.file_factor)
        .unwrap();
    let out = s.simulate(true).expect("an unfed batch simulates");
    let glc = out.column("glucose_mm").unwrap();
    let min = glc.iter().cloned().fold(f64::INFINITY, f64::min);
    // Depleted (far below the 0.1 mM ramp), never below the solver's
    // negative tolerance (1e-6 of the 10 mM scale).
    assert!(min < 0.01, "glucose should run out, min {min}");
    assert!(min > -1e-5, "glucose went negative: {min}");
    assert!(glc.last().unwrap().abs() < 0.01);
    let xv = out.column("xv_1e6_cells_per_ml").unwrap();
    assert!(xv.iter().all(|x| x.is_finite() && *x >= 0.0));
}

#[test]
fn unfed_culture_through_the_binary_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_biotwin"))
        .args(["simulate", PROCESS, "--set", "feeds.scale=0", "--out"])
        .arg(dir.path().join("run.csv"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}
