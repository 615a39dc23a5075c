//! The sealed JSON envelope of every model file (surrogate artifacts, hybrid
//! artifacts, live ladders): `{"content_sha256": "<hex>", "<key>": {...}}`,
//! the hash over the compact JSON of the content
//! ([`content_sha256`]). It is checked on
//! load, so a file altered after it was written is refused; files are
//! written atomically. Each file kind checks its own `format` afterwards.

use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::artifact::{content_sha256, write_atomic};
use crate::error::Error;
use biotwin_core::error::Diagnostic;

/// Writes `content` sealed under `key` (`pretty`: indented, for files a
/// person may open).
pub fn save<T: Serialize>(path: &Path, key: &str, content: &T, pretty: bool) -> Result<(), Error> {
    let value = serde_json::to_value(content).map_err(|e| Error::io(path, e))?;
    let sealed = Sealed {
        key,
        content_sha256: content_sha256(&value),
        value: &value,
    };
    let text = if pretty {
        serde_json::to_string_pretty(&sealed)
    } else {
        serde_json::to_string(&sealed)
    }
    .map_err(|e| Error::io(path, e))?;
    Ok(write_atomic(path, text.as_bytes())?)
}

/// The envelope, hash first (a `serde_json::Map` would sort the keys).
struct Sealed<'a> {
    key: &'a str,
    content_sha256: String,
    value: &'a serde_json::Value,
}

impl Serialize for Sealed<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("content_sha256", &self.content_sha256)?;
        m.serialize_entry(self.key, self.value)?;
        m.end()
    }
}

/// Reads the content sealed under `key`, refusing a file whose content does
/// not match its hash. `what` names the file kind in messages
/// (`model artifact`, `surrogate ladder`).
pub fn load<T: DeserializeOwned>(path: &Path, key: &str, what: &str) -> Result<T, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let bad = |field: &str, expected: &str, found: String, line: Option<usize>| {
        Error::artifact(Diagnostic::new(path, field, expected, found).at_line(line))
    };
    let mut root: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| bad("", &format!("a JSON {what}"), e.to_string(), Some(e.line())))?;
    let obj = root
        .as_object_mut()
        .ok_or_else(|| bad("", "a JSON object", "another JSON value".into(), None))?;
    let stored = match obj.remove("content_sha256") {
        Some(serde_json::Value::String(s)) => s,
        _ => {
            return Err(bad(
                "content_sha256",
                "a sha256 hex string",
                "none".into(),
                None,
            ));
        }
    };
    let value = obj
        .remove(key)
        .ok_or_else(|| bad(key, &format!("the {key} content"), "none".into(), None))?;
    if let Some(extra) = obj.keys().next() {
        return Err(bad(
            "",
            &format!("only content_sha256 and {key}"),
            format!("`{extra}`"),
            None,
        ));
    }
    let actual = content_sha256(&value);
    if actual != stored {
        return Err(bad(
            "content_sha256",
            &format!("the sha256 of the {key} content, {stored}"),
            format!("{actual}: the file was altered after it was written; refusing to load it"),
            None,
        ));
    }
    serde_json::from_value(value)
        .map_err(|e| bad(key, &format!("a biotwin {what}"), e.to_string(), None))
}
