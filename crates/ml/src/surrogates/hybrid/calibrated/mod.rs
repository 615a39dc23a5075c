//! The calibrated serial hybrid of batch records (docs/hybrid.md,
//! "Calibrated serial hybrid"): the platform model's mass balances at each
//! batch's recorded conditions, with some kinetic parameters replaced by a
//! quadratic response surface of the conditions,
//!
//! log(p_k / p_k,nominal) = θ_k · φ(c),  φ(c) = [1, z(c), z(c)²],
//!
//! z the conditions standardised by the training batches' mean and SD.
//! θ is fitted to whole offline trajectories through the ODE solution:
//!
//! L(θ) = Σ_batches Σ_samples ((ŷ_v(t; θ) − y_v(t)) / s_v)² + λ Σ_k Σ_{j≥1} θ_kj²,
//!
//! s_v the SD of variable v over the training samples, the intercepts θ_k0
//! not penalised (a constant plant–model bias is not shrunk towards the
//! nominal model). Levenberg–Marquardt with the Jacobian from forward
//! differences of the simulated trajectory in log p_k per batch (the
//! sensitivity of the ODE solution, one extra simulation per parameter and
//! batch) times φ(c_b) — exact chain rule, since θ reaches batch b only
//! through log p_k,b. Early stopping on whole validation batches.
//!
//! End-of-batch CQAs are the simulated quality attributes mapped as in
//! `mechanistic.toml`; predictive variance = gᵀ Σ_θ g + s_t², with g the
//! gradient of the CQA in θ (forward differences), Σ_θ = s² (JᵀJ + Λ)⁻¹ the
//! linearised covariance (s² the standardised residual variance), and s_t the
//! RMS residual of target t on the training batches.

mod conditioned;

pub use conditioned::Conditioning;

use std::collections::BTreeMap;
use std::path::Path;

use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

use super::mechanistic::MechanisticSpec;
use crate::data::batch::BatchRecord;
use crate::error::Error;
use crate::surrogates::{Fit, Predict, Prediction, SurrogateError, TrainingSet};
use biotwin_core::error::Diagnostic;
use biotwin_core::fit::lm::{Control, LeastSquares, Linearisation, LmOptions, levenberg_marquardt};
use biotwin_core::simulation::address::Address;
use biotwin_core::simulation::{Outcome, Scenario};

/// A dataset offline variable and the simulated column it is compared with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observed {
    /// Offline variable of the dataset (SI).
    pub variable: String,
    /// Output column of the process model.
    pub column: String,
    /// Column value × to_si = dataset SI value.
    pub to_si: f64,
}

/// Settings of the calibration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibratedParams {
    /// Model parameters replaced by the response surface (`model.<name>`).
    pub parameters: Vec<String>,
    /// Offline variables compared with simulated columns.
    pub observed: Vec<Observed>,
    /// λ of the ridge penalty on the non-intercept coefficients.
    pub ridge: f64,
    /// Most Levenberg–Marquardt iterations.
    pub max_iter: usize,
    /// Stop after this many LM iterations without a better validation loss.
    pub patience: usize,
    /// Every `validation_every`-th training batch (in the given order) is a
    /// validation batch for early stopping; 0: none (stop on convergence).
    pub validation_every: usize,
    /// Forward-difference step in log p.
    pub fd_step: f64,
    /// End-of-batch CQAs also fitted: one residual per batch, scaled by the
    /// CQA's SD over the training batches (e.g. `galactosylated`, with
    /// `gal_ref` among the parameters).
    #[serde(default)]
    pub cqa_observed: Vec<String>,
    /// When set: learn per-batch random effects on ln p and condition each
    /// prediction on the batch's own samples known by this fraction of
    /// batch time (`conditioned.rs`).
    #[serde(default)]
    pub conditioning_cutoff: Option<f64>,
    /// Parameters whose surface is linear, θ·[1, z] (no squared terms):
    /// for those informed by one value per batch (an end-of-batch CQA),
    /// where 2n+1 coefficients from a few dozen batches overfit.
    #[serde(default)]
    pub linear_only: Vec<String>,
}

impl CalibratedParams {
    /// The CHO platform defaults: growth, growth-independent productivity and
    /// basal death, fitted to viable cells, viability and titer.
    pub fn cho_default() -> CalibratedParams {
        let obs = |v: &str, c: &str, f: f64| Observed {
            variable: v.into(),
            column: c.into(),
            to_si: f,
        };
        CalibratedParams {
            parameters: vec!["mu_max".into(), "beta_lp".into(), "k_d".into()],
            observed: vec![
                obs("viable_cells", "xv_1e6_cells_per_ml", 1e12),
                obs("viability", "viability_pct", 0.01),
                obs("titer", "titer_g_per_l", 1.0),
            ],
            ridge: 1.0,
            max_iter: 30,
            patience: 4,
            validation_every: 5,
            fd_step: 1e-4,
            cqa_observed: vec![],
            conditioning_cutoff: None,
            linear_only: vec![],
        }
    }

    /// `cho_default` plus the glycan reference level `gal_ref` (linear
    /// surface) fitted to end-of-batch galactosylation, with per-batch
    /// effects and predictions conditioned on the batch's data known by
    /// `cutoff` of batch time.
    pub fn cho_conditioned(cutoff: f64) -> CalibratedParams {
        let mut p = CalibratedParams::cho_default();
        p.parameters.push("gal_ref".into());
        p.linear_only = vec!["gal_ref".into()];
        p.cqa_observed = vec!["galactosylated".into()];
        p.conditioning_cutoff = Some(cutoff);
        p
    }
}

/// Progress of the fit.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FitReport {
    /// The ridge λ of this fit.
    pub ridge: f64,
    /// Levenberg–Marquardt iterations run.
    pub iterations: usize,
    /// Iteration whose θ was kept (lowest validation loss).
    pub best_iteration: usize,
    /// Penalised training loss, at the start and after each iteration.
    pub fit_loss: Vec<f64>,
    /// Validation loss at the same points (the training loss without
    /// validation batches).
    pub validation_loss: Vec<f64>,
    /// Batches the response surface was fitted to.
    pub fit_batches: Vec<String>,
    /// Batches held out for early stopping.
    pub validation_batches: Vec<String>,
}

/// A fitted calibrated serial hybrid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibratedSerialHybrid {
    /// The process model and the mapping of conditions and CQAs.
    pub spec: MechanisticSpec,
    /// The model parameters the response surface replaces (`model.<name>`).
    pub parameters: Vec<String>,
    /// Manifest parameters used as conditions (mechanistic.toml order).
    pub conditions: Vec<String>,
    /// Mean of each condition over the training batches (SI), for coding.
    pub condition_mean: Vec<f64>,
    /// SD of each condition over the training batches (SI), for coding.
    pub condition_sd: Vec<f64>,
    /// θ, `parameters.len()` rows of `n_phi` coefficients.
    #[serde(with = "crate::surrogates::matrix_serde")]
    pub theta: DMatrix<f64>,
    /// Linearised covariance of vec(θ) (row-major θ).
    #[serde(with = "crate::surrogates::matrix_serde")]
    pub covariance: DMatrix<f64>,
    /// Dataset CQAs it predicts.
    pub targets: Vec<String>,
    /// RMS residual of each target on the training batches.
    pub target_sd: Vec<f64>,
    /// How the fit went.
    pub report: FitReport,
    /// Forward-difference step in ln p used in training.
    pub fd_step: f64,
    /// As a surrogate of unfolded features: the column of x holding each
    /// condition, and the number of features (empty/0 when used directly).
    #[serde(default)]
    pub condition_columns: Vec<usize>,
    #[serde(default)]
    /// Width of the feature rows it was fitted on (0 when used directly).
    pub n_features: usize,
    /// Per-batch effects, when predictions are conditioned on the batch's
    /// own data up to a cut-off (`conditioned.rs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditioning: Option<Conditioning>,
}

/// One batch, prepared.
pub(super) struct Prepared {
    pub(super) id: String,
    scenario: Scenario,
    addresses: Vec<Address>,
    nominal: Vec<f64>,
    pub(super) phi: Vec<f64>,
    /// Offline samples: (observed variable index, sample time h, value SI).
    pub(super) samples: Vec<(usize, f64, f64)>,
    /// End-of-batch CQAs: (index in `cqa_observed`, value SI).
    pub(super) cqas: Vec<(usize, f64)>,
}

/// What a simulation is compared with: the observed variables' columns of
/// the output table and the fitted CQAs.
pub(super) struct Observer<'a> {
    spec: &'a MechanisticSpec,
    observed: &'a [Observed],
    cqa: &'a [String],
    time_col: usize,
    cols: Vec<usize>,
    source: &'a Path,
}

impl<'a> Observer<'a> {
    /// Locates the observed columns in the model's output table.
    fn new(
        spec: &'a MechanisticSpec,
        observed: &'a [Observed],
        cqa: &'a [String],
        probe: &Outcome,
        source: &'a Path,
    ) -> Result<Observer<'a>, Error> {
        let time_col = probe
            .columns
            .iter()
            .position(|c| c == "time_h")
            .ok_or_else(|| {
                input(
                    source,
                    "serial_hybrid",
                    "a model with a time_h column".into(),
                    "none".into(),
                )
            })?;
        let cols = observed
            .iter()
            .map(|o| {
                probe
                    .columns
                    .iter()
                    .position(|c| *c == o.column)
                    .ok_or_else(|| {
                        input(
                            source,
                            "serial_hybrid.observed",
                            format!("an output column ({})", probe.columns.join(", ")),
                            format!("`{}`", o.column),
                        )
                    })
            })
            .collect::<Result<_, _>>()?;
        for c in cqa {
            spec.cqa_of(c, source)?;
        }
        Ok(Observer {
            spec,
            observed,
            cqa,
            time_col,
            cols,
            source,
        })
    }

    /// Simulates the batch with log-multipliers `logm`; the simulated values
    /// (dataset SI) at `samples` then at `cqas`, and the outcome. None: the
    /// simulation failed or gave a non-finite value.
    pub(super) fn simulate(
        &self,
        p: &Prepared,
        logm: &[f64],
        samples: &[(usize, f64, f64)],
        cqas: &[(usize, f64)],
    ) -> Option<(Vec<f64>, Outcome)> {
        let out = with_multipliers(p, logm).simulate(true).ok()?;
        let w = out.columns.len();
        let t: Vec<f64> = out.data.chunks_exact(w).map(|r| r[self.time_col]).collect();
        let ys: Vec<Vec<f64>> = self
            .cols
            .iter()
            .map(|&c| out.data.chunks_exact(w).map(|r| r[c]).collect())
            .collect();
        let mut sim: Vec<f64> = samples
            .iter()
            .map(|&(v, th, _)| interp(&t, &ys[v], th) * self.observed[v].to_si)
            .collect();
        if !cqas.is_empty() {
            let m = self
                .spec
                .targets_of(&out, &p.id, self.cqa, self.source)
                .ok()?;
            sim.extend(cqas.iter().map(|&(j, _)| m[j]));
        }
        sim.iter().all(|x| x.is_finite()).then_some((sim, out))
    }
}

/// (simulated − observed) / scale, samples then CQAs.
pub(super) fn scaled_residuals(
    sim: &[f64],
    samples: &[(usize, f64, f64)],
    cqas: &[(usize, f64)],
    sample_scale: &[f64],
    cqa_scale: &[f64],
) -> Vec<f64> {
    let obs = samples
        .iter()
        .map(|&(v, _, y)| (y, sample_scale[v]))
        .chain(cqas.iter().map(|&(j, y)| (y, cqa_scale[j])));
    sim.iter().zip(obs).map(|(s, (y, w))| (s - y) / w).collect()
}

fn sd_of(v: &[f64]) -> f64 {
    let m = v.iter().sum::<f64>() / v.len().max(1) as f64;
    let s = (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len().max(2) - 1) as f64).sqrt();
    if s > 0.0 { s } else { 1.0 }
}

fn input(source: &Path, field: &str, expected: String, found: String) -> Error {
    Error::from(Diagnostic::new(source, field, expected, found))
}

fn interp(t: &[f64], y: &[f64], at: f64) -> f64 {
    let n = t.len();
    if at <= t[0] {
        return y[0];
    }
    if at >= t[n - 1] {
        return y[n - 1];
    }
    let i = t.partition_point(|&x| x <= at).max(1);
    let w = (at - t[i - 1]) / (t[i] - t[i - 1]);
    y[i - 1] + w * (y[i] - y[i - 1])
}

/// The scenario of a batch with the kinetic parameters set, and its
/// addresses and nominal values.
fn batch_scenario(
    spec: &MechanisticSpec,
    b: &BatchRecord,
    parameters: &[String],
    source: &Path,
) -> Result<(Scenario, Vec<Address>, Vec<f64>), Error> {
    scenario_of(spec, b.id(), &b.meta.parameters, parameters, source)
}

fn scenario_of(
    spec: &MechanisticSpec,
    id: &str,
    conditions: &BTreeMap<String, f64>,
    parameters: &[String],
    source: &Path,
) -> Result<(Scenario, Vec<Address>, Vec<f64>), Error> {
    let (mut s, ff) = spec.scenario(id, conditions, source)?;
    let mut addresses = Vec::new();
    let mut nominal = Vec::new();
    for p in parameters {
        let a = s.address(&format!("model.{p}"), &ff).map_err(|_| {
            let known: Vec<&str> = s.family.params().iter().map(|q| q.name).collect();
            input(
                source,
                "serial_hybrid.parameters",
                format!(
                    "a parameter of model family `{}` ({})",
                    s.family.name(),
                    known.join(", ")
                ),
                format!("`{p}`"),
            )
        })?;
        nominal.push(s.get(&a));
        addresses.push(a);
    }
    Ok((s, addresses, nominal))
}

/// Residuals ((ŷ − y)/s) over the fit batches as a function of vec(θ)
/// (row-major), with the ridge penalty θᵀΛθ: the least-squares problem of
/// the one estimator (`biotwin_core::fit::lm`).
struct Surface<'a> {
    jacobian: &'a dyn Fn(&DMatrix<f64>) -> Result<(DVector<f64>, DMatrix<f64>), Error>,
    /// Σ r² + θᵀΛθ, None when a simulation fails.
    loss: &'a dyn Fn(&DMatrix<f64>) -> Option<f64>,
    lambda: &'a DVector<f64>,
    np: usize,
    nphi: usize,
}

impl Surface<'_> {
    fn matrix(&self, theta: &[f64]) -> DMatrix<f64> {
        DMatrix::from_fn(self.np, self.nphi, |k, j| theta[k * self.nphi + j])
    }
}

impl LeastSquares for Surface<'_> {
    type Error = Error;
    fn linearise(&self, theta: &[f64]) -> Result<Linearisation, Error> {
        let (r, j) = (self.jacobian)(&self.matrix(theta))?;
        let th = DVector::from_column_slice(theta);
        let ridge = self.lambda.component_mul(&th);
        Ok(Linearisation {
            cost: r.norm_squared() + th.dot(&ridge),
            hessian: j.transpose() * &j + DMatrix::from_diagonal(self.lambda),
            gradient: j.transpose() * &r + ridge,
        })
    }
    fn cost(&self, theta: &[f64]) -> Option<f64> {
        (self.loss)(&self.matrix(theta))
    }
}

fn phi_of(z: &[f64]) -> Vec<f64> {
    let mut f = Vec::with_capacity(1 + 2 * z.len());
    f.push(1.0);
    f.extend_from_slice(z);
    f.extend(z.iter().map(|v| v * v));
    f
}

fn log_multipliers(theta: &DMatrix<f64>, phi: &[f64]) -> Vec<f64> {
    (0..theta.nrows())
        .map(|k| (0..phi.len()).map(|j| theta[(k, j)] * phi[j]).sum())
        .collect()
}

fn with_multipliers(p: &Prepared, logm: &[f64]) -> Scenario {
    let mut s = p.scenario.clone();
    for (k, a) in p.addresses.iter().enumerate() {
        s.set(a, p.nominal[k] * logm[k].exp());
    }
    s
}

impl CalibratedSerialHybrid {
    /// Fits θ on `training` (validation batches taken from it for early
    /// stopping) and the CQA residual SDs of `targets`.
    pub fn fit(
        spec: &MechanisticSpec,
        training: &[&BatchRecord],
        targets: &[String],
        params: &CalibratedParams,
        source: &Path,
    ) -> Result<CalibratedSerialHybrid, Error> {
        if params.parameters.is_empty() {
            return Err(input(
                source,
                "serial_hybrid.parameters",
                "at least one model parameter".into(),
                "none".into(),
            ));
        }
        if training.len() < 3 {
            return Err(input(
                source,
                "serial_hybrid.training",
                "at least 3 training batches".into(),
                training.len().to_string(),
            ));
        }
        for t in targets {
            spec.cqa_of(t, source)?;
        }
        if let Some(l) = params
            .linear_only
            .iter()
            .find(|l| !params.parameters.contains(l))
        {
            return Err(input(
                source,
                "serial_hybrid.linear_only",
                format!(
                    "one of the fitted parameters ({})",
                    params.parameters.join(", ")
                ),
                format!("`{l}`"),
            ));
        }
        let conditions: Vec<String> = spec.condition.iter().map(|c| c.parameter.clone()).collect();
        let raw: Vec<Vec<f64>> = training
            .iter()
            .map(|b| {
                conditions
                    .iter()
                    .map(|c| {
                        b.meta.parameters.get(c).copied().ok_or_else(|| {
                            input(
                                source,
                                &format!("batches.{}.parameters.{c}", b.id()),
                                "the condition the mechanistic model needs".into(),
                                "no value".into(),
                            )
                        })
                    })
                    .collect::<Result<Vec<f64>, Error>>()
            })
            .collect::<Result<_, _>>()?;
        let n = raw.len() as f64;
        let mean: Vec<f64> = (0..conditions.len())
            .map(|j| raw.iter().map(|r| r[j]).sum::<f64>() / n)
            .collect();
        let sd: Vec<f64> = (0..conditions.len())
            .map(|j| {
                let v = raw.iter().map(|r| (r[j] - mean[j]).powi(2)).sum::<f64>() / (n - 1.0);
                if v > 0.0 { v.sqrt() } else { 1.0 }
            })
            .collect();
        // Offline variables and fitted CQAs, and their SDs over the training data.
        let nv = params.observed.len();
        let mut prepared = Vec::new();
        let mut by_var: Vec<Vec<f64>> = vec![Vec::new(); nv];
        let mut by_cqa: Vec<Vec<f64>> = vec![Vec::new(); params.cqa_observed.len()];
        for (b, r) in training.iter().zip(&raw) {
            let (scenario, addresses, nominal) =
                batch_scenario(spec, b, &params.parameters, source)?;
            let z: Vec<f64> = (0..r.len()).map(|j| (r[j] - mean[j]) / sd[j]).collect();
            let mut samples = Vec::new();
            for (v, o) in params.observed.iter().enumerate() {
                let Some(list) = b.offline.get(&o.variable) else {
                    return Err(input(
                        source,
                        &format!("batches.{}.offline.{}", b.id(), o.variable),
                        "offline samples of an observed variable".into(),
                        "none".into(),
                    ));
                };
                for s in list.iter().filter(|s| s.value.is_finite()) {
                    samples.push((v, s.sample_time_s / 3600.0, s.value));
                    by_var[v].push(s.value);
                }
            }
            let mut cqas = Vec::new();
            for (j, c) in params.cqa_observed.iter().enumerate() {
                if let Some(y) = b.meta.cqas.get(c).filter(|y| y.is_finite()) {
                    cqas.push((j, *y));
                    by_cqa[j].push(*y);
                }
            }
            prepared.push(Prepared {
                id: b.id().to_string(),
                scenario,
                addresses,
                nominal,
                phi: phi_of(&z),
                samples,
                cqas,
            });
        }
        let var_sd: Vec<f64> = by_var.iter().map(|v| sd_of(v)).collect();
        let cqa_sd: Vec<f64> = by_cqa.iter().map(|v| sd_of(v)).collect();
        let probe = prepared[0].scenario.simulate(true)?;
        let observer = Observer::new(spec, &params.observed, &params.cqa_observed, &probe, source)?;

        let (fit_idx, val_idx): (Vec<usize>, Vec<usize>) = (0..prepared.len())
            .partition(|i| params.validation_every == 0 || (i + 1) % params.validation_every != 0);
        let np = params.parameters.len();
        let nphi = prepared[0].phi.len();
        let ntheta = np * nphi;

        // Standardised residuals of one batch (None: simulation failed).
        let residuals = |p: &Prepared, logm: &[f64]| -> Option<Vec<f64>> {
            let (sim, _) = observer.simulate(p, logm, &p.samples, &p.cqas)?;
            Some(scaled_residuals(
                &sim, &p.samples, &p.cqas, &var_sd, &cqa_sd,
            ))
        };
        // Ridge λ on the non-intercepts; a linear-only parameter's squared
        // terms are held at 0 by a prior of SD 1e-6.
        let nz = (nphi - 1) / 2;
        let lambda_diag = DVector::from_fn(ntheta, |a, _| {
            let (k, j) = (a / nphi, a % nphi);
            if j == 0 {
                0.0
            } else if j > nz && params.linear_only.contains(&params.parameters[k]) {
                1e12
            } else {
                params.ridge
            }
        });
        let penalty = |theta: &DMatrix<f64>| -> f64 {
            (0..ntheta)
                .map(|a| lambda_diag[a] * theta[(a / nphi, a % nphi)].powi(2))
                .sum::<f64>()
        };
        let sse = |theta: &DMatrix<f64>, idx: &[usize]| -> Option<f64> {
            let mut s = 0.0;
            for &i in idx {
                let logm = log_multipliers(theta, &prepared[i].phi);
                s += residuals(&prepared[i], &logm)?
                    .iter()
                    .map(|x| x * x)
                    .sum::<f64>();
            }
            Some(s)
        };
        // Residuals and Jacobian over the fit batches.
        let jacobian = |theta: &DMatrix<f64>| -> Result<(DVector<f64>, DMatrix<f64>), Error> {
            let mut rs = Vec::new();
            let mut rows: Vec<Vec<f64>> = Vec::new();
            for &i in &fit_idx {
                let p = &prepared[i];
                let logm = log_multipliers(theta, &p.phi);
                let fail = || {
                    input(
                        source,
                        &format!("batches.{}.serial_hybrid", p.id),
                        "a simulation at the fitted parameters".into(),
                        "a failed solve".into(),
                    )
                };
                let r0 = residuals(p, &logm).ok_or_else(fail)?;
                let mut sens = Vec::with_capacity(np);
                for k in 0..np {
                    let mut lm = logm.clone();
                    lm[k] += params.fd_step;
                    let rk = residuals(p, &lm).ok_or_else(fail)?;
                    sens.push(
                        rk.iter()
                            .zip(&r0)
                            .map(|(a, b)| (a - b) / params.fd_step)
                            .collect::<Vec<f64>>(),
                    );
                }
                for (m, r) in r0.iter().enumerate() {
                    rs.push(*r);
                    let mut row = vec![0.0; ntheta];
                    for k in 0..np {
                        for j in 0..nphi {
                            row[k * nphi + j] = sens[k][m] * p.phi[j];
                        }
                    }
                    rows.push(row);
                }
            }
            let j = DMatrix::from_fn(rows.len(), ntheta, |a, b| rows[a][b]);
            Ok((DVector::from_vec(rs), j))
        };

        let theta = DMatrix::<f64>::zeros(np, nphi);
        let mut report = FitReport {
            ridge: params.ridge,
            fit_batches: fit_idx.iter().map(|&i| prepared[i].id.clone()).collect(),
            validation_batches: val_idx.iter().map(|&i| prepared[i].id.clone()).collect(),
            ..FitReport::default()
        };
        let loss = sse(&theta, &fit_idx).ok_or_else(|| {
            input(
                source,
                "serial_hybrid",
                "the nominal model to simulate every training batch".into(),
                "a failed solve".into(),
            )
        })? + penalty(&theta);
        let mut best = (
            theta.clone(),
            if val_idx.is_empty() {
                loss
            } else {
                sse(&theta, &val_idx).unwrap_or(f64::INFINITY)
            },
        );
        report.fit_loss.push(loss);
        report.validation_loss.push(best.1);
        let mut since_best = 0;
        let loss_of = |t: &DMatrix<f64>| sse(t, &fit_idx).map(|s| s + penalty(t));
        let surface = Surface {
            jacobian: &jacobian,
            loss: &loss_of,
            lambda: &lambda_diag,
            np,
            nphi,
        };
        let opts = LmOptions {
            max_iter: params.max_iter,
            max_tries: 10,
            up_on_singular: 10.0,
            rel_tol: 1e-8,
            ..LmOptions::default()
        };
        let theta0 = vec![0.0; ntheta];
        let out = levenberg_marquardt(&surface, &theta0, &opts, |it| {
            report.iterations = it.iteration;
            let t = surface.matrix(it.theta);
            let v = if val_idx.is_empty() {
                it.cost
            } else {
                sse(&t, &val_idx).unwrap_or(f64::INFINITY)
            };
            report.fit_loss.push(it.cost);
            report.validation_loss.push(v);
            if v < best.1 {
                best = (t, v);
                report.best_iteration = it.iteration;
                since_best = 0;
            } else {
                since_best += 1;
            }
            if since_best >= params.patience {
                Control::Stop
            } else {
                Control::Continue
            }
        })?;
        if let Some(e) = out.failure {
            return Err(e);
        }
        let theta = best.0;
        // Linearised covariance at the chosen θ.
        let (r, j) = jacobian(&theta)?;
        let dof = (r.len() as f64 - ntheta as f64).max(1.0);
        let s2 = r.norm_squared() / dof;
        let mut a = j.transpose() * &j;
        for d in 0..ntheta {
            a[(d, d)] += lambda_diag[d];
        }
        let covariance = a
            .clone()
            .try_inverse()
            .or_else(|| a.pseudo_inverse(1e-12).ok())
            .unwrap_or_else(|| DMatrix::zeros(ntheta, ntheta))
            * s2;
        let mut model = CalibratedSerialHybrid {
            spec: spec.clone(),
            parameters: params.parameters.clone(),
            conditions,
            condition_mean: mean,
            condition_sd: sd,
            theta,
            covariance,
            targets: targets.to_vec(),
            target_sd: vec![0.0; targets.len()],
            report,
            fd_step: params.fd_step,
            condition_columns: vec![],
            n_features: 0,
            conditioning: None,
        };
        if let Some(f) = params.conditioning_cutoff {
            if !(f > 0.0 && f <= 1.0) {
                return Err(input(
                    source,
                    "serial_hybrid.conditioning_cutoff",
                    "a fraction of batch time in (0, 1]".into(),
                    f.to_string(),
                ));
            }
            let base: Vec<Vec<f64>> = prepared
                .iter()
                .map(|p| log_multipliers(&model.theta, &p.phi))
                .collect();
            let c = conditioned::learn(
                &observer,
                &params.observed,
                &prepared,
                &base,
                &var_sd,
                params.fd_step,
                f,
            )
            .ok_or_else(|| {
                input(
                    source,
                    "serial_hybrid.conditioning",
                    "per-batch effects fitted on at least 3 training batches".into(),
                    "fewer (failed simulations)".into(),
                )
            })?;
            model.conditioning = Some(c);
        }
        // Target residual SD on all training batches (of the conditioned
        // predictions when conditioning).
        let mut ss = vec![0.0; targets.len()];
        let mut cnt = vec![0usize; targets.len()];
        for b in training {
            let m = model.predict_mean(b, source)?;
            for (t, name) in targets.iter().enumerate() {
                if let Some(y) = b.meta.cqas.get(name) {
                    ss[t] += (m[t] - y).powi(2);
                    cnt[t] += 1;
                }
            }
        }
        model.target_sd = ss
            .iter()
            .zip(&cnt)
            .map(|(s, &c)| (s / c.max(1) as f64).sqrt())
            .collect();
        Ok(model)
    }

    /// Fits once per ridge λ in `grid` and keeps the fit with the lowest
    /// validation loss (whole validation batches from `training`; the test
    /// batches are never seen). Needs `validation_every` > 0.
    pub fn fit_selecting_ridge(
        spec: &MechanisticSpec,
        training: &[&BatchRecord],
        targets: &[String],
        params: &CalibratedParams,
        grid: &[f64],
        source: &Path,
    ) -> Result<CalibratedSerialHybrid, Error> {
        if params.validation_every == 0 || grid.is_empty() {
            return Err(input(
                source,
                "serial_hybrid.ridge",
                "validation batches and at least one ridge value to choose from".into(),
                format!(
                    "validation_every {}, {} values",
                    params.validation_every,
                    grid.len()
                ),
            ));
        }
        let mut best: Option<CalibratedSerialHybrid> = None;
        for &ridge in grid {
            let p = CalibratedParams {
                ridge,
                ..params.clone()
            };
            let m = Self::fit(spec, training, targets, &p, source)?;
            let v = m.report.validation_loss[m.report.best_iteration];
            if best
                .as_ref()
                .is_none_or(|b| v < b.report.validation_loss[b.report.best_iteration])
            {
                best = Some(m);
            }
        }
        Ok(best.expect("a non-empty grid")) // ok: grid checked non-empty above
    }

    /// φ(c) of a batch.
    pub fn phi(&self, b: &BatchRecord, source: &Path) -> Result<Vec<f64>, Error> {
        self.phi_of_parameters(b.id(), &b.meta.parameters, source)
    }

    fn phi_of_parameters(
        &self,
        id: &str,
        parameters: &BTreeMap<String, f64>,
        source: &Path,
    ) -> Result<Vec<f64>, Error> {
        let z = self
            .conditions
            .iter()
            .enumerate()
            .map(|(j, c)| {
                parameters
                    .get(c)
                    .map(|v| (v - self.condition_mean[j]) / self.condition_sd[j])
                    .ok_or_else(|| {
                        input(
                            source,
                            &format!("batches.{id}.parameters.{c}"),
                            "the condition the model needs".into(),
                            "no value".into(),
                        )
                    })
            })
            .collect::<Result<Vec<f64>, Error>>()?;
        Ok(phi_of(&z))
    }

    /// The multiplier p_k / p_k,nominal of each parameter for a batch.
    pub fn multipliers(&self, b: &BatchRecord, source: &Path) -> Result<Vec<f64>, Error> {
        Ok(log_multipliers(&self.theta, &self.phi(b, source)?)
            .into_iter()
            .map(f64::exp)
            .collect())
    }

    fn targets_at(&self, p: &Prepared, logm: &[f64], source: &Path) -> Result<Vec<f64>, Error> {
        let out = with_multipliers(p, logm).simulate(false)?;
        Ok(self.spec.targets_of(&out, &p.id, &self.targets, source)?)
    }

    fn prepare(&self, b: &BatchRecord, source: &Path) -> Result<(Prepared, Vec<f64>), Error> {
        self.prepare_parameters(b.id(), &b.meta.parameters, source)
    }

    fn prepare_parameters(
        &self,
        id: &str,
        parameters: &BTreeMap<String, f64>,
        source: &Path,
    ) -> Result<(Prepared, Vec<f64>), Error> {
        let (scenario, addresses, nominal) =
            scenario_of(&self.spec, id, parameters, &self.parameters, source)?;
        let phi = self.phi_of_parameters(id, parameters, source)?;
        let logm = log_multipliers(&self.theta, &phi);
        Ok((
            Prepared {
                id: id.to_string(),
                scenario,
                addresses,
                nominal,
                phi,
                samples: vec![],
                cqas: vec![],
            },
            logm,
        ))
    }

    /// The batch's log-multipliers: θ·φ(c), plus the MAP per-batch effect
    /// from its data known by the cut-off when the model conditions.
    fn batch_log_multipliers(
        &self,
        b: &BatchRecord,
        source: &Path,
    ) -> Result<(Prepared, Vec<f64>), Error> {
        let (p, base) = self.prepare(b, source)?;
        let Some(c) = &self.conditioning else {
            return Ok((p, base));
        };
        let samples =
            conditioned::samples_known_at(b, &c.observed, c.cutoff_fraction * b.duration_s());
        let fail = || {
            input(
                source,
                &format!("batches.{}.serial_hybrid", b.id()),
                "a simulation at the batch's conditions".into(),
                "a failed solve".into(),
            )
        };
        let probe = with_multipliers(&p, &base).simulate(true)?;
        let observer = Observer::new(&self.spec, &c.observed, &[], &probe, source)?;
        let (u, _) = conditioned::map_effects(
            &observer,
            &p,
            &base,
            &samples,
            &c.noise_sd,
            &c.effect_sd,
            self.fd_step,
        )
        .ok_or_else(fail)?;
        let logm = base.iter().zip(&u).map(|(b, u)| b + u).collect();
        Ok((p, logm))
    }

    /// Predicted end-of-batch targets (dataset SI); conditioned on the
    /// batch's data up to the cut-off when the model conditions.
    pub fn predict_mean(&self, b: &BatchRecord, source: &Path) -> Result<Vec<f64>, Error> {
        let (p, logm) = self.batch_log_multipliers(b, source)?;
        self.targets_at(&p, &logm, source)
    }

    /// Predicted end-of-batch targets and their predictive SDs; conditioned
    /// on the batch's data up to the cut-off when the model conditions.
    pub fn predict_batch(
        &self,
        b: &BatchRecord,
        source: &Path,
    ) -> Result<(Vec<f64>, Vec<f64>), Error> {
        let (p, logm) = self.batch_log_multipliers(b, source)?;
        self.mean_and_sd_at(&p, &logm, source)
    }

    /// The same from a batch's manifest parameters (SI) only: never
    /// conditioned (no batch data).
    pub fn predict_parameters(
        &self,
        id: &str,
        parameters: &BTreeMap<String, f64>,
        source: &Path,
    ) -> Result<(Vec<f64>, Vec<f64>), Error> {
        let (p, logm) = self.prepare_parameters(id, parameters, source)?;
        self.mean_and_sd_at(&p, &logm, source)
    }

    /// Targets at `logm` and their SDs: gᵀ Σ_θ g + s_t².
    fn mean_and_sd_at(
        &self,
        p: &Prepared,
        logm: &[f64],
        source: &Path,
    ) -> Result<(Vec<f64>, Vec<f64>), Error> {
        let m0 = self.targets_at(p, logm, source)?;
        let nphi = p.phi.len();
        let nt = self.theta.len();
        let mut grad = DMatrix::<f64>::zeros(m0.len(), nt);
        for k in 0..self.parameters.len() {
            let mut lm = logm.to_vec();
            lm[k] += self.fd_step;
            let mk = self.targets_at(p, &lm, source)?;
            for t in 0..m0.len() {
                let d = (mk[t] - m0[t]) / self.fd_step;
                for j in 0..nphi {
                    grad[(t, k * nphi + j)] = d * p.phi[j];
                }
            }
        }
        let var = &grad * &self.covariance * grad.transpose();
        let sd = (0..m0.len())
            .map(|t| (var[(t, t)].max(0.0) + self.target_sd[t].powi(2)).sqrt())
            .collect();
        Ok((m0, sd))
    }
}

impl CalibratedSerialHybrid {
    /// Predictions for whole batch records (conditioned on each batch's data
    /// up to the cut-off when the model conditions), as a [`Prediction`].
    pub fn predict_records(
        &self,
        records: &[&BatchRecord],
        source: &Path,
    ) -> Result<Prediction, Error> {
        let (n, q) = (records.len(), self.targets.len());
        let (mut mean, mut std) = (DMatrix::zeros(n, q), DMatrix::zeros(n, q));
        for (i, b) in records.iter().enumerate() {
            let (m, s) = self.predict_batch(b, source)?;
            for t in 0..q {
                mean[(i, t)] = m[t];
                std[(i, t)] = s[t];
            }
        }
        Ok(Prediction { mean, std })
    }
}

fn numerical(e: Error) -> SurrogateError {
    SurrogateError::Numerical(format!("serial hybrid: {e}"))
}

/// The calibrated serial hybrid as a surrogate of unfolded batch records
/// (`biotwin train --model serial-hybrid`): fitted to the batch records of
/// the training rows' batches (it needs their trajectories, not only the
/// features) under the mechanistic mapping the set carries
/// ([`crate::surrogates::dataset::BatchContext`]), predicting from the
/// feature columns named as the mapping's conditions. The settings hold no
/// data.
impl Fit for CalibratedParams {
    type Model = CalibratedSerialHybrid;
    fn fit(&self, data: &TrainingSet) -> Result<CalibratedSerialHybrid, SurrogateError> {
        let ctx = data.batch_context("the serial hybrid")?;
        let spec = ctx.mechanistic.as_deref().ok_or_else(|| {
            SurrogateError::shape(
                "mechanistic mapping of the batches (the serial hybrid simulates them)",
                "a mechanistic.toml",
                "none",
            )
        })?;
        // The column of x holding each of the mapping's conditions.
        let condition_columns = spec
            .condition
            .iter()
            .map(|c| {
                data.feature_names
                    .iter()
                    .position(|n| *n == c.parameter)
                    .ok_or_else(|| {
                        SurrogateError::shape(
                            "condition columns (one per mechanistic condition)",
                            format!("a feature named `{}`", c.parameter),
                            data.feature_names.join(","),
                        )
                    })
            })
            .collect::<Result<Vec<usize>, SurrogateError>>()?;
        let training = data.batch_records()?;
        let mut m =
            CalibratedSerialHybrid::fit(spec, &training, &data.target_names, self, &ctx.source)
                .map_err(numerical)?;
        m.condition_columns = condition_columns;
        m.n_features = data.x.ncols();
        Ok(m)
    }
}

impl Predict for CalibratedSerialHybrid {
    fn n_features(&self) -> usize {
        self.n_features
    }
    fn n_targets(&self) -> usize {
        self.targets.len()
    }
    fn predict(&self, x: &DMatrix<f64>) -> Result<Prediction, SurrogateError> {
        self.check_input(x)?;
        if self.conditioning.is_some() {
            // Feature rows carry the latest values, not the sample times
            // the conditioning needs: refuse rather than silently ignore the
            // batch's data.
            return Err(SurrogateError::Numerical(
                "serial hybrid conditioned on batch data: predict from batch records \
                 (`biotwin evaluate`/`predict`), not from feature rows"
                    .into(),
            ));
        }
        let (n, q) = (x.nrows(), self.targets.len());
        let (mut mean, mut std) = (DMatrix::zeros(n, q), DMatrix::zeros(n, q));
        for i in 0..n {
            let parameters: BTreeMap<String, f64> = self
                .conditions
                .iter()
                .zip(&self.condition_columns)
                .map(|(c, &col)| (c.clone(), x[(i, col)]))
                .collect();
            let (m, s) = self
                .predict_parameters(&format!("row{i}"), &parameters, Path::new("<model input>"))
                .map_err(numerical)?;
            for t in 0..q {
                mean[(i, t)] = m[t];
                std[(i, t)] = s[t];
            }
        }
        Ok(Prediction { mean, std })
    }
}
