//! One sample as read from an export, before unit conversion and grouping.

/// A value of one tag at one instant, with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct RawSample {
    /// Historian tag name, as in the export.
    pub tag: String,
    /// Sample instant, seconds since the Unix epoch.
    pub time_unix_s: f64,
    /// When a lab result became available, when the export says so.
    pub result_unix_s: Option<f64>,
    /// The value in the tag's own unit.
    pub value: f64,
    /// 1-based line in the file, for diagnostics found later.
    pub line: usize,
}

/// How a historian quality flag is read. Good samples are kept; bad ones are
/// dropped (a bad-quality value is not data); anything else is an error,
/// since guessing would silently keep or lose data.
pub fn quality_is_good(flag: &str) -> Option<bool> {
    match flag.trim().to_ascii_lowercase().as_str() {
        // Empty = no flag given. 192 is the OPC DA/UA code for Good.
        "" | "good" | "g" | "192" => Some(true),
        "bad" | "b" | "questionable" | "uncertain" | "substituted" | "0" => Some(false),
        _ => None,
    }
}
