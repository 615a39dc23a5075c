//! The live HTTP API, request by request without a socket: authentication,
//! tenant isolation on every endpoint, and the audited acknowledgement.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use biotwin_live::audit::verify;
use biotwin_live::memory_store::MemoryStore;
use biotwin_live::web::{auth::token_sha256_hex, router};
use biotwin_live::{
    AlertRecord, BatchInfo, CqaForecast, Forecast, PredictionRecord, Quality, Reading, Store,
};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

pub(crate) const TOKEN_A: &str = "token-of-sponsor-a-0123456789";
pub(crate) const TOKEN_B: &str = "token-of-sponsor-b-9876543210";

pub(crate) fn batch(tenant: &str, id: &str, finished: bool) -> BatchInfo {
    BatchInfo {
        tenant: tenant.into(),
        batch_id: id.into(),
        unit: format!("{tenant}-BR"),
        start_unix_s: 1.7e9,
        end_unix_s: 1.7e9 + 14.0 * 86400.0,
        finished,
    }
}

pub(crate) fn prediction(tenant: &str, id: &str, seq: u64, mean: f64) -> PredictionRecord {
    PredictionRecord {
        tenant: tenant.into(),
        batch_id: id.into(),
        seq,
        model_id: format!("model-of-{tenant}@1"),
        input_sha256: format!("{seq:064x}"),
        created_unix_s: 1.7e9 + seq as f64,
        forecast: Forecast {
            time_s: 12.0 * 3600.0 * (seq + 1) as f64,
            cqas: vec![CqaForecast {
                name: "titer_g_per_l".into(),
                mean,
                p05: mean * 0.9,
                p95: mean * 1.1,
                lower_spec: Some(3.0),
                upper_spec: Some(9.0),
                p_in_spec: Some(0.7),
            }],
            state: vec![("xv".into(), 1.0e13, 1.0e12)],
        },
    }
}

pub(crate) fn reading(tag: &str, t: f64, v: f64) -> Reading {
    Reading {
        tag: tag.into(),
        time_unix_s: t,
        available_unix_s: None,
        value: v,
        quality: Quality::Good,
    }
}

pub(crate) fn alert(tenant: &str, id: &str) -> AlertRecord {
    AlertRecord {
        tenant: tenant.into(),
        batch_id: id.into(),
        cqa: "titer_g_per_l".into(),
        first_predicted_s: 36.0 * 3600.0,
        p_in_spec: 0.7,
        threshold: 0.8,
        acknowledged_by: None,
    }
}

/// Tenant A has A-001 (running) and SHARED-1; tenant B has B-001, B-002 and
/// its own SHARED-1 (the same id as A's, different data).
fn fixture() -> (Arc<MemoryStore>, Router) {
    let s = Arc::new(MemoryStore::new());
    fill(s.as_ref());
    let app = app(s.clone());
    (s, app)
}

/// The fixture's records, in any store (`pg_store.rs` runs the isolation
/// tests below on PostgreSQL too).
pub(crate) fn fill(s: &dyn Store) {
    s.upsert_batch(&batch("sponsor-a", "A-001", false)).unwrap();
    s.upsert_batch(&batch("sponsor-a", "SHARED-1", true))
        .unwrap();
    s.upsert_batch(&batch("sponsor-b", "B-001", false)).unwrap();
    s.upsert_batch(&batch("sponsor-b", "B-002", false)).unwrap();
    s.upsert_batch(&batch("sponsor-b", "SHARED-1", false))
        .unwrap();
    for seq in 0..3 {
        s.insert_prediction(&prediction("sponsor-a", "A-001", seq, 5.0 + seq as f64))
            .unwrap();
    }
    for seq in 0..5 {
        s.insert_prediction(&prediction("sponsor-b", "B-001", seq, 2.0))
            .unwrap();
        s.insert_prediction(&prediction("sponsor-b", "SHARED-1", seq, 2.5))
            .unwrap();
    }
    s.insert_readings(
        "sponsor-a",
        "A-001",
        &[
            reading("TI-101", 1.7e9, 36.9),
            reading("PH-101", 1.7e9, 7.01),
        ],
    )
    .unwrap();
    s.insert_readings(
        "sponsor-b",
        "B-001",
        &[
            reading("TI-101", 1.7e9, 35.5),
            reading("SECRET-B", 1.7e9, 1.0),
        ],
    )
    .unwrap();
    s.insert_readings("sponsor-b", "SHARED-1", &[reading("SECRET-B", 1.7e9, 2.0)])
        .unwrap();
    s.insert_alert(&alert("sponsor-a", "A-001")).unwrap();
    s.insert_alert(&alert("sponsor-b", "B-001")).unwrap();
    s.insert_alert(&alert("sponsor-b", "B-002")).unwrap();
}

/// The router over `s` with the fixture's two tenants.
pub(crate) fn app(s: Arc<dyn Store>) -> Router {
    let tenants = vec![
        ("sponsor-a".to_string(), token_sha256_hex(TOKEN_A)),
        ("sponsor-b".to_string(), token_sha256_hex(TOKEN_B)),
    ];
    router(s, tenants)
}

pub(crate) struct Answer {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub(crate) async fn call(
    app: &Router,
    method: &str,
    uri: &str,
    auth: Option<&str>,
    body: &str,
) -> Answer {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(a) = auth {
        req = req.header(header::AUTHORIZATION, a);
    }
    if !body.is_empty() {
        req = req.header(header::CONTENT_TYPE, "application/json");
    }
    let res = app
        .clone()
        .oneshot(req.body(Body::from(body.to_string())).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let body = res.into_body().collect().await.unwrap().to_bytes().to_vec();
    Answer {
        status,
        headers,
        body,
    }
}

pub(crate) fn bearer(t: &str) -> String {
    format!("Bearer {t}")
}

const ACK_BODY: &str = r#"{"user":"qa.jane"}"#;

/// The routes of the web service as `src/live/web/*.rs` declares them:
/// (method, path pattern) of every `.route(PATH, METHOD(…))`. Read from the
/// router's source because an axum `Router` cannot list its routes; a route
/// added there is enumerated here without touching this test.
pub(crate) fn declared_routes() -> Vec<(String, String)> {
    let dir = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .join("crates/live/src/web");
    let mut out = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .collect();
    files.sort();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let compact: String = text.split_whitespace().collect::<Vec<_>>().join("");
        let mut rest = compact.as_str();
        while let Some(i) = rest.find(".route(\"") {
            rest = &rest[i + 8..];
            let end = rest.find('"').unwrap();
            let path = rest[..end].to_string();
            let after = &rest[end + 2..];
            // One or more methods: get(…).post(…) or get(…) alone.
            for m in ["get", "post", "put", "delete", "patch"] {
                let head: String = after.chars().take(400).collect();
                let first_call = head.starts_with(&format!("{m}("));
                let chained = head
                    .split(".route(")
                    .next()
                    .unwrap()
                    .contains(&format!(").{m}("));
                if first_call || chained {
                    out.push((m.to_uppercase(), path.clone()));
                }
            }
        }
    }
    out
}

/// Sample values of the path parameters other than the batch id. A route
/// with another parameter fails the tests until it is given one here.
fn sample(param: &str, route: &str) -> &'static str {
    match param {
        "file" => "titer_g_per_l.svg",
        "cqa" => "titer_g_per_l",
        other => panic!(
            "route {route}: no sample value for {{{other}}} in tests/live_web.rs `sample`; add one so the isolation tests cover it"
        ),
    }
}

/// Every declared route that concerns one batch (has `{id}`), for batch
/// `id`: (method, uri, body). POSTs are tried with a valid, an empty-object
/// and no body; readings also with a tag filter of each tenant.
fn batch_endpoints(id: &str) -> Vec<(&'static str, String, &'static str)> {
    let mut out = Vec::new();
    for (method, route) in declared_routes() {
        if !route.contains("{id}") {
            continue;
        }
        let mut uri = String::new();
        for (k, part) in route.split('{').enumerate() {
            if k == 0 {
                uri.push_str(part);
                continue;
            }
            let (param, tail) = part.split_once('}').unwrap();
            uri.push_str(if param == "id" {
                id
            } else {
                sample(param, &route)
            });
            uri.push_str(tail);
        }
        let m: &'static str = match method.as_str() {
            "GET" => "GET",
            "POST" => "POST",
            "PUT" => "PUT",
            "DELETE" => "DELETE",
            _ => "PATCH",
        };
        if m == "GET" {
            if uri.ends_with("/readings") {
                out.push((m, format!("{uri}?tag=TI-101"), ""));
                out.push((m, format!("{uri}?tag=SECRET-B"), ""));
            }
            out.push((m, uri, ""));
        } else {
            out.push((m, uri.clone(), ACK_BODY));
            out.push((m, uri.clone(), "{}"));
            out.push((m, uri, ""));
        }
    }
    out
}

/// The declared routes without a batch in the path, each with why it is
/// safe; a new one fails [`every_declared_route_is_covered`] until it is
/// classified here (and tested).
const NOT_PER_BATCH: [(&str, &str); 10] = [
    ("/api/health", "public, touches no store"),
    (
        "/api/login",
        "public; one answer for every refusal (live_people.rs)",
    ),
    ("/api/logout", "ends the caller's own session only"),
    ("/api/me", "the caller's own principal"),
    (
        "/api/audit",
        "the caller's tenant's entries only; its batch filter is tested like a batch endpoint (live_people.rs)",
    ),
    (
        "/api/batches",
        "lists the caller's batches only (tested below)",
    ),
    (
        "/api/alerts",
        "lists the caller's alerts only (tested below)",
    ),
    ("/", "static page"),
    ("/app.js", "static asset"),
    ("/app.css", "static asset"),
];

#[test]
fn every_declared_route_is_covered() {
    let routes = declared_routes();
    // The parser found the router (guards against a silent empty list).
    eprintln!("declared routes: {routes:?}");
    assert!(routes.len() >= 11, "{routes:?}");
    assert!(routes.contains(&("POST".into(), "/api/batches/{id}/alerts/{cqa}/ack".into())));
    for (method, route) in &routes {
        if route.contains("{id}") {
            let probes = batch_endpoints("X-1");
            assert!(
                probes.iter().any(|(m, _, _)| *m == method.as_str()),
                "{method} {route}"
            );
        } else {
            assert!(
                NOT_PER_BATCH.iter().any(|(r, _)| r == route),
                "{method} {route}: a route without a batch id; classify it in NOT_PER_BATCH and test it"
            );
        }
    }
    // The per-batch probes: one per route with {id}, plus the variants.
    let per_batch = routes.iter().filter(|r| r.1.contains("{id}")).count();
    assert!(batch_endpoints("X-1").len() >= per_batch);
}

#[tokio::test]
async fn another_tenants_batch_is_answered_as_a_nonexistent_one_on_every_endpoint() {
    let (s, app) = fixture();
    another_tenants_batch_is_nonexistent_on(s, app).await
}

pub(crate) async fn another_tenants_batch_is_nonexistent_on(store: Arc<dyn Store>, app: Router) {
    let a = bearer(TOKEN_A);
    let audit_before = store.audit().unwrap().len();
    for (theirs, none) in batch_endpoints("B-001")
        .into_iter()
        .zip(batch_endpoints("NO-SUCH-BATCH"))
    {
        let x = call(&app, theirs.0, &theirs.1, Some(&a), theirs.2).await;
        let y = call(&app, none.0, &none.1, Some(&a), none.2).await;
        assert_eq!(
            x.status,
            StatusCode::NOT_FOUND,
            "{} {}: {}",
            theirs.0,
            theirs.1,
            x.text()
        );
        assert_eq!(x.status, y.status, "{} {}", theirs.0, theirs.1);
        assert_eq!(x.body, y.body, "{} {}", theirs.0, theirs.1);
        assert_eq!(x.headers, y.headers, "{} {}", theirs.0, theirs.1);
        assert!(!x.text().contains("sponsor-b") && !x.text().contains("B-001"));
    }
    // And the same as a path that is no endpoint at all.
    let x = call(&app, "GET", "/api/batches/B-001", Some(&a), "").await;
    let z = call(&app, "GET", "/api/no/such/endpoint", Some(&a), "").await;
    assert_eq!((x.status, &x.body), (z.status, &z.body));
    // Tenant A's attempts changed nothing of B's.
    assert_eq!(store.audit().unwrap().len(), audit_before);
    let b_alerts = store.alerts("sponsor-b").unwrap();
    assert!(b_alerts.iter().all(|al| al.acknowledged_by.is_none()));
}

#[tokio::test]
async fn a_batch_id_both_tenants_use_shows_each_only_its_own_data() {
    let (s, app) = fixture();
    shared_batch_id_on(s, app).await
}

pub(crate) async fn shared_batch_id_on(_store: Arc<dyn Store>, app: Router) {
    let a = bearer(TOKEN_A);
    let d = call(&app, "GET", "/api/batches/SHARED-1", Some(&a), "").await;
    assert_eq!(d.status, StatusCode::OK);
    let d = d.json();
    assert_eq!(
        d["batch"]["finished"],
        json!(true),
        "A's SHARED-1 is finished, B's is not"
    );
    assert_eq!(d["batch"]["n_predictions"], json!(0));
    assert_eq!(d["alerts"], json!([]));
    let p = call(
        &app,
        "GET",
        "/api/batches/SHARED-1/predictions",
        Some(&a),
        "",
    )
    .await;
    assert_eq!(p.json(), json!([]));
    let r = call(&app, "GET", "/api/batches/SHARED-1/readings", Some(&a), "").await;
    assert_eq!(r.json(), json!([]));
    let svg = call(
        &app,
        "GET",
        "/api/batches/SHARED-1/plot/titer_g_per_l.svg",
        Some(&a),
        "",
    )
    .await;
    assert_eq!(
        svg.status,
        StatusCode::NOT_FOUND,
        "A has no forecasts of SHARED-1"
    );
    // B sees its own.
    let b = bearer(TOKEN_B);
    let p = call(
        &app,
        "GET",
        "/api/batches/SHARED-1/predictions",
        Some(&b),
        "",
    )
    .await;
    assert_eq!(p.json().as_array().unwrap().len(), 5);
}

#[tokio::test]
async fn lists_show_only_the_tenants_own_batches_and_counts() {
    let (s, app) = fixture();
    lists_on(s, app).await
}

pub(crate) async fn lists_on(_store: Arc<dyn Store>, app: Router) {
    let res = call(&app, "GET", "/api/batches", Some(&bearer(TOKEN_A)), "").await;
    assert_eq!(res.status, StatusCode::OK);
    let text = res.text();
    for leak in [
        "B-001",
        "B-002",
        "sponsor-b",
        "SECRET-B",
        "model-of-sponsor-b",
    ] {
        assert!(!text.contains(leak), "{leak} in {text}");
    }
    let list = res.json();
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["batch_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec!["A-001", "SHARED-1"],
        "running first, then finished"
    );
    assert_eq!(list[0]["n_predictions"], json!(3));
    assert_eq!(list[0]["open_alerts"], json!(1));
    assert_eq!(list[0]["latest"]["seq"], json!(2));
    assert_eq!(list[0]["latest"]["cqas"][0]["mean"], json!(7.0));
    assert_eq!(list[1]["n_predictions"], json!(0));
    assert_eq!(list[1]["open_alerts"], json!(0));

    let alerts = call(&app, "GET", "/api/alerts", Some(&bearer(TOKEN_A)), "").await;
    let alerts = alerts.json();
    assert_eq!(alerts.as_array().unwrap().len(), 1);
    assert_eq!(alerts[0]["batch_id"], json!("A-001"));

    let b = call(&app, "GET", "/api/batches", Some(&bearer(TOKEN_B)), "").await;
    assert_eq!(b.json().as_array().unwrap().len(), 3);
    assert!(!b.text().contains("A-001"));
    let b_alerts = call(&app, "GET", "/api/alerts", Some(&bearer(TOKEN_B)), "").await;
    assert_eq!(b_alerts.json().as_array().unwrap().len(), 2);

    // Health needs no token and says nothing about tenants or counts.
    let h = call(&app, "GET", "/api/health", None, "").await;
    assert_eq!(h.status, StatusCode::OK);
    assert_eq!(h.json()["status"], json!("ok"));
    assert!(!h.text().contains("sponsor") && !h.text().contains("batch"));
}

#[tokio::test]
async fn the_tenants_own_data_comes_back_in_full() {
    let (s, app) = fixture();
    own_data_on(s, app).await
}

pub(crate) async fn own_data_on(_store: Arc<dyn Store>, app: Router) {
    let a = bearer(TOKEN_A);
    let p = call(&app, "GET", "/api/batches/A-001/predictions", Some(&a), "").await;
    let p = p.json();
    assert_eq!(p.as_array().unwrap().len(), 3);
    assert_eq!(p[1]["forecast"]["cqas"][0]["mean"], json!(6.0));
    let r = call(
        &app,
        "GET",
        "/api/batches/A-001/readings?tag=PH-101",
        Some(&a),
        "",
    )
    .await;
    let r = r.json();
    assert_eq!(r.as_array().unwrap().len(), 1);
    assert_eq!(r[0]["value"], json!(7.01));
    let all = call(&app, "GET", "/api/batches/A-001/readings", Some(&a), "").await;
    assert_eq!(all.json().as_array().unwrap().len(), 2);
    let svg = call(
        &app,
        "GET",
        "/api/batches/A-001/plot/titer_g_per_l.svg",
        Some(&a),
        "",
    )
    .await;
    assert_eq!(svg.status, StatusCode::OK);
    assert!(
        svg.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("image/svg+xml")
    );
    let svg = svg.text();
    assert!(svg.starts_with("<svg") && svg.contains("class=\"band\""));
    assert!(svg.contains("spec-lower") && svg.contains("spec-upper"));
    let no_cqa = call(
        &app,
        "GET",
        "/api/batches/A-001/plot/viability.svg",
        Some(&a),
        "",
    )
    .await;
    assert_eq!(no_cqa.status, StatusCode::NOT_FOUND);
    let not_svg = call(
        &app,
        "GET",
        "/api/batches/A-001/plot/titer_g_per_l",
        Some(&a),
        "",
    )
    .await;
    assert_eq!(not_svg.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn no_token_or_a_wrong_token_is_401_on_every_endpoint() {
    let (store, app) = fixture();
    let mut endpoints = batch_endpoints("A-001");
    endpoints.extend(batch_endpoints("B-001"));
    endpoints.push(("GET", "/api/batches".into(), ""));
    endpoints.push(("GET", "/api/alerts".into(), ""));
    endpoints.push(("GET", "/api/audit".into(), ""));
    endpoints.push(("GET", "/api/me".into(), ""));
    endpoints.push(("POST", "/api/logout".into(), ""));
    let wrong = [
        None,
        Some("Bearer".to_string()),
        Some("Bearer ".to_string()),
        Some(bearer("not-a-token")),
        Some(bearer(&token_sha256_hex(TOKEN_A))),
        Some(format!("Basic {TOKEN_A}")),
        Some(TOKEN_A.to_string()),
    ];
    let mut first: Option<Vec<u8>> = None;
    for (method, uri, body) in &endpoints {
        for auth in &wrong {
            let res = call(&app, method, uri, auth.as_deref(), body).await;
            assert_eq!(
                res.status,
                StatusCode::UNAUTHORIZED,
                "{method} {uri} with {auth:?}"
            );
            assert_eq!(res.headers[header::WWW_AUTHENTICATE], "Bearer");
            // One body for all: it tells nothing about the batch.
            let f = first.get_or_insert_with(|| res.body.clone());
            assert_eq!(&res.body, f);
        }
    }
    assert!(
        store.audit().unwrap().is_empty(),
        "nothing was acknowledged"
    );
    assert!(
        store.alerts("sponsor-a").unwrap()[0]
            .acknowledged_by
            .is_none()
    );
    // The right token in a different case of the scheme works.
    let ok = call(
        &app,
        "GET",
        "/api/batches",
        Some(&format!("bearer {TOKEN_A}")),
        "",
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK);
}

/// Acknowledging is an electronic signature now (live_people.rs tests it):
/// the sponsor's shared token still opens the batches read-only, and an
/// acknowledgement under it is refused with what to do instead.
#[tokio::test]
async fn the_shared_token_may_view_but_not_acknowledge_and_is_told_why() {
    let (store, app) = fixture();
    let a = bearer(TOKEN_A);
    let uri = "/api/batches/A-001/alerts/titer_g_per_l/ack";
    for body in [
        "",
        "{}",
        ACK_BODY,
        r#"{"password":"x","meaning":"reviewed","reason":"r"}"#,
    ] {
        let res = call(&app, "POST", uri, Some(&a), body).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN, "{body}: {}", res.text());
        let msg = res.json()["error"].as_str().unwrap().to_string();
        assert!(
            msg.contains("read-only") && msg.contains("biotwin users add"),
            "{msg}"
        );
    }
    assert!(store.audit().unwrap().is_empty());
    assert!(
        store.alerts("sponsor-a").unwrap()[0]
            .acknowledged_by
            .is_none()
    );
    // An alert of an existing batch of A's that has none: 404 as before.
    let none = call(
        &app,
        "POST",
        "/api/batches/SHARED-1/alerts/titer_g_per_l/ack",
        Some(&a),
        ACK_BODY,
    )
    .await;
    assert_eq!(none.status, StatusCode::NOT_FOUND);
    // Viewing works as before, and the alert says it has no signature.
    let listed = call(&app, "GET", "/api/alerts", Some(&a), "").await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(listed.json()[0]["signature"], Value::Null);
    let me = call(&app, "GET", "/api/me", Some(&a), "").await;
    assert_eq!(me.json()["via"], json!("shared_token"));
    assert_eq!(me.json()["role"], json!("sponsor_viewer"));
    assert_eq!(me.json()["may"], json!(["view_batches"]));
}

#[tokio::test]
async fn the_page_is_served_without_a_token_and_forbids_inline_script() {
    let (_, app) = fixture();
    let page = call(&app, "GET", "/", None, "").await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    assert!(html.contains("<script src=\"/app.js\""));
    assert!(!html.contains("A-001"), "the page itself holds no data");
    let csp = page.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"));
    let js = call(&app, "GET", "/app.js", None, "").await;
    assert_eq!(js.status, StatusCode::OK);
    assert!(js.text().contains("Authorization"));
    assert!(
        !js.text().contains("innerHTML"),
        "data goes in as text only"
    );
    let css = call(&app, "GET", "/app.css", None, "").await;
    assert_eq!(css.status, StatusCode::OK);
}

/// The demo batch's forecasts come from simulations: reproducible for a
/// seed, narrowing as measurements accumulate, covering the plant's truth.
#[test]
fn the_example_batch_is_forecast_from_simulations_of_the_process() {
    use biotwin_live::web::demo::{DemoBatch, fill};
    let make = |seed: u64| {
        let s = MemoryStore::new();
        let d = DemoBatch {
            tenant: "t".into(),
            batch_id: "X".into(),
            unit: "U".into(),
            process: concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../process-models/processes/xing2010-reference.toml"
            )
            .into(),
            members: 48,
            seed,
            now_h: 144.0,
            forecast_every_h: 24.0,
            rel_sd: 0.05,
            alert_below: 0.95,
            start_unix_s: 1.7e9,
        };
        let summary = fill(&s, &d).unwrap();
        (summary, s.predictions("t", "X").unwrap(), s)
    };
    // Over 20 plants (seeds): the final forecast's 90 % interval covers the
    // plant's true end-of-batch titer in most (nominal 18 of 20; an ensemble
    // of 48 cannot reach a plant beyond its extremes), and the forecast mean
    // gets closer to the truth as measurements accumulate.
    let (mut covered, mut err_first, mut err_last) = (0, 0.0, 0.0);
    for seed in 100..120u64 {
        let (sum, preds, _) = make(seed);
        let truth = sum.plant_quality[0].1;
        let first = &preds[0].forecast.cqas[0];
        let last = &preds[5].forecast.cqas[0];
        covered += usize::from(last.p05 <= truth && truth <= last.p95);
        err_first += (first.mean - truth).abs();
        err_last += (last.mean - truth).abs();
    }
    eprintln!(
        "covered {covered}/20, mean |error| {:.4} at 24 h -> {:.4} at 144 h",
        err_first / 20.0,
        err_last / 20.0
    );
    assert!(
        covered >= 15,
        "the 90 % interval covered the truth in {covered} of 20 batches"
    );
    assert!(err_last < 0.8 * err_first, "{err_first} -> {err_last}");
    let (sum, preds, store) = make(5);
    assert_eq!(sum.predictions, 6);
    assert_eq!(preds.len(), 6);
    assert_eq!(sum.readings, 24 * 3, "3 tags every 6 h through 144 h");
    assert_eq!(store.readings("t", "X").unwrap().len(), sum.readings);
    let first = &preds[0].forecast.cqas[0];
    let last = &preds[5].forecast.cqas[0];
    assert_eq!(last.name, "titer_g_per_l");
    assert!(
        last.p95 - last.p05 < first.p95 - first.p05,
        "the interval narrows with data"
    );
    assert!(
        preds
            .windows(2)
            .all(|w| w[0].input_sha256 != w[1].input_sha256)
    );
    for p in &preds {
        for c in &p.forecast.cqas {
            assert!(c.p05 <= c.mean && c.mean <= c.p95, "{c:?}");
            if let Some(p) = c.p_in_spec {
                assert!((0.0..=1.0).contains(&p));
            }
        }
    }
    let (_, again, _) = make(5);
    assert_eq!(preds, again, "same seed, same forecasts");
    let (_, other, _) = make(6);
    assert_ne!(preds, other);
    // The batch's start with its recipe (the continuous feed from 72 h to
    // 336 h) and tags, then every alert raised; the trail verifies.
    let trail = store.audit().unwrap();
    assert_eq!(trail.len(), 1 + sum.alerts);
    assert_eq!(trail[0].action, "batch.started");
    let plan = &trail[0].detail["plan"];
    assert_eq!(plan["markers"][0]["kind"], json!("feed_start"));
    assert_eq!(plan["markers"][0]["time_s"], json!(72.0 * 3600.0));
    assert_eq!(plan["tags"].as_array().unwrap().len(), 3);
    assert!(trail[1..].iter().all(|e| e.action == "alert.raised"));
    assert!(verify(&trail).is_ok());
}

/// A store that fails every call, with another tenant's name in its error.
struct FailingStore;

fn leak() -> biotwin_live::Error {
    biotwin_live::Error::store(
        "/var/lib/biotwin/sponsor-b/B-001.db",
        biotwin_live::error::Backend::Sqlite,
        "disk I/O error",
    )
}

impl Store for FailingStore {
    fn upsert_batch(&self, _: &BatchInfo) -> Result<(), biotwin_live::Error> {
        Err(leak())
    }
    fn insert_readings(&self, _: &str, _: &str, _: &[Reading]) -> Result<(), biotwin_live::Error> {
        Err(leak())
    }
    fn insert_prediction(&self, _: &PredictionRecord) -> Result<bool, biotwin_live::Error> {
        Err(leak())
    }
    fn insert_alert(&self, _: &AlertRecord) -> Result<bool, biotwin_live::Error> {
        Err(leak())
    }
    fn append_audit(
        &self,
        _: &str,
        _: Option<&str>,
        _: &str,
        _: Value,
    ) -> Result<biotwin_live::AuditEntry, biotwin_live::Error> {
        Err(leak())
    }
    fn batches(&self, _: &str) -> Result<Vec<BatchInfo>, biotwin_live::Error> {
        Err(leak())
    }
    fn batch(&self, _: &str, _: &str) -> Result<Option<BatchInfo>, biotwin_live::Error> {
        Err(leak())
    }
    fn readings(&self, _: &str, _: &str) -> Result<Vec<Reading>, biotwin_live::Error> {
        Err(leak())
    }
    fn predictions(&self, _: &str, _: &str) -> Result<Vec<PredictionRecord>, biotwin_live::Error> {
        Err(leak())
    }
    fn alerts(&self, _: &str) -> Result<Vec<AlertRecord>, biotwin_live::Error> {
        Err(leak())
    }
    fn acknowledge_alert(
        &self,
        _: &str,
        _: &str,
        _: &str,
        _: &str,
    ) -> Result<bool, biotwin_live::Error> {
        Err(leak())
    }
    fn audit(&self) -> Result<Vec<biotwin_live::AuditEntry>, biotwin_live::Error> {
        Err(leak())
    }
}

#[tokio::test]
async fn a_store_error_is_a_bare_500_that_names_nothing() {
    let app = router(
        Arc::new(FailingStore),
        vec![("sponsor-a".to_string(), token_sha256_hex(TOKEN_A))],
    );
    let a = bearer(TOKEN_A);
    let mut endpoints = batch_endpoints("A-001");
    endpoints.push(("GET", "/api/batches".into(), ""));
    endpoints.push(("GET", "/api/alerts".into(), ""));
    for (method, uri, body) in endpoints {
        let res = call(&app, method, &uri, Some(&a), body).await;
        assert_eq!(
            res.status,
            StatusCode::INTERNAL_SERVER_ERROR,
            "{method} {uri}"
        );
        let text = res.text();
        assert!(
            !text.contains("sponsor-b") && !text.contains("disk"),
            "{text}"
        );
    }
    // Health does not touch the store.
    assert_eq!(
        call(&app, "GET", "/api/health", None, "").await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn serving_refuses_a_malformed_tenant_list() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = biotwin_live::web::serve_on(
        listener,
        Arc::new(MemoryStore::new()),
        vec![("sponsor-a".to_string(), "abc123".to_string())],
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("tenants[0].token_sha256"), "{err}");
    assert!(err.contains("64 hex digits"), "{err}");
}
