//! The linfa models (elastic net, SVR) and the random forest as surrogates on
//! the shipped CHO training set: train, predict finite values, register →
//! load → identical predictions, bad hyper-parameters refused; the ndarray
//! boundary; and biotwin's PLS cross-checked against linfa-pls.

use biotwin_ml::data::Dataset;
use biotwin_ml::registry::Registry;
use biotwin_ml::surrogates::forest::ForestParams;
use biotwin_ml::surrogates::linfa_models::{ElasticNetParams, SvrKernel, SvrParams};
use biotwin_ml::surrogates::ndarray_bridge::{ArrayPredict, view};
use biotwin_ml::surrogates::pls::PlsParams;
use biotwin_ml::surrogates::train::{ModelChoice, Validation, train};
use biotwin_ml::surrogates::unfold::UnfoldingSpec;
use biotwin_ml::surrogates::{Fit, Predict, SurrogateError, TrainingSet};

const CHO: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../training-data/cho-platform"
);

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Day-7 titer and viable cells plus four process conditions → final titer
/// and galactosylation (two CQAs, so one linfa model per CQA is exercised).
fn spec() -> UnfoldingSpec {
    UnfoldingSpec {
        online: vec![],
        offline: names(&["titer", "viable_cells"]),
        parameters: names(&[
            "shift_temperature",
            "do_setpoint",
            "feed_scale",
            "ph_setpoint",
        ]),
        targets: names(&["final_titer", "galactosylated"]),
        cutoff_fraction: 0.5,
        n_points: 1,
        mechanistic: None,
    }
}

fn choices() -> Vec<ModelChoice> {
    vec![
        ModelChoice::ElasticNet(ElasticNetParams::default()),
        ModelChoice::Svr(SvrParams::default()),
        ModelChoice::RandomForest(ForestParams::default()),
    ]
}

#[test]
fn each_model_trains_on_cho_predicts_finite_values_and_round_trips_through_the_registry() {
    let ds = Dataset::load(CHO).unwrap();
    let spec = spec();
    let data = spec.training_set(&ds).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let reg = Registry::new(dir.path());
    let held = names(&["B21", "B22", "B23", "B24"]);
    for choice in choices() {
        let a = train(&ds, &spec, &choice, &Validation::Holdout(held.clone())).unwrap();
        let kind = a.model.kind();
        assert_eq!(a.model.n_features(), 6, "{kind}");
        assert_eq!(a.model.n_targets(), 2, "{kind}");
        let p = a.model.predict(&data.x).unwrap();
        assert!(
            p.mean.iter().chain(p.std.iter()).all(|v| v.is_finite()),
            "{kind}"
        );
        assert!(p.std.iter().all(|s| *s > 0.0), "{kind}");
        // Plausible: titers within the observed range ± half of it (kg/m³).
        let (lo, hi) = (data.y.column(0).min(), data.y.column(0).max());
        for t in p.mean.column(0).iter() {
            assert!(
                *t > lo - 0.5 * (hi - lo) && *t < hi + 0.5 * (hi - lo),
                "{kind}: titer {t} outside [{lo}, {hi}] ± half"
            );
        }
        // Held-out error recorded and finite (4 batches: too few to rank
        // models; the comparison is the leave-batch-out table in
        // docs/surrogates.md).
        let m = &a.metrics["holdout/final_titer"];
        assert_eq!(m.n, 4);
        assert!(m.rmse.is_finite() && m.rmse > 0.0, "{kind}");
        // It learnt something: on its 32 training batches it beats the
        // training mean, whose RMSE is the population SD, by 10 % at least.
        let train_rows: Vec<usize> = (0..data.batch_ids.len())
            .filter(|&i| !held.contains(&data.batch_ids[i]))
            .collect();
        for (j, t) in ["final_titer", "galactosylated"].iter().enumerate() {
            let ys: Vec<f64> = train_rows.iter().map(|&i| data.y[(i, j)]).collect();
            let mean = ys.iter().sum::<f64>() / ys.len() as f64;
            let sd = (ys.iter().map(|y| (y - mean).powi(2)).sum::<f64>() / ys.len() as f64).sqrt();
            let fit = a.metrics[&format!("train/{t}")].rmse;
            assert!(
                fit < 0.9 * sd,
                "{kind}: training RMSE of {t} {fit} not below 0.9 × its SD {sd}"
            );
        }

        // register → load → identical predictions (and identical model).
        let rec = reg
            .register(kind, &a, "holdout", &held, Some(CHO), "tester")
            .unwrap();
        let (_, back) = reg.load(&rec.id).unwrap();
        assert_eq!(back.model, a.model, "{kind}");
        let q = back.model.predict(&data.x).unwrap();
        assert_eq!(q, p, "{kind}: predictions after the registry round trip");
        reg.promote(&rec.id, "linfa round-trip test", "tester")
            .unwrap();
        assert_eq!(
            reg.state().unwrap().serving.get(kind).map(String::as_str),
            Some(rec.id.as_str())
        );
    }
}

#[test]
fn bad_hyperparameters_are_refused_with_their_name_expected_and_found() {
    let ds = Dataset::load(CHO).unwrap();
    let cases = [
        (
            ModelChoice::ElasticNet(ElasticNetParams {
                l1_ratio: 1.5,
                ..Default::default()
            }),
            "l1_ratio",
            "1.5",
        ),
        (
            ModelChoice::ElasticNet(ElasticNetParams {
                penalty: -0.1,
                ..Default::default()
            }),
            "penalty",
            "-0.1",
        ),
        (
            ModelChoice::Svr(SvrParams {
                c: 0.0,
                ..Default::default()
            }),
            "c",
            "0",
        ),
        (
            ModelChoice::Svr(SvrParams {
                kernel: SvrKernel::Gaussian {
                    width: Some(f64::NAN),
                },
                ..Default::default()
            }),
            "kernel_width",
            "NaN",
        ),
        (
            ModelChoice::RandomForest(ForestParams {
                n_trees: 0,
                ..Default::default()
            }),
            "n_trees",
            "0",
        ),
    ];
    for (choice, field, found) in cases {
        let err = train(&ds, &spec(), &choice, &Validation::None).unwrap_err();
        assert_eq!(err.exit_code(), 2, "{err}");
        let Some(ds) = err.diagnostics() else {
            panic!("{err:?}")
        };
        let d = &ds.0[0];
        assert_eq!(d.field, field, "{err}");
        assert_eq!(d.found, found, "{err}");
        assert!(!d.expected.is_empty());
    }
}

#[test]
fn the_ndarray_boundary_gives_the_same_model_and_predictions() {
    let ds = Dataset::load(CHO).unwrap();
    let data = spec().training_set(&ds).unwrap();
    let (x, y) = data.arrays();
    // Zero-copy: the views share the training set's storage.
    assert_eq!(x.as_ptr(), data.x.as_slice().as_ptr());
    let from_arrays = TrainingSet::from_arrays(x, y);
    assert_eq!(from_arrays.x, data.x);
    let p = SvrParams::default();
    let a = p.fit(&data).unwrap();
    let b = p.fit(&from_arrays).unwrap();
    assert_eq!(a, b);
    // predict_array on a C-ordered copy equals predict on the matrix.
    let c_order = x.as_standard_layout().to_owned();
    let nd = a.predict_array(c_order.view()).unwrap();
    let na = a.predict(&data.x).unwrap();
    assert_eq!(nd.mean, view(&na.mean).to_owned());
    assert_eq!(nd.std, view(&na.std).to_owned());
    // A wrong width is a shape error naming the columns.
    let narrow = c_order.slice(ndarray::s![.., 0..3]);
    match a.predict_array(narrow) {
        Err(SurrogateError::Shape { what, .. }) => assert_eq!(what, "feature columns"),
        other => panic!("{other:?}"),
    }
}

/// biotwin's PLS and linfa-pls 0.8.1 implement the same NIPALS (both follow
/// scikit-learn: columns centred and divided by the sample standard
/// deviation, power iteration from the first non-zero Y column, the sign of
/// w fixed by its largest entry, regression deflation). They store the
/// coefficients differently (linfa: on standardised X, times the Y std;
/// biotwin: in original units, scikit-learn's `coef_`), so the comparison is
/// on predictions and on the X weights.
#[test]
fn biotwin_pls_agrees_with_linfa_pls_on_the_cho_set() {
    use linfa::prelude::{Fit as _, Predict as _};
    let ds = Dataset::load(CHO).unwrap();
    let data = spec().training_set(&ds).unwrap();
    let (x, y) = data.arrays();
    let (mut worst_pred, mut worst_weight) = (0.0f64, 0.0f64);
    for a in 1..=3 {
        let ours = PlsParams::new(a).fit(&data).unwrap();
        let theirs = linfa_pls::PlsRegression::params(a)
            .scale(true)
            .fit(&linfa::DatasetBase::new(x.to_owned(), y.to_owned()))
            .unwrap();
        let pred: ndarray::Array2<f64> = theirs.predict(&x.to_owned());
        let mine = ours.predict_mean(&data.x);
        for j in 0..2 {
            let sd = ours.y_scaler.scale[j];
            for i in 0..data.x.nrows() {
                let d = (mine[(i, j)] - pred[[i, j]]).abs() / sd;
                worst_pred = worst_pred.max(d);
                assert!(
                    d < 1e-12,
                    "{a} components, target {j}, row {i}: ours {} linfa {} ({d} target SDs apart)",
                    mine[(i, j)],
                    pred[[i, j]]
                );
            }
        }
        let (w, _) = theirs.weights();
        for k in 0..a {
            for f in 0..6 {
                let d = (ours.x_weights[(f, k)] - w[[f, k]]).abs();
                worst_weight = worst_weight.max(d);
                assert!(
                    d < 1e-13,
                    "{a} components: weight ({f}, {k}) differs by {d}"
                );
            }
        }
    }
    eprintln!(
        "PLS vs linfa-pls: worst prediction difference {worst_pred:.1e} target SDs, worst weight difference {worst_weight:.1e}"
    );
}
