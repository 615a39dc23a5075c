//! The translated recipe shared by `biotwin scale-up` and `biotwin transfer`:
//! the source's operating point from a nominal simulation, and a process
//! file for the target vessel at a criterion's set-points.

use std::fmt::Write as _;

use crate::error::Error;
use biotwin_core::equipment::Equipment;
use biotwin_core::error::Error as CoreError;
use biotwin_core::scaleup::{Criterion, OperatingPoint, TranslatedSetPoints};
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

/// Significant digits of a computed set-point written into a process file
/// (agitation, gas flow, volume, feed scale, shift time): finer than any
/// controller resolves, coarse enough to read (`1250`, not
/// `1250.0000000000002`).
pub const SET_POINT_DIGITS: i32 = 4;

/// `v` to [`SET_POINT_DIGITS`] significant digits, stepping toward the
/// inside of `[low, high]` when plain rounding would leave it (a set-point
/// at a tip-speed limit of 93.2356 rpm becomes 93.23, not 93.24).
pub fn round_set_point(v: f64, low: f64, high: f64) -> f64 {
    if !v.is_finite() || v == 0.0 {
        return v;
    }
    let e = v.abs().log10().floor() as i32 - (SET_POINT_DIGITS - 1);
    // Divide by an exact power of ten so the result is the double nearest
    // the decimal (76.93, not 76.93000000000001).
    let (scale, up) = if e < 0 {
        (10f64.powi(-e), false)
    } else {
        (10f64.powi(e), true)
    };
    let to = |n: f64| if up { n * scale } else { n / scale };
    let n = if up { v / scale } else { v * scale };
    let mut r = to(n.round());
    if r > high && v <= high {
        r = to(n.floor());
    }
    if r < low && v >= low {
        r = to(n.ceil());
    }
    r
}

/// A criterion's set-points as written into a process file and run:
/// rounded to meaningful digits, never up to a volume that could overflow,
/// never across the equipment's agitation or gas-flow limits.
pub fn rounded(sp: TranslatedSetPoints, target: &Equipment) -> TranslatedSetPoints {
    let (a_lo, a_hi) = biotwin_core::scaleup::conditions::agitation_limits_rpm(target);
    let (g_lo, g_hi) = target.gas_flow_range_slpm();
    TranslatedSetPoints {
        volume_l: round_set_point(sp.volume_l, 0.0, sp.volume_l),
        agitation_rpm: round_set_point(sp.agitation_rpm, a_lo, a_hi),
        sparge_gas_slpm: round_set_point(sp.sparge_gas_slpm, g_lo, g_hi),
        ..sp
    }
}

/// How a written process file names its model, recipe, equipment and
/// specifications.
#[derive(Debug, Clone)]
pub struct References {
    /// Model file: an absolute path, or the copy's name in the output folder.
    pub model: String,
    /// Recipe file: an absolute path, or the copy's name in the output folder.
    pub recipe: String,
    /// Target equipment file: an absolute path, or the copy's name in the
    /// output folder.
    pub equipment: String,
    /// Specifications file, as the others (None: the process has none).
    pub specifications: Option<String>,
}

/// The inputs copied into a transfer's output folder, in order. The model
/// copy is always `model.toml` (the `--model` copy's name); the others keep
/// their file names (`sut-2000l-pbt-drilled.toml`), or take the role's name
/// (`recipe.toml`) when that name is taken.
pub const COPIED_INPUTS: [&str; 4] = ["model", "recipe", "equipment", "specifications"];

/// Names a copied input may not take: the files the transfer writes.
const RESERVED: [&str; 3] = [
    "model.toml",
    "translated-process.toml",
    "adjusted-process.toml",
];

impl References {
    /// Absolute paths of the files `def` read and of `target_path` (a
    /// process file written for use on this machine).
    pub fn absolute(
        def: &biotwin_core::definition::process::ProcessDefinition,
        target_path: &std::path::Path,
    ) -> References {
        let role = |r: &str| {
            def.inputs
                .iter()
                .find(|i| i.role == r)
                .map(|i| abs(&i.path))
        };
        References {
            model: role("model").unwrap_or_default(),
            recipe: role("recipe").unwrap_or_default(),
            equipment: abs(target_path),
            specifications: role("specifications"),
        }
    }

    /// Byte copies of the model, recipe and specifications `def` read and of
    /// the target equipment file in `dir` ([`COPIED_INPUTS`]), named
    /// relatively: the folder is self-contained and can be moved or sent to
    /// the receiving site. A file already at its copy's place (a `--model`
    /// copy) is left as it is.
    pub fn copied_into(
        def: &biotwin_core::definition::process::ProcessDefinition,
        target_path: &std::path::Path,
        dir: &std::path::Path,
    ) -> Result<References, Error> {
        let mut names: Vec<Option<String>> = Vec::new();
        for role in COPIED_INPUTS {
            let from = if role == "equipment" {
                Some(target_path.to_path_buf())
            } else {
                def.inputs
                    .iter()
                    .find(|i| i.role == role)
                    .map(|i| i.path.clone())
            };
            let Some(from) = from else {
                names.push(None);
                continue;
            };
            let own = from
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .filter(|f| f.ends_with(".toml") && !f.contains(['"', '\\']));
            let name = match own {
                _ if role == "model" => "model.toml".to_string(),
                Some(f)
                    if !RESERVED.contains(&f.as_str())
                        && !names.iter().flatten().any(|n| *n == f) =>
                {
                    f
                }
                _ => format!("{role}.toml"),
            };
            let to = dir.join(&name);
            let same = matches!(
                (std::fs::canonicalize(&from), std::fs::canonicalize(&to)),
                (Ok(a), Ok(b)) if a == b
            );
            if !same {
                let bytes = std::fs::read(&from).map_err(|e| CoreError::io(&from, e))?;
                biotwin_core::output::write_atomic(&to, &bytes)?;
            }
            names.push(Some(name));
        }
        let mut it = names.into_iter();
        let mut next = || it.next().flatten();
        Ok(References {
            model: next().unwrap_or_default(),
            recipe: next().unwrap_or_default(),
            equipment: next().unwrap_or_default(),
            specifications: next(),
        })
    }
}

/// A process file for the target vessel: same model, recipe and
/// specifications, the source's overrides, then the translated set-points.
#[allow(clippy::too_many_arguments)]
pub fn translated_process(
    def: &biotwin_core::definition::process::ProcessDefinition,
    refs: &References,
    target: &Equipment,
    criterion: Criterion,
    volume_l: f64,
    agitation_rpm: f64,
    sparge_slpm: f64,
) -> String {
    translated_process_with(
        def,
        refs,
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
    refs: &References,
    target: &Equipment,
    criterion: Criterion,
    volume_l: f64,
    agitation_rpm: f64,
    sparge_slpm: f64,
    extra: &[(String, f64)],
) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Translated by biotwin (scale-up calculator) from {} ({}) to {} at constant {criterion}.",
        def.id,
        def.path
            .file_name()
            .map_or_else(String::new, |f| f.to_string_lossy().into_owned()),
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
    let _ = writeln!(s, "model = \"{}\"", refs.model);
    let _ = writeln!(s, "recipe = \"{}\"", refs.recipe);
    let _ = writeln!(s, "equipment = \"{}\"", refs.equipment);
    if let Some(sp) = &refs.specifications {
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

#[cfg(test)]
mod tests {
    use super::round_set_point;

    #[test]
    fn set_points_keep_four_significant_digits_inside_their_limits() {
        assert_eq!(round_set_point(1250.0000000000002, 0.0, 2000.0), 1250.0);
        assert_eq!(round_set_point(76.853_21, 20.0, 100.0), 76.85);
        assert_eq!(round_set_point(9.119_48, 2.0, 200.0), 9.119);
        assert_eq!(round_set_point(142.249_9, 96.0, 192.0), 142.2);
        assert_eq!(round_set_point(1.018_7, 0.7, 1.3), 1.019);
        assert_eq!(round_set_point(12_345.6, 0.0, 1e6), 12_350.0);
        // At a limit that is not a round number: stays inside.
        assert_eq!(round_set_point(93.235_6, 20.0, 93.235_6), 93.23);
        assert_eq!(round_set_point(2.000_04, 2.000_04, 200.0), 2.001);
        // The printed form is the decimal itself.
        assert_eq!(
            format!("{:?}", round_set_point(76.930_000_4, 0.0, 100.0)),
            "76.93"
        );
    }
}
