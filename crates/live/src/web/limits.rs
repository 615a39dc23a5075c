//! What one client can hold of the web server: connections, time, answers.
//!
//! * [`BoundedListener`]: at most [`Limits::max_connections`] open
//!   connections (further ones wait in the kernel's accept queue, they are
//!   not served half), and each connection is closed when it makes no
//!   progress, reading or writing, for [`Limits::idle_timeout`] (a client
//!   that never finishes its headers is let go after that long, as is an
//!   idle keep-alive connection) or has been open for
//!   [`Limits::max_connection_age`] (a client that trickles a byte at a time
//!   cannot stay forever).
//! * [`request_timeout`]: a request whose answer takes longer than
//!   [`REQUEST_TIMEOUT`] gets 503.
//! * [`security_headers`]: `X-Content-Type-Options: nosniff` and a
//!   Content-Security-Policy on every response that has none.
//! * `fair_share`: at most [`PER_TENANT_CONCURRENCY`] requests of one
//!   tenant are served at once; more of that tenant's wait for their turn,
//!   so one tenant's downloads queue behind each other, not in front of
//!   another tenant's requests.
//! * List endpoints answer at most [`MAX_PAGE`] items per request
//!   (`?offset=&limit=`, `X-Total-Count`, `X-Next-Offset`; `api.rs`).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::http::{HeaderValue, header};
use axum::response::Response;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

/// Longest a request may take to answer.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Most items a list endpoint answers per request.
pub const MAX_PAGE: usize = 5000;
/// The policy every response carries unless it set its own: scripts,
/// styles and images from this origin only, no framing, no plugins.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// Requests of one tenant served at once.
pub const PER_TENANT_CONCURRENCY: usize = 2;

/// One semaphore per tenant, made on the tenant's first request.
#[derive(Clone, Default)]
pub struct TenantSlots(Arc<std::sync::Mutex<std::collections::HashMap<String, Arc<Semaphore>>>>);

impl TenantSlots {
    fn of(&self, tenant: &str) -> Arc<Semaphore> {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        m.entry(tenant.to_string())
            .or_insert_with(|| Arc::new(Semaphore::new(PER_TENANT_CONCURRENCY)))
            .clone()
    }
}

/// Middleware: a request with a valid token waits for one of its tenant's
/// slots (requests without one go on, to be answered 401 by the handler).
pub(crate) async fn fair_share(
    axum::extract::State(st): axum::extract::State<super::AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let tenant = super::auth::bearer(req.headers()).and_then(|t| st.tenants.authenticate(t));
    let _permit = match tenant {
        Some(t) => st.slots.of(&t).acquire_owned().await.ok(),
        None => None,
    };
    next.run(req).await
}

/// Connection limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most connections open at once (default 512).
    pub max_connections: usize,
    /// A connection making no progress this long is closed (default 10 s).
    pub idle_timeout: Duration,
    /// A connection open this long is closed (default 300 s).
    pub max_connection_age: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 512,
            idle_timeout: Duration::from_secs(10),
            max_connection_age: Duration::from_secs(300),
        }
    }
}

/// A TCP listener that bounds and times its connections (see the module).
pub struct BoundedListener {
    inner: TcpListener,
    permits: Arc<Semaphore>,
    limits: Limits,
}

impl BoundedListener {
    /// Wraps `inner`, bounding and timing its connections by `limits`.
    pub fn new(inner: TcpListener, limits: Limits) -> Self {
        BoundedListener {
            inner,
            permits: Arc::new(Semaphore::new(limits.max_connections.max(1))),
            limits,
        }
    }
}

impl axum::serve::Listener for BoundedListener {
    type Io = TimedIo;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok(permit) = self.permits.clone().acquire_owned().await else {
                // The semaphore is never closed; wait rather than spin.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            match self.inner.accept().await {
                Ok((stream, addr)) => {
                    let _ = stream.set_nodelay(true);
                    return (TimedIo::new(stream, permit, self.limits), addr);
                }
                // Out of file descriptors and the like: wait, as axum's
                // own listener does, instead of failing the server.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// A connection that fails with `TimedOut` when it makes no progress for
/// the idle timeout or outlives its maximum age; it holds its permit.
pub struct TimedIo {
    inner: TcpStream,
    _permit: OwnedSemaphorePermit,
    idle: Duration,
    idle_sleep: Pin<Box<Sleep>>,
    age_sleep: Pin<Box<Sleep>>,
    /// [`set_vectored_writes`] when the connection was accepted.
    vectored: bool,
}

impl TimedIo {
    fn new(inner: TcpStream, permit: OwnedSemaphorePermit, l: Limits) -> Self {
        let now = Instant::now();
        TimedIo {
            inner,
            _permit: permit,
            idle: l.idle_timeout,
            idle_sleep: Box::pin(tokio::time::sleep_until(now + l.idle_timeout)),
            age_sleep: Box::pin(tokio::time::sleep_until(now + l.max_connection_age)),
            vectored: VECTORED.load(Ordering::Relaxed),
        }
    }

    fn progressed(&mut self) {
        let at = Instant::now() + self.idle;
        self.idle_sleep.as_mut().reset(at);
    }

    /// After the inner I/O answered Pending: an error if a limit is up.
    fn expired(&mut self, cx: &mut Context<'_>) -> Option<io::Error> {
        if self.age_sleep.as_mut().poll(cx).is_ready() {
            return Some(io::Error::new(
                io::ErrorKind::TimedOut,
                "connection open longer than its maximum age",
            ));
        }
        if self.idle_sleep.as_mut().poll(cx).is_ready() {
            return Some(io::Error::new(
                io::ErrorKind::TimedOut,
                "no progress within the idle timeout",
            ));
        }
        None
    }
}

impl AsyncRead for TimedIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                this.progressed();
                Poll::Ready(r)
            }
            Poll::Pending => match this.expired(cx) {
                Some(e) => Poll::Ready(Err(e)),
                None => Poll::Pending,
            },
        }
    }
}

impl TimedIo {
    /// A write's outcome: progress resets the idle timer; Pending is an
    /// error once a limit is up.
    fn wrote(
        &mut self,
        cx: &mut Context<'_>,
        r: Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        match r {
            Poll::Ready(r) => {
                self.progressed();
                Poll::Ready(r)
            }
            Poll::Pending => match self.expired(cx) {
                Some(e) => Poll::Ready(Err(e)),
                None => Poll::Pending,
            },
        }
    }
}

static VECTORED: AtomicBool = AtomicBool::new(true);

/// Turns vectored writes of the server's connections off (hyper then copies
/// each answer's body into its own write buffer on the async worker before
/// writing it, as before they existed) or on again, for connections
/// accepted afterwards. A switch for measurement (`examples/web_load.rs
/// --no-vectored-writes`), on by default.
pub fn set_vectored_writes(on: bool) {
    VECTORED.store(on, Ordering::Relaxed);
}

impl AsyncWrite for TimedIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let r = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.wrote(cx, r)
    }

    /// Forwarded to the socket (`writev`), so that hyper queues an answer's
    /// body as the handler made it and writes the headers and the body in
    /// one call, instead of first copying the body (0.5 MB for a page of
    /// 5,000 readings) into its own buffer on the async worker, at the
    /// server's normal priority, while the other tenant's requests wait for
    /// that worker.
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let r = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.wrote(cx, r)
    }

    fn is_write_vectored(&self) -> bool {
        self.vectored && self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Middleware: 503 when the answer takes longer than [`REQUEST_TIMEOUT`].
pub async fn request_timeout(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    use axum::response::IntoResponse;
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(req)).await {
        Ok(r) => r,
        Err(_) => (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({ "error": "the request took too long" })),
        )
            .into_response(),
    }
}

/// Middleware: `nosniff` and a CSP on every response that has none.
pub async fn security_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A connection writes vectored (so hyper queues a body instead of
    /// copying it), and the slices arrive whole and in order.
    #[test]
    fn a_connection_writes_its_slices_in_one_vectored_call() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let client = tokio::spawn(async move {
                let mut c = TcpStream::connect(addr).await.unwrap();
                let mut got = Vec::new();
                c.read_to_end(&mut got).await.unwrap();
                got
            });
            let (stream, _) = listener.accept().await.unwrap();
            let permit = Arc::new(Semaphore::new(1)).acquire_owned().await.unwrap();
            let mut io = TimedIo::new(stream, permit, Limits::default());
            assert!(io.is_write_vectored());
            let head = b"HTTP/1.1 200 OK\r\n\r\n".to_vec();
            let body: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
            let (mut h, mut b) = (&head[..], &body[..]);
            let mut first = None;
            while !h.is_empty() || !b.is_empty() {
                let n = io
                    .write_vectored(&[io::IoSlice::new(h), io::IoSlice::new(b)])
                    .await
                    .unwrap();
                assert!(n > 0);
                let from_h = n.min(h.len());
                h = &h[from_h..];
                b = &b[n - from_h..];
                first.get_or_insert(n);
            }
            // The first call wrote the head and part of the body: one
            // writev, not a write of the first slice alone (what a stream
            // without vectored writes does).
            assert!(first.unwrap() > head.len(), "{first:?}");
            io.shutdown().await.unwrap();
            drop(io);
            let got = client.await.unwrap();
            assert_eq!(got.len(), head.len() + body.len());
            assert_eq!(&got[..head.len()], &head[..]);
            assert_eq!(&got[head.len()..], &body[..]);
        });
    }
}
