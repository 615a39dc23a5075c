//! Semantic checks of an equipment file: every physically impossible or
//! self-contradictory value is reported, each with its field and line, before
//! anything is built.

use crate::definition::source::SourceFile;
use crate::error::Diagnostics;
use crate::error::Reason;

use super::Equipment;
use super::file::EquipmentFile;
use super::geometry::{BottomShape, VesselGeometry};
use super::kla::{ALPHA_RANGE, BETA_RANGE, KlaCorrelation};
use super::power::Impeller;
use super::sources::check_sources;
use super::sparger::Sparger;

/// Impeller-to-tank diameter ratios seen in stirred tanks span 0.2–0.6
/// (primer §4: 0.3–0.5 typical); outside 0.1–0.9 a value is a typing error.
pub const D_OVER_T_RANGE: (f64, f64) = (0.1, 0.9);
/// Largest plausible turbulent power number (Rushton with baffles ≈ 5–6;
/// gas-dispersing multi-blade designs up to ≈ 10).
pub const MAX_POWER_NUMBER: f64 = 15.0;
/// Head-space overpressure window, bar(g): single-use bags hold ≈ 0.02–0.05,
/// stainless tanks are rated to a few bar.
pub const HEADSPACE_GAUGE_RANGE_BAR: (f64, f64) = (0.0, 3.0);
/// Atmospheric pressure added to gauge pressures, Pa.
pub const ATMOSPHERE_PA: f64 = 101_325.0;

struct Checker<'a> {
    src: &'a SourceFile,
    diags: Diagnostics,
}

impl Checker<'_> {
    fn fail(&mut self, path: &str, expected: impl Into<String>, found: impl Into<String>) {
        self.diags.push(self.src.diag(path, expected, found));
    }

    /// Finite and strictly positive.
    fn positive(&mut self, path: &str, value: f64, unit: &str) -> bool {
        if value.is_finite() && value > 0.0 {
            true
        } else {
            self.fail(
                path,
                format!("a positive number ({unit})"),
                format!("{value}"),
            );
            false
        }
    }

    fn non_negative(&mut self, path: &str, value: f64, unit: &str) -> bool {
        if value.is_finite() && value >= 0.0 {
            true
        } else {
            self.fail(path, format!("a number ≥ 0 ({unit})"), format!("{value}"));
            false
        }
    }

    fn within(&mut self, path: &str, value: f64, range: (f64, f64), what: &str) -> bool {
        if value.is_finite() && value >= range.0 && value <= range.1 {
            true
        } else {
            self.fail(
                path,
                format!("{what} between {} and {}", range.0, range.1),
                format!("{value}"),
            );
            false
        }
    }

    /// `min ≤ max`, reported at the min field.
    fn ordered(&mut self, min_path: &str, min: f64, max_path: &str, max: f64) {
        if min.is_finite() && max.is_finite() && min > max {
            let max_name = max_path.rsplit('.').next().unwrap_or(max_path);
            self.fail(
                min_path,
                format!("a value ≤ {max_name} ({max})"),
                format!("{min} (min > max)"),
            );
        }
    }
}

/// The numbers of a vessel that the address space reaches
/// (`equipment.<field>`, field paths as in the equipment file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EquipmentField {
    /// `kla.a`: prefactor of the kLa correlation.
    KlaA,
    /// `kla.alpha`: P/V exponent of the kLa correlation.
    KlaAlpha,
    /// `kla.beta`: v_s exponent of the kLa correlation.
    KlaBeta,
    /// `impellers[i].power_number`: power number of impeller i.
    PowerNumber(usize),
    /// `vessel.headspace_gauge_pressure_bar`.
    HeadspaceGaugePressureBar,
    /// `vessel.working_volume_min_l`.
    WorkingVolumeMinL,
    /// `vessel.working_volume_max_l`.
    WorkingVolumeMaxL,
    /// `sparger.gas_flow_min_slpm`.
    GasFlowMinSlpm,
    /// `sparger.gas_flow_max_slpm`.
    GasFlowMaxSlpm,
    /// `agitation.min_rpm`.
    MinRpm,
    /// `agitation.max_rpm`.
    MaxRpm,
}

/// Field paths of [`EquipmentField`] without an index.
pub const EQUIPMENT_FIELDS: &[(&str, EquipmentField)] = &[
    ("kla.a", EquipmentField::KlaA),
    ("kla.alpha", EquipmentField::KlaAlpha),
    ("kla.beta", EquipmentField::KlaBeta),
    (
        "vessel.headspace_gauge_pressure_bar",
        EquipmentField::HeadspaceGaugePressureBar,
    ),
    (
        "vessel.working_volume_min_l",
        EquipmentField::WorkingVolumeMinL,
    ),
    (
        "vessel.working_volume_max_l",
        EquipmentField::WorkingVolumeMaxL,
    ),
    ("sparger.gas_flow_min_slpm", EquipmentField::GasFlowMinSlpm),
    ("sparger.gas_flow_max_slpm", EquipmentField::GasFlowMaxSlpm),
    ("agitation.min_rpm", EquipmentField::MinRpm),
    ("agitation.max_rpm", EquipmentField::MaxRpm),
];

impl EquipmentField {
    /// Parses `kla.a`, `impellers[0].power_number`, ...
    pub fn parse(text: &str, eq: &Equipment) -> Result<EquipmentField, Reason> {
        if let Some(rest) = text.strip_prefix("impellers[")
            && let Some((idx, field)) = rest.split_once("].")
            && field == "power_number"
        {
            let n = eq.impellers.len();
            return match idx.parse::<usize>() {
                Ok(i) if i < n => Ok(EquipmentField::PowerNumber(i)),
                _ => Err(Reason::from(format!(
                    "impellers[i].power_number with i below {n}"
                ))),
            };
        }
        EQUIPMENT_FIELDS
            .iter()
            .find(|(n, _)| *n == text)
            .map(|(_, f)| *f)
            .ok_or_else(|| {
                Reason::new(format!(
                    "equipment.<field> with field one of {}, impellers[i].power_number",
                    EQUIPMENT_FIELDS
                        .iter()
                        .map(|f| f.0)
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })
    }

    /// Current value in the file's unit.
    pub fn get(self, eq: &Equipment) -> f64 {
        match self {
            EquipmentField::KlaA => eq.kla.a,
            EquipmentField::KlaAlpha => eq.kla.alpha,
            EquipmentField::KlaBeta => eq.kla.beta,
            EquipmentField::PowerNumber(i) => eq.impellers[i].power_number,
            EquipmentField::HeadspaceGaugePressureBar => {
                (eq.headspace_pressure_pa - ATMOSPHERE_PA) / 1e5
            }
            EquipmentField::WorkingVolumeMinL => eq.working_volume_m3.0 * 1e3,
            EquipmentField::WorkingVolumeMaxL => eq.working_volume_m3.1 * 1e3,
            EquipmentField::GasFlowMinSlpm => eq.sparger.gas_flow_min_slpm,
            EquipmentField::GasFlowMaxSlpm => eq.sparger.gas_flow_max_slpm,
            EquipmentField::MinRpm => eq.agitation_rps.0 * 60.0,
            EquipmentField::MaxRpm => eq.agitation_rps.1 * 60.0,
        }
    }

    /// Sets a value given in the file's unit (after [`EquipmentField::check`]).
    pub fn set(self, eq: &mut Equipment, v: f64) {
        match self {
            EquipmentField::KlaA => eq.kla.a = v,
            EquipmentField::KlaAlpha => eq.kla.alpha = v,
            EquipmentField::KlaBeta => eq.kla.beta = v,
            EquipmentField::PowerNumber(i) => eq.impellers[i].power_number = v,
            EquipmentField::HeadspaceGaugePressureBar => {
                eq.headspace_pressure_pa = ATMOSPHERE_PA + v * 1e5
            }
            EquipmentField::WorkingVolumeMinL => eq.working_volume_m3.0 = v * 1e-3,
            EquipmentField::WorkingVolumeMaxL => eq.working_volume_m3.1 = v * 1e-3,
            EquipmentField::GasFlowMinSlpm => eq.sparger.gas_flow_min_slpm = v,
            EquipmentField::GasFlowMaxSlpm => eq.sparger.gas_flow_max_slpm = v,
            EquipmentField::MinRpm => eq.agitation_rps.0 = v / 60.0,
            EquipmentField::MaxRpm => eq.agitation_rps.1 = v / 60.0,
        }
    }

    /// The rule [`validate`] applies to this field in the equipment file,
    /// against the rest of the vessel as it stands; the error is what was
    /// expected (the file's wording).
    pub fn check(self, eq: &Equipment, v: f64) -> Result<(), Reason> {
        let within = |r: (f64, f64), what: &str| {
            if v.is_finite() && v >= r.0 && v <= r.1 {
                Ok(())
            } else {
                Err(Reason::from(format!("{what} between {} and {}", r.0, r.1)))
            }
        };
        let positive = |unit: &str| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(Reason::from(format!("a positive number ({unit})")))
            }
        };
        let non_negative = |unit: &str| {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err(Reason::from(format!("a number ≥ 0 ({unit})")))
            }
        };
        let at_most = |max: f64, name: &str| {
            if v <= max {
                Ok(())
            } else {
                Err(Reason::from(format!("a value ≤ {name} ({max})")))
            }
        };
        let at_least = |min: f64, name: &str| {
            if v >= min {
                Ok(())
            } else {
                Err(Reason::from(format!("a value ≥ {name} ({min})")))
            }
        };
        match self {
            EquipmentField::KlaA => positive("1/h per (W/m³)^alpha (m/s)^beta"),
            EquipmentField::KlaAlpha => within(ALPHA_RANGE, "a P/V exponent"),
            EquipmentField::KlaBeta => within(BETA_RANGE, "a superficial-velocity exponent"),
            EquipmentField::PowerNumber(_) => {
                positive("dimensionless")?;
                within((0.0, MAX_POWER_NUMBER), "a turbulent power number")
            }
            EquipmentField::HeadspaceGaugePressureBar => within(
                HEADSPACE_GAUGE_RANGE_BAR,
                "a head-space overpressure in bar(g)",
            ),
            EquipmentField::WorkingVolumeMinL => {
                positive("L")?;
                at_most(eq.working_volume_m3.1 * 1e3, "working_volume_max_l")
            }
            EquipmentField::WorkingVolumeMaxL => {
                positive("L")?;
                at_least(eq.working_volume_m3.0 * 1e3, "working_volume_min_l")?;
                let total_l = eq.geometry.total_volume_m3() * 1e3;
                if v > total_l {
                    return Err(Reason::from(format!(
                        "a working volume that fits in the vessel (≤ {total_l:.4} L from tank_diameter_m, bottom and straight_side_height_m)"
                    )));
                }
                Ok(())
            }
            EquipmentField::GasFlowMinSlpm => {
                non_negative("SLPM")?;
                at_most(eq.sparger.gas_flow_max_slpm, "gas_flow_max_slpm")
            }
            EquipmentField::GasFlowMaxSlpm => {
                positive("SLPM")?;
                at_least(eq.sparger.gas_flow_min_slpm, "gas_flow_min_slpm")
            }
            EquipmentField::MinRpm => {
                non_negative("rpm")?;
                at_most(eq.agitation_rps.1 * 60.0, "max_rpm")
            }
            EquipmentField::MaxRpm => {
                positive("rpm")?;
                at_least(eq.agitation_rps.0 * 60.0, "min_rpm")
            }
        }
    }
}

/// Checks a parsed file and builds the SI model, or returns every problem.
pub fn validate(src: &SourceFile, f: EquipmentFile) -> Result<Equipment, Diagnostics> {
    let mut c = Checker {
        src,
        diags: Diagnostics::new(),
    };

    if f.id.trim().is_empty() || f.id.chars().any(char::is_whitespace) {
        c.fail(
            "id",
            "a non-empty id without spaces (e.g. sut-2000l)",
            format!("{:?}", f.id),
        );
    }
    if f.name.trim().is_empty() {
        c.fail("name", "a non-empty descriptive name", "an empty string");
    }

    // Vessel geometry.
    let v = &f.vessel;
    let t_ok = c.positive("vessel.tank_diameter_m", v.tank_diameter_m, "m");
    let side_ok = c.positive(
        "vessel.straight_side_height_m",
        v.straight_side_height_m,
        "m",
    );
    let depth = match (v.bottom, v.bottom_depth_m) {
        (BottomShape::Flat, None) => Some(0.0),
        (BottomShape::Hemispherical, None) => Some(0.5 * v.tank_diameter_m),
        (BottomShape::Dished, None) => {
            c.fail(
                "vessel.bottom_depth_m",
                "the depth of the dished head in m (0 < depth ≤ tank_diameter_m/2; 2:1 head: T/4)",
                "nothing",
            );
            None
        }
        (BottomShape::Dished, Some(d)) => {
            if d.is_finite() && d > 0.0 && (!t_ok || d <= 0.5 * v.tank_diameter_m) {
                Some(d)
            } else {
                c.fail(
                    "vessel.bottom_depth_m",
                    format!(
                        "a dish depth in m with 0 < depth ≤ tank_diameter_m/2 = {}",
                        0.5 * v.tank_diameter_m
                    ),
                    format!("{d}"),
                );
                None
            }
        }
        (shape, Some(d)) => {
            c.fail(
                "vessel.bottom_depth_m",
                format!(
                    "no bottom_depth_m for a {} bottom (its depth is implied)",
                    if shape == BottomShape::Flat {
                        "flat"
                    } else {
                        "hemispherical"
                    }
                ),
                format!("{d}"),
            );
            None
        }
    };
    let p_gauge_bar = v.headspace_gauge_pressure_bar;
    c.within(
        "vessel.headspace_gauge_pressure_bar",
        p_gauge_bar,
        HEADSPACE_GAUGE_RANGE_BAR,
        "a head-space overpressure in bar(g)",
    );
    let vmin_ok = c.positive("vessel.working_volume_min_l", v.working_volume_min_l, "L");
    let vmax_ok = c.positive("vessel.working_volume_max_l", v.working_volume_max_l, "L");
    c.ordered(
        "vessel.working_volume_min_l",
        v.working_volume_min_l,
        "vessel.working_volume_max_l",
        v.working_volume_max_l,
    );

    let geometry = match (t_ok && side_ok, depth) {
        (true, Some(depth)) => Some(VesselGeometry {
            tank_diameter_m: v.tank_diameter_m,
            bottom: v.bottom,
            bottom_depth_m: depth,
            straight_side_height_m: v.straight_side_height_m,
        }),
        _ => None,
    };
    if let (Some(g), true) = (geometry, vmax_ok) {
        let total_l = g.total_volume_m3() * 1e3;
        if v.working_volume_max_l > total_l {
            c.fail(
                "vessel.working_volume_max_l",
                format!(
                    "a working volume that fits in the vessel (≤ {total_l:.4} L from tank_diameter_m, bottom and straight_side_height_m)"
                ),
                format!("{} L", v.working_volume_max_l),
            );
        }
    }

    // Impellers.
    if f.impellers.is_empty() {
        c.fail("impellers", "at least one [[impellers]] entry", "none");
    }
    let mut impellers = Vec::new();
    for (i, imp) in f.impellers.iter().enumerate() {
        let p = |field: &str| format!("impellers[{i}].{field}");
        let d_ok = c.positive(&p("diameter_m"), imp.diameter_m, "m");
        if d_ok && t_ok {
            let ratio = imp.diameter_m / v.tank_diameter_m;
            if imp.diameter_m >= v.tank_diameter_m {
                c.fail(
                    &p("diameter_m"),
                    format!(
                        "an impeller narrower than the tank (D/T between {} and {}, tank_diameter_m = {})",
                        D_OVER_T_RANGE.0, D_OVER_T_RANGE.1, v.tank_diameter_m
                    ),
                    format!("{} m, wider than the tank (D/T = {ratio:.3})", imp.diameter_m),
                );
            } else if ratio < D_OVER_T_RANGE.0 || ratio > D_OVER_T_RANGE.1 {
                c.fail(
                    &p("diameter_m"),
                    format!(
                        "D/T between {} and {} (tank_diameter_m = {})",
                        D_OVER_T_RANGE.0, D_OVER_T_RANGE.1, v.tank_diameter_m
                    ),
                    format!("{} m (D/T = {ratio:.3})", imp.diameter_m),
                );
            }
        }
        let np_ok = c.positive(&p("power_number"), imp.power_number, "dimensionless")
            && c.within(
                &p("power_number"),
                imp.power_number,
                (0.0, MAX_POWER_NUMBER),
                "a turbulent power number",
            );
        let w_ok = c.positive(&p("blade_width_m"), imp.blade_width_m, "m");
        if w_ok && d_ok && imp.blade_width_m > imp.diameter_m {
            c.fail(
                &p("blade_width_m"),
                format!(
                    "a blade height ≤ the impeller diameter ({} m)",
                    imp.diameter_m
                ),
                format!("{} m", imp.blade_width_m),
            );
        }
        let cl_ok = c.positive(&p("clearance_m"), imp.clearance_m, "m");
        if let (Some(g), true) = (geometry, cl_ok)
            && imp.clearance_m >= g.total_height_m()
        {
            c.fail(
                &p("clearance_m"),
                format!("a height inside the vessel (< {:.4} m)", g.total_height_m()),
                format!("{} m", imp.clearance_m),
            );
        }
        if d_ok && np_ok && w_ok && cl_ok {
            impellers.push(Impeller {
                kind: imp.kind,
                diameter_m: imp.diameter_m,
                power_number: imp.power_number,
                blade_width_m: imp.blade_width_m,
                clearance_m: imp.clearance_m,
            });
        }
    }
    // The lowest impeller must be covered at the minimum working volume,
    // otherwise it cannot disperse gas there.
    if let (Some(g), true, Some((i, lowest))) = (
        geometry,
        vmin_ok,
        f.impellers
            .iter()
            .enumerate()
            .min_by(|a, b| a.1.clearance_m.total_cmp(&b.1.clearance_m)),
    ) {
        let h_min = g.liquid_height_m(v.working_volume_min_l * 1e-3);
        if lowest.clearance_m.is_finite() && lowest.clearance_m > 0.0 && lowest.clearance_m >= h_min
        {
            c.fail(
                "vessel.working_volume_min_l",
                format!(
                    "a minimum volume whose liquid covers the lowest impeller (impellers[{i}] at {} m)",
                    lowest.clearance_m
                ),
                format!(
                    "{} L, liquid height {h_min:.4} m",
                    v.working_volume_min_l
                ),
            );
        }
    }

    // Sparger.
    let s = &f.sparger;
    c.non_negative("sparger.gas_flow_min_slpm", s.gas_flow_min_slpm, "SLPM");
    c.positive("sparger.gas_flow_max_slpm", s.gas_flow_max_slpm, "SLPM");
    c.ordered(
        "sparger.gas_flow_min_slpm",
        s.gas_flow_min_slpm,
        "sparger.gas_flow_max_slpm",
        s.gas_flow_max_slpm,
    );
    if let Some(h) = s.hole_diameter_mm {
        c.positive("sparger.hole_diameter_mm", h, "mm");
    }

    // Agitation.
    let a = &f.agitation;
    c.non_negative("agitation.min_rpm", a.min_rpm, "rpm");
    c.positive("agitation.max_rpm", a.max_rpm, "rpm");
    c.ordered(
        "agitation.min_rpm",
        a.min_rpm,
        "agitation.max_rpm",
        a.max_rpm,
    );
    if let Some(tip) = a.max_tip_speed_m_per_s {
        c.positive("agitation.max_tip_speed_m_per_s", tip, "m/s");
    }

    // kLa correlation.
    let k = &f.kla;
    c.positive("kla.a", k.a, "1/h per (W/m³)^alpha (m/s)^beta");
    c.within("kla.alpha", k.alpha, ALPHA_RANGE, "a P/V exponent");
    c.within(
        "kla.beta",
        k.beta,
        BETA_RANGE,
        "a superficial-velocity exponent",
    );
    c.positive("kla.p_per_v_min_w_per_m3", k.p_per_v_min_w_per_m3, "W/m³");
    c.positive("kla.p_per_v_max_w_per_m3", k.p_per_v_max_w_per_m3, "W/m³");
    c.ordered(
        "kla.p_per_v_min_w_per_m3",
        k.p_per_v_min_w_per_m3,
        "kla.p_per_v_max_w_per_m3",
        k.p_per_v_max_w_per_m3,
    );
    c.positive("kla.v_s_min_m_per_s", k.v_s_min_m_per_s, "m/s");
    c.positive("kla.v_s_max_m_per_s", k.v_s_max_m_per_s, "m/s");
    c.ordered(
        "kla.v_s_min_m_per_s",
        k.v_s_min_m_per_s,
        "kla.v_s_max_m_per_s",
        k.v_s_max_m_per_s,
    );

    check_sources(src, &f.sources, &mut c.diags);

    let Checker { diags, .. } = c;
    if !diags.is_empty() {
        return Err(diags);
    }
    let Some(geometry) = geometry else {
        // Unreachable in practice: a missing geometry always left a diagnostic.
        return Err(src
            .diag("vessel", "a valid vessel geometry", "an invalid one")
            .into());
    };
    Ok(Equipment {
        path: src.path.clone(),
        id: f.id,
        name: f.name,
        kind: f.kind,
        geometry,
        headspace_pressure_pa: ATMOSPHERE_PA + p_gauge_bar * 1e5,
        working_volume_m3: (v.working_volume_min_l * 1e-3, v.working_volume_max_l * 1e-3),
        impellers,
        sparger: Sparger {
            kind: s.kind,
            hole_diameter_mm: s.hole_diameter_mm,
            gas_flow_min_slpm: s.gas_flow_min_slpm,
            gas_flow_max_slpm: s.gas_flow_max_slpm,
        },
        agitation_rps: (a.min_rpm / 60.0, a.max_rpm / 60.0),
        max_tip_speed_m_per_s: a.max_tip_speed_m_per_s,
        kla: KlaCorrelation {
            a: k.a,
            alpha: k.alpha,
            beta: k.beta,
            p_per_v_range_w_per_m3: (k.p_per_v_min_w_per_m3, k.p_per_v_max_w_per_m3),
            v_s_range_m_per_s: (k.v_s_min_m_per_s, k.v_s_max_m_per_s),
        },
        sources: f.sources,
    })
}
