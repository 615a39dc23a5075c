//! `biotwin train`: fit a surrogate (PLS or GP) on a dataset, validated by
//! whole batches, and save it to a model directory or the registry.

use std::path::PathBuf;

use indicatif::{ProgressBar, ProgressStyle};

mod indpensim;

use super::CliError;
use super::train_linfa::{LinfaArgs, LinfaKind};
use crate::data::{Dataset, SignalKind};
use crate::error::Error;
use crate::registry::{Registry, current_user};
use crate::surrogates::gp::{GpParams, RbfKernel};
use crate::surrogates::gp_fit::OptimiseOptions;
use crate::surrogates::hybrid::parallel::Corrector;
use crate::surrogates::hybrid::residual::ResidualParams;
use crate::surrogates::nn::NnDevice;
use crate::surrogates::pls::PlsParams;
use crate::surrogates::train::{ModelChoice, Validation, train_with_mechanistic};
use crate::surrogates::unfold::UnfoldingSpec;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    Pls,
    Gp,
    /// Parallel hybrid: the dataset's mechanistic model plus a PLS/GP
    /// model of its residuals (`--corrector`).
    Hybrid,
    /// Ensemble of 5 small neural networks (pure Rust on the CPU; libtorch
    /// with cargo feature `torch`, see --device).
    Nn,
    /// Calibrated serial hybrid: the dataset's mechanistic model with
    /// mu_max, beta_lp and k_d as quadratic response surfaces of the
    /// conditions, fitted to viable cells, viability and titer trajectories
    /// (docs/hybrid.md, "Calibrated serial hybrid"). On an IndPenSim data
    /// set (recipes.json, no mechanistic.toml): the IndPenSim mass balances
    /// with a learned specific penicillin production rate (docs/hybrid.md,
    /// "Serial hybrid on the IndPenSim backbone").
    SerialHybrid,
    /// Elastic net (linfa-elasticnet), one model per CQA: --penalty,
    /// --l1-ratio.
    ElasticNet,
    /// ε-support-vector regression (linfa-svm), one model per CQA: --c,
    /// --epsilon, --svr-kernel, --kernel-width.
    Svr,
    /// Random forest of regression trees: --trees, --max-depth,
    /// --min-samples-leaf, --max-features, --seed.
    RandomForest,
}

impl Kind {
    /// The linfa model or random forest this kind is, if it is one.
    fn linfa(self) -> Option<LinfaKind> {
        match self {
            Kind::ElasticNet => Some(LinfaKind::ElasticNet),
            Kind::Svr => Some(LinfaKind::Svr),
            Kind::RandomForest => Some(LinfaKind::RandomForest),
            _ => None,
        }
    }
}

/// Where the neural network trains.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq)]
pub enum Device {
    Cpu,
    Cuda,
}

/// The covariance kernel of a GP.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq)]
pub enum KernelKind {
    /// Squared-exponential kernel with one length scale shared by all
    /// (standardised) features; starts at √p.
    Isotropic,
    /// Squared-exponential kernel with one length scale per feature
    /// (automatic relevance determination), each fitted by marginal
    /// likelihood from 1: the kernel of the IndPenSim accuracy tests.
    Ard,
}

/// The residual model of `--model hybrid`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq)]
pub enum CorrectorKind {
    Pls,
    Gp,
}

#[derive(clap::Args, Debug)]
#[command(
    about = "Train a surrogate (PLS, GP, neural-network ensemble, parallel or calibrated serial hybrid, elastic net, SVR, random forest) on a dataset, validated by whole batches; save it or register it",
    after_help = "Examples:\n  biotwin train --dataset training-data/cho-platform --model pls --target final_titer,galactosylated --holdout B21,B22 --out models/titer-pls\n  biotwin train --dataset training-data/cho-platform --model gp --target final_titer --cv 5 --registry models --name cho-titer\n  (without --out the model is registered, by default in ./models)\n  biotwin train --dataset training-data/cho-platform --model hybrid --target final_titer,galactosylated --holdout B31,B32,B33,B34,B35,B36 --out models/cho-hybrid\n  biotwin train --dataset training-data/indpensim --model pls --target final_penicillin --offline penicillin --leave-batch-out --out pen-pls\n  biotwin train --dataset training-data/indpensim --model gp --kernel ard --target final_penicillin --online volume,sugar_feed_flow,water_feed_flow,paa_feed_flow --offline penicillin --parameters none --leave-batch-out --name pen-gp-ard\n\nFeatures: by default every offline (lab) variable known at the cut-off and every\nmanifest parameter; choose with --online, --offline, --parameters (comma lists,\n`none` for none). Validation is always by whole batches."
)]
pub struct Args {
    /// Dataset directory (with dataset.toml).
    #[arg(long)]
    pub dataset: PathBuf,
    /// Model kind: PLS regression, Gaussian process, neural-network
    /// ensemble, parallel hybrid, or calibrated serial hybrid.
    #[arg(long, value_enum)]
    pub model: Kind,
    /// GP only (also the GP corrector of --model hybrid): `isotropic` (the
    /// default: one length scale for all features) or `ard` (one length
    /// scale per feature, fitted by marginal likelihood).
    #[arg(long, value_enum)]
    pub kernel: Option<KernelKind>,
    /// Hybrid only: residual model (PLS with --components, or GP).
    #[arg(long, value_enum, default_value = "pls")]
    pub corrector: CorrectorKind,
    /// NN only: hidden units per network.
    #[arg(long, default_value_t = 16)]
    pub hidden: usize,
    /// Serial hybrid on IndPenSim only: Levenberg–Marquardt iterations at
    /// most (default 15).
    #[arg(long)]
    pub iterations: Option<usize>,
    /// NN only: training epochs (full-batch Adam).
    #[arg(long, default_value_t = 3000)]
    pub epochs: usize,
    /// NN only: cpu or cuda. A build with cargo feature `torch` trains with
    /// libtorch on either; the default build trains on the CPU in pure Rust
    /// and refuses cuda.
    #[arg(long, value_enum, default_value = "cpu")]
    pub device: Device,
    /// Hybrid and serial-hybrid only: the mechanistic model's file (default
    /// DATASET/mechanistic.toml; see docs/hybrid.md).
    #[arg(long)]
    pub mechanistic: Option<PathBuf>,
    /// CQAs to predict (comma list of manifest CQA names).
    #[arg(long, value_delimiter = ',', required = true)]
    pub target: Vec<String>,
    /// Hold these batches out of training; metrics on them.
    #[arg(long, value_delimiter = ',', conflicts_with_all = ["cv", "leave_batch_out", "edge_of_doe"])]
    pub holdout: Vec<String>,
    /// k-fold cross-validation over batches.
    #[arg(long, value_name = "K", conflicts_with_all = ["leave_batch_out", "edge_of_doe"])]
    pub cv: Option<usize>,
    /// Leave-one-batch-out cross-validation.
    #[arg(long, conflicts_with = "edge_of_doe")]
    pub leave_batch_out: bool,
    /// Hold out the N batches at the edge of the design (extrapolation),
    /// spanned by the manifest parameters in --doe-factors.
    #[arg(long, value_name = "N")]
    pub edge_of_doe: Option<usize>,
    /// Design factors for --edge-of-doe (default: every manifest parameter).
    #[arg(long, value_delimiter = ',')]
    pub doe_factors: Vec<String>,
    /// Fraction of batch time observed (features use data up to then).
    #[arg(long, default_value_t = 0.5)]
    pub cutoff: f64,
    /// Sampling points per variable up to the cut-off.
    #[arg(long, default_value_t = 1)]
    pub points: usize,
    /// Online variables as features (comma list; `none`).
    #[arg(long, value_delimiter = ',')]
    pub online: Vec<String>,
    /// Offline variables as features (comma list; default all; `none`).
    #[arg(long, value_delimiter = ',')]
    pub offline: Vec<String>,
    /// Manifest parameters as features (comma list; default all; `none`).
    #[arg(long, value_delimiter = ',')]
    pub parameters: Vec<String>,
    /// PLS components.
    #[arg(long, default_value_t = 2)]
    pub components: usize,
    /// Hyper-parameters of --model elastic-net, svr and random-forest.
    #[command(flatten)]
    pub linfa: LinfaArgs,
    /// Write the model to this directory (model.json inside) or .json file.
    #[arg(long, conflicts_with = "registry")]
    pub out: Option<PathBuf>,
    /// Register the model in this registry directory (the default without
    /// --out: `models`).
    #[arg(long)]
    pub registry: Option<PathBuf>,
    /// Model name in the registry (versions count up per name).
    #[arg(long)]
    pub name: Option<String>,
    /// Who trains (default $USER).
    #[arg(long)]
    pub user: Option<String>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Train a live-mode ladder instead: one model per cut fraction (comma
    /// list, e.g. 0.1,0.2,0.5), intervals calibrated by leave-batch-out;
    /// written with --out as a sealed ladder file (not registered).
    #[arg(long, value_delimiter = ',', requires = "out")]
    pub ladder: Vec<f64>,
}

fn list_or(given: &[String], default: impl FnOnce() -> Vec<String>) -> Vec<String> {
    match given {
        [] => default(),
        [one] if one == "none" => vec![],
        _ => given.to_vec(),
    }
}

/// The engine for `--model nn` from `--device` and the build's features.
fn nn_device(a: &Args) -> Result<NnDevice, Error> {
    if a.device == Device::Cuda && a.model != Kind::Nn {
        return Err(Error::input(
            "<command line>",
            "--device",
            "cpu (only --model nn can train on CUDA)",
            "cuda",
        ));
    }
    engine(a.device)
}

/// A `torch` build trains the network with libtorch on either device.
#[cfg(feature = "torch")]
fn engine(device: Device) -> Result<NnDevice, Error> {
    if device == Device::Cuda && !tch::Cuda::is_available() {
        return Err(Error::input(
            "<command line>",
            "--device",
            "cpu (libtorch sees no CUDA device here: no GPU, no CUDA driver, or a CPU-only libtorch)",
            "cuda",
        ));
    }
    Ok(match device {
        Device::Cpu => NnDevice::TorchCpu,
        Device::Cuda => NnDevice::TorchCuda,
    })
}

/// The default build trains in pure Rust on the CPU only.
#[cfg(not(feature = "torch"))]
fn engine(device: Device) -> Result<NnDevice, Error> {
    if device == Device::Cuda {
        return Err(Error::input(
            "<command line>",
            "--device",
            "cpu (this build trains on the CPU only; rebuild with `--features torch` and libtorch 2.13 for CUDA, see docs/surrogates.md)",
            "cuda",
        ));
    }
    Ok(NnDevice::Rust)
}

pub fn run(a: Args) -> Result<(), CliError> {
    if !(a.cutoff > 0.0 && a.cutoff <= 1.0) {
        return Err(Error::input(
            "<command line>",
            "--cutoff",
            "a fraction of batch time in (0, 1]",
            format!("{}", a.cutoff),
        )
        .into());
    }
    let nn_device = nn_device(&a)?;
    if a.model == Kind::SerialHybrid
        && a.mechanistic.is_none()
        && indpensim::is_indpensim(&a.dataset)
    {
        return indpensim::run(&a).map_err(CliError::from);
    }
    if a.iterations.is_some() {
        return Err(Error::input(
            "<command line>",
            "--iterations",
            "--model serial-hybrid on an IndPenSim data set",
            format!("--model {}", model_name(a.model)),
        )
        .into());
    }
    a.linfa
        .check_applies(a.model.linfa(), &model_name(a.model))?;
    let bar = if a.quiet {
        ProgressBar::hidden()
    } else {
        let b = ProgressBar::new(5);
        b.set_style(
            ProgressStyle::with_template("{spinner} train {bar:30} {pos}/{len} {msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b
    };
    bar.set_message("loading dataset");
    let ds = Dataset::load(&a.dataset)?;
    bar.inc(1);
    let known: std::collections::BTreeSet<&String> =
        ds.batches.iter().flat_map(|b| b.meta.cqas.keys()).collect();
    if let Some(t) = a.target.iter().find(|t| !known.contains(t)) {
        bar.finish_and_clear();
        return Err(Error::input(
            ds.dir.join(crate::data::dataset::MANIFEST_FILE),
            "--target",
            format!(
                "a CQA of the dataset ({})",
                known
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            format!("`{t}`"),
        )
        .into());
    }
    bar.set_message("unfolding batches");
    let offline = list_or(&a.offline, || {
        let mut v: Vec<String> = ds
            .batches
            .iter()
            .flat_map(|b| b.offline.keys().cloned())
            .collect();
        v.sort();
        v.dedup();
        v.retain(|name| {
            ds.tag_map
                .tags
                .values()
                .all(|t| t.variable != *name || t.kind == SignalKind::Offline)
        });
        v
    });
    let params = list_or(&a.parameters, || {
        ds.batches
            .first()
            .map(|b| b.meta.parameters.keys().cloned().collect())
            .unwrap_or_default()
    });
    let mechanistic = if matches!(a.model, Kind::Hybrid | Kind::SerialHybrid) {
        let file = a
            .mechanistic
            .clone()
            .unwrap_or_else(|| a.dataset.join(crate::surrogates::hybrid::mechanistic::FILE));
        let m = crate::surrogates::hybrid::mechanistic::MechanisticSpec::load(&file)
            .inspect_err(|_| bar.finish_and_clear())?;
        for t in &a.target {
            if let Err(d) = m.cqa_of(t, &file) {
                bar.finish_and_clear();
                return Err(d.into());
            }
        }
        Some(m)
    } else {
        None
    };
    // The serial hybrid simulates from the conditions itself: no
    // mechanistic feature columns.
    let serial_spec = if a.model == Kind::SerialHybrid {
        mechanistic.clone()
    } else {
        None
    };
    let mechanistic = if a.model == Kind::SerialHybrid {
        None
    } else {
        mechanistic
    };
    let spec = UnfoldingSpec {
        online: list_or(&a.online, Vec::new),
        offline,
        parameters: params.clone(),
        targets: a.target.clone(),
        cutoff_fraction: a.cutoff,
        n_points: a.points.max(1),
        mechanistic,
    };
    let validation = if !a.holdout.is_empty() {
        Validation::Holdout(a.holdout.clone())
    } else if let Some(k) = a.cv {
        Validation::KFold(k)
    } else if a.leave_batch_out {
        Validation::LeaveBatchOut
    } else if let Some(n) = a.edge_of_doe {
        let factors = if a.doe_factors.is_empty() {
            ds.batches
                .first()
                .map(|b| b.meta.parameters.keys().cloned().collect())
                .unwrap_or_default()
        } else {
            a.doe_factors.clone()
        };
        Validation::EdgeOfDoe { factors, n_edge: n }
    } else {
        Validation::None
    };
    let n_features = spec.feature_names().len();
    let pls = || PlsParams::new(a.components.clamp(1, n_features.max(1)));
    let uses_gp =
        a.model == Kind::Gp || (a.model == Kind::Hybrid && a.corrector == CorrectorKind::Gp);
    if a.kernel.is_some() && !uses_gp {
        bar.finish_and_clear();
        return Err(Error::input(
            "<command line>",
            "--kernel",
            "--model gp, or --model hybrid --corrector gp (the kernel of a GP)",
            format!("--model {:?}", a.model).to_lowercase(),
        )
        .into());
    }
    let length_scales = match a.kernel.unwrap_or(KernelKind::Isotropic) {
        KernelKind::Isotropic => vec![(n_features.max(1) as f64).sqrt()],
        KernelKind::Ard => vec![1.0; n_features.max(1)],
    };
    let gp = || GpParams {
        kernel: RbfKernel {
            signal_variance: 1.0,
            length_scales: length_scales.clone(),
            noise_variance: 0.1,
        },
        jitter: 1e-10,
        normalise_y: true,
        standardise_x: true,
        optimise: Some(OptimiseOptions::default()),
    };
    let linfa = |k| a.linfa.choice(k).inspect_err(|_| bar.finish_and_clear());
    let choice = match a.model {
        Kind::ElasticNet => linfa(LinfaKind::ElasticNet)?,
        Kind::Svr => linfa(LinfaKind::Svr)?,
        Kind::RandomForest => linfa(LinfaKind::RandomForest)?,
        Kind::Pls => ModelChoice::Pls(pls()),
        Kind::Gp => ModelChoice::Gp(gp()),
        Kind::Nn => ModelChoice::Nn(crate::surrogates::nn::NnParams {
            hidden: a.hidden,
            epochs: a.epochs,
            device: nn_device,
            ..Default::default()
        }),
        Kind::Hybrid => ModelChoice::Hybrid(ResidualParams {
            corrector: match a.corrector {
                CorrectorKind::Pls => Corrector::Pls(pls()),
                CorrectorKind::Gp => Corrector::Gp(gp()),
            },
            // The mechanistic predictions are the last features, one per target.
            mechanistic_columns: (n_features - a.target.len()..n_features).collect(),
        }),
        Kind::SerialHybrid => {
            let m = serial_spec
                .as_ref()
                .expect("loaded above for serial-hybrid"); // ok: invariant
            // The serial hybrid simulates from the conditions: each must be
            // a feature column (the fit finds them by name).
            let names = spec.feature_names();
            if let Some(c) = m
                .condition
                .iter()
                .find(|c| !names.iter().any(|n| *n == c.parameter))
            {
                bar.finish_and_clear();
                return Err(Error::input(
                    "<command line>",
                    "--parameters",
                    format!(
                        "the mechanistic conditions among the features (serial-hybrid simulates from them; missing `{}`)",
                        c.parameter
                    ),
                    names.join(","),
                ).into());
            }
            // Conditioned on each batch's data up to the cut-off; gal_ref
            // fitted to galactosylation when the dataset's mechanistic
            // model maps that CQA (docs/hybrid.md).
            let mut calibration =
                crate::surrogates::hybrid::calibrated::CalibratedParams::cho_conditioned(a.cutoff);
            if m.cqa_of("galactosylated", &a.dataset).is_err() {
                calibration.parameters.retain(|p| p != "gal_ref");
                calibration.linear_only.clear();
                calibration.cqa_observed.clear();
            }
            ModelChoice::SerialHybrid(Box::new(calibration))
        }
    };
    bar.inc(1);
    if !a.ladder.is_empty() {
        bar.finish_and_clear();
        return run_ladder(&a, &ds, &spec, choice, &validation);
    }
    bar.set_message(format!("validating ({}) and fitting", validation.label()));
    let artifact = train_with_mechanistic(&ds, &spec, serial_spec.as_ref(), &choice, &validation)?;
    bar.inc(2);
    bar.set_message("saving");
    let held: Vec<String> = match &validation {
        Validation::Holdout(h) => h.clone(),
        _ => vec![],
    };
    let saved = if a.out.is_none() {
        let dir = a
            .registry
            .clone()
            .unwrap_or_else(|| PathBuf::from("models"));
        let dir = &dir;
        let user = current_user(a.user.as_deref())?;
        let name = a
            .name
            .clone()
            .unwrap_or_else(|| format!("{}-{}", artifact.model.kind(), a.target.join("+")));
        let rec = Registry::new(dir).register(
            &name,
            &artifact,
            &validation.label(),
            &held,
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
    } else {
        let out = a.out.clone().unwrap_or_default();
        let file = if out.extension().is_some_and(|e| e == "json") {
            out.clone()
        } else {
            std::fs::create_dir_all(&out).map_err(|e| Error::io(&out, e))?;
            let info = serde_json::json!({
                "validation": validation.label(),
                "held_out": held,
                "dataset": a.dataset.display().to_string(),
            });
            let text = serde_json::to_string_pretty(&info).map_err(|e| Error::io(&out, e))?;
            crate::output::atomic::write_atomic(&out.join("training.json"), text.as_bytes())?;
            out.join("model.json")
        };
        artifact.save(&file)?;
        format!("model written to {}", file.display())
    };
    bar.inc(1);
    bar.finish_and_clear();
    outln!(
        "{} on {} ({} batches, training-data hash {}), {} features, cut-off {} of batch time",
        artifact.model.kind(),
        ds.name,
        ds.batches.len(),
        &ds.content_hash[..ds.content_hash.len().min(12)],
        n_features,
        a.cutoff
    );
    super::evaluate::print_metrics(&artifact.metrics);
    outln!("{saved}");
    Ok(())
}

/// `--ladder`: a ladder of the same model at every cut, trained on every
/// batch except a --holdout list, saved as a sealed ladder file.
fn run_ladder(
    a: &Args,
    ds: &Dataset,
    spec: &UnfoldingSpec,
    choice: ModelChoice,
    validation: &Validation,
) -> Result<(), CliError> {
    use crate::live::surrogate::ladder::{LadderConfig, RungModel, train_ladder};
    let training: Vec<String> = match validation {
        Validation::Holdout(h) => ds
            .batch_ids()
            .into_iter()
            .filter(|b| !h.contains(b))
            .collect(),
        Validation::None => ds.batch_ids(),
        other => {
            return Err(Error::input(
                "<command line>",
                "--ladder",
                "no validation option or --holdout (each rung is validated by leave-batch-out)",
                other.label(),
            )
            .into());
        }
    };
    let config = LadderConfig {
        name: a
            .name
            .clone()
            .unwrap_or_else(|| format!("ladder-{}", a.target.join("+"))),
        online: spec.online.clone(),
        offline: spec.offline.clone(),
        parameters: spec.parameters.clone(),
        targets: spec.targets.clone(),
        n_points: spec.n_points,
        cut_fractions: a.ladder.clone(),
        model: RungModel::from_choice(choice).ok_or_else(|| {
            Error::input(
                "<command line>",
                "--model",
                "pls, gp, elastic-net, svr or random-forest with --ladder (the rungs of a live ladder)",
                model_name(a.model),
            )
        })?,
        interval_level: 0.9,
    };
    let ladder = train_ladder(ds, Some(&training), &config)?;
    let out = a.out.clone().unwrap_or_default();
    ladder.save(&out)?;
    outln!(
        "ladder of {} rungs on {} ({} training batches, training-data hash {})",
        ladder.rungs.len(),
        ds.name,
        training.len(),
        &ds.content_hash[..ds.content_hash.len().min(12)]
    );
    for r in &ladder.rungs {
        for (j, t) in config.targets.iter().enumerate() {
            let m = &r.calibration.metrics[t];
            outln!(
                "  cut {:>4.0} % {t}: leave-batch-out MAPE {} RMSE {:.4}, 90 % interval = mean +- {:.2} sd (covers {:.0} %)",
                100.0 * r.cut_fraction,
                m.mape_percent.map_or("-".into(), |v| format!("{v:.2} %")),
                m.rmse,
                r.calibration.sd_multiplier[j],
                100.0 * r.calibration.coverage[j]
            );
        }
    }
    outln!("ladder written to {}", out.display());
    Ok(())
}

/// The `--model` value as typed on the command line (e.g. `elastic-net`).
fn model_name(m: Kind) -> String {
    clap::ValueEnum::to_possible_value(&m)
        .map_or_else(|| format!("{m:?}"), |v| v.get_name().to_string())
}
