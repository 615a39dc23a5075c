//! Virtual technology transfer (`biotwin transfer`): a process developed on
//! one vessel, moved to the receiving site's vessel before a real batch.
//!
//! The study, in order (what each step computes and how to read it:
//! `docs/transfer.md`):
//!
//! 1. **Translate** ([`translate`]): the scale-up calculator's set-points for
//!    the chosen criterion become a process file for the target.
//! 2. **Compare** ([`study`]): nominal and Monte Carlo runs of source and
//!    target over the declared uncertainty (common random numbers), with
//!    end-of-batch metrics (CQAs, peak pCO₂) and trajectory envelopes.
//! 3. **Sensitivity** ([`sensitivity`]): Sobol' and Morris indices of every
//!    metric to the receiving site's set-points and material attributes.
//! 4. **Adjust** ([`adjust`]): set-points within the target's limits that
//!    bring the target's metrics back to the source's within tolerances.
//! 5. **Lots** ([`lots`]): probability of meeting specification with another
//!    supplier's raw-material lot distribution.
//! 6. **Report** ([`report`], [`package`]): `report.md`, `trajectories.svg`,
//!    `sobol.svg` and the versioned machine-readable `transfer.json`.
//!
//! Every stochastic step takes the study's seed, so the same seed gives
//! byte-identical output files.
//!
//! Errors: [`Error`], the study's own failures as typed variants and the
//! core's file, input and simulation errors passed through in
//! [`Error::Core`].
//!
//! Entry points: [`run_study`] runs all six steps from a [`StudyOptions`]
//! (what `biotwin transfer` calls; then [`write_outputs`]), and
//! [`translate_process`] runs step 1 alone (runnable example there).

#![warn(missing_docs)]

pub mod adjust;
pub mod assumptions;
pub mod error;
pub mod html;
pub mod labels;
pub mod lots;
pub mod package;
pub mod plots;
pub mod report;
pub mod sensitivity;
pub mod site_recipe;
pub mod study;
pub mod translate;

use std::path::{Path, PathBuf};

pub use crate::error::Error;
use biotwin_core::definition::process::{Catalog, ProcessDefinition, catalog_dir};
use biotwin_core::equipment::{Equipment, resolve_equipment};
use biotwin_core::error::{Diagnostic, Error as CoreError};
use biotwin_core::montecarlo::uncertain_inputs;
use biotwin_core::optimise::Options;
use biotwin_core::output::write_atomic;
use biotwin_core::scaleup::{self, Criterion, ScaleUpParameters, ScaleUpReport};
use biotwin_core::simulation::feasibility::{self, Feasibility, Warning};
use biotwin_core::simulation::{Scenario, load_process, peak_volume_m3};
use biotwin_ml::calibration::discrepancy::{self, Applied};

pub use adjust::{Adjustment, Tolerance, default_tolerances};
pub use lots::{LotComparison, Lots};
pub use sensitivity::SensitivityStudy;
pub use study::ArmStudy;

/// Peak pCO₂ above which growth inhibition starts (primer §2: 80–150 mmHg);
/// the report calls out accumulation above this level.
pub const PCO2_WARNING_MMHG: f64 = 80.0;

/// File names written in the output directory.
/// Name of the translated process file (the target at the criterion's
/// set-points, before any adjustment) in the output directory.
pub const TRANSLATED_PROCESS: &str = "translated-process.toml";
/// Name of the adjusted process file (the recommended set-points; equal to
/// the translated ones when the decision is "no change").
pub const ADJUSTED_PROCESS: &str = "adjusted-process.toml";
/// The copy of a `--model` model file in the output folder.
pub const MODEL_FILE: &str = "model.toml";

/// Settings of a transfer study.
#[derive(Debug, Clone)]
pub struct StudyOptions {
    /// The source process file (developed on the sending site's vessel).
    pub process: PathBuf,
    /// Target equipment: catalog id or path.
    pub to: String,
    /// Scale-up criterion held constant from source to target (P/V, tip speed,
    /// kLa, …; default P/V).
    pub criterion: Criterion,
    /// Target initial volume, L (default: scaled by maximum working volumes).
    pub volume_l: Option<f64>,
    /// Explicit target agitation, rpm, instead of the criterion's.
    pub agitation_rpm: Option<f64>,
    /// Explicit target sparge gas flow, SLPM, instead of the criterion's.
    pub sparge_slpm: Option<f64>,
    /// Output directory; created if missing. Every file is written atomically.
    pub out: PathBuf,
    /// Monte Carlo runs per arm (source, target, adjusted, lots), at least 2.
    pub runs: usize,
    /// Base sample count N of the Sobol' design (Saltelli: N (k + 2) runs for k
    /// factors), at least 2.
    pub sobol_base: usize,
    /// Seed of every stochastic step: the same seed gives byte-identical files.
    pub seed: u64,
    /// An alternative raw-material lot file ([`lots`]) to compare on the target.
    pub lots: Option<PathBuf>,
    /// Relative tolerance per metric for the adjustment and the comparability
    /// probability ([`default_tolerances`] unless given).
    pub tolerances: Vec<Tolerance>,
    /// Nelder–Mead settings of the adjustment ([`default_optimiser`]).
    pub optimiser: Options,
    /// Show progress bars on standard error.
    pub progress: bool,
    /// The kinetic model to run instead of the one the process names (a
    /// calibrated model file or registry model, `--model`). Its text is
    /// copied into `out` as [`MODEL_FILE`], which the translated and
    /// adjusted process files then name.
    pub model: Option<biotwin_core::simulation::model_source::ResolvedModel>,
    /// `--strict`: any warning makes the command fail (exit 2) after the
    /// files are written.
    pub strict: bool,
}

impl StudyOptions {
    /// Defaults of the command line: p_per_v, 10,000 runs, 1,024 base
    /// samples, seed 1, default tolerances, 4 optimiser starts.
    pub fn new(
        process: impl Into<PathBuf>,
        to: impl Into<String>,
        out: impl Into<PathBuf>,
    ) -> Self {
        StudyOptions {
            process: process.into(),
            to: to.into(),
            criterion: Criterion::PPerV,
            volume_l: None,
            agitation_rpm: None,
            sparge_slpm: None,
            out: out.into(),
            runs: 10_000,
            sobol_base: 1024,
            seed: 1,
            lots: None,
            tolerances: default_tolerances(),
            optimiser: default_optimiser(1),
            progress: false,
            model: None,
            strict: false,
        }
    }
}

/// Optimiser settings of the adjustment: 4 starts (the translated point and
/// three Sobol points), at most 300 iterations each, tolerance 1e-6 on `J`.
pub fn default_optimiser(seed: u64) -> Options {
    Options {
        max_iters: 300,
        tol: 1e-6,
        starts: 4,
        seed,
    }
}

/// Where the target equipment came from and its translated set-points.
#[derive(Debug, Clone)]
pub struct Translation {
    /// The source vessel (the process file's equipment).
    pub source: Equipment,
    /// The target vessel (`--to`).
    pub target: Equipment,
    /// The target equipment file the `--to` id or path resolved to.
    pub target_path: PathBuf,
    /// The scale-up calculator's comparison of source and target under every
    /// criterion, with the chosen one marked.
    pub report: ScaleUpReport,
    /// The criterion the set-points follow.
    pub criterion: Criterion,
    /// Target initial volume the set-points are computed at, L.
    pub criterion_volume_l: f64,
    /// Agitation the criterion gives, rpm.
    pub criterion_agitation_rpm: f64,
    /// Sparge gas flow the criterion gives, SLPM (standard L/min).
    pub criterion_sparge_slpm: f64,
    /// Agitation the target runs at, rpm: the criterion's unless
    /// [`StudyOptions::agitation_rpm`] overrides it.
    pub agitation_rpm: f64,
    /// Sparge gas flow the target runs at, SLPM: the criterion's unless
    /// [`StudyOptions::sparge_slpm`] overrides it.
    pub sparge_slpm: f64,
}

/// Everything a study computed.
#[derive(Debug, Clone)]
pub struct TransferStudy {
    /// The settings the study ran with.
    pub options: StudyOptions,
    /// The source process as loaded and validated.
    pub source_def: ProcessDefinition,
    /// The translated process (as written to [`TRANSLATED_PROCESS`]), loaded back.
    pub target_def: ProcessDefinition,
    /// Step 1: the target equipment and its translated set-points.
    pub translation: Translation,
    /// Monte Carlo of the source process on the source vessel (the reference).
    pub source: ArmStudy,
    /// Monte Carlo of the translated process on the target vessel.
    pub target: ArmStudy,
    /// Monte Carlo of the adjusted process on the target vessel.
    pub adjusted: ArmStudy,
    /// Sobol' and Morris indices of the target's metrics.
    pub sensitivity: SensitivityStudy,
    /// The adjustment's decision, set-points and metric matches.
    pub adjustment: Adjustment,
    /// Current against alternative raw-material lots on the target (with `--lots`).
    pub lots: Option<LotComparison>,
    /// Feasibility of the nominal translated and adjusted batches on the
    /// target over their whole trajectories.
    pub target_feasibility: Feasibility,
    /// Feasibility of the nominal adjusted batch on the target.
    pub adjusted_feasibility: Feasibility,
    /// The recommended process in absolute units at the receiving site.
    pub site_recipe: site_recipe::SiteRecipe,
    /// Every number the study used that its file marks assumed.
    pub assumptions: Vec<assumptions::Assumption>,
    /// Every warning, most important first (listed in full in the report,
    /// `transfer.json` and on the console).
    pub warnings: Vec<Warning>,
    /// sha256 of the translated and adjusted process files.
    pub translated_sha256: String,
    /// sha256 of the adjusted process file.
    pub adjusted_sha256: String,
    /// The calibrated model's recipe discrepancy δ at each arm's nominal
    /// process (`None`: the model carries none).
    pub discrepancy: Option<ArmsDiscrepancy>,
}

/// δ of a calibrated model (`biotwin fit --discrepancy`) at the nominal
/// process of each arm: applied where every condition lies within its
/// calibration range (widened by
/// [`biotwin_ml::calibration::discrepancy::RANGE_MARGIN`]), refused with the
/// reason elsewhere (expected at a large vessel for agitation in rpm).
#[derive(Debug, Clone, serde::Serialize)]
pub struct ArmsDiscrepancy {
    /// At the source process.
    pub source: Applied,
    /// At the translated process on the target vessel.
    pub target: Applied,
    /// At the adjusted (recommended) process on the target vessel.
    pub adjusted: Applied,
}

impl ArmsDiscrepancy {
    /// The arms with their report labels.
    pub fn arms(&self) -> [(&'static str, &Applied); 3] {
        [
            ("source", &self.source),
            ("target, translated", &self.target),
            ("target, recommended", &self.adjusted),
        ]
    }
}

fn resolve_target(def: &ProcessDefinition, to: &str) -> Result<PathBuf, Error> {
    let base = def
        .path
        .parent()
        .map(|p| p.to_path_buf())
        .unwrap_or_default();
    let catalog = catalog_dir(&base, Catalog::Equipment)
        .unwrap_or_else(|| PathBuf::from("process-models/equipment"));
    resolve_equipment(to, &std::env::current_dir().unwrap_or_default(), &catalog).map_err(|d| {
        Error::from(Diagnostic {
            file: "<command line>".into(),
            line: None,
            field: "--to".into(),
            ..d
        })
    })
}

/// Step 1: the scale-up comparison and the target's set-points.
///
/// Loads the source and target equipment, takes the source's operating
/// point from the nominal scenario, sizes the target's initial volume
/// ([`StudyOptions::volume_l`], or the source's scaled by the two vessels'
/// maximum working volumes), and runs the scale-up calculator
/// ([`biotwin_core::scaleup::scale_up`]) with `opts.criterion` chosen.
///
/// # Errors
///
/// An input error ([`Error::Core`] holding
/// [`biotwin_core::error::Error::Input`]) when the process names no
/// equipment, `--to` resolves to no equipment file, a volume or set-point
/// override is not a positive number, or the recipe's fed-batch at the
/// target's initial volume would overflow the target's maximum working
/// volume (the message names the largest initial volume that fits); an I/O
/// or input error when an equipment file cannot be read or is invalid.
///
/// # Example
///
/// The shipped 3 L bench process translated to the 2000 L single-use
/// vessel with a drilled-pipe sparger at constant power per volume:
///
/// ```
/// use biotwin_core::scaleup::Criterion;
/// use biotwin_core::simulation::{Scenario, load_process};
/// use biotwin_transfer::{StudyOptions, translate_process};
///
/// let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
/// let process = root.join("process-models/processes/cho-platform-3l.toml");
/// let def = load_process(&process)?;
/// let scenario = Scenario::from_definition(&def)?;
/// let to = root.join("process-models/equipment/sut-2000l-pbt-drilled.toml");
/// let opts = StudyOptions::new(&process, to.to_str().unwrap(), "unused-out");
///
/// let t = translate_process(&def, &scenario, &opts)?;
/// assert_eq!(t.criterion, Criterion::PPerV);
/// let src = &t.report.source_conditions;
/// let tgt = &t.report.for_criterion(Criterion::PPerV).unwrap().conditions;
/// // The criterion holds power per volume (W/m³) and the gas rate (vvm).
/// let rel = |a: f64, b: f64| (a / b - 1.0).abs();
/// assert!(rel(tgt.ungassed_p_per_v_w_per_m3, src.ungassed_p_per_v_w_per_m3) < 1e-9);
/// assert!(rel(tgt.vvm_per_min, src.vvm_per_min) < 1e-9);
/// // At equal P/V the larger impeller turns slower with a higher tip speed.
/// assert!(tgt.agitation_rpm < src.agitation_rpm);
/// assert!(tgt.tip_speed_m_per_s > src.tip_speed_m_per_s);
/// // The set-points the target runs at: the criterion's to 4 significant
/// // digits (no override given), inside the target's working volume.
/// assert_eq!(t.agitation_rpm, t.criterion_agitation_rpm);
/// assert!(rel(t.agitation_rpm, tgt.agitation_rpm) < 1e-3);
/// let (v_min_m3, v_max_m3) = t.target.working_volume_range_m3();
/// let v_m3 = t.criterion_volume_l * 1e-3;
/// assert!(v_min_m3 <= v_m3 && v_m3 <= v_max_m3);
/// # Ok::<(), biotwin_transfer::Error>(())
/// ```
pub fn translate_process(
    def: &ProcessDefinition,
    scenario: &Scenario,
    opts: &StudyOptions,
) -> Result<Translation, Error> {
    let Some(src_path) = &def.equipment_path else {
        return Err(def
            .diag(
                "process.equipment",
                "an equipment reference (the source vessel)",
                "none",
            )
            .into());
    };
    let source = Equipment::load(src_path)?;
    let target_path = resolve_target(def, &opts.to)?;
    let target = Equipment::load(&target_path)?;
    let op = translate::operating_point(scenario)?;
    let v_target = match opts.volume_l {
        Some(v) if v.is_finite() && v > 0.0 => v * 1e-3,
        Some(v) => {
            return Err(CoreError::input(
                "<command line>",
                "--volume-l",
                "a positive volume in L",
                v.to_string(),
            )
            .into());
        }
        None => scaleup::default_target_volume_m3(&source, op.volume_m3, &target),
    };
    check_target_volume(scenario, &target, v_target, opts.volume_l.is_some())?;
    let mut report = scaleup::scale_up(
        &source,
        &op,
        &target,
        Some(v_target),
        &ScaleUpParameters::default(),
    )?;
    report.choose(opts.criterion);
    let sp = report.set_points(opts.criterion).ok_or_else(|| {
        CoreError::input(
            "<command line>",
            "--criterion",
            "a criterion the calculator evaluated",
            opts.criterion.to_string(),
        )
    })?;
    // Written into the process file and run: rounded first.
    let sp = translate::rounded(sp, &target);
    for (flag, v) in [
        ("--agitation-rpm", opts.agitation_rpm),
        ("--sparge-slpm", opts.sparge_slpm),
    ] {
        if let Some(v) = v
            && !(v.is_finite() && v > 0.0)
        {
            return Err(CoreError::input(
                "<command line>",
                flag,
                "a positive number",
                v.to_string(),
            )
            .into());
        }
    }
    Ok(Translation {
        source,
        target,
        target_path,
        criterion: opts.criterion,
        criterion_volume_l: sp.volume_l,
        criterion_agitation_rpm: sp.agitation_rpm,
        criterion_sparge_slpm: sp.sparge_gas_slpm,
        agitation_rpm: opts.agitation_rpm.unwrap_or(sp.agitation_rpm),
        sparge_slpm: opts.sparge_slpm.unwrap_or(sp.sparge_gas_slpm),
        report,
    })
}

/// The recipe's fed-batch at the target's initial volume must stay within
/// the target's maximum working volume (initial volume + feeds − samples;
/// base addition is checked over the trajectory by the feasibility check).
/// A volume that overflows is refused here, naming `--volume-l` and the
/// largest initial volume that fits, rather than at the generated file.
fn check_target_volume(
    scenario: &Scenario,
    target: &Equipment,
    v_target_m3: f64,
    explicit: bool,
) -> Result<(), Error> {
    let mut s = scenario.clone();
    let Ok(a) = s.address("initial.volume_l", &[]) else {
        return Ok(());
    };
    s.set(&a, v_target_m3 * 1e3);
    let (peak, at_s) = peak_volume_m3(&s.recipe);
    let (vmin, vmax) = target.working_volume_range_m3();
    if peak <= vmax * (1.0 + 1e-9) {
        return Ok(());
    }
    // Relative feeds scale with the initial volume, samples do not: the
    // largest initial volume that fits, by one secant step from here.
    let fit_l = v_target_m3 * vmax / peak * 1e3;
    Err(CoreError::input(
        "<command line>",
        if explicit {
            "--volume-l"
        } else {
            "target volume (default: source volume × ratio of maximum working volumes)"
        },
        format!(
            "an initial volume whose fed-batch stays within the maximum working volume of `{}`, {} L (minimum {} L): at most about {:.0} L for this recipe's feeds, less the base added for pH control (checked over the trajectory)",
            target.id(),
            vmax * 1e3,
            vmin * 1e3,
            fit_l.floor()
        ),
        format!(
            "{} L, which the recipe's feeds bring to {:.0} L at {:.0} h ({:.0} % of the maximum)",
            v_target_m3 * 1e3,
            peak * 1e3,
            at_s / 3600.0,
            100.0 * peak / vmax
        ),
    ).into())
}

fn check_counts(opts: &StudyOptions) -> Result<(), Error> {
    if opts.runs < 2 {
        return Err(CoreError::input(
            "<command line>",
            "--runs",
            "at least 2 Monte Carlo runs",
            opts.runs.to_string(),
        )
        .into());
    }
    if opts.sobol_base < 2 {
        return Err(CoreError::input(
            "<command line>",
            "--sobol-base",
            "at least 2 base samples (a power of two, e.g. 1024)",
            opts.sobol_base.to_string(),
        )
        .into());
    }
    for (i, t) in opts.tolerances.iter().enumerate() {
        if !(t.relative_pct.is_finite() && t.relative_pct > 0.0) {
            return Err(CoreError::input(
                "<command line>",
                format!("--tolerance[{i}]"),
                "a positive relative tolerance in %",
                format!("{}={}", t.metric, t.relative_pct),
            )
            .into());
        }
    }
    Ok(())
}

/// Runs the whole study (steps 1-5 of the module docs) and writes into
/// `opts.out` the translated and adjusted process files with copies of the
/// inputs they name; [`write_outputs`] then writes the reports.
///
/// # Errors
///
/// Passed through from the core ([`Error::Core`]): an input error for bad
/// options (fewer than 2 runs or base samples, a bad `--to`, volume or
/// set-point) or input files, an I/O error when a file cannot be read or
/// written, a numerical error when a nominal run or the adjustment fails.
/// [`Error::Sensitivity`] when model runs of the sensitivity analysis fail;
/// [`Error::Figure`] when a figure cannot be drawn. Failed Monte Carlo runs
/// are counted in [`ArmStudy::failed`], not errors.
pub fn run_study(opts: &StudyOptions) -> Result<TransferStudy, Error> {
    check_counts(opts)?;
    let lots = opts.lots.as_deref().map(Lots::load).transpose()?;
    // A process naming a registered model (`model = "registry:NAME"`) is
    // loaded with the model the caller resolved.
    let mut def = match &opts.model {
        Some(m)
            if biotwin_core::definition::process::registry_model_of(&opts.process).is_some() =>
        {
            biotwin_core::simulation::load_process_with_model(&opts.process, &m.model)?
        }
        _ => load_process(&opts.process)?,
    };
    let model_copy = opts.out.join(MODEL_FILE);
    if let Some(m) = &opts.model {
        std::fs::create_dir_all(&opts.out).map_err(|e| CoreError::io(&opts.out, e))?;
        write_atomic(&model_copy, m.text.as_bytes())?;
        biotwin_core::simulation::model_source::with_model_at(&mut def, m, &model_copy)?;
    }
    let mut scenario = Scenario::from_definition(&def)?;
    let names = study::metric_names(&scenario);
    for (i, t) in opts.tolerances.iter().enumerate() {
        if !names.contains(&t.metric) {
            return Err(CoreError::input(
                "<command line>",
                format!("--tolerance[{i}]"),
                format!("a metric of the model: {}", names.join(", ")),
                format!("`{}`", t.metric),
            )
            .into());
        }
    }
    let translation = translate_process(&def, &scenario, opts)?;
    std::fs::create_dir_all(&opts.out).map_err(|e| CoreError::io(&opts.out, e))?;
    // The written process files name copies of their inputs in the output
    // folder, so the folder runs wherever it is copied.
    let refs = translate::References::copied_into(&def, &translation.target_path, &opts.out)?;

    // The target as a process file the receiving site can run as is.
    let translated_path = opts.out.join(TRANSLATED_PROCESS);
    let text = translate::translated_process(
        &def,
        &refs,
        &translation.target,
        translation.criterion,
        translation.criterion_volume_l,
        translation.agitation_rpm,
        translation.sparge_slpm,
    );
    write_atomic(&translated_path, text.as_bytes())?;
    let target_def = load_process(&translated_path)?;
    let mut target_scenario = Scenario::from_definition(&target_def)?;

    let specs = def.specifications.as_ref();
    let limit = ScaleUpParameters::default().pco2_limit_mmhg;
    let source_inputs = uncertain_inputs(&def, &mut scenario)?;
    let target_inputs = uncertain_inputs(&target_def, &mut target_scenario)?;
    let source = study::run_arm(
        "source",
        &scenario,
        &source_inputs,
        specs,
        opts.runs,
        opts.seed,
        limit,
        opts.progress,
    )?;
    let target = study::run_arm(
        "target (translated)",
        &target_scenario,
        &target_inputs,
        specs,
        opts.runs,
        opts.seed,
        limit,
        opts.progress,
    )?;

    let params = ScaleUpParameters::default();
    let target_feasibility =
        feasibility::check(&target_scenario, &target_scenario.simulate(true)?, &params);

    let file_factor = &target_def.model.params.file_factor;
    let mut factors =
        sensitivity::default_factors(&mut target_scenario, file_factor, &translation.target);
    let (fitted_factors, left_out) =
        sensitivity::calibration_factors(&target_def, &mut target_scenario);
    factors.extend(fitted_factors);
    let mut sens = sensitivity::run(
        &target_scenario,
        factors,
        opts.sobol_base,
        opts.seed,
        opts.progress,
    )?;
    sens.left_out = left_out;

    let variables =
        adjust::default_variables(&mut target_scenario, file_factor, &translation.target);
    let spinner = study::spinner("Adjustment (Nelder-Mead)", opts.progress);
    let adjustment = adjust::adjust(
        &target_scenario,
        &source.nominal,
        &opts.tolerances,
        &variables,
        &opts.optimiser,
    )?;
    spinner.finish_and_clear();
    let x: Vec<f64> = adjustment
        .set_points
        .iter()
        .map(|s| s.recommended)
        .collect();
    let adjusted_scenario = adjust::apply(&target_scenario, &variables, &x);
    let adjusted = study::run_arm(
        "target (adjusted)",
        &adjusted_scenario,
        &target_inputs,
        specs,
        opts.runs,
        opts.seed,
        limit,
        opts.progress,
    )?;
    let adjusted_nominal = adjusted_scenario.simulate(true)?;
    let adjusted_feasibility = feasibility::check(&adjusted_scenario, &adjusted_nominal, &params);
    let site_recipe = site_recipe::site_recipe(&adjusted_scenario, &adjusted_nominal);
    let adjusted_path = opts.out.join(ADJUSTED_PROCESS);
    let rec = |name: &str, default: f64| {
        adjustment
            .set_points
            .iter()
            .find(|s| s.name == name)
            .map_or(default, |s| s.recommended)
    };
    let extra: Vec<(String, f64)> = adjustment
        .set_points
        .iter()
        .filter(|s| {
            !s.name.starts_with("setpoints.agitation")
                && !s.name.starts_with("setpoints.sparge")
                && s.recommended != s.translated
        })
        .map(|s| (s.name.clone(), s.recommended))
        .collect();
    let adjusted_text = translate::translated_process_with(
        &def,
        &refs,
        &translation.target,
        translation.criterion,
        translation.criterion_volume_l,
        rec("setpoints.agitation_rpm", translation.agitation_rpm),
        rec("setpoints.sparge_slpm", translation.sparge_slpm),
        &extra,
    );
    write_atomic(&adjusted_path, adjusted_text.as_bytes())?;

    let lots = match lots {
        None => None,
        Some(l) => {
            let alt_inputs =
                l.alternative_inputs(&mut target_scenario, file_factor, &target_inputs)?;
            let alternative = study::run_arm(
                &format!("target, lot {}", l.id),
                &target_scenario,
                &alt_inputs,
                specs,
                opts.runs,
                opts.seed,
                limit,
                opts.progress,
            )?;
            Some(LotComparison {
                id: l.id.clone(),
                supplier: l.supplier.clone(),
                description: l.description.clone(),
                file: l.path.display().to_string(),
                sha256: l.sha256.clone(),
                addresses: l.entries.iter().map(|e| e.parameter.clone()).collect(),
                current: target.clone(),
                alternative,
            })
        }
    };

    let reference = source.nominal.clone();
    let mut source = source;
    let mut target = target;
    let mut adjusted = adjusted;
    let mut lots = lots;
    for arm in [&mut source, &mut target, &mut adjusted] {
        arm.set_comparability(&names, &reference, &opts.tolerances);
    }
    if let Some(l) = lots.as_mut() {
        l.current
            .set_comparability(&names, &reference, &opts.tolerances);
        l.alternative
            .set_comparability(&names, &reference, &opts.tolerances);
    }
    // The calibrated model's recipe discrepancy at each arm's nominal
    // process (docs/fit.md, "In the jobs").
    let stored = def
        .model
        .calibration
        .as_ref()
        .and_then(|c| c.discrepancy.as_ref());
    let discrepancy = stored.map(|_| {
        let at = |sc: &Scenario, ff: &[f64], arm: &ArmStudy| {
            discrepancy::apply(stored, sc, ff, |q| arm.nominal_of(q)).unwrap_or(Applied::Refused {
                reason: "no discrepancy".into(),
            })
        };
        ArmsDiscrepancy {
            source: at(&scenario, &def.model.params.file_factor, &source),
            target: at(&target_scenario, file_factor, &target),
            adjusted: at(&adjusted_scenario, file_factor, &adjusted),
        }
    });
    let mut study = TransferStudy {
        options: opts.clone(),
        translated_sha256: biotwin_core::definition::process::file_sha256(&translated_path),
        adjusted_sha256: biotwin_core::definition::process::file_sha256(&adjusted_path),
        source_def: def,
        target_def,
        translation,
        source,
        target,
        adjusted,
        sensitivity: sens,
        adjustment,
        lots,
        target_feasibility,
        adjusted_feasibility,
        site_recipe,
        assumptions: Vec::new(),
        warnings: Vec::new(),
        discrepancy,
    };
    study.warnings = report::warnings(&study);
    study.assumptions = assumptions::collect(&study);
    write_outputs(&study, &opts.out)?;
    Ok(study)
}

/// `--strict`: the study's warnings as an input error (exit 2), after its
/// files were written.
pub fn strict_check(study: &TransferStudy) -> Result<(), Error> {
    if study.options.strict && !study.warnings.is_empty() {
        return Err(feasibility::strict_error(&study.options.process, &study.warnings).into());
    }
    Ok(())
}

/// The self-contained HTML report written beside `report.md`.
pub const HTML_REPORT: &str = "report.html";

/// Writes `transfer.json`, `report.md`, `report.html`, `trajectories.svg`
/// and `sobol.svg` (each atomically).
pub fn write_outputs(study: &TransferStudy, dir: &Path) -> Result<(), Error> {
    let json = package::to_json(study)?;
    write_atomic(&dir.join("transfer.json"), &json)?;
    let svg = plots::trajectories_svg(study).map_err(|source| Error::Figure {
        path: dir.join("trajectories.svg"),
        source,
    })?;
    let sobol = plots::sobol_svg(study);
    write_atomic(&dir.join("trajectories.svg"), svg.as_bytes())?;
    write_atomic(&dir.join("sobol.svg"), sobol.as_bytes())?;
    write_atomic(&dir.join("report.md"), report::markdown(study).as_bytes())?;
    write_atomic(
        &dir.join(HTML_REPORT),
        html::report(study, &svg, &sobol).as_bytes(),
    )?;
    Ok(())
}
