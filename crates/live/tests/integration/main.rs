//! Integration tests of `biotwin-live`, one binary (as ripgrep does): each module
//! below was a test file of its own before the workspace split.

mod live_bands;
mod live_discrepancy;
mod live_indpensim;
mod live_mechanistic;
mod live_opcua;
mod live_people;
mod live_trajectory;
mod live_web;
mod pg_store;
mod robust_web;
