//! The parallel hybrid as a surrogate of batch records (what `biotwin
//! train --model hybrid` fits):
//!
//! ŷ(x) = x_mech + g(x),
//!
//! where the feature row x ends with the mechanistic predictions x_mech of
//! the targets (columns `mechanistic_<target>`, computed by
//! [`super::mechanistic::MechanisticSpec`] when the batch is unfolded) and g
//! is a PLS or GP model of the residuals y − x_mech on all features. The
//! predictive standard deviation is g's (the mechanistic part is
//! deterministic). Same idea as [`super::ParallelHybrid`], in the shape of
//! the other surrogates so training, validation by batch, the registry and
//! `evaluate` treat it like them.

use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

use super::parallel::Corrector;
use crate::surrogates::artifact::SurrogateModel;
use crate::surrogates::{Fit, Predict, Prediction, SurrogateError, TrainingSet};

/// Hyperparameters: the corrector and where the mechanistic columns are.
#[derive(Debug, Clone, PartialEq)]
pub struct ResidualParams {
    /// Which surrogate learns the residuals.
    pub corrector: Corrector,
    /// Column of x holding the mechanistic prediction of each target.
    pub mechanistic_columns: Vec<usize>,
}

/// A fitted parallel hybrid on unfolded features.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResidualModel {
    /// Column of x holding the mechanistic prediction of each target.
    pub mechanistic_columns: Vec<usize>,
    /// g, fitted on all features to the residuals.
    pub correction: Box<SurrogateModel>,
}

fn mechanistic(x: &DMatrix<f64>, cols: &[usize]) -> Result<DMatrix<f64>, SurrogateError> {
    if let Some(&c) = cols.iter().find(|&&c| c >= x.ncols()) {
        return Err(SurrogateError::shape(
            "mechanistic feature column",
            format!("< {}", x.ncols()),
            c,
        ));
    }
    Ok(DMatrix::from_fn(x.nrows(), cols.len(), |i, j| {
        x[(i, cols[j])]
    }))
}

impl Fit for ResidualParams {
    type Model = ResidualModel;
    fn fit(&self, data: &TrainingSet) -> Result<ResidualModel, SurrogateError> {
        if self.mechanistic_columns.len() != data.y.ncols() {
            return Err(SurrogateError::shape(
                "mechanistic columns (one per target)",
                data.y.ncols(),
                self.mechanistic_columns.len(),
            ));
        }
        let mech = mechanistic(&data.x, &self.mechanistic_columns)?;
        let mut set = data.clone();
        set.y = &data.y - mech;
        let correction = match &self.corrector {
            Corrector::Pls(p) => SurrogateModel::Pls(p.fit(&set)?),
            Corrector::Gp(p) => SurrogateModel::Gp(p.fit(&set)?),
        };
        Ok(ResidualModel {
            mechanistic_columns: self.mechanistic_columns.clone(),
            correction: Box::new(correction),
        })
    }
}

impl Predict for ResidualModel {
    fn n_features(&self) -> usize {
        self.correction.n_features()
    }
    fn n_targets(&self) -> usize {
        self.correction.n_targets()
    }
    fn predict(&self, x: &DMatrix<f64>) -> Result<Prediction, SurrogateError> {
        self.check_input(x)?;
        let g = self.correction.predict(x)?;
        Ok(Prediction {
            mean: mechanistic(x, &self.mechanistic_columns)? + g.mean,
            std: g.std,
        })
    }
}
