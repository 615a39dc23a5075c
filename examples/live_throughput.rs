//! Throughput of the live engine: 1,000 concurrent batches, each receiving
//! one online update per 10 s of simulated time, all through one engine and
//! its store. The plant needs 1,000 / 10 s = 100 updates/s; this prints what
//! the engine achieves on this machine (single-threaded: the second core is
//! left to the rest of the service).
//!
//!   cargo run --release --example live_throughput -- [--hours H] [--store sqlite|memory|postgres://user@host:port/empty_db]
//!
//! Each update is stored (one transaction per unit and poll), mapped,
//! assimilated, and every `forecast_every_s` (10 min) of batch time each batch
//! forecasts and records a prediction. The predictor here is a recursive
//! least-squares trend with a 200-member seeded ensemble; pass a real
//! `PredictorFactory` (mechanistic, surrogate) in `factory()` to measure those.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use biotwin::data::tag_map::conversion;
use biotwin::live::Error;
use biotwin::live::config::{BatchConfig, SiteConfig, TagConfig, TenantConfig};
use biotwin::live::engine::{Engine, EngineOptions, PredictorFactory};
use biotwin::live::sqlite_store::SqliteStore;
use biotwin::live::trend::TrendFactory;
use biotwin::live::{Quality, Reading, Store};

const BATCHES: usize = 1000;
const UPDATE_EVERY_S: f64 = 10.0;
const START: f64 = 1_735_689_600.0;

fn factory() -> Arc<dyn PredictorFactory> {
    Arc::new(TrendFactory)
}

fn site(hours: f64, store_path: std::path::PathBuf) -> SiteConfig {
    let mut tags = BTreeMap::new();
    tags.insert(
        "X".to_string(),
        TagConfig {
            tag: "X".into(),
            variable: "x".into(),
            unit: "g/L".into(),
            to_si: conversion("g/L", "kg/m3").expect("g/L converts to kg/m3"),
            min: -1e9,
            max: 1e9,
            stale_after_s: 3600.0,
            lab: false,
            result_delay_s: 0.0,
        },
    );
    SiteConfig {
        file: "generated".into(),
        sha256: String::new(),
        name: "throughput".into(),
        forecast_every_s: 600.0,
        store_path,
        store_pg: None,
        store_anchor: None,
        registry: None,
        p_in_spec_min: 0.9,
        tenants: vec![TenantConfig {
            id: "t".into(),
            token_sha256: "0".repeat(64),
        }],
        tags,
        batches: (0..BATCHES)
            .map(|i| BatchConfig {
                id: format!("B{i:04}"),
                tenant: "t".into(),
                unit: format!("U{i:04}"),
                start_unix_s: START,
                planned_end_unix_s: START + hours * 3600.0 + 1.0,
                process: "generated".into(),
                predictor: "trend".into(),
                model: None,
                model_from_process: false,
            })
            .collect(),
        sources: vec![],
    }
}

fn main() -> Result<(), Error> {
    let mut hours = 2.0;
    let mut kind = "sqlite".to_string();
    let args: Vec<String> = std::env::args().skip(1).collect();
    for w in args.windows(2) {
        match w[0].as_str() {
            "--hours" => hours = w[1].parse().unwrap_or(hours),
            "--store" => kind = w[1].clone(),
            _ => {}
        }
    }
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
    let path = if kind == "memory" {
        ":memory:".into()
    } else {
        dir.path().join("throughput.sqlite")
    };
    let cfg = Arc::new(site(hours, path.clone()));
    // `--store postgres://user@host:port/db`: an empty database, migrated here.
    let store: Arc<dyn Store> = if biotwin::live::pg_store::is_url(&kind) {
        let t = biotwin::live::pg_store::PgTarget::new(&kind, None);
        Arc::new(biotwin::live::pg_store::PgStore::migrate(&t)?.0)
    } else {
        Arc::new(SqliteStore::open(&path)?)
    };
    let opts = EngineOptions {
        progress_every: None,
        ..EngineOptions::default()
    };
    let mut engine = Engine::new(cfg.clone(), store, factory(), vec![], opts);
    engine.start()?;

    let steps = (hours * 3600.0 / UPDATE_EVERY_S) as usize;
    let units: Vec<String> = cfg.batches.iter().map(|b| b.unit.clone()).collect();
    let t0 = Instant::now();
    for k in 0..steps {
        let t = START + (k + 1) as f64 * UPDATE_EVERY_S;
        for (i, unit) in units.iter().enumerate() {
            let r = Reading {
                tag: "X".into(),
                time_unix_s: t,
                available_unix_s: None,
                value: 0.1 * (t - START) / 3600.0 + 0.01 * ((i + k) % 13) as f64,
                quality: Quality::Good,
            };
            engine.ingest(unit, std::slice::from_ref(&r))?;
        }
    }
    let wall = t0.elapsed().as_secs_f64();
    let updates = (steps * BATCHES) as f64;
    let stats = engine.stats();
    let achieved = updates / wall;
    let required = BATCHES as f64 / UPDATE_EVERY_S;
    println!(
        "{BATCHES} batches x {steps} updates ({hours} h simulated at 1 update/{UPDATE_EVERY_S} s), store {kind}"
    );
    println!(
        "predictions recorded: {}; observations assimilated: {}",
        stats.predictions_new, stats.observations_assimilated
    );
    println!(
        "achieved {achieved:.0} updates/s, required {required:.0} updates/s: {} ({:.1}x headroom; {wall:.2} s wall)",
        if achieved >= required {
            "keeps up"
        } else {
            "FALLS BEHIND"
        },
        achieved / required
    );
    Ok(())
}
