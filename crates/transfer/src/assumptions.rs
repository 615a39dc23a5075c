//! The numbers a study used that their files mark *assumed*: the source and
//! target equipment (`[sources]` entries, `biotwin_core::equipment::sources`),
//! the kinetic model's parameters (each parameter's `source`), the
//! specification limits (each limit's `note`) and a lot file (its
//! `description`, which covers every entry). The convention is the one the
//! equipment validator enforces: a source that says where a number comes
//! from, or "assumed" with the reasoning ([`marks_assumed`]).

use std::path::Path;

use serde::Serialize;

use biotwin_core::definition::kinetic::KineticModelFile;
use biotwin_core::definition::source::SourceFile;
use biotwin_core::equipment::Equipment;
use biotwin_core::equipment::sources::{assumed_numbers, marks_assumed};
use biotwin_core::output::format_sig;

use super::TransferStudy;

/// One assumed number.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Assumption {
    /// What the file is to the study: `source equipment`, `target
    /// equipment`, `model`, `specifications`, `lot`.
    pub role: String,
    /// The file's name (its full path is in the study's record).
    pub file: String,
    /// Field path inside the file.
    pub field: String,
    /// The value as written, with its unit where the file gives one.
    pub value: String,
    /// The file's own words for where the number comes from.
    pub source: String,
}

fn file_name(p: &Path) -> String {
    p.file_name().map_or_else(
        || p.display().to_string(),
        |f| f.to_string_lossy().into_owned(),
    )
}

fn equipment(role: &str, eq: &Equipment, out: &mut Vec<Assumption>) {
    let Ok(text) = std::fs::read_to_string(eq.path()) else {
        return;
    };
    for n in assumed_numbers(&text, eq.sources()) {
        out.push(Assumption {
            role: role.into(),
            file: file_name(eq.path()),
            field: n.field,
            value: format_sig(n.value),
            source: n.source,
        });
    }
}

/// Every assumed number of the files the study read, source equipment
/// first, then target equipment, model, specifications and lot.
pub fn collect(study: &TransferStudy) -> Vec<Assumption> {
    let mut out = Vec::new();
    let t = &study.translation;
    equipment("source equipment", &t.source, &mut out);
    equipment("target equipment", &t.target, &mut out);
    let def = &study.source_def;
    if let Some(model) = def.inputs.iter().find(|i| i.role == "model")
        && let Ok(file) =
            SourceFile::read(&model.path).and_then(|src| src.parse::<KineticModelFile>())
    {
        for (name, p) in &file.parameters {
            if marks_assumed(&p.source) {
                out.push(Assumption {
                    role: "model".into(),
                    file: file_name(&model.path),
                    field: format!("parameters.{name}"),
                    value: format!("{} {}", format_sig(p.value), p.unit),
                    source: p.source.clone(),
                });
            }
        }
    }
    if let (Some(spec), Some(path)) = (
        &def.specifications,
        def.inputs.iter().find(|i| i.role == "specifications"),
    ) {
        for (i, l) in spec.limits.iter().enumerate() {
            if !marks_assumed(&l.note) {
                continue;
            }
            for (bound, v) in [("min", l.min), ("max", l.max)] {
                if let Some(v) = v {
                    out.push(Assumption {
                        role: "specifications".into(),
                        file: file_name(&path.path),
                        field: format!("limits[{i}].{bound} ({})", l.cqa),
                        value: format_sig(v),
                        source: l.note.clone(),
                    });
                }
            }
        }
    }
    if let (Some(lot), Some(path)) = (&study.lots, study.options.lots.as_deref())
        && marks_assumed(&lot.description)
        && let Ok(l) = super::Lots::load(path)
    {
        for (i, e) in l.entries.iter().enumerate() {
            for (k, v) in [
                ("mean", e.mean),
                ("median", e.median),
                ("sd", e.sd),
                ("cv_pct", e.cv_pct),
                ("low", e.low),
                ("high", e.high),
                ("mode", e.mode),
            ] {
                if let Some(v) = v {
                    out.push(Assumption {
                        role: "lot".into(),
                        file: file_name(path),
                        field: format!("uncertainty[{i}].{k} ({})", e.parameter),
                        value: format_sig(v),
                        source: lot.description.clone(),
                    });
                }
            }
        }
    }
    out
}
