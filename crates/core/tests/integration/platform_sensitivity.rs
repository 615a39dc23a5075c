//! Exact forward sensitivities of the CHO platform model (issue 13, item 5:
//! one set of equations, evaluated on dual numbers) against central
//! differences of plain runs, on the shipped 3 L process: bolus feeds,
//! base addition that makes the volume depend on the parameters, a
//! temperature shift, the dissolved-O₂ controller. The state part of the
//! augmented run must be the plain run, bit for bit.

use std::path::Path;

use biotwin_core::bioreactor::platform::sensitivity::{SensitivityTable, run_with_sensitivities};
use biotwin_core::bioreactor::platform::{self, ChoPlatform};
use biotwin_core::simulation::{AnyModel, Scenario, load_process};
use biotwin_core::solver::Tolerances;

const PROCESS: &str = "../../process-models/processes/cho-platform-3l.toml";

fn scenario() -> Scenario {
    let def = load_process(Path::new(PROCESS)).unwrap();
    Scenario::from_definition(&def).unwrap()
}

fn platform(s: &Scenario) -> ChoPlatform {
    match s.model() {
        AnyModel::ChoPlatform(m) => m,
        _ => panic!("the 3 L process runs the platform model"),
    }
}

fn index(name: &str) -> usize {
    platform::PARAMS
        .iter()
        .position(|p| p.name == name)
        .unwrap_or_else(|| panic!("parameter {name}"))
}

#[test]
fn the_state_part_of_a_sensitivity_run_is_the_plain_run() {
    let s = scenario();
    let plain = s.simulate(true).unwrap();
    let m = platform(&s);
    let dirs: Vec<(usize, f64)> = ["mu_max", "k_d", "beta_lp"]
        .iter()
        .map(|n| (index(n), s.params_si[index(n)]))
        .collect();
    let t = run_with_sensitivities(&m, &dirs, None, &s.recipe, &s.options).unwrap();
    assert_eq!(t.values.len(), plain.data.len());
    for (i, (a, b)) in t.values.iter().zip(&plain.data).enumerate() {
        assert!(
            a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
            "value {i}: {a} vs {b}"
        );
    }
    assert_eq!(t.derivatives.len(), 3);
}

#[test]
fn exact_sensitivities_match_central_differences() {
    let mut s = scenario();
    // Tight tolerances so the central differences are accurate enough to
    // judge the exact values.
    s.options.tolerances = Tolerances {
        rtol: 1e-12,
        atol: 1e-12,
        ..s.options.tolerances
    };
    let m = platform(&s);
    // θ = ln p for each (dp/dθ = p), including the Hill exponent, an
    // activation energy, pK of CO2 and a reference glycan fraction, which
    // act through per-segment quantities; eleven directions, so two
    // augmented runs (8 + 3).
    let names = [
        "mu_max",
        "k_d",
        "beta_lp",
        "n_d_amm",
        "Ea_mu",
        "pK_co2",
        "gal_ref",
        "Y_lac_glc",
        "q_o2",
        "k_lys",
        "KD_amm",
    ];
    let dirs: Vec<(usize, f64)> = names
        .iter()
        .map(|n| (index(n), s.params_si[index(n)]))
        .collect();
    let exact = run_with_sensitivities(&m, &dirs, None, &s.recipe, &s.options).unwrap();
    let cols = [
        "xv_1e6_cells_per_ml",
        "viability_pct",
        "glucose_g_per_l",
        "lactate_g_per_l",
        "ammonium_mm",
        "titer_g_per_l",
        "volume_l",
        "pco2_mmhg",
        "osmolality_mosm_per_kg",
        "galactosylated_pct",
        "acidic_variants_pct",
    ];
    let n_out = platform::N_OUTPUTS;
    let rows = exact.times_h.len();
    let h = 1e-4;
    let mut worst: (f64, String) = (0.0, String::new());
    for (k, (j, name)) in dirs.iter().map(|d| d.0).zip(names).enumerate() {
        let run_at = |sign: f64| {
            let mut sp = s.clone();
            sp.params_si[j] *= (sign * h).exp();
            let mp = platform(&sp);
            run_with_sensitivities(&mp, &[], None, &sp.recipe, &sp.options)
                .unwrap()
                .values
        };
        let (up, down) = (run_at(1.0), run_at(-1.0));
        for c in cols {
            let ci = SensitivityTable::column(c).unwrap();
            // Scale of the column over the batch: the yardstick of "small".
            let scale = (0..rows)
                .map(|r| exact.values[r * n_out + ci].abs())
                .filter(|v| v.is_finite())
                .fold(0.0, f64::max);
            for r in (24..rows).step_by(24) {
                let fd = (up[r * n_out + ci] - down[r * n_out + ci]) / (2.0 * h);
                let ex = exact.derivatives[k][r * n_out + ci];
                let err = (ex - fd).abs() / scale;
                if err > worst.0 {
                    worst = (
                        err,
                        format!("∂{c}/∂ln {name} at {} h: {ex} vs {fd}", exact.times_h[r]),
                    );
                }
            }
        }
        // The volume depends on the parameters through base addition, so
        // the bolus correction of the sensitivities is exercised.
        if name == "mu_max" {
            let vi = SensitivityTable::column("volume_l").unwrap();
            let dv = exact.derivatives[k][(rows - 1) * n_out + vi];
            assert!(dv.abs() > 1e-3, "∂V/∂ln mu_max = {dv} L");
        }
    }
    eprintln!("worst relative difference: {:.2e} ({})", worst.0, worst.1);
    // Measured 1.4e-6 (rtol 1e-12, h 1e-4): central differences carry
    // O(h²) and solver noise of that order. At rtol 1e-10 the two disagree
    // by up to 4e-5, at 1e-8 by 2e-4 — both numerical, not a missing term.
    assert!(worst.0 < 1e-5, "{}", worst.1);
}

/// A run whose columns read only the states that feed back carries
/// tangents for those alone; its values and derivatives must be the full
/// run's, bit for bit. This fails if an equation starts reading HCP, DNA or
/// a cumulative balance (then `FED_BACK` must grow).
#[test]
fn dropping_the_tangents_of_states_that_feed_nothing_back_changes_nothing() {
    let s = scenario();
    let m = platform(&s);
    let dirs: Vec<(usize, f64)> = ["mu_max", "k_d", "beta_lp", "gal_ref", "q_o2"]
        .iter()
        .map(|n| (index(n), s.params_si[index(n)]))
        .collect();
    let col = |n: &str| SensitivityTable::column(n).unwrap();
    let short: Vec<usize> = [
        "xv_1e6_cells_per_ml",
        "viability_pct",
        "titer_g_per_l",
        "glucose_g_per_l",
        "galactosylated_pct",
        "acidic_variants_pct",
        "hmw_pct",
        "osmolality_mosm_per_kg",
        "do_pct",
    ]
    .iter()
    .map(|n| col(n))
    .collect();
    // Adding HCP forces tangents of every state.
    let mut full = short.clone();
    full.push(col("hcp_mg_per_l"));
    let a = run_with_sensitivities(&m, &dirs, Some(&short), &s.recipe, &s.options).unwrap();
    let b = run_with_sensitivities(&m, &dirs, Some(&full), &s.recipe, &s.options).unwrap();
    assert_eq!(a.times_h, b.times_h);
    let mut moved = 0;
    for &c in &short {
        let (va, da) = a.series(c).unwrap();
        let (vb, db) = b.series(c).unwrap();
        let same = |x: &f64, y: &f64| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan());
        assert!(va.iter().zip(&vb).all(|(x, y)| same(x, y)), "column {c}");
        for (k, (dk, ek)) in da.iter().zip(&db).enumerate() {
            assert!(
                dk.iter().zip(ek).all(|(x, y)| same(x, y)),
                "column {c}, direction {k}"
            );
            moved += dk.iter().filter(|x| **x != 0.0).count();
        }
    }
    assert!(moved > 0, "the derivatives are not all zero");
    // HCP's derivative is there and not zero in the full run.
    let (_, dh) = b.series(col("hcp_mg_per_l")).unwrap();
    assert!(dh[0].iter().any(|x| *x != 0.0));
}
