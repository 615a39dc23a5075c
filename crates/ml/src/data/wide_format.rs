//! Reader of wide exports (CSV, or Parquet with these columns, see
//! `parquet_source`): one row per time, one column per tag.
//!
//! The first column is the time, either `timestamp` (RFC 3339 instants) or
//! `time_<unit>` relative to the batch start (`time_s`, `time_min`, `time_h`,
//! `time_d`). Every other column header is a tag of the tag map. Empty cells
//! are missing values. Time must strictly increase from row to row: a wide
//! file that goes back in time has been concatenated or sorted wrongly.

use std::path::Path;

use super::csv_source::{FileProblems, line_of, open_export};
use super::manifest::FileFormat;
use super::raw::RawSample;
use super::tag_map::TagMap;
use super::timestamp::parse_rfc3339;
use biotwin_core::error::Diagnostics;

enum TimeColumn {
    Absolute,
    Relative { seconds_per_unit: f64 },
}

/// Reads every non-empty cell of a wide export. `batch_start_unix_s` places
/// relative times; all problems are reported.
pub fn read_wide(
    path: &Path,
    tags: &TagMap,
    batch_start_unix_s: f64,
) -> Result<Vec<RawSample>, Diagnostics> {
    let table = open_export(path, Some(FileFormat::Wide))?;
    let mut problems = FileProblems::new(path, table.positions);
    let header = table.header;
    let header_at = table.header_at;
    let time_col = match header.get(0).unwrap_or("") {
        "timestamp" => TimeColumn::Absolute,
        "time_s" => TimeColumn::Relative {
            seconds_per_unit: 1.0,
        },
        "time_min" => TimeColumn::Relative {
            seconds_per_unit: 60.0,
        },
        "time_h" => TimeColumn::Relative {
            seconds_per_unit: 3600.0,
        },
        "time_d" => TimeColumn::Relative {
            seconds_per_unit: 86_400.0,
        },
        other => {
            problems.push(
                header_at,
                "column 1",
                "timestamp, time_s, time_min, time_h or time_d",
                format!("`{other}`"),
            );
            return Err(problems.finish());
        }
    };
    let mut columns = Vec::new();
    for h in header.iter().skip(1) {
        if tags.tags.contains_key(h) {
            columns.push(h.to_string());
        } else {
            problems.push(
                header_at,
                h,
                "a tag listed in the tag map",
                format!("`{h}`"),
            );
        }
    }
    if !problems.is_empty() {
        return Err(problems.finish());
    }
    let mut out = Vec::new();
    let mut last_time: Option<(f64, String)> = None;
    for rec in table.rows {
        let rec = match rec {
            Ok(r) => r,
            Err(p) => {
                problems.push(p.at, p.column, p.expected, p.found);
                continue;
            }
        };
        let line = line_of(&rec);
        if rec.len() != header.len() {
            problems.push(
                line,
                "",
                format!("{} fields like the header", header.len()),
                format!("{} fields", rec.len()),
            );
            continue;
        }
        let t_text = rec.get(0).unwrap_or("");
        let time = match &time_col {
            TimeColumn::Absolute => parse_rfc3339(t_text).map_err(|e| e.to_string()),
            TimeColumn::Relative { seconds_per_unit } => match t_text.parse::<f64>() {
                Ok(v) if v.is_finite() => Ok(batch_start_unix_s + v * seconds_per_unit),
                _ => Err(format!("`{t_text}`")),
            },
        };
        let time = match time {
            Ok(t) => t,
            Err(e) => {
                problems.push(line, header.get(0).unwrap_or(""), "a time", e);
                continue;
            }
        };
        if let Some((prev, prev_text)) = &last_time
            && time <= *prev
        {
            problems.push(
                line,
                header.get(0).unwrap_or(""),
                format!("a time after the previous row's `{prev_text}` (strictly increasing)"),
                format!("`{t_text}`"),
            );
            continue;
        }
        last_time = Some((time, t_text.to_string()));
        for (k, tag) in columns.iter().enumerate() {
            let cell = rec.get(k + 1).unwrap_or("");
            if cell.is_empty() {
                continue;
            }
            match cell.parse::<f64>() {
                Ok(v) if v.is_finite() => out.push(RawSample {
                    tag: tag.clone(),
                    time_unix_s: time,
                    result_unix_s: None,
                    value: v,
                    line: line.unwrap_or(0),
                }),
                _ => problems.push(
                    line,
                    tag,
                    "a finite number or an empty cell",
                    format!("`{cell}`"),
                ),
            }
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems.finish())
    }
}
