//! Low-priority threads for bulk page work.
//!
//! A request that asks for more than [`LIGHT_ITEMS`] readings, or an SVG
//! chart (which reads every reading of its batch), runs its store read and
//! serialisation here instead of on Tokio's blocking pool. Each thread of
//! this pool raises its own niceness by [`BULK_NICE_STEP`] (10; capped at
//! 19) when it starts (Linux: `setpriority(PRIO_PROCESS, tid, n)`, which
//! sets the niceness of that one thread; raising one's own niceness needs
//! no privilege). The Linux scheduler (CFS) gives a runnable thread CPU time in
//! proportion to its weight: 1024 at nice 0, 110 at nice 10, so while a page
//! build and a light request compete for a core the light request's thread
//! gets about 90 % of it and is run first when it wakes. The fair gate
//! still decides *whether* a request may work (`fair`); this pool decides
//! how hard its work presses on the CPU while it does.
//!
//! Other systems: the threads keep the server's priority ([`current_nice`] then
//! says `None`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};

static ON: AtomicBool = AtomicBool::new(true);

/// Turns the bulk lane off (every request then runs on Tokio's blocking
/// pool at normal priority, as before the lane existed) or on again, for
/// the whole process. A switch for measurement (`examples/web_load.rs
/// --no-bulk-lane`), on by default.
pub fn set_enabled(on: bool) {
    ON.store(on, Ordering::Relaxed);
}

/// Whether bulk work goes to the bulk pool (see [`set_enabled`]).
pub fn enabled() -> bool {
    ON.load(Ordering::Relaxed)
}

/// What the bulk threads add to the server's niceness (0 for a server run
/// normally, so 10).
pub const BULK_NICE_STEP: i32 = 10;

/// The niceness of a bulk thread of a server whose threads run at `nice`.
pub fn bulk_nice(nice: i32) -> i32 {
    (nice + BULK_NICE_STEP).min(19)
}

/// A readings page of more items than this is bulk work.
pub const LIGHT_ITEMS: usize = 500;

type Job = Box<dyn FnOnce() + Send>;

/// See the module. Cloning shares the pool; its threads end when the last
/// clone is dropped.
#[derive(Clone)]
pub struct BulkPool {
    tx: Sender<Job>,
}

impl BulkPool {
    /// `threads` threads (at least 1), named `biotwin-bulk`.
    pub fn new(threads: usize) -> Self {
        let (tx, rx) = channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..threads.max(1) {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name("biotwin-bulk".into())
                .spawn(move || worker(rx));
            if let Err(e) = spawned {
                eprintln!("biotwin web: cannot start a bulk thread: {e}");
            }
        }
        BulkPool { tx }
    }

    /// Runs `f` on a bulk thread; its result, or None if the pool has no
    /// thread left (the caller then answers 500).
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = tx.send(f());
        });
        self.tx.send(job).ok()?;
        rx.await.ok()
    }
}

fn worker(rx: Arc<Mutex<Receiver<Job>>>) {
    lower_own_priority();
    loop {
        let job = {
            let Ok(rx) = rx.lock() else { return };
            match rx.recv() {
                Ok(j) => j,
                Err(_) => return,
            }
        };
        // A panicking job loses its answer (the request gets 500), not the
        // thread.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
    }
}

/// Raises this thread's niceness by [`BULK_NICE_STEP`] (Linux).
fn lower_own_priority() {
    #[cfg(target_os = "linux")]
    {
        let Some(now) = current_nice() else { return };
        // SAFETY: plain system calls on this thread's own id.
        let rc = unsafe {
            let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
            libc::setpriority(libc::PRIO_PROCESS, tid, bulk_nice(now))
        };
        if rc != 0 {
            eprintln!(
                "biotwin web: cannot lower a bulk thread's priority: {}",
                std::io::Error::last_os_error()
            );
        }
    }
}

/// This thread's niceness (Linux), for tests and diagnostics.
pub fn current_nice() -> Option<i32> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: plain system calls on this thread's own id; errno is
        // cleared first because -1 is also a valid niceness.
        unsafe {
            let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
            *libc::__errno_location() = 0;
            let n = libc::getpriority(libc::PRIO_PROCESS, tid);
            if n == -1 && *libc::__errno_location() != 0 {
                return None;
            }
            return Some(n);
        }
    }
    #[allow(unreachable_code)]
    None
}
