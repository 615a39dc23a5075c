//! The PostgreSQL store: the store suite (`biotwin_live::store_suite`, the
//! same checks the SQLite store runs), writers in several store objects at
//! once (as several processes would be), schema migrations, credentials
//! kept out of messages, and the copy of a SQLite store with its chains.
//!
//! Needs a server: `BIOTWIN_PG_URL` (see `store_suite`). Without it every
//! test here skips with a message; with `BIOTWIN_REQUIRE_PG=1` (CI) it fails.

use std::sync::Arc;

use biotwin_live::Store;
use biotwin_live::pg_store::{PgStore, PgTarget};
use biotwin_live::sqlite_store::SqliteStore;
use biotwin_live::store_suite::{self as suite, pg_test_db, pg_test_store};
use biotwin_live::users::{Principal, Refusal, User};
use serde_json::json;

#[test]
fn the_store_suite_passes_on_postgres() {
    let dbs = std::sync::Mutex::new(Vec::new());
    if pg_test_db("the_store_suite_passes_on_postgres").is_none() {
        return;
    }
    suite::run_all(&|| {
        let (db, s) = pg_test_store("suite").unwrap();
        dbs.lock().unwrap().push(db);
        s as Arc<dyn Store>
    });
}

#[test]
fn writers_in_several_store_objects_keep_both_chains() {
    let Some((db, first)) = pg_test_store("writers_in_several_store_objects_keep_both_chains")
    else {
        return;
    };
    // Four writers: two on the first object's pool, two on objects of their
    // own (separate connections, as separate processes would have).
    let second = Arc::new(PgStore::open(&db.target).unwrap());
    let third = Arc::new(PgStore::open(&db.target).unwrap());
    let handles: Vec<Arc<dyn Store>> = vec![first.clone(), first.clone(), second, third];
    suite::concurrent_writers_keep_both_chains(handles, &|| first.verify_records().unwrap());
}

#[test]
fn an_unmigrated_database_is_refused_and_migrate_is_idempotent() {
    let Some(db) = pg_test_db("an_unmigrated_database_is_refused_and_migrate_is_idempotent") else {
        return;
    };
    let msg = PgStore::open(&db.target).err().unwrap().to_string();
    assert!(msg.contains("biotwin store migrate"), "{msg}");
    assert!(msg.contains("version 0"), "{msg}");
    let (_, applied) = PgStore::migrate(&db.target).unwrap();
    assert_eq!(applied, vec![1, 2, 3]);
    let (s, applied) = PgStore::migrate(&db.target).unwrap();
    assert!(applied.is_empty());
    assert_eq!(s.schema_version().unwrap(), 3);
    let trail = s.audit().unwrap();
    assert_eq!(
        trail.len(),
        3,
        "one store.migrated entry per migration, not more"
    );
    assert!(trail.iter().all(|e| e.action == "store.migrated"));
    assert_eq!(trail[0].detail["schema_version"], json!(1));
    assert_eq!(trail[1].detail["schema_version"], json!(2));
    assert_eq!(trail[2].detail["schema_version"], json!(3));
    s.verify_records().unwrap().unwrap();
}

#[test]
fn a_password_in_the_url_is_refused_and_never_repeated() {
    let t = PgTarget::new("postgres://bio:s3cret-pw@127.0.0.1:1/site", None);
    let (expected, found) = t.parse().unwrap_err();
    assert!(expected.contains("PGPASSWORD"), "{expected}");
    assert!(!found.contains("s3cret") && !expected.contains("s3cret"));
    let e = PgStore::open(&t).err().unwrap().to_string();
    assert!(!e.contains("s3cret"), "{e}");
    // Unreadable URLs are not echoed either.
    let t = PgTarget::new("postgres://bio:s3cret@[::1/x", None);
    let e = PgStore::open(&t).err().unwrap().to_string();
    assert!(!e.contains("s3cret"), "{e}");
    // A wrong password from the environment fails to connect without
    // being named. (Reaches no server: port 1.)
    let t = PgTarget::new(
        "postgres://bio@127.0.0.1:1/site",
        Some("BIOTWIN_TEST_NO_SUCH_VAR"),
    );
    let e = PgStore::open(&t).err().unwrap().to_string();
    assert!(e.contains("postgres://bio@127.0.0.1:1/site"), "{e}");
}

#[test]
fn an_altered_row_is_found_by_the_record_check() {
    let Some((db, s)) = pg_test_store("an_altered_row_is_found_by_the_record_check") else {
        return;
    };
    s.upsert_batch(&suite::batch("a", "B1")).unwrap();
    s.insert_prediction(&suite::prediction("a", 0, 2.0))
        .unwrap();
    s.insert_readings("a", "B1", &[suite::reading("X", 1.0, 1.0)])
        .unwrap();
    s.verify_records().unwrap().unwrap();
    let mut c = postgres::Client::connect(&db.target.url, postgres::NoTls).unwrap();
    c.batch_execute("UPDATE predictions SET forecast_json = replace(forecast_json, '2.0', '2.5')")
        .unwrap();
    c.batch_execute("UPDATE batches SET tenant = 'b'").unwrap();
    let problems = s.verify_records().unwrap().unwrap_err();
    assert!(
        problems
            .iter()
            .any(|p| p.contains("prediction a/B1 seq 0: altered")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("batch b/B1: has no ledger entry")),
        "{problems:?}"
    );
}

/// The anchor file of a PostgreSQL store: one line per write that moved a
/// chain, each still reached by the chains; deleting the last audit entry
/// with its ledger entry (a consistent, shorter store that the record
/// check cannot see) is found only through the anchor.
#[test]
fn the_anchor_file_finds_a_truncated_postgres_store() {
    let Some((db, s)) = pg_test_store("the_anchor_file_finds_a_truncated_postgres_store") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let anchor = dir.path().join("w1.anchor.jsonl");
    s.set_anchor_path(anchor.clone()).unwrap();
    assert!(s.set_anchor_path(anchor.clone()).is_err());
    s.upsert_batch(&suite::batch("a", "B1")).unwrap();
    s.insert_prediction(&suite::prediction("a", 0, 2.0))
        .unwrap();
    // A duplicate moves no chain and appends no line.
    s.insert_prediction(&suite::prediction("a", 0, 2.0))
        .unwrap();
    s.append_audit(
        "biotwin-live",
        Some("a"),
        "batch.finished",
        json!({"batch": "B1"}),
    )
    .unwrap();
    let lines = std::fs::read_to_string(&anchor).unwrap();
    // The opening line, the batch, the prediction, the audit entry.
    assert_eq!(lines.lines().count(), 4, "{lines}");
    let (ledger, audit) = s.chain_hashes().unwrap();
    let c =
        biotwin_live::ledger::check_anchor_file(&anchor, "live-store", &ledger, &audit).unwrap();
    assert_eq!((c.lines, c.torn.len()), (4, 0));
    assert_eq!(c.latest.ledger_count as usize, ledger.len());
    assert_eq!(c.latest.audit_count as usize, audit.len());
    let mut c = postgres::Client::connect(&db.target.url, postgres::NoTls).unwrap();
    c.batch_execute(
        "DELETE FROM audit WHERE seq = (SELECT MAX(seq) FROM audit);
         DELETE FROM ledger WHERE seq = (SELECT MAX(seq) FROM ledger)",
    )
    .unwrap();
    s.verify_records().unwrap().unwrap();
    biotwin_live::audit::verify(&s.audit().unwrap()).unwrap();
    let (ledger, audit) = s.chain_hashes().unwrap();
    let e = biotwin_live::ledger::check_anchor_file(&anchor, "live-store", &ledger, &audit)
        .unwrap_err();
    assert!(e.contains("truncated"), "{e}");
}

/// A SQLite store with every kind of record.
fn filled_sqlite(path: &std::path::Path) -> SqliteStore {
    let s = SqliteStore::open(path).unwrap();
    s.append_audit("biotwin-live", None, "config.loaded", json!({"site": "x"}))
        .unwrap();
    for t in ["a", "b"] {
        let mut b = suite::batch(t, "B1");
        s.upsert_batch(&b).unwrap();
        s.insert_readings(
            t,
            "B1",
            &[
                suite::reading("X", 3.0, 1.0),
                suite::reading("Y", 1.0, 1.0e-300),
            ],
        )
        .unwrap();
        for seq in 0..3 {
            s.insert_prediction(&suite::prediction(t, seq, 1.0 / 3.0 + seq as f64))
                .unwrap();
        }
        s.insert_alert(&suite::alert(t, "B1", "titer")).unwrap();
        b.finished = true;
        s.upsert_batch(&b).unwrap();
    }
    s.acknowledge_alert_audited(
        "a",
        "B1",
        "titer",
        "qa.anna",
        "qa.anna",
        "alert.acknowledged",
        &|a| json!({"cqa": a.cqa}),
    )
    .unwrap()
    .unwrap();
    s
}

#[test]
fn a_sqlite_store_copied_keeps_its_records_and_both_chains() {
    let Some(db) = pg_test_db("a_sqlite_store_copied_keeps_its_records_and_both_chains") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("site.sqlite");
    let src = filled_sqlite(&path);
    // An account with an API token, a session and a wrong password.
    use biotwin_live::users::{Accounts, NewUser, Role, Via};
    let pw = "anna-password-2026";
    src.add_user(
        &NewUser {
            user_id: "qa.anna".into(),
            tenant: "a".into(),
            full_name: "Anna Lee".into(),
            role: Role::QaReviewer,
        },
        pw,
        "cli:test",
    )
    .unwrap();
    let (_, api) = src.issue_token("qa.anna", "LIMS", "cli:test").unwrap();
    let now = biotwin_live::users::now_unix_s();
    let (session, _) = src.login("qa.anna", pw, now).unwrap().unwrap();
    assert!(
        src.check_password("qa.anna", "not-it-at-all", "login", now)
            .unwrap()
            .is_err()
    );
    let (pg, copied) = biotwin_live::store_copy::sqlite_to_pg(&path, &db.target).unwrap();
    assert_eq!(
        (
            copied.accounts,
            copied.api_tokens,
            copied.sessions_not_copied
        ),
        (1, 1, 1)
    );
    // The account as it was (one failure counted), its token valid, its
    // password the same; the session is not carried over.
    assert_eq!(pg.users(None).unwrap(), src.users(None).unwrap());
    assert_eq!(pg.users(None).unwrap()[0].failed_attempts, 1);
    assert_eq!(pg.tokens(None).unwrap(), src.tokens(None).unwrap());
    let p = pg.resolve(&api, now).unwrap().unwrap();
    assert_eq!((p.via, p.tenant.as_str()), (Via::ApiToken, "a"));
    assert!(pg.resolve(&session, now).unwrap().is_none());
    let (_, p) = pg.login("qa.anna", pw, now).unwrap().unwrap();
    assert_eq!(p.role, Role::QaReviewer);
    assert_eq!(
        (
            copied.batches,
            copied.readings,
            copied.predictions,
            copied.alerts
        ),
        (2, 4, 6, 2)
    );
    // Every record the same, read through the trait.
    for t in ["a", "b"] {
        assert_eq!(pg.batches(t).unwrap(), src.batches(t).unwrap());
        assert_eq!(
            pg.readings(t, "B1").unwrap(),
            src.readings(t, "B1").unwrap()
        );
        assert_eq!(
            pg.predictions(t, "B1").unwrap(),
            src.predictions(t, "B1").unwrap()
        );
        assert_eq!(pg.alerts(t).unwrap(), src.alerts(t).unwrap());
    }
    // The trail: the source's entries unchanged, then `store.copied`.
    let (src_trail, trail) = (src.audit().unwrap(), pg.audit().unwrap());
    assert_eq!(&trail[..src_trail.len()], &src_trail[..]);
    assert_eq!(
        trail.len(),
        src_trail.len() + 2,
        "store.copied, then the login"
    );
    assert_eq!(trail[src_trail.len()].action, "store.copied");
    biotwin_live::audit::verify(&trail).unwrap();
    let r = pg.verify_records().unwrap().unwrap();
    assert_eq!(r.predictions, 6);
    // New writes continue both chains (reading ids after the copied ones).
    pg.insert_readings("a", "B1", &[suite::reading("X", 9.0, 9.0)])
        .unwrap();
    pg.insert_prediction(&suite::prediction("a", 3, 4.0))
        .unwrap();
    assert_eq!(pg.readings("a", "B1").unwrap().len(), 3);
    pg.verify_records().unwrap().unwrap();
    // A second copy into the same database is refused, naming no password.
    let e = biotwin_live::store_copy::sqlite_to_pg(&path, &db.target)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("an empty database"), "{e}");
}

#[test]
fn a_tampered_sqlite_store_is_not_copied() {
    let Some(db) = pg_test_db("a_tampered_sqlite_store_is_not_copied") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("site.sqlite");
    drop(filled_sqlite(&path));
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute("UPDATE readings SET value = 1.5 WHERE tag = 'X'", [])
            .unwrap();
    }
    let e = biotwin_live::store_copy::sqlite_to_pg(&path, &db.target)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("altered") && e.contains("not copied"), "{e}");
    // Nothing was made in the database.
    let mut c = postgres::Client::connect(&db.target.url, postgres::NoTls).unwrap();
    let n: i64 = c
        .query_one(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'public'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
}

/// Runs each call of the PostgreSQL store on a thread of its own: the
/// blocking driver cannot run on an async test's own thread (the web API
/// itself calls the store through `spawn_blocking`; the isolation tests
/// also read the store directly from their async body).
pub(crate) struct OffRuntime(pub(crate) Arc<PgStore>);

pub(crate) fn off<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| s.spawn(f).join().unwrap())
}

type R<T> = Result<T, biotwin_live::Error>;

impl Store for OffRuntime {
    fn upsert_batch(&self, b: &biotwin_live::BatchInfo) -> R<()> {
        off(|| self.0.upsert_batch(b))
    }
    fn insert_readings(&self, t: &str, b: &str, rs: &[biotwin_live::Reading]) -> R<()> {
        off(|| self.0.insert_readings(t, b, rs))
    }
    fn insert_prediction(&self, p: &biotwin_live::PredictionRecord) -> R<bool> {
        off(|| self.0.insert_prediction(p))
    }
    fn insert_alert(&self, a: &biotwin_live::AlertRecord) -> R<bool> {
        off(|| self.0.insert_alert(a))
    }
    fn append_audit(
        &self,
        actor: &str,
        tenant: Option<&str>,
        action: &str,
        detail: serde_json::Value,
    ) -> R<biotwin_live::AuditEntry> {
        off(|| self.0.append_audit(actor, tenant, action, detail))
    }
    fn batches(&self, t: &str) -> R<Vec<biotwin_live::BatchInfo>> {
        off(|| self.0.batches(t))
    }
    fn batch(&self, t: &str, b: &str) -> R<Option<biotwin_live::BatchInfo>> {
        off(|| self.0.batch(t, b))
    }
    fn readings(&self, t: &str, b: &str) -> R<Vec<biotwin_live::Reading>> {
        off(|| self.0.readings(t, b))
    }
    fn readings_page(
        &self,
        t: &str,
        b: &str,
        tag: Option<&str>,
        offset: usize,
        limit: usize,
    ) -> R<(Vec<biotwin_live::Reading>, usize)> {
        off(|| self.0.readings_page(t, b, tag, offset, limit))
    }
    fn predictions(&self, t: &str, b: &str) -> R<Vec<biotwin_live::PredictionRecord>> {
        off(|| self.0.predictions(t, b))
    }
    fn alerts(&self, t: &str) -> R<Vec<biotwin_live::AlertRecord>> {
        off(|| self.0.alerts(t))
    }
    fn acknowledge_alert(&self, t: &str, b: &str, cqa: &str, user: &str) -> R<bool> {
        off(|| self.0.acknowledge_alert(t, b, cqa, user))
    }
    fn acknowledge_alert_audited(
        &self,
        t: &str,
        b: &str,
        cqa: &str,
        user: &str,
        actor: &str,
        action: &str,
        detail: &dyn Fn(&biotwin_live::AlertRecord) -> serde_json::Value,
    ) -> R<Option<(biotwin_live::AlertRecord, biotwin_live::AuditEntry)>> {
        // Called by the web API inside spawn_blocking only.
        self.0
            .acknowledge_alert_audited(t, b, cqa, user, actor, action, detail)
    }
    fn audit(&self) -> R<Vec<biotwin_live::AuditEntry>> {
        off(|| self.0.audit())
    }
    fn accounts(&self) -> Option<&dyn biotwin_live::users::Accounts> {
        Some(self)
    }
}

/// The accounts of the store, each call off the runtime as well.
impl biotwin_live::users::Accounts for OffRuntime {
    fn add_user(&self, n: &biotwin_live::users::NewUser, pw: &str, actor: &str) -> R<User> {
        off(|| self.0.add_user(n, pw, actor))
    }
    fn set_disabled(&self, u: &str, disabled: bool, actor: &str) -> R<User> {
        off(|| self.0.set_disabled(u, disabled, actor))
    }
    fn set_password(&self, u: &str, pw: &str, actor: &str) -> R<User> {
        off(|| self.0.set_password(u, pw, actor))
    }
    fn users(&self, tenant: Option<&str>) -> R<Vec<User>> {
        off(|| self.0.users(tenant))
    }
    fn check_password(
        &self,
        u: &str,
        pw: &str,
        purpose: &str,
        now: f64,
    ) -> R<Result<User, Refusal>> {
        off(|| self.0.check_password(u, pw, purpose, now))
    }
    fn login(&self, u: &str, pw: &str, now: f64) -> R<Result<(String, Principal), Refusal>> {
        off(|| self.0.login(u, pw, now))
    }
    fn resolve(&self, token: &str, now: f64) -> R<Option<Principal>> {
        off(|| self.0.resolve(token, now))
    }
    fn logout(&self, token: &str) -> R<bool> {
        off(|| self.0.logout(token))
    }
    fn issue_token(&self, u: &str, label: &str, actor: &str) -> R<(String, String)> {
        off(|| self.0.issue_token(u, label, actor))
    }
    fn revoke_token(&self, id: &str, actor: &str) -> R<biotwin_live::users::ApiToken> {
        off(|| self.0.revoke_token(id, actor))
    }
    fn tokens(&self, u: Option<&str>) -> R<Vec<biotwin_live::users::ApiToken>> {
        off(|| self.0.tokens(u))
    }
}

/// The web API's tenant-isolation tests (`live_web.rs`) on PostgreSQL:
/// another tenant's batch is a nonexistent one on every endpoint, a batch
/// id both tenants use shows each its own, lists and counts are the
/// tenant's own, and the tenant's own data comes back in full.
#[test]
fn tenant_isolation_on_every_endpoint_on_postgres() {
    let Some((_db, s)) = pg_test_store("tenant_isolation_on_every_endpoint_on_postgres") else {
        return;
    };
    crate::live_web::fill(s.as_ref());
    let store: Arc<dyn Store> = Arc::new(OffRuntime(s));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let app = || crate::live_web::app(store.clone());
        crate::live_web::another_tenants_batch_is_nonexistent_on(store.clone(), app()).await;
        crate::live_web::shared_batch_id_on(store.clone(), app()).await;
        crate::live_web::lists_on(store.clone(), app()).await;
        crate::live_web::own_data_on(store.clone(), app()).await;
    });
}

/// Stateless serving: two web API replicas, each over a store object of
/// its own (its own connections, as two `biotwin serve` processes would
/// have), over one PostgreSQL database, give byte-identical answers to the
/// same requests of either tenant, and the second keeps the tenants apart
/// as the first does.
#[test]
fn two_serve_replicas_over_one_database_answer_alike() {
    let Some((db, s)) = pg_test_store("two_serve_replicas_over_one_database_answer_alike") else {
        return;
    };
    crate::live_web::fill(s.as_ref());
    let first: Arc<dyn Store> = Arc::new(OffRuntime(s));
    let second: Arc<dyn Store> = Arc::new(OffRuntime(Arc::new(PgStore::open(&db.target).unwrap())));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (a, b) = (
            crate::live_web::app(first.clone()),
            crate::live_web::app(second.clone()),
        );
        let mut compared = 0;
        for token in [crate::live_web::TOKEN_A, crate::live_web::TOKEN_B] {
            let auth = crate::live_web::bearer(token);
            for path in [
                "/api/batches",
                "/api/batches/A-001",
                "/api/batches/A-001/predictions",
                "/api/batches/A-001/readings?tag=PH-101",
                "/api/batches/B-001/predictions",
                "/api/batches/SHARED-1",
                "/api/batches/SHARED-1/predictions",
                "/api/alerts",
            ] {
                let x = crate::live_web::call(&a, "GET", path, Some(&auth), "").await;
                let y = crate::live_web::call(&b, "GET", path, Some(&auth), "").await;
                assert_eq!(x.status, y.status, "{path}");
                assert_eq!(x.body, y.body, "{path}");
                compared += 1;
            }
        }
        assert_eq!(compared, 16);
        crate::live_web::another_tenants_batch_is_nonexistent_on(second.clone(), b.clone()).await;
        crate::live_web::lists_on(second.clone(), b).await;
    });
}

/// Batch leases (`pg_lease`): two workers share a site's batches; a worker
/// paused past its lease's expiry loses the batch to the other and, woken
/// up, cannot write its records (the epoch is checked in the write's own
/// transaction); a batch it never held is refused too; the new holder
/// writes; the records verify.
#[test]
fn a_worker_that_lost_a_batch_lease_cannot_write_its_records() {
    use biotwin_live::leases::BatchLeases;
    use biotwin_live::pg_lease::PgBatchLeases;
    let Some((db, _)) = pg_test_store("a_worker_that_lost_a_batch_lease_cannot_write_its_records")
    else {
        return;
    };
    let a = PgStore::open(&db.target).unwrap();
    let b = PgStore::open(&db.target).unwrap();
    // 1 s leases, so that the test can outwait one.
    let mut la = PgBatchLeases::with_times(&db.target, "site", 1.0, 0.2).unwrap();
    let mut lb = PgBatchLeases::with_times(&db.target, "site", 1.0, 0.2).unwrap();
    a.set_fence(la.fence()).unwrap();
    b.set_fence(lb.fence()).unwrap();
    let keys: Vec<(String, String)> = ["B1", "B2"]
        .iter()
        .map(|b| ("t".to_string(), b.to_string()))
        .collect();
    la.register(&keys).unwrap();
    lb.register(&keys).unwrap();
    // A worker counts as alive from its first heartbeat (a renewal or a
    // tick), not from connecting: both announce themselves first.
    la.renew().unwrap();
    lb.renew().unwrap();
    // Two live workers, two batches: one each.
    let ca = la.tick().unwrap();
    let cb = lb.tick().unwrap();
    assert_eq!((ca.workers, cb.workers), (2, 2));
    assert_eq!(ca.acquired.len(), 1, "{ca:?}");
    assert_eq!(cb.acquired.len(), 1, "{cb:?}");
    let mine = ca.acquired[0].1.clone();
    let other = cb.acquired[0].1.clone();
    assert_ne!(mine, other);
    let pred = |batch: &str, seq: u64| biotwin_live::PredictionRecord {
        tenant: "t".into(),
        batch_id: batch.into(),
        seq,
        model_id: "m@1".into(),
        input_sha256: "0".repeat(64),
        created_unix_s: 1.7e9,
        forecast: biotwin_live::Forecast {
            time_s: 3600.0 * seq as f64,
            cqas: vec![],
            state: vec![],
        },
    };
    assert!(a.insert_prediction(&pred(&mine, 0)).unwrap());
    // Not A's batch: refused before anything is written.
    let e = a
        .insert_prediction(&pred(&other, 0))
        .unwrap_err()
        .to_string();
    assert!(e.contains("does not hold its lease"), "{e}");
    // A pauses past its expiry (no tick); B keeps ticking, and B's fair
    // share still counts A as alive (its session is there), so B takes
    // A's batch only once A's lease has expired.
    std::thread::sleep(std::time::Duration::from_millis(1300));
    let cb = lb.tick().unwrap();
    assert!(
        cb.acquired.contains(&("t".to_string(), mine.clone())),
        "{cb:?}"
    );
    // A wakes up and writes: refused by the fence, nothing stored.
    let e = a
        .insert_prediction(&pred(&mine, 1))
        .unwrap_err()
        .to_string();
    assert!(e.contains("fencing"), "{e}");
    let e = a
        .insert_readings(
            "t",
            &mine,
            &[biotwin_live::Reading {
                tag: "X".into(),
                time_unix_s: 1.7e9,
                available_unix_s: None,
                value: 1.0,
                quality: biotwin_live::Quality::Good,
            }],
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("fencing"), "{e}");
    assert!(a.readings("t", &mine).unwrap().is_empty());
    // A's next tick reports the loss.
    let ca = la.tick().unwrap();
    assert!(ca.lost.contains(&("t".to_string(), mine.clone())), "{ca:?}");
    // B, the holder now, writes both batches (the record A made stays,
    // once: the same identity is not stored twice).
    assert!(!b.insert_prediction(&pred(&mine, 0)).unwrap());
    assert!(b.insert_prediction(&pred(&mine, 1)).unwrap());
    assert!(b.insert_prediction(&pred(&other, 0)).unwrap());
    assert_eq!(b.predictions("t", &mine).unwrap().len(), 2);
    b.verify_records().unwrap().unwrap();
    // A clean exit gives the leases back at once.
    drop(lb);
    let rows = biotwin_live::pg_lease::leases(&db.target).unwrap();
    assert!(rows.iter().all(|r| r.worker.is_none()), "{rows:?}");
}
