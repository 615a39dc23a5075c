//! [`SiteFactory`]: makes the predictor a site file names for each batch.
//!
//! * `predictor = "mechanistic"`: [`MechanisticPredictor`] on the batch's
//!   process file (model, recipe, equipment, `[[uncertainty]]`); its
//!   specification file gives the limits of P(in spec) and the alerts.
//! * `predictor = "surrogate:PATH"`: [`SurrogatePredictor`] on the sealed
//!   ladder file PATH (relative to the site file), with the [`BatchPlan`]
//!   built from the batch entry: planned duration = planned end − start,
//!   specification limits from the batch's `process` file (a process
//!   definition with a `specifications` reference, or a specifications file
//!   itself). A ladder is loaded once and shared by every batch using it.
//! * `predictor = "indpensim-enkf:PATH"`: the IndPenSim ensemble Kalman
//!   filter ([`crate::indpensim`]) with the filter file PATH; limits from
//!   the batch's `process` file as for a surrogate batch.
//!
//! A mechanistic batch runs the kinetic model its process file names,
//! unless its `model` in the site file (`biotwin live --model NAME|FILE`
//! sets it for every mechanistic batch) is `registry:NAME` — the version
//! of NAME **promoted** in the site's registry (which must verify; of a
//! registry, only promoted models serve) when the engine first registers
//! the batch — or a model file's path (a calibrated model from `biotwin
//! fit`, checked as `simulate --model FILE` checks it). That model is
//! recorded in `batch.started` (id, version, source, sha256; a file by its
//! absolute path, with `model_from_file` and `model_sealed`); a batch
//! resumed after a restart keeps it, even if another version was promoted
//! since: a model file from the text the engine stored at the batch's start
//! (audit `model.stored`), so an edited or deleted file does not stop it;
//! the process file's own model from its file, refused if its text no
//! longer has the recorded hash (compared before it is parsed).
//!
//! Every error names the site file, the batch's field and what was found,
//! because that is the file the user has to fix.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::Error;
use crate::Predictor;
use crate::config::BatchConfig;
use crate::engine::{PredictorFactory, StartedModel};
use crate::mechanistic::{MechanisticOptions, MechanisticPredictor};
use crate::surrogate::{BatchPlan, SharedLadder, SurrogatePredictor, unit_slug};
use biotwin_core::definition::process::registry_model_of;
use biotwin_core::definition::specs::{Limit, Specifications};
use biotwin_core::simulation::model_source::{
    ModelProvenance, ResolvedModel, provenance_of, with_model,
};
use biotwin_core::simulation::{load_process, load_process_with_model};

/// The predictors of `biotwin live`, for the batches of one site file.
pub struct SiteFactory {
    site_file: PathBuf,
    mechanistic: MechanisticOptions,
    /// The site's registry (`[site] registry`), for `registry:NAME` models.
    registry: Option<PathBuf>,
    /// Loaded ladders by resolved path (1,000 batches share one).
    ladders: Mutex<HashMap<PathBuf, Arc<SharedLadder>>>,
}

impl SiteFactory {
    /// A factory for the batches of `site_file` (ladder and filter files
    /// resolve against its directory; errors name it), mechanistic predictors
    /// made with `mechanistic`; no registry until
    /// [`with_registry`](Self::with_registry).
    pub fn new(site_file: impl Into<PathBuf>, mechanistic: MechanisticOptions) -> SiteFactory {
        SiteFactory {
            site_file: site_file.into(),
            mechanistic,
            registry: None,
            ladders: Mutex::new(HashMap::new()),
        }
    }

    /// The site's registry for `registry:NAME` batch models.
    pub fn with_registry(mut self, registry: Option<PathBuf>) -> SiteFactory {
        self.registry = registry;
        self
    }

    /// The model a mechanistic batch runs instead of its process file's
    /// (`None`: the process file's own), and whether it came from a model
    /// file the batch names. A new batch: its `model` reference —
    /// `registry:NAME` (promoted versions only) or a model file's path,
    /// checked as `simulate --model FILE` checks one
    /// ([`resolve_file`](biotwin_ml::registry::mechanistic::resolve_file))
    /// and recorded by its absolute path. A resumed batch (`resumed`): the
    /// model recorded when it started (`pinned`), whatever has been
    /// promoted or edited since — a registry model by its recorded id, a
    /// file by its recorded path (its hash is checked against the record
    /// in [`Self::mechanistic`]); with nothing recorded (a store written
    /// before models were recorded) the process file's own model, which is
    /// what such a batch ran.
    fn model_for(
        &self,
        b: &BatchConfig,
        resumed: bool,
        pinned: Option<&StartedModel>,
    ) -> Result<Option<(ResolvedModel, bool)>, Error> {
        use biotwin_ml::registry::mechanistic::{
            registry_source, resolve_file, resolve_registered, resolve_stored,
        };
        let wrap = |e: biotwin_ml::Error| {
            self.error(
                b,
                "model",
                "a calibrated model promoted in the site's registry, or a model file (docs/live.md)",
                e.to_string(),
            )
        };
        if resumed {
            let Some(started) = pinned else {
                return Ok(None);
            };
            let p = &started.provenance;
            if let Some((dir, id)) = registry_source(&p.source) {
                return resolve_registered(&id, &dir, false)
                    .map(|m| Some((m, false)))
                    .map_err(wrap);
            }
            // Whether the batch started on a model file it named: as
            // recorded; in a record from before the flag, a source other
            // than the process file's own model.
            let from_file = match started.from_file {
                Some(f) => f,
                None => {
                    let own = load_process(&b.process)
                        .map(|d| provenance_of(&d).source)
                        .unwrap_or_default();
                    !(p.source == own || p.source.is_empty())
                }
            };
            // The text: the copy stored at the batch's start, else (a store
            // from before copies were stored) the file as it is now. Its
            // hash is compared with the recorded one before anything is
            // parsed, so an edit says so even when it also broke the file.
            let text = match &started.text {
                Some(t) => t.clone(),
                None if from_file || !p.source.is_empty() => {
                    match std::fs::read_to_string(&p.source) {
                        Ok(t) => {
                            self.check_unedited(b, p, &t)?;
                            t
                        }
                        // Unreadable: as before, the loader reports it.
                        Err(_) if !from_file => return Ok(None),
                        Err(e) => {
                            return Err(self.error(
                                b,
                                "model",
                                &format!(
                                    "the model file batch {} started with (sha256 {})",
                                    b.id, p.sha256
                                ),
                                format!("`{}`: {e}", p.source),
                            ));
                        }
                    }
                }
                None => return Ok(None),
            };
            if !from_file {
                // The process file's own model: loaded with the process.
                return Ok(None);
            }
            return resolve_stored(&p.source, text, &p.sha256)
                .map(|m| Some((m, true)))
                .map_err(wrap);
        }
        match b.model.as_deref() {
            None => Ok(None),
            Some(m) => match (m.strip_prefix("registry:"), &self.registry) {
                (Some(name), Some(dir)) => resolve_registered(name, dir, true)
                    .map(|m| Some((m, false)))
                    .map_err(wrap),
                (Some(_), None) => Err(self.error(
                    b,
                    "model",
                    "`registry:NAME` with a [site] registry (or live --registry DIR), or a model file",
                    format!("`{m}`"),
                )),
                // A file: recorded by its absolute path, so that a restart
                // from another working directory reloads the same file.
                (None, _) => {
                    let abs = std::fs::canonicalize(m).map_err(|e| {
                        self.error(
                            b,
                            "model",
                            "`registry:NAME`, or a model file (TOML in the schema of process-models/models/, e.g. a calibrated model from `biotwin fit`)",
                            format!("`{m}`: {e}"),
                        )
                    })?;
                    resolve_file(&abs.display().to_string())
                        .map(|m| Some((m, true)))
                        .map_err(wrap)
                }
            },
        }
    }

    /// An input error on `batches.<id>.<field>` of the site file; `cause`
    /// (the underlying error) goes into "found".
    fn error(&self, b: &BatchConfig, field: &str, expected: &str, cause: String) -> Error {
        // A reference read from the process file: name that file's field.
        if field == "model" && b.model_from_process {
            return Error::config(
                &b.process,
                "process.model",
                format!(
                    "{expected} (batch {} of {})",
                    b.id,
                    self.site_file.display()
                ),
                cause,
            );
        }
        Error::config(
            &self.site_file,
            format!("batches.{}.{field}", b.id),
            expected,
            cause,
        )
    }

    /// A resumed batch's model text (`text`, read from `p.source`) must
    /// still have the sha256 recorded at its start: compared before the
    /// text is parsed, the error names the file and both hashes.
    fn check_unedited(
        &self,
        b: &BatchConfig,
        p: &ModelProvenance,
        text: &str,
    ) -> Result<(), Error> {
        let now = biotwin_core::definition::process::text_sha256(text);
        if now == p.sha256 {
            return Ok(());
        }
        Err(self.error(
            b,
            "model",
            &format!(
                "the model batch {} started with ({} {}, sha256 {})",
                b.id, p.id, p.version, p.sha256
            ),
            format!(
                "`{}` now has sha256 {now}: edited since the batch started; a running batch keeps its model, restore it",
                p.source
            ),
        ))
    }

    fn mechanistic(
        &self,
        b: &BatchConfig,
        resumed: bool,
        pinned: Option<&StartedModel>,
    ) -> Result<Box<dyn Predictor>, Error> {
        let process_error = |e: String| {
            self.error(
                b,
                "process",
                "a process file the mechanistic predictor can use (model xing2010 or cho_platform)",
                format!("`{}`: {e}", b.process.display()),
            )
        };
        let model = self.model_for(b, resumed, pinned)?;
        let file_text = model
            .as_ref()
            .and_then(|(m, file)| file.then(|| m.text.clone()));
        let model = model.map(|(m, _)| m);
        let mut def =
            load_batch_process(b, model.as_ref()).map_err(|e| process_error(e.to_string()))?;
        if let Some(m) = model {
            with_model(&mut def, &m).map_err(|e| {
                self.error(b, "model", "a model of the process's family", e.to_string())
            })?;
        }
        let mut p = MechanisticPredictor::from_process(&def, self.mechanistic.clone())
            .map_err(|e| process_error(e.to_string()))?;
        if let Some(text) = file_text {
            p = p.with_model_file(text);
        }
        if let Some(was) = pinned.map(|s| &s.provenance) {
            let now = provenance_of(&def);
            if now.sha256 != was.sha256 {
                return Err(self.error(
                    b,
                    "model",
                    &format!(
                        "the model batch {} started with ({} {}, sha256 {})",
                        b.id, was.id, was.version, was.sha256
                    ),
                    format!(
                        "`{}` now has sha256 {}: edited since the batch started; a running batch keeps its model, restore it",
                        now.source, now.sha256
                    ),
                ));
            }
        }
        Ok(Box::new(p))
    }

    fn ladder(&self, b: &BatchConfig, path: &Path) -> Result<Arc<SharedLadder>, Error> {
        let mut cache = self.ladders.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(l) = cache.get(path) {
            return Ok(l.clone());
        }
        biotwin_ml::registry::verify_enclosing(path)?;
        let l = SharedLadder::load(path).map_err(|e| {
            self.error(
                b,
                "predictor",
                "`surrogate:PATH` naming a sealed ladder file (relative to the site file)",
                format!("`surrogate:{}`: {e}", path.display()),
            )
        })?;
        cache.insert(path.to_path_buf(), l.clone());
        Ok(l)
    }

    fn surrogate(&self, b: &BatchConfig, path: &Path) -> Result<Box<dyn Predictor>, Error> {
        let shared = self.ladder(b, path)?;
        let limits = self.plan_limits(b)?;
        let ladder = &shared.ladder;
        let mut specs = BTreeMap::new();
        for (j, target) in ladder.config.targets.iter().enumerate() {
            // A limit may name the target (`final_penicillin`) or the CQA as
            // the forecast reports it, with its unit (`final_penicillin_kg_per_m3`).
            let with_unit = ladder
                .target_units
                .get(j)
                .map(|u| format!("{target}_{}", unit_slug(u)));
            if let Some(l) = limits
                .iter()
                .find(|l| &l.cqa == target || Some(&l.cqa) == with_unit.as_ref())
            {
                specs.insert(target.clone(), (l.min, l.max));
            }
        }
        let plan = BatchPlan {
            batch_id: b.id.clone(),
            duration_s: b.planned_end_unix_s - b.start_unix_s,
            parameters: BTreeMap::new(),
            specs,
        };
        let p = SurrogatePredictor::new(shared.clone(), plan).map_err(|e| {
            self.error(
                b,
                "predictor",
                "a ladder whose inputs the batch plan provides (it gives no recipe parameters)",
                format!("`surrogate:{}`: {e}", path.display()),
            )
        })?;
        Ok(Box::new(p))
    }

    /// Specification limits of the batch's `process` file: a process
    /// definition (its `specifications` reference) or a specifications file.
    fn plan_limits(&self, b: &BatchConfig) -> Result<Vec<Limit>, Error> {
        let expected =
            "a process definition ([process]) or a specifications file ([specifications])";
        let text = std::fs::read_to_string(&b.process).map_err(|e| {
            self.error(
                b,
                "process",
                expected,
                format!("`{}`: {e}", b.process.display()),
            )
        })?;
        let value: toml::Table = toml::from_str(&text).map_err(|e| {
            self.error(
                b,
                "process",
                expected,
                format!("`{}`: {e}", b.process.display()),
            )
        })?;
        let wrap = |e: String| {
            self.error(
                b,
                "process",
                expected,
                format!("`{}`: {e}", b.process.display()),
            )
        };
        if value.contains_key("process") {
            // A surrogate batch carries no model reference; the process
            // file's own `registry:NAME` is resolved here for its limits.
            let model = match (registry_model_of(&b.process), &self.registry) {
                (Some(name), Some(dir)) => Some(
                    biotwin_ml::registry::mechanistic::resolve_registered(&name, dir, true)
                        .map_err(|e| wrap(e.to_string()))?,
                ),
                (Some(name), None) => {
                    return Err(wrap(format!(
                        "the process names model = \"registry:{name}\", and the site has no \
                         registry ([site] registry = \"DIR\" or live --registry DIR)"
                    )));
                }
                (None, _) => None,
            };
            let def = load_batch_process(b, model.as_ref()).map_err(|e| wrap(e.to_string()))?;
            Ok(def.specifications.map(|s| s.limits).unwrap_or_default())
        } else if value.contains_key("specifications") {
            let s = Specifications::load(&b.process, None).map_err(|e| wrap(e.to_string()))?;
            Ok(s.limits)
        } else {
            Err(wrap(
                "neither a [process] nor a [specifications] table".into(),
            ))
        }
    }
}

/// A batch's process definition. A process file whose own `model` is
/// `registry:NAME` is loaded with the model its reference resolved to
/// (`model`; the site file's `[[batches]]` carries the same reference).
fn load_batch_process(
    b: &BatchConfig,
    model: Option<&ResolvedModel>,
) -> Result<biotwin_core::definition::process::ProcessDefinition, Error> {
    match (registry_model_of(&b.process), model) {
        (Some(_), Some(m)) => Ok(load_process_with_model(&b.process, &m.model)?),
        _ => Ok(load_process(&b.process)?),
    }
}

impl SiteFactory {
    /// The IndPenSim ensemble Kalman filter of a batch (`indpensim-enkf:PATH`,
    /// [`crate::indpensim`]); a resumed batch (`pinned`: recorded at its
    /// start) must still have the same filter file, recipe and settings.
    fn indpensim(
        &self,
        b: &BatchConfig,
        path: &Path,
        pinned: Option<&ModelProvenance>,
    ) -> Result<Box<dyn Predictor>, Error> {
        use crate::indpensim::{CQA, EnkfFile, EnkfPredictor};
        // Errors in the filter file or the recipes name those files.
        let file = EnkfFile::read(path)?;
        if !file.held_out && biotwin_ml::indpensim_forecast::HELD_OUT.contains(&b.id.as_str()) {
            return Err(self.error(
                b,
                "id",
                &format!(
                    "a batch other than the filter's held-out test set {} (or `held_out = true` in `{}`)",
                    biotwin_ml::indpensim_forecast::HELD_OUT.join(", "),
                    path.display()
                ),
                b.id.clone(),
            ));
        }
        let spec = self
            .plan_limits(b)?
            .iter()
            .find(|l| l.cqa == "final_penicillin" || l.cqa == CQA)
            .map_or((None, None), |l| (l.min, l.max));
        let p = EnkfPredictor::new(&file, &b.id, spec)?;
        if let (Some(was), Some(now)) = (pinned, p.model_provenance()) {
            if was.sha256 != now.sha256 {
                return Err(self.error(
                    b,
                    "predictor",
                    &format!(
                        "the IndPenSim filter batch {} started with ({} {}, sha256 {})",
                        b.id, was.id, was.version, was.sha256
                    ),
                    format!(
                        "`{}` (with its recipe and settings) now has sha256 {}: a running batch keeps its filter; restore it",
                        now.source, now.sha256
                    ),
                ));
            }
        }
        Ok(Box::new(p))
    }
}

impl PredictorFactory for SiteFactory {
    fn create(&self, b: &BatchConfig) -> Result<Box<dyn Predictor>, Error> {
        if let Some(path) = b.predictor.strip_prefix(crate::indpensim::PREDICTOR_PREFIX) {
            return self.indpensim(b, Path::new(path), None);
        }
        match b.predictor.strip_prefix("surrogate:") {
            Some(path) => self.surrogate(b, Path::new(path)),
            None if b.predictor == "mechanistic" => self.mechanistic(b, false, None),
            None => Err(self.error(
                b,
                "predictor",
                "`mechanistic`, `surrogate:PATH` or `indpensim-enkf:PATH`",
                format!("`{}`", b.predictor),
            )),
        }
    }

    fn create_resumed(
        &self,
        b: &BatchConfig,
        started: Option<&StartedModel>,
    ) -> Result<Box<dyn Predictor>, Error> {
        if b.predictor == "mechanistic" {
            return self.mechanistic(b, true, started);
        }
        if let Some(path) = b.predictor.strip_prefix(crate::indpensim::PREDICTOR_PREFIX) {
            return self.indpensim(b, Path::new(path), started.map(|s| &s.provenance));
        }
        self.create(b)
    }
}
