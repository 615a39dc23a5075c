//! What a running batch has observed so far, kept by sample time, turned
//! into a [`BatchRecord`] so that the live features are computed by the very
//! code that built the training features ([`UnfoldingSpec::features`]).
//!
//! Observations may arrive late or out of order: each is stored at its
//! sample time, and an offline one also with the time its result became
//! known, so a rung's cut sees exactly the lab results known by then. Two
//! values of a variable at one sample time: the later received one wins (a
//! historian correction replaces the earlier value).
//!
//! [`UnfoldingSpec::features`]: biotwin_ml::surrogates::unfold::UnfoldingSpec::features

use std::collections::BTreeMap;

use crate::Observation;
use biotwin_ml::data::{BatchMeta, BatchRecord, LabSample, SignalKind, TimeSeries};

/// One stored value: sample time, availability time, value (SI).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Point {
    time_s: f64,
    available_s: f64,
    value: f64,
}

/// Observations of one batch, by variable, sorted by sample time.
#[derive(Debug, Clone, Default)]
pub struct ObservedBatch {
    series: BTreeMap<String, (SignalKind, Vec<Point>)>,
    /// Latest availability time seen: the batch time of the information.
    latest_s: Option<f64>,
}

impl ObservedBatch {
    /// Stores `obs` as a signal of `kind`.
    pub fn insert(&mut self, kind: SignalKind, obs: &Observation) {
        let p = Point {
            time_s: obs.time_s,
            available_s: obs.available_s.max(obs.time_s),
            value: obs.value_si,
        };
        let pts = &mut self
            .series
            .entry(obs.variable.clone())
            .or_insert_with(|| (kind, Vec::new()))
            .1;
        let at = pts.partition_point(|q| q.time_s < p.time_s);
        if at < pts.len() && pts[at].time_s == p.time_s {
            pts[at] = p;
        } else {
            pts.insert(at, p);
        }
        self.latest_s = Some(
            self.latest_s
                .map_or(p.available_s, |l| l.max(p.available_s)),
        );
    }

    /// Batch time of the latest information (`None` before any).
    pub fn latest_s(&self) -> Option<f64> {
        self.latest_s
    }

    /// Latest value (by sample time) of each variable, for the forecast's
    /// state.
    pub fn last_values(&self) -> Vec<(String, f64)> {
        self.series
            .iter()
            .filter_map(|(v, (_, pts))| pts.last().map(|p| (v.clone(), p.value)))
            .collect()
    }

    /// A batch record of what is known, with `meta` (planned start and end,
    /// parameters) from the batch plan.
    pub fn record(&self, meta: &BatchMeta) -> BatchRecord {
        let mut online = BTreeMap::new();
        let mut offline = BTreeMap::new();
        for (var, (kind, pts)) in &self.series {
            match kind {
                SignalKind::Online => {
                    online.insert(
                        var.clone(),
                        TimeSeries {
                            time_s: pts.iter().map(|p| p.time_s).collect(),
                            value: pts.iter().map(|p| p.value).collect(),
                        },
                    );
                }
                SignalKind::Offline => {
                    offline.insert(
                        var.clone(),
                        pts.iter()
                            .map(|p| LabSample {
                                sample_time_s: p.time_s,
                                result_time_s: (p.available_s > p.time_s).then_some(p.available_s),
                                value: p.value,
                            })
                            .collect(),
                    );
                }
            }
        }
        BatchRecord {
            meta: meta.clone(),
            online,
            offline,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(v: &str, t: f64, a: f64, x: f64) -> Observation {
        Observation {
            variable: v.into(),
            time_s: t,
            available_s: a,
            value_si: x,
        }
    }

    #[test]
    fn keeps_late_values_at_their_sample_time() {
        let mut b = ObservedBatch::default();
        b.insert(SignalKind::Online, &obs("v", 20.0, 20.0, 2.0));
        b.insert(SignalKind::Online, &obs("v", 10.0, 10.0, 1.0));
        b.insert(SignalKind::Online, &obs("v", 20.0, 25.0, 3.0)); // correction
        b.insert(SignalKind::Offline, &obs("p", 5.0, 50.0, 7.0));
        assert_eq!(b.latest_s(), Some(50.0));
        let meta = BatchMeta {
            id: "B".into(),
            equipment: String::new(),
            working_volume_m3: None,
            recipe: String::new(),
            material_lots: BTreeMap::new(),
            start_unix_s: 0.0,
            end_unix_s: 100.0,
            parameters: BTreeMap::new(),
            cqas: BTreeMap::new(),
            files: vec![],
        };
        let r = b.record(&meta);
        assert_eq!(r.online["v"].time_s, vec![10.0, 20.0]);
        assert_eq!(r.online["v"].value, vec![1.0, 3.0]);
        // The lab result is known only from its availability time.
        assert!(r.offline_known_at("p", 40.0).time_s.is_empty());
        assert_eq!(r.offline_known_at("p", 50.0).value, vec![7.0]);
    }
}
