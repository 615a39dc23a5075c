//! The one Levenberg–Marquardt solver of biotwin, and its multi-start
//! executor (in the spirit of argmin: a problem trait, a solver, an
//! executor).
//!
//! A problem gives, at θ, the Gauss–Newton quadratic model of its cost
//! C(θ) = ½ ‖r(θ)‖² (+ any quadratic penalty it folds in): H = JᵀJ (+ Λ),
//! g = Jᵀr (+ Λθ). One iteration solves
//!
//! (H + λ diag(H)) δ = −g        (Marquardt's scaling; diag floored at 1e-12)
//!
//! and accepts θ + δ when the cost decreases (λ ← max(λ/3, 1e-9)); otherwise
//! λ grows (×4, or ×`up_on_singular` when the matrix is not positive
//! definite) and the step is retried. A step may be limited (scaled to a
//! largest component, or clamped per component) and projected onto box
//! bounds. The iteration stops when no step within `max_tries` decreases
//! the cost, when the relative decrease falls below `rel_tol`, when the step
//! falls below `min_step`, or when the observer says so (early stopping).
//!
//! Users: `biotwin fit` (`fit::mechanistic`), the serial hybrid
//! (`surrogates::hybrid::serial`), the calibrated serial hybrid and its
//! per-batch effects (`surrogates::hybrid::calibrated`).

use nalgebra::{DMatrix, DVector};

/// The Gauss–Newton quadratic model of a cost at one θ.
#[derive(Debug, Clone, PartialEq)]
pub struct Linearisation {
    /// The cost at θ.
    pub cost: f64,
    /// JᵀJ (plus any penalty's Hessian).
    pub hessian: DMatrix<f64>,
    /// Jᵀr (plus any penalty's gradient).
    pub gradient: DVector<f64>,
}

impl Linearisation {
    /// From residuals r and their Jacobian J: cost ½‖r‖².
    pub fn from_jacobian(r: &DVector<f64>, j: &DMatrix<f64>) -> Linearisation {
        Linearisation {
            cost: 0.5 * r.norm_squared(),
            hessian: j.transpose() * j,
            gradient: j.transpose() * r,
        }
    }
}

/// A least-squares problem.
pub trait LeastSquares {
    /// Error of a failed linearisation.
    type Error;
    /// Cost, JᵀJ and Jᵀr at θ.
    fn linearise(&self, theta: &[f64]) -> Result<Linearisation, Self::Error>;
    /// Cost at a trial θ; None where the model cannot be evaluated (the
    /// step is then rejected like one that increases the cost).
    fn cost(&self, theta: &[f64]) -> Option<f64>;
}

/// How a step is limited before it is tried.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StepLimit {
    /// No limit.
    None,
    /// Scaled so that its largest component is at most this.
    MaxNorm(f64),
    /// Each component clamped to ± this.
    Clamp(f64),
}

/// Settings of the solver.
#[derive(Debug, Clone, PartialEq)]
pub struct LmOptions {
    /// Most iterations.
    pub max_iter: usize,
    /// Initial damping λ.
    pub initial_damping: f64,
    /// Most trial steps per iteration before giving up.
    pub max_tries: usize,
    /// Factor on λ after a rejected step.
    pub up_on_reject: f64,
    /// Factor on λ when H + λ diag(H) is not positive definite.
    pub up_on_singular: f64,
    /// Divisor of λ after an accepted step.
    pub down_on_accept: f64,
    /// Smallest λ.
    pub min_damping: f64,
    /// How steps are limited.
    pub step_limit: StepLimit,
    /// Converged when (C_old − C_new) ≤ rel_tol · C_old.
    pub rel_tol: f64,
    /// Converged when the largest step component is below this.
    pub min_step: f64,
    /// Box bounds on θ (lower, upper); steps are projected onto them.
    pub bounds: Option<Vec<(f64, f64)>>,
}

impl Default for LmOptions {
    fn default() -> LmOptions {
        LmOptions {
            max_iter: 50,
            initial_damping: 1e-3,
            max_tries: 16,
            up_on_reject: 4.0,
            up_on_singular: 4.0,
            down_on_accept: 3.0,
            min_damping: 1e-9,
            step_limit: StepLimit::None,
            rel_tol: 1e-10,
            min_step: 0.0,
            bounds: None,
        }
    }
}

/// What the observer sees after each iteration.
#[derive(Debug, Clone, Copy)]
pub struct Iteration<'a> {
    /// 1-based.
    pub iteration: usize,
    /// θ after the iteration.
    pub theta: &'a [f64],
    /// Cost at θ.
    pub cost: f64,
    /// Whether this iteration's step was accepted.
    pub accepted: bool,
    /// Damping λ after the iteration.
    pub damping: f64,
}

/// The observer's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Go on.
    Continue,
    /// Stop now (early stopping).
    Stop,
}

/// Where the solver ended.
#[derive(Debug, Clone, PartialEq)]
pub struct LmOutcome<E> {
    /// Best θ found.
    pub theta: Vec<f64>,
    /// Its cost.
    pub cost: f64,
    /// Cost at the (projected) start.
    pub initial_cost: f64,
    /// Iterations run.
    pub iterations: usize,
    /// Stopped by a convergence criterion (or no decreasing step found).
    pub converged: bool,
    /// Stopped by the observer.
    pub stopped: bool,
    /// A linearisation after the first failed: the solver kept what it had.
    pub failure: Option<E>,
}

fn project(theta: &mut [f64], bounds: &Option<Vec<(f64, f64)>>) {
    if let Some(b) = bounds {
        for (t, (lo, hi)) in theta.iter_mut().zip(b) {
            *t = t.clamp(*lo, *hi);
        }
    }
}

/// Minimises the problem's cost from `theta0`. The observer is called after
/// every iteration (accepted or not).
///
/// An exponential decay y = A exp(−k t) fitted to exact data recovers
/// A = 2 and k = 0.5 from a start far from them:
///
/// ```
/// use biotwin_core::fit::lm::{
///     Control, LeastSquares, Linearisation, LmOptions, levenberg_marquardt,
/// };
/// use nalgebra::{DMatrix, DVector};
///
/// struct Decay {
///     t: Vec<f64>,
///     y: Vec<f64>,
/// }
///
/// impl Decay {
///     fn residuals(&self, th: &[f64]) -> DVector<f64> {
///         DVector::from_iterator(
///             self.t.len(),
///             self.t.iter().zip(&self.y).map(|(t, y)| th[0] * (-th[1] * t).exp() - y),
///         )
///     }
/// }
///
/// impl LeastSquares for Decay {
///     type Error = String;
///     fn linearise(&self, th: &[f64]) -> Result<Linearisation, String> {
///         let r = self.residuals(th);
///         // ∂r/∂A = exp(−k t), ∂r/∂k = −A t exp(−k t)
///         let j = DMatrix::from_fn(self.t.len(), 2, |i, c| {
///             let e = (-th[1] * self.t[i]).exp();
///             if c == 0 { e } else { -th[0] * self.t[i] * e }
///         });
///         Ok(Linearisation::from_jacobian(&r, &j))
///     }
///     fn cost(&self, th: &[f64]) -> Option<f64> {
///         Some(0.5 * self.residuals(th).norm_squared())
///     }
/// }
///
/// let t: Vec<f64> = (0..20).map(|i| 0.5 * i as f64).collect();
/// let y = t.iter().map(|t| 2.0 * (-0.5 * t).exp()).collect();
/// let problem = Decay { t, y };
/// let out = levenberg_marquardt(&problem, &[1.0, 0.1], &LmOptions::default(), |_| {
///     Control::Continue
/// })
/// .unwrap();
/// assert!(out.converged);
/// assert!((out.theta[0] - 2.0).abs() < 1e-8, "A = {}", out.theta[0]);
/// assert!((out.theta[1] - 0.5).abs() < 1e-8, "k = {}", out.theta[1]);
/// assert!(out.cost < 1e-16 && out.cost < out.initial_cost);
/// ```
pub fn levenberg_marquardt<P: LeastSquares>(
    problem: &P,
    theta0: &[f64],
    opts: &LmOptions,
    mut observe: impl FnMut(&Iteration) -> Control,
) -> Result<LmOutcome<P::Error>, P::Error> {
    let mut theta = theta0.to_vec();
    project(&mut theta, &opts.bounds);
    let n = theta.len();
    let mut damping = opts.initial_damping;
    let mut out = LmOutcome {
        theta: theta.clone(),
        cost: f64::NAN,
        initial_cost: f64::NAN,
        iterations: 0,
        converged: false,
        stopped: false,
        failure: None,
    };
    for it in 0..opts.max_iter {
        let lin = match problem.linearise(&theta) {
            Ok(l) => l,
            Err(e) if it > 0 => {
                out.failure = Some(e);
                break;
            }
            Err(e) => return Err(e),
        };
        let cost = lin.cost;
        if it == 0 {
            out.initial_cost = cost;
        }
        out.cost = cost;
        let h = &lin.hessian;
        let g = &lin.gradient;
        let mut accepted = None;
        let mut small = false;
        for _ in 0..opts.max_tries {
            let mut a = h.clone();
            for d in 0..n {
                a[(d, d)] += damping * h[(d, d)].max(1e-12);
            }
            let Some(step) = a.cholesky().map(|c| c.solve(&(-g))) else {
                damping *= opts.up_on_singular;
                continue;
            };
            let big = step.amax();
            small = big < opts.min_step;
            let step = match opts.step_limit {
                StepLimit::None => step,
                StepLimit::MaxNorm(m) if big > m => step * (m / big),
                StepLimit::MaxNorm(_) => step,
                StepLimit::Clamp(m) => step.map(|s| s.clamp(-m, m)),
            };
            let mut trial: Vec<f64> = theta.iter().zip(step.iter()).map(|(a, b)| a + b).collect();
            project(&mut trial, &opts.bounds);
            match problem.cost(&trial) {
                Some(c) if c < cost => {
                    damping = (damping / opts.down_on_accept).max(opts.min_damping);
                    accepted = Some((trial, c));
                    break;
                }
                _ => damping *= opts.up_on_reject,
            }
        }
        out.iterations = it + 1;
        let gain = accepted.as_ref().map(|(_, c)| cost - c);
        if let Some((t, c)) = accepted {
            theta = t;
            out.cost = c;
        }
        out.theta = theta.clone();
        let ctl = observe(&Iteration {
            iteration: it + 1,
            theta: &theta,
            cost: out.cost,
            accepted: gain.is_some(),
            damping,
        });
        let Some(gain) = gain else {
            out.converged = true;
            break;
        };
        if ctl == Control::Stop {
            out.stopped = true;
            break;
        }
        if small || gain <= opts.rel_tol * cost.abs() {
            out.converged = true;
            break;
        }
    }
    Ok(out)
}

/// `n` points of a Latin hypercube in the box `bounds` (stratified: each
/// coordinate's n strata each hold one point), from `seed`.
pub fn latin_hypercube(n: usize, bounds: &[(f64, f64)], seed: u64) -> Vec<Vec<f64>> {
    let mut state = seed;
    let mut next = || {
        state = crate::random::mix(state);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let d = bounds.len();
    let mut pts = vec![vec![0.0; d]; n];
    for (k, (lo, hi)) in bounds.iter().enumerate() {
        let mut perm: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            let j = ((next() * (i + 1) as f64) as usize).min(i);
            perm.swap(i, j);
        }
        for (i, p) in pts.iter_mut().enumerate() {
            let u = (perm[i] as f64 + next()) / n as f64;
            p[k] = lo + u * (hi - lo);
        }
    }
    pts
}

/// One start of a multi-start run.
#[derive(Debug, Clone, PartialEq)]
pub struct Start {
    /// The starting θ.
    pub theta0: Vec<f64>,
    /// The end cost (None: the start could not be evaluated).
    pub cost: Option<f64>,
    /// Iterations run from it.
    pub iterations: usize,
}

/// Runs LM from `theta0` and from `extra` Latin-hypercube points in
/// `start_box`, keeping the lowest end cost. Starts that cannot be
/// evaluated are recorded and skipped; when the given start fails, its
/// error is returned only if no other start succeeded.
pub fn multistart<P: LeastSquares>(
    problem: &P,
    theta0: &[f64],
    extra: usize,
    seed: u64,
    start_box: &[(f64, f64)],
    opts: &LmOptions,
) -> Result<(LmOutcome<P::Error>, Vec<Start>), P::Error> {
    let mut starts = vec![theta0.to_vec()];
    if extra > 0 {
        starts.extend(latin_hypercube(extra, start_box, seed));
    }
    let mut best: Option<LmOutcome<P::Error>> = None;
    let mut first_err = None;
    let mut log = Vec::new();
    for (i, s) in starts.iter().enumerate() {
        match levenberg_marquardt(problem, s, opts, |_| Control::Continue) {
            Ok(o) => {
                log.push(Start {
                    theta0: s.clone(),
                    cost: Some(o.cost),
                    iterations: o.iterations,
                });
                if best.as_ref().is_none_or(|b| o.cost < b.cost) {
                    best = Some(o);
                }
            }
            Err(e) => {
                log.push(Start {
                    theta0: s.clone(),
                    cost: None,
                    iterations: 0,
                });
                if i == 0 {
                    first_err = Some(e);
                }
            }
        }
    }
    match (best, first_err) {
        (Some(b), _) => Ok((b, log)),
        (None, Some(e)) => Err(e),
        // Unreachable: the first start either succeeded or set the error.
        (None, None) => unreachable!("multistart without a first start"), // ok: starts holds theta0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rosenbrock as residuals r = (10 (y − x²), 1 − x).
    struct Rosenbrock;
    impl LeastSquares for Rosenbrock {
        type Error = ();
        fn linearise(&self, t: &[f64]) -> Result<Linearisation, ()> {
            let r = DVector::from_vec(vec![10.0 * (t[1] - t[0] * t[0]), 1.0 - t[0]]);
            let j = DMatrix::from_row_slice(2, 2, &[-20.0 * t[0], 10.0, -1.0, 0.0]);
            Ok(Linearisation::from_jacobian(&r, &j))
        }
        fn cost(&self, t: &[f64]) -> Option<f64> {
            Some(0.5 * ((10.0 * (t[1] - t[0] * t[0])).powi(2) + (1.0 - t[0]).powi(2)))
        }
    }

    #[test]
    fn rosenbrock_minimum() {
        let o = levenberg_marquardt(
            &Rosenbrock,
            &[-1.2, 1.0],
            &LmOptions {
                max_iter: 200,
                rel_tol: 0.0,
                min_step: 1e-12,
                ..LmOptions::default()
            },
            |_| Control::Continue,
        )
        .unwrap();
        assert!((o.theta[0] - 1.0).abs() < 1e-6, "{:?}", o.theta);
        assert!((o.theta[1] - 1.0).abs() < 1e-6, "{:?}", o.theta);
    }

    #[test]
    fn bounds_hold_and_observer_stops() {
        let opts = LmOptions {
            bounds: Some(vec![(-2.0, 0.5), (-2.0, 2.0)]),
            ..LmOptions::default()
        };
        let o =
            levenberg_marquardt(&Rosenbrock, &[-1.2, 1.0], &opts, |_| Control::Continue).unwrap();
        assert!(o.theta[0] <= 0.5 + 1e-15);
        assert!((o.theta[0] - 0.5).abs() < 1e-3, "{:?}", o.theta);
        let o = levenberg_marquardt(&Rosenbrock, &[-1.2, 1.0], &opts, |it| {
            if it.iteration == 2 {
                Control::Stop
            } else {
                Control::Continue
            }
        })
        .unwrap();
        assert!(o.stopped && o.iterations == 2);
    }

    #[test]
    fn latin_hypercube_is_stratified() {
        let pts = latin_hypercube(10, &[(0.0, 1.0), (-5.0, 5.0)], 7);
        for (k, (lo, hi)) in [(0.0, 1.0), (-5.0, 5.0)].iter().enumerate() {
            let mut strata: Vec<usize> = pts
                .iter()
                .map(|p| ((p[k] - lo) / (hi - lo) * 10.0) as usize)
                .collect();
            strata.sort();
            assert_eq!(strata, (0..10).collect::<Vec<_>>());
        }
    }
}
