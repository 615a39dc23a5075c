//! Batch leases: several active workers share one site's batches, each
//! batch run by one worker at a time (the PostgreSQL implementation and its
//! guarantees are in [`crate::pg_lease`]).
//!
//! The engine ([`crate::engine::Engine::with_leases`]) calls
//! [`BatchLeases::tick`] every [`BatchLeases::tick_every`]: it drops the
//! batches the tick says it lost (taken over, expired, or shed to balance
//! the load) and starts the batches it acquired exactly as a restart
//! resumes one (stored readings replayed through the same steps, then the
//! batch's sources re-read from their beginning, duplicates refused).

use std::time::Duration;

use biotwin_core::error::Error;

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
}
