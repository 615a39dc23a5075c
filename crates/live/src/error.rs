//! Live mode's errors, grouped by what the operator should do about them.
//!
//! | variant | what went wrong | exit code |
//! |---|---|---|
//! | [`Error::Store`] | the store's backend (SQLite, PostgreSQL, the PostgreSQL batch leases) failed; its error is kept as the source | 1 |
//! | [`Error::Tampered`] | a stored record or the audit trail fails verification | 2 |
//! | [`Error::Config`] | the site configuration (or a file it names) is wrong: file, line, field, expected, found | 2 |
//! | [`Error::SourceData`] | a source's data cannot be used: a header, row or tag, naming the file and line | 2 |
//! | [`Error::Source`] | a source could not be reached or read (an OPC UA endpoint, a followed file) | 1 |
//! | [`Error::Account`] | an account was refused (unknown user, wrong password, disabled or locked) | 2 |
//! | [`Error::Web`] | the web service could not listen, start or answer | 1 |
//! | [`Error::Worker`] | a worker thread of live mode died (a lock poisoned by a panic) | 1 |
//! | [`Error::Numerical`] | a predictor's computation failed (printed as the core's numerical failures are) | 3 |
//! | [`Error::Core`] | anything from `biotwin-core` (a model file, a simulation), passed through unchanged | the core's |
//!
//! The exit codes are those a user got before live mode had its own error
//! (then everything above was the core's `Io`, `Input` or `Numerical`), and
//! every message reads as it did then.
//!
//! The public functions that check a single value return small typed
//! errors whose text is what a diagnostic's "expected" (or "found") says:
//! [`AccountCheck`] (user ids, names, reasons, password hashing, secrets),
//! [`RowError`] (a historian export's header or row) and [`TimeError`]
//! (`--since`).

use std::path::{Path, PathBuf};

use biotwin_core::error::{Diagnostic, Diagnostics, numerical_text};

/// A boxed error kept as a source.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Which store backend failed ([`Error::Store`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The SQLite store (a file, or a store in memory).
    Sqlite,
    /// The PostgreSQL store.
    Postgres,
    /// The PostgreSQL batch leases of a fleet of workers.
    PostgresLeases,
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
            Backend::PostgresLeases => "PostgreSQL (batch leases)",
        })
    }
}

/// Everything that can go wrong in live mode (`biotwin-live`).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The store's backend failed: check the database (its file, server,
    /// disk, permissions). Exit code 1.
    #[error("{store}: {backend}: {source}")]
    Store {
        /// The store as shown to the user (a file, or a URL without its
        /// password).
        store: PathBuf,
        /// Which backend.
        backend: Backend,
        /// The backend's error (a `rusqlite::Error`, the PostgreSQL
        /// driver's error, or a message).
        source: BoxError,
    },
    /// A stored record or the audit trail fails verification (an entry
    /// altered, removed or reordered): investigate as tampering. Each
    /// problem names the store, the record and what was found. Exit code 2.
    #[error("{0}")]
    Tampered(Diagnostics),
    /// The site configuration, or a file it names, is wrong: fix the file.
    /// Exit code 2.
    #[error("{0}")]
    Config(Diagnostics),
    /// A source's data cannot be used (an export's header, a row, a tag),
    /// naming the file and line. Exit code 2.
    #[error("{0}")]
    SourceData(Diagnostics),
    /// A source could not be reached or read (an OPC UA endpoint, a
    /// followed file): check the connection or the file. Exit code 1.
    #[error("{name}: {cause}")]
    Source {
        /// The source (a file, an endpoint).
        name: String,
        /// Why.
        #[source]
        cause: BoxError,
    },
    /// An account was refused (unknown user, wrong password, disabled or
    /// locked account), as a diagnostic of the value concerned. Exit code 2.
    #[error("{diagnostics}")]
    Account {
        /// The refusal, as the file/field/expected/found of the value.
        diagnostics: Diagnostics,
        /// Why the password was refused, when it was.
        refusal: Option<crate::users::Refusal>,
    },
    /// The web service could not listen, start or answer. Exit code 1.
    #[error("{place}: {cause}")]
    Web {
        /// Where (`<listen address 0.0.0.0:8080>`, `<http server thread>`).
        place: String,
        /// Why.
        #[source]
        cause: BoxError,
    },
    /// A thread of live mode died while holding shared state (the memory
    /// store's lock, the lease thread): the worker stops. Exit code 1.
    #[error("{what}: {message}")]
    Worker {
        /// Which state (`<memory store>`, `<batch leases>`).
        what: &'static str,
        /// What it means for the data.
        message: &'static str,
    },
    /// A predictor's computation failed at a batch time (a non-finite
    /// forecast, an ensemble with too many failed members). Exit code 3.
    #[error("{}", numerical_text(*time_h, message, state))]
    Numerical {
        /// Batch time of the failure, h.
        time_h: f64,
        /// What failed.
        message: String,
        /// The state then, as text naming each component (may be empty).
        state: String,
    },
    /// A core failure (a model file, a simulation, a file's I/O) passed
    /// through unchanged.
    #[error(transparent)]
    Core(#[from] biotwin_core::error::Error),
    /// An ML failure (a ladder's artifact, the registry, a dataset) passed
    /// through unchanged, with the ML crate's own exit code.
    #[error(transparent)]
    Ml(#[from] biotwin_ml::Error),
}

impl Error {
    /// Process exit code: 2 invalid input (and tampering, found by
    /// verifying the store), 3 numerical failure, 1 I/O (a store, a source
    /// or the web service failing); the core's own classes for
    /// [`Error::Core`].
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Tampered(_)
            | Error::Config(_)
            | Error::SourceData(_)
            | Error::Account { .. } => 2,
            Error::Numerical { .. } => 3,
            Error::Store { .. }
            | Error::Source { .. }
            | Error::Web { .. }
            | Error::Worker { .. } => 1,
            Error::Core(e) => e.exit_code(),
            Error::Ml(e) => e.exit_code(),
        }
    }

    /// The input diagnostics, when the error is one (file, line, field,
    /// expected, found).
    pub fn diagnostics(&self) -> Option<&Diagnostics> {
        match self {
            Error::Tampered(d) | Error::Config(d) | Error::SourceData(d) => Some(d),
            Error::Account { diagnostics, .. } => Some(diagnostics),
            Error::Core(biotwin_core::error::Error::Input(d)) => Some(d),
            _ => None,
        }
    }

    /// A store backend failure on `store` (see [`Error::Store`]).
    pub fn store(store: impl AsRef<Path>, backend: Backend, err: impl Into<BoxError>) -> Self {
        Error::Store {
            store: store.as_ref().to_path_buf(),
            backend,
            source: err.into(),
        }
    }

    /// A problem of the site configuration (or a file it names) on `field`
    /// of `file` ([`Error::Config`]).
    pub fn config(
        file: impl AsRef<Path>,
        field: impl Into<String>,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) -> Self {
        Error::Config(Diagnostic::new(file, field, expected, found).into())
    }

    /// A problem of a source's data ([`Error::SourceData`]).
    pub fn source_data(
        file: impl AsRef<Path>,
        field: impl Into<String>,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) -> Self {
        Error::SourceData(Diagnostic::new(file, field, expected, found).into())
    }

    /// A source that could not be reached or read ([`Error::Source`]).
    pub fn source_failed(name: impl std::fmt::Display, err: impl Into<BoxError>) -> Self {
        Error::Source {
            name: name.to_string(),
            cause: err.into(),
        }
    }

    /// The web service failing at `place` ([`Error::Web`]).
    pub fn web(place: impl Into<String>, err: impl Into<BoxError>) -> Self {
        Error::Web {
            place: place.into(),
            cause: err.into(),
        }
    }

    /// A refused account value ([`Error::Account`]).
    pub fn account(
        file: impl AsRef<Path>,
        field: impl Into<String>,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) -> Self {
        Error::Account {
            diagnostics: Diagnostic::new(file, field, expected, found).into(),
            refusal: None,
        }
    }

    /// A file that could not be read or written: the core's
    /// [`biotwin_core::error::Error::Io`] (exit code 1).
    pub fn io(path: impl AsRef<Path>, err: impl Into<BoxError>) -> Self {
        Error::Core(biotwin_core::error::Error::io(path, err))
    }

    /// An input problem outside the site configuration (a command-line
    /// value, a store URL, a model file): the core's
    /// [`biotwin_core::error::Error::Input`] (exit code 2).
    pub fn input(
        file: impl AsRef<Path>,
        field: impl Into<String>,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) -> Self {
        Error::Core(biotwin_core::error::Error::input(
            file, field, expected, found,
        ))
    }
}

impl From<Diagnostics> for Error {
    fn from(d: Diagnostics) -> Self {
        Error::Core(d.into())
    }
}

impl From<Diagnostic> for Error {
    fn from(d: Diagnostic) -> Self {
        Error::Core(d.into())
    }
}

impl From<biotwin_core::solver::SolverFailure> for Error {
    fn from(e: biotwin_core::solver::SolverFailure) -> Self {
        Error::Core(e.into())
    }
}

impl From<biotwin_ml::surrogates::SurrogateError> for Error {
    fn from(e: biotwin_ml::surrogates::SurrogateError) -> Self {
        Error::Ml(e.into())
    }
}

/// The live crate's result type: the error defaults to [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A value refused by an account check or an account operation
/// ([`crate::users`]). Its text is what the value should have been (the
/// "expected" of a diagnostic), as the checks have always said it.
#[derive(Debug, thiserror::Error)]
pub enum AccountCheck {
    /// Not a user id of 2 to 64 letters, digits, `.`, `_`, `-`, `@`.
    #[error("a user id of 2 to 64 letters, digits, '.', '_', '-' or '@' (found `{found}`)")]
    UserId {
        /// The id given (its first 80 characters).
        found: String,
    },
    /// Not a full name of 1 to 100 printable characters.
    #[error("a full name of 1 to 100 printable characters (found {chars} characters)")]
    FullName {
        /// Characters of the name, trimmed.
        chars: usize,
    },
    /// A signature's reason missing, too long or with control characters.
    #[error("a reason of 1 to 500 characters (found {chars} characters)")]
    Reason {
        /// Characters of the reason, trimmed.
        chars: usize,
    },
    /// The password could not be hashed.
    #[error("cannot hash the password: {0}")]
    Hash(String),
    /// The operating system gave no random bytes (for a token or a salt).
    #[error("no randomness from the OS: {0}")]
    NoRandomness(#[source] getrandom::Error),
}

/// A row (or header) of a historian export that cannot be read as readings
/// ([`crate::rows`]); the source names the file and line.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RowError {
    /// A long export's header lacks a required column.
    #[error(
        "header `{found}` (expected columns timestamp, tag, value[, quality][, result_timestamp])"
    )]
    Header {
        /// The header, lower-cased and joined with commas.
        found: String,
    },
    /// A time stamp that is not RFC 3339.
    #[error("{column} {message}")]
    Time {
        /// `timestamp` or `result_timestamp`.
        column: &'static str,
        /// The timestamp reader's message.
        message: String,
    },
    /// A value that is not a finite number.
    #[error("value `{found}` (expected a finite number)")]
    Value {
        /// The cell as found.
        found: String,
    },
    /// A cell of a wide export's tag column.
    #[error("column `{tag}`: {inner}")]
    Column {
        /// The column's tag.
        tag: String,
        /// What is wrong with the cell.
        #[source]
        inner: Box<RowError>,
    },
}

/// A time that is neither Unix seconds nor RFC 3339 ([`crate::audit::parse_since`]).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("`{found}`")]
pub struct TimeError {
    /// The text given, trimmed.
    pub found: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn a_store_failure_exits_1_names_the_backend_and_keeps_its_source() {
        let e = Error::store("site.db", Backend::Sqlite, "database is locked");
        assert_eq!(e.exit_code(), 1);
        assert_eq!(e.to_string(), "site.db: SQLite: database is locked");
        assert_eq!(e.source().unwrap().to_string(), "database is locked");
        let e = Error::store(
            "postgres://u@h:5432/d",
            Backend::PostgresLeases,
            "connection refused",
        );
        assert_eq!(
            e.to_string(),
            "postgres://u@h:5432/d: PostgreSQL (batch leases): connection refused"
        );
    }

    #[test]
    fn configuration_source_data_tampering_and_accounts_exit_2_as_diagnostics() {
        let d = || Diagnostic::new("site.toml", "batches.B01.model", "a model", "`x`");
        let text =
            "1 problem found:\n  site.toml: batches.B01.model: expected a model, found `x`\n";
        for e in [
            Error::Config(d().into()),
            Error::SourceData(d().into()),
            Error::Tampered(d().into()),
            Error::Account {
                diagnostics: d().into(),
                refusal: None,
            },
            Error::from(d()),
        ] {
            assert_eq!(e.exit_code(), 2, "{e:?}");
            assert_eq!(e.to_string(), text);
            assert_eq!(e.diagnostics().unwrap().len(), 1);
        }
    }

    #[test]
    fn a_numerical_failure_exits_3_in_the_cores_form() {
        let e = Error::Numerical {
            time_h: 2.0,
            message: "forecast has a non-finite mean".into(),
            state: String::new(),
        };
        let core = biotwin_core::error::Error::Numerical {
            time_h: 2.0,
            message: "forecast has a non-finite mean".into(),
            state: String::new(),
        };
        assert_eq!(e.exit_code(), 3);
        assert_eq!(e.to_string(), core.to_string());
        assert!(e.to_string().starts_with("numerical failure at t = 7200 s"));
    }

    #[test]
    fn sources_the_web_and_workers_exit_1() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let e = Error::source_failed("opc.tcp://plant:4840", io);
        assert_eq!(e.exit_code(), 1);
        assert_eq!(e.to_string(), "opc.tcp://plant:4840: refused");
        assert!(
            e.source()
                .unwrap()
                .downcast_ref::<std::io::Error>()
                .is_some()
        );
        let e = Error::web("<listen address 0.0.0.0:1>", "in use");
        assert_eq!(
            (e.exit_code(), e.to_string().as_str()),
            (1, "<listen address 0.0.0.0:1>: in use")
        );
        let e = Error::Worker {
            what: "<memory store>",
            message: "a writer panicked",
        };
        assert_eq!(
            (e.exit_code(), e.to_string().as_str()),
            (1, "<memory store>: a writer panicked")
        );
    }

    #[test]
    fn a_core_error_passes_through_with_its_code_and_text() {
        let core = biotwin_core::error::Error::io("m.toml", "gone");
        let e = Error::from(core);
        assert_eq!(e.exit_code(), 1);
        assert_eq!(e.to_string(), "m.toml: gone");
        assert!(matches!(
            e,
            Error::Core(biotwin_core::error::Error::Io { .. })
        ));
    }

    #[test]
    fn value_checks_read_as_before() {
        let e = RowError::Column {
            tag: "T1".into(),
            inner: Box::new(RowError::Value { found: "x".into() }),
        };
        assert_eq!(
            e.to_string(),
            "column `T1`: value `x` (expected a finite number)"
        );
        assert_eq!(TimeError { found: "y".into() }.to_string(), "`y`");
        assert_eq!(
            AccountCheck::Reason { chars: 0 }.to_string(),
            "a reason of 1 to 500 characters (found 0 characters)"
        );
    }
}
