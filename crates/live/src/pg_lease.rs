//! Batch leases on PostgreSQL: several active `biotwin live` workers share
//! one site's batches, each batch run by exactly one worker at a time.
//!
//! **Tables** (migration 2):
//! * `batch_leases (tenant, batch_id, worker, epoch, expires_at)`: one row
//!   per unfinished batch of the site. `worker` is the holder (NULL: free),
//!   `epoch` counts acquisitions (the fencing token), `expires_at` is on
//!   the *server's* clock (`clock_timestamp()`), so the workers' clocks do
//!   not matter.
//! * `lease_workers (worker, pid, backend_start, expires_at)`: each live
//!   worker's heartbeat and the server process of its lease connection.
//!
//! **A worker is alive** while its heartbeat has not expired *and* the
//! server session of its lease connection (pid and start time in
//! `pg_stat_activity`) still exists. A worker killed with SIGKILL loses its
//! session at once (the kernel closes its socket), so its batches are free
//! at the next tick of any other worker; a hung or partitioned worker's
//! leases expire after [`LEASE_TTL_S`]. The first heartbeat is written by
//! the first tick (or renewal), not on connecting: a worker still starting
//! does not count towards the fair share.
//!
//! **Acquiring** (every [`LEASE_TICK_S`]): a worker takes up to its fair
//! share, `ceil(unfinished batches / live workers)`, of the leases that are
//! free, expired or held by a dead worker, with
//! `SELECT … FOR UPDATE SKIP LOCKED` inside one `UPDATE … RETURNING` that
//! sets itself as holder, increments `epoch` and sets the expiry: two
//! workers never take the same row, and neither waits for the other. A
//! worker holding more than its share (another worker has joined) releases
//! the excess. Held leases are renewed by the same tick; one found expired
//! is lost (never silently renewed).
//!
//! **Fencing**: the store of a leased worker ([`crate::pg_store::PgStore::
//! set_fence`]) checks, in the very transaction that writes a batch's
//! readings, prediction, alert or batch row, that the lease row still names
//! this worker at the epoch it acquired and has not expired, and locks that
//! row `FOR SHARE` until the commit. A takeover's `FOR UPDATE SKIP LOCKED`
//! skips a row while such a write holds it, and a write after a takeover
//! finds another epoch and is refused: a worker that was paused past its
//! expiry and wakes up cannot write a record of a batch it lost.
//!
//! **Resume**: a worker that acquires a batch starts it exactly as a
//! restart does (`engine.rs`): the stored readings are replayed through the
//! same steps (the forecasts they re-make are the stored ones, refused as
//! duplicates) and the batch's sources are re-read from their beginning.
//! So no record is lost or doubled, whichever worker made it.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use postgres::{Client, NoTls, Transaction};

use crate::Error;
use crate::error::{Backend, BoxError};
use crate::leases::{BatchKey, BatchLeases, LeaseChange};
use crate::pg_store::{E, PgTarget, WRITE_LOCK_KEY};

/// A lease not renewed for this long expires (server clock), s.
pub const LEASE_TTL_S: f64 = 10.0;
/// How often a worker renews, balances and acquires, s.
pub const LEASE_TICK_S: f64 = 1.0;

pub(crate) const MIGRATION_SQL: &str = "
CREATE TABLE batch_leases (
    tenant TEXT NOT NULL, batch_id TEXT NOT NULL,
    worker TEXT, epoch BIGINT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant, batch_id));
CREATE INDEX batch_leases_worker ON batch_leases (worker);
CREATE TABLE lease_workers (
    worker TEXT PRIMARY KEY, pid INTEGER NOT NULL,
    backend_start TIMESTAMPTZ NOT NULL, expires_at TIMESTAMPTZ NOT NULL);
";

/// Workers alive now (heartbeat not expired, lease session still there).
const LIVE: &str = "SELECT w.worker FROM lease_workers w
    WHERE w.expires_at > clock_timestamp()
      AND EXISTS (SELECT 1 FROM pg_stat_activity a
                  WHERE a.pid = w.pid AND a.backend_start = w.backend_start)";

/// What the store checks before writing a batch's records: this worker's
/// leases, at the epochs acquired.
pub struct Fence {
    worker: String,
    /// The site's batches: writes of other keys (readings of no batch) are
    /// not fenced.
    site: Mutex<HashSet<BatchKey>>,
    held: Mutex<HashMap<BatchKey, i64>>,
}

impl Fence {
    fn new(worker: &str) -> Self {
        Fence {
            worker: worker.to_string(),
            site: Mutex::new(HashSet::new()),
            held: Mutex::new(HashMap::new()),
        }
    }

    /// Inside a write transaction: refuses unless every site batch of
    /// `keys` is leased to this worker at the epoch it acquired, unexpired;
    /// locks those lease rows `FOR SHARE` until the transaction ends.
    pub(crate) fn check(&self, tx: &mut Transaction, keys: &[(&str, &str)]) -> Result<(), E> {
        let poisoned = || E::Other("lease fence poisoned by an earlier panic".into());
        let site = self.site.lock().map_err(|_| poisoned())?;
        let held = self.held.lock().map_err(|_| poisoned())?;
        let mut seen = HashSet::new();
        let (mut ts, mut bs, mut es) = (Vec::new(), Vec::new(), Vec::new());
        for (t, b) in keys {
            let k = (t.to_string(), b.to_string());
            if !site.contains(&k) || !seen.insert(k.clone()) {
                continue;
            }
            let Some(e) = held.get(&k) else {
                return Err(E::Other(format!(
                    "batch {b} (tenant {t}): worker {} does not hold its lease; write refused",
                    self.worker
                )));
            };
            ts.push(k.0);
            bs.push(k.1);
            es.push(*e);
        }
        drop((site, held));
        if ts.is_empty() {
            return Ok(());
        }
        let n: i64 = tx
            .query_one(
                "SELECT count(*) FROM (SELECT 1 FROM batch_leases l
                   JOIN unnest($1::text[], $2::text[], $3::int8[]) AS u(t, b, e)
                     ON l.tenant = u.t AND l.batch_id = u.b AND l.epoch = u.e
                   WHERE l.worker = $4 AND l.expires_at > clock_timestamp()
                   FOR SHARE OF l) x",
                &[&ts, &bs, &es, &self.worker],
            )?
            .get(0);
        if n as usize != ts.len() {
            return Err(E::Other(format!(
                "worker {}: the lease of {} of batches {} expired or was taken over; write refused (fencing)",
                self.worker,
                ts.len() - n as usize,
                bs.join(", ")
            )));
        }
        Ok(())
    }
}

/// One worker's leases of a site's batches in PostgreSQL.
pub struct PgBatchLeases {
    client: Client,
    worker: String,
    fence: Arc<Fence>,
    /// Batches finished by this worker (still held until it exits).
    done: HashSet<BatchKey>,
    ttl_s: f64,
    tick_s: f64,
    shown: String,
}

impl PgBatchLeases {
    /// Connects the lease connection (its own, kept for the worker's life,
    /// with TCP keepalives) and registers this worker.
    pub fn connect(target: &PgTarget, site: &str) -> Result<Self, Error> {
        Self::with_times(target, site, LEASE_TTL_S, LEASE_TICK_S)
    }

    /// [`connect`](Self::connect) with another expiry and tick (tests).
    pub fn with_times(
        target: &PgTarget,
        site: &str,
        ttl_s: f64,
        tick_s: f64,
    ) -> Result<Self, Error> {
        let mut suffix = [0u8; 4];
        getrandom::fill(&mut suffix)
            .map_err(|e| Error::io("<worker id>", format!("no randomness from the OS: {e}")))?;
        let host = std::fs::read_to_string("/etc/hostname")
            .ok()
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "host".into());
        let worker = format!("{host}:{}:{}", std::process::id(), hex::encode(suffix));
        let mut cfg = target.config()?;
        cfg.application_name(&format!("biotwin live {site} worker {worker}"));
        cfg.keepalives(true)
            .keepalives_idle(Duration::from_secs(10));
        let shown = target.display();
        let client = cfg
            .connect(NoTls)
            .map_err(|e| Error::store(&shown, Backend::PostgresLeases, E::Pg(e)))?;
        let mut s = PgBatchLeases {
            client,
            fence: Arc::new(Fence::new(&worker)),
            worker,
            done: HashSet::new(),
            ttl_s,
            tick_s,
            shown,
        };
        // No heartbeat yet: a worker counts as alive (and so lowers the
        // others' fair share) only from its first tick. A worker that is
        // still opening its sources must not make the survivors of a kill
        // leave the dead worker's batches to it (found by the 1,000-batch
        // run: 500 batches waited for a restarted worker's start-up).
        s.client
            .query("SELECT 1 FROM lease_workers LIMIT 0", &[])
            .map_err(|e| s.err(E::Pg(e)))?;
        Ok(s)
    }

    /// The fence to give the worker's store ([`crate::pg_store::PgStore::set_fence`]).
    pub fn fence(&self) -> Arc<Fence> {
        self.fence.clone()
    }

    fn err(&self, e: impl Into<BoxError>) -> Error {
        Error::store(&self.shown, Backend::PostgresLeases, e)
    }

    fn heartbeat(&mut self) -> Result<(), E> {
        self.client.execute(
            "INSERT INTO lease_workers
             SELECT $1, pid, backend_start, clock_timestamp() + make_interval(secs => $2)
             FROM pg_stat_activity WHERE pid = pg_backend_pid()
             ON CONFLICT (worker) DO UPDATE SET expires_at = EXCLUDED.expires_at",
            &[&self.worker, &self.ttl_s],
        )?;
        Ok(())
    }

    fn held(&self) -> HashMap<BatchKey, i64> {
        self.fence
            .held
            .lock()
            .map(|h| h.clone())
            .unwrap_or_default()
    }

    fn set_held(&self, h: HashMap<BatchKey, i64>) {
        if let Ok(mut g) = self.fence.held.lock() {
            *g = h;
        }
    }

    /// Runs `f` holding the site-wide write lock (session-level, released
    /// after `f` whatever it returned; a broken connection releases it with
    /// the session). Lock order: every transaction that locks lease rows
    /// (the writers' fence check `FOR SHARE`, a tick's renewals, releases
    /// and takeovers) takes this lock first and no row lock before it, so
    /// no cycle can form. Without it a tick's renewal waited on a row a
    /// writer of its own worker held `FOR SHARE` while that writer waited
    /// for the write lock held by another worker whose write waited on a
    /// row the renewal had locked: PostgreSQL's `deadlock detected`, seen
    /// in the 1,000-batch run.
    fn under_write_lock<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T, E>) -> Result<T, E> {
        self.client
            .execute("SELECT pg_advisory_lock($1)", &[&WRITE_LOCK_KEY])?;
        let r = f(self);
        let unlocked = self
            .client
            .execute("SELECT pg_advisory_unlock($1)", &[&WRITE_LOCK_KEY]);
        let v = r?;
        unlocked?;
        Ok(v)
    }

    /// Heartbeat and renewal: the leases kept, and those lost.
    fn renew_in(&mut self) -> Result<(HashMap<BatchKey, i64>, Vec<BatchKey>), E> {
        self.heartbeat()?;
        let ttl = self.ttl_s;
        // Renew: only unexpired leases at their epoch; anything else is lost.
        let renewed: HashMap<BatchKey, i64> = self
            .client
            .query(
                "UPDATE batch_leases SET expires_at = clock_timestamp() + make_interval(secs => $2)
                 WHERE worker = $1 AND expires_at > clock_timestamp()
                 RETURNING tenant, batch_id, epoch",
                &[&self.worker, &ttl],
            )?
            .iter()
            .map(|r| ((r.get(0), r.get(1)), r.get(2)))
            .collect();
        let before = self.held();
        let mut held: HashMap<BatchKey, i64> = HashMap::new();
        let mut lost = Vec::new();
        for (k, e) in &before {
            // A row renewed at another epoch than ours is not ours.
            if renewed.get(k) == Some(e) {
                held.insert(k.clone(), *e);
            } else {
                lost.push(k.clone());
            }
        }
        self.done.retain(|k| held.contains_key(k));
        self.set_held(held.clone());
        Ok((held, lost))
    }

    fn tick_in(&mut self) -> Result<LeaseChange, E> {
        let ttl = self.ttl_s;
        let (mut held, lost) = self.renew_in()?;
        let mut change = LeaseChange {
            lost,
            ..LeaseChange::default()
        };
        let row = self.client.query_one(
            &format!(
                "SELECT
                   (SELECT count(*) FROM batch_leases l WHERE NOT EXISTS (
                      SELECT 1 FROM batches b WHERE b.tenant = l.tenant
                      AND b.batch_id = l.batch_id AND b.finished)),
                   (SELECT count(*) FROM ({LIVE}) w)"
            ),
            &[],
        )?;
        let open: i64 = row.get(0);
        let workers: i64 = row.get::<_, i64>(1).max(1);
        change.workers = workers as u64;
        let share = ((open + workers - 1) / workers) as usize;
        let mine: Vec<BatchKey> = {
            let mut v: Vec<BatchKey> = held
                .keys()
                .filter(|k| !self.done.contains(*k))
                .cloned()
                .collect();
            v.sort();
            v
        };
        if mine.len() > share {
            // Another worker joined: release the excess (the last in key
            // order), free at once for the others.
            let give: Vec<BatchKey> = mine[share..].to_vec();
            let (ts, bs): (Vec<&str>, Vec<&str>) =
                give.iter().map(|(t, b)| (t.as_str(), b.as_str())).unzip();
            self.client.execute(
                "UPDATE batch_leases l SET worker = NULL, expires_at = '-infinity'
                 FROM unnest($2::text[], $3::text[]) AS u(t, b)
                 WHERE l.tenant = u.t AND l.batch_id = u.b AND l.worker = $1",
                &[&self.worker, &ts, &bs],
            )?;
            for k in &give {
                held.remove(k);
            }
            change.lost.extend(give);
        } else if mine.len() < share {
            let want = (share - mine.len()) as i64;
            let got = self.client.query(
                &format!(
                    "WITH live AS ({LIVE}),
                     cand AS (
                       SELECT l.tenant, l.batch_id FROM batch_leases l
                       WHERE (l.worker IS NULL OR l.expires_at <= clock_timestamp()
                              OR l.worker NOT IN (SELECT worker FROM live))
                         AND NOT EXISTS (SELECT 1 FROM batches b WHERE b.tenant = l.tenant
                                         AND b.batch_id = l.batch_id AND b.finished)
                       ORDER BY l.tenant, l.batch_id
                       LIMIT $2
                       FOR UPDATE OF l SKIP LOCKED)
                     UPDATE batch_leases l SET worker = $1, epoch = l.epoch + 1,
                       expires_at = clock_timestamp() + make_interval(secs => $3)
                     FROM cand WHERE l.tenant = cand.tenant AND l.batch_id = cand.batch_id
                     RETURNING l.tenant, l.batch_id, l.epoch"
                ),
                &[&self.worker, &want, &ttl],
            )?;
            for r in got {
                let k: BatchKey = (r.get(0), r.get(1));
                held.insert(k.clone(), r.get(2));
                change.acquired.push(k);
            }
            change.acquired.sort();
        }
        self.set_held(held);
        change.orphans = self
            .client
            .query_one(
                &format!(
                    "WITH live AS ({LIVE})
                     SELECT count(*) FROM batch_leases l
                     WHERE (l.worker IS NULL OR l.expires_at <= clock_timestamp()
                            OR l.worker NOT IN (SELECT worker FROM live))
                       AND NOT EXISTS (SELECT 1 FROM batches b WHERE b.tenant = l.tenant
                                       AND b.batch_id = l.batch_id AND b.finished)"
                ),
                &[],
            )?
            .get::<_, i64>(0) as u64;
        Ok(change)
    }

    /// Gives every lease back (the finished batches' rows are deleted) and
    /// removes the heartbeat: another worker takes the batches at its next
    /// tick. Also done on drop.
    pub fn release_all(&mut self) -> Result<(), Error> {
        let r = (|| -> Result<(), E> {
            let mut tx = self.client.transaction()?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK_KEY])?;
            tx.execute(
                "DELETE FROM batch_leases l USING batches b
                 WHERE l.worker = $1 AND b.tenant = l.tenant AND b.batch_id = l.batch_id
                   AND b.finished",
                &[&self.worker],
            )?;
            tx.execute(
                "UPDATE batch_leases SET worker = NULL, expires_at = '-infinity' WHERE worker = $1",
                &[&self.worker],
            )?;
            tx.execute(
                "DELETE FROM lease_workers WHERE worker = $1",
                &[&self.worker],
            )?;
            tx.commit()?;
            Ok(())
        })();
        self.set_held(HashMap::new());
        r.map_err(|e| self.err(e))
    }
}

impl Drop for PgBatchLeases {
    fn drop(&mut self) {
        if let Err(e) = self.release_all() {
            eprintln!(
                "live: worker {}: leases not released ({e}); they expire in {} s",
                self.worker, self.ttl_s
            );
        }
    }
}

impl BatchLeases for PgBatchLeases {
    fn worker(&self) -> &str {
        &self.worker
    }

    fn register(&mut self, batches: &[BatchKey]) -> Result<(), Error> {
        if let Ok(mut s) = self.fence.site.lock() {
            s.extend(batches.iter().cloned());
        }
        let (ts, bs): (Vec<&str>, Vec<&str>) = batches
            .iter()
            .map(|(t, b)| (t.as_str(), b.as_str()))
            .unzip();
        self.under_write_lock(|l| {
            l.client.execute(
                "INSERT INTO batch_leases (tenant, batch_id, worker, epoch, expires_at)
                 SELECT t, b, NULL, 0, '-infinity' FROM unnest($1::text[], $2::text[]) AS u(t, b)
                 WHERE NOT EXISTS (SELECT 1 FROM batches x
                                   WHERE x.tenant = u.t AND x.batch_id = u.b AND x.finished)
                 ON CONFLICT DO NOTHING",
                &[&ts, &bs],
            )?;
            Ok(())
        })
        .map_err(|e| self.err(e))
    }

    fn tick(&mut self) -> Result<LeaseChange, Error> {
        self.under_write_lock(|l| l.tick_in())
            .map_err(|e| self.err(e))
    }

    fn renew(&mut self) -> Result<Vec<BatchKey>, Error> {
        self.under_write_lock(|l| l.renew_in())
            .map(|(_, lost)| lost)
            .map_err(|e| self.err(e))
    }

    fn finished(&mut self, key: &BatchKey) {
        self.done.insert(key.clone());
    }

    fn still_holds(&mut self, key: &BatchKey) -> Result<bool, Error> {
        let Some(epoch) = self.held().get(key).copied() else {
            return Ok(false);
        };
        let n = self
            .client
            .query_opt(
                "SELECT 1 FROM batch_leases WHERE tenant = $1 AND batch_id = $2
                 AND worker = $3 AND epoch = $4 AND expires_at > clock_timestamp()",
                &[&key.0, &key.1, &self.worker, &epoch],
            )
            .map_err(|e| self.err(E::Pg(e)))?;
        if n.is_none() {
            if let Ok(mut h) = self.fence.held.lock() {
                h.remove(key);
            }
        }
        Ok(n.is_some())
    }

    fn tick_every(&self) -> Duration {
        Duration::from_secs_f64(self.tick_s)
    }

    fn holds_now(&self, key: &BatchKey) -> bool {
        self.held().contains_key(key)
    }
}

/// One batch lease as the database has it (for status and tests).
#[derive(Debug, Clone, PartialEq)]
pub struct LeaseRow {
    /// Tenant of the batch.
    pub tenant: String,
    /// Batch id.
    pub batch_id: String,
    /// Worker that holds or last held the lease; `None` before the first
    /// acquisition.
    pub worker: Option<String>,
    /// Acquisitions so far (the fencing token).
    pub epoch: i64,
    /// Held now: unexpired, by a worker alive (heartbeat and session).
    pub held: bool,
    /// The batch is finished in the store.
    pub finished: bool,
}

/// Every batch lease of the site's database, by (tenant, batch).
pub fn leases(target: &PgTarget) -> Result<Vec<LeaseRow>, Error> {
    let shown = target.display();
    let err = |e: E| Error::store(&shown, Backend::PostgresLeases, e);
    let mut c = target.config()?.connect(NoTls).map_err(|e| err(E::Pg(e)))?;
    let rows = c
        .query(
            &format!(
                "WITH live AS ({LIVE})
                 SELECT l.tenant, l.batch_id, l.worker, l.epoch,
                   l.worker IS NOT NULL AND l.expires_at > clock_timestamp()
                     AND l.worker IN (SELECT worker FROM live),
                   EXISTS (SELECT 1 FROM batches b WHERE b.tenant = l.tenant
                           AND b.batch_id = l.batch_id AND b.finished)
                 FROM batch_leases l ORDER BY l.tenant, l.batch_id"
            ),
            &[],
        )
        .map_err(|e| err(E::Pg(e)))?;
    Ok(rows
        .iter()
        .map(|r| LeaseRow {
            tenant: r.get(0),
            batch_id: r.get(1),
            worker: r.get(2),
            epoch: r.get(3),
            held: r.get(4),
            finished: r.get(5),
        })
        .collect())
}
