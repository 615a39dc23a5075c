//! `live_latency --indpensim`: per-update latency of the IndPenSim ensemble
//! Kalman filter (`biotwin_core::bioreactor::indpensim::estimate`), the
//! issue-15 goal "per update, estimation + 200-member forecast, p99 ≤ 10 ms
//! on one core".
//!
//! Replays a training batch's historian record (online tags every 0.2 h,
//! lab samples at their times; measurement noise added as in the
//! evaluation, `indpensim_forecast::add_noise`) through the filter on a
//! one-thread pool. One *update* = every member stepped 0.2 h with the
//! recorded flows + the online analysis (+ the lab analysis on a lab
//! step). A *forecast* (every member run to 230 h) is timed after the
//! update at every 10 % of batch time; *update + forecast* adds the two.
//! Wall-clock and thread CPU times are both given (on a shared machine the
//! wall time includes waiting for a core; `uptime` before a run says how
//! loaded it was).
//!
//! ```sh
//! cargo run --release --example live_latency -- --indpensim \
//!   [DIR=training-data/indpensim] [BATCH=B03] [MEMBERS=200] [FORECAST_MEMBERS=MEMBERS] \
//!   [INTEGRATOR=dopri5 | etdrk4:SUBSTEPS]
//! ```
//!
//! INTEGRATOR: the members' integrator (`simulate::Integrator`); default
//! the filter's (`estimate::Settings`).

use std::path::PathBuf;
use std::time::Instant;

use biotwin_core::bioreactor::indpensim::estimate::Estimator;
use biotwin_core::bioreactor::indpensim::{Integrator, N_STEPS};
use biotwin_ml::data::indpensim::read_recipe;
use biotwin_ml::data::indpensim_historian::{batch_start, read_historian};
use biotwin_ml::indpensim_forecast::{EvalSettings, HELD_OUT, add_noise};

use super::{pct, thread_cpu_ns};

/// Goal per update, ms.
const GOAL_MS: f64 = 10.0;

fn summary(name: &str, wall: &[f64], cpu: &[f64]) -> f64 {
    let mut w = wall.to_vec();
    let mut c = cpu.to_vec();
    w.sort_by(f64::total_cmp);
    c.sort_by(f64::total_cmp);
    println!(
        "  {name:18} n = {:4}: wall p50 {:9.2} ms, p99 {:9.2} ms, max {:9.2} ms | CPU p50 {:9.2} ms, p99 {:9.2} ms, max {:9.2} ms",
        w.len(),
        pct(&w, 0.5),
        pct(&w, 0.99),
        w[w.len() - 1],
        pct(&c, 0.5),
        pct(&c, 0.99),
        c[c.len() - 1]
    );
    pct(&c, 0.99)
}

pub fn main(args: &[String]) {
    let dir = PathBuf::from(args.first().map_or("training-data/indpensim", |s| s));
    let id = args.get(1).map_or("B03", |s| s).to_string();
    let members: usize = args.get(2).map_or(200, |m| m.parse().expect("members"));
    let forecast_members: usize = args
        .get(3)
        .map_or(members, |m| m.parse().expect("forecast members"));
    let integrator = args.get(4).map(|a| match a.split_once(':') {
        None if a == "dopri5" => Integrator::Dopri5,
        Some(("etdrk4", n)) => Integrator::Etdrk4 {
            substeps: n.parse().expect("etdrk4:SUBSTEPS"),
        },
        _ => panic!("INTEGRATOR: dopri5 or etdrk4:SUBSTEPS, found {a}"),
    });
    if HELD_OUT.contains(&id.as_str()) {
        eprintln!("{id} is a pre-registered held-out batch");
        std::process::exit(2);
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("one-thread pool");
    pool.install(|| run(&dir, &id, members, forecast_members, integrator));
}

fn run(
    dir: &std::path::Path,
    id: &str,
    members: usize,
    forecast_members: usize,
    integrator: Option<Integrator>,
) {
    let mut s = EvalSettings::default();
    s.filter.members = members;
    if let Some(i) = integrator {
        s.filter.accuracy.integrator = i;
    }
    let recipe = read_recipe(&dir.join("recipes.json"), id).expect("recipe");
    let start = batch_start(dir, id).expect("start");
    let rec = read_historian(
        &dir.join("batches").join(format!("{id}_historian.csv.gz")),
        &start,
        N_STEPS,
    )
    .expect("historian");
    let rec = add_noise(&rec, &s.data_noise, s.noise_seed);
    let mut est = Estimator::new(&recipe, &rec.lab[0], &s.prior, &s.filter).expect("filter");
    let (mut upd_wall, mut upd_cpu) = (Vec::new(), Vec::new());
    let (mut fc_wall, mut fc_cpu) = (Vec::new(), Vec::new());
    let (mut both_wall, mut both_cpu) = (Vec::new(), Vec::new());
    let mut lab = rec.lab.iter().skip(1).peekable();
    let every = N_STEPS / 10;
    for (k, step) in rec.online.iter().enumerate() {
        let (w0, c0) = (Instant::now(), thread_cpu_ns().unwrap_or(0));
        est.advance(step).expect("advance");
        let t = (k + 1) as f64 * 0.2;
        if let Some(sample) = lab.peek() {
            if (sample.time_h - t).abs() < 0.1 {
                est.assimilate_lab(sample).expect("lab");
                lab.next();
            }
        }
        let uw = w0.elapsed().as_secs_f64() * 1e3;
        let uc = (thread_cpu_ns().unwrap_or(0) - c0) as f64 * 1e-6;
        upd_wall.push(uw);
        upd_cpu.push(uc);
        if (k + 1) % every == 0 && k + 1 < N_STEPS {
            let (w0, c0) = (Instant::now(), thread_cpu_ns().unwrap_or(0));
            let f = est
                .forecast_members(s.forecast_seed, forecast_members)
                .expect("forecast");
            let fw = w0.elapsed().as_secs_f64() * 1e3;
            let fcpu = (thread_cpu_ns().unwrap_or(0) - c0) as f64 * 1e-6;
            println!(
                "  forecast at {:5.1} h: {:6.2} [{:6.2}, {:6.2}] g/L, {fw:8.0} ms wall, {fcpu:8.0} ms CPU",
                f.time_h, f.mean_g_per_l, f.p05_g_per_l, f.p95_g_per_l
            );
            fc_wall.push(fw);
            fc_cpu.push(fcpu);
            both_wall.push(uw + fw);
            both_cpu.push(uc + fcpu);
        }
    }
    println!(
        "IndPenSim {id}: filter {members} members, forecasts of {forecast_members}, {} thread, integrator {:?}",
        rayon::current_num_threads(),
        s.filter.accuracy.integrator
    );
    let p99_update = summary("update", &upd_wall, &upd_cpu);
    summary("forecast", &fc_wall, &fc_cpu);
    let p99_both = summary("update + forecast", &both_wall, &both_cpu);
    let verdict = |p: f64| {
        if p <= GOAL_MS {
            "met".to_string()
        } else {
            format!("not met ({:.1}x the goal)", p / GOAL_MS)
        }
    };
    println!(
        "  goal p99 <= {GOAL_MS} ms (CPU): update {}; update + forecast {}",
        verdict(p99_update),
        verdict(p99_both)
    );
}
