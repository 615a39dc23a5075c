//! ODE integration between recipe events.
//!
//! The upstream models are non-stiff (dissolved gases are quasi-steady, see
//! `bioreactor::gas_transfer`), so explicit embedded Runge–Kutta methods from
//! the `ode_solvers` crate are used: Dopri5 (order 5(4)) and Dop853 (8(5,3)).
//!
//! * **Piecewise integration.** A simulation is a sequence of smooth segments
//!   between recipe events (bolus feeds, sampling, set-point shifts, feed
//!   starts). Each segment is integrated on its own, so discontinuities fall
//!   exactly on segment boundaries instead of being stepped over.
//! * **Scaled tolerances.** States span many orders of magnitude in SI (10¹³
//!   cells/m³ next to 10⁻³ m³), so `atol` is relative to a per-state nominal
//!   scale `s` supplied by the model and means the same thing for every
//!   state: Dopri5 uses the absolute tolerance `atol·s` per component;
//!   `ode_solvers` (Dop853) takes one scalar, so it integrates `z = y / s`.
//! * **Output on a global grid.** Dopri5's continuous extension is evaluated
//!   at the output times inside each step; Dop853, which has no such model
//!   in the crate, integrates up to each grid point.
//! * **Failures are errors.** Solver failures, non-finite values and
//!   concentrations below `−negative_tolerance·scale` are reported with the
//!   time and the full state.

use nalgebra::SVector;
use ode_solvers::{Dop853, OutputType, System};

pub mod dopri5;
pub mod etdrk4;

/// Which explicit method integrates the segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Dormand–Prince 5(4), adaptive step.
    Dopri5,
    /// Dormand–Prince 8(5,3), adaptive step.
    Dop853,
}

/// Error control and safety limits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerances {
    /// Relative tolerance.
    pub rtol: f64,
    /// Absolute tolerance on the scaled state (1 = the state's nominal scale).
    pub atol: f64,
    /// A non-negative state below `−negative_tolerance · scale` is an error.
    pub negative_tolerance: f64,
    /// Maximum number of steps per segment.
    pub max_steps: u32,
}

impl Default for Tolerances {
    fn default() -> Self {
        Tolerances {
            rtol: 1e-6,
            atol: 1e-9,
            negative_tolerance: 1e-6,
            max_steps: 200_000,
        }
    }
}

/// A system of N ODEs in SI units.
///
/// `rhs` must not allocate: it is called millions of times in Monte Carlo.
pub trait OdeSystem<const N: usize> {
    /// dy/dt at time `t_s` (seconds).
    fn rhs(&self, t_s: f64, y: &SVector<f64, N>, dy: &mut SVector<f64, N>);
    /// Nominal magnitude of each state, used to scale error control.
    fn scales(&self) -> SVector<f64, N>;
    /// Whether each state must stay non-negative.
    fn non_negative(&self) -> [bool; N];
    /// Names used in error messages.
    fn state_names(&self) -> [&'static str; N];
    /// How many leading states the step-size control sees (all by
    /// default; a system with forward sensitivities appended returns the
    /// model's own states, Dopri5 only).
    fn error_components(&self) -> usize {
        N
    }
}

/// What went wrong, where.
#[derive(Debug, Clone, PartialEq)]
pub struct SolverFailure {
    /// Time of the failure, s.
    pub time_s: f64,
    /// What failed.
    pub message: String,
    /// The state at the failure, as text naming each component.
    pub state: String,
}

impl From<SolverFailure> for crate::error::Error {
    fn from(f: SolverFailure) -> Self {
        crate::error::Error::Numerical {
            time_h: f.time_s / 3600.0,
            message: f.message,
            state: f.state,
        }
    }
}

/// Work counters summed over segments.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct WorkStats {
    /// Right-hand-side evaluations.
    pub rhs_evaluations: u64,
    /// Steps accepted.
    pub accepted_steps: u64,
    /// Steps rejected by the error control.
    pub rejected_steps: u64,
    /// Integration segments (between recipe events).
    pub segments: u64,
}

/// Adapter handed to `ode_solvers`: integrates `z = y ∘ inv_scale` and, at
/// every accepted step (the `solout` hook), checks the state.
struct Scaled<'a, 'f, const N: usize, S: OdeSystem<N>> {
    sys: &'a S,
    scale: SVector<f64, N>,
    inv_scale: SVector<f64, N>,
    negative_tolerance: f64,
    /// Where a failed check is reported: the solver owns the adapter and
    /// does not hand it back, so the slot lives with the caller.
    failure: &'f mut Option<SolverFailure>,
}

impl<const N: usize, S: OdeSystem<N>> System<f64, SVector<f64, N>> for Scaled<'_, '_, N, S> {
    #[inline]
    fn system(&self, t: f64, z: &SVector<f64, N>, dz: &mut SVector<f64, N>) {
        let y = z.component_mul(&self.scale);
        self.sys.rhs(t, &y, dz);
        dz.component_mul_assign(&self.inv_scale);
    }

    /// Returning `true` stops the integration at this step.
    fn solout(&mut self, x: f64, z: &SVector<f64, N>, _dz: &SVector<f64, N>) -> bool {
        let y = z.component_mul(&self.scale);
        match check_state(self.sys, x, &y, self.negative_tolerance) {
            Ok(()) => false,
            Err(f) => {
                *self.failure = Some(f);
                true
            }
        }
    }
}

/// Integrates one smooth segment from `t0` to `t1`, pushing y(t) for every
/// `grid` time t in `(t0, t1]`, in order, onto `out`, and returns `y(t1)`.
/// Pushed, not passed to a callback: each dense-output point goes straight
/// to where it stays.
///
/// Output between steps uses each method's own dense output (order 4 for
/// Dopri5): a cheaper cubic Hermite interpolant was tried and lost accuracy
/// beyond the integration tolerance on hourly grids.
///
/// `step`: initial step guess (0 = let the solver estimate it); on return,
/// the mean accepted step of this segment. A recipe splits a batch into many
/// segments; re-estimating the step and ramping up from a tiny one at every
/// feed costs evaluations.
#[allow(clippy::too_many_arguments)]
pub fn integrate_segment<const N: usize, S: OdeSystem<N>>(
    sys: &S,
    method: Method,
    tol: &Tolerances,
    t0: f64,
    t1: f64,
    y0: &SVector<f64, N>,
    grid: &[f64],
    out: Option<&mut Vec<[f64; N]>>,
    stats: &mut WorkStats,
    step: &mut f64,
) -> Result<SVector<f64, N>, SolverFailure> {
    if t1 <= t0 {
        return Ok(*y0);
    }
    let scale = sys.scales();
    let inv_scale = scale.map(|s| 1.0 / s);
    let z0 = y0.component_mul(&inv_scale);
    // Output times in (t0, t1]: `grid` is sorted, so this is a sub-slice.
    let inside = &grid[grid.partition_point(|&g| g <= t0)..grid.partition_point(|&g| g <= t1)];
    let mut no_output = Vec::new();
    let (out, record) = match out {
        Some(o) if !inside.is_empty() => (o, true),
        _ => (&mut no_output, false),
    };
    let h0 = if *step > 0.0 { step.min(t1 - t0) } else { 0.0 };
    let accepted_before = stats.accepted_steps;
    stats.segments += 1;
    let mut failed = None;
    let z1 = match method {
        Method::Dopri5 => {
            // Our own Dopri5 (see `dopri5`): state in SI with per-component
            // absolute tolerance atol·scale, identical error control.
            let settings = dopri5::Settings {
                rtol: tol.rtol,
                atol: scale * tol.atol,
                max_steps: tol.max_steps,
                controlled: sys.error_components(),
            };
            let mut rhs = |t: f64, y: &SVector<f64, N>, dy: &mut SVector<f64, N>| sys.rhs(t, y, dy);
            let mut check =
                |t: f64, y: &SVector<f64, N>| check_state(sys, t, y, tol.negative_tolerance);
            let r = dopri5::integrate(
                &mut rhs,
                t0,
                t1,
                y0,
                h0,
                &settings,
                if record { inside } else { &[] },
                out,
                &mut check,
            );
            match r {
                Ok((y1, c)) => {
                    stats.rhs_evaluations += c.rhs_evaluations;
                    stats.accepted_steps += c.accepted_steps;
                    stats.rejected_steps += c.rejected_steps;
                    y1.component_mul(&inv_scale)
                }
                Err(dopri5::Stop::Rejected(f)) => return Err(f),
                Err(dopri5::Stop::MaxSteps { t, steps }) => {
                    return Err(SolverFailure {
                        time_s: t,
                        message: format!(
                            "more than {steps} steps needed (segment started at t = {:.4} h)",
                            t0 / 3600.0
                        ),
                        state: describe_state(sys, y0),
                    });
                }
                Err(dopri5::Stop::StepUnderflow { t }) => {
                    return Err(SolverFailure {
                        time_s: t,
                        message: format!(
                            "step size underflow (segment started at t = {:.4} h)",
                            t0 / 3600.0
                        ),
                        state: describe_state(sys, y0),
                    });
                }
            }
        }
        Method::Dop853 => {
            // Dop853 in ode_solvers has no continuous-output model: integrate
            // grid point to grid point so every output time is a piece end.
            let mut ends: Vec<f64> = if record { inside.to_vec() } else { Vec::new() };
            if ends.last().copied() != Some(t1) {
                ends.push(t1);
            }
            let (mut ta, mut z) = (t0, z0);
            for (k, tb) in ends.into_iter().enumerate() {
                let scaled = Scaled {
                    sys,
                    scale,
                    inv_scale,
                    negative_tolerance: tol.negative_tolerance,
                    failure: &mut failed,
                };
                let mut solver = Dop853::new(scaled, ta, tb, tb - ta, z, tol.rtol, tol.atol);
                solver.set_output(OutputType::Sparse);
                let r = solver.integrate();
                z = solver.y_out().last().copied().unwrap_or(z);
                add(
                    stats,
                    r.map_err(|e| failure(sys, ta, &z.component_mul(&scale), e))?,
                );
                if failed.is_some() {
                    break;
                }
                // The first `inside.len()` ends are the grid times.
                if record && k < inside.len() {
                    out.push(z.component_mul(&scale).into());
                }
                ta = tb;
            }
            z
        }
    };
    if let Some(f) = failed {
        return Err(f);
    }
    let y1 = z1.component_mul(&scale);
    check_state(sys, t1, &y1, tol.negative_tolerance)?;
    let accepted = stats.accepted_steps - accepted_before;
    if accepted > 0 {
        *step = (t1 - t0) / accepted as f64;
    }
    Ok(y1)
}

fn add(stats: &mut WorkStats, st: ode_solvers::dop_shared::Stats) {
    stats.rhs_evaluations += st.num_eval as u64;
    stats.accepted_steps += st.accepted_steps as u64;
    stats.rejected_steps += st.rejected_steps as u64;
}

fn failure<const N: usize, S: OdeSystem<N>>(
    sys: &S,
    t_start: f64,
    y_start: &SVector<f64, N>,
    e: ode_solvers::dop_shared::IntegrationError,
) -> SolverFailure {
    use ode_solvers::dop_shared::IntegrationError as E;
    let (time_s, message) = match e {
        E::MaxNumStepReached { x, n_step } => (x, format!("more than {n_step} steps needed")),
        E::StepSizeUnderflow { x } => (x, "step size underflow".to_string()),
        E::StiffnessDetected { x } => (x, "the problem became stiff".to_string()),
    };
    SolverFailure {
        time_s,
        message: format!(
            "{message} (segment started at t = {:.4} h)",
            t_start / 3600.0
        ),
        state: describe_state(sys, y_start),
    }
}

/// Rejects non-finite values and non-negative states gone negative.
#[inline(always)]
pub fn check_state<const N: usize, S: OdeSystem<N>>(
    sys: &S,
    t: f64,
    y: &SVector<f64, N>,
    negative_tolerance: f64,
) -> Result<(), SolverFailure> {
    // Fast path: one pass, no per-state lookups. A finite sum means every
    // value is finite; details are worked out only when something is off.
    // States beyond `error_components` (appended sensitivities) are never
    // sign-constrained, so only the leading ones enter the minimum.
    let nc = sys.error_components();
    let (mut sum, mut min) = (0.0, f64::INFINITY);
    for (i, &v) in y.iter().enumerate() {
        sum += v;
        if i < nc {
            min = min.min(v);
        }
    }
    if sum.is_finite() && min >= 0.0 {
        return Ok(());
    }
    let scale = sys.scales();
    let nonneg = sys.non_negative();
    let names = sys.state_names();
    for i in 0..N {
        let v = y[i];
        let bad = if !v.is_finite() {
            Some(format!("{} is not finite ({v})", names[i]))
        } else if nonneg[i] && v < -negative_tolerance * scale[i] {
            Some(format!(
                "{} became negative ({v:.6e} SI) beyond tolerance",
                names[i]
            ))
        } else {
            None
        };
        if let Some(message) = bad {
            return Err(SolverFailure {
                time_s: t,
                message,
                state: describe_state(sys, y),
            });
        }
    }
    Ok(())
}

/// `name=value` pairs (SI) for error messages.
pub fn describe_state<const N: usize, S: OdeSystem<N>>(sys: &S, y: &SVector<f64, N>) -> String {
    sys.state_names()
        .iter()
        .zip(y.iter())
        .map(|(n, v)| format!("{n}={v:.6e}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// dy/dt = -k y, plus a second state growing linearly.
    struct Decay {
        k: f64,
    }
    impl OdeSystem<2> for Decay {
        fn rhs(&self, _t: f64, y: &SVector<f64, 2>, dy: &mut SVector<f64, 2>) {
            dy[0] = -self.k * y[0];
            dy[1] = 1e6;
        }
        fn scales(&self) -> SVector<f64, 2> {
            SVector::from([1e-3, 1e9])
        }
        fn non_negative(&self) -> [bool; 2] {
            [true, false]
        }
        fn state_names(&self) -> [&'static str; 2] {
            ["a", "b"]
        }
    }

    #[test]
    fn matches_exponential_decay_on_the_grid_with_both_methods() {
        let sys = Decay { k: 1e-4 };
        let y0 = SVector::from([2e-3, 0.0]);
        let tol = Tolerances {
            rtol: 1e-10,
            atol: 1e-12,
            ..Default::default()
        };
        let grid: Vec<f64> = (1..=10).map(|i| i as f64 * 3600.0).collect();
        for method in [Method::Dopri5, Method::Dop853] {
            let mut out = Vec::new();
            let mut st = WorkStats::default();
            let y1 = integrate_segment(
                &sys,
                method,
                &tol,
                0.0,
                36000.0 + 100.0,
                &y0,
                &grid,
                Some(&mut out),
                &mut st,
                &mut 0.0,
            )
            .unwrap();
            assert_eq!(out.len(), 10);
            for (t, y) in grid.iter().zip(&out) {
                let exact = 2e-3 * (-1e-4 * t).exp();
                assert!(
                    (y[0] - exact).abs() < 1e-9 * exact,
                    "{method:?} t={t} {} vs {exact}",
                    y[0]
                );
                assert!((y[1] - 1e6 * t).abs() < 1e-6 * 1e6 * t);
            }
            let exact = 2e-3 * (-1e-4 * 36100.0f64).exp();
            assert!((y1[0] - exact).abs() < 1e-9 * exact);
        }
    }

    #[test]
    fn negative_state_is_an_error_naming_it() {
        let sys = Decay { k: 1e-4 };
        let y = SVector::from([-1.0, 0.0]);
        let e = check_state(&sys, 7200.0, &y, 1e-6).unwrap_err();
        assert!(e.message.contains("a became negative"), "{}", e.message);
        assert_eq!(e.time_s, 7200.0);
    }
}
