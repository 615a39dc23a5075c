//! The extra pensimpy batches (`training-data/indpensim-extra`, seeds
//! 101–118, and `training-data/indpensim-extra2`, seeds 119–138, made by
//! `validation/indpensim/generate_extra.py`) load through both readers —
//! the generic data set (manifest) and the IndPenSim filter's historian and
//! recipe readers — and the registered filter assimilates the first 30 h of
//! a normal and of an aeration-fault batch of the first set without a NaN,
//! a replaced member or a parameter leaving its prior's range. Scores on
//! these batches are not computed here (`docs/indpensim-forecast.md`, the
//! pre-registered runs); no filter is run on the second set, whose
//! pre-registered run comes first.

use std::path::{Path, PathBuf};

use biotwin_core::bioreactor::indpensim::N_STEPS;
use biotwin_core::bioreactor::indpensim::estimate::{Estimator, Prior, Settings};
use biotwin_ml::data::Dataset;
use biotwin_ml::data::indpensim::read_recipe;
use biotwin_ml::data::indpensim_historian::{batch_start, batch_value, read_historian};
use biotwin_ml::indpensim_forecast::{EvalSettings, add_noise, batch_seed, evaluate_batch};

fn dataset() -> PathBuf {
    data_dir("indpensim-extra")
}

fn data_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../training-data")
        .join(name)
}

const IDS: [&str; 18] = [
    "B101", "B102", "B103", "B104", "B105", "B106", "B107", "B108", "B109", "B110", "B111", "B112",
    "B113", "B114", "B115", "B116", "B117", "B118",
];

#[test]
fn every_extra_batch_loads_through_the_manifest_and_the_filter_readers() {
    assert_every_batch_loads(&dataset(), "indpensim-extra", &IDS, 10.0..40.0);
}

/// The second set, B119–B138 (14 normal, 2 PRBS, faults 1, 2, 3 and 6):
/// only read, never predicted here.
#[test]
fn every_extra2_batch_loads_through_the_manifest_and_the_filter_readers() {
    let ids: Vec<String> = (119..=138).map(|s| format!("B{s}")).collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let dir = data_dir("indpensim-extra2");
    // B125 ends at 4.48 g/L (growth stopped by the dissolved-CO2 switch
    // at ~72 h; README), as drawn: the range admits it.
    assert_every_batch_loads(&dir, "indpensim-extra2", &ids, 1.0..40.0);
    let modes: Vec<String> = ids
        .iter()
        .map(|id| batch_cell_text(&dir, id, "mode"))
        .collect();
    let faults: Vec<f64> = ids
        .iter()
        .map(|id| batch_value(&dir, id, "fault_code").unwrap())
        .collect();
    assert!(modes[..14].iter().all(|m| m == "normal"), "{modes:?}");
    assert_eq!(modes[14..16], ["prbs", "prbs"]);
    assert!(modes[16..].iter().all(|m| m == "fault"), "{modes:?}");
    assert_eq!(faults[16..], [1.0, 2.0, 3.0, 6.0]);
    assert!(faults[..16].iter().all(|&f| f == 0.0), "{faults:?}");
}

/// A text cell of `batches.csv` (the readers only parse numbers and the
/// start timestamp).
fn batch_cell_text(dir: &Path, id: &str, column: &str) -> String {
    let text = std::fs::read_to_string(dir.join("batches.csv")).unwrap();
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = head.iter().position(|h| *h == column).unwrap();
    let row = lines
        .map(|l| l.split(',').collect::<Vec<&str>>())
        .find(|r| r[0] == id)
        .unwrap_or_else(|| panic!("{id} not in batches.csv"));
    row[col].to_string()
}

/// `final_p_g_per_l`: the final titres the set is known to hold.
fn assert_every_batch_loads(
    dir: &Path,
    name: &str,
    ids: &[&str],
    final_p_g_per_l: std::ops::Range<f64>,
) {
    let ds = Dataset::load(dir).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ds.name, name);
    assert_eq!(ds.batch_ids(), ids.to_vec());
    for b in &ds.batches {
        assert_eq!(b.duration_s(), 230.0 * 3600.0, "{}", b.id());
        assert_eq!(b.online.len(), 23, "{}", b.id());
        assert_eq!(b.online["ph"].time_s.len(), 1150, "{}", b.id());
        let p = &b.offline["penicillin"];
        assert_eq!(p.len(), 21, "{}", b.id());
        let cqa = b.meta.cqas["final_penicillin"];
        assert!((p[20].value - cqa).abs() < 1e-6 * cqa, "{}", b.id());
    }
    for &id in ids {
        read_recipe(&dir.join("recipes.json"), id).unwrap_or_else(|e| panic!("{e}"));
        let start = batch_start(dir, id).unwrap();
        let path = dir.join("batches").join(format!("{id}_historian.csv.gz"));
        let rec = read_historian(&path, &start, N_STEPS).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(rec.online.len(), N_STEPS, "{id}");
        let times: Vec<f64> = rec.lab.iter().map(|s| s.time_h).collect();
        let mut expected: Vec<f64> = (0..20).map(|i| 12.0 * f64::from(i)).collect();
        expected.push(230.0);
        assert_eq!(times, expected, "{id}");
        let p = batch_value(dir, id, "final_P_gL").unwrap();
        assert!(final_p_g_per_l.contains(&p), "{id}: final P {p} g/L");
    }
}

#[test]
fn the_registered_filter_assimilates_the_first_30_hours_of_a_normal_and_a_fault_batch() {
    let dir = dataset();
    let s = EvalSettings::default();
    let mut filter = Settings::default();
    filter.members = 16; // cost; the run uses the registered 48
    let prior = Prior::default();
    // B101 normal; B113 aeration fault (20 m3/h at steps 100–120, 20–24 h)
    // that the recipe plan does not contain.
    for id in ["B101", "B113"] {
        let recipe = read_recipe(&dir.join("recipes.json"), id).unwrap();
        let start = batch_start(&dir, id).unwrap();
        let path = dir.join("batches").join(format!("{id}_historian.csv.gz"));
        let rec = read_historian(&path, &start, N_STEPS).unwrap();
        let rec = add_noise(&rec, &s.data_noise, batch_seed(s.noise_seed, id));
        let mut est =
            Estimator::new(&recipe, &rec.lab[0], &prior, &filter).unwrap_or_else(|e| panic!("{e}"));
        for k in 1..=150 {
            est.advance(&rec.online[k - 1])
                .unwrap_or_else(|e| panic!("{id}: {e}"));
            if k == 60 || k == 120 {
                est.assimilate_lab(&rec.lab[k / 60]).unwrap();
            }
        }
        assert_eq!(est.time_h(), 30.0);
        assert_eq!(est.replaced(), 0, "{id}");
        let (p, p_sd) = est.penicillin_now();
        assert!(
            p.is_finite() && p_sd.is_finite() && p >= 0.0,
            "{id}: P {p} ± {p_sd}"
        );
        for e in est.parameters() {
            let (mean0, sd0) = match e.name {
                "mu_p_per_h" => (prior.mu_p.mean, prior.mu_p.sd),
                "mux_max_per_h" => (prior.mux_max.mean, prior.mux_max.sd),
                "alpha_kla" => (prior.alpha_kla.mean, prior.alpha_kla.sd),
                other => panic!("unexpected parameter {other}"),
            };
            assert!(
                e.mean.is_finite() && e.sd.is_finite() && e.sd > 0.0,
                "{id}: {e:?}"
            );
            assert!(
                (e.mean - mean0).abs() < 5.0 * sd0,
                "{id}: {} = {} outside 5 prior SDs of {mean0}",
                e.name,
                e.mean
            );
        }
    }
}

/// Regression (issue 15, B115): after the sugar-feed fault at 20–30 h the
/// registered filter's members carry μx,max ≈ 10.8 h⁻¹ (prior 0.41 ± 0.025)
/// at 46 h, learnt while the dissolved-CO2 inhibition held growth at zero.
/// Before the forecast capped the members' rates at the prior mean + 5 SD,
/// every one of the 16 forecast members ran the explicit solver out of
/// steps at 90–100 h (growth switching back on at 10.8 h⁻¹) and the forecast
/// stopped with an error. Now the forecast is made, with the capped and the
/// failed members counted. This is the plan-only filter (the recipe plan's
/// sugar feed, not the applied one): the filter that learnt 10.8 h⁻¹.
#[test]
fn b115_forecast_after_the_sugar_feed_fault_is_made_and_counts_its_members() {
    let mut s = EvalSettings {
        fractions: vec![0.2],
        forecast_members: Some(16),
        ..EvalSettings::default()
    };
    s.filter.applied_inputs = false;
    let o = evaluate_batch(&dataset(), "B115", &s).unwrap_or_else(|e| panic!("B115: {e}"));
    let p = &o.points[0];
    assert!(
        p.mean_g_per_l.is_finite()
            && p.p05_g_per_l <= p.mean_g_per_l
            && p.mean_g_per_l <= p.p95_g_per_l,
        "{p:?}"
    );
    // Measured: 6 of 16 failed, 10 capped (every completed member).
    assert!(p.forecast_members_failed <= 8, "{p:?}");
    assert!(p.forecast_members_capped >= 1, "{p:?}");
    // The filter's own estimate is reported as it is (not capped).
    let mux = p
        .parameters
        .iter()
        .find(|q| q.0 == "mux_max_per_h")
        .unwrap();
    assert!(mux.1 > 1.0, "{mux:?}");
}

/// Issue 15 (applied inputs): the same B115 forecast at 46 h with the
/// members stepped with the sugar feed as applied (2 L/h at 20–30 h, from
/// the historian's `SUGAR_FEED`): the fault is an input, not model error,
/// so μx,max stays within 5 prior SDs (measured 0.494 ± 0.019 h⁻¹ against
/// 10.78 with the plan) and no reading is rejected and no member replaced
/// (plan: 201 and 7 by 46 h). Measured: 1 of 16 forecast members capped and
/// 1 failed (the forecast runs the plan, which lacks the later faults).
#[test]
fn b115_with_the_applied_sugar_feed_keeps_mux_max_near_its_prior() {
    let s = EvalSettings {
        fractions: vec![0.2],
        forecast_members: Some(16),
        ..EvalSettings::default()
    };
    assert!(s.filter.applied_inputs, "applied inputs are the default");
    let o = evaluate_batch(&dataset(), "B115", &s).unwrap_or_else(|e| panic!("B115: {e}"));
    let p = &o.points[0];
    let mux = p
        .parameters
        .iter()
        .find(|q| q.0 == "mux_max_per_h")
        .unwrap();
    assert!(mux.1 < 0.41 + 5.0 * 0.025, "{mux:?}");
    assert_eq!(p.readings_rejected, 0, "{p:?}");
    assert_eq!(p.members_replaced, 0, "{p:?}");
    assert!(p.forecast_members_capped <= 2, "{p:?}");
    assert!(p.forecast_members_failed <= 2, "{p:?}");
    // The historian carries every applied input at every step.
    assert_eq!(p.applied_inputs_missing, 0, "{p:?}");
}

/// The filter with the applied recipe inputs follows what the plant
/// applied, not the plan: B113's historian records an aeration of 20 m³/h
/// at steps 100–120 (20–24 h) where its recipe plan says 43 m³/h. On the
/// record as exported (no added noise), up to the fault the applied-inputs
/// filter and the plan-only one are the same bit for bit; after it, the
/// applied-inputs filter equals, bit for bit, the plan-only filter run on
/// a plan that carries the fault (20 m³/h over 20–24 h), and differs from
/// the plan-only filter on the recorded plan: its members were stepped with
/// the recorded aeration during the fault window.
#[test]
fn b113_applied_inputs_filter_follows_the_recorded_aeration_fault() {
    use biotwin_core::bioreactor::indpensim::recipe::Profile;
    let dir = dataset();
    let recipe = read_recipe(&dir.join("recipes.json"), "B113").unwrap();
    let start = batch_start(&dir, "B113").unwrap();
    let path = dir.join("batches/B113_historian.csv.gz");
    let rec = read_historian(&path, &start, 125).unwrap();
    assert_eq!(rec.applied_missing, 0);
    // The fault is in the record (index 2: aeration), not in the plan.
    for k in 100..=120 {
        assert_eq!(rec.online[k - 1].applied[2], Some(20.0), "step {k}");
        let plan = recipe.fg_m3_per_h.at((12 * k) as f64 / 60.0);
        assert!((plan - 20.0).abs() > 10.0, "step {k}: plan {plan}");
    }
    // The plan with the fault written in (backward fill: the set-point at
    // 24.1 h covers the steps ending at 20.0–24.0 h).
    let fg = &recipe.fg_m3_per_h;
    let mut points: Vec<(f64, f64)> = fg.points.iter().copied().filter(|p| p.0 < 19.9).collect();
    points.push((19.9, fg.at(19.9)));
    points.push((24.1, 20.0));
    points.extend(fg.points.iter().copied().filter(|p| p.0 > 24.1));
    let mut faulted = recipe.clone();
    faulted.fg_m3_per_h = Profile::new(points, "Fg").unwrap();

    let prior = Prior::default();
    let run = |plan: &biotwin_core::bioreactor::indpensim::Recipe, applied: bool, steps: usize| {
        let mut filter = Settings::default();
        filter.members = 8; // cost
        filter.applied_inputs = applied;
        let mut est = Estimator::new(plan, &rec.lab[0], &prior, &filter).unwrap();
        for k in 1..=steps {
            est.advance(&rec.online[k - 1]).unwrap();
            if k == 60 || k == 120 {
                est.assimilate_lab(&rec.lab[k / 60]).unwrap();
            }
        }
        let f = est.forecast_members(7, 4).unwrap();
        (
            est.penicillin_now(),
            est.parameters(),
            f.members_g_per_l,
            est.plan_fallbacks(),
        )
    };
    // Before the fault: the same.
    assert_eq!(run(&recipe, true, 99), run(&recipe, false, 99));
    // Through the fault window.
    let applied = run(&recipe, true, 125);
    let plan_only = run(&recipe, false, 125);
    let fault_plan = run(&faulted, false, 125);
    assert_eq!(applied, fault_plan);
    assert_ne!(applied.0, plan_only.0);
    assert_ne!(applied.1, plan_only.1);
    assert_ne!(applied.2, plan_only.2);
}
