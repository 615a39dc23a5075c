//! Cost of one IndPenSim member-step (0.2 h) at the ensemble filter's
//! tolerance and others: right-hand-side evaluations per step and CPU time
//! per step over a nominal 230-h batch (default recipe, no disturbances).
//!
//! ```sh
//! cargo run --release -p biotwin-core --example indpensim_step_cost
//! ```

use std::time::Instant;

use biotwin_core::bioreactor::indpensim::simulate::COLUMNS;

use biotwin_core::bioreactor::indpensim::{
    self, Accuracy, Batch, InitialState, Integrator, Kinetics, N_STEPS, Recipe, Trajectory,
};

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

fn main() {
    let batch = nominal();
    let reference = indpensim::run(&batch, &Accuracy::default()).expect("reference run");
    let p_col = Trajectory::column("penicillin_g_per_l").unwrap();
    let p_ref = reference.rows[N_STEPS - 1][p_col];
    let runs = [
        (Integrator::Dopri5, 1e-10),
        (Integrator::Dopri5, 1e-8),
        (Integrator::Dopri5, 1e-6),
        (Integrator::Dopri5, 1e-4),
        (Integrator::Etdrk4 { substeps: 1 }, 1e-6),
        (Integrator::Etdrk4 { substeps: 2 }, 1e-6),
        (Integrator::Etdrk4 { substeps: 4 }, 1e-6),
        (Integrator::Etdrk4 { substeps: 8 }, 1e-6),
        (Integrator::Etdrk4 { substeps: 16 }, 1e-6),
    ];
    for (integrator, tol) in runs {
        let acc = Accuracy {
            rtol: tol,
            atol_scaled: tol,
            integrator,
        };
        let reps = 5;
        let t0 = Instant::now();
        let mut traj = None;
        for _ in 0..reps {
            traj = Some(indpensim::run(&batch, &acc).expect("run"));
        }
        let per_step_us = t0.elapsed().as_secs_f64() * 1e6 / (reps * N_STEPS) as f64;
        let traj = traj.unwrap();
        let p = traj.rows[N_STEPS - 1][p_col];
        // Worst relative difference from the 1e-10 Dopri5 run over the
        // state and output columns (not the controller flows: a
        // velocity-form PID output near 0 has no relative precision) and
        // steps; values below 1e-6 of the column's largest count in
        // absolute terms, as in the reference comparison.
        let mut worst = (0.0, "", 0);
        let last_state = Trajectory::column("mu_x_step_integral").unwrap();
        for (c, (name, _)) in COLUMNS.iter().enumerate().take(last_state + 1).skip(2) {
            let floor = 1e-6
                * reference
                    .rows
                    .iter()
                    .map(|r| r[c].abs())
                    .fold(0.0, f64::max);
            for (k, (a, b)) in traj.rows.iter().zip(&reference.rows).enumerate() {
                let e = (a[c] - b[c]).abs() / b[c].abs().max(floor).max(1e-300);
                if e > worst.0 {
                    worst = (e, name, k + 1);
                }
            }
        }
        let first_p = traj
            .rows
            .iter()
            .zip(&reference.rows)
            .position(|(a, b)| (a[p_col] - b[p_col]).abs() > 1e-4 * b[p_col].abs().max(1e-3))
            .map_or(0, |k| k + 1);
        println!(
            "{integrator:?} tol {tol:.0e}: {:.1} RHS per step, {per_step_us:.1} us per step, {:.3} us per RHS; final P {p:.6} g/L (rel. diff. from Dopri5 1e-10: {:.1e}); worst state {} {:.1e} at step {}; P first off by 1e-4 at step {}",
            traj.rhs_evaluations as f64 / N_STEPS as f64,
            per_step_us / (traj.rhs_evaluations as f64 / N_STEPS as f64),
            (p - p_ref).abs() / p_ref,
            worst.1,
            worst.0,
            worst.2,
            first_p
        );
        if std::env::args().any(|a| a == "--columns") {
            for (c, (name, _)) in COLUMNS.iter().enumerate().take(last_state + 1).skip(2) {
                let floor = 1e-6
                    * reference
                        .rows
                        .iter()
                        .map(|r| r[c].abs())
                        .fold(0.0, f64::max);
                let (mut all, mut after) = (0.0f64, 0.0f64);
                for (k, (a, b)) in traj.rows.iter().zip(&reference.rows).enumerate() {
                    let e = (a[c] - b[c]).abs() / b[c].abs().max(floor).max(1e-300);
                    all = all.max(e);
                    if k >= 50 {
                        after = after.max(e);
                    }
                }
                println!("    {name:28} worst {all:9.2e}, after 10 h {after:9.2e}");
            }
        }
    }
}
