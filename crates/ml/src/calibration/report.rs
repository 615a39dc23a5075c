//! What `biotwin fit` writes: the JSON result (`biotwin.fit/1`, documented
//! in docs/fit.md), a Markdown report, observed-vs-predicted and residual
//! SVG plots per batch, and the calibrated model file
//! (`biotwin.calibration/1`).

use super::CalibrationError;
use plotters::prelude::*;
use serde_json::{Value, json};

use super::estimate::Estimate;
use super::problem::{Problem, Transform};

/// Version tag of the JSON result.
pub const SCHEMA: &str = "biotwin.fit/1";
/// Version tag of the calibrated model file's `[calibration]` table.
pub const CALIBRATION_SCHEMA: &str = "biotwin.calibration/1";

/// Provenance and settings of one fit.
#[derive(Debug, Clone)]
pub struct Context {
    /// The command line as run.
    pub command: String,
    /// The process file.
    pub process: String,
    /// Id of the kinetic model fitted.
    pub base_model: String,
    /// The dataset (directory or manifest).
    pub dataset: String,
    /// Content hash of the dataset.
    pub dataset_sha256: String,
    /// When the fit was made (RFC 3339, UTC).
    pub created_utc: String,
    /// How the Jacobian was computed, for people.
    pub jacobian: String,
    /// Wall-clock time of the fit, s.
    pub wall_s: f64,
    /// Starts of the optimiser (the process's values plus the extra ones).
    pub starts: usize,
    /// Seed of the extra starts.
    pub seed: u64,
}

/// Errors on one batch that the fit did not see.
#[derive(Debug, Clone)]
pub struct HeldOut {
    /// Batch id.
    pub id: String,
    /// (variable, RMSE in the dataset's SI unit, number of samples).
    pub rmse: Vec<(String, f64, usize)>,
    /// (CQA, predicted, observed) in dataset SI; with a model discrepancy
    /// the prediction is the corrected one, η + δ.
    pub cqas: Vec<(String, f64, Option<f64>)>,
    /// The discrepancy's correction of each CQA (same order as `cqas`;
    /// empty without a discrepancy, `None` for a CQA without one).
    pub corrections: Vec<Option<super::discrepancy::Corrected>>,
}

fn opt(v: Option<f64>) -> Value {
    match v {
        Some(x) if x.is_finite() => json!(x),
        _ => Value::Null,
    }
}

/// RMSE of each observed variable per batch at θ (in-sample).
pub fn batch_rmse(
    p: &Problem,
    theta: &[f64],
) -> Result<Vec<(String, Vec<(String, f64, usize)>)>, CalibrationError> {
    let mut out = Vec::new();
    for (b, batch) in p.batches.iter().enumerate() {
        let (v, _) = p.predict(b, theta)?;
        out.push((batch.id.clone(), rmse_by_variable(p, &batch.samples, &v)));
    }
    Ok(out)
}

/// RMSE per observed variable of `predicted` against `samples`.
pub fn rmse_by_variable(
    p: &Problem,
    samples: &[super::problem::Sample],
    predicted: &[f64],
) -> Vec<(String, f64, usize)> {
    p.observed
        .iter()
        .enumerate()
        .map(|(vi, o)| {
            let (s, n) = samples
                .iter()
                .zip(predicted)
                .filter(|(s, _)| s.variable == vi)
                .fold((0.0, 0usize), |(a, c), (s, y)| {
                    (a + (y - s.value).powi(2), c + 1)
                });
            (o.variable.clone(), (s / n.max(1) as f64).sqrt(), n)
        })
        .collect()
}

/// The JSON result.
pub fn result_json(
    ctx: &Context,
    p: &Problem,
    e: &Estimate,
    fitted_rmse: &[(String, Vec<(String, f64, usize)>)],
    held_out: &[HeldOut],
) -> Value {
    let params: Vec<Value> = e
        .parameters
        .iter()
        .map(|q| {
            json!({
                "address": q.address,
                "unit": q.unit,
                "transform": q.transform,
                "initial": q.initial,
                "estimate": q.estimate,
                "se_theta": opt(q.se_theta),
                "fisher_ci95": [opt(q.fisher_ci[0]), opt(q.fisher_ci[1])],
                "profile_ci95": q.profile_ci.map(|c| json!([opt(c[0]), opt(c[1])])).unwrap_or(Value::Null),
                "verdict": q.verdict,
                "reason": q.reason,
                "suggestion": q.suggestion,
            })
        })
        .collect();
    let np = e.parameters.len();
    let corr: Vec<Vec<Value>> = (0..np)
        .map(|a| (0..np).map(|b| opt(Some(e.correlation[(a, b)]))).collect())
        .collect();
    let cov: Vec<Vec<Value>> = (0..np)
        .map(|a| (0..np).map(|b| opt(Some(e.covariance[(a, b)]))).collect())
        .collect();
    let noise: Vec<Value> = p
        .observed
        .iter()
        .enumerate()
        .map(|(v, o)| {
            json!({"variable": o.variable, "sd": e.sd[v], "estimated": e.sd_estimated[v],
                   "model_column": o.column})
        })
        .collect();
    json!({
        "schema": SCHEMA,
        "created_utc": ctx.created_utc,
        "command": ctx.command,
        "process": ctx.process,
        "base_model": ctx.base_model,
        "dataset": ctx.dataset,
        "dataset_sha256": ctx.dataset_sha256,
        "batches": p.batches.iter().map(|b| b.id.clone()).collect::<Vec<_>>(),
        "n_observations": e.n_observations,
        "n_estimated": e.n_estimated,
        "log_likelihood": e.log_likelihood,
        "aic": e.aic,
        "bic": e.bic,
        "jacobian": ctx.jacobian,
        "starts": {"count": e.start_costs.len(), "seed": ctx.seed,
                   "end_cost": e.start_costs.iter().map(|c| opt(*c)).collect::<Vec<_>>()},
        "iterations": e.iterations,
        "converged": e.converged,
        "wall_s": ctx.wall_s,
        "parameters": params,
        "correlation": corr,
        "covariance_theta": cov,
        "noise": noise,
        "fitted_rmse": fitted_rmse.iter().map(|(id, r)| json!({
            "batch": id,
            "rmse": r.iter().map(|(v, x, n)| json!({"variable": v, "rmse": x, "n": n})).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "held_out": held_out.iter().map(|h| json!({
            "batch": h.id,
            "rmse": h.rmse.iter().map(|(v, x, n)| json!({"variable": v, "rmse": opt(Some(*x)), "n": n})).collect::<Vec<_>>(),
            "cqas": h.cqas.iter().enumerate().map(|(k, (c, pr, ob))| {
                let mut v = json!({"cqa": c, "predicted": pr, "observed": opt(*ob)});
                if let Some(Some(d)) = h.corrections.get(k) {
                    v["model_predicted"] = json!(pr - d.correction);
                    v["discrepancy"] = json!(d.correction);
                    v["discrepancy_se"] = json!(d.se);
                    v["predictive_sd"] = json!(d.predictive_sd);
                }
                v
            }).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

fn fmt(v: Option<f64>) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x:.4e}"),
        _ => "open".into(),
    }
}

/// The Markdown report.
pub fn markdown(
    ctx: &Context,
    p: &Problem,
    e: &Estimate,
    fitted_rmse: &[(String, Vec<(String, f64, usize)>)],
    held_out: &[HeldOut],
) -> String {
    let mut s = String::new();
    s.push_str("# biotwin fit\n\n");
    s.push_str(&format!(
        "- command: `{}`\n- process: `{}` (model `{}`)\n- dataset: `{}` (sha256 `{}`)\n- batches fitted: {} ({} observations)\n- created: {}\n- Jacobian: {}\n- starts: {} (seed {}), iterations {}, converged: {}\n- wall time: {:.2} s\n\n",
        ctx.command, ctx.process, ctx.base_model, ctx.dataset, ctx.dataset_sha256,
        p.batches.iter().map(|b| b.id.as_str()).collect::<Vec<_>>().join(", "),
        e.n_observations, ctx.created_utc, ctx.jacobian, e.start_costs.len(), ctx.seed,
        e.iterations, e.converged, ctx.wall_s
    ));
    s.push_str("## Estimates (95 % intervals)\n\n| parameter | unit | start | estimate | Fisher | profile likelihood | verdict |\n|---|---|---|---|---|---|---|\n");
    for q in &e.parameters {
        let pr = q
            .profile_ci
            .map(|c| format!("{} … {}", fmt(c[0]), fmt(c[1])))
            .unwrap_or_else(|| "not computed".into());
        s.push_str(&format!(
            "| `{}` | {} | {:.4e} | {:.4e} | {} … {} | {} | {} |\n",
            q.address,
            q.unit,
            q.initial,
            q.estimate,
            fmt(q.fisher_ci[0]),
            fmt(q.fisher_ci[1]),
            pr,
            q.verdict
        ));
    }
    s.push_str("\n### Verdicts\n\n");
    for q in &e.parameters {
        s.push_str(&format!(
            "- `{}`: **{}** — {}. Suggestion: {}.\n",
            q.address, q.verdict, q.reason, q.suggestion
        ));
    }
    s.push_str("\n## Correlation of the estimates (θ)\n\n|   |");
    for q in &e.parameters {
        s.push_str(&format!(" `{}` |", q.address));
    }
    s.push_str("\n|---|");
    for _ in &e.parameters {
        s.push_str("---|");
    }
    s.push('\n');
    for (a, q) in e.parameters.iter().enumerate() {
        s.push_str(&format!("| `{}` |", q.address));
        for b in 0..e.parameters.len() {
            let c = e.correlation[(a, b)];
            s.push_str(&if c.is_finite() {
                format!(" {c:.3} |")
            } else {
                " n/a |".into()
            });
        }
        s.push('\n');
    }
    s.push_str(&format!(
        "\n## Likelihood\n\nlog-likelihood {:.3}, {} estimated quantities ({} parameters + {} noise SDs), AIC {:.2}, BIC {:.2}.\n\n| variable | σ (dataset SI unit) | |\n|---|---|---|\n",
        e.log_likelihood,
        e.n_estimated,
        e.parameters.len(),
        e.n_estimated - e.parameters.len(),
        e.aic,
        e.bic
    ));
    for (v, o) in p.observed.iter().enumerate() {
        s.push_str(&format!(
            "| {} | {:.4e} | {} |\n",
            o.variable,
            e.sd[v],
            if e.sd_estimated[v] {
                "estimated"
            } else {
                "declared"
            }
        ));
    }
    s.push_str("\n## In-sample RMSE per batch (dataset SI units)\n\n| batch |");
    for o in &p.observed {
        s.push_str(&format!(" {} |", o.variable));
    }
    s.push_str("\n|---|");
    for _ in &p.observed {
        s.push_str("---|");
    }
    s.push('\n');
    for (id, r) in fitted_rmse {
        s.push_str(&format!("| {id} |"));
        for (_, x, n) in r {
            s.push_str(&if *n > 0 {
                format!(" {x:.4e} |")
            } else {
                " – |".into()
            });
        }
        s.push('\n');
    }
    if !held_out.is_empty() {
        s.push_str("\n## Held-out batches (predicted from their recipes alone)\n\n| batch |");
        for o in &p.observed {
            s.push_str(&format!(" {} RMSE |", o.variable));
        }
        s.push_str(" CQAs predicted / observed |\n|---|");
        for _ in &p.observed {
            s.push_str("---|");
        }
        s.push_str("---|\n");
        for h in held_out {
            s.push_str(&format!("| {} |", h.id));
            for (_, x, n) in &h.rmse {
                s.push_str(&if *n > 0 {
                    format!(" {x:.4e} |")
                } else {
                    " – |".into()
                });
            }
            let c: Vec<String> = h
                .cqas
                .iter()
                .map(|(c, pr, ob)| {
                    format!(
                        "{c} {pr:.4} / {}",
                        ob.map(|o| format!("{o:.4}")).unwrap_or("–".into())
                    )
                })
                .collect();
            s.push_str(&format!(" {} |\n", c.join("; ")));
        }
    }
    s.push_str("\nPlots: `plots/<batch>.svg` (observed points, model line; residuals below).\n");
    s
}

/// Observed-vs-predicted (top row) and residual (bottom row) panels of one
/// batch, one column per observed variable.
pub fn batch_svg(p: &Problem, b: usize, theta: &[f64]) -> Result<String, super::CalibrationError> {
    let (pred, out) = p.predict(b, theta)?;
    let t = out.column("time_h").ok_or("time_h")?;
    let batch = &p.batches[b];
    let nv = p.observed.len();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (360 * nv as u32, 560)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let areas = root.split_evenly((2, nv));
        for (v, o) in p.observed.iter().enumerate() {
            let col: Vec<f64> = out
                .column(&o.column)
                .ok_or_else(|| o.column.clone())?
                .iter()
                .map(|x| x * o.to_si)
                .collect();
            let pts: Vec<(f64, f64, f64)> = batch
                .samples
                .iter()
                .zip(&pred)
                .filter(|(s, _)| s.variable == v)
                .map(|(s, y)| (s.time_h, s.value, s.value - y))
                .collect();
            let range = |it: &mut dyn Iterator<Item = f64>| {
                let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
                for x in it.filter(|x| x.is_finite()) {
                    lo = lo.min(x);
                    hi = hi.max(x);
                }
                if !lo.is_finite() || hi <= lo {
                    (lo.min(0.0).min(hi) - 1.0, hi.max(0.0) + 1.0)
                } else {
                    (lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo))
                }
            };
            let (x0, x1) = (0.0, t.last().copied().unwrap_or(1.0));
            let (y0, y1) = range(&mut col.iter().copied().chain(pts.iter().map(|p| p.1)));
            let mut ch = ChartBuilder::on(&areas[v])
                .caption(format!("{} {}", batch.id, o.variable), ("sans-serif", 15))
                .margin(8)
                .x_label_area_size(28)
                .y_label_area_size(60)
                .build_cartesian_2d(x0..x1, y0..y1)
                .map_err(|e| e.to_string())?;
            ch.configure_mesh()
                .x_desc("time (h)")
                .draw()
                .map_err(|e| e.to_string())?;
            ch.draw_series(LineSeries::new(
                t.iter()
                    .copied()
                    .zip(col.iter().copied())
                    .filter(|(_, y)| y.is_finite()),
                BLUE.stroke_width(2),
            ))
            .map_err(|e| e.to_string())?;
            ch.draw_series(
                pts.iter()
                    .map(|(x, y, _)| Circle::new((*x, *y), 3, RED.filled())),
            )
            .map_err(|e| e.to_string())?;
            let m = pts
                .iter()
                .map(|p| p.2.abs())
                .fold(0.0, f64::max)
                .max(1e-300)
                * 1.1;
            let mut rc = ChartBuilder::on(&areas[nv + v])
                .caption(
                    format!("residual (observed − model) {}", o.variable),
                    ("sans-serif", 13),
                )
                .margin(8)
                .x_label_area_size(28)
                .y_label_area_size(60)
                .build_cartesian_2d(x0..x1, -m..m)
                .map_err(|e| e.to_string())?;
            rc.configure_mesh()
                .x_desc("time (h)")
                .draw()
                .map_err(|e| e.to_string())?;
            rc.draw_series(LineSeries::new(vec![(x0, 0.0), (x1, 0.0)], BLACK.mix(0.5)))
                .map_err(|e| e.to_string())?;
            rc.draw_series(
                pts.iter()
                    .map(|(x, _, r)| Circle::new((*x, *r), 3, RED.filled())),
            )
            .map_err(|e| e.to_string())?;
        }
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// The calibrated model file: the base model's TOML with the fitted
/// `model.*` values and a `[calibration]` table (`docs/fit.md`,
/// `biotwin.calibration/1`). `id`: the new model id. `base_text` is the
/// text of the base model file `base_path`: a problem of that file (not
/// TOML, no `[model]` or `[parameters]` table, a fitted parameter not an
/// inline `{ value, unit, source }` table) is an input error naming the
/// field ([`CalibrationError::input`]).
pub fn calibrated_model(
    base_text: &str,
    base_path: &std::path::Path,
    id: &str,
    ctx: &Context,
    p: &Problem,
    e: &Estimate,
    discrepancy: Option<&super::discrepancy::Discrepancy>,
) -> Result<String, CalibrationError> {
    use toml_edit::{Array, DocumentMut, Item, Table, value};
    let mut doc: DocumentMut = base_text.parse().map_err(|e: toml_edit::TomlError| {
        let first = e.message().lines().next().unwrap_or("").to_string();
        CalibrationError::input(base_path, "", "valid TOML", first)
    })?;
    let short = &ctx.dataset_sha256[..12.min(ctx.dataset_sha256.len())];
    let source = format!("fitted by biotwin fit (dataset sha256 {short})");
    {
        let m = doc
            .get_mut("model")
            .and_then(Item::as_table_like_mut)
            .ok_or_else(|| {
                CalibrationError::input(base_path, "model", "a [model] table", "none")
            })?;
        let old_desc = m
            .get("description")
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string();
        m.insert("id", value(id));
        m.insert(
            "description",
            value(format!(
                "{old_desc} — calibrated by biotwin fit on {}",
                ctx.dataset
            )),
        );
        let old_src = m
            .get("source")
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string();
        m.insert("source", value(format!("{old_src}; {source}")));
    }
    let mut names = Vec::new();
    let mut transforms = Vec::new();
    let mut idx = Vec::new();
    {
        let params = doc
            .get_mut("parameters")
            .and_then(Item::as_table_like_mut)
            .ok_or_else(|| {
                CalibrationError::input(base_path, "parameters", "a [parameters] table", "none")
            })?;
        for (a, q) in e.parameters.iter().enumerate() {
            let Some(name) = &p.parameters[a].model_name else {
                continue;
            };
            let entry = match params.get_mut(name) {
                Some(i) => match i.as_inline_table_mut() {
                    Some(t) => t,
                    None => {
                        return Err(CalibrationError::input(
                            base_path,
                            format!("parameters.{name}"),
                            "an inline table { value, unit, source }",
                            format!("a {}", i.type_name()),
                        ));
                    }
                },
                None => {
                    return Err(CalibrationError::input(
                        base_path,
                        format!("parameters.{name}"),
                        "the fitted parameter, as { value, unit, source }",
                        "none",
                    ));
                }
            };
            entry.insert("value", q.estimate.into());
            entry.insert("source", source.as_str().into());
            // A parameter without a finite variance (a null direction of
            // the Fisher information) is left out of the covariance: it is
            // then not sampled from the fit; the result JSON says why.
            if q.se_theta.is_some() {
                names.push(name.clone());
                transforms.push(q.transform);
                idx.push(a);
            }
        }
    }
    let mut cal = Table::new();
    cal.insert("schema", value(CALIBRATION_SCHEMA));
    cal.insert("base_model", value(ctx.base_model.as_str()));
    cal.insert("dataset", value(ctx.dataset.as_str()));
    cal.insert("dataset_sha256", value(ctx.dataset_sha256.as_str()));
    cal.insert("created_utc", value(ctx.created_utc.as_str()));
    cal.insert("command", value(ctx.command.as_str()));
    let mut b = Array::new();
    for x in &p.batches {
        b.push(x.id.as_str());
    }
    cal.insert("batches", value(b));
    cal.insert("n_observations", value(e.n_observations as i64));
    cal.insert("log_likelihood", value(e.log_likelihood));
    cal.insert("aic", value(e.aic));
    cal.insert("bic", value(e.bic));
    if !names.is_empty() {
        let mut cov = Table::new();
        let mut n = Array::new();
        let mut t = Array::new();
        for (k, nm) in names.iter().enumerate() {
            n.push(nm.as_str());
            t.push(match transforms[k] {
                Transform::Ln => "ln",
                Transform::Identity => "identity",
            });
        }
        let mut m = Array::new();
        for &a in &idx {
            let mut row = Array::new();
            for &b in &idx {
                // Symmetric to rounding: the mean of both triangles.
                row.push(0.5 * (e.covariance[(a, b)] + e.covariance[(b, a)]));
            }
            m.push(row);
        }
        cov.insert("parameters", value(n));
        cov.insert("transforms", value(t));
        cov.insert("matrix", value(m));
        cal.insert("covariance", Item::Table(cov));
    }
    let mut sdt = Table::new();
    for (v, o) in p.observed.iter().enumerate() {
        sdt.insert(&o.variable, value(e.sd[v]));
    }
    cal.insert("noise_sd", Item::Table(sdt));
    if let Some(d) = discrepancy {
        // `[calibration.discrepancy]` (biotwin.discrepancy/1): the fitted
        // correction of the end-of-batch targets, as `fit.json` holds it.
        let text = toml::to_string(d).map_err(|e| e.to_string())?;
        let sub: DocumentMut = text
            .parse()
            .map_err(|e: toml_edit::TomlError| e.to_string())?;
        let mut t = sub.as_table().clone();
        // Positions from the parsed snippet would place its sub-tables among
        // the model's; without them they follow `[calibration]`.
        fn unplace(t: &mut Table) {
            t.set_position(None);
            for (_, item) in t.iter_mut() {
                match item {
                    Item::Table(s) => unplace(s),
                    Item::ArrayOfTables(a) => a.iter_mut().for_each(unplace),
                    _ => {}
                }
            }
        }
        unplace(&mut t);
        cal.insert("discrepancy", Item::Table(t));
    }
    doc.insert("calibration", Item::Table(cal));
    Ok(doc.to_string())
}
