//! Addresses of the numbers a user may override (`--set`) or declare
//! uncertain (Monte Carlo, sensitivity): one scheme for all of them.
//!
//! | address                         | meaning (user unit)                          |
//! |---------------------------------|----------------------------------------------|
//! | `model.<param>`                 | kinetic parameter, in the model file's unit  |
//! | `initial.<species>_<unit>`      | initial concentration, e.g. `initial.glucose_g_per_l` |
//! | `initial.volume_l`              | initial working volume (feeds given in % of it scale with it) |
//! | `media.<name>.<species>_<unit>` | a medium's composition (raw-material lots)   |
//! | `setpoints.<field>`             | initial set-point (`temperature_c`, `ph`, `do_pct`, `agitation_rpm`, `sparge_slpm`) |
//! | `shifts[i].time_h`              | time of the i-th set-point shift             |
//! | `feeds.scale`                   | multiplies every bolus and continuous feed volume |

use crate::definition::kinetic::ParamSpec;
use crate::definition::recipe::{EventKind, Recipe, Setpoints};
use crate::definition::species::{Species, parse_key};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Address {
    ModelParam {
        index: usize,
        factor: f64,
    },
    Initial {
        species: Species,
        factor: f64,
    },
    InitialVolume,
    Medium {
        medium: usize,
        species: Species,
        factor: f64,
    },
    Setpoint(SetpointField),
    ShiftTime {
        shift: usize,
    },
    FeedScale,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetpointField {
    TemperatureC,
    Ph,
    DoPct,
    AgitationRpm,
    SpargeSlpm,
}

const SETPOINTS: &[(&str, SetpointField)] = &[
    ("temperature_c", SetpointField::TemperatureC),
    ("ph", SetpointField::Ph),
    ("do_pct", SetpointField::DoPct),
    ("agitation_rpm", SetpointField::AgitationRpm),
    ("sparge_slpm", SetpointField::SpargeSlpm),
];

/// Numbers that addresses read and write: the parameter vector (SI) and the
/// compiled recipe.
pub struct Target<'a> {
    pub params_si: &'a mut Vec<f64>,
    pub recipe: &'a mut Recipe,
}

/// Parses an address; the error says what would have been accepted.
pub fn parse(
    text: &str,
    specs: &[ParamSpec],
    file_factor: &[f64],
    recipe: &Recipe,
) -> Result<Address, String> {
    let (head, rest) = text
        .split_once('.')
        .ok_or_else(|| "an address like model.mu_max".to_string())?;
    match head {
        "model" => specs
            .iter()
            .position(|s| s.name == rest)
            .map(|index| Address::ModelParam {
                index,
                factor: file_factor[index],
            })
            .ok_or_else(|| {
                format!(
                    "model.<param> with param one of {}",
                    specs.iter().map(|s| s.name).collect::<Vec<_>>().join(", ")
                )
            }),
        "initial" if rest == "volume_l" => Ok(Address::InitialVolume),
        "initial" => parse_key(rest).map(|(species, factor)| Address::Initial { species, factor }),
        "media" => {
            let (name, key) = rest
                .split_once('.')
                .ok_or("media.<name>.<species>_<unit>")?;
            let medium = recipe
                .media
                .iter()
                .position(|m| m.name == name)
                .ok_or_else(|| {
                    format!(
                        "a medium of the recipe ({})",
                        recipe
                            .media
                            .iter()
                            .map(|m| m.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })?;
            parse_key(key).map(|(species, factor)| Address::Medium {
                medium,
                species,
                factor,
            })
        }
        "setpoints" => SETPOINTS
            .iter()
            .find(|(n, _)| *n == rest)
            .map(|(_, f)| Address::Setpoint(*f))
            .ok_or_else(|| {
                format!(
                    "setpoints.<field> with field one of {}",
                    SETPOINTS.iter().map(|s| s.0).collect::<Vec<_>>().join(", ")
                )
            }),
        "feeds" if rest == "scale" => Ok(Address::FeedScale),
        h if h.starts_with("shifts[") && rest == "time_h" => {
            let idx: usize = h["shifts[".len()..]
                .trim_end_matches(']')
                .parse()
                .map_err(|_| "shifts[<index>].time_h")?;
            let n = recipe
                .events
                .iter()
                .filter(|e| matches!(e.kind, EventKind::Shift(_)))
                .count();
            if idx < n {
                Ok(Address::ShiftTime { shift: idx })
            } else {
                Err(format!("a shift index below {n}"))
            }
        }
        _ => Err(
            "an address starting with model., initial., media., setpoints., shifts[i]. or feeds."
                .into(),
        ),
    }
}

fn shift_event(recipe: &mut Recipe, shift: usize) -> Option<&mut crate::definition::recipe::Event> {
    recipe
        .events
        .iter_mut()
        .filter(|e| matches!(e.kind, EventKind::Shift(_)))
        .nth(shift)
}

impl Address {
    /// Current value in the user unit.
    pub fn get(&self, t: &mut Target) -> f64 {
        match *self {
            Address::ModelParam { index, factor } => t.params_si[index] / factor,
            Address::Initial { species, factor } => t.recipe.initial.get_or_zero(species) / factor,
            Address::InitialVolume => t.recipe.initial_volume_m3 * 1e3,
            Address::Medium {
                medium,
                species,
                factor,
            } => t.recipe.media[medium].composition.get_or_zero(species) / factor,
            Address::Setpoint(f) => get_setpoint(&t.recipe.setpoints, f),
            Address::ShiftTime { shift } => shift_event(t.recipe, shift)
                .map(|e| e.time_s / 3600.0)
                .unwrap_or(f64::NAN),
            Address::FeedScale => t.recipe.feed_scale,
        }
    }

    /// Sets a value given in the user unit.
    pub fn set(&self, t: &mut Target, v: f64) {
        match *self {
            Address::ModelParam { index, factor } => t.params_si[index] = v * factor,
            Address::Initial { species, factor } => t.recipe.initial.set(species, v * factor),
            Address::InitialVolume => t.recipe.set_initial_volume(v * 1e-3),
            Address::Medium {
                medium,
                species,
                factor,
            } => t.recipe.media[medium].composition.set(species, v * factor),
            Address::Setpoint(f) => set_setpoint(&mut t.recipe.setpoints, f, v),
            Address::ShiftTime { shift } => {
                if let Some(e) = shift_event(t.recipe, shift) {
                    e.time_s = v * 3600.0;
                }
                t.recipe
                    .events
                    .sort_by(|a, b| a.time_s.total_cmp(&b.time_s));
            }
            Address::FeedScale => t.recipe.feed_scale = v,
        }
    }
}

fn get_setpoint(s: &Setpoints, f: SetpointField) -> f64 {
    let v = match f {
        SetpointField::TemperatureC => s.temperature_k.map(|k| k - 273.15),
        SetpointField::Ph => s.ph,
        SetpointField::DoPct => s.do_fraction.map(|x| x * 100.0),
        SetpointField::AgitationRpm => s.agitation_rps.map(|x| x * 60.0),
        SetpointField::SpargeSlpm => s.sparge_slpm,
    };
    v.unwrap_or(f64::NAN)
}

fn set_setpoint(s: &mut Setpoints, f: SetpointField, v: f64) {
    match f {
        SetpointField::TemperatureC => s.temperature_k = Some(v + 273.15),
        SetpointField::Ph => s.ph = Some(v),
        SetpointField::DoPct => s.do_fraction = Some(v / 100.0),
        SetpointField::AgitationRpm => s.agitation_rps = Some(v / 60.0),
        SetpointField::SpargeSlpm => s.sparge_slpm = Some(v),
    }
}
