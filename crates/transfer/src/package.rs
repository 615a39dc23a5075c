//! `transfer.json`: the machine-readable transfer package, schema
//! `biotwin.transfer/2` (documented field by field in `docs/transfer.md`).
//!
//! Versioning: fields may be added within `/1`; renaming, removing or
//! changing the meaning or unit of a field bumps the version.

use serde::Serialize;

use crate::error::Error;
use biotwin_core::definition::process::InputFile;
use biotwin_core::error::Error as CoreError;
use biotwin_core::montecarlo::Summary;
use biotwin_core::optimise::Options;
use biotwin_core::scaleup::{ScaleUpReport, VesselConditions};
use biotwin_core::simulation::feasibility::{Feasibility, Warning};

use super::TransferStudy;
use super::adjust::{Adjustment, Tolerance};
use super::lots::LotComparison;
use super::sensitivity::SensitivityStudy;
use super::study::ArmStudy;

/// Schema id written as `schema` in `transfer.json`. Fields may be added
/// within a version; removing or renaming a field, or changing its meaning
/// or unit, bumps it (docs/transfer.md).
pub const SCHEMA: &str = "biotwin.transfer/2";

#[derive(Serialize)]
struct Package<'a> {
    schema: &'static str,
    biotwin_version: &'static str,
    seed: u64,
    settings: Settings<'a>,
    process: ProcessInfo<'a>,
    model: ModelInfo<'a>,
    inputs: &'a [InputFile],
    source: Side<'a>,
    target: Side<'a>,
    translated_set_points: SetPoints,
    translated_process: FileRef,
    adjusted_process: FileRef,
    scale_up: &'a ScaleUpReport,
    predictions: Predictions<'a>,
    sensitivity: &'a SensitivityStudy,
    adjustment: &'a Adjustment,
    recommended_set_points: Vec<NamedValue>,
    lots: Option<&'a LotComparison>,
    feasibility: FeasibilityArms<'a>,
    site_recipe: &'a super::site_recipe::SiteRecipe,
    assumptions: &'a [super::assumptions::Assumption],
    warnings: &'a [Warning],
    /// The calibrated model's recipe discrepancy at each arm's nominal
    /// process (present only for a model that carries one).
    #[serde(skip_serializing_if = "Option::is_none")]
    model_discrepancy: Option<&'a super::ArmsDiscrepancy>,
}

/// Feasibility of the nominal translated and adjusted batches on the target.
#[derive(Serialize)]
struct FeasibilityArms<'a> {
    target: &'a Feasibility,
    adjusted: &'a Feasibility,
}

#[derive(Serialize)]
struct Settings<'a> {
    criterion: String,
    monte_carlo_runs: usize,
    sobol_base_samples: usize,
    tolerances: &'a [Tolerance],
    optimiser: &'a Options,
    explicit_agitation_rpm: Option<f64>,
    explicit_sparge_slpm: Option<f64>,
}

#[derive(Serialize)]
struct ProcessInfo<'a> {
    id: &'a str,
    name: &'a str,
    specifications: Option<&'a str>,
}

#[derive(Serialize)]
struct ModelInfo<'a> {
    id: &'a str,
    family: &'a str,
    version: &'a str,
    /// sha256 of the model file the study ran.
    sha256: String,
    /// Where `--model` resolved it (a file, or `registry:DIR/ID`); `None`:
    /// the model the process file names.
    resolved_from: Option<String>,
    /// For a calibrated model: the dataset it was fitted to, its hash, and
    /// the parameters drawn jointly from the fit's covariance.
    calibration: Option<CalibrationInfo<'a>>,
}

#[derive(Serialize)]
struct CalibrationInfo<'a> {
    base_model: &'a str,
    dataset: &'a str,
    dataset_sha256: &'a str,
    created_utc: &'a str,
    sampled_jointly: Vec<&'a str>,
}

#[derive(Serialize)]
struct Side<'a> {
    equipment_id: &'a str,
    equipment_name: &'a str,
    equipment_file: String,
    equipment_sha256: String,
    conditions: &'a VesselConditions,
}

#[derive(Serialize)]
struct SetPoints {
    volume_l: f64,
    agitation_rpm: f64,
    sparge_slpm: f64,
    vvm_per_min: f64,
}

#[derive(Serialize)]
struct FileRef {
    file: &'static str,
    sha256: String,
}

#[derive(Serialize)]
struct NamedValue {
    address: String,
    value: f64,
}

#[derive(Serialize)]
struct Predictions<'a> {
    source: Arm<'a>,
    target: Arm<'a>,
    adjusted: Arm<'a>,
}

#[derive(Serialize)]
struct Arm<'a> {
    nominal: Vec<NamedValue>,
    monte_carlo: MonteCarlo<'a>,
}

#[derive(Serialize)]
struct MonteCarlo<'a> {
    runs: usize,
    failed: usize,
    first_failure: Option<&'a str>,
    prob_all_in_spec: Option<f64>,
    prob_peak_pco2_within_limit: f64,
    pco2_limit_mmhg: f64,
    prob_comparable_to_source: Option<f64>,
    summary: &'a [Summary],
}

fn arm(a: &ArmStudy) -> Arm<'_> {
    Arm {
        nominal: a
            .nominal
            .iter()
            .map(|(n, v)| NamedValue {
                address: n.clone(),
                value: *v,
            })
            .collect(),
        monte_carlo: MonteCarlo {
            runs: a.runs,
            failed: a.failed,
            first_failure: a.first_failure.as_deref(),
            prob_all_in_spec: a.prob_all_in_spec,
            prob_peak_pco2_within_limit: a.prob_peak_pco2_within_limit,
            pco2_limit_mmhg: a.pco2_limit_mmhg,
            prob_comparable_to_source: a.prob_comparable_to_source,
            summary: &a.summary,
        },
    }
}

fn side<'a>(eq: &'a biotwin_core::equipment::Equipment, c: &'a VesselConditions) -> Side<'a> {
    Side {
        equipment_id: eq.id(),
        equipment_name: eq.name(),
        equipment_file: eq.path().display().to_string(),
        equipment_sha256: biotwin_core::definition::process::file_sha256(eq.path()),
        conditions: c,
    }
}

/// The package as pretty-printed JSON bytes.
pub fn to_json(study: &TransferStudy) -> Result<Vec<u8>, Error> {
    let t = &study.translation;
    let target_conditions = t
        .report
        .for_criterion(t.criterion)
        .map(|r| &r.conditions)
        .unwrap_or(&t.report.source_conditions);
    let def = &study.source_def;
    let vvm = t.sparge_slpm / t.criterion_volume_l;
    let doc = Package {
        schema: SCHEMA,
        biotwin_version: env!("CARGO_PKG_VERSION"),
        seed: study.options.seed,
        settings: Settings {
            criterion: t.criterion.to_string(),
            monte_carlo_runs: study.options.runs,
            sobol_base_samples: study.options.sobol_base,
            tolerances: &study.options.tolerances,
            optimiser: &study.options.optimiser,
            explicit_agitation_rpm: study.options.agitation_rpm,
            explicit_sparge_slpm: study.options.sparge_slpm,
        },
        process: ProcessInfo {
            id: &def.id,
            name: &def.name,
            specifications: def.specifications.as_ref().map(|s| s.id.as_str()),
        },
        model: ModelInfo {
            id: &def.model.id,
            family: &def.model.family,
            version: &def.model.version,
            sha256: biotwin_core::simulation::model_source::provenance_of(def).sha256,
            resolved_from: study
                .options
                .model
                .as_ref()
                .map(|m| m.provenance.source.clone()),
            calibration: def.model.calibration.as_ref().map(|c| CalibrationInfo {
                base_model: &c.base_model,
                dataset: &c.dataset,
                dataset_sha256: &c.dataset_sha256,
                created_utc: &c.created_utc,
                sampled_jointly: c
                    .covariance
                    .as_ref()
                    .map(|v| v.names.iter().map(String::as_str).collect())
                    .unwrap_or_default(),
            }),
        },
        inputs: &def.inputs,
        source: side(&t.source, &t.report.source_conditions),
        target: side(&t.target, target_conditions),
        translated_set_points: SetPoints {
            volume_l: t.criterion_volume_l,
            agitation_rpm: t.agitation_rpm,
            sparge_slpm: t.sparge_slpm,
            vvm_per_min: vvm,
        },
        translated_process: FileRef {
            file: super::TRANSLATED_PROCESS,
            sha256: study.translated_sha256.clone(),
        },
        adjusted_process: FileRef {
            file: super::ADJUSTED_PROCESS,
            sha256: study.adjusted_sha256.clone(),
        },
        scale_up: &t.report,
        predictions: Predictions {
            source: arm(&study.source),
            target: arm(&study.target),
            adjusted: arm(&study.adjusted),
        },
        sensitivity: &study.sensitivity,
        adjustment: &study.adjustment,
        recommended_set_points: study
            .adjustment
            .set_points
            .iter()
            .map(|s| NamedValue {
                address: s.name.clone(),
                value: s.recommended,
            })
            .collect(),
        lots: study.lots.as_ref(),
        feasibility: FeasibilityArms {
            target: &study.target_feasibility,
            adjusted: &study.adjusted_feasibility,
        },
        site_recipe: &study.site_recipe,
        assumptions: &study.assumptions,
        warnings: &study.warnings,
        model_discrepancy: study.discrepancy.as_ref(),
    };
    let mut v = serde_json::to_vec_pretty(&doc).map_err(|e| CoreError::io("transfer.json", e))?;
    v.push(b'\n');
    Ok(v)
}
