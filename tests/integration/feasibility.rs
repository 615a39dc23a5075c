//! Feasibility over the whole trajectory (`simulation::feasibility`) through
//! the binary: the 2000 L overflow in `simulate` and in `transfer`, `--strict`
//! exit 2, every warning listed in full, an O2 shortfall, and feasible runs
//! without a volume warning.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn process(name: &str) -> PathBuf {
    root().join("process-models/processes").join(name)
}

fn biotwin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_biotwin"))
        .args(args)
        .current_dir(root())
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn json(p: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn kinds(warnings: &serde_json::Value) -> Vec<String> {
    warnings
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["kind"].as_str().unwrap().to_string())
        .collect()
}

/// The 2000 L example at 1490 L initial volume: the recipe's feeds end at
/// 1989 L (within 2000 L, so the recipe check passes) but base for pH control
/// adds the rest: the trajectory reaches 2013 L (measured 2013.07 L at 322 h,
/// platform model 2.0.0, which makes less lactate and so needs less base
/// than 1.0.0: 1480 L no longer overflows).
#[test]
fn simulate_detects_the_overflow_and_strict_exits_2() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run.json");
    let p = process("cho-platform-2000l.toml");
    let args = [
        "simulate",
        p.to_str().unwrap(),
        "--set",
        "initial.volume_l=1490",
        "--out",
        out.to_str().unwrap(),
    ];
    let o = biotwin(&args);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let stdout = text(&o.stdout);
    assert!(
        stdout.contains("feasibility on sut-2000l-pbt-drilled: 1 warning"),
        "{stdout}"
    );
    assert!(
        stdout.contains("[working_volume] the broth volume reaches 2013 L at 322.0 h, 101 % of the maximum working volume"),
        "{stdout}"
    );
    let j = json(&out);
    let w = &j["warnings"][0];
    assert_eq!(w["kind"], "working_volume");
    assert_eq!(w["metric"], "peak_volume_l");
    assert!((w["value"].as_f64().unwrap() - 2013.1).abs() < 0.5, "{w}");
    assert_eq!(w["limit"].as_f64(), Some(2000.0));
    assert_eq!(w["time_h"].as_f64(), Some(322.0));

    let mut strict = args.to_vec();
    strict.push("--strict");
    let o = biotwin(&strict);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    let stderr = text(&o.stderr);
    assert!(
        stderr.contains("peak_volume_l (working_volume)"),
        "{stderr}"
    );
    assert!(stderr.contains("2013 L at 322.0 h"), "{stderr}");

    // The whole 2000 L bag filled at the start overflows with the feeds
    // alone: refused before the run (exit 2), naming the volume.
    let o = biotwin(&[
        "simulate",
        p.to_str().unwrap(),
        "--set",
        "initial.volume_l=2000",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("2669.952"), "{}", text(&o.stderr));
}

#[test]
fn feasible_runs_have_no_volume_warning() {
    for name in ["cho-platform-3l.toml", "cho-platform-2000l.toml"] {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("run.json");
        let p = process(name);
        let o = biotwin(&[
            "simulate",
            p.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{name}: {}", text(&o.stderr));
        let k = kinds(&json(&out)["warnings"]);
        assert!(!k.iter().any(|k| k == "working_volume"), "{name}: {k:?}");
    }
    // The bench process has no warning at all: --strict passes.
    let p = process("cho-platform-3l.toml");
    let o = biotwin(&["simulate", p.to_str().unwrap(), "--strict"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("feasibility on bench-3l-glass: 0 warnings"));
}

/// A receiving vessel whose kLa constant is 1/90 of van 't Riet's cannot
/// hold the DO set-point even with pure O2: the model's DO falls, and the
/// check says so with the time.
#[test]
fn an_o2_shortfall_is_a_warning() {
    let p = process("cho-platform-2000l.toml");
    let o = biotwin(&[
        "simulate",
        p.to_str().unwrap(),
        "--set",
        "equipment.kla.a=1",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let stdout = text(&o.stdout);
    assert!(
        stdout.contains("[o2_supply] dissolved O2 falls to 0.4142 % of air saturation at 312.0 h against a set-point of 40.00 %"),
        "{stdout}"
    );
}

fn transfer(out: &Path, extra: &[&str]) -> Output {
    let p = process("cho-platform-3l.toml");
    let mut args = vec![
        "transfer",
        "--process",
        p.to_str().unwrap(),
        "--to",
        "sut-2000l-pbt-drilled",
        "--runs",
        "20",
        "--sobol-base",
        "8",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    biotwin(&args)
}

#[test]
fn transfer_detects_the_overflow_and_strict_exits_2() {
    // The case: the whole 2000 L bag at the start. Refused (exit 2)
    // naming --volume-l, the volume the feeds reach and what fits.
    let tmp = tempfile::tempdir().unwrap();
    let o = transfer(tmp.path(), &["--volume-l", "2000"]);
    assert_eq!(o.status.code(), Some(2));
    let stderr = text(&o.stderr);
    assert!(stderr.contains("--volume-l"), "{stderr}");
    assert!(
        stderr.contains(
            "found 2000 L, which the recipe's feeds bring to 2670 L at 312 h (133 % of the maximum)"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("at most about 1498 L"), "{stderr}");

    // 1480 L: the feeds fit, base addition does not: a warning with the
    // worst excursion, in the console, the package and the report.
    let tmp = tempfile::tempdir().unwrap();
    let o = transfer(tmp.path(), &["--volume-l", "1480"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let stderr = text(&o.stderr);
    let line = "[working_volume] target (translated): the broth volume reaches 2013 L at 322.0 h, 101 % of the maximum working volume of sut-2000l-pbt-drilled (2000 L)";
    assert!(stderr.contains(line), "{stderr}");
    let j = json(&tmp.path().join("transfer.json"));
    assert_eq!(j["schema"], "biotwin.transfer/2");
    let w = j["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["kind"] == "working_volume")
        .expect("a working_volume warning");
    assert!((w["value"].as_f64().unwrap() - 2013.3).abs() < 1.0, "{w}");
    assert_eq!(w["time_h"].as_f64(), Some(322.0));
    assert_eq!(
        j["feasibility"]["target"]["warnings"][0]["kind"],
        "working_volume"
    );
    let report = std::fs::read_to_string(tmp.path().join("report.md")).unwrap();
    assert!(report.contains(line), "report lacks the volume warning");

    // --strict: same files, exit 2 with every warning.
    let strict = tempfile::tempdir().unwrap();
    let o = transfer(strict.path(), &["--volume-l", "1480", "--strict"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("peak_volume_l (working_volume)"));
    assert!(strict.path().join("transfer.json").exists());

    // The default volume (1250 L) stays within the bag.
    let ok = tempfile::tempdir().unwrap();
    let o = transfer(ok.path(), &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let j = json(&ok.path().join("transfer.json"));
    assert!(!kinds(&j["warnings"]).iter().any(|k| k == "working_volume"));
}

/// Every warning in full on the console: as many `!` lines as the count says
/// and as transfer.json holds, each the complete message.
#[test]
fn transfer_lists_every_warning_in_full() {
    let tmp = tempfile::tempdir().unwrap();
    let o = transfer(tmp.path(), &["--criterion", "v_s"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let stderr = text(&o.stderr);
    let j = json(&tmp.path().join("transfer.json"));
    let warnings = j["warnings"].as_array().unwrap();
    assert!(warnings.len() >= 5, "{stderr}");
    assert!(
        stderr.contains(&format!("{} warnings", warnings.len())),
        "{stderr}"
    );
    let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("  ! ")).collect();
    assert_eq!(lines.len(), warnings.len(), "{stderr}");
    for (l, w) in lines.iter().zip(warnings) {
        assert!(l.ends_with(w["message"].as_str().unwrap()), "{l}");
    }
    assert!(!stderr.contains('…'));
}
