//! The transfer study's errors: its own failures (an address the scenario
//! does not have, model runs of the sensitivity analysis that failed, a
//! figure that could not be drawn) as typed variants, and what it passes
//! through from `biotwin-core` (file and input problems, the
//! [`biotwin_core::error::Diagnostics`] that name file, line, field,
//! expected and found; failed nominal runs) unchanged in [`Error::Core`].

use std::path::PathBuf;

use biotwin_core::error::numerical_text;
use biotwin_core::sensitivity::EvaluationFailure;

/// Everything that can go wrong in `biotwin-transfer`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A text is not an address of the scenario's address space
    /// ([`crate::sensitivity::Knob::parse`]; exit code 2). Prints the
    /// scenario's reason, which names the address.
    #[error("{reason}")]
    Address {
        /// The text given as an address, e.g. `model.mu_max`.
        address: String,
        /// Why the scenario refused it (its own wording, naming what it
        /// has instead).
        reason: String,
    },
    /// Model runs of the Sobol' or Morris design failed (exit code 3): how
    /// many, and the first one with its factor values and error.
    #[error(
        "{}",
        numerical_text(0.0, &format!("sensitivity analysis: {failure}"), "")
    )]
    Sensitivity {
        /// The failed runs: how many, the first one's factor values and error.
        #[source]
        failure: EvaluationFailure<biotwin_core::error::Error>,
    },
    /// A figure of the report could not be drawn (exit code 1, as a file
    /// that cannot be written).
    #[error("{}: {source}", path.display())]
    Figure {
        /// The figure's file.
        path: PathBuf,
        /// Why it could not be drawn.
        source: FigureError,
    },
    /// A file or input problem, an I/O failure, or a failed simulation
    /// passed through as it was.
    #[error(transparent)]
    Core(#[from] biotwin_core::error::Error),
}

/// Why a figure could not be drawn: the plotting back end's message.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct FigureError {
    /// The back end's message (`biotwin_core::output::plot::render_svg`).
    pub message: String,
}

impl Error {
    /// Process exit code: 2 invalid input, 3 numerical failure, 1 I/O (the
    /// classes of [`biotwin_core::error::Error::exit_code`]).
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Address { .. } => 2,
            Error::Sensitivity { .. } => 3,
            Error::Figure { .. } => 1,
            Error::Core(e) => e.exit_code(),
        }
    }

    /// The input diagnostics, when the error is one (file, line, field,
    /// expected, found).
    pub fn diagnostics(&self) -> Option<&biotwin_core::error::Diagnostics> {
        match self {
            Error::Core(biotwin_core::error::Error::Input(d)) => Some(d),
            _ => None,
        }
    }
}

impl From<biotwin_core::error::Diagnostics> for Error {
    fn from(d: biotwin_core::error::Diagnostics) -> Self {
        Error::Core(d.into())
    }
}

impl From<biotwin_core::error::Diagnostic> for Error {
    fn from(d: biotwin_core::error::Diagnostic) -> Self {
        Error::Core(d.into())
    }
}

/// `biotwin-transfer`'s result type: the error defaults to [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
