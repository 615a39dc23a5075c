//! linfa models as biotwin surrogates: elastic net (`linfa-elasticnet`) and
//! ε-support-vector regression (`linfa-svm`), behind the same
//! [`Fit`]/[`Predict`] pair and preprocessing as PLS and the GP.
//!
//! Both linfa models are single-output, so a fitted model holds **one linfa
//! model per target (CQA)**, each fitted on the same standardised features
//! and its own standardised target: x̃ = (x − x̄)/s_x, ỹ = (y − ȳ)/s_y with
//! sample standard deviations ([`Scaling::SampleStd`], as PLS with `scale`).
//! The data reach linfa as ndarray views of the nalgebra matrices
//! ([`ndarray_bridge`](super::ndarray_bridge)); the fitted linfa objects are
//! stored in the artifact with linfa's own serde form and predict when the
//! artifact is served.
//!
//! **Elastic net** (Zou & Hastie, J. R. Stat. Soc. B 67 (2005) 301), per
//! target, by linfa's cyclic coordinate descent with a duality-gap stop
//! (Friedman, Hastie & Tibshirani, J. Stat. Softw. 33 (2010) 1):
//!
//! min_w,b 1/(2n) ‖ỹ − X̃w − b‖² + α ρ ‖w‖₁ + α (1 − ρ)/2 ‖w‖²
//!
//! (α `penalty`, ρ `l1_ratio`; ρ = 1 lasso, ρ = 0 ridge). Prediction
//! ŷ = ȳ + s_y (x̃ᵀw + b). Uncertainty: std = s √(1 + 1/n), s² = SSE/(n − d − 1)
//! over the training residuals, d the number of non-zero coefficients (the
//! lasso's degrees of freedom, Zou, Hastie & Tibshirani, Ann. Stat. 35
//! (2007) 2173; an over-count for the elastic net, so s errs high).
//!
//! **ε-SVR** (Vapnik 1995; Smola & Schölkopf, Stat. Comput. 14 (2004) 199),
//! per target, solved by linfa's SMO:
//!
//! min ½‖w‖² + C Σᵢ (ξᵢ + ξᵢ*) s.t. |ỹᵢ − ⟨w, φ(x̃ᵢ)⟩ − b| ≤ ε + ξᵢ(*),
//!
//! f(x̃) = Σᵢ (αᵢ − αᵢ*) k(x̃ᵢ, x̃) + b with the Gaussian kernel
//! k(x, x') = exp(−‖x − x'‖²/γ) (linfa's width γ; the default γ = p is
//! scikit-learn's `gamma="scale"` on standardised features, 1/(p·Var x̃)) or
//! the linear kernel ⟨x, x'⟩. ε is in units of the target's standard
//! deviation. Uncertainty: std = s √(1 + 1/n), s² = SSE/(n − 1) of the
//! training residuals: in-sample, so optimistic for a flexible kernel; the
//! leave-batch-out metrics of `train` are the honest error.

use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

use linfa::ParamGuard;
use linfa::dataset::DatasetBase;
use linfa::prelude::{Fit as LinfaFit, Predict as LinfaPredict};

use super::ndarray_bridge::view;
use super::standardise::{Scaling, Standardiser};
use super::{Fit, Predict, Prediction, SurrogateError, TrainingSet};

/// A hyper-parameter out of range: `field` is its name in the artifact
/// (`train` maps it to the command-line flag).
fn bad(field: &str, expected: &str, found: impl ToString) -> SurrogateError {
    SurrogateError::shape(field, expected, found)
}

/// Standardises the training set; refuses one too small to standardise.
fn scaled(
    data: &TrainingSet,
) -> Result<(Standardiser, Standardiser, DMatrix<f64>, DMatrix<f64>), SurrogateError> {
    data.check()?;
    if data.x.nrows() < 3 {
        return Err(SurrogateError::shape(
            "training rows",
            "at least 3",
            data.x.nrows(),
        ));
    }
    let xs = Standardiser::fit(&data.x, Scaling::SampleStd);
    let ys = Standardiser::fit(&data.y, Scaling::SampleStd);
    let x = xs.apply(&data.x);
    let y = ys.apply(&data.y);
    Ok((xs, ys, x, y))
}

/// s·√(1 + 1/n) per target from the training residuals and `dof[j]`.
fn residual_std(y: &DMatrix<f64>, fitted: &DMatrix<f64>, dof: &[usize]) -> DVector<f64> {
    let n = y.nrows();
    DVector::from_fn(y.ncols(), |j, _| {
        let sse: f64 = (0..n).map(|i| (y[(i, j)] - fitted[(i, j)]).powi(2)).sum();
        let d = if dof[j] > 0 { dof[j] } else { n } as f64;
        (sse / d).sqrt() * (1.0 + 1.0 / n as f64).sqrt()
    })
}

/// linfa-elasticnet keeps the coefficients' sampling variances (from
/// (X̃ᵀX̃)⁻¹) in its model; with nearly collinear features they can be
/// non-finite, which JSON cannot hold (serde_json writes `null`, and the
/// artifact would not load). biotwin does not use them, so such a model
/// keeps linfa's own "ill-conditioned" marker instead of the numbers.
fn storable(
    m: linfa_elasticnet::ElasticNet<f64>,
) -> Result<linfa_elasticnet::ElasticNet<f64>, SurrogateError> {
    let mut v = serde_json::to_value(&m)
        .map_err(|e| SurrogateError::Numerical(format!("elastic net: {e}")))?;
    let finite = v["variance"]["Ok"]["data"]
        .as_array()
        .is_none_or(|d| d.iter().all(|x| x.as_f64().is_some_and(f64::is_finite)));
    if finite {
        return Ok(m);
    }
    v["variance"] = serde_json::json!({ "Err": "IllConditioned" });
    serde_json::from_value(v).map_err(|e| SurrogateError::Numerical(format!("elastic net: {e}")))
}

/// Refuses a fitted model that would not survive its own artifact (a
/// non-finite number inside the linfa object).
fn check_storable<T: Serialize + serde::de::DeserializeOwned>(
    m: &T,
    what: &str,
) -> Result<(), SurrogateError> {
    let v =
        serde_json::to_value(m).map_err(|e| SurrogateError::Numerical(format!("{what}: {e}")))?;
    serde_json::from_value::<T>(v).map(|_| ()).map_err(|e| {
        SurrogateError::Numerical(format!(
            "{what}: the fitted model holds a non-finite number and cannot be saved ({e})"
        ))
    })
}

/// Turns per-target standardised predictions into a [`Prediction`].
fn unscale(ys: &Standardiser, z: DMatrix<f64>, residual_std: &DVector<f64>) -> Prediction {
    let mean = ys.invert(&z);
    let std = DMatrix::from_fn(z.nrows(), z.ncols(), |_, j| residual_std[j]);
    Prediction { mean, std }
}

// ---------------------------------------------------------------------------
// Elastic net

/// Elastic-net hyper-parameters (objective in the module docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ElasticNetParams {
    /// α ≥ 0, the overall penalty on standardised data.
    pub penalty: f64,
    /// ρ in [0, 1]: the lasso share of the penalty.
    pub l1_ratio: f64,
    /// Coordinate-descent sweeps at most (≥ 1).
    pub max_iterations: u32,
    /// Relative stopping tolerance on the coefficient change and duality gap.
    pub tolerance: f64,
}

impl Default for ElasticNetParams {
    /// α = 0.1, ρ = 0.5, 1000 sweeps, tolerance 1e-4 (linfa's and
    /// scikit-learn's defaults, except α: their α = 1 on standardised data
    /// zeroes every coefficient whose correlation with the target is below
    /// 0.5). Chosen before any CHO result was seen, not tuned.
    fn default() -> ElasticNetParams {
        ElasticNetParams {
            penalty: 0.1,
            l1_ratio: 0.5,
            max_iterations: 1000,
            tolerance: 1e-4,
        }
    }
}

impl ElasticNetParams {
    /// Refuses an out-of-range hyper-parameter, naming it.
    pub fn check(&self) -> Result<(), SurrogateError> {
        if !(self.penalty.is_finite() && self.penalty >= 0.0) {
            return Err(bad("penalty", "a finite number >= 0", self.penalty));
        }
        if !(0.0..=1.0).contains(&self.l1_ratio) {
            return Err(bad("l1_ratio", "a number in [0, 1]", self.l1_ratio));
        }
        if self.max_iterations == 0 {
            return Err(bad("max_iterations", "at least 1", 0));
        }
        if !(self.tolerance.is_finite() && self.tolerance > 0.0) {
            return Err(bad("tolerance", "a finite number > 0", self.tolerance));
        }
        Ok(())
    }
}

/// A fitted elastic net: one linfa model per target.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ElasticNetModel {
    /// The hyperparameters it was fitted with.
    pub params: ElasticNetParams,
    /// Standardiser of the features.
    pub x_scaler: Standardiser,
    /// Standardiser of the targets.
    pub y_scaler: Standardiser,
    /// linfa-elasticnet 0.8 models on standardised data, one per target.
    pub models: Vec<linfa_elasticnet::ElasticNet<f64>>,
    /// Predictive standard deviation of each target (original units).
    #[serde(with = "super::matrix_serde::vector")]
    pub residual_std: DVector<f64>,
    /// Training rows.
    pub n_train: usize,
}

impl PartialEq for ElasticNetModel {
    /// Equal hyper-parameters, scalers, coefficients and intercepts (linfa's
    /// model has no `PartialEq`).
    fn eq(&self, o: &ElasticNetModel) -> bool {
        self.params == o.params
            && self.x_scaler == o.x_scaler
            && self.y_scaler == o.y_scaler
            && self.residual_std == o.residual_std
            && self.n_train == o.n_train
            && self.models.len() == o.models.len()
            && self
                .models
                .iter()
                .zip(&o.models)
                .all(|(a, b)| a.hyperplane() == b.hyperplane() && a.intercept() == b.intercept())
    }
}

impl ElasticNetModel {
    /// The coefficients on standardised features, q × p (zeros: features
    /// the lasso part dropped).
    pub fn coefficients(&self) -> DMatrix<f64> {
        let p = self.x_scaler.mean.len();
        DMatrix::from_fn(self.models.len(), p, |j, k| self.models[j].hyperplane()[k])
    }

    fn predict_scaled(&self, xs: &DMatrix<f64>) -> DMatrix<f64> {
        let xv = view(xs);
        let mut z = DMatrix::zeros(xs.nrows(), self.models.len());
        for (j, m) in self.models.iter().enumerate() {
            let col = m.predict(&xv);
            for (i, v) in col.iter().enumerate() {
                z[(i, j)] = *v;
            }
        }
        z
    }
}

impl Fit for ElasticNetParams {
    type Model = ElasticNetModel;

    fn fit(&self, data: &TrainingSet) -> Result<ElasticNetModel, SurrogateError> {
        self.check()?;
        let (x_scaler, y_scaler, x, y) = scaled(data)?;
        let params = linfa_elasticnet::ElasticNet::<f64>::params()
            .penalty(self.penalty)
            .l1_ratio(self.l1_ratio)
            .max_iterations(self.max_iterations)
            .tolerance(self.tolerance)
            .check()
            .map_err(|e| SurrogateError::Numerical(format!("elastic net: {e}")))?;
        let yv = view(&y);
        let mut models = Vec::with_capacity(y.ncols());
        for j in 0..y.ncols() {
            let ds = DatasetBase::new(view(&x), yv.column(j));
            let m = params
                .fit(&ds)
                .map_err(|e| SurrogateError::Numerical(format!("elastic net: {e}")))?;
            if m.hyperplane().iter().any(|v| !v.is_finite()) || !m.intercept().is_finite() {
                return Err(SurrogateError::Numerical(format!(
                    "elastic net: non-finite coefficients for target `{}`",
                    data.target_names.get(j).map_or("?", |s| s.as_str())
                )));
            }
            models.push(storable(m)?);
        }
        let n = data.x.nrows();
        let mut model = ElasticNetModel {
            params: self.clone(),
            x_scaler,
            y_scaler,
            models,
            residual_std: DVector::zeros(y.ncols()),
            n_train: n,
        };
        let fitted = model.y_scaler.invert(&model.predict_scaled(&x));
        let dof: Vec<usize> = model
            .models
            .iter()
            .map(|m| {
                let d = m.hyperplane().iter().filter(|v| **v != 0.0).count();
                n.saturating_sub(d + 1)
            })
            .collect();
        model.residual_std = residual_std(&data.y, &fitted, &dof);
        check_storable(&model, "elastic net")?;
        Ok(model)
    }
}

impl Predict for ElasticNetModel {
    fn n_features(&self) -> usize {
        self.x_scaler.mean.len()
    }
    fn n_targets(&self) -> usize {
        self.models.len()
    }
    fn predict(&self, x: &DMatrix<f64>) -> Result<Prediction, SurrogateError> {
        self.check_input(x)?;
        let z = self.predict_scaled(&self.x_scaler.apply(x));
        Ok(unscale(&self.y_scaler, z, &self.residual_std))
    }
}

// ---------------------------------------------------------------------------
// Support-vector regression

/// The kernel of an SVR.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SvrKernel {
    /// exp(−‖x − x'‖²/γ) on standardised features.
    Gaussian {
        /// The width γ; `None`: p, the number of features.
        width: Option<f64>,
    },
    /// ⟨x, x'⟩.
    Linear,
}

/// ε-SVR hyper-parameters (objective in the module docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SvrParams {
    /// C > 0, the weight of the ε-insensitive loss.
    pub c: f64,
    /// ε ≥ 0, the half-width of the insensitive tube (target standard
    /// deviations).
    pub epsilon: f64,
    /// Kernel of the SVR.
    pub kernel: SvrKernel,
    /// SMO stopping tolerance on the maximal violating pair (> 0).
    pub tolerance: f64,
}

impl Default for SvrParams {
    /// scikit-learn's `SVR()` defaults: C = 1, ε = 0.1, Gaussian kernel with
    /// γ = p (`gamma="scale"` on standardised features), tolerance 1e-3.
    /// Not tuned on the CHO data.
    fn default() -> SvrParams {
        SvrParams {
            c: 1.0,
            epsilon: 0.1,
            kernel: SvrKernel::Gaussian { width: None },
            tolerance: 1e-3,
        }
    }
}

impl SvrParams {
    /// Refuses an out-of-range hyper-parameter, naming it.
    pub fn check(&self) -> Result<(), SurrogateError> {
        if !(self.c.is_finite() && self.c > 0.0) {
            return Err(bad("c", "a finite number > 0", self.c));
        }
        if !(self.epsilon.is_finite() && self.epsilon >= 0.0) {
            return Err(bad("epsilon", "a finite number >= 0", self.epsilon));
        }
        if let SvrKernel::Gaussian { width: Some(w) } = self.kernel
            && !(w.is_finite() && w > 0.0)
        {
            return Err(bad("kernel_width", "a finite number > 0", w));
        }
        if !(self.tolerance.is_finite() && self.tolerance > 0.0) {
            return Err(bad("tolerance", "a finite number > 0", self.tolerance));
        }
        Ok(())
    }
}

/// A fitted SVR: one linfa model per target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SvrModel {
    /// The hyperparameters it was fitted with.
    pub params: SvrParams,
    /// The Gaussian width used (γ = p when not given); `None`: linear.
    pub kernel_width: Option<f64>,
    /// Standardiser of the features.
    pub x_scaler: Standardiser,
    /// Standardiser of the targets.
    pub y_scaler: Standardiser,
    /// linfa-svm 0.8 models on standardised data, one per target.
    pub models: Vec<linfa_svm::Svm<f64, f64>>,
    #[serde(with = "super::matrix_serde::vector")]
    /// Predictive standard deviation of each target (original units): the
    /// training residual SD inflated by √(1 + 1/n).
    pub residual_std: DVector<f64>,
    /// Training rows.
    pub n_train: usize,
}

impl SvrModel {
    fn predict_scaled(&self, xs: &DMatrix<f64>) -> DMatrix<f64> {
        let xv = view(xs);
        let mut z = DMatrix::zeros(xs.nrows(), self.models.len());
        for (j, m) in self.models.iter().enumerate() {
            let col: ndarray::Array1<f64> = m.predict(&xv);
            for (i, v) in col.iter().enumerate() {
                z[(i, j)] = *v;
            }
        }
        z
    }

    /// Number of support vectors of each target's model.
    pub fn n_support(&self) -> Vec<usize> {
        self.models.iter().map(|m| m.nsupport()).collect()
    }
}

impl Fit for SvrParams {
    type Model = SvrModel;

    fn fit(&self, data: &TrainingSet) -> Result<SvrModel, SurrogateError> {
        self.check()?;
        let (x_scaler, y_scaler, x, y) = scaled(data)?;
        let base = linfa_svm::Svm::<f64, f64>::params()
            .c_svr(self.c, Some(self.epsilon))
            .eps(self.tolerance);
        let (base, kernel_width) = match self.kernel {
            SvrKernel::Gaussian { width } => {
                let w = width.unwrap_or(x.ncols().max(1) as f64);
                (base.gaussian_kernel(w), Some(w))
            }
            SvrKernel::Linear => (base.linear_kernel(), None),
        };
        let params = base
            .check()
            .map_err(|e| SurrogateError::Numerical(format!("SVR: {e}")))?;
        let yv = view(&y);
        let mut models = Vec::with_capacity(y.ncols());
        for j in 0..y.ncols() {
            // A column of the column-major y is one contiguous slice, as
            // linfa's SVR needs its targets.
            let ds = DatasetBase::new(view(&x), yv.column(j));
            let m = params
                .fit(&ds)
                .map_err(|e| SurrogateError::Numerical(format!("SVR: {e}")))?;
            if !m.rho.is_finite() || m.alpha.iter().any(|a| !a.is_finite()) {
                return Err(SurrogateError::Numerical(format!(
                    "SVR: non-finite solution for target `{}`",
                    data.target_names.get(j).map_or("?", |s| s.as_str())
                )));
            }
            models.push(m);
        }
        let n = data.x.nrows();
        let mut model = SvrModel {
            params: self.clone(),
            kernel_width,
            x_scaler,
            y_scaler,
            models,
            residual_std: DVector::zeros(y.ncols()),
            n_train: n,
        };
        let fitted = model.y_scaler.invert(&model.predict_scaled(&x));
        model.residual_std = residual_std(&data.y, &fitted, &vec![n - 1; y.ncols()]);
        check_storable(&model, "SVR")?;
        Ok(model)
    }
}

impl Predict for SvrModel {
    fn n_features(&self) -> usize {
        self.x_scaler.mean.len()
    }
    fn n_targets(&self) -> usize {
        self.models.len()
    }
    fn predict(&self, x: &DMatrix<f64>) -> Result<Prediction, SurrogateError> {
        self.check_input(x)?;
        let z = self.predict_scaled(&self.x_scaler.apply(x));
        Ok(unscale(&self.y_scaler, z, &self.residual_std))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two identical features and n = p + 1 rows: linfa's coefficient
    /// variances are then degenerate, yet the model fits, predicts finite
    /// values and survives its JSON form unchanged.
    #[test]
    fn collinear_features_still_give_a_storable_elastic_net() {
        for n in [3, 8] {
            let x = DMatrix::from_fn(n, 2, |i, _| i as f64);
            let y = DMatrix::from_fn(n, 1, |i, _| 2.0 * i as f64 + 1.0);
            let m = ElasticNetParams::default()
                .fit(&TrainingSet::from_matrices(x.clone(), y))
                .unwrap();
            let p = m.predict(&x).unwrap();
            assert!(p.mean.iter().chain(p.std.iter()).all(|v| v.is_finite()));
            let text = serde_json::to_string(&m).unwrap();
            let back: ElasticNetModel = serde_json::from_str(&text).unwrap();
            assert_eq!(back, m);
            assert_eq!(back.predict(&x).unwrap(), p);
        }
    }

    #[test]
    fn svr_refuses_a_non_positive_c_and_fits_a_line() {
        let bad = SvrParams {
            c: 0.0,
            ..Default::default()
        };
        assert!(matches!(bad.check(), Err(SurrogateError::Shape { what, .. }) if what == "c"));
        let x = DMatrix::from_fn(20, 1, |i, _| i as f64);
        let y = DMatrix::from_fn(20, 1, |i, _| 3.0 * i as f64);
        let m = SvrParams {
            kernel: SvrKernel::Linear,
            c: 10.0,
            epsilon: 0.01,
            ..Default::default()
        }
        .fit(&TrainingSet::from_matrices(x, y))
        .unwrap();
        let p = m.predict(&DMatrix::from_element(1, 1, 10.5)).unwrap();
        // Within the ε-tube (0.01 target SDs ≈ 0.18) of 31.5.
        assert!((p.mean[(0, 0)] - 31.5).abs() < 0.3, "{}", p.mean[(0, 0)]);
    }
}
