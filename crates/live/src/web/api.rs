//! JSON endpoints under `/api`.
//!
//! Every handler that touches batch data takes [`Authed`] (401 without a
//! valid token) and asks the store only for that tenant's records. A batch
//! the tenant cannot see gives [`ApiError::NotFound`], the same response as
//! one that does not exist, and so does the router's fallback.

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::AppState;
use super::auth::Authed;
use super::bulk::LIGHT_ITEMS;
use super::limits::MAX_PAGE;
use super::stages::{self, Lane};
use crate::Error;
use crate::{AlertRecord, BatchInfo, CqaForecast, PredictionRecord, Reading, Store};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/health", get(health))
        .route("/api/batches", get(list_batches))
        .route("/api/batches/{id}", get(one_batch))
        .route("/api/batches/{id}/predictions", get(predictions))
        .route("/api/batches/{id}/readings", get(readings))
        .route("/api/batches/{id}/plot/{file}", get(plot))
        .route("/api/batches/{id}/trajectory.svg", get(trajectory))
        .route("/api/alerts", get(alerts))
}

/// Every error an endpoint returns. The bodies are fixed strings except for
/// a bad request, whose message describes only the request itself.
pub(crate) enum ApiError {
    Unauthorized,
    /// Authenticated, but the role (or the way of signing in) may not do
    /// this; the text says who may.
    Forbidden(String),
    /// Sign-in with a user id and password refused (one text for every
    /// reason, so that it does not tell whether an account exists).
    SignInRefused,
    NotFound,
    BadRequest(String),
    Internal,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            ApiError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "missing or invalid bearer token".to_string(),
            ),
            ApiError::Forbidden(m) => (StatusCode::FORBIDDEN, m),
            ApiError::SignInRefused => (
                StatusCode::UNAUTHORIZED,
                format!(
                    "sign-in refused: unknown user, wrong password, or a disabled or locked account ({} wrong passwords in a row lock an account for {} min)",
                    crate::users::MAX_FAILURES,
                    crate::users::LOCKOUT_S / 60.0
                ),
            ),
            ApiError::NotFound => (StatusCode::NOT_FOUND, "not found".to_string()),
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
            ApiError::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error (see the server log)".to_string(),
            ),
        };
        let mut r = (status, Json(json!({ "error": message }))).into_response();
        if status == StatusCode::UNAUTHORIZED {
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        no_store(&mut r);
        r
    }
}

/// Tenant data must not linger in shared caches.
pub(crate) fn no_store(r: &mut Response) {
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

pub(crate) async fn not_found() -> ApiError {
    ApiError::NotFound
}

/// Runs a store call off the async workers (a durable store blocks on disk)
/// once `tenant` holds a slot of the server's [`FairGate`](super::fair)
/// (held until the call ends, also if the request is abandoned meanwhile),
/// on Tokio's blocking pool at normal priority. Bulk work goes through
/// [`with_store_in`] with [`Lane::Bulk`].
/// A store error is logged here and reaches the client as a bare 500, so
/// that its text cannot carry another tenant's data.
pub(crate) async fn with_store<T, F>(st: &AppState, tenant: &str, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&dyn Store) -> Result<T, Error> + Send + 'static,
{
    with_store_in(st, tenant, Lane::Light, f).await
}

/// [`with_store`] on the threads of `lane`: [`Lane::Bulk`] runs on the
/// low-priority pool of [`super::bulk`], so that a page build yields the
/// CPU to light requests.
pub(crate) async fn with_store_in<T, F>(
    st: &AppState,
    tenant: &str,
    lane: Lane,
    f: F,
) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&dyn Store) -> Result<T, Error> + Send + 'static,
{
    let lane = match lane {
        Lane::Bulk if !super::bulk::enabled() => Lane::Light,
        l => l,
    };
    let store = st.store.clone();
    let asked = stages::asking_gate(tenant);
    let permit = st.gate.acquire(tenant).await;
    let admitted = std::time::Instant::now();
    let work = move || {
        let _permit = permit;
        stages::measure(|| f(store.as_ref()))
    };
    let done = match lane {
        Lane::Light => tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| e.to_string()),
        Lane::Bulk => st
            .bulk
            .run(work)
            .await
            .ok_or_else(|| "the bulk pool has no thread".to_string()),
    };
    match done {
        Ok((r, w)) => {
            stages::store_call(asked, admitted, w, lane);
            r.map_err(|e| {
                eprintln!("biotwin web: store error: {e}");
                ApiError::Internal
            })
        }
        Err(e) => {
            eprintln!("biotwin web: store task failed: {e}");
            Err(ApiError::Internal)
        }
    }
}

/// A page serialised to JSON where it was read (on the blocking pool,
/// under the tenant's slot), so that a 5,000-item page does not hold an
/// async worker: the bytes, the number of items, and the total.
pub(crate) struct JsonPage {
    body: Vec<u8>,
    n: usize,
    total: usize,
}

impl JsonPage {
    pub(crate) fn of<T: Serialize>(items: &[T], total: usize) -> Result<JsonPage, Error> {
        let body = serde_json::to_vec(items)
            .map_err(|e| Error::web("<JSON answer>", format!("cannot serialise: {e}")))?;
        Ok(JsonPage {
            body,
            n: items.len(),
            total,
        })
    }

    /// The response: as [`paged`] makes it.
    fn into_response(self, offset: usize) -> Response {
        let mut r = (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            self.body,
        )
            .into_response();
        no_store(&mut r);
        page_headers(&mut r, offset, self.n, self.total);
        r
    }
}

pub(crate) fn ok<T: Serialize>(v: T) -> Response {
    let mut r = Json(v).into_response();
    no_store(&mut r);
    r
}

async fn health() -> Response {
    ok(json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }))
}

/// The latest forecast of a batch, as lists and the page show it.
#[derive(Serialize)]
struct Latest {
    seq: u64,
    time_s: f64,
    model_id: String,
    created_unix_s: f64,
    cqas: Vec<CqaForecast>,
}

#[derive(Serialize)]
struct BatchSummary {
    batch_id: String,
    unit: String,
    start_unix_s: f64,
    end_unix_s: f64,
    finished: bool,
    n_predictions: usize,
    latest: Option<Latest>,
    open_alerts: usize,
}

fn summary(b: BatchInfo, preds: &[PredictionRecord], alerts: &[AlertRecord]) -> BatchSummary {
    let latest = preds.iter().max_by_key(|p| p.seq).map(|p| Latest {
        seq: p.seq,
        time_s: p.forecast.time_s,
        model_id: p.model_id.clone(),
        created_unix_s: p.created_unix_s,
        cqas: p.forecast.cqas.clone(),
    });
    BatchSummary {
        open_alerts: alerts
            .iter()
            .filter(|a| a.batch_id == b.batch_id && a.acknowledged_by.is_none())
            .count(),
        n_predictions: preds.len(),
        latest,
        batch_id: b.batch_id,
        unit: b.unit,
        start_unix_s: b.start_unix_s,
        end_unix_s: b.end_unix_s,
        finished: b.finished,
    }
}

/// Batches of the tenant: those in progress first, then the finished ones,
/// each by start time.
async fn list_batches(
    State(st): State<AppState>,
    Authed(t, _): Authed,
    Query(q): Query<PageQuery>,
) -> Result<Response, ApiError> {
    let (offset, limit) = page_bounds(q.offset, q.limit)?;
    let tenant = t.clone();
    let page = with_store(&st, &tenant, move |s| {
        let alerts = s.alerts(&t)?;
        let mut list = Vec::new();
        for b in s.batches(&t)? {
            let preds = s.predictions(&t, &b.batch_id)?;
            list.push(summary(b, &preds, &alerts));
        }
        list.sort_by(|a, b| {
            a.finished
                .cmp(&b.finished)
                .then(a.start_unix_s.total_cmp(&b.start_unix_s))
                .then(a.batch_id.cmp(&b.batch_id))
        });
        let (list, total) = page_of(list, offset, limit);
        JsonPage::of(&list, total)
    })
    .await?;
    Ok(page.into_response(offset))
}

async fn one_batch(
    State(st): State<AppState>,
    Authed(t, _): Authed,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let tenant = t.clone();
    let found = with_store(&st, &tenant, move |s| {
        let Some(b) = s.batch(&t, &id)? else {
            return Ok(None);
        };
        let preds = s.predictions(&t, &id)?;
        let alerts: Vec<AlertRecord> = s
            .alerts(&t)?
            .into_iter()
            .filter(|a| a.batch_id == id)
            .collect();
        let sum = summary(b, &preds, &alerts);
        let alerts = super::people::with_signatures(s, &t, alerts)?;
        // Data freshness: when the last reading arrived (its result time,
        // else its time stamp), and the recipe's recorded feeds and shifts.
        let last_data_unix_s = s.last_data_unix_s(&t, &id)?;
        // null: not recorded (started before recipes were recorded) or
        // not known to the batch's predictor (`recipe_known` says which).
        let ctx = crate::batch_context::BatchContext::recorded(&s.audit()?, &t, &id);
        let recipe_known = ctx.as_ref().map(|c| c.recipe_known);
        let recipe = ctx.filter(|c| c.recipe_known).map(|c| c.markers);
        Ok(Some(json!({
            "batch": sum, "alerts": alerts,
            "last_data_unix_s": last_data_unix_s, "recipe_markers": recipe,
            "recipe_known": recipe_known,
        })))
    })
    .await?;
    found.map(ok).ok_or(ApiError::NotFound)
}

/// Reads something of one batch, or `NotFound` when the tenant has no such
/// batch (checked first, so that an empty list means an existing batch).
async fn of_batch<T, F>(
    st: &AppState,
    tenant: String,
    id: String,
    lane: Lane,
    f: F,
) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&dyn Store, &str, &str) -> Result<T, Error> + Send + 'static,
{
    let key = tenant.clone();
    with_store_in(st, &key, lane, move |s| {
        if s.batch(&tenant, &id)?.is_none() {
            return Ok(None);
        }
        f(s, &tenant, &id).map(Some)
    })
    .await?
    .ok_or(ApiError::NotFound)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PageQuery {
    offset: Option<usize>,
    limit: Option<usize>,
}

async fn predictions(
    State(st): State<AppState>,
    Authed(t, _): Authed,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Response, ApiError> {
    let (offset, limit) = page_bounds(q.offset, q.limit)?;
    let page = of_batch(&st, t, id, Lane::Light, move |s, t, id| {
        let (p, total) = page_of(s.predictions(t, id)?, offset, limit);
        JsonPage::of(&p, total)
    })
    .await?;
    Ok(page.into_response(offset))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadingsQuery {
    tag: Option<String>,
    offset: Option<usize>,
    limit: Option<usize>,
}

/// `offset` and `limit` of a list request: at most [`MAX_PAGE`] items.
pub(crate) fn page_bounds(
    offset: Option<usize>,
    limit: Option<usize>,
) -> Result<(usize, usize), ApiError> {
    let limit = limit.unwrap_or(MAX_PAGE);
    if limit == 0 || limit > MAX_PAGE {
        return Err(ApiError::BadRequest(format!(
            "expected limit between 1 and {MAX_PAGE}; found {limit}"
        )));
    }
    Ok((offset.unwrap_or(0), limit))
}

/// A page of a list: the items, with the total and where the next page
/// starts in headers (`X-Total-Count`, `X-Next-Offset` when there is more).
pub(crate) fn paged<T: Serialize>(items: Vec<T>, offset: usize, total: usize) -> Response {
    let n = items.len();
    let mut r = ok(items);
    page_headers(&mut r, offset, n, total);
    r
}

fn page_headers(r: &mut Response, offset: usize, n: usize, total: usize) {
    let next = offset + n;
    let h = r.headers_mut();
    h.insert("x-total-count", HeaderValue::from(total as u64));
    if next < total {
        h.insert("x-next-offset", HeaderValue::from(next as u64));
    }
}

/// Slices a whole list into the requested page.
pub(crate) fn page_of<T>(all: Vec<T>, offset: usize, limit: usize) -> (Vec<T>, usize) {
    let total = all.len();
    (all.into_iter().skip(offset).take(limit).collect(), total)
}

async fn readings(
    State(st): State<AppState>,
    Authed(t, _): Authed,
    Path(id): Path<String>,
    Query(q): Query<ReadingsQuery>,
) -> Result<Response, ApiError> {
    let (offset, limit) = page_bounds(q.offset, q.limit)?;
    let tag = q.tag;
    // A page of more than LIGHT_ITEMS readings is built at low priority.
    let lane = if limit > LIGHT_ITEMS {
        Lane::Bulk
    } else {
        Lane::Light
    };
    let page = of_batch(&st, t, id, lane, move |s, t, id| {
        let (r, total): (Vec<Reading>, usize) =
            s.readings_page(t, id, tag.as_deref(), offset, limit)?;
        JsonPage::of(&r, total)
    })
    .await?;
    Ok(page.into_response(offset))
}

async fn alerts(
    State(st): State<AppState>,
    Authed(t, _): Authed,
    Query(q): Query<PageQuery>,
) -> Result<Response, ApiError> {
    let (offset, limit) = page_bounds(q.offset, q.limit)?;
    let tenant = t.clone();
    let page = with_store(&st, &tenant, move |s| {
        let a = super::people::with_signatures(s, &t, s.alerts(&t)?)?;
        let (a, total) = page_of(a, offset, limit);
        JsonPage::of(&a, total)
    })
    .await?;
    Ok(page.into_response(offset))
}

/// `/api/batches/{id}/plot/{cqa}.svg`: the CQA's chart of the batch view
/// (measured values over process time with the end-of-batch forecast, and
/// the forecast history; `batch_chart`).
async fn plot(
    State(st): State<AppState>,
    Authed(t, _): Authed,
    Path((id, file)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let Some(cqa) = file.strip_suffix(".svg").map(str::to_string) else {
        return Err(ApiError::NotFound);
    };
    let (batch, preds, readings) = of_batch(&st, t, id.clone(), Lane::Bulk, |s, t, id| {
        let b = s.batch(t, id)?;
        Ok((b, s.predictions(t, id)?, s.readings(t, id)?))
    })
    .await?;
    let batch = batch.ok_or(ApiError::NotFound)?;
    let svg =
        super::batch_chart::render(&batch, &cqa, &preds, &readings).ok_or(ApiError::NotFound)?;
    let mut r = svg.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("image/svg+xml; charset=utf-8"),
    );
    no_store(&mut r);
    Ok(r)
}

/// `/api/batches/{id}/trajectory.svg`: the batch's own trajectory on
/// calendar time (tags, lab results, the filter's state estimate, the
/// forecast to the planned end, the recipe's feeds and shifts;
/// `trajectory_chart`). Any batch of the tenant has one, if only empty.
async fn trajectory(
    State(st): State<AppState>,
    Authed(t, _): Authed,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let svg = of_batch(&st, t, id, Lane::Bulk, |s, t, id| {
        let Some(b) = s.batch(t, id)? else {
            return Ok(None);
        };
        let ctx = crate::batch_context::BatchContext::recorded(&s.audit()?, t, id);
        Ok(Some(super::trajectory_chart::render(
            &b,
            &s.predictions(t, id)?,
            &s.readings(t, id)?,
            ctx.as_ref(),
        )))
    })
    .await?
    .ok_or(ApiError::NotFound)?;
    let mut r = svg.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("image/svg+xml; charset=utf-8"),
    );
    no_store(&mut r);
    Ok(r)
}
