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
        after_help = "Example:\n  biotwin audit verify --store live.sqlite\n\nExit 0 and the head hash when the chain is intact; exit 2 naming the first\nbroken entry otherwise."
    )]
    Verify {
        /// The SQLite store of a live site.
        #[arg(long)]
        store: PathBuf,
    },
}

pub fn run(a: Args) -> Result<(), Error> {
    match a.command {
        AuditCommand::Verify { store } => {
            if !store.is_file() {
                return Err(Error::input(
                    "<command line>",
                    "--store",
                    "an existing live store (SQLite file)",
                    format!("`{}` (no such file)", store.display()),
                ));
            }
            let s = SqliteStore::open(&store)?;
            let trail = s.audit()?;
            match verify(&trail) {
                Ok(head) => {
                    outln!("audit trail intact: {} entries, head {head}", trail.len());
                    Ok(())
                }
                Err(b) => Err(Error::input(
                    &store,
                    format!("audit[{}]", b.index),
                    "an intact hash chain",
                    b.to_string(),
                )),
            }
        }
    }
}
