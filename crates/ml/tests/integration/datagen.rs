//! The CHO dataset generator is reproducible, and the shipped dataset is the
//! one it makes.

use biotwin_ml::data::Dataset;
use biotwin_ml::datagen::{ChoDoeOptions, write_cho_dataset};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

fn opts(n_interior: usize, n_edge: usize, seed: u64) -> ChoDoeOptions {
    let mut o = ChoDoeOptions::new(format!(
        "{ROOT}/process-models/processes/cho-platform-3l.toml"
    ));
    o.n_interior = n_interior;
    o.n_edge = n_edge;
    o.seed = seed;
    o
}

fn files(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for sub in ["", "batches"] {
        let mut names: Vec<_> = std::fs::read_dir(dir.join(sub))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .collect();
        names.sort();
        for p in names {
            let rel = p.strip_prefix(dir).unwrap().display().to_string();
            out.push((rel, std::fs::read(&p).unwrap()));
        }
    }
    out
}

#[test]
fn same_seed_same_files_and_hash_other_seed_other_data() {
    let (a, b, c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    write_cho_dataset(a.path(), &opts(4, 2, 7)).unwrap();
    write_cho_dataset(b.path(), &opts(4, 2, 7)).unwrap();
    write_cho_dataset(c.path(), &opts(4, 2, 8)).unwrap();
    assert_eq!(files(a.path()), files(b.path()));
    let (da, db, dc) = (
        Dataset::load(a.path()).unwrap_or_else(|e| panic!("{e}")),
        Dataset::load(b.path()).unwrap(),
        Dataset::load(c.path()).unwrap(),
    );
    assert_eq!(da.batches.len(), 6);
    assert_eq!(da.content_hash, db.content_hash);
    assert_ne!(da.content_hash, dc.content_hash);
}

#[test]
fn shipped_dataset_loads_with_at_least_30_batches_and_is_reproducible() {
    let ds = Dataset::load(format!("{ROOT}/training-data/cho-platform"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(ds.batches.len() >= 30, "{} batches", ds.batches.len());
    for b in &ds.batches {
        for cqa in [
            "final_titer",
            "galactosylated",
            "afucosylated",
            "high_mannose",
            "acidic_variants",
            "hmw",
            "hcp",
        ] {
            let v = b.meta.cqas[cqa];
            assert!(v.is_finite() && v > 0.0, "{} {cqa} = {v}", b.id());
        }
        // Daily lab samples whose results arrive after sampling.
        let titer = &b.offline["titer"];
        assert!(titer.len() >= 13);
        assert!(
            titer
                .iter()
                .all(|s| s.result_time_s.unwrap() > s.sample_time_s)
        );
        // Online signals every 30 min (a few lost).
        assert!(b.online["ph"].time_s.len() > 600);
    }
    // Rebuilding with the documented defaults gives the same dataset.
    let dir = tempfile::tempdir().unwrap();
    write_cho_dataset(
        dir.path(),
        &ChoDoeOptions::new(format!(
            "{ROOT}/process-models/processes/cho-platform-3l.toml"
        )),
    )
    .unwrap();
    let again = Dataset::load(dir.path()).unwrap();
    assert_eq!(
        again.content_hash, ds.content_hash,
        "training-data/cho-platform is not what the generator makes: rebuild it (see its README)"
    );
    // Total size stays small.
    let total: u64 = files(std::path::Path::new(&format!(
        "{ROOT}/training-data/cho-platform"
    )))
    .iter()
    .map(|(_, b)| b.len() as u64)
    .sum();
    assert!(total < 2_000_000, "{total} bytes");
}
