//! Adjustment: receiving-site set-points, within the target equipment's
//! limits, that bring the target's predicted quality back to the source's.
//!
//! Objective (minimised with [`biotwin_core::optimise::minimise_bounded`], bounded
//! Nelder–Mead with multi-start):
//!
//! `J(x) = (1/m) Σ_i ((y_i(x) − r_i) / (t_i |r_i|))²`
//!
//! with `r_i` the source's nominal value of metric `i`, `y_i(x)` the
//! target's at set-points `x` and `t_i` the relative tolerance. A metric is
//! within tolerance when `|y_i − r_i| ≤ t_i |r_i|`, i.e. its term is ≤ 1, so
//! `J ≤ 1` is necessary (not sufficient) for all to be within.
//!
//! Several set-points can give the same batch (agitation and gas flow both
//! strip CO₂ through kLa), so the minimised function adds a small move
//! penalty, `J(x) + λ · mean_k ((x_k − x0_k)/(u_k − l_k))²` with
//! [`MOVE_PENALTY`] λ: among set-points that match the source equally well
//! the one closest to the translated recipe wins. Moving one variable across
//! its whole range costs λ/n, far below any tolerance-relevant change of J.

use serde::Serialize;

use biotwin_core::equipment::Equipment;
use biotwin_core::error::Error;
use biotwin_core::optimise::{Options, minimise_bounded};
use biotwin_core::simulation::Scenario;

use super::sensitivity::{Knob, agitation_limits_rpm};
use super::study::{metric_names, metrics};

/// λ of the move penalty (module docs).
pub const MOVE_PENALTY: f64 = 1e-3;

/// Relative tolerance on one metric, percent of the source value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tolerance {
    pub metric: String,
    pub relative_pct: f64,
}

/// Default tolerances: 5 % on titer, viability, glycans, charge variants
/// and osmolality; 10 % on the small fractions high mannose and HMW.
pub fn default_tolerances() -> Vec<Tolerance> {
    [
        ("titer_g_per_l", 5.0),
        ("viability_pct", 5.0),
        ("galactosylated_pct", 5.0),
        ("afucosylated_pct", 5.0),
        ("high_mannose_pct", 10.0),
        ("acidic_variants_pct", 5.0),
        ("hmw_pct", 10.0),
        ("osmolality_mosm_per_kg", 5.0),
    ]
    .into_iter()
    .map(|(m, t)| Tolerance {
        metric: m.into(),
        relative_pct: t,
    })
    .collect()
}

/// A set-point the optimiser may move, with its box.
#[derive(Debug, Clone, Serialize)]
pub struct Variable {
    pub name: String,
    #[serde(skip)]
    pub knob: Knob,
    pub low: f64,
    pub high: f64,
    /// Translated (starting) value.
    pub start: f64,
}

/// Agitation and sparge within the target's limits, feed scale 0.7–1.3 and
/// the first shift's time ±48 h (where the recipe has one).
pub fn default_variables(
    scenario: &mut Scenario,
    file_factor: &[f64],
    target: &Equipment,
) -> Vec<Variable> {
    let (a_lo, a_hi) = agitation_limits_rpm(target);
    let (g_lo, g_hi) = target.gas_flow_range_slpm();
    let duration_h = scenario.recipe.duration_s / 3600.0;
    let mut out = Vec::new();
    type Range = Box<dyn Fn(f64) -> (f64, f64)>;
    let specs: [(&str, Range); 4] = [
        ("setpoints.agitation_rpm", Box::new(move |_| (a_lo, a_hi))),
        ("setpoints.sparge_slpm", Box::new(move |_| (g_lo, g_hi))),
        ("feeds.scale", Box::new(|n| (0.7 * n, 1.3 * n))),
        (
            "shifts[0].time_h",
            Box::new(move |n| ((n - 48.0).max(0.0), (n + 48.0).min(duration_h))),
        ),
    ];
    for (name, range) in specs {
        let Ok(knob) = Knob::parse(scenario, name, file_factor) else {
            continue;
        };
        let v = knob.get(scenario);
        if !v.is_finite() {
            continue;
        }
        let (low, high) = range(v);
        if high > low {
            out.push(Variable {
                name: name.into(),
                knob,
                low,
                high,
                start: v.clamp(low, high),
            });
        }
    }
    out
}

/// One metric before and after the adjustment.
#[derive(Debug, Clone, Serialize)]
pub struct MetricMatch {
    pub metric: String,
    pub reference: f64,
    pub translated: f64,
    pub adjusted: f64,
    pub tolerance_pct: f64,
    pub translated_deviation_pct: f64,
    pub adjusted_deviation_pct: f64,
    pub translated_within: bool,
    pub adjusted_within: bool,
}

/// A recommended set-point.
#[derive(Debug, Clone, Serialize)]
pub struct Recommendation {
    pub name: String,
    pub translated: f64,
    pub recommended: f64,
    pub low: f64,
    pub high: f64,
}

/// Outcome of the adjustment.
#[derive(Debug, Clone, Serialize)]
pub struct Adjustment {
    pub set_points: Vec<Recommendation>,
    pub metrics: Vec<MetricMatch>,
    pub objective_translated: f64,
    pub objective_adjusted: f64,
    pub all_within_tolerance: bool,
    pub evaluations: usize,
    pub converged: bool,
    pub optimiser: Options,
}

/// Scenario with the variables at `x`.
pub fn apply(scenario: &Scenario, variables: &[Variable], x: &[f64]) -> Scenario {
    let mut s = scenario.clone();
    for (v, x) in variables.iter().zip(x) {
        v.knob.set(&mut s, *x);
    }
    s
}

fn deviation_pct(y: f64, r: f64) -> f64 {
    100.0 * (y - r) / r.abs().max(1e-12)
}

/// Finds set-points `x` within the variables' boxes that minimise `J`
/// against `reference` (metric name, value); tolerances name the metrics
/// compared (unknown names are ignored).
pub fn adjust(
    scenario: &Scenario,
    reference: &[(String, f64)],
    tolerances: &[Tolerance],
    variables: &[Variable],
    options: &Options,
) -> Result<Adjustment, Error> {
    let names = metric_names(scenario);
    let terms: Vec<(usize, f64, f64, &Tolerance)> = tolerances
        .iter()
        .filter_map(|t| {
            let j = names.iter().position(|n| *n == t.metric)?;
            let r = reference.iter().find(|(n, _)| *n == t.metric)?.1;
            Some((j, r, t.relative_pct / 100.0, t))
        })
        .filter(|(_, r, _, _)| r.is_finite())
        .collect();
    let m = terms.len().max(1) as f64;
    let objective_of = |y: &[f64]| -> f64 {
        terms
            .iter()
            .map(|(j, r, t, _)| ((y[*j] - r) / (t * r.abs().max(1e-12))).powi(2))
            .sum::<f64>()
            / m
    };
    let x0: Vec<f64> = variables.iter().map(|v| v.start).collect();
    let n = variables.len().max(1) as f64;
    let penalty = |x: &[f64]| -> f64 {
        MOVE_PENALTY
            * variables
                .iter()
                .zip(x)
                .map(|(v, x)| ((x - v.start) / (v.high - v.low)).powi(2))
                .sum::<f64>()
            / n
    };
    let objective = |x: &[f64]| -> f64 {
        match apply(scenario, variables, x).simulate(true) {
            Ok(o) => objective_of(&metrics(&o)) + penalty(x),
            Err(_) => f64::NAN,
        }
    };
    let lower: Vec<f64> = variables.iter().map(|v| v.low).collect();
    let upper: Vec<f64> = variables.iter().map(|v| v.high).collect();
    let translated = apply(scenario, variables, &x0)
        .simulate(true)
        .map(|o| metrics(&o))?;
    let result = if variables.is_empty() {
        None
    } else {
        Some(minimise_bounded(objective, &x0, &lower, &upper, options)?)
    };
    let x = result.as_ref().map(|r| r.x.clone()).unwrap_or(x0.clone());
    let adjusted = apply(scenario, variables, &x)
        .simulate(true)
        .map(|o| metrics(&o))?;
    let metrics: Vec<MetricMatch> = terms
        .iter()
        .map(|(j, r, t, tol)| {
            let within = |y: f64| (y - r).abs() <= t * r.abs();
            MetricMatch {
                metric: tol.metric.clone(),
                reference: *r,
                translated: translated[*j],
                adjusted: adjusted[*j],
                tolerance_pct: tol.relative_pct,
                translated_deviation_pct: deviation_pct(translated[*j], *r),
                adjusted_deviation_pct: deviation_pct(adjusted[*j], *r),
                translated_within: within(translated[*j]),
                adjusted_within: within(adjusted[*j]),
            }
        })
        .collect();
    Ok(Adjustment {
        set_points: variables
            .iter()
            .zip(&x)
            .map(|(v, x)| Recommendation {
                name: v.name.clone(),
                translated: v.start,
                recommended: *x,
                low: v.low,
                high: v.high,
            })
            .collect(),
        all_within_tolerance: metrics.iter().all(|m| m.adjusted_within),
        objective_translated: objective_of(&translated),
        objective_adjusted: objective_of(&adjusted),
        metrics,
        evaluations: result.as_ref().map_or(0, |r| r.evaluations),
        converged: result.as_ref().is_none_or(|r| r.converged),
        optimiser: options.clone(),
    })
}
