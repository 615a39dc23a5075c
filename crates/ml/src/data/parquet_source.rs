//! Parquet exports, long or wide, read through the `parquet` crate's record
//! API (no Arrow) into the same text rows a CSV export gives, so that one set
//! of checks (`long_format`, `wide_format`, `live::rows`) applies to both and
//! a Parquet export reads exactly like its CSV twin.
//!
//! The schema must be flat (one primitive, non-repeated column per field).
//! What each column may hold depends on its role, found from its name as in
//! the CSV header:
//!
//! | role | accepted types | null |
//! |---|---|---|
//! | `timestamp` | UTF8 text (RFC 3339, as in CSV); INT64 `TIMESTAMP(MILLIS\|MICROS\|NANOS)` adjusted to UTC | an error |
//! | `result_timestamp` (long) | as `timestamp` | unknown (like an empty cell) |
//! | `tag` (long) | UTF8 text | an empty tag |
//! | `quality` (long) | UTF8 text, or an integer code (192, 0, 64) | empty: good |
//! | `value` (long), tag columns (wide) | DOUBLE, FLOAT, INT32, INT64 | an empty cell |
//! | `time_s`/`time_min`/`time_h`/`time_d` (wide, first column) | DOUBLE, FLOAT, INT32, INT64 | an error |
//!
//! Timestamps without UTC adjustment are refused for the reason CSV refuses a
//! local time without offset: ambiguous across daylight-saving changes.
//! Integer timestamps are written as RFC 3339 text from their integer parts
//! and parsed by the CSV code, so the instant is the very f64 a CSV export
//! with that text gives. Numbers are written with Rust's shortest round-trip
//! formatting, so parsing gives the same f64 back.
//!
//! Positions: a Parquet file has no lines; problems name the 1-based data row
//! (counted over all row groups), stored where a CSV record keeps its line.
//! Schema problems name the column and no row.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use parquet::basic::{ConvertedType, LogicalType, Repetition, TimeUnit, Type as Physical};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;
use parquet::schema::types::ColumnDescriptor;

use super::csv_source::RowProblem;
use super::manifest::FileFormat;
use super::timestamp::format_rfc3339_parts;
use biotwin_core::error::{Diagnostic, Diagnostics};

/// First (and last) four bytes of every Parquet file.
const MAGIC: [u8; 4] = *b"PAR1";

/// True when `path` is to be read as Parquet: it starts with the Parquet
/// magic bytes (whatever its name, as gzip is detected), or it is named
/// `.parquet` (so that a damaged one is reported as such, not as bad CSV).
pub fn is_parquet(path: &Path) -> bool {
    let named = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet"));
    let mut magic = [0u8; 4];
    named
        || File::open(path)
            .and_then(|mut f| f.read_exact(&mut magic))
            .is_ok_and(|()| magic == MAGIC)
}

/// A Parquet export as text rows: the header (column names), the layout
/// read (given, or detected from the columns), and the rows in file order.
pub struct ParquetTable {
    /// Column names, in file order.
    pub header: Vec<String>,
    /// Long or wide, as given or detected from the columns.
    pub layout: FileFormat,
    /// Data rows as text records, or why a row could not be read.
    pub rows: Vec<Result<csv::StringRecord, RowProblem>>,
}

/// What a column must hold.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Role {
    /// A sample instant; null is an error.
    Time,
    /// A lab result's availability; null means unknown.
    ResultTime,
    /// A number; null is a missing value, unless it is the time of a row.
    Number { required: bool },
    /// A tag name.
    Text,
    /// A quality flag: text or an OPC integer code.
    Quality,
    /// A column the shared checks will report as unknown; read as text.
    Other,
}

fn role(layout: FileFormat, index: usize, name: &str) -> Role {
    match layout {
        FileFormat::Long => match name.trim().to_ascii_lowercase().as_str() {
            "timestamp" => Role::Time,
            "result_timestamp" => Role::ResultTime,
            "tag" => Role::Text,
            "value" => Role::Number { required: false },
            "quality" => Role::Quality,
            _ => Role::Other,
        },
        // Same names, case-sensitive, as `wide_format` accepts.
        FileFormat::Wide if index == 0 => match name.trim() {
            "timestamp" => Role::Time,
            "time_s" | "time_min" | "time_h" | "time_d" => Role::Number { required: true },
            _ => Role::Other,
        },
        FileFormat::Wide => Role::Number { required: false },
    }
}

/// How a column's values become text.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Decode {
    Text,
    Number,
    /// INT64 instants, this many per second.
    Instant {
        per_second: i64,
    },
    Any,
}

/// Reads `path` as a Parquet export. `layout` None detects it: long when
/// the file has `tag` and `value` columns, wide otherwise. Problems that
/// make the file unreadable (not Parquet, corrupt, nested schema, a column of
/// the wrong type) are returned as diagnostics; problems of single rows are
/// left in the rows, for the caller to place among its own.
pub fn read_parquet(path: &Path, layout: Option<FileFormat>) -> Result<ParquetTable, Diagnostics> {
    // The decoder trusts lengths and offsets in the file; a damaged file must
    // still end in a diagnostic, never a crash of the whole run.
    match super::quiet_panic::catch_silently(|| read_unguarded(path, layout)) {
        Ok(r) => r,
        Err(panic) => {
            let why = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Err(problem(
                path,
                "",
                "a readable Parquet file",
                format!("corrupt data (the decoder failed: {why})"),
            ))
        }
    }
}

fn problem(path: &Path, field: &str, expected: &str, found: impl Into<String>) -> Diagnostics {
    Diagnostic::new(path, field, expected, found).into()
}

fn read_unguarded(path: &Path, layout: Option<FileFormat>) -> Result<ParquetTable, Diagnostics> {
    let file = File::open(path).map_err(|e| problem(path, "", "a readable file", e.to_string()))?;
    let reader = SerializedFileReader::new(file).map_err(|e| {
        problem(
            path,
            "",
            "a Parquet file (PAR1 magic bytes and footer)",
            e.to_string(),
        )
    })?;
    let schema = reader.metadata().file_metadata().schema_descr();
    let fields = schema.root_schema().get_fields();
    let mut diags = Diagnostics::new();
    for f in fields {
        let nested = !f.is_primitive();
        let repeated = f.get_basic_info().has_repetition()
            && f.get_basic_info().repetition() == Repetition::REPEATED;
        if nested || repeated {
            diags.push(Diagnostic::new(
                path,
                format!("column `{}`", f.name()),
                "a flat table (one plain column per field)",
                if nested {
                    "a nested group"
                } else {
                    "a repeated (list) field"
                },
            ));
        }
    }
    if !diags.is_empty() {
        return Err(diags);
    }
    // Trimmed like CSV headers and cells (`csv::Trim::All`).
    let header: Vec<String> = fields.iter().map(|f| f.name().trim().to_string()).collect();
    let layout = layout.unwrap_or_else(|| detect_layout(&header));
    let mut decode = Vec::with_capacity(header.len());
    for (i, name) in header.iter().enumerate() {
        let role = role(layout, i, name);
        match decoding(role, schema.column(i).as_ref()) {
            Ok(d) => decode.push((role, d)),
            Err(expected) => diags.push(Diagnostic::new(
                path,
                format!("column `{name}`"),
                expected,
                type_name(schema.column(i).as_ref()),
            )),
        }
    }
    if !diags.is_empty() {
        return Err(diags);
    }
    let mut rows = Vec::new();
    let mut row_no = 0usize;
    for g in 0..reader.num_row_groups() {
        let unreadable = |e: parquet::errors::ParquetError| {
            problem(
                path,
                &format!("row group {}", g + 1),
                "a readable Parquet row group (pages uncompressed, Snappy or GZIP)",
                e.to_string(),
            )
        };
        let group = reader.get_row_group(g).map_err(unreadable)?;
        for row in group.get_row_iter(None).map_err(unreadable)? {
            let row = row.map_err(unreadable)?;
            row_no += 1;
            rows.push(text_row(row_no, &header, &decode, row.get_column_iter()));
        }
    }
    Ok(ParquetTable {
        header,
        layout,
        rows,
    })
}

/// Long when the columns name a tag and a value, as a long export does.
fn detect_layout(header: &[String]) -> FileFormat {
    let has = |n: &str| header.iter().any(|h| h.trim().eq_ignore_ascii_case(n));
    if has("tag") && has("value") {
        FileFormat::Long
    } else {
        FileFormat::Wide
    }
}

/// How a column of this type is read in this role, or what was expected.
fn decoding(role: Role, c: &ColumnDescriptor) -> Result<Decode, String> {
    const NUMBERS: &str = "numbers (DOUBLE, FLOAT, INT32 or INT64)";
    const TIMES: &str =
        "RFC 3339 text (UTF8) or INT64 TIMESTAMP(MILLIS|MICROS|NANOS) adjusted to UTC";
    match role {
        Role::Time | Role::ResultTime => {
            if is_text(c) {
                Ok(Decode::Text)
            } else {
                match utc_instant(c) {
                    Some(per_second) => Ok(Decode::Instant { per_second }),
                    None => Err(TIMES.into()),
                }
            }
        }
        Role::Number { .. } if is_number(c) => Ok(Decode::Number),
        Role::Number { .. } => Err(NUMBERS.into()),
        Role::Text if is_text(c) => Ok(Decode::Text),
        Role::Text => Err("text (UTF8)".into()),
        Role::Quality if is_text(c) => Ok(Decode::Text),
        Role::Quality if is_number(c) && c.physical_type() != Physical::FLOAT => Ok(Decode::Number),
        Role::Quality => Err("text (UTF8) or an integer quality code".into()),
        Role::Other => Ok(Decode::Any),
    }
}

fn is_text(c: &ColumnDescriptor) -> bool {
    c.physical_type() == Physical::BYTE_ARRAY
        && matches!(
            c.logical_type_ref(),
            None | Some(LogicalType::String | LogicalType::Enum | LogicalType::Json)
        )
        && matches!(
            c.converted_type(),
            ConvertedType::NONE | ConvertedType::UTF8 | ConvertedType::ENUM | ConvertedType::JSON
        )
}

fn is_number(c: &ColumnDescriptor) -> bool {
    matches!(
        c.physical_type(),
        Physical::INT32 | Physical::INT64 | Physical::FLOAT | Physical::DOUBLE
    ) && matches!(c.logical_type_ref(), None | Some(LogicalType::Integer(_)))
        && matches!(
            c.converted_type(),
            ConvertedType::NONE
                | ConvertedType::INT_8
                | ConvertedType::INT_16
                | ConvertedType::INT_32
                | ConvertedType::INT_64
                | ConvertedType::UINT_8
                | ConvertedType::UINT_16
                | ConvertedType::UINT_32
                | ConvertedType::UINT_64
        )
}

/// Units per second of a UTC-adjusted INT64 timestamp column.
fn utc_instant(c: &ColumnDescriptor) -> Option<i64> {
    if c.physical_type() != Physical::INT64 {
        return None;
    }
    let per_second = |u: &TimeUnit| match u {
        TimeUnit::MILLIS => 1_000,
        TimeUnit::MICROS => 1_000_000,
        TimeUnit::NANOS => 1_000_000_000,
    };
    match (c.logical_type_ref(), c.converted_type()) {
        (Some(LogicalType::Timestamp(t)), _) if t.is_adjusted_to_u_t_c => Some(per_second(&t.unit)),
        (Some(_), _) => None,
        // Legacy converted types are UTC by the format's definition.
        (None, ConvertedType::TIMESTAMP_MILLIS) => Some(1_000),
        (None, ConvertedType::TIMESTAMP_MICROS) => Some(1_000_000),
        (None, _) => None,
    }
}

/// The column's type as a user would look it up in their writer.
fn type_name(c: &ColumnDescriptor) -> String {
    let physical = c.physical_type();
    match (c.logical_type_ref(), c.converted_type()) {
        (Some(LogicalType::Timestamp(t)), _) => format!(
            "{physical} TIMESTAMP({:?}, {})",
            t.unit,
            if t.is_adjusted_to_u_t_c {
                "UTC"
            } else {
                "local time, not adjusted to UTC"
            }
        ),
        (Some(l), _) => format!("{physical} {l:?}"),
        (None, ConvertedType::NONE) => physical.to_string(),
        (None, conv) => format!("{physical} {conv}"),
    }
}

/// One record as text cells, or the first problem of the row.
fn text_row<'a>(
    row_no: usize,
    header: &[String],
    decode: &[(Role, Decode)],
    cells: impl Iterator<Item = (&'a String, &'a Field)>,
) -> Result<csv::StringRecord, RowProblem> {
    let mut rec = csv::StringRecord::new();
    for (k, (_, field)) in cells.enumerate() {
        let (role, how) = decode[k];
        let bad = |expected: &str, found: String| RowProblem {
            at: Some(row_no),
            column: header[k].clone(),
            expected: expected.to_string(),
            found,
        };
        let text = match (field, how) {
            (Field::Null, _) => match role {
                Role::Time | Role::Number { required: true } => {
                    return Err(bad("a time", "null".into()));
                }
                _ => String::new(),
            },
            (f, Decode::Instant { per_second }) => match instant(f) {
                Some(v) => {
                    let secs = v.div_euclid(per_second);
                    let nanos = v.rem_euclid(per_second) * (1_000_000_000 / per_second);
                    format_rfc3339_parts(secs, nanos)
                }
                None => return Err(bad("an INT64 timestamp", format!("{f}"))),
            },
            (f, Decode::Number) => match number(f) {
                Some(t) => t,
                None => return Err(bad("a number", format!("{f}"))),
            },
            (Field::Str(s), _) => s.trim().to_string(),
            (Field::Bytes(b), _) => match std::str::from_utf8(b.data()) {
                Ok(s) => s.trim().to_string(),
                Err(_) => return Err(bad("UTF-8 text", "bytes that are not UTF-8".into())),
            },
            (f, Decode::Text) => return Err(bad("text", format!("{f}"))),
            (f, Decode::Any) => format!("{f}"),
        };
        rec.push_field(&text);
    }
    let mut pos = csv::Position::new();
    pos.set_line(row_no as u64);
    rec.set_position(Some(pos));
    Ok(rec)
}

fn instant(f: &Field) -> Option<i64> {
    match f {
        Field::Long(v) | Field::TimestampMillis(v) | Field::TimestampMicros(v) => Some(*v),
        _ => None,
    }
}

/// A number as the text that parses back to the same f64 (Rust's shortest
/// round-trip form; integers in full).
fn number(f: &Field) -> Option<String> {
    Some(match f {
        Field::Double(x) => x.to_string(),
        Field::Float(x) => f64::from(*x).to_string(),
        Field::Byte(x) => x.to_string(),
        Field::Short(x) => x.to_string(),
        Field::Int(x) => x.to_string(),
        Field::Long(x) => x.to_string(),
        Field::UByte(x) => x.to_string(),
        Field::UShort(x) => x.to_string(),
        Field::UInt(x) => x.to_string(),
        Field::ULong(x) => x.to_string(),
        _ => return None,
    })
}
