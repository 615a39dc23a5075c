//! The shipped IndPenSim dataset loads completely and matches its reference
//! tables (batches.csv, the historian row count).

use biotwin_ml::data::Dataset;

fn load() -> Dataset {
    let dir = concat!(
        concat!(env!("CARGO_MANIFEST_DIR"), "/../.."),
        "/training-data/indpensim"
    );
    Dataset::load(dir).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn all_twenty_batches_load_in_si() {
    let ds = load();
    assert_eq!(ds.batches.len(), 20);
    assert_eq!(ds.batch_ids()[0], "B01");
    assert_eq!(ds.batch_ids()[19], "B20");
    for b in &ds.batches {
        // 230 h batches, 23 online tags every 12 min (0.2..230 h, 1150 samples).
        assert_eq!(b.duration_s(), 230.0 * 3600.0, "{}", b.id());
        assert_eq!(b.online.len(), 23, "{}", b.id());
        assert_eq!(b.offline.len(), 6, "{}", b.id());
        let ph = &b.online["ph"];
        assert_eq!(ph.time_s.len(), 1150, "{}", b.id());
        assert!((ph.time_s[0] - 0.2 * 3600.0).abs() < 1e-6);
        // Offline samples at 0, 12, ..., 228 and 230 h.
        let p = &b.offline["penicillin"];
        assert_eq!(p.len(), 21, "{}", b.id());
        assert_eq!(p[0].sample_time_s, 0.0);
        assert_eq!(p[20].sample_time_s, 230.0 * 3600.0);
        // The final lab penicillin equals the manifest CQA (both kg/m3 = g/L).
        let cqa = b.meta.cqas["final_penicillin"];
        assert!(
            (p[20].value - cqa).abs() < 1e-6 * cqa,
            "{}: {} vs {cqa}",
            b.id(),
            p[20].value
        );
        assert_eq!(b.meta.parameters.len(), 7);
    }
}

#[test]
fn units_are_converted_to_si() {
    let ds = load();
    let b = ds.batch("B01").unwrap();
    // Volume in L -> m3: IndPenSim's broth starts near 58 m3.
    let v0 = b.online["volume"].value[0];
    assert!((50.0..70.0).contains(&v0), "V0 = {v0} m3");
    // PAA in mg/L -> kg/m3: controlled near 1200 mg/L = 1.2 kg/m3 after 10 h.
    let paa = &b.offline["paa"];
    assert!(paa.iter().skip(3).all(|s| (0.3..3.0).contains(&s.value)));
    // Temperature stays in K (about 298 K).
    let t = b.online["temperature"].at(100.0 * 3600.0).unwrap();
    assert!((295.0..301.0).contains(&t), "T = {t} K");
    // Aeration m3/h -> m3/s.
    let fg = b.online["aeration_flow"].at(100.0 * 3600.0).unwrap();
    assert!(fg > 0.0 && fg < 1.0, "Fg = {fg} m3/s");
}

#[test]
fn content_hash_is_stable_and_hex() {
    let a = load();
    let b = load();
    assert_eq!(a.content_hash, b.content_hash);
    assert_eq!(a.content_hash.len(), 64);
}
