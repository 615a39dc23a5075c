//! Mass balances of the platform model close to 1e-8 relative: what is in
//! the vessel plus what was sampled equals what was there at the start plus
//! what was fed plus what was made (or minus what was consumed), for
//! product, cells, glucose and volume. Feeds and samples come from the
//! simulator's exact ledger; reaction totals from the model's cumulative
//! states, integrated with the rest.

use std::path::Path;

use biotwin_core::bioreactor::platform::{self as pf, ChoPlatform};
use biotwin_core::bioreactor::simulate::{RunOptions, run};
use biotwin_core::simulation::{AnyModel, Scenario, load_process};
use biotwin_core::solver::{Method, Tolerances};

fn platform_run(
    process: &str,
) -> (
    biotwin_core::bioreactor::simulate::Run<{ pf::N }>,
    ChoPlatform,
    Scenario,
) {
    let def = load_process(Path::new(process)).unwrap();
    let s = Scenario::from_definition(&def).unwrap();
    let AnyModel::ChoPlatform(model) = s.model() else {
        panic!("platform model expected")
    };
    let opts = RunOptions {
        method: Method::Dopri5,
        tolerances: Tolerances {
            rtol: 1e-11,
            atol: 1e-13,
            ..Tolerances::default()
        },
        output_interval_s: None,
    };
    let r = run(&model, &s.recipe, &opts).unwrap();
    (r, model, s)
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs().max(1e-300)
}

fn check(process: &str) {
    let (r, m, s) = platform_run(process);
    let (y0, y, fed, sampled) = (r.initial, r.final_state, r.ledger.fed, r.ledger.sampled);
    let v0 = y0[pf::V];
    let v = y[pf::V];

    // Volume: start + feeds + base − samples.
    let lhs = v + sampled[pf::V];
    let rhs = v0 + fed[pf::V] + y[pf::CUM_BASE];
    assert!(
        rel(lhs, rhs) < 1e-8,
        "volume: {lhs} vs {rhs} ({:.2e})",
        rel(lhs, rhs)
    );

    // Product: in vessel + sampled = initial + made.
    let lhs = y[pf::P] * v + sampled[pf::P];
    let rhs = y0[pf::P] * v0 + y[pf::CUM_PRODUCT];
    assert!(
        rel(lhs, rhs) < 1e-8,
        "product: {lhs} vs {rhs} ({:.2e})",
        rel(lhs, rhs)
    );

    // Cells: viable + dead + sampled + lysed = initial + grown.
    let lhs = (y[pf::XV] + y[pf::XD]) * v + sampled[pf::XV] + sampled[pf::XD] + y[pf::CUM_LYSED];
    let rhs = (y0[pf::XV] + y0[pf::XD]) * v0 + y[pf::CUM_GROWN];
    assert!(
        rel(lhs, rhs) < 1e-8,
        "cells: {lhs} vs {rhs} ({:.2e})",
        rel(lhs, rhs)
    );

    // Glucose: in vessel + sampled + consumed = initial + fed.
    let lhs = y[pf::GLC] * v + sampled[pf::GLC] + y[pf::CUM_GLC];
    let rhs = y0[pf::GLC] * v0 + fed[pf::GLC];
    assert!(
        rel(lhs, rhs) < 1e-8,
        "glucose: {lhs} vs {rhs} ({:.2e})",
        rel(lhs, rhs)
    );

    // The ledger must have seen real feeding and sampling for this to mean anything.
    assert!(
        fed[pf::GLC] > 0.1 * y0[pf::GLC] * v0,
        "recipe feeds glucose"
    );
    assert!(
        sampled[pf::V] > 0.0 || s.recipe.initial_volume_m3 > 1.0,
        "bench recipe samples"
    );
    let _ = m;
}

#[test]
fn platform_mass_balances_close_on_the_3l_process() {
    check(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../process-models/processes/cho-platform-3l.toml"
    ));
}

#[test]
fn platform_mass_balances_close_on_the_2000l_process() {
    check(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../process-models/processes/cho-platform-2000l.toml"
    ));
}

#[test]
fn a_broken_balance_would_be_detected() {
    // The same bookkeeping with the sampled amounts left out must fail:
    // proof that the balance test is sensitive to what it checks.
    let (r, _, _) = platform_run(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../process-models/processes/cho-platform-3l.toml"
    ));
    let (y0, y) = (r.initial, r.final_state);
    let lhs = y[pf::P] * y[pf::V];
    let rhs = y0[pf::P] * y0[pf::V] + y[pf::CUM_PRODUCT];
    assert!(rel(lhs, rhs) > 1e-6, "sampling removes measurable product");
}
