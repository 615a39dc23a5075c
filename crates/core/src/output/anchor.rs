//! Anchor files: where a hash chain stood (its entry count and head hash)
//! after each write, one JSON line per write, only ever appended — so a
//! copy on separate, append-only media lets `audit verify --anchor` detect
//! a chain that was truncated or rewritten afterwards. Used by the live
//! store's record ledger and by the model registry's log (docs/live.md,
//! docs/registry.md).

use std::path::Path;

use serde::{Deserialize, Serialize};

/// One line of an anchor file: where both chains of a store stood after a
/// write. Lines are only ever appended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Anchor {
    /// `live-store` (the live store's ledger) or `registry` (the model registry's log).
    pub chain: String,
    /// Number of entries in the ledger chain.
    pub ledger_count: u64,
    /// Hash of the ledger chain's last entry, hex.
    pub ledger_head: String,
    /// Number of entries in the audit chain.
    pub audit_count: u64,
    /// Hash of the audit chain's last entry, hex.
    pub audit_head: String,
    /// When the anchor was written, Unix seconds.
    pub time_unix_s: f64,
}

/// Where a store's anchors go by default: beside the database, as
/// `<store>.anchor.jsonl`. A site makes that path a link to a file on
/// separate, append-only media (docs/live.md, "Records and anchors").
pub fn default_anchor_path(store: &Path) -> std::path::PathBuf {
    let mut s = store.as_os_str().to_owned();
    s.push(".anchor.jsonl");
    s.into()
}

/// Appends one anchor line to `path` (O_APPEND: the file is never
/// rewritten, so it may live on append-only media).
pub fn write_anchor(path: &Path, a: &Anchor) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    let mut line = serde_json::to_vec(a).map_err(std::io::Error::other)?;
    line.push(b'\n');
    f.write_all(&line)
}

/// Compares every line of an anchor file with the chains: each anchored
/// count must be reached and the entry at that count must carry the
/// anchored head. `ledger` and `audit` are the entries' hashes in order.
pub fn check_anchor_file(
    path: &Path,
    chain: &str,
    ledger: &[String],
    audit: &[String],
) -> Result<(usize, Anchor), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut last = None;
    let mut n = 0;
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let a: Anchor = serde_json::from_str(line)
            .map_err(|e| format!("{}:{}: not an anchor line ({e})", path.display(), i + 1))?;
        if a.chain != chain {
            return Err(format!(
                "{}:{}: an anchor of a `{}` chain, not of a `{chain}`",
                path.display(),
                i + 1,
                a.chain
            ));
        }
        for (what, count, head, hashes) in [
            ("ledger", a.ledger_count, &a.ledger_head, ledger),
            ("audit", a.audit_count, &a.audit_head, audit),
        ] {
            if count == 0 {
                continue;
            }
            match hashes.get(count as usize - 1) {
                None => {
                    return Err(format!(
                        "{}:{}: the {what} chain had {count} entries when anchored, now {}: entries were deleted (truncated)",
                        path.display(),
                        i + 1,
                        hashes.len()
                    ));
                }
                Some(h) if h != head => {
                    return Err(format!(
                        "{}:{}: {what} entry {} hashes to {h}, anchored as {head}: the chain was rewritten",
                        path.display(),
                        i + 1,
                        count - 1
                    ));
                }
                Some(_) => {}
            }
        }
        n += 1;
        last = Some(a);
    }
    last.map(|a| (n, a))
        .ok_or_else(|| format!("{}: no anchor lines", path.display()))
}
