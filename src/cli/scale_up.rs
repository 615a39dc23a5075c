//! `biotwin scale-up`: the scale-up calculator on a process's operating
//! point, and the translated process file for a chosen criterion.

use std::path::PathBuf;

use super::CliError;
use crate::definition::process::{Catalog, catalog_dir};
use crate::equipment::{Equipment, resolve_equipment};
use crate::error::{Diagnostic, Error};
use crate::output;
use crate::scaleup::{self, Criterion, ScaleUpParameters};
use crate::simulation::{Scenario, model_source};
use crate::transfer::translate::{References, operating_point, rounded, translated_process};

#[derive(clap::Args, Debug)]
#[command(
    about = "Compare a process's operating point on its vessel with a target vessel under every scale-up criterion",
    after_help = "Examples:\n  biotwin scale-up --process process-models/processes/cho-platform-3l.toml --to sut-2000l-pbt-drilled\n  biotwin scale-up --process process-models/processes/cho-platform-3l.toml --to sut-2000l-microsparger --criterion kla --json\n  biotwin scale-up --process P.toml --to ss-15000l --criterion p_per_v --write-process translated.toml\n\nCriteria: p_per_v, tip_speed, kla, otr, vvm, v_s, mixing_time, reynolds, constant_n."
)]
pub struct Args {
    /// Source process file (its equipment and set-points are the source operating point).
    #[arg(long)]
    pub process: PathBuf,
    /// Target equipment: a catalog id or a path to an equipment file.
    #[arg(long)]
    pub to: String,
    /// Criterion whose set-points are translated (default p_per_v).
    #[arg(long, default_value = "p_per_v")]
    pub criterion: String,
    /// Target initial volume in L (default: the source's initial volume scaled by the vessels' maximum working volumes).
    #[arg(long)]
    pub volume_l: Option<f64>,
    /// Print the full comparison as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Write a translated process file for the target at the chosen criterion.
    #[arg(long)]
    pub write_process: Option<PathBuf>,
    /// Run with this kinetic model instead of the one the process names: a
    /// model file (e.g. a calibrated model from `biotwin fit`) or the id of
    /// a calibrated model in --registry. With --write-process its text is
    /// copied beside the translated file, which names the copy.
    #[arg(long, value_name = "FILE|ID")]
    pub model: Option<String>,
    /// The model registry in which `--model ID` is looked up.
    #[arg(long, default_value = "models")]
    pub registry: PathBuf,
}

pub fn run(a: Args) -> Result<(), CliError> {
    let criterion: Criterion = a.criterion.parse().map_err(|e: String| {
        Error::input(
            "<command line>",
            "--criterion",
            e,
            format!("`{}`", a.criterion),
        )
    })?;
    let mut def = super::load_process_in(&a.process, &a.registry)?;
    let resolved = match &a.model {
        Some(m) => Some(super::resolve_model_ref(m, &a.registry)?),
        None => None,
    };
    if let Some(m) = &resolved {
        model_source::with_model(&mut def, m)?;
    }
    let scenario = Scenario::from_definition(&def)?;
    let Some(src_path) = &def.equipment_path else {
        return Err(def
            .diag(
                "process.equipment",
                "an equipment reference (the source vessel)",
                "none",
            )
            .into());
    };
    let source = Equipment::load(src_path)?;
    let base = def
        .path
        .parent()
        .map(|p| p.to_path_buf())
        .unwrap_or_default();
    let catalog = catalog_dir(&base, Catalog::Equipment)
        .unwrap_or_else(|| PathBuf::from("process-models/equipment"));
    let target_path = resolve_equipment(
        &a.to,
        &std::env::current_dir().unwrap_or_default(),
        &catalog,
    )
    .map_err(|d| Diagnostic {
        file: "<command line>".into(),
        line: None,
        field: "--to".into(),
        ..d
    })?;
    let target = Equipment::load(&target_path)?;
    let op = operating_point(&scenario)?;
    let v_target = match a.volume_l {
        Some(v) => v * 1e-3,
        None => scaleup::default_target_volume_m3(&source, op.volume_m3, &target),
    };
    let mut report = scaleup::scale_up(
        &source,
        &op,
        &target,
        Some(v_target),
        &ScaleUpParameters::default(),
    )?;
    report.choose(criterion);
    if a.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(|e| Error::io("<stdout>", e))?
        );
    } else {
        out!("{}", scaleup::render_table(&report));
    }
    if let Some(out) = &a.write_process {
        let sp = report
            .set_points(criterion)
            .map(|sp| rounded(sp, &target))
            .ok_or_else(|| {
                Error::input(
                    "<command line>",
                    "--criterion",
                    "a criterion the calculator evaluated",
                    criterion.to_string(),
                )
            })?;
        if let Some(m) = &resolved {
            // The translated file must name a model file that exists: a
            // copy of the resolved text beside it (a registry model has no
            // file of its own).
            let stem = out
                .file_stem()
                .map_or("translated".into(), |s| s.to_string_lossy().into_owned());
            let copy = out.with_file_name(format!("{stem}.model.toml"));
            output::write_atomic(&copy, m.text.as_bytes())?;
            model_source::with_model_at(&mut def, m, &copy)?;
        }
        let text = translated_process(
            &def,
            &References::absolute(&def, &target_path),
            &target,
            criterion,
            sp.volume_l,
            sp.agitation_rpm,
            sp.sparge_gas_slpm,
        );
        output::write_atomic(out, text.as_bytes())?;
        eprintln!(
            "translated process ({criterion}) written to {}",
            out.display()
        );
    }
    Ok(())
}
