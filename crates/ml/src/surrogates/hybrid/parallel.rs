//! Parallel hybrid model: end-of-batch quality attributes predicted by a
//! mechanistic model, plus a data-driven correction of its residuals,
//!
//! ŷ(x) = y_mech(x) + g([x, y_mech(x)]),
//!
//! where x are the batch's conditions (recipe settings, raw-material
//! attributes), y_mech the mechanistic prediction and g a PLS or GP model
//! fitted to the residuals y_obs − y_mech of the training batches. The
//! predictive standard deviation is the correction's (the mechanistic part
//! is deterministic).

use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

use crate::surrogates::artifact::SurrogateModel;
use crate::surrogates::gp::GpParams;
use crate::surrogates::pls::PlsParams;
use crate::surrogates::{Fit, Predict, Prediction, SurrogateError, TrainingSet};
use biotwin_core::simulation::Scenario;

/// Which surrogate learns the residuals.
#[derive(Debug, Clone, PartialEq)]
pub enum Corrector {
    /// A PLS model learns the residuals.
    Pls(PlsParams),
    /// A Gaussian process learns the residuals.
    Gp(GpParams),
}

/// A fitted parallel hybrid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParallelHybrid {
    /// Names of the condition columns x.
    pub condition_names: Vec<String>,
    /// Names of the predicted quality attributes.
    pub target_names: Vec<String>,
    /// g, on features [x, y_mech].
    pub correction: SurrogateModel,
}

fn features(conditions: &DMatrix<f64>, mechanistic: &DMatrix<f64>) -> DMatrix<f64> {
    let (n, p, q) = (conditions.nrows(), conditions.ncols(), mechanistic.ncols());
    DMatrix::from_fn(n, p + q, |i, j| {
        if j < p {
            conditions[(i, j)]
        } else {
            mechanistic[(i, j - p)]
        }
    })
}

/// Hyperparameters of the parallel hybrid: only which surrogate learns the
/// residuals.
///
/// Data: a [`TrainingSet`] whose rows are batches, whose targets are the
/// observed quality attributes y_obs and whose features are the conditions
/// x followed by the mechanistic predictions y_mech, one column per target
/// named `mechanistic_<target>` in target order (as
/// [`ParallelHybrid::fit`] and the unfolding with a `mechanistic.toml` build
/// them). The correction is fitted by the same mechanism as the hybrid on
/// unfolded features ([`super::residual::ResidualParams`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ParallelHybridParams {
    /// Which surrogate learns the residuals.
    pub corrector: Corrector,
}

impl Fit for ParallelHybridParams {
    type Model = ParallelHybrid;
    fn fit(&self, data: &TrainingSet) -> Result<ParallelHybrid, SurrogateError> {
        let (p, q) = (data.x.ncols(), data.y.ncols());
        if q > p || data.feature_names.len() != p || data.target_names.len() != q {
            return Err(SurrogateError::shape(
                "features (conditions, then one mechanistic prediction per target) and names",
                format!("≥ {q} features, {p} feature and {q} target names"),
                format!(
                    "{p} features, {} feature and {} target names",
                    data.feature_names.len(),
                    data.target_names.len()
                ),
            ));
        }
        for (j, t) in data.target_names.iter().enumerate() {
            let expected = format!("mechanistic_{t}");
            let found = &data.feature_names[p - q + j];
            if *found != expected {
                return Err(SurrogateError::shape(
                    format!("feature column {}", p - q + j),
                    expected,
                    found,
                ));
            }
        }
        let mut residual = data.clone();
        residual.target_names = data
            .target_names
            .iter()
            .map(|t| format!("residual_{t}"))
            .collect();
        let fitted = super::residual::ResidualParams {
            corrector: self.corrector.clone(),
            mechanistic_columns: (p - q..p).collect(),
        }
        .fit(&residual)?;
        Ok(ParallelHybrid {
            condition_names: data.feature_names[..p - q].to_vec(),
            target_names: data.target_names.clone(),
            correction: *fitted.correction,
        })
    }
}

impl ParallelHybrid {
    /// Thin wrapper of [`Fit::fit`] on [`ParallelHybridParams`], kept for
    /// callers with separate matrices: rows are batches, `conditions` n × p,
    /// `mechanistic` and `observed` n × q.
    pub fn fit(
        corrector: &Corrector,
        conditions: &DMatrix<f64>,
        mechanistic: &DMatrix<f64>,
        observed: &DMatrix<f64>,
        condition_names: Vec<String>,
        target_names: Vec<String>,
    ) -> Result<ParallelHybrid, SurrogateError> {
        let n = conditions.nrows();
        if mechanistic.nrows() != n || observed.nrows() != n {
            return Err(SurrogateError::shape(
                "batches (rows) of mechanistic and observed",
                n,
                format!("{} and {}", mechanistic.nrows(), observed.nrows()),
            ));
        }
        if mechanistic.ncols() != observed.ncols() || target_names.len() != observed.ncols() {
            return Err(SurrogateError::shape(
                "target columns",
                observed.ncols(),
                format!(
                    "{} mechanistic, {} names",
                    mechanistic.ncols(),
                    target_names.len()
                ),
            ));
        }
        if condition_names.len() != conditions.ncols() {
            return Err(SurrogateError::shape(
                "condition names",
                conditions.ncols(),
                condition_names.len(),
            ));
        }
        let mut set =
            TrainingSet::from_matrices(features(conditions, mechanistic), observed.clone());
        set.feature_names = condition_names
            .iter()
            .cloned()
            .chain(target_names.iter().map(|t| format!("mechanistic_{t}")))
            .collect();
        set.target_names = target_names;
        ParallelHybridParams {
            corrector: corrector.clone(),
        }
        .fit(&set)
    }

    /// Corrected prediction with the correction's standard deviation.
    pub fn predict(
        &self,
        conditions: &DMatrix<f64>,
        mechanistic: &DMatrix<f64>,
    ) -> Result<Prediction, SurrogateError> {
        if mechanistic.ncols() != self.target_names.len()
            || mechanistic.nrows() != conditions.nrows()
        {
            return Err(SurrogateError::shape(
                "mechanistic predictions",
                format!("{} × {}", conditions.nrows(), self.target_names.len()),
                format!("{} × {}", mechanistic.nrows(), mechanistic.ncols()),
            ));
        }
        let g = self
            .correction
            .predict(&features(conditions, mechanistic))?;
        Ok(Prediction {
            mean: mechanistic + g.mean,
            std: g.std,
        })
    }
}

/// The mechanistic prediction: end-of-batch quality attributes `names` of
/// a simulated scenario, in that order.
pub fn mechanistic_cqas(
    scenario: &Scenario,
    names: &[&str],
) -> Result<Vec<f64>, crate::error::Error> {
    let out = scenario.simulate(false)?;
    names
        .iter()
        .map(|n| {
            out.quality_value(n)
                .ok_or_else(|| crate::error::Error::Numerical {
                    time_h: 0.0,
                    message: format!("the model reports no quality attribute `{n}`"),
                    state: String::new(),
                })
        })
        .collect()
}
