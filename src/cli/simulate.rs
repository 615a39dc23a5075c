//! `biotwin simulate`: one batch (trajectory, plot, quality table) or a
//! Monte Carlo study of it.

use std::path::PathBuf;

use super::CliError;
use crate::calibration::discrepancy::{self, Applied};
use crate::error::Error;
use crate::montecarlo;
use crate::output::{self, Format};
use crate::simulation::{Scenario, SetOrigin, feasibility, model_source};

#[derive(clap::Args, Debug)]
#[command(
    about = "Simulate a process file: trajectory, end-of-batch quality vs specification, Monte Carlo",
    after_help = "Examples:\n  biotwin simulate process-models/processes/cho-platform-3l.toml --out run.csv --plot run.svg\n  biotwin simulate process-models/processes/xing2010-reference.toml --set model.mu_max=0.032 --out run.json\n  biotwin simulate process-models/processes/cho-platform-3l.toml --monte-carlo 2000 --seed 7 --mc-out mc.csv\n  biotwin simulate process-models/downstream/protein_a_column.toml --out outlet.csv --plot chromatogram.svg\n\nAddresses for --set: model.<param> (in the model file's unit), initial.<species>_<unit>,\ninitial.volume_l, media.<medium>.<species>_<unit>, setpoints.<field>, shifts[i].time_h,\nshifts[i].<set-point>, feeds.scale, feeds[i].<field>, feeds.<name>.<field>, equipment.<field>\n(docs/file-formats.md). Each value is checked as in its own file (range, vessel limits)."
)]
pub struct Args {
    /// Process file (TOML) naming the model, recipe, equipment and specifications;
    /// or a column or downstream-train file, simulated on its own.
    pub process: PathBuf,
    /// Write the trajectory: .csv, .json (with the input-file hashes) or .parquet.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Write an SVG plot of the main trajectories.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Run with this kinetic model file instead of the one the process names
    /// (e.g. a calibrated model from `biotwin fit`; same family).
    #[arg(long, value_name = "FILE|ID")]
    pub model: Option<String>,
    /// The model registry in which `--model ID` is looked up.
    #[arg(long, default_value = "models")]
    pub registry: PathBuf,
    /// Override a number: ADDRESS=VALUE (repeatable).
    #[arg(long = "set", value_name = "ADDRESS=VALUE")]
    pub set: Vec<String>,
    /// Run N Monte Carlo batches over the process file's [[uncertainty]].
    #[arg(long, value_name = "N")]
    pub monte_carlo: Option<usize>,
    /// Seed of the Monte Carlo sampler (same seed, same result).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Write per-run Monte Carlo inputs and outcomes (.csv) or the summary (.json).
    #[arg(long)]
    pub mc_out: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Simulate this batch of an IndPenSim data set directory (e.g.
    /// `training-data/indpensim --batch B01`) from its recorded recipe,
    /// initial state and disturbances (docs/indpensim.md).
    #[arg(long, value_name = "ID")]
    pub batch: Option<String>,
    /// Exit with code 2 when the batch has any feasibility warning (vessel
    /// volume, O2 supply, gas flow, agitation, kLa range, shear, foam).
    #[arg(long)]
    pub strict: bool,
}

pub fn run(a: Args) -> Result<(), CliError> {
    if a.batch.is_some() || super::simulate_indpensim::is_dataset(&a.process) {
        let Some(batch) = &a.batch else {
            return Err(Error::input(
                &a.process,
                "--batch",
                "the id of the batch to simulate (e.g. --batch B01) for an IndPenSim data set",
                "none",
            )
            .into());
        };
        if a.plot.is_some() || a.model.is_some() || !a.set.is_empty() || a.monte_carlo.is_some() {
            return Err(Error::input(
                "<command line>",
                "--batch",
                "only --out with an IndPenSim batch (no --plot, --model, --set, --monte-carlo)",
                "other options",
            )
            .into());
        }
        return Ok(super::simulate_indpensim::run(
            &a.process,
            batch,
            a.out.as_deref(),
        )?);
    }
    // Downstream files run on their own.
    match super::validate::kind_of(&a.process) {
        Ok("column") => {
            return super::downstream::run_column(&a.process, a.out.as_deref(), a.plot.as_deref());
        }
        Ok("downstream train") => return super::downstream::run_train_file(&a.process),
        _ => {}
    }
    let out_format = a.out.as_deref().map(Format::from_path).transpose()?;
    let mut def = super::load_process_in(&a.process, &a.registry)?;
    if let Some(m) = &a.model {
        // resolve_model_ref checks the stored discrepancy.
        let resolved = super::resolve_model_ref(m, &a.registry)?;
        model_source::with_model(&mut def, &resolved)?;
    } else {
        super::check_discrepancy(
            def.model
                .calibration
                .as_ref()
                .and_then(|c| c.discrepancy.as_ref()),
            std::path::Path::new(&model_source::provenance_of(&def).source),
        )?;
    }
    let mut scenario = Scenario::from_definition(&def)?;
    let mut overrides = def.overrides.clone();
    let mut cli_set = Vec::new();
    for s in &a.set {
        cli_set.push(super::parse_set(s)?);
    }
    scenario.apply_all(
        &cli_set,
        &def.model.params.file_factor,
        SetOrigin::CommandLine,
    )?;
    overrides.extend(cli_set);
    let specs = def.specifications.as_ref();
    let outcome = scenario.simulate(true)?;
    let feasibility = feasibility::check(
        &scenario,
        &outcome,
        &crate::scaleup::ScaleUpParameters::default(),
    );
    outln!(
        "{} ({}): {} h simulated, {} RHS evaluations",
        def.name,
        def.id,
        scenario.recipe.duration_s / 3600.0,
        outcome.stats.rhs_evaluations
    );
    if a.model.is_some() || crate::definition::process::registry_model_of(&a.process).is_some() {
        let p = model_source::provenance_of(&def);
        outln!(
            "model: {} {} from {} (sha256 {})",
            p.id,
            p.version,
            p.source,
            p.sha256
        );
    }
    outln!("");
    out!(
        "{}",
        output::quality_table(&output::quality_rows(&outcome, specs))
    );
    // The calibrated model's recipe discrepancy δ at this process
    // (docs/fit.md, "In the jobs").
    let discrepancy = discrepancy::apply(
        def.model
            .calibration
            .as_ref()
            .and_then(|c| c.discrepancy.as_ref()),
        &scenario,
        &def.model.params.file_factor,
        |q| outcome.quality_value(q),
    );
    if let Some(d) = &discrepancy {
        out!("{}", discrepancy_table(d));
    }
    print_warnings(&feasibility);
    if let (Some(path), Some(fmt)) = (&a.out, out_format) {
        let bytes = match fmt {
            Format::Csv => output::trajectory_csv(&outcome),
            Format::Json => {
                let bytes = output::trajectory_json(
                    &outcome,
                    &def.id,
                    &def.inputs,
                    &overrides,
                    specs,
                    &feasibility.warnings,
                )?;
                match &discrepancy {
                    None => bytes,
                    Some(d) => {
                        let mut v: serde_json::Value =
                            serde_json::from_slice(&bytes).map_err(|e| Error::io(path, e))?;
                        v["discrepancy"] =
                            serde_json::to_value(d).map_err(|e| Error::io(path, e))?;
                        serde_json::to_vec_pretty(&v).map_err(|e| Error::io(path, e))?
                    }
                }
            }
            Format::Parquet => crate::data::trajectory_parquet::trajectory_parquet(&outcome)?,
        };
        output::write_atomic(path, &bytes)?;
        outln!("\ntrajectory written to {}", path.display());
    }
    if let Some(path) = &a.plot {
        output::plot::write_trajectory_svg(path, &[(def.id.as_str(), &outcome)])?;
        outln!("plot written to {}", path.display());
    }
    if let Some(train) = &def.downstream_path {
        super::downstream::run_flowsheet(train, &outcome)?;
    }
    if let Some(n) = a.monte_carlo {
        let inputs = montecarlo::uncertain_inputs(&def, &mut scenario)?;
        if inputs.is_empty() {
            return Err(Error::Input(
                def.diag(
                    "uncertainty",
                    "at least one [[uncertainty]] entry (or a calibrated model with a covariance, --model) for --monte-carlo",
                    "none",
                )
                .into(),
            ).into());
        }
        let t0 = std::time::Instant::now();
        let mc = montecarlo::run(&scenario, &inputs, specs, n, a.seed, !a.quiet);
        outln!(
            "\nMonte Carlo: {n} runs, seed {}, {:.2} s, {} failed",
            a.seed,
            t0.elapsed().as_secs_f64(),
            mc.failed
        );
        if let Some(f) = &mc.first_failure {
            outln!("  first failure: {f}");
        }
        for g in &mc.joint {
            outln!(
                "  drawn jointly from the fit's covariance (log space where the fit estimated logs): {}",
                g.join(", ")
            );
        }
        for n in &mc.notes {
            outln!("  note: {n}");
        }
        if discrepancy.is_some() {
            outln!(
                "  note: the runs below are the model's; the recipe discrepancy δ is reported for the nominal run only (docs/fit.md, \"In the jobs\")"
            );
        }
        out!("{}", mc_table(&mc));
        if let Some(path) = &a.mc_out {
            let bytes = match Format::from_path(path)? {
                Format::Json => serde_json::to_vec_pretty(&mc).map_err(|e| Error::io(path, e))?,
                Format::Csv => mc_csv(&mc),
                Format::Parquet => {
                    return Err(Error::input(
                        path,
                        "--mc-out",
                        "a .csv or .json file",
                        "a .parquet file",
                    )
                    .into());
                }
            };
            output::write_atomic(path, &bytes)?;
            outln!("Monte Carlo results written to {}", path.display());
        }
    }
    if a.strict && !feasibility.warnings.is_empty() {
        return Err(feasibility::strict_error(&a.process, &feasibility.warnings).into());
    }
    Ok(())
}

/// Every feasibility warning, in full, after the quality table (stdout, so
/// it stays with the table it qualifies).
fn print_warnings(f: &feasibility::Feasibility) {
    if f.equipment_id.is_empty() {
        return;
    }
    let n = f.warnings.len();
    outln!(
        "\nfeasibility on {}: {} warning{}",
        f.equipment_id,
        n,
        if n == 1 { "" } else { "s" }
    );
    for w in &f.warnings {
        outln!("  ! [{}] {}", w.kind.name(), w.message);
    }
}

/// The model's end-points, δ and the corrected values with their 95 %
/// intervals; or why δ is not applied.
fn discrepancy_table(d: &Applied) -> String {
    use crate::output::format_sig as f;
    match d {
        Applied::Refused { reason } => format!(
            "\nmodel + recipe discrepancy: not applied, the model's values above stand: {reason}\n"
        ),
        Applied::Applied {
            qualities, skipped, ..
        } => {
            let mut s = format!(
                "\nmodel + recipe discrepancy δ (biotwin fit --discrepancy; 95 % interval = ±1.96 predictive SD):\n{:<26} {:>10} {:>10} {:>10} {:>10}  {}\n",
                "quality attribute", "model", "δ", "SE(δ)", "model + δ", "95 % interval"
            );
            s.push_str(&format!("{}\n", "-".repeat(96)));
            for q in qualities {
                s.push_str(&format!(
                    "{:<26} {:>10} {:>10} {:>10} {:>10}  [{}, {}]\n",
                    q.quality,
                    f(q.model),
                    f(q.discrepancy),
                    f(q.discrepancy_se),
                    f(q.corrected),
                    f(q.lower_95),
                    f(q.upper_95)
                ));
            }
            for k in skipped {
                s.push_str(&format!(
                    "  note: δ of `{}` not applied: {}\n",
                    k.target, k.reason
                ));
            }
            s
        }
    }
}

fn mc_table(mc: &montecarlo::MonteCarloResult) -> String {
    use crate::output::format_sig as f;
    let mut s = format!(
        "{:<26} {:>10} {:>10} {:>10} {:>10} {:>10}  {:<14} {:>9}\n",
        "quality attribute", "mean", "sd", "5 %", "50 %", "95 %", "specification", "P(in spec)"
    );
    s.push_str(&format!("{}\n", "-".repeat(108)));
    for r in &mc.summary {
        s.push_str(&format!(
            "{:<26} {:>10} {:>10} {:>10} {:>10} {:>10}  {:<14} {:>9}\n",
            r.name,
            f(r.mean),
            f(r.sd),
            f(r.p05),
            f(r.p50),
            f(r.p95),
            r.spec.clone().unwrap_or_else(|| "—".into()),
            r.prob_in_spec
                .map(|p| format!("{:.3}", p))
                .unwrap_or_default()
        ));
    }
    s
}

fn mc_csv(mc: &montecarlo::MonteCarloResult) -> Vec<u8> {
    let mut s = String::from("run");
    for i in &mc.inputs {
        s.push(',');
        s.push_str(&i.name);
    }
    for q in &mc.quality_names {
        s.push(',');
        s.push_str(q);
    }
    s.push('\n');
    for (k, (x, y)) in mc.samples.iter().zip(&mc.outcomes).enumerate() {
        s.push_str(&k.to_string());
        for v in x.iter().chain(y) {
            s.push(',');
            if v.is_finite() {
                s.push_str(&v.to_string());
            }
        }
        s.push('\n');
    }
    s.into_bytes()
}
