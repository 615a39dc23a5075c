//! The study's figures: trajectories with Monte Carlo envelopes, and a bar
//! chart of Sobol' indices.

use std::fmt::Write as _;

use biotwin_core::output::format_sig;
use biotwin_core::output::plot::{LimitLine, Line, Panel, render_svg};

use super::labels::human;

use super::TransferStudy;
use super::study::{ArmStudy, BAND_COLUMNS, PEAK_PCO2};
use crate::error::FigureError;

/// Metrics drawn in `sobol.svg` (where the model reports them).
pub const SOBOL_PLOT_METRICS: [&str; 6] = [
    "titer_g_per_l",
    "viability_pct",
    "galactosylated_pct",
    "acidic_variants_pct",
    "osmolality_mosm_per_kg",
    PEAK_PCO2,
];

/// Source, target and adjusted target: nominal lines with 5–95 % bands,
/// human titles with units, and the limit lines that apply to a panel (the
/// specification's limits, the pCO₂ inhibition limit of the scale-up
/// parameters, the DO set-point).
pub fn trajectories_svg(study: &TransferStudy) -> Result<String, FigureError> {
    let arms: [(&str, &ArmStudy); 3] = [
        ("source", &study.source),
        ("target, translated", &study.target),
        ("target, recommended", &study.adjusted),
    ];
    let specs = study.source_def.specifications.as_ref();
    let panels: Vec<Panel> = BAND_COLUMNS
        .iter()
        .map(|col| {
            let mut limits = Vec::new();
            if let Some(l) = specs.and_then(|s| s.limit(col)) {
                for (word, v) in [("spec. min", l.min), ("spec. max", l.max)] {
                    if let Some(v) = v {
                        limits.push(LimitLine {
                            value: v,
                            label: format!("{word} {}", format_sig(v)),
                        });
                    }
                }
            }
            if *col == "pco2_mmhg" {
                let v = study.source.pco2_limit_mmhg;
                limits.push(LimitLine {
                    value: v,
                    label: format!("inhibition limit {} mmHg", format_sig(v)),
                });
            }
            if *col == "do_pct"
                && let Some(f) = study.target_def.recipe.setpoints.do_fraction
            {
                limits.push(LimitLine {
                    value: 100.0 * f,
                    label: format!("set-point {} %", format_sig(100.0 * f)),
                });
            }
            Panel {
                title: human(col),
                x_label: "time [h]".into(),
                lines: arms
                    .iter()
                    .filter_map(|(label, arm)| {
                        let b = arm.bands.as_ref()?;
                        let c = b.columns.iter().find(|c| c.column == *col)?;
                        Some(Line {
                            label: format!("{label} (nominal; band: {} runs)", b.runs),
                            x: b.time_h.clone(),
                            y: c.nominal.clone(),
                            band: Some((c.p05.clone(), c.p95.clone())),
                        })
                    })
                    .collect(),
                limits,
            }
        })
        .collect();
    render_svg(&panels, 3).map_err(|e| FigureError { message: e.message })
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Horizontal bars per factor, one panel per metric: first-order index
/// (filled) and total index (outlined), each with its bootstrap interval.
pub fn sobol_svg(study: &TransferStudy) -> String {
    let sobol = &study.sensitivity.sobol;
    let metrics: Vec<&str> = SOBOL_PLOT_METRICS
        .iter()
        .copied()
        .filter(|m| sobol.output(m).is_some())
        .collect();
    let factors = &sobol.factors;
    let k = factors.len();
    let (cols, panel_w, label_w) = (2usize, 520.0, 190.0);
    let bar_h = 9.0;
    let panel_h = 60.0 + k as f64 * (2.0 * bar_h + 8.0);
    let rows = metrics.len().div_ceil(cols).max(1);
    let (w, h) = (cols as f64 * panel_w, rows as f64 * panel_h + 40.0);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r##"<text x="10" y="18" font-size="13">Sobol' indices on the target (N = {} base samples, {} runs; bars: S1 filled, ST outlined; whiskers: {:.0} % bootstrap CI)</text>"##,
        sobol.base_samples,
        sobol.model_runs,
        100.0 * sobol.confidence_level
    );
    for (p, m) in metrics.iter().enumerate() {
        let x0 = (p % cols) as f64 * panel_w;
        let y0 = 30.0 + (p / cols) as f64 * panel_h;
        let plot_w = panel_w - label_w - 30.0;
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" font-size="12" font-weight="bold">{}</text>"#,
            x0 + 10.0,
            y0 + 16.0,
            esc(&human(m))
        );
        let axis_y = y0 + 26.0;
        let xs = |v: f64| x0 + label_w + v.clamp(0.0, 1.0) * plot_w;
        for t in [0.0, 0.25, 0.5, 0.75, 1.0] {
            let _ = writeln!(
                s,
                r##"<line x1="{x}" y1="{axis_y}" x2="{x}" y2="{}" stroke="#ddd"/><text x="{x}" y="{}" text-anchor="middle" fill="#555">{t}</text>"##,
                axis_y + k as f64 * (2.0 * bar_h + 8.0),
                axis_y - 2.0,
                x = xs(t),
            );
        }
        let Some(ix) = sobol.output(m).and_then(|o| o.indices.as_ref()) else {
            let _ = writeln!(
                s,
                r#"<text x="{}" y="{}">no variance: indices undefined</text>"#,
                x0 + label_w,
                axis_y + 14.0
            );
            continue;
        };
        for (i, f) in ix.iter().enumerate() {
            let y = axis_y + 4.0 + i as f64 * (2.0 * bar_h + 8.0);
            let _ = writeln!(
                s,
                r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#,
                x0 + label_w - 6.0,
                y + bar_h + 3.0,
                esc(&f.factor)
            );
            for (j, e) in [&f.first_order, &f.total].iter().enumerate() {
                let yy = y + j as f64 * bar_h;
                let (fill, stroke) = if j == 0 {
                    ("#1f77b4", "#1f77b4")
                } else {
                    ("none", "#d62728")
                };
                let _ = writeln!(
                    s,
                    r#"<rect x="{}" y="{yy}" width="{:.2}" height="{}" fill="{fill}" stroke="{stroke}"/>"#,
                    xs(0.0),
                    (xs(e.value) - xs(0.0)).max(0.0),
                    bar_h - 1.0
                );
                let _ = writeln!(
                    s,
                    r##"<line x1="{:.2}" y1="{m}" x2="{:.2}" y2="{m}" stroke="#333"/>"##,
                    xs(e.ci_low),
                    xs(e.ci_high),
                    m = yy + (bar_h - 1.0) / 2.0
                );
            }
        }
    }
    s.push_str("</svg>\n");
    s
}
