//! `biotwin evaluate` of the serial hybrid on the IndPenSim backbone: each
//! batch simulated from its recipe plan and start, and conditioned on its
//! record at each `--fractions` of batch time (0 = from the recipe alone);
//! the forecast of final penicillin scored against the recorded final value
//! (`batches.csv` `final_P_gL`): APE, 90 % interval coverage, per batch and
//! per fraction (MAPE, coverage). The record is read with the ensemble
//! Kalman filter evaluation's seeded measurement noise
//! (`docs/indpensim-forecast.md`), so the two are scored on the same
//! readings.

use std::collections::BTreeMap;

use super::Args;
use crate::data::Dataset;
use crate::surrogates::hybrid::indpensim::{PenForecast, PenHybridModel, forecast_batches};
use biotwin_ml::Error;

/// The batches of `docs/indpensim-forecast.md`'s pre-registered held-out
/// test, refused without `--held-out`.
use biotwin_ml::indpensim_forecast::HELD_OUT;

pub fn run(
    a: &Args,
    model: &PenHybridModel,
    held: &[String],
    training_hash: Option<&str>,
    source: &str,
) -> Result<(), Error> {
    super::refuse_feature_options(
        a,
        "a feature-based model (not supported for the serial hybrid on IndPenSim)",
        source,
    )?;
    let fractions = if a.fractions.is_empty() {
        (0..=10).map(|i| i as f64 / 10.0).collect()
    } else {
        a.fractions.clone()
    };
    if let Some(f) = fractions.iter().find(|f| !(0.0..=1.0).contains(*f)) {
        return Err(Error::input(
            "<command line>",
            "--fractions",
            "fractions of batch time in [0, 1] (0: from the recipe alone)",
            f.to_string(),
        ));
    }
    let ds = Dataset::load(&a.dataset)?;
    let is_training = training_hash == Some(ds.content_hash.as_str());
    let batches: Vec<String> = if !a.batches.is_empty() {
        a.batches.clone()
    } else if is_training && !held.is_empty() {
        held.to_vec()
    } else {
        return Err(Error::input(
            "<command line>",
            "--batches",
            "the batches to evaluate (the model held none out of this dataset)",
            "none",
        ));
    };
    for id in &batches {
        if ds.batch(id).is_none() {
            return Err(Error::input(
                ds.dir.join(crate::data::dataset::MANIFEST_FILE),
                "--batches",
                "batch ids of the dataset",
                format!("`{id}`"),
            ));
        }
        if !a.held_out && ds.name == "indpensim" && HELD_OUT.contains(&id.as_str()) {
            return Err(Error::input(
                "<command line>",
                "--batches",
                format!(
                    "batches other than the pre-registered held-out {} (add --held-out for the protocol's one run)",
                    HELD_OUT.join(", ")
                ),
                format!("`{id}`"),
            ));
        }
    }
    let trained_on: Vec<&String> = batches
        .iter()
        .filter(|b| is_training && model.training_batches.contains(b))
        .collect();
    let rows = forecast_batches(model, &a.dataset, &batches, &fractions)?;
    outln!("model {source}: indpensim-serial-hybrid predicting final_penicillin");
    outln!(
        "dataset {} ({} batches evaluated: {}); readings with the filter evaluation's seeded noise",
        ds.name,
        rows.len(),
        batches.join(",")
    );
    if !trained_on.is_empty() {
        outln!(
            "note: {} of these batches were used to fit the model: their errors are training errors (in-sample)",
            trained_on.len()
        );
    }
    // Per fraction: MAPE and coverage.
    let mut summary = Vec::new();
    outln!(
        "{:>9} {:>3} {:>9} {:>12}",
        "fraction",
        "n",
        "MAPE %",
        "cover90 %"
    );
    for (i, f) in fractions.iter().enumerate() {
        let pts: Vec<(f64, &PenForecast)> = rows.iter().map(|(_, t, p)| (*t, &p[i])).collect();
        let n = pts.len() as f64;
        let mape = pts
            .iter()
            .map(|(t, p)| ((p.mean_g_per_l - t) / t).abs() * 100.0)
            .sum::<f64>()
            / n;
        let cover = pts
            .iter()
            .filter(|(t, p)| p.p05_g_per_l <= *t && *t <= p.p95_g_per_l)
            .count() as f64
            / n
            * 100.0;
        outln!(
            "{:>8.0}% {:>3} {:>9.2} {:>12.0}",
            f * 100.0,
            pts.len(),
            mape,
            cover
        );
        summary.push(serde_json::json!({
            "fraction": f, "n": pts.len(), "mape_pct": mape, "coverage_90_pct": cover,
        }));
    }
    outln!("per batch (mean [p05, p95] g/L, APE %):");
    for (id, truth, pts) in &rows {
        let cells: Vec<String> = pts
            .iter()
            .map(|p| {
                format!(
                    "{:.0} %: {:.2} [{:.2}, {:.2}] {:.2}{}",
                    p.fraction * 100.0,
                    p.mean_g_per_l,
                    p.p05_g_per_l,
                    p.p95_g_per_l,
                    ((p.mean_g_per_l - truth) / truth).abs() * 100.0,
                    if p.p05_g_per_l <= *truth && *truth <= p.p95_g_per_l {
                        ""
                    } else {
                        " (out)"
                    }
                )
            })
            .collect();
        outln!("  {id} truth {truth:.2}: {}", cells.join("; "));
    }
    if let Some(p) = &a.json {
        let per_batch: Vec<serde_json::Value> = rows
            .iter()
            .map(|(id, truth, pts)| {
                let points: Vec<serde_json::Value> = pts
                    .iter()
                    .map(|p| {
                        serde_json::json!({
                            "fraction": p.fraction,
                            "time_h": p.time_h,
                            "mean_g_per_l": p.mean_g_per_l,
                            "p05_g_per_l": p.p05_g_per_l,
                            "p95_g_per_l": p.p95_g_per_l,
                            "ape_pct": ((p.mean_g_per_l - truth) / truth).abs() * 100.0,
                            "covered": p.p05_g_per_l <= *truth && *truth <= p.p95_g_per_l,
                            "conditioning_factor": p.conditioning_factor,
                        })
                    })
                    .collect();
                serde_json::json!({"batch": id, "truth_final_g_per_l": truth, "points": points})
            })
            .collect();
        let mut v = BTreeMap::new();
        v.insert("model", serde_json::json!(source));
        v.insert("kind", serde_json::json!("indpensim-serial-hybrid"));
        v.insert("dataset", serde_json::json!(ds.name));
        v.insert("dataset_hash", serde_json::json!(ds.content_hash));
        v.insert("batches_used_in_training", serde_json::json!(trained_on));
        v.insert("summary", serde_json::json!(summary));
        v.insert("batches", serde_json::json!(per_batch));
        let text = serde_json::to_string_pretty(&v).map_err(|e| Error::io(p, e))?;
        crate::output::atomic::write_atomic(p, text.as_bytes())?;
        outln!("metrics written to {}", p.display());
    }
    Ok(())
}
