//! The mechanistic half of a parallel hybrid trained from batch records:
//! which process model to simulate, how a batch's manifest parameters set
//! its conditions, and which simulated quality attribute is the prior of
//! each dataset CQA.
//!
//! Read from a TOML file kept with the dataset (`mechanistic.toml`):
//!
//! ```toml
//! process = "../../process-models/processes/cho-platform-3l.toml"  # relative to this file
//! [[condition]]                 # manifest parameter (SI) × factor → address (user unit)
//! parameter = "agitation"
//! address = "setpoints.agitation_rpm"
//! factor = 60.0
//! [[cqa]]                       # simulated quality × factor → dataset CQA (SI)
//! target = "galactosylated"
//! quality = "galactosylated_pct"
//! factor = 0.01
//! ```
//!
//! Addresses are those of `--set` (`docs/file-formats.md`), plus
//! `shifts.temperature_k`: the temperature of every temperature shift.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::Error;
use biotwin_core::error::{Diagnostic, Diagnostics};
use biotwin_core::simulation::{Outcome, Scenario, load_process};

/// A manifest parameter mapped onto a process setting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionMap {
    /// Manifest parameter (SI).
    pub parameter: String,
    /// Process setting it sets (a `--set` address, user unit).
    pub address: String,
    #[serde(default = "one")]
    /// Multiplier from the parameter's SI value to the address's user unit
    /// (default 1).
    pub factor: f64,
}

/// A simulated quality attribute mapped onto a dataset CQA.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CqaMap {
    /// Dataset CQA (SI).
    pub target: String,
    /// Quality attribute of the simulation (with its unit in the name).
    pub quality: String,
    #[serde(default = "one")]
    /// Multiplier from the simulated value to the CQA's SI value (non-zero,
    /// default 1).
    pub factor: f64,
}

fn one() -> f64 {
    1.0
}

/// The mechanistic prior of a dataset's CQAs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MechanisticSpec {
    /// Process file, as resolved when the spec was read (relative to the
    /// working directory then).
    pub process: PathBuf,
    #[serde(default)]
    /// Manifest parameters mapped onto process settings.
    pub condition: Vec<ConditionMap>,
    #[serde(default)]
    /// Simulated quality attributes mapped onto dataset CQAs.
    pub cqa: Vec<CqaMap>,
}

/// The file name looked for in a dataset directory.
pub const FILE: &str = "mechanistic.toml";

impl MechanisticSpec {
    /// Reads a spec; the process path is taken relative to the file.
    pub fn load(path: &Path) -> Result<MechanisticSpec, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let mut spec: MechanisticSpec = toml::from_str(&text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].lines().count().max(1));
            Error::from(
                Diagnostic::new(
                    path,
                    "",
                    "process, [[condition]] (parameter, address, factor) and [[cqa]] (target, quality, factor)",
                    e.message().to_string(),
                )
                .at_line(line),
            )
        })?;
        if spec.process.is_relative() {
            spec.process = path.parent().unwrap_or(Path::new(".")).join(&spec.process);
        }
        let mut d = Diagnostics::new();
        for (i, c) in spec.condition.iter().enumerate() {
            if !c.factor.is_finite() {
                d.push(Diagnostic::new(
                    path,
                    format!("condition[{i}].factor"),
                    "a finite number",
                    c.factor.to_string(),
                ));
            }
        }
        for (i, c) in spec.cqa.iter().enumerate() {
            if !(c.factor.is_finite() && c.factor != 0.0) {
                d.push(Diagnostic::new(
                    path,
                    format!("cqa[{i}].factor"),
                    "a finite non-zero number",
                    c.factor.to_string(),
                ));
            }
        }
        if !spec.process.exists() {
            d.push(Diagnostic::new(
                path,
                "process",
                "an existing process file",
                spec.process.display().to_string(),
            ));
        }
        d.into_result(spec).map_err(Error::from)
    }

    /// The CQA map of `target`, or a diagnostic naming the known ones.
    pub fn cqa_of(&self, target: &str, source: &Path) -> Result<&CqaMap, Diagnostic> {
        self.cqa.iter().find(|c| c.target == target).ok_or_else(|| {
            Diagnostic::new(
                source,
                "mechanistic.cqa",
                format!(
                    "a mapping for target `{target}` (mapped: {})",
                    self.cqa
                        .iter()
                        .map(|c| c.target.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                "none",
            )
        })
    }

    /// The process scenario of a batch: the nominal model with the batch's
    /// manifest parameters applied as conditions, and the model's file
    /// factors (for further `model.*` addresses).
    pub fn scenario(
        &self,
        batch_id: &str,
        parameters: &BTreeMap<String, f64>,
        source: &Path,
    ) -> Result<(Scenario, Vec<f64>), Diagnostic> {
        let bad = |what: &str, expected: &str, found: String| {
            Diagnostic::new(
                source,
                format!("batches.{batch_id}.{what}"),
                expected,
                found,
            )
        };
        let def = load_process(&self.process).map_err(|e| {
            bad(
                "mechanistic.process",
                "a valid process file",
                format!("{}: {e}", self.process.display()),
            )
        })?;
        let mut s = Scenario::from_definition(&def)
            .map_err(|e| bad("mechanistic.process", "a runnable process", e.to_string()))?;
        let ff = def.model.params.file_factor.clone();
        for c in &self.condition {
            let v = *parameters.get(&c.parameter).ok_or_else(|| {
                bad(
                    &format!("parameters.{}", c.parameter),
                    "the parameter the mechanistic model needs",
                    "no value".into(),
                )
            })? * c.factor;
            s.apply(&c.address, v, &ff).map_err(|e| {
                bad(
                    &format!("mechanistic.condition.{}", c.parameter),
                    "a settable address",
                    format!("`{}`: {e}", c.address),
                )
            })?;
        }
        Ok((s, ff))
    }

    /// The mapped value of each target in a simulated batch (dataset SI).
    pub fn targets_of(
        &self,
        out: &Outcome,
        batch_id: &str,
        targets: &[String],
        source: &Path,
    ) -> Result<Vec<f64>, Diagnostic> {
        targets
            .iter()
            .map(|t| {
                let m = self.cqa_of(t, source)?;
                out.quality_value(&m.quality)
                    .map(|v| v * m.factor)
                    .ok_or_else(|| {
                        Diagnostic::new(
                            source,
                            format!("batches.{batch_id}.mechanistic.cqa.{t}"),
                            "a quality attribute the process model reports",
                            format!("`{}`", m.quality),
                        )
                    })
            })
            .collect()
    }

    /// Simulates the process under a batch's parameters and returns the
    /// mechanistic prediction of each target (dataset SI units).
    pub fn predict(
        &self,
        batch_id: &str,
        parameters: &BTreeMap<String, f64>,
        targets: &[String],
        source: &Path,
    ) -> Result<Vec<f64>, Diagnostic> {
        let (s, _) = self.scenario(batch_id, parameters, source)?;
        let out = s.simulate(false).map_err(|e| {
            Diagnostic::new(
                source,
                format!("batches.{batch_id}.mechanistic"),
                "a mechanistic simulation of the batch's conditions",
                e.to_string(),
            )
        })?;
        self.targets_of(&out, batch_id, targets, source)
    }
}
