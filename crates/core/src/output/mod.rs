//! Results for people and programs: trajectory tables (CSV/JSON), SVG plots,
//! quality tables against specifications. Every file is written atomically.

pub mod anchor;
pub mod atomic;
pub mod plot;

use std::path::Path;

use serde::Serialize;

use crate::definition::process::InputFile;
use crate::definition::specs::Specifications;
use crate::error::Error;
use crate::simulation::Outcome;
pub use atomic::write_atomic;

/// Output format chosen from a file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Comma-separated values (`.csv`).
    Csv,
    /// JSON (`.json`).
    Json,
    /// Apache Parquet (`.parquet`).
    Parquet,
}

impl Format {
    /// The format of `path`'s extension; another extension is an input error naming the accepted ones.
    pub fn from_path(path: &Path) -> Result<Format, Error> {
        match path.extension().and_then(|e| e.to_str()) {
            Some("csv") => Ok(Format::Csv),
            Some("json") => Ok(Format::Json),
            Some("parquet") => Ok(Format::Parquet),
            other => Err(Error::input(
                path,
                "--out",
                "a file name ending in .csv, .json or .parquet",
                format!("extension {other:?}"),
            )),
        }
    }
}

/// Trajectory as CSV: one header row of column names (units in the names).
pub fn trajectory_csv(outcome: &Outcome) -> Vec<u8> {
    let mut s = outcome.columns.join(",");
    s.push('\n');
    for row in outcome.rows() {
        let cells: Vec<String> = row.iter().map(|v| format_number(*v)).collect();
        s.push_str(&cells.join(","));
        s.push('\n');
    }
    s.into_bytes()
}

fn format_number(v: f64) -> String {
    if v.is_nan() {
        String::new()
    } else {
        format!("{v:.10e}")
            .parse::<f64>()
            .map(|x| x.to_string())
            .unwrap_or_default()
    }
}

/// The JSON form of a simulated batch, with the record of its inputs.
#[derive(Serialize)]
struct TrajectoryJson<'a> {
    schema: &'static str,
    biotwin_version: &'static str,
    process_id: &'a str,
    inputs: &'a [InputFile],
    overrides: &'a [(String, f64)],
    quality: Vec<QualityRow>,
    /// Feasibility of the batch on its vessel over the whole trajectory
    /// (`simulation::feasibility`): every warning, in full.
    warnings: &'a [crate::simulation::feasibility::Warning],
    columns: &'a [String],
    rows: Vec<&'a [f64]>,
}

/// One end-of-batch quality attribute judged against its specification.
#[derive(Serialize)]
pub struct QualityRow {
    /// Attribute name with unit (`titer_g_per_l`).
    pub name: String,
    /// Its value, in the unit of its name.
    pub value: f64,
    /// The specification range as text, if there is one.
    pub spec: Option<String>,
    /// Whether the value lies within it, if there is one.
    pub within_spec: Option<bool>,
}

/// End-of-batch quality rows judged against the specification.
pub fn quality_rows(outcome: &Outcome, specs: Option<&Specifications>) -> Vec<QualityRow> {
    outcome
        .quality
        .iter()
        .map(|(name, value)| {
            let limit = specs.and_then(|s| s.limit(name));
            QualityRow {
                name: name.clone(),
                value: *value,
                spec: limit.map(|l| l.describe()),
                within_spec: limit.map(|l| l.contains(*value)),
            }
        })
        .collect()
}

/// The trajectory as the `biotwin.trajectory/1` JSON document: inputs with hashes, overrides, quality rows, warnings, columns and rows.
pub fn trajectory_json(
    outcome: &Outcome,
    process_id: &str,
    inputs: &[InputFile],
    overrides: &[(String, f64)],
    specs: Option<&Specifications>,
    warnings: &[crate::simulation::feasibility::Warning],
) -> Result<Vec<u8>, Error> {
    let doc = TrajectoryJson {
        schema: "biotwin.trajectory/1",
        biotwin_version: env!("CARGO_PKG_VERSION"),
        process_id,
        inputs,
        overrides,
        quality: quality_rows(outcome, specs),
        warnings,
        columns: &outcome.columns,
        rows: outcome.rows().collect(),
    };
    serde_json::to_vec_pretty(&doc).map_err(|e| Error::io("<json>", e))
}

/// A fixed-width table of end-of-batch quality against specification.
pub fn quality_table(rows: &[QualityRow]) -> String {
    let mut s = format!(
        "{:<26} {:>12}  {:<16} {}\n",
        "quality attribute", "predicted", "specification", "verdict"
    );
    s.push_str(&format!("{}\n", "-".repeat(66)));
    for r in rows {
        let verdict = match r.within_spec {
            Some(true) => "within",
            Some(false) => "OUT OF SPEC",
            None => "",
        };
        s.push_str(&format!(
            "{:<26} {:>12}  {:<16} {}\n",
            r.name,
            format_sig(r.value),
            r.spec.clone().unwrap_or_else(|| "—".into()),
            verdict
        ));
    }
    s
}

/// Four significant figures, plain notation where reasonable.
pub fn format_sig(v: f64) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    let a = v.abs();
    if a != 0.0 && !(1e-3..1e6).contains(&a) {
        format!("{v:.3e}")
    } else {
        let decimals = if a == 0.0 {
            0
        } else {
            (3 - a.log10().floor() as i32).max(0) as usize
        };
        format!("{v:.decimals$}")
    }
}
