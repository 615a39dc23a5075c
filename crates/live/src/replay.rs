//! Replay of a historian export (long or wide; CSV, optionally gzip, or
//! Parquet) as if it were arriving live.
//!
//! Readings are emitted in the order they became available (result time,
//! else sample time; file order among equal times). Pacing: a reading is due when
//! `(t - t0) / speed` seconds of wall-clock time have passed since the first
//! poll, where `t` is the latest sample time seen so far in the file (so an
//! out-of-order row does not stall the replay) and `t0` the first. A speed of
//! 0 or infinity means as fast as possible. Rows that cannot be readings are
//! counted ([`Source::malformed_rows`]) and reported on stderr with their line.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::config::DataFormat;
use super::rows::{LongColumns, wide_readings};
use super::{Poll, Reading, Source};
use crate::Error;
use biotwin_ml::data::csv_source::open_export_partial;
use biotwin_ml::data::manifest::FileFormat;
use biotwin_ml::data::parquet_source::is_parquet;

/// Most readings handed out by one poll when running unpaced.
const CHUNK: usize = 1000;

/// [`Source`] replaying a historian export as if it arrived live (module
/// docs: order, pacing, malformed rows).
pub struct ReplaySource {
    path: PathBuf,
    readings: Vec<Reading>,
    /// Running maximum of sample times, for pacing.
    pace_unix_s: Vec<f64>,
    pos: usize,
    speed: f64,
    started: Option<Instant>,
    malformed: u64,
    /// What was lost when a damaged export was accepted in part.
    partial: Option<String>,
}

impl ReplaySource {
    /// Reads the whole export; `speed` is simulated seconds per wall second.
    pub fn open(path: &Path, format: DataFormat, speed: f64) -> Result<Self, Error> {
        Self::open_partial(path, format, speed, false)
    }

    /// [`open`](Self::open); with `accept_partial` (the site file's
    /// `accept_partial = true`) an export cut part-way is read up to its
    /// last complete line and [`Source::partial`] says what was lost.
    pub fn open_partial(
        path: &Path,
        format: DataFormat,
        speed: f64,
        accept_partial: bool,
    ) -> Result<Self, Error> {
        let (mut readings, malformed, partial) = read_export_partial(path, format, accept_partial)?;
        // An export is a record, not the order values arrived in: many
        // historians write it grouped by tag, which replayed in file order
        // would run one tag to the batch end before the next begins. Deliver
        // in the order the values became available (stable: rows with equal
        // times keep their file order).
        readings.sort_by(|a, b| arrival(a).total_cmp(&arrival(b)));
        let mut pace = Vec::with_capacity(readings.len());
        let mut max = f64::NEG_INFINITY;
        for r in &readings {
            max = max.max(r.time_unix_s);
            pace.push(max);
        }
        Ok(ReplaySource {
            path: path.to_path_buf(),
            readings,
            pace_unix_s: pace,
            pos: 0,
            speed,
            started: None,
            malformed,
            partial,
        })
    }

    /// Readings still to come.
    /// Paces as if the first poll had been at `started` (a source re-read
    /// after a batch lease was taken over: what has been due since is
    /// handed out at once, the rest at the pace).
    pub fn starting_at(mut self, started: Instant) -> Self {
        self.started = Some(started);
        self
    }

    /// Readings not yet handed out.
    pub fn remaining(&self) -> usize {
        self.readings.len() - self.pos
    }

    fn unpaced(&self) -> bool {
        self.speed <= 0.0 || !self.speed.is_finite()
    }
}

impl Source for ReplaySource {
    fn describe(&self) -> String {
        format!("replay:{}", self.path.display())
    }

    fn poll(&mut self) -> Result<Poll, Error> {
        if self.pos >= self.readings.len() {
            return Ok(Poll::End);
        }
        let end = if self.unpaced() {
            (self.pos + CHUNK).min(self.readings.len())
        } else {
            let started = *self.started.get_or_insert_with(Instant::now);
            let t0 = self.pace_unix_s[0];
            let due = |i: usize, now: f64| (self.pace_unix_s[i] - t0) / self.speed <= now;
            let now = started.elapsed().as_secs_f64();
            if !due(self.pos, now) {
                // Never waits here: the engine sleeps until `due_in`.
                return Ok(Poll::Idle);
            }
            let mut e = self.pos;
            while e < self.readings.len() && e - self.pos < CHUNK && due(e, now) {
                e += 1;
            }
            e
        };
        let out = self.readings[self.pos..end].to_vec();
        self.pos = end;
        Ok(Poll::Readings(out))
    }

    fn due_in(&self) -> Option<Duration> {
        if self.pos >= self.readings.len() {
            return None;
        }
        if self.unpaced() {
            return Some(Duration::ZERO);
        }
        // Not polled yet: its clock starts at the first poll.
        let Some(started) = self.started else {
            return Some(Duration::ZERO);
        };
        let at = (self.pace_unix_s[self.pos] - self.pace_unix_s[0]) / self.speed;
        let wait = at - started.elapsed().as_secs_f64();
        Some(Duration::from_secs_f64(wait.clamp(0.0, 1e9)))
    }

    fn malformed_rows(&self) -> u64 {
        self.malformed
    }

    fn partial(&self) -> Option<String> {
        self.partial.clone()
    }
}

/// When a reading became available to a live historian client.
fn arrival(r: &Reading) -> f64 {
    r.available_unix_s.unwrap_or(r.time_unix_s)
}

/// Every reading of an export, in file order, and the count of rows that
/// could not be read (each reported on stderr). A Parquet file (see
/// `data::parquet_source`) is read with `format` as its layout, or with the
/// layout its columns show when `format` is `parquet`.
pub fn read_export(path: &Path, format: DataFormat) -> Result<(Vec<Reading>, u64), Error> {
    read_export_partial(path, format, false).map(|(r, m, _)| (r, m))
}

/// [`read_export`], optionally accepting a CSV export cut part-way (what
/// was lost in the third value).
pub fn read_export_partial(
    path: &Path,
    format: DataFormat,
    accept_partial: bool,
) -> Result<(Vec<Reading>, u64, Option<String>), Error> {
    let layout = match format {
        DataFormat::Long => Some(FileFormat::Long),
        DataFormat::Wide => Some(FileFormat::Wide),
        DataFormat::Parquet => None,
    };
    if format == DataFormat::Parquet && !is_parquet(path) {
        return Err(Error::source_data(
            path,
            "format",
            "a Parquet file, as `format = \"parquet\"` says",
            "a file that neither starts with the Parquet magic bytes PAR1 nor is named .parquet",
        ));
    }
    let (table, partial) = open_export_partial(path, layout, accept_partial)?;
    let header: Vec<String> = table.header.iter().map(str::to_string).collect();
    let long = match table.parquet_layout.or(layout) {
        Some(FileFormat::Long) => Some(
            LongColumns::from_header(header.iter().map(String::as_str))
                .map_err(|e| Error::source_data(path, "header", "a long export", e.to_string()))?,
        ),
        _ => {
            if header.first().map(String::as_str) != Some("timestamp") {
                return Err(Error::source_data(
                    path,
                    "column 1",
                    "`timestamp` as the first column of a wide export",
                    format!("`{}`", header.first().cloned().unwrap_or_default()),
                ));
            }
            None
        }
    };
    let at = |n: Option<usize>| match n {
        Some(n) => table.positions.describe(path, n),
        None => path.display().to_string(),
    };
    let mut out = Vec::new();
    let mut malformed = 0u64;
    for rec in table.rows {
        let rec = match rec {
            Ok(r) => r,
            Err(p) => {
                malformed += 1;
                let column = if p.column.is_empty() {
                    String::new()
                } else {
                    format!("{}: ", p.column)
                };
                eprintln!(
                    "{}: unreadable row: {column}expected {}, found {}",
                    at(p.at),
                    p.expected,
                    p.found
                );
                continue;
            }
        };
        if rec.len() == 1 && rec.get(0) == Some("") {
            continue;
        }
        let line = rec.position().map(|p| p.line() as usize);
        let parsed = match &long {
            Some(cols) => cols.reading(&rec).map(|r| vec![r]),
            None => wide_readings(&header, &rec),
        };
        match parsed {
            Ok(rs) => out.extend(rs),
            Err(e) => {
                malformed += 1;
                eprintln!("{}: row skipped: {e}", at(line));
            }
        }
    }
    Ok((out, malformed, partial))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Quality;

    #[test]
    fn reads_long_and_wide_in_file_order() {
        let dir = tempfile::tempdir().unwrap();
        let long = dir.path().join("l.csv");
        std::fs::write(
            &long,
            "timestamp,tag,value,quality,result_timestamp\n\
             2025-01-01T01:00:00Z,A,1.5,good,\n\
             2025-01-01T00:00:00Z,B,2,bad,\n\
             not-a-time,A,1,,\n\
             2025-01-01T02:00:00Z,GLC,3,,2025-01-01T08:00:00Z\n",
        )
        .unwrap();
        let (r, bad) = read_export(&long, DataFormat::Long).unwrap();
        assert_eq!(bad, 1);
        assert_eq!(r.len(), 3);
        assert_eq!(r[0].tag, "A");
        assert_eq!(r[1].quality, Quality::Bad);
        assert_eq!(
            r[2].available_unix_s.unwrap() - r[2].time_unix_s,
            6.0 * 3600.0
        );

        let wide = dir.path().join("w.csv");
        std::fs::write(
            &wide,
            "timestamp,A,B\n2025-01-01T00:00:00Z,1,\n2025-01-01T00:01:00Z,2,3\n",
        )
        .unwrap();
        let mut s = ReplaySource::open(&wide, DataFormat::Wide, 0.0).unwrap();
        let Poll::Readings(r) = s.poll().unwrap() else {
            panic!("readings expected")
        };
        assert_eq!(
            r.iter().map(|x| x.value).collect::<Vec<_>>(),
            [1.0, 2.0, 3.0]
        );
        assert_eq!(s.poll().unwrap(), Poll::End);
    }

    #[test]
    fn paced_replay_holds_back_future_readings() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("l.csv");
        std::fs::write(
            &p,
            "timestamp,tag,value\n2025-01-01T00:00:00Z,A,1\n2030-01-01T00:00:00Z,A,2\n",
        )
        .unwrap();
        let mut s = ReplaySource::open(&p, DataFormat::Long, 1.0).unwrap();
        assert!(matches!(s.poll().unwrap(), Poll::Readings(r) if r.len() == 1));
        assert_eq!(s.poll().unwrap(), Poll::Idle);
        assert_eq!(s.remaining(), 1);
    }
}
