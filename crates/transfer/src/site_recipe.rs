//! The receiving site's recipe in absolute units: what an operator sets on
//! the target vessel, phase by phase and day by day, for the recommended
//! process (the translated one when the decision is "no change").
//!
//! Set-points per phase come from the recipe (initial set-points, then each
//! shift) with the recommended agitation, gas flow, feed scale and shift
//! time applied. Feed and sample volumes per day are the recipe's events at
//! the target scale (relative volumes × the target's initial volume × the
//! feed scale). What the control loops do is predicted by the nominal run:
//! base added for pH, the broth volume, and the O₂ needed to hold the DO
//! set-point. The model enriches the sparge with O₂ at constant total gas
//! flow, so the total flow Q splits into pure O₂
//! `Q_O2 = Q (y − 0.2095)/(1 − 0.2095)` and air `Q − Q_O2`, with y the O₂
//! mole fraction of the sparge gas (`o2_in_sparge_pct`).

use serde::Serialize;

use biotwin_core::bioreactor::gas_transfer::Y_O2_AIR;
use biotwin_core::definition::recipe::{EventKind, Setpoints};
use biotwin_core::simulation::{Outcome, Scenario};

/// Set-points held from `start_h` to `end_h`.
#[derive(Debug, Clone, Serialize)]
pub struct Phase {
    /// Start of the phase, h from inoculation.
    pub start_h: f64,
    /// End of the phase, h.
    pub end_h: f64,
    /// Temperature set-point, °C (None: not set in the recipe).
    pub temperature_c: Option<f64>,
    /// pH set-point.
    pub ph: Option<f64>,
    /// Dissolved-O₂ set-point, % of air saturation.
    pub do_pct: Option<f64>,
    /// Agitation, rpm.
    pub agitation_rpm: Option<f64>,
    /// Total sparge gas flow (air + O₂).
    pub sparge_slpm: Option<f64>,
    /// Highest predicted O₂ share of the sparge gas in the phase, % (null
    /// when the model does not report it).
    pub max_o2_in_sparge_pct: Option<f64>,
    /// Pure O₂ and air flows at that moment.
    pub max_o2_flow_slpm: Option<f64>,
    /// Air flow at that moment, SLPM.
    pub air_flow_at_max_o2_slpm: Option<f64>,
}

/// One culture day (`day` 1 is 0–24 h).
#[derive(Debug, Clone, Serialize)]
pub struct Day {
    /// Culture day, from 1.
    pub day: usize,
    /// Start of the day, h from inoculation.
    pub start_h: f64,
    /// End of the day, h (the batch end for the last day).
    pub end_h: f64,
    /// Bolus volume per medium added in the day, L (media in recipe order;
    /// names in [`SiteRecipe::media`]).
    pub feed_l: Vec<f64>,
    /// Sample volume taken in the day, mL.
    pub sample_ml: f64,
    /// Predicted base added for pH control in the day, L.
    pub base_l: Option<f64>,
    /// Predicted broth volume at the end of the day, L.
    pub volume_end_l: Option<f64>,
    /// Highest predicted pure-O₂ flow in the day, SLPM.
    pub max_o2_flow_slpm: Option<f64>,
}

/// The receiving site's recipe for the recommended process, in absolute units
/// (L, SLPM, rpm, h) on the target vessel.
#[derive(Debug, Clone, Serialize)]
pub struct SiteRecipe {
    /// Initial working volume on the target, L.
    pub initial_volume_l: f64,
    /// Recommended feed scale (1 = the recipe's feeds at the target volume).
    pub feed_scale: f64,
    /// Media with at least one bolus, in recipe order.
    pub media: Vec<String>,
    /// Continuous feeds: (medium, rate L/day at the target scale).
    pub continuous_feeds_l_per_day: Vec<(String, f64)>,
    /// Set-point phases, in time order.
    pub phases: Vec<Phase>,
    /// Day-by-day additions and predictions.
    pub days: Vec<Day>,
}

fn o2_flow(total_slpm: f64, y_pct: f64) -> f64 {
    let y = y_pct / 100.0;
    (total_slpm * (y - Y_O2_AIR) / (1.0 - Y_O2_AIR)).max(0.0)
}

/// The recipe of `scenario` at its scale, with `nominal` its nominal run.
pub fn site_recipe(scenario: &Scenario, nominal: &Outcome) -> SiteRecipe {
    let r = &scenario.recipe;
    let end_h = r.duration_s / 3600.0;
    let time = nominal.column("time_h").unwrap_or_default();
    let col = |n: &str| nominal.column(n);
    let o2 = col("o2_in_sparge_pct");
    let volume = col("volume_l");
    let base = col("base_added_l");

    // Phases: the initial set-points, then each shift applied on top.
    let mut changes: Vec<(f64, &Setpoints)> = vec![(0.0, &r.setpoints)];
    for e in &r.events {
        if let EventKind::Shift(sp) = &e.kind {
            changes.push((e.time_s / 3600.0, sp));
        }
    }
    let mut phases = Vec::new();
    let mut held = Setpoints::default();
    for (i, (t0, sp)) in changes.iter().enumerate() {
        held.apply(sp);
        let t1 = changes.get(i + 1).map_or(end_h, |c| c.0);
        let sparge = held.sparge_slpm;
        // Highest O₂ share within the phase (t0 ≤ t < t1; the last row too).
        let max_o2 = o2.as_ref().and_then(|y| {
            time.iter()
                .zip(y)
                .filter(|(t, _)| **t >= *t0 && (**t < t1 || (t1 >= end_h && **t <= t1)))
                .map(|(_, v)| *v)
                .filter(|v| v.is_finite())
                .reduce(f64::max)
        });
        let o2_flow_max = match (max_o2, sparge) {
            (Some(y), Some(q)) => Some(o2_flow(q, y)),
            _ => None,
        };
        phases.push(Phase {
            start_h: *t0,
            end_h: t1,
            temperature_c: held.temperature_k.map(|k| k - 273.15),
            ph: held.ph,
            do_pct: held.do_fraction.map(|f| 100.0 * f),
            agitation_rpm: held.agitation_rps.map(|n| 60.0 * n),
            sparge_slpm: sparge,
            max_o2_in_sparge_pct: max_o2,
            max_o2_flow_slpm: o2_flow_max,
            air_flow_at_max_o2_slpm: match (o2_flow_max, sparge) {
                (Some(f), Some(q)) => Some(q - f),
                _ => None,
            },
        });
    }

    let mut fed = vec![false; r.media.len()];
    for e in &r.events {
        if let EventKind::Bolus { medium, .. } = e.kind {
            fed[medium] = true;
        }
    }
    let media_idx: Vec<usize> = (0..r.media.len()).filter(|&i| fed[i]).collect();
    let n_days = (end_h / 24.0).ceil().max(1.0) as usize;
    let at = |v: &Option<Vec<f64>>, t: f64| -> Option<f64> {
        let v = v.as_ref()?;
        // Last recorded value at or before t.
        let i = time.iter().rposition(|x| *x <= t + 1e-9)?;
        v.get(i).copied().filter(|x| x.is_finite())
    };
    let days = (1..=n_days)
        .map(|d| {
            let (t0, t1) = (24.0 * (d - 1) as f64, (24.0 * d as f64).min(end_h));
            let in_day = |t_s: f64| {
                let t = t_s / 3600.0;
                t >= t0 && (t < t1 || (d == n_days && t <= t1))
            };
            let mut feed_l = vec![0.0; media_idx.len()];
            let mut sample_ml = 0.0;
            for e in r.events.iter().filter(|e| in_day(e.time_s)) {
                match e.kind {
                    EventKind::Bolus {
                        medium, volume_m3, ..
                    } => {
                        if let Some(k) = media_idx.iter().position(|&m| m == medium) {
                            feed_l[k] += volume_m3 * r.feed_scale * 1e3;
                        }
                    }
                    EventKind::Sample { volume_m3 } => sample_ml += volume_m3 * 1e6,
                    _ => {}
                }
            }
            let max_o2_flow = o2.as_ref().and_then(|y| {
                time.iter()
                    .zip(y)
                    .filter(|(t, _)| **t >= t0 && **t <= t1)
                    .filter_map(|(t, v)| {
                        // The gas flow held at t (phases above).
                        let q = phases
                            .iter()
                            .rev()
                            .find(|p| p.start_h <= *t)
                            .and_then(|p| p.sparge_slpm)?;
                        Some(o2_flow(q, *v))
                    })
                    .filter(|v| v.is_finite())
                    .reduce(f64::max)
            });
            Day {
                day: d,
                start_h: t0,
                end_h: t1,
                feed_l,
                sample_ml,
                base_l: match (at(&base, t1), at(&base, t0)) {
                    (Some(b1), Some(b0)) => Some(b1 - b0),
                    _ => None,
                },
                volume_end_l: at(&volume, t1),
                max_o2_flow_slpm: max_o2_flow,
            }
        })
        .collect();
    SiteRecipe {
        initial_volume_l: r.initial_volume_m3 * 1e3,
        feed_scale: r.feed_scale,
        media: media_idx.iter().map(|&i| r.media[i].name.clone()).collect(),
        continuous_feeds_l_per_day: r
            .continuous_feeds
            .iter()
            .map(|f| {
                (
                    r.media[f.medium].name.clone(),
                    f.rate_m3_per_s * r.feed_scale * 86400.0 * 1e3,
                )
            })
            .collect(),
        phases,
        days,
    }
}
