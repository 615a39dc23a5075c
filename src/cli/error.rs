//! The command line's error: every library crate's error joined, each kept
//! whole (its variants and its `source()` chain), and the one mapping of an
//! error to the process's exit code.
//!
//! | variant | crate | its error |
//! |---|---|---|
//! | [`CliError::Core`] | `biotwin-core` | input diagnostics, numerical, estimation, I/O |
//! | [`CliError::Ml`] | `biotwin-ml` | datasets, surrogates, the registry, artifacts, calibration |
//! | [`CliError::Downstream`] | `biotwin-downstream` | columns, unit operations, trains |
//! | [`CliError::Transfer`] | `biotwin-transfer` | the transfer study |
//! | [`CliError::Live`] | `biotwin-live` | the store, sources, the site configuration, accounts, the web service, the predictors |
//!
//! Every variant prints its crate's error as it is (`transparent`), so what a
//! user reads (file, line, field, expected, found) does not depend on which
//! crate found it, and [`CliError::exit_code`] asks that crate for the code.
//! A command that calls a crate with its own error returns `CliError`
//! (`simulate`, `transfer`, `models`, `scale-up`, and every command that
//! calls live mode: `live`, `serve`, `audit`, `users`, `store`, `promote`,
//! `evaluate` and `train`) or, where only the ML crate's errors and the
//! core's meet (`fit`, `forecast`, the IndPenSim paths of `train`,
//! `evaluate` and `simulate`, a `--model` or `registry:NAME` reference),
//! `biotwin_ml::Error`; the rest (`validate`) return the core's error. An ML
//! failure therefore reaches the top as [`CliError::Ml`] with its variant
//! and its source; nothing converts it into the core's error.

use crate::error::{Diagnostic, Diagnostics, Error};

/// An error of any command, from whichever crate it came.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The core's error: input, numerical,
    /// estimation or I/O.
    #[error(transparent)]
    Core(#[from] Error),
    /// The downstream crate's error (columns, unit operations, trains).
    #[error(transparent)]
    Downstream(#[from] crate::downstream::error::Error),
    /// The transfer study's error.
    #[error(transparent)]
    Transfer(#[from] crate::transfer::Error),
    /// The ML crate's error (datasets, surrogates, the registry, artifacts,
    /// calibration).
    #[error(transparent)]
    Ml(#[from] biotwin_ml::Error),
    /// Live mode's error (the store, sources, the site configuration,
    /// accounts, the web service, the predictors).
    #[error(transparent)]
    Live(#[from] crate::live::Error),
}

impl CliError {
    /// Process exit code: 2 invalid input, 3 numerical failure (or a failed
    /// estimation), 1 I/O; each crate classifies its own variants.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Core(e) => e.exit_code(),
            CliError::Downstream(e) => e.exit_code(),
            CliError::Transfer(e) => e.exit_code(),
            CliError::Ml(e) => e.exit_code(),
            CliError::Live(e) => e.exit_code(),
        }
    }
}

impl From<Diagnostics> for CliError {
    fn from(d: Diagnostics) -> Self {
        CliError::Core(d.into())
    }
}

impl From<crate::surrogates::SurrogateError> for CliError {
    fn from(e: crate::surrogates::SurrogateError) -> Self {
        CliError::Ml(e.into())
    }
}

impl From<Diagnostic> for CliError {
    fn from(d: Diagnostic) -> Self {
        CliError::Core(d.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    /// A downstream numerical failure keeps its class (exit 3), its text and
    /// its chain of causes through the binary's error.
    #[test]
    fn a_crate_error_keeps_its_exit_code_text_and_sources() {
        use crate::downstream::error::{Error as DsError, UfDfFailure};
        use crate::downstream::unit_ops::Stream;
        let inner = DsError::UfDf {
            failure: UfDfFailure::MaxSteps { steps: 7 },
            input: Stream::harvest(1.0, 5.0, 0.03, 0.1, 0.01, 6.0),
        };
        let text = inner.to_string();
        let e = CliError::from(inner);
        assert_eq!(e.exit_code(), 3);
        assert_eq!(e.to_string(), text);
        assert!(text.contains("UF/DF: UF/DF integration needed more than 7 steps"));
        let source = e.source().expect("the failure is kept as the source");
        assert_eq!(
            source.to_string(),
            "UF/DF integration needed more than 7 steps"
        );
    }

    /// Live mode's errors keep their exit code, their text and their
    /// source through the binary's error: a store failure (1, the
    /// backend's error as the source), tampering found by verification (2),
    /// a numerical failure of a predictor (3), and a core error passed
    /// through live (its own code).
    #[test]
    fn live_errors_keep_their_exit_code_text_and_sources() {
        use crate::live::Error as LiveError;
        use crate::live::error::Backend;
        let sqlite = rusqlite_error();
        let e = CliError::from(LiveError::store("site.db", Backend::Sqlite, sqlite));
        assert_eq!(e.exit_code(), 1);
        assert_eq!(e.to_string(), "site.db: SQLite: database is locked");
        let source = e.source().expect("the backend's error is kept");
        assert_eq!(source.to_string(), "database is locked");
        assert!(source.downcast_ref::<rusqlite::Error>().is_some());
        let e = CliError::from(LiveError::Tampered(
            Diagnostic::new(
                "site.db",
                "audit[2]",
                "an intact hash chain",
                "entry 2 altered",
            )
            .into(),
        ));
        assert_eq!(e.exit_code(), 2);
        assert_eq!(
            e.to_string(),
            "1 problem found:\n  site.db: audit[2]: expected an intact hash chain, found entry 2 altered\n"
        );
        let e = CliError::from(LiveError::Numerical {
            time_h: 1.0,
            message: "forecast has a non-finite mean".into(),
            state: String::new(),
        });
        assert_eq!(e.exit_code(), 3);
        assert!(
            e.to_string()
                .starts_with("numerical failure at t = 3600 s (1.0000 h)")
        );
        let e = CliError::from(LiveError::from(Error::io("m.toml", "gone")));
        assert_eq!((e.exit_code(), e.to_string().as_str()), (1, "m.toml: gone"));
    }

    /// What SQLite answers when another connection holds the write lock
    /// past the busy timeout (SQLITE_BUSY, code 5).
    fn rusqlite_error() -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(5),
            Some("database is locked".into()),
        )
    }

    /// Input diagnostics from any crate exit 2 with the diagnostic's text.
    #[test]
    fn input_errors_exit_2_from_every_crate() {
        let d = || Diagnostic::new("f.toml", "a.b", "a number", "`x`");
        let core = CliError::from(d());
        let ds = CliError::from(crate::downstream::error::Error::from(d()));
        let tr = CliError::from(crate::transfer::Error::from(d()));
        let ml = CliError::from(biotwin_ml::Error::from(d()));
        let ml_dataset = CliError::from(biotwin_ml::Error::dataset(d()));

        let live = CliError::from(crate::live::Error::Config(d().into()));
        for e in [core, ds, tr, ml, ml_dataset, live] {
            assert_eq!(e.exit_code(), 2);
            assert_eq!(
                e.to_string(),
                "1 problem found:\n  f.toml: a.b: expected a number, found `x`\n"
            );
        }
    }

    /// An ML failure arrives as `CliError::Ml` with its exit code, its text
    /// and its source: a tampered registry exits 2, a registry lock that
    /// cannot be taken exits 1 with the file system's error kept, a
    /// surrogate's failed fit exits 3 with the surrogate's error kept.
    #[test]
    fn an_ml_error_keeps_its_exit_code_text_and_sources() {
        use biotwin_ml::Error as MlError;
        let tampered = CliError::from(MlError::tampered(Diagnostic::new(
            "reg/registry.jsonl",
            "line 1 sha256",
            "abc",
            "def",
        )));
        assert!(matches!(tampered, CliError::Ml(MlError::Tampered(_))));
        assert_eq!(tampered.exit_code(), 2);
        assert_eq!(
            tampered.to_string(),
            "1 problem found:\n  reg/registry.jsonl: line 1 sha256: expected abc, found def\n"
        );

        let lock = CliError::from(MlError::Lock {
            path: "reg/.lock".into(),
            source: std::io::Error::new(std::io::ErrorKind::Unsupported, "no flock"),
        });
        assert_eq!(lock.exit_code(), 1);
        let io = lock.source().expect("the lock's io error is kept");
        assert_eq!(io.to_string(), "no flock");
        assert!(io.downcast_ref::<std::io::Error>().is_some());

        let fit = CliError::from(crate::surrogates::SurrogateError::Numerical(
            "not positive definite".into(),
        ));
        assert!(matches!(fit, CliError::Ml(MlError::Training { .. })));
        assert_eq!(fit.exit_code(), 3);
        assert_eq!(
            fit.to_string(),
            "the surrogate model's fit or prediction failed: not positive definite"
        );
        assert!(fit.source().is_some());
    }
}
