//! Error measures of predictions against observed values, per target.
//!
//! RMSE = √(mean (ŷ − y)²); MAPE = 100 · mean |ŷ − y| / |y| (%); R² = 1 −
//! Σ(ŷ − y)² / Σ(y − ȳ)²; coverage = fraction of y inside ŷ ± z·σ.

use std::collections::BTreeMap;

use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

use super::Prediction;

/// Metrics of one target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metrics {
    /// Number of observations compared.
    pub n: usize,
    /// Root mean squared error, in the target's unit.
    pub rmse: f64,
    /// Percent; `None` when an observed value is zero.
    pub mape_percent: Option<f64>,
    /// `None` when the observed values are constant.
    pub r2: Option<f64>,
    /// Fraction of observations inside mean ± 1.96 std.
    pub coverage_95: f64,
}

/// z of a two-sided 95 % normal interval.
pub const Z_95: f64 = 1.959_963_984_540_054;

/// Metrics of column `j` of `pred` against column `j` of `observed`.
pub fn metrics(pred: &Prediction, observed: &DMatrix<f64>, j: usize) -> Metrics {
    let n = observed.nrows();
    let y: Vec<f64> = observed.column(j).iter().copied().collect();
    let m: Vec<f64> = pred.mean.column(j).iter().copied().collect();
    let s: Vec<f64> = pred.std.column(j).iter().copied().collect();
    let sse: f64 = y.iter().zip(&m).map(|(a, b)| (a - b).powi(2)).sum();
    let rmse = (sse / n as f64).sqrt();
    let mape_percent = if y.contains(&0.0) {
        None
    } else {
        Some(
            100.0
                * y.iter()
                    .zip(&m)
                    .map(|(a, b)| ((b - a) / a).abs())
                    .sum::<f64>()
                / n as f64,
        )
    };
    let mean_y = y.iter().sum::<f64>() / n as f64;
    let sst: f64 = y.iter().map(|v| (v - mean_y).powi(2)).sum();
    let r2 = if sst > 0.0 {
        Some(1.0 - sse / sst)
    } else {
        None
    };
    let inside = (0..n)
        .filter(|&i| (y[i] - m[i]).abs() <= Z_95 * s[i])
        .count();
    Metrics {
        n,
        rmse,
        mape_percent,
        r2,
        coverage_95: inside as f64 / n as f64,
    }
}

/// Metrics of every target, by target name.
pub fn metrics_by_target(
    pred: &Prediction,
    observed: &DMatrix<f64>,
    names: &[String],
) -> BTreeMap<String, Metrics> {
    names
        .iter()
        .enumerate()
        .map(|(j, name)| (name.clone(), metrics(pred, observed, j)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_values() {
        let observed = DMatrix::from_column_slice(4, 1, &[1.0, 2.0, 4.0, 5.0]);
        let pred = Prediction {
            mean: DMatrix::from_column_slice(4, 1, &[1.5, 2.0, 3.0, 5.0]),
            std: DMatrix::from_column_slice(4, 1, &[1.0, 1.0, 0.1, 1.0]),
        };
        let m = metrics(&pred, &observed, 0);
        assert!((m.rmse - (1.25f64 / 4.0).sqrt()).abs() < 1e-12);
        assert!((m.mape_percent.unwrap() - 100.0 * (0.5 + 0.25) / 4.0).abs() < 1e-12);
        // ȳ = 3, SST = 4 + 1 + 1 + 4 = 10, SSE = 1.25
        assert!((m.r2.unwrap() - (1.0 - 1.25 / 10.0)).abs() < 1e-12);
        assert_eq!(m.coverage_95, 0.75);
    }
}
