//! Latency of the live IndPenSim filter (`biotwin_live::indpensim`,
//! `predictor = "indpensim-enkf:PATH"`) on a training batch, through the
//! live predictor as the engine drives it: the batch's historian export
//! mapped to observations with the dataset's tag map, fed in order of
//! sample time; one *update* = every observation of one 12-min sample time
//! (the first of them makes the filter step the previous one: 48 members
//! one 0.2-h step each, then the analysis, and the lab sample on that
//! step). A *forecast* is asked for at every 10 % of the batch (the shipped
//! site's `forecast_every_s = 82800`) with `forecast_members` members.
//!
//! ```sh
//! RAYON_NUM_THREADS=1 cargo run --release -p biotwin-live --example indpensim_enkf_latency -- \
//!   training-data/indpensim B03 48,16
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use biotwin_live::indpensim::{EnkfFile, EnkfPredictor};
use biotwin_live::{Observation, Predictor};
use biotwin_ml::data::indpensim_historian::batch_start;
use biotwin_ml::data::long_format::read_long;
use biotwin_ml::data::tag_map::TagMap;
use biotwin_ml::data::timestamp::parse_rfc3339;
use biotwin_ml::indpensim_forecast::HELD_OUT;

/// CPU time of this process (all threads), s, from /proc/self/stat (Linux;
/// 10-ms ticks): wall-clock times on a shared machine include waiting for a
/// core, CPU times do not.
fn cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = after
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    // Fields 14 and 15 (utime, stime) are 12 and 13 after the name.
    (f.get(11).unwrap_or(&0.0) + f.get(12).unwrap_or(&0.0)) / 100.0
}

fn q(sorted: &[f64], p: f64) -> f64 {
    sorted[((p * (sorted.len() - 1) as f64).round()) as usize]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = PathBuf::from(args.first().map_or("training-data/indpensim", |s| s));
    let id = args.get(1).map_or("B03", |s| s).to_string();
    let counts: Vec<usize> = args
        .get(2)
        .map_or("48,16", |s| s)
        .split(',')
        .map(|n| n.parse().expect("forecast members, e.g. 48,16"))
        .collect();
    if HELD_OUT.contains(&id.as_str()) {
        eprintln!("{id} is a pre-registered held-out batch");
        std::process::exit(2);
    }
    let tags = TagMap::read(dir.join("tags.toml")).expect("tag map");
    let t0 = parse_rfc3339(&batch_start(&dir, &id).expect("start")).expect("start");
    let raw = read_long(
        &dir.join("batches").join(format!("{id}_historian.csv.gz")),
        &tags,
    )
    .expect("export");
    // Observations grouped by sample time (ms), in time order.
    let mut groups: BTreeMap<i64, Vec<Observation>> = BTreeMap::new();
    for s in raw {
        let Some(tag) = tags.tags.get(&s.tag) else {
            continue;
        };
        let t = s.time_unix_s - t0;
        groups
            .entry((t * 1000.0).round() as i64)
            .or_default()
            .push(Observation {
                variable: tag.variable.clone(),
                time_s: t,
                available_s: t,
                value_si: tag.to_si.apply(s.value),
            });
    }
    let threads = rayon::current_num_threads();
    for n in counts {
        let dir_file = std::env::temp_dir().join(format!("indpensim-enkf-latency-{n}.toml"));
        std::fs::write(
            &dir_file,
            format!(
                "[indpensim_enkf]\nrecipes = \"{}\"\nforecast_members = {n}\n",
                std::fs::canonicalize(dir.join("recipes.json"))
                    .expect("recipes")
                    .display()
            ),
        )
        .expect("write filter file");
        let file = EnkfFile::read(&dir_file).expect("filter file");
        let mut p = EnkfPredictor::new(&file, &id, (Some(20.0), None)).expect("predictor");
        let every_s = 82_800.0;
        let mut next = every_s;
        let mut updates = Vec::new();
        let mut forecasts = Vec::new();
        let mut lines = Vec::new();
        let (mut cpu_updates, mut cpu_forecasts) = (0.0, Vec::new());
        for (_, obs) in &groups {
            let t = obs[0].time_s;
            if t > next + 1e-6 {
                let (c, cpu) = (Instant::now(), cpu_s());
                let f = p.forecast(0).expect("forecast");
                let ms = c.elapsed().as_secs_f64() * 1e3;
                let cpu_ms = (cpu_s() - cpu) * 1e3;
                forecasts.push(ms);
                cpu_forecasts.push(cpu_ms);
                let cq = &f.cqas[0];
                lines.push(format!(
                    "  at {:5.1} h: {:6.2} [{:6.2}, {:6.2}] g/L, {:7.0} ms wall, {:7.0} ms CPU",
                    f.time_s / 3600.0,
                    cq.mean,
                    cq.p05,
                    cq.p95,
                    ms,
                    cpu_ms
                ));
                next += every_s;
            }
            let (c, cpu) = (Instant::now(), cpu_s());
            for o in obs {
                p.assimilate(o).expect("assimilate");
            }
            if t > 0.0 {
                updates.push(c.elapsed().as_secs_f64() * 1e3);
                cpu_updates += cpu_s() - cpu;
            }
        }
        // The last forecast (230 h).
        let (c, cpu) = (Instant::now(), cpu_s());
        let f = p.forecast(0).expect("forecast");
        let ms = c.elapsed().as_secs_f64() * 1e3;
        let cpu_ms = (cpu_s() - cpu) * 1e3;
        forecasts.push(ms);
        cpu_forecasts.push(cpu_ms);
        lines.push(format!(
            "  at {:5.1} h: {:6.2} [{:6.2}, {:6.2}] g/L, {:7.0} ms wall, {:7.0} ms CPU",
            f.time_s / 3600.0,
            f.cqas[0].mean,
            f.cqas[0].p05,
            f.cqas[0].p95,
            ms,
            cpu_ms
        ));
        let total_f: f64 = forecasts.iter().sum();
        let total_u: f64 = updates.iter().sum();
        updates.sort_by(f64::total_cmp);
        let mut fs = forecasts.clone();
        fs.sort_by(f64::total_cmp);
        println!(
            "{id}, filter 48 members, forecasts of {n} members, {threads} thread(s): \
             update p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms over {} updates ({:.1} s); \
             forecast p50 {:.0} ms, max {:.0} ms over {} forecasts ({:.1} s). \
             CPU: updates {:.2} ms each on average ({:.1} s), forecasts {:.1} s",
            q(&updates, 0.5),
            q(&updates, 0.99),
            updates[updates.len() - 1],
            updates.len(),
            total_u / 1e3,
            q(&fs, 0.5),
            fs[fs.len() - 1],
            fs.len(),
            total_f / 1e3,
            cpu_updates * 1e3 / updates.len() as f64,
            cpu_updates,
            cpu_forecasts.iter().sum::<f64>() / 1e3
        );
        for l in lines {
            println!("{l}");
        }
    }
}
