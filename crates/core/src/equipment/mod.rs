//! Bioreactor equipment: one TOML file per vessel, validated into an SI model
//! of its geometry, impellers, sparger, operating limits and kLa correlation.
//!
//! File format and every correlation with its source: `docs/equipment.md`.
//!
//! | quantity | equation | source |
//! |---|---|---|
//! | liquid height H(V) | cylinder on a flat / semi-ellipsoidal / hemispherical head | [`geometry`] |
//! | ungassed power | `P₀ = Σ Np ρ N³ D⁵` (turbulent) | Rushton et al. 1950 |
//! | gassed power | Hughmark: `Pg/P₀ = 0.1 (Q/NV)^-¼ (N²D⁴/(g W V^⅔))^-⅕`, ≤ 1 | Hughmark 1980 |
//! | superficial gas velocity | `v_s = Q_actual / (π T²/4)` | definition |
//! | kLa | `kLa[1/h] = a (Pg/V)^α v_s^β` on the vessel's fitted range | van 't Riet 1979 form |
//! | mixing time | `θ95 = 5.2/N · Np^(-1/3) (T/D)² (H/T)^2.4` | Nienow 1997; Cooke et al. 1988 |
//!
//! Inside this module every quantity is SI (m, m³, Pa, s, W); rpm, litres,
//! bar and SLPM appear only in the file and in names that say so.

pub mod catalog;
pub mod file;
pub mod geometry;
pub mod kla;
pub mod power;
pub mod sources;
pub mod sparger;
pub mod validate;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::bioreactor::gas_transfer::{
    BROTH_DENSITY_KG_PER_M3, STANDARD_MOLAR_VOLUME_M3_PER_MOL, mean_liquid_pressure_pa,
};
use crate::definition::source::SourceFile;
use crate::error::Diagnostics;
use crate::units::GAS_CONSTANT;

pub use catalog::{list_catalog, resolve_equipment};
pub use file::VesselKind;
pub use geometry::{BottomShape, VesselGeometry};
pub use kla::KlaCorrelation;
pub use power::{Impeller, ImpellerType};
pub use sparger::{Sparger, SpargerType};

/// Mixing-time constant of the turbulent correlation
/// `N θ95 = 5.2 Np^(-1/3) (T/D)²` (Nienow, J. Biotechnol. 1997; Grenville &
/// Nienow, Handbook of Industrial Mixing, 2004).
pub const MIXING_TIME_CONSTANT: f64 = 5.2;
/// Exponent of the liquid-height correction `(H/T)^2.4` for tall, multi-
/// impeller tanks (Cooke, Middleton & Bush, Proc. 2nd Int. Conf. Bioreactor
/// Fluid Dynamics, 1988: θ ∝ (H/T)^2.43).
pub const MIXING_TIME_HEIGHT_EXPONENT: f64 = 2.4;

/// One validated vessel, SI inside.
#[derive(Debug, Clone, Serialize)]
pub struct Equipment {
    pub(crate) path: PathBuf,
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) kind: VesselKind,
    pub(crate) geometry: VesselGeometry,
    pub(crate) headspace_pressure_pa: f64,
    pub(crate) working_volume_m3: (f64, f64),
    pub(crate) impellers: Vec<Impeller>,
    pub(crate) sparger: Sparger,
    pub(crate) agitation_rps: (f64, f64),
    pub(crate) max_tip_speed_m_per_s: Option<f64>,
    pub(crate) kla: KlaCorrelation,
    pub(crate) sources: BTreeMap<String, String>,
}

impl Equipment {
    /// Reads and validates an equipment file; every problem is reported at once.
    pub fn load(path: &Path) -> Result<Equipment, Diagnostics> {
        let src = SourceFile::read(path)?;
        Self::from_source(&src)
    }

    /// Validates an equipment file already in memory (tests, embedded files).
    pub fn from_source(src: &SourceFile) -> Result<Equipment, Diagnostics> {
        let file: file::EquipmentFile = src.parse()?;
        validate::validate(src, file)
    }

    /// Equipment identifier.
    pub fn id(&self) -> &str {
        &self.id
    }
    /// Human-readable name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// What the vessel is made of.
    pub fn kind(&self) -> VesselKind {
        self.kind
    }
    /// The file this equipment was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// Tank geometry.
    pub fn geometry(&self) -> &VesselGeometry {
        &self.geometry
    }
    /// Impellers on the shaft, bottom first.
    pub fn impellers(&self) -> &[Impeller] {
        &self.impellers
    }
    /// The sparger.
    pub fn sparger(&self) -> &Sparger {
        &self.sparger
    }
    /// The kLa correlation.
    pub fn kla_correlation(&self) -> &KlaCorrelation {
        &self.kla
    }
    /// The `[sources]` table: field path → where the number comes from.
    pub fn sources(&self) -> &BTreeMap<String, String> {
        &self.sources
    }
    /// Inner tank diameter T, m.
    pub fn tank_diameter_m(&self) -> f64 {
        self.geometry.tank_diameter_m
    }

    /// Liquid height above the lowest point of the vessel, m.
    pub fn liquid_height_m(&self, volume_m3: f64) -> f64 {
        self.geometry.liquid_height_m(volume_m3)
    }

    /// Cross-section of the cylindrical part, m².
    pub fn cross_section_m2(&self) -> f64 {
        self.geometry.cross_section_m2()
    }

    /// Absolute head-space pressure, Pa.
    pub fn headspace_pressure_pa(&self) -> f64 {
        self.headspace_pressure_pa
    }

    /// Mean absolute pressure in the liquid (head space + ρ g H / 2), Pa.
    pub fn mean_liquid_pressure_pa(&self, volume_m3: f64) -> f64 {
        mean_liquid_pressure_pa(self.headspace_pressure_pa, self.liquid_height_m(volume_m3))
    }

    /// The largest impeller diameter, m: the reference length for tip speed,
    /// Reynolds number and mixing time.
    pub fn reference_impeller_diameter_m(&self) -> f64 {
        self.impellers
            .iter()
            .map(|i| i.diameter_m)
            .fold(0.0, f64::max)
    }

    /// Power number of the whole shaft referred to the reference diameter:
    /// `Σ Np_i (D_i/D_ref)⁵`, so that `P₀ = Np_eff ρ N³ D_ref⁵`.
    pub fn effective_power_number(&self) -> f64 {
        let d_ref = self.reference_impeller_diameter_m();
        self.impellers
            .iter()
            .map(|i| i.power_number * (i.diameter_m / d_ref).powi(5))
            .sum()
    }

    /// Ungassed turbulent power summed over the impellers, `Σ Np ρ N³ D⁵`, W.
    /// Valid for Re > 10⁴; below it Np depends on Re (see docs/equipment.md).
    pub fn ungassed_power_w(&self, agitation_rps: f64, density_kg_per_m3: f64) -> f64 {
        self.impellers
            .iter()
            .map(|i| i.ungassed_power_w(agitation_rps, density_kg_per_m3))
            .sum()
    }

    /// Gassed power (Hughmark 1980 per impeller, ratio capped at 1), W.
    /// `gas_flow_m3_per_s` is the actual volumetric flow in the liquid. The
    /// liquid volume in Hughmark's groups is taken at the maximum working
    /// volume; use [`Equipment::gassed_power_at_volume_w`] for another volume.
    pub fn gassed_power_w(
        &self,
        agitation_rps: f64,
        gas_flow_m3_per_s: f64,
        density_kg_per_m3: f64,
    ) -> f64 {
        self.gassed_power_at_volume_w(
            agitation_rps,
            gas_flow_m3_per_s,
            self.working_volume_m3.1,
            density_kg_per_m3,
        )
    }

    /// Gassed power at a given liquid volume, W.
    pub fn gassed_power_at_volume_w(
        &self,
        agitation_rps: f64,
        gas_flow_m3_per_s: f64,
        volume_m3: f64,
        density_kg_per_m3: f64,
    ) -> f64 {
        self.impellers
            .iter()
            .map(|i| {
                i.ungassed_power_w(agitation_rps, density_kg_per_m3)
                    * i.gassed_power_ratio(agitation_rps, gas_flow_m3_per_s, volume_m3)
            })
            .sum()
    }

    /// Superficial gas velocity: actual gas flow over the cross-section, m/s.
    pub fn superficial_gas_velocity_m_per_s(&self, gas_flow_m3_per_s: f64) -> f64 {
        gas_flow_m3_per_s / self.cross_section_m2()
    }

    /// Actual volumetric gas flow in the liquid (at `temperature_k` and the
    /// mean liquid pressure) of a flow given in SLPM (0 °C, 1 atm), m³/s.
    pub fn actual_gas_flow_m3_per_s(&self, slpm: f64, temperature_k: f64, volume_m3: f64) -> f64 {
        let mol_per_s = slpm * 1e-3 / 60.0 / STANDARD_MOLAR_VOLUME_M3_PER_MOL;
        mol_per_s * GAS_CONSTANT * temperature_k / self.mean_liquid_pressure_pa(volume_m3)
    }

    /// Inverse of [`Equipment::actual_gas_flow_m3_per_s`]: SLPM for an actual flow.
    pub fn slpm_for_actual_flow(
        &self,
        flow_m3_per_s: f64,
        temperature_k: f64,
        volume_m3: f64,
    ) -> f64 {
        let mol_per_s = flow_m3_per_s * self.mean_liquid_pressure_pa(volume_m3)
            / (GAS_CONSTANT * temperature_k);
        mol_per_s * STANDARD_MOLAR_VOLUME_M3_PER_MOL * 1e3 * 60.0
    }

    /// kLa for O₂ from the vessel's correlation with gassed P/V, 1/s.
    /// Broth density is [`BROTH_DENSITY_KG_PER_M3`].
    pub fn kla_o2_per_s(&self, agitation_rps: f64, gas_flow_m3_per_s: f64, volume_m3: f64) -> f64 {
        let pg = self.gassed_power_at_volume_w(
            agitation_rps,
            gas_flow_m3_per_s,
            volume_m3,
            BROTH_DENSITY_KG_PER_M3,
        );
        let v_s = self.superficial_gas_velocity_m_per_s(gas_flow_m3_per_s);
        self.kla.kla_per_h(pg / volume_m3, v_s) / 3600.0
    }

    /// Impeller tip speed `π N D_ref`, m/s.
    pub fn tip_speed_m_per_s(&self, agitation_rps: f64) -> f64 {
        std::f64::consts::PI * agitation_rps * self.reference_impeller_diameter_m()
    }

    /// Impeller Reynolds number `ρ N D_ref² / μ`.
    pub fn reynolds(&self, agitation_rps: f64, density_kg_per_m3: f64, viscosity_pa_s: f64) -> f64 {
        density_kg_per_m3 * agitation_rps * self.reference_impeller_diameter_m().powi(2)
            / viscosity_pa_s
    }

    /// `N θ95`: the dimensionless mixing time of this geometry at a volume.
    pub fn mixing_number(&self, volume_m3: f64) -> f64 {
        let t = self.tank_diameter_m();
        let d = self.reference_impeller_diameter_m();
        let h = self.liquid_height_m(volume_m3);
        MIXING_TIME_CONSTANT
            * self.effective_power_number().powf(-1.0 / 3.0)
            * (t / d).powi(2)
            * (h / t).powf(MIXING_TIME_HEIGHT_EXPONENT)
    }

    /// 95 % mixing time, s (turbulent regime).
    pub fn mixing_time_s(&self, agitation_rps: f64, volume_m3: f64) -> f64 {
        self.mixing_number(volume_m3) / agitation_rps
    }

    /// Smallest and largest working volume, m³.
    pub fn working_volume_range_m3(&self) -> (f64, f64) {
        self.working_volume_m3
    }
    /// Lowest and highest agitation, revolutions per second.
    pub fn agitation_range_rps(&self) -> (f64, f64) {
        self.agitation_rps
    }
    /// Lowest and highest sparge gas flow, standard L/min.
    pub fn gas_flow_range_slpm(&self) -> (f64, f64) {
        (
            self.sparger.gas_flow_min_slpm,
            self.sparger.gas_flow_max_slpm,
        )
    }
    /// Highest allowed impeller tip speed, m/s, if the file sets one.
    pub fn max_tip_speed_m_per_s(&self) -> Option<f64> {
        self.max_tip_speed_m_per_s
    }
}
