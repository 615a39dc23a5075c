//! [`EnkfPredictor`]: the live predictor of an IndPenSim penicillin batch,
//! the ensemble Kalman filter of
//! `biotwin_core::bioreactor::indpensim::estimate` with its pre-registered
//! settings (`docs/indpensim-forecast.md`).
//!
//! A site selects it per batch with `predictor = "indpensim-enkf:PATH"`,
//! PATH (relative to the site file) a small predictor file:
//!
//! ```toml
//! [indpensim_enkf]
//! recipes = "../../training-data/indpensim/recipes.json"  # relative to this file
//! forecast_members = 48   # members run to 230 h per forecast (2..=48; default 48)
//! ```
//!
//! The batch's recipe plan is the entry of its batch id in `recipes`; its
//! `process` file gives the specification limits (a specifications file
//! or a process definition, as for a surrogate batch) of the CQA
//! `final_penicillin` (or `final_penicillin_kg_per_m3`).
//!
//! **What it reads.** Observations of the 24 model variables in
//! [`VARIABLES`] (SI, converted back to the filter's units): the seven
//! measured online tags, the five controller flows and (optional) the six
//! applied recipe inputs every 0.2 h (the
//! 12-min grid of the batch), the lab results at their sample time. They
//! are kept by step; a step is assimilated (the members advanced with its
//! flows, its readings assimilated, then the lab sample that falls on it)
//! once an observation of a later time has come, or when a forecast is
//! asked for (the engine has then given every observation available by the
//! forecast time). So the order in which the tags of one step arrive does
//! not matter, and the filter sees exactly what the evaluation harness
//! (`biotwin_ml::indpensim_forecast::run_record`) feeds it.
//!
//! * The t = 0 lab sample (biomass, substrate, PAA, NH3) starts the
//!   ensemble; the t = 0 online readings are not assimilated (the
//!   registered filter starts from population priors; they are returned as
//!   unused, and the engine counts them).
//! * A missing measured reading at a step is not assimilated; a missing
//!   controller flow is held at its last value (0 before any); both are
//!   counted in the forecast's state (`indpensim_missing_readings`).
//! * The recipe inputs as applied (sugar and oil feed, aeration, back
//!   pressure, discharge, water feed; optional site variables) are the
//!   members' step inputs; a step without one holds its last reading, as
//!   a controller flow is held (counted: `indpensim_applied_inputs_held`),
//!   and runs the recipe plan's set-point only before its first reading
//!   (counted: `indpensim_applied_inputs_missing`; every step counts 6 on
//!   a site that declares none of them). A forecast runs the plan.
//! * An observation for a step the filter has already passed (a late lab
//!   result, an out-of-order reading) is used at its sample time: the
//!   filter is re-run from t = 0 over the kept record (exact: the filter is
//!   a deterministic function of the record; costs one pass over the batch
//!   so far, made at the next in-time observation or forecast, so the
//!   results of one late sample cost one re-run; counted as
//!   `indpensim_reruns`).
//!
//! **Forecast.** The first `forecast_members` members run to 230 h
//! (`Estimator::forecast_members`), future disturbances seeded by the
//! harness's registered forecast seed and the step (the engine's seed is
//! not used), so a live forecast equals the harness's at the same step on
//! the same record. Mean, 5 % and 95 % quantiles of the members' final
//! penicillin; P(in spec) is the share of members inside the limits.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::Error;
use crate::{CqaForecast, Forecast, Observation, Predictor};
use biotwin_core::bioreactor::indpensim::estimate::{
    Estimator, LabSample, N_APPLIED, N_ONLINE, OnlineStep, Prior, Settings,
};
use biotwin_core::bioreactor::indpensim::{N_STEPS, Recipe, STEP_H};
use biotwin_core::definition::source::SourceFile;
use biotwin_core::error::Diagnostics;
use biotwin_core::random::run_seed;
use biotwin_core::simulation::model_source::ModelProvenance;

/// `predictor = "indpensim-enkf:PATH"` in a site file.
pub const PREDICTOR_PREFIX: &str = "indpensim-enkf:";

/// Name of the forecast CQA (with its unit, as the surrogate names it).
pub const CQA: &str = "final_penicillin_kg_per_m3";

/// Revision of how the live filter turns readings into member inputs,
/// hashed into the model id: a change of that handling (which inputs are
/// read, what a missing or refused reading does) is a different model in
/// the record even when the filter file, recipe and settings are the same.
/// Revision 2: applied recipe inputs read (issue 15), a missing one holds
/// the last applied value, a negative one is refused as a bad reading.
pub const INPUT_HANDLING_REVISION: u32 = 2;

/// Where a variable goes in the filter's record.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Slot {
    /// Online measured, index in `estimate::ONLINE_MEASURED`.
    Measured(usize),
    /// Controller flow, index in `estimate::ONLINE_FLOWS`.
    Flow(usize),
    /// Applied recipe input, index in `estimate::APPLIED_INPUTS`
    /// (optional: a site that does not declare it runs the plan's
    /// set-point, counted).
    Applied(usize),
    /// Lab result, index in `estimate::LAB`.
    Lab(usize),
}

/// The variables the predictor reads: site variable name, its SI unit, its
/// slot, and the factor from SI to the filter's unit. The 18 measured,
/// flow and lab variables are required of a site; the six applied recipe
/// inputs ([`Slot::Applied`]) are read where the site declares them.
pub const VARIABLES: [(&str, &str, Slot, f64); 24] = [
    ("temperature", "K", Slot::Measured(0), 1.0),
    ("ph", "1", Slot::Measured(1), 1.0),
    ("dissolved_o2", "kg/m3", Slot::Measured(2), 1000.0), // mg/L
    ("offgas_o2_fraction", "1", Slot::Measured(3), 1.0),  // mol/mol
    ("offgas_co2_fraction", "1", Slot::Measured(4), 100.0), // %
    ("volume", "m3", Slot::Measured(5), 1000.0),          // L
    ("vessel_weight", "kg", Slot::Measured(6), 1.0),
    ("acid_flow", "m3/s", Slot::Flow(0), 3.6e6), // L/h
    ("base_flow", "m3/s", Slot::Flow(1), 3.6e6),
    ("cooling_water_flow", "m3/s", Slot::Flow(2), 3.6e6),
    ("heating_water_flow", "m3/s", Slot::Flow(3), 3.6e6),
    ("paa_feed_flow", "m3/s", Slot::Flow(4), 3.6e6),
    ("sugar_feed_flow", "m3/s", Slot::Applied(0), 3.6e6), // L/h
    ("oil_feed_flow", "m3/s", Slot::Applied(1), 3.6e6),
    ("aeration_flow", "m3/s", Slot::Applied(2), 3600.0), // m³/h
    ("head_pressure_gauge", "Pa", Slot::Applied(3), 1e-5), // bar
    ("discharge_flow", "m3/s", Slot::Applied(4), 3.6e6),
    ("water_feed_flow", "m3/s", Slot::Applied(5), 3.6e6),
    ("biomass", "kg/m3", Slot::Lab(0), 1.0), // g/L
    ("penicillin", "kg/m3", Slot::Lab(1), 1.0),
    ("substrate", "kg/m3", Slot::Lab(2), 1.0),
    ("paa", "kg/m3", Slot::Lab(3), 1000.0), // mg/L
    ("nh3", "kg/m3", Slot::Lab(4), 1000.0),
    ("viscosity", "kg/(m s)", Slot::Lab(5), 1000.0), // cP
];

/// Checks, for a batch whose predictor is `indpensim-enkf:PATH` (`file`,
/// resolved), that the predictor file exists and that the site declares
/// every variable of [`VARIABLES`] with a unit of the same dimension (the
/// site already requires SI units, so this fixes the unit); problems are
/// pushed on `d` against the site file, with lines.
pub fn check_site(
    src: &SourceFile,
    predictor_field: &str,
    file: &Path,
    variables: &BTreeMap<String, String>,
    tag_ranges: &[TagRange],
    d: &mut Diagnostics,
) {
    check_applied_ranges(src, tag_ranges, d);
    if !file.is_file() {
        d.push(src.diag(
            predictor_field,
            "`indpensim-enkf:PATH` naming an IndPenSim filter file ([indpensim_enkf]; relative to the site file)",
            format!("`{}` (no such file)", file.display()),
        ));
    }
    use biotwin_core::units::Unit;
    for (name, si, slot, _) in VARIABLES {
        let field = format!("variables.{name}.si_unit");
        let want = Unit::parse(si).expect("a valid unit in VARIABLES");
        match variables.get(name) {
            // An applied recipe input the site does not declare: the
            // filter runs the plan's set-point for it (counted).
            None if matches!(slot, Slot::Applied(_)) => {}
            None => {
                // Reported once per site: the same for every batch.
                if !d.iter().any(|x| x.field == format!("variables.{name}")) {
                    d.push(src.diag(
                        &format!("variables.{name}"),
                        format!(
                            "[variables.{name}] si_unit = \"{si}\" (the IndPenSim filter reads it; {predictor_field})"
                        ),
                        "none",
                    ));
                }
            }
            Some(u) => match Unit::parse(u) {
                Ok(got) if got.dim == want.dim => {}
                _ => {
                    if !d.iter().any(|x| x.field == field) {
                        d.push(src.diag(
                            &field,
                            format!("`{si}` (the IndPenSim filter's `{name}`)"),
                            format!("`{u}`"),
                        ));
                    }
                }
            },
        }
    }
}

/// A site tag's valid range in the SI unit of its variable, for
/// [`check_site`]: (`tags[i]`, variable, min, max).
pub type TagRange = (String, String, f64, f64);

/// Highest plausible back pressure, Pa gauge (10 bar): a stirred
/// fermenter's vessel is rated for a few bar gauge; IndPenSim's recipes
/// run 0.5–2 bar.
pub const MAX_HEAD_PRESSURE_GAUGE_PA: f64 = 1e6;

/// Plausibility of the ranges of the tags that feed an applied recipe
/// input: a range must start at >= 0 (the engine's range check then
/// refuses a negative reading as `out_of_range` before the filter sees
/// it); the back pressure is gauge (the model takes 1 + p bar absolute),
/// at most [`MAX_HEAD_PRESSURE_GAUGE_PA`].
fn check_applied_ranges(src: &SourceFile, tag_ranges: &[TagRange], d: &mut Diagnostics) {
    for (at, variable, min_si, max_si) in tag_ranges {
        let applied = VARIABLES
            .iter()
            .any(|v| v.0 == variable && matches!(v.2, Slot::Applied(_)));
        if !applied {
            continue;
        }
        let field = format!("{at}.min");
        if !(*min_si >= 0.0) && !d.iter().any(|x| x.field == field) {
            d.push(src.diag(
                &field,
                format!(
                    "a range from >= 0 for `{variable}` (a recipe input as applied, which the \
                     IndPenSim filter takes as a flow or a gauge back pressure, never negative)"
                ),
                format!("min {min_si} (in SI)"),
            ));
        }
        let field = format!("{at}.max");
        if variable == "head_pressure_gauge"
            && !(*max_si <= MAX_HEAD_PRESSURE_GAUGE_PA)
            && !d.iter().any(|x| x.field == field)
        {
            d.push(src.diag(
                &field,
                format!(
                    "a plausible gauge back pressure for `head_pressure_gauge`: at most \
                     {MAX_HEAD_PRESSURE_GAUGE_PA} Pa (10 bar gauge; the model takes 1 + p bar \
                     absolute)"
                ),
                format!("max {max_si} Pa"),
            ));
        }
    }
}

/// The predictor file (`[indpensim_enkf]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct PredictorFile {
    indpensim_enkf: FileSection,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSection {
    recipes: PathBuf,
    /// Allow the held-out batches B16–B20 (the filter's pre-registered
    /// test set): off by default, so a site cannot score on them unnoticed.
    #[serde(default)]
    held_out: bool,
    #[serde(default)]
    forecast_members: Option<usize>,
}

/// A validated predictor file.
#[derive(Debug, Clone, PartialEq)]
pub struct EnkfFile {
    /// The predictor file (as given).
    pub path: PathBuf,
    /// The recipes file (resolved).
    pub recipes: PathBuf,
    /// Ensemble members run to 230 h per forecast (2 to 48; default 48).
    pub forecast_members: usize,
    /// Whether the held-out batches B16–B20 may run (`held_out = true`).
    pub held_out: bool,
    /// SHA-256 of the file's text.
    pub sha256: String,
}

impl EnkfFile {
    /// Reads and checks a predictor file; errors name its line and field.
    pub fn read(path: &Path) -> Result<EnkfFile, Error> {
        let src = SourceFile::read(path)?;
        let f: PredictorFile = src.parse()?;
        let members = Settings::default().members;
        let forecast_members = f.indpensim_enkf.forecast_members.unwrap_or(members);
        if !(2..=members).contains(&forecast_members) {
            return Err(Error::from(src.diag(
                "indpensim_enkf.forecast_members",
                format!("2 to {members} (the filter's registered ensemble size)"),
                forecast_members.to_string(),
            )));
        }
        let dir = path.parent().unwrap_or(Path::new(""));
        let recipes = if f.indpensim_enkf.recipes.is_absolute() {
            f.indpensim_enkf.recipes.clone()
        } else {
            dir.join(&f.indpensim_enkf.recipes)
        };
        if !recipes.is_file() {
            return Err(Error::from(src.diag(
                "indpensim_enkf.recipes",
                "an IndPenSim recipes file (relative to this file)",
                format!("`{}` (no such file)", recipes.display()),
            )));
        }
        Ok(EnkfFile {
            path: path.to_path_buf(),
            recipes,
            forecast_members,
            held_out: f.indpensim_enkf.held_out,
            sha256: hex::encode(Sha256::digest(src.text.as_bytes())),
        })
    }
}

/// Readings of one 0.2-h step as received.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct StepObs {
    flows: [Option<f64>; 5],
    values: [Option<f64>; N_ONLINE],
    applied: [Option<f64>; N_APPLIED],
}

/// The live IndPenSim filter of one batch.
#[derive(Debug, Clone)]
pub struct EnkfPredictor {
    batch_id: String,
    model_id: String,
    provenance: ModelProvenance,
    recipe: Recipe,
    settings: Settings,
    prior: Prior,
    forecast_members: usize,
    forecast_seed: u64,
    /// Specification limits of the final penicillin, g/L.
    spec: (Option<f64>, Option<f64>),
    /// The record: online readings by step (index k − 1), lab samples by
    /// the step they are assimilated after (0: the t = 0 sample), with the
    /// sample time in h.
    online: Vec<StepObs>,
    labs: BTreeMap<usize, (f64, [Option<f64>; 6])>,
    /// Newest sample time received, s.
    latest_s: f64,
    /// The filter over the record up to its step (`None`: to be started).
    est: Option<Estimator>,
    /// Why the filter cannot go on (batch time h, message), until data for
    /// a step it has passed re-runs it.
    broken: Option<(f64, String)>,
    last_flows: [Option<f64>; 5],
    /// Last applied recipe input read per input (held over a step that
    /// lacks one, like the controller flows).
    last_applied: [Option<f64>; N_APPLIED],
    missing: u64,
    /// Step inputs run at the last applied value because the step lacked
    /// its reading.
    applied_held: u64,
    reruns: u64,
    /// Steps the filter had run when it was thrown away for a re-run (0
    /// when none is pending).
    rerun_from: usize,
}

impl EnkfPredictor {
    /// The predictor of batch `batch_id` with the file's settings and the
    /// batch's recipe; `spec` = (lower, upper) limits of the final
    /// penicillin, g/L.
    pub fn new(
        file: &EnkfFile,
        batch_id: &str,
        spec: (Option<f64>, Option<f64>),
    ) -> Result<EnkfPredictor, Error> {
        let recipe = biotwin_ml::data::indpensim::read_recipe(&file.recipes, batch_id)?;
        let settings = Settings::default();
        let prior = Prior::default();
        let forecast_seed = biotwin_ml::indpensim_forecast::EvalSettings::default().forecast_seed;
        let mut h = Sha256::new();
        h.update(file.sha256.as_bytes());
        h.update(serde_json::to_vec(&recipe).unwrap_or_default());
        h.update(format!("{settings:?}{prior:?}{forecast_seed}").as_bytes());
        h.update(format!("input-handling:{INPUT_HANDLING_REVISION}").as_bytes());
        let sha = hex::encode(h.finalize());
        let name = file
            .path
            .file_stem()
            .map_or("indpensim-enkf".into(), |s| s.to_string_lossy().to_string());
        Ok(EnkfPredictor {
            batch_id: batch_id.to_string(),
            model_id: format!("indpensim-enkf:{name}@{}", &sha[..16]),
            provenance: ModelProvenance {
                id: "indpensim-enkf".into(),
                version: env!("CARGO_PKG_VERSION").into(),
                source: file.path.display().to_string(),
                sha256: sha,
            },
            recipe,
            settings,
            prior,
            forecast_members: file.forecast_members,
            forecast_seed,
            spec,
            online: Vec::new(),
            labs: BTreeMap::new(),
            latest_s: 0.0,
            est: None,
            broken: None,
            last_flows: [None; 5],
            last_applied: [None; N_APPLIED],
            missing: 0,
            applied_held: 0,
            reruns: 0,
            rerun_from: 0,
        })
    }

    fn bad(&self, obs: &Observation, field: &str, expected: &str, found: String) -> Error {
        Error::input(
            format!(
                "observation of `{}` in batch {}",
                obs.variable, self.batch_id
            ),
            field,
            expected,
            found,
        )
    }

    /// Steps the filter has finished.
    pub fn steps_done(&self) -> usize {
        self.est.as_ref().map_or(0, Estimator::step)
    }

    /// Steps the filter has run, or had run before a pending re-run: data
    /// up to this step is late.
    fn passed(&self) -> usize {
        self.est.as_ref().map_or(self.rerun_from, Estimator::step)
    }

    /// Throws the filter away: it is re-run from t = 0 at the next use.
    fn invalidate(&mut self) {
        if let Some(e) = &self.est {
            self.rerun_from = self.rerun_from.max(e.step());
            self.reruns += 1;
        } else if self.broken.is_some() {
            self.reruns += 1;
        }
        self.est = None;
        self.broken = None;
    }

    fn broken_error(&self) -> Option<Error> {
        self.broken
            .as_ref()
            .map(|(time_h, message)| Error::Numerical {
                time_h: *time_h,
                message: message.clone(),
                state: String::new(),
            })
    }

    /// Starts the ensemble from the t = 0 lab sample, if not started.
    fn start(&mut self) -> Result<(), Error> {
        if let Some(e) = self.broken_error() {
            return Err(e);
        }
        if self.est.is_none() {
            let (time_h, values) = self.labs.get(&0).copied().unwrap_or((0.0, [None; 6]));
            let lab0 = LabSample { time_h, values };
            let est = Estimator::new(&self.recipe, &lab0, &self.prior, &self.settings)
                .map_err(|e| self.fail(e))?;
            self.est = Some(est);
            self.rerun_from = 0;
            self.last_flows = [None; 5];
            self.last_applied = [None; N_APPLIED];
            self.missing = 0;
            self.applied_held = 0;
        }
        Ok(())
    }

    /// Runs the filter up to step `upto` (and the lab sample on it).
    fn process(&mut self, upto: usize) -> Result<(), Error> {
        let upto = upto.min(N_STEPS);
        if upto == 0 && self.est.is_none() {
            return Ok(());
        }
        self.start()?;
        while self.steps_done() < upto {
            let k = self.steps_done() + 1;
            let s = self.online.get(k - 1).copied().unwrap_or_default();
            // A missing applied recipe input holds its last reading
            // (counted: `indpensim_applied_inputs_held`), as the controller
            // flows do: a historian that stores on change, or a reading
            // dropped during a fault, must not send the members back to
            // the plan just when the plant deviates from it. Before its
            // first reading the plan's set-point runs (counted by the
            // filter: `indpensim_applied_inputs_missing`).
            let mut step = OnlineStep {
                flows: [0.0; 5],
                values: [0.0; N_ONLINE],
                applied: [None; N_APPLIED],
            };
            for j in 0..N_APPLIED {
                match s.applied[j] {
                    Some(v) => {
                        step.applied[j] = Some(v);
                        self.last_applied[j] = Some(v);
                    }
                    None => {
                        step.applied[j] = self.last_applied[j];
                        if self.last_applied[j].is_some() {
                            self.applied_held += 1;
                        }
                    }
                }
            }
            let mut present = [false; N_ONLINE];
            for j in 0..5 {
                match s.flows[j].or(self.last_flows[j]) {
                    Some(v) => step.flows[j] = v,
                    None => step.flows[j] = 0.0,
                }
                if s.flows[j].is_none() {
                    self.missing += 1;
                } else {
                    self.last_flows[j] = s.flows[j];
                }
            }
            for j in 0..N_ONLINE {
                match s.values[j] {
                    Some(v) => {
                        step.values[j] = v;
                        present[j] = true;
                    }
                    None => self.missing += 1,
                }
            }
            let est = self.est.as_mut().ok_or_else(filter_not_started)?;
            let r = est
                .advance_masked(&step, &present)
                .and_then(|()| match self.labs.get(&k) {
                    Some(&(time_h, values)) => est.assimilate_lab(&LabSample { time_h, values }),
                    None => Ok(()),
                });
            if let Err(e) = r {
                return Err(self.fail(e));
            }
        }
        Ok(())
    }

    /// Keeps a failure of the filter (reported by every forecast until
    /// data for a step it has passed re-runs it).
    fn fail(&mut self, e: impl std::fmt::Display) -> Error {
        let time_h = self.steps_done() as f64 * STEP_H;
        let message = format!("IndPenSim filter of batch {}: {e}", self.batch_id);
        let e = Error::Numerical {
            time_h,
            message: message.clone(),
            state: String::new(),
        };
        self.broken = Some((time_h, message));
        e
    }
}

impl Predictor for EnkfPredictor {
    fn model_id(&self) -> String {
        self.model_id.clone()
    }

    fn model_provenance(&self) -> Option<ModelProvenance> {
        Some(self.provenance.clone())
    }

    fn assimilate(&mut self, obs: &Observation) -> Result<bool, Error> {
        let Some(&(_, _, slot, factor)) = VARIABLES.iter().find(|v| v.0 == obs.variable) else {
            return Ok(false);
        };
        for (field, v) in [("time_s", obs.time_s), ("value_si", obs.value_si)] {
            if !v.is_finite() {
                return Err(self.bad(obs, field, "a finite number", v.to_string()));
            }
        }
        if obs.time_s < -1e-6 || obs.time_s > N_STEPS as f64 * STEP_H * 3600.0 + 1e-6 {
            return Err(self.bad(
                obs,
                "time_s",
                "a time within the 230-h IndPenSim batch",
                obs.time_s.to_string(),
            ));
        }
        let step_s = STEP_H * 3600.0;
        let value = obs.value_si * factor;
        // A negative recipe input as applied (a flow, a gauge back
        // pressure) is a bad reading: refused here like any other (the
        // engine counts it, `predictor_errors`, and logs it), so that the
        // step holds the last applied value instead of the filter
        // stopping on it, which would mark the batch's predictor broken
        // and be replayed by every re-run. (A site's tag range, min >= 0,
        // refuses it before, as `out_of_range`: `check_site`.)
        if matches!(slot, Slot::Applied(_)) && value < 0.0 {
            return Err(self.bad(
                obs,
                "value_si",
                "a recipe input as applied >= 0 (a flow or a gauge back pressure)",
                obs.value_si.to_string(),
            ));
        }
        let repeated = |old: Option<f64>| match old {
            Some(o) if o != value => Err(format!("{o} and {value} (filter units)")),
            _ => Ok(()),
        };
        let touched = match slot {
            Slot::Measured(j) | Slot::Flow(j) | Slot::Applied(j) => {
                let kf = obs.time_s / step_s;
                let k = kf.round();
                if (kf - k).abs() > 1e-6 {
                    return Err(self.bad(
                        obs,
                        "time_s",
                        "an online reading on the 12-min grid of the batch",
                        format!("{} s after the start", obs.time_s),
                    ));
                }
                let k = k as usize;
                if k == 0 {
                    // The registered filter starts from priors (module doc).
                    return Ok(false);
                }
                if self.online.len() < k {
                    self.online.resize(k, StepObs::default());
                }
                let cell = match slot {
                    Slot::Measured(_) => &mut self.online[k - 1].values[j],
                    Slot::Applied(_) => &mut self.online[k - 1].applied[j],
                    _ => &mut self.online[k - 1].flows[j],
                };
                let old = *cell;
                if old.is_none() {
                    *cell = Some(value);
                }
                repeated(old).map_err(|f| {
                    self.bad(
                        obs,
                        "value_si",
                        "one reading per tag and step (the first is kept)",
                        f,
                    )
                })?;
                k
            }
            Slot::Lab(j) => {
                // The step whose end lies within half a step of the sample
                // (the harness's rule: (t − 0.1 h, t + 0.1 h]).
                let k = ((obs.time_s - 0.5 * step_s) / step_s).ceil().max(0.0) as usize;
                let time_h = obs.time_s / 3600.0;
                let sampled_h = self.labs.entry(k).or_insert((time_h, [None; 6])).0;
                if (sampled_h - time_h).abs() > 1e-9 {
                    return Err(self.bad(
                        obs,
                        "time_s",
                        &format!(
                            "one lab sample per 0.2-h step (one was taken at {sampled_h:.3} h)"
                        ),
                        format!("a sample at {time_h:.3} h"),
                    ));
                }
                let entry = self.labs.get_mut(&k).ok_or_else(filter_not_started)?;
                let old = entry.1[j];
                if old.is_none() {
                    entry.1[j] = Some(value);
                }
                repeated(old).map_err(|f| {
                    self.bad(
                        obs,
                        "value_si",
                        "one result per sample (the first is kept)",
                        f,
                    )
                })?;
                k
            }
        };
        // Data for a step the filter has passed (or the t = 0 sample after
        // it started): re-run from t = 0 when next needed.
        // The re-run waits for the next in-time observation or forecast, so
        // that the results of one late sample cost one re-run.
        let late = (self.est.is_some() || self.broken.is_some() || self.rerun_from > 0)
            && touched <= self.passed();
        if late {
            self.invalidate();
        }
        self.latest_s = self.latest_s.max(obs.time_s);
        // Steps strictly before the newest sample time are complete.
        let complete = ((self.latest_s / step_s - 1e-9).ceil() as usize).saturating_sub(1);
        if !late && complete > self.steps_done() && self.broken.is_none() {
            // A failure is kept and reported by the next forecast.
            let _ = self.process(complete);
        }
        Ok(true)
    }

    fn forecast(&mut self, _seed: u64) -> Result<Forecast, Error> {
        let step_s = STEP_H * 3600.0;
        let upto = (self.latest_s / step_s + 1e-9).floor() as usize;
        self.process(upto)?;
        self.start()?;
        let est = self.est.as_ref().ok_or_else(filter_not_started)?;
        let k = est.step();
        let f = est.forecast_members(
            run_seed(self.forecast_seed, k as u64),
            self.forecast_members,
        )?;
        let (lo, hi) = self.spec;
        let p_in_spec = (lo.is_some() || hi.is_some()).then(|| {
            let inside = f
                .members_g_per_l
                .iter()
                .filter(|&&p| lo.is_none_or(|l| p >= l) && hi.is_none_or(|h| p <= h))
                .count();
            inside as f64 / f.members_g_per_l.len() as f64
        });
        let (p_now, p_sd) = est.penicillin_now();
        let mut state = vec![("penicillin".to_string(), p_now, p_sd)];
        for p in est.parameters() {
            state.push((p.name.to_string(), p.mean, p.sd));
        }
        for (name, v) in [
            ("indpensim_forecast_members", f.members_g_per_l.len() as f64),
            ("indpensim_forecast_members_failed", f.failed_members as f64),
            ("indpensim_readings_rejected", est.rejected() as f64),
            ("indpensim_members_replaced", est.replaced() as f64),
            ("indpensim_missing_readings", self.missing as f64),
            (
                "indpensim_applied_inputs_missing",
                est.plan_fallbacks() as f64,
            ),
            ("indpensim_applied_inputs_held", self.applied_held as f64),
            ("indpensim_reruns", self.reruns as f64),
        ] {
            state.push((name.to_string(), v, 0.0));
        }
        Ok(Forecast {
            time_s: k as f64 * step_s,
            cqas: vec![CqaForecast {
                name: CQA.into(),
                mean: f.mean_g_per_l,
                p05: f.p05_g_per_l,
                p95: f.p95_g_per_l,
                lower_spec: lo,
                upper_spec: hi,
                p_in_spec,
            }],
            state,
        })
    }
}

/// The error for a filter used before it was started: an internal
/// ordering fault, reported as an error rather than a panic that would stop
/// a live worker.
fn filter_not_started() -> Error {
    Error::Numerical {
        time_h: 0.0,
        message: "IndPenSim filter: internal error, the filter was used before it was started (please report)".into(),
        state: String::new(),
    }
}
