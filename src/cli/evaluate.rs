//! `biotwin evaluate`: a saved or registered model on the batches of a
//! dataset: RMSE, MAPE, R², coverage of the 95 % intervals, parity plot; or
//! a live surrogate ladder, replayed through the live predictor and scored
//! at every 10 % of batch time ([`super::evaluate_ladder`]). What MODEL is
//! (registry id, artifact, ladder) is decided in one place, [`resolve_any`].
//! Every prediction's input is checked against the training range
//! ([`crate::surrogates::extrapolation`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::CliError;
use crate::data::Dataset;
use crate::error::Error;
use crate::registry::Registry;
use crate::surrogates::Prediction;
use crate::surrogates::artifact::Artifact;
use crate::surrogates::metrics::{Metrics, metrics_by_target};
use crate::surrogates::parity_plot::write_parity_svg;
use crate::surrogates::train::evaluate;

mod indpensim;

#[derive(clap::Args, Debug)]
#[command(
    about = "Evaluate a model or live surrogate ladder on a dataset's batches: RMSE, MAPE, R², interval coverage (ladders: at every 10 % of batch time), parity plot",
    after_help = "Examples:\n  biotwin evaluate models/titer-pls --dataset training-data/cho-platform --batches B21,B22 --parity parity.svg\n  biotwin evaluate cho-titer-v2 --registry models --dataset training-data/cho-platform --extrapolation B31,B32,B33,B34,B35,B36\n  biotwin evaluate process-models/sites/indpensim-penicillin-ladder.json --dataset training-data/indpensim --json ladder.json\n\nMODEL is a model directory (model.json inside), a model .json file, a live surrogate\nladder file (biotwin train --ladder), or the id of a registered model. A file whose\ncontent was altered is refused (exit 2). Without --batches, a model evaluated on its\nown training data uses the batches it held out. A ladder is replayed batch by batch\nthrough the live predictor; the forecast current at each --fractions of batch time\nis scored (MAPE, RMSE, coverage of its interval), per batch and over all batches.\nA prediction whose input lies more than 2 training SDs outside the training range of\nsome feature is flagged (warning on stderr, `extrapolation` in --json; exit 0)."
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
    /// Ladders only: fractions of batch time at which the current forecast
    /// is scored (comma list in (0, 1]; default 0.1,0.2,...,1.0). The
    /// serial hybrid on IndPenSim: in [0, 1], 0 = from the recipe alone
    /// (default 0,0.1,...,1.0).
    #[arg(long, value_delimiter = ',')]
    pub fractions: Vec<f64>,
    /// The serial hybrid on IndPenSim: allow the pre-registered held-out
    /// batches B16-B20 of training-data/indpensim (docs/hybrid.md).
    #[arg(long)]
    pub held_out: bool,
}

/// What MODEL names, decided here and nowhere else.
pub(crate) enum Evaluable {
    /// A sealed single-model artifact (file, directory or registry id),
    /// with the batches held out at its training and a description.
    Artifact(Box<Artifact>, Vec<String>, String),
    /// A sealed live surrogate ladder file.
    Ladder(std::sync::Arc<crate::live::surrogate::SharedLadder>, String),
}

/// Whether `path` is a sealed ladder file (its content key is `ladder`).
fn is_ladder_file(path: &Path) -> bool {
    path.is_file()
        && std::fs::read(path)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .is_some_and(|v| v.get("ladder").is_some())
}

/// MODEL as given on the command line: a ladder file, else an artifact
/// (path or registry id).
pub(crate) fn resolve_any(model: &str, registry: &Path) -> Result<Evaluable, CliError> {
    let p = Path::new(model);
    if is_ladder_file(p) {
        crate::registry::verify_enclosing(p)?;
        let shared = crate::live::surrogate::SharedLadder::load(p)?;
        return Ok(Evaluable::Ladder(shared, p.display().to_string()));
    }
    let (a, held, source) = resolve(model, registry)?;
    Ok(Evaluable::Artifact(Box::new(a), held, source))
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
) -> Result<(Artifact, Vec<String>, String), biotwin_ml::Error> {
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
        return Err(biotwin_ml::Error::input(
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

pub fn run(a: Args) -> Result<(), CliError> {
    let (artifact, held, source) = match resolve_any(&a.model, &a.registry)? {
        Evaluable::Artifact(artifact, held, source) => (*artifact, held, source),
        Evaluable::Ladder(shared, source) => return run_ladder(&a, shared, &source),
    };
    if let crate::surrogates::artifact::SurrogateModel::IndPenSimSerialHybrid(m) = &artifact.model {
        return indpensim::run(
            &a,
            m,
            &held,
            artifact.training_data_hash.as_deref(),
            &source,
        )
        .map_err(CliError::from);
    }
    if a.held_out {
        return Err(Error::input(
            "<command line>",
            "--held-out",
            "a serial hybrid on IndPenSim as MODEL",
            artifact.model.kind().to_string(),
        )
        .into());
    }
    if !a.fractions.is_empty() {
        return Err(Error::input(
            "<command line>",
            "--fractions",
            "a live surrogate ladder as MODEL (a single model has one cut-off)",
            source,
        )
        .into());
    }
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
                )
                .into());
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
            )
            .into());
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
    let extrapolation = extrapolation_checks(&artifact, &ev);
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
                serde_json::json!({"batch": b, "targets": t, "extrapolation": extrapolation[i]})
            })
            .collect();
        let v = serde_json::json!({
            "model": source,
            "dataset": ds.name,
            "dataset_hash": ds.content_hash,
            "dataset_is_training_data": ev.dataset_is_training_data,
            "metrics": all,
            "extrapolation_threshold_sd": crate::surrogates::extrapolation::THRESHOLD_SD,
            "predictions": rows,
        });
        let text = serde_json::to_string_pretty(&v).map_err(|e| Error::io(p, e))?;
        crate::output::atomic::write_atomic(p, text.as_bytes())?;
        outln!("metrics written to {}", p.display());
    }
    Ok(())
}

/// The extrapolation check of every evaluated batch's input, with a
/// warning on stderr for each flagged one.
fn extrapolation_checks(
    artifact: &Artifact,
    ev: &crate::surrogates::train::Evaluation,
) -> Vec<Option<crate::surrogates::extrapolation::Extrapolation>> {
    let Some(range) = artifact.feature_range() else {
        outln!(
            "note: this model does not record its training range (saved before the extrapolation check): inputs not checked"
        );
        return vec![None; ev.batch_ids.len()];
    };
    let checks: Vec<_> = (0..ev.batch_ids.len())
        .map(|i| {
            let x: Vec<f64> = ev.features.row(i).iter().copied().collect();
            crate::surrogates::extrapolation::check(&range, &artifact.feature_names, &x)
        })
        .collect();
    let mut flagged = 0;
    for (b, e) in ev.batch_ids.iter().zip(&checks) {
        if let Some(e) = e.as_ref().filter(|e| e.flagged) {
            flagged += 1;
            eprintln!("{}", e.warning(&format!("batch {b}")));
        }
    }
    if flagged > 0 {
        outln!(
            "extrapolation: {flagged} of {} predictions flagged (input > {} training SDs outside the training range)",
            ev.batch_ids.len(),
            crate::surrogates::extrapolation::THRESHOLD_SD
        );
    }
    checks
}

/// `--parity` and `--extrapolation` read a feature-based model's rows;
/// for MODEL kinds without them they are refused, naming the flag.
pub(crate) fn refuse_feature_options(a: &Args, expected: &str, source: &str) -> Result<(), Error> {
    for (given, flag) in [
        (a.parity.is_some(), "--parity"),
        (!a.extrapolation.is_empty(), "--extrapolation"),
    ] {
        if given {
            return Err(Error::input(
                "<command line>",
                flag,
                expected,
                source.to_string(),
            ));
        }
    }
    Ok(())
}

/// A ladder as MODEL: the options of single models do not apply.
fn run_ladder(
    a: &Args,
    shared: std::sync::Arc<crate::live::surrogate::SharedLadder>,
    source: &str,
) -> Result<(), CliError> {
    refuse_feature_options(
        a,
        "a single-model artifact as MODEL (not supported for a ladder)",
        source,
    )?;
    let fractions = if a.fractions.is_empty() {
        crate::live::surrogate::evaluate::default_fractions()
    } else {
        a.fractions.clone()
    };
    if let Some(f) = fractions.iter().find(|f| !(**f > 0.0 && **f <= 1.0)) {
        return Err(Error::input(
            "<command line>",
            "--fractions",
            "fractions of batch time in (0, 1]",
            f.to_string(),
        )
        .into());
    }
    let ds = Dataset::load(&a.dataset)?;
    for id in &a.batches {
        if ds.batch(id).is_none() {
            return Err(Error::input(
                ds.dir.join(crate::data::dataset::MANIFEST_FILE),
                "--batches",
                "batch ids of the dataset",
                format!("`{id}`"),
            )
            .into());
        }
    }
    super::evaluate_ladder::run(
        shared,
        source,
        &ds,
        &a.batches,
        &fractions,
        a.json.as_deref(),
    )
}
