//! The batch view's chart of one CQA, server-rendered SVG in two panels:
//!
//! 1. **The batch over process time**: the CQA's measured values (lab
//!    results, and online values where the CQA is measured online) at
//!    their sample time, and, at the planned batch end, the latest forecast
//!    of the end-of-batch value as a labelled 90 % interval with its mean;
//!    the actual final result (a measurement sampled at or after the planned
//!    end) once the batch has one; specification limits dashed.
//! 2. **Forecast history**: the end-of-batch forecast (mean and 90 %
//!    interval) against the batch time it was made at: how the prediction
//!    settled, *not* the CQA's value over time (the axis says so).
//!
//! x in hours of process time from the batch start; y labelled with the
//! CQA's name and unit; legends to the right of the data. Presentation
//! attributes only (no `style`, no script), every text escaped, so the
//! page's content security policy holds.

use std::fmt::Write as _;

use super::svg::{escape, label, series, ticks};
use crate::{BatchInfo, PredictionRecord, Quality, Reading};

const W: f64 = 920.0;
const LEFT: f64 = 78.0;
const PW: f64 = 500.0;
const LEGEND_X: f64 = LEFT + PW + 24.0;
const PANEL_H: f64 = 220.0;
const TOP1: f64 = 40.0;
const TOP2: f64 = TOP1 + PANEL_H + 86.0;
const H: f64 = TOP2 + PANEL_H + 52.0;

/// Human name with unit of a model CQA name (`titer_g_per_l` → `Titer
/// (g/L)`); an unknown suffix is left in the name.
pub fn cqa_label(name: &str) -> String {
    const UNITS: &[(&str, &str)] = &[
        ("_g_per_l", "g/L"),
        ("_mg_per_l", "mg/L"),
        ("_mosm_per_kg", "mOsm/kg"),
        ("_pct", "%"),
        ("_mm", "mM"),
        ("_end", ""),
    ];
    let (base, unit) = UNITS
        .iter()
        .find_map(|(suf, u)| name.strip_suffix(suf).map(|b| (b, *u)))
        .unwrap_or((name, ""));
    let mut words = base.replace('_', " ");
    if let Some(f) = words.get(..1) {
        words = f.to_uppercase() + &words[1..];
    }
    let words = words
        .replace("Hcp", "HCP")
        .replace("Dna", "DNA")
        .replace("Hmw", "HMW");
    if unit.is_empty() {
        words
    } else {
        format!("{words} ({unit})")
    }
}

/// Whether a reading's tag measures a CQA, and the factor from the tag's
/// value to the CQA's unit: a tag named as the CQA itself (in its unit), or
/// the dataset variable of it (`titer` in kg/m³ = g/L, `viability` as a
/// fraction). A site whose tags are named otherwise gets the forecast only.
fn measures(tag: &str, cqa: &str) -> Option<f64> {
    if tag == cqa {
        return Some(1.0);
    }
    match (cqa, tag) {
        ("titer_g_per_l", "titer") => Some(1.0),
        ("viability_pct", "viability") => Some(100.0),
        _ => None,
    }
}

/// The two-panel chart, or `None` when no prediction of the batch has
/// this CQA.
pub fn render(
    batch: &BatchInfo,
    cqa: &str,
    preds: &[PredictionRecord],
    readings: &[Reading],
) -> Option<String> {
    let (pts, lo, hi) = series(preds, cqa);
    let latest = pts.last().copied()?;
    let end_h = (batch.end_unix_s - batch.start_unix_s) / 3600.0;
    let name = cqa_label(cqa);
    let mut measured: Vec<(f64, f64)> = readings
        .iter()
        .filter(|r| r.quality == Quality::Good && r.value.is_finite())
        .filter_map(|r| {
            let f = measures(&r.tag, cqa)?;
            Some(((r.time_unix_s - batch.start_unix_s) / 3600.0, r.value * f))
        })
        .filter(|(t, _)| t.is_finite() && *t >= 0.0)
        .collect();
    measured.sort_by(|a, b| a.0.total_cmp(&b.0));
    // The actual final result: measured at or after the planned end.
    let final_result = measured
        .iter()
        .filter(|(t, _)| *t >= end_h - 1e-6)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .copied();
    let during: Vec<(f64, f64)> = measured
        .iter()
        .copied()
        .filter(|(t, _)| *t <= end_h + 1e-6)
        .collect();

    let mut s = String::new();
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"cqa-plot\" data-cqa=\"{}\" \
         data-label=\"{}\" viewBox=\"0 0 {W} {H}\" width=\"{W}\" height=\"{H}\" role=\"img\" \
         font-family=\"sans-serif\" font-size=\"11\"><title>Batch {}: {}: measured values over \
         process time with the forecast of the end-of-batch value; and the forecast's \
         history</title>\n",
        escape(cqa),
        escape(&name),
        escape(&batch.batch_id),
        escape(&name)
    );
    // Panel 1: the batch over process time.
    let x_hi = end_h.max(final_result.map_or(0.0, |f| f.0)) * 1.04;
    let ys = during
        .iter()
        .map(|p| p.1)
        .chain([latest.p05, latest.p95, latest.mean])
        .chain(final_result.map(|f| f.1))
        .chain(lo)
        .chain(hi);
    let (y0, y1) = padded(ys);
    let x1 = |t: f64| LEFT + t / x_hi * PW;
    let y1f = |v: f64| TOP1 + (1.0 - (v - y0) / (y1 - y0)) * PANEL_H;
    let _ = write!(
        s,
        "<text x=\"{LEFT}\" y=\"20\" font-size=\"13\" font-weight=\"bold\">{}: batch {} over \
         process time</text>\n",
        escape(&name),
        escape(&batch.batch_id)
    );
    axes(&mut s, TOP1, 0.0, x_hi, y0, y1, "process time (h)", &name);
    spec_lines(&mut s, TOP1, &y1f, lo, hi);
    if during.len() > 1 {
        let line: Vec<String> = during
            .iter()
            .map(|(t, v)| format!("{:.1},{:.1}", x1(*t), y1f(*v)))
            .collect();
        let _ = writeln!(
            s,
            "<polyline class=\"measured-line\" points=\"{}\" fill=\"none\" stroke=\"#636363\" \
             stroke-width=\"0.8\"/>",
            line.join(" ")
        );
    }
    for (t, v) in &during {
        let _ = writeln!(
            s,
            "<circle class=\"measured\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"#252525\"><title>\
             measured {} at {} h</title></circle>",
            x1(*t),
            y1f(*v),
            label(*v),
            label(*t)
        );
    }
    // The end-of-batch forecast at the planned end.
    let xe = x1(end_h);
    let _ = writeln!(
        s,
        "<line x1=\"{xe:.1}\" x2=\"{xe:.1}\" y1=\"{TOP1}\" y2=\"{:.1}\" stroke=\"#999\" \
         stroke-dasharray=\"2 3\"/><text x=\"{xe:.1}\" y=\"{:.1}\" text-anchor=\"end\" \
         fill=\"#555\">planned end {} h</text>",
        TOP1 + PANEL_H,
        TOP1 - 4.0,
        label(end_h)
    );
    let _ = writeln!(
        s,
        "<rect class=\"end-band\" x=\"{:.1}\" y=\"{:.1}\" width=\"12\" height=\"{:.1}\" \
         fill=\"#6baed6\" fill-opacity=\"0.5\" stroke=\"#08519c\"><title>forecast of the \
         end-of-batch value made at {} h: 90 % interval {} to {}</title></rect>\
         <line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#08519c\" \
         stroke-width=\"2.5\"/>",
        xe - 6.0,
        y1f(latest.p95),
        (y1f(latest.p05) - y1f(latest.p95)).max(1.0),
        label(latest.time_h),
        label(latest.p05),
        label(latest.p95),
        xe - 9.0,
        xe + 9.0,
        y1f(latest.mean),
        y1f(latest.mean)
    );
    if let Some((t, v)) = final_result {
        let (cx, cy) = (x1(t), y1f(v));
        let _ = writeln!(
            s,
            "<path class=\"final-result\" d=\"M{cx:.1},{:.1} L{:.1},{cy:.1} L{cx:.1},{:.1} \
             L{:.1},{cy:.1} Z\" fill=\"#e6550d\"><title>actual final result {}</title></path>",
            cy - 6.0,
            cx + 6.0,
            cy + 6.0,
            cx - 6.0,
            label(v)
        );
    }
    // Legend, right of the data.
    let mut ly = TOP1 + 8.0;
    let mut item = |s: &mut String, mark: &str, text: &str| {
        let _ = writeln!(
            s,
            "<g transform=\"translate({LEGEND_X} {ly:.1})\">{mark}<text x=\"22\" y=\"4\">{}</text></g>",
            escape(text)
        );
        ly += 18.0;
    };
    if !during.is_empty() {
        item(
            &mut s,
            "<circle cx=\"8\" r=\"3\" fill=\"#252525\"/>",
            "measured (lab result at sample time)",
        );
    } else {
        item(&mut s, "", "no measurement of this CQA in the record");
    }
    item(
        &mut s,
        "<rect x=\"2\" y=\"-7\" width=\"12\" height=\"14\" fill=\"#6baed6\" fill-opacity=\"0.5\" \
         stroke=\"#08519c\"/>",
        &format!(
            "end-of-batch forecast, 90 % interval (made at {} h)",
            label(latest.time_h)
        ),
    );
    item(
        &mut s,
        "<line x1=\"0\" x2=\"16\" stroke=\"#08519c\" stroke-width=\"2.5\"/>",
        "forecast mean",
    );
    match final_result {
        Some((_, v)) => item(
            &mut s,
            "<path d=\"M8,-6 L14,0 L8,6 L2,0 Z\" fill=\"#e6550d\"/>",
            &format!("actual final result {}", label(v)),
        ),
        None => item(
            &mut s,
            "",
            if batch.finished {
                "actual final result: not in the record"
            } else {
                "actual final result: when the batch ends"
            },
        ),
    }
    if lo.is_some() || hi.is_some() {
        item(
            &mut s,
            "<line x1=\"0\" x2=\"16\" stroke=\"#cb181d\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/>",
            "specification limit",
        );
    }

    // Panel 2: forecast history.
    let (h0, h1) = (0.0, end_h.max(latest.time_h) * 1.04);
    let (z0, z1) = padded(
        pts.iter()
            .flat_map(|p| [p.p05, p.p95, p.mean])
            .chain(lo)
            .chain(hi),
    );
    let x2 = |t: f64| LEFT + (t - h0) / (h1 - h0) * PW;
    let y2 = |v: f64| TOP2 + (1.0 - (v - z0) / (z1 - z0)) * PANEL_H;
    let _ = writeln!(
        s,
        "<text x=\"{LEFT}\" y=\"{:.1}\" font-size=\"13\" font-weight=\"bold\">Forecast history: \
         predicted end-of-batch {} at the time each forecast was made</text>",
        TOP2 - 20.0,
        escape(&name)
    );
    axes(
        &mut s,
        TOP2,
        h0,
        h1,
        z0,
        z1,
        "batch time the forecast was made (h)",
        &format!("end-of-batch {name}"),
    );
    spec_lines(&mut s, TOP2, &y2, lo, hi);
    let mut band = String::new();
    for p in &pts {
        let _ = write!(band, "{:.2},{:.2} ", x2(p.time_h), y2(p.p95));
    }
    for p in pts.iter().rev() {
        let _ = write!(band, "{:.2},{:.2} ", x2(p.time_h), y2(p.p05));
    }
    let _ = writeln!(
        s,
        "<polygon class=\"band\" points=\"{}\" fill=\"#6baed6\" fill-opacity=\"0.35\" \
         stroke=\"#6baed6\" stroke-width=\"0.5\"><title>90 % prediction interval of the \
         end-of-batch value</title></polygon>",
        band.trim_end()
    );
    let line: Vec<String> = pts
        .iter()
        .map(|p| format!("{:.2},{:.2}", x2(p.time_h), y2(p.mean)))
        .collect();
    let _ = writeln!(
        s,
        "<polyline class=\"mean\" points=\"{}\" fill=\"none\" stroke=\"#08519c\" stroke-width=\"2\"/>",
        line.join(" ")
    );
    if let Some((_, v)) = final_result {
        let yy = y2(v);
        let _ = writeln!(
            s,
            "<line class=\"final-line\" x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{yy:.1}\" y2=\"{yy:.1}\" \
             stroke=\"#e6550d\" stroke-width=\"1.5\"/>",
            LEFT + PW
        );
    }
    let mut ly = TOP2 + 8.0;
    for (mark, text) in [
        (
            "<rect x=\"2\" y=\"-7\" width=\"14\" height=\"14\" fill=\"#6baed6\" fill-opacity=\"0.35\"/>",
            "90 % interval of the end-of-batch value",
        ),
        (
            "<line x1=\"0\" x2=\"16\" stroke=\"#08519c\" stroke-width=\"2\"/>",
            "forecast mean",
        ),
        (
            "<line x1=\"0\" x2=\"16\" stroke=\"#e6550d\" stroke-width=\"1.5\"/>",
            if final_result.is_some() {
                "actual final result"
            } else {
                ""
            },
        ),
    ] {
        if text.is_empty() {
            continue;
        }
        let _ = writeln!(
            s,
            "<g transform=\"translate({LEGEND_X} {ly:.1})\">{mark}<text x=\"22\" y=\"4\">{text}</text></g>"
        );
        ly += 18.0;
    }
    s.push_str("</svg>\n");
    Some(s)
}

/// A value range with 6 % padding (widened when degenerate).
pub(crate) fn padded(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if hi - lo <= 1e-12 * hi.abs().max(1.0) {
        let d = hi.abs().max(1.0) * 0.05;
        return (lo - d, hi + d);
    }
    let pad = (hi - lo) * 0.06;
    (lo - pad, hi + pad)
}

/// Frame, grid, tick labels and axis titles of one panel.
#[allow(clippy::too_many_arguments)]
fn axes(s: &mut String, top: f64, x0: f64, x1: f64, y0: f64, y1: f64, xt: &str, yt: &str) {
    let x = |t: f64| LEFT + (t - x0) / (x1 - x0) * PW;
    let y = |v: f64| top + (1.0 - (v - y0) / (y1 - y0)) * PANEL_H;
    let _ = writeln!(
        s,
        "<rect x=\"{LEFT}\" y=\"{top}\" width=\"{PW}\" height=\"{PANEL_H}\" fill=\"#fafafa\" stroke=\"#999\"/>"
    );
    for v in ticks(y0, y1) {
        let yy = y(v);
        let _ = writeln!(
            s,
            "<line x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{yy:.1}\" y2=\"{yy:.1}\" stroke=\"#e3e3e3\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            LEFT + PW,
            LEFT - 6.0,
            yy + 4.0,
            label(v)
        );
    }
    for t in ticks(x0, x1) {
        let xx = x(t);
        let _ = writeln!(
            s,
            "<line x1=\"{xx:.1}\" x2=\"{xx:.1}\" y1=\"{top}\" y2=\"{:.1}\" stroke=\"#e3e3e3\"/>\
             <text x=\"{xx:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            top + PANEL_H,
            top + PANEL_H + 16.0,
            label(t)
        );
    }
    let _ = writeln!(
        s,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>\
         <text transform=\"translate(18 {:.1}) rotate(-90)\" text-anchor=\"middle\">{}</text>",
        LEFT + PW / 2.0,
        top + PANEL_H + 34.0,
        escape(xt),
        top + PANEL_H / 2.0,
        escape(yt)
    );
}

fn spec_lines(s: &mut String, top: f64, y: &dyn Fn(f64) -> f64, lo: Option<f64>, hi: Option<f64>) {
    for (cls, name, v) in [("spec-lower", "lower", lo), ("spec-upper", "upper", hi)] {
        if let Some(v) = v {
            let yy = y(v);
            if !(top..=top + PANEL_H).contains(&yy) {
                continue;
            }
            let _ = writeln!(
                s,
                "<line class=\"spec {cls}\" x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{yy:.1}\" y2=\"{yy:.1}\" \
                 stroke=\"#cb181d\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/>\
                 <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#cb181d\">{name} spec {}</text>",
                LEFT + PW,
                LEFT + PW - 4.0,
                yy - 4.0,
                label(v)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CqaForecast, Forecast};

    fn rec(seq: u64, t_h: f64, mean: f64) -> PredictionRecord {
        PredictionRecord {
            tenant: "a".into(),
            batch_id: "B<1>".into(),
            seq,
            model_id: "m".into(),
            input_sha256: String::new(),
            created_unix_s: 0.0,
            forecast: Forecast {
                time_s: t_h * 3600.0,
                cqas: vec![CqaForecast {
                    name: "titer_g_per_l".into(),
                    mean,
                    p05: mean - 1.0,
                    p95: mean + 1.0,
                    lower_spec: Some(1.0),
                    upper_spec: None,
                    p_in_spec: Some(0.9),
                }],
                state: vec![],
            },
        }
    }

    fn reading(t_h: f64, v: f64) -> Reading {
        Reading {
            tag: "titer".into(),
            time_unix_s: 1000.0 + t_h * 3600.0,
            available_unix_s: None,
            value: v,
            quality: Quality::Good,
        }
    }

    #[test]
    fn labels_name_the_unit() {
        assert_eq!(cqa_label("titer_g_per_l"), "Titer (g/L)");
        assert_eq!(cqa_label("viability_pct"), "Viability (%)");
        assert_eq!(cqa_label("hcp_mg_per_l"), "HCP (mg/L)");
        assert_eq!(cqa_label("acidic_variants_pct"), "Acidic variants (%)");
        assert_eq!(cqa_label("weird"), "Weird");
    }

    #[test]
    fn the_chart_shows_measurements_the_end_forecast_and_the_final_result() {
        let batch = BatchInfo {
            tenant: "a".into(),
            batch_id: "B<1>".into(),
            unit: "U".into(),
            start_unix_s: 1000.0,
            end_unix_s: 1000.0 + 100.0 * 3600.0,
            finished: true,
        };
        let preds = vec![rec(0, 24.0, 4.0), rec(1, 48.0, 5.0)];
        let rd = vec![reading(24.0, 1.0), reading(72.0, 3.0), reading(100.0, 4.8)];
        let svg = render(&batch, "titer_g_per_l", &preds, &rd).unwrap();
        assert_eq!(svg.matches("class=\"measured\"").count(), 3);
        assert_eq!(svg.matches("class=\"band\"").count(), 1);
        assert!(svg.contains("class=\"end-band\""));
        assert!(svg.contains("actual final result 4.8"));
        assert!(svg.contains("process time (h)"));
        assert!(svg.contains("batch time the forecast was made (h)"));
        assert!(svg.contains("Titer (g/L)"));
        assert!(svg.contains("B&lt;1&gt;") && !svg.contains("B<1>"));
        assert!(!svg.contains("style="), "presentation attributes only");
        // Before the end: no final result, and said so.
        let open = BatchInfo {
            finished: false,
            ..batch
        };
        let svg = render(&open, "titer_g_per_l", &preds, &rd[..2]).unwrap();
        assert!(!svg.contains("class=\"final-result\""));
        assert!(svg.contains("actual final result: when the batch ends"));
        assert!(render(&open, "viability_pct", &preds, &rd).is_none());
    }
}
