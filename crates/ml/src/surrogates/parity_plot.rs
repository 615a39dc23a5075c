//! Parity plot (predicted vs observed, with ±1.96σ bars) as SVG, for
//! `biotwin evaluate`. A point on the diagonal is a perfect prediction; a bar
//! that misses the diagonal is an observation outside its 95 % interval.

use biotwin_core::output::plot::PlotError;
use std::path::Path;

use plotters::prelude::*;

use super::Prediction;
use super::metrics::Z_95;
use crate::error::Error;

/// Renders the parity plot of target column `j` to an SVG string.
/// `unit_label` is appended to the axis titles (e.g. "g/L"); values are
/// plotted as given (convert from SI first if another unit is wanted).
pub fn parity_svg(
    observed: &[f64],
    prediction: &Prediction,
    j: usize,
    title: &str,
    unit_label: &str,
) -> Result<String, PlotError> {
    let n = observed.len();
    let mean: Vec<f64> = (0..n).map(|i| prediction.mean[(i, j)]).collect();
    let half: Vec<f64> = (0..n).map(|i| Z_95 * prediction.std[(i, j)]).collect();
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for i in 0..n {
        for v in [observed[i], mean[i] - half[i], mean[i] + half[i]] {
            if v.is_finite() {
                lo = lo.min(v);
                hi = hi.max(v);
            }
        }
    }
    if !(lo.is_finite() && hi.is_finite()) {
        return Err(PlotError::from("no finite values to plot".to_string()));
    }
    let pad = 0.05 * (hi - lo).max(1e-12);
    let (lo, hi) = (lo - pad, hi + pad);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (560, 520)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(55)
            .build_cartesian_2d(lo..hi, lo..hi)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc(format!("observed [{unit_label}]"))
            .y_desc(format!("predicted [{unit_label}]"))
            .draw()
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(lo, lo), (hi, hi)],
                BLACK.mix(0.5),
            )))
            .map_err(|e| e.to_string())?;
        chart
            .draw_series((0..n).map(|i| {
                PathElement::new(
                    vec![
                        (observed[i], mean[i] - half[i]),
                        (observed[i], mean[i] + half[i]),
                    ],
                    BLUE.mix(0.6),
                )
            }))
            .map_err(|e| e.to_string())?;
        chart
            .draw_series((0..n).map(|i| Circle::new((observed[i], mean[i]), 4, BLUE.filled())))
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// Writes the parity plot atomically to `path`.
pub fn write_parity_svg(
    path: &Path,
    observed: &[f64],
    prediction: &Prediction,
    j: usize,
    title: &str,
    unit_label: &str,
) -> Result<(), Error> {
    let svg =
        parity_svg(observed, prediction, j, title, unit_label).map_err(|e| Error::io(path, e))?;
    Ok(super::artifact::write_atomic(path, svg.as_bytes())?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::DMatrix;

    #[test]
    fn draws_one_marker_and_one_bar_per_point() {
        let p = Prediction {
            mean: DMatrix::from_column_slice(3, 1, &[1.0, 2.1, 2.9]),
            std: DMatrix::from_column_slice(3, 1, &[0.1, 0.2, 0.1]),
        };
        let svg = parity_svg(&[1.0, 2.0, 3.0], &p, 0, "final titer", "g/L").unwrap();
        assert!(svg.starts_with("<svg"));
        assert_eq!(svg.matches("<circle").count(), 3, "{svg}");
        assert!(svg.contains("observed [g/L]"));
        let empty = Prediction {
            mean: DMatrix::from_column_slice(1, 1, &[f64::NAN]),
            std: DMatrix::from_column_slice(1, 1, &[f64::NAN]),
        };
        assert!(parity_svg(&[f64::NAN], &empty, 0, "x", "-").is_err());
    }
}
