//! Models with pores: the general rate model against CADET-Core 5.1.1 (outlet
//! converged with DG 4 × 96 axially and 4 × 6 radially, RELTOL 1e-9) with both
//! radial discretisations, mass conservation across film and pores, and the
//! lumped-pore limit.

use std::path::PathBuf;

use biotwin_downstream::column::{self, ColumnSpec};

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

fn reference_of(name: &str) -> Vec<Vec<f64>> {
    let mut rdr = csv::Reader::from_path(fixture(name)).unwrap();
    rdr.records()
        .map(|rec| rec.unwrap().iter().map(|x| x.parse().unwrap()).collect())
        .collect()
}

fn check_against_cadet(text: &str, label: &str, reference_csv: &str) {
    let spec = column::parse_column_text("grm.toml", text).unwrap();
    let r = column::simulate(&spec).unwrap();
    let rows = reference_of(reference_csv);
    for k in 0..2 {
        let reference: Vec<f64> = rows.iter().map(|row| row[k + 1]).collect();
        let e = rel_l2(&r.outlet_mol_per_m3[k], &reference);
        println!(
            "{label} {}: relative L2 vs CADET {e:.3e}",
            r.component_names[k]
        );
        assert!(e <= 1e-3, "{}: {e:.3e}", r.component_names[k]);
    }
    for b in &r.mass_balance {
        assert!(b.relative_error.abs() < 1e-8, "{b:?}");
    }
}

#[test]
fn general_rate_model_matches_cadet_with_spectral_particles() {
    let text = std::fs::read_to_string(fixture("grm_langmuir.toml")).unwrap();
    check_against_cadet(
        &text,
        "spectral radial, degree 4",
        "grm_langmuir_outlet.csv",
    );
}

#[test]
fn general_rate_model_matches_cadet_with_finite_volume_shells() {
    let text = std::fs::read_to_string(fixture("grm_langmuir.toml"))
        .unwrap()
        .replace("radial_polynomial_degree = 4", "radial_cells = 24 #");
    check_against_cadet(&text, "24 radial shells", "grm_langmuir_outlet.csv");
}

fn lumped_pore_text() -> String {
    std::fs::read_to_string(fixture("grm_langmuir.toml"))
        .unwrap()
        .replace(
            "model = \"general_rate\"",
            "model = \"lumped_rate_with_pores\"",
        )
        .replace("radial_polynomial_degree = 4", "#")
        .replace("pore_diffusion_m2_per_s = 1e-11\n", "")
        .replace("pore_diffusion_m2_per_s = 1e-10\n", "")
}

/// CADET's LUMPED_RATE_MODEL_WITH_PORES on the same case (reference DG 4 × 96,
/// RELTOL 1e-9, built by validation/cadet/compare.py, case lrmp_langmuir).
#[test]
fn lumped_rate_model_with_pores_matches_cadet() {
    // without pore diffusion the fronts are sharper: 6 elements for 1e-3
    let text = lumped_pore_text().replace("elements = 4", "elements = 6");
    check_against_cadet(&text, "LRMP", "lrmp_langmuir_outlet.csv");
}

/// With fast pore diffusion the radial profile is flat and the general rate
/// model becomes the lumped rate model with pores (film resistance only).
#[test]
fn fast_pore_diffusion_reduces_to_the_lumped_pore_model() {
    let text = std::fs::read_to_string(fixture("grm_langmuir.toml")).unwrap();
    let fast = text
        .replace(
            "pore_diffusion_m2_per_s = 1e-11",
            "pore_diffusion_m2_per_s = 1e-6",
        )
        .replace(
            "pore_diffusion_m2_per_s = 1e-10",
            "pore_diffusion_m2_per_s = 1e-6",
        )
        .replace(
            "radial_polynomial_degree = 4",
            "radial_polynomial_degree = 2 #",
        );
    let lumped = text
        .replace(
            "model = \"general_rate\"",
            "model = \"lumped_rate_with_pores\"",
        )
        .replace("radial_polynomial_degree = 4", "#")
        .replace("pore_diffusion_m2_per_s = 1e-11\n", "")
        .replace("pore_diffusion_m2_per_s = 1e-10\n", "");
    let run = |t: &str| -> (ColumnSpec, column::ColumnResult) {
        let spec = column::parse_column_text("grm.toml", t).unwrap();
        let r = column::simulate(&spec).unwrap();
        (spec, r)
    };
    let (_, grm) = run(&fast);
    let (spec, lrmp) = run(&lumped);
    assert!(
        spec.particle
            .as_ref()
            .unwrap()
            .pore_diffusion_m2_per_s
            .is_none()
    );
    let e = rel_l2(&grm.outlet_mol_per_m3[1], &lrmp.outlet_mol_per_m3[1]);
    println!("GRM (D_p = 1e-6) vs LRMP: {e:.3e}");
    assert!(e < 2e-3, "{e:.3e}");
    for b in lrmp.mass_balance.iter().chain(&grm.mass_balance) {
        assert!(b.relative_error.abs() < 1e-8, "{b:?}");
    }
}
