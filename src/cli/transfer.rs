//! `biotwin transfer`: the virtual technology transfer study of a process to
//! a target vessel (library: [`crate::transfer`]; guide: docs/transfer.md).

use std::path::PathBuf;

use super::CliError;
use crate::error::Error;
use crate::scaleup::Criterion;
use crate::transfer::{self, StudyOptions, Tolerance};

#[derive(clap::Args, Debug)]
#[command(
    about = "Virtual technology transfer: translate a process to a target vessel, compare with uncertainty, sensitivity, adjustment, raw-material lots",
    after_help = "Examples:\n  biotwin transfer --process process-models/processes/cho-platform-3l.toml --to sut-2000l-pbt-drilled --out transfer-2000l\n  biotwin transfer --process process-models/processes/cho-platform-3l.toml --to sut-2000l-microsparger --criterion v_s --lots process-models/lots/feed-a-supplier-b.toml --seed 7 --out study\n  biotwin transfer --process process-models/processes/cho-platform-3l.toml --to sut-2000l-pbt-drilled --model cho-fit-v1 --registry models --out transfer-calibrated\n\nWrites report.html (self-contained, to read and sign), report.md, trajectories.svg, sobol.svg, transfer.json (schema biotwin.transfer/2), translated-process.toml and adjusted-process.toml into --out, with copies of the model, recipe, equipment and specifications they name (the folder runs wherever it is copied)."
)]
pub struct Args {
    /// Source process file (its equipment and set-points are the source).
    #[arg(long)]
    pub process: PathBuf,
    /// Target equipment: a catalog id or a path to an equipment file.
    #[arg(long)]
    pub to: String,
    /// Scale-up criterion for the translated set-points.
    #[arg(long, default_value = "p_per_v")]
    pub criterion: String,
    /// Output directory (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Monte Carlo runs per arm (source, target, adjusted, lots).
    #[arg(long, default_value_t = 10_000)]
    pub runs: usize,
    /// Sobol base samples N (runs: N x (factors + 2)); a power of two.
    #[arg(long, default_value_t = 1024)]
    pub sobol_base: usize,
    /// Seed of every stochastic step (same seed, same files).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Alternative raw-material lot file ([[uncertainty]] on media.* addresses).
    #[arg(long)]
    pub lots: Option<PathBuf>,
    /// Target initial volume in L (default: scaled by maximum working volumes).
    #[arg(long)]
    pub volume_l: Option<f64>,
    /// Run the target at this agitation (rpm) instead of the criterion's.
    #[arg(long)]
    pub agitation_rpm: Option<f64>,
    /// Run the target at this sparge gas flow (SLPM) instead of the criterion's.
    #[arg(long)]
    pub sparge_slpm: Option<f64>,
    /// Relative tolerance of the adjustment, METRIC=PERCENT (repeatable; replaces that metric's default, adds others).
    #[arg(long = "tolerance", value_name = "METRIC=PCT")]
    pub tolerances: Vec<String>,
    /// Run with this kinetic model instead of the one the process names: a
    /// model file (e.g. a calibrated model from `biotwin fit`) or the id of a
    /// calibrated model in --registry. Its text is copied into --out as
    /// model.toml; a fit's covariance is sampled jointly in every Monte Carlo
    /// arm and its parameters join the Sobol' factors.
    #[arg(long, value_name = "FILE|ID")]
    pub model: Option<String>,
    /// The model registry in which `--model ID` is looked up.
    #[arg(long, default_value = "models")]
    pub registry: PathBuf,
    /// No progress bars.
    #[arg(long)]
    pub quiet: bool,
    /// Exit with code 2 (after writing the files) when the study has any warning.
    #[arg(long)]
    pub strict: bool,
}

pub fn run(a: Args) -> Result<(), CliError> {
    let criterion: Criterion = a.criterion.parse().map_err(|e: String| {
        Error::input(
            "<command line>",
            "--criterion",
            e,
            format!("`{}`", a.criterion),
        )
    })?;
    let mut opts = StudyOptions::new(&a.process, a.to.clone(), &a.out);
    opts.criterion = criterion;
    opts.runs = a.runs;
    opts.sobol_base = a.sobol_base;
    opts.seed = a.seed;
    opts.optimiser = transfer::default_optimiser(a.seed);
    opts.lots = a.lots.clone();
    opts.volume_l = a.volume_l;
    opts.agitation_rpm = a.agitation_rpm;
    opts.sparge_slpm = a.sparge_slpm;
    opts.progress = !a.quiet;
    if let Some(m) = &a.model {
        opts.model = Some(super::resolve_model_ref(m, &a.registry)?);
    } else if let Some(name) = crate::definition::process::registry_model_of(&a.process) {
        // The process names a registered model: the study runs it (and
        // copies its text beside its outputs) as it would `--model NAME`.
        opts.model = Some(crate::registry::mechanistic::resolve_registered(
            &name,
            &a.registry,
            false,
        )?);
    }
    opts.strict = a.strict;
    for t in &a.tolerances {
        let (metric, pct) = super::parse_set(t).map_err(|_| {
            Error::input(
                "<command line>",
                "--tolerance",
                "METRIC=PERCENT, e.g. titer_g_per_l=5",
                format!("`{t}`"),
            )
        })?;
        match opts.tolerances.iter_mut().find(|x| x.metric == metric) {
            Some(x) => x.relative_pct = pct,
            None => opts.tolerances.push(Tolerance {
                metric,
                relative_pct: pct,
            }),
        }
    }
    let started = std::time::Instant::now();
    let study = transfer::run_study(&opts)?;
    let t = &study.translation;
    eprintln!(
        "transfer {} -> {} ({}): {} warning{}; study took {:.1} s",
        t.source.id(),
        t.target.id(),
        t.criterion,
        study.warnings.len(),
        if study.warnings.len() == 1 { "" } else { "s" },
        started.elapsed().as_secs_f64()
    );
    for w in &study.warnings {
        eprintln!("  ! [{}] {}", w.kind.name(), w.message);
    }
    outln!(
        "report: {} (Markdown: report.md)\npackage: {}",
        a.out.join(transfer::HTML_REPORT).display(),
        a.out.join("transfer.json").display()
    );
    Ok(transfer::strict_check(&study)?)
}
