//! Recipe-conditioned model discrepancy of a calibrated model's end-of-batch
//! predictions (`docs/fit.md`, "Model discrepancy"; used by the fourth CHO
//! study and by `biotwin fit --discrepancy`), in the spirit of Kennedy & O'Hagan (J. R. Stat.
//! Soc. B 63:425, 2001): the observed end-point of a batch is the
//! calibrated model's prediction plus a smooth function of the batch's
//! recipe conditions plus noise,
//!
//! ```text
//! y_c(x) = η_c(x; θ̂) + δ_c(x) + ε,   ε ~ N(0, σ_c²)
//! ```
//!
//! with x the dataset manifest's conditions (SI units), θ̂ the fitted model
//! parameters (fixed: a two-stage, "modular" estimate — θ̂ first, then δ on
//! the residuals r = y − η(θ̂) of the calibration batches), and c one
//! end-of-batch target (`final_titer`, `galactosylated`, …). The
//! conditions enter as u = (x − mean)/sd, standardised on the calibration
//! batches (sample SD; a constant condition is centred only).
//!
//! * **`linear`**: δ_c(u) = β₀ + Σ_k β_k u_k. Ridge (a Gaussian prior
//!   β_k ~ N(0, σ²/λ) on the slopes, none on β₀), λ chosen per target from
//!   [`RIDGE_GRID`] by leave-one-batch-out cross-validation on the
//!   calibration batches (closed form: e_i/(1 − h_ii), one row per batch).
//!   With X = [1, U] and Λ = diag(0, λ, …, λ):
//!   β̂ = (XᵀX + Λ)⁻¹ Xᵀ r, σ² = ‖r − Xβ̂‖² / (n − tr H), H = X (XᵀX + Λ)⁻¹ Xᵀ,
//!   Cov β̂ = σ² (XᵀX + Λ)⁻¹ (the posterior covariance under that prior).
//!   At a new batch x*: correction β̂ᵀx*, its SE = √(x*ᵀ Cov β̂ x*), and the
//!   SD of the observed end-point around the corrected prediction
//!   √(σ² + SE²).
//! * **`gp`**: δ_c is a Gaussian process (the crate's GP,
//!   [`crate::surrogates::gp`]: constant mean = the residuals' mean, σ_f²
//!   RBF on u with one length scale + white noise σ_n², y normalised,
//!   hyperparameters by maximum marginal likelihood). Its predictive SD is
//!   that of a new observation; the correction's SE is √(SD² − σ_n²).
//!
//! The fitted θ̂'s own uncertainty is not propagated here (its intervals
//! are far narrower than σ_c; docs/fit.md says so).

use std::path::Path;

use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

use super::problem::Problem;
use crate::data::Dataset;
use crate::error::Error;
use crate::surrogates::hybrid::mechanistic::MechanisticSpec;

use crate::surrogates::gp::{GpModel, GpParams, RbfKernel};
use crate::surrogates::gp_fit::OptimiseOptions;
use crate::surrogates::standardise::{Scaling, Standardiser};
use crate::surrogates::{Fit, Predict, TrainingSet};

/// Ridge penalties tried for the `linear` form (in units of the
/// standardised conditions; XᵀX has about n − 1 on its diagonal).
pub const RIDGE_GRID: [f64; 10] = [0.0, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1e3, 1e4];

/// Schema tag of a stored discrepancy.
pub const SCHEMA: &str = "biotwin.discrepancy/1";

/// The form of δ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Form {
    /// δ linear in the standardised conditions, by ridge regression
    /// (λ by leave-one-batch-out cross-validation).
    Linear,
    /// δ a Gaussian process on the standardised conditions (RBF kernel,
    /// hyperparameters by maximum marginal likelihood).
    Gp,
}

impl Form {
    /// The form's name as written in files and on the command line
    /// (`linear`, `gp`).
    pub fn name(self) -> &'static str {
        match self {
            Form::Linear => "linear",
            Form::Gp => "gp",
        }
    }
    /// The form named `s` (exactly `linear` or `gp`); `None` for any other
    /// string.
    pub fn parse(s: &str) -> Option<Form> {
        match s {
            "linear" => Some(Form::Linear),
            "gp" => Some(Form::Gp),
            _ => None,
        }
    }
}

/// δ of one target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, tag = "form", rename_all = "lowercase")]
pub enum Correction {
    /// δ(u) = β₀ + Σ_k β_k u_k on the standardised conditions u.
    Linear {
        /// λ chosen by leave-one-batch-out CV.
        ridge: f64,
        /// β₀, β₁ … β_p (target unit; per SD of each condition).
        coefficients: Vec<f64>,
        /// Cov β̂ = σ² (XᵀX + Λ)⁻¹, row-major (p + 1)².
        covariance: Vec<f64>,
    },
    /// δ a Gaussian process on the standardised conditions u.
    Gp {
        /// The GP fitted to the calibration batches' residuals r on u
        /// (kernel hyperparameters, training inputs, Cholesky factor; r
        /// normalised inside, predictions in the target's unit); its
        /// predictive SD is that of a new observation.
        model: Box<GpModel>,
    },
}

/// δ of one end-of-batch target, with its calibration statistics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetDiscrepancy {
    /// Dataset target (`final_titer`), in its dataset SI unit.
    pub target: String,
    /// σ_c: SD of the end-point around the corrected prediction that δ does
    /// not explain (batch-to-batch variation and measurement error).
    pub residual_sd: f64,
    /// RMSE of the calibration batches' residuals r (the model without δ).
    pub rmse_without: f64,
    /// Leave-one-batch-out RMSE of r − δ₋ᵢ(xᵢ) on the calibration batches
    /// (in-sample: the batches θ̂ was fitted to).
    pub loo_rmse: f64,
    /// δ itself (the form's estimate), in the target's unit.
    pub correction: Correction,
}

/// A fitted discrepancy (serialisable, schema [`SCHEMA`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Discrepancy {
    /// Schema tag, [`SCHEMA`] when written by this version.
    pub schema: String,
    /// The form of δ used for every target.
    pub form: Form,
    /// Manifest parameters x, in column order (dataset SI units).
    pub conditions: Vec<String>,
    /// Their mean and SD on the calibration batches (u = (x − mean)/sd).
    pub scaler: Standardiser,
    /// The calibration batches δ was estimated on.
    pub batches: Vec<String>,
    /// δ of each end-of-batch target, with its calibration statistics.
    pub targets: Vec<TargetDiscrepancy>,
}

/// The correction of one target at one batch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Corrected {
    /// δ(x*), to be added to the model's prediction.
    pub correction: f64,
    /// SE of δ(x*).
    pub se: f64,
    /// SD of the observed end-point around η + δ: √(σ² + SE²).
    pub predictive_sd: f64,
}

/// Symmetric positive-definite inverse (Cholesky), or an error.
fn spd_inverse(a: &DMatrix<f64>) -> Result<DMatrix<f64>, String> {
    a.clone()
        .cholesky()
        .map(|c| c.inverse())
        .ok_or_else(|| "the discrepancy's normal equations are singular (a condition constant over the calibration batches, or fewer batches than conditions + 2)".to_string())
}

/// One ridge fit: (β̂, (XᵀX + Λ)⁻¹, fitted residuals, leverages).
fn ridge(
    x: &DMatrix<f64>,
    r: &DVector<f64>,
    lambda: f64,
) -> Result<(DVector<f64>, DMatrix<f64>, DVector<f64>, DVector<f64>), String> {
    let p1 = x.ncols();
    let mut a = x.transpose() * x;
    for k in 1..p1 {
        a[(k, k)] += lambda;
    }
    let ainv = spd_inverse(&a)?;
    let beta = &ainv * (x.transpose() * r);
    let fitted = x * &beta;
    let e = r - fitted;
    let h = DVector::from_fn(x.nrows(), |i, _| {
        let xi = x.row(i).transpose();
        (xi.transpose() * &ainv * &xi)[(0, 0)]
    });
    Ok((beta, ainv, e, h))
}

fn design(u: &DMatrix<f64>) -> DMatrix<f64> {
    DMatrix::from_fn(u.nrows(), u.ncols() + 1, |i, j| {
        if j == 0 { 1.0 } else { u[(i, j - 1)] }
    })
}

fn rms(v: impl Iterator<Item = f64>) -> f64 {
    let (s, n) = v.fold((0.0, 0usize), |(s, n), e| (s + e * e, n + 1));
    (s / n.max(1) as f64).sqrt()
}

fn linear_target(u: &DMatrix<f64>, r: &DVector<f64>) -> Result<(Correction, f64, f64), String> {
    let x = design(u);
    let (n, p1) = (x.nrows(), x.ncols());
    // λ by leave-one-batch-out PRESS; ties go to the larger λ (simpler).
    let mut best: Option<(f64, f64)> = None;
    for &lambda in &RIDGE_GRID {
        let Ok((_, _, e, h)) = ridge(&x, r, lambda) else {
            continue;
        };
        if h.iter().any(|&hi| hi >= 1.0 - 1e-9) {
            continue;
        }
        let loo = rms((0..n).map(|i| e[i] / (1.0 - h[i])));
        if best.is_none_or(|(_, b)| loo <= b * (1.0 + 1e-12)) {
            best = Some((lambda, loo));
        }
    }
    let (lambda, loo) = best.ok_or_else(|| {
        format!("no ridge penalty gives a leave-one-out fit ({n} batches, {p1} coefficients)")
    })?;
    let (beta, ainv, e, h) = ridge(&x, r, lambda)?;
    let df = h.sum();
    if n as f64 - df < 1.0 {
        return Err(format!(
            "{n} batches leave no degrees of freedom for the discrepancy's residual SD"
        ));
    }
    let s2 = e.norm_squared() / (n as f64 - df);
    let cov = ainv * s2;
    let mut covariance = Vec::with_capacity(p1 * p1);
    for i in 0..p1 {
        for j in 0..p1 {
            covariance.push(0.5 * (cov[(i, j)] + cov[(j, i)]));
        }
    }
    Ok((
        Correction::Linear {
            ridge: lambda,
            coefficients: beta.iter().copied().collect(),
            covariance,
        },
        s2.sqrt(),
        loo,
    ))
}

fn gp_params(p: usize) -> GpParams {
    GpParams {
        kernel: RbfKernel {
            signal_variance: 1.0,
            length_scales: vec![(p.max(1) as f64).sqrt()],
            noise_variance: 0.5,
        },
        jitter: 1e-10,
        normalise_y: true,
        standardise_x: false,
        optimise: Some(OptimiseOptions {
            restarts: 2,
            length_scale_bounds: (0.3, 100.0),
            noise_variance_bounds: (1e-3, 10.0),
            ..OptimiseOptions::default()
        }),
    }
}

fn gp_fit(u: &DMatrix<f64>, r: &DVector<f64>) -> Result<GpModel, String> {
    let set = TrainingSet::from_matrices(
        u.clone(),
        DMatrix::from_column_slice(r.len(), 1, r.as_slice()),
    );
    gp_params(u.ncols()).fit(&set).map_err(|e| e.to_string())
}

fn gp_target(u: &DMatrix<f64>, r: &DVector<f64>) -> Result<(Correction, f64, f64), String> {
    let n = u.nrows();
    let model = gp_fit(u, r)?;
    // Leave-one-batch-out with the hyperparameters refitted each time.
    let mut loo = Vec::with_capacity(n);
    for i in 0..n {
        let keep: Vec<usize> = (0..n).filter(|&k| k != i).collect();
        let m = gp_fit(&u.select_rows(&keep), &r.select_rows(&keep))?;
        let pr = m
            .predict(&u.rows(i, 1).into_owned())
            .map_err(|e| e.to_string())?;
        loo.push(r[i] - pr.mean[(0, 0)]);
    }
    let sd = (model.kernel.noise_variance).sqrt() * model.y_scaler.scale[0];
    Ok((
        Correction::Gp {
            model: Box::new(model),
        },
        sd,
        rms(loo.into_iter()),
    ))
}

impl Discrepancy {
    /// Fits δ for each target column of `residuals` (n batches × q targets,
    /// r = observed − model) on the batches' conditions `x` (n × p, SI).
    pub fn fit(
        form: Form,
        conditions: &[String],
        x: &DMatrix<f64>,
        targets: &[String],
        residuals: &DMatrix<f64>,
        batches: &[String],
    ) -> Result<Discrepancy, String> {
        let (n, p) = (x.nrows(), x.ncols());
        if conditions.len() != p || residuals.nrows() != n || residuals.ncols() != targets.len() {
            return Err(format!(
                "shapes: {n}×{p} conditions ({} names), {}×{} residuals ({} targets)",
                conditions.len(),
                residuals.nrows(),
                residuals.ncols(),
                targets.len()
            ));
        }
        if n < p + 3 {
            return Err(format!(
                "a discrepancy in {p} conditions needs at least {} calibration batches, found {n}",
                p + 3
            ));
        }
        if let Some(v) = x.iter().chain(residuals.iter()).find(|v| !v.is_finite()) {
            return Err(format!("a non-finite condition or residual ({v})"));
        }
        // A condition the calibration batches do not vary has no slope to
        // estimate, and its prior variance would be measured in its raw SI
        // unit (the standardiser leaves a constant column unscaled): a new
        // batch that changed it would get an interval of arbitrary size.
        // Refused, naming it, rather than silently extrapolated.
        for (j, name) in conditions.iter().enumerate() {
            let col = x.column(j);
            let mean = col.sum() / n as f64;
            let sd = (col.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n as f64 - 1.0))
                .sqrt();
            if !(sd > 1e-9 * mean.abs().max(f64::MIN_POSITIVE)) {
                return Err(format!(
                    "condition `{name}` has the same value ({mean}) in every calibration batch: \
                     a discrepancy cannot be estimated in it (leave it out of the mapping's conditions)"
                ));
            }
        }
        let scaler = Standardiser::fit(x, Scaling::SampleStd);
        let u = scaler.apply(x);
        let mut out = Vec::new();
        for (c, t) in targets.iter().enumerate() {
            let r = residuals.column(c).into_owned();
            let (correction, residual_sd, loo_rmse) = match form {
                Form::Linear => linear_target(&u, &r),
                Form::Gp => gp_target(&u, &r),
            }
            .map_err(|e| format!("the discrepancy of `{t}`: {e}"))?;
            out.push(TargetDiscrepancy {
                target: t.clone(),
                residual_sd,
                rmse_without: rms(r.iter().copied()),
                loo_rmse,
                correction,
            });
        }
        Ok(Discrepancy {
            schema: SCHEMA.into(),
            form,
            conditions: conditions.to_vec(),
            scaler,
            batches: batches.to_vec(),
            targets: out,
        })
    }

    /// δ of `target` at a batch whose conditions are `x` (in the order of
    /// [`Discrepancy::conditions`], SI); `None` for a target without δ.
    pub fn correct(&self, target: &str, x: &[f64]) -> Result<Option<Corrected>, String> {
        let Some(t) = self.targets.iter().find(|t| t.target == target) else {
            return Ok(None);
        };
        if x.len() != self.conditions.len() {
            return Err(format!(
                "{} conditions given, the discrepancy has {} ({})",
                x.len(),
                self.conditions.len(),
                self.conditions.join(", ")
            ));
        }
        if let Some(k) = x.iter().position(|v| !v.is_finite()) {
            return Err(format!("condition `{}` is {}", self.conditions[k], x[k]));
        }
        let u = self.scaler.apply(&DMatrix::from_row_slice(1, x.len(), x));
        let c = match &t.correction {
            Correction::Linear {
                coefficients,
                covariance,
                ..
            } => {
                let p1 = coefficients.len();
                let z: Vec<f64> = std::iter::once(1.0).chain(u.iter().copied()).collect();
                let mean: f64 = z.iter().zip(coefficients).map(|(a, b)| a * b).sum();
                let mut var = 0.0;
                for i in 0..p1 {
                    for j in 0..p1 {
                        var += z[i] * covariance[i * p1 + j] * z[j];
                    }
                }
                let se = var.max(0.0).sqrt();
                Corrected {
                    correction: mean,
                    se,
                    predictive_sd: (t.residual_sd.powi(2) + se * se).sqrt(),
                }
            }
            Correction::Gp { model } => {
                let pr = model.predict(&u).map_err(|e| e.to_string())?;
                let sd = pr.std[(0, 0)];
                Corrected {
                    correction: pr.mean[(0, 0)],
                    se: (sd * sd - t.residual_sd.powi(2)).max(0.0).sqrt(),
                    predictive_sd: sd,
                }
            }
        };
        if !(c.correction.is_finite() && c.predictive_sd.is_finite()) {
            return Err(format!("a non-finite correction of `{target}`"));
        }
        Ok(Some(c))
    }
}

/// The end-of-batch targets of some batches as the model predicts them at
/// θ, what was observed, and the batches' conditions.
#[derive(Debug, Clone, PartialEq)]
pub struct EndPoints {
    /// Batch ids, in row order.
    pub batches: Vec<String>,
    /// Manifest parameters of the mapping, column order of `conditions`.
    pub condition_names: Vec<String>,
    /// n × p, dataset SI units.
    pub conditions: DMatrix<f64>,
    /// End-of-batch targets (dataset CQA names), in column order of
    /// `predicted` and `observed`.
    pub targets: Vec<String>,
    /// n × q model predictions (dataset SI).
    pub predicted: DMatrix<f64>,
    /// Observed targets (None: not in the batch's manifest).
    pub observed: Vec<Vec<Option<f64>>>,
}

/// The manifest parameters a mapping reads, each once, in file order: the
/// conditions δ is a function of.
pub fn condition_names(spec: &MechanisticSpec) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    for c in &spec.condition {
        if !v.contains(&c.parameter) {
            v.push(c.parameter.clone());
        }
    }
    v
}

/// Simulates every batch of `problem` (built by
/// [`super::setup::from_dataset`] on `ds`) at θ and maps its end-of-batch
/// targets.
pub fn end_points(
    spec: &MechanisticSpec,
    mapping: &Path,
    ds: &Dataset,
    problem: &Problem,
    theta: &[f64],
    targets: &[String],
) -> Result<EndPoints, Error> {
    let names = condition_names(spec);
    let n = problem.batches.len();
    let mut conditions = DMatrix::zeros(n, names.len());
    let mut predicted = DMatrix::zeros(n, targets.len());
    let mut observed = Vec::with_capacity(n);
    let mut batches = Vec::with_capacity(n);
    for (b, batch) in problem.batches.iter().enumerate() {
        let rec = ds.batch(&batch.id).ok_or_else(|| {
            Error::input(
                ds.dir.join("dataset.toml"),
                format!("batches.{}", batch.id),
                "a batch of the dataset",
                "none",
            )
        })?;
        for (k, c) in names.iter().enumerate() {
            conditions[(b, k)] = *rec.meta.parameters.get(c).ok_or_else(|| {
                Error::input(
                    ds.dir.join("dataset.toml"),
                    format!("batches.{}.parameters.{c}", batch.id),
                    "the condition the mapping reads",
                    "none",
                )
            })?;
        }
        let (_, out) = problem
            .predict(b, theta)
            .map_err(|e| Error::estimation(format!("the run of {}", batch.id), e))?;
        let pr = spec.targets_of(&out, &batch.id, targets, mapping)?;
        for (j, v) in pr.into_iter().enumerate() {
            predicted[(b, j)] = v;
        }
        observed.push(
            targets
                .iter()
                .map(|t| rec.meta.cqas.get(t).copied())
                .collect(),
        );
        batches.push(batch.id.clone());
    }
    Ok(EndPoints {
        batches,
        condition_names: names,
        conditions,
        targets: targets.to_vec(),
        predicted,
        observed,
    })
}

impl EndPoints {
    /// r = observed − predicted, n × q; an error names a batch without an
    /// observed target.
    pub fn residuals(&self, source: &Path) -> Result<DMatrix<f64>, Error> {
        let mut r = DMatrix::zeros(self.batches.len(), self.targets.len());
        for (i, b) in self.batches.iter().enumerate() {
            for (j, t) in self.targets.iter().enumerate() {
                let o = self.observed[i][j].ok_or_else(|| {
                    Error::input(
                        source,
                        format!("batches.{b}.cqas.{t}"),
                        "the observed end-point the discrepancy is estimated on",
                        "none",
                    )
                })?;
                r[(i, j)] = o - self.predicted[(i, j)];
            }
        }
        Ok(r)
    }

    /// δ fitted on these batches' residuals.
    pub fn discrepancy(&self, form: Form, source: &Path) -> Result<Discrepancy, Error> {
        let r = self.residuals(source)?;
        Discrepancy::fit(
            form,
            &self.condition_names,
            &self.conditions,
            &self.targets,
            &r,
            &self.batches,
        )
        .map_err(|e| Error::estimation("the model discrepancy", e))
    }

    /// Corrected predictions: (η + δ, δ's SE and predictive SD) per batch
    /// and target; a target without δ keeps η with `None`.
    pub fn corrected(&self, d: &Discrepancy) -> Result<Vec<Vec<(f64, Option<Corrected>)>>, Error> {
        let mut order = Vec::new();
        for c in &d.conditions {
            let k = self
                .condition_names
                .iter()
                .position(|n| n == c)
                .ok_or_else(|| {
                    Error::estimation(
                        "the model discrepancy",
                        format!("condition `{c}` is not mapped for these batches"),
                    )
                })?;
            order.push(k);
        }
        (0..self.batches.len())
            .map(|i| {
                let x: Vec<f64> = order.iter().map(|&k| self.conditions[(i, k)]).collect();
                self.targets
                    .iter()
                    .enumerate()
                    .map(|(j, t)| {
                        let c = d
                            .correct(t, &x)
                            .map_err(|e| Error::estimation("the model discrepancy", e))?;
                        Ok((self.predicted[(i, j)] + c.map_or(0.0, |c| c.correction), c))
                    })
                    .collect()
            })
            .collect()
    }
}
