//! ETDRK4: the fourth-order exponential time-differencing Runge–Kutta
//! method of Cox & Matthews (J. Comput. Phys. 176, 2002, 430–455), in the
//! φ-function form of Hochbruck & Ostermann (Acta Numerica 19, 2010, §2.3),
//! with a *diagonal* linear part L estimated over a few caller-named stiff
//! components, on a fixed number of equal sub-steps.
//!
//! # Why
//!
//! Some models are stiff in a handful of states whose fast mode is their
//! own (the Jacobian is nearly diagonal there) and smooth elsewhere. An
//! explicit method then takes steps fixed by stability, not accuracy: in
//! IndPenSim Dopri5 takes ~18 steps (~110 right-hand-side evaluations) per
//! 0.2-h step at any tolerance from 1e-4 to 1e-6 (`bioreactor::indpensim`,
//! [`STIFF`](crate::bioreactor::indpensim::simulate::STIFF)). Splitting
//! f(t, y) = L·y + N(t, y) with L = diag(J_ii) over the stiff components
//! and integrating L·y exactly removes that limit; outside them (L = 0)
//! the method is the classical RK4.
//!
//! # The method
//!
//! With z = h·L (componentwise), φ₁(z) = (eᶻ − 1)/z, φ₂ = (φ₁ − 1)/z,
//! φ₃ = (φ₂ − 1/2)/z (Taylor series for |z| < 1), and N = f − L·y:
//!
//! ```text
//! a  = e^{z/2}·u + (h/2)·φ₁(z/2)·N(t, u)
//! b  = e^{z/2}·u + (h/2)·φ₁(z/2)·N(t + h/2, a)
//! c  = e^{z/2}·a + (h/2)·φ₁(z/2)·(2·N(t + h/2, b) − N(t, u))
//! u₊ = e^{z}·u + h·[(φ₁ − 3φ₂ + 4φ₃)·N_u + (2φ₂ − 4φ₃)·(N_a + N_b)
//!                  + (4φ₃ − φ₂)·N_c]
//! ```
//!
//! L is a forward difference of f in each stiff component at the start of
//! the call (set to 0 where it comes out positive), held over the call.
//! There is no error estimate: the sub-step count is a setting, chosen by
//! measuring the result against a tight Dopri5 run (the caller documents
//! it). A non-finite result is an error (the caller may fall back to an
//! adaptive method).
//!
//! Cost per call: 1 + (stiff components) + 4·substeps − 1 evaluations.

use nalgebra::SVector;

/// φ₁, φ₂, φ₃ of a scalar z ≤ 0.
fn phi123(z: f64) -> (f64, f64, f64) {
    if z.abs() < 1.0 {
        // φ_k(z) = Σ zⁿ/(n + k)!; 18 terms reach 1e-17 at |z| = 1.
        let (mut p1, mut p2, mut p3) = (0.0, 0.0, 0.0);
        let mut zn = 1.0;
        let mut fact = 1.0; // n!
        for n in 0..18u32 {
            let f1 = fact * f64::from(n + 1);
            let f2 = f1 * f64::from(n + 2);
            let f3 = f2 * f64::from(n + 3);
            p1 += zn / f1;
            p2 += zn / f2;
            p3 += zn / f3;
            zn *= z;
            fact *= f64::from(n + 1);
        }
        (p1, p2, p3)
    } else {
        let p1 = z.exp_m1() / z;
        let p2 = (p1 - 1.0) / z;
        let p3 = (p2 - 0.5) / z;
        (p1, p2, p3)
    }
}

/// Work done.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Right-hand-side evaluations.
    pub rhs_evaluations: u64,
}

/// Integrates dy/dt = f(t, y) from `t0` to `t1` in `substeps` equal steps
/// with L diagonal over `stiff`. `atol`: per-component absolute scale of
/// the difference step for L (1e-7·|y_i| + atol_i). Returns y(t1), or
/// `None` if a value became non-finite.
#[allow(clippy::too_many_arguments)]
pub fn integrate<const N: usize>(
    f: &mut impl FnMut(f64, &SVector<f64, N>, &mut SVector<f64, N>),
    t0: f64,
    t1: f64,
    y0: &SVector<f64, N>,
    substeps: usize,
    stiff: &[usize],
    atol: &SVector<f64, N>,
    counts: &mut Counts,
) -> Option<SVector<f64, N>> {
    let m = substeps.max(1);
    let h = (t1 - t0) / m as f64;
    if h <= 0.0 {
        return Some(*y0);
    }
    let mut u = *y0;
    let mut fu = SVector::<f64, N>::zeros();
    f(t0, &u, &mut fu);
    counts.rhs_evaluations += 1;

    // Diagonal linear part over the stiff components.
    let mut l = SVector::<f64, N>::zeros();
    let mut yp = u;
    let mut fp = SVector::<f64, N>::zeros();
    for &i in stiff {
        let d = 1e-7 * u[i].abs() + atol[i];
        yp[i] = u[i] + d;
        f(t0, &yp, &mut fp);
        counts.rhs_evaluations += 1;
        yp[i] = u[i];
        let j = (fp[i] - fu[i]) / d;
        l[i] = if j.is_finite() { j.min(0.0) } else { 0.0 };
    }
    // Coefficients, per component (1 and the RK4 weights where L = 0).
    let one = SVector::<f64, N>::repeat(1.0);
    let (mut e, mut e2, mut p1h) = (one, one, one);
    let mut b1 = SVector::<f64, N>::repeat(1.0 / 6.0);
    let mut b2 = SVector::<f64, N>::repeat(1.0 / 3.0);
    let mut b4 = SVector::<f64, N>::repeat(1.0 / 6.0);
    for &i in stiff {
        let z = h * l[i];
        let (p1, p2, p3) = phi123(z);
        e[i] = z.exp();
        e2[i] = (0.5 * z).exp();
        p1h[i] = phi123(0.5 * z).0;
        b1[i] = p1 - 3.0 * p2 + 4.0 * p3;
        b2[i] = 2.0 * p2 - 4.0 * p3;
        b4[i] = 4.0 * p3 - p2;
    }
    let hh = 0.5 * h;
    let (mut a, mut b, mut c) = (u, u, u);
    let (mut na, mut nb, mut nc) = (fu, fu, fu);
    let mut nu = fu;
    for s in 0..m {
        let t = t0 + s as f64 * h;
        let t_end = if s + 1 == m { t1 } else { t + h };
        if s > 0 {
            f(t, &u, &mut fu);
            counts.rhs_evaluations += 1;
        }
        for i in 0..N {
            nu[i] = fu[i] - l[i] * u[i];
            a[i] = e2[i] * u[i] + hh * p1h[i] * nu[i];
        }
        f(t + hh, &a, &mut na);
        for i in 0..N {
            na[i] -= l[i] * a[i];
            b[i] = e2[i] * u[i] + hh * p1h[i] * na[i];
        }
        f(t + hh, &b, &mut nb);
        for i in 0..N {
            nb[i] -= l[i] * b[i];
            c[i] = e2[i] * a[i] + hh * p1h[i] * (2.0 * nb[i] - nu[i]);
        }
        f(t_end, &c, &mut nc);
        counts.rhs_evaluations += 3;
        for i in 0..N {
            nc[i] -= l[i] * c[i];
            u[i] = e[i] * u[i] + h * (b1[i] * nu[i] + b2[i] * (na[i] + nb[i]) + b4[i] * nc[i]);
        }
        if !u.iter().all(|v| v.is_finite()) {
            return None;
        }
    }
    Some(u)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phi_functions_are_continuous_at_the_series_switch() {
        for z in [-0.999_999, -1.000_001] {
            let (a1, a2, a3) = phi123(z);
            // Closed forms at z = −1.
            let e = (-1.0f64).exp();
            let (p1, p2, p3) = (1.0 - e, e, 0.5 - e);
            assert!((a1 - p1).abs() < 1e-6, "{a1} {p1}");
            assert!((a2 - p2).abs() < 1e-6, "{a2} {p2}");
            assert!((a3 - p3).abs() < 1e-6, "{a3} {p3}");
        }
        assert_eq!(phi123(0.0), (1.0, 0.5, 1.0 / 6.0));
    }

    /// A stiff linear pair (fast mode −1000, slow −0.5, coupled one way)
    /// over 0.2 in one step, where RK4 alone would be unstable at
    /// h·1000 = 200: the slow component to RK4 accuracy (1e-5), the fast
    /// one (which follows the slow) within 1.5e-4 relative (measured
    /// 9.5e-5: the order reduction of exponential integrators in the stiff
    /// component, Hochbruck & Ostermann 2010).
    #[test]
    fn stiff_pair_in_one_step() {
        let (lf, ls) = (-1000.0, -0.5);
        let mut f = |_t: f64, y: &SVector<f64, 2>, dy: &mut SVector<f64, 2>| {
            dy[0] = ls * y[0];
            dy[1] = lf * (y[1] - y[0]);
        };
        let y0 = SVector::<f64, 2>::new(1.0, 1.0);
        let mut c = Counts::default();
        let atol = SVector::<f64, 2>::repeat(1e-9);
        let y = integrate(&mut f, 0.0, 0.2, &y0, 1, &[1], &atol, &mut c).unwrap();
        let slow = (ls * 0.2f64).exp();
        let a = lf / (lf - ls);
        // y1(0) = 1: y1 = a·e^{ls t} + (1 − a)·e^{lf t}.
        let fast = a * (ls * 0.2f64).exp() + (1.0 - a) * (lf * 0.2f64).exp();
        assert!((y[0] - slow).abs() / slow < 1e-5, "{} vs {slow}", y[0]);
        assert!((y[1] - fast).abs() / fast < 1.5e-4, "{} vs {fast}", y[1]);
        assert_eq!(c.rhs_evaluations, 5);
    }

    /// Fourth order on a smooth non-stiff problem (RK4 there): halving the
    /// step divides the error by about 16.
    #[test]
    fn fourth_order_without_stiff_components() {
        let mut f = |t: f64, y: &SVector<f64, 1>, dy: &mut SVector<f64, 1>| {
            dy[0] = -0.7 * y[0] + t.sin();
        };
        let exact = {
            let c = 1.0 + 1.0 / 1.49;
            c * (-0.7 * 5.0f64).exp() + (0.7 * 5.0f64.sin() - 5.0f64.cos()) / 1.49
        };
        let y0 = SVector::<f64, 1>::new(1.0);
        let atol = SVector::<f64, 1>::repeat(1e-9);
        let mut c = Counts::default();
        let mut e = |m: usize| {
            (integrate(&mut f, 0.0, 5.0, &y0, m, &[], &atol, &mut c).unwrap()[0] - exact).abs()
        };
        let (e1, e2) = (e(20), e(40));
        let ratio = e1 / e2;
        assert!((12.0..20.0).contains(&ratio), "{e1} {e2} ratio {ratio}");
    }
}
