//! The one-call training path used by the CLI: unfold, validate by batch,
//! fit, save, load, evaluate on held-out batches.

use biotwin_ml::data::Dataset;
use biotwin_ml::surrogates::artifact::Artifact;
use biotwin_ml::surrogates::pls::PlsParams;
use biotwin_ml::surrogates::train::{ModelChoice, Validation, evaluate, predict_batch, train};
use biotwin_ml::surrogates::unfold::UnfoldingSpec;

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn setup() -> (Dataset, UnfoldingSpec) {
    let ds = Dataset::load(concat!(
        concat!(env!("CARGO_MANIFEST_DIR"), "/../.."),
        "/training-data/indpensim"
    ))
    .unwrap();
    let spec = UnfoldingSpec {
        online: names(&["volume"]),
        offline: names(&["penicillin", "biomass"]),
        parameters: names(&["sugar_feed_scale"]),
        targets: names(&["final_penicillin", "final_biomass"]),
        cutoff_fraction: 0.5,
        n_points: 3,
        mechanistic: None,
    };
    (ds, spec)
}

#[test]
fn holdout_training_excludes_the_held_out_batches_and_round_trips() {
    let (ds, spec) = setup();
    let held = names(&["B19", "B20"]);
    let choice = ModelChoice::Pls(PlsParams::new(2));
    let a = train(&ds, &spec, &choice, &Validation::Holdout(held.clone())).unwrap();
    assert_eq!(
        a.training_data_hash.as_deref(),
        Some(ds.content_hash.as_str())
    );
    assert_eq!(a.feature_names.len(), 3 * 3 + 1);
    assert!(a.feature_names.contains(&"penicillin@25.0%".to_string()));
    for key in [
        "holdout/final_penicillin",
        "holdout/final_biomass",
        "train/final_penicillin",
    ] {
        assert!(a.metrics.contains_key(key), "{key}: {:?}", a.metrics.keys());
    }
    assert_eq!(a.metrics["holdout/final_penicillin"].n, 2);
    assert_eq!(a.metrics["train/final_penicillin"].n, 18);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.json");
    a.save(&path).unwrap();
    let loaded = Artifact::load(&path).unwrap();
    let ev = evaluate(&loaded, &ds, Some(&held)).unwrap();
    assert!(ev.dataset_is_training_data);
    assert_eq!(ev.batch_ids, held);
    // Evaluation of the held-out batches reproduces the hold-out metrics.
    let m = &ev.metrics["final_penicillin"];
    assert!((m.rmse - a.metrics["holdout/final_penicillin"].rmse).abs() < 1e-12);
    // Predicting one batch record gives the same numbers.
    let source = ds.dir.join("dataset.toml");
    let p = predict_batch(&loaded, ds.batch("B20").unwrap(), &source).unwrap();
    assert_eq!(p.mean[(0, 0)], ev.prediction.mean[(1, 0)]);
    assert!(p.std[(0, 0)] > 0.0);
}

#[test]
fn cross_validation_metrics_are_recorded() {
    let (ds, spec) = setup();
    let choice = ModelChoice::Pls(PlsParams::new(1));
    let a = train(&ds, &spec, &choice, &Validation::KFold(4)).unwrap();
    assert_eq!(a.metrics["kfold4_by_batch/final_penicillin"].n, 20);
    let factors = names(&["sugar_feed_scale", "water_feed_scale"]);
    let e = train(
        &ds,
        &spec,
        &choice,
        &Validation::EdgeOfDoe { factors, n_edge: 3 },
    )
    .unwrap();
    assert_eq!(e.metrics["edge_of_doe/final_penicillin"].n, 3);
}

#[test]
fn unknown_holdout_batch_and_missing_variable_are_input_errors() {
    let (ds, spec) = setup();
    let choice = ModelChoice::Pls(PlsParams::new(1));
    let err = train(&ds, &spec, &choice, &Validation::Holdout(names(&["B99"]))).unwrap_err();
    assert!(err.diagnostics().is_some() && err.exit_code() == 2, "{err}");
    assert!(err.to_string().contains("`B99`"), "{err}");
    let bad = UnfoldingSpec {
        online: names(&["glucose"]),
        ..spec
    };
    let err = train(&ds, &bad, &choice, &Validation::None).unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert!(err.to_string().contains("batches.B01.online"), "{err}");
}
