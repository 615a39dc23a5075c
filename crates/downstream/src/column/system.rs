//! The semi-discrete column: the system M dy/dt = f(t, y) that the BDF
//! integrator solves, with its exact Jacobian-vector product and its constant
//! mass matrix M (identity for kinetic binding; for rapid equilibrium a DAE,
//! see [`ColumnSystem::mass_times`]).
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
//! dc_k/dt + F Σ_b s_{k,b} dq_b/dt = (A_k c_k)_n + a_{k,n} c_in,k(t),
//! (1/s_b) dq_b/dt = R_b(c_n, q_n)/s_b,
//! the binding's exchange written through the (constant) mass matrix and each
//! bound row divided by its rate scale s_b (SMA: ka Λ^ν; 1 otherwise), so the
//! Newton matrix has rows of comparable size however stiff the binding.
//! With pores the bulk exchanges with the particle through the film and the
//! binding acts on the pore liquid of each shell ([`super::particle`]).
//!
//! Rapid equilibrium (`equilibrium`, CADET's IS_KINETIC = 0) keeps the same
//! states and makes the binding rows algebraic, as CADET does: per site
//! dc_k/dt + F Σ_b s_{k,b} dq_b/dt = (transport, film, diffusion)_k and
//! 0 = R_b(c, q), the rate expression whose zero is the isotherm q*(c). The
//! mass matrix is constant, so the hold-up Σ w (ε c + (1-ε) S q) is a linear
//! invariant that BDF keeps to round-off (mass balance ~1e-13).

use super::dg::{Grid, Transport};
use super::particle::Shells;
use super::spec::ColumnSpec;
use crate::binding::Isotherm;

/// The semi-discrete column (state layout and equations in the module docs),
/// built once from a [`ColumnSpec`] and evaluated by the integrator.
pub struct ColumnSystem {
    /// Axial node grid.
    pub grid: Grid,
    /// Linear axial transport operator of each component.
    pub transports: Vec<Transport>,
    /// Binding model and parameters (from the spec).
    pub isotherm: Isotherm,
    /// (component, bound state, coefficient): liquid-phase effect of binding.
    pub coupling: Vec<(usize, usize, f64)>,
    /// Number of liquid-phase components.
    pub n_comp: usize,
    /// Number of bound states (per binding site).
    pub n_bound: usize,
    /// Phase ratio of the mobile phase (used without pores).
    pub phase_ratio: f64,
    /// Particle scheme (models with pores); None without pores.
    pub shells: Option<Shells>,
    /// Rapid equilibrium: binding rows algebraic, 0 = R(c, q) (a DAE).
    pub equilibrium: bool,
    /// 1/s_b per bound state: kinetic binding rows are written
    /// (1/s_b) dq_b/dt = R_b/s_b, s_b the binding's largest rate scale, so
    /// that the Newton matrix M - γhJ has rows of comparable size (SMA at
    /// CADET's rates has ∂R/∂c ~ 1e16/s; unscaled, the sparse LU loses the
    /// slow part of the solution to round-off and Newton stalls).
    row_scale: Vec<f64>,
    /// Binding sites of a node ([`Self::sites`]), computed once.
    site_offsets: Vec<(usize, usize)>,
    /// Whether every bound row of the mass matrix is 1 (kinetic, unscaled):
    /// then M differs from the identity only by the binding coupling.
    unit_bound_rows: bool,
}

impl ColumnSystem {
    /// Assembles the system for `spec` (operators, coupling, row scales).
    pub fn new(spec: &ColumnSpec) -> ColumnSystem {
        let mut sys = ColumnSystem::assemble(spec);
        sys.site_offsets = sys.compute_sites();
        if !sys.equilibrium
            && let Some(sh) = sys.shells.as_mut()
        {
            // kinetic bound rows are divided by their rate scale s_b
            sh.scale_bound_rows(&sys.row_scale);
        }
        sys.unit_bound_rows = !sys.equilibrium && sys.row_scale.iter().all(|&r| r == 1.0);
        sys
    }

    fn assemble(spec: &ColumnSpec) -> ColumnSystem {
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
                .map(|p| Shells::new(p, spec.mobile_porosity, &spec.isotherm.bound_components())),
            equilibrium: spec.rapid_equilibrium,
            row_scale: spec
                .isotherm
                .rate_scales()
                .iter()
                .map(|r| 1.0 / r.max(1.0))
                .collect(),
            site_offsets: Vec::new(),
            unit_bound_rows: false,
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

    /// Number of axial nodes.
    pub fn n_nodes(&self) -> usize {
        self.grid.len()
    }

    /// Total number of states: every node's states plus one outlet integral per
    /// component.
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
    fn sites(&self) -> &[(usize, usize)] {
        &self.site_offsets
    }

    fn compute_sites(&self) -> Vec<(usize, usize)> {
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
            let c0: Vec<f64> = spec
                .components
                .iter()
                .map(|c| c.initial_mol_per_m3)
                .collect();
            let mut q0 = spec.initial_bound_mol_per_m3.clone();
            if self.equilibrium {
                // consistent initial state: bound phase in equilibrium
                self.isotherm.equilibrium(&c0, &mut q0);
            }
            for &(liquid, bound) in self.sites() {
                y[n * s + liquid..n * s + liquid + self.n_comp].copy_from_slice(&c0);
                y[n * s + bound..n * s + bound + self.n_bound].copy_from_slice(&q0);
            }
        }
        y
    }

    /// Right-hand side f(y) of M dy/dt = f for inlet concentrations `c_in`
    /// (mol/m³), into `dy`.
    pub fn rhs(&self, y: &[f64], c_in: &[f64], dy: &mut [f64]) {
        let (nc, nb, s) = (self.n_comp, self.n_bound, self.stride());
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
            for &(liquid, bound) in sites {
                let c = &y[base + liquid..base + liquid + nc];
                let q = &y[base + bound..base + bound + nb];
                self.isotherm.rates(c, q, &mut r);
                // liquid rows carry F S dq/dt through the mass matrix
                for (b, rb) in r.iter().enumerate() {
                    dy[base + bound + b] = rb * self.bound_row_scale(b);
                }
            }
            self.add_surface_diffusion(&y[base..base + s], &mut dy[base..base + s]);
        }
        for k in 0..nc {
            dy[self.outlet_integral_index(k)] = y[self.outlet_index(k)];
        }
    }

    /// Surface diffusion in the kinetic bound rows of one node (linear, so the
    /// same for f and for J v); the pore-liquid rows get theirs in
    /// [`Shells::linear`]. With rapid equilibrium the bound rows are
    /// algebraic (0 = R) and carry none.
    #[inline]
    fn add_surface_diffusion(&self, x: &[f64], out: &mut [f64]) {
        if let Some(sh) = &self.shells
            && sh.has_surface_diffusion()
            && !self.equilibrium
        {
            sh.surface_bound(self.n_comp, self.n_bound, x, out);
        }
    }

    /// Factor on bound row b of f and J: 1/s_b (kinetic), 1 (algebraic).
    #[inline]
    fn bound_row_scale(&self, b: usize) -> f64 {
        if self.equilibrium {
            1.0
        } else {
            self.row_scale[b]
        }
    }

    /// Time derivative to restart the integrator with at an inlet-section
    /// boundary: the integrator's own (smooth) derivative `dy`, plus the jump
    /// of the inlet term. Re-evaluating f(y) instead would be wrong for stiff
    /// binding: y sits on the slow manifold only to the tolerance, and f
    /// amplifies that deviation by the binding rate (1e10/s and more for SMA
    /// at CADET's rates), so the first predictor y + h f(y) explodes.
    pub fn restart_derivative(&self, c_in_old: &[f64], c_in_new: &[f64], dy: &mut [f64]) {
        let s = self.stride();
        for (k, t) in self.transports.iter().enumerate() {
            let jump = c_in_new[k] - c_in_old[k];
            for (n, a) in t.inlet.iter().enumerate() {
                dy[n * s + k] += a * jump;
            }
        }
    }

    /// Consistent time derivative of the DAE (rapid equilibrium) at y: dy
    /// solves M dy = f(y) together with the differentiated equilibrium,
    /// ∂R/∂c dc + ∂R/∂q dq = 0, per binding site (CADET's consistent
    /// initialisation of ẏ). Rows outside the sites are dy = f.
    pub fn consistent_derivative(&self, y: &[f64], c_in: &[f64], dy: &mut [f64]) {
        self.rhs(y, c_in, dy);
        let (nc, nb, s) = (self.n_comp, self.n_bound, self.stride());
        if !self.equilibrium || nb == 0 {
            return;
        }
        let f = self.binding_phase_ratio();
        let m = nc + nb;
        let mut a = vec![0.0; m * m];
        let mut rhs = vec![0.0; m];
        let mut dr_dc = vec![0.0; nb * nc];
        let mut dr_dq = vec![0.0; nb * nb];
        for n in 0..self.n_nodes() {
            for &(liquid, bound) in self.sites() {
                let (lo, bo) = (n * s + liquid, n * s + bound);
                self.isotherm
                    .jacobian(&y[lo..lo + nc], &y[bo..bo + nb], &mut dr_dc, &mut dr_dq);
                a.fill(0.0);
                for k in 0..nc {
                    a[k * m + k] = 1.0;
                    rhs[k] = dy[lo + k];
                }
                for &(k, b, coef) in &self.coupling {
                    a[k * m + nc + b] += f * coef;
                }
                for b in 0..nb {
                    rhs[nc + b] = 0.0;
                    for j in 0..nc {
                        a[(nc + b) * m + j] = dr_dc[b * nc + j];
                    }
                    for j in 0..nb {
                        a[(nc + b) * m + nc + j] = dr_dq[b * nb + j];
                    }
                }
                solve_small(&mut a, &mut rhs, m);
                dy[lo..lo + nc].copy_from_slice(&rhs[..nc]);
                dy[bo..bo + nb].copy_from_slice(&rhs[nc..]);
            }
        }
    }

    /// Puts every binding site on its binding manifold before a restart,
    /// keeping each site's totals c + F S q (salt counter-ions included)
    /// exactly: per site, Newton's method on the small dense block
    /// c' - c + F S (q' - q) = 0, (q' - q)/τ - R(c', q') = 0.
    ///
    /// * Kinetic binding (`tau_s` > 0): one implicit Euler step of the
    ///   binding alone over τ, transport frozen. It moves only the modes faster
    ///   than 1/τ (for SMA at CADET's rates, 1e10/s and more); without it the
    ///   state sits off that manifold by up to the tolerance, which the
    ///   first-order restart step reads as an error that does not shrink with
    ///   the step size.
    /// * Rapid equilibrium (τ = ∞): R(c', q') = 0 exactly, the consistent
    ///   initialisation of the DAE's algebraic states at a section change.
    ///
    /// A site whose Newton iteration does not converge is left as it was.
    pub fn relax_binding(&self, y: &mut [f64], tau_s: f64, rtol: f64, atol: f64) {
        let (nc, nb, s) = (self.n_comp, self.n_bound, self.stride());
        if nb == 0 {
            return;
        }
        let theta = if self.equilibrium { 0.0 } else { 1.0 / tau_s };
        let f = self.binding_phase_ratio();
        let m = nc + nb;
        let mut x = vec![0.0; m];
        let mut x0 = vec![0.0; m];
        let mut r = vec![0.0; nb];
        let mut dr_dc = vec![0.0; nb * nc];
        let mut dr_dq = vec![0.0; nb * nb];
        let mut jac = vec![0.0; m * m];
        let mut res = vec![0.0; m];
        for n in 0..self.n_nodes() {
            for &(liquid, bound) in self.sites() {
                let (lo, bo) = (n * s + liquid, n * s + bound);
                x0[..nc].copy_from_slice(&y[lo..lo + nc]);
                x0[nc..].copy_from_slice(&y[bo..bo + nb]);
                x.copy_from_slice(&x0);
                let mut converged = false;
                for _ in 0..30 {
                    let (c, q) = x.split_at(nc);
                    self.isotherm.rates(c, q, &mut r);
                    self.isotherm.jacobian(c, q, &mut dr_dc, &mut dr_dq);
                    jac.fill(0.0);
                    for k in 0..nc {
                        res[k] = x[k] - x0[k];
                        jac[k * m + k] = 1.0;
                    }
                    for &(k, b, coef) in &self.coupling {
                        res[k] += f * coef * (x[nc + b] - x0[nc + b]);
                        jac[k * m + nc + b] += f * coef;
                    }
                    for b in 0..nb {
                        let row = (nc + b) * m;
                        res[nc + b] = theta * (x[nc + b] - x0[nc + b]) - r[b];
                        for j in 0..nc {
                            jac[row + j] = -dr_dc[b * nc + j];
                        }
                        for j in 0..nb {
                            jac[row + nc + j] = -dr_dq[b * nb + j];
                        }
                        jac[row + nc + b] += theta;
                    }
                    solve_small(&mut jac, &mut res, m);
                    let mut worst = 0.0f64;
                    for i in 0..m {
                        x[i] -= res[i];
                        worst = worst.max(res[i].abs() / (atol + rtol * x[i].abs()));
                    }
                    if !worst.is_finite() {
                        break;
                    }
                    if worst < 1e-6 {
                        converged = true;
                        break;
                    }
                }
                if converged && x.iter().all(|v| v.is_finite()) {
                    y[lo..lo + nc].copy_from_slice(&x[..nc]);
                    y[bo..bo + nb].copy_from_slice(&x[nc..]);
                }
            }
        }
    }

    /// out = M v + beta out, M the constant mass matrix: the identity for
    /// kinetic binding; for rapid equilibrium, the liquid row of component k
    /// at a site also holds F s_{k,b} on bound state b, and the bound rows
    /// (algebraic) are zero.
    pub fn mass_times(&self, v: &[f64], beta: f64, out: &mut [f64]) {
        if beta == 0.0 {
            out.copy_from_slice(v);
        } else {
            for (o, x) in out.iter_mut().zip(v) {
                *o = beta * *o + x;
            }
        }
        let (nb, s) = (self.n_bound, self.stride());
        let f = self.binding_phase_ratio();
        let sites = self.sites();
        for n in 0..self.n_nodes() {
            let base = n * s;
            for &(liquid, bound) in sites {
                for b in 0..nb {
                    if self.unit_bound_rows {
                        break;
                    }
                    let i = base + bound + b;
                    // kinetic: 1/s_b; rapid equilibrium: 0 (algebraic)
                    let m = if self.equilibrium {
                        0.0
                    } else {
                        self.row_scale[b]
                    };
                    out[i] += (m - 1.0) * v[i];
                }
                for &(k, b, coef) in &self.coupling {
                    out[base + liquid + k] += f * coef * v[base + bound + b];
                }
            }
        }
    }

    /// out = (∂f/∂y)(y) v.
    pub fn jacobian_times(&self, y: &[f64], v: &[f64], out: &mut [f64]) {
        let (nc, nb, s) = (self.n_comp, self.n_bound, self.stride());
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
            for &(liquid, bound) in sites {
                let vc = &v[base + liquid..base + liquid + nc];
                let vq = &v[base + bound..base + bound + nb];
                // A site where v vanishes contributes nothing (the binding's
                // derivatives are finite): skipping it makes the sparsity
                // probe, one unit vector per state, cost O(n) instead of
                // O(n) isotherm Jacobians each. A NaN in v is not zero.
                if vc.iter().chain(vq).all(|&x| x == 0.0) {
                    jr.fill(0.0);
                } else {
                    let c = &y[base + liquid..base + liquid + nc];
                    let q = &y[base + bound..base + bound + nb];
                    self.isotherm.jacobian(c, q, &mut dr_dc, &mut dr_dq);
                    for b in 0..nb {
                        jr[b] = (0..nc).map(|k| dr_dc[b * nc + k] * vc[k]).sum::<f64>()
                            + (0..nb).map(|j| dr_dq[b * nb + j] * vq[j]).sum::<f64>();
                    }
                }
                for (b, jb) in jr.iter().enumerate() {
                    out[base + bound + b] = jb * self.bound_row_scale(b);
                }
            }
            self.add_surface_diffusion(&v[base..base + s], &mut out[base..base + s]);
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

/// Solves the small dense system m x = b in place (b becomes x), Gaussian
/// elimination with partial pivoting; n is the number of components.
fn solve_small(m: &mut [f64], b: &mut [f64], n: usize) {
    for col in 0..n {
        let pivot = (col..n)
            .max_by(|&i, &j| m[i * n + col].abs().total_cmp(&m[j * n + col].abs()))
            .unwrap_or(col);
        if pivot != col {
            for j in 0..n {
                m.swap(col * n + j, pivot * n + j);
            }
            b.swap(col, pivot);
        }
        let d = m[col * n + col];
        for i in col + 1..n {
            let factor = m[i * n + col] / d;
            for j in col..n {
                m[i * n + j] -= factor * m[col * n + j];
            }
            b[i] -= factor * b[col];
        }
    }
    for col in (0..n).rev() {
        let mut x = b[col];
        for j in col + 1..n {
            x -= m[col * n + j] * b[j];
        }
        b[col] = x / m[col * n + col];
    }
}
