//! Accuracy on IndPenSim: final penicillin of held-out batches from the data
//! up to 50 % of batch time, leave-one-batch-out, hyperparameters chosen by
//! an inner leave-batch-out on the training batches only (nested CV).
//! Protocol and numbers: docs/surrogates.md.

use biotwin_ml::data::Dataset;
use biotwin_ml::surrogates::cv::{CvResult, leave_batch_out, nested_cross_validate};
use biotwin_ml::surrogates::gp::{GpParams, RbfKernel};
use biotwin_ml::surrogates::gp_fit::OptimiseOptions;
use biotwin_ml::surrogates::pls::PlsParams;
use biotwin_ml::surrogates::unfold::UnfoldingSpec;
use biotwin_ml::surrogates::{SurrogateError, TrainingSet};

/// The floor on MAPE (%).
const MAPE_FLOOR: f64 = 5.0;

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// The declared feature set: latest lab result of every offline variable
/// known at 50 % of batch time, and the three feed recipe factors.
pub fn spec() -> UnfoldingSpec {
    UnfoldingSpec {
        online: vec![],
        offline: names(&[
            "penicillin",
            "biomass",
            "substrate",
            "paa",
            "nh3",
            "viscosity",
        ]),
        parameters: names(&["sugar_feed_scale", "water_feed_scale", "paa_feed_scale"]),
        targets: names(&["final_penicillin"]),
        cutoff_fraction: 0.5,
        n_points: 1,
        mechanistic: None,
    }
}

fn training_set() -> TrainingSet {
    let ds = Dataset::load(concat!(
        concat!(env!("CARGO_MANIFEST_DIR"), "/../.."),
        "/training-data/indpensim"
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    spec().training_set(&ds).unwrap_or_else(|e| panic!("{e}"))
}

fn inner(ids: &[String]) -> Result<Vec<biotwin_ml::surrogates::cv::Split>, SurrogateError> {
    Ok(leave_batch_out(ids))
}

fn report(name: &str, r: &CvResult, chosen: &[usize]) -> f64 {
    let m = &r.metrics["final_penicillin"];
    let mape = m.mape_percent.unwrap();
    println!(
        "{name}: MAPE {mape:.2} %, RMSE {:.3} g/L, R2 {:.3}, 95% coverage {:.2}, chosen {chosen:?}",
        m.rmse,
        m.r2.unwrap_or(f64::NAN),
        m.coverage_95
    );
    mape
}

#[test]
fn gp_meets_the_mape_floor_on_held_out_batches() {
    let data = training_set();
    let p = data.x.ncols();
    let gp = |length_scales: Vec<f64>| GpParams {
        kernel: RbfKernel {
            signal_variance: 1.0,
            length_scales,
            noise_variance: 0.1,
        },
        jitter: 1e-10,
        normalise_y: true,
        standardise_x: true,
        optimise: Some(OptimiseOptions::default()),
    };
    let candidates = [gp(vec![(p as f64).sqrt()]), gp(vec![1.0; p])];
    let outer = leave_batch_out(&data.batch_ids);
    let (r, chosen) = nested_cross_validate(&candidates, &data, &outer, &inner).unwrap();
    let mape = report("GP", &r, &chosen);
    assert_eq!(r.rows.len(), 20, "every batch predicted once");
    assert!(mape <= MAPE_FLOOR, "GP MAPE {mape:.2} % above the floor");
    // README: "IndPenSim GP MAPE 4.8 % at 50 % batch time" (measured 4.76 %),
    // asserted at 4.8 + 0.05.
    assert!(mape <= 4.85, "GP MAPE {mape:.2} % above README's 4.8 %");
}

#[test]
fn pls_stays_near_the_mape_floor_on_held_out_batches() {
    let data = training_set();
    let candidates: Vec<PlsParams> = (1..=4).map(PlsParams::new).collect();
    let outer = leave_batch_out(&data.batch_ids);
    let (r, chosen) = nested_cross_validate(&candidates, &data, &outer, &inner).unwrap();
    let mape = report("PLS", &r, &chosen);
    assert_eq!(r.rows.len(), 20, "every batch predicted once");
    // PLS, linear, does not reach the floor here (docs/surrogates.md); this
    // guards against regressions from the measured value.
    // README: "(PLS 5.4 %)" (measured 5.40 %), asserted at 5.4 + 0.05.
    assert!(mape <= 5.45, "PLS MAPE {mape:.2} % above README's 5.4 %");
}

/// Extrapolation: hold out the 4 batches at the edge of the recipe DoE (the
/// 7 recipe scale factors), fit on the 16 others. The issue sets no
/// extrapolation target for IndPenSim; the measured MAPEs (GP 1.85 %,
/// PLS(1) 3.89 %, GP 5-fold 4.84 %) are held at + 0.05 percentage points.
#[test]
fn edge_of_doe_split_holds_out_batches_outside_the_training_range() {
    use biotwin_ml::surrogates::cv::{cross_validate, edge_of_doe, k_fold_by_batch};
    let ds = Dataset::load(concat!(
        concat!(env!("CARGO_MANIFEST_DIR"), "/../.."),
        "/training-data/indpensim"
    ))
    .unwrap();
    let data = spec().training_set(&ds).unwrap();
    let factors = names(&[
        "sugar_feed_scale",
        "oil_feed_scale",
        "aeration_scale",
        "pressure_scale",
        "discharge_scale",
        "water_feed_scale",
        "paa_feed_scale",
    ]);
    let design = nalgebra::DMatrix::from_fn(ds.batches.len(), factors.len(), |i, j| {
        ds.batches[i].meta.parameters[&factors[j]]
    });
    let split = edge_of_doe(&data.batch_ids, &design, 4).unwrap();
    // Every held-out batch has some factor outside the training batches' range.
    let row = |id: &String| data.batch_ids.iter().position(|b| b == id).unwrap();
    for held in &split.test {
        let outside = (0..factors.len()).any(|j| {
            let train: Vec<f64> = split.train.iter().map(|b| design[(row(b), j)]).collect();
            let lo = train.iter().cloned().fold(f64::INFINITY, f64::min);
            let hi = train.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let v = design[(row(held), j)];
            v < lo || v > hi
        });
        assert!(outside, "{held} is inside the training range");
    }
    let p = data.x.ncols();
    let gp = GpParams {
        kernel: RbfKernel {
            signal_variance: 1.0,
            length_scales: vec![(p as f64).sqrt()],
            noise_variance: 0.1,
        },
        jitter: 1e-10,
        normalise_y: true,
        standardise_x: true,
        optimise: Some(OptimiseOptions::default()),
    };
    let splits = [split.clone()];
    let g = cross_validate(&gp, &data, &splits).unwrap();
    let l = cross_validate(&PlsParams::new(1), &data, &splits).unwrap();
    let mg = report("GP edge-of-DoE", &g, &[]);
    let ml = report("PLS(1) edge-of-DoE", &l, &[]);
    println!("edge batches: {:?}", split.test);
    let folds = k_fold_by_batch(&data.batch_ids, 5).unwrap();
    let k = cross_validate(&gp, &data, &folds).unwrap();
    let mk = report("GP 5-fold by batch", &k, &[]);
    assert!(
        mg <= 1.90,
        "GP edge-of-DoE MAPE {mg:.2} % (measured 1.85 %)"
    );
    assert!(
        ml <= 3.94,
        "PLS edge-of-DoE MAPE {ml:.2} % (measured 3.89 %)"
    );
    assert!(mk <= 4.89, "GP 5-fold MAPE {mk:.2} % (measured 4.84 %)");
}
