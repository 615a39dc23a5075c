//! Server-rendered SVG of one CQA's forecast over batch time.
//!
//! For each recorded prediction of a batch, the end-of-batch forecast of the
//! CQA (mean and 90 % interval) is drawn at the batch time of the
//! information it used: the band narrows as the batch proceeds and the
//! forecast settles. Specification limits are dashed horizontal lines.
//! Hand-written SVG (no plotting crate, no script): the page inserts it as
//! it is. Only presentation attributes, no `style`, so that the page's
//! content security policy holds; every text is escaped.

use crate::PredictionRecord;

const W: f64 = 640.0;
const H: f64 = 300.0;
const LEFT: f64 = 72.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 30.0;
const BOTTOM: f64 = 44.0;

/// One forecast of the CQA: batch time (h), mean, p05, p95.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub time_h: f64,
    pub mean: f64,
    pub p05: f64,
    pub p95: f64,
}

/// The forecasts of `cqa` in the batch's predictions, in time order, with
/// its specification limits (from the latest prediction that states them).
pub fn series(preds: &[PredictionRecord], cqa: &str) -> (Vec<Point>, Option<f64>, Option<f64>) {
    let mut pts = Vec::new();
    let (mut lo, mut hi) = (None, None);
    let mut sorted: Vec<&PredictionRecord> = preds.iter().collect();
    sorted.sort_by(|a, b| {
        a.forecast
            .time_s
            .total_cmp(&b.forecast.time_s)
            .then(a.seq.cmp(&b.seq))
    });
    for p in sorted {
        if let Some(c) = p.forecast.cqas.iter().find(|c| c.name == cqa) {
            let pt = Point {
                time_h: p.forecast.time_s / 3600.0,
                mean: c.mean,
                p05: c.p05,
                p95: c.p95,
            };
            if [pt.time_h, pt.mean, pt.p05, pt.p95]
                .iter()
                .all(|v| v.is_finite())
            {
                pts.push(pt);
            }
            lo = c.lower_spec.filter(|v| v.is_finite()).or(lo);
            hi = c.upper_spec.filter(|v| v.is_finite()).or(hi);
        }
    }
    (pts, lo, hi)
}

/// The SVG, or `None` when no prediction of the batch has this CQA.
pub fn cqa_trajectory(batch_id: &str, cqa: &str, preds: &[PredictionRecord]) -> Option<String> {
    let (pts, lo, hi) = series(preds, cqa);
    if pts.is_empty() {
        return None;
    }
    Some(render(batch_id, cqa, &pts, lo, hi))
}

pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// A tick step of 1, 2 or 5 times a power of ten giving about 5 ticks.
fn tick_step(span: f64) -> f64 {
    let raw = span / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let r = raw / mag;
    let m = if r < 1.5 {
        1.0
    } else if r < 3.5 {
        2.0
    } else if r < 7.5 {
        5.0
    } else {
        10.0
    };
    m * mag
}

fn ticks(lo: f64, hi: f64) -> Vec<f64> {
    let step = tick_step(hi - lo);
    let mut v = Vec::new();
    let mut t = (lo / step).ceil() * step;
    while t <= hi + step * 1e-9 && v.len() < 20 {
        v.push(if t.abs() < step * 1e-9 { 0.0 } else { t });
        t += step;
    }
    v
}

fn label(v: f64) -> String {
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.into() }
}

/// Widens a degenerate range so that a constant series still has an axis.
fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if hi - lo <= 1e-12 * hi.abs().max(1.0) {
        let d = hi.abs().max(1.0) * 0.05;
        (lo - d, hi + d)
    } else {
        (lo, hi)
    }
}

fn render(batch_id: &str, cqa: &str, pts: &[Point], lo: Option<f64>, hi: Option<f64>) -> String {
    let (t0, t1) = range(pts.iter().map(|p| p.time_h));
    let (y0, y1) = range(
        pts.iter()
            .flat_map(|p| [p.p05, p.p95, p.mean])
            .chain(lo)
            .chain(hi),
    );
    let pad = (y1 - y0) * 0.06;
    let (y0, y1) = (y0 - pad, y1 + pad);
    let pw = W - LEFT - RIGHT;
    let ph = H - TOP - BOTTOM;
    let x = |t: f64| LEFT + (t - t0) / (t1 - t0) * pw;
    let y = |v: f64| TOP + (1.0 - (v - y0) / (y1 - y0)) * ph;

    let mut s = String::new();
    let title = format!("{} — {}", escape(batch_id), escape(cqa));
    s.push_str(&format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"cqa-plot\" data-cqa=\"{}\" \
         viewBox=\"0 0 {W} {H}\" width=\"{W}\" height=\"{H}\" role=\"img\" \
         font-family=\"sans-serif\" font-size=\"11\"><title>{title}: forecast of the \
         end-of-batch value with its 90 % interval over batch time</title>\n",
        escape(cqa)
    ));
    s.push_str(&format!(
        "<rect x=\"{LEFT}\" y=\"{TOP}\" width=\"{pw}\" height=\"{ph}\" fill=\"#fafafa\" \
         stroke=\"#999\"/>\n"
    ));
    // Grid and tick labels.
    for v in ticks(y0, y1) {
        let yy = y(v);
        s.push_str(&format!(
            "<line x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{yy:.1}\" y2=\"{yy:.1}\" stroke=\"#e3e3e3\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\n",
            LEFT + pw,
            LEFT - 6.0,
            yy + 4.0,
            label(v)
        ));
    }
    for t in ticks(t0, t1) {
        let xx = x(t);
        s.push_str(&format!(
            "<line x1=\"{xx:.1}\" x2=\"{xx:.1}\" y1=\"{TOP}\" y2=\"{:.1}\" stroke=\"#e3e3e3\"/>\
             <text x=\"{xx:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>\n",
            TOP + ph,
            TOP + ph + 16.0,
            label(t)
        ));
    }
    s.push_str(&format!(
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">batch time (h)</text>\n",
        LEFT + pw / 2.0,
        H - 8.0
    ));
    s.push_str(&format!(
        "<text x=\"{LEFT}\" y=\"18\" font-size=\"13\" font-weight=\"bold\">{title}</text>\n"
    ));
    // The 90 % band: p95 forward, p05 back.
    let mut band = String::new();
    for p in pts {
        band.push_str(&format!("{:.2},{:.2} ", x(p.time_h), y(p.p95)));
    }
    for p in pts.iter().rev() {
        band.push_str(&format!("{:.2},{:.2} ", x(p.time_h), y(p.p05)));
    }
    s.push_str(&format!(
        "<polygon class=\"band\" points=\"{}\" fill=\"#6baed6\" fill-opacity=\"0.35\" \
         stroke=\"#6baed6\" stroke-width=\"0.5\"><title>90 % prediction interval</title></polygon>\n",
        band.trim_end()
    ));
    let line: Vec<String> = pts
        .iter()
        .map(|p| format!("{:.2},{:.2}", x(p.time_h), y(p.mean)))
        .collect();
    s.push_str(&format!(
        "<polyline class=\"mean\" points=\"{}\" fill=\"none\" stroke=\"#08519c\" \
         stroke-width=\"2\"/>\n",
        line.join(" ")
    ));
    for (cls, name, v) in [("spec-lower", "lower", lo), ("spec-upper", "upper", hi)] {
        if let Some(v) = v {
            let yy = y(v);
            s.push_str(&format!(
                "<line class=\"spec {cls}\" x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{yy:.1}\" y2=\"{yy:.1}\" \
                 stroke=\"#cb181d\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/>\
                 <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#cb181d\">{name} spec {}</text>\n",
                LEFT + pw,
                LEFT + pw - 4.0,
                yy - 4.0,
                label(v)
            ));
        }
    }
    s.push_str("</svg>\n");
    s
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
                    lower_spec: Some(2.0),
                    upper_spec: None,
                    p_in_spec: Some(0.9),
                }],
                state: vec![],
            },
        }
    }

    #[test]
    fn the_band_spans_the_interval_in_time_order() {
        let preds = vec![rec(1, 48.0, 5.0), rec(0, 24.0, 4.0), rec(2, 72.0, f64::NAN)];
        let (pts, lo, hi) = series(&preds, "titer_g_per_l");
        assert_eq!(pts.len(), 2, "the NaN forecast is left out");
        assert_eq!(pts[0].time_h, 24.0);
        assert_eq!((lo, hi), (Some(2.0), None));
        let svg = cqa_trajectory("B<1>", "titer_g_per_l", &preds).unwrap();
        assert!(svg.contains("class=\"band\""));
        assert!(svg.contains("class=\"spec spec-lower\""));
        assert!(!svg.contains("spec-upper"));
        assert!(svg.contains("B&lt;1&gt;"), "the batch id is escaped");
        assert!(!svg.contains("B<1>"));
        // The band polygon has the 2 points forward and back.
        let band = svg.split("class=\"band\" points=\"").nth(1).unwrap();
        let band = band.split('"').next().unwrap();
        assert_eq!(band.split(' ').count(), 4);
        assert!(cqa_trajectory("B1", "viability", &preds).is_none());
    }

    #[test]
    fn ticks_are_round_numbers_within_the_range() {
        let t = ticks(0.3, 9.7);
        assert_eq!(t, vec![2.0, 4.0, 6.0, 8.0]);
        assert_eq!(label(2.5000), "2.5");
        assert_eq!(label(0.0), "0");
    }
}
