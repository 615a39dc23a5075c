//! biotwin-ml: batch-record datasets, ML surrogates (PLS, GP, neural
//! networks, hybrid models), the model registry and its audit log, and the
//! calibration of a process model to batch records (`biotwin fit`).
//!
//! * [`data`]: a dataset directory (`dataset.toml`, tag map, historian
//!   exports in CSV, gzip or Parquet) read into [`data::Dataset`], every
//!   value converted to SI, every problem reported with file, line and field;
//! * [`surrogates`]: batch records unfolded into a [`surrogates::TrainingSet`]
//!   ([`surrogates::unfold::UnfoldingSpec`]), learners as hyperparameters that
//!   [`Fit`](surrogates::Fit) turns into fitted models that
//!   [`Predict`](surrogates::Predict) a mean and a standard deviation, sealed
//!   artifacts ([`surrogates::artifact`]);
//! * [`registry`]: registered, promoted models with a hash-chained audit log;
//! * [`calibration`]: maximum-likelihood estimation of process-model
//!   parameters from batch records, with identifiability verdicts;
//! * [`datagen`]: the synthetic CHO plant behind `training-data/cho-*`;
//!   [`indpensim_forecast`]: the evaluation of the IndPenSim filter.
//!
//! # Example
//!
//! A PLS surrogate of the final titer from the first half of each batch of
//! the shipped `cho-platform` dataset, fitted on 30 batches and asked about
//! the 6 it did not see (the design's edge points):
//!
//! ```
//! use biotwin_ml::data::Dataset;
//! use biotwin_ml::surrogates::pls::PlsParams;
//! use biotwin_ml::surrogates::unfold::UnfoldingSpec;
//! use biotwin_ml::surrogates::{Fit, Predict};
//!
//! let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
//!     .join("../../training-data/cho-platform");
//! let dataset = Dataset::load(&dir)?;
//! // Features: pH (online) and viable cells and titer (lab) at 4 points over
//! // the first half of the batch, plus three recipe parameters; all SI.
//! let spec = UnfoldingSpec {
//!     online: vec!["ph".into()],
//!     offline: vec!["viable_cells".into(), "titer".into()],
//!     parameters: vec!["feed_scale".into(), "shift_temperature".into(), "seeding_density".into()],
//!     targets: vec!["final_titer".into()],
//!     cutoff_fraction: 0.5,
//!     n_points: 4,
//!     mechanistic: None,
//! };
//! let set = spec.training_set(&dataset)?;
//! assert_eq!(set.x.ncols(), 3 * 4 + 3);
//! assert_eq!(set.feature_names, spec.feature_names());
//!
//! // One row per batch; the last 6 batches are the edge points.
//! let ids = dataset.batch_ids();
//! let (train, test) = ids.split_at(ids.len() - 6);
//! let model = PlsParams::new(3).fit(&set.subset(&set.rows_of(train)))?;
//! let held_out = set.subset(&set.rows_of(test));
//! let p = model.predict(&held_out.x)?;
//! let (lo, hi) = p.interval(1.96);
//! for i in 0..test.len() {
//!     // Final titer in kg/m³ (= g/L): positive, with a proper interval.
//!     assert!(p.mean[(i, 0)] > 0.0 && p.std[(i, 0)] > 0.0);
//!     assert!(lo[(i, 0)] < p.mean[(i, 0)] && p.mean[(i, 0)] < hi[(i, 0)]);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

pub mod calibration;
pub mod data;
pub mod datagen;
pub mod error;
pub use error::{Error, Result};
pub mod indpensim_forecast;
pub mod registry;
pub mod surrogates;
