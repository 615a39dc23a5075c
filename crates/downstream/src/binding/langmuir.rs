//! Multi-component Langmuir binding with a mobile-phase modulator (MPM), as in
//! CADET's `MOBILE_PHASE_MODULATOR` model (Karlsson et al., J. Chromatogr. A
//! 1033 (2004) 71; CADET-Core documentation, "Mobile phase modulator Langmuir").
//!
//! Component 0 is the modulator (salt, pH, or an elution-buffer species on any
//! scale); it does not bind. For each binding component i:
//!
//! dq_i/dt = ka_i e^{γ_i c_0} c_i q_max,i (1 - Σ_j q_j / q_max,j) - kd_i c_0^{β_i} q_i
//!
//! with ka in m³/(mol·s), kd in 1/s (times the unit of c_0^{-β}), q_max in mol
//! per m³ of solid, γ in m³/mol, β dimensionless. With γ = β = 0 this is the
//! ordinary competitive kinetic Langmuir model, K = ka/kd (m³/mol),
//! q* = q_max K c / (1 + K c) for one component. Protein A capture is usually
//! described this way; elution at low pH is what the modulator represents.

/// Parameters per component (index 0 is the modulator when `modulator` is true;
/// its entries are ignored).
#[derive(Debug, Clone, PartialEq)]
pub struct ModulatedLangmuir {
    /// Whether component 0 modulates the rates (false: plain Langmuir, all
    /// components may bind).
    pub modulator: bool,
    /// Per component: whether it has a bound state (`[components.binding]`
    /// present in the column file).
    pub binds: Vec<bool>,
    /// Adsorption rate constant ka_i, m³/(mol·s), at c_0 = 0 (file key
    /// `ka_m3_per_mol_s`; fitted to breakthrough data for the resin).
    pub ka_m3_per_mol_s: Vec<f64>,
    /// Desorption rate constant kd_i, 1/s (times (mol/m³)^{-β} when the
    /// modulator exponent β ≠ 0); ka/kd is the affinity K, m³/mol.
    pub kd_per_s: Vec<f64>,
    /// Saturation capacity q_max,i, mol per m³ of solid phase (from the resin's
    /// static binding capacity, e.g. vendor g/L of resin ÷ molecular weight).
    pub qmax_mol_per_m3: Vec<f64>,
    /// Modulator exponent γ_i of ka, m³/mol (0: no effect; file default 0).
    pub gamma_m3_per_mol: Vec<f64>,
    /// Modulator exponent β_i of kd, dimensionless (0: no effect; file default 0).
    pub beta: Vec<f64>,
}

/// x^β and β x^{β-1} for x ≥ 0, β ≠ 0. An integer β ≥ 1 (CADET's reference
/// case has β = 3) takes repeated multiplication instead of two `powf`
/// calls, which were 10 % of all instructions of the GRM Langmuir case
/// (callgrind, issue 18); the result is the same to rounding.
#[inline]
fn power_and_derivative(x: f64, beta: f64) -> (f64, f64) {
    if beta >= 1.0 && beta <= 64.0 && beta.fract() == 0.0 {
        let lower = x.powi(beta as i32 - 1);
        (lower * x, beta * lower)
    } else {
        (x.powf(beta), beta * x.powf(beta - 1.0))
    }
}

impl ModulatedLangmuir {
    /// Liquid-phase component index of each bound state, in bound-state order
    /// (the modulator, component 0, never binds when `modulator` is true).
    pub fn bound_components(&self) -> Vec<usize> {
        self.bound().collect()
    }

    /// Bound components without allocating (rates run in the inner loop).
    fn bound(&self) -> impl Iterator<Item = usize> + Clone + '_ {
        let first = usize::from(self.modulator);
        (first..self.binds.len()).filter(|&i| self.binds[i])
    }

    fn modulator_c(&self, c: &[f64]) -> f64 {
        if self.modulator { c[0] } else { 0.0 }
    }

    /// Modulated adsorption and desorption rate constants of component i and
    /// their derivatives with respect to c_0.
    fn constants(&self, i: usize, c0: f64) -> (f64, f64, f64, f64) {
        if !self.modulator {
            return (self.ka_m3_per_mol_s[i], self.kd_per_s[i], 0.0, 0.0);
        }
        let g = self.gamma_m3_per_mol[i];
        let b = self.beta[i];
        let ka = self.ka_m3_per_mol_s[i] * (g * c0).exp();
        let dka = g * ka;
        let (kd, dkd) = if b == 0.0 {
            (self.kd_per_s[i], 0.0)
        } else {
            // clamp without `max`, which would turn NaN (sparsity probing) into 0
            let c0 = if c0 < 0.0 { 0.0 } else { c0 };
            let (p, dp) = power_and_derivative(c0, b);
            (self.kd_per_s[i] * p, self.kd_per_s[i] * dp)
        };
        (ka, kd, dka, dkd)
    }

    fn free_fraction(&self, q: &[f64]) -> f64 {
        1.0 - self
            .bound()
            .enumerate()
            .map(|(b, i)| q[b] / self.qmax_mol_per_m3[i])
            .sum::<f64>()
    }

    /// Binding rates dq_b/dt, mol/(m³ solid·s), into `dq` (one per bound state)
    /// for liquid concentrations `c` (mol/m³, every component) and bound
    /// concentrations `q` (mol/m³ solid, one per bound state).
    pub fn rates(&self, c: &[f64], q: &[f64], dq: &mut [f64]) {
        let free = self.free_fraction(q);
        let c0 = self.modulator_c(c);
        for (b, i) in self.bound().enumerate() {
            let (ka, kd, _, _) = self.constants(i, c0);
            dq[b] = ka * c[i] * self.qmax_mol_per_m3[i] * free - kd * q[b];
        }
    }

    /// Exact partial derivatives of [`rates`](Self::rates), added into the
    /// row-major blocks `dr_dc` (bound states × components, 1/s) and `dr_dq`
    /// (bound states × bound states, 1/s); the caller zeroes them first.
    pub fn jacobian(&self, c: &[f64], q: &[f64], dr_dc: &mut [f64], dr_dq: &mut [f64]) {
        let nc = c.len();
        let nb = q.len();
        let free = self.free_fraction(q);
        let c0 = self.modulator_c(c);
        for (b, i) in self.bound().enumerate() {
            let (ka, kd, dka, dkd) = self.constants(i, c0);
            let qm = self.qmax_mol_per_m3[i];
            dr_dc[b * nc + i] += ka * qm * free;
            if self.modulator {
                dr_dc[b * nc] += dka * c[i] * qm * free - dkd * q[b];
            }
            for (k, j) in self.bound().enumerate() {
                dr_dq[b * nb + k] -= ka * c[i] * qm / self.qmax_mol_per_m3[j];
            }
            dr_dq[b * nb + b] -= kd;
        }
    }

    /// Competitive Langmuir equilibrium: q_i = q_max,i K_i c_i / (1 + Σ_j K_j c_j)
    /// with the modulated K_i = ka_i e^{γ c0} / (kd_i c0^β).
    pub fn equilibrium(&self, c: &[f64], q: &mut [f64]) {
        let bound = self.bound_components();
        let c0 = self.modulator_c(c);
        let k: Vec<f64> = bound
            .iter()
            .map(|&i| {
                let (ka, kd, _, _) = self.constants(i, c0);
                ka / kd
            })
            .collect();
        let denom = 1.0 + bound.iter().zip(&k).map(|(&i, k)| k * c[i]).sum::<f64>();
        for (b, &i) in bound.iter().enumerate() {
            q[b] = self.qmax_mol_per_m3[i] * k[b] * c[i] / denom;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binding::{Isotherm, check::jacobian_matches_fd};

    fn reference_case() -> ModulatedLangmuir {
        ModulatedLangmuir {
            modulator: true,
            binds: vec![false, true],
            ka_m3_per_mol_s: vec![0.0, 0.4946163812100384],
            kd_per_s: vec![0.0, 2e-5],
            qmax_mol_per_m3: vec![0.0, 4.0 / 3.0],
            gamma_m3_per_mol: vec![0.0, -0.5],
            beta: vec![0.0, 3.0],
        }
    }

    #[test]
    fn effective_constants_match_the_reference_definition() {
        // README of the reference case: at c0 = 1, ka = 0.3, K = 15000 m³/mol.
        let m = reference_case();
        let (ka, kd, _, _) = m.constants(1, 1.0);
        assert!((ka - 0.3).abs() < 1e-12);
        assert!((ka / kd - 15000.0).abs() < 1e-6);
        let (ka, kd, _, _) = m.constants(1, 10.0);
        assert!((ka / kd - 0.1666349480736346).abs() < 1e-9);
    }

    #[test]
    fn jacobian_is_exact_and_equilibrium_has_zero_rate() {
        let iso = Isotherm::Langmuir(reference_case());
        jacobian_matches_fd(&iso, &[3.0, 0.02], &[0.7]);
        let c = [1.0, 0.01];
        let mut q = [0.0];
        iso.equilibrium(&c, &mut q);
        let mut r = [1.0];
        iso.rates(&c, &q, &mut r);
        assert!(r[0].abs() < 1e-12 * q[0], "rate at equilibrium {r:?}");
        // two binding components, no modulator
        let iso2 = Isotherm::Langmuir(ModulatedLangmuir {
            modulator: false,
            binds: vec![true, true],
            ka_m3_per_mol_s: vec![1.0, 2.0],
            kd_per_s: vec![0.1, 0.3],
            qmax_mol_per_m3: vec![2.0, 3.0],
            gamma_m3_per_mol: vec![0.0; 2],
            beta: vec![0.0; 2],
        });
        jacobian_matches_fd(&iso2, &[0.4, 0.2], &[0.5, 0.6]);
    }
}
