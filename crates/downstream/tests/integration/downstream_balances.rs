//! Unit-operation balances checked against independently computed amounts.
//!
//! Every step reports its waste from its own mechanism (retained liquid and
//! filter adsorption, unrecovered fractions, permeate integrated beside the
//! retentate, hold-up), so in + formed − out − waste = 0 compares two
//! computations. Here, on the shipped example train and on single steps:
//! waste is never negative, no species is created (only low pH converts
//! monomer to aggregate, and the total is unchanged), species and liquid
//! balances close, and the waste of each step equals what the test computes
//! from the step's parameters in closed form (analytic UF/DF permeate
//! included).

use std::path::PathBuf;

use biotwin_downstream::train::{TrainStep, load_train, run_train};
use biotwin_downstream::unit_ops::polishing::ClearanceStep;
use biotwin_downstream::unit_ops::step::StepReport;
use biotwin_downstream::unit_ops::stream::{AGGREGATE, DNA, HCP, MONOMER, SPECIES, Stream};

fn root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// Relative agreement of a step's figure with the independently computed one.
fn close(what: &str, ours: f64, expected: f64, rel: f64) {
    let scale = expected.abs().max(1e-300);
    assert!(
        (ours - expected).abs() <= rel * scale,
        "{what}: step {ours:e}, computed {expected:e} (rel {:e}, bound {rel:e})",
        (ours - expected).abs() / scale
    );
}

/// The invariants every step must satisfy.
fn check_invariants(r: &StepReport) {
    for k in 0..4 {
        assert!(
            r.waste.mass_kg[k] >= 0.0,
            "{}: negative waste of {}: {:e}",
            r.name,
            SPECIES[k],
            r.waste.mass_kg[k]
        );
        // Nothing leaves the step that was not in it or formed in it.
        assert!(
            r.output.mass_kg[k] <= r.input.mass_kg[k] + r.formed_kg[k].max(0.0),
            "{}: {} created",
            r.name,
            SPECIES[k]
        );
    }
    assert!(
        r.waste.volume_m3 >= 0.0,
        "{}: negative waste volume",
        r.name
    );
    assert!(r.buffer_added_m3 >= 0.0, "{}: negative buffer", r.name);
    // Conversion only: what one species gains another loses.
    let net: f64 = r.formed_kg.iter().sum();
    assert!(
        net.abs() <= 1e-15 * r.input.product_kg(),
        "{}: net mass formed {net:e}",
        r.name
    );
    for k in [HCP, DNA] {
        assert_eq!(r.formed_kg[k], 0.0, "{}: {} formed", r.name, SPECIES[k]);
    }
    for (s, d) in r.mass_balance_defects() {
        assert!(d.abs() < 1e-12, "{}: {s} balance defect {d:e}", r.name);
    }
    let dv = r.volume_balance_defect();
    assert!(dv.abs() < 1e-12, "{}: volume balance defect {dv:e}", r.name);
}

#[test]
fn every_step_of_the_example_train_balances_against_its_own_waste() {
    let train = load_train(root().join("process-models/downstream/cho_mab_train.toml")).unwrap();
    let result = run_train(&train).unwrap();
    assert_eq!(result.steps.len(), 6);
    for r in &result.steps {
        check_invariants(r);
    }
    // Steps chain: each step's input is the previous step's output.
    for w in result.steps.windows(2) {
        assert_eq!(w[0].output, w[1].input);
    }
    // The train as a whole: harvest + formed = drug substance + all waste.
    let harvest = &result.steps[0].input;
    for k in 0..4 {
        let formed: f64 = result.steps.iter().map(|s| s.formed_kg[k]).sum();
        let waste: f64 = result.steps.iter().map(|s| s.waste.mass_kg[k]).sum();
        let lhs = harvest.mass_kg[k] + formed;
        let rhs = result.drug_substance.mass_kg[k] + waste;
        close(&format!("train {}", SPECIES[k]), rhs, lhs, 1e-12);
    }

    // Each step's waste against the closed form from its parameters.
    for (step, r) in train.steps.iter().zip(&result.steps) {
        let m = r.input.mass_kg;
        let v = r.input.volume_m3;
        match step {
            TrainStep::Clarification(c) => {
                let y = c.product_yield;
                close(
                    "clarification volume",
                    r.waste.volume_m3,
                    (1.0 - y) * v,
                    1e-14,
                );
                close(
                    "clarification monomer",
                    r.waste.mass_kg[MONOMER],
                    0.05 * m[MONOMER],
                    1e-12,
                );
                // Retained 5 % of the liquid, plus 20 % of the HCP (1 log of
                // the DNA) in the 95 % that passed the depth filter.
                close(
                    "clarification HCP",
                    r.waste.mass_kg[HCP],
                    (0.05 + 0.95 * 0.2) * m[HCP],
                    1e-12,
                );
                close(
                    "clarification DNA",
                    r.waste.mass_kg[DNA],
                    (0.05 + 0.95 * 0.9) * m[DNA],
                    1e-12,
                );
            }
            TrainStep::ProteinA(p) => {
                // 9.5 kg loaded at 0.8 x 55 g/L x 60 L per cycle: 4 cycles;
                // the load liquid and 4 x (15 - 3) CV of wash/strip to waste.
                let cycles = 4.0;
                assert_eq!((9.5f64 / (0.8 * 55.0 * 0.060)).ceil(), cycles);
                close(
                    "protein A waste volume",
                    r.waste.volume_m3,
                    v + cycles * (15.0 - 3.0) * 0.060,
                    1e-12,
                );
                close(
                    "protein A buffer",
                    r.buffer_added_m3,
                    cycles * 15.0 * 0.060,
                    1e-12,
                );
                close(
                    "protein A monomer",
                    r.waste.mass_kg[MONOMER],
                    0.04 * m[MONOMER],
                    1e-12,
                );
                close(
                    "protein A HCP",
                    r.waste.mass_kg[HCP],
                    (1.0 - 10f64.powf(-2.5)) * m[HCP],
                    1e-12,
                );
                close("protein A DNA", r.waste.mass_kg[DNA], 0.999 * m[DNA], 1e-12);
                assert_eq!(p.product_yield, 0.96);
            }
            TrainStep::ViralInactivation(h) => {
                // k_agg = 0.003 /h at the reference pH and temperature.
                let k = 0.003 / 3600.0;
                let converted = m[MONOMER] * (1.0 - (-k * 3600.0f64).exp());
                close(
                    "low-pH aggregate formed",
                    r.formed_kg[AGGREGATE],
                    converted,
                    1e-12,
                );
                close(
                    "low-pH monomer waste",
                    r.waste.mass_kg[MONOMER],
                    0.01 * (m[MONOMER] - converted),
                    1e-12,
                );
                close("low-pH volume waste", r.waste.volume_m3, 0.01 * v, 1e-12);
                close("low-pH titrant", r.buffer_added_m3, 0.99 * 0.05 * v, 1e-12);
                assert_eq!(h.product_yield, 0.99);
            }
            TrainStep::Polishing(p, column) => {
                let rec = [
                    p.monomer_yield,
                    p.aggregate_yield,
                    10f64.powf(-p.hcp_lrv),
                    10f64.powf(-p.dna_lrv),
                ];
                // CEX: monomer and aggregate recoveries are the SMA column
                // pool's amount over the amount loaded (components 1 and 2).
                let pool = |k: usize| {
                    let c = result.cex_column.as_ref().expect("CEX column run");
                    let i = c
                        .component_names
                        .iter()
                        .position(|n| n == SPECIES[k])
                        .unwrap();
                    c.pools[0].amount_mol[i] / c.mass_balance[i].inlet_mol
                };
                for k in 0..4 {
                    let expected = if column.is_some() && k < 2 {
                        pool(k)
                    } else {
                        rec[k]
                    };
                    close(
                        &format!("{} {}", r.name, SPECIES[k]),
                        r.waste.mass_kg[k],
                        (1.0 - expected) * m[k],
                        1e-12,
                    );
                }
            }
            TrainStep::UfDf(u) => {
                // Protein fully retained (S = 0); HCP with S = 0.05 through
                // UF1 (V0 -> V1: m (V1/V0)^S), DF (N diavolumes at V1:
                // e^{-S N}) and UF2 (V1 -> V2); then 2 % hold-up.
                let protein = m[MONOMER] + m[AGGREGATE];
                let (v1, v2) = (protein / 60.0, protein / 120.0);
                let s = u.sieving[HCP];
                assert_eq!(s, 0.05);
                let left = m[HCP] * (v1 / v).powf(s) * (-s * 8.0f64).exp() * (v2 / v1).powf(s);
                let permeate = m[HCP] - left;
                close(
                    "UF/DF HCP waste",
                    r.waste.mass_kg[HCP],
                    permeate + 0.02 * left,
                    1e-8,
                );
                close(
                    "UF/DF monomer waste",
                    r.waste.mass_kg[MONOMER],
                    0.02 * m[MONOMER],
                    1e-9,
                );
                // Liquid: permeate of UF1 + DF (8 V1) + UF2, plus 2 % of V2.
                let permeate_v = (v - v1) + 8.0 * v1 + (v1 - v2);
                close(
                    "UF/DF volume waste",
                    r.waste.volume_m3,
                    permeate_v + 0.02 * v2,
                    1e-9,
                );
                close("UF/DF buffer", r.buffer_added_m3, 8.0 * v1, 1e-9);
            }
        }
    }
}

/// The balance compares two computations: an output that does not match the
/// step's own waste shows up as a defect, and an impossible recovery as
/// negative waste.
#[test]
fn a_step_that_creates_mass_is_caught() {
    let input = Stream {
        volume_m3: 1.0,
        mass_kg: [10.0, 0.3, 1e-3, 1e-5],
        log10_virus: 8.0,
    };
    let step = ClearanceStep {
        name: "AEX".into(),
        monomer_yield: 0.98,
        aggregate_yield: 0.9,
        hcp_lrv: 1.5,
        dna_lrv: 3.0,
        virus_lrv: 5.0,
        volume_ratio: 1.1,
        flow_rate_m3_per_s: 1e-4,
    };
    let mut r = step.run(&input);
    check_invariants(&r);
    // An output path that mislaid 1 % of the HCP: the defect is 1e-2 of the
    // input, not zero (it would be zero with waste = input − output).
    r.output.mass_kg[HCP] *= 1.01;
    let d = r.mass_balance_defects()[HCP].1;
    assert!((d + 0.01 * 10f64.powf(-1.5)).abs() < 1e-12, "{d:e}");
    // A recovery above 1 creates monomer: waste comes out negative.
    let bad = ClearanceStep {
        monomer_yield: 1.05,
        ..step
    }
    .run(&input);
    assert!(bad.waste.mass_kg[MONOMER] < 0.0);
    assert!(
        std::panic::catch_unwind(|| check_invariants(&bad)).is_err(),
        "the invariant check must refuse it"
    );
}

#[test]
fn protein_a_overhead_below_the_elution_volume_is_refused() {
    let text = std::fs::read_to_string(root().join("process-models/downstream/cho_mab_train.toml"))
        .unwrap()
        .replace("overhead_cv = 15.0", "overhead_cv = 2.0");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("train.toml");
    std::fs::write(&path, &text).unwrap();
    let err = load_train(&path).unwrap_err();
    let msg = err.to_string();
    assert_eq!(err.exit_code(), 2, "{msg}");
    assert!(
        msg.contains("protein_a.overhead_cv") && msg.contains("elution_cv = 3"),
        "{msg}"
    );
}
