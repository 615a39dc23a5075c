//! IndPenSim: the industrial-scale (100 m³) fed-batch *Penicillium
//! chrysogenum* penicillin process of Goldrick et al. (J. Biotechnol. 194,
//! 2015, 70–82; Comput. Chem. Eng. 130, 2019, 106471), as published in the
//! IndPenSim simulator and its Python port pensimpy 1.2.5 (the reference
//! this module is validated against, `validation/indpensim/`).
//!
//! # Why a simulator of its own, not a [`Culture`](super::Culture)
//!
//! IndPenSim is a sampled-data system: every 0.2 h three discrete PID
//! controllers (pH by acid/base, temperature by cooling/heating water, PAA
//! feed from 10 h) read the states recorded at the ends of earlier steps,
//! the recipe's seven inputs and the step's disturbances are fixed, the 33
//! ODEs are integrated across the step, and the published corrections are
//! applied to the result (non-positive states set to 0.001, a DO2 record
//! below 2 mg/L set to 1). The controllers' quirks (an error history that
//! omits the pH set-point, the heating PID starting from the cooling flow,
//! the μx,max adaptation after 64 falling steps) shape the trajectories. The
//! [`Culture`](super::Culture) simulator runs continuous set-points between
//! recipe events in SI; forcing this model through it would change its
//! arithmetic. So it is its own simulator with the core Dopri5
//! ([`crate::solver::dopri5`]) integrating each step.
//!
//! # Units
//!
//! The model's own, as published (an exception to "SI inside the engine",
//! kept so that every constant reads as in the papers): time h, volume L,
//! weight kg, S, P, X, a0–a4 g/L, DO2, PAA, NH3 mg/L, off-gas O2 mol/mol,
//! off-gas CO2 %, temperature K, feeds L/h, aeration m³/h, head pressure
//! bar (gauge), viscosity cP. Output columns carry their units in their
//! names ([`simulate::COLUMNS`]).
//!
//! # States (published order, [`ode`])
//!
//! S, DO2, O2 off-gas, P, V, Wt, H⁺, T, Q (heat), viscosity, ∫X dt, the
//! hyphal regions a0 (growing), a1 (non-growing), a3 (degenerated), a4
//! (autolysed), the vacuole population n0…n9, nm and φ0, CO2 off-gas,
//! dissolved CO2, PAA, NH3, and the step integrals of μp and μe; plus four
//! bookkeeping integrals (evaporated and discharged broth, penicillin formed
//! and discharged) that feed nothing back and serve the mass balances.
//!
//! # Equations (summary; `docs/indpensim.md` has them in full)
//!
//! * Morphology (Paul & Thomas 1996 as in IndPenSim): branching
//!   r_b0 = 0.4·μx·a1·S/(K_b+S), extension r_e1 = μx·a0·S/(K_e+S),
//!   differentiation r_d1 = μ_diff·a0/(K_diff+S) with K_diff falling with
//!   culture age, degeneration by the largest vacuoles, autolysis μ_a·a3.
//!   μx = μx,max·Π inhibitions (pH, T Arrhenius growth–death, DO2, NH3,
//!   dissolved CO2, PAA, as tanh switches).
//! * Penicillin: r_p = μp·ρ·v_a1·G(S)·I_DO2·I_PAA − μ_h(pH, T)·P with G a
//!   Gaussian substrate window (mean 0.002 g/L) and hydrolysis μ_h.
//! * Volume: dV/dt = F_s + F_b + F_a + F_w + F_paa − F_evp − F_dis/(ρ_b/1000);
//!   oil enters the weight but not the volume (published model); all
//!   concentrations are diluted by F_s + F_b + F_a + F_w + F_paa − F_evp.
//! * Oxygen: kLa = α·v_s^0.38·(P/V)^0.34·(μ/100)^−0.38·(1 − (F_oil/V)^0.25)
//!   with gassed power (Michel–Miller) plus air-expansion power; OTR =
//!   kLa·(p_lm·O2_in/H − DO2); OUR from growth, maintenance and production
//!   yields; off-gas O2 and CO2 gas-phase balances with N2 as tie element.
//! * Heat: feeds, evaporation, reaction heat from O2 consumption, stirring,
//!   cooling/heating coils (F^(β+1) law), jacket loss; T from the balance.
//! * pH: H⁺ balance with metabolic acid production and acid/base addition.
//! * PAA and NH3: feed, consumption for growth and production, maintenance.
//!
//! Parameters: the constants in [`ode`] are those of the published model
//! (Goldrick et al. 2015 Table 1 and the IndPenSim code); per batch, μp,
//! μx,max, α_kLa, the PAA feed's N and PAA concentrations
//! ([`ode::Kinetics`]) and the initial state ([`simulate::InitialState`])
//! are drawn at random by the generator and recorded in the data set.

pub mod control;
pub mod estimate;
pub mod ode;
pub mod recipe;
pub mod simulate;

pub use ode::{Disturbances, Kinetics};
pub use recipe::{Profile, Recipe};
pub use simulate::{Accuracy, Batch, InitialState, Integrator, Trajectory, run};

/// Controller and recording interval, h (12 min).
pub const STEP_H: f64 = 12.0 / 60.0;
/// The sub-step of the reference's output grid, h (used by its pH
/// acid/base addition term and its step end times).
pub const H_ODE_H: f64 = STEP_H / 40.0;
/// Steps of a 230-h batch.
pub const N_STEPS: usize = 1150;
