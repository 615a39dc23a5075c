//! Steric mass action (SMA) binding for ion exchange (Brooks & Cramer, AIChE J.
//! 38 (1992) 1969; kinetic form as in CADET-Core's `STERIC_MASS_ACTION`).
//!
//! Component 0 is the salt counter-ion. For each protein i ≥ 1:
//!
//! dq_i/dt = ka_i c_i q̄_0^{ν_i} - kd_i q_i c_0^{ν_i},
//! q̄_0 = Λ - Σ_j (ν_j + σ_j) q_j   (free sites, mol/m³ solid)
//!
//! ka (m³/(mol·s)·(mol/m³)^{-ν}), kd (1/s·(mol/m³)^{-ν}), characteristic charge ν,
//! steric factor σ, ionic capacity Λ (mol/m³ solid). Bound salt is
//! q_0 = Λ - Σ ν_j q_j, so binding a protein releases ν_i salt ions into the
//! liquid: the column model applies this through [`StericMassAction::salt_release`].
//!
//! CADET's reference concentrations (SMA_REFC0, SMA_REFQ) rescale the power
//! terms: dq_i/dt = ka_i c_i (q̄_0/q_ref)^{ν_i} - kd_i q_i (c_0/c_ref)^{ν_i}.
//! They change the units of ka and kd, not the model; with ν ≈ 5 and
//! q_ref = Λ, c_ref ≈ the working salt level they bring ka and kd to O(1).

/// Steric-mass-action parameters; vectors are indexed by liquid-phase
/// component (index 0, salt, is ignored). Values come from the column file
/// (`sma_ka`, `sma_kd`, `characteristic_charge`, `steric_factor`,
/// `ionic_capacity_mol_per_m3`), typically fitted to gradient-elution
/// retention data for the resin and protein.
#[derive(Debug, Clone, PartialEq)]
pub struct StericMassAction {
    /// Ionic capacity Λ, mol of charged sites per m³ of solid phase (resin data).
    pub lambda_mol_per_m3: f64,
    /// Adsorption rate constant ka_i in CADET units at the reference
    /// concentrations: m³/(mol·s) · (q̄_0/q_ref)^{-ν_i}.
    pub ka: Vec<f64>,
    /// Desorption rate constant kd_i, 1/s · (c_0/c_ref)^{-ν_i}.
    pub kd: Vec<f64>,
    /// Characteristic charge ν_i: salt ions displaced per protein bound (> 0).
    pub nu: Vec<f64>,
    /// Steric factor σ_i: sites shielded per protein bound, not exchanged (≥ 0).
    pub sigma: Vec<f64>,
    /// Reference liquid (salt) concentration c_ref, mol/m³ (CADET SMA_REFC0; 1).
    pub reference_liquid_mol_per_m3: f64,
    /// Reference solid concentration q_ref, mol/m³ solid (CADET SMA_REFQ; 1).
    pub reference_solid_mol_per_m3: f64,
}

impl StericMassAction {
    /// Every component but salt (index 0) binds.
    pub fn bound_components(&self) -> Vec<usize> {
        (1..self.ka.len()).collect()
    }

    /// Salt ions released per protein molecule bound (ν_i), for bound state b.
    pub fn salt_release(&self) -> Vec<f64> {
        self.bound_components()
            .iter()
            .map(|&i| self.nu[i])
            .collect()
    }

    fn free_sites(&self, q: &[f64]) -> f64 {
        self.lambda_mol_per_m3
            - q.iter()
                .enumerate()
                .map(|(b, qb)| (self.nu[b + 1] + self.sigma[b + 1]) * qb)
                .sum::<f64>()
    }

    /// Free sites over q_ref and salt over c_ref, each clamped at 0.
    fn scaled(&self, c: &[f64], q: &[f64]) -> (f64, f64) {
        (
            self.free_sites(q).max(0.0) / self.reference_solid_mol_per_m3,
            c[0].max(0.0) / self.reference_liquid_mol_per_m3,
        )
    }

    /// Binding rates dq_b/dt, mol/(m³ solid·s), into `dq` (one per protein) for
    /// liquid concentrations `c` (mol/m³; `c[0]` is salt) and bound protein
    /// concentrations `q` (mol/m³ solid). Free sites and salt are clamped at 0
    /// so a transient negative value cannot give a NaN power.
    pub fn rates(&self, c: &[f64], q: &[f64], dq: &mut [f64]) {
        let (free, c0) = self.scaled(c, q);
        for (b, i) in self.bound_components().into_iter().enumerate() {
            dq[b] =
                self.ka[i] * c[i] * free.powf(self.nu[i]) - self.kd[i] * q[b] * c0.powf(self.nu[i]);
        }
    }

    /// Exact partial derivatives of [`rates`](Self::rates) into the row-major
    /// blocks `dr_dc` (bound states × components) and `dr_dq` (bound states ×
    /// bound states), 1/s.
    pub fn jacobian(&self, c: &[f64], q: &[f64], dr_dc: &mut [f64], dr_dq: &mut [f64]) {
        let nc = c.len();
        let nb = q.len();
        let (free, c0) = self.scaled(c, q);
        let (q_ref, c_ref) = (
            self.reference_solid_mol_per_m3,
            self.reference_liquid_mol_per_m3,
        );
        for b in 0..nb {
            let i = b + 1;
            let nu = self.nu[i];
            dr_dc[b * nc + i] += self.ka[i] * free.powf(nu);
            dr_dc[b * nc] -= self.kd[i] * q[b] * nu * c0.powf(nu - 1.0) / c_ref;
            let d_free = self.ka[i] * c[i] * nu * free.powf(nu - 1.0) / q_ref;
            for k in 0..nb {
                dr_dq[b * nb + k] -= d_free * (self.nu[k + 1] + self.sigma[k + 1]);
            }
            dr_dq[b * nb + b] -= self.kd[i] * c0.powf(nu);
        }
    }

    /// Equilibrium: q_i = K_i c_i (q̄_0/c_0)^{ν_i}; the free-site balance is
    /// monotone in q̄_0, so bisection on [0, Λ] finds its unique root.
    pub fn equilibrium(&self, c: &[f64], q: &mut [f64]) {
        let bound = self.bound_components();
        let c0 = c[0].max(1e-300) / self.reference_liquid_mol_per_m3;
        let q_ref = self.reference_solid_mol_per_m3;
        let q_of = |free: f64, b: usize, i: usize| {
            let _ = b;
            self.ka[i] / self.kd[i] * c[i].max(0.0) * (free / q_ref / c0).powf(self.nu[i])
        };
        let residual = |free: f64| {
            self.lambda_mol_per_m3
                - bound
                    .iter()
                    .enumerate()
                    .map(|(b, &i)| (self.nu[i] + self.sigma[i]) * q_of(free, b, i))
                    .sum::<f64>()
                - free
        };
        let (mut lo, mut hi) = (0.0, self.lambda_mol_per_m3);
        for _ in 0..200 {
            let mid = 0.5 * (lo + hi);
            if residual(mid) > 0.0 {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        let free = 0.5 * (lo + hi);
        for (b, &i) in bound.iter().enumerate() {
            q[b] = q_of(free, b, i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binding::{Isotherm, check::jacobian_matches_fd};

    fn two_proteins() -> StericMassAction {
        StericMassAction {
            lambda_mol_per_m3: 1200.0,
            ka: vec![0.0, 35.5, 1.59],
            kd: vec![0.0, 1000.0, 1000.0],
            nu: vec![0.0, 4.7, 5.29],
            sigma: vec![0.0, 11.83, 10.6],
            reference_liquid_mol_per_m3: 1.0,
            reference_solid_mol_per_m3: 1.0,
        }
    }

    #[test]
    fn jacobian_is_exact_and_equilibrium_has_zero_rate() {
        let iso = Isotherm::Sma(two_proteins());
        jacobian_matches_fd(&iso, &[80.0, 0.05, 0.03], &[10.0, 5.0]);
        let c = [100.0, 0.02, 0.01];
        let mut q = [0.0; 2];
        iso.equilibrium(&c, &mut q);
        let mut r = [1.0; 2];
        iso.rates(&c, &q, &mut r);
        let scale = 1000.0 * q[0] * 100f64.powf(4.7);
        assert!(r[0].abs() < 1e-9 * scale, "{r:?} {q:?}");
    }

    /// Reference concentrations only change the units of ka and kd:
    /// ka' = ka q_ref^ν, kd' = kd c_ref^ν gives the same rates.
    #[test]
    fn reference_concentrations_rescale_the_rate_constants() {
        let plain = two_proteins();
        let (c_ref, q_ref) = (150.0, 1200.0);
        let mut scaled = plain.clone();
        scaled.reference_liquid_mol_per_m3 = c_ref;
        scaled.reference_solid_mol_per_m3 = q_ref;
        for i in 1..3 {
            scaled.ka[i] = plain.ka[i] * q_ref.powf(plain.nu[i]);
            scaled.kd[i] = plain.kd[i] * c_ref.powf(plain.nu[i]);
        }
        let (c, q) = ([120.0, 0.05, 0.03], [10.0, 5.0]);
        let (mut r1, mut r2) = ([0.0; 2], [0.0; 2]);
        plain.rates(&c, &q, &mut r1);
        scaled.rates(&c, &q, &mut r2);
        for b in 0..2 {
            assert!((r1[b] - r2[b]).abs() < 1e-10 * r1[b].abs(), "{r1:?} {r2:?}");
        }
        let (mut q1, mut q2) = ([0.0; 2], [0.0; 2]);
        plain.equilibrium(&c, &mut q1);
        scaled.equilibrium(&c, &mut q2);
        assert!((q1[0] - q2[0]).abs() < 1e-9 * q1[0] && (q1[1] - q2[1]).abs() < 1e-9 * q1[1]);
        jacobian_matches_fd(&Isotherm::Sma(scaled), &[80.0, 0.05, 0.03], &[10.0, 5.0]);
    }
}
