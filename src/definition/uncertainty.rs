//! Declared uncertainty of parameters, initial conditions, set-points and
//! raw materials, sampled by Monte Carlo.
//!
//! ```toml
//! [[uncertainty]]
//! parameter = "model.mu_max"      # an address, see `definition::address`
//! distribution = "lognormal"      # normal | lognormal | uniform | triangular
//! cv_pct = 5.0                    # normal/lognormal: cv_pct or sd
//! ```
//! Values are in the user unit of the address (the unit of the model file's
//! parameter, or the unit suffix of a species key). `normal` and `lognormal`
//! are centred on the nominal value unless `mean` (normal) or `median`
//! (lognormal) is given; `triangular` uses the nominal value as mode unless
//! `mode` is given. Normal samples are truncated at zero for quantities that
//! cannot be negative (resampled, not clipped).

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct UncertaintyFile {
    pub parameter: String,
    pub distribution: DistributionKind,
    pub mean: Option<f64>,
    pub median: Option<f64>,
    pub sd: Option<f64>,
    pub cv_pct: Option<f64>,
    pub low: Option<f64>,
    pub high: Option<f64>,
    pub mode: Option<f64>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DistributionKind {
    Normal,
    Lognormal,
    Uniform,
    Triangular,
}

/// A fully specified distribution in user units.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub enum Distribution {
    /// Truncated to ≥ 0 when `non_negative`.
    Normal {
        mean: f64,
        sd: f64,
        non_negative: bool,
    },
    /// ln X ~ N(ln median, sigma²).
    LogNormal {
        median: f64,
        sigma: f64,
    },
    Uniform {
        low: f64,
        high: f64,
    },
    Triangular {
        low: f64,
        mode: f64,
        high: f64,
    },
}

impl UncertaintyFile {
    /// Resolves defaults against the nominal value; the error says what is
    /// missing or inconsistent, in the words of the file.
    pub fn resolve(&self, nominal: f64) -> Result<Distribution, (String, String, String)> {
        let bad = |f: &str, e: &str, found: String| Err((f.to_string(), e.to_string(), found));
        let spread = |centre: f64| -> Option<f64> {
            match (self.sd, self.cv_pct) {
                (Some(sd), None) => Some(sd),
                (None, Some(cv)) => Some(cv / 100.0 * centre.abs()),
                _ => None,
            }
        };
        match self.distribution {
            DistributionKind::Normal => {
                let mean = self.mean.unwrap_or(nominal);
                match spread(mean) {
                    Some(sd) if sd >= 0.0 && sd.is_finite() => Ok(Distribution::Normal {
                        mean,
                        sd,
                        non_negative: nominal >= 0.0,
                    }),
                    Some(sd) => bad("sd", "a non-negative standard deviation", format!("{sd}")),
                    None => bad("sd", "exactly one of sd, cv_pct", "neither or both".into()),
                }
            }
            DistributionKind::Lognormal => {
                let median = self.median.unwrap_or(nominal);
                if median <= 0.0 {
                    return bad(
                        "median",
                        "a positive median (lognormal)",
                        format!("{median}"),
                    );
                }
                let cv = match (self.sd, self.cv_pct) {
                    (None, Some(cv)) => cv / 100.0,
                    (Some(sd), None) => sd / median,
                    _ => {
                        return bad(
                            "cv_pct",
                            "exactly one of sd, cv_pct",
                            "neither or both".into(),
                        );
                    }
                };
                if !(cv >= 0.0 && cv.is_finite()) {
                    return bad(
                        "cv_pct",
                        "a non-negative coefficient of variation",
                        format!("{cv}"),
                    );
                }
                // CV of a lognormal: sqrt(exp(s²) − 1).
                Ok(Distribution::LogNormal {
                    median,
                    sigma: (1.0 + cv * cv).ln().sqrt(),
                })
            }
            DistributionKind::Uniform => match (self.low, self.high) {
                (Some(low), Some(high)) if low < high => Ok(Distribution::Uniform { low, high }),
                (Some(low), Some(high)) => bad(
                    "high",
                    &format!("a value above low = {low}"),
                    format!("{high}"),
                ),
                _ => bad("low", "both low and high", "one or none".into()),
            },
            DistributionKind::Triangular => {
                let mode = self.mode.unwrap_or(nominal);
                match (self.low, self.high) {
                    (Some(low), Some(high)) if low <= mode && mode <= high && low < high => {
                        Ok(Distribution::Triangular { low, mode, high })
                    }
                    (Some(low), Some(high)) => bad(
                        "mode",
                        &format!("low ≤ mode ≤ high ({low} … {high})"),
                        format!("{mode}"),
                    ),
                    _ => bad("low", "both low and high", "one or none".into()),
                }
            }
        }
    }
}

impl Distribution {
    /// Inverse CDF at u ∈ (0, 1): lets plain and quasi-random designs share code.
    pub fn quantile(&self, u: f64) -> f64 {
        let u = u.clamp(1e-12, 1.0 - 1e-12);
        match *self {
            Distribution::Normal {
                mean,
                sd,
                non_negative,
            } => {
                if non_negative && sd > 0.0 {
                    // Truncate at 0 by mapping u into [Φ(−mean/sd), 1).
                    let p0 = normal_cdf(-mean / sd);
                    mean + sd * normal_quantile(p0 + u * (1.0 - p0))
                } else {
                    mean + sd * normal_quantile(u)
                }
            }
            Distribution::LogNormal { median, sigma } => {
                median * (sigma * normal_quantile(u)).exp()
            }
            Distribution::Uniform { low, high } => low + u * (high - low),
            Distribution::Triangular { low, mode, high } => {
                let fc = (mode - low) / (high - low);
                if u < fc {
                    low + ((high - low) * (mode - low) * u).sqrt()
                } else {
                    high - ((high - low) * (high - mode) * (1.0 - u)).sqrt()
                }
            }
        }
    }
}

/// Standard normal CDF via erfc (Abramowitz–Stegun 7.1.26 is too coarse for
/// truncation; this uses the complementary error function series of
/// W. J. Cody as implemented by `erfc` below).
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * erfc(-x / std::f64::consts::SQRT_2)
}

/// erfc with relative error < 1.2e-7 (Numerical Recipes, 3rd ed., erfcc
/// Chebyshev fit), adequate for sampling.
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 2.0 / (2.0 + z);
    let ty = 4.0 * t - 2.0;
    const COF: [f64; 28] = [
        -1.3026537197817094,
        6.4196979235649026e-1,
        1.9476473204185836e-2,
        -9.561514786808631e-3,
        -9.46595344482036e-4,
        3.66839497852761e-4,
        4.2523324806907e-5,
        -2.0278578112534e-5,
        -1.624290004647e-6,
        1.303655835580e-6,
        1.5626441722e-8,
        -8.5238095915e-8,
        6.529054439e-9,
        5.059343495e-9,
        -9.91364156e-10,
        -2.27365122e-10,
        9.6467911e-11,
        2.394038e-12,
        -6.886027e-12,
        8.94487e-13,
        3.13092e-13,
        -1.12708e-13,
        3.81e-16,
        7.106e-15,
        -1.523e-15,
        -9.4e-17,
        1.21e-16,
        -2.8e-17,
    ];
    let (mut d, mut dd) = (0.0, 0.0);
    for &c in COF[1..].iter().rev() {
        let tmp = d;
        d = ty * d - dd + c;
        dd = tmp;
    }
    let r = t * (-z * z + 0.5 * (COF[0] + ty * d) - dd).exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

/// Standard normal quantile (P. J. Acklam's rational approximation, relative
/// error < 1.15e-9, refined by one Halley step).
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.383577518672690e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e1,
        1.615858368580409e2,
        -1.556989798598866e2,
        6.680131188771972e1,
        -1.328068155288572e1,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-3,
        3.224671290700398e-1,
        2.445134137142996,
        3.754408661907416,
    ];
    let p_low = 0.02425;
    let x = if p < p_low {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - p_low {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        let q = (-2.0 * (1.0 - p).ln()).sqrt();
        -(((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    // One Halley refinement step.
    let e = normal_cdf(x) - p;
    let u = e * (2.0 * std::f64::consts::PI).sqrt() * (x * x / 2.0).exp();
    x - u / (1.0 + x * u / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_and_cdf_are_inverse() {
        for &p in &[1e-6, 0.01, 0.2, 0.5, 0.8, 0.99, 1.0 - 1e-6] {
            let x = normal_quantile(p);
            assert!((normal_cdf(x) - p).abs() < 1e-7 * p.max(1e-3), "{p}");
        }
        assert!((normal_quantile(0.975) - 1.959_963_985).abs() < 1e-6);
    }

    #[test]
    fn truncated_normal_never_negative() {
        let d = Distribution::Normal {
            mean: 1.0,
            sd: 2.0,
            non_negative: true,
        };
        for i in 1..1000 {
            assert!(d.quantile(i as f64 / 1000.0) >= 0.0);
        }
    }

    #[test]
    fn lognormal_cv_is_respected() {
        let f = UncertaintyFile {
            parameter: "x".into(),
            distribution: DistributionKind::Lognormal,
            mean: None,
            median: None,
            sd: None,
            cv_pct: Some(10.0),
            low: None,
            high: None,
            mode: None,
        };
        let Distribution::LogNormal { median, sigma } = f.resolve(2.0).unwrap() else {
            panic!()
        };
        assert_eq!(median, 2.0);
        assert!(((sigma * sigma).exp() - 1.0 - 0.01).abs() < 1e-12);
    }
}
