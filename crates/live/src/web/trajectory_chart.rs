//! The batch's own trajectory on calendar time: one server-rendered SVG
//! with a panel per measured quantity, over a UTC date/time axis from the
//! batch start to its planned end (or its last data, if later), with a
//! "day of culture" scale above.
//!
//! Each panel (heading: the quantity's human name and unit) shows
//!
//! * the **online tags** as a line and the **lab results** as points, in the
//!   quantity's display unit: the historian value converted to SI with the
//!   tag's recorded conversion (`value × factor + offset`), then to the
//!   display unit of [`QUANTITIES`];
//! * the **filter's state estimate over time**: at each recorded forecast,
//!   the predictor's estimate of the model output measured by this quantity
//!   (`Forecast::state`: mean and SD; band = mean ± 1.645 SD, the 90 %
//!   interval of a normal), joined forecast to forecast;
//! * for a quantity that is also an end-of-batch CQA (titer, viability, ...),
//!   the **forecast to the planned end**: the latest estimate's 90 %
//!   interval at the time of the latest forecast joined by straight lines to
//!   the latest end-of-batch 90 % interval at the planned end. Only the two
//!   ends are forecasts; the straight sides are drawn to connect them (the
//!   path between is not recorded), and the legend says so.
//!
//! Above the panels, the **recipe markers** (bolus feeds, continuous feed
//! start and stop, set-point shifts), labelled, with a dashed line through
//! every panel; they come from the batch's recorded context
//! ([`crate::batch_context`]). Presentation attributes only, every text
//! escaped, as for [`super::batch_chart`].

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::batch_chart::padded;
use super::svg::{escape, label, ticks};
use crate::batch_context::{BatchContext, RecipeMarker};
use crate::mechanistic::observe::observables;
use crate::{BatchInfo, PredictionRecord, Quality, Reading};
use biotwin_ml::data::timestamp::format_rfc3339;

const W: f64 = 920.0;
/// Left edges of the two columns of panels, and a panel's width.
const COL_X: [f64; 2] = [62.0, 510.0];
const COL_W: f64 = 350.0;
const TITLE_Y: f64 = 18.0;
const LEGEND_Y: f64 = 52.0;
/// Day-of-culture scale.
const DAY_Y: f64 = 104.0;
/// The recipe marker strip.
const MTOP: f64 = 110.0;
const MH: f64 = 112.0;
/// Top of the first row of panels.
const PTOP: f64 = MTOP + MH + 26.0;
const PANEL_H: f64 = 96.0;
/// From one row's top to the next one's.
const PANEL_STEP: f64 = PANEL_H + 64.0;
/// z of the two-sided 90 % interval of a normal.
const Z90: f64 = 1.644_853_626_951_472_6;

/// A quantity the chart knows: dataset variable (SI, as the site's tag
/// map names it), human name with the display unit, and `display = si ×
/// scale + offset`. The panels come in this order.
pub const QUANTITIES: &[(&str, &str, f64, f64)] = &[
    (
        "dissolved_o2",
        "Dissolved O₂ (% air saturation)",
        100.0,
        0.0,
    ),
    ("ph", "pH", 1.0, 0.0),
    ("temperature", "Temperature (°C)", 1.0, -273.15),
    (
        "pco2",
        "pCO₂ (mmHg)",
        1.0 / biotwin_core::units::PA_PER_MMHG,
        0.0,
    ),
    ("volume", "Volume (L)", 1e3, 0.0),
    ("viable_cells", "Viable cells (10⁶/mL)", 1e-12, 0.0),
    ("viability", "Viability (%)", 100.0, 0.0),
    ("glucose", "Glucose (g/L)", 1.0, 0.0),
    ("glutamine", "Glutamine (mM)", 1.0, 0.0),
    ("lactate", "Lactate (g/L)", 1.0, 0.0),
    ("ammonium", "Ammonium (mM)", 1.0, 0.0),
    ("osmolality", "Osmolality (mOsm/kg)", 1e3, 0.0),
    ("titer", "Titer (g/L)", 1.0, 0.0),
];

/// Human name and (scale, offset) of a variable; an unknown one keeps its
/// name and SI.
fn quantity(variable: &str) -> (String, f64, f64) {
    QUANTITIES
        .iter()
        .find(|q| q.0 == variable)
        .map_or((format!("{variable} (SI unit)"), 1.0, 0.0), |q| {
            (q.1.to_string(), q.2, q.3)
        })
}

/// Everything drawn in one panel, in display units, times in Unix s.
#[derive(Default)]
struct Panel {
    online: Vec<(f64, f64)>,
    lab: Vec<(f64, f64)>,
    /// (time, mean, lo, hi) of the state estimate, by forecast time.
    state: Vec<(f64, f64, f64, f64)>,
    /// (mean, p05, p95) of the end-of-batch forecast of the same quantity.
    end: Option<(f64, f64, f64)>,
    /// Tags drawn here, with (online or lab, count).
    tags: BTreeMap<String, (bool, usize)>,
    /// Output column of the state estimate.
    column: Option<String>,
}

/// Calendar label parts of a Unix time: (`Jan 03`, `06:00`).
fn calendar(unix_s: f64) -> (String, String) {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let s = format_rfc3339(unix_s.round());
    let month = s
        .get(5..7)
        .and_then(|m| m.parse::<usize>().ok())
        .and_then(|m| MONTHS.get(m.wrapping_sub(1)))
        .copied()
        .unwrap_or("?");
    let day = s.get(8..10).unwrap_or("?");
    let hm = s.get(11..16).unwrap_or("?");
    (format!("{month} {day}"), hm.to_string())
}

/// UTC time as `2025-01-03 06:00 UTC`.
pub fn utc_minutes(unix_s: f64) -> String {
    let s = format_rfc3339(unix_s.round());
    format!(
        "{} {} UTC",
        s.get(..10).unwrap_or(&s),
        s.get(11..16).unwrap_or("")
    )
}

/// Calendar ticks between `x0` and `x1` (Unix s): a step of 1, 2, 3, 6 or
/// 12 h, or 1, 2, 7 or 14 days, giving at most 7 ticks (and 8 points), on whole multiples
/// of the step in UTC (days at midnight).
fn calendar_ticks(x0: f64, x1: f64) -> (f64, Vec<f64>) {
    const STEPS_H: [f64; 9] = [1.0, 2.0, 3.0, 6.0, 12.0, 24.0, 48.0, 168.0, 336.0];
    let span = (x1 - x0).max(1.0);
    let step = STEPS_H
        .iter()
        .map(|h| h * 3600.0)
        .find(|s| span / s <= 7.0)
        .unwrap_or_else(|| (span / 8.0 / 86400.0).ceil() * 86400.0);
    // Whole steps from the midnight (UTC) before the start.
    let base = (x0 / 86400.0).floor() * 86400.0;
    let mut v = Vec::new();
    let mut t = base + ((x0 - base) / step).ceil() * step;
    while t <= x1 + 1e-6 && v.len() < 40 {
        v.push(t);
        t += step;
    }
    (step, v)
}

/// At most two points (min and max) per pixel column, in time order, so a
/// tag logged every second draws as fast as one logged hourly.
fn decimate(mut pts: Vec<(f64, f64)>, x: &dyn Fn(f64) -> f64) -> Vec<(f64, f64)> {
    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    if pts.len() <= 2 * COL_W as usize {
        return pts;
    }
    let mut out: Vec<(f64, f64)> = Vec::new();
    let mut i = 0;
    while i < pts.len() {
        let col = x(pts[i].0).floor();
        let mut j = i;
        let (mut lo, mut hi) = (pts[i], pts[i]);
        while j < pts.len() && x(pts[j].0).floor() == col {
            if pts[j].1 < lo.1 {
                lo = pts[j];
            }
            if pts[j].1 > hi.1 {
                hi = pts[j];
            }
            j += 1;
        }
        if lo.0 <= hi.0 {
            out.extend([lo, hi]);
        } else {
            out.extend([hi, lo]);
        }
        if lo == hi {
            out.pop();
        }
        i = j;
    }
    out
}

/// The chart. `ctx`: the batch's recorded recipe markers and tags (`None`
/// for a batch started before they were recorded).
pub fn render(
    batch: &BatchInfo,
    preds: &[PredictionRecord],
    readings: &[Reading],
    ctx: Option<&BatchContext>,
) -> String {
    let start = batch.start_unix_s;
    let mut panels: BTreeMap<String, Panel> = BTreeMap::new();
    // Readings that cannot be drawn, by reason, so that none vanish unsaid.
    let mut not_drawn: BTreeMap<String, usize> = BTreeMap::new();
    let mut last_data: Option<f64> = None;

    // Readings: through the recorded tag (or, without one, a tag named as
    // a model output column, in that column's unit).
    for r in readings {
        if r.quality != Quality::Good || !r.value.is_finite() || !r.time_unix_s.is_finite() {
            *not_drawn
                .entry("not of good quality or not a number".into())
                .or_default() += 1;
            continue;
        }
        let how = ctx
            .and_then(|c| c.tags.iter().find(|t| t.tag == r.tag))
            .map(|t| {
                (
                    t.variable.clone(),
                    r.value * t.to_si_factor + t.to_si_offset,
                    t.lab,
                )
            })
            .or_else(|| {
                observables(&[r.tag.as_str()])
                    .first()
                    .map(|o| (o.variable.to_string(), r.value * o.factor, true))
            });
        let Some((variable, si, lab)) = how else {
            *not_drawn
                .entry(format!("tag {} (no recorded unit)", r.tag))
                .or_default() += 1;
            continue;
        };
        if r.time_unix_s < start {
            *not_drawn
                .entry("sampled before the batch start".into())
                .or_default() += 1;
            continue;
        }
        let (_, scale, offset) = quantity(&variable);
        let p = panels.entry(variable).or_default();
        let v = (r.time_unix_s, si * scale + offset);
        if lab {
            p.lab.push(v);
        } else {
            p.online.push(v);
        }
        let e = p.tags.entry(r.tag.clone()).or_insert((lab, 0));
        e.1 += 1;
        let received = r.available_unix_s.unwrap_or(r.time_unix_s);
        last_data = Some(last_data.map_or(received, |l: f64| l.max(received)));
    }

    // The filter's state estimate at each forecast, and the latest
    // end-of-batch forecast of quantities that are CQAs.
    let mut sorted: Vec<&PredictionRecord> = preds.iter().collect();
    sorted.sort_by(|a, b| {
        a.forecast
            .time_s
            .total_cmp(&b.forecast.time_s)
            .then(a.seq.cmp(&b.seq))
    });
    for p in &sorted {
        let names: Vec<&str> = p.forecast.state.iter().map(|s| s.0.as_str()).collect();
        for o in observables(&names) {
            let (col, mean, sd) = &p.forecast.state[o.column];
            let (_, scale, offset) = quantity(o.variable);
            let m = mean * o.factor * scale + offset;
            let s = (sd * o.factor * scale).abs();
            let t = start + p.forecast.time_s;
            if [m, s, t].iter().all(|v| v.is_finite()) {
                let panel = panels.entry(o.variable.to_string()).or_default();
                panel.state.push((t, m, m - Z90 * s, m + Z90 * s));
                panel.column = Some(col.clone());
            }
        }
    }
    let latest = sorted.last();
    if let Some(p) = latest {
        for (variable, panel) in panels.iter_mut() {
            let Some(col) = &panel.column else { continue };
            let Some(c) = p.forecast.cqas.iter().find(|c| &c.name == col) else {
                continue;
            };
            let f = observables(&[col.as_str()])
                .first()
                .map_or(f64::NAN, |o| o.factor);
            let (_, scale, offset) = quantity(variable);
            let d = |v: f64| v * f * scale + offset;
            let e = (d(c.mean), d(c.p05), d(c.p95));
            if [e.0, e.1, e.2].iter().all(|v| v.is_finite()) {
                panel.end = Some(e);
            }
        }
    }
    let latest_t = latest.map(|p| start + p.forecast.time_s);

    // Panel order: the table's, then unknown variables by name.
    let mut order: Vec<(String, Panel)> = panels.into_iter().collect();
    order.sort_by_key(|(v, _)| {
        QUANTITIES
            .iter()
            .position(|q| q.0 == v)
            .unwrap_or(QUANTITIES.len())
    });

    // The time axis.
    let data_end = order
        .iter()
        .flat_map(|(_, p)| p.online.iter().chain(&p.lab).map(|v| v.0))
        .chain(latest_t)
        .fold(batch.end_unix_s, f64::max);
    let x0 = start;
    let x1 = if data_end > x0 {
        data_end
    } else {
        x0 + 86400.0
    };
    let markers: &[RecipeMarker] = ctx.map_or(&[], |c| c.markers.as_slice());

    let rows = order.len().div_ceil(2).max(1);
    let h = PTOP + rows as f64 * PANEL_STEP + 24.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"trajectory-plot\" viewBox=\"0 0 {W} \
         {h:.0}\" width=\"{W}\" height=\"{h:.0}\" role=\"img\" font-family=\"sans-serif\" \
         font-size=\"11\"><title>Batch {}: measured tags and lab results, the filter's state \
         estimate and the forecast to the planned end, on calendar time (UTC), with the \
         recipe's feeds and shifts</title>",
        escape(&batch.batch_id)
    );
    let _ = writeln!(
        s,
        "<text x=\"{}\" y=\"{TITLE_Y}\" font-size=\"13\" font-weight=\"bold\">Batch {} on \
         calendar time (UTC): started {}, planned end {}</text>",
        COL_X[0],
        escape(&batch.batch_id),
        escape(&utc_minutes(start)),
        escape(&utc_minutes(batch.end_unix_s))
    );
    let _ = writeln!(
        s,
        "<text class=\"last-data\" x=\"{}\" y=\"{:.1}\" fill=\"#555\">{}</text>",
        COL_X[0],
        TITLE_Y + 15.0,
        escape(&match last_data {
            Some(t) => format!("last data received (UTC): {}", utc_minutes(t)),
            None => "no data received yet".to_string(),
        })
    );

    // Legend: two rows under the title.
    let legend: [(&str, &str); 8] = [
        (
            "<line x1=\"0\" x2=\"16\" stroke=\"#41ab5d\" stroke-width=\"1.2\"/>",
            "online tag (measured)",
        ),
        (
            "<circle cx=\"8\" r=\"2.5\" fill=\"#252525\"/>",
            "lab result at its sample time",
        ),
        (
            "<rect x=\"0\" y=\"-5\" width=\"16\" height=\"10\" fill=\"#9ecae1\" fill-opacity=\"0.6\"/>\
             <line x1=\"0\" x2=\"16\" stroke=\"#08519c\" stroke-width=\"1.5\"/>",
            "filter's state estimate, 90 %, at each forecast",
        ),
        (
            "<rect x=\"0\" y=\"-5\" width=\"16\" height=\"10\" fill=\"#fdae6b\" fill-opacity=\"0.5\" \
             stroke=\"#e6550d\" stroke-dasharray=\"3 2\"/>",
            "forecast to the planned end, 90 %",
        ),
        (
            "<path d=\"M3,-5 L13,-5 L8,4 Z\" fill=\"#238b45\"/>",
            "feed (bolus, feed start/stop)",
        ),
        (
            "<path d=\"M8,-5 L13,0 L8,5 L3,0 Z\" fill=\"#6a51a3\"/>",
            "set-point shift (temperature, pH, ...)",
        ),
        (
            "<line x1=\"0\" x2=\"16\" stroke=\"#999\" stroke-dasharray=\"2 3\"/>",
            "latest forecast; planned end",
        ),
        ("", "forecast band: ends forecast, sides straight"),
    ];
    for (k, (mark, text)) in legend.iter().enumerate() {
        let lx = COL_X[0] + (k % 4) as f64 * 212.0 - 10.0;
        let ly = LEGEND_Y + (k / 4) as f64 * 15.0;
        let _ = writeln!(
            s,
            "<g class=\"legend\" transform=\"translate({lx:.1} {ly:.1})\">{mark}<text x=\"20\" \
             y=\"4\" font-size=\"10\">{}</text></g>",
            escape(text)
        );
    }

    // Recipe markers: actions at the same time share a glyph and label
    // (all named in its tooltip).
    let mut groups: Vec<(f64, Vec<&RecipeMarker>)> = Vec::new();
    for m in markers {
        let t = x0 + m.time_s;
        if !t.is_finite() || t < x0 || t > x1 {
            continue;
        }
        match groups.last_mut() {
            Some((gt, g)) if (*gt - t).abs() < 1.0 => g.push(m),
            _ => groups.push((t, vec![m])),
        }
    }
    let span_d = (x1 - x0) / 86400.0;
    let day_step = [1.0, 2.0, 5.0, 7.0, 14.0, 28.0]
        .into_iter()
        .find(|d| span_d / d <= 8.0)
        .unwrap_or(56.0);
    let (tick_step, xticks) = calendar_ticks(x0, x1);
    let used_cols = if order.len() > 1 { 2 } else { 1 };
    for (c, &cx) in COL_X.iter().enumerate().take(used_cols) {
        let x = |t: f64| cx + (t - x0) / (x1 - x0) * COL_W;
        // This column's panels end here.
        let col_rows = (order.len().max(1) + 1 - c) / 2;
        let bottom = PTOP + col_rows.max(1) as f64 * PANEL_STEP - (PANEL_STEP - PANEL_H);
        // Day of culture, above the markers.
        let _ = writeln!(
            s,
            "<text class=\"day-axis\" x=\"{cx}\" y=\"{:.1}\" fill=\"#555\" font-size=\"10\">day \
             of culture</text>",
            DAY_Y - 12.0
        );
        let mut d = 0.0;
        while d <= span_d + 1e-9 {
            let _ = writeln!(
                s,
                "<text class=\"day-tick\" x=\"{:.1}\" y=\"{DAY_Y}\" text-anchor=\"middle\" \
                 fill=\"#555\" font-size=\"10\">{}</text>",
                x(x0 + d * 86400.0),
                label(d)
            );
            d += day_step;
        }
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#555\" font-size=\"10\">\
             recipe</text>",
            cx - 6.0,
            MTOP + MH - 4.0
        );
        for (t, g) in &groups {
            let xx = x(*t);
            let shift = g.iter().any(|m| m.kind.ends_with("_shift"));
            let colour = if shift { "#6a51a3" } else { "#238b45" };
            let kinds: Vec<&str> = g.iter().map(|m| m.kind.as_str()).collect();
            let all: Vec<String> = g.iter().map(|m| m.label.clone()).collect();
            let mut text = g[0].label.clone();
            if g.len() > 1 {
                let _ = write!(text, " (+{})", g.len() - 1);
            }
            let gy = MTOP + MH - 6.0;
            let glyph = if shift {
                format!(
                    "M{xx:.1},{:.1} L{:.1},{gy:.1} L{xx:.1},{:.1} L{:.1},{gy:.1} Z",
                    gy - 5.0,
                    xx + 5.0,
                    gy + 5.0,
                    xx - 5.0
                )
            } else {
                format!(
                    "M{:.1},{:.1} L{:.1},{:.1} L{xx:.1},{:.1} Z",
                    xx - 4.0,
                    gy - 5.0,
                    xx + 4.0,
                    gy - 5.0,
                    gy + 4.0
                )
            };
            let _ = writeln!(
                s,
                "<g class=\"marker\" data-kind=\"{}\"><title>{} (day {}): {}</title>\
                 <line x1=\"{xx:.1}\" x2=\"{xx:.1}\" y1=\"{:.1}\" y2=\"{bottom:.1}\" \
                 stroke=\"{colour}\" stroke-width=\"0.8\" stroke-dasharray=\"3 3\"/>\
                 <path d=\"{glyph}\" fill=\"{colour}\"/><text transform=\"translate({:.1} {:.1}) \
                 rotate(-90)\" font-size=\"9\" fill=\"{colour}\">{}</text></g>",
                escape(&kinds.join(" ")),
                escape(&utc_minutes(*t)),
                label(((t - x0) / 86400.0 * 100.0).round() / 100.0),
                escape(&all.join("; ")),
                gy + 5.0,
                xx + 3.0,
                gy - 8.0,
                escape(&text)
            );
        }
        if markers.is_empty() && c == 0 {
            let _ = writeln!(
                s,
                "<text class=\"no-markers\" x=\"{cx}\" y=\"{:.1}\" fill=\"#555\">{}</text>",
                MTOP + MH - 4.0,
                match ctx.map(|c| c.recipe_known) {
                    Some(true) => "no feeds or shifts recorded for this batch's recipe",
                    Some(false) => "recipe not known to this batch's predictor (no markers)",
                    None => {
                        "recipe not recorded for this batch (started before recipes were recorded)"
                    }
                }
            );
        }
        let _ = writeln!(
            s,
            "<text class=\"calendar-axis\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">\
             calendar time (UTC)</text>",
            cx + COL_W / 2.0,
            h - 8.0
        );
    }

    if order.is_empty() {
        let _ = writeln!(
            s,
            "<text class=\"no-data\" x=\"{}\" y=\"{:.1}\">No readings or state estimates of \
             this batch yet.</text>",
            COL_X[0],
            PTOP + 20.0
        );
    }
    for (k, (variable, p)) in order.iter().enumerate() {
        let cx = COL_X[k % 2];
        let top = PTOP + (k / 2) as f64 * PANEL_STEP;
        let x = |t: f64| cx + (t - x0) / (x1 - x0) * COL_W;
        let (name, _, _) = quantity(variable);
        let end_x = x(batch.end_unix_s);
        let online = decimate(p.online.clone(), &x);
        let mut lab = p.lab.clone();
        lab.sort_by(|a, b| a.0.total_cmp(&b.0));
        let ys = online
            .iter()
            .chain(&lab)
            .map(|v| v.1)
            .chain(p.state.iter().flat_map(|v| [v.2, v.3]))
            .chain(p.end.iter().flat_map(|e| [e.1, e.2]));
        let (y0, y1) = padded(ys);
        let y = |v: f64| top + (1.0 - (v - y0) / (y1 - y0)) * PANEL_H;
        let _ = writeln!(
            s,
            "<g class=\"panel\" data-variable=\"{}\"><text class=\"panel-title\" x=\"{cx}\" \
             y=\"{:.1}\" font-weight=\"bold\">{}</text>",
            escape(variable),
            top - 5.0,
            escape(&name)
        );
        let _ = writeln!(
            s,
            "<rect x=\"{cx}\" y=\"{top:.1}\" width=\"{COL_W}\" height=\"{PANEL_H}\" \
             fill=\"#fafafa\" stroke=\"#999\"/>"
        );
        for v in ticks(y0, y1) {
            let yy = y(v);
            let _ = writeln!(
                s,
                "<line x1=\"{cx}\" x2=\"{:.1}\" y1=\"{yy:.1}\" y2=\"{yy:.1}\" stroke=\"#e3e3e3\"/>\
                 <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" font-size=\"10\">{}</text>",
                cx + COL_W,
                cx - 5.0,
                yy + 4.0,
                label(v)
            );
        }
        let mut last_date = String::new();
        for &t in &xticks {
            let xx = x(t);
            let (date, hm) = calendar(t);
            let line1 = if tick_step < 86400.0 {
                hm
            } else {
                date.clone()
            };
            let line2 = if tick_step < 86400.0 && date != last_date {
                date.clone()
            } else {
                String::new()
            };
            last_date = date;
            let _ = writeln!(
                s,
                "<line x1=\"{xx:.1}\" x2=\"{xx:.1}\" y1=\"{top:.1}\" y2=\"{:.1}\" \
                 stroke=\"#e3e3e3\"/><text class=\"calendar-tick\" x=\"{xx:.1}\" y=\"{:.1}\" \
                 text-anchor=\"middle\" font-size=\"10\">{}</text><text x=\"{xx:.1}\" y=\"{:.1}\" \
                 text-anchor=\"middle\" fill=\"#555\" font-size=\"10\">{}</text>",
                top + PANEL_H,
                top + PANEL_H + 12.0,
                escape(&line1),
                top + PANEL_H + 23.0,
                escape(&line2)
            );
        }
        // Latest forecast and planned end.
        for (t, what) in [
            (latest_t, "latest forecast"),
            (Some(batch.end_unix_s), "planned end"),
        ] {
            if let Some(t) = t.filter(|t| (x0..=x1).contains(t)) {
                let xx = x(t);
                let _ = writeln!(
                    s,
                    "<line x1=\"{xx:.1}\" x2=\"{xx:.1}\" y1=\"{top:.1}\" y2=\"{:.1}\" \
                     stroke=\"#999\" stroke-dasharray=\"2 3\"><title>{what} {}</title></line>",
                    top + PANEL_H,
                    escape(&utc_minutes(t))
                );
            }
        }
        if !p.state.is_empty() {
            let mut band = String::new();
            for v in &p.state {
                let _ = write!(band, "{:.1},{:.1} ", x(v.0), y(v.3));
            }
            for v in p.state.iter().rev() {
                let _ = write!(band, "{:.1},{:.1} ", x(v.0), y(v.2));
            }
            let mean: Vec<String> = p
                .state
                .iter()
                .map(|v| format!("{:.1},{:.1}", x(v.0), y(v.1)))
                .collect();
            let _ = writeln!(
                s,
                "<polygon class=\"state-band\" points=\"{}\" fill=\"#9ecae1\" fill-opacity=\"0.6\" \
                 stroke=\"#9ecae1\" stroke-width=\"1\"><title>filter's state estimate of {} \
                 (90 %), at each forecast</title></polygon><polyline class=\"state-mean\" \
                 points=\"{}\" fill=\"none\" stroke=\"#08519c\" stroke-width=\"1.5\"/>",
                band.trim_end(),
                escape(&name),
                mean.join(" ")
            );
        }
        if let (Some(e), Some(last)) = (p.end, p.state.last()) {
            let (xa, xb) = (x(last.0), end_x);
            let _ = writeln!(
                s,
                "<polygon class=\"forecast-band\" points=\"{xa:.1},{:.1} {xb:.1},{:.1} \
                 {xb:.1},{:.1} {xa:.1},{:.1}\" fill=\"#fdae6b\" fill-opacity=\"0.5\" \
                 stroke=\"#e6550d\" stroke-dasharray=\"3 2\"><title>forecast to the planned end: \
                 90 % interval {} to {} now, end-of-batch 90 % interval {} to {} (mean {}); the \
                 straight sides only join the two</title></polygon><line x1=\"{:.1}\" \
                 x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#e6550d\" stroke-width=\"2.5\"/>",
                y(last.3),
                y(e.2),
                y(e.1),
                y(last.2),
                label(last.2),
                label(last.3),
                label(e.1),
                label(e.2),
                label(e.0),
                xb - 6.0,
                xb + 6.0,
                y(e.0),
                y(e.0)
            );
        }
        if online.len() > 1 {
            let line: Vec<String> = online
                .iter()
                .map(|v| format!("{:.1},{:.1}", x(v.0), y(v.1)))
                .collect();
            let last = p
                .online
                .iter()
                .max_by(|a, b| a.0.total_cmp(&b.0))
                .copied()
                .unwrap_or(online[online.len() - 1]);
            let _ = writeln!(
                s,
                "<polyline class=\"online\" points=\"{}\" fill=\"none\" stroke=\"#41ab5d\" \
                 stroke-width=\"1.2\"><title>online {}: {} values, the last {} at {}</title>\
                 </polyline>",
                line.join(" "),
                escape(&name),
                p.online.len(),
                label(last.1),
                escape(&utc_minutes(last.0))
            );
        } else if let Some(v) = online.first() {
            let _ = writeln!(
                s,
                "<circle class=\"online\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"2\" fill=\"#41ab5d\"/>",
                x(v.0),
                y(v.1)
            );
        }
        for v in &lab {
            let _ = writeln!(
                s,
                "<circle class=\"lab\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"2.5\" fill=\"#252525\"><title>\
                 lab result {} sampled {}</title></circle>",
                x(v.0),
                y(v.1),
                label(v.1),
                escape(&utc_minutes(v.0))
            );
        }
        // What the panel is drawn from, under it.
        let mut from: Vec<String> = p
            .tags
            .iter()
            .map(|(tag, (is_lab, count))| {
                format!(
                    "tag {tag} ({}, {count})",
                    if *is_lab { "lab" } else { "online" }
                )
            })
            .collect();
        if !p.state.is_empty() {
            from.push(format!("estimate at {} forecasts", p.state.len()));
        }
        if let Some(e) = p.end {
            from.push(format!(
                "end {} ({} to {})",
                label(e.0),
                label(e.1),
                label(e.2)
            ));
        }
        let _ = writeln!(
            s,
            "<text class=\"source\" x=\"{cx}\" y=\"{:.1}\" fill=\"#555\" font-size=\"9\">{}</text>",
            top + PANEL_H + 36.0,
            escape(&from.join("; "))
        );
        s.push_str("</g>\n");
    }
    if !not_drawn.is_empty() {
        let text: Vec<String> = not_drawn
            .iter()
            .map(|(why, k)| format!("{k} {why}"))
            .collect();
        let _ = writeln!(
            s,
            "<text class=\"not-drawn\" x=\"{}\" y=\"{:.1}\" fill=\"#cb181d\">readings not \
             drawn: {}</text>",
            COL_X[1],
            TITLE_Y + 15.0,
            escape(&text.join("; "))
        );
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch_context::TagRecord;
    use crate::{CqaForecast, Forecast};

    const START: f64 = 1_735_689_600.0; // 2025-01-01T00:00:00Z

    fn batch() -> BatchInfo {
        BatchInfo {
            tenant: "a".into(),
            batch_id: "B<1>".into(),
            unit: "U".into(),
            start_unix_s: START,
            end_unix_s: START + 4.0 * 86400.0,
            finished: false,
        }
    }

    fn tag(tag: &str, variable: &str, factor: f64, offset: f64, lab: bool) -> TagRecord {
        TagRecord {
            tag: tag.into(),
            variable: variable.into(),
            unit: "u".into(),
            to_si_factor: factor,
            to_si_offset: offset,
            lab,
        }
    }

    fn reading(tag: &str, t_h: f64, v: f64) -> Reading {
        Reading {
            tag: tag.into(),
            time_unix_s: START + t_h * 3600.0,
            available_unix_s: None,
            value: v,
            quality: Quality::Good,
        }
    }

    fn pred(seq: u64, t_h: f64, titer: f64, sd: f64) -> PredictionRecord {
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
                    mean: 2.0,
                    p05: 1.5,
                    p95: 2.5,
                    lower_spec: Some(1.0),
                    upper_spec: None,
                    p_in_spec: Some(0.9),
                }],
                state: vec![("titer_g_per_l".into(), titer, sd)],
            },
        }
    }

    /// The numbers in the SVG text of one class: its `<title>` or `points`.
    fn class_count(svg: &str, class: &str) -> usize {
        svg.matches(&format!("class=\"{class}\"")).count()
    }

    #[test]
    fn a_recipe_unknown_to_the_predictor_is_not_shown_as_a_recipe_without_feeds() {
        let rd = vec![reading("TITER", 24.0, 0.5)];
        let preds = vec![pred(0, 24.0, 0.5, 0.05)];
        let with = |known: bool| BatchContext {
            recipe_known: known,
            markers: vec![],
            tags: vec![tag("TITER", "titer", 1.0, 0.0, true)],
        };
        let unknown = render(&batch(), &preds, &rd, Some(&with(false)));
        assert!(unknown.contains("recipe not known to this batch's predictor"));
        assert!(!unknown.contains("no feeds or shifts"));
        let none = render(&batch(), &preds, &rd, Some(&with(true)));
        assert!(none.contains("no feeds or shifts recorded for this batch's recipe"));
        let unrecorded = render(&batch(), &preds, &rd, None);
        assert!(unrecorded.contains("recipe not recorded for this batch"));
        // An entry recorded before `recipe_known` existed reads as known.
        let old: BatchContext =
            serde_json::from_value(serde_json::json!({"markers": [], "tags": []})).unwrap();
        assert!(old.recipe_known);
    }

    #[test]
    fn tags_are_drawn_in_display_units_with_markers_on_calendar_time() {
        let ctx = BatchContext {
            recipe_known: true,
            markers: vec![
                RecipeMarker {
                    time_s: 48.0 * 3600.0,
                    kind: "bolus_feed".into(),
                    label: "bolus feed_a 45.0 mL".into(),
                },
                RecipeMarker {
                    time_s: 48.0 * 3600.0,
                    kind: "temperature_shift".into(),
                    label: "temperature set-point 33.0 °C".into(),
                },
                RecipeMarker {
                    time_s: 72.0 * 3600.0,
                    kind: "bolus_feed".into(),
                    label: "bolus feed_a 45.0 mL".into(),
                },
            ],
            tags: vec![
                tag("TI-1", "temperature", 1.0, 273.15, false),
                tag("DO-1", "dissolved_o2", 0.01, 0.0, false),
                tag("TITER", "titer", 1.0, 0.0, true),
            ],
        };
        let mut rd: Vec<Reading> = (0..=60).map(|h| reading("TI-1", h as f64, 36.5)).collect();
        rd.extend((0..=60).map(|h| reading("DO-1", h as f64, 40.0)));
        rd.push(reading("TITER", 24.0, 0.5));
        rd.push(reading("TITER", 48.0, 1.0));
        rd.push(reading("UNKNOWN-9", 1.0, 1.0));
        let preds = vec![pred(0, 24.0, 0.5, 0.05), pred(1, 48.0, 1.0, 0.05)];
        let svg = render(&batch(), &preds, &rd, Some(&ctx));
        // Panels in the table's order, with human names and units.
        let do_at = svg.find("Dissolved O₂ (% air saturation)").unwrap();
        let t_at = svg.find("Temperature (°C)").unwrap();
        let titer_at = svg.find("Titer (g/L)").unwrap();
        assert!(do_at < t_at && t_at < titer_at);
        assert_eq!(class_count(&svg, "panel"), 3);
        assert_eq!(class_count(&svg, "online"), 2);
        assert_eq!(class_count(&svg, "lab"), 2);
        // 36.5 °C read as 309.65 K is shown as 36.5 °C; DO 40 % (0.40) as 40.
        assert!(
            svg.contains(
                "online Temperature (°C): 61 values, the last 36.5 at 2025-01-03 12:00 UTC"
            ),
            "{svg}"
        );
        assert!(svg.contains("online Dissolved O₂ (% air saturation): 61 values, the last 40 at"));
        assert!(svg.contains("lab result 0.5 sampled 2025-01-02 00:00 UTC"));
        // Markers: the two at 48 h share one glyph, named in its tooltip;
        // each column of panels has them (2 times x 2 columns).
        assert_eq!(class_count(&svg, "marker"), 4);
        assert!(svg.contains("bolus feed_a 45.0 mL (+1)"));
        assert!(svg.contains("bolus feed_a 45.0 mL; temperature set-point 33.0 °C"));
        assert!(svg.contains("data-kind=\"bolus_feed temperature_shift\""));
        // Calendar time: 4 days, ticks at midnight UTC.
        assert!(
            svg.contains(">Jan 02<") && svg.contains(">Jan 05<"),
            "{svg}"
        );
        assert!(svg.contains("calendar time (UTC)"));
        assert!(svg.contains("day of culture"));
        assert!(svg.contains("started 2025-01-01 00:00 UTC, planned end 2025-01-05 00:00 UTC"));
        assert!(svg.contains("last data received (UTC): 2025-01-03 12:00 UTC"));
        // The state estimate and the forecast to the end on the titer panel.
        assert_eq!(class_count(&svg, "state-band"), 1);
        assert_eq!(class_count(&svg, "forecast-band"), 1);
        // 1.0 ± 1.645 × 0.05 now; 1.5 to 2.5 at the end.
        assert!(
            svg.contains(
                "90 % interval 0.9178 to 1.0822 now, end-of-batch 90 % interval 1.5 to 2.5 (mean 2)"
            ),
            "{svg}"
        );
        // The unknown tag is reported, not dropped silently.
        assert!(svg.contains("readings not drawn: 1 tag UNKNOWN-9 (no recorded unit)"));
        assert!(svg.contains("B&lt;1&gt;") && !svg.contains("B<1>"));
        assert!(!svg.contains("style="), "presentation attributes only");
        assert!(!svg.contains("<script"));
    }

    #[test]
    fn without_a_recorded_context_model_column_tags_are_drawn_and_the_gap_is_said() {
        let rd = vec![reading("titer_g_per_l", 24.0, 0.5)];
        let svg = render(&batch(), &[], &rd, None);
        assert_eq!(class_count(&svg, "lab"), 1);
        assert!(svg.contains("recipe not recorded for this batch"));
        let svg = render(&batch(), &[], &[], None);
        assert!(svg.contains("No readings or state estimates of this batch yet."));
        assert!(svg.contains("no data received yet"));
    }

    #[test]
    fn calendar_ticks_are_whole_steps_in_utc() {
        let (step, t) = calendar_ticks(START + 3600.0, START + 14.0 * 86400.0);
        assert_eq!(step, 2.0 * 86400.0);
        assert_eq!(t[0], START + 2.0 * 86400.0);
        assert_eq!(calendar(t[0]), ("Jan 03".to_string(), "00:00".to_string()));
        let (step, t) = calendar_ticks(START, START + 20.0 * 3600.0);
        assert_eq!(step, 3.0 * 3600.0);
        assert_eq!(t.len(), 7);
    }

    #[test]
    fn a_dense_tag_is_decimated_to_its_extremes_per_pixel() {
        let x = |t: f64| t / 1000.0; // 1000 points per pixel column
        let pts: Vec<(f64, f64)> = (0..100_000)
            .map(|i| (i as f64, (i % 1000) as f64))
            .collect();
        let d = decimate(pts, &x);
        assert_eq!(d.len(), 200);
        assert!(d.iter().all(|p| p.1 == 0.0 || p.1 == 999.0));
    }
}
