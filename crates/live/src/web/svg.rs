//! What the page's server-rendered SVG charts ([`super::batch_chart`])
//! share: the forecast series of one CQA from a batch's predictions, text
//! escaping, round tick values and their labels. Hand-written SVG (no
//! plotting crate, no script); only presentation attributes, no `style`,
//! so that the page's content security policy holds.

use crate::PredictionRecord;

/// One forecast of the CQA: batch time (h), mean, p05, p95.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Batch time of the forecast, h.
    pub time_h: f64,
    /// Forecast mean, in the CQA's unit.
    pub mean: f64,
    /// 5 % quantile, same unit.
    pub p05: f64,
    /// 95 % quantile, same unit.
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

/// `s` escaped for SVG text and attributes (`&`, `<`, `>`, quotes);
/// control characters are dropped.
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

pub(crate) fn ticks(lo: f64, hi: f64) -> Vec<f64> {
    let step = tick_step(hi - lo);
    let mut v = Vec::new();
    let mut t = (lo / step).ceil() * step;
    while t <= hi + step * 1e-9 && v.len() < 20 {
        v.push(if t.abs() < step * 1e-9 { 0.0 } else { t });
        t += step;
    }
    v
}

pub(crate) fn label(v: f64) -> String {
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.into() }
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
    fn the_series_is_in_time_order_without_non_finite_forecasts() {
        let preds = vec![rec(1, 48.0, 5.0), rec(0, 24.0, 4.0), rec(2, 72.0, f64::NAN)];
        let (pts, lo, hi) = series(&preds, "titer_g_per_l");
        assert_eq!(pts.len(), 2, "the NaN forecast is left out");
        assert_eq!(pts[0].time_h, 24.0);
        assert_eq!((lo, hi), (Some(2.0), None));
    }

    #[test]
    fn ticks_are_round_numbers_within_the_range() {
        let t = ticks(0.3, 9.7);
        assert_eq!(t, vec![2.0, 4.0, 6.0, 8.0]);
        assert_eq!(label(2.5000), "2.5");
        assert_eq!(label(0.0), "0");
    }
}
