//! Errors that reach a user.
//!
//! Two kinds matter and map to distinct exit codes:
//! * [`Diagnostics`]: the input is wrong (a file, a field, a command-line value).
//!   Every problem found is collected, each naming the file, the line when known,
//!   the field path, what was expected and what was found. Exit code 2.
//! * [`Error::Numerical`]: the input was valid but the simulation could not be
//!   carried out faithfully (solver failure, NaN, a concentration that went
//!   negative beyond tolerance). It names the time and the state. Exit code 3.
//!
//! I/O failures (unreadable file, unwritable output) exit with code 1.

use std::fmt;
use std::path::{Path, PathBuf};

/// One problem in one input, precise enough to fix without reading code.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    /// The file the problem is in (or `<command line>`).
    pub file: PathBuf,
    /// 1-based line, when the location could be found.
    pub line: Option<usize>,
    /// Dotted path of the field, e.g. `recipe.feeds[2].start_h`.
    pub field: String,
    /// What a valid value looks like (type, unit, allowed range).
    pub expected: String,
    /// What was there instead.
    pub found: String,
}

impl Diagnostic {
    /// A diagnostic on `field` of `file` (no line yet): what was `expected` and what was `found`.
    pub fn new(
        file: impl AsRef<Path>,
        field: impl Into<String>,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) -> Self {
        Diagnostic {
            file: file.as_ref().to_path_buf(),
            line: None,
            field: field.into(),
            expected: expected.into(),
            found: found.into(),
        }
    }

    /// The same diagnostic at 1-based `line` of the file.
    pub fn at_line(mut self, line: Option<usize>) -> Self {
        self.line = line;
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        write!(f, ": expected {}, found {}", self.expected, self.found)
    }
}

/// All the problems found in one validation pass.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// An empty list.
    pub fn new() -> Self {
        Diagnostics(Vec::new())
    }
    /// Adds one diagnostic.
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }
    /// Appends all of `other`.
    pub fn extend(&mut self, other: Diagnostics) {
        self.0.extend(other.0);
    }
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// How many there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// The diagnostics in the order found.
    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter()
    }
    /// `Ok(value)` when nothing was found, otherwise every problem as an error.
    pub fn into_result<T>(self, value: T) -> Result<T, Diagnostics> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }
    /// True when some diagnostic's field path starts with `prefix`.
    pub fn mentions(&self, prefix: &str) -> bool {
        self.0.iter().any(|d| d.field.starts_with(prefix))
    }
}

impl From<Diagnostic> for Diagnostics {
    fn from(d: Diagnostic) -> Self {
        Diagnostics(vec![d])
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        writeln!(f, "{n} problem{} found:", if n == 1 { "" } else { "s" })?;
        for d in &self.0 {
            writeln!(f, "  {d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// Everything that can go wrong in biotwin, by what the user should do about it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input is invalid: fix the file or the command line.
    #[error("{0}")]
    Input(#[from] Diagnostics),
    /// The model could not be integrated faithfully.
    #[error("{}", numerical_text(*time_h, message, state))]
    Numerical {
        /// Batch time of the failure, h.
        time_h: f64,
        /// What failed.
        message: String,
        /// The state at the failure, as text naming each component.
        state: String,
    },
    /// An estimation (a fit, a model's training, an optimisation) could
    /// not be carried out: a failure of the method, not at a simulated
    /// time (those are [`Error::Numerical`]).
    #[error("{task} failed: {message}")]
    Estimation {
        /// What was being estimated, e.g. `the fit` or `fold 3`.
        task: String,
        /// Why it failed.
        message: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file (or endpoint) concerned.
        path: PathBuf,
        /// The underlying error, kept for callers that inspect it.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// The text of a numerical failure at batch time `time_h` (h): what failed
/// and the state then. [`Error::Numerical`] prints it, and so do the other
/// crates' numerical variants (a column's or a UF/DF integration's), so a
/// user reads every numerical failure in one form.
pub fn numerical_text(time_h: f64, message: &str, state: &str) -> String {
    format!(
        "numerical failure at t = {} s ({time_h:.4} h): {message}\n  state: {state}\n  (unless the message says otherwise: tighten the tolerances or check the parameters)",
        seconds(time_h)
    )
}

/// A time given in hours, in seconds to 0.1 ms (runs that last seconds read
/// naturally; hours are printed beside it).
fn seconds(time_h: f64) -> String {
    format!("{:.4}", time_h * 3600.0)
        .trim_end_matches('0')
        .trim_end_matches('.')
        .to_string()
}

impl Error {
    /// Process exit code for this error class (documented in the README).
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Input(_) => 2,
            Error::Numerical { .. } | Error::Estimation { .. } => 3,
            Error::Io { .. } => 1,
        }
    }

    /// A file problem; `err` is kept as the source (an `std::io::Error`, a
    /// parser's error, or a message).
    pub fn io(
        path: impl AsRef<Path>,
        err: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Error::Io {
            path: path.as_ref().to_path_buf(),
            source: err.into(),
        }
    }

    /// An estimation that could not be carried out (see [`Error::Estimation`]).
    pub fn estimation(task: impl Into<String>, message: impl fmt::Display) -> Self {
        Error::Estimation {
            task: task.into(),
            message: message.to_string(),
        }
    }

    /// A single input problem, for command-line values and the like.
    pub fn input(
        file: impl AsRef<Path>,
        field: impl Into<String>,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) -> Self {
        Error::Input(Diagnostic::new(file, field, expected, found).into())
    }
}

impl From<Diagnostic> for Error {
    fn from(d: Diagnostic) -> Self {
        Error::Input(d.into())
    }
}

/// Why a value, a name or a text was refused, in words a diagnostic can
/// carry: the value checks of the core (`check_setpoint`, `parse_key`,
/// `Unit::parse`, `to_si`, an address, an equipment field) and of
/// `biotwin-ml` return it, and their callers place it in a [`Diagnostic`]
/// (its `expected` or its `found`) naming the file, line and field. It
/// prints as the reason alone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Reason(String);

impl Reason {
    /// A reason in words.
    pub fn new(text: impl Into<String>) -> Self {
        Reason(text.into())
    }

    /// The reason's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<String> for Reason {
    fn from(text: String) -> Self {
        Reason(text)
    }
}

impl From<&str> for Reason {
    fn from(text: &str) -> Self {
        Reason(text.to_string())
    }
}

/// The reason's text, for a diagnostic's `expected` or `found`.
impl From<Reason> for String {
    fn from(r: Reason) -> Self {
        r.0
    }
}

/// A reason reads as its text (`contains`, `starts_with`, ...).
impl std::ops::Deref for Reason {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<&str> for Reason {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// biotwin's result type: the error defaults to [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
