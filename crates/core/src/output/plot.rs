//! SVG plots (plotters, SVG backend only: no system fonts or native
//! libraries needed). A figure is a grid of panels; each panel has one
//! y quantity with its unit, one or more lines and optional bands (e.g.
//! 5–95 % Monte Carlo envelopes).

use std::path::Path;

use plotters::prelude::*;

use crate::error::Error;
use crate::simulation::Outcome;

/// One line of a panel.
#[derive(Debug, Clone)]
pub struct Line {
    pub label: String,
    pub x: Vec<f64>,
    pub y: Vec<f64>,
    /// Optional lower/upper envelope drawn as a shaded band.
    pub band: Option<(Vec<f64>, Vec<f64>)>,
}

#[derive(Debug, Clone)]
pub struct Panel {
    pub title: String,
    pub x_label: String,
    pub lines: Vec<Line>,
}

const COLOURS: [RGBColor; 4] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
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

/// Renders panels into an SVG string (columns × rows grid).
pub fn render_svg(panels: &[Panel], columns: usize) -> Result<String, String> {
    let columns = columns.max(1);
    let rows = panels.len().div_ceil(columns).max(1);
    let (w, h) = (420 * columns as u32, 300 * rows as u32);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let areas = root.split_evenly((rows, columns));
        for (panel, area) in panels.iter().zip(areas.iter()) {
            let all_x = panel.lines.iter().flat_map(|l| l.x.iter());
            let (x0, x1) = finite_range(all_x);
            let all_y = panel.lines.iter().flat_map(|l| {
                let b = l
                    .band
                    .as_ref()
                    .map(|(a, b)| a.iter().chain(b.iter()).collect::<Vec<_>>())
                    .unwrap_or_default();
                l.y.iter().chain(b)
            });
            let (y0, y1) = finite_range(all_y);
            let mut chart = ChartBuilder::on(area)
                .caption(&panel.title, ("sans-serif", 16))
                .margin(8)
                .x_label_area_size(32)
                .y_label_area_size(52)
                .build_cartesian_2d(x0..x1, y0..y1)
                .map_err(|e| e.to_string())?;
            chart
                .configure_mesh()
                .x_desc(&panel.x_label)
                .light_line_style(WHITE.mix(0.0))
                .draw()
                .map_err(|e| e.to_string())?;
            for (k, line) in panel.lines.iter().enumerate() {
                let colour = COLOURS[k % COLOURS.len()];
                if let Some((lo, hi)) = &line.band {
                    let mut poly: Vec<(f64, f64)> =
                        line.x.iter().copied().zip(hi.iter().copied()).collect();
                    poly.extend(line.x.iter().copied().zip(lo.iter().copied()).rev());
                    chart
                        .draw_series(std::iter::once(Polygon::new(
                            poly,
                            colour.mix(0.2).filled(),
                        )))
                        .map_err(|e| e.to_string())?;
                }
                let pts: Vec<(f64, f64)> = line
                    .x
                    .iter()
                    .copied()
                    .zip(line.y.iter().copied())
                    .filter(|(_, y)| y.is_finite())
                    .collect();
                let series = chart
                    .draw_series(LineSeries::new(pts, colour.stroke_width(2)))
                    .map_err(|e| e.to_string())?;
                if panel.lines.len() > 1 {
                    series.label(line.label.clone()).legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 16, y)], colour.stroke_width(2))
                    });
                }
            }
            if panel.lines.len() > 1 {
                chart
                    .configure_series_labels()
                    .background_style(WHITE.mix(0.8))
                    .border_style(BLACK.mix(0.3))
                    .draw()
                    .map_err(|e| e.to_string())?;
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
