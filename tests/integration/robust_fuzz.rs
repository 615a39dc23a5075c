//! Fuzz harness, runnable on stable with `cargo test` (no nightly, no extra
//! dependency): deterministic random inputs and mutations of real files for
//! every reader a user's data reaches, checking that none panics and that
//! the readers keep their promises (a long export accounts for every line).
//!
//! Targets: timestamps; one CSV line; long and wide CSV historian exports
//! (plain and gzip); Parquet historian exports; the TOML files (process,
//! recipe, equipment, lots); site files; the HTTP API's path and query
//! parsing.
//!
//! By default each target runs a fixed number of cases (what `cargo test`
//! runs; the seed is fixed, so a failure reproduces). With
//! `BIOTWIN_FUZZ_SECONDS=N` each target instead runs for N seconds of wall
//! clock from a seed taken from the clock (printed, with `BIOTWIN_FUZZ_SEED`
//! to replay it): that is what `.ci/fuzz` runs, and how the durations in
//! docs/reliability.md were run.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use biotwin::data::csv_source::split_csv_line;
use biotwin::data::timestamp::{format_rfc3339, parse_rfc3339};
use biotwin::live::config::DataFormat;
use biotwin::live::replay::read_export;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Core's SplitMix64 stream, with a modulo pick.
struct Rng(biotwin::random::SplitMix64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0.next_u64()
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

/// Runs `case` `default_cases` times, or for `BIOTWIN_FUZZ_SECONDS`.
fn fuzz(name: &str, default_cases: u64, mut case: impl FnMut(&mut Rng)) {
    let seconds: Option<f64> = std::env::var("BIOTWIN_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok());
    let seed = std::env::var("BIOTWIN_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if seconds.is_some() {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        } else {
            0x5EED_0000 ^ name.len() as u64
        });
    // Printed first: a run that dies (a stack overflow aborts the process)
    // must still leave its seed behind.
    eprintln!("fuzz {name}: seed {seed} (BIOTWIN_FUZZ_SEED={seed} replays it)");
    let mut rng = Rng(biotwin::random::SplitMix64::new(seed));
    let start = Instant::now();
    let mut n = 0u64;
    loop {
        match seconds {
            Some(s) if start.elapsed() >= Duration::from_secs_f64(s) => break,
            None if n >= default_cases => break,
            _ => {}
        }
        case(&mut rng);
        n += 1;
    }
    eprintln!(
        "fuzz {name}: {n} cases in {:.1} s, seed {seed}, no finding",
        start.elapsed().as_secs_f64()
    );
}

/// A random mutation of `bytes`: flips, inserts (quotes, commas, newlines,
/// non-ASCII, NUL), deletions, truncation, duplicated spans.
fn mutate(rng: &mut Rng, bytes: &[u8]) -> Vec<u8> {
    let mut b = bytes.to_vec();
    let specials: &[&[u8]] = &[
        b"\"",
        b",",
        b"\n",
        b"\r",
        "é".as_bytes(),
        "\u{feff}".as_bytes(),
        b"\0",
        b"nan",
        b"inf",
        b"-",
        b":",
        b"T",
        b"Z",
        b"1e308",
        b"[",
        b"]",
        b"=",
        b"'''",
        b"\xff",
        b" ",
    ];
    for _ in 0..1 + rng.below(4) {
        if b.is_empty() {
            let s: &[u8] = *rng.pick(specials);
            b.extend_from_slice(s);
            continue;
        }
        let at = rng.below(b.len());
        match rng.below(6) {
            0 => b[at] ^= 1 << rng.below(8),
            1 => {
                let s: &[u8] = *rng.pick(specials);
                b.splice(at..at, s.iter().copied());
            }
            2 => {
                let end = (at + 1 + rng.below(16)).min(b.len());
                b.drain(at..end);
            }
            3 => b.truncate(at),
            4 => {
                let end = (at + 1 + rng.below(64)).min(b.len());
                let span: Vec<u8> = b[at..end].to_vec();
                let to = rng.below(b.len());
                b.splice(to..to, span);
            }
            _ => b[at] = rng.next() as u8,
        }
    }
    b
}

fn b01_head(lines: usize) -> String {
    let f = std::fs::File::open(format!(
        "{ROOT}/training-data/cho-platform/batches/B01.csv.gz"
    ))
    .unwrap();
    let mut s = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(f), &mut s).unwrap();
    s.lines().take(lines).collect::<Vec<_>>().join("\n") + "\n"
}

#[test]
fn fuzz_timestamps() {
    let valid = [
        "2025-01-01T00:00:00Z",
        "2024-02-29T23:59:60.125+01:00",
        "1970-01-01 00:00:00z",
    ];
    fuzz("timestamps", 20_000, |rng| {
        let base = rng.pick(&valid).as_bytes();
        let m = mutate(rng, base);
        let text = String::from_utf8_lossy(&m);
        if let Ok(t) = parse_rfc3339(&text) {
            assert!(t.is_finite(), "{text:?} gave {t}");
            // What parses, formats and parses back to the same instant.
            let again = parse_rfc3339(&format_rfc3339(t)).unwrap();
            assert!((again - t).abs() < 1e-6, "{text:?}: {t} vs {again}");
        }
    });
}

#[test]
fn fuzz_csv_lines() {
    let lines = [
        "2025-01-01T00:00:00Z,ph,7.0,",
        "a,\"b,c\",\"d\"\"e\"",
        " x , y ,z",
    ];
    fuzz("csv lines", 20_000, |rng| {
        let base = rng.pick(&lines).as_bytes();
        let m = mutate(rng, base);
        let text = String::from_utf8_lossy(&m).replace(['\n', '\r'], "");
        if let Ok(fields) = split_csv_line(&text) {
            if !text.contains('"') {
                let plain: Vec<String> = text.split(',').map(|f| f.trim().to_string()).collect();
                assert_eq!(fields, plain, "{text:?}");
            }
        }
    });
}

/// Every non-blank data line of a long CSV export is a reading or a
/// counted malformed row: nothing vanishes.
fn accounted(text: &[u8], readings: usize, malformed: u64) {
    let data_lines = text
        .strip_prefix(b"\xEF\xBB\xBF")
        .unwrap_or(text)
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| std::str::from_utf8(l).map_or(true, |s| !s.trim().is_empty()))
        .count()
        .saturating_sub(1);
    assert_eq!(readings + malformed as usize, data_lines);
}

#[test]
fn fuzz_long_and_wide_csv_exports() {
    let dir = tempfile::tempdir().unwrap();
    let long = b01_head(60);
    let wide = "timestamp,ph,do,titer\n2025-01-01T00:00:00Z,7.0,40,\n2025-01-01T01:00:00Z,7.01,39.5,0.1\n2025-01-01T02:00:00Z,,41,\n";
    let p = dir.path().join("x.csv");
    let gz = dir.path().join("x.csv.gz");
    fuzz("long/wide csv", 3_000, |rng| {
        let is_long = rng.below(2) == 0;
        let m = mutate(
            rng,
            if is_long {
                long.as_bytes()
            } else {
                wide.as_bytes()
            },
        );
        std::fs::write(&p, &m).unwrap();
        let format = if is_long {
            DataFormat::Long
        } else {
            DataFormat::Wide
        };
        if let Ok((r, bad)) = read_export(&p, format) {
            let header_ok = m.starts_with(b"timestamp,tag,value");
            if is_long && header_ok {
                accounted(&m, r.len(), bad);
            }
        }
        // The same bytes gzipped, then the gzip cut or damaged: an error
        // or a full read, never a panic and never a partial success.
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut enc, &m).unwrap();
        let mut z = enc.finish().unwrap();
        let cut = rng.below(z.len()).max(10);
        if rng.below(2) == 0 {
            z.truncate(cut);
        } else {
            let at = cut.min(z.len() - 1);
            z[at] ^= 0x41;
        }
        std::fs::write(&gz, &z).unwrap();
        let _ = read_export(&gz, format);
    });
}

fn parquet_export(rows: &[(String, String, f64)]) -> Vec<u8> {
    use parquet::basic::{LogicalType, Repetition, Type as Physical};
    use parquet::data_type::{ByteArray, ByteArrayType, DoubleType};
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::types::Type;
    let text = |n: &str| {
        Arc::new(
            Type::primitive_type_builder(n, Physical::BYTE_ARRAY)
                .with_repetition(Repetition::OPTIONAL)
                .with_logical_type(Some(LogicalType::String))
                .build()
                .unwrap(),
        )
    };
    let value = Arc::new(
        Type::primitive_type_builder("value", Physical::DOUBLE)
            .with_repetition(Repetition::OPTIONAL)
            .build()
            .unwrap(),
    );
    let schema = Type::group_type_builder("schema")
        .with_fields(vec![text("timestamp"), text("tag"), value])
        .build()
        .unwrap();
    let props = Arc::new(WriterProperties::builder().build());
    let mut w = SerializedFileWriter::new(Vec::new(), Arc::new(schema), props).unwrap();
    let mut g = w.next_row_group().unwrap();
    let defs = vec![1i16; rows.len()];
    let mut j = 0;
    while let Some(mut col) = g.next_column().unwrap() {
        match j {
            0 | 1 => {
                let v: Vec<ByteArray> = rows
                    .iter()
                    .map(|r| ByteArray::from(if j == 0 { r.0.as_str() } else { r.1.as_str() }))
                    .collect();
                col.typed::<ByteArrayType>()
                    .write_batch(&v, Some(&defs), None)
                    .unwrap();
            }
            _ => {
                let v: Vec<f64> = rows.iter().map(|r| r.2).collect();
                col.typed::<DoubleType>()
                    .write_batch(&v, Some(&defs), None)
                    .unwrap();
            }
        }
        col.close().unwrap();
        j += 1;
    }
    g.close().unwrap();
    w.into_inner().unwrap()
}

#[test]
fn fuzz_parquet_exports() {
    let dir = tempfile::tempdir().unwrap();
    let rows: Vec<(String, String, f64)> = (0..40)
        .map(|i| {
            (
                format_rfc3339(1.7e9 + 60.0 * i as f64),
                "ph".to_string(),
                7.0 + i as f64 * 1e-3,
            )
        })
        .collect();
    let clean = parquet_export(&rows);
    let p = dir.path().join("x.parquet");
    std::fs::write(&p, &clean).unwrap();
    let (r, bad) = read_export(&p, DataFormat::Parquet).unwrap();
    assert_eq!((r.len(), bad), (40, 0));
    fuzz("parquet", 2_000, |rng| {
        let mut m = clean.clone();
        // Damage inside the file, keeping the magic bytes at both ends most
        // of the time so the decoder gets past its first check.
        for _ in 0..1 + rng.below(4) {
            let at = 4 + rng.below(m.len() - 8);
            m[at] = rng.next() as u8;
        }
        if rng.below(4) == 0 {
            m = mutate(rng, &m);
        }
        std::fs::write(&p, &m).unwrap();
        let _ = read_export(&p, DataFormat::Parquet);
    });
}

/// A copy of `process-models/` in a temp dir, so mutated files keep their
/// relative references.
fn model_tree() -> (tempfile::TempDir, PathBuf) {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap().flatten() {
            let t = to.join(e.file_name());
            if e.path().is_dir() {
                copy(&e.path(), &t)
            } else {
                std::fs::copy(e.path(), t).unwrap();
            }
        }
    }
    let d = tempfile::tempdir().unwrap();
    let tree = d.path().join("pm");
    copy(&Path::new(ROOT).join("process-models"), &tree);
    (d, tree)
}

/// What `biotwin validate` does with a process file.
fn validate_process(p: &Path) {
    if let Ok(def) = biotwin::simulation::load_process(p) {
        if let Ok(mut s) = biotwin::simulation::Scenario::from_definition(&def) {
            let _ = biotwin::montecarlo::uncertain_inputs(&def, &mut s);
        }
    }
}

#[test]
fn fuzz_toml_files() {
    let (_d, tree) = model_tree();
    let files = [
        "processes/cho-platform-3l.toml",
        "processes/xing2010-reference.toml",
        "recipes/cho-platform-14d.toml",
        "recipes/xing2010-nominal.toml",
        "equipment/bench-3l-glass.toml",
        "lots/feed-a-supplier-b.toml",
        "specs/cho-mab-upstream.toml",
    ];
    let originals: Vec<Vec<u8>> = files
        .iter()
        .map(|f| std::fs::read(tree.join(f)).unwrap())
        .collect();
    fuzz("toml files", 300, |rng| {
        let k = rng.below(files.len());
        let path = tree.join(files[k]);
        std::fs::write(&path, mutate(rng, &originals[k])).unwrap();
        match files[k].split('/').next().unwrap() {
            "equipment" => {
                let _ = biotwin::equipment::Equipment::load(&path);
            }
            "lots" => {
                let _ = biotwin::transfer::lots::Lots::load(&path);
            }
            "recipes" => {
                let _ = biotwin::definition::recipe::Recipe::load(&path);
            }
            "specs" => {
                let _ = biotwin::definition::specs::Specifications::load(&path, None);
            }
            _ => {}
        }
        // A mutated file referenced by a process reaches the process too.
        validate_process(&tree.join("processes/cho-platform-3l.toml"));
        std::fs::write(&path, &originals[k]).unwrap();
    });
}

#[test]
fn fuzz_site_files() {
    let (_d, tree) = model_tree();
    let site = tree.join("sites/example-site.toml");
    let original = std::fs::read(&site).unwrap();
    fuzz("site files", 1_000, |rng| {
        std::fs::write(&site, mutate(rng, &original)).unwrap();
        let _ = biotwin::live::config::SiteConfig::read(&site);
    });
}

#[test]
fn fuzz_http_paths_and_queries() {
    use tower::ServiceExt;
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn biotwin::live::Store> = Arc::new(
        biotwin::live::sqlite_store::SqliteStore::open(&dir.path().join("s.sqlite")).unwrap(),
    );
    store
        .upsert_batch(&biotwin::live::BatchInfo {
            tenant: "a".into(),
            batch_id: "B1".into(),
            unit: "U".into(),
            start_unix_s: 0.0,
            end_unix_s: 1.0,
            finished: false,
        })
        .unwrap();
    let token = "fuzz-token-0123456789";
    let app = biotwin::live::web::router(
        store,
        vec![(
            "a".into(),
            biotwin::live::web::auth::token_sha256_hex(token),
        )],
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let paths = [
        "/api/batches/B1/readings?tag=ph&offset=0&limit=10",
        "/api/batches/B1/predictions?limit=2",
        "/api/batches/B1/plot/titer_g_per_l.svg",
        "/api/batches?offset=1",
        "/api/alerts",
        "/api/batches/B1",
        "/",
    ];
    fuzz("http paths", 3_000, |rng| {
        let base = rng.pick(&paths).as_bytes();
        let m = mutate(rng, base);
        let Ok(uri) = axum::http::Uri::try_from(m.as_slice()) else {
            return;
        };
        let method = if rng.below(5) == 0 { "POST" } else { "GET" };
        let req = axum::http::Request::builder()
            .method(method)
            .uri(uri)
            .header("authorization", format!("Bearer {token}"))
            .body(axum::body::Body::from(mutate(rng, b"{\"user\":\"qa\"}")))
            .unwrap();
        let r = rt.block_on(app.clone().oneshot(req)).unwrap();
        assert!(
            !r.status().is_server_error(),
            "{:?} answered {}",
            String::from_utf8_lossy(&m),
            r.status()
        );
        assert!(r.headers().contains_key("x-content-type-options"));
    });
}
