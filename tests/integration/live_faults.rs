//! Live core under faulty historian data: each fault its own test; none may
//! lose a reading (every one stored, and accepted or refused with a reason)
//! or stop the engine.
//!
//! Two layers: the engine's bookkeeping with a logging test predictor (what
//! reached the predictor, and when), and — in the `real_*` tests — the same
//! faults injected into the shipped example exports and run through the
//! predictors of `biotwin live` itself: the mechanistic EKF on the CHO
//! platform batch (example-site.toml) and the surrogate ladder on the
//! IndPenSim batch (indpensim-site.toml).

use crate::live_support;

use biotwin::live::Error;
use biotwin::live::config::{DataFormat, SiteConfig};
use biotwin::live::mapping::Rejection;
use biotwin::live::replay::ReplaySource;
use biotwin::live::{Poll, Source, Store};
use live_support::*;

fn stored(run: &Run) -> usize {
    run.store.readings("sponsor-a", "B1").unwrap().len()
}

fn clean() -> Run {
    let (_d, site_file) = site(&clean_rows());
    let run = run_site(&site_file, TrendFactory::new(0.0), None);
    std::mem::forget(_d); // keep the store file for the duration of the test
    run
}

#[test]
fn clean_replay_forecasts_on_cadence_and_finishes() {
    let run = clean();
    let n = clean_rows().len();
    assert_accounted(&run.stats);
    assert_eq!(run.stats.readings_received as usize, n);
    assert_eq!(stored(&run), n);
    assert_eq!(run.stats.rejections.total(), 0);
    let p = predictions(run.store.as_ref());
    assert_eq!(
        p.iter().map(|x| x.0).collect::<Vec<_>>(),
        (0..8).collect::<Vec<_>>()
    );
    // The last forecast has every titer sample: the linear trend of
    // 0.05 g/L/h extrapolates to 48 h within the wiggle.
    let last = &p[7].2.cqas[0];
    assert!((last.mean - 0.05 * 48.0).abs() < 0.05, "{last:?}");
    assert!(last.p05 < last.mean && last.mean < last.p95);
    // Inputs grow, so every hash differs.
    let hashes: std::collections::BTreeSet<_> = p.iter().map(|x| x.1.clone()).collect();
    assert_eq!(hashes.len(), 8);
    assert!(
        run.store
            .batch("sponsor-a", "B1")
            .unwrap()
            .unwrap()
            .finished
    );
    assert_eq!(run.stats.batches_finished, 1);
}

#[test]
fn gaps_in_online_data_still_give_every_forecast() {
    let rows: Vec<Row> = clean_rows()
        .into_iter()
        .filter(|r| {
            let h = (r.time_unix_s - START) / 3600.0;
            !(r.tag == "DO" && (13.0..27.0).contains(&h))
        })
        .collect();
    let (_d, site_file) = site(&rows);
    let run = run_site(&site_file, TrendFactory::new(0.0), None);
    assert_accounted(&run.stats);
    assert_eq!(stored(&run), rows.len());
    let p = predictions(run.store.as_ref());
    assert_eq!(p.len(), 8);
    // The final forecast saw all lab data: same as without the gap.
    let c = clean();
    assert_eq!(p[7].2, predictions(c.store.as_ref())[7].2);
}

#[test]
fn duplicated_rows_are_refused_and_change_nothing() {
    let mut rows = Vec::new();
    for r in clean_rows() {
        rows.push(r.clone());
        rows.push(r);
    }
    let (_d, site_file) = site(&rows);
    let run = run_site(&site_file, TrendFactory::new(0.0), None);
    assert_accounted(&run.stats);
    let n = clean_rows().len() as u64;
    // The copy of the last row (at the planned end) arrives after the batch
    // finished: refused as outside the batch window instead.
    assert_eq!(run.stats.rejections.get(Rejection::Duplicate), n - 1);
    assert_eq!(run.stats.rejections.get(Rejection::OutsideBatchWindow), 1);
    assert_eq!(stored(&run) as u64, n, "the store keeps one copy");
    assert_eq!(
        predictions(run.store.as_ref()),
        predictions(clean().store.as_ref())
    );
}

#[test]
fn out_of_order_rows_are_used_at_their_sample_time() {
    let mut rows = clean_rows();
    // Swap neighbours in blocks: each row moves by at most a few minutes.
    for i in (0..rows.len() - 3).step_by(4) {
        rows.swap(i, i + 2);
    }
    let (_d, site_file) = site(&rows);
    let run = run_site(&site_file, TrendFactory::new(0.0), None);
    assert_accounted(&run.stats);
    assert_eq!(run.stats.rejections.total(), 0, "{}", run.stats);
    assert_eq!(stored(&run), rows.len());
    let p = predictions(run.store.as_ref());
    assert_eq!(p.len(), 8);
    // The fit sorts by sample time, so with everything in, the end forecast
    // is exactly that of the ordered export.
    assert_eq!(p[7].2.cqas, predictions(clean().store.as_ref())[7].2.cqas);
}

#[test]
fn bad_quality_values_are_stored_but_not_used() {
    let mut rows = clean_rows();
    let mut bad = 0;
    for r in rows.iter_mut().filter(|r| r.tag == "TITER").step_by(3) {
        r.quality = "bad";
        r.value = 999.0 / 100.0;
        bad += 1;
    }
    let (_d, site_file) = site(&rows);
    let run = run_site(&site_file, TrendFactory::new(0.0), None);
    assert_accounted(&run.stats);
    assert_eq!(run.stats.rejections.get(Rejection::BadQuality), bad);
    assert_eq!(stored(&run), rows.len());
    let kept: Vec<Row> = rows
        .iter()
        .filter(|r| r.quality == "good")
        .cloned()
        .collect();
    let (_d2, site2) = site(&kept);
    let without = run_site(&site2, TrendFactory::new(0.0), None);
    assert_eq!(
        predictions(run.store.as_ref()),
        predictions(without.store.as_ref())
    );
}

#[test]
fn unit_mismatch_is_caught_in_config_and_in_values() {
    // A unit of another dimension in the site file: named with its line.
    let (dir, site_file) = site(&clean_rows());
    std::fs::write(&site_file, site_text("mmHg")).unwrap();
    let e = SiteConfig::read(&site_file).unwrap_err();
    let d = e
        .iter()
        .find(|d| d.field == "tags[1].unit")
        .expect("tags[1].unit named");
    assert!(d.line.is_some() && d.found.contains("mmHg"), "{e}");
    drop(dir);

    // Values exported in mg/L where g/L is configured: out of range, kept.
    let mut rows = clean_rows();
    let mut wrong = 0;
    for r in rows
        .iter_mut()
        .filter(|r| r.tag == "TITER" && r.value > 0.1)
    {
        r.value *= 1000.0;
        wrong += 1;
    }
    let (_d, site_file) = site(&rows);
    let run = run_site(&site_file, TrendFactory::new(0.0), None);
    assert_accounted(&run.stats);
    assert_eq!(run.stats.rejections.get(Rejection::OutOfRange), wrong);
    let raw = run.store.readings("sponsor-a", "B1").unwrap();
    assert_eq!(
        raw.iter()
            .filter(|r| r.tag == "TITER" && r.value > 20.0)
            .count() as u64,
        wrong
    );
}

#[test]
fn a_tag_that_disappears_is_reported_stale_and_the_batch_goes_on() {
    let rows: Vec<Row> = clean_rows()
        .into_iter()
        .filter(|r| !(r.tag == "TITER" && r.time_unix_s > START + 14.0 * 3600.0))
        .collect();
    let (_d, site_file) = site(&rows);
    let run = run_site(&site_file, TrendFactory::new(0.0), None);
    assert_accounted(&run.stats);
    assert_eq!(run.stats.stale_tags, vec!["B1/TITER".to_string()]);
    let p = predictions(run.store.as_ref());
    assert_eq!(p.len(), 8);
    // Nothing new reaches the model after the last titer result (known at
    // 15 h; DO is not an input of this predictor): the later forecasts have
    // the same inputs, hence the same input hash.
    assert_ne!(p[1].1, p[2].1);
    assert_eq!(p[2].1, p[7].1);
    assert!(
        run.store
            .batch("sponsor-a", "B1")
            .unwrap()
            .unwrap()
            .finished
    );
}

#[test]
fn a_lab_result_6h_late_is_used_at_its_sample_time() {
    let mut rows = clean_rows();
    let sample = START + 13.0 * 3600.0;
    let late = rows
        .iter_mut()
        .find(|r| r.tag == "TITER" && r.time_unix_s == sample)
        .unwrap();
    late.result_unix_s = Some(sample + 6.0 * 3600.0);
    sort_as_exported(&mut rows);
    let (_d, site_file) = site(&rows);
    let f = TrendFactory::new(0.0);
    let run = run_site(&site_file, f.clone(), None);
    assert_accounted(&run.stats);
    assert_eq!(run.stats.rejections.total(), 0);
    let events = f.events("B1");
    let pos = events
        .iter()
        .position(
            |e| matches!(e, Event::Obs(o) if o.variable == "titer" && o.time_s == 13.0 * 3600.0),
        )
        .expect("late result assimilated");
    let Event::Obs(o) = &events[pos] else {
        unreachable!()
    };
    assert_eq!(o.available_s, 19.0 * 3600.0);
    // Forecasts at 6, 12 and 18 h come before it; the one at 24 h after.
    let forecasts_before = events[..pos]
        .iter()
        .filter(|e| matches!(e, Event::Forecast(_)))
        .count();
    assert_eq!(forecasts_before, 3);
    // Online values sampled after 13 h were assimilated before it: it is an
    // out-of-sequence update, yet the final fit equals the timely one.
    assert!(
        events[..pos]
            .iter()
            .any(|e| matches!(e, Event::Obs(o) if o.time_s > 13.0 * 3600.0))
    );
    let p = predictions(run.store.as_ref());
    assert_eq!(p[7].2.cqas, predictions(clean().store.as_ref())[7].2.cqas);
}

/// A source that hands out its replay 40 readings per poll and fails
/// `fail` polls from poll number `at` on (a lost connection), then recovers.
struct Flaky {
    buffered: Vec<biotwin::live::Reading>,
    polls: usize,
    at: usize,
    fail: usize,
}

impl Source for Flaky {
    fn describe(&self) -> String {
        "flaky".into()
    }
    fn poll(&mut self) -> Result<Poll, Error> {
        self.polls += 1;
        if self.polls >= self.at && self.polls < self.at + self.fail {
            return Err(Error::source_failed(
                "opc.tcp://historian:4840",
                "connection reset by peer",
            ));
        }
        if self.buffered.is_empty() {
            return Ok(Poll::End);
        }
        let n = self.buffered.len().min(40);
        Ok(Poll::Readings(self.buffered.drain(..n).collect()))
    }
}

#[test]
fn connection_loss_is_retried_without_losing_data() {
    let rows = clean_rows();
    let (dir, site_file) = site(&rows);
    let mut replay =
        ReplaySource::open(&dir.path().join("export.csv"), DataFormat::Long, 0.0).unwrap();
    let mut buffered = Vec::new();
    while let Poll::Readings(r) = replay.poll().unwrap() {
        buffered.extend(r);
    }
    let flaky = Flaky {
        buffered,
        polls: 0,
        at: 3,
        fail: 5,
    };
    let run = run_site(
        &site_file,
        TrendFactory::new(0.0),
        Some(vec![(Box::new(flaky), "BR1".into())]),
    );
    assert_accounted(&run.stats);
    assert_eq!(run.stats.source_errors, 5);
    assert_eq!(stored(&run), rows.len());
    assert_eq!(
        predictions(run.store.as_ref()),
        predictions(clean().store.as_ref())
    );
}

#[test]
fn alerts_are_raised_once_and_audited() {
    let (_d, site_file) = site(&clean_rows());
    // Lower limit above the trend's end value: P(in spec) is low.
    let run = run_site(&site_file, TrendFactory::new(2.6), None);
    let alerts = run.store.alerts("sponsor-a").unwrap();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].cqa, "titer_end");
    assert!(alerts[0].p_in_spec < 0.9);
    let trail = run.store.audit().unwrap();
    let actions: Vec<&str> = trail.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions.iter().filter(|a| **a == "alert.raised").count(), 1);
    assert_eq!(actions[0], "config.loaded");
    assert!(actions.contains(&"batch.started") && actions.contains(&"batch.finished"));
    biotwin::live::audit::verify(&trail).unwrap();
    assert!(run.store.alerts("someone-else").unwrap().is_empty());
}

/// A predictor that changes between two runs of a batch (an upgrade, or a
/// forecast seed scheme that changed) re-makes the recorded steps on
/// resume; their alerts are judged on the stored predictions, so an alert
/// never cites a stored prediction that does not support it.
#[test]
fn a_resumed_batch_raises_alerts_from_its_stored_predictions() {
    let rows = clean_rows();
    let half: Vec<Row> = rows
        .iter()
        .filter(|r| r.result_unix_s.unwrap_or(r.time_unix_s) < START + 24.0 * 3600.0)
        .cloned()
        .collect();
    let (d, site_file) = site(&half);
    // First run: half the batch, a predictor with no alert.
    let first = run_site(&site_file, TrendFactory::new(-1.0e9), None);
    let stored_before = first.store.predictions("sponsor-a", "B1").unwrap().len() as u64;
    assert!(stored_before >= 2, "{stored_before}");
    assert!(first.store.alerts("sponsor-a").unwrap().is_empty());
    drop(first);
    // "Upgraded": the same predictor now forecasts a failing batch; the
    // whole export is there.
    write_export(&d.path().join("export.csv"), &rows);
    let second = run_site(&site_file, TrendFactory::new(2.6), None);
    let alerts = second.store.alerts("sponsor-a").unwrap();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let preds = second.store.predictions("sponsor-a", "B1").unwrap();
    let trail = second.store.audit().unwrap();
    let raised: Vec<&serde_json::Value> = trail
        .iter()
        .filter(|e| e.action == "alert.raised")
        .map(|e| &e.detail)
        .collect();
    assert_eq!(raised.len(), 1);
    let seq = raised[0]["prediction_seq"].as_u64().unwrap();
    // Not a re-made step: the first step this run recorded.
    assert_eq!(seq, stored_before, "{raised:?}");
    let cited = preds.iter().find(|p| p.seq == seq).unwrap();
    let p = cited.forecast.cqas[0].p_in_spec.unwrap();
    assert!(p < 0.9, "{p}");
    assert_eq!(alerts[0].first_predicted_s, cited.forecast.time_s);
}

#[test]
fn a_changed_site_file_is_audited_as_a_configuration_change() {
    let (_d, site_file) = site(&clean_rows());
    let first = run_site(&site_file, TrendFactory::new(0.0), None);
    let h1 = SiteConfig::read(&site_file).unwrap().sha256;
    drop(first);
    // Same file again: a second `config.loaded`, no change recorded.
    run_site(&site_file, TrendFactory::new(0.0), None);
    // Edit the alert level (a real change a QA lead might make).
    let text = std::fs::read_to_string(&site_file).unwrap();
    let edited = text.replacen("p_in_spec_min = 0.9", "p_in_spec_min = 0.8", 1);
    assert_ne!(text, edited, "the site text must hold the alert level");
    std::fs::write(&site_file, edited).unwrap();
    let h2 = SiteConfig::read(&site_file).unwrap().sha256;
    assert_ne!(h1, h2);
    let run = run_site(&site_file, TrendFactory::new(0.0), None);
    let trail = run.store.audit().unwrap();
    let changes: Vec<_> = trail
        .iter()
        .filter(|e| e.action == "config.changed")
        .collect();
    assert_eq!(changes.len(), 1, "{trail:?}");
    assert_eq!(changes[0].detail["previous_sha256"], h1.as_str());
    assert_eq!(changes[0].detail["sha256"], h2.as_str());
    let loaded = trail.iter().filter(|e| e.action == "config.loaded").count();
    assert_eq!(loaded, 3);
    biotwin::live::audit::verify(&trail).unwrap();
}

// ---------------------------------------------------------------------------
// The same faults against the real predictors.

use live_support::sites::{ExportRow, forecasts, run_real, run_real_with, shipped_export};

const CHO: &str = "example-site.toml";
const PEN: &str = "indpensim-site.toml";
const CHO_ONLINE: [&str; 5] = ["dissolved_o2", "pco2", "ph", "temperature", "volume"];

fn hours(r: &ExportRow, start: f64) -> f64 {
    (r.time_unix_s - start) / 3600.0
}

fn start_of(rows: &[ExportRow]) -> f64 {
    rows.iter()
        .map(|r| r.time_unix_s)
        .fold(f64::INFINITY, f64::min)
}

/// Every forecast is finite with an ordered interval.
fn assert_sane(p: &[(u64, String, biotwin::live::Forecast)]) {
    for (seq, _, f) in p {
        for c in &f.cqas {
            assert!(
                c.mean.is_finite() && c.p05 <= c.mean && c.mean <= c.p95,
                "forecast {seq}: {c:?}"
            );
        }
    }
}

/// The end-of-batch means of forecast `seq` of two runs agree within `rel`.
fn assert_means_close(
    a: &[(u64, String, biotwin::live::Forecast)],
    b: &[(u64, String, biotwin::live::Forecast)],
    seq: usize,
    rel: f64,
) {
    for (x, y) in a[seq].2.cqas.iter().zip(&b[seq].2.cqas) {
        assert_eq!(x.name, y.name);
        let d = (x.mean - y.mean).abs() / y.mean.abs().max(1e-300);
        assert!(
            d <= rel,
            "forecast {seq}, {}: {} vs {} (rel {d:.2e})",
            x.name,
            x.mean,
            y.mean
        );
    }
}

#[test]
fn real_predictors_clean_replay_forecasts_every_planned_time() {
    for (site, n) in [(CHO, 56), (PEN, 20)] {
        let run = run_real(site, None);
        assert_accounted(&run.stats);
        let p = forecasts(run.store.as_ref());
        assert_eq!(p.len(), n, "{site}: {}", run.stats);
        assert_eq!(
            p.iter().map(|x| x.0).collect::<Vec<_>>(),
            (0..n as u64).collect::<Vec<_>>()
        );
        assert_sane(&p);
        assert_eq!(run.stats.predictor_errors, 0, "{site}");
    }
}

#[test]
fn real_predictors_duplicated_rows_change_nothing() {
    for site in [CHO, PEN] {
        let clean = shipped_export(site);
        let doubled: Vec<ExportRow> = clean.iter().flat_map(|r| [r.clone(), r.clone()]).collect();
        let a = run_real(site, Some(&clean));
        let b = run_real(site, Some(&doubled));
        assert_accounted(&b.stats);
        // Every copy is refused: as a duplicate, or (a copy of a row that
        // came after the batch ended) as outside the batch window.
        assert_eq!(
            b.stats.rejections.total() - a.stats.rejections.total(),
            clean.len() as u64,
            "{site}"
        );
        // Every accepted row's copy is a duplicate, except the last one's,
        // which arrives after the batch finished (unknown tags are refused
        // before the duplicate check).
        assert_eq!(
            b.stats.rejections.get(Rejection::Duplicate),
            a.stats.observations_accepted - 1,
            "{site}"
        );
        assert_eq!(
            forecasts(a.store.as_ref()),
            forecasts(b.store.as_ref()),
            "{site}"
        );
    }
}

#[test]
fn real_predictors_connection_loss_is_retried_without_losing_data() {
    for site in [CHO, PEN] {
        let clean = shipped_export(site);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("export.csv");
        live_support::sites::write_rows(&path, &clean);
        let mut replay = ReplaySource::open(&path, DataFormat::Long, 0.0).unwrap();
        let mut buffered = Vec::new();
        while let Poll::Readings(r) = replay.poll().unwrap() {
            buffered.extend(r);
        }
        let unit = SiteConfig::read(live_support::sites::sites_dir().join(site))
            .unwrap()
            .sources[0]
            .unit
            .clone();
        let flaky = Flaky {
            buffered,
            polls: 0,
            at: 7,
            fail: 5,
        };
        let b = run_real_with(site, Some(&clean), Some(vec![(Box::new(flaky), unit)]));
        assert_eq!(b.stats.source_errors, 5);
        assert_accounted(&b.stats);
        let a = run_real(site, Some(&clean));
        assert_eq!(
            forecasts(a.store.as_ref()),
            forecasts(b.store.as_ref()),
            "{site}"
        );
    }
}

#[test]
fn real_ekf_gap_in_online_data_keeps_every_forecast() {
    let clean = shipped_export(CHO);
    let t0 = start_of(&clean);
    // 40 h without any online value (DO, pCO2, pH, temperature, volume).
    let gap = 100.0..140.0;
    let rows: Vec<ExportRow> = clean
        .iter()
        .filter(|r| !(CHO_ONLINE.contains(&r.tag.as_str()) && gap.contains(&hours(r, t0))))
        .cloned()
        .collect();
    assert!(rows.len() < clean.len() - 300);
    let a = run_real(CHO, Some(&clean));
    let b = run_real(CHO, Some(&rows));
    assert_accounted(&b.stats);
    let (pa, pb) = (forecasts(a.store.as_ref()), forecasts(b.store.as_ref()));
    assert_eq!(pa.len(), pb.len());
    assert_sane(&pb);
    // Before the gap: identical. During it: the filter runs on the model
    // alone, so the forecasts differ. After it the data pull the state
    // back: the final forecast of the released CQAs that lab results
    // measure (titer, viability) is within 2 % of the gap-free one. Not
    // compared: quantities no measurement informs (glycans, HCP, DNA:
    // accumulated while the filter ran on the model alone, carried with
    // their parameters' priors, so not pulled back) and end-of-batch
    // lactate (about 0.005 g/L, below the analyser's 0.01 g/L floor).
    // Before issue 16 every state had process noise and all agreed to 2 %.
    let before = pa
        .iter()
        .filter(|x| x.2.time_s < gap.start * 3600.0)
        .count();
    assert!(before >= 16);
    assert_eq!(pa[..before], pb[..before]);
    assert_ne!(
        pa[before + 2].1,
        pb[before + 2].1,
        "the gap changes the inputs"
    );
    let last = pa.len() - 1;
    for (x, y) in pb[last].2.cqas.iter().zip(&pa[last].2.cqas) {
        assert_eq!(x.name, y.name);
        if ["titer_g_per_l", "viability_pct"].contains(&x.name.as_str()) {
            let d = (x.mean - y.mean).abs() / y.mean.abs();
            assert!(
                d <= 0.02,
                "final forecast, {}: {} vs {} (rel {d:.2e})",
                x.name,
                x.mean,
                y.mean
            );
        }
    }
}

#[test]
fn real_ekf_out_of_order_rows_are_used_at_their_sample_time() {
    let clean = shipped_export(CHO);
    let mut rows = clean.clone();
    // Swap neighbours in blocks: each row moves by at most a few minutes
    // (not the last rows, which would then arrive after the batch ended).
    for i in (0..rows.len() - 40).step_by(4) {
        rows.swap(i, i + 2);
    }
    let a = run_real(CHO, Some(&clean));
    let b = run_real(CHO, Some(&rows));
    assert_accounted(&b.stats);
    // The same refusals as the ordered export (lab results due after the
    // planned end), none for the order.
    assert_eq!(b.stats.rejections, a.stats.rejections, "{}", b.stats);
    let (pa, pb) = (forecasts(a.store.as_ref()), forecasts(b.store.as_ref()));
    assert_eq!(pa.len(), pb.len());
    assert_sane(&pb);
    // Values arrive in another order, so the assimilation order differs
    // (the input hash records it), but each is used at its sample time:
    // the final forecast agrees with the ordered replay's to 0.5 %.
    assert_means_close(&pb, &pa, pa.len() - 1, 0.005);
}

#[test]
fn real_predictors_bad_quality_values_are_stored_but_not_used() {
    for (site, lab) in [(CHO, "titer"), (PEN, "BR01.OFFLINE_PENICILLIN")] {
        let mut rows = shipped_export(site);
        let mut bad = 0;
        for r in rows.iter_mut().filter(|r| r.tag == lab).step_by(3) {
            r.quality = Some("bad".into());
            r.value *= 3.0;
            bad += 1;
        }
        let b = run_real(site, Some(&rows));
        assert_accounted(&b.stats);
        assert_eq!(b.stats.rejections.get(Rejection::BadQuality), bad);
        assert_eq!(
            b.store.readings("sponsor-a", "B01").unwrap().len(),
            rows.len()
        );
        let kept: Vec<ExportRow> = rows
            .iter()
            .filter(|r| r.quality.is_none())
            .cloned()
            .collect();
        let a = run_real(site, Some(&kept));
        assert_eq!(
            forecasts(a.store.as_ref()),
            forecasts(b.store.as_ref()),
            "{site}"
        );
    }
}

#[test]
fn real_ekf_values_in_the_wrong_unit_are_refused_not_assimilated() {
    // Titer exported in mg/L where kg/m3 (g/L) is configured: above the
    // tag's range (20), refused as out of range and kept in the store.
    let mut rows = shipped_export(CHO);
    let mut wrong = 0;
    for r in rows
        .iter_mut()
        .filter(|r| r.tag == "titer" && r.value > 0.05)
    {
        r.value *= 1000.0;
        wrong += 1;
    }
    assert!(wrong >= 8);
    let b = run_real(CHO, Some(&rows));
    assert_accounted(&b.stats);
    assert_eq!(b.stats.rejections.get(Rejection::OutOfRange), wrong);
    let without: Vec<ExportRow> = rows
        .iter()
        .filter(|r| !(r.tag == "titer" && r.value > 20.0))
        .cloned()
        .collect();
    let a = run_real(CHO, Some(&without));
    assert_eq!(forecasts(a.store.as_ref()), forecasts(b.store.as_ref()));
}

#[test]
fn real_ekf_a_vanished_tag_is_reported_stale_and_forecasts_go_on() {
    let clean = shipped_export(CHO);
    let t0 = start_of(&clean);
    let rows: Vec<ExportRow> = clean
        .iter()
        .filter(|r| !(r.tag == "titer" && hours(r, t0) > 150.0))
        .cloned()
        .collect();
    let b = run_real(CHO, Some(&rows));
    assert_accounted(&b.stats);
    assert_eq!(
        b.stats.stale_tags,
        vec!["B01/titer".to_string()],
        "{}",
        b.stats
    );
    let p = forecasts(b.store.as_ref());
    assert_eq!(p.len(), 56);
    assert_sane(&p);
    assert!(b.store.batch("sponsor-a", "B01").unwrap().unwrap().finished);
}

#[test]
fn real_ekf_a_lab_result_6h_late_is_used_at_its_sample_time() {
    let clean = shipped_export(CHO);
    let mut rows = clean.clone();
    // The titer sample taken mid-batch reports 6 h later than planned.
    let late = rows
        .iter_mut()
        .filter(|r| r.tag == "titer" && r.result_unix_s.is_some())
        .nth(6)
        .unwrap();
    late.result_unix_s = Some(late.result_unix_s.unwrap() + 6.0 * 3600.0);
    rows.sort_by(|a, b| {
        a.result_unix_s
            .unwrap_or(a.time_unix_s)
            .total_cmp(&b.result_unix_s.unwrap_or(b.time_unix_s))
    });
    let a = run_real(CHO, Some(&clean));
    let b = run_real(CHO, Some(&rows));
    assert_accounted(&b.stats);
    assert_eq!(b.stats.rejections, a.stats.rejections, "{}", b.stats);
    let (pa, pb) = (forecasts(a.store.as_ref()), forecasts(b.store.as_ref()));
    assert_eq!(pa.len(), pb.len());
    // Some forecast in between lacked it (different inputs) ...
    assert!(pa.iter().zip(&pb).any(|(x, y)| x.1 != y.1));
    // ... and once it is in, the filter has used it at its sample time:
    // the final forecast agrees with the timely run's to 0.5 %.
    assert_means_close(&pb, &pa, pa.len() - 1, 0.005);
}
