//! A directory-based model registry with a tamper-evident audit trail
//! (format and guarantees in `docs/registry.md`).
//!
//! ```text
//! models/
//!   registry.jsonl          append-only, hash-chained log of actions
//!   <name>/v<version>/model.json   sealed artifacts (Artifact::save)
//! ```
//!
//! The log is the single source of truth: the list of models, their versions
//! and which one serves are replayed from it. Every entry carries the sha256
//! of the previous entry (`prev_sha256`) and its own (`sha256`, of the entry
//! without that field), so editing, inserting or removing a line inside the
//! log breaks the chain, which [`verify`] detects. Register entries also
//! record the sha256 of the artifact *file*, so replacing an artifact by
//! another, validly sealed one is detected too.
//!
//! Writes are atomic: an artifact is written to a temporary file and renamed;
//! the log is rewritten whole to a temporary file (old lines + the new one)
//! and renamed over the old log, so a crash leaves either the old or the new
//! log, never half a line. An exclusive lock on `registry.lock` makes a second
//! writer wait for the first.

pub mod mechanistic;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::data::timestamp::format_rfc3339;
use crate::error::Error;
use crate::surrogates::artifact::{Artifact, content_sha256};
use crate::surrogates::metrics::Metrics;
use biotwin_core::error::Diagnostic;
use biotwin_core::output::atomic::write_atomic;

/// File name of the log inside the registry directory.
pub const LOG_FILE: &str = "registry.jsonl";
const LOCK_FILE: &str = "registry.lock";
/// `prev_sha256` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// A registered model, as recorded when it was registered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelRecord {
    /// `<name>-v<version>`.
    pub id: String,
    /// Model name (letters, digits, `-`, `_`, `.`), shared by all its versions.
    pub name: String,
    /// Version within the name: 1 for the first registration, then one more each time.
    pub version: u64,
    /// Model kind, as the artifact names it (`pls`, `gp`, `nn`, `hybrid`,
    /// `serial-hybrid`, `elastic-net`, `svr`, `random-forest`, `mechanistic`).
    pub kind: String,
    /// Predicted quantities, with units in their names (the artifact's targets).
    pub targets: Vec<String>,
    /// Number of input features the model takes.
    pub n_features: usize,
    /// sha256 of the training dataset, as sealed in the artifact (None when the
    /// trainer had no dataset file).
    pub training_data_hash: Option<String>,
    /// Path of the training dataset as given at training (informative).
    pub training_data: Option<String>,
    /// biotwin version that trained the model (from the artifact).
    pub code_version: String,
    /// How the model was validated (`holdout`, `kfold5_by_batch`, ...).
    pub validation: String,
    /// Batches held out of the final fit (empty unless `holdout`).
    pub held_out: Vec<String>,
    /// The model's hyper-parameters as trained (JSON, kind-specific).
    pub hyperparameters: serde_json::Value,
    /// Validation metrics per target (RMSE, MAPE, R², coverage), on the batches
    /// `validation` names.
    pub metrics: BTreeMap<String, Metrics>,
    /// When the artifact was trained, s since 1970-01-01 UTC.
    pub created_at_unix_s: u64,
    /// Who registered the model (`--user`, `$USER` or `$USERNAME`).
    pub created_by: String,
    /// Artifact path relative to the registry directory.
    pub artifact: String,
    /// sha256 of the artifact file's bytes.
    pub artifact_file_sha256: String,
}

/// A promotion to serving.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Promotion {
    /// Registered id of the promoted model, `<name>-v<version>`.
    pub model: String,
    /// Model name it now serves.
    pub name: String,
    /// Why it was promoted (required, non-empty).
    pub reason: String,
    /// The model of the same name that served before, if any.
    pub previous: Option<String>,
    /// The electronic signature of the promotion (21 CFR 11.50/11.70): who
    /// re-authenticated, with what meaning and reason. Absent in entries
    /// written before signatures existed, so their hashes are unchanged.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub signature: Option<Signature>,
}

/// What a signer means by signing (21 CFR 11.50(a)(3)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Meaning {
    /// The signer reviewed the record.
    Reviewed,
    /// The signer approved the record.
    Approved,
}

impl Meaning {
    /// Parses `reviewed` or `approved` (surrounding spaces ignored); None otherwise.
    pub fn parse(text: &str) -> Option<Meaning> {
        match text.trim() {
            "reviewed" => Some(Meaning::Reviewed),
            "approved" => Some(Meaning::Approved),
            _ => None,
        }
    }
    /// The lowercase name, as recorded.
    pub fn as_str(self) -> &'static str {
        match self {
            Meaning::Reviewed => "reviewed",
            Meaning::Approved => "approved",
        }
    }
}

/// An electronic signature as recorded with the signed record: the signer's
/// printed name, account and role, when (UTC), what it means and why. Made
/// only after the signer re-entered their password (`biotwin_live::users`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signature {
    /// Signer's printed name.
    pub full_name: String,
    /// Signer's account id.
    pub user_id: String,
    /// Site (tenant) of the signer's account.
    pub tenant: String,
    /// Signer's role at signing.
    pub role: String,
    /// What the signature means.
    pub meaning: Meaning,
    /// Why the signer signed.
    pub reason: String,
    /// When, s since 1970-01-01 UTC.
    pub signed_at_unix_s: u64,
    /// The same instant as RFC 3339 UTC.
    pub signed_at: String,
}

/// One line of the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogEntry {
    /// Position in the log, from 0 (must equal the line's index).
    pub seq: u64,
    /// The previous entry's `sha256` ([`GENESIS`] for the first).
    pub prev_sha256: String,
    /// When the entry was written, s since 1970-01-01 UTC.
    pub at_unix_s: u64,
    /// The same instant as RFC 3339 UTC.
    pub at: String,
    /// Who acted.
    pub user: String,
    /// `register` or `promote`.
    pub action: String,
    /// The registered model (`register` entries).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub model: Option<ModelRecord>,
    /// The promotion (`promote` entries).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub promotion: Option<Promotion>,
    /// sha256 of this entry without this field (compact JSON).
    pub sha256: String,
}

impl LogEntry {
    /// The hash this entry should carry.
    pub fn compute_sha256(&self) -> Result<String, serde_json::Error> {
        let mut v = serde_json::to_value(self)?;
        if let Some(o) = v.as_object_mut() {
            o.remove("sha256");
        }
        Ok(content_sha256(&v))
    }
}

/// What [`verify`] checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    /// Log entries checked.
    pub entries: usize,
    /// Artifact files checked against their registered hashes.
    pub artifacts: usize,
    /// sha256 of the last entry (the chain head), or [`GENESIS`].
    pub head: String,
    /// Anchor lines checked (0: no anchor file).
    pub anchors: usize,
}

/// The current state replayed from the log.
#[derive(Debug, Clone, Default)]
pub struct State {
    /// In registration order.
    pub models: Vec<ModelRecord>,
    /// Serving model id by model name.
    pub serving: BTreeMap<String, String>,
    /// Every promotion in log order, with its entry (who and when).
    pub promotions: Vec<(LogEntry, Promotion)>,
}

fn now_unix_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// sha256 of a file's bytes.
pub fn file_sha256(path: &Path) -> Result<String, Error> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    Ok(hex::encode(Sha256::digest(&bytes)))
}

/// A model name: letters, digits, `-`, `_`, `.`; not starting with `.`.
fn check_name(name: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
    if ok {
        Ok(())
    } else {
        Err(Error::input(
            "<command line>",
            "--name",
            "a model name of letters, digits, `-`, `_`, `.`",
            format!("`{name}`"),
        ))
    }
}

/// A registry directory (created on first write).
///
/// # Example
///
/// Register the shipped CHO model file as a calibrated (`mechanistic`)
/// model, promote it, verify the registry, and see a changed artifact
/// file refused:
///
/// ```
/// use biotwin_ml::registry::{Registry, mechanistic, verify};
///
/// let dir = tempfile::tempdir().unwrap();
/// let registry = Registry::new(dir.path().join("models"));
/// let model = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
///     .join("../../process-models/models/cho-platform.toml");
/// let text = std::fs::read_to_string(&model).unwrap();
///
/// let rec = mechanistic::register(
///     &registry, "cho", &text, "cho-platform", "cho-platform",
///     &[], &"0".repeat(64), "no-dataset", &[], "docs",
/// )?;
/// assert_eq!((rec.id.as_str(), rec.version, rec.kind.as_str()), ("cho-v1", 1, "mechanistic"));
/// registry.promote(&rec.id, "first calibrated model", "docs")?;
/// assert_eq!(registry.state()?.serving["cho"], "cho-v1");
///
/// let checked = verify(&registry.dir)?;
/// assert_eq!((checked.entries, checked.artifacts), (2, 1));
///
/// // One byte more in the artifact: the hash recorded in the log no longer
/// // matches, and verification fails.
/// let artifact = registry.dir.join(&rec.artifact);
/// let mut bytes = std::fs::read(&artifact).unwrap();
/// bytes.push(b' ');
/// std::fs::write(&artifact, bytes).unwrap();
/// assert!(verify(&registry.dir).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Registry {
    /// The registry directory.
    pub dir: PathBuf,
}

/// Holds the registry's write lock while alive: an exclusive advisory lock
/// ([`std::fs::File::lock`]: `flock` on Unix, `LockFileEx` on Windows) on
/// `registry.lock`. Dropping it closes the file, which releases the lock —
/// and so does the end of the process, however it ends, so a killed writer
/// leaves no stale lock behind. The file itself stays (removing it would let
/// a waiting writer and a new one lock two different files).
struct Lock {
    _file: std::fs::File,
}

impl Registry {
    /// A registry in `dir`; nothing is read or created until used.
    pub fn new(dir: impl Into<PathBuf>) -> Registry {
        Registry { dir: dir.into() }
    }

    /// Path of the log, `<dir>/registry.jsonl`.
    pub fn log_path(&self) -> PathBuf {
        self.dir.join(LOG_FILE)
    }

    /// Where the log's anchors go: `<dir>.anchor.jsonl`, beside the
    /// directory (outside it, so that whoever can rewrite the registry does
    /// not thereby rewrite its anchors). A site makes that path a link to a
    /// file on separate, append-only media (docs/registry.md).
    pub fn anchor_path(&self) -> PathBuf {
        let dir = std::fs::canonicalize(&self.dir).unwrap_or_else(|_| self.dir.clone());
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "registry".into());
        dir.with_file_name(format!("{name}.anchor.jsonl"))
    }

    /// Takes the registry's write lock, waiting for a writer that holds it
    /// (a registration or promotion takes well under a second), so two
    /// concurrent writers both land, one after the other.
    fn lock(&self) -> Result<Lock, Error> {
        std::fs::create_dir_all(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        let p = self.dir.join(LOCK_FILE);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&p)
            .map_err(|e| Error::io(&p, e))?;
        file.lock()
            .map_err(|source| Error::Lock { path: p, source })?;
        Ok(Lock { _file: file })
    }

    /// The log entries, parsed (not verified; see [`verify`]). An absent log
    /// is an empty registry.
    pub fn entries(&self) -> Result<Vec<LogEntry>, Error> {
        let p = self.log_path();
        let text = match std::fs::read_to_string(&p) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
            Err(e) => return Err(Error::io(&p, e)),
        };
        let mut out = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let e: LogEntry = serde_json::from_str(line).map_err(|e| {
                Error::tampered(
                    Diagnostic::new(
                        &p,
                        format!("line {}", i + 1),
                        "a registry log entry",
                        e.to_string(),
                    )
                    .at_line(Some(i + 1)),
                )
            })?;
            out.push(e);
        }
        Ok(out)
    }

    /// Replays the log.
    pub fn state(&self) -> Result<State, Error> {
        let mut st = State::default();
        for e in self.entries()? {
            if let Some(m) = &e.model {
                st.models.push(m.clone());
            }
            if let Some(p) = &e.promotion {
                st.serving.insert(p.name.clone(), p.model.clone());
                st.promotions.push((e.clone(), p.clone()));
            }
        }
        Ok(st)
    }

    /// The record of model `id`.
    pub fn find(&self, id: &str) -> Result<ModelRecord, Error> {
        self.state()?
            .models
            .into_iter()
            .find(|m| m.id == id)
            .ok_or_else(|| {
                Error::not_found(Diagnostic::new(
                    self.log_path(),
                    "model",
                    "the id of a registered model (see biotwin models --registry DIR)",
                    format!("`{id}`"),
                ))
            })
    }

    /// Loads a registered model: its file must be the one registered (file
    /// hash) and its sealed content intact (`Artifact::load`).
    pub fn load(&self, id: &str) -> Result<(ModelRecord, Artifact), Error> {
        let rec = self.find(id)?;
        let path = self.dir.join(&rec.artifact);
        let found = file_sha256(&path)?;
        if found != rec.artifact_file_sha256 {
            return Err(Error::tampered(Diagnostic::new(
                &path,
                "artifact_file_sha256",
                format!("the registered file (sha256 {})", rec.artifact_file_sha256),
                format!("a file with sha256 {found}: the artifact was altered or replaced"),
            )));
        }
        Ok((rec, Artifact::load(&path)?))
    }

    fn append(&self, entries: &[LogEntry], mut e: LogEntry) -> Result<LogEntry, Error> {
        let p = self.log_path();
        e.seq = entries.last().map(|l| l.seq + 1).unwrap_or(0);
        e.prev_sha256 = entries
            .last()
            .map(|l| l.sha256.clone())
            .unwrap_or_else(|| GENESIS.to_string());
        e.sha256 = String::new();
        e.sha256 = e.compute_sha256().map_err(|x| Error::io(&p, x))?;
        let old = match std::fs::read(&p) {
            Ok(b) => b,
            Err(x) if x.kind() == std::io::ErrorKind::NotFound => vec![],
            Err(x) => return Err(Error::io(&p, x)),
        };
        let mut bytes = old;
        if !bytes.is_empty() && !bytes.ends_with(b"\n") {
            bytes.push(b'\n');
        }
        bytes.extend(serde_json::to_vec(&e).map_err(|x| Error::io(&p, x))?);
        bytes.push(b'\n');
        write_atomic(&p, &bytes)?;
        let anchor = self.anchor_path();
        biotwin_core::output::anchor::write_anchor(
            &anchor,
            &biotwin_core::output::anchor::Anchor {
                chain: "registry".into(),
                ledger_count: e.seq + 1,
                ledger_head: e.sha256.clone(),
                audit_count: 0,
                audit_head: GENESIS.into(),
                time_unix_s: now_unix_s() as f64,
            },
        )
        .map_err(|x| {
            Error::io(
                &anchor,
                format!("cannot append the registry's anchor (the log entry is written): {x}"),
            )
        })?;
        Ok(e)
    }

    /// Stores `artifact` as the next version of `name` and records it.
    pub fn register(
        &self,
        name: &str,
        artifact: &Artifact,
        validation: &str,
        held_out: &[String],
        training_data: Option<&str>,
        user: &str,
    ) -> Result<ModelRecord, Error> {
        check_name(name)?;
        let _lock = self.lock()?;
        // The chain must be intact before anything is added to it.
        verify_chain(&self.log_path(), &self.entries()?)?;
        let entries = self.entries()?;
        let version = entries
            .iter()
            .filter_map(|e| e.model.as_ref())
            .filter(|m| m.name == name)
            .map(|m| m.version)
            .max()
            .unwrap_or(0)
            + 1;
        let rel = format!("{name}/v{version}/model.json");
        let path = self.dir.join(&rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        artifact.save(&path)?;
        let at = now_unix_s();
        let rec = ModelRecord {
            id: format!("{name}-v{version}"),
            name: name.to_string(),
            version,
            kind: artifact.model.kind().to_string(),
            targets: artifact.target_names.clone(),
            n_features: artifact.feature_names.len(),
            training_data_hash: artifact.training_data_hash.clone(),
            training_data: training_data.map(str::to_string),
            code_version: artifact.code_version.clone(),
            validation: validation.to_string(),
            held_out: held_out.to_vec(),
            hyperparameters: artifact.hyperparameters.clone(),
            metrics: artifact.metrics.clone(),
            created_at_unix_s: artifact.created_at_unix_s,
            created_by: user.to_string(),
            artifact: rel,
            artifact_file_sha256: file_sha256(&path)?,
        };
        self.append(
            &entries,
            LogEntry {
                seq: 0,
                prev_sha256: String::new(),
                at_unix_s: at,
                at: format_rfc3339(at as f64),
                user: user.to_string(),
                action: "register".into(),
                model: Some(rec.clone()),
                promotion: None,
                sha256: String::new(),
            },
        )?;
        Ok(rec)
    }

    /// Makes model `id` the serving model of its name, recording who, when,
    /// why and which model served before. The model must load intact.
    pub fn promote(&self, id: &str, reason: &str, user: &str) -> Result<LogEntry, Error> {
        self.promote_signed(id, reason, user, None)
    }

    /// [`Registry::promote`], recording the signer's electronic signature in
    /// the promotion entry (so that `audit verify --registry` covers it).
    pub fn promote_signed(
        &self,
        id: &str,
        reason: &str,
        user: &str,
        signature: Option<Signature>,
    ) -> Result<LogEntry, Error> {
        if reason.trim().is_empty() {
            return Err(Error::input(
                "<command line>",
                "--reason",
                "a reason for the promotion",
                "an empty text",
            ));
        }
        let _lock = self.lock()?;
        let entries = self.entries()?;
        verify_chain(&self.log_path(), &entries)?;
        let (rec, _) = self.load(id)?;
        let st = self.state()?;
        let previous = st.serving.get(&rec.name).cloned();
        if previous.as_deref() == Some(id) {
            return Err(Error::not_found(Diagnostic::new(
                "<command line>",
                "MODEL",
                "a model that is not already serving",
                format!("`{id}` already serves `{}`", rec.name),
            )));
        }
        let at = now_unix_s();
        self.append(
            &entries,
            LogEntry {
                seq: 0,
                prev_sha256: String::new(),
                at_unix_s: at,
                at: format_rfc3339(at as f64),
                user: user.to_string(),
                action: "promote".into(),
                model: None,
                promotion: Some(Promotion {
                    model: id.to_string(),
                    name: rec.name.clone(),
                    reason: reason.to_string(),
                    previous,
                    signature,
                }),
                sha256: String::new(),
            },
        )
    }
}

/// Checks the hash chain of `entries` (read from `log`).
fn verify_chain(log: &Path, entries: &[LogEntry]) -> Result<String, Error> {
    let mut prev = GENESIS.to_string();
    for (i, e) in entries.iter().enumerate() {
        let line = Some(i + 1);
        if e.seq != i as u64 {
            return Err(Error::tampered(
                Diagnostic::new(
                    log,
                    format!("line {} seq", i + 1),
                    format!("{i}"),
                    format!("{}", e.seq),
                )
                .at_line(line),
            ));
        }
        if e.prev_sha256 != prev {
            return Err(Error::tampered(Diagnostic::new(
                log,
                format!("line {} prev_sha256", i + 1),
                format!("{prev} (the previous entry's sha256): an entry was removed, inserted or altered"),
                e.prev_sha256.clone(),
            )
            .at_line(line)));
        }
        let h = e.compute_sha256().map_err(|x| Error::io(log, x))?;
        if h != e.sha256 {
            return Err(Error::tampered(
                Diagnostic::new(
                    log,
                    format!("line {} sha256", i + 1),
                    format!("{h} (the entry's content hash): the entry was altered"),
                    e.sha256.clone(),
                )
                .at_line(line),
            ));
        }
        if e.model.is_some() == e.promotion.is_some() {
            return Err(Error::tampered(
                Diagnostic::new(
                    log,
                    format!("line {}", i + 1),
                    "either a model (register) or a promotion",
                    e.action.clone(),
                )
                .at_line(line),
            ));
        }
        prev = e.sha256.clone();
    }
    Ok(prev)
}

/// Verifies the registry in `dir`: the log's hash chain, that every
/// promotion names a registered model, that every registered artifact
/// file is the one registered and intact, that no artifact on disk is
/// missing from the log (an emptied or truncated log), and the log against
/// its anchors: `anchor` when given, else the default anchor file when it
/// exists (a log cut back to an earlier entry is found there).
pub fn verify(dir: impl AsRef<Path>) -> Result<Verified, Error> {
    verify_anchored(dir, None)
}

/// [`verify`] with an explicit anchor file.
pub fn verify_anchored(dir: impl AsRef<Path>, anchor: Option<&Path>) -> Result<Verified, Error> {
    let reg = Registry::new(dir.as_ref());
    // The anchor is read before the log (a `train` registering meanwhile
    // appends to the log first, then to the anchor: read the other way
    // round its new line would look like a truncation).
    let default = reg.anchor_path();
    let anchor = anchor
        .map(Path::to_path_buf)
        .or_else(|| default.is_file().then_some(default));
    let anchor_text = anchor
        .as_ref()
        .map(|a| {
            biotwin_core::output::anchor::read_anchor_text(a)
                .map(|t| (a.clone(), t))
                .map_err(|m| Error::tampered(Diagnostic::new(a, "", "a readable anchor file", m)))
        })
        .transpose()?;
    let entries = reg.entries()?;
    let head = verify_chain(&reg.log_path(), &entries)?;
    let st = reg.state()?;
    for (e, p) in &st.promotions {
        if !st.models.iter().any(|m| m.id == p.model) {
            return Err(Error::tampered(Diagnostic::new(
                reg.log_path(),
                format!("line {} promotion.model", e.seq + 1),
                "a registered model",
                format!("`{}`", p.model),
            )));
        }
    }
    for m in &st.models {
        reg.load(&m.id)?;
    }
    // Every artifact on disk must be in the log: a log emptied or cut
    // back leaves its models' files behind.
    let registered: std::collections::BTreeSet<PathBuf> = st
        .models
        .iter()
        .map(|m| PathBuf::from(&m.artifact))
        .collect();
    for rel in artifact_files(&reg.dir) {
        if !registered.contains(&rel) {
            return Err(Error::tampered(Diagnostic::new(
                reg.dir.join(&rel),
                "",
                format!("an artifact registered in {LOG_FILE}"),
                "a model file the log does not record: the log was truncated or emptied after it was registered",
            )));
        }
    }
    let hashes: Vec<String> = entries.iter().map(|e| e.sha256.clone()).collect();
    let mut anchors = 0;
    if let Some((a, text)) = &anchor_text {
        anchors =
            biotwin_core::output::anchor::check_anchor_text(a, text, "registry", &hashes, &[])
                .map_err(|m| {
                    Error::tampered(Diagnostic::new(a, "", "an anchor the log still reaches", m))
                })?
                .lines;
    }
    Ok(Verified {
        entries: entries.len(),
        artifacts: st.models.len(),
        head,
        anchors,
    })
}

/// Files under `<name>/v<version>/` of a registry directory, relative.
fn artifact_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(names) = std::fs::read_dir(dir) else {
        return out;
    };
    for n in names.flatten().filter(|e| e.path().is_dir()) {
        let Ok(versions) = std::fs::read_dir(n.path()) else {
            continue;
        };
        for v in versions.flatten() {
            let vname = v.file_name().to_string_lossy().into_owned();
            let is_version = vname.len() > 1
                && vname.starts_with('v')
                && vname[1..].bytes().all(|b| b.is_ascii_digit());
            if !is_version || !v.path().is_dir() {
                continue;
            }
            let Ok(files) = std::fs::read_dir(v.path()) else {
                continue;
            };
            for f in files.flatten().filter(|f| f.path().is_file()) {
                out.push(
                    PathBuf::from(n.file_name())
                        .join(v.file_name())
                        .join(f.file_name()),
                );
            }
        }
    }
    out.sort();
    out
}

/// When `model` lies inside a registry directory (an ancestor holding
/// `registry.jsonl`), that registry must verify before the model is used:
/// `evaluate` and `live` refuse a model from a registry whose log or
/// artifacts were tampered with.
pub fn verify_enclosing(model: &Path) -> Result<(), Error> {
    let abs = std::fs::canonicalize(model).unwrap_or_else(|_| model.to_path_buf());
    for dir in abs.ancestors().skip(1) {
        if dir.join(LOG_FILE).is_file() {
            verify(dir).map_err(|e| {
                Error::tampered(Diagnostic::new(
                    model,
                    "",
                    format!("a model from a registry that verifies ({})", dir.display()),
                    format!("a registry that does not: {e}"),
                ))
            })?;
            return Ok(());
        }
    }
    Ok(())
}

/// The user to record: `--user`, else `$USER`, else `$USERNAME`.
pub fn current_user(flag: Option<&str>) -> Result<String, Error> {
    let u = flag
        .map(str::to_string)
        .or_else(|| std::env::var("USER").ok())
        .or_else(|| std::env::var("USERNAME").ok())
        .unwrap_or_default();
    if u.trim().is_empty() {
        return Err(Error::input(
            "<command line>",
            "--user",
            "who is acting (set --user or $USER)",
            "no user",
        ));
    }
    Ok(u.trim().to_string())
}
