//! Writing batch records as a dataset and reading them back gives the same
//! records and content hash.

use biotwin_ml::data::{Dataset, write_dataset};

#[test]
fn indpensim_round_trips_through_the_writer() {
    let ds = Dataset::load(concat!(
        concat!(env!("CARGO_MANIFEST_DIR"), "/../.."),
        "/training-data/indpensim"
    ))
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_dataset(
        dir.path(),
        &ds.name,
        &ds.description,
        &ds.tag_map,
        &ds.batches[..3],
        true,
    )
    .unwrap();
    let back = Dataset::load(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back.batches.len(), 3);
    for (a, b) in ds.batches.iter().zip(&back.batches) {
        // File paths differ; everything else is equal.
        let mut bm = b.meta.clone();
        bm.files = a.meta.files.clone();
        assert_eq!(a.meta, bm);
        assert_eq!(a.online, b.online);
        assert_eq!(a.offline, b.offline);
    }
    let original = biotwin_ml::data::content_hash::content_hash(&ds.tag_map, &ds.batches[..3]);
    assert_eq!(back.content_hash, original);
}

#[test]
fn lab_result_times_survive_and_plain_csv_works() {
    let ds = Dataset::load(concat!(
        concat!(env!("CARGO_MANIFEST_DIR"), "/../.."),
        "/training-data/indpensim"
    ))
    .unwrap();
    let mut b = ds.batches[0].clone();
    // Results of the penicillin assay arrive 6 h after sampling.
    for s in b.offline.get_mut("penicillin").unwrap() {
        s.result_time_s = Some(s.sample_time_s + 6.0 * 3600.0);
    }
    // Beyond the batch end the 230 h result would be rejected on load.
    b.meta.end_unix_s += 6.0 * 3600.0;
    let dir = tempfile::tempdir().unwrap();
    write_dataset(
        dir.path(),
        "one",
        "",
        &ds.tag_map,
        std::slice::from_ref(&b),
        false,
    )
    .unwrap();
    assert!(dir.path().join("batches/B01.csv").is_file());
    let back = Dataset::load(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back.batches[0].offline, b.offline);
    let known = back.batches[0].offline_known_at("penicillin", 20.0 * 3600.0);
    assert_eq!(known.time_s, vec![0.0, 12.0 * 3600.0]);
}
