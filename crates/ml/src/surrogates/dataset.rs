//! The batch side of a [`TrainingSet`]: the batch records its rows were
//! unfolded from and the mechanistic mapping of the dataset, so that a
//! learner that needs whole trajectories (the calibrated serial hybrid) is
//! fitted through the same [`Fit::fit`](super::Fit::fit)`(&data)` as one that
//! needs only the feature rows (PLS, GP, …).
//!
//! The records are shared ([`Arc`]): unfolding a dataset, taking a
//! cross-validation subset or cloning the set never copies a trajectory.
//! [`TrainingSet::subset`] keeps rows and records consistent: the subset
//! holds the records of its rows' batches and no other, so a model fitted on
//! a split cannot read a held-out batch's trajectory.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::hybrid::mechanistic::MechanisticSpec;
use super::{SurrogateError, TrainingSet};
use crate::data::batch::BatchRecord;

/// The batch records behind the rows of a [`TrainingSet`], with the
/// dataset's mechanistic mapping (`mechanistic.toml`) when it has one.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchContext {
    /// One record per batch of the rows, in the order of first appearance.
    records: Vec<Arc<BatchRecord>>,
    /// The dataset's manifest, named in messages about the records.
    pub source: PathBuf,
    /// Which process model simulates a batch and how its parameters and
    /// CQAs map onto the model's (parallel and serial hybrids).
    pub mechanistic: Option<Arc<MechanisticSpec>>,
}

impl BatchContext {
    /// A context of `records`, read from `source`.
    pub fn new(
        records: Vec<Arc<BatchRecord>>,
        source: impl Into<PathBuf>,
        mechanistic: Option<Arc<MechanisticSpec>>,
    ) -> BatchContext {
        BatchContext {
            records,
            source: source.into(),
            mechanistic,
        }
    }

    /// Every record, in order.
    pub fn records(&self) -> &[Arc<BatchRecord>] {
        &self.records
    }

    /// The record of batch `id`.
    pub fn record(&self, id: &str) -> Option<&BatchRecord> {
        self.records.iter().find(|b| b.id() == id).map(|b| &**b)
    }

    /// The same context holding only the records of `batch_ids`.
    fn restricted_to(&self, batch_ids: &[String]) -> BatchContext {
        BatchContext {
            records: self
                .records
                .iter()
                .filter(|b| batch_ids.iter().any(|id| id == b.id()))
                .cloned()
                .collect(),
            source: self.source.clone(),
            mechanistic: self.mechanistic.clone(),
        }
    }
}

impl TrainingSet {
    /// Attaches the batch records of the rows (every row's batch must have
    /// one; records of batches without a row are left out).
    pub fn with_batches(
        mut self,
        records: &[Arc<BatchRecord>],
        source: impl Into<PathBuf>,
        mechanistic: Option<Arc<MechanisticSpec>>,
    ) -> Result<TrainingSet, SurrogateError> {
        let ctx = BatchContext::new(records.to_vec(), source, mechanistic);
        let ctx = ctx.restricted_to(&self.batch_ids);
        if let Some(id) = self.batch_ids.iter().find(|id| ctx.record(id).is_none()) {
            return Err(SurrogateError::shape(
                "the batch record of a row",
                id.as_str(),
                "none",
            ));
        }
        self.batches = Some(ctx);
        Ok(self)
    }

    /// Replaces the mechanistic mapping of the attached batches (the serial
    /// hybrid simulates from a mapping that adds no feature columns).
    pub fn with_mechanistic(mut self, spec: Arc<MechanisticSpec>) -> TrainingSet {
        if let Some(ctx) = &mut self.batches {
            ctx.mechanistic = Some(spec);
        }
        self
    }

    /// The batch context, or a shape error naming the learner that needs it.
    pub fn batch_context(&self, learner: &str) -> Result<&BatchContext, SurrogateError> {
        self.batches.as_ref().ok_or_else(|| {
            SurrogateError::shape(
                format!("batch records ({learner} fits to trajectories)"),
                "a training set unfolded from a dataset",
                "bare matrices",
            )
        })
    }

    /// The manifest the records came from (`<model input>` without records).
    pub fn source(&self) -> &Path {
        self.batches
            .as_ref()
            .map_or(Path::new("<model input>"), |c| c.source.as_path())
    }

    /// The record of each of `rows`, in row order.
    pub fn records_of_rows(&self, rows: &[usize]) -> Result<Vec<&BatchRecord>, SurrogateError> {
        let ctx = self.batch_context("this model")?;
        rows.iter()
            .map(|&r| {
                let id = self.batch_ids.get(r).ok_or_else(|| {
                    SurrogateError::shape("row", format!("< {}", self.batch_ids.len()), r)
                })?;
                ctx.record(id).ok_or_else(|| {
                    SurrogateError::shape("the batch record of a row", id.as_str(), "none")
                })
            })
            .collect()
    }

    /// The record of each distinct batch of the rows, in the order of first
    /// appearance.
    pub fn batch_records(&self) -> Result<Vec<&BatchRecord>, SurrogateError> {
        let ids = super::cv::distinct(&self.batch_ids);
        let ctx = self.batch_context("this model")?;
        ids.iter()
            .map(|id| {
                ctx.record(id).ok_or_else(|| {
                    SurrogateError::shape("the batch record of a row", id.as_str(), "none")
                })
            })
            .collect()
    }

    /// The batch context restricted to the batches `batch_ids` (what
    /// [`TrainingSet::subset`] keeps, so records and rows stay consistent).
    pub(super) fn batches_of(&self, batch_ids: &[String]) -> Option<BatchContext> {
        self.batches.as_ref().map(|c| c.restricted_to(batch_ids))
    }
}
