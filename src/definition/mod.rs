//! Process-model definition files: kinetic models, recipes, equipment and
//! specifications, read with serde and validated with precise diagnostics.

pub mod source;
