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
use crate::simulation::Outcome;

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
/// `base`, and the simulation at base + û. None: the simulation at `base`
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
    let at = |u: &[f64]| -> Vec<f64> { base.iter().zip(u).map(|(b, u)| b + u).collect() };
    let cost_of = |u: &[f64], sim: &[f64]| -> (Vec<f64>, f64) {
        let mut r = scaled_residuals(sim, samples, &[], noise_sd, &[]);
        r.extend(u.iter().zip(prior_sd).map(|(u, s)| u / s));
        let c = r.iter().map(|x| x * x).sum();
        (r, c)
    };
    let mut u = vec![0.0; np];
    let (mut sim, mut out) = observer.simulate(p, base, samples, &[])?;
    if samples.is_empty() {
        return Some((u, out));
    }
    let (mut r, mut cost) = cost_of(&u, &sim);
    // Only effects that can move (τ above the floor) are estimated.
    let free: Vec<usize> = (0..np).filter(|&k| prior_sd[k] > MIN_EFFECT_SD).collect();
    let nf = free.len();
    if nf == 0 {
        return Some((u, out));
    }
    let mut mu = 1e-3;
    for _ in 0..MAX_ITER {
        let mut j = DMatrix::<f64>::zeros(r.len(), nf);
        for (c, &k) in free.iter().enumerate() {
            let mut uk = u.clone();
            uk[k] += fd_step;
            let (sk, _) = observer.simulate(p, &at(&uk), samples, &[])?;
            for (i, (&(v, _, _), (a, b))) in samples.iter().zip(sk.iter().zip(&sim)).enumerate() {
                j[(i, c)] = (a - b) / fd_step / noise_sd[v];
            }
            j[(samples.len() + k, c)] = 1.0 / prior_sd[k];
        }
        let jtj = j.transpose() * &j;
        let g = j.transpose() * DVector::from_column_slice(&r);
        let mut accepted = false;
        let mut small = false;
        for _ in 0..8 {
            let mut a = jtj.clone();
            for d in 0..nf {
                a[(d, d)] += mu * jtj[(d, d)].max(1e-12);
            }
            let Some(step) = a.cholesky().map(|ch| ch.solve(&(-&g))) else {
                mu *= 10.0;
                continue;
            };
            let mut cand = u.clone();
            for (c, &k) in free.iter().enumerate() {
                cand[k] += step[c].clamp(-1.0, 1.0);
            }
            small = step.amax() < 1e-7;
            if let Some((s, o)) = observer.simulate(p, &at(&cand), samples, &[]) {
                let (rc, cc) = cost_of(&cand, &s);
                if cc < cost {
                    let rel = (cost - cc) / cost.max(1e-300);
                    (u, sim, out, r, cost) = (cand, s, o, rc, cc);
                    mu = (mu / 3.0).max(1e-9);
                    accepted = true;
                    small |= rel < 1e-10;
                    break;
                }
            }
            mu *= 4.0;
        }
        if !accepted || small {
            break;
        }
    }
    Some((u, out))
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
