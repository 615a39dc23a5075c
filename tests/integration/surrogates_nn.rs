//! The neural-network ensemble surrogate (docs/surrogates.md): learns a
//! nonlinear function, is more uncertain away from its data, round-trips
//! through an artifact, trains from the CLI.

use biotwin::surrogates::artifact::{Artifact, SurrogateModel};
use biotwin::surrogates::nn::NnParams;
use biotwin::surrogates::{Fit, Predict, TrainingSet};
use nalgebra::DMatrix;

fn f(a: f64, b: f64) -> f64 {
    (1.5 * a).sin() + 0.5 * b * b
}

/// Points on a grid over [-2, 2]² (with an offset for the test set).
fn grid(n: usize, offset: f64) -> DMatrix<f64> {
    DMatrix::from_fn(n * n, 2, |i, j| {
        let k = if j == 0 { i / n } else { i % n };
        -2.0 + 4.0 * (k as f64 + offset) / (n - 1) as f64
    })
}

#[test]
fn ensemble_learns_a_nonlinear_function_with_uncertainty() {
    let x = grid(12, 0.0);
    let y = DMatrix::from_fn(x.nrows(), 1, |i, _| f(x[(i, 0)], x[(i, 1)]));
    let set = TrainingSet::from_matrices(x.clone(), y.clone());
    let model = NnParams::default().fit(&set).unwrap();
    // Interpolation: midpoints of the training grid.
    let xt = DMatrix::from_fn(100, 2, |i, j| {
        let k = if j == 0 { i / 10 } else { i % 10 };
        -1.8 + 3.6 * k as f64 / 9.0 + 0.01
    });
    let p = model.predict(&xt).unwrap();
    let rmse = ((0..xt.nrows())
        .map(|i| (p.mean[(i, 0)] - f(xt[(i, 0)], xt[(i, 1)])).powi(2))
        .sum::<f64>()
        / xt.nrows() as f64)
        .sqrt();
    let sd_y = {
        let m = y.mean();
        (y.iter().map(|v| (v - m).powi(2)).sum::<f64>() / y.len() as f64).sqrt()
    };
    println!("NN ensemble: test RMSE {rmse:.4} (target SD {sd_y:.3})");
    // README: "test RMSE 0.016" (measured 0.0164; seeded, deterministic),
    // asserted < 0.018.
    assert!(rmse < 0.018, "rmse {rmse}");
    // Far outside the data the members disagree more.
    let inside = model
        .predict(&DMatrix::from_row_slice(1, 2, &[0.3, -0.4]))
        .unwrap();
    let outside = model
        .predict(&DMatrix::from_row_slice(1, 2, &[6.0, 6.0]))
        .unwrap();
    println!(
        "  std inside {:.4}, far outside {:.4}",
        inside.std[(0, 0)],
        outside.std[(0, 0)]
    );
    assert!(outside.std[(0, 0)] > 3.0 * inside.std[(0, 0)]);

    // Same seed, same model; save/load gives identical predictions.
    assert_eq!(NnParams::default().fit(&set).unwrap(), model);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nn.json");
    let art = Artifact::new(
        SurrogateModel::Nn(model.clone()),
        vec!["a".into(), "b".into()],
        vec!["y".into()],
        None,
    );
    art.save(&path).unwrap();
    let back = Artifact::load(&path).unwrap();
    assert_eq!(back.model.predict(&xt).unwrap(), p);
}

#[test]
fn nn_trains_from_the_cli_and_cuda_is_refused_clearly() {
    let exe = env!("CARGO_BIN_EXE_biotwin");
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/training-data/cho-platform");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("nn");
    let o = std::process::Command::new(exe)
        .args([
            "train",
            "--dataset",
            data,
            "--model",
            "nn",
            "--epochs",
            "500",
        ])
        .args([
            "--target",
            "final_titer",
            "--quiet",
            "--holdout",
            "B31,B32,B33",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{text}");
    assert!(text.contains("nn on cho-platform"), "{text}");
    let o = std::process::Command::new(exe)
        .arg("evaluate")
        .arg(&out)
        .args(["--dataset", data])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = std::process::Command::new(exe)
        .args([
            "train",
            "--dataset",
            data,
            "--model",
            "nn",
            "--device",
            "cuda",
        ])
        .args(["--target", "final_titer", "--quiet", "--out"])
        .arg(dir.path().join("x"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("torch"));
}
