//! `biotwin serve`: the QA web page and API over a live site's store.

use std::net::SocketAddr;
use std::path::PathBuf;

use super::CliError;
use crate::error::Error;
use crate::live::config::SiteConfig;
use crate::live::web::background::{Background, spawn};

#[derive(clap::Args, Debug)]
#[command(
    about = "Serve the QA web page and JSON API over a live site's store",
    after_help = "Examples:\n  biotwin serve --config process-models/sites/example-site.toml\n  biotwin serve --config site.toml --addr 127.0.0.1:0   (any free port, printed)\n  biotwin live --config site.toml --serve 127.0.0.1:8080   (engine and server together)\n\nServes the SQLite store named in the site file (read side; acknowledging an\nalert writes it and its audit entry) to the tenants of its [[tenants]]: people sign in at http://ADDR/ with the\naccounts of the store (biotwin users add; roles and signatures: docs/part11.md),\nand each sponsor's shared token still opens its own batches read-only.\nThe example site's tokens are in docs/live.md (\"Web API and page\"). The store\nmay be written by a running `biotwin live` at the same time (WAL journal).\nThe server speaks plain HTTP: beyond loopback, put a TLS reverse proxy in front\n(tokens travel in the Authorization header). Ctrl-C stops the server."
)]
pub struct Args {
    /// Site configuration (TOML; see docs/live.md): store path and tenants.
    #[arg(long)]
    pub config: PathBuf,
    /// Address to listen on (port 0: any free port, printed on start).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
}

pub fn run(a: Args) -> Result<(), CliError> {
    let cfg = SiteConfig::read(&a.config)?;
    if !crate::live::opened::exists(&cfg) {
        return Err(Error::input(
            &cfg.file,
            "store.path",
            "an existing live store (made by `biotwin live --config FILE`)",
            format!("`{}` (no such file)", cfg.store_path.display()),
        )
        .into());
    }
    Ok(start(&cfg, a.addr)?.wait()?)
}

/// Starts the server over the site's store with the site's tenants, on its
/// own connection to the store: with the WAL journal its reads neither wait
/// for nor block an engine writing through another connection.
pub(crate) fn start(cfg: &SiteConfig, addr: SocketAddr) -> Result<Background, CliError> {
    let store = crate::live::opened::open(cfg)?;
    let tenants: Vec<(String, String)> = cfg
        .tenants
        .iter()
        .map(|t| (t.id.clone(), t.token_sha256.clone()))
        .collect();
    if tenants.is_empty() {
        eprintln!(
            "warning: {} declares no [[tenants]]: no token can open the page",
            cfg.file.display()
        );
    }
    let n = tenants.len();
    let people = match store.accounts() {
        Some(a) => a.users(None)?.iter().filter(|u| !u.disabled).count(),
        None => 0,
    };
    let has_accounts = store.accounts().is_some();
    let server = spawn(addr, store, tenants)?;
    outln!(
        "serve: site {} (store {}, {} tenants, {} user accounts) on http://{}/ - Ctrl-C stops",
        cfg.name,
        crate::live::opened::describe(cfg),
        n,
        people,
        server.addr()
    );
    if !has_accounts {
        eprintln!(
            "note: this store keeps no user accounts: the page opens read-only with the shared tokens"
        );
    } else if people == 0 {
        eprintln!(
            "note: no user accounts: the page opens read-only with the shared tokens; add people with `biotwin users add --store {}` to acknowledge alerts",
            crate::live::opened::describe(cfg)
        );
    }
    Ok(server)
}
