//! The record ledger of the SQLite store: every record in one hash chain.
//!
//! The audit trail ([`super::audit`]) chains what people and the service
//! *did*; the ledger chains what the store *holds*. Every write of a record
//! appends, in the same SQLite transaction, one ledger entry
//!
//! ```text
//! { seq, kind, key, rows_sha256, prev_sha256, sha256 }
//! ```
//!
//! * `batch` (key tenant, batch_id): SHA-256 of the whole row, tenant
//!   included, written whenever the row changes (start, finish);
//! * `readings` (key first_id, last_id, count): SHA-256 over the rows a
//!   poll inserted, in id order (one entry per insert, not per reading);
//! * `prediction` (key tenant, batch_id, seq), `alert` (key tenant,
//!   batch_id, cqa; a new entry when acknowledged): SHA-256 of the row;
//! * `audit` (key seq): the audit entry's own sha256, so the audit trail
//!   cannot lose its last entries without the ledger noticing.
//!
//! `sha256` is the SHA-256 of the entry's compact JSON without that field;
//! `prev_sha256` links to the entry before ([`GENESIS`] for the first).
//! [`verify`] walks the chain and then every table: each row must match the
//! latest ledger entry of its key (an edited value, a batch moved to another
//! tenant), each ledger key must still have its row (a deleted prediction),
//! and no row may lack an entry (an inserted batch). What the chain alone
//! cannot show is its own truncation (deleting the last entries together
//! with their rows): for that the store appends an [`Anchor`] (counts and
//! head hashes) to a file outside the database after every write, which
//! `biotwin audit verify --anchor FILE` compares.

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use biotwin_core::output::anchor::{
    Anchor, check_anchor_file, default_anchor_path, write_anchor,
};
use biotwin_ml::surrogates::artifact::content_sha256;

/// `prev_sha256` of the first entry.
pub const GENESIS: &str = biotwin_ml::registry::GENESIS;

/// Schema of the ledger and the store's version mark.
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS ledger (seq INTEGER PRIMARY KEY, entry_json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS store_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
";

/// One ledger entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerEntry {
    /// Position in the chain, 0, 1, 2, ... (gapless).
    pub seq: u64,
    /// `batch`, `readings`, `prediction`, `alert` or `audit`.
    pub kind: String,
    /// Identity of the record within its kind (module docs), as JSON.
    pub key: serde_json::Value,
    /// SHA-256 of the record's rows in canonical form (module docs).
    pub rows_sha256: String,
    /// `sha256` of the previous entry ([`GENESIS`] for the first).
    pub prev_sha256: String,
    /// SHA-256 of the entry's compact JSON without this field.
    pub sha256: String,
}

impl LedgerEntry {
    fn compute_sha256(&self) -> String {
        let mut v = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        if let Some(o) = v.as_object_mut() {
            o.remove("sha256");
        }
        content_sha256(&v)
    }
}

pub(crate) fn hex_f64(v: f64) -> serde_json::Value {
    serde_json::Value::String(format!("{:016x}", v.to_bits()))
}

pub(crate) fn sha256_lines(lines: &[serde_json::Value]) -> String {
    let mut h = Sha256::new();
    for l in lines {
        h.update(l.to_string().as_bytes());
        h.update(b"\n");
    }
    hex::encode(h.finalize())
}

/// The canonical form of a row: every column, floats by their bits (so a
/// value cannot change in its last digit unseen).
fn row_value(r: &rusqlite::Row, n: usize) -> rusqlite::Result<serde_json::Value> {
    use rusqlite::types::ValueRef;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        out.push(match r.get_ref(i)? {
            ValueRef::Null => serde_json::Value::Null,
            ValueRef::Integer(x) => serde_json::Value::from(x),
            ValueRef::Real(x) => hex_f64(x),
            ValueRef::Text(t) => serde_json::Value::String(String::from_utf8_lossy(t).into()),
            ValueRef::Blob(b) => serde_json::Value::String(hex::encode(b)),
        });
    }
    Ok(serde_json::Value::Array(out))
}

pub(crate) const BATCH_COLS: &str = "tenant, batch_id, unit, start_unix_s, end_unix_s, finished";
pub(crate) const READING_COLS: &str =
    "id, tenant, batch_id, tag, time_unix_s, available_unix_s, value, quality";
pub(crate) const PREDICTION_COLS: &str =
    "tenant, batch_id, seq, model_id, input_sha256, created_unix_s, forecast_json";
pub(crate) const ALERT_COLS: &str =
    "tenant, batch_id, cqa, first_predicted_s, p_in_spec, threshold, acknowledged_by";

/// The ledger's last entry, if any.
pub fn head(c: &Connection) -> rusqlite::Result<Option<LedgerEntry>> {
    let j: Option<String> = c
        .query_row(
            "SELECT entry_json FROM ledger ORDER BY seq DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .optional()?;
    Ok(j.and_then(|j| serde_json::from_str(&j).ok()))
}

/// The entry that follows `prev` (the one place an entry is made, for
/// every store).
pub(crate) fn next_entry(
    prev: Option<LedgerEntry>,
    kind: &str,
    key: serde_json::Value,
    rows_sha256: String,
) -> LedgerEntry {
    let mut e = LedgerEntry {
        seq: prev.as_ref().map_or(0, |p| p.seq + 1),
        kind: kind.to_string(),
        key,
        rows_sha256,
        prev_sha256: prev.map_or_else(|| GENESIS.to_string(), |p| p.sha256),
        sha256: String::new(),
    };
    e.sha256 = e.compute_sha256();
    e
}

/// Appends an entry (inside the caller's transaction).
pub fn append(
    c: &Connection,
    kind: &str,
    key: serde_json::Value,
    rows_sha256: String,
) -> rusqlite::Result<LedgerEntry> {
    let e = next_entry(head(c)?, kind, key, rows_sha256);
    let json = serde_json::to_string(&e)
        .map_err(|x| rusqlite::Error::ToSqlConversionFailure(Box::new(x)))?;
    c.execute(
        "INSERT INTO ledger VALUES (?1, ?2)",
        params![e.seq as i64, json],
    )?;
    Ok(e)
}

/// Hash of the batch row (tenant, batch_id), if it exists.
pub fn batch_sha256(
    c: &Connection,
    tenant: &str,
    batch_id: &str,
) -> rusqlite::Result<Option<String>> {
    c.query_row(
        &format!("SELECT {BATCH_COLS} FROM batches WHERE tenant = ?1 AND batch_id = ?2"),
        [tenant, batch_id],
        |r| row_value(r, 6),
    )
    .optional()
    .map(|v| v.map(|v| sha256_lines(&[v])))
}

/// Hash of the prediction row, if it exists.
pub fn prediction_sha256(
    c: &Connection,
    tenant: &str,
    batch_id: &str,
    seq: u64,
) -> rusqlite::Result<Option<String>> {
    c.query_row(
        &format!(
            "SELECT {PREDICTION_COLS} FROM predictions WHERE tenant = ?1 AND batch_id = ?2 AND seq = ?3"
        ),
        params![tenant, batch_id, seq as i64],
        |r| row_value(r, 7),
    )
    .optional()
    .map(|v| v.map(|v| sha256_lines(&[v])))
}

/// Hash of the alert row, if it exists.
pub fn alert_sha256(
    c: &Connection,
    tenant: &str,
    batch_id: &str,
    cqa: &str,
) -> rusqlite::Result<Option<String>> {
    c.query_row(
        &format!(
            "SELECT {ALERT_COLS} FROM alerts WHERE tenant = ?1 AND batch_id = ?2 AND cqa = ?3"
        ),
        [tenant, batch_id, cqa],
        |r| row_value(r, 7),
    )
    .optional()
    .map(|v| v.map(|v| sha256_lines(&[v])))
}

/// Highest reading id so far (0 when none).
pub fn max_reading_id(c: &Connection) -> rusqlite::Result<i64> {
    c.query_row("SELECT COALESCE(MAX(id), 0) FROM readings", [], |r| {
        r.get(0)
    })
}

/// Chains the readings with ids above `after` (those one insert added).
pub fn chain_readings_after(c: &Connection, after: i64) -> rusqlite::Result<Option<LedgerEntry>> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {READING_COLS} FROM readings WHERE id > ?1 ORDER BY id"
    ))?;
    let rows: Vec<(i64, serde_json::Value)> = st
        .query_map([after], |r| Ok((r.get(0)?, row_value(r, 8)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
        return Ok(None);
    };
    let key = serde_json::json!({ "first_id": first.0, "last_id": last.0, "count": rows.len() });
    let lines: Vec<serde_json::Value> = rows.iter().map(|(_, v)| v.clone()).collect();
    append(c, "readings", key, sha256_lines(&lines)).map(Some)
}

fn audit_head(c: &Connection) -> rusqlite::Result<(u64, String)> {
    let last: Option<(i64, String)> = c
        .query_row(
            "SELECT seq, entry_json FROM audit ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    Ok(audit_head_of(last))
}

/// The audit chain's count and head hash from its last row (seq,
/// entry JSON), for either store.
pub(crate) fn audit_head_of(last: Option<(i64, String)>) -> (u64, String) {
    match last {
        None => (0, GENESIS.to_string()),
        Some((seq, j)) => {
            let h = serde_json::from_str::<serde_json::Value>(&j)
                .ok()
                .and_then(|v| v.get("sha256").and_then(|s| s.as_str()).map(str::to_string))
                .unwrap_or_default();
            (seq as u64 + 1, h)
        }
    }
}

/// The anchor of the store as it stands (call inside the write transaction).
pub fn anchor_now(c: &Connection, time_unix_s: f64) -> rusqlite::Result<Anchor> {
    Ok(anchor_of(head(c)?, audit_head(c)?, time_unix_s))
}

/// The anchor of a store whose ledger ends with `ledger_last` and whose
/// audit chain has `audit` (count, head): the one place an anchor line is
/// made, for either store.
pub(crate) fn anchor_of(
    ledger_last: Option<LedgerEntry>,
    audit: (u64, String),
    time_unix_s: f64,
) -> Anchor {
    let (audit_count, audit_head) = audit;
    Anchor {
        chain: "live-store".into(),
        ledger_count: ledger_last.as_ref().map_or(0, |e| e.seq + 1),
        ledger_head: ledger_last.map_or_else(|| GENESIS.to_string(), |e| e.sha256),
        audit_count,
        audit_head,
        time_unix_s,
    }
}

/// Whether the store has a ledger (stores written before record chaining
/// have none).
pub fn has_ledger(c: &Connection) -> rusqlite::Result<bool> {
    c.query_row(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'ledger'",
        [],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n > 0)
}

/// Chains every record of a store written before record chaining (inside
/// the caller's transaction): each batch, prediction and alert its own
/// entry, all readings one entry, every audit entry its own. Returns the
/// counts adopted (batches, readings, predictions, alerts, audit entries).
pub fn adopt(c: &Connection) -> rusqlite::Result<[u64; 5]> {
    let mut counts = [0u64; 5];
    let keys = |sql: &str| -> rusqlite::Result<Vec<(String, String, String)>> {
        let mut st = c.prepare(sql)?;
        st.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, rusqlite::types::Value>(2).map(|v| match v {
                    rusqlite::types::Value::Integer(i) => i.to_string(),
                    rusqlite::types::Value::Text(t) => t,
                    _ => String::new(),
                })?,
            ))
        })?
        .collect()
    };
    for (t, b, _) in keys("SELECT tenant, batch_id, '' FROM batches ORDER BY rowid")? {
        let h = batch_sha256(c, &t, &b)?.unwrap_or_default();
        append(
            c,
            "batch",
            serde_json::json!({"tenant": t, "batch_id": b}),
            h,
        )?;
        counts[0] += 1;
    }
    if let Some(e) = chain_readings_after(c, 0)? {
        counts[1] = e.key["count"].as_u64().unwrap_or(0);
    }
    for (t, b, s) in keys("SELECT tenant, batch_id, seq FROM predictions ORDER BY rowid")? {
        let seq: u64 = s.parse().unwrap_or(0);
        let h = prediction_sha256(c, &t, &b, seq)?.unwrap_or_default();
        append(
            c,
            "prediction",
            serde_json::json!({"tenant": t, "batch_id": b, "seq": seq}),
            h,
        )?;
        counts[2] += 1;
    }
    for (t, b, q) in keys("SELECT tenant, batch_id, cqa FROM alerts ORDER BY rowid")? {
        let h = alert_sha256(c, &t, &b, &q)?.unwrap_or_default();
        append(
            c,
            "alert",
            serde_json::json!({"tenant": t, "batch_id": b, "cqa": q}),
            h,
        )?;
        counts[3] += 1;
    }
    let mut st = c.prepare("SELECT seq, entry_json FROM audit ORDER BY seq")?;
    let audits: Vec<(i64, String)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (seq, j) in audits {
        let h = serde_json::from_str::<serde_json::Value>(&j)
            .ok()
            .and_then(|v| v.get("sha256").and_then(|s| s.as_str()).map(str::to_string))
            .unwrap_or_default();
        append(c, "audit", serde_json::json!({ "seq": seq }), h)?;
        counts[4] += 1;
    }
    Ok(counts)
}

/// What [`verify`] found intact.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordsVerified {
    /// Ledger entries walked.
    pub ledger_entries: u64,
    /// `sha256` of the last ledger entry ([`GENESIS`] when empty).
    pub head: String,
    /// Batch rows checked.
    pub batches: u64,
    /// Reading rows checked.
    pub readings: u64,
    /// Prediction rows checked.
    pub predictions: u64,
    /// Alert rows checked.
    pub alerts: u64,
    /// Audit entries checked.
    pub audit_entries: u64,
}

/// Everything [`verify_snapshot`] checks, read from a store: rows in their
/// canonical form (every column, floats by their bits), the ledger and
/// audit tables as stored. Each store reads its own tables into it, so
/// that the checks are written once.
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    /// (seq, entry_json), by seq.
    pub ledger: Vec<(i64, String)>,
    /// Batch rows in canonical form.
    pub batches: Vec<serde_json::Value>,
    /// Prediction rows in canonical form.
    pub predictions: Vec<serde_json::Value>,
    /// Alert rows in canonical form.
    pub alerts: Vec<serde_json::Value>,
    /// (seq, entry_json), by seq.
    pub audit: Vec<(i64, String)>,
    /// (id, row), by id.
    pub readings: Vec<(i64, serde_json::Value)>,
}

/// Reads the SQLite store's tables for [`verify_snapshot`].
pub fn snapshot(c: &Connection) -> rusqlite::Result<Snapshot> {
    let pairs = |sql: &str| -> rusqlite::Result<Vec<(i64, String)>> {
        let mut st = c.prepare(sql)?;
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect()
    };
    let rows = |sql: String, n: usize| -> rusqlite::Result<Vec<serde_json::Value>> {
        let mut st = c.prepare(&sql)?;
        st.query_map([], |r| row_value(r, n))?.collect()
    };
    let mut st = c.prepare(&format!("SELECT {READING_COLS} FROM readings ORDER BY id"))?;
    let readings = st
        .query_map([], |r| Ok((r.get(0)?, row_value(r, 8)?)))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(Snapshot {
        ledger: pairs("SELECT seq, entry_json FROM ledger ORDER BY seq")?,
        batches: rows(format!("SELECT {BATCH_COLS} FROM batches"), 6)?,
        predictions: rows(format!("SELECT {PREDICTION_COLS} FROM predictions"), 7)?,
        alerts: rows(format!("SELECT {ALERT_COLS} FROM alerts"), 7)?,
        audit: pairs("SELECT seq, entry_json FROM audit ORDER BY seq")?,
        readings,
    })
}

/// Checks the ledger chain and every record against it; the error lists
/// every problem found (at most 50), each naming the record.
pub fn verify(c: &Connection) -> Result<RecordsVerified, Vec<String>> {
    let sql = |e: rusqlite::Error| vec![format!("SQLite: {e}")];
    if !has_ledger(c).map_err(sql)? {
        return Err(vec![
            "the store has no record ledger: it was written before records were chained (biotwin live adopts such a store on its next start, recording `store.records_adopted` in the audit trail), or the ledger was dropped".into(),
        ]);
    }
    verify_snapshot(&snapshot(c).map_err(sql)?)
}

/// The checks of [`verify`] on tables already read.
pub fn verify_snapshot(snap: &Snapshot) -> Result<RecordsVerified, Vec<String>> {
    let mut problems: Vec<String> = Vec::new();
    let raw = &snap.ledger;
    let mut prev = GENESIS.to_string();
    let mut latest: BTreeMap<(String, String), String> = BTreeMap::new();
    let mut ranges: Vec<(i64, i64, u64, String, u64)> = Vec::new();
    for (i, (seq, j)) in raw.iter().enumerate() {
        let e: LedgerEntry = match serde_json::from_str(j) {
            Ok(e) => e,
            Err(x) => {
                return Err(vec![format!("ledger[{i}]: not a ledger entry ({x})")]);
            }
        };
        if e.seq != i as u64 || *seq != i as i64 {
            return Err(vec![format!(
                "ledger[{i}]: seq {} where {i} was expected: an entry was removed, inserted or reordered",
                e.seq
            )]);
        }
        if e.prev_sha256 != prev {
            return Err(vec![format!(
                "ledger[{i}]: prev_sha256 does not match the previous entry: an entry was removed or altered"
            )]);
        }
        let h = e.compute_sha256();
        if h != e.sha256 {
            return Err(vec![format!(
                "ledger[{i}]: the entry was altered (content hashes to {h})"
            )]);
        }
        prev = h;
        if e.kind == "readings" {
            let g = |k: &str| e.key[k].as_i64().unwrap_or(-1);
            ranges.push((
                g("first_id"),
                g("last_id"),
                g("count") as u64,
                e.rows_sha256.clone(),
                e.seq,
            ));
        } else {
            latest.insert((e.kind.clone(), e.key.to_string()), e.rows_sha256.clone());
        }
    }
    let mut out = RecordsVerified {
        ledger_entries: raw.len() as u64,
        head: prev,
        batches: 0,
        readings: 0,
        predictions: 0,
        alerts: 0,
        audit_entries: 0,
    };
    // Keyed records: every row matches the latest entry of its key.
    let mut check_table = |kind: &str,
                           rows: &[serde_json::Value],
                           key_of: &dyn Fn(&serde_json::Value) -> serde_json::Value,
                           label: &dyn Fn(&serde_json::Value) -> String|
     -> u64 {
        let mut seen = std::collections::BTreeSet::new();
        for row in rows {
            let key = key_of(row).to_string();
            seen.insert(key.clone());
            match latest.get(&(kind.to_string(), key)) {
                None => problems.push(format!(
                    "{kind} {}: has no ledger entry (inserted, or moved to another key, outside biotwin)",
                    label(row)
                )),
                Some(h) if *h != sha256_lines(std::slice::from_ref(row)) => problems.push(format!(
                    "{kind} {}: altered (its content no longer matches its ledger entry)",
                    label(row)
                )),
                Some(_) => {}
            }
        }
        for ((k, key), _) in latest.iter().filter(|((k, _), _)| k == kind) {
            if !seen.contains(key) {
                problems.push(format!(
                    "{k} {key}: in the ledger but not in the store (deleted)"
                ));
            }
        }
        rows.len() as u64
    };
    let s = |v: &serde_json::Value, i: usize| v[i].as_str().unwrap_or("").to_string();
    out.batches = check_table(
        "batch",
        &snap.batches,
        &|r| serde_json::json!({"tenant": s(r, 0), "batch_id": s(r, 1)}),
        &|r| format!("{}/{}", s(r, 0), s(r, 1)),
    );
    out.predictions = check_table(
        "prediction",
        &snap.predictions,
        &|r| serde_json::json!({"tenant": s(r, 0), "batch_id": s(r, 1), "seq": r[2].as_u64().unwrap_or(u64::MAX)}),
        &|r| format!("{}/{} seq {}", s(r, 0), s(r, 1), r[2]),
    );
    out.alerts = check_table(
        "alert",
        &snap.alerts,
        &|r| serde_json::json!({"tenant": s(r, 0), "batch_id": s(r, 1), "cqa": s(r, 2)}),
        &|r| format!("{}/{} {}", s(r, 0), s(r, 1), s(r, 2)),
    );
    // The audit trail: each entry's own hash is chained here too.
    {
        let rows = &snap.audit;
        let mut seen = std::collections::BTreeSet::new();
        for (seq, j) in rows {
            let key = serde_json::json!({ "seq": seq }).to_string();
            seen.insert(key.clone());
            let h = serde_json::from_str::<serde_json::Value>(j)
                .ok()
                .and_then(|v| v.get("sha256").and_then(|s| s.as_str()).map(str::to_string))
                .unwrap_or_default();
            match latest.get(&("audit".to_string(), key)) {
                None => problems.push(format!(
                    "audit[{seq}]: has no ledger entry (inserted outside biotwin)"
                )),
                Some(x) if *x != h => problems.push(format!(
                    "audit[{seq}]: its hash differs from the one chained in the ledger"
                )),
                Some(_) => {}
            }
        }
        for ((_, key), _) in latest.iter().filter(|((k, _), _)| k == "audit") {
            if !seen.contains(key) {
                problems.push(format!(
                    "audit entry {key}: in the ledger but not in the trail (deleted)"
                ));
            }
        }
        out.audit_entries = rows.len() as u64;
    }
    // Readings: every row inside exactly one chained range, each range's
    // rows hashing to what was chained.
    {
        let rows = &snap.readings;
        out.readings = rows.len() as u64;
        ranges.sort_by_key(|r| r.0);
        let mut k = 0usize;
        for (first, last, count, h, seq) in &ranges {
            while k < rows.len() && rows[k].0 < *first {
                problems.push(format!(
                    "reading id {}: has no ledger entry (inserted outside biotwin)",
                    rows[k].0
                ));
                k += 1;
            }
            let start = k;
            while k < rows.len() && rows[k].0 <= *last {
                k += 1;
            }
            let lines: Vec<serde_json::Value> =
                rows[start..k].iter().map(|r| r.1.clone()).collect();
            if lines.len() as u64 != *count {
                problems.push(format!(
                    "readings {first}..={last} (ledger[{seq}]): {count} chained, {} in the store (deleted or inserted)",
                    lines.len()
                ));
            } else if sha256_lines(&lines) != *h {
                problems.push(format!(
                    "readings {first}..={last} (ledger[{seq}]): altered (the rows no longer hash to their ledger entry)"
                ));
            }
        }
        for r in &rows[k..] {
            problems.push(format!(
                "reading id {}: has no ledger entry (inserted outside biotwin)",
                r.0
            ));
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        problems.truncate(50);
        Err(problems)
    }
}

/// The hashes of the ledger entries and of the audit entries, in order.
pub fn chain_hashes(c: &Connection) -> rusqlite::Result<(Vec<String>, Vec<String>)> {
    let mut out = (Vec::new(), Vec::new());
    for (table, dst) in [("ledger", &mut out.0), ("audit", &mut out.1)] {
        if table == "ledger" && !has_ledger(c)? {
            continue;
        }
        let mut st = c.prepare(&format!("SELECT entry_json FROM {table} ORDER BY seq"))?;
        for j in st.query_map([], |r| r.get::<_, String>(0))? {
            let h = serde_json::from_str::<serde_json::Value>(&j?)
                .ok()
                .and_then(|v| v.get("sha256").and_then(|s| s.as_str()).map(str::to_string))
                .unwrap_or_default();
            dst.push(h);
        }
    }
    Ok(out)
}
