//! IndPenSim leave-batch-out *live* replay (issue 6): for each of the 20
//! batches, a surrogate ladder is trained on the other 19; the held-out
//! batch's historian export is replayed as readings, converted to
//! observations with the dataset's tag map, and fed to the predictor in the
//! order the values became available. The forecast made at 50 % of batch
//! time must reach MAPE <= 5 % on final penicillin and its 90 % interval
//! must cover the truth in at least 16 of 20 batches.

use std::collections::BTreeMap;
use std::sync::Arc;

use biotwin_live::surrogate::ladder::{LadderConfig, RungModel, train_ladder};
use biotwin_live::surrogate::{BatchPlan, SharedLadder, SurrogatePredictor};
use biotwin_live::{Forecast, Observation, Predictor, Quality, Reading};
use biotwin_ml::data::long_format::read_long;
use biotwin_ml::data::{BatchMeta, Dataset, TagMap};
use biotwin_ml::surrogates::gp::{GpParams, RbfKernel};
use biotwin_ml::surrogates::gp_fit::OptimiseOptions;
use rayon::prelude::*;

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn dataset() -> Dataset {
    Dataset::load(concat!(
        concat!(env!("CARGO_MANIFEST_DIR"), "/../.."),
        "/training-data/indpensim"
    ))
    .unwrap_or_else(|e| panic!("{e}"))
}

/// The declared model: penicillin titre (latest lab result), broth volume
/// and the three feed rates at the cut; GP with ARD length scales fitted by
/// marginal likelihood; rungs every 10 % of batch time.
pub fn config() -> LadderConfig {
    let p = 5;
    LadderConfig {
        name: "indpensim-penicillin".into(),
        online: names(&[
            "volume",
            "sugar_feed_flow",
            "water_feed_flow",
            "paa_feed_flow",
        ]),
        offline: names(&["penicillin"]),
        parameters: vec![],
        targets: names(&["final_penicillin"]),
        n_points: 1,
        cut_fractions: (1..=9).map(|k| k as f64 / 10.0).collect(),
        model: RungModel::Gp(GpParams {
            kernel: RbfKernel {
                signal_variance: 1.0,
                length_scales: vec![1.0; p],
                noise_variance: 0.1,
            },
            jitter: 1e-10,
            normalise_y: true,
            standardise_x: true,
            optimise: Some(OptimiseOptions::default()),
        }),
        interval_level: 0.9,
    }
}

/// The historian export of a batch as a source would deliver it.
fn readings(meta: &BatchMeta, tags: &TagMap) -> Vec<Reading> {
    let mut out = Vec::new();
    for (path, _) in &meta.files {
        for s in read_long(path, tags).unwrap_or_else(|e| panic!("{e}")) {
            out.push(Reading {
                tag: s.tag,
                time_unix_s: s.time_unix_s,
                available_unix_s: s.result_unix_s,
                value: s.value,
                quality: Quality::Good,
            });
        }
    }
    out
}

/// Reading -> Observation with the tag map (the live mapping stage).
fn observation(r: &Reading, meta: &BatchMeta, tags: &TagMap) -> Option<Observation> {
    let tag = tags.tags.get(&r.tag)?;
    let t = r.time_unix_s - meta.start_unix_s;
    Some(Observation {
        variable: tag.variable.clone(),
        time_s: t,
        available_s: r.available_unix_s.map_or(t, |a| a - meta.start_unix_s),
        value_si: tag.to_si.apply(r.value),
    })
}

fn plan(meta: &BatchMeta) -> BatchPlan {
    BatchPlan {
        batch_id: meta.id.clone(),
        duration_s: meta.duration_s(),
        parameters: meta.parameters.clone(),
        specs: BTreeMap::new(),
    }
}

/// Replays `obs` (in availability order) into a fresh predictor until
/// `fraction` of batch time; returns the forecast made then.
fn forecast_at(
    shared: &Arc<SharedLadder>,
    meta: &BatchMeta,
    obs: &[Observation],
    fraction: f64,
) -> Forecast {
    let mut p = SurrogatePredictor::new(shared.clone(), plan(meta)).unwrap();
    let until = fraction * meta.duration_s();
    for o in obs.iter().filter(|o| o.available_s <= until) {
        p.assimilate(o).unwrap();
    }
    p.forecast(7).unwrap()
}

struct Fold {
    id: String,
    truth: f64,
    at_half: Forecast,
    by_cut: Vec<(f64, f64)>,
}

#[test]
fn leave_batch_out_replay_meets_mape_and_coverage_at_half_time() {
    let ds = dataset();
    let tags = &ds.tag_map;
    let cfg = config();
    let ids = ds.batch_ids();
    let folds: Vec<Fold> = ds
        .batches
        .par_iter()
        .map(|held| {
            let train: Vec<String> = ids.iter().filter(|b| *b != held.id()).cloned().collect();
            let ladder = train_ladder(&ds, Some(&train), &cfg).unwrap_or_else(|e| panic!("{e}"));
            assert!(!ladder.training_batches.contains(&held.id().to_string()));
            let skipped: Vec<f64> = ladder
                .rungs
                .iter()
                .filter(|r| !r.informative(&ladder.prior, &ladder.config.targets))
                .map(|r| r.cut_fraction)
                .collect();
            println!(
                "{}: rungs not better than the prior: {skipped:?}",
                held.id()
            );
            let shared = SharedLadder::new(ladder).unwrap();
            let mut obs: Vec<Observation> = readings(&held.meta, tags)
                .iter()
                .filter_map(|r| observation(r, &held.meta, tags))
                .collect();
            obs.sort_by(|a, b| a.available_s.total_cmp(&b.available_s));
            let at_half = forecast_at(&shared, &held.meta, &obs, 0.5);
            let by_cut = [0.05, 0.2, 0.5, 0.8]
                .iter()
                .map(|&f| (f, forecast_at(&shared, &held.meta, &obs, f).cqas[0].mean))
                .collect();
            Fold {
                id: held.id().to_string(),
                truth: held.meta.cqas["final_penicillin"],
                at_half,
                by_cut,
            }
        })
        .collect();
    let mut ape_sum = 0.0;
    let mut covered = 0;
    println!("batch  truth   mean    p05     p95     APE%  in90  rung  | mean at 5/20/50/80 %");
    for f in &folds {
        let c = &f.at_half.cqas[0];
        assert_eq!(c.name, "final_penicillin_kg_per_m3");
        let cut = f
            .at_half
            .state
            .iter()
            .find(|s| s.0 == "surrogate_cut_fraction")
            .unwrap()
            .1;
        assert_eq!(
            cut, 0.5,
            "{}: the forecast at 50 % uses the 50 % rung",
            f.id
        );
        assert_eq!(f.at_half.time_s, 0.5 * 230.0 * 3600.0);
        let ape = 100.0 * (c.mean - f.truth).abs() / f.truth;
        let inside = c.p05 <= f.truth && f.truth <= c.p95;
        ape_sum += ape;
        covered += inside as usize;
        println!(
            "{}  {:6.2}  {:6.2}  {:6.2}  {:6.2}  {:5.2}  {}  {:.1}  | {:?}",
            f.id,
            f.truth,
            c.mean,
            c.p05,
            c.p95,
            ape,
            if inside { "yes" } else { "NO " },
            cut,
            f.by_cut
                .iter()
                .map(|(_, m)| (m * 100.0).round() / 100.0)
                .collect::<Vec<_>>()
        );
    }
    let mape = ape_sum / folds.len() as f64;
    println!(
        "live replay at 50 %: MAPE {mape:.2} %, 90 % interval covers {covered}/{}",
        folds.len()
    );
    // Measured MAPE at each cut (2026-12-05): 8.83, 9.30, 2.63, 2.32 %;
    // each asserted at its measured value + 0.05 percentage points.
    let measured = [8.83, 9.30, 2.63, 2.32];
    for (k, f) in [0.05, 0.2, 0.5, 0.8].iter().enumerate() {
        let m: f64 = folds
            .iter()
            .map(|x| 100.0 * (x.by_cut[k].1 - x.truth).abs() / x.truth)
            .sum::<f64>()
            / folds.len() as f64;
        println!(
            "forecast at {:.0} % of batch time: MAPE {m:.2} %",
            100.0 * f
        );
        assert!(
            m <= measured[k] + 0.05,
            "MAPE at {:.0} %: {m:.2} % (measured {:.2} %)",
            100.0 * f,
            measured[k]
        );
    }
    assert_eq!(folds.len(), 20);
    // README: "MAPE 2.63 %, 90 % interval covers 19/20" (the issue floor is
    // 5 %); asserted at 2.63 + 0.05 and 19/20.
    assert!(mape <= 2.68, "MAPE {mape:.2} % above README's 2.63 %");
    assert!(covered >= 19, "coverage {covered}/20 below README's 19/20");
    // Before the first cut the forecast is the training prior (wider).
    for f in &folds {
        assert_ne!(f.by_cut[0].1, f.at_half.cqas[0].mean);
    }
}
