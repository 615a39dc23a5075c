//! Feasibility of a simulated batch on its vessel, over the whole recorded
//! trajectory: what `simulate` and `transfer` both check after a run.
//!
//! At every recorded time `t` the check takes the broth volume `V(t)`, the
//! temperature and the oxygen uptake rate `OUR(t)` from the trajectory and the
//! agitation and gas flow the recipe holds at `t` (its set-points with every
//! shift up to `t`), and evaluates the scale-up quantities of
//! [`crate::scaleup::conditions`] there (one set of equations for both: P/V,
//! v_s, kLa, tip speed, Kolmogorov length, mixing time, OTR). It keeps each
//! quantity's worst value and its time ([`Quantity`]), and turns every one
//! outside its limit into a [`Warning`]:
//!
//! | kind | quantity | limit |
//! |---|---|---|
//! | `working_volume` | `V(t)` | the vessel's working-volume range |
//! | `o2_capacity` | `OTR_max(t) / OUR(t)` | ≥ 1: `OTR_max` with pure O₂ at the vessel's highest agitation (tip-speed limit included) and gas flow, kLa from the vessel's own correlation |
//! | `o2_supply` | dissolved O₂ | not more than 1 %-point below its set-point (the model's O₂ enrichment reached 100 % and still fell short) |
//! | `gas_flow`, `agitation`, `tip_speed` | set-points | the equipment file's ranges |
//! | `kla_range` | gassed P/V, v_s | the range the vessel's kLa correlation was fitted on |
//! | `shear` | Kolmogorov length | ≥ `ScaleUpParameters::kolmogorov_min_um` |
//! | `foam` | v_s | the v_s of [`FOAM_VVM_FINE_PORE`] or [`FOAM_VVM_COARSE`] vvm at `V(t)`, by sparger type |
//!
//! Also computed but not limits: the longest mixing time and the lowest O₂
//! transfer capacity with air at the set-points (the transfer's adjustment
//! keeps both from getting worse, see `biotwin-transfer::adjust`), and the
//! lowest ratio of the O₂ transfer capacity with air at the vessel's highest
//! agitation and gas flow to the demand (below 1 the process depends on O₂
//! enrichment, which is normal at scale; reported only).

use serde::Serialize;

use crate::definition::recipe::{EventKind, Setpoints};
use crate::equipment::Equipment;
use crate::equipment::sparger::SpargerType;
use crate::error::{Diagnostic, Diagnostics, Error};
use crate::scaleup::ScaleUpParameters;
use crate::scaleup::conditions::{
    Setting, agitation_limits_rpm, otr_air_mol_per_m3_s, otr_pure_o2_mol_per_m3_s, quantities,
};
use crate::units::S_PER_H;

use super::{Outcome, Scenario};

/// Sparge rate (gas volume per liquid volume per minute) above which a
/// fine-pore sparger (microsparger, frit) is flagged for bubble-burst cell
/// damage and foam: Qi (PhD thesis, Oregon State University, 2001) measured
/// cell death in 15 L high-density cultures (2 × 10⁷ cells/mL) above 0.025
/// vvm through a 0.5 µm sparger and above 0.054 vvm through a 15 µm one; the
/// lower value is taken because the pore size is not in the equipment file.
/// The killing-volume picture behind it (death rate ∝ gas flow per liquid
/// volume / bubble diameter: Tramper et al., Biotechnol. Bioeng. 32:1052,
/// 1988; Wu & Goosen, Enzyme Microb. Technol. 17:241, 1995) is why fine
/// bubbles get the lower limit.
pub const FOAM_VVM_FINE_PORE: f64 = 0.025;

/// The same for coarse-bubble spargers (drilled pipe, ring, open pipe):
/// 0.1 vvm, the upper end of the sparge rates of large-scale animal-cell
/// culture (Nienow, Cytotechnology 50:9, 2006). A screening value, assumed;
/// foam at the surface grows with the gas flux through it, v_s.
pub const FOAM_VVM_COARSE: f64 = 0.1;

/// Dissolved O₂ more than this many %-points of air saturation below its
/// set-point counts as an O₂ supply shortfall (the model holds the set-point
/// exactly while O₂ enrichment suffices).
pub const DO_SHORTFALL_PCT: f64 = 1.0;

/// Relative change a quantity without a limit (mixing time, O₂ transfer
/// capacity with air) may get worse by and still count as "no worse": 2 %.
/// These follow the broth volume, which a healthier culture raises by a
/// few litres of base (+0.4 % peak volume gives +1 % mixing time), and 2 % is
/// far inside the accuracy of the correlations behind them (van 't Riet
/// states 20–40 % for kLa; mixing-time correlations scatter similarly).
pub const REFERENCE_SLACK: f64 = 0.02;

/// What a warning is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WarningKind {
    /// Broth volume outside the vessel's working-volume range.
    WorkingVolume,
    /// O₂ demand above what the vessel can transfer even with pure O₂ at
    /// its highest agitation and gas flow.
    O2Capacity,
    /// Dissolved O₂ below its set-point at the recipe's set-points.
    O2Supply,
    /// Sparge gas flow outside the vessel's range.
    GasFlow,
    /// Agitation outside the vessel's range.
    Agitation,
    /// Impeller tip speed above the vessel's limit.
    TipSpeed,
    /// Gassed P/V or v_s outside the kLa correlation's fitted range.
    KlaRange,
    /// Kolmogorov length below cell size.
    Shear,
    /// Superficial gas velocity above the sparger type's foam/bubble limit.
    Foam,
    /// Not a limit: a quantity reported for comparison (mixing time, O₂
    /// capacity with air); never a warning.
    Reference,
    // Warnings of the transfer study (biotwin-transfer::report).
    /// CO₂ accumulation on the target.
    Pco2,
    /// A flag of the scale-up calculator at the chosen criterion.
    ScaleUp,
    /// A quality attribute outside its transfer tolerance.
    Tolerance,
    /// A fall in the probability of meeting the specifications.
    Specification,
    /// The adjustment could not do what was asked.
    Adjustment,
    /// A factor the sensitivity study could not include.
    Sensitivity,
    /// Failed Monte Carlo runs.
    MonteCarlo,
}

impl WarningKind {
    /// The kind's name in reports (`working_volume`, `gas_flow`).
    pub fn name(self) -> &'static str {
        match self {
            WarningKind::WorkingVolume => "working_volume",
            WarningKind::O2Capacity => "o2_capacity",
            WarningKind::O2Supply => "o2_supply",
            WarningKind::GasFlow => "gas_flow",
            WarningKind::Agitation => "agitation",
            WarningKind::TipSpeed => "tip_speed",
            WarningKind::KlaRange => "kla_range",
            WarningKind::Shear => "shear",
            WarningKind::Foam => "foam",
            WarningKind::Reference => "reference",
            WarningKind::Pco2 => "pco2",
            WarningKind::ScaleUp => "scale_up",
            WarningKind::Tolerance => "tolerance",
            WarningKind::Specification => "specification",
            WarningKind::Adjustment => "adjustment",
            WarningKind::Sensitivity => "sensitivity",
            WarningKind::MonteCarlo => "monte_carlo",
        }
    }
}

/// One warning: what, which metric, its value against the limit, when, and a
/// sentence that says it all (printed in full everywhere). `value`, `limit`
/// and `time_h` are `None` where the warning has no single number (e.g. a
/// failed Monte Carlo run).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Warning {
    /// What the warning is about.
    pub kind: WarningKind,
    /// Name of the checked quantity, with unit.
    pub metric: String,
    /// The worst value, in the metric's unit.
    pub value: Option<f64>,
    /// The limit it crossed, same unit.
    pub limit: Option<f64>,
    /// Batch time of the worst value, h.
    pub time_h: Option<f64>,
    /// The whole warning in one sentence.
    pub message: String,
}

impl Warning {
    /// A warning without numbers.
    pub fn note(kind: WarningKind, metric: impl Into<String>, message: impl Into<String>) -> Self {
        Warning {
            kind,
            metric: metric.into(),
            value: None,
            limit: None,
            time_h: None,
            message: message.into(),
        }
    }
}

/// `--strict`: every warning as an input problem (exit code 2), named by the
/// file whose run produced it.
pub fn strict_error(file: &std::path::Path, warnings: &[Warning]) -> Error {
    Error::Input(Diagnostics(
        warnings
            .iter()
            .map(|w| {
                Diagnostic::new(
                    file,
                    format!("{} ({})", w.metric, w.kind.name()),
                    "no warning (--strict)",
                    w.message.clone(),
                )
            })
            .collect(),
    ))
}

/// One engineering quantity over the batch: its worst value, when, and its
/// limit (`None`: reported, not limited).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Quantity {
    /// Name with unit, e.g. `peak_volume_l`.
    pub name: String,
    /// Kind of warning the quantity raises.
    pub kind: WarningKind,
    /// Worst value over the batch, in the unit of its name.
    pub value: f64,
    /// Batch time of the worst value, h.
    pub time_h: f64,
    /// Its limit, same unit; `None`: reported, not limited.
    pub limit: Option<f64>,
    /// `true`: larger is worse (the limit is a ceiling); `false`: smaller is
    /// worse (a floor).
    pub ceiling: bool,
    /// Whether a set-point change must keep it acceptable (the transfer's
    /// adjustment); `false` for figures that follow the culture rather than
    /// the equipment (O₂ capacity with air over demand at the vessel's
    /// highest agitation and gas flow: normal below 1 at scale).
    pub constraint: bool,
}

impl Quantity {
    /// Larger is worse: `value/limit` for a ceiling, `limit/value` for a
    /// floor (above 1 = outside the limit); without a limit the value itself
    /// (ceiling) or its negative (floor).
    pub fn badness(&self) -> f64 {
        match (self.limit, self.ceiling) {
            (Some(l), true) => self.value / l,
            (Some(l), false) => l / self.value,
            (None, true) => self.value,
            (None, false) => -self.value,
        }
    }
    /// Outside its limit (relative slack 1e-9).
    pub fn violates(&self) -> bool {
        self.limit.is_some() && !(self.badness() <= 1.0 + 1e-9)
    }
    /// Acceptable at a new point against the same quantity at a reference
    /// point: within its limit, or no worse than the reference (relative
    /// slack 1e-6, the optimiser's resolution). Without a limit: no more
    /// than [`REFERENCE_SLACK`] worse.
    pub fn acceptable_against(&self, reference: &Quantity) -> bool {
        let b = self.badness();
        let r = reference.badness();
        match self.limit {
            Some(_) => !self.violates() || b <= r + 1e-6 * r.abs().max(1e-12),
            None => b <= r + REFERENCE_SLACK * r.abs().max(1e-12),
        }
    }
}

/// The check of one batch.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Feasibility {
    /// Identifier of the vessel checked.
    pub equipment_id: String,
    /// Every quantity checked.
    pub quantities: Vec<Quantity>,
    /// Quantities outside their limits.
    pub warnings: Vec<Warning>,
}

impl Feasibility {
    /// The quantity named `name`, if checked.
    pub fn quantity(&self, name: &str) -> Option<&Quantity> {
        self.quantities.iter().find(|q| q.name == name)
    }
}

/// Worst value so far of one quantity.
struct Track {
    name: &'static str,
    kind: WarningKind,
    limit: Option<f64>,
    ceiling: bool,
    worst: Option<(f64, f64, f64)>, // (badness, value, time_h)
}

impl Track {
    fn new(name: &'static str, kind: WarningKind, limit: Option<f64>, ceiling: bool) -> Self {
        Track {
            name,
            kind,
            limit,
            ceiling,
            worst: None,
        }
    }
    /// Offers a value with its own limit (for limits that change with time).
    fn offer_with_limit(&mut self, value: f64, limit: f64, time_h: f64) {
        if !value.is_finite() || !limit.is_finite() {
            return;
        }
        let b = if self.ceiling {
            value / limit
        } else {
            limit / value
        };
        if self.worst.is_none_or(|(w, _, _)| b > w) {
            self.worst = Some((b, value, time_h));
            self.limit = Some(limit);
        }
    }
    fn offer(&mut self, value: f64, time_h: f64) {
        if !value.is_finite() {
            return;
        }
        let b = if self.ceiling { value } else { -value };
        if self.worst.is_none_or(|(w, _, _)| b > w) {
            self.worst = Some((b, value, time_h));
        }
    }
    fn finish(self) -> Option<Quantity> {
        let (_, value, time_h) = self.worst?;
        Some(Quantity {
            name: self.name.to_string(),
            kind: self.kind,
            value,
            time_h,
            limit: self.limit,
            ceiling: self.ceiling,
            constraint: self.name != "o2_capacity_ratio_air_at_max",
        })
    }
}

/// Set-points in force at each recorded time (shifts applied in time order).
fn setpoints_at(scenario: &Scenario, times_h: &[f64]) -> Vec<Setpoints> {
    let mut shifts: Vec<(f64, &Setpoints)> = scenario
        .recipe
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Shift(s) => Some((e.time_s, s)),
            _ => None,
        })
        .collect();
    shifts.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut sp = scenario.recipe.setpoints;
    let mut next = 0;
    times_h
        .iter()
        .map(|t| {
            while next < shifts.len() && shifts[next].0 <= t * S_PER_H + 1e-6 {
                sp.apply(shifts[next].1);
                next += 1;
            }
            sp
        })
        .collect()
}

fn sparger_name(kind: SpargerType) -> &'static str {
    match kind {
        SpargerType::Microsparger => "microsparger",
        SpargerType::Frit => "frit sparger",
        SpargerType::DrilledPipe => "drilled-pipe sparger",
        SpargerType::Ring => "ring sparger",
        SpargerType::OpenPipe => "open-pipe sparger",
    }
}

fn foam_vvm(eq: &Equipment) -> f64 {
    match eq.sparger().kind {
        SpargerType::Microsparger | SpargerType::Frit => FOAM_VVM_FINE_PORE,
        SpargerType::DrilledPipe | SpargerType::Ring | SpargerType::OpenPipe => FOAM_VVM_COARSE,
    }
}

/// Checks a recorded batch of `scenario` against its vessel. Without an
/// equipment file (or without a recorded volume) there is nothing to check
/// and the result is empty.
pub fn check(scenario: &Scenario, outcome: &Outcome, params: &ScaleUpParameters) -> Feasibility {
    let Some(eq) = scenario.vessel.as_ref().and_then(|v| v.equipment()) else {
        return Feasibility {
            equipment_id: String::new(),
            quantities: Vec::new(),
            warnings: Vec::new(),
        };
    };
    let mut f = Feasibility {
        equipment_id: eq.id().to_string(),
        quantities: Vec::new(),
        warnings: Vec::new(),
    };
    let (Some(time_h), Some(volume_l)) = (outcome.column("time_h"), outcome.column("volume_l"))
    else {
        return f;
    };
    let temperature_c = outcome.column("temperature_c");
    let our = outcome.column("our_mmol_per_l_per_h");
    let do_pct = outcome.column("do_pct");
    let sps = setpoints_at(scenario, &time_h);

    let (vmin, vmax) = eq.working_volume_range_m3();
    let (a_lo, a_hi) = {
        let (lo, hi) = eq.agitation_range_rps();
        (lo * 60.0, hi * 60.0)
    };
    let n_max_rps = agitation_limits_rpm(eq).1 / 60.0;
    let (g_lo, g_hi) = eq.gas_flow_range_slpm();
    let k = eq.kla_correlation();
    use WarningKind as K;
    let mut peak_v = Track::new("peak_volume_l", K::WorkingVolume, Some(vmax * 1e3), true);
    let mut low_v = Track::new("lowest_volume_l", K::WorkingVolume, Some(vmin * 1e3), false);
    let mut cap = Track::new(
        "o2_capacity_ratio_pure_o2_at_max",
        K::O2Capacity,
        Some(1.0),
        false,
    );
    let mut cap_air = Track::new("o2_capacity_ratio_air_at_max", K::Reference, None, false);
    let mut otr_air = Track::new("min_otr_air_mmol_per_l_h", K::Reference, None, false);
    let mut low_do = Track::new("lowest_do_pct", K::O2Supply, None, false);
    let mut g_max = Track::new("max_sparge_slpm", K::GasFlow, Some(g_hi), true);
    let mut g_min = Track::new("min_sparge_slpm", K::GasFlow, Some(g_lo), false);
    let mut n_max = Track::new("max_agitation_rpm", K::Agitation, Some(a_hi), true);
    let mut n_min = Track::new("min_agitation_rpm", K::Agitation, Some(a_lo), false);
    let mut tip = Track::new(
        "max_tip_speed_m_per_s",
        K::TipSpeed,
        eq.max_tip_speed_m_per_s(),
        true,
    );
    let mut pv_max = Track::new(
        "max_gassed_p_per_v_w_per_m3",
        K::KlaRange,
        Some(k.p_per_v_range_w_per_m3.1),
        true,
    );
    let mut pv_min = Track::new(
        "min_gassed_p_per_v_w_per_m3",
        K::KlaRange,
        Some(k.p_per_v_range_w_per_m3.0),
        false,
    );
    let mut vs_max = Track::new(
        "max_superficial_gas_velocity_m_per_s",
        K::KlaRange,
        Some(k.v_s_range_m_per_s.1),
        true,
    );
    let mut vs_min = Track::new(
        "min_superficial_gas_velocity_m_per_s",
        K::KlaRange,
        Some(k.v_s_range_m_per_s.0),
        false,
    );
    let mut kolmo = Track::new(
        "min_kolmogorov_length_um",
        K::Shear,
        Some(params.kolmogorov_min_um),
        false,
    );
    let mut foam = Track::new("foam_superficial_gas_velocity_m_per_s", K::Foam, None, true);
    let mut mixing = Track::new("max_mixing_time_s", K::Reference, None, true);
    // O2 demand and capacity (mol/h) at the time of the worst capacity ratio.
    let mut o2_at_worst = (f64::NAN, f64::NAN, f64::NAN);
    let mut worst_ratio = f64::INFINITY;

    for (i, (&t, &v_l)) in time_h.iter().zip(&volume_l).enumerate() {
        if !(v_l.is_finite() && v_l > 0.0) {
            continue;
        }
        let v = v_l * 1e-3;
        peak_v.offer(v_l, t);
        low_v.offer(v_l, t);
        let sp = &sps[i];
        let temperature_k = temperature_c
            .as_ref()
            .map(|c| c[i] + 273.15)
            .filter(|x| x.is_finite())
            .or(sp.temperature_k)
            .unwrap_or(310.15);
        let our_si = our.as_ref().map_or(0.0, |c| c[i] / S_PER_H).max(0.0);
        let mut p = *params;
        if let Some(d) = sp.do_fraction {
            p.do_setpoint_fraction = d;
        }
        if let (Some(d), Some(col)) = (sp.do_fraction, do_pct.as_ref()) {
            low_do.offer_with_limit(col[i], 100.0 * d - DO_SHORTFALL_PCT, t);
        }
        // The vessel at its highest agitation and gas flow.
        let at_max = quantities(
            eq,
            Setting {
                volume_m3: v,
                agitation_rps: n_max_rps,
                sparge_gas_slpm: g_hi,
                temperature_k,
                peak_our_mol_per_m3_s: our_si,
            },
            &p,
        );
        if our_si > 0.0 {
            let kla = at_max.kla_per_h / S_PER_H;
            let pure = otr_pure_o2_mol_per_m3_s(eq, kla, v, temperature_k, &p);
            let air = otr_air_mol_per_m3_s(eq, kla, v, temperature_k, &p);
            let ratio = pure / our_si;
            cap.offer_with_limit(ratio, 1.0, t);
            cap_air.offer(air / our_si, t);
            if ratio < worst_ratio {
                worst_ratio = ratio;
                o2_at_worst = (our_si * v * S_PER_H, pure * v * S_PER_H, air * v * S_PER_H);
            }
        }
        // The vessel at the recipe's set-points.
        let (Some(n_rps), Some(q)) = (sp.agitation_rps, sp.sparge_slpm) else {
            continue;
        };
        g_max.offer(q, t);
        g_min.offer(q, t);
        n_max.offer(n_rps * 60.0, t);
        n_min.offer(n_rps * 60.0, t);
        if !(n_rps > 0.0 && q > 0.0) {
            continue;
        }
        let c = quantities(
            eq,
            Setting {
                volume_m3: v,
                agitation_rps: n_rps,
                sparge_gas_slpm: q,
                temperature_k,
                peak_our_mol_per_m3_s: our_si,
            },
            &p,
        );
        tip.offer(c.tip_speed_m_per_s, t);
        pv_max.offer(c.gassed_p_per_v_w_per_m3, t);
        pv_min.offer(c.gassed_p_per_v_w_per_m3, t);
        vs_max.offer(c.superficial_gas_velocity_m_per_s, t);
        vs_min.offer(c.superficial_gas_velocity_m_per_s, t);
        kolmo.offer(c.kolmogorov_length_um, t);
        mixing.offer(c.mixing_time_s, t);
        otr_air.offer(c.otr_air_mmol_per_l_h, t);
        // v_s of the foam limit's vvm at this volume.
        let q_foam_actual = eq.actual_gas_flow_m3_per_s(foam_vvm(eq) * v_l, temperature_k, v);
        foam.offer_with_limit(
            c.superficial_gas_velocity_m_per_s,
            eq.superficial_gas_velocity_m_per_s(q_foam_actual),
            t,
        );
    }

    let vessel = eq.id();
    let sig = crate::output::format_sig;
    for track in [
        peak_v, low_v, cap, low_do, g_max, g_min, n_max, n_min, tip, kolmo, foam, pv_max, pv_min,
        vs_max, vs_min, mixing, otr_air, cap_air,
    ] {
        let Some(q) = track.finish() else { continue };
        if q.violates() {
            let (value, limit, t) = (q.value, q.limit.unwrap_or(f64::NAN), q.time_h);
            let message = match q.name.as_str() {
                "peak_volume_l" => format!(
                    "the broth volume reaches {} L at {} h, {:.0} % of the maximum working volume of {vessel} ({} L): the vessel overflows its working range (initial volume + feeds + base − samples)",
                    sig(value),
                    sig(t),
                    100.0 * value / limit,
                    sig(limit)
                ),
                "lowest_volume_l" => format!(
                    "the broth volume falls to {} L at {} h, below the minimum working volume of {vessel} ({} L)",
                    sig(value),
                    sig(t),
                    sig(limit)
                ),
                "o2_capacity_ratio_pure_o2_at_max" => format!(
                    "O2 demand {} mol/h at {} h exceeds what {vessel} can transfer at its highest agitation and gas flow even with pure O2 ({} mol/h; {} mol/h with air): the culture will be O2-limited",
                    sig(o2_at_worst.0),
                    sig(t),
                    sig(o2_at_worst.1),
                    sig(o2_at_worst.2)
                ),
                "lowest_do_pct" => format!(
                    "dissolved O2 falls to {} % of air saturation at {} h against a set-point of {} %: at the recipe's agitation and gas flow even full O2 enrichment cannot meet the demand (raise agitation or gas flow)",
                    sig(value),
                    sig(t),
                    sig(limit + DO_SHORTFALL_PCT)
                ),
                "max_sparge_slpm" | "min_sparge_slpm" => format!(
                    "sparge gas flow {} SLPM (at {} h) outside the sparger range {}–{} SLPM of {vessel}",
                    sig(value),
                    sig(t),
                    sig(g_lo),
                    sig(g_hi)
                ),
                "max_agitation_rpm" | "min_agitation_rpm" => format!(
                    "agitation {} rpm (at {} h) outside the range {}–{} rpm of {vessel}",
                    sig(value),
                    sig(t),
                    sig(a_lo),
                    sig(a_hi)
                ),
                "max_tip_speed_m_per_s" => format!(
                    "tip speed {} m/s (at {} h) above the maximum {} m/s of {vessel}",
                    sig(value),
                    sig(t),
                    sig(limit)
                ),
                "min_kolmogorov_length_um" => format!(
                    "Kolmogorov length {} µm at {} h, below {} µm (cell size): shear risk",
                    sig(value),
                    sig(t),
                    sig(limit)
                ),
                "foam_superficial_gas_velocity_m_per_s" => format!(
                    "superficial gas velocity {} m/s at {} h above {} m/s ({} vvm at this volume) for a {}: foam and bubble-burst cell damage likely (add antifoam/Pluronic margin or lower the gas flow)",
                    sig(value),
                    sig(t),
                    sig(limit),
                    foam_vvm(eq),
                    sparger_name(eq.sparger().kind)
                ),
                "max_gassed_p_per_v_w_per_m3" | "min_gassed_p_per_v_w_per_m3" => format!(
                    "gassed P/V {} W/m³ at {} h outside the kLa correlation's fitted range {}–{} W/m³ of {vessel}: kLa extrapolated",
                    sig(value),
                    sig(t),
                    sig(k.p_per_v_range_w_per_m3.0),
                    sig(k.p_per_v_range_w_per_m3.1)
                ),
                _ => format!(
                    "superficial gas velocity {} m/s at {} h outside the kLa correlation's fitted range {}–{} m/s of {vessel}: kLa extrapolated",
                    sig(value),
                    sig(t),
                    sig(k.v_s_range_m_per_s.0),
                    sig(k.v_s_range_m_per_s.1)
                ),
            };
            f.warnings.push(Warning {
                kind: q.kind,
                metric: q.name.clone(),
                value: Some(value),
                limit: Some(limit),
                time_h: Some(t),
                message,
            });
        }
        f.quantities.push(q);
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(value: f64, limit: Option<f64>, ceiling: bool) -> Quantity {
        Quantity {
            name: "x".into(),
            kind: WarningKind::Reference,
            value,
            time_h: 0.0,
            limit,
            ceiling,
            constraint: true,
        }
    }

    #[test]
    fn acceptable_is_within_the_limit_or_no_worse() {
        // A ceiling of 2000 L: 1990 is fine whatever the reference.
        assert!(q(1990.0, Some(2000.0), true).acceptable_against(&q(1700.0, Some(2000.0), true)));
        // Already over at the reference (2032): only no worse is accepted.
        assert!(q(2030.0, Some(2000.0), true).acceptable_against(&q(2032.0, Some(2000.0), true)));
        assert!(!q(2040.0, Some(2000.0), true).acceptable_against(&q(2032.0, Some(2000.0), true)));
        assert!(q(2032.0, Some(2000.0), true).violates());
        // A floor (Kolmogorov ≥ 20 µm).
        assert!(!q(19.0, Some(20.0), false).acceptable_against(&q(70.0, Some(20.0), false)));
        // No limit: at most REFERENCE_SLACK worse (mixing time 60 s → 61.2 s).
        assert!(q(61.19, None, true).acceptable_against(&q(60.0, None, true)));
        assert!(!q(61.21, None, true).acceptable_against(&q(60.0, None, true)));
        // A floor without limit (O2 transfer capacity with air).
        assert!(q(0.99, None, false).acceptable_against(&q(1.0, None, false)));
        assert!(!q(0.97, None, false).acceptable_against(&q(1.0, None, false)));
    }
}
