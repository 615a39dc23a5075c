//! Inputs added by issue 18: SMA reference concentrations, polynomial
//! (quadratic, cubic) inlet sections, and their validation.

use biotwin_core::error::Diagnostics;
use biotwin_downstream::column;

fn fixture_text(name: &str) -> String {
    let p = std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .join("tests/fixtures/chromatography")
        .join(name);
    std::fs::read_to_string(p).unwrap()
}

fn problems(text: &str) -> Diagnostics {
    column::parse_column_text("bad.toml", text).unwrap_err()
}

/// A non-binding tracer on the shipped Protein A column (LRM), fed by a
/// cubic then a quadratic inlet profile.
fn tracer(sections: &str) -> String {
    format!(
        r#"name = "tracer"
[column]
model = "lumped_rate_without_pores"
length_m = 0.1
inner_diameter_m = 0.01
total_porosity = 0.7
flow_rate_ml_per_min = 3.926990816987242

[[components]]
name = "tracer"
axial_dispersion_m2_per_s = 2e-7
{sections}
[solver]
relative_tolerance = 1e-8
absolute_tolerance_mol_per_m3 = 1e-10
output_interval_s = 1.0
"#
    )
}

#[test]
fn polynomial_inlet_sections_are_integrated_exactly() {
    // c_in = 1 + 0.01 τ - 1e-4 τ² + 2e-7 τ³ over 300 s (≥ 0 throughout),
    // then c_in = 1e-6 τ² over 600 s
    let text = tracer(
        r#"
[[sections]]
name = "cubic"
duration_s = 300.0
inlet_mol_per_m3 = [1.0]
gradient_mol_per_m3_per_s = [0.01]
quadratic_mol_per_m3_per_s2 = [-1e-4]
cubic_mol_per_m3_per_s3 = [2e-7]

[[sections]]
name = "quadratic"
duration_s = 600.0
inlet_mol_per_m3 = [0.0]
quadratic_mol_per_m3_per_s2 = [1e-6]
"#,
    );
    let spec = column::parse_column_text("poly.toml", &text).unwrap();
    let r = column::simulate(&spec).unwrap();
    let b = &r.mass_balance[0];
    // ∫ c_in dt: 300 + 0.01·300²/2 - 1e-4·300³/3 + 2e-7·300⁴/4, + 1e-6·600³/3
    let area = std::f64::consts::PI * 0.01f64.powi(2) / 4.0;
    let q = 3.926990816987242e-6 / 60.0;
    let expected = q * (300.0 + 450.0 - 900.0 + 405.0 + 72.0);
    println!(
        "inlet {:.9e} mol, expected {expected:.9e}; balance {:.2e}",
        b.inlet_mol, b.relative_error
    );
    assert!((b.inlet_mol - expected).abs() < 1e-12 * expected);
    assert!(b.relative_error.abs() < 1e-10, "{b:?}");
    // the outlet follows the inlet one residence time later (t0 = L ε A / Q)
    let t0 = 0.1 * 0.7 * area / q;
    let inlet = |t: f64| {
        if t < 300.0 {
            1.0 + 0.01 * t - 1e-4 * t * t + 2e-7 * t.powi(3)
        } else {
            1e-6 * (t - 300.0).powi(2)
        }
    };
    for t in [150.0, 250.0, 700.0, 850.0] {
        let c = r.outlet_mol_per_m3[0][t as usize];
        let lagged = inlet(t - t0);
        println!("t = {t} s: outlet {c:.4}, inlet at t - t0 {lagged:.4}");
        assert!(
            (c - lagged).abs() < 0.02 * lagged.abs().max(0.1),
            "{c} vs {lagged}"
        );
    }
}

#[test]
fn a_polynomial_inlet_that_goes_negative_is_refused_with_where() {
    let text = tracer(
        r#"
[[sections]]
name = "dip"
duration_s = 100.0
inlet_mol_per_m3 = [1.0]
gradient_mol_per_m3_per_s = [-0.04]
quadratic_mol_per_m3_per_s2 = [4e-4]
"#,
    );
    // 1 - 0.04 τ + 4e-4 τ² has its minimum 0 at τ = 50 s: allowed
    assert!(column::parse_column_text("ok.toml", &text).is_ok());
    let d = problems(
        &text
            .replace("[4e-4]", "[3e-4]")
            .replace("name = \"tracer\"\n[column]", "name = \"tracer\"\n[column]"),
    );
    println!("{d}");
    let p = d
        .iter()
        .find(|x| x.field == "sections[0].cubic_mol_per_m3_per_s3")
        .expect("diagnostic");
    assert!(p.expected.contains("tracer ≥ 0"), "{p}");
    assert!(p.found.contains("66.6667 s into the section"), "{p}");
    let d = problems(&text.replace("[4e-4]", "[4e-4, 1.0]"));
    assert!(
        d.iter()
            .any(|x| x.field == "sections[0].quadratic_mol_per_m3_per_s2"),
        "{d}"
    );
}

#[test]
fn sma_reference_concentrations_are_read_and_checked() {
    let cex = fixture_text("cex_sma_gradient.toml");
    // q_ref = Λ, c_ref = 50 mM with ka, kd rescaled: the same column
    let scaled = cex
        .replace(
            "ionic_capacity_mol_per_m3 = 1200.0",
            "ionic_capacity_mol_per_m3 = 1200.0\nreference_liquid_mol_per_m3 = 50.0\nreference_solid_mol_per_m3 = 1200.0",
        )
        .replace(
            "sma_ka = 3.55e-13\nsma_kd = 1e-11\ncharacteristic_charge = 4.7",
            &format!(
                "sma_ka = {}\nsma_kd = {}\ncharacteristic_charge = 4.7",
                3.55e-13 * 1200f64.powf(4.7),
                1e-11 * 50f64.powf(4.7)
            ),
        )
        .replace(
            "sma_ka = 3.55e-13\nsma_kd = 1e-11\ncharacteristic_charge = 5.29",
            &format!(
                "sma_ka = {}\nsma_kd = {}\ncharacteristic_charge = 5.29",
                3.55e-13 * 1200f64.powf(5.29),
                1e-11 * 50f64.powf(5.29)
            ),
        );
    assert_ne!(scaled, cex);
    let a = column::simulate(&column::parse_column_text("a.toml", &cex).unwrap()).unwrap();
    let b = column::simulate(&column::parse_column_text("b.toml", &scaled).unwrap()).unwrap();
    for k in 0..3 {
        let num: f64 = a.outlet_mol_per_m3[k]
            .iter()
            .zip(&b.outlet_mol_per_m3[k])
            .map(|(x, y)| (x - y).powi(2))
            .sum();
        let den: f64 = a.outlet_mol_per_m3[k].iter().map(|x| x * x).sum();
        let e = (num / den).sqrt();
        println!("component {k}: with and without reference concentrations, relative L2 {e:.2e}");
        // the same equations; only the rounding (and so the step sequence)
        // differs: agreement at the integrator's tolerance
        assert!(e < 1e-4, "{e}");
    }
    let d = problems(&cex.replace(
        "ionic_capacity_mol_per_m3 = 1200.0",
        "ionic_capacity_mol_per_m3 = 1200.0\nreference_liquid_mol_per_m3 = 0.0",
    ));
    assert!(
        d.iter()
            .any(|x| x.field == "binding.reference_liquid_mol_per_m3" && x.found == "0"),
        "{d}"
    );
    let grm = fixture_text("grm_langmuir.toml").replace(
        "modulator = true",
        "modulator = true\nreference_solid_mol_per_m3 = 2.0",
    );
    let d = problems(&grm);
    assert!(
        d.iter()
            .any(|x| x.field == "binding.reference_solid_mol_per_m3"),
        "{d}"
    );
}
