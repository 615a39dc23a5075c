//! A validated column set-up in SI units: what [`super::simulate()`] runs.
//!
//! Built from a column file by [`super::file`], or directly in code (tests,
//! flowsheets). All checks on user input happen in the file reader; the
//! simulator trusts a `ColumnSpec`.

use crate::binding::Isotherm;

/// The transport model of the column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportModel {
    /// Lumped rate model without pores (CADET `LUMPED_RATE_MODEL_WITHOUT_PORES`):
    /// one liquid phase of porosity ε_t moving at u = Q/(A ε_t), axial
    /// dispersion, and binding on the solid phase (1-ε_t):
    /// ∂c/∂t = -u ∂c/∂z + D_ax ∂²c/∂z² - (1-ε_t)/ε_t ∂q/∂t.
    /// With fast kinetics it becomes the equilibrium-dispersive model.
    LumpedRateWithoutPores,
    /// Lumped rate model with pores (CADET `LUMPED_RATE_MODEL_WITH_PORES`): bulk
    /// liquid (bed porosity ε_c) exchanges with a uniform particle liquid c_p
    /// (particle porosity ε_p) through a film, k_f; binding acts on c_p.
    LumpedRateWithPores,
    /// General rate model (CADET `GENERAL_RATE_MODEL`): as above, plus
    /// diffusion in the pores of spherical particles (D_p), resolved on
    /// radial shells.
    GeneralRate,
}

/// The porous particles of models with pores.
#[derive(Debug, Clone, PartialEq)]
pub struct Particle {
    /// ε_p, liquid volume fraction of a particle.
    pub porosity: f64,
    /// Particle radius r_p, m (half the resin's mean bead diameter).
    pub radius_m: f64,
    /// Film mass-transfer coefficient k_f per component, m/s.
    pub film_transfer_m_per_s: Vec<f64>,
    /// Pore diffusion coefficient D_p per component, m²/s; None for the
    /// lumped particle (no radial gradient).
    pub pore_diffusion_m2_per_s: Option<Vec<f64>>,
    /// Surface diffusion coefficient D_s per component, m²/s (GRM; CADET's
    /// `PAR_SURFDIFFUSION`): acts on the component's bound state; None or 0
    /// for none.
    pub surface_diffusion_m2_per_s: Option<Vec<f64>>,
    /// Radial finite-volume shells (1 for the lumped particle).
    pub radial_cells: usize,
    /// Polynomial degree of the radial spectral element (GRM); when set it
    /// replaces the finite-volume shells.
    pub radial_polynomial_degree: Option<usize>,
}

/// One liquid-phase component (protein, salt, modifier) of the column.
#[derive(Debug, Clone, PartialEq)]
pub struct Component {
    /// Component name, unique within the column (used by pools and outputs).
    pub name: String,
    /// kg/mol, for reporting masses; None for species on an arbitrary scale.
    pub molecular_weight_kg_per_mol: Option<f64>,
    /// Axial dispersion coefficient D_ax, m²/s (from a pulse-response test or a
    /// correlation; must be ≥ 0).
    pub axial_dispersion_m2_per_s: f64,
    /// Initial liquid concentration in the column, mol/m³.
    pub initial_mol_per_m3: f64,
    /// Molar UV absorptivity at the detector wavelength, m²/mol (0: invisible).
    pub uv_absorptivity_m2_per_mol: f64,
}

/// One inlet section: c_in(t) = Σ_k coeff_k τ^k, τ = t - start (CADET's
/// piecewise cubic inlet), so a salt gradient is a linear coefficient.
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    /// Section name (e.g. `load`, `wash`, `elute`), referenced by pools.
    pub name: String,
    /// Start of the section, s from the start of the run.
    pub start_s: f64,
    /// End of the section, s (the next section's start).
    pub end_s: f64,
    /// `coefficients[k][i]`: coefficient of τ^k for component i (mol/m³/s^k).
    pub coefficients: [Vec<f64>; 4],
}

impl Section {
    /// Inlet concentration of every component at time `t_s` (s, absolute), mol/m³,
    /// into `out` (one per component).
    pub fn inlet_at(&self, t_s: f64, out: &mut [f64]) {
        let tau = t_s - self.start_s;
        for (i, o) in out.iter_mut().enumerate() {
            let [a, b, c, d] = &self.coefficients;
            *o = a[i] + tau * (b[i] + tau * (c[i] + tau * d[i]));
        }
    }

    /// ∫ c_in dt over the section, mol·s/m³ per component (exact).
    pub fn inlet_integral(&self, component: usize) -> f64 {
        let t = self.end_s - self.start_s;
        let [a, b, c, d] = &self.coefficients;
        let i = component;
        a[i] * t + b[i] * t * t / 2.0 + c[i] * t.powi(3) / 3.0 + d[i] * t.powi(4) / 4.0
    }
}

/// Spatial resolution: DG elements and polynomial degree per element.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Discretisation {
    /// Axial DG elements; with `accuracy`, the first mesh of the refinement.
    pub elements: usize,
    /// Polynomial degree N of each element (N + 1 LGL nodes).
    pub polynomial_degree: usize,
    /// Error-controlled mesh ([`super::simulate()`]): the axial elements are
    /// doubled from `elements` until the outlets of two successive meshes
    /// differ by at most this relative L2 (every component); None: the mesh
    /// is `elements` as given.
    pub accuracy: Option<f64>,
}

impl Discretisation {
    /// The default of a column file without `elements`: error-controlled to
    /// 1e-3 relative L2, starting from 8 elements of degree 4.
    pub const DEFAULT_ACCURACY: f64 = 1e-3;
    /// The first (coarsest) mesh of the default error-controlled refinement.
    pub const DEFAULT_FIRST_ELEMENTS: usize = 8;
}

/// Tolerances and output spacing of the BDF integration (diffsol).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SolverSettings {
    /// Relative tolerance of the integrator's local error test, dimensionless.
    pub relative_tolerance: f64,
    /// Absolute tolerance on concentrations, mol/m³.
    pub absolute_tolerance: f64,
    /// Spacing of the reported outlet profile, s.
    pub output_interval_s: f64,
}

/// An elution pool cut within one section on the outlet concentration of the
/// key `component` or on the UV trace: collection starts when the signal rises
/// to `start_above` and ends when, after its peak, it falls below `end_below`
/// (or at the end of the section). Recovery and purity refer to `component`.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolSpec {
    /// Pool name, as reported.
    pub name: String,
    /// Index of the key component (recovery and purity refer to it).
    pub component: usize,
    /// Index of the section within which the pool is cut.
    pub section: usize,
    /// Cut on the UV trace (AU/cm) instead of the concentration (mol/m³).
    pub cut_on_uv: bool,
    /// Cut levels in the signal's unit (mol/m³, or AU/cm for UV).
    pub start_above: f64,
    /// Level below which collection ends, after the peak (same unit as `start_above`).
    pub end_below: f64,
}

/// A whole column set-up in SI, validated: what [`super::simulate()`] runs.
/// Read one with [`super::load`]; the reader reports every bad field with its
/// file, line, expected and found value.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnSpec {
    /// Column name, as reported.
    pub name: String,
    /// Transport model (lumped rate without/with pores, general rate).
    pub model: TransportModel,
    /// Bed length L, m.
    pub length_m: f64,
    /// Bed cross-section A = π d²/4, m².
    pub cross_section_m2: f64,
    /// Volume fraction the liquid flows through: total porosity ε_t for the
    /// model without pores, bed (interstitial) porosity ε_c with pores.
    pub mobile_porosity: f64,
    /// Porous particles (models with pores); None for the model without pores.
    pub particle: Option<Particle>,
    /// Volumetric flow rate Q, m³/s (constant over the run).
    pub flow_rate_m3_per_s: f64,
    /// Liquid-phase components; component 0 is the salt or modulator for SMA and
    /// modulated Langmuir binding.
    pub components: Vec<Component>,
    /// Binding model with its parameters.
    pub isotherm: Isotherm,
    /// Binding at equilibrium at every instant (rapid equilibrium): q = q*(c),
    /// no bound states are integrated. With the lumped rate model without
    /// pores this is the equilibrium-dispersive model.
    pub rapid_equilibrium: bool,
    /// Initial bound states (mol/m³ solid), one per bound state of the isotherm.
    pub initial_bound_mol_per_m3: Vec<f64>,
    /// Inlet sections, in time order, contiguous from t = 0.
    pub sections: Vec<Section>,
    /// Axial mesh (fixed or error-controlled).
    pub discretisation: Discretisation,
    /// Integrator tolerances and output spacing.
    pub solver: SolverSettings,
    /// Pools cut from the outlet.
    pub pools: Vec<PoolSpec>,
}

impl ColumnSpec {
    /// Interstitial velocity u = Q / (A ε), ε the mobile porosity, m/s.
    pub fn interstitial_velocity_m_per_s(&self) -> f64 {
        self.flow_rate_m3_per_s / (self.cross_section_m2 * self.mobile_porosity)
    }

    /// Column volume A L, m³.
    pub fn column_volume_m3(&self) -> f64 {
        self.cross_section_m2 * self.length_m
    }

    /// Phase ratio F = (1 - ε)/ε of the mobile phase (ε_t or ε_c).
    pub fn phase_ratio(&self) -> f64 {
        (1.0 - self.mobile_porosity) / self.mobile_porosity
    }

    /// End of the last section, s (0 without sections).
    pub fn end_time_s(&self) -> f64 {
        self.sections.last().map(|s| s.end_s).unwrap_or(0.0)
    }
}
