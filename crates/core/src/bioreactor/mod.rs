//! Fed-batch stirred-tank bioreactor: kinetic model families, the physics they
//! share (gas transfer), and the event-driven simulator that runs a recipe.
//!
//! A model family implements [`Culture`]: an ODE system in SI whose states are
//! concentrations (diluted by feeds), the broth volume, or cumulative amounts
//! (bookkeeping integrals that feeds do not dilute). The simulator
//! ([`simulate::run`]) applies recipe events between smooth segments.

pub mod events;
pub mod gas_transfer;
pub mod indpensim;
pub mod platform;
pub mod simulate;
pub mod vessel;
pub mod xing2010;

use nalgebra::SVector;

use crate::definition::recipe::Setpoints;
use crate::definition::species::{Composition, Species};
use crate::solver::OdeSystem;

/// Why a model cannot start from a recipe, or go on after a set-point
/// change: the recipe lacks a value the model needs, or gives one the model
/// cannot run with. Raised before any step is taken (`validate` checks it
/// through [`crate::simulation::Scenario`]), so it is an input problem, not
/// a numerical one.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NotReady {
    /// The initial composition lacks a species the model integrates.
    #[error("missing initial {0} concentration")]
    MissingInitial(Species),
    /// The set-points lack one the model's rates depend on.
    #[error("missing set-point {setpoint} (the {model} model needs it)")]
    MissingSetpoint {
        /// The recipe's name of the set-point, e.g. `sparge_slpm`.
        setpoint: &'static str,
        /// The model family's name.
        model: &'static str,
    },
    /// A value is present but outside what the model can run with.
    #[error("{field}: expected {expected}, found {found}")]
    OutOfRange {
        /// Recipe path of the value, e.g. `setpoints.sparge_slpm`.
        field: &'static str,
        /// What the model needs, with its unit.
        expected: String,
        /// The value given, in the recipe's unit.
        found: String,
    },
}

/// How a state responds to volume changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateKind {
    /// Per unit broth volume: diluted by inflow, unchanged by sampling.
    Concentration,
    /// The broth volume itself, m³.
    Volume,
    /// A cumulative amount (e.g. product made so far): not diluted, not sampled.
    Amount,
}

/// A culture model family.
pub trait Culture<const N: usize>: OdeSystem<N> + Clone + Send + Sync {
    /// Kind of every state.
    fn kinds(&self) -> [StateKind; N];
    /// Index of the volume state.
    fn volume_index(&self) -> usize;
    /// Initial state from the recipe's initial composition and volume;
    /// an error names what is missing.
    fn initial_state(
        &self,
        initial: &Composition,
        volume_m3: f64,
    ) -> Result<SVector<f64, N>, NotReady>;
    /// A medium's composition in state space (concentrations; 0 elsewhere).
    fn medium_vector(&self, medium: &Composition) -> SVector<f64, N>;
    /// Continuous inflow for the coming segment (total rate and its mixed
    /// composition in state space).
    fn set_inflow(&mut self, rate_m3_per_s: f64, composition: &SVector<f64, N>);
    /// Operating set-points for the coming segment.
    fn set_setpoints(&mut self, setpoints: &Setpoints) -> Result<(), NotReady>;
    /// Called after a bolus has mixed `before` into `y` (concentrations by
    /// volume, the volume grown). A model whose state carries forward
    /// sensitivities corrects them here for the volume's own sensitivity;
    /// nothing else needs it.
    fn after_bolus(&self, _before: &SVector<f64, N>, _y: &mut SVector<f64, N>) {}
    /// Called before each smooth segment with the state at its start, so
    /// quantities that change only slowly (vessel kLa and pressure at the
    /// current volume) are computed once per segment, not per RHS call.
    fn begin_segment(&mut self, _y: &SVector<f64, N>) {}
    /// Names of output columns, units in the names.
    fn output_columns(&self) -> Vec<&'static str>;
    /// One output row (same order as `output_columns`) for state `y` at `t_s`.
    fn outputs(&self, t_s: f64, y: &SVector<f64, N>, row: &mut Vec<f64>);
    /// Appends the output row to `rows`. A run emits one row per output
    /// time (hundreds per batch); models override this to write straight
    /// into the table instead of through a scratch row.
    fn append_outputs(&self, t_s: f64, y: &SVector<f64, N>, rows: &mut Vec<f64>) {
        let mut row = Vec::new();
        self.outputs(t_s, y, &mut row);
        rows.extend_from_slice(&row);
    }
    /// End-of-batch quality attributes: (name with unit, value).
    fn quality(&self, y: &SVector<f64, N>) -> Vec<(&'static str, f64)>;
}
