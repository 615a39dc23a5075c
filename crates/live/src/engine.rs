//! The live engine: sources in, readings stored, observations mapped and
//! assimilated, forecasts and alerts recorded.
//!
//! Determinism is what makes crash recovery exact. Everything a batch does
//! is a function of the sequence of readings routed to it, in the order
//! received:
//! * each reading is stored first (received data), then mapped;
//! * accepted observations wait in a queue and are assimilated in order of
//!   the time they became available (a lab result enters at its result time,
//!   with its sample time, as an out-of-sequence update);
//! * the batch clock is the newest online sample time; whenever it moves
//!   strictly past the next forecast time `T = (seq + 1) * forecast_every_s`
//!   (or reaches the planned end), every queued observation available by `T`
//!   is assimilated and forecast `seq` is made, seeded from (tenant, batch)
//!   — one seed for every forecast of a batch (common random numbers) —
//!   with the SHA-256 of the observations assimilated so far; on resume a
//!   re-made step raises alerts from its stored prediction;
//!   between forecasts, observations available strictly before the clock
//!   are assimilated as they come;
//! * so forecasts do not depend on how the readings were chunked or
//!   interleaved, provided the source hands them on in order of sample time
//!   (an export) or of availability (a subscription: the OPC UA source
//!   restores the server's order): either way every reading available by `T`
//!   has come before the first online reading sampled after `T`. Equal
//!   availability is ordered by sample time, variable and value, not arrival;
//! * at the planned end the last forecast is made and the batch finished.
//!
//! On start, a batch that is in the store and not finished is rebuilt by
//! running its stored readings (in received order) through the same steps:
//! the forecasts it re-makes are identical and the store ignores them
//! (idempotent on seq); a source that replays from its beginning re-sends
//! readings that are now duplicates and refused as such. So a run killed at
//! any point and restarted records every prediction exactly once, the same
//! set as an uninterrupted run.
//!
//! A source whose poll fails is retried with exponential backoff; the error
//! is logged, never fatal. A store failure is fatal: nothing may be assimilated
//! that is not recorded.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::config::{BatchConfig, SiteConfig};
use super::mapping::{BatchMapper, Rejection, RejectionCounts};
use super::{
    AlertRecord, BatchInfo, Observation, Poll, PredictionRecord, Predictor, Reading, Source, Store,
};
use crate::Error;

/// A reading due this soon counts as available now for `run(once)`.
const PACE_SLACK: Duration = Duration::from_millis(50);

/// Most readings one group-commit transaction writes (leased workers).
const WRITE_CHUNK: usize = 20_000;

/// Actor name of the service in the audit trail.
pub const ACTOR: &str = "biotwin-live";

/// Makes the predictor of one batch (mechanistic, surrogate, ...).
pub trait PredictorFactory: Send + Sync {
    /// The predictor of a batch starting now; an error when its process file,
    /// model or surrogate cannot be loaded (the engine then records nothing).
    fn create(&self, batch: &BatchConfig) -> Result<Box<dyn Predictor>, Error>;
    /// The predictor of a batch resumed after a restart: `started` is the
    /// model provenance recorded when the batch started (`batch.started`),
    /// so that a batch keeps the model it started with even if another
    /// version has been promoted since. Default: [`create`](Self::create).
    fn create_resumed(
        &self,
        batch: &BatchConfig,
        started: Option<&StartedModel>,
    ) -> Result<Box<dyn Predictor>, Error> {
        let _ = started;
        self.create(batch)
    }
}

/// What the audit trail says about the model a batch started with.
#[derive(Debug, Clone, PartialEq)]
pub struct StartedModel {
    /// The provenance recorded in `batch.started` (`model`).
    pub provenance: biotwin_core::simulation::model_source::ModelProvenance,
    /// Whether it was a model file the batch named (`model_from_file` of
    /// `batch.started`); `None` in a record written before the flag was.
    pub from_file: Option<bool>,
    /// The model file's text as stored at the batch's start (audit
    /// `model.stored` with the provenance's sha256); `None` when none was
    /// stored (not a file, or a store written before texts were).
    pub text: Option<String>,
}

/// Tunables that are not site configuration.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Print a status line to stderr at most this often (`None`: quiet).
    pub progress_every: Option<Duration>,
    /// First retry delay after a source error; doubles up to `retry_max`.
    pub retry_base: Duration,
    /// Longest retry delay after repeated source errors.
    pub retry_max: Duration,
    /// Consecutive failures after which `run_once` gives a source up
    /// (a continuous run never does).
    pub once_max_failures: u32,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            progress_every: Some(Duration::from_secs(5)),
            retry_base: Duration::from_millis(200),
            retry_max: Duration::from_secs(30),
            once_max_failures: 8,
        }
    }
}

/// Counts of a run, for the summary and the tests.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    /// Readings received from all sources.
    pub readings_received: u64,
    /// Rows a source could not read as readings at all.
    pub malformed_rows: u64,
    /// Mapped observations accepted (not refused).
    pub observations_accepted: u64,
    /// Observations a predictor has assimilated.
    pub observations_assimilated: u64,
    /// Accepted observations of a variable the predictor does not use.
    pub observations_unused: u64,
    /// Readings refused, by reason (see [`Rejection`]).
    pub rejections: RejectionCounts,
    /// Forecasts recorded for the first time.
    pub predictions_new: u64,
    /// Predictions re-made on resume that the store already had.
    pub predictions_existing: u64,
    /// Alerts raised for the first time.
    pub alerts_new: u64,
    /// Forecasts or assimilations that failed (the batch goes on; the error is
    /// logged).
    pub predictor_errors: u64,
    /// Failed polls of a source (retried with backoff).
    pub source_errors: u64,
    /// Readings re-run from the store when resuming.
    pub readings_resumed: u64,
    /// Batches whose planned end was reached in this run.
    pub batches_finished: u64,
    /// Readings of batches that finished in an earlier run (a replay of a
    /// finished batch): stored once, nothing more to do — not rejections.
    pub readings_already_processed: u64,
    /// Those batches.
    pub finished_earlier: Vec<String>,
    /// With batch leases: readings of batches another worker holds (or no
    /// one yet): neither stored nor used here (their holder stores them; a
    /// worker that acquires a batch re-reads its sources).
    pub readings_not_leased: u64,
    /// With batch leases: leases acquired and lost (taken over, expired or
    /// released to balance the load).
    pub leases_acquired: u64,
    /// Leases lost (taken over, expired or released).
    pub leases_lost: u64,
    /// `batch/tag` of tags that stopped reporting (beyond `stale_after_s`).
    pub stale_tags: Vec<String>,
}

impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "readings received {}, accepted {}, assimilated {}, unused variable {}, malformed rows {}",
            self.readings_received,
            self.observations_accepted,
            self.observations_assimilated,
            self.observations_unused,
            self.malformed_rows
        )?;
        if self.readings_already_processed > 0 {
            writeln!(
                f,
                "already processed: {} readings of batch{} {}, which finished in an earlier run: stored, not assimilated",
                self.readings_already_processed,
                if self.finished_earlier.len() == 1 {
                    ""
                } else {
                    "es"
                },
                self.finished_earlier.join(", ")
            )?;
        }
        if self.leases_acquired > 0 || self.readings_not_leased > 0 {
            writeln!(
                f,
                "batch leases: acquired {}, lost {}; readings of batches leased elsewhere {} (stored by their holder)",
                self.leases_acquired, self.leases_lost, self.readings_not_leased
            )?;
        }
        write!(f, "rejected {}", self.rejections.total())?;
        for (k, v) in &self.rejections.0 {
            write!(f, ", {k} {v}")?;
        }
        writeln!(f)?;
        write!(
            f,
            "predictions new {}, already stored {}; alerts {}; predictor errors {}; source errors {}; resumed readings {}; batches finished {}",
            self.predictions_new,
            self.predictions_existing,
            self.alerts_new,
            self.predictor_errors,
            self.source_errors,
            self.readings_resumed,
            self.batches_finished
        )
    }
}

struct Pending {
    obs: Observation,
    arrival: u64,
}

/// One running batch.
struct BatchRun {
    cfg: BatchConfig,
    predictor: Box<dyn Predictor>,
    mapper: BatchMapper,
    pending: Vec<Pending>,
    arrivals: u64,
    /// Running SHA-256 over the canonical JSON of assimilated observations.
    inputs: Sha256,
    seq: u64,
    finished: bool,
    stale_reported: Vec<String>,
    /// On resume, the stored forecasts by seq: a step re-made on resume
    /// raises alerts from what was recorded, not from its re-made forecast
    /// (which differs from the record if the forecast's seed scheme or
    /// model changed across an upgrade), so an alert always cites a
    /// stored prediction that supports it. Drained as the steps are re-made.
    stored_forecasts: BTreeMap<u64, crate::Forecast>,
}

struct SourceSlot {
    source: Box<dyn Source>,
    unit: String,
    failures: u32,
    retry_at: Option<Instant>,
    ended: bool,
    malformed_seen: u64,
    /// Whether it has handed out anything (a source re-read for an
    /// acquired batch is reopened only if so).
    delivered: bool,
}

/// Reopens source `i` of the engine (in the order given to
/// [`Engine::new`]) from its beginning, for a batch whose lease was just
/// acquired.
pub type Reopen = Box<dyn FnMut(usize) -> Result<Box<dyn Source>, Error> + Send>;

/// What one round of polling did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepOutcome {
    /// Readings the sources handed on in this round.
    pub readings: usize,
    /// Every source has ended (or was given up).
    pub all_ended: bool,
    /// Some source is waiting to retry after an error.
    pub retrying: bool,
}

/// The live engine of one site: polls its sources, stores every reading,
/// maps and assimilates observations per batch, makes forecasts at the
/// site's interval and records predictions, alerts and audit entries in the
/// store (see the module documentation for the order of events and why a
/// restart re-makes nothing twice).
///
/// Errors: a store failure or a predictor that cannot be made at start is
/// an error of the call; a source error is retried, never fatal.
pub struct Engine {
    cfg: Arc<SiteConfig>,
    store: Arc<dyn Store>,
    factory: Arc<dyn PredictorFactory>,
    sources: Vec<SourceSlot>,
    /// By batch id.
    runs: BTreeMap<String, BatchRun>,
    opts: EngineOptions,
    stats: Stats,
    last_progress: Instant,
    leases: Option<crate::leases::LeaseKeeper>,
    reopen: Option<Reopen>,
    /// Orphaned leases at the last tick.
    lease_orphans: u64,
    /// With leases: predictions made in this round, written together at
    /// its end ([`Engine::flush`]) or before a batch is marked finished.
    buffered: Vec<PredictionRecord>,
    /// (tenant, sha256) of the model texts this engine stored (audit
    /// `model.stored`) since its audit snapshot: each text once per tenant
    /// and engine (two PostgreSQL workers starting batches on the same
    /// file at the same moment may each store it; the reader takes the
    /// first copy, whose hash it checks).
    stored_models: std::collections::BTreeSet<(String, String)>,
}

impl Engine {
    /// An engine over `sources`, each paired with the production unit whose
    /// tags it carries. Nothing happens until [`Engine::start`].
    pub fn new(
        cfg: Arc<SiteConfig>,
        store: Arc<dyn Store>,
        factory: Arc<dyn PredictorFactory>,
        sources: Vec<(Box<dyn Source>, String)>,
        opts: EngineOptions,
    ) -> Self {
        Engine {
            cfg,
            store,
            factory,
            sources: sources
                .into_iter()
                .map(|(source, unit)| SourceSlot {
                    source,
                    unit,
                    failures: 0,
                    retry_at: None,
                    ended: false,
                    malformed_seen: 0,
                    delivered: false,
                })
                .collect(),
            runs: BTreeMap::new(),
            opts,
            stats: Stats::default(),
            last_progress: Instant::now(),
            leases: None,
            reopen: None,
            lease_orphans: 0,
            buffered: Vec::new(),
            stored_models: Default::default(),
        }
    }

    /// One of several active workers of a site: this engine runs only the
    /// batches whose lease it holds ([`crate::leases`]), starting each as
    /// it acquires it (resumed from the store, its sources re-read with
    /// `reopen`) and dropping each it loses. Readings of other batches are
    /// counted ([`Stats::readings_not_leased`]), not stored. The leases
    /// are kept by a thread of their own from [`Engine::start`] on
    /// ([`crate::leases::LeaseKeeper`]); each round starts by taking its
    /// changes.
    pub fn with_leases(
        mut self,
        leases: Box<dyn crate::leases::BatchLeases>,
        reopen: Reopen,
    ) -> Self {
        self.leases = Some(crate::leases::LeaseKeeper::new(leases));
        self.reopen = Some(reopen);
        self
    }

    /// Batch ids this engine runs now (with leases: holds).
    pub fn running(&self) -> Vec<String> {
        self.runs.keys().cloned().collect()
    }

    /// Counts of the run so far.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Records the configuration, registers new batches and resumes the
    /// unfinished ones from their stored readings.
    pub fn start(&mut self) -> Result<(), Error> {
        let cfg = self.cfg.clone();
        // Every predictor is made before anything is recorded, so a site
        // whose models cannot be built leaves no trace but the error.
        let mut made = Vec::new();
        let audit = self.store.audit()?;
        let leased = self.leases.is_some();
        for b in &cfg.batches {
            let known = self.store.batch(&b.tenant, &b.id)?;
            if known.as_ref().is_some_and(|k| k.finished) {
                self.stats.finished_earlier.push(b.id.clone());
                continue;
            }
            if leased {
                // Started as their leases are acquired.
                continue;
            }
            let predictor = self.make_predictor(b, known.as_ref(), &audit)?;
            made.push((b, known, predictor));
        }
        // A configuration change is an audited action: the hash of the
        // site file is compared with the one recorded at the last start.
        let previous = audit
            .iter()
            .rev()
            .find(|e| e.action == "config.loaded")
            .and_then(|e| e.detail.get("sha256")?.as_str().map(str::to_string));
        if let Some(prev) = previous.filter(|p| *p != cfg.sha256) {
            self.store.append_audit(
                ACTOR,
                None,
                "config.changed",
                serde_json::json!({
                    "site": cfg.name,
                    "file": cfg.file.display().to_string(),
                    "previous_sha256": prev,
                    "sha256": cfg.sha256,
                }),
            )?;
        }
        // A damaged export accepted in part (accept_partial = true) is a
        // record of its own: what was kept and what was lost.
        for slot in &self.sources {
            if let Some(why) = slot.source.partial() {
                eprintln!("live: WARNING: partial export accepted: {why}");
                self.store.append_audit(
                    ACTOR,
                    None,
                    "source.partial",
                    serde_json::json!({
                        "source": slot.source.describe(),
                        "unit": slot.unit,
                        "what": why,
                    }),
                )?;
            }
        }
        self.store.append_audit(
            ACTOR,
            None,
            "config.loaded",
            serde_json::json!({
                "site": cfg.name,
                "file": cfg.file.display().to_string(),
                "sha256": cfg.sha256,
                "batches": cfg.batches.iter().map(|b| &b.id).collect::<Vec<_>>(),
                "forecast_every_s": cfg.forecast_every_s,
            }),
        )?;
        for (b, known, predictor) in made {
            let run = self.open_run(b, known, predictor, &audit)?;
            self.runs.insert(b.id.clone(), run);
        }
        if leased {
            let keys: Vec<crate::leases::BatchKey> = cfg
                .batches
                .iter()
                .filter(|b| !self.stats.finished_earlier.contains(&b.id))
                .map(|b| (b.tenant.clone(), b.id.clone()))
                .collect();
            if let Some(l) = self.leases.as_mut() {
                eprintln!("live: worker {} of site {}", l.worker(), cfg.name);
                l.with(|l| l.register(&keys))??;
                // The lease thread first: starting the batches of the first
                // tick (each resumed from the store) may outlast a lease.
                l.spawn()?;
            }
            self.lease_tick_now()?;
            if let Some(l) = self.leases.as_ref() {
                l.idle();
            }
        }
        Ok(())
    }

    /// The predictor of batch `b`: new, or (known to the store) the model
    /// it started with.
    fn make_predictor(
        &self,
        b: &BatchConfig,
        known: Option<&BatchInfo>,
        audit: &[crate::AuditEntry],
    ) -> Result<Box<dyn Predictor>, Error> {
        Ok(match known {
            None => self.factory.create(b)?,
            Some(_) => {
                let started = started_model(audit, &b.tenant, &b.id).map_err(|e| {
                    Error::config(
                        &self.cfg.file,
                        format!("batches.{}", b.id),
                        "a batch whose recorded model (audit `batch.started`) can be read",
                        e,
                    )
                })?;
                self.factory.create_resumed(b, started.as_ref())?
            }
        })
    }

    /// Starts batch `b` (`known`: as the store has it): a new one is
    /// recorded (`batch.started`), a known one resumed from its stored
    /// readings.
    fn open_run(
        &mut self,
        b: &BatchConfig,
        known: Option<BatchInfo>,
        predictor: Box<dyn Predictor>,
        audit: &[crate::AuditEntry],
    ) -> Result<BatchRun, Error> {
        let mut run = BatchRun {
            cfg: b.clone(),
            predictor,
            mapper: BatchMapper::new(b),
            pending: Vec::new(),
            arrivals: 0,
            inputs: Sha256::new(),
            seq: 0,
            finished: false,
            stale_reported: Vec::new(),
            stored_forecasts: BTreeMap::new(),
        };
        if known.is_none() {
            // The batch row is written after `batch.started` (below): a
            // process stopped between the two leaves no row, so the restart
            // starts the batch again on its configured model and records it
            // (a second `batch.started`, the later one counts) — never a
            // row without a start record, which would resume on the
            // process file's own model without a word.
            let provenance = run.predictor.model_provenance();
            // A loose model file's text is stored (once per sha256) before
            // the batch is recorded as started on it: a restart resumes the
            // batch from this copy, whatever the file holds by then.
            let from_file = run.predictor.model_file_text().is_some();
            if let (Some(text), Some(p)) = (run.predictor.model_file_text(), &provenance)
                && !self
                    .stored_models
                    .contains(&(b.tenant.clone(), p.sha256.clone()))
                && stored_model_text(audit, &b.tenant, &p.sha256).is_none()
            {
                self.store.append_audit(
                    ACTOR,
                    Some(&b.tenant),
                    "model.stored",
                    serde_json::json!({
                        "sha256": p.sha256, "source": p.source,
                        "id": p.id, "version": p.version, "text": text,
                    }),
                )?;
                self.stored_models
                    .insert((b.tenant.clone(), p.sha256.clone()));
            }
            // The recipe's feeds and shifts and the tags, for the batch view.
            let recipe = run.predictor.recipe();
            let plan = crate::batch_context::BatchContext {
                recipe_known: recipe.is_some(),
                markers: recipe
                    .map(crate::batch_context::markers)
                    .unwrap_or_default(),
                tags: self
                    .cfg
                    .tags
                    .values()
                    .map(crate::batch_context::TagRecord::of)
                    .collect(),
            };
            self.store.append_audit(
                ACTOR,
                Some(&b.tenant),
                "batch.started",
                serde_json::json!({
                    "batch": b.id, "unit": b.unit, "predictor": b.predictor,
                    "model_id": run.predictor.model_id(),
                    "model": provenance,
                    "model_reference": b.model,
                    "model_from_file": from_file,
                    "model_sealed": provenance.as_ref().is_some_and(|p| {
                        biotwin_ml::registry::mechanistic::registry_source(&p.source).is_some()
                    }),
                    "plan": plan,
                }),
            )?;
            self.store.upsert_batch(&batch_info(b, false))?;
            // A registry model's promotion (or an edit of a model file
            // the batches name) is picked up here, at a batch's start:
            // recorded when the model (source and content hash) differs
            // from the one the tenant's previous batch on the same
            // reference got.
            if let (Some(p), Some(reference)) = (&provenance, &b.model) {
                let before = audit
                    .iter()
                    .rev()
                    .filter(|e| {
                        e.action == "batch.started"
                            && e.tenant.as_deref() == Some(b.tenant.as_str())
                            && e.detail.get("batch").and_then(|v| v.as_str()) != Some(b.id.as_str())
                    })
                    .find_map(|e| {
                        let m = e.detail.get("model")?;
                        (e.detail.get("model_reference")?.as_str()? == reference)
                            .then(|| {
                                Some((
                                    m.get("source")?.as_str()?.to_string(),
                                    m.get("sha256")?.as_str()?.to_string(),
                                ))
                            })
                            .flatten()
                    });
                if let Some((prev, prev_sha)) =
                    before.filter(|(s, h)| *s != p.source || *h != p.sha256)
                {
                    self.store.append_audit(
                        ACTOR,
                        Some(&b.tenant),
                        "model.changed",
                        serde_json::json!({
                            "batch": b.id, "model_reference": reference,
                            "previous": prev, "previous_sha256": prev_sha,
                            "now": p.source, "sha256": p.sha256,
                        }),
                    )?;
                }
            }
        } else {
            run.stored_forecasts = self
                .store
                .predictions(&b.tenant, &b.id)?
                .into_iter()
                .map(|p| (p.seq, p.forecast))
                .collect();
            let stored = self.store.readings(&b.tenant, &b.id)?;
            self.stats.readings_resumed += stored.len() as u64;
            for r in &stored {
                self.process(&mut run, r)?;
            }
            self.flush()?;
        }
        Ok(run)
    }

    /// Writes the buffered predictions (leased workers) in one write. A
    /// batch whose lease was lost meanwhile is dropped with its records
    /// (its new holder re-makes them); any other failure is fatal.
    pub fn flush(&mut self) -> Result<(), Error> {
        if self.buffered.is_empty() {
            return Ok(());
        }
        let mut recs = std::mem::take(&mut self.buffered);
        let new = match self.store.insert_predictions_many(&recs) {
            Ok(new) => new,
            Err(e) => {
                let mut batches: Vec<(String, String)> = recs
                    .iter()
                    .map(|r| (r.tenant.clone(), r.batch_id.clone()))
                    .collect();
                batches.sort();
                batches.dedup();
                let mut lost = Vec::new();
                for (t, b) in batches {
                    if self.lease_lost(&t, &b)? {
                        lost.push(b);
                    }
                }
                if lost.is_empty() {
                    return Err(e);
                }
                recs.retain(|r| !lost.contains(&r.batch_id));
                self.store.insert_predictions_many(&recs)?
            }
        };
        for n in new {
            if n {
                self.stats.predictions_new += 1;
            } else {
                self.stats.predictions_existing += 1;
            }
        }
        Ok(())
    }

    /// Readings of `unit` from outside: stored, then processed in order.
    pub fn ingest(&mut self, unit: &str, readings: &[Reading]) -> Result<(), Error> {
        self.ingest_many(&[(unit.to_string(), readings.to_vec())])
    }

    /// Readings of several units (unit, readings), e.g. one poll of every
    /// source: all stored in one write where the store can (group commit),
    /// then processed unit after unit, each in its order.
    pub fn ingest_many(&mut self, polled: &[(String, Vec<Reading>)]) -> Result<(), Error> {
        // Group by owning batch, keeping order, so each batch's readings are
        // stored before any is used.
        let mut owners: Vec<Vec<Option<String>>> = Vec::with_capacity(polled.len());
        let mut groups: BTreeMap<(String, String), Vec<Reading>> = BTreeMap::new();
        for (unit, readings) in polled {
            self.stats.readings_received += readings.len() as u64;
            let mut owner = Vec::with_capacity(readings.len());
            for r in readings {
                let b = self.cfg.batch_on(unit, r.time_unix_s);
                if let (Some(b), true) = (b, self.leases.is_some()) {
                    // Only the lease holder stores a batch's readings.
                    if !self.runs.contains_key(&b.id) {
                        if self.stats.finished_earlier.contains(&b.id) {
                            self.stats.readings_already_processed += 1;
                        } else {
                            self.stats.readings_not_leased += 1;
                        }
                        owner.push(None);
                        continue;
                    }
                }
                let key = match b {
                    Some(b) => (b.tenant.clone(), b.id.clone()),
                    // Received data of no batch: kept under the unit, visible to
                    // no tenant.
                    None => (String::new(), format!("unassigned:{unit}")),
                };
                groups.entry(key).or_default().push(r.clone());
                owner.push(Some(b.map_or_else(String::new, |b| b.id.clone())));
            }
            owners.push(owner);
        }
        // At most WRITE_CHUNK readings per transaction, renewing the
        // leases between chunks: a round of thousands of batches must not
        // outlast them.
        let write = |s: &mut Self, groups: &BTreeMap<(String, String), Vec<Reading>>| {
            let mut chunk: Vec<(&str, &str, &[Reading])> = Vec::new();
            let mut n = 0;
            for ((t, b), rs) in groups {
                chunk.push((t.as_str(), b.as_str(), rs.as_slice()));
                n += rs.len();
                if n >= WRITE_CHUNK {
                    s.store.insert_readings_many(&chunk)?;
                    s.beat();
                    chunk.clear();
                    n = 0;
                }
            }
            s.store.insert_readings_many(&chunk)
        };
        if let Err(e) = write(self, &groups) {
            // A batch whose lease was lost under us is dropped; the rest
            // is written again. Anything else is a store failure: fatal.
            let mut lost = false;
            for (t, b) in groups.keys().cloned().collect::<Vec<_>>() {
                if !t.is_empty() && self.lease_lost(&t, &b)? {
                    groups.remove(&(t, b));
                    lost = true;
                }
            }
            if !lost {
                return Err(e);
            }
            write(self, &groups)?;
        }
        for ((_, readings), owner) in polled.iter().zip(owners) {
            // A long round (many batches forecasting at once) is progress,
            // not a hang (the lease thread's watchdog).
            self.beat();
            for (r, b) in readings.iter().zip(owner) {
                let Some(id) = b else { continue };
                if id.is_empty() {
                    self.stats.rejections.add(Rejection::OutsideBatchWindow);
                    continue;
                }
                // A finished batch (or one not started by this engine) takes no
                // more model input; its readings are stored above.
                let Some(mut run) = self.runs.remove(&id) else {
                    if self.stats.finished_earlier.contains(&id) {
                        self.stats.readings_already_processed += 1;
                    } else if self.leases.is_some() {
                        self.stats.readings_not_leased += 1;
                    } else {
                        self.stats.rejections.add(Rejection::OutsideBatchWindow);
                    }
                    continue;
                };
                match self.process(&mut run, r) {
                    Ok(()) => {
                        self.runs.insert(id, run);
                    }
                    Err(e) => {
                        if !self.lease_lost(&run.cfg.tenant, &id)? {
                            self.runs.insert(id, run);
                            return Err(e);
                        }
                    }
                }
            }
        }
        self.flush()
    }

    /// With leases: whether this worker has lost the lease of batch `id`
    /// (after a write failed); if so the batch is dropped here (its new
    /// holder resumes it from the store). Without leases: never.
    fn lease_lost(&mut self, tenant: &str, id: &str) -> Result<bool, Error> {
        let Some(l) = self.leases.as_mut() else {
            return Ok(false);
        };
        if l.with(|l| l.still_holds(&(tenant.to_string(), id.to_string())))?? {
            return Ok(false);
        }
        eprintln!(
            "live: worker {}: lost the lease of batch {id} during a write; dropped here (its new holder resumes it from the store)",
            l.worker()
        );
        self.runs.remove(id);
        self.stats.leases_lost += 1;
        Ok(true)
    }

    /// With leases: tells the lease thread's watchdog that this engine is
    /// making progress (a long round or start-up is not a hang).
    fn beat(&self) {
        if let Some(l) = &self.leases {
            l.beat();
        }
    }

    /// With leases: applies the changes the lease thread made since the
    /// last call.
    fn lease_poll(&mut self) -> Result<(), Error> {
        let Some(l) = self.leases.as_ref() else {
            return Ok(());
        };
        for change in l.pending()? {
            self.apply_leases(change)?;
        }
        Ok(())
    }

    /// With leases: a tick now (heartbeat, renewal, balancing,
    /// acquisition), after the changes not yet applied.
    fn lease_tick_now(&mut self) -> Result<(), Error> {
        let Some(l) = self.leases.as_ref() else {
            return Ok(());
        };
        for change in l.tick_now()? {
            self.apply_leases(change)?;
        }
        Ok(())
    }

    /// Drops the batches lost, starts those acquired (resumed from the
    /// store) and re-reads their units' sources from the beginning.
    fn apply_leases(&mut self, change: crate::leases::LeaseChange) -> Result<(), Error> {
        let Some(l) = self.leases.as_ref() else {
            return Ok(());
        };
        let worker = l.worker().to_string();
        self.lease_orphans = change.orphans;
        for (_, id) in &change.lost {
            if let Some(run) = self.runs.remove(id) {
                self.stats.leases_lost += 1;
                if !run.finished {
                    eprintln!(
                        "live: worker {worker}: no longer holds batch {id} (taken over, expired, or released to balance {} workers)",
                        change.workers
                    );
                }
            }
        }
        if change.acquired.is_empty() {
            return Ok(());
        }
        let audit = self.store.audit()?;
        let cfg = self.cfg.clone();
        let mut units = std::collections::BTreeSet::new();
        for key in &change.acquired {
            // Starting hundreds of batches (each recorded, or resumed from
            // its stored readings) takes a while; the lease thread renews
            // meanwhile. A lease it finds lost is applied at the next
            // round; a write of it before then is refused by the fence.
            self.beat();
            if let Some(l) = self.leases.as_ref()
                && !l.with(|l| l.holds_now(key))?
            {
                continue;
            }
            let Some(b) = cfg
                .batches
                .iter()
                .find(|b| b.tenant == key.0 && b.id == key.1)
            else {
                continue;
            };
            self.stats.leases_acquired += 1;
            let known = self.store.batch(&b.tenant, &b.id)?;
            if known.as_ref().is_some_and(|k| k.finished) {
                if let Some(l) = self.leases.as_ref() {
                    l.with(|l| l.finished(key))?;
                }
                if !self.stats.finished_earlier.contains(&b.id) {
                    self.stats.finished_earlier.push(b.id.clone());
                }
                continue;
            }
            let predictor = self.make_predictor(b, known.as_ref(), &audit)?;
            match self.open_run(b, known, predictor, &audit) {
                Ok(run) => {
                    self.runs.insert(b.id.clone(), run);
                    units.insert(b.unit.clone());
                }
                Err(e) => {
                    if !self.lease_lost(&b.tenant, &b.id)? {
                        return Err(e);
                    }
                }
            }
        }
        for i in 0..self.sources.len() {
            if !units.contains(&self.sources[i].unit) || !self.sources[i].delivered {
                continue;
            }
            let Some(reopen) = self.reopen.as_mut() else {
                continue;
            };
            let source = reopen(i)?;
            let slot = &mut self.sources[i];
            slot.source = source;
            slot.ended = false;
            slot.failures = 0;
            slot.retry_at = None;
            slot.delivered = false;
            // `malformed_seen` stays: the re-read counts its rows again.
        }
        Ok(())
    }

    /// Map one reading of `run`, then assimilate and forecast as its clock
    /// allows.
    fn process(&mut self, run: &mut BatchRun, r: &Reading) -> Result<(), Error> {
        if run.finished {
            self.stats.rejections.add(Rejection::OutsideBatchWindow);
            return Ok(());
        }
        match run.mapper.map(&self.cfg.tags, r) {
            Ok(obs) => {
                self.stats.observations_accepted += 1;
                run.arrivals += 1;
                run.pending.push(Pending {
                    obs,
                    arrival: run.arrivals,
                });
            }
            Err(why) => {
                if why == Rejection::ConflictingDuplicate {
                    eprintln!(
                        "batch {}: tag {} at {} has two different values; {} refused (conflicting_duplicate), the first received is kept",
                        run.cfg.id,
                        r.tag,
                        biotwin_ml::data::timestamp::format_rfc3339(r.time_unix_s),
                        r.value
                    );
                }
                self.stats.rejections.add(why)
            }
        }
        self.advance(run)
    }

    fn advance(&mut self, run: &mut BatchRun) -> Result<(), Error> {
        let clock = run.mapper.clock_s();
        let duration = run.cfg.planned_end_unix_s - run.cfg.start_unix_s;
        loop {
            let t = ((run.seq + 1) as f64 * self.cfg.forecast_every_s).min(duration);
            // Only once the data has moved strictly past t: the readings
            // sampled at t itself (several tags, in any order) are then all
            // in. The planned end is the exception: nothing after it belongs
            // to the batch, so reaching it is enough.
            let ready = clock > t || (t >= duration && clock >= duration);
            if !ready {
                break;
            }
            self.assimilate_until(run, t, true);
            self.forecast(run)?;
            if t >= duration {
                self.finish(run)?;
                return Ok(());
            }
        }
        // Strictly before the clock: another reading available at the
        // clock's own time may still come, and must be assimilated in order.
        self.assimilate_until(run, clock, false);
        for tag in run.mapper.stale_tags(&self.cfg.tags) {
            if !run.stale_reported.contains(&tag) {
                eprintln!(
                    "batch {}: tag {tag} has not reported for longer than its stale_after_s",
                    run.cfg.id
                );
                self.stats.stale_tags.push(format!("{}/{tag}", run.cfg.id));
                run.stale_reported.push(tag);
            }
        }
        Ok(())
    }

    /// Assimilates queued observations available by batch time `t` (before
    /// it unless `inclusive`), in order of availability; ties by sample time,
    /// variable and value, so the order does not depend on how readings
    /// were chunked or interleaved on arrival (arrival breaks exact repeats).
    fn assimilate_until(&mut self, run: &mut BatchRun, t: f64, inclusive: bool) {
        let due = |p: &Pending| {
            if inclusive {
                p.obs.available_s <= t
            } else {
                p.obs.available_s < t
            }
        };
        if !run.pending.iter().any(due) {
            return;
        }
        run.pending.sort_by(|a, b| {
            a.obs
                .available_s
                .total_cmp(&b.obs.available_s)
                .then(a.obs.time_s.total_cmp(&b.obs.time_s))
                .then_with(|| a.obs.variable.cmp(&b.obs.variable))
                .then(a.obs.value_si.total_cmp(&b.obs.value_si))
                .then(a.arrival.cmp(&b.arrival))
        });
        let n = run.pending.iter().take_while(|p| due(p)).count();
        for p in run.pending.drain(..n) {
            match run.predictor.assimilate(&p.obs) {
                Ok(true) => {
                    self.stats.observations_assimilated += 1;
                    let json = serde_json::to_vec(&p.obs).unwrap_or_default();
                    run.inputs.update(&json);
                    run.inputs.update(b"\n");
                }
                Ok(false) => self.stats.observations_unused += 1,
                Err(e) => {
                    self.stats.predictor_errors += 1;
                    eprintln!(
                        "batch {}: observation {:?} not assimilated: {e}",
                        run.cfg.id, p.obs
                    );
                }
            }
        }
    }

    fn forecast(&mut self, run: &mut BatchRun) -> Result<(), Error> {
        let seq = run.seq;
        run.seq += 1;
        // Common random numbers: every forecast of a batch uses the batch's
        // one seed, so two forecasts differ only by what the predictor
        // learnt between them, not by a fresh draw (issue 16).
        let seed = seed_of(&run.cfg.tenant, &run.cfg.id);
        let forecast = match run.predictor.forecast(seed).and_then(finite) {
            Ok(f) => f,
            Err(e) => {
                self.stats.predictor_errors += 1;
                eprintln!("batch {}: forecast {seq} failed: {e}", run.cfg.id);
                return Ok(());
            }
        };
        let record = PredictionRecord {
            tenant: run.cfg.tenant.clone(),
            batch_id: run.cfg.id.clone(),
            seq,
            model_id: run.predictor.model_id(),
            input_sha256: hex::encode(run.inputs.clone().finalize()),
            created_unix_s: now_unix_s(),
            forecast,
        };
        if self.leases.is_some() {
            // Group commit: written with the round's others (before the
            // batch can be marked finished).
            self.buffered.push(record.clone());
        } else if self.store.insert_prediction(&record)? {
            self.stats.predictions_new += 1;
        } else {
            self.stats.predictions_existing += 1;
        }
        let threshold = self.cfg.p_in_spec_min;
        let recorded = run.stored_forecasts.remove(&seq);
        let judged = recorded.as_ref().unwrap_or(&record.forecast);
        for c in &judged.cqas {
            let Some(p) = c.p_in_spec else { continue };
            if p >= threshold {
                continue;
            }
            let alert = AlertRecord {
                tenant: record.tenant.clone(),
                batch_id: record.batch_id.clone(),
                cqa: c.name.clone(),
                first_predicted_s: judged.time_s,
                p_in_spec: p,
                threshold,
                acknowledged_by: None,
            };
            if self.store.insert_alert(&alert)? {
                self.stats.alerts_new += 1;
                self.store.append_audit(
                    ACTOR,
                    Some(&alert.tenant),
                    "alert.raised",
                    serde_json::json!({
                        "batch": alert.batch_id, "cqa": alert.cqa, "p_in_spec": p,
                        "threshold": threshold, "first_predicted_s": alert.first_predicted_s,
                        "prediction_seq": seq,
                    }),
                )?;
            }
        }
        Ok(())
    }

    fn finish(&mut self, run: &mut BatchRun) -> Result<(), Error> {
        // Every prediction is stored before the batch is marked finished
        // (a resume skips finished batches).
        self.flush()?;
        run.finished = true;
        self.stats.batches_finished += 1;
        if let Some(l) = self.leases.as_ref() {
            l.with(|l| l.finished(&(run.cfg.tenant.clone(), run.cfg.id.clone())))?;
        }
        // The stored flag is what resume reads: set it once, audit it once.
        if self
            .store
            .batch(&run.cfg.tenant, &run.cfg.id)?
            .is_some_and(|b| b.finished)
        {
            return Ok(());
        }
        self.store.upsert_batch(&batch_info(&run.cfg, true))?;
        self.store.append_audit(
            ACTOR,
            Some(&run.cfg.tenant),
            "batch.finished",
            serde_json::json!({ "batch": run.cfg.id, "predictions": run.seq }),
        )?;
        Ok(())
    }

    /// Polls every source once (those not waiting to retry).
    pub fn step(&mut self, once: bool) -> Result<StepOutcome, Error> {
        self.beat();
        self.lease_poll()?;
        let mut n = 0;
        let mut retrying = false;
        let mut round: Vec<(String, Vec<Reading>)> = Vec::new();
        for i in 0..self.sources.len() {
            let slot = &mut self.sources[i];
            if slot.ended {
                continue;
            }
            if let Some(at) = slot.retry_at
                && Instant::now() < at
            {
                retrying = true;
                continue;
            }
            let polled = slot.source.poll();
            let malformed = slot.source.malformed_rows();
            let new_malformed = malformed.saturating_sub(slot.malformed_seen);
            slot.malformed_seen = malformed;
            self.stats.malformed_rows += new_malformed;
            let slot = &mut self.sources[i];
            match polled {
                Ok(Poll::Readings(rs)) => {
                    slot.failures = 0;
                    slot.retry_at = None;
                    slot.delivered |= !rs.is_empty();
                    n += rs.len();
                    round.push((slot.unit.clone(), rs));
                }
                Ok(Poll::Idle) => {
                    slot.failures = 0;
                    slot.retry_at = None;
                }
                Ok(Poll::End) => slot.ended = true,
                Err(e) => {
                    slot.failures += 1;
                    self.stats.source_errors += 1;
                    let slot = &mut self.sources[i];
                    if once && slot.failures >= self.opts.once_max_failures {
                        eprintln!(
                            "source {}: {e}; giving up after {} attempts",
                            slot.source.describe(),
                            slot.failures
                        );
                        slot.ended = true;
                        continue;
                    }
                    let delay = self
                        .opts
                        .retry_base
                        .saturating_mul(1 << (slot.failures - 1).min(16))
                        .min(self.opts.retry_max);
                    eprintln!(
                        "source {}: {e}; retry {} in {:.1} s",
                        slot.source.describe(),
                        slot.failures,
                        delay.as_secs_f64()
                    );
                    slot.retry_at = Some(Instant::now() + delay);
                    retrying = true;
                }
            }
        }
        if !round.is_empty() {
            self.ingest_many(&round)?;
        }
        self.progress();
        if let Some(l) = &self.leases {
            l.idle();
        }
        Ok(StepOutcome {
            readings: n,
            all_ended: self.sources.iter().all(|s| s.ended),
            retrying,
        })
    }

    /// Runs until every source has ended; with `once`, also stops as soon as
    /// no source has anything more right now (and none is retrying).
    pub fn run(&mut self, once: bool) -> Result<&Stats, Error> {
        loop {
            let out = self.step(once)?;
            // With leases, a worker whose sources have ended stays while
            // some unfinished batch has no live holder: it may take it over.
            let orphans = self.leases.is_some() && self.lease_orphans > 0;
            // A paced source with a reading due within PACE_SLACK has
            // "something right now" (`once` does not stop on it).
            let due_in = self.due_in();
            let soon = due_in.is_some_and(|d| d <= PACE_SLACK);
            if (out.all_ended || (once && out.readings == 0 && !out.retrying && !soon)) && !orphans
            {
                if self.leases.is_none() {
                    break;
                }
                // Decide on a fresh tick, not the last one's count: this
                // worker may have lost leases since (expired in a long
                // round); the tick re-acquires them and reopens their
                // sources, or finds nothing left to take.
                self.lease_tick_now()?;
                if self.lease_orphans == 0 && self.sources.iter().all(|s| s.ended) {
                    break;
                }
            }
            if out.readings == 0 {
                // Sources do not sleep in a poll: the engine sleeps once a
                // round, until the earliest due reading (at most 100 ms).
                let cap = Duration::from_millis(if out.retrying { 20 } else { 100 });
                std::thread::sleep(due_in.map_or(cap, |d| d.min(cap)));
            }
        }
        Ok(&self.stats)
    }

    /// The wait until the earliest reading a source (not ended, not
    /// waiting to retry) has due, where its sources know it (paced
    /// replays).
    fn due_in(&self) -> Option<Duration> {
        self.sources
            .iter()
            .filter(|s| !s.ended && s.retry_at.is_none())
            .filter_map(|s| s.source.due_in())
            .min()
    }

    fn progress(&mut self) {
        let Some(every) = self.opts.progress_every else {
            return;
        };
        if self.last_progress.elapsed() < every {
            return;
        }
        self.last_progress = Instant::now();
        let running = self.runs.values().filter(|r| !r.finished).count();
        eprintln!(
            "live: {} batches running; readings {}, accepted {}, rejected {}, predictions {} (+{} already stored), alerts {}",
            running,
            self.stats.readings_received,
            self.stats.observations_accepted,
            self.stats.rejections.total(),
            self.stats.predictions_new,
            self.stats.predictions_existing,
            self.stats.alerts_new
        );
    }
}

/// A forecast with a NaN or infinity cannot be recorded faithfully (JSON has
/// no such numbers) and means the predictor failed: it is refused.
fn finite(f: super::Forecast) -> Result<super::Forecast, Error> {
    let bad = |what: String| Error::Numerical {
        time_h: f.time_s / 3600.0,
        message: format!("forecast has a non-finite {what}"),
        state: String::new(),
    };
    if !f.time_s.is_finite() {
        return Err(bad("time_s".into()));
    }
    for c in &f.cqas {
        let nums = [
            Some(c.mean),
            Some(c.p05),
            Some(c.p95),
            c.lower_spec,
            c.upper_spec,
            c.p_in_spec,
        ];
        if nums.iter().flatten().any(|x| !x.is_finite()) {
            return Err(bad(format!("value for CQA `{}`", c.name)));
        }
    }
    if let Some((name, _, _)) = f
        .state
        .iter()
        .find(|(_, m, s)| !m.is_finite() || !s.is_finite())
    {
        return Err(bad(format!("state `{name}`")));
    }
    Ok(f)
}

fn batch_info(b: &BatchConfig, finished: bool) -> BatchInfo {
    BatchInfo {
        tenant: b.tenant.clone(),
        batch_id: b.id.clone(),
        unit: b.unit.clone(),
        start_unix_s: b.start_unix_s,
        end_unix_s: b.planned_end_unix_s,
        finished,
    }
}

/// Seed of every forecast of a batch (common random numbers: one seed per
/// batch, from tenant and batch id, not from the forecast's sequence
/// number): the same on every run and machine, so a restarted run records
/// identical predictions, and the step-to-step change of a band is what the
/// predictor learnt, not sampling noise (`docs/live.md`, "Forecast
/// ensemble").
pub fn seed_of(tenant: &str, batch: &str) -> u64 {
    let mut h = Sha256::new();
    h.update(b"forecast-seed\0");
    h.update(tenant.as_bytes());
    h.update([0]);
    h.update(batch.as_bytes());
    let d = h.finalize();
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    u64::from_le_bytes(b)
}

fn now_unix_s() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Opens the source a site file describes. `speed` paces replays (0: as fast
/// as possible); it does not apply to an OPC UA subscription.
pub fn open_source(s: &super::config::SourceConfig, speed: f64) -> Result<Box<dyn Source>, Error> {
    open_source_at(s, speed, None)
}

/// [`open_source`]; a replay is paced as if started at `started` (a source
/// re-read for a batch lease taken over: what is due by now comes at once).
pub fn open_source_at(
    s: &super::config::SourceConfig,
    speed: f64,
    started: Option<Instant>,
) -> Result<Box<dyn Source>, Error> {
    use super::config::SourceKind;
    let path = || {
        s.path
            .clone()
            .ok_or_else(|| Error::config("<site file>", "sources.path", "a file path", "none"))
    };
    match s.kind {
        SourceKind::Replay => {
            let r = super::replay::ReplaySource::open_partial(
                &path()?,
                s.format,
                speed,
                s.accept_partial,
            )?;
            Ok(Box::new(match started {
                Some(t) => r.starting_at(t),
                None => r,
            }))
        }
        SourceKind::Tail => Ok(Box::new(super::tail::TailSource::new(&path()?))),
        SourceKind::Opcua => {
            let c = s.opcua.as_ref().ok_or_else(|| {
                Error::config(
                    "<site file>",
                    "sources.endpoint",
                    "an OPC UA source with an endpoint and nodes",
                    "none",
                )
            })?;
            // Validated with the site file already; `start` only connects
            // (in the background: an unreachable server is retried).
            Ok(Box::new(super::opcua::OpcUaSource::start(
                c,
                Path::new("<site file>"),
                "sources",
            )?))
        }
    }
}

/// The model provenance recorded when batch `batch` of `tenant` started:
/// `None` when nothing was recorded (a store written before models were
/// recorded, or a predictor without one); an error when a record is there
/// but cannot be read (never silently treated as "none").
fn started_model(
    audit: &[crate::AuditEntry],
    tenant: &str,
    batch: &str,
) -> Result<Option<StartedModel>, String> {
    let Some(e) = audit.iter().rev().find(|e| {
        e.action == "batch.started"
            && e.tenant.as_deref() == Some(tenant)
            && e.detail.get("batch").and_then(|v| v.as_str()) == Some(batch)
    }) else {
        return Ok(None);
    };
    let provenance: biotwin_core::simulation::model_source::ModelProvenance =
        match e.detail.get("model") {
            None | Some(serde_json::Value::Null) => return Ok(None),
            Some(m) => serde_json::from_value(m.clone())
                .map_err(|err| format!("audit entry {}: `model` unreadable: {err}", e.seq))?,
        };
    let from_file = match e.detail.get("model_from_file") {
        None | Some(serde_json::Value::Null) => None,
        Some(v) => Some(v.as_bool().ok_or_else(|| {
            format!(
                "audit entry {}: `model_from_file` is not true or false: {v}",
                e.seq
            )
        })?),
    };
    let text = if from_file == Some(false) {
        None
    } else {
        stored_model_text(audit, tenant, &provenance.sha256)
    };
    Ok(Some(StartedModel {
        provenance,
        from_file,
        text,
    }))
}

/// The model text stored with sha256 `sha256` by tenant `tenant` (audit
/// `model.stored`), as stored: the reader checks its hash. Per tenant: a
/// sponsor's record never depends on another sponsor's entries.
fn stored_model_text(audit: &[crate::AuditEntry], tenant: &str, sha256: &str) -> Option<String> {
    audit.iter().find_map(|e| {
        (e.action == "model.stored"
            && e.tenant.as_deref() == Some(tenant)
            && e.detail.get("sha256").and_then(|v| v.as_str()) == Some(sha256))
        .then(|| e.detail.get("text")?.as_str().map(str::to_string))
        .flatten()
    })
}

#[cfg(test)]
mod stored_model_tests {
    use super::stored_model_text;
    use crate::AuditEntry;

    fn stored(seq: u64, tenant: &str, sha: &str, text: &str) -> AuditEntry {
        AuditEntry {
            seq,
            time_unix_s: 0.0,
            actor: "biotwin-live".into(),
            tenant: Some(tenant.into()),
            action: "model.stored".into(),
            detail: serde_json::json!({ "sha256": sha, "text": text }),
            prev_sha256: String::new(),
            sha256: String::new(),
        }
    }

    /// A model text stored under one sponsor is never what another
    /// sponsor's batch resumes from: the lookup is per tenant.
    #[test]
    fn a_stored_model_text_is_found_only_in_its_own_tenants_record() {
        let audit = vec![stored(0, "sponsor-a", "abc", "[model]\n")];
        assert_eq!(
            stored_model_text(&audit, "sponsor-a", "abc").as_deref(),
            Some("[model]\n")
        );
        assert_eq!(stored_model_text(&audit, "sponsor-b", "abc"), None);
        assert_eq!(stored_model_text(&audit, "sponsor-a", "def"), None);
        let both = vec![
            stored(0, "sponsor-a", "abc", "a's copy"),
            stored(1, "sponsor-b", "abc", "b's copy"),
        ];
        assert_eq!(
            stored_model_text(&both, "sponsor-b", "abc").as_deref(),
            Some("b's copy")
        );
    }
}
