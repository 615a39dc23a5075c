//! Box bounds by change of variables (the MINUIT sine transform).
//!
//! An unconstrained search variable z maps onto [low, high] by
//! x = low + (high − low)·(1 + sin z)/2 (James & Roos 1975; MINUIT manual,
//! "parameter limits"). Every z gives a feasible x, so an unconstrained
//! method never proposes a point outside the box, and near a bound
//! x − bound ∝ (z − z_bound)², so a minimum lying *on* a bound is still a
//! smooth interior minimum in z and is reached to high accuracy.

use std::f64::consts::FRAC_PI_2;

/// Maps between the box and the unconstrained search space.
#[derive(Debug, Clone, PartialEq)]
pub struct BoxTransform {
    lower: Vec<f64>,
    upper: Vec<f64>,
}

impl BoxTransform {
    /// The caller guarantees finite bounds with `lower[i] <= upper[i]`.
    pub fn new(lower: &[f64], upper: &[f64]) -> BoxTransform {
        BoxTransform {
            lower: lower.to_vec(),
            upper: upper.to_vec(),
        }
    }

    /// x(z), always inside the box.
    pub fn to_box(&self, z: &[f64]) -> Vec<f64> {
        z.iter()
            .zip(self.lower.iter().zip(&self.upper))
            .map(|(&z, (&lo, &hi))| {
                let x = lo + (hi - lo) * 0.5 * (1.0 + z.sin());
                // Rounding may overshoot by an ulp; the box is a hard promise.
                x.clamp(lo, hi)
            })
            .collect()
    }

    /// One z with x(z) = x, in [−π/2, π/2]; x is clamped into the box first.
    pub fn to_search(&self, x: &[f64]) -> Vec<f64> {
        x.iter()
            .zip(self.lower.iter().zip(&self.upper))
            .map(|(&x, (&lo, &hi))| {
                if hi == lo {
                    return 0.0;
                }
                let s = (2.0 * (x - lo) / (hi - lo) - 1.0).clamp(-1.0, 1.0);
                s.asin().clamp(-FRAC_PI_2, FRAC_PI_2)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_feasibility() {
        let t = BoxTransform::new(&[-1.0, 0.0, 5.0], &[1.0, 10.0, 5.0]);
        let x = vec![0.3, 10.0, 5.0];
        let back = t.to_box(&t.to_search(&x));
        for (a, b) in x.iter().zip(&back) {
            assert!((a - b).abs() < 1e-12);
        }
        for z in [-100.0, -1.0, 0.0, 2.0, 1e6] {
            let x = t.to_box(&[z, z, z]);
            assert!((-1.0..=1.0).contains(&x[0]));
            assert!((0.0..=10.0).contains(&x[1]));
            assert_eq!(x[2], 5.0);
        }
    }
}
