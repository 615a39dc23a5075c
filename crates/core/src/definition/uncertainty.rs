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

/// Sampling uses the one distribution implementation of the crate (shared
/// with the sensitivity analysis): inverse CDFs from statrs/libm.
pub use crate::sensitivity::Distribution;

/// Largest coefficient of variation accepted, in percent. A spread
/// larger than twice the value describes no measured parameter or raw
/// material, and far larger ones overflow the distributions (a lognormal's
/// sigma_ln = sqrt(ln(1 + cv^2)) is infinite for cv_pct = 1e308).
pub const MAX_CV_PCT: f64 = 200.0;

/// An `[[uncertainty]]` entry of a process file: the distribution of one value, in the unit that value has in its file.
#[derive(Debug, Clone, Deserialize)]
pub struct UncertaintyFile {
    /// Address of the uncertain value (`model.mu_max`, `initial.glucose_g_per_l`).
    pub parameter: String,
    /// Distribution family.
    pub distribution: DistributionKind,
    /// Mean (normal; default: the nominal value).
    pub mean: Option<f64>,
    /// Median (lognormal; default: the nominal value).
    pub median: Option<f64>,
    /// Standard deviation (normal).
    pub sd: Option<f64>,
    /// Coefficient of variation, % (normal or lognormal).
    pub cv_pct: Option<f64>,
    /// Lower bound (uniform, triangular).
    pub low: Option<f64>,
    /// Upper bound (uniform, triangular).
    pub high: Option<f64>,
    /// Mode (triangular; default: the nominal value).
    pub mode: Option<f64>,
}

/// Distribution family of an uncertainty entry.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DistributionKind {
    /// Normal: `mean` with `sd` or `cv_pct`.
    Normal,
    /// Lognormal: `median` with `cv_pct`.
    Lognormal,
    /// Uniform on [`low`, `high`].
    Uniform,
    /// Triangular on [`low`, `high`] with `mode`.
    Triangular,
}

impl UncertaintyFile {
    /// The checks that need no nominal value (so `validate` can make them
    /// on a lots file alone): every number given is finite, and `cv_pct`
    /// lies in (0, [`MAX_CV_PCT`]].
    pub fn check_numbers(&self) -> Result<(), (String, String, String)> {
        let bad = |f: &str, e: &str, found: String| Err((f.to_string(), e.to_string(), found));
        // Every number given must be finite (a `nan` or `inf` in TOML is
        // a float like any other), whatever route the entry came by: a
        // process file, a lots file or a study.
        for (key, v) in [
            ("mean", self.mean),
            ("median", self.median),
            ("sd", self.sd),
            ("cv_pct", self.cv_pct),
            ("low", self.low),
            ("high", self.high),
            ("mode", self.mode),
        ] {
            if let Some(v) = v.filter(|v| !v.is_finite()) {
                return bad(key, "a finite number", format!("{v}"));
            }
        }
        if let Some(cv) = self.cv_pct.filter(|cv| !(*cv > 0.0 && *cv <= MAX_CV_PCT)) {
            return bad(
                "cv_pct",
                &format!("a coefficient of variation in (0, {MAX_CV_PCT}] %"),
                format!("{cv}"),
            );
        }
        Ok(())
    }

    /// Resolves defaults against the nominal value; the error says what is
    /// missing or inconsistent, in the words of the file.
    pub fn resolve(&self, nominal: f64) -> Result<Distribution, (String, String, String)> {
        let bad = |f: &str, e: &str, found: String| Err((f.to_string(), e.to_string(), found));
        self.check_numbers()?;
        if !nominal.is_finite() {
            return bad(
                "parameter",
                "an address whose nominal value is a finite number",
                format!("{nominal}"),
            );
        }
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
                    // Quantities that cannot be negative are truncated at zero
                    // (renormalised, not clipped).
                    Some(sd) if sd > 0.0 && sd.is_finite() => Ok(if nominal >= 0.0 {
                        Distribution::TruncatedNormal {
                            mean,
                            sd,
                            low: 0.0,
                            high: f64::INFINITY,
                        }
                    } else {
                        Distribution::Normal { mean, sd }
                    }),
                    Some(sd) => bad("sd", "a positive standard deviation", format!("{sd}")),
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
                if !(cv > 0.0 && cv.is_finite()) {
                    return bad(
                        "cv_pct",
                        "a positive coefficient of variation",
                        format!("{cv}"),
                    );
                }
                // CV of a lognormal: sqrt(exp(s²) − 1).
                Ok(Distribution::LogNormal {
                    mu_ln: median.ln(),
                    sigma_ln: (1.0 + cv * cv).ln().sqrt(),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn file(kind: DistributionKind) -> UncertaintyFile {
        UncertaintyFile {
            parameter: "x".into(),
            distribution: kind,
            mean: None,
            median: None,
            sd: None,
            cv_pct: None,
            low: None,
            high: None,
            mode: None,
        }
    }

    #[test]
    fn truncated_normal_never_negative() {
        let mut f = file(DistributionKind::Normal);
        f.sd = Some(2.0);
        let d = f.resolve(1.0).unwrap();
        for i in 1..1000 {
            assert!(d.quantile(i as f64 / 1000.0) >= 0.0);
        }
    }

    #[test]
    fn lognormal_cv_and_median_are_respected() {
        let mut f = file(DistributionKind::Lognormal);
        f.cv_pct = Some(10.0);
        let d = f.resolve(2.0).unwrap();
        let Distribution::LogNormal { mu_ln, sigma_ln } = d else {
            panic!("{d:?}")
        };
        assert!((mu_ln.exp() - 2.0).abs() < 1e-12);
        assert!(((sigma_ln * sigma_ln).exp() - 1.0 - 0.01).abs() < 1e-12);
        assert!((d.quantile(0.5) - 2.0).abs() < 1e-9);
    }

    #[test]
    fn inconsistent_declarations_are_rejected() {
        let mut f = file(DistributionKind::Uniform);
        f.low = Some(2.0);
        f.high = Some(1.0);
        assert_eq!(f.resolve(1.5).unwrap_err().0, "high");
        let f = file(DistributionKind::Normal);
        assert_eq!(f.resolve(1.0).unwrap_err().0, "sd");
    }
}
