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
//!
//! Surface diffusion (CADET's `PAR_SURFDIFFUSION`, D_s per bound state):
//! bound molecules move along the pore surface,
//!
//! ε_p ∂c_p/∂t + (1-ε_p) ∂q/∂t = ε_p D_p Δc_p + (1-ε_p) D_s Δq,
//! ∂q/∂t = D_s Δq + R(c_p, q) (kinetic; rapid equilibrium: 0 = R),
//!
//! Δ = r⁻² ∂_r(r² ∂_r), with ∂q/∂r = 0 at r = 0 and at r = r_p (bound
//! molecules leave a particle only by desorbing; the film flux
//! k_f (c - c_p(r_p)) is the whole flux through the surface). The surface
//! term uses the same discrete operator as pore diffusion, with D_s for
//! D_p: in the pore-liquid rows of the bound state's own component,
//! (1-ε_p)/ε_p D_s L q, and in the kinetic bound rows, D_s L q. Its weighted
//! column sums vanish like those of pore diffusion, so mass is conserved.

use super::spec::Particle;

/// Precomputed coefficients of the radial scheme, per component.
#[derive(Debug, Clone)]
pub struct Shells {
    /// Radial shells (finite volumes), or radial nodes of the spectral element.
    pub n: usize,
    /// Particle porosity ε_p, liquid volume fraction of a particle.
    pub porosity: f64,
    /// Volume fraction of each shell in the particle, Σ = 1.
    pub volume_fraction: Vec<f64>,
    /// `diffusion[k]`: the linear pore-diffusion operator of component k,
    /// dc_p,i/dt = Σ_j L_ij c_p,j (+ film, binding).
    diffusion: Vec<RadialOperator>,
    /// Surface diffusion per bound state with D_s > 0: (bound state b, its
    /// component k, D_s L, (1-ε_p)/ε_p D_s L).
    surface: Vec<(usize, usize, RadialOperator, RadialOperator)>,
    /// Film conductance K_k, m/s.
    film: Vec<f64>,
    /// r_p² K / (ε_p V_{n-1}): film term in the outer shell's equation.
    film_shell: Vec<f64>,
    /// (1-ε_c)/ε_c · 3/r_p · K: film term in the bulk equation.
    film_bulk: Vec<f64>,
}

/// A linear operator on the shells of one particle in compressed rows:
/// out_i = Σ_j L_ij x_j. Applied to every axial node and every evaluation of
/// the right-hand side and of the Jacobian-vector product, so it is stored
/// row by row (no zero fill, no scattered adds).
#[derive(Debug, Clone, Default)]
pub struct RadialOperator {
    start: Vec<usize>,
    col: Vec<usize>,
    val: Vec<f64>,
    /// Row-major dense copy for small particles (≤ 16 points: the spectral
    /// element), where a dense row costs less than the indirection.
    dense: Option<Vec<f64>>,
}

impl RadialOperator {
    fn from_triplets(n: usize, triplets: &[(usize, usize, f64)]) -> RadialOperator {
        let mut rows = vec![Vec::new(); n];
        for &(i, j, v) in triplets {
            rows[i].push((j, v));
        }
        let mut op = RadialOperator {
            start: vec![0],
            ..Default::default()
        };
        for mut row in rows {
            row.sort_by_key(|&(j, _)| j);
            let row_start = op.col.len();
            for (j, v) in row {
                if op.col.len() > row_start && op.col.last() == Some(&j) {
                    // a duplicate entry (finite volumes: two faces per shell)
                    if let Some(x) = op.val.last_mut() {
                        *x += v;
                    }
                } else {
                    op.col.push(j);
                    op.val.push(v);
                }
            }
            op.start.push(op.col.len());
        }
        if n <= 16 {
            let mut dense = vec![0.0; n * n];
            for i in 0..n {
                for e in op.start[i]..op.start[i + 1] {
                    dense[i * n + op.col[e]] = op.val[e];
                }
            }
            op.dense = Some(dense);
        }
        op
    }

    fn scaled(&self, factor: f64) -> RadialOperator {
        RadialOperator {
            start: self.start.clone(),
            col: self.col.clone(),
            val: self.val.iter().map(|v| v * factor).collect(),
            dense: self
                .dense
                .as_ref()
                .map(|d| d.iter().map(|v| v * factor).collect()),
        }
    }

    /// out[first + i·stride] (+)= Σ_j L_ij x[first + j·stride] for every
    /// shell i, overwriting or adding.
    #[inline]
    fn apply(&self, x: &[f64], first: usize, stride: usize, out: &mut [f64], add: bool) {
        self.apply_from(x, first, stride, out, first, add);
    }

    /// As [`Self::apply`], reading x at `first` and writing out at `target`.
    #[inline]
    fn apply_from(
        &self,
        x: &[f64],
        first: usize,
        stride: usize,
        out: &mut [f64],
        target: usize,
        add: bool,
    ) {
        let n = self.start.len() - 1;
        // gather the strided values once (contiguous, few bounds checks)
        let mut buf = [0.0; 16];
        let heap;
        let xs: &[f64] = if n <= buf.len() {
            for (j, b) in buf.iter_mut().take(n).enumerate() {
                *b = x[first + j * stride];
            }
            &buf[..n]
        } else {
            heap = (0..n).map(|j| x[first + j * stride]).collect::<Vec<f64>>();
            &heap
        };
        if let Some(dense) = &self.dense {
            for (i, row) in dense.chunks_exact(n).enumerate() {
                let acc: f64 = row.iter().zip(xs).map(|(a, x)| a * x).sum();
                let o = &mut out[target + i * stride];
                *o = if add { *o + acc } else { acc };
            }
            return;
        }
        for i in 0..n {
            let (a, b) = (self.start[i], self.start[i + 1]);
            let acc: f64 = self.val[a..b]
                .iter()
                .zip(&self.col[a..b])
                .map(|(v, &j)| v * xs[j])
                .sum();
            let o = &mut out[target + i * stride];
            *o = if add { *o + acc } else { acc };
        }
    }
}

impl Shells {
    /// `bound_components[b]`: the component of bound state b (surface
    /// diffusion acts on a bound state and its own component's pore liquid).
    pub fn new(p: &Particle, bed_porosity: f64, bound_components: &[usize]) -> Shells {
        let mut shells = match (p.radial_polynomial_degree, &p.pore_diffusion_m2_per_s) {
            (Some(degree), Some(dp)) => Shells::spectral(p, dp, degree, bed_porosity),
            _ => Shells::finite_volume(p, bed_porosity),
        };
        if let Some(ds) = &p.surface_diffusion_m2_per_s {
            let f = (1.0 - p.porosity) / p.porosity;
            for (b, &k) in bound_components.iter().enumerate() {
                let d = ds.get(k).copied().unwrap_or(0.0);
                if d > 0.0 {
                    // the pore-diffusion operator of component k is D_p,k × the
                    // unit operator; rebuild it for D_s from the unit operator
                    let unit = shells.unit_operator(p, k);
                    shells
                        .surface
                        .push((b, k, unit.scaled(d), unit.scaled(f * d)));
                }
            }
        }
        shells
    }

    /// The discrete r⁻² ∂_r(r² ∂_r ·) with zero flux at both ends, for unit
    /// diffusivity (the operator of pore diffusion divided by D_p).
    fn unit_operator(&self, p: &Particle, k: usize) -> RadialOperator {
        let unit = Particle {
            pore_diffusion_m2_per_s: Some(vec![1.0; p.film_transfer_m_per_s.len()]),
            surface_diffusion_m2_per_s: None,
            ..p.clone()
        };
        let sh = match unit.radial_polynomial_degree {
            Some(degree) => Shells::spectral(
                &unit,
                &vec![1.0; unit.film_transfer_m_per_s.len()],
                degree,
                0.5,
            ),
            None => Shells::finite_volume(&unit, 0.5),
        };
        sh.diffusion[k].clone()
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
            diffusion.push(RadialOperator::from_triplets(n, &triplets));
        }
        let film = p.film_transfer_m_per_s.clone();
        Shells {
            n,
            porosity: p.porosity,
            volume_fraction: w.iter().map(|w| 3.0 * w / 8.0).collect(),
            diffusion,
            surface: Vec::new(),
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
        let mut triplets = vec![Vec::new(); nc];
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
                        triplets[k].push((i, i, -g / vol[i]));
                        triplets[k].push((i, i - 1, g / vol[i]));
                        triplets[k].push((i - 1, i - 1, -g / vol[i - 1]));
                        triplets[k].push((i - 1, i, g / vol[i - 1]));
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
            diffusion: triplets
                .iter()
                .map(|t| RadialOperator::from_triplets(n, t))
                .collect(),
            surface: Vec::new(),
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
        for k in 0..nc {
            self.diffusion[k].apply(x, nc + k, s, out, false);
            let outer = nc + (n - 1) * s + k;
            let drive = x[k] - x[outer];
            out[k] -= self.film_bulk[k] * drive;
            out[outer] += self.film_shell[k] * drive;
        }
        // surface diffusion in the pore-liquid rows: (1-ε_p)/ε_p D_s L q
        for (b, k, _, liquid) in &self.surface {
            liquid.apply_from(x, nc + nc + b, s, out, nc + k, true);
        }
    }

    /// Multiplies the bound-row surface operator of each bound state b by
    /// `scale[b]` (the column's kinetic row scale 1/s_b), once at set-up.
    pub fn scale_bound_rows(&mut self, scale: &[f64]) {
        for (b, _, op, _) in &mut self.surface {
            let f = scale.get(*b).copied().unwrap_or(1.0);
            if f != 1.0 {
                *op = op.scaled(f);
            }
        }
    }

    /// Adds surface diffusion D_s L q (times the row scale set by
    /// [`Self::scale_bound_rows`]) to the bound rows of one axial node; call
    /// after the binding rates are written there.
    pub fn surface_bound(&self, nc: usize, nb: usize, x: &[f64], out: &mut [f64]) {
        let s = nc + nb;
        for (b, _, op, _) in &self.surface {
            op.apply(x, nc + nc + b, s, out, true);
        }
    }

    /// Whether any bound state diffuses along the surface.
    pub fn has_surface_diffusion(&self) -> bool {
        !self.surface.is_empty()
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
                surface_diffusion_m2_per_s: None,
                radial_cells: 6,
                radial_polynomial_degree: spectral,
            };
            let eps_c = 0.35;
            let sh = Shells::new(&p, eps_c, &[]);
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

    #[test]
    fn surface_diffusion_conserves_the_bound_phase_and_keeps_uniform_q_steady() {
        for spectral in [None, Some(5)] {
            let p = Particle {
                porosity: 0.75,
                radius_m: 4.25e-5,
                film_transfer_m_per_s: vec![5e-6],
                pore_diffusion_m2_per_s: Some(vec![1e-11]),
                surface_diffusion_m2_per_s: Some(vec![1e-12]),
                radial_cells: 6,
                radial_polynomial_degree: spectral,
            };
            let sh = Shells::new(&p, 0.37, &[0]);
            assert!(sh.has_surface_diffusion());
            // node [c, (c_p, q) × 6 shells], bulk equal to the outer pore
            // liquid (no film flux), q rising towards the surface
            let mut x = vec![0.3];
            for i in 0..6 {
                x.push(0.3);
                x.push(0.5 + 0.3 * i as f64);
            }
            let mut out = vec![0.0; x.len()];
            sh.linear(1, 1, &x, &mut out);
            sh.surface_bound(1, 1, &x, &mut out);
            // bound rows: Σ v_i dq_i/dt = 0 (no flux at r = 0 and r = r_p)
            let v = &sh.volume_fraction;
            let bound: f64 = (0..6).map(|i| v[i] * out[2 + 2 * i]).sum();
            let scale: f64 = (0..6).map(|i| (v[i] * out[2 + 2 * i]).abs()).sum();
            assert!(scale > 0.0, "{spectral:?}: q does not move");
            assert!(
                bound.abs() < 1e-12 * scale,
                "{spectral:?}: {bound} of {scale}"
            );
            // liquid rows hold d(c_p + F q)/dt: with uniform c_p only the
            // surface term, (1-ε_p)/ε_p × the bound rows
            let f = (1.0 - p.porosity) / p.porosity;
            for i in 0..6 {
                let (liq, q) = (out[1 + 2 * i], out[2 + 2 * i]);
                assert!(
                    (liq - f * q).abs() <= 1e-12 * q.abs().max(1e-30),
                    "{spectral:?} shell {i}: {liq} vs {}",
                    f * q
                );
            }
            assert!(out[0].abs() < 1e-12, "no film flux at equal concentrations");
            // uniform q is steady
            let x: Vec<f64> = std::iter::once(0.3)
                .chain((0..6).flat_map(|_| [0.3, 1.7]))
                .collect();
            let mut out = vec![0.0; x.len()];
            sh.linear(1, 1, &x, &mut out);
            sh.surface_bound(1, 1, &x, &mut out);
            assert!(out.iter().all(|o| o.abs() < 1e-6), "{spectral:?}: {out:?}");
        }
    }
}
