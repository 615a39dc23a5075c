//! Impeller power draw, ungassed and gassed.
//!
//! ## Ungassed power
//! `P₀ = Np ρ N³ D⁵` per impeller, summed over the impellers on the shaft
//! (Rushton, Costich & Everett, Chem. Eng. Prog. 46:395, 1950). `Np` is the
//! turbulent power number (constant for Re = ρ N D²/μ > 10⁴). In the
//! transitional regime (10 < Re < 10⁴) Np changes with Re; bench vessels at
//! low agitation sit there, so the scale-up calculator flags Re < 10⁴.
//! Summing the impellers' power is valid when their spacing is at least about
//! one impeller diameter (Hudcova et al., Biotechnol. Bioeng. 34:617, 1989).
//!
//! ## Gassed power (Hughmark 1980)
//! Gas bubbles behind the blades lower the power drawn. Hughmark's
//! dimensionless correlation, fitted on 391 data points for turbines and paddles
//! (G. A. Hughmark, Ind. Eng. Chem. Process Des. Dev. 19:638, 1980):
//!
//! ```text
//! Pg / P₀ = 0.10 · (Q / (N V))^(−1/4) · (N² D⁴ / (g W V^(2/3)))^(−1/5)
//! ```
//!
//! with Q the actual gas flow (m³/s), V the liquid volume (m³), W the blade
//! height (m) and g gravity. At the low gas flow numbers of cell culture the
//! formula exceeds 1; the ratio is capped at 1 (gas cannot raise the power
//! drawn). It is applied to every impeller with the full gas flow, which
//! overestimates the drop for upper impellers that see less gas: a
//! conservative choice for kLa.

use serde::{Deserialize, Serialize};

use crate::units::GRAVITY;

/// Impeller family (for documentation and defaults in reports).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImpellerType {
    /// Six-blade disc (radial flow), Np ≈ 5.
    Rushton,
    /// 45° pitched blade (axial/mixed flow), Np ≈ 1.2–1.7.
    PitchedBlade,
    /// Three-blade segment impeller of single-use bags (Sartorius BIOSTAT STR).
    SegmentBlade,
    /// Wide-blade axial impeller, Np ≈ 0.8–1.
    ElephantEar,
    /// Marine propeller, Np ≈ 0.3–0.5.
    Marine,
    /// Narrow-blade hydrofoil, Np ≈ 0.3.
    Hydrofoil,
}

/// One impeller on the shaft, SI.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Impeller {
    /// Impeller type.
    #[serde(rename = "type")]
    pub kind: ImpellerType,
    /// Impeller diameter D, m.
    pub diameter_m: f64,
    /// Turbulent power number Np.
    pub power_number: f64,
    /// Blade height W (Hughmark's correlation).
    pub blade_width_m: f64,
    /// Height of the impeller's centre above the lowest point of the vessel.
    pub clearance_m: f64,
}

impl Impeller {
    /// Ungassed turbulent power, W.
    pub fn ungassed_power_w(&self, agitation_rps: f64, density_kg_per_m3: f64) -> f64 {
        self.power_number * density_kg_per_m3 * agitation_rps.powi(3) * self.diameter_m.powi(5)
    }

    /// Hughmark ratio Pg/P₀ for this impeller, capped at 1.
    pub fn gassed_power_ratio(
        &self,
        agitation_rps: f64,
        gas_flow_m3_per_s: f64,
        volume_m3: f64,
    ) -> f64 {
        hughmark_ratio(
            agitation_rps,
            gas_flow_m3_per_s,
            volume_m3,
            self.diameter_m,
            self.blade_width_m,
        )
    }
}

/// Hughmark (1980) Pg/P₀, capped to (0, 1]. No gas or no agitation gives 1.
pub fn hughmark_ratio(
    agitation_rps: f64,
    gas_flow_m3_per_s: f64,
    volume_m3: f64,
    diameter_m: f64,
    blade_width_m: f64,
) -> f64 {
    if gas_flow_m3_per_s <= 0.0 || agitation_rps <= 0.0 || volume_m3 <= 0.0 {
        return 1.0;
    }
    let aeration = gas_flow_m3_per_s / (agitation_rps * volume_m3);
    let froude_like = agitation_rps.powi(2) * diameter_m.powi(4)
        / (GRAVITY * blade_width_m * volume_m3.powf(2.0 / 3.0));
    let ratio = 0.10 * aeration.powf(-0.25) * froude_like.powf(-0.20);
    ratio.min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ungassed_power_is_np_rho_n3_d5() {
        let imp = Impeller {
            kind: ImpellerType::Rushton,
            diameter_m: 0.5,
            power_number: 5.0,
            blade_width_m: 0.1,
            clearance_m: 0.5,
        };
        // 5 * 1000 * 2^3 * 0.5^5 = 1250 W
        assert!((imp.ungassed_power_w(2.0, 1000.0) - 1250.0).abs() < 1e-9);
    }

    #[test]
    fn hughmark_matches_hand_calculation_and_is_capped() {
        // Q/(NV) = 0.01/(2*1) = 5e-3; N²D⁴/(g W V^(2/3)) = 4*0.0625/(9.80665*0.1*1)
        let a: f64 = 5e-3;
        let b: f64 = 4.0 * 0.0625 / (GRAVITY * 0.1);
        let expected = 0.10 * a.powf(-0.25) * b.powf(-0.2);
        let r = hughmark_ratio(2.0, 0.01, 1.0, 0.5, 0.1);
        assert!((r - expected).abs() < 1e-14, "{r} vs {expected}");
        assert!(r < 1.0);
        // Tiny gas flow: formula exceeds 1, capped.
        assert_eq!(hughmark_ratio(2.0, 1e-9, 1.0, 0.5, 0.1), 1.0);
        assert_eq!(hughmark_ratio(2.0, 0.0, 1.0, 0.5, 0.1), 1.0);
    }
}
