//! The recipe-conditioned model discrepancy of `biotwin fit`
//! (`calibration::discrepancy`, docs/fit.md "Model discrepancy") on
//! simulated residuals of known structure: it recovers a known linear bias
//! in the conditions, gives no correction beyond its SE when the residuals
//! are pure noise, and its 95 % predictive intervals cover new batches at
//! their nominal rate.

use biotwin_ml::calibration::discrepancy::{Correction, Discrepancy, Form};
use nalgebra::DMatrix;

/// splitmix64 → uniform and standard normal (Box–Muller); deterministic.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn uniform(&mut self) -> f64 {
        ((self.next() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        let (u1, u2) = (self.uniform(), self.uniform());
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

/// The 8 DoE conditions of `cho-platform` in SI (low, high), as its
/// manifest has them.
const BOX: [(&str, f64, f64); 8] = [
    ("agitation", 3.333, 5.0),
    ("do_setpoint", 0.3, 0.5),
    ("feed_glucose", 100.0, 140.0),
    ("feed_scale", 0.8, 1.2),
    ("ph_setpoint", 6.9, 7.1),
    ("seeding_density", 3e11, 7e11),
    ("shift_temperature", 305.15, 307.65),
    ("shift_time", 432000.0, 604800.0),
];

fn names() -> Vec<String> {
    BOX.iter().map(|b| b.0.to_string()).collect()
}

/// A condition row: coded c ∈ [lo, hi] per factor (0 = low, 1 = high).
fn point(rng: &mut Rng, lo: f64, hi: f64) -> (Vec<f64>, Vec<f64>) {
    let c: Vec<f64> = (0..8).map(|_| lo + (hi - lo) * rng.uniform()).collect();
    let x = c
        .iter()
        .zip(BOX)
        .map(|(c, (_, l, h))| l + c * (h - l))
        .collect();
    (c, x)
}

/// A bias linear in the coded agitation and DO (target units, e.g. g/L of
/// titer): +0.4 at the centre, −0.6 per unit of coded agitation, +0.3 per
/// unit of coded DO.
fn bias(c: &[f64]) -> f64 {
    0.4 - 0.6 * (c[0] - 0.5) + 0.3 * (c[1] - 0.5)
}

/// 30 calibration batches inside the box; residual = truth(c) + N(0, sd).
fn calibration(
    rng: &mut Rng,
    truth: impl Fn(&[f64]) -> f64,
    sd: f64,
) -> (DMatrix<f64>, DMatrix<f64>) {
    let n = 30;
    let mut x = DMatrix::zeros(n, 8);
    let mut r = DMatrix::zeros(n, 1);
    for i in 0..n {
        let (c, xi) = point(rng, 0.0, 1.0);
        for k in 0..8 {
            x[(i, k)] = xi[k];
        }
        r[(i, 0)] = truth(&c) + sd * rng.normal();
    }
    (x, r)
}

fn batches(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("B{i:02}")).collect()
}

fn fit(form: Form, x: &DMatrix<f64>, r: &DMatrix<f64>) -> Discrepancy {
    Discrepancy::fit(
        form,
        &names(),
        x,
        &["final_titer".to_string()],
        r,
        &batches(x.nrows()),
    )
    .unwrap()
}

/// A known linear bias (0.4 g/L at the centre, −0.6 per coded agitation,
/// +0.3 per coded DO; noise SD 0.05) is recovered: at 10 new batches,
/// half of them up to 15 % beyond the box (the edge batches' rule), the
/// correction lies within 3 SE of the bias and within 0.06 g/L of it; the
/// residual SD is estimated within 35 % of 0.05, and the chosen ridge
/// penalty is small (a strong signal is not shrunk away).
#[test]
fn linear_discrepancy_recovers_a_known_linear_bias() {
    let mut rng = Rng(11);
    let (x, r) = calibration(&mut rng, bias, 0.05);
    let d = fit(Form::Linear, &x, &r);
    let t = &d.targets[0];
    assert!(
        (t.residual_sd / 0.05 - 1.0).abs() < 0.35,
        "{}",
        t.residual_sd
    );
    let Correction::Linear { ridge, .. } = &t.correction else {
        panic!("linear form")
    };
    assert!(*ridge <= 1.0, "ridge {ridge}");
    assert!(t.loo_rmse < 0.08 && t.rmse_without > 0.2, "{t:?}");
    for i in 0..10 {
        let (lo, hi) = if i < 5 { (0.0, 1.0) } else { (-0.15, 1.15) };
        let (c, x) = point(&mut rng, lo, hi);
        let k = d.correct("final_titer", &x).unwrap().unwrap();
        let err = k.correction - bias(&c);
        assert!(
            err.abs() < 3.0 * k.se && err.abs() < 0.06,
            "{c:?}: {k:?} vs {}",
            bias(&c)
        );
        assert!(k.se > 0.0 && k.predictive_sd > t.residual_sd);
    }
    // A target the discrepancy was not fitted for has no correction.
    assert!(d.correct("galactosylated", &[0.0; 8]).unwrap().is_none());
}

/// Pure-noise residuals (SD 0.02, zero mean): the correction at 20 new
/// batches is within 3 SE of zero at every one, and its largest magnitude
/// is below the noise SD (nothing is invented from noise).
#[test]
fn pure_noise_gives_no_correction_beyond_its_se() {
    for form in [Form::Linear, Form::Gp] {
        let mut rng = Rng(23);
        let (x, r) = calibration(&mut rng, |_| 0.0, 0.02);
        let d = fit(form, &x, &r);
        let mut largest: f64 = 0.0;
        for _ in 0..20 {
            let (_, x) = point(&mut rng, -0.15, 1.15);
            let k = d.correct("final_titer", &x).unwrap().unwrap();
            assert!(k.correction.abs() < 3.0 * k.se, "{form:?}: {k:?}");
            largest = largest.max(k.correction.abs());
        }
        assert!(largest < 0.02, "{form:?}: {largest}");
    }
}

/// The GP form follows the same linear bias inside the box: at 10 new
/// interior batches its correction is within 3 SE and 0.1 g/L of the bias.
#[test]
fn gp_discrepancy_follows_a_linear_bias_inside_the_design() {
    let mut rng = Rng(5);
    let (x, r) = calibration(&mut rng, bias, 0.05);
    let d = fit(Form::Gp, &x, &r);
    for _ in 0..10 {
        let (c, x) = point(&mut rng, 0.1, 0.9);
        let k = d.correct("final_titer", &x).unwrap().unwrap();
        let err = k.correction - bias(&c);
        assert!(
            err.abs() < 3.0 * k.se.max(1e-9) && err.abs() < 0.1,
            "{k:?} vs {}",
            bias(&c)
        );
    }
}

/// Over 300 replicate calibration sets (the linear bias, noise SD 0.05),
/// the 95 % predictive interval η + δ ± 1.96 SD of the linear form covers a
/// new batch's observed end-point (drawn inside the box or up to 15 %
/// beyond) in 90–99 % of the replicates.
#[test]
fn linear_predictive_intervals_cover_new_batches() {
    let mut rng = Rng(101);
    let mut hit = 0;
    let n = 300;
    for _ in 0..n {
        let (x, r) = calibration(&mut rng, bias, 0.05);
        let d = fit(Form::Linear, &x, &r);
        let (c, xn) = point(&mut rng, -0.15, 1.15);
        let y = bias(&c) + 0.05 * rng.normal();
        let k = d.correct("final_titer", &xn).unwrap().unwrap();
        if (y - k.correction).abs() <= 1.96 * k.predictive_sd {
            hit += 1;
        }
    }
    let rate = hit as f64 / n as f64;
    eprintln!("95 % predictive interval coverage over {n} replicates: {rate:.3}");
    assert!((0.90..=0.99).contains(&rate), "coverage {rate}");
}

/// Bad input: fewer batches than the discrepancy needs, and a non-finite
/// residual, are errors that say so (never a NaN correction).
#[test]
fn discrepancy_refuses_too_few_batches_and_non_finite_residuals() {
    let mut rng = Rng(3);
    let (x, mut r) = calibration(&mut rng, bias, 0.05);
    let few = x.rows(0, 9).into_owned();
    let e = Discrepancy::fit(
        Form::Linear,
        &names(),
        &few,
        &["final_titer".to_string()],
        &r.rows(0, 9).into_owned(),
        &batches(9),
    )
    .unwrap_err();
    assert!(
        e.message
            .contains("at least 11 calibration batches, found 9"),
        "{e}"
    );
    r[(4, 0)] = f64::NAN;
    let e = Discrepancy::fit(
        Form::Linear,
        &names(),
        &x,
        &["final_titer".to_string()],
        &r,
        &batches(30),
    )
    .unwrap_err();
    assert!(e.message.contains("non-finite"), "{e}");
}

/// A condition that every calibration batch holds at one value (here the
/// second, set to 1e12 as a seeding density in cells/m³ might be) is
/// refused by name: its slope cannot be estimated and its uncertainty
/// would be in its raw unit (review finding).
#[test]
fn a_condition_constant_over_the_calibration_batches_is_refused_by_name() {
    let mut rng = Rng(5);
    let (mut x, r) = calibration(&mut rng, bias, 0.05);
    for i in 0..x.nrows() {
        x[(i, 1)] = 1e12;
    }
    let e = Discrepancy::fit(
        Form::Linear,
        &names(),
        &x,
        &["final_titer".to_string()],
        &r,
        &batches(30),
    )
    .unwrap_err();
    assert!(
        e.message.contains(&format!("condition `{}`", names()[1])),
        "{e}"
    );
    assert!(e.message.contains("same value"), "{e}");
}

mod on_process {
    //! δ evaluated on a process (`Discrepancy::on_process`, docs/fit.md "In
    //! the jobs"): the conditions read back through the dataset mapping's
    //! addresses, the range check, and the refusals.
    use std::path::{Path, PathBuf};

    use biotwin_core::simulation::{Scenario, load_process};
    use biotwin_ml::calibration::discrepancy::{
        Discrepancy, Form, RANGE_MARGIN, Refusal, condition_names,
    };
    use biotwin_ml::data::Dataset;
    use biotwin_ml::surrogates::hybrid::mechanistic::MechanisticSpec;
    use nalgebra::DMatrix;

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
    }

    /// A linear δ fitted on every batch of a shipped dataset (residuals of
    /// a known smooth form), with the mapping attached as `fit` does.
    fn fitted(dataset: &str) -> (MechanisticSpec, Dataset, Discrepancy) {
        fitted_on(dataset, &["final_titer"])
    }

    /// δ of `targets` on `dataset`'s batches (residuals of no meaning).
    fn fitted_on(dataset: &str, targets: &[&str]) -> (MechanisticSpec, Dataset, Discrepancy) {
        let dir = root().join("training-data").join(dataset);
        let spec = MechanisticSpec::load(&dir.join("mechanistic.toml")).unwrap();
        let ds = Dataset::load(&dir).unwrap();
        let names = condition_names(&spec);
        let ids = ds.batch_ids();
        let x = DMatrix::from_fn(ids.len(), names.len(), |i, j| {
            ds.batch(&ids[i]).unwrap().meta.parameters[&names[j]]
        });
        let r = DMatrix::from_fn(ids.len(), targets.len(), |i, j| {
            (i as f64 * 0.7 + j as f64).sin()
        });
        let targets: Vec<String> = targets.iter().map(|t| t.to_string()).collect();
        let mut d = Discrepancy::fit(Form::Linear, &names, &x, &targets, &r, &ids).unwrap();
        let base = Scenario::from_definition(&load_process(&spec.process).unwrap()).unwrap();
        d.attach_mapping(&spec, &dir.join("mechanistic.toml"), &x, &base.recipe)
            .unwrap();
        (spec, ds, d)
    }

    /// A condition of δ whose factor is 0 in the user's mapping is refused
    /// as an input problem naming the mapping file and the field (the CLI
    /// exits 2), not as a failed estimation.
    #[test]
    fn a_zero_factor_in_the_mapping_is_an_input_problem_naming_the_field() {
        let dataset = "cho-platform";
        let (mut spec, ds, mut d) = fitted(dataset);
        let file = root()
            .join("training-data")
            .join(dataset)
            .join("mechanistic.toml");
        let name = d.conditions[0].clone();
        let i = spec
            .condition
            .iter()
            .position(|c| c.parameter == name)
            .unwrap();
        spec.condition[i].factor = 0.0;
        let ids = ds.batch_ids();
        let x = DMatrix::from_fn(ids.len(), d.conditions.len(), |r, j| {
            ds.batch(&ids[r]).unwrap().meta.parameters[&d.conditions[j]]
        });
        let base = Scenario::from_definition(&load_process(&spec.process).unwrap()).unwrap();
        let e = d
            .attach_mapping(&spec, &file, &x, &base.recipe)
            .expect_err("factor 0 is refused");
        let diag = e.input.as_deref().expect("an input problem");
        assert_eq!(diag.field, format!("condition[{i}].factor"));
        assert_eq!(diag.file, file);
        assert_eq!(diag.found, "0");
        let err = biotwin_ml::Error::calibration("the model discrepancy", e);
        assert_eq!(err.exit_code(), 2, "{err}");
    }

    /// For every batch of every shipped dataset with a mapping, setting its
    /// manifest conditions through the mapping (as `fit` simulates it) and
    /// reading them back through the addresses gives the manifest values
    /// to 1e-12 relative — `feeds.scale` and `shifts.temperature_k`
    /// included.
    #[test]
    fn conditions_set_through_the_mapping_read_back_exactly() {
        for dataset in ["cho-platform", "cho-structural"] {
            let (spec, ds, d) = fitted(dataset);
            assert_eq!(d.schema, "biotwin.discrepancy/2");
            let src = ds.dir.join("dataset.toml");
            for id in ds.batch_ids() {
                let params = &ds.batch(&id).unwrap().meta.parameters;
                let (s, ff) = spec.scenario(&id, params, &src).unwrap();
                let read = d.read_conditions(&s, &ff).unwrap();
                for (name, (v, _)) in d.conditions.iter().zip(read) {
                    let want = params[name];
                    assert!(
                        (v - want).abs() <= 1e-12 * want.abs(),
                        "{dataset} {id} {name}: read {v}, manifest {want}"
                    );
                }
                // Every batch lies in the range δ was calibrated on.
                d.on_process(&s, &ff).unwrap();
            }
        }
    }

    /// `feeds.scale` is read as the process's relative feeding: doubling
    /// every bolus volume and continuous-feed rate of a batch's recipe
    /// reads twice its feed scale, and a recipe scaled in volume as a whole
    /// (initial volume, boluses and rates × 7) reads the same feed scale —
    /// what a translated recipe must give (review finding: on the fitted
    /// process alone the feeding ratio is 1 whatever it computes).
    #[test]
    fn feed_scale_reads_the_recipes_relative_feeding() {
        use biotwin_core::definition::recipe::EventKind;
        let (spec, ds, d) = fitted("cho-platform");
        let j = d.conditions.iter().position(|c| c == "feed_scale").unwrap();
        let id = &ds.batch_ids()[0];
        let params = &ds.batch(id).unwrap().meta.parameters;
        let (s, ff) = spec
            .scenario(id, params, &ds.dir.join("dataset.toml"))
            .unwrap();
        let base = d.read_conditions(&s, &ff).unwrap()[j].0;
        assert!((base - params["feed_scale"]).abs() <= 1e-12 * base.abs());
        let scaled = |volume: f64, boluses: f64, rates: f64| {
            let mut t = s.clone();
            t.recipe.initial_volume_m3 *= volume;
            for e in &mut t.recipe.events {
                if let EventKind::Bolus { volume_m3, .. } = &mut e.kind {
                    *volume_m3 *= boluses;
                }
            }
            for f in &mut t.recipe.continuous_feeds {
                f.rate_m3_per_s *= rates;
            }
            d.read_conditions(&t, &ff).unwrap()[j].0
        };
        let doubled = scaled(1.0, 2.0, 2.0);
        assert!(
            (doubled - 2.0 * base).abs() <= 1e-12 * base,
            "{doubled} vs 2 × {base}"
        );
        let larger = scaled(7.0, 7.0, 7.0);
        assert!((larger - base).abs() <= 1e-12 * base, "{larger} vs {base}");
        // Each kind of feed counts: with B and C the bolus and continuous
        // volumes, (2B + C) + (B + 2C) = 3 (B + C), so the two partial
        // doublings read 3 × the base between them, and doubling the
        // boluses alone reads more than the base (the 3 L recipe is fed by
        // boluses).
        let (b2, c2) = (scaled(1.0, 2.0, 1.0), scaled(1.0, 1.0, 2.0));
        assert!(
            (b2 + c2 - 3.0 * base).abs() <= 1e-12 * base,
            "{b2} + {c2} vs 3 × {base}"
        );
        assert!(
            b2 > base * (1.0 + 1e-6),
            "boluses not counted: {b2} vs {base}"
        );
        assert!(
            s.recipe.continuous_feeds.is_empty() || c2 > base * (1.0 + 1e-6),
            "continuous feeds not counted: {c2} vs {base}"
        );
    }

    /// A condition more than RANGE_MARGIN of its calibration range outside
    /// it is refused, naming the condition, its address and value (every
    /// such condition, when several are); inside the margin δ applies. A /1 object (no mapping) and an address the
    /// process cannot resolve are refused by name.
    #[test]
    fn out_of_range_unmapped_and_unresolvable_are_refused_by_name() {
        let (spec, ds, d) = fitted("cho-platform");
        let src = ds.dir.join("dataset.toml");
        let params = &ds.batch("B01").unwrap().meta.parameters;
        let (s, ff) = spec.scenario("B01", params, &src).unwrap();
        let m = d
            .mapping
            .iter()
            .find(|m| m.parameter == "agitation")
            .unwrap();
        let w = m.max - m.min;
        let at = |si: f64| {
            let mut s2 = s.clone();
            s2.apply("setpoints.agitation_rpm", si * m.factor, &ff)
                .unwrap();
            d.on_process(&s2, &ff)
        };
        let inside = at(m.max + 0.8 * RANGE_MARGIN * w).unwrap();
        assert!(inside.targets[0].corrected.predictive_sd > 0.0);
        match at(m.max + 1.2 * RANGE_MARGIN * w) {
            Err(e @ Refusal::OutOfRange { .. }) => {
                let msg = e.to_string();
                for n in ["`agitation`", "setpoints.agitation_rpm", "not extrapolated"] {
                    assert!(msg.contains(n), "{msg}");
                }
            }
            other => panic!("{other:?}"),
        }
        // A 2000 L vessel's agitation (about 77 rpm) is far outside.
        let mut big = s.clone();
        big.apply("setpoints.agitation_rpm", 76.85, &ff).unwrap();
        assert!(matches!(
            d.on_process(&big, &ff),
            Err(Refusal::OutOfRange { ref conditions }) if conditions.len() == 1 && conditions[0].parameter == "agitation"
        ));
        // Two conditions outside: both are named (in the mapping's order),
        // not only the first; each with its address and range.
        big.apply("setpoints.do_pct", 10.0, &ff).unwrap();
        match d.on_process(&big, &ff) {
            Err(e @ Refusal::OutOfRange { .. }) => {
                let Refusal::OutOfRange { conditions } = &e else {
                    unreachable!()
                };
                let named: Vec<&str> = conditions.iter().map(|c| c.parameter.as_str()).collect();
                assert_eq!(named, ["agitation", "do_setpoint"]);
                assert!((conditions[1].value_user - 10.0).abs() < 1e-9, "{e:?}");
                let msg = e.to_string();
                for n in [
                    "2 conditions",
                    "`agitation`",
                    "setpoints.agitation_rpm = 76.85",
                    "`do_setpoint`",
                    "setpoints.do_pct = 10",
                ] {
                    assert!(msg.contains(n), "`{n}` not in: {msg}");
                }
            }
            other => panic!("{other:?}"),
        }
        let mut v1 = d.clone();
        v1.schema = "biotwin.discrepancy/1".into();
        v1.mapping.clear();
        let e = v1.on_process(&s, &ff).unwrap_err();
        assert!(matches!(e, Refusal::NoMapping { .. }), "{e:?}");
        assert!(e.to_string().contains("biotwin.discrepancy/1"), "{e}");
        let mut bad = d.clone();
        let k = bad
            .mapping
            .iter()
            .position(|m| m.parameter == "shift_time")
            .unwrap();
        bad.mapping[k].address = "shifts[3].time_h".into();
        let e = bad.on_process(&s, &ff).unwrap_err();
        assert!(
            matches!(&e, Refusal::Address { address, .. } if address == "shifts[3].time_h"),
            "{e:?}"
        );
        assert!(e.to_string().contains("shifts[3].time_h"), "{e}");
    }

    /// `apply` (the jobs' entry point) corrects each target it can and
    /// lists every other one with why, never dropping one silently: a
    /// quality the simulation does not report, a target with no quality
    /// recorded in the discrepancy.
    #[test]
    fn apply_reports_every_target_it_does_not_correct() {
        use biotwin_ml::calibration::discrepancy::{Applied, apply};
        let (spec, ds, d) = fitted_on("cho-platform", &["final_titer", "final_viability"]);
        let src = ds.dir.join("dataset.toml");
        let params = &ds.batch("B01").unwrap().meta.parameters;
        let (s, ff) = spec.scenario("B01", params, &src).unwrap();
        let stored = |d: &Discrepancy| toml::Value::try_from(d).unwrap();
        // The simulation reports titer only.
        let titer_only = |q: &str| (q == "titer_g_per_l").then_some(2.0);
        match apply(Some(&stored(&d)), &s, &ff, titer_only) {
            Some(Applied::Applied {
                qualities, skipped, ..
            }) => {
                assert_eq!(qualities.len(), 1);
                assert_eq!(qualities[0].target, "final_titer");
                assert_eq!(skipped.len(), 1, "{skipped:?}");
                assert_eq!(skipped[0].target, "final_viability");
                assert!(skipped[0].reason.contains("`viability_pct`"), "{skipped:?}");
            }
            other => panic!("{other:?}"),
        }
        // Every quality reported: nothing skipped.
        match apply(Some(&stored(&d)), &s, &ff, |_| Some(2.0)) {
            Some(Applied::Applied {
                qualities, skipped, ..
            }) => {
                assert_eq!(qualities.len(), 2);
                assert!(skipped.is_empty(), "{skipped:?}");
            }
            other => panic!("{other:?}"),
        }
        // A target whose quality the discrepancy does not record.
        let mut no_quality = d.clone();
        no_quality.qualities.retain(|q| q.target != "final_titer");
        match apply(Some(&stored(&no_quality)), &s, &ff, |_| Some(2.0)) {
            Some(Applied::Applied {
                qualities, skipped, ..
            }) => {
                assert_eq!(qualities.len(), 1);
                assert_eq!(skipped.len(), 1, "{skipped:?}");
                assert_eq!(skipped[0].target, "final_titer");
                assert!(
                    skipped[0].reason.contains("no quality attribute"),
                    "{skipped:?}"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    /// `shifts.temperature_k` is one address of the core's address space
    /// (set on every temperature shift by the dataset mapping, read back by
    /// δ): a value outside the temperature set-point's range is refused in
    /// K, a recipe without a temperature shift has no such address, and
    /// shifts at two temperatures have no one value to read.
    #[test]
    fn shift_temperature_address_is_checked_and_read_in_one_place() {
        use biotwin_core::definition::recipe::EventKind;
        use biotwin_core::simulation::address::shift_temperature_k;
        let (spec, ds, _) = fitted("cho-platform");
        let src = ds.dir.join("dataset.toml");
        let params = &ds.batch("B01").unwrap().meta.parameters;
        let (mut s, ff) = spec.scenario("B01", params, &src).unwrap();
        let t = params["shift_temperature"];
        assert_eq!(shift_temperature_k(&s.recipe), Ok(t));
        s.apply("shifts.temperature_k", 306.0, &ff).unwrap();
        let a = s.address("shifts.temperature_k", &ff).unwrap();
        assert_eq!(s.get(&a), 306.0);
        let e = s.apply("shifts.temperature_k", 500.0, &ff).unwrap_err();
        assert!(e.contains(" K") && e.contains("temperature_c"), "{e}");
        // A second shift at another temperature: no one value to read.
        let mut two = s.clone();
        let mut extra = two
            .recipe
            .events
            .iter()
            .find(|e| matches!(&e.kind, EventKind::Shift(sp) if sp.temperature_k.is_some()))
            .unwrap()
            .clone();
        extra.time_s += 3600.0;
        if let EventKind::Shift(sp) = &mut extra.kind {
            sp.temperature_k = Some(305.0);
        }
        two.recipe.events.push(extra);
        two.recipe
            .events
            .sort_by(|a, b| a.time_s.total_cmp(&b.time_s));
        let e = shift_temperature_k(&two.recipe).unwrap_err();
        assert!(e.contains("306 K") && e.contains("305 K"), "{e}");
        // Setting it is still allowed (the dataset mapping set every
        // temperature shift before this address existed): all of them.
        two.apply("shifts.temperature_k", 307.0, &ff).unwrap();
        assert_eq!(shift_temperature_k(&two.recipe), Ok(307.0));
        // No temperature shift: no such address.
        let mut none = s.clone();
        none.recipe
            .events
            .retain(|e| !matches!(e.kind, EventKind::Shift(_)));
        let e = none.address("shifts.temperature_k", &ff).unwrap_err();
        assert!(e.contains("has none"), "{e}");
    }
}
