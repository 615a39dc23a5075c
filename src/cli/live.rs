//! `biotwin live`: run live mode from a site configuration.

use std::path::PathBuf;
use std::sync::Arc;

use crate::error::Error;
use crate::live::Predictor;
use crate::live::config::{BatchConfig, SiteConfig};
use crate::live::engine::{Engine, EngineOptions, PredictorFactory, open_source};
use crate::live::sqlite_store::SqliteStore;

#[derive(clap::Args, Debug)]
#[command(
    about = "Live mode: historian data in, state estimate and end-of-batch forecasts out, all recorded",
    after_help = "Examples:\n  biotwin live --config process-models/sites/example-site.toml --once\n  biotwin live --config site.toml --speed 3600\n\nReadings are stored as received, mapped to model variables (refusals counted by\nreason), assimilated, and forecast every forecast_every_s of batch time into the\nSQLite store named in the site file. A restart resumes every unfinished batch\nwithout losing or duplicating a prediction. Check the audit trail with\n`biotwin audit verify --store FILE`."
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
}

/// The predictors this build can make. Kept in one place so that wiring the
/// mechanistic and surrogate predictors is a one-function change.
pub fn default_factory() -> Arc<dyn PredictorFactory> {
    struct Default;
    impl PredictorFactory for Default {
        fn create(&self, batch: &BatchConfig) -> Result<Box<dyn Predictor>, Error> {
            Err(Error::input(
                "<site file>",
                format!("batches.{}.predictor", batch.id),
                "a predictor available in this build",
                format!(
                    "`{}`: predictor not available in this build",
                    batch.predictor
                ),
            ))
        }
    }
    Arc::new(Default)
}

pub fn run(a: Args) -> Result<(), Error> {
    if let Some(s) = a.speed {
        if s.is_nan() || s < 0.0 {
            return Err(Error::input(
                "<command line>",
                "--speed",
                "a factor >= 0 (0 = as fast as possible)",
                s.to_string(),
            ));
        }
    }
    let cfg = Arc::new(SiteConfig::read(&a.config)?);
    let speed = a.speed.unwrap_or(if a.once { 0.0 } else { 1.0 });
    let store = Arc::new(SqliteStore::open(&cfg.store_path)?);
    let mut sources = Vec::new();
    for s in &cfg.sources {
        sources.push((open_source(s, speed)?, s.unit.clone()));
    }
    outln!(
        "live: site {} ({} batches, {} sources), store {}",
        cfg.name,
        cfg.batches.len(),
        sources.len(),
        cfg.store_path.display()
    );
    let mut engine = Engine::new(
        cfg,
        store,
        default_factory(),
        sources,
        EngineOptions::default(),
    );
    engine.start()?;
    let stats = engine.run(a.once)?;
    outln!("{stats}");
    Ok(())
}
