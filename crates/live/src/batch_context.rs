//! What the batch view needs besides the data: the batch's recipe actions
//! (bolus feeds, continuous feed start and stop, set-point shifts) as
//! labelled markers, and the historian tags the batch was read through
//! (variable, unit, conversion to SI, online or lab), recorded once when the
//! batch starts, in its `batch.started` audit entry under `plan`.
//!
//! Recorded rather than looked up later, so that the page shows what the
//! batch ran with even after the site or process file changed, and under the
//! audit trail's hash chain. Additive: the entry's other fields are as
//! before, and a batch started before this was recorded has no `plan`
//! (its charts say so and show the data without markers).

use serde::{Deserialize, Serialize};

use crate::AuditEntry;
use crate::config::TagConfig;
use biotwin_core::definition::recipe::{EventKind, Recipe};
use biotwin_core::units::S_PER_H;

/// One recipe action at a batch time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecipeMarker {
    /// Seconds since the batch start.
    pub time_s: f64,
    /// `bolus_feed`, `feed_start`, `feed_stop`, `temperature_shift`,
    /// `ph_shift` or `setpoint_shift` (any other set-point).
    pub kind: String,
    /// What happened, for people: `bolus feed_a 45 mL`,
    /// `temperature set-point 33 °C`.
    pub label: String,
}

/// A historian tag as the batch reads it: `value_si = value × factor +
/// offset` in the variable's SI unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TagRecord {
    /// Historian tag name.
    pub tag: String,
    /// Model variable the tag measures.
    pub variable: String,
    /// Unit the historian writes the tag in.
    pub unit: String,
    /// Factor of the conversion to SI (`value_si = value × factor + offset`).
    pub to_si_factor: f64,
    /// Offset of the conversion to SI, in the variable's SI unit.
    pub to_si_offset: f64,
    /// A lab result (sampled, analysed later) rather than an online signal.
    pub lab: bool,
}

impl TagRecord {
    /// The record of a configured tag.
    pub fn of(t: &TagConfig) -> TagRecord {
        TagRecord {
            tag: t.tag.clone(),
            variable: t.variable.clone(),
            unit: t.unit.clone(),
            to_si_factor: t.to_si.factor,
            to_si_offset: t.to_si.offset,
            lab: t.lab,
        }
    }
}

/// The `plan` of a `batch.started` entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BatchContext {
    /// The recipe's feeds and shifts (empty when the recipe has none, or
    /// when the batch's predictor knows no recipe: see `recipe_known`).
    pub markers: Vec<RecipeMarker>,
    /// Whether the batch's predictor knows its recipe (a surrogate ladder
    /// or the IndPenSim filter does not expose one): without it an empty
    /// `markers` means "not known", not "no feeds". Entries recorded
    /// before this field read as known.
    #[serde(default = "known")]
    pub recipe_known: bool,
    /// The tags of the batch's unit, as the site configuration maps them.
    pub tags: Vec<TagRecord>,
}

fn known() -> bool {
    true
}

impl BatchContext {
    /// The context recorded for `tenant`'s batch `batch_id` (its first
    /// `batch.started` entry with a readable `plan`), if any.
    pub fn recorded(audit: &[AuditEntry], tenant: &str, batch_id: &str) -> Option<BatchContext> {
        audit
            .iter()
            .filter(|e| {
                e.action == "batch.started"
                    && e.tenant.as_deref() == Some(tenant)
                    && e.detail.get("batch").and_then(|v| v.as_str()) == Some(batch_id)
            })
            .find_map(|e| serde_json::from_value(e.detail.get("plan")?.clone()).ok())
    }
}

/// A volume for people: mL below 1 L, else L (3 significant figures).
fn volume(m3: f64) -> String {
    let l = m3 * 1e3;
    if l < 1.0 {
        format!("{} mL", sig3(l * 1e3))
    } else {
        format!("{} L", sig3(l))
    }
}

fn sig3(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let digits = (2 - v.abs().log10().floor() as i32).max(0) as usize;
    format!("{v:.digits$}")
}

/// The recipe's actions as markers, in time order: every bolus addition,
/// every continuous feed's start and stop, and every set-point shift (one
/// marker per changed set-point). Samples are not markers: their results
/// are on the charts.
pub fn markers(recipe: &Recipe) -> Vec<RecipeMarker> {
    let medium = |i: usize| {
        recipe
            .media
            .get(i)
            .map_or_else(|| format!("medium {i}"), |m| m.name.clone())
    };
    let mut out = Vec::new();
    for e in &recipe.events {
        let at = |kind: &str, label: String| RecipeMarker {
            time_s: e.time_s,
            kind: kind.into(),
            label,
        };
        match &e.kind {
            EventKind::Bolus {
                medium: m,
                volume_m3,
                ..
            } => out.push(at(
                "bolus_feed",
                format!(
                    "bolus {} {}",
                    medium(*m),
                    volume(volume_m3 * recipe.feed_scale)
                ),
            )),
            EventKind::FeedOn { feed } | EventKind::FeedOff { feed } => {
                let on = matches!(e.kind, EventKind::FeedOn { .. });
                let label = match recipe.continuous_feeds.get(*feed) {
                    Some(f) if on => format!(
                        "feed start {} {}/h",
                        medium(f.medium),
                        volume(f.rate_m3_per_s * recipe.feed_scale * S_PER_H)
                    ),
                    Some(f) => format!("feed stop {}", medium(f.medium)),
                    None => format!("feed {feed} {}", if on { "start" } else { "stop" }),
                };
                out.push(at(if on { "feed_start" } else { "feed_stop" }, label));
            }
            EventKind::Shift(s) => {
                if let Some(k) = s.temperature_k {
                    out.push(at(
                        "temperature_shift",
                        format!("temperature set-point {} °C", sig3(k - 273.15)),
                    ));
                }
                if let Some(ph) = s.ph {
                    out.push(at("ph_shift", format!("pH set-point {}", sig3(ph))));
                }
                if let Some(d) = s.do_fraction {
                    out.push(at(
                        "setpoint_shift",
                        format!("DO set-point {} % air saturation", sig3(d * 100.0)),
                    ));
                }
                if let Some(r) = s.agitation_rps {
                    out.push(at(
                        "setpoint_shift",
                        format!("agitation set-point {} rpm", sig3(r * 60.0)),
                    ));
                }
                if let Some(g) = s.sparge_slpm {
                    out.push(at(
                        "setpoint_shift",
                        format!("sparge set-point {} slpm", sig3(g)),
                    ));
                }
                if let Some(c) = s.base_concentration_mol_per_m3 {
                    out.push(at(
                        "setpoint_shift",
                        format!("base concentration {} M", sig3(c / 1e3)),
                    ));
                }
            }
            EventKind::Sample { .. } => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use biotwin_core::simulation::{Scenario, load_process};

    fn recipe(process: &str) -> Recipe {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../process-models/processes")
            .join(process);
        let def = load_process(&path).unwrap();
        Scenario::from_definition(&def).unwrap().recipe
    }

    #[test]
    fn the_cho_recipe_gives_its_daily_feeds_supplement_and_temperature_shift() {
        // cho-platform-14d: 3 % of 1.5 L (45 mL) of feed_a daily from 72 h
        // to 312 h (11 additions), 0.5 % (7.5 mL) glyco supplement at 96 h,
        // temperature to 33 °C at 144 h.
        let m = markers(&recipe("cho-platform-3l.toml"));
        let bolus: Vec<_> = m.iter().filter(|m| m.kind == "bolus_feed").collect();
        assert_eq!(bolus.len(), 12, "{m:?}");
        let feed_a: Vec<_> = bolus
            .iter()
            .filter(|b| b.label == "bolus feed_a 45.0 mL")
            .collect();
        assert_eq!(feed_a.len(), 11, "{m:?}");
        assert_eq!(feed_a[0].time_s, 72.0 * 3600.0);
        assert_eq!(feed_a[10].time_s, 312.0 * 3600.0);
        assert!(
            bolus
                .iter()
                .any(|b| b.time_s == 96.0 * 3600.0 && b.label == "bolus glyco_supplement 7.50 mL"),
            "{m:?}"
        );
        let t: Vec<_> = m.iter().filter(|m| m.kind == "temperature_shift").collect();
        assert_eq!(t.len(), 1, "{m:?}");
        assert_eq!(t[0].time_s, 144.0 * 3600.0);
        assert_eq!(t[0].label, "temperature set-point 33.0 °C");
        assert!(m.windows(2).all(|w| w[0].time_s <= w[1].time_s));
    }

    #[test]
    fn a_continuous_feed_gives_its_start_and_stop() {
        // xing2010-nominal: 4.375 L/h of `feed` from 72 h to 336 h.
        let m = markers(&recipe("xing2010-reference.toml"));
        let start: Vec<_> = m.iter().filter(|m| m.kind == "feed_start").collect();
        let stop: Vec<_> = m.iter().filter(|m| m.kind == "feed_stop").collect();
        assert_eq!((start.len(), stop.len()), (1, 1), "{m:?}");
        assert_eq!(start[0].time_s, 72.0 * 3600.0);
        assert_eq!(start[0].label, "feed start feed 4.38 L/h");
        assert_eq!(stop[0].time_s, 336.0 * 3600.0);
    }

    #[test]
    fn the_recorded_context_is_found_by_tenant_and_batch() {
        let ctx = BatchContext {
            markers: vec![RecipeMarker {
                time_s: 3600.0,
                kind: "bolus_feed".into(),
                label: "bolus f 1.00 L".into(),
            }],
            recipe_known: true,
            tags: vec![],
        };
        let entry = |tenant: &str, batch: &str, plan: bool| AuditEntry {
            seq: 0,
            time_unix_s: 0.0,
            actor: "biotwin-live".into(),
            tenant: Some(tenant.into()),
            action: "batch.started".into(),
            detail: if plan {
                serde_json::json!({"batch": batch, "plan": ctx})
            } else {
                serde_json::json!({"batch": batch})
            },
            prev_sha256: String::new(),
            sha256: String::new(),
        };
        let audit = vec![entry("b", "B1", true), entry("a", "B1", false)];
        assert_eq!(BatchContext::recorded(&audit, "a", "B1"), None);
        assert_eq!(BatchContext::recorded(&audit, "b", "B1"), Some(ctx.clone()));
        assert_eq!(BatchContext::recorded(&audit, "b", "B2"), None);
    }
}
