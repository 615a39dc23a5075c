//! Chromatography column models: transport, discretisation, integration.
//!
//! * [`spec`]: the validated set-up in SI ([`ColumnSpec`]).
//! * [`mod@file`]: the column TOML file ([`load`] = read + validate).
//! * [`lgl`], [`dg`]: the DG spectral element discretisation in z.
//! * [`system`]: the semi-discrete lumped rate model and its Jacobian.
//! * [`linsolve`]: the sparse LU of the Newton systems.
//! * [`simulate()`]: BDF integration over inlet sections → [`ColumnResult`].

pub mod dg;
pub mod file;
pub mod lgl;
pub mod linsolve;
pub mod particle;
pub mod plot;
pub mod radau;
pub mod result;
pub mod simulate;
pub mod spec;
pub mod system;

pub use file::{load, parse_column_text};
pub use plot::write_chromatogram_svg;
pub use result::{ColumnResult, ComponentBalance, MeshReport, Pool};
pub use simulate::simulate;
pub use spec::ColumnSpec;
