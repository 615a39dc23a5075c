//! The Kalman filter's linear algebra, independent of any model: covariance
//! propagation through a Jacobian, and one scalar measurement update with
//! innovation gating. The extended filter ([`super::filter`]) linearises the
//! bioreactor model and calls these; a unit test checks them on a linear
//! system against the closed-form Kalman filter.

use nalgebra::{DMatrix, DVector};

/// `P ← F P Fᵀ + Q` (symmetrised: rounding must not make it asymmetric).
pub fn predict_cov(
    p: &mut DMatrix<f64>,
    f: &DMatrix<f64>,
    q_diag: &DVector<f64>,
    work: &mut DMatrix<f64>,
) {
    // work = F P; P = work Fᵀ.
    f.mul_to(p, work);
    work.mul_to(&f.transpose(), p);
    for i in 0..p.nrows() {
        p[(i, i)] += q_diag[i];
    }
    symmetrise(p);
}

/// Replaces `p` by (P + Pᵀ)/2 in place, removing rounding asymmetry.
pub fn symmetrise(p: &mut DMatrix<f64>) {
    let n = p.nrows();
    for i in 0..n {
        for j in 0..i {
            let m = 0.5 * (p[(i, j)] + p[(j, i)]);
            p[(i, j)] = m;
            p[(j, i)] = m;
        }
    }
}

/// Result of one scalar update.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Update {
    /// The update was applied.
    Accepted {
        /// Squared Mahalanobis distance of the innovation, ν²/s.
        mahalanobis2: f64,
    },
    /// The innovation was beyond the gate: the state is unchanged.
    Rejected {
        /// Squared Mahalanobis distance of the innovation, ν²/s.
        mahalanobis2: f64,
    },
}

/// Scalar update with measurement `z = h·x + v`, `v ~ N(0, r)`, where the
/// linearised prediction is `h_x` (the value the model predicts) and `h` its
/// gradient. Rejects (leaves `x`, `p` as they are) when the squared
/// Mahalanobis distance of the innovation exceeds `gate2`. Joseph form, so
/// `P` stays symmetric positive semi-definite under rounding.
pub fn scalar_update(
    x: &mut DVector<f64>,
    p: &mut DMatrix<f64>,
    h: &DVector<f64>,
    h_x: f64,
    z: f64,
    r: f64,
    gate2: f64,
) -> Update {
    let n = x.len();
    let ph = &*p * h; // P hᵀ (h as a column)
    let s = h.dot(&ph) + r;
    let nu = z - h_x;
    let d2 = nu * nu / s;
    if !(d2 <= gate2) {
        return Update::Rejected { mahalanobis2: d2 };
    }
    let k = ph / s;
    x.axpy(nu, &k, 1.0);
    // Joseph: P ← (I − k hᵀ) P (I − k hᵀ)ᵀ + r k kᵀ
    let mut a = DMatrix::<f64>::identity(n, n);
    a.ger(-1.0, &k, h, 1.0);
    let ap = &a * &*p;
    ap.mul_to(&a.transpose(), p);
    p.ger(r, &k, &k, 1.0);
    symmetrise(p);
    Update::Accepted { mahalanobis2: d2 }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A constant-velocity target observed in position: the filter's mean and
    /// covariance after each step equal the textbook equations written out
    /// by hand for the 2×2 case.
    #[test]
    fn matches_closed_form_kalman_filter_on_linear_system() {
        let dt = 0.5;
        let (q1, q2, r) = (0.01, 0.02, 0.25);
        let f = DMatrix::from_row_slice(2, 2, &[1.0, dt, 0.0, 1.0]);
        let q = DVector::from_vec(vec![q1, q2]);
        let h = DVector::from_vec(vec![1.0, 0.0]);
        let mut x = DVector::from_vec(vec![0.0, 1.0]);
        let mut p = DMatrix::from_row_slice(2, 2, &[1.0, 0.0, 0.0, 1.0]);
        let mut work = DMatrix::zeros(2, 2);
        // Closed form, scalars.
        let (mut a, mut b) = (0.0f64, 1.0f64);
        let (mut p11, mut p12, mut p22) = (1.0f64, 0.0f64, 1.0f64);
        let zs = [0.6, 0.9, 1.7, 2.1, 2.4, 3.2, 3.4];
        for &z in &zs {
            x = &f * &x;
            predict_cov(&mut p, &f, &q, &mut work);
            a += dt * b;
            let n11 = p11 + 2.0 * dt * p12 + dt * dt * p22 + q1;
            let n12 = p12 + dt * p22;
            let n22 = p22 + q2;
            let hx = x[0];
            let u = scalar_update(&mut x, &mut p, &h, hx, z, r, f64::INFINITY);
            assert!(matches!(u, Update::Accepted { .. }));
            let s = n11 + r;
            let (k1, k2) = (n11 / s, n12 / s);
            let nu = z - a;
            a += k1 * nu;
            b += k2 * nu;
            p11 = (1.0 - k1) * n11;
            p12 = (1.0 - k1) * n12;
            p22 = n22 - k2 * n12;
            for (got, want) in [
                (x[0], a),
                (x[1], b),
                (p[(0, 0)], p11),
                (p[(0, 1)], p12),
                (p[(1, 0)], p12),
                (p[(1, 1)], p22),
            ] {
                assert!((got - want).abs() < 1e-12, "{got} vs {want}");
            }
        }
        // The position variance settled well below the measurement variance.
        assert!(p11 < r);
    }

    #[test]
    fn gate_rejects_and_leaves_state_alone() {
        let mut x = DVector::from_vec(vec![1.0]);
        let mut p = DMatrix::from_row_slice(1, 1, &[0.01]);
        let h = DVector::from_vec(vec![1.0]);
        let u = scalar_update(&mut x, &mut p, &h, 1.0, 10.0, 0.01, 16.0);
        assert!(matches!(u, Update::Rejected { mahalanobis2 } if mahalanobis2 > 1000.0));
        assert_eq!(x[0], 1.0);
        assert_eq!(p[(0, 0)], 0.01);
        let u = scalar_update(&mut x, &mut p, &h, 1.0, f64::NAN, 0.01, 16.0);
        assert!(matches!(u, Update::Rejected { .. }));
    }
}
