//! The dual numbers of the one estimator (`crate::fit::dual`), re-exported
//! where the hybrids have always found them.

pub use crate::fit::dual::{Dual, Scalar};
