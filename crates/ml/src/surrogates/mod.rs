//! Data-driven surrogate models of batch outcomes, behind one pair of traits.
//!
//! * [`Fit`] turns hyperparameters into a fitted model from a [`TrainingSet`]
//!   (features × targets, one row per batch or sample, each row tagged with
//!   its batch so that validation can hold out whole batches; when unfolded
//!   from a dataset it also holds the batch records and the mechanistic
//!   mapping, [`dataset::BatchContext`], for learners that fit to whole
//!   trajectories);
//! * [`Predict`] gives a [`Prediction`]: mean **and** standard deviation per
//!   target, so every prediction carries its uncertainty.
//!
//! This follows linfa's `Fit`/`Predict` split (hyperparameters and fitted
//! state are different types), on nalgebra matrices. Hyperparameters hold no
//! data: everything a learner reads from the batches is in the
//! [`TrainingSet`]. Models:
//! [`pls::PlsParams`] (partial least squares, NIPALS as in scikit-learn),
//! [`gp::GpParams`] (Gaussian-process regression, exact Cholesky), the linfa
//! models [`linfa_models::ElasticNetParams`] and
//! [`linfa_models::SvrParams`], and [`forest::ForestParams`] (random
//! forest), [`nn::NnParams`] (ensemble of small networks), and the hybrids
//! [`hybrid::residual::ResidualParams`] (parallel, on unfolded features),
//! [`hybrid::parallel::ParallelHybridParams`] (parallel, conditions and
//! mechanistic predictions), [`hybrid::calibrated::CalibratedParams`]
//! (calibrated serial hybrid, fitted to the batch records) and
//! [`hybrid::serial::SerialHybridParams`] (serial hybrid of the Xing model,
//! `Fit` over [`hybrid::serial::Trajectories`]). [`train::ModelChoice`] is
//! itself a `Fit` whose model is the one dispatch enum of fitted kinds,
//! [`artifact::SurrogateModel`]. Every fitted model also predicts from ndarray
//! ([`ndarray_bridge::ArrayPredict`]); [`ndarray_bridge`] is the one place
//! nalgebra and ndarray meet. Features
//! come from batch records by [`unfold`]ing trajectories; [`cv`] makes
//! batch-wise splits; [`artifact`] saves fitted models with hashes;
//! [`train`] does unfold → validate → fit → artifact in one call. The
//! equations and their sources are in `docs/surrogates.md`.

pub mod artifact;
pub mod cv;
pub mod dataset;
pub mod extrapolation;
pub mod forest;
pub mod gp;
pub mod gp_fit;
pub mod hybrid;
pub mod linfa_models;
pub mod matrix_serde;
pub mod metrics;
pub mod ndarray_bridge;
pub mod nn;
#[cfg(feature = "torch")]
pub mod nn_torch;
pub mod parity_plot;
pub mod pls;
pub mod sealed;
pub mod standardise;
pub mod train;
pub mod unfold;

use nalgebra::DMatrix;

/// Why a surrogate could not be fitted or evaluated.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SurrogateError {
    /// Matrices of the wrong size, or too few samples for the model.
    #[error("{what}: expected {expected}, found {found}")]
    Shape {
        /// What has the wrong size (a matrix, a hyperparameter).
        what: String,
        /// What it should be.
        expected: String,
        /// What it was.
        found: String,
    },
    /// A number was not finite, or a matrix not positive definite.
    #[error("{0}")]
    Numerical(String),
}

impl SurrogateError {
    /// A [`SurrogateError::Shape`] from its three parts.
    pub fn shape(
        what: impl Into<String>,
        expected: impl ToString,
        found: impl ToString,
    ) -> SurrogateError {
        SurrogateError::Shape {
            what: what.into(),
            expected: expected.to_string(),
            found: found.to_string(),
        }
    }
}

/// Features and targets of a training problem, one row per sample.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainingSet {
    /// n × p features (SI values).
    pub x: DMatrix<f64>,
    /// n × q targets (SI values).
    pub y: DMatrix<f64>,
    /// Batch of each row; cross-validation holds out all rows of a batch.
    pub batch_ids: Vec<String>,
    /// Feature (column of `x`) names.
    pub feature_names: Vec<String>,
    /// Target (column of `y`) names.
    pub target_names: Vec<String>,
    /// Content hash of the dataset the rows were built from, when known.
    pub data_hash: Option<String>,
    /// The batch records of the rows and the dataset's mechanistic mapping,
    /// when the set was unfolded from a dataset (`dataset.rs`); `None` for
    /// bare matrices.
    pub batches: Option<dataset::BatchContext>,
}

impl TrainingSet {
    /// A training set from bare matrices (each row its own batch `row<i>`).
    pub fn from_matrices(x: DMatrix<f64>, y: DMatrix<f64>) -> TrainingSet {
        let batch_ids = (0..x.nrows()).map(|i| format!("row{i}")).collect();
        let feature_names = (0..x.ncols()).map(|j| format!("x{j}")).collect();
        let target_names = (0..y.ncols()).map(|j| format!("y{j}")).collect();
        TrainingSet {
            x,
            y,
            batch_ids,
            feature_names,
            target_names,
            data_hash: None,
            batches: None,
        }
    }

    /// Checks sizes and finiteness (every fit starts with this).
    pub fn check(&self) -> Result<(), SurrogateError> {
        let n = self.x.nrows();
        if self.y.nrows() != n {
            return Err(SurrogateError::shape("target rows", n, self.y.nrows()));
        }
        if self.batch_ids.len() != n {
            return Err(SurrogateError::shape("batch ids", n, self.batch_ids.len()));
        }
        if self.x.iter().chain(self.y.iter()).any(|v| !v.is_finite()) {
            return Err(SurrogateError::Numerical(
                "training data contain a non-finite value".into(),
            ));
        }
        Ok(())
    }

    /// The rows whose batch is in `batches`, in row order.
    pub fn rows_of(&self, batches: &[String]) -> Vec<usize> {
        (0..self.batch_ids.len())
            .filter(|&i| batches.contains(&self.batch_ids[i]))
            .collect()
    }

    /// A training set of the given rows only (with the batch records of
    /// those rows' batches and no other).
    pub fn subset(&self, rows: &[usize]) -> TrainingSet {
        let batch_ids: Vec<String> = rows.iter().map(|&i| self.batch_ids[i].clone()).collect();
        TrainingSet {
            x: self.x.select_rows(rows),
            y: self.y.select_rows(rows),
            batches: self.batches_of(&batch_ids),
            batch_ids,
            feature_names: self.feature_names.clone(),
            target_names: self.target_names.clone(),
            data_hash: self.data_hash.clone(),
        }
    }
}

/// Mean and standard deviation of each target for each input row.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// n × q predictive means.
    pub mean: DMatrix<f64>,
    /// n × q predictive standard deviations (of a new observation).
    pub std: DMatrix<f64>,
}

impl Prediction {
    /// Symmetric interval `mean ± z·std` (z = 1.96 for about 95 % under a
    /// normal predictive distribution): (lower, upper).
    pub fn interval(&self, z: f64) -> (DMatrix<f64>, DMatrix<f64>) {
        (&self.mean - &self.std * z, &self.mean + &self.std * z)
    }
}

/// Hyperparameters that can be fitted to data (linfa's `Fit`): `Self` holds
/// the settings only, `D` the data (a [`TrainingSet`] unless a learner needs
/// another shape, as the Xing-model serial hybrid's
/// [`hybrid::serial::Trajectories`]), `Model` the fitted state.
///
/// ```
/// use biotwin_ml::surrogates::pls::PlsParams;
/// use biotwin_ml::surrogates::{Fit, Predict, TrainingSet};
/// use nalgebra::DMatrix;
///
/// // Eight samples of y = 2 x0 − x1 + 0.5 (x in arbitrary SI units).
/// let x = DMatrix::from_row_slice(8, 2, &[
///     0.0, 1.0, 1.0, 0.0, 2.0, 1.0, 3.0, 3.0,
///     4.0, 2.0, 5.0, 4.0, 6.0, 1.0, 7.0, 5.0,
/// ]);
/// let y = DMatrix::from_fn(8, 1, |i, _| 2.0 * x[(i, 0)] - x[(i, 1)] + 0.5);
/// let data = TrainingSet::from_matrices(x, y);
/// // Hyperparameters (two latent components) → fitted model.
/// let model = PlsParams::new(2).fit(&data)?;
/// assert_eq!((model.n_features(), model.n_targets()), (2, 1));
/// let p = model.predict(&DMatrix::from_row_slice(1, 2, &[2.5, 1.5]))?;
/// // Two components span both features: the exact linear law, 4.0.
/// assert!((p.mean[(0, 0)] - 4.0).abs() < 1e-8);
/// assert!(p.std[(0, 0)].is_finite() && p.std[(0, 0)] >= 0.0);
/// # Ok::<(), biotwin_ml::surrogates::SurrogateError>(())
/// ```
pub trait Fit<D: ?Sized = TrainingSet> {
    /// The fitted model.
    type Model;
    /// Fits the model to `data`.
    fn fit(&self, data: &D) -> Result<Self::Model, SurrogateError>;
}

/// A fitted model that predicts with uncertainty (linfa's `Predict`).
///
/// ```
/// use biotwin_ml::surrogates::gp::{GpParams, RbfKernel};
/// use biotwin_ml::surrogates::{Fit, Predict, TrainingSet};
/// use nalgebra::DMatrix;
///
/// // y = sin(x) at six points; a GP (fixed RBF kernel) interpolates with a
/// // predictive SD.
/// let x = DMatrix::from_fn(6, 1, |i, _| i as f64);
/// let y = x.map(f64::sin);
/// let params = GpParams {
///     kernel: RbfKernel {
///         signal_variance: 1.0,
///         length_scales: vec![1.0],
///         noise_variance: 1e-4,
///     },
///     jitter: 1e-10,
///     normalise_y: true,
///     standardise_x: true,
///     optimise: None,
/// };
/// let model = params.fit(&TrainingSet::from_matrices(x, y))?;
/// let p = model.predict(&DMatrix::from_element(1, 1, 2.5))?;
/// let (lo, hi) = p.interval(1.96);
/// assert!(p.mean[(0, 0)].is_finite() && lo[(0, 0)] < hi[(0, 0)]);
/// // A width-3 row is refused: the model was fitted on one feature.
/// assert!(model.predict(&DMatrix::zeros(1, 3)).is_err());
/// # Ok::<(), biotwin_ml::surrogates::SurrogateError>(())
/// ```
pub trait Predict {
    /// Number of features (columns of `x`) the model was fitted on.
    fn n_features(&self) -> usize;
    /// Number of targets (columns of the prediction).
    fn n_targets(&self) -> usize;
    /// Predicted mean and standard deviation of each row of `x` (rows ×
    /// `n_features()`), in the targets' units. Errors when `x` has the wrong
    /// width or the numbers are not finite.
    fn predict(&self, x: &DMatrix<f64>) -> Result<Prediction, SurrogateError>;

    /// Checks the width of `x` against the fitted model.
    fn check_input(&self, x: &DMatrix<f64>) -> Result<(), SurrogateError> {
        if x.ncols() != self.n_features() {
            return Err(SurrogateError::shape(
                "feature columns",
                self.n_features(),
                x.ncols(),
            ));
        }
        if x.iter().any(|v| !v.is_finite()) {
            return Err(SurrogateError::Numerical(
                "input features contain a non-finite value".into(),
            ));
        }
        Ok(())
    }
}
