//! One batch record in memory: metadata, online time series, offline lab
//! samples and end-of-batch CQAs, all in SI with times in seconds from the
//! batch start.

use std::collections::BTreeMap;

use super::manifest::BatchMeta;

/// An online signal, sorted by time, no duplicate times.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TimeSeries {
    /// Seconds since the batch start.
    pub time_s: Vec<f64>,
    /// Values in the variable's SI unit.
    pub value: Vec<f64>,
}

impl TimeSeries {
    /// Linear interpolation at `t_s`; constant beyond either end (the last
    /// known value is held, never extrapolated). `None` for an empty series.
    pub fn at(&self, t_s: f64) -> Option<f64> {
        let n = self.time_s.len();
        if n == 0 {
            return None;
        }
        if t_s <= self.time_s[0] {
            return Some(self.value[0]);
        }
        if t_s >= self.time_s[n - 1] {
            return Some(self.value[n - 1]);
        }
        // First index with time > t_s; 1 <= hi <= n-1 here.
        let hi = self.time_s.partition_point(|&x| x <= t_s);
        let (t0, t1) = (self.time_s[hi - 1], self.time_s[hi]);
        let (v0, v1) = (self.value[hi - 1], self.value[hi]);
        Some(v0 + (v1 - v0) * (t_s - t0) / (t1 - t0))
    }

    /// The part of the series observed up to and including `t_s`.
    pub fn until(&self, t_s: f64) -> TimeSeries {
        let k = self.time_s.partition_point(|&x| x <= t_s);
        TimeSeries {
            time_s: self.time_s[..k].to_vec(),
            value: self.value[..k].to_vec(),
        }
    }
}

/// One offline (lab) result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LabSample {
    /// When the sample was drawn, seconds since the batch start.
    pub sample_time_s: f64,
    /// When the result became available, when the export says so.
    pub result_time_s: Option<f64>,
    /// Value in the variable's SI unit.
    pub value: f64,
}

impl LabSample {
    /// Whether the result was known at time `t_s` of the batch. Without a
    /// result timestamp the result is taken as known at sampling.
    pub fn known_at(&self, t_s: f64) -> bool {
        self.result_time_s.unwrap_or(self.sample_time_s) <= t_s
    }
}

/// Everything recorded about one batch.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchRecord {
    /// What the manifest says about the batch (id, window, parameters, CQAs).
    pub meta: BatchMeta,
    /// Online signals by variable name.
    pub online: BTreeMap<String, TimeSeries>,
    /// Offline lab results by variable name, sorted by sample time.
    pub offline: BTreeMap<String, Vec<LabSample>>,
}

impl BatchRecord {
    /// The batch id.
    pub fn id(&self) -> &str {
        &self.meta.id
    }
    /// Batch duration, s (end − start of the manifest's window).
    pub fn duration_s(&self) -> f64 {
        self.meta.duration_s()
    }
    /// Offline samples of `variable` whose results were known at `t_s`, as a
    /// series over sample time.
    pub fn offline_known_at(&self, variable: &str, t_s: f64) -> TimeSeries {
        let mut ts = TimeSeries::default();
        if let Some(samples) = self.offline.get(variable) {
            for s in samples.iter().filter(|s| s.known_at(t_s)) {
                ts.time_s.push(s.sample_time_s);
                ts.value.push(s.value);
            }
        }
        ts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolates_and_holds_ends() {
        let ts = TimeSeries {
            time_s: vec![0.0, 10.0, 20.0],
            value: vec![1.0, 3.0, 2.0],
        };
        assert_eq!(ts.at(-5.0), Some(1.0));
        assert_eq!(ts.at(5.0), Some(2.0));
        assert_eq!(ts.at(10.0), Some(3.0));
        assert_eq!(ts.at(15.0), Some(2.5));
        assert_eq!(ts.at(99.0), Some(2.0));
        assert_eq!(ts.until(10.0).time_s, vec![0.0, 10.0]);
        assert_eq!(TimeSeries::default().at(1.0), None);
    }

    #[test]
    fn lab_result_known_only_after_result_time() {
        let s = LabSample {
            sample_time_s: 100.0,
            result_time_s: Some(500.0),
            value: 1.0,
        };
        assert!(!s.known_at(200.0));
        assert!(s.known_at(500.0));
    }
}
