//! Diagnosis (after the B119–B138 run, no filter setting changed) of the
//! registered IndPenSim filter's mid-batch forecast misses, against the
//! generator's full truth (`docs/indpensim-forecast.md`, "Why the filter
//! misses B121, B129–B131").
//!
//! ```sh
//! cargo run --release -p biotwin-ml --example indpensim_diagnose -- \
//!   training-data/indpensim-extra2 TRUTH_DIR B119,B121,... [--fraction 0.5]
//! ```
//!
//! `TRUTH_DIR` holds the generator's `initial_conditions.csv` (true μp,
//! μx,max, α_kLa, N_conc_paa, PAA_c), `recipes.json` and
//! `batches/<id>_wide.csv.gz` (every state and the disturbances `dist_*`
//! per step). The filter is run exactly as the registered evaluation
//! (`indpensim_forecast::EvalSettings::default()`: same noise, seeds,
//! settings) up to the fraction's step; its forecast there is redone with
//! the registered seed (a check: it must equal the reported run), then:
//!
//! 1. the truth's own state at that step (the true batch re-simulated from
//!    t = 0 with its true parameters and recorded disturbances), run to the
//!    end (a) with the recorded future disturbances, (b) with the future
//!    disturbances sampled as the forecast samples them (every member set to
//!    the true state, true z, the registered forecast seed);
//! 2. each state's ensemble mean ± SD against the truth (z-score);
//! 3. forecasts from the filter's members with one part swapped for the
//!    truth (parameters, z, the states the analysis does not update, ...).

use std::path::PathBuf;

use biotwin_core::bioreactor::indpensim::estimate::{Estimator, Forecast};
use biotwin_core::bioreactor::indpensim::ode::{self, State};
use biotwin_core::bioreactor::indpensim::simulate::{Stepper, initial_vector};
use biotwin_core::bioreactor::indpensim::{Accuracy, N_STEPS, STEP_H};
use biotwin_core::random::run_seed;
use biotwin_ml::data::indpensim::load_batch;
use biotwin_ml::data::indpensim_historian::{batch_start, batch_value, read_historian};
use biotwin_ml::indpensim_forecast::{EvalSettings, add_noise, batch_seed, replay, step_of};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// One swap experiment: edits member j's stepper and z.
type Edit<'a> = Box<dyn Fn(usize, &mut Stepper, &mut f64) + 'a>;

/// States the analysis does not update (estimate.rs `UPDATED` is the
/// complement within 0..=30): substrate, heat, vacuole classes n0..nm, φ0.
fn not_updated() -> Vec<usize> {
    let mut v = vec![ode::S, ode::Q];
    v.extend(ode::N0..=ode::PHI0);
    v
}

fn updated() -> Vec<usize> {
    let nu = not_updated();
    (0..=ode::NH3).filter(|i| !nu.contains(i)).collect()
}

fn state_name(i: usize) -> String {
    match i {
        ode::S => "S g/L".into(),
        ode::DO2 => "DO2 mg/L".into(),
        ode::O2_OFFGAS => "O2 off-gas".into(),
        ode::P => "P g/L".into(),
        ode::V => "V L".into(),
        ode::WT => "Wt kg".into(),
        ode::H_ION => "H+ mol/L".into(),
        ode::T => "T K".into(),
        ode::Q => "Q".into(),
        ode::VISCOSITY => "viscosity cP".into(),
        ode::CULTURE_AGE => "culture age".into(),
        ode::A0 => "a0 g/L".into(),
        ode::A1 => "a1 g/L".into(),
        ode::A3 => "a3 g/L".into(),
        ode::A4 => "a4 g/L".into(),
        ode::PHI0 => "phi0".into(),
        ode::CO2_OFFGAS => "CO2 off-gas %".into(),
        ode::CO2_D => "CO2 dissolved".into(),
        ode::PAA => "PAA mg/L".into(),
        ode::NH3 => "NH3 mg/L".into(),
        i if (ode::N0..ode::NM).contains(&i) => format!("n{}", i - ode::N0),
        ode::NM => "nm".into(),
        i => format!("y[{i}]"),
    }
}

fn mean_sd(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (m, var.sqrt())
}

fn fmt_fc(f: &Forecast, truth: f64, base_err: Option<f64>) -> String {
    let err = f.mean_g_per_l - truth;
    let covered = f.p05_g_per_l <= truth && truth <= f.p95_g_per_l;
    let removed = base_err
        .map(|b| {
            format!(
                "  miss removed {:5.0} %",
                (1.0 - err.abs() / b.abs()) * 100.0
            )
        })
        .unwrap_or_default();
    format!(
        "{:7.3} [{:7.3}, {:7.3}] width {:5.2}  error {:+6.2} g/L ({:+6.2} %) {}  failed {}{}",
        f.mean_g_per_l,
        f.p05_g_per_l,
        f.p95_g_per_l,
        f.p95_g_per_l - f.p05_g_per_l,
        err,
        err / truth * 100.0,
        if covered { "in " } else { "OUT" },
        f.failed_members,
        removed
    )
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 3 {
        eprintln!(
            "usage: indpensim_diagnose DATASET TRUTH_DIR B121,B129,... [--fraction 0.5] [--q1-only N]"
        );
        std::process::exit(2);
    }
    let dir = PathBuf::from(&args[0]);
    let truth_dir = PathBuf::from(&args[1]);
    let batches: Vec<&str> = args[2].split(',').collect();
    let mut fraction = 0.5;
    let mut q1_members: Option<usize> = None;
    let mut i = 3;
    while i < args.len() {
        let Some(value) = args.get(i + 1) else {
            eprintln!("`{}` needs a value", args[i]);
            std::process::exit(2);
        };
        match args[i].as_str() {
            "--fraction" => fraction = value.parse()?,
            // Q1 only, (b) with N sampled futures (no filter run).
            "--q1-only" => q1_members = Some(value.parse()?),
            other => {
                eprintln!("unknown argument `{other}`");
                std::process::exit(2);
            }
        }
        i += 2;
    }
    let s = EvalSettings::default();
    let k0 = step_of(fraction);
    println!("settings: {s:?}");
    println!("diagnosis at step {k0} ({:.1} h)", k0 as f64 * STEP_H);
    for id in batches {
        diagnose(&dir, &truth_dir, id, k0, &s, q1_members)?;
    }
    Ok(())
}

fn diagnose(
    dir: &std::path::Path,
    truth_dir: &std::path::Path,
    id: &str,
    k0: usize,
    s: &EvalSettings,
    q1_members: Option<usize>,
) -> Res<()> {
    let truth_final = batch_value(dir, id, "final_P_gL")?;
    let (batch, wide) = load_batch(truth_dir, id)?;
    println!("\n===== {id}: recorded final P {truth_final:.3} g/L");

    // The truth re-simulated from t = 0 (true parameters, recorded
    // disturbances), at the filter's accuracy and at the reference's.
    let run_truth = |acc: &Accuracy| -> Res<(Stepper, Stepper)> {
        let mut st = Stepper::new(initial_vector(&batch.initial), batch.kinetics, acc);
        let mut at_k0 = None;
        for k in 1..=N_STEPS {
            let u = st.inputs(&batch.recipe, batch.disturbances[k - 1]);
            st.step(&u)?;
            if k == k0 {
                at_k0 = Some(st.clone());
            }
        }
        Ok((at_k0.expect("k0 within the batch"), st))
    };
    let (truth_k0, truth_end) = run_truth(&s.filter.accuracy)?;
    let (_, truth_end_ref) = run_truth(&Accuracy::default())?;
    // Check against the wide file's row at k0.
    let row = &wide.rows[k0 - 1];
    let mut worst = (0.0f64, "");
    for (col, i) in [
        ("P", ode::P),
        ("S", ode::S),
        ("V", ode::V),
        ("viscosity", ode::VISCOSITY),
        ("PAA", ode::PAA),
        ("NH3", ode::NH3),
        ("a0", ode::A0),
        ("a1", ode::A1),
        ("a3", ode::A3),
        ("a4", ode::A4),
        ("phi0", ode::PHI0),
    ] {
        let w = row[wide.index(col)?];
        let r = (truth_k0.y[i] - w).abs() / w.abs().max(1e-12);
        if r > worst.0 {
            worst = (r, col);
        }
    }
    let z_true = batch.disturbances[k0 - 1].mu_p / 0.03;
    println!(
        "Q1 truth re-run at {:.1} h vs wide file: largest rel. difference {:.1e} ({})",
        k0 as f64 * STEP_H,
        worst.0,
        worst.1
    );
    println!(
        "Q1(a) true state + true parameters + recorded future disturbances -> final P {:.3} g/L (rtol 1e-6, as the filter), {:.3} g/L (rtol 1e-10); recorded {:.3}",
        truth_end.y[ode::P],
        truth_end_ref.y[ode::P],
        truth_final
    );

    // The truth's future disturbance against the forecast's process
    // (z_k = 0.995 z_{k-1} + 0.005 w_k, w ~ N(0, 1)): the mean of z over
    // steps k0+1..=N, its expectation from z(k0) and its SD.
    let n_fut = N_STEPS - k0;
    let fut_mean = batch.disturbances[k0..]
        .iter()
        .map(|d| d.mu_p / 0.03)
        .sum::<f64>()
        / n_fut as f64;
    let phi: f64 = 0.995;
    let expected = (1..=n_fut).map(|j| phi.powi(j as i32)).sum::<f64>() * z_true / n_fut as f64;
    let var = (1..=n_fut)
        .map(|i| {
            let c = (0..=(n_fut - i)).map(|m| phi.powi(m as i32)).sum::<f64>();
            (0.005 * c).powi(2)
        })
        .sum::<f64>()
        / (n_fut as f64).powi(2);
    println!(
        "Q1 future disturbance: z({:.0} h) {:+.4}; mean z over the rest {:+.4}, the process expects {:+.4} ± {:.4} (SD): {:+.2} SD",
        k0 as f64 * STEP_H,
        z_true,
        fut_mean,
        expected,
        var.sqrt(),
        (fut_mean - expected) / var.sqrt()
    );

    // The registered filter up to k0 (as `indpensim_forecast::run_record`).
    let recipe = biotwin_ml::data::indpensim::read_recipe(&dir.join("recipes.json"), id)?;
    let start = batch_start(dir, id)?;
    let record = read_historian(
        &dir.join("batches").join(format!("{id}_historian.csv.gz")),
        &start,
        N_STEPS,
    )?;
    let noisy = add_noise(&record, &s.data_noise, batch_seed(s.noise_seed, id));
    if let Some(nq) = q1_members {
        let mut fs = s.filter;
        fs.members = nq;
        let fresh = Estimator::new(&recipe, &noisy.lab[0], &s.prior, &fs)?;
        let seed = run_seed(s.forecast_seed, k0 as u64);
        let b = fresh
            .edited(|_, st, z| {
                *st = truth_k0.clone();
                *z = z_true;
            })
            .forecast_members(seed, nq)?;
        let below = b
            .members_g_per_l
            .iter()
            .filter(|&&v| v < truth_final)
            .count();
        println!(
            "Q1(b) {nq} sampled futures from the true state: {}  truth at quantile {:.3}",
            fmt_fc(&b, truth_final, None),
            below as f64 / b.members_g_per_l.len() as f64
        );
        return Ok(());
    }
    let mut est = Estimator::new(&recipe, &noisy.lab[0], &s.prior, &s.filter)?;
    replay(&mut est, &noisy, k0, |_, _| Ok(()))?;
    let seed = run_seed(s.forecast_seed, est.step() as u64);
    let n = s.forecast_members.unwrap_or(est.members());
    let fc = |e: &Estimator| e.forecast_members(seed, n);

    // Q1(b): every member at the true state, true parameters, true z;
    // future disturbances sampled as the forecast samples them.
    let b = fc(&est.edited(|_, st, z| {
        *st = truth_k0.clone();
        *z = z_true;
    }))?;
    println!(
        "Q1(b) true state + true parameters + true z, sampled future disturbances: {}",
        fmt_fc(&b, truth_final, None)
    );

    // Q2: the ensemble against the truth at k0.
    let nm = est.members();
    let col = |f: &dyn Fn(&Stepper, f64) -> f64| -> Vec<f64> {
        (0..nm)
            .map(|j| {
                let (st, z) = est.member(j);
                f(st, z)
            })
            .collect()
    };
    println!(
        "Q2 at {:.1} h: state, truth, ensemble mean ± SD, z = (mean − truth)/SD [** |z| > 2]",
        k0 as f64 * STEP_H
    );
    let mut rows: Vec<(String, f64, Vec<f64>, bool)> = Vec::new();
    for i in 0..=ode::NH3 {
        rows.push((
            state_name(i),
            truth_k0.y[i],
            col(&|st, _| st.y[i]),
            !not_updated().contains(&i),
        ));
    }
    let x = |y: &State| y[ode::A0] + y[ode::A1] + y[ode::A3] + y[ode::A4];
    rows.push(("X g/L".into(), x(&truth_k0.y), col(&|st, _| x(&st.y)), true));
    rows.push((
        "pH".into(),
        -truth_k0.y[ode::H_ION].log10(),
        col(&|st, _| -st.y[ode::H_ION].log10()),
        true,
    ));
    rows.push(("z".into(), z_true, col(&|_, z| z), true));
    rows.push((
        "mu_p".into(),
        truth_k0.kin.mu_p,
        col(&|st, _| st.kin.mu_p),
        true,
    ));
    rows.push((
        "mux_max (in force)".into(),
        truth_k0.kin.mux_max,
        col(&|st, _| st.kin.mux_max),
        true,
    ));
    rows.push((
        "alpha_kla".into(),
        truth_k0.kin.alpha_kla,
        col(&|st, _| st.kin.alpha_kla),
        true,
    ));
    rows.push((
        "N_conc_paa (fixed)".into(),
        truth_k0.kin.n_conc_paa,
        col(&|st, _| st.kin.n_conc_paa),
        false,
    ));
    rows.push((
        "PAA_c (fixed)".into(),
        truth_k0.kin.paa_c,
        col(&|st, _| st.kin.paa_c),
        false,
    ));
    for (name, t, v, upd) in &rows {
        let (m, sd) = mean_sd(v);
        let z = if sd > 0.0 { (m - t) / sd } else { f64::NAN };
        println!(
            "  {:<20} {} truth {:>12.5e}  mean {:>12.5e} ± {:>10.3e}  rel {:+8.2} %  z {:+8.2}{}",
            name,
            if *upd { "upd" } else { "---" },
            t,
            m,
            sd,
            (m - t) / t.abs().max(1e-300) * 100.0,
            z,
            if z.abs() > 2.0 { " **" } else { "" }
        );
    }

    // Q3: swaps.
    let base = fc(&est)?;
    println!(
        "Q3 forecast at {:.1} h from the filter's members (registered seed):",
        k0 as f64 * STEP_H
    );
    println!(
        "  {:<34} {}",
        "registered (no swap)",
        fmt_fc(&base, truth_final, None)
    );
    let be = Some(base.mean_g_per_l - truth_final);
    let tk = truth_k0.clone();
    let swap_states = |idx: Vec<usize>| {
        let tk = tk.clone();
        move |_: usize, st: &mut Stepper, _: &mut f64| {
            for &i in &idx {
                st.y[i] = tk.y[i];
            }
        }
    };
    let experiments: Vec<(&str, Edit)> = vec![
        (
            "(i) true mu_p, mux_max, alpha_kla",
            Box::new(|_, st: &mut Stepper, _: &mut f64| {
                st.kin.mu_p = tk.kin.mu_p;
                st.kin.mux_max = tk.kin.mux_max;
                st.kin.alpha_kla = tk.kin.alpha_kla;
            }),
        ),
        (
            "(i') all five true parameters",
            Box::new(|_, st: &mut Stepper, _: &mut f64| st.kin = tk.kin),
        ),
        (
            "(ii) true z",
            Box::new(|_, _: &mut Stepper, z: &mut f64| *z = z_true),
        ),
        (
            "(iii) true non-updated states",
            Box::new(swap_states(not_updated())),
        ),
        (
            "(iii-a) true vacuole classes n0..phi0",
            Box::new(swap_states((ode::N0..=ode::PHI0).collect())),
        ),
        ("(iii-b) true S", Box::new(swap_states(vec![ode::S]))),
        ("(iv) true updated states", Box::new(swap_states(updated()))),
        (
            "(iv-a) true a0, a1, a3, a4",
            Box::new(swap_states(vec![ode::A0, ode::A1, ode::A3, ode::A4])),
        ),
        ("(iv-b) true P", Box::new(swap_states(vec![ode::P]))),
        (
            "(iv-c) true V, Wt",
            Box::new(swap_states(vec![ode::V, ode::WT])),
        ),
        (
            "(iv-d) true viscosity, PAA, NH3",
            Box::new(swap_states(vec![ode::VISCOSITY, ode::PAA, ode::NH3])),
        ),
        (
            "(v) all states + params + z",
            Box::new(|_, st: &mut Stepper, z: &mut f64| {
                st.y = tk.y;
                st.kin = tk.kin;
                *z = z_true;
            }),
        ),
    ];
    for (name, edit) in &experiments {
        let f = fc(&est.edited(|j, st, z| edit(j, st, z)))?;
        println!("  {:<34} {}", name, fmt_fc(&f, truth_final, be));
    }
    Ok(())
}
