//! Forecast of the end-of-batch quality attributes: an ensemble drawn from
//! the filter's estimate and the model's parameter uncertainty, each member
//! integrated through the rest of the recipe.
//!
//! Member m: `x_m = x̂ + L z_m` with `L Lᵀ = P` (states and adapted
//! parameters, projected onto `y ≥ 0`, `θ > 0`), and every other parameter
//! that the process file gives an `[[uncertainty]]` for drawn from it
//! (model uncertainty the filter does not learn) — or, for a calibrated
//! model, the fitted parameters the filter does not adapt drawn jointly from
//! the fit's covariance ([`JointSpread`]). The CQAs of each member at
//! the planned batch end give the mean, the 5/95 % quantiles and
//! P(in spec) = the share of members inside the specification limits.
//! A seeded stream (core's SplitMix64 + Box-Muller) makes the result
//! a function of (estimate, seed) only.

use nalgebra::{DMatrix, DVector};

use super::filter::Filter;
use crate::Error;
use crate::{CqaForecast, Forecast};
use biotwin_core::bioreactor::Culture;
use biotwin_core::definition::specs::Limit;
use biotwin_core::random::PairedNormals;
use biotwin_core::solver::{Tolerances, WorkStats};

/// Spread of a parameter the filter does not adapt.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Spread {
    /// ln θ ~ N(ln θ₀, σ²).
    Lognormal {
        /// Standard deviation of ln θ (dimensionless).
        sigma: f64,
    },
    /// θ ~ N(θ₀, sd²), truncated to the parameter's admissible range.
    Normal {
        /// Standard deviation of θ, in the parameter's SI unit.
        sd: f64,
    },
}

/// Parameters the filter does not adapt, drawn jointly from a calibrated
/// model's covariance (`[calibration.covariance]`, the block of the
/// non-adapted fitted parameters).
#[derive(Debug, Clone, PartialEq)]
pub struct JointSpread {
    /// Family parameter indices.
    pub indices: Vec<usize>,
    /// Per member: drawn in ln space (θ₀·exp(w)) or in SI (θ₀ + w, within
    /// the parameter's admissible range).
    pub ln: Vec<bool>,
    /// Lower Cholesky factor (row-major) of the covariance, ln or SI units.
    pub cholesky: Vec<f64>,
}

/// What the forecast needs besides the filter.
#[derive(Debug, Clone)]
pub struct Forecaster {
    /// Number of ensemble members.
    pub size: usize,
    /// Integration tolerances of the members.
    pub tolerances: Tolerances,
    /// (parameter index, spread).
    pub spreads: Vec<(usize, Spread)>,
    /// Fitted parameters drawn jointly (none for an uncalibrated model).
    pub joint: Option<JointSpread>,
    /// Admissible range of every parameter (SI, the family's table): a
    /// normal draw is truncated here, not at zero (several platform
    /// parameters, e.g. `gal_amm`, are negative).
    pub bounds_si: Vec<(f64, f64)>,
    /// Specification limits by CQA name.
    pub limits: Vec<Limit>,
    /// Extra quantile levels of every CQA reported in the forecast's
    /// `state` as `NAME@qLEVEL` (for calibration studies; empty in live).
    pub quantile_levels: Vec<f64>,
    /// Share of members allowed to fail to integrate before the forecast
    /// is an error.
    pub max_failed_share: f64,
    /// Model discrepancy added to the members' end values
    /// ([`super::discrepancy`]); `None` without a table for the process.
    pub discrepancy: Option<super::discrepancy::BatchDiscrepancy>,
}

/// `v` within the parameter's admissible range (unchanged without one).
fn clamp_to(v: f64, bounds: Option<&(f64, f64)>) -> f64 {
    match bounds {
        Some(&(lo, hi)) if lo <= hi => v.clamp(lo, hi),
        _ => v,
    }
}

/// The ensemble's normals: core's SplitMix64 with both values of each
/// Box–Muller pair ([`PairedNormals`]), the stream's state starting at
/// `seed ^ 0x6a09_e667_f3bc_c909` (the ensemble's own salt, kept so a seed's
/// forecast stays what it was).
pub struct Rng(PairedNormals);

impl Rng {
    /// The stream of `seed`: the same seed gives the same normals.
    pub fn new(seed: u64) -> Rng {
        Rng(PairedNormals::new(seed ^ 0x6a09_e667_f3bc_c909))
    }
    /// Next standard normal.
    pub fn normal(&mut self) -> f64 {
        self.0.normal()
    }
}

/// Lower Cholesky factor of a covariance. Factored as a correlation matrix
/// (states differ by 30 orders of magnitude: cells/m³ next to kg/(cell s)),
/// with diagonal jitter if rounding made it indefinite, and the diagonal as
/// a last resort.
pub fn factor(p: &DMatrix<f64>) -> DMatrix<f64> {
    let n = p.nrows();
    let sd = DVector::from_fn(n, |i, _| p[(i, i)].max(0.0).sqrt());
    let inv = sd.map(|s| if s > 0.0 { 1.0 / s } else { 0.0 });
    let mut jitter = 0.0;
    for _ in 0..6 {
        let mut c = DMatrix::from_fn(n, n, |i, j| p[(i, j)] * inv[i] * inv[j]);
        for i in 0..n {
            c[(i, i)] = if sd[i] > 0.0 { 1.0 + jitter } else { 1.0 };
        }
        if let Some(ch) = c.cholesky() {
            let mut l = ch.l();
            for i in 0..n {
                for j in 0..n {
                    l[(i, j)] *= sd[i];
                }
            }
            return l;
        }
        jitter = if jitter == 0.0 { 1e-12 } else { jitter * 100.0 };
    }
    DMatrix::from_diagonal(&sd)
}

/// Linear-interpolated quantile of sorted data.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    let n = sorted.len();
    if n == 0 {
        return f64::NAN;
    }
    let h = q * (n - 1) as f64;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(n - 1);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

/// Runs the ensemble from the filter's current estimate to the batch end.
pub fn forecast<const N: usize, M: Culture<N>>(
    f: &Filter<N, M>,
    fc: &Forecaster,
    seed: u64,
) -> Result<Forecast, Error> {
    let d = f.dim();
    let l = factor(&f.p);
    let mut rng = Rng::new(seed);
    let t0 = f.t;
    let t_end = f.plan.recipe.duration_s.max(t0);
    let mut z = DVector::<f64>::zeros(d);
    let mut xm = DVector::<f64>::zeros(d);
    let mut params = Vec::with_capacity(f.base_params.len());
    let mut row = Vec::new();
    let mut stats = WorkStats::default();
    let probe = f.plan.model(&f.base_params, &f.ctx, t0)?;
    let columns = probe.output_columns();
    let cqa_names: Vec<&'static str> = probe
        .quality(&Filter::<N, M>::states(&f.x))
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    let mut values: Vec<Vec<f64>> = vec![Vec::with_capacity(fc.size); cqa_names.len()];
    let mut sum = vec![0.0; columns.len()];
    let mut sum2 = vec![0.0; columns.len()];
    let mut failed = 0usize;
    let mut last_err = None;
    // Normals of the joint draw, one buffer for all members.
    let mut joint_e: Vec<f64> = Vec::new();
    for _ in 0..fc.size {
        for zi in z.iter_mut() {
            *zi = rng.normal();
        }
        l.mul_to(&z, &mut xm);
        xm += &f.x;
        for i in 0..N {
            xm[i] = xm[i].max(0.0);
        }
        f.params_of(&xm, &mut params);
        for (k, &j) in f.adapt.iter().enumerate() {
            // Positive model parameters stay positive; one of either sign
            // (a logit slope) is drawn as it is.
            params[j] = if f.base_params[j] > 0.0 {
                xm[N + k].max(1e-3 * f.base_params[j])
            } else {
                xm[N + k]
            };
        }
        for &(j, s) in &fc.spreads {
            let e = rng.normal();
            params[j] = match s {
                Spread::Lognormal { sigma } => params[j] * (sigma * e).exp(),
                Spread::Normal { sd } => clamp_to(params[j] + sd * e, fc.bounds_si.get(j)),
            };
        }
        if let Some(js) = &fc.joint {
            let n = js.indices.len();
            joint_e.clear();
            joint_e.extend((0..n).map(|_| rng.normal()));
            let e = &joint_e;
            for (r, &j) in js.indices.iter().enumerate() {
                let w: f64 = (0..=r).map(|c| js.cholesky[r * n + c] * e[c]).sum();
                params[j] = if js.ln[r] {
                    params[j] * w.exp()
                } else {
                    clamp_to(params[j] + w, fc.bounds_si.get(j))
                };
            }
        }
        let mut model = f.plan.model(&params, &f.ctx, t0)?;
        let mut y = Filter::<N, M>::states(&xm);
        model.begin_segment(&y);
        model.outputs(t0, &y, &mut row);
        for (c, v) in row.iter().enumerate() {
            sum[c] += v;
            sum2[c] += v * v;
        }
        let mut ctx = f.ctx;
        let mut result = f.plan.advance(
            &mut model,
            &mut ctx,
            t0,
            &mut y,
            t_end,
            &fc.tolerances,
            &mut stats,
        );
        if result.is_err() {
            // The forecast's loose tolerance can step a substrate that runs
            // out at high density (glutamine near its Monod constant) past
            // the negativity check. Dropping such members would bias the
            // ensemble towards the batches that deplete slowly, so the
            // member is run again from its start at a tolerance 1000 times
            // tighter and only counted as failed if that fails too.
            let tight = Tolerances {
                rtol: fc.tolerances.rtol * 1e-3,
                atol: fc.tolerances.atol * 1e-3,
                ..fc.tolerances
            };
            model = f.plan.model(&params, &f.ctx, t0)?;
            y = Filter::<N, M>::states(&xm);
            model.begin_segment(&y);
            ctx = f.ctx;
            result = f
                .plan
                .advance(&mut model, &mut ctx, t0, &mut y, t_end, &tight, &mut stats);
        }
        match result {
            Ok(()) => {
                for (k, (_, v)) in model.quality(&y).into_iter().enumerate() {
                    values[k].push(v);
                }
            }
            Err(e) => {
                failed += 1;
                last_err = Some(e);
            }
        }
    }
    if fc.size == 0 || failed as f64 > fc.max_failed_share * fc.size as f64 {
        return Err(last_err.unwrap_or_else(|| Error::Numerical {
            time_h: t0 / 3600.0,
            message: "an ensemble of zero members".into(),
            state: String::new(),
        }));
    }
    if let Some(bd) = &fc.discrepancy {
        // Its own stream, so the members' draws above stay what they were.
        let mut drng = Rng::new(seed ^ 0xd15c_4e9a_0c1e_5a1d);
        let frac = if t_end > 0.0 { t0 / t_end } else { 1.0 };
        for (k, name) in cqa_names.iter().enumerate() {
            let Some((a, sd)) = bd.table.at(name, frac, bd.q) else {
                continue;
            };
            let cap = if name.ends_with("_pct") {
                100.0
            } else {
                f64::INFINITY
            };
            for v in values[k].iter_mut() {
                *v = (*v * (a + sd * drng.normal()).exp()).min(cap);
            }
        }
    }
    let n = fc.size as f64;
    let state = columns
        .iter()
        .enumerate()
        .map(|(c, name)| {
            let mean = sum[c] / n;
            let var = (sum2[c] / n - mean * mean).max(0.0) * n / (n - 1.0).max(1.0);
            (name.to_string(), mean, var.sqrt())
        })
        .collect();
    let mut state: Vec<(String, f64, f64)> = state;
    let mut cqas = Vec::with_capacity(cqa_names.len());
    for (k, name) in cqa_names.iter().enumerate() {
        let v = &mut values[k];
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        let limit = fc.limits.iter().find(|l| l.cqa == *name);
        let p_in_spec =
            limit.map(|l| v.iter().filter(|&&x| l.contains(x)).count() as f64 / v.len() as f64);
        v.sort_by(|a, b| a.total_cmp(b));
        for &q in &fc.quantile_levels {
            state.push((format!("{name}@q{q}"), quantile(v, q), 0.0));
        }
        let c = CqaForecast {
            name: name.to_string(),
            mean,
            p05: quantile(v, 0.05),
            p95: quantile(v, 0.95),
            lower_spec: limit.and_then(|l| l.min),
            upper_spec: limit.and_then(|l| l.max),
            p_in_spec,
        };
        if ![c.mean, c.p05, c.p95].iter().all(|x| x.is_finite()) {
            return Err(Error::Numerical {
                time_h: t0 / 3600.0,
                message: format!("forecast of {name} is not finite"),
                state: String::new(),
            });
        }
        cqas.push(c);
    }
    Ok(Forecast {
        time_s: t0,
        cqas,
        state,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normals_have_unit_moments_and_repeat_per_seed() {
        let mut r = Rng::new(7);
        let xs: Vec<f64> = (0..20000).map(|_| r.normal()).collect();
        let m = xs.iter().sum::<f64>() / xs.len() as f64;
        let v = xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / xs.len() as f64;
        assert!(m.abs() < 0.03 && (v - 1.0).abs() < 0.03, "{m} {v}");
        let mut r2 = Rng::new(7);
        assert_eq!(r2.normal(), xs[0]);
    }

    #[test]
    fn factor_reproduces_badly_scaled_covariance() {
        let p = DMatrix::from_row_slice(2, 2, &[1e24, 1e-8 * 0.5, 1e-8 * 0.5, 1e-40]);
        let l = factor(&p);
        let back = &l * l.transpose();
        for (a, b) in back.iter().zip(p.iter()) {
            assert!((a - b).abs() <= 1e-12 * b.abs().max(1e-60), "{a} vs {b}");
        }
    }

    #[test]
    fn quantiles_interpolate() {
        let s = [0.0, 1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile(&s, 0.5), 2.0);
        assert!((quantile(&s, 0.05) - 0.2).abs() < 1e-12);
    }
}
