//! Batch leases: several active workers share one site's batches, each
//! batch run by one worker at a time (the PostgreSQL implementation and its
//! guarantees are in [`crate::pg_lease`]).
//!
//! The lease work runs off the engine's rounds, on a thread of its own
//! ([`LeaseKeeper`]), which calls [`BatchLeases::tick`] every
//! [`BatchLeases::tick_every`] whatever the engine is doing (a round over
//! hundreds of sources, or resuming hundreds of acquired batches, may take
//! longer than a lease lives). Each tick's [`LeaseChange`] goes to the
//! engine through a channel; the engine takes the changes at the start of
//! each round ([`crate::engine::Engine::with_leases`]): it drops the
//! batches lost (taken over, expired, or shed to balance the load) and
//! starts the batches acquired exactly as a restart resumes one (stored
//! readings replayed through the same steps, then the batch's sources
//! re-read from their beginning, duplicates refused). A write of a batch
//! lost between a tick and the engine's taking of it is refused by the
//! store's fence ([`crate::pg_lease::Fence`]), so the lag is a matter of
//! availability, never of correctness.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::Error;

/// A batch's identity: (tenant, batch id).
pub type BatchKey = (String, String);

/// What one tick changed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LeaseChange {
    /// Leases this worker no longer holds: expired, taken over by another
    /// worker, or released to balance the load. Stop running them at once.
    pub lost: Vec<BatchKey>,
    /// Leases acquired: start (or resume) these batches.
    pub acquired: Vec<BatchKey>,
    /// Unfinished batches nobody alive holds now (free, expired, or held by
    /// a worker that died) that this worker could not take (over its fair
    /// share): a worker run with `--once` stays while there are any.
    pub orphans: u64,
    /// Workers alive, this one included.
    pub workers: u64,
}

/// One worker's leases of a site's batches.
pub trait BatchLeases: Send {
    /// This worker's id (in leases and messages).
    fn worker(&self) -> &str;
    /// Declares the site's batches (those not finished in the store get a
    /// lease row if they have none). Called once, before the first tick.
    fn register(&mut self, batches: &[BatchKey]) -> Result<(), Error>;
    /// Heartbeat, renewal, balancing and acquisition.
    fn tick(&mut self) -> Result<LeaseChange, Error>;
    /// Heartbeat and renewal only (between ticks, while starting many
    /// acquired batches takes longer than a tick); returns the leases lost.
    fn renew(&mut self) -> Result<Vec<BatchKey>, Error>;
    /// The batch finished here: it no longer counts towards this worker's
    /// load, and its lease is deleted when the worker exits.
    fn finished(&mut self, key: &BatchKey);
    /// Whether the lease of `key` is still held (checked against the
    /// database): after a failed write, to tell a lost lease (drop the
    /// batch) from a store failure (fatal).
    fn still_holds(&mut self, key: &BatchKey) -> Result<bool, Error>;
    /// How often [`tick`](Self::tick) should run.
    fn tick_every(&self) -> Duration;
    /// Whether `key` is held as far as this worker knows now (no database
    /// round trip): the engine skips starting a batch released or lost
    /// by a tick since the one that acquired it.
    fn holds_now(&self, key: &BatchKey) -> bool {
        let _ = key;
        true
    }
}

/// An engine busy for this long without a sign of progress is taken as
/// hung: the lease thread stops ticking (no heartbeat, no renewal), so its
/// leases expire [`crate::pg_lease::LEASE_TTL_S`] later and the other
/// workers take its batches. An engine idle between calls is not hung.
pub const ENGINE_STALL_S: f64 = 30.0;

/// One worker's leases, kept by a thread of their own: heartbeat, renewal,
/// balancing and acquisition every [`BatchLeases::tick_every`], whatever
/// the engine's rounds take. The engine takes the changes with
/// [`pending`](Self::pending), and uses the leases in between (a finished
/// batch, a lease checked after a failed write) through
/// [`with`](Self::with).
pub struct LeaseKeeper {
    inner: Arc<Mutex<Box<dyn BatchLeases>>>,
    worker: String,
    changes: Option<Receiver<Result<LeaseChange, Error>>>,
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
    /// Milliseconds since `born` of the engine's last sign of progress
    /// while busy; 0: idle (between calls).
    busy: Arc<AtomicU64>,
    born: Instant,
}

impl LeaseKeeper {
    /// Keeps `leases`; nothing runs until [`spawn`](Self::spawn).
    pub fn new(leases: Box<dyn BatchLeases>) -> Self {
        LeaseKeeper {
            worker: leases.worker().to_string(),
            inner: Arc::new(Mutex::new(leases)),
            changes: None,
            stop: None,
            thread: None,
            busy: Arc::new(AtomicU64::new(0)),
            born: Instant::now(),
        }
    }

    /// Id of the worker that holds the leases (as the lease store knows it).
    pub fn worker(&self) -> &str {
        &self.worker
    }

    fn lock(&self) -> Result<MutexGuard<'_, Box<dyn BatchLeases>>, Error> {
        self.inner.lock().map_err(|_| Error::Worker {
            what: "<batch leases>",
            message: "the lease thread panicked; this worker stops (its leases expire)",
        })
    }

    /// Runs `f` on the leases (waits for a tick in progress).
    pub fn with<R>(&self, f: impl FnOnce(&mut dyn BatchLeases) -> R) -> Result<R, Error> {
        let mut g = self.lock()?;
        Ok(f(g.as_mut()))
    }

    /// Starts the lease thread (once; later calls do nothing).
    pub fn spawn(&mut self) -> Result<(), Error> {
        if self.thread.is_some() {
            return Ok(());
        }
        let every = self.lock()?.tick_every();
        let (tx, rx) = mpsc::channel();
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let inner = self.inner.clone();
        let busy = self.busy.clone();
        let born = self.born;
        let worker = self.worker.clone();
        let thread = std::thread::Builder::new()
            .name("batch-leases".into())
            .spawn(move || keep(inner, tx, stop_rx, every, busy, born, worker))
            .map_err(|e| Error::io("<batch leases>", format!("no lease thread: {e}")))?;
        self.changes = Some(rx);
        self.stop = Some(stop_tx);
        self.thread = Some(thread);
        Ok(())
    }

    /// The changes of the ticks since the last call, in order; a tick's
    /// error (the lease connection failed) is returned: fatal.
    pub fn pending(&self) -> Result<Vec<LeaseChange>, Error> {
        let mut out = Vec::new();
        if let Some(rx) = &self.changes {
            while let Ok(c) = rx.try_recv() {
                out.push(c?);
            }
        }
        Ok(out)
    }

    /// A tick now, on the caller's thread: the changes not yet taken, then
    /// this tick's (in order: the lease thread cannot tick in between).
    pub fn tick_now(&self) -> Result<Vec<LeaseChange>, Error> {
        let mut g = self.lock()?;
        let mut out = self.pending()?;
        out.push(g.tick()?);
        Ok(out)
    }

    /// The engine is busy and making progress (called often in long work).
    pub fn beat(&self) {
        let ms = self.born.elapsed().as_millis() as u64;
        self.busy.store(ms.max(1), Ordering::Relaxed);
    }

    /// The engine is idle until its next call.
    pub fn idle(&self) {
        self.busy.store(0, Ordering::Relaxed);
    }
}

impl Drop for LeaseKeeper {
    fn drop(&mut self) {
        // Wakes the thread at once; then the leases are dropped with the
        // last reference (the PostgreSQL leases are given back).
        self.stop.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The lease thread: ticks every `every` until stopped, sending each
/// change; stops after a failed tick (the engine returns the error).
fn keep(
    inner: Arc<Mutex<Box<dyn BatchLeases>>>,
    tx: Sender<Result<LeaseChange, Error>>,
    stop: Receiver<()>,
    every: Duration,
    busy: Arc<AtomicU64>,
    born: Instant,
    worker: String,
) {
    let mut stalled = false;
    loop {
        match stop.recv_timeout(every) {
            Err(RecvTimeoutError::Timeout) => {}
            _ => return,
        }
        let since = busy.load(Ordering::Relaxed);
        let now = born.elapsed().as_millis() as u64;
        if since > 0 && now.saturating_sub(since) as f64 > ENGINE_STALL_S * 1000.0 {
            if !stalled {
                eprintln!(
                    "live: worker {worker}: engine busy without progress for over {ENGINE_STALL_S} s; leases no longer renewed (the other workers take them over)"
                );
                stalled = true;
            }
            continue;
        }
        stalled = false;
        let Ok(mut l) = inner.lock() else { return };
        let r = l.tick();
        let failed = r.is_err();
        if tx.send(r).is_err() || failed {
            return;
        }
    }
}
