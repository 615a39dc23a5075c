//! [`Store`] in a PostgreSQL database: the store of a site that outgrows
//! one SQLite file, or whose workers and web servers run on several hosts.
//!
//! Driver: the `postgres` crate (the blocking face of `tokio-postgres`,
//! maintained by the rust-postgres project). It was chosen over sqlx because
//! the [`Store`] trait is synchronous (the engine's loop and the web API's
//! `spawn_blocking` call it), sqlx's compile-time query checking needs a
//! database at build time or an offline cache, and sqlx's dependency tree
//! (its own pool, macros, several back ends) adds several times the compile
//! time for nothing this store uses.
//!
//! Semantics are the SQLite store's ([`crate::sqlite_store`]), table for
//! table and row for row:
//! * identities make writes idempotent (`ON CONFLICT DO NOTHING`): a
//!   reading is kept once per (tenant, batch, tag, time, value), a
//!   prediction once per (tenant, batch, seq), an alert once per (tenant,
//!   batch, cqa);
//! * every read filters on the tenant in SQL;
//! * the audit trail ([`crate::audit`]) and the record ledger
//!   ([`crate::ledger`]) are the same chains with the same canonical rows
//!   (floats by their bits), so `biotwin audit verify` checks a PostgreSQL
//!   store with the same code, and a store copied from SQLite keeps its
//!   hashes ([`crate::store_copy`]).
//!
//! **Concurrent writers.** Both chains are global sequences: each entry
//! links to the one before. Every write transaction therefore first takes
//! one transaction-level advisory lock, `pg_advisory_xact_lock(`
//! [`WRITE_LOCK_KEY`] `)`, released by its commit or rollback (also when
//! the writing process is killed: the server ends its session). Writers
//! from any number of processes and hosts thus append one after the other,
//! the same guarantee SQLite's `BEGIN IMMEDIATE` gives. (Several active workers of one
//! site share its batches by batch leases, [`crate::pg_lease`]; each write
//! of a batch's records is fenced by its lease inside the same
//! transaction.) Transactions run at
//! READ COMMITTED: each statement after the lock sees every transaction
//! committed before the lock was granted (under REPEATABLE READ the snapshot
//! would be taken by the lock statement itself, before the wait, and two
//! writers could read the same head and fork the chain). Reads take no lock.
//!
//! **Schema versions.** The tables are made by numbered [`MIGRATIONS`],
//! applied in order by `biotwin store migrate` (each in its own transaction,
//! recorded in `schema_migrations` and in the audit trail as
//! `store.migrated`). Opening a store whose schema is older or newer than
//! this build's refuses with what to do; nothing is created implicitly.
//!
//! **Credentials.** The site file names the database with a URL without a
//! password (`[store] url = "postgres://biotwin@db.example/site"`); the
//! password comes from the environment variable `password_env` names
//! (default `PGPASSWORD`). A URL with a password is refused, and messages
//! name the database only as `postgres://user@host:port/dbname`.
//!
//! Not here (yet): user accounts (the SQLite store's `users`, sessions and
//! API tokens): over PostgreSQL only the tenants' shared tokens open the
//! page, read-only; and anchor files (`<store>.anchor.jsonl`), which the
//! SQLite store appends next to its file: with PostgreSQL, keep the
//! database's own WAL archive on separate media instead.

use std::sync::{Condvar, Mutex};

use postgres::{Client, NoTls, Transaction};

use super::audit::next_entry;
use super::ledger::{self, LedgerEntry};
use super::{
    AlertRecord, AuditEntry, BatchInfo, Forecast, PredictionRecord, Quality, Reading, Store,
};
use crate::Error;
use crate::error::{Backend, BoxError};
use crate::sqlite_store::now_unix_s;

/// Key of the advisory lock every write transaction holds.
pub const WRITE_LOCK_KEY: i64 = 0x6269_6f74_7769_6e; // "biotwin"
/// Key of the lock `migrate` holds, so two migrations do not interleave.
const MIGRATE_LOCK_KEY: i64 = WRITE_LOCK_KEY + 1;
/// Connections one store object opens at most (writers wait on the lock
/// anyway; readers share the rest).
pub const MAX_CONNECTIONS: usize = 6;

/// One schema version.
pub struct Migration {
    /// Schema version number, 1, 2, 3, ... in order.
    pub version: i32,
    /// Short name of the change (recorded with the version).
    pub name: &'static str,
    /// The SQL that brings the schema from the version before to this one.
    pub sql: &'static str,
}

/// Every schema version, in order. Never edit one that has shipped: add the
/// next.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "records, audit trail and record ledger",
        sql: "
CREATE TABLE batches (
    tenant TEXT NOT NULL, batch_id TEXT NOT NULL, unit TEXT NOT NULL,
    start_unix_s DOUBLE PRECISION NOT NULL, end_unix_s DOUBLE PRECISION NOT NULL,
    finished BOOLEAN NOT NULL,
    PRIMARY KEY (tenant, batch_id));
CREATE TABLE readings (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    tenant TEXT NOT NULL, batch_id TEXT NOT NULL, tag TEXT NOT NULL,
    time_unix_s DOUBLE PRECISION NOT NULL, available_unix_s DOUBLE PRECISION,
    value DOUBLE PRECISION NOT NULL, quality TEXT NOT NULL,
    UNIQUE (tenant, batch_id, tag, time_unix_s, value));
CREATE INDEX readings_batch ON readings (tenant, batch_id, id);
CREATE TABLE predictions (
    tenant TEXT NOT NULL, batch_id TEXT NOT NULL, seq BIGINT NOT NULL,
    model_id TEXT NOT NULL, input_sha256 TEXT NOT NULL,
    created_unix_s DOUBLE PRECISION NOT NULL, forecast_json TEXT NOT NULL,
    PRIMARY KEY (tenant, batch_id, seq));
CREATE TABLE alerts (
    tenant TEXT NOT NULL, batch_id TEXT NOT NULL, cqa TEXT NOT NULL,
    first_predicted_s DOUBLE PRECISION NOT NULL, p_in_spec DOUBLE PRECISION NOT NULL,
    threshold DOUBLE PRECISION NOT NULL, acknowledged_by TEXT,
    PRIMARY KEY (tenant, batch_id, cqa));
CREATE TABLE audit (seq BIGINT PRIMARY KEY, entry_json TEXT NOT NULL);
CREATE TABLE ledger (seq BIGINT PRIMARY KEY, entry_json TEXT NOT NULL);
CREATE TABLE store_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO store_meta VALUES ('records_chained', '1');
",
    },
    Migration {
        version: 2,
        name: "batch leases of a multi-worker site",
        sql: crate::pg_lease::MIGRATION_SQL,
    },
    Migration {
        version: 3,
        name: "user accounts, sessions and API tokens",
        sql: crate::users::pg::MIGRATION_SQL,
    },
];

/// The schema version this build reads and writes.
pub fn latest_version() -> i32 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// Where a PostgreSQL store is, as the site file or command line gives it.
#[derive(Debug, Clone, PartialEq)]
pub struct PgTarget {
    /// `postgres://user@host:port/dbname` (no password).
    pub url: String,
    /// Environment variable holding the password (`PGPASSWORD` by default);
    /// unset means no password (e.g. `trust` or peer authentication).
    pub password_env: String,
}

/// Default of `password_env`.
pub const DEFAULT_PASSWORD_ENV: &str = "PGPASSWORD";

/// Whether `s` names a PostgreSQL database rather than a SQLite file.
pub fn is_url(s: &str) -> bool {
    s.starts_with("postgres://") || s.starts_with("postgresql://")
}

impl PgTarget {
    /// A target at `url` (`postgres://user@host:port/dbname`, no password),
    /// its password read from the environment variable `password_env`
    /// (default `PGPASSWORD`) when connecting.
    pub fn new(url: &str, password_env: Option<&str>) -> Self {
        PgTarget {
            url: url.to_string(),
            password_env: password_env.unwrap_or(DEFAULT_PASSWORD_ENV).to_string(),
        }
    }

    /// The URL parsed and checked: it must hold no password. The problem,
    /// if any, as (expected, found) for a diagnostic; the URL itself is
    /// never repeated in it.
    pub fn parse(&self) -> Result<postgres::Config, (String, String)> {
        if !is_url(&self.url) {
            return Err((
                "a postgres://user@host:port/dbname URL".into(),
                "a value that does not start with postgres://".into(),
            ));
        }
        let cfg: postgres::Config = self.url.parse().map_err(|e: postgres::Error| {
            (
                "a postgres://user@host:port/dbname URL".into(),
                format!("a URL the driver cannot read ({e})"),
            )
        })?;
        if cfg.get_password().is_some() {
            return Err((
                format!(
                    "a URL without a password (the password goes in the environment variable {})",
                    self.password_env
                ),
                "a URL with a password (not repeated here; change that password, it may have been logged by whatever showed this file)".into(),
            ));
        }
        if cfg.get_dbname().is_none() {
            return Err((
                "a URL naming the database (postgres://user@host:port/dbname)".into(),
                "no database name".into(),
            ));
        }
        Ok(cfg)
    }

    /// `postgres://user@host:port/dbname`, for messages.
    pub fn display(&self) -> String {
        match self.parse() {
            Ok(c) => redacted(&c),
            Err(_) => "postgres://(unreadable URL)".into(),
        }
    }

    /// The driver's configuration with the password from the environment.
    pub(crate) fn config(&self) -> Result<postgres::Config, Error> {
        let mut cfg = self
            .parse()
            .map_err(|(exp, found)| Error::input("<store url>", "store.url", exp, found))?;
        if let Ok(pw) = std::env::var(&self.password_env) {
            cfg.password(pw);
        }
        cfg.connect_timeout(std::time::Duration::from_secs(10));
        if cfg.get_application_name().is_none() {
            cfg.application_name("biotwin");
        }
        Ok(cfg)
    }
}

fn redacted(c: &postgres::Config) -> String {
    use postgres::config::Host;
    let host = match c.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        Some(Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    let port = c.get_ports().first().copied().unwrap_or(5432);
    format!(
        "postgres://{}@{host}:{port}/{}",
        c.get_user().unwrap_or(""),
        c.get_dbname().unwrap_or("")
    )
}

/// What can go wrong inside a transaction.
#[derive(Debug)]
pub(crate) enum E {
    Pg(postgres::Error),
    Other(String),
}

impl From<postgres::Error> for E {
    fn from(e: postgres::Error) -> Self {
        E::Pg(e)
    }
}

impl From<serde_json::Error> for E {
    fn from(e: serde_json::Error) -> Self {
        E::Other(e.to_string())
    }
}

impl std::fmt::Display for E {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            // The server's own message and detail (never the password:
            // neither the driver nor the server repeats it).
            E::Pg(e) => match e.as_db_error() {
                Some(d) => write!(f, "{}: {}", d.severity(), d.message()),
                // A connection failure's reason (refused, timed out, name
                // not found) is in the error's source chain.
                None => {
                    write!(f, "{e}")?;
                    let mut cause = std::error::Error::source(e);
                    while let Some(c) = cause {
                        write!(f, ": {c}")?;
                        cause = c.source();
                    }
                    Ok(())
                }
            },
            E::Other(s) => f.write_str(s),
        }
    }
}

/// The driver's error is the source; the text above already includes its
/// chain (a connection failure's reason), as the user has always read it.
impl std::error::Error for E {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            E::Pg(e) => Some(e),
            E::Other(_) => None,
        }
    }
}

/// A few connections, opened on demand and kept; a broken one is dropped.
struct Pool {
    cfg: postgres::Config,
    state: Mutex<(Vec<Client>, usize)>,
    freed: Condvar,
}

impl Pool {
    fn take(&self) -> Result<Client, E> {
        let mut st = self
            .state
            .lock()
            .map_err(|_| E::Other("pool poisoned by an earlier panic".into()))?;
        loop {
            if let Some(c) = st.0.pop() {
                if c.is_closed() {
                    st.1 -= 1;
                    continue;
                }
                return Ok(c);
            }
            if st.1 < MAX_CONNECTIONS {
                st.1 += 1;
                drop(st);
                return self.cfg.connect(NoTls).map_err(|e| {
                    if let Ok(mut s) = self.state.lock() {
                        s.1 -= 1;
                    }
                    self.freed.notify_one();
                    E::Pg(e)
                });
            }
            st = self
                .freed
                .wait(st)
                .map_err(|_| E::Other("pool poisoned by an earlier panic".into()))?;
        }
    }

    fn give(&self, c: Client) {
        if let Ok(mut st) = self.state.lock() {
            if c.is_closed() {
                st.1 -= 1;
            } else {
                st.0.push(c);
            }
        }
        self.freed.notify_one();
    }
}

/// [`Store`] in a PostgreSQL database (module docs): connections from a
/// small pool, every write one transaction under the site's write lock.
pub struct PgStore {
    target: PgTarget,
    /// `postgres://user@host:port/dbname`, for messages.
    shown: String,
    pool: Pool,
    /// A worker's batch leases ([`crate::pg_lease`]): when set, every
    /// write of a site batch's records checks, in its own transaction, that
    /// this worker still holds the batch's lease at the epoch it acquired.
    fence: std::sync::OnceLock<std::sync::Arc<crate::pg_lease::Fence>>,
    /// This process's anchor file (`[store] anchor`): after each write
    /// that moved a chain, one line with both chains' counts and heads
    /// (docs/live.md, "Anchors of a PostgreSQL site").
    anchor: std::sync::OnceLock<std::path::PathBuf>,
    /// The (ledger, audit) counts of the last anchor line this process
    /// wrote: a write that moved neither chain appends none.
    anchored: Mutex<Option<(u64, u64)>>,
}

impl PgStore {
    fn connect(target: &PgTarget) -> Result<Self, Error> {
        let cfg = target.config()?;
        let s = PgStore {
            target: target.clone(),
            shown: redacted(&cfg),
            pool: Pool {
                cfg,
                state: Mutex::new((Vec::new(), 0)),
                freed: Condvar::new(),
            },
            fence: std::sync::OnceLock::new(),
            anchor: std::sync::OnceLock::new(),
            anchored: Mutex::new(None),
        };
        // Connect now, so a wrong host or password fails here.
        let c = s.pool.take().map_err(|e| s.err(e))?;
        s.pool.give(c);
        Ok(s)
    }

    /// Opens the store for reading and writing; its schema must be this
    /// build's ([`latest_version`]).
    pub fn open(target: &PgTarget) -> Result<Self, Error> {
        let s = Self::connect(target)?;
        let v = s.schema_version()?;
        let latest = latest_version();
        if v < latest {
            return Err(Error::input(
                &s.shown,
                "schema_migrations",
                format!(
                    "schema version {latest} (apply the migrations with `biotwin store migrate --url {}`, or `--config SITE_FILE`)",
                    s.shown
                ),
                format!("version {v}"),
            ));
        }
        if v > latest {
            return Err(Error::input(
                &s.shown,
                "schema_migrations",
                format!("schema version {latest} or older (this build of biotwin)"),
                format!("version {v}, written by a newer biotwin: upgrade this one"),
            ));
        }
        Ok(s)
    }

    /// Opens the store and applies every migration it lacks (for
    /// `biotwin store migrate`), in one transaction; returns the versions
    /// applied.
    pub fn migrate(target: &PgTarget) -> Result<(Self, Vec<i32>), Error> {
        let s = Self::connect(target)?;
        let applied = s.client(|c| {
            let mut tx = c.transaction()?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATE_LOCK_KEY])?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK_KEY])?;
            let applied = migrate_in(&mut tx, true)?;
            tx.commit()?;
            Ok(applied)
        })?;
        Ok((s, applied))
    }

    /// Connects without checking the schema (for `store copy`, which makes
    /// it).
    pub(crate) fn connect_bare(target: &PgTarget) -> Result<Self, Error> {
        Self::connect(target)
    }

    /// The schema version applied (0: none).
    pub fn schema_version(&self) -> Result<i32, Error> {
        self.client(|c| {
            let exists: bool = c
                .query_one("SELECT to_regclass('schema_migrations') IS NOT NULL", &[])?
                .get(0);
            if !exists {
                return Ok(0);
            }
            Ok(c.query_one(
                "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
                &[],
            )?
            .get(0))
        })
    }

    /// `postgres://user@host:port/dbname`.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// Where the store connects.
    pub fn target(&self) -> &PgTarget {
        &self.target
    }

    pub(crate) fn err(&self, e: impl Into<BoxError>) -> Error {
        Error::store(&self.shown, Backend::Postgres, e)
    }

    /// Runs `f` on a pooled connection.
    pub(crate) fn client<T>(
        &self,
        f: impl FnOnce(&mut Client) -> Result<T, E>,
    ) -> Result<T, Error> {
        let mut c = self.pool.take().map_err(|e| self.err(e))?;
        let r = f(&mut c);
        self.pool.give(c);
        r.map_err(|e| self.err(e))
    }

    /// Runs `f` in a write transaction holding the write lock, and commits;
    /// with an anchor file, then appends where both chains stood at the
    /// commit (read under the same lock, so no other writer's entries are
    /// in between). If that append fails the write stays committed and the
    /// error says so: a caller must not retry a non-idempotent write (an
    /// audit entry) on that error.
    pub(crate) fn write<T>(
        &self,
        f: impl FnOnce(&mut Transaction) -> Result<T, E>,
    ) -> Result<T, Error> {
        let anchor_path = self.anchor.get();
        let (v, anchor) = self.client(|c| {
            let mut tx = c.transaction()?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK_KEY])?;
            let v = f(&mut tx)?;
            let anchor = match anchor_path {
                Some(_) => Some(anchor_in(&mut tx)?),
                None => None,
            };
            tx.commit()?;
            Ok((v, anchor))
        })?;
        if let (Some(path), Some(a)) = (anchor_path, anchor) {
            self.append_anchor(path, &a)?;
        }
        Ok(v)
    }

    /// Makes `path` this process's anchor file (once): every later write
    /// that moves a chain appends a line to it, and one line is appended
    /// now, so the file starts where the store stands.
    pub fn set_anchor_path(&self, path: std::path::PathBuf) -> Result<(), Error> {
        if self.anchor.get().is_some() {
            return Err(self.err("this store already has an anchor file"));
        }
        let a = self.client(|c| {
            let mut tx = c
                .build_transaction()
                .isolation_level(postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()?;
            let a = anchor_in(&mut tx)?;
            tx.commit()?;
            Ok(a)
        })?;
        let path = self.anchor.get_or_init(|| path);
        self.append_anchor_line(path, &a).map_err(|e| {
            Error::io(
                path,
                format!(
                    "cannot append to the site's anchor file when opening the store (nothing was written; its directory must exist and be writable by this process, or `[store] anchor` names another place): {e}"
                ),
            )
        })
    }

    /// The anchor file of this process, if the site names one.
    pub fn anchor_path(&self) -> Option<&std::path::Path> {
        self.anchor.get().map(|p| p.as_path())
    }

    fn append_anchor(&self, path: &std::path::Path, a: &ledger::Anchor) -> Result<(), Error> {
        self.append_anchor_line(path, a).map_err(|e| {
            Error::io(
                path,
                format!("cannot append the store's anchor (the write itself is committed): {e}"),
            )
        })
    }

    fn append_anchor_line(
        &self,
        path: &std::path::Path,
        a: &ledger::Anchor,
    ) -> std::io::Result<()> {
        let mut last = self
            .anchored
            .lock()
            .map_err(|_| std::io::Error::other("anchor state poisoned by an earlier panic"))?;
        let counts = (a.ledger_count, a.audit_count);
        // Writers of this process append in commit order only loosely (two
        // pooled connections may commit back to back); each line is checked
        // on its own, so order does not matter, only that none is skipped
        // when a chain moved.
        if *last == Some(counts) {
            return Ok(());
        }
        ledger::write_anchor(path, a)?;
        *last = Some(counts);
        Ok(())
    }

    /// A prediction's forecast as stored; refused if it would not read
    /// back (as in the SQLite store: JSON writes NaN as null).
    fn prediction_json(&self, p: &PredictionRecord) -> Result<String, Error> {
        let json = serde_json::to_string(&p.forecast).map_err(|e| self.err(e))?;
        serde_json::from_str::<Forecast>(&json).map_err(|e| {
            self.err(format!(
                "prediction {} of batch {} has a non-finite number: {e}",
                p.seq, p.batch_id
            ))
        })?;
        Ok(json)
    }

    /// Makes this store a leased worker's: from now on a write of a batch
    /// the fence knows is refused unless the fence holds its lease (once;
    /// a second fence is an error).
    pub fn set_fence(&self, fence: std::sync::Arc<crate::pg_lease::Fence>) -> Result<(), Error> {
        self.fence
            .set(fence)
            .map_err(|_| self.err("this store already has a worker's lease fence"))
    }

    /// [`write`](Self::write) of records of the batches `keys` (tenant,
    /// batch id): with a fence, its lease check runs first, in the same
    /// transaction, under the write lock.
    pub(crate) fn write_batches<T>(
        &self,
        keys: &[(&str, &str)],
        f: impl FnOnce(&mut Transaction) -> Result<T, E>,
    ) -> Result<T, Error> {
        let fence = self.fence.get().cloned();
        self.write(|tx| {
            if let Some(fence) = &fence {
                fence.check(tx, keys)?;
            }
            f(tx)
        })
    }

    /// Everything `verify_records` checks, read in one snapshot.
    pub fn snapshot(&self) -> Result<ledger::Snapshot, Error> {
        self.client(|c| {
            let mut tx = c
                .build_transaction()
                .isolation_level(postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()?;
            let pairs = |tx: &mut Transaction, t: &str| -> Result<Vec<(i64, String)>, E> {
                Ok(tx
                    .query(
                        &format!("SELECT seq, entry_json FROM {t} ORDER BY seq"),
                        &[],
                    )?
                    .iter()
                    .map(|r| (r.get(0), r.get(1)))
                    .collect())
            };
            let snap = ledger::Snapshot {
                ledger: pairs(&mut tx, "ledger")?,
                audit: pairs(&mut tx, "audit")?,
                batches: tx
                    .query(&format!("SELECT {} FROM batches", ledger::BATCH_COLS), &[])?
                    .iter()
                    .map(batch_value)
                    .collect(),
                predictions: tx
                    .query(
                        &format!("SELECT {} FROM predictions", ledger::PREDICTION_COLS),
                        &[],
                    )?
                    .iter()
                    .map(prediction_value)
                    .collect(),
                alerts: tx
                    .query(&format!("SELECT {} FROM alerts", ledger::ALERT_COLS), &[])?
                    .iter()
                    .map(alert_value)
                    .collect(),
                readings: tx
                    .query(
                        &format!("SELECT {} FROM readings ORDER BY id", ledger::READING_COLS),
                        &[],
                    )?
                    .iter()
                    .map(|r| (r.get::<_, i64>(0), reading_value(r)))
                    .collect(),
            };
            tx.commit()?;
            Ok(snap)
        })
    }

    /// Checks every record against the ledger ([`ledger::verify_snapshot`]).
    pub fn verify_records(&self) -> Result<Result<ledger::RecordsVerified, Vec<String>>, Error> {
        Ok(ledger::verify_snapshot(&self.snapshot()?))
    }

    /// Hashes of the ledger and audit entries, in order (for anchors).
    pub fn chain_hashes(&self) -> Result<(Vec<String>, Vec<String>), Error> {
        let snap = self.snapshot()?;
        let h = |rows: &[(i64, String)]| -> Vec<String> {
            rows.iter()
                .map(|(_, j)| {
                    serde_json::from_str::<serde_json::Value>(j)
                        .ok()
                        .and_then(|v| v.get("sha256").and_then(|s| s.as_str()).map(str::to_string))
                        .unwrap_or_default()
                })
                .collect()
        };
        Ok((h(&snap.ledger), h(&snap.audit)))
    }
}

/// Applies the migrations not yet applied inside the caller's transaction
/// (holding both locks); with `record`, each gets a `store.migrated` audit
/// entry.
pub(crate) fn migrate_in(tx: &mut Transaction, record: bool) -> Result<Vec<i32>, E> {
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version INTEGER PRIMARY KEY, name TEXT NOT NULL,
            applied_unix_s DOUBLE PRECISION NOT NULL)",
    )?;
    let mut applied = Vec::new();
    for m in MIGRATIONS {
        let done = tx
            .query_opt(
                "SELECT 1 FROM schema_migrations WHERE version = $1",
                &[&m.version],
            )?
            .is_some();
        if done {
            continue;
        }
        tx.batch_execute(m.sql)?;
        tx.execute(
            "INSERT INTO schema_migrations VALUES ($1, $2, $3)",
            &[&m.version, &m.name, &now_unix_s()],
        )?;
        if record {
            audit_in(
                tx,
                "biotwin-live",
                None,
                "store.migrated",
                serde_json::json!({"schema_version": m.version, "migration": m.name}),
            )?;
        }
        applied.push(m.version);
    }
    Ok(applied)
}

pub(crate) const LOCK_KEYS: [i64; 2] = [MIGRATE_LOCK_KEY, WRITE_LOCK_KEY];

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

// The canonical rows of the ledger (see `ledger::row_value`): the SQLite
// store's columns as SQLite gives them: text, integers (a batch's
// `finished` 0 or 1), floats by their bits, NULL.
fn s(r: &postgres::Row, i: usize) -> serde_json::Value {
    serde_json::Value::String(r.get::<_, String>(i))
}
fn f(r: &postgres::Row, i: usize) -> serde_json::Value {
    ledger::hex_f64(r.get::<_, f64>(i))
}
fn of(r: &postgres::Row, i: usize) -> serde_json::Value {
    r.get::<_, Option<f64>>(i)
        .map_or(serde_json::Value::Null, ledger::hex_f64)
}

pub(crate) fn batch_value(r: &postgres::Row) -> serde_json::Value {
    serde_json::Value::Array(vec![
        s(r, 0),
        s(r, 1),
        s(r, 2),
        f(r, 3),
        f(r, 4),
        serde_json::Value::from(r.get::<_, bool>(5) as i64),
    ])
}

fn reading_value(r: &postgres::Row) -> serde_json::Value {
    serde_json::Value::Array(vec![
        serde_json::Value::from(r.get::<_, i64>(0)),
        s(r, 1),
        s(r, 2),
        s(r, 3),
        f(r, 4),
        of(r, 5),
        f(r, 6),
        s(r, 7),
    ])
}

fn prediction_value(r: &postgres::Row) -> serde_json::Value {
    serde_json::Value::Array(vec![
        s(r, 0),
        s(r, 1),
        serde_json::Value::from(r.get::<_, i64>(2)),
        s(r, 3),
        s(r, 4),
        f(r, 5),
        s(r, 6),
    ])
}

fn alert_value(r: &postgres::Row) -> serde_json::Value {
    serde_json::Value::Array(vec![
        s(r, 0),
        s(r, 1),
        s(r, 2),
        f(r, 3),
        f(r, 4),
        f(r, 5),
        r.get::<_, Option<String>>(6)
            .map_or(serde_json::Value::Null, serde_json::Value::String),
    ])
}

fn row_sha256(v: serde_json::Value) -> String {
    ledger::sha256_lines(&[v])
}

/// Where both chains stand, read inside the caller's transaction.
fn anchor_in(tx: &mut Transaction) -> Result<ledger::Anchor, E> {
    let ledger_last = tx
        .query_opt(
            "SELECT entry_json FROM ledger ORDER BY seq DESC LIMIT 1",
            &[],
        )?
        .map(|r| serde_json::from_str::<LedgerEntry>(r.get::<_, &str>(0)))
        .transpose()?;
    let audit_last = tx
        .query_opt(
            "SELECT seq, entry_json FROM audit ORDER BY seq DESC LIMIT 1",
            &[],
        )?
        .map(|r| (r.get::<_, i64>(0), r.get::<_, String>(1)));
    Ok(ledger::anchor_of(
        ledger_last,
        ledger::audit_head_of(audit_last),
        now_unix_s(),
    ))
}

/// Appends a ledger entry inside the caller's (locked) transaction.
pub(crate) fn ledger_append(
    tx: &mut Transaction,
    kind: &str,
    key: serde_json::Value,
    rows_sha256: String,
) -> Result<LedgerEntry, E> {
    let head: Option<String> = tx
        .query_opt(
            "SELECT entry_json FROM ledger ORDER BY seq DESC LIMIT 1",
            &[],
        )?
        .map(|r| r.get(0));
    let prev = head
        .map(|j| serde_json::from_str::<LedgerEntry>(&j))
        .transpose()?;
    let e = ledger::next_entry(prev, kind, key, rows_sha256);
    tx.execute(
        "INSERT INTO ledger VALUES ($1, $2)",
        &[&(e.seq as i64), &serde_json::to_string(&e)?],
    )?;
    Ok(e)
}

/// Appends an audit entry and its ledger entry inside the caller's
/// (locked) transaction.
pub(crate) fn audit_in(
    tx: &mut Transaction,
    actor: &str,
    tenant: Option<&str>,
    action: &str,
    detail: serde_json::Value,
) -> Result<AuditEntry, E> {
    let last: Option<String> = tx
        .query_opt(
            "SELECT entry_json FROM audit ORDER BY seq DESC LIMIT 1",
            &[],
        )?
        .map(|r| r.get(0));
    let prev = last
        .map(|j| serde_json::from_str::<AuditEntry>(&j))
        .transpose()?;
    let e = next_entry(prev.as_ref(), now_unix_s(), actor, tenant, action, detail);
    tx.execute(
        "INSERT INTO audit VALUES ($1, $2)",
        &[&(e.seq as i64), &serde_json::to_string(&e)?],
    )?;
    ledger_append(
        tx,
        "audit",
        serde_json::json!({ "seq": e.seq }),
        e.sha256.clone(),
    )?;
    Ok(e)
}

fn batch_sha256(tx: &mut Transaction, tenant: &str, batch_id: &str) -> Result<Option<String>, E> {
    Ok(tx
        .query_opt(
            &format!(
                "SELECT {} FROM batches WHERE tenant = $1 AND batch_id = $2",
                ledger::BATCH_COLS
            ),
            &[&tenant, &batch_id],
        )?
        .map(|r| row_sha256(batch_value(&r))))
}

fn chain_alert(tx: &mut Transaction, tenant: &str, batch_id: &str, cqa: &str) -> Result<(), E> {
    let h = tx
        .query_opt(
            &format!(
                "SELECT {} FROM alerts WHERE tenant = $1 AND batch_id = $2 AND cqa = $3",
                ledger::ALERT_COLS
            ),
            &[&tenant, &batch_id, &cqa],
        )?
        .map(|r| row_sha256(alert_value(&r)));
    ledger_append(
        tx,
        "alert",
        serde_json::json!({"tenant": tenant, "batch_id": batch_id, "cqa": cqa}),
        h.unwrap_or_default(),
    )?;
    Ok(())
}

/// Chains the readings with ids above `after` (those one insert added: the
/// write lock keeps every other writer out until this one commits).
pub(crate) fn chain_readings_after(tx: &mut Transaction, after: i64) -> Result<(), E> {
    let rows = tx.query(
        &format!(
            "SELECT {} FROM readings WHERE id > $1 ORDER BY id",
            ledger::READING_COLS
        ),
        &[&after],
    )?;
    let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
        return Ok(());
    };
    let key = serde_json::json!({
        "first_id": first.get::<_, i64>(0),
        "last_id": last.get::<_, i64>(0),
        "count": rows.len()
    });
    let lines: Vec<serde_json::Value> = rows.iter().map(reading_value).collect();
    ledger_append(tx, "readings", key, ledger::sha256_lines(&lines))?;
    Ok(())
}

fn alert_row(r: &postgres::Row) -> AlertRecord {
    AlertRecord {
        tenant: r.get(0),
        batch_id: r.get(1),
        cqa: r.get(2),
        first_predicted_s: r.get(3),
        p_in_spec: r.get(4),
        threshold: r.get(5),
        acknowledged_by: r.get(6),
    }
}

fn batch_row(r: &postgres::Row) -> BatchInfo {
    BatchInfo {
        tenant: r.get(0),
        batch_id: r.get(1),
        unit: r.get(2),
        start_unix_s: r.get(3),
        end_unix_s: r.get(4),
        finished: r.get(5),
    }
}

fn reading_row(r: &postgres::Row) -> Reading {
    Reading {
        tag: r.get(0),
        time_unix_s: r.get(1),
        available_unix_s: r.get(2),
        value: r.get(3),
        quality: quality_of(r.get::<_, &str>(4)),
    }
}

/// Inserts a prediction (forecast as `json`) unless (tenant, batch, seq)
/// exists, with its ledger entry, inside the caller's locked transaction;
/// whether it was new.
fn insert_prediction_in(tx: &mut Transaction, p: &PredictionRecord, json: &str) -> Result<bool, E> {
    let n = tx.execute(
        "INSERT INTO predictions VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT DO NOTHING",
        &[
            &p.tenant,
            &p.batch_id,
            &(p.seq as i64),
            &p.model_id,
            &p.input_sha256,
            &p.created_unix_s,
            &json,
        ],
    )?;
    if n == 1 {
        let h = tx
            .query_one(
                &format!(
                    "SELECT {} FROM predictions WHERE tenant = $1 AND batch_id = $2 AND seq = $3",
                    ledger::PREDICTION_COLS
                ),
                &[&p.tenant, &p.batch_id, &(p.seq as i64)],
            )
            .map(|r| row_sha256(prediction_value(&r)))?;
        ledger_append(
            tx,
            "prediction",
            serde_json::json!({"tenant": p.tenant, "batch_id": p.batch_id, "seq": p.seq}),
            h,
        )?;
    }
    Ok(n == 1)
}

/// [`insert_readings_in`] for several batches in one statement: ids
/// increase group after group, each group in its order.
fn insert_readings_groups_in(
    tx: &mut Transaction,
    groups: &[&(&str, &str, &[Reading])],
) -> Result<(), E> {
    let n: usize = groups.iter().map(|g| g.2.len()).sum();
    let mut tenants = Vec::with_capacity(n);
    let mut batches = Vec::with_capacity(n);
    let mut tags = Vec::with_capacity(n);
    let mut times = Vec::with_capacity(n);
    let mut avail = Vec::with_capacity(n);
    let mut values = Vec::with_capacity(n);
    let mut quality = Vec::with_capacity(n);
    for (tenant, batch, rs) in groups.iter().map(|g| **g) {
        for r in rs {
            tenants.push(tenant);
            batches.push(batch);
            tags.push(r.tag.as_str());
            times.push(r.time_unix_s);
            avail.push(r.available_unix_s);
            values.push(r.value);
            quality.push(quality_text(r.quality));
        }
    }
    tx.execute(
        "INSERT INTO readings (tenant, batch_id, tag, time_unix_s, available_unix_s, value, quality)
         SELECT te, ba, t, tm, av, v, q
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::float8[], $5::float8[],
                     $6::float8[], $7::text[])
              WITH ORDINALITY AS u(te, ba, t, tm, av, v, q, n)
         ORDER BY n
         ON CONFLICT DO NOTHING",
        &[
            &tenants, &batches, &tags, &times, &avail, &values, &quality,
        ],
    )?;
    Ok(())
}

/// Inserts readings in the order given (ids increase in that order),
/// keeping the first of each identity.
pub(crate) fn insert_readings_in(
    tx: &mut Transaction,
    tenant: &str,
    batch_id: &str,
    rs: &[Reading],
) -> Result<(), E> {
    let tags: Vec<&str> = rs.iter().map(|r| r.tag.as_str()).collect();
    let times: Vec<f64> = rs.iter().map(|r| r.time_unix_s).collect();
    let avail: Vec<Option<f64>> = rs.iter().map(|r| r.available_unix_s).collect();
    let values: Vec<f64> = rs.iter().map(|r| r.value).collect();
    let quality: Vec<&str> = rs.iter().map(|r| quality_text(r.quality)).collect();
    tx.execute(
        "INSERT INTO readings (tenant, batch_id, tag, time_unix_s, available_unix_s, value, quality)
         SELECT $1, $2, t, tm, av, v, q
         FROM UNNEST($3::text[], $4::float8[], $5::float8[], $6::float8[], $7::text[])
              WITH ORDINALITY AS u(t, tm, av, v, q, n)
         ORDER BY n
         ON CONFLICT DO NOTHING",
        &[
            &tenant, &batch_id, &tags, &times, &avail, &values, &quality,
        ],
    )?;
    Ok(())
}

impl Store for PgStore {
    fn upsert_batch(&self, b: &BatchInfo) -> Result<(), Error> {
        self.write_batches(&[(&b.tenant, &b.batch_id)], |tx| {
            let before = batch_sha256(tx, &b.tenant, &b.batch_id)?;
            tx.execute(
                "INSERT INTO batches VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (tenant, batch_id) DO UPDATE SET unit = $3,
                 start_unix_s = $4, end_unix_s = $5, finished = $6",
                &[
                    &b.tenant,
                    &b.batch_id,
                    &b.unit,
                    &b.start_unix_s,
                    &b.end_unix_s,
                    &b.finished,
                ],
            )?;
            let after = batch_sha256(tx, &b.tenant, &b.batch_id)?;
            if before != after {
                ledger_append(
                    tx,
                    "batch",
                    serde_json::json!({"tenant": b.tenant, "batch_id": b.batch_id}),
                    after.unwrap_or_default(),
                )?;
            }
            Ok(())
        })
    }

    fn insert_readings(&self, tenant: &str, batch_id: &str, rs: &[Reading]) -> Result<(), Error> {
        if rs.is_empty() {
            return Ok(());
        }
        self.write_batches(&[(tenant, batch_id)], |tx| {
            let before: i64 = tx
                .query_one("SELECT COALESCE(MAX(id), 0) FROM readings", &[])?
                .get(0);
            insert_readings_in(tx, tenant, batch_id, rs)?;
            chain_readings_after(tx, before)
        })
    }

    fn insert_readings_many(&self, groups: &[(&str, &str, &[Reading])]) -> Result<(), Error> {
        let groups: Vec<&(&str, &str, &[Reading])> =
            groups.iter().filter(|g| !g.2.is_empty()).collect();
        if groups.is_empty() {
            return Ok(());
        }
        let keys: Vec<(&str, &str)> = groups.iter().map(|g| (g.0, g.1)).collect();
        // Group commit: one transaction, one insert and one ledger entry for
        // every batch's readings of this poll (ids increase in the order
        // given, batch after batch, as the separate inserts would give).
        self.write_batches(&keys, |tx| {
            let before: i64 = tx
                .query_one("SELECT COALESCE(MAX(id), 0) FROM readings", &[])?
                .get(0);
            insert_readings_groups_in(tx, &groups)?;
            chain_readings_after(tx, before)
        })
    }

    fn insert_prediction(&self, p: &PredictionRecord) -> Result<bool, Error> {
        let json = self.prediction_json(p)?;
        self.write_batches(&[(&p.tenant, &p.batch_id)], |tx| {
            insert_prediction_in(tx, p, &json)
        })
    }

    fn insert_predictions_many(&self, ps: &[PredictionRecord]) -> Result<Vec<bool>, Error> {
        if ps.is_empty() {
            return Ok(Vec::new());
        }
        let jsons = ps
            .iter()
            .map(|p| self.prediction_json(p))
            .collect::<Result<Vec<_>, _>>()?;
        let keys: Vec<(&str, &str)> = ps
            .iter()
            .map(|p| (p.tenant.as_str(), p.batch_id.as_str()))
            .collect();
        // Group commit: one transaction (one lock, one fence check, one
        // commit) for every prediction of a round.
        self.write_batches(&keys, |tx| {
            ps.iter()
                .zip(&jsons)
                .map(|(p, j)| insert_prediction_in(tx, p, j))
                .collect()
        })
    }

    fn insert_alert(&self, a: &AlertRecord) -> Result<bool, Error> {
        self.write_batches(&[(&a.tenant, &a.batch_id)], |tx| {
            let n = tx.execute(
                "INSERT INTO alerts VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
                &[
                    &a.tenant,
                    &a.batch_id,
                    &a.cqa,
                    &a.first_predicted_s,
                    &a.p_in_spec,
                    &a.threshold,
                    &a.acknowledged_by,
                ],
            )?;
            if n == 1 {
                chain_alert(tx, &a.tenant, &a.batch_id, &a.cqa)?;
            }
            Ok(n == 1)
        })
    }

    fn append_audit(
        &self,
        actor: &str,
        tenant: Option<&str>,
        action: &str,
        detail: serde_json::Value,
    ) -> Result<AuditEntry, Error> {
        self.write(|tx| audit_in(tx, actor, tenant, action, detail))
    }

    fn batches(&self, tenant: &str) -> Result<Vec<BatchInfo>, Error> {
        self.client(|c| {
            Ok(c.query(
                &format!(
                    "SELECT {} FROM batches WHERE tenant = $1 ORDER BY start_unix_s, batch_id",
                    ledger::BATCH_COLS
                ),
                &[&tenant],
            )?
            .iter()
            .map(batch_row)
            .collect())
        })
    }

    fn batch(&self, tenant: &str, batch_id: &str) -> Result<Option<BatchInfo>, Error> {
        self.client(|c| {
            Ok(c.query_opt(
                &format!(
                    "SELECT {} FROM batches WHERE tenant = $1 AND batch_id = $2",
                    ledger::BATCH_COLS
                ),
                &[&tenant, &batch_id],
            )?
            .map(|r| batch_row(&r)))
        })
    }

    fn readings(&self, tenant: &str, batch_id: &str) -> Result<Vec<Reading>, Error> {
        self.client(|c| {
            Ok(c.query(
                "SELECT tag, time_unix_s, available_unix_s, value, quality FROM readings
                 WHERE tenant = $1 AND batch_id = $2 ORDER BY id",
                &[&tenant, &batch_id],
            )?
            .iter()
            .map(reading_row)
            .collect())
        })
    }

    fn readings_page(
        &self,
        tenant: &str,
        batch_id: &str,
        tag: Option<&str>,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<Reading>, usize), Error> {
        let limit = limit.min(i64::MAX as usize) as i64;
        let offset = offset.min(i64::MAX as usize) as i64;
        self.client(|c| {
            let mut tx = c
                .build_transaction()
                .isolation_level(postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()?;
            let total: i64 = tx
                .query_one(
                    "SELECT COUNT(*) FROM readings WHERE tenant = $1 AND batch_id = $2
                     AND ($3::text IS NULL OR tag = $3)",
                    &[&tenant, &batch_id, &tag],
                )?
                .get(0);
            let rows = tx
                .query(
                    "SELECT tag, time_unix_s, available_unix_s, value, quality FROM readings
                     WHERE tenant = $1 AND batch_id = $2 AND ($3::text IS NULL OR tag = $3)
                     ORDER BY id LIMIT $4 OFFSET $5",
                    &[&tenant, &batch_id, &tag, &limit, &offset],
                )?
                .iter()
                .map(reading_row)
                .collect();
            tx.commit()?;
            Ok((rows, total as usize))
        })
    }

    fn predictions(&self, tenant: &str, batch_id: &str) -> Result<Vec<PredictionRecord>, Error> {
        let rows = self.client(|c| {
            Ok(c.query(
                "SELECT tenant, batch_id, seq, model_id, input_sha256, created_unix_s, forecast_json
                 FROM predictions WHERE tenant = $1 AND batch_id = $2 ORDER BY seq",
                &[&tenant, &batch_id],
            )?)
        })?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let seq = r.get::<_, i64>(2) as u64;
            match serde_json::from_str::<Forecast>(r.get::<_, &str>(6)) {
                Ok(forecast) => out.push(PredictionRecord {
                    tenant: r.get(0),
                    batch_id: r.get(1),
                    seq,
                    model_id: r.get(3),
                    input_sha256: r.get(4),
                    created_unix_s: r.get(5),
                    forecast,
                }),
                Err(e) => eprintln!(
                    "{}: prediction {seq} of batch {batch_id} (tenant {tenant}) is corrupt and was skipped: {e} (biotwin audit verify names every altered record)",
                    self.shown
                ),
            }
        }
        Ok(out)
    }

    fn alerts(&self, tenant: &str) -> Result<Vec<AlertRecord>, Error> {
        self.client(|c| {
            Ok(c.query(
                &format!(
                    "SELECT {} FROM alerts WHERE tenant = $1 ORDER BY batch_id, cqa",
                    ledger::ALERT_COLS
                ),
                &[&tenant],
            )?
            .iter()
            .map(alert_row)
            .collect())
        })
    }

    fn acknowledge_alert(
        &self,
        tenant: &str,
        batch_id: &str,
        cqa: &str,
        user: &str,
    ) -> Result<bool, Error> {
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE alerts SET acknowledged_by = $4
                 WHERE tenant = $1 AND batch_id = $2 AND cqa = $3",
                &[&tenant, &batch_id, &cqa, &user],
            )?;
            if n == 1 {
                chain_alert(tx, tenant, batch_id, cqa)?;
            }
            Ok(n == 1)
        })
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
        // One transaction: the acknowledgement, the alert's ledger entry
        // and the audit entry commit together or not at all.
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE alerts SET acknowledged_by = $4
                 WHERE tenant = $1 AND batch_id = $2 AND cqa = $3",
                &[&tenant, &batch_id, &cqa, &user],
            )?;
            if n != 1 {
                return Ok(None);
            }
            chain_alert(tx, tenant, batch_id, cqa)?;
            let a = alert_row(&tx.query_one(
                &format!(
                    "SELECT {} FROM alerts WHERE tenant = $1 AND batch_id = $2 AND cqa = $3",
                    ledger::ALERT_COLS
                ),
                &[&tenant, &batch_id, &cqa],
            )?);
            let e = audit_in(tx, actor, Some(tenant), action, detail(&a))?;
            Ok(Some((a, e)))
        })
    }

    fn audit(&self) -> Result<Vec<AuditEntry>, Error> {
        let rows =
            self.client(|c| Ok(c.query("SELECT seq, entry_json FROM audit ORDER BY seq", &[])?))?;
        rows.iter()
            .map(|r| {
                serde_json::from_str(r.get::<_, &str>(1)).map_err(|e| {
                    self.err(format!(
                        "audit entry {} is not an audit entry: {e}",
                        r.get::<_, i64>(0)
                    ))
                })
            })
            .collect()
    }

    fn accounts(&self) -> Option<&dyn crate::users::Accounts> {
        Some(self)
    }
}
