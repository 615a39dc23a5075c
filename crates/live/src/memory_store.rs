//! A [`Store`] kept in memory: for tests, demos and the web page's tests.
//!
//! It follows the same contract as the durable store (idempotent writes on
//! each record's identity, reads scoped to one tenant, the shared audit hash
//! chain of [`super::audit`]) but loses everything when the process ends.
//! One `RwLock` over all maps: readers (the web API) run in parallel, and a
//! writer sees a consistent whole, which is all a demo or a test needs.

use std::collections::{BTreeMap, HashSet};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::audit::next_entry;
use super::{AlertRecord, AuditEntry, BatchInfo, PredictionRecord, Reading, Store};
use crate::Error;

/// (tenant, batch id): the identity of a batch. A batch id is unique within
/// a tenant only, so two sponsors may both have a batch `B1`.
type BatchKey = (String, String);

/// Identity of a received reading: the same (tag, time, value) is kept once.
/// Bit patterns, so that equality is exact and NaN-safe.
type ReadingKey = (String, u64, u64);

#[derive(Default)]
struct Inner {
    batches: BTreeMap<BatchKey, BatchInfo>,
    readings: BTreeMap<BatchKey, (Vec<Reading>, HashSet<ReadingKey>)>,
    predictions: BTreeMap<BatchKey, BTreeMap<u64, PredictionRecord>>,
    /// (tenant, batch, cqa) -> alert.
    alerts: BTreeMap<(String, String, String), AlertRecord>,
    audit: Vec<AuditEntry>,
}

/// In-memory live store.
#[derive(Default)]
pub struct MemoryStore {
    inner: RwLock<Inner>,
}

fn key(tenant: &str, batch_id: &str) -> BatchKey {
    (tenant.to_string(), batch_id.to_string())
}

fn now_unix_s() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn poisoned() -> Error {
    Error::Worker {
        what: "<memory store>",
        message: "a writer panicked while holding the lock; the store may be inconsistent",
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> Result<RwLockReadGuard<'_, Inner>, Error> {
        self.inner.read().map_err(|_| poisoned())
    }

    fn write(&self) -> Result<RwLockWriteGuard<'_, Inner>, Error> {
        self.inner.write().map_err(|_| poisoned())
    }
}

impl Store for MemoryStore {
    fn upsert_batch(&self, batch: &BatchInfo) -> Result<(), Error> {
        let mut g = self.write()?;
        g.batches
            .insert(key(&batch.tenant, &batch.batch_id), batch.clone());
        Ok(())
    }

    fn insert_readings(
        &self,
        tenant: &str,
        batch_id: &str,
        readings: &[Reading],
    ) -> Result<(), Error> {
        let mut g = self.write()?;
        let (list, seen) = g.readings.entry(key(tenant, batch_id)).or_default();
        for r in readings {
            let k = (r.tag.clone(), r.time_unix_s.to_bits(), r.value.to_bits());
            if seen.insert(k) {
                list.push(r.clone());
            }
        }
        Ok(())
    }

    fn insert_prediction(&self, p: &PredictionRecord) -> Result<bool, Error> {
        let mut g = self.write()?;
        let per_batch = g
            .predictions
            .entry(key(&p.tenant, &p.batch_id))
            .or_default();
        if per_batch.contains_key(&p.seq) {
            return Ok(false);
        }
        per_batch.insert(p.seq, p.clone());
        Ok(true)
    }

    fn insert_alert(&self, a: &AlertRecord) -> Result<bool, Error> {
        let mut g = self.write()?;
        let k = (a.tenant.clone(), a.batch_id.clone(), a.cqa.clone());
        if g.alerts.contains_key(&k) {
            return Ok(false);
        }
        g.alerts.insert(k, a.clone());
        Ok(true)
    }

    fn append_audit(
        &self,
        actor: &str,
        tenant: Option<&str>,
        action: &str,
        detail: serde_json::Value,
    ) -> Result<AuditEntry, Error> {
        let mut g = self.write()?;
        let e = next_entry(g.audit.last(), now_unix_s(), actor, tenant, action, detail);
        g.audit.push(e.clone());
        Ok(e)
    }

    fn batches(&self, tenant: &str) -> Result<Vec<BatchInfo>, Error> {
        let g = self.read()?;
        Ok(g.batches
            .values()
            .filter(|b| b.tenant == tenant)
            .cloned()
            .collect())
    }

    fn batch(&self, tenant: &str, batch_id: &str) -> Result<Option<BatchInfo>, Error> {
        Ok(self.read()?.batches.get(&key(tenant, batch_id)).cloned())
    }

    fn readings(&self, tenant: &str, batch_id: &str) -> Result<Vec<Reading>, Error> {
        Ok(self
            .read()?
            .readings
            .get(&key(tenant, batch_id))
            .map(|(list, _)| list.clone())
            .unwrap_or_default())
    }

    fn predictions(&self, tenant: &str, batch_id: &str) -> Result<Vec<PredictionRecord>, Error> {
        Ok(self
            .read()?
            .predictions
            .get(&key(tenant, batch_id))
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default())
    }

    fn alerts(&self, tenant: &str) -> Result<Vec<AlertRecord>, Error> {
        let g = self.read()?;
        Ok(g.alerts
            .values()
            .filter(|a| a.tenant == tenant)
            .cloned()
            .collect())
    }

    /// Marks the alert acknowledged by `user` (the first acknowledgement
    /// stands); `false` when this tenant has no such alert. The caller
    /// records `alert.acknowledged` in the audit trail, so that every store
    /// audits it the same way.
    fn acknowledge_alert(
        &self,
        tenant: &str,
        batch_id: &str,
        cqa: &str,
        user: &str,
    ) -> Result<bool, Error> {
        let mut g = self.write()?;
        let k = (tenant.to_string(), batch_id.to_string(), cqa.to_string());
        match g.alerts.get_mut(&k) {
            Some(a) => {
                if a.acknowledged_by.is_none() {
                    a.acknowledged_by = Some(user.to_string());
                }
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn audit(&self) -> Result<Vec<AuditEntry>, Error> {
        Ok(self.read()?.audit.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::verify;
    use crate::{CqaForecast, Forecast, Quality};
    use serde_json::json;

    fn batch(tenant: &str, id: &str) -> BatchInfo {
        BatchInfo {
            tenant: tenant.into(),
            batch_id: id.into(),
            unit: "BR-01".into(),
            start_unix_s: 1.7e9,
            end_unix_s: 1.7e9 + 14.0 * 86400.0,
            finished: false,
        }
    }

    fn reading(tag: &str, t: f64, v: f64) -> Reading {
        Reading {
            tag: tag.into(),
            time_unix_s: t,
            available_unix_s: None,
            value: v,
            quality: Quality::Good,
        }
    }

    fn prediction(tenant: &str, id: &str, seq: u64, mean: f64) -> PredictionRecord {
        PredictionRecord {
            tenant: tenant.into(),
            batch_id: id.into(),
            seq,
            model_id: "cho_platform@1".into(),
            input_sha256: format!("{seq:064x}"),
            created_unix_s: 1.7e9 + seq as f64,
            forecast: Forecast {
                time_s: 3600.0 * seq as f64,
                cqas: vec![CqaForecast {
                    name: "titer_g_per_l".into(),
                    mean,
                    p05: mean - 0.5,
                    p95: mean + 0.5,
                    lower_spec: Some(3.0),
                    upper_spec: None,
                    p_in_spec: Some(0.9),
                }],
                state: vec![],
            },
        }
    }

    fn alert(tenant: &str, id: &str, cqa: &str, p: f64) -> AlertRecord {
        AlertRecord {
            tenant: tenant.into(),
            batch_id: id.into(),
            cqa: cqa.into(),
            first_predicted_s: 7200.0,
            p_in_spec: p,
            threshold: 0.8,
            acknowledged_by: None,
        }
    }

    #[test]
    fn batches_are_upserted_and_scoped_to_their_tenant() {
        let s = MemoryStore::new();
        s.upsert_batch(&batch("a", "B1")).unwrap();
        s.upsert_batch(&batch("b", "B1")).unwrap();
        s.upsert_batch(&batch("b", "B2")).unwrap();
        let mut done = batch("a", "B1");
        done.finished = true;
        s.upsert_batch(&done).unwrap();

        let a = s.batches("a").unwrap();
        assert_eq!(a.len(), 1);
        assert!(a[0].finished, "the upsert replaced the earlier record");
        assert_eq!(s.batches("b").unwrap().len(), 2);
        assert!(s.batches("c").unwrap().is_empty());
        assert_eq!(s.batch("a", "B1").unwrap(), Some(done));
        assert_eq!(s.batch("a", "B2").unwrap(), None, "B2 is b's, not a's");
        assert!(!s.batch("b", "B1").unwrap().unwrap().finished);
    }

    #[test]
    fn duplicate_readings_are_kept_once_and_order_is_kept() {
        let s = MemoryStore::new();
        let r = [reading("TI-101", 10.0, 36.9), reading("TI-101", 5.0, 37.0)];
        s.insert_readings("a", "B1", &r).unwrap();
        // A replay sends the first again, plus a new value at the same time.
        s.insert_readings("a", "B1", &[r[0].clone(), reading("TI-101", 10.0, 36.8)])
            .unwrap();
        let got = s.readings("a", "B1").unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(got[0], r[0]);
        assert_eq!(got[1], r[1]);
        assert_eq!(got[2].value, 36.8);
        assert!(s.readings("b", "B1").unwrap().is_empty());
    }

    #[test]
    fn a_prediction_is_inserted_once_per_sequence_number() {
        let s = MemoryStore::new();
        assert!(s.insert_prediction(&prediction("a", "B1", 1, 5.0)).unwrap());
        assert!(s.insert_prediction(&prediction("a", "B1", 0, 4.0)).unwrap());
        // The replay after a crash makes seq 1 again: not inserted, not changed.
        assert!(!s.insert_prediction(&prediction("a", "B1", 1, 9.0)).unwrap());
        assert!(s.insert_prediction(&prediction("b", "B1", 1, 7.0)).unwrap());
        let p = s.predictions("a", "B1").unwrap();
        assert_eq!(p.iter().map(|p| p.seq).collect::<Vec<_>>(), vec![0, 1]);
        assert_eq!(p[1].forecast.cqas[0].mean, 5.0);
        assert_eq!(
            s.predictions("b", "B1").unwrap()[0].forecast.cqas[0].mean,
            7.0
        );
        assert!(s.predictions("c", "B1").unwrap().is_empty());
    }

    #[test]
    fn alerts_are_inserted_once_and_acknowledged_within_the_tenant() {
        let s = MemoryStore::new();
        assert!(
            s.insert_alert(&alert("a", "B1", "titer_g_per_l", 0.6))
                .unwrap()
        );
        assert!(
            !s.insert_alert(&alert("a", "B1", "titer_g_per_l", 0.1))
                .unwrap()
        );
        assert!(
            s.insert_alert(&alert("b", "B1", "titer_g_per_l", 0.5))
                .unwrap()
        );
        assert_eq!(s.alerts("a").unwrap().len(), 1);
        assert_eq!(s.alerts("a").unwrap()[0].p_in_spec, 0.6, "first one kept");

        // Tenant b cannot acknowledge a's alert, nor a nonexistent one.
        assert!(!s.acknowledge_alert("b", "B1", "other", "eve").unwrap());
        assert!(
            !s.acknowledge_alert("c", "B1", "titer_g_per_l", "eve")
                .unwrap()
        );
        assert!(
            s.acknowledge_alert("a", "B1", "titer_g_per_l", "qa.jane")
                .unwrap()
        );
        assert!(
            s.acknowledge_alert("a", "B1", "titer_g_per_l", "qa.joe")
                .unwrap()
        );
        let a = s.alerts("a").unwrap();
        assert_eq!(a[0].acknowledged_by.as_deref(), Some("qa.jane"));
        assert_eq!(s.alerts("b").unwrap()[0].acknowledged_by, None);
    }

    #[test]
    fn the_audit_trail_is_a_verified_hash_chain() {
        let s = MemoryStore::new();
        assert!(s.audit().unwrap().is_empty());
        let e0 = s
            .append_audit(
                "biotwin-live",
                None,
                "config.loaded",
                json!({"file": "site.toml"}),
            )
            .unwrap();
        let e1 = s
            .append_audit(
                "qa.jane",
                Some("a"),
                "alert.acknowledged",
                json!({"batch_id": "B1", "cqa": "titer_g_per_l"}),
            )
            .unwrap();
        assert_eq!((e0.seq, e1.seq), (0, 1));
        assert_eq!(e1.prev_sha256, e0.sha256);
        let trail = s.audit().unwrap();
        assert_eq!(trail, vec![e0, e1.clone()]);
        assert_eq!(verify(&trail).unwrap(), e1.sha256);
        assert_eq!(trail[1].tenant.as_deref(), Some("a"));
    }

    #[test]
    fn concurrent_writers_lose_nothing() {
        let s = std::sync::Arc::new(MemoryStore::new());
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let s = s.clone();
                std::thread::spawn(move || {
                    for i in 0..50u64 {
                        s.insert_prediction(&prediction("a", "B1", t * 100 + i, 1.0))
                            .unwrap();
                        s.append_audit("w", Some("a"), "test", json!({"t": t, "i": i}))
                            .unwrap();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(s.predictions("a", "B1").unwrap().len(), 200);
        let trail = s.audit().unwrap();
        assert_eq!(trail.len(), 200);
        assert!(verify(&trail).is_ok());
    }
}
