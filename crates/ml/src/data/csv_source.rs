//! Opening exported files (CSV, plain or gzip, or Parquet) as text rows, and
//! collecting their problems.

use biotwin_core::error::Reason;
use std::fs::File;
use std::io::{BufReader, Read};

use std::path::{Path, PathBuf};

use super::manifest::FileFormat;
use super::parquet_source::{is_parquet, read_parquet};
use biotwin_core::error::{Diagnostic, Diagnostics};

/// Most diagnostics reported per file: a wrong export repeats one mistake
/// on every row, and a thousand identical lines help nobody.
pub const MAX_DIAGNOSTICS_PER_FILE: usize = 20;

/// Opens `path` for reading, decompressing when it starts with the gzip
/// magic bytes (whatever its extension).
pub fn open_maybe_gzip(path: &Path) -> Result<Box<dyn Read>, Diagnostics> {
    let unreadable = |e: std::io::Error| {
        Diagnostics::from(Diagnostic::new(path, "", "a readable file", e.to_string()))
    };
    let mut f = File::open(path).map_err(unreadable)?;
    let mut magic = [0u8; 2];
    let n = f.read(&mut magic).map_err(unreadable)?;
    let f = File::open(path).map_err(unreadable)?;
    if n == 2 && magic == [0x1f, 0x8b] {
        Ok(Box::new(flate2::read::MultiGzDecoder::new(BufReader::new(
            f,
        ))))
    } else {
        Ok(Box::new(BufReader::new(f)))
    }
}

/// Reads the whole of `path`, decompressed. A read error part-way (a
/// truncated or damaged gzip stream: unexpected end, bad CRC, trailing
/// garbage) fails the whole file: nothing of a partial file is used, since
/// the rows lost at its end cannot be counted.
pub fn read_all(path: &Path) -> Result<Vec<u8>, Diagnostics> {
    let mut r = open_maybe_gzip(path)?;
    let mut bytes = Vec::new();
    r.read_to_end(&mut bytes).map_err(|e| {
        Diagnostics::from(Diagnostic::new(
            path,
            "",
            "a complete file (a gzip export must end with its intact trailer)",
            format!(
                "a read error after {} bytes: {e}; the file is truncated or damaged, so none of it was used",
                bytes.len()
            ),
        ))
    })?;
    Ok(bytes)
}

/// [`read_all`], except that a stream cut or damaged part-way (a gzip
/// export without its intact trailer) gives what decoded before the damage,
/// cut back to its last complete line (the line the damage cut is not a
/// record), with a sentence saying what was kept — for a site that accepts
/// a partial export explicitly (`accept_partial = true`); `None` when the
/// file is complete.
pub fn read_all_or_partial(path: &Path) -> Result<(Vec<u8>, Option<String>), Diagnostics> {
    let mut r = open_maybe_gzip(path)?;
    let mut bytes = Vec::new();
    match r.read_to_end(&mut bytes) {
        Ok(_) => Ok((bytes, None)),
        Err(e) => {
            let decoded = bytes.len();
            let keep = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            bytes.truncate(keep);
            let lines = bytes.iter().filter(|&&b| b == b'\n').count();
            Ok((
                bytes,
                Some(format!(
                    "{}: read error after {decoded} decoded bytes ({e}); the first {lines} complete lines ({keep} bytes) were kept and the rest of the file is lost",
                    path.display()
                )),
            ))
        }
    }
}

/// Splits one line of CSV into trimmed fields. A line is a record: a
/// quoted field must close on its own line, so that one stray quote costs
/// one row, never the rest of the file. `""` inside a quoted field is a
/// quote; a quote inside an unquoted field is kept as text (its value then
/// fails its own check with the row's line).
pub fn split_csv_line(line: &str) -> Result<Vec<String>, Reason> {
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ' ' || *c == '\t') {
            chars.next();
        }
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            let mut closed = false;
            while let Some(c) = chars.next() {
                if c == '"' {
                    if chars.peek() == Some(&'"') {
                        chars.next();
                        field.push('"');
                    } else {
                        closed = true;
                        break;
                    }
                } else {
                    field.push(c);
                }
            }
            if !closed {
                return Err(Reason::from(format!(
                    "an unterminated quote in field {} (a quoted field must close on its own line)",
                    fields.len() + 1
                )));
            }
            while chars.peek().is_some_and(|c| *c == ' ' || *c == '\t') {
                chars.next();
            }
            match chars.next() {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(',') => fields.push(field),
                Some(c) => {
                    return Err(Reason::from(format!(
                        "`{c}` after the closing quote of field {} (expected `,` or the end of the line)",
                        fields.len() + 1
                    )));
                }
            }
        } else {
            let mut ended = true;
            for c in chars.by_ref() {
                if c == ',' {
                    ended = false;
                    break;
                }
                field.push(c);
            }
            fields.push(field.trim().to_string());
            if ended {
                return Ok(fields);
            }
        }
    }
}

/// The lines of an export's bytes as records (1-based physical lines; the
/// header is line 1). Blank lines are skipped; a line that is not UTF-8 or
/// not CSV is a [`RowProblem`] with its line, and the next line is read.
pub fn csv_records(
    path: &Path,
    bytes: &[u8],
) -> Result<
    (
        csv::StringRecord,
        Vec<Result<csv::StringRecord, RowProblem>>,
    ),
    Diagnostics,
> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut header: Option<csv::StringRecord> = None;
    let mut rows = Vec::new();
    for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let n = i + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let problem = |found: String| RowProblem {
            at: Some(n),
            column: String::new(),
            expected: "a CSV row".into(),
            found,
        };
        let parsed = match std::str::from_utf8(raw) {
            Err(e) => Err(problem(format!("text that is not UTF-8 ({e})"))),
            Ok(text) if text.trim().is_empty() => continue,
            Ok(text) => split_csv_line(text)
                .map_err(|r| problem(r.into()))
                .map(|f| {
                    let mut rec = csv::StringRecord::from(f);
                    let mut pos = csv::Position::new();
                    pos.set_line(n as u64);
                    rec.set_position(Some(pos));
                    rec
                }),
        };
        if header.is_none() {
            match parsed {
                Ok(h) => header = Some(h),
                Err(p) => {
                    return Err(Diagnostics::from(
                        Diagnostic::new(path, "", "a CSV header line", p.found).at_line(Some(n)),
                    ));
                }
            }
        } else {
            rows.push(parsed);
        }
    }
    Ok((header.unwrap_or_default(), rows))
}

/// How positions in an export are named: a CSV line (the header is line 1)
/// or a Parquet data row (the first data row is row 1, over all row groups).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Positions {
    /// CSV: positions are file lines, the header being line 1.
    Lines,
    /// Parquet: positions are data rows, the first being row 1.
    Rows,
}

impl Positions {
    /// How positions in the file at `path` are named.
    pub fn of(path: &Path) -> Positions {
        if is_parquet(path) {
            Positions::Rows
        } else {
            Positions::Lines
        }
    }

    /// Places `d` at position `n`: as its line, or with the row named in
    /// front of the field (a Parquet row is no line of any text).
    pub fn place(self, mut d: Diagnostic, n: Option<usize>) -> Diagnostic {
        match (self, n) {
            (Positions::Rows, Some(n)) => {
                d.field = if d.field.is_empty() {
                    format!("row {n}")
                } else {
                    format!("row {n}, {}", d.field)
                };
                d
            }
            _ => d.at_line(n),
        }
    }

    /// `path:line` or `path: row n`, for messages outside diagnostics.
    pub fn describe(self, path: &Path, n: usize) -> String {
        match self {
            Positions::Lines => format!("{}:{n}", path.display()),
            Positions::Rows => format!("{}: row {n}", path.display()),
        }
    }
}

/// A row that could not be read at all (a CSV syntax error, a null
/// timestamp in Parquet), for the caller to report among its own problems.
#[derive(Debug, Clone, PartialEq)]
pub struct RowProblem {
    /// Position of the row (CSV line or Parquet row); `None` when unknown.
    pub at: Option<usize>,
    /// Column (field) the problem is in.
    pub column: String,
    /// What the column should hold.
    pub expected: String,
    /// What it held.
    pub found: String,
}

/// An export as a header and text records, whatever the file holds, so that
/// CSV and Parquet go through the same checks.
pub struct ExportTable {
    /// Column names.
    pub header: csv::StringRecord,
    /// Where a problem with the header is placed: line 1 of a CSV; no row
    /// of a Parquet file (its schema).
    pub header_at: Option<usize>,
    /// How positions are named (lines or rows).
    pub positions: Positions,
    /// The layout of a Parquet file (given or detected); None for CSV.
    pub parquet_layout: Option<FileFormat>,
    /// Records carry their position (CSV line or Parquet row) as their line.
    pub rows: Box<dyn Iterator<Item = Result<csv::StringRecord, RowProblem>>>,
}

/// Opens an export: Parquet when [`is_parquet`] says so (its columns typed
/// for `layout`; None detects the layout from the columns), else CSV (plain
/// or gzip).
pub fn open_export(path: &Path, layout: Option<FileFormat>) -> Result<ExportTable, Diagnostics> {
    open_export_partial(path, layout, false).map(|(t, _)| t)
}

/// [`open_export`]; with `accept_partial` a CSV export cut part-way is read
/// up to its last complete line ([`read_all_or_partial`]) and the second
/// value says what was lost (Parquet files are whole or refused).
pub fn open_export_partial(
    path: &Path,
    layout: Option<FileFormat>,
    accept_partial: bool,
) -> Result<(ExportTable, Option<String>), Diagnostics> {
    if is_parquet(path) {
        let t = read_parquet(path, layout)?;
        return Ok((
            ExportTable {
                header: csv::StringRecord::from(t.header),
                header_at: None,
                positions: Positions::Rows,
                parquet_layout: Some(t.layout),
                rows: Box::new(t.rows.into_iter()),
            },
            None,
        ));
    }
    let (bytes, partial) = if accept_partial {
        read_all_or_partial(path)?
    } else {
        (read_all(path)?, None)
    };
    let (header, rows) = csv_records(path, &bytes)?;
    Ok((
        ExportTable {
            header,
            header_at: Some(1),
            positions: Positions::Lines,
            parquet_layout: None,
            rows: Box::new(rows.into_iter()),
        },
        partial,
    ))
}

/// Diagnostics of one file, capped at [`MAX_DIAGNOSTICS_PER_FILE`] with a
/// final line counting what was left out.
pub struct FileProblems {
    /// The file the problems are in.
    pub path: PathBuf,
    /// How positions in it are named.
    pub positions: Positions,
    /// Problems kept so far (at most [`MAX_DIAGNOSTICS_PER_FILE`]).
    pub diags: Diagnostics,
    /// Problems beyond the cap, counted, not kept.
    pub dropped: usize,
}

impl FileProblems {
    /// No problems yet, for the file at `path`.
    pub fn new(path: &Path, positions: Positions) -> Self {
        FileProblems {
            path: path.to_path_buf(),
            positions,
            diags: Diagnostics::new(),
            dropped: 0,
        }
    }

    /// Records a problem at `line` (a CSV line or Parquet row) in `column`,
    /// or counts it when the cap is reached.
    pub fn push(
        &mut self,
        line: Option<usize>,
        column: impl Into<String>,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) {
        if self.diags.len() < MAX_DIAGNOSTICS_PER_FILE {
            let d = Diagnostic::new(&self.path, column, expected, found);
            self.diags.push(self.positions.place(d, line));
        } else {
            self.dropped += 1;
        }
    }

    /// Whether no problem was recorded (kept or counted).
    pub fn is_empty(&self) -> bool {
        self.diags.is_empty()
    }

    /// The problems, with a last one counting those left out, if any.
    pub fn finish(mut self) -> Diagnostics {
        if self.dropped > 0 {
            self.diags.push(Diagnostic::new(
                &self.path,
                "",
                "no further problems",
                format!(
                    "{} more (first {} shown)",
                    self.dropped, MAX_DIAGNOSTICS_PER_FILE
                ),
            ));
        }
        self.diags
    }
}

/// 1-based line of a CSV record (header is line 1), or row of a Parquet one.
pub fn line_of(record: &csv::StringRecord) -> Option<usize> {
    record.position().map(|p| p.line() as usize)
}
