//! The IndPenSim model against the reference batches shipped in
//! `training-data/indpensim` (pensimpy 1.2.5, pure-SciPy path, recorded
//! disturbances): state-by-state agreement, and the mass balances.

use std::path::Path;

use biotwin_core::bioreactor::indpensim::simulate::COLUMNS;
use biotwin_core::bioreactor::indpensim::{self, Accuracy, Trajectory};
use biotwin_ml::data::indpensim::{WideTable, load_batch};

fn dataset() -> &'static Path {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/training-data/indpensim"
    ))
}

/// Largest relative difference per column over all steps, and the step
/// where it occurs: |a − b| / max(|b|, 1e-6·max_k |b_k|) — values below a
/// millionth of the column's largest count in absolute terms (the reference
/// integrates at atol 1.5e-8, so its values near 0 carry no relative
/// precision; μx's step integral is exactly 0 where the dissolved-CO2
/// switch is fully off).
pub fn column_errors(traj: &Trajectory, wide: &WideTable) -> Vec<(&'static str, f64, usize)> {
    let mut out = Vec::new();
    for (c, (name, wide_name)) in COLUMNS.iter().enumerate() {
        let j = wide.index(wide_name).unwrap();
        let floor = 1e-6 * wide.rows.iter().map(|r| r[j].abs()).fold(0.0, f64::max);
        let mut worst = (0.0, 0);
        for (k, row) in traj.rows.iter().enumerate() {
            let b = wide.rows[k][j];
            let a = row[c];
            let e = if a == b {
                0.0
            } else {
                (a - b).abs() / b.abs().max(floor)
            };
            if e > worst.0 || e.is_nan() {
                worst = (e, k + 1);
            }
        }
        out.push((*name, worst.0, worst.1));
    }
    out
}

/// Per column, the worst agreement over B01–B15 (B16–B20 are held out for
/// the estimator protocol and not simulated here). Prints a table.
#[test]
#[ignore = "survey of B01-B15, run by hand"]
fn survey_b01_to_b15() {
    let mut worst: Vec<(&str, f64, String)> =
        COLUMNS.iter().map(|c| (c.0, 0.0, String::new())).collect();
    for n in 1..=15 {
        let id = format!("B{n:02}");
        let (batch, wide) = load_batch(dataset(), &id).unwrap();
        let traj = indpensim::run(&batch, &Accuracy::default()).unwrap();
        for (i, (_, e, k)) in column_errors(&traj, &wide).into_iter().enumerate() {
            if e > worst[i].1 {
                worst[i].1 = e;
                worst[i].2 = format!("{id} step {k}");
            }
        }
    }
    for (name, e, at) in worst {
        println!("| {name} | {e:.1e} | {at} |");
    }
}

/// Controller flows (manipulated variables) rather than states: a
/// velocity-form PID output near 0 is a difference of large terms, so its
/// relative error there is larger (absolute error ≤ 1e-5 L/h).
const FLOWS: [&str; 4] = ["fa_l_per_h", "fb_l_per_h", "fc_l_per_h", "fh_l_per_h"];

/// Worst state and worst flow error of a batch.
fn agreement(id: &str) -> (f64, f64, Vec<(&'static str, f64, usize)>) {
    let (batch, wide) = load_batch(dataset(), id).unwrap();
    let traj = indpensim::run(&batch, &Accuracy::default()).unwrap();
    assert_eq!(traj.rows.len(), wide.rows.len());
    let errs = column_errors(&traj, &wide);
    let worst = |flows: bool| {
        errs.iter()
            .filter(|e| FLOWS.contains(&e.0) == flows)
            .map(|e| e.1)
            .fold(0.0, f64::max)
    };
    (worst(false), worst(true), errs)
}

/// B01 (default recipe) state by state, every 0.2-h step of 230 h: every
/// state and output within 1e-5 (measured 7.6e-6, μx's step integral; S
/// 2.0e-6, OUR 4.0e-6, all others below 1e-6), the controller flows within
/// 2e-5 (measured 9.7e-6), the step end times (the reference's extra
/// 0.005-h sub-step in 381 steps) exactly.
#[test]
fn b01_agrees_with_the_reference_state_by_state() {
    let (states, flows, errs) = agreement("B01");
    for (name, e, k) in &errs {
        println!("{name:28} {e:10.3e} at step {k}");
    }
    assert!(states <= 1e-5, "worst state error {states:.3e}");
    assert!(flows <= 2e-5, "worst flow error {flows:.3e}");
    let t_end = errs.iter().find(|e| e.0 == "t_ode_end_h").unwrap().1;
    assert!(t_end < 1e-14, "{t_end}");
}

/// Two scaled-recipe batches: measured worst state 4.7e-6 (B02) and 2.1e-6
/// (B03), flows 2.0e-5 and 1e-6; pinned at 2e-5 and 1e-4.
#[test]
fn b02_and_b03_agree_with_the_reference() {
    for id in ["B02", "B03"] {
        let (states, flows, _) = agreement(id);
        assert!(states <= 2e-5, "{id}: worst state error {states:.3e}");
        assert!(flows <= 1e-4, "{id}: worst flow error {flows:.3e}");
    }
}

/// `validation/indpensim/columns.csv` (the comparison script's map from
/// biotwin's column names to the wide file's) matches the simulator's.
#[test]
fn the_validation_column_map_matches_the_simulator() {
    let path = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/validation/indpensim/columns.csv"
    ));
    let text = std::fs::read_to_string(path).unwrap();
    let pairs: Vec<(String, String)> = text
        .lines()
        .skip(1)
        .map(|l| {
            let (a, b) = l.split_once(',').unwrap();
            (a.to_string(), b.to_string())
        })
        .collect();
    let expected: Vec<(String, String)> = COLUMNS
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(pairs, expected);
}

/// A batch id that the data set does not hold is an input error naming the
/// file, not a panic.
#[test]
fn an_unknown_batch_is_an_input_error() {
    let e = load_batch(dataset(), "B99").unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(e.to_string().contains("initial_conditions.csv"), "{e}");
    assert!(e.to_string().contains("B99"), "{e}");
}

/// `biotwin simulate <dataset> --batch B03 --out run.csv` writes one row per
/// step whose final penicillin is the record's; without `--batch` a data set
/// directory is refused with exit 2, naming the option.
#[test]
fn the_cli_simulates_a_recorded_batch() {
    use std::process::Command;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("b03.csv");
    let run = Command::new(env!("CARGO_BIN_EXE_biotwin"))
        .args([
            "simulate",
            dataset().to_str().unwrap(),
            "--batch",
            "B03",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let text = std::fs::read_to_string(&out).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(header.len(), COLUMNS.len());
    let rows: Vec<Vec<f64>> = lines
        .map(|l| l.split(',').map(|v| v.parse().unwrap()).collect())
        .collect();
    assert_eq!(rows.len(), indpensim::N_STEPS);
    let (_, wide) = load_batch(dataset(), "B03").unwrap();
    let p = header
        .iter()
        .position(|h| *h == "penicillin_g_per_l")
        .unwrap();
    let p_ref = *wide.column("P").unwrap().last().unwrap();
    let p_sim = rows.last().unwrap()[p];
    assert!(((p_sim - p_ref) / p_ref).abs() < 1e-6, "{p_sim} vs {p_ref}");

    let refused = Command::new(env!("CARGO_BIN_EXE_biotwin"))
        .args(["simulate", dataset().to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--batch"));
}

/// A recipes file with a physically impossible or ambiguous entry is
/// refused, naming the field: a negative feed, aeration off, a head
/// pressure below vacuum, a unit other than the model's, a batch listed
/// twice. Before, all of these ran (exit 0).
#[test]
fn impossible_or_ambiguous_recipes_are_refused() {
    use biotwin_ml::data::indpensim::read_recipe;
    let text = std::fs::read_to_string(dataset().join("recipes.json")).unwrap();
    let original: serde_json::Value = serde_json::from_str(&text).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let check = |edit: &dyn Fn(&mut serde_json::Value), want: &str| {
        let mut v = original.clone();
        edit(&mut v);
        let path = dir.path().join("recipes.json");
        std::fs::write(&path, serde_json::to_string(&v).unwrap()).unwrap();
        let e = read_recipe(&path, "B01").expect_err(want);
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains(want), "{want}: {e}");
    };
    let first = |v: &mut serde_json::Value, input: &str, value: f64| {
        v["batches"][0]["profiles"][input][0]["value"] = value.into();
    };
    assert_eq!(original["batches"][0]["batch_id"], "B01");
    check(&|v| first(v, "Fs", -50.0), "profiles.Fs[0].value");
    check(&|v| first(v, "Fg", 0.0), "profiles.Fg[0].value");
    check(
        &|v| first(v, "pressure", -5.0),
        "profiles.pressure[0].value",
    );
    check(&|v| v["units"]["Fs"] = "kg/h".into(), "units.Fs");
    check(
        &|v| {
            let b = v["batches"][0].clone();
            v["batches"].as_array_mut().unwrap().insert(0, b);
        },
        "one entry for batch `B01`",
    );
    // The shipped file itself reads.
    read_recipe(&dataset().join("recipes.json"), "B01").unwrap();
}
