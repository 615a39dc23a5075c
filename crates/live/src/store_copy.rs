//! `biotwin store copy`: moves a site's whole history from its SQLite file
//! into an empty PostgreSQL database.
//!
//! What is copied is what the chains vouch for, row for row: batches,
//! readings (with their ids, so the ledger's reading ranges still hold),
//! predictions, alerts, the audit trail and the record ledger, their JSON
//! exactly as stored. Because the PostgreSQL store hashes rows in the same
//! canonical form ([`crate::pg_store`]), both chains verify on the copy
//! unchanged; the copy then appends one `store.copied` audit entry (source
//! file, counts, head hashes of the source), so the copy's trail says where
//! its history came from.
//!
//! The source is verified first (audit chain and every record against the
//! ledger) and a broken one is refused: copying would launder a tampered
//! store into one whose chains start fresh on the server. The target must
//! hold no biotwin schema yet; the schema is made and the rows written in
//! one transaction, so a failed copy leaves the database as it was.
//!
//! User accounts and API tokens are copied as stored (Argon2id PHC strings
//! and token SHA-256s, lock state and revocations included), so people
//! sign in to the copy with the passwords they had and machine clients
//! keep their tokens; their audit entries (sign-ups, signatures) come with
//! the trail. Sessions are not copied: everyone signs in again after the
//! move (their number is reported).

use std::path::Path;

use postgres::Transaction;

use crate::Error;
use crate::Store;
use crate::pg_store::{self, E, PgStore, PgTarget};
use crate::sqlite_store::SqliteStore;

/// What a copy moved.
#[derive(Debug, Clone, PartialEq)]
pub struct Copied {
    /// Batch rows copied.
    pub batches: u64,
    /// Reading rows copied.
    pub readings: u64,
    /// Prediction rows copied.
    pub predictions: u64,
    /// Alert rows copied.
    pub alerts: u64,
    /// Audit entries copied.
    pub audit_entries: u64,
    /// Record-ledger entries copied.
    pub ledger_entries: u64,
    /// User accounts and API tokens copied.
    pub accounts: u64,
    /// API tokens copied.
    pub api_tokens: u64,
    /// Sessions of the source, not copied (people sign in again).
    pub sessions_not_copied: u64,
}

type BatchRow = (String, String, String, f64, f64, bool);
type ReadingRow = (i64, String, String, String, f64, Option<f64>, f64, String);
type PredictionRow = (String, String, i64, String, String, f64, String);
type AlertRow = (String, String, String, f64, f64, f64, Option<String>);
/// user_id, tenant, full_name, role, password_phc, disabled,
/// failed_attempts, locked_until_unix_s, created_unix_s.
type UserRow = (
    String,
    String,
    String,
    String,
    String,
    bool,
    i32,
    Option<f64>,
    f64,
);
/// token_id, token_sha256, user_id, label, created_unix_s, revoked_unix_s.
type TokenRow = (String, String, String, String, f64, Option<f64>);

#[derive(Default)]
struct Rows {
    batches: Vec<BatchRow>,
    readings: Vec<ReadingRow>,
    predictions: Vec<PredictionRow>,
    alerts: Vec<AlertRow>,
    audit: Vec<(i64, String)>,
    ledger: Vec<(i64, String)>,
    users: Vec<UserRow>,
    tokens: Vec<TokenRow>,
    sessions: u64,
}

fn read_sqlite(src: &SqliteStore) -> Result<Rows, Error> {
    src.with(|c| {
        let tx = c.transaction()?;
        let mut rows = Rows::default();
        {
            let mut st = tx.prepare(
                "SELECT tenant, batch_id, unit, start_unix_s, end_unix_s, finished FROM batches ORDER BY rowid",
            )?;
            rows.batches = st
                .query_map([], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get::<_, i64>(5)? != 0,
                    ))
                })?
                .collect::<rusqlite::Result<_>>()?;
            let mut st = tx.prepare(
                "SELECT id, tenant, batch_id, tag, time_unix_s, available_unix_s, value, quality FROM readings ORDER BY id",
            )?;
            rows.readings = st
                .query_map([], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                        r.get(7)?,
                    ))
                })?
                .collect::<rusqlite::Result<_>>()?;
            let mut st = tx.prepare(
                "SELECT tenant, batch_id, seq, model_id, input_sha256, created_unix_s, forecast_json FROM predictions ORDER BY rowid",
            )?;
            rows.predictions = st
                .query_map([], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                    ))
                })?
                .collect::<rusqlite::Result<_>>()?;
            let mut st = tx.prepare(
                "SELECT tenant, batch_id, cqa, first_predicted_s, p_in_spec, threshold, acknowledged_by FROM alerts ORDER BY rowid",
            )?;
            rows.alerts = st
                .query_map([], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                    ))
                })?
                .collect::<rusqlite::Result<_>>()?;
            for (table, dst) in [("audit", &mut rows.audit), ("ledger", &mut rows.ledger)] {
                let mut st = tx.prepare(&format!("SELECT seq, entry_json FROM {table} ORDER BY seq"))?;
                *dst = st
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<rusqlite::Result<_>>()?;
            }
            let has_users: i64 = tx.query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'users'",
                [],
                |r| r.get(0),
            )?;
            if has_users > 0 {
                let mut st = tx.prepare(
                    "SELECT user_id, tenant, full_name, role, password_phc, disabled,
                     failed_attempts, locked_until_unix_s, created_unix_s FROM users ORDER BY rowid",
                )?;
                rows.users = st
                    .query_map([], |r| {
                        Ok((
                            r.get(0)?,
                            r.get(1)?,
                            r.get(2)?,
                            r.get(3)?,
                            r.get(4)?,
                            r.get::<_, i64>(5)? != 0,
                            r.get::<_, i64>(6)?.clamp(0, i32::MAX as i64) as i32,
                            r.get(7)?,
                            r.get(8)?,
                        ))
                    })?
                    .collect::<rusqlite::Result<_>>()?;
                let mut st = tx.prepare(
                    "SELECT token_id, token_sha256, user_id, label, created_unix_s, revoked_unix_s
                     FROM api_tokens ORDER BY rowid",
                )?;
                rows.tokens = st
                    .query_map([], |r| {
                        Ok((
                            r.get(0)?,
                            r.get(1)?,
                            r.get(2)?,
                            r.get(3)?,
                            r.get(4)?,
                            r.get(5)?,
                        ))
                    })?
                    .collect::<rusqlite::Result<_>>()?;
                rows.sessions = tx.query_row("SELECT COUNT(*) FROM sessions", [], |r| {
                    r.get::<_, i64>(0)
                })? as u64;
            }
        }
        tx.commit()?;
        Ok(rows)
    })
}

/// Rows per statement of the bulk inserts.
const CHUNK: usize = 5_000;

fn write_rows(tx: &mut Transaction, rows: &Rows) -> Result<(), E> {
    for ch in rows.batches.chunks(CHUNK) {
        let col = |i: usize| -> Vec<&str> {
            ch.iter()
                .map(|r| [r.0.as_str(), r.1.as_str(), r.2.as_str()][i])
                .collect()
        };
        let (t, b, u) = (col(0), col(1), col(2));
        let s: Vec<f64> = ch.iter().map(|r| r.3).collect();
        let e: Vec<f64> = ch.iter().map(|r| r.4).collect();
        let f: Vec<bool> = ch.iter().map(|r| r.5).collect();
        tx.execute(
            "INSERT INTO batches SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::float8[], $5::float8[], $6::bool[])",
            &[&t, &b, &u, &s, &e, &f],
        )?;
    }
    for ch in rows.readings.chunks(CHUNK) {
        let id: Vec<i64> = ch.iter().map(|r| r.0).collect();
        let t: Vec<&str> = ch.iter().map(|r| r.1.as_str()).collect();
        let b: Vec<&str> = ch.iter().map(|r| r.2.as_str()).collect();
        let g: Vec<&str> = ch.iter().map(|r| r.3.as_str()).collect();
        let tm: Vec<f64> = ch.iter().map(|r| r.4).collect();
        let av: Vec<Option<f64>> = ch.iter().map(|r| r.5).collect();
        let v: Vec<f64> = ch.iter().map(|r| r.6).collect();
        let q: Vec<&str> = ch.iter().map(|r| r.7.as_str()).collect();
        tx.execute(
            "INSERT INTO readings (id, tenant, batch_id, tag, time_unix_s, available_unix_s, value, quality)
             SELECT * FROM UNNEST($1::int8[], $2::text[], $3::text[], $4::text[], $5::float8[], $6::float8[], $7::float8[], $8::text[])",
            &[&id, &t, &b, &g, &tm, &av, &v, &q],
        )?;
    }
    // New readings continue after the copied ids.
    tx.execute(
        "SELECT setval(pg_get_serial_sequence('readings', 'id'), MAX(id)) FROM readings HAVING MAX(id) IS NOT NULL",
        &[],
    )?;
    for ch in rows.predictions.chunks(CHUNK) {
        let t: Vec<&str> = ch.iter().map(|r| r.0.as_str()).collect();
        let b: Vec<&str> = ch.iter().map(|r| r.1.as_str()).collect();
        let s: Vec<i64> = ch.iter().map(|r| r.2).collect();
        let m: Vec<&str> = ch.iter().map(|r| r.3.as_str()).collect();
        let h: Vec<&str> = ch.iter().map(|r| r.4.as_str()).collect();
        let c: Vec<f64> = ch.iter().map(|r| r.5).collect();
        let j: Vec<&str> = ch.iter().map(|r| r.6.as_str()).collect();
        tx.execute(
            "INSERT INTO predictions SELECT * FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::text[], $5::text[], $6::float8[], $7::text[])",
            &[&t, &b, &s, &m, &h, &c, &j],
        )?;
    }
    for ch in rows.alerts.chunks(CHUNK) {
        let t: Vec<&str> = ch.iter().map(|r| r.0.as_str()).collect();
        let b: Vec<&str> = ch.iter().map(|r| r.1.as_str()).collect();
        let q: Vec<&str> = ch.iter().map(|r| r.2.as_str()).collect();
        let f: Vec<f64> = ch.iter().map(|r| r.3).collect();
        let p: Vec<f64> = ch.iter().map(|r| r.4).collect();
        let h: Vec<f64> = ch.iter().map(|r| r.5).collect();
        let a: Vec<Option<&str>> = ch.iter().map(|r| r.6.as_deref()).collect();
        tx.execute(
            "INSERT INTO alerts SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::float8[], $5::float8[], $6::float8[], $7::text[])",
            &[&t, &b, &q, &f, &p, &h, &a],
        )?;
    }
    for u in &rows.users {
        tx.execute(
            "INSERT INTO users (user_id, tenant, full_name, role, password_phc, disabled,
             failed_attempts, locked_until_unix_s, created_unix_s)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[&u.0, &u.1, &u.2, &u.3, &u.4, &u.5, &u.6, &u.7, &u.8],
        )?;
    }
    for t in &rows.tokens {
        tx.execute(
            "INSERT INTO api_tokens (token_id, token_sha256, user_id, label, created_unix_s,
             revoked_unix_s) VALUES ($1, $2, $3, $4, $5, $6)",
            &[&t.0, &t.1, &t.2, &t.3, &t.4, &t.5],
        )?;
    }
    for (table, src) in [("audit", &rows.audit), ("ledger", &rows.ledger)] {
        for ch in src.chunks(CHUNK) {
            let s: Vec<i64> = ch.iter().map(|r| r.0).collect();
            let j: Vec<&str> = ch.iter().map(|r| r.1.as_str()).collect();
            tx.execute(
                &format!("INSERT INTO {table} SELECT * FROM UNNEST($1::int8[], $2::text[])"),
                &[&s, &j],
            )?;
        }
    }
    Ok(())
}

/// Copies the SQLite store `from` into the empty database `to`, then
/// verifies the copy; see the module documentation.
pub fn sqlite_to_pg(from: &Path, to: &PgTarget) -> Result<(PgStore, Copied), Error> {
    if !from.is_file() {
        return Err(Error::input(
            "<command line>",
            "--from",
            "an existing live store (SQLite file)",
            format!("`{}` (no such file)", from.display()),
        ));
    }
    let src = SqliteStore::open_existing(from)?;
    let trail = src.audit()?;
    let audit_head = crate::audit::verify(&trail).map_err(|b| {
        Error::input(
            from,
            format!("audit[{}]", b.index),
            "an intact audit chain (a broken store is not copied: run `biotwin audit verify`)",
            b.to_string(),
        )
    })?;
    let records = match src.verify_records()? {
        Ok(r) => r,
        Err(problems) => {
            return Err(Error::input(
                from,
                "records",
                "every record as chained in the ledger (a broken store is not copied: run `biotwin audit verify`)",
                problems.join("; "),
            ));
        }
    };
    let rows = read_sqlite(&src)?;
    let dst = PgStore::connect_bare(to)?;
    let shown = dst.shown().to_string();
    let refused = dst.client(|c| {
        let mut tx = c.transaction()?;
        for k in pg_store::LOCK_KEYS {
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&k])?;
        }
        let present: Vec<String> = tx
            .query(
                "SELECT t FROM UNNEST(ARRAY['schema_migrations', 'batches', 'readings', 'predictions', 'alerts', 'audit', 'ledger', 'users', 'api_tokens']) AS t
                 WHERE to_regclass(t) IS NOT NULL",
                &[],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect();
        if !present.is_empty() {
            return Ok(Some(present.join(", ")));
        }
        pg_store::migrate_in(&mut tx, false)?;
        write_rows(&mut tx, &rows)?;
        pg_store::audit_in(
            &mut tx,
            "biotwin-live",
            None,
            "store.copied",
            serde_json::json!({
                "from": from.display().to_string(),
                "schema_version": pg_store::latest_version(),
                "batches": rows.batches.len(), "readings": rows.readings.len(),
                "predictions": rows.predictions.len(), "alerts": rows.alerts.len(),
                "audit_entries": rows.audit.len(), "ledger_entries": rows.ledger.len(),
                "source_audit_head": audit_head, "source_ledger_head": records.head,
                "accounts": rows.users.len(), "api_tokens": rows.tokens.len(),
                "sessions_not_copied": rows.sessions,
            }),
        )?;
        tx.commit()?;
        Ok(None)
    })?;
    if let Some(tables) = refused {
        return Err(Error::input(
            "<command line>",
            "--to",
            "an empty database (no biotwin tables yet): a copy never merges into or overwrites a store",
            format!("{shown} with the tables {tables}"),
        ));
    }
    let store = PgStore::open(to)?;
    crate::audit::verify(&store.audit()?).map_err(|b| {
        dst.err(format!(
            "the copy's audit chain does not verify at entry {}: {b}",
            b.index
        ))
    })?;
    if let Err(p) = store.verify_records()? {
        return Err(dst.err(format!(
            "the copy's records do not verify: {}",
            p.join("; ")
        )));
    }
    Ok((
        store,
        Copied {
            batches: rows.batches.len() as u64,
            readings: rows.readings.len() as u64,
            predictions: rows.predictions.len() as u64,
            alerts: rows.alerts.len() as u64,
            audit_entries: rows.audit.len() as u64,
            ledger_entries: rows.ledger.len() as u64,
            accounts: rows.users.len() as u64,
            api_tokens: rows.tokens.len() as u64,
            sessions_not_copied: rows.sessions,
        },
    ))
}
