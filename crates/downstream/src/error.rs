//! The downstream crate's errors: its own failures (a column's or a UF/DF
//! integration, a table with nothing to interpolate in) as typed variants,
//! and what it passes through from `biotwin-core` (file and input problems:
//! [`biotwin_core::error::Diagnostics`] naming file, line, field, expected
//! and found) unchanged in [`Error::Core`].
//!
//! Numerical failures print in the one form of the core's
//! [`biotwin_core::error::Error::Numerical`]
//! ([`biotwin_core::error::numerical_text`]), so a user reads them alike
//! whichever crate failed.

use biotwin_core::error::numerical_text;
use diffsol::error::DiffsolError;

use crate::unit_ops::Stream;

/// What the output state of a failed column run is, in the message.
const COLUMN_STATE: &str = "see the column's outlet profile up to this time";

/// Everything that can go wrong in `biotwin-downstream`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A column's time integration could not be carried out (exit code 3).
    #[error(
        "{}",
        numerical_text(
            *time_s / 3600.0,
            &format!("column integration failed: {failure}"),
            COLUMN_STATE
        )
    )]
    Column {
        /// Process time of the failure, s (the column's own clock).
        time_s: f64,
        /// What failed.
        #[source]
        failure: ColumnFailure,
    },
    /// The UF/DF step's integration over the permeate volume failed (exit
    /// code 3).
    #[error(
        "{}",
        numerical_text(0.0, &format!("UF/DF: {failure}"), &format!("{input:?}"))
    )]
    UfDf {
        /// What failed.
        #[source]
        failure: UfDfFailure,
        /// The stream fed to the step.
        input: Stream,
    },
    /// A table to interpolate in has no point, e.g. a Protein A step built
    /// in code with an empty DBC curve (exit code 2; the train reader
    /// refuses an empty curve in a file with its line).
    #[error(
        "<downstream step>: {table}: expected at least one (x, y) point to interpolate in, found an empty table"
    )]
    EmptyTable {
        /// The table, as its field path (e.g. `protein_a.dbc_curve`).
        table: String,
    },
    /// A file or input problem, an I/O failure, or a core failure passed
    /// through as it was.
    #[error(transparent)]
    Core(#[from] biotwin_core::error::Error),
}

impl Error {
    /// Process exit code: 2 invalid input, 3 numerical failure, 1 I/O (the
    /// classes of [`biotwin_core::error::Error::exit_code`]).
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Column { .. } | Error::UfDf { .. } => 3,
            Error::EmptyTable { .. } => 2,
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

/// Why a column's integration failed ([`Error::Column`]).
#[derive(Debug, thiserror::Error)]
pub enum ColumnFailure {
    /// The solver could not be set up, stopped or interpolated.
    #[error("{0}")]
    Solver(#[source] DiffsolError),
    /// A time step failed: where, on which mesh, and what usually helps.
    #[error(
        "{source}, in section \"{section}\" ({since_section_start_s:.4} s after its start; mesh {elements} × degree {polynomial_degree}). What helps: {}; tightening the tolerances rarely does",
        if *rapid_equilibrium { ADVICE_RAPID } else { ADVICE_KINETIC }
    )]
    Step {
        /// The inlet section the step was in.
        section: String,
        /// Time since the section's start, s.
        since_section_start_s: f64,
        /// Axial elements of the mesh.
        elements: usize,
        /// Polynomial degree of the elements.
        polynomial_degree: usize,
        /// Whether binding was at rapid equilibrium (the advice differs).
        rapid_equilibrium: bool,
        /// The solver's error.
        source: DiffsolError,
    },
    /// More steps than one run may take.
    #[error("too many steps")]
    TooManySteps,
    /// The output grid was not filled.
    #[error("outlet profile incomplete")]
    OutletIncomplete,
    /// The error-controlled mesh would have to be refined past its limit.
    #[error(
        "the axial mesh cannot be refined to the requested accuracy {accuracy:e} from {elements} elements: {max_elements} elements is the limit. What helps: fewer discretisation.elements to start from, a larger discretisation.accuracy, or a fixed discretisation.elements"
    )]
    MeshLimit {
        /// The requested accuracy (relative L2).
        accuracy: f64,
        /// Elements of the last mesh run.
        elements: usize,
        /// Most elements the mesh refines to.
        max_elements: usize,
    },
    /// The outlets of two successive meshes are not finite numbers.
    #[error(
        "the outlets at {elements} and {finer} elements are not finite numbers (difference {difference}); the mesh cannot be chosen"
    )]
    MeshNotFinite {
        /// Elements of the coarser mesh.
        elements: usize,
        /// Elements of the finer mesh.
        finer: usize,
        /// Their relative L2 difference.
        difference: f64,
    },
    /// The finest mesh allowed did not reach the requested accuracy.
    #[error(
        "the axial mesh did not reach the requested accuracy {accuracy:e}: the outlets at {elements} and {finer} elements differ by {difference:.3e} (relative L2) and {max_elements} elements is the limit. What helps: a larger discretisation.accuracy, or a fixed discretisation.elements"
    )]
    MeshNotConverged {
        /// The requested accuracy (relative L2).
        accuracy: f64,
        /// Elements of the coarser mesh.
        elements: usize,
        /// Elements of the finer mesh.
        finer: usize,
        /// Their relative L2 difference.
        difference: f64,
        /// Most elements the mesh refines to.
        max_elements: usize,
    },
}

const ADVICE_RAPID: &str = "with rapid equilibrium a strongly favourable isotherm forms fronts held only by film transfer and dispersion: refine the axial mesh (discretisation.elements), or use kinetic binding (binding.kinetic = true) with rates of the real resin";
const ADVICE_KINETIC: &str = "a front sharper than the mesh resolves makes the step size collapse: refine the axial mesh (discretisation.elements); binding rates far above the transport rates are better modelled as rapid equilibrium (binding.kinetic = false), which gives the same outlet";

/// Why the UF/DF integration failed ([`Error::UfDf`]).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum UfDfFailure {
    /// A state component became infinite or NaN.
    #[error("a non-finite UF/DF state")]
    NonFinite,
    /// More steps than allowed.
    #[error("UF/DF integration needed more than {steps} steps")]
    MaxSteps {
        /// Steps taken.
        steps: u32,
    },
    /// The step became too small to advance.
    #[error("UF/DF integration step underflow at {permeate_m3:.3e} m³ permeate")]
    StepUnderflow {
        /// Permeate volume reached, m³.
        permeate_m3: f64,
    },
}

/// `biotwin-downstream`'s result type: the error defaults to [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
