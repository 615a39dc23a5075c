//! Partial least squares regression (PLS2, NIPALS), numerically the same
//! algorithm as scikit-learn's `PLSRegression` (1.9, `algorithm="nipals"`).
//!
//! With X (n × p) and Y (n × q) centred and, when `scale`, divided by their
//! sample standard deviations, each component k:
//! 1. power iteration for the first singular vectors of Xₖᵀ Yₖ: start from the
//!    first non-zero column u of Yₖ; w = Xₖᵀu / uᵀu, w ← w / (‖w‖ + ε),
//!    t = Xₖw, c = Yₖᵀt / tᵀt, u = Yₖc / (cᵀc + ε), until ‖w − w_old‖² < tol
//!    (one pass when q = 1);
//! 2. sign fixed so that w's largest-magnitude entry is positive;
//! 3. scores t = Xₖw, loadings p = Xₖᵀt / tᵀt, q = Yₖᵀt / tᵀt;
//! 4. deflation Xₖ₊₁ = Xₖ − t pᵀ, Yₖ₊₁ = Yₖ − t qᵀ (regression mode).
//!
//! Rotations R = W (PᵀW)⁺, coefficients B = R Qᵀ rescaled to original units,
//! prediction ŷ = (x − x̄) B + ȳ (Wold et al., Chemometr. Intell. Lab. 58
//! (2001) 109; Wegelin, Tech. Rep. 371, U. Washington, 2000).
//!
//! Uncertainty (not in scikit-learn): the standard deviation of a new
//! observation is s·√(1 + 1/n + t₀ᵀ(TᵀT)⁻¹t₀), s² = SSE/(n − A − 1) the
//! residual variance of each target and t₀ the new sample's scores: the
//! ordinary-least-squares prediction variance in score space, the usual
//! approximation for PLS (Faber & Kowalski, J. Chemometrics 11 (1997) 181).

use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

use super::standardise::{Scaling, Standardiser};
use super::{Fit, Predict, Prediction, SurrogateError, TrainingSet};

/// PLS hyperparameters (scikit-learn's defaults apart from the components).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlsParams {
    /// Number of latent components A, 1 ≤ A ≤ min(features, samples − 1).
    pub n_components: usize,
    /// Divide X and Y columns by their sample standard deviations.
    pub scale: bool,
    /// Most power iterations per component.
    pub max_iter: usize,
    /// Convergence tolerance of the power iteration, on ‖w − w_old‖².
    pub tol: f64,
}

impl PlsParams {
    /// `n_components` components, scaled, 500 iterations, tolerance 1e-6
    /// (scikit-learn's defaults).
    pub fn new(n_components: usize) -> PlsParams {
        PlsParams {
            n_components,
            scale: true,
            max_iter: 500,
            tol: 1e-6,
        }
    }
}

/// A fitted PLS model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlsModel {
    /// The hyperparameters it was fitted with (`n_components`: the components
    /// actually used).
    pub params: PlsParams,
    /// Standardiser of X (sample SD when `scale`, else centring only).
    pub x_scaler: Standardiser,
    /// Standardiser of Y (same).
    pub y_scaler: Standardiser,
    /// p × A weights W.
    #[serde(with = "super::matrix_serde")]
    pub x_weights: DMatrix<f64>,
    /// p × A X loadings P.
    #[serde(with = "super::matrix_serde")]
    pub x_loadings: DMatrix<f64>,
    /// q × A Y loadings Q.
    #[serde(with = "super::matrix_serde")]
    pub y_loadings: DMatrix<f64>,
    /// p × A rotations R = W (PᵀW)⁺: scaled X to scores.
    #[serde(with = "super::matrix_serde")]
    pub x_rotations: DMatrix<f64>,
    /// q × p coefficients in original units (scikit-learn's `coef_`).
    #[serde(with = "super::matrix_serde")]
    pub coef: DMatrix<f64>,
    /// q intercepts (ȳ, scikit-learn's `intercept_`).
    #[serde(with = "super::matrix_serde::vector")]
    pub intercept: DVector<f64>,
    /// A × A (TᵀT)⁻¹ of the training scores, for the leverage.
    #[serde(with = "super::matrix_serde")]
    pub score_cov_inv: DMatrix<f64>,
    /// Residual standard deviation of each target on the training data.
    #[serde(with = "super::matrix_serde::vector")]
    pub residual_std: DVector<f64>,
    /// Training rows (for the prediction interval's 1/n term).
    pub n_train: usize,
}

/// First singular vectors of XᵀY by power iteration, as scikit-learn does.
fn first_singular_vectors(
    x: &DMatrix<f64>,
    y: &DMatrix<f64>,
    max_iter: usize,
    tol: f64,
) -> Option<(DVector<f64>, DVector<f64>)> {
    let eps = f64::EPSILON;
    let first = (0..y.ncols()).find(|&j| y.column(j).iter().any(|v| v.abs() > eps))?;
    let mut y_score: DVector<f64> = y.column(first).into_owned();
    let mut w_old: Option<DVector<f64>> = None;
    let mut w = DVector::zeros(x.ncols());
    let mut c = DVector::zeros(y.ncols());
    for _ in 0..max_iter {
        w = x.tr_mul(&y_score) / y_score.dot(&y_score);
        w /= w.dot(&w).sqrt() + eps;
        let t = x * &w;
        c = y.tr_mul(&t) / t.dot(&t);
        y_score = (y * &c) / (c.dot(&c) + eps);
        // scikit-learn starts w_old at 100 (a scalar broadcast).
        let diff = match &w_old {
            Some(o) => (&w - o).norm_squared(),
            None => w.iter().map(|v| (v - 100.0).powi(2)).sum(),
        };
        if diff < tol || y.ncols() == 1 {
            break;
        }
        w_old = Some(w.clone());
    }
    Some((w, c))
}

impl Fit for PlsParams {
    type Model = PlsModel;

    fn fit(&self, data: &TrainingSet) -> Result<PlsModel, SurrogateError> {
        data.check()?;
        let (n, p, q) = (data.x.nrows(), data.x.ncols(), data.y.ncols());
        let a = self.n_components;
        if a == 0 || a > p.min(n.saturating_sub(1)) {
            return Err(SurrogateError::shape(
                "PLS components",
                format!(
                    "1..={} (min of features and samples - 1)",
                    p.min(n.saturating_sub(1))
                ),
                a,
            ));
        }
        let scaling = if self.scale {
            Scaling::SampleStd
        } else {
            Scaling::None
        };
        let x_scaler = Standardiser::fit(&data.x, scaling);
        let y_scaler = Standardiser::fit(&data.y, scaling);
        let mut xk = x_scaler.apply(&data.x);
        let mut yk = y_scaler.apply(&data.y);
        let x_scaled = xk.clone();
        let mut w_all = DMatrix::zeros(p, a);
        let mut p_all = DMatrix::zeros(p, a);
        let mut q_all = DMatrix::zeros(q, a);
        let mut t_all = DMatrix::zeros(n, a);
        let mut used = a;
        for k in 0..a {
            // Targets already explained to rounding are set to exactly zero.
            for j in 0..q {
                if yk.column(j).iter().all(|v| v.abs() < 10.0 * f64::EPSILON) {
                    yk.column_mut(j).fill(0.0);
                }
            }
            let Some((mut w, mut c)) = first_singular_vectors(&xk, &yk, self.max_iter, self.tol)
            else {
                used = k; // Y fully explained: no further component exists.
                break;
            };
            let imax = w.iamax();
            let sign = w[imax].signum();
            w *= sign;
            c *= sign;
            let t = &xk * &w;
            let tt = t.dot(&t);
            let pk = xk.tr_mul(&t) / tt;
            let qk = yk.tr_mul(&t) / tt;
            xk -= &t * pk.transpose();
            yk -= &t * qk.transpose();
            w_all.set_column(k, &w);
            p_all.set_column(k, &pk);
            q_all.set_column(k, &qk);
            t_all.set_column(k, &t);
        }
        if used == 0 {
            return Err(SurrogateError::Numerical(
                "PLS: the targets are constant".into(),
            ));
        }
        let w_all = w_all.columns(0, used).into_owned();
        let p_all = p_all.columns(0, used).into_owned();
        let q_all = q_all.columns(0, used).into_owned();
        let ptw = p_all.tr_mul(&w_all);
        let ptw_pinv = ptw
            .pseudo_inverse(1e-15)
            .map_err(|e| SurrogateError::Numerical(format!("PLS: (PᵀW)⁺ failed: {e}")))?;
        let x_rotations = &w_all * ptw_pinv;
        // coef_ = (R Qᵀ · y_std)ᵀ / x_std, as scikit-learn.
        let mut coef = (&x_rotations * q_all.transpose()).transpose();
        for i in 0..q {
            for j in 0..p {
                coef[(i, j)] *= y_scaler.scale[i] / x_scaler.scale[j];
            }
        }
        let scores = &x_scaled * &x_rotations;
        let score_cov_inv = scores
            .tr_mul(&scores)
            .pseudo_inverse(1e-12)
            .map_err(|e| SurrogateError::Numerical(format!("PLS: (TᵀT)⁻¹ failed: {e}")))?;
        let mut model = PlsModel {
            params: PlsParams {
                n_components: used,
                ..self.clone()
            },
            intercept: y_scaler.mean.clone(),
            x_scaler,
            y_scaler,
            x_weights: w_all,
            x_loadings: p_all,
            y_loadings: q_all,
            x_rotations,
            coef,
            score_cov_inv,
            residual_std: DVector::zeros(q),
            n_train: n,
        };
        let fitted = model.predict_mean(&data.x);
        let dof = if n > used + 1 { n - used - 1 } else { n } as f64;
        for j in 0..q {
            let sse: f64 = (0..n)
                .map(|i| (data.y[(i, j)] - fitted[(i, j)]).powi(2))
                .sum();
            model.residual_std[j] = (sse / dof).sqrt();
        }
        Ok(model)
    }
}

impl PlsModel {
    /// ŷ = (x − x̄) B ᵀ + ȳ.
    pub fn predict_mean(&self, x: &DMatrix<f64>) -> DMatrix<f64> {
        let mut centred = x.clone();
        for j in 0..x.ncols() {
            for i in 0..x.nrows() {
                centred[(i, j)] -= self.x_scaler.mean[j];
            }
        }
        let mut y = centred * self.coef.transpose();
        for j in 0..y.ncols() {
            for i in 0..y.nrows() {
                y[(i, j)] += self.intercept[j];
            }
        }
        y
    }

    /// Scores T = ((x − x̄) / s_x) R.
    pub fn transform(&self, x: &DMatrix<f64>) -> DMatrix<f64> {
        self.x_scaler.apply(x) * &self.x_rotations
    }
}

impl Predict for PlsModel {
    fn n_features(&self) -> usize {
        self.coef.ncols()
    }
    fn n_targets(&self) -> usize {
        self.coef.nrows()
    }

    fn predict(&self, x: &DMatrix<f64>) -> Result<Prediction, SurrogateError> {
        self.check_input(x)?;
        let mean = self.predict_mean(x);
        let scores = self.transform(x);
        let mut std = DMatrix::zeros(x.nrows(), self.n_targets());
        for i in 0..x.nrows() {
            let t = scores.row(i).transpose();
            let leverage = (t.transpose() * &self.score_cov_inv * &t)[(0, 0)];
            let factor = (1.0 + 1.0 / self.n_train as f64 + leverage).sqrt();
            for j in 0..self.n_targets() {
                std[(i, j)] = self.residual_std[j] * factor;
            }
        }
        Ok(Prediction { mean, std })
    }
}
