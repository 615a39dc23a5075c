//! biotwin-ml: batch-record datasets, ML surrogates (PLS, GP, neural
//! networks, hybrid models), the model registry and its audit log.

pub mod calibration;
pub mod data;
pub mod datagen;
pub mod indpensim_forecast;
pub mod registry;
pub mod surrogates;
