//! Every quantity the scale-up compares, computed for one vessel at one
//! agitation, gas flow and volume, with the values outside the vessel's limits
//! or a correlation's validity range flagged.

use serde::Serialize;

use crate::bioreactor::gas_transfer::{
    Y_O2_AIR, henry_co2, o2_air_saturation, slpm_to_mol_per_s, steady_pco2_pa,
};
use crate::equipment::Equipment;
use crate::units::{PA_PER_MMHG, S_PER_H};

use super::operating_point::ScaleUpParameters;

/// A value outside a limit, named by the field of [`VesselConditions`] it is in.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Flag {
    /// Field of [`VesselConditions`] the value is in.
    pub quantity: &'static str,
    /// What is outside which limit, in words.
    pub message: String,
}

/// The compared quantities, in the units their names state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VesselConditions {
    /// Working volume, L.
    pub volume_l: f64,
    /// Liquid height, m.
    pub liquid_height_m: f64,
    /// Agitation, rpm.
    pub agitation_rpm: f64,
    /// Sparge gas flow, standard L/min.
    pub sparge_gas_slpm: f64,
    /// Standard gas volumes per liquid volume per minute.
    pub vvm_per_min: f64,
    /// Ungassed impeller power, W.
    pub ungassed_power_w: f64,
    /// Gassed impeller power, W.
    pub gassed_power_w: f64,
    /// Ungassed power per volume, W/m³.
    pub ungassed_p_per_v_w_per_m3: f64,
    /// Gassed power per volume, W/m³.
    pub gassed_p_per_v_w_per_m3: f64,
    /// Impeller tip speed π N D, m/s.
    pub tip_speed_m_per_s: f64,
    /// Impeller Reynolds number ρ N D²/μ.
    pub reynolds: f64,
    /// Mixing time, s.
    pub mixing_time_s: f64,
    /// kLa from the vessel's correlation, 1/h.
    pub kla_per_h: f64,
    /// Superficial gas velocity, m/s.
    pub superficial_gas_velocity_m_per_s: f64,
    /// Kolmogorov length of the turbulence, µm.
    pub kolmogorov_length_um: f64,
    /// O₂ transfer capacity with air at the DO set-point, mmol/(L h).
    pub otr_air_mmol_per_l_h: f64,
    /// Steady-state dissolved CO₂ at peak oxygen demand, mmHg.
    pub pco2_mmhg: f64,
    /// Values outside the vessel's limits.
    pub flags: Vec<Flag>,
}

/// Inputs of one evaluation, SI.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    /// Working volume, m³.
    pub volume_m3: f64,
    /// Agitation, revolutions per second.
    pub agitation_rps: f64,
    /// Sparge gas flow, standard L/min.
    pub sparge_gas_slpm: f64,
    /// Broth temperature, K.
    pub temperature_k: f64,
    /// Peak oxygen uptake rate, mol/(m³ s).
    pub peak_our_mol_per_m3_s: f64,
}

/// Dissolved O₂ held at the set-point, mol/m³: a fraction of air saturation
/// at 1 atm, the same concentration at every scale.
pub fn do_setpoint_mol_per_m3(temperature_k: f64, p: &ScaleUpParameters) -> f64 {
    p.do_setpoint_fraction * o2_air_saturation(temperature_k, 101_325.0)
}

/// O₂ transfer capacity with air, mol/(m³ s): `kLa (C*_air(p_mean) − C_L)`.
pub fn otr_air_mol_per_m3_s(
    eq: &Equipment,
    kla_per_s: f64,
    volume_m3: f64,
    temperature_k: f64,
    p: &ScaleUpParameters,
) -> f64 {
    let c_star = o2_air_saturation(temperature_k, eq.mean_liquid_pressure_pa(volume_m3));
    kla_per_s * (c_star - do_setpoint_mol_per_m3(temperature_k, p))
}

/// O₂ transfer capacity with pure O₂ sparged (full enrichment), mol/(m³ s):
/// `kLa (C*_O₂(p_mean) − C_L)` with `C*_O₂ = C*_air / y_O₂,air`.
pub fn otr_pure_o2_mol_per_m3_s(
    eq: &Equipment,
    kla_per_s: f64,
    volume_m3: f64,
    temperature_k: f64,
    p: &ScaleUpParameters,
) -> f64 {
    let c_star = o2_air_saturation(temperature_k, eq.mean_liquid_pressure_pa(volume_m3)) / Y_O2_AIR;
    kla_per_s * (c_star - do_setpoint_mol_per_m3(temperature_k, p))
}

/// Agitation range of a vessel in rpm, the upper end lowered to the speed at
/// its maximum tip speed where the file gives one.
pub fn agitation_limits_rpm(eq: &Equipment) -> (f64, f64) {
    let (lo, hi) = eq.agitation_range_rps();
    let mut hi = hi * 60.0;
    if let Some(tip) = eq.max_tip_speed_m_per_s() {
        let d = eq.reference_impeller_diameter_m();
        if d > 0.0 {
            hi = hi.min(tip / (std::f64::consts::PI * d) * 60.0);
        }
    }
    (lo * 60.0, hi.max(lo * 60.0))
}

/// Every compared quantity and the flags of the values outside a limit.
pub fn evaluate(eq: &Equipment, s: Setting, p: &ScaleUpParameters) -> VesselConditions {
    let mut c = quantities(eq, s, p);
    c.flags = flags(eq, &c, s, p);
    c
}

/// The compared quantities without flags (`flags` empty): what a check over
/// a whole trajectory evaluates at every recorded time.
pub fn quantities(eq: &Equipment, s: Setting, p: &ScaleUpParameters) -> VesselConditions {
    let rho = p.density_kg_per_m3;
    let v = s.volume_m3;
    let n = s.agitation_rps;
    let q = eq.actual_gas_flow_m3_per_s(s.sparge_gas_slpm, s.temperature_k, v);
    let p0 = eq.ungassed_power_w(n, rho);
    let pg = eq.gassed_power_at_volume_w(n, q, v, rho);
    let v_s = eq.superficial_gas_velocity_m_per_s(q);
    let kla_per_h = eq.kla_correlation().kla_per_h(pg / v, v_s);
    let kla = kla_per_h / S_PER_H;
    let nu = p.viscosity_pa_s / rho;
    let epsilon = pg / (rho * v);
    let kolmogorov_m = (nu.powi(3) / epsilon).powf(0.25);
    let cpr = p.respiratory_quotient * s.peak_our_mol_per_m3_s;
    let pco2_pa = steady_pco2_pa(
        cpr,
        p.kla_co2_over_kla_o2 * kla,
        henry_co2(s.temperature_k),
        v,
        slpm_to_mol_per_s(s.sparge_gas_slpm),
        eq.mean_liquid_pressure_pa(v),
    );
    let otr = otr_air_mol_per_m3_s(eq, kla, v, s.temperature_k, p);
    VesselConditions {
        volume_l: v * 1e3,
        liquid_height_m: eq.liquid_height_m(v),
        agitation_rpm: n * 60.0,
        sparge_gas_slpm: s.sparge_gas_slpm,
        vvm_per_min: s.sparge_gas_slpm / (v * 1e3),
        ungassed_power_w: p0,
        gassed_power_w: pg,
        ungassed_p_per_v_w_per_m3: p0 / v,
        gassed_p_per_v_w_per_m3: pg / v,
        tip_speed_m_per_s: eq.tip_speed_m_per_s(n),
        reynolds: eq.reynolds(n, rho, p.viscosity_pa_s),
        mixing_time_s: eq.mixing_time_s(n, v),
        kla_per_h,
        superficial_gas_velocity_m_per_s: v_s,
        kolmogorov_length_um: kolmogorov_m * 1e6,
        otr_air_mmol_per_l_h: otr * S_PER_H,
        pco2_mmhg: pco2_pa / PA_PER_MMHG,
        flags: Vec::new(),
    }
}

fn outside(value: f64, (lo, hi): (f64, f64)) -> bool {
    !(value >= lo && value <= hi)
}

fn flags(eq: &Equipment, c: &VesselConditions, s: Setting, p: &ScaleUpParameters) -> Vec<Flag> {
    let mut f = Vec::new();
    let mut flag = |quantity: &'static str, message: String| f.push(Flag { quantity, message });
    let (vmin, vmax) = eq.working_volume_range_m3();
    if outside(s.volume_m3, (vmin, vmax)) {
        flag(
            "volume_l",
            format!(
                "{:.4} L outside the working volume {}–{} L",
                c.volume_l,
                vmin * 1e3,
                vmax * 1e3
            ),
        );
    }
    let (nmin, nmax) = eq.agitation_range_rps();
    if outside(s.agitation_rps, (nmin, nmax)) {
        flag(
            "agitation_rpm",
            format!(
                "{:.4} rpm outside the agitation range {}–{} rpm",
                c.agitation_rpm,
                nmin * 60.0,
                nmax * 60.0
            ),
        );
    }
    if let Some(max_tip) = eq.max_tip_speed_m_per_s()
        && c.tip_speed_m_per_s > max_tip
    {
        flag(
            "tip_speed_m_per_s",
            format!(
                "{:.4} m/s above the vessel's maximum tip speed {max_tip} m/s",
                c.tip_speed_m_per_s
            ),
        );
    }
    let gas = eq.gas_flow_range_slpm();
    if outside(s.sparge_gas_slpm, gas) {
        flag(
            "sparge_gas_slpm",
            format!(
                "{:.4} SLPM outside the sparger range {}–{} SLPM",
                c.sparge_gas_slpm, gas.0, gas.1
            ),
        );
    }
    let k = eq.kla_correlation();
    if !k.p_per_v_in_range(c.gassed_p_per_v_w_per_m3) {
        flag(
            "gassed_p_per_v_w_per_m3",
            format!(
                "{:.4} W/m³ outside the kLa fit range {}–{} W/m³: kLa extrapolated",
                c.gassed_p_per_v_w_per_m3, k.p_per_v_range_w_per_m3.0, k.p_per_v_range_w_per_m3.1
            ),
        );
    }
    if !k.v_s_in_range(c.superficial_gas_velocity_m_per_s) {
        flag(
            "superficial_gas_velocity_m_per_s",
            format!(
                "{:.4e} m/s outside the kLa fit range {:e}–{:e} m/s: kLa extrapolated",
                c.superficial_gas_velocity_m_per_s, k.v_s_range_m_per_s.0, k.v_s_range_m_per_s.1
            ),
        );
    }
    if c.reynolds < p.turbulent_reynolds_min {
        flag(
            "reynolds",
            format!(
                "Re = {:.4} below {}: transitional flow, turbulent power number and mixing-time correlation are estimates",
                c.reynolds, p.turbulent_reynolds_min
            ),
        );
    }
    if c.kolmogorov_length_um < p.kolmogorov_min_um {
        flag(
            "kolmogorov_length_um",
            format!(
                "{:.4} µm below {} µm (cell size): shear risk",
                c.kolmogorov_length_um, p.kolmogorov_min_um
            ),
        );
    }
    let our = s.peak_our_mol_per_m3_s * S_PER_H;
    if c.otr_air_mmol_per_l_h < our {
        flag(
            "otr_air_mmol_per_l_h",
            format!(
                "air alone transfers {:.4} mmol/(L h) < peak OUR {:.4}: O₂ enrichment needed",
                c.otr_air_mmol_per_l_h, our
            ),
        );
    }
    if c.pco2_mmhg > p.pco2_limit_mmhg {
        flag(
            "pco2_mmhg",
            format!(
                "{:.4} mmHg above {} mmHg: CO₂ accumulates (raise the gas flow)",
                c.pco2_mmhg, p.pco2_limit_mmhg
            ),
        );
    }
    f
}
