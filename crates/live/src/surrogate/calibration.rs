//! Honest prediction intervals: normalised conformal scores from
//! leave-batch-out on the training batches only.
//!
//! For each training batch i, the rung's model is refitted on the other
//! batches (hyperparameters refitted too) and predicts batch i: mean mᵢ and
//! predictive sd sᵢ. The score is |yᵢ − mᵢ| / sᵢ. With n scores and nominal
//! coverage 1 − α, the interval half-width multiplier q is the
//! ⌈(n + 1)(1 − α)⌉-th smallest score (the split-conformal quantile,
//! Lei et al., JASA 113 (2018) 1094; the largest score when that rank
//! exceeds n), and the interval of a new batch is m ± q·s. This replaces the
//! GP's own z = 1.645: a GP whose marginal likelihood shrinks its noise
//! on 19 batches is overconfident, and q measures by how much.
//!
//! For P(in spec) the forecast distribution is taken as normal with the
//! matching sd, σ = q·s / z₁₋α/₂, so its central interval is the
//! calibrated one.

use std::collections::BTreeMap;

use nalgebra::DMatrix;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::ladder::RungModel;
use crate::Error;
use biotwin_ml::surrogates::metrics::{Metrics, metrics_by_target};
use biotwin_ml::surrogates::{Predict, Prediction, TrainingSet};

/// How a rung's interval was calibrated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Calibration {
    /// `conformal_normalised_leave_batch_out`.
    pub method: String,
    /// Nominal coverage.
    pub level: f64,
    /// Number of leave-batch-out scores.
    pub n: usize,
    /// Half-width multiplier q of the predictive sd, per target.
    pub sd_multiplier: Vec<f64>,
    /// Leave-batch-out metrics of the uncalibrated model, per target.
    pub metrics: BTreeMap<String, Metrics>,
    /// Leave-batch-out coverage of the calibrated interval, per target (at
    /// least the nominal level by construction when scores do not tie).
    pub coverage: Vec<f64>,
}

/// The calibration method recorded in [`Calibration::method`]: normalised
/// conformal scores |y − m| / s from leave-batch-out predictions (module docs).
pub const METHOD: &str = "conformal_normalised_leave_batch_out";

/// Calibrates `model` on `data` (one row per batch).
pub fn calibrate(model: &RungModel, data: &TrainingSet, level: f64) -> Result<Calibration, Error> {
    let n = data.x.nrows();
    let q = data.y.ncols();
    let preds: Result<Vec<(DMatrix<f64>, DMatrix<f64>)>, Error> = (0..n)
        .into_par_iter()
        .map(|i| {
            let rows: Vec<usize> = (0..n).filter(|&r| r != i).collect();
            let fitted = model.fit(&data.subset(&rows))?;
            let p = fitted.predict(&data.x.select_rows([i].iter()))?;
            Ok((p.mean, p.std))
        })
        .collect();
    let preds = preds?;
    let mut mean = DMatrix::zeros(n, q);
    let mut std = DMatrix::zeros(n, q);
    for (i, (m, s)) in preds.iter().enumerate() {
        mean.set_row(i, &m.row(0));
        std.set_row(i, &s.row(0));
    }
    let prediction = Prediction { mean, std };
    let metrics = metrics_by_target(&prediction, &data.y, &data.target_names);
    let mut sd_multiplier = Vec::new();
    let mut coverage = Vec::new();
    for j in 0..q {
        let scores: Vec<f64> = (0..n)
            .map(|i| {
                let s = prediction.std[(i, j)].max(f64::MIN_POSITIVE);
                (data.y[(i, j)] - prediction.mean[(i, j)]).abs() / s
            })
            .collect();
        let m = conformal_quantile(&scores, level);
        coverage.push(scores.iter().filter(|s| **s <= m).count() as f64 / n as f64);
        sd_multiplier.push(m);
    }
    Ok(Calibration {
        method: METHOD.into(),
        level,
        n,
        sd_multiplier,
        metrics,
        coverage,
    })
}

/// The ⌈(n + 1)·level⌉-th smallest score (1-based), capped at the largest.
pub fn conformal_quantile(scores: &[f64], level: f64) -> f64 {
    let mut s: Vec<f64> = scores.iter().copied().filter(|v| v.is_finite()).collect();
    if s.is_empty() {
        return f64::INFINITY;
    }
    s.sort_by(f64::total_cmp);
    let rank = ((s.len() + 1) as f64 * level).ceil() as usize;
    s[rank.clamp(1, s.len()) - 1]
}

impl RungModel {
    /// Fits the rung's model through the one dispatch of choices to fits
    /// ([`RungModel::choice`]).
    pub(super) fn fit(
        &self,
        data: &TrainingSet,
    ) -> Result<
        biotwin_ml::surrogates::artifact::SurrogateModel,
        biotwin_ml::surrogates::SurrogateError,
    > {
        use biotwin_ml::surrogates::Fit;
        self.choice().fit(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conformal_rank_is_the_finite_sample_one() {
        let s: Vec<f64> = (1..=19).map(|v| v as f64).collect();
        // ceil(20 * 0.9) = 18th smallest
        assert_eq!(conformal_quantile(&s, 0.9), 18.0);
        // ceil(20 * 0.99) = 20 > 19: the largest
        assert_eq!(conformal_quantile(&s, 0.99), 19.0);
        assert_eq!(conformal_quantile(&[], 0.9), f64::INFINITY);
    }
}
