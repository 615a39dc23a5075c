//! Rows of historian exports as [`Reading`]s, shared by the replay and tail
//! sources.
//!
//! Unlike the training-data readers (`biotwin_ml::data`), nothing is filtered
//! here: unknown tags and bad-quality rows become readings too, so that they
//! are stored as received and counted where they are refused (mapping). Only
//! a row that cannot be a reading at all (no parsable time or value) is
//! refused here, and it is counted and named with its line.

use super::{Quality, Reading};
use crate::error::RowError;
use biotwin_ml::data::timestamp::parse_rfc3339;

/// Column positions of a long export (`timestamp,tag,value[,quality][,result_timestamp]`).
#[derive(Debug, Clone, PartialEq)]
pub struct LongColumns {
    time: usize,
    tag: usize,
    value: usize,
    quality: Option<usize>,
    result: Option<usize>,
}

impl LongColumns {
    /// From a header row; the error says what is missing.
    pub fn from_header<'a>(header: impl Iterator<Item = &'a str>) -> Result<Self, RowError> {
        let names: Vec<String> = header.map(|h| h.trim().to_ascii_lowercase()).collect();
        let col = |n: &str| names.iter().position(|h| h == n);
        match (col("timestamp"), col("tag"), col("value")) {
            (Some(time), Some(tag), Some(value)) => Ok(LongColumns {
                time,
                tag,
                value,
                quality: col("quality"),
                result: col("result_timestamp"),
            }),
            _ => Err(RowError::Header {
                found: names.join(","),
            }),
        }
    }

    /// One row as a reading.
    pub fn reading(&self, row: &csv::StringRecord) -> Result<Reading, RowError> {
        let f = |c: usize| row.get(c).unwrap_or("").trim();
        let time_unix_s =
            parse_rfc3339(f(self.time)).map_err(|e| time("timestamp", e.to_string()))?;
        let value = parse_value(f(self.value))?;
        let quality = self.quality.map_or(Quality::Good, |c| parse_quality(f(c)));
        let available_unix_s = match self.result.map(f).filter(|s| !s.is_empty()) {
            None => None,
            Some(s) => Some(parse_rfc3339(s).map_err(|e| time("result_timestamp", e.to_string()))?),
        };
        Ok(Reading {
            tag: f(self.tag).to_string(),
            time_unix_s,
            available_unix_s,
            value,
            quality,
        })
    }
}

fn parse_value(s: &str) -> Result<f64, RowError> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(RowError::Value {
            found: s.to_string(),
        }),
    }
}

fn time(column: &'static str, message: String) -> RowError {
    RowError::Time { column, message }
}

/// Historian quality flags. OPC codes: 192 good, 64 uncertain, 0 bad. An
/// unrecognised flag is taken as bad: the value is kept in the store but not
/// used, rather than trusting what nobody vouched for.
pub fn parse_quality(flag: &str) -> Quality {
    match flag.trim().to_ascii_lowercase().as_str() {
        "" | "good" | "g" | "192" => Quality::Good,
        "uncertain" | "questionable" | "substituted" | "u" | "64" => Quality::Uncertain,
        _ => Quality::Bad,
    }
}

/// Readings of one row of a wide export (`timestamp,TAG1,TAG2,...`); empty
/// cells are missing values, not readings.
pub fn wide_readings(header: &[String], row: &csv::StringRecord) -> Result<Vec<Reading>, RowError> {
    let time = parse_rfc3339(row.get(0).unwrap_or("").trim())
        .map_err(|e| time("timestamp", e.to_string()))?;
    let mut out = Vec::new();
    for (i, tag) in header.iter().enumerate().skip(1) {
        let cell = row.get(i).unwrap_or("").trim();
        if cell.is_empty() {
            continue;
        }
        out.push(Reading {
            tag: tag.clone(),
            time_unix_s: time,
            available_unix_s: None,
            value: parse_value(cell).map_err(|e| RowError::Column {
                tag: tag.clone(),
                inner: Box::new(e),
            })?,
            quality: Quality::Good,
        });
    }
    Ok(out)
}
