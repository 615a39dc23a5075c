//! `biotwin fit`'s estimator (docs/fit.md): recovery of known xing2010
//! parameters from 6 simulated batches with 3 % measurement noise, the
//! coverage of its 95 % intervals over 100 replicate data sets, and a
//! parameter the data cannot determine reported as non-identifiable.

use crate::noise_support;

use std::path::Path;

use biotwin_core::simulation::{Family, Scenario, load_process};
use biotwin_ml::calibration::estimate::{Settings, estimate};
use biotwin_ml::calibration::problem::{Batch, Problem, Sample, observables};
use biotwin_ml::calibration::setup::{Request, build};
use noise_support::Noise;

const PROCESS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../process-models/processes/xing2010-reference.toml"
);
const OBSERVE: [&str; 3] = ["viable_cells", "titer", "glucose"];
/// Conditions of the 6 batches: (seed 1e6 cells/mL, feed scale).
const DESIGN: [(f64, f64); 6] = [
    (0.20, 0.8),
    (0.35, 1.0),
    (0.50, 1.2),
    (0.25, 1.3),
    (0.40, 0.9),
    (0.30, 1.1),
];
/// Truth: the model file's values times these factors.
const TRUTH: [(&str, f64); 3] = [("mu_max", 1.15), ("q_mab", 0.85), ("mu_d_max", 1.1)];

fn base() -> (Scenario, Vec<f64>) {
    let def = load_process(Path::new(PROCESS)).expect("reference process loads");
    (
        Scenario::from_definition(&def).expect("scenario"),
        def.model.params.file_factor.clone(),
    )
}

/// Exact (noise-free) daily samples of the 6 batches at the truth, and the
/// batches' nominal scenarios.
fn truth_batches() -> (Vec<Batch>, Vec<f64>, Vec<f64>) {
    let (s0, ff) = base();
    let obs = observables(Family::Xing2010);
    let mut batches = Vec::new();
    let mut truth_user = Vec::new();
    for (name, f) in TRUTH {
        let k = s0
            .family
            .params()
            .iter()
            .position(|p| p.name == name)
            .unwrap();
        truth_user.push(s0.params_si[k] / ff[k] * f);
    }
    for (i, (seed, feed)) in DESIGN.iter().enumerate() {
        let (mut s, ff) = base();
        s.apply("initial.xv_1e6_cells_per_ml", *seed, &ff).unwrap();
        s.apply("feeds.scale", *feed, &ff).unwrap();
        let nominal = s.clone();
        for ((name, _), v) in TRUTH.iter().zip(&truth_user) {
            s.apply(&format!("model.{name}"), *v, &ff).unwrap();
        }
        let out = s.simulate(true).expect("truth simulates");
        let t = out.column("time_h").unwrap();
        let mut samples = Vec::new();
        for (v, name) in OBSERVE.iter().enumerate() {
            let o = obs.iter().find(|o| o.variable == *name).unwrap();
            let col = out.column(&o.column).unwrap();
            for h in (24..=336).step_by(24) {
                let r = t.iter().position(|x| (x - h as f64).abs() < 1e-9).unwrap();
                samples.push(Sample {
                    variable: v,
                    time_h: h as f64,
                    value: col[r] * o.to_si,
                });
            }
        }
        batches.push(Batch {
            id: format!("S{:02}", i + 1),
            scenario: nominal,
            samples,
        });
    }
    (batches, ff, truth_user)
}

/// The batches with additive noise of SD 3 % of each variable's RMS.
fn noisy(batches: &[Batch], noise: &mut Noise) -> Vec<Batch> {
    let mut rms = [0.0; 3];
    let mut n = [0usize; 3];
    for b in batches {
        for s in &b.samples {
            rms[s.variable] += s.value * s.value;
            n[s.variable] += 1;
        }
    }
    for v in 0..3 {
        rms[v] = (rms[v] / n[v] as f64).sqrt();
    }
    batches
        .iter()
        .map(|b| Batch {
            samples: b
                .samples
                .iter()
                .map(|s| Sample {
                    value: s.value + 0.03 * rms[s.variable] * noise.normal(),
                    ..*s
                })
                .collect(),
            ..b.clone()
        })
        .collect()
}

fn problem(batches: Vec<Batch>, ff: &[f64], params: &[&str]) -> Problem {
    let obs = observables(Family::Xing2010);
    let observed = OBSERVE
        .iter()
        .map(|v| obs.iter().find(|o| o.variable == *v).unwrap().clone())
        .collect();
    let params: Vec<String> = params.iter().map(|p| format!("model.{p}")).collect();
    let (p, _) = build(
        batches,
        ff,
        observed,
        &Request {
            parameters: &params,
            observe: &[],
            declared_sd: &[],
        },
    )
    .expect("problem builds");
    p
}

#[test]
fn recovers_known_parameters_within_their_intervals() {
    let (batches, ff, truth) = truth_batches();
    let mut noise = Noise::new(20261205);
    let names: Vec<&str> = TRUTH.iter().map(|t| t.0).collect();
    let mut p = problem(noisy(&batches, &mut noise), &ff, &names);
    assert!(p.exact, "xing2010 model parameters use exact sensitivities");
    let e = estimate(
        &mut p,
        &Settings {
            extra_starts: 3,
            ..Settings::default()
        },
    )
    .expect("fit runs");
    for (q, t) in e.parameters.iter().zip(&truth) {
        let [Some(flo), Some(fhi)] = q.fisher_ci else {
            panic!("{}: Fisher interval unbounded", q.address)
        };
        let [Some(plo), Some(phi)] = q.profile_ci.unwrap() else {
            panic!("{}: profile interval open", q.address)
        };
        assert!(
            flo <= *t && *t <= fhi,
            "{}: truth {t} outside Fisher [{flo}, {fhi}]",
            q.address
        );
        assert!(
            plo <= *t && *t <= phi,
            "{}: truth {t} outside profile [{plo}, {phi}]",
            q.address
        );
        // Honest and informative: the two intervals agree to 20 %, and the
        // estimate is within 5 % of the truth.
        assert!(
            ((phi - plo) / (fhi - flo) - 1.0).abs() < 0.2,
            "{}: profile {plo}..{phi} vs Fisher {flo}..{fhi}",
            q.address
        );
        assert!(
            (q.estimate / t - 1.0).abs() < 0.05,
            "{}: {} vs {t}",
            q.address,
            q.estimate
        );
        assert_eq!(q.verdict, "well determined", "{}", q.address);
    }
    // σ estimated near the 3 % of RMS that was added.
    assert!(e.sd_estimated.iter().all(|x| *x));
}

#[test]
fn fisher_intervals_cover_the_truth_in_90_to_99_percent_of_100_replicates() {
    let (batches, ff, truth) = truth_batches();
    let names: Vec<&str> = TRUTH.iter().map(|t| t.0).collect();
    let mut noise = Noise::new(7);
    let mut covered = 0;
    let mut total = 0;
    for _ in 0..100 {
        let mut p = problem(noisy(&batches, &mut noise), &ff, &names);
        let e = estimate(
            &mut p,
            &Settings {
                profiles: false,
                ..Settings::default()
            },
        )
        .expect("fit runs");
        for (q, t) in e.parameters.iter().zip(&truth) {
            let [Some(lo), Some(hi)] = q.fisher_ci else {
                panic!("unbounded interval")
            };
            total += 1;
            if lo <= *t && *t <= hi {
                covered += 1;
            }
        }
    }
    let c = covered as f64 / total as f64;
    eprintln!("coverage of 95 % Fisher intervals: {covered}/{total} = {c:.3}");
    assert!((0.90..=0.99).contains(&c), "coverage {c}");
}

#[test]
fn k_glc_is_reported_non_identifiable_when_glucose_stays_high() {
    let (batches, ff, _) = truth_batches();
    let mut noise = Noise::new(99);
    let mut p = problem(
        noisy(&batches, &mut noise),
        &ff,
        &["mu_max", "q_mab", "mu_d_max", "K_glc"],
    );
    let e = estimate(&mut p, &Settings::default()).expect("fit runs");
    let k = e
        .parameters
        .iter()
        .find(|q| q.address == "model.K_glc")
        .unwrap();
    assert_eq!(k.verdict, "practically non-identifiable", "{k:?}");
    let open = k.profile_ci.unwrap();
    assert!(
        open[0].is_none() || open[1].is_none(),
        "profile must stay open: {open:?}"
    );
    // Never a tight interval: the Fisher interval spans more than a factor
    // 10 or is unbounded.
    match k.fisher_ci {
        [Some(lo), Some(hi)] => assert!(hi / lo > 10.0, "tight Fisher interval {lo}..{hi}"),
        _ => {}
    }
    assert!(k.suggestion.contains("fix K_glc"), "{}", k.suggestion);
    assert!(k.suggestion.contains("glucose"), "{}", k.suggestion);
    // The others stay well determined.
    for q in e.parameters.iter().filter(|q| q.address != "model.K_glc") {
        assert_eq!(q.verdict, "well determined", "{}", q.address);
    }
}

#[test]
fn exact_sensitivities_match_central_differences_through_bolus_feeds() {
    use biotwin_core::definition::recipe::{Event, EventKind};
    let (mut batches, ff, _) = truth_batches();
    batches.truncate(2);
    for b in &mut batches {
        let s = &mut b.scenario;
        s.options.tolerances.rtol = 1e-10;
        s.options.tolerances.atol = 1e-13;
        // Three bolus feeds of 5 % of the initial volume: the sensitivities
        // jump at each (S → S V/(V + ΔV)).
        for h in [60.0, 130.0, 200.0] {
            s.recipe.events.push(Event {
                time_s: h * 3600.0,
                kind: EventKind::Bolus {
                    medium: 0,
                    volume_m3: 0.05 * s.recipe.initial_volume_m3,
                    relative: false,
                    entry: usize::MAX, // added by the test, no recipe feed entry
                },
            });
        }
        s.recipe
            .events
            .sort_by(|a, c| a.time_s.total_cmp(&c.time_s));
    }
    let names = ["mu_max", "q_mab", "mu_d_max", "Y_x_glc"];
    let p = problem(batches, &ff, &names);
    assert!(p.exact);
    let theta: Vec<f64> = p
        .parameters
        .iter()
        .map(|q| q.transform.to_theta(q.initial))
        .collect();
    let (_, j) = p.jacobian(&theta).unwrap();
    let h = 1e-5;
    for a in 0..names.len() {
        let mut up = theta.clone();
        let mut dn = theta.clone();
        up[a] += h;
        dn[a] -= h;
        let (ru, rd) = (p.residuals(&up).unwrap(), p.residuals(&dn).unwrap());
        let scale = j.column(a).amax();
        assert!(scale > 1e-3, "{}: no sensitivity", names[a]);
        for i in 0..ru.len() {
            let fd = (ru[i] - rd[i]) / (2.0 * h);
            assert!(
                (j[(i, a)] - fd).abs() <= 1e-4 * scale,
                "{} row {i}: exact {} vs central {fd}",
                names[a],
                j[(i, a)]
            );
        }
    }
}

/// The exact path (`Problem::jacobian` on xing2010: the augmented run
/// writes only the grid rows its samples' interpolation reads) at sample
/// times off the hourly output grid, several in one grid interval, one in
/// the first interval, one on a grid point and one near the end: its
/// residuals are the plain path's (`Problem::residuals`, which interpolates
/// the full grid) to rounding, and its Jacobian matches central
/// differences there.
#[test]
fn exact_path_interpolates_off_grid_sample_times_as_the_plain_run() {
    let (mut batches, ff, _) = truth_batches();
    batches.truncate(2);
    let times = [0.4, 7.3, 24.0, 100.25, 100.5, 100.75, 213.61, 335.9];
    for b in &mut batches {
        b.scenario.options.tolerances.rtol = 1e-10;
        b.scenario.options.tolerances.atol = 1e-13;
        let first: Vec<Sample> = (0..OBSERVE.len())
            .map(|v| *b.samples.iter().find(|s| s.variable == v).unwrap())
            .collect();
        b.samples = first
            .iter()
            .flat_map(|s0| times.iter().map(move |&t| Sample { time_h: t, ..*s0 }))
            .collect();
    }
    let names = ["mu_max", "q_mab", "mu_d_max"];
    let p = problem(batches, &ff, &names);
    assert!(p.exact);
    let theta: Vec<f64> = p
        .parameters
        .iter()
        .map(|q| q.transform.to_theta(q.initial))
        .collect();
    let (r_exact, j) = p.jacobian(&theta).unwrap();
    let r_plain = p.residuals(&theta).unwrap();
    assert_eq!(r_exact.len(), r_plain.len());
    assert_eq!(r_plain.len(), 2 * OBSERVE.len() * times.len());
    for (i, (a, b)) in r_exact.iter().zip(&r_plain).enumerate() {
        assert!(
            (a - b).abs() <= 1e-9 * b.abs().max(1.0),
            "row {i} (t = {} h): exact path {a} vs plain {b}",
            times[i % times.len()]
        );
    }
    let h = 1e-5;
    for a in 0..names.len() {
        let mut up = theta.clone();
        let mut dn = theta.clone();
        up[a] += h;
        dn[a] -= h;
        let (ru, rd) = (p.residuals(&up).unwrap(), p.residuals(&dn).unwrap());
        let scale = j.column(a).amax();
        assert!(scale > 1e-3, "{}: no sensitivity", names[a]);
        for i in 0..ru.len() {
            let fd = (ru[i] - rd[i]) / (2.0 * h);
            assert!(
                (j[(i, a)] - fd).abs() <= 1e-4 * scale,
                "{} row {i} (t = {} h): exact {} vs central {fd}",
                names[a],
                times[i % times.len()],
                j[(i, a)]
            );
        }
    }
}
