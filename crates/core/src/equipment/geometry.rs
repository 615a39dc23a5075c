//! Vessel geometry: liquid height from volume for a cylinder on a flat,
//! dished or hemispherical bottom.
//!
//! The bottom head is modelled as half an oblate spheroid of radius `R = T/2`
//! and depth `c` (hemisphere: `c = R`; a 2:1 semi-ellipsoidal dished head:
//! `c = T/4`; flat: `c = 0`). Torispherical heads of stainless tanks are close
//! to the 2:1 ellipsoid in volume (within a few per cent of the head volume,
//! itself a small part of the working volume), which is why one "dished"
//! shape serves both.
//!
//! Volume of liquid filling the head to height `h ≤ c` above the lowest point:
//!
//! ```text
//! V_head(h) = π R² / c² · (c h² − h³/3)          (V_head(c) = 2/3 π R² c)
//! ```
//!
//! and above the head `V = V_head(c) + π R² (h − c)`. The inverse `H(V)` inside
//! the head is the root in `[0, c]` of a cubic, found by safeguarded Newton
//! iteration to machine precision.

use serde::{Deserialize, Serialize};

/// Shape of the vessel bottom.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BottomShape {
    /// Flat bottom (head depth 0).
    Flat,
    /// Semi-ellipsoidal head of a given depth (default 2:1, depth T/4).
    Dished,
    /// Hemispherical head (depth T/2).
    Hemispherical,
}

/// Cylinder on a bottom head; all lengths in metres.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct VesselGeometry {
    /// Inner tank diameter T, m.
    pub tank_diameter_m: f64,
    /// Shape of the bottom head.
    pub bottom: BottomShape,
    /// Depth of the bottom head (0 for flat, T/2 for hemispherical).
    pub bottom_depth_m: f64,
    /// Height of the cylindrical wall above the bottom head.
    pub straight_side_height_m: f64,
}

impl VesselGeometry {
    /// Tank radius T/2, m.
    pub fn radius_m(&self) -> f64 {
        0.5 * self.tank_diameter_m
    }

    /// Cross-section of the cylinder π (T/2)², m².
    pub fn cross_section_m2(&self) -> f64 {
        std::f64::consts::PI * self.radius_m().powi(2)
    }

    /// Volume of the full bottom head, m³.
    pub fn head_volume_m3(&self) -> f64 {
        2.0 / 3.0 * std::f64::consts::PI * self.radius_m().powi(2) * self.bottom_depth_m
    }

    /// Total volume of the vessel (head plus straight side), m³.
    pub fn total_volume_m3(&self) -> f64 {
        self.head_volume_m3() + self.cross_section_m2() * self.straight_side_height_m
    }

    /// Total inside height from the lowest point to the top of the straight side, m.
    pub fn total_height_m(&self) -> f64 {
        self.bottom_depth_m + self.straight_side_height_m
    }

    /// Liquid volume at height `h` above the lowest point, m³.
    pub fn volume_at_height_m3(&self, h: f64) -> f64 {
        let h = h.max(0.0);
        let c = self.bottom_depth_m;
        if h >= c {
            self.head_volume_m3() + self.cross_section_m2() * (h - c)
        } else {
            std::f64::consts::PI * self.radius_m().powi(2) / (c * c) * (c * h * h - h * h * h / 3.0)
        }
    }

    /// Liquid height above the lowest point for a liquid volume, m.
    /// Volumes above the vessel's total are extrapolated along the cylinder.
    pub fn liquid_height_m(&self, volume_m3: f64) -> f64 {
        let v = volume_m3.max(0.0);
        let v_head = self.head_volume_m3();
        let c = self.bottom_depth_m;
        if v >= v_head || c <= 0.0 {
            return c + (v - v_head) / self.cross_section_m2();
        }
        // Dimensionless: x = h/c in [0, 1], f(x) = x² − x³/3 − v/(π R² c) = 0,
        // f increasing on [0, 1] (f' = 2x − x² ≥ 0).
        let target = v / (std::f64::consts::PI * self.radius_m().powi(2) * c);
        let f = |x: f64| x * x - x * x * x / 3.0 - target;
        let (mut lo, mut hi) = (0.0_f64, 1.0_f64);
        // Start where the paraboloid-like lower part is a good guess: x² ≈ target.
        let mut x = target.sqrt().clamp(0.0, 1.0);
        for _ in 0..100 {
            let fx = f(x);
            if fx > 0.0 {
                hi = x;
            } else {
                lo = x;
            }
            let d = 2.0 * x - x * x;
            let mut next = if d > 0.0 { x - fx / d } else { 0.5 * (lo + hi) };
            if !(next > lo && next < hi) {
                next = 0.5 * (lo + hi);
            }
            if (next - x).abs() <= 1e-16 * x.max(1e-300) {
                x = next;
                break;
            }
            x = next;
        }
        x * c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vessel(bottom: BottomShape, depth: f64) -> VesselGeometry {
        VesselGeometry {
            tank_diameter_m: 1.2,
            bottom,
            bottom_depth_m: depth,
            straight_side_height_m: 2.0,
        }
    }

    #[test]
    fn flat_bottom_is_a_cylinder() {
        let g = vessel(BottomShape::Flat, 0.0);
        let v = 1.5;
        let h = g.liquid_height_m(v);
        assert!((h - v / (std::f64::consts::PI * 0.36)).abs() < 1e-14);
    }

    #[test]
    fn hemisphere_head_volume_is_two_thirds_pi_r_cubed() {
        let g = vessel(BottomShape::Hemispherical, 0.6);
        let exact = 2.0 / 3.0 * std::f64::consts::PI * 0.6_f64.powi(3);
        assert!((g.head_volume_m3() - exact).abs() < 1e-14);
        // Spherical cap of height h: π h² (3R − h)/3.
        let h: f64 = 0.25;
        let cap = std::f64::consts::PI * h * h * (3.0 * 0.6 - h) / 3.0;
        assert!((g.volume_at_height_m3(h) - cap).abs() < 1e-14);
    }

    #[test]
    fn height_inverts_volume_inside_and_above_the_head() {
        let g = vessel(BottomShape::Dished, 0.3);
        for &h in &[1e-4, 0.01, 0.1, 0.2999, 0.3, 0.31, 1.0, 2.2] {
            let v = g.volume_at_height_m3(h);
            let back = g.liquid_height_m(v);
            assert!((back - h).abs() <= 1e-12 * h.max(1e-3), "h {h} -> {back}");
        }
    }
}
