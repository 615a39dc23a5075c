//! Parquet exports read exactly like the CSV they were made from: the
//! Parquet files are written here from CSV fixtures with the `parquet`
//! crate's writer (long and wide, several row groups, timestamps as text and
//! as TIMESTAMP(MILLIS|MICROS|NANOS), empty cells as nulls), then the dataset
//! and the live replay read from each are compared. Malformed files give a
//! diagnostic naming file, row or column, expected and found.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use biotwin::data::Dataset;
use biotwin::data::timestamp::parse_rfc3339;
use biotwin::error::Diagnostics;
use biotwin::live::Reading;
use biotwin::live::config::DataFormat;
use biotwin::live::replay::{ReplaySource, read_export};
use biotwin::live::{Poll, Source};
use parquet::basic::{Compression, GzipLevel, LogicalType, Repetition, TimeUnit, Type as Physical};
use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::Type;

// ---------------------------------------------------------------- writing

/// How a CSV column is stored in Parquet.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Text,
    Double,
    /// INT64 TIMESTAMP with this unit, adjusted to UTC or not.
    Instant(TimeUnit, bool),
}

fn field(name: &str, kind: Kind) -> Arc<Type> {
    let (physical, logical) = match kind {
        Kind::Text => (Physical::BYTE_ARRAY, Some(LogicalType::String)),
        Kind::Double => (Physical::DOUBLE, None),
        Kind::Instant(unit, utc) => (Physical::INT64, Some(LogicalType::timestamp(utc, unit))),
    };
    Arc::new(
        Type::primitive_type_builder(name, physical)
            .with_repetition(Repetition::OPTIONAL)
            .with_logical_type(logical)
            .build()
            .unwrap(),
    )
}

fn per_second(unit: TimeUnit) -> i64 {
    match unit {
        TimeUnit::MILLIS => 1_000,
        TimeUnit::MICROS => 1_000_000,
        TimeUnit::NANOS => 1_000_000_000,
    }
}

/// Parquet bytes of a CSV table: every column OPTIONAL, an empty cell
/// null, `kind(column name)` the stored type, rows split into `groups` row
/// groups.
fn parquet_of_csv(csv_text: &str, kind: impl Fn(&str) -> Kind, groups: usize) -> Vec<u8> {
    parquet_of_csv_compressed(csv_text, kind, groups, Compression::UNCOMPRESSED)
}

fn parquet_of_csv_compressed(
    csv_text: &str,
    kind: impl Fn(&str) -> Kind,
    groups: usize,
    compression: Compression,
) -> Vec<u8> {
    let mut rdr = csv::ReaderBuilder::new().from_reader(csv_text.as_bytes());
    let header: Vec<String> = rdr.headers().unwrap().iter().map(str::to_string).collect();
    let rows: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
    let kinds: Vec<Kind> = header.iter().map(|h| kind(h)).collect();
    let schema = Type::group_type_builder("export")
        .with_fields(
            header
                .iter()
                .zip(&kinds)
                .map(|(h, k)| field(h, *k))
                .collect(),
        )
        .build()
        .unwrap();
    let props = Arc::new(
        WriterProperties::builder()
            .set_compression(compression)
            .build(),
    );
    let mut w = SerializedFileWriter::new(Vec::new(), Arc::new(schema), props).unwrap();
    let size = rows.len().div_ceil(groups).max(1);
    for chunk in rows.chunks(size) {
        let mut g = w.next_row_group().unwrap();
        let mut j = 0;
        while let Some(mut col) = g.next_column().unwrap() {
            let cells: Vec<&str> = chunk.iter().map(|r| r.get(j).unwrap_or("")).collect();
            let defs: Vec<i16> = cells.iter().map(|c| i16::from(!c.is_empty())).collect();
            let present = cells.iter().filter(|c| !c.is_empty());
            match kinds[j] {
                Kind::Text => {
                    let v: Vec<ByteArray> = present.map(|c| ByteArray::from(*c)).collect();
                    col.typed::<ByteArrayType>()
                        .write_batch(&v, Some(&defs), None)
                        .unwrap();
                }
                Kind::Double => {
                    let v: Vec<f64> = present.map(|c| c.parse().unwrap()).collect();
                    col.typed::<DoubleType>()
                        .write_batch(&v, Some(&defs), None)
                        .unwrap();
                }
                Kind::Instant(unit, _) => {
                    let v: Vec<i64> = present
                        .map(|c| {
                            let t = parse_rfc3339(c).unwrap();
                            let whole = t.floor();
                            let sub = ((t - whole) * per_second(unit) as f64).round() as i64;
                            whole as i64 * per_second(unit) + sub
                        })
                        .collect();
                    col.typed::<Int64Type>()
                        .write_batch(&v, Some(&defs), None)
                        .unwrap();
                }
            }
            col.close().unwrap();
            j += 1;
        }
        g.close().unwrap();
    }
    w.into_inner().unwrap()
}

/// The usual column types: time columns by name, tags as text, the rest numbers.
fn kinds_with(time: Kind) -> impl Fn(&str) -> Kind {
    move |h: &str| match h {
        "timestamp" | "result_timestamp" => time,
        "tag" | "quality" => Kind::Text,
        _ => Kind::Double,
    }
}

// --------------------------------------------------------------- fixtures

const TAGS: &str = r#"
[variables.temperature]
si_unit = "K"

[variables.glucose]
si_unit = "kg/m3"

[variables.titer]
si_unit = "kg/m3"

[tags."R1.TEMP"]
variable = "temperature"
unit = "C"
kind = "online"

[tags."R1.GLC"]
variable = "glucose"
unit = "g/L"
kind = "online"

[tags."LAB.TITER"]
variable = "titer"
unit = "mg/L"
kind = "offline"
"#;

/// Quality flags, a bad row without a value, a lab result known later.
const LONG: &str = "timestamp,tag,value,quality,result_timestamp
2024-03-01T00:00:00Z,R1.TEMP,37.0,good,
2024-03-01T00:00:00Z,R1.GLC,6.0,,
2024-03-01T02:00:00Z,R1.TEMP,36.5,192,
2024-03-01T02:00:00Z,R1.GLC,5.0,good,
2024-03-01T03:00:00Z,R1.GLC,,bad,
2024-03-01T04:00:00Z,LAB.TITER,500,good,2024-03-01T07:00:00Z
2024-03-01T00:00:00Z,LAB.TITER,0,good,
";

/// Relative time in hours, empty cells.
const WIDE: &str = "time_h,R1.TEMP,R1.GLC,LAB.TITER
0,37.0,6.0,0
2,36.5,5.0,
4,,,500
";

fn tiny_manifest(file: &str, format: &str) -> String {
    format!(
        r#"name = "tiny"
tag_map = "tags.toml"

[[batches]]
id = "A1"
equipment = "3 L glass"
recipe = "platform v2"
start = "2024-03-01T00:00:00Z"
end = "2024-03-01T10:00:00Z"
files = [{{ path = "{file}", format = "{format}" }}]
cqas = {{ titer = {{ value = 2.5, unit = "g/L" }} }}
"#
    )
}

/// A dataset directory with these files.
fn dataset(tags: &str, manifest: &str, files: &[(&str, &[u8])]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tags.toml"), tags).unwrap();
    std::fs::write(dir.path().join("dataset.toml"), manifest).unwrap();
    for (name, bytes) in files {
        std::fs::write(dir.path().join(name), bytes).unwrap();
    }
    let p = dir.path().to_path_buf();
    (dir, p)
}

fn load(dir: &Path) -> Dataset {
    Dataset::load(dir).unwrap_or_else(|e| panic!("{e}"))
}

fn load_err(dir: &Path) -> Diagnostics {
    match Dataset::load(dir) {
        Ok(_) => panic!("bad input was accepted"),
        Err(d) => d,
    }
}

/// Same samples, same lab timing, same content hash.
fn assert_same(a: &Dataset, b: &Dataset) {
    assert_eq!(a.batches.len(), b.batches.len());
    for (x, y) in a.batches.iter().zip(&b.batches) {
        assert_eq!(x.online, y.online, "online series of {}", x.id());
        assert_eq!(x.offline, y.offline, "lab samples of {}", x.id());
    }
    assert_eq!(a.content_hash, b.content_hash);
}

const INDPENSIM: &str = "training-data/indpensim";

/// Batch B01 of IndPenSim: its long export (CSV text), its tag map, and a
/// manifest of B01 alone reading `file` with `format`.
struct B01 {
    long_csv: String,
    tags: String,
    manifest_head: String,
}

impl B01 {
    fn read() -> B01 {
        use std::io::Read;
        let mut long_csv = String::new();
        let f = std::fs::File::open(format!("{INDPENSIM}/batches/B01_historian.csv.gz")).unwrap();
        flate2::read::GzDecoder::new(f)
            .read_to_string(&mut long_csv)
            .unwrap();
        let manifest = std::fs::read_to_string(format!("{INDPENSIM}/dataset.toml")).unwrap();
        let second = manifest.match_indices("[[batches]]").nth(1).unwrap().0;
        B01 {
            long_csv,
            tags: std::fs::read_to_string(format!("{INDPENSIM}/tags.toml")).unwrap(),
            manifest_head: manifest[..second].to_string(),
        }
    }

    fn manifest(&self, file: &str, format: &str) -> String {
        let m = self.manifest_head.replace(
            r#"files = [{ path = "batches/B01_historian.csv.gz", format = "long" }]"#,
            &format!(r#"files = [{{ path = "{file}", format = "{format}" }}]"#),
        );
        assert!(m.contains(file), "manifest layout changed");
        m
    }

    /// The long export pivoted wide: `timestamp`, then one column per tag.
    fn wide_csv(&self) -> String {
        let mut rdr = csv::Reader::from_reader(self.long_csv.as_bytes());
        let mut cells: BTreeMap<(i64, String), BTreeMap<String, String>> = BTreeMap::new();
        let mut tags = BTreeSet::new();
        for r in rdr.records() {
            let r = r.unwrap();
            let t = parse_rfc3339(&r[0]).unwrap() as i64;
            tags.insert(r[1].to_string());
            cells
                .entry((t, r[0].to_string()))
                .or_default()
                .insert(r[1].to_string(), r[2].to_string());
        }
        let tags: Vec<String> = tags.into_iter().collect();
        let mut out = format!("timestamp,{}\n", tags.join(","));
        for ((_, ts), row) in &cells {
            let vals: Vec<&str> = tags
                .iter()
                .map(|t| row.get(t).map_or("", String::as_str))
                .collect();
            out.push_str(&format!("{ts},{}\n", vals.join(",")));
        }
        out
    }
}

// ------------------------------------------------------ same data as CSV

#[test]
fn long_parquet_of_an_indpensim_batch_loads_like_its_csv() {
    let b01 = B01::read();
    let (_c, csv_dir) = dataset(
        &b01.tags,
        &b01.manifest("B01.csv", "long"),
        &[("B01.csv", b01.long_csv.as_bytes())],
    );
    let from_csv = load(&csv_dir);
    assert!(!from_csv.batches[0].online.is_empty());
    for time in [
        Kind::Text,
        Kind::Instant(TimeUnit::MILLIS, true),
        Kind::Instant(TimeUnit::MICROS, true),
        Kind::Instant(TimeUnit::NANOS, true),
    ] {
        let pq = parquet_of_csv(&b01.long_csv, kinds_with(time), 3);
        let (_p, pq_dir) = dataset(
            &b01.tags,
            &b01.manifest("B01.parquet", "long"),
            &[("B01.parquet", &pq)],
        );
        assert_same(&from_csv, &load(&pq_dir));
    }
}

#[test]
fn snappy_and_gzip_compressed_parquet_read_like_csv() {
    // Snappy is what pandas/pyarrow and Spark write by default.
    let b01 = B01::read();
    let (_c, csv_dir) = dataset(
        &b01.tags,
        &b01.manifest("B01.csv", "long"),
        &[("B01.csv", b01.long_csv.as_bytes())],
    );
    let from_csv = load(&csv_dir);
    for codec in [Compression::SNAPPY, Compression::GZIP(GzipLevel::default())] {
        let pq = parquet_of_csv_compressed(&b01.long_csv, kinds_with(Kind::Text), 2, codec);
        let (_p, pq_dir) = dataset(
            &b01.tags,
            &b01.manifest("B01.parquet", "long"),
            &[("B01.parquet", &pq)],
        );
        assert_same(&from_csv, &load(&pq_dir));
    }
}

#[test]
fn wide_parquet_of_an_indpensim_batch_loads_like_its_csv_and_the_long_export() {
    let b01 = B01::read();
    let wide = b01.wide_csv();
    let (_l, long_dir) = dataset(
        &b01.tags,
        &b01.manifest("B01.csv", "long"),
        &[("B01.csv", b01.long_csv.as_bytes())],
    );
    let (_c, csv_dir) = dataset(
        &b01.tags,
        &b01.manifest("B01_wide.csv", "wide"),
        &[("B01_wide.csv", wide.as_bytes())],
    );
    let from_csv = load(&csv_dir);
    // No result timestamps in B01, so long and wide hold the same data.
    assert_same(&load(&long_dir), &from_csv);
    for time in [Kind::Text, Kind::Instant(TimeUnit::MICROS, true)] {
        let pq = parquet_of_csv(&wide, kinds_with(time), 2);
        // Detected by its magic bytes whatever the name, like gzip.
        let (_p, pq_dir) = dataset(
            &b01.tags,
            &b01.manifest("B01_wide.bin", "wide"),
            &[("B01_wide.bin", &pq)],
        );
        assert_same(&from_csv, &load(&pq_dir));
    }
}

#[test]
fn quality_nulls_lab_timing_and_relative_time_read_like_csv() {
    let (_a, long_csv) = dataset(
        TAGS,
        &tiny_manifest("a1.csv", "long"),
        &[("a1.csv", LONG.as_bytes())],
    );
    let pq = parquet_of_csv(LONG, kinds_with(Kind::Instant(TimeUnit::MILLIS, true)), 2);
    let (_b, long_pq) = dataset(
        TAGS,
        &tiny_manifest("a1.parquet", "long"),
        &[("a1.parquet", &pq)],
    );
    let a = load(&long_csv);
    assert_same(&a, &load(&long_pq));
    // The bad row (null value) was dropped; the 4 h titer known at 7 h.
    assert_eq!(a.batches[0].online["glucose"].value, vec![6.0, 5.0]);
    assert_eq!(
        a.batches[0].offline["titer"][1].result_time_s,
        Some(7.0 * 3600.0)
    );

    let (_c, wide_csv) = dataset(
        TAGS,
        &tiny_manifest("w.csv", "wide"),
        &[("w.csv", WIDE.as_bytes())],
    );
    let pq = parquet_of_csv(WIDE, |_| Kind::Double, 1);
    let (_d, wide_pq) = dataset(
        TAGS,
        &tiny_manifest("w.parquet", "wide"),
        &[("w.parquet", &pq)],
    );
    assert_same(&load(&wide_csv), &load(&wide_pq));
}

// ------------------------------------------------------------ live replay

/// Every reading a replay hands out, unpaced, in delivery order.
fn replay_all(path: &Path, format: DataFormat) -> (Vec<Reading>, u64) {
    let mut s = ReplaySource::open(path, format, 0.0).unwrap_or_else(|e| panic!("{e}"));
    let mut out = Vec::new();
    loop {
        match s.poll().unwrap() {
            Poll::Readings(r) => out.extend(r),
            Poll::End => break,
            Poll::Idle => {}
        }
    }
    (out, s.malformed_rows())
}

#[test]
fn replay_of_a_parquet_export_equals_replay_of_the_csv() {
    let dir = tempfile::tempdir().unwrap();
    let b01 = B01::read();
    let wide = b01.wide_csv();
    let cases: [(&str, &str, DataFormat, Kind); 3] = [
        (
            &b01.long_csv,
            "long",
            DataFormat::Long,
            Kind::Instant(TimeUnit::NANOS, true),
        ),
        (&wide, "wide", DataFormat::Wide, Kind::Text),
        // Bad and uncertain rows are readings too; the valueless row is
        // malformed in both.
        (
            LONG,
            "flags",
            DataFormat::Long,
            Kind::Instant(TimeUnit::MILLIS, true),
        ),
    ];
    for (text, name, format, time) in cases {
        let csv_path = dir.path().join(format!("{name}.csv"));
        std::fs::write(&csv_path, text).unwrap();
        let pq_path = dir.path().join(format!("{name}.parquet"));
        std::fs::write(&pq_path, parquet_of_csv(text, kinds_with(time), 3)).unwrap();

        let from_csv = replay_all(&csv_path, format);
        assert!(!from_csv.0.is_empty());
        assert_eq!(replay_all(&pq_path, format), from_csv, "{name}");
        // `format = "parquet"` reads the layout from the columns.
        assert_eq!(
            replay_all(&pq_path, DataFormat::Parquet),
            from_csv,
            "{name}"
        );
        assert_eq!(
            read_export(&pq_path, format).unwrap(),
            read_export(&csv_path, format).unwrap(),
            "{name} in file order"
        );
    }
    let (_, malformed) = replay_all(&dir.path().join("flags.parquet"), DataFormat::Long);
    assert_eq!(malformed, 1);

    // `format = "parquet"` on a CSV file is refused, naming the file.
    let err = read_export(&dir.path().join("flags.csv"), DataFormat::Parquet).unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert!(err.to_string().contains("flags.csv"), "{err}");
}

// -------------------------------------------------------------- malformed

/// The single diagnostic of a tiny long dataset whose file is `bytes`.
fn tiny_error(name: &str, format: &str, bytes: &[u8]) -> Diagnostics {
    let (_t, dir) = dataset(TAGS, &tiny_manifest(name, format), &[(name, bytes)]);
    let d = load_err(&dir);
    for x in d.iter() {
        assert!(x.file.ends_with(name), "{x}");
    }
    d
}

#[test]
fn a_file_that_is_not_parquet_is_named() {
    // Named .parquet but CSV inside.
    let d = tiny_error("a1.parquet", "long", LONG.as_bytes());
    assert_eq!(d.len(), 1, "{d}");
    assert!(d.0[0].expected.contains("a Parquet file"), "{d}");
    // Parquet magic bytes but cut short (no footer), whatever its name.
    let pq = parquet_of_csv(LONG, kinds_with(Kind::Text), 1);
    let d = tiny_error("a1.csv", "long", &pq[..pq.len() / 2]);
    assert_eq!(d.len(), 1, "{d}");
    assert!(d.0[0].expected.contains("a Parquet file"), "{d}");
}

#[test]
fn a_missing_timestamp_column_is_named() {
    let text = LONG.replacen("timestamp,", "time,", 1);
    let pq = parquet_of_csv(
        &text,
        |h| match h {
            "time" => Kind::Instant(TimeUnit::MILLIS, true),
            other => kinds_with(Kind::Text)(other),
        },
        1,
    );
    let d = tiny_error("a1.parquet", "long", &pq);
    let header = d
        .iter()
        .find(|x| x.field == "header")
        .unwrap_or_else(|| panic!("no header problem: {d}"));
    assert!(header.expected.contains("timestamp, tag and value"), "{d}");
    assert_eq!(header.line, None, "a schema has no line: {d}");
    assert!(d.iter().any(|x| x.found == "`time`"), "{d}");
}

#[test]
fn a_string_value_column_is_named_with_its_type() {
    let pq = parquet_of_csv(
        LONG,
        |h| match h {
            "value" => Kind::Text,
            other => kinds_with(Kind::Text)(other),
        },
        1,
    );
    let d = tiny_error("a1.parquet", "long", &pq);
    assert_eq!(d.len(), 1, "{d}");
    assert_eq!(d.0[0].field, "column `value`");
    assert!(d.0[0].expected.contains("DOUBLE"), "{d}");
    assert!(d.0[0].found.contains("BYTE_ARRAY"), "{d}");
}

#[test]
fn a_null_timestamp_is_named_with_its_row_across_row_groups() {
    // Data row 6 (in the second of three row groups) loses its timestamp.
    let text = LONG.replace("2024-03-01T04:00:00Z,LAB", ",LAB");
    let pq = parquet_of_csv(&text, kinds_with(Kind::Instant(TimeUnit::MILLIS, true)), 3);
    let d = tiny_error("a1.parquet", "long", &pq);
    assert_eq!(d.len(), 1, "{d}");
    assert_eq!(d.0[0].field, "row 6, timestamp", "{d}");
    assert_eq!(d.0[0].found, "null");
    assert_eq!(d.0[0].line, None);
    let shown = d.to_string();
    assert!(
        shown.contains("a1.parquet: row 6, timestamp: expected a time, found null"),
        "{shown}"
    );
}

#[test]
fn row_problems_found_after_reading_name_the_row() {
    // A sample after the batch end, and a value that is no finite number.
    let text = LONG
        .replace("2024-03-01T02:00:00Z,R1.GLC", "2024-03-02T02:00:00Z,R1.GLC")
        .replace("R1.TEMP,36.5", "R1.TEMP,NaN");
    let pq = parquet_of_csv(&text, kinds_with(Kind::Text), 2);
    let d = tiny_error("a1.parquet", "long", &pq);
    assert!(
        d.iter()
            .any(|x| x.field == "row 3, value" && x.found == "`NaN`"),
        "{d}"
    );
    let pq = parquet_of_csv(
        &LONG.replace("2024-03-01T02:00:00Z,R1.GLC", "2024-03-02T02:00:00Z,R1.GLC"),
        kinds_with(Kind::Text),
        2,
    );
    let d = tiny_error("a1.parquet", "long", &pq);
    assert_eq!(d.len(), 1, "{d}");
    assert_eq!(d.0[0].field, "row 4, timestamp", "{d}");
    assert!(d.0[0].expected.contains("window"), "{d}");
}

#[test]
fn local_timestamps_are_refused_like_csv_times_without_offset() {
    let pq = parquet_of_csv(LONG, kinds_with(Kind::Instant(TimeUnit::MICROS, false)), 1);
    let d = tiny_error("a1.parquet", "long", &pq);
    assert!(
        d.iter()
            .any(|x| x.field == "column `timestamp`" && x.found.contains("not adjusted to UTC")),
        "{d}"
    );
}

#[test]
fn a_codec_left_out_of_the_build_is_named() {
    // ZSTD is not compiled in; mark the `value` column chunk as ZSTD in the
    // footer (thrift compact: after the column path, field 4 `codec` as
    // i32 0x15, zigzag 0 = UNCOMPRESSED becomes 12 = ZSTD).
    let mut pq = parquet_of_csv(LONG, kinds_with(Kind::Text), 1);
    let needle = [b"value".as_slice(), &[0x15, 0x00]].concat();
    let at = pq
        .windows(needle.len())
        .rposition(|w| w == needle.as_slice())
        .expect("codec field of `value`");
    pq[at + needle.len() - 1] = 0x0C;
    let d = tiny_error("a1.parquet", "long", &pq);
    assert_eq!(d.len(), 1, "{d}");
    assert!(d.0[0].found.contains("zstd"), "{d}");
}

#[test]
fn damaged_files_give_diagnostics_not_panics() {
    let pq = parquet_of_csv(LONG, kinds_with(Kind::Instant(TimeUnit::MILLIS, true)), 2);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.parquet");
    let tags = biotwin::data::TagMap::read({
        let p = dir.path().join("tags.toml");
        std::fs::write(&p, TAGS).unwrap();
        p
    })
    .unwrap();
    let mut rejected = 0;
    // Every truncation, and every byte flipped: whatever it decodes to, an
    // answer comes back.
    for cut in 0..pq.len() {
        std::fs::write(&path, &pq[..cut]).unwrap();
        assert!(biotwin::data::long_format::read_long(&path, &tags).is_err());
    }
    for i in 0..pq.len() {
        let mut bad = pq.clone();
        bad[i] ^= 0xA5;
        std::fs::write(&path, &bad).unwrap();
        let r = biotwin::data::long_format::read_long(&path, &tags);
        rejected += usize::from(r.is_err());
    }
    assert!(rejected > 0);
}

#[test]
fn cli_exits_2_naming_the_parquet_file_and_row() {
    let text = LONG.replace("2024-03-01T04:00:00Z,LAB", ",LAB");
    let pq = parquet_of_csv(&text, kinds_with(Kind::Text), 1);
    let (_t, dir) = dataset(
        TAGS,
        &tiny_manifest("a1.parquet", "long"),
        &[("a1.parquet", &pq)],
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_biotwin"))
        .args([
            "train",
            "--dataset",
            dir.to_str().unwrap(),
            "--model",
            "pls",
        ])
        .args([
            "--target",
            "titer",
            "--out",
            dir.join("m").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("a1.parquet: row 6, timestamp"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}
