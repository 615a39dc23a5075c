//! The command line's error: every library crate's error joined, each kept
//! whole (its variants and its `source()` chain), and the one mapping of an
//! error to the process's exit code.
//!
//! `biotwin-live` returns the core's error today; it arrives through
//! [`CliError::Core`].

use crate::error::{Diagnostic, Diagnostics, Error};

/// An error of any command, from whichever crate it came.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The core's (and today the live crate's) error: input, numerical,
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

    /// Input diagnostics from any crate exit 2 with the diagnostic's text.
    #[test]
    fn input_errors_exit_2_from_every_crate() {
        let d = || Diagnostic::new("f.toml", "a.b", "a number", "`x`");
        let core = CliError::from(d());
        let ds = CliError::from(crate::downstream::error::Error::from(d()));
        let tr = CliError::from(crate::transfer::Error::from(d()));
        let ml = CliError::from(biotwin_ml::Error::from(d()));
        let ml_dataset = CliError::from(biotwin_ml::Error::dataset(d()));
        for e in [core, ds, tr, ml, ml_dataset] {
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
