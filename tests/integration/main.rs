//! Integration tests of the `biotwin` binary and the whole stack, one binary (as ripgrep does): each module
//! below was a test file of its own before the workspace split.

mod addresses;
mod calibration_file;
mod cho_comparison;
mod chromium;
mod cli_errors;
mod data_parquet;
mod evaluate_ladder;
mod feasibility;
mod fit_cli;
mod hybrid_cho;
mod indpensim;
mod live_crash;
mod live_end_to_end;
mod live_faults;
mod live_fleet;
mod live_indpensim_enkf;
mod live_page_chromium;
mod live_serve;
mod live_support;
mod live_surrogate;
mod nn_torch;
mod people_cli;
mod registry;
mod robust;
mod robust_fuzz;
mod serial_hybrid_cho;
mod structural_mismatch;
mod surrogates_nn;
mod tamper_support;
mod train_linfa;
mod transfer;
mod transfer_report;
mod transfer_report_chromium;
mod twin_end_to_end;
mod xing2010_depletion;
