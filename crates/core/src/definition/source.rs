//! Reading one TOML input file with serde while keeping enough of the source
//! to point at lines.
//!
//! serde gives typed structures; `toml_edit` keeps spans. [`SourceFile`] holds
//! both views of the same text so that semantic validation (which works on the
//! typed structure and knows only field paths like `feeds[2].start_h`) can still
//! report the line of the offending value.
//!
//! Unknown keys are collected with `serde_ignored` instead of
//! `deny_unknown_fields`, so that *every* unknown key is reported in one pass,
//! not only the first.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use crate::error::{Diagnostic, Diagnostics};

/// The text of one input file with a span index for locating field paths.
pub struct SourceFile {
    /// Path of the file.
    pub path: PathBuf,
    /// Its full text.
    pub text: String,
    doc: Option<toml_edit::Document<String>>,
}

impl SourceFile {
    /// Reads the file. A missing or unreadable file is itself a diagnostic.
    pub fn read(path: impl AsRef<Path>) -> Result<SourceFile, Diagnostics> {
        let path = path.as_ref().to_path_buf();
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(SourceFile::from_text(path, text)),
            Err(e) => Err(Diagnostic::new(&path, "", "a readable TOML file", e.to_string()).into()),
        }
    }

    /// A source from text already read (no file access); `path` is used in diagnostics.
    pub fn from_text(path: PathBuf, text: String) -> SourceFile {
        let doc = toml_edit::Document::parse(text.clone()).ok();
        SourceFile { path, text, doc }
    }

    /// 1-based line of a byte offset.
    pub fn line_of_offset(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }

    /// Line of the value at a dotted field path (`a.b[2].c`), or of the nearest
    /// enclosing item that has a location.
    pub fn line_of(&self, field_path: &str) -> Option<usize> {
        let doc = self.doc.as_ref()?;
        let mut item: &toml_edit::Item = doc.as_item();
        let mut best = None;
        for seg in split_path(field_path) {
            let next = match seg {
                Segment::Key(k) => item.get(k),
                Segment::Index(i) => item.get(i),
            };
            match next {
                Some(n) => {
                    item = n;
                    if let Some(span) = item.span() {
                        best = Some(span.start);
                    }
                }
                None => break,
            }
        }
        best.map(|o| self.line_of_offset(o))
    }

    /// Line of the value at a path of literal keys (keys may contain dots,
    /// as the addresses of a `[set]` table do).
    pub fn line_of_keys(&self, keys: &[&str]) -> Option<usize> {
        let doc = self.doc.as_ref()?;
        let mut item: &toml_edit::Item = doc.as_item();
        let mut best = None;
        for k in keys {
            match item.get(k) {
                Some(n) => {
                    item = n;
                    if let Some(span) = item.span() {
                        best = Some(span.start);
                    }
                }
                None => break,
            }
        }
        best.map(|o| self.line_of_offset(o))
    }

    /// Dotted path of the innermost value whose span contains `offset`.
    pub fn path_at_offset(&self, offset: usize) -> Option<String> {
        fn walk(item: &toml_edit::Item, offset: usize, path: &mut Vec<String>) -> bool {
            let contains = |sp: Option<std::ops::Range<usize>>| {
                sp.map(|r| r.start <= offset && offset < r.end.max(r.start + 1))
                    .unwrap_or(false)
            };
            if let Some(t) = item.as_table_like() {
                for (k, v) in t.iter() {
                    path.push(k.to_string());
                    if contains(v.span()) || walk(v, offset, path) {
                        walk(v, offset, path);
                        return true;
                    }
                    path.pop();
                }
            } else if let Some(a) = item.as_array_of_tables() {
                for (i, t) in a.iter().enumerate() {
                    let it = toml_edit::Item::Table(t.clone());
                    path.push(format!("[{i}]"));
                    if walk(&it, offset, path) {
                        return true;
                    }
                    path.pop();
                }
            } else if let Some(a) = item.as_array() {
                for (i, v) in a.iter().enumerate() {
                    if contains(v.span()) {
                        path.push(format!("[{i}]"));
                        return true;
                    }
                }
            }
            false
        }
        let doc = self.doc.as_ref()?;
        let mut path = Vec::new();
        walk(doc.as_item(), offset, &mut path);
        if path.is_empty() {
            return None;
        }
        let mut out = String::new();
        for seg in path {
            if !seg.starts_with('[') && !out.is_empty() {
                out.push('.');
            }
            out.push_str(&seg);
        }
        Some(out)
    }

    /// A diagnostic for `field_path` in this file, with its line filled in.
    pub fn diag(
        &self,
        field_path: &str,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic::new(&self.path, field_path, expected, found).at_line(self.line_of(field_path))
    }

    /// Deserializes the whole file into `T`, reporting a TOML syntax error, the
    /// first type error, and every unknown key.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, Diagnostics> {
        let mut diags = Diagnostics::new();
        let de = match toml::Deserializer::parse(&self.text) {
            Ok(de) => de,
            Err(e) => {
                let line = e.span().map(|s| self.line_of_offset(s.start));
                diags.push(
                    Diagnostic::new(&self.path, "", "valid TOML", first_line(e.message()))
                        .at_line(line),
                );
                return Err(diags);
            }
        };
        let mut unknown = Vec::new();
        let result: Result<T, _> = serde_ignored::deserialize(de, |p| unknown.push(p.to_string()));
        for p in unknown {
            let p = normalise_ignored_path(&p);
            let (parent, key) = match p.rsplit_once('.') {
                Some((a, b)) => (a.to_string(), b.to_string()),
                None => (String::new(), p.clone()),
            };
            let _ = parent;
            diags.push(self.diag(
                &p,
                "a known field (see the file format in docs/)",
                format!("unknown field `{key}`"),
            ));
        }
        match result {
            Ok(v) if diags.is_empty() => Ok(v),
            Ok(_) => Err(diags),
            Err(e) => {
                let line = e.span().map(|s| self.line_of_offset(s.start));
                let (expected, found) = split_serde_message(e.message());
                let field = e
                    .span()
                    .and_then(|sp| self.path_at_offset(sp.start))
                    .unwrap_or_default();
                diags.push(Diagnostic::new(&self.path, field, expected, found).at_line(line));
                Err(diags)
            }
        }
    }
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").trim().to_string()
}

/// serde_ignored writes array positions as `.0.`; turn them into `[0]`.
fn normalise_ignored_path(p: &str) -> String {
    let mut out = String::new();
    for seg in p.split('.') {
        if !seg.is_empty() && seg.chars().all(|c| c.is_ascii_digit()) {
            out.push('[');
            out.push_str(seg);
            out.push(']');
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(seg);
        }
    }
    out
}

/// Turns serde messages like "invalid type: string \"a\", expected f64" into
/// (expected, found) halves; other messages become (message, "").
fn split_serde_message(msg: &str) -> (String, String) {
    let msg = first_line(msg);
    if let Some(rest) = msg.strip_prefix("invalid type: ")
        && let Some((found, expected)) = rest.split_once(", expected ")
    {
        return (expected.to_string(), found.to_string());
    }
    if let Some(rest) = msg.strip_prefix("invalid value: ")
        && let Some((found, expected)) = rest.split_once(", expected ")
    {
        return (expected.to_string(), found.to_string());
    }
    if let Some(rest) = msg.strip_prefix("missing field ") {
        return (format!("required field {rest}"), "nothing".to_string());
    }
    if let Some(rest) = msg.strip_prefix("unknown variant ")
        && let Some((found, expected)) = rest.split_once(", expected ")
    {
        return (expected.to_string(), format!("variant {found}"));
    }
    (msg, "something else".to_string())
}

enum Segment<'a> {
    Key(&'a str),
    Index(usize),
}

fn split_path(path: &str) -> Vec<Segment<'_>> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let mut rest = part;
        if let Some(open) = rest.find('[') {
            let key = &rest[..open];
            if !key.is_empty() {
                out.push(Segment::Key(key));
            }
            rest = &rest[open..];
            while let Some(stripped) = rest.strip_prefix('[') {
                let Some(close) = stripped.find(']') else {
                    break;
                };
                if let Ok(i) = stripped[..close].parse() {
                    out.push(Segment::Index(i));
                }
                rest = &stripped[close + 1..];
            }
        } else if !rest.is_empty() {
            out.push(Segment::Key(rest));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(text: &str) -> SourceFile {
        SourceFile::from_text(PathBuf::from("t.toml"), text.to_string())
    }

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Feed {
        start_h: f64,
    }
    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Doc {
        name: String,
        feeds: Vec<Feed>,
    }

    #[test]
    fn locates_nested_array_fields() {
        let s = src("name = \"x\"\n\n[[feeds]]\nstart_h = 1\n\n[[feeds]]\nstart_h = 2\n");
        assert_eq!(s.line_of("name"), Some(1));
        assert_eq!(s.line_of("feeds[1].start_h"), Some(7));
        assert_eq!(s.line_of("feeds[0].start_h"), Some(4));
    }

    #[test]
    fn reports_every_unknown_field() {
        let s = src("name = \"x\"\nbogus = 1\n[[feeds]]\nstart_h = 1\nalso_bogus = 2\n");
        let err = s.parse::<Doc>().unwrap_err();
        assert_eq!(err.len(), 2, "{err}");
        assert!(err.iter().any(|d| d.field == "bogus" && d.line == Some(2)));
        assert!(
            err.iter()
                .any(|d| d.field == "feeds[0].also_bogus" && d.line == Some(5))
        );
    }

    #[test]
    fn reports_type_errors_with_line() {
        let s = src("name = \"x\"\n[[feeds]]\nstart_h = \"soon\"\n");
        let err = s.parse::<Doc>().unwrap_err();
        let d = &err.0[0];
        assert_eq!(d.line, Some(3), "{err}");
        assert!(d.expected.contains("f64"), "{err}");
    }

    #[test]
    fn reports_syntax_errors_with_line() {
        let s = src("name = \"x\"\n[[feeds]\nstart_h = 1\n");
        let err = s.parse::<Doc>().unwrap_err();
        assert_eq!(err.0[0].line, Some(2), "{err}");
        assert_eq!(err.0[0].expected, "valid TOML");
    }
}
