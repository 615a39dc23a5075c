//! Reader of long historian exports: one row per sample,
//! `timestamp,tag,value[,quality][,result_timestamp]` (columns found by header
//! name, any order; the file may be gzip-compressed, or Parquet with these
//! columns, see `parquet_source`).
//!
//! * `timestamp`: RFC 3339 instant the value was measured (lab: sampled).
//! * `tag`: a tag of the dataset's tag map.
//! * `value`: a number in the tag's unit; may be empty on a bad-quality row.
//! * `quality` (optional): `good`/`192`/empty keeps the row, `bad`,
//!   `questionable`, `uncertain`, `substituted`, `0` drop it.
//! * `result_timestamp` (optional): when a lab result became available; empty
//!   when unknown. Must not precede `timestamp`.
//!
//! Rows may come in any order (exports are often grouped by tag).

use std::collections::BTreeSet;
use std::path::Path;

use super::csv_source::{FileProblems, line_of, open_export};
use super::manifest::FileFormat;
use super::raw::{RawSample, quality_is_good};
use super::tag_map::TagMap;
use super::timestamp::parse_rfc3339;
use biotwin_core::error::Diagnostics;

const REQUIRED: [&str; 3] = ["timestamp", "tag", "value"];
const OPTIONAL: [&str; 2] = ["quality", "result_timestamp"];

/// Reads every good sample of a long export; all problems are reported.
pub fn read_long(path: &Path, tags: &TagMap) -> Result<Vec<RawSample>, Diagnostics> {
    let table = open_export(path, Some(FileFormat::Long))?;
    let mut problems = FileProblems::new(path, table.positions);
    let header = table.header;
    let header_at = table.header_at;
    let col = |name: &str| header.iter().position(|h| h.eq_ignore_ascii_case(name));
    for (i, h) in header.iter().enumerate() {
        let known = REQUIRED
            .iter()
            .chain(OPTIONAL.iter())
            .any(|k| h.eq_ignore_ascii_case(k));
        if !known {
            problems.push(
                header_at,
                format!("column {}", i + 1),
                "one of timestamp, tag, value, quality, result_timestamp",
                format!("`{h}`"),
            );
        }
    }
    let (Some(c_time), Some(c_tag), Some(c_value)) = (col("timestamp"), col("tag"), col("value"))
    else {
        problems.push(
            header_at,
            "header",
            "columns timestamp, tag and value",
            format!("`{}`", header.iter().collect::<Vec<_>>().join(",")),
        );
        return Err(problems.finish());
    };
    let c_quality = col("quality");
    let c_result = col("result_timestamp");
    let width = header.len();
    let mut unknown_tags = BTreeSet::new();
    let mut out = Vec::new();
    for rec in table.rows {
        let rec = match rec {
            Ok(r) => r,
            Err(p) => {
                problems.push(p.at, p.column, p.expected, p.found);
                continue;
            }
        };
        let line = line_of(&rec);
        if rec.len() == 1 && rec.get(0) == Some("") {
            continue; // blank line
        }
        if rec.len() != width {
            problems.push(
                line,
                "",
                format!("{width} fields like the header"),
                format!("{} fields", rec.len()),
            );
            continue;
        }
        let field = |c: usize| rec.get(c).unwrap_or("");
        if let Some(c) = c_quality {
            match quality_is_good(field(c)) {
                Some(true) => {}
                Some(false) => continue,
                None => {
                    problems.push(
                        line,
                        "quality",
                        "good, 192, bad, questionable, uncertain, substituted, 0 or empty",
                        format!("`{}`", field(c)),
                    );
                    continue;
                }
            }
        }
        let tag = field(c_tag);
        if !tags.tags.contains_key(tag) {
            // One diagnostic per unknown tag: the export repeats it on every row.
            if unknown_tags.insert(tag.to_string()) {
                problems.push(
                    line,
                    "tag",
                    format!("a tag listed in {}", "the tag map"),
                    format!("`{tag}`"),
                );
            }
            continue;
        }
        let time = match parse_rfc3339(field(c_time)) {
            Ok(t) => t,
            Err(e) => {
                problems.push(line, "timestamp", "an RFC 3339 timestamp", e.to_string());
                continue;
            }
        };
        let value = match field(c_value).parse::<f64>() {
            Ok(v) if v.is_finite() => v,
            _ => {
                problems.push(
                    line,
                    "value",
                    "a finite number",
                    format!("`{}`", field(c_value)),
                );
                continue;
            }
        };
        let result = match c_result.map(field).filter(|s| !s.is_empty()) {
            None => None,
            Some(s) => match parse_rfc3339(s) {
                Ok(r) if r >= time => Some(r),
                Ok(_) => {
                    problems.push(
                        line,
                        "result_timestamp",
                        format!("a time at or after the sample time {}", field(c_time)),
                        format!("`{s}`"),
                    );
                    continue;
                }
                Err(e) => {
                    problems.push(
                        line,
                        "result_timestamp",
                        "an RFC 3339 timestamp or nothing",
                        e.to_string(),
                    );
                    continue;
                }
            },
        };
        out.push(RawSample {
            tag: tag.to_string(),
            time_unix_s: time,
            result_unix_s: result,
            value,
            line: line.unwrap_or(0),
        });
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems.finish())
    }
}
