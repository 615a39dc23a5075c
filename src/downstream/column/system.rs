//! The semi-discrete lumped rate model: the ODE system dy/dt = f(t, y) that the
//! BDF integrator solves, with its exact Jacobian-vector product.
//!
//! State layout, node by node (so the Jacobian is banded): at node n,
//! `[c_0 … c_{nc-1}, q_0 … q_{nb-1}]`, then after the last node one running
//! integral ∫ c_out dt per component (mol·s/m³), from which outlet amounts and
//! pools are read without quadrature error.
//!
//! Equations at node n (F = (1-ε_t)/ε_t, R_b the binding rates):
//! dc_k/dt = (A_k c_k)_n + a_{k,n} c_in,k(t) - F Σ_b s_{k,b} R_b(c_n, q_n)
//! dq_b/dt = R_b(c_n, q_n)
//! d(∫c_out,k)/dt = c_k at z = L

use super::dg::{Grid, Transport};
use super::spec::ColumnSpec;
use crate::downstream::binding::Isotherm;

pub struct LumpedRateSystem {
    pub grid: Grid,
    pub transports: Vec<Transport>,
    pub isotherm: Isotherm,
    /// (component, bound state, coefficient): liquid-phase effect of binding.
    pub coupling: Vec<(usize, usize, f64)>,
    pub n_comp: usize,
    pub n_bound: usize,
    pub phase_ratio: f64,
}

impl LumpedRateSystem {
    pub fn new(spec: &ColumnSpec) -> LumpedRateSystem {
        let d = spec.discretisation;
        let u = spec.interstitial_velocity_m_per_s();
        let transports = spec
            .components
            .iter()
            .map(|c| {
                Transport::assemble(
                    spec.length_m,
                    d.elements,
                    d.polynomial_degree,
                    u,
                    c.axial_dispersion_m2_per_s,
                )
            })
            .collect();
        LumpedRateSystem {
            grid: Grid::new(spec.length_m, d.elements, d.polynomial_degree),
            transports,
            isotherm: spec.isotherm.clone(),
            coupling: spec.isotherm.liquid_coupling(),
            n_comp: spec.components.len(),
            n_bound: spec.isotherm.bound_components().len(),
            phase_ratio: spec.phase_ratio(),
        }
    }

    pub fn stride(&self) -> usize {
        self.n_comp + self.n_bound
    }

    pub fn n_nodes(&self) -> usize {
        self.grid.len()
    }

    pub fn n_states(&self) -> usize {
        self.n_nodes() * self.stride() + self.n_comp
    }

    /// Index of the running outlet integral of component k.
    pub fn outlet_integral_index(&self, k: usize) -> usize {
        self.n_nodes() * self.stride() + k
    }

    /// Index of component k's liquid concentration at the outlet node.
    pub fn outlet_index(&self, k: usize) -> usize {
        (self.n_nodes() - 1) * self.stride() + k
    }

    /// Initial state: uniform liquid and bound concentrations, zero integrals.
    pub fn initial_state(&self, spec: &ColumnSpec) -> Vec<f64> {
        let mut y = vec![0.0; self.n_states()];
        let s = self.stride();
        for n in 0..self.n_nodes() {
            for (k, comp) in spec.components.iter().enumerate() {
                y[n * s + k] = comp.initial_mol_per_m3;
            }
            for (b, q) in spec.initial_bound_mol_per_m3.iter().enumerate() {
                y[n * s + self.n_comp + b] = *q;
            }
        }
        y
    }

    pub fn rhs(&self, y: &[f64], c_in: &[f64], dy: &mut [f64]) {
        let (nc, nb, s) = (self.n_comp, self.n_bound, self.stride());
        let mut r = vec![0.0; nb];
        for n in 0..self.n_nodes() {
            let base = n * s;
            let (c, q) = y[base..base + s].split_at(nc);
            self.isotherm.rates(c, q, &mut r);
            for k in 0..nc {
                dy[base + k] =
                    self.transports[k].row_dot(n, y, s, k) + self.transports[k].inlet[n] * c_in[k];
            }
            for &(k, b, coef) in &self.coupling {
                dy[base + k] -= self.phase_ratio * coef * r[b];
            }
            dy[base + nc..base + s].copy_from_slice(&r);
        }
        for k in 0..nc {
            dy[self.outlet_integral_index(k)] = y[self.outlet_index(k)];
        }
    }

    /// out = (∂f/∂y)(y) v.
    pub fn jacobian_times(&self, y: &[f64], v: &[f64], out: &mut [f64]) {
        let (nc, nb, s) = (self.n_comp, self.n_bound, self.stride());
        let mut dr_dc = vec![0.0; nb * nc];
        let mut dr_dq = vec![0.0; nb * nb];
        let mut jr = vec![0.0; nb];
        for n in 0..self.n_nodes() {
            let base = n * s;
            if nb > 0 {
                let (c, q) = y[base..base + s].split_at(nc);
                self.isotherm.jacobian(c, q, &mut dr_dc, &mut dr_dq);
                let (vc, vq) = v[base..base + s].split_at(nc);
                for b in 0..nb {
                    jr[b] = (0..nc).map(|k| dr_dc[b * nc + k] * vc[k]).sum::<f64>()
                        + (0..nb).map(|j| dr_dq[b * nb + j] * vq[j]).sum::<f64>();
                }
            }
            for k in 0..nc {
                out[base + k] = self.transports[k].row_dot(n, v, s, k);
            }
            for &(k, b, coef) in &self.coupling {
                out[base + k] -= self.phase_ratio * coef * jr[b];
            }
            out[base + nc..base + s].copy_from_slice(&jr);
        }
        for k in 0..nc {
            out[self.outlet_integral_index(k)] = v[self.outlet_index(k)];
        }
    }

    /// Hold-up in the column per component, mol: liquid (A ε_t ∫ c dz) and
    /// bound (A (1-ε_t) ∫ Σ_b s_{k,b} q_b dz), by the LGL quadrature that the
    /// scheme conserves exactly.
    pub fn hold_up_mol(&self, spec: &ColumnSpec, y: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let (nc, s) = (self.n_comp, self.stride());
        let a = spec.cross_section_m2;
        let eps = spec.total_porosity;
        let mut liquid = vec![0.0; nc];
        let mut bound = vec![0.0; nc];
        for n in 0..self.n_nodes() {
            let w = self.grid.weight_m[n];
            for k in 0..nc {
                liquid[k] += a * eps * w * y[n * s + k];
            }
            for &(k, b, coef) in &self.coupling {
                bound[k] += a * (1.0 - eps) * w * coef * y[n * s + nc + b];
            }
        }
        (liquid, bound)
    }
}
