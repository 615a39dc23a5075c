//! The dual numbers of the one estimator (`biotwin_core::fit::dual`), re-exported
//! where the hybrids have always found them.

pub use biotwin_core::fit::dual::{Dual, Scalar};
