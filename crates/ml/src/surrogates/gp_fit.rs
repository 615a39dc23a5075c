//! Fitting GP kernel hyperparameters by maximising the log marginal
//! likelihood (Rasmussen & Williams 2006, eq. 2.30 and 5.9):
//!
//! ln p(y|X,θ) = −½ yᵀK⁻¹y − ½ ln|K| − n/2 ln 2π (summed over targets),
//! ∂/∂θⱼ = ½ tr((ααᵀ − K⁻¹) ∂K/∂θⱼ), α = K⁻¹y,
//!
//! over θ = ln(σ², ℓ…, σₙ²) inside box bounds, by a projected L-BFGS with
//! Armijo backtracking (Nocedal & Wright, *Numerical Optimization*, 2nd ed.,
//! Alg. 7.4/7.5), from the given kernel and from `restarts` further starting
//! points spread over the box by an additive golden-ratio sequence (so a fit
//! is reproducible, unlike random restarts).

use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

use super::SurrogateError;
use super::gp::{RbfKernel, training_covariance};

/// Options of the marginal-likelihood fit; bounds as scikit-learn's defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptimiseOptions {
    /// Iterations of the bounded optimiser per start.
    pub max_iter: usize,
    /// Extra starting points besides the given kernel.
    pub restarts: usize,
    /// Bounds of the signal variance σ² (scaled targets²).
    pub signal_variance_bounds: (f64, f64),
    /// Bounds of each length scale ℓ (scaled feature units).
    pub length_scale_bounds: (f64, f64),
    /// Bounds of the noise variance σₙ² (scaled targets²).
    pub noise_variance_bounds: (f64, f64),
}

impl Default for OptimiseOptions {
    fn default() -> Self {
        OptimiseOptions {
            max_iter: 200,
            restarts: 0,
            signal_variance_bounds: (1e-5, 1e5),
            length_scale_bounds: (1e-5, 1e5),
            noise_variance_bounds: (1e-5, 1e5),
        }
    }
}

/// Log marginal likelihood and its gradient with respect to θ; `None` when
/// K is not positive definite at θ.
pub fn log_marginal_likelihood(
    theta: &[f64],
    x: &DMatrix<f64>,
    y: &DMatrix<f64>,
    jitter: f64,
) -> Option<(f64, Vec<f64>)> {
    let kernel = RbfKernel::from_theta(theta);
    let n = x.nrows();
    let k = training_covariance(&kernel, x, jitter);
    let chol = k.cholesky()?;
    let alpha = chol.solve(y);
    let l = chol.l();
    let lml = super::gp::log_marginal_likelihood_from(&l, y, &alpha);
    let k_inv = chol.inverse();
    // inner = Σ_targets α αᵀ − q K⁻¹
    let q = y.ncols() as f64;
    let inner = &alpha * alpha.transpose() - k_inv * q;
    let signal = kernel.cross(x, x);
    let mut grad = vec![0.0; theta.len()];
    // ∂K/∂ln σ² = K_signal
    grad[0] = 0.5 * inner.component_mul(&signal).sum();
    let n_len = kernel.length_scales.len();
    for (g, d_range) in grad[1..1 + n_len].iter_mut().zip(0..n_len) {
        let mut s = 0.0;
        for i in 0..n {
            for j in 0..n {
                let r2 = if n_len == 1 {
                    (0..x.ncols())
                        .map(|d| (x[(i, d)] - x[(j, d)]).powi(2))
                        .sum::<f64>()
                        / kernel.length_scales[0].powi(2)
                } else {
                    (x[(i, d_range)] - x[(j, d_range)]).powi(2)
                        / kernel.length_scales[d_range].powi(2)
                };
                // ∂K/∂ln ℓ = K_signal · r²
                s += inner[(i, j)] * signal[(i, j)] * r2;
            }
        }
        *g = 0.5 * s;
    }
    // ∂K/∂ln σₙ² = σₙ² I
    let last = theta.len() - 1;
    grad[last] = 0.5 * kernel.noise_variance * inner.trace();
    Some((lml, grad))
}

/// The kernel maximising the marginal likelihood from `start`.
pub fn maximise_marginal_likelihood(
    start: &RbfKernel,
    x: &DMatrix<f64>,
    y: &DMatrix<f64>,
    jitter: f64,
    opts: &OptimiseOptions,
) -> Result<RbfKernel, SurrogateError> {
    let n_len = start.length_scales.len();
    let mut lo = vec![opts.signal_variance_bounds.0.ln()];
    let mut hi = vec![opts.signal_variance_bounds.1.ln()];
    for _ in 0..n_len {
        lo.push(opts.length_scale_bounds.0.ln());
        hi.push(opts.length_scale_bounds.1.ln());
    }
    lo.push(opts.noise_variance_bounds.0.ln());
    hi.push(opts.noise_variance_bounds.1.ln());
    let objective = |t: &[f64]| {
        log_marginal_likelihood(t, x, y, jitter).map(|(f, g)| (-f, g.iter().map(|v| -v).collect()))
    };
    let mut starts = vec![start.theta()];
    const GOLDEN: f64 = 0.618_033_988_749_894_9;
    for r in 1..=opts.restarts {
        starts.push(
            (0..lo.len())
                .map(|d| {
                    let u = ((r as f64) * GOLDEN * (d as f64 + 1.0).sqrt()).fract();
                    lo[d] + u * (hi[d] - lo[d])
                })
                .collect(),
        );
    }
    let mut best: Option<(f64, Vec<f64>)> = None;
    for s in starts {
        if let Some((f, t)) = minimise_box(&objective, &s, &lo, &hi, opts.max_iter)
            && best.as_ref().is_none_or(|(bf, _)| f < *bf)
        {
            best = Some((f, t));
        }
    }
    match best {
        Some((_, t)) => Ok(RbfKernel::from_theta(&t)),
        None => Err(SurrogateError::Numerical(
            "GP: the marginal likelihood could not be evaluated at any starting point".into(),
        )),
    }
}

fn clamp(x: &mut [f64], lo: &[f64], hi: &[f64]) {
    for ((v, l), h) in x.iter_mut().zip(lo).zip(hi) {
        *v = v.clamp(*l, *h);
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// A function to minimise: value and gradient, `None` where undefined.
pub type Objective<'a> = dyn Fn(&[f64]) -> Option<(f64, Vec<f64>)> + 'a;

/// Projected L-BFGS (memory 10) with Armijo backtracking; returns the best
/// (f, x) found, or `None` when f is undefined at the start.
pub fn minimise_box(
    f: &Objective<'_>,
    x0: &[f64],
    lo: &[f64],
    hi: &[f64],
    max_iter: usize,
) -> Option<(f64, Vec<f64>)> {
    const MEMORY: usize = 10;
    let mut x = x0.to_vec();
    clamp(&mut x, lo, hi);
    let (mut fx, mut g) = f(&x)?;
    let mut hist: Vec<(Vec<f64>, Vec<f64>)> = Vec::new();
    let free = |x: &[f64], g: &[f64], i: usize| {
        // A coordinate at a bound whose descent direction leaves the box is held.
        !((x[i] <= lo[i] && g[i] > 0.0) || (x[i] >= hi[i] && g[i] < 0.0))
    };
    for _ in 0..max_iter {
        let pg: Vec<f64> = (0..x.len())
            .map(|i| if free(&x, &g, i) { g[i] } else { 0.0 })
            .collect();
        if pg.iter().all(|v| v.abs() < 1e-9) {
            break;
        }
        // Two-loop recursion for d = −H g.
        let mut d = pg.clone();
        let mut alphas = Vec::new();
        for (s, yv) in hist.iter().rev() {
            let rho = 1.0 / dot(yv, s);
            let a = rho * dot(s, &d);
            for (di, yi) in d.iter_mut().zip(yv) {
                *di -= a * yi;
            }
            alphas.push((rho, a));
        }
        if let Some((s, yv)) = hist.last() {
            let gamma = dot(s, yv) / dot(yv, yv);
            d.iter_mut().for_each(|v| *v *= gamma);
        } else {
            let m = pg.iter().fold(0.0f64, |a, v| a.max(v.abs()));
            d.iter_mut().for_each(|v| *v /= m.max(1.0));
        }
        for ((s, yv), (rho, a)) in hist.iter().zip(alphas.iter().rev()) {
            let b = rho * dot(yv, &d);
            for (di, si) in d.iter_mut().zip(s) {
                *di += (a - b) * si;
            }
        }
        d.iter_mut().for_each(|v| *v = -*v);
        for (i, di) in d.iter_mut().enumerate() {
            if !free(&x, &g, i) {
                *di = 0.0;
            }
        }
        if dot(&d, &pg) >= 0.0 {
            // Not a descent direction: restart from steepest descent.
            hist.clear();
            let m = pg.iter().fold(0.0f64, |a, v| a.max(v.abs()));
            d = pg.iter().map(|v| -v / m.max(1.0)).collect();
        }
        let mut step = 1.0;
        let mut accepted = None;
        for _ in 0..50 {
            let mut xn: Vec<f64> = x.iter().zip(&d).map(|(a, b)| a + step * b).collect();
            clamp(&mut xn, lo, hi);
            let decrease: f64 = dot(
                &g,
                &xn.iter().zip(&x).map(|(a, b)| a - b).collect::<Vec<_>>(),
            );
            if let Some((fn_, gn)) = f(&xn)
                && fn_ <= fx + 1e-4 * decrease
            {
                accepted = Some((xn, fn_, gn));
                break;
            }
            step *= 0.5;
        }
        let Some((xn, fn_, gn)) = accepted else {
            break;
        };
        let s: Vec<f64> = xn.iter().zip(&x).map(|(a, b)| a - b).collect();
        let yv: Vec<f64> = gn.iter().zip(&g).map(|(a, b)| a - b).collect();
        if dot(&s, &yv) > 1e-12 {
            hist.push((s, yv));
            if hist.len() > MEMORY {
                hist.remove(0);
            }
        }
        let converged = (fx - fn_).abs() <= 1e-12 * (1.0 + fx.abs());
        x = xn;
        fx = fn_;
        g = gn;
        if converged {
            break;
        }
    }
    Some((fx, x))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Artifacts keep their stored field names (their content hashes cover
    /// them) and the British spellings of the Rust API read as well.
    #[test]
    fn gp_params_keep_their_stored_field_names() {
        use crate::surrogates::gp::{GpParams, RbfKernel};
        let mut p = GpParams::fixed(RbfKernel {
            signal_variance: 1.0,
            length_scales: vec![2.0],
            noise_variance: 0.1,
        });
        p.optimise = Some(OptimiseOptions::default());
        let text = serde_json::to_string(&p).unwrap();
        for name in ["\"optimize\"", "\"normalize_y\"", "\"standardize_x\""] {
            assert!(text.contains(name), "{name} in {text}");
        }
        let back: GpParams = serde_json::from_str(&text).unwrap();
        assert_eq!(back, p);
        let british = text
            .replace("optimize", "optimise")
            .replace("normalize_y", "normalise_y")
            .replace("standardize_x", "standardise_x");
        assert_eq!(serde_json::from_str::<GpParams>(&british).unwrap(), p);
    }

    #[test]
    fn box_lbfgs_finds_rosenbrock_minimum_and_respects_bounds() {
        let rosen = |x: &[f64]| {
            let (a, b) = (x[0], x[1]);
            let f = (1.0 - a).powi(2) + 100.0 * (b - a * a).powi(2);
            let g = vec![
                -2.0 * (1.0 - a) - 400.0 * a * (b - a * a),
                200.0 * (b - a * a),
            ];
            Some((f, g))
        };
        let (f, x) = minimise_box(&rosen, &[-1.2, 1.0], &[-5.0, -5.0], &[5.0, 5.0], 500).unwrap();
        assert!(f < 1e-10, "f = {f}, x = {x:?}");
        assert!((x[0] - 1.0).abs() < 1e-4 && (x[1] - 1.0).abs() < 1e-4);
        // With the optimum outside the box the solution sits on the bound.
        let (_, x) = minimise_box(&rosen, &[-1.2, 0.5], &[-5.0, -5.0], &[0.5, 5.0], 500).unwrap();
        assert!((x[0] - 0.5).abs() < 1e-9, "{x:?}");
        assert!((x[1] - 0.25).abs() < 1e-3, "{x:?}");
    }
}
