//! The web API over the SQLite store that a live run wrote: the router
//! request by request (no socket) with the site's tenants, and `biotwin
//! serve` as a process answering over TCP while an engine writes the same
//! store.

use crate::live_support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use biotwin::live::Store;
use biotwin::live::config::SiteConfig;
use biotwin::live::engine::open_source;
use biotwin::live::sqlite_store::SqliteStore;
use biotwin::live::web::auth::token_sha256_hex;
use biotwin::live::web::router;
use http_body_util::BodyExt;
use live_support::*;
use serde_json::Value;
use tower::ServiceExt;

const TOKEN_A: &str = "serve-test-token-sponsor-a";
const TOKEN_B: &str = "serve-test-token-sponsor-b";
/// Lower specification of the end titer, kg/m3 (the trend reaches ~2.4).
const LOWER_SPEC: f64 = 1.0;

/// A site with two sponsors: sponsor-a's B1 on BR1 and sponsor-b's B2 on BR2
/// (the same clean 48 h export, titer doubled for B2), with real token hashes.
fn two_tenant_site() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("process.toml"), "[process]\n").unwrap();
    let rows = clean_rows();
    write_export(&dir.path().join("export.csv"), &rows);
    let doubled: Vec<Row> = rows
        .iter()
        .map(|r| Row {
            value: if r.tag == "TITER" {
                2.0 * r.value
            } else {
                r.value
            },
            ..r.clone()
        })
        .collect();
    write_export(&dir.path().join("export-b.csv"), &doubled);
    let tenants = format!(
        "[[tenants]]\nid = \"sponsor-a\"\ntoken_sha256 = \"{}\"\n\n\
         [[tenants]]\nid = \"sponsor-b\"\ntoken_sha256 = \"{}\"\n",
        token_sha256_hex(TOKEN_A),
        token_sha256_hex(TOKEN_B)
    );
    let zeros = format!(
        "[[tenants]]\nid = \"sponsor-a\"\ntoken_sha256 = \"{}\"\n",
        "0".repeat(64)
    );
    let mut text = site_text("g/L");
    assert!(text.contains(&zeros));
    text = text.replace(&zeros, &tenants);
    text.push_str(
        r#"
[[batches]]
id = "B2"
tenant = "sponsor-b"
unit = "BR2"
start = "2025-01-01T00:00:00Z"
planned_end = "2025-01-03T00:00:00Z"
process = "process.toml"
predictor = "mechanistic"

[[sources]]
kind = "replay"
path = "export-b.csv"
format = "long"
unit = "BR2"
"#,
    );
    let p = dir.path().join("site.toml");
    std::fs::write(&p, text).unwrap();
    (dir, p)
}

fn tenants_of(site: &Path) -> Vec<(String, String)> {
    SiteConfig::read(site)
        .unwrap()
        .tenants
        .into_iter()
        .map(|t| (t.id, t.token_sha256))
        .collect()
}

async fn get(app: &axum::Router, uri: &str, token: Option<&str>) -> (StatusCode, String, String) {
    let mut req = Request::get(uri);
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let ctype = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, ctype, String::from_utf8(body.to_vec()).unwrap())
}

fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("{e}: {s}"))
}

#[tokio::test]
async fn the_router_over_a_live_runs_store_keeps_tenants_apart() {
    let (_dir, site) = two_tenant_site();
    let run = run_site(&site, TrendFactory::new(LOWER_SPEC), None);
    assert_accounted(&run.stats);
    let store: Arc<dyn Store> = run.store.clone();
    let app = router(store.clone(), tenants_of(&site));

    // Tenant A: its batch, with every prediction the engine recorded.
    let (s, _, body) = get(&app, "/api/batches", Some(TOKEN_A)).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let list = json(&body);
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["batch_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["B1"]);
    let stored = store.predictions("sponsor-a", "B1").unwrap();
    // 48 h at one forecast per 6 h.
    assert_eq!(stored.len(), 8);
    assert_eq!(list[0]["n_predictions"], 8);
    assert_eq!(list[0]["finished"], true);

    let (s, _, body) = get(&app, "/api/batches/B1/predictions", Some(TOKEN_A)).await;
    assert_eq!(s, StatusCode::OK);
    let preds = json(&body);
    let preds = preds.as_array().unwrap();
    assert_eq!(preds.len(), 8);
    for (i, p) in preds.iter().enumerate() {
        assert_eq!(p["seq"], i as u64);
        assert_eq!(p["model_id"], "linear-trend:titer@1");
        assert_eq!(
            p["input_sha256"].as_str().unwrap(),
            stored[i].input_sha256.as_str()
        );
    }
    // The last forecast of the end titer is the trend's, near the truth.
    let last = &preds[7]["forecast"]["cqas"][0];
    assert_eq!(last["name"], "titer_end");
    let mean = last["mean"].as_f64().unwrap();
    assert!(
        (mean - titer_at(HOURS)).abs() < 0.05,
        "end titer {mean} vs {}",
        titer_at(HOURS)
    );
    assert!(last["p05"].as_f64().unwrap() < mean && mean < last["p95"].as_f64().unwrap());

    let (s, _, body) = get(&app, "/api/batches/B1/readings?tag=TITER", Some(TOKEN_A)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(json(&body).as_array().unwrap().len(), 8);

    // The plot: a band with two points per prediction (p95 forward, p05 back).
    let (s, ctype, svg) = get(&app, "/api/batches/B1/plot/titer_end.svg", Some(TOKEN_A)).await;
    assert_eq!(s, StatusCode::OK, "{svg}");
    assert!(ctype.starts_with("image/svg+xml"), "{ctype}");
    let band = svg
        .split("class=\"band\" points=\"")
        .nth(1)
        .expect("no band in the plot")
        .split('"')
        .next()
        .unwrap();
    assert_eq!(band.split_whitespace().count(), 16, "{band}");

    // Tenant B sees its own B2 (doubled titer), and A's B1 as nothing at all.
    let (s, _, body) = get(&app, "/api/batches", Some(TOKEN_B)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(json(&body)[0]["batch_id"], "B2");
    assert_eq!(json(&body).as_array().unwrap().len(), 1);
    let (_, _, body) = get(&app, "/api/batches/B2/predictions", Some(TOKEN_B)).await;
    let b_mean = json(&body)[7]["forecast"]["cqas"][0]["mean"]
        .as_f64()
        .unwrap();
    assert!(
        (b_mean - 2.0 * mean).abs() < 1e-6 * mean,
        "{b_mean} vs 2 x {mean}"
    );
    for tail in [
        "",
        "/predictions",
        "/readings",
        "/readings?tag=TITER",
        "/plot/titer_end.svg",
    ] {
        for (token, theirs) in [(TOKEN_B, "B1"), (TOKEN_A, "B2")] {
            let other = get(&app, &format!("/api/batches/{theirs}{tail}"), Some(token)).await;
            let none = get(&app, &format!("/api/batches/NOPE-9{tail}"), Some(token)).await;
            assert_eq!(other.0, StatusCode::NOT_FOUND, "{theirs}{tail}");
            assert_eq!(other, none, "{theirs}{tail}");
        }
        // No token, or one no tenant has: 401 before the batch is looked at.
        for token in [None, Some("not-a-token")] {
            let (s, _, body) = get(&app, &format!("/api/batches/B1{tail}"), token).await;
            assert_eq!(s, StatusCode::UNAUTHORIZED, "B1{tail}");
            assert!(!body.contains("B1"), "{body}");
        }
    }
    let (s, _, _) = get(&app, "/api/batches", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

/// `biotwin serve` as a child process; killed when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_serve(site: &Path) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_biotwin"))
        .args(["serve", "--config"])
        .arg(site)
        .args(["--addr", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    // "serve: site NAME (...) on http://ADDR/ - Ctrl-C stops"
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|s| s.split('/').next())
        .unwrap_or_else(|| panic!("no address in `{line}`"))
        .parse()
        .unwrap();
    Server { child, addr }
}

/// One HTTP/1.1 GET over a plain socket: (status, body).
fn http_get(addr: SocketAddr, path: &str, token: Option<&str>) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let (head, body) = resp.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, body.to_string())
}

#[test]
fn biotwin_serve_answers_over_tcp_while_an_engine_writes_the_store() {
    let (_dir, site) = two_tenant_site();
    let cfg = SiteConfig::read(&site).unwrap();
    // The server refuses a store that no run has made yet.
    let out = Command::new(env!("CARGO_BIN_EXE_biotwin"))
        .args(["serve", "--config"])
        .arg(&site)
        .args(["--addr", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("store.path"), "{err}");

    // An empty store, then the server on it, then the engine filling it.
    drop(SqliteStore::open(&cfg.store_path).unwrap());
    let server = start_serve(&site);
    let addr = server.addr;
    let (s, body) = http_get(addr, "/api/health", None);
    assert_eq!(s, 200, "{body}");
    assert_eq!(json(&body)["status"], "ok");
    let (s, _) = http_get(addr, "/api/batches/B1", Some(TOKEN_A));
    assert_eq!(s, 404, "no batch yet");

    // A reader polls while the engine (this process, its own connection)
    // writes: every answer is 404 (not yet) or 200, never an error.
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut answers = Vec::new();
            while !done.load(Ordering::Relaxed) {
                answers.push(http_get(addr, "/api/batches/B1/predictions", Some(TOKEN_A)));
            }
            answers
        })
    };
    // Paced (48 h of batch in about 0.6 s) so that the reads interleave with
    // the writes; correctness does not depend on how they interleave.
    let paced = cfg
        .sources
        .iter()
        .map(|s| (open_source(s, 300_000.0).unwrap(), s.unit.clone()))
        .collect();
    let run = run_site(&site, TrendFactory::new(LOWER_SPEC), Some(paced));
    done.store(true, Ordering::Relaxed);
    let answers = reader.join().unwrap();
    assert!(!answers.is_empty());
    let partial = answers
        .iter()
        .filter(|(s, b)| *s == 200 && json(b).as_array().unwrap().len() < 8)
        .count();
    eprintln!(
        "{} reads during the run, {partial} of them saw a run in progress",
        answers.len()
    );
    for (s, body) in &answers {
        assert!(*s == 200 || *s == 404, "{s}: {body}");
        if *s == 200 {
            // A consistent prefix of the predictions: seq 0, 1, 2, ...
            let preds = json(body);
            for (i, p) in preds.as_array().unwrap().iter().enumerate() {
                assert_eq!(p["seq"], i as u64);
            }
        }
    }

    // After the run the server shows everything the engine recorded.
    let stored = run.store.predictions("sponsor-a", "B1").unwrap();
    assert_eq!(stored.len(), 8);
    let (s, body) = http_get(addr, "/api/batches/B1/predictions", Some(TOKEN_A));
    assert_eq!(s, 200);
    let preds = json(&body);
    assert_eq!(preds.as_array().unwrap().len(), 8);
    assert_eq!(
        preds[7]["input_sha256"].as_str().unwrap(),
        stored[7].input_sha256
    );
    let (s, body) = http_get(addr, "/api/batches/B1", Some(TOKEN_B));
    assert_eq!((s, body.as_str()), (404, r#"{"error":"not found"}"#));
    let (s, _) = http_get(addr, "/api/batches", None);
    assert_eq!(s, 401);
    let (s, body) = http_get(addr, "/", None);
    assert_eq!(s, 200);
    assert!(body.contains("<section id=\"login\""), "{body}");
    assert!(!body.contains("B1"), "the page itself holds no data");
}

#[test]
fn live_serve_on_a_port_in_use_fails_before_recording_anything() {
    let (_dir, site) = two_tenant_site();
    let cfg = SiteConfig::read(&site).unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_biotwin"))
        .args(["live", "--once", "--config"])
        .arg(&site)
        .arg("--serve")
        .arg(addr.to_string())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(&format!("listen address {addr}")), "{err}");
    // The engine never started: no batch, no audit entry.
    let store = SqliteStore::open(&cfg.store_path).unwrap();
    assert!(store.batches("sponsor-a").unwrap().is_empty());
    assert!(store.audit().unwrap().is_empty());
}
