//! The QA page in a real browser: headless Chromium loads it from a server
//! on a loopback port, with a tenant token handed over in the URL fragment
//! (read by the page's script into session storage; fragments are never
//! sent to the server), and the rendered DOM must show the example batch:
//! its id, its CQAs against specification, and an SVG forecast band.
//!
//! Without `/usr/bin/chromium` the test fails with an install hint, unless
//! `BIOTWIN_SKIP_CHROMIUM=1` opts out explicitly.

use crate::live_support;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use biotwin::live::memory_store::MemoryStore;
use biotwin::live::web::auth::token_sha256_hex;
use biotwin::live::web::demo::{DemoBatch, fill};
use biotwin::live::web::serve_on;
use biotwin::live::{BatchInfo, Store};

const TOKEN: &str = "page-test-token-5b1c0e7d";

/// Lets the page's fetches finish before the DOM or screenshot is taken.
fn chromium(url: &str, profile: &Path, extra: &[&str]) -> String {
    let mut flags = vec!["--virtual-time-budget=20000"];
    flags.extend_from_slice(extra);
    crate::chromium::run(url, profile, &flags)
}

#[test]
fn the_page_shows_the_example_batch_with_forecast_bands() {
    if !crate::chromium::available_or_skip() {
        return;
    }
    let store = Arc::new(MemoryStore::new());
    let demo = DemoBatch {
        tenant: "page-test".into(),
        batch_id: "XING-PAGE-7".into(),
        unit: "BR-TEST".into(),
        process: PathBuf::from("process-models/processes/xing2010-reference.toml"),
        members: 48,
        seed: 11,
        now_h: 96.0,
        forecast_every_h: 12.0,
        rel_sd: 0.05,
        alert_below: 0.95,
        start_unix_s: 1.7e9,
    };
    let summary = fill(store.as_ref(), &demo).expect("example batch");
    assert_eq!(summary.predictions, 8);
    // Another tenant's batch, which the page must not show.
    store
        .upsert_batch(&BatchInfo {
            tenant: "other".into(),
            batch_id: "OTHER-SECRET-1".into(),
            unit: "BR-X".into(),
            start_unix_s: 1.7e9,
            end_unix_s: 1.8e9,
            finished: false,
        })
        .unwrap();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    let tenants = vec![
        ("page-test".to_string(), token_sha256_hex(TOKEN)),
        ("other".to_string(), token_sha256_hex("other-token-123")),
    ];
    rt.spawn(serve_on(listener, store.clone(), tenants));

    let profile = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{port}/#token={TOKEN}");
    let dom = chromium(&url, profile.path(), &["--dump-dom"]);
    assert!(
        dom.contains("XING-PAGE-7"),
        "batch id missing from the page:\n{dom}"
    );
    assert!(dom.contains("titer_g_per_l"), "CQA missing:\n{dom}");
    assert!(dom.contains("viability_pct"));
    assert!(dom.contains("class=\"band\""), "no forecast band:\n{dom}");
    assert!(dom.contains("spec-lower"), "no specification line:\n{dom}");
    assert!(dom.contains("P(in spec)"));
    assert!(dom.contains("in progress"));
    assert!(
        !dom.contains("OTHER-SECRET-1"),
        "another tenant's batch shown"
    );
    assert!(
        !dom.contains(TOKEN),
        "the token must not end up in the page"
    );
    // One plot per CQA of the latest forecast.
    assert_eq!(dom.matches("class=\"band\"").count(), summary.cqas.len());

    // Without a token the page asks for one and shows no data.
    let profile2 = tempfile::tempdir().unwrap();
    let dom = chromium(
        &format!("http://127.0.0.1:{port}/"),
        profile2.path(),
        &["--dump-dom"],
    );
    assert!(
        dom.contains("<section id=\"login\">"),
        "login not shown:\n{dom}"
    );
    assert!(
        dom.contains("<section id=\"app\" hidden"),
        "data section shown:\n{dom}"
    );
    assert!(!dom.contains("XING-PAGE-7"));
    assert!(!dom.contains("class=\"band\""));
    rt.shutdown_background();
}

/// The page over the SQLite store of a real live run (replay through the
/// engine with the live tests' trend predictor), served as `biotwin serve`
/// serves it: a background server on the store's own connection.
#[test]
fn the_page_shows_a_batch_from_a_live_runs_sqlite_store() {
    if !crate::chromium::available_or_skip() {
        return;
    }
    use biotwin::live::sqlite_store::SqliteStore;
    use biotwin::live::web::background::spawn;
    use live_support::{TrendFactory, clean_rows, run_site, site};

    let (dir, site_file) = site(&clean_rows());
    let run = run_site(&site_file, TrendFactory::new(1.0), None);
    let n = run.store.predictions("sponsor-a", "B1").unwrap().len();
    assert_eq!(n, 8);
    // Another tenant's batch in the same store, which the page must not show.
    run.store
        .upsert_batch(&BatchInfo {
            tenant: "other".into(),
            batch_id: "OTHER-SECRET-2".into(),
            unit: "BR-X".into(),
            start_unix_s: 1.7e9,
            end_unix_s: 1.8e9,
            finished: false,
        })
        .unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("live.sqlite")).unwrap());
    let tenants = vec![
        ("sponsor-a".to_string(), token_sha256_hex(TOKEN)),
        ("other".to_string(), token_sha256_hex("other-token-456")),
    ];
    let server = spawn("127.0.0.1:0".parse().unwrap(), store, tenants).unwrap();
    let profile = tempfile::tempdir().unwrap();
    let url = format!("http://{}/#token={TOKEN}", server.addr());
    let dom = chromium(&url, profile.path(), &["--dump-dom"]);
    assert!(
        dom.contains(">B1<"),
        "batch id missing from the page:\n{dom}"
    );
    assert!(dom.contains("titer_end"), "CQA missing:\n{dom}");
    assert_eq!(dom.matches("class=\"band\"").count(), 1, "{dom}");
    assert!(dom.contains("P(in spec)"));
    assert!(dom.contains("finished"), "{dom}");
    assert!(
        !dom.contains("OTHER-SECRET-2"),
        "another tenant's batch shown"
    );
    assert!(
        !dom.contains(TOKEN),
        "the token must not end up in the page"
    );
}

/// People on the page: a QA reviewer's session (handed over in the fragment
/// like a token) sees who is signed in, the signature of an acknowledged
/// alert printed with it, a sign button on the open one, and the audit view
/// with the signature entry; a sponsor viewer sees the signature but neither
/// the button nor the audit view. A screenshot of the QA view is taken.
#[test]
fn the_page_shows_signatures_and_the_audit_view_by_role() {
    if !crate::chromium::available_or_skip() {
        return;
    }
    use biotwin::live::sqlite_store::SqliteStore;
    use biotwin::live::users::{Accounts, NewUser, Role};
    use biotwin::live::web::background::spawn;
    use biotwin::live::{AlertRecord, CqaForecast, Forecast, PredictionRecord};
    use tower::ServiceExt;

    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("live.sqlite")).unwrap());
    store
        .upsert_batch(&BatchInfo {
            tenant: "sponsor-a".into(),
            batch_id: "SIGN-1".into(),
            unit: "BR-2000".into(),
            start_unix_s: 1.7e9,
            end_unix_s: 1.7e9 + 14.0 * 86400.0,
            finished: false,
        })
        .unwrap();
    let cqa = |name: &str, mean: f64, lo: f64, hi: f64| CqaForecast {
        name: name.into(),
        mean,
        p05: mean - 1.0,
        p95: mean + 1.0,
        lower_spec: Some(lo),
        upper_spec: Some(hi),
        p_in_spec: Some(0.6),
    };
    for seq in 0..3 {
        store
            .insert_prediction(&PredictionRecord {
                tenant: "sponsor-a".into(),
                batch_id: "SIGN-1".into(),
                seq,
                model_id: "test@1".into(),
                input_sha256: format!("{seq:064x}"),
                created_unix_s: 1.7e9 + seq as f64,
                forecast: Forecast {
                    time_s: 86400.0 * (seq + 1) as f64,
                    cqas: vec![
                        cqa("galactosylation_pct", 23.0, 22.0, 30.0),
                        cqa("acidic_variants_pct", 24.0, 15.0, 25.0),
                    ],
                    state: vec![],
                },
            })
            .unwrap();
    }
    for c in ["galactosylation_pct", "acidic_variants_pct"] {
        store
            .insert_alert(&AlertRecord {
                tenant: "sponsor-a".into(),
                batch_id: "SIGN-1".into(),
                cqa: c.into(),
                first_predicted_s: 86400.0,
                p_in_spec: 0.6,
                threshold: 0.8,
                acknowledged_by: None,
            })
            .unwrap();
    }
    for (id, name, role) in [
        ("qa.anna", "Anna Lee", Role::QaReviewer),
        ("view.vic", "Vic Viewer", Role::SponsorViewer),
    ] {
        store
            .add_user(
                &NewUser {
                    user_id: id.into(),
                    tenant: "sponsor-a".into(),
                    full_name: name.into(),
                    role,
                },
                &format!("{id}-password-1"),
                "cli:test",
            )
            .unwrap();
    }
    // Anna signs the galactosylation alert through the API.
    let app = biotwin::live::web::router(store.clone() as Arc<dyn Store>, vec![]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (anna, _) = store
        .login(
            "qa.anna",
            "qa.anna-password-1",
            biotwin::live::users::now_unix_s(),
        )
        .unwrap()
        .unwrap();
    let status = rt.block_on(async {
        let req = axum::http::Request::builder()
            .method("POST")
            .uri("/api/batches/SIGN-1/alerts/galactosylation_pct/ack")
            .header("authorization", format!("Bearer {anna}"))
            .header("content-type", "application/json")
            .body(axum::body::Body::from(
                r#"{"password":"qa.anna-password-1","meaning":"reviewed","reason":"late-batch band; lab result within spec"}"#,
            ))
            .unwrap();
        app.oneshot(req).await.unwrap().status()
    });
    assert_eq!(status, 200);

    let server = spawn("127.0.0.1:0".parse().unwrap(), store.clone(), vec![]).unwrap();
    let (vic, _) = store
        .login(
            "view.vic",
            "view.vic-password-1",
            biotwin::live::users::now_unix_s(),
        )
        .unwrap()
        .unwrap();
    let signature = "reviewed by Anna Lee (qa.anna, QA reviewer) at ";
    let profile = tempfile::tempdir().unwrap();
    let qa_url = format!("http://{}/#token={anna}", server.addr());
    let dom = chromium(&qa_url, profile.path(), &["--dump-dom"]);
    assert!(
        dom.contains("Signed in: Anna Lee (qa.anna, QA reviewer, sponsor-a)"),
        "{dom}"
    );
    assert!(
        dom.contains(signature),
        "signature not shown with the alert:\n{dom}"
    );
    assert!(dom.contains("late-batch band; lab result within spec"));
    assert!(
        dom.contains("Acknowledge and sign..."),
        "no sign button on the open alert:\n{dom}"
    );
    assert!(
        dom.contains("<section id=\"audit\">"),
        "audit view hidden:\n{dom}"
    );
    assert!(dom.contains("Chain intact"), "{dom}");
    assert!(dom.contains("alert.acknowledged") && dom.contains("signed: reviewed by Anna Lee"));
    assert!(
        !dom.contains(&anna),
        "the session token must not end up in the page"
    );

    let profile = tempfile::tempdir().unwrap();
    let dom = chromium(
        &format!("http://{}/#token={vic}", server.addr()),
        profile.path(),
        &["--dump-dom"],
    );
    assert!(dom.contains("Signed in: Vic Viewer"), "{dom}");
    assert!(
        dom.contains(signature),
        "the viewer sees the signature too:\n{dom}"
    );
    assert!(!dom.contains("Acknowledge and sign..."), "{dom}");
    assert!(dom.contains("<section id=\"audit\" hidden"), "{dom}");
    assert!(!dom.contains("alert.acknowledged"), "{dom}");

    // A screenshot of the QA reviewer's view (a new session: the first one
    // is unaffected, but each browser profile signs in afresh).
    let profile = tempfile::tempdir().unwrap();
    let shot = profile.path().join("qa-view.png");
    chromium(
        &qa_url,
        profile.path(),
        &[
            "--window-size=1280,2200",
            &format!("--screenshot={}", shot.display()),
        ],
    );
    let png = std::fs::read(&shot).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert!(
        png.len() > 20_000,
        "a blank screenshot? {} bytes",
        png.len()
    );
    if let Ok(keep) = std::env::var("BIOTWIN_KEEP_SCREENSHOTS") {
        std::fs::copy(&shot, Path::new(&keep).join("qa-signature-audit.png")).unwrap();
    }
}

/// Issue 16: a batch with an open alert. The alert banner is at the top of
/// the page (before the batch list) with its severity and the same P(in
/// spec) as the CQA table; each CQA's chart shows the measured values over
/// process time with the end-of-batch forecast band labelled, and the
/// forecast history labelled as such; screenshots of the screen and a
/// printed PDF (the print stylesheet) are made and checked for content.
#[test]
fn the_page_shows_an_alert_banner_and_labelled_batch_charts() {
    if !crate::chromium::available_or_skip() {
        return;
    }
    let store = Arc::new(MemoryStore::new());
    let demo = DemoBatch {
        tenant: "page-test".into(),
        batch_id: "XING-ALERT-3".into(),
        unit: "BR-TEST".into(),
        process: PathBuf::from("process-models/processes/xing2010-reference.toml"),
        members: 48,
        seed: 11,
        now_h: 96.0,
        forecast_every_h: 12.0,
        rel_sd: 0.05,
        // Every CQA with limits alerts below this.
        alert_below: 0.999_999,
        start_unix_s: 1.7e9,
    };
    let summary = fill(store.as_ref(), &demo).expect("example batch");
    assert!(summary.alerts > 0, "the demo batch must have an open alert");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    rt.spawn(serve_on(
        listener,
        store.clone(),
        vec![("page-test".to_string(), token_sha256_hex(TOKEN))],
    ));
    let url = format!("http://127.0.0.1:{port}/#token={TOKEN}");
    let profile = tempfile::tempdir().unwrap();
    let dom = chromium(&url, profile.path(), &["--dump-dom"]);
    // The banner: shown, first in the app section, with a severity.
    let banner = dom
        .find("<section id=\"banner\" role=\"alert\">")
        .unwrap_or_else(|| panic!("no visible alert banner:\n{dom}"));
    let batches = dom.find("<table id=\"batches\"").unwrap();
    assert!(
        banner < batches,
        "the banner must come before the batch list"
    );
    let banner_text = &dom[banner..batches];
    assert!(
        banner_text.contains("WARNING") || banner_text.contains("CRITICAL"),
        "{banner_text}"
    );
    assert!(banner_text.contains("XING-ALERT-3"));
    assert!(banner_text.contains("now ("), "{banner_text}");
    // The alert table: severity and both probabilities, labelled.
    assert!(dom.contains("P(in spec) now") && dom.contains("P(in spec) when raised"));
    // Charts: measured values, the end-of-batch band, axes with units.
    assert!(
        dom.contains("class=\"measured\""),
        "no measured values:\n{dom}"
    );
    assert_eq!(
        dom.matches("class=\"end-band\"").count(),
        summary.cqas.len(),
        "one end-of-batch forecast per CQA chart"
    );
    assert!(dom.contains("process time (h)"));
    assert!(dom.contains("Forecast history: predicted end-of-batch"));
    assert!(dom.contains("batch time the forecast was made (h)"));
    assert!(dom.contains("Titer (g/L)"), "human label with unit:\n{dom}");
    assert!(dom.contains("end-of-batch forecast, 90 % interval (made at"));
    assert!(!dom.contains(TOKEN));

    // Screenshot of the top of the page: the banner is visible without
    // scrolling (it is in the first 900 px; the DOM order checked above).
    let profile = tempfile::tempdir().unwrap();
    let shot = profile.path().join("alert-banner.png");
    chromium(
        &url,
        profile.path(),
        &[
            "--window-size=1280,900",
            &format!("--screenshot={}", shot.display()),
        ],
    );
    let png = std::fs::read(&shot).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert!(
        png.len() > 20_000,
        "a blank screenshot? {} bytes",
        png.len()
    );
    // Printed (the print stylesheet): a PDF with pages.
    let profile = tempfile::tempdir().unwrap();
    let pdf = profile.path().join("batch.pdf");
    chromium(
        &url,
        profile.path(),
        &[
            &format!("--print-to-pdf={}", pdf.display()),
            "--no-pdf-header-footer",
        ],
    );
    let bytes = std::fs::read(&pdf).unwrap();
    assert_eq!(&bytes[..5], b"%PDF-");
    assert!(
        bytes.len() > 20_000,
        "an empty print? {} bytes",
        bytes.len()
    );
    if let Ok(keep) = std::env::var("BIOTWIN_KEEP_SCREENSHOTS") {
        std::fs::copy(&shot, Path::new(&keep).join("alert-banner.png")).unwrap();
        std::fs::copy(&pdf, Path::new(&keep).join("batch-print.pdf")).unwrap();
    }
    rt.shutdown_background();
}

/// Issue 16, item 2: the batch view of a batch with an open alert, on the
/// CHO platform model (which has DO, pH and temperature): the trajectory
/// chart on calendar time with the online tags, the lab results, the
/// filter's state estimate and the forecast to the planned end, and the
/// recipe's feeds and temperature shift as labelled markers; the recipe
/// table; data freshness. Screenshot and printed PDF are made and checked.
#[test]
fn the_batch_trajectory_shows_tags_markers_and_calendar_time() {
    if !crate::chromium::available_or_skip() {
        return;
    }
    // The shipped 3 L process with, for this test only, a harvest viability
    // floor of 99 % that no 14-day batch meets, so that the batch has an
    // open alert (the shipped limits give P(in spec) = 1 here).
    let tmp = tempfile::tempdir().unwrap();
    let root = std::env::current_dir().unwrap().join("process-models");
    let spec = tmp.path().join("tight-viability.toml");
    std::fs::write(
        &spec,
        "[specifications]\nid = \"page-test-tight\"\n\
         description = \"test only: a viability floor no batch meets\"\n\n\
         [[limits]]\ncqa = \"viability_pct\"\nmin = 99.0\n",
    )
    .unwrap();
    let shipped = std::fs::read_to_string(root.join("processes/cho-platform-3l.toml")).unwrap();
    let mut text = String::new();
    for line in shipped.lines() {
        let path = |dir: &str, id: &str| root.join(dir).join(format!("{id}.toml"));
        let line = match line.split_once(" = ") {
            Some(("model", _)) => format!("model = {:?}", path("models", "cho-platform")),
            Some(("recipe", _)) => format!("recipe = {:?}", path("recipes", "cho-platform-14d")),
            Some(("equipment", _)) => {
                format!("equipment = {:?}", path("equipment", "bench-3l-glass"))
            }
            Some(("specifications", _)) => format!("specifications = {spec:?}"),
            _ => line.to_string(),
        };
        text.push_str(&line);
        text.push('\n');
    }
    let process = tmp.path().join("cho-platform-3l-tight.toml");
    std::fs::write(&process, text).unwrap();
    let store = Arc::new(MemoryStore::new());
    let demo = DemoBatch {
        tenant: "page-test".into(),
        batch_id: "CHO-TRAJ-4".into(),
        unit: "BR-3L-T".into(),
        process,
        members: 12,
        seed: 5,
        // Past the temperature shift (144 h) and six daily feeds.
        now_h: 168.0,
        forecast_every_h: 24.0,
        rel_sd: 0.05,
        alert_below: 0.9,
        // 2025-01-01T00:00:00Z
        start_unix_s: 1_735_689_600.0,
    };
    let summary = fill(store.as_ref(), &demo).expect("example batch");
    assert!(summary.alerts > 0, "the batch must have an open alert");
    // DO, pH and temperature hourly from 0 to 168 h.
    assert_eq!(summary.online_readings, 3 * 169);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    rt.spawn(serve_on(
        listener,
        store.clone(),
        vec![("page-test".to_string(), token_sha256_hex(TOKEN))],
    ));
    let url = format!("http://127.0.0.1:{port}/#token={TOKEN}");
    let profile = tempfile::tempdir().unwrap();
    let dom = chromium(&url, profile.path(), &["--dump-dom"]);
    assert!(
        dom.contains("<section id=\"banner\" role=\"alert\">"),
        "no alert banner:\n{dom}"
    );
    let traj = dom
        .find("class=\"trajectory-plot\"")
        .unwrap_or_else(|| panic!("no trajectory chart:\n{dom}"));
    let plots = dom.find("<div id=\"plots\">").unwrap();
    let chart = &dom[traj..plots];
    // Online tag series with human names and units.
    for name in [
        "Dissolved O₂ (% air saturation)",
        ">pH<",
        "Temperature (°C)",
        "Viable cells (10⁶/mL)",
        "Titer (g/L)",
    ] {
        assert!(chart.contains(name), "{name} missing:\n{chart}");
    }
    assert_eq!(chart.matches("class=\"online\"").count(), 3, "{chart}");
    assert!(
        chart.contains("online Temperature (°C): 169 values"),
        "{chart}"
    );
    // Lab results, the state estimate and the forecast to the end.
    assert!(chart.matches("class=\"lab\"").count() >= 3 * 28, "{chart}");
    assert!(chart.contains("class=\"state-band\""));
    assert!(chart.contains("class=\"forecast-band\""));
    // Markers: six daily feeds by 168 h (72 ... 168 h; the glyco
    // supplement at 96 h shares the feed's label) and the temperature
    // shift at 144 h, from the recorded recipe. Later ones are drawn too,
    // up to the planned end (336 h): 11 feed times and the shift, above
    // each of the two columns of panels.
    assert!(chart.contains("temperature set-point 33.0 °C"), "{chart}");
    assert!(chart.contains("bolus feed_a 45.0 mL"), "{chart}");
    assert!(
        chart.contains("data-kind=\"bolus_feed temperature_shift\"")
            || chart.contains("data-kind=\"temperature_shift bolus_feed\""),
        "{chart}"
    );
    assert_eq!(chart.matches("class=\"marker\"").count(), 2 * 11, "{chart}");
    // Calendar time, with the day-of-culture scale.
    assert!(chart.contains("calendar time (UTC)"));
    assert!(
        chart.contains(">Jan 03<") && chart.contains(">Jan 15<"),
        "{chart}"
    );
    assert!(chart.contains("started 2025-01-01 00:00 UTC, planned end 2025-01-15 00:00 UTC"));
    assert!(chart.contains("class=\"day-tick\""));
    // The recipe table and the freshness line.
    assert!(
        dom.contains(
            "<td>2025-01-07T00:00:00Z</td><td>6.00</td><td>temperature set-point 33.0 °C</td>"
        ),
        "{dom}"
    );
    assert!(
        dom.contains("Last data received: 2025-01-08T00:00:00Z"),
        "{dom}"
    );
    assert!(!dom.contains(TOKEN));

    let profile = tempfile::tempdir().unwrap();
    let shot = profile.path().join("trajectory.png");
    chromium(
        &url,
        profile.path(),
        &[
            "--window-size=1280,2400",
            &format!("--screenshot={}", shot.display()),
        ],
    );
    let png = std::fs::read(&shot).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert!(
        png.len() > 50_000,
        "a blank screenshot? {} bytes",
        png.len()
    );
    let profile = tempfile::tempdir().unwrap();
    let pdf = profile.path().join("trajectory.pdf");
    chromium(
        &url,
        profile.path(),
        &[
            &format!("--print-to-pdf={}", pdf.display()),
            "--no-pdf-header-footer",
        ],
    );
    let bytes = std::fs::read(&pdf).unwrap();
    assert_eq!(&bytes[..5], b"%PDF-");
    assert!(
        bytes.len() > 20_000,
        "an empty print? {} bytes",
        bytes.len()
    );
    if let Ok(keep) = std::env::var("BIOTWIN_KEEP_SCREENSHOTS") {
        std::fs::copy(&shot, Path::new(&keep).join("trajectory.png")).unwrap();
        std::fs::copy(&pdf, Path::new(&keep).join("trajectory-print.pdf")).unwrap();
    }
    rt.shutdown_background();
}
