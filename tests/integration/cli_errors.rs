//! Malformed input through the real binary: each case gets its own specific
//! message (file, line, field, expected, found), exit code 2, and no panic.

use std::path::{Path, PathBuf};
use std::process::Command;

struct Case {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

/// A private copy of process-models to break.
fn setup() -> Case {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("process-models");
    copy_dir(Path::new("process-models"), &root);
    Case { _dir: dir, root }
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

impl Case {
    fn edit(&self, rel: &str, from: &str, to: &str) {
        let p = self.root.join(rel);
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains(from), "{rel} does not contain {from:?}");
        std::fs::write(&p, text.replacen(from, to, 1)).unwrap();
    }
    fn path(&self, rel: &str) -> String {
        self.root.join(rel).display().to_string()
    }
}

fn biotwin(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_biotwin"))
        .args(args)
        .output()
        .unwrap();
    let code = out.status.code().unwrap_or(-1);
    (
        code,
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// Runs `simulate` on a process and expects exit 2 with every needle in stderr.
fn expect_input_error(args: &[&str], needles: &[&str]) -> String {
    let (code, _, err) = biotwin(args);
    assert!(!err.contains("panicked"), "panic reached the user:\n{err}");
    assert_eq!(code, 2, "exit code 2 expected, stderr:\n{err}");
    for n in needles {
        assert!(err.contains(n), "missing {n:?} in:\n{err}");
    }
    err
}

const P3L: &str = "processes/cho-platform-3l.toml";
const PX: &str = "processes/xing2010-reference.toml";

#[test]
fn missing_field_names_it_with_a_line() {
    let c = setup();
    c.edit("recipes/cho-platform-14d.toml", "duration_h = 336.0\n", "");
    expect_input_error(
        &["simulate", &c.path(P3L)],
        &["cho-platform-14d.toml:", "required field `duration_h`"],
    );
}

#[test]
fn wrong_unit_names_the_parameter_and_both_dimensions() {
    let c = setup();
    c.edit(
        "models/xing2010.toml",
        "mu_max    = { value = 0.029,    unit = \"1/h\"",
        "mu_max    = { value = 0.029,    unit = \"g/L\"",
    );
    expect_input_error(
        &["simulate", &c.path(PX)],
        &["xing2010.toml:", "parameters.mu_max.unit", "dimension"],
    );
}

#[test]
fn negative_volume_is_rejected_with_its_line() {
    let c = setup();
    c.edit(
        "recipes/xing2010-nominal.toml",
        "initial_volume_l = 3500.0",
        "initial_volume_l = -3500.0",
    );
    expect_input_error(
        &["simulate", &c.path(PX)],
        &[
            "xing2010-nominal.toml:7:",
            "recipe.initial_volume_l",
            "positive volume",
        ],
    );
}

#[test]
fn unknown_model_reference_lists_the_catalog() {
    let c = setup();
    c.edit(PX, "model = \"xing2010\"", "model = \"xing2011\"");
    expect_input_error(
        &["simulate", &c.path(PX)],
        &["process.model", "`xing2011`", "cho-platform"],
    );
}

#[test]
fn unknown_model_family_lists_the_known_ones() {
    let c = setup();
    c.edit(
        "models/xing2010.toml",
        "family = \"xing2010\"",
        "family = \"monod\"",
    );
    expect_input_error(
        &["simulate", &c.path(PX)],
        &["model.family", "cho_platform", "`monod`"],
    );
}

#[test]
fn feed_after_batch_end_is_rejected() {
    let c = setup();
    c.edit(
        "recipes/cho-platform-14d.toml",
        "times_h = [96.0]",
        "times_h = [400.0]",
    );
    expect_input_error(
        &["simulate", &c.path(P3L)],
        &["bolus_feeds[1].times_h[0]", "within the batch", "400 h"],
    );
}

#[test]
fn bad_toml_points_at_the_line() {
    let c = setup();
    c.edit("recipes/cho-platform-14d.toml", "[setpoints]", "[setpoints");
    expect_input_error(
        &["simulate", &c.path(P3L)],
        &["cho-platform-14d.toml:", "valid TOML"],
    );
}

#[test]
fn unknown_fields_are_errors_all_of_them() {
    let c = setup();
    c.edit(
        "recipes/cho-platform-14d.toml",
        "ph = 7.0",
        "ph = 7.0\nagitaton_rpm = 200",
    );
    c.edit(
        "recipes/cho-platform-14d.toml",
        "volume_ml = 4.0",
        "volume_ml = 4.0\nvolume_l = 1",
    );
    let err = expect_input_error(
        &["validate", &c.path("recipes/cho-platform-14d.toml")],
        &["setpoints.agitaton_rpm", "sampling[0].volume_l"],
    );
    assert!(err.contains("unknown field"), "{err}");
}

#[test]
fn unknown_field_in_a_shift_is_an_error() {
    let c = setup();
    c.edit(
        "recipes/cho-platform-14d.toml",
        "temperature_c = 33.0",
        "temperature_c = 33.0\ntemprature_c = 32.0",
    );
    expect_input_error(
        &["validate", &c.path("recipes/cho-platform-14d.toml")],
        &["temprature_c"],
    );
}

#[test]
fn unknown_species_and_unit_suffixes_say_what_is_accepted() {
    let c = setup();
    c.edit(
        "recipes/cho-platform-14d.toml",
        "glucose_g_per_l = 6.0",
        "glucose_g_per_kg = 6.0",
    );
    expect_input_error(
        &["validate", &c.path("recipes/cho-platform-14d.toml")],
        &["initial.glucose_g_per_kg", "glucose_mm"],
    );
}

#[test]
fn platform_process_without_equipment_is_rejected() {
    let c = setup();
    c.edit(P3L, "equipment = \"bench-3l-glass\"\n", "");
    expect_input_error(
        &["simulate", &c.path(P3L)],
        &["process.equipment", "gas transfer"],
    );
}

#[test]
fn specification_for_an_unknown_quality_attribute_is_rejected() {
    let c = setup();
    c.edit(
        "specs/cho-mab-upstream.toml",
        "cqa = \"titer_g_per_l\"",
        "cqa = \"titre\"",
    );
    expect_input_error(&["simulate", &c.path(P3L)], &["limits[0].cqa", "`titre`"]);
}

#[test]
fn bad_set_values_and_addresses_are_input_errors() {
    let c = setup();
    expect_input_error(
        &["simulate", &c.path(PX), "--set", "model.mu_max=fast"],
        &["--set model.mu_max", "a number"],
    );
    expect_input_error(
        &["simulate", &c.path(PX), "--set", "model.mu_maximum=0.03"],
        &["mu_max", "model.<param>"],
    );
    expect_input_error(
        &["simulate", &c.path(PX), "--set", "initial.volume_l=-5"],
        // The rule of `recipe.initial_volume_l` in its own file.
        &["a positive volume in L"],
    );
}

#[test]
fn unsupported_output_format_is_an_input_error() {
    let c = setup();
    expect_input_error(
        &["simulate", &c.path(PX), "--out", "run.xlsx"],
        &["--out", ".csv, .json or .parquet", "xlsx"],
    );
}

#[test]
fn missing_file_is_an_input_error() {
    expect_input_error(
        &["simulate", "no/such/process.toml"],
        &["no/such/process.toml"],
    );
}

#[test]
fn every_problem_of_a_file_is_reported_at_once() {
    let c = setup();
    c.edit(
        "recipes/cho-platform-14d.toml",
        "initial_volume_l = 1.5",
        "initial_volume_l = -1.5",
    );
    c.edit("recipes/cho-platform-14d.toml", "ph = 7.0", "ph = 9.5");
    c.edit(
        "recipes/cho-platform-14d.toml",
        "medium = \"glyco_supplement\"",
        "medium = \"glyco\"",
    );
    let err = expect_input_error(
        &["validate", &c.path("recipes/cho-platform-14d.toml")],
        &["initial_volume_l", "setpoints.ph", "bolus_feeds[1].medium"],
    );
    assert!(err.contains("3 problems found"), "{err}");
}

#[test]
fn shipped_files_validate_and_simulate() {
    let mut files: Vec<String> = Vec::new();
    for sub in [
        "processes",
        "models",
        "recipes",
        "equipment",
        "specs",
        "downstream",
        "lots",
    ] {
        for e in std::fs::read_dir(Path::new("process-models").join(sub)).unwrap() {
            files.push(e.unwrap().path().display().to_string());
        }
    }
    let mut args = vec!["validate"];
    args.extend(files.iter().map(|s| s.as_str()));
    let (code, out, err) = biotwin(&args);
    assert_eq!(code, 0, "{out}\n{err}");
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("run.csv");
    let svg = dir.path().join("run.svg");
    let (code, out, err) = biotwin(&[
        "simulate",
        "process-models/processes/cho-platform-3l.toml",
        "--out",
        csv.to_str().unwrap(),
        "--plot",
        svg.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("titer_g_per_l"), "{out}");
    let header = std::fs::read_to_string(&csv)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_string();
    for col in [
        "time_h",
        "volume_l",
        "xv_1e6_cells_per_ml",
        "glucose_g_per_l",
        "titer_g_per_l",
        "pco2_mmhg",
        "galactosylated_pct",
        "acidic_variants_pct",
        "hmw_pct",
        "hcp_mg_per_l",
    ] {
        assert!(
            header.split(',').any(|c| c == col),
            "{col} missing from {header}"
        );
    }
    assert!(std::fs::read_to_string(&svg).unwrap().starts_with("<svg"));
}

#[test]
fn every_command_help_has_an_example() {
    for cmd in [
        "simulate", "validate", "models", "scale-up", "train", "evaluate", "promote",
    ] {
        let (code, out, _) = biotwin(&[cmd, "--help"]);
        assert_eq!(code, 0);
        assert!(
            out.contains("Example"),
            "{cmd} --help has no example:\n{out}"
        );
    }
}

#[test]
fn trajectory_can_be_written_as_parquet() {
    let dir = tempfile::tempdir().unwrap();
    let pq = dir.path().join("run.parquet");
    let (code, out, err) = biotwin(&[
        "simulate",
        "process-models/processes/xing2010-reference.toml",
        "--out",
        pq.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}\n{err}");
    let bytes = std::fs::read(&pq).unwrap();
    assert_eq!(&bytes[..4], b"PAR1", "Parquet magic at the start");
    assert_eq!(
        &bytes[bytes.len() - 4..],
        b"PAR1",
        "Parquet magic at the end"
    );
}

#[test]
fn process_with_a_downstream_train_runs_to_drug_substance() {
    let (code, out, err) = biotwin(&[
        "simulate",
        "process-models/processes/cho-platform-2000l.toml",
    ]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("fed with this batch's harvest"), "{out}");
    assert!(out.contains("overall monomer yield"), "{out}");
    assert!(out.contains("UF/DF"), "{out}");
}

#[test]
fn a_column_file_simulates_on_its_own_with_chromatogram() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("outlet.csv");
    let svg = dir.path().join("chromatogram.svg");
    let (code, out, err) = biotwin(&[
        "simulate",
        "process-models/downstream/protein_a_column.toml",
        "--out",
        csv.to_str().unwrap(),
        "--plot",
        svg.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("mass balance"), "{out}");
    assert!(std::fs::metadata(&csv).unwrap().len() > 1000);
    assert!(std::fs::read_to_string(&svg).unwrap().contains("<svg"));
}

#[test]
fn a_bad_downstream_reference_is_an_input_error() {
    let c = setup();
    c.edit(
        "processes/cho-platform-2000l.toml",
        "downstream = \"cho_mab_train\"",
        "downstream = \"no_such_train\"",
    );
    expect_input_error(
        &["simulate", &c.path("processes/cho-platform-2000l.toml")],
        &["process.downstream", "`no_such_train`"],
    );
}

/// A process whose `model = "registry:NAME"` names a model the registry
/// does not have: `fit` exits 2 (not 1 or 3) before fitting anything,
/// naming the process file's `process.model` and the name.
#[test]
fn fit_with_an_unregistered_process_model_exits_2_naming_process_model() {
    let c = setup();
    c.edit(
        P3L,
        "model = \"cho-platform\"",
        "model = \"registry:no-such-line\"",
    );
    let reg = c.root.join("empty-registry");
    let out = c.root.join("fit-never-written");
    let err = expect_input_error(
        &[
            "fit",
            "--process",
            &c.path(P3L),
            "--dataset",
            "training-data/cho-platform",
            "--parameters",
            "model.mu_max",
            "--registry",
            reg.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ],
        &["cho-platform-3l.toml", "process.model", "no-such-line"],
    );
    assert!(!out.exists(), "nothing is written on bad input: {err}");
}

/// `simulate --model ID` with an id no file and no registry entry has
/// exits 2 naming `--model` and the id (the registry's NotFound kept).
#[test]
fn simulate_with_an_unknown_registry_model_exits_2() {
    let c = setup();
    let reg = c.root.join("empty-registry");
    expect_input_error(
        &[
            "simulate",
            &c.path(P3L),
            "--model",
            "registry-id-that-does-not-exist",
            "--registry",
            reg.to_str().unwrap(),
        ],
        &["--model", "registry-id-that-does-not-exist"],
    );
}
