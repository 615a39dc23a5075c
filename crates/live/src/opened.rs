//! The store a site file names: its SQLite file (`[store] path`) or its
//! PostgreSQL database (`[store] url`), behind one [`Store`].

use std::sync::Arc;

use crate::Error;
use crate::Store;
use crate::config::SiteConfig;
use crate::pg_store::PgStore;
use crate::sqlite_store::SqliteStore;

/// The site's store, opened for reading and writing (a SQLite file is
/// created if missing; a PostgreSQL database must have been migrated with
/// `biotwin store migrate`).
pub fn open(cfg: &SiteConfig) -> Result<Arc<dyn Store>, Error> {
    Ok(match &cfg.store_pg {
        Some(t) => Arc::new(pg_anchored(PgStore::open(t)?, cfg)?),
        None => Arc::new(SqliteStore::open(&cfg.store_path)?),
    })
}

/// A PostgreSQL store that appends to the site's anchor file.
fn pg_anchored(store: PgStore, cfg: &SiteConfig) -> Result<PgStore, Error> {
    if let Some(a) = &cfg.store_anchor {
        store.set_anchor_path(a.clone())?;
    }
    Ok(store)
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

/// The store of one `biotwin live` worker: for a PostgreSQL site, also the
/// worker's batch leases ([`crate::pg_lease`]), the store fenced by them
/// (it writes a batch's records only while this worker holds the batch's
/// lease). A SQLite site has no leases: one process owns the file.
pub fn open_worker(
    cfg: &SiteConfig,
) -> Result<(Arc<dyn Store>, Option<Box<dyn crate::leases::BatchLeases>>), Error> {
    Ok(match &cfg.store_pg {
        Some(t) => {
            let store = pg_anchored(PgStore::open(t)?, cfg)?;
            let leases = crate::pg_lease::PgBatchLeases::connect(t, &cfg.name)?;
            store.set_fence(leases.fence())?;
            (Arc::new(store), Some(Box::new(leases)))
        }
        None => (Arc::new(SqliteStore::open(&cfg.store_path)?), None),
    })
}
