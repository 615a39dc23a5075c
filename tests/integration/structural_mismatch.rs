//! The pre-registered comparison on a plant whose *structure* differs from
//! the backbone (docs/hybrid.md, "The comparison on a structurally
//! different plant"; issue 20 item 4): the plant is regenerated here
//! (`datagen::structural`: a lactate shift at a hidden per-batch cumulative
//! glucose uptake per cell, death k_d (1 + (Amm/5 mM)²)), then PLS (2
//! components), the GP, the parallel hybrid with PLS(2) residuals, the
//! calibrated serial hybrid (`cho_default`) and the conditioned serial
//! hybrid (`cho_conditioned(0.5)`) are each trained once on the 24
//! training batches and scored on the interior B21–B26 and edge B31–B36
//! batches, with exactly the settings of the comparisons on `cho-platform`
//! (`cho_comparison`). The mechanistic model is the nominal platform model
//! (the dataset's `mechanistic.toml` is `cho-platform`'s).

use std::path::Path;

use crate::cho_comparison::{
    EDGE, INTERIOR, TARGETS, at_stated, gp, rmse_of, serial_rmse, spec, train_set, trained,
};

use biotwin::data::Dataset;
use biotwin::datagen::structural::StructuralPlant;
use biotwin::datagen::{ChoDoeOptions, Plant, write_cho_dataset};
use biotwin::surrogates::hybrid::calibrated::{CalibratedParams, CalibratedSerialHybrid};
use biotwin::surrogates::hybrid::parallel::Corrector;
use biotwin::surrogates::hybrid::residual::ResidualParams;
use biotwin::surrogates::pls::PlsParams;
use biotwin::surrogates::train::ModelChoice;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The structural plant's dataset, regenerated into `dir` with the
/// nominal model's `mechanistic.toml` (the process path made absolute).
fn regenerate(dir: &Path) -> Dataset {
    let mut o = ChoDoeOptions::new(format!(
        "{ROOT}/training-data/cho-structural/backbone/cho-platform-3l.toml"
    ));
    o.plant = Plant::Structural(StructuralPlant::protocol());
    write_cho_dataset(dir, &o).unwrap();
    let mech = std::fs::read_to_string(format!(
        "{ROOT}/training-data/cho-structural/mechanistic.toml"
    ))
    .unwrap()
    .replace(
        "\"backbone/cho-platform-3l.toml\"",
        &format!("\"{ROOT}/training-data/cho-structural/backbone/cho-platform-3l.toml\""),
    );
    assert!(
        mech.contains(ROOT),
        "mechanistic.toml names the backbone process"
    );
    std::fs::write(dir.join("mechanistic.toml"), mech).unwrap();
    let ds = Dataset::load(dir).unwrap_or_else(|e| panic!("{e}"));
    let shipped = Dataset::load(format!("{ROOT}/training-data/cho-structural")).unwrap();
    assert_eq!(
        ds.content_hash, shipped.content_hash,
        "rebuild training-data/cho-structural"
    );
    ds
}

/// RMSE rows (model, interior per target, edge per target) of the five
/// pre-registered models, each trained once.
fn comparison(ds: &Dataset, data: &Path) -> Vec<(&'static str, Vec<f64>, Vec<f64>)> {
    let (plain, hyb) = (spec(data, &TARGETS, false), spec(data, &TARGETS, true));
    let (nf, nh, q) = (
        plain.feature_names().len(),
        hyb.feature_names().len(),
        TARGETS.len(),
    );
    let mut rows = Vec::new();
    for (name, s, c) in [
        ("PLS (2 comp.)", &plain, ModelChoice::Pls(PlsParams::new(2))),
        ("GP (RBF, ML-II)", &plain, ModelChoice::Gp(gp(nf))),
        (
            "parallel hybrid, PLS(2) residuals",
            &hyb,
            ModelChoice::Hybrid(ResidualParams {
                corrector: Corrector::Pls(PlsParams::new(2)),
                mechanistic_columns: (nh - q..nh).collect(),
            }),
        ),
    ] {
        let art = trained(ds, s, &c);
        rows.push((name, rmse_of(&art, ds, &INTERIOR), rmse_of(&art, ds, &EDGE)));
    }
    let mech = hyb.mechanistic.as_ref().unwrap();
    let fit_on = train_set(ds);
    assert_eq!(fit_on.len(), 24);
    for (name, params) in [
        (
            "calibrated serial hybrid (cho_default)",
            CalibratedParams::cho_default(),
        ),
        (
            "conditioned serial hybrid (cho_conditioned(0.5))",
            CalibratedParams::cho_conditioned(0.5),
        ),
    ] {
        let model = CalibratedSerialHybrid::fit(
            mech,
            &fit_on,
            &crate::cho_comparison::names(&TARGETS),
            &params,
            data,
        )
        .expect("serial hybrid fits");
        rows.push((
            name,
            serial_rmse(ds, data, &model, &TARGETS, &INTERIOR),
            serial_rmse(ds, data, &model, &TARGETS, &EDGE),
        ));
    }
    rows
}

#[test]
fn pre_registered_comparison_on_a_structurally_different_plant() {
    let dir = tempfile::tempdir().unwrap();
    let ds = regenerate(dir.path());
    let rows = comparison(&ds, dir.path());
    println!("RMSE (SI: titer, HCP kg/m3 = g/L; fractions): interior B21–B26 | edge B31–B36");
    println!(
        "  {:50} {:>22} {:>22} {:>22} {:>22}",
        "model", TARGETS[0], TARGETS[1], TARGETS[2], TARGETS[3]
    );
    for (name, ri, re) in &rows {
        let cells: Vec<String> = (0..TARGETS.len())
            .map(|j| format!("{:.4e} | {:.4e}", ri[j], re[j]))
            .collect();
        println!(
            "  {name:50} {:>22} {:>22} {:>22} {:>22}",
            cells[0], cells[1], cells[2], cells[3]
        );
    }
    // The claim, as the protocol defines it: a hybrid's edge-batch final
    // titer RMSE below both PLS's and GP's.
    let (pls, gp_) = (rows[0].2[0], rows[1].2[0]);
    let best_hybrid = rows[2..]
        .iter()
        .map(|r| r.2[0])
        .fold(f64::INFINITY, f64::min);
    let holds = best_hybrid < pls && best_hybrid < gp_;
    println!(
        "claim \"a hybrid beats PLS and GP on edge-batch final titer\": {} (best hybrid {best_hybrid:.4}, PLS {pls:.4}, GP {gp_:.4})",
        if holds { "holds" } else { "does not hold" }
    );
    for (_, ri, re) in &rows {
        assert!(ri.iter().chain(re).all(|v| v.is_finite() && *v > 0.0));
    }
    // The first run (2026-12-05, after commit 68568a6 fixed the plant and
    // the settings; docs/hybrid.md), each figure as docs/hybrid.md states
    // it (3 significant digits) within 1 %: a regression moves it.
    for (row, (name, interior, edge)) in rows.iter().zip(FIRST_RUN) {
        assert_eq!(row.0, name);
        for j in 0..TARGETS.len() {
            at_stated(
                &format!("{name}, {}, interior", TARGETS[j]),
                row.1[j],
                interior[j],
            );
            at_stated(&format!("{name}, {}, edge", TARGETS[j]), row.2[j], edge[j]);
        }
    }
    // The verdict of the first run: the claim holds (conditioned serial
    // hybrid 0.255 and parallel hybrid 0.388 g/L against PLS 0.579 and GP
    // 0.962); the calibrated serial hybrid (1.05) loses to both.
    assert!(holds);
    for (k, wins) in [(2, true), (3, false), (4, true)] {
        assert_eq!(
            rows[k].2[0] < pls && rows[k].2[0] < gp_,
            wins,
            "{}",
            rows[k].0
        );
    }
}

/// RMSE of the first run, as docs/hybrid.md reports it: (model, interior
/// B21–B26, edge B31–B36), targets in `TARGETS` order (final titer and HCP
/// kg/m³ = g/L; galactosylated and acidic variants as fractions).
#[rustfmt::skip]
const FIRST_RUN: [(&str, [f64; 4], [f64; 4]); 5] = [
    ("PLS (2 comp.)", [0.407, 0.0193, 0.0121, 0.0197], [0.579, 0.0362, 0.00776, 0.0129]),
    ("GP (RBF, ML-II)", [0.262, 0.0157, 0.0140, 0.0238], [0.962, 0.0323, 0.0145, 0.0234]),
    ("parallel hybrid, PLS(2) residuals", [0.442, 0.0206, 0.0120, 0.0209], [0.388, 0.0300, 0.0114, 0.00962]),
    ("calibrated serial hybrid (cho_default)", [0.425, 0.0163, 0.0104, 0.0336], [1.05, 0.0303, 0.0115, 0.0140]),
    ("conditioned serial hybrid (cho_conditioned(0.5))", [0.194, 0.0158, 0.0100, 0.0334], [0.255, 0.0282, 0.0118, 0.0216]),
];
