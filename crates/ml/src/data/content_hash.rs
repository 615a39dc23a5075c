//! Content hash of a dataset, for traceability of models to their data.
//!
//! The hash is sha256 over a canonical byte stream of the *parsed* data, not
//! of the files, so it does not change when the same data is exported long or
//! wide, compressed or not, or with rows in another order; it changes when any
//! value, time, unit conversion, metadata field or batch changes.
//!
//! Canonical stream (all integers u64 little-endian, all numbers IEEE-754
//! f64 little-endian with -0.0 written as 0.0, strings as byte length then
//! UTF-8 bytes, absent optional numbers as NaN):
//! `"biotwin-dataset/1"`, the variables (name, SI unit) in name order, the
//! number of batches, then per batch in id order: id, equipment, working
//! volume, recipe, material lots (count, then name/lot pairs in name order),
//! start (Unix s), end (Unix s), parameters and CQAs (count, then name/value
//! in name order), online series (count, then per variable in name order:
//! name, n, then n (time, value) pairs), offline samples (count, then per
//! variable: name, n, then n (sample time, result time, value) triples).

use sha2::{Digest, Sha256};

use super::batch::BatchRecord;
use super::tag_map::TagMap;

struct Canon(Sha256);

impl Canon {
    fn u(&mut self, n: usize) {
        self.0.update((n as u64).to_le_bytes());
    }
    fn f(&mut self, x: f64) {
        let x = if x == 0.0 { 0.0 } else { x };
        self.0.update(x.to_le_bytes());
    }
    fn s(&mut self, s: &str) {
        self.u(s.len());
        self.0.update(s.as_bytes());
    }
}

/// Hex sha256 of the canonical form of `batches` (see the module docs).
pub fn content_hash(tags: &TagMap, batches: &[BatchRecord]) -> String {
    let mut c = Canon(Sha256::new());
    c.s("biotwin-dataset/1");
    c.u(tags.variables.len());
    for v in tags.variables.values() {
        c.s(&v.name);
        c.s(&v.si_unit);
    }
    let mut sorted: Vec<&BatchRecord> = batches.iter().collect();
    sorted.sort_by(|a, b| a.id().cmp(b.id()));
    c.u(sorted.len());
    for b in sorted {
        let m = &b.meta;
        c.s(&m.id);
        c.s(&m.equipment);
        c.f(m.working_volume_m3.unwrap_or(f64::NAN));
        c.s(&m.recipe);
        c.u(m.material_lots.len());
        for (k, v) in &m.material_lots {
            c.s(k);
            c.s(v);
        }
        c.f(m.start_unix_s);
        c.f(m.end_unix_s);
        for map in [&m.parameters, &m.cqas] {
            c.u(map.len());
            for (k, v) in map {
                c.s(k);
                c.f(*v);
            }
        }
        c.u(b.online.len());
        for (name, ts) in &b.online {
            c.s(name);
            c.u(ts.time_s.len());
            for (t, v) in ts.time_s.iter().zip(&ts.value) {
                c.f(*t);
                c.f(*v);
            }
        }
        c.u(b.offline.len());
        for (name, samples) in &b.offline {
            c.s(name);
            c.u(samples.len());
            for s in samples {
                c.f(s.sample_time_s);
                c.f(s.result_time_s.unwrap_or(f64::NAN));
                c.f(s.value);
            }
        }
    }
    hex::encode(c.0.finalize())
}
