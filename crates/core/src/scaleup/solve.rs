//! Target agitation and gas flow for each criterion.
//!
//! Analytical where the criterion is a power law of N; for kLa and OTR, whose
//! gassed power depends on N through Hughmark's ratio, a bisection on ln N
//! (both are strictly increasing in N at fixed gas flow).

use crate::equipment::Equipment;
use crate::units::S_PER_H;

use super::conditions::{VesselConditions, do_setpoint_mol_per_m3};
use super::criterion::Criterion;
use super::operating_point::ScaleUpParameters;
use crate::bioreactor::gas_transfer::o2_air_saturation;

/// Bracket for the kLa/OTR search, 1/s: far outside any stirred tank.
const N_SEARCH_RPS: (f64, f64) = (1e-6, 1e4);

/// The target's agitation (1/s) and gas flow (SLPM) under `criterion`.
pub fn target_setting(
    source: &VesselConditions,
    target: &Equipment,
    volume_m3: f64,
    temperature_k: f64,
    criterion: Criterion,
    p: &ScaleUpParameters,
) -> (f64, f64) {
    let slpm = match criterion {
        Criterion::VS => {
            let q = source.superficial_gas_velocity_m_per_s * target.cross_section_m2();
            target.slpm_for_actual_flow(q, temperature_k, volume_m3)
        }
        _ => source.vvm_per_min * volume_m3 * 1e3,
    };
    let rho = p.density_kg_per_m3;
    let n = match criterion {
        Criterion::PPerV | Criterion::Vvm | Criterion::VS => {
            // P₀ = (Σ Np ρ D⁵) N³: power at N = 1 gives the coefficient.
            (source.ungassed_p_per_v_w_per_m3 * volume_m3 / target.ungassed_power_w(1.0, rho))
                .cbrt()
        }
        Criterion::TipSpeed => {
            source.tip_speed_m_per_s
                / (std::f64::consts::PI * target.reference_impeller_diameter_m())
        }
        Criterion::MixingTime => target.mixing_number(volume_m3) / source.mixing_time_s,
        Criterion::Reynolds => {
            source.reynolds * p.viscosity_pa_s
                / (rho * target.reference_impeller_diameter_m().powi(2))
        }
        Criterion::ConstantN => source.agitation_rpm / 60.0,
        Criterion::Kla => {
            let q = target.actual_gas_flow_m3_per_s(slpm, temperature_k, volume_m3);
            agitation_for_kla(target, source.kla_per_h / S_PER_H, q, volume_m3)
        }
        Criterion::Otr => {
            let q = target.actual_gas_flow_m3_per_s(slpm, temperature_k, volume_m3);
            let c_star =
                o2_air_saturation(temperature_k, target.mean_liquid_pressure_pa(volume_m3));
            let driving = c_star - do_setpoint_mol_per_m3(temperature_k, p);
            let otr = source.otr_air_mmol_per_l_h / S_PER_H;
            agitation_for_kla(target, otr / driving, q, volume_m3)
        }
    };
    (n, slpm)
}

/// Agitation (1/s) at which the target's kLa (1/s) equals `kla_per_s`;
/// the bracket's end when the value lies outside it.
pub fn agitation_for_kla(eq: &Equipment, kla_per_s: f64, gas_m3_per_s: f64, volume_m3: f64) -> f64 {
    let f = |n: f64| eq.kla_o2_per_s(n, gas_m3_per_s, volume_m3) - kla_per_s;
    let (mut lo, mut hi) = (N_SEARCH_RPS.0.ln(), N_SEARCH_RPS.1.ln());
    if f(hi.exp()) <= 0.0 {
        return hi.exp();
    }
    if f(lo.exp()) >= 0.0 {
        return lo.exp();
    }
    // 200 halvings of a 23-wide log bracket reach the f64 resolution of ln N.
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if f(mid.exp()) < 0.0 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    (0.5 * (lo + hi)).exp()
}
