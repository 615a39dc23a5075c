//! From a raw [`Reading`] to an [`Observation`] of one batch, or the reason
//! it cannot be used.
//!
//! Every reading is stored as received before it gets here (the engine does
//! that); this module only decides whether a reading becomes model input, and
//! counts each refusal by reason, so nothing disappears without a number.
//!
//! Checks, in order: the tag is configured; the quality is good; the value,
//! in the tag's own unit, lies in the configured `[min, max]` (a value
//! exported in the wrong unit usually fails here: glucose in mg/L is a
//! thousand times too large); the same (tag, time) has not been seen for the batch
//! (`duplicate` with the same value, `conflicting_duplicate` with another); the value is not stale (older than `stale_after_s` behind
//! the newest online reading of the batch); the converted value is finite.

use std::collections::{BTreeMap, HashMap};

use super::config::{BatchConfig, TagConfig};
use super::{Observation, Quality, Reading};

/// Why a reading is not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rejection {
    /// Quality `uncertain` or `bad`.
    BadQuality,
    /// Value outside the tag's configured `[min, max]`, in the tag's own unit.
    OutOfRange,
    /// Its current time (a lab value: when it became available) lies more than
    /// the tag's `stale_after_s` behind the batch's clock (newest online sample).
    Stale,
    /// A tag the site configuration does not map.
    UnknownTag,
    /// No running batch of its unit takes it: its time lies outside every
    /// batch's window, or its batch has finished.
    OutsideBatchWindow,
    /// Same (tag, time) seen before for the batch, with the same value.
    Duplicate,
    /// Same (tag, time) seen before for the batch, with another value.
    ConflictingDuplicate,
    /// The value converted to SI is not finite.
    UnconvertibleUnit,
}

impl Rejection {
    /// Reason name as counted and reported (`bad_quality`, `stale`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Rejection::BadQuality => "bad_quality",
            Rejection::OutOfRange => "out_of_range",
            Rejection::Stale => "stale",
            Rejection::UnknownTag => "unknown_tag",
            Rejection::OutsideBatchWindow => "outside_batch_window",
            Rejection::Duplicate => "duplicate",
            Rejection::ConflictingDuplicate => "conflicting_duplicate",
            Rejection::UnconvertibleUnit => "unconvertible_unit",
        }
    }
}

/// Counts of refused readings by reason.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RejectionCounts(pub BTreeMap<&'static str, u64>);

impl RejectionCounts {
    /// Counts one refusal.
    pub fn add(&mut self, r: Rejection) {
        *self.0.entry(r.as_str()).or_insert(0) += 1;
    }
    /// Refusals of reason `r` so far.
    pub fn get(&self, r: Rejection) -> u64 {
        self.0.get(r.as_str()).copied().unwrap_or(0)
    }
    /// Refusals of all reasons.
    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }
}

/// Mapping state of one batch: what it has seen, and its clock.
#[derive(Debug, Clone)]
pub struct BatchMapper {
    start_unix_s: f64,
    /// Value bits of the first reading mapped per (tag, time bits).
    seen: HashMap<(String, u64), u64>,
    /// Newest sample time of an online tag of this batch, Unix s: the
    /// batch's "now" as far as the data tells.
    clock_unix_s: f64,
    /// Newest sample time per tag, for tags that stop reporting.
    last_per_tag: BTreeMap<String, f64>,
}

impl BatchMapper {
    /// A mapper for `batch`, having seen nothing (clock at the batch start).
    pub fn new(batch: &BatchConfig) -> Self {
        BatchMapper {
            start_unix_s: batch.start_unix_s,
            seen: HashMap::new(),
            clock_unix_s: batch.start_unix_s,
            last_per_tag: BTreeMap::new(),
        }
    }

    /// Seconds of batch time the data has reached.
    pub fn clock_s(&self) -> f64 {
        self.clock_unix_s - self.start_unix_s
    }

    /// Maps one reading of this batch (the caller checked the batch window).
    pub fn map(
        &mut self,
        tags: &BTreeMap<String, TagConfig>,
        r: &Reading,
    ) -> Result<Observation, Rejection> {
        let Some(tag) = tags.get(&r.tag) else {
            return Err(Rejection::UnknownTag);
        };
        if r.quality != Quality::Good {
            return Err(Rejection::BadQuality);
        }
        if !(r.value >= tag.min && r.value <= tag.max) {
            return Err(Rejection::OutOfRange);
        }
        // One tag has one value at one instant: a second, different value
        // for the same (tag, time) is a conflict, refused under its own
        // reason (the first value received stays the one used, as a live
        // system cannot take back what it already assimilated).
        match self.seen.get(&(r.tag.clone(), r.time_unix_s.to_bits())) {
            Some(&v) if v == r.value.to_bits() => return Err(Rejection::Duplicate),
            Some(_) => return Err(Rejection::ConflictingDuplicate),
            None => {
                self.seen
                    .insert((r.tag.clone(), r.time_unix_s.to_bits()), r.value.to_bits());
            }
        }
        // A lab result counts as current when it arrives, not when sampled.
        let available_unix_s = match (tag.lab, r.available_unix_s) {
            (_, Some(a)) => a.max(r.time_unix_s),
            (true, None) => r.time_unix_s + tag.result_delay_s,
            (false, None) => r.time_unix_s,
        };
        let current_unix_s = if tag.lab {
            available_unix_s
        } else {
            r.time_unix_s
        };
        if current_unix_s < self.clock_unix_s - tag.stale_after_s {
            return Err(Rejection::Stale);
        }
        let value_si = tag.to_si.apply(r.value);
        if !value_si.is_finite() {
            return Err(Rejection::UnconvertibleUnit);
        }
        if !tag.lab {
            self.clock_unix_s = self.clock_unix_s.max(r.time_unix_s);
        }
        let last = self.last_per_tag.entry(r.tag.clone()).or_insert(f64::MIN);
        *last = last.max(r.time_unix_s);
        Ok(Observation {
            variable: tag.variable.clone(),
            time_s: r.time_unix_s - self.start_unix_s,
            available_s: available_unix_s - self.start_unix_s,
            value_si,
        })
    }

    /// Tags that have reported for this batch but not within their
    /// `stale_after_s` of the batch clock (a tag that disappeared).
    pub fn stale_tags(&self, tags: &BTreeMap<String, TagConfig>) -> Vec<String> {
        self.last_per_tag
            .iter()
            .filter(|(name, last)| {
                tags.get(*name)
                    .is_some_and(|t| **last < self.clock_unix_s - t.stale_after_s)
            })
            .map(|(name, _)| name.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use biotwin_ml::data::tag_map::conversion;
    use std::path::PathBuf;

    fn tags() -> BTreeMap<String, TagConfig> {
        let mk = |tag: &str, var: &str, unit: &str, si: &str, max: f64, lab: bool| TagConfig {
            tag: tag.into(),
            variable: var.into(),
            unit: unit.into(),
            to_si: conversion(unit, si).unwrap(),
            min: 0.0,
            max,
            stale_after_s: 3600.0,
            lab,
            result_delay_s: if lab { 7200.0 } else { 0.0 },
        };
        [
            mk("DO", "dissolved_o2", "%", "1", 100.0, false),
            mk("GLC", "glucose", "g/L", "kg/m3", 20.0, true),
        ]
        .into_iter()
        .map(|t| (t.tag.clone(), t))
        .collect()
    }

    fn batch() -> BatchConfig {
        BatchConfig {
            id: "B".into(),
            tenant: "t".into(),
            unit: "U".into(),
            start_unix_s: 1000.0,
            planned_end_unix_s: 1.0e6,
            process: PathBuf::new(),
            predictor: "mechanistic".into(),
            model: None,
            model_from_process: false,
        }
    }

    fn r(tag: &str, t: f64, v: f64, q: Quality) -> Reading {
        Reading {
            tag: tag.into(),
            time_unix_s: t,
            available_unix_s: None,
            value: v,
            quality: q,
        }
    }

    #[test]
    fn converts_to_si_at_batch_time_and_delays_lab_results() {
        let (t, mut m) = (tags(), BatchMapper::new(&batch()));
        let o = m.map(&t, &r("DO", 1600.0, 45.0, Quality::Good)).unwrap();
        assert_eq!(o.variable, "dissolved_o2");
        assert!((o.value_si - 0.45).abs() < 1e-12);
        assert_eq!((o.time_s, o.available_s), (600.0, 600.0));
        let o = m.map(&t, &r("GLC", 1100.0, 3.0, Quality::Good)).unwrap();
        assert_eq!((o.time_s, o.available_s), (100.0, 7300.0));
        let mut late = r("GLC", 1200.0, 3.1, Quality::Good);
        late.available_unix_s = Some(1200.0 + 6.0 * 3600.0);
        let o = m.map(&t, &late).unwrap();
        assert_eq!(o.time_s, 200.0);
        assert_eq!(m.clock_s(), 600.0);
    }

    #[test]
    fn each_reason_is_named() {
        let (t, mut m) = (tags(), BatchMapper::new(&batch()));
        let e = |m: &mut BatchMapper, x: Reading| m.map(&t, &x).unwrap_err();
        assert_eq!(
            e(&mut m, r("XX", 1100.0, 1.0, Quality::Good)),
            Rejection::UnknownTag
        );
        assert_eq!(
            e(&mut m, r("DO", 1100.0, 1.0, Quality::Bad)),
            Rejection::BadQuality
        );
        assert_eq!(
            e(&mut m, r("DO", 1100.0, 1.0, Quality::Uncertain)),
            Rejection::BadQuality
        );
        assert_eq!(
            e(&mut m, r("GLC", 1100.0, 3000.0, Quality::Good)),
            Rejection::OutOfRange
        );
        m.map(&t, &r("DO", 1100.0, 40.0, Quality::Good)).unwrap();
        assert_eq!(
            e(&mut m, r("DO", 1100.0, 40.0, Quality::Good)),
            Rejection::Duplicate
        );
        assert_eq!(
            e(&mut m, r("DO", 1100.0, 40.5, Quality::Good)),
            Rejection::ConflictingDuplicate
        );
        m.map(&t, &r("DO", 9000.0, 40.0, Quality::Good)).unwrap();
        assert_eq!(
            e(&mut m, r("DO", 2000.0, 41.0, Quality::Good)),
            Rejection::Stale
        );
        // Within stale_after_s behind the clock: out of order, still used.
        assert!(m.map(&t, &r("DO", 6000.0, 41.0, Quality::Good)).is_ok());
        assert_eq!(m.stale_tags(&t), Vec::<String>::new());
        m.map(&t, &r("DO", 20000.0, 41.0, Quality::Good)).unwrap();
        m.map(&t, &r("GLC", 19000.0, 2.0, Quality::Good)).unwrap();
        m.map(&t, &r("DO", 30000.0, 41.0, Quality::Good)).unwrap();
        assert_eq!(m.stale_tags(&t), vec!["GLC".to_string()]);
    }
}
