//! The ML crate's errors, grouped by what the user should do about them:
//!
//! * the registry's log, its anchors or a registered artifact failed to
//!   verify ([`Error::Tampered`]): someone changed a file the registry
//!   sealed; restore it, do not retry;
//! * a model name, id or version the registry does not have, or a
//!   promotion it refuses ([`Error::NotFound`]): fix the command line;
//! * the registry's write lock could not be taken ([`Error::Lock`]): the
//!   file system, not the input;
//! * a model artifact of an unknown kind or schema, malformed, or whose
//!   content does not match its sealed hash ([`Error::Artifact`]);
//! * a dataset (a batch, file, line or column) that cannot be read as batch
//!   records ([`Error::Dataset`]);
//! * a training, fit or estimation that could not be carried out
//!   ([`Error::Training`], [`Error::Calibration`], [`Error::Estimation`])
//!   and a numerical failure at a simulated time ([`Error::Numerical`]);
//! * and whatever came from `biotwin-core` as it was ([`Error::Core`]:
//!   command-line values, I/O, a failed simulation).
//!
//! Every input problem keeps the core's [`Diagnostics`] (file, line, field,
//! expected, found) and prints exactly as the core prints them, so a user
//! reads the same text, and gets the same exit code
//! ([`Error::exit_code`]: 2 input, 3 numerical or estimation, 1 I/O), as
//! when this crate returned the core's error.

use std::path::{Path, PathBuf};

use biotwin_core::error::{Diagnostic, Diagnostics, numerical_text};

use crate::calibration::CalibrationError;
use crate::surrogates::SurrogateError;

/// Everything that can go wrong in `biotwin-ml`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The registry's hash chain, one of its anchors, or an artifact it
    /// registered failed to verify: a sealed file was changed (exit code 2).
    #[error("{0}")]
    Tampered(Diagnostics),
    /// A model name, id or version the registry does not have, or an action
    /// on a registered model the registry refuses (exit code 2).
    #[error("{0}")]
    NotFound(Diagnostics),
    /// The registry's write lock could not be taken (exit code 1).
    #[error("{}: cannot take the registry's write lock on this file system: {source}", path.display())]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// The file system's error.
        source: std::io::Error,
    },
    /// A model artifact of an unknown kind or schema version, malformed, or
    /// whose content does not match its sealed hash (exit code 2).
    #[error("{0}")]
    Artifact(Diagnostics),
    /// A dataset that cannot be read as batch records: its batches, files,
    /// lines or columns (exit code 2).
    #[error("{0}")]
    Dataset(Diagnostics),
    /// A surrogate could not be fitted or evaluated (exit code 3); the
    /// surrogate's own error is the source.
    #[error("{task} failed: {source}")]
    Training {
        /// What was being done, e.g. `the surrogate model's fit or prediction`.
        task: String,
        /// Why it failed.
        source: SurrogateError,
    },
    /// A calibration step (`biotwin fit`'s estimate, a fold, a held-out
    /// run, the model discrepancy, the calibrated model file) could not be
    /// carried out (exit code 3); the calibration's own error is the
    /// source. Built by [`Error::calibration`], which reports a failure
    /// caused by the user's input as an input error instead.
    #[error("{task} failed: {source}")]
    Calibration {
        /// What was being done, e.g. `the fit` or `cross-validation fold 3`.
        task: String,
        /// Why it failed.
        source: CalibrationError,
    },
    /// An estimation (a hybrid's training, a forecast's filter) could not
    /// be carried out: a failure of the method, not at a
    /// simulated time (exit code 3).
    #[error("{task} failed: {message}")]
    Estimation {
        /// What was being estimated, e.g. `the fit` or `fold 3`.
        task: String,
        /// Why it failed.
        message: String,
    },
    /// A model of this crate (a hybrid, the IndPenSim plant) could not be
    /// integrated faithfully (exit code 3); prints as the core's
    /// numerical failures do ([`numerical_text`]).
    #[error("{}", numerical_text(*time_h, message, state))]
    Numerical {
        /// Batch time of the failure, h.
        time_h: f64,
        /// What failed.
        message: String,
        /// The state at the failure, as text naming each component.
        state: String,
    },
    /// A command-line or file problem, an I/O failure, or a failed
    /// simulation from `biotwin-core`, passed through as it was.
    #[error(transparent)]
    Core(#[from] biotwin_core::error::Error),
}

impl Error {
    /// Process exit code: 2 invalid input, 3 numerical failure or failed
    /// estimation, 1 I/O (the classes of
    /// [`biotwin_core::error::Error::exit_code`]).
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Tampered(_) | Error::NotFound(_) | Error::Artifact(_) | Error::Dataset(_) => 2,
            Error::Lock { .. } => 1,
            Error::Training { .. }
            | Error::Calibration { .. }
            | Error::Estimation { .. }
            | Error::Numerical { .. } => 3,
            Error::Core(e) => e.exit_code(),
        }
    }

    /// The input diagnostics (file, line, field, expected, found), when the
    /// error is an input problem of any group.
    pub fn diagnostics(&self) -> Option<&Diagnostics> {
        match self {
            Error::Tampered(d) | Error::NotFound(d) | Error::Artifact(d) | Error::Dataset(d) => {
                Some(d)
            }
            Error::Core(biotwin_core::error::Error::Input(d)) => Some(d),
            _ => None,
        }
    }

    /// A single input problem of the command line or a file that belongs to
    /// none of this crate's groups ([`Error::Core`]).
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

    /// A file that could not be read or written ([`Error::Core`]'s I/O
    /// class); `err` is kept as the source.
    pub fn io(
        path: impl AsRef<Path>,
        err: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Error::Core(biotwin_core::error::Error::io(path, err))
    }

    /// An estimation that could not be carried out ([`Error::Estimation`]).
    pub fn estimation(task: impl Into<String>, message: impl std::fmt::Display) -> Self {
        Error::Estimation {
            task: task.into(),
            message: message.to_string(),
        }
    }

    /// A calibration step `task` that failed: a problem of the user's input
    /// ([`CalibrationError::input`]) is an input error (exit code 2, its
    /// diagnostic printed as the core prints it); any other failure is
    /// [`Error::Calibration`] (exit code 3) with `e` as its source.
    pub fn calibration(task: impl Into<String>, mut e: CalibrationError) -> Self {
        match e.input.take() {
            Some(d) => Error::from(*d),
            None => Error::Calibration {
                task: task.into(),
                source: e,
            },
        }
    }

    /// A registry whose log, anchors or artifacts failed to verify
    /// ([`Error::Tampered`]).
    pub fn tampered(d: impl Into<Diagnostics>) -> Self {
        Error::Tampered(d.into())
    }

    /// A model the registry does not have, or refuses to act on
    /// ([`Error::NotFound`]).
    pub fn not_found(d: impl Into<Diagnostics>) -> Self {
        Error::NotFound(d.into())
    }

    /// A model artifact that cannot be used ([`Error::Artifact`]).
    pub fn artifact(d: impl Into<Diagnostics>) -> Self {
        Error::Artifact(d.into())
    }

    /// One problem of a dataset's file ([`Error::Dataset`]): `field` of
    /// `file`, what was `expected` and what was `found`.
    pub fn in_dataset(
        file: impl AsRef<Path>,
        field: impl Into<String>,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) -> Self {
        Error::Dataset(Diagnostic::new(file, field, expected, found).into())
    }

    /// A dataset that cannot be read as batch records ([`Error::Dataset`]).
    pub fn dataset(d: impl Into<Diagnostics>) -> Self {
        Error::Dataset(d.into())
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

/// Reports a surrogate failure: a size problem is an input error of the
/// model's input; a numerical one is a failed training or prediction
/// ([`Error::Training`], the surrogate's error kept as the source).
impl From<SurrogateError> for Error {
    fn from(e: SurrogateError) -> Error {
        match e {
            SurrogateError::Shape {
                what,
                expected,
                found,
            } => Error::input("<model input>", what, expected, found),
            e @ SurrogateError::Numerical(_) => Error::Training {
                task: "the surrogate model's fit or prediction".into(),
                source: e,
            },
        }
    }
}

/// `biotwin-ml`'s result type: the error defaults to [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    fn d() -> Diagnostic {
        Diagnostic::new("reg/registry.jsonl", "line 2 sha256", "abc", "def").at_line(Some(2))
    }

    const TEXT: &str =
        "1 problem found:\n  reg/registry.jsonl:2: line 2 sha256: expected abc, found def\n";

    /// Each input group prints the core's diagnostics unchanged and exits 2,
    /// as the core's `Input` did; its diagnostics stay reachable.
    #[test]
    fn input_groups_print_the_diagnostics_and_exit_2() {
        for e in [
            Error::tampered(d()),
            Error::not_found(d()),
            Error::artifact(d()),
            Error::dataset(d()),
            Error::from(d()),
            Error::in_dataset("reg/registry.jsonl", "line 2 sha256", "abc", "def"),
        ] {
            assert_eq!(e.exit_code(), 2, "{e:?}");
            assert_eq!(e.diagnostics().map(|x| x.len()), Some(1), "{e:?}");
        }
        assert_eq!(Error::tampered(d()).to_string(), TEXT);
        assert!(matches!(Error::tampered(d()), Error::Tampered(_)));
        assert!(matches!(Error::from(d()), Error::Core(_)));
    }

    /// The registry lock keeps the file system's error as its source and
    /// exits 1 with the text the core's I/O error printed.
    #[test]
    fn the_lock_keeps_its_io_error_and_exits_1() {
        let io = std::io::Error::new(std::io::ErrorKind::Unsupported, "no flock");
        let e = Error::Lock {
            path: "reg/.lock".into(),
            source: io,
        };
        assert_eq!(e.exit_code(), 1);
        let text = "reg/.lock: cannot take the registry's write lock on this file system: no flock";
        assert_eq!(e.to_string(), text);
        let source = e.source().expect("the io error is the source");
        assert!(source.downcast_ref::<std::io::Error>().is_some());
        // The core's I/O error with the same message prints the same.
        let core = biotwin_core::error::Error::io(
            "reg/.lock",
            "cannot take the registry's write lock on this file system: no flock",
        );
        assert_eq!((core.exit_code(), core.to_string().as_str()), (1, text));
    }

    /// A surrogate's numerical failure is a failed training (exit 3) with
    /// the surrogate's error as the source and the text the core's
    /// estimation error printed; a size problem is an input error (exit 2).
    #[test]
    fn a_surrogate_failure_is_a_training_failure_with_its_source() {
        let e = Error::from(SurrogateError::Numerical("not positive definite".into()));
        assert_eq!(e.exit_code(), 3);
        let text = "the surrogate model's fit or prediction failed: not positive definite";
        assert_eq!(e.to_string(), text);
        let source = e.source().expect("the surrogate error is the source");
        assert!(source.downcast_ref::<SurrogateError>().is_some());
        // The core's estimation failure with the same words prints the same.
        let core = biotwin_core::error::Error::Estimation {
            task: "the surrogate model's fit or prediction".into(),
            message: "not positive definite".into(),
        };
        assert_eq!((core.exit_code(), core.to_string().as_str()), (3, text));

        let shape = Error::from(SurrogateError::shape("x columns", 3, 2));
        assert_eq!(shape.exit_code(), 2);
        assert_eq!(
            shape.to_string(),
            "1 problem found:\n  <model input>: x columns: expected 3, found 2\n"
        );
    }

    /// Estimation and numerical failures exit 3; a numerical failure prints
    /// in the core's one form.
    #[test]
    fn estimation_and_numerical_failures_exit_3_in_the_cores_form() {
        let e = Error::estimation("the fit", "singular");
        assert_eq!(e.exit_code(), 3);
        assert_eq!(e.to_string(), "the fit failed: singular");
        let n = Error::Numerical {
            time_h: 1.5,
            message: "NaN".into(),
            state: "X = 1".into(),
        };
        assert_eq!(n.exit_code(), 3);
        assert_eq!(n.to_string(), numerical_text(1.5, "NaN", "X = 1"));
        let core = biotwin_core::error::Error::Numerical {
            time_h: 1.5,
            message: "NaN".into(),
            state: "X = 1".into(),
        };
        assert_eq!(core.to_string(), n.to_string());
    }

    /// A calibration failure keeps the calibration's error as its source
    /// and exits 3 with the text the untyped estimation error printed; one
    /// caused by the user's input is that input's diagnostic, exit 2.
    #[test]
    fn a_calibration_failure_keeps_its_source_and_an_input_one_exits_2() {
        let e = Error::calibration("the fit", CalibrationError::from("batch B1: singular"));
        assert_eq!(e.exit_code(), 3);
        assert_eq!(e.to_string(), "the fit failed: batch B1: singular");
        assert_eq!(
            e.to_string(),
            Error::estimation("the fit", "batch B1: singular").to_string()
        );
        let source = e.source().expect("the calibration error is the source");
        let c = source
            .downcast_ref::<CalibrationError>()
            .expect("a CalibrationError");
        assert_eq!(c.message, "batch B1: singular");
        assert!(e.diagnostics().is_none());

        let input = CalibrationError::input(
            "d/mechanistic.toml",
            "condition[1].factor",
            "a non-zero factor",
            "0",
        );
        assert_eq!(
            input.to_string(),
            "d/mechanistic.toml: condition[1].factor: expected a non-zero factor, found 0"
        );
        let e = Error::calibration("the model discrepancy", input);
        assert_eq!(e.exit_code(), 2);
        let d = e.diagnostics().expect("an input problem");
        assert_eq!(d.0[0].field, "condition[1].factor");
        assert_eq!(
            e.to_string(),
            "1 problem found:\n  d/mechanistic.toml: condition[1].factor: expected a non-zero factor, found 0\n"
        );
    }

    /// An error from the core passes through whole: its exit code, its
    /// text and its source.
    #[test]
    fn a_core_error_passes_through_transparently() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "gone");
        let e = Error::io("a.csv", io);
        assert_eq!(e.exit_code(), 1);
        assert_eq!(e.to_string(), "a.csv: gone");
        assert!(matches!(e, Error::Core(_)));
        let source = e.source().expect("the io error is kept");
        assert!(source.downcast_ref::<std::io::Error>().is_some());
    }
}
