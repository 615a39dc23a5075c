//! The recipe as seen from the middle of a batch: which events are done,
//! which set-points and continuous feeds are in force, and how to carry a
//! state (with any parameter values) from one time to a later one.
//!
//! Events are applied by the crate's one implementation,
//! [`biotwin_core::bioreactor::events`], as in [`biotwin_core::bioreactor::simulate::run`]:
//! smooth segments integrated with the crate's solver, bolus feeds, samples,
//! set-point shifts and feed switches applied exactly at their times. The
//! state "at time t" is the state *before* the events stamped t (a sample
//! drawn at t sees the broth before the feed given at t), so a cursor
//! ([`Ctx`]) carries the index of the first event not yet applied.

use std::sync::Arc;

use nalgebra::SVector;

use crate::Error;
use biotwin_core::bioreactor::events::{Cursor, EventError, Feeding};
use biotwin_core::bioreactor::{Culture, NotReady};
use biotwin_core::definition::recipe::Recipe;
use biotwin_core::solver::{Method, Tolerances, WorkStats, integrate_segment};

/// Builds a model of the family from SI parameters (in the family's order).
pub type Builder<M> = Arc<dyn Fn(&[f64]) -> M + Send + Sync>;

/// Position in the recipe: the events before `i` have been applied (the
/// cursor of the one event implementation, [`biotwin_core::bioreactor::events`]).
pub type Ctx = Cursor;

/// A recipe compiled for one model family.
pub struct Plan<const N: usize, M: Culture<N>> {
    /// The recipe (SI).
    pub recipe: Recipe,
    feeding: Feeding<N>,
    build: Builder<M>,
    /// Integration method of the segments between events.
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
    /// Compiles `recipe` for the model `build(params)`. Errors
    /// ([`EventError`]): the model is not ready for the recipe's set-points,
    /// or the recipe has more continuous feeds than a cursor holds.
    pub fn new(
        recipe: Recipe,
        build: Builder<M>,
        params: &[f64],
        method: Method,
    ) -> Result<Self, EventError> {
        let m = build(params);
        let feeding = Feeding::new(&m, &recipe)?;
        Ok(Plan {
            feeding,
            recipe,
            build,
            method,
        })
    }

    /// The recipe's initial state, with the parameters `params`.
    pub fn initial_state(&self, params: &[f64]) -> Result<SVector<f64, N>, NotReady> {
        (self.build)(params).initial_state(&self.recipe.initial, self.recipe.initial_volume_m3)
    }

    /// The position before the recipe's first event (batch time 0).
    pub fn start(&self) -> Ctx {
        Cursor::start(&self.recipe)
    }

    /// A model with `params`, configured for the recipe position `ctx`.
    /// The initial set-points are applied first: some models fix baselines
    /// (the platform model's bicarbonate) at the first set-points they see.
    pub fn model(&self, params: &[f64], ctx: &Ctx, t_s: f64) -> Result<M, Error> {
        let mut m = (self.build)(params);
        m.set_setpoints(&self.recipe.setpoints)
            .map_err(|e| numerical(t_s, e.to_string()))?;
        m.set_setpoints(&ctx.setpoints)
            .map_err(|e| numerical(t_s, e.to_string()))?;
        let (rate, mix) = self.inflow(ctx.feed_on);
        m.set_inflow(rate, &mix);
        Ok(m)
    }

    fn inflow(&self, feed_on: u64) -> (f64, SVector<f64, N>) {
        self.feeding.inflow(&self.recipe, feed_on)
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
                inflow_changed |= self
                    .feeding
                    .apply(&self.recipe, &e.kind, model, ctx, y, None)
                    .map_err(|e| numerical(t, e.to_string()))?;
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
}
