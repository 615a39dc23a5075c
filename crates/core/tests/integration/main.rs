//! Integration tests of `biotwin-core`, one binary (as ripgrep does): each module
//! below was a test file of its own before the workspace split.

mod analytic;
mod equipment;
mod indpensim_balance;
mod mass_balance;
mod montecarlo;
mod optimise;
mod platform_sensitivity;
mod platform_shape;
mod scaleup;
mod sensitivity;
mod sensitivity_salib;
mod xing2010_reference;
