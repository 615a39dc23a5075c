//! The store a site file names: its SQLite file (`[store] path`) or its
//! PostgreSQL database (`[store] url`), behind one [`Store`].

use std::sync::Arc;

use crate::Store;
use crate::config::SiteConfig;
use crate::pg_store::PgStore;
use crate::sqlite_store::SqliteStore;
use biotwin_core::error::Error;

/// The site's store, opened for reading and writing (a SQLite file is
/// created if missing; a PostgreSQL database must have been migrated with
/// `biotwin store migrate`).
pub fn open(cfg: &SiteConfig) -> Result<Arc<dyn Store>, Error> {
    Ok(match &cfg.store_pg {
        Some(t) => Arc::new(PgStore::open(t)?),
        None => Arc::new(SqliteStore::open(&cfg.store_path)?),
    })
}

/// The store for messages: the file, or `postgres://user@host:port/db`.
pub fn describe(cfg: &SiteConfig) -> String {
    match &cfg.store_pg {
        Some(t) => t.display(),
        None => cfg.store_path.display().to_string(),
    }
}

/// Whether the site's store exists already (the file; a database is
/// checked when opened).
pub fn exists(cfg: &SiteConfig) -> bool {
    cfg.store_pg.is_some() || cfg.store_path.is_file()
}

/// For a PostgreSQL site: the site's lease ([`crate::pg_store::SiteLease`]),
/// waiting while another worker holds it. `None` for a SQLite site (one
/// process owns the file).
pub fn hold_site(cfg: &SiteConfig) -> Result<Option<crate::pg_store::SiteLease>, Error> {
    let Some(t) = &cfg.store_pg else {
        return Ok(None);
    };
    let started = std::time::Instant::now();
    let lease = crate::pg_store::SiteLease::acquire(t, &cfg.name, &|| {
        eprintln!(
            "live: site {} is run by another worker (it holds the site's lease in {}); waiting to take over",
            cfg.name,
            t.display()
        )
    })?;
    let waited = started.elapsed().as_secs_f64();
    if waited > 1.0 {
        eprintln!(
            "live: took over site {} after waiting {waited:.1} s",
            cfg.name
        );
    }
    Ok(Some(lease))
}
