//! Calibration of the live mechanistic forecast bands (issue 16,
//! `docs/live.md`, "Calibration of the forecast bands"): replays batches of
//! `training-data/cho-platform` through the live predictor, each built for
//! its batch's planned conditions, and reports 90 % interval coverage per
//! CQA at every 10 % of batch time, a reliability diagram (SVG), the
//! false-alert rate on batches in specification and the detection lead time
//! on batches out of it.
//!
//! cargo run --release --example live_calibration -- [--dataset DIR] \
//!     [--batches B31,B32,…] [--out DIR] [--label NAME]
//! cargo run --release --example live_calibration -- --generate DIR \
//!     --seed S --n N --deviate k_d_amm=4,beta_lp=0.5 [--out DIR --label NAME]
//!
//! `--generate` first makes N interior batches of the CHO DoE with the
//! project's generator (`biotwin_ml::datagen`, seed S), plus `--edge E`
//! batches at the design's corners (default 0), with the known deviations
//! applied to every batch's plant (model parameter × factor), recording
//! residual DNA with `--dna`, writes them to DIR with the dataset's
//! `mechanistic.toml`, and replays them. `--no-discrepancy` replays without
//! the process's model discrepancy (`process-models/discrepancy/`).
//!
//! Settings are `MechanisticOptions::default()` (documented in docs/live.md),
//! the process file's `[[uncertainty]]` and its model discrepancy; nothing
//! here is tuned.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use biotwin::live::mechanistic::MechanisticOptions;
use biotwin::live::mechanistic::coverage::{
    Replay, coverage90, first_alert_h, in_spec, reliability, replay,
};
use biotwin_core::definition::specs::Limit;
use biotwin_ml::data::Dataset;

/// The specification the alert study is run against: the shipped spec
/// file's limits (`process-models/specs/cho-mab-upstream.toml`: titer ≥ 1
/// g/L, viability ≥ 50 %).
pub fn study_limits() -> Vec<Limit> {
    vec![
        Limit {
            cqa: "titer_g_per_l".into(),
            min: Some(1.0),
            max: None,
            note: String::new(),
        },
        Limit {
            cqa: "viability_pct".into(),
            min: Some(50.0),
            max: None,
            note: String::new(),
        },
    ]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |k: &str| {
        args.iter()
            .position(|a| a == k)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let mut dir = PathBuf::from(arg("--dataset").unwrap_or("training-data/cho-platform".into()));
    if let Some(g) = arg("--generate") {
        let g = PathBuf::from(g);
        let root = std::env::current_dir()?;
        let mut o = biotwin_ml::datagen::ChoDoeOptions::new(
            root.join("process-models/processes/cho-platform-3l.toml"),
        );
        o.seed = arg("--seed").ok_or("--generate needs --seed")?.parse()?;
        o.n_interior = arg("--n").unwrap_or("3".into()).parse()?;
        o.n_edge = arg("--edge").unwrap_or("0".into()).parse()?;
        o.record_dna = args.iter().any(|a| a == "--dna");
        for d in arg("--deviate")
            .unwrap_or_default()
            .split(',')
            .filter(|d| !d.is_empty())
        {
            let (k, v) = d.split_once('=').ok_or("--deviate NAME=FACTOR,…")?;
            o.deviations.push((k.to_string(), v.parse()?));
        }
        biotwin_ml::datagen::write_cho_dataset(&g, &o)?;
        let m = std::fs::read_to_string("training-data/cho-platform/mechanistic.toml")?;
        let m = m.replace(
            "process = \"../../process-models/processes/cho-platform-3l.toml\"",
            &format!(
                "process = {:?}",
                root.join("process-models/processes/cho-platform-3l.toml")
            ),
        );
        // The generated batches may record residual DNA (`--dna`): map it
        // onto the model's CQA (mg/L -> kg/m3).
        let m = if o.record_dna {
            format!(
                "{m}\n[[cqa]]\ntarget = \"dna\"                   # mg/L -> kg/m3\nquality = \"dna_mg_per_l\"\nfactor = 1e-3\n"
            )
        } else {
            m
        };
        biotwin_core::output::write_atomic(&g.join("mechanistic.toml"), m.as_bytes())?;
        dir = g;
    }
    let out = arg("--out").map(PathBuf::from);
    let label = arg("--label").unwrap_or("run".into());
    let ds = Dataset::load(&dir).map_err(|d| format!("{d}"))?;
    let ids: Vec<String> = match arg("--batches") {
        Some(s) => s.split(',').map(str::to_string).collect(),
        None => ds.batches.iter().map(|b| b.id().to_string()).collect(),
    };
    let fractions: Vec<f64> = (0..=10).map(|k| k as f64 / 10.0).collect();
    let limits = study_limits();
    let opts = MechanisticOptions {
        model_discrepancy: !args.iter().any(|a| a == "--no-discrepancy"),
        ..Default::default()
    };
    let t0 = std::time::Instant::now();
    // `--threads N` replays the batches on N threads (each batch's forecasts
    // use its own seed, so the result does not depend on N).
    let threads: usize = arg("--threads").unwrap_or("1".into()).parse()?;
    let chunks: Vec<Vec<String>> = {
        let mut c = vec![Vec::new(); threads.max(1)];
        for (i, id) in ids.iter().enumerate() {
            c[i % threads.max(1)].push(id.clone());
        }
        c
    };
    let parts: Vec<Result<Replay, String>> = std::thread::scope(|s| {
        let hs: Vec<_> = chunks
            .iter()
            .map(|c| {
                let (ds, fractions, opts, limits) = (&ds, &fractions, &opts, &limits);
                s.spawn(move || {
                    replay(ds, c, fractions, 6.0 * 3600.0, opts, limits).map_err(|e| e.to_string())
                })
            })
            .collect();
        hs.into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("a replay thread panicked".into()))
            })
            .collect()
    });
    let mut r = Replay {
        points: Vec::new(),
        duration_h: BTreeMap::new(),
    };
    for p in parts {
        let p = p?;
        r.points.extend(p.points);
        r.duration_h.extend(p.duration_h);
    }
    // In the order of `ids`, as a one-thread replay gives them.
    let pos: BTreeMap<&String, usize> = ids.iter().enumerate().map(|(i, b)| (b, i)).collect();
    r.points
        .sort_by_key(|p| pos.get(&p.batch).copied().unwrap_or(usize::MAX));
    eprintln!(
        "{} batches in {:.1} s",
        ids.len(),
        t0.elapsed().as_secs_f64()
    );
    let report = render(&r, &ids, &limits, &label);
    print!("{report}");
    if let Some(o) = out {
        std::fs::create_dir_all(&o)?;
        biotwin_core::output::write_atomic(&o.join(format!("{label}.md")), report.as_bytes())?;
        biotwin_core::output::write_atomic(
            &o.join(format!("{label}.json")),
            serde_json::to_string(&r)?.as_bytes(),
        )?;
        biotwin_core::output::write_atomic(
            &o.join(format!("{label}-reliability.svg")),
            reliability_svg(&r, &label).as_bytes(),
        )?;
    }
    Ok(())
}

fn render(r: &Replay, ids: &[String], limits: &[Limit], label: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Forecast calibration: {label} ({} batches: {})\n",
        ids.len(),
        ids.join(",")
    );
    let cov = coverage90(r);
    let cqas: Vec<String> = {
        let mut v: Vec<String> = cov.keys().map(|k| k.0.clone()).collect();
        v.dedup();
        v
    };
    let fr: Vec<u32> = (0..=10).map(|k| k * 10).collect();
    let _ = writeln!(
        s,
        "90 % interval coverage (covered / batches) at % of batch time\n"
    );
    let _ = write!(s, "| CQA |");
    for f in &fr {
        let _ = write!(s, " {f} % |");
    }
    let _ = write!(s, " pooled 10–100 % |\n|---|");
    for _ in &fr {
        let _ = write!(s, "---|");
    }
    let _ = writeln!(s, "---|");
    for c in &cqas {
        let _ = write!(s, "| {c} |");
        let (mut h, mut n) = (0, 0);
        for f in &fr {
            let (a, b) = cov.get(&(c.clone(), *f)).copied().unwrap_or((0, 0));
            if *f > 0 {
                h += a;
                n += b;
            }
            let _ = write!(s, " {a}/{b} |");
        }
        let _ = writeln!(s, " {:.0} % |", 100.0 * h as f64 / n.max(1) as f64);
    }
    // Mean width of the 90 % interval, relative to the mean, per fraction.
    let _ = writeln!(s, "\nMean 90 % interval width / |mean| (%)\n");
    let _ = write!(s, "| CQA |");
    for f in &fr {
        let _ = write!(s, " {f} % |");
    }
    let _ = write!(s, "\n|---|");
    for _ in &fr {
        let _ = write!(s, "---|");
    }
    let _ = writeln!(s);
    for c in &cqas {
        let _ = write!(s, "| {c} |");
        for f in &fr {
            let w: Vec<f64> = r
                .points
                .iter()
                .filter(|p| {
                    &p.cqa == c && p.fraction.map(|x| (x * 100.0).round() as u32) == Some(*f)
                })
                .map(|p| 100.0 * (p.p95 - p.p05) / p.mean.abs().max(1e-300))
                .collect();
            let m = w.iter().sum::<f64>() / w.len().max(1) as f64;
            let _ = write!(s, " {m:.1} |");
        }
        let _ = writeln!(s);
    }
    // Reliability.
    let _ = writeln!(
        s,
        "\nReliability (nominal central level → observed share, pooled over 0–100 % of batch time, the 0 % forecast included)\n"
    );
    for (c, curve) in reliability(r) {
        let _ = write!(s, "- {c}:");
        for (n, o) in curve {
            let _ = write!(s, " {:.0}→{:.0}", n * 100.0, o * 100.0);
        }
        let _ = writeln!(s);
    }
    // Alerts.
    let factor: BTreeMap<&str, (&str, f64)> = [
        ("titer_g_per_l", ("final_titer", 1.0)),
        ("viability_pct", ("final_viability", 0.01)),
        ("galactosylated_pct", ("galactosylated", 0.01)),
    ]
    .into_iter()
    .collect();
    let first = first_alert_h(r, 0.9);
    let _ = writeln!(
        s,
        "\nAlerts (P(in spec) < 0.9 at a forecast every 6 h; limits: titer ≥ 1 g/L, viability ≥ 50 %)\n"
    );
    let _ = writeln!(
        s,
        "| batch | recorded in spec | first alert (h, CQA) | duration (h) | lead time (h) |\n|---|---|---|---|---|"
    );
    let (mut n_in, mut false_alerts, mut n_out, mut detected) = (0, 0, 0, 0);
    let mut leads = Vec::new();
    for id in ids {
        let ok = limits.iter().all(|l| {
            let (t, f) = factor[l.cqa.as_str()];
            r.points
                .iter()
                .find(|p| &p.batch == id && p.cqa == t)
                .is_none_or(|p| in_spec(p.recorded, l, f))
        });
        let d = r.duration_h[id];
        let a = first[id].clone();
        let lead = a.as_ref().map(|(t, _)| d - t);
        if ok {
            n_in += 1;
            if a.is_some() {
                false_alerts += 1;
            }
        } else {
            n_out += 1;
            if let Some(l) = lead {
                detected += 1;
                leads.push(l);
            }
        }
        let _ = writeln!(
            s,
            "| {id} | {} | {} | {d:.0} | {} |",
            if ok { "yes" } else { "**no**" },
            a.map_or("none".into(), |(t, c)| format!("{t:.0} h, {c}")),
            if ok {
                "–".into()
            } else {
                lead.map_or("not detected".into(), |l| format!("{l:.0}"))
            }
        );
    }
    let _ = writeln!(
        s,
        "\nFalse alerts: {false_alerts} of {n_in} batches in specification; detected: {detected} of {n_out} out of specification{}",
        if leads.is_empty() {
            String::new()
        } else {
            format!(
                ", lead time before the batch end {:.0}–{:.0} h (median {:.0} h)",
                leads.iter().cloned().fold(f64::INFINITY, f64::min),
                leads.iter().cloned().fold(0.0, f64::max),
                {
                    let mut l = leads.clone();
                    l.sort_by(f64::total_cmp);
                    l[l.len() / 2]
                }
            )
        }
    );
    s
}

/// Reliability diagram: nominal central level (x) against the observed
/// share of recorded values inside it (y), one line per CQA, the diagonal
/// for reference; legend to the right, outside the data.
fn reliability_svg(r: &Replay, label: &str) -> String {
    let rel = reliability(r);
    let (w, h, l, t, pw, ph) = (640.0, 420.0, 60.0, 30.0, 340.0, 340.0);
    let x = |v: f64| l + v * pw;
    let y = |v: f64| t + ph - v * ph;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"{w}\" height=\"{h}\" fill=\"white\"/>\n<text x=\"{}\" y=\"18\" font-size=\"13\">Reliability of the live forecast: {label}</text>\n",
        l
    );
    for k in 0..=10 {
        let v = k as f64 / 10.0;
        let _ = write!(
            s,
            "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#ddd\"/><line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#ddd\"/>\n<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{:.0}</text><text x=\"{}\" y=\"{}\" text-anchor=\"end\">{:.0}</text>\n",
            x(v),
            y(0.0),
            x(v),
            y(1.0),
            x(0.0),
            y(v),
            x(1.0),
            y(v),
            x(v),
            y(0.0) + 14.0,
            v * 100.0,
            x(0.0) - 4.0,
            y(v) + 4.0,
            v * 100.0
        );
    }
    let _ = write!(
        s,
        "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#000\" stroke-dasharray=\"4 3\"/>\n<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">nominal central interval (%)</text>\n<text transform=\"translate(16 {}) rotate(-90)\" text-anchor=\"middle\">recorded values inside (%)</text>\n",
        x(0.0),
        y(0.0),
        x(1.0),
        y(1.0),
        x(0.5),
        y(0.0) + 32.0,
        y(0.5)
    );
    let colours = [
        "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf",
    ];
    for (i, (c, curve)) in rel.iter().enumerate() {
        let col = colours[i % colours.len()];
        let pts: Vec<String> = std::iter::once((0.0, 0.0))
            .chain(curve.iter().copied())
            .map(|(a, b)| format!("{:.1},{:.1}", x(a), y(b)))
            .collect();
        let _ = write!(
            s,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{col}\" stroke-width=\"1.6\"/>\n<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{col}\" stroke-width=\"2\"/><text x=\"{}\" y=\"{}\">{c}</text>\n",
            pts.join(" "),
            x(1.0) + 20.0,
            t + 10.0 + 16.0 * i as f64,
            x(1.0) + 40.0,
            t + 10.0 + 16.0 * i as f64,
            x(1.0) + 46.0,
            t + 14.0 + 16.0 * i as f64
        );
    }
    let n = rel.len();
    let _ = write!(
        s,
        "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#000\" stroke-dasharray=\"4 3\"/><text x=\"{}\" y=\"{}\">perfect calibration</text>\n</svg>\n",
        x(1.0) + 20.0,
        t + 10.0 + 16.0 * n as f64,
        x(1.0) + 40.0,
        t + 10.0 + 16.0 * n as f64,
        x(1.0) + 46.0,
        t + 14.0 + 16.0 * n as f64
    );
    s
}
