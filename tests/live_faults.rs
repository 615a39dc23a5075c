//! Live core under faulty historian data: each fault its own test; none may
//! lose a reading (every one stored, and accepted or refused with a reason)
//! or stop the engine.

mod live_support;

use biotwin::error::Error;
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
            return Err(Error::io(
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
