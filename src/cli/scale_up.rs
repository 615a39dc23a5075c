//! `biotwin scale-up`: the scale-up calculator on a process's operating
//! point, and the translated process file for a chosen criterion.

use std::fmt::Write as _;
use std::path::PathBuf;

use crate::definition::process::{Catalog, catalog_dir};
use crate::equipment::{Equipment, resolve_equipment};
use crate::error::{Diagnostic, Error};
use crate::output;
use crate::scaleup::{self, Criterion, OperatingPoint, ScaleUpParameters};
use crate::simulation::{Scenario, load_process};

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
}

/// Source operating point of a process: set-points at the start, peak OUR
/// from a nominal simulation.
pub fn operating_point(scenario: &Scenario) -> Result<OperatingPoint, Error> {
    let sp = scenario.recipe.setpoints;
    let outcome = scenario.simulate(true)?;
    let peak_our = outcome
        .column("our_mmol_per_l_per_h")
        .map(|v| v.into_iter().fold(0.0, f64::max) / 3600.0)
        .unwrap_or(0.0);
    Ok(OperatingPoint {
        volume_m3: scenario.recipe.initial_volume_m3,
        agitation_rps: sp.agitation_rps.unwrap_or(0.0),
        sparge_gas_slpm: sp.sparge_slpm.unwrap_or(0.0),
        temperature_k: sp.temperature_k.unwrap_or(310.15),
        peak_our_mol_per_m3_s: peak_our,
    })
}

pub fn run(a: Args) -> Result<(), Error> {
    let criterion: Criterion = a.criterion.parse().map_err(|e: String| {
        Error::input(
            "<command line>",
            "--criterion",
            e,
            format!("`{}`", a.criterion),
        )
    })?;
    let def = load_process(&a.process)?;
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
        None => {
            let (_, src_max) = source.working_volume_range_m3();
            let (lo, hi) = target.working_volume_range_m3();
            (op.volume_m3 * hi / src_max).clamp(lo, hi)
        }
    };
    let report = scaleup::scale_up(
        &source,
        &op,
        &target,
        Some(v_target),
        &ScaleUpParameters::default(),
    )?;
    if a.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(|e| Error::io("<stdout>", e))?
        );
    } else {
        out!("{}", scaleup::render_table(&report));
    }
    if let Some(out) = &a.write_process {
        let sp = report.set_points(criterion).ok_or_else(|| {
            Error::input(
                "<command line>",
                "--criterion",
                "a criterion the calculator evaluated",
                criterion.to_string(),
            )
        })?;
        let text = translated_process(
            &def,
            &target_path,
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

fn abs(p: &std::path::Path) -> String {
    std::fs::canonicalize(p)
        .unwrap_or_else(|_| p.to_path_buf())
        .display()
        .to_string()
}

/// A process file for the target vessel: same model, recipe and
/// specifications, the source's overrides, then the translated set-points.
#[allow(clippy::too_many_arguments)]
pub fn translated_process(
    def: &crate::definition::process::ProcessDefinition,
    target_path: &std::path::Path,
    target: &Equipment,
    criterion: Criterion,
    volume_l: f64,
    agitation_rpm: f64,
    sparge_slpm: f64,
) -> String {
    let role = |r: &str| {
        def.inputs
            .iter()
            .find(|i| i.role == r)
            .map(|i| abs(&i.path))
    };
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Translated by `biotwin scale-up` from {} ({}) to {} at constant {criterion}.",
        def.id,
        abs(&def.path),
        target.id()
    );
    let _ = writeln!(s, "[process]");
    let _ = writeln!(s, "id = \"{}-{}\"", def.id, target.id());
    let _ = writeln!(
        s,
        "name = \"{} on {} ({criterion})\"",
        def.name,
        target.id()
    );
    let _ = writeln!(s, "model = \"{}\"", role("model").unwrap_or_default());
    let _ = writeln!(s, "recipe = \"{}\"", role("recipe").unwrap_or_default());
    let _ = writeln!(s, "equipment = \"{}\"", abs(target_path));
    if let Some(sp) = role("specifications") {
        let _ = writeln!(s, "specifications = \"{sp}\"");
    }
    let _ = writeln!(
        s,
        "\n[solver]\nmethod = \"{}\"\nrtol = {:e}\natol = {:e}\noutput_interval_h = {}",
        match def.method {
            crate::solver::Method::Dopri5 => "dopri5",
            crate::solver::Method::Dop853 => "dop853",
        },
        def.tolerances.rtol,
        def.tolerances.atol,
        def.output_interval_s / 3600.0
    );
    for u in &def.uncertainty {
        let _ = writeln!(
            s,
            "\n[[uncertainty]]\nparameter = \"{}\"\ndistribution = \"{}\"",
            u.parameter,
            serde_json::to_value(u.distribution)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default()
        );
        for (k, v) in [
            ("mean", u.mean),
            ("median", u.median),
            ("sd", u.sd),
            ("cv_pct", u.cv_pct),
            ("low", u.low),
            ("high", u.high),
            ("mode", u.mode),
        ] {
            if let Some(v) = v {
                let _ = writeln!(s, "{k} = {v:?}");
            }
        }
    }
    let _ = writeln!(s, "\n[set]");
    let mut set: Vec<(String, f64)> = def
        .overrides
        .iter()
        .filter(|(k, _)| {
            !matches!(
                k.as_str(),
                "initial.volume_l" | "setpoints.agitation_rpm" | "setpoints.sparge_slpm"
            )
        })
        .cloned()
        .collect();
    set.push(("initial.volume_l".into(), volume_l));
    set.push(("setpoints.agitation_rpm".into(), agitation_rpm));
    set.push(("setpoints.sparge_slpm".into(), sparge_slpm));
    for (k, v) in set {
        let _ = writeln!(s, "\"{k}\" = {v:?}");
    }
    s
}
