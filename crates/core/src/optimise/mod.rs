//! Bounded minimisation of an expensive black-box objective.
//!
//! Used to find receiving-site set-points (agitation, gas flows, feed rates,
//! shift timing) within equipment limits that bring the predicted quality
//! attributes back to the source's. The objective is noise-free but has no
//! gradient (it runs a simulation), has a few to ~10 variables, and every
//! variable has hard box limits.
//!
//! Method:
//! * **Nelder–Mead** simplex search (Nelder & Mead 1965) from the `argmin`
//!   crate: derivative-free, robust on the smooth, low-dimensional objectives
//!   of set-point matching, and cheap per iteration (1–2 evaluations).
//! * **Bounds by change of variables** ([`bounds`]): the simplex moves in an
//!   unconstrained space mapped into the box by x = l + (u − l)(1 + sin z)/2,
//!   so every evaluated point is feasible and a minimum on a bound is found
//!   as a smooth interior minimum of the transformed problem.
//! * **Restarts** (Kelley 1999): after convergence the simplex is rebuilt at
//!   the best point; the run counts as converged only when a restart improves
//!   the objective by no more than `tol`. This guards against the known
//!   collapse of Nelder–Mead onto non-stationary points.
//! * **Multi-start** (optional): further starts from a scrambled Sobol set of
//!   points in the box, seeded, run in parallel with rayon; the best result
//!   wins (the earliest start on ties), so results do not depend on the
//!   thread count.
//!
//! Convergence: the sample standard deviation of the objective over the
//! simplex falls below `tol` (argmin's criterion) and a restart gains no
//! more than `tol`. `tol` is absolute, in the objective's unit.
//!
//! A NaN or infinite objective value is treated as +∞ (the simplex moves
//! away) and counted in [`OptimResult::non_finite_evaluations`].
//!
//! See `docs/sensitivity.md` ("Adjustment") for references.
//!
//! ```
//! use biotwin_core::optimise::{Options, minimise_bounded};
//!
//! // Minimum at (3, 0.2) lies outside the box in x: the answer is x = 2.
//! let objective = |x: &[f64]| (x[0] - 3.0).powi(2) + (x[1] - 0.2).powi(2);
//! let result = minimise_bounded(objective, &[1.0, 0.5], &[0.0, 0.0], &[2.0, 1.0], &Options::default())?;
//! assert!((result.x[0] - 2.0).abs() < 1e-6 && (result.x[1] - 0.2).abs() < 1e-4);
//! # Ok::<(), biotwin_core::error::Error>(())
//! ```

pub mod bounds;
pub(crate) mod simplex;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Diagnostic, Diagnostics, Error};
use crate::sensitivity::sampling::{MAX_DIMENSIONS, MAX_POINTS, scramble_seed, sobol_point};
use bounds::BoxTransform;
use simplex::{SearchObjective, nelder_mead};

/// Settings of [`minimise_bounded`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Options {
    /// Largest number of Nelder–Mead iterations per start, restarts included.
    pub max_iters: u64,
    /// Absolute tolerance on the objective (see module docs).
    pub tol: f64,
    /// Number of starts: the given x0 plus `starts − 1` scrambled Sobol points.
    pub starts: usize,
    /// Seed for the extra start points.
    pub seed: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_iters: 2000,
            tol: 1e-10,
            starts: 1,
            seed: 0,
        }
    }
}

/// How one start ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StartOutcome {
    /// Where the start began, in the box.
    pub x0: Vec<f64>,
    /// Where it ended, in the box.
    pub x: Vec<f64>,
    /// Objective at `x`.
    pub f: f64,
    /// Simplex iterations.
    pub iterations: u64,
    /// Objective evaluations.
    pub evaluations: usize,
    /// Whether the simplex converged (spread below tolerance).
    pub converged: bool,
}

/// The best point found and what it cost.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OptimResult {
    /// Minimiser, inside the box.
    pub x: Vec<f64>,
    /// Objective at `x`.
    pub f: f64,
    /// Objective evaluations over all starts.
    pub evaluations: usize,
    /// Nelder–Mead iterations over all starts.
    pub iterations: u64,
    /// Whether the start that produced `x` met the tolerance.
    pub converged: bool,
    /// Evaluations that returned NaN or ±∞.
    pub non_finite_evaluations: usize,
    /// Every start, in start order.
    pub starts: Vec<StartOutcome>,
}

/// Where problems with optimiser arguments passed in code are reported.
pub const SETTINGS_ORIGIN: &str = "<optimiser settings>";

/// Initial simplex edge in the search space (radians of the sine
/// transform): about a quarter of the range around the middle of the box.
const INITIAL_STEP: f64 = 0.5;
/// Restarts after the first convergence, at most.
const MAX_RESTARTS: usize = 10;

/// Minimises `objective` over the box `lower ≤ x ≤ upper` starting at `x0`.
///
/// Bounds must be finite with `lower[i] ≤ upper[i]` (equal bounds fix a
/// variable); `x0` must lie in the box. Errors are input errors naming each
/// offending argument.
pub fn minimise_bounded<F>(
    objective: F,
    x0: &[f64],
    lower: &[f64],
    upper: &[f64],
    options: &Options,
) -> Result<OptimResult, Error>
where
    F: Fn(&[f64]) -> f64 + Sync,
{
    validate(x0, lower, upper, options)?;
    let transform = BoxTransform::new(lower, upper);
    let n = x0.len();
    let scramble = scramble_seed(options.seed);
    let start_points: Vec<Vec<f64>> = (0..options.starts)
        .map(|s| {
            if s == 0 {
                x0.to_vec()
            } else {
                sobol_point(s - 1, 0, n, scramble)
                    .iter()
                    .zip(lower.iter().zip(upper))
                    .map(|(u, (lo, hi))| lo + u * (hi - lo))
                    .collect()
            }
        })
        .collect();

    let runs: Vec<Result<(StartOutcome, usize), simplex::SimplexError>> = start_points
        .par_iter()
        .map(|start| run_start(&objective, &transform, start, options))
        .collect();
    let mut starts = Vec::with_capacity(runs.len());
    let mut non_finite = 0;
    for run in runs {
        let (outcome, nf) = run.map_err(|message| Error::Numerical {
            time_h: 0.0,
            message: format!("optimiser failed: {message}"),
            state: String::new(),
        })?;
        non_finite += nf;
        starts.push(outcome);
    }
    // First minimum wins ties, independent of which thread finished first.
    let best = starts
        .iter()
        .enumerate()
        .fold(0, |b, (i, s)| if s.f < starts[b].f { i } else { b });
    Ok(OptimResult {
        x: starts[best].x.clone(),
        f: starts[best].f,
        evaluations: starts.iter().map(|s| s.evaluations).sum(),
        iterations: starts.iter().map(|s| s.iterations).sum(),
        converged: starts[best].converged,
        non_finite_evaluations: non_finite,
        starts,
    })
}

/// One start: Nelder–Mead, then restarts at the best point until a restart
/// gains no more than `tol` or the iteration budget is spent.
fn run_start<F: Fn(&[f64]) -> f64>(
    objective: &F,
    transform: &BoxTransform,
    x0: &[f64],
    options: &Options,
) -> Result<(StartOutcome, usize), simplex::SimplexError> {
    let to_box = |z: &[f64]| transform.to_box(z);
    let problem = SearchObjective::new(objective, &to_box);
    let mut z = transform.to_search(x0);
    let mut f = problem.value(&z);
    let mut iterations = 0;
    let mut converged = false;
    for attempt in 0..=MAX_RESTARTS {
        if iterations >= options.max_iters {
            break;
        }
        let run = nelder_mead(
            &problem,
            &z,
            INITIAL_STEP,
            options.tol,
            options.max_iters - iterations,
        )?;
        iterations += run.iterations;
        let gain = f - run.f;
        if run.f <= f {
            z = run.z;
            f = run.f;
        }
        if !run.converged {
            break;
        }
        if attempt > 0 && gain <= options.tol {
            converged = true;
            break;
        }
    }
    let evaluations = problem
        .evaluations
        .load(std::sync::atomic::Ordering::Relaxed);
    let non_finite = problem
        .non_finite
        .load(std::sync::atomic::Ordering::Relaxed);
    Ok((
        StartOutcome {
            x0: x0.to_vec(),
            x: transform.to_box(&z),
            f,
            iterations,
            evaluations,
            converged,
        },
        non_finite,
    ))
}

fn validate(x0: &[f64], lower: &[f64], upper: &[f64], options: &Options) -> Result<(), Error> {
    let mut d = Diagnostics::new();
    let problem = |field: String, expected: String, found: String| {
        Diagnostic::new(SETTINGS_ORIGIN, field, expected, found)
    };
    let n = x0.len();
    if n == 0 {
        d.push(problem(
            "x0".into(),
            "at least one variable".into(),
            "none".into(),
        ));
    }
    for (name, v) in [("lower", lower), ("upper", upper)] {
        if v.len() != n {
            d.push(problem(
                name.into(),
                format!("{n} bounds, one per variable of x0"),
                format!("{} bounds", v.len()),
            ));
        }
    }
    if d.is_empty() {
        for i in 0..n {
            let (lo, hi, x) = (lower[i], upper[i], x0[i]);
            if !lo.is_finite() || !hi.is_finite() || lo > hi {
                d.push(problem(
                    format!("upper[{i}]"),
                    format!("finite bounds with lower[{i}] ≤ upper[{i}]"),
                    format!("[{lo}, {hi}]"),
                ));
            } else if !(lo..=hi).contains(&x) {
                d.push(problem(
                    format!("x0[{i}]"),
                    format!("a start inside [{lo}, {hi}]"),
                    format!("{x}"),
                ));
            }
        }
    }
    if options.max_iters == 0 {
        d.push(problem("max_iters".into(), "at least 1".into(), "0".into()));
    }
    if !(options.tol >= 0.0 && options.tol.is_finite()) {
        d.push(problem(
            "tol".into(),
            "a finite tolerance ≥ 0 in the objective's unit".into(),
            options.tol.to_string(),
        ));
    }
    if options.starts == 0 {
        d.push(problem("starts".into(), "at least 1".into(), "0".into()));
    }
    if options.starts > MAX_POINTS + 1 {
        d.push(problem(
            "starts".into(),
            format!("at most {}", MAX_POINTS + 1),
            options.starts.to_string(),
        ));
    }
    if options.starts > 1 && n > MAX_DIMENSIONS {
        d.push(problem(
            "starts".into(),
            format!("1 for more than {MAX_DIMENSIONS} variables (the start design's limit)"),
            options.starts.to_string(),
        ));
    }
    d.into_result(()).map_err(Error::Input)
}
