//! A downstream train file: harvest composition, the platform steps
//! (clarification → Protein A → low-pH hold → CEX → AEX → UF/DF) with their
//! parameters, and drug-substance specifications. [`load_train`] reads and
//! validates it; [`run_train`] carries the harvest through every step and
//! checks the drug substance against the specification.
//!
//! Units are in the field names (`volume_l`, `hold_time_min`,
//! `temperature_c`); everything is SI once loaded. A step whose table is
//! absent is skipped. The CEX step may name a column file (`column_file`,
//! relative to the train file): its first pool then sets the monomer and
//! aggregate recoveries from the mechanistic SMA simulation.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::column::{self, ColumnResult};
use super::unit_ops::clarification::Clarification;
use super::unit_ops::polishing::ClearanceStep;
use super::unit_ops::protein_a::ProteinACapture;
use super::unit_ops::stream::{AGGREGATE, DNA, HCP, MONOMER};
use super::unit_ops::ufdf::UfDf;
use super::unit_ops::viral_inactivation::LowPhHold;
use super::unit_ops::{StepReport, Stream};
use crate::error::Error;
use biotwin_core::definition::source::SourceFile;
use biotwin_core::error::{Diagnostics, Error as CoreError};

#[derive(Debug, Deserialize)]
struct TrainFile {
    name: String,
    harvest: HarvestTable,
    clarification: Option<ClarificationTable>,
    protein_a: Option<ProteinATable>,
    viral_inactivation: Option<VirusTable>,
    cex: Option<PolishTable>,
    aex: Option<PolishTable>,
    ufdf: Option<UfDfTable>,
    specification: SpecTable,
}

#[derive(Debug, Deserialize)]
struct HarvestTable {
    volume_l: f64,
    titer_g_per_l: f64,
    hmw_percent: f64,
    hcp_ng_per_ml: f64,
    dna_ng_per_ml: f64,
    log10_virus_per_ml: f64,
}

#[derive(Debug, Deserialize)]
struct ClarificationTable {
    product_yield: f64,
    hcp_removal_fraction: f64,
    dna_lrv: f64,
    flow_rate_l_per_min: f64,
}

#[derive(Debug, Deserialize)]
struct ProteinATable {
    column_volume_l: f64,
    residence_time_min: f64,
    dbc_curve_min_g_per_l: Vec<[f64; 2]>,
    load_fraction_of_dbc: f64,
    product_yield: f64,
    hcp_lrv: f64,
    dna_lrv: f64,
    virus_lrv: f64,
    elution_cv: f64,
    overhead_cv: f64,
}

#[derive(Debug, Deserialize)]
struct VirusTable {
    hold_time_min: f64,
    ph: f64,
    temperature_c: f64,
    inactivation_rate_ref_per_min: f64,
    aggregation_rate_ref_per_h: f64,
    ph_ref: f64,
    ph_per_decade: f64,
    aggregation_ph_per_decade: f64,
    activation_energy_kj_per_mol: f64,
    temperature_ref_c: f64,
    max_lrv: f64,
    product_yield: f64,
    neutralisation_volume_fraction: f64,
}

#[derive(Debug, Deserialize)]
struct PolishTable {
    monomer_yield: f64,
    aggregate_yield: f64,
    hcp_lrv: f64,
    dna_lrv: f64,
    virus_lrv: f64,
    volume_ratio: f64,
    flow_rate_l_per_min: f64,
    #[serde(default)]
    column_file: Option<String>,
}

#[derive(Debug, Deserialize)]
struct UfDfTable {
    membrane_area_m2: f64,
    mass_transfer_m_per_s: f64,
    gel_concentration_g_per_l: f64,
    diafiltration_concentration_g_per_l: f64,
    diavolumes: f64,
    final_concentration_g_per_l: f64,
    sieving_hcp: f64,
    sieving_dna: f64,
    buffer_sieving: f64,
    recovery_yield: f64,
}

#[derive(Debug, Deserialize)]
struct SpecTable {
    hmw_percent_max: f64,
    hcp_ppm_max: f64,
    dna_ppb_max: f64,
    concentration_g_per_l_min: f64,
    virus_lrv_min: f64,
}

/// One unit operation of a validated train.
#[derive(Debug, Clone)]
pub enum TrainStep {
    /// Centrifugation and depth filtration.
    Clarification(Clarification),
    /// Protein A capture, bind/elute cycles.
    ProteinA(ProteinACapture),
    /// Low-pH viral inactivation hold.
    ViralInactivation(LowPhHold),
    /// A polishing step; `column` is a CEX column file whose first pool sets
    /// the monomer and aggregate recoveries.
    Polishing(ClearanceStep, Option<PathBuf>),
    /// Ultrafiltration / diafiltration to the final concentration.
    UfDf(UfDf),
}

/// Drug-substance release limits, from the train file's `[specification]`.
#[derive(Debug, Clone)]
pub struct Specification {
    /// Largest aggregate share of product, % (HMW by SEC).
    pub hmw_percent_max: f64,
    /// Largest host-cell protein, ppm (ng per mg product).
    pub hcp_ppm_max: f64,
    /// Largest host-cell DNA, ppb (pg per mg product).
    pub dna_ppb_max: f64,
    /// Smallest product concentration, g/L.
    pub concentration_g_per_l_min: f64,
    /// Smallest total virus clearance over all steps, log10.
    pub virus_lrv_min: f64,
}

/// A validated downstream train: the harvest and the steps it runs through,
/// in file order. Read with [`load_train`], run with [`run_train`].
#[derive(Debug, Clone)]
pub struct Train {
    /// Train name, from the file.
    pub name: String,
    /// The harvest stream entering the first step.
    pub harvest: Stream,
    /// The steps present in the file, in platform order.
    pub steps: Vec<TrainStep>,
    /// Drug-substance specification the result is checked against.
    pub specification: Specification,
}

/// One drug-substance attribute against its limit.
#[derive(Debug, Clone, PartialEq)]
pub struct CqaCheck {
    /// Attribute with its unit, e.g. `HCP (ppm)`.
    pub attribute: String,
    /// Value of the drug substance, in the attribute's unit.
    pub value: f64,
    /// The limit as text, e.g. `≤ 100`.
    pub limit: String,
    /// Whether the value meets the limit.
    pub pass: bool,
}

/// Result of [`run_train`]: every step's report, the drug substance and its
/// specification checks.
#[derive(Debug, Clone)]
pub struct TrainResult {
    /// One report per step, in order.
    pub steps: Vec<StepReport>,
    /// The stream leaving the last step.
    pub drug_substance: Stream,
    /// Monomer out of the last step over monomer in the harvest, 0-1.
    pub overall_yield: f64,
    /// Sum of the steps' virus LRVs.
    pub total_virus_lrv: f64,
    /// The drug substance against each specification limit.
    pub checks: Vec<CqaCheck>,
    /// The CEX column run, when the CEX step used one.
    pub cex_column: Option<ColumnResult>,
}

/// Reads and validates a train file.
pub fn load_train(path: impl AsRef<Path>) -> Result<Train, Error> {
    let src = SourceFile::read(path.as_ref())?;
    Ok(validate(&src)?)
}

fn validate(src: &SourceFile) -> Result<Train, Diagnostics> {
    let f: TrainFile = src.parse()?;
    // RefCell: the range checker and the ad-hoc checks both report problems.
    let d = std::cell::RefCell::new(Diagnostics::new());
    let check = |field: &str, v: f64, lo: f64, hi: f64, what: &str| {
        if !(v.is_finite() && v >= lo && v <= hi) {
            d.borrow_mut()
                .push(src.diag(field, format!("{what} in [{lo}, {hi}]"), v.to_string()));
        }
        v
    };
    const BIG: f64 = 1e12;
    let h = &f.harvest;
    let volume = check("harvest.volume_l", h.volume_l, 1e-6, BIG, "a volume in L") * 1e-3;
    let titer = check(
        "harvest.titer_g_per_l",
        h.titer_g_per_l,
        0.0,
        200.0,
        "a titer in g/L",
    );
    let hmw = check(
        "harvest.hmw_percent",
        h.hmw_percent,
        0.0,
        100.0,
        "a percentage",
    );
    let hcp = check("harvest.hcp_ng_per_ml", h.hcp_ng_per_ml, 0.0, 1e8, "ng/mL");
    let dna = check("harvest.dna_ng_per_ml", h.dna_ng_per_ml, 0.0, 1e8, "ng/mL");
    let virus = check(
        "harvest.log10_virus_per_ml",
        h.log10_virus_per_ml,
        -10.0,
        20.0,
        "log10 particles/mL",
    );
    // g/L = kg/m³; ng/mL = 1e-6 kg/m³; log10 per mL + 6 = log10 per m³
    let harvest = Stream::harvest(
        volume,
        titer,
        hmw / 100.0,
        hcp * 1e-6,
        dna * 1e-6,
        virus + 6.0,
    );
    let mut steps = Vec::new();
    if let Some(c) = &f.clarification {
        steps.push(TrainStep::Clarification(Clarification {
            product_yield: check(
                "clarification.product_yield",
                c.product_yield,
                0.01,
                1.0,
                "a fraction",
            ),
            hcp_removal_fraction: check(
                "clarification.hcp_removal_fraction",
                c.hcp_removal_fraction,
                0.0,
                1.0,
                "a fraction",
            ),
            dna_lrv: check(
                "clarification.dna_lrv",
                c.dna_lrv,
                0.0,
                10.0,
                "a log reduction",
            ),
            flow_rate_m3_per_s: check(
                "clarification.flow_rate_l_per_min",
                c.flow_rate_l_per_min,
                1e-6,
                BIG,
                "a flow rate in L/min",
            ) * 1e-3
                / 60.0,
        }));
    }
    if let Some(p) = &f.protein_a {
        let mut curve = Vec::new();
        for (i, [tau, dbc]) in p.dbc_curve_min_g_per_l.iter().enumerate() {
            let field = format!("protein_a.dbc_curve_min_g_per_l[{i}]");
            if !(tau.is_finite() && *tau > 0.0 && dbc.is_finite() && *dbc > 0.0) {
                d.borrow_mut().push(src.diag(
                    &field,
                    "[residence time min > 0, DBC g/L > 0]",
                    format!("[{tau}, {dbc}]"),
                ));
            }
            if i > 0 && p.dbc_curve_min_g_per_l[i - 1][0] >= *tau {
                d.borrow_mut().push(src.diag(
                    &field,
                    "residence times in increasing order",
                    format!("{tau} after {}", p.dbc_curve_min_g_per_l[i - 1][0]),
                ));
            }
            curve.push((tau * 60.0, *dbc));
        }
        if curve.is_empty() {
            d.borrow_mut().push(src.diag(
                "protein_a.dbc_curve_min_g_per_l",
                "at least one [residence time, DBC] pair",
                "none",
            ));
        }
        steps.push(TrainStep::ProteinA(ProteinACapture {
            column_volume_m3: check(
                "protein_a.column_volume_l",
                p.column_volume_l,
                1e-6,
                BIG,
                "a column volume in L",
            ) * 1e-3,
            residence_time_s: check(
                "protein_a.residence_time_min",
                p.residence_time_min,
                0.01,
                1e3,
                "a residence time in min",
            ) * 60.0,
            dbc_curve: curve,
            load_fraction_of_dbc: check(
                "protein_a.load_fraction_of_dbc",
                p.load_fraction_of_dbc,
                0.01,
                1.0,
                "a fraction",
            ),
            product_yield: check(
                "protein_a.product_yield",
                p.product_yield,
                0.01,
                1.0,
                "a fraction",
            ),
            hcp_lrv: check("protein_a.hcp_lrv", p.hcp_lrv, 0.0, 10.0, "a log reduction"),
            dna_lrv: check("protein_a.dna_lrv", p.dna_lrv, 0.0, 10.0, "a log reduction"),
            virus_lrv: check(
                "protein_a.virus_lrv",
                p.virus_lrv,
                0.0,
                10.0,
                "a log reduction",
            ),
            elution_cv: check(
                "protein_a.elution_cv",
                p.elution_cv,
                0.1,
                100.0,
                "column volumes",
            ),
            overhead_cv: check(
                "protein_a.overhead_cv",
                p.overhead_cv,
                0.0,
                1000.0,
                "column volumes",
            ),
        }));
        // The per-cycle buffer includes the elution: the eluate cannot be
        // more liquid than the buffer pumped (waste volume would be < 0).
        if p.overhead_cv < p.elution_cv {
            d.borrow_mut().push(src.diag(
                "protein_a.overhead_cv",
                format!(
                    "column volumes per cycle including the elution (>= elution_cv = {})",
                    p.elution_cv
                ),
                p.overhead_cv.to_string(),
            ));
        }
    }
    if let Some(v) = &f.viral_inactivation {
        steps.push(TrainStep::ViralInactivation(LowPhHold {
            hold_time_s: check(
                "viral_inactivation.hold_time_min",
                v.hold_time_min,
                0.0,
                1e4,
                "a hold time in min",
            ) * 60.0,
            ph: check("viral_inactivation.ph", v.ph, 2.0, 9.0, "a pH"),
            temperature_k: check(
                "viral_inactivation.temperature_c",
                v.temperature_c,
                0.0,
                60.0,
                "a temperature in °C",
            ) + 273.15,
            k_ref_per_s: check(
                "viral_inactivation.inactivation_rate_ref_per_min",
                v.inactivation_rate_ref_per_min,
                0.0,
                1e3,
                "a rate in 1/min",
            ) / 60.0,
            aggregation_k_ref_per_s: check(
                "viral_inactivation.aggregation_rate_ref_per_h",
                v.aggregation_rate_ref_per_h,
                0.0,
                10.0,
                "a rate in 1/h",
            ) / 3600.0,
            ph_ref: check("viral_inactivation.ph_ref", v.ph_ref, 2.0, 9.0, "a pH"),
            ph_per_decade: check(
                "viral_inactivation.ph_per_decade",
                v.ph_per_decade,
                0.01,
                10.0,
                "pH units per decade",
            ),
            aggregation_ph_per_decade: check(
                "viral_inactivation.aggregation_ph_per_decade",
                v.aggregation_ph_per_decade,
                0.01,
                10.0,
                "pH units per decade",
            ),
            activation_energy_j_per_mol: check(
                "viral_inactivation.activation_energy_kj_per_mol",
                v.activation_energy_kj_per_mol,
                0.0,
                500.0,
                "kJ/mol",
            ) * 1e3,
            t_ref_k: check(
                "viral_inactivation.temperature_ref_c",
                v.temperature_ref_c,
                0.0,
                60.0,
                "a temperature in °C",
            ) + 273.15,
            max_lrv: check(
                "viral_inactivation.max_lrv",
                v.max_lrv,
                0.0,
                12.0,
                "a log reduction",
            ),
            product_yield: check(
                "viral_inactivation.product_yield",
                v.product_yield,
                0.01,
                1.0,
                "a fraction",
            ),
            neutralisation_volume_fraction: check(
                "viral_inactivation.neutralisation_volume_fraction",
                v.neutralisation_volume_fraction,
                0.0,
                1.0,
                "a fraction",
            ),
        }));
    }
    for (key, table) in [("cex", &f.cex), ("aex", &f.aex)] {
        let Some(p) = table else { continue };
        let fld = |k: &str| format!("{key}.{k}");
        let step = ClearanceStep {
            name: if key == "cex" {
                "cation exchange (bind/elute)".into()
            } else {
                "anion exchange (flow-through)".into()
            },
            monomer_yield: check(
                &fld("monomer_yield"),
                p.monomer_yield,
                0.0,
                1.0,
                "a fraction",
            ),
            aggregate_yield: check(
                &fld("aggregate_yield"),
                p.aggregate_yield,
                0.0,
                1.0,
                "a fraction",
            ),
            hcp_lrv: check(&fld("hcp_lrv"), p.hcp_lrv, 0.0, 10.0, "a log reduction"),
            dna_lrv: check(&fld("dna_lrv"), p.dna_lrv, 0.0, 10.0, "a log reduction"),
            virus_lrv: check(&fld("virus_lrv"), p.virus_lrv, 0.0, 10.0, "a log reduction"),
            volume_ratio: check(
                &fld("volume_ratio"),
                p.volume_ratio,
                0.01,
                100.0,
                "a volume ratio",
            ),
            flow_rate_m3_per_s: check(
                &fld("flow_rate_l_per_min"),
                p.flow_rate_l_per_min,
                1e-6,
                BIG,
                "a flow rate in L/min",
            ) * 1e-3
                / 60.0,
        };
        let column = p
            .column_file
            .as_ref()
            .map(|c| src.path.parent().unwrap_or(Path::new(".")).join(c));
        if let Some(c) = column.as_ref().filter(|c| !c.exists()) {
            d.borrow_mut().push(src.diag(
                &fld("column_file"),
                "a column file next to the train file",
                format!("{} (not found)", c.display()),
            ));
        }
        steps.push(TrainStep::Polishing(step, column));
    }
    if let Some(u) = &f.ufdf {
        let gel = check(
            "ufdf.gel_concentration_g_per_l",
            u.gel_concentration_g_per_l,
            1.0,
            1000.0,
            "g/L",
        );
        let df = check(
            "ufdf.diafiltration_concentration_g_per_l",
            u.diafiltration_concentration_g_per_l,
            0.1,
            1000.0,
            "g/L",
        );
        let fin = check(
            "ufdf.final_concentration_g_per_l",
            u.final_concentration_g_per_l,
            0.1,
            1000.0,
            "g/L",
        );
        for (field, c) in [
            ("ufdf.diafiltration_concentration_g_per_l", df),
            ("ufdf.final_concentration_g_per_l", fin),
        ] {
            if c >= gel {
                d.borrow_mut().push(src.diag(
                    field,
                    format!(
                        "a concentration below the gel concentration {gel} g/L (flux would vanish)"
                    ),
                    c.to_string(),
                ));
            }
        }
        steps.push(TrainStep::UfDf(UfDf {
            membrane_area_m2: check(
                "ufdf.membrane_area_m2",
                u.membrane_area_m2,
                1e-4,
                1e4,
                "an area in m²",
            ),
            mass_transfer_m_per_s: check(
                "ufdf.mass_transfer_m_per_s",
                u.mass_transfer_m_per_s,
                1e-9,
                1e-2,
                "a mass-transfer coefficient in m/s",
            ),
            gel_concentration_kg_per_m3: gel,
            diafiltration_concentration_kg_per_m3: df,
            diavolumes: check("ufdf.diavolumes", u.diavolumes, 0.0, 50.0, "diavolumes"),
            final_concentration_kg_per_m3: fin,
            sieving: [
                0.0,
                0.0,
                check(
                    "ufdf.sieving_hcp",
                    u.sieving_hcp,
                    0.0,
                    1.0,
                    "a sieving coefficient",
                ),
                check(
                    "ufdf.sieving_dna",
                    u.sieving_dna,
                    0.0,
                    1.0,
                    "a sieving coefficient",
                ),
            ],
            buffer_sieving: check(
                "ufdf.buffer_sieving",
                u.buffer_sieving,
                0.0,
                1.0,
                "a sieving coefficient",
            ),
            recovery_yield: check(
                "ufdf.recovery_yield",
                u.recovery_yield,
                0.01,
                1.0,
                "a fraction",
            ),
        }));
    }
    let s = &f.specification;
    let specification = Specification {
        hmw_percent_max: check(
            "specification.hmw_percent_max",
            s.hmw_percent_max,
            0.0,
            100.0,
            "a percentage",
        ),
        hcp_ppm_max: check("specification.hcp_ppm_max", s.hcp_ppm_max, 0.0, 1e6, "ppm"),
        dna_ppb_max: check("specification.dna_ppb_max", s.dna_ppb_max, 0.0, 1e9, "ppb"),
        concentration_g_per_l_min: check(
            "specification.concentration_g_per_l_min",
            s.concentration_g_per_l_min,
            0.0,
            1000.0,
            "g/L",
        ),
        virus_lrv_min: check(
            "specification.virus_lrv_min",
            s.virus_lrv_min,
            0.0,
            50.0,
            "a log reduction",
        ),
    };
    let _ = (MONOMER, AGGREGATE, HCP, DNA);
    d.into_inner().into_result(Train {
        name: f.name,
        harvest,
        steps,
        specification,
    })
}

/// Carries the harvest through every step, then checks the drug substance
/// against the specification.
///
/// # Errors
///
/// From a Protein A step built in code with an empty DBC curve
/// ([`Error::EmptyTable`]); from a CEX step with a `column_file`: the column file's read and
/// input errors ([`Error::Core`]: I/O, or input diagnostics, also when it
/// lacks components named `monomer` and `aggregate` or a pool), or a failed
/// column integration ([`Error::Column`]); [`Error::UfDf`] when the UF/DF
/// integration fails. The other steps are closed-form and cannot fail on a
/// validated train.
///
/// # Example
///
/// The shipped 2000 L CHO mAb train with the CEX step on its stated
/// recoveries (the column run it names is dropped to keep this short);
/// every step closes its per-species mass balance:
///
/// ```
/// use biotwin_downstream::train::{TrainStep, load_train, run_train};
///
/// let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
///     .join("../../process-models/downstream/cho_mab_train.toml");
/// let mut train = load_train(&path)?;
/// for step in &mut train.steps {
///     if let TrainStep::Polishing(_, column) = step {
///         *column = None;
///     }
/// }
/// let result = run_train(&train)?;
///
/// for step in &result.steps {
///     for (species, defect) in step.mass_balance_defects() {
///         assert!(defect.abs() < 1e-12, "{}: {species} {defect:e}", step.name);
///     }
///     assert!(step.volume_balance_defect().abs() < 1e-12);
/// }
/// let ds = &result.drug_substance;
/// assert!(ds.product_kg() > 0.0 && ds.product_g_per_l().is_finite());
/// assert!(result.overall_yield > 0.0 && result.overall_yield < 1.0);
/// // Five release checks: HMW, HCP, DNA, concentration, virus clearance.
/// assert_eq!(result.checks.len(), 5);
/// # Ok::<(), biotwin_downstream::error::Error>(())
/// ```
pub fn run_train(train: &Train) -> Result<TrainResult, Error> {
    let mut stream = train.harvest;
    let mut reports = Vec::new();
    let mut cex_column = None;
    for step in &train.steps {
        let report = match step {
            TrainStep::Clarification(s) => s.run(&stream),
            TrainStep::ProteinA(s) => s.run(&stream)?,
            TrainStep::ViralInactivation(s) => s.run(&stream),
            TrainStep::Polishing(s, None) => s.run(&stream),
            TrainStep::Polishing(s, Some(path)) => {
                let spec = column::load(path)?;
                let result = column::simulate(&spec)?;
                let find = |name: &str| spec.components.iter().position(|c| c.name == name);
                let (Some(m), Some(a)) = (find("monomer"), find("aggregate")) else {
                    return Err(CoreError::input(
                        path,
                        "components",
                        "components named \"monomer\" and \"aggregate\"",
                        "other names",
                    )
                    .into());
                };
                let Some(step) = s.clone().with_column_pool(&result, 0, m, a) else {
                    return Err(CoreError::input(
                        path,
                        "pools",
                        "at least one [[pools]] table",
                        "none",
                    )
                    .into());
                };
                cex_column = Some(result);
                step.run(&stream)
            }
            TrainStep::UfDf(s) => s.run(&stream)?,
        };
        stream = report.output;
        reports.push(report);
    }
    let total_virus_lrv: f64 = reports.iter().map(|r| r.virus_lrv).sum();
    let spec = &train.specification;
    let ds = stream;
    let check = |attribute: &str, value: f64, limit: f64, max: bool| CqaCheck {
        attribute: attribute.into(),
        value,
        limit: format!("{} {limit}", if max { "≤" } else { "≥" }),
        pass: if max { value <= limit } else { value >= limit },
    };
    let checks = vec![
        check("HMW (%)", ds.hmw_percent(), spec.hmw_percent_max, true),
        check("HCP (ppm)", ds.hcp_ppm(), spec.hcp_ppm_max, true),
        check("DNA (ppb)", ds.dna_ppb(), spec.dna_ppb_max, true),
        check(
            "concentration (g/L)",
            ds.product_g_per_l(),
            spec.concentration_g_per_l_min,
            false,
        ),
        check(
            "virus clearance (LRV)",
            total_virus_lrv,
            spec.virus_lrv_min,
            false,
        ),
    ];
    Ok(TrainResult {
        overall_yield: ds.mass_kg[MONOMER] / train.harvest.mass_kg[MONOMER],
        drug_substance: ds,
        total_virus_lrv,
        steps: reports,
        checks,
        cex_column,
    })
}

impl TrainResult {
    /// A plain-text table: every step's yield, volume, concentration and
    /// CQAs, then the drug substance against its specification.
    pub fn format_table(&self, train: &Train) -> String {
        let mut out = format!("{}\n", train.name);
        out.push_str(&format!(
            "{:<32} {:>7} {:>10} {:>8} {:>7} {:>10} {:>10} {:>6} {:>8}\n",
            "step", "yield", "volume_L", "g/L", "HMW_%", "HCP_ppm", "DNA_ppb", "LRV", "time_h"
        ));
        let row = |name: &str, y: f64, s: &Stream, lrv: f64, t: f64| {
            format!(
                "{:<32} {:>7.4} {:>10.2} {:>8.3} {:>7.3} {:>10.3e} {:>10.3e} {:>6.2} {:>8.2}\n",
                name,
                y,
                s.volume_m3 * 1e3,
                s.product_g_per_l(),
                s.hmw_percent(),
                s.hcp_ppm(),
                s.dna_ppb(),
                lrv,
                t / 3600.0
            )
        };
        out.push_str(&row("harvest", 1.0, &train.harvest, 0.0, 0.0));
        for r in &self.steps {
            out.push_str(&row(
                &r.name,
                r.product_yield(),
                &r.output,
                r.virus_lrv,
                r.duration_s,
            ));
        }
        out.push_str(&format!(
            "overall monomer yield {:.4}; drug substance {:.3} kg\n",
            self.overall_yield,
            self.drug_substance.product_kg()
        ));
        for c in &self.checks {
            out.push_str(&format!(
                "  {:<24} {:>12.4} {:>10}  {}\n",
                c.attribute,
                c.value,
                c.limit,
                if c.pass { "pass" } else { "FAIL" }
            ));
        }
        out
    }
}
