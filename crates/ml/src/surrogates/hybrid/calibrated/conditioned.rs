//! Per-batch random effects of the calibrated serial hybrid, and
//! predictions conditioned on a batch's own early data (docs/hybrid.md,
//! "Conditioned on the batch's own data").
//!
//! The plant's kinetics differ from batch to batch by more than the
//! conditions explain (process noise, raw-material lots, cell-count error).
//! The response surface gives the population mean; each batch has its own
//! effect u_b:
//!
//! ln p_b = θ·φ(c_b) + u_b,   u_b ~ N(0, diag τ²),   y_i ~ N(ŷ_v(t_i; ln p_b), σ_v²).
//!
//! **Learning** (after θ): for every training batch, u_b by a weakly
//! regularised fit to all its offline samples (prior SD 1 in ln p), then
//! σ_v = RMS residual of variable v over all batches; a second pass with
//! these σ_v; τ_k = RMS over the batches of u_b,k (floor 1e-3, so a
//! parameter the trajectories do not inform, such as `gal_ref`, keeps its
//! population value).
//!
//! **Prediction** at cut-off t_c: the samples whose results are known by t_c
//! (result time, else sample time), and the MAP
//!
//! û = argmin_u Σ_i ((ŷ_i(θ·φ + u) − y_i)/σ_v)² + Σ_k (u_k/τ_k)²
//!
//! by Levenberg–Marquardt with a forward-difference Jacobian (one
//! simulation per parameter and iteration); the CQAs are those of the
//! simulation at θ·φ + û. With no sample known yet, û = 0: the
//! unconditioned prediction.

use nalgebra::{DMatrix, DVector};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::{Observed, Observer, Prepared, scaled_residuals};
use crate::data::batch::BatchRecord;
use biotwin_core::fit::lm::{
    Control, LeastSquares, Linearisation, LmOptions, StepLimit, levenberg_marquardt,
};
use biotwin_core::simulation::Outcome;

/// Floor of τ_k: an effect the data never move stays at the population value.
const MIN_EFFECT_SD: f64 = 1e-3;
/// Prior SD of an effect (ln p) while learning τ: weak, only against
/// unidentified directions.
const LEARNING_PRIOR_SD: f64 = 1.0;
const MAX_ITER: usize = 20;

/// What conditioning on a batch's early data needs, learned from the
/// training batches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conditioning {
    /// Data known by this fraction of batch time are used.
    pub cutoff_fraction: f64,
    /// The observed variables the per-batch effects are conditioned on.
    pub observed: Vec<Observed>,
    /// τ_k: SD of the per-batch effect on ln p_k.
    pub effect_sd: Vec<f64>,
    /// σ_v: SD of the residual of each observed variable (dataset SI).
    pub noise_sd: Vec<f64>,
}

/// The batch's offline samples of the observed variables whose results were
/// known at `t_s`: (variable index, sample time h, value SI).
pub(super) fn samples_known_at(
    b: &BatchRecord,
    observed: &[Observed],
    t_s: f64,
) -> Vec<(usize, f64, f64)> {
    let mut out = Vec::new();
    for (v, o) in observed.iter().enumerate() {
        if let Some(list) = b.offline.get(&o.variable) {
            for s in list
                .iter()
                .filter(|s| s.value.is_finite() && s.known_at(t_s))
            {
                out.push((v, s.sample_time_s / 3600.0, s.value));
            }
        }
    }
    out
}

/// MAP of the per-batch effects around the population log-multipliers
/// `base` (the one estimator, [`Effects`]), and the simulation at base + û. None: the simulation at `base`
/// failed.
pub(super) fn map_effects(
    observer: &Observer,
    p: &Prepared,
    base: &[f64],
    samples: &[(usize, f64, f64)],
    noise_sd: &[f64],
    prior_sd: &[f64],
    fd_step: f64,
) -> Option<(Vec<f64>, Outcome)> {
    let np = base.len();
    let u = vec![0.0; np];
    let (_, out) = observer.simulate(p, base, samples, &[])?;
    if samples.is_empty() {
        return Some((u, out));
    }
    // Only effects that can move (τ above the floor) are estimated.
    let free: Vec<usize> = (0..np).filter(|&k| prior_sd[k] > MIN_EFFECT_SD).collect();
    if free.is_empty() {
        return Some((u, out));
    }
    let problem = Effects {
        observer,
        p,
        base,
        samples,
        noise_sd,
        prior_sd,
        free: &free,
        fd_step,
    };
    let opts = LmOptions {
        max_iter: MAX_ITER,
        max_tries: 8,
        up_on_singular: 10.0,
        step_limit: StepLimit::Clamp(1.0),
        rel_tol: 1e-10,
        min_step: 1e-7,
        ..LmOptions::default()
    };
    let fit = levenberg_marquardt(&problem, &vec![0.0; free.len()], &opts, |_| {
        Control::Continue
    })
    .ok()?;
    if fit.failure.is_some() {
        return None;
    }
    let u = problem.full(&fit.theta);
    let (_, out) = observer.simulate(p, &problem.at(&u), samples, &[])?;
    Some((u, out))
}

/// The MAP of the per-batch effects as a least-squares problem of the one
/// estimator (`biotwin_core::fit::lm`): θ the free effects, residuals the scaled
/// sample residuals and u_k/τ_k, Jacobian by forward differences.
struct Effects<'a, 'o> {
    observer: &'a Observer<'o>,
    p: &'a Prepared,
    base: &'a [f64],
    samples: &'a [(usize, f64, f64)],
    noise_sd: &'a [f64],
    prior_sd: &'a [f64],
    free: &'a [usize],
    fd_step: f64,
}

impl Effects<'_, '_> {
    fn full(&self, theta: &[f64]) -> Vec<f64> {
        let mut u = vec![0.0; self.base.len()];
        for (c, &k) in self.free.iter().enumerate() {
            u[k] = theta[c];
        }
        u
    }
    fn at(&self, u: &[f64]) -> Vec<f64> {
        self.base.iter().zip(u).map(|(b, u)| b + u).collect()
    }
    fn residuals(&self, u: &[f64], sim: &[f64]) -> Vec<f64> {
        let mut r = scaled_residuals(sim, self.samples, &[], self.noise_sd, &[]);
        r.extend(u.iter().zip(self.prior_sd).map(|(u, s)| u / s));
        r
    }
}

impl LeastSquares for Effects<'_, '_> {
    type Error = ();
    fn linearise(&self, theta: &[f64]) -> Result<Linearisation, ()> {
        let u = self.full(theta);
        let (sim, _) = self
            .observer
            .simulate(self.p, &self.at(&u), self.samples, &[])
            .ok_or(())?;
        let r = self.residuals(&u, &sim);
        let nf = self.free.len();
        let mut j = DMatrix::<f64>::zeros(r.len(), nf);
        for (c, &k) in self.free.iter().enumerate() {
            let mut uk = u.clone();
            uk[k] += self.fd_step;
            let (sk, _) = self
                .observer
                .simulate(self.p, &self.at(&uk), self.samples, &[])
                .ok_or(())?;
            for (i, (&(v, _, _), (a, b))) in
                self.samples.iter().zip(sk.iter().zip(&sim)).enumerate()
            {
                j[(i, c)] = (a - b) / self.fd_step / self.noise_sd[v];
            }
            j[(self.samples.len() + k, c)] = 1.0 / self.prior_sd[k];
        }
        Ok(Linearisation::from_jacobian(&DVector::from_vec(r), &j))
    }
    fn cost(&self, theta: &[f64]) -> Option<f64> {
        let u = self.full(theta);
        let (sim, _) = self
            .observer
            .simulate(self.p, &self.at(&u), self.samples, &[])?;
        Some(0.5 * self.residuals(&u, &sim).iter().map(|x| x * x).sum::<f64>())
    }
}

/// Learns τ and σ from the training batches' whole trajectories, given the
/// population log-multipliers of each batch (`base[b]`). `initial_sd`: the
/// first pass's residual scale per variable. None: fewer than 3 batches
/// could be fitted.
pub(super) fn learn(
    observer: &Observer,
    observed: &[Observed],
    prepared: &[Prepared],
    base: &[Vec<f64>],
    initial_sd: &[f64],
    fd_step: f64,
    cutoff_fraction: f64,
) -> Option<Conditioning> {
    let np = base.first()?.len();
    let nv = initial_sd.len();
    let prior = vec![LEARNING_PRIOR_SD; np];
    let mut noise = initial_sd.to_vec();
    let mut effects: Vec<Vec<f64>> = Vec::new();
    for _pass in 0..2 {
        let fits: Vec<(usize, Vec<f64>, Vec<f64>)> = prepared
            .par_iter()
            .zip(base)
            .enumerate()
            .filter_map(|(i, (p, b))| {
                let (u, _) = map_effects(observer, p, b, &p.samples, &noise, &prior, fd_step)?;
                let logm: Vec<f64> = b.iter().zip(&u).map(|(b, u)| b + u).collect();
                let (sim, _) = observer.simulate(p, &logm, &p.samples, &[])?;
                // Residuals in SI, for σ_v.
                let res = scaled_residuals(&sim, &p.samples, &[], &vec![1.0; nv], &[]);
                Some((i, u, res))
            })
            .collect();
        if fits.len() < 3 {
            return None;
        }
        let mut ss = vec![0.0; nv];
        let mut n = vec![0usize; nv];
        for (i, _, res) in &fits {
            for (&(v, _, _), e) in prepared[*i].samples.iter().zip(res) {
                ss[v] += e * e;
                n[v] += 1;
            }
        }
        noise = (0..nv)
            .map(|v| {
                let s = (ss[v] / n[v].max(1) as f64).sqrt();
                if s > 0.0 { s } else { initial_sd[v] }
            })
            .collect();
        effects = fits.into_iter().map(|(_, u, _)| u).collect();
    }
    let effect_sd = (0..np)
        .map(|k| {
            let m = effects.iter().map(|u| u[k] * u[k]).sum::<f64>() / effects.len() as f64;
            m.sqrt().max(MIN_EFFECT_SD)
        })
        .collect();
    Some(Conditioning {
        cutoff_fraction,
        observed: observed.to_vec(),
        effect_sd,
        noise_sd: noise,
    })
}
