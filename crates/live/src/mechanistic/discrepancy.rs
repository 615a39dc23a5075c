//! Model discrepancy of the end-of-batch forecast (issue 16,
//! `docs/live.md`, "Model discrepancy"): what the mechanistic model gets
//! wrong about a batch that no parameter prior explains, estimated from
//! in-sample residuals and added to every ensemble member.
//!
//! For a CQA `c` forecast at fraction `f` of the planned batch time, for a
//! batch whose conditions sit at squared coded distance `q` from the
//! calibration design's centre, member `m`'s end value `v_m` becomes
//!
//! ```text
//! v_m · exp(a_c(f) + sqrt(g_c(f) · q) · ε_m),   ε_m ~ N(0, 1)
//! q = (1/K) Σ_k u_k²,   u_k = 2 (x_k − low_k)/(high_k − low_k) − 1
//! ```
//!
//! `a_c(f)` is the mean log error of the model's forecast on the
//! calibration batches (a bias: the plant's unmodelled effects only lower
//! growth, productivity and survival), `g_c(f) · q` the variance of a
//! random linear discrepancy in the coded conditions (`δ = Σ w_k u_k`,
//! `w_k` iid N(0, g/K)): zero at the design centre, growing with the square
//! of the distance from it, so a batch at the edge of the design (u = ±1 in
//! every factor, q = 1) gets three times the variance of an average
//! interior batch (q ≈ 1/3). Both are estimated by the method of moments
//! per fraction (`scripts/fit_discrepancy.py`) and made non-increasing in
//! magnitude as the batch proceeds, so the discrepancy never widens a band
//! on the log scale (relative width) as data arrive (its absolute width
//! grows by exp(a(f₂) − a(f₁)) as the bias shrinks); between the tabulated fractions they are interpolated
//! linearly. The file is found beside the process library:
//! `process-models/discrepancy/<process file name>`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::Error;

/// One condition of the calibration design, in the dataset's SI units
/// (manifest parameter names).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DesignFactor {
    /// Manifest parameter name (SI).
    pub parameter: String,
    /// Low level of the design (coded −1), SI.
    pub low: f64,
    /// High level of the design (coded +1), SI; above `low`.
    pub high: f64,
}

/// The discrepancy of one CQA, tabulated over the fraction of batch time.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QualityDiscrepancy {
    /// CQA name of the model (`titer_g_per_l`).
    pub quality: String,
    /// Fractions of the planned batch time, ascending, from 0 to 1.
    pub fraction: Vec<f64>,
    /// a(f): mean of ln(recorded / forecast mean).
    pub mean_ln: Vec<f64>,
    /// g(f): variance of the log discrepancy per unit q.
    pub var_ln_per_q: Vec<f64>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    /// Which batches the table was estimated on (for the record).
    calibrated_on: String,
    /// q of a batch whose conditions are not known (the calibration
    /// batches' mean).
    mean_q: f64,
    #[serde(default)]
    factor: Vec<DesignFactor>,
    #[serde(default)]
    cqa: Vec<QualityDiscrepancy>,
}

/// A loaded, checked discrepancy table.
#[derive(Debug, Clone, PartialEq)]
pub struct Discrepancy {
    /// The file the table was read from.
    pub path: PathBuf,
    /// Which batches the table was estimated on (for the record).
    pub calibrated_on: String,
    /// q of a batch whose conditions are not known (the calibration batches'
    /// mean).
    pub mean_q: f64,
    /// The design's conditions, which define the coded distance q.
    pub factors: Vec<DesignFactor>,
    /// One table per CQA.
    pub cqas: Vec<QualityDiscrepancy>,
}

/// Where the discrepancy of a process file lives:
/// `<library>/discrepancy/<file name>` for `<library>/processes/<file name>`.
pub fn path_for(process_file: &Path) -> Option<PathBuf> {
    let name = process_file.file_name()?;
    let lib = process_file.parent()?.parent()?;
    Some(lib.join("discrepancy").join(name))
}

impl Discrepancy {
    /// Loads and checks a discrepancy file; every problem names the file,
    /// the field, what was expected and what was found.
    pub fn load(path: &Path) -> Result<Discrepancy, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::input(path, "file", "a readable discrepancy file", e.to_string())
        })?;
        let f: File = toml::from_str(&text).map_err(|e| {
            Error::input(
                path,
                "toml",
                "calibrated_on, mean_q, [[factor]] and [[cqa]] tables",
                e.to_string().trim().replace('\n', " "),
            )
        })?;
        let bad = |field: String, expected: &str, found: String| {
            Error::input(path, field, expected, found)
        };
        if !(f.mean_q.is_finite() && f.mean_q >= 0.0) {
            return Err(bad(
                "mean_q".into(),
                "a finite value >= 0",
                f.mean_q.to_string(),
            ));
        }
        for (i, d) in f.factor.iter().enumerate() {
            if !(d.low.is_finite() && d.high.is_finite() && d.high > d.low) {
                return Err(bad(
                    format!("factor[{i}] ({})", d.parameter),
                    "finite low < high",
                    format!("low {} high {}", d.low, d.high),
                ));
            }
        }
        for (i, c) in f.cqa.iter().enumerate() {
            let n = c.fraction.len();
            let field = |k: &str| format!("cqa[{i}] ({}).{k}", c.quality);
            if n < 2 {
                return Err(bad(
                    field("fraction"),
                    "at least two fractions",
                    n.to_string(),
                ));
            }
            if c.mean_ln.len() != n || c.var_ln_per_q.len() != n {
                return Err(bad(
                    field("mean_ln / var_ln_per_q"),
                    &format!("{n} values each (one per fraction)"),
                    format!("{} and {}", c.mean_ln.len(), c.var_ln_per_q.len()),
                ));
            }
            for k in 0..n {
                let x = c.fraction[k];
                if !(x.is_finite() && (0.0..=1.0).contains(&x)) || (k > 0 && x <= c.fraction[k - 1])
                {
                    return Err(bad(
                        field(&format!("fraction[{k}]")),
                        "ascending fractions within 0..1",
                        x.to_string(),
                    ));
                }
                if !c.mean_ln[k].is_finite() {
                    return Err(bad(
                        field(&format!("mean_ln[{k}]")),
                        "a finite value",
                        c.mean_ln[k].to_string(),
                    ));
                }
                let g = c.var_ln_per_q[k];
                if !(g.is_finite() && g >= 0.0) {
                    return Err(bad(
                        field(&format!("var_ln_per_q[{k}]")),
                        "a finite value >= 0",
                        g.to_string(),
                    ));
                }
                // Never a wider band later in the batch.
                if k > 0
                    && (g > c.var_ln_per_q[k - 1] + 1e-15
                        || c.mean_ln[k].abs() > c.mean_ln[k - 1].abs() + 1e-15)
                {
                    return Err(bad(
                        field(&format!("[{k}]")),
                        "|mean_ln| and var_ln_per_q non-increasing with the fraction",
                        format!(
                            "mean_ln {} after {}, var_ln_per_q {g} after {}",
                            c.mean_ln[k],
                            c.mean_ln[k - 1],
                            c.var_ln_per_q[k - 1]
                        ),
                    ));
                }
            }
        }
        Ok(Discrepancy {
            path: path.to_path_buf(),
            calibrated_on: f.calibrated_on,
            mean_q: f.mean_q,
            factors: f.factor,
            cqas: f.cqa,
        })
    }

    /// q of a batch run at `conditions` (manifest parameter → SI value);
    /// the calibration mean when a design factor is not given.
    pub fn q_of(&self, conditions: &BTreeMap<String, f64>) -> f64 {
        if self.factors.is_empty() {
            return self.mean_q;
        }
        let mut s = 0.0;
        for d in &self.factors {
            let Some(&x) = conditions.get(&d.parameter) else {
                return self.mean_q;
            };
            let u = 2.0 * (x - d.low) / (d.high - d.low) - 1.0;
            s += u * u;
        }
        s / self.factors.len() as f64
    }

    /// (a, sd) of the log discrepancy of `quality` at fraction `f` of the
    /// batch and distance `q`; `None` for a CQA without a table.
    pub fn at(&self, quality: &str, f: f64, q: f64) -> Option<(f64, f64)> {
        let c = self.cqas.iter().find(|c| c.quality == quality)?;
        let f = f.clamp(c.fraction[0], *c.fraction.last()?);
        let k = c
            .fraction
            .windows(2)
            .position(|w| f <= w[1])
            .unwrap_or(c.fraction.len() - 2);
        let (f0, f1) = (c.fraction[k], c.fraction[k + 1]);
        let w = if f1 > f0 { (f - f0) / (f1 - f0) } else { 0.0 };
        let a = c.mean_ln[k] + w * (c.mean_ln[k + 1] - c.mean_ln[k]);
        let g = c.var_ln_per_q[k] + w * (c.var_ln_per_q[k + 1] - c.var_ln_per_q[k]);
        Some((a, (g * q.max(0.0)).sqrt()))
    }
}

/// The discrepancy as one running batch uses it: the table and the
/// batch's q.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchDiscrepancy {
    /// The table.
    pub table: Discrepancy,
    /// The batch's squared coded distance q from the design centre (≥ 0).
    pub q: f64,
}
