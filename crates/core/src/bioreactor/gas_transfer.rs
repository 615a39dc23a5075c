//! Gas–liquid transfer of O₂ and CO₂ in a sparged stirred tank, in SI.
//!
//! ## Solubility (Henry's law)
//! `C* = H_cp(T) · p`, with `H_cp(T) = H_cp(298.15 K) · exp(B (1/T − 1/298.15))`.
//! Values for water from R. Sander, "Compilation of Henry's law constants
//! (version 4.0) for water as solvent", *Atmos. Chem. Phys.* 15:4399 (2015):
//! O₂ 1.3e-5 mol/(m³ Pa), B = 1500 K; CO₂ 3.3e-4 mol/(m³ Pa), B = 2400 K.
//! Culture medium dissolves slightly less O₂ than water (salting out);
//! [`MEDIUM_O2_SOLUBILITY_FACTOR`] = 0.95 is an assumed value in the range
//! reported for cell-culture media (Zhang et al., Biochem. Eng. J. 2005; the
//! usual 0.19–0.21 mM air saturation at 37 °C).
//!
//! ## Pressure
//! The liquid sees the head-space pressure plus half the hydrostatic head on
//! average: `p_mean = p_top + ρ g H / 2`. Tall tanks therefore hold more
//! dissolved CO₂ at the same gas composition (primer §2).
//!
//! ## Quasi-steady dissolved gases
//! Dissolved O₂ and CO₂ relax within minutes (1/kLa ≈ 3–30 min) while cells
//! change over hours to days, so both are taken at quasi-steady state
//! (e.g. Nienow, Cytotechnology 50:9, 2006; Sieck et al., J. Biotechnol.
//! 164:41, 2013). This keeps the culture ODE non-stiff.
//!
//! **CO₂.** With production rate CPR (mol m⁻³ s⁻¹), stripping
//! `kLa_CO2 (C_L − C*)` and a well-mixed gas phase whose CO₂ mole fraction
//! at the outlet is `y = CPR·V / G` (G: molar sparge flow; y ≪ 1),
//! `C* = H_cp · p_mean · y` and at steady state
//!
//! ```text
//! pCO2 = C_L / H_cp = CPR / (kLa_CO2 · H_cp)  +  p_mean · CPR · V / G
//!        `— transfer-limited —´                `— gas-flow-limited —´
//! ```
//!
//! The second term grows as the sparge rate per volume (vvm) falls: the
//! classic large-scale pCO2 accumulation at constant P/V with low vvm.

use crate::fit::dual::Scalar;
use crate::units::{GAS_CONSTANT, GRAVITY};

/// Henry constant of O₂ in water at 298.15 K, mol/(m³ Pa) (Sander 2015).
pub const H_O2_298: f64 = 1.3e-5;
/// Temperature coefficient d ln H / d(1/T) of O₂, K (Sander 2015).
pub const H_O2_B: f64 = 1500.0;
/// Henry constant of CO₂ in water at 298.15 K, mol/(m³ Pa) (Sander 2015).
pub const H_CO2_298: f64 = 3.3e-4;
/// Temperature coefficient of CO₂, K (Sander 2015).
pub const H_CO2_B: f64 = 2400.0;
/// O₂ solubility in medium relative to water (assumed, see module docs).
pub const MEDIUM_O2_SOLUBILITY_FACTOR: f64 = 0.95;
/// Mole fraction of O₂ in air.
pub const Y_O2_AIR: f64 = 0.2095;
/// Standard (normal) conditions for gas flows given in SLPM: 273.15 K, 101325 Pa.
pub const STANDARD_MOLAR_VOLUME_M3_PER_MOL: f64 = GAS_CONSTANT * 273.15 / 101_325.0;
/// Broth density used for hydrostatic pressure and power, kg/m³ (assumed, water-like).
pub const BROTH_DENSITY_KG_PER_M3: f64 = 1000.0;

fn henry(h298: f64, b: f64, temperature_k: f64) -> f64 {
    h298 * (b * (1.0 / temperature_k - 1.0 / 298.15)).exp()
}

/// O₂ Henry constant in medium, mol/(m³ Pa).
pub fn henry_o2(temperature_k: f64) -> f64 {
    MEDIUM_O2_SOLUBILITY_FACTOR * henry(H_O2_298, H_O2_B, temperature_k)
}

/// CO₂ Henry constant (physically dissolved CO₂, not bicarbonate), mol/(m³ Pa).
pub fn henry_co2(temperature_k: f64) -> f64 {
    henry(H_CO2_298, H_CO2_B, temperature_k)
}

/// Mean pressure in the liquid: head space plus half the hydrostatic head, Pa.
pub fn mean_liquid_pressure_pa(headspace_pa: f64, liquid_height_m: f64) -> f64 {
    headspace_pa + 0.5 * BROTH_DENSITY_KG_PER_M3 * GRAVITY * liquid_height_m
}

/// Molar flow of a gas stream given in standard litres per minute, mol/s.
pub fn slpm_to_mol_per_s(slpm: f64) -> f64 {
    slpm * 1e-3 / 60.0 / STANDARD_MOLAR_VOLUME_M3_PER_MOL
}

/// Dissolved O₂ concentration at 100 % air saturation, mol/m³.
pub fn o2_air_saturation(temperature_k: f64, pressure_pa: f64) -> f64 {
    henry_o2(temperature_k) * Y_O2_AIR * pressure_pa
}

/// Steady-state dissolved CO₂ partial pressure, Pa (formula in module docs).
///
/// `cpr`: CO₂ production rate, mol/(m³ s); `kla_co2`: 1/s; `volume_m3`: liquid;
/// `gas_mol_per_s`: total sparge flow; `pressure_pa`: mean liquid pressure.
/// With no sparge the gas-flow term is unbounded: callers must supply a
/// positive flow (validated upstream).
pub fn steady_pco2_pa(
    cpr: f64,
    kla_co2: f64,
    henry_co2: f64,
    volume_m3: f64,
    gas_mol_per_s: f64,
    pressure_pa: f64,
) -> f64 {
    cpr / (kla_co2 * henry_co2) + pressure_pa * cpr * volume_m3 / gas_mol_per_s
}

/// Dissolved O₂ (mol/m³) that balances transfer and uptake with Monod
/// dependence of uptake on O₂: `kLa (C* − C) = our_max · C/(K + C)`.
/// Returns the positive root of the quadratic; `c_star` is the saturation of
/// the gas actually sparged.
///
/// Generic over the number type so that sensitivities pass through the
/// root (`fit::dual`).
pub fn steady_do_with_monod_uptake<T: Scalar>(kla: T, c_star: T, our_max: T, k_o2: T) -> T {
    // kla (c* - c)(k + c) = our_max c  =>  kla c² + (our_max + kla (k - c*)) c - kla c* k = 0
    let a = kla;
    let b = our_max + kla * (k_o2 - c_star);
    let c = -kla * c_star * k_o2;
    if a.value() <= 0.0 {
        return T::cst(0.0);
    }
    // Numerically stable root for b possibly large and positive.
    let disc = (b * b - T::cst(4.0) * a * c).pos().sqrt();
    if b.value() >= 0.0 {
        (T::cst(2.0) * -c) / (b + disc)
    } else {
        (-b + disc) / (T::cst(2.0) * a)
    }
}

/// Liquid-phase molar concentration of an ideal gas at pressure p: p/(R T).
pub fn ideal_gas_mol_per_m3(pressure_pa: f64, temperature_k: f64) -> f64 {
    pressure_pa / (GAS_CONSTANT * temperature_k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn air_saturation_at_37c_is_about_0_2_mm() {
        let c = o2_air_saturation(310.15, 101_325.0);
        assert!((0.19..0.22).contains(&c), "{c}");
    }

    #[test]
    fn co2_solubility_at_37c_is_about_0_03_mm_per_mmhg() {
        let h = henry_co2(310.15) * crate::units::PA_PER_MMHG;
        assert!((0.028..0.035).contains(&h), "{h}");
    }

    #[test]
    fn steady_do_root_satisfies_balance() {
        let (kla, cs, our, k) = (3e-3, 0.2, 4e-4, 0.005);
        let c = steady_do_with_monod_uptake(kla, cs, our, k);
        let resid = kla * (cs - c) - our * c / (k + c);
        assert!(resid.abs() < 1e-15, "{resid}");
        assert!(c > 0.0 && c < cs);
    }

    #[test]
    fn pco2_rises_as_sparge_falls() {
        let h = henry_co2(310.15);
        let hi = steady_pco2_pa(1e-3, 2.5e-3, h, 2.0, 0.03, 1.2e5);
        let lo = steady_pco2_pa(1e-3, 2.5e-3, h, 2.0, 0.015, 1.2e5);
        assert!(lo > hi);
    }

    #[test]
    fn slpm_conversion() {
        // 22.414 SLPM is one mole per minute.
        let n = slpm_to_mol_per_s(22.413_97);
        assert!((n * 60.0 - 1.0).abs() < 1e-5, "{n}");
    }
}
