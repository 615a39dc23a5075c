//! The semi-discrete column: the ODE system dy/dt = f(t, y) that the BDF
//! integrator solves, with its exact Jacobian-vector product.
//!
//! State layout, axial node by node (so the Jacobian is banded):
//! * without pores: `[c_0 … c_{nc-1}, q_0 … q_{nb-1}]`;
//! * with pores: `[c (nc), shell 0: c_p (nc), q (nb), shell 1: …]`;
//!
//! then, after the last node, one running integral ∫ c_out dt per component
//! (mol·s/m³), from which outlet amounts and pools are read without
//! quadrature error.
//!
//! Without pores, at node n (F = (1-ε_t)/ε_t, R_b the binding rates):
//! dc_k/dt = (A_k c_k)_n + a_{k,n} c_in,k(t) - F Σ_b s_{k,b} R_b(c_n, q_n),
//! dq_b/dt = R_b(c_n, q_n).
//! With pores the bulk exchanges with the particle through the film and the
//! binding acts on the pore liquid of each shell ([`super::particle`]).

use super::dg::{Grid, Transport};
use super::particle::Shells;
use super::spec::ColumnSpec;
use crate::downstream::binding::Isotherm;

pub struct ColumnSystem {
    pub grid: Grid,
    pub transports: Vec<Transport>,
    pub isotherm: Isotherm,
    /// (component, bound state, coefficient): liquid-phase effect of binding.
    pub coupling: Vec<(usize, usize, f64)>,
    pub n_comp: usize,
    pub n_bound: usize,
    /// Phase ratio of the mobile phase (used without pores).
    pub phase_ratio: f64,
    pub shells: Option<Shells>,
}

impl ColumnSystem {
    pub fn new(spec: &ColumnSpec) -> ColumnSystem {
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
        ColumnSystem {
            grid: Grid::new(spec.length_m, d.elements, d.polynomial_degree),
            transports,
            isotherm: spec.isotherm.clone(),
            coupling: spec.isotherm.liquid_coupling(),
            n_comp: spec.components.len(),
            n_bound: spec.isotherm.bound_components().len(),
            phase_ratio: spec.phase_ratio(),
            shells: spec
                .particle
                .as_ref()
                .map(|p| Shells::new(p, spec.mobile_porosity)),
        }
    }

    /// Number of shells (0 without pores).
    fn n_shells(&self) -> usize {
        self.shells.as_ref().map_or(0, |s| s.n)
    }

    /// States per shell: pore liquid and bound.
    fn shell_stride(&self) -> usize {
        self.n_comp + self.n_bound
    }

    /// States per axial node.
    pub fn stride(&self) -> usize {
        match self.shells {
            None => self.n_comp + self.n_bound,
            Some(_) => self.n_comp + self.n_shells() * self.shell_stride(),
        }
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

    /// Index of component k's bulk concentration at the outlet node.
    pub fn outlet_index(&self, k: usize) -> usize {
        (self.n_nodes() - 1) * self.stride() + k
    }

    /// Offsets within a node of the binding sites: (liquid the binding sees,
    /// bound states). One site without pores, one per shell with pores.
    fn sites(&self) -> Vec<(usize, usize)> {
        let nc = self.n_comp;
        match self.shells {
            None => vec![(0, nc)],
            Some(_) => (0..self.n_shells())
                .map(|i| {
                    let o = nc + i * self.shell_stride();
                    (o, o + nc)
                })
                .collect(),
        }
    }

    /// Coefficient of the bound-phase rates in the equations of the liquid
    /// the binding sees.
    fn binding_phase_ratio(&self) -> f64 {
        match &self.shells {
            None => self.phase_ratio,
            Some(s) => s.pore_phase_ratio(),
        }
    }

    /// Initial state: uniform liquid (bulk and pores) and bound states.
    pub fn initial_state(&self, spec: &ColumnSpec) -> Vec<f64> {
        let mut y = vec![0.0; self.n_states()];
        let s = self.stride();
        for n in 0..self.n_nodes() {
            for (k, comp) in spec.components.iter().enumerate() {
                y[n * s + k] = comp.initial_mol_per_m3;
            }
            for (liquid, bound) in self.sites() {
                for (k, comp) in spec.components.iter().enumerate() {
                    y[n * s + liquid + k] = comp.initial_mol_per_m3;
                }
                for (b, q) in spec.initial_bound_mol_per_m3.iter().enumerate() {
                    y[n * s + bound + b] = *q;
                }
            }
        }
        y
    }

    pub fn rhs(&self, y: &[f64], c_in: &[f64], dy: &mut [f64]) {
        let (nc, nb, s) = (self.n_comp, self.n_bound, self.stride());
        let f = self.binding_phase_ratio();
        let sites = self.sites();
        let mut r = vec![0.0; nb];
        for n in 0..self.n_nodes() {
            let base = n * s;
            for k in 0..nc {
                dy[base + k] =
                    self.transports[k].row_dot(n, y, s, k) + self.transports[k].inlet[n] * c_in[k];
            }
            if let Some(sh) = &self.shells {
                sh.linear(nc, nb, &y[base..base + s], &mut dy[base..base + s]);
            }
            for &(liquid, bound) in &sites {
                let c = &y[base + liquid..base + liquid + nc];
                let q = &y[base + bound..base + bound + nb];
                self.isotherm.rates(c, q, &mut r);
                for &(k, b, coef) in &self.coupling {
                    dy[base + liquid + k] -= f * coef * r[b];
                }
                dy[base + bound..base + bound + nb].copy_from_slice(&r);
            }
        }
        for k in 0..nc {
            dy[self.outlet_integral_index(k)] = y[self.outlet_index(k)];
        }
    }

    /// out = (∂f/∂y)(y) v.
    pub fn jacobian_times(&self, y: &[f64], v: &[f64], out: &mut [f64]) {
        let (nc, nb, s) = (self.n_comp, self.n_bound, self.stride());
        let f = self.binding_phase_ratio();
        let sites = self.sites();
        let mut dr_dc = vec![0.0; nb * nc];
        let mut dr_dq = vec![0.0; nb * nb];
        let mut jr = vec![0.0; nb];
        for n in 0..self.n_nodes() {
            let base = n * s;
            for k in 0..nc {
                out[base + k] = self.transports[k].row_dot(n, v, s, k);
            }
            if let Some(sh) = &self.shells {
                sh.linear(nc, nb, &v[base..base + s], &mut out[base..base + s]);
            }
            for &(liquid, bound) in &sites {
                if nb > 0 {
                    let c = &y[base + liquid..base + liquid + nc];
                    let q = &y[base + bound..base + bound + nb];
                    self.isotherm.jacobian(c, q, &mut dr_dc, &mut dr_dq);
                    let vc = &v[base + liquid..base + liquid + nc];
                    let vq = &v[base + bound..base + bound + nb];
                    for b in 0..nb {
                        jr[b] = (0..nc).map(|k| dr_dc[b * nc + k] * vc[k]).sum::<f64>()
                            + (0..nb).map(|j| dr_dq[b * nb + j] * vq[j]).sum::<f64>();
                    }
                }
                for &(k, b, coef) in &self.coupling {
                    out[base + liquid + k] -= f * coef * jr[b];
                }
                out[base + bound..base + bound + nb].copy_from_slice(&jr);
            }
        }
        for k in 0..nc {
            out[self.outlet_integral_index(k)] = v[self.outlet_index(k)];
        }
    }

    /// Hold-up in the column per component, mol: liquid (bulk and pores) and
    /// bound (Σ_b s_{k,b} q_b), by the quadrature the scheme conserves exactly.
    pub fn hold_up_mol(&self, spec: &ColumnSpec, y: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let (nc, nb, s) = (self.n_comp, self.n_bound, self.stride());
        let a = spec.cross_section_m2;
        let eps = spec.mobile_porosity;
        let mut liquid = vec![0.0; nc];
        let mut bound = vec![0.0; nc];
        // (weight of the site's liquid, weight of its bound phase) per bed volume
        let site_weights: Vec<(f64, f64)> = match &self.shells {
            None => vec![(0.0, 1.0 - eps)],
            Some(sh) => sh
                .volume_fraction
                .iter()
                .map(|v| {
                    (
                        (1.0 - eps) * sh.porosity * v,
                        (1.0 - eps) * (1.0 - sh.porosity) * v,
                    )
                })
                .collect(),
        };
        let sites = self.sites();
        for n in 0..self.n_nodes() {
            let w = a * self.grid.weight_m[n];
            let base = n * s;
            for k in 0..nc {
                liquid[k] += w * eps * y[base + k];
            }
            for (&(lq, bd), &(wl, wb)) in sites.iter().zip(&site_weights) {
                if self.shells.is_some() {
                    for k in 0..nc {
                        liquid[k] += w * wl * y[base + lq + k];
                    }
                }
                for &(k, b, coef) in &self.coupling {
                    bound[k] += w * wb * coef * y[base + bd + b];
                }
            }
            let _ = nb;
        }
        (liquid, bound)
    }
}
