//! The web server on a thread of its own, for callers that are not async:
//! `biotwin serve`, and `biotwin live --serve`, where the engine keeps the
//! main thread.
//!
//! The address is bound before the thread starts, so a port in use is an
//! error of the call (not a message from a thread nobody joins), and port 0
//! gives the port actually bound through [`Background::addr`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use super::auth::check_tenants;
use crate::Error;
use crate::{Store, TenantId};

/// A server running on its own thread (and its own small Tokio runtime).
pub struct Background {
    addr: SocketAddr,
    handle: JoinHandle<Result<(), Error>>,
}

impl Background {
    /// The address bound (with the real port when 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Blocks until the server stops, which it does only on an error (or
    /// when the process ends).
    pub fn wait(self) -> Result<(), Error> {
        self.handle
            .join()
            .unwrap_or_else(|_| Err(Error::web("<http server>", "server thread panicked")))
    }
}

/// Checks `tenants`, binds `addr` and serves [`super::router`] over `store`
/// on a new thread.
pub fn spawn(
    addr: SocketAddr,
    store: Arc<dyn Store>,
    tenants: Vec<(TenantId, String)>,
) -> Result<Background, Error> {
    check_tenants(&tenants)?;
    let where_ = format!("<listen address {addr}>");
    let listener = std::net::TcpListener::bind(addr).map_err(|e| Error::web(&where_, e))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| Error::web(&where_, e))?;
    let addr = listener.local_addr().map_err(|e| Error::web(&where_, e))?;
    // Two workers: the page and API are light, and the engine (or other
    // commands) keep the rest of the machine.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("biotwin-web")
        .on_thread_park(name_async_worker)
        .enable_all()
        .build()
        .map_err(|e| Error::web("<http server runtime>", e))?;
    let handle = std::thread::Builder::new()
        .name("biotwin-web".into())
        .spawn(move || {
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener)
                    .map_err(|e| Error::web(format!("<listen address {addr}>"), e))?;
                super::serve_on(listener, store, tenants).await
            })
        })
        .map_err(|e| Error::web("<http server thread>", e))?;
    Ok(Background { addr, handle })
}

/// The OS thread name (Linux `comm`, at most 15 bytes) an async worker of
/// the runtime [`spawn`] builds gives itself when it first goes idle, so
/// that the CPU time of the async workers (request parsing, routing,
/// socket writes of the answers) can be told apart from that of the
/// runtime's blocking threads, which keep `biotwin-web`
/// (`examples/web_load.rs` groups threads by this name). Tokio calls its
/// park hook on worker threads only. Nothing else reads the name.
pub const ASYNC_WORKER_NAME: &str = "biotwin-web-io";

fn name_async_worker() {
    thread_local! {
        static NAMED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }
    if NAMED.with(|n| n.replace(true)) {
        return;
    }
    #[cfg(target_os = "linux")]
    {
        let name = c"biotwin-web-io";
        debug_assert_eq!(name.to_bytes(), ASYNC_WORKER_NAME.as_bytes());
        // SAFETY: PR_SET_NAME copies at most 16 bytes of a NUL-terminated
        // string into this thread's own name; the literal is 15 bytes
        // with its NUL.
        unsafe {
            libc::prctl(libc::PR_SET_NAME, name.as_ptr(), 0, 0, 0);
        }
    }
}
