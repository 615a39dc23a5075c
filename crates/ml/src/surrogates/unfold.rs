//! Batch-wise unfolding: one row of features per batch from its trajectories
//! up to a fraction of batch time, plus scalar parameters (Nomikos &
//! MacGregor, AIChE J. 40 (1994) 1361).
//!
//! For cut-off fraction f and batch duration D, the trajectories are read at
//! `n_points` equally spaced times tₖ = f·D·k/(n_points − 1), k = 0…n_points−1
//! (one point, at f·D, when `n_points` = 1). An online variable is linearly
//! interpolated between its samples observed up to f·D; an offline variable
//! uses only lab results *known* by f·D (result time, when the export has it,
//! else sample time), interpolated between sample times. After the last known
//! value the value is held: no information from after the cut-off enters.
//! Feature names are `<variable>@<percent of batch time>`; values are SI.

use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

use super::TrainingSet;
use crate::data::{BatchRecord, Dataset};
use biotwin_core::error::{Diagnostic, Diagnostics};

/// Which variables, up to when, and what to predict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnfoldingSpec {
    /// Online variables (interpolated at each sampling time).
    pub online: Vec<String>,
    /// Offline (lab) variables (the results known by each sampling time).
    pub offline: Vec<String>,
    /// Scalar per-batch parameters from the manifest.
    pub parameters: Vec<String>,
    /// CQAs from the manifest.
    pub targets: Vec<String>,
    /// Fraction of batch time observed, 0 < f ≤ 1.
    pub cutoff_fraction: f64,
    /// Sampling times per variable, evenly spaced from 0 to the cutoff.
    pub n_points: usize,
    /// Mechanistic predictions of the targets appended as the last
    /// features (`mechanistic_<target>`), for the parallel hybrid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mechanistic: Option<crate::surrogates::hybrid::mechanistic::MechanisticSpec>,
}

impl UnfoldingSpec {
    /// The sampling times as fractions of batch time.
    pub fn fractions(&self) -> Vec<f64> {
        if self.n_points <= 1 {
            return vec![self.cutoff_fraction];
        }
        (0..self.n_points)
            .map(|k| self.cutoff_fraction * k as f64 / (self.n_points - 1) as f64)
            .collect()
    }

    /// Feature names in column order: `variable@percent%` per variable and
    /// sampling time, then the parameters, then `mechanistic_<target>` with a
    /// mechanistic spec.
    pub fn feature_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        for v in self.online.iter().chain(&self.offline) {
            for f in self.fractions() {
                names.push(format!("{v}@{:.1}%", 100.0 * f));
            }
        }
        names.extend(self.parameters.iter().cloned());
        if self.mechanistic.is_some() {
            names.extend(self.targets.iter().map(|t| format!("mechanistic_{t}")));
        }
        names
    }

    fn check(&self, source: &std::path::Path) -> Result<(), Diagnostic> {
        if !(self.cutoff_fraction > 0.0 && self.cutoff_fraction <= 1.0) || self.n_points == 0 {
            return Err(Diagnostic::new(
                source,
                "unfolding",
                "0 < cutoff_fraction <= 1 and n_points >= 1",
                format!(
                    "cutoff_fraction = {}, n_points = {}",
                    self.cutoff_fraction, self.n_points
                ),
            ));
        }
        Ok(())
    }

    /// Features of one batch; a missing variable is a diagnostic naming the
    /// batch (`source` is the dataset manifest, for the message).
    pub fn features(
        &self,
        batch: &BatchRecord,
        source: &std::path::Path,
    ) -> Result<Vec<f64>, Diagnostics> {
        self.check(source)?;
        let mut diags = Diagnostics::new();
        let cutoff_s = self.cutoff_fraction * batch.duration_s();
        let times: Vec<f64> = self
            .fractions()
            .iter()
            .map(|f| f * batch.duration_s())
            .collect();
        let mut out = Vec::new();
        let missing = |what: &str, v: &str| {
            Diagnostic::new(
                source,
                format!("batches.{}.{what}", batch.id()),
                format!(
                    "`{v}` observed by {:.1} % of batch time",
                    100.0 * self.cutoff_fraction
                ),
                "no value",
            )
        };
        for v in &self.online {
            match batch.online.get(v).map(|ts| ts.until(cutoff_s)) {
                Some(ts) if !ts.time_s.is_empty() => {
                    out.extend(times.iter().map(|&t| ts.at(t).unwrap_or(f64::NAN)))
                }
                _ => diags.push(missing("online", v)),
            }
        }
        for v in &self.offline {
            let ts = batch.offline_known_at(v, cutoff_s);
            if ts.time_s.is_empty() {
                diags.push(missing("offline", v));
            } else {
                out.extend(times.iter().map(|&t| ts.at(t).unwrap_or(f64::NAN)));
            }
        }
        for p in &self.parameters {
            match batch.meta.parameters.get(p) {
                Some(x) => out.push(*x),
                None => diags.push(missing("parameters", p)),
            }
        }
        if let Some(m) = &self.mechanistic {
            match m.predict(batch.id(), &batch.meta.parameters, &self.targets, source) {
                Ok(v) => out.extend(v),
                Err(d) => diags.push(d),
            }
        }
        diags.into_result(out)
    }

    /// Targets of one batch.
    pub fn targets_of(
        &self,
        batch: &BatchRecord,
        source: &std::path::Path,
    ) -> Result<Vec<f64>, Diagnostics> {
        let mut diags = Diagnostics::new();
        let mut out = Vec::new();
        for t in &self.targets {
            match batch.meta.cqas.get(t) {
                Some(v) => out.push(*v),
                None => diags.push(Diagnostic::new(
                    source,
                    format!("batches.{}.cqas.{t}", batch.id()),
                    "the CQA to train on",
                    "no value",
                )),
            }
        }
        diags.into_result(out)
    }

    /// One row per batch of `dataset` (all of them, in manifest order).
    pub fn training_set(&self, dataset: &Dataset) -> Result<TrainingSet, Diagnostics> {
        let source = dataset.dir.join(crate::data::dataset::MANIFEST_FILE);
        let mut diags = Diagnostics::new();
        let (mut xs, mut ys) = (Vec::new(), Vec::new());
        for b in &dataset.batches {
            match (self.features(b, &source), self.targets_of(b, &source)) {
                (Ok(x), Ok(y)) => {
                    xs.extend(x);
                    ys.extend(y);
                }
                (rx, ry) => {
                    for r in [rx, ry] {
                        if let Err(d) = r {
                            diags.extend(d);
                        }
                    }
                }
            }
        }
        if !diags.is_empty() {
            return Err(diags);
        }
        let n = dataset.batches.len();
        let names = self.feature_names();
        // The records travel with the rows (shared), for learners that fit
        // to whole trajectories; one record per row, in manifest order.
        let records = dataset
            .batches
            .iter()
            .map(|b| std::sync::Arc::new(b.clone()))
            .collect();
        Ok(TrainingSet {
            x: DMatrix::from_row_slice(n, names.len(), &xs),
            y: DMatrix::from_row_slice(n, self.targets.len(), &ys),
            batch_ids: dataset.batch_ids(),
            feature_names: names,
            target_names: self.targets.clone(),
            data_hash: Some(dataset.content_hash.clone()),
            batches: Some(super::dataset::BatchContext::new(
                records,
                source,
                self.mechanistic.clone().map(std::sync::Arc::new),
            )),
        })
    }
}
