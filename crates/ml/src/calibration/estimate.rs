//! The estimate and what the data say about it: maximum likelihood with σ
//! declared or estimated, Fisher-information and profile-likelihood 95 %
//! intervals, correlations, and a verdict per parameter (`docs/fit.md`).
//!
//! * **Fisher**: I = JᵀJ of the standardised residuals at θ̂, σ at its
//!   estimate scaled by n/(n − k) (degrees of freedom); Cov θ̂ = I⁻¹ on the
//!   identifiable subspace (eigenvalues above 1e-10 · the largest); a
//!   parameter with weight in a null direction has an infinite SE. The
//!   interval is θ̂ ± 1.96 SE in θ, mapped back (asymmetric for ln p).
//! * **Profile**: with σ held at its estimate, PL(θ_j) = min over the other
//!   θ of Σ r²; the interval is where PL − PL(θ̂) ≤ χ²₁(0.95) = 3.841, found
//!   by stepping out from θ̂ (re-fitting the others at each step, warm
//!   started) and interpolating the crossing. A side that does not cross
//!   before the parameter's bound is open.
//! * **Verdict**: *well determined* when both profile sides close; else
//!   *practically non-identifiable* (Raue et al., Bioinformatics 25:1923,
//!   2009), with the side that stays open as the reason.

use nalgebra::DMatrix;
use serde::Serialize;

use super::problem::Problem;
use biotwin_core::fit::lm::{Control, LmOptions, levenberg_marquardt, multistart};

/// χ²₁ 95 % quantile.
pub const CHI2_95: f64 = 3.841_458_820_694_124;
/// Standard normal 97.5 % quantile.
pub const Z_975: f64 = 1.959_963_984_540_054;

/// Settings of the estimator.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Latin-hypercube starts besides the process's values.
    pub extra_starts: usize,
    /// Seed of the Latin-hypercube starts.
    pub seed: u64,
    /// Declared σ per observed variable (None: estimated).
    pub declared_sd: Vec<Option<f64>>,
    /// Most Levenberg–Marquardt iterations per run.
    pub max_iter: usize,
    /// Compute profile-likelihood intervals.
    pub profiles: bool,
    /// Half-width (in θ) of the box the extra starts are drawn from, around
    /// the starting values, within the bounds.
    pub start_box: f64,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            extra_starts: 0,
            seed: 1,
            declared_sd: Vec::new(),
            max_iter: 50,
            profiles: true,
            start_box: 1.0,
        }
    }
}

/// One parameter's estimate.
#[derive(Debug, Clone, Serialize)]
pub struct ParameterEstimate {
    /// The parameter's address (`model.mu_max`, ...).
    pub address: String,
    /// Its user unit (that of `initial` and `estimate`).
    pub unit: String,
    /// How it is estimated (θ = ln p or θ = p).
    pub transform: super::problem::Transform,
    /// Starting value, user unit (the process's value).
    pub initial: f64,
    /// Maximum-likelihood estimate, user unit.
    pub estimate: f64,
    /// SE of θ (of ln p for `ln`); null when infinite.
    pub se_theta: Option<f64>,
    /// Fisher 95 % interval (user unit); null ends: unbounded.
    pub fisher_ci: [Option<f64>; 2],
    /// Profile-likelihood 95 % interval; null ends: open within the bounds.
    pub profile_ci: Option<[Option<f64>; 2]>,
    /// `well determined` or `practically non-identifiable` (module docs).
    pub verdict: String,
    /// Why, for people (which profile side stays open, correlations).
    pub reason: String,
    /// What would determine it better (`none needed` when well determined).
    pub suggestion: String,
}

/// The fit.
#[derive(Debug, Clone)]
pub struct Estimate {
    /// Estimated θ, one per parameter.
    pub theta: Vec<f64>,
    /// σ per observed variable, dataset SI unit (declared or estimated).
    pub sd: Vec<f64>,
    /// Whether each σ was estimated (not declared, and the variable has
    /// observations).
    pub sd_estimated: Vec<bool>,
    /// Per-parameter estimates, intervals and verdicts.
    pub parameters: Vec<ParameterEstimate>,
    /// Covariance of θ (null-space entries infinite).
    pub covariance: DMatrix<f64>,
    /// Correlation matrix of θ.
    pub correlation: DMatrix<f64>,
    /// Log-likelihood at the estimate.
    pub log_likelihood: f64,
    /// Observations fitted.
    pub n_observations: usize,
    /// Estimated quantities: the parameters plus the estimated σs.
    pub n_estimated: usize,
    /// Akaike information criterion, 2k − 2 ln L.
    pub aic: f64,
    /// Bayesian information criterion, k ln n − 2 ln L.
    pub bic: f64,
    /// Levenberg–Marquardt iterations, all runs together.
    pub iterations: usize,
    /// Whether the last run met its convergence test.
    pub converged: bool,
    /// End cost of each start (None: failed).
    pub start_costs: Vec<Option<f64>>,
    /// Profile points per parameter: (θ_j, ΔΣr²).
    pub profiles: Vec<Vec<(f64, f64)>>,
}

fn lm_opts(p: &Problem, max_iter: usize) -> LmOptions {
    LmOptions {
        max_iter,
        rel_tol: 1e-9,
        min_step: 1e-8,
        bounds: Some(p.parameters.iter().map(|q| q.theta_bounds()).collect()),
        ..LmOptions::default()
    }
}

/// σ_v² = SSR_v / n_v for estimated variables.
fn update_sd(p: &mut Problem, theta: &[f64], s: &Settings) -> Result<f64, super::CalibrationError> {
    let (ss, n) = p.ssr_by_variable(theta)?;
    let mut change: f64 = 0.0;
    for v in 0..p.sd.len() {
        if s.declared_sd.get(v).copied().flatten().is_some() || n[v] == 0 {
            continue;
        }
        let new = (ss[v] / n[v] as f64).sqrt().max(1e-300);
        change = change.max((new / p.sd[v] - 1.0).abs());
        p.sd[v] = new;
    }
    Ok(change)
}

/// Fits `p` (whose `sd` holds the declared values or starting guesses).
pub fn estimate(p: &mut Problem, s: &Settings) -> Result<Estimate, super::CalibrationError> {
    let np = p.n_params();
    let theta0: Vec<f64> = p
        .parameters
        .iter()
        .map(|q| q.transform.to_theta(q.initial))
        .collect();
    let opts = lm_opts(p, s.max_iter);
    // Extra starts: a Latin hypercube in ± start_box around θ0, within the
    // bounds; the search itself keeps the bounds.
    let bounds = opts.bounds.clone().unwrap_or_default();
    let start_box: Vec<(f64, f64)> = theta0
        .iter()
        .zip(&bounds)
        .map(|(t, (lo, hi))| ((t - s.start_box).max(*lo), (t + s.start_box).min(*hi)))
        .collect();
    let (first, log) = multistart(&*p, &theta0, s.extra_starts, s.seed, &start_box, &opts)?;
    let starts: Vec<Option<f64>> = log.iter().map(|l| l.cost).collect();
    let mut theta = first.theta.clone();
    let mut iterations = first.iterations;
    let mut converged = first.converged;
    // Alternate σ and θ.
    for _ in 0..8 {
        let change = update_sd(p, &theta, s)?;
        if change < 1e-3 {
            break;
        }
        let o = levenberg_marquardt(&*p, &theta, &opts, |_| Control::Continue)?;
        theta = o.theta;
        iterations += o.iterations;
        converged = o.converged;
    }
    let n = p.n_observations();
    let (ss, nv) = p.ssr_by_variable(&theta)?;
    let sd_estimated: Vec<bool> = (0..p.sd.len())
        .map(|v| s.declared_sd.get(v).copied().flatten().is_none() && nv[v] > 0)
        .collect();
    let n_estimated = np + sd_estimated.iter().filter(|e| **e).count();
    let mut ll = 0.0;
    for v in 0..p.sd.len() {
        if nv[v] == 0 {
            continue;
        }
        let s2 = p.sd[v] * p.sd[v];
        ll -= 0.5 * (nv[v] as f64 * (2.0 * std::f64::consts::PI * s2).ln() + ss[v] / s2);
    }
    let aic = 2.0 * n_estimated as f64 - 2.0 * ll;
    let bic = n_estimated as f64 * (n as f64).ln() - 2.0 * ll;

    // Fisher information with degrees-of-freedom-corrected σ.
    let dof_scale = if n > n_estimated {
        n as f64 / (n - n_estimated) as f64
    } else {
        1.0
    };
    let (_, j) = p.jacobian(&theta)?;
    let info = j.transpose() * &j / dof_scale;
    let (covariance, infinite) = pseudo_inverse(&info);
    let se: Vec<Option<f64>> = (0..np)
        .map(|a| (!infinite[a]).then(|| covariance[(a, a)].max(0.0).sqrt()))
        .collect();
    let correlation = DMatrix::from_fn(np, np, |a, b| {
        if a == b {
            1.0
        } else if infinite[a] || infinite[b] {
            f64::NAN
        } else {
            covariance[(a, b)] / (covariance[(a, a)] * covariance[(b, b)]).sqrt().max(1e-300)
        }
    });

    // Profiles, σ held.
    let mut profiles = vec![Vec::new(); np];
    let mut profile_ci = vec![None; np];
    if s.profiles {
        let c0 = 0.5 * p.residuals(&theta)?.iter().map(|x| x * x).sum::<f64>() * 2.0;
        for jx in 0..np {
            let step = se[jx].unwrap_or(1.0).clamp(1e-6, 1.0);
            let (lo_b, hi_b) = bounds[jx];
            let mut ends = [None, None];
            for (side, dir) in [(0usize, -1.0f64), (1, 1.0)] {
                let mut warm = theta.clone();
                let mut prev: (f64, f64) = (theta[jx], 0.0);
                let mut crossed = None;
                for m in [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.5, 8.0] {
                    let mut tj = theta[jx] + dir * m * step;
                    let at_bound = tj <= lo_b || tj >= hi_b;
                    tj = tj.clamp(lo_b, hi_b);
                    p.fixed = vec![(jx, tj)];
                    warm[jx] = tj;
                    let o = levenberg_marquardt(&*p, &warm, &lm_opts(p, 15), |_| Control::Continue);
                    p.fixed.clear();
                    let Ok(o) = o else { break };
                    warm = o.theta.clone();
                    warm[jx] = tj;
                    let d = 2.0 * o.cost - c0;
                    profiles[jx].push((tj, d));
                    if d >= CHI2_95 {
                        // √ΔΣr² is close to linear in θ near the optimum:
                        // interpolate the crossing in it.
                        let (a0, a1) = (prev.1.max(0.0).sqrt(), d.sqrt());
                        let w = (CHI2_95.sqrt() - a0) / (a1 - a0).max(1e-300);
                        crossed = Some(prev.0 + w.clamp(0.0, 1.0) * (tj - prev.0));
                        break;
                    }
                    prev = (tj, d);
                    if at_bound {
                        break;
                    }
                }
                ends[side] = crossed.map(|t| p.parameters[jx].transform.to_value(t));
            }
            profiles[jx].sort_by(|a, b| a.0.total_cmp(&b.0));
            profile_ci[jx] = Some(ends);
        }
    }

    // Sensitivity of each observed variable to each parameter (for the
    // suggestion): RMS of the Jacobian column over that variable's rows.
    let mut var_of_row = Vec::new();
    for b in &p.batches {
        for smp in &b.samples {
            var_of_row.push(smp.variable);
        }
    }
    let parameters = (0..np)
        .map(|a| {
            let q = &p.parameters[a];
            let est = q.transform.to_value(theta[a]);
            let fisher_ci = match se[a] {
                Some(e) => [
                    Some(q.transform.to_value(theta[a] - Z_975 * e)),
                    Some(q.transform.to_value(theta[a] + Z_975 * e)),
                ],
                None => [None, None],
            };
            let mut best_var = None;
            let mut best_s = 0.0;
            for v in 0..p.observed.len() {
                let (sum, cnt) = var_of_row
                    .iter()
                    .enumerate()
                    .filter(|(_, vv)| **vv == v)
                    .fold((0.0, 0usize), |(s2, c), (i, _)| {
                        (s2 + j[(i, a)].powi(2), c + 1)
                    });
                let rms = if cnt > 0 {
                    (sum / cnt as f64).sqrt()
                } else {
                    0.0
                };
                if rms > best_s {
                    best_s = rms;
                    best_var = Some(v);
                }
            }
            let corr_partner = (0..np)
                .filter(|&b| b != a && correlation[(a, b)].abs() > 0.95)
                .max_by(|&x, &y| {
                    correlation[(a, x)]
                        .abs()
                        .total_cmp(&correlation[(a, y)].abs())
                });
            let (verdict, reason, suggestion) = verdict(
                p,
                a,
                est,
                profile_ci[a].as_ref(),
                se[a],
                corr_partner.map(|b| (p.parameters[b].address.clone(), correlation[(a, b)])),
                best_var.map(|v| p.observed[v].variable.clone()),
            );
            ParameterEstimate {
                address: q.address.clone(),
                unit: q.unit.clone(),
                transform: q.transform,
                initial: q.initial,
                estimate: est,
                se_theta: se[a],
                fisher_ci,
                profile_ci: profile_ci[a],
                verdict,
                reason,
                suggestion,
            }
        })
        .collect();
    Ok(Estimate {
        theta,
        sd: p.sd.clone(),
        sd_estimated,
        parameters,
        covariance,
        correlation,
        log_likelihood: ll,
        n_observations: n,
        n_estimated,
        aic,
        bic,
        iterations,
        converged,
        start_costs: starts,
        profiles,
    })
}

/// Inverse on the well-conditioned subspace; flags parameters with weight
/// in a null direction (their variance is infinite).
fn pseudo_inverse(info: &DMatrix<f64>) -> (DMatrix<f64>, Vec<bool>) {
    let n = info.nrows();
    let e = info.clone().symmetric_eigen();
    let max = e.eigenvalues.iter().cloned().fold(0.0, f64::max);
    let tol = 1e-10 * max.max(1e-300);
    let mut cov = DMatrix::zeros(n, n);
    let mut infinite = vec![false; n];
    for i in 0..n {
        let l = e.eigenvalues[i];
        let v = e.eigenvectors.column(i);
        if l > tol {
            cov += v * v.transpose() / l;
        } else {
            for a in 0..n {
                if v[a] * v[a] > 1e-6 {
                    infinite[a] = true;
                }
            }
        }
    }
    (cov, infinite)
}

/// An experiment that would inform a parameter, by what it describes.
fn experiment_for(name: &str, most: Option<&str>) -> String {
    let n = name.to_ascii_lowercase();
    let txt = if n.contains("glc") || n.contains("starve") {
        "a batch in which glucose falls to the order of this constant (e.g. a reduced-feed batch, feeds.scale ≈ 0.3) with frequent glucose samples"
    } else if n.contains("gln") {
        "a batch in which glutamine runs out, with frequent glutamine samples"
    } else if n.contains("lac") {
        "batches reaching high lactate (high glucose feed), with lactate measured"
    } else if n.contains("amm") {
        "batches reaching high ammonium (glutamine-rich feed), with ammonium measured"
    } else if n.contains("ea_") || n.contains("t_ref") || n.contains("g_qp") {
        "batches at two or more culture temperatures (vary shifts.temperature_k)"
    } else if n.contains("ph") {
        "batches at two or more pH set-points"
    } else if n.contains("o2") || n.contains("k_do") {
        "a batch at a low dissolved-O2 set-point with DO and OUR recorded"
    } else if n.contains("gal") || n.contains("afuc") || n.contains("man5") {
        "glycan measurements during the batch (not only at harvest) over varied conditions"
    } else {
        ""
    };
    if !txt.is_empty() {
        txt.to_string()
    } else if let Some(v) = most {
        format!(
            "more frequent or more precise samples of `{v}` (the observed variable it moves most), over wider conditions"
        )
    } else {
        "measurements of a variable it affects".to_string()
    }
}

fn verdict(
    p: &Problem,
    a: usize,
    est: f64,
    profile: Option<&[Option<f64>; 2]>,
    se: Option<f64>,
    partner: Option<(String, f64)>,
    most: Option<String>,
) -> (String, String, String) {
    let q = &p.parameters[a];
    let name = q.model_name.clone().unwrap_or_else(|| q.address.clone());
    let open: Vec<&str> = match profile {
        Some(pr) => [("lower", pr[0]), ("upper", pr[1])]
            .iter()
            .filter(|(_, e)| e.is_none())
            .map(|(s, _)| *s)
            .collect(),
        // Without profiles, the Fisher SE decides: identifiable when the
        // 95 % interval is within a factor 10 (ln) or finite (identity).
        None => match (se, q.transform) {
            (None, _) => vec!["lower", "upper"],
            (Some(e), super::problem::Transform::Ln) if Z_975 * e > 10f64.ln() => {
                vec!["lower", "upper"]
            }
            _ => vec![],
        },
    };
    if open.is_empty() {
        let mut reason =
            "the profile likelihood rises above the 95 % threshold on both sides".to_string();
        if profile.is_none() {
            reason =
                "the Fisher 95 % interval is within a factor 10 (profiles not computed)".into();
        }
        if let Some((b, r)) = &partner {
            reason.push_str(&format!("; strongly correlated with {b} (r = {r:.2})"));
        }
        return ("well determined".into(), reason, "none needed".into());
    }
    let mut reason = format!(
        "the profile likelihood stays below the 95 % threshold towards the {} bound{}",
        open.join(" and "),
        if open.len() > 1 { "s" } else { "" }
    );
    if se.is_none() {
        reason.push_str("; the observed variables are (locally) insensitive to it");
    }
    if let Some((b, r)) = &partner {
        reason.push_str(&format!("; its effect is confounded with {b} (r = {r:.2})"));
    }
    let suggestion = format!(
        "fix {name} at a literature or prior value (now {est:.4} {}) and refit, or run {}",
        q.unit,
        experiment_for(&name, most.as_deref())
    );
    ("practically non-identifiable".into(), reason, suggestion)
}
