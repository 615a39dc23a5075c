//! Extended Kalman filter on the states of a bioreactor model, augmented
//! with slowly varying parameters, with exact handling of lab results that
//! arrive late (out-of-sequence).
//!
//! State `x = [y (model states, SI); θ (adapted parameters, SI)]`.
//! Prediction from t₀ to t₁: `y₁ = Φ(y₀, θ; recipe)` is the model integrated
//! through the recipe (events exact, [`super::plan`]); `θ₁ = θ₀` (constants
//! of the batch: their prior contracts as data inform them; an optional
//! random walk exists for a plant whose parameters drift, off by default).
//! `F = ∂(y₁, θ₁)/∂(y₀, θ₀)` by forward differences: one extra
//! integration per state and per adapted parameter. `P ← F P Fᵀ + Q Δt`,
//! with `Q` only on states a measurement informs ([`Diffusion`]): a state
//! no measurement reaches keeps the spread the prior and the dynamics give
//! it, and the shares of the product (glycoforms, charge variants,
//! aggregates) move with the product, so its model error does not change
//! them.
//! Update: each observation is a scalar `z = c · out_j(y) + v` (an output
//! column of the model times a unit factor), `H` by forward differences of
//! the output function, gated on the squared Mahalanobis distance of the
//! innovation, then the state is projected onto `y ≥ 0`, `θ > 0`.
//!
//! Out-of-sequence: every assimilated observation is kept (sorted by sample
//! time) together with checkpoints of the filter `(time, cursor, x, P)`.
//! A result whose sample time precedes the filter's time rolls the filter
//! back to the latest checkpoint before the sample time and re-filters every
//! kept observation from there in time order. With the same linearisation
//! points this is exactly the filter that would have seen the data in
//! sequence (the test checks it).

use nalgebra::{DMatrix, DVector, SVector};

use super::kalman::{Update, predict_cov, scalar_update};
use super::observe::Observable;
use super::plan::{Ctx, Plan};
use crate::Error;
use crate::Observation;
use biotwin_core::bioreactor::Culture;
use biotwin_core::solver::{Tolerances, WorkStats};

/// Tuning of the filter (the public options, resolved for one model).
#[derive(Debug, Clone)]
pub struct FilterTuning {
    /// Process noise: relative SD of each state per √h.
    pub q_rel_per_sqrt_h: f64,
    /// Random walk of adapted parameters, relative SD per √h.
    pub param_walk_rel_per_sqrt_h: f64,
    /// Which states the process noise acts on, and how.
    pub diffusion: Diffusion,
    /// Gate on the squared Mahalanobis distance of an innovation: an
    /// observation beyond it is rejected as an outlier.
    pub gate2: f64,
    /// Integration tolerances of the filter's predictions and Jacobians.
    pub tolerances: Tolerances,
    /// How far back (s of batch time) a late observation is still assimilated
    /// at its sample time; older ones are counted as `too_late`.
    pub oos_window_s: f64,
    /// Batch time between filter checkpoints, s.
    pub checkpoint_every_s: f64,
}

/// Where the process noise (model error) enters.
///
/// Process noise stands for the model's error in the dynamics that the
/// measurements then correct. On a state no measurement informs it is not
/// corrected by anything, so it would only grow the forecast band with
/// time (a random walk of a glycoform's mass makes the galactosylated
/// fraction wander by ±1 %/√h × 18 ≈ ±18 % relative over 14 days); such
/// states get none.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Diffusion {
    /// Per model state: independent process noise (`q · max(|yᵢ|, floorᵢ)`).
    pub independent: Vec<bool>,
    /// `(product, shares)`: states that are shares of the product (mass of
    /// one glycoform, charge variant, aggregate) take the product's noise
    /// in proportion, `δy_s = ε · y_s` when `δy_P = ε · y_P`, so the
    /// fractions `y_s / y_P` are unchanged by it.
    pub shares: Option<(usize, Vec<usize>)>,
}

#[derive(Debug, Clone)]
struct Checkpoint {
    /// Observations with sample time <= `covers` are included.
    covers: f64,
    t: f64,
    ctx: Ctx,
    x: DVector<f64>,
    p: DMatrix<f64>,
}

#[derive(Debug, Clone)]
struct Logged {
    obs: Observation,
    which: usize,
    rejected: bool,
}

/// Counters for the record.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FilterStats {
    /// Observations taken (including outliers and out-of-sequence ones).
    pub assimilated: u64,
    /// Observations rejected by the innovation gate.
    pub rejected_outliers: u64,
    /// Observations taken out of sequence (the filter rolled back and
    /// re-filtered).
    pub out_of_sequence: u64,
    /// Late observations older than every kept checkpoint: not used.
    pub too_late: u64,
}

/// Extended Kalman filter of model family `M` (`N` states) augmented with
/// adapted parameters, with exact out-of-sequence updates (module docs).
pub struct Filter<const N: usize, M: Culture<N>> {
    /// The recipe compiled for the model family.
    pub plan: Plan<N, M>,
    /// The variables the filter can observe (indices given to `assimilate`).
    pub obs: Vec<Observable>,
    /// Every parameter of the model, SI; adapted ones overwritten from `x`.
    pub base_params: Vec<f64>,
    /// Indices (into `base_params`) of the adapted parameters.
    pub adapt: Vec<usize>,
    /// Process-noise floors per state (a fraction of each state's scale).
    floors: SVector<f64, N>,
    /// Noise, gate and tolerance settings.
    pub tune: FilterTuning,
    /// Filter time, s since the batch start.
    pub t: f64,
    /// Recipe position at `t` (events before it applied).
    pub ctx: Ctx,
    /// State mean `[y (model states, SI); θ (adapted parameters, SI)]`.
    pub x: DVector<f64>,
    /// State covariance (SI, `dim() × dim()`).
    pub p: DMatrix<f64>,
    /// Time of the latest observation assimilated (−∞ before any).
    covers: f64,
    checkpoints: Vec<Checkpoint>,
    log: Vec<Logged>,
    pruned_rejections: u64,
    /// Counters of the observations taken.
    pub stats: FilterStats,
    // Reused buffers.
    params: Vec<f64>,
    f: DMatrix<f64>,
    work: DMatrix<f64>,
    row: Vec<f64>,
    /// Integration work of the filter (right-hand-side evaluations, steps,
    /// segments).
    pub work_stats: WorkStats,
}

impl<const N: usize, M: Culture<N>> Filter<N, M> {
    /// A filter at batch time 0 with mean `x0` and covariance `p0` (length
    /// `N + adapt.len()`). Errors when the model cannot be built for the
    /// recipe's start.
    pub fn new(
        plan: Plan<N, M>,
        obs: Vec<Observable>,
        base_params: Vec<f64>,
        adapt: Vec<usize>,
        x0: DVector<f64>,
        p0: DMatrix<f64>,
        tune: FilterTuning,
    ) -> Result<Self, Error> {
        let d = N + adapt.len();
        let ctx = plan.start();
        let m = plan.model(&base_params, &ctx, 0.0)?;
        let floors = m.scales() * 1e-3;
        let mut f = Filter {
            plan,
            obs,
            params: base_params.clone(),
            base_params,
            adapt,
            floors,
            tune,
            t: 0.0,
            ctx,
            x: x0,
            p: p0,
            covers: f64::NEG_INFINITY,
            checkpoints: Vec::new(),
            log: Vec::new(),
            pruned_rejections: 0,
            stats: FilterStats::default(),
            f: DMatrix::zeros(d, d),
            work: DMatrix::zeros(d, d),
            row: Vec::new(),
            work_stats: WorkStats::default(),
        };
        f.checkpoint();
        Ok(f)
    }

    /// Dimension of the augmented state: `N` plus the adapted parameters.
    pub fn dim(&self) -> usize {
        self.x.len()
    }

    /// Model states of `x`.
    pub fn states(x: &DVector<f64>) -> SVector<f64, N> {
        SVector::from_fn(|i, _| x[i])
    }

    /// Writes the parameters of `x` into `buf` (a copy of `base_params`).
    pub fn params_of(&self, x: &DVector<f64>, buf: &mut Vec<f64>) {
        buf.clear();
        buf.extend_from_slice(&self.base_params);
        for (k, &j) in self.adapt.iter().enumerate() {
            buf[j] = x[N + k];
        }
    }

    fn checkpoint(&mut self) {
        self.checkpoints.push(Checkpoint {
            covers: self.covers,
            t: self.t,
            ctx: self.ctx,
            x: self.x.clone(),
            p: self.p.clone(),
        });
    }

    /// Takes one observation of known variable `which` (index into `obs`).
    pub fn assimilate(&mut self, o: &Observation, which: usize) -> Result<bool, Error> {
        if o.time_s < self.covers {
            return self.out_of_sequence(o, which);
        }
        let rejected = self.step(o, which)?;
        self.log.push(Logged {
            obs: o.clone(),
            which,
            rejected,
        });
        self.stats.assimilated += 1;
        if rejected {
            self.stats.rejected_outliers += 1;
        }
        self.maybe_checkpoint();
        Ok(true)
    }

    fn maybe_checkpoint(&mut self) {
        let last = self
            .checkpoints
            .last()
            .map_or(f64::NEG_INFINITY, |c| c.covers);
        if self.covers - last >= self.tune.checkpoint_every_s {
            self.checkpoint();
            self.prune();
        }
    }

    /// Forgets what is older than the out-of-sequence window, keeping one
    /// checkpoint at or before its start as the base to re-filter from.
    fn prune(&mut self) {
        let horizon = self.covers - self.tune.oos_window_s;
        let keep_from = self
            .checkpoints
            .iter()
            .rposition(|c| c.covers <= horizon)
            .unwrap_or(0);
        if keep_from > 0 {
            self.checkpoints.drain(..keep_from);
        }
        let base = self.checkpoints[0].covers;
        let n_old = self.log.partition_point(|l| l.obs.time_s <= base);
        self.pruned_rejections += self.log[..n_old].iter().filter(|l| l.rejected).count() as u64;
        self.log.drain(..n_old);
    }

    fn out_of_sequence(&mut self, o: &Observation, which: usize) -> Result<bool, Error> {
        // The latest checkpoint that does not yet include time o.time_s.
        let Some(k) = self.checkpoints.iter().rposition(|c| c.covers < o.time_s) else {
            self.stats.too_late += 1;
            return Ok(false);
        };
        self.stats.out_of_sequence += 1;
        self.stats.assimilated += 1;
        let pos = self.log.partition_point(|l| l.obs.time_s <= o.time_s);
        self.log.insert(
            pos,
            Logged {
                obs: o.clone(),
                which,
                rejected: false,
            },
        );
        self.checkpoints.truncate(k + 1);
        let c = self.checkpoints[k].clone();
        self.t = c.t;
        self.ctx = c.ctx;
        self.x = c.x;
        self.p = c.p;
        self.covers = c.covers;
        let from = self.log.partition_point(|l| l.obs.time_s <= c.covers);
        for idx in from..self.log.len() {
            let (obs, w) = (self.log[idx].obs.clone(), self.log[idx].which);
            let rejected = self.step(&obs, w)?;
            self.log[idx].rejected = rejected;
            let last = self
                .checkpoints
                .last()
                .map_or(f64::NEG_INFINITY, |c| c.covers);
            if self.covers - last >= self.tune.checkpoint_every_s {
                self.checkpoint();
            }
        }
        self.stats.rejected_outliers =
            self.pruned_rejections + self.log.iter().filter(|l| l.rejected).count() as u64;
        Ok(true)
    }

    /// Propagates to the observation's time and updates; returns whether
    /// the gate rejected it.
    fn step(&mut self, o: &Observation, which: usize) -> Result<bool, Error> {
        if o.time_s > self.t {
            self.propagate(o.time_s)?;
        }
        self.covers = self.covers.max(o.time_s);
        let ob = self.obs[which].clone();
        if !o.value_si.is_finite() {
            return Ok(true);
        }
        // Observation function and its gradient (states only: no mapped
        // variable depends on an adapted parameter directly).
        let mut buf = std::mem::take(&mut self.params);
        self.params_of(&self.x.clone(), &mut buf);
        let mut model = self.plan.model(&buf, &self.ctx, self.t)?;
        self.params = buf;
        let y = Self::states(&self.x);
        model.begin_segment(&y);
        let h_x = self.output(&model, &y, &ob);
        let mut h = DVector::zeros(self.dim());
        for j in 0..N {
            let d = 1e-6 * y[j].abs().max(self.floors[j]);
            let mut yp = y;
            yp[j] += d;
            h[j] = (self.output(&model, &yp, &ob) - h_x) / d;
        }
        let r = ob.noise.variance(h_x);
        let u = scalar_update(
            &mut self.x,
            &mut self.p,
            &h,
            h_x,
            o.value_si,
            r,
            self.tune.gate2,
        );
        self.project();
        self.check("update")?;
        Ok(matches!(u, Update::Rejected { .. }))
    }

    fn output(&mut self, model: &M, y: &SVector<f64, N>, ob: &Observable) -> f64 {
        model.outputs(self.t, y, &mut self.row);
        self.row[ob.column] * ob.factor
    }

    /// Non-negative states; parameters that are positive in the model
    /// stay positive (a carried parameter of either sign, such as a logit
    /// slope, is left as estimated).
    fn project(&mut self) {
        for i in 0..N {
            if self.x[i] < 0.0 {
                self.x[i] = 0.0;
            }
        }
        for (k, &j) in self.adapt.iter().enumerate() {
            if self.base_params[j] <= 0.0 {
                continue;
            }
            let floor = 1e-3 * self.base_params[j];
            if self.x[N + k] < floor {
                self.x[N + k] = floor;
            }
        }
    }

    fn check(&self, what: &str) -> Result<(), Error> {
        if self.x.iter().all(|v| v.is_finite()) && self.p.iter().all(|v| v.is_finite()) {
            Ok(())
        } else {
            Err(Error::Numerical {
                time_h: self.t / 3600.0,
                message: format!("state estimate not finite after the {what} step"),
                state: format!("{:?}", self.x.as_slice()),
            })
        }
    }

    /// EKF prediction to `t1`.
    pub fn propagate(&mut self, t1: f64) -> Result<(), Error> {
        let t0 = self.t;
        let tol = self.tune.tolerances;
        let np = self.adapt.len();
        let mut buf = std::mem::take(&mut self.params);
        self.params_of(&self.x.clone(), &mut buf);
        let model0 = self.plan.model(&buf, &self.ctx, t0)?;
        let y0 = Self::states(&self.x);
        let run = |this: &mut Self,
                   model: &M,
                   y: SVector<f64, N>|
         -> Result<(SVector<f64, N>, Ctx), Error> {
            let mut m = model.clone();
            let mut ctx = this.ctx;
            let mut y = y;
            this.plan
                .advance(&mut m, &mut ctx, t0, &mut y, t1, &tol, &mut this.work_stats)?;
            Ok((y, ctx))
        };
        let (y1, ctx1) = run(self, &model0, y0)?;
        self.f.fill(0.0);
        for j in 0..N {
            let d = 1e-6 * y0[j].abs().max(self.floors[j]);
            let mut yp = y0;
            yp[j] += d;
            let (yj, _) = run(self, &model0, yp)?;
            for i in 0..N {
                self.f[(i, j)] = (yj[i] - y1[i]) / d;
            }
        }
        for k in 0..np {
            let j = self.adapt[k];
            let d = 1e-6 * buf[j].abs().max(1e-300);
            let saved = buf[j];
            buf[j] = saved + d;
            let mk = self.plan.model(&buf, &self.ctx, t0)?;
            buf[j] = saved;
            let (yk, _) = run(self, &mk, y0)?;
            for i in 0..N {
                self.f[(i, N + k)] = (yk[i] - y1[i]) / d;
            }
            self.f[(N + k, N + k)] = 1.0;
        }
        self.params = buf;
        // Process noise over the interval.
        let dt_h = (t1 - t0) / 3600.0;
        let mut q = DVector::zeros(self.dim());
        let qr = self.tune.q_rel_per_sqrt_h;
        let share_of = |i: usize| {
            self.tune
                .diffusion
                .shares
                .as_ref()
                .is_some_and(|(p, s)| *p == i || s.contains(&i))
        };
        for i in 0..N {
            if self
                .tune
                .diffusion
                .independent
                .get(i)
                .copied()
                .unwrap_or(false)
                && !share_of(i)
            {
                let s = qr * y1[i].abs().max(self.floors[i]);
                q[i] = s * s * dt_h;
            }
        }
        for k in 0..np {
            let s = self.tune.param_walk_rel_per_sqrt_h * self.x[N + k].abs();
            q[N + k] = s * s * dt_h;
        }
        predict_cov(&mut self.p, &self.f, &q, &mut self.work);
        // The product and its shares: one noise, in proportion (rank one).
        if let Some((ip, shares)) = &self.tune.diffusion.shares {
            let scale = y1[*ip].abs().max(self.floors[*ip]);
            let rel = |i: usize| if i == *ip { scale } else { y1[i].abs() };
            let idx: Vec<usize> = std::iter::once(*ip).chain(shares.iter().copied()).collect();
            for &a in &idx {
                for &b in &idx {
                    self.p[(a, b)] += qr * qr * dt_h * rel(a) * rel(b);
                }
            }
        }
        for i in 0..N {
            self.x[i] = y1[i];
        }
        self.t = t1;
        self.ctx = ctx1;
        self.project();
        self.check("prediction")
    }
}
