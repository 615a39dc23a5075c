//! The hash chain of the live audit trail, shared by every [`Store`].
//!
//! Each entry's `sha256` is the SHA-256 of its compact JSON without the
//! `sha256` field; `prev_sha256` is the previous entry's `sha256` (or
//! [`GENESIS`] for the first). Altering, inserting, removing or reordering an
//! entry therefore breaks the chain at that entry, which [`verify`] names.
//! The same scheme as the model registry's log (`biotwin_ml::registry`).
//!
//! [`Store`]: super::Store

use super::{AuditEntry, TenantId};
use biotwin_ml::surrogates::artifact::content_sha256;

/// `prev_sha256` of the first entry.
pub const GENESIS: &str = biotwin_ml::registry::GENESIS;

/// SHA-256 of an entry's canonical JSON without its own `sha256` field.
pub fn entry_sha256(e: &AuditEntry) -> String {
    let mut v = serde_json::to_value(e).unwrap_or(serde_json::Value::Null);
    if let Some(o) = v.as_object_mut() {
        o.remove("sha256");
    }
    content_sha256(&v)
}

/// The entry that follows `prev` (or starts the chain), with seq and hashes
/// filled in.
pub fn next_entry(
    prev: Option<&AuditEntry>,
    time_unix_s: f64,
    actor: &str,
    tenant: Option<&str>,
    action: &str,
    detail: serde_json::Value,
) -> AuditEntry {
    let mut e = AuditEntry {
        seq: prev.map_or(0, |p| p.seq + 1),
        time_unix_s,
        actor: actor.to_string(),
        tenant: tenant.map(|t| -> TenantId { t.to_string() }),
        action: action.to_string(),
        detail,
        prev_sha256: prev.map_or_else(|| GENESIS.to_string(), |p| p.sha256.clone()),
        sha256: String::new(),
    };
    e.sha256 = entry_sha256(&e);
    e
}

/// Where and how a chain is broken.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainBreak {
    /// Index of the first bad entry in the trail.
    pub index: usize,
    /// What is wrong with it, for people (which hash or seq does not match).
    pub reason: String,
}

impl std::fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "audit entry {}: {}", self.index, self.reason)
    }
}

/// Checks sequence numbers, links and hashes of a whole trail, in order.
/// Returns the head hash (GENESIS for an empty trail).
pub fn verify(entries: &[AuditEntry]) -> Result<String, ChainBreak> {
    let mut prev = GENESIS.to_string();
    for (i, e) in entries.iter().enumerate() {
        let fail = |reason: String| ChainBreak { index: i, reason };
        if e.seq != i as u64 {
            return Err(fail(format!(
                "seq {} where {} was expected: an entry was removed, inserted or reordered",
                e.seq, i
            )));
        }
        if e.prev_sha256 != prev {
            return Err(fail(format!(
                "prev_sha256 {} does not match the previous entry's sha256 {}",
                e.prev_sha256, prev
            )));
        }
        let h = entry_sha256(e);
        if h != e.sha256 {
            return Err(fail(format!(
                "content hashes to {h} but the entry records {}: it was altered",
                e.sha256
            )));
        }
        prev = h;
    }
    Ok(prev)
}

/// The SHA-256 of a record's canonical JSON: what a signature's audit entry
/// carries (`detail.record.sha256`) to link it to the record it signs.
pub fn record_sha256<T: serde::Serialize>(record: &T) -> String {
    content_sha256(&serde_json::to_value(record).unwrap_or(serde_json::Value::Null))
}

/// The batch an entry concerns, if any (`detail.batch` as the engine
/// writes it, or `detail.batch_id` as acknowledgements do).
pub fn entry_batch(e: &AuditEntry) -> Option<&str> {
    e.detail
        .get("batch")
        .or_else(|| e.detail.get("batch_id"))
        .and_then(|v| v.as_str())
}

/// What `biotwin audit show` and the page's audit view list: the entries of
/// `tenant` (all when `None`), of `batch` when given, at or after
/// `since_unix_s` when given; in chain order.
pub fn select<'a>(
    entries: &'a [AuditEntry],
    tenant: Option<&str>,
    batch: Option<&str>,
    since_unix_s: Option<f64>,
) -> Vec<&'a AuditEntry> {
    entries
        .iter()
        .filter(|e| tenant.is_none_or(|t| e.tenant.as_deref() == Some(t)))
        .filter(|e| batch.is_none_or(|b| entry_batch(e) == Some(b)))
        .filter(|e| since_unix_s.is_none_or(|t| e.time_unix_s >= t))
        .collect()
}

/// What [`parse_since`] accepts, for error messages.
pub const SINCE_EXPECTED: &str = "an RFC 3339 UTC time like 2026-12-05T12:00:00Z, or Unix seconds";

/// A `--since` / `since=` value: an RFC 3339 UTC time
/// (`2026-12-05T12:00:00Z`) or Unix seconds. The error is the text found.
pub fn parse_since(text: &str) -> Result<f64, crate::error::TimeError> {
    let t = text.trim();
    if let Ok(v) = t.parse::<f64>()
        && v.is_finite()
    {
        return Ok(v);
    }
    biotwin_ml::data::timestamp::parse_rfc3339(t).map_err(|_| crate::error::TimeError {
        found: t.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn chain(n: usize) -> Vec<AuditEntry> {
        let mut out: Vec<AuditEntry> = Vec::new();
        for i in 0..n {
            let e = next_entry(
                out.last(),
                1.0e9 + i as f64,
                "qa.user",
                Some("sponsor-a"),
                "alert.acknowledged",
                json!({ "batch": format!("B{i}") }),
            );
            out.push(e);
        }
        out
    }

    #[test]
    fn selection_by_tenant_batch_and_time() {
        let mut c = chain(4);
        c[3].tenant = Some("sponsor-b".into());
        let ids = |v: Vec<&AuditEntry>| v.iter().map(|e| e.seq).collect::<Vec<_>>();
        assert_eq!(ids(select(&c, Some("sponsor-a"), None, None)), [0, 1, 2]);
        assert_eq!(ids(select(&c, None, Some("B2"), None)), [2]);
        assert_eq!(
            ids(select(&c, Some("sponsor-a"), Some("B3"), None)),
            Vec::<u64>::new()
        );
        assert_eq!(ids(select(&c, None, None, Some(1.0e9 + 2.0))), [2, 3]);
        assert_eq!(parse_since("2001-09-09T01:46:40Z").unwrap(), 1.0e9);
        assert_eq!(parse_since("1000000000").unwrap(), 1.0e9);
        assert_eq!(
            parse_since("yesterday").unwrap_err().to_string(),
            "`yesterday`"
        );
    }

    #[test]
    fn an_intact_chain_verifies_to_its_head() {
        let c = chain(5);
        assert_eq!(verify(&c).unwrap(), c[4].sha256);
        assert_eq!(verify(&[]).unwrap(), GENESIS);
    }

    #[test]
    fn altering_removing_or_reordering_is_found_at_the_entry() {
        let mut altered = chain(5);
        altered[2].actor = "mallory".into();
        assert_eq!(verify(&altered).unwrap_err().index, 2);

        let mut removed = chain(5);
        removed.remove(1);
        assert_eq!(verify(&removed).unwrap_err().index, 1);

        let mut swapped = chain(5);
        swapped.swap(3, 4);
        assert_eq!(verify(&swapped).unwrap_err().index, 3);

        // Rehashing an altered entry does not help: the next link breaks.
        let mut rehashed = chain(5);
        rehashed[2].detail = json!({ "batch": "forged" });
        rehashed[2].sha256 = entry_sha256(&rehashed[2]);
        assert_eq!(verify(&rehashed).unwrap_err().index, 3);
    }
}
