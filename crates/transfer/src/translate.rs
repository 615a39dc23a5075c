//! The translated recipe shared by `biotwin scale-up` and `biotwin transfer`:
//! the source's operating point from a nominal simulation, and a process
//! file for the target vessel at a criterion's set-points.

use std::fmt::Write as _;

use biotwin_core::equipment::Equipment;
use biotwin_core::error::Error;
use biotwin_core::scaleup::{Criterion, OperatingPoint};
use biotwin_core::simulation::Scenario;

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
    def: &biotwin_core::definition::process::ProcessDefinition,
    target_path: &std::path::Path,
    target: &Equipment,
    criterion: Criterion,
    volume_l: f64,
    agitation_rpm: f64,
    sparge_slpm: f64,
) -> String {
    translated_process_with(
        def,
        target_path,
        target,
        criterion,
        volume_l,
        agitation_rpm,
        sparge_slpm,
        &[],
    )
}

/// [`translated_process`] with further `[set]` entries (addresses and values
/// in user units), e.g. the set-points an adjustment recommends; an entry for
/// an address already set replaces it.
#[allow(clippy::too_many_arguments)]
pub fn translated_process_with(
    def: &biotwin_core::definition::process::ProcessDefinition,
    target_path: &std::path::Path,
    target: &Equipment,
    criterion: Criterion,
    volume_l: f64,
    agitation_rpm: f64,
    sparge_slpm: f64,
    extra: &[(String, f64)],
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
        "# Translated by biotwin (scale-up calculator) from {} ({}) to {} at constant {criterion}.",
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
            biotwin_core::solver::Method::Dopri5 => "dopri5",
            biotwin_core::solver::Method::Dop853 => "dop853",
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
    for (k, v) in extra {
        match set.iter_mut().find(|(key, _)| key == k) {
            Some(entry) => entry.1 = *v,
            None => set.push((k.clone(), *v)),
        }
    }
    for (k, v) in set {
        let _ = writeln!(s, "\"{k}\" = {v:?}");
    }
    s
}
