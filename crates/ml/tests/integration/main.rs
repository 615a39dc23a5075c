//! Integration tests of `biotwin-ml`, one binary (as ripgrep does): each module
//! below was a test file of its own before the workspace split.

mod data_indpensim;
mod data_readers;
mod data_writer;
mod datagen;
mod fit_cho;
mod fit_cho_fourth;
mod fit_cho_third;
mod fit_discrepancy;
mod fit_recovery;
mod hybrid;
mod hybrid_nn_rates;
mod indpensim_extra;
mod indpensim_forecast;
mod indpensim_hybrid;
mod noise_support;
mod structural_plant;
mod surrogates_artifact;
mod surrogates_fit_dataset;
mod surrogates_indpensim;
mod surrogates_linfa;
mod surrogates_sklearn;
mod surrogates_train;
