//! `biotwin audit verify`: check the hash chain of a live store's audit trail;
//! `biotwin audit show`: read it (by batch, since a time, as text or JSON).

use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::live::Store;
use crate::live::audit::verify;
use crate::live::pg_store::PgStore;
use crate::live::sqlite_store::SqliteStore;

#[derive(clap::Args, Debug)]
#[command(about = "Audit trail of a live store: verify its chains, or show its entries")]
pub struct Args {
    #[command(subcommand)]
    pub command: AuditCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum AuditCommand {
    /// Verify sequence numbers, links and hashes of every entry.
    #[command(
        after_help = "Examples:\n  biotwin audit verify --store live.sqlite\n  biotwin audit verify --registry models/\n  biotwin audit verify --store live.sqlite --registry models/\n  biotwin audit verify --store live.sqlite --anchor /mnt/worm/live.sqlite.anchor.jsonl\n  biotwin audit verify --store postgres://bio@db:5432/site --anchor /mnt/worm/host1.anchor.jsonl --anchor /mnt/worm/host2.anchor.jsonl\n\nExit 0 and the head hash of each chain when intact; exit 2 naming the first\nbroken entry (or altered artifact) otherwise."
    )]
    Verify {
        /// The store of a live site (predictions, alerts, configuration
        /// changes, acknowledgements): its SQLite file, or its PostgreSQL
        /// database as postgres://user@host:port/dbname (password from
        /// PGPASSWORD).
        #[arg(long, required_unless_present = "registry")]
        store: Option<PathBuf>,
        /// A model registry directory (registrations and promotions); its
        /// artifacts are checked against their recorded hashes too.
        #[arg(long)]
        registry: Option<PathBuf>,
        /// An anchor file (repeatable): the counts and head hashes the store
        /// (`<store>.anchor.jsonl`) or the registry (`<dir>.anchor.jsonl`)
        /// appended after each write, ideally kept on separate append-only
        /// media. Every line must still be reached by its chain, so deleting
        /// the last entries (or all of them) is found. Without this flag the
        /// default anchor files are checked when they exist.
        #[arg(long)]
        anchor: Vec<PathBuf>,
    },
    /// Show the entries of a live store's audit trail, oldest first, with
    /// every electronic signature spelled out.
    #[command(
        after_help = "Examples:\n  biotwin audit show --store live.sqlite\n  biotwin audit show --store live.sqlite --batch B01 --since 2026-12-05T00:00:00Z\n  biotwin audit show --store live.sqlite --tenant sponsor-a --json > trail.json\n\nThe chain is verified first and the result printed (to stderr with --json);\na broken chain is shown all the same, and `biotwin audit verify` names the\nfirst broken entry. On the web page QA reviewers and administrators see\ntheir own tenant's entries."
    )]
    Show {
        #[arg(long)]
        store: PathBuf,
        /// Only entries about this batch.
        #[arg(long)]
        batch: Option<String>,
        /// Only entries at or after this time: RFC 3339 UTC
        /// (2026-12-05T12:00:00Z) or Unix seconds.
        #[arg(long)]
        since: Option<String>,
        /// Only entries of this tenant.
        #[arg(long)]
        tenant: Option<String>,
        /// The entries as a JSON array, exactly as chained.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(a: Args) -> Result<(), Error> {
    match a.command {
        AuditCommand::Show {
            store,
            batch,
            since,
            tenant,
            json,
        } => show(
            &store,
            batch.as_deref(),
            since.as_deref(),
            tenant.as_deref(),
            json,
        ),
        AuditCommand::Verify {
            store,
            registry,
            anchor,
        } => {
            let mut store_anchors = Vec::new();
            let mut registry_anchor = None;
            for a in &anchor {
                match anchor_chain(a)?.as_str() {
                    "registry" if registry.is_some() => registry_anchor = Some(a.clone()),
                    "live-store" if store.is_some() => store_anchors.push(a.clone()),
                    other => {
                        return Err(Error::input(
                            a,
                            "chain",
                            "the anchor of a store given with --store or a registry given with --registry",
                            format!("an anchor of a `{other}` chain"),
                        ));
                    }
                }
            }
            if let Some(store) = store {
                verify_store(&store, &store_anchors)?;
            }
            if let Some(dir) = registry {
                if !dir.is_dir() {
                    return Err(Error::input(
                        "<command line>",
                        "--registry",
                        "an existing model registry directory",
                        format!("`{}` (no such directory)", dir.display()),
                    ));
                }
                let v = crate::registry::verify_anchored(&dir, registry_anchor.as_deref())?;
                outln!(
                    "registry log intact: {} entries, {} artifacts unaltered, head {}",
                    v.entries,
                    v.artifacts,
                    v.head
                );
                if v.anchors > 0 {
                    outln!(
                        "registry anchors: {} lines, all reached by the log",
                        v.anchors
                    );
                } else {
                    outln!(
                        "registry anchors: none found (a truncated log is found only with an anchor file)"
                    );
                }
            }
            Ok(())
        }
    }
}

/// The `chain` of an anchor file's first complete line.
fn anchor_chain(path: &std::path::Path) -> Result<String, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .find_map(|l| serde_json::from_str::<crate::output::anchor::Anchor>(l).ok())
        .map(|a| a.chain)
        .ok_or_else(|| {
            Error::input(
                path,
                "",
                "an anchor file written by biotwin (JSON lines)",
                "no complete anchor line",
            )
        })
}

/// The PostgreSQL store `--store` names, if it is a URL.
fn pg(store: &std::path::Path) -> Result<Option<PgStore>, Error> {
    match store.to_str().filter(|s| crate::live::pg_store::is_url(s)) {
        None => Ok(None),
        Some(url) => Ok(Some(PgStore::open(&super::store::target(
            "--store", url, None,
        )?)?)),
    }
}

/// The anchor files' text, read before any chain is (see
/// [`crate::output::anchor::read_anchor_text`]: read after, a line a
/// running writer appends meanwhile would look like a truncation).
fn read_anchors(files: &[PathBuf]) -> Result<Vec<(PathBuf, String)>, Error> {
    files
        .iter()
        .map(|f| {
            crate::output::anchor::read_anchor_text(f)
                .map(|t| (f.clone(), t))
                .map_err(|m| Error::input(f, "", "a readable anchor file", m))
        })
        .collect()
}

fn verify_store(store: &std::path::Path, anchors: &[PathBuf]) -> Result<(), Error> {
    if let Some(s) = pg(store)? {
        let shown = PathBuf::from(s.shown());
        let anchors = read_anchors(anchors)?;
        return verify_chains(&shown, s.audit()?, s.verify_records()?, anchors, &|| {
            s.chain_hashes()
        });
    }
    if !store.is_file() {
        return Err(Error::input(
            "<command line>",
            "--store",
            "an existing live store (SQLite file)",
            format!("`{}` (no such file)", store.display()),
        ));
    }
    let s = SqliteStore::open_existing(store)?;
    if !s.has_table("audit")? {
        return Err(Error::input(
            store,
            "audit",
            "the store's audit table",
            "no such table: it was dropped",
        ));
    }
    let mut files: Vec<PathBuf> = anchors.to_vec();
    if files.is_empty() {
        files.extend(
            s.anchor_path()
                .map(Path::to_path_buf)
                .filter(|p| p.is_file()),
        );
    }
    let anchors = read_anchors(&files)?;
    verify_chains(store, s.audit()?, s.verify_records()?, anchors, &|| {
        s.chain_hashes()
    })
}

/// Checks the audit chain, the records against the ledger and the anchor
/// files, for either store.
fn verify_chains(
    store: &std::path::Path,
    trail: Vec<crate::live::AuditEntry>,
    records: Result<crate::live::ledger::RecordsVerified, Vec<String>>,
    anchors: Vec<(PathBuf, String)>,
    chain_hashes: &dyn Fn() -> Result<(Vec<String>, Vec<String>), Error>,
) -> Result<(), Error> {
    let head = verify(&trail).map_err(|b| {
        Error::input(
            store,
            format!("audit[{}]", b.index),
            "an intact hash chain",
            b.to_string(),
        )
    })?;
    outln!("audit trail intact: {} entries, head {head}", trail.len());
    match records {
        Ok(r) => outln!(
            "records intact: {} batches, {} readings, {} predictions, {} alerts, {} audit entries in {} ledger entries, head {}",
            r.batches,
            r.readings,
            r.predictions,
            r.alerts,
            r.audit_entries,
            r.ledger_entries,
            r.head
        ),
        Err(problems) => {
            let mut d = crate::error::Diagnostics::new();
            for p in problems {
                d.push(crate::error::Diagnostic::new(
                    store,
                    "records",
                    "every record as chained in the ledger",
                    p,
                ));
            }
            return Err(Error::Input(d));
        }
    }
    if trail.iter().any(|e| e.action == "store.records_adopted") {
        outln!(
            "note: records written before the store.records_adopted audit entry were chained when adopted, not when written"
        );
    }
    if anchors.is_empty() {
        outln!(
            "anchors: none found (deleting the last entries is found only with an anchor file; see docs/live.md)"
        );
    }
    let (ledger, audit) = chain_hashes()?;
    for (f, text) in anchors {
        let c = crate::output::anchor::check_anchor_text(&f, &text, "live-store", &ledger, &audit)
            .map_err(|m| Error::input(&f, "", "an anchor the store's chains still reach", m))?;
        outln!(
            "anchor {}: {} lines, all reached; latest: {} ledger entries, {} audit entries",
            f.display(),
            c.lines,
            c.latest.ledger_count,
            c.latest.audit_count
        );
        if !c.torn.is_empty() {
            outln!(
                "anchor {}: {} incomplete line(s) not checked (a write cut short by a full disk or a crash): line {}",
                f.display(),
                c.torn.len(),
                c.torn
                    .iter()
                    .map(|n| n.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    Ok(())
}

fn show(
    store: &std::path::Path,
    batch: Option<&str>,
    since: Option<&str>,
    tenant: Option<&str>,
    json: bool,
) -> Result<(), Error> {
    let since = since
        .map(|t| {
            crate::live::audit::parse_since(t).map_err(|e| {
                Error::input(
                    "<command line>",
                    "--since",
                    crate::live::audit::SINCE_EXPECTED,
                    e,
                )
            })
        })
        .transpose()?;
    let trail = match pg(store)? {
        Some(s) => s.audit()?,
        None => {
            if !store.is_file() {
                return Err(Error::input(
                    "<command line>",
                    "--store",
                    "an existing live store (SQLite file)",
                    format!("`{}` (no such file)", store.display()),
                ));
            }
            SqliteStore::open_existing(store)?.audit()?
        }
    };
    let chain = match verify(&trail) {
        Ok(head) => format!("chain intact: {} entries, head {head}", trail.len()),
        Err(b) => format!(
            "CHAIN BROKEN: {b} (biotwin audit verify --store {})",
            store.display()
        ),
    };
    let picked = crate::live::audit::select(&trail, tenant, batch, since);
    if json {
        eprintln!("{chain}");
        outln!(
            "{}",
            serde_json::to_string_pretty(&picked).unwrap_or_default()
        );
        return Ok(());
    }
    outln!("{chain}; {} shown", picked.len());
    for e in picked {
        outln!(
            "{:>5}  {}  {:<18} {:<12} {:<22} {}",
            e.seq,
            crate::data::timestamp::format_rfc3339(e.time_unix_s.floor()),
            e.actor,
            e.tenant.as_deref().unwrap_or("-"),
            e.action,
            summary(&e.detail)
        );
        if let Some(sig) = e.detail.get("signature") {
            let f = |k: &str| sig.get(k).and_then(|v| v.as_str()).unwrap_or("?");
            outln!(
                "         signed: {} by {} ({}, {}) at {}; reason: {}",
                f("meaning"),
                f("full_name"),
                f("user_id"),
                f("role"),
                f("signed_at"),
                f("reason")
            );
        }
    }
    Ok(())
}

/// The detail of an entry in one line, without its signature (printed on
/// its own line).
fn summary(detail: &serde_json::Value) -> String {
    let mut d = detail.clone();
    if let Some(o) = d.as_object_mut() {
        o.remove("signature");
    }
    let text = d.to_string();
    if text.chars().count() > 160 {
        format!("{}...", text.chars().take(157).collect::<String>())
    } else {
        text
    }
}
