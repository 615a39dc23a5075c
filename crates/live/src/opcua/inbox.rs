//! Where the client thread leaves readings for `poll()`: converts OPC UA data
//! values to [`Reading`]s, drops duplicates and remembers, per tag, the last
//! source time received (where a back-fill after a lost connection starts).
//!
//! Subscription and back-fill both deliver through [`Inbox::offer`], so a
//! value that comes both ways (the gap's edges overlap on purpose) is kept once.

use std::collections::{HashMap, HashSet};

use ::opcua::types::{DataValue, DateTime, StatusCode};

use crate::{Quality, Reading};

/// Ticks (100 ns) between the OPC UA epoch (1601-01-01) and the Unix epoch.
const UNIX_EPOCH_TICKS: i64 = 116_444_736_000_000_000;
const TICKS_PER_S: f64 = 1.0e7;

/// Keys older than this behind a tag's newest reading are forgotten: a
/// back-fill starts at the newest reading, so nothing older comes again.
const DEDUP_RETENTION_TICKS: i64 = 7 * 24 * 3600 * 10_000_000;

pub fn unix_s(t: &DateTime) -> f64 {
    (t.ticks() - UNIX_EPOCH_TICKS) as f64 / TICKS_PER_S
}

pub fn from_ticks(ticks: i64) -> DateTime {
    DateTime::from(ticks)
}

/// Counters a caller can log or test.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpcUaStats {
    /// Readings handed on (after duplicate suppression).
    pub readings: u64,
    /// Of those, readings that came through HistoryRead.
    pub backfilled: u64,
    /// Values received twice (same tag, source time and value) and dropped.
    pub duplicates: u64,
    /// Values with neither a source nor a server timestamp (cannot be placed in time).
    pub untimed: u64,
    /// Successful connections (the first one included).
    pub connects: u64,
    /// Connections lost (each followed by a reconnect with backoff).
    pub connection_losses: u64,
    /// HistoryRead requests the server refused (no history for that node).
    pub backfill_refused: u64,
}

/// Converts one data value of a tag; `None` when it carries no reading.
/// Returns the source time in ticks with the reading (the dedup key).
pub fn to_reading(tag: &str, lab: bool, dv: &DataValue) -> Option<(i64, Reading)> {
    let status = dv.status.unwrap_or(StatusCode::Good);
    // The placeholder of a node that has no value yet is not a measurement.
    if status.sub_code() == StatusCode::BadWaitingForInitialData.sub_code() {
        return None;
    }
    let time = dv
        .source_timestamp
        .as_ref()
        .or(dv.server_timestamp.as_ref())?;
    let value = dv.value.as_ref().and_then(|v| v.as_f64());
    let mut quality = if status.is_good() {
        Quality::Good
    } else if status.is_uncertain() {
        Quality::Uncertain
    } else {
        Quality::Bad
    };
    // A good status without a number (null, a string) is still not data.
    let value = match value {
        Some(v) if v.is_finite() => v,
        _ => {
            quality = Quality::Bad;
            f64::NAN
        }
    };
    let available_unix_s = if lab {
        dv.server_timestamp
            .as_ref()
            .filter(|s| s.ticks() >= time.ticks())
            .map(unix_s)
    } else {
        None
    };
    Some((
        time.ticks(),
        Reading {
            tag: tag.to_string(),
            time_unix_s: unix_s(time),
            available_unix_s,
            value,
            quality,
        },
    ))
}

#[derive(Default)]
pub struct Inbox {
    pending: Vec<Reading>,
    /// Per tag: (source ticks, value bits) seen.
    seen: HashMap<String, HashSet<(i64, u64)>>,
    /// Per tag: newest source ticks received.
    newest: HashMap<String, i64>,
    /// Newest ticks per tag when the connection was lost: where the back-fill
    /// starts. Kept until a back-fill succeeds (several losses: the first).
    gap_from: Option<HashMap<String, i64>>,
    /// While set, `take` hands nothing on: between a lost connection and the
    /// end of its back-fill (and during a first-connection back-fill), the
    /// new subscription delivers values newer than the gap's, and handing
    /// those on first would put the stream out of order.
    holding: bool,
    pub stats: OpcUaStats,
    /// Set when the client thread stopped for good.
    pub fatal: Option<String>,
    /// The latest problem that did not stop it (for logs).
    pub last_error: Option<String>,
}

impl Inbox {
    /// Takes one data value; returns whether it was a new reading.
    pub fn offer(&mut self, tag: &str, lab: bool, dv: &DataValue, backfill: bool) -> bool {
        let Some((ticks, reading)) = to_reading(tag, lab, dv) else {
            let placeholder = dv
                .status
                .is_some_and(|s| s.sub_code() == StatusCode::BadWaitingForInitialData.sub_code());
            if !placeholder {
                self.stats.untimed += 1;
            }
            return false;
        };
        // NaN has many bit patterns; every missing value is the same one.
        let bits = if reading.value.is_nan() {
            f64::NAN.to_bits()
        } else {
            reading.value.to_bits()
        };
        let seen = self.seen.entry(tag.to_string()).or_default();
        if !seen.insert((ticks, bits)) {
            self.stats.duplicates += 1;
            return false;
        }
        let newest = self.newest.entry(tag.to_string()).or_insert(ticks);
        if ticks > *newest {
            *newest = ticks;
        }
        if seen.len() > 100_000 {
            let horizon = *newest - DEDUP_RETENTION_TICKS;
            seen.retain(|(t, _)| *t >= horizon);
        }
        self.stats.readings += 1;
        if backfill {
            self.stats.backfilled += 1;
        }
        self.pending.push(reading);
        true
    }

    /// The readings received so far, in order of availability (result time
    /// for a lab node, sample time otherwise; ties by sample time, then tag).
    ///
    /// The server publishes in the order values became available, and each
    /// notification is offered whole (under one lock, see `client.rs`), but
    /// inside a notification values come grouped by monitored item: sorting
    /// what is taken restores the server's order. With every take a union
    /// of whole notifications (and back-filled gaps released whole), the
    /// stream handed on is in order of availability, the order the engine's
    /// forecasts need to be independent of how the data was chunked.
    pub fn take(&mut self) -> Vec<Reading> {
        if self.holding {
            return Vec::new();
        }
        let mut out = std::mem::take(&mut self.pending);
        let at = |r: &Reading| r.available_unix_s.unwrap_or(r.time_unix_s);
        out.sort_by(|a, b| {
            at(a)
                .total_cmp(&at(b))
                .then(a.time_unix_s.total_cmp(&b.time_unix_s))
                .then_with(|| a.tag.cmp(&b.tag))
        });
        out
    }

    /// Hold what arrives until [`Inbox::release`] (a back-fill is running).
    pub fn hold(&mut self) {
        self.holding = true;
    }

    /// Hand on again what was held (back-fill done, or given up: better out
    /// of order than not at all).
    pub fn release(&mut self) {
        self.holding = false;
    }

    /// The connection is gone: remember where each tag's gap starts.
    pub fn connection_lost(&mut self) {
        self.stats.connection_losses += 1;
        if self.gap_from.is_none() {
            self.gap_from = Some(self.newest.clone());
        }
        self.holding = true;
    }

    /// Where to back-fill each tag from: its newest reading before the loss;
    /// a tag that had none, from the earliest of the others.
    pub fn gap_starts(&self, tags: &[String]) -> Option<HashMap<String, i64>> {
        let gap = self.gap_from.as_ref()?;
        let earliest = gap.values().copied().min()?;
        Some(
            tags.iter()
                .map(|t| (t.clone(), gap.get(t).copied().unwrap_or(earliest)))
                .collect(),
        )
    }

    pub fn gap_filled(&mut self) {
        self.gap_from = None;
        self.holding = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::opcua::types::Variant;

    fn dv(value: Option<f64>, status: StatusCode, src_s: i64, srv_s: i64) -> DataValue {
        DataValue {
            value: value.map(Variant::Double),
            status: Some(status),
            source_timestamp: Some(from_ticks(UNIX_EPOCH_TICKS + src_s * 10_000_000)),
            server_timestamp: Some(from_ticks(UNIX_EPOCH_TICKS + srv_s * 10_000_000)),
            ..Default::default()
        }
    }

    #[test]
    fn status_classes_map_to_quality() {
        let t = 1_735_689_600; // 2025-01-01T00:00:00Z
        let (_, r) = to_reading("ph", false, &dv(Some(7.0), StatusCode::Good, t, t)).unwrap();
        assert_eq!(
            (r.quality, r.value, r.time_unix_s),
            (Quality::Good, 7.0, t as f64)
        );
        assert_eq!(r.available_unix_s, None);
        let (_, r) = to_reading(
            "ph",
            false,
            &dv(Some(7.0), StatusCode::UncertainLastUsableValue, t, t),
        )
        .unwrap();
        assert_eq!(r.quality, Quality::Uncertain);
        let (_, r) =
            to_reading("ph", false, &dv(None, StatusCode::BadSensorFailure, t, t)).unwrap();
        assert_eq!(r.quality, Quality::Bad);
        assert!(r.value.is_nan());
        // Good status but no number: not data.
        let (_, r) = to_reading("ph", false, &dv(None, StatusCode::Good, t, t)).unwrap();
        assert_eq!(r.quality, Quality::Bad);
        assert!(
            to_reading(
                "ph",
                false,
                &dv(None, StatusCode::BadWaitingForInitialData, t, t)
            )
            .is_none()
        );
    }

    #[test]
    fn lab_result_time_is_the_server_timestamp() {
        let t = 1_735_689_600;
        let (_, r) =
            to_reading("titer", true, &dv(Some(0.5), StatusCode::Good, t, t + 3600)).unwrap();
        assert_eq!(r.time_unix_s, t as f64);
        assert_eq!(r.available_unix_s, Some((t + 3600) as f64));
    }

    #[test]
    fn duplicates_are_kept_once_and_gap_starts_at_newest() {
        let mut inbox = Inbox::default();
        let t = 1_735_689_600;
        assert!(inbox.offer("ph", false, &dv(Some(7.0), StatusCode::Good, t, t), false));
        assert!(inbox.offer(
            "ph",
            false,
            &dv(Some(7.1), StatusCode::Good, t + 60, t + 60),
            false
        ));
        assert!(!inbox.offer(
            "ph",
            false,
            &dv(Some(7.1), StatusCode::Good, t + 60, t + 60),
            true
        ));
        // Same time, other value: a correction, kept.
        assert!(inbox.offer(
            "ph",
            false,
            &dv(Some(7.2), StatusCode::Good, t + 60, t + 60),
            true
        ));
        assert_eq!(inbox.stats.duplicates, 1);
        assert_eq!(inbox.stats.backfilled, 1);
        assert_eq!(inbox.take().len(), 3);
        assert!(inbox.take().is_empty());
        inbox.connection_lost();
        let starts = inbox.gap_starts(&["ph".into(), "do".into()]).unwrap();
        let t60 = UNIX_EPOCH_TICKS + (t + 60) * 10_000_000;
        assert_eq!(starts["ph"], t60);
        assert_eq!(starts["do"], t60);
        inbox.gap_filled();
        assert!(inbox.gap_starts(&["ph".into()]).is_none());
    }

    #[test]
    fn take_is_in_order_of_availability_and_holds_during_a_gap() {
        let mut inbox = Inbox::default();
        let t = 1_735_689_600;
        // Grouped by item, as a notification comes: ph 0 and 120, then a lab
        // result sampled at 0 but available at 60, then do at 60.
        inbox.offer("ph", false, &dv(Some(7.0), StatusCode::Good, t, t), false);
        inbox.offer(
            "ph",
            false,
            &dv(Some(7.1), StatusCode::Good, t + 120, t + 120),
            false,
        );
        inbox.offer(
            "titer",
            true,
            &dv(Some(0.5), StatusCode::Good, t, t + 60),
            false,
        );
        inbox.offer(
            "do",
            false,
            &dv(Some(0.4), StatusCode::Good, t + 60, t + 60),
            false,
        );
        let order: Vec<(String, f64)> = inbox
            .take()
            .into_iter()
            .map(|r| (r.tag, r.time_unix_s - t as f64))
            .collect();
        let want = [("ph", 0.0), ("titer", 0.0), ("do", 60.0), ("ph", 120.0)];
        let want: Vec<(String, f64)> = want.iter().map(|(a, b)| (a.to_string(), *b)).collect();
        assert_eq!(order, want);
        inbox.connection_lost();
        inbox.offer(
            "ph",
            false,
            &dv(Some(7.3), StatusCode::Good, t + 300, t + 300),
            false,
        );
        assert!(inbox.take().is_empty(), "held until the back-fill is done");
        inbox.offer(
            "ph",
            false,
            &dv(Some(7.2), StatusCode::Good, t + 180, t + 180),
            true,
        );
        inbox.gap_filled();
        let times: Vec<f64> = inbox
            .take()
            .iter()
            .map(|r| r.time_unix_s - t as f64)
            .collect();
        assert_eq!(times, vec![180.0, 300.0]);
    }
}
