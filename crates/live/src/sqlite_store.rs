//! [`Store`] in one SQLite file (WAL journal), the durable store of live mode.
//!
//! Every write is one transaction, so a crash leaves it done or not done,
//! never half done. Identities make writes idempotent: a reading is unique
//! on (tenant, batch, tag, time, value), a prediction on (tenant, batch,
//! seq), an alert on (tenant, batch, cqa); `INSERT OR IGNORE` keeps the
//! first. Reads filter on the tenant in SQL, so a tenant never sees another's
//! rows. Readings come back in the order received (rowid), which resume
//! relies on. Audit entries are chained with [`super::audit::next_entry`]
//! inside an immediate transaction, so two writers cannot fork the chain.
//!
//! Schema (all times Unix seconds, UTC, except `first_predicted_s`, batch time):
//! * `batches(tenant, batch_id, unit, start_unix_s, end_unix_s, finished)`
//! * `readings(id, tenant, batch_id, tag, time_unix_s, available_unix_s, value, quality)`
//! * `predictions(tenant, batch_id, seq, model_id, input_sha256, created_unix_s, forecast_json)`
//! * `alerts(tenant, batch_id, cqa, first_predicted_s, p_in_spec, threshold, acknowledged_by)`
//! * `audit(seq, entry_json)`: the entry as hashed, so that verification sees
//!   exactly what was chained.
//! * `users`, `sessions`, `api_tokens`: accounts ([`crate::users::sqlite`]),
//!   added to an older store when it is next opened (`store.migrated`).
//! * `ledger(seq, entry_json)`, `store_meta(key, value)`: every record write
//!   is chained in the ledger in its own transaction, and an anchor line is
//!   appended to `<store>.anchor.jsonl` after it ([`super::ledger`]).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};

use super::audit::next_entry;
use super::ledger;
use super::{
    AlertRecord, AuditEntry, BatchInfo, Forecast, PredictionRecord, Quality, Reading, Store,
};
use crate::Error;
use crate::error::{Backend, BoxError};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS batches (
    tenant TEXT NOT NULL, batch_id TEXT NOT NULL, unit TEXT NOT NULL,
    start_unix_s REAL NOT NULL, end_unix_s REAL NOT NULL, finished INTEGER NOT NULL,
    PRIMARY KEY (tenant, batch_id));
CREATE TABLE IF NOT EXISTS readings (
    id INTEGER PRIMARY KEY, tenant TEXT NOT NULL, batch_id TEXT NOT NULL,
    tag TEXT NOT NULL, time_unix_s REAL NOT NULL, available_unix_s REAL,
    value REAL NOT NULL, quality TEXT NOT NULL,
    UNIQUE (tenant, batch_id, tag, time_unix_s, value));
CREATE TABLE IF NOT EXISTS predictions (
    tenant TEXT NOT NULL, batch_id TEXT NOT NULL, seq INTEGER NOT NULL,
    model_id TEXT NOT NULL, input_sha256 TEXT NOT NULL, created_unix_s REAL NOT NULL,
    forecast_json TEXT NOT NULL,
    PRIMARY KEY (tenant, batch_id, seq));
CREATE TABLE IF NOT EXISTS alerts (
    tenant TEXT NOT NULL, batch_id TEXT NOT NULL, cqa TEXT NOT NULL,
    first_predicted_s REAL NOT NULL, p_in_spec REAL NOT NULL, threshold REAL NOT NULL,
    acknowledged_by TEXT,
    PRIMARY KEY (tenant, batch_id, cqa));
CREATE TABLE IF NOT EXISTS audit (seq INTEGER PRIMARY KEY, entry_json TEXT NOT NULL);
";

/// [`Store`] in one SQLite file (module docs): the durable store of live
/// mode, with its record ledger and anchor file.
pub struct SqliteStore {
    path: PathBuf,
    /// None for an in-memory store: it has no file beside which an anchor
    /// could live, and writing `:memory:.anchor.jsonl` into the working
    /// directory would leave a file no store belongs to.
    anchor: Option<PathBuf>,
    /// The one connection that writes (and reads inside its transactions).
    conn: Mutex<Connection>,
    /// Read-only connections for the queries of the web API and the engine:
    /// WAL lets readers run beside the writer and beside each other, so a
    /// tenant downloading 5,000-reading pages no longer holds the one
    /// connection every other request needs. Empty for an in-memory
    /// database (reads then use `conn`).
    readers: Vec<Mutex<Connection>>,
    next_reader: std::sync::atomic::AtomicUsize,
}

/// Read connections of a file store.
pub const READERS: usize = 4;

impl SqliteStore {
    /// Opens (creating if needed) the store at `path`.
    pub fn open(path: &Path) -> Result<Self, Error> {
        let err = |e: rusqlite::Error| Error::store(path, Backend::Sqlite, e);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let conn = Connection::open(path).map_err(err)?;
        // Answers the mode now in force ("memory" for an in-memory database).
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get::<_, String>(0))
            .map_err(err)?;
        // NORMAL with WAL: a committed transaction survives a crash of the
        // process (kill -9) and the file never corrupts; only a power loss
        // may lose the last commits, which a restart then re-makes from the
        // source. FULL would fsync every commit, which caps the store at a few
        // hundred writes per second on ordinary disks.
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(err)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(err)?;
        conn.execute_batch(SCHEMA).map_err(err)?;
        conn.execute_batch(ledger::SCHEMA).map_err(err)?;
        let accounts_added = crate::users::sqlite::create_tables(&conn).map_err(err)?;
        let mut readers = Vec::new();
        let in_memory = path.as_os_str().is_empty() || path.as_os_str() == ":memory:";
        if !in_memory {
            for _ in 0..READERS {
                let r = Connection::open_with_flags(
                    path,
                    rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
                        | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .map_err(err)?;
                r.busy_timeout(std::time::Duration::from_secs(10))
                    .map_err(err)?;
                readers.push(Mutex::new(r));
            }
        }
        let store = SqliteStore {
            path: path.to_path_buf(),
            anchor: (!in_memory).then(|| ledger::default_anchor_path(path)),
            conn: Mutex::new(conn),
            readers,
            next_reader: std::sync::atomic::AtomicUsize::new(0),
        };
        store.adopt_if_unchained()?;
        if accounts_added {
            crate::users::sqlite::record_migration(&store)?;
        }
        Ok(store)
    }

    /// Opens an existing store as it is, creating and adopting nothing (for
    /// verification, which must not change what it checks).
    pub fn open_existing(path: &Path) -> Result<Self, Error> {
        let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|e| Error::store(path, Backend::Sqlite, e))?;
        Ok(SqliteStore {
            path: path.to_path_buf(),
            anchor: Some(ledger::default_anchor_path(path)),
            conn: Mutex::new(conn),
            readers: Vec::new(),
            next_reader: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    /// The file anchors are appended to (None for an in-memory store).
    pub fn anchor_path(&self) -> Option<&Path> {
        self.anchor.as_deref()
    }

    /// A store written before records were chained gets every record it
    /// holds chained now, once, with a `store.records_adopted` audit entry
    /// saying how many: from then on they are tamper-evident (what happened
    /// to them before cannot be vouched for, and the entry says so).
    fn adopt_if_unchained(&self) -> Result<(), Error> {
        let anchor = self.with(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let marked: Option<String> = tx
                .query_row(
                    "SELECT value FROM store_meta WHERE key = 'records_chained'",
                    [],
                    |r| r.get(0),
                )
                .optional()?;
            if marked.is_some() {
                return Ok(None);
            }
            let any: i64 = tx.query_row(
                "SELECT (SELECT COUNT(*) FROM batches) + (SELECT COUNT(*) FROM readings)
                 + (SELECT COUNT(*) FROM predictions) + (SELECT COUNT(*) FROM alerts)
                 + (SELECT COUNT(*) FROM audit)",
                [],
                |r| r.get(0),
            )?;
            let mut anchor = None;
            if any > 0 {
                let n = ledger::adopt(&tx)?;
                eprintln!(
                    "{}: a store written before records were chained: {} batches, {} readings, {} predictions, {} alerts and {} audit entries chained now (audit entry store.records_adopted)",
                    self.path.display(),
                    n[0],
                    n[1],
                    n[2],
                    n[3],
                    n[4]
                );
                audit_in(
                    &tx,
                    "biotwin-live",
                    None,
                    "store.records_adopted",
                    serde_json::json!({
                        "batches": n[0], "readings": n[1], "predictions": n[2],
                        "alerts": n[3], "audit_entries": n[4],
                        "note": "records written before this entry were chained when adopted, not when written"
                    }),
                )?;
                anchor = Some(ledger::anchor_now(&tx, now_unix_s())?);
            }
            tx.execute(
                "INSERT INTO store_meta VALUES ('records_chained', '1')",
                [],
            )?;
            tx.commit()?;
            Ok(anchor)
        })?;
        self.anchor_write(anchor)
    }

    pub(crate) fn anchor_write(&self, a: Option<ledger::Anchor>) -> Result<(), Error> {
        if let (Some(a), Some(path)) = (a, &self.anchor) {
            ledger::write_anchor(path, &a).map_err(|e| {
                Error::io(
                    path,
                    format!(
                        "cannot append the store's anchor (the write itself is committed): {e}"
                    ),
                )
            })?;
        }
        Ok(())
    }

    /// Checks every record against the ledger (see [`ledger::verify`]).
    pub fn verify_records(&self) -> Result<Result<ledger::RecordsVerified, Vec<String>>, Error> {
        let c = self
            .conn
            .lock()
            .map_err(|_| self.err("connection poisoned by an earlier panic"))?;
        Ok(ledger::verify(&c))
    }

    /// Hashes of the ledger and audit entries, in order (for anchors).
    pub fn chain_hashes(&self) -> Result<(Vec<String>, Vec<String>), Error> {
        self.with(|c| ledger::chain_hashes(c))
    }

    /// Whether the table exists (verification reports a dropped one).
    pub fn has_table(&self, name: &str) -> Result<bool, Error> {
        self.with(|c| {
            c.query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
                [name],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n > 0)
        })
    }

    pub(crate) fn err(&self, e: impl Into<BoxError>) -> Error {
        Error::store(&self.path, Backend::Sqlite, e)
    }

    /// Runs a query on a free read connection (the first not in use from a
    /// rotating start; if all are busy, waits for the next in turn).
    fn read<T>(&self, f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>) -> Result<T, Error> {
        let n = self.readers.len();
        if n == 0 {
            return self.with(f);
        }
        let start = self
            .next_reader
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut guard = None;
        for k in 0..n {
            if let Ok(g) = self.readers[(start + k) % n].try_lock() {
                guard = Some(g);
                break;
            }
        }
        let mut c = match guard {
            Some(g) => g,
            None => self.readers[start % n]
                .lock()
                .map_err(|_| self.err("read connection poisoned by an earlier panic"))?,
        };
        f(&mut c).map_err(|e| self.err(e))
    }

    pub(crate) fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T, Error> {
        let mut c = self
            .conn
            .lock()
            .map_err(|_| self.err("connection poisoned by an earlier panic"))?;
        f(&mut c).map_err(|e| self.err(e))
    }
}

fn quality_text(q: Quality) -> &'static str {
    match q {
        Quality::Good => "good",
        Quality::Uncertain => "uncertain",
        Quality::Bad => "bad",
    }
}

fn quality_of(s: &str) -> Quality {
    match s {
        "good" => Quality::Good,
        "uncertain" => Quality::Uncertain,
        _ => Quality::Bad,
    }
}

fn json_err(e: serde_json::Error) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(Box::new(e))
}

fn batch_row(r: &rusqlite::Row) -> rusqlite::Result<BatchInfo> {
    Ok(BatchInfo {
        tenant: r.get(0)?,
        batch_id: r.get(1)?,
        unit: r.get(2)?,
        start_unix_s: r.get(3)?,
        end_unix_s: r.get(4)?,
        finished: r.get::<_, i64>(5)? != 0,
    })
}

fn alert_row(r: &rusqlite::Row) -> rusqlite::Result<AlertRecord> {
    Ok(AlertRecord {
        tenant: r.get(0)?,
        batch_id: r.get(1)?,
        cqa: r.get(2)?,
        first_predicted_s: r.get(3)?,
        p_in_spec: r.get(4)?,
        threshold: r.get(5)?,
        acknowledged_by: r.get(6)?,
    })
}

/// Chains the alert row's current content; the anchor after it.
fn chain_alert(
    tx: &Connection,
    tenant: &str,
    batch_id: &str,
    cqa: &str,
) -> rusqlite::Result<ledger::Anchor> {
    let h = ledger::alert_sha256(tx, tenant, batch_id, cqa)?;
    ledger::append(
        tx,
        "alert",
        serde_json::json!({"tenant": tenant, "batch_id": batch_id, "cqa": cqa}),
        h.unwrap_or_default(),
    )?;
    ledger::anchor_now(tx, now_unix_s())
}

/// Appends an audit entry and its ledger entry inside the caller's
/// (immediate) transaction.
pub(crate) fn audit_in(
    tx: &Connection,
    actor: &str,
    tenant: Option<&str>,
    action: &str,
    detail: serde_json::Value,
) -> rusqlite::Result<AuditEntry> {
    let last: Option<String> = tx
        .query_row(
            "SELECT entry_json FROM audit ORDER BY seq DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .optional()?;
    let prev: Option<AuditEntry> = match last {
        Some(j) => Some(serde_json::from_str(&j).map_err(json_err)?),
        None => None,
    };
    let e = next_entry(prev.as_ref(), now_unix_s(), actor, tenant, action, detail);
    let json = serde_json::to_string(&e).map_err(json_err)?;
    tx.execute(
        "INSERT INTO audit VALUES (?1, ?2)",
        params![e.seq as i64, json],
    )?;
    ledger::append(
        tx,
        "audit",
        serde_json::json!({ "seq": e.seq }),
        e.sha256.clone(),
    )?;
    Ok(e)
}

pub(crate) fn now_unix_s() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl Store for SqliteStore {
    fn upsert_batch(&self, b: &BatchInfo) -> Result<(), Error> {
        let anchor = self.with(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let before = ledger::batch_sha256(&tx, &b.tenant, &b.batch_id)?;
            tx.execute(
                "INSERT INTO batches VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (tenant, batch_id) DO UPDATE SET unit = ?3,
                 start_unix_s = ?4, end_unix_s = ?5, finished = ?6",
                params![
                    b.tenant,
                    b.batch_id,
                    b.unit,
                    b.start_unix_s,
                    b.end_unix_s,
                    b.finished as i64
                ],
            )?;
            let after = ledger::batch_sha256(&tx, &b.tenant, &b.batch_id)?;
            let mut anchor = None;
            if before != after {
                ledger::append(
                    &tx,
                    "batch",
                    serde_json::json!({"tenant": b.tenant, "batch_id": b.batch_id}),
                    after.unwrap_or_default(),
                )?;
                anchor = Some(ledger::anchor_now(&tx, now_unix_s())?);
            }
            tx.commit()?;
            Ok(anchor)
        })?;
        self.anchor_write(anchor)
    }

    fn insert_readings(&self, tenant: &str, batch_id: &str, rs: &[Reading]) -> Result<(), Error> {
        let anchor = self.with(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let before = ledger::max_reading_id(&tx)?;
            {
                let mut st = tx.prepare_cached(
                    "INSERT OR IGNORE INTO readings
                     (tenant, batch_id, tag, time_unix_s, available_unix_s, value, quality)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )?;
                for r in rs {
                    st.execute(params![
                        tenant,
                        batch_id,
                        r.tag,
                        r.time_unix_s,
                        r.available_unix_s,
                        r.value,
                        quality_text(r.quality)
                    ])?;
                }
            }
            let anchor = match ledger::chain_readings_after(&tx, before)? {
                Some(_) => Some(ledger::anchor_now(&tx, now_unix_s())?),
                None => None,
            };
            tx.commit()?;
            Ok(anchor)
        })?;
        self.anchor_write(anchor)
    }

    fn insert_prediction(&self, p: &PredictionRecord) -> Result<bool, Error> {
        let json = serde_json::to_string(&p.forecast).map_err(|e| self.err(e))?;
        // JSON writes NaN as null, which would make the record unreadable:
        // refuse it rather than store what cannot be read back.
        serde_json::from_str::<Forecast>(&json).map_err(|e| {
            self.err(format!(
                "prediction {} of batch {} has a non-finite number: {e}",
                p.seq, p.batch_id
            ))
        })?;
        let (new, anchor) = self.with(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let n = tx.execute(
                "INSERT OR IGNORE INTO predictions VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    p.tenant,
                    p.batch_id,
                    p.seq as i64,
                    p.model_id,
                    p.input_sha256,
                    p.created_unix_s,
                    json
                ],
            )?;
            let mut anchor = None;
            if n == 1 {
                let h = ledger::prediction_sha256(&tx, &p.tenant, &p.batch_id, p.seq)?;
                ledger::append(
                    &tx,
                    "prediction",
                    serde_json::json!({"tenant": p.tenant, "batch_id": p.batch_id, "seq": p.seq}),
                    h.unwrap_or_default(),
                )?;
                anchor = Some(ledger::anchor_now(&tx, now_unix_s())?);
            }
            tx.commit()?;
            Ok((n == 1, anchor))
        })?;
        self.anchor_write(anchor)?;
        Ok(new)
    }

    fn insert_alert(&self, a: &AlertRecord) -> Result<bool, Error> {
        let (new, anchor) = self.with(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let n = tx.execute(
                "INSERT OR IGNORE INTO alerts VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    a.tenant,
                    a.batch_id,
                    a.cqa,
                    a.first_predicted_s,
                    a.p_in_spec,
                    a.threshold,
                    a.acknowledged_by
                ],
            )?;
            let anchor = if n == 1 {
                Some(chain_alert(&tx, &a.tenant, &a.batch_id, &a.cqa)?)
            } else {
                None
            };
            tx.commit()?;
            Ok((n == 1, anchor))
        })?;
        self.anchor_write(anchor)?;
        Ok(new)
    }

    fn append_audit(
        &self,
        actor: &str,
        tenant: Option<&str>,
        action: &str,
        detail: serde_json::Value,
    ) -> Result<AuditEntry, Error> {
        let (e, anchor) = self.with(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let e = audit_in(&tx, actor, tenant, action, detail)?;
            let anchor = ledger::anchor_now(&tx, now_unix_s())?;
            tx.commit()?;
            Ok((e, anchor))
        })?;
        self.anchor_write(Some(anchor))?;
        Ok(e)
    }

    fn batches(&self, tenant: &str) -> Result<Vec<BatchInfo>, Error> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT * FROM batches WHERE tenant = ?1 ORDER BY start_unix_s, batch_id",
            )?;
            st.query_map([tenant], batch_row)?.collect()
        })
    }

    fn batch(&self, tenant: &str, batch_id: &str) -> Result<Option<BatchInfo>, Error> {
        self.read(|c| {
            c.query_row(
                "SELECT * FROM batches WHERE tenant = ?1 AND batch_id = ?2",
                [tenant, batch_id],
                batch_row,
            )
            .optional()
        })
    }

    /// In SQL, without reading the rows out (the trait's meaning: the
    /// largest finite result time, else time stamp).
    fn last_data_unix_s(&self, tenant: &str, batch_id: &str) -> Result<Option<f64>, Error> {
        self.read(|c| {
            c.prepare_cached(
                "SELECT MAX(v) FROM (SELECT COALESCE(available_unix_s, time_unix_s) AS v
                 FROM readings WHERE tenant = ?1 AND batch_id = ?2)
                 WHERE v >= -1.7976931348623157e308 AND v <= 1.7976931348623157e308",
            )?
            .query_row([tenant, batch_id], |r| r.get::<_, Option<f64>>(0))
        })
    }

    fn readings(&self, tenant: &str, batch_id: &str) -> Result<Vec<Reading>, Error> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT tag, time_unix_s, available_unix_s, value, quality FROM readings
                 WHERE tenant = ?1 AND batch_id = ?2 ORDER BY id",
            )?;
            st.query_map([tenant, batch_id], |r| {
                Ok(Reading {
                    tag: r.get(0)?,
                    time_unix_s: r.get(1)?,
                    available_unix_s: r.get(2)?,
                    value: r.get(3)?,
                    quality: quality_of(&r.get::<_, String>(4)?),
                })
            })?
            .collect()
        })
    }

    fn predictions(&self, tenant: &str, batch_id: &str) -> Result<Vec<PredictionRecord>, Error> {
        let rows: Vec<(PredictionRecord, Option<String>)> = self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT tenant, batch_id, seq, model_id, input_sha256, created_unix_s, forecast_json
                 FROM predictions WHERE tenant = ?1 AND batch_id = ?2 ORDER BY seq",
            )?;
            st.query_map([tenant, batch_id], |r| {
                let json: String = r.get(6)?;
                let (forecast, bad) = match serde_json::from_str::<Forecast>(&json) {
                    Ok(f) => (f, None),
                    Err(e) => (
                        Forecast {
                            time_s: 0.0,
                            cqas: vec![],
                            state: vec![],
                        },
                        Some(e.to_string()),
                    ),
                };
                Ok((
                    PredictionRecord {
                        tenant: r.get(0)?,
                        batch_id: r.get(1)?,
                        seq: r.get::<_, i64>(2)? as u64,
                        model_id: r.get(3)?,
                        input_sha256: r.get(4)?,
                        created_unix_s: r.get(5)?,
                        forecast,
                    },
                    bad,
                ))
            })?
            .collect()
        })?;
        let mut out = Vec::with_capacity(rows.len());
        for (p, bad) in rows {
            match bad {
                None => out.push(p),
                Some(e) => eprintln!(
                    "{}: prediction {} of batch {} (tenant {}) is corrupt and was skipped: {e} (biotwin audit verify names every altered record)",
                    self.path.display(),
                    p.seq,
                    p.batch_id,
                    p.tenant
                ),
            }
        }
        Ok(out)
    }

    fn readings_page(
        &self,
        tenant: &str,
        batch_id: &str,
        tag: Option<&str>,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<Reading>, usize), Error> {
        self.read(|c| {
            let total: i64 = c.query_row(
                "SELECT COUNT(*) FROM readings WHERE tenant = ?1 AND batch_id = ?2
                 AND (?3 IS NULL OR tag = ?3)",
                params![tenant, batch_id, tag],
                |r| r.get(0),
            )?;
            let mut st = c.prepare_cached(
                "SELECT tag, time_unix_s, available_unix_s, value, quality FROM readings
                 WHERE tenant = ?1 AND batch_id = ?2 AND (?3 IS NULL OR tag = ?3)
                 ORDER BY id LIMIT ?4 OFFSET ?5",
            )?;
            let rows = st
                .query_map(
                    params![
                        tenant,
                        batch_id,
                        tag,
                        limit.min(i64::MAX as usize) as i64,
                        offset.min(i64::MAX as usize) as i64
                    ],
                    |r| {
                        Ok(Reading {
                            tag: r.get(0)?,
                            time_unix_s: r.get(1)?,
                            available_unix_s: r.get(2)?,
                            value: r.get(3)?,
                            quality: quality_of(&r.get::<_, String>(4)?),
                        })
                    },
                )?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok((rows, total as usize))
        })
    }

    fn alerts(&self, tenant: &str) -> Result<Vec<AlertRecord>, Error> {
        self.read(|c| {
            let mut st =
                c.prepare_cached("SELECT * FROM alerts WHERE tenant = ?1 ORDER BY batch_id, cqa")?;
            st.query_map([tenant], alert_row)?.collect()
        })
    }

    fn acknowledge_alert(
        &self,
        tenant: &str,
        batch_id: &str,
        cqa: &str,
        user: &str,
    ) -> Result<bool, Error> {
        let (done, anchor) = self.with(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let n = tx.execute(
                "UPDATE alerts SET acknowledged_by = ?4
                 WHERE tenant = ?1 AND batch_id = ?2 AND cqa = ?3",
                params![tenant, batch_id, cqa, user],
            )?;
            let anchor = if n == 1 {
                Some(chain_alert(&tx, tenant, batch_id, cqa)?)
            } else {
                None
            };
            tx.commit()?;
            Ok((n == 1, anchor))
        })?;
        self.anchor_write(anchor)?;
        Ok(done)
    }

    fn acknowledge_alert_audited(
        &self,
        tenant: &str,
        batch_id: &str,
        cqa: &str,
        user: &str,
        actor: &str,
        action: &str,
        detail: &dyn Fn(&AlertRecord) -> serde_json::Value,
    ) -> Result<Option<(AlertRecord, AuditEntry)>, Error> {
        // One immediate transaction: the acknowledgement, the alert's
        // ledger entry and the audit entry commit together or not at all.
        let (done, anchor) = self.with(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let n = tx.execute(
                "UPDATE alerts SET acknowledged_by = ?4
                 WHERE tenant = ?1 AND batch_id = ?2 AND cqa = ?3",
                params![tenant, batch_id, cqa, user],
            )?;
            if n != 1 {
                return Ok((None, None));
            }
            chain_alert(&tx, tenant, batch_id, cqa)?;
            let a = tx.query_row(
                "SELECT * FROM alerts WHERE tenant = ?1 AND batch_id = ?2 AND cqa = ?3",
                params![tenant, batch_id, cqa],
                alert_row,
            )?;
            let e = audit_in(&tx, actor, Some(tenant), action, detail(&a))?;
            let anchor = ledger::anchor_now(&tx, now_unix_s())?;
            tx.commit()?;
            Ok((Some((a, e)), Some(anchor)))
        })?;
        self.anchor_write(anchor)?;
        Ok(done)
    }

    fn accounts(&self) -> Option<&dyn crate::users::Accounts> {
        Some(self)
    }

    fn audit(&self) -> Result<Vec<AuditEntry>, Error> {
        self.read(|c| {
            let mut st = c.prepare_cached("SELECT entry_json FROM audit ORDER BY seq")?;
            st.query_map([], |r| {
                let j: String = r.get(0)?;
                serde_json::from_str(&j).map_err(|e| {
                    rusqlite::Error::FromSqlConversionFailure(
                        0,
                        rusqlite::types::Type::Text,
                        Box::new(e),
                    )
                })
            })?
            .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit;
    use serde_json::json;

    fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("s.sqlite")).unwrap();
        (dir, s)
    }

    // The store suite (crate::store_suite), the same checks the
    // PostgreSQL store runs.
    #[test]
    fn store_suite() {
        let dirs = std::sync::Mutex::new(Vec::new());
        crate::store_suite::run_all(&|| {
            let (d, s) = store();
            dirs.lock().unwrap().push(d);
            std::sync::Arc::new(s)
        });
    }

    #[test]
    fn concurrent_writers_on_separate_connections_keep_both_chains() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite");
        let handles: Vec<std::sync::Arc<dyn Store>> = (0..3)
            .map(|_| std::sync::Arc::new(SqliteStore::open(&path).unwrap()) as _)
            .collect();
        crate::store_suite::concurrent_writers_keep_both_chains(handles, &|| {
            SqliteStore::open_existing(&path)
                .unwrap()
                .verify_records()
                .unwrap()
        });
    }

    // An in-memory store has no file to put an anchor beside: it writes
    // none (it used to append to `./:memory:.anchor.jsonl`, 190 MB of it
    // after a day of test runs), while a file store writes one per write.
    #[test]
    fn an_in_memory_store_writes_no_anchor_file_and_a_file_store_does() {
        let s = SqliteStore::open(Path::new(":memory:")).unwrap();
        assert_eq!(s.anchor_path(), None);
        s.append_audit("biotwin-live", None, "config.loaded", json!({}))
            .unwrap();
        let (_dir, f) = store();
        f.append_audit("biotwin-live", None, "config.loaded", json!({}))
            .unwrap();
        let p = f.anchor_path().expect("a file store has an anchor path");
        assert!(p.is_file(), "{}", p.display());
    }

    #[test]
    fn audit_chain_survives_reopen_and_tampering_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite");
        {
            let s = SqliteStore::open(&path).unwrap();
            s.append_audit("biotwin-live", None, "config.loaded", json!({"site": "x"}))
                .unwrap();
            s.append_audit(
                "biotwin-live",
                Some("a"),
                "batch.started",
                json!({"batch": "B1"}),
            )
            .unwrap();
        }
        let s = SqliteStore::open(&path).unwrap();
        let e = s
            .append_audit("qa", Some("a"), "alert.acknowledged", json!({}))
            .unwrap();
        assert_eq!(e.seq, 2);
        let trail = s.audit().unwrap();
        assert_eq!(audit::verify(&trail).unwrap(), e.sha256);
        s.with(|c| {
            c.execute(
                "UPDATE audit SET entry_json = replace(entry_json, 'B1', 'B9') WHERE seq = 1",
                [],
            )
        })
        .unwrap();
        assert_eq!(audit::verify(&s.audit().unwrap()).unwrap_err().index, 1);
    }
}
