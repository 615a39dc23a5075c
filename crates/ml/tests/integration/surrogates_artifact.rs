//! Saved models: identical predictions after a round trip, traceability
//! fields present, and altered files refused.

use biotwin_ml::Error;
use biotwin_ml::surrogates::artifact::{Artifact, SurrogateModel};
use biotwin_ml::surrogates::gp::{GpParams, RbfKernel};
use biotwin_ml::surrogates::pls::PlsParams;
use biotwin_ml::surrogates::{Fit, Predict, TrainingSet};
use nalgebra::DMatrix;

fn data() -> (TrainingSet, DMatrix<f64>) {
    // A smooth function of 3 inputs on a deterministic scattered design.
    let n = 30;
    let x = DMatrix::from_fn(n + 5, 3, |i, j| {
        ((i * 7 + j * 13) % 17) as f64 / 4.0 + j as f64
    });
    let y = DMatrix::from_fn(n + 5, 2, |i, j| {
        let r = x.row(i);
        (r[0] * 0.7).sin() + 0.3 * r[1] - 0.1 * r[2] * r[2] + 2.0 * j as f64
    });
    let mut ts = TrainingSet::from_matrices(x.rows(0, n).into_owned(), y.rows(0, n).into_owned());
    ts.data_hash = Some("ab".repeat(32));
    (ts, x.rows(n, 5).into_owned())
}

fn models() -> Vec<SurrogateModel> {
    let (ts, _) = data();
    let pls = PlsParams::new(2).fit(&ts).unwrap();
    let gp = GpParams {
        normalise_y: true,
        standardise_x: true,
        ..GpParams::fixed(RbfKernel {
            signal_variance: 1.0,
            length_scales: vec![1.0, 2.0, 1.5],
            noise_variance: 0.01,
        })
    }
    .fit(&ts)
    .unwrap();
    vec![SurrogateModel::Pls(pls), SurrogateModel::Gp(gp)]
}

fn artifact(model: SurrogateModel) -> Artifact {
    let (ts, _) = data();
    Artifact::new(model, ts.feature_names, ts.target_names, ts.data_hash)
}

#[test]
fn round_trip_gives_identical_predictions() {
    let dir = tempfile::tempdir().unwrap();
    let (_, x_new) = data();
    for model in models() {
        let before = model.predict(&x_new).unwrap();
        let path = dir.path().join(format!("{}.json", model.kind()));
        let a = artifact(model);
        a.save(&path).unwrap();
        let loaded = Artifact::load(&path).unwrap();
        assert_eq!(loaded, a);
        let after = loaded.model.predict(&x_new).unwrap();
        // Bit-for-bit: JSON numbers are written in shortest round-trip form.
        assert_eq!(before, after);
        assert_eq!(loaded.code_version, env!("CARGO_PKG_VERSION"));
        assert_eq!(
            loaded.training_data_hash.as_deref(),
            Some("ab".repeat(32).as_str())
        );
        assert!(loaded.hyperparameters.is_object());
        // No temporary file is left beside the artifact.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(
            names.iter().all(|n| !n.to_string_lossy().contains(".tmp")),
            "{names:?}"
        );
    }
}

fn refusal(path: &std::path::Path) -> String {
    match Artifact::load(path) {
        Ok(_) => panic!("an altered artifact was loaded"),
        Err(e @ Error::Artifact(_)) => {
            assert_eq!(e.exit_code(), 2);
            e.to_string()
        }
        Err(e) => panic!("wrong error kind: {e}"),
    }
}

#[test]
fn altered_artifacts_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pls.json");
    let model = models().remove(0);
    artifact(model).save(&path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();

    // One changed digit in a coefficient.
    let at = text.find("\"coef\"").unwrap();
    let digit = at
        + text[at..]
            .find(|c: char| c.is_ascii_digit() && c != '0')
            .unwrap();
    let mut altered = text.clone();
    let old = altered.as_bytes()[digit];
    let new = if old == b'9' { '1' } else { (old + 1) as char };
    altered.replace_range(digit..digit + 1, &new.to_string());
    std::fs::write(&path, &altered).unwrap();
    let msg = refusal(&path);
    assert!(
        msg.contains("content_sha256") && msg.contains("altered"),
        "{msg}"
    );

    // A changed training-data hash (re-labelling the model's provenance).
    std::fs::write(&path, text.replace(&"ab".repeat(32), &"cd".repeat(32))).unwrap();
    refusal(&path);

    // An added key inside the artifact.
    std::fs::write(
        &path,
        text.replacen("\"format\"", "\"note\": \"x\", \"format\"", 1),
    )
    .unwrap();
    refusal(&path);

    // The hash removed.
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    std::fs::write(&path, serde_json::to_string(&v["artifact"]).unwrap()).unwrap();
    refusal(&path);

    // Not JSON at all: the line is reported.
    std::fs::write(&path, "{\n  \"content_sha256\": \n").unwrap();
    let msg = refusal(&path);
    assert!(msg.contains("pls.json:"), "{msg}");

    // Reformatting whitespace only is not an alteration of content.
    let compact = serde_json::to_string(&v).unwrap();
    std::fs::write(&path, compact).unwrap();
    Artifact::load(&path).unwrap();
}
