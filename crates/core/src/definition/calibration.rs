//! The `[calibration]` table of a calibrated model file (schema
//! `biotwin.calibration/1`, written by `biotwin fit`): provenance of the fit
//! and, optionally, the joint covariance of the fitted parameters.
//!
//! ```toml
//! [calibration]
//! schema = "biotwin.calibration/1"
//! base_model = "cho-platform"
//! dataset = "training-data/cho-platform"
//! dataset_sha256 = "<64 hex>"
//! created_utc = "2026-12-05T08:00:00Z"
//! command = "biotwin fit ..."
//! batches = ["B01", "B02"]
//! n_observations = 1234
//! log_likelihood = -123.4
//! aic = 270.8
//! bic = 290.1
//!
//! [calibration.covariance]
//! parameters = ["mu_max", "q_p"]   # names in [parameters], matrix order
//! transforms = ["ln", "ln"]        # "ln": of ln(value); "identity": of the value (file unit)
//! matrix = [[1.0e-3, 2.0e-4], [2.0e-4, 4.0e-3]]
//!
//! [calibration.noise_sd]           # optional, per observed variable
//! titer = 0.05
//! ```
//!
//! The reader checks the schema string, the hash, that every named
//! parameter exists (once), the transforms, that the matrix is square,
//! finite, symmetric to 1e-9 relative and positive semi-definite (Cholesky
//! with a jitter of 1e-12 × the largest diagonal element), and that an `ln`
//! parameter's value is positive. Every problem names the file, line and
//! field.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::kinetic::{ParamEntry, ParamSpec};
use super::source::SourceFile;
use crate::error::Diagnostics;

/// Schema tag of a calibrated model file's `[calibration]` table.
pub const SCHEMA: &str = "biotwin.calibration/1";
/// Relative tolerance of the symmetry check.
pub const SYMMETRY_RTOL: f64 = 1e-9;
/// Jitter added to the diagonal for the Cholesky check, relative to the
/// largest diagonal element (rounding of a semi-definite matrix).
pub const CHOLESKY_JITTER: f64 = 1e-12;

/// The `[calibration]` table of a calibrated model file as written (by `biotwin fit`).
#[derive(Debug, Clone, Deserialize)]
pub struct CalibrationFile {
    /// Schema tag; must be [`SCHEMA`].
    pub schema: String,
    /// Identifier of the model the fit started from.
    pub base_model: String,
    /// The batch-record data set fitted to.
    pub dataset: String,
    /// Hex sha256 of the data set.
    pub dataset_sha256: String,
    /// When the fit ran, UTC (RFC 3339).
    pub created_utc: String,
    /// The command line that produced the file.
    pub command: String,
    /// Identifiers of the batches fitted.
    pub batches: Vec<String>,
    /// Number of observations in the likelihood.
    pub n_observations: u64,
    /// Maximised log-likelihood.
    pub log_likelihood: f64,
    /// Akaike information criterion.
    pub aic: f64,
    /// Bayesian information criterion.
    pub bic: f64,
    /// Joint covariance of the fitted parameters, if estimated.
    pub covariance: Option<CovarianceFile>,
    /// Measurement-noise standard deviation per observed quantity, in its file unit.
    #[serde(default)]
    pub noise_sd: BTreeMap<String, f64>,
    /// The recipe-conditioned model discrepancy that `biotwin fit
    /// --discrepancy` estimated (`[calibration.discrepancy]`, schema
    /// `biotwin.discrepancy/2`, /1 still read; docs/fit.md, "Model
    /// discrepancy"). Kept as written and interpreted by `biotwin-ml`
    /// (`calibration::discrepancy`), which evaluates it on a process for
    /// `simulate` and `transfer`.
    #[serde(default)]
    pub discrepancy: Option<toml::Value>,
}

/// The covariance of a calibration file as written.
#[derive(Debug, Clone, Deserialize)]
pub struct CovarianceFile {
    /// Parameter names, in matrix order.
    pub parameters: Vec<String>,
    /// Space of each parameter: `ln` or `identity`.
    pub transforms: Vec<String>,
    /// The matrix, rows in parameter order.
    pub matrix: Vec<Vec<f64>>,
}

/// The space a covariance is stated in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transform {
    /// Of ln(value): lognormal around the file's value.
    Ln,
    /// Of the value itself, in the file's unit.
    Identity,
}

/// A validated joint covariance of some model parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Covariance {
    /// Names as in `[parameters]`, in matrix order.
    pub names: Vec<String>,
    /// Index of each in the family's parameter order.
    pub indices: Vec<usize>,
    /// Space of each parameter.
    pub transforms: Vec<Transform>,
    /// Row-major n × n.
    pub matrix: Vec<f64>,
    /// Lower Cholesky factor (row-major), of the matrix plus the jitter.
    pub cholesky: Vec<f64>,
}

/// The validated `[calibration]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct Calibration {
    /// Identifier of the model the fit started from.
    pub base_model: String,
    /// The batch-record data set fitted to.
    pub dataset: String,
    /// Hex sha256 of the data set.
    pub dataset_sha256: String,
    /// When the fit ran, UTC (RFC 3339).
    pub created_utc: String,
    /// The command line that produced the file.
    pub command: String,
    /// Identifiers of the batches fitted.
    pub batches: Vec<String>,
    /// Number of observations in the likelihood.
    pub n_observations: u64,
    /// Maximised log-likelihood.
    pub log_likelihood: f64,
    /// Akaike information criterion.
    pub aic: f64,
    /// Bayesian information criterion.
    pub bic: f64,
    /// Validated joint covariance of the fitted parameters, if given.
    pub covariance: Option<Covariance>,
    /// Measurement-noise standard deviation per observed quantity, in its file unit.
    pub noise_sd: BTreeMap<String, f64>,
    /// `[calibration.discrepancy]` as written (see
    /// [`CalibrationFile::discrepancy`]); checked where it is used.
    pub discrepancy: Option<toml::Value>,
}

/// Lower Cholesky factor of a row-major symmetric matrix; `None` if it is
/// not positive definite.
pub fn cholesky(a: &[f64], n: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let mut s = a[i * n + j];
            for k in 0..j {
                s -= l[i * n + k] * l[j * n + k];
            }
            if i == j {
                if !(s > 0.0) {
                    return None;
                }
                l[i * n + i] = s.sqrt();
            } else {
                l[i * n + j] = s / l[j * n + j];
            }
        }
    }
    Some(l)
}

/// Checks the table against the file's parameters and the family.
pub fn validate(
    f: &CalibrationFile,
    params: &BTreeMap<String, ParamEntry>,
    specs: &[ParamSpec],
    src: &SourceFile,
) -> Result<Calibration, Diagnostics> {
    let mut d = Diagnostics::new();
    if f.schema != SCHEMA {
        d.push(src.diag(
            "calibration.schema",
            format!("\"{SCHEMA}\""),
            format!("{:?}", f.schema),
        ));
    }
    if f.dataset_sha256.len() != 64 || !f.dataset_sha256.chars().all(|c| c.is_ascii_hexdigit()) {
        d.push(src.diag(
            "calibration.dataset_sha256",
            "a sha256 of 64 hex digits",
            format!("{:?}", f.dataset_sha256),
        ));
    }
    for (k, v) in [
        ("log_likelihood", f.log_likelihood),
        ("aic", f.aic),
        ("bic", f.bic),
    ] {
        if !v.is_finite() {
            d.push(src.diag(
                &format!("calibration.{k}"),
                "a finite number",
                format!("{v}"),
            ));
        }
    }
    for (k, v) in &f.noise_sd {
        if !(v.is_finite() && *v > 0.0) {
            d.push(src.diag(
                &format!("calibration.noise_sd.{k}"),
                "a positive standard deviation",
                format!("{v}"),
            ));
        }
    }
    let covariance = f
        .covariance
        .as_ref()
        .and_then(|c| covariance(c, params, specs, src, &mut d));
    d.into_result(Calibration {
        base_model: f.base_model.clone(),
        dataset: f.dataset.clone(),
        dataset_sha256: f.dataset_sha256.clone(),
        created_utc: f.created_utc.clone(),
        command: f.command.clone(),
        batches: f.batches.clone(),
        n_observations: f.n_observations,
        log_likelihood: f.log_likelihood,
        aic: f.aic,
        bic: f.bic,
        covariance,
        noise_sd: f.noise_sd.clone(),
        discrepancy: f.discrepancy.clone(),
    })
}

fn covariance(
    c: &CovarianceFile,
    params: &BTreeMap<String, ParamEntry>,
    specs: &[ParamSpec],
    src: &SourceFile,
    d: &mut Diagnostics,
) -> Option<Covariance> {
    let field = "calibration.covariance";
    let before = d.len();
    let n = c.parameters.len();
    if n == 0 {
        d.push(src.diag(
            &format!("{field}.parameters"),
            "at least one parameter",
            "none",
        ));
        return None;
    }
    let mut indices = Vec::with_capacity(n);
    for (i, name) in c.parameters.iter().enumerate() {
        let path = format!("{field}.parameters[{i}]");
        match specs.iter().position(|s| s.name == name) {
            Some(j) if params.contains_key(name) => {
                if indices.contains(&j) {
                    d.push(src.diag(&path, "each parameter once", format!("`{name}` again")));
                }
                indices.push(j);
            }
            _ => d.push(src.diag(
                &path,
                format!(
                    "a parameter of [parameters] ({})",
                    specs.iter().map(|s| s.name).collect::<Vec<_>>().join(", ")
                ),
                format!("`{name}`"),
            )),
        }
    }
    let mut transforms = Vec::with_capacity(n);
    if c.transforms.len() != n {
        d.push(src.diag(
            &format!("{field}.transforms"),
            format!("one transform per parameter ({n})"),
            format!("{}", c.transforms.len()),
        ));
    }
    for (i, t) in c.transforms.iter().enumerate() {
        let path = format!("{field}.transforms[{i}]");
        match t.as_str() {
            "ln" => {
                transforms.push(Transform::Ln);
                if let Some(p) = c.parameters.get(i).and_then(|p| params.get(p))
                    && !(p.value > 0.0)
                {
                    d.push(src.diag(
                        &path,
                        "\"identity\" for a parameter whose value is not positive",
                        format!("\"ln\" for {} = {}", c.parameters[i], p.value),
                    ));
                }
            }
            "identity" => transforms.push(Transform::Identity),
            other => d.push(src.diag(&path, "\"ln\" or \"identity\"", format!("{other:?}"))),
        }
    }
    if c.matrix.len() != n {
        d.push(src.diag(
            &format!("{field}.matrix"),
            format!("a {n} × {n} matrix (one row per parameter)"),
            format!("{} rows", c.matrix.len()),
        ));
        return None;
    }
    let mut m = vec![0.0; n * n];
    for (i, row) in c.matrix.iter().enumerate() {
        if row.len() != n {
            d.push(src.diag(
                &format!("{field}.matrix[{i}]"),
                format!("a row of {n} numbers"),
                format!("{}", row.len()),
            ));
            continue;
        }
        for (j, &v) in row.iter().enumerate() {
            if !v.is_finite() {
                d.push(src.diag(
                    &format!("{field}.matrix[{i}][{j}]"),
                    "a finite number",
                    format!("{v}"),
                ));
            }
            m[i * n + j] = v;
        }
    }
    if d.len() > before {
        return None;
    }
    for i in 0..n {
        if m[i * n + i] < 0.0 {
            d.push(src.diag(
                &format!("{field}.matrix[{i}][{i}]"),
                "a non-negative variance",
                format!("{}", m[i * n + i]),
            ));
        }
        for j in 0..i {
            let (a, b) = (m[i * n + j], m[j * n + i]);
            if (a - b).abs() > SYMMETRY_RTOL * a.abs().max(b.abs()) {
                d.push(src.diag(
                    &format!("{field}.matrix[{i}][{j}]"),
                    format!("a symmetric matrix (equal to matrix[{j}][{i}] = {b} to {SYMMETRY_RTOL:e} relative)"),
                    format!("{a}"),
                ));
            }
        }
    }
    if d.len() > before {
        return None;
    }
    let max_diag = (0..n).map(|i| m[i * n + i]).fold(0.0, f64::max);
    let jitter = CHOLESKY_JITTER * max_diag.max(f64::MIN_POSITIVE);
    let mut a = m.clone();
    for i in 0..n {
        a[i * n + i] += jitter;
    }
    let Some(l) = cholesky(&a, n) else {
        d.push(src.diag(
            &format!("{field}.matrix"),
            "a positive semi-definite covariance matrix (its Cholesky factorisation, with a jitter of 1e-12 × the largest variance, failed)",
            "a matrix with a negative eigenvalue",
        ));
        return None;
    };
    Some(Covariance {
        names: c.parameters.clone(),
        indices,
        transforms,
        matrix: m,
        cholesky: l,
    })
}
