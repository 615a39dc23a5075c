//! A validated column set-up in SI units: what [`super::simulate`] runs.
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

#[derive(Debug, Clone, PartialEq)]
pub struct Component {
    pub name: String,
    /// kg/mol, for reporting masses; None for species on an arbitrary scale.
    pub molecular_weight_kg_per_mol: Option<f64>,
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
    pub name: String,
    pub start_s: f64,
    pub end_s: f64,
    /// `coefficients[k][i]`: coefficient of τ^k for component i (mol/m³/s^k).
    pub coefficients: [Vec<f64>; 4],
}

impl Section {
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
    pub const DEFAULT_FIRST_ELEMENTS: usize = 8;
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SolverSettings {
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
    pub name: String,
    pub component: usize,
    pub section: usize,
    /// Cut on the UV trace (AU/cm) instead of the concentration (mol/m³).
    pub cut_on_uv: bool,
    /// Cut levels in the signal's unit (mol/m³, or AU/cm for UV).
    pub start_above: f64,
    pub end_below: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ColumnSpec {
    pub name: String,
    pub model: TransportModel,
    pub length_m: f64,
    pub cross_section_m2: f64,
    /// Volume fraction the liquid flows through: total porosity ε_t for the
    /// model without pores, bed (interstitial) porosity ε_c with pores.
    pub mobile_porosity: f64,
    /// Porous particles (models with pores); None for the model without pores.
    pub particle: Option<Particle>,
    pub flow_rate_m3_per_s: f64,
    pub components: Vec<Component>,
    pub isotherm: Isotherm,
    /// Binding at equilibrium at every instant (rapid equilibrium): q = q*(c),
    /// no bound states are integrated. With the lumped rate model without
    /// pores this is the equilibrium-dispersive model.
    pub rapid_equilibrium: bool,
    /// Initial bound states (mol/m³ solid), one per bound state of the isotherm.
    pub initial_bound_mol_per_m3: Vec<f64>,
    pub sections: Vec<Section>,
    pub discretisation: Discretisation,
    pub solver: SolverSettings,
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

    pub fn end_time_s(&self) -> f64 {
        self.sections.last().map(|s| s.end_s).unwrap_or(0.0)
    }
}
