//! What the IndPenSim state estimator sees of a batch, read from its
//! historian export (`batches/<id>_historian.csv.gz`, long format
//! `timestamp,tag,value`): per 0.2-h step the online readings it assimilates
//! and the controller flows it uses as inputs, and the lab samples at their
//! sample times. Tags are matched on the part after the unit prefix
//! (`BR01.TEMP` → `TEMP`); tags the estimator does not use are skipped.
//! Every step must carry every measured tag and controller flow the
//! estimator needs: a missing or repeated reading, a non-number or a
//! non-finite value is an input error naming the file, line, tag and time.
//! The applied recipe inputs ([`APPLIED_TAGS`]) are read only when the
//! filter uses them ([`read_historian_with`]); they are optional per step:
//! a step without one leaves it `None` and the estimator runs the recipe
//! plan's set-point for it (counted, `Estimator::plan_fallbacks`; a gap in
//! a record is not filled from the previous step, unlike the live
//! predictor, which holds the last applied value); the count of such gaps
//! is kept in [`HistorianRecord::applied_missing`]. A negative or
//! non-finite applied value is an input error naming the file, line and
//! tag.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::Error;
use biotwin_core::bioreactor::indpensim::estimate::{
    LabSample, N_APPLIED, N_ONLINE, ONLINE_FLOWS, ONLINE_MEASURED, OnlineStep,
};
use biotwin_core::bioreactor::indpensim::{N_STEPS, STEP_H};

use super::csv_source::read_all;
use super::timestamp::parse_rfc3339;

/// Historian tag (after the unit prefix) of each online measured variable,
/// order `ONLINE_MEASURED`.
pub const ONLINE_TAGS: [&str; N_ONLINE] = [
    "TEMP",
    "PH",
    "DO2",
    "OFFGAS_O2",
    "OFFGAS_CO2",
    "VOLUME",
    "WEIGHT",
];
/// Historian tag of each controller flow, order `ONLINE_FLOWS`.
pub const FLOW_TAGS: [&str; 5] = [
    "ACID_FLOW",
    "BASE_FLOW",
    "COOLING_WATER",
    "HEATING_WATER",
    "PAA_FEED",
];
/// Historian tag of each applied recipe input, order `APPLIED_INPUTS`
/// (units as the model takes them: L/h, m³/h, bar gauge; `tags.toml`).
pub const APPLIED_TAGS: [&str; N_APPLIED] = [
    "SUGAR_FEED",
    "OIL_FEED",
    "AERATION",
    "PRESSURE",
    "DISCHARGE",
    "WATER_FEED",
];
/// Historian tag of each lab variable, order `LAB`.
pub const LAB_TAGS: [&str; 6] = [
    "OFFLINE_BIOMASS",
    "OFFLINE_PENICILLIN",
    "OFFLINE_SUBSTRATE",
    "OFFLINE_PAA",
    "OFFLINE_NH3",
    "OFFLINE_VISCOSITY",
];

/// The estimator's view of one batch.
#[derive(Debug, Clone, PartialEq)]
pub struct HistorianRecord {
    /// Steps 1..=n (index = step − 1).
    pub online: Vec<OnlineStep>,
    /// Lab samples in time order (the first at t = 0).
    pub lab: Vec<LabSample>,
    /// Applied recipe inputs missing from the record (one per input and
    /// step): those steps run the plan's set-point.
    pub applied_missing: usize,
}

enum Slot {
    Online(usize),
    Flow(usize),
    Applied(usize),
    Lab(usize),
}

/// The slot of a historian tag; the applied recipe inputs only when they
/// are read (`applied_inputs`), else they are skipped like any tag the
/// estimator does not use.
fn slot_of(tag: &str, applied_inputs: bool) -> Option<Slot> {
    let name = tag.rsplit_once('.').map_or(tag, |(_, n)| n);
    if let Some(i) = ONLINE_TAGS.iter().position(|t| *t == name) {
        return Some(Slot::Online(i));
    }
    if let Some(i) = FLOW_TAGS.iter().position(|t| *t == name) {
        return Some(Slot::Flow(i));
    }
    if let Some(i) = APPLIED_TAGS.iter().position(|t| *t == name) {
        return applied_inputs.then_some(Slot::Applied(i));
    }
    LAB_TAGS.iter().position(|t| *t == name).map(Slot::Lab)
}

/// Reads `path` for a batch that started at `start` (RFC 3339), keeping
/// steps 1..=`n_steps`.
pub fn read_historian(path: &Path, start: &str, n_steps: usize) -> Result<HistorianRecord, Error> {
    read_historian_with(path, start, n_steps, true)
}

/// [`read_historian`], reading the applied recipe inputs only if
/// `applied_inputs` (the filter's `Settings::applied_inputs`): without
/// them their tags are skipped like any tag the estimator does not use (a
/// malformed row of one cannot stop a plan-only run) and every step's
/// `applied` is `None` (`applied_missing` counts none: they are not
/// wanted).
pub fn read_historian_with(
    path: &Path,
    start: &str,
    n_steps: usize,
    applied_inputs: bool,
) -> Result<HistorianRecord, Error> {
    let start_s = parse_rfc3339(start).map_err(|e| {
        Error::in_dataset(path, "batch start", "an RFC 3339 timestamp", e.to_string())
    })?;
    let bytes = read_all(path).map_err(Error::Dataset)?;
    let text = String::from_utf8(bytes)
        .map_err(|e| Error::in_dataset(path, "", "UTF-8 text", e.to_string()))?;
    let mut lines = text.lines();
    let header = lines
        .next()
        .ok_or_else(|| Error::in_dataset(path, "line 1", "a header", "an empty file"))?;
    if header.trim() != "timestamp,tag,value" {
        return Err(Error::in_dataset(
            path,
            "line 1",
            "the header `timestamp,tag,value`",
            format!("`{}`", header.trim()),
        ));
    }
    let n = n_steps.min(N_STEPS);
    let mut online: Vec<[Option<f64>; N_ONLINE]> = vec![[None; N_ONLINE]; n];
    let mut flows: Vec<[Option<f64>; 5]> = vec![[None; 5]; n];
    let mut applied: Vec<[Option<f64>; N_APPLIED]> = vec![[None; N_APPLIED]; n];
    let mut lab: BTreeMap<i64, [Option<f64>; 6]> = BTreeMap::new();
    for (i, line) in lines.enumerate() {
        let line_no = i + 2;
        if line.trim().is_empty() {
            continue;
        }
        let mut cells = line.splitn(3, ',');
        let (Some(ts), Some(tag), Some(value)) = (cells.next(), cells.next(), cells.next()) else {
            return Err(Error::in_dataset(
                path,
                format!("line {line_no}"),
                "3 fields (timestamp,tag,value)",
                format!("`{line}`"),
            ));
        };
        let Some(slot) = slot_of(tag.trim(), applied_inputs) else {
            continue;
        };
        let where_ = || format!("line {line_no}, tag `{}` at {}", tag.trim(), ts.trim());
        let t_s = parse_rfc3339(ts).map_err(|e| {
            Error::in_dataset(
                path,
                format!("line {line_no}, timestamp"),
                "an RFC 3339 timestamp",
                e.to_string(),
            )
        })?;
        let v: f64 = value.trim().parse().map_err(|_| {
            Error::in_dataset(path, where_(), "a number", format!("`{}`", value.trim()))
        })?;
        if !v.is_finite() {
            return Err(Error::in_dataset(
                path,
                where_(),
                "a finite value",
                value.trim(),
            ));
        }
        let t_h = (t_s - start_s) / 3600.0;
        match slot {
            Slot::Lab(j) => {
                // Lab sample times to the second.
                let key = (t_h * 3600.0).round() as i64;
                if t_h < -1e-9 || t_h > n as f64 * STEP_H + 1e-6 {
                    continue;
                }
                let entry = lab.entry(key).or_insert([None; 6]);
                if entry[j].is_some() {
                    return Err(Error::in_dataset(
                        path,
                        where_(),
                        "one result per sample",
                        "a repeated result",
                    ));
                }
                entry[j] = Some(v);
            }
            Slot::Online(j) | Slot::Flow(j) | Slot::Applied(j) => {
                let kf = t_h / STEP_H;
                let k = kf.round();
                if (kf - k).abs() > 1e-6 {
                    return Err(Error::in_dataset(
                        path,
                        where_(),
                        "an online reading on the 12-min grid of the batch",
                        format!("{t_h} h after the start"),
                    ));
                }
                if k < 1.0 || k > n as f64 {
                    continue;
                }
                // A recipe input as applied is a flow or a gauge back
                // pressure: a negative one is refused here, with its line,
                // rather than by the filter at its step.
                if matches!(slot, Slot::Applied(_)) && v < 0.0 {
                    return Err(Error::in_dataset(
                        path,
                        where_(),
                        "a recipe input as applied >= 0 (a flow or a gauge back pressure)",
                        value.trim(),
                    ));
                }
                let k = k as usize;
                let cell = match slot {
                    Slot::Online(_) => &mut online[k - 1][j],
                    Slot::Applied(_) => &mut applied[k - 1][j],
                    _ => &mut flows[k - 1][j],
                };
                if cell.is_some() {
                    return Err(Error::in_dataset(
                        path,
                        where_(),
                        "one reading per step",
                        "a repeated reading",
                    ));
                }
                *cell = Some(v);
            }
        }
    }
    let mut steps = Vec::with_capacity(n);
    for k in 1..=n {
        let mut step = OnlineStep {
            flows: [0.0; 5],
            values: [0.0; N_ONLINE],
            applied: applied[k - 1],
        };
        let missing = |tag: &str, name: &str| {
            Error::in_dataset(
                path,
                format!(
                    "tag `{tag}` ({name}) at step {k} ({:.1} h)",
                    k as f64 * STEP_H
                ),
                "a reading every 12 min",
                "none",
            )
        };
        for j in 0..N_ONLINE {
            step.values[j] =
                online[k - 1][j].ok_or_else(|| missing(ONLINE_TAGS[j], ONLINE_MEASURED[j]))?;
        }
        for j in 0..5 {
            step.flows[j] =
                flows[k - 1][j].ok_or_else(|| missing(FLOW_TAGS[j], ONLINE_FLOWS[j]))?;
        }
        steps.push(step);
    }
    let lab: Vec<LabSample> = lab
        .into_iter()
        .map(|(key, values)| LabSample {
            time_h: key as f64 / 3600.0,
            values,
        })
        .collect();
    match lab.first() {
        Some(s) if s.time_h.abs() < 1e-9 => {}
        _ => {
            return Err(Error::in_dataset(
                path,
                format!("tags {}", LAB_TAGS.join(", ")),
                "a lab sample at the batch start (t = 0)",
                "none",
            ));
        }
    }
    let applied_missing = if applied_inputs {
        applied.iter().flatten().filter(|v| v.is_none()).count()
    } else {
        0
    };
    Ok(HistorianRecord {
        online: steps,
        lab,
        applied_missing,
    })
}

/// The cell of `column` in `batch_id`'s row of a data set's
/// `batches.csv`, trimmed, with the file's path and the row's line number.
pub(crate) fn batch_cell(
    dir: &Path,
    batch_id: &str,
    column: &str,
) -> Result<(std::path::PathBuf, usize, String), Error> {
    let path = dir.join("batches.csv");
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines
        .next()
        .ok_or_else(|| Error::in_dataset(&path, "line 1", "a header", "an empty file"))?
        .split(',')
        .collect();
    let find = |name: &str| {
        header.iter().position(|h| h.trim() == name).ok_or_else(|| {
            Error::in_dataset(
                &path,
                "header",
                format!("a column `{name}`"),
                "no such column",
            )
        })
    };
    let id = find("batch_id")?;
    let c = find(column)?;
    for (i, line) in lines.enumerate() {
        let cells: Vec<&str> = line.split(',').collect();
        if cells.get(id).map(|s| s.trim()) == Some(batch_id) {
            let cell = cells.get(c).map_or("", |s| s.trim()).to_string();
            return Ok((path, i + 2, cell));
        }
    }
    Err(Error::in_dataset(
        &path,
        "batch_id",
        format!("a row for `{batch_id}`"),
        "none",
    ))
}

/// The start timestamp of `batch_id` from a data set's `batches.csv`
/// (column `start_timestamp`).
pub fn batch_start(dir: &Path, batch_id: &str) -> Result<String, Error> {
    let (path, line, cell) = batch_cell(dir, batch_id, "start_timestamp")?;
    if cell.is_empty() {
        return Err(Error::in_dataset(
            &path,
            format!("line {line}, column `start_timestamp`"),
            "a start timestamp",
            "none",
        ));
    }
    Ok(cell)
}

/// A column of `batches.csv` for `batch_id`, as a number.
pub fn batch_value(dir: &Path, batch_id: &str, column: &str) -> Result<f64, Error> {
    let (path, line, cell) = batch_cell(dir, batch_id, column)?;
    cell.parse().map_err(|_| {
        Error::in_dataset(
            &path,
            format!("line {line}, column `{column}`"),
            "a number",
            format!("`{cell}`"),
        )
    })
}
