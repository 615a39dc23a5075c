//! Chromatogram as SVG: one panel per component (their scales differ by
//! orders of magnitude, e.g. salt vs protein), time on the x axis, inlet
//! section boundaries as vertical lines, pools shaded.

use std::path::Path;

use plotters::prelude::*;

use super::result::ColumnResult;
use crate::error::Error;
use biotwin_core::error::Error as CoreError;
use biotwin_core::output::write_atomic;

/// Writes the outlet profiles of `result` to an SVG file at `path`,
/// atomically ([`biotwin_core::output::write_atomic`]).
pub fn write_chromatogram_svg(
    result: &ColumnResult,
    section_ends_s: &[f64],
    path: &Path,
) -> Result<(), Error> {
    let mut svg = String::new();
    draw(result, section_ends_s, path, &mut svg)?;
    Ok(write_atomic(path, svg.as_bytes())?)
}

/// Draws the chromatogram into `svg` (written whole, atomically, by the
/// caller); `path` names the file in errors.
fn draw(
    result: &ColumnResult,
    section_ends_s: &[f64],
    path: &Path,
    svg: &mut String,
) -> Result<(), Error> {
    let io = |e: &dyn std::fmt::Display| Error::from(CoreError::io(path, e.to_string()));
    let n = result.component_names.len().max(1);
    let root = SVGBackend::with_string(svg, (900, 220 * n as u32)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| io(&e))?;
    let panels = root.split_evenly((n, 1));
    let t0 = result.time_s.first().copied().unwrap_or(0.0);
    let t1 = result.time_s.last().copied().unwrap_or(1.0).max(t0 + 1e-9);
    for (k, panel) in panels.iter().enumerate() {
        let c = &result.outlet_mol_per_m3[k];
        let ymax = c.iter().cloned().fold(0.0, f64::max).max(1e-12) * 1.05;
        let ymin = c.iter().cloned().fold(0.0, f64::min).min(0.0);
        let mut chart = ChartBuilder::on(panel)
            .margin(8)
            .x_label_area_size(32)
            .y_label_area_size(70)
            .caption(
                format!("{} at the outlet", result.component_names[k]),
                ("sans-serif", 16),
            )
            .build_cartesian_2d(t0..t1, ymin..ymax)
            .map_err(|e| io(&e))?;
        chart
            .configure_mesh()
            .x_desc("time (s)")
            .y_desc("c (mol/m³)")
            .draw()
            .map_err(|e| io(&e))?;
        for p in &result.pools {
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(p.start_s, ymin), (p.end_s, ymax)],
                    RGBColor(255, 200, 120).mix(0.3).filled(),
                )))
                .map_err(|e| io(&e))?;
        }
        for &t in section_ends_s {
            chart
                .draw_series(LineSeries::new(
                    [(t, ymin), (t, ymax)],
                    &RGBColor(160, 160, 160),
                ))
                .map_err(|e| io(&e))?;
        }
        chart
            .draw_series(LineSeries::new(
                result.time_s.iter().copied().zip(c.iter().copied()),
                &Palette99::pick(k),
            ))
            .map_err(|e| io(&e))?;
    }
    root.present().map_err(|e| io(&e))
}
