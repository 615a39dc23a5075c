//! `biotwin live`: run live mode from a site configuration.

use std::path::PathBuf;
use std::sync::Arc;

use super::CliError;
use crate::error::Error;
use crate::live::Store;
use crate::live::config::SiteConfig;
use crate::live::engine::{Engine, EngineOptions, PredictorFactory, open_source, open_source_at};
use crate::live::factory::SiteFactory;
use crate::live::mechanistic::MechanisticOptions;

#[derive(clap::Args, Debug)]
#[command(
    about = "Live mode: historian data in, state estimate and end-of-batch forecasts out, all recorded",
    after_help = "Examples:\n  biotwin live --config process-models/sites/example-site.toml --once\n  biotwin live --config process-models/sites/example-site.toml --once --model cho-fit --registry models\n  biotwin live --config process-models/sites/example-site.toml --once --model fit-out/model.toml\n  biotwin live --config site.toml --speed 3600\n  biotwin live --config process-models/sites/example-site.toml --once --serve 127.0.0.1:8080\n  biotwin live --config process-models/sites/indpensim-site.toml --once --at 0.25,0.5,0.75\n\nReadings are stored as received, mapped to model variables (refusals counted by\nreason), assimilated, and forecast every forecast_every_s of batch time into the\nSQLite store named in the site file. A restart resumes every unfinished batch\nwithout losing or duplicating a prediction. Check the audit trail with\n`biotwin audit verify --store FILE`. With --serve ADDR the QA page runs alongside\n(see `biotwin serve --help`) and stays up after processing until Ctrl-C; Ctrl-C\nstops both (every write is one transaction: a restart resumes)."
)]
pub struct Args {
    /// Site configuration (TOML; see docs/live.md).
    #[arg(long)]
    pub config: PathBuf,
    /// Process what the sources have now, then exit (replays run to their
    /// end, as fast as possible unless --speed is given).
    #[arg(long)]
    pub once: bool,
    /// Replay pace: seconds of historian time per wall-clock second
    /// (default 1, real time; with --once: as fast as possible; 0 = as fast as possible).
    #[arg(long)]
    pub speed: Option<f64>,
    /// Also serve the QA web page and API on ADDR (e.g. 127.0.0.1:8080) over
    /// the same store while the engine runs; the server stays up after the
    /// sources end (also with --once) until Ctrl-C.
    #[arg(long, value_name = "ADDR")]
    pub serve: Option<std::net::SocketAddr>,
    /// Every mechanistic batch registered from now on runs this model
    /// instead of its process file's: a calibrated model's name in the
    /// registry (its promoted version) or its promoted id (as a site file's
    /// `model = "registry:NAME"`), or a model file (a path: it contains `/`
    /// or ends in `.toml`; e.g. the model.toml of `biotwin fit`), checked as
    /// `simulate --model FILE` checks it and recorded by its absolute path
    /// and sha256; its text is stored at each batch's start. A batch keeps
    /// the model it started with across restarts (a file's stored copy, so
    /// an edit of the file reaches only batches started after it).
    #[arg(long, value_name = "NAME|ID|FILE")]
    pub model: Option<String>,
    /// The model registry for --model (default: the site file's
    /// `[site] registry`, else `models`).
    #[arg(long)]
    pub registry: Option<PathBuf>,
    /// Also print, per batch, the forecast that was current at these
    /// fractions of the planned duration (comma list in (0, 1], e.g.
    /// 0.25,0.5,0.75), read from the store.
    #[arg(long, value_delimiter = ',', value_name = "FRACTIONS")]
    pub at: Vec<f64>,
}

/// The predictors this build can make: `mechanistic` and `surrogate:PATH`
/// (see `live::factory`), with errors naming the site file; batch models
/// from the site's registry.
pub fn default_factory(cfg: &SiteConfig) -> Arc<dyn PredictorFactory> {
    Arc::new(
        SiteFactory::new(&cfg.file, MechanisticOptions::default())
            .with_registry(cfg.registry.clone()),
    )
}

pub fn run(a: Args) -> Result<(), CliError> {
    if let Some(s) = a.speed
        && (s.is_nan() || s < 0.0)
    {
        return Err(Error::input(
            "<command line>",
            "--speed",
            "a factor >= 0 (0 = as fast as possible)",
            s.to_string(),
        )
        .into());
    }
    super::live_at::check(&a.at)?;
    let mut site = SiteConfig::read(&a.config)?;
    if let Some(r) = &a.registry {
        site.registry = Some(r.clone());
    }
    if let Some(m) = &a.model {
        // The same path as a site file's `model = "registry:NAME"` or
        // `model = "PATH"`. A file is checked here, before anything is
        // recorded, exactly as `simulate --model FILE` checks it (the
        // engine checks it again as each batch starts).
        let reference = if crate::registry::mechanistic::is_path(m) {
            let resolved = crate::registry::mechanistic::resolve_file(m)?;
            // Of each mechanistic batch's process's family (a process the
            // loader cannot read here, e.g. one naming a registry model, is
            // checked by the engine, still before anything is recorded).
            for b in site.batches.iter().filter(|b| b.predictor == "mechanistic") {
                if let Ok(def) = crate::simulation::load_process(&b.process)
                    && def.model.family != resolved.model.family
                {
                    return Err(Error::input(
                        "<command line>",
                        "--model",
                        format!(
                            "a model of the family `{}` of batch {}'s process {}",
                            def.model.family,
                            b.id,
                            b.process.display()
                        ),
                        format!("`{m}` of family `{}`", resolved.model.family),
                    )
                    .into());
                }
            }
            m.clone()
        } else {
            if site.registry.is_none() {
                site.registry = Some(PathBuf::from("models"));
            }
            format!("registry:{m}")
        };
        for b in site
            .batches
            .iter_mut()
            .filter(|b| b.predictor == "mechanistic")
        {
            b.model = Some(reference.clone());
            b.model_from_process = false;
        }
    }
    let cfg = Arc::new(site);
    let speed = a.speed.unwrap_or(if a.once { 0.0 } else { 1.0 });
    // PostgreSQL: this worker runs the batches whose leases it holds; any
    // number of workers share the site (docs/live.md).
    let (store, leases) = crate::live::opened::open_worker(&cfg)?;
    // Bound before the engine starts, so a port in use fails the command
    // before anything is recorded.
    let server = match a.serve {
        Some(addr) => Some(super::serve::start(&cfg, addr)?),
        None => None,
    };
    let mut sources = Vec::new();
    let opened_at = std::time::Instant::now();
    for s in &cfg.sources {
        sources.push((open_source(s, speed)?, s.unit.clone()));
    }
    outln!(
        "live: site {} ({} batches, {} sources), store {}",
        cfg.name,
        cfg.batches.len(),
        sources.len(),
        crate::live::opened::describe(&cfg)
    );
    let factory = default_factory(&cfg);
    let mut engine = Engine::new(
        cfg.clone(),
        store.clone(),
        factory,
        sources,
        EngineOptions::default(),
    );
    if let Some(l) = leases {
        // A batch acquired from another worker: its sources are read again
        // from their beginning, paced from when this worker opened them.
        let c = cfg.clone();
        engine = engine.with_leases(
            l,
            Box::new(move |i| open_source_at(&c.sources[i], speed, Some(opened_at))),
        );
    }
    engine.start()?;
    let stats = engine.run(a.once)?;
    outln!("{stats}");
    print_latest(&cfg, store.as_ref())?;
    if !a.at.is_empty() {
        super::live_at::print_at(&cfg, store.as_ref(), &a.at)?;
    }
    match server {
        Some(server) => {
            outln!(
                "live: sources done; still serving http://{}/ until Ctrl-C",
                server.addr()
            );
            Ok(server.wait()?)
        }
        None => Ok(()),
    }
}

/// The latest forecast of every batch of the site and its open alerts: what
/// QA wants to see first, without opening the store.
fn print_latest(cfg: &SiteConfig, store: &dyn Store) -> Result<(), CliError> {
    for b in &cfg.batches {
        let Some(p) = store.predictions(&b.tenant, &b.id)?.pop() else {
            outln!("batch {} ({}): no forecast yet", b.id, b.tenant);
            continue;
        };
        outln!(
            "batch {} ({}): forecast {} at {:.1} h of batch time, model {}",
            b.id,
            b.tenant,
            p.seq + 1,
            p.forecast.time_s / 3600.0,
            p.model_id
        );
        outln!(
            "  {:<26} {:>10}  {:>23}  {:>15}  {:>11}",
            "end-of-batch CQA",
            "mean",
            "90 % interval",
            "specification",
            "P(in spec)"
        );
        for c in &p.forecast.cqas {
            let spec = match (c.lower_spec, c.upper_spec) {
                (Some(l), Some(u)) => format!("{l:.4} to {u:.4}"),
                (Some(l), None) => format!(">= {l:.4}"),
                (None, Some(u)) => format!("<= {u:.4}"),
                (None, None) => "-".into(),
            };
            let pin = c.p_in_spec.map_or("-".into(), |v| format!("{v:.3}"));
            outln!(
                "  {:<26} {:>10.4}  [{:>10.4}, {:>10.4}]  {:>15}  {:>11}",
                c.name,
                c.mean,
                c.p05,
                c.p95,
                spec,
                pin
            );
        }
    }
    let mut tenants: Vec<&str> = cfg.batches.iter().map(|b| b.tenant.as_str()).collect();
    tenants.sort_unstable();
    tenants.dedup();
    for t in tenants {
        for a in store.alerts(t)? {
            outln!(
                "ALERT batch {} ({}): {} P(in spec) {:.3} < {:.3}, first predicted at {:.1} h{}",
                a.batch_id,
                a.tenant,
                a.cqa,
                a.p_in_spec,
                a.threshold,
                a.first_predicted_s / 3600.0,
                a.acknowledged_by
                    .as_ref()
                    .map_or(String::new(), |u| format!(", acknowledged by {u}"))
            );
        }
    }
    Ok(())
}
