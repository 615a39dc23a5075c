//! `biotwin train --model serial-hybrid` on an IndPenSim data set (a
//! directory with `recipes.json` and no `mechanistic.toml`): the serial
//! hybrid on the IndPenSim backbone
//! (`biotwin_ml::surrogates::hybrid::indpensim`, docs/hybrid.md). Trains on
//! every batch not in `--holdout`; held-out batches are not touched here
//! (score them with `biotwin evaluate`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::Args;
use crate::data::Dataset;
use crate::registry::{Registry, current_user};
use crate::surrogates::artifact::{Artifact, SurrogateModel};
use crate::surrogates::hybrid::indpensim::{
    FEATURES, PenBatch, PenHybridModel, PenHybridParams, fit, load_batch,
};
use crate::surrogates::metrics::{Metrics, Z_95};
use biotwin_ml::Error;

/// The target this model predicts.
pub const TARGET: &str = "final_penicillin";

/// Whether `dir` is an IndPenSim data set for the serial hybrid: a recipe
/// plan per batch (`recipes.json`) and no mechanistic mapping file.
pub fn is_indpensim(dir: &Path) -> bool {
    dir.join("recipes.json").is_file()
        && !dir
            .join(crate::surrogates::hybrid::mechanistic::FILE)
            .is_file()
}

/// In-sample metrics of the fitted model on its training batches at each
/// interval fraction (`in_sample/final_penicillin@<f>%`).
fn in_sample_metrics(
    model: &PenHybridModel,
    batches: &[PenBatch],
) -> Result<BTreeMap<String, Metrics>, Error> {
    let fractions = model.params.interval_fractions.clone();
    let mut per: Vec<Vec<(f64, f64, f64)>> = vec![Vec::new(); fractions.len()];
    for b in batches {
        let Some(truth) = b.final_p_g_per_l else {
            continue;
        };
        for (i, f) in model.forecasts(b, &fractions, true)?.iter().enumerate() {
            per[i].push((truth, f.mean_g_per_l, model.log_sd_at(f.fraction)));
        }
    }
    let mut out = BTreeMap::new();
    for (f, rows) in fractions.iter().zip(per) {
        let n = rows.len();
        if n == 0 {
            continue;
        }
        let nf = n as f64;
        let rmse = (rows.iter().map(|(y, m, _)| (y - m).powi(2)).sum::<f64>() / nf).sqrt();
        let mape = rows
            .iter()
            .map(|(y, m, _)| ((m - y) / y).abs())
            .sum::<f64>()
            / nf
            * 100.0;
        let mean_y = rows.iter().map(|r| r.0).sum::<f64>() / nf;
        let sst: f64 = rows.iter().map(|(y, _, _)| (y - mean_y).powi(2)).sum();
        let sse: f64 = rows.iter().map(|(y, m, _)| (y - m).powi(2)).sum();
        let cover = rows
            .iter()
            .filter(|(y, m, s)| {
                let (lo, hi) = (m * (-Z_95 * s).exp(), m * (Z_95 * s).exp());
                lo <= *y && *y <= hi
            })
            .count() as f64
            / nf;
        out.insert(
            format!("in_sample/{TARGET}@{:.0}%", f * 100.0),
            Metrics {
                n,
                rmse,
                mape_percent: Some(mape),
                r2: (sst > 0.0).then(|| 1.0 - sse / sst),
                coverage_95: cover,
            },
        );
    }
    Ok(out)
}

pub fn run(a: &Args) -> Result<(), Error> {
    if a.target.iter().any(|t| t != TARGET) || a.target.len() != 1 {
        return Err(Error::input(
            "<command line>",
            "--target",
            format!("`{TARGET}` (the serial hybrid on IndPenSim predicts final penicillin)"),
            a.target.join(","),
        ));
    }
    if a.cv.is_some() || a.leave_batch_out || a.edge_of_doe.is_some() || !a.ladder.is_empty() {
        return Err(Error::input(
            "<command line>",
            "validation",
            "--holdout or none for the serial hybrid on IndPenSim (score held-out batches with biotwin evaluate)",
            "--cv, --leave-batch-out, --edge-of-doe or --ladder",
        ));
    }
    let ds = Dataset::load(&a.dataset)?;
    for id in &a.holdout {
        if ds.batch(id).is_none() {
            return Err(Error::input(
                ds.dir.join(crate::data::dataset::MANIFEST_FILE),
                "--holdout",
                "batch ids of the dataset",
                format!("`{id}`"),
            ));
        }
    }
    let ids: Vec<String> = ds
        .batch_ids()
        .into_iter()
        .filter(|b| !a.holdout.contains(b))
        .collect();
    if ids.is_empty() {
        return Err(Error::input(
            "<command line>",
            "--holdout",
            "at least one training batch left",
            "every batch held out",
        ));
    }
    if !a.quiet {
        eprintln!(
            "serial hybrid on IndPenSim: loading {} training batches",
            ids.len()
        );
    }
    let batches: Vec<PenBatch> = ids
        .iter()
        .map(|id| load_batch(&a.dataset, id, true))
        .collect::<Result<_, _>>()?;
    let mut params = PenHybridParams::default();
    if let Some(n) = a.iterations {
        params.max_iterations = n;
    }
    if !a.quiet {
        eprintln!(
            "fitting ({} iterations at most, {} whole-batch simulations each)",
            params.max_iterations,
            batches.len() * (1 + FEATURES.len() + 1)
        );
    }
    let model = fit(
        &params,
        &batches,
        biotwin_core::bioreactor::indpensim::N_STEPS,
    )?;
    let metrics = in_sample_metrics(&model, &batches)?;
    let mut artifact = Artifact::new(
        SurrogateModel::IndPenSimSerialHybrid(Box::new(model.clone())),
        vec![],
        vec![TARGET.to_string()],
        Some(ds.content_hash.clone()),
    );
    artifact.metrics = metrics;
    let label = if a.holdout.is_empty() {
        "none".to_string()
    } else {
        format!("holdout({})", a.holdout.join(","))
    };
    let saved = if let Some(out) = &a.out {
        let file = if out.extension().is_some_and(|e| e == "json") {
            out.clone()
        } else {
            std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
            let info = serde_json::json!({
                "validation": label,
                "held_out": a.holdout,
                "dataset": a.dataset.display().to_string(),
            });
            let text = serde_json::to_string_pretty(&info).map_err(|e| Error::io(out, e))?;
            crate::output::atomic::write_atomic(&out.join("training.json"), text.as_bytes())?;
            out.join("model.json")
        };
        artifact.save(&file)?;
        format!("model written to {}", file.display())
    } else {
        let dir = a
            .registry
            .clone()
            .unwrap_or_else(|| PathBuf::from("models"));
        let user = current_user(a.user.as_deref())?;
        let name = a
            .name
            .clone()
            .unwrap_or_else(|| format!("indpensim-serial-hybrid-{TARGET}"));
        let rec = Registry::new(&dir).register(
            &name,
            &artifact,
            &label,
            &a.holdout,
            Some(&a.dataset.display().to_string()),
            &user,
        )?;
        format!(
            "registered {} in {} by {} (not serving until promoted: biotwin promote {} --registry {} --reason ...)",
            rec.id,
            dir.display(),
            rec.created_by,
            rec.id,
            dir.display()
        )
    };
    let r = &model.report;
    outln!(
        "indpensim-serial-hybrid on {} ({} training batches, training-data hash {})",
        ds.name,
        batches.len(),
        &ds.content_hash[..ds.content_hash.len().min(12)]
    );
    outln!(
        "learned rate: mu_p = {} 1/h * exp(b + w . phi), b = {:.4}",
        params.mu_p_ref_per_h,
        model.weights[0]
    );
    for (j, name) in FEATURES.iter().enumerate() {
        outln!("  w[{name}] = {:.4}", model.weights[1 + j]);
    }
    outln!(
        "{} LM iterations, {} whole-batch simulations; lab penicillin: {} log residuals, RMS {:.4} (in-sample)",
        r.iterations,
        r.simulations,
        r.n_residuals,
        r.rms_log_residual
    );
    outln!("interval scale s_f (log SD of final penicillin, in-sample x sqrt(n/(n-p))):");
    for (f, s) in &model.log_sd_by_fraction {
        outln!("  {:>4.0} %: {:.4}", f * 100.0, s);
    }
    super::super::evaluate::print_metrics(&artifact.metrics);
    outln!("{saved}");
    Ok(())
}
