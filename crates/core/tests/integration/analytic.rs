//! Analytical solutions: with Monod limitation, inhibition and death switched
//! off, a batch grows exponentially, Xv(t) = Xv0 exp(mu_max t), and the
//! product of a constant specific rate is q_p Xv0 (exp(mu t) − 1)/mu.

use std::path::Path;

use biotwin_core::simulation::{Scenario, load_process};
use biotwin_core::solver::Tolerances;

#[test]
fn exponential_batch_growth_matches_the_analytic_solution() {
    let def = load_process(Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../process-models/processes/xing2010-reference.toml"
    )))
    .unwrap();
    let mut s = Scenario::from_definition(&def).unwrap();
    let ff = def.model.params.file_factor.clone();
    // No substrate limitation or inhibition, no death; K_glc = 0 makes
    // Glc/(K+Glc) exactly 1 while glucose is positive.
    for (k, v) in [
        ("model.K_glc", 0.0),
        ("model.K_gln", 0.0),
        ("model.KI_lac", 1e9),
        ("model.KI_amm", 1e9),
        ("model.mu_d_max", 0.0),
        ("model.m_glc", 0.0),
        ("model.Y_x_glc", 1e11),
        ("model.Y_x_gln", 1e12),
        ("model.a1", 0.0),
        ("model.k_dgln", 0.0),
        ("model.r_amm", 0.0),
        ("feeds.scale", 0.0),
    ] {
        s.apply(k, v, &ff).unwrap_or_else(|e| panic!("{k}: {e}"));
    }
    s.recipe.duration_s = 120.0 * 3600.0;
    s.options.tolerances = Tolerances {
        rtol: 1e-11,
        atol: 1e-14,
        ..Tolerances::default()
    };
    let out = s.simulate(true).unwrap();
    let mu = 0.029; // 1/h, the model file's value
    let t = out.column("time_h").unwrap();
    let xv = out.column("xv_1e6_cells_per_ml").unwrap();
    let mab = out.column("titer_g_per_l").unwrap();
    let glc = out.column("glucose_mm").unwrap();
    assert!(
        glc.iter().all(|&g| g > 0.0),
        "glucose must stay positive for the solution to hold"
    );
    let mut worst: f64 = 0.0;
    for i in 0..t.len() {
        let exact = 0.4 * (mu * t[i]).exp();
        worst = worst.max((xv[i] - exact).abs() / exact);
        // mAb [g/L] = q_mab [g/(cell h)] · Xv0 [cells/L] · (e^{mu t} − 1)/mu
        let exact_p = 1.51e-12 * 4e8 * ((mu * t[i]).exp() - 1.0) / mu;
        if t[i] > 0.0 {
            assert!(
                (mab[i] - exact_p).abs() <= 1e-8 * exact_p,
                "t = {} h: {} vs {}",
                t[i],
                mab[i],
                exact_p
            );
        }
    }
    // Global error of Dopri5 at rtol 1e-11 over 120 h of growth: ~6e-9.
    assert!(worst < 2e-8, "worst relative error {worst:.2e}");
}

#[test]
fn feed_scale_multiplies_fed_volume_exactly_and_is_reversible() {
    let def = load_process(Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../process-models/processes/xing2010-reference.toml"
    )))
    .unwrap();
    let mut s = Scenario::from_definition(&def).unwrap();
    let ff = def.model.params.file_factor.clone();
    let nominal = s.simulate(false).unwrap();
    // Continuous feed 4.375 L/h from 72 h to 336 h on 3500 L.
    let v_end = |s: &Scenario| {
        s.simulate(true)
            .unwrap()
            .column("volume_l")
            .unwrap()
            .last()
            .copied()
            .unwrap()
    };
    s.apply("feeds.scale", 1.2, &ff).unwrap();
    let v = v_end(&s);
    assert!((v - (3500.0 + 1.2 * 4.375 * 264.0)).abs() < 1e-9 * v, "{v}");
    // Zero feed: the culture runs out of glucose; maintenance uptake ramps
    // to zero below 0.1 mM (docs/models.md, substrate depletion), so the run
    // completes with glucose depleted, never negative. Back to scale 1: the
    // nominal batch.
    s.apply("feeds.scale", 0.0, &ff).unwrap();
    let glc = s.simulate(true).unwrap().column("glucose_mm").unwrap();
    let min = glc.iter().cloned().fold(f64::INFINITY, f64::min);
    assert!((-1e-5..0.01).contains(&min), "{min}");
    s.apply("feeds.scale", 1.0, &ff).unwrap();
    assert_eq!(s.simulate(false).unwrap().quality, nominal.quality);
}
