//! Web service limits (issue 14, item 9): a client that never finishes its
//! headers is let go, others are served meanwhile; list endpoints are
//! paged and bounded; a corrupt record is skipped, not a 500 for the list;
//! every response says `nosniff` and carries a CSP.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use biotwin_live::sqlite_store::SqliteStore;
use biotwin_live::web::auth::token_sha256_hex;
use biotwin_live::web::background::{Background, spawn};
use biotwin_live::{BatchInfo, CqaForecast, Forecast, PredictionRecord, Quality, Reading, Store};

const TOKEN_A: &str = "token-of-sponsor-a-0123456789";
const TOKEN_B: &str = "token-of-sponsor-b-9876543210";

fn server() -> (tempfile::TempDir, Arc<SqliteStore>, Background) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("s.sqlite")).unwrap());
    for (t, b) in [("sponsor-a", "A1"), ("sponsor-b", "B1")] {
        store
            .upsert_batch(&BatchInfo {
                tenant: t.into(),
                batch_id: b.into(),
                unit: "BR1".into(),
                start_unix_s: 0.0,
                end_unix_s: 1.0e6,
                finished: false,
            })
            .unwrap();
    }
    let readings: Vec<Reading> = (0..12_000)
        .map(|i| Reading {
            tag: if i % 2 == 0 { "ph" } else { "do" }.into(),
            time_unix_s: i as f64,
            available_unix_s: None,
            value: 7.0,
            quality: Quality::Good,
        })
        .collect();
    store.insert_readings("sponsor-a", "A1", &readings).unwrap();
    for seq in 0..3 {
        store
            .insert_prediction(&PredictionRecord {
                tenant: "sponsor-a".into(),
                batch_id: "A1".into(),
                seq,
                model_id: "m@1".into(),
                input_sha256: format!("{seq:064x}"),
                created_unix_s: 1.0,
                forecast: Forecast {
                    time_s: 3600.0 * seq as f64,
                    cqas: vec![CqaForecast {
                        name: "titer_g_per_l".into(),
                        mean: 2.0,
                        p05: 1.8,
                        p95: 2.2,
                        lower_spec: Some(1.0),
                        upper_spec: None,
                        p_in_spec: Some(0.99),
                    }],
                    state: vec![],
                },
            })
            .unwrap();
    }
    let tenants = vec![
        ("sponsor-a".to_string(), token_sha256_hex(TOKEN_A)),
        ("sponsor-b".to_string(), token_sha256_hex(TOKEN_B)),
    ];
    let bg = spawn("127.0.0.1:0".parse().unwrap(), store.clone(), tenants).unwrap();
    (dir, store, bg)
}

/// One GET with `Connection: close`: (status, headers lower-cased, body).
fn get(addr: SocketAddr, path: &str, token: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).unwrap_or("0").parse().unwrap_or(0);
    // Chunked bodies: take the JSON between the first chunk size and the end.
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    (status, head.to_ascii_lowercase(), body)
}

fn dechunk(mut b: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = b.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        b = &rest[n + 2..];
    }
    out
}

fn header(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|l| {
        l.strip_prefix(&format!("{name}: "))
            .map(|v| v.trim().to_string())
    })
}

#[test]
fn a_client_that_never_finishes_its_headers_is_let_go_and_others_are_served() {
    let (_d, _s, bg) = server();
    let addr = bg.addr();
    let mut slow: Vec<TcpStream> = (0..50)
        .map(|_| {
            let mut c = TcpStream::connect(addr).unwrap();
            c.write_all(b"GET /api/health HTTP/1.1\r\nHost: x\r\n")
                .unwrap();
            c
        })
        .collect();
    // Meanwhile others are answered.
    let (code, _, body) = get(addr, "/api/health", TOKEN_A);
    assert_eq!(code, 200, "{body}");
    // The server closes each slow connection (EOF or reset) on its own;
    // the 60 s client timeout is only there so a failure cannot hang.
    for c in &mut slow {
        c.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let mut buf = [0u8; 1024];
        match c.read(&mut buf) {
            Ok(n) => {
                // Closed, or a 408 before closing.
                let text = String::from_utf8_lossy(&buf[..n]);
                assert!(n == 0 || text.starts_with("HTTP/1.1 408"), "{text}");
            }
            Err(e) => assert!(
                e.kind() == std::io::ErrorKind::ConnectionReset,
                "the server did not let the slow client go: {e}"
            ),
        }
    }
}

#[test]
fn every_response_says_nosniff_and_carries_a_csp() {
    let (_d, _s, bg) = server();
    for (path, token) in [
        ("/api/health", TOKEN_A),
        ("/api/batches", TOKEN_A),
        ("/api/batches/A1/plot/titer_g_per_l.svg", TOKEN_A),
        ("/api/batches/A1", "wrong"),
        ("/no/such/thing", TOKEN_A),
        ("/", TOKEN_A),
    ] {
        let (code, head, _) = get(bg.addr(), path, token);
        assert!(code > 0, "{path}");
        assert_eq!(
            header(&head, "x-content-type-options").as_deref(),
            Some("nosniff"),
            "{path}: {head}"
        );
        assert!(
            header(&head, "content-security-policy").is_some(),
            "{path}: {head}"
        );
    }
}

#[test]
fn list_endpoints_are_paged_and_bounded() {
    let (_d, _s, bg) = server();
    let a = bg.addr();
    let (code, head, body) = get(a, "/api/batches/A1/readings", TOKEN_A);
    assert_eq!(code, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 5000);
    assert_eq!(header(&head, "x-total-count").as_deref(), Some("12000"));
    assert_eq!(header(&head, "x-next-offset").as_deref(), Some("5000"));
    let (_, head, body) = get(a, "/api/batches/A1/readings?offset=10000", TOKEN_A);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2000);
    assert_eq!(v[0]["time_unix_s"], 10000.0);
    assert_eq!(header(&head, "x-next-offset"), None);
    let (_, head, body) = get(
        a,
        "/api/batches/A1/readings?tag=do&limit=10&offset=5",
        TOKEN_A,
    );
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 10);
    assert_eq!(v[0]["time_unix_s"], 11.0);
    assert_eq!(header(&head, "x-total-count").as_deref(), Some("6000"));
    for bad in [
        "limit=0",
        "limit=5001",
        "limit=x",
        "offset=-1",
        "colour=red",
    ] {
        let (code, _, body) = get(a, &format!("/api/batches/A1/readings?{bad}"), TOKEN_A);
        assert_eq!(code, 400, "{bad}: {body}");
    }
    // Another tenant's batch is still not found, paged or not.
    let (code, _, _) = get(a, "/api/batches/A1/readings?limit=10", TOKEN_B);
    assert_eq!(code, 404);
}

#[test]
fn a_corrupt_prediction_is_skipped_not_a_500_for_the_list() {
    let (d, _s, bg) = server();
    let c = rusqlite::Connection::open(d.path().join("s.sqlite")).unwrap();
    c.execute(
        "UPDATE predictions SET forecast_json = '{' WHERE seq = 1",
        [],
    )
    .unwrap();
    let (code, _, body) = get(bg.addr(), "/api/batches", TOKEN_A);
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v[0]["n_predictions"], 2, "{body}");
    let (code, _, body) = get(bg.addr(), "/api/batches/A1/predictions", TOKEN_A);
    assert_eq!(code, 200, "{body}");
}

/// A GET carrying the stage-trace header; the status.
fn get_traced(addr: SocketAddr, path: &str, token: &str, trace: u64) -> u16 {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n{}: {trace}\r\nConnection: close\r\n\r\n",
        biotwin_live::web::stages::TRACE_HEADER
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out.split(' ').nth(1).unwrap().parse().unwrap()
}

/// The bulk lane (`web::bulk`): a page of 5,000 readings is read and
/// serialised on a thread 10 nice levels below the server's, while a 100-reading page, the batch
/// list and a batch's predictions run at the server's normal priority.
/// Counted from the server's own stage records (which lane, which
/// niceness), not timed.
#[test]
fn a_bulk_page_is_built_on_a_low_priority_thread_and_light_requests_are_not() {
    use biotwin_live::web::bulk::{LIGHT_ITEMS, bulk_nice};
    use biotwin_live::web::stages::{self, Lane};
    let (_d, _s, bg) = server();
    stages::enable();
    let base = 0xB01C_0000_0000u64;
    let asks = [
        ("/api/batches/A1/readings?limit=5000", Lane::Bulk),
        ("/api/batches/A1/readings?limit=100", Lane::Light),
        ("/api/batches/A1/readings", Lane::Bulk),
        (
            &*format!("/api/batches/A1/readings?limit={LIGHT_ITEMS}"),
            Lane::Light,
        ),
        ("/api/batches", Lane::Light),
        ("/api/batches/A1/predictions", Lane::Light),
    ];
    for (k, (path, _)) in asks.iter().enumerate() {
        assert_eq!(
            get_traced(bg.addr(), path, TOKEN_A, base + k as u64),
            200,
            "{path}"
        );
    }
    // Other tests of this binary may record samples meanwhile: only ours.
    let ours: Vec<_> = stages::drain()
        .into_iter()
        .filter(|s| s.trace_id.is_some_and(|t| (base..base + 100).contains(&t)))
        .collect();
    assert_eq!(ours.len(), asks.len());
    let normal = biotwin_live::web::bulk::current_nice();
    // The batch view's data freshness comes from the store's SQL maximum
    // now (readings 0 .. 11,999 s of A1; none of B1).
    let (code, _, body) = get(bg.addr(), "/api/batches/A1", TOKEN_A);
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["last_data_unix_s"], 11999.0, "{body}");
    let (_, _, body) = get(bg.addr(), "/api/batches/B1", TOKEN_B);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(v["last_data_unix_s"].is_null(), "{body}");
    for s in ours {
        let (path, lane) = asks[(s.trace_id.unwrap() - base) as usize];
        assert_eq!(s.lane, Some(lane), "{path}");
        assert_eq!(s.tenant.as_deref(), Some("sponsor-a"), "{path}");
        if cfg!(target_os = "linux") {
            let want = match lane {
                Lane::Bulk => normal.map(bulk_nice),
                Lane::Light => normal,
            };
            assert_eq!(s.work_nice, want, "{path}");
            assert!(normal.is_some_and(|n| n < 19), "niceness {normal:?}");
        }
    }
}

/// The server's async workers give themselves their own OS thread name
/// (`background::ASYNC_WORKER_NAME`) when they first go idle, so that the
/// load benchmark can tell their CPU time (parsing, routing, the socket
/// writes of the answers) from that of the blocking threads, which keep
/// `biotwin-web`. Counted from `/proc/self/task/*/comm`.
#[cfg(target_os = "linux")]
#[test]
fn the_async_workers_of_the_server_name_themselves() {
    use biotwin_live::web::background::ASYNC_WORKER_NAME;
    let names = || -> Vec<String> {
        std::fs::read_dir("/proc/self/task")
            .unwrap()
            .flatten()
            .filter_map(|e| std::fs::read_to_string(e.path().join("comm")).ok())
            .map(|n| n.trim().to_string())
            .collect()
    };
    let (_d, _s, bg) = server();
    let (code, _, body) = get(bg.addr(), "/api/batches", TOKEN_A);
    assert_eq!(code, 200, "{body}");
    // A worker names itself on its first park, just after it answered.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let n = names();
        if n.iter().any(|n| n == ASYNC_WORKER_NAME) {
            assert!(n.iter().any(|n| n == "biotwin-web"), "{n:?}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{n:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
