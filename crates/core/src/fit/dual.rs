//! Forward-mode automatic differentiation with one tangent direction.
//!
//! Model right-hand sides (xing2010 kinetics, the serial hybrid) are written
//! once, generic over
//! [`Scalar`]; evaluated on [`Dual`] numbers with tangents `(s, e_j)` it
//! gives `∂f/∂y · s + ∂f/∂θ_j` exactly — the right-hand side of the forward
//! sensitivity equation — without hand-written Jacobians.

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
    fn exp(self) -> Self;
    fn tanh(self) -> Self;
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
}

/// A value and its derivative along one direction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dual {
    pub v: f64,
    pub d: f64,
}

impl Dual {
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
    fn exp_and_tanh_chain_rule() {
        // g(x) = exp(tanh(3x)) at x = 0.2: g' = g · 3 (1 − tanh²(3x)).
        let x = Dual::new(0.2, 1.0);
        let g = (Dual::cst(3.0) * x).tanh().exp();
        let t = (0.6f64).tanh();
        assert!((g.v - t.exp()).abs() < 1e-15);
        assert!((g.d - t.exp() * 3.0 * (1.0 - t * t)).abs() < 1e-14);
    }
}
