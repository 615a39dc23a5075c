//! The IndPenSim ensemble Kalman filter's forecasts of final penicillin,
//! scored on recorded batches (`docs/indpensim-forecast.md`).
//!
//! ```sh
//! cargo run --release -p biotwin-ml --example indpensim_forecast -- \
//!   training-data/indpensim B01,B02,B03 [--fractions 0.1,0.25,...] [--json out.json] [--held-out]
//! ```
//!
//! Any directory in the format of `training-data/indpensim` works (e.g. the
//! extra pensimpy batches `training-data/indpensim-extra`).
//! `--forecast-members N` runs each forecast with the first N of the
//! filter's members (the filter itself is unchanged; default: all, as
//! registered). `--plan-inputs` runs the plan-only filter (members
//! stepped with the recipe plan's set-points instead of the applied recipe
//! inputs the historian records; `estimate::Settings::applied_inputs`).
//!
//! `--applied-inputs` names the default (the applied recipe inputs) explicitly.
//! Each batch outcome of `--json` records which filter ran
//! (`applied_inputs`).
//!
//! B16–B20 are the pre-registered held-out batches: they are refused
//! unless `--held-out` is given (the one run of the protocol), and then
//! only with `--plan-inputs` (the pre-registered filter) or
//! `--applied-inputs` named: the default filter changed after the
//! registration.

use std::path::PathBuf;

use biotwin_core::bioreactor::indpensim::Integrator;
use biotwin_ml::indpensim_forecast::{EvalSettings, check_held_out, evaluate_batch, summarise};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        eprintln!(
            "usage: indpensim_forecast DATASET B01,B02,... [--members N] [--forecast-members N] [--integrator dopri5|etdrk4:N] [--plan-inputs | --applied-inputs] [--json FILE] [--held-out]"
        );
        std::process::exit(2);
    }
    let dir = PathBuf::from(&args[0]);
    let batches: Vec<String> = args[1].split(',').map(str::to_string).collect();
    let mut settings = EvalSettings::default();
    let mut json: Option<PathBuf> = None;
    let mut held_out_ok = false;
    // `--plan-inputs` or `--applied-inputs`, if given.
    let mut inputs_flag: Option<&str> = None;
    let mut i = 2;
    while i < args.len() {
        match args[i].as_str() {
            "--members" => {
                settings.filter.members = args[i + 1].parse().expect("--members N");
                i += 1;
            }
            "--forecast-members" => {
                settings.forecast_members =
                    Some(args[i + 1].parse().expect("--forecast-members N"));
                i += 1;
            }
            "--integrator" => {
                // dopri5 or etdrk4:SUBSTEPS (`simulate::Integrator`).
                let v = &args[i + 1];
                settings.filter.accuracy.integrator = match v.split_once(':') {
                    None if v == "dopri5" => Integrator::Dopri5,
                    Some(("etdrk4", n)) => Integrator::Etdrk4 {
                        substeps: n.parse().expect("--integrator etdrk4:SUBSTEPS"),
                    },
                    _ => panic!("--integrator dopri5 | etdrk4:SUBSTEPS, found {v}"),
                };
                i += 1;
            }
            "--rtps" => {
                settings.filter.rtps = args[i + 1].parse().expect("--rtps X");
                i += 1;
            }
            "--online-var" => {
                settings.filter.online_variance_factor =
                    args[i + 1].parse().expect("--online-var X");
                i += 1;
            }
            "--online" => {
                let mask: Vec<bool> = args[i + 1].chars().map(|c| c == '1').collect();
                settings.filter.online_used.copy_from_slice(&mask);
                i += 1;
            }
            "--fractions" => {
                settings.fractions = args[i + 1]
                    .split(',')
                    .map(|f| f.parse().expect("--fractions 0.1,0.5,..."))
                    .collect();
                i += 1;
            }
            "--json" => {
                json = Some(PathBuf::from(&args[i + 1]));
                i += 1;
            }
            "--held-out" => held_out_ok = true,
            // The plan-only filter as pre-registered (the recipe plan's
            // set-points instead of the applied recipe inputs).
            "--plan-inputs" | "--applied-inputs" => {
                let flag = args[i].as_str();
                if let Some(other) = inputs_flag.filter(|o| *o != flag) {
                    eprintln!("{other} and {flag}: choose one");
                    std::process::exit(2);
                }
                inputs_flag = Some(flag);
                settings.filter.applied_inputs = flag == "--applied-inputs";
            }
            other => {
                eprintln!("unknown argument `{other}`");
                std::process::exit(2);
            }
        }
        i += 1;
    }
    if let Err(why) = check_held_out(&batches, held_out_ok, inputs_flag.is_some()) {
        eprintln!("{why}");
        std::process::exit(2);
    }
    println!("settings: {settings:?}");
    let mut outcomes = Vec::new();
    // A batch on which the filter or a forecast stops is reported and the
    // others are still run (a failed batch is a result, not a reason to
    // lose the rest); the exit status is then 1.
    let mut failed: Vec<(String, String)> = Vec::new();
    for b in &batches {
        let t0 = std::time::Instant::now();
        let o = match evaluate_batch(&dir, b, &settings) {
            Ok(o) => o,
            Err(e) => {
                eprintln!("{b}: {e}");
                println!("{b}: FAILED ({:.1} s): {e}", t0.elapsed().as_secs_f64());
                failed.push((b.clone(), e.to_string()));
                continue;
            }
        };
        println!(
            "{b}: truth {:.3} g/L ({:.1} s)",
            o.truth_final_g_per_l,
            t0.elapsed().as_secs_f64()
        );
        for p in &o.points {
            let params: Vec<String> = p
                .parameters
                .iter()
                .map(|(n, m, s)| format!("{n} {m:.4}±{s:.4}"))
                .collect();
            println!(
                "  {:>4.0} % {:>6.1} h  {:7.3} [{:7.3}, {:7.3}]  APE {:5.2} %  {}  {} (replaced {}, failed {}, capped {}, rejected {}, plan for missing applied {})",
                p.fraction * 100.0,
                p.time_h,
                p.mean_g_per_l,
                p.p05_g_per_l,
                p.p95_g_per_l,
                p.ape_pct,
                if p.covered { "in " } else { "OUT" },
                params.join(", "),
                p.members_replaced,
                p.forecast_members_failed,
                p.forecast_members_capped,
                p.readings_rejected,
                p.applied_inputs_missing
            );
        }
        outcomes.push(o);
    }
    if !failed.is_empty() {
        let ids: Vec<&str> = failed.iter().map(|f| f.0.as_str()).collect();
        println!(
            "\nnot scored (stopped with an error): {} — the summary below is over the other {} batches",
            ids.join(", "),
            outcomes.len()
        );
    }
    println!("\nfraction  MAPE %  coverage  n");
    for (f, mape, cov, n) in summarise(&outcomes) {
        println!(
            "{:>6.0} %  {:6.2}  {:7.0} %  {n}",
            f * 100.0,
            mape,
            cov * 100.0
        );
    }
    if let Some(path) = json {
        let text = serde_json::to_string_pretty(&outcomes).expect("serialise");
        biotwin_core::output::write_atomic(&path, text.as_bytes()).expect("write json");
        println!("written {}", path.display());
    }
    if !failed.is_empty() {
        std::process::exit(1);
    }
}
