//! The one address space: every value set through an address (`--set`,
//! `[set]`, `[[uncertainty]]`) passes the rule its field has in its own file,
//! with file, line, field, expected and found, exit 2; and the addresses of
//! single feeds, shift set-points and equipment constants reach the numbers
//! they name.

use std::path::{Path, PathBuf};
use std::process::Command;

use biotwin::simulation::{Scenario, load_process};

const P3L: &str = "process-models/processes/cho-platform-3l.toml";

fn biotwin(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_biotwin"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `simulate --set`: refused with exit 2, the message naming the address,
/// the expected range and the value; no panic.
fn refused(set: &str, expected: &[&str]) {
    let (code, _, err) = biotwin(&["simulate", P3L, "--set", set]);
    assert_eq!(code, 2, "--set {set}: {err}");
    assert!(!err.contains("panicked"), "{err}");
    let addr = set.split('=').next().unwrap();
    assert!(
        err.contains(&format!("<command line>: --set {addr}")),
        "{err}"
    );
    for e in expected {
        assert!(err.contains(e), "--set {set}: {err} lacks {e:?}");
    }
}

#[test]
fn out_of_range_set_values_are_refused_like_in_their_own_files() {
    refused(
        "setpoints.do_pct=1e308",
        &["a number in [1, 200] % air saturation", "found 1e308"],
    );
    refused(
        "setpoints.agitation_rpm=1e12",
        &["a number in [0, 2000] rpm", "found 1e12"],
    );
    refused(
        "initial.volume_l=1e12",
        &["working volume of `bench-3l-glass`, 1 to 2.4 L"],
    );
    refused("feeds.scale=1e12", &["a feed multiplier in [0, 10]"]);
    // Within the multiplier's range but beyond the vessel: 2.96 L > 2.4 L.
    refused(
        "feeds.scale=3",
        &[
            "maximum working volume of `bench-3l-glass`, 2.4 L",
            "2.959500 L",
        ],
    );
    refused("model.mu_max=5", &["mu_max in [0, 0.2] 1/h"]);
    refused("initial.viability_pct=150", &["a percentage in [0, 100]"]);
    refused("shifts[0].temperature_c=50", &["a number in [20, 42] °C"]);
    refused(
        "shifts[0].time_h=400",
        &["a time within the batch, 0 to 336 h"],
    );
    refused(
        "feeds[1].time_h=400",
        &["the one at 96 h would move to 400 h"],
    );
    refused(
        "equipment.kla.alpha=3",
        &["a P/V exponent between 0.1 and 1.5"],
    );
    refused(
        "equipment.impellers[0].power_number=40",
        &["a turbulent power number between 0 and 15"],
    );
    refused(
        "equipment.vessel.headspace_gauge_pressure_bar=9",
        &["a head-space overpressure in bar(g) between 0 and 3"],
    );
    refused(
        "media.feed_a.xv_1e6_cells_per_ml=1",
        &["a species of a cell-free medium"],
    );
    refused("no.such_address=1", &["an address starting with model."]);
    refused("feeds[7].volume_l=1", &["a feed index below 2"]);
    refused(
        "feeds.nobody.volume_l=1",
        &["it names none; use feeds[<i>]"],
    );
}

/// A private copy of process-models to edit.
struct Copy {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

impl Copy {
    fn new() -> Copy {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("process-models");
        copy_dir(Path::new("process-models"), &root);
        Copy { _dir: dir, root }
    }
    fn edit(&self, rel: &str, from: &str, to: &str) -> String {
        let p = self.root.join(rel);
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains(from), "{rel} lacks {from:?}");
        std::fs::write(&p, text.replacen(from, to, 1)).unwrap();
        p.display().to_string()
    }
}

#[test]
fn a_process_whose_set_table_breaks_a_rule_fails_validate_at_its_line() {
    let c = Copy::new();
    let p = c.edit(
        "processes/cho-platform-3l.toml",
        "[solver]",
        "[set]\n\"setpoints.do_pct\" = 1e308\n\"feeds.scale\" = 1e12\n\"initial.volume_l\" = 1e12\n\n[solver]",
    );
    let (code, _, err) = biotwin(&["validate", &p]);
    assert_eq!(code, 2, "{err}");
    // Each problem at its own key's line (the [set] table starts at line 10).
    assert!(
        err.contains(":11: set.\"setpoints.do_pct\": expected a number in [1, 200] % air saturation, found 1e308"),
        "{err}"
    );
    assert!(
        err.contains(":12: set.\"feeds.scale\": expected a feed multiplier in [0, 10], found 1e12"),
        "{err}"
    );
    assert!(
        err.contains(":13: set.\"initial.volume_l\": expected an initial volume within the working volume of `bench-3l-glass`"),
        "{err}"
    );
    // simulate refuses the same file the same way.
    let (code, _, err2) = biotwin(&["simulate", &p]);
    assert_eq!(code, 2);
    assert_eq!(err, err2);
}

#[test]
fn uncertainty_entries_with_an_unknown_address_or_out_of_range_draws_are_refused() {
    let c = Copy::new();
    let p = c.edit(
        "processes/cho-platform-3l.toml",
        "[[uncertainty]]\nparameter = \"model.mu_max\"",
        "[[uncertainty]]\nparameter = \"model.no_such_parameter\"\ndistribution = \"normal\"\ncv_pct = 5.0\n\n[[uncertainty]]\nparameter = \"setpoints.do_pct\"\ndistribution = \"uniform\"\nlow = 20.0\nhigh = 400.0\n\n[[uncertainty]]\nparameter = \"model.mu_max\"",
    );
    let (code, _, err) = biotwin(&["validate", &p]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("uncertainty[0].parameter: expected model.<param> with param one of"),
        "{err}"
    );
    assert!(err.contains("found `model.no_such_parameter`"), "{err}");
    assert!(
        err.contains("uncertainty[1]: expected a distribution whose draws are all admissible (a number in [1, 200] % air saturation"),
        "{err}"
    );
    // Lines point at the entries (the first [[uncertainty]] is at line 16).
    assert!(
        err.contains("cho-platform-3l.toml:17: uncertainty[0]"),
        "{err}"
    );
    // A spread no quantity can take (issue 14 item 6): cv 1e308.
    let c = Copy::new();
    let p = c.edit(
        "processes/cho-platform-3l.toml",
        "cv_pct = 8.0",
        "cv_pct = 1e308",
    );
    let (code, _, err) = biotwin(&["validate", &p]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("uncertainty[0]"), "{err}");
}

fn quality(args: &[&str]) -> String {
    let (code, out, err) = biotwin(args);
    assert_eq!(code, 0, "{args:?}: {err}");
    out
}

#[test]
fn a_feed_is_reached_by_index_and_by_name_and_equipment_constants_move_the_result() {
    let c = Copy::new();
    c.edit(
        "recipes/cho-platform-14d.toml",
        "[[bolus_feeds]]\nmedium = \"feed_a\"",
        "[[bolus_feeds]]\nname = \"feed_a_daily\"\nmedium = \"feed_a\"",
    );
    let p = c.root.join("processes/cho-platform-3l.toml");
    let p = p.to_str().unwrap();
    let base = quality(&["simulate", p]);
    let by_index = quality(&["simulate", p, "--set", "feeds[0].volume_pct_of_initial=3.6"]);
    let by_name = quality(&[
        "simulate",
        p,
        "--set",
        "feeds.feed_a_daily.volume_pct_of_initial=3.6",
    ]);
    assert_eq!(by_index, by_name);
    assert_ne!(by_index, base);
    // The same volume in litres (3.6 % of 1.5 L) gives the same batch.
    let in_litres = quality(&["simulate", p, "--set", "feeds.feed_a_daily.volume_l=0.054"]);
    assert_eq!(in_litres, by_name);
    // A lower kLa constant changes the 3 L batch (its DO is controlled,
    // but the gas transfer sets pCO2 and hence the quality).
    let kla = quality(&["simulate", p, "--set", "equipment.kla.a=20"]);
    assert_ne!(kla, base);
}

#[test]
fn addresses_read_back_what_they_set_in_the_user_unit() {
    let def = load_process(Path::new(P3L)).unwrap();
    let ff = def.model.params.file_factor.clone();
    let mut s = Scenario::from_definition(&def).unwrap();
    for (a, v) in [
        ("model.mu_max", 0.031),
        ("initial.glucose_g_per_l", 5.5),
        ("initial.volume_l", 1.6),
        ("media.feed_a.glucose_g_per_l", 110.0),
        ("setpoints.do_pct", 35.0),
        ("setpoints.base_concentration_m", 0.5),
        ("shifts[0].time_h", 150.0),
        ("shifts[0].temperature_c", 32.0),
        ("feeds.scale", 1.1),
        ("feeds[0].volume_l", 0.05),
        ("feeds[0].time_h", 70.0),
        ("feeds[1].volume_pct_of_initial", 0.6),
        ("equipment.kla.a", 80.0),
        ("equipment.kla.beta", 0.45),
        ("equipment.impellers[0].power_number", 1.2),
        ("equipment.vessel.headspace_gauge_pressure_bar", 0.1),
    ] {
        s.apply(a, v, &ff).unwrap_or_else(|e| panic!("{a}: {e}"));
        let addr = s.address(a, &ff).unwrap();
        let back = s.get(&addr);
        assert!(
            (back - v).abs() <= 1e-12 * v.abs(),
            "{a}: set {v}, read {back}"
        );
    }
    // Moving a bolus entry moves all its additions and keeps the order.
    let times: Vec<f64> = s
        .recipe
        .events
        .iter()
        .filter_map(|e| match e.kind {
            biotwin::definition::recipe::EventKind::Bolus { entry: 0, .. } => {
                Some(e.time_s / 3600.0)
            }
            _ => None,
        })
        .collect();
    assert_eq!(times.len(), 11);
    assert!(
        (times[0] - 70.0).abs() < 1e-9 && (times[10] - 310.0).abs() < 1e-9,
        "{times:?}"
    );
    assert!(
        s.recipe
            .events
            .windows(2)
            .all(|w| w[0].time_s <= w[1].time_s)
    );
    // The scenario still runs.
    s.simulate(false).unwrap();
}

/// The shipped example transfer (3 L → 2000 L pitched-blade, drilled
/// sparger) studies the receiving vessel's kLa constants as Sobol factors
/// with the spread of their source, and the report ranks them.
#[test]
fn the_example_transfer_ranks_the_receiving_vessels_kla_constants() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("t");
    let (code, _, err) = biotwin(&[
        "transfer",
        "--process",
        P3L,
        "--to",
        "sut-2000l-pbt-drilled",
        "--criterion",
        "v_s",
        "--out",
        out.to_str().unwrap(),
        "--runs",
        "300",
        "--sobol-base",
        "64",
        "--quiet",
    ]);
    assert_eq!(code, 0, "{err}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("transfer.json")).unwrap()).unwrap();
    let factors = json["sensitivity"]["factors"].as_array().unwrap();
    let find = |n: &str| {
        factors
            .iter()
            .find(|f| f["name"] == n)
            .unwrap_or_else(|| panic!("no factor {n}"))
    };
    // The vessel file's constants: a = 93.6 1/h, alpha 0.4, beta 0.5.
    for (name, nominal, low, high) in [
        ("equipment.kla.a", 93.6, 0.6 * 93.6, 1.4 * 93.6),
        ("equipment.kla.alpha", 0.4, 0.35, 0.45),
        ("equipment.kla.beta", 0.5, 0.45, 0.55),
    ] {
        let f = find(name);
        for (k, v) in [("nominal", nominal), ("low", low), ("high", high)] {
            let got = f[k].as_f64().unwrap();
            assert!((got - v).abs() < 1e-9, "{name}.{k}: {got} vs {v}");
        }
        assert!(f["basis"].as_str().unwrap().contains("van 't Riet"), "{f}");
    }
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    for name in [
        "equipment.kla.a",
        "equipment.kla.alpha",
        "equipment.kla.beta",
    ] {
        // In the factor table and in each metric's ranking ("| rank | `name` |").
        let ranked = report
            .lines()
            .filter(|l| {
                l.starts_with("| ")
                    && l.contains(&format!("| `{name}` |"))
                    && l[2..]
                        .split(' ')
                        .next()
                        .is_some_and(|r| r.parse::<usize>().is_ok())
            })
            .count();
        assert!(ranked >= 1, "{name} not ranked in the report");
    }
}
