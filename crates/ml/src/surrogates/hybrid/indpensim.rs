//! Serial hybrid on the IndPenSim backbone (`docs/hybrid.md`, "Serial
//! hybrid on the IndPenSim backbone"): the published mass balances of
//! `biotwin_core::bioreactor::indpensim` with the specific penicillin
//! production rate μp replaced by a learned function of the model's own
//! states,
//!
//! ```text
//! μp(x) = μp,ref · exp(b + Σ_j w_j φ_j(x)),   φ = ((t − 115 h)/115 h, (DO2 − 10)/5 mg/L,
//!                                              (PAA − 1200)/400 mg/L, (T − 298 K)/1 K, (pH − 6.5)/0.1)
//! ```
//!
//! evaluated at the start of each 0.2-h step from the simulated state (the
//! model is a sampled-data system: the controllers, the recipe and the
//! disturbances are also fixed per step) and held over the step. Everything
//! else — growth with μx,max and α_kLa at the generator's population means,
//! the controllers, the recipe plan — is the published model. The exponent
//! is clipped to ±3 (a factor e³ either way) so that no weight can drive
//! the rate to a value the organism cannot have.
//!
//! **Training** (`fit`): b and w by Levenberg–Marquardt on the lab
//! penicillin samples of the training batches (log residuals
//! ln P_sim(t_i) − ln P_lab(t_i) for P_lab ≥ 0.5 g/L), the Jacobian by
//! forward differences of the simulated trajectories (one extra whole-batch
//! simulation per weight and batch, parallel), an L2 penalty on w (not on
//! b). Each training simulation runs from the batch's recipe plan and its
//! start (t = 0 lab sample, first online reading), as a prediction does.
//!
//! **Prediction** from the recipe alone: that simulation to 230 h. **At a
//! fraction f of the batch**: the same simulation to f, then conditioned on
//! the data known at f — the latest lab penicillin P_lab(t_s) gives the
//! ratio r = P_lab(t_s)/P_sim(t_s), shrunk towards 1 by the training
//! scatter τ and the lab noise σ: c = r^(τ²/(τ²+σ²)); the penicillin state
//! at f is multiplied by c and so is μp for the rest of the batch; volume
//! and weight are set to the online reading at f — then simulated to 230 h
//! with the recipe plan. **Intervals**: pred · exp(±1.645 · s_f), s_f the
//! root-mean-square of ln(final / pred) over the training batches at
//! fraction f (in-sample), inflated by √(n / (n − p)) for the p fitted
//! weights, interpolated between the fractions 0, 0.1, …, 1.

use crate::error::Error;
use biotwin_core::bioreactor::indpensim::estimate::{
    LAB_BIOMASS, LAB_NH3, LAB_PAA, LAB_PENICILLIN, LAB_SUBSTRATE, LAB_VISCOSITY, LabSample, Noise,
    OnlineStep, Prior,
};
use biotwin_core::bioreactor::indpensim::ode::{self, Disturbances, Kinetics, State};
use biotwin_core::bioreactor::indpensim::{Accuracy, N_STEPS, Recipe, STEP_H};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::data::indpensim::read_recipe;
use crate::data::indpensim_historian::{HistorianRecord, batch_start, batch_value, read_historian};
use crate::indpensim_forecast::{add_noise, batch_seed};

/// Seed of the measurement noise added to a record (the ensemble Kalman
/// filter's evaluation seed, so both see the same noisy readings).
pub const NOISE_SEED: u64 = 101;

/// Loads batch `id` of an IndPenSim data set directory: its recipe plan
/// (`recipes.json`), its historian record (`batches/<id>_historian.csv.gz`)
/// with the filter evaluation's seeded measurement noise added when
/// `noisy` (`indpensim_forecast::add_noise`, seed [`NOISE_SEED`] mixed with
/// the id), and its recorded final penicillin (`batches.csv`
/// `final_P_gL`, for scoring only).
pub fn load_batch(dir: &std::path::Path, id: &str, noisy: bool) -> Result<PenBatch, Error> {
    let recipe = read_recipe(&dir.join("recipes.json"), id)?;
    let start = batch_start(dir, id)?;
    let path = dir.join("batches").join(format!("{id}_historian.csv.gz"));
    let record = read_historian(&path, &start, N_STEPS)?;
    let record = if noisy {
        add_noise(&record, &Noise::default(), batch_seed(NOISE_SEED, id))
    } else {
        record
    };
    let truth = batch_value(dir, id, "final_P_gL")?;
    // Scoring is relative (APE, ln(P/P̂) for the interval scales): a final
    // penicillin that is not positive would turn into an infinite or NaN
    // error instead of a message.
    if !(truth.is_finite() && truth > 0.0) {
        let (path, line, _) = crate::data::indpensim_historian::batch_cell(dir, id, "final_P_gL")?;
        return Err(Error::in_dataset(
            path,
            format!("line {line}, column `final_P_gL` (batch {id})"),
            "a positive final penicillin, g/L (errors are scored relative to it)",
            format!("{truth}"),
        ));
    }
    Ok(PenBatch {
        id: id.to_string(),
        recipe,
        record,
        final_p_g_per_l: Some(truth),
    })
}

/// Names of the rate model's features, in weight order (after the bias).
pub const FEATURES: [&str; 5] = [
    "time_h",
    "do2_mg_per_l",
    "paa_mg_per_l",
    "temperature_k",
    "ph",
];
/// Centre of each feature's standardisation (fixed physical values, not
/// fitted): mid-batch, a typical DO2, the PAA set-point, the temperature
/// and pH set-points.
pub const CENTRE: [f64; 5] = [115.0, 10.0, 1200.0, 298.0, 6.5];
/// Scale of each feature's standardisation.
pub const SCALE: [f64; 5] = [115.0, 5.0, 400.0, 1.0, 0.1];
/// Number of weights: the bias and one per feature.
pub const N_WEIGHTS: usize = 1 + FEATURES.len();
/// The exponent of the rate factor is clipped to ±this.
pub const MAX_LOG_FACTOR: f64 = 3.0;
/// Two-sided 90 % normal quantile.
const Z90: f64 = 1.644_853_626_951_472_2;
/// Lab samples below this penicillin are not used (relative lab noise on
/// a value near zero carries no information on the rate), g/L.
pub const MIN_LAB_P_G_PER_L: f64 = 0.5;

/// Everything training is set by.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PenHybridParams {
    /// Reference production rate μp,ref, 1/h (the generator's population
    /// mean 0.041).
    pub mu_p_ref_per_h: f64,
    /// Which features are used (a weight of an unused feature stays 0).
    pub features_used: [bool; 5],
    /// L2 penalty on the feature weights (not the bias), in units of the
    /// mean squared log residual.
    pub l2: f64,
    /// Levenberg–Marquardt iterations at most.
    pub max_iterations: usize,
    /// Forward-difference step on a weight.
    pub fd_step: f64,
    /// Integration accuracy of every simulation.
    pub rtol: f64,
    /// Relative lab penicillin noise assumed when conditioning on a sample.
    pub lab_penicillin_sd: f64,
    /// Fractions of batch time at which the interval scale is estimated.
    pub interval_fractions: Vec<f64>,
}

impl Default for PenHybridParams {
    fn default() -> Self {
        PenHybridParams {
            mu_p_ref_per_h: 0.041,
            features_used: [true; 5],
            l2: 1e-3,
            max_iterations: 15,
            fd_step: 1e-4,
            rtol: 1e-7,
            lab_penicillin_sd: Noise::default().lab[LAB_PENICILLIN],
            interval_fractions: (0..=10).map(|i| i as f64 / 10.0).collect(),
        }
    }
}

/// Forecasts of each batch `ids` of data set `dir` (read with the seeded
/// measurement noise, [`load_batch`]) at `fractions`, in parallel: (id,
/// recorded final penicillin, forecasts).
pub fn forecast_batches(
    model: &PenHybridModel,
    dir: &std::path::Path,
    ids: &[String],
    fractions: &[f64],
) -> Result<Vec<(String, f64, Vec<PenForecast>)>, Error> {
    ids.par_iter()
        .map(|id| {
            let b = load_batch(dir, id, true)?;
            let truth = b.final_p_g_per_l.unwrap_or(f64::NAN);
            Ok((id.clone(), truth, model.forecasts(&b, fractions, true)?))
        })
        .collect()
}

/// One batch as the hybrid sees it: the recipe plan and the historian
/// record (online tags per step, lab samples; the first at t = 0).
#[derive(Debug, Clone)]
pub struct PenBatch {
    /// Batch identifier in the data set (`batches.csv`, file names).
    pub id: String,
    /// The batch's recipe plan (`recipes.json`), which every simulation of
    /// the batch follows.
    pub recipe: Recipe,
    /// The historian record: online tags per 0.2-h step and lab samples
    /// (with seeded measurement noise when loaded `noisy`).
    pub record: HistorianRecord,
    /// Recorded final penicillin, g/L (scoring and interval estimation
    /// only; `None` when unknown).
    pub final_p_g_per_l: Option<f64>,
}

/// What training did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PenTrainingReport {
    /// Objective ½·mean r² + ½·λ‖w‖² after each accepted iteration (the
    /// first entry: the start, all weights 0).
    pub objective: Vec<f64>,
    /// Levenberg–Marquardt iterations run (each one Jacobian; counted
    /// whether or not a step was accepted).
    pub iterations: usize,
    /// Log residuals used (lab samples ≥ 0.5 g/L over the training batches).
    pub n_residuals: usize,
    /// Root-mean-square log residual of the lab penicillin at the end.
    pub rms_log_residual: f64,
    /// Whole-batch simulations run.
    pub simulations: usize,
}

/// A trained serial hybrid on the IndPenSim backbone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PenHybridModel {
    /// The settings training was run with (also used by prediction:
    /// μp,ref, integration accuracy, lab noise).
    pub params: PenHybridParams,
    /// b, then one weight per feature of [`FEATURES`].
    pub weights: [f64; N_WEIGHTS],
    /// Ids of the batches the weights and interval scales were fitted to.
    pub training_batches: Vec<String>,
    /// τ: root-mean-square of ln(P_lab/P_sim) over the training lab
    /// samples (in-sample), the prior scatter of the conditioning ratio.
    pub tau_log_p: f64,
    /// (fraction, s_f): log-scale SD of the final-penicillin prediction at
    /// each fraction, in-sample RMS × √(n/(n − p)).
    pub log_sd_by_fraction: Vec<(f64, f64)>,
    /// What training did.
    pub report: PenTrainingReport,
}

/// One prediction of the final (230 h) penicillin.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PenForecast {
    /// Fraction of batch time the forecast is made at, in [0, 1]
    /// (0: from the recipe alone).
    pub fraction: f64,
    /// Batch time of the forecast, h: the fraction rounded to a whole
    /// 0.2-h step (and no later than the end of the record).
    pub time_h: f64,
    /// Predicted final penicillin, g/L.
    pub mean_g_per_l: f64,
    /// Lower end of the 90 % interval (5th percentile), g/L:
    /// mean · exp(−1.645 · s_f); NaN when made without intervals.
    pub p05_g_per_l: f64,
    /// Upper end of the 90 % interval (95th percentile), g/L:
    /// mean · exp(+1.645 · s_f); NaN when made without intervals.
    pub p95_g_per_l: f64,
    /// The conditioning factor c applied at f (1 from the recipe alone).
    pub conditioning_factor: f64,
}

/// The feature vector φ(x) at batch time `t_h`.
pub fn features(t_h: f64, y: &State) -> [f64; 5] {
    let ph = -y[ode::H_ION].log10();
    let raw = [t_h, y[ode::DO2], y[ode::PAA], y[ode::T], ph];
    let mut phi = [0.0; 5];
    for j in 0..5 {
        phi[j] = (raw[j] - CENTRE[j]) / SCALE[j];
    }
    phi
}

/// The learned specific production rate μp(x), 1/h.
pub fn mu_p(params: &PenHybridParams, weights: &[f64; N_WEIGHTS], t_h: f64, y: &State) -> f64 {
    let phi = features(t_h, y);
    let mut g = weights[0];
    for j in 0..5 {
        if params.features_used[j] {
            g += weights[1 + j] * phi[j];
        }
    }
    params.mu_p_ref_per_h * g.clamp(-MAX_LOG_FACTOR, MAX_LOG_FACTOR).exp()
}

/// The initial state of a batch from its start: the t = 0 lab sample
/// (biomass split a0 = X/3, a1 = 2X/3 as the generator does; substrate,
/// PAA, NH3, penicillin, viscosity), the first online reading (DO2,
/// off-gas O2 and CO2, volume, weight, pH, temperature) and, for the
/// kinetics, the generator's population means of μx,max, α_kLa and the
/// PAA feed's concentrations.
pub fn initial(batch: &PenBatch) -> Result<(State, Kinetics), Error> {
    let where_ = format!("batch {}", batch.id);
    let lab0: &LabSample =
        batch.record.lab.first().ok_or_else(|| {
            Error::in_dataset(&where_, "lab samples", "a t = 0 lab sample", "none")
        })?;
    let first: &OnlineStep = batch.record.online.first().ok_or_else(|| {
        Error::in_dataset(&where_, "online record", "at least one 0.2-h step", "none")
    })?;
    let need = |i: usize, name: &str| {
        lab0.values[i].filter(|v| v.is_finite()).ok_or_else(|| {
            Error::in_dataset(
                &where_,
                format!("lab sample at {} h, `{name}`", lab0.time_h),
                "a finite t = 0 result",
                "none",
            )
        })
    };
    let x0 = need(LAB_BIOMASS, "biomass")?;
    let prior = Prior::default();
    let v = first.values;
    if let Some(j) = v.iter().position(|x| !x.is_finite()) {
        return Err(Error::in_dataset(
            &where_,
            format!("online reading of step 1, column {j}"),
            "a finite value",
            format!("{}", v[j]),
        ));
    }
    let mut y = State::zeros();
    y[ode::T] = v[0];
    y[ode::H_ION] = 10f64.powf(-v[1]);
    y[ode::DO2] = v[2];
    y[ode::O2_OFFGAS] = v[3];
    y[ode::CO2_OFFGAS] = v[4];
    y[ode::V] = v[5];
    y[ode::WT] = v[6];
    y[ode::A0] = x0 / 3.0;
    y[ode::A1] = 2.0 * x0 / 3.0;
    y[ode::S] = need(LAB_SUBSTRATE, "substrate")?;
    y[ode::PAA] = need(LAB_PAA, "PAA")?;
    y[ode::NH3] = need(LAB_NH3, "NH3")?;
    y[ode::P] = lab0.values[LAB_PENICILLIN].unwrap_or(0.0).max(0.0);
    y[ode::VISCOSITY] = lab0.values[LAB_VISCOSITY].unwrap_or(4.0);
    let kin = Kinetics {
        mu_p: prior.mu_p.mean,
        mux_max: prior.mux_max.mean,
        alpha_kla: prior.alpha_kla.mean,
        n_conc_paa: prior.n_conc_paa.mean,
        paa_c: prior.paa_c.mean,
    };
    Ok((y, kin))
}

/// Advances `stepper` to step `until` with the learned rate (× `factor`),
/// the recipe plan, its own controllers and no disturbances; records
/// penicillin at every step in `p_out[k]` when given.
fn advance(
    params: &PenHybridParams,
    weights: &[f64; N_WEIGHTS],
    recipe: &Recipe,
    stepper: &mut biotwin_core::bioreactor::indpensim::simulate::Stepper,
    until: usize,
    factor: f64,
    mut p_out: Option<&mut Vec<f64>>,
) -> Result<(), Error> {
    while stepper.k < until {
        let u = stepper.inputs(recipe, Disturbances::default());
        let t = stepper.k as f64 * STEP_H;
        stepper.kin.mu_p = factor * mu_p(params, weights, t, &stepper.y);
        stepper.step(&u)?;
        if let Some(p) = p_out.as_deref_mut() {
            p.push(stepper.y[ode::P]);
        }
    }
    Ok(())
}

fn accuracy(params: &PenHybridParams) -> Accuracy {
    Accuracy {
        rtol: params.rtol,
        atol_scaled: params.rtol,
        // The reference integrator, as when the pre-registered run was made.
        ..Accuracy::default()
    }
}

/// Penicillin at every step 0..=n_steps of the recipe-only simulation.
pub fn simulate_penicillin(
    params: &PenHybridParams,
    weights: &[f64; N_WEIGHTS],
    batch: &PenBatch,
    n_steps: usize,
) -> Result<Vec<f64>, Error> {
    use biotwin_core::bioreactor::indpensim::simulate::Stepper;
    let (y0, kin) = initial(batch)?;
    let mut st = Stepper::new(y0, kin, &accuracy(params));
    let mut p = Vec::with_capacity(n_steps + 1);
    p.push(y0[ode::P]);
    advance(
        params,
        weights,
        &batch.recipe,
        &mut st,
        n_steps,
        1.0,
        Some(&mut p),
    )?;
    Ok(p)
}

/// The lab penicillin samples used in training: (step, value) for samples
/// of at least [`MIN_LAB_P_G_PER_L`] within the first `n_steps`.
pub fn lab_penicillin(batch: &PenBatch, n_steps: usize) -> Vec<(usize, f64)> {
    batch
        .record
        .lab
        .iter()
        .filter_map(|s| {
            let p = s.values[LAB_PENICILLIN]?;
            let k = (s.time_h / STEP_H).round() as usize;
            (p.is_finite() && p >= MIN_LAB_P_G_PER_L && k >= 1 && k <= n_steps).then_some((k, p))
        })
        .collect()
}

fn residuals(p_sim: &[f64], lab: &[(usize, f64)]) -> Vec<f64> {
    lab.iter()
        .map(|&(k, p)| p_sim[k].max(1e-9).ln() - p.ln())
        .collect()
}

fn objective(r: &[f64], w: &[f64; N_WEIGHTS], l2: f64) -> f64 {
    let n = r.len().max(1) as f64;
    0.5 * r.iter().map(|v| v * v).sum::<f64>() / n
        + 0.5 * l2 * w[1..].iter().map(|v| v * v).sum::<f64>()
}

/// Solves the small dense system a·x = b (Gaussian elimination with
/// partial pivoting); `None` when singular.
fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Option<Vec<f64>> {
    let n = b.len();
    for c in 0..n {
        let piv = (c..n).max_by(|&i, &j| a[i][c].abs().total_cmp(&a[j][c].abs()))?;
        if a[piv][c].abs() < 1e-300 {
            return None;
        }
        a.swap(c, piv);
        b.swap(c, piv);
        for r in c + 1..n {
            let f = a[r][c] / a[c][c];
            for k in c..n {
                a[r][k] -= f * a[c][k];
            }
            b[r] -= f * b[c];
        }
    }
    let mut x = vec![0.0; n];
    for r in (0..n).rev() {
        let s: f64 = (r + 1..n).map(|k| a[r][k] * x[k]).sum();
        x[r] = (b[r] - s) / a[r][r];
    }
    x.iter().all(|v| v.is_finite()).then_some(x)
}

/// Trains the hybrid on `batches` (whole batches, `n_steps` steps each:
/// 1150 for a 230-h batch).
pub fn fit(
    params: &PenHybridParams,
    batches: &[PenBatch],
    n_steps: usize,
) -> Result<PenHybridModel, Error> {
    if batches.is_empty() {
        return Err(Error::input(
            "<serial hybrid on IndPenSim>",
            "training batches",
            "at least one batch",
            "none",
        ));
    }
    if !(1..=N_STEPS).contains(&n_steps) {
        return Err(Error::input(
            "<serial hybrid on IndPenSim>",
            "n_steps",
            format!("1 to {N_STEPS}"),
            n_steps.to_string(),
        ));
    }
    let labs: Vec<Vec<(usize, f64)>> = batches.iter().map(|b| lab_penicillin(b, n_steps)).collect();
    let n_res: usize = labs.iter().map(Vec::len).sum();
    if n_res == 0 {
        return Err(Error::input(
            "<serial hybrid on IndPenSim>",
            "lab penicillin",
            format!("samples of at least {MIN_LAB_P_G_PER_L} g/L in the training batches"),
            "none",
        ));
    }
    let free: Vec<usize> = std::iter::once(0)
        .chain((0..5).filter(|&j| params.features_used[j]).map(|j| j + 1))
        .collect();
    let mut sims = 0usize;
    let run_all = |w: &[f64; N_WEIGHTS]| -> Result<Vec<f64>, Error> {
        let per: Vec<Result<Vec<f64>, Error>> = batches
            .par_iter()
            .zip(labs.par_iter())
            .map(|(b, lab)| Ok(residuals(&simulate_penicillin(params, w, b, n_steps)?, lab)))
            .collect();
        let mut r = Vec::with_capacity(n_res);
        for p in per {
            r.extend(p?);
        }
        Ok(r)
    };
    let mut w = [0.0; N_WEIGHTS];
    let mut r = run_all(&w)?;
    sims += batches.len();
    let mut phi = objective(&r, &w, params.l2);
    let mut history = vec![phi];
    let mut mu = 1e-3;
    let mut iterations = 0;
    let n = n_res as f64;
    for _ in 0..params.max_iterations {
        iterations += 1;
        // Jacobian columns by forward differences, parallel over (batch, weight).
        let jobs: Vec<(usize, usize)> = (0..batches.len())
            .flat_map(|b| free.iter().map(move |&j| (b, j)))
            .collect();
        let cols: Vec<Result<(usize, usize, Vec<f64>), Error>> = jobs
            .par_iter()
            .map(|&(b, j)| {
                let mut wj = w;
                wj[j] += params.fd_step;
                let p = simulate_penicillin(params, &wj, &batches[b], n_steps)?;
                Ok((b, j, residuals(&p, &labs[b])))
            })
            .collect();
        sims += jobs.len();
        let offsets: Vec<usize> = labs
            .iter()
            .scan(0, |acc, l| {
                let o = *acc;
                *acc += l.len();
                Some(o)
            })
            .collect();
        let m = free.len();
        let mut jac = vec![vec![0.0; m]; n_res];
        for c in cols {
            let (b, j, rj) = c?;
            let col = free.iter().position(|&f| f == j).unwrap_or(0);
            for (i, v) in rj.iter().enumerate() {
                jac[offsets[b] + i][col] = (v - r[offsets[b] + i]) / params.fd_step;
            }
        }
        // Gauss–Newton system of ½ mean r² + ½ λ‖w‖².
        let mut jtj = vec![vec![0.0; m]; m];
        let mut g = vec![0.0; m];
        for (row, ri) in jac.iter().zip(&r) {
            for a in 0..m {
                g[a] += row[a] * ri / n;
                for c in 0..m {
                    jtj[a][c] += row[a] * row[c] / n;
                }
            }
        }
        for (a, &j) in free.iter().enumerate() {
            if j > 0 {
                jtj[a][a] += params.l2;
                g[a] += params.l2 * w[j];
            }
        }
        let mut accepted = false;
        for _ in 0..8 {
            let mut a = jtj.clone();
            for k in 0..m {
                a[k][k] += mu * jtj[k][k].max(1e-12);
            }
            let Some(delta) = solve(a, g.iter().map(|v| -v).collect()) else {
                mu *= 10.0;
                continue;
            };
            let mut trial = w;
            for (k, &j) in free.iter().enumerate() {
                trial[j] += delta[k].clamp(-1.0, 1.0);
            }
            sims += batches.len();
            match run_all(&trial) {
                Ok(rt) => {
                    let pt = objective(&rt, &trial, params.l2);
                    if pt < phi {
                        let rel = (phi - pt) / phi.max(1e-300);
                        w = trial;
                        r = rt;
                        phi = pt;
                        history.push(phi);
                        mu = (mu / 3.0).max(1e-9);
                        accepted = true;
                        if rel < 1e-6 {
                            mu = f64::NAN; // converged: leave the loop below
                        }
                        break;
                    }
                    mu *= 10.0;
                }
                Err(_) => mu *= 10.0,
            }
        }
        if !accepted || mu.is_nan() {
            break;
        }
    }
    let rms = (r.iter().map(|v| v * v).sum::<f64>() / n).sqrt();
    let mut model = PenHybridModel {
        params: params.clone(),
        weights: w,
        training_batches: batches.iter().map(|b| b.id.clone()).collect(),
        tau_log_p: rms,
        log_sd_by_fraction: Vec::new(),
        report: PenTrainingReport {
            objective: history,
            iterations,
            n_residuals: n_res,
            rms_log_residual: rms,
            simulations: sims,
        },
    };
    model.log_sd_by_fraction = interval_scales(&model, batches, free.len())?;
    Ok(model)
}

/// s_f at each interval fraction from the training batches' recorded final
/// penicillin (in-sample), × √(n/(n − p)) (p = fitted weights; n − p ≥ 1).
fn interval_scales(
    model: &PenHybridModel,
    batches: &[PenBatch],
    p: usize,
) -> Result<Vec<(f64, f64)>, Error> {
    let scored: Vec<&PenBatch> = batches
        .iter()
        .filter(|b| b.final_p_g_per_l.is_some_and(|v| v > 0.0))
        .collect();
    let n = scored.len();
    if n == 0 {
        return Err(Error::input(
            "<serial hybrid on IndPenSim>",
            "training batches",
            "a recorded final penicillin (batches.csv final_P_gL) for the interval scales",
            "none",
        ));
    }
    let inflate = (n as f64 / (n.saturating_sub(p).max(1)) as f64).sqrt();
    let per: Vec<Result<Vec<f64>, Error>> = scored
        .par_iter()
        .map(|b| {
            let truth = b.final_p_g_per_l.unwrap_or(f64::NAN);
            let f = model.forecasts(b, &model.params.interval_fractions, false)?;
            Ok(f.iter().map(|x| (truth / x.mean_g_per_l).ln()).collect())
        })
        .collect();
    let mut sq = vec![0.0; model.params.interval_fractions.len()];
    for r in per {
        for (s, v) in sq.iter_mut().zip(r?) {
            *s += v * v;
        }
    }
    Ok(model
        .params
        .interval_fractions
        .iter()
        .zip(sq)
        .map(|(&f, s)| (f, (s / n as f64).sqrt() * inflate))
        .collect())
}

impl PenHybridModel {
    /// s_f at `fraction`, linear between the stored fractions.
    pub fn log_sd_at(&self, fraction: f64) -> f64 {
        let t = &self.log_sd_by_fraction;
        match t.iter().position(|&(f, _)| f >= fraction) {
            None => t.last().map_or(f64::NAN, |x| x.1),
            Some(0) => t[0].1,
            Some(i) => {
                let (f0, s0) = t[i - 1];
                let (f1, s1) = t[i];
                s0 + (s1 - s0) * (fraction - f0) / (f1 - f0)
            }
        }
    }

    /// Forecasts of the final (230 h) penicillin at each fraction of batch
    /// time (0 = from the recipe alone), from one simulation of the batch
    /// continued from each fraction. `with_intervals` false leaves the
    /// quantiles NaN (training uses it before the scales exist).
    pub fn forecasts(
        &self,
        batch: &PenBatch,
        fractions: &[f64],
        with_intervals: bool,
    ) -> Result<Vec<PenForecast>, Error> {
        use biotwin_core::bioreactor::indpensim::simulate::Stepper;
        for &f in fractions {
            if !(0.0..=1.0).contains(&f) {
                return Err(Error::input(
                    "<command line>",
                    "--fractions",
                    "fractions of batch time in [0, 1]",
                    format!("{f}"),
                ));
            }
        }
        let p = &self.params;
        let w = &self.weights;
        let (y0, kin) = initial(batch)?;
        let mut base = Stepper::new(y0, kin, &accuracy(p));
        let mut p_path = vec![y0[ode::P]];
        let mut order: Vec<(usize, f64)> =
            fractions.iter().enumerate().map(|(i, &f)| (i, f)).collect();
        order.sort_by(|a, b| a.1.total_cmp(&b.1));
        let mut out: Vec<Option<PenForecast>> = vec![None; fractions.len()];
        let sd2 = p.lab_penicillin_sd * p.lab_penicillin_sd;
        let tau2 = self.tau_log_p * self.tau_log_p;
        let shrink = if tau2 + sd2 > 0.0 {
            tau2 / (tau2 + sd2)
        } else {
            0.0
        };
        for (i, f) in order {
            let kf = ((f * N_STEPS as f64).round() as usize).min(N_STEPS);
            let kf = kf.min(batch.record.online.len());
            advance(p, w, &batch.recipe, &mut base, kf, 1.0, Some(&mut p_path))?;
            let t_f = kf as f64 * STEP_H;
            // The latest lab penicillin known at t_f.
            let latest = batch
                .record
                .lab
                .iter()
                .filter(|s| s.time_h <= t_f + 0.5 * STEP_H)
                .filter_map(|s| {
                    let v = s.values[LAB_PENICILLIN]?;
                    let k = ((s.time_h / STEP_H).round() as usize).min(kf);
                    (v.is_finite() && v >= MIN_LAB_P_G_PER_L && p_path[k] >= MIN_LAB_P_G_PER_L)
                        .then_some((k, v))
                })
                .next_back();
            let c = latest.map_or(1.0, |(k, v)| ((v / p_path[k]).ln() * shrink).exp());
            let mut st = base.clone();
            if kf >= 1 {
                st.y[ode::P] *= c;
                let obs = &batch.record.online[kf - 1].values;
                if obs[5].is_finite() && obs[6].is_finite() {
                    st.y[ode::V] = obs[5];
                    st.y[ode::WT] = obs[6];
                }
            }
            advance(p, w, &batch.recipe, &mut st, N_STEPS, c, None)?;
            let mean = st.y[ode::P];
            if !mean.is_finite() {
                return Err(Error::Numerical {
                    time_h: N_STEPS as f64 * STEP_H,
                    message: format!(
                        "serial hybrid: final penicillin of {} is not finite",
                        batch.id
                    ),
                    state: String::new(),
                });
            }
            let s = if with_intervals {
                self.log_sd_at(f)
            } else {
                f64::NAN
            };
            out[i] = Some(PenForecast {
                fraction: f,
                time_h: t_f,
                mean_g_per_l: mean,
                p05_g_per_l: mean * (-Z90 * s).exp(),
                p95_g_per_l: mean * (Z90 * s).exp(),
                conditioning_factor: c,
            });
        }
        Ok(out.into_iter().flatten().collect())
    }
}
