//! `biotwin store migrate`: apply the schema migrations of a PostgreSQL
//! store; `biotwin store copy`: move a site's SQLite store into an empty
//! PostgreSQL database (docs/live.md, "A multi-worker site").

use std::path::PathBuf;

use super::CliError;
use crate::error::Error;
use crate::live::config::SiteConfig;
use crate::live::pg_store::{self, PgStore, PgTarget};

#[derive(clap::Args, Debug)]
#[command(
    about = "PostgreSQL store of a live site: apply schema migrations, or copy a SQLite store into it"
)]
pub struct Args {
    #[command(subcommand)]
    pub command: StoreCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum StoreCommand {
    /// Apply every schema migration the database lacks, in one transaction
    /// (each recorded as `store.migrated` in the audit trail); running it
    /// again changes nothing.
    #[command(
        after_help = "Examples:\n  biotwin store migrate --config site.toml\n  PGPASSWORD=... biotwin store migrate --url postgres://biotwin@db.example:5432/site\n\nThe password is read from the environment (PGPASSWORD, or the variable the\nsite file's [store] password_env names), never from the URL."
    )]
    Migrate {
        /// The site file whose `[store] url` names the database.
        #[arg(long, required_unless_present = "url", conflicts_with = "url")]
        config: Option<PathBuf>,
        /// The database, postgres://user@host:port/dbname (no password).
        #[arg(long)]
        url: Option<String>,
        /// Environment variable holding the password (default PGPASSWORD).
        #[arg(long)]
        password_env: Option<String>,
    },
    /// Copy a SQLite store (every record, the audit trail and the record
    /// ledger) into an empty PostgreSQL database, and verify the copy.
    #[command(
        after_help = "Examples:\n  biotwin store copy --from live.sqlite --to postgres://biotwin@db.example/site\n  biotwin audit verify --store postgres://biotwin@db.example/site\n\nThe source is verified first; a store whose chains do not verify is not copied.\nThe database must hold no biotwin tables; the schema is made and the rows\nwritten in one transaction. User accounts and API tokens are copied as stored
(hashes only); sessions are not (people sign in again)."
    )]
    Copy {
        /// The SQLite store (a site's `[store] path`).
        #[arg(long)]
        from: PathBuf,
        /// The database, postgres://user@host:port/dbname (no password).
        #[arg(long)]
        to: String,
        /// Environment variable holding the password (default PGPASSWORD).
        #[arg(long)]
        password_env: Option<String>,
    },
}

/// A URL from the command line, checked as the site file's is.
pub(crate) fn target(
    flag: &str,
    url: &str,
    password_env: Option<&str>,
) -> Result<PgTarget, CliError> {
    let t = PgTarget::new(url, password_env);
    t.parse()
        .map_err(|(expected, found)| Error::input("<command line>", flag, expected, found))?;
    Ok(t)
}

pub fn run(a: Args) -> Result<(), CliError> {
    match a.command {
        StoreCommand::Migrate {
            config,
            url,
            password_env,
        } => {
            let t = match (config, url) {
                (Some(c), _) => {
                    let cfg = SiteConfig::read(&c)?;
                    cfg.store_pg.clone().ok_or_else(|| {
                        Error::input(
                            &c,
                            "store.url",
                            "a PostgreSQL store (`url = \"postgres://...\"`); a SQLite store needs no migration",
                            format!("the SQLite file `{}`", cfg.store_path.display()),
                        )
                    })?
                }
                (None, Some(u)) => target("--url", &u, password_env.as_deref())?,
                (None, None) => unreachable!("clap requires one"),
            };
            let (s, applied) = PgStore::migrate(&t)?;
            if applied.is_empty() {
                outln!(
                    "store {}: schema version {}, up to date",
                    s.shown(),
                    pg_store::latest_version()
                );
            } else {
                for v in &applied {
                    let m = pg_store::MIGRATIONS.iter().find(|m| m.version == *v);
                    outln!(
                        "store {}: applied migration {v} ({})",
                        s.shown(),
                        m.map_or("", |m| m.name)
                    );
                }
            }
            Ok(())
        }
        StoreCommand::Copy {
            from,
            to,
            password_env,
        } => {
            let t = target("--to", &to, password_env.as_deref())?;
            let (s, c) = crate::live::store_copy::sqlite_to_pg(&from, &t)?;
            outln!(
                "copied {} to {}: {} batches, {} readings, {} predictions, {} alerts, {} audit entries, {} ledger entries; both chains verified on the copy",
                from.display(),
                s.shown(),
                c.batches,
                c.readings,
                c.predictions,
                c.alerts,
                c.audit_entries,
                c.ledger_entries
            );
            outln!(
                "accounts: {} users and {} API tokens copied as stored (password and token hashes); {} sessions not copied (people sign in again)",
                c.accounts,
                c.api_tokens,
                c.sessions_not_copied
            );
            Ok(())
        }
    }
}
