//! The structurally different plant (`datagen::structural`, docs/hybrid.md
//! "The comparison on a structurally different plant"): the shipped
//! `training-data/cho-structural` is what the generator makes, the plant
//! differs from the platform plant by its two mechanisms only, and its
//! batches are what an engineer would accept as CHO fed-batch runs.

use biotwin_ml::data::Dataset;
use biotwin_ml::datagen::structural::StructuralPlant;
use biotwin_ml::datagen::{ChoDoeOptions, Plant, generate_cho, write_cho_dataset};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

/// The structural plant's backbone: platform model 1.0.0, frozen with the
/// dataset (training-data/cho-structural/backbone/, docs/hybrid.md).
fn opts(plant: Plant) -> ChoDoeOptions {
    let mut o = ChoDoeOptions::new(format!(
        "{ROOT}/training-data/cho-structural/backbone/cho-platform-3l.toml"
    ));
    o.plant = plant;
    o
}

fn structural() -> Plant {
    Plant::Structural(StructuralPlant::protocol())
}

#[test]
fn shipped_structural_dataset_is_what_the_generator_makes() {
    let shipped = Dataset::load(format!("{ROOT}/training-data/cho-structural"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(shipped.batches.len(), 36);
    let dir = tempfile::tempdir().unwrap();
    write_cho_dataset(dir.path(), &opts(structural())).unwrap();
    let again = Dataset::load(dir.path()).unwrap();
    assert_eq!(
        again.content_hash, shipped.content_hash,
        "training-data/cho-structural is not what the generator makes: rebuild it (see its README)"
    );
    // The hidden thresholds are written beside the data, not in it.
    let plant = std::fs::read_to_string(dir.path().join("plant.csv")).unwrap();
    assert_eq!(plant.lines().count(), 37);
    assert_eq!(
        plant,
        std::fs::read_to_string(format!("{ROOT}/training-data/cho-structural/plant.csv")).unwrap()
    );
}

/// Same design, noise draws and instruments as the platform plant: the
/// design points and the recorded conditions are identical, the data are
/// not (the two mechanisms), and the hidden thresholds are lognormal around
/// the stated median.
#[test]
fn structural_plant_differs_from_the_platform_plant_by_its_mechanisms_only() {
    let a = generate_cho(&opts(Plant::Platform)).unwrap();
    let b = generate_cho(&opts(structural())).unwrap();
    assert_eq!(a.coded, b.coded);
    assert!(a.hidden.is_empty());
    assert_eq!(b.hidden.len(), 36);
    for (ra, rb) in a.records.iter().zip(&b.records) {
        assert_eq!(ra.meta.parameters, rb.meta.parameters);
        assert_eq!(ra.meta.material_lots, rb.meta.material_lots);
        // Before any lactate is consumed and while ammonium is low, the
        // two plants run alike: day-1 viable cells within 3 %, noise
        // included (the same draws).
        let (xa, xb) = (
            ra.offline["viable_cells"][1].value,
            rb.offline["viable_cells"][1].value,
        );
        assert!((xa / xb - 1.0).abs() < 0.03, "{}: {xa} vs {xb}", ra.id());
        assert_ne!(ra.meta.cqas["final_titer"], rb.meta.cqas["final_titer"]);
    }
    let ln: Vec<f64> = b
        .hidden
        .iter()
        .map(|h| (h.threshold_mol_per_cell / 20e-12).ln())
        .collect();
    let mean = ln.iter().sum::<f64>() / ln.len() as f64;
    let sd = (ln.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (ln.len() - 1) as f64).sqrt();
    // CV 20 % is a log-SD of 0.198; 36 draws.
    assert!(
        mean.abs() < 0.1 && (0.12..0.28).contains(&sd),
        "{mean} {sd}"
    );
}

/// Domain plausibility of the 36 batches (measured values, noise included):
/// the lactate shift happens between day 3 and day 10 and lactate then
/// falls, as reported for CHO fed-batch at the end of exponential growth;
/// peak cell densities, harvest viability, ammonium and titer in the ranges
/// of `shared/domain/PRIMER.md` §2.
#[test]
fn structural_plant_batches_are_plausible_cho_fed_batches() {
    let g = generate_cho(&opts(structural())).unwrap();
    let mut shifted = 0;
    for (r, h) in g.records.iter().zip(&g.hidden) {
        let id = r.id();
        let series = |v: &str| -> Vec<f64> { r.offline[v].iter().map(|s| s.value).collect() };
        let (lac, xv, via, amm) = (
            series("lactate"),
            series("viable_cells"),
            series("viability"),
            series("ammonium"),
        );
        let peak_lac = lac.iter().cloned().fold(0.0, f64::max);
        // kg/m3 = g/L
        assert!(
            (1.0..4.0).contains(&peak_lac),
            "{id}: lactate peak {peak_lac}"
        );
        if let Some(t) = h.shift_time_h {
            shifted += 1;
            assert!((72.0..240.0).contains(&t), "{id}: shift at {t} h");
            // Consumed after the shift: the harvest value is under half the
            // peak (lactate-consuming cultures end near zero).
            assert!(
                *lac.last().unwrap() < 0.5 * peak_lac,
                "{id}: lactate {lac:?}"
            );
        }
        let peak_xv = xv.iter().cloned().fold(0.0, f64::max) * 1e-12;
        assert!(
            (2.0..20.0).contains(&peak_xv),
            "{id}: peak Xv {peak_xv}e6/mL"
        );
        let v_end = *via.last().unwrap();
        assert!(
            (0.45..0.95).contains(&v_end),
            "{id}: harvest viability {v_end}"
        );
        let amm_max = amm.iter().cloned().fold(0.0, f64::max);
        assert!(amm_max < 20.0, "{id}: ammonium {amm_max} mM");
        let titer = r.meta.cqas["final_titer"];
        assert!((0.5..6.0).contains(&titer), "{id}: titer {titer} g/L");
    }
    assert_eq!(shifted, 36, "every batch reaches its threshold");
}
