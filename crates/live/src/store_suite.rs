//! The store test suite, written once against the [`Store`] trait and run
//! against every store: the SQLite store (its unit tests) and the
//! PostgreSQL store (`crates/live/tests/integration/pg_store.rs`, on the
//! database `BIOTWIN_PG_URL` names). Each check takes a fresh, empty store.
//!
//! PostgreSQL in tests: `BIOTWIN_PG_URL` is a URL of a server where the
//! user may create databases (`postgres://postgres@127.0.0.1:5432/postgres`);
//! each test gets a database of its own, dropped at the end. Without the
//! variable the PostgreSQL tests skip with a message, unless
//! `BIOTWIN_REQUIRE_PG=1` (CI sets both: there they fail, never skip).

use std::sync::Arc;

use serde_json::json;

use crate::pg_store::{PgStore, PgTarget};
use crate::{
    AlertRecord, BatchInfo, CqaForecast, Forecast, PredictionRecord, Quality, Reading, Store, audit,
};

pub fn batch(t: &str, id: &str) -> BatchInfo {
    BatchInfo {
        tenant: t.into(),
        batch_id: id.into(),
        unit: "BR1".into(),
        start_unix_s: 100.0,
        end_unix_s: 200.0,
        finished: false,
    }
}

pub fn reading(tag: &str, t: f64, v: f64) -> Reading {
    Reading {
        tag: tag.into(),
        time_unix_s: t,
        available_unix_s: Some(t + 0.5),
        value: v,
        quality: Quality::Uncertain,
    }
}

pub fn prediction(t: &str, seq: u64, mean: f64) -> PredictionRecord {
    PredictionRecord {
        tenant: t.into(),
        batch_id: "B1".into(),
        seq,
        model_id: "m@1".into(),
        input_sha256: "ab".into(),
        created_unix_s: 5.0,
        forecast: Forecast {
            time_s: 3600.0 * seq as f64,
            cqas: vec![CqaForecast {
                name: "titer_g_per_l".into(),
                mean,
                p05: mean - 0.1,
                p95: mean + 0.1,
                lower_spec: Some(1.0),
                upper_spec: None,
                p_in_spec: Some(0.1 + 0.7),
            }],
            state: vec![("xv".into(), 1.0e12, 1.0e11)],
        },
    }
}

pub fn alert(t: &str, batch_id: &str, cqa: &str) -> AlertRecord {
    AlertRecord {
        tenant: t.into(),
        batch_id: batch_id.into(),
        cqa: cqa.into(),
        first_predicted_s: 7200.0,
        p_in_spec: 0.4,
        threshold: 0.9,
        acknowledged_by: None,
    }
}

pub fn batches_upsert_and_are_tenant_scoped(s: &dyn Store) {
    s.upsert_batch(&batch("a", "B1")).unwrap();
    let mut b = batch("a", "B1");
    b.finished = true;
    s.upsert_batch(&b).unwrap();
    s.upsert_batch(&batch("b", "B2")).unwrap();
    assert_eq!(s.batches("a").unwrap(), vec![b.clone()]);
    assert_eq!(s.batch("a", "B1").unwrap(), Some(b));
    assert_eq!(s.batch("b", "B1").unwrap(), None);
    assert_eq!(s.batch("a", "B2").unwrap(), None);
}

pub fn readings_are_kept_once_in_received_order(s: &dyn Store) {
    let rs = [
        reading("X", 3.0, 1.0),
        reading("X", 1.0, 2.0),
        reading("Y", 2.0, 0.3),
    ];
    s.insert_readings("a", "B1", &rs).unwrap();
    s.insert_readings("a", "B1", &[rs[1].clone(), reading("X", 1.0, 2.5)])
        .unwrap();
    let got = s.readings("a", "B1").unwrap();
    assert_eq!(got.len(), 4);
    assert_eq!(&got[..3], &rs[..]);
    assert_eq!(got[3].value, 2.5);
    assert!(s.readings("b", "B1").unwrap().is_empty());
    // Pages: by tag, offset and limit, in received order, tenant-scoped.
    let (page, total) = s.readings_page("a", "B1", Some("X"), 1, 1).unwrap();
    assert_eq!((page, total), (vec![rs[1].clone()], 3));
    let (page, total) = s.readings_page("a", "B1", None, 2, 10).unwrap();
    assert_eq!(total, 4);
    assert_eq!(page.len(), 2);
    assert_eq!(page[0], rs[2]);
    assert_eq!(s.readings_page("b", "B1", None, 0, 10).unwrap().1, 0);
}

pub fn predictions_are_inserted_once_and_round_trip(s: &dyn Store) {
    let p = prediction("a", 0, 2.123456789012345);
    assert!(s.insert_prediction(&p).unwrap());
    assert!(!s.insert_prediction(&prediction("a", 0, 9.0)).unwrap());
    assert!(s.insert_prediction(&prediction("a", 1, 3.0)).unwrap());
    let got = s.predictions("a", "B1").unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0], p);
    assert!(s.predictions("b", "B1").unwrap().is_empty());
    // A non-finite number cannot be stored (it could not be read back).
    assert!(s.insert_prediction(&prediction("a", 2, f64::NAN)).is_err());
    assert_eq!(s.predictions("a", "B1").unwrap().len(), 2);
}

pub fn alerts_once_per_cqa_and_acknowledged_within_tenant(s: &dyn Store) {
    let a = alert("a", "B1", "titer");
    assert!(s.insert_alert(&a).unwrap());
    let mut later = a.clone();
    later.first_predicted_s = 9000.0;
    assert!(!s.insert_alert(&later).unwrap());
    assert_eq!(s.alerts("a").unwrap(), vec![a.clone()]);
    assert!(s.alerts("b").unwrap().is_empty());
    assert!(!s.acknowledge_alert("b", "B1", "titer", "eve").unwrap());
    assert!(s.acknowledge_alert("a", "B1", "titer", "qa.anna").unwrap());
    assert_eq!(
        s.alerts("a").unwrap()[0].acknowledged_by.as_deref(),
        Some("qa.anna")
    );
    // The audited acknowledgement: alert and entry together, tenant-scoped.
    assert!(s.insert_alert(&alert("a", "B1", "purity")).unwrap());
    let detail = |a: &AlertRecord| json!({"batch": a.batch_id, "cqa": a.cqa});
    let none = s
        .acknowledge_alert_audited(
            "b",
            "B1",
            "purity",
            "eve",
            "eve",
            "alert.acknowledged",
            &detail,
        )
        .unwrap();
    assert!(none.is_none());
    let (a2, e) = s
        .acknowledge_alert_audited(
            "a",
            "B1",
            "purity",
            "qa.bo",
            "qa.bo",
            "alert.acknowledged",
            &detail,
        )
        .unwrap()
        .unwrap();
    assert_eq!(a2.acknowledged_by.as_deref(), Some("qa.bo"));
    assert_eq!(e.detail, json!({"batch": "B1", "cqa": "purity"}));
    assert_eq!(e.tenant.as_deref(), Some("a"));
    assert_eq!(s.audit().unwrap().last(), Some(&e));
}

pub fn audit_chain_links_and_verifies(s: &dyn Store) {
    let n0 = s.audit().unwrap().len() as u64;
    s.append_audit("biotwin-live", None, "config.loaded", json!({"site": "x"}))
        .unwrap();
    s.append_audit(
        "biotwin-live",
        Some("a"),
        "batch.started",
        json!({"batch": "B1"}),
    )
    .unwrap();
    let e = s
        .append_audit("qa", Some("a"), "alert.acknowledged", json!({}))
        .unwrap();
    assert_eq!(e.seq, n0 + 2);
    let trail = s.audit().unwrap();
    assert_eq!(audit::verify(&trail).unwrap(), e.sha256);
}

/// Writers on `handles` (separate connections, or separate store objects
/// as separate processes would hold) append audit entries, predictions
/// and readings at once: every record exactly once, both chains intact
/// (`verify_records` is the store's own record check).
pub fn concurrent_writers_keep_both_chains(
    handles: Vec<Arc<dyn Store>>,
    verify_records: &dyn Fn() -> Result<crate::ledger::RecordsVerified, Vec<String>>,
) {
    let per = 25u64;
    let n = handles.len() as u64;
    let count = handles.len();
    std::thread::scope(|sc| {
        for (w, s) in handles.iter().enumerate() {
            sc.spawn(move || {
                let tenant = format!("t{w}");
                s.upsert_batch(&batch(&tenant, "B1")).unwrap();
                for i in 0..per {
                    s.append_audit("w", Some(&tenant), "test.write", json!({"i": i}))
                        .unwrap();
                    // Every writer also tries its neighbour's prediction:
                    // exactly one of the two inserts wins.
                    let mut p = prediction(&tenant, i, 1.0 + i as f64);
                    s.insert_prediction(&p).unwrap();
                    p.tenant = format!("t{}", (w + 1) % count);
                    s.insert_prediction(&p).unwrap();
                    s.insert_readings(
                        &tenant,
                        "B1",
                        &[reading("X", i as f64, 1.0), reading("Y", i as f64, 2.0)],
                    )
                    .unwrap();
                }
            });
        }
    });
    let s = &handles[0];
    let trail = s.audit().unwrap();
    audit::verify(&trail).unwrap();
    assert_eq!(
        trail.iter().filter(|e| e.action == "test.write").count() as u64,
        n * per
    );
    for w in 0..n {
        let t = format!("t{w}");
        let ps = s.predictions(&t, "B1").unwrap();
        assert_eq!(
            ps.iter().map(|p| p.seq).collect::<Vec<_>>(),
            (0..per).collect::<Vec<_>>()
        );
        assert_eq!(s.readings(&t, "B1").unwrap().len() as u64, 2 * per);
    }
    let r = verify_records().unwrap();
    assert_eq!(r.predictions, n * per);
    assert_eq!(r.readings, 2 * n * per);
    assert_eq!(r.batches, n);
    assert_eq!(r.audit_entries, trail.len() as u64);
}

/// Every check above, in order, each on a fresh store from `fresh`.
pub fn run_all(fresh: &dyn Fn() -> Arc<dyn Store>) {
    batches_upsert_and_are_tenant_scoped(fresh().as_ref());
    readings_are_kept_once_in_received_order(fresh().as_ref());
    predictions_are_inserted_once_and_round_trip(fresh().as_ref());
    alerts_once_per_cqa_and_acknowledged_within_tenant(fresh().as_ref());
    audit_chain_links_and_verifies(fresh().as_ref());
}

/// A fresh database on the server `BIOTWIN_PG_URL` names, dropped when the
/// value is dropped.
pub struct PgTestDb {
    pub target: PgTarget,
    admin: String,
    name: String,
}

impl Drop for PgTestDb {
    fn drop(&mut self) {
        let admin = self.admin.clone();
        let name = self.name.clone();
        // A thread of its own: the driver cannot run inside an async test's
        // runtime.
        let _ = std::thread::spawn(move || {
            if let Ok(mut c) = postgres::Client::connect(&admin, postgres::NoTls) {
                let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        })
        .join();
    }
}

/// A fresh, empty database for one test, or `None` (with a message on
/// stderr) when `BIOTWIN_PG_URL` is unset and `BIOTWIN_REQUIRE_PG` is not
/// `1`. Panics when PostgreSQL is required or named but unreachable.
pub fn pg_test_db(test: &str) -> Option<PgTestDb> {
    let admin = match std::env::var("BIOTWIN_PG_URL") {
        Ok(u) if !u.trim().is_empty() => u,
        _ => {
            if std::env::var("BIOTWIN_REQUIRE_PG").as_deref() == Ok("1") {
                panic!(
                    "{test}: BIOTWIN_REQUIRE_PG=1 but BIOTWIN_PG_URL is unset: the PostgreSQL store tests need a server (.ci/run starts one)"
                );
            }
            eprintln!(
                "{test}: SKIPPED (no PostgreSQL: set BIOTWIN_PG_URL=postgres://user@127.0.0.1:5432/postgres, a user who may create databases; .ci/run does)"
            );
            return None;
        }
    };
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let name = format!(
        "biotwin_test_{}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos())
    );
    let admin2 = admin.clone();
    let name2 = name.clone();
    std::thread::spawn(move || {
        let mut c = postgres::Client::connect(&admin2, postgres::NoTls)
            .unwrap_or_else(|e| panic!("BIOTWIN_PG_URL: cannot connect: {e}"));
        c.batch_execute(&format!("CREATE DATABASE {name2}"))
            .unwrap_or_else(|e| panic!("BIOTWIN_PG_URL: cannot create a database: {e}"));
    })
    .join()
    .unwrap();
    let mut cfg: postgres::Config = admin.parse().unwrap();
    cfg.dbname(&name);
    let url = url_of(&cfg);
    Some(PgTestDb {
        target: PgTarget::new(&url, None),
        admin,
        name,
    })
}

fn url_of(c: &postgres::Config) -> String {
    use postgres::config::Host;
    let host = match c.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        _ => "127.0.0.1".into(),
    };
    let port = c.get_ports().first().copied().unwrap_or(5432);
    format!(
        "postgres://{}@{host}:{port}/{}",
        c.get_user().unwrap_or("postgres"),
        c.get_dbname().unwrap_or("postgres")
    )
}

/// A migrated PostgreSQL store in a fresh database (see [`pg_test_db`]).
pub fn pg_test_store(test: &str) -> Option<(PgTestDb, Arc<PgStore>)> {
    let db = pg_test_db(test)?;
    let (s, applied) = PgStore::migrate(&db.target).unwrap();
    assert_eq!(
        applied,
        (1..=crate::pg_store::latest_version()).collect::<Vec<_>>()
    );
    Some((db, Arc::new(s)))
}
