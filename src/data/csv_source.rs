//! Opening exported CSV files (plain or gzip) and collecting their problems.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

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

/// Diagnostics of one file, capped at [`MAX_DIAGNOSTICS_PER_FILE`] with a
/// final line counting what was left out.
pub struct FileProblems {
    pub path: PathBuf,
    pub diags: Diagnostics,
    pub dropped: usize,
}

impl FileProblems {
    pub fn new(path: &Path) -> Self {
        FileProblems {
            path: path.to_path_buf(),
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
            self.diags
                .push(Diagnostic::new(&self.path, column, expected, found).at_line(line));
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

/// 1-based line of a CSV record (header is line 1).
pub fn line_of(record: &csv::StringRecord) -> Option<usize> {
    record.position().map(|p| p.line() as usize)
}
