//! Column centring and scaling, with scikit-learn's conventions.

use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

/// Per-column mean and scale; `apply` maps x to (x - mean) / scale.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Standardiser {
    #[serde(with = "super::matrix_serde::vector")]
    /// Column means.
    pub mean: DVector<f64>,
    #[serde(with = "super::matrix_serde::vector")]
    /// Column scales (1 for a constant column or without scaling).
    pub scale: DVector<f64>,
}

/// Which standard deviation to divide by.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scaling {
    /// Centre only (scale 1).
    None,
    /// Sample standard deviation, ddof = 1 (sklearn PLS `scale=True`).
    SampleStd,
    /// Population standard deviation, ddof = 0 (sklearn GP `normalise_y`).
    PopulationStd,
}

impl Standardiser {
    /// Fits to the columns of `m`. A constant column gets scale 1, as in
    /// scikit-learn, so it is centred to zero instead of dividing by zero.
    pub fn fit(m: &DMatrix<f64>, scaling: Scaling) -> Standardiser {
        let n = m.nrows() as f64;
        let mut mean = DVector::zeros(m.ncols());
        let mut scale = DVector::from_element(m.ncols(), 1.0);
        for j in 0..m.ncols() {
            let col = m.column(j);
            let mu = col.sum() / n;
            mean[j] = mu;
            let ss: f64 = col.iter().map(|v| (v - mu) * (v - mu)).sum();
            let sd = match scaling {
                Scaling::None => 1.0,
                Scaling::SampleStd => (ss / (n - 1.0)).sqrt(),
                Scaling::PopulationStd => (ss / n).sqrt(),
            };
            scale[j] = if sd == 0.0 || !sd.is_finite() {
                1.0
            } else {
                sd
            };
        }
        Standardiser { mean, scale }
    }

    /// Identity transform for `p` columns.
    pub fn identity(p: usize) -> Standardiser {
        Standardiser {
            mean: DVector::zeros(p),
            scale: DVector::from_element(p, 1.0),
        }
    }

    /// `(m − mean) / scale`, column by column.
    pub fn apply(&self, m: &DMatrix<f64>) -> DMatrix<f64> {
        let mut out = m.clone();
        for j in 0..m.ncols() {
            for i in 0..m.nrows() {
                out[(i, j)] = (m[(i, j)] - self.mean[j]) / self.scale[j];
            }
        }
        out
    }

    /// The inverse of [`apply`](Self::apply): `m · scale + mean`.
    pub fn invert(&self, m: &DMatrix<f64>) -> DMatrix<f64> {
        let mut out = m.clone();
        for j in 0..m.ncols() {
            for i in 0..m.nrows() {
                out[(i, j)] = m[(i, j)] * self.scale[j] + self.mean[j];
            }
        }
        out
    }
}
