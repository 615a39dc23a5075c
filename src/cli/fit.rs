//! `biotwin fit`: maximum-likelihood calibration of a process model to a
//! dataset's batch records (docs/fit.md): estimates, Fisher and profile
//! intervals, identifiability verdicts, plots, held-out errors and a
//! calibrated model file, optionally registered.

use std::path::PathBuf;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

use crate::calibration::discrepancy::{Discrepancy, Form, end_points};
use crate::calibration::estimate::{Settings, estimate};
use crate::calibration::report::{self, Context, HeldOut};
use crate::calibration::setup::{Request, check_effects, from_dataset};
use crate::data::Dataset;
use crate::error::Diagnostic;
use crate::output::atomic::write_atomic;
use crate::registry::{Registry, current_user};
use crate::surrogates::hybrid::mechanistic::{FILE as MAPPING_FILE, MechanisticSpec};
use biotwin_ml::Error;

#[derive(clap::Args, Debug)]
#[command(
    about = "Fit process-model parameters to a dataset's batch records by maximum likelihood; report intervals, identifiability and held-out errors; write (and register) the calibrated model",
    after_help = "Examples:\n  biotwin fit --process process-models/processes/cho-platform-3l.toml --dataset training-data/cho-platform \\\n      --parameters model.mu_max,model.beta_lp,model.k_d --observe viable_cells,viability,titer \\\n      --holdout B31,B32,B33,B34,B35,B36 --out fit-cho\n  biotwin fit --process P.toml --dataset DIR --parameters model.mu_max,model.q_mab --out fit --register cho-line-7 --registry models\n\nEach batch is simulated with its own recipe and recorded conditions, mapped from the\ndataset manifest by DATASET/mechanistic.toml (or --mapping; docs/data-format.md).\nWrites OUT/fit.json (schema biotwin.fit/1), OUT/report.md, OUT/plots/<batch>.svg and\nOUT/model.toml (the calibrated model, schema biotwin.calibration/1); see docs/fit.md."
)]
pub struct Args {
    /// Process file whose model is fitted.
    #[arg(long)]
    pub process: PathBuf,
    /// Dataset directory (with dataset.toml).
    #[arg(long)]
    pub dataset: PathBuf,
    /// Addresses to fit, comma-separated (e.g. model.mu_max,model.q_p).
    #[arg(long, value_delimiter = ',', required = true)]
    pub parameters: Vec<String>,
    /// Dataset offline variables to compare (default: all the model predicts).
    #[arg(long, value_delimiter = ',')]
    pub observe: Vec<String>,
    /// Declared measurement SD of a variable, VARIABLE=SD in the dataset's
    /// unit (repeatable); undeclared SDs are estimated with the parameters.
    #[arg(long = "sd")]
    pub sd: Vec<String>,
    /// Batches held out of the fit and predicted from their recipes alone.
    #[arg(long, value_delimiter = ',')]
    pub holdout: Vec<String>,
    /// K-fold cross-validation by whole batches over the fitted batches
    /// (fold f: every K-th batch from the f-th; each fold refitted without
    /// profiles; the reported model is the fit to all of them).
    #[arg(long)]
    pub cv: Option<usize>,
    /// Mapping from manifest parameters to addresses (default
    /// DATASET/mechanistic.toml).
    #[arg(long)]
    pub mapping: Option<PathBuf>,
    /// Output directory.
    #[arg(long)]
    pub out: PathBuf,
    /// Register the calibrated model under this name (kind `mechanistic`).
    #[arg(long)]
    pub register: Option<String>,
    /// Registry directory for --register.
    #[arg(long, default_value = "models")]
    pub registry: PathBuf,
    /// Who registers (default: $USER).
    #[arg(long)]
    pub user: Option<String>,
    /// Latin-hypercube starts besides the process's values.
    #[arg(long, default_value_t = 4)]
    pub starts: usize,
    /// Seed of the starts.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Model discrepancy of the end-of-batch CQAs: `linear` (ridge in the
    /// mapping's manifest conditions) or `gp`, estimated on the fitted
    /// batches' residuals and applied to held-out and cross-validated
    /// predictions; stored in model.toml and fit.json (docs/fit.md, "Model
    /// discrepancy"). Default: none.
    #[arg(long)]
    pub discrepancy: Option<String>,
    /// Skip profile likelihoods (Fisher intervals only; faster).
    #[arg(long)]
    pub no_profiles: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

fn cmdline(field: &str, expected: &str, found: String) -> Error {
    Error::input("<command line>", field, expected, found)
}

fn now_utc() -> String {
    let s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    crate::data::timestamp::format_rfc3339(s as f64)
}

pub fn run(a: Args) -> Result<(), Error> {
    let start = Instant::now();
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let bar = if a.quiet {
        ProgressBar::hidden()
    } else {
        let b = ProgressBar::new(5);
        b.set_style(
            ProgressStyle::with_template("{spinner} fit {bar:30} {pos}/{len} {msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b
    };
    bar.set_message("loading");
    let def = super::load_process_in(&a.process, &a.registry)?;
    let ds = Dataset::load(&a.dataset)?;
    let mapping = a
        .mapping
        .clone()
        .unwrap_or_else(|| a.dataset.join(MAPPING_FILE));
    if !mapping.exists() {
        return Err(cmdline(
            "--mapping",
            "a mapping from manifest parameters to addresses (DATASET/mechanistic.toml or --mapping FILE; docs/data-format.md)",
            format!("no file {}", mapping.display()),
        ));
    }
    let form = match a.discrepancy.as_deref() {
        None => None,
        Some(f) => Some(
            Form::parse(f)
                .ok_or_else(|| cmdline("--discrepancy", "`linear` or `gp`", format!("`{f}`")))?,
        ),
    };
    let mut spec = MechanisticSpec::load(&mapping)?;
    // The process of the command line is the one fitted.
    spec.process = a.process.clone();
    let mut declared = Vec::new();
    for s in &a.sd {
        let (k, v) = crate::cli::parse_set(s)
            .map_err(|_| cmdline("--sd", "VARIABLE=SD, e.g. titer=0.05", format!("`{s}`")))?;
        declared.push((k, v));
    }
    let all = ds.batch_ids();
    for h in &a.holdout {
        if !all.contains(h) {
            return Err(cmdline(
                "--holdout",
                "batch ids of the dataset",
                format!("`{h}` (dataset has {})", all.join(", ")),
            ));
        }
    }
    let fit_ids: Vec<String> = all
        .iter()
        .filter(|b| !a.holdout.contains(b))
        .cloned()
        .collect();
    let req = Request {
        parameters: &a.parameters,
        observe: &a.observe,
        declared_sd: &declared,
    };
    let settings = |declared_sd: Vec<Option<f64>>, profiles: bool| Settings {
        extra_starts: a.starts,
        seed: a.seed,
        declared_sd,
        profiles,
        ..Settings::default()
    };
    bar.inc(1);
    bar.set_message(format!("checking {} batches", fit_ids.len()));
    let (mut problem, decl) = from_dataset(&spec, &mapping, &ds, &fit_ids, &req)?;
    check_effects(&problem)?;
    let family = problem
        .batches
        .first()
        .map(|b| b.scenario.family.name())
        .unwrap_or("?");
    let jacobian = if problem.exact {
        format!("exact forward sensitivities (dual numbers through the {family} right-hand side)")
    } else {
        format!(
            "forward differences of the simulated output (step {} in θ; a parameter outside `model.*` or an observed variable without a model output)",
            crate::calibration::problem::FD_STEP
        )
    };
    bar.inc(1);
    bar.set_message(format!(
        "fitting {} parameters to {} observations ({} starts)",
        problem.n_params(),
        problem.n_observations(),
        a.starts + 1
    ));
    let est = estimate(&mut problem, &settings(decl.clone(), !a.no_profiles))
        .map_err(|e| Error::calibration("the fit", e))?;
    bar.inc(1);
    bar.set_message("held-out batches");
    let targets: Vec<String> = spec.cqa.iter().map(|c| c.target.clone()).collect();
    // The discrepancy's targets: the mapped CQAs every fitted batch records.
    let recorded: Vec<String> = targets
        .iter()
        .filter(|t| {
            fit_ids
                .iter()
                .all(|b| ds.batch(b).is_some_and(|r| r.meta.cqas.contains_key(*t)))
        })
        .cloned()
        .collect();
    // The process the mapping sets each batch's conditions on.
    let base = crate::simulation::Scenario::from_definition(&def)?;
    let fit_discrepancy = |p: &crate::calibration::problem::Problem,
                           theta: &[f64]|
     -> Result<Option<Discrepancy>, Error> {
        let Some(form) = form else {
            return Ok(None);
        };
        if recorded.is_empty() {
            return Err(cmdline(
                "--discrepancy",
                "a mapped CQA that every fitted batch records",
                format!("none of {} in all fitted batches", targets.join(", ")),
            ));
        }
        let ep = end_points(&spec, &mapping, &ds, p, theta, &recorded)?;
        let mut d = ep.discrepancy(form, &ds.dir.join("dataset.toml"))?;
        // What a job needs to evaluate δ on a process (schema /2): each
        // condition's address, factor and calibration range.
        d.attach_mapping(&spec, &mapping, &ep.conditions, &base.recipe)
            .map_err(|e| Error::calibration("the model discrepancy", e))?;
        Ok(Some(d))
    };
    let discrepancy = fit_discrepancy(&problem, &est.theta)?;
    if form.is_some() {
        let skipped: Vec<&String> = targets.iter().filter(|t| !recorded.contains(t)).collect();
        if !skipped.is_empty() {
            outln!(
                "note: no discrepancy for {} (not recorded by every fitted batch)",
                skipped
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    let held_predict = |ids: &[String],
                        theta: &[f64],
                        fitted: &crate::calibration::problem::Problem,
                        disc: Option<&Discrepancy>|
     -> Result<Vec<HeldOut>, Error> {
        let mut out = Vec::new();
        if ids.is_empty() {
            return Ok(out);
        }
        let (hp, _) = from_dataset(
            &spec,
            &mapping,
            &ds,
            ids,
            &Request {
                parameters: &a.parameters,
                observe: &fitted
                    .observed
                    .iter()
                    .map(|o| o.variable.clone())
                    .collect::<Vec<_>>(),
                declared_sd: &[],
            },
        )
        .or_else(|_| {
            // A held-out batch may lack an observed variable: predict CQAs only.
            from_dataset(
                &spec,
                &mapping,
                &ds,
                ids,
                &Request {
                    parameters: &a.parameters,
                    observe: &[],
                    declared_sd: &[],
                },
            )
        })?;
        for (b, batch) in hp.batches.iter().enumerate() {
            let (v, outc) = hp
                .predict(b, theta)
                .map_err(|e| Error::calibration(format!("the held-out run of {}", batch.id), e))?;
            let rec = ds
                .batch(&batch.id)
                .ok_or_else(|| cmdline("--holdout", "a batch", batch.id.clone()))?;
            let mut pred = spec.targets_of(&outc, &batch.id, &targets, &mapping)?;
            let mut corrections = Vec::new();
            if let Some(d) = disc {
                let x = d
                    .conditions
                    .iter()
                    .map(|c| {
                        rec.meta.parameters.get(c).copied().ok_or_else(|| {
                            Error::input(
                                ds.dir.join("dataset.toml"),
                                format!("batches.{}.parameters.{c}", batch.id),
                                "the condition the model discrepancy reads",
                                "none",
                            )
                        })
                    })
                    .collect::<Result<Vec<f64>, Error>>()?;
                for (t, p) in targets.iter().zip(pred.iter_mut()) {
                    let c = d
                        .correct(t, &x)
                        .map_err(|e| Error::calibration("the model discrepancy", e))?;
                    if let Some(c) = c {
                        *p += c.correction;
                    }
                    corrections.push(c);
                }
            }
            out.push(HeldOut {
                id: batch.id.clone(),
                rmse: report::rmse_by_variable(&hp, &batch.samples, &v),
                cqas: targets
                    .iter()
                    .zip(pred)
                    .map(|(t, p)| (t.clone(), p, rec.meta.cqas.get(t).copied()))
                    .collect(),
                corrections,
            });
        }
        Ok(out)
    };
    let mut held_out = held_predict(&a.holdout, &est.theta, &problem, discrepancy.as_ref())?;
    if let Some(k) = a.cv {
        if k < 2 || k > fit_ids.len() {
            return Err(cmdline(
                "--cv",
                "2 ≤ K ≤ the number of batches",
                k.to_string(),
            ));
        }
        bar.set_length(5 + k as u64);
        for f in 0..k {
            bar.set_message(format!("cross-validation fold {}/{k}", f + 1));
            let test: Vec<String> = fit_ids
                .iter()
                .enumerate()
                .filter(|(i, _)| i % k == f)
                .map(|(_, b)| b.clone())
                .collect();
            let train: Vec<String> = fit_ids
                .iter()
                .filter(|b| !test.contains(b))
                .cloned()
                .collect();
            let (mut pf, d) = from_dataset(&spec, &mapping, &ds, &train, &req)?;
            let ef = estimate(
                &mut pf,
                &Settings {
                    profiles: false,
                    ..settings(d, false)
                },
            )
            .map_err(|e| Error::calibration(format!("cross-validation fold {}", f + 1), e))?;
            // The fold's discrepancy, from the fold's batches only.
            let df = fit_discrepancy(&pf, &ef.theta)?;
            held_out.extend(held_predict(&test, &ef.theta, &pf, df.as_ref())?);
            bar.inc(1);
        }
    }
    bar.inc(1);
    bar.set_message("writing");
    std::fs::create_dir_all(a.out.join("plots")).map_err(|e| Error::io(&a.out, e))?;
    let fitted_rmse = report::batch_rmse(&problem, &est.theta)
        .map_err(|e| Error::calibration("the fitted model's run", e))?;
    let ctx = Context {
        command: command.clone(),
        process: a.process.display().to_string(),
        base_model: def.model.id.clone(),
        dataset: a.dataset.display().to_string(),
        dataset_sha256: ds.content_hash.clone(),
        created_utc: now_utc(),
        jacobian,
        wall_s: start.elapsed().as_secs_f64(),
        starts: a.starts + 1,
        seed: a.seed,
    };
    // The calibrated model file.
    let model_path = def
        .inputs
        .iter()
        .find(|i| i.role == "model")
        .map(|i| i.path.clone())
        .ok_or_else(|| Diagnostic::new(&def.path, "process.model", "a model file", "none"))?;
    let base_text = std::fs::read_to_string(&model_path).map_err(|e| Error::io(&model_path, e))?;
    let short = &ds.content_hash[..12.min(ds.content_hash.len())];
    let new_id = a
        .register
        .clone()
        .unwrap_or_else(|| format!("{}-fit-{short}", def.model.id));
    // A problem of the base model file is an input error (exit 2) naming
    // its field; any other failure is a failed calibration step (exit 3).
    let text = report::calibrated_model(
        &base_text,
        &model_path,
        &new_id,
        &ctx,
        &problem,
        &est,
        discrepancy.as_ref(),
    )
    .map_err(|e| Error::calibration("the calibrated model file", e))?;
    let mut json = report::result_json(&ctx, &problem, &est, &fitted_rmse, &held_out);
    // The model file's sha256: a loose model.toml carries no seal, so its
    // fit.json records what `fit` wrote (an edited parameter shows).
    json["model_file"] = serde_json::json!("model.toml");
    json["model_sha256"] = serde_json::json!(crate::definition::process::text_sha256(&text));
    if let Some(d) = &discrepancy {
        json["discrepancy"] =
            serde_json::to_value(d).map_err(|e| Error::io(a.out.join("fit.json"), e))?;
    }
    let p = a.out.join("fit.json");
    write_atomic(
        &p,
        serde_json::to_string_pretty(&json)
            .map_err(|e| Error::io(&p, e))?
            .as_bytes(),
    )?;
    let p = a.out.join("report.md");
    write_atomic(
        &p,
        report::markdown(&ctx, &problem, &est, &fitted_rmse, &held_out).as_bytes(),
    )?;
    for b in 0..problem.batches.len() {
        let p = a
            .out
            .join("plots")
            .join(format!("{}.svg", problem.batches[b].id));
        let svg = report::batch_svg(&problem, b, &est.theta)
            .map_err(|e| Error::calibration(format!("the plot of {}", problem.batches[b].id), e))?;
        write_atomic(&p, svg.as_bytes())?;
    }
    let p = a.out.join("model.toml");
    write_atomic(&p, text.as_bytes())?;
    bar.inc(1);
    bar.finish_and_clear();
    outln!(
        "fit {} parameters to {} observations of {} batches in {:.1} s",
        problem.n_params(),
        est.n_observations,
        problem.batches.len(),
        start.elapsed().as_secs_f64()
    );
    for q in &est.parameters {
        outln!(
            "  {:<24} {:>12.5e} {}  [{}]",
            q.address,
            q.estimate,
            q.unit,
            q.verdict
        );
    }
    outln!(
        "log-likelihood {:.3}, AIC {:.2}, BIC {:.2}",
        est.log_likelihood,
        est.aic,
        est.bic
    );
    if let Some(d) = &discrepancy {
        for t in &d.targets {
            outln!(
                "  discrepancy ({}) {:<16} residual RMSE {:.4e} -> leave-one-batch-out {:.4e}, sd {:.4e}",
                d.form.name(),
                t.target,
                t.rmse_without,
                t.loo_rmse,
                t.residual_sd
            );
        }
    }
    outln!(
        "wrote {}/fit.json, report.md, model.toml, plots/",
        a.out.display()
    );
    if let Some(name) = &a.register {
        let user = current_user(a.user.as_deref())?;
        let fitted: Vec<String> = problem
            .parameters
            .iter()
            .filter_map(|q| q.model_name.clone())
            .collect();
        let rec = crate::registry::mechanistic::register(
            &Registry::new(&a.registry),
            name,
            &text,
            &new_id,
            &def.model.id,
            &fitted,
            &ds.content_hash,
            &a.dataset.display().to_string(),
            &a.holdout,
            &user,
        )?;
        outln!(
            "registered {} (kind mechanistic) in {} (not serving until promoted: biotwin promote {} --registry {} --reason ...)",
            rec.id,
            a.registry.display(),
            rec.id,
            a.registry.display()
        );
    }
    Ok(())
}
