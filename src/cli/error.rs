//! The command line's error: every library crate's error joined, each kept
//! whole (its variants and its `source()` chain), and the one mapping of an
//! error to the process's exit code.
//!
//! `biotwin-ml` and `biotwin-live` return the core's error today; they
//! arrive through [`CliError::Core`].

use crate::error::{Diagnostic, Diagnostics, Error};

/// An error of any command, from whichever crate it came.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The core's (and today the ML and live crates') error: input, numerical,
    /// estimation or I/O.
    #[error(transparent)]
    Core(#[from] Error),
    /// The downstream crate's error (columns, unit operations, trains).
    #[error(transparent)]
    Downstream(#[from] crate::downstream::error::Error),
    /// The transfer study's error.
    #[error(transparent)]
    Transfer(#[from] crate::transfer::Error),
}

impl CliError {
    /// Process exit code: 2 invalid input, 3 numerical failure (or a failed
    /// estimation), 1 I/O; each crate classifies its own variants.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Core(e) => e.exit_code(),
            CliError::Downstream(e) => e.exit_code(),
            CliError::Transfer(e) => e.exit_code(),
        }
    }
}

impl From<Diagnostics> for CliError {
    fn from(d: Diagnostics) -> Self {
        CliError::Core(d.into())
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
        for e in [core, ds, tr] {
            assert_eq!(e.exit_code(), 2);
            assert_eq!(
                e.to_string(),
                "1 problem found:\n  f.toml: a.b: expected a number, found `x`\n"
            );
        }
    }
}
