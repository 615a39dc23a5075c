//! Maximum-likelihood estimation of process-model parameters from whole
//! batch records (`biotwin fit`, `docs/fit.md`).
//!
//! Each batch b is its own scenario (its recipe and recorded conditions);
//! the fitted parameters are addresses (`model.mu_max`, …) set to the same
//! value in every batch. With θ the transformed parameters (ln p for
//! positive quantities, p itself otherwise) and Gaussian measurement errors
//! of SD σ_v per observed variable v:
//!
//! −2 ℓ(θ, σ) = Σ_v [ n_v ln(2π σ_v²) + Σ_{i∈v} (ŷ_i(θ) − y_i)² / σ_v² ].
//!
//! For fixed σ this is least squares in the standardised residuals
//! r_i = (ŷ_i − y_i)/σ_v, minimised by the one Levenberg–Marquardt solver
//! (`fit::lm`); for fixed θ the maximum over σ is σ_v² = SSR_v / n_v. The
//! estimator alternates the two until σ settles (declared σ: one pass).
//!
//! The Jacobian ∂r/∂θ: for `model.*` parameters, exact forward
//! sensitivities — the augmented system [y; ∂y/∂θ_k] integrated by the
//! same event-driven simulator, its right-hand side the model's own
//! equations evaluated on dual numbers, up to 8 tangents in one run that
//! takes the plain run's steps: `serial::run_with_sensitivities` for
//! `xing2010`, `platform::sensitivity` for `cho_platform`.
//! Non-`model.*` addresses (recipe, equipment): forward differences of the
//! simulated output, step 1e-4 in θ; the result says which was used.

use super::CalibrationError;
use nalgebra::{DMatrix, DVector};
use rayon::prelude::*;

use crate::surrogates::hybrid::serial::{
    Direction, NP as XING_NP, NS as XING_NS, run_with_sensitivities as xing_sensitivities,
};
use biotwin_core::bioreactor::platform::sensitivity::{SensitivityTable, run_with_sensitivities};
use biotwin_core::bioreactor::simulate::output_times;
use biotwin_core::fit::lm::{LeastSquares, Linearisation};
use biotwin_core::simulation::AnyModel;
use biotwin_core::simulation::address::Address;
use biotwin_core::simulation::{Family, Scenario};
use biotwin_core::solver::Method;

/// Molar masses that convert the xing2010 model's mM into the g/L of a
/// dataset (glucose C6H12O6, lactate as lactic acid C3H6O3).
const MW_GLUCOSE: f64 = 0.180_156;
const MW_LACTATE: f64 = 0.090_078;

/// How a parameter is estimated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transform {
    /// θ = ln p (positive quantities).
    Ln,
    /// θ = p.
    Identity,
}

impl Transform {
    /// θ of the value `p` (user unit).
    pub fn to_theta(self, p: f64) -> f64 {
        match self {
            Transform::Ln => p.ln(),
            Transform::Identity => p,
        }
    }
    /// The value (user unit) of `t` in θ.
    pub fn to_value(self, t: f64) -> f64 {
        match self {
            Transform::Ln => t.exp(),
            Transform::Identity => t,
        }
    }
    /// Name in the calibrated model file (`biotwin.calibration/1`).
    pub fn name(self) -> &'static str {
        match self {
            Transform::Ln => "ln",
            Transform::Identity => "identity",
        }
    }
}

/// A fitted parameter: an address and its value range (user unit).
#[derive(Debug, Clone)]
pub struct Parameter {
    /// The parameter's address in the scenario (`model.mu_max`, ...).
    pub address: String,
    /// The model parameter's name for `model.*` addresses.
    pub model_name: Option<String>,
    /// User unit of `initial`, `lower` and `upper`.
    pub unit: String,
    /// How it is estimated.
    pub transform: Transform,
    /// Starting value (the process's value).
    pub initial: f64,
    /// Lower bound, user unit.
    pub lower: f64,
    /// Upper bound, user unit.
    pub upper: f64,
}

impl Parameter {
    /// Bounds in θ.
    pub fn theta_bounds(&self) -> (f64, f64) {
        (
            self.transform.to_theta(self.lower),
            self.transform.to_theta(self.upper),
        )
    }
}

/// An observed variable of the dataset and the simulated column it is
/// compared with.
#[derive(Debug, Clone, PartialEq)]
pub struct Observable {
    /// Dataset variable (SI unit of the dataset).
    pub variable: String,
    /// Simulated output column it is compared with.
    pub column: String,
    /// Column value × to_si = dataset value.
    pub to_si: f64,
    /// For the exact path: the xing2010 state function.
    state: Option<StateFn>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum StateFn {
    /// y[k] × factor.
    Linear(usize, f64),
    /// Xv / (Xv + Xd).
    Viability,
}

impl StateFn {
    /// The states it reads.
    fn states(self) -> Vec<usize> {
        match self {
            StateFn::Linear(k, _) => vec![k],
            StateFn::Viability => vec![0, 1],
        }
    }

    /// Value and its derivative along the tangent `s`.
    fn eval(self, y: &[f64], s: &[f64]) -> (f64, f64) {
        match self {
            StateFn::Linear(k, f) => (y[k] * f, s[k] * f),
            StateFn::Viability => {
                let t = y[0] + y[1];
                (y[0] / t, (s[0] * y[1] - y[0] * s[1]) / (t * t))
            }
        }
    }
}

/// The variables `biotwin fit` can compare for a family: (dataset variable,
/// output column, factor to the dataset's SI unit).
pub fn observables(family: Family) -> Vec<Observable> {
    let o = |v: &str, c: &str, f: f64, s: Option<StateFn>| Observable {
        variable: v.into(),
        column: c.into(),
        to_si: f,
        state: s,
    };
    match family {
        Family::Xing2010 => vec![
            o(
                "viable_cells",
                "xv_1e6_cells_per_ml",
                1e12,
                Some(StateFn::Linear(0, 1.0)),
            ),
            o(
                "dead_cells",
                "xd_1e6_cells_per_ml",
                1e12,
                Some(StateFn::Linear(1, 1.0)),
            ),
            o("viability", "viability_pct", 0.01, Some(StateFn::Viability)),
            o(
                "glucose",
                "glucose_mm",
                MW_GLUCOSE,
                Some(StateFn::Linear(2, MW_GLUCOSE)),
            ),
            o(
                "glutamine",
                "glutamine_mm",
                1.0,
                Some(StateFn::Linear(3, 1.0)),
            ),
            o(
                "lactate",
                "lactate_mm",
                MW_LACTATE,
                Some(StateFn::Linear(4, MW_LACTATE)),
            ),
            o(
                "ammonium",
                "ammonium_mm",
                1.0,
                Some(StateFn::Linear(5, 1.0)),
            ),
            o("titer", "titer_g_per_l", 1.0, Some(StateFn::Linear(6, 1.0))),
        ],
        Family::ChoPlatform => vec![
            o("viable_cells", "xv_1e6_cells_per_ml", 1e12, None),
            o("dead_cells", "xd_1e6_cells_per_ml", 1e12, None),
            o("viability", "viability_pct", 0.01, None),
            o("glucose", "glucose_g_per_l", 1.0, None),
            o("glutamine", "glutamine_mm", 1.0, None),
            o("lactate", "lactate_g_per_l", 1.0, None),
            o("ammonium", "ammonium_mm", 1.0, None),
            o("titer", "titer_g_per_l", 1.0, None),
            o("osmolality", "osmolality_mosm_per_kg", 1e-3, None),
            o("pco2", "pco2_mmhg", 133.322_387_415, None),
            // End-of-batch quality attributes (a dataset's CQAs, compared
            // at the end of the batch).
            o("galactosylated", "galactosylated_pct", 0.01, None),
            o("afucosylated", "afucosylated_pct", 0.01, None),
            o("high_mannose", "high_mannose_pct", 0.01, None),
            o("acidic_variants", "acidic_variants_pct", 0.01, None),
            o("hmw", "hmw_pct", 0.01, None),
        ],
    }
}

/// One measurement.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Index into the problem's observables.
    pub variable: usize,
    /// Sample time, h of batch time.
    pub time_h: f64,
    /// Dataset SI unit.
    pub value: f64,
}

/// One batch: its scenario (recipe and conditions) and its measurements.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Batch id.
    pub id: String,
    /// The batch's scenario (its recipe and conditions).
    pub scenario: Scenario,
    /// Its measurements.
    pub samples: Vec<Sample>,
}

/// The estimation problem at a fixed σ.
pub struct Problem {
    /// The fitted parameters.
    pub parameters: Vec<Parameter>,
    /// The observed variables.
    pub observed: Vec<Observable>,
    /// The batches fitted.
    pub batches: Vec<Batch>,
    /// Each parameter's address in each batch's scenario.
    addresses: Vec<Vec<Address>>,
    /// σ_v, dataset SI unit.
    pub sd: Vec<f64>,
    /// Exact sensitivities (`model.*` parameters only).
    pub exact: bool,
    /// Parameters held at these θ (index, value) while profiling.
    pub fixed: Vec<(usize, f64)>,
    /// Model-parameter index of each parameter (exact path).
    model_index: Vec<usize>,
}

/// Forward-difference step in θ (non-exact path).
pub const FD_STEP: f64 = 1e-4;

/// Linear interpolation of (t, y) at `at`, clamped to the ends.
fn interp(t: &[f64], y: &[f64], at: f64) -> f64 {
    let n = t.len();
    if n == 0 {
        return f64::NAN;
    }
    if at <= t[0] {
        return y[0];
    }
    if at >= t[n - 1] {
        return y[n - 1];
    }
    let i = t.partition_point(|&x| x <= at).max(1);
    let w = (at - t[i - 1]) / (t[i] - t[i - 1]);
    y[i - 1] + w * (y[i] - y[i - 1])
}

/// Grid rows (i0, i1) and a weight w ([`bracket`]).
type Bracket = (usize, usize, f64);

/// The grid rows (i0, i1) and weight w with which [`interp`] gives its
/// value at `at`: y[i0] when i0 = i1 (outside the grid), else
/// y[i0] + w (y[i1] − y[i0]). `None` for an empty grid.
fn bracket(t: &[f64], at: f64) -> Option<Bracket> {
    let n = t.len();
    if n == 0 {
        return None;
    }
    if at <= t[0] {
        return Some((0, 0, 0.0));
    }
    if at >= t[n - 1] {
        return Some((n - 1, n - 1, 0.0));
    }
    let i = t.partition_point(|&x| x <= at).max(1);
    Some((i - 1, i, (at - t[i - 1]) / (t[i] - t[i - 1])))
}

impl Problem {
    /// Sets up the problem; `addresses[j][b]` is parameter j's address in
    /// batch b (parsed by the caller, who reports unknown ones).
    pub fn new(
        parameters: Vec<Parameter>,
        observed: Vec<Observable>,
        batches: Vec<Batch>,
        addresses: Vec<Vec<Address>>,
        sd: Vec<f64>,
    ) -> Problem {
        let family = batches.first().map(|b| b.scenario.family);
        let model_index: Vec<usize> = addresses
            .iter()
            .filter_map(|a| match a.first() {
                Some(Address::ModelParam { index, .. }) => Some(*index),
                _ => None,
            })
            .collect();
        let all_model = model_index.len() == parameters.len();
        let exact = match family {
            Some(Family::Xing2010) => all_model && observed.iter().all(|o| o.state.is_some()),
            Some(Family::ChoPlatform) => {
                all_model
                    && observed
                        .iter()
                        .all(|o| SensitivityTable::column(&o.column).is_some())
            }
            None => false,
        };
        Problem {
            parameters,
            observed,
            batches,
            addresses,
            sd,
            exact,
            fixed: Vec::new(),
            model_index,
        }
    }

    /// Number of fitted parameters.
    pub fn n_params(&self) -> usize {
        self.parameters.len()
    }

    /// Number of observations.
    pub fn n_observations(&self) -> usize {
        self.batches.iter().map(|b| b.samples.len()).sum()
    }

    /// θ with the profiled parameters held.
    fn held(&self, theta: &[f64]) -> Vec<f64> {
        let mut t = theta.to_vec();
        for &(j, v) in &self.fixed {
            t[j] = v;
        }
        t
    }

    /// The batch's scenario at θ.
    pub fn scenario_at(&self, b: usize, theta: &[f64]) -> Scenario {
        let mut s = self.batches[b].scenario.clone();
        for (j, p) in self.parameters.iter().enumerate() {
            s.set(&self.addresses[j][b], p.transform.to_value(theta[j]));
        }
        s
    }

    /// Simulated values at the batch's samples (dataset SI), and the
    /// recorded outcome.
    pub fn predict(
        &self,
        b: usize,
        theta: &[f64],
    ) -> Result<(Vec<f64>, biotwin_core::simulation::Outcome), CalibrationError> {
        let s = self.scenario_at(b, theta);
        let out = s
            .simulate(true)
            .map_err(|e| format!("batch {}: {e}", self.batches[b].id))?;
        let vals = self.values_at(&out, &self.batches[b].samples)?;
        Ok((vals, out))
    }

    /// Values of the observed variables at `samples` in an outcome.
    pub fn values_at(
        &self,
        out: &biotwin_core::simulation::Outcome,
        samples: &[Sample],
    ) -> Result<Vec<f64>, CalibrationError> {
        let t = out.column("time_h").ok_or("a model with a time_h column")?;
        let mut cols = Vec::new();
        for o in &self.observed {
            cols.push(
                out.column(&o.column)
                    .ok_or_else(|| format!("an output column `{}`", o.column))?,
            );
        }
        Ok(samples
            .iter()
            .map(|s| interp(&t, &cols[s.variable], s.time_h) * self.observed[s.variable].to_si)
            .collect())
    }

    /// Standardised residuals of batch b.
    fn batch_residuals(&self, b: usize, theta: &[f64]) -> Result<Vec<f64>, CalibrationError> {
        let (v, _) = self.predict(b, theta)?;
        let r: Vec<f64> = self.batches[b]
            .samples
            .iter()
            .zip(&v)
            .map(|(s, y)| (y - s.value) / self.sd[s.variable])
            .collect();
        if r.iter().all(|x| x.is_finite()) {
            Ok(r)
        } else {
            Err(CalibrationError::from(format!(
                "batch {}: a non-finite simulated value",
                self.batches[b].id
            )))
        }
    }

    /// All standardised residuals (batch order).
    pub fn residuals(&self, theta: &[f64]) -> Result<Vec<f64>, CalibrationError> {
        let theta = self.held(theta);
        let parts: Vec<Result<Vec<f64>, CalibrationError>> = (0..self.batches.len())
            .into_par_iter()
            .map(|b| self.batch_residuals(b, &theta))
            .collect();
        let mut r = Vec::new();
        for p in parts {
            r.extend(p?);
        }
        Ok(r)
    }

    /// Residuals and ∂r/∂θ_j (j in `free`) of batch b by exact forward
    /// sensitivities of the xing2010 model: one augmented run carries up to
    /// 8 parameters (`serial::run_with_sensitivities`), with tangents only
    /// on the states the observed variables read or that feed back, and
    /// output only at the times of the plain run's grid that the samples'
    /// interpolation reads (with Dopri5 the states there are bit-identical
    /// to the plain run's grid, so the values are the same numbers as the
    /// full-grid run gives; the plain run writes every grid row).
    fn batch_exact(
        &self,
        b: usize,
        theta: &[f64],
        free: &[usize],
    ) -> Result<(Vec<f64>, Vec<Vec<f64>>), String> {
        let batch = &self.batches[b];
        let s = self.scenario_at(b, theta);
        let mut p = [0.0; XING_NP];
        p.copy_from_slice(&s.params_si[..XING_NP]);
        let directions: Vec<Direction> = free
            .iter()
            .map(|&j| Direction::LnParam(self.model_index[j]))
            .collect();
        let fns: Vec<StateFn> = self
            .observed
            .iter()
            .map(|o| o.state.ok_or("a state observable"))
            .collect::<Result<_, _>>()?;
        let mut read: Vec<usize> = fns.iter().flat_map(|f| f.states()).collect();
        read.sort_unstable();
        read.dedup();
        let failed = |f: biotwin_core::solver::SolverFailure| {
            format!(
                "batch {}: sensitivity run failed at {:.2} h: {}",
                batch.id,
                f.time_s / 3600.0,
                f.message
            )
        };
        // The plain run's output grid (h, as its `time_h` column) and, per
        // sample, the grid rows `interp` reads there and its weight.
        let grid_s = output_times(&s.recipe, &s.options).map_err(failed)?;
        let grid_h: Vec<f64> = grid_s.iter().map(|t| t / 3600.0).collect();
        let brackets: Vec<Bracket> = batch
            .samples
            .iter()
            .map(|smp| bracket(&grid_h, smp.time_h))
            .collect::<Option<_>>()
            .ok_or_else(|| format!("batch {}: a run without output times", batch.id))?;
        let (times, slot): (Option<Vec<f64>>, Vec<Bracket>) = if s.options.method == Method::Dopri5
        {
            let mut rows: Vec<usize> = brackets.iter().flat_map(|&(a, c, _)| [a, c]).collect();
            rows.sort_unstable();
            rows.dedup();
            let at = |i: usize| rows.binary_search(&i).unwrap_or(0);
            (
                Some(rows.iter().map(|&i| grid_s[i]).collect()),
                brackets
                    .iter()
                    .map(|&(a, c, w)| (at(a), at(c), w))
                    .collect(),
            )
        } else {
            // Dop853 steps from output time to output time: the full
            // grid, as the plain run.
            (None, brackets)
        };
        let r = xing_sensitivities(
            p,
            None,
            &directions,
            &read,
            times.as_deref(),
            &s.recipe,
            &s.options,
        )
        .map_err(failed)?;
        // dθ_j/d ln p_k: 1 for θ = ln p; for θ = p, ∂/∂p = (∂/∂ln p)/p.
        let scale: Vec<f64> = free
            .iter()
            .map(|&j| match self.parameters[j].transform {
                Transform::Ln => 1.0,
                Transform::Identity => 1.0 / self.parameters[j].transform.to_value(theta[j]),
            })
            .collect();
        let lerp = |a: f64, c: f64, w: f64, same: bool| if same { a } else { a + w * (c - a) };
        // Each read state's slot in the run's derivative rows.
        let slots: Vec<(usize, usize)> = read
            .iter()
            .map(|&q| {
                r.carried
                    .iter()
                    .position(|&c| c == q)
                    .map(|j| (q, j))
                    .ok_or("a carried sensitivity")
            })
            .collect::<Result<_, _>>()?;
        let mut res = Vec::with_capacity(batch.samples.len());
        let mut jac = vec![Vec::with_capacity(batch.samples.len()); free.len()];
        for (smp, &(i0, i1, w)) in batch.samples.iter().zip(&slot) {
            let f = fns[smp.variable];
            let (y0, y1) = (
                r.states.get(i0).ok_or("a row of the run")?,
                r.states.get(i1).ok_or("a row of the run")?,
            );
            let y: [f64; XING_NS] = std::array::from_fn(|q| lerp(y0[q], y1[q], w, i0 == i1));
            let sd = self.sd[smp.variable];
            for (k, col) in jac.iter_mut().enumerate() {
                let (d0, d1) = (
                    r.derivative_row(k, i0).ok_or("a row of the run")?,
                    r.derivative_row(k, i1).ok_or("a row of the run")?,
                );
                let mut d = [0.0; XING_NS];
                for &(q, j) in &slots {
                    d[q] = lerp(d0[j], d1[j], w, i0 == i1);
                }
                col.push(f.eval(&y, &d).1 * scale[k] / sd);
            }
            res.push((f.eval(&y, &[0.0; XING_NS]).0 - smp.value) / sd);
        }
        Ok((res, jac))
    }

    /// Residuals and ∂r/∂θ_j (j in `free`) of batch b by exact forward
    /// sensitivities of the platform model: one augmented run for up to 8
    /// parameters (`platform::sensitivity`).
    fn batch_exact_platform(
        &self,
        b: usize,
        theta: &[f64],
        free: &[usize],
    ) -> Result<(Vec<f64>, Vec<Vec<f64>>), String> {
        let s = self.scenario_at(b, theta);
        let AnyModel::ChoPlatform(model) = s.model() else {
            return Err(format!(
                "batch {}: the platform model's exact path on another family",
                self.batches[b].id
            ));
        };
        // d p_SI/dθ, with p_SI = factor × p (the file's unit): p_SI for
        // θ = ln p, the factor for θ = p.
        let dirs: Vec<(usize, f64)> = free
            .iter()
            .map(|&j| {
                let (index, factor) = match self.addresses[j][b] {
                    Address::ModelParam { index, factor } => (index, factor),
                    _ => (self.model_index[j], 1.0),
                };
                let dp = match self.parameters[j].transform {
                    Transform::Ln => s.params_si[index],
                    Transform::Identity => factor,
                };
                (index, dp)
            })
            .collect();
        let cols: Vec<usize> = self
            .observed
            .iter()
            .map(|o| SensitivityTable::column(&o.column).ok_or("a platform output column"))
            .collect::<Result<_, _>>()?;
        let t = run_with_sensitivities(&model, &dirs, Some(&cols), &s.recipe, &s.options).map_err(
            |f| {
                format!(
                    "batch {}: sensitivity run failed at {:.0} s: {}",
                    self.batches[b].id, f.time_s, f.message
                )
            },
        )?;
        let mut res = Vec::new();
        let mut jac = vec![Vec::new(); free.len()];
        let mut values = Vec::new();
        let mut derivs: Vec<Vec<Vec<f64>>> = vec![Vec::new(); free.len()];
        for &c in &cols {
            let (v, d) = t.series(c).ok_or("a column the run was asked for")?;
            values.push(v);
            for (k, dk) in d.into_iter().enumerate() {
                derivs[k].push(dk);
            }
        }
        for smp in &self.batches[b].samples {
            let o = &self.observed[smp.variable];
            let sd = self.sd[smp.variable];
            let v = interp(&t.times_h, &values[smp.variable], smp.time_h) * o.to_si;
            if !v.is_finite() {
                return Err(format!(
                    "batch {}: a non-finite simulated value",
                    self.batches[b].id
                ));
            }
            res.push((v - smp.value) / sd);
            for (k, d) in derivs.iter().enumerate() {
                jac[k].push(interp(&t.times_h, &d[smp.variable], smp.time_h) * o.to_si / sd);
            }
        }
        Ok((res, jac))
    }

    /// Residuals and Jacobian over all batches; held parameters get zero
    /// columns.
    pub fn jacobian(
        &self,
        theta: &[f64],
    ) -> Result<(DVector<f64>, DMatrix<f64>), CalibrationError> {
        let theta = self.held(theta);
        let np = self.n_params();
        let free: Vec<usize> = (0..np)
            .filter(|j| !self.fixed.iter().any(|(f, _)| f == j))
            .collect();
        let nb = self.batches.len();
        let n: usize = self.n_observations();
        let mut r = DVector::zeros(n);
        let mut jm = DMatrix::zeros(n, np);
        let offsets: Vec<usize> = self
            .batches
            .iter()
            .scan(0, |o, b| {
                let s = *o;
                *o += b.samples.len();
                Some(s)
            })
            .collect();
        let platform = self.batches.first().map(|b| b.scenario.family) == Some(Family::ChoPlatform);
        if self.exact && platform {
            let runs: Vec<Result<(Vec<f64>, Vec<Vec<f64>>), String>> = (0..nb)
                .into_par_iter()
                .map(|b| self.batch_exact_platform(b, &theta, &free))
                .collect();
            for (b, x) in runs.into_iter().enumerate() {
                let (res, jac) = x?;
                for (i, v) in res.iter().enumerate() {
                    r[offsets[b] + i] = *v;
                }
                for (k, &j) in free.iter().enumerate() {
                    for (i, d) in jac[k].iter().enumerate() {
                        jm[(offsets[b] + i, j)] = *d;
                    }
                }
            }
        } else if self.exact && !free.is_empty() {
            let runs: Vec<Result<(Vec<f64>, Vec<Vec<f64>>), String>> = (0..nb)
                .into_par_iter()
                .map(|b| self.batch_exact(b, &theta, &free))
                .collect();
            for (b, x) in runs.into_iter().enumerate() {
                let (res, jac) = x?;
                for (i, v) in res.iter().enumerate() {
                    r[offsets[b] + i] = *v;
                }
                for (k, &j) in free.iter().enumerate() {
                    for (i, d) in jac[k].iter().enumerate() {
                        jm[(offsets[b] + i, j)] = *d;
                    }
                }
            }
        } else {
            let jobs: Vec<(usize, Option<usize>)> = (0..nb)
                .flat_map(|b| {
                    std::iter::once((b, None)).chain(free.iter().map(move |&j| (b, Some(j))))
                })
                .collect();
            let runs: Vec<Result<(usize, Option<usize>, Vec<f64>), CalibrationError>> = jobs
                .par_iter()
                .map(|&(b, j)| {
                    let mut t = theta.clone();
                    if let Some(j) = j {
                        t[j] += FD_STEP;
                    }
                    self.batch_residuals(b, &t).map(|v| (b, j, v))
                })
                .collect();
            let mut base: Vec<Vec<f64>> = vec![Vec::new(); nb];
            let mut shifted = Vec::new();
            for x in runs {
                let (b, j, v) = x?;
                match j {
                    None => base[b] = v,
                    Some(j) => shifted.push((b, j, v)),
                }
            }
            for (b, rb) in base.iter().enumerate() {
                for (i, x) in rb.iter().enumerate() {
                    r[offsets[b] + i] = *x;
                }
            }
            for (b, j, v) in shifted {
                for (i, x) in v.iter().enumerate() {
                    jm[(offsets[b] + i, j)] = (x - base[b][i]) / FD_STEP;
                }
            }
        }
        if self.exact && !platform && free.is_empty() {
            let v = self.residuals(&theta)?;
            r = DVector::from_vec(v);
        }
        Ok((r, jm))
    }

    /// Sum of squared raw residuals per observed variable, and counts.
    pub fn ssr_by_variable(
        &self,
        theta: &[f64],
    ) -> Result<(Vec<f64>, Vec<usize>), CalibrationError> {
        let r = self.residuals(theta)?;
        let mut ss = vec![0.0; self.observed.len()];
        let mut n = vec![0usize; self.observed.len()];
        let mut i = 0;
        for b in &self.batches {
            for s in &b.samples {
                let e = r[i] * self.sd[s.variable];
                ss[s.variable] += e * e;
                n[s.variable] += 1;
                i += 1;
            }
        }
        Ok((ss, n))
    }
}

impl LeastSquares for Problem {
    type Error = CalibrationError;
    fn linearise(&self, theta: &[f64]) -> Result<Linearisation, CalibrationError> {
        let (r, j) = self.jacobian(theta)?;
        Ok(Linearisation::from_jacobian(&r, &j))
    }
    fn cost(&self, theta: &[f64]) -> Option<f64> {
        let r = self.residuals(theta).ok()?;
        Some(0.5 * r.iter().map(|x| x * x).sum::<f64>())
    }
}
