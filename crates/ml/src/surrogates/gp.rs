//! Gaussian-process regression with a scaled RBF kernel plus white noise, by
//! exact Cholesky factorisation (Rasmussen & Williams, *Gaussian Processes
//! for Machine Learning*, MIT Press 2006, Algorithm 2.1), numerically the
//! same as scikit-learn's `GaussianProcessRegressor` with kernel
//! `ConstantKernel(σ²) * RBF(ℓ) + WhiteKernel(σₙ²)`.
//!
//! k(x, x') = σ² exp(−½ Σ_d (x_d − x'_d)² / ℓ_d²) + σₙ² δ(x, x'),
//! with one ℓ (isotropic) or one per feature (ARD). Training:
//! L = chol(K + αI), α_w = Lᵀ \ (L \ y). Prediction at x*:
//! mean = k*ᵀ α_w, variance = k(x*, x*) − ‖L \ k*‖² (clipped at 0), which
//! includes σₙ², so the standard deviation is that of a new *observation*.
//! With `normalise_y`, y is standardised (population std, as scikit-learn)
//! before fitting and mean/std are mapped back. With `standardise_x`, the
//! features are standardised (sample std) before the kernel sees them, so
//! length scales are in standard deviations of the training features.
//!
//! Hyperparameters are either fixed or fitted by maximising the log
//! marginal likelihood ([`super::gp_fit`]).

use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

use super::gp_fit::{OptimiseOptions, maximise_marginal_likelihood};
use super::standardise::{Scaling, Standardiser};
use super::{Fit, Predict, Prediction, SurrogateError, TrainingSet};

/// σ² · RBF(ℓ) + σₙ² · white noise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RbfKernel {
    /// σ², variance of the latent function (in standardised y when
    /// `normalise_y`).
    pub signal_variance: f64,
    /// ℓ: one value (isotropic) or one per feature (ARD).
    pub length_scales: Vec<f64>,
    /// σₙ², observation noise variance.
    pub noise_variance: f64,
}

impl RbfKernel {
    fn length(&self, d: usize) -> f64 {
        if self.length_scales.len() == 1 {
            self.length_scales[0]
        } else {
            self.length_scales[d]
        }
    }

    /// σ² exp(−½ r²) between rows of `a` and `b` (no noise term).
    pub fn cross(&self, a: &DMatrix<f64>, b: &DMatrix<f64>) -> DMatrix<f64> {
        let mut k = DMatrix::zeros(a.nrows(), b.nrows());
        for i in 0..a.nrows() {
            for j in 0..b.nrows() {
                let mut r2 = 0.0;
                for d in 0..a.ncols() {
                    let z = (a[(i, d)] - b[(j, d)]) / self.length(d);
                    r2 += z * z;
                }
                k[(i, j)] = self.signal_variance * (-0.5 * r2).exp();
            }
        }
        k
    }

    /// Log-hyperparameters θ = [ln σ², ln ℓ…, ln σₙ²] (scikit-learn's order).
    pub fn theta(&self) -> Vec<f64> {
        let mut t = vec![self.signal_variance.ln()];
        t.extend(self.length_scales.iter().map(|l| l.ln()));
        t.push(self.noise_variance.ln());
        t
    }

    /// The kernel of log-hyperparameters `theta` (the inverse of
    /// [`theta`](Self::theta)); `theta` must hold at least two values (σ² and
    /// σₙ², with the length scales between).
    pub fn from_theta(theta: &[f64]) -> RbfKernel {
        let n = theta.len();
        RbfKernel {
            signal_variance: theta[0].exp(),
            length_scales: theta[1..n - 1].iter().map(|t| t.exp()).collect(),
            noise_variance: theta[n - 1].exp(),
        }
    }

    fn check(&self, p: usize) -> Result<(), SurrogateError> {
        if self.length_scales.len() != 1 && self.length_scales.len() != p {
            return Err(SurrogateError::shape(
                "GP length scales",
                format!("1 or {p} (one per feature)"),
                self.length_scales.len(),
            ));
        }
        let all = std::iter::once(self.signal_variance)
            .chain(self.length_scales.iter().copied())
            .chain(std::iter::once(self.noise_variance));
        for v in all {
            if !(v.is_finite() && v > 0.0) {
                return Err(SurrogateError::Numerical(format!(
                    "GP hyperparameters must be positive and finite, found {v}"
                )));
            }
        }
        Ok(())
    }
}

/// GP hyperparameters and options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GpParams {
    /// The kernel, or the starting point when `optimise` is set.
    pub kernel: RbfKernel,
    /// α added to the diagonal of K for numerical stability (scikit-learn's
    /// `alpha`, default 1e-10).
    pub jitter: f64,
    /// Stored as `normalize_y` (scikit-learn's name, and the name in every
    /// artifact registered so far, whose content hashes cover it); the
    /// British spelling is read too. Likewise `standardize_x`, `optimize`.
    #[serde(rename = "normalize_y", alias = "normalise_y")]
    pub normalise_y: bool,
    #[serde(rename = "standardize_x", alias = "standardise_x")]
    /// Standardise the features before the kernel sees them (stored as
    /// `standardize_x`).
    pub standardise_x: bool,
    /// Fit the kernel by maximum marginal likelihood; `None` keeps it fixed
    /// (scikit-learn's `optimizer=None`).
    #[serde(rename = "optimize", alias = "optimise")]
    pub optimise: Option<OptimiseOptions>,
}

impl GpParams {
    /// Fixed kernel, scikit-learn defaults otherwise (no scaling).
    pub fn fixed(kernel: RbfKernel) -> GpParams {
        GpParams {
            kernel,
            jitter: 1e-10,
            normalise_y: false,
            standardise_x: false,
            optimise: None,
        }
    }
}

/// A fitted GP.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GpModel {
    /// The kernel, as fitted (on the scaled data).
    pub kernel: RbfKernel,
    /// α added to the diagonal of K.
    pub jitter: f64,
    /// Standardiser of the features (identity unless `standardise_x`).
    pub x_scaler: Standardiser,
    /// Standardiser of the targets (identity unless `normalise_y`).
    pub y_scaler: Standardiser,
    /// Training inputs after `x_scaler`.
    #[serde(with = "super::matrix_serde")]
    pub x_train: DMatrix<f64>,
    /// Lower Cholesky factor L of K + αI.
    #[serde(with = "super::matrix_serde")]
    pub chol: DMatrix<f64>,
    /// α_w = K⁻¹ y (scaled y), n × q.
    #[serde(with = "super::matrix_serde")]
    pub weights: DMatrix<f64>,
    /// ln p(y | X, θ) at the fitted kernel (scaled y).
    pub log_marginal_likelihood: f64,
}

/// K + αI of training inputs for `kernel`, with the white-noise diagonal.
pub fn training_covariance(kernel: &RbfKernel, x: &DMatrix<f64>, jitter: f64) -> DMatrix<f64> {
    let mut k = kernel.cross(x, x);
    for i in 0..x.nrows() {
        k[(i, i)] += kernel.noise_variance + jitter;
    }
    k
}

impl Fit for GpParams {
    type Model = GpModel;

    fn fit(&self, data: &TrainingSet) -> Result<GpModel, SurrogateError> {
        data.check()?;
        let (n, p) = (data.x.nrows(), data.x.ncols());
        if n < 2 {
            return Err(SurrogateError::shape("GP training rows", "at least 2", n));
        }
        self.kernel.check(p)?;
        let x_scaler = if self.standardise_x {
            Standardiser::fit(&data.x, Scaling::SampleStd)
        } else {
            Standardiser::identity(p)
        };
        let y_scaler = if self.normalise_y {
            Standardiser::fit(&data.y, Scaling::PopulationStd)
        } else {
            Standardiser::identity(data.y.ncols())
        };
        let x = x_scaler.apply(&data.x);
        let y = y_scaler.apply(&data.y);
        let kernel = match &self.optimise {
            None => self.kernel.clone(),
            Some(opts) => maximise_marginal_likelihood(&self.kernel, &x, &y, self.jitter, opts)?,
        };
        let k = training_covariance(&kernel, &x, self.jitter);
        let chol = k.cholesky().ok_or_else(|| {
            SurrogateError::Numerical(
                "GP: K + αI is not positive definite (raise the noise or the jitter)".into(),
            )
        })?;
        let weights = chol.solve(&y);
        let l = chol.l();
        let log_marginal_likelihood = log_marginal_likelihood_from(&l, &y, &weights);
        Ok(GpModel {
            kernel,
            jitter: self.jitter,
            x_scaler,
            y_scaler,
            x_train: x,
            chol: l,
            weights,
            log_marginal_likelihood,
        })
    }
}

/// Σ over targets of −½ yᵀα − Σ ln Lᵢᵢ − n/2 ln 2π.
pub fn log_marginal_likelihood_from(
    l: &DMatrix<f64>,
    y: &DMatrix<f64>,
    weights: &DMatrix<f64>,
) -> f64 {
    let n = l.nrows() as f64;
    let log_det_half: f64 = l.diagonal().iter().map(|d| d.ln()).sum();
    let q = y.ncols() as f64;
    let fit: f64 = y.component_mul(weights).sum();
    -0.5 * fit - q * log_det_half - q * 0.5 * n * (2.0 * std::f64::consts::PI).ln()
}

impl Predict for GpModel {
    fn n_features(&self) -> usize {
        self.x_train.ncols()
    }
    fn n_targets(&self) -> usize {
        self.weights.ncols()
    }

    fn predict(&self, x: &DMatrix<f64>) -> Result<Prediction, SurrogateError> {
        self.check_input(x)?;
        let xs = self.x_scaler.apply(x);
        let k_star = self.kernel.cross(&xs, &self.x_train); // m × n
        let mean_scaled = &k_star * &self.weights;
        let mean = self.y_scaler.invert(&mean_scaled);
        let v = self
            .chol
            .solve_lower_triangular(&k_star.transpose())
            .ok_or_else(|| SurrogateError::Numerical("GP: singular Cholesky factor".into()))?;
        let prior = self.kernel.signal_variance + self.kernel.noise_variance;
        let mut std = DMatrix::zeros(x.nrows(), self.n_targets());
        for i in 0..x.nrows() {
            let var = (prior - v.column(i).norm_squared()).max(0.0);
            for j in 0..self.n_targets() {
                std[(i, j)] = var.sqrt() * self.y_scaler.scale[j];
            }
        }
        Ok(Prediction { mean, std })
    }
}

/// Column vector helper for tests and callers with one target.
pub fn column(values: &[f64]) -> DMatrix<f64> {
    DMatrix::from_column_slice(values.len(), 1, values)
}
