//! The shipped CHO platform process looks like a modern fed-batch (issue 17,
//! item 4): the ranges below are the published shape cited in
//! docs/models.md ("Shape of the shipped platform process"), not numbers
//! read off the model. Both shipped scales are checked: the 3 L bench
//! process the data sets are generated from, and the 2000 L process whose
//! higher pCO2 is expected to cost some growth but not the shape.

use std::path::Path;

use biotwin_core::simulation::{Outcome, Scenario, load_process};

fn outcome(process: &str) -> Outcome {
    let def = load_process(Path::new(process)).unwrap();
    Scenario::from_definition(&def)
        .unwrap()
        .simulate(true)
        .unwrap()
}

fn at(o: &Outcome, name: &str, t_h: f64) -> f64 {
    let t = o.column("time_h").unwrap();
    let v = o.column(name).unwrap();
    let i = t
        .iter()
        .enumerate()
        .min_by(|a, b| (a.1 - t_h).abs().total_cmp(&(b.1 - t_h).abs()))
        .unwrap()
        .0;
    v[i]
}

fn max_of(o: &Outcome, name: &str) -> (f64, f64) {
    let t = o.column("time_h").unwrap();
    let v = o.column(name).unwrap();
    let i = (0..v.len()).max_by(|&a, &b| v[a].total_cmp(&v[b])).unwrap();
    (v[i], t[i])
}

struct Shape {
    /// Lowest acceptable peak of viable cells, 1e6 cells/mL.
    peak_vcd_min: f64,
    /// Latest acceptable day of the peak.
    peak_day_max: f64,
}

fn check_shape(process: &str, s: Shape) {
    let o = outcome(process);
    let (peak, t_peak_h) = max_of(&o, "xv_1e6_cells_per_ml");
    let day = t_peak_h / 24.0;
    let end_h = *o.column("time_h").unwrap().last().unwrap();
    let vcd_end = at(&o, "xv_1e6_cells_per_ml", end_h);
    let report = format!(
        "{process}: peak {peak:.2}e6/mL on day {day:.2}, day 14 {vcd_end:.2}e6/mL, viability d7 {:.1} d10 {:.1} d14 {:.1} %, lactate peak {:.2} g/L end {:.2}, ammonium max {:.2} mM, titer {:.2} g/L, gal {:.1} afuc {:.1} man5 {:.1} acidic {:.1} HMW {:.2} %",
        at(&o, "viability_pct", 168.0),
        at(&o, "viability_pct", 240.0),
        at(&o, "viability_pct", end_h),
        max_of(&o, "lactate_g_per_l").0,
        at(&o, "lactate_g_per_l", end_h),
        max_of(&o, "ammonium_mm").0,
        o.quality_value("titer_g_per_l").unwrap(),
        o.quality_value("galactosylated_pct").unwrap(),
        o.quality_value("afucosylated_pct").unwrap(),
        o.quality_value("high_mannose_pct").unwrap(),
        o.quality_value("acidic_variants_pct").unwrap(),
        o.quality_value("hmw_pct").unwrap(),
    );
    println!("{report}");
    // Viable cells peak at 15-25e6/mL around day 7-9, then decline.
    assert!(
        (s.peak_vcd_min..=25.0).contains(&peak),
        "peak VCD: {report}"
    );
    assert!((7.0..=s.peak_day_max).contains(&day), "peak day: {report}");
    assert!(vcd_end < 0.92 * peak, "no decline phase: {report}");
    // Viability stays high through growth (no fall from day 0) and above
    // ~90 % until about day 10, then falls but the batch is harvestable.
    let t = o.column("time_h").unwrap();
    let via = o.column("viability_pct").unwrap();
    for (th, v) in t.iter().zip(&via) {
        if *th <= 168.0 {
            assert!(*v >= 94.0, "viability {v:.1} % at {th} h: {report}");
        }
    }
    assert!(at(&o, "viability_pct", 24.0) >= 97.0, "{report}");
    assert!(at(&o, "viability_pct", 240.0) >= 88.0, "{report}");
    assert!(
        (60.0..=92.0).contains(&at(&o, "viability_pct", end_h)),
        "{report}"
    );
    // Lactate: produced early (1-4 g/L peak), then consumed (shift).
    let (lac_peak, lac_t) = max_of(&o, "lactate_g_per_l");
    assert!((1.0..=4.0).contains(&lac_peak), "lactate peak: {report}");
    assert!(lac_t <= 8.0 * 24.0, "lactate peak after day 8: {report}");
    assert!(
        at(&o, "lactate_g_per_l", end_h) < 0.5 * lac_peak,
        "no lactate shift: {report}"
    );
    // Ammonium at most ~10 mM.
    assert!(max_of(&o, "ammonium_mm").0 <= 10.0, "ammonium: {report}");
    // Titer 3-6 g/L at day 14.
    let titer = o.quality_value("titer_g_per_l").unwrap();
    assert!((3.0..=6.0).contains(&titer), "titer: {report}");
    // Glucose never runs out in the nominal recipe (no starvation death).
    let glc = o.column("glucose_g_per_l").unwrap();
    assert!(
        glc.iter().all(|g| *g > 0.5),
        "glucose fell below 0.5 g/L: {report}"
    );
    // Typical IgG1 product quality at harvest (PRIMER §3 and docs/models.md).
    let q = |n: &str| o.quality_value(n).unwrap();
    assert!((15.0..=50.0).contains(&q("galactosylated_pct")), "{report}");
    assert!((3.0..=15.0).contains(&q("afucosylated_pct")), "{report}");
    assert!((1.0..=10.0).contains(&q("high_mannose_pct")), "{report}");
    assert!(
        (10.0..=35.0).contains(&q("acidic_variants_pct")),
        "{report}"
    );
    assert!((0.5..=5.0).contains(&q("hmw_pct")), "{report}");
}

#[test]
fn bench_platform_process_has_the_shape_of_a_modern_fed_batch() {
    check_shape(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../process-models/processes/cho-platform-3l.toml"
        ),
        Shape {
            peak_vcd_min: 15.0,
            peak_day_max: 9.5,
        },
    );
}

#[test]
fn production_scale_process_keeps_the_shape() {
    // At 2000 L the higher pCO2 slows growth (Zhu 2005): the peak may be
    // lower and later, but the batch must still look like a fed-batch.
    check_shape(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../process-models/processes/cho-platform-2000l.toml"
        ),
        Shape {
            peak_vcd_min: 12.0,
            peak_day_max: 11.0,
        },
    );
}

/// A model file written before `n_d_amm` existed (model 1.0.0, or a sealed
/// calibrated model in a registry) still loads: the absent exponent takes
/// the value that reproduces the law the file was written for (n = 1), so
/// it simulates exactly like the frozen 1.0.0 backbone that states n = 1.
#[test]
fn a_model_file_from_before_the_hill_exponent_loads_and_means_what_it_meant() {
    use biotwin_core::definition::process::text_sha256;
    use biotwin_core::simulation::model_source::{resolve_model_text, with_model};
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let backbone = format!("{root}/training-data/cho-structural/backbone");
    let with_n = std::fs::read_to_string(format!("{backbone}/cho-platform-v1.toml")).unwrap();
    let old: String = with_n
        .lines()
        .filter(|l| !l.starts_with("n_d_amm"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(!old.contains("n_d_amm") && with_n.contains("n_d_amm"));
    let m = resolve_model_text("registry:old/cho-line-v1", old.clone(), &text_sha256(&old))
        .unwrap_or_else(|e| panic!("{e}"));
    let process = format!("{backbone}/cho-platform-3l.toml");
    let mut def = load_process(Path::new(&process)).unwrap();
    let reference = Scenario::from_definition(&def)
        .unwrap()
        .simulate(false)
        .unwrap();
    with_model(&mut def, &m).unwrap();
    let again = Scenario::from_definition(&def)
        .unwrap()
        .simulate(false)
        .unwrap();
    assert_eq!(reference.quality, again.quality);
    // A value outside the range is still refused when it is given.
    let bad = with_n.replace("n_d_amm   = { value = 1.0,", "n_d_amm   = { value = 9.0,");
    let e = resolve_model_text("x", bad.clone(), &text_sha256(&bad)).unwrap_err();
    assert!(e.to_string().contains("n_d_amm in [1, 6]"), "{e}");
}
