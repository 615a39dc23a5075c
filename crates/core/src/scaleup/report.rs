//! The side-by-side comparison: the source and the target under every criterion.

use serde::Serialize;

use crate::equipment::Equipment;
use crate::error::{Diagnostic, Diagnostics};

use super::conditions::{Setting, VesselConditions, evaluate};
use super::criterion::Criterion;
use super::operating_point::{OPERATING_POINT_SOURCE, OperatingPoint, ScaleUpParameters};
use super::solve::target_setting;

/// Identity of a vessel in the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VesselSummary {
    /// Equipment identifier.
    pub id: String,
    /// Human-readable name.
    pub name: String,
    /// Working volume, L.
    pub volume_l: f64,
}

/// The target under one criterion.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CriterionResult {
    /// The criterion held constant.
    pub criterion: Criterion,
    /// How the target's agitation follows from the criterion, in words.
    pub agitation_rule: &'static str,
    /// How the target's gas flow follows from the criterion, in words.
    pub gas_rule: &'static str,
    /// True for the criterion whose set-points are used (translated,
    /// written, run): see [`ScaleUpReport::choose`].
    pub chosen: bool,
    /// The target's conditions under this criterion.
    pub conditions: VesselConditions,
}

/// Result of a scale-up comparison (serialised as the `--json` output).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScaleUpReport {
    /// The source vessel.
    pub source: VesselSummary,
    /// The target vessel.
    pub target: VesselSummary,
    /// The source's operating point.
    pub operating_point: OperatingPoint,
    /// Constants of the correlations used.
    pub parameters: ScaleUpParameters,
    /// The source vessel's conditions at the operating point.
    pub source_conditions: VesselConditions,
    /// The criterion whose set-points are used, once chosen (`None`: a bare
    /// comparison).
    pub chosen_criterion: Option<Criterion>,
    /// The target under each criterion, in [`Criterion::ALL`] order.
    pub by_criterion: Vec<CriterionResult>,
}

/// Translated set-points for the target under one criterion: what a
/// translated recipe writes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TranslatedSetPoints {
    /// The criterion these set-points hold constant.
    pub criterion: Criterion,
    /// Target working volume, L.
    pub volume_l: f64,
    /// Target agitation, rpm.
    pub agitation_rpm: f64,
    /// Target sparge gas flow, standard L/min.
    pub sparge_gas_slpm: f64,
}

impl ScaleUpReport {
    /// Marks `criterion` as the one whose set-points are used (in the JSON:
    /// `chosen_criterion` and each row's `chosen`; in the table: `*`).
    pub fn choose(&mut self, criterion: Criterion) {
        self.chosen_criterion = Some(criterion);
        for r in &mut self.by_criterion {
            r.chosen = r.criterion == criterion;
        }
    }

    /// The result under `criterion`, if it was evaluated.
    pub fn for_criterion(&self, criterion: Criterion) -> Option<&CriterionResult> {
        self.by_criterion.iter().find(|r| r.criterion == criterion)
    }

    /// The target's agitation and gas flow under `criterion`.
    pub fn set_points(&self, criterion: Criterion) -> Option<TranslatedSetPoints> {
        self.for_criterion(criterion).map(|r| TranslatedSetPoints {
            criterion,
            volume_l: r.conditions.volume_l,
            agitation_rpm: r.conditions.agitation_rpm,
            sparge_gas_slpm: r.conditions.sparge_gas_slpm,
        })
    }
}

/// Compares `source` at `op` with `target` at `target_volume_m3` (default: the
/// target's maximum working volume) under every criterion.
///
/// From the shipped 3 L glass vessel to the 200 L single-use bioreactor:
/// each criterion holds its own quantity equal at the target.
///
/// ```
/// use biotwin_core::equipment::Equipment;
/// use biotwin_core::scaleup::{Criterion, OperatingPoint, ScaleUpParameters, scale_up};
///
/// let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../process-models/equipment");
/// let source = Equipment::load(&dir.join("bench-3l-glass.toml")).unwrap();
/// let target = Equipment::load(&dir.join("sut-200l.toml")).unwrap();
/// let op = OperatingPoint {
///     volume_m3: 1.5e-3,
///     agitation_rps: 250.0 / 60.0,
///     sparge_gas_slpm: 0.1,
///     temperature_k: 310.15,
///     peak_our_mol_per_m3_s: 5.0 / 3600.0, // 5 mmol/(L h)
/// };
/// let report = scale_up(&source, &op, &target, None, &ScaleUpParameters::default()).unwrap();
/// let s = &report.source_conditions;
/// let rel = |a: f64, b: f64| ((a - b) / b).abs();
///
/// let p_per_v = &report.for_criterion(Criterion::PPerV).unwrap().conditions;
/// assert!(rel(p_per_v.ungassed_p_per_v_w_per_m3, s.ungassed_p_per_v_w_per_m3) < 1e-9);
/// assert!(rel(p_per_v.vvm_per_min, s.vvm_per_min) < 1e-9);
/// // The target runs at its largest working volume, and slower than the bench.
/// assert!(rel(p_per_v.volume_l, target.working_volume_range_m3().1 * 1e3) < 1e-12);
/// assert!(p_per_v.agitation_rpm < s.agitation_rpm);
///
/// let kla = &report.for_criterion(Criterion::Kla).unwrap().conditions;
/// assert!(rel(kla.kla_per_h, s.kla_per_h) < 1e-6);
/// let tip = &report.for_criterion(Criterion::TipSpeed).unwrap().conditions;
/// assert!(rel(tip.tip_speed_m_per_s, s.tip_speed_m_per_s) < 1e-9);
/// ```
pub fn scale_up(
    source: &Equipment,
    op: &OperatingPoint,
    target: &Equipment,
    target_volume_m3: Option<f64>,
    params: &ScaleUpParameters,
) -> Result<ScaleUpReport, Diagnostics> {
    let mut diags = op.validate();
    diags.extend(params.validate());
    let v_t = target_volume_m3.unwrap_or(target.working_volume_range_m3().1);
    if !(v_t.is_finite() && v_t > 0.0) {
        diags.push(Diagnostic::new(
            OPERATING_POINT_SOURCE,
            "target_volume_m3",
            "a positive volume (m³)",
            format!("{v_t}"),
        ));
    }
    if !diags.is_empty() {
        return Err(diags);
    }
    let source_conditions = evaluate(
        source,
        Setting {
            volume_m3: op.volume_m3,
            agitation_rps: op.agitation_rps,
            sparge_gas_slpm: op.sparge_gas_slpm,
            temperature_k: op.temperature_k,
            peak_our_mol_per_m3_s: op.peak_our_mol_per_m3_s,
        },
        params,
    );
    let by_criterion = Criterion::ALL
        .into_iter()
        .map(|criterion| {
            let (n, slpm) = target_setting(
                &source_conditions,
                target,
                v_t,
                op.temperature_k,
                criterion,
                params,
            );
            let conditions = evaluate(
                target,
                Setting {
                    volume_m3: v_t,
                    agitation_rps: n,
                    sparge_gas_slpm: slpm,
                    temperature_k: op.temperature_k,
                    peak_our_mol_per_m3_s: op.peak_our_mol_per_m3_s,
                },
                params,
            );
            CriterionResult {
                criterion,
                agitation_rule: criterion.agitation_rule(),
                gas_rule: criterion.gas_rule(),
                chosen: false,
                conditions,
            }
        })
        .collect();
    Ok(ScaleUpReport {
        source: VesselSummary {
            id: source.id().to_string(),
            name: source.name().to_string(),
            volume_l: op.volume_m3 * 1e3,
        },
        target: VesselSummary {
            id: target.id().to_string(),
            name: target.name().to_string(),
            volume_l: v_t * 1e3,
        },
        operating_point: *op,
        parameters: *params,
        source_conditions,
        chosen_criterion: None,
        by_criterion,
    })
}

/// Target set-points under one criterion, without the full comparison.
pub fn translate(
    source: &Equipment,
    op: &OperatingPoint,
    target: &Equipment,
    target_volume_m3: Option<f64>,
    criterion: Criterion,
    params: &ScaleUpParameters,
) -> Result<TranslatedSetPoints, Diagnostics> {
    let report = scale_up(source, op, target, target_volume_m3, params)?;
    report.set_points(criterion).ok_or_else(|| {
        Diagnostic::new(
            OPERATING_POINT_SOURCE,
            "criterion",
            "a known criterion",
            criterion.to_string(),
        )
        .into()
    })
}
