//! From a validated process definition to a simulated batch: picks the model
//! family, applies overrides, attaches the vessel physics, runs the recipe and
//! returns a model-agnostic table plus end-of-batch quality attributes.

pub mod address;
pub mod family;
pub mod feasibility;
pub mod model_source;

use crate::error::Reason;
use std::path::Path;

use crate::bioreactor::simulate::{RunOptions, run};
use crate::bioreactor::{Culture, NotReady};
use crate::definition::process::ProcessDefinition;
use crate::definition::recipe::Recipe;
use crate::equipment::validate::EquipmentField;
use crate::error::{Diagnostic, Diagnostics, Error};
use crate::solver::WorkStats;
use address::{Address, Target};
pub use family::{AnyModel, Family};

/// Everything needed to simulate one batch, mutable through addresses.
///
/// Built from a validated process file ([`load_process`], then
/// [`Scenario::from_definition`]); [`Scenario::simulate`] integrates the
/// batch and returns its trajectory and end-of-batch quality attributes.
///
/// ```
/// use biotwin_core::simulation::{Scenario, load_process};
///
/// let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
///     .join("../../process-models/processes/cho-platform-3l.toml");
/// let def = load_process(&path).expect("the shipped process is valid");
/// let mut scenario = Scenario::from_definition(&def).expect("it compiles");
///
/// // Every number a user may change is reachable by its address, in the
/// // unit of its file (here °C for the initial temperature set-point).
/// let t = scenario
///     .address("setpoints.temperature_c", &def.model.params.file_factor)
///     .unwrap();
/// scenario.set(&t, 36.0);
/// assert!((scenario.get(&t) - 36.0).abs() < 1e-12);
/// assert_eq!(scenario.recipe.setpoints.temperature_k, Some(36.0 + 273.15));
///
/// let outcome = scenario.simulate(true)?;
/// let titer = outcome.quality_value("titer_g_per_l").unwrap();
/// assert!(titer.is_finite() && titer > 0.0);
/// // The trajectory ends at the recipe's duration.
/// let time_h = outcome.column("time_h").unwrap();
/// assert_eq!(*time_h.last().unwrap(), def.recipe.duration_s / 3600.0);
/// # Ok::<(), biotwin_core::error::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Kinetic family.
    pub family: Family,
    /// Parameter values, SI, in the family's order.
    pub params_si: Vec<f64>,
    /// The compiled recipe, SI.
    pub recipe: Recipe,
    /// The vessel, for families that need one.
    pub vessel: Option<family::VesselHandle>,
    /// Numerical settings.
    pub options: RunOptions,
}

/// A simulated batch.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Output column names, each with its unit (`titer_g_per_l`).
    pub columns: Vec<String>,
    /// Row-major table, `columns.len()` values per row.
    pub data: Vec<f64>,
    /// End-of-batch quality attributes (name with unit, value).
    pub quality: Vec<(String, f64)>,
    /// Work done by the integrator.
    pub stats: WorkStats,
}

impl Outcome {
    /// The end-of-batch value of quality attribute `name`, if reported.
    pub fn quality_value(&self, name: &str) -> Option<f64> {
        self.quality
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| *v)
    }
    /// The values of column `name` over the output rows, if present.
    pub fn column(&self, name: &str) -> Option<Vec<f64>> {
        let i = self.columns.iter().position(|c| c == name)?;
        Some(self.rows().map(|r| r[i]).collect())
    }
    /// Output rows, each `columns.len()` long.
    pub fn rows(&self) -> std::slice::ChunksExact<'_, f64> {
        self.data.chunks_exact(self.columns.len().max(1))
    }
    /// Number of output rows.
    pub fn n_rows(&self) -> usize {
        self.data.len() / self.columns.len().max(1)
    }

    /// A result is finite or it is no result: every end-of-batch quality
    /// attribute must be a finite number, and no trajectory value infinite
    /// (a trajectory may hold NaN where a ratio is undefined, e.g. glycan
    /// fractions before any product exists; CSV writes those empty). The
    /// error names the quantity and the time where it arose.
    pub fn check_finite(&self, end_h: f64) -> Result<(), Error> {
        if let Some((name, v)) = self.quality.iter().find(|(_, v)| !v.is_finite()) {
            return Err(Error::Numerical {
                time_h: end_h,
                message: format!(
                    "the end-of-batch quality attribute {name} is {v}: not a result (0/0 when no cells or no product remain, or an overflow from an extreme input)"
                ),
                state: self
                    .quality
                    .iter()
                    .map(|(n, v)| format!("{n}={v}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        let n = self.columns.len().max(1);
        if let Some(k) = self.data.iter().position(|v| v.is_infinite()) {
            let time_h = self
                .columns
                .iter()
                .position(|c| c == "time_h")
                .map_or(f64::NAN, |t| self.data[k - k % n + t]);
            return Err(Error::Numerical {
                time_h,
                message: format!(
                    "trajectory column {} is {}: an overflow (an extreme input?)",
                    self.columns.get(k % n).map_or("?", String::as_str),
                    self.data[k]
                ),
                state: String::new(),
            });
        }
        Ok(())
    }
}

/// What [`Scenario::check_ready`] found: the model cannot start from the
/// recipe, or cannot go on after one of its set-point shifts.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{cause}{}", shift_time_h.map(|t| format!(", after the shift at {t} h")).unwrap_or_default())]
pub struct NotReadyAt {
    /// What the model lacks or refuses.
    pub cause: NotReady,
    /// The shift's time, h, when the set-points after a shift are the
    /// problem; `None` at the start.
    pub shift_time_h: Option<f64>,
}

impl Scenario {
    /// Builds a scenario from a loaded process (and its equipment, if any).
    pub fn from_definition(def: &ProcessDefinition) -> Result<Scenario, Diagnostics> {
        let family = Family::parse(&def.model.family).ok_or_else(|| {
            Diagnostics::from(Diagnostic::new(
                &def.path,
                "process.model",
                "a known model family",
                def.model.family.clone(),
            ))
        })?;
        let vessel = match &def.equipment_path {
            Some(p) => Some(family::load_vessel(p)?),
            None => None,
        };
        if family.needs_vessel() && vessel.is_none() {
            return Err(def
                .diag("process.equipment", format!("an equipment reference (model family `{}` couples gas transfer to the vessel)", family.name()), "none")
                .into());
        }
        let mut scenario = Scenario {
            family,
            params_si: def.model.params.values_si.clone(),
            recipe: def.recipe.clone(),
            vessel,
            options: RunOptions {
                method: def.method,
                tolerances: def.tolerances,
                output_interval_s: Some(def.output_interval_s),
            },
        };
        let set: Vec<(String, f64)> = def.overrides.clone();
        scenario.apply_all(&set, &def.model.params.file_factor, SetOrigin::File(def))?;
        if let Err(missing) = scenario.check_ready() {
            return Err(Diagnostics::from(def.diag(
                "process.recipe",
                format!(
                    "a recipe that gives the `{}` model everything it needs",
                    scenario.family.name()
                ),
                missing.to_string(),
            )));
        }
        Ok(scenario)
    }

    /// What a run checks before its first step, checked without running:
    /// the model's initial state from the recipe's initial composition and
    /// volume, and its set-points at the start and after every shift. So
    /// `validate` (which builds the scenario) refuses what `simulate` would.
    pub fn check_ready(&self) -> Result<(), NotReadyAt> {
        fn ready<const N: usize, M: Culture<N>>(m: &M, recipe: &Recipe) -> Result<(), NotReadyAt> {
            let at_start = |cause| NotReadyAt {
                cause,
                shift_time_h: None,
            };
            let mut m = m.clone();
            m.initial_state(&recipe.initial, recipe.initial_volume_m3)
                .map_err(at_start)?;
            let mut sp = recipe.setpoints;
            m.set_setpoints(&sp).map_err(at_start)?;
            for e in &recipe.events {
                if let crate::definition::recipe::EventKind::Shift(change) = &e.kind {
                    sp.apply(change);
                    m.set_setpoints(&sp).map_err(|cause| NotReadyAt {
                        cause,
                        shift_time_h: Some(e.time_s / 3600.0),
                    })?;
                }
            }
            Ok(())
        }
        match &self.model() {
            AnyModel::Xing2010(m) => ready(m, &self.recipe),
            AnyModel::ChoPlatform(m) => ready(m, &self.recipe),
        }
    }

    /// Sets `address = value` (user units). The value must pass the rule
    /// its field has in its own file ([`Address::check`]); the error is what
    /// was expected. Limits over the whole scenario (the broth volume in the
    /// vessel) are [`Scenario::check_limits`]; [`Scenario::apply_all`] does
    /// both.
    pub fn apply(&mut self, address: &str, value: f64, file_factor: &[f64]) -> Result<(), Reason> {
        let a = self.address(address, file_factor)?;
        self.check(&a, value)?;
        self.set(&a, value);
        Ok(())
    }

    /// Applies a list of `address = value` settings, then checks the
    /// scenario's limits; every problem is reported, each at the place the
    /// setting came from (the `[set]` key of a process file, or `--set` on
    /// the command line).
    pub fn apply_all(
        &mut self,
        settings: &[(String, f64)],
        file_factor: &[f64],
        origin: SetOrigin,
    ) -> Result<(), Diagnostics> {
        let mut d = Diagnostics::new();
        for (key, value) in settings {
            match self.address(key, file_factor) {
                Err(expected) => d.push(origin.diag(key, expected, format!("the address `{key}`"))),
                Ok(a) => match self.check(&a, *value) {
                    Err(expected) => d.push(origin.diag(key, expected, number(*value))),
                    Ok(()) => self.set(&a, *value),
                },
            }
        }
        {
            for (expected, found) in self.check_limits() {
                // A limit broken by a setting is reported at the settings
                // that move the broth volume; one already broken by the
                // files themselves at the process file.
                let keys: Vec<&String> = settings
                    .iter()
                    .map(|(k, _)| k)
                    .filter(|k| {
                        matches!(
                            self.address(k, file_factor),
                            Ok(Address::InitialVolume
                                | Address::FeedScale
                                | Address::Feed { .. }
                                | Address::Equipment(
                                    EquipmentField::WorkingVolumeMinL
                                        | EquipmentField::WorkingVolumeMaxL
                                ))
                        )
                    })
                    .collect();
                match (keys.last(), &origin) {
                    (Some(k), _) => d.push(origin.diag(k, expected, found)),
                    (None, SetOrigin::File(def)) => {
                        d.push(def.diag("process.recipe", expected, found))
                    }
                    (None, SetOrigin::CommandLine) => {}
                }
            }
        }
        d.into_result(())
    }

    /// Checks a value for an address against its rule.
    pub fn check(&self, a: &Address, value: f64) -> Result<(), Reason> {
        a.check(
            value,
            self.family.params(),
            &self.recipe,
            self.vessel.as_ref(),
        )
    }

    /// Limits over the whole scenario that no single field shows: with an
    /// equipment file, the initial volume within the vessel's working
    /// volume and the broth volume (initial + feeds × `feeds.scale` −
    /// samples, at every recipe event) never above its maximum. Returns
    /// (expected, found) per broken limit.
    pub fn check_limits(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let Some(eq) = self.vessel.as_ref().and_then(|v| v.equipment()) else {
            return out;
        };
        let (vmin, vmax) = eq.working_volume_range_m3();
        let r = &self.recipe;
        let v0 = r.initial_volume_m3;
        if !(v0 >= vmin * (1.0 - 1e-9) && v0 <= vmax * (1.0 + 1e-9)) {
            out.push((
                format!(
                    "an initial volume within the working volume of `{}`, {} to {} L",
                    eq.id(),
                    vmin * 1e3,
                    vmax * 1e3
                ),
                format!("initial.volume_l = {} L", v0 * 1e3),
            ));
            return out;
        }
        let (peak, at) = peak_volume_m3(r);
        if peak > vmax * (1.0 + 1e-9) {
            out.push((
                format!(
                    "a broth volume that stays within the maximum working volume of `{}`, {} L (initial volume + feeds × feeds.scale − samples)",
                    eq.id(),
                    vmax * 1e3
                ),
                format!(
                    "{:.6} L at {:.4} h (initial {} L, feeds.scale {})",
                    peak * 1e3,
                    at / 3600.0,
                    v0 * 1e3,
                    r.feed_scale
                ),
            ));
        }
        out
    }

    /// Parses an address against this scenario.
    pub fn address(&self, text: &str, file_factor: &[f64]) -> Result<Address, Reason> {
        address::parse(
            text,
            self.family.params(),
            file_factor,
            &self.recipe,
            self.vessel.as_ref(),
        )
    }

    /// The value at address `a`, in its user unit.
    pub fn get(&mut self, a: &Address) -> f64 {
        a.get(&mut Target {
            params_si: &mut self.params_si,
            recipe: &mut self.recipe,
            vessel: &mut self.vessel,
        })
    }

    /// Sets the value at address `a`, given in its user unit, without checking it (see [`Address::check`]).
    pub fn set(&mut self, a: &Address, v: f64) {
        a.set(
            &mut Target {
                params_si: &mut self.params_si,
                recipe: &mut self.recipe,
                vessel: &mut self.vessel,
            },
            v,
        )
    }

    /// The model with this scenario's parameters and vessel.
    pub fn model(&self) -> AnyModel {
        self.family.build(
            &self.params_si,
            self.vessel.as_ref(),
            self.recipe.initial_volume_m3,
        )
    }

    /// Runs the batch; with `record` the full trajectory is kept.
    pub fn simulate(&self, record: bool) -> Result<Outcome, Error> {
        let mut opts = self.options;
        if !record {
            opts.output_interval_s = None;
        }
        let model = self.model();
        macro_rules! go {
            ($m:expr) => {{
                let m = $m;
                let r = run(m, &self.recipe, &opts)?;
                Outcome {
                    columns: m.output_columns().iter().map(|s| s.to_string()).collect(),
                    data: r.rows,
                    quality: m
                        .quality(&r.final_state)
                        .into_iter()
                        .map(|(n, v)| (n.to_string(), v))
                        .collect(),
                    stats: r.stats,
                }
            }};
        }
        let outcome = match &model {
            AnyModel::Xing2010(m) => go!(m),
            AnyModel::ChoPlatform(m) => go!(m),
        };
        outcome.check_finite(self.recipe.duration_s / 3600.0)?;
        Ok(outcome)
    }
}

impl Scenario {
    /// Runs the batch and returns the output times (s) and the model states
    /// there (SI, row-major, `n_states` per row): the solver's product
    /// without the derived output columns of [`Scenario::simulate`]. This is
    /// what SciPy's reference `simulate` returns, so the speed comparison
    /// (`benches/compare_scipy.sh`) times it beside the full trajectory.
    pub fn simulate_states(&self) -> Result<(Vec<f64>, Vec<f64>), Error> {
        let model = self.model();
        Ok(match &model {
            AnyModel::Xing2010(m) => states_of(m, &self.recipe, &self.options)?,
            AnyModel::ChoPlatform(m) => states_of(m, &self.recipe, &self.options)?,
        })
    }
}

fn states_of<const N: usize, M: Culture<N>>(
    model: &M,
    recipe: &Recipe,
    opts: &RunOptions,
) -> Result<(Vec<f64>, Vec<f64>), Error> {
    let r = crate::bioreactor::simulate::run_observed(model, recipe, opts, |_, _, _| {})?;
    Ok((r.times, r.states.into_flattened()))
}

/// A number as a diagnostic shows it: exponent form when very large or
/// small, so `1e308` does not print as 309 digits.
pub fn number(v: f64) -> String {
    let a = v.abs();
    if v.is_finite() && a != 0.0 && !(1e-4..1e7).contains(&a) {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

/// Where a list of address settings came from, for diagnostics.
#[derive(Clone, Copy)]
pub enum SetOrigin<'a> {
    /// The `[set]` table of this process file.
    File(&'a ProcessDefinition),
    /// `--set ADDRESS=VALUE` options.
    CommandLine,
}

impl SetOrigin<'_> {
    /// A diagnostic for the override `key`: in the process file's `[set]` (with its line) or on the command line.
    pub fn diag(
        &self,
        key: &str,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) -> Diagnostic {
        match self {
            SetOrigin::File(def) => def.set_diag(key, expected, found),
            SetOrigin::CommandLine => {
                Diagnostic::new("<command line>", format!("--set {key}"), expected, found)
            }
        }
    }
}

/// The largest broth volume of a recipe (m³) and when (s): initial volume,
/// bolus feeds and continuous feeds (× `feed_scale`), samples, event by event.
pub fn peak_volume_m3(r: &Recipe) -> (f64, f64) {
    use crate::definition::recipe::EventKind;
    let mut v = r.initial_volume_m3;
    let mut peak = (v, 0.0);
    let mut rate = 0.0;
    let mut t = 0.0;
    let mut on = vec![false; r.continuous_feeds.len()];
    let rate_of = |on: &[bool]| -> f64 {
        r.continuous_feeds
            .iter()
            .zip(on)
            .filter(|(_, o)| **o)
            .map(|(f, _)| f.rate_m3_per_s * r.feed_scale)
            .sum()
    };
    for e in &r.events {
        let te = e.time_s.min(r.duration_s);
        v += rate * (te - t);
        t = te;
        if v > peak.0 {
            peak = (v, t);
        }
        match e.kind {
            EventKind::Bolus { volume_m3, .. } => v += volume_m3 * r.feed_scale,
            EventKind::Sample { volume_m3 } => v -= volume_m3,
            EventKind::FeedOn { feed } => {
                on[feed] = true;
                rate = rate_of(&on);
            }
            EventKind::FeedOff { feed } => {
                on[feed] = false;
                rate = rate_of(&on);
            }
            EventKind::Shift(_) => {}
        }
        if v > peak.0 {
            peak = (v, t);
        }
    }
    v += rate * (r.duration_s - t).max(0.0);
    if v > peak.0 {
        peak = (v, r.duration_s);
    }
    peak
}

/// Loads a process file with the family registry of this crate.
pub fn load_process(path: &Path) -> Result<ProcessDefinition, Diagnostics> {
    ProcessDefinition::load(
        path,
        |f| Family::parse(f).map(|f| f.params()),
        &Family::names(),
        |f| Family::parse(f).map(|f| f.cqa_names()),
    )
}

/// [`load_process`] with `model` standing for the model the process names
/// (a registered model the command line resolved).
pub fn load_process_with_model(
    path: &Path,
    model: &crate::definition::kinetic::KineticModel,
) -> Result<ProcessDefinition, Diagnostics> {
    ProcessDefinition::load_with_model(
        path,
        Some(model),
        |f| Family::parse(f).map(|f| f.params()),
        &Family::names(),
        |f| Family::parse(f).map(|f| f.cqa_names()),
    )
}
