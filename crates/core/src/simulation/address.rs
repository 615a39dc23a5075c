//! The one address space of every number that enters a simulation: what
//! `--set`, a process file's `[set]`, `[[uncertainty]]`, sensitivity
//! factors, the transfer's adjustment variables and `biotwin fit` name.
//!
//! | address                                  | meaning (user unit)                          |
//! |------------------------------------------|----------------------------------------------|
//! | `model.<param>`                          | kinetic parameter, in the model file's unit  |
//! | `initial.<species>_<unit>`               | initial concentration, e.g. `initial.glucose_g_per_l` |
//! | `initial.volume_l`                       | initial working volume (feeds given in % of it scale with it) |
//! | `media.<name>.<species>_<unit>`          | a medium's composition (raw-material lots)   |
//! | `setpoints.<field>`                      | initial set-point (`temperature_c`, `ph`, `do_pct`, `agitation_rpm`, `sparge_slpm`, `base_concentration_m`) |
//! | `shifts[i].time_h`, `shifts[i].<field>`  | time of the i-th set-point shift, a set-point it sets |
//! | `shifts.temperature_k`                   | the temperature of every shift that sets one, K (one temperature after the shift: a dataset's `shift_temperature`) |
//! | `feeds.scale`                            | multiplies every bolus and continuous feed volume |
//! | `feeds[i].<field>`, `feeds.<name>.<field>` | one feed entry of the recipe (bolus entries in file order, then continuous ones; or by its `name`): bolus `volume_l`, `volume_pct_of_initial`, `time_h` (= `start_h`: moves all its additions); continuous `rate_l_per_h`, `rate_pct_of_initial_per_day`, `start_h`, `end_h` |
//! | `equipment.<field>`                      | a number of the vessel file: `kla.a`, `kla.alpha`, `kla.beta`, `impellers[i].power_number`, `vessel.headspace_gauge_pressure_bar`, `vessel.working_volume_min_l`/`max_l`, `sparger.gas_flow_min_slpm`/`max_slpm`, `agitation.min_rpm`/`max_rpm` |
//!
//! Every address has the rule its field has in its own file
//! ([`Address::check`]): the same range, in the same words. Limits that
//! involve several numbers (the broth volume against the vessel's working
//! volume) are checked on the whole scenario by
//! [`crate::simulation::Scenario::check_limits`].

use crate::error::Reason;
use std::sync::Arc;

use crate::definition::kinetic::ParamSpec;
use crate::definition::recipe::{
    self, EventKind, FeedKind, Recipe, SETPOINT_RANGES, Setpoints, check_concentration,
    check_setpoint, check_time_h,
};
use crate::definition::species::{Species, parse_key};
use crate::equipment::validate::EquipmentField;
use crate::units::S_PER_H;

use super::family::VesselHandle;

/// A resolved address (see the module docs): one number of a scenario, read and written in its user unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Address {
    /// A kinetic parameter (`model.<param>`).
    ModelParam {
        /// Index in the family's parameter order.
        index: usize,
        /// Factor from the model file's unit to SI.
        factor: f64,
    },
    /// An initial concentration (`initial.<species>_<unit>`).
    Initial {
        /// The species.
        species: Species,
        /// Factor from the key's unit to SI.
        factor: f64,
    },
    /// The initial working volume (`initial.volume_l`), L.
    InitialVolume,
    /// A medium's concentration (`media.<name>.<species>_<unit>`).
    Medium {
        /// Index into the recipe's media.
        medium: usize,
        /// The species.
        species: Species,
        /// Factor from the key's unit to SI.
        factor: f64,
    },
    /// An initial set-point (`setpoints.<field>`).
    Setpoint(SetpointField),
    /// The time of a set-point shift (`shifts[i].time_h`), h.
    ShiftTime {
        /// Index of the shift.
        shift: usize,
    },
    /// A set-point the i-th shift sets.
    ShiftSetpoint {
        /// Index of the shift.
        shift: usize,
        /// The set-point.
        field: SetpointField,
    },
    /// The temperature of every set-point shift that sets one
    /// (`shifts.temperature_k`), K: set on all of them; read as their
    /// common value ([`shift_temperature_k`]).
    ShiftTemperatures,
    /// The feed scale (`feeds.scale`), a factor on every feed.
    FeedScale,
    /// A field of one recipe feed entry (`Recipe::feeds[entry]`).
    Feed {
        /// Index into `Recipe::feeds`.
        entry: usize,
        /// The field.
        field: FeedField,
    },
    /// A number of the vessel file (`equipment.<field>`).
    Equipment(EquipmentField),
}

/// A set-point field, in the recipe file's unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetpointField {
    /// `temperature_c`, °C.
    TemperatureC,
    /// `ph`.
    Ph,
    /// `do_pct`, % of air saturation.
    DoPct,
    /// `agitation_rpm`, rpm.
    AgitationRpm,
    /// `sparge_slpm`, standard L/min.
    SpargeSlpm,
    /// `base_concentration_m`, mol/L.
    BaseConcentrationM,
}

/// The fields of a feed entry an address reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedField {
    /// Bolus: the volume of each addition, L.
    VolumeL,
    /// Bolus: each addition as % of the initial volume (scales with it).
    VolumePctOfInitial,
    /// Bolus: the time of its first addition, h; the others keep their
    /// spacing.
    TimeH,
    /// Continuous: rate, L/h.
    RateLPerH,
    /// Continuous: rate as % of the initial volume per day.
    RatePctOfInitialPerDay,
    /// Continuous: start and end, h.
    StartH,
    /// Continuous: end, h.
    EndH,
}

const SETPOINTS: &[(&str, SetpointField)] = &[
    ("temperature_c", SetpointField::TemperatureC),
    ("ph", SetpointField::Ph),
    ("do_pct", SetpointField::DoPct),
    ("agitation_rpm", SetpointField::AgitationRpm),
    ("sparge_slpm", SetpointField::SpargeSlpm),
    ("base_concentration_m", SetpointField::BaseConcentrationM),
];

const BOLUS_FIELDS: &[(&str, FeedField)] = &[
    ("volume_l", FeedField::VolumeL),
    ("volume_pct_of_initial", FeedField::VolumePctOfInitial),
    ("time_h", FeedField::TimeH),
    ("start_h", FeedField::TimeH),
];

const CONTINUOUS_FIELDS: &[(&str, FeedField)] = &[
    ("rate_l_per_h", FeedField::RateLPerH),
    (
        "rate_pct_of_initial_per_day",
        FeedField::RatePctOfInitialPerDay,
    ),
    ("start_h", FeedField::StartH),
    ("end_h", FeedField::EndH),
];

/// 0 °C in K (`shifts.temperature_k` is checked by the `temperature_c`
/// set-point's rule).
const CELSIUS_OFFSET_K: f64 = 273.15;

/// The largest `feeds.scale`: a recipe's feeds at most tenfold. Larger
/// changes belong in the recipe; with a vessel the working volume bounds
/// the fed volume as well ([`crate::simulation::Scenario::check_limits`]).
pub const FEED_SCALE_MAX: f64 = 10.0;

impl SetpointField {
    /// The field's name in recipe files (`temperature_c`).
    pub fn name(self) -> &'static str {
        SETPOINTS
            .iter()
            .find(|(_, f)| *f == self)
            .map_or("?", |(n, _)| n)
    }
}

/// Numbers that addresses read and write: the parameter vector (SI), the
/// compiled recipe and the vessel.
pub struct Target<'a> {
    /// Kinetic parameters, SI.
    pub params_si: &'a mut Vec<f64>,
    /// The compiled recipe.
    pub recipe: &'a mut Recipe,
    /// The vessel, if any.
    pub vessel: &'a mut Option<VesselHandle>,
}

fn setpoint_field(name: &str) -> Result<SetpointField, Reason> {
    SETPOINTS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, f)| *f)
        .ok_or_else(|| {
            Reason::new(format!(
                "a set-point field, one of {}",
                SETPOINTS.iter().map(|s| s.0).collect::<Vec<_>>().join(", ")
            ))
        })
}

/// `name[3]` → 3.
fn index_of(head: &str, name: &str) -> Option<Result<usize, Reason>> {
    let rest = head.strip_prefix(name)?.strip_prefix('[')?;
    Some(
        rest.strip_suffix(']')
            .and_then(|i| i.parse().ok())
            .ok_or_else(|| Reason::new(format!("{name}[<index>]"))),
    )
}

/// Parses an address; the error says what would have been accepted.
pub fn parse(
    text: &str,
    specs: &[ParamSpec],
    file_factor: &[f64],
    recipe: &Recipe,
    vessel: Option<&VesselHandle>,
) -> Result<Address, Reason> {
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
                Reason::new(format!(
                    "model.<param> with param one of {}",
                    specs.iter().map(|s| s.name).collect::<Vec<_>>().join(", ")
                ))
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
                    Reason::new(format!(
                        "a medium of the recipe ({})",
                        recipe
                            .media
                            .iter()
                            .map(|m| m.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                })?;
            let (species, factor) = parse_key(key)?;
            if matches!(
                species,
                Species::ViableCells | Species::DeadCells | Species::Viability
            ) {
                return Err(Reason::from(format!(
                    "a species of a cell-free medium, not {species}"
                )));
            }
            Ok(Address::Medium {
                medium,
                species,
                factor,
            })
        }
        "setpoints" => setpoint_field(rest).map(Address::Setpoint),
        // Set on every shift that sets a temperature, whatever they set
        // before (as the dataset mapping always did); reading it needs them
        // at one temperature ([`shift_temperature_k`]).
        "shifts" if rest == "temperature_k" => {
            if !shifts(recipe)
                .any(|e| matches!(&e.kind, EventKind::Shift(sp) if sp.temperature_k.is_some()))
            {
                return Err(
                    "shifts.temperature_k only for a recipe with a set-point shift that sets a temperature (it has none)".into(),
                );
            }
            Ok(Address::ShiftTemperatures)
        }
        "feeds" if rest == "scale" => Ok(Address::FeedScale),
        "feeds" => {
            let (name, field) = rest
                .split_once('.')
                .ok_or("feeds.scale, feeds[<i>].<field> or feeds.<name>.<field>")?;
            let entry = recipe
                .feeds
                .iter()
                .position(|f| f.name.as_deref() == Some(name))
                .ok_or_else(|| {
                    let names: Vec<&str> = recipe
                        .feeds
                        .iter()
                        .filter_map(|f| f.name.as_deref())
                        .collect();
                    format!(
                        "feeds.<name>.<field> with a feed name of the recipe ({})",
                        if names.is_empty() {
                            "it names none; use feeds[<i>]".to_string()
                        } else {
                            names.join(", ")
                        }
                    )
                })?;
            feed_address(recipe, entry, field)
        }
        h => {
            if let Some(i) = index_of(h, "feeds") {
                let entry = i?;
                let n = recipe.feeds.len();
                if entry >= n {
                    return Err(Reason::from(format!("a feed index below {n}")));
                }
                return feed_address(recipe, entry, rest);
            }
            if let Some(i) = index_of(h, "shifts") {
                let shift = i?;
                let n = shifts(recipe).count();
                if shift >= n {
                    return Err(Reason::from(format!("a shift index below {n}")));
                }
                if rest == "time_h" {
                    return Ok(Address::ShiftTime { shift });
                }
                let field = setpoint_field(rest).map_err(|e| format!("shifts[i].time_h or {e}"))?;
                return Ok(Address::ShiftSetpoint { shift, field });
            }
            if h == "equipment" {
                let eq = vessel
                    .and_then(|v| v.equipment())
                    .ok_or("an equipment.* address only for a process with an equipment file")?;
                return EquipmentField::parse(rest, eq).map(Address::Equipment);
            }
            Err(Reason::from(
                "an address starting with model., initial., media., setpoints., shifts[i]., feeds. or equipment.",
            ))
        }
    }
}

fn feed_address(recipe: &Recipe, entry: usize, field: &str) -> Result<Address, Reason> {
    let fields = match recipe.feeds[entry].kind {
        FeedKind::Bolus => BOLUS_FIELDS,
        FeedKind::Continuous(_) => CONTINUOUS_FIELDS,
    };
    fields
        .iter()
        .find(|(n, _)| *n == field)
        .map(|(_, f)| Address::Feed { entry, field: *f })
        .ok_or_else(|| {
            Reason::new(format!(
                "a field of {} ({})",
                recipe.feeds[entry].field,
                fields.iter().map(|f| f.0).collect::<Vec<_>>().join(", ")
            ))
        })
}

fn shifts(recipe: &Recipe) -> impl Iterator<Item = &recipe::Event> {
    recipe
        .events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Shift(_)))
}

/// The one temperature (K) the recipe's set-point shifts set
/// (`shifts.temperature_k`); `Err` says what was expected: a shift that
/// sets a temperature, and all such shifts at the same one.
pub fn shift_temperature_k(recipe: &Recipe) -> Result<f64, String> {
    let mut t = recipe.events.iter().filter_map(|e| match &e.kind {
        EventKind::Shift(sp) => sp.temperature_k,
        _ => None,
    });
    let Some(first) = t.next() else {
        return Err(
            "shifts.temperature_k only for a recipe with a set-point shift that sets a temperature (it has none)".into(),
        );
    };
    match t.find(|v| *v != first) {
        Some(other) => Err(format!(
            "shifts.temperature_k: one temperature after the shifts (they set {first} K and {other} K)"
        )),
        None => Ok(first),
    }
}

fn shift_event(recipe: &mut Recipe, shift: usize) -> Option<&mut recipe::Event> {
    recipe
        .events
        .iter_mut()
        .filter(|e| matches!(e.kind, EventKind::Shift(_)))
        .nth(shift)
}

/// Times (h) of a bolus entry's additions.
fn bolus_times_h(recipe: &Recipe, entry: usize) -> impl Iterator<Item = f64> + '_ {
    recipe.events.iter().filter_map(move |e| match e.kind {
        EventKind::Bolus { entry: k, .. } if k == entry => Some(e.time_s / S_PER_H),
        _ => None,
    })
}

fn first_bolus(recipe: &Recipe, entry: usize) -> Option<(f64, f64, bool)> {
    recipe.events.iter().find_map(|e| match e.kind {
        EventKind::Bolus {
            entry: k,
            volume_m3,
            relative,
            ..
        } if k == entry => Some((e.time_s, volume_m3, relative)),
        _ => None,
    })
}

fn continuous_times_h(recipe: &Recipe, feed: usize) -> (f64, f64) {
    let mut on = f64::NAN;
    let mut off = f64::NAN;
    for e in &recipe.events {
        match e.kind {
            EventKind::FeedOn { feed: k } if k == feed => on = e.time_s / S_PER_H,
            EventKind::FeedOff { feed: k } if k == feed => off = e.time_s / S_PER_H,
            _ => {}
        }
    }
    (on, off)
}

fn equipment_of(vessel: &Option<VesselHandle>) -> Option<&crate::equipment::Equipment> {
    vessel.as_ref().and_then(|v| v.equipment())
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
            Address::ShiftSetpoint { shift, field } => match shift_event(t.recipe, shift) {
                Some(recipe::Event {
                    kind: EventKind::Shift(sp),
                    ..
                }) => get_setpoint(sp, field),
                _ => f64::NAN,
            },
            Address::ShiftTemperatures => shift_temperature_k(t.recipe).unwrap_or(f64::NAN),
            Address::FeedScale => t.recipe.feed_scale,
            Address::Feed { entry, field } => get_feed(t.recipe, entry, field),
            Address::Equipment(f) => equipment_of(t.vessel).map_or(f64::NAN, |e| f.get(e)),
        }
    }

    /// Sets a value given in the user unit, as is (callers that take values
    /// from users check them first: [`Address::check`]).
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
                sort_events(t.recipe);
            }
            Address::ShiftSetpoint { shift, field } => {
                if let Some(recipe::Event {
                    kind: EventKind::Shift(sp),
                    ..
                }) = shift_event(t.recipe, shift)
                {
                    set_setpoint(sp, field, v)
                }
            }
            Address::ShiftTemperatures => {
                for e in t.recipe.events.iter_mut() {
                    if let EventKind::Shift(sp) = &mut e.kind
                        && sp.temperature_k.is_some()
                    {
                        sp.temperature_k = Some(v);
                    }
                }
            }
            Address::FeedScale => t.recipe.feed_scale = v,
            Address::Feed { entry, field } => set_feed(t.recipe, entry, field, v),
            Address::Equipment(f) => {
                if let Some(eq) = equipment_of(t.vessel) {
                    let mut eq = eq.clone();
                    f.set(&mut eq, v);
                    *t.vessel = Some(Arc::new(eq));
                }
            }
        }
    }

    /// The rule this quantity has in its own file (range, unit), against
    /// the scenario as it stands; `Err` holds what was expected, in the
    /// file's words.
    pub fn check(
        &self,
        v: f64,
        specs: &[ParamSpec],
        recipe: &Recipe,
        vessel: Option<&VesselHandle>,
    ) -> Result<(), Reason> {
        let duration_h = recipe.duration_s / S_PER_H;
        match *self {
            Address::ModelParam { index, factor } => {
                let spec = &specs[index];
                let canonical_factor = crate::units::Unit::parse(spec.unit)
                    .map(|u| u.factor)
                    .unwrap_or(1.0);
                let canonical = v * factor / canonical_factor;
                if canonical.is_finite() && canonical >= spec.min && canonical <= spec.max {
                    Ok(())
                } else {
                    Err(Reason::from(format!(
                        "{} in [{}, {}] {} (the model file's range{})",
                        spec.name,
                        spec.min,
                        spec.max,
                        spec.unit,
                        if (factor / canonical_factor - 1.0).abs() > 1e-12 {
                            format!(
                                "; the value is read in the model file's unit, = {canonical:.6e} {}",
                                spec.unit
                            )
                        } else {
                            String::new()
                        }
                    )))
                }
            }
            Address::Initial { species, .. } | Address::Medium { species, .. } => {
                check_concentration(species, v)
            }
            Address::InitialVolume => {
                if v.is_finite() && v > 0.0 {
                    Ok(())
                } else {
                    Err(Reason::from("a positive volume in L"))
                }
            }
            Address::Setpoint(f) | Address::ShiftSetpoint { field: f, .. } => {
                check_setpoint(f.name(), v)
            }
            Address::ShiftTime { .. } => check_time_h(v, duration_h),
            // The set-point's rule, in °C.
            Address::ShiftTemperatures => {
                let name = SetpointField::TemperatureC.name();
                check_setpoint(name, v - CELSIUS_OFFSET_K).map_err(|_| {
                    let (lo, hi) = SETPOINT_RANGES
                        .iter()
                        .find(|r| r.0 == name)
                        .map_or((f64::NAN, f64::NAN), |r| (r.1, r.2));
                    Reason::from(format!(
                        "a temperature in [{}, {}] K (the {name} set-point's range, {lo} to {hi} °C)",
                        lo + CELSIUS_OFFSET_K,
                        hi + CELSIUS_OFFSET_K
                    ))
                })
            }
            Address::FeedScale => {
                if v.is_finite() && (0.0..=FEED_SCALE_MAX).contains(&v) {
                    Ok(())
                } else {
                    Err(Reason::from(format!(
                        "a feed multiplier in [0, {FEED_SCALE_MAX}]"
                    )))
                }
            }
            Address::Feed { entry, field } => match field {
                FeedField::VolumeL => positive(v, "a positive volume in L"),
                FeedField::VolumePctOfInitial => {
                    positive(v, "a positive percentage of the initial volume")
                }
                FeedField::RateLPerH | FeedField::RatePctOfInitialPerDay => {
                    if v.is_finite() && v >= 0.0 {
                        Ok(())
                    } else {
                        Err(Reason::from("a non-negative feed rate"))
                    }
                }
                FeedField::TimeH => {
                    let times: Vec<f64> = bolus_times_h(recipe, entry).collect();
                    let shift = v - times.first().copied().unwrap_or(v);
                    if !v.is_finite() {
                        return check_time_h(v, duration_h);
                    }
                    match times
                        .iter()
                        .find(|&&t| check_time_h(t + shift, duration_h).is_err())
                    {
                        Some(&t) => Err(Reason::from(format!(
                            "a time that keeps every addition of {} within the batch, 0 to {duration_h} h (the one at {t} h would move to {} h)",
                            recipe.feeds[entry].field,
                            t + shift
                        ))),
                        None => Ok(()),
                    }
                }
                FeedField::StartH | FeedField::EndH => {
                    check_time_h(v, duration_h)?;
                    let FeedKind::Continuous(k) = recipe.feeds[entry].kind else {
                        return Ok(());
                    };
                    let (on, off) = continuous_times_h(recipe, k);
                    match field {
                        FeedField::StartH if v >= off => {
                            Err(Reason::from(format!("a time before end_h = {off} h")))
                        }
                        FeedField::EndH if v <= on => {
                            Err(Reason::from(format!("a time after start_h = {on} h")))
                        }
                        _ => Ok(()),
                    }
                }
            },
            Address::Equipment(f) => match vessel.and_then(|v| v.equipment()) {
                Some(eq) => f.check(eq, v),
                None => Err(Reason::from("a process with an equipment file")),
            },
        }
    }
}

fn positive(v: f64, expected: &str) -> Result<(), Reason> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(Reason::new(expected))
    }
}

fn sort_events(recipe: &mut Recipe) {
    recipe.events.sort_by(|a, b| a.time_s.total_cmp(&b.time_s));
}

fn get_feed(recipe: &Recipe, entry: usize, field: FeedField) -> f64 {
    let v0_l = recipe.initial_volume_m3 * 1e3;
    match (recipe.feeds[entry].kind, field) {
        (FeedKind::Bolus, FeedField::VolumeL) => {
            first_bolus(recipe, entry).map_or(f64::NAN, |b| b.1 * 1e3)
        }
        (FeedKind::Bolus, FeedField::VolumePctOfInitial) => {
            first_bolus(recipe, entry).map_or(f64::NAN, |b| b.1 * 1e3 / v0_l * 100.0)
        }
        (FeedKind::Bolus, FeedField::TimeH) => {
            first_bolus(recipe, entry).map_or(f64::NAN, |b| b.0 / S_PER_H)
        }
        (FeedKind::Continuous(k), FeedField::RateLPerH) => {
            recipe.continuous_feeds[k].rate_m3_per_s * 1e3 * S_PER_H
        }
        (FeedKind::Continuous(k), FeedField::RatePctOfInitialPerDay) => {
            recipe.continuous_feeds[k].rate_m3_per_s * 1e3 * S_PER_H * 24.0 / v0_l * 100.0
        }
        (FeedKind::Continuous(k), FeedField::StartH) => continuous_times_h(recipe, k).0,
        (FeedKind::Continuous(k), FeedField::EndH) => continuous_times_h(recipe, k).1,
        _ => f64::NAN,
    }
}

fn set_feed(recipe: &mut Recipe, entry: usize, field: FeedField, v: f64) {
    let v0_l = recipe.initial_volume_m3 * 1e3;
    match (recipe.feeds[entry].kind, field) {
        (FeedKind::Bolus, FeedField::VolumeL | FeedField::VolumePctOfInitial) => {
            let (volume, rel) = if field == FeedField::VolumeL {
                (v * 1e-3, false)
            } else {
                (v / 100.0 * v0_l * 1e-3, true)
            };
            for e in recipe.events.iter_mut() {
                if let EventKind::Bolus {
                    entry: k,
                    volume_m3,
                    relative,
                    ..
                } = &mut e.kind
                    && *k == entry
                {
                    *volume_m3 = volume;
                    *relative = rel;
                }
            }
        }
        (FeedKind::Bolus, FeedField::TimeH) => {
            let Some((t0, _, _)) = first_bolus(recipe, entry) else {
                return;
            };
            let shift = v * S_PER_H - t0;
            for e in recipe.events.iter_mut() {
                if matches!(e.kind, EventKind::Bolus { entry: k, .. } if k == entry) {
                    e.time_s += shift;
                }
            }
            sort_events(recipe);
        }
        (FeedKind::Continuous(k), FeedField::RateLPerH | FeedField::RatePctOfInitialPerDay) => {
            let f = &mut recipe.continuous_feeds[k];
            if field == FeedField::RateLPerH {
                f.rate_m3_per_s = v * 1e-3 / S_PER_H;
                f.relative = false;
            } else {
                f.rate_m3_per_s = v / 100.0 * v0_l / 24.0 * 1e-3 / S_PER_H;
                f.relative = true;
            }
        }
        (FeedKind::Continuous(k), FeedField::StartH | FeedField::EndH) => {
            for e in recipe.events.iter_mut() {
                match e.kind {
                    EventKind::FeedOn { feed } if feed == k && field == FeedField::StartH => {
                        e.time_s = v * S_PER_H
                    }
                    EventKind::FeedOff { feed } if feed == k && field == FeedField::EndH => {
                        e.time_s = v * S_PER_H
                    }
                    _ => {}
                }
            }
            sort_events(recipe);
        }
        _ => {}
    }
}

fn get_setpoint(s: &Setpoints, f: SetpointField) -> f64 {
    let v = match f {
        SetpointField::TemperatureC => s.temperature_k.map(|k| k - 273.15),
        SetpointField::Ph => s.ph,
        SetpointField::DoPct => s.do_fraction.map(|x| x * 100.0),
        SetpointField::AgitationRpm => s.agitation_rps.map(|x| x * 60.0),
        SetpointField::SpargeSlpm => s.sparge_slpm,
        SetpointField::BaseConcentrationM => s.base_concentration_mol_per_m3.map(|x| x / 1e3),
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
        SetpointField::BaseConcentrationM => s.base_concentration_mol_per_m3 = Some(v * 1e3),
    }
}

/// Every set-point field name with its range, for documentation and help.
pub fn setpoint_ranges() -> &'static [(&'static str, f64, f64, &'static str)] {
    SETPOINT_RANGES
}
