//! Linear binding: dq_i/dt = ka_i c_i - kd_i q_i, so q_i* = (ka_i/kd_i) c_i at
//! equilibrium (Henry constant H_i = ka_i/kd_i, m³ liquid per m³ solid).
//! Valid at low loading (the dilute limit of any Langmuir-type isotherm); used
//! here chiefly because it has analytical solutions to test the column against.

/// Per component: `ka_per_s` (1/s) and `kd_per_s` (1/s); a component with
/// `binds = false` has no bound state.
#[derive(Debug, Clone, PartialEq)]
pub struct LinearBinding {
    /// Per component: whether it has a bound state.
    pub binds: Vec<bool>,
    /// Adsorption rate constant ka_i, 1/s (file key `ka_per_s`).
    pub ka_per_s: Vec<f64>,
    /// Desorption rate constant kd_i, 1/s (file key `kd_per_s`; must be > 0).
    pub kd_per_s: Vec<f64>,
}

impl LinearBinding {
    /// Liquid-phase component index of each bound state, in bound-state order.
    pub fn bound_components(&self) -> Vec<usize> {
        (0..self.binds.len()).filter(|&i| self.binds[i]).collect()
    }

    /// Binding rates dq_b/dt = ka c - kd q, mol/(m³ solid·s), into `dq`
    /// (`c`: mol/m³ liquid per component; `q`: mol/m³ solid per bound state).
    pub fn rates(&self, c: &[f64], q: &[f64], dq: &mut [f64]) {
        for (b, i) in self.bound_components().into_iter().enumerate() {
            dq[b] = self.ka_per_s[i] * c[i] - self.kd_per_s[i] * q[b];
        }
    }

    /// Partial derivatives of [`rates`](Self::rates), written into the row-major
    /// blocks `dr_dc` (bound states × components, 1/s) and `dr_dq` (bound states ×
    /// bound states, 1/s).
    pub fn jacobian(&self, c: &[f64], _q: &[f64], dr_dc: &mut [f64], dr_dq: &mut [f64]) {
        let nc = c.len();
        let bound = self.bound_components();
        let nb = bound.len();
        for (b, &i) in bound.iter().enumerate() {
            dr_dc[b * nc + i] = self.ka_per_s[i];
            dr_dq[b * nb + b] = -self.kd_per_s[i];
        }
    }

    /// Bound concentrations in equilibrium with `c`, q_b = (ka/kd) c, mol/m³ solid.
    pub fn equilibrium(&self, c: &[f64], q: &mut [f64]) {
        for (b, i) in self.bound_components().into_iter().enumerate() {
            q[b] = self.ka_per_s[i] / self.kd_per_s[i] * c[i];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binding::{Isotherm, check::jacobian_matches_fd};

    #[test]
    fn jacobian_is_exact() {
        let iso = Isotherm::Linear(LinearBinding {
            binds: vec![false, true],
            ka_per_s: vec![0.0, 2.0],
            kd_per_s: vec![0.0, 0.5],
        });
        jacobian_matches_fd(&iso, &[1.0, 0.3], &[0.2]);
        let mut q = [0.0];
        iso.equilibrium(&[1.0, 0.3], &mut q);
        assert!((q[0] - 1.2).abs() < 1e-14);
    }
}
