//! The calibrated model file (`biotwin.calibration/1`, written by `biotwin
//! fit`): the reader accepts a valid `[calibration]` table and refuses a
//! covariance that is not symmetric or not positive semi-definite, or that
//! names a parameter the file lacks, with file, line and field, exit 2.
//! The test writes its own example file (nothing fitted is shipped).

use std::path::Path;
use std::process::Command;

fn biotwin(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_biotwin"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

const CALIBRATION: &str = r#"
[calibration]
schema = "biotwin.calibration/1"
base_model = "cho-platform"
dataset = "training-data/cho-platform"
dataset_sha256 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
created_utc = "2026-12-05T08:00:00Z"
command = "written by tests/calibration_file.rs (an example, not a fit)"
batches = ["B01", "B02"]
n_observations = 1234
log_likelihood = -123.4
aic = 270.8
bic = 290.1

[calibration.covariance]
parameters = ["mu_max", "beta_lp"]
transforms = ["ln", "ln"]
matrix = [
  [1.0e-3, 2.0e-4],
  [2.0e-4, 4.0e-3],
]

[calibration.noise_sd]
titer = 0.05
"#;

/// Writes the shipped platform model plus a `[calibration]` table (with
/// `edit` applied to it) into `dir`; returns the path.
fn calibrated(dir: &Path, edit: (&str, &str)) -> String {
    let base = std::fs::read_to_string("process-models/models/cho-platform.toml").unwrap();
    assert!(CALIBRATION.contains(edit.0), "{:?}", edit.0);
    let text = format!("{base}\n{}", CALIBRATION.replacen(edit.0, edit.1, 1));
    let p = dir.join("cho-platform-calibrated.toml");
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

fn line_of(path: &str, needle: &str) -> usize {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines().position(|l| l.contains(needle)).unwrap() + 1
}

#[test]
fn a_valid_calibrated_model_file_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let p = calibrated(dir.path(), ("", ""));
    let (code, out) = biotwin(&["validate", &p]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("valid kinetic model file"), "{out}");
}

#[test]
fn an_asymmetric_or_indefinite_covariance_is_refused_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    // Asymmetric: matrix[1][0] differs from matrix[0][1].
    let p = calibrated(dir.path(), ("[2.0e-4, 4.0e-3]", "[2.5e-4, 4.0e-3]"));
    let (code, out) = biotwin(&["validate", &p]);
    assert_eq!(code, 2, "{out}");
    let line = line_of(&p, "[2.5e-4, 4.0e-3]");
    assert!(
        out.contains(&format!(
            "cho-platform-calibrated.toml:{line}: calibration.covariance.matrix[1][0]: expected a symmetric matrix"
        )),
        "{out}"
    );
    // Symmetric but indefinite: correlation above 1 (2e-3² > 1e-3 · 4e-3).
    let p = calibrated(
        dir.path(),
        (
            "[1.0e-3, 2.0e-4],\n  [2.0e-4, 4.0e-3]",
            "[1.0e-3, 3.0e-3],\n  [3.0e-3, 4.0e-3]",
        ),
    );
    let (code, out) = biotwin(&["validate", &p]);
    assert_eq!(code, 2, "{out}");
    let line = line_of(&p, "matrix = [");
    assert!(
        out.contains(&format!(
            "cho-platform-calibrated.toml:{line}: calibration.covariance.matrix: expected a positive semi-definite covariance matrix"
        )),
        "{out}"
    );
    // A parameter the file does not have, and a wrong schema.
    let p = calibrated(
        dir.path(),
        ("\"mu_max\", \"beta_lp\"", "\"mu_max\", \"no_such\""),
    );
    let (code, out) = biotwin(&["validate", &p]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("calibration.covariance.parameters[1]: expected a parameter of [parameters]"),
        "{out}"
    );
    assert!(out.contains("found `no_such`"), "{out}");
    let p = calibrated(
        dir.path(),
        ("biotwin.calibration/1", "biotwin.calibration/9"),
    );
    let (code, out) = biotwin(&["validate", &p]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("calibration.schema: expected \"biotwin.calibration/1\""),
        "{out}"
    );
    // A semi-definite matrix (perfect correlation) passes: rounding jitter.
    let p = calibrated(
        dir.path(),
        (
            "[1.0e-3, 2.0e-4],\n  [2.0e-4, 4.0e-3]",
            "[1.0e-3, 2.0e-3],\n  [2.0e-3, 4.0e-3]",
        ),
    );
    let (code, out) = biotwin(&["validate", &p]);
    assert_eq!(code, 0, "{out}");
}

/// `simulate --model FILE` runs the process with that model file (the one
/// resolver) and prints its id, version, source and content hash; a model of
/// another family, or no file, is refused with exit 2.
#[test]
fn simulate_runs_a_process_with_the_model_file_given_on_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = calibrated(dir.path(), ("", ""));
    let process = "process-models/processes/cho-platform-3l.toml";
    let (code, base) = biotwin(&["simulate", process]);
    assert_eq!(code, 0, "{base}");
    let (code, with) = biotwin(&["simulate", process, "--model", &p]);
    assert_eq!(code, 0, "{with}");
    let sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(std::fs::read(&p).unwrap()))
    };
    assert!(
        with.contains("model: cho-platform ") && with.contains(&format!("(sha256 {sha})")),
        "{with}"
    );
    // Same parameters as the shipped file: the same quality table.
    // The quality table: every line after the first, but the model line.
    let table = |s: &str| {
        let t: Vec<&str> = s
            .lines()
            .skip(1)
            .filter(|l| !l.starts_with("model: "))
            .collect();
        assert!(t.iter().any(|l| l.starts_with("titer_g_per_l")), "{s}");
        t.join("\n")
    };
    assert_eq!(table(&base), table(&with));
    // A faster-growing model changes it.
    let text = std::fs::read_to_string(&p).unwrap();
    let shipped = "mu_max    = { value = 0.045,";
    assert!(text.contains(shipped), "the shipped mu_max line changed");
    let faster = text.replacen(shipped, "mu_max    = { value = 0.049,", 1);
    let q = dir.path().join("faster.toml");
    std::fs::write(&q, faster).unwrap();
    let (code, fast) = biotwin(&["simulate", process, "--model", q.to_str().unwrap()]);
    assert_eq!(code, 0, "{fast}");
    assert_ne!(table(&base), table(&fast));
    let (code, out) = biotwin(&[
        "simulate",
        process,
        "--model",
        "process-models/models/xing2010.toml",
    ]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("--model: expected a model of the process's family `cho_platform`"),
        "{out}"
    );
    let (code, out) = biotwin(&["simulate", process, "--model", "no/such/model.toml"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("--model: expected a model file"), "{out}");
}
