//! One Nelder–Mead run in the unconstrained search space, via argmin.
//!
//! argmin's Nelder–Mead (Nelder & Mead 1965, coefficients α = 1, γ = 2,
//! ρ = ½, σ = ½) needs only addition, subtraction and scaling of parameter
//! vectors. We give it a small newtype over `Vec<f64>` implementing those
//! three argmin-math traits rather than enabling argmin-math's `vec` feature,
//! which would pull a second `rand` (0.9) into the build for nothing.

use std::sync::atomic::{AtomicUsize, Ordering};

use argmin::core::{CostFunction, Executor, State, TerminationReason};
use argmin::solver::neldermead::NelderMead;
use argmin_math::{ArgminAdd, ArgminMul, ArgminSub};

/// A search-space point for argmin.
#[derive(Debug, Clone, PartialEq)]
pub struct Point(pub Vec<f64>);

impl ArgminAdd<Point, Point> for Point {
    fn add(&self, other: &Point) -> Point {
        Point(self.0.iter().zip(&other.0).map(|(a, b)| a + b).collect())
    }
}

impl ArgminSub<Point, Point> for Point {
    fn sub(&self, other: &Point) -> Point {
        Point(self.0.iter().zip(&other.0).map(|(a, b)| a - b).collect())
    }
}

impl ArgminMul<f64, Point> for Point {
    fn mul(&self, other: &f64) -> Point {
        Point(self.0.iter().map(|a| a * other).collect())
    }
}

/// The objective seen from the search space, counting evaluations.
pub struct SearchObjective<'a, F> {
    /// The objective, on the box.
    pub objective: &'a F,
    /// Map from the unbounded search space to the box.
    pub to_box: &'a dyn Fn(&[f64]) -> Vec<f64>,
    /// Evaluations so far.
    pub evaluations: AtomicUsize,
    /// Evaluations that gave NaN or ±∞.
    pub non_finite: AtomicUsize,
}

impl<'a, F: Fn(&[f64]) -> f64> SearchObjective<'a, F> {
    /// Wraps `objective` seen through `to_box`, with zeroed counters.
    pub fn new(objective: &'a F, to_box: &'a dyn Fn(&[f64]) -> Vec<f64>) -> Self {
        SearchObjective {
            objective,
            to_box,
            evaluations: AtomicUsize::new(0),
            non_finite: AtomicUsize::new(0),
        }
    }

    /// f(x(z)); NaN and ±∞ become +∞ so the simplex moves away from them
    /// (a NaN would make argmin's comparisons meaningless).
    pub fn value(&self, z: &[f64]) -> f64 {
        self.evaluations.fetch_add(1, Ordering::Relaxed);
        let f = (self.objective)(&(self.to_box)(z));
        if f.is_finite() {
            f
        } else {
            self.non_finite.fetch_add(1, Ordering::Relaxed);
            f64::INFINITY
        }
    }
}

/// Outcome of one simplex run.
#[derive(Debug, Clone, PartialEq)]
pub struct SimplexRun {
    /// Best point, in the search space.
    pub z: Vec<f64>,
    /// Objective at `z`.
    pub f: f64,
    /// Iterations run.
    pub iterations: u64,
    /// The spread of objective values over the simplex fell below `tol`.
    pub converged: bool,
}

/// argmin could not set up or run the simplex search; its own words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SimplexError {
    /// What argmin reported.
    pub message: String,
}

impl From<String> for SimplexError {
    fn from(message: String) -> Self {
        SimplexError { message }
    }
}

/// Runs Nelder–Mead from the axis-aligned simplex {z0, z0 + h·e_i}.
pub fn nelder_mead<F: Fn(&[f64]) -> f64>(
    problem: &SearchObjective<'_, F>,
    z0: &[f64],
    step: f64,
    tol: f64,
    max_iters: u64,
) -> Result<SimplexRun, SimplexError> {
    let mut simplex = vec![Point(z0.to_vec())];
    for i in 0..z0.len() {
        let mut z = z0.to_vec();
        z[i] += step;
        simplex.push(Point(z));
    }
    let solver = NelderMead::new(simplex)
        .with_sd_tolerance(tol)
        .map_err(|e| e.to_string())?;
    let result = Executor::new(problem, solver)
        .configure(|state| state.max_iters(max_iters))
        .timer(false)
        .run()
        .map_err(|e| e.to_string())?;
    let state = result.state();
    let z = state
        .get_best_param()
        .map(|p| p.0.clone())
        .unwrap_or_else(|| z0.to_vec());
    Ok(SimplexRun {
        f: state.get_best_cost(),
        z,
        iterations: state.get_iter(),
        converged: matches!(
            state.get_termination_reason(),
            Some(TerminationReason::SolverConverged)
        ),
    })
}

// argmin's executor owns its problem; a reference lets the caller read the
// evaluation counters afterwards.
impl<F> CostFunction for &SearchObjective<'_, F>
where
    F: Fn(&[f64]) -> f64,
{
    type Param = Point;
    type Output = f64;

    fn cost(&self, p: &Point) -> Result<f64, argmin::core::Error> {
        Ok(self.value(&p.0))
    }
}
