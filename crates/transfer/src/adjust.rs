//! Adjustment: receiving-site set-points, within the target equipment's
//! limits, that bring the target's predicted quality back to the source's,
//! and never make anything worse than the translated recipe.
//!
//! Each compared metric `i` has a source value `r_i`, a relative tolerance
//! `t_i` and a side ([`Side::of`]): a **floor** (titer, viability: being
//! higher than the source is not a penalty), a **ceiling** (peak pCO₂, HMW,
//! HCP, DNA, ammonium, lactate: lower is fine) or **two-sided** (glycan
//! fractions, charge variants, osmolality: an equivalence margin ±t_i).
//! With `e_i = (y_i − r_i)/(t_i |r_i|)` the term is `min(e_i,0)²` (floor),
//! `max(e_i,0)²` (ceiling) or `e_i²` (two-sided), and
//!
//! `J(x) = (1/m) Σ_i term_i(y_i(x))`.
//!
//! Metric `i` is *within tolerance* when its term is ≤ 1.
//!
//! Decision, in order:
//! 1. Every metric within tolerance as translated: **no change** (the
//!    optimiser is not run).
//! 2. Otherwise `J` is minimised with [`biotwin_core::optimise::minimise_bounded`]
//!    (bounded Nelder–Mead with multi-start) inside the variables' boxes,
//!    subject to the engineering constraints of the trajectory-wide
//!    feasibility check ([`biotwin_core::simulation::feasibility`]): every
//!    quantity (working volume, gas-flow and agitation ranges, tip speed, P/V
//!    and v_s inside the kLa correlation's fitted range, Kolmogorov length,
//!    dissolved O₂ at its set-point, O₂ capacity, foam limit, and the
//!    unlimited mixing time and O₂ transfer capacity with air) must be within
//!    its limit or no worse than as translated
//!    ([`Quantity::acceptable_against`]). A point that breaks a constraint
//!    scores `J + 10³ (1 + Σ violations)`, so the feasible translated start
//!    always beats it.
//! 3. The optimiser's point is re-checked: if any metric's excess beyond its
//!    tolerance band (`max(0, √term − 1)`) is larger than as translated, any
//!    engineering quantity is unacceptable, or `J` did not fall, the
//!    recommendation falls back to **no change**, with the reason.
//!
//! Several set-points can give the same batch (agitation and gas flow both
//! strip CO₂ through kLa), so the minimised function adds a small move
//! penalty, `J(x) + λ · mean_k ((x_k − x0_k)/(u_k − l_k))²` with
//! [`MOVE_PENALTY`] λ: among set-points that match the source equally well
//! the one closest to the translated recipe wins. Moving one variable across
//! its whole range costs λ/n, far below any tolerance-relevant change of J.

use serde::Serialize;

use crate::error::Error;
use biotwin_core::equipment::Equipment;
use biotwin_core::optimise::{Options, minimise_bounded};
use biotwin_core::scaleup::ScaleUpParameters;
use biotwin_core::simulation::Scenario;
use biotwin_core::simulation::feasibility::{self, Feasibility, Quantity};

use super::sensitivity::{Knob, agitation_limits_rpm};
use super::study::{metric_names, metrics};

/// λ of the move penalty (module docs).
pub const MOVE_PENALTY: f64 = 1e-3;

/// Relative tolerance on one metric, percent of the source value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tolerance {
    /// Metric name with its unit, as in [`crate::study::metric_names`] (e.g. `titer_g_per_l`).
    pub metric: String,
    /// Tolerance t_i, percent of the source's nominal value (> 0).
    pub relative_pct: f64,
}

/// Which side of the source value is acceptable for a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The source value is a floor: higher is fine (titer, viability).
    Floor,
    /// The source value is a ceiling: lower is fine (impurities, pCO₂,
    /// waste metabolites).
    Ceiling,
    /// An equivalence margin on both sides (product-quality fractions,
    /// osmolality).
    TwoSided,
}

impl Side {
    /// The side of a metric (one table for the whole transfer).
    pub fn of(metric: &str) -> Side {
        match metric {
            "titer_g_per_l" | "viability_pct" => Side::Floor,
            "peak_pco2_mmhg" | "hmw_pct" | "hcp_mg_per_l" | "dna_mg_per_l" | "ammonium_mm"
            | "lactate_g_per_l" => Side::Ceiling,
            _ => Side::TwoSided,
        }
    }
    /// One-line description for the report (e.g. "ceiling: lower is fine").
    pub fn describe(self) -> &'static str {
        match self {
            Side::Floor => "floor: higher is fine",
            Side::Ceiling => "ceiling: lower is fine",
            Side::TwoSided => "two-sided margin",
        }
    }
    /// `term_i` of the module docs for `y` against `r` at relative tolerance `t`.
    pub fn term(self, y: f64, r: f64, t: f64) -> f64 {
        let e = (y - r) / (t * r.abs().max(1e-12));
        match self {
            Side::Floor => e.min(0.0).powi(2),
            Side::Ceiling => e.max(0.0).powi(2),
            Side::TwoSided => e * e,
        }
    }
    /// Within tolerance: term ≤ 1.
    pub fn within(self, y: f64, r: f64, t: f64) -> bool {
        self.term(y, r, t) <= 1.0 + 1e-12
    }
    /// How far outside the tolerance band, in tolerances: `max(0, √term − 1)`.
    pub fn excess(self, y: f64, r: f64, t: f64) -> f64 {
        (self.term(y, r, t).sqrt() - 1.0).max(0.0)
    }
}

/// Default tolerances: 5 % on titer, viability, glycans, charge variants
/// and osmolality; 10 % on the small fractions high mannose and HMW, and on
/// the ceilings peak pCO₂ and HCP.
pub fn default_tolerances() -> Vec<Tolerance> {
    [
        ("titer_g_per_l", 5.0),
        ("viability_pct", 5.0),
        ("galactosylated_pct", 5.0),
        ("afucosylated_pct", 5.0),
        ("high_mannose_pct", 10.0),
        ("acidic_variants_pct", 5.0),
        ("hmw_pct", 10.0),
        ("hcp_mg_per_l", 10.0),
        ("osmolality_mosm_per_kg", 5.0),
        ("peak_pco2_mmhg", 10.0),
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
    /// Address of the set-point (e.g. `setpoints.agitation_rpm`, `feeds.scale`).
    pub name: String,
    /// Where the value goes in the scenario.
    #[serde(skip)]
    pub knob: Knob,
    /// Lower end of the box (the target's limit), in the address's unit.
    pub low: f64,
    /// Upper end of the box, in the address's unit.
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
    /// Metric name with its unit.
    pub metric: String,
    /// Which side of the reference is acceptable.
    pub side: Side,
    /// The source's nominal value r_i (the reference the target is matched to).
    pub reference: f64,
    /// The target's nominal value at the translated set-points.
    pub translated: f64,
    /// The target's nominal value at the recommended set-points.
    pub adjusted: f64,
    /// Relative tolerance t_i, %.
    pub tolerance_pct: f64,
    /// (translated − reference) / |reference|, %.
    pub translated_deviation_pct: f64,
    /// (adjusted − reference) / |reference|, %.
    pub adjusted_deviation_pct: f64,
    /// Whether the translated value is within tolerance (term ≤ 1).
    pub translated_within: bool,
    /// Whether the adjusted value is within tolerance.
    pub adjusted_within: bool,
    /// Excess beyond the tolerance band in tolerances (0 when within).
    pub translated_excess: f64,
    /// Excess of the adjusted value beyond the band, in tolerances (0 when within).
    pub adjusted_excess: f64,
}

/// A recommended set-point.
#[derive(Debug, Clone, Serialize)]
pub struct Recommendation {
    /// Address of the set-point (e.g. `setpoints.sparge_slpm`).
    pub name: String,
    /// Translated value, in the address's unit.
    pub translated: f64,
    /// Recommended value, in the address's unit.
    pub recommended: f64,
    /// Lower limit the optimiser respected.
    pub low: f64,
    /// Upper limit the optimiser respected.
    pub high: f64,
}

/// What the adjustment recommends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Every metric is within tolerance as translated: keep the recipe.
    NoChange,
    /// The optimiser's point was not better, or worse on some metric or
    /// engineering quantity: keep the recipe (`reason` says why).
    NoChangeFallback,
    /// Change the set-points to the recommended ones.
    Change,
}

/// An engineering quantity at the translated and the recommended point.
#[derive(Debug, Clone, Serialize)]
pub struct ConstraintCheck {
    /// Quantity with its unit (e.g. tip speed, Kolmogorov length), as named by
    /// the feasibility check.
    pub name: String,
    /// The equipment's or process's limit, in the quantity's unit (None: no limit).
    pub limit: Option<f64>,
    /// `true`: the limit is a ceiling (larger is worse).
    pub ceiling: bool,
    /// Worst value over the batch at the translated set-points.
    pub translated: f64,
    /// Worst value over the batch at the recommended set-points.
    pub recommended: f64,
    /// Within its limit, or no worse than as translated.
    pub acceptable: bool,
}

/// Outcome of the adjustment.
#[derive(Debug, Clone, Serialize)]
pub struct Adjustment {
    /// The recommendation.
    pub decision: Decision,
    /// Why this decision, in one sentence.
    pub reason: String,
    /// The adjustable set-points, translated and recommended.
    pub set_points: Vec<Recommendation>,
    /// Every toleranced metric before and after.
    pub metrics: Vec<MetricMatch>,
    /// Engineering quantities (worst over the batch) at both points.
    pub constraints: Vec<ConstraintCheck>,
    /// J at the translated set-points (module docs; no move penalty).
    pub objective_translated: f64,
    /// J at the recommended set-points.
    pub objective_adjusted: f64,
    /// Whether every metric is within tolerance at the recommended set-points.
    pub all_within_tolerance: bool,
    /// Objective evaluations (model runs) over all optimiser starts (0 when
    /// it did not run).
    pub evaluations: usize,
    /// Whether the optimiser start that gave the best point met the
    /// tolerance (true when the optimiser did not run).
    pub converged: bool,
    /// The optimiser settings used.
    pub optimiser: Options,
    /// What the optimiser found before the re-check (equal to the
    /// recommendation unless the decision is a fallback; empty when it did
    /// not run).
    pub optimiser_point: Vec<f64>,
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

/// Metrics and feasibility of the scenario at `x`.
fn evaluate_at(
    scenario: &Scenario,
    variables: &[Variable],
    x: &[f64],
    params: &ScaleUpParameters,
) -> Result<(Vec<f64>, Feasibility), Error> {
    let s = apply(scenario, variables, x);
    let o = s.simulate(true)?;
    let f = feasibility::check(&s, &o, params);
    Ok((metrics(&o), f))
}

/// Sum of the constraint violations of `f` against the reference `f0`
/// (0 when every quantity is acceptable).
fn violation(f: &Feasibility, f0: &Feasibility) -> f64 {
    f.quantities
        .iter()
        .filter(|q| q.constraint)
        .filter_map(|q| Some((q, f0.quantity(&q.name)?)))
        .filter(|(q, q0)| !q.acceptable_against(q0))
        .map(|(q, q0)| {
            let allowed = match q.limit {
                Some(_) => q0.badness().max(1.0),
                None => q0.badness(),
            };
            ((q.badness() - allowed) / allowed.abs().max(1e-12)).max(1e-9)
        })
        .sum()
}

fn constraint_rows(f: &Feasibility, f0: &Feasibility) -> Vec<ConstraintCheck> {
    f0.quantities
        .iter()
        .filter(|q0| q0.constraint)
        .map(|q0| {
            let q: &Quantity = f.quantity(&q0.name).unwrap_or(q0);
            ConstraintCheck {
                name: q0.name.clone(),
                limit: q0.limit.or(q.limit),
                ceiling: q0.ceiling,
                translated: q0.value,
                recommended: q.value,
                acceptable: q.acceptable_against(q0),
            }
        })
        .collect()
}

/// Finds set-points `x` within the variables' boxes that bring the target's
/// metrics to the source's `reference` (metric name, value) without making
/// any metric or engineering quantity worse than at the translated point
/// (module docs); tolerances name the metrics compared (unknown names are
/// ignored).
pub fn adjust(
    scenario: &Scenario,
    reference: &[(String, f64)],
    tolerances: &[Tolerance],
    variables: &[Variable],
    options: &Options,
) -> Result<Adjustment, Error> {
    let params = ScaleUpParameters::default();
    let names = metric_names(scenario);
    let terms: Vec<(usize, f64, f64, &Tolerance, Side)> = tolerances
        .iter()
        .filter_map(|t| {
            let j = names.iter().position(|n| *n == t.metric)?;
            let r = reference.iter().find(|(n, _)| *n == t.metric)?.1;
            Some((j, r, t.relative_pct / 100.0, t, Side::of(&t.metric)))
        })
        .filter(|(_, r, _, _, _)| r.is_finite())
        .collect();
    let m = terms.len().max(1) as f64;
    let objective_of = |y: &[f64]| -> f64 {
        terms
            .iter()
            .map(|(j, r, t, _, side)| side.term(y[*j], *r, *t))
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
    let (translated, f0) = evaluate_at(scenario, variables, &x0, &params)?;
    let j0 = objective_of(&translated);
    let all_within_translated = terms
        .iter()
        .all(|(j, r, t, _, side)| side.within(translated[*j], *r, *t));

    let run_optimiser = !variables.is_empty() && !all_within_translated;
    let result = if run_optimiser {
        let objective = |x: &[f64]| -> f64 {
            match evaluate_at(scenario, variables, x, &params) {
                Ok((y, f)) => {
                    let v = violation(&f, &f0);
                    let base = objective_of(&y) + penalty(x);
                    if v > 0.0 {
                        base + 1e3 * (1.0 + v)
                    } else {
                        base
                    }
                }
                Err(_) => f64::NAN,
            }
        };
        let lower: Vec<f64> = variables.iter().map(|v| v.low).collect();
        let upper: Vec<f64> = variables.iter().map(|v| v.high).collect();
        Some(minimise_bounded(objective, &x0, &lower, &upper, options)?)
    } else {
        None
    };
    let x_opt = result.as_ref().map(|r| r.x.clone());
    let (decision, reason, x, adjusted, f1) = match &x_opt {
        None if variables.is_empty() => (
            Decision::NoChange,
            "no set-point can be adjusted on this process".to_string(),
            x0.clone(),
            translated.clone(),
            f0.clone(),
        ),
        None => (
            Decision::NoChange,
            "the translated recipe already meets every tolerance (one-sided for floors and ceilings): no change".to_string(),
            x0.clone(),
            translated.clone(),
            f0.clone(),
        ),
        Some(x) => {
            // The point is re-checked, reported and written as it will be
            // set: rounded to meaningful digits inside each variable's box.
            // The optimiser may stop on a binding constraint, which plain
            // rounding can cross; then each variable is rounded toward the
            // translated value instead (the direction the constraints
            // allow), and the first of the two that passes is taken.
            let check = |x: &Vec<f64>| -> Result<_, Error> {
                let (y, f) = evaluate_at(scenario, variables, x, &params)?;
                let worse_metrics: Vec<String> = terms
                    .iter()
                    .filter(|(j, r, t, _, side)| {
                        side.excess(y[*j], *r, *t) > side.excess(translated[*j], *r, *t) + 1e-9
                    })
                    .map(|(_, _, _, tol, _)| tol.metric.clone())
                    .collect();
                let worse_limits: Vec<String> = f
                    .quantities
                    .iter()
                    .filter(|q| q.constraint)
                    .filter_map(|q| Some((q, f0.quantity(&q.name)?)))
                    .filter(|(q, q0)| !q.acceptable_against(q0))
                    .map(|(q, _)| q.name.clone())
                    .collect();
                Ok((y, f, worse_metrics, worse_limits))
            };
            let nearest: Vec<f64> = variables
                .iter()
                .zip(x)
                .map(|(v, x)| super::translate::round_set_point(*x, v.low, v.high))
                .collect();
            let toward: Vec<f64> = variables
                .iter()
                .zip(x)
                .map(|(v, x)| {
                    let (lo, hi) = if v.start < *x {
                        (v.low.max(v.start), *x)
                    } else {
                        (*x, v.high.min(v.start))
                    };
                    super::translate::round_set_point(*x, lo, hi)
                })
                .collect();
            let mut checked = check(&nearest)?;
            let mut x = nearest;
            let passes = |c: &(Vec<f64>, Feasibility, Vec<String>, Vec<String>)| {
                c.2.is_empty() && c.3.is_empty() && objective_of(&c.0) < j0 - 1e-9
            };
            if !passes(&checked) && toward != x {
                let other = check(&toward)?;
                if passes(&other) {
                    checked = other;
                    x = toward;
                }
            }
            let x = &x;
            let (y, f, worse_metrics, worse_limits) = checked;
            let j1 = objective_of(&y);
            if !worse_metrics.is_empty() || !worse_limits.is_empty() {
                let mut why = Vec::new();
                if !worse_metrics.is_empty() {
                    why.push(format!(
                        "further outside tolerance than as translated: {}",
                        worse_metrics.join(", ")
                    ));
                }
                if !worse_limits.is_empty() {
                    why.push(format!(
                        "engineering quantities worse than as translated and outside their limits: {}",
                        worse_limits.join(", ")
                    ));
                }
                (
                    Decision::NoChangeFallback,
                    format!(
                        "the optimiser's best point would make things worse ({}): no change",
                        why.join("; ")
                    ),
                    x0.clone(),
                    translated.clone(),
                    f0.clone(),
                )
            } else if !(j1 < j0 - 1e-9) {
                (
                    Decision::NoChangeFallback,
                    format!(
                        "the optimiser found no point better than the translated recipe within the equipment limits and constraints (J {} → {}): no change",
                        biotwin_core::output::format_sig(j0),
                        biotwin_core::output::format_sig(j1)
                    ),
                    x0.clone(),
                    translated.clone(),
                    f0.clone(),
                )
            } else {
                (
                    Decision::Change,
                    "the recommended point brings the metrics closer to the source without taking any metric further outside its tolerance or any engineering quantity beyond what the translated recipe has".to_string(),
                    x.clone(),
                    y,
                    f,
                )
            }
        }
    };
    let metrics: Vec<MetricMatch> = terms
        .iter()
        .map(|(j, r, t, tol, side)| MetricMatch {
            metric: tol.metric.clone(),
            side: *side,
            reference: *r,
            translated: translated[*j],
            adjusted: adjusted[*j],
            tolerance_pct: tol.relative_pct,
            translated_deviation_pct: deviation_pct(translated[*j], *r),
            adjusted_deviation_pct: deviation_pct(adjusted[*j], *r),
            translated_within: side.within(translated[*j], *r, *t),
            adjusted_within: side.within(adjusted[*j], *r, *t),
            translated_excess: side.excess(translated[*j], *r, *t),
            adjusted_excess: side.excess(adjusted[*j], *r, *t),
        })
        .collect();
    Ok(Adjustment {
        decision,
        reason,
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
        constraints: constraint_rows(&f1, &f0),
        objective_translated: j0,
        objective_adjusted: objective_of(&adjusted),
        metrics,
        evaluations: result.as_ref().map_or(0, |r| r.evaluations),
        converged: result.as_ref().is_none_or(|r| r.converged),
        optimiser: options.clone(),
        optimiser_point: x_opt.unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::Side;

    #[test]
    fn sides_penalise_only_the_wrong_direction() {
        // Titer: source 3.22 g/L, 5 %: 3.35 is no penalty, 3.00 is
        // (3.00 − 3.22)/(0.05 · 3.22) = −1.3665 tolerances off.
        let (r, t) = (3.22, 0.05);
        assert_eq!(Side::Floor.term(3.35, r, t), 0.0);
        assert!(Side::Floor.within(3.059, r, t) && !Side::Floor.within(3.058, r, t));
        assert!((Side::Floor.excess(3.00, r, t) - 0.36646).abs() < 1e-4);
        // pCO2 as a ceiling: lower is fine, 10 % above is the edge.
        assert_eq!(Side::Ceiling.term(40.0, 63.1, 0.10), 0.0);
        assert!(
            Side::Ceiling.within(69.41, 63.1, 0.10) && !Side::Ceiling.within(69.42, 63.1, 0.10)
        );
        // Galactosylation: both sides count.
        assert!((Side::TwoSided.term(23.18, 24.40, 0.05) - 1.0).abs() < 1e-3);
        assert!((Side::TwoSided.term(25.62, 24.40, 0.05) - 1.0).abs() < 1e-3);
        assert_eq!(Side::of("titer_g_per_l"), Side::Floor);
        assert_eq!(Side::of("hcp_mg_per_l"), Side::Ceiling);
        assert_eq!(Side::of("galactosylated_pct"), Side::TwoSided);
    }
}
