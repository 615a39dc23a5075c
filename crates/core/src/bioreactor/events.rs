//! The recipe's discrete actions applied to a running culture: bolus
//! feeds, samples, set-point shifts and continuous-feed switches, exactly at
//! their times. The one implementation behind a whole batch
//! ([`super::simulate::run`]) and the live filter's stepwise advance
//! (`live::mechanistic::plan`).
//!
//! Semantics: a bolus mixes `volume × feeds.scale` of its medium into the
//! broth (concentration states mix by volume, the volume grows); a sample
//! removes volume at the broth's composition; a shift applies its set-points
//! on top of those in force; a feed switch changes the continuous inflow,
//! whose rate is the sum of the running feeds' rates × `feeds.scale` and
//! whose composition is their rate-weighted mix.

use nalgebra::SVector;

use super::simulate::Ledger;
use super::{Culture, NotReady, StateKind};
use crate::definition::recipe::{EventKind, MAX_CONTINUOUS_FEEDS, Recipe, Setpoints};

/// Position in the recipe: the events before `i` have been applied.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cursor {
    /// Index of the next recipe event to apply (into `Recipe::events`).
    pub i: usize,
    /// Set-points in force at this position.
    pub setpoints: Setpoints,
    /// Continuous feeds running (bit k: feed k).
    pub feed_on: u64,
}

impl Cursor {
    /// The position before the first event: the recipe's initial set-points, no continuous feed running.
    pub fn start(recipe: &Recipe) -> Cursor {
        Cursor {
            i: 0,
            setpoints: recipe.setpoints,
            feed_on: 0,
        }
    }
}

/// A recipe's media and the model's state layout, compiled once per model.
/// Why a recipe event cannot be applied.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EventError {
    /// A set-point change leaves the model without what it needs.
    #[error(transparent)]
    NotReady(#[from] NotReady),
    /// More continuous feeds than a cursor's bit set holds.
    #[error("at most {max} continuous feeds, found {found}")]
    TooManyFeeds {
        /// The most a recipe may have.
        max: usize,
        /// How many this recipe has.
        found: usize,
    },
    /// A sample would take the whole broth (or more).
    #[error("sample of {sample_l} L exceeds the broth volume {volume_l} L")]
    SampleExceedsVolume {
        /// The sample's volume, L.
        sample_l: f64,
        /// The broth volume before the sample, L.
        volume_l: f64,
    },
}

/// A recipe's media as state vectors of one model, with that model's state layout.
#[derive(Debug, Clone)]
pub struct Feeding<const N: usize> {
    /// Each medium's composition as a state vector (SI), in `Recipe::media` order.
    pub media: Vec<SVector<f64, N>>,
    /// How each state component responds to volume changes (feeds, samples).
    pub kinds: [StateKind; N],
    /// Index of the broth volume (m³) in the state vector.
    pub vi: usize,
}

impl<const N: usize> Feeding<N> {
    /// The recipe's media as state vectors of `model`; refuses recipes with
    /// more continuous feeds than a cursor holds (the recipe reader does too).
    pub fn new<M: Culture<N>>(model: &M, recipe: &Recipe) -> Result<Self, EventError> {
        if recipe.continuous_feeds.len() > MAX_CONTINUOUS_FEEDS {
            return Err(EventError::TooManyFeeds {
                max: MAX_CONTINUOUS_FEEDS,
                found: recipe.continuous_feeds.len(),
            });
        }
        Ok(Feeding {
            media: recipe
                .media
                .iter()
                .map(|m| model.medium_vector(&m.composition))
                .collect(),
            kinds: model.kinds(),
            vi: model.volume_index(),
        })
    }

    /// Continuous inflow (m³/s) and its composition with the feeds `feed_on`.
    pub fn inflow(&self, recipe: &Recipe, feed_on: u64) -> (f64, SVector<f64, N>) {
        let mut rate = 0.0;
        let mut mix = SVector::<f64, N>::zeros();
        for (k, f) in recipe.continuous_feeds.iter().enumerate() {
            if feed_on & (1 << k) != 0 {
                let r = f.rate_m3_per_s * recipe.feed_scale;
                rate += r;
                mix += self.media[f.medium] * r;
            }
        }
        if rate > 0.0 {
            mix /= rate;
        }
        (rate, mix)
    }

    /// Applies one event to the state `y` and the model; returns whether
    /// the continuous inflow changed (the caller then sets it once for all
    /// events at that time). Amounts crossing the boundary go to `ledger`.
    /// The error becomes the message of a numerical failure at the event's
    /// time.
    pub fn apply<M: Culture<N>>(
        &self,
        recipe: &Recipe,
        kind: &EventKind,
        model: &mut M,
        cur: &mut Cursor,
        y: &mut SVector<f64, N>,
        mut ledger: Option<&mut Ledger<N>>,
    ) -> Result<bool, EventError> {
        let vi = self.vi;
        match kind {
            EventKind::Bolus {
                medium, volume_m3, ..
            } => {
                let add = volume_m3 * recipe.feed_scale;
                let before = *y;
                let v = y[vi];
                let f = &self.media[*medium];
                for k in 0..N {
                    if self.kinds[k] == StateKind::Concentration {
                        if let Some(l) = ledger.as_deref_mut() {
                            l.fed[k] += f[k] * add;
                        }
                        y[k] = (y[k] * v + f[k] * add) / (v + add);
                    }
                }
                if let Some(l) = ledger.as_deref_mut() {
                    l.fed[vi] += add;
                }
                y[vi] = v + add;
                model.after_bolus(&before, y);
                Ok(false)
            }
            EventKind::Sample { volume_m3 } => {
                if *volume_m3 >= y[vi] {
                    return Err(EventError::SampleExceedsVolume {
                        sample_l: volume_m3 * 1e3,
                        volume_l: y[vi] * 1e3,
                    });
                }
                if let Some(l) = ledger.as_deref_mut() {
                    for k in 0..N {
                        if self.kinds[k] == StateKind::Concentration {
                            l.sampled[k] += y[k] * volume_m3;
                        }
                    }
                    l.sampled[vi] += volume_m3;
                }
                y[vi] -= volume_m3;
                Ok(false)
            }
            EventKind::Shift(sp) => {
                cur.setpoints.apply(sp);
                model.set_setpoints(&cur.setpoints)?;
                Ok(false)
            }
            EventKind::FeedOn { feed } => {
                cur.feed_on |= 1 << feed;
                Ok(true)
            }
            EventKind::FeedOff { feed } => {
                cur.feed_on &= !(1u64 << feed);
                Ok(true)
            }
        }
    }
}
