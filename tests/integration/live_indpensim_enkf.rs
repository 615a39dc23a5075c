//! `biotwin live` on the IndPenSim ensemble Kalman filter
//! (`predictor = "indpensim-enkf:PATH"`), end to end with the real binary on
//! the shipped site (`process-models/sites/indpensim-enkf-site.toml`),
//! replaying B01 truncated to its first 13 h, forecasts every 6 h, each
//! forecast from 4 members (to keep the test short):
//!
//! * the recorded predictions equal what the evaluation harness
//!   (`run_record`) computes in the test on the same record at the same
//!   steps: the engine's grouping of tags into steps and of the 12-h lab
//!   sample reproduces the harness's order;
//! * a run killed after 7 h of data and restarted on the longer export
//!   (resumed from its store) records the same predictions as one run;
//! * `biotwin forecast` at the same fraction gives the same forecast;
//! * a bad site or filter file names the file, line and field (exit 2).

use std::path::{Path, PathBuf};
use std::process::Command;

use biotwin::live::config::SiteConfig;
use biotwin_ml::data::indpensim::read_recipe;
use biotwin_ml::data::indpensim_historian::read_historian;
use biotwin_ml::data::timestamp::parse_rfc3339;
use biotwin_ml::indpensim_forecast::{EvalSettings, run_record};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const BIN: &str = env!("CARGO_BIN_EXE_biotwin");
const START: &str = "2024-01-01T00:00:00Z";
const FORECAST_MEMBERS: usize = 4;

fn root(p: &str) -> PathBuf {
    Path::new(ROOT).join(p)
}

/// B01's historian export up to `hours` after its start, as plain CSV.
fn export(dir: &Path, name: &str, hours: f64) -> PathBuf {
    let bytes = biotwin_ml::data::csv_source::read_all(&root(
        "training-data/indpensim/batches/B01_historian.csv.gz",
    ))
    .unwrap();
    let text = String::from_utf8(bytes).unwrap();
    let t0 = parse_rfc3339(START).unwrap();
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        let keep = i == 0 || {
            let ts = line.split(',').next().unwrap();
            parse_rfc3339(ts).unwrap() - t0 <= hours * 3600.0 + 1e-6
        };
        if keep {
            out.push_str(line);
            out.push('\n');
        }
    }
    let p = dir.join(name);
    std::fs::write(&p, out).unwrap();
    p
}

/// The shipped site in `dir`: its own store, `export.csv`, the shipped
/// specification, a filter file with `forecast_members` and the shipped
/// recipes; forecasts every 6 h.
fn site(dir: &Path, forecast_members: usize) -> PathBuf {
    let shipped =
        std::fs::read_to_string(root("process-models/sites/indpensim-enkf-site.toml")).unwrap();
    let text = shipped
        .replace("forecast_every_s = 82800.0", "forecast_every_s = 21600.0")
        .replace(
            "../../target/live/indpensim-enkf-site.sqlite",
            "live.sqlite",
        )
        .replace(
            "../specs/indpensim-penicillin.toml",
            root("process-models/specs/indpensim-penicillin.toml")
                .to_str()
                .unwrap(),
        )
        .replace(
            "../../training-data/indpensim/batches/B01_historian.csv.gz",
            "export.csv",
        );
    assert_ne!(text, shipped);
    std::fs::write(
        dir.join("indpensim-enkf.toml"),
        format!(
            "[indpensim_enkf]\nrecipes = \"{}\"\nforecast_members = {forecast_members}\n",
            root("training-data/indpensim/recipes.json").display()
        ),
    )
    .unwrap();
    let p = dir.join("site.toml");
    std::fs::write(&p, text).unwrap();
    p
}

fn live_once(site: &Path) -> (i32, String) {
    let out = Command::new(BIN)
        .args(["live", "--once", "--config"])
        .arg(site)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn predictions(site: &Path) -> Vec<biotwin::live::PredictionRecord> {
    let cfg = SiteConfig::read(site).unwrap();
    let s = biotwin::live::opened::open(&cfg).unwrap();
    let b = &cfg.batches[0];
    s.predictions(&b.tenant, &b.id).unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1.0)
}

#[test]
fn live_enkf_site_records_the_harness_forecasts_and_resumes_exactly() {
    // One run on 13 h of data.
    let one = tempfile::tempdir().unwrap();
    let site_one = site(one.path(), FORECAST_MEMBERS);
    let b13 = export(one.path(), "export.csv", 13.0);
    let (code, log) = live_once(&site_one);
    assert_eq!(code, 0, "{log}");
    let p = predictions(&site_one);
    assert_eq!(p.len(), 2, "forecasts at 6 h and 12 h: {log}");

    // Killed after 7 h of data, restarted on the 13-h export.
    let two = tempfile::tempdir().unwrap();
    let site_two = site(two.path(), FORECAST_MEMBERS);
    export(two.path(), "export.csv", 7.0);
    let (code, log) = live_once(&site_two);
    assert_eq!(code, 0, "{log}");
    assert_eq!(predictions(&site_two).len(), 1, "{log}");
    export(two.path(), "export.csv", 13.0);
    let (code, log) = live_once(&site_two);
    assert_eq!(code, 0, "{log}");
    let q = predictions(&site_two);
    let key = |r: &biotwin::live::PredictionRecord| {
        (
            r.seq,
            r.model_id.clone(),
            r.input_sha256.clone(),
            serde_json::to_string(&r.forecast).unwrap(),
        )
    };
    assert_eq!(
        p.iter().map(key).collect::<Vec<_>>(),
        q.iter().map(key).collect::<Vec<_>>(),
        "resumed run differs: {log}"
    );

    // The harness on the same record at the same steps (30: 6 h, 60: 12 h,
    // after the 12-h lab sample).
    let recipe = read_recipe(&root("training-data/indpensim/recipes.json"), "B01").unwrap();
    let record = read_historian(&b13, START, 65).unwrap();
    let s = EvalSettings {
        fractions: vec![30.0 / 1150.0, 60.0 / 1150.0],
        forecast_members: Some(FORECAST_MEMBERS),
        ..EvalSettings::default()
    };
    let h = run_record(&recipe, &record, 1.0, "B01", &s).unwrap();
    assert_eq!(record.lab.len(), 2, "the t = 0 and 12-h lab samples");
    for (r, pt) in p.iter().zip(&h.points) {
        let f = &r.forecast;
        assert!(r.model_id.starts_with("indpensim-enkf:"), "{}", r.model_id);
        assert!(
            (f.time_s - pt.time_h * 3600.0).abs() < 1e-6,
            "{} vs {}",
            f.time_s,
            pt.time_h
        );
        let c = &f.cqas[0];
        assert_eq!(c.name, "final_penicillin_kg_per_m3");
        assert!(
            c.p05.is_finite() && c.p95.is_finite() && c.p05 < c.p95,
            "{c:?}"
        );
        assert!(
            close(c.mean, pt.mean_g_per_l)
                && close(c.p05, pt.p05_g_per_l)
                && close(c.p95, pt.p95_g_per_l),
            "live {c:?} vs harness {pt:?}"
        );
        // P(in spec): the share of the 4 members at or above the 20 g/L floor.
        assert_eq!(c.lower_spec, Some(20.0));
        let p_in = c.p_in_spec.unwrap();
        assert!((p_in * 4.0 - (p_in * 4.0).round()).abs() < 1e-12, "{p_in}");
        let get = |n: &str| f.state.iter().find(|s| s.0 == n).map(|s| s.1);
        assert_eq!(get("indpensim_forecast_members"), Some(4.0));
        assert_eq!(get("indpensim_missing_readings"), Some(0.0));
        // The shipped site delivers the six applied recipe inputs.
        assert_eq!(get("indpensim_applied_inputs_missing"), Some(0.0));
        let mu_p = get("mu_p_per_h").unwrap();
        let (name, m, _) = &pt.parameters[0];
        assert_eq!(name, "mu_p_per_h");
        assert!(close(mu_p, *m), "{mu_p} vs {m}");
    }
    // The inputs of the second forecast include more observations.
    assert_ne!(p[0].input_sha256, p[1].input_sha256);

    // `biotwin forecast` at 6 h (step 30 of 1150 = 2.6087 %).
    let json = one.path().join("forecast.json");
    let out = Command::new(BIN)
        .args([
            "forecast",
            "--dataset",
            root("training-data/indpensim").to_str().unwrap(),
            "--batch",
            "B01",
            "--at",
            "2.6087%",
            "--forecast-members",
            "4",
            "--json",
        ])
        .arg(&json)
        .output()
        .unwrap();
    let log =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{log}");
    assert!(log.contains("90 % interval"), "{log}");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let pt = &v["points"][0];
    assert!((pt["time_h"].as_f64().unwrap() - 6.0).abs() < 1e-9, "{pt}");
    let c = &p[0].forecast.cqas[0];
    assert!(
        close(pt["mean_g_per_l"].as_f64().unwrap(), c.mean),
        "{pt} vs {c:?}"
    );
    assert!(
        close(pt["p95_g_per_l"].as_f64().unwrap(), c.p95),
        "{pt} vs {c:?}"
    );

    // With `--measurement-noise` the CLI's forecast at a fraction short of
    // the end is the evaluation harness's (the noise is drawn over the
    // whole record, as the harness draws it).
    let out = Command::new(BIN)
        .args([
            "forecast",
            "--dataset",
            root("training-data/indpensim").to_str().unwrap(),
            "--batch",
            "B01",
            "--at",
            "2.6087%",
            "--forecast-members",
            "4",
            "--measurement-noise",
            "--json",
        ])
        .arg(&json)
        .output()
        .unwrap();
    let log =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{log}");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let cli = &v["points"][0];
    let eval = biotwin_ml::indpensim_forecast::evaluate_batch(
        &root("training-data/indpensim"),
        "B01",
        &EvalSettings {
            fractions: vec![30.0 / 1150.0],
            forecast_members: Some(FORECAST_MEMBERS),
            ..EvalSettings::default()
        },
    )
    .unwrap();
    let e = &eval.points[0];
    assert!(
        close(cli["mean_g_per_l"].as_f64().unwrap(), e.mean_g_per_l)
            && close(cli["p95_g_per_l"].as_f64().unwrap(), e.p95_g_per_l),
        "{cli} vs {e:?}"
    );
}

#[test]
fn forecast_cli_refuses_held_out_batches_and_bad_fractions() {
    let run = |args: &[&str]| {
        let out = Command::new(BIN).args(args).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let ds = root("training-data/indpensim");
    let ds = ds.to_str().unwrap();
    let (code, log) = run(&["forecast", "--dataset", ds, "--batch", "B17", "--at", "50%"]);
    assert_eq!(code, Some(2), "{log}");
    assert!(log.contains("--batch") && log.contains("held-out"), "{log}");
    // With --held-out the filter must be named (the default changed after
    // the registration).
    let (code, log) = run(&[
        "forecast",
        "--dataset",
        ds,
        "--batch",
        "B17",
        "--at",
        "50%",
        "--held-out",
    ]);
    assert_eq!(code, Some(2), "{log}");
    assert!(
        log.contains("--held-out")
            && log.contains("--plan-inputs")
            && log.contains("--applied-inputs"),
        "{log}"
    );
    let (code, log) = run(&[
        "forecast",
        "--dataset",
        ds,
        "--batch",
        "B03",
        "--at",
        "150%",
    ]);
    assert_eq!(code, Some(2), "{log}");
    assert!(log.contains("--at") && log.contains("`150%`"), "{log}");
    let (code, log) = run(&[
        "forecast",
        "--dataset",
        ds,
        "--batch",
        "B03",
        "--at",
        "50%",
        "--forecast-members",
        "49",
    ]);
    assert_eq!(code, Some(2), "{log}");
    assert!(log.contains("--forecast-members"), "{log}");
    let (code, log) = run(&["forecast", "--help"]);
    assert_eq!(code, Some(0), "{log}");
    assert!(
        log.contains("biotwin forecast --dataset training-data/indpensim --batch B03 --at 50%"),
        "{log}"
    );
}

#[test]
fn bad_enkf_site_and_filter_files_name_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let site_path = site(dir.path(), FORECAST_MEMBERS);
    export(dir.path(), "export.csv", 1.0);
    let good = std::fs::read_to_string(&site_path).unwrap();
    // The volume declared in litres-as-mass, and a missing filter file.
    let bad = good
        .replace(
            "[variables.volume]\nsi_unit = \"m3\"",
            "[variables.volume]\nsi_unit = \"kg\"",
        )
        .replace(
            "indpensim-enkf:indpensim-enkf.toml",
            "indpensim-enkf:nowhere.toml",
        );
    assert_ne!(bad, good);
    std::fs::write(&site_path, &bad).unwrap();
    let (code, log) = live_once(&site_path);
    assert_eq!(code, 2, "{log}");
    let line_of = |needle: &str| bad.lines().position(|l| l.contains(needle)).unwrap() + 1;
    let vol = format!(
        "site.toml:{}: variables.volume.si_unit",
        line_of("si_unit = \"kg\"")
    );
    let pred = format!(
        "site.toml:{}: batches[0].predictor",
        line_of("nowhere.toml")
    );
    assert!(log.contains(&vol), "{vol} not in {log}");
    assert!(
        log.contains(&pred) && log.contains("nowhere.toml"),
        "{pred} not in {log}"
    );

    // The filter file: too many forecast members.
    std::fs::write(&site_path, &good).unwrap();
    let filter = dir.path().join("indpensim-enkf.toml");
    let text = std::fs::read_to_string(&filter)
        .unwrap()
        .replace("forecast_members = 4", "forecast_members = 480");
    std::fs::write(&filter, &text).unwrap();
    let (code, log) = live_once(&site_path);
    assert_eq!(code, 2, "{log}");
    assert!(
        log.contains("indpensim-enkf.toml:3: indpensim_enkf.forecast_members")
            && log.contains("found 480"),
        "{log}"
    );

    // A misspelt key is refused, not ignored (it would run 48 members).
    std::fs::write(
        &filter,
        text.replace("forecast_members = 480", "forecast_member = 4"),
    )
    .unwrap();
    let (code, log) = live_once(&site_path);
    assert_eq!(code, 2, "{log}");
    assert!(log.contains("forecast_member"), "{log}");

    // A held-out batch (B16-B20) is refused unless the filter file opts in.
    std::fs::write(
        &filter,
        text.replace("forecast_members = 480", "forecast_members = 4"),
    )
    .unwrap();
    let held = good.replacen("id = \"B01\"", "id = \"B17\"", 1);
    assert_ne!(held, good);
    std::fs::write(&site_path, &held).unwrap();
    let (code, log) = live_once(&site_path);
    assert_eq!(code, 2, "{log}");
    assert!(
        log.contains("batches.B17.id") && log.contains("held-out test set"),
        "{log}"
    );
}

/// `predictor = "mechanistic"` on the shipped IndPenSim site: refused at
/// load (exit 2, nothing opened), naming the site file's line, the batch and
/// the spelling that runs the IndPenSim filter (docs/live.md says why it is
/// not an alias).
#[test]
fn mechanistic_on_the_indpensim_site_names_the_enkf_spelling() {
    let dir = tempfile::tempdir().unwrap();
    let site_path = site(dir.path(), FORECAST_MEMBERS);
    export(dir.path(), "export.csv", 1.0);
    let good = std::fs::read_to_string(&site_path).unwrap();
    let mech = good.replace(
        "predictor = \"indpensim-enkf:indpensim-enkf.toml\"",
        "predictor = \"mechanistic\"",
    );
    assert_ne!(mech, good);
    std::fs::write(&site_path, &mech).unwrap();
    let (code, log) = live_once(&site_path);
    assert_eq!(code, 2, "{log}");
    let line = mech
        .lines()
        .position(|l| l.starts_with("predictor = \"mechanistic\""))
        .unwrap()
        + 1;
    let at = format!("site.toml:{line}: batches[0].predictor");
    assert!(log.contains(&at), "{at} not in {log}");
    assert!(
        log.contains("IndPenSim batch `B01`")
            && log.contains("predictor = \"indpensim-enkf:PATH\"")
            && log.contains("indpensim-penicillin.toml"),
        "{log}"
    );
    assert!(!dir.path().join("live.sqlite").exists(), "{log}");
}

/// A `mechanistic` batch whose process file is no process definition and
/// not an IndPenSim specifications file (here a model file) is refused at
/// load too: exit 2, the site file's line and `batches[0].process`, the
/// batch, what was expected, what the file holds, no IndPenSim hint, and
/// no store opened (it used to fail after the store was opened).
#[test]
fn mechanistic_on_a_process_file_without_process_table_is_refused_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let site_path = site(dir.path(), FORECAST_MEMBERS);
    export(dir.path(), "export.csv", 1.0);
    let model = dir.path().join("a-model.toml");
    std::fs::write(&model, "[model]\nid = \"m\"\n[parameters]\n").unwrap();
    let specs = root("process-models/specs/indpensim-penicillin.toml");
    let good = std::fs::read_to_string(&site_path).unwrap();
    let mech = good
        .replace(
            "predictor = \"indpensim-enkf:indpensim-enkf.toml\"",
            "predictor = \"mechanistic\"",
        )
        .replace(specs.to_str().unwrap(), model.to_str().unwrap());
    assert!(mech.contains("a-model.toml") && mech.contains("\"mechanistic\""));
    std::fs::write(&site_path, &mech).unwrap();
    let (code, log) = live_once(&site_path);
    assert_eq!(code, 2, "{log}");
    let line = mech
        .lines()
        .position(|l| l.starts_with("process = ") && l.contains("a-model.toml"))
        .unwrap()
        + 1;
    let at = format!("site.toml:{line}: batches[0].process");
    assert!(log.contains(&at), "{at} not in {log}");
    assert!(
        log.contains("for `mechanistic` batch `B01`: a process definition with a [process]")
            && log.contains("a-model.toml")
            && log.contains("model, parameters, no [process]"),
        "{log}"
    );
    assert!(!log.contains("IndPenSim batch"), "{log}");
    assert!(!dir.path().join("live.sqlite").exists(), "{log}");
}

/// The observations of B01's first `hours` as the engine would hand them
/// over (sample-time order, SI, available at their sample time).
fn observations(hours: f64) -> Vec<biotwin::live::Observation> {
    let tags =
        biotwin_ml::data::tag_map::TagMap::read(root("training-data/indpensim/tags.toml")).unwrap();
    let raw = biotwin_ml::data::long_format::read_long(
        &root("training-data/indpensim/batches/B01_historian.csv.gz"),
        &tags,
    )
    .unwrap();
    let t0 = parse_rfc3339(START).unwrap();
    let mut out: Vec<biotwin::live::Observation> = raw
        .iter()
        .filter_map(|s| {
            let tag = tags.tags.get(&s.tag)?;
            let t = s.time_unix_s - t0;
            (t <= hours * 3600.0 + 1e-6).then(|| biotwin::live::Observation {
                variable: tag.variable.clone(),
                time_s: t,
                available_s: t,
                value_si: tag.to_si.apply(s.value),
            })
        })
        .collect();
    out.sort_by(|a, b| a.time_s.total_cmp(&b.time_s));
    out
}

/// A B01 predictor (final penicillin ≥ 20 g/L) fed `obs` in order.
fn fed<'a>(
    file: &biotwin::live::indpensim::EnkfFile,
    obs: impl IntoIterator<Item = &'a biotwin::live::Observation>,
) -> biotwin::live::indpensim::EnkfPredictor {
    use biotwin::live::Predictor;
    let mut p =
        biotwin::live::indpensim::EnkfPredictor::new(file, "B01", (Some(20.0), None)).unwrap();
    for o in obs {
        p.assimilate(o).unwrap();
    }
    p
}

#[test]
fn late_lab_result_reruns_the_filter_exactly_and_missing_readings_are_counted() {
    use biotwin::live::Predictor;
    use biotwin::live::indpensim::EnkfFile;
    let dir = tempfile::tempdir().unwrap();
    site(dir.path(), FORECAST_MEMBERS);
    let file = EnkfFile::read(&dir.path().join("indpensim-enkf.toml")).unwrap();
    let obs = observations(12.6);
    let forecast_at_12h = |obs: &[biotwin::live::Observation]| {
        let mut p = fed(&file, obs.iter().filter(|o| o.time_s <= 43_200.0));
        let before = p.forecast(0).unwrap();
        for o in obs.iter().filter(|o| o.time_s > 43_200.0) {
            p.assimilate(o).unwrap();
        }
        (before, p)
    };
    // In order: the 12-h lab sample is assimilated after step 60.
    let (f_in_order, _) = forecast_at_12h(&obs);
    // The 12-h lab results arrive after the 12.6-h readings: the filter has
    // passed step 60, re-runs from t = 0, and its forecast at 12 h (made
    // again from the re-run) equals the in-order one.
    let lab = |o: &biotwin::live::Observation| {
        o.time_s == 43_200.0
            && [
                "biomass",
                "penicillin",
                "substrate",
                "paa",
                "nh3",
                "viscosity",
            ]
            .contains(&o.variable.as_str())
    };
    assert_eq!(obs.iter().filter(|o| lab(o)).count(), 6);
    let mut late: Vec<_> = obs.iter().filter(|o| !lab(o)).cloned().collect();
    late.extend(obs.iter().filter(|o| lab(o)).cloned());
    let mut p = fed(&file, &late);
    assert_eq!(p.steps_done(), 0, "the re-run waits for the next use");
    let f_late = p.forecast(0).unwrap();
    let get = |f: &biotwin::live::Forecast, n: &str| f.state.iter().find(|s| s.0 == n).unwrap().1;
    assert_eq!(get(&f_late, "indpensim_reruns"), 1.0);
    assert_eq!(get(&f_in_order, "indpensim_reruns"), 0.0);
    // Forecast from 12.6 h (step 63) in order, for the comparison.
    let (_, mut p_in_order) = forecast_at_12h(&obs);
    let f_in_order_63 = p_in_order.forecast(0).unwrap();
    assert_eq!(f_late.time_s, f_in_order_63.time_s);
    assert_eq!(f_late.cqas, f_in_order_63.cqas);
    assert_ne!(f_in_order.cqas, f_in_order_63.cqas);

    // A DO2 reading and an acid flow missing at 8 h: counted, not fatal.
    let gap: Vec<_> = obs
        .iter()
        .filter(|o| {
            !(o.time_s == 28_800.0 && (o.variable == "dissolved_o2" || o.variable == "acid_flow"))
        })
        .cloned()
        .collect();
    assert_eq!(gap.len(), obs.len() - 2);
    let mut p = fed(&file, &gap);
    let f = p.forecast(0).unwrap();
    assert_eq!(get(&f, "indpensim_missing_readings"), 2.0);
    assert!(f.cqas[0].mean.is_finite() && f.cqas[0].p05 < f.cqas[0].p95);
    // A reading off the 12-min grid is refused, naming the variable.
    let mut bad = obs[obs.len() - 1].clone();
    bad.variable = "volume".into();
    bad.time_s += 60.0;
    let e = p.assimilate(&bad).unwrap_err().to_string();
    assert!(e.contains("`volume`") && e.contains("12-min grid"), "{e}");
}

/// The live predictor steps its members with the recipe inputs as applied
/// (site variables, SI): an aeration tag of 20 m³/h instead of B01's
/// applied (and planned) 30 m³/h moves the forecast; an aeration tag
/// missing before its first reading runs the plan's set-point for that
/// step and is counted.
#[test]
fn live_members_follow_the_applied_aeration_and_a_missing_one_runs_the_plan() {
    use biotwin::live::Predictor;
    use biotwin::live::indpensim::EnkfFile;
    let dir = tempfile::tempdir().unwrap();
    site(dir.path(), FORECAST_MEMBERS);
    let file = EnkfFile::read(&dir.path().join("indpensim-enkf.toml")).unwrap();
    let obs = observations(8.0);
    let run = |obs: &[biotwin::live::Observation]| fed(&file, obs).forecast(0).unwrap();
    let get = |f: &biotwin::live::Forecast, n: &str| f.state.iter().find(|s| s.0 == n).unwrap().1;
    let as_recorded = run(&obs);
    assert_eq!(get(&as_recorded, "indpensim_applied_inputs_missing"), 0.0);
    // B01's aeration tag is 30 m³/h for the first 8 h (= the plan).
    let air: Vec<f64> = obs
        .iter()
        .filter(|o| o.variable == "aeration_flow")
        .map(|o| o.value_si * 3600.0)
        .collect();
    assert_eq!(air.len(), 40);
    assert!(air.iter().all(|v| (v - 30.0).abs() < 1e-9), "{air:?}");

    // The first aeration reading missing (at 0.2 h): nothing to hold yet,
    // the plan's 30 m³/h runs, counted.
    let gap: Vec<_> = obs
        .iter()
        .filter(|o| !(o.time_s == 720.0 && o.variable == "aeration_flow"))
        .cloned()
        .collect();
    let f_gap = run(&gap);
    assert_eq!(get(&f_gap, "indpensim_applied_inputs_missing"), 1.0);
    assert_eq!(get(&f_gap, "indpensim_applied_inputs_held"), 0.0);
    assert!(
        close(f_gap.cqas[0].mean, as_recorded.cqas[0].mean),
        "{f_gap:?} vs {as_recorded:?}"
    );

    // The plant applied 20 m³/h from 4 h on: the members follow it.
    let less_air: Vec<_> = obs
        .iter()
        .cloned()
        .map(|mut o| {
            if o.variable == "aeration_flow" && o.time_s >= 14_400.0 {
                o.value_si = 20.0 / 3600.0;
            }
            o
        })
        .collect();
    let f_less = run(&less_air);
    assert_eq!(get(&f_less, "indpensim_applied_inputs_missing"), 0.0);
    let (a, b) = (f_less.cqas[0].mean, as_recorded.cqas[0].mean);
    assert!((a - b).abs() > 1e-6 * b, "{a} vs {b}");
    let p_now = |f: &biotwin::live::Forecast| get(f, "penicillin");
    assert!(p_now(&f_less).is_finite() && p_now(&as_recorded).is_finite());
}

/// A missing applied recipe input holds the last applied value (as a
/// controller flow is held), counted; it does not send the members back to
/// the plan. The plant applied 20 m³/h of air from 4 h (the plan: 30); the
/// 6-h reading is lost: the forecast is the one with the reading, bit for
/// bit, and differs from one that ran the plan's 30 m³/h for that step.
#[test]
fn live_a_missing_applied_input_holds_the_last_applied_value_not_the_plan() {
    use biotwin::live::Predictor;
    use biotwin::live::indpensim::EnkfFile;
    let dir = tempfile::tempdir().unwrap();
    site(dir.path(), FORECAST_MEMBERS);
    let file = EnkfFile::read(&dir.path().join("indpensim-enkf.toml")).unwrap();
    let run = |obs: &[biotwin::live::Observation]| fed(&file, obs).forecast(0).unwrap();
    let get = |f: &biotwin::live::Forecast, n: &str| f.state.iter().find(|s| s.0 == n).unwrap().1;
    let with_air = |air_from_4h: f64| -> Vec<biotwin::live::Observation> {
        observations(8.0)
            .into_iter()
            .map(|mut o| {
                if o.variable == "aeration_flow" && o.time_s >= 14_400.0 {
                    o.value_si = air_from_4h / 3600.0;
                }
                o
            })
            .collect()
    };
    let less_air = with_air(20.0);
    let f_less = run(&less_air);
    assert_eq!(get(&f_less, "indpensim_applied_inputs_held"), 0.0);
    let dropped: Vec<_> = less_air
        .iter()
        .filter(|o| !(o.time_s == 21_600.0 && o.variable == "aeration_flow"))
        .cloned()
        .collect();
    assert_eq!(dropped.len(), less_air.len() - 1);
    let f_dropped = run(&dropped);
    assert_eq!(get(&f_dropped, "indpensim_applied_inputs_held"), 1.0);
    assert_eq!(get(&f_dropped, "indpensim_applied_inputs_missing"), 0.0);
    assert_eq!(f_dropped.cqas, f_less.cqas);
    // The same step with the plan's 30 m³/h (what a fall-back to the plan
    // would run) gives another forecast: the hold is what made them equal.
    let planned_at_6h: Vec<_> = less_air
        .iter()
        .cloned()
        .map(|mut o| {
            if o.time_s == 21_600.0 && o.variable == "aeration_flow" {
                o.value_si = 30.0 / 3600.0;
            }
            o
        })
        .collect();
    let f_planned = run(&planned_at_6h);
    assert_ne!(f_planned.cqas, f_less.cqas);
}

/// A negative applied recipe input reaching the predictor is refused as a
/// bad reading (an input error naming the variable, which the engine
/// counts and logs), not assimilated into a filter error that would mark
/// the batch's predictor broken: the step holds the last applied value and
/// the forecast is the one made without that reading.
#[test]
fn live_a_negative_applied_input_is_a_bad_reading_not_a_broken_filter() {
    use biotwin::live::Predictor;
    use biotwin::live::indpensim::{EnkfFile, EnkfPredictor};
    let dir = tempfile::tempdir().unwrap();
    site(dir.path(), FORECAST_MEMBERS);
    let file = EnkfFile::read(&dir.path().join("indpensim-enkf.toml")).unwrap();
    let get = |f: &biotwin::live::Forecast, n: &str| f.state.iter().find(|s| s.0 == n).unwrap().1;
    let obs = observations(8.0);
    let is_it =
        |o: &biotwin::live::Observation| o.time_s == 21_600.0 && o.variable == "aeration_flow";
    let mut p = EnkfPredictor::new(&file, "B01", (Some(20.0), None)).unwrap();
    let mut refused = 0;
    for o in &obs {
        if is_it(o) {
            let mut bad = o.clone();
            bad.value_si = -20.0 / 3600.0;
            let e = p.assimilate(&bad).unwrap_err().to_string();
            assert!(e.contains("`aeration_flow`") && e.contains(">= 0"), "{e}");
            refused += 1;
        } else {
            p.assimilate(o).unwrap();
        }
    }
    assert_eq!(refused, 1);
    let f = p.forecast(0).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(get(&f, "indpensim_applied_inputs_held"), 1.0);
    let mut q = fed(&file, obs.iter().filter(|o| !is_it(o)));
    assert_eq!(f.cqas, q.forecast(0).unwrap().cqas);
}

/// The tags feeding the applied recipe inputs must have plausible ranges:
/// from >= 0 (so the engine refuses a negative reading as `out_of_range`),
/// and a gauge back pressure of at most 10 bar; refused when the site is
/// read, naming the site file, line and field.
#[test]
fn implausible_ranges_of_applied_input_tags_are_refused_at_load() {
    use biotwin::live::config::SiteConfig;
    let dir = tempfile::tempdir().unwrap();
    let site_path = site(dir.path(), FORECAST_MEMBERS);
    export(dir.path(), "export.csv", 1.0);
    let good = std::fs::read_to_string(&site_path).unwrap();
    SiteConfig::read(&site_path).unwrap_or_else(|e| panic!("{e}"));
    let pressure = "variable = \"head_pressure_gauge\"\nunit = \"bar\"\nmin = 0.0\nmax = 10.0";
    assert!(good.contains(pressure));
    let line_of = |text: &str, needle: &str| {
        let at = text.find(needle).unwrap();
        text[..at].lines().count() + 1
    };
    for (bad_range, field) in [
        ("min = -1.0\nmax = 10.0", "min"),
        ("min = 0.0\nmax = 100.0", "max"),
    ] {
        let bad = good.replace(
            pressure,
            &format!("variable = \"head_pressure_gauge\"\nunit = \"bar\"\n{bad_range}"),
        );
        std::fs::write(&site_path, &bad).unwrap();
        let e = SiteConfig::read(&site_path).unwrap_err().to_string();
        let line = line_of(&bad, pressure.split('\n').next().unwrap())
            + 1
            + usize::from(field == "max")
            + 1;
        assert!(
            e.contains(&format!("site.toml:{line}: tags[")) && e.contains(&format!("].{field}")),
            "{e}"
        );
        assert!(e.contains("head_pressure_gauge"), "{e}");
    }
}

/// A negative applied recipe input in a data set's historian stops
/// `biotwin forecast` with exit 2, naming the file, line and tag; the
/// plan-only filter (`--plan-inputs`), which does not read those tags, runs.
#[test]
fn forecast_cli_names_the_line_of_a_negative_applied_input() {
    let dir = tempfile::tempdir().unwrap();
    let ds = dir.path();
    std::fs::create_dir_all(ds.join("batches")).unwrap();
    for f in ["recipes.json", "batches.csv", "initial_conditions.csv"] {
        std::fs::copy(root("training-data/indpensim").join(f), ds.join(f)).unwrap();
    }
    let bytes = biotwin_ml::data::csv_source::read_all(&root(
        "training-data/indpensim/batches/B03_historian.csv.gz",
    ))
    .unwrap();
    let mut line_no = 0;
    let text: String = String::from_utf8(bytes)
        .unwrap()
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if l.starts_with("2024-01-21T00:12") && l.contains(".SUGAR_FEED,") {
                line_no = i + 1;
                "2024-01-21T00:12:00Z,BR01.SUGAR_FEED,-8\n".to_string()
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    assert!(line_no > 0);
    {
        use std::io::Write;
        let f = std::fs::File::create(ds.join("batches/B03_historian.csv.gz")).unwrap();
        let mut gz = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
        gz.write_all(text.as_bytes()).unwrap();
        gz.finish().unwrap();
    }
    let run = |extra: &[&str]| {
        let out = Command::new(BIN)
            .args(["forecast", "--dataset"])
            .arg(ds)
            .args(["--batch", "B03", "--at", "1%", "--forecast-members", "2"])
            .args(extra)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (code, log) = run(&[]);
    assert_eq!(code, Some(2), "{log}");
    assert!(
        log.contains("B03_historian.csv.gz")
            && log.contains(&format!("line {line_no}"))
            && log.contains("SUGAR_FEED")
            && log.contains("-8"),
        "{log}"
    );
    let (code, log) = run(&["--plan-inputs"]);
    assert_eq!(code, Some(0), "{log}");
}
