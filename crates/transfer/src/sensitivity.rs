//! Global sensitivity of the target's predicted metrics to the receiving
//! site's set-points and material attributes: Sobol' first-order and total
//! indices (Saltelli design, bootstrap intervals) and Morris screening, both
//! from [`biotwin_core::sensitivity`] (estimators in `docs/sensitivity.md`).
//!
//! Factors are uniform on ranges around the translated values, clipped to
//! the target equipment's agitation and gas-flow limits (and its tip-speed
//! limit), plus the target vessel's kLa constants (`equipment.kla.*`). Names
//! are addresses of the one address space (`setpoints.agitation_rpm`,
//! `shifts[0].temperature_c`, `equipment.kla.a`, ...).

use indicatif::ProgressBar;
use serde::Serialize;

use crate::error::Error;
use biotwin_core::equipment::Equipment;
use biotwin_core::equipment::kla::{ALPHA_RANGE, BETA_RANGE};
use biotwin_core::error::{Diagnostics, Error as CoreError};
use biotwin_core::sensitivity::{
    Factor, MorrisOptions, MorrisResult, SensitivityError, SobolOptions, SobolResult,
    morris_analysis, sobol_analysis,
};
use biotwin_core::simulation::Scenario;
use biotwin_core::simulation::address::Address;

use super::study::{metric_names, metrics, progress_bar};

/// Something the receiving site can turn (or an equipment constant it
/// does not know exactly): an address of the one address space
/// ([`biotwin_core::simulation::address`]), `shifts[i].temperature_c` included.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Knob {
    /// A scenario address (set-point, recipe, medium or model parameter).
    Address(Address),
}

impl Knob {
    /// Parses an address.
    ///
    /// # Errors
    ///
    /// [`Error::Address`] when the scenario has no such address.
    pub fn parse(scenario: &Scenario, text: &str, file_factor: &[f64]) -> Result<Knob, Error> {
        scenario
            .address(text, file_factor)
            .map(Knob::Address)
            .map_err(|reason| Error::Address {
                address: text.to_string(),
                reason: reason.into(),
            })
    }

    /// Current value in `scenario`, in the address's unit.
    pub fn get(&self, scenario: &mut Scenario) -> f64 {
        match self {
            Knob::Address(a) => scenario.get(a),
        }
    }

    /// Sets the value in `scenario`, in the address's unit.
    pub fn set(&self, scenario: &mut Scenario, v: f64) {
        match self {
            Knob::Address(a) => scenario.set(a, v),
        }
    }
}

/// One factor of the study: where it goes, its translated value and range.
#[derive(Debug, Clone, Serialize)]
pub struct StudyFactor {
    /// Address of the factor (e.g. `setpoints.agitation_rpm`).
    pub name: String,
    /// Where the value goes in the scenario.
    #[serde(skip)]
    pub knob: Knob,
    /// The translated (nominal) value, in the address's unit.
    pub nominal: f64,
    /// Lower end of the uniform range sampled, in the address's unit.
    pub low: f64,
    /// Upper end of the uniform range sampled, in the address's unit.
    pub high: f64,
    /// Why this range.
    pub basis: String,
}

/// Agitation range of the target, rpm: the catalog's limits, tightened by
/// its tip-speed limit.
pub fn agitation_limits_rpm(eq: &Equipment) -> (f64, f64) {
    biotwin_core::scaleup::conditions::agitation_limits_rpm(eq)
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
    // The receiving vessel's kLa correlation: its constants are the largest
    // single uncertainty of a scale-up (docs/transfer.md, "Equipment
    // factors"). The spreads are those of van 't Riet's correlation; a file
    // whose constants are not his says so in the basis.
    let van_t_riet = target
        .sources()
        .get("kla")
        .is_some_and(|s| s.contains("van 't Riet"));
    let own = if van_t_riet {
        String::new()
    } else {
        format!(
            " (this vessel's constants are not van 't Riet's: its file says {:?}; his spread is applied as the least a fitted correlation carries)",
            target
                .sources()
                .get("kla")
                .map_or("nothing", |s| s.as_str())
        )
    };
    let basis_a = format!(
        "±40 % of the kLa constant a: van 't Riet (1979) gives his correlation's accuracy as 20–40 % of kLa, the upper end taken (a multiplies kLa){own}"
    );
    let basis_alpha = format!(
        "±0.05 around the P/V exponent: van 't Riet's exponents are published to one decimal (0.4), so ±0.05 is their stated precision{own}"
    );
    let basis_beta = format!(
        "±0.05 around the gas-velocity exponent: published to one decimal (0.5) by van 't Riet{own}"
    );
    add(
        scenario,
        "equipment.kla.a",
        &|n| (0.6 * n, 1.4 * n),
        &basis_a,
    );
    add(
        scenario,
        "equipment.kla.alpha",
        &|n| ((n - 0.05).max(ALPHA_RANGE.0), (n + 0.05).min(ALPHA_RANGE.1)),
        &basis_alpha,
    );
    add(
        scenario,
        "equipment.kla.beta",
        &|n| ((n - 0.05).max(BETA_RANGE.0), (n + 0.05).min(BETA_RANGE.1)),
        &basis_beta,
    );
    out
}

/// The fitted parameters of a calibrated model (`[calibration.covariance]`)
/// as factors: uniform over each one's marginal 95 % interval (exp(±1.96 σ)
/// around the value for an `ln` entry, ±1.96 SD for an `identity` one). The
/// Sobol' design treats factors as independent, so a fit's correlations
/// are not carried into the indices (the Monte Carlo arms draw them
/// jointly); the basis says so.
pub fn calibration_factors(
    def: &biotwin_core::definition::process::ProcessDefinition,
    scenario: &mut Scenario,
) -> (Vec<StudyFactor>, Vec<String>) {
    use biotwin_core::definition::calibration::Transform;
    let Some(c) = def
        .model
        .calibration
        .as_ref()
        .and_then(|c| c.covariance.as_ref())
    else {
        return (Vec::new(), Vec::new());
    };
    let n = c.names.len();
    let ff = &def.model.params.file_factor;
    let mut out = Vec::new();
    let mut left_out = Vec::new();
    for (k, name) in c.names.iter().enumerate() {
        let var = c.matrix[k * n + k];
        let addr = format!("model.{name}");
        let knob = match Knob::parse(scenario, &addr, ff) {
            Ok(k) => k,
            Err(e) => {
                left_out.push(format!(
                    "fitted parameter `{addr}` not among the Sobol' factors: {e}"
                ));
                continue;
            }
        };
        let nominal = knob.get(scenario);
        if !(var > 0.0 && nominal.is_finite()) {
            left_out.push(format!(
                "fitted parameter `{addr}` not among the Sobol' factors: the fit gives it no variance (fixed)"
            ));
            continue;
        }
        let sd = var.sqrt();
        let (low, high, what) = match c.transforms[k] {
            Transform::Ln => (
                nominal * (-1.96 * sd).exp(),
                nominal * (1.96 * sd).exp(),
                format!("exp(±1.96 × {sd:.3}) around the fitted value"),
            ),
            Transform::Identity => (
                nominal - 1.96 * sd,
                nominal + 1.96 * sd,
                format!("±1.96 × {sd:.3e} around the fitted value"),
            ),
        };
        // The range must be one the model accepts, as a --set would be.
        let Knob::Address(a) = knob;
        if let Err(e) = scenario
            .check(&a, low)
            .and_then(|_| scenario.check(&a, high))
        {
            left_out.push(format!(
                "fitted parameter `{addr}` not among the Sobol' factors: its 95 % interval {low:.4e} to {high:.4e} is not admissible ({e}); the Monte Carlo arms still draw it"
            ));
            continue;
        }
        out.push(StudyFactor {
            name: addr,
            knob,
            nominal,
            low,
            high,
            basis: format!(
                "the fit's marginal 95 % interval ({what}; calibrated model {}, dataset sha256 {}…); its correlations with other fitted parameters are not carried into the Sobol' indices",
                def.model.id,
                c_dataset(def)
            ),
        });
    }
    (out, left_out)
}

fn c_dataset(def: &biotwin_core::definition::process::ProcessDefinition) -> String {
    def.model
        .calibration
        .as_ref()
        .map(|c| c.dataset_sha256.chars().take(12).collect())
        .unwrap_or_default()
}

/// Sobol' and Morris results for the study's factors and metrics.
#[derive(Debug, Clone, Serialize)]
pub struct SensitivityStudy {
    /// The factors, in the order of the index tables.
    pub factors: Vec<StudyFactor>,
    /// The metric names the indices refer to, in order.
    pub outputs: Vec<String>,
    /// First-order and total Sobol' indices with bootstrap 95 % intervals.
    pub sobol: SobolResult,
    /// Morris elementary-effect screening (20 trajectories), with bootstrap
    /// intervals.
    pub morris: MorrisResult,
    /// Candidate factors left out, and why (e.g. a fitted parameter whose
    /// 95 % interval the model does not admit).
    pub left_out: Vec<String>,
}

fn model_at(base: &Scenario, factors: &[StudyFactor], x: &[f64]) -> Result<Vec<f64>, CoreError> {
    let mut s = base.clone();
    for (f, v) in factors.iter().zip(x) {
        f.knob.set(&mut s, *v);
    }
    s.simulate(true).map(|o| metrics(&o))
}

fn map_err(e: SensitivityError<CoreError>) -> Error {
    match e {
        SensitivityError::Setup(d) => d.into(),
        SensitivityError::Evaluation(failure) => Error::Sensitivity { failure },
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
        return Err(Diagnostics::from(biotwin_core::error::Diagnostic::new(
            "<transfer>",
            "sensitivity.factors",
            "at least one factor the recipe has",
            "none",
        ))
        .into());
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
        left_out: Vec::new(),
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
