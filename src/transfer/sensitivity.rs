//! Global sensitivity of the target's predicted metrics to the receiving
//! site's set-points and material attributes: Sobol' first-order and total
//! indices (Saltelli design, bootstrap intervals) and Morris screening, both
//! from [`crate::sensitivity`] (estimators in `docs/sensitivity.md`).
//!
//! Factors are uniform on ranges around the translated values, clipped to
//! the target equipment's agitation and gas-flow limits (and its tip-speed
//! limit). Names are addresses (`setpoints.agitation_rpm`, ...) except the
//! post-shift temperature, `shifts[i].temperature_c`, which this module sets
//! on the recipe's i-th shift directly.

use indicatif::ProgressBar;
use serde::Serialize;

use crate::definition::recipe::EventKind;
use crate::equipment::Equipment;
use crate::error::{Diagnostics, Error};
use crate::sensitivity::{
    Factor, MorrisOptions, MorrisResult, SensitivityError, SobolOptions, SobolResult,
    morris_analysis, sobol_analysis,
};
use crate::simulation::Scenario;
use crate::simulation::address::Address;

use super::study::{metric_names, metrics, progress_bar};

/// Something the receiving site can turn: an address, or the temperature
/// a set-point shift moves to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Knob {
    Address(Address),
    /// Temperature (°C) set by the recipe's i-th shift.
    ShiftTemperature(usize),
}

impl Knob {
    /// Parses an address, or `shifts[i].temperature_c`.
    pub fn parse(scenario: &Scenario, text: &str, file_factor: &[f64]) -> Result<Knob, String> {
        if let Some(rest) = text.strip_prefix("shifts[")
            && let Some(idx) = rest.strip_suffix("].temperature_c")
        {
            let i: usize = idx
                .parse()
                .map_err(|_| "shifts[<index>].temperature_c".to_string())?;
            return match shift_setpoints(&scenario.recipe.events, i) {
                Some(sp) if sp.temperature_k.is_some() => Ok(Knob::ShiftTemperature(i)),
                _ => Err(format!("a shift {i} that sets temperature_c")),
            };
        }
        scenario.address(text, file_factor).map(Knob::Address)
    }

    pub fn get(&self, scenario: &mut Scenario) -> f64 {
        match self {
            Knob::Address(a) => scenario.get(a),
            Knob::ShiftTemperature(i) => shift_setpoints(&scenario.recipe.events, *i)
                .and_then(|s| s.temperature_k)
                .map(|k| k - 273.15)
                .unwrap_or(f64::NAN),
        }
    }

    pub fn set(&self, scenario: &mut Scenario, v: f64) {
        match self {
            Knob::Address(a) => scenario.set(a, v),
            Knob::ShiftTemperature(i) => {
                if let Some(e) = scenario
                    .recipe
                    .events
                    .iter_mut()
                    .filter(|e| matches!(e.kind, EventKind::Shift(_)))
                    .nth(*i)
                    && let EventKind::Shift(sp) = &mut e.kind
                {
                    sp.temperature_k = Some(v + 273.15);
                }
            }
        }
    }
}

fn shift_setpoints(
    events: &[crate::definition::recipe::Event],
    i: usize,
) -> Option<crate::definition::recipe::Setpoints> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Shift(sp) => Some(*sp),
            _ => None,
        })
        .nth(i)
}

/// One factor of the study: where it goes, its translated value and range.
#[derive(Debug, Clone, Serialize)]
pub struct StudyFactor {
    pub name: String,
    #[serde(skip)]
    pub knob: Knob,
    pub nominal: f64,
    pub low: f64,
    pub high: f64,
    /// Why this range.
    pub basis: String,
}

/// Agitation range of the target, rpm: the catalog's limits, tightened by
/// its tip-speed limit.
pub fn agitation_limits_rpm(eq: &Equipment) -> (f64, f64) {
    let (lo, hi) = eq.agitation_range_rps();
    let mut hi = hi * 60.0;
    if let Some(tip) = eq.max_tip_speed_m_per_s() {
        let d = eq.reference_impeller_diameter_m();
        if d > 0.0 {
            hi = hi.min(tip / (std::f64::consts::PI * d) * 60.0);
        }
    }
    (lo * 60.0, hi.max(lo * 60.0))
}

/// The default factors: agitation, sparge, DO set-point, shift time and
/// temperature, feed scale, feed glucose and seeding density, where the
/// recipe has them.
pub fn default_factors(
    scenario: &mut Scenario,
    file_factor: &[f64],
    target: &Equipment,
) -> Vec<StudyFactor> {
    let (a_lo, a_hi) = agitation_limits_rpm(target);
    let (g_lo, g_hi) = target.gas_flow_range_slpm();
    let mut out = Vec::new();
    let mut add = |s: &mut Scenario, name: &str, range: &dyn Fn(f64) -> (f64, f64), basis: &str| {
        let Ok(knob) = Knob::parse(s, name, file_factor) else {
            return;
        };
        let nominal = knob.get(s);
        if !nominal.is_finite() {
            return;
        }
        let (low, high) = range(nominal);
        if low.is_finite() && high.is_finite() && high > low {
            out.push(StudyFactor {
                name: name.to_string(),
                knob,
                nominal,
                low,
                high,
                basis: basis.to_string(),
            });
        }
    };
    add(
        scenario,
        "setpoints.agitation_rpm",
        &|n| {
            let c = n.clamp(a_lo, a_hi);
            ((0.75 * c).max(a_lo), (1.25 * c).min(a_hi))
        },
        "±25 % of the translated agitation within the vessel's agitation and tip-speed limits",
    );
    add(
        scenario,
        "setpoints.sparge_slpm",
        &|n| {
            let c = n.clamp(g_lo, g_hi);
            ((0.5 * c).max(g_lo), (2.0 * c).min(g_hi))
        },
        "½× to 2× the translated gas flow within the sparger's gas-flow limits",
    );
    add(
        scenario,
        "setpoints.do_pct",
        &|n| (0.75 * n, 1.25 * n),
        "±25 % of the DO set-point",
    );
    let duration_h = scenario.recipe.duration_s / 3600.0;
    add(
        scenario,
        "shifts[0].time_h",
        &|n| ((n - 24.0).max(0.0), (n + 24.0).min(duration_h)),
        "±24 h around the shift time",
    );
    add(
        scenario,
        "shifts[0].temperature_c",
        &|n| (n - 1.5, n + 1.5),
        "±1.5 °C around the post-shift temperature",
    );
    add(
        scenario,
        "feeds.scale",
        &|n| (0.8 * n, 1.2 * n),
        "±20 % of every feed volume",
    );
    let media: Vec<String> = scenario
        .recipe
        .media
        .iter()
        .map(|m| format!("media.{}.glucose_g_per_l", m.name))
        .collect();
    let glucose_medium = media.into_iter().find(|a| {
        scenario
            .address(a, file_factor)
            .map(|ad| scenario.get(&ad) > 0.0)
            .unwrap_or(false)
    });
    if let Some(a) = glucose_medium {
        add(
            scenario,
            &a,
            &|n| (0.85 * n, 1.15 * n),
            "±15 % feed glucose (raw-material attribute)",
        );
    }
    add(
        scenario,
        "initial.xv_1e6_cells_per_ml",
        &|n| (0.75 * n, 1.25 * n),
        "±25 % seeding density",
    );
    out
}

/// Sobol' and Morris results for the study's factors and metrics.
#[derive(Debug, Clone, Serialize)]
pub struct SensitivityStudy {
    pub factors: Vec<StudyFactor>,
    pub outputs: Vec<String>,
    pub sobol: SobolResult,
    pub morris: MorrisResult,
}

fn model_at(base: &Scenario, factors: &[StudyFactor], x: &[f64]) -> Result<Vec<f64>, String> {
    let mut s = base.clone();
    for (f, v) in factors.iter().zip(x) {
        f.knob.set(&mut s, *v);
    }
    s.simulate(true)
        .map(|o| metrics(&o))
        .map_err(|e| e.to_string())
}

fn map_err(e: SensitivityError<String>) -> Error {
    match e {
        SensitivityError::Setup(d) => Error::Input(d),
        SensitivityError::Evaluation(f) => Error::Numerical {
            time_h: 0.0,
            message: format!("sensitivity analysis: {f}"),
            state: String::new(),
        },
    }
}

/// Runs Sobol (`base_samples` × (k + 2) runs) and Morris (20 trajectories ×
/// (k + 1) runs) on `scenario` over `factors`.
pub fn run(
    scenario: &Scenario,
    factors: Vec<StudyFactor>,
    base_samples: usize,
    seed: u64,
    progress: bool,
) -> Result<SensitivityStudy, Error> {
    if factors.is_empty() {
        return Err(Error::Input(Diagnostics::from(
            crate::error::Diagnostic::new(
                "<transfer>",
                "sensitivity.factors",
                "at least one factor the recipe has",
                "none",
            ),
        )));
    }
    let outputs = metric_names(scenario);
    let sfactors: Vec<Factor> = factors
        .iter()
        .map(|f| Factor::uniform(f.name.clone(), f.low, f.high))
        .collect();
    let model = |x: &[f64]| model_at(scenario, &factors, x);
    let k = factors.len();
    let sobol_opts = SobolOptions {
        base_samples,
        bootstrap_resamples: 500,
        confidence_level: 0.95,
        seed,
    };
    let bar: ProgressBar = progress_bar(
        (base_samples * (k + 2)) as u64,
        "Sobol (Saltelli)",
        progress,
    );
    let sobol =
        sobol_analysis(&sfactors, &outputs, &model, &sobol_opts, Some(&bar)).map_err(map_err)?;
    bar.finish_and_clear();
    let morris_opts = MorrisOptions {
        seed,
        bootstrap_resamples: 500,
        ..MorrisOptions::default()
    };
    let bar = progress_bar(
        (morris_opts.trajectories * (k + 1)) as u64,
        "Morris screening",
        progress,
    );
    let morris =
        morris_analysis(&sfactors, &outputs, &model, &morris_opts, Some(&bar)).map_err(map_err)?;
    bar.finish_and_clear();
    Ok(SensitivityStudy {
        factors,
        outputs,
        sobol,
        morris,
    })
}

/// Factors ranked by total Sobol' index for one output, largest first:
/// (factor, S1, ST, ST CI low, ST CI high).
pub fn ranking(study: &SensitivityStudy, output: &str) -> Vec<(String, f64, f64, f64, f64)> {
    let Some(o) = study.sobol.output(output) else {
        return Vec::new();
    };
    let Some(ix) = &o.indices else {
        return Vec::new();
    };
    let mut v: Vec<_> = ix
        .iter()
        .map(|f| {
            (
                f.factor.clone(),
                f.first_order.value,
                f.total.value,
                f.total.ci_low,
                f.total.ci_high,
            )
        })
        .collect();
    v.sort_by(|a, b| b.2.total_cmp(&a.2));
    v
}
