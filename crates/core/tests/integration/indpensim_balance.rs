//! IndPenSim (`bioreactor::indpensim`): water, weight and penicillin
//! balances close over a whole 230-h default-recipe batch, and the batch is
//! one an engineer would recognise (agreement with the reference data is
//! tested against the shipped batches in the binary's tests).

use biotwin_core::bioreactor::indpensim::ode;
use biotwin_core::bioreactor::indpensim::{
    self, Accuracy, Batch, InitialState, Kinetics, N_STEPS, Recipe, Trajectory,
};

/// Nominal batch: the means of the generator's random draws, the default
/// recipe, no disturbances.
fn nominal() -> Batch {
    Batch {
        initial: InitialState {
            s_g_per_l: 1.0,
            do2_mg_per_l: 15.0,
            o2_offgas_mol_per_mol: 0.2,
            p_g_per_l: 0.0,
            v_l: 58_000.0,
            wt_kg: 62_000.0,
            ph: 6.5,
            t_k: 297.0,
            a0_g_per_l: 0.5 / 3.0,
            a1_g_per_l: 1.0 / 3.0,
            co2_offgas_pct: 0.038,
            paa_mg_per_l: 1400.0,
            nh3_mg_per_l: 1700.0,
        },
        kinetics: Kinetics {
            mu_p: 0.041,
            mux_max: 0.41,
            alpha_kla: 85.0,
            n_conc_paa: 150_000.0,
            paa_c: 530_000.0,
        },
        recipe: Recipe::indpensim_default(),
        disturbances: Vec::new(),
        n_steps: N_STEPS,
    }
}

fn col(t: &Trajectory, name: &str) -> Vec<f64> {
    let c = Trajectory::column(name).unwrap();
    t.rows.iter().map(|r| r[c]).collect()
}

fn run() -> Trajectory {
    indpensim::run(&nominal(), &Accuracy::default()).unwrap()
}

#[test]
fn water_and_weight_balances_close() {
    let t = run();
    let dt: Vec<f64> = t
        .rows
        .iter()
        .map(|r| r[1] - (r[0] - indpensim::STEP_H))
        .collect();
    let flows = |names: &[&str]| -> f64 {
        let cols: Vec<Vec<f64>> = names.iter().map(|n| col(&t, n)).collect();
        (0..t.rows.len())
            .map(|k| cols.iter().map(|c| c[k].max(0.0)).sum::<f64>() * dt[k])
            .sum()
    };
    let aqueous_in = flows(&[
        "fs_l_per_h",
        "fb_l_per_h",
        "fa_l_per_h",
        "fw_l_per_h",
        "fpaa_l_per_h",
    ]);
    let evaporated = t.y_end[ode::EVAPORATED_L];
    let discharged = t.y_end[ode::DISCHARGED_L];
    let v_end = t.y_end[ode::V];
    let v_expected = t.y0[ode::V] + aqueous_in - evaporated - discharged + t.volume_clip_l;
    assert!(
        ((v_end - v_expected) / v_end).abs() < 1e-9,
        "volume {v_end} L vs {v_expected} L from the flows"
    );
    // The recipe discharges 6 × 2 h × 4000 L/h of broth (its density is
    // above water's, so the volume removed is a little less than 48 m³).
    assert!(
        discharged > 40_000.0 && discharged < 48_000.0,
        "{discharged}"
    );
    assert!(evaporated > 0.0 && evaporated < 10_000.0, "{evaporated}");

    // Weight: sugar feed at its density (60 % sugar at 1540 g/L), oil at
    // 900 g/L, the other feeds as water; discharge counted in kg as L.
    let rho_feed = 0.6 * 1540.0 + 0.4 * 1000.0;
    let wt_in = flows(&["fs_l_per_h"]) * rho_feed / 1000.0
        + flows(&["foil_l_per_h"]) * 0.9
        + flows(&["fb_l_per_h", "fa_l_per_h", "fw_l_per_h", "fpaa_l_per_h"]);
    let wt_out = flows(&["discharge_l_per_h"]) + evaporated;
    let wt_end = t.y_end[ode::WT];
    let wt_expected = t.y0[ode::WT] + wt_in - wt_out;
    assert!(
        ((wt_end - wt_expected) / wt_end).abs() < 1e-9,
        "weight {wt_end} kg vs {wt_expected} kg from the flows"
    );
}

#[test]
fn penicillin_balance_closes() {
    let t = run();
    let in_vessel = t.y_end[ode::P] * t.y_end[ode::V];
    let formed = t.y_end[ode::PEN_FORMED_G];
    let discharged = t.y_end[ode::PEN_DISCHARGED_G];
    let expected = t.y0[ode::P] * t.y0[ode::V] + formed - discharged + t.penicillin_clip_g;
    assert!(
        ((in_vessel - expected) / in_vessel).abs() < 1e-8,
        "penicillin {in_vessel} g in the vessel vs {expected} g from formation and discharge"
    );
    // Discharge removes a sizeable share of the product (six 2-h pulses).
    assert!(
        discharged > 0.1 * formed && discharged < 0.5 * formed,
        "{discharged} of {formed}"
    );
    // The clip of the first steps (P starts at 0 and hydrolysis drives it
    // negative) adds 0.001 g/L at most a few times: grams, not kilograms.
    assert!(
        t.penicillin_clip_g >= 0.0 && t.penicillin_clip_g < 1000.0,
        "{}",
        t.penicillin_clip_g
    );
}

#[test]
fn a_nominal_batch_is_a_plausible_penicillin_fermentation() {
    let t = run();
    let last = |n: &str| *col(&t, n).last().unwrap();
    let p = last("penicillin_g_per_l");
    let x = last("biomass_g_per_l");
    assert!((20.0..40.0).contains(&p), "final penicillin {p} g/L");
    assert!((10.0..40.0).contains(&x), "final biomass {x} g/L");
    let v_max = col(&t, "volume_l").into_iter().fold(0.0, f64::max);
    assert!(v_max < 100_000.0, "the 100 m³ vessel holds {v_max} L");
    for (name, lo, hi) in [
        ("ph", 6.2, 6.8),
        ("temperature_k", 296.5, 299.5),
        ("do2_mg_per_l", 1.0, 25.0),
    ] {
        let c = col(&t, name);
        let (min, max) = c
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                (a.min(v), b.max(v))
            });
        assert!(
            min >= lo && max <= hi,
            "{name} in [{min}, {max}], expected within [{lo}, {hi}]"
        );
    }
    // Penicillin rises over the production phase.
    let pen = col(&t, "penicillin_g_per_l");
    assert!(pen[600] > pen[300] && pen[1149] > pen[600]);
}
