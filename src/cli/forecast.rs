//! `biotwin forecast --dataset DIR --batch Bnn --at 50%`: the IndPenSim
//! ensemble Kalman filter (`docs/indpensim-forecast.md`, registered
//! settings) run over a recorded batch's historian export up to chosen
//! fractions of the 230-h batch, and its forecast of the final penicillin
//! with the 90 % interval at each, beside the recorded final value.
//!
//! The filter is the evaluation harness's
//! (`biotwin_ml::indpensim_forecast::run_record`) and the live predictor's
//! (`predictor = "indpensim-enkf:PATH"`): on the same record with the same
//! forecast members the three give the same numbers. The record is
//! replayed as exported (noise-free, as live replays it) unless
//! `--measurement-noise` adds the evaluation's seeded sensor noise.

use std::path::PathBuf;

use biotwin_ml::data::indpensim::read_recipe;
use biotwin_ml::data::indpensim_historian::{batch_start, batch_value, read_historian_with};
use biotwin_ml::indpensim_forecast::{
    EvalSettings, HeldOutRefusal, add_noise, batch_seed, check_held_out, run_record, step_of,
};

use crate::bioreactor::indpensim::{N_STEPS, STEP_H};
use biotwin_ml::Error;

#[derive(clap::Args, Debug)]
#[command(
    about = "Forecast an IndPenSim batch's final penicillin with the ensemble Kalman filter at chosen fractions of batch time (90 % interval)",
    after_help = "Examples:\n  biotwin forecast --dataset training-data/indpensim --batch B03 --at 50%\n  biotwin forecast --dataset training-data/indpensim --batch B03 --at 25%,50%,75% --json b03.json\n  biotwin forecast --dataset training-data/indpensim --batch B03 --at 50% --forecast-members 16 --measurement-noise\n\nThe filter reads the batch's recipe plan, its online tags every 12 min (measured values,
controller flows and the recipe inputs as applied; --plan-inputs: the plan's instead) and its lab samples\nat their sample time up to each fraction f of the 230-h batch (never its true parameters),\nthen runs its members to 230 h: mean and 5-95 % quantiles of their final penicillin.\nSettings are the registered ones of docs/indpensim-forecast.md. B16-B20 are that\ndocument's pre-registered held-out batches: refused unless --held-out. A forecast from\nearly in the batch runs each member over most of the batch (48 members from 50 %: about\n5 s on one core); --forecast-members N runs only the first N."
)]
pub struct Args {
    /// IndPenSim data set directory (recipes.json, batches.csv, batches/).
    #[arg(long)]
    pub dataset: PathBuf,
    /// Batch id, e.g. B03.
    #[arg(long)]
    pub batch: String,
    /// Fractions of the 230-h batch: `50%` or `0.5` (comma list).
    #[arg(long, value_delimiter = ',', required = true)]
    pub at: Vec<String>,
    /// Members run to 230 h in each forecast (2-48; default all 48, as
    /// registered).
    #[arg(long)]
    pub forecast_members: Option<usize>,
    /// Add the evaluation's seeded measurement noise to the record
    /// (docs/indpensim-forecast.md, "Measurement noise").
    #[arg(long)]
    pub measurement_noise: bool,
    /// Step the filter's members with the recipe plan's set-points only
    /// (the plan-only filter as pre-registered), instead of the recipe
    /// inputs as applied (sugar and oil feed, aeration, back pressure,
    /// discharge, water feed from the historian; the default).
    #[arg(long, conflicts_with = "applied_inputs")]
    pub plan_inputs: bool,
    /// Step the members with the recipe inputs as applied (the default),
    /// named explicitly; --held-out needs this or --plan-inputs.
    #[arg(long)]
    pub applied_inputs: bool,
    /// Allow the pre-registered held-out batches B16-B20.
    #[arg(long)]
    pub held_out: bool,
    /// Write the forecasts as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// `50%` or `0.5` → 0.5, in (0, 1].
fn fraction(text: &str) -> Result<f64, Error> {
    let t = text.trim();
    let v = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|v| v / 100.0),
        None => t.parse::<f64>(),
    };
    match v {
        Ok(f) if f > 0.0 && f <= 1.0 => Ok(f),
        _ => Err(Error::input(
            "<command line>",
            "--at",
            "fractions of the 230-h batch in (0, 1], as `50%` or `0.5`",
            format!("`{t}`"),
        )),
    }
}

pub fn run(a: Args) -> Result<(), Error> {
    match check_held_out(
        std::slice::from_ref(&a.batch),
        a.held_out,
        a.plan_inputs || a.applied_inputs,
    ) {
        Ok(()) => {}
        Err(HeldOutRefusal::NotAskedFor { batch }) => {
            return Err(Error::input(
                "<command line>",
                "--batch",
                "a batch outside the pre-registered held-out set B16-B20 of docs/indpensim-forecast.md (or --held-out for the protocol's run)",
                format!("`{batch}`"),
            ));
        }
        Err(HeldOutRefusal::FilterUnnamed { .. }) => {
            return Err(Error::input(
                "<command line>",
                "--held-out",
                "with a held-out batch, the filter named: --plan-inputs (the pre-registered plan-only filter) or --applied-inputs (the default since the registration)",
                "neither",
            ));
        }
    }
    let fractions =
        a.at.iter()
            .map(|t| fraction(t))
            .collect::<Result<Vec<f64>, Error>>()?;
    let mut s = EvalSettings::default();
    let members = s.filter.members;
    if let Some(n) = a.forecast_members {
        if !(2..=members).contains(&n) {
            return Err(Error::input(
                "<command line>",
                "--forecast-members",
                format!("2 to {members} (the filter's registered ensemble size)"),
                n.to_string(),
            ));
        }
    }
    s.forecast_members = a.forecast_members;
    s.filter.applied_inputs = !a.plan_inputs;
    s.fractions = fractions.clone();
    if !super::simulate_indpensim::is_dataset(&a.dataset) {
        return Err(Error::input(
            &a.dataset,
            "--dataset",
            "an IndPenSim data set directory (recipes.json, initial_conditions.csv, batches.csv, batches/<id>_historian.csv.gz)",
            "no such directory or files",
        ));
    }
    let dir = &a.dataset;
    let recipe = read_recipe(&dir.join("recipes.json"), &a.batch)?;
    let start = batch_start(dir, &a.batch)?;
    let last = fractions.iter().map(|&f| step_of(f)).max().unwrap_or(0);
    let path = dir
        .join("batches")
        .join(format!("{}_historian.csv.gz", a.batch));
    // With the evaluation's noise the whole record is read, as the
    // evaluation reads it: the noise is one seeded stream over every step
    // and lab sample, so a shorter record would draw it differently (the
    // filter still stops at the last requested fraction).
    let read_to = if a.measurement_noise { N_STEPS } else { last };
    let mut record = read_historian_with(&path, &start, read_to, !a.plan_inputs)?;
    if a.measurement_noise {
        record = add_noise(&record, &s.data_noise, batch_seed(s.noise_seed, &a.batch));
    }
    let truth = batch_value(dir, &a.batch, "final_P_gL")?;
    let out = run_record(&recipe, &record, truth, &a.batch, &s)?;
    let n = a.forecast_members.unwrap_or(members);
    outln!(
        "IndPenSim batch {}: ensemble Kalman filter, {members} members, registered settings (docs/indpensim-forecast.md), members stepped with {}; forecasts run {n} member{} to {:.0} h; record {}",
        a.batch,
        if a.plan_inputs {
            "the recipe plan (--plan-inputs)"
        } else {
            "the recipe inputs as applied"
        },
        if n == 1 { "" } else { "s" },
        N_STEPS as f64 * STEP_H,
        if a.measurement_noise {
            "with the evaluation's seeded measurement noise"
        } else {
            "as exported (no added noise)"
        }
    );
    outln!(
        "  {:>6} {:>7}  {:>10}  {:>18}  {:>10}  {:>6}  {}",
        "at %",
        "at h",
        "mean g/L",
        "90 % interval g/L",
        "recorded",
        "APE %",
        "parameters (mean ± sd)"
    );
    for p in &out.points {
        let params: Vec<String> = p
            .parameters
            .iter()
            .map(|(n, m, s)| format!("{n} {m:.4} ± {s:.4}"))
            .collect();
        outln!(
            "  {:>5.1}% {:>7.1}  {:>10.3}  [{:>7.3}, {:>7.3}]  {:>10.3}  {:>6.2}  {}{}",
            p.fraction * 100.0,
            p.time_h,
            p.mean_g_per_l,
            p.p05_g_per_l,
            p.p95_g_per_l,
            truth,
            p.ape_pct,
            params.join(", "),
            if p.covered {
                ""
            } else {
                "  (recorded final outside the interval)"
            }
        );
        if p.applied_inputs_missing > 0 {
            outln!(
                "          applied recipe inputs missing from the record so far (the plan's set-point used): {}",
                p.applied_inputs_missing
            );
        }
        if p.forecast_members_failed > 0 || p.members_replaced > 0 {
            outln!(
                "          members replaced in the filter {}, failed in this forecast {}",
                p.members_replaced,
                p.forecast_members_failed
            );
        }
    }
    if let Some(path) = &a.json {
        let v = serde_json::json!({
            "dataset": dir.display().to_string(),
            "batch": a.batch,
            "filter_members": members,
            "forecast_members": n,
            "measurement_noise": a.measurement_noise,
            "applied_inputs": !a.plan_inputs,
            "recorded_final_g_per_l": truth,
            "points": out.points,
        });
        let text = serde_json::to_string_pretty(&v).map_err(|e| Error::io(path, e.to_string()))?;
        crate::output::write_atomic(path, text.as_bytes())?;
        outln!("written {}", path.display());
    }
    Ok(())
}
