//! Runs a recipe on a culture model: smooth segments between events, with
//! bolus feeds, sampling, set-point shifts and continuous-feed switches
//! applied exactly at their times.
//!
//! A [`Ledger`] records the amount of every state added by feeds and removed
//! by sampling, exactly (bolus and sample amounts are products of known
//! volumes and concentrations; a continuous feed's amount is rate × duration ×
//! composition), so mass balances can be closed independently of the solver.

use nalgebra::SVector;

use super::events::{Cursor, Feeding};
use super::{Culture, StateKind};
use crate::definition::recipe::Recipe;
use crate::solver::{Method, SolverFailure, Tolerances, WorkStats, integrate_segment};

/// Numerical settings of a run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunOptions {
    /// Integration method.
    pub method: Method,
    /// Relative and absolute tolerances.
    pub tolerances: Tolerances,
    /// Output every this many seconds (plus the final time); `None`: final
    /// state only (Monte Carlo).
    pub output_interval_s: Option<f64>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            method: Method::Dopri5,
            tolerances: Tolerances::default(),
            output_interval_s: Some(3600.0),
        }
    }
}

/// Amounts (state × m³) that crossed the vessel boundary through the recipe.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ledger<const N: usize> {
    /// Amounts fed by the recipe's feeds (state × m³).
    pub fed: SVector<f64, N>,
    /// Amounts removed by samples (state × m³).
    pub sampled: SVector<f64, N>,
}

/// A finished run.
#[derive(Debug, Clone)]
pub struct Run<const N: usize> {
    /// The model's output rows at those times, row-major and flat, computed
    /// with the set-points and feeds in force when each state was reached.
    pub rows: Vec<f64>,
    /// Output times (s): 0, every output interval, and the end; empty
    /// without an output interval.
    pub times: Vec<f64>,
    /// The state (SI) at each output time.
    pub states: Vec<[f64; N]>,
    /// The state (SI) at time 0.
    pub initial: SVector<f64, N>,
    /// The state (SI) at the recipe's end.
    pub final_state: SVector<f64, N>,
    /// What the recipe fed and sampled.
    pub ledger: Ledger<N>,
    /// Work done by the integrator.
    pub stats: WorkStats,
}

/// Simulates `recipe` with `model` (whose parameters are already set); with
/// an output interval, `rows` holds the model's output columns at every
/// output time.
pub fn run<const N: usize, M: Culture<N>>(
    template: &M,
    recipe: &Recipe,
    opts: &RunOptions,
) -> Result<Run<N>, SolverFailure> {
    let n_cols = template.output_columns().len();
    let n_rows = match opts.output_interval_s {
        Some(dt) if dt > 0.0 => (recipe.duration_s / dt).ceil() as usize + 2,
        Some(_) => 1,
        None => 0,
    };
    let mut rows: Vec<f64> = Vec::with_capacity(n_rows * n_cols);
    let mut r = run_observed(template, recipe, opts, |m: &M, times, states| {
        for (&t, y) in times.iter().zip(states) {
            m.append_outputs(t, &SVector::from(*y), &mut rows);
        }
    })?;
    r.rows = rows;
    Ok(r)
}

/// As [`run`] without the rows (`rows` stays empty): the states at the
/// output times are in `times` and `states`. Each stretch of output states
/// also goes to `observe`, with the model as configured when they were
/// reached, as soon as its segment is done (that is how [`run`] builds its
/// rows). The states alone are what a solver comparison needs (SciPy's
/// reference returns states only).
pub fn run_observed<const N: usize, M: Culture<N>>(
    template: &M,
    recipe: &Recipe,
    opts: &RunOptions,
    observe: impl FnMut(&M, &[f64], &[[f64; N]]),
) -> Result<Run<N>, SolverFailure> {
    let times = output_times(recipe, opts)?;
    run_observed_at(template, recipe, opts, times, observe)
}

/// The output times of a run of `recipe` (s): 0, every output interval,
/// and the end; only 0 for an interval ≤ 0; none without one.
pub fn output_times(recipe: &Recipe, opts: &RunOptions) -> Result<Vec<f64>, SolverFailure> {
    let end = recipe.duration_s;
    Ok(match opts.output_interval_s {
        Some(dt) if dt > 0.0 => {
            // A u32 count: `k as f64` from a u32 is one instruction (from a
            // usize it is several, without AVX-512), and no grid that large
            // (2^32 rows) could be held anyway.
            let n = u32::try_from((end / dt).floor() as u64).map_err(|_| SolverFailure {
                time_s: 0.0,
                message: format!("more than 2^32 output times ({dt} s apart)"),
                state: String::new(),
            })?;
            let mut g = Vec::with_capacity(n as usize + 2);
            g.extend((0..=n).map(|k| f64::from(k) * dt));
            if end - g[n as usize] > 1e-9 * end {
                g.push(end);
            }
            g
        }
        Some(_) => vec![0.0],
        None => Vec::new(),
    })
}

/// As [`run_observed`], with the states written at `times` (s, sorted,
/// within [0, duration]) instead of the options' output grid: a caller that
/// needs a few of the grid's times (a fit's sample times) asks for those.
/// With [`Method::Dopri5`](crate::solver::Method) integration does not
/// depend on the output times (the steps are the same, and the continuous
/// extension at a time depends only on the step that holds it), so a state
/// written here is bit-identical to the one [`run_observed`] writes at the
/// same time; `Dop853` integrates from output time to output time, so its
/// states differ within its tolerance. Times at or before 0 take the
/// initial state; a time at an event takes the state before the event.
pub fn run_observed_at<const N: usize, M: Culture<N>>(
    template: &M,
    recipe: &Recipe,
    opts: &RunOptions,
    times: Vec<f64>,
    mut observe: impl FnMut(&M, &[f64], &[[f64; N]]),
) -> Result<Run<N>, SolverFailure> {
    // The contract, checked in release builds too: a caller indexing
    // `states[k]` by `times[k]` must never find fewer states than times.
    if let Some(k) = (0..times.len()).find(|&k| {
        !times[k].is_finite()
            || times[k] > recipe.duration_s * (1.0 + 1e-9)
            || (k > 0 && times[k] < times[k - 1])
    }) {
        return Err(SolverFailure {
            time_s: 0.0,
            message: format!(
                "output time {k} = {} s: finite, sorted output times within [0, {} s] expected",
                times[k], recipe.duration_s
            ),
            state: String::new(),
        });
    }
    let mut model = template.clone();
    let kinds = model.kinds();
    let y0 = model
        .initial_state(&recipe.initial, recipe.initial_volume_m3)
        .map_err(|e| SolverFailure {
            time_s: 0.0,
            message: e.to_string(),
            state: String::new(),
        })?;
    let fail = |t: f64, m: String| SolverFailure {
        time_s: t,
        message: m,
        state: String::new(),
    };
    let feeding = Feeding::new(&model, recipe).map_err(|e| fail(0.0, e.to_string()))?;
    let mut cursor = Cursor::start(recipe);
    let mut inflow = (0.0, SVector::<f64, N>::zeros());
    model
        .set_setpoints(&cursor.setpoints)
        .map_err(|e| fail(0.0, e.to_string()))?;
    model.set_inflow(0.0, &inflow.1);

    let end = recipe.duration_s;
    // Times at or before 0 take y0 here (the solver outputs only times
    // after a segment's start).
    let mut states = Vec::with_capacity(times.len());
    let at_start = times.partition_point(|&t| t <= 0.0);
    if at_start > 0 {
        states.resize(at_start, y0.into());
        observe(&model, &times[..at_start], &states);
    }
    let mut ledger = Ledger {
        fed: SVector::zeros(),
        sampled: SVector::zeros(),
    };
    let mut stats = WorkStats::default();
    let mut step = 0.0;
    let mut observed = states.len();
    let mut y = y0;
    let mut t = 0.0;
    let mut i = 0;
    let events = &recipe.events;
    loop {
        let t_next = events.get(i).map(|e| e.time_s.min(end)).unwrap_or(end);
        model.begin_segment(&y);
        y = integrate_segment(
            &model,
            opts.method,
            &opts.tolerances,
            t,
            t_next,
            &y,
            &times,
            Some(&mut states),
            &mut stats,
            &mut step,
        )?;
        // The output states this segment reached, observed with its
        // set-points and feeds (the model changes only at the events below).
        if states.len() > observed {
            observe(&model, &times[observed..states.len()], &states[observed..]);
            observed = states.len();
        }
        // Continuous inflow over the segment, exactly.
        if inflow.0 > 0.0 {
            let dv = inflow.0 * (t_next - t);
            for k in 0..N {
                ledger.fed[k] += match kinds[k] {
                    StateKind::Concentration => inflow.1[k] * dv,
                    StateKind::Volume => dv,
                    StateKind::Amount => 0.0,
                };
            }
        }
        t = t_next;
        if t >= end {
            break;
        }
        // Apply every event at this time, in recipe order.
        let mut inflow_changed = false;
        while let Some(e) = events.get(i).filter(|e| e.time_s <= t) {
            inflow_changed |= feeding
                .apply(
                    recipe,
                    &e.kind,
                    &mut model,
                    &mut cursor,
                    &mut y,
                    Some(&mut ledger),
                )
                .map_err(|e| fail(t, e.to_string()))?;
            i += 1;
        }
        if inflow_changed {
            inflow = feeding.inflow(recipe, cursor.feed_on);
            model.set_inflow(inflow.0, &inflow.1);
        }
    }
    debug_assert_eq!(states.len(), times.len(), "every output time reached");
    Ok(Run {
        rows: Vec::new(),
        times,
        states,
        initial: y0,
        final_state: y,
        ledger,
        stats,
    })
}
