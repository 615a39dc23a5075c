//! Protein A capture: multi-cycle bind/elute operation sized from the dynamic
//! binding capacity (DBC) at the chosen residence time.
//!
//! DBC at 10 % breakthrough falls as the residence time τ = V_col/Q shortens
//! (mass transfer into the pores limits uptake: Hahn et al., J. Chromatogr. A
//! 1093 (2005) 98). The DBC curve is either given as a table (τ, DBC) or
//! computed with a column model by [`dynamic_binding_capacity`].
//!
//! Sizing: mass per cycle m_c = φ DBC(τ) V_col (φ: fraction of DBC loaded,
//! usually 0.8), cycles n = ⌈m_load / m_c⌉, load time per cycle
//! V_load/(n Q), cycle time = load time + N_overhead V_col/Q (wash, elution,
//! strip, re-equilibration in column volumes). Eluate volume n N_elute V_col.
//! Product recovered with yield Y; HCP and DNA reduced by their LRVs
//! (PRIMER §5: HCP 2-3 log); aggregates co-purify with the monomer.
//!
//! Waste: the unrecovered part of each species (flow-through, wash, strip);
//! liquid: the whole load volume passes to flow-through, and of the
//! n N_overhead V_col of buffer per run only the eluate n N_elute V_col stays
//! in the product (the rest, wash, strip and re-equilibration, is waste).

use super::clarification::unrecovered;
use super::step::StepReport;
use super::stream::{Stream, after_lrv};
use crate::column::{ColumnSpec, simulate, spec::Section};
use crate::error::Error;

/// Protein A capture parameters, read from the train file's `[protein_a]`
/// table (the DBC curve from resin data or from [`dynamic_binding_capacity`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ProteinACapture {
    /// Packed-bed column volume V_col, m³.
    pub column_volume_m3: f64,
    /// Residence time τ = V_col/Q during load, s (sets the flow rate Q).
    pub residence_time_s: f64,
    /// (residence time s, DBC kg per m³ bed), sorted by residence time.
    pub dbc_curve: Vec<(f64, f64)>,
    /// Fraction φ of the DBC loaded per cycle, 0-1 (usually 0.8).
    pub load_fraction_of_dbc: f64,
    /// Product yield Y of the step, 0-1 (PRIMER §5: 0.90-0.98).
    pub product_yield: f64,
    /// Log10 reduction of HCP (PRIMER §5: 2-3).
    pub hcp_lrv: f64,
    /// Log10 reduction of host-cell DNA.
    pub dna_lrv: f64,
    /// Log10 reduction of virus credited to the step.
    pub virus_lrv: f64,
    /// Eluate volume per cycle, column volumes (N_elute).
    pub elution_cv: f64,
    /// Buffer per cycle other than the load (wash, elution, strip,
    /// re-equilibration), column volumes (N_overhead, includes the elution).
    pub overhead_cv: f64,
}

/// Field path of the DBC curve in errors ([`Error::EmptyTable`]).
pub const DBC_TABLE: &str = "protein_a.dbc_curve";

/// Linear interpolation in a table sorted by x, clamped at its ends.
///
/// # Errors
///
/// [`Error::EmptyTable`] naming `table` (its field path) when the table has
/// no point: there is nothing to interpolate, and a NaN would size NaN
/// cycles downstream.
pub fn interpolate(table: &str, points: &[(f64, f64)], x: f64) -> Result<f64, Error> {
    match points {
        [] => Err(Error::EmptyTable {
            table: table.to_string(),
        }),
        [only] => Ok(only.1),
        _ => {
            if x <= points[0].0 {
                return Ok(points[0].1);
            }
            for w in points.windows(2) {
                let ((x0, y0), (x1, y1)) = (w[0], w[1]);
                if x <= x1 {
                    return Ok(y0 + (y1 - y0) * (x - x0) / (x1 - x0));
                }
            }
            Ok(points[points.len() - 1].1)
        }
    }
}

impl ProteinACapture {
    /// DBC at the chosen residence time, kg/m³ bed.
    ///
    /// # Errors
    ///
    /// [`Error::EmptyTable`] when the DBC curve has no point (a step built
    /// in code; the train reader refuses an empty curve in a file).
    pub fn dbc_kg_per_m3(&self) -> Result<f64, Error> {
        interpolate(DBC_TABLE, &self.dbc_curve, self.residence_time_s)
    }

    /// Sizes the cycles for `input` and returns the eluate pool and waste (module
    /// docs). `details` reports cycles, DBC and cycle time.
    ///
    /// # Errors
    ///
    /// [`Error::EmptyTable`] when the DBC curve has no point (the train
    /// reader checks a file's curve is non-empty and positive).
    pub fn run(&self, input: &Stream) -> Result<StepReport, Error> {
        let q = self.column_volume_m3 / self.residence_time_s;
        let dbc = self.dbc_kg_per_m3()?;
        let per_cycle = self.load_fraction_of_dbc * dbc * self.column_volume_m3;
        let cycles = (input.product_kg() / per_cycle).ceil().max(1.0);
        let load_time = input.volume_m3 / (cycles * q);
        let cycle_time = load_time + self.overhead_cv * self.column_volume_m3 / q;
        let y = self.product_yield;
        let recovery = [y, y, after_lrv(self.hcp_lrv), after_lrv(self.dna_lrv)];
        let mut output = input.scaled(1.0, recovery);
        output.volume_m3 = cycles * self.elution_cv * self.column_volume_m3;
        output.log10_virus = input.log10_virus - self.virus_lrv;
        let buffer = cycles * self.overhead_cv * self.column_volume_m3;
        let waste = Stream {
            volume_m3: input.volume_m3
                + cycles * (self.overhead_cv - self.elution_cv) * self.column_volume_m3,
            mass_kg: unrecovered(input, recovery),
            log10_virus: f64::NEG_INFINITY,
        };
        Ok(StepReport {
            name: "protein A capture".into(),
            input: *input,
            output,
            waste,
            buffer_added_m3: buffer,
            formed_kg: [0.0; 4],
            virus_lrv: self.virus_lrv,
            duration_s: cycles * cycle_time,
            details: vec![
                ("cycles".into(), cycles, "-".into()),
                ("dbc".into(), dbc, "g/L bed".into()),
                ("load_per_cycle".into(), per_cycle * 1e3, "g".into()),
                (
                    "column_volume".into(),
                    self.column_volume_m3 * 1e3,
                    "L".into(),
                ),
                ("flow_rate".into(), q * 6e7, "mL/min".into()),
            ],
        })
    }
}

/// Dynamic binding capacity (kg per m³ bed) of `component` at each residence
/// time, from a column model: the column is loaded with its first section's
/// inlet for `max_cv` column volumes and DBC = c_feed (V_b - ε V_col)/V_col, V_b
/// the volume loaded when the outlet reaches `breakthrough` × c_feed and ε V_col
/// the mobile-phase (interstitial) volume. With strong mass-transfer limits the
/// feed can break through before one hold-up volume and DBC comes out ≤ 0.
pub fn dynamic_binding_capacity(
    column: &ColumnSpec,
    component: usize,
    residence_times_s: &[f64],
    breakthrough: f64,
    max_cv: f64,
) -> Result<Vec<(f64, f64)>, Error> {
    let v_col = column.column_volume_m3();
    let eps = column.mobile_porosity;
    let mw = column.components[component]
        .molecular_weight_kg_per_mol
        .unwrap_or(1.0);
    let mut out = Vec::new();
    for &tau in residence_times_s {
        let mut spec = column.clone();
        spec.flow_rate_m3_per_s = v_col / tau;
        let mut load: Section = column.sections[0].clone();
        load.start_s = 0.0;
        load.end_s = max_cv * tau;
        spec.sections = vec![load];
        spec.pools.clear();
        spec.solver.output_interval_s = tau / 50.0;
        let feed = spec.sections[0].coefficients[0][component];
        let r = simulate(&spec)?;
        let c = &r.outlet_mol_per_m3[component];
        let t_b = r
            .time_s
            .iter()
            .zip(c)
            .find(|(_, c)| **c >= breakthrough * feed)
            .map(|(t, _)| *t)
            .unwrap_or(f64::INFINITY);
        let v_b = spec.flow_rate_m3_per_s * t_b;
        out.push((tau, feed * mw * (v_b - eps * v_col) / v_col));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolation_is_linear_inside_and_clamped_outside() {
        let t = [(60.0, 30.0), (240.0, 60.0)];
        assert_eq!(interpolate("t", &t, 150.0).unwrap(), 45.0);
        assert_eq!(interpolate("t", &t, 10.0).unwrap(), 30.0);
        assert_eq!(interpolate("t", &t, 1e4).unwrap(), 60.0);
        assert_eq!(interpolate("t", &t[..1], 1e4).unwrap(), 30.0);
    }

    #[test]
    fn an_empty_table_is_an_error_naming_it() {
        let e = interpolate("protein_a.dbc_curve", &[], 240.0).unwrap_err();
        assert!(
            matches!(&e, Error::EmptyTable { table } if table == "protein_a.dbc_curve"),
            "{e:?}"
        );
        assert_eq!(e.exit_code(), 2);
    }
}
