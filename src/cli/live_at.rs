//! `biotwin live --at F1,F2,...`: the forecast that was current at chosen
//! fractions of each batch's planned duration, read back from the store.
//!
//! The forecast current at fraction f is the last one recorded whose batch
//! time of information (`forecast.time_s`) is at or before f·D, D the
//! planned duration (planned end − start in the site file): what QA saw at
//! that moment, not a recomputation.

use super::CliError;
use crate::error::Error;
use crate::live::config::SiteConfig;
use crate::live::{PredictionRecord, Store};

/// Refuses fractions outside (0, 1].
pub(crate) fn check(at: &[f64]) -> Result<(), CliError> {
    if let Some(f) = at.iter().find(|f| !(**f > 0.0 && **f <= 1.0)) {
        return Err(Error::input(
            "<command line>",
            "--at",
            "fractions of the planned batch duration in (0, 1]",
            f.to_string(),
        )
        .into());
    }
    Ok(())
}

/// The record current at batch time `t_s`: the last whose information time
/// is at or before it.
pub(crate) fn current_at(records: &[PredictionRecord], t_s: f64) -> Option<&PredictionRecord> {
    records
        .iter()
        .filter(|p| p.forecast.time_s <= t_s)
        .max_by_key(|p| p.seq)
}

pub(crate) fn print_at(cfg: &SiteConfig, store: &dyn Store, at: &[f64]) -> Result<(), CliError> {
    let mut at = at.to_vec();
    at.sort_by(f64::total_cmp);
    for b in &cfg.batches {
        let records = store.predictions(&b.tenant, &b.id)?;
        let d = b.planned_end_unix_s - b.start_unix_s;
        outln!(
            "batch {} ({}): forecasts current at chosen fractions of the planned {:.1} h",
            b.id,
            b.tenant,
            d / 3600.0
        );
        outln!(
            "  {:>6} {:>8}  {:>8} {:<26} {:>10}  {:>23}  {:>10}  {}",
            "at %",
            "at h",
            "forecast",
            "end-of-batch CQA",
            "mean",
            "90 % interval",
            "P(in spec)",
            "made at h, model"
        );
        for &f in &at {
            let t = f * d;
            let Some(p) = current_at(&records, t) else {
                outln!(
                    "  {:>6.0} {:>8.1}  no forecast yet at that time",
                    100.0 * f,
                    t / 3600.0
                );
                continue;
            };
            let flag = p
                .forecast
                .state
                .iter()
                .find(|s| s.0 == crate::live::surrogate::STATE_EXTRAPOLATION_FLAG)
                .is_some_and(|s| s.1 > 0.0);
            for c in &p.forecast.cqas {
                outln!(
                    "  {:>6.0} {:>8.1}  {:>8} {:<26} {:>10.4}  [{:>10.4}, {:>10.4}]  {:>10}  {:.1} h, {}{}",
                    100.0 * f,
                    t / 3600.0,
                    p.seq + 1,
                    c.name,
                    c.mean,
                    c.p05,
                    c.p95,
                    c.p_in_spec.map_or("-".into(), |v| format!("{v:.3}")),
                    p.forecast.time_s / 3600.0,
                    p.model_id,
                    if flag { " (EXTRAPOLATION)" } else { "" }
                );
            }
        }
    }
    Ok(())
}
