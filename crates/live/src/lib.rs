//! Live mode: historian data in, state estimate and end-of-batch forecast out,
//! every prediction recorded.
//!
//! Data flows one way through four stages, each behind a trait so that one
//! implementation can be swapped without touching the others:
//!
//! 1. a [`Source`] (export replay, a followed file, an OPC UA subscription)
//!    yields raw [`Reading`]s: historian tag, timestamp, value, quality;
//! 2. the site configuration maps a reading to an [`Observation`] of a model
//!    variable of one batch, in SI, at batch time (rejecting bad-quality,
//!    out-of-range and stale values, and counting them);
//! 3. a [`Predictor`] (a Kalman filter on the mechanistic model, or a
//!    surrogate from the registry) assimilates observations and produces a
//!    [`Forecast`] of the end-of-batch CQAs with prediction intervals;
//! 4. a [`Store`] keeps received data, every forecast and the audit trail.
//!
//! Times: readings carry Unix seconds (UTC) as the historian stamped them;
//! observations and forecasts carry seconds since the batch start, the time
//! base of the models.
//!
//! Errors: every stage returns [`Error`] ([`error`]), grouped by what the
//! operator should do (the store, a source, the site configuration,
//! accounts, the web service, a predictor's numerical failure), with the
//! core's errors passed through in [`Error::Core`].
//!
//! # Example
//!
//! The shipped example site (`process-models/sites/example-site.toml`:
//! batch B01 of `training-data/cho-platform` replayed as if it arrived from
//! the historian, a mechanistic predictor on the CHO platform model) run
//! as `biotwin live --once` runs it, into a store kept in memory:
//!
//! ```
//! use std::sync::Arc;
//! use biotwin_live::config::SiteConfig;
//! use biotwin_live::engine::{Engine, EngineOptions, open_source};
//! use biotwin_live::factory::SiteFactory;
//! use biotwin_live::mechanistic::MechanisticOptions;
//! use biotwin_live::memory_store::MemoryStore;
//! use biotwin_live::{Store, audit};
//!
//! let site = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
//!     .join("../../process-models/sites/example-site.toml");
//! let cfg = Arc::new(SiteConfig::read(&site)?);
//! let store = Arc::new(MemoryStore::new());
//! let mut sources = Vec::new();
//! for s in &cfg.sources {
//!     // Speed 0: replayed as fast as possible.
//!     sources.push((open_source(s, 0.0)?, s.unit.clone()));
//! }
//! let factory = Arc::new(SiteFactory::new(&cfg.file, MechanisticOptions::default()));
//! let opts = EngineOptions { progress_every: None, ..EngineOptions::default() };
//! let mut engine = Engine::new(cfg.clone(), store.clone(), factory, sources, opts);
//! engine.start()?;
//! let stats = engine.run(true)?.clone();
//!
//! let b = &cfg.batches[0];
//! let duration_s = b.planned_end_unix_s - b.start_unix_s;
//! let preds = store.predictions("sponsor-a", "B01")?;
//! assert!(preds.len() >= 2 && preds.len() as u64 == stats.predictions_new);
//! for (k, p) in preds.iter().enumerate() {
//!     assert_eq!(p.seq, k as u64);
//!     // Forecast k holds at (k + 1) × forecast_every_s of batch time, the
//!     // last at the planned end.
//!     let t = ((k + 1) as f64 * cfg.forecast_every_s).min(duration_s);
//!     assert_eq!(p.forecast.time_s, t);
//!     for c in &p.forecast.cqas {
//!         assert!(c.p05 <= c.mean && c.mean <= c.p95, "{}", c.name);
//!     }
//! }
//! // The export reaches the planned end: the batch is finished.
//! assert!(store.batch("sponsor-a", "B01")?.is_some_and(|b| b.finished));
//! assert_eq!(stats.batches_finished, 1);
//! // Another tenant sees nothing of sponsor-a's batch.
//! assert!(store.batches("sponsor-b")?.is_empty());
//! // The audit trail (configuration, batch start and end, ...) is an
//! // intact hash chain.
//! audit::verify(&store.audit()?).unwrap();
//! # Ok::<(), biotwin_live::Error>(())
//! ```

#![warn(missing_docs)]

// Modules of the live stages go below this line.
pub mod audit;
pub mod batch_context;
pub mod config;
pub mod engine;
pub mod error;
pub mod factory;
pub mod indpensim;
pub mod leases;
pub mod ledger;
pub mod mapping;
pub mod mechanistic;
pub mod memory_store;
pub mod opcua;
pub mod opened;
pub mod pg_lease;
pub mod pg_store;
pub mod replay;
pub mod rows;
pub mod sqlite_store;
pub mod store_copy;
#[doc(hidden)]
pub mod store_suite;
pub mod surrogate;
pub mod tail;
pub mod trend;
pub mod users;
pub mod web;

pub use error::{Error, Result};

use serde::{Deserialize, Serialize};

/// Historian quality of a reading (OPC UA status code classes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Quality {
    /// Valid: the value is used.
    Good,
    /// Of doubtful validity (OPC UA "uncertain"): refused by the mapping as
    /// `bad_quality`, like `Bad`.
    Uncertain,
    /// Invalid (a sensor fault, a value the historian marked bad): refused as
    /// `bad_quality`.
    Bad,
}

/// One value of one historian tag, as received.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    /// Historian tag name, as the source delivers it (mapped to a model
    /// variable by the site configuration).
    pub tag: String,
    /// When the value was measured (for a lab tag: when the sample was drawn),
    /// Unix seconds, UTC.
    pub time_unix_s: f64,
    /// When the value became available, if the source says so (lab results
    /// arrive hours after their sample). `None`: at `time_unix_s`.
    pub available_unix_s: Option<f64>,
    /// Value in the tag's own unit (the site configuration converts it).
    pub value: f64,
    /// Historian quality of the value.
    pub quality: Quality,
}

/// What a source has for the caller right now.
#[derive(Debug, Clone, PartialEq)]
pub enum Poll {
    /// Readings in the order received (not necessarily in time order).
    Readings(Vec<Reading>),
    /// Nothing now; more may come (a followed file, a live subscription).
    Idle,
    /// The source is exhausted (the end of a replayed export).
    End,
}

/// A stream of historian readings.
pub trait Source: Send {
    /// A short description for logs and records (`replay:path`, `opc.tcp://…`).
    fn describe(&self) -> String;
    /// Next readings; returns at once (`Poll::Idle` when nothing is due):
    /// the engine polls every source in turn, and one that waited inside
    /// `poll` would hold up all the others (and, before leases had a
    /// thread of their own, the takeover of a dead worker's batches).
    fn poll(&mut self) -> Result<Poll, crate::Error>;
    /// How long until this source has a reading due, where it knows (a
    /// paced replay); `None`: unknown (the engine polls again within
    /// 100 ms). The engine sleeps once a round until the earliest.
    fn due_in(&self) -> Option<std::time::Duration> {
        None
    }
    /// Rows of the input that could not be read as readings at all (no
    /// parsable time or value), counted so that none vanish silently.
    fn malformed_rows(&self) -> u64 {
        0
    }
    /// For a source read from a damaged file accepted in part (the site
    /// file's `accept_partial = true`): what was lost. The engine records it
    /// in the audit trail (`source.partial`) and prints it.
    fn partial(&self) -> Option<String> {
        None
    }
}

/// A measurement of one model variable of one batch, in SI.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    /// Model variable name (as in the model's output columns or a dataset's
    /// tag map, e.g. `xv`, `glucose`, `penicillin`).
    pub variable: String,
    /// Seconds since the batch start at which the value holds (sample time).
    pub time_s: f64,
    /// Seconds since the batch start at which it became known (>= time_s).
    pub available_s: f64,
    /// Value in the variable's SI unit.
    pub value_si: f64,
}

/// Forecast of one end-of-batch quality attribute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CqaForecast {
    /// Name with unit, as the model reports it (`titer_g_per_l`).
    pub name: String,
    /// Mean of the forecast distribution, in the unit `name` states.
    pub mean: f64,
    /// 5 % and 95 % quantiles: the 90 % prediction interval.
    pub p05: f64,
    /// 95 % quantile (see `p05`).
    pub p95: f64,
    /// Specification limits, where the site's spec file has them.
    pub lower_spec: Option<f64>,
    /// Upper specification limit (lower: `lower_spec`).
    pub upper_spec: Option<f64>,
    /// Probability of being within specification; `None` without limits.
    pub p_in_spec: Option<f64>,
}

/// One forecast of a batch's end: what the predictor believed at `time_s`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Forecast {
    /// Seconds since the batch start of the latest assimilated information.
    pub time_s: f64,
    /// One forecast per end-of-batch quality attribute the model reports.
    pub cqas: Vec<CqaForecast>,
    /// Current state estimate, (output column, mean, sd), for trajectories
    /// and the web page.
    pub state: Vec<(String, f64, f64)>,
}

/// An end-of-batch estimator for one running batch.
pub trait Predictor: Send {
    /// Model id and version that make the forecasts (for the record).
    fn model_id(&self) -> String;
    /// Where the model came from, for the audit trail at batch start: for a
    /// mechanistic predictor the kinetic model's id, version, source (a
    /// path, or `registry:<dir>/<id>`) and sha256. `None`: nothing beyond
    /// `model_id`.
    fn model_provenance(&self) -> Option<biotwin_core::simulation::model_source::ModelProvenance> {
        None
    }
    /// The text of a loose model file the batch names (`live --model FILE`,
    /// a site file's `model = "PATH"`), stored by the engine at the batch's
    /// start (audit `model.stored`, once per sha256) so that a resumed batch
    /// runs the stored copy, not whatever the file holds then. `None`: the
    /// model is not such a file.
    fn model_file_text(&self) -> Option<&str> {
        None
    }
    /// The batch's recipe as the predictor runs it (feeds, shifts), for the
    /// markers of the batch view (recorded in `batch.started`, see
    /// [`batch_context`]). `None`: the predictor has no recipe (a
    /// surrogate, the trend predictor of the tests).
    fn recipe(&self) -> Option<&biotwin_core::definition::recipe::Recipe> {
        None
    }
    /// Takes one observation; one that arrives late (its `time_s` before
    /// observations already taken) is still used at its sample time.
    /// Returns `false` when the variable is not one the predictor uses.
    fn assimilate(&mut self, obs: &Observation) -> Result<bool, crate::Error>;
    /// Forecast with all information assimilated so far, seeded so that the
    /// same inputs give the same forecast.
    fn forecast(&mut self, seed: u64) -> Result<Forecast, crate::Error>;
}

/// A sponsor: its batches are visible only with its own token.
pub type TenantId = String;

/// A batch as the store knows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchInfo {
    /// Sponsor the batch belongs to.
    pub tenant: TenantId,
    /// Batch identifier, unique within its tenant.
    pub batch_id: String,
    /// Production unit (bioreactor) it runs on.
    pub unit: String,
    /// Batch start, Unix seconds (UTC): time zero of the batch's model time.
    pub start_unix_s: f64,
    /// Planned (or actual, once finished) end.
    pub end_unix_s: f64,
    /// `true` once the batch has ended (no more forecasts are made).
    pub finished: bool,
}

/// One recorded forecast: who made it from what.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictionRecord {
    /// Sponsor the batch belongs to.
    pub tenant: TenantId,
    /// Batch the forecast is of.
    pub batch_id: String,
    /// Position in the batch's prediction sequence, 0, 1, 2, ...: with
    /// (tenant, batch_id) the record's identity, so a replay after a crash
    /// cannot insert it twice.
    pub seq: u64,
    /// Model id and version that made the forecast ([`Predictor::model_id`]).
    pub model_id: String,
    /// SHA-256 over the observations assimilated so far (canonical JSON,
    /// in the order assimilated): the input data of this prediction.
    pub input_sha256: String,
    /// Wall-clock time the forecast was made, Unix seconds.
    pub created_unix_s: f64,
    /// The forecast itself.
    pub forecast: Forecast,
}

/// An alert: a CQA's probability of being in specification fell below the
/// configured level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertRecord {
    /// Sponsor the batch belongs to.
    pub tenant: TenantId,
    /// Batch the alert is of.
    pub batch_id: String,
    /// Name of the quality attribute ([`CqaForecast::name`]).
    pub cqa: String,
    /// Batch time of the forecast that first predicted it.
    pub first_predicted_s: f64,
    /// Probability of being in specification at `first_predicted_s`.
    pub p_in_spec: f64,
    /// Configured level it fell below (0 to 1).
    pub threshold: f64,
    /// User who acknowledged the alert; `None` while it is open.
    pub acknowledged_by: Option<String>,
}

/// One entry of the append-only, hash-chained audit trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Position in the trail, 0, 1, 2, ... (gapless).
    pub seq: u64,
    /// Wall-clock time of the entry, Unix seconds (UTC).
    pub time_unix_s: f64,
    /// Who acted (user name, or `biotwin-live` for the service itself).
    pub actor: String,
    /// `tenant` the action concerns, if any.
    pub tenant: Option<TenantId>,
    /// e.g. `config.loaded`, `model.promoted`, `alert.raised`, `alert.acknowledged`.
    pub action: String,
    /// What was done, as JSON (action-specific fields).
    pub detail: serde_json::Value,
    /// `sha256` of the previous entry ([`audit::GENESIS`] for the first).
    pub prev_sha256: String,
    /// SHA-256 of this entry's canonical JSON without this field.
    pub sha256: String,
}

/// Durable storage of live mode. Every method that writes is atomic and
/// idempotent on the record's identity, so a replay after a crash neither
/// loses nor duplicates anything. Every read is scoped to one tenant.
pub trait Store: Send + Sync {
    /// Inserts or replaces the batch (identity: tenant, batch id).
    fn upsert_batch(&self, batch: &BatchInfo) -> Result<(), crate::Error>;
    /// Records raw readings of a batch (received data); duplicates of the
    /// same (tag, time, value) are kept once.
    fn insert_readings(
        &self,
        tenant: &str,
        batch_id: &str,
        readings: &[Reading],
    ) -> Result<(), crate::Error>;
    /// [`insert_readings`](Self::insert_readings) of several batches
    /// (tenant, batch id, readings): one write where the store can (the
    /// PostgreSQL store commits them as one transaction: group commit), so
    /// a poll of many units costs one commit. Default: one write per batch.
    fn insert_readings_many(
        &self,
        groups: &[(&str, &str, &[Reading])],
    ) -> Result<(), crate::Error> {
        for (tenant, batch_id, rs) in groups {
            self.insert_readings(tenant, batch_id, rs)?;
        }
        Ok(())
    }
    /// Inserts a prediction unless (tenant, batch, seq) exists; returns
    /// whether it was new.
    fn insert_prediction(&self, p: &PredictionRecord) -> Result<bool, crate::Error>;
    /// [`insert_prediction`](Self::insert_prediction) of several records,
    /// one write where the store can (PostgreSQL: one transaction, group
    /// commit); whether each was new. Default: one write each.
    fn insert_predictions_many(&self, ps: &[PredictionRecord]) -> Result<Vec<bool>, crate::Error> {
        ps.iter().map(|p| self.insert_prediction(p)).collect()
    }
    /// Inserts an alert unless (tenant, batch, cqa) has one; returns whether
    /// it was new.
    fn insert_alert(&self, a: &AlertRecord) -> Result<bool, crate::Error>;
    /// Appends to the audit trail, computing seq and hashes.
    fn append_audit(
        &self,
        actor: &str,
        tenant: Option<&str>,
        action: &str,
        detail: serde_json::Value,
    ) -> Result<AuditEntry, crate::Error>;

    /// This tenant's batches.
    fn batches(&self, tenant: &str) -> Result<Vec<BatchInfo>, crate::Error>;
    /// `None` when the batch does not exist *for this tenant*.
    fn batch(&self, tenant: &str, batch_id: &str) -> Result<Option<BatchInfo>, crate::Error>;
    /// All readings of a batch in received order; empty when the batch does
    /// not exist for this tenant.
    fn readings(&self, tenant: &str, batch_id: &str) -> Result<Vec<Reading>, crate::Error>;
    /// When the batch's last data arrived: the latest finite result time
    /// of its readings (a reading's time stamp where it has no result
    /// time); `None` without one. What `/api/batches/{id}` shows as data
    /// freshness; a store may answer it without reading every reading.
    fn last_data_unix_s(&self, tenant: &str, batch_id: &str) -> Result<Option<f64>, crate::Error> {
        Ok(self
            .readings(tenant, batch_id)?
            .iter()
            .map(|r| r.available_unix_s.unwrap_or(r.time_unix_s))
            .filter(|v| v.is_finite())
            .reduce(f64::max))
    }
    /// One page of a batch's readings in received order (only `tag`'s when
    /// given), and how many there are in all: what the web API answers, so
    /// that no request holds a whole batch in memory.
    fn readings_page(
        &self,
        tenant: &str,
        batch_id: &str,
        tag: Option<&str>,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<Reading>, usize), crate::Error> {
        let all: Vec<Reading> = self
            .readings(tenant, batch_id)?
            .into_iter()
            .filter(|r| tag.is_none_or(|t| r.tag == t))
            .collect();
        let total = all.len();
        Ok((all.into_iter().skip(offset).take(limit).collect(), total))
    }
    /// A batch's predictions by seq. A stored record that cannot be read
    /// back (a corrupt row) is reported on stderr and skipped, so one bad
    /// row does not take the whole list with it (`audit verify` names it).
    fn predictions(
        &self,
        tenant: &str,
        batch_id: &str,
    ) -> Result<Vec<PredictionRecord>, crate::Error>;
    /// This tenant's alerts.
    fn alerts(&self, tenant: &str) -> Result<Vec<AlertRecord>, crate::Error>;
    /// Marks the alert (tenant, batch, cqa) acknowledged by `user`; returns
    /// whether such an alert existed.
    fn acknowledge_alert(
        &self,
        tenant: &str,
        batch_id: &str,
        cqa: &str,
        user: &str,
    ) -> Result<bool, crate::Error>;
    /// Acknowledges an alert as `user` and appends its audit entry (actor,
    /// action, and the detail `detail` makes of the acknowledged record)
    /// as one write where the store can: a crash never leaves an alert
    /// acknowledged without its (signature) entry. `None` when this tenant
    /// has no such alert. The default is two writes (stores without
    /// transactions); the SQLite store overrides it with one.
    #[allow(clippy::too_many_arguments)]
    fn acknowledge_alert_audited(
        &self,
        tenant: &str,
        batch_id: &str,
        cqa: &str,
        user: &str,
        actor: &str,
        action: &str,
        detail: &dyn Fn(&AlertRecord) -> serde_json::Value,
    ) -> Result<Option<(AlertRecord, AuditEntry)>, crate::Error> {
        if !self.acknowledge_alert(tenant, batch_id, cqa, user)? {
            return Ok(None);
        }
        let Some(a) = self
            .alerts(tenant)?
            .into_iter()
            .find(|a| a.batch_id == batch_id && a.cqa == cqa)
        else {
            return Ok(None);
        };
        let e = self.append_audit(actor, Some(tenant), action, detail(&a))?;
        Ok(Some((a, e)))
    }
    /// The whole audit trail, in order (for `biotwin audit verify`).
    fn audit(&self) -> Result<Vec<AuditEntry>, crate::Error>;
    /// User accounts, where the store keeps them (the SQLite store does;
    /// without them only the tenants' shared tokens open the page, read-only).
    fn accounts(&self) -> Option<&dyn users::Accounts> {
        None
    }
}
