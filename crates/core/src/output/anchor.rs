//! Anchor files: where a hash chain stood (its entry count and head hash)
//! after each write, one JSON line per write, only ever appended — so a
//! copy on separate, append-only media lets `audit verify --anchor` detect
//! a chain that was truncated or rewritten afterwards. Used by the live
//! store's record ledger and by the model registry's log (docs/live.md,
//! docs/registry.md).

use crate::error::Reason;
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
/// rewritten, so it may live on append-only media). If the file does not
/// end with a newline (a write cut short by a full disk or a crash), the
/// line starts with one, so the torn fragment stays on a line of its own.
pub fn write_anchor(path: &Path, a: &Anchor) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom, Write};
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .read(true)
        .open(path)?;
    let mut line = Vec::with_capacity(320);
    if f.metadata()?.len() > 0 {
        let mut last = [0u8; 1];
        f.seek(SeekFrom::End(-1))?;
        f.read_exact(&mut last)?;
        if last[0] != b'\n' {
            line.push(b'\n');
        }
    }
    line.extend(serde_json::to_vec(a).map_err(std::io::Error::other)?);
    line.push(b'\n');
    // One write() of the whole line: with O_APPEND on a local file system
    // lines of several processes do not interleave.
    f.write_all(&line)
}

/// What [`check_anchor_text`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct AnchorCheck {
    /// Anchor lines checked (all reached).
    pub lines: usize,
    /// 1-based numbers of lines that are not a complete anchor line (a
    /// write cut short by a full disk or a crash): reported, not checked.
    pub torn: Vec<usize>,
    /// The anchor with the most entries (lines of several writers need not
    /// be in order).
    pub latest: Anchor,
}

/// Reads an anchor file. Read it *before* reading the chains it is
/// checked against: a line is appended only after its write committed, so
/// every line present then is reached by chains read later, even while
/// writers keep writing; read the other way round, a line appended in
/// between would look like a truncation.
pub fn read_anchor_text(path: &Path) -> Result<String, Reason> {
    std::fs::read_to_string(path).map_err(|e| Reason::new(format!("{}: {e}", path.display())))
}

/// [`read_anchor_text`] then [`check_anchor_text`] (for chains that no
/// one writes meanwhile).
pub fn check_anchor_file(
    path: &Path,
    chain: &str,
    ledger: &[String],
    audit: &[String],
) -> Result<AnchorCheck, Reason> {
    let text = read_anchor_text(path)?;
    check_anchor_text(path, &text, chain, ledger, audit)
}

/// Compares every line of an anchor file's text (read from `path`) with
/// the chains: each anchored count must be reached and the entry at that
/// count must carry the anchored head. `ledger` and `audit` are the
/// entries' hashes in order. A line that is not a complete anchor line is
/// listed in [`AnchorCheck::torn`], not checked; a file with no complete
/// line, or an anchor of another chain, is an error.
pub fn check_anchor_text(
    path: &Path,
    text: &str,
    chain: &str,
    ledger: &[String],
    audit: &[String],
) -> Result<AnchorCheck, Reason> {
    let mut latest: Option<Anchor> = None;
    let mut n = 0;
    let mut torn = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let a: Anchor = match serde_json::from_str(line) {
            Ok(a) => a,
            Err(_) => {
                torn.push(i + 1);
                continue;
            }
        };
        if a.chain != chain {
            return Err(Reason::from(format!(
                "{}:{}: an anchor of a `{}` chain, not of a `{chain}`",
                path.display(),
                i + 1,
                a.chain
            )));
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
                    return Err(Reason::from(format!(
                        "{}:{}: the {what} chain had {count} entries when anchored, now {}: entries were deleted (truncated)",
                        path.display(),
                        i + 1,
                        hashes.len()
                    )));
                }
                Some(h) if h != head => {
                    return Err(Reason::from(format!(
                        "{}:{}: {what} entry {} hashes to {h}, anchored as {head}: the chain was rewritten",
                        path.display(),
                        i + 1,
                        count - 1
                    )));
                }
                Some(_) => {}
            }
        }
        n += 1;
        let newer = latest
            .as_ref()
            .is_none_or(|l| (a.ledger_count, a.audit_count) > (l.ledger_count, l.audit_count));
        if newer {
            latest = Some(a);
        }
    }
    let latest = latest.ok_or_else(|| format!("{}: no complete anchor line", path.display()))?;
    Ok(AnchorCheck {
        lines: n,
        torn,
        latest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anchor(ledger_count: u64, ledger_head: &str) -> Anchor {
        Anchor {
            chain: "live-store".into(),
            ledger_count,
            ledger_head: ledger_head.into(),
            audit_count: 0,
            audit_head: String::new(),
            time_unix_s: 0.0,
        }
    }

    #[test]
    fn a_torn_line_is_reported_and_the_next_line_starts_on_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.jsonl");
        write_anchor(&p, &anchor(1, "h0")).unwrap();
        // A write cut short: half a line, no newline.
        let mut t = std::fs::read(&p).unwrap();
        t.extend_from_slice(b"{\"chain\":\"live-st");
        std::fs::write(&p, t).unwrap();
        write_anchor(&p, &anchor(3, "h2")).unwrap();
        // Out of order, as two writers may append.
        write_anchor(&p, &anchor(2, "h1")).unwrap();
        let hashes: Vec<String> = ["h0", "h1", "h2"].map(String::from).to_vec();
        let c = check_anchor_file(&p, "live-store", &hashes, &[]).unwrap();
        assert_eq!((c.lines, c.torn.clone()), (3, vec![2]));
        assert_eq!(c.latest.ledger_count, 3);
        // Still a truncation when the chain is shorter than a line says.
        let e = check_anchor_file(&p, "live-store", &hashes[..2], &[]).unwrap_err();
        assert!(e.contains(":3:") && e.contains("truncated"), "{e}");
        // A file of nothing but fragments anchors nothing: an error.
        std::fs::write(&p, "{\"chain\":\n").unwrap();
        let e = check_anchor_file(&p, "live-store", &hashes, &[]).unwrap_err();
        assert!(e.contains("no complete anchor line"), "{e}");
    }

    #[test]
    fn text_read_before_the_chains_is_reached_by_a_chain_that_grew_since() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.jsonl");
        write_anchor(&p, &anchor(1, "h0")).unwrap();
        let text = read_anchor_text(&p).unwrap();
        // A writer commits and appends after the anchor was read; the
        // chains are read afterwards and reach every line read.
        write_anchor(&p, &anchor(2, "h1")).unwrap();
        let hashes: Vec<String> = ["h0", "h1"].map(String::from).to_vec();
        check_anchor_text(&p, &text, "live-store", &hashes, &[]).unwrap();
        // Read the other way round (chains first, then the file), the new
        // line looks like a truncation: why verify reads anchors first.
        let e = check_anchor_file(&p, "live-store", &hashes[..1], &[]).unwrap_err();
        assert!(e.contains("truncated"), "{e}");
    }
}
