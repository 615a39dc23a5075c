//! Joint state and parameter estimation for an IndPenSim batch by an
//! ensemble Kalman filter (EnKF, stochastic form with perturbed
//! observations; Evensen 1994, Burgers et al. 1998), and forecasts of the
//! final penicillin concentration from the ensemble.
//!
//! Each member is a full copy of the simulator ([`Stepper`]) with its own
//! kinetic parameters and its own realisation of the process disturbance.
//! Between measurements a member is advanced one 0.2-h step with the
//! *measured* controller flows (acid, base, cooling, heating water, PAA
//! feed: recorded online tags) and the recipe inputs as applied (sugar and
//! oil feed, aeration, back pressure, discharge, water feed: recorded
//! online tags; the recipe plan's set-point where a step lacks one, or
//! for every input with `Settings::applied_inputs` off), so the members see
//! the inputs the plant actually received. A forecast runs the plan. After each step the
//! online measurements are assimilated; at a lab sample's time, the lab
//! results. The update acts on an augmented vector in log space
//! (positivity): the slow and measured states, ln of the estimated kinetic
//! parameters, and the disturbance state z. `docs/indpensim-forecast.md`
//! gives the equations, the settings and why an EnKF.
//!
//! What the filter knows at batch time t: the recipe plan, the online
//! readings up to t, the lab samples taken up to t, the t = 0 lab sample,
//! and population priors. It never sees the batch's true kinetic
//! parameters or its recorded disturbances.
//!
//! **Disturbance model** (pensimpy 1.2.5 / IndPenSim as published): one
//! filtered white noise z_k = 0.995·z_{k−1} + 0.005·w_k, w_k ~ N(0, 1),
//! z_0 = 0, scaled per disturbance ([`disturbances_of`]); the generator
//! draws every disturbance from the same seeded sequence, so the eight are
//! one process. Future disturbances in a forecast are sampled from it.

use nalgebra::{DMatrix, DVector};
use rayon::prelude::*;

use super::ode::{self, Disturbances, Kinetics, State};
use super::recipe::Recipe;
use super::simulate::{Accuracy, Integrator, Stepper};
use super::{N_STEPS, STEP_H};
use crate::error::Error;
use crate::random::{SplitMix64, run_seed};

/// Online tags assimilated as measurements, in this order (the value at the
/// end of each 0.2-h step).
pub const ONLINE_MEASURED: [&str; 7] = [
    "temperature_k",
    "ph",
    "do2_mg_per_l",
    "o2_offgas_mol_per_mol",
    "co2_offgas_pct",
    "volume_l",
    "weight_kg",
];
/// Number of online measured variables.
pub const N_ONLINE: usize = ONLINE_MEASURED.len();

/// Online tags used as the step's inputs (the controllers' recorded
/// flows), in this order.
pub const ONLINE_FLOWS: [&str; 5] = [
    "fa_l_per_h",
    "fb_l_per_h",
    "fc_l_per_h",
    "fh_l_per_h",
    "fpaa_l_per_h",
];

/// Online tags of the recipe inputs as the plant applied them, in this
/// order (the historian records what was applied; the recipe plan says
/// what was planned). With [`Settings::applied_inputs`] a member's step
/// uses the applied value where the step's record has one, and the plan's
/// set-point where it has none (counted in
/// [`Estimator::plan_fallbacks`]). A forecast runs the plan.
pub const APPLIED_INPUTS: [&str; 6] = [
    "fs_l_per_h",
    "foil_l_per_h",
    "fg_m3_per_h",
    "pressure_bar",
    "discharge_l_per_h",
    "fw_l_per_h",
];
/// Number of applied recipe inputs.
pub const N_APPLIED: usize = APPLIED_INPUTS.len();

/// Lab (offline) variables, in this order.
pub const LAB: [&str; 6] = [
    "biomass_g_per_l",
    "penicillin_g_per_l",
    "substrate_g_per_l",
    "paa_mg_per_l",
    "nh3_mg_per_l",
    "viscosity_cp",
];
/// Index of biomass in [`LAB`].
pub const LAB_BIOMASS: usize = 0;
/// Index of penicillin in [`LAB`].
pub const LAB_PENICILLIN: usize = 1;
/// Index of substrate in [`LAB`].
pub const LAB_SUBSTRATE: usize = 2;
/// Index of PAA in [`LAB`].
pub const LAB_PAA: usize = 3;
/// Index of NH3 in [`LAB`].
pub const LAB_NH3: usize = 4;
/// Index of viscosity in [`LAB`].
pub const LAB_VISCOSITY: usize = 5;

/// The online record of one step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OnlineStep {
    /// Recorded controller flows of the step, order [`ONLINE_FLOWS`], L/h.
    pub flows: [f64; 5],
    /// Measured values at the step's end, order [`ONLINE_MEASURED`].
    pub values: [f64; N_ONLINE],
    /// Recipe inputs as applied in the step, order [`APPLIED_INPUTS`],
    /// in their units (L/h, m³/h, bar); `None` where the record lacks the
    /// tag (the member then runs the plan's set-point, counted).
    pub applied: [Option<f64>; N_APPLIED],
}

/// A lab sample: results (order [`LAB`]; `None` = not measured) of a
/// sample taken at `time_h`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LabSample {
    /// Batch time the sample was taken at, h.
    pub time_h: f64,
    /// Results in [`LAB`] order, `None` where not measured.
    pub values: [Option<f64>; 6],
}

/// Which kinetic parameters the filter estimates (the others stay at their
/// prior mean in every member).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimated {
    /// Estimate μp, the maximum specific penicillin production rate.
    pub mu_p: bool,
    /// Estimate μx,max, the maximum specific biomass growth rate.
    pub mux_max: bool,
    /// Estimate the kLa correlation constant α.
    pub alpha_kla: bool,
    /// Estimate the nitrogen concentration of the PAA feed.
    pub n_conc_paa: bool,
    /// Estimate the PAA concentration of the PAA feed.
    pub paa_c: bool,
}

/// A normal prior: mean and standard deviation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Normal {
    /// Mean, in the quantity's own unit.
    pub mean: f64,
    /// Standard deviation, same unit as the mean.
    pub sd: f64,
}

/// Population priors of what the t = 0 lab sample does not give.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prior {
    /// Kinetic parameters (the generator's published distributions).
    pub mu_p: Normal,
    /// Maximum specific biomass growth rate μx,max, 1/h.
    pub mux_max: Normal,
    /// kLa correlation constant α.
    pub alpha_kla: Normal,
    /// Nitrogen concentration of the PAA feed, mg/L.
    pub n_conc_paa: Normal,
    /// PAA concentration of the PAA feed, mg/L.
    pub paa_c: Normal,
    /// Initial states not in the lab sample.
    pub do2_mg_per_l: Normal,
    /// Initial O₂ in the off-gas, mol/mol.
    pub o2_offgas_mol_per_mol: Normal,
    /// Initial broth volume, L.
    pub v_l: Normal,
    /// Initial vessel weight, kg.
    pub wt_kg: Normal,
    /// Initial pH.
    pub ph: Normal,
    /// Initial broth temperature, K.
    pub t_k: Normal,
    /// Initial CO₂ in the off-gas, %.
    pub co2_offgas_pct: Normal,
}

impl Default for Prior {
    /// Kinetic parameters: the generator's distributions (pensimpy 1.2.5
    /// `PenSimEnv.reset`, IndPenSim `indpensim_run.m`): μp 0.041 + 0.0025·N,
    /// μx,max 0.41 + 0.025·N, α_kLa 85 + 10·N, N_conc_paa 150 000 + 2000·N,
    /// PAA_c 530 000 + 20 000·N. Initial states not sampled at t = 0: mean
    /// and sample SD of B01–B15 (`initial_conditions.csv`).
    fn default() -> Self {
        let n = |mean, sd| Normal { mean, sd };
        Prior {
            mu_p: n(0.041, 0.0025),
            mux_max: n(0.41, 0.025),
            alpha_kla: n(85.0, 10.0),
            n_conc_paa: n(150_000.0, 2000.0),
            paa_c: n(530_000.0, 20_000.0),
            do2_mg_per_l: n(14.93, 0.45),
            o2_offgas_mol_per_mol: n(0.180, 0.038),
            v_l: n(57_912.0, 412.0),
            wt_kg: n(61_931.0, 422.0),
            ph: n(6.452, 0.083),
            t_k: n(296.74, 0.42),
            co2_offgas_pct: n(0.0378, 0.0008),
        }
    }
}

/// Measurement noise the filter assumes (and the evaluation adds): for
/// each variable a relative SD (of a lognormal error) or, for pH, an
/// absolute SD.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Noise {
    /// Online measured, order [`ONLINE_MEASURED`]; entry 1 (pH) absolute,
    /// the others relative.
    pub online: [f64; N_ONLINE],
    /// Recorded controller flows and applied recipe inputs
    /// ([`APPLIED_INPUTS`]), relative.
    pub flows: f64,
    /// Lab, relative, order [`LAB`].
    pub lab: [f64; 6],
}

impl Default for Noise {
    fn default() -> Self {
        Noise {
            // T ±0.05 K of 298 K, pH ±0.01, DO2 2 %, off-gas O2 0.1 %
            // (2e-4 mol/mol), off-gas CO2 1 %, volume 0.5 %, weight 0.2 %.
            online: [0.05 / 298.0, 0.01, 0.02, 0.001, 0.01, 0.005, 0.002],
            flows: 0.01,
            // Biomass (dry weight) 5 %, penicillin (HPLC) 3 %, sugar 10 %,
            // PAA 5 %, NH3 5 %, viscosity 5 %.
            lab: [0.05, 0.03, 0.10, 0.05, 0.05, 0.05],
        }
    }
}

/// Filter settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// Ensemble size.
    pub members: usize,
    /// Seed of every random draw of the filter (members, perturbed
    /// observations, disturbance innovations).
    pub seed: u64,
    /// Relaxation to prior spread (Whitaker & Hamill 2012) after each
    /// analysis, 0 = none, 1 = the spread before the analysis.
    pub rtps: f64,
    /// Which parameters are estimated.
    pub estimated: Estimated,
    /// Which lab variables are assimilated (order [`LAB`]).
    pub lab_used: [bool; 6],
    /// Which online measured variables are assimilated.
    pub online_used: [bool; N_ONLINE],
    /// Noise the filter assumes.
    pub noise: Noise,
    /// Factor on the online measurement variances the filter assumes (≥ 1
    /// de-weights readings every 12 min whose model errors are correlated
    /// in time).
    pub online_variance_factor: f64,
    /// A DO2 reading below this is not assimilated, mg/L: near the published
    /// record floor (a value below 2 mg/L is recorded as 1) and the DO2
    /// switches of growth and production, the reading is a step function of
    /// the state and a linear update moves the parameters wildly.
    pub do2_min_assimilated_mg_per_l: f64,
    /// Gross-error check: an online reading further than this many SDs
    /// (ensemble spread and assumed noise together) from the ensemble mean
    /// is not assimilated at that step (counted in
    /// [`Estimator::rejected`]).
    pub gate_sd: f64,
    /// Integration accuracy of the members.
    pub accuracy: Accuracy,
    /// Step the members with the recipe inputs as applied
    /// ([`OnlineStep::applied`]: sugar and oil feed, aeration, back
    /// pressure, discharge, water feed) instead of the plan's set-points;
    /// an input the step's record lacks falls back to the plan (counted).
    /// `false`: the plan-only filter as pre-registered. On every non-fault
    /// batch of `training-data/indpensim` and `-extra` the historian's
    /// applied values equal the plan's set-points bit for bit at every
    /// step, so without added noise the two give the same numbers there.
    pub applied_inputs: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            members: 48,
            seed: 20_261_205,
            rtps: 0.9,
            estimated: Estimated {
                mu_p: true,
                mux_max: true,
                alpha_kla: true,
                n_conc_paa: false,
                paa_c: false,
            },
            lab_used: [true, true, false, true, true, true],
            online_used: [true; N_ONLINE],
            noise: Noise::default(),
            online_variance_factor: 100.0,
            do2_min_assimilated_mg_per_l: 4.0,
            gate_sd: 4.0,
            accuracy: Accuracy {
                rtol: 1e-6,
                atol_scaled: 1e-6,
                integrator: Integrator::Dopri5,
            },
            applied_inputs: true,
        }
    }
}

/// The published disturbances of one step from the filtered noise z
/// (pensimpy scales: μp 0.03, μx 0.25, c_s 1500, c_oil 300, abc 0.2,
/// PAA_c 3e5, T_cin 100, O2,in 0.02).
pub fn disturbances_of(z: f64) -> Disturbances {
    Disturbances {
        mu_p: 0.03 * z,
        mu_x: 0.25 * z,
        c_s: 1500.0 * z,
        c_oil: 300.0 * z,
        abc: 0.2 * z,
        paa: 300_000.0 * z,
        t_cin: 100.0 * z,
        o2_in: 0.02 * z,
    }
}

/// One step of the disturbance process.
fn next_z(z: f64, w: f64) -> f64 {
    0.995 * z + 0.005 * w
}

/// States the analysis updates (in log space). Substrate (quasi-steady at
/// ~0.002 g/L under feed control, where the production window is narrower
/// than any assay), the heat state, the vacuole population (n0…n9, nm, φ0:
/// a discretised size distribution that an independent update per class
/// makes rough, and stiff), the step integrals and the bookkeeping
/// integrals are left to the model.
const UPDATED: [usize; 17] = [
    ode::DO2,
    ode::O2_OFFGAS,
    ode::P,
    ode::V,
    ode::WT,
    ode::H_ION,
    ode::T,
    ode::VISCOSITY,
    ode::CULTURE_AGE,
    ode::A0,
    ode::A1,
    ode::A3,
    ode::A4,
    ode::CO2_OFFGAS,
    ode::CO2_D,
    ode::PAA,
    ode::NH3,
];

/// One ensemble member.
#[derive(Debug, Clone)]
struct Member {
    stepper: Stepper,
    /// Disturbance state z of the last finished step.
    z: f64,
}

/// Summary of one estimated parameter across the ensemble.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ParameterEstimate {
    /// Parameter name (as in [`Estimated`]).
    pub name: &'static str,
    /// Ensemble mean, in the parameter's unit.
    pub mean: f64,
    /// Ensemble standard deviation, same unit.
    pub sd: f64,
}

/// A forecast of the final penicillin concentration (at step
/// [`N_STEPS`], 230 h).
#[derive(Debug, Clone, PartialEq)]
pub struct Forecast {
    /// Batch time the forecast was made at, h.
    pub time_h: f64,
    /// Ensemble mean, g/L.
    pub mean_g_per_l: f64,
    /// 5 % and 95 % quantiles of the members' final values, g/L.
    pub p05_g_per_l: f64,
    /// 95 % quantile of the members' final values, g/L.
    pub p95_g_per_l: f64,
    /// Each completed member's final penicillin, g/L.
    pub members_g_per_l: Vec<f64>,
    /// Members whose run to the end failed (left out of the quantiles,
    /// counted here).
    pub failed_members: usize,
    /// Members run with an estimated kinetic parameter capped at
    /// [`FORECAST_PARAMETER_CAP_SD`] prior SDs above the prior mean
    /// (counted, not hidden: the filter's own estimate is unchanged).
    pub capped_members: usize,
}

/// A forecast runs each member's estimated kinetic parameters at most this
/// many prior SDs above the prior mean. Above it the rate is no longer
/// the organism the published model describes (μx,max 0.41 ± 0.025 h⁻¹
/// in the generator): on B115 (sugar-feed fault) the analysis had moved
/// members to μx,max 10.7 h⁻¹ while growth was switched off by the
/// dissolved-CO2 inhibition (dissolved CO2 above its critical value, so no
/// reading constrained μx,max); when the switch reopened in the forecast,
/// growth at 10.7 h⁻¹ crashed DO2 from 14 to 0.08 mg/L within 0.01 h and
/// the DO2/CO2 switches chattered: the explicit solver ran out of steps
/// (100 000 in one 0.2-h step). Lower values are left alone (the published
/// μx,max adaptation lowers μx,max late in a batch; a slow rate does not
/// stiffen the model). 5 SDs is the bound the filter's CI smoke test
/// already uses for "parameters within range".
pub const FORECAST_PARAMETER_CAP_SD: f64 = 5.0;

/// The ensemble Kalman filter of one batch.
#[derive(Debug, Clone)]
pub struct Estimator {
    recipe: Recipe,
    settings: Settings,
    prior: Prior,
    members: Vec<Member>,
    rng: SplitMix64,
    replaced: usize,
    rejected: usize,
    plan_fallbacks: usize,
}

fn check_finite(what: &str, step: usize, value: f64) -> Result<(), Error> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(Error::input(
            "<indpensim observations>",
            format!("step {step} ({:.1} h), `{what}`", step as f64 * STEP_H),
            "a finite reading",
            value.to_string(),
        ))
    }
}

/// Linear-interpolated quantile of sorted values.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

impl Estimator {
    /// The ensemble at t = 0 from the t = 0 lab sample (biomass, substrate,
    /// PAA and NH3 required; penicillin and viscosity default to the
    /// published initial 0 g/L and 4 cP) and the priors. Lab values are
    /// taken with their assumed noise (each member draws its own initial
    /// value around the reading).
    pub fn new(
        recipe: &Recipe,
        lab0: &LabSample,
        prior: &Prior,
        settings: &Settings,
    ) -> Result<Estimator, Error> {
        if settings.members < 3 {
            return Err(Error::input(
                "<indpensim estimator>",
                "members",
                "at least 3 ensemble members",
                settings.members.to_string(),
            ));
        }
        for (i, name) in LAB.iter().enumerate() {
            if let Some(v) = lab0.values[i] {
                check_finite(name, 0, v)?;
            }
        }
        let need = |i: usize| {
            lab0.values[i].ok_or_else(|| {
                Error::input(
                    "<indpensim observations>",
                    format!("lab sample at {} h, `{}`", lab0.time_h, LAB[i]),
                    "a t = 0 result",
                    "none",
                )
            })
        };
        let x0 = need(LAB_BIOMASS)?;
        let s0 = need(LAB_SUBSTRATE)?;
        let paa0 = need(LAB_PAA)?;
        let nh30 = need(LAB_NH3)?;
        let mut rng = SplitMix64::new(run_seed(settings.seed, 0));
        let noise = &settings.noise;
        let mut members = Vec::with_capacity(settings.members);
        for _ in 0..settings.members {
            let mut g = |n: &Normal| n.mean + n.sd * rng.normal();
            let lognormal_around =
                |v: f64, cv: f64, r: &mut SplitMix64| v * (cv * r.normal()).exp();
            let kin = Kinetics {
                mu_p: g(&prior.mu_p),
                mux_max: g(&prior.mux_max),
                alpha_kla: g(&prior.alpha_kla),
                n_conc_paa: g(&prior.n_conc_paa),
                paa_c: g(&prior.paa_c),
            };
            let mut kin = kin;
            let e = &settings.estimated;
            if !e.mu_p {
                kin.mu_p = prior.mu_p.mean;
            }
            if !e.mux_max {
                kin.mux_max = prior.mux_max.mean;
            }
            if !e.alpha_kla {
                kin.alpha_kla = prior.alpha_kla.mean;
            }
            if !e.n_conc_paa {
                kin.n_conc_paa = prior.n_conc_paa.mean;
            }
            if !e.paa_c {
                kin.paa_c = prior.paa_c.mean;
            }
            let mut y = State::zeros();
            y[ode::DO2] = g(&prior.do2_mg_per_l).max(1.0);
            y[ode::O2_OFFGAS] = g(&prior.o2_offgas_mol_per_mol).clamp(0.1, 0.21);
            y[ode::V] = g(&prior.v_l);
            y[ode::WT] = g(&prior.wt_kg);
            y[ode::H_ION] = 10f64.powf(-g(&prior.ph));
            y[ode::T] = g(&prior.t_k);
            y[ode::CO2_OFFGAS] = g(&prior.co2_offgas_pct).max(1e-4);
            let x = lognormal_around(x0, noise.lab[LAB_BIOMASS], &mut rng);
            y[ode::A0] = x / 3.0;
            y[ode::A1] = 2.0 * x / 3.0;
            y[ode::S] = lognormal_around(s0, noise.lab[LAB_SUBSTRATE], &mut rng);
            y[ode::PAA] = lognormal_around(paa0, noise.lab[LAB_PAA], &mut rng);
            y[ode::NH3] = lognormal_around(nh30, noise.lab[LAB_NH3], &mut rng);
            y[ode::P] = lab0.values[LAB_PENICILLIN].unwrap_or(0.0).max(0.0);
            y[ode::VISCOSITY] = lab0.values[LAB_VISCOSITY].unwrap_or(4.0);
            members.push(Member {
                stepper: Stepper::new(y, kin, &settings.accuracy),
                z: 0.0,
            });
        }
        Ok(Estimator {
            recipe: recipe.clone(),
            settings: *settings,
            prior: *prior,
            members,
            rng: SplitMix64::new(run_seed(settings.seed, 1)),
            replaced: 0,
            rejected: 0,
            plan_fallbacks: 0,
        })
    }

    /// Members whose step failed (the integrator gave up on a state the
    /// analysis made implausible) are replaced by copies of healthy members
    /// (member j by the next healthy one after it), counted in
    /// [`Estimator::replaced`]. All failing is an error.
    fn replace_failed(&mut self, ok: &[bool], k: usize) -> Result<(), Error> {
        if ok.iter().all(|&b| b) {
            return Ok(());
        }
        let n = ok.len();
        if !ok.iter().any(|&b| b) {
            return Err(Error::Numerical {
                time_h: k as f64 * STEP_H,
                message: format!("IndPenSim estimator: every member failed at step {k}"),
                state: String::new(),
            });
        }
        for j in 0..n {
            if !ok[j] {
                let src = (1..n).map(|d| (j + d) % n).find(|&i| ok[i]).unwrap_or(j);
                self.members[j] = self.members[src].clone();
                self.replaced += 1;
            }
        }
        Ok(())
    }

    /// Member replacements so far (see `replace_failed`).
    pub fn replaced(&self) -> usize {
        self.replaced
    }

    /// Online readings rejected by the gross-error check so far.
    pub fn rejected(&self) -> usize {
        self.rejected
    }

    /// Step inputs that ran the plan's set-point because the step's record
    /// lacked the applied value (one per input and step; only counted with
    /// [`Settings::applied_inputs`]).
    pub fn plan_fallbacks(&self) -> usize {
        self.plan_fallbacks
    }

    /// Ensemble size.
    pub fn members(&self) -> usize {
        self.members.len()
    }

    /// Steps finished.
    pub fn step(&self) -> usize {
        self.members[0].stepper.k
    }

    /// Batch time, h.
    pub fn time_h(&self) -> f64 {
        self.step() as f64 * STEP_H
    }

    /// Advances every member by one step with the recorded flows and the
    /// applied recipe inputs (or the recipe plan, [`Settings::applied_inputs`]),
    /// then assimilates the step's online measurements.
    pub fn advance(&mut self, obs: &OnlineStep) -> Result<(), Error> {
        self.advance_masked(obs, &[true; N_ONLINE])
    }

    /// [`advance`](Self::advance) for a step in which only the measured
    /// values flagged in `present` were read (order [`ONLINE_MEASURED`]):
    /// the others are neither checked nor assimilated (a live historian
    /// may miss a reading). The flows are inputs and must all be given.
    pub fn advance_masked(
        &mut self,
        obs: &OnlineStep,
        present: &[bool; N_ONLINE],
    ) -> Result<(), Error> {
        let k = self.step() + 1;
        if k > N_STEPS {
            return Err(Error::input(
                "<indpensim observations>",
                format!("step {k}"),
                format!("at most {N_STEPS} steps"),
                "an online record after the batch's end",
            ));
        }
        for (i, v) in obs.flows.iter().enumerate() {
            check_finite(ONLINE_FLOWS[i], k, *v)?;
        }
        for (i, v) in obs.values.iter().enumerate() {
            if present[i] {
                check_finite(ONLINE_MEASURED[i], k, *v)?;
            }
        }
        let applied = if self.settings.applied_inputs {
            for (i, v) in obs.applied.iter().enumerate() {
                match v {
                    Some(v) => {
                        check_finite(APPLIED_INPUTS[i], k, *v)?;
                        if *v < 0.0 {
                            return Err(Error::input(
                                "<indpensim observations>",
                                format!(
                                    "step {k} ({:.1} h), `{}`",
                                    k as f64 * STEP_H,
                                    APPLIED_INPUTS[i]
                                ),
                                "an applied input ≥ 0",
                                v.to_string(),
                            ));
                        }
                    }
                    None => self.plan_fallbacks += 1,
                }
            }
            obs.applied
        } else {
            [None; N_APPLIED]
        };
        let ws: Vec<f64> = (0..self.members.len()).map(|_| self.rng.normal()).collect();
        let recipe = &self.recipe;
        let ok: Vec<bool> = self
            .members
            .par_iter_mut()
            .zip(ws.par_iter())
            .map(|(m, w)| {
                m.z = next_z(m.z, *w);
                let mut u = m.stepper.inputs(recipe, disturbances_of(m.z));
                let [fa, fb, fc, fh, fpaa] = obs.flows;
                u.fa = fa.max(0.0);
                u.fb = fb.max(0.0);
                u.fc = fc.max(1e-4);
                u.fh = fh.max(1e-4);
                u.fpaa = fpaa.max(0.0);
                let [fs, foil, fg, pressure, discharge, fw] = applied;
                for (slot, v) in [
                    (&mut u.fs, fs),
                    (&mut u.foil, foil),
                    (&mut u.fg, fg),
                    (&mut u.pressure, pressure),
                    (&mut u.discharge, discharge),
                    (&mut u.fw, fw),
                ] {
                    if let Some(v) = v {
                        *slot = v;
                    }
                }
                m.stepper.step(&u).is_ok()
            })
            .collect();
        self.replace_failed(&ok, k)?;
        // Online analysis: observations in log space except pH.
        let used: Vec<usize> = (0..N_ONLINE)
            .filter(|&i| self.settings.online_used[i] && present[i])
            .filter(|&i| i != 2 || obs.values[i] >= self.settings.do2_min_assimilated_mg_per_l)
            .collect();
        if used.is_empty() {
            return Ok(());
        }
        let y: Vec<f64> = used
            .iter()
            .map(|&i| online_transform(i, obs.values[i]))
            .collect::<Option<_>>()
            .ok_or_else(|| {
                Error::input(
                    "<indpensim observations>",
                    format!("step {k} ({:.1} h)", k as f64 * STEP_H),
                    "positive online readings",
                    format!("{:?}", obs.values),
                )
            })?;
        let sd: Vec<f64> = used
            .iter()
            .map(|&i| self.settings.noise.online[i] * self.settings.online_variance_factor.sqrt())
            .collect();
        let h_all = |m: &Member| -> Vec<f64> {
            used.iter()
                .map(|&i| online_transform(i, online_predicted(i, &m.stepper.y)).unwrap_or(-50.0))
                .collect()
        };
        // Gross-error check per variable against the ensemble's prediction.
        let preds: Vec<Vec<f64>> = self.members.iter().map(h_all).collect();
        let nm = preds.len() as f64;
        let mut keep = Vec::new();
        for (c, _) in used.iter().enumerate() {
            let mean = preds.iter().map(|p| p[c]).sum::<f64>() / nm;
            let var = preds.iter().map(|p| (p[c] - mean).powi(2)).sum::<f64>() / (nm - 1.0);
            if (y[c] - mean).abs() <= self.settings.gate_sd * (var + sd[c] * sd[c]).sqrt() {
                keep.push(c);
            } else {
                self.rejected += 1;
            }
        }
        if keep.is_empty() {
            return Ok(());
        }
        let used: Vec<usize> = keep.iter().map(|&c| used[c]).collect();
        let y: Vec<f64> = keep.iter().map(|&c| y[c]).collect();
        let sd: Vec<f64> = keep.iter().map(|&c| sd[c]).collect();
        let h = |m: &Member| -> Vec<f64> {
            used.iter()
                .map(|&i| online_transform(i, online_predicted(i, &m.stepper.y)).unwrap_or(-50.0))
                .collect()
        };
        self.analyse(&h, &y, &sd);
        Ok(())
    }

    /// Assimilates a lab sample taken now (its time must be the current
    /// batch time to within half a step).
    pub fn assimilate_lab(&mut self, sample: &LabSample) -> Result<(), Error> {
        if (sample.time_h - self.time_h()).abs() > 0.5 * STEP_H {
            return Err(Error::input(
                "<indpensim observations>",
                format!("lab sample at {} h", sample.time_h),
                format!("a sample at the filter's time {:.1} h", self.time_h()),
                format!("{} h", sample.time_h),
            ));
        }
        let mut used = Vec::new();
        let mut y = Vec::new();
        let mut sd = Vec::new();
        for i in 0..LAB.len() {
            if !self.settings.lab_used[i] {
                continue;
            }
            if let Some(v) = sample.values[i] {
                check_finite(LAB[i], self.step(), v)?;
                if v <= 0.0 {
                    continue; // a zero result (below detection) carries no log-scale information
                }
                used.push(i);
                y.push(v.ln());
                sd.push(self.settings.noise.lab[i]);
            }
        }
        if used.is_empty() {
            return Ok(());
        }
        let h = |m: &Member| -> Vec<f64> {
            used.iter()
                .map(|&i| lab_predicted(i, &m.stepper.y).max(1e-12).ln())
                .collect()
        };
        self.analyse(&h, &y, &sd);
        Ok(())
    }

    /// The augmented vector of a member: ln of the updated states, ln of
    /// the estimated parameters, z.
    fn pack(&self, m: &Member) -> Vec<f64> {
        let y = &m.stepper.y;
        let mut v: Vec<f64> = UPDATED.iter().map(|&i| y[i].max(1e-300).ln()).collect();
        let e = &self.settings.estimated;
        let k = &m.stepper.kin;
        for (on, p) in [
            (e.mu_p, k.mu_p),
            (e.mux_max, k.mux_max),
            (e.alpha_kla, k.alpha_kla),
            (e.n_conc_paa, k.n_conc_paa),
            (e.paa_c, k.paa_c),
        ] {
            if on {
                v.push(p.ln());
            }
        }
        v.push(m.z);
        v
    }

    fn unpack(settings: &Settings, m: &mut Member, v: &[f64]) {
        let mut c = 0;
        for &i in UPDATED.iter() {
            let x = v[c].clamp(-690.0, 690.0).exp();
            m.stepper.y[i] = x;
            c += 1;
        }
        // Keep DO2 at or above the published record floor.
        if m.stepper.y[ode::DO2] < 1.0 {
            m.stepper.y[ode::DO2] = 1.0;
        }
        let e = &settings.estimated;
        let k = &mut m.stepper.kin;
        for (on, p) in [
            (e.mu_p, &mut k.mu_p),
            (e.mux_max, &mut k.mux_max),
            (e.alpha_kla, &mut k.alpha_kla),
            (e.n_conc_paa, &mut k.n_conc_paa),
            (e.paa_c, &mut k.paa_c),
        ] {
            if on {
                *p = v[c].clamp(-30.0, 30.0).exp();
                c += 1;
            }
        }
        m.z = v[c];
    }

    /// Stochastic EnKF analysis with perturbed observations, then RTPS.
    fn analyse(&mut self, h: &dyn Fn(&Member) -> Vec<f64>, y: &[f64], sd: &[f64]) {
        let n = self.members.len();
        let m = y.len();
        let xs: Vec<Vec<f64>> = self.members.iter().map(|mm| self.pack(mm)).collect();
        let hs: Vec<Vec<f64>> = self.members.iter().map(h).collect();
        let d = xs[0].len();
        let mut x = DMatrix::<f64>::zeros(d, n);
        let mut hy = DMatrix::<f64>::zeros(m, n);
        for j in 0..n {
            for i in 0..d {
                x[(i, j)] = xs[j][i];
            }
            for i in 0..m {
                hy[(i, j)] = hs[j][i];
            }
        }
        let xm = x.column_mean();
        let ym = hy.column_mean();
        let mut xa = x.clone();
        let mut ya = hy.clone();
        for j in 0..n {
            xa.column_mut(j).axpy(-1.0, &xm, 1.0);
            ya.column_mut(j).axpy(-1.0, &ym, 1.0);
        }
        let sd_before: Vec<f64> = (0..d)
            .map(|i| (xa.row(i).norm_squared() / (n - 1) as f64).sqrt())
            .collect();
        let scale = 1.0 / (n - 1) as f64;
        let pxy = &xa * ya.transpose() * scale;
        let mut pyy = &ya * ya.transpose() * scale;
        for i in 0..m {
            pyy[(i, i)] += sd[i] * sd[i];
        }
        let Some(chol) = pyy.cholesky() else {
            return; // degenerate innovation covariance: skip this update
        };
        let mut innov = DMatrix::<f64>::zeros(m, n);
        for j in 0..n {
            for i in 0..m {
                innov[(i, j)] = y[i] + sd[i] * self.rng.normal() - hy[(i, j)];
            }
        }
        let gain_in = chol.solve(&innov);
        let xnew = x + pxy * gain_in;
        // RTPS: relax each component's analysis spread toward its forecast
        // spread.
        let xnm = xnew.column_mean();
        let mut out = xnew.clone();
        let alpha = self.settings.rtps;
        for i in 0..d {
            let mut s2 = 0.0;
            for j in 0..n {
                s2 += (xnew[(i, j)] - xnm[i]).powi(2);
            }
            let sa = (s2 / (n - 1) as f64).sqrt();
            if sa > 0.0 && alpha > 0.0 {
                let f = 1.0 + alpha * (sd_before[i] - sa) / sa;
                for j in 0..n {
                    out[(i, j)] = xnm[i] + f * (xnew[(i, j)] - xnm[i]);
                }
            }
        }
        let settings = self.settings;
        for (j, mm) in self.members.iter_mut().enumerate() {
            let col: DVector<f64> = out.column(j).into_owned();
            if col.iter().all(|v| v.is_finite()) {
                Self::unpack(&settings, mm, col.as_slice());
            }
        }
    }

    /// Ensemble mean and SD of each estimated parameter (the published
    /// μx,max adaptation may have lowered a member's μx,max: this reports
    /// the value in force).
    pub fn parameters(&self) -> Vec<ParameterEstimate> {
        let e = &self.settings.estimated;
        let mut out = Vec::new();
        let specs: [(&'static str, bool, fn(&Kinetics) -> f64); 5] = [
            ("mu_p_per_h", e.mu_p, |k| k.mu_p),
            ("mux_max_per_h", e.mux_max, |k| k.mux_max),
            ("alpha_kla", e.alpha_kla, |k| k.alpha_kla),
            ("n_conc_paa_mg_per_l", e.n_conc_paa, |k| k.n_conc_paa),
            ("paa_c_mg_per_l", e.paa_c, |k| k.paa_c),
        ];
        for (name, on, get) in specs {
            if !on {
                continue;
            }
            let v: Vec<f64> = self.members.iter().map(|m| get(&m.stepper.kin)).collect();
            let (mean, sd) = mean_sd(&v);
            out.push(ParameterEstimate { name, mean, sd });
        }
        out
    }

    /// Member `j`'s stepper (state, kinetic parameters in force, controller
    /// records) and its disturbance state z. Read-only; for diagnosis
    /// against a generator's truth (`crates/ml/examples/indpensim_diagnose.rs`).
    pub fn member(&self, j: usize) -> (&Stepper, f64) {
        let m = &self.members[j];
        (&m.stepper, m.z)
    }

    /// A copy of the filter in which `edit(j, stepper, z)` has changed each
    /// member `j`; `self` is unchanged. For diagnosis only: a forecast of
    /// the copy ([`Estimator::forecast_members`]) runs the same machinery
    /// from members with part of their state swapped (e.g. for the
    /// generator's truth).
    pub fn edited(&self, mut edit: impl FnMut(usize, &mut Stepper, &mut f64)) -> Estimator {
        let mut out = self.clone();
        for (j, m) in out.members.iter_mut().enumerate() {
            edit(j, &mut m.stepper, &mut m.z);
        }
        out
    }

    /// Ensemble mean and SD of the current penicillin concentration, g/L.
    pub fn penicillin_now(&self) -> (f64, f64) {
        let v: Vec<f64> = self.members.iter().map(|m| m.stepper.y[ode::P]).collect();
        mean_sd(&v)
    }

    /// The prior the ensemble was drawn from.
    pub fn prior(&self) -> &Prior {
        &self.prior
    }

    /// Forecast of the final penicillin: every member run to step
    /// [`N_STEPS`] with its own controllers, the recipe plan and future
    /// disturbances sampled from the published process (seeded by `seed`
    /// and the member's index).
    pub fn forecast(&self, seed: u64) -> Result<Forecast, Error> {
        self.forecast_members(seed, self.members.len())
    }

    /// [`forecast`](Self::forecast) from the first `n` members only (all
    /// when `n` ≥ the ensemble size): a cheaper forecast for live use. The
    /// members are exchangeable draws, so the first `n` are a random
    /// subset; member j's future disturbances are the same as in the full
    /// forecast with the same seed.
    pub fn forecast_members(&self, seed: u64, n: usize) -> Result<Forecast, Error> {
        let n = n.clamp(1, self.members.len());
        let recipe = &self.recipe;
        let runs: Vec<Result<(f64, bool), Error>> = self.members[..n]
            .par_iter()
            .enumerate()
            .map(|(j, m)| -> Result<(f64, bool), Error> {
                let mut m = m.clone();
                let capped = self.cap_parameters(&mut m.stepper.kin);
                let mut rng = SplitMix64::new(run_seed(seed, j as u64));
                while m.stepper.k < N_STEPS {
                    m.z = next_z(m.z, rng.normal());
                    let u = m.stepper.inputs(recipe, disturbances_of(m.z));
                    m.stepper.step(&u)?;
                }
                Ok((m.stepper.y[ode::P], capped))
            })
            .collect();
        let failed = runs.iter().filter(|r| r.is_err()).count();
        let capped = runs.iter().filter(|r| matches!(r, Ok((_, true)))).count();
        let first_failure = runs
            .iter()
            .find_map(|r| r.as_ref().err())
            .map(|e| e.to_string());
        let finals: Vec<f64> = runs
            .into_iter()
            .filter_map(Result::ok)
            .map(|r| r.0)
            .collect();
        if finals.len() < 2 {
            return Err(Error::Numerical {
                time_h: self.time_h(),
                message: format!(
                    "IndPenSim forecast: {failed} of {n} members failed; the first: {}",
                    first_failure.unwrap_or_default()
                ),
                state: String::new(),
            });
        }
        let mut sorted = finals.clone();
        sorted.sort_by(f64::total_cmp);
        let (mean, _) = mean_sd(&finals);
        Ok(Forecast {
            time_h: self.time_h(),
            mean_g_per_l: mean,
            p05_g_per_l: quantile(&sorted, 0.05),
            p95_g_per_l: quantile(&sorted, 0.95),
            members_g_per_l: finals,
            failed_members: failed,
            capped_members: capped,
        })
    }

    /// Caps each estimated kinetic parameter at [`FORECAST_PARAMETER_CAP_SD`]
    /// prior SDs above its prior mean; true if any was capped.
    fn cap_parameters(&self, k: &mut Kinetics) -> bool {
        let e = &self.settings.estimated;
        let p = &self.prior;
        let mut capped = false;
        for (on, v, n) in [
            (e.mu_p, &mut k.mu_p, p.mu_p),
            (e.mux_max, &mut k.mux_max, p.mux_max),
            (e.alpha_kla, &mut k.alpha_kla, p.alpha_kla),
            (e.n_conc_paa, &mut k.n_conc_paa, p.n_conc_paa),
            (e.paa_c, &mut k.paa_c, p.paa_c),
        ] {
            let cap = n.mean + FORECAST_PARAMETER_CAP_SD * n.sd;
            if on && *v > cap {
                *v = cap;
                capped = true;
            }
        }
        capped
    }
}

fn mean_sd(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (mean, var.sqrt())
}

/// The model's value of online measured variable `i`.
fn online_predicted(i: usize, y: &State) -> f64 {
    match i {
        0 => y[ode::T],
        1 => -y[ode::H_ION].log10(),
        2 => y[ode::DO2],
        3 => y[ode::O2_OFFGAS],
        4 => y[ode::CO2_OFFGAS],
        5 => y[ode::V],
        _ => y[ode::WT],
    }
}

/// The space online variable `i` is compared in: pH as is, the others ln
/// (None for a non-positive value).
fn online_transform(i: usize, v: f64) -> Option<f64> {
    if i == 1 {
        Some(v)
    } else if v > 0.0 {
        Some(v.ln())
    } else {
        None
    }
}

/// The model's value of lab variable `i`.
fn lab_predicted(i: usize, y: &State) -> f64 {
    match i {
        LAB_BIOMASS => y[ode::A0] + y[ode::A1] + y[ode::A3] + y[ode::A4],
        LAB_PENICILLIN => y[ode::P],
        LAB_SUBSTRATE => y[ode::S],
        LAB_PAA => y[ode::PAA],
        LAB_NH3 => y[ode::NH3],
        _ => y[ode::VISCOSITY],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lab0() -> LabSample {
        LabSample {
            time_h: 0.0,
            values: [Some(0.5), None, Some(1.0), Some(1400.0), Some(1700.0), None],
        }
    }

    fn reading(applied: [Option<f64>; N_APPLIED]) -> OnlineStep {
        OnlineStep {
            flows: [0.0, 10.0, 1e-4, 150.0, 5.0],
            values: [297.5, 6.46, 14.8, 0.198, 0.08, 57_950.0, 62_400.0],
            applied,
        }
    }

    fn small(applied_inputs: bool) -> Settings {
        Settings {
            members: 4,
            applied_inputs,
            ..Settings::default()
        }
    }

    /// Bit-for-bit member states after `n` steps.
    fn states(e: &Estimator) -> Vec<Vec<u64>> {
        e.members
            .iter()
            .map(|m| {
                let mut v: Vec<u64> = m.stepper.y.iter().map(|x| x.to_bits()).collect();
                v.push(m.stepper.kin.mux_max.to_bits());
                v.push(m.z.to_bits());
                v
            })
            .collect()
    }

    #[test]
    fn a_member_follows_the_applied_aeration_not_the_plan() {
        // The plan says 30 m³/h for the first 8 h; the plant applied 20.
        let plan = Recipe::indpensim_default();
        assert_eq!(plan.fg_m3_per_h.at(0.2), 30.0);
        let mut applied_20 = plan.clone();
        applied_20.fg_m3_per_h =
            super::super::recipe::Profile::new(vec![(230.0, 20.0)], "Fg").unwrap();
        let prior = Prior::default();
        let mut with_applied = Estimator::new(&plan, &lab0(), &prior, &small(true)).unwrap();
        let mut planned_20 = Estimator::new(&applied_20, &lab0(), &prior, &small(false)).unwrap();
        let mut plan_only = Estimator::new(&plan, &lab0(), &prior, &small(false)).unwrap();
        let mut fg = [None; N_APPLIED];
        fg[2] = Some(20.0);
        for _ in 0..3 {
            with_applied.advance(&reading(fg)).unwrap();
            planned_20.advance(&reading(fg)).unwrap();
            plan_only.advance(&reading(fg)).unwrap();
        }
        // Stepped with 20 m³/h: the same members as a plan that said 20,
        // bit for bit; not the members that ran the plan's 30.
        assert_eq!(states(&with_applied), states(&planned_20));
        assert_ne!(states(&with_applied), states(&plan_only));
        // Less air, less O2 carried out in the off-gas balance: the first
        // member's dissolved O2 differs from the plan-run member's.
        let do2 = |e: &Estimator| e.members[0].stepper.y[ode::DO2];
        assert!((do2(&with_applied) - do2(&plan_only)).abs() > 1e-6);
        // The five inputs without a value ran the plan: counted.
        assert_eq!(with_applied.plan_fallbacks(), 3 * 5);
        assert_eq!(plan_only.plan_fallbacks(), 0);
    }

    #[test]
    fn a_missing_applied_input_falls_back_to_the_plan_and_is_counted() {
        let plan = Recipe::indpensim_default();
        let prior = Prior::default();
        let mut missing = Estimator::new(&plan, &lab0(), &prior, &small(true)).unwrap();
        let mut given = Estimator::new(&plan, &lab0(), &prior, &small(true)).unwrap();
        let mut plan_only = Estimator::new(&plan, &lab0(), &prior, &small(false)).unwrap();
        for k in 1..=3 {
            let t = k as f64 * STEP_H;
            let at_plan = [
                Some(plan.fs_l_per_h.at(t)),
                Some(plan.foil_l_per_h.at(t)),
                Some(plan.fg_m3_per_h.at(t)),
                Some(plan.pressure_bar.at(t)),
                Some(plan.discharge_l_per_h.at(t)),
                Some(plan.fw_l_per_h.at(t)),
            ];
            missing.advance(&reading([None; N_APPLIED])).unwrap();
            given.advance(&reading(at_plan)).unwrap();
            plan_only.advance(&reading(at_plan)).unwrap();
        }
        assert_eq!(states(&missing), states(&plan_only));
        assert_eq!(states(&given), states(&plan_only));
        assert_eq!(missing.plan_fallbacks(), 3 * N_APPLIED);
        assert_eq!(given.plan_fallbacks(), 0);
    }

    #[test]
    fn an_edited_copy_changes_only_the_copy() {
        let plan = Recipe::indpensim_default();
        let mut e = Estimator::new(&plan, &lab0(), &Prior::default(), &small(false)).unwrap();
        for _ in 0..3 {
            e.advance(&reading([None; N_APPLIED])).unwrap();
        }
        let before = states(&e);
        let same = e.edited(|_, _, _| {});
        assert_eq!(states(&same), before);
        let moved = e.edited(|j, s, z| {
            s.y[ode::P] = 1.0 + j as f64;
            *z = 0.5;
        });
        assert_eq!(states(&e), before);
        for j in 0..e.members() {
            assert_eq!(moved.member(j).0.y[ode::P], 1.0 + j as f64);
            assert_eq!(moved.member(j).1, 0.5);
            assert_eq!(e.member(j).0.y[ode::P], e.members[j].stepper.y[ode::P]);
        }
    }

    #[test]
    fn a_negative_or_non_finite_applied_input_is_an_error_naming_it() {
        let plan = Recipe::indpensim_default();
        let mut e = Estimator::new(&plan, &lab0(), &Prior::default(), &small(true)).unwrap();
        let mut bad = [None; N_APPLIED];
        bad[3] = Some(-0.5);
        let msg = e.advance(&reading(bad)).unwrap_err().to_string();
        assert!(
            msg.contains("pressure_bar") && msg.contains("-0.5"),
            "{msg}"
        );
        bad[3] = Some(f64::NAN);
        let msg = e.advance(&reading(bad)).unwrap_err().to_string();
        assert!(msg.contains("pressure_bar"), "{msg}");
    }
}
