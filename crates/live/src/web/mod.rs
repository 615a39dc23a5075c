//! HTTP API and QA web page of live mode.
//!
//! An axum [`Router`](axum::Router) over any [`Store`]: JSON endpoints under
//! `/api`, a server-rendered SVG of each CQA's predicted trajectory, and one
//! dependency-free page at `/` (its script and style at `/app.js` and
//! `/app.css`, so that the page can forbid inline script).
//!
//! Tenant isolation is the point of the design: every store read is scoped
//! to the tenant whose token was presented, and a batch of another tenant is
//! answered exactly as a batch that does not exist (same status, same body),
//! so that nothing tells a sponsor that another sponsor's batch exists.
//!
//! People sign in with accounts of the store (`crate::users`); what each
//! role may do, electronic signatures and the tenant's audit view are in
//! `people` (docs/part11.md). The sponsor's shared token opens batches
//! read-only.

mod api;
pub mod auth;
pub mod background;
pub mod batch_chart;
pub mod bulk;
pub mod demo;
pub mod fair;
pub mod limits;
mod page;
mod people;
pub mod stages;
pub mod svg;
pub mod trajectory_chart;

use std::net::SocketAddr;
use std::sync::Arc;

use super::{Store, TenantId};
use crate::Error;
use auth::Tenants;

/// What every handler shares.
#[derive(Clone)]
pub(crate) struct AppState {
    pub store: Arc<dyn Store>,
    pub tenants: Arc<Tenants>,
    /// Serialises alert acknowledgements (check, mark, audit).
    pub ack_lock: Arc<tokio::sync::Mutex<()>>,
    /// Each tenant's share of concurrent requests ([`limits::fair_share`]).
    pub slots: limits::TenantSlots,
    /// Tenant-fair admission to store work and serialisation ([`fair`]).
    pub gate: fair::FairGate,
    /// Low-priority threads for bulk page work ([`bulk`]).
    pub bulk: bulk::BulkPool,
}

/// The whole application. `tenants`: (tenant, SHA-256 of its bearer token as
/// 64 hex digits). An entry whose hash is not 64 hex digits can never match
/// (use [`auth::check_tenants`] to report it, as [`serve`] does).
pub fn router(store: Arc<dyn Store>, tenants: Vec<(TenantId, String)>) -> axum::Router {
    let state = AppState {
        store,
        tenants: Arc::new(Tenants::new(&tenants)),
        ack_lock: Arc::new(tokio::sync::Mutex::new(())),
        slots: limits::TenantSlots::default(),
        gate: fair::FairGate::new(fair::work_slots()),
        bulk: bulk::BulkPool::new(fair::work_slots()),
    };
    page::routes()
        .merge(api::routes())
        .merge(people::routes())
        .fallback(api::not_found)
        .with_state(state.clone())
        .layer(axum::middleware::from_fn_with_state(
            state,
            limits::fair_share,
        ))
        .layer(axum::middleware::from_fn(stages::record))
        .layer(axum::middleware::from_fn(limits::request_timeout))
        .layer(axum::middleware::map_response(limits::security_headers))
}

/// Serves [`router`] on `addr` until the process ends.
pub async fn serve(
    addr: SocketAddr,
    store: Arc<dyn Store>,
    tenants: Vec<(TenantId, String)>,
) -> Result<(), Error> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| Error::web(format!("<listen address {addr}>"), e))?;
    serve_on(listener, store, tenants).await
}

/// Serves [`router`] on a listener already bound (tests bind port 0 and read
/// the port back before serving).
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    store: Arc<dyn Store>,
    tenants: Vec<(TenantId, String)>,
) -> Result<(), Error> {
    auth::check_tenants(&tenants)?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::web("<listen address>", e))?;
    let listener = limits::BoundedListener::new(listener, limits::Limits::default());
    axum::serve(listener, router(store, tenants))
        .await
        .map_err(|e| Error::web(format!("<http server on {addr}>"), e))
}
