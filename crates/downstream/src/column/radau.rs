//! Gauss-Radau-Jacobi nodes and weights for the radial direction of a sphere.
//!
//! On ξ ∈ [-1, 1] with r = r_p (1+ξ)/2, the particle integral ∫ f r² dr
//! carries the weight (1+ξ)². The N+1 nodes are the N roots of the Jacobi
//! polynomial P_N^{(1,2)} and ξ = 1 (the particle surface, where the film
//! condition acts); with these nodes the quadrature Σ W_j f(ξ_j) of
//! ∫ f (1+ξ)² dξ is exact for polynomials of degree 2N (Gauss-Radau with
//! weight (1+ξ)²; Hesthaven, Gottlieb & Gottlieb, *Spectral Methods for
//! Time-Dependent Problems*, 2007, §4.4). No node sits at the centre, so the
//! lumped mass matrix diag(W) is positive.

use nalgebra::{DMatrix, DVector};

/// Jacobi polynomial P_n^{(a,b)}(x) and its derivative.
fn jacobi(n: usize, a: f64, b: f64, x: f64) -> (f64, f64) {
    let value = |n: usize, a: f64, b: f64| {
        if n == 0 {
            return 1.0;
        }
        let mut p0 = 1.0;
        let mut p1 = (a + 1.0) + (a + b + 2.0) * (x - 1.0) / 2.0;
        for k in 2..=n {
            let k = k as f64;
            let c = 2.0 * k + a + b;
            let a1 = 2.0 * k * (k + a + b) * (c - 2.0);
            let a2 = (c - 1.0) * (c * (c - 2.0) * x + a * a - b * b);
            let a3 = 2.0 * (k + a - 1.0) * (k + b - 1.0) * c;
            let p2 = (a2 * p1 - a3 * p0) / a1;
            p0 = p1;
            p1 = p2;
        }
        p1
    };
    let p = value(n, a, b);
    let dp = if n == 0 {
        0.0
    } else {
        (n as f64 + a + b + 1.0) / 2.0 * value(n - 1, a + 1.0, b + 1.0)
    };
    (p, dp)
}

/// Gauss-Radau-Jacobi nodes, weights and differentiation matrix of the radial
/// spectral element (see the module docs).
#[derive(Debug, Clone)]
pub struct RadialNodes {
    /// ξ_j, increasing, last = 1.
    pub nodes: Vec<f64>,
    /// W_j, Σ W_j = ∫(1+ξ)² dξ = 8/3.
    pub weights: Vec<f64>,
    /// D_ij = ℓ_j'(ξ_i), row-major.
    pub diff: Vec<f64>,
}

impl RadialNodes {
    /// Nodes of polynomial `degree` (at least 1): the roots of P_N^{(1,2)} by
    /// Newton from Chebyshev guesses, then ξ = 1.
    pub fn new(degree: usize) -> RadialNodes {
        let n = degree.max(1);
        let mut nodes: Vec<f64> = Vec::with_capacity(n + 1);
        for k in 0..n {
            let mut x = -(std::f64::consts::PI * (2 * k + 1) as f64 / (2 * n) as f64).cos();
            for _ in 0..200 {
                let (p, dp) = jacobi(n, 1.0, 2.0, x);
                let deflation: f64 = nodes.iter().map(|r| 1.0 / (x - r)).sum();
                let step = p / (dp - p * deflation);
                x -= step;
                if step.abs() < 1e-15 {
                    break;
                }
            }
            nodes.push(x);
        }
        nodes.push(1.0);
        nodes.sort_by(f64::total_cmp);
        let np = n + 1;
        // Weights from exactness on 1, ξ, …, ξ^N (Vandermonde system).
        let v = DMatrix::from_fn(np, np, |k, j| nodes[j].powi(k as i32));
        let moments = DVector::from_fn(np, |k, _| {
            // ∫_{-1}^{1} ξ^k (1+ξ)² dξ
            let m = |p: i32| {
                if p % 2 == 1 {
                    0.0
                } else {
                    2.0 / (p as f64 + 1.0)
                }
            };
            let k = k as i32;
            m(k) + 2.0 * m(k + 1) + m(k + 2)
        });
        let weights: Vec<f64> = v
            .lu()
            .solve(&moments)
            .map(|w| w.iter().copied().collect())
            .unwrap_or_else(|| vec![f64::NAN; np]);
        let bary: Vec<f64> = (0..np)
            .map(|j| {
                1.0 / (0..np)
                    .filter(|&m| m != j)
                    .map(|m| nodes[j] - nodes[m])
                    .product::<f64>()
            })
            .collect();
        let mut diff = vec![0.0; np * np];
        for i in 0..np {
            let mut sum = 0.0;
            for j in 0..np {
                if i != j {
                    let d = bary[j] / bary[i] / (nodes[i] - nodes[j]);
                    diff[i * np + j] = d;
                    sum += d;
                }
            }
            diff[i * np + i] = -sum;
        }
        RadialNodes {
            nodes,
            weights,
            diff,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quadrature_is_exact_to_degree_2n_and_derivative_exact() {
        for degree in 1..=8 {
            let r = RadialNodes::new(degree);
            assert!(r.weights.iter().all(|w| *w > 0.0), "{:?}", r.weights);
            for k in 0..=(2 * degree) {
                let num: f64 = r
                    .nodes
                    .iter()
                    .zip(&r.weights)
                    .map(|(x, w)| w * x.powi(k as i32))
                    .sum();
                let exact: f64 = {
                    let m = |p: usize| {
                        if p % 2 == 1 {
                            0.0
                        } else {
                            2.0 / (p as f64 + 1.0)
                        }
                    };
                    m(k) + 2.0 * m(k + 1) + m(k + 2)
                };
                assert!(
                    (num - exact).abs() < 1e-11,
                    "N={degree} k={k}: {num} vs {exact}"
                );
            }
            let np = degree + 1;
            for i in 0..np {
                let d: f64 = (0..np)
                    .map(|j| r.diff[i * np + j] * r.nodes[j].powi(degree as i32))
                    .sum();
                let exact = degree as f64 * r.nodes[i].powi(degree as i32 - 1);
                assert!((d - exact).abs() < 1e-9, "N={degree}: {d} vs {exact}");
            }
        }
    }
}
