//! Neural-network surrogate: an ensemble of small multilayer perceptrons,
//! pure Rust (manual backpropagation, Adam), no native library.
//!
//! Each member: x̃ = standardised features, ỹ = standardised targets,
//!
//! ```text
//! h = tanh(W1 x̃ + b1)            (H hidden units)
//! ỹ_hat = W2 h + b2               (linear output, q targets)
//! loss = ½ mean_rows ‖ỹ_hat − ỹ‖² + ½ λ (‖W1‖² + ‖W2‖²)
//! ```
//!
//! trained full-batch with Adam (β1 0.9, β2 0.999, ε 1e-8) from Glorot-
//! uniform weights drawn by a seeded SplitMix64 (member k uses seed + k).
//! Prediction: the ensemble mean; the standard deviation per target is
//! √(var_ensemble + σ²_res), σ²_res the members' mean training residual
//! variance (a deep-ensemble estimate: spread of the members where data
//! are sparse plus the noise level seen in training). Sources: Kingma & Ba,
//! Adam (2015); Lakshminarayanan et al., deep ensembles (2017); Glorot &
//! Bengio (2010).

use biotwin_core::random::SplitMix64;
use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

use super::standardise::{Scaling, Standardiser};
use super::{Fit, Predict, Prediction, SurrogateError, TrainingSet};

/// Hyperparameters of the ensemble.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NnParams {
    /// Hidden tanh units per network (H).
    pub hidden: usize,
    /// Networks in the ensemble.
    pub members: usize,
    /// Full-batch Adam epochs per network.
    pub epochs: usize,
    /// Adam's learning rate.
    pub learning_rate: f64,
    /// λ, L2 weight decay on the weights (not the biases).
    pub l2: f64,
    /// Seed of the initial weights (member k uses seed + k).
    pub seed: u64,
    /// Where the members train. Not saved: a model is the same artifact
    /// whichever engine fitted it.
    #[serde(skip)]
    pub device: NnDevice,
}

/// The engine that trains the members. Every engine uses the same
/// initial weights, loss and Adam update, so they differ only by
/// floating-point round-off order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum NnDevice {
    /// Pure Rust (this module), no native library.
    #[default]
    Rust,
    /// libtorch through tch on the CPU (cargo feature `torch`).
    TorchCpu,
    /// libtorch through tch on CUDA device 0 (cargo feature `torch`).
    TorchCuda,
}

impl Default for NnParams {
    /// 16 tanh units, 5 members, 3000 epochs, learning rate 0.01, λ 1e-3.
    fn default() -> NnParams {
        NnParams {
            hidden: 16,
            members: 5,
            epochs: 3000,
            learning_rate: 0.01,
            l2: 1e-3,
            seed: 1,
            device: NnDevice::Rust,
        }
    }
}

/// One trained network (weights row-major).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mlp {
    #[serde(with = "super::matrix_serde")]
    /// H × p input weights W1.
    pub w1: DMatrix<f64>,
    #[serde(with = "super::matrix_serde::vector")]
    /// H hidden biases b1.
    pub b1: DVector<f64>,
    #[serde(with = "super::matrix_serde")]
    /// q × H output weights W2.
    pub w2: DMatrix<f64>,
    #[serde(with = "super::matrix_serde::vector")]
    /// q output biases b2.
    pub b2: DVector<f64>,
}

/// A fitted ensemble.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NnModel {
    /// The hyperparameters it was trained with.
    pub params: NnParams,
    /// Standardiser of the features.
    pub x_scaler: Standardiser,
    /// Standardiser of the targets.
    pub y_scaler: Standardiser,
    /// The trained networks.
    pub members: Vec<Mlp>,
    /// Mean training residual variance per target (standardised units).
    pub residual_variance: Vec<f64>,
}

impl Mlp {
    pub(crate) fn init(p: usize, h: usize, q: usize, rng: &mut SplitMix64) -> Mlp {
        let a1 = (6.0 / (p + h) as f64).sqrt();
        let a2 = (6.0 / (h + q) as f64).sqrt();
        Mlp {
            w1: DMatrix::from_fn(h, p, |_, _| a1 * (2.0 * rng.uniform_open() - 1.0)),
            b1: DVector::zeros(h),
            w2: DMatrix::from_fn(q, h, |_, _| a2 * (2.0 * rng.uniform_open() - 1.0)),
            b2: DVector::zeros(q),
        }
    }

    /// Hidden activations (n × H) and outputs (n × q) for rows of `x`.
    pub(crate) fn forward(&self, x: &DMatrix<f64>) -> (DMatrix<f64>, DMatrix<f64>) {
        let mut a = x * self.w1.transpose();
        for mut r in a.row_iter_mut() {
            for (v, b) in r.iter_mut().zip(self.b1.iter()) {
                *v = (*v + b).tanh();
            }
        }
        let mut out = &a * self.w2.transpose();
        for mut r in out.row_iter_mut() {
            for (v, b) in r.iter_mut().zip(self.b2.iter()) {
                *v += b;
            }
        }
        (a, out)
    }

    fn train(&mut self, x: &DMatrix<f64>, y: &DMatrix<f64>, hp: &NnParams) {
        let n = x.nrows() as f64;
        let (b1, b2, eps) = (0.9, 0.999, 1e-8);
        let shapes = [
            (self.w1.nrows(), self.w1.ncols()),
            (self.b1.len(), 1),
            (self.w2.nrows(), self.w2.ncols()),
            (self.b2.len(), 1),
        ];
        let mut m: Vec<DMatrix<f64>> = shapes.iter().map(|&(r, c)| DMatrix::zeros(r, c)).collect();
        let mut v = m.clone();
        for t in 1..=hp.epochs {
            let (h, out) = self.forward(x);
            // d loss / d out = (out − y)/n.
            let d_out = (out - y) / n;
            let g_w2 = d_out.transpose() * &h + &self.w2 * hp.l2;
            let g_b2 = d_out.row_sum().transpose();
            let mut d_h = &d_out * &self.w2;
            d_h.zip_apply(&h, |d, a| *d *= 1.0 - a * a);
            let g_w1 = d_h.transpose() * x + &self.w1 * hp.l2;
            let g_b1 = d_h.row_sum().transpose();
            let grads = [
                g_w1,
                DMatrix::from_column_slice(g_b1.len(), 1, g_b1.as_slice()),
                g_w2,
                DMatrix::from_column_slice(g_b2.len(), 1, g_b2.as_slice()),
            ];
            let (c1, c2) = (1.0 - f64::powi(b1, t as i32), 1.0 - f64::powi(b2, t as i32));
            for (k, g) in grads.iter().enumerate() {
                m[k] = &m[k] * b1 + g * (1.0 - b1);
                v[k] = &v[k] * b2 + g.component_mul(g) * (1.0 - b2);
                let step = m[k].zip_map(&v[k], |mk, vk| {
                    hp.learning_rate * (mk / c1) / ((vk / c2).sqrt() + eps)
                });
                match k {
                    0 => self.w1 -= step,
                    1 => self.b1 -= step.column(0),
                    2 => self.w2 -= step,
                    _ => self.b2 -= step.column(0),
                }
            }
        }
    }
}

impl Fit for NnParams {
    type Model = NnModel;
    fn fit(&self, data: &TrainingSet) -> Result<NnModel, SurrogateError> {
        data.check()?;
        if self.hidden == 0 || self.members == 0 || self.epochs == 0 {
            return Err(SurrogateError::shape(
                "hidden units, members and epochs",
                "each at least 1",
                format!("{}, {}, {}", self.hidden, self.members, self.epochs),
            ));
        }
        if !(self.learning_rate > 0.0 && self.l2 >= 0.0) {
            return Err(SurrogateError::Numerical(
                "learning rate must be positive and the L2 weight non-negative".into(),
            ));
        }
        let x_scaler = Standardiser::fit(&data.x, Scaling::PopulationStd);
        let y_scaler = Standardiser::fit(&data.y, Scaling::PopulationStd);
        let (x, y) = (x_scaler.apply(&data.x), y_scaler.apply(&data.y));
        let (p, q) = (x.ncols(), y.ncols());
        let mut members = Vec::with_capacity(self.members);
        let mut residual_variance = vec![0.0; q];
        for k in 0..self.members {
            let mut rng = SplitMix64::new(self.seed.wrapping_add(k as u64));
            let mut net = Mlp::init(p, self.hidden, q, &mut rng);
            match self.device {
                NnDevice::Rust => net.train(&x, &y, self),
                NnDevice::TorchCpu | NnDevice::TorchCuda => train_torch(&mut net, &x, &y, self)?,
            }
            let (_, out) = net.forward(&x);
            if out.iter().any(|v| !v.is_finite()) {
                return Err(SurrogateError::Numerical(format!(
                    "neural network member {k} diverged (lower the learning rate)"
                )));
            }
            for j in 0..q {
                let r = out.column(j) - y.column(j);
                residual_variance[j] += r.norm_squared() / x.nrows() as f64 / self.members as f64;
            }
            members.push(net);
        }
        Ok(NnModel {
            params: self.clone(),
            x_scaler,
            y_scaler,
            members,
            residual_variance,
        })
    }
}

/// Trains one member with libtorch (feature `torch`).
#[cfg(feature = "torch")]
fn train_torch(
    net: &mut Mlp,
    x: &DMatrix<f64>,
    y: &DMatrix<f64>,
    hp: &NnParams,
) -> Result<(), SurrogateError> {
    super::nn_torch::train_member(net, x, y, hp, hp.device == NnDevice::TorchCuda)
}

/// Without feature `torch` the libtorch engines do not exist in this build.
#[cfg(not(feature = "torch"))]
fn train_torch(
    _: &mut Mlp,
    _: &DMatrix<f64>,
    _: &DMatrix<f64>,
    _: &NnParams,
) -> Result<(), SurrogateError> {
    Err(SurrogateError::Numerical(
        "this build has no libtorch engine (rebuild with `--features torch`)".into(),
    ))
}

impl Predict for NnModel {
    fn n_features(&self) -> usize {
        self.x_scaler.mean.len()
    }
    fn n_targets(&self) -> usize {
        self.y_scaler.mean.len()
    }
    fn predict(&self, x: &DMatrix<f64>) -> Result<Prediction, SurrogateError> {
        self.check_input(x)?;
        if self.members.is_empty() {
            return Err(SurrogateError::shape("ensemble members", "at least 1", 0));
        }
        let xs = self.x_scaler.apply(x);
        let (n, q) = (x.nrows(), self.n_targets());
        let outs: Vec<DMatrix<f64>> = self.members.iter().map(|m| m.forward(&xs).1).collect();
        let k = outs.len() as f64;
        let mut mean = DMatrix::zeros(n, q);
        for o in &outs {
            mean += o;
        }
        mean /= k;
        let mut std = DMatrix::zeros(n, q);
        for i in 0..n {
            for j in 0..q {
                let var = outs
                    .iter()
                    .map(|o| (o[(i, j)] - mean[(i, j)]).powi(2))
                    .sum::<f64>()
                    / k;
                std[(i, j)] = (var + self.residual_variance[j]).sqrt() * self.y_scaler.scale[j];
            }
        }
        Ok(Prediction {
            mean: self.y_scaler.invert(&mean),
            std,
        })
    }
}
