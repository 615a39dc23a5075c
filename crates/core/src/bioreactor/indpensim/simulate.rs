//! The step loop: controllers, recipe and disturbances per 0.2-h step, the
//! ODE integrated across the step, the published post-step corrections.

use super::control::{self, History};
use super::ode::{self, Disturbances, Kinetics, N_MODEL, N_STATES, State, StepInputs};
use super::recipe::Recipe;
use super::{H_ODE_H, N_STEPS, STEP_H};
use crate::error::Error;
use crate::solver::{dopri5, etdrk4};

/// The random initial state of a batch (pensimpy `X0`), in the data set's
/// units.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct InitialState {
    /// Substrate (sugar), g/L.
    pub s_g_per_l: f64,
    /// Dissolved O₂, mg/L.
    pub do2_mg_per_l: f64,
    /// O₂ in the off-gas, mol/mol.
    pub o2_offgas_mol_per_mol: f64,
    /// Penicillin, g/L.
    pub p_g_per_l: f64,
    /// Broth volume, L.
    pub v_l: f64,
    /// Vessel weight, kg.
    pub wt_kg: f64,
    /// pH.
    pub ph: f64,
    /// Broth temperature, K.
    pub t_k: f64,
    /// Growing region; the non-growing region a1 is given separately
    /// (the generator sets a0 = X0/3, a1 = 2·X0/3).
    pub a0_g_per_l: f64,
    /// Non-growing hyphal region a1, g/L.
    pub a1_g_per_l: f64,
    /// CO₂ in the off-gas, %.
    pub co2_offgas_pct: f64,
    /// Phenylacetic acid, mg/L.
    pub paa_mg_per_l: f64,
    /// Nitrogen (NH₃), mg/L.
    pub nh3_mg_per_l: f64,
}

/// Everything that determines a recipe-driven batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// The batch's initial state.
    pub initial: InitialState,
    /// The batch's kinetic parameters.
    pub kinetics: Kinetics,
    /// The operating recipe: feed, aeration, pressure and discharge profiles.
    pub recipe: Recipe,
    /// Disturbances of steps 1..=n (index = step − 1); a batch without
    /// recorded disturbances uses zeros (the nominal process).
    pub disturbances: Vec<Disturbances>,
    /// Number of 0.2-h steps (1150 = 230 h).
    pub n_steps: usize,
}

/// Integration accuracy. The reference (scipy `odeint`, LSODA) runs at
/// rtol = atol = 1.49e-8; these defaults are tighter so that differences
/// from it are the reference's own integration error.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Accuracy {
    /// Relative tolerance of the integrator.
    pub rtol: f64,
    /// Absolute tolerance relative to each state's nominal scale.
    pub atol_scaled: f64,
    /// Which integrator takes each 0.2-h step.
    pub integrator: Integrator,
}

impl Default for Accuracy {
    fn default() -> Self {
        Accuracy {
            rtol: 1e-10,
            atol_scaled: 1e-10,
            integrator: Integrator::Dopri5,
        }
    }
}

/// The integrator of a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Integrator {
    /// Dormand–Prince 5(4) ([`crate::solver::dopri5`]), adaptive: the
    /// reference runs (state-by-state agreement with pensimpy at 1e-10).
    /// Its steps are set by the stiff modes ([`STIFF`]), not the
    /// tolerance: ~110 right-hand-side evaluations per 0.2-h step from
    /// rtol 1e-4 to 1e-6.
    Dopri5,
    /// ETDRK4 with a diagonal linear part over [`STIFF`]
    /// ([`crate::solver::etdrk4`]) on `substeps` equal sub-steps of the
    /// 0.2-h step (the tolerances are not used); a step whose result is
    /// not finite is redone with Dopri5 (counted in
    /// [`Stepper::dopri5_fallbacks`]). Opt-in for the ensemble filter's
    /// members (`estimate::Settings::accuracy`; the registered settings
    /// keep Dopri5): 8 sub-steps take 37 evaluations per step instead of
    /// ~112 (`docs/indpensim-forecast.md`, "Speed", has the accuracy
    /// measured against Dopri5 at 1e-10).
    Etdrk4 {
        /// Equal sub-steps per 0.2-h step.
        substeps: usize,
    },
}

/// The states whose fast modes make the model stiff, with the eigenvalues
/// of the Jacobian they carry on a nominal batch (finite differences at
/// 0–220 h; the Jacobian is nearly diagonal there: each eigenvalue is
/// within 0.1 % of the diagonal entry): substrate −42 to −431 h⁻¹
/// (feed-controlled at ~0.002 g/L, far below its Monod constants),
/// dissolved O₂ −60 to −264 h⁻¹ (kLa), dissolved CO₂ −53 to −90 h⁻¹,
/// off-gas CO₂ and O₂ −7 to −14 h⁻¹ (gas hold-up residence time).
pub const STIFF: [usize; 5] = [
    ode::S,
    ode::DO2,
    ode::CO2_D,
    ode::CO2_OFFGAS,
    ode::O2_OFFGAS,
];

/// Output columns (units in the names) and the reference wide-file column
/// each corresponds to.
pub const COLUMNS: [(&str, &str); 50] = [
    ("time_h", "time_h"),
    ("t_ode_end_h", "t_ode_end_h"),
    ("volume_l", "V"),
    ("weight_kg", "Wt"),
    ("penicillin_g_per_l", "P"),
    ("substrate_g_per_l", "S"),
    ("biomass_g_per_l", "X"),
    ("do2_mg_per_l", "DO2"),
    ("o2_offgas_mol_per_mol", "O2_offgas"),
    ("co2_offgas_pct", "CO2_offgas"),
    ("co2_dissolved_g_per_l", "CO2_dissolved"),
    ("ph", "pH"),
    ("temperature_k", "T"),
    ("heat_q_per_1000", "Q"),
    ("viscosity_cp", "viscosity"),
    ("paa_mg_per_l", "PAA"),
    ("nh3_mg_per_l", "NH3"),
    ("our_g_per_min", "OUR"),
    ("cer_g_per_h", "CER"),
    ("culture_age_g_h_per_l", "culture_age_int"),
    ("a0_g_per_l", "a0"),
    ("a1_g_per_l", "a1"),
    ("a3_g_per_l", "a3"),
    ("a4_g_per_l", "a4"),
    ("n0", "n0"),
    ("n1", "n1"),
    ("n2", "n2"),
    ("n3", "n3"),
    ("n4", "n4"),
    ("n5", "n5"),
    ("n6", "n6"),
    ("n7", "n7"),
    ("n8", "n8"),
    ("n9", "n9"),
    ("nm", "nm"),
    ("phi0", "phi0"),
    ("mu_p_step_integral", "mu_P_calc"),
    ("mu_x_step_integral", "mu_X_calc"),
    ("fs_l_per_h", "Fs"),
    ("foil_l_per_h", "Foil"),
    ("fpaa_l_per_h", "Fpaa"),
    ("fw_l_per_h", "Fw"),
    ("fg_m3_per_h", "Fg"),
    ("agitation_rpm", "RPM"),
    ("pressure_bar", "pressure"),
    ("discharge_l_per_h", "F_discharge"),
    ("fa_l_per_h", "Fa"),
    ("fb_l_per_h", "Fb"),
    ("fc_l_per_h", "Fc"),
    ("fh_l_per_h", "Fh"),
];

/// A simulated batch: one row per step (state at the step's end), plus
/// the mass-balance bookkeeping.
#[derive(Debug, Clone)]
pub struct Trajectory {
    /// Row-major, `COLUMNS.len()` values per row.
    pub rows: Vec<[f64; COLUMNS.len()]>,
    /// Initial state vector (published order, H+ not pH).
    pub y0: State,
    /// Final state including the bookkeeping integrals.
    pub y_end: State,
    /// Penicillin added by the published clip of non-positive states to
    /// 0.001 g/L, g (PV after the clip minus PV before it, summed).
    pub penicillin_clip_g: f64,
    /// Broth volume added by clips (V is never clipped in practice), L.
    pub volume_clip_l: f64,
    /// Right-hand-side evaluations.
    pub rhs_evaluations: u64,
}

impl Trajectory {
    /// Index of an output column by name.
    pub fn column(name: &str) -> Option<usize> {
        COLUMNS.iter().position(|(c, _)| *c == name)
    }
}

/// Nominal magnitude of each state (error-control scale).
fn scales() -> State {
    let mut s = State::zeros();
    let nominal: [f64; N_STATES] = [
        1.0, 10.0, 0.2, 10.0, 1e5, 1e5, 1e-6, 300.0, 1e3, 10.0, 1e3, 1.0, 10.0, 1.0, 1.0, 1e9, 1e9,
        1e9, 1e9, 1e9, 1e9, 1e9, 1e9, 1e9, 1e9, 1e9, 1.0, 1.0, 1.0, 1e3, 1e3, 0.01, 0.1, 1e3, 1e3,
        1e4, 1e4,
    ];
    for (i, v) in nominal.iter().enumerate() {
        s[i] = *v;
    }
    s
}

/// End time of one step's integration as the reference computes it:
/// `np.arange(t0, t1 + h, h)[-1]` with t0 = (k−1)·0.2, t1 = k·0.2,
/// h = 0.005. Float rounding makes it t1 + h in about a third of the steps.
pub fn ode_end_time(k: usize) -> (f64, f64) {
    let t0 = (k - 1) as f64 * STEP_H;
    let t1 = k as f64 * STEP_H;
    let stop = t1 + H_ODE_H;
    let len = ((stop - t0) / H_ODE_H).ceil() as usize;
    let delta = (t0 + H_ODE_H) - t0;
    (t0, t0 + (len - 1) as f64 * delta)
}

/// The published initial state vector of a batch (H⁺ from pH, viscosity
/// 4 cP, every other state 0).
pub fn initial_vector(init: &InitialState) -> State {
    let mut y = State::zeros();
    y[ode::S] = init.s_g_per_l;
    y[ode::DO2] = init.do2_mg_per_l;
    y[ode::O2_OFFGAS] = init.o2_offgas_mol_per_mol;
    y[ode::P] = init.p_g_per_l;
    y[ode::V] = init.v_l;
    y[ode::WT] = init.wt_kg;
    y[ode::H_ION] = 10f64.powf(-init.ph);
    y[ode::T] = init.t_k;
    y[ode::VISCOSITY] = 4.0;
    y[ode::A0] = init.a0_g_per_l;
    y[ode::A1] = init.a1_g_per_l;
    y[ode::CO2_OFFGAS] = init.co2_offgas_pct;
    y[ode::PAA] = init.paa_mg_per_l;
    y[ode::NH3] = init.nh3_mg_per_l;
    y
}

/// One batch advanced step by step: the state, the kinetic parameters (μx,max
/// is lowered by the published adaptation), the controllers' records and
/// the previous step's flows. [`run`] drives it over a whole batch; the
/// ensemble estimator (`super::estimate`) keeps one per member and may
/// replace the controllers' flows by measured ones ([`Stepper::step`] takes
/// whatever inputs it is given).
#[derive(Debug, Clone)]
pub struct Stepper {
    /// State at the end of the last finished step.
    pub y: State,
    /// Kinetic parameters in force.
    pub kin: Kinetics,
    /// Steps finished.
    pub k: usize,
    init_ph: f64,
    init_t: f64,
    ph_hist: Vec<f64>,
    t_hist: Vec<f64>,
    paa_hist: Vec<f64>,
    mux_hist: Vec<f64>,
    /// Flows of the last step (F_a, F_b, F_c, F_h, F_paa), L/h.
    prev_flows: [f64; 5],
    h_guess: f64,
    settings: dopri5::Settings<N_STATES>,
    integrator: Integrator,
    out: Vec<[f64; N_STATES]>,
    /// Penicillin added by the published clip of non-positive states, g.
    pub penicillin_clip_g: f64,
    /// Broth volume added by clips, L.
    pub volume_clip_l: f64,
    /// Right-hand-side evaluations so far.
    pub rhs_evaluations: u64,
    /// Steps redone with Dopri5 because ETDRK4 gave a non-finite value.
    pub dopri5_fallbacks: u64,
}

impl Stepper {
    /// A batch at time 0 from its initial state vector `y0` (published
    /// order, H⁺ not pH).
    pub fn new(y0: State, kin: Kinetics, acc: &Accuracy) -> Stepper {
        let scale = scales();
        Stepper {
            y: y0,
            kin,
            k: 0,
            init_ph: -y0[ode::H_ION].log10(),
            init_t: y0[ode::T],
            ph_hist: Vec::with_capacity(N_STEPS),
            t_hist: Vec::with_capacity(N_STEPS),
            paa_hist: Vec::with_capacity(N_STEPS),
            mux_hist: Vec::with_capacity(N_STEPS),
            prev_flows: [0.0; 5],
            h_guess: 0.0,
            settings: dopri5::Settings {
                rtol: acc.rtol,
                atol: scale * acc.atol_scaled,
                max_steps: 100_000,
                controlled: ode::N_STATES,
            },
            integrator: acc.integrator,
            out: Vec::new(),
            penicillin_clip_g: 0.0,
            volume_clip_l: 0.0,
            rhs_evaluations: 0,
            dopri5_fallbacks: 0,
        }
    }

    /// The inputs of the next step (k + 1): the controllers' flows from the
    /// records, the recipe's set-points, the given disturbances. Applies the
    /// published μx,max adaptation first (it changes `kin`).
    pub fn inputs(&mut self, recipe: &Recipe, dist: Disturbances) -> StepInputs {
        let k = self.k + 1;
        let [fa_prev, fb_prev, fc_prev, fh_prev, fpaa_prev] = self.prev_flows;
        let (fa, fb) = control::ph_flows(
            &History {
                k,
                past: &self.ph_hist,
                initial: self.init_ph,
            },
            fa_prev,
            fb_prev,
        );
        let (fc, fh) = control::temperature_flows(
            &History {
                k,
                past: &self.t_hist,
                initial: self.init_t,
            },
            fc_prev,
            fh_prev,
        );
        // Published adaptation: after 64 falling steps of μx the maximum
        // growth rate is lowered to 5 × the last step's integral.
        if k > 65 {
            let window = &self.mux_hist[k - 66..k - 1];
            let falling = window.windows(2).filter(|w| w[1] - w[0] < 0.0).count();
            if falling >= 63 {
                self.kin.mux_max = self.mux_hist[k - 2] * 5.0;
            }
        }
        let t_recipe = (12 * k) as f64 / 60.0;
        let r = recipe;
        let fpaa = control::paa_flow(
            &History {
                k,
                past: &self.paa_hist,
                initial: 0.0,
            },
            fpaa_prev,
        )
        .unwrap_or_else(|| r.fpaa_l_per_h.at(t_recipe));
        StepInputs {
            fs: r.fs_l_per_h.at(t_recipe),
            foil: r.foil_l_per_h.at(t_recipe),
            fg: r.fg_m3_per_h.at(t_recipe),
            rpm: 100.0,
            fc,
            fh,
            fb,
            fa,
            fw: r.fw_l_per_h.at(t_recipe),
            pressure: r.pressure_bar.at(t_recipe),
            discharge: r.discharge_l_per_h.at(t_recipe),
            fpaa,
            nh3_shots: 0.0,
            dist,
        }
    }

    /// Integrates step k + 1 with inputs `u`, applies the published
    /// post-step corrections and records the controlled variables and the
    /// flows. Returns the step's ODE end time (h).
    pub fn step(&mut self, u: &StepInputs) -> Result<f64, Error> {
        let k = self.k + 1;
        if k > N_STEPS {
            return Err(Error::input(
                "<indpensim batch>",
                "step",
                format!("at most {N_STEPS} steps of 0.2 h"),
                format!("step {k}"),
            ));
        }
        let (t0, t_end) = ode_end_time(k);
        let mut y = self.y;
        y[ode::MU_P_INT] = 0.0;
        y[ode::MU_X_INT] = 0.0;
        let kin = self.kin;
        let consts = ode::StepConstants::new(u, t0);
        let mut f = |t: f64, yy: &State, dy: &mut State| ode::rhs_with(t, yy, &kin, &consts, dy);
        let mut check = |_t: f64, yy: &State| -> Result<(), String> {
            if yy.iter().all(|v| v.is_finite()) {
                Ok(())
            } else {
                Err("a state is not finite".into())
            }
        };
        if let Integrator::Etdrk4 { substeps } = self.integrator {
            let mut c = etdrk4::Counts::default();
            let y1 = etdrk4::integrate(
                &mut f,
                t0,
                t_end,
                &y,
                substeps,
                &STIFF,
                &self.settings.atol,
                &mut c,
            );
            self.rhs_evaluations += c.rhs_evaluations;
            if let Some(y1) = y1 {
                return Ok(self.finish_step(k, y1, u, t_end));
            }
            self.dopri5_fallbacks += 1;
        }
        self.out.clear();
        let result = dopri5::integrate(
            &mut f,
            t0,
            t_end,
            &y,
            self.h_guess,
            &self.settings,
            &[],
            &mut self.out,
            &mut check,
        );
        let (y1, counts) = result.map_err(|e| Error::Numerical {
            time_h: t0,
            message: format!("IndPenSim step {k}: {e:?}; inputs {u:?}; kinetics {kin:?}"),
            state: format!("{:?}", y.as_slice()),
        })?;
        self.rhs_evaluations += counts.rhs_evaluations;
        if counts.accepted_steps > 0 {
            self.h_guess = (t_end - t0) / counts.accepted_steps as f64;
        }
        Ok(self.finish_step(k, y1, u, t_end))
    }

    /// The published post-step corrections of step k's result and the
    /// records of the controlled variables and the flows.
    fn finish_step(&mut self, k: usize, y1: State, u: &StepInputs, t_end: f64) -> f64 {
        let mut y = y1;
        // Published post-step corrections: non-positive states become
        // 0.001; a dissolved O2 record below 2 mg/L becomes 1 mg/L.
        let pv_before = y[ode::P] * y[ode::V];
        let v_before = y[ode::V];
        for i in 0..N_MODEL - 2 {
            if y[i] <= 0.0 {
                y[i] = 0.001;
            }
        }
        self.penicillin_clip_g += y[ode::P] * y[ode::V] - pv_before;
        self.volume_clip_l += y[ode::V] - v_before;
        if y[ode::DO2] < 2.0 {
            y[ode::DO2] = 1.0;
        }
        self.ph_hist.push(-y[ode::H_ION].log10());
        self.t_hist.push(y[ode::T]);
        self.paa_hist.push(y[ode::PAA]);
        self.mux_hist.push(y[ode::MU_X_INT]);
        self.prev_flows = [u.fa, u.fb, u.fc, u.fh, u.fpaa];
        self.y = y;
        self.k = k;
        t_end
    }
}

/// Simulates a batch.
pub fn run(batch: &Batch, acc: &Accuracy) -> Result<Trajectory, Error> {
    let init = &batch.initial;
    if batch.n_steps == 0 || batch.n_steps > N_STEPS {
        return Err(Error::input(
            "<indpensim batch>",
            "n_steps",
            format!("1 to {N_STEPS} steps of 0.2 h"),
            batch.n_steps.to_string(),
        ));
    }
    if !batch.disturbances.is_empty() && batch.disturbances.len() < batch.n_steps {
        return Err(Error::input(
            "<indpensim batch>",
            "disturbances",
            format!("one row per step ({} steps)", batch.n_steps),
            format!("{} rows", batch.disturbances.len()),
        ));
    }
    let y0 = initial_vector(init);
    let mut stepper = Stepper::new(y0, batch.kinetics, acc);
    let n = batch.n_steps;
    let mut rows = Vec::with_capacity(n);
    for k in 1..=n {
        let dist = batch.disturbances.get(k - 1).copied().unwrap_or_default();
        let u = stepper.inputs(&batch.recipe, dist);
        let t_end = stepper.step(&u)?;
        let y = stepper.y;
        let ph = -y[ode::H_ION].log10();

        let mut row = [0.0; COLUMNS.len()];
        row[0] = k as f64 * STEP_H;
        row[1] = t_end;
        let states = [
            y[ode::V],
            y[ode::WT],
            y[ode::P],
            y[ode::S],
            y[ode::A0] + y[ode::A1] + y[ode::A3] + y[ode::A4],
            y[ode::DO2],
            y[ode::O2_OFFGAS],
            y[ode::CO2_OFFGAS],
            y[ode::CO2_D],
            ph,
            y[ode::T],
            y[ode::Q] / 1000.0,
            y[ode::VISCOSITY],
            y[ode::PAA],
            y[ode::NH3],
            ode::our(u.fg, y[ode::O2_OFFGAS], y[ode::CO2_OFFGAS]),
            ode::cer(u.fg, y[ode::CO2_OFFGAS]),
            y[ode::CULTURE_AGE],
        ];
        row[2..2 + states.len()].copy_from_slice(&states);
        let mut c = 2 + states.len();
        for i in ode::A0..=ode::A4 {
            row[c] = y[i];
            c += 1;
        }
        for i in ode::N0..=ode::PHI0 {
            row[c] = y[i];
            c += 1;
        }
        let inputs = [
            y[ode::MU_P_INT],
            y[ode::MU_X_INT],
            u.fs,
            u.foil,
            u.fpaa,
            u.fw,
            u.fg,
            u.rpm,
            u.pressure,
            u.discharge,
            u.fa,
            u.fb,
            u.fc,
            u.fh,
        ];
        row[c..c + inputs.len()].copy_from_slice(&inputs);
        debug_assert_eq!(c + inputs.len(), COLUMNS.len());
        if let Some(bad) = row.iter().position(|v| !v.is_finite()) {
            return Err(Error::Numerical {
                time_h: t_end,
                message: format!(
                    "IndPenSim output `{}` is not finite at step {k}",
                    COLUMNS[bad].0
                ),
                state: format!("{:?}", y.as_slice()),
            });
        }
        rows.push(row);
    }
    Ok(Trajectory {
        rows,
        y0,
        y_end: stepper.y,
        penicillin_clip_g: stepper.penicillin_clip_g,
        volume_clip_l: stepper.volume_clip_l,
        rhs_evaluations: stepper.rhs_evaluations,
    })
}
