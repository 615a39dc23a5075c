//! Cation exchange with steric mass action binding and a linear salt
//! gradient: parity with CADET-Core 5.1.1 (outlet converged with DG degree 4 ×
//! 96 elements, RELTOL 1e-9, in the fixtures), mass balance including the salt
//! counter-ions released on binding, and monomer/aggregate separation.

use std::path::PathBuf;

use biotwin_downstream::column;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .join("tests/fixtures/chromatography")
        .join(name)
}

#[test]
fn sma_gradient_elution_matches_cadet_and_separates_aggregates() {
    let spec = column::load(fixture("cex_sma_gradient.toml")).unwrap();
    let r = column::simulate(&spec).unwrap();

    let mut rdr = csv::Reader::from_path(fixture("cex_sma_gradient_outlet.csv")).unwrap();
    let reference: Vec<Vec<f64>> = rdr
        .records()
        .map(|rec| rec.unwrap().iter().map(|x| x.parse().unwrap()).collect())
        .collect();
    assert_eq!(reference.len(), r.time_s.len());
    for k in 0..3 {
        let (mut num, mut den) = (0.0, 0.0);
        for (i, row) in reference.iter().enumerate() {
            num += (r.outlet_mol_per_m3[k][i] - row[k + 1]).powi(2);
            den += row[k + 1].powi(2);
        }
        let e = (num / den).sqrt();
        println!("{}: relative L2 vs CADET {e:.3e}", r.component_names[k]);
        assert!(e <= 1e-3, "{}: {e:.3e}", r.component_names[k]);
    }

    // Salt is conserved only if counter-ion release is accounted for; the
    // defect is of the order of the relative tolerance (1e-6).
    for b in &r.mass_balance {
        assert!(b.relative_error.abs() < 2e-5, "{b:?}");
    }

    // The aggregate (higher characteristic charge) elutes later in the gradient.
    let peak = |k: usize| {
        let c = &r.outlet_mol_per_m3[k];
        let i = (0..c.len()).fold(0, |b, i| if c[i] > c[b] { i } else { b });
        r.time_s[i]
    };
    assert!(
        peak(2) > peak(1) + 60.0,
        "monomer {} s, aggregate {} s",
        peak(1),
        peak(2)
    );

    let pool = &r.pools[0];
    assert!(pool.recovery > 0.95, "{pool:?}");
    assert!(pool.mass_purity > 0.999, "{pool:?}");
}
