//! Surface diffusion in the general rate model (issue 18; CADET's
//! `PAR_SURFDIFFUSION`): the GRM Protein A case with D_s = 1e-12 m²/s on
//! the bound mAb against CADET-Core 5.1.1's converged outlet (DG 4 × 96
//! axial, particle DG 6 × 4, RELTOL 1e-9; `validation/cadet/compare.py`,
//! case `grm_langmuir_surface`), its mass balance, and the limit D_s → 0.

use std::path::PathBuf;

use biotwin_downstream::column::{self, ColumnResult};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .join("tests/fixtures/chromatography")
        .join(name)
}

fn rel_l2(a: &[f64], b: &[f64]) -> f64 {
    let num: f64 = a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum();
    let den: f64 = b.iter().map(|y| y * y).sum();
    (num / den).sqrt()
}

/// The GRM Protein A case with surface diffusion `ds` (m²/s) on the mAb
/// (None: the line left out), at `elements` axial elements.
fn run(ds: Option<f64>, elements: usize) -> ColumnResult {
    let mut text = std::fs::read_to_string(fixture("grm_langmuir.toml"))
        .unwrap()
        .replace("elements = 4", &format!("elements = {elements}"));
    if let Some(ds) = ds {
        text = text.replace(
            "pore_diffusion_m2_per_s = 1e-11\n",
            &format!("pore_diffusion_m2_per_s = 1e-11\nsurface_diffusion_m2_per_s = {ds:e}\n"),
        );
        assert!(text.contains("surface_diffusion_m2_per_s"));
    }
    let spec = column::parse_column_text("grm_surface.toml", &text).unwrap();
    column::simulate(&spec).unwrap()
}

#[test]
fn surface_diffusion_matches_cadet_conserves_mass_and_vanishes_with_ds() {
    let r = run(Some(1e-12), 4);
    let mut rdr = csv::Reader::from_path(fixture("grm_langmuir_surface_outlet.csv")).unwrap();
    let rows: Vec<Vec<f64>> = rdr
        .records()
        .map(|rec| rec.unwrap().iter().map(|x| x.parse().unwrap()).collect())
        .collect();
    for k in 0..2 {
        let reference: Vec<f64> = rows.iter().map(|row| row[k + 1]).collect();
        let e = rel_l2(&r.outlet_mol_per_m3[k], &reference);
        println!(
            "surface diffusion {}: rel. L2 vs CADET {e:.3e}",
            r.component_names[k]
        );
        assert!(e <= 1e-3, "{}: {e:.3e}", r.component_names[k]);
    }
    for b in &r.mass_balance {
        println!("balance {}: {:.2e}", b.component, b.relative_error);
        assert!(b.relative_error.abs() < 1e-10, "{b:?}");
    }
    // The case is one where surface diffusion matters: without it the mAb
    // outlet differs from CADET's (with it) by far more than the 1e-3 above.
    let none = run(None, 4);
    let reference: Vec<f64> = rows.iter().map(|row| row[2]).collect();
    let without = rel_l2(&none.outlet_mol_per_m3[1], &reference);
    println!("without surface diffusion: mAb rel. L2 vs CADET {without:.3e}");
    assert!(
        without > 1e-2,
        "surface diffusion changes the outlet by {without:.3e} only"
    );
    // D_s → 0: 1e-17 m²/s (1e-5 of the case) gives the outlet without it
    let tiny = run(Some(1e-17), 4);
    for k in 0..2 {
        let e = rel_l2(&tiny.outlet_mol_per_m3[k], &none.outlet_mol_per_m3[k]);
        println!("D_s = 1e-17 vs none, {}: {e:.2e}", none.component_names[k]);
        assert!(e < 1e-5, "{}: {e:.2e}", none.component_names[k]);
    }
}

#[test]
fn surface_diffusion_with_rapid_equilibrium_conserves_mass() {
    // Rapid equilibrium: the bound rows are algebraic and the surface flux
    // acts through the pore-liquid rows alone.
    let text = std::fs::read_to_string(fixture("grm_langmuir.toml"))
        .unwrap()
        .replace(
            "pore_diffusion_m2_per_s = 1e-11\n",
            "pore_diffusion_m2_per_s = 1e-11\nsurface_diffusion_m2_per_s = 1e-12\n",
        )
        .replace("modulator = true", "modulator = true\nkinetic = false");
    let spec = column::parse_column_text("grm_surface_eq.toml", &text).unwrap();
    let r = column::simulate(&spec).unwrap();
    for b in &r.mass_balance {
        assert!(b.relative_error.abs() < 1e-10, "{b:?}");
    }
    let eluted: f64 = r.section_outlet_mol[2][1];
    let loaded = r.mass_balance[1].inlet_mol;
    assert!(
        eluted > 0.5 * loaded && eluted <= loaded,
        "eluted {eluted} of {loaded}"
    );
}

#[test]
fn surface_diffusion_is_refused_where_it_cannot_act() {
    let base = std::fs::read_to_string(fixture("grm_langmuir.toml")).unwrap();
    // on a component that does not bind
    let text = base.replace(
        "pore_diffusion_m2_per_s = 1e-10\n",
        "pore_diffusion_m2_per_s = 1e-10\nsurface_diffusion_m2_per_s = 1e-12\n",
    );
    let e = column::parse_column_text("bad.toml", &text)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("components[0].surface_diffusion_m2_per_s") && e.contains("binds"),
        "{e}"
    );
    // negative
    let text = base.replace(
        "pore_diffusion_m2_per_s = 1e-11\n",
        "pore_diffusion_m2_per_s = 1e-11\nsurface_diffusion_m2_per_s = -1e-12\n",
    );
    let e = column::parse_column_text("bad.toml", &text)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("components[1].surface_diffusion_m2_per_s") && e.contains("-0.000000000001"),
        "{e}"
    );
    // a model without pore diffusion
    let text = base
        .replace(
            "model = \"general_rate\"",
            "model = \"lumped_rate_with_pores\"",
        )
        .replace("radial_polynomial_degree = 4", "#")
        .replace("pore_diffusion_m2_per_s = 1e-10\n", "")
        .replace(
            "pore_diffusion_m2_per_s = 1e-11\n",
            "surface_diffusion_m2_per_s = 1e-12\n",
        );
    let e = column::parse_column_text("bad.toml", &text)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("components[1].surface_diffusion_m2_per_s"),
        "{e}"
    );
    // beyond what any solute could do (runs without end otherwise)
    let text = base.replace(
        "pore_diffusion_m2_per_s = 1e-11\n",
        "pore_diffusion_m2_per_s = 1e-11\nsurface_diffusion_m2_per_s = 1e-3\n",
    );
    let e = column::parse_column_text("bad.toml", &text)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("components[1].surface_diffusion_m2_per_s") && e.contains("1e-8"),
        "{e}"
    );
}

/// The mesh refinement's limits are checked before anything runs: a
/// starting mesh it could not double within its 512 elements, and an
/// accuracy finer than the time integrator can tell apart.
#[test]
fn mesh_refinement_limits_are_refused_up_front() {
    let base = std::fs::read_to_string(fixture("grm_langmuir.toml")).unwrap();
    assert!(base.contains("elements = 4\n"));
    let text = base.replace("elements = 4\n", "elements = 300\naccuracy = 1e-3\n");
    let e = column::parse_column_text("bad.toml", &text)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("discretisation.elements") && e.contains("256"),
        "{e}"
    );
    let text = base.replace("elements = 4\n", "elements = 4\naccuracy = 1e-7\n");
    let e = column::parse_column_text("bad.toml", &text)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("discretisation.accuracy") && e.contains("relative_tolerance"),
        "{e}"
    );
}

#[test]
fn surface_diffusion_with_scaled_sma_rows_conserves_mass() {
    // SMA's kinetic bound rows are divided by their rate scale k_a Λ^ν: the
    // surface term in those rows must be scaled with them. CADET's
    // load-wash-elute GRM (rates × 0.01, 4 elements) with D_s = 1e-13 m²/s
    // on the three proteins.
    let text = std::fs::read_to_string(fixture("grm_sma_lwe.toml"))
        .unwrap()
        .replace("sma_ka = 35.5", "sma_ka = 0.355")
        .replace("sma_ka = 1.59", "sma_ka = 0.0159")
        .replace("sma_ka = 7.7", "sma_ka = 0.077")
        .replace("sma_kd = 1000.0", "sma_kd = 10.0")
        .replace("elements = 16\n", "elements = 4\n")
        .replace(
            "pore_diffusion_m2_per_s = 6.07e-11\n",
            "pore_diffusion_m2_per_s = 6.07e-11\nsurface_diffusion_m2_per_s = 1e-13\n",
        );
    assert_eq!(text.matches("surface_diffusion_m2_per_s").count(), 3);
    let spec = column::parse_column_text("lwe_surface.toml", &text).unwrap();
    let r = column::simulate(&spec).unwrap();
    for b in &r.mass_balance {
        assert!(b.relative_error.abs() < 1e-8, "{b:?}");
    }
    for k in 1..4 {
        let eluted = r.section_outlet_mol[2][k] / r.mass_balance[k].inlet_mol;
        assert!(
            eluted > 0.99 && eluted < 1.001,
            "{}: {eluted}",
            r.component_names[k]
        );
    }
}
