//! Opening exported files (CSV, plain or gzip, or Parquet) as text rows, and
//! collecting their problems.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use super::manifest::FileFormat;
use super::parquet_source::{is_parquet, read_parquet};
use crate::error::{Diagnostic, Diagnostics};

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

/// A CSV reader over `path` that leaves row-length checks to the caller, so
/// that a short row is reported with its line rather than aborting the file.
pub fn csv_reader(path: &Path) -> Result<csv::Reader<Box<dyn Read>>, Diagnostics> {
    Ok(csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(open_maybe_gzip(path)?))
}

/// How positions in an export are named: a CSV line (the header is line 1)
/// or a Parquet data row (the first data row is row 1, over all row groups).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Positions {
    Lines,
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
    pub at: Option<usize>,
    pub column: String,
    pub expected: String,
    pub found: String,
}

/// An export as a header and text records, whatever the file holds, so that
/// CSV and Parquet go through the same checks.
pub struct ExportTable {
    pub header: csv::StringRecord,
    /// Where a problem with the header is placed: line 1 of a CSV; no row
    /// of a Parquet file (its schema).
    pub header_at: Option<usize>,
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
    if is_parquet(path) {
        let t = read_parquet(path, layout)?;
        return Ok(ExportTable {
            header: csv::StringRecord::from(t.header),
            header_at: None,
            positions: Positions::Rows,
            parquet_layout: Some(t.layout),
            rows: Box::new(t.rows.into_iter()),
        });
    }
    let mut rdr = csv_reader(path)?;
    let header = rdr
        .headers()
        .map_err(|e| {
            Diagnostics::from(
                Diagnostic::new(path, "", "a CSV header line", e.to_string()).at_line(Some(1)),
            )
        })?
        .clone();
    Ok(ExportTable {
        header,
        header_at: Some(1),
        positions: Positions::Lines,
        parquet_layout: None,
        rows: Box::new(rdr.into_records().map(|r| {
            r.map_err(|e| RowProblem {
                at: e.position().map(|p| p.line() as usize),
                column: String::new(),
                expected: "a CSV row".into(),
                found: e.to_string(),
            })
        })),
    })
}

/// Diagnostics of one file, capped at [`MAX_DIAGNOSTICS_PER_FILE`] with a
/// final line counting what was left out.
pub struct FileProblems {
    pub path: PathBuf,
    pub positions: Positions,
    pub diags: Diagnostics,
    pub dropped: usize,
}

impl FileProblems {
    pub fn new(path: &Path, positions: Positions) -> Self {
        FileProblems {
            path: path.to_path_buf(),
            positions,
            diags: Diagnostics::new(),
            dropped: 0,
        }
    }

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

    pub fn is_empty(&self) -> bool {
        self.diags.is_empty()
    }

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
