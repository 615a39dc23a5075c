//! From a process, a dataset and its manifest mapping to a [`Problem`]:
//! each batch's scenario, the fitted addresses and the observed samples,
//! with an input error naming the address, variable or batch at fault.

use biotwin_core::error::Reason;
use std::path::Path;

use super::problem::{Batch, Observable, Parameter, Problem, Sample, Transform, observables};
use crate::data::dataset::Dataset;
use crate::error::Error;
use crate::surrogates::hybrid::mechanistic::MechanisticSpec;
use biotwin_core::error::{Diagnostic, Diagnostics};
use biotwin_core::simulation::Scenario;
use biotwin_core::simulation::address::Address;

/// A fitted parameter for `text` in `scenario`, or what would have been
/// accepted.
pub fn parameter(
    scenario: &mut Scenario,
    text: &str,
    ff: &[f64],
) -> Result<(Parameter, Address), Reason> {
    let a = scenario.address(text, ff)?;
    let initial = scenario.get(&a);
    let (unit, min, max, model_name) = match a {
        Address::ModelParam { index, .. } => {
            let s = &scenario.family.params()[index];
            // Spec ranges are in the canonical unit; the address speaks the
            // model file's unit (factor: file unit → SI; spec unit → SI is
            // the family's own, equal for the shipped files).
            (s.unit.to_string(), s.min, s.max, Some(s.name.to_string()))
        }
        _ => (String::new(), 0.0, f64::INFINITY, None),
    };
    if !initial.is_finite() {
        return Err(Reason::from(format!(
            "`{text}` to have a value in the process (it has none)"
        )));
    }
    let positive = min >= 0.0 && initial > 0.0;
    let (transform, lower, upper) = if positive {
        (
            Transform::Ln,
            (initial * 1e-3).max(min).max(f64::MIN_POSITIVE),
            (initial * 1e3).min(max),
        )
    } else {
        let w = initial.abs().max(1.0) * 10.0;
        (
            Transform::Identity,
            (initial - w).max(min),
            (initial + w).min(max),
        )
    };
    Ok((
        Parameter {
            address: text.to_string(),
            model_name,
            unit,
            transform,
            initial,
            lower,
            upper,
        },
        a,
    ))
}

/// What to fit.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// Addresses of the parameters to fit (`--parameters`).
    pub parameters: &'a [String],
    /// Dataset variables to compare; empty: all the family can compare
    /// that the dataset has.
    pub observe: &'a [String],
    /// Declared σ by variable (dataset SI).
    pub declared_sd: &'a [(String, f64)],
}

fn cmdline(field: &str, expected: impl Into<String>, found: impl Into<String>) -> Error {
    Error::input("<command line>", field, expected, found)
}

/// Builds the problem for `batch_ids` of `ds` (mapped by `spec`).
pub fn from_dataset(
    spec: &MechanisticSpec,
    spec_path: &Path,
    ds: &Dataset,
    batch_ids: &[String],
    req: &Request,
) -> Result<(Problem, Vec<Option<f64>>), Error> {
    let mut batches = Vec::new();
    let mut ff = Vec::new();
    let mut d = Diagnostics::new();
    for id in batch_ids {
        let b = ds
            .batch(id)
            .ok_or_else(|| cmdline("--holdout", "batch ids of the dataset", format!("`{id}`")))?;
        match spec.scenario(id, &b.meta.parameters, spec_path) {
            Ok((s, f)) => {
                ff = f;
                batches.push((b, s));
            }
            Err(e) => d.push(e),
        }
    }
    if !d.is_empty() {
        return Err(d.into());
    }
    let family = batches
        .first()
        .map(|(_, s)| s.family)
        .ok_or_else(|| cmdline("--dataset", "at least one batch to fit", "none"))?;
    let table = observables(family);
    let wanted: Vec<String> = if req.observe.is_empty() {
        table
            .iter()
            .filter(|o| {
                batches
                    .iter()
                    .any(|(b, _)| b.offline.contains_key(&o.variable))
            })
            // End-of-batch CQAs only when asked for (--observe).
            .map(|o| o.variable.clone())
            .collect()
    } else {
        req.observe.to_vec()
    };
    let mut observed: Vec<Observable> = Vec::new();
    for w in &wanted {
        let o = table.iter().find(|o| &o.variable == w).ok_or_else(|| {
            cmdline(
                "--observe",
                format!(
                    "a variable the `{}` model predicts ({})",
                    family.name(),
                    table
                        .iter()
                        .map(|o| o.variable.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                format!("`{w}`"),
            )
        })?;
        let has = |b: &crate::data::batch::BatchRecord| {
            b.offline
                .get(w)
                .is_some_and(|v| v.iter().any(|s| s.value.is_finite()))
                || b.meta.cqas.get(w).is_some_and(|v| v.is_finite())
        };
        if !batches.iter().any(|(b, _)| has(b)) {
            return Err(Diagnostic::new(
                &ds.dir,
                format!("offline.{w}"),
                format!(
                    "offline samples of the observed variable `{w}` in at least one fitted batch"
                ),
                "none in the dataset",
            )
            .into());
        }
        observed.push(o.clone());
    }
    if observed.is_empty() {
        return Err(cmdline(
            "--observe",
            "at least one observed variable",
            "none",
        ));
    }
    let mut out = Vec::new();
    for (b, s) in batches {
        let mut samples = Vec::new();
        for (v, o) in observed.iter().enumerate() {
            match b.offline.get(&o.variable) {
                Some(list) => {
                    for smp in list.iter().filter(|s| s.value.is_finite()) {
                        samples.push(Sample {
                            variable: v,
                            time_h: smp.sample_time_s / 3600.0,
                            value: smp.value,
                        });
                    }
                }
                // A CQA of the manifest: at the end of the batch.
                None => {
                    if let Some(y) = b.meta.cqas.get(&o.variable).filter(|y| y.is_finite()) {
                        samples.push(Sample {
                            variable: v,
                            time_h: s.recipe.duration_s / 3600.0,
                            value: *y,
                        });
                    }
                }
            }
        }
        out.push(Batch {
            id: b.id().to_string(),
            scenario: s,
            samples,
        });
    }
    build(out, &ff, observed, req)
}

/// Builds the problem from prepared batches (tests, and [`from_dataset`]).
pub fn build(
    mut batches: Vec<Batch>,
    ff: &[f64],
    observed: Vec<Observable>,
    req: &Request,
) -> Result<(Problem, Vec<Option<f64>>), Error> {
    if req.parameters.is_empty() {
        return Err(cmdline(
            "--parameters",
            "at least one address to fit",
            "none",
        ));
    }
    let mut params = Vec::new();
    let mut addresses = Vec::new();
    for text in req.parameters {
        if params.iter().any(|p: &Parameter| &p.address == text) {
            return Err(cmdline(
                "--parameters",
                "each address once",
                format!("`{text}` twice"),
            ));
        }
        let mut per_batch = Vec::new();
        let mut first = None;
        for b in batches.iter_mut() {
            let (p, a) = parameter(&mut b.scenario, text, ff)
                .map_err(|e| cmdline("--parameters", e, format!("`{text}` (batch {})", b.id)))?;
            first.get_or_insert(p);
            per_batch.push(a);
        }
        let p = first.ok_or_else(|| cmdline("--dataset", "at least one batch", "none"))?;
        params.push(p);
        addresses.push(per_batch);
    }
    let declared: Vec<Option<f64>> = observed
        .iter()
        .map(|o| {
            req.declared_sd
                .iter()
                .find(|(v, _)| *v == o.variable)
                .map(|(_, s)| *s)
        })
        .collect();
    for (v, s) in req.declared_sd {
        if !observed.iter().any(|o| &o.variable == v) {
            return Err(cmdline("--sd", "an observed variable", format!("`{v}`")));
        }
        if !(s.is_finite() && *s > 0.0) {
            return Err(cmdline(
                &format!("--sd {v}"),
                "a positive SD",
                s.to_string(),
            ));
        }
    }
    // Starting σ: declared, else 10 % of the variable's RMS.
    let sd: Vec<f64> = observed
        .iter()
        .enumerate()
        .map(|(v, _)| {
            declared[v].unwrap_or_else(|| {
                let (s, n) = batches
                    .iter()
                    .flat_map(|b| b.samples.iter())
                    .filter(|s| s.variable == v)
                    .fold((0.0, 0usize), |(a, c), s| (a + s.value * s.value, c + 1));
                let rms = (s / n.max(1) as f64).sqrt();
                if rms > 0.0 { 0.1 * rms } else { 1.0 }
            })
        })
        .collect();
    let p = Problem::new(params, observed, batches, addresses, sd);
    Ok((p, declared))
}

/// Refuses parameters that move no observed variable: doubling the value
/// (ln) or moving it by 10 % of its value (identity) changes no
/// standardised prediction by 10⁻³ — a change at the solver's noise level.
pub fn check_effects(p: &Problem) -> Result<(), Error> {
    let theta: Vec<f64> = p
        .parameters
        .iter()
        .map(|q| q.transform.to_theta(q.initial))
        .collect();
    let fail = |e: super::CalibrationError| {
        cmdline(
            "--parameters",
            "a model that simulates every fitted batch at the starting values",
            e.message,
        )
    };
    let r0 = p.residuals(&theta).map_err(fail)?;
    let mut d = Diagnostics::new();
    let names: Vec<&str> = p.observed.iter().map(|o| o.variable.as_str()).collect();
    for (a, q) in p.parameters.iter().enumerate() {
        let mut t = theta.clone();
        t[a] += match q.transform {
            Transform::Ln => std::f64::consts::LN_2,
            Transform::Identity => 0.1 * q.initial.abs().max(1.0),
        };
        let r = p.residuals(&t).map_err(fail)?;
        let change: f64 = r
            .iter()
            .zip(&r0)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max);
        if !(change > 1e-3) {
            d.push(Diagnostic::new(
                "<command line>",
                "--parameters",
                format!("a parameter that affects an observed variable ({})", names.join(", ")),
                format!(
                    "`{}`: no effect on any of them (changing it moves no prediction by more than {change:.1e} SD)",
                    q.address
                ),
            ));
        }
    }
    d.into_result(()).map_err(Error::from)
}
