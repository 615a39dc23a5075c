//! The serial hybrid on the IndPenSim backbone (docs/hybrid.md, "Serial
//! hybrid on the IndPenSim backbone"): it recovers a known production-rate
//! law from batches simulated with it (different recipes, lab penicillin
//! every 12 h), and its artifact round-trips and refuses an altered digit.

use std::path::{Path, PathBuf};

use biotwin_core::bioreactor::indpensim::Recipe;
use biotwin_core::bioreactor::indpensim::estimate::{LAB_PENICILLIN, LabSample};
use biotwin_ml::surrogates::artifact::{Artifact, SurrogateModel};
use biotwin_ml::surrogates::hybrid::indpensim::{
    N_WEIGHTS, PenBatch, PenHybridModel, PenHybridParams, PenTrainingReport, fit, load_batch,
    simulate_penicillin,
};

fn dataset() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../training-data/indpensim")
}

/// Steps simulated in the recovery test (120 h: production is well under
/// way, half the cost of a whole batch).
const N: usize = 600;

/// A batch of the known plant: B01's start (t = 0 lab sample, first online
/// reading, noise-free), the default recipe with its sugar feed and
/// aeration scaled, and lab penicillin every 12 h from the hybrid itself
/// under the true weights.
fn plant_batch(
    params: &PenHybridParams,
    truth: &[f64; N_WEIGHTS],
    fs: f64,
    fg: f64,
    id: &str,
) -> PenBatch {
    let template = load_batch(&dataset(), "B01", false).unwrap();
    let mut recipe = Recipe::indpensim_default();
    for (name, f) in [("Fs", fs), ("Fg", fg)] {
        for p in &mut recipe.profile_mut(name).unwrap().points {
            p.1 *= f;
        }
    }
    let mut b = PenBatch {
        id: id.to_string(),
        recipe,
        record: template.record.clone(),
        final_p_g_per_l: None,
    };
    let p = simulate_penicillin(params, truth, &b, N).unwrap();
    let lab0 = b.record.lab[0];
    b.record.lab = vec![lab0];
    for k in (60..=N).step_by(60) {
        let mut values = [None; 6];
        values[LAB_PENICILLIN] = Some(p[k]);
        b.record.lab.push(LabSample {
            time_h: k as f64 * 0.2,
            values,
        });
    }
    b.final_p_g_per_l = Some(p[N]);
    b
}

#[test]
fn recovers_a_known_production_rate_law_from_simulated_batches() {
    // The law: mu_p = 0.041 * exp(0.10 - 0.30 * phi_time + 0.15 * phi_do2):
    // 10 % above the reference, falling with culture time, rising with
    // dissolved oxygen. PAA, T and pH stay off (controlled to set-points,
    // they carry no information here).
    let mut params = PenHybridParams::default();
    params.features_used = [true, true, false, false, false];
    params.l2 = 0.0;
    // One interval fraction keeps the test short (scales are not tested here).
    params.interval_fractions = vec![0.0];
    let truth = [0.10, -0.30, 0.15, 0.0, 0.0, 0.0];
    let batches: Vec<PenBatch> = [(0.8, 0.8), (1.0, 1.2), (1.2, 1.0), (0.9, 1.1)]
        .iter()
        .enumerate()
        .map(|(i, &(fs, fg))| plant_batch(&params, &truth, fs, fg, &format!("S{i}")))
        .collect();
    // The plant's penicillin at 120 h differs between recipes (the test
    // needs excitation): at least 3 % apart.
    let finals: Vec<f64> = batches.iter().map(|b| b.final_p_g_per_l.unwrap()).collect();
    let spread = finals.iter().cloned().fold(f64::MIN, f64::max)
        / finals.iter().cloned().fold(f64::MAX, f64::min);
    assert!(spread > 1.03, "{finals:?}");
    let m = fit(&params, &batches, N).unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "weights {:?}, report {:?}, s_f {:?}",
        m.weights, m.report, m.log_sd_by_fraction
    );
    for (j, name) in [(0, "b"), (1, "w_time"), (2, "w_do2")] {
        assert!(
            // Noise-free data from the same simulator: recovered to
            // rounding (measured 3e-14); 1e-6 allows another platform's
            // floating point.
            (m.weights[j] - truth[j]).abs() < 1e-6,
            "{name}: fitted {} vs true {}",
            m.weights[j],
            truth[j]
        );
    }
    for j in 3..N_WEIGHTS {
        assert_eq!(m.weights[j], 0.0, "unused feature {j} moved");
    }
    assert!(m.report.rms_log_residual < 1e-6, "{:?}", m.report);
    // Started from the reference rate (all weights 0), the objective fell.
    let o = &m.report.objective;
    assert!(o.last().unwrap() < &(o[0] * 1e-3), "{o:?}");
}

fn hand_model() -> PenHybridModel {
    PenHybridModel {
        params: PenHybridParams::default(),
        weights: [-0.05, -0.1, 0.02, 0.0, 0.0, 0.0],
        training_batches: vec!["B01".into()],
        tau_log_p: 0.04,
        log_sd_by_fraction: (0..=10)
            .map(|i| (i as f64 / 10.0, 0.08 - 0.007 * i as f64))
            .collect(),
        report: PenTrainingReport {
            objective: vec![1e-3, 5e-4],
            iterations: 1,
            n_residuals: 17,
            rms_log_residual: 0.04,
            simulations: 10,
        },
    }
}

#[test]
fn artifact_round_trips_and_an_altered_digit_is_refused() {
    let model = hand_model();
    let art = Artifact::new(
        SurrogateModel::IndPenSimSerialHybrid(Box::new(model.clone())),
        vec![],
        vec!["final_penicillin".into()],
        Some("abc".into()),
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.json");
    art.save(&path).unwrap();
    let back = Artifact::load(&path).unwrap();
    assert_eq!(back, art);
    let SurrogateModel::IndPenSimSerialHybrid(m) = &back.model else {
        panic!("kind {}", back.model.kind());
    };
    // The loaded model forecasts B01 exactly as the saved one.
    let b = load_batch(&dataset(), "B01", true).unwrap();
    let f0 = model.forecasts(&b, &[0.0, 0.5], true).unwrap();
    let f1 = m.forecasts(&b, &[0.0, 0.5], true).unwrap();
    assert_eq!(f0, f1);
    for f in &f0 {
        assert!(
            f.p05_g_per_l < f.mean_g_per_l && f.mean_g_per_l < f.p95_g_per_l,
            "{f:?}"
        );
        // A plausible final penicillin for this process (the data set's
        // batches end at 20-31 g/L).
        assert!((10.0..45.0).contains(&f.mean_g_per_l), "{f:?}");
    }
    // The 50 % forecast is conditioned on B01's lab penicillin.
    assert_ne!(f0[1].conditioning_factor, 1.0);
    let text = std::fs::read_to_string(&path).unwrap();
    let altered = text.replacen("-0.05", "-0.06", 1);
    assert_ne!(altered, text);
    std::fs::write(&path, altered).unwrap();
    let e = Artifact::load(&path).unwrap_err().to_string();
    assert!(e.contains("altered") || e.contains("sha256"), "{e}");
}

// Errors are scored relative to the recorded final penicillin (APE, and
// ln(P/P̂) for the interval scales): a batch recorded at 0 g/L (a failed
// batch, or a typo) is refused by name and line, not scored as an infinite
// or NaN error (review finding).
#[test]
fn a_batch_recorded_at_zero_final_penicillin_is_refused_by_line() {
    let src = dataset();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("batches")).unwrap();
    for f in ["recipes.json", "dataset.toml"] {
        std::fs::copy(src.join(f), dir.path().join(f)).unwrap();
    }
    let h = "batches/B01_historian.csv.gz";
    std::fs::copy(src.join(h), dir.path().join(h)).unwrap();
    let text = std::fs::read_to_string(src.join("batches.csv")).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let col = lines[0].split(',').position(|c| c == "final_P_gL").unwrap();
    let row = lines.iter().position(|l| l.starts_with("B01,")).unwrap();
    let mut cells: Vec<String> = lines[row].split(',').map(String::from).collect();
    cells[col] = "0".into();
    lines[row] = cells.join(",");
    std::fs::write(dir.path().join("batches.csv"), lines.join("\n") + "\n").unwrap();
    let e = load_batch(dir.path(), "B01", false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("batches.csv"), "{e}");
    assert!(e.contains(&format!("line {}", row + 1)), "{e}");
    assert!(
        e.contains("final_P_gL") && e.contains("B01") && e.contains("positive"),
        "{e}"
    );
    assert_eq!(load_batch(&src, "B01", false).unwrap().id, "B01");
}
