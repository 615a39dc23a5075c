//! The IndPenSim ensemble Kalman filter on a training batch (B03; never a
//! held-out batch B16–B20): parameters move from the population prior
//! toward B03's recorded values, the 50 % forecast's 90 % interval holds the
//! true final penicillin, nothing is NaN; bad historian input is an input
//! error naming the tag and the time.

use std::path::{Path, PathBuf};

use biotwin_core::bioreactor::indpensim::estimate::{
    Estimator, LabSample, OnlineStep, Prior, Settings,
};
use biotwin_ml::Error;
use biotwin_ml::data::indpensim::{read_initial_conditions, read_recipe};
use biotwin_ml::data::indpensim_historian::read_historian;
use biotwin_ml::indpensim_forecast::{EvalSettings, evaluate_batch};

// B01 plan-only at 25 % (8 filter / 4 forecast members), computed by the
// example at 62346a7: `--members 8 --forecast-members 4 --fractions 0.25`.
const PIN_MEAN: f64 = 29.532660049675307;
const PIN_P05: f64 = 26.644314005042535;
const PIN_P95: f64 = 31.986015495094186;

fn dataset() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../training-data/indpensim")
}

/// An export (long CSV text) with reading `tag` of BR01 at `timestamp`
/// replaced by `value`.
fn with_reading(export: &str, timestamp: &str, tag: &str, value: &str) -> String {
    let key = format!("{timestamp},BR01.{tag},");
    export
        .lines()
        .map(|l| {
            if l.starts_with(&key) {
                format!("{key}{value}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect()
}

#[test]
fn b03_parameters_move_toward_the_truth_and_the_half_time_interval_covers() {
    let dir = dataset();
    let mut s = EvalSettings::default();
    s.filter.members = 24;
    s.fractions = vec![0.5];
    let o = evaluate_batch(&dir, "B03", &s).unwrap_or_else(|e| panic!("{e}"));
    // Truth, for scoring only (the filter never reads it).
    let (_, truth) = read_initial_conditions(&dir.join("initial_conditions.csv"), "B03").unwrap();
    let p = &o.points[0];
    assert_eq!(p.time_h, 115.0);
    for v in [p.mean_g_per_l, p.p05_g_per_l, p.p95_g_per_l] {
        assert!(v.is_finite() && v > 0.0, "{p:?}");
    }
    assert!(
        p.covered,
        "truth {} outside [{}, {}]",
        o.truth_final_g_per_l, p.p05_g_per_l, p.p95_g_per_l
    );
    let prior = Prior::default();
    let get = |name: &str| {
        p.parameters
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, m, sd)| (*m, *sd))
            .unwrap()
    };
    // μp: B03's 0.0363 h⁻¹ lies 1.9 prior SDs below the prior mean 0.041;
    // α_kLa: 75.1 vs 85. The estimate must close at least half of each gap.
    for (name, prior_mean, true_value) in [
        ("mu_p_per_h", prior.mu_p.mean, truth.mu_p),
        ("alpha_kla", prior.alpha_kla.mean, truth.alpha_kla),
    ] {
        let (mean, sd) = get(name);
        assert!(mean.is_finite() && sd.is_finite() && sd > 0.0);
        let gap_prior = (prior_mean - true_value).abs();
        let gap_now = (mean - true_value).abs();
        assert!(
            gap_now < 0.5 * gap_prior,
            "{name}: estimate {mean} (sd {sd}), truth {true_value}, prior {prior_mean}"
        );
    }
}

fn write_gz(path: &Path, text: &str) {
    use std::io::Write;
    let f = std::fs::File::create(path).unwrap();
    let mut gz = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
    gz.write_all(text.as_bytes()).unwrap();
    gz.finish().unwrap();
}

/// A two-step historian export of B03's first 24 minutes.
fn small_export() -> String {
    let path = dataset().join("batches/B03_historian.csv.gz");
    let bytes = biotwin_ml::data::csv_source::read_all(&path).unwrap();
    let text = String::from_utf8(bytes).unwrap();
    text.lines()
        .take_while(|l| !l.starts_with("2024-01-21T00:36"))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn a_missing_tag_or_a_non_finite_reading_is_an_input_error() {
    let dir = tempfile::tempdir().unwrap();
    let start = "2024-01-21T00:00:00Z";
    let full = small_export();
    let path = dir.path().join("h.csv.gz");
    write_gz(&path, &full);
    let rec = read_historian(&path, start, 2).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rec.online.len(), 2);

    // Drop the pH reading of step 2 (00:24).
    let no_ph: String = full
        .lines()
        .filter(|l| !(l.starts_with("2024-01-21T00:24") && l.contains(".PH,")))
        .map(|l| format!("{l}\n"))
        .collect();
    write_gz(&path, &no_ph);
    let e = read_historian(&path, start, 2).unwrap_err().to_string();
    assert!(e.contains("PH") && e.contains("step 2"), "{e}");

    // A non-finite temperature.
    let nan = with_reading(&full, "2024-01-21T00:12:00Z", "TEMP", "NaN");
    write_gz(&path, &nan);
    let e = read_historian(&path, start, 2).unwrap_err();
    assert!(matches!(e, Error::Dataset(_)), "{e}");
    let e = e.to_string();
    assert!(
        e.contains("TEMP") && e.contains("finite") && e.contains("line"),
        "{e}"
    );

    // The estimator itself refuses a non-finite reading.
    let recipe = read_recipe(&dataset().join("recipes.json"), "B03").unwrap();
    let lab0: LabSample = rec.lab[0];
    let mut settings = Settings::default();
    settings.members = 4;
    let mut est = Estimator::new(&recipe, &lab0, &Prior::default(), &settings).unwrap();
    let mut bad: OnlineStep = rec.online[0];
    bad.values[2] = f64::NAN;
    let e = est.advance(&bad).unwrap_err().to_string();
    assert!(e.contains("do2_mg_per_l") && e.contains("step 1"), "{e}");
}

/// The applied recipe inputs are read from the historian in the model's
/// units; a step whose record lacks one leaves it `None` (counted in the
/// record), and the estimator then runs the plan's set-point for it and
/// counts it: not an error, not silent.
#[test]
fn a_missing_applied_input_is_read_as_none_counted_and_run_from_the_plan() {
    let dir = tempfile::tempdir().unwrap();
    let start = "2024-01-21T00:00:00Z";
    let full = small_export();
    let path = dir.path().join("h.csv.gz");
    write_gz(&path, &full);
    let rec = read_historian(&path, start, 2).unwrap_or_else(|e| panic!("{e}"));
    let recipe = read_recipe(&dataset().join("recipes.json"), "B03").unwrap();
    assert_eq!(rec.applied_missing, 0);
    // B03's applied inputs at step 1 are its plan's set-points (item 1 of
    // the check in docs/indpensim-forecast.md).
    let plan = [
        recipe.fs_l_per_h.at(0.2),
        recipe.foil_l_per_h.at(0.2),
        recipe.fg_m3_per_h.at(0.2),
        recipe.pressure_bar.at(0.2),
        recipe.discharge_l_per_h.at(0.2),
        recipe.fw_l_per_h.at(0.2),
    ];
    assert_eq!(rec.online[0].applied, plan.map(Some));

    // Drop the aeration of step 2 (00:24).
    let no_air: String = full
        .lines()
        .filter(|l| !(l.starts_with("2024-01-21T00:24") && l.contains(".AERATION,")))
        .map(|l| format!("{l}\n"))
        .collect();
    write_gz(&path, &no_air);
    let gap = read_historian(&path, start, 2).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(gap.applied_missing, 1);
    assert_eq!(gap.online[1].applied[2], None);
    assert_eq!(gap.online[0].applied, rec.online[0].applied);

    let lab0: LabSample = rec.lab[0];
    let mut settings = Settings::default();
    settings.members = 4;
    let run = |r: &biotwin_ml::data::indpensim_historian::HistorianRecord| {
        let mut est = Estimator::new(&recipe, &lab0, &Prior::default(), &settings).unwrap();
        for s in &r.online {
            est.advance(s).unwrap();
        }
        (est.plan_fallbacks(), est.penicillin_now(), est.parameters())
    };
    let (n_full, p_full, par_full) = run(&rec);
    let (n_gap, p_gap, par_gap) = run(&gap);
    assert_eq!(n_full, 0);
    assert_eq!(n_gap, 1);
    // The plan's aeration equals the applied one here, so the filter's
    // result is the same bit for bit.
    assert_eq!(p_full, p_gap);
    assert_eq!(par_full, par_gap);
}

/// On a non-fault batch the historian's applied recipe inputs are the
/// plan's set-points bit for bit, so on the record as exported (no added
/// noise) the filter stepped with the applied inputs gives the plan-only
/// filter's numbers exactly.
#[test]
fn without_added_noise_the_applied_inputs_filter_equals_the_plan_only_one_on_b03() {
    let dir = dataset();
    let recipe = read_recipe(&dir.join("recipes.json"), "B03").unwrap();
    let start = biotwin_ml::data::indpensim_historian::batch_start(&dir, "B03").unwrap();
    let rec = read_historian(&dir.join("batches/B03_historian.csv.gz"), &start, 60).unwrap();
    assert_eq!(rec.applied_missing, 0);
    let mut s = EvalSettings::default();
    s.filter.members = 8;
    s.fractions = vec![0.05];
    assert!(s.filter.applied_inputs);
    let applied = biotwin_ml::indpensim_forecast::run_record(&recipe, &rec, 27.0, "B03", &s)
        .unwrap_or_else(|e| panic!("{e}"));
    s.filter.applied_inputs = false;
    let plan = biotwin_ml::indpensim_forecast::run_record(&recipe, &rec, 27.0, "B03", &s)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(applied.points, plan.points);
}

/// B03's export with each line passed through `edit` (line text → new
/// line), into `dir` as a data set of B03 alone: the shipped recipes and
/// `batches.csv`, the edited historian.
fn dataset_with_edited_b03(dir: &Path, edit: impl Fn(&str) -> String) {
    std::fs::create_dir_all(dir.join("batches")).unwrap();
    for f in ["recipes.json", "batches.csv"] {
        std::fs::copy(dataset().join(f), dir.join(f)).unwrap();
    }
    let bytes =
        biotwin_ml::data::csv_source::read_all(&dataset().join("batches/B03_historian.csv.gz"))
            .unwrap();
    let text: String = String::from_utf8(bytes)
        .unwrap()
        .lines()
        .map(|l| format!("{}\n", edit(l)))
        .collect();
    write_gz(&dir.join("batches/B03_historian.csv.gz"), &text);
}

/// Which filter made a result is part of the result: each batch outcome
/// carries `applied_inputs` (serialised), the setting it was run with.
#[test]
fn a_batch_outcome_records_whether_the_applied_inputs_were_used() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.csv.gz");
    write_gz(&path, &small_export());
    let rec = read_historian(&path, "2024-01-21T00:00:00Z", 2).unwrap();
    let recipe = read_recipe(&dataset().join("recipes.json"), "B03").unwrap();
    let mut s = EvalSettings::default();
    s.filter.members = 4;
    s.fractions = vec![];
    for applied in [true, false] {
        s.filter.applied_inputs = applied;
        let o = biotwin_ml::indpensim_forecast::run_record(&recipe, &rec, 27.0, "B03", &s)
            .unwrap_or_else(|e| panic!("{e}"));
        let v = serde_json::to_value(&o).unwrap();
        assert_eq!(v["applied_inputs"], serde_json::Value::Bool(applied), "{v}");
    }
}

/// A malformed reading of a tag the run does not use (an applied recipe
/// input, with the plan-only filter) does not stop the run; with the
/// applied inputs on, the same reading is an input error naming the file,
/// line and tag.
#[test]
fn a_malformed_applied_input_stops_only_a_run_that_uses_it() {
    let dir = tempfile::tempdir().unwrap();
    dataset_with_edited_b03(dir.path(), |l| {
        if l.starts_with("2024-01-21T00:12") && l.contains(".PRESSURE,") {
            "2024-01-21T00:12:00Z,BR01.PRESSURE,n/a".to_string()
        } else {
            l.to_string()
        }
    });
    let mut s = EvalSettings::default();
    s.filter.members = 4;
    s.fractions = vec![];
    s.filter.applied_inputs = false;
    let o = evaluate_batch(dir.path(), "B03", &s).unwrap_or_else(|e| panic!("{e}"));
    assert!(o.points.is_empty());
    s.filter.applied_inputs = true;
    let e = evaluate_batch(dir.path(), "B03", &s).unwrap_err();
    assert!(matches!(e, Error::Dataset(_)), "{e}");
    let e = e.to_string();
    assert!(
        e.contains("B03_historian.csv.gz") && e.contains("line") && e.contains("PRESSURE"),
        "{e}"
    );
}

/// A negative applied recipe input in the record is an input error when
/// read, naming the file, line and tag (not an error of the filter
/// later, which names only the step).
#[test]
fn a_negative_applied_input_is_an_input_error_naming_line_and_tag() {
    let dir = tempfile::tempdir().unwrap();
    let start = "2024-01-21T00:00:00Z";
    let text = with_reading(&small_export(), "2024-01-21T00:24:00Z", "AERATION", "-5");
    let path = dir.path().join("h.csv.gz");
    write_gz(&path, &text);
    let e = read_historian(&path, start, 2).unwrap_err();
    assert!(matches!(e, Error::Dataset(_)), "{e}");
    let e = e.to_string();
    assert!(
        e.contains("h.csv.gz") && e.contains("line") && e.contains("AERATION") && e.contains("-5"),
        "{e}"
    );
}

/// Regression: B01's plan-only forecast at 25 % (8 filter members, 4
/// forecast members, the evaluation's seeded noise) is the one computed by
/// the example at commit 62346a7, before the applied recipe inputs were
/// read (`--members 8 --forecast-members 4 --fractions 0.25`), to 1e-9
/// relative: bit for bit when the pin was taken, but the cheaper
/// right-hand side merged beside it (same equations, other rounding; its
/// own test compares it with the published expressions to 1e-12) moves
/// these numbers by ~4e-12 relative. Reading the applied inputs (1 % input
/// noise) moves the mean by 0.7 %, so the tolerance still catches the
/// plan-only path using them (checked by running this test with them on).
#[test]
fn b01_plan_only_forecast_is_the_one_before_the_applied_inputs() {
    let mut s = EvalSettings::default();
    s.filter.members = 8;
    s.forecast_members = Some(4);
    s.fractions = vec![0.25];
    s.filter.applied_inputs = false;
    let o = evaluate_batch(&dataset(), "B01", &s).unwrap_or_else(|e| panic!("{e}"));
    let p = &o.points[0];
    assert_eq!(p.time_h, 57.6);
    for (got, pin) in [
        (p.mean_g_per_l, PIN_MEAN),
        (p.p05_g_per_l, PIN_P05),
        (p.p95_g_per_l, PIN_P95),
    ] {
        assert!(
            ((got - pin) / pin).abs() <= 1e-9,
            "{got} against the pin {pin} (mean, p05, p95: {:?})",
            (p.mean_g_per_l, p.p05_g_per_l, p.p95_g_per_l)
        );
    }
}

/// A held-out batch runs only with --held-out and the filter named
/// (`--plan-inputs`, as pre-registered, or `--applied-inputs`): the
/// default filter changed after the registration.
#[test]
fn a_held_out_run_must_name_its_filter() {
    use biotwin_ml::indpensim_forecast::check_held_out;
    let ids = |s: &str| s.split(',').map(str::to_string).collect::<Vec<_>>();
    assert!(check_held_out(&ids("B01,B03"), false, false).is_ok());
    let e = check_held_out(&ids("B03,B17"), false, true)
        .unwrap_err()
        .to_string();
    assert!(e.contains("B17") && e.contains("--held-out"), "{e}");
    let e = check_held_out(&ids("B16,B17"), true, false)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("B16") && e.contains("--plan-inputs") && e.contains("--applied-inputs"),
        "{e}"
    );
    assert!(check_held_out(&ids("B16,B17"), true, true).is_ok());
}
