//! Forward-mode automatic differentiation.
//!
//! Model right-hand sides (xing2010 kinetics, the serial hybrid, the CHO
//! platform model) are written once, generic over [`Scalar`]; evaluated on
//! [`Dual`] numbers with tangents `(s, e_j)` they give `∂f/∂y · s + ∂f/∂θ_j`
//! exactly — the right-hand side of the forward sensitivity equation —
//! without hand-written Jacobians. [`DualN`] carries `K` tangent directions
//! at once, so one evaluation gives the sensitivity right-hand sides of `K`
//! parameters: the value and every transcendental function are computed
//! once, only the (linear) derivative parts are repeated.

use std::ops::{Add, Div, Mul, Neg, Sub};

/// Arithmetic the hybrid right-hand side needs.
pub trait Scalar:
    Copy
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
{
    /// A constant (zero tangent).
    fn cst(v: f64) -> Self;
    /// A variable with value `v` and tangent `d` (f64 drops the tangent).
    fn var(v: f64, d: f64) -> Self;
    /// The value part.
    fn value(self) -> f64;
    /// Exponential.
    fn exp(self) -> Self;
    /// Hyperbolic tangent.
    fn tanh(self) -> Self;
    /// Natural logarithm.
    fn ln(self) -> Self;
    /// Square root.
    fn sqrt(self) -> Self;
    /// `self^n` for a positive base (an exponent with a tangent
    /// differentiates through `exp(n ln self)`).
    fn powf(self, n: Self) -> Self;
    /// `self × c` for a plain number `c` (no tangent work on `c`).
    #[inline]
    fn scale(self, c: f64) -> Self {
        self * Self::cst(c)
    }
    /// `self / c` for a plain number `c`.
    #[inline]
    fn over(self, c: f64) -> Self {
        self / Self::cst(c)
    }
    /// Whether the tangent part is zero (always for `f64`): lets a model
    /// take an exact shortcut (Hill n = 1 → Michaelis form) only where no
    /// derivative passes through the shortcut.
    fn is_constant(self) -> bool;
    /// max(self, 0): rates see the positive part of a concentration that
    /// the integrator overshot slightly below zero.
    #[inline]
    fn pos(self) -> Self {
        if self.value() < 0.0 {
            Self::cst(0.0)
        } else {
            self
        }
    }
}

impl Scalar for f64 {
    #[inline]
    fn cst(v: f64) -> f64 {
        v
    }
    #[inline]
    fn var(v: f64, _d: f64) -> f64 {
        v
    }
    #[inline]
    fn value(self) -> f64 {
        self
    }
    #[inline]
    fn exp(self) -> f64 {
        f64::exp(self)
    }
    #[inline]
    fn tanh(self) -> f64 {
        f64::tanh(self)
    }
    #[inline]
    fn ln(self) -> f64 {
        f64::ln(self)
    }
    #[inline]
    fn sqrt(self) -> f64 {
        f64::sqrt(self)
    }
    #[inline]
    fn powf(self, n: f64) -> f64 {
        f64::powf(self, n)
    }
    #[inline]
    fn is_constant(self) -> bool {
        true
    }
}

/// A value and its derivative along one direction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dual {
    /// Value.
    pub v: f64,
    /// Derivative along the direction.
    pub d: f64,
}

impl Dual {
    /// Value `v` with derivative `d`.
    pub fn new(v: f64, d: f64) -> Dual {
        Dual { v, d }
    }
}

impl Scalar for Dual {
    #[inline]
    fn cst(v: f64) -> Dual {
        Dual { v, d: 0.0 }
    }
    #[inline]
    fn var(v: f64, d: f64) -> Dual {
        Dual { v, d }
    }
    #[inline]
    fn value(self) -> f64 {
        self.v
    }
    #[inline]
    fn exp(self) -> Dual {
        let e = self.v.exp();
        Dual::new(e, e * self.d)
    }
    #[inline]
    fn tanh(self) -> Dual {
        let t = self.v.tanh();
        Dual::new(t, (1.0 - t * t) * self.d)
    }
    #[inline]
    fn ln(self) -> Dual {
        Dual::new(self.v.ln(), self.d / self.v)
    }
    #[inline]
    fn sqrt(self) -> Dual {
        let r = self.v.sqrt();
        Dual::new(r, if r > 0.0 { 0.5 * self.d / r } else { 0.0 })
    }
    #[inline]
    fn powf(self, n: Dual) -> Dual {
        let r = self.v.powf(n.v);
        // d(x^n) = n x^(n−1) dx + x^n ln x dn.
        let dn = if n.d != 0.0 {
            r * self.v.ln() * n.d
        } else {
            0.0
        };
        Dual::new(r, n.v * self.v.powf(n.v - 1.0) * self.d + dn)
    }
    #[inline]
    fn is_constant(self) -> bool {
        self.d == 0.0
    }
}

impl Add for Dual {
    type Output = Dual;
    #[inline]
    fn add(self, o: Dual) -> Dual {
        Dual::new(self.v + o.v, self.d + o.d)
    }
}
impl Sub for Dual {
    type Output = Dual;
    #[inline]
    fn sub(self, o: Dual) -> Dual {
        Dual::new(self.v - o.v, self.d - o.d)
    }
}
impl Mul for Dual {
    type Output = Dual;
    #[inline]
    fn mul(self, o: Dual) -> Dual {
        Dual::new(self.v * o.v, self.d * o.v + self.v * o.d)
    }
}
impl Div for Dual {
    type Output = Dual;
    #[inline]
    fn div(self, o: Dual) -> Dual {
        let q = self.v / o.v;
        Dual::new(q, (self.d - q * o.d) / o.v)
    }
}
impl Neg for Dual {
    type Output = Dual;
    #[inline]
    fn neg(self) -> Dual {
        Dual::new(-self.v, -self.d)
    }
}

/// A value and its derivatives along `K` directions at once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DualN<const K: usize> {
    /// Value.
    pub v: f64,
    /// Derivatives along each of the `K` directions.
    pub d: [f64; K],
}

impl<const K: usize> Default for DualN<K> {
    fn default() -> Self {
        DualN::cst(0.0)
    }
}

impl<const K: usize> DualN<K> {
    /// Value `v` with derivatives `d`.
    #[inline(always)]
    pub fn new(v: f64, d: [f64; K]) -> DualN<K> {
        DualN { v, d }
    }
    /// The chain rule of a unary function with derivative `df` at the value.
    #[inline(always)]
    fn chain(self, v: f64, df: f64) -> DualN<K> {
        let mut d = [0.0; K];
        for k in 0..K {
            d[k] = df * self.d[k];
        }
        DualN { v, d }
    }
}

impl<const K: usize> Scalar for DualN<K> {
    #[inline(always)]
    fn cst(v: f64) -> Self {
        DualN { v, d: [0.0; K] }
    }
    #[inline(always)]
    fn scale(mut self, c: f64) -> Self {
        self.v *= c;
        for x in self.d.iter_mut() {
            *x *= c;
        }
        self
    }
    #[inline(always)]
    fn over(mut self, c: f64) -> Self {
        self.v /= c;
        for x in self.d.iter_mut() {
            *x /= c;
        }
        self
    }
    /// The tangent `d` along every direction (use [`DualN::new`] for a
    /// tangent per direction).
    #[inline(always)]
    fn var(v: f64, d: f64) -> Self {
        DualN { v, d: [d; K] }
    }
    #[inline(always)]
    fn value(self) -> f64 {
        self.v
    }
    #[inline(always)]
    fn exp(self) -> Self {
        let e = self.v.exp();
        self.chain(e, e)
    }
    #[inline(always)]
    fn tanh(self) -> Self {
        let t = self.v.tanh();
        self.chain(t, 1.0 - t * t)
    }
    #[inline(always)]
    fn ln(self) -> Self {
        self.chain(self.v.ln(), 1.0 / self.v)
    }
    #[inline(always)]
    fn sqrt(self) -> Self {
        let r = self.v.sqrt();
        self.chain(r, if r > 0.0 { 0.5 / r } else { 0.0 })
    }
    #[inline(always)]
    fn powf(self, n: Self) -> Self {
        let r = self.v.powf(n.v);
        // d(x^n) = n x^(n−1) dx + x^n ln x dn, with x^(n−1) = x^n / x.
        let dx = if self.v != 0.0 {
            n.v * r / self.v
        } else {
            n.v * self.v.powf(n.v - 1.0)
        };
        let mut out = self.chain(r, dx);
        if n.d.iter().any(|&x| x != 0.0) {
            let l = r * self.v.ln();
            for k in 0..K {
                out.d[k] += l * n.d[k];
            }
        }
        out
    }
    #[inline(always)]
    fn is_constant(self) -> bool {
        self.d.iter().all(|&x| x == 0.0)
    }
}

impl<const K: usize> Add for DualN<K> {
    type Output = Self;
    #[inline(always)]
    fn add(mut self, o: Self) -> Self {
        self.v += o.v;
        for k in 0..K {
            self.d[k] += o.d[k];
        }
        self
    }
}
impl<const K: usize> Sub for DualN<K> {
    type Output = Self;
    #[inline(always)]
    fn sub(mut self, o: Self) -> Self {
        self.v -= o.v;
        for k in 0..K {
            self.d[k] -= o.d[k];
        }
        self
    }
}
impl<const K: usize> Mul for DualN<K> {
    type Output = Self;
    #[inline(always)]
    fn mul(self, o: Self) -> Self {
        let mut d = [0.0; K];
        for k in 0..K {
            d[k] = self.d[k] * o.v + self.v * o.d[k];
        }
        DualN { v: self.v * o.v, d }
    }
}
impl<const K: usize> Div for DualN<K> {
    type Output = Self;
    #[inline(always)]
    fn div(self, o: Self) -> Self {
        let q = self.v / o.v;
        let inv = 1.0 / o.v;
        let mut d = [0.0; K];
        for k in 0..K {
            d[k] = (self.d[k] - q * o.d[k]) * inv;
        }
        DualN { v: q, d }
    }
}
impl<const K: usize> Neg for DualN<K> {
    type Output = Self;
    #[inline(always)]
    fn neg(self) -> Self {
        let mut d = self.d;
        for x in d.iter_mut() {
            *x = -*x;
        }
        DualN { v: -self.v, d }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotient_rule() {
        // f(x) = x² / (1 + x) at x = 2: f' = (2x(1+x) − x²)/(1+x)² = 8/9.
        let x = Dual::new(2.0, 1.0);
        let f = x * x / (Dual::cst(1.0) + x);
        assert!((f.v - 4.0 / 3.0).abs() < 1e-15);
        assert!((f.d - 8.0 / 9.0).abs() < 1e-15);
    }

    #[test]
    fn several_directions_at_once_match_one_at_a_time() {
        // h(x, n) = ln(1 + x^n) / sqrt(x) at x = 1.7, n = 2.5, both
        // directions at once against each alone.
        fn h<T: Scalar>(x: T, n: T) -> T {
            (T::cst(1.0) + x.powf(n)).ln() / x.sqrt() - (-x).exp()
        }
        let both = h(DualN::new(1.7, [1.0, 0.0]), DualN::new(2.5, [0.0, 1.0]));
        let dx = h(Dual::new(1.7, 1.0), Dual::new(2.5, 0.0));
        let dn = h(Dual::new(1.7, 0.0), Dual::new(2.5, 1.0));
        assert_eq!(both.v, dx.v);
        assert!((both.d[0] - dx.d).abs() < 1e-14 * dx.d.abs().max(1.0));
        assert!((both.d[1] - dn.d).abs() < 1e-14 * dn.d.abs().max(1.0));
        // And against a central difference.
        let e = 1e-6;
        let fd = (h(1.7 + e, 2.5) - h(1.7 - e, 2.5)) / (2.0 * e);
        assert!((both.d[0] - fd).abs() < 1e-8, "{} vs {fd}", both.d[0]);
        let fd = (h(1.7, 2.5 + e) - h(1.7, 2.5 - e)) / (2.0 * e);
        assert!((both.d[1] - fd).abs() < 1e-8, "{} vs {fd}", both.d[1]);
        assert!(!both.is_constant() && DualN::<2>::cst(3.0).is_constant());
    }

    #[test]
    fn exp_and_tanh_chain_rule() {
        // g(x) = exp(tanh(3x)) at x = 0.2: g' = g · 3 (1 − tanh²(3x)).
        let x = Dual::new(0.2, 1.0);
        let g = (Dual::cst(3.0) * x).tanh().exp();
        let t = (0.6f64).tanh();
        assert!((g.v - t.exp()).abs() < 1e-15);
        assert!((g.d - t.exp() * 3.0 * (1.0 - t * t)).abs() < 1e-14);
    }
}
