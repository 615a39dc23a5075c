//! Recipe files: initial conditions, media, bolus and continuous feeds,
//! sampling, set-points and their shifts, batch duration.
//!
//! The file form ([`RecipeFile`]) carries units in field names; the compiled
//! form ([`Recipe`]) is SI with every discrete action as a time-ordered
//! [`Event`]. The format is documented in `docs/file-formats.md`.

use crate::error::Reason;
use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::source::SourceFile;
use super::species::{Composition, Species, parse_key};
use crate::error::Diagnostics;
use crate::units::S_PER_H;

/// A recipe file (`process-models/recipes/*.toml`) as written, before validation; units as in the file.
#[derive(Debug, Clone, Deserialize)]
pub struct RecipeFile {
    /// The `[recipe]` table.
    pub recipe: RecipeHeader,
    /// Initial conditions: species key with unit suffix (`glucose_g_per_l`, `xv_1e6_cells_per_ml`) → value in that unit.
    pub initial: BTreeMap<String, f64>,
    /// Initial set-points (`[setpoints]`).
    #[serde(default)]
    pub setpoints: SetpointsFile,
    /// Set-point changes during the batch (`[[shifts]]`).
    #[serde(default)]
    pub shifts: Vec<ShiftFile>,
    /// Feed media by name: species key with unit suffix → value in that unit.
    #[serde(default)]
    pub media: BTreeMap<String, BTreeMap<String, f64>>,
    /// Bolus additions (`[[bolus_feeds]]`).
    #[serde(default)]
    pub bolus_feeds: Vec<BolusFeedFile>,
    /// Continuous feeds (`[[continuous_feeds]]`).
    #[serde(default)]
    pub continuous_feeds: Vec<ContinuousFeedFile>,
    /// Sampling (`[[sampling]]`): broth removed for analysis.
    #[serde(default)]
    pub sampling: Vec<SamplingFile>,
}

/// The `[recipe]` table of a recipe file.
#[derive(Debug, Clone, Deserialize)]
pub struct RecipeHeader {
    /// Recipe identifier.
    pub id: String,
    /// Free text for people.
    #[serde(default)]
    pub description: String,
    /// Batch duration, h.
    pub duration_h: f64,
    /// Initial broth volume, L.
    pub initial_volume_l: f64,
}

/// Operating set-points; all optional because not every model uses them.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct SetpointsFile {
    /// Temperature, °C.
    pub temperature_c: Option<f64>,
    /// pH.
    pub ph: Option<f64>,
    /// Dissolved O₂, % of air saturation.
    pub do_pct: Option<f64>,
    /// Agitation, rpm.
    pub agitation_rpm: Option<f64>,
    /// Sparge gas flow, standard L/min.
    pub sparge_slpm: Option<f64>,
    /// Concentration of the base used for pH control, mol/L (as Na⁺).
    pub base_concentration_m: Option<f64>,
}

/// A set-point change. Fields are spelled out rather than flattened from
/// [`SetpointsFile`]: serde's `flatten` would silently accept misspelt keys.
#[derive(Debug, Clone, Deserialize)]
pub struct ShiftFile {
    /// Batch time of the change, h.
    pub time_h: f64,
    /// New temperature, °C.
    pub temperature_c: Option<f64>,
    /// New pH.
    pub ph: Option<f64>,
    /// New dissolved-O₂ set-point, % of air saturation.
    pub do_pct: Option<f64>,
    /// New agitation, rpm.
    pub agitation_rpm: Option<f64>,
    /// New sparge gas flow, standard L/min.
    pub sparge_slpm: Option<f64>,
    /// New base concentration for pH control, mol/L (as Na⁺).
    pub base_concentration_m: Option<f64>,
}

impl ShiftFile {
    /// The changed set-points as a [`SetpointsFile`] (unchanged ones `None`).
    pub fn setpoints(&self) -> SetpointsFile {
        SetpointsFile {
            temperature_c: self.temperature_c,
            ph: self.ph,
            do_pct: self.do_pct,
            agitation_rpm: self.agitation_rpm,
            sparge_slpm: self.sparge_slpm,
            base_concentration_m: self.base_concentration_m,
        }
    }
}

/// When an action happens: explicit times or a start/every/until series.
#[derive(Debug, Clone, Default)]
pub struct ScheduleFile {
    /// Explicit times, h.
    pub times_h: Option<Vec<f64>>,
    /// First time of a series, h.
    pub start_h: Option<f64>,
    /// Interval of a series, h.
    pub every_h: Option<f64>,
    /// Last time of a series (inclusive), h.
    pub until_h: Option<f64>,
}

/// A `[[bolus_feeds]]` entry: additions of a medium at given times.
#[derive(Debug, Clone, Deserialize)]
pub struct BolusFeedFile {
    /// Optional name, unique among the recipe's feeds: the address
    /// `feeds.<name>.*` reaches this entry (see `simulation::address`).
    pub name: Option<String>,
    /// Name of the medium (a key of `[media]`).
    pub medium: String,
    /// Explicit addition times, h.
    pub times_h: Option<Vec<f64>>,
    /// First addition of a series, h.
    pub start_h: Option<f64>,
    /// Interval of the series, h.
    pub every_h: Option<f64>,
    /// Last addition of the series (inclusive), h.
    pub until_h: Option<f64>,
    /// Volume of each addition, L.
    pub volume_l: Option<f64>,
    /// Volume of each addition as a percentage of the initial volume (scales with it).
    pub volume_pct_of_initial: Option<f64>,
}

/// A `[[continuous_feeds]]` entry: a medium fed at a constant rate over an interval.
#[derive(Debug, Clone, Deserialize)]
pub struct ContinuousFeedFile {
    /// Optional name, unique among the recipe's feeds (`feeds.<name>.*`).
    pub name: Option<String>,
    /// Name of the medium (a key of `[media]`).
    pub medium: String,
    /// Feed start, h.
    pub start_h: f64,
    /// Feed end, h.
    pub end_h: f64,
    /// Feed rate, L/h.
    pub rate_l_per_h: Option<f64>,
    /// Feed rate as a percentage of the initial volume per day (scales with it).
    pub rate_pct_of_initial_per_day: Option<f64>,
}

/// A `[[sampling]]` entry: broth removed at given times.
#[derive(Debug, Clone, Deserialize)]
pub struct SamplingFile {
    /// Explicit sampling times, h.
    pub times_h: Option<Vec<f64>>,
    /// First sample of a series, h.
    pub start_h: Option<f64>,
    /// Interval of the series, h.
    pub every_h: Option<f64>,
    /// Last sample of the series (inclusive), h.
    pub until_h: Option<f64>,
    /// Volume of each sample, mL.
    pub volume_ml: f64,
}

macro_rules! schedule_of {
    ($t:ty) => {
        impl $t {
            /// The entry's times as a [`ScheduleFile`].
            pub fn schedule(&self) -> ScheduleFile {
                ScheduleFile {
                    times_h: self.times_h.clone(),
                    start_h: self.start_h,
                    every_h: self.every_h,
                    until_h: self.until_h,
                }
            }
        }
    };
}
schedule_of!(BolusFeedFile);
schedule_of!(SamplingFile);

/// Set-points in SI. Unset values stay `None`; models that need them say so.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Setpoints {
    /// Temperature, K.
    pub temperature_k: Option<f64>,
    /// pH.
    pub ph: Option<f64>,
    /// Dissolved-oxygen set-point as a fraction of air saturation.
    pub do_fraction: Option<f64>,
    /// Agitation, revolutions per second.
    pub agitation_rps: Option<f64>,
    /// Sparge gas flow, standard L/min.
    pub sparge_slpm: Option<f64>,
    /// mol/m³ of Na⁺ in the base solution.
    pub base_concentration_mol_per_m3: Option<f64>,
}

impl Setpoints {
    /// Applies the set values of `change` on top of `self`.
    pub fn apply(&mut self, change: &Setpoints) {
        macro_rules! over {
            ($($f:ident),*) => { $( if change.$f.is_some() { self.$f = change.$f; } )* };
        }
        over!(
            temperature_k,
            ph,
            do_fraction,
            agitation_rps,
            sparge_slpm,
            base_concentration_mol_per_m3
        );
    }
}

/// A discrete recipe action.
#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    /// `relative`: the file gave the volume as a share of the initial volume,
    /// so it scales with `initial.volume_l` overrides.
    Bolus {
        /// Index into [`Recipe::media`].
        medium: usize,
        /// Volume added, m³.
        volume_m3: f64,
        /// Whether the file gave the volume relative to the initial volume.
        relative: bool,
        /// The recipe feed entry (index into [`Recipe::feeds`]) this
        /// addition belongs to.
        entry: usize,
    },
    /// Broth removed for a sample.
    Sample {
        /// Volume removed, m³.
        volume_m3: f64,
    },
    /// A set-point change (only the set fields change).
    Shift(Setpoints),
    /// A continuous feed starts.
    FeedOn {
        /// Index into [`Recipe::continuous_feeds`].
        feed: usize,
    },
    /// A continuous feed stops.
    FeedOff {
        /// Index into [`Recipe::continuous_feeds`].
        feed: usize,
    },
}

/// A recipe action at a time.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Batch time, s.
    pub time_s: f64,
    /// What happens.
    pub kind: EventKind,
}

/// A continuous feed of a validated recipe, in SI.
#[derive(Debug, Clone, PartialEq)]
pub struct ContinuousFeed {
    /// Index into [`Recipe::media`].
    pub medium: usize,
    /// Feed rate, m³/s (before `Recipe::feed_scale`).
    pub rate_m3_per_s: f64,
    /// Given as a share of the initial volume per day (scales with it).
    pub relative: bool,
}

/// One `[[bolus_feeds]]` or `[[continuous_feeds]]` entry of the file, as
/// the address space sees it: `feeds[i]` is `Recipe::feeds[i]` (bolus
/// entries in file order, then continuous entries in file order), and
/// `feeds.<name>` the entry of that name.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedEntry {
    /// The entry's optional name (`feeds.<name>`).
    pub name: Option<String>,
    /// Bolus or continuous.
    pub kind: FeedKind,
    /// Field path of the entry in the recipe file (`bolus_feeds[1]`).
    pub field: String,
}

/// Which kind of feed a [`FeedEntry`] is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FeedKind {
    /// Its additions are the `EventKind::Bolus` events tagged with this entry.
    Bolus,
    /// Index into [`Recipe::continuous_feeds`].
    Continuous(usize),
}

/// At most this many continuous feeds: the running recipe keeps the feeds in
/// force in a 64-bit set (`bioreactor::events::Cursor`).
pub const MAX_CONTINUOUS_FEEDS: usize = 64;

/// A validated feed medium.
#[derive(Debug, Clone, PartialEq)]
pub struct Medium {
    /// Its name in the file's `[media]`.
    pub name: String,
    /// Its composition, SI.
    pub composition: Composition,
}

/// A validated recipe in SI.
#[derive(Debug, Clone, PartialEq)]
pub struct Recipe {
    /// Recipe identifier.
    pub id: String,
    /// Batch duration, s.
    pub duration_s: f64,
    /// Initial broth volume, m³.
    pub initial_volume_m3: f64,
    /// Initial conditions, SI.
    pub initial: Composition,
    /// Initial set-points, SI.
    pub setpoints: Setpoints,
    /// Feed media, in file order of names.
    pub media: Vec<Medium>,
    /// Continuous feeds, in file order.
    pub continuous_feeds: Vec<ContinuousFeed>,
    /// Multiplies every bolus volume and continuous feed rate when the batch
    /// runs (1 as written; the `feeds.scale` address changes it).
    pub feed_scale: f64,
    /// The feed entries of the file, for addresses (`feeds[i]`, `feeds.<name>`).
    pub feeds: Vec<FeedEntry>,
    /// Sorted by time; at equal times in file order (feeds before sampling
    /// only if so written).
    pub events: Vec<Event>,
}

impl Recipe {
    /// Changes the initial volume; feeds given relative to it scale along.
    pub fn set_initial_volume(&mut self, volume_m3: f64) {
        let ratio = volume_m3 / self.initial_volume_m3;
        for e in self.events.iter_mut() {
            if let EventKind::Bolus {
                volume_m3,
                relative: true,
                ..
            } = &mut e.kind
            {
                *volume_m3 *= ratio;
            }
        }
        for f in self.continuous_feeds.iter_mut().filter(|f| f.relative) {
            f.rate_m3_per_s *= ratio;
        }
        self.initial_volume_m3 = volume_m3;
    }

    /// Reads and validates a recipe file; every problem is a [`Diagnostic`](crate::error::Diagnostic) naming file, line and field.
    pub fn load(path: &Path) -> Result<Recipe, Diagnostics> {
        let src = SourceFile::read(path)?;
        let file: RecipeFile = src.parse()?;
        compile(&file, &src)
    }
}

/// Admissible set-point values in the file's units: (field, low, high,
/// unit). The one table for recipe files, shifts and every address that sets
/// a set-point (`setpoints.*`, `shifts[i].*`).
pub const SETPOINT_RANGES: &[(&str, f64, f64, &str)] = &[
    ("temperature_c", 20.0, 42.0, "°C"),
    ("ph", 6.0, 8.0, ""),
    ("do_pct", 1.0, 200.0, "% air saturation"),
    ("agitation_rpm", 0.0, 2000.0, "rpm"),
    ("sparge_slpm", 0.0, 1e5, "standard L/min"),
    ("base_concentration_m", 0.01, 10.0, "mol/L"),
];

/// Checks a set-point value (file units); the error is what was expected.
pub fn check_setpoint(name: &str, x: f64) -> Result<(), Reason> {
    match SETPOINT_RANGES.iter().find(|r| r.0 == name) {
        Some(&(_, lo, hi, unit)) if !(x.is_finite() && (lo..=hi).contains(&x)) => {
            Err(Reason::from(
                format!("a number in [{lo}, {hi}] {unit}")
                    .trim_end()
                    .to_string(),
            ))
        }
        Some(_) => Ok(()),
        None => Err(Reason::from(format!(
            "a set-point, one of {}",
            SETPOINT_RANGES
                .iter()
                .map(|r| r.0)
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Checks an initial or medium concentration given under a species key
/// (file units): the rule of [`composition`].
pub fn check_concentration(species: Species, value: f64) -> Result<(), Reason> {
    if !value.is_finite() || value < 0.0 {
        Err(Reason::from("a non-negative number"))
    } else if species == Species::Viability && value > 100.0 {
        Err(Reason::from("a percentage in [0, 100]"))
    } else {
        Ok(())
    }
}

/// Checks a feed or shift time (h) against the batch duration.
pub fn check_time_h(t: f64, duration_h: f64) -> Result<(), Reason> {
    if t.is_finite() && (0.0..=duration_h).contains(&t) {
        Ok(())
    } else {
        Err(Reason::from(format!(
            "a time within the batch, 0 to {duration_h} h"
        )))
    }
}

fn setpoints_si(
    sp: &SetpointsFile,
    field: &str,
    src: &SourceFile,
    d: &mut Diagnostics,
) -> Setpoints {
    let mut check = |name: &str, v: Option<f64>| {
        if let Some(x) = v
            && let Err(expected) = check_setpoint(name, x)
        {
            let path = if field.is_empty() {
                name.to_string()
            } else {
                format!("{field}.{name}")
            };
            d.push(src.diag(&path, expected, format!("{x}")));
        }
    };
    check("temperature_c", sp.temperature_c);
    check("ph", sp.ph);
    check("do_pct", sp.do_pct);
    check("agitation_rpm", sp.agitation_rpm);
    check("sparge_slpm", sp.sparge_slpm);
    check("base_concentration_m", sp.base_concentration_m);
    Setpoints {
        temperature_k: sp.temperature_c.map(|c| c + 273.15),
        ph: sp.ph,
        do_fraction: sp.do_pct.map(|p| p / 100.0),
        agitation_rps: sp.agitation_rpm.map(|r| r / 60.0),
        sparge_slpm: sp.sparge_slpm,
        base_concentration_mol_per_m3: sp.base_concentration_m.map(|m| m * 1e3),
    }
}

/// Parses a `species_unit = value` table into SI, reporting bad keys and values.
pub fn composition(
    table: &BTreeMap<String, f64>,
    field: &str,
    src: &SourceFile,
    d: &mut Diagnostics,
) -> Composition {
    let mut c = Composition::default();
    for (key, &value) in table {
        let path = format!("{field}.{key}");
        match parse_key(key) {
            Ok((species, factor)) => {
                if let Err(expected) = check_concentration(species, value) {
                    d.push(src.diag(&path, expected, format!("{value}")));
                } else if c.get(species).is_some() {
                    d.push(src.diag(
                        &path,
                        format!("{species} given once"),
                        "a second unit for it",
                    ));
                } else {
                    c.set(species, value * factor);
                }
            }
            Err(expected) => d.push(src.diag(&path, expected, format!("`{key}`"))),
        }
    }
    c
}

fn schedule_times(
    s: &ScheduleFile,
    field: &str,
    duration_h: f64,
    src: &SourceFile,
    d: &mut Diagnostics,
) -> Vec<f64> {
    let mut times = Vec::new();
    match (&s.times_h, s.start_h, s.every_h) {
        (Some(t), None, None) => times.extend(t.iter().copied()),
        (None, Some(start), Some(every)) => {
            if every <= 0.0 || !every.is_finite() {
                d.push(src.diag(
                    &format!("{field}.every_h"),
                    "a positive interval in h",
                    format!("{every}"),
                ));
                return times;
            }
            let until = s.until_h.unwrap_or(duration_h);
            let mut t = start;
            while t <= until + 1e-9 && times.len() < 100_000 {
                times.push(t);
                t += every;
            }
        }
        (None, Some(start), None) => times.push(start),
        _ => {
            d.push(src.diag(
                field,
                "either times_h = [...] or start_h (with optional every_h, until_h)",
                "neither or both",
            ));
        }
    }
    for (i, &t) in times.iter().enumerate() {
        if !(0.0..=duration_h).contains(&t) || !t.is_finite() {
            let path = if s.times_h.is_some() {
                format!("{field}.times_h[{i}]")
            } else {
                format!("{field}.start_h")
            };
            d.push(src.diag(
                &path,
                format!("a time within the batch, 0 to {duration_h} h"),
                format!("{t} h"),
            ));
        }
    }
    times
}

/// A feed's optional name: an identifier, unique among the recipe's feeds.
fn check_feed_name(
    name: &Option<String>,
    field: &str,
    feeds: &[FeedEntry],
    src: &SourceFile,
    d: &mut Diagnostics,
) {
    let Some(n) = name else { return };
    let ok = !n.is_empty()
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && n != "scale";
    if !ok {
        d.push(src.diag(
            &format!("{field}.name"),
            "a name of letters, digits, `_` or `-` (not `scale`), for addresses like feeds.<name>.volume_l",
            format!("{n:?}"),
        ));
    } else if feeds.iter().any(|e| e.name.as_deref() == Some(n.as_str())) {
        d.push(src.diag(
            &format!("{field}.name"),
            "a name used by one feed only",
            format!("{n:?} a second time"),
        ));
    }
}

/// Validates a recipe file and converts it to SI; reports every problem.
pub fn compile(f: &RecipeFile, src: &SourceFile) -> Result<Recipe, Diagnostics> {
    let mut d = Diagnostics::new();
    let h = &f.recipe;
    if !(h.duration_h > 0.0 && h.duration_h.is_finite()) {
        d.push(src.diag(
            "recipe.duration_h",
            "a positive duration in h",
            format!("{}", h.duration_h),
        ));
    }
    if !(h.initial_volume_l > 0.0 && h.initial_volume_l.is_finite()) {
        d.push(src.diag(
            "recipe.initial_volume_l",
            "a positive volume in L",
            format!("{}", h.initial_volume_l),
        ));
    }
    let duration_h = h.duration_h.max(0.0);
    let v0_l = h.initial_volume_l;
    let initial = composition(&f.initial, "initial", src, &mut d);
    let setpoints = setpoints_si(&f.setpoints, "setpoints", src, &mut d);

    let mut media = Vec::new();
    let mut medium_index = BTreeMap::new();
    for (name, table) in &f.media {
        let c = composition(table, &format!("media.{name}"), src, &mut d);
        for cells in [Species::ViableCells, Species::DeadCells, Species::Viability] {
            if c.get(cells).is_some() {
                d.push(src.diag(
                    &format!("media.{name}"),
                    "a cell-free medium",
                    format!("{cells} in it"),
                ));
            }
        }
        medium_index.insert(name.clone(), media.len());
        media.push(Medium {
            name: name.clone(),
            composition: c,
        });
    }
    let find_medium = |name: &str, field: &str, d: &mut Diagnostics| -> Option<usize> {
        let idx = medium_index.get(name).copied();
        if idx.is_none() {
            let known: Vec<_> = medium_index.keys().cloned().collect();
            d.push(src.diag(
                field,
                format!(
                    "the name of a [media.*] table ({})",
                    if known.is_empty() {
                        "none defined".into()
                    } else {
                        known.join(", ")
                    }
                ),
                format!("`{name}`"),
            ));
        }
        idx
    };

    let mut events = Vec::new();
    for (i, s) in f.shifts.iter().enumerate() {
        let field = format!("shifts[{i}]");
        if !(0.0..=duration_h).contains(&s.time_h) {
            d.push(src.diag(
                &format!("{field}.time_h"),
                format!("a time within the batch, 0 to {duration_h} h"),
                format!("{} h", s.time_h),
            ));
        }
        let sp = setpoints_si(&s.setpoints(), &field, src, &mut d);
        if sp == Setpoints::default() {
            d.push(src.diag(&field, "at least one set-point to change", "none"));
        }
        events.push(Event {
            time_s: s.time_h * S_PER_H,
            kind: EventKind::Shift(sp),
        });
    }
    let mut feeds: Vec<FeedEntry> = Vec::new();
    for (i, b) in f.bolus_feeds.iter().enumerate() {
        let field = format!("bolus_feeds[{i}]");
        check_feed_name(&b.name, &field, &feeds, src, &mut d);
        let entry = feeds.len();
        feeds.push(FeedEntry {
            name: b.name.clone(),
            kind: FeedKind::Bolus,
            field: field.clone(),
        });
        let medium = find_medium(&b.medium, &format!("{field}.medium"), &mut d);
        let volume_l = match (b.volume_l, b.volume_pct_of_initial) {
            (Some(v), None) => v,
            (None, Some(p)) => p / 100.0 * v0_l,
            _ => {
                d.push(src.diag(
                    &field,
                    "exactly one of volume_l, volume_pct_of_initial",
                    "neither or both",
                ));
                0.0
            }
        };
        // Check the number as written, not the volume derived from it, so a
        // bad initial volume is reported once, where it is.
        if let (Some(given), true) = (
            b.volume_l.or(b.volume_pct_of_initial),
            b.volume_l.is_some() ^ b.volume_pct_of_initial.is_some(),
        ) && !(given > 0.0 && given.is_finite())
        {
            let (key, what) = if b.volume_l.is_some() {
                ("volume_l", "a positive volume in L")
            } else {
                (
                    "volume_pct_of_initial",
                    "a positive percentage of the initial volume",
                )
            };
            d.push(src.diag(&format!("{field}.{key}"), what, format!("{given}")));
        }
        for t in schedule_times(&b.schedule(), &field, duration_h, src, &mut d) {
            if let Some(m) = medium {
                events.push(Event {
                    time_s: t * S_PER_H,
                    kind: EventKind::Bolus {
                        medium: m,
                        volume_m3: volume_l * 1e-3,
                        relative: b.volume_pct_of_initial.is_some(),
                        entry,
                    },
                });
            }
        }
    }
    let mut continuous_feeds = Vec::new();
    if f.continuous_feeds.len() > MAX_CONTINUOUS_FEEDS {
        d.push(src.diag(
            "continuous_feeds",
            format!("at most {MAX_CONTINUOUS_FEEDS} continuous feeds"),
            format!("{}", f.continuous_feeds.len()),
        ));
    }
    for (i, c) in f.continuous_feeds.iter().enumerate() {
        let field = format!("continuous_feeds[{i}]");
        check_feed_name(&c.name, &field, &feeds, src, &mut d);
        let medium = find_medium(&c.medium, &format!("{field}.medium"), &mut d);
        let rate_l_per_h = match (c.rate_l_per_h, c.rate_pct_of_initial_per_day) {
            (Some(r), None) => r,
            (None, Some(p)) => p / 100.0 * v0_l / 24.0,
            _ => {
                d.push(src.diag(
                    &field,
                    "exactly one of rate_l_per_h, rate_pct_of_initial_per_day",
                    "neither or both",
                ));
                0.0
            }
        };
        if let Some(given) = c.rate_l_per_h.or(c.rate_pct_of_initial_per_day)
            && (given < 0.0 || !given.is_finite())
        {
            let key = if c.rate_l_per_h.is_some() {
                "rate_l_per_h"
            } else {
                "rate_pct_of_initial_per_day"
            };
            d.push(src.diag(
                &format!("{field}.{key}"),
                "a non-negative feed rate",
                format!("{given}"),
            ));
        }
        for (key, t) in [("start_h", c.start_h), ("end_h", c.end_h)] {
            if !(0.0..=duration_h).contains(&t) {
                d.push(src.diag(
                    &format!("{field}.{key}"),
                    format!("a time within the batch, 0 to {duration_h} h"),
                    format!("{t} h"),
                ));
            }
        }
        if c.end_h <= c.start_h {
            d.push(src.diag(
                &format!("{field}.end_h"),
                format!("a time after start_h = {} h", c.start_h),
                format!("{} h", c.end_h),
            ));
        }
        if let Some(m) = medium {
            let feed = continuous_feeds.len();
            feeds.push(FeedEntry {
                name: c.name.clone(),
                kind: FeedKind::Continuous(feed),
                field: field.clone(),
            });
            continuous_feeds.push(ContinuousFeed {
                medium: m,
                rate_m3_per_s: rate_l_per_h * 1e-3 / S_PER_H,
                relative: c.rate_pct_of_initial_per_day.is_some(),
            });
            events.push(Event {
                time_s: c.start_h * S_PER_H,
                kind: EventKind::FeedOn { feed },
            });
            events.push(Event {
                time_s: c.end_h * S_PER_H,
                kind: EventKind::FeedOff { feed },
            });
        }
    }
    let mut sampled_l = 0.0;
    for (i, s) in f.sampling.iter().enumerate() {
        let field = format!("sampling[{i}]");
        if !(s.volume_ml > 0.0 && s.volume_ml.is_finite()) {
            d.push(src.diag(
                &format!("{field}.volume_ml"),
                "a positive volume in mL",
                format!("{}", s.volume_ml),
            ));
        }
        for t in schedule_times(&s.schedule(), &field, duration_h, src, &mut d) {
            sampled_l += s.volume_ml * 1e-3;
            events.push(Event {
                time_s: t * S_PER_H,
                kind: EventKind::Sample {
                    volume_m3: s.volume_ml * 1e-6,
                },
            });
        }
    }
    if v0_l > 0.0 && sampled_l >= v0_l {
        d.push(src.diag(
            "sampling",
            format!("total sampled volume below the initial volume {v0_l} L"),
            format!("{sampled_l} L"),
        ));
    }
    // Stable sort keeps file order for simultaneous events.
    events.sort_by(|a, b| a.time_s.total_cmp(&b.time_s));
    d.into_result(Recipe {
        id: h.id.clone(),
        duration_s: duration_h * S_PER_H,
        initial_volume_m3: v0_l * 1e-3,
        initial,
        setpoints,
        media,
        continuous_feeds,
        feed_scale: 1.0,
        feeds,
        events,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn compile_text(t: &str) -> Result<Recipe, Diagnostics> {
        let src = SourceFile::from_text(PathBuf::from("r.toml"), t.to_string());
        let f: RecipeFile = src.parse()?;
        compile(&f, &src)
    }

    const OK: &str = r#"
[recipe]
id = "r"
duration_h = 100
initial_volume_l = 2.0
[initial]
xv_1e6_cells_per_ml = 0.5
glucose_g_per_l = 6
[media.feed_a]
glucose_g_per_l = 200
[[bolus_feeds]]
medium = "feed_a"
start_h = 24
every_h = 24
volume_pct_of_initial = 3
[[sampling]]
times_h = [24, 48]
volume_ml = 5
"#;

    #[test]
    fn compiles_a_valid_recipe_to_si_events() {
        let r = compile_text(OK).unwrap();
        assert_eq!(r.initial_volume_m3, 2e-3);
        let boluses = r
            .events
            .iter()
            .filter(|e| matches!(e.kind, EventKind::Bolus { .. }))
            .count();
        assert_eq!(boluses, 4); // 24, 48, 72, 96
        assert!(r.events.windows(2).all(|w| w[0].time_s <= w[1].time_s));
        match r.events[0].kind {
            EventKind::Bolus { volume_m3, .. } => assert!((volume_m3 - 0.06e-3).abs() < 1e-15),
            ref k => panic!("{k:?}"),
        }
    }

    #[test]
    fn reports_every_problem_at_once() {
        let bad = OK
            .replace("initial_volume_l = 2.0", "initial_volume_l = -2.0")
            .replace("times_h = [24, 48]", "times_h = [24, 148]")
            .replace("medium = \"feed_a\"", "medium = \"feed_b\"")
            .replace("glucose_g_per_l = 6", "glucose_furlongs = 6");
        let e = compile_text(&bad).unwrap_err();
        assert!(e.mentions("recipe.initial_volume_l"), "{e}");
        assert!(e.mentions("sampling[0].times_h[1]"), "{e}");
        assert!(e.mentions("bolus_feeds[0].medium"), "{e}");
        assert!(e.mentions("initial.glucose_furlongs"), "{e}");
        assert!(e.len() >= 4);
        assert!(e.iter().all(|d| d.line.is_some()), "{e}");
    }
}
