//! Scale-up calculator: the classic power laws under geometric similarity,
//! every criterion achieving its criterion on the shipped vessels, and flags.

use std::path::{Path, PathBuf};

use biotwin_core::equipment::Equipment;
use biotwin_core::scaleup::{
    Criterion, OperatingPoint, ScaleUpParameters, ScaleUpReport, VesselConditions, render_table,
    scale_up, translate,
};

fn catalog(id: &str) -> Equipment {
    let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .join("process-models/equipment")
        .join(format!("{id}.toml"));
    Equipment::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

/// A vessel with every length of a 100 L reference multiplied by `s`
/// (volumes by s³): Rushton below a pitched blade, dished bottom.
fn synthetic_text(s: f64) -> String {
    let l = |x: f64| x * s;
    let vol = |x: f64| x * s.powi(3);
    format!(
        r#"id = "synthetic"
name = "geometrically similar test vessel, scale {s}"
kind = "stainless"

[vessel]
tank_diameter_m = {t}
bottom = "dished"
bottom_depth_m = {dish}
straight_side_height_m = {side}
headspace_gauge_pressure_bar = 0.1
working_volume_min_l = {vmin}
working_volume_max_l = {vmax}

[[impellers]]
type = "rushton"
diameter_m = {d1}
power_number = 5.0
blade_width_m = {w1}
clearance_m = {c1}

[[impellers]]
type = "pitched-blade"
diameter_m = {d2}
power_number = 1.4
blade_width_m = {w2}
clearance_m = {c2}

[sparger]
type = "ring"
gas_flow_min_slpm = 0.0
gas_flow_max_slpm = {gmax}

[agitation]
min_rpm = 0
max_rpm = 1000

[kla]
a = 93.6
alpha = 0.4
beta = 0.5
p_per_v_min_w_per_m3 = 1
p_per_v_max_w_per_m3 = 1000
v_s_min_m_per_s = 1e-6
v_s_max_m_per_s = 1e-1

[sources]
vessel = "synthetic"
impellers = "synthetic"
sparger = "synthetic"
agitation = "synthetic"
kla = "synthetic"
"#,
        t = l(0.45),
        dish = l(0.1),
        side = l(0.8),
        vmin = vol(40.0),
        vmax = vol(100.0),
        d1 = l(0.15),
        w1 = l(0.03),
        c1 = l(0.12),
        d2 = l(0.18),
        w2 = l(0.036),
        c2 = l(0.4),
        gmax = vol(100.0),
    )
}

fn synthetic(s: f64, dir: &Path) -> Equipment {
    let path: PathBuf = dir.join(format!("synthetic-{s}.toml"));
    std::fs::write(&path, synthetic_text(s)).unwrap();
    Equipment::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn op(volume_m3: f64, rpm: f64, slpm: f64) -> OperatingPoint {
    OperatingPoint {
        volume_m3,
        agitation_rps: rpm / 60.0,
        sparge_gas_slpm: slpm,
        temperature_k: 310.15,
        // 5e-4 mol/(m³ s) = 1.8 mmol/(L h): a CHO culture near 2e7 cells/mL.
        peak_our_mol_per_m3_s: 5e-4,
    }
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs()
}

fn assert_ratio(what: &str, actual: f64, expected: f64) {
    assert!(
        rel(actual, expected) < 1e-9,
        "{what}: ratio {actual} expected {expected} (rel err {:e})",
        rel(actual, expected)
    );
}

fn target(r: &ScaleUpReport, c: Criterion) -> &VesselConditions {
    &r.for_criterion(c).unwrap().conditions
}

#[test]
fn geometric_similarity_reproduces_the_classic_power_laws() {
    let tmp = tempfile::tempdir().unwrap();
    let small = synthetic(1.0, tmp.path());
    let point = op(0.1, 200.0, 2.0);
    for s in [2.0, 4.7, 10.0] {
        let big = synthetic(s, tmp.path());
        let r = scale_up(
            &small,
            &point,
            &big,
            Some(point.volume_m3 * s.powi(3)),
            &ScaleUpParameters::default(),
        )
        .unwrap();
        let src = &r.source_conditions;

        let pv = target(&r, Criterion::PPerV);
        assert_ratio(
            "P/V: N",
            pv.agitation_rpm / src.agitation_rpm,
            s.powf(-2.0 / 3.0),
        );
        assert_ratio(
            "P/V: tip",
            pv.tip_speed_m_per_s / src.tip_speed_m_per_s,
            s.powf(1.0 / 3.0),
        );
        assert_ratio("P/V: Re", pv.reynolds / src.reynolds, s.powf(4.0 / 3.0));
        assert_ratio(
            "P/V: power",
            pv.ungassed_power_w / src.ungassed_power_w,
            s.powi(3),
        );
        assert_ratio(
            "P/V: P/V",
            pv.ungassed_p_per_v_w_per_m3 / src.ungassed_p_per_v_w_per_m3,
            1.0,
        );
        // θ = (Nθ)/N with Nθ scale-invariant: θ ∝ s^(2/3).
        assert_ratio(
            "P/V: mixing",
            pv.mixing_time_s / src.mixing_time_s,
            s.powf(2.0 / 3.0),
        );

        let tip = target(&r, Criterion::TipSpeed);
        assert_ratio(
            "tip: P/V",
            tip.ungassed_p_per_v_w_per_m3 / src.ungassed_p_per_v_w_per_m3,
            1.0 / s,
        );
        assert_ratio("tip: N", tip.agitation_rpm / src.agitation_rpm, 1.0 / s);

        let n = target(&r, Criterion::ConstantN);
        assert_ratio(
            "N: P/V",
            n.ungassed_p_per_v_w_per_m3 / src.ungassed_p_per_v_w_per_m3,
            s * s,
        );
        assert_ratio("N: tip", n.tip_speed_m_per_s / src.tip_speed_m_per_s, s);

        let re = target(&r, Criterion::Reynolds);
        assert_ratio("Re: N", re.agitation_rpm / src.agitation_rpm, s.powi(-2));
        assert_ratio(
            "Re: P/V",
            re.ungassed_p_per_v_w_per_m3 / src.ungassed_p_per_v_w_per_m3,
            s.powi(-4),
        );

        // Equal mixing time in similar vessels needs equal N.
        let mix = target(&r, Criterion::MixingTime);
        assert_ratio("mixing: N", mix.agitation_rpm / src.agitation_rpm, 1.0);

        // Equal vvm: gas flow scales with volume.
        let vvm = target(&r, Criterion::Vvm);
        assert_ratio(
            "vvm: gas",
            vvm.sparge_gas_slpm / src.sparge_gas_slpm,
            s.powi(3),
        );
        // Liquid height scales with s.
        assert_ratio("H", pv.liquid_height_m / src.liquid_height_m, s);
    }
}

/// The quantity a criterion keeps equal, read from a column.
fn kept(c: Criterion, v: &VesselConditions) -> f64 {
    match c {
        Criterion::PPerV => v.ungassed_p_per_v_w_per_m3,
        Criterion::TipSpeed => v.tip_speed_m_per_s,
        Criterion::Kla => v.kla_per_h,
        Criterion::Otr => v.otr_air_mmol_per_l_h,
        Criterion::Vvm => v.vvm_per_min,
        Criterion::VS => v.superficial_gas_velocity_m_per_s,
        Criterion::MixingTime => v.mixing_time_s,
        Criterion::Reynolds => v.reynolds,
        Criterion::ConstantN => v.agitation_rpm,
    }
}

#[test]
fn every_criterion_achieves_its_criterion_on_the_shipped_vessels() {
    let pairs = [
        (
            "bench-3l-glass",
            2.0e-3,
            250.0,
            0.1,
            "sut-2000l-pbt-drilled",
        ),
        (
            "bench-3l-glass",
            2.0e-3,
            250.0,
            0.1,
            "sut-2000l-microsparger",
        ),
        ("bench-3l-glass", 2.0e-3, 250.0, 0.1, "sut-50l"),
        ("sut-200l", 0.2, 90.0, 4.0, "ss-15000l"),
        ("sut-2000l-microsparger", 1.8, 70.0, 30.0, "bench-3l-glass"),
    ];
    for (src_id, v, rpm, slpm, tgt_id) in pairs {
        let r = scale_up(
            &catalog(src_id),
            &op(v, rpm, slpm),
            &catalog(tgt_id),
            None,
            &ScaleUpParameters::default(),
        )
        .unwrap();
        assert_eq!(r.by_criterion.len(), Criterion::ALL.len());
        for res in &r.by_criterion {
            let c = res.criterion;
            let (s, t) = (kept(c, &r.source_conditions), kept(c, &res.conditions));
            assert!(rel(t, s) < 1e-9, "{src_id} -> {tgt_id}, {c}: {t} vs {s}");
            // Agitation criteria keep vvm; gas criteria keep P/V.
            match c {
                Criterion::VS => {
                    let pv = (
                        res.conditions.ungassed_p_per_v_w_per_m3,
                        r.source_conditions.ungassed_p_per_v_w_per_m3,
                    );
                    assert!(rel(pv.0, pv.1) < 1e-9, "{c}");
                }
                Criterion::Vvm => {
                    let pv = (
                        res.conditions.ungassed_p_per_v_w_per_m3,
                        r.source_conditions.ungassed_p_per_v_w_per_m3,
                    );
                    assert!(rel(pv.0, pv.1) < 1e-9, "{c}");
                }
                _ => {
                    let q = (res.conditions.vvm_per_min, r.source_conditions.vvm_per_min);
                    assert!(rel(q.0, q.1) < 1e-12, "{c}");
                }
            }
        }
        // Default target volume: the target's maximum working volume.
        let vmax = catalog(tgt_id).working_volume_range_m3().1;
        assert!(rel(r.target.volume_l, vmax * 1e3) < 1e-12);
    }
}

#[test]
fn keeping_v_s_lowers_vvm_at_scale_and_co2_accumulates() {
    // 3 L at 0.05 vvm to 2000 L at equal superficial velocity: the tall tank
    // gets a tenth of the bench's vvm, the gas-flow term p·CPR·V/G of the CO2
    // balance grows in proportion, and pCO2 passes the harmful range.
    let bench = catalog("bench-3l-glass");
    let point = op(2.0e-3, 250.0, 0.1);
    let p = ScaleUpParameters::default();
    for id in ["sut-2000l-pbt-drilled", "sut-2000l-microsparger"] {
        let r = scale_up(&bench, &point, &catalog(id), None, &p).unwrap();
        let src = &r.source_conditions;
        let vs = target(&r, Criterion::VS);
        assert!(vs.vvm_per_min < 0.2 * src.vvm_per_min, "{id}");
        assert!(
            vs.pco2_mmhg > 3.0 * src.pco2_mmhg,
            "{id}: {} vs {}",
            vs.pco2_mmhg,
            src.pco2_mmhg
        );
        // Primer §2: above about 80-150 mmHg pCO2 inhibits growth.
        assert!(vs.pco2_mmhg > 80.0, "{id}: {}", vs.pco2_mmhg);
        assert_eq!(
            vs.flags.iter().any(|f| f.quantity == "pco2_mmhg"),
            vs.pco2_mmhg > p.pco2_limit_mmhg
        );
        // At equal vvm the gas-flow term stays put and pCO2 does not accumulate.
        let vvm = target(&r, Criterion::Vvm);
        assert!(vvm.pco2_mmhg < p.pco2_limit_mmhg, "{id}");
    }
}

#[test]
fn microsparger_gives_high_kla_but_strips_co2_poorly_at_low_flow() {
    // Both 2000 L vessels at the same P/V and a low 0.005 vvm.
    let bench = catalog("bench-3l-glass");
    let point = op(2.0e-3, 250.0, 0.01);
    let p = ScaleUpParameters::default();
    let m = scale_up(&bench, &point, &catalog("sut-2000l-microsparger"), None, &p).unwrap();
    let d = scale_up(&bench, &point, &catalog("sut-2000l-pbt-drilled"), None, &p).unwrap();
    let (m, d) = (target(&m, Criterion::PPerV), target(&d, Criterion::PPerV));
    assert!(
        m.kla_per_h > 1.8 * d.kla_per_h,
        "kLa {} vs {}",
        m.kla_per_h,
        d.kla_per_h
    );
    // Nearly twice the kLa would nearly halve a transfer-limited pCO2; gas-limited removal
    // barely moves.
    assert!(
        m.pco2_mmhg > 0.7 * d.pco2_mmhg,
        "pCO2 {} vs {}",
        m.pco2_mmhg,
        d.pco2_mmhg
    );
    // ... and stays in the range that inhibits growth (primer §2: 80-150 mmHg).
    assert!(m.pco2_mmhg > 80.0, "{}", m.pco2_mmhg);
}

#[test]
fn values_outside_limits_are_flagged() {
    // Constant N from 250 rpm on the bench is far above the 15 m³ tank's 80 rpm.
    let r = scale_up(
        &catalog("bench-3l-glass"),
        &op(2.0e-3, 250.0, 0.1),
        &catalog("ss-15000l"),
        None,
        &ScaleUpParameters::default(),
    )
    .unwrap();
    let n = target(&r, Criterion::ConstantN);
    assert!(
        n.flags.iter().any(|f| f.quantity == "agitation_rpm"),
        "{:?}",
        n.flags
    );
    assert!(
        n.flags
            .iter()
            .any(|f| f.quantity == "gassed_p_per_v_w_per_m3"),
        "{:?}",
        n.flags
    );
    // Constant P/V keeps the agitation inside the range.
    let pv = target(&r, Criterion::PPerV);
    assert!(
        !pv.flags.iter().any(|f| f.quantity == "agitation_rpm"),
        "{:?}",
        pv.flags
    );
    // A target volume outside the working range is flagged too.
    let r = scale_up(
        &catalog("bench-3l-glass"),
        &op(2.0e-3, 250.0, 0.1),
        &catalog("sut-2000l-pbt-drilled"),
        Some(0.5),
        &ScaleUpParameters::default(),
    )
    .unwrap();
    assert!(
        target(&r, Criterion::PPerV)
            .flags
            .iter()
            .any(|f| f.quantity == "volume_l")
    );
}

#[test]
fn translation_json_and_table() {
    let bench = catalog("bench-3l-glass");
    let big = catalog("sut-2000l-pbt-drilled");
    let point = op(2.0e-3, 250.0, 0.1);
    let p = ScaleUpParameters::default();
    let sp = translate(&bench, &point, &big, None, Criterion::PPerV, &p).unwrap();
    let r = scale_up(&bench, &point, &big, None, &p).unwrap();
    let col = target(&r, Criterion::PPerV);
    assert_eq!(sp.agitation_rpm, col.agitation_rpm);
    assert_eq!(sp.sparge_gas_slpm, col.sparge_gas_slpm);
    assert!(rel(sp.sparge_gas_slpm, 0.1 / 2.0 * 2000.0) < 1e-12);

    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["by_criterion"][0]["criterion"], "p_per_v");
    assert!(json["source_conditions"]["pco2_mmhg"].as_f64().unwrap() > 0.0);

    let table = render_table(&r);
    println!("{table}");
    for c in Criterion::ALL {
        assert!(table.contains(c.as_str()), "{c}");
    }
    for row in [
        "agitation [rpm]",
        "kLa O2 [1/h]",
        "pCO2 at peak OUR [mmHg]",
        "Kolmogorov length [um]",
    ] {
        assert!(table.contains(row), "{row}");
    }
    // Every data row has one cell per column.
    let header_cols = Criterion::ALL.len() + 1;
    let row = table
        .lines()
        .find(|l| l.starts_with("agitation [rpm]"))
        .unwrap();
    assert_eq!(row[30..].split_whitespace().count(), header_cols, "{row}");
}

#[test]
fn invalid_operating_point_is_a_diagnostic_not_a_panic() {
    let bench = catalog("bench-3l-glass");
    let mut point = op(2.0e-3, 250.0, 0.1);
    point.sparge_gas_slpm = 0.0;
    point.volume_m3 = f64::NAN;
    let err = scale_up(&bench, &point, &bench, None, &ScaleUpParameters::default()).unwrap_err();
    assert!(err.mentions("sparge_gas_slpm"), "{err}");
    assert!(err.mentions("volume_m3"), "{err}");
}

#[test]
fn invalid_parameters_are_diagnostics() {
    let bench = catalog("bench-3l-glass");
    let p = ScaleUpParameters {
        do_setpoint_fraction: 1.0,
        viscosity_pa_s: 0.0,
        ..ScaleUpParameters::default()
    };
    let err = scale_up(&bench, &op(2.0e-3, 250.0, 0.1), &bench, None, &p).unwrap_err();
    assert!(err.mentions("parameters.do_setpoint_fraction"), "{err}");
    assert!(err.mentions("parameters.viscosity_pa_s"), "{err}");
    assert_eq!(err.len(), 2, "{err}");
}

/// The source column of the 2000 L drilled-sparger vessel recomputed by hand
/// from the file's numbers and textbook constants, independently of the
/// library's helpers.
#[test]
fn source_column_matches_a_hand_calculation() {
    let eq = catalog("sut-2000l-pbt-drilled");
    let (v, rpm, slpm, t, our) = (1.6, 75.0, 32.0, 310.15, 5e-4);
    let r = scale_up(
        &eq,
        &op(v, rpm, slpm),
        &eq,
        None,
        &ScaleUpParameters::default(),
    )
    .unwrap();
    let c = &r.source_conditions;

    let pi = std::f64::consts::PI;
    let n = rpm / 60.0;
    // Geometry: T = 1.2 m, dished head 0.2 m deep.
    let area = pi * 0.36;
    let head = 2.0 / 3.0 * pi * 0.36 * 0.2;
    let h = 0.2 + (v - head) / area;
    assert!(rel(c.liquid_height_m, h) < 1e-12);
    // Power: one pitched blade, Np 1.5, D 0.4 m.
    let p0 = 1.5 * 1000.0 * n.powi(3) * 0.4_f64.powi(5);
    assert!(rel(c.ungassed_power_w, p0) < 1e-12);
    // Actual gas flow at 37 °C and p_mean = 1.02 bar + ρ g H/2.
    let p_mean = 101_325.0 + 2000.0 + 0.5 * 1000.0 * 9.80665 * h;
    let mol_per_s = slpm / 60_000.0 * 101_325.0 / (8.314_462_618 * 273.15);
    let q = mol_per_s * 8.314_462_618 * t / p_mean;
    let v_s = q / area;
    assert!(rel(c.superficial_gas_velocity_m_per_s, v_s) < 1e-12);
    // Hughmark ratio (capped at 1).
    let ratio = (0.10
        * (q / (n * v)).powf(-0.25)
        * (n * n * 0.4_f64.powi(4) / (9.80665 * 0.08 * v.powf(2.0 / 3.0))).powf(-0.2))
    .min(1.0);
    let pg = p0 * ratio;
    assert!(rel(c.gassed_power_w, pg) < 1e-12);
    // van 't Riet constants of the file.
    let kla_h = 93.6 * (pg / v).powf(0.4) * v_s.powf(0.5);
    assert!(rel(c.kla_per_h, kla_h) < 1e-12);
    // Kolmogorov length with ν = 0.9e-6 m²/s.
    let eta_um = ((0.9e-6_f64).powi(3) / (pg / (1000.0 * v))).powf(0.25) * 1e6;
    assert!(rel(c.kolmogorov_length_um, eta_um) < 1e-12);
    // Mixing time: 5.2/N Np^(-1/3) (T/D)² (H/T)^2.4.
    let theta = 5.2 / n * 1.5_f64.powf(-1.0 / 3.0) * 9.0 * (h / 1.2).powf(2.4);
    assert!(rel(c.mixing_time_s, theta) < 1e-12);
    // pCO2: CPR/(kLa_CO2 H) + p_mean CPR V/G, Henry for CO2 from Sander (2015).
    let h_co2 = 3.3e-4 * (2400.0 * (1.0 / t - 1.0 / 298.15)).exp();
    let cpr = 0.95 * our;
    let pco2 = cpr / (0.89 * kla_h / 3600.0 * h_co2) + p_mean * cpr * v / mol_per_s;
    assert!(rel(c.pco2_mmhg, pco2 / 133.322_387_415) < 1e-12);
    // 2000 L at 75 rpm, 0.02 vvm: values of a real single-use vessel.
    assert!(
        (10.0..40.0).contains(&c.ungassed_p_per_v_w_per_m3),
        "{}",
        c.ungassed_p_per_v_w_per_m3
    );
    assert!((3.0..20.0).contains(&c.kla_per_h), "{}", c.kla_per_h);
    assert!(
        (30.0..150.0).contains(&c.mixing_time_s),
        "{}",
        c.mixing_time_s
    );
}
