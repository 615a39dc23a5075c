//! Porous particles: film transfer and pore diffusion on radial shells.
//!
//! Spherical particles of radius r_p and porosity ε_p; pore liquid c_p and
//! bound q. Pore diffusion (general rate model), per component:
//!
//! ε_p ∂c_p/∂t + (1-ε_p) Σ s ∂q/∂t = ε_p D_p (1/r²) ∂/∂r (r² ∂c_p/∂r),
//! ∂c_p/∂r = 0 at r = 0,  ε_p D_p ∂c_p/∂r = k_f (c - c_p) at r = r_p,
//!
//! and the bulk liquid loses (1-ε_c)/ε_c · 3/r_p · k_f (c - c_p(r_p)).
//!
//! Finite volumes on `n` equidistant shells [r_i, r_{i+1}] (second order):
//! with G_i = r_i² D_p / (ρ_i - ρ_{i-1}) the conductance of inner face i
//! (ρ shell mid-radii) and V_i = (r_{i+1}³ - r_i³)/3,
//!
//! dc_p,i/dt = [G_{i+1}(c_{i+1} - c_i) - G_i (c_i - c_{i-1})]/V_i - (1-ε_p)/ε_p Σ s R_i
//!
//! The outer face carries the film flux j = K (c - c_p,n-1) with film and
//! half-shell resistances in series, 1/K = 1/k_f + (r_p - ρ_{n-1})/(ε_p D_p).
//! The lumped particle (LRMP) is one shell with K = k_f: 3/r_p k_f (c - c_p).
//! Summing shells weighted by V_i telescopes the inner fluxes, so particle
//! plus bulk conserve mass exactly.

use super::spec::Particle;

/// Precomputed coefficients of the radial scheme, per component.
#[derive(Debug, Clone)]
pub struct Shells {
    pub n: usize,
    pub porosity: f64,
    /// Volume fraction of each shell in the particle, Σ = 1.
    pub volume_fraction: Vec<f64>,
    /// `diffusion[k]`: non-zero (i, j, L_ij) of the linear pore-diffusion
    /// operator, dc_p,i/dt = Σ_j L_ij c_p,j (+ film, binding).
    diffusion: Vec<Vec<(usize, usize, f64)>>,
    /// Film conductance K_k, m/s.
    film: Vec<f64>,
    /// r_p² K / (ε_p V_{n-1}): film term in the outer shell's equation.
    film_shell: Vec<f64>,
    /// (1-ε_c)/ε_c · 3/r_p · K: film term in the bulk equation.
    film_bulk: Vec<f64>,
}

impl Shells {
    pub fn new(p: &Particle, bed_porosity: f64) -> Shells {
        match (p.radial_polynomial_degree, &p.pore_diffusion_m2_per_s) {
            (Some(degree), Some(dp)) => Shells::spectral(p, dp, degree, bed_porosity),
            _ => Shells::finite_volume(p, bed_porosity),
        }
    }

    /// Single spectral element on Gauss-Radau-Jacobi nodes ([`super::radau`]),
    /// continuous Galerkin in the weak form with weight r² and lumped mass:
    /// (W_i r_p³/8) dc_i/dt = -D_p (r_p/2) Σ_j K_ij c_j + δ_{i,N} r_p² j_f/ε_p - …,
    /// K_ij = Σ_q W_q D_qi D_qj, j_f = k_f (c - c_N). The symmetry condition
    /// at r = 0 is natural (r² vanishes there); Σ_i K_ij = 0 makes it conservative.
    fn spectral(p: &Particle, dp: &[f64], degree: usize, bed_porosity: f64) -> Shells {
        let rad = super::radau::RadialNodes::new(degree);
        let n = rad.nodes.len();
        let rp = p.radius_m;
        let w = &rad.weights;
        let d = &rad.diff;
        let mut k_hat = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                k_hat[i * n + j] = (0..n).map(|q| w[q] * d[q * n + i] * d[q * n + j]).sum();
            }
        }
        let nc = p.film_transfer_m_per_s.len();
        let mut diffusion = Vec::with_capacity(nc);
        for dk in dp.iter().take(nc) {
            let mut triplets = Vec::new();
            for i in 0..n {
                for j in 0..n {
                    let v = -4.0 * dk * k_hat[i * n + j] / (w[i] * rp * rp);
                    if v != 0.0 {
                        triplets.push((i, j, v));
                    }
                }
            }
            diffusion.push(triplets);
        }
        let film = p.film_transfer_m_per_s.clone();
        Shells {
            n,
            porosity: p.porosity,
            volume_fraction: w.iter().map(|w| 3.0 * w / 8.0).collect(),
            diffusion,
            film_shell: film
                .iter()
                .map(|kf| 8.0 * kf / (p.porosity * w[n - 1] * rp))
                .collect(),
            film_bulk: film
                .iter()
                .map(|kf| (1.0 - bed_porosity) / bed_porosity * 3.0 / rp * kf)
                .collect(),
            film,
        }
    }

    fn finite_volume(p: &Particle, bed_porosity: f64) -> Shells {
        let n = p.radial_cells.max(1);
        let nc = p.film_transfer_m_per_s.len();
        let rp = p.radius_m;
        let r: Vec<f64> = (0..=n).map(|i| rp * i as f64 / n as f64).collect();
        let mid: Vec<f64> = (0..n).map(|i| 0.5 * (r[i] + r[i + 1])).collect();
        let vol: Vec<f64> = (0..n)
            .map(|i| (r[i + 1].powi(3) - r[i].powi(3)) / 3.0)
            .collect();
        let total = rp.powi(3) / 3.0;
        let mut diffusion = vec![Vec::new(); nc];
        let mut film = vec![0.0; nc];
        let mut film_shell = vec![0.0; nc];
        let mut film_bulk = vec![0.0; nc];
        for k in 0..nc {
            let kf = p.film_transfer_m_per_s[k];
            let k_film = match &p.pore_diffusion_m2_per_s {
                Some(dp) => {
                    let dp = dp[k];
                    for i in 1..n {
                        // face i between shells i-1 and i
                        let g = r[i] * r[i] * dp / (mid[i] - mid[i - 1]);
                        diffusion[k].push((i, i, -g / vol[i]));
                        diffusion[k].push((i, i - 1, g / vol[i]));
                        diffusion[k].push((i - 1, i - 1, -g / vol[i - 1]));
                        diffusion[k].push((i - 1, i, g / vol[i - 1]));
                    }
                    1.0 / (1.0 / kf + (rp - mid[n - 1]) / (p.porosity * dp))
                }
                None => kf,
            };
            film[k] = k_film;
            film_shell[k] = rp * rp * k_film / (p.porosity * vol[n - 1]);
            film_bulk[k] = (1.0 - bed_porosity) / bed_porosity * 3.0 / rp * k_film;
        }
        Shells {
            n,
            porosity: p.porosity,
            volume_fraction: vol.iter().map(|v| v / total).collect(),
            diffusion,
            film,
            film_shell,
            film_bulk,
        }
    }

    /// Adds the linear film and diffusion terms of one axial node. The node's
    /// state is `[c (nc), shell 0: c_p (nc), q (nb), shell 1: …]`; `out` is its
    /// derivative: bulk entries are added to, pore-liquid entries overwritten,
    /// bound entries untouched.
    pub fn linear(&self, nc: usize, nb: usize, x: &[f64], out: &mut [f64]) {
        let (n, s) = (self.n, nc + nb);
        let at = |i: usize, k: usize| nc + i * s + k;
        for k in 0..nc {
            for i in 0..n {
                out[at(i, k)] = 0.0;
            }
            for &(i, j, l) in &self.diffusion[k] {
                out[at(i, k)] += l * x[at(j, k)];
            }
            let drive = x[k] - x[at(n - 1, k)];
            out[k] -= self.film_bulk[k] * drive;
            out[at(n - 1, k)] += self.film_shell[k] * drive;
        }
    }

    /// Film conductance of component k (m/s), with the outer half-shell.
    pub fn film_conductance(&self, k: usize) -> f64 {
        self.film[k]
    }

    /// (1-ε_p)/ε_p: bound-phase coupling in the pore-liquid equations.
    pub fn pore_phase_ratio(&self) -> f64 {
        (1.0 - self.porosity) / self.porosity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_radial_schemes_conserve_mass_and_relax_to_the_bulk() {
        for spectral in [None, Some(5)] {
            let p = Particle {
                porosity: 0.6,
                radius_m: 4e-5,
                film_transfer_m_per_s: vec![1e-5],
                pore_diffusion_m2_per_s: Some(vec![1e-11]),
                radial_cells: 6,
                radial_polynomial_degree: spectral,
            };
            let eps_c = 0.35;
            let sh = Shells::new(&p, eps_c);
            assert_eq!(sh.n, 6);
            assert!((sh.volume_fraction.iter().sum::<f64>() - 1.0).abs() < 1e-14);
            // node without binding: x = [c, c_p0..c_p5]
            let x = [2.0, 0.0, 0.1, 0.3, 0.5, 0.9, 1.4];
            let mut out = [0.0; 7];
            sh.linear(1, 0, &x, &mut out);
            // liquid hold-up per bed volume: ε_c c + (1-ε_c) ε_p Σ v_i c_p,i
            let rate = eps_c * out[0]
                + (1.0 - eps_c)
                    * p.porosity
                    * (0..6)
                        .map(|i| sh.volume_fraction[i] * out[1 + i])
                        .sum::<f64>();
            assert!(
                rate.abs() < 1e-12 * out[0].abs(),
                "{spectral:?}: total changes at {rate}"
            );
            assert!(out[0] < 0.0 && out[6] > 0.0);
            // uniform state is steady
            let x = [1.0; 7];
            let mut out = [0.0; 7];
            sh.linear(1, 0, &x, &mut out);
            assert!(out.iter().all(|v| v.abs() < 1e-6), "{spectral:?}: {out:?}");
        }
    }
}
