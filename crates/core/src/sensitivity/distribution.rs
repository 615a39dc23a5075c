//! Input distributions of uncertain factors, sampled by inverse CDF.
//!
//! Every design in this module (Sobol/Saltelli, Morris) is built in the unit
//! hypercube and mapped onto the factors through the quantile function
//! `x = F⁻¹(u)`. Inverse-CDF mapping keeps the low-discrepancy structure of a
//! quasi-random design, which a rejection or Box–Muller sampler would destroy.
//!
//! The standard normal CDF and its inverse: Φ(z) = ½·erfc(−z/√2) with
//! `libm::erfc` (the FreeBSD msun port, under 1 ulp; statrs 0.19's `erfc` is
//! off by ~1e-11 relative), and Φ⁻¹(p) = −√2·erfc⁻¹(2p) with
//! `statrs::function::erf::erfc_inv`.

use libm::erfc;
use serde::{Deserialize, Serialize};
use statrs::function::erf::erfc_inv;

/// Probability distribution of one factor. Values are in the factor's own SI
/// unit; the parameters carry that unit unless stated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Distribution {
    /// Uniform on [low, high].
    Uniform {
        /// Lower bound.
        low: f64,
        /// Upper bound.
        high: f64,
    },
    /// Normal with mean and standard deviation `sd` (> 0), unbounded.
    Normal {
        /// Mean.
        mean: f64,
        /// Standard deviation.
        sd: f64,
    },
    /// Normal(mean, sd) restricted to [low, high] and renormalised.
    TruncatedNormal {
        /// Mean of the untruncated normal.
        mean: f64,
        /// Standard deviation of the untruncated normal.
        sd: f64,
        /// Lower truncation bound.
        low: f64,
        /// Upper truncation bound.
        high: f64,
    },
    /// ln X ~ Normal(mu_ln, sigma_ln); `mu_ln` is the log of the median,
    /// `sigma_ln` (dimensionless, > 0) the standard deviation of ln X.
    LogNormal {
        /// ln of the median.
        mu_ln: f64,
        /// Standard deviation of ln X.
        sigma_ln: f64,
    },
    /// Triangular on [low, high] with peak at `mode`.
    Triangular {
        /// Lower bound.
        low: f64,
        /// Peak.
        mode: f64,
        /// Upper bound.
        high: f64,
    },
}

/// One thing wrong with a distribution's parameters, relative to the
/// distribution (the caller prefixes the field path).
#[derive(Debug, Clone, PartialEq)]
pub struct ParameterProblem {
    /// Field of the distribution that is wrong (`sd`, `low`, …).
    pub field: &'static str,
    /// What a valid value looks like.
    pub expected: String,
    /// What was there.
    pub found: String,
}

/// Standard normal CDF.
pub fn standard_normal_cdf(z: f64) -> f64 {
    0.5 * erfc(-z / std::f64::consts::SQRT_2)
}

/// Standard normal quantile, p in (0, 1); ±∞ at the ends.
pub fn standard_normal_quantile(p: f64) -> f64 {
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    -std::f64::consts::SQRT_2 * erfc_inv(2.0 * p)
}

impl Distribution {
    /// Log-normal with the given arithmetic mean and standard deviation
    /// (both > 0, in the factor's unit), the usual way a lot spread is quoted.
    pub fn lognormal_from_mean_sd(mean: f64, sd: f64) -> Distribution {
        let sigma2 = (1.0 + (sd / mean).powi(2)).ln();
        Distribution::LogNormal {
            mu_ln: mean.ln() - 0.5 * sigma2,
            sigma_ln: sigma2.sqrt(),
        }
    }

    /// Every problem with the parameters (empty when valid).
    pub fn problems(&self) -> Vec<ParameterProblem> {
        let mut out = Vec::new();
        let mut finite = |field: &'static str, v: f64| {
            if !v.is_finite() {
                out.push(ParameterProblem {
                    field,
                    expected: "a finite number".into(),
                    found: format!("{v}"),
                });
            }
        };
        match *self {
            Distribution::Uniform { low, high } => {
                finite("low", low);
                finite("high", high);
            }
            Distribution::Normal { mean, sd } => {
                finite("mean", mean);
                finite("sd", sd);
            }
            Distribution::TruncatedNormal {
                mean,
                sd,
                low,
                high,
            } => {
                finite("mean", mean);
                finite("sd", sd);
                // Infinite truncation bounds are allowed (one-sided truncation).
                for (f, v) in [("low", low), ("high", high)] {
                    if v.is_nan() {
                        out.push(ParameterProblem {
                            field: f,
                            expected: "a number or ±inf".into(),
                            found: "NaN".into(),
                        });
                    }
                }
            }
            Distribution::LogNormal { mu_ln, sigma_ln } => {
                finite("mu_ln", mu_ln);
                finite("sigma_ln", sigma_ln);
            }
            Distribution::Triangular { low, mode, high } => {
                finite("low", low);
                finite("mode", mode);
                finite("high", high);
            }
        }
        if !out.is_empty() {
            return out;
        }
        let positive = |field: &'static str, v: f64, out: &mut Vec<ParameterProblem>| {
            if v <= 0.0 {
                out.push(ParameterProblem {
                    field,
                    expected: "> 0".into(),
                    found: format!("{v}"),
                });
            }
        };
        match *self {
            Distribution::Uniform { low, high } => {
                if high <= low {
                    out.push(ParameterProblem {
                        field: "high",
                        expected: format!("> low ({low})"),
                        found: format!("{high}"),
                    });
                }
            }
            Distribution::Normal { sd, .. } => positive("sd", sd, &mut out),
            Distribution::TruncatedNormal {
                mean,
                sd,
                low,
                high,
            } => {
                positive("sd", sd, &mut out);
                if high <= low {
                    out.push(ParameterProblem {
                        field: "high",
                        expected: format!("> low ({low})"),
                        found: format!("{high}"),
                    });
                } else if sd > 0.0 && self.truncated_mass(mean, sd, low, high) < 1e-12 {
                    out.push(ParameterProblem {
                        field: "low",
                        expected: format!(
                            "a window [low, high] holding some probability of Normal({mean}, {sd})"
                        ),
                        found: format!("[{low}, {high}], holding less than 1e-12 of it"),
                    });
                }
            }
            Distribution::LogNormal { sigma_ln, .. } => positive("sigma_ln", sigma_ln, &mut out),
            Distribution::Triangular { low, mode, high } => {
                if high <= low {
                    out.push(ParameterProblem {
                        field: "high",
                        expected: format!("> low ({low})"),
                        found: format!("{high}"),
                    });
                } else if mode < low || mode > high {
                    out.push(ParameterProblem {
                        field: "mode",
                        expected: format!("within [low, high] = [{low}, {high}]"),
                        found: format!("{mode}"),
                    });
                }
            }
        }
        out
    }

    fn truncated_mass(&self, mean: f64, sd: f64, low: f64, high: f64) -> f64 {
        let (a, b) = ((low - mean) / sd, (high - mean) / sd);
        // Upper-tail windows are measured on the mirrored side, where the
        // CDF is accurate (Φ(b) − Φ(a) cancels catastrophically near 1).
        if a > 0.0 {
            standard_normal_cdf(-a) - standard_normal_cdf(-b)
        } else {
            standard_normal_cdf(b) - standard_normal_cdf(a)
        }
    }

    /// The quantile function F⁻¹(p). `p` is clamped into [0, 1]; at 0 and 1
    /// it returns the support bounds, which are infinite for unbounded tails.
    pub fn quantile(&self, p: f64) -> f64 {
        let p = p.clamp(0.0, 1.0);
        match *self {
            Distribution::Uniform { low, high } => low + p * (high - low),
            Distribution::Normal { mean, sd } => mean + sd * standard_normal_quantile(p),
            Distribution::TruncatedNormal {
                mean,
                sd,
                low,
                high,
            } => {
                let (a, b) = ((low - mean) / sd, (high - mean) / sd);
                let z = if a > 0.0 {
                    // Mirror: X' = −X has window [−b, −a] in the lower tail.
                    let (fa, fb) = (standard_normal_cdf(-b), standard_normal_cdf(-a));
                    -standard_normal_quantile(fa + (1.0 - p) * (fb - fa))
                } else {
                    let (fa, fb) = (standard_normal_cdf(a), standard_normal_cdf(b));
                    standard_normal_quantile(fa + p * (fb - fa))
                };
                // Rounding can step a hair outside the window.
                (mean + sd * z).clamp(low, high)
            }
            Distribution::LogNormal { mu_ln, sigma_ln } => {
                (mu_ln + sigma_ln * standard_normal_quantile(p)).exp()
            }
            Distribution::Triangular { low, mode, high } => {
                let width = high - low;
                let split = (mode - low) / width;
                if p < split {
                    low + (p * width * (mode - low)).sqrt()
                } else {
                    high - ((1.0 - p) * width * (high - mode)).sqrt()
                }
            }
        }
    }

    /// Whether the lower and upper ends of the support are finite.
    pub fn finite_support(&self) -> (bool, bool) {
        match *self {
            Distribution::Uniform { .. } | Distribution::Triangular { .. } => (true, true),
            Distribution::Normal { .. } => (false, false),
            Distribution::TruncatedNormal { low, high, .. } => (low.is_finite(), high.is_finite()),
            Distribution::LogNormal { .. } => (true, false),
        }
    }

    /// Mean of the distribution.
    pub fn mean(&self) -> f64 {
        match *self {
            Distribution::Uniform { low, high } => 0.5 * (low + high),
            Distribution::Normal { mean, .. } => mean,
            Distribution::TruncatedNormal {
                mean,
                sd,
                low,
                high,
            } => {
                let (a, b) = ((low - mean) / sd, (high - mean) / sd);
                mean + sd * (phi(a) - phi(b)) / self.truncated_mass(mean, sd, low, high)
            }
            Distribution::LogNormal { mu_ln, sigma_ln } => (mu_ln + 0.5 * sigma_ln.powi(2)).exp(),
            Distribution::Triangular { low, mode, high } => (low + mode + high) / 3.0,
        }
    }

    /// Variance of the distribution.
    pub fn variance(&self) -> f64 {
        match *self {
            Distribution::Uniform { low, high } => (high - low).powi(2) / 12.0,
            Distribution::Normal { sd, .. } => sd * sd,
            Distribution::TruncatedNormal {
                mean,
                sd,
                low,
                high,
            } => {
                let (a, b) = ((low - mean) / sd, (high - mean) / sd);
                let z = self.truncated_mass(mean, sd, low, high);
                // a·φ(a) is 0 at a = ±∞ (the product's limit), not NaN.
                let aphi = |x: f64| if x.is_finite() { x * phi(x) } else { 0.0 };
                let r = (phi(a) - phi(b)) / z;
                sd * sd * (1.0 + (aphi(a) - aphi(b)) / z - r * r)
            }
            Distribution::LogNormal { mu_ln, sigma_ln } => {
                let s2 = sigma_ln * sigma_ln;
                (s2.exp() - 1.0) * (2.0 * mu_ln + s2).exp()
            }
            Distribution::Triangular { low, mode, high } => {
                (low * low + mode * mode + high * high - low * mode - low * high - mode * high)
                    / 18.0
            }
        }
    }
}

/// Standard normal density (0 at ±∞).
fn phi(z: f64) -> f64 {
    if z.is_infinite() {
        return 0.0;
    }
    (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * (1.0 + b.abs())
    }

    #[test]
    fn normal_quantile_matches_known_values() {
        // Φ⁻¹(0.975) = 1.959963984540054, Φ⁻¹(0.5) = 0.
        assert!(close(
            standard_normal_quantile(0.975),
            1.959963984540054,
            1e-13
        ));
        assert!(standard_normal_quantile(0.5).abs() < 1e-15);
        let d = Distribution::Normal { mean: 2.0, sd: 3.0 };
        assert!(close(
            d.quantile(0.025),
            2.0 - 3.0 * 1.959963984540054,
            1e-12
        ));
    }

    #[test]
    fn quantile_inverts_cdf_for_every_kind() {
        // Uniform and triangular have closed-form CDFs to check against.
        let tri = Distribution::Triangular {
            low: 1.0,
            mode: 2.0,
            high: 5.0,
        };
        let tri_cdf = |x: f64| {
            if x < 2.0 {
                (x - 1.0).powi(2) / (4.0 * 1.0)
            } else {
                1.0 - (5.0 - x).powi(2) / (4.0 * 3.0)
            }
        };
        for p in [0.01, 0.1, 0.25, 0.5, 0.9, 0.999] {
            assert!(close(tri_cdf(tri.quantile(p)), p, 1e-12));
            let ln = Distribution::LogNormal {
                mu_ln: 1.0,
                sigma_ln: 0.5,
            };
            let z = (ln.quantile(p).ln() - 1.0) / 0.5;
            assert!(close(standard_normal_cdf(z), p, 1e-13));
        }
    }

    #[test]
    fn truncated_normal_stays_in_window_and_inverts_cdf() {
        // Window entirely in the upper tail exercises the mirrored branch.
        for (low, high) in [(-1.0, 2.0), (3.0, 4.0), (f64::NEG_INFINITY, -2.5)] {
            let d = Distribution::TruncatedNormal {
                mean: 0.0,
                sd: 1.0,
                low,
                high,
            };
            assert!(d.problems().is_empty());
            let (fa, fb) = (standard_normal_cdf(low), standard_normal_cdf(high));
            for p in [0.0, 0.05, 0.5, 0.95, 1.0] {
                let x = d.quantile(p);
                assert!(x >= low && x <= high, "{x} outside [{low}, {high}]");
                let p_back = (standard_normal_cdf(x) - fa) / (fb - fa);
                assert!((p_back - p).abs() < 1e-9, "p={p} back={p_back}");
            }
        }
    }

    #[test]
    fn moments_match_closed_forms() {
        let d = Distribution::lognormal_from_mean_sd(10.0, 2.0);
        assert!(close(d.mean(), 10.0, 1e-12));
        assert!(close(d.variance(), 4.0, 1e-12));
        // Symmetric truncation keeps the mean; variance of N(0,1) on [-1, 1]
        // is 1 − 2φ(1)/(2Φ(1) − 1) = 0.2911135...
        let t = Distribution::TruncatedNormal {
            mean: 0.0,
            sd: 1.0,
            low: -1.0,
            high: 1.0,
        };
        assert!(t.mean().abs() < 1e-15);
        assert!(close(t.variance(), 0.291_125_094_772_793, 1e-12));
    }

    #[test]
    fn bad_parameters_are_named() {
        let bad = Distribution::Triangular {
            low: 0.0,
            mode: 3.0,
            high: 2.0,
        };
        let p = bad.problems();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].field, "mode");
        let bad = Distribution::Normal {
            mean: 0.0,
            sd: -1.0,
        };
        assert_eq!(bad.problems()[0].field, "sd");
        let far = Distribution::TruncatedNormal {
            mean: 0.0,
            sd: 1.0,
            low: 40.0,
            high: 41.0,
        };
        assert_eq!(far.problems()[0].field, "low");
    }
}
