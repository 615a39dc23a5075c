//! Integration tests of `biotwin-downstream`, one binary (as ripgrep does): each module
//! below was a test file of its own before the workspace split.

mod downstream_balances;
mod downstream_column_analytic;
mod downstream_column_cadet;
mod downstream_column_grm;
mod downstream_column_inputs;
mod downstream_column_invalid;
mod downstream_column_sma;
mod downstream_column_stiff;
mod downstream_column_surface;
mod downstream_errors;
mod downstream_train;
