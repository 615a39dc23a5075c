//! OPC UA subscription as a live [`Source`].
//!
//! The async client (async-opcua, pure Rust, security mode None) runs on its
//! own thread with its own tokio runtime; readings reach the caller through a
//! shared inbox, so `poll()` stays synchronous and never waits on the network.
//!
//! * Quality: OPC UA status class Good / Uncertain / Bad maps to
//!   [`Quality`](crate::Quality); a bad value without a number is
//!   handed on with `value = NaN` (the mapping stage rejects and counts it);
//!   `BadWaitingForInitialData` (a node with no value yet) is not a reading.
//! * Time: the source timestamp (server timestamp when the source one is
//!   missing) is `time_unix_s`; for a node marked `lab`, the server timestamp
//!   is `available_unix_s`.
//! * Connection loss: reconnect with exponential backoff, forever; then
//!   HistoryRead (raw) from each node's newest source time before the loss.
//!   Duplicates (same tag, source time and value) are handed on once.

mod client;
mod config;
mod inbox;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use tokio::sync::oneshot;

pub use config::{OpcUaConfig, OpcUaNode};
use inbox::Inbox;
pub use inbox::OpcUaStats;

use crate::Error;
use crate::{Poll, Source};

/// A live subscription to an OPC UA server.
pub struct OpcUaSource {
    endpoint: String,
    inbox: Arc<Mutex<Inbox>>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl OpcUaSource {
    /// Validates the configuration and starts connecting in the background
    /// (an unreachable server is not an error: it is retried, like a lost one).
    /// `file` names the configuration file in error messages, `prefix` the
    /// table the configuration sits in (e.g. `opcua`).
    pub fn start(config: &OpcUaConfig, file: &Path, prefix: &str) -> Result<Self, Error> {
        let ids = config.validate(file, prefix)?;
        let inbox = Arc::new(Mutex::new(Inbox::default()));
        let (stop_tx, stop_rx) = oneshot::channel();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| {
                Error::source_failed(
                    &config.endpoint,
                    format!("cannot start the OPC UA client runtime: {e}"),
                )
            })?;
        let thread_inbox = inbox.clone();
        let thread_config = config.clone();
        let thread = std::thread::Builder::new()
            .name("opcua-client".into())
            .spawn(move || {
                let result = runtime.block_on(client::run(
                    thread_config,
                    ids,
                    thread_inbox.clone(),
                    stop_rx,
                ));
                if let Err(e) = result {
                    let mut ib = thread_inbox.lock().unwrap_or_else(|e| e.into_inner());
                    ib.fatal = Some(e);
                }
            })
            .map_err(|e| {
                Error::source_failed(
                    &config.endpoint,
                    format!("cannot start the OPC UA client thread: {e}"),
                )
            })?;
        Ok(OpcUaSource {
            endpoint: config.endpoint.clone(),
            inbox,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// Counters so far (readings, back-filled, duplicates, reconnects).
    pub fn stats(&self) -> OpcUaStats {
        self.lock().stats.clone()
    }

    /// The latest problem the client worked around, if any (for logs).
    pub fn last_error(&self) -> Option<String> {
        self.lock().last_error.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inbox> {
        self.inbox.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Source for OpcUaSource {
    fn describe(&self) -> String {
        format!("opcua:{}", self.endpoint)
    }

    fn poll(&mut self) -> Result<Poll, Error> {
        let mut ib = self.lock();
        let readings = ib.take();
        if !readings.is_empty() {
            return Ok(Poll::Readings(readings));
        }
        if let Some(e) = &ib.fatal {
            return Err(Error::source_failed(&self.endpoint, e.clone()));
        }
        Ok(Poll::Idle)
    }
}

impl Drop for OpcUaSource {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
