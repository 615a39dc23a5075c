//! `biotwin evaluate` on a live surrogate ladder: the batches are replayed
//! through the live predictor ([`crate::live::surrogate::evaluate`]) and the
//! forecast current at each fraction of batch time is scored: MAPE, RMSE
//! and interval coverage per fraction, per batch and aggregated.

use std::path::Path;
use std::sync::Arc;

use super::CliError;
use crate::data::Dataset;
use crate::error::Error;
use crate::live::surrogate::SharedLadder;
use crate::live::surrogate::evaluate::{LadderEvaluation, evaluate_ladder};

/// Which batches to evaluate, and what the console must say about them.
fn choose_batches(shared: &SharedLadder, ds: &Dataset, given: &[String]) -> Vec<String> {
    let l = &shared.ladder;
    if !given.is_empty() {
        return given.to_vec();
    }
    if l.training_data_hash == ds.content_hash {
        let held: Vec<String> = ds
            .batch_ids()
            .into_iter()
            .filter(|b| !l.training_batches.contains(b))
            .collect();
        if !held.is_empty() {
            return held;
        }
    }
    ds.batch_ids()
}

pub(crate) fn run(
    shared: Arc<SharedLadder>,
    source: &str,
    ds: &Dataset,
    batches: &[String],
    fractions: &[f64],
    json: Option<&Path>,
) -> Result<(), CliError> {
    let l = &shared.ladder;
    let ids = choose_batches(&shared, ds, batches);
    let ev = evaluate_ladder(&shared, ds, &ids, fractions)?;
    outln!(
        "model {source}: {} ladder of {} rungs (cuts {}) predicting {}, {:.0} % intervals",
        shared.model_id,
        l.rungs.len(),
        l.config
            .cut_fractions
            .iter()
            .map(|c| format!("{c}"))
            .collect::<Vec<_>>()
            .join(","),
        l.config.targets.join(", "),
        100.0 * l.config.interval_level
    );
    outln!(
        "dataset {} ({} batches evaluated: {}), replayed through the live predictor",
        ds.name,
        ids.len(),
        ids.join(",")
    );
    let same_data = l.training_data_hash == ds.content_hash;
    let trained_on: Vec<&String> = ids
        .iter()
        .filter(|b| l.training_batches.contains(b))
        .collect();
    if !trained_on.is_empty() {
        outln!(
            "note: {} of these batches ({}) {} the ladder's training batches{}: their errors are in-sample, not held-out",
            trained_on.len(),
            trained_on
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(","),
            if same_data { "are" } else { "have the ids of" },
            if same_data {
                ""
            } else {
                " (in a dataset with other content)"
            }
        );
    }
    for e in ev.per_batch.iter().flat_map(|(b, pts)| {
        pts.iter()
            .filter_map(move |p| p.extrapolation.as_ref().map(|e| (b, p, e)))
    }) {
        let (b, p, x) = e;
        if x.flagged {
            eprintln!(
                "{}",
                x.warning(&format!(
                    "batch {b} at {:.0} % of batch time ({})",
                    100.0 * p.fraction,
                    p.target
                ))
            );
        }
    }
    print_tables(&ev);
    if let Some(p) = json {
        let v = serde_json::json!({
            "model": source,
            "model_id": ev.model_id,
            "kind": "surrogate-ladder",
            "dataset": ds.name,
            "dataset_hash": ds.content_hash,
            "dataset_is_training_data": same_data,
            "training_batches_evaluated": trained_on,
            "interval_level": ev.interval_level,
            "extrapolation_threshold_sd": crate::surrogates::extrapolation::THRESHOLD_SD,
            "aggregate": ev.aggregate,
            "per_batch": ev.per_batch.iter().map(|(b, pts)| serde_json::json!({
                "batch": b, "forecasts": pts})).collect::<Vec<_>>(),
        });
        let text = serde_json::to_string_pretty(&v).map_err(|e| Error::io(p, e))?;
        crate::output::atomic::write_atomic(p, text.as_bytes())?;
        outln!("metrics written to {}", p.display());
    }
    Ok(())
}

fn print_tables(ev: &LadderEvaluation) {
    let level = format!("cover{:.0}", 100.0 * ev.interval_level);
    let mut target = "";
    for m in &ev.aggregate {
        if m.target != target {
            target = &m.target;
            outln!("{target}: forecast current at each fraction of batch time, all batches");
            outln!(
                "  {:>6} {:>4} {:>9} {:>12} {:>8} {:>8}",
                "at %",
                "n",
                "MAPE %",
                "RMSE (SI)",
                level,
                "extrap"
            );
        }
        outln!(
            "  {:>6.0} {:>4} {:>9} {:>12} {:>8.2} {:>8}",
            100.0 * m.fraction,
            m.n,
            m.mape_percent.map_or("-".into(), |v| format!("{v:.2}")),
            crate::output::format_sig(m.rmse),
            m.coverage,
            m.n_extrapolation_flagged
        );
    }
    outln!("per batch:");
    outln!(
        "  {:<10} {:<20} {:>6} {:>5} {:>10} {:>10} {:>23} {:>7} {:>3} {:>8}",
        "batch",
        "target",
        "at %",
        "rung",
        "observed",
        "mean",
        "interval",
        "APE %",
        "in",
        "extrapSD"
    );
    for (b, pts) in &ev.per_batch {
        for p in pts {
            outln!(
                "  {:<10} {:<20} {:>6.0} {:>5.2} {:>10.4} {:>10.4} [{:>10.4}, {:>10.4}] {:>7} {:>3} {:>8}",
                b,
                p.target,
                100.0 * p.fraction,
                p.rung_cut_fraction,
                p.observed,
                p.mean,
                p.lower,
                p.upper,
                p.ape_percent.map_or("-".into(), |v| format!("{v:.2}")),
                if p.covered { "yes" } else { "NO" },
                p.extrapolation.as_ref().map_or("-".into(), |e| {
                    format!(
                        "{}{}",
                        crate::output::format_sig(e.sd_beyond_range),
                        if e.flagged { "!" } else { "" }
                    )
                })
            );
        }
    }
}
