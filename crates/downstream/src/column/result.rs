//! What a column simulation returns: the outlet profile, amounts per section,
//! pools, and the mass balance per component.

use std::path::Path;

use crate::error::Error;
use biotwin_core::output::write_atomic;

/// Mass balance of one component over the whole run, mol.
/// `initial + inlet = outlet + final_liquid + final_bound` up to the
/// integrator's tolerance; `relative_error` is the defect over `initial + inlet`.
#[derive(Debug, Clone, PartialEq)]
pub struct ComponentBalance {
    /// Component name, as in the column file.
    pub component: String,
    /// Amount in the column (liquid and bound) at t = 0, mol.
    pub initial_mol: f64,
    /// Amount fed through the inlet over all sections, Q ∫ c_in dt, mol.
    pub inlet_mol: f64,
    /// Amount that left through the outlet, Q ∫ c_out dt, mol.
    pub outlet_mol: f64,
    /// Amount in the liquid phase (bulk and pores) at the end, mol.
    pub final_liquid_mol: f64,
    /// Amount bound to the solid phase at the end, mol.
    pub final_bound_mol: f64,
    /// (initial + inlet - outlet - final liquid - final bound) / (initial +
    /// inlet), dimensionless; ~1e-10 or smaller for a converged run.
    pub relative_error: f64,
}

/// A collected fraction of the outlet.
#[derive(Debug, Clone, PartialEq)]
pub struct Pool {
    /// Pool name, as in the column file.
    pub name: String,
    /// Time collection starts, s from the start of the run.
    pub start_s: f64,
    /// Time collection ends, s.
    pub end_s: f64,
    /// Collected volume Q (end - start), m³.
    pub volume_m3: f64,
    /// Amount of every component in the pool, mol.
    pub amount_mol: Vec<f64>,
    /// Amount of the cut component in the pool over its total inlet amount.
    pub recovery: f64,
    /// Amount of the cut component over the amount of all components that have
    /// a molecular weight, on a mass basis (1.0 when it is the only one).
    pub mass_purity: f64,
}

/// Result of [`super::simulate()`]: the outlet profile on the output grid,
/// amounts per section, the pools cut from it and the mass balance.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnResult {
    /// Component names, in the column file's order (index k of every per-component vector).
    pub component_names: Vec<String>,
    /// Output times, s: from the start of the first section, every
    /// `output_interval_s`, up to the end of the run.
    pub time_s: Vec<f64>,
    /// UV absorbance of the outlet per cm of path (Σ ε_k c_k), on `time_s`.
    pub uv_au_per_cm: Vec<f64>,
    /// `outlet_mol_per_m3[k][i]`: component k at `time_s[i]`.
    pub outlet_mol_per_m3: Vec<Vec<f64>>,
    /// `section_outlet_mol[s][k]`: amount leaving during section s.
    pub section_outlet_mol: Vec<Vec<f64>>,
    /// The pools of the column file, in its order.
    pub pools: Vec<Pool>,
    /// Mass balance per component, in component order.
    pub mass_balance: Vec<ComponentBalance>,
    /// Accepted integrator steps (of the run returned).
    pub steps: usize,
    /// The axial mesh of the run returned and, when it was error-controlled,
    /// how it was chosen.
    pub mesh: MeshReport,
}

/// The axial mesh a result was computed on.
#[derive(Debug, Clone, PartialEq)]
pub struct MeshReport {
    /// Axial DG elements.
    pub elements: usize,
    /// Polynomial degree per element.
    pub polynomial_degree: usize,
    /// Error-controlled mesh: max over components of the relative L2
    /// difference between this run's outlet and that of the mesh with half
    /// the elements (an estimate of the coarser mesh's error; this finer one
    /// is more accurate). None for a fixed mesh.
    pub estimated_error: Option<f64>,
    /// Element counts run, coarsest first (the last one is returned).
    pub elements_tried: Vec<usize>,
}

impl ColumnResult {
    /// Outlet profile of one component by name.
    pub fn outlet(&self, component: &str) -> Option<&[f64]> {
        let k = self.component_names.iter().position(|n| n == component)?;
        Some(&self.outlet_mol_per_m3[k])
    }

    /// Writes `time_s,<name>_mol_per_m3,...` to `path`, atomically
    /// ([`biotwin_core::output::write_atomic`]: a reader sees the old file
    /// or the whole new one).
    pub fn write_outlet_csv(&self, path: &Path) -> Result<(), Error> {
        let mut out = String::from("time_s");
        for n in &self.component_names {
            out.push_str(&format!(",{n}_mol_per_m3"));
        }
        out.push('\n');
        for (i, t) in self.time_s.iter().enumerate() {
            out.push_str(&format!("{t:.6}"));
            for c in &self.outlet_mol_per_m3 {
                out.push_str(&format!(",{:.10e}", c[i]));
            }
            out.push('\n');
        }
        Ok(write_atomic(path, out.as_bytes())?)
    }
}

/// Outlet data on the output grid, used to cut pools.
pub(crate) struct ColumnBalance<'a> {
    pub times: &'a [f64],
    pub outlet: &'a [Vec<f64>],
    /// Running ∫ c_out dt (mol·s/m³) on the same grid.
    pub integral: &'a [Vec<f64>],
    pub flow_rate_m3_per_s: f64,
}
