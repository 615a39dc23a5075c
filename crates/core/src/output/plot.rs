//! SVG plots (plotters, SVG backend only: no system fonts or native
//! libraries needed). A figure is a grid of panels; each panel has one
//! y quantity with its unit, one or more lines and optional bands (e.g.
//! 5–95 % Monte Carlo envelopes).

use std::path::Path;

use plotters::element::DashedPathElement;
use plotters::prelude::*;

use crate::error::Error;
use crate::simulation::Outcome;

/// One line of a panel.
#[derive(Debug, Clone)]
pub struct Line {
    /// Legend text.
    pub label: String,
    /// X values.
    pub x: Vec<f64>,
    /// Y values.
    pub y: Vec<f64>,
    /// Optional lower/upper envelope drawn as a shaded band.
    pub band: Option<(Vec<f64>, Vec<f64>)>,
}

/// A horizontal reference line (a specification or engineering limit).
#[derive(Debug, Clone)]
pub struct LimitLine {
    /// Y value of the line.
    pub value: f64,
    /// Short text drawn at the line's right end, e.g. `max 150 mmHg`.
    pub label: String,
}

/// One chart of an SVG figure.
#[derive(Debug, Clone)]
pub struct Panel {
    /// A human title with the unit, e.g. `Peak pCO₂ [mmHg]`.
    pub title: String,
    /// X-axis label with unit.
    pub x_label: String,
    /// The data lines.
    pub lines: Vec<Line>,
    /// Limit lines (dashed black); the y range always includes them.
    pub limits: Vec<LimitLine>,
}

const COLOURS: [RGBColor; 4] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
];

/// How the k-th line of every panel is drawn, so that lines on top of one
/// another stay visible: the first solid and wide, the second dashed, the
/// third thin with circle markers, the fourth dotted.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Stroke {
    Wide,
    Dashed,
    Markers,
    Dotted,
}

const STROKES: [Stroke; 4] = [
    Stroke::Wide,
    Stroke::Dashed,
    Stroke::Markers,
    Stroke::Dotted,
];

fn finite_range<'a>(vals: impl Iterator<Item = &'a f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for &v in vals {
        if v.is_finite() {
            lo = lo.min(v);
            hi = hi.max(v);
        }
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if hi - lo < 1e-12 * hi.abs().max(1.0) {
        return (lo - 0.5 * lo.abs().max(1.0), hi + 0.5 * hi.abs().max(1.0));
    }
    let pad = 0.05 * (hi - lo);
    (lo - pad, hi + pad)
}

fn stroke_of(k: usize) -> (RGBColor, Stroke) {
    (COLOURS[k % COLOURS.len()], STROKES[k % STROKES.len()])
}

fn width(s: Stroke) -> u32 {
    match s {
        Stroke::Wide => 3,
        Stroke::Dashed => 2,
        Stroke::Markers | Stroke::Dotted => 1,
    }
}

/// Height of the legend strip above the panels, px.
const LEGEND_ROW_H: u32 = 22;

/// The plotting back end (plotters) could not draw a figure; its own words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PlotError {
    /// What the back end reported.
    pub message: String,
}

impl From<String> for PlotError {
    fn from(message: String) -> Self {
        PlotError { message }
    }
}

/// Renders panels into an SVG string (columns × rows grid). The legend (one
/// entry per line label, in order, plus the limit line) is a strip above
/// the panels, never over the data; lines are told apart by colour and
/// stroke (solid, dashed, markers, dotted), so one drawn on top of another
/// stays visible.
pub fn render_svg(panels: &[Panel], columns: usize) -> Result<String, PlotError> {
    let columns = columns.max(1);
    let rows = panels.len().div_ceil(columns).max(1);
    // Legend entries: every distinct label, in first-seen order.
    let mut labels: Vec<String> = Vec::new();
    for p in panels {
        for l in &p.lines {
            if !labels.contains(&l.label) {
                labels.push(l.label.clone());
            }
        }
    }
    let any_limit = panels.iter().any(|p| !p.limits.is_empty());
    let any_band = panels
        .iter()
        .any(|p| p.lines.iter().any(|l| l.band.is_some()));
    let per_row = 2usize;
    let entries = labels.len() + usize::from(any_limit);
    let legend_h = LEGEND_ROW_H * (entries.div_ceil(per_row) as u32 + u32::from(any_band)) + 8;
    let (w, h) = (420 * columns as u32, 300 * rows as u32 + legend_h);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let (legend, body) = root.split_vertically(legend_h);
        let font = ("sans-serif", 14).into_font();
        let col_w = (w as i32 - 20) / per_row as i32;
        let entry = |i: usize, draw: &dyn Fn(i32, i32) -> Result<(), String>, text: &str| {
            let x = 10 + (i % per_row) as i32 * col_w;
            let y = 14 + (i / per_row) as i32 * LEGEND_ROW_H as i32;
            draw(x, y)?;
            legend
                .draw(&Text::new(text.to_string(), (x + 44, y - 7), font.clone()))
                .map_err(|e| e.to_string())
        };
        for (k, label) in labels.iter().enumerate() {
            let (colour, stroke) = stroke_of(k);
            let sample = |x: i32, y: i32| -> Result<(), String> {
                let style = colour.stroke_width(width(stroke));
                let pts = vec![(x, y), (x + 36, y)];
                match stroke {
                    Stroke::Dashed => legend.draw(&DashedPathElement::new(pts, 7, 4, style)),
                    Stroke::Dotted => legend.draw(&DashedPathElement::new(pts, 2, 3, style)),
                    _ => legend.draw(&PathElement::new(pts, style)),
                }
                .map_err(|e| e.to_string())?;
                if stroke == Stroke::Markers {
                    legend
                        .draw(&Circle::new((x + 18, y), 3, colour.filled()))
                        .map_err(|e| e.to_string())?;
                }
                Ok(())
            };
            entry(k, &sample, label)?;
        }
        if any_limit {
            let sample = |x: i32, y: i32| -> Result<(), String> {
                legend
                    .draw(&DashedPathElement::new(
                        vec![(x, y), (x + 36, y)],
                        4,
                        3,
                        BLACK.stroke_width(1),
                    ))
                    .map_err(|e| e.to_string())
            };
            entry(labels.len(), &sample, "limit")?;
        }
        if any_band {
            let y = 14 + (entries.div_ceil(per_row) as i32) * LEGEND_ROW_H as i32;
            legend
                .draw(&Rectangle::new(
                    [(10, y - 6), (46, y + 6)],
                    COLOURS[0].mix(0.2).filled(),
                ))
                .map_err(|e| e.to_string())?;
            legend
                .draw(&Text::new(
                    "shaded: 5-95 % Monte Carlo envelope of the line of the same colour"
                        .to_string(),
                    (54, y - 7),
                    font.clone(),
                ))
                .map_err(|e| e.to_string())?;
        }
        let areas = body.split_evenly((rows, columns));
        for (panel, area) in panels.iter().zip(areas.iter()) {
            let all_x = panel.lines.iter().flat_map(|l| l.x.iter());
            let (x0, x1) = finite_range(all_x);
            let all_y = panel
                .lines
                .iter()
                .flat_map(|l| {
                    let b = l
                        .band
                        .as_ref()
                        .map(|(a, b)| a.iter().chain(b.iter()).collect::<Vec<_>>())
                        .unwrap_or_default();
                    l.y.iter().chain(b)
                })
                .chain(panel.limits.iter().map(|l| &l.value));
            let (y0, y1) = finite_range(all_y);
            let mut chart = ChartBuilder::on(area)
                .caption(&panel.title, ("sans-serif", 16))
                .margin(8)
                .x_label_area_size(36)
                .y_label_area_size(56)
                .build_cartesian_2d(x0..x1, y0..y1)
                .map_err(|e| e.to_string())?;
            chart
                .configure_mesh()
                .x_desc(&panel.x_label)
                .light_line_style(WHITE.mix(0.0))
                .draw()
                .map_err(|e| e.to_string())?;
            let k_of = |label: &str| labels.iter().position(|l| l == label).unwrap_or(0);
            for line in &panel.lines {
                let (colour, _) = stroke_of(k_of(&line.label));
                if let Some((lo, hi)) = &line.band {
                    let mut poly: Vec<(f64, f64)> =
                        line.x.iter().copied().zip(hi.iter().copied()).collect();
                    poly.extend(line.x.iter().copied().zip(lo.iter().copied()).rev());
                    chart
                        .draw_series(std::iter::once(Polygon::new(
                            poly,
                            colour.mix(0.15).filled(),
                        )))
                        .map_err(|e| e.to_string())?;
                }
            }
            for l in &panel.limits {
                chart
                    .draw_series(DashedLineSeries::new(
                        vec![(x0, l.value), (x1, l.value)],
                        4,
                        3,
                        BLACK.stroke_width(1),
                    ))
                    .map_err(|e| e.to_string())?;
                chart
                    .draw_series(std::iter::once(Text::new(
                        l.label.clone(),
                        (x0 + 0.02 * (x1 - x0), l.value),
                        ("sans-serif", 12).into_font(),
                    )))
                    .map_err(|e| e.to_string())?;
            }
            for line in &panel.lines {
                let (colour, stroke) = stroke_of(k_of(&line.label));
                let pts: Vec<(f64, f64)> = line
                    .x
                    .iter()
                    .copied()
                    .zip(line.y.iter().copied())
                    .filter(|(_, y)| y.is_finite())
                    .collect();
                let style = colour.stroke_width(width(stroke));
                match stroke {
                    Stroke::Dashed => chart
                        .draw_series(DashedLineSeries::new(pts.clone(), 7, 4, style))
                        .map(|_| ()),
                    Stroke::Dotted => chart
                        .draw_series(DashedLineSeries::new(pts.clone(), 2, 3, style))
                        .map(|_| ()),
                    _ => chart
                        .draw_series(LineSeries::new(pts.clone(), style))
                        .map(|_| ()),
                }
                .map_err(|e| e.to_string())?;
                if stroke == Stroke::Markers {
                    let every = (pts.len() / 12).max(1);
                    chart
                        .draw_series(
                            pts.iter()
                                .step_by(every)
                                .map(|&p| Circle::new(p, 3, colour.filled())),
                        )
                        .map_err(|e| e.to_string())?;
                }
            }
        }
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// Quantities worth a look, in display order; those the model has are drawn.
const PREFERRED: &[&str] = &[
    "xv_1e6_cells_per_ml",
    "viability_pct",
    "titer_g_per_l",
    "glucose_g_per_l",
    "glucose_mm",
    "lactate_g_per_l",
    "lactate_mm",
    "ammonium_mm",
    "glutamine_mm",
    "pco2_mmhg",
    "do_pct",
    "osmolality_mosm_per_kg",
    "galactosylated_pct",
    "acidic_variants_pct",
    "hmw_pct",
];

/// Panels of one or more trajectories of the same model, by label.
pub fn trajectory_panels(runs: &[(&str, &Outcome)]) -> Vec<Panel> {
    let Some((_, first)) = runs.first() else {
        return Vec::new();
    };
    PREFERRED
        .iter()
        .filter(|c| first.columns.iter().any(|x| x == *c))
        .map(|c| Panel {
            title: c.to_string(),
            x_label: "time_h".into(),
            limits: Vec::new(),
            lines: runs
                .iter()
                .filter_map(|(label, o)| {
                    Some(Line {
                        label: label.to_string(),
                        x: o.column("time_h")?,
                        y: o.column(c)?,
                        band: None,
                    })
                })
                .collect(),
        })
        .collect()
}

/// Writes an SVG of the standard trajectory panels.
pub fn write_trajectory_svg(path: &Path, runs: &[(&str, &Outcome)]) -> Result<(), Error> {
    let svg = render_svg(&trajectory_panels(runs), 3).map_err(|e| Error::io(path, e))?;
    super::write_atomic(path, svg.as_bytes())
}
