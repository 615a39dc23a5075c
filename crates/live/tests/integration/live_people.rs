//! People, roles and electronic signatures: the authorization matrix
//! (every endpoint x every role x own/other tenant, the same table as
//! docs/part11.md), signed acknowledgements recorded, shown and verified,
//! lockout, session expiry, API tokens, and an older store migrated
//! forward. Each test of accounts runs on the SQLite store and, as
//! `…_on_postgres`, on the PostgreSQL store (`BIOTWIN_PG_URL`, see
//! `biotwin_live::store_suite::pg_test_db`; skipped without it unless
//! `BIOTWIN_REQUIRE_PG=1`).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use biotwin_live::audit::{record_sha256, verify};
use biotwin_live::sqlite_store::SqliteStore;
use biotwin_live::store_suite::{PgTestDb, pg_test_store};
use biotwin_live::users::{
    Accounts, LOCKOUT_S, MAX_FAILURES, NewUser, Refusal, Role, SESSION_IDLE_S, SESSION_MAX_S, Via,
};
use biotwin_live::web::{auth::token_sha256_hex, router};
use biotwin_live::{Store, audit};
use serde_json::{Value, json};

use super::live_web::{Answer, alert, batch, bearer, call, declared_routes, prediction, reading};
use super::pg_store::{OffRuntime, off};

const SHARED_A: &str = "shared-token-of-sponsor-a-0123";
const SHARED_B: &str = "shared-token-of-sponsor-b-4567";

fn password(user: &str) -> String {
    format!("pw-of-{user}-2026")
}

/// (user id, tenant, full name, role) of every account of the fixture.
const PEOPLE: [(&str, &str, &str, Role); 8] = [
    ("a.viewer", "sponsor-a", "Vera Viewer", Role::SponsorViewer),
    ("a.qa", "sponsor-a", "Anna Lee", Role::QaReviewer),
    ("a.eng", "sponsor-a", "Raj Patel", Role::ProcessEngineer),
    ("a.admin", "sponsor-a", "Ada Admin", Role::Administrator),
    ("b.viewer", "sponsor-b", "Ben Viewer", Role::SponsorViewer),
    ("b.qa", "sponsor-b", "Bea QA", Role::QaReviewer),
    ("b.eng", "sponsor-b", "Bo Engineer", Role::ProcessEngineer),
    ("b.admin", "sponsor-b", "Bob Admin", Role::Administrator),
];

#[derive(Clone, Copy)]
enum Kind {
    Sqlite,
    Pg,
}

struct World {
    _dir: tempfile::TempDir,
    /// The SQLite file (Kind::Sqlite).
    path: std::path::PathBuf,
    /// The database (Kind::Pg).
    pg: Option<PgTestDb>,
    store: Arc<dyn Store>,
    app: Router,
}

impl World {
    fn acc(&self) -> &dyn Accounts {
        self.store.accounts().expect("a store with accounts")
    }
}

/// Sponsor A has A-001 (with an alert) and A-002; sponsor B has B-001 (with
/// an alert); everyone of PEOPLE has an account. On either store; `None`
/// when no PostgreSQL server is given.
fn world_on(kind: Kind) -> Option<World> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("live.sqlite");
    let (s, pg): (Arc<dyn Store>, _) = match kind {
        Kind::Sqlite => (Arc::new(SqliteStore::open(&path).unwrap()), None),
        Kind::Pg => {
            // The blocking driver runs off the async tests' runtime.
            let (db, s) = off(|| pg_test_store("live_people"))?;
            (Arc::new(OffRuntime(s)), Some(db))
        }
    };
    for (t, id) in [
        ("sponsor-a", "A-001"),
        ("sponsor-a", "A-002"),
        ("sponsor-b", "B-001"),
    ] {
        s.upsert_batch(&batch(t, id, false)).unwrap();
        s.insert_prediction(&prediction(t, id, 0, 5.0)).unwrap();
        s.insert_readings(t, id, &[reading("TI-101", 1.7e9, 36.9)])
            .unwrap();
    }
    s.insert_alert(&alert("sponsor-a", "A-001")).unwrap();
    s.insert_alert(&alert("sponsor-b", "B-001")).unwrap();
    for (id, tenant, name, role) in PEOPLE {
        s.accounts()
            .unwrap()
            .add_user(
                &NewUser {
                    user_id: id.into(),
                    tenant: tenant.into(),
                    full_name: name.into(),
                    role,
                },
                &password(id),
                "cli:test",
            )
            .unwrap();
    }
    let tenants = vec![
        ("sponsor-a".to_string(), token_sha256_hex(SHARED_A)),
        ("sponsor-b".to_string(), token_sha256_hex(SHARED_B)),
    ];
    let app = router(s.clone() as Arc<dyn Store>, tenants);
    Some(World {
        _dir: dir,
        path,
        pg,
        store: s,
        app,
    })
}

/// A runtime for the async tests on PostgreSQL, whose world is made and
/// dropped outside it (the blocking driver cannot run on its threads).
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Replaces `Anna Lee` by `Mallory Mole` in audit entry `seq` as stored,
/// behind the store's back; the trail as a store opened again reads it.
fn tamper_signature(w: &World, seq: u64) -> Vec<biotwin_live::AuditEntry> {
    match &w.pg {
        None => {
            let c = rusqlite::Connection::open(&w.path).unwrap();
            let n = c
                .execute(
                    "UPDATE audit SET entry_json = replace(entry_json, 'Anna Lee', 'Mallory Mole') WHERE seq = ?1",
                    [seq as i64],
                )
                .unwrap();
            assert_eq!(n, 1);
            SqliteStore::open_existing(&w.path)
                .unwrap()
                .audit()
                .unwrap()
        }
        Some(db) => off(|| {
            let mut c = postgres::Client::connect(&db.target.url, postgres::NoTls).unwrap();
            let n = c
                .execute(
                    "UPDATE audit SET entry_json = replace(entry_json, 'Anna Lee', 'Mallory Mole') WHERE seq = $1",
                    &[&(seq as i64)],
                )
                .unwrap();
            assert_eq!(n, 1);
            biotwin_live::pg_store::PgStore::open(&db.target)
                .unwrap()
                .audit()
                .unwrap()
        }),
    }
}

/// Every row of `tables` as stored, as text.
fn dump(w: &World, tables: &[&str]) -> String {
    let mut dump = String::new();
    if let Some(db) = &w.pg {
        return off(|| {
            let mut c = postgres::Client::connect(&db.target.url, postgres::NoTls).unwrap();
            for table in tables {
                for r in c
                    .query(&format!("SELECT t::text FROM {table} t"), &[])
                    .unwrap()
                {
                    dump.push_str(r.get::<_, &str>(0));
                }
            }
            dump
        });
    }
    let c = rusqlite::Connection::open(&w.path).unwrap();
    for table in tables {
        let mut st = c.prepare(&format!("SELECT * FROM {table}")).unwrap();
        let n = st.column_count();
        let rows = st
            .query_map([], |r| {
                Ok((0..n)
                    .map(|i| match r.get_ref(i).unwrap() {
                        rusqlite::types::ValueRef::Text(t) => {
                            String::from_utf8_lossy(t).into_owned()
                        }
                        rusqlite::types::ValueRef::Blob(b) => hex::encode(b),
                        other => format!("{other:?}"),
                    })
                    .collect::<Vec<_>>()
                    .join(" "))
            })
            .unwrap();
        for r in rows {
            dump.push_str(&r.unwrap());
        }
    }
    dump
}

async fn login(app: &Router, user: &str) -> String {
    let res = call(
        app,
        "POST",
        "/api/login",
        None,
        &json!({"user": user, "password": password(user)}).to_string(),
    )
    .await;
    assert_eq!(res.status, StatusCode::OK, "{user}: {}", res.text());
    res.json()["token"].as_str().unwrap().to_string()
}

fn sign_body(user: &str, meaning: &str, reason: &str) -> String {
    json!({"password": password(user), "meaning": meaning, "reason": reason}).to_string()
}

/// The principals of the matrix, in the order of its columns.
const COLUMNS: [&str; 6] = [
    "shared token",
    "sponsor viewer",
    "QA reviewer",
    "process engineer",
    "administrator",
    "API token (QA reviewer)",
];
/// The sponsor-a user behind each column (none for the shared token).
const COLUMN_USER: [Option<&str>; 6] = [
    None,
    Some("a.viewer"),
    Some("a.qa"),
    Some("a.eng"),
    Some("a.admin"),
    Some("a.qa"),
];

/// Every endpoint: (method, route, status for the own tenant per column,
/// what another tenant's batch gets). "as nonexistent": the same status,
/// body and headers as a batch id no tenant has; "own only": a list that
/// names nothing of the other tenant's; "-": not about a batch. The same
/// table is in docs/part11.md (checked below).
const MATRIX: [(&str, &str, [u16; 6], &str); 13] = [
    ("GET", "/api/health", [200; 6], "-"),
    ("POST", "/api/login", [401; 6], "-"),
    ("GET", "/api/me", [200; 6], "-"),
    ("GET", "/api/batches", [200; 6], "own only"),
    ("GET", "/api/alerts", [200; 6], "own only"),
    ("GET", "/api/batches/{id}", [200; 6], "as nonexistent"),
    (
        "GET",
        "/api/batches/{id}/predictions",
        [200; 6],
        "as nonexistent",
    ),
    (
        "GET",
        "/api/batches/{id}/readings",
        [200; 6],
        "as nonexistent",
    ),
    (
        "GET",
        "/api/batches/{id}/plot/{file}",
        [200; 6],
        "as nonexistent",
    ),
    (
        "GET",
        "/api/batches/{id}/trajectory.svg",
        [200; 6],
        "as nonexistent",
    ),
    (
        "POST",
        "/api/batches/{id}/alerts/{cqa}/ack",
        [403, 403, 200, 200, 403, 403],
        "as nonexistent",
    ),
    (
        "GET",
        "/api/audit",
        [403, 403, 200, 403, 200, 200],
        "as nonexistent",
    ),
    ("POST", "/api/logout", [200; 6], "-"),
];

fn uri(route: &str, id: &str) -> String {
    route
        .replace("{id}", id)
        .replace("{file}", "titer_g_per_l.svg")
        .replace("{cqa}", "titer_g_per_l")
}

#[test]
fn the_matrix_covers_every_declared_route_and_is_the_table_in_the_docs() {
    // The page's static files (`/`, `/app.js`, `/app.css`) hold no data and
    // need no token (live_web.rs tests them); everything under /api is here.
    let routes: Vec<_> = declared_routes()
        .into_iter()
        .filter(|(_, r)| r.starts_with("/api/"))
        .collect();
    assert!(routes.len() >= 12, "{routes:?}");
    for (m, r) in &routes {
        assert!(
            MATRIX.iter().any(|(mm, rr, _, _)| mm == m && rr == r),
            "{m} {r}: add it to MATRIX (and to docs/part11.md)"
        );
    }
    // The docs' table, row by row: | `METHOD route` | 6 statuses | other |
    let docs =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/part11.md"))
            .unwrap();
    let mut rows = BTreeMap::new();
    for line in docs.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() == 10 && cells[1].starts_with('`') {
            rows.insert(
                cells[1].trim_matches('`').to_string(),
                cells[2..9].join(","),
            );
        }
    }
    assert_eq!(rows.len(), MATRIX.len(), "{rows:?}");
    for (m, r, codes, other) in MATRIX {
        let want = format!("{},{other}", codes.map(|c| c.to_string()).join(","));
        assert_eq!(
            rows.get(&format!("{m} {r}")),
            Some(&want),
            "{m} {r} in docs/part11.md"
        );
    }
}

#[tokio::test]
async fn every_endpoint_every_role_own_and_other_tenant() {
    let w = world_on(Kind::Sqlite).unwrap();
    every_endpoint_every_role_own_and_other_tenant_on(&w).await;
}

#[test]
fn every_endpoint_every_role_own_and_other_tenant_on_postgres() {
    let Some(w) = world_on(Kind::Pg) else {
        return;
    };
    runtime().block_on(every_endpoint_every_role_own_and_other_tenant_on(&w));
}

async fn every_endpoint_every_role_own_and_other_tenant_on(w: &World) {
    // Bearer of each column.
    let mut auth = Vec::new();
    for (k, user) in COLUMN_USER.iter().enumerate() {
        auth.push(match (k, user) {
            (0, _) => bearer(SHARED_A),
            (5, Some(u)) => bearer(&w.acc().issue_token(u, "matrix test", "cli:test").unwrap().1),
            (_, Some(u)) => bearer(&login(&w.app, u).await),
            _ => unreachable!(),
        });
    }
    let mut cells = 0;
    for (method, route, codes, other) in MATRIX {
        for (k, col) in COLUMNS.iter().enumerate() {
            let user = COLUMN_USER[k].unwrap_or("a.qa");
            let body = match (method, route) {
                ("POST", "/api/login") => {
                    json!({"user": user, "password": "not the password"}).to_string()
                }
                ("POST", r) if r.ends_with("/ack") => sign_body(user, "reviewed", "matrix"),
                _ => String::new(),
            };
            let (own_uri, their_uri, none_uri) = if route == "/api/audit" {
                (
                    "/api/audit?batch=A-001".to_string(),
                    "/api/audit?batch=B-001".to_string(),
                    "/api/audit?batch=NO-SUCH".to_string(),
                )
            } else {
                (
                    uri(route, "A-001"),
                    uri(route, "B-001"),
                    uri(route, "NO-SUCH"),
                )
            };
            if other == "as nonexistent" {
                let x = call(&w.app, method, &their_uri, Some(&auth[k]), &body).await;
                let y = call(&w.app, method, &none_uri, Some(&auth[k]), &body).await;
                assert_eq!(
                    (x.status, &x.body, &x.headers),
                    (y.status, &y.body, &y.headers),
                    "{method} {route}, {col}: another tenant's batch vs none"
                );
                // The audit view refuses a role without it before looking at
                // the batch; every other endpoint looks for the batch first.
                let expected = if route == "/api/audit" && codes[k] == 403 {
                    403
                } else {
                    404
                };
                assert_eq!(
                    x.status.as_u16(),
                    expected,
                    "{method} {their_uri}, {col}: {}",
                    x.text()
                );
                cells += 1;
            }
            let res: Answer = call(&w.app, method, &own_uri, Some(&auth[k]), &body).await;
            assert_eq!(
                res.status.as_u16(),
                codes[k],
                "{method} {own_uri} as {col}: {}",
                res.text()
            );
            if other == "own only" {
                let t = res.text();
                assert!(
                    t.contains("A-001") && !t.contains("B-001") && !t.contains("sponsor-b"),
                    "{t}"
                );
            }
            if res.status == StatusCode::FORBIDDEN {
                let msg = res.json()["error"].as_str().unwrap().to_string();
                assert!(
                    msg.contains("may not")
                        || msg.contains("read-only")
                        || msg.contains("API token"),
                    "{msg}"
                );
            }
            cells += 1;
        }
    }
    let per_batch = MATRIX.iter().filter(|r| r.3 == "as nonexistent").count();
    assert_eq!(cells, (MATRIX.len() + per_batch) * COLUMNS.len());
    // What the matrix did is in the chain, and the chain is whole.
    assert!(verify(&w.store.audit().unwrap()).is_ok());
}

#[tokio::test]
async fn a_signature_is_recorded_shown_with_the_alert_and_verified_and_an_altered_one_is_found() {
    let w = world_on(Kind::Sqlite).unwrap();
    a_signature_is_recorded_shown_with_the_alert_and_verified_and_an_altered_one_is_found_on(&w)
        .await;
}

#[test]
fn a_signature_is_recorded_shown_with_the_alert_and_verified_and_an_altered_one_is_found_on_postgres()
 {
    let Some(w) = world_on(Kind::Pg) else {
        return;
    };
    runtime().block_on(
        a_signature_is_recorded_shown_with_the_alert_and_verified_and_an_altered_one_is_found_on(
            &w,
        ),
    );
}

async fn a_signature_is_recorded_shown_with_the_alert_and_verified_and_an_altered_one_is_found_on(
    w: &World,
) {
    let qa = bearer(&login(&w.app, "a.qa").await);
    let uri = "/api/batches/A-001/alerts/titer_g_per_l/ack";
    // Not a signature: each refused, saying what is expected; nothing signed.
    for (body, status, says) in [
        ("{}".to_string(), 400, "meaning"),
        (sign_body("a.qa", "seen", "ok"), 400, "reviewed"),
        (sign_body("a.qa", "reviewed", "  "), 400, "reason"),
        (
            json!({"password": "wrong-password-1", "meaning": "reviewed", "reason": "r"})
                .to_string(),
            403,
            "wrong password",
        ),
    ] {
        let r = call(&w.app, "POST", uri, Some(&qa), &body).await;
        assert_eq!(r.status.as_u16(), status, "{body}: {}", r.text());
        assert!(r.text().contains(says), "{}", r.text());
    }
    assert!(
        w.store.alerts("sponsor-a").unwrap()[0]
            .acknowledged_by
            .is_none()
    );

    let reason = "Trend reviewed with the process engineer; sample re-assay requested";
    let r = call(
        &w.app,
        "POST",
        uri,
        Some(&qa),
        &sign_body("a.qa", "reviewed", reason),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let seq = r.json()["audit_seq"].as_u64().unwrap();
    let sig = &r.json()["alert"]["signature"];
    assert_eq!(sig["full_name"], json!("Anna Lee"));
    assert_eq!(sig["user_id"], json!("a.qa"));
    assert_eq!(sig["role"], json!("qa_reviewer"));
    assert_eq!(sig["meaning"], json!("reviewed"));
    assert_eq!(sig["reason"], json!(reason));
    assert_eq!(sig["audit_seq"], json!(seq));
    assert!(sig["signed_at"].as_str().unwrap().ends_with('Z'));

    // In the chain: the entry names the signer and links the signed record.
    let trail = w.store.audit().unwrap();
    let e = &trail[seq as usize];
    assert_eq!(
        (e.action.as_str(), e.actor.as_str()),
        ("alert.acknowledged", "a.qa")
    );
    assert_eq!(e.tenant.as_deref(), Some("sponsor-a"));
    assert_eq!(e.detail["signature"]["full_name"], json!("Anna Lee"));
    let stored = w.store.alerts("sponsor-a").unwrap()[0].clone();
    assert_eq!(stored.acknowledged_by.as_deref(), Some("Anna Lee (a.qa)"));
    assert_eq!(e.detail["record"]["sha256"], json!(record_sha256(&stored)));
    assert!(verify(&trail).is_ok());
    // The wrong password before is in the trail too.
    assert!(trail.iter().any(|e| e.action == "auth.failed"
        && e.detail["purpose"] == json!("signature")
        && e.detail["reason"] == json!("wrong_password")));

    // Shown with the record wherever the alert is listed.
    let viewer = bearer(&login(&w.app, "a.viewer").await);
    let list = call(&w.app, "GET", "/api/alerts", Some(&viewer), "").await;
    assert_eq!(list.json()[0]["signature"]["full_name"], json!("Anna Lee"));
    let one = call(&w.app, "GET", "/api/batches/A-001", Some(&viewer), "").await;
    assert_eq!(
        one.json()["alerts"][0]["signature"]["meaning"],
        json!("reviewed")
    );
    // A second signer changes nothing: the first signature stands.
    let eng = bearer(&login(&w.app, "a.eng").await);
    let again = call(
        &w.app,
        "POST",
        uri,
        Some(&eng),
        &sign_body("a.eng", "approved", "x"),
    )
    .await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.json()["audit_seq"], Value::Null);
    assert_eq!(again.json()["alert"]["signature"]["user_id"], json!("a.qa"));

    // The QA reviewer's audit view shows the signature; B's sees nothing of A.
    let view = call(&w.app, "GET", "/api/audit?batch=A-001", Some(&qa), "").await;
    assert_eq!(view.status, StatusCode::OK);
    assert_eq!(view.headers["x-audit-chain"], "intact");
    assert_eq!(
        view.json()[0]["detail"]["signature"]["user_id"],
        json!("a.qa")
    );
    let b_admin = bearer(&login(&w.app, "b.admin").await);
    let b_view = call(&w.app, "GET", "/api/audit", Some(&b_admin), "").await;
    assert!(!b_view.text().contains("sponsor-a") && !b_view.text().contains("Anna Lee"));

    // Altering the signature in the stored entry is found at that entry.
    let broken = verify(&tamper_signature(w, seq)).unwrap_err();
    assert_eq!(broken.index, seq as usize);
    assert!(broken.reason.contains("altered"), "{broken}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_signatures_record_one_audit_entry() {
    let w = world_on(Kind::Sqlite).unwrap();
    simultaneous_signatures_record_one_audit_entry_on(&w).await;
}

#[test]
fn simultaneous_signatures_record_one_audit_entry_on_postgres() {
    let Some(w) = world_on(Kind::Pg) else {
        return;
    };
    runtime().block_on(simultaneous_signatures_record_one_audit_entry_on(&w));
}

async fn simultaneous_signatures_record_one_audit_entry_on(w: &World) {
    let uri = "/api/batches/A-001/alerts/titer_g_per_l/ack";
    let mut calls = Vec::new();
    for user in ["a.qa", "a.eng", "a.qa", "a.eng"] {
        let token = bearer(&login(&w.app, user).await);
        let app = w.app.clone();
        calls.push(tokio::spawn(async move {
            call(
                &app,
                "POST",
                uri,
                Some(&token),
                &sign_body(user, "reviewed", "both at once"),
            )
            .await
        }));
    }
    let mut recorded = 0;
    for c in calls {
        let r = c.await.unwrap();
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        recorded += usize::from(!r.json()["audit_seq"].is_null());
    }
    assert_eq!(recorded, 1);
    let acks: Vec<_> = w
        .store
        .audit()
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "alert.acknowledged")
        .collect();
    assert_eq!(acks.len(), 1);
    let by = w.store.alerts("sponsor-a").unwrap()[0]
        .acknowledged_by
        .clone()
        .unwrap();
    assert!(
        by.ends_with(&format!("({})", acks[0].actor)),
        "{by} vs {}",
        acks[0].actor
    );
}

#[tokio::test]
async fn five_wrong_passwords_lock_and_every_refusal_reads_the_same() {
    let w = world_on(Kind::Sqlite).unwrap();
    five_wrong_passwords_lock_and_every_refusal_reads_the_same_on(&w).await;
}

#[test]
fn five_wrong_passwords_lock_and_every_refusal_reads_the_same_on_postgres() {
    let Some(w) = world_on(Kind::Pg) else {
        return;
    };
    runtime().block_on(five_wrong_passwords_lock_and_every_refusal_reads_the_same_on(&w));
}

async fn five_wrong_passwords_lock_and_every_refusal_reads_the_same_on(w: &World) {
    let s = w.acc();
    let t0 = 2.0e9;
    for left in (1..MAX_FAILURES).rev() {
        let r = s
            .check_password("a.qa", "nope-nope-nope", "login", t0)
            .unwrap();
        assert_eq!(r.unwrap_err(), Refusal::WrongPassword { left });
    }
    let r = s
        .check_password("a.qa", "nope-nope-nope", "login", t0)
        .unwrap();
    assert_eq!(
        r.unwrap_err(),
        Refusal::Locked {
            until_unix_s: t0 + LOCKOUT_S
        }
    );
    // Locked: even the right password is refused until the lock runs out.
    let r = s
        .check_password("a.qa", &password("a.qa"), "login", t0 + 60.0)
        .unwrap();
    assert!(matches!(r, Err(Refusal::Locked { .. })));
    let r = s
        .check_password("a.qa", &password("a.qa"), "login", t0 + LOCKOUT_S + 1.0)
        .unwrap();
    assert_eq!(r.unwrap().user_id, "a.qa");
    let trail = w.store.audit().unwrap();
    assert_eq!(
        trail.iter().filter(|e| e.action == "user.locked").count(),
        1
    );

    // Over the web: a locked, a disabled, an unknown account and a wrong
    // password all get the same 401 and body (nothing tells which).
    for _ in 0..MAX_FAILURES {
        call(
            &w.app,
            "POST",
            "/api/login",
            None,
            &json!({"user": "a.eng", "password": "wrong-wrong-1"}).to_string(),
        )
        .await;
    }
    s.set_disabled("a.viewer", true, "cli:test").unwrap();
    let mut bodies = Vec::new();
    for (user, pw) in [
        ("a.eng", password("a.eng")),
        ("a.viewer", password("a.viewer")),
        ("nobody", "whatever-123".to_string()),
        ("a.admin", "wrong-wrong-1".to_string()),
    ] {
        let r = call(
            &w.app,
            "POST",
            "/api/login",
            None,
            &json!({"user": user, "password": pw}).to_string(),
        )
        .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{user}");
        bodies.push(r.body);
    }
    assert!(bodies.windows(2).all(|b| b[0] == b[1]));
    // A new password unlocks.
    s.set_password("a.eng", "a-brand-new-password", "cli:test")
        .unwrap();
    let r = call(
        &w.app,
        "POST",
        "/api/login",
        None,
        &json!({"user": "a.eng", "password": "a-brand-new-password"}).to_string(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(verify(&w.store.audit().unwrap()).is_ok());
}

#[test]
fn sessions_expire_tokens_are_kept_hashed_and_revocable() {
    sessions_expire_tokens_are_kept_hashed_and_revocable_on(&world_on(Kind::Sqlite).unwrap());
}

#[test]
fn sessions_expire_tokens_are_kept_hashed_and_revocable_on_postgres() {
    if let Some(w) = world_on(Kind::Pg) {
        sessions_expire_tokens_are_kept_hashed_and_revocable_on(&w);
    }
}

fn sessions_expire_tokens_are_kept_hashed_and_revocable_on(w: &World) {
    let s = w.acc();
    let t0 = 2.0e9;
    let (token, p) = s.login("a.qa", &password("a.qa"), t0).unwrap().unwrap();
    assert_eq!((p.via, p.role), (Via::Session, Role::QaReviewer));
    assert!(s.resolve(&token, t0 + 60.0).unwrap().is_some());
    // Idle longer than SESSION_IDLE_S: gone.
    assert!(
        s.resolve(&token, t0 + 60.0 + SESSION_IDLE_S + 1.0)
            .unwrap()
            .is_none()
    );
    // Used every 20 min: alive until SESSION_MAX_S after sign-in, not after.
    let (token, _) = s.login("a.qa", &password("a.qa"), t0).unwrap().unwrap();
    let mut t = t0;
    while t + 1200.0 < t0 + SESSION_MAX_S {
        t += 1200.0;
        assert!(s.resolve(&token, t).unwrap().is_some(), "at {}", t - t0);
    }
    assert!(
        s.resolve(&token, t0 + SESSION_MAX_S + 1.0)
            .unwrap()
            .is_none()
    );

    // API tokens: work until revoked; a disabled user's stop too.
    let (id, api) = s
        .issue_token("a.eng", "historian bridge", "cli:test")
        .unwrap();
    let p = s.resolve(&api, t0).unwrap().unwrap();
    assert_eq!((p.via, p.tenant.as_str()), (Via::ApiToken, "sponsor-a"));
    s.revoke_token(&id, "cli:test").unwrap();
    assert!(s.resolve(&api, t0).unwrap().is_none());
    let (_, api2) = s
        .issue_token("a.admin", "audit export", "cli:test")
        .unwrap();
    s.set_disabled("a.admin", true, "cli:test").unwrap();
    assert!(s.resolve(&api2, t0).unwrap().is_none());

    // Nothing stored is a token or a password.
    let dump = dump(w, &["users", "sessions", "api_tokens", "audit"]);
    for secret in [
        token.as_str(),
        api.as_str(),
        api2.as_str(),
        &password("a.qa"),
    ] {
        assert!(!dump.contains(secret), "{secret} is stored");
    }
    assert!(dump.contains("$argon2id$"));
    let listed = s.tokens(None).unwrap();
    assert_eq!(listed.len(), 2);
    assert!(
        listed
            .iter()
            .any(|t| t.token_id == id && t.revoked_unix_s.is_some())
    );
}

/// The schema of a live store before accounts (and before the record
/// ledger): such a store must open, gain the account tables, keep its
/// records and its chain, and say so in the trail.
#[test]
fn a_store_from_before_accounts_opens_migrated_forward() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.sqlite");
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(
            "CREATE TABLE batches (tenant TEXT NOT NULL, batch_id TEXT NOT NULL, unit TEXT NOT NULL,
                start_unix_s REAL NOT NULL, end_unix_s REAL NOT NULL, finished INTEGER NOT NULL,
                PRIMARY KEY (tenant, batch_id));
             CREATE TABLE readings (id INTEGER PRIMARY KEY, tenant TEXT NOT NULL, batch_id TEXT NOT NULL,
                tag TEXT NOT NULL, time_unix_s REAL NOT NULL, available_unix_s REAL,
                value REAL NOT NULL, quality TEXT NOT NULL,
                UNIQUE (tenant, batch_id, tag, time_unix_s, value));
             CREATE TABLE predictions (tenant TEXT NOT NULL, batch_id TEXT NOT NULL, seq INTEGER NOT NULL,
                model_id TEXT NOT NULL, input_sha256 TEXT NOT NULL, created_unix_s REAL NOT NULL,
                forecast_json TEXT NOT NULL, PRIMARY KEY (tenant, batch_id, seq));
             CREATE TABLE alerts (tenant TEXT NOT NULL, batch_id TEXT NOT NULL, cqa TEXT NOT NULL,
                first_predicted_s REAL NOT NULL, p_in_spec REAL NOT NULL, threshold REAL NOT NULL,
                acknowledged_by TEXT, PRIMARY KEY (tenant, batch_id, cqa));
             CREATE TABLE audit (seq INTEGER PRIMARY KEY, entry_json TEXT NOT NULL);
             INSERT INTO batches VALUES ('sponsor-a', 'OLD-1', 'BR1', 1.7e9, 1.8e9, 1);
             INSERT INTO alerts VALUES ('sponsor-a', 'OLD-1', 'titer_g_per_l', 3600.0, 0.5, 0.8, 'qa.jane');",
        )
        .unwrap();
        let e = audit::next_entry(
            None,
            1.7e9,
            "qa.jane",
            Some("sponsor-a"),
            "alert.acknowledged",
            json!({"batch_id": "OLD-1", "cqa": "titer_g_per_l", "via": "web"}),
        );
        c.execute(
            "INSERT INTO audit VALUES (0, ?1)",
            [serde_json::to_string(&e).unwrap()],
        )
        .unwrap();
    }
    let s = SqliteStore::open(&path).unwrap();
    assert_eq!(s.batches("sponsor-a").unwrap().len(), 1);
    assert_eq!(
        s.alerts("sponsor-a").unwrap()[0].acknowledged_by.as_deref(),
        Some("qa.jane")
    );
    let trail = s.audit().unwrap();
    assert_eq!(trail[0].actor, "qa.jane", "the old entry is kept as it was");
    let migrated: Vec<_> = trail
        .iter()
        .filter(|e| e.action == "store.migrated")
        .collect();
    assert_eq!(migrated.len(), 1);
    assert_eq!(
        migrated[0].detail["added_tables"],
        json!(["users", "sessions", "api_tokens"])
    );
    assert!(verify(&trail).is_ok());
    assert!(s.verify_records().unwrap().is_ok());
    // Accounts work on it, and opening again migrates nothing more.
    s.add_user(
        &NewUser {
            user_id: "qa.anna".into(),
            tenant: "sponsor-a".into(),
            full_name: "Anna Lee".into(),
            role: Role::QaReviewer,
        },
        "anna-password-1",
        "cli:test",
    )
    .unwrap();
    drop(s);
    let s = SqliteStore::open(&path).unwrap();
    assert_eq!(s.users(None).unwrap().len(), 1);
    let trail = s.audit().unwrap();
    assert_eq!(
        trail
            .iter()
            .filter(|e| e.action == "store.migrated")
            .count(),
        1
    );
    assert!(verify(&trail).is_ok());
    // An old signature-less acknowledgement is shown without a signature.
    let app = router(
        Arc::new(s) as Arc<dyn Store>,
        vec![("sponsor-a".into(), token_sha256_hex(SHARED_A))],
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let r = rt.block_on(call(
        &app,
        "GET",
        "/api/alerts",
        Some(&bearer(SHARED_A)),
        "",
    ));
    assert_eq!(r.json()[0]["acknowledged_by"], json!("qa.jane"));
    assert_eq!(r.json()[0]["signature"], Value::Null);
}

#[test]
fn simultaneous_wrong_passwords_are_all_counted() {
    simultaneous_wrong_passwords_are_all_counted_on(&world_on(Kind::Sqlite).unwrap());
}

#[test]
fn simultaneous_wrong_passwords_are_all_counted_on_postgres() {
    if let Some(w) = world_on(Kind::Pg) {
        simultaneous_wrong_passwords_are_all_counted_on(&w);
    }
}

fn simultaneous_wrong_passwords_are_all_counted_on(w: &World) {
    let t0 = 2.0e9;
    std::thread::scope(|sc| {
        for _ in 0..MAX_FAILURES {
            let s = w.store.clone();
            sc.spawn(move || {
                s.accounts()
                    .unwrap()
                    .check_password("a.eng", "wrong-in-parallel", "login", t0)
                    .unwrap()
            });
        }
    });
    let r = w
        .acc()
        .check_password("a.eng", &password("a.eng"), "login", t0 + 1.0)
        .unwrap();
    assert!(matches!(r, Err(Refusal::Locked { .. })), "{r:?}");
}

/// Four times the limit of simultaneous wrong passwords: those hashed
/// before the lock was written must not lift it when they are counted
/// (the count used to restart at a lock without asking whether it still
/// ran, leaving the account open to parallel guessing). Found by review.
/// A right password hashed before the lock is refused the same way (the
/// success path re-reads the lock in its transaction); that race is not
/// forced here.
#[test]
fn parallel_attempts_beyond_the_limit_cannot_lift_the_lock() {
    parallel_attempts_beyond_the_limit_cannot_lift_the_lock_on(&world_on(Kind::Sqlite).unwrap());
}

#[test]
fn parallel_attempts_beyond_the_limit_cannot_lift_the_lock_on_postgres() {
    if let Some(w) = world_on(Kind::Pg) {
        parallel_attempts_beyond_the_limit_cannot_lift_the_lock_on(&w);
    }
}

fn parallel_attempts_beyond_the_limit_cannot_lift_the_lock_on(w: &World) {
    let t0 = 2.0e9;
    for round in 0..3 {
        std::thread::scope(|sc| {
            for _ in 0..(4 * MAX_FAILURES) {
                let s = w.store.clone();
                sc.spawn(move || {
                    s.accounts()
                        .unwrap()
                        .check_password("a.eng", "wrong-in-parallel", "login", t0)
                        .unwrap()
                });
            }
        });
        let r = w
            .acc()
            .check_password("a.eng", &password("a.eng"), "login", t0 + 1.0)
            .unwrap();
        assert!(
            matches!(r, Err(Refusal::Locked { .. })),
            "round {round}: {r:?}"
        );
    }
}

#[tokio::test]
async fn the_audit_view_filters_by_time_and_refuses_a_bad_one() {
    let w = world_on(Kind::Sqlite).unwrap();
    the_audit_view_filters_by_time_and_refuses_a_bad_one_on(&w).await;
}

#[test]
fn the_audit_view_filters_by_time_and_refuses_a_bad_one_on_postgres() {
    let Some(w) = world_on(Kind::Pg) else {
        return;
    };
    runtime().block_on(the_audit_view_filters_by_time_and_refuses_a_bad_one_on(&w));
}

async fn the_audit_view_filters_by_time_and_refuses_a_bad_one_on(w: &World) {
    let qa = bearer(&login(&w.app, "a.qa").await);
    let all = call(&w.app, "GET", "/api/audit", Some(&qa), "").await;
    assert_eq!(all.status, StatusCode::OK);
    let n = all.json().as_array().unwrap().len();
    assert!(n >= 5, "user.added x4 and a login: {}", all.text());
    // Newest first.
    let seqs: Vec<u64> = all
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert!(seqs.windows(2).all(|p| p[0] > p[1]), "{seqs:?}");
    let later = call(
        &w.app,
        "GET",
        "/api/audit?since=2999-01-01T00:00:00Z",
        Some(&qa),
        "",
    )
    .await;
    assert_eq!(later.json(), json!([]));
    let bad = call(&w.app, "GET", "/api/audit?since=yesterday", Some(&qa), "").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.text().contains("RFC 3339") && bad.text().contains("yesterday"),
        "{}",
        bad.text()
    );
}
