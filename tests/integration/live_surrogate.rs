//! SurrogatePredictor behaviour on real IndPenSim data: ladder file round
//! trip and tamper check, late and out-of-order observations, rung choice,
//! no use of data after the cut, P(in spec), bad input.

use std::collections::BTreeMap;

use biotwin::data::long_format::read_long;
use biotwin::data::{BatchRecord, Dataset};
use biotwin::live::surrogate::ladder::{Ladder, LadderConfig, RungModel, train_ladder};
use biotwin::live::surrogate::{BatchPlan, SharedLadder, SurrogatePredictor};
use biotwin::live::{Observation, Predictor};
use biotwin::surrogates::pls::PlsParams;

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn dataset() -> Dataset {
    Dataset::load(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/training-data/indpensim"
    ))
    .unwrap_or_else(|e| panic!("{e}"))
}

/// A small, fast ladder (PLS, two rungs) on B02..B20; B01 is the live batch.
fn small_ladder(ds: &Dataset) -> Ladder {
    let cfg = LadderConfig {
        name: "test".into(),
        online: names(&["volume", "sugar_feed_flow"]),
        offline: names(&["penicillin"]),
        parameters: names(&["water_feed_scale"]),
        targets: names(&["final_penicillin", "final_biomass"]),
        n_points: 1,
        cut_fractions: vec![0.25, 0.5],
        model: RungModel::Pls(PlsParams::new(2)),
        interval_level: 0.9,
    };
    let train: Vec<String> = ds.batch_ids().into_iter().skip(1).collect();
    train_ladder(ds, Some(&train), &cfg).unwrap_or_else(|e| panic!("{e}"))
}

fn observations(ds: &Dataset, b: &BatchRecord) -> Vec<Observation> {
    let mut out = Vec::new();
    for (path, _) in &b.meta.files {
        for s in read_long(path, &ds.tag_map).unwrap() {
            let tag = &ds.tag_map.tags[&s.tag];
            let t = s.time_unix_s - b.meta.start_unix_s;
            out.push(Observation {
                variable: tag.variable.clone(),
                time_s: t,
                available_s: t,
                value_si: tag.to_si.apply(s.value),
            });
        }
    }
    out.sort_by(|a, b| a.available_s.total_cmp(&b.available_s));
    out
}

fn plan(b: &BatchRecord) -> BatchPlan {
    BatchPlan {
        batch_id: b.id().into(),
        duration_s: b.duration_s(),
        parameters: b.meta.parameters.clone(),
        specs: BTreeMap::from([("final_penicillin".to_string(), (Some(27.0), None))]),
    }
}

fn run(
    shared: &std::sync::Arc<SharedLadder>,
    b: &BatchRecord,
    obs: &[Observation],
) -> biotwin::live::Forecast {
    let mut p = SurrogatePredictor::new(shared.clone(), plan(b)).unwrap();
    for o in obs {
        p.assimilate(o).unwrap();
    }
    p.forecast(1).unwrap()
}

#[test]
fn ladder_predictor_behaves_live() {
    let ds = dataset();
    let ladder = small_ladder(&ds);
    assert_eq!(ladder.rungs.len(), 2);
    assert!(!ladder.training_batches.contains(&"B01".to_string()));
    for r in &ladder.rungs {
        assert_eq!(r.calibration.n, 19);
        assert!(r.calibration.sd_multiplier.iter().all(|q| *q > 0.0));
        assert!(
            r.artifact
                .metrics
                .contains_key("leave_batch_out/final_penicillin")
        );
    }
    // File round trip, then a tampered copy is refused.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ladder.json");
    ladder.save(&path).unwrap();
    let loaded = Ladder::load(&path).unwrap();
    assert_eq!(loaded, ladder);
    let text = std::fs::read_to_string(&path).unwrap();
    let tampered = dir.path().join("tampered.json");
    std::fs::write(
        &tampered,
        text.replacen("\"cut_fraction\":0.5", "\"cut_fraction\":0.4", 1),
    )
    .unwrap();
    let err = Ladder::load(&tampered).unwrap_err().to_string();
    assert!(err.contains("altered"), "{err}");
    assert!(err.contains("tampered.json"), "{err}");

    let b = &ds.batches[0];
    let shared = SharedLadder::load(&path).unwrap();
    assert!(shared.model_id.starts_with("surrogate-ladder:test@"));
    let all = observations(&ds, b);
    let d = b.duration_s();
    let upto = |f: f64| -> Vec<Observation> {
        all.iter()
            .filter(|o| o.available_s <= f * d)
            .cloned()
            .collect()
    };

    // At 50 %: the 50 % rung; the same forecast through from_artifact.
    let half = run(&shared, b, &upto(0.5));
    let mut p = SurrogatePredictor::from_artifact(&path, plan(b)).unwrap();
    for o in &upto(0.5) {
        p.assimilate(o).unwrap();
    }
    assert_eq!(p.current_cut(), 0.5);
    assert_eq!(p.forecast(99).unwrap(), half, "deterministic, seed unused");
    assert_eq!(p.model_id(), shared.model_id);
    assert_eq!(half.cqas.len(), 2);
    let c = &half.cqas[0];
    assert!(c.p05 < c.mean && c.mean < c.p95);
    // P(in spec) with only a lower limit: P(final > 27 g/L) from the normal
    // matching the interval, between 0 and 1, higher for a lower limit.
    let p_in = c.p_in_spec.unwrap();
    assert!((0.0..=1.0).contains(&p_in));
    assert_eq!(half.cqas[1].p_in_spec, None, "no limits configured");

    // Out of order: the same observations delivered backwards.
    let mut rev = upto(0.5);
    rev.reverse();
    assert_eq!(run(&shared, b, &rev), half);

    // Data after the cut do not enter: at 60 % the 50 % rung gives the same
    // CQA forecast as at 50 %.
    let later = run(&shared, b, &upto(0.6));
    assert_eq!(later.cqas, half.cqas);
    assert!(later.time_s > half.time_s);

    // At 30 %: the 25 % rung; before 25 %: the prior, wider.
    let early = run(&shared, b, &upto(0.3));
    let prior = run(&shared, b, &upto(0.1));
    let cut = |f: &biotwin::live::Forecast| {
        f.state
            .iter()
            .find(|s| s.0 == "surrogate_cut_fraction")
            .unwrap()
            .1
    };
    assert_eq!(cut(&early), 0.25);
    assert_eq!(cut(&prior), 0.0);
    assert_eq!(prior.cqas[0].mean, ladder.prior[0].mean);
    assert!(prior.cqas[0].p95 - prior.cqas[0].p05 > c.p95 - c.p05);

    // A lab result 10 h late: the 108 h penicillin sample, known only at
    // 118 h, is not used at 115 h; the forecast equals one without it.
    let lab = |o: &Observation| o.variable == "penicillin" && o.time_s == 108.0 * 3600.0;
    let mut late: Vec<Observation> = upto(0.5).into_iter().filter(|o| !lab(o)).collect();
    let without = run(&shared, b, &late);
    let mut sample = all.iter().find(|o| lab(o)).unwrap().clone();
    sample.available_s = sample.time_s + 10.0 * 3600.0;
    late.push(sample.clone());
    let with_late = run(&shared, b, &late);
    assert_eq!(with_late.cqas, without.cqas);
    assert_ne!(with_late.cqas, half.cqas, "the 108 h result matters");
    // Once known (at its sample time) it is used at its sample time.
    sample.available_s = sample.time_s;
    late.pop();
    late.insert(0, sample);
    assert_eq!(run(&shared, b, &late).cqas, half.cqas);

    // Variables the ladder does not use are declined, bad values refused.
    let mut p = SurrogatePredictor::new(shared.clone(), plan(b)).unwrap();
    let mut o = all[0].clone();
    o.variable = "ph".into();
    assert!(!p.assimilate(&o).unwrap());
    o.variable = "volume".into();
    o.value_si = f64::NAN;
    let err = p.assimilate(&o).unwrap_err().to_string();
    assert!(err.contains("value_si") && err.contains("B01"), "{err}");
    // A plan without the recipe parameter the ladder reads is refused.
    let mut bad = plan(b);
    bad.parameters.clear();
    let err = SurrogatePredictor::new(shared.clone(), bad)
        .unwrap_err()
        .to_string();
    assert!(err.contains("water_feed_scale"), "{err}");
}

/// `biotwin train --ladder` writes a sealed ladder that loads into a
/// predictor; a ladder with cross-validation options is refused.
#[test]
fn cli_trains_a_ladder() {
    use std::process::Command;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ladder.json");
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/training-data/indpensim");
    let o = Command::new(env!("CARGO_BIN_EXE_biotwin"))
        .args([
            "train",
            "--dataset",
            data,
            "--model",
            "pls",
            "--components",
            "2",
        ])
        .args(["--target", "final_penicillin", "--offline", "penicillin"])
        .args(["--online", "volume,sugar_feed_flow", "--parameters", "none"])
        .args([
            "--holdout",
            "B01",
            "--ladder",
            "0.3,0.6",
            "--quiet",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(stdout.contains("ladder of 2 rungs"), "{stdout}");
    assert!(stdout.contains("cut   60 % final_penicillin"), "{stdout}");
    let ladder = Ladder::load(&out).unwrap();
    assert_eq!(ladder.training_batches.len(), 19);
    assert_eq!(ladder.config.cut_fractions, vec![0.3, 0.6]);
    let o = Command::new(env!("CARGO_BIN_EXE_biotwin"))
        .args(["train", "--dataset", data, "--model", "pls"])
        .args(["--target", "final_penicillin", "--leave-batch-out"])
        .args(["--ladder", "0.5", "--quiet", "--out"])
        .arg(dir.path().join("x.json"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(stderr.contains("--ladder"), "{stderr}");
}
