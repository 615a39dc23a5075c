//! Legendre-Gauss-Lobatto (LGL) nodes, quadrature weights and the nodal
//! differentiation matrix on the reference element ξ ∈ [-1, 1].
//!
//! For polynomial degree N the N+1 nodes are ξ = ±1 and the roots of P'_N, the
//! derivative of the Legendre polynomial P_N. Weights are
//! w_j = 2 / (N (N+1) P_N(ξ_j)²); the quadrature is exact for degree 2N-1.
//! Differentiation matrix (Hesthaven & Warburton, *Nodal Discontinuous Galerkin
//! Methods*, 2008, §3.2; Kopriva, *Implementing Spectral Methods*, 2009, alg. 37):
//! D_ij = P_N(ξ_i) / (P_N(ξ_j) (ξ_i - ξ_j)) for i ≠ j,
//! D_00 = -N(N+1)/4, D_NN = N(N+1)/4, otherwise D_ii = 0.

/// Nodes, weights and differentiation matrix (row-major, (N+1)×(N+1)).
#[derive(Debug, Clone)]
pub struct Lgl {
    /// LGL nodes ξ_j on [-1, 1], increasing (ξ_0 = -1, ξ_N = 1).
    pub nodes: Vec<f64>,
    /// Quadrature weights w_j, Σ w_j = 2.
    pub weights: Vec<f64>,
    /// Differentiation matrix D_ij = ℓ_j'(ξ_i), row-major (N+1)×(N+1).
    pub diff: Vec<f64>,
}

/// P_N(x) and P'_N(x) by the three-term recurrence.
fn legendre(n: usize, x: f64) -> (f64, f64) {
    if n == 0 {
        return (1.0, 0.0);
    }
    let (mut p0, mut p1) = (1.0, x);
    for k in 2..=n {
        let k = k as f64;
        let p2 = ((2.0 * k - 1.0) * x * p1 - (k - 1.0) * p0) / k;
        p0 = p1;
        p1 = p2;
    }
    // P'_N from the identity (1-x²) P'_N = N (P_{N-1} - x P_N), away from ±1.
    let n_f = n as f64;
    let dp = if (1.0 - x * x).abs() > 1e-14 {
        n_f * (p0 - x * p1) / (1.0 - x * x)
    } else {
        x.signum().powi(n as i32 + 1) * n_f * (n_f + 1.0) / 2.0
    };
    (p1, dp)
}

impl Lgl {
    /// LGL data for polynomial degree `degree` ≥ 1.
    pub fn new(degree: usize) -> Lgl {
        let n = degree.max(1);
        let np = n + 1;
        let mut nodes = vec![0.0; np];
        nodes[0] = -1.0;
        nodes[n] = 1.0;
        // Interior nodes: roots of P'_N, found by Newton from Chebyshev-Gauss-Lobatto guesses.
        for (j, node) in nodes.iter_mut().enumerate().take(n).skip(1) {
            let mut x = -(std::f64::consts::PI * j as f64 / n as f64).cos();
            for _ in 0..100 {
                // q = (1-x²) P'_N; q' = -N(N+1) P_N (Legendre equation).
                let (p, dp) = legendre(n, x);
                let q = (1.0 - x * x) * dp;
                let dq = -(n as f64) * (n as f64 + 1.0) * p;
                let step = q / dq;
                x -= step;
                if step.abs() < 1e-16 {
                    break;
                }
            }
            *node = x;
        }
        let nn1 = (n * (n + 1)) as f64;
        let pn: Vec<f64> = nodes.iter().map(|&x| legendre(n, x).0).collect();
        let weights = pn.iter().map(|p| 2.0 / (nn1 * p * p)).collect();
        let mut diff = vec![0.0; np * np];
        for i in 0..np {
            for j in 0..np {
                diff[i * np + j] = if i != j {
                    pn[i] / (pn[j] * (nodes[i] - nodes[j]))
                } else if i == 0 {
                    -nn1 / 4.0
                } else if i == n {
                    nn1 / 4.0
                } else {
                    0.0
                };
            }
        }
        Lgl {
            nodes,
            weights,
            diff,
        }
    }

    /// Number of nodes, N + 1.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether there is no node (never, for a constructed element).
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_integrate_polynomials_exactly() {
        for degree in 1..=8 {
            let lgl = Lgl::new(degree);
            // exact for x^k, k <= 2N-1
            for k in 0..=(2 * degree - 1) {
                let num: f64 = lgl
                    .nodes
                    .iter()
                    .zip(&lgl.weights)
                    .map(|(x, w)| w * x.powi(k as i32))
                    .sum();
                let exact = if k % 2 == 1 {
                    0.0
                } else {
                    2.0 / (k as f64 + 1.0)
                };
                assert!(
                    (num - exact).abs() < 1e-13,
                    "N={degree} k={k}: {num} vs {exact}"
                );
            }
        }
    }

    #[test]
    fn differentiates_polynomials_exactly() {
        let degree = 5;
        let lgl = Lgl::new(degree);
        let np = lgl.len();
        for k in 0..=degree {
            for i in 0..np {
                let d: f64 = (0..np)
                    .map(|j| lgl.diff[i * np + j] * lgl.nodes[j].powi(k as i32))
                    .sum();
                let x = lgl.nodes[i];
                let exact = if k == 0 {
                    0.0
                } else {
                    k as f64 * x.powi(k as i32 - 1)
                };
                assert!((d - exact).abs() < 1e-11, "k={k} i={i}: {d} vs {exact}");
            }
        }
    }
}
