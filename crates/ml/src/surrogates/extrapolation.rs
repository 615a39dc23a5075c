//! The extrapolation check: is a prediction's input far outside the range
//! the model was trained on?
//!
//! Rule (one rule, used by `evaluate`, by the live surrogate predictor and
//! wherever a saved model predicts): for every feature j with training
//! minimum m_j, maximum M_j and sample standard deviation s_j (n − 1),
//!
//! ```text
//! d_j = max(0, m_j − x_j, x_j − M_j) / s_j        (training SDs beyond the range)
//! ```
//!
//! and the prediction is flagged when max_j d_j > [`THRESHOLD_SD`] = 2.
//! Inside the training range d = 0, however far from the mean: the range,
//! not the mean, is what the model has seen. Why 2: with the ~20 training
//! batches typical here, the range of normal data spans about ±1.9 s, so a
//! value 2 s beyond it lies near |z| ≈ 4 (two-sided probability ≈ 6·10⁻⁵
//! per feature): a flag means an input the training data did not cover,
//! not the scatter of a new batch. This is a univariate range check (as in
//! the "bounding box" applicability domain of QSAR practice, e.g. Jaworska,
//! Nikolova-Jeliazkova & Aldenberg, ATLA 33, 445–459, 2005); it does not
//! see a new *combination* of in-range values, which a Hotelling T² / SPE
//! limit of a PLS model would (MacGregor & Kourti, Control Eng. Practice 3,
//! 403–414, 1995) — not implemented here.
//!
//! A feature constant in training (s_j = 0) carries no scale for the rule
//! and is skipped (reported in [`Extrapolation::constant_features_differing`]
//! when the new value differs from the constant).
//!
//! The training range is recorded in every artifact trained since this
//! check exists ([`Artifact::training_range`](super::artifact::Artifact));
//! for older GP artifacts it is recovered exactly from the stored training
//! inputs; for other older artifacts it is unknown and the check says so.

use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

use super::artifact::Artifact;
use super::artifact::SurrogateModel;

/// Training SDs beyond the training range above which a prediction is
/// flagged as an extrapolation.
pub const THRESHOLD_SD: f64 = 2.0;

/// Per-feature summary of the training inputs (raw units of the features).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureRange {
    /// Smallest training value of each feature.
    pub min: Vec<f64>,
    /// Largest training value of each feature.
    pub max: Vec<f64>,
    /// Sample standard deviation (n − 1); 0 for a constant feature.
    pub sd: Vec<f64>,
}

impl FeatureRange {
    /// Of the rows of `x` (training rows × features).
    pub fn of(x: &DMatrix<f64>) -> FeatureRange {
        let n = x.nrows() as f64;
        let (mut min, mut max, mut sd) = (vec![], vec![], vec![]);
        for col in x.column_iter() {
            min.push(col.min());
            max.push(col.max());
            let mean = col.sum() / n;
            let ss: f64 = col.iter().map(|v| (v - mean).powi(2)).sum();
            sd.push(if n > 1.0 {
                (ss / (n - 1.0)).sqrt()
            } else {
                0.0
            });
        }
        FeatureRange { min, max, sd }
    }
}

/// The worst feature of one prediction's input.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Extrapolation {
    /// The feature furthest outside the training range.
    pub feature: String,
    /// Its value (raw units of the feature).
    pub value: f64,
    /// Smallest training value of that feature.
    pub training_min: f64,
    /// Largest training value of that feature.
    pub training_max: f64,
    /// d = training SDs beyond the range (0 inside it).
    pub sd_beyond_range: f64,
    /// [`THRESHOLD_SD`].
    pub threshold_sd: f64,
    /// `sd_beyond_range > threshold_sd`.
    pub flagged: bool,
    /// Features constant in training whose new value differs (not scored).
    pub constant_features_differing: Vec<String>,
}

impl Extrapolation {
    /// One-line console warning.
    pub fn warning(&self, what: &str) -> String {
        format!(
            "warning: {what}: input `{}` = {} lies {:.1} training SDs outside the training range [{}, {}] (flagged above {} SDs): the prediction is an extrapolation",
            self.feature,
            fmt(self.value),
            self.sd_beyond_range,
            fmt(self.training_min),
            fmt(self.training_max),
            self.threshold_sd
        )
    }
}

fn fmt(v: f64) -> String {
    format!("{v:.4e}")
}

/// The check of one input row `x` against `range`; `None` when no feature
/// could be scored (all constant, or no features).
pub fn check(range: &FeatureRange, names: &[String], x: &[f64]) -> Option<Extrapolation> {
    let mut worst: Option<(usize, f64)> = None;
    let mut constant = Vec::new();
    for (j, &v) in x.iter().enumerate() {
        let (lo, hi, sd) = (range.min[j], range.max[j], range.sd[j]);
        if !(sd > 0.0 && sd.is_finite()) {
            if v != lo {
                constant.push(names.get(j).cloned().unwrap_or_else(|| format!("#{j}")));
            }
            continue;
        }
        // A non-finite input is as far as it gets; keep the number finite
        // (JSON) and flagged.
        let d = if v.is_finite() {
            ((lo - v).max(v - hi).max(0.0) / sd).min(f64::MAX)
        } else {
            f64::MAX
        };
        if worst.is_none_or(|(_, w)| d > w) {
            worst = Some((j, d));
        }
    }
    let (j, d) = worst?;
    Some(Extrapolation {
        feature: names.get(j).cloned().unwrap_or_else(|| format!("#{j}")),
        value: x[j],
        training_min: range.min[j],
        training_max: range.max[j],
        sd_beyond_range: d,
        threshold_sd: THRESHOLD_SD,
        flagged: d > THRESHOLD_SD,
        constant_features_differing: constant,
    })
}

impl Artifact {
    /// The training range of the model's features: recorded at training,
    /// else (older artifacts) recovered from a GP's stored training inputs;
    /// `None` when unknown.
    pub fn feature_range(&self) -> Option<FeatureRange> {
        if let Some(r) = &self.training_range {
            return Some(r.clone());
        }
        match &self.model {
            SurrogateModel::Gp(m) => {
                let mut x = m.x_train.clone();
                for (j, mut col) in x.column_iter_mut().enumerate() {
                    for v in col.iter_mut() {
                        *v = *v * m.x_scaler.scale[j] + m.x_scaler.mean[j];
                    }
                }
                Some(FeatureRange::of(&x))
            }
            _ => None,
        }
    }

    /// [`check`] of input row `x` with this artifact's range and names.
    pub fn extrapolation(&self, x: &[f64]) -> Option<Extrapolation> {
        check(&self.feature_range()?, &self.feature_names, x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_counts_from_the_range_in_training_sds() {
        // Column 0: 1, 2, 3 (sd 1); column 1 constant 5.
        let x = DMatrix::from_row_slice(3, 2, &[1.0, 5.0, 2.0, 5.0, 3.0, 5.0]);
        let r = FeatureRange::of(&x);
        assert_eq!(r.sd, vec![1.0, 0.0]);
        let names = vec!["a".to_string(), "b".to_string()];
        let inside = check(&r, &names, &[2.9, 5.0]).unwrap();
        assert_eq!(inside.sd_beyond_range, 0.0);
        assert!(!inside.flagged);
        let edge = check(&r, &names, &[5.0, 5.0]).unwrap();
        assert_eq!(edge.sd_beyond_range, 2.0);
        assert!(!edge.flagged, "exactly at the threshold is not beyond it");
        let far = check(&r, &names, &[-1000.0, 6.0]).unwrap();
        assert_eq!(far.sd_beyond_range, 1001.0);
        assert!(far.flagged);
        assert_eq!(far.feature, "a");
        assert_eq!(far.constant_features_differing, vec!["b".to_string()]);
        let nan = check(&r, &names, &[f64::NAN, 5.0]).unwrap();
        assert!(nan.sd_beyond_range.is_finite() && nan.flagged);
    }
}
