//! Per-request stage timings of the web server, for diagnosis.
//!
//! Off by default (one atomic load per request). When [`enable`]d, every
//! request that passes the `record` middleware leaves one [`Stages`]
//! sample: when the middleware saw it, how long it waited for the tenant's
//! share and for a slot of the [`FairGate`](super::fair::FairGate), how long
//! its store work waited for a thread of its lane, and, for that work, the
//! wall time, the thread's CPU time and the time the thread waited in the
//! kernel's run queue (from `/proc/thread-self/schedstat`; Linux only,
//! zero elsewhere). `examples/web_load.rs` matches the samples to its own
//! client-side times through the request header [`TRACE_HEADER`] and prints
//! them per tenant. Nothing here changes what a request is answered.

use std::cell::RefCell;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Request header whose integer value is copied into the sample.
pub const TRACE_HEADER: &str = "x-biotwin-trace";

static ON: AtomicBool = AtomicBool::new(false);
static SAMPLES: Mutex<Vec<Stages>> = Mutex::new(Vec::new());

/// Which threads ran a request's store work (see `api::Lane`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// Tokio's blocking pool, normal OS priority.
    Light,
    /// The low-priority bulk pool (`web::bulk`).
    Bulk,
}

/// One request's stages (durations summed over its store calls).
#[derive(Debug, Clone)]
pub struct Stages {
    /// The value of [`TRACE_HEADER`], if sent.
    pub trace_id: Option<u64>,
    /// The tenant of the request, once known.
    pub tenant: Option<String>,
    /// The `record` middleware saw the request (headers parsed).
    pub entered: Instant,
    /// The handler's response left the middleware (body not yet written).
    pub left: Instant,
    /// Entered to the first gate request (tenant share, extraction).
    pub before_gate: Duration,
    /// Waiting for a slot of the fair gate.
    pub gate_wait: Duration,
    /// Slot held until a thread of the lane started the work.
    pub pool_wait: Duration,
    /// Store work and serialisation, wall time on the worker thread.
    pub work_wall: Duration,
    /// Of which the thread ran on a CPU.
    pub work_cpu: Duration,
    /// Of which the thread was runnable but waited for a CPU.
    pub work_runq: Duration,
    /// Which threads ran the store work, if any ran.
    pub lane: Option<Lane>,
    /// The OS niceness of the thread that ran the last store call (Linux).
    pub work_nice: Option<i32>,
    first_gate: Option<Instant>,
}

tokio::task_local! {
    static CURRENT: RefCell<Stages>;
}

/// Starts recording samples (for the rest of the process).
pub fn enable() {
    ON.store(true, Ordering::Relaxed);
}

/// Whether samples are recorded.
pub fn enabled() -> bool {
    ON.load(Ordering::Relaxed)
}

/// The samples recorded since the last call, emptied.
pub fn drain() -> Vec<Stages> {
    std::mem::take(&mut *SAMPLES.lock().unwrap_or_else(|e| e.into_inner()))
}

/// Middleware: records the request's [`Stages`] when enabled.
pub(crate) async fn record(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if !enabled() {
        return next.run(req).await;
    }
    let now = Instant::now();
    let trace_id = req
        .headers()
        .get(TRACE_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let cell = RefCell::new(Stages {
        trace_id,
        tenant: None,
        entered: now,
        left: now,
        before_gate: Duration::ZERO,
        gate_wait: Duration::ZERO,
        pool_wait: Duration::ZERO,
        work_wall: Duration::ZERO,
        work_cpu: Duration::ZERO,
        work_runq: Duration::ZERO,
        lane: None,
        work_nice: None,
        first_gate: None,
    });
    let (r, cell) = CURRENT
        .scope(cell, async move {
            let r = next.run(req).await;
            (r, CURRENT.with(|c| c.borrow().clone()))
        })
        .await;
    let mut s = cell;
    s.left = Instant::now();
    SAMPLES.lock().unwrap_or_else(|e| e.into_inner()).push(s);
    r
}

/// The gate is asked for a slot (called by `api::with_store`).
pub(crate) fn asking_gate(tenant: &str) -> Option<Instant> {
    if !enabled() {
        return None;
    }
    let now = Instant::now();
    let _ = CURRENT.try_with(|c| {
        let mut s = c.borrow_mut();
        if s.first_gate.is_none() {
            s.first_gate = Some(now);
            s.before_gate = now - s.entered;
        }
        s.tenant = Some(tenant.to_string());
    });
    Some(now)
}

/// The work of one store call, measured on the thread that ran it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Work {
    pub started: Instant,
    pub wall: Duration,
    pub cpu: Duration,
    pub runq: Duration,
    pub nice: Option<i32>,
}

/// Runs `f` and measures it (when enabled).
pub(crate) fn measure<T>(f: impl FnOnce() -> T) -> (T, Option<Work>) {
    if !enabled() {
        return (f(), None);
    }
    let started = Instant::now();
    let nice = super::bulk::current_nice();
    let s0 = schedstat();
    let v = f();
    let s1 = schedstat();
    let w = Work {
        started,
        wall: started.elapsed(),
        cpu: Duration::from_nanos(s1.0.saturating_sub(s0.0)),
        runq: Duration::from_nanos(s1.1.saturating_sub(s0.1)),
        nice,
    };
    (v, Some(w))
}

/// One store call is done: `asked` the gate then, was `admitted` then, and
/// its `work` (called on the async side, in the request's task).
pub(crate) fn store_call(
    asked: Option<Instant>,
    admitted: Instant,
    work: Option<Work>,
    lane: Lane,
) {
    let (Some(asked), Some(w)) = (asked, work) else {
        return;
    };
    let _ = CURRENT.try_with(|c| {
        let mut s = c.borrow_mut();
        s.gate_wait += admitted.saturating_duration_since(asked);
        s.pool_wait += w.started.saturating_duration_since(admitted);
        s.work_wall += w.wall;
        s.work_cpu += w.cpu;
        s.work_runq += w.runq;
        s.lane = Some(lane);
        s.work_nice = w.nice;
    });
}

/// This thread's (time on a CPU, time runnable in the run queue), ns, since
/// it started (Linux `/proc/thread-self/schedstat`; zeros elsewhere).
pub fn schedstat() -> (u64, u64) {
    #[cfg(target_os = "linux")]
    {
        if let Ok(s) = std::fs::read_to_string("/proc/thread-self/schedstat") {
            let mut it = s.split_whitespace().map(|v| v.parse::<u64>().unwrap_or(0));
            return (it.next().unwrap_or(0), it.next().unwrap_or(0));
        }
    }
    (0, 0)
}
