//! `biotwin audit verify`: check the hash chain of a live store's audit trail.

use std::path::PathBuf;

use crate::error::Error;
use crate::live::Store;
use crate::live::audit::verify;
use crate::live::sqlite_store::SqliteStore;

#[derive(clap::Args, Debug)]
#[command(about = "Audit trail of a live store")]
pub struct Args {
    #[command(subcommand)]
    pub command: AuditCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum AuditCommand {
    /// Verify sequence numbers, links and hashes of every entry.
    #[command(
        after_help = "Examples:\n  biotwin audit verify --store live.sqlite\n  biotwin audit verify --registry models/\n  biotwin audit verify --store live.sqlite --registry models/\n\nExit 0 and the head hash of each chain when intact; exit 2 naming the first\nbroken entry (or altered artifact) otherwise."
    )]
    Verify {
        /// The SQLite store of a live site (predictions, alerts, configuration
        /// changes, acknowledgements).
        #[arg(long, required_unless_present = "registry")]
        store: Option<PathBuf>,
        /// A model registry directory (registrations and promotions); its
        /// artifacts are checked against their recorded hashes too.
        #[arg(long)]
        registry: Option<PathBuf>,
    },
}

pub fn run(a: Args) -> Result<(), Error> {
    match a.command {
        AuditCommand::Verify { store, registry } => {
            if let Some(store) = store {
                verify_store(&store)?;
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
                let v = crate::registry::verify(&dir)?;
                outln!(
                    "registry log intact: {} entries, {} artifacts unaltered, head {}",
                    v.entries,
                    v.artifacts,
                    v.head
                );
            }
            Ok(())
        }
    }
}

fn verify_store(store: &std::path::Path) -> Result<(), Error> {
    if !store.is_file() {
        return Err(Error::input(
            "<command line>",
            "--store",
            "an existing live store (SQLite file)",
            format!("`{}` (no such file)", store.display()),
        ));
    }
    let s = SqliteStore::open(store)?;
    let trail = s.audit()?;
    match verify(&trail) {
        Ok(head) => {
            outln!("audit trail intact: {} entries, head {head}", trail.len());
            Ok(())
        }
        Err(b) => Err(Error::input(
            store,
            format!("audit[{}]", b.index),
            "an intact hash chain",
            b.to_string(),
        )),
    }
}
