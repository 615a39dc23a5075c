//! Scale-up calculator: translates an operating point from a source vessel to
//! a target vessel under every common criterion and shows, side by side, what
//! each criterion does to everything else.
//!
//! Rules (equations and sources in `docs/scale-up.md`):
//!
//! | criterion | target agitation | target gas flow |
//! |---|---|---|
//! | `p_per_v` | equal ungassed P/V: `N = (P/V · V / Σ Np ρ D⁵)^(1/3)` | equal vvm |
//! | `tip_speed` | `N = u_tip / (π D)` | equal vvm |
//! | `kla` | solved: `kLa_t(N) = kLa_s` | equal vvm |
//! | `otr` | solved: `kLa_t(N) (C*_t − C_L) = kLa_s (C*_s − C_L)` | equal vvm |
//! | `vvm` | equal ungassed P/V | equal vvm |
//! | `v_s` | equal ungassed P/V | equal superficial velocity |
//! | `mixing_time` | `N = (N θ95)_t / θ95_s` | equal vvm |
//! | `reynolds` | `N = Re μ / (ρ D²)` | equal vvm |
//! | `constant_n` | equal N | equal vvm |
//!
//! For every column it reports agitation, power (ungassed and gassed), P/V,
//! tip speed, Reynolds number, mixing time, kLa, superficial gas velocity,
//! vvm, Kolmogorov length, O₂ transfer capacity with air and the steady-state
//! pCO₂ at peak O₂ demand, and flags values outside the vessel's limits or the
//! kLa fit's range.

pub mod conditions;
pub mod criterion;
pub mod operating_point;
pub mod report;
pub mod solve;
pub mod table;
pub mod volume;

pub use conditions::{Flag, VesselConditions};
pub use criterion::Criterion;
pub use operating_point::{OperatingPoint, ScaleUpParameters};
pub use report::{
    CriterionResult, ScaleUpReport, TranslatedSetPoints, VesselSummary, scale_up, translate,
};
pub use table::render_table;
pub use volume::default_target_volume_m3;
