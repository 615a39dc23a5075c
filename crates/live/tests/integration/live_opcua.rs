//! OpcUaSource against a real OPC UA server (Python asyncua, tests/opcua/server.py)
//! replaying tests/fixtures/opcua/b01_day1.csv (the first day of the
//! cho-platform batch B01, with three non-good rows).
//!
//! Without asyncua these tests fail with an install hint, unless
//! BIOTWIN_SKIP_OPCUA=1 opts out explicitly.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use biotwin_live::opcua::{OpcUaConfig, OpcUaNode, OpcUaSource};
use biotwin_live::{Poll, Quality, Reading, Source, Store};
use biotwin_ml::data::TagMap;
use biotwin_ml::data::long_format::read_long;
use biotwin_ml::data::timestamp::parse_rfc3339;

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/opcua/b01_day1.csv"
);
/// Tags whose rows carry a result time: served as lab nodes.
const LAB_TAGS: [&str; 3] = ["glucose", "titer", "viable_cells"];
/// Bound on every wait; generous because the test machine is shared.
const PATIENCE: Duration = Duration::from_secs(90);

fn root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn python() -> String {
    std::env::var("BIOTWIN_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// True when the test server can run. Without asyncua the test fails with
/// an install hint, unless BIOTWIN_SKIP_OPCUA=1 opts out explicitly.
fn asyncua_available() -> bool {
    let ok = Command::new(python())
        .args(["-c", "import asyncua, aiosqlite"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        if std::env::var("BIOTWIN_SKIP_OPCUA").as_deref() == Ok("1") {
            eprintln!(
                "SKIPPED live_opcua: BIOTWIN_SKIP_OPCUA=1 and Python asyncua is not importable"
            );
            return false;
        }
        panic!(
            "Python asyncua is not importable by `{}`: install it with \
             `python3 -m pip install asyncua==2.1.0` (or point BIOTWIN_PYTHON at a Python \
             that has it), or set BIOTWIN_SKIP_OPCUA=1 to skip these tests",
            python()
        );
    }
    ok
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One run of the test server; killed (SIGKILL) when dropped.
struct TestServer {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl TestServer {
    fn start(port: u16, dir: &Path, interval_ms: u32, gap_rows: u32) -> TestServer {
        let mut child = Command::new(python())
            .arg(root().join("tests/opcua/server.py"))
            .arg("--csv")
            .arg(root().join(FIXTURE))
            .args(["--port", &port.to_string()])
            .arg("--history")
            .arg(dir.join("history.sqlite"))
            .arg("--progress")
            .arg(dir.join("progress.txt"))
            .args(["--interval-ms", &interval_ms.to_string()])
            .args(["--gap-rows", &gap_rows.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the test server");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let out = child.stdout.take().unwrap();
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let server = TestServer { child, lines };
        let t0 = Instant::now();
        while !server.said("LISTENING") {
            assert!(t0.elapsed() < PATIENCE, "test server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    fn said(&self, word: &str) -> bool {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.starts_with(word))
    }

    /// `NODE <tag> <node id>` lines: the node ids the server gave each tag.
    fn nodes(&self) -> Vec<OpcUaNode> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| {
                let mut parts = l.split_whitespace();
                (parts.next() == Some("NODE")).then(|| {
                    let tag = parts.next().unwrap().to_string();
                    OpcUaNode {
                        lab: LAB_TAGS.contains(&tag.as_str()),
                        node_id: parts.next().unwrap().to_string(),
                        tag,
                    }
                })
            })
            .collect()
    }

    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn config(port: u16, nodes: Vec<OpcUaNode>) -> OpcUaConfig {
    let mut c = OpcUaConfig::new(format!("opc.tcp://127.0.0.1:{port}/biotwin/"), nodes);
    c.publishing_interval_ms = 50;
    c.reconnect_initial_ms = 200;
    c.reconnect_max_ms = 1000;
    c
}

fn start_source(c: &OpcUaConfig) -> OpcUaSource {
    OpcUaSource::start(c, Path::new("test-site.toml"), "opcua").expect("valid config")
}

/// Polls until `enough` holds (then a little longer, to catch extras).
fn collect(source: &mut OpcUaSource, got: &mut Vec<Reading>, enough: impl Fn(&[Reading]) -> bool) {
    let t0 = Instant::now();
    while !enough(got) {
        assert!(
            t0.elapsed() < PATIENCE,
            "only {} readings arrived; last error: {:?}, stats: {:?}",
            got.len(),
            source.last_error(),
            source.stats()
        );
        match source.poll().expect("poll") {
            Poll::Readings(r) => got.extend(r),
            Poll::Idle => std::thread::sleep(Duration::from_millis(10)),
            Poll::End => panic!("a subscription does not end"),
        }
    }
}

fn drain_for(source: &mut OpcUaSource, got: &mut Vec<Reading>, d: Duration) {
    let t0 = Instant::now();
    while t0.elapsed() < d {
        if let Poll::Readings(r) = source.poll().expect("poll") {
            got.extend(r);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// (tag, time, value, available) as a sortable key.
type Key = (String, u64, u64, Option<u64>);

fn key(tag: &str, time: f64, value: f64, available: Option<f64>) -> Key {
    (
        tag.to_string(),
        time.to_bits(),
        value.to_bits(),
        available.map(f64::to_bits),
    )
}

/// Multiset of the good readings, as a map key -> count.
fn multiset(keys: impl IntoIterator<Item = Key>) -> BTreeMap<Key, usize> {
    let mut m = BTreeMap::new();
    for k in keys {
        *m.entry(k).or_insert(0) += 1;
    }
    m
}

/// The good rows of the fixture as the long-CSV reader gives them.
fn expected_good() -> BTreeMap<Key, usize> {
    let tags = TagMap::read(root().join("training-data/cho-platform/tags.toml")).unwrap();
    let samples = read_long(&root().join(FIXTURE), &tags).unwrap();
    assert!(samples.len() > 150, "fixture too small: {}", samples.len());
    multiset(
        samples
            .iter()
            .map(|s| key(&s.tag, s.time_unix_s, s.value, s.result_unix_s)),
    )
}

/// The fixture's non-good rows: (tag, time, quality).
fn expected_not_good() -> Vec<(String, u64, Quality)> {
    let text = std::fs::read_to_string(root().join(FIXTURE)).unwrap();
    let mut out: Vec<_> = text
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            let q = match f[3] {
                "bad" => Quality::Bad,
                "uncertain" => Quality::Uncertain,
                _ => return None,
            };
            Some((f[1].to_string(), parse_rfc3339(f[0]).unwrap().to_bits(), q))
        })
        .collect();
    out.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    out
}

fn fixture_rows() -> usize {
    std::fs::read_to_string(root().join(FIXTURE))
        .unwrap()
        .lines()
        .count()
        - 1
}

fn good_of(got: &[Reading]) -> BTreeMap<Key, usize> {
    multiset(
        got.iter()
            .filter(|r| r.quality == Quality::Good)
            .map(|r| key(&r.tag, r.time_unix_s, r.value, r.available_unix_s)),
    )
}

fn not_good_of(got: &[Reading]) -> Vec<(String, u64, Quality)> {
    let mut out: Vec<_> = got
        .iter()
        .filter(|r| r.quality != Quality::Good)
        .map(|r| (r.tag.clone(), r.time_unix_s.to_bits(), r.quality))
        .collect();
    out.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    out
}

#[test]
fn subscription_delivers_the_export_and_maps_status_to_quality() {
    if !asyncua_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let server = TestServer::start(port, dir.path(), 10, 0);
    let nodes = server.nodes();
    assert_eq!(nodes.len(), 7, "server nodes: {nodes:?}");
    let mut source = start_source(&config(port, nodes));
    assert_eq!(
        source.describe(),
        format!("opcua:opc.tcp://127.0.0.1:{port}/biotwin/")
    );
    let total = fixture_rows();
    let mut got = Vec::new();
    collect(&mut source, &mut got, |g| g.len() >= total);
    drain_for(&mut source, &mut got, Duration::from_millis(500));

    // (a) the good readings are exactly the rows the long-CSV reader keeps,
    // lab result times included.
    let good = good_of(&got);
    let want = expected_good();
    assert_eq!(good.len(), want.len());
    assert_eq!(good, want);
    // (c) bad and uncertain status codes arrive as such, at their times.
    let not_good = not_good_of(&got);
    assert_eq!(not_good, expected_not_good());
    assert!(not_good.iter().any(|r| r.2 == Quality::Bad));
    assert!(not_good.iter().any(|r| r.2 == Quality::Uncertain));
    assert!(
        got.iter()
            .filter(|r| r.quality == Quality::Bad)
            .all(|r| r.value.is_nan())
    );
    assert_eq!(got.len(), total, "no extra reading");
    let stats = source.stats();
    assert_eq!(stats.readings as usize, total);
    assert_eq!(stats.connection_losses, 0);
    drop(source);
    drop(server);
}

#[test]
fn server_killed_and_restarted_reconnects_and_backfills_without_loss_or_duplicates() {
    if !asyncua_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let total = fixture_rows();
    let server = TestServer::start(port, dir.path(), 25, 0);
    let nodes = server.nodes();
    let mut source = start_source(&config(port, nodes));
    let mut got = Vec::new();
    collect(&mut source, &mut got, |g| g.len() >= 40);
    // Mid-stream: the server dies without a goodbye.
    assert!(!server.said("DONE"), "the server finished before the kill");
    server.kill();
    drain_for(&mut source, &mut got, Duration::from_millis(300));
    let before = got.len();
    assert!(before < total);
    // It comes back on the same port and first writes 40 rows that no
    // subscription can see (it is not listening yet): only HistoryRead can.
    let gap_rows = 40;
    let server = TestServer::start(port, dir.path(), 25, gap_rows);
    collect(&mut source, &mut got, |g| g.len() >= total);
    let t0 = Instant::now();
    while !server.said("DONE") {
        assert!(t0.elapsed() < PATIENCE, "restarted server did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
    drain_for(&mut source, &mut got, Duration::from_millis(500));

    let stats = source.stats();
    eprintln!("live_opcua kill/restart: {before} readings before the kill; {stats:?}");
    assert!(stats.connection_losses >= 1, "{stats:?}");
    assert!(stats.connects >= 2, "{stats:?}");
    // The gap rows came through the back-fill (less, at most, the newest
    // value per node, which the new subscription also sends).
    assert!(
        stats.backfilled as usize >= gap_rows as usize - 7,
        "back-filled only {}: {stats:?}",
        stats.backfilled
    );
    // Nothing lost, nothing twice.
    assert_eq!(good_of(&got), expected_good());
    assert_eq!(not_good_of(&got), expected_not_good());
    assert_eq!(got.len(), total, "{stats:?}");
    drop(source);
    drop(server);
}

#[test]
fn unreachable_server_is_retried_not_an_error_and_bad_config_is_named() {
    // Runs without Python: no server at all on this port.
    let port = free_port();
    let c = config(
        port,
        vec![OpcUaNode {
            tag: "ph".into(),
            node_id: "ns=2;i=1003".into(),
            lab: false,
        }],
    );
    let mut source = start_source(&c);
    for _ in 0..20 {
        assert_eq!(source.poll().unwrap(), Poll::Idle);
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(source.stats().connects, 0);
    drop(source);

    let mut bad = c.clone();
    bad.endpoint = "http://x".into();
    bad.nodes.push(OpcUaNode {
        tag: "ph".into(),
        node_id: "not a node".into(),
        lab: false,
    });
    let err = OpcUaSource::start(&bad, Path::new("site.toml"), "opcua")
        .err()
        .expect("invalid config")
        .to_string();
    assert!(err.contains("site.toml: opcua.endpoint"), "{err}");
    assert!(err.contains("opcua.nodes[1].tag"), "{err}");
    assert!(err.contains("opcua.nodes[1].node_id"), "{err}");
    assert!(err.contains("`not a node`"), "{err}");
}

#[test]
fn site_file_table_parses_with_defaults_and_rejects_unknown_fields() {
    #[derive(serde::Deserialize)]
    struct Site {
        opcua: OpcUaConfig,
    }
    let text = r#"
[opcua]
endpoint = "opc.tcp://historian.example:4840/"
[[opcua.nodes]]
tag = "dissolved_o2"
node_id = "ns=2;i=1001"
[[opcua.nodes]]
tag = "titer"
node_id = "ns=2;s=BR01.Titer"
lab = true
"#;
    let site: Site = toml::from_str(text).unwrap();
    let c = site.opcua;
    assert_eq!(c.publishing_interval_ms, 1000);
    assert_eq!(c.security, "none");
    assert!(c.backfill);
    assert_eq!((c.reconnect_initial_ms, c.reconnect_max_ms), (500, 10_000));
    assert!(!c.nodes[0].lab && c.nodes[1].lab);
    assert_eq!(
        c.validate(Path::new("site.toml"), "opcua").unwrap().len(),
        2
    );
    let typo = text.replace("lab = true", "lab = true\nlabb = 1");
    assert!(toml::from_str::<Site>(&typo).is_err());
}

// ---- Through the engine: OPC UA predictions equal replay predictions ----

use biotwin_live::PredictionRecord;
use biotwin_live::config::{BatchConfig, SiteConfig};
use biotwin_live::engine::{Engine, EngineOptions, PredictorFactory, open_source};
use biotwin_live::mechanistic::{MechanisticOptions, MechanisticPredictor};
use biotwin_live::sqlite_store::SqliteStore;

/// The mechanistic predictor of the process the batch names (made here, so
/// the test does not depend on how the command wires its factory).
struct Mechanistic;

impl PredictorFactory for Mechanistic {
    fn create(
        &self,
        b: &BatchConfig,
    ) -> Result<Box<dyn biotwin_live::Predictor>, biotwin_live::Error> {
        Ok(Box::new(MechanisticPredictor::from_process_file(
            &b.process,
            MechanisticOptions::default(),
        )?))
    }
}

/// A site following batch B01 (the fixture's day) with one source; a
/// forecast every 4 h of batch time.
fn site(dir: &Path, name: &str, source: &str) -> PathBuf {
    let mut t = format!(
        r#"[site]
name = "opcua-vs-replay"
forecast_every_s = 14400.0
[store]
path = "{name}.sqlite"
[[tenants]]
id = "sponsor-a"
token_sha256 = "4d1566a1d7df42a8517456d60ea06ed284e535cfe4c956aa6ee172dbcdf945f7"
[[batches]]
id = "B01"
tenant = "sponsor-a"
unit = "BR-3L-01"
start = "2025-01-01T00:00:00Z"
planned_end = "2025-01-15T00:00:00Z"
process = "{}"
predictor = "mechanistic"
"#,
        root()
            .join("process-models/processes/cho-platform-3l.toml")
            .display()
    );
    // (tag, SI unit, min, max, stale_after_s, lab)
    let tags = [
        ("dissolved_o2", "1", 0.0, 1.5, 7200.0, false),
        ("ph", "1", 5.5, 8.5, 7200.0, false),
        ("temperature", "K", 300.0, 315.0, 7200.0, false),
        ("volume", "m3", 0.0, 0.005, 7200.0, false),
        ("viable_cells", "1/m3", 0.0, 1e14, 172800.0, true),
        ("glucose", "kg/m3", 0.0, 50.0, 172800.0, true),
        ("titer", "kg/m3", 0.0, 20.0, 172800.0, true),
    ];
    for (tag, unit, min, max, stale, lab) in tags {
        t += &format!(
            "[variables.{tag}]\nsi_unit = \"{unit}\"\n[[tags]]\ntag = \"{tag}\"\nvariable = \"{tag}\"\n\
             unit = \"{unit}\"\nmin = {min:?}\nmax = {max:?}\nstale_after_s = {stale:?}\nlab = {lab}\n"
        );
    }
    t += source;
    let p = dir.join(format!("{name}.toml"));
    std::fs::write(&p, t).unwrap();
    p
}

fn opcua_source_block(port: u16, nodes: &[OpcUaNode]) -> String {
    let mut s = format!(
        "[[sources]]\nkind = \"opcua\"\nunit = \"BR-3L-01\"\n\
         endpoint = \"opc.tcp://127.0.0.1:{port}/biotwin/\"\npublishing_interval_ms = 50\n\
         reconnect_initial_ms = 200\nreconnect_max_ms = 1000\n"
    );
    for n in nodes {
        s += &format!(
            "[[sources.nodes]]\ntag = \"{}\"\nnode_id = \"{}\"\nlab = {}\n",
            n.tag, n.node_id, n.lab
        );
    }
    s
}

fn quiet() -> EngineOptions {
    EngineOptions {
        progress_every: None,
        ..EngineOptions::default()
    }
}

/// An engine over the site's sources, started.
fn engine(path: &Path) -> (Engine, Arc<SqliteStore>) {
    let cfg = Arc::new(SiteConfig::read(path).expect("valid site file"));
    let store = Arc::new(SqliteStore::open(&cfg.store_path).unwrap());
    let sources = cfg
        .sources
        .iter()
        .map(|s| (open_source(s, 0.0).expect("source"), s.unit.clone()))
        .collect();
    let mut e = Engine::new(cfg, store.clone(), Arc::new(Mechanistic), sources, quiet());
    e.start().unwrap();
    (e, store)
}

/// The engine replaying the fixture file: the reference predictions.
fn replayed(dir: &Path) -> (Vec<PredictionRecord>, biotwin_live::engine::Stats) {
    let block = format!(
        "[[sources]]\nkind = \"replay\"\nunit = \"BR-3L-01\"\npath = \"{}\"\n",
        root().join(FIXTURE).display()
    );
    let (mut e, store) = engine(&site(dir, "replay", &block));
    let stats = e.run(true).unwrap().clone();
    (store.predictions("sponsor-a", "B01").unwrap(), stats)
}

/// Steps the engine until it has received every row of the export and the
/// server has written them all, then a little longer (to catch extras).
fn step_until_complete(e: &mut Engine, server: &TestServer) {
    let total = fixture_rows() as u64;
    let t0 = Instant::now();
    while !(server.said("DONE") && e.stats().readings_received >= total) {
        assert!(
            t0.elapsed() < PATIENCE,
            "engine received only {} of {total} readings",
            e.stats().readings_received
        );
        if e.step(false).unwrap().readings == 0 {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    let t1 = Instant::now();
    while t1.elapsed() < Duration::from_millis(500) {
        e.step(false).unwrap();
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Same seq, model, input hash and forecast (every number, bit for bit).
fn assert_same_predictions(got: &[PredictionRecord], want: &[PredictionRecord]) {
    let view = |ps: &[PredictionRecord]| -> Vec<(u64, String, String, serde_json::Value)> {
        ps.iter()
            .map(|p| {
                (
                    p.seq,
                    p.model_id.clone(),
                    p.input_sha256.clone(),
                    serde_json::to_value(&p.forecast).unwrap(),
                )
            })
            .collect()
    };
    assert!(
        want.len() >= 4,
        "too few reference predictions: {}",
        want.len()
    );
    let (g, w) = (view(got), view(want));
    assert_eq!(g.len(), w.len(), "prediction count");
    for (a, b) in g.iter().zip(&w) {
        assert_eq!(a, b, "prediction {} differs", b.0);
    }
}

#[test]
fn engine_over_opcua_records_the_predictions_of_a_replay_of_the_same_export() {
    if !asyncua_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (want, replay_stats) = replayed(dir.path());

    let port = free_port();
    let server = TestServer::start(port, dir.path(), 10, 0);
    let nodes = server.nodes();
    assert_eq!(nodes.len(), 7, "server nodes: {nodes:?}");
    let (mut e, store) = engine(&site(
        dir.path(),
        "opcua",
        &opcua_source_block(port, &nodes),
    ));
    step_until_complete(&mut e, &server);
    let got = store.predictions("sponsor-a", "B01").unwrap();
    let stats = e.stats().clone();
    eprintln!(
        "live_opcua engine: {} predictions; replay {replay_stats:?}; opcua {stats:?}",
        got.len()
    );
    assert_same_predictions(&got, &want);
    assert_eq!(stats.readings_received, replay_stats.readings_received);
    assert_eq!(
        stats.observations_accepted,
        replay_stats.observations_accepted
    );
    assert_eq!(
        stats.observations_assimilated,
        replay_stats.observations_assimilated
    );
    assert_eq!(stats.rejections, replay_stats.rejections);
    // The export's two bad and one uncertain row, refused the same way.
    assert_eq!(stats.rejections.total(), 3, "{stats:?}");
    drop(e);
    drop(server);
}

#[test]
fn engine_over_opcua_with_the_server_killed_mid_batch_records_the_same_predictions() {
    if !asyncua_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (want, _) = replayed(dir.path());

    let port = free_port();
    let server = TestServer::start(port, dir.path(), 25, 0);
    let nodes = server.nodes();
    let (mut e, store) = engine(&site(
        dir.path(),
        "opcua",
        &opcua_source_block(port, &nodes),
    ));
    let t0 = Instant::now();
    while e.stats().readings_received < 60 {
        assert!(t0.elapsed() < PATIENCE, "no readings before the kill");
        e.step(false).unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(!server.said("DONE"), "the server finished before the kill");
    server.kill();
    let before = e.stats().readings_received;
    let t1 = Instant::now();
    while t1.elapsed() < Duration::from_millis(300) {
        e.step(false).unwrap();
        std::thread::sleep(Duration::from_millis(10));
    }
    // Back on the same port, after writing 40 rows no subscription sees.
    let server = TestServer::start(port, dir.path(), 25, 40);
    step_until_complete(&mut e, &server);
    let got = store.predictions("sponsor-a", "B01").unwrap();
    let stats = e.stats().clone();
    eprintln!(
        "live_opcua engine kill/restart: {before} readings before the kill; {} predictions; {stats:?}",
        got.len()
    );
    assert!((before as usize) < fixture_rows());
    assert_eq!(
        stats.readings_received as usize,
        fixture_rows(),
        "{stats:?}"
    );
    assert_same_predictions(&got, &want);
    drop(e);
    drop(server);
}

/// Runs without Python: the engine given the export's readings in file order
/// (in chunks of 50) and in order of availability with ties reversed (one by
/// one) records the same predictions: the rule that makes the OPC UA and
/// replay runs above agree, checked on orders that differ where it matters.
#[test]
fn engine_forecasts_do_not_depend_on_arrival_order_or_chunking() {
    use biotwin_live::config::DataFormat;
    use biotwin_live::replay::ReplaySource;
    let mut replay = ReplaySource::open(&root().join(FIXTURE), DataFormat::Long, 0.0).unwrap();
    let mut rows: Vec<Reading> = Vec::new();
    loop {
        match replay.poll().unwrap() {
            Poll::Readings(r) => rows.extend(r),
            Poll::Idle => {}
            Poll::End => break,
        }
    }
    assert_eq!(rows.len(), fixture_rows());
    let mut by_availability = rows.clone();
    let at = |r: &Reading| r.available_unix_s.unwrap_or(r.time_unix_s);
    by_availability.sort_by(|a, b| {
        at(a)
            .total_cmp(&at(b))
            .then(a.time_unix_s.total_cmp(&b.time_unix_s))
            .then_with(|| b.tag.cmp(&a.tag))
    });
    assert_ne!(
        rows.iter().map(|r| &r.tag).collect::<Vec<_>>(),
        by_availability.iter().map(|r| &r.tag).collect::<Vec<_>>()
    );

    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str, readings: &[Reading], chunk: usize| {
        let block = format!(
            "[[sources]]\nkind = \"replay\"\nunit = \"BR-3L-01\"\npath = \"{}\"\n",
            root().join(FIXTURE).display()
        );
        let cfg = Arc::new(SiteConfig::read(site(dir.path(), name, &block)).unwrap());
        let store = Arc::new(SqliteStore::open(&cfg.store_path).unwrap());
        let mut e = Engine::new(
            cfg,
            store.clone(),
            Arc::new(Mechanistic),
            Vec::new(),
            quiet(),
        );
        e.start().unwrap();
        for c in readings.chunks(chunk) {
            e.ingest("BR-3L-01", c).unwrap();
        }
        store.predictions("sponsor-a", "B01").unwrap()
    };
    let want = run("file-order", &rows, 50);
    let got = run("availability-order", &by_availability, 1);
    assert_same_predictions(&got, &want);
}
