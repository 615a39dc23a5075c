//! Following a long-format export that the historian keeps appending to.
//!
//! Each poll reads what was appended since the last one. A last line without
//! its newline is kept until it is complete (the writer may be mid-line).
//! Rotation is detected two ways: the path now names another file (rename
//! and recreate: a new inode) or the file got shorter than what was read
//! (truncated in place); either way reading restarts at its beginning, with
//! its header. A missing file is `Idle` (it may be about to be created).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::rows::LongColumns;
use super::{Poll, Reading, Source};
use crate::Error;
use biotwin_ml::data::csv_source::split_csv_line;

/// [`Source`] following a long-format export that the historian appends
/// to (module docs: partial lines, rotation).
pub struct TailSource {
    path: PathBuf,
    /// Identity of the file being read (inode on Unix), to see rotation.
    file_id: Option<u64>,
    offset: u64,
    partial: Vec<u8>,
    columns: Option<LongColumns>,
    line: usize,
    malformed: u64,
}

impl TailSource {
    /// A source following `path`, from its beginning; nothing is read until
    /// the first poll (a missing file is then `Idle`).
    pub fn new(path: &Path) -> Self {
        TailSource {
            path: path.to_path_buf(),
            file_id: None,
            offset: 0,
            partial: Vec::new(),
            columns: None,
            line: 0,
            malformed: 0,
        }
    }

    fn restart(&mut self, id: u64) {
        self.file_id = Some(id);
        self.offset = 0;
        self.partial.clear();
        self.columns = None;
        self.line = 0;
    }

    fn parse_line(&mut self, text: &str, out: &mut Vec<Reading>) {
        self.line += 1;
        let text = text.trim_end_matches('\r');
        if text.trim().is_empty() {
            return;
        }
        // One line is one record, parsed like every other export
        // (`data::csv_source`): a stray quote costs this line only.
        let rec = match split_csv_line(text) {
            Ok(fields) => csv::StringRecord::from(fields),
            Err(e) => {
                self.skip(e);
                return;
            }
        };
        match &self.columns {
            None => match LongColumns::from_header(rec.iter()) {
                Ok(c) => self.columns = Some(c),
                Err(e) => self.skip(e),
            },
            Some(c) => match c.reading(&rec) {
                Ok(r) => out.push(r),
                Err(e) => self.skip(e),
            },
        }
    }

    fn skip(&mut self, why: impl std::fmt::Display) {
        self.malformed += 1;
        eprintln!("{}:{}: row skipped: {why}", self.path.display(), self.line);
    }
}

#[cfg(unix)]
fn file_id(meta: &std::fs::Metadata) -> u64 {
    use std::os::unix::fs::MetadataExt;
    meta.ino()
}

#[cfg(not(unix))]
fn file_id(meta: &std::fs::Metadata) -> u64 {
    // Without inodes, a renamed-and-recreated file is seen when it is shorter.
    let _ = meta;
    0
}

impl Source for TailSource {
    fn describe(&self) -> String {
        format!("tail:{}", self.path.display())
    }

    fn poll(&mut self) -> Result<Poll, Error> {
        let mut f = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Poll::Idle),
            Err(e) => return Err(Error::source_failed(self.path.display(), e)),
        };
        let meta = f
            .metadata()
            .map_err(|e| Error::source_failed(self.path.display(), e))?;
        let id = file_id(&meta);
        if self.file_id != Some(id) || meta.len() < self.offset {
            self.restart(id);
        }
        if meta.len() == self.offset {
            return Ok(Poll::Idle);
        }
        f.seek(SeekFrom::Start(self.offset))
            .map_err(|e| Error::source_failed(self.path.display(), e))?;
        let mut buf = Vec::new();
        f.read_to_end(&mut buf)
            .map_err(|e| Error::source_failed(self.path.display(), e))?;
        self.offset += buf.len() as u64;
        self.partial.extend_from_slice(&buf);
        let mut out = Vec::new();
        // Only complete lines; the rest waits for its newline.
        while let Some(nl) = self.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=nl).collect();
            match std::str::from_utf8(&line[..line.len() - 1]) {
                Ok(text) => self.parse_line(text, &mut out),
                Err(e) => {
                    self.line += 1;
                    self.skip(format!("text that is not UTF-8 ({e})"));
                }
            }
        }
        if out.is_empty() {
            Ok(Poll::Idle)
        } else {
            Ok(Poll::Readings(out))
        }
    }

    fn malformed_rows(&self) -> u64 {
        self.malformed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn values(p: Poll) -> Vec<f64> {
        match p {
            Poll::Readings(r) => r.iter().map(|x| x.value).collect(),
            other => panic!("readings expected, got {other:?}"),
        }
    }

    #[test]
    fn follows_appends_partial_lines_and_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("live.csv");
        let mut s = TailSource::new(&p);
        assert_eq!(s.poll().unwrap(), Poll::Idle); // not there yet
        let mut f = File::create(&p).unwrap();
        write!(
            f,
            "timestamp,tag,value\n2025-01-01T00:00:00Z,A,1\n2025-01-01T00:01:00Z,A,2"
        )
        .unwrap();
        f.flush().unwrap();
        assert_eq!(values(s.poll().unwrap()), [1.0]); // "2" has no newline yet
        assert_eq!(s.poll().unwrap(), Poll::Idle);
        writeln!(f, "5\n2025-01-01T00:02:00Z,A,3").unwrap();
        f.flush().unwrap();
        assert_eq!(values(s.poll().unwrap()), [25.0, 3.0]);

        // Rename-and-recreate rotation.
        std::fs::rename(&p, dir.path().join("live.csv.1")).unwrap();
        std::fs::write(&p, "timestamp,tag,value\n2025-01-01T00:03:00Z,A,4\n").unwrap();
        assert_eq!(values(s.poll().unwrap()), [4.0]);

        // Truncation in place.
        std::fs::write(&p, "timestamp,tag,value\n").unwrap();
        assert_eq!(s.poll().unwrap(), Poll::Idle);
        let mut f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        writeln!(f, "2025-01-01T00:04:00Z,A,5\nbroken,A,x").unwrap();
        assert_eq!(values(s.poll().unwrap()), [5.0]);
        assert_eq!(s.malformed_rows(), 1);
    }
}
