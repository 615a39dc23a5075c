//! `biotwin evaluate`: a saved or registered model on the batches of a
//! dataset: RMSE, MAPE, R², coverage of the 95 % intervals, parity plot.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::data::Dataset;
use crate::error::Error;
use crate::registry::Registry;
use crate::surrogates::Prediction;
use crate::surrogates::artifact::Artifact;
use crate::surrogates::metrics::{Metrics, metrics_by_target};
use crate::surrogates::parity_plot::write_parity_svg;
use crate::surrogates::train::evaluate;

#[derive(clap::Args, Debug)]
#[command(
    about = "Evaluate a model on a dataset's batches: RMSE, MAPE, R², interval coverage, parity plot",
    after_help = "Examples:\n  biotwin evaluate models/titer-pls --dataset training-data/cho-platform --batches B21,B22 --parity parity.svg\n  biotwin evaluate cho-titer-v2 --registry models --dataset training-data/cho-platform --extrapolation B31,B32,B33,B34,B35,B36\n\nMODEL is a model directory (model.json inside), a model .json file, or the id of a\nregistered model. A file whose content was altered is refused (exit 2). Without\n--batches, a model evaluated on its own training data uses the batches it held out."
)]
pub struct Args {
    /// Model directory, artifact file, or registered model id.
    pub model: String,
    #[arg(long)]
    pub dataset: PathBuf,
    /// Only these batches (comma list).
    #[arg(long, value_delimiter = ',')]
    pub batches: Vec<String>,
    /// Batches at the edge of the design: metrics are reported separately
    /// for them (extrapolation) and for the others (interpolation).
    #[arg(long, value_delimiter = ',')]
    pub extrapolation: Vec<String>,
    /// Registry to look MODEL up in (default `models`).
    #[arg(long, default_value = "models")]
    pub registry: PathBuf,
    /// Write the parity plot of the first target (SVG).
    #[arg(long)]
    pub parity: Option<PathBuf>,
    /// Write metrics and predictions as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// Prints a metrics table, one row per metric name.
pub(crate) fn print_metrics(metrics: &BTreeMap<String, Metrics>) {
    outln!(
        "{:<44} {:>4} {:>12} {:>9} {:>8} {:>9}",
        "metric",
        "n",
        "RMSE (SI)",
        "MAPE %",
        "R²",
        "cover95"
    );
    for (k, m) in metrics {
        let opt = |v: Option<f64>, d: usize| v.map(|x| format!("{x:.d$}")).unwrap_or("—".into());
        outln!(
            "{:<44} {:>4} {:>12} {:>9} {:>8} {:>9.2}",
            k,
            m.n,
            crate::output::format_sig(m.rmse),
            opt(m.mape_percent, 2),
            opt(m.r2, 3),
            m.coverage_95
        );
    }
}

/// A model given on the command line: a path, or a registered id.
pub(crate) fn resolve(
    model: &str,
    registry: &Path,
) -> Result<(Artifact, Vec<String>, String), Error> {
    let p = Path::new(model);
    if p.exists() {
        let file = if p.is_dir() {
            p.join("model.json")
        } else {
            p.to_path_buf()
        };
        let held = p
            .is_dir()
            .then(|| std::fs::read_to_string(p.join("training.json")).ok())
            .flatten()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| {
                v.get("held_out")?.as_array().map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(String::from))
                        .collect()
                })
            })
            .unwrap_or_default();
        crate::registry::verify_enclosing(&file)?;
        return Ok((Artifact::load(&file)?, held, file.display().to_string()));
    }
    let reg = Registry::new(registry);
    if !reg.log_path().is_file() {
        return Err(Error::input(
            "<command line>",
            "MODEL",
            "a model directory, a model .json file, or a registered model id (with --registry)",
            format!(
                "`{model}`: no such file, and no registry at {}",
                registry.display()
            ),
        ));
    }
    // A registry that does not verify serves nothing.
    crate::registry::verify(registry)?;
    let (rec, art) = reg.load(model)?;
    Ok((
        art,
        rec.held_out,
        format!("{} (registry {})", rec.id, registry.display()),
    ))
}

pub fn run(a: Args) -> Result<(), Error> {
    let (artifact, held, source) = resolve(&a.model, &a.registry)?;
    let ds = Dataset::load(&a.dataset)?;
    let is_training = artifact.training_data_hash.as_deref() == Some(ds.content_hash.as_str());
    let batches: Option<Vec<String>> = if !a.batches.is_empty() {
        Some(a.batches.clone())
    } else if is_training && !held.is_empty() {
        Some(held.clone())
    } else {
        None
    };
    if let Some(b) = &batches {
        for id in b {
            if ds.batch(id).is_none() {
                return Err(Error::input(
                    ds.dir.join(crate::data::dataset::MANIFEST_FILE),
                    "--batches",
                    "batch ids of the dataset",
                    format!("`{id}`"),
                ));
            }
        }
    }
    for id in &a.extrapolation {
        if ds.batch(id).is_none() {
            return Err(Error::input(
                ds.dir.join(crate::data::dataset::MANIFEST_FILE),
                "--extrapolation",
                "batch ids of the dataset",
                format!("`{id}`"),
            ));
        }
    }
    let ev = evaluate(&artifact, &ds, batches.as_deref())?;
    outln!(
        "model {source}: {} predicting {}",
        artifact.model.kind(),
        artifact.target_names.join(", ")
    );
    outln!(
        "dataset {} ({} batches evaluated: {})",
        ds.name,
        ev.batch_ids.len(),
        ev.batch_ids.join(",")
    );
    if ev.dataset_is_training_data {
        let trained_on: Vec<&String> = ev.batch_ids.iter().filter(|b| !held.contains(b)).collect();
        if !trained_on.is_empty() {
            outln!(
                "note: this is the model's training data and {} of these batches were used to fit it: their errors are training errors",
                trained_on.len()
            );
        }
    }
    let mut all = BTreeMap::new();
    for (t, m) in &ev.metrics {
        all.insert(format!("all/{t}"), m.clone());
    }
    if !a.extrapolation.is_empty() {
        for (label, inside) in [("interpolation", false), ("extrapolation", true)] {
            let rows: Vec<usize> = (0..ev.batch_ids.len())
                .filter(|&i| a.extrapolation.contains(&ev.batch_ids[i]) == inside)
                .collect();
            if rows.is_empty() {
                continue;
            }
            let pick = |m: &nalgebra::DMatrix<f64>| m.select_rows(rows.iter());
            let pred = Prediction {
                mean: pick(&ev.prediction.mean),
                std: pick(&ev.prediction.std),
            };
            for (t, m) in metrics_by_target(&pred, &pick(&ev.observed), &artifact.target_names) {
                all.insert(format!("{label}/{t}"), m);
            }
        }
    }
    print_metrics(&all);
    if let Some(p) = &a.parity {
        let unit = ds
            .tag_map
            .variables
            .get(&artifact.target_names[0])
            .map(|v| v.si_unit.clone())
            .unwrap_or_default();
        write_parity_svg(
            p,
            ev.observed.column(0).as_slice(),
            &ev.prediction,
            0,
            &artifact.target_names[0],
            &unit,
        )?;
        outln!("parity plot written to {}", p.display());
    }
    if let Some(p) = &a.json {
        let rows: Vec<serde_json::Value> = ev
            .batch_ids
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let t: BTreeMap<&str, serde_json::Value> = artifact
                    .target_names
                    .iter()
                    .enumerate()
                    .map(|(j, n)| {
                        (
                            n.as_str(),
                            serde_json::json!({
                                "observed": ev.observed[(i, j)],
                                "predicted": ev.prediction.mean[(i, j)],
                                "std": ev.prediction.std[(i, j)],
                            }),
                        )
                    })
                    .collect();
                serde_json::json!({"batch": b, "targets": t})
            })
            .collect();
        let v = serde_json::json!({
            "model": source,
            "dataset": ds.name,
            "dataset_hash": ds.content_hash,
            "dataset_is_training_data": ev.dataset_is_training_data,
            "metrics": all,
            "predictions": rows,
        });
        let text = serde_json::to_string_pretty(&v).map_err(|e| Error::io(p, e))?;
        crate::output::atomic::write_atomic(p, text.as_bytes())?;
        outln!("metrics written to {}", p.display());
    }
    Ok(())
}
