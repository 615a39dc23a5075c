//! Axial transport by the nodal discontinuous Galerkin spectral element method
//! (DGSEM) with collocation (LGL) integration, as in CADET-Core's DG
//! discretisation (Breuer, Leweke, Schmölder, Gassner, von Lieres, J.
//! Chromatogr. A 1690 (2023) 463768 / Comput. Chem. Eng. 2023).
//!
//! Equation, per component, in the bulk liquid (SI):
//!
//! ∂c/∂t = -∂f/∂z,  f = u c - D_ax g,  g = ∂c/∂z,  z ∈ [0, L]
//!
//! with Danckwerts boundary conditions f(0) = u c_in(t) (total flux into the
//! column equals the convective inflow) and ∂c/∂z = 0 at z = L.
//!
//! The column is split into `elements` equal elements of width h, each carrying
//! the N+1 LGL nodes of degree N. In strong form, per element (d/dz = (2/h) d/dξ,
//! W = diag(LGL weights), D the nodal differentiation matrix):
//!
//! g = (2/h) [D c + W⁻¹ (e_N (c*_R - c_N) - e_0 (c*_L - c_0))]
//! dc/dt = -(2/h) [D f + W⁻¹ (e_N (f*_R - f_N) - e_0 (f*_L - f_0))]
//!
//! Numerical fluxes: c* is the mean of both sides (BR1 scheme, Bassi & Rebay
//! 1997) and equals the own value at the column ends; f* is the upwind
//! convective flux (u > 0) minus D_ax times the mean of g. Summing the scheme
//! with the weights telescopes the interface fluxes, so the LGL-weighted hold-up
//! changes exactly by u c_in - u c_out: the discretisation conserves mass.
//!
//! The operator is linear, so it is assembled once into a sparse matrix A and an
//! inlet vector a: dc/dt = A c + a c_in. A couples each node with its own
//! element and its two neighbours on each side (through g).

use super::lgl::Lgl;

/// Sparse (CSR) linear transport operator of one component on the node grid.
#[derive(Debug, Clone)]
pub struct Transport {
    /// Number of nodes (rows and columns) of the operator.
    pub n_nodes: usize,
    /// CSR row pointers: row i's entries are `row_start[i]..row_start[i + 1]`
    /// of `cols`/`vals` (length `n_nodes + 1`).
    pub row_start: Vec<usize>,
    /// CSR column (node) index of each stored entry.
    pub cols: Vec<usize>,
    /// CSR value of each stored entry, 1/s (convection and dispersion combined).
    pub vals: Vec<f64>,
    /// Coefficient of c_in in each node's equation (non-zero only at z = 0).
    pub inlet: Vec<f64>,
}

/// Node grid of the column: positions (m) and quadrature weights (m) with
/// Σ weights = L, exact for polynomials of degree 2N-1 in each element.
#[derive(Debug, Clone)]
pub struct Grid {
    /// Axial position of each node, m (0 at the inlet), element by element; the
    /// nodes shared by two elements appear twice.
    pub z_m: Vec<f64>,
    /// Quadrature weight of each node, m; Σ = column length.
    pub weight_m: Vec<f64>,
    /// Number of DG elements along the column.
    pub elements: usize,
    /// Polynomial degree per element (N + 1 nodes each).
    pub degree: usize,
}

impl Grid {
    /// Grid of `elements` equal elements of polynomial `degree` on a column of
    /// `length_m` m, with the LGL nodes and weights mapped onto each element.
    pub fn new(length_m: f64, elements: usize, degree: usize) -> Grid {
        let lgl = Lgl::new(degree);
        let h = length_m / elements as f64;
        let mut z_m = Vec::new();
        let mut weight_m = Vec::new();
        for e in 0..elements {
            for (x, w) in lgl.nodes.iter().zip(&lgl.weights) {
                z_m.push(e as f64 * h + (x + 1.0) * h / 2.0);
                weight_m.push(w * h / 2.0);
            }
        }
        Grid {
            z_m,
            weight_m,
            elements,
            degree,
        }
    }

    /// Number of nodes (`elements × (degree + 1)`).
    pub fn len(&self) -> usize {
        self.z_m.len()
    }

    /// Whether the grid has no node.
    pub fn is_empty(&self) -> bool {
        self.z_m.is_empty()
    }
}

/// The DG convection-dispersion operator of one component.
struct Operator<'a> {
    lgl: &'a Lgl,
    elements: usize,
    /// Element width, m.
    h: f64,
    u: f64,
    d_ax: f64,
}

/// Applies the DG operator to `c` with inlet concentration `c_in`.
fn apply(op: &Operator, c: &[f64], c_in: f64, out: &mut [f64]) {
    let Operator {
        lgl,
        elements,
        h,
        u,
        d_ax,
    } = *op;
    let np = lgl.len();
    let n = np - 1;
    let dmat = &lgl.diff;
    let w = &lgl.weights;
    let scale = 2.0 / h;
    let mut g = vec![0.0; c.len()];
    for e in 0..elements {
        let o = e * np;
        for i in 0..np {
            g[o + i] = (0..np).map(|j| dmat[i * np + j] * c[o + j]).sum();
        }
        let c_right = if e + 1 < elements {
            0.5 * (c[o + n] + c[o + np])
        } else {
            c[o + n]
        };
        let c_left = if e > 0 { 0.5 * (c[o - 1] + c[o]) } else { c[o] };
        g[o + n] += (c_right - c[o + n]) / w[n];
        g[o] -= (c_left - c[o]) / w[0];
        for gi in &mut g[o..o + np] {
            *gi *= scale;
        }
    }
    let f: Vec<f64> = c.iter().zip(&g).map(|(c, g)| u * c - d_ax * g).collect();
    for e in 0..elements {
        let o = e * np;
        for i in 0..np {
            out[o + i] = -scale * (0..np).map(|j| dmat[i * np + j] * f[o + j]).sum::<f64>();
        }
        let f_right = if e + 1 < elements {
            u * c[o + n] - d_ax * 0.5 * (g[o + n] + g[o + np])
        } else {
            u * c[o + n]
        };
        let f_left = if e > 0 {
            u * c[o - 1] - d_ax * 0.5 * (g[o - 1] + g[o])
        } else {
            u * c_in
        };
        out[o + n] -= scale * (f_right - f[o + n]) / w[n];
        out[o] += scale * (f_left - f[o]) / w[0];
    }
}

impl Transport {
    /// Assembles the operator for interstitial velocity `u_m_per_s` > 0 and axial
    /// dispersion `d_ax_m2_per_s` ≥ 0 on a column of `length_m`.
    pub fn assemble(
        length_m: f64,
        elements: usize,
        degree: usize,
        u_m_per_s: f64,
        d_ax_m2_per_s: f64,
    ) -> Transport {
        let lgl = Lgl::new(degree);
        let np = lgl.len();
        let n_nodes = elements * np;
        let h = length_m / elements as f64;
        // Columns of A, each from one unit vector; only nodes within two
        // elements can be reached, so only those are applied.
        let op = Operator {
            lgl: &lgl,
            elements,
            h,
            u: u_m_per_s,
            d_ax: d_ax_m2_per_s,
        };
        let mut dense_cols: Vec<Vec<(usize, f64)>> = Vec::with_capacity(n_nodes);
        let mut unit = vec![0.0; n_nodes];
        let mut out = vec![0.0; n_nodes];
        for j in 0..n_nodes {
            unit[j] = 1.0;
            apply(&op, &unit, 0.0, &mut out);
            unit[j] = 0.0;
            dense_cols.push(
                out.iter()
                    .enumerate()
                    .filter(|(_, v)| **v != 0.0)
                    .map(|(i, v)| (i, *v))
                    .collect(),
            );
        }
        let mut inlet = vec![0.0; n_nodes];
        apply(&op, &vec![0.0; n_nodes], 1.0, &mut inlet);
        // transpose column lists into CSR rows
        let mut rows: Vec<Vec<(usize, f64)>> = vec![Vec::new(); n_nodes];
        for (j, col) in dense_cols.into_iter().enumerate() {
            for (i, v) in col {
                rows[i].push((j, v));
            }
        }
        let mut row_start = Vec::with_capacity(n_nodes + 1);
        let mut cols = Vec::new();
        let mut vals = Vec::new();
        row_start.push(0);
        for row in rows {
            for (j, v) in row {
                cols.push(j);
                vals.push(v);
            }
            row_start.push(cols.len());
        }
        Transport {
            n_nodes,
            row_start,
            cols,
            vals,
            inlet,
        }
    }

    /// `out[node] = Σ_j A[node, j] x[j·stride + offset] (+ inlet[node]·c_in)`.
    #[inline]
    pub fn row_dot(&self, node: usize, x: &[f64], stride: usize, offset: usize) -> f64 {
        let (a, b) = (self.row_start[node], self.row_start[node + 1]);
        self.cols[a..b]
            .iter()
            .zip(&self.vals[a..b])
            .map(|(&j, &v)| v * x[j * stride + offset])
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_state_with_equal_inlet_is_steady() {
        let t = Transport::assemble(0.1, 7, 4, 1e-3, 2e-7);
        let c = vec![2.5; t.n_nodes];
        for i in 0..t.n_nodes {
            let r = t.row_dot(i, &c, 1, 0) + t.inlet[i] * 2.5;
            assert!(r.abs() < 1e-12, "node {i}: {r}");
        }
    }

    #[test]
    fn weighted_hold_up_changes_by_inflow_minus_outflow() {
        let (l, u) = (0.1, 1e-3);
        let t = Transport::assemble(l, 6, 3, u, 1e-6);
        let grid = Grid::new(l, 6, 3);
        let c: Vec<f64> = grid.z_m.iter().map(|z| (30.0 * z).sin() + 2.0).collect();
        let c_in = 0.7;
        let rate: f64 = (0..t.n_nodes)
            .map(|i| grid.weight_m[i] * (t.row_dot(i, &c, 1, 0) + t.inlet[i] * c_in))
            .sum();
        let expected = u * c_in - u * c[t.n_nodes - 1];
        assert!((rate - expected).abs() < 1e-14, "{rate} vs {expected}");
        assert!((grid.weight_m.iter().sum::<f64>() - l).abs() < 1e-15);
    }
}
