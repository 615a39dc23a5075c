//! `biotwin live --once` end to end on the two shipped example sites, with
//! the real predictors the site files name:
//! * process-models/sites/example-site.toml: CHO platform batch B01 replayed
//!   into the mechanistic predictor (EKF + 200-member ensemble);
//! * process-models/sites/indpensim-site.toml: IndPenSim batch B01 replayed
//!   into the surrogate ladder trained on B02-B20.
//!
//! Each site file is copied into a temporary directory with its paths made
//! absolute and its store moved there, so the repository is not written.
//! Checked: every planned prediction recorded once with model id, input hash,
//! an interval around its mean and P(in spec); the forecasts are close to the
//! batch's true end-of-batch value; `biotwin audit verify` passes; a second
//! `--once` run adds nothing. The shipped ladder is retrained from
//! training-data and must forecast the same, so it cannot go stale silently.

use std::path::{Path, PathBuf};
use std::process::Command;

use biotwin::live::config::SiteConfig;
use biotwin::live::sqlite_store::SqliteStore;
use biotwin::live::{PredictionRecord, Store};

const BIN: &str = env!("CARGO_BIN_EXE_biotwin");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn sites_dir() -> PathBuf {
    Path::new(ROOT).join("process-models/sites")
}

/// Copies site `name` into a temp dir: relative paths resolved against the
/// shipped file, the store in the temp dir, the ladder optionally replaced.
pub(crate) fn copy_site(name: &str, ladder: Option<&Path>) -> (tempfile::TempDir, PathBuf) {
    let src = sites_dir().join(name);
    let text = std::fs::read_to_string(&src).unwrap();
    let mut doc: toml_edit::DocumentMut = text.parse().unwrap();
    let abs = |p: &str| sites_dir().join(p).display().to_string();
    let dir = tempfile::tempdir().unwrap();
    doc["store"]["path"] = toml_edit::value(dir.path().join("live.sqlite").display().to_string());
    let batches = doc["batches"].as_array_of_tables_mut().unwrap();
    for b in batches.iter_mut() {
        let process = abs(b["process"].as_str().unwrap());
        b["process"] = toml_edit::value(process);
        let predictor = b["predictor"].as_str().unwrap().to_string();
        if let Some(p) = predictor.strip_prefix("surrogate:") {
            let path = ladder.map_or_else(|| abs(p), |l| l.display().to_string());
            b["predictor"] = toml_edit::value(format!("surrogate:{path}"));
        }
    }
    let sources = doc["sources"].as_array_of_tables_mut().unwrap();
    for s in sources.iter_mut() {
        let path = abs(s["path"].as_str().unwrap());
        s["path"] = toml_edit::value(path);
    }
    let site = dir.path().join(name);
    std::fs::write(&site, doc.to_string()).unwrap();
    (dir, site)
}

fn live_once(site: &Path) -> String {
    let out = Command::new(BIN)
        .args(["live", "--once", "--config"])
        .arg(site)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn audit_verify(store: &Path) {
    let out = Command::new(BIN)
        .args(["audit", "verify", "--store"])
        .arg(store)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("intact"),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs a site twice; checks the records; returns the predictions of B01.
fn run_twice_and_check(name: &str, model_prefix: &str) -> Vec<PredictionRecord> {
    let (dir, site) = copy_site(name, None);
    let cfg = SiteConfig::read(&site).unwrap();
    let b = &cfg.batches[0];
    let expected = ((b.planned_end_unix_s - b.start_unix_s) / cfg.forecast_every_s).ceil() as usize;
    let stdout = live_once(&site);
    println!("{stdout}");
    let store_path = dir.path().join("live.sqlite");
    let store = SqliteStore::open(&store_path).unwrap();
    let preds = store.predictions("sponsor-a", "B01").unwrap();
    assert_eq!(preds.len(), expected, "one prediction per forecast time");
    // The command shows the latest forecast of the batch, CQA by CQA.
    let last = preds.last().unwrap();
    assert!(
        stdout.contains(&format!("batch B01 (sponsor-a): forecast {}", preds.len()))
            && stdout.contains(&last.model_id),
        "{stdout}"
    );
    for c in &last.forecast.cqas {
        let line = stdout
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{} ", c.name)))
            .unwrap_or_else(|| panic!("no line for {} in\n{stdout}", c.name));
        assert!(line.contains(&format!("{:.4}", c.mean)), "{line}");
    }
    for (i, p) in preds.iter().enumerate() {
        assert_eq!(p.seq, i as u64);
        assert!(p.model_id.starts_with(model_prefix), "{}", p.model_id);
        assert!(
            p.input_sha256.len() == 64 && p.input_sha256.chars().all(|c| c.is_ascii_hexdigit()),
            "{}",
            p.input_sha256
        );
        assert!(!p.forecast.cqas.is_empty());
        for c in &p.forecast.cqas {
            assert!(
                c.mean.is_finite() && c.p05 <= c.mean && c.mean <= c.p95 && c.p05 < c.p95,
                "seq {}: {c:?}",
                p.seq
            );
        }
    }
    // Inputs grow: later predictions are made from more data.
    assert_ne!(preds[0].input_sha256, preds[preds.len() - 1].input_sha256);
    assert!(store.batch("sponsor-a", "B01").unwrap().unwrap().finished);
    drop(store);
    audit_verify(&store_path);

    // A second run over the same exports adds no prediction, and says the
    // batch was already processed rather than counting rejections.
    let second = live_once(&site);
    println!("{second}");
    assert!(
        second.contains("already processed: ")
            && second.contains("of batch B01, which finished in an earlier run"),
        "{second}"
    );
    assert!(second.contains("rejected 0"), "{second}");
    let store = SqliteStore::open(&store_path).unwrap();
    let again = store.predictions("sponsor-a", "B01").unwrap();
    assert_eq!(again, preds);
    drop(store);
    audit_verify(&store_path);
    preds
}

fn cqa<'a>(p: &'a PredictionRecord, name: &str) -> &'a biotwin::live::CqaForecast {
    p.forecast
        .cqas
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no {name} in {:?}", p.forecast.cqas))
}

#[test]
fn example_site_runs_the_mechanistic_predictor_end_to_end() {
    let preds = run_twice_and_check("example-site.toml", "mechanistic-ekf/cho-platform-3l/");
    // B01's measured final titer, read from the dataset (the number moves
    // when the dataset is regenerated: 2.41 g/L under platform model 1.0.0).
    let ds = biotwin::data::Dataset::load(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("training-data/cho-platform"),
    )
    .unwrap();
    let b01 = ds.batches.iter().find(|b| b.id() == "B01").unwrap();
    let truth = b01.meta.cqas["final_titer"];
    println!("time_h  titer mean  p05   p95   P(in spec)");
    for p in &preds {
        let t = cqa(p, "titer_g_per_l");
        println!(
            "{:6.1}  {:.3}  {:.3}  {:.3}  {:?}",
            p.forecast.time_s / 3600.0,
            t.mean,
            t.p05,
            t.p95,
            t.p_in_spec
        );
        // Specification limits from the process's specification file.
        assert_eq!(t.lower_spec, Some(1.0));
        let p_in = t.p_in_spec.unwrap();
        assert!((0.0..=1.0).contains(&p_in));
    }
    let last = cqa(&preds[preds.len() - 1], "titer_g_per_l");
    assert!(
        (last.mean - truth).abs() / truth < 0.10,
        "end-of-batch titer {last:?} vs truth {truth}"
    );
    assert!(last.p05 <= truth && truth <= last.p95, "{last:?}");
}

const LADDER_CMD: &[&str] = &[
    "train",
    "--dataset",
    concat!(env!("CARGO_MANIFEST_DIR"), "/training-data/indpensim"),
    "--model",
    "gp",
    "--target",
    "final_penicillin",
    "--offline",
    "penicillin",
    "--online",
    "volume,sugar_feed_flow,water_feed_flow,paa_feed_flow",
    "--parameters",
    "none",
    "--ladder",
    "0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9",
    "--holdout",
    "B01",
    "--name",
    "indpensim-penicillin",
];

#[test]
fn indpensim_site_runs_the_surrogate_ladder_end_to_end() {
    // 230 h, a forecast every 11.5 h.
    let preds = run_twice_and_check(
        "indpensim-site.toml",
        "surrogate-ladder:indpensim-penicillin@",
    );
    assert_eq!(preds.len(), 20);
    // B01's true final penicillin (training-data/indpensim/batches.csv).
    let truth = 29.06086473;
    for p in &preds {
        let c = cqa(p, "final_penicillin_kg_per_m3");
        assert_eq!(c.lower_spec, Some(20.0));
        assert!((0.0..=1.0).contains(&c.p_in_spec.unwrap()));
    }
    // Forecast 10 is made at 50 % of batch time (115 h) from the 50 % rung.
    let half = &preds[9];
    assert_eq!(half.forecast.time_s, 115.0 * 3600.0);
    let cut = half
        .forecast
        .state
        .iter()
        .find(|s| s.0 == "surrogate_cut_fraction")
        .unwrap()
        .1;
    assert_eq!(cut, 0.5);
    let c = cqa(half, "final_penicillin_kg_per_m3");
    println!("at 50 %: {c:?}, truth {truth}");
    assert!((c.mean - truth).abs() / truth < 0.05, "{c:?}");
    assert!(c.p05 <= truth && truth <= c.p95, "{c:?}");

    // The shipped ladder is what training-data gives today: retrain it into
    // a temp dir and replay with it; every forecast must be the same.
    let tmp = tempfile::tempdir().unwrap();
    let retrained = tmp.path().join("ladder.json");
    let out = Command::new(BIN)
        .args(LADDER_CMD)
        .arg("--out")
        .arg(&retrained)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (dir, site) = copy_site("indpensim-site.toml", Some(&retrained));
    live_once(&site);
    let store = SqliteStore::open(&dir.path().join("live.sqlite")).unwrap();
    let fresh = store.predictions("sponsor-a", "B01").unwrap();
    assert_eq!(fresh.len(), preds.len());
    for (a, b) in preds.iter().zip(&fresh) {
        assert_eq!(a.input_sha256, b.input_sha256);
        for (x, y) in a.forecast.cqas.iter().zip(&b.forecast.cqas) {
            for (u, v) in [(x.mean, y.mean), (x.p05, y.p05), (x.p95, y.p95)] {
                assert!(
                    (u - v).abs() <= 1e-6 * u.abs().max(1.0),
                    "shipped ladder is stale: seq {} {x:?} vs retrained {y:?}",
                    a.seq
                );
            }
        }
    }
}

#[test]
fn a_missing_ladder_is_refused_naming_the_site_file_and_field() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("no-such-ladder.json");
    let (dir, site) = copy_site("indpensim-site.toml", Some(&missing));
    let out = Command::new(BIN)
        .args(["live", "--once", "--config"])
        .arg(&site)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&site.display().to_string())
            && stderr.contains("batches.B01.predictor")
            && stderr.contains("no-such-ladder.json"),
        "{stderr}"
    );
    // A site that cannot start records nothing.
    let store = SqliteStore::open(&dir.path().join("live.sqlite")).unwrap();
    assert!(store.audit().unwrap().is_empty());
}
