//! Latency of the IndPenSim ensemble Kalman filter on a training batch:
//! each online update (one step of every member + the analysis) up to
//! 50 % of the batch, then one forecast of the final penicillin from 50 %.
//!
//! ```sh
//! RAYON_NUM_THREADS=1 cargo run --release -p biotwin-ml --example indpensim_latency -- \
//!   training-data/indpensim B03 200
//! ```

use std::path::PathBuf;
use std::time::Instant;

use biotwin_core::bioreactor::indpensim::estimate::Estimator;
use biotwin_ml::data::indpensim::read_recipe;
use biotwin_ml::data::indpensim_historian::{batch_start, read_historian};
use biotwin_ml::indpensim_forecast::{EvalSettings, add_noise};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = PathBuf::from(args.first().map_or("training-data/indpensim", |s| s));
    let id = args.get(1).map_or("B03", |s| s).to_string();
    if ["B16", "B17", "B18", "B19", "B20"].contains(&id.as_str()) {
        eprintln!("{id} is a held-out batch");
        std::process::exit(2);
    }
    let mut s = EvalSettings::default();
    s.filter.members = args.get(2).map_or(48, |m| m.parse().expect("members"));
    let recipe = read_recipe(&dir.join("recipes.json"), &id).expect("recipe");
    let start = batch_start(&dir, &id).expect("start");
    let rec = read_historian(
        &dir.join("batches").join(format!("{id}_historian.csv.gz")),
        &start,
        575,
    )
    .expect("historian");
    let rec = add_noise(&rec, &s.data_noise, s.noise_seed);
    let mut est = Estimator::new(&recipe, &rec.lab[0], &s.prior, &s.filter).expect("filter");
    let mut times = Vec::new();
    let mut lab = rec.lab.iter().skip(1).peekable();
    for (k, step) in rec.online.iter().enumerate() {
        let t0 = Instant::now();
        est.advance(step).expect("advance");
        let t = (k + 1) as f64 * 0.2;
        if let Some(sample) = lab.peek() {
            if (sample.time_h - t).abs() < 0.1 {
                est.assimilate_lab(sample).expect("lab");
                lab.next();
            }
        }
        times.push(t0.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    let q = |p: f64| times[((p * (times.len() - 1) as f64).round()) as usize];
    let t0 = Instant::now();
    let f = est.forecast(7).expect("forecast");
    let ft = t0.elapsed().as_secs_f64() * 1e3;
    println!(
        "{id}, {} members, threads {}: update p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms over {} updates; forecast from {:.0} h: {:.0} ms (mean {:.2} g/L)",
        s.filter.members,
        rayon::current_num_threads(),
        q(0.5),
        q(0.99),
        times[times.len() - 1],
        times.len(),
        f.time_h,
        ft,
        f.mean_g_per_l
    );
}
