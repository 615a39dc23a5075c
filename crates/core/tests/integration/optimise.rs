//! Bounded optimiser on problems whose minimiser is known.

use biotwin_core::error::Error;
use biotwin_core::optimise::{Options, minimise_bounded};

fn opts(max_iters: u64, starts: usize) -> Options {
    Options {
        max_iters,
        tol: 1e-14,
        starts,
        seed: 1,
    }
}

fn assert_close(x: &[f64], expected: &[f64], tol: f64) {
    for (i, (a, b)) in x.iter().zip(expected).enumerate() {
        assert!((a - b).abs() <= tol, "x[{i}] = {a}, expected {b} ± {tol}");
    }
}

#[test]
fn quadratic_bowl_with_interior_minimum() {
    let centre = [0.3, -1.7, 12.0, 0.05];
    let weights = [1.0, 10.0, 0.01, 100.0];
    let f = |x: &[f64]| -> f64 {
        x.iter()
            .zip(centre.iter().zip(&weights))
            .map(|(x, (c, w))| w * (x - c).powi(2))
            .sum()
    };
    let lower = [-1.0, -5.0, 0.0, 0.0];
    let upper = [1.0, 5.0, 20.0, 0.1];
    // Start in a corner of the box.
    let r = minimise_bounded(f, &lower, &lower, &upper, &opts(5000, 1)).expect("runs");
    assert!(r.converged);
    assert_close(&r.x, &centre, 1e-5);
    assert!(r.f < 1e-10);
    assert!(r.evaluations > r.iterations as usize);
}

#[test]
fn minimum_on_bounds_is_reached_exactly() {
    // Unconstrained minimum at (2, −3, 0.5); the box [−1, 1]³ puts the
    // constrained minimum at (1, −1, 0.5) with f = 1 + 4 = 5.
    let f = |x: &[f64]| (x[0] - 2.0).powi(2) + (x[1] + 3.0).powi(2) + (x[2] - 0.5).powi(2);
    let r =
        minimise_bounded(f, &[0.0, 0.0, 0.0], &[-1.0; 3], &[1.0; 3], &opts(5000, 1)).expect("runs");
    assert!(r.converged);
    assert_close(&r.x, &[1.0, -1.0, 0.5], 1e-7);
    assert!((r.f - 5.0).abs() < 1e-10);
    assert!(r.x.iter().all(|x| (-1.0..=1.0).contains(x)));
}

fn rosenbrock(x: &[f64]) -> f64 {
    x.windows(2)
        .map(|w| 100.0 * (w[1] - w[0] * w[0]).powi(2) + (1.0 - w[0]).powi(2))
        .sum()
}

#[test]
fn rosenbrock_in_two_to_four_dimensions() {
    for n in 2..=4 {
        let mut x0 = vec![-1.2; n];
        x0[n - 1] = 1.0;
        let r = minimise_bounded(
            rosenbrock,
            &x0,
            &vec![-2.0; n],
            &vec![2.0; n],
            &opts(20_000, 1),
        )
        .expect("runs");
        assert!(
            r.converged,
            "n = {n}: not converged after {} iterations",
            r.iterations
        );
        assert_close(&r.x, &vec![1.0; n], 1e-4);
        assert!(r.f < 1e-8, "n = {n}: f = {}", r.f);
    }
}

#[test]
fn rosenbrock_with_the_valley_cut_by_a_bound() {
    // With x1 ≤ 0.5 the minimiser of 2-D Rosenbrock is x1 = 0.5 on the bound
    // and x2 = x1² = 0.25 (the first term vanishes, the second is fixed).
    let r = minimise_bounded(
        rosenbrock,
        &[-1.2, 1.0],
        &[-2.0, -2.0],
        &[0.5, 2.0],
        &opts(20_000, 1),
    )
    .expect("runs");
    assert_close(&r.x, &[0.5, 0.25], 1e-6);
    assert!((r.f - 0.25).abs() < 1e-10);
}

#[test]
fn recovers_set_points_of_a_synthetic_process() {
    // A synthetic transfer: outputs follow a kLa-like power law and a
    // saturating response of agitation N (rpm) and gas flow Q (L/min).
    // The target outputs are those of known set-points; the optimiser must
    // find them again from the middle of the equipment limits.
    let response = |x: &[f64]| -> [f64; 2] {
        let (n, q) = (x[0], x[1]);
        let kla = 0.02 * n.powf(0.8) * q.powf(0.5);
        let pco2 = 120.0 / (1.0 + 0.15 * q) + 0.05 * n;
        [kla, pco2]
    };
    let truth = [142.0, 7.5];
    let target = response(&truth);
    let objective = |x: &[f64]| -> f64 {
        response(x)
            .iter()
            .zip(&target)
            .map(|(y, t)| ((y - t) / t).powi(2))
            .sum()
    };
    let r = minimise_bounded(
        objective,
        &[200.0, 10.0],
        &[50.0, 1.0],
        &[400.0, 20.0],
        &opts(5000, 1),
    )
    .expect("runs");
    assert!(r.converged);
    assert!((r.x[0] / truth[0] - 1.0).abs() < 1e-4, "N = {}", r.x[0]);
    assert!((r.x[1] / truth[1] - 1.0).abs() < 1e-4, "Q = {}", r.x[1]);
}

#[test]
fn multi_start_escapes_a_local_minimum_reproducibly() {
    // Double well: local minimum near x = +0.96, global near x = −1.04.
    let f = |x: &[f64]| (x[0] * x[0] - 1.0).powi(2) + 0.3 * x[0];
    let single = minimise_bounded(f, &[1.5], &[-2.0], &[2.0], &opts(2000, 1)).expect("runs");
    assert!(
        single.x[0] > 0.0,
        "one start from the right stays in the right well"
    );
    let multi = minimise_bounded(f, &[1.5], &[-2.0], &[2.0], &opts(2000, 8)).expect("runs");
    assert!(multi.x[0] < -1.0 && multi.f < single.f);
    // Stationary point of the global well: 4x³ − 4x + 0.3 = 0.
    let x = multi.x[0];
    assert!((4.0 * x.powi(3) - 4.0 * x + 0.3).abs() < 1e-4);
    assert_eq!(multi.starts.len(), 8);
    assert_eq!(multi.starts[0].x0, vec![1.5]);
    let again = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("pool")
        .install(|| minimise_bounded(f, &[1.5], &[-2.0], &[2.0], &opts(2000, 8)).expect("runs"));
    assert_eq!(again, multi);
}

#[test]
fn non_finite_objective_values_are_avoided_and_counted() {
    // The model "fails" (NaN) for x > 0.5; the minimum of the valid part is
    // at x = 0.2.
    let f = |x: &[f64]| {
        if x[0] > 0.5 {
            f64::NAN
        } else {
            (x[0] - 0.2).powi(2)
        }
    };
    let r = minimise_bounded(f, &[0.45], &[0.0], &[1.0], &opts(2000, 1)).expect("runs");
    assert_close(&r.x, &[0.2], 1e-6);
    assert!(r.non_finite_evaluations > 0);
    assert!(r.f.is_finite());
}

#[test]
fn bad_arguments_are_input_errors_naming_each_one() {
    let f = |x: &[f64]| x[0];
    let bad = Options {
        max_iters: 0,
        tol: -1.0,
        starts: 0,
        seed: 0,
    };
    match minimise_bounded(f, &[5.0, 0.0], &[0.0, 1.0], &[1.0, 0.0], &bad) {
        Err(Error::Input(d)) => {
            for field in ["x0[0]", "upper[1]", "max_iters", "tol", "starts"] {
                assert!(d.mentions(field), "{field} missing from {d}");
            }
        }
        other => panic!("expected input errors, got {other:?}"),
    }
    match minimise_bounded(f, &[0.5], &[0.0, 0.0], &[1.0], &Options::default()) {
        Err(Error::Input(d)) => assert!(d.mentions("lower")),
        other => panic!("expected input errors, got {other:?}"),
    }
}
