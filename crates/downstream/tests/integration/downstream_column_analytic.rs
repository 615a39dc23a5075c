//! Column model against analytical results.
//!
//! For a linear system the outlet response to a rectangular inlet pulse of
//! width t_p has moments that are known exactly (Kubín 1965, Kučera 1965;
//! Levenspiel, *Chemical Reaction Engineering*, 3rd ed., ch. 13 for the
//! closed-closed (Danckwerts) vessel):
//!
//! * mean residence time  μ₁ = t₀ (1 + k') + t_p/2
//! * variance  σ² = (1 + k')² t₀² [2/Pe - 2/Pe² (1 - e^{-Pe})] + 2 k' t₀ / k_d + t_p²/12
//!
//! with t₀ = L/u, Pe = u L / D_ax, phase ratio F = (1-ε_t)/ε_t, Henry constant
//! H = k_a/k_d and retention factor k' = F H (k' = 0 without binding). The
//! kinetic term is the variance of the compound-Poisson time spent bound.

use biotwin_downstream::column::{self, ColumnResult, ColumnSpec};

/// A column file for a 10 s unit pulse of `tracer`, with optional linear binding.
fn pulse_file(binding: Option<(f64, f64)>, elements: usize) -> String {
    let (table, comp_binding) = match binding {
        Some((ka, kd)) => (
            "[binding]\nmodel = \"linear\"\n".to_string(),
            format!("[components.binding]\nka_per_s = {ka}\nkd_per_s = {kd}\n"),
        ),
        None => (String::new(), String::new()),
    };
    format!(
        r#"name = "pulse"
[column]
model = "lumped_rate_without_pores"
length_m = 0.1
inner_diameter_m = 0.01
total_porosity = 0.7
flow_rate_ml_per_min = 3.0
{table}
[[components]]
name = "tracer"
axial_dispersion_m2_per_s = 1e-7
{comp_binding}
[[sections]]
name = "pulse"
duration_s = 10.0
inlet_mol_per_m3 = [1.0]

[[sections]]
name = "elute"
duration_s = 790.0
inlet_mol_per_m3 = [0.0]

[discretisation]
elements = {elements}
polynomial_degree = 4

[solver]
relative_tolerance = 1e-7
absolute_tolerance_mol_per_m3 = 1e-10
output_interval_s = 0.1
"#
    )
}

/// Zeroth moment (mol·s/m³), mean (s) and variance (s²) of the outlet peak.
fn moments(r: &ColumnResult) -> (f64, f64, f64) {
    let (t, c) = (&r.time_s, &r.outlet_mol_per_m3[0]);
    let trapz = |f: &dyn Fn(usize) -> f64| {
        (1..t.len())
            .map(|i| 0.5 * (f(i) + f(i - 1)) * (t[i] - t[i - 1]))
            .sum::<f64>()
    };
    let m0 = trapz(&|i| c[i]);
    let m1 = trapz(&|i| t[i] * c[i]) / m0;
    let var = trapz(&|i| (t[i] - m1).powi(2) * c[i]) / m0;
    (m0, m1, var)
}

fn expected(spec: &ColumnSpec, k_prime: f64, kd: f64) -> (f64, f64) {
    let u = spec.interstitial_velocity_m_per_s();
    let t0 = spec.length_m / u;
    let pe = u * spec.length_m / spec.components[0].axial_dispersion_m2_per_s;
    let tp = 10.0;
    let mean = t0 * (1.0 + k_prime) + tp / 2.0;
    let dispersion = 2.0 / pe - 2.0 / (pe * pe) * (1.0 - (-pe).exp());
    let kinetic = if k_prime > 0.0 {
        2.0 * k_prime * t0 / kd
    } else {
        0.0
    };
    let var = (1.0 + k_prime).powi(2) * t0 * t0 * dispersion + kinetic + tp * tp / 12.0;
    (mean, var)
}

#[test]
fn non_binding_pulse_leaves_after_one_residence_time() {
    let spec = column::parse_column_text("pulse.toml", &pulse_file(None, 24)).unwrap();
    let r = column::simulate(&spec).unwrap();
    let (m0, mean, var) = moments(&r);
    let (mean_exact, var_exact) = expected(&spec, 0.0, 1.0);
    println!(
        "tracer: mean {mean:.6} s (exact {mean_exact:.6}), var {var:.5} s² (exact {var_exact:.5})"
    );
    assert!((m0 - 10.0).abs() < 1e-5, "recovered {m0} of 10 mol·s/m³");
    assert!(
        (mean - mean_exact).abs() / mean_exact < 1e-6,
        "{mean} vs {mean_exact}"
    );
    assert!(
        (var - var_exact).abs() / var_exact < 1e-5,
        "{var} vs {var_exact}"
    );
}

#[test]
fn linear_isotherm_pulse_has_the_analytical_retention_and_spreading() {
    let (ka, kd) = (1.0, 0.5);
    let spec = column::parse_column_text("linear.toml", &pulse_file(Some((ka, kd)), 24)).unwrap();
    let r = column::simulate(&spec).unwrap();
    let (m0, mean, var) = moments(&r);
    let k_prime = spec.phase_ratio() * ka / kd;
    let (mean_exact, var_exact) = expected(&spec, k_prime, kd);
    println!(
        "linear: mean {mean:.6} s (exact {mean_exact:.6}), var {var:.5} s² (exact {var_exact:.5})"
    );
    assert!((m0 - 10.0).abs() < 1e-4, "recovered {m0} of 10 mol·s/m³");
    assert!(
        (mean - mean_exact).abs() / mean_exact < 1e-6,
        "{mean} vs {mean_exact}"
    );
    assert!(
        (var - var_exact).abs() / var_exact < 1e-5,
        "{var} vs {var_exact}"
    );
    for b in &r.mass_balance {
        assert!(b.relative_error.abs() < 1e-8, "{b:?}");
    }
}

#[test]
fn linear_breakthrough_front_is_centred_at_the_retention_time() {
    // Step input: ∫ (1 - c/c_feed) dt over the run equals the mean residence
    // time t₀(1 + k') (first moment of the breakthrough curve).
    let text = pulse_file(Some((1.0, 0.5)), 24)
        .replace(
            "duration_s = 10.0\ninlet_mol_per_m3 = [1.0]",
            "duration_s = 10.0\ninlet_mol_per_m3 = [2.0]",
        )
        .replace(
            "duration_s = 790.0\ninlet_mol_per_m3 = [0.0]",
            "duration_s = 790.0\ninlet_mol_per_m3 = [2.0]",
        );
    let spec = column::parse_column_text("step.toml", &text).unwrap();
    let r = column::simulate(&spec).unwrap();
    let (t, c) = (&r.time_s, &r.outlet_mol_per_m3[0]);
    let first_moment: f64 = (1..t.len())
        .map(|i| 0.5 * ((1.0 - c[i] / 2.0) + (1.0 - c[i - 1] / 2.0)) * (t[i] - t[i - 1]))
        .sum();
    let u = spec.interstitial_velocity_m_per_s();
    let exact = spec.length_m / u * (1.0 + spec.phase_ratio() * 2.0);
    println!("breakthrough first moment {first_moment:.6} s (exact {exact:.6})");
    assert!((first_moment - exact).abs() / exact < 1e-6);
}

#[test]
fn equilibrium_dispersive_linear_pulse_has_no_kinetic_spreading() {
    // Rapid equilibrium: k' = F H, variance = (1+k')² t₀² [2/Pe - ...] + t_p²/12.
    let (ka, kd) = (1.0, 0.5);
    let text = pulse_file(Some((ka, kd)), 24).replace(
        "model = \"lumped_rate_without_pores\"",
        "model = \"equilibrium_dispersive\"",
    );
    let spec = column::parse_column_text("ed.toml", &text).unwrap();
    assert!(spec.rapid_equilibrium);
    let r = column::simulate(&spec).unwrap();
    let (m0, mean, var) = moments(&r);
    let k_prime = spec.phase_ratio() * ka / kd;
    let (mean_exact, var_with_kinetics) = expected(&spec, k_prime, kd);
    let var_exact = var_with_kinetics
        - 2.0 * k_prime * (spec.length_m / spec.interstitial_velocity_m_per_s()) / kd;
    println!(
        "ED linear: mean {mean:.6} s (exact {mean_exact:.6}), var {var:.5} s² (exact {var_exact:.5})"
    );
    assert!((m0 - 10.0).abs() < 1e-4, "{m0}");
    assert!(
        (mean - mean_exact).abs() / mean_exact < 1e-6,
        "{mean} vs {mean_exact}"
    );
    assert!(
        (var - var_exact).abs() / var_exact < 1e-5,
        "{var} vs {var_exact}"
    );
    for b in &r.mass_balance {
        assert!(b.relative_error.abs() < 1e-6, "{b:?}");
    }
}

#[test]
fn rapid_equilibrium_langmuir_is_the_limit_of_fast_kinetics() {
    let file = |kinetic: bool, scale: f64| {
        pulse_file(Some((1.0, 1.0)), 24)
            .replace(
                "model = \"linear\"",
                &format!("model = \"langmuir\"\nkinetic = {kinetic}"),
            )
            .replace(
                "ka_per_s = 1\nkd_per_s = 1\n",
                &format!(
                    "ka_m3_per_mol_s = {}\nkd_per_s = {}\nqmax_mol_per_m3 = 2.0\n",
                    2.0 * scale,
                    1.0 * scale
                ),
            )
    };
    let eq = column::simulate(&column::parse_column_text("eq.toml", &file(false, 1.0)).unwrap())
        .unwrap();
    let fast =
        column::simulate(&column::parse_column_text("k.toml", &file(true, 1e3)).unwrap()).unwrap();
    let (a, b) = (&eq.outlet_mol_per_m3[0], &fast.outlet_mol_per_m3[0]);
    let num: f64 = a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum();
    let den: f64 = b.iter().map(|y| y * y).sum();
    let e = (num / den).sqrt();
    println!("rapid-equilibrium vs kinetic (k × 1e3) Langmuir: rel. L2 {e:.2e}");
    assert!(e < 1e-2, "{e}");
    for bal in &eq.mass_balance {
        assert!(bal.relative_error.abs() < 1e-6, "{bal:?}");
    }
}

/// CADET-Core 5.1.1 with IS_KINETIC = 0 (algebraic binding, DAE) on a
/// two-component competitive Langmuir load/wash: reference in the fixtures.
#[test]
fn equilibrium_dispersive_model_matches_cadet_rapid_equilibrium() {
    let dir = std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .join("tests/fixtures/chromatography");
    let spec = column::load(dir.join("ed_langmuir.toml")).unwrap();
    let r = column::simulate(&spec).unwrap();
    let mut rdr = csv::Reader::from_path(dir.join("ed_langmuir_outlet.csv")).unwrap();
    let rows: Vec<Vec<f64>> = rdr
        .records()
        .map(|rec| rec.unwrap().iter().map(|x| x.parse().unwrap()).collect())
        .collect();
    for k in 0..2 {
        let (mut num, mut den) = (0.0, 0.0);
        for (i, row) in rows.iter().enumerate() {
            num += (r.outlet_mol_per_m3[k][i] - row[k + 1]).powi(2);
            den += row[k + 1].powi(2);
        }
        let e = (num / den).sqrt();
        println!("ED {}: relative L2 vs CADET {e:.3e}", r.component_names[k]);
        assert!(e <= 1e-3, "{e:.3e}");
    }
    // With q = q*(c) the hold-up is nonlinear in the state, so BDF conserves
    // it only to the order of its tolerance (1e-6 relative per step).
    for b in &r.mass_balance {
        assert!(b.relative_error.abs() < 5e-5, "{b:?}");
    }
}
