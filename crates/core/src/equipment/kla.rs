//! Volumetric O₂ transfer coefficient from a vessel-specific power-law fit.
//!
//! ```text
//! kLa [1/h] = a · (Pg/V [W/m³])^alpha · (v_s [m/s])^beta
//! ```
//!
//! the form of van 't Riet (Ind. Eng. Chem. Process Des. Dev. 18:357, 1979),
//! whose constants for coalescing water are a = 0.026 1/s = 93.6 1/h,
//! alpha = 0.4, beta = 0.5. Vendors and papers fit a, alpha and beta per vessel
//! and sparger; the fit holds only on the ranges of P/V and v_s it was
//! measured on, which the file states and the calculator checks. Pg/V is the
//! gassed power per liquid volume.

use serde::Serialize;

/// Physically plausible exponent windows; fits outside them are typing errors
/// (van 't Riet 1979 and later reviews report alpha 0.2–1.0, beta 0.2–0.8;
/// the windows leave room around those).
pub const ALPHA_RANGE: (f64, f64) = (0.1, 1.5);
/// Admissible window of the v_s exponent β (see [`ALPHA_RANGE`]).
pub const BETA_RANGE: (f64, f64) = (0.1, 1.2);

/// A vessel's kLa correlation, kLa [1/h] = a (P/V [W/m³])^α (v_s [m/s])^β, with the ranges it was fitted over.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct KlaCorrelation {
    /// Prefactor a (kLa in 1/h for P/V in W/m³ and v_s in m/s).
    pub a: f64,
    /// Exponent α of the gassed power per volume.
    pub alpha: f64,
    /// Exponent β of the superficial gas velocity.
    pub beta: f64,
    /// Range of P/V the correlation was fitted over, W/m³.
    pub p_per_v_range_w_per_m3: (f64, f64),
    /// Range of v_s the correlation was fitted over, m/s.
    pub v_s_range_m_per_s: (f64, f64),
}

impl KlaCorrelation {
    /// kLa in 1/h.
    pub fn kla_per_h(&self, p_per_v_w_per_m3: f64, v_s_m_per_s: f64) -> f64 {
        if p_per_v_w_per_m3 <= 0.0 || v_s_m_per_s <= 0.0 {
            return 0.0;
        }
        self.a * p_per_v_w_per_m3.powf(self.alpha) * v_s_m_per_s.powf(self.beta)
    }

    /// Whether `p_per_v` (W/m³) lies within the fitted range.
    pub fn p_per_v_in_range(&self, p_per_v: f64) -> bool {
        let (lo, hi) = self.p_per_v_range_w_per_m3;
        (lo..=hi).contains(&p_per_v)
    }

    /// Whether `v_s` (m/s) lies within the fitted range.
    pub fn v_s_in_range(&self, v_s: f64) -> bool {
        let (lo, hi) = self.v_s_range_m_per_s;
        (lo..=hi).contains(&v_s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn van_t_riet_coalescing_value() {
        let k = KlaCorrelation {
            a: 93.6,
            alpha: 0.4,
            beta: 0.5,
            p_per_v_range_w_per_m3: (1.0, 100.0),
            v_s_range_m_per_s: (1e-4, 1e-2),
        };
        // 0.026 1/s * 1000^0.4 * 0.01^0.5 = 0.026*15.8489*0.1 = 0.041207 1/s
        let expected = 0.026 * 1000f64.powf(0.4) * 0.1 * 3600.0;
        assert!((k.kla_per_h(1000.0, 0.01) - expected).abs() < 1e-10);
        assert!(!k.p_per_v_in_range(1000.0));
        assert!(k.v_s_in_range(0.01));
    }
}
