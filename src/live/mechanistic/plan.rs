//! The recipe as seen from the middle of a batch: which events are done,
//! which set-points and continuous feeds are in force, and how to carry a
//! state (with any parameter values) from one time to a later one.
//!
//! Event semantics are those of [`crate::bioreactor::simulate::run`]: smooth
//! segments integrated with the crate's solver, bolus feeds, samples,
//! set-point shifts and feed switches applied exactly at their times. The
//! state "at time t" is the state *before* the events stamped t (a sample
//! drawn at t sees the broth before the feed given at t), so a cursor
//! ([`Ctx`]) carries the index of the first event not yet applied.

use std::sync::Arc;

use nalgebra::SVector;

use crate::bioreactor::{Culture, StateKind};
use crate::definition::recipe::{EventKind, Recipe, Setpoints};
use crate::error::Error;
use crate::solver::{Method, Tolerances, WorkStats, integrate_segment};

/// Builds a model of the family from SI parameters (in the family's order).
pub type Builder<M> = Arc<dyn Fn(&[f64]) -> M + Send + Sync>;

/// Position in the recipe: the events before `i` have been applied.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ctx {
    pub i: usize,
    pub setpoints: Setpoints,
    /// Continuous feeds running (bit k: feed k).
    pub feed_on: u64,
}

/// A recipe compiled for one model family.
pub struct Plan<const N: usize, M: Culture<N>> {
    pub recipe: Recipe,
    media: Vec<SVector<f64, N>>,
    kinds: [StateKind; N],
    vi: usize,
    build: Builder<M>,
    pub method: Method,
}

fn numerical(t_s: f64, message: String) -> Error {
    Error::Numerical {
        time_h: t_s / 3600.0,
        message,
        state: String::new(),
    }
}

impl<const N: usize, M: Culture<N>> Plan<N, M> {
    pub fn new(
        recipe: Recipe,
        build: Builder<M>,
        params: &[f64],
        method: Method,
    ) -> Result<Self, String> {
        if recipe.continuous_feeds.len() > 64 {
            return Err(format!(
                "at most 64 continuous feeds (the live filter keeps them in a bit set), found {}",
                recipe.continuous_feeds.len()
            ));
        }
        let m = build(params);
        let media = recipe
            .media
            .iter()
            .map(|x| m.medium_vector(&x.composition))
            .collect();
        Ok(Plan {
            kinds: m.kinds(),
            vi: m.volume_index(),
            media,
            recipe,
            build,
            method,
        })
    }

    /// The recipe's initial state, with the parameters `params`.
    pub fn initial_state(&self, params: &[f64]) -> Result<SVector<f64, N>, String> {
        (self.build)(params).initial_state(&self.recipe.initial, self.recipe.initial_volume_m3)
    }

    pub fn start(&self) -> Ctx {
        Ctx {
            i: 0,
            setpoints: self.recipe.setpoints,
            feed_on: 0,
        }
    }

    /// A model with `params`, configured for the recipe position `ctx`.
    /// The initial set-points are applied first: some models fix baselines
    /// (the platform model's bicarbonate) at the first set-points they see.
    pub fn model(&self, params: &[f64], ctx: &Ctx, t_s: f64) -> Result<M, Error> {
        let mut m = (self.build)(params);
        m.set_setpoints(&self.recipe.setpoints)
            .map_err(|e| numerical(t_s, format!("missing {e}")))?;
        m.set_setpoints(&ctx.setpoints)
            .map_err(|e| numerical(t_s, format!("missing {e}")))?;
        let (rate, mix) = self.inflow(ctx.feed_on);
        m.set_inflow(rate, &mix);
        Ok(m)
    }

    fn inflow(&self, feed_on: u64) -> (f64, SVector<f64, N>) {
        let mut rate = 0.0;
        let mut mix = SVector::<f64, N>::zeros();
        for (k, f) in self.recipe.continuous_feeds.iter().enumerate() {
            if feed_on & (1 << k) != 0 {
                let r = f.rate_m3_per_s * self.recipe.feed_scale;
                rate += r;
                mix += self.media[f.medium] * r;
            }
        }
        if rate > 0.0 {
            mix /= rate;
        }
        (rate, mix)
    }

    /// Carries `y` from `t0` to `t1` (`model` and `ctx` must describe the
    /// position at `t0`; both are advanced). Events stamped in `[t0, t1)`
    /// are applied; those stamped `t1` stay pending.
    #[allow(clippy::too_many_arguments)]
    pub fn advance(
        &self,
        model: &mut M,
        ctx: &mut Ctx,
        t0: f64,
        y: &mut SVector<f64, N>,
        t1: f64,
        tol: &Tolerances,
        stats: &mut WorkStats,
    ) -> Result<(), Error> {
        let events = &self.recipe.events;
        let mut t = t0;
        let mut step = 0.0;
        loop {
            let mut inflow_changed = false;
            while let Some(e) = events.get(ctx.i).filter(|e| e.time_s <= t && e.time_s < t1) {
                self.apply(&e.kind, model, ctx, y, t, &mut inflow_changed)?;
                ctx.i += 1;
            }
            if inflow_changed {
                let (rate, mix) = self.inflow(ctx.feed_on);
                model.set_inflow(rate, &mix);
            }
            if t >= t1 {
                return Ok(());
            }
            let t_next = events.get(ctx.i).map_or(t1, |e| e.time_s.min(t1));
            model.begin_segment(y);
            *y = integrate_segment(
                model,
                self.method,
                tol,
                t,
                t_next,
                y,
                &[],
                None,
                stats,
                &mut step,
            )?;
            t = t_next;
        }
    }

    fn apply(
        &self,
        kind: &EventKind,
        model: &mut M,
        ctx: &mut Ctx,
        y: &mut SVector<f64, N>,
        t: f64,
        inflow_changed: &mut bool,
    ) -> Result<(), Error> {
        let vi = self.vi;
        match kind {
            EventKind::Bolus {
                medium, volume_m3, ..
            } => {
                let add = volume_m3 * self.recipe.feed_scale;
                let v = y[vi];
                let f = &self.media[*medium];
                for k in 0..N {
                    if self.kinds[k] == StateKind::Concentration {
                        y[k] = (y[k] * v + f[k] * add) / (v + add);
                    }
                }
                y[vi] = v + add;
            }
            EventKind::Sample { volume_m3 } => {
                if *volume_m3 >= y[vi] {
                    return Err(numerical(
                        t,
                        format!(
                            "sample of {} L exceeds the estimated broth volume {} L",
                            volume_m3 * 1e3,
                            y[vi] * 1e3
                        ),
                    ));
                }
                y[vi] -= volume_m3;
            }
            EventKind::Shift(sp) => {
                ctx.setpoints.apply(sp);
                model
                    .set_setpoints(&ctx.setpoints)
                    .map_err(|e| numerical(t, format!("missing {e}")))?;
            }
            EventKind::FeedOn { feed } => {
                ctx.feed_on |= 1 << feed;
                *inflow_changed = true;
            }
            EventKind::FeedOff { feed } => {
                ctx.feed_on &= !(1u64 << feed);
                *inflow_changed = true;
            }
        }
        Ok(())
    }
}
