//! The one learning interface over one batch dataset: a `TrainingSet`
//! unfolded from a dataset carries its batch records, a subset keeps rows
//! and records consistent, and the hybrids are fitted through `Fit` with
//! the same result as their former entry points.

use std::sync::Arc;

use biotwin_ml::data::Dataset;
use biotwin_ml::surrogates::artifact::SurrogateModel;
use biotwin_ml::surrogates::hybrid::calibrated::CalibratedParams;
use biotwin_ml::surrogates::hybrid::mechanistic::{FILE, MechanisticSpec};
use biotwin_ml::surrogates::hybrid::{Corrector, ParallelHybrid, ParallelHybridParams};
use biotwin_ml::surrogates::pls::PlsParams;
use biotwin_ml::surrogates::train::ModelChoice;
use biotwin_ml::surrogates::unfold::UnfoldingSpec;
use biotwin_ml::surrogates::{Fit, Predict, SurrogateError, TrainingSet};
use nalgebra::DMatrix;

const CHO: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../training-data/cho-platform"
);

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// The CHO dataset unfolded to its manifest parameters (no simulation).
fn cho_set() -> (Dataset, TrainingSet) {
    let ds = Dataset::load(CHO).unwrap_or_else(|e| panic!("{e}"));
    let parameters: Vec<String> = ds.batches[0].meta.parameters.keys().cloned().collect();
    let spec = UnfoldingSpec {
        online: vec![],
        offline: vec![],
        parameters,
        targets: names(&["final_titer"]),
        cutoff_fraction: 0.5,
        n_points: 1,
        mechanistic: None,
    };
    let set = spec.training_set(&ds).unwrap_or_else(|e| panic!("{e}"));
    (ds, set)
}

#[test]
fn an_unfolded_set_carries_its_records_and_a_subset_only_its_own() {
    let (ds, set) = cho_set();
    let ctx = set.batch_context("test").unwrap();
    assert_eq!(ctx.records().len(), ds.batches.len());
    // Every row's record is the dataset's record of that batch.
    let all: Vec<usize> = (0..set.batch_ids.len()).collect();
    for (r, b) in set.records_of_rows(&all).unwrap().iter().enumerate() {
        assert_eq!(b.id(), set.batch_ids[r]);
        assert_eq!(*b, ds.batch(&set.batch_ids[r]).unwrap());
    }
    // A CV subset: rows 3, 1 and 4 (three batches, in that order).
    let sub = set.subset(&[3, 1, 4]);
    let ids: Vec<&str> = sub
        .batch_records()
        .unwrap()
        .iter()
        .map(|b| b.id())
        .collect();
    assert_eq!(
        ids,
        vec![
            set.batch_ids[3].as_str(),
            set.batch_ids[1].as_str(),
            set.batch_ids[4].as_str()
        ]
    );
    assert_eq!(sub.batch_context("test").unwrap().records().len(), 3);
    // Attaching records that miss a row's batch is refused.
    let e = set
        .clone()
        .with_batches(sub.batch_context("test").unwrap().records(), "m", None)
        .unwrap_err();
    assert!(matches!(e, SurrogateError::Shape { .. }), "{e}");
    // A held-out batch's record is not reachable from the subset.
    let mut foreign = sub.clone();
    foreign.batch_ids[0] = set.batch_ids[0].clone();
    assert!(matches!(
        foreign.records_of_rows(&[0]),
        Err(SurrogateError::Shape { .. })
    ));
    // Shared, not copied: the subset's record is the same allocation.
    let a = &set.batch_context("t").unwrap().records()[1];
    let b = sub
        .batch_context("t")
        .unwrap()
        .records()
        .iter()
        .find(|r| r.id() == a.id())
        .unwrap();
    assert!(Arc::ptr_eq(a, b));
}

#[test]
fn the_serial_hybrid_needs_records_and_a_mapping_not_settings_holding_data() {
    let (x, y) = (DMatrix::from_element(4, 2, 1.0), DMatrix::zeros(4, 1));
    let bare = TrainingSet::from_matrices(x, y);
    let e = CalibratedParams::cho_default().fit(&bare).unwrap_err();
    assert!(e.to_string().contains("batch records"), "{e}");
    // Records but no mechanistic mapping: refused, naming the mapping.
    let (_, set) = cho_set();
    let e = CalibratedParams::cho_default().fit(&set).unwrap_err();
    assert!(e.to_string().contains("mechanistic mapping"), "{e}");
    // A mapping whose condition is not a feature column: refused by name.
    let spec = MechanisticSpec::load(&std::path::Path::new(CHO).join(FILE)).unwrap();
    let cond = spec.condition[0].parameter.clone();
    let col = set.feature_names.iter().position(|n| *n == cond).unwrap();
    let mut narrow = set.clone();
    narrow.feature_names[col] = "renamed".into();
    let narrow = narrow.with_mechanistic(Arc::new(spec));
    let e = CalibratedParams::cho_default().fit(&narrow).unwrap_err();
    assert!(e.to_string().contains(cond.as_str()), "{e}");
}

fn parallel_data() -> (DMatrix<f64>, DMatrix<f64>, DMatrix<f64>) {
    // Conditions c (n × 2), a biased mechanistic prediction m = 2 c0 and
    // observations y = 2 c0 + 0.3 c1 + 0.1 + a small deterministic wiggle.
    let n = 12;
    let c = DMatrix::from_fn(n, 2, |i, j| ((i * (3 + j) + 1) % 7) as f64 / 7.0);
    let m = DMatrix::from_fn(n, 1, |i, _| 2.0 * c[(i, 0)]);
    let y = DMatrix::from_fn(n, 1, |i, _| {
        2.0 * c[(i, 0)] + 0.3 * c[(i, 1)] + 0.1 + 0.01 * ((i % 3) as f64 - 1.0)
    });
    (c, m, y)
}

#[test]
fn the_parallel_hybrid_fits_through_fit_as_through_its_wrapper() {
    let (c, m, y) = parallel_data();
    let corrector = Corrector::Pls(PlsParams::new(2));
    let old =
        ParallelHybrid::fit(&corrector, &c, &m, &y, names(&["c0", "c1"]), names(&["q"])).unwrap();
    let mut set = TrainingSet::from_matrices(
        DMatrix::from_fn(
            c.nrows(),
            3,
            |i, j| if j < 2 { c[(i, j)] } else { m[(i, 0)] },
        ),
        y.clone(),
    );
    set.feature_names = names(&["c0", "c1", "mechanistic_q"]);
    set.target_names = names(&["q"]);
    let new = ParallelHybridParams {
        corrector: corrector.clone(),
    }
    .fit(&set)
    .unwrap();
    assert_eq!(new, old);
    assert_eq!(new.condition_names, names(&["c0", "c1"]));
    // The correction removes the mechanistic model's bias: in-sample RMSE
    // of the hybrid well below that of the mechanistic prediction alone.
    let p = new.predict(&c, &m).unwrap();
    let rmse = |a: &DMatrix<f64>| ((a - &y).norm_squared() / y.nrows() as f64).sqrt();
    assert!(
        rmse(&p.mean) < 0.2 * rmse(&m),
        "{} vs {}",
        rmse(&p.mean),
        rmse(&m)
    );
    // Feature columns not named as the mechanistic predictions: refused.
    set.feature_names = names(&["c0", "mechanistic_q", "c1"]);
    let e = ParallelHybridParams { corrector }.fit(&set).unwrap_err();
    assert!(e.to_string().contains("mechanistic_q"), "{e}");
}

#[test]
fn model_choice_is_the_one_dispatch_from_settings_to_a_fitted_kind() {
    let (_, set) = cho_set();
    let p = PlsParams::new(2);
    let via_choice = ModelChoice::Pls(p.clone()).fit(&set).unwrap();
    assert_eq!(via_choice, SurrogateModel::Pls(p.fit(&set).unwrap()));
    assert_eq!(via_choice.kind(), "pls");
    let x = set.x.rows(0, 2).into_owned();
    let pred = via_choice.predict(&x).unwrap();
    assert!(
        pred.mean
            .iter()
            .chain(pred.std.iter())
            .all(|v| v.is_finite())
    );
}
