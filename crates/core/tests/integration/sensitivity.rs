//! Global sensitivity analysis against analytical solutions.

use std::f64::consts::PI;

use biotwin_core::sensitivity::{
    Distribution, Factor, MorrisOptions, SensitivityError, SobolOptions, morris_analysis,
    sobol_analysis,
};

type Model = fn(&[f64]) -> Result<Vec<f64>, String>;

fn names(n: &[&str]) -> Vec<String> {
    n.iter().map(|s| s.to_string()).collect()
}

const A: f64 = 7.0;
const B: f64 = 0.1;

fn ishigami(x: &[f64]) -> Result<Vec<f64>, String> {
    Ok(vec![
        x[0].sin() + A * x[1].sin().powi(2) + B * x[2].powi(4) * x[0].sin(),
    ])
}

/// Analytic first-order and total indices of the Ishigami function
/// (Ishigami & Homma 1990; Sobol' & Levitan 1999).
fn ishigami_indices() -> ([f64; 3], [f64; 3]) {
    let v1 = 0.5 * (1.0 + B * PI.powi(4) / 5.0).powi(2);
    let v2 = A * A / 8.0;
    let v13 = 8.0 * B * B * PI.powi(8) / 225.0;
    let v = v1 + v2 + v13;
    ([v1 / v, v2 / v, 0.0], [(v1 + v13) / v, v2 / v, v13 / v])
}

fn ishigami_factors() -> Vec<Factor> {
    ["x1", "x2", "x3"]
        .iter()
        .map(|n| Factor::uniform(*n, -PI, PI))
        .collect()
}

#[test]
fn analytic_ishigami_values_are_the_published_ones() {
    let (s1, st) = ishigami_indices();
    let published_s1 = [0.3139, 0.4424, 0.0];
    let published_st = [0.5576, 0.4424, 0.2437];
    for i in 0..3 {
        assert!((s1[i] - published_s1[i]).abs() < 1e-4);
        assert!((st[i] - published_st[i]).abs() < 1e-4);
    }
}

#[test]
fn sobol_recovers_ishigami_indices_within_their_intervals() {
    let options = SobolOptions {
        base_samples: 1 << 12,
        bootstrap_resamples: 500,
        confidence_level: 0.99,
        seed: 2026,
    };
    let result = sobol_analysis(
        &ishigami_factors(),
        &names(&["y"]),
        &(ishigami as Model),
        &options,
        None,
    )
    .expect("ishigami runs");
    assert_eq!(result.model_runs, 4096 * 5);
    let (s1, st) = ishigami_indices();
    let y = result.output("y").expect("output y");
    let indices = y.indices.as_ref().expect("y varies");
    for (i, f) in indices.iter().enumerate() {
        // Analytic value inside the 99 % interval widened by 0.01, and the
        // interval itself narrow enough to mean something. The bootstrap
        // treats the points as iid, so with a scrambled Sobol design the
        // interval (about ±0.06) is wider than the actual error (< 0.01).
        assert!(
            f.first_order.covers(s1[i], 0.01),
            "S1 {}: {:?} vs {}",
            f.factor,
            f.first_order,
            s1[i]
        );
        assert!(
            f.total.covers(st[i], 0.01),
            "ST {}: {:?} vs {}",
            f.factor,
            f.total,
            st[i]
        );
        assert!(f.first_order.ci_high - f.first_order.ci_low < 0.15);
        assert!(f.total.ci_high - f.total.ci_low < 0.15);
        assert!((f.first_order.value - s1[i]).abs() < 0.03);
        assert!((f.total.value - st[i]).abs() < 0.03);
    }
    // Total variance of Ishigami: a²/8 + bπ⁴/5 + b²π⁸/18 + 1/2 = 13.8446.
    let v = A * A / 8.0 + B * PI.powi(4) / 5.0 + B * B * PI.powi(8) / 18.0 + 0.5;
    assert!(
        (y.variance / v - 1.0).abs() < 0.05,
        "variance {}",
        y.variance
    );
}

#[test]
fn sobol_on_a_linear_model_gives_shares_of_variance() {
    // y = Σ a_i x_i with independent inputs: S_i = S_Ti = a_i² Var(x_i) / Σ.
    let factors = vec![
        Factor::new("normal", Distribution::Normal { mean: 5.0, sd: 2.0 }),
        Factor::uniform("uniform", 0.0, 3.0),
        Factor::new(
            "triangular",
            Distribution::Triangular {
                low: -1.0,
                mode: 0.0,
                high: 4.0,
            },
        ),
        Factor::new("lognormal", Distribution::lognormal_from_mean_sd(2.0, 0.5)),
        Factor::new(
            "truncated",
            Distribution::TruncatedNormal {
                mean: 1.0,
                sd: 1.0,
                low: 0.0,
                high: 2.5,
            },
        ),
    ];
    let coefficients = [1.0, -2.0, 0.5, 3.0, 0.0];
    let model = move |x: &[f64]| -> Result<Vec<f64>, String> {
        Ok(vec![x.iter().zip(&coefficients).map(|(x, a)| a * x).sum()])
    };
    let partial: Vec<f64> = factors
        .iter()
        .zip(&coefficients)
        .map(|(f, a)| a * a * f.distribution.variance())
        .collect();
    let total: f64 = partial.iter().sum();
    let options = SobolOptions {
        base_samples: 1 << 12,
        bootstrap_resamples: 500,
        confidence_level: 0.99,
        seed: 7,
    };
    let result = sobol_analysis(&factors, &names(&["y"]), &model, &options, None).expect("runs");
    let y = &result.outputs[0];
    for (f, share) in y.indices.as_ref().expect("varies").iter().zip(&partial) {
        let expected = share / total;
        assert!(
            f.first_order.covers(expected, 0.01),
            "{}: {:?} vs {expected}",
            f.factor,
            f.first_order
        );
        assert!(
            f.total.covers(expected, 0.01),
            "{}: {:?} vs {expected}",
            f.factor,
            f.total
        );
        assert!((f.first_order.value - expected).abs() < 0.02);
        assert!((f.total.value - expected).abs() < 0.02);
    }
    // The zero-coefficient factor has exactly zero total effect.
    assert_eq!(y.factor("truncated").expect("factor").total.value, 0.0);
    assert!((y.variance / total - 1.0).abs() < 0.02);
}

#[test]
fn constant_outputs_have_no_indices_and_each_output_is_separate() {
    let factors = ishigami_factors();
    let model = |x: &[f64]| -> Result<Vec<f64>, String> { Ok(vec![4.2, x[1]]) };
    let options = SobolOptions {
        base_samples: 256,
        bootstrap_resamples: 50,
        ..SobolOptions::default()
    };
    let r =
        sobol_analysis(&factors, &names(&["flat", "x2"]), &model, &options, None).expect("runs");
    assert!(r.output("flat").expect("flat").indices.is_none());
    let x2 = r.output("x2").expect("x2");
    let s = x2.factor("x2").expect("x2 factor");
    assert!((s.first_order.value - 1.0).abs() < 0.05 && (s.total.value - 1.0).abs() < 0.05);
    assert_eq!(x2.factor("x1").expect("x1").total.value, 0.0);
    let json = serde_json::to_string(&r).expect("serialises");
    assert!(json.contains("\"flat\"") && json.contains("\"indices\":null"));
}

fn linear_morris(options: &MorrisOptions) {
    // Ranges differ so that μ* = |a|·range is tested, not |a| alone.
    let factors = vec![
        Factor::uniform("a", 0.0, 1.0),
        Factor::uniform("b", 10.0, 14.0),
        Factor::uniform("c", -1.0, 1.0),
        Factor::uniform("d", 2.0, 2.5),
    ];
    let coef = [3.0, -0.25, 5.0, -1.0];
    let ranges = [1.0, 4.0, 2.0, 0.5];
    let model = move |x: &[f64]| -> Result<Vec<f64>, String> {
        Ok(vec![
            x.iter().zip(&coef).map(|(x, a)| a * x).sum::<f64>() + 100.0,
        ])
    };
    let r = morris_analysis(&factors, &names(&["y"]), &model, options, None).expect("runs");
    assert_eq!(r.model_runs, options.trajectories * 5);
    let y = &r.outputs[0];
    for (i, f) in y.factors.iter().enumerate() {
        let expected = coef[i] * ranges[i];
        assert!(
            (f.mu - expected).abs() < 1e-9,
            "{}: mu {} vs {expected}",
            f.factor,
            f.mu
        );
        assert!((f.mu_star.value - expected.abs()).abs() < 1e-9);
        assert!(f.sigma < 1e-9);
        // Every elementary effect is identical, so the interval collapses.
        assert!((f.mu_star.ci_high - f.mu_star.ci_low).abs() < 1e-9);
    }
    // |a|·range: c 10, a 3, b 1, d 0.5.
    assert_eq!(y.ranking(), vec!["c", "a", "b", "d"]);
}

#[test]
fn morris_mu_star_of_a_linear_function_is_coefficient_times_range() {
    linear_morris(&MorrisOptions {
        trajectories: 10,
        bootstrap_resamples: 100,
        seed: 3,
        ..MorrisOptions::default()
    });
    linear_morris(&MorrisOptions {
        trajectories: 8,
        levels: 6,
        spread_candidates: Some(40),
        bootstrap_resamples: 100,
        seed: 4,
        ..MorrisOptions::default()
    });
}

#[test]
fn morris_ranks_by_coefficient_magnitude_and_sees_interactions() {
    // y = 4 x1 + 2 x2 + x3 + 0 x4 + x1 x5 on [0, 1]: ranking by coefficient
    // for the additive part, σ > 0 only for the interacting pair.
    let factors: Vec<Factor> = (1..=5)
        .map(|i| Factor::uniform(format!("x{i}"), 0.0, 1.0))
        .collect();
    let model = |x: &[f64]| -> Result<Vec<f64>, String> {
        Ok(vec![4.0 * x[0] + 2.0 * x[1] + x[2] + x[0] * x[4] * 0.5])
    };
    let options = MorrisOptions {
        trajectories: 30,
        spread_candidates: Some(100),
        bootstrap_resamples: 200,
        seed: 11,
        ..MorrisOptions::default()
    };
    let r = morris_analysis(&factors, &names(&["y"]), &model, &options, None).expect("runs");
    let y = &r.outputs[0];
    assert_eq!(y.ranking()[..4], ["x1", "x2", "x3", "x5"]);
    assert_eq!(y.factor("x4").expect("x4").mu_star.value, 0.0);
    assert!(y.factor("x1").expect("x1").sigma > 0.01);
    assert!(y.factor("x5").expect("x5").sigma > 0.01);
    assert!(y.factor("x2").expect("x2").sigma < 1e-9);
    // μ*_5 = 0.5·E[x1] over the grid levels {0, 1/3, 2/3, 1}: between 0 and 0.5.
    let m5 = y.factor("x5").expect("x5").mu_star;
    assert!(m5.value > 0.0 && m5.value < 0.5);
    assert!(m5.ci_low <= m5.value && m5.value <= m5.ci_high);
}

#[test]
fn morris_screens_unbounded_factors_between_tail_quantiles() {
    // Normal(0, 2) screened over [F⁻¹(τ), F⁻¹(1−τ)]: μ* = |a|·2·2·z_(1−τ).
    let factors = vec![Factor::new(
        "n",
        Distribution::Normal { mean: 0.0, sd: 2.0 },
    )];
    let model = |x: &[f64]| -> Result<Vec<f64>, String> { Ok(vec![-3.0 * x[0]]) };
    let options = MorrisOptions {
        // Two levels: Δ = 1, each step spans the whole screening range.
        levels: 2,
        trajectories: 4,
        tail_probability: 0.025,
        bootstrap_resamples: 20,
        ..MorrisOptions::default()
    };
    let r = morris_analysis(&factors, &names(&["y"]), &model, &options, None).expect("runs");
    let expected = 3.0 * 2.0 * 2.0 * 1.959_963_984_540_054;
    assert!((r.outputs[0].factors[0].mu_star.value - expected).abs() < 1e-9);
}

fn with_threads<T: Send>(n: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build()
        .expect("thread pool")
        .install(f)
}

#[test]
fn same_seed_gives_bit_identical_results_whatever_the_thread_count() {
    let factors = ishigami_factors();
    let sobol = |seed| SobolOptions {
        base_samples: 512,
        bootstrap_resamples: 200,
        confidence_level: 0.95,
        seed,
    };
    let run_sobol = |threads, seed| {
        with_threads(threads, || {
            sobol_analysis(
                &factors,
                &names(&["y"]),
                &(ishigami as Model),
                &sobol(seed),
                None,
            )
            .expect("runs")
        })
    };
    let one = run_sobol(1, 99);
    let four = run_sobol(4, 99);
    assert_eq!(
        serde_json::to_string(&one).expect("json"),
        serde_json::to_string(&four).expect("json")
    );
    assert_ne!(one, run_sobol(2, 100));

    let morris = |seed| MorrisOptions {
        trajectories: 12,
        spread_candidates: Some(30),
        bootstrap_resamples: 200,
        seed,
        ..MorrisOptions::default()
    };
    let run_morris = |threads, seed| {
        with_threads(threads, || {
            morris_analysis(
                &factors,
                &names(&["y"]),
                &(ishigami as Model),
                &morris(seed),
                None,
            )
            .expect("runs")
        })
    };
    assert_eq!(run_morris(1, 5), run_morris(3, 5));
    assert_ne!(run_morris(1, 5), run_morris(1, 6));
}

#[test]
fn failed_runs_are_counted_not_dropped() {
    let factors = ishigami_factors();
    let model = |x: &[f64]| -> Result<Vec<f64>, String> {
        if x[0] > 2.0 {
            Err(format!("integration failed for x1 = {:.3}", x[0]))
        } else {
            ishigami(x)
        }
    };
    let options = SobolOptions {
        base_samples: 256,
        bootstrap_resamples: 20,
        ..SobolOptions::default()
    };
    match sobol_analysis(&factors, &names(&["y"]), &model, &options, None) {
        Err(SensitivityError::Evaluation(e)) => {
            assert_eq!(e.total, 256 * 5);
            // About (π − 2)/(2π) = 18 % of the points have x1 > 2.
            assert!(e.failed > 150 && e.failed < 320, "failed {}", e.failed);
            assert!(e.first_point[0].1 > 2.0);
            assert!(e.to_string().contains("integration failed"));
        }
        other => panic!("expected an evaluation failure, got {other:?}"),
    }
}

#[test]
fn invalid_setups_are_all_reported() {
    let factors = vec![Factor::uniform("x", 1.0, 0.0)];
    let model = |_: &[f64]| -> Result<Vec<f64>, String> { Ok(vec![0.0]) };
    let options = SobolOptions {
        base_samples: 1,
        bootstrap_resamples: 0,
        confidence_level: 1.5,
        seed: 0,
    };
    match sobol_analysis(&factors, &names(&["y", "y"]), &model, &options, None) {
        Err(SensitivityError::Setup(d)) => {
            for field in [
                "factors[0].distribution.high",
                "base_samples",
                "bootstrap_resamples",
                "confidence_level",
                "outputs[1]",
            ] {
                assert!(d.mentions(field), "{field} not reported in {d}");
            }
        }
        other => panic!("expected setup errors, got {other:?}"),
    }
    let morris = MorrisOptions {
        levels: 3,
        trajectories: 1,
        ..MorrisOptions::default()
    };
    match morris_analysis(&factors, &names(&["y"]), &model, &morris, None) {
        Err(SensitivityError::Setup(d)) => {
            assert!(d.mentions("levels") && d.mentions("trajectories"));
        }
        other => panic!("expected setup errors, got {other:?}"),
    }
}

#[test]
fn sobol_recovers_g_function_indices_with_interactions() {
    // Sobol' G-function (Saltelli & Sobol' 1995), x_i ~ U(0, 1):
    // V_i = 1/(3(1 + a_i)²), V = Π(1 + V_i) − 1, S_i = V_i/V,
    // S_Ti = V_i Π_{j≠i}(1 + V_j)/V.
    let a = [0.0, 1.0, 4.5, 9.0, 99.0, 99.0];
    let g = move |x: &[f64]| -> Result<Vec<f64>, String> {
        Ok(vec![
            x.iter()
                .zip(&a)
                .map(|(x, a)| ((4.0 * x - 2.0).abs() + a) / (1.0 + a))
                .product(),
        ])
    };
    let vi: Vec<f64> = a
        .iter()
        .map(|a| 1.0 / (3.0 * (1.0 + a) * (1.0 + a)))
        .collect();
    let prod: f64 = vi.iter().map(|v| 1.0 + v).product();
    let v = prod - 1.0;
    let factors: Vec<Factor> = (1..=6)
        .map(|i| Factor::uniform(format!("x{i}"), 0.0, 1.0))
        .collect();
    let options = SobolOptions {
        base_samples: 1 << 12,
        bootstrap_resamples: 300,
        confidence_level: 0.99,
        seed: 31,
    };
    let r = sobol_analysis(&factors, &names(&["g"]), &g, &options, None).expect("runs");
    let indices = r.outputs[0].indices.as_ref().expect("varies");
    for (i, f) in indices.iter().enumerate() {
        let s1 = vi[i] / v;
        let st = vi[i] * prod / (1.0 + vi[i]) / v;
        assert!(
            f.first_order.covers(s1, 0.01),
            "{}: {:?} vs {s1}",
            f.factor,
            f.first_order
        );
        assert!(
            f.total.covers(st, 0.01),
            "{}: {:?} vs {st}",
            f.factor,
            f.total
        );
        assert!((f.first_order.value - s1).abs() < 0.03);
        assert!((f.total.value - st).abs() < 0.03);
    }
    // Interactions: the totals of the two dominant factors exceed their
    // first-order indices by clearly more than sampling error.
    assert!(indices[0].total.value - indices[0].first_order.value > 0.05);
}
