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
    pub id: String,
    pub name: String,
    pub volume_l: f64,
}

/// The target under one criterion.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CriterionResult {
    pub criterion: Criterion,
    pub agitation_rule: &'static str,
    pub gas_rule: &'static str,
    /// True for the criterion whose set-points are used (translated,
    /// written, run): see [`ScaleUpReport::choose`].
    pub chosen: bool,
    pub conditions: VesselConditions,
}

/// Result of a scale-up comparison (serialised as the `--json` output).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScaleUpReport {
    pub source: VesselSummary,
    pub target: VesselSummary,
    pub operating_point: OperatingPoint,
    pub parameters: ScaleUpParameters,
    pub source_conditions: VesselConditions,
    /// The criterion whose set-points are used, once chosen (`None`: a bare
    /// comparison).
    pub chosen_criterion: Option<Criterion>,
    pub by_criterion: Vec<CriterionResult>,
}

/// Translated set-points for the target under one criterion: what a
/// translated recipe writes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TranslatedSetPoints {
    pub criterion: Criterion,
    pub volume_l: f64,
    pub agitation_rpm: f64,
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
