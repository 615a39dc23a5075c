//! Serial hybrid model: mechanistic fed-batch mass balances whose specific
//! rates come from a trainable rate model, fitted to whole measured
//! trajectories through the ODE solution with forward sensitivities.
//!
//! * **Mass balances** (state y = Xv, Xd, Glc, Gln, Lac, Amm, mAb, V in SI,
//!   as `bioreactor::xing2010`; D = F/V):
//!   dXv/dt = (μ − μ_d) Xv − D Xv, dXd/dt = μ_d Xv − D Xd,
//!   dGlc/dt = −q_glc Xv + D (Glc_in − Glc),
//!   dGln/dt = −q_gln Xv − k_dgln Gln + D (Gln_in − Gln),
//!   dLac/dt = q_lac Xv − D Lac, dAmm/dt = q_amm Xv + k_dgln Gln − D Amm,
//!   dmAb/dt = q_p Xv − D mAb, dV/dt = F. Bolus feeds, sampling and feed
//!   switches are applied by the same event-driven simulator
//!   (`bioreactor::simulate::run`) as every other culture model.
//! * **Rate model** ([`rates`]): Monod-type kinetic features with
//!   parameters p (μ_max, K's, inhibition constants, yields, q_p, …), in
//!   the order of `xing2010::PARAMS`. Which parameters are learned is
//!   configured by name ([`SerialHybridParams::learned`]); the others stay
//!   at their given values. Learned parameters are trained in log space,
//!   θ = ln p, so they stay positive.
//! * **Training**: weighted least squares on measured trajectories,
//!   Φ(θ) = ½ mean_i r_i² + ½ λ ‖θ − θ₀‖² with r = (y_model − y_obs)/w_k
//!   (w_k: RMS of variable k over the training data). The Jacobian
//!   ∂r/∂θ_j = S_j/w_k comes from the forward sensitivity equations
//!   dS_j/dt = ∂f/∂y S_j + ∂f/∂θ_j, S_j(0) = 0, integrated together with y
//!   by the same solver and event handling (the augmented system
//!   [`SensitivityCultureN`] is itself a `Culture`: sensitivities of
//!   concentrations are diluted by feeds like concentrations, and the
//!   volume does not depend on θ). The right-hand side of the sensitivity
//!   equation is computed exactly by forward-mode dual numbers carrying up
//!   to 8 directions in one run ([`run_with_sensitivities`]).
//!   Levenberg–Marquardt steps; early stopping on whole validation
//!   batches (the θ with the lowest validation error is kept).

use std::cell::Cell;
use std::time::Instant;

use nalgebra::{DMatrix, DVector, SVector};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::dual::Scalar;
use super::rate_net::{RateNet, RateNetSpec};
use crate::surrogates::{Fit, SurrogateError};
use biotwin_core::bioreactor::simulate::{RunOptions, output_times, run, run_observed_at};
use biotwin_core::bioreactor::xing2010::{self, PARAMS};
use biotwin_core::bioreactor::{Culture, NotReady, StateKind};
use biotwin_core::definition::recipe::{Recipe, Setpoints};
use biotwin_core::definition::species::{Composition, Species};
use biotwin_core::fit::dual::DualN;
use biotwin_core::fit::lm::{
    Control, LeastSquares, Linearisation, LmOptions, StepLimit, levenberg_marquardt,
};
use biotwin_core::solver::{Method, OdeSystem, SolverFailure, Tolerances};

/// Number of states of the mass balances.
pub const NS: usize = 8;
/// Number of rate-model parameters (`xing2010::PARAMS`).
pub const NP: usize = 18;
/// Measured states (all but the volume), in state order.
pub const NM: usize = 7;
/// Names of the measured states, in state order.
pub const MEASURED_NAMES: [&str; NM] = ["Xv", "Xd", "Glc", "Gln", "Lac", "Amm", "mAb"];

const XV: usize = 0;
const XD: usize = 1;
const GLC: usize = 2;
const GLN: usize = 3;
const LAC: usize = 4;
const AMM: usize = 5;
const MAB: usize = 6;
const V: usize = 7;
const SCALES: [f64; NS] = [1e12, 1e12, 10.0, 10.0, 10.0, 10.0, 1.0, 1.0];
const STATE_NAMES: [&str; NS] = ["Xv", "Xd", "Glc", "Gln", "Lac", "Amm", "mAb", "V"];
const SENS_NAMES: [&str; 2 * NS] = [
    "Xv", "Xd", "Glc", "Gln", "Lac", "Amm", "mAb", "V", "dXv", "dXd", "dGlc", "dGln", "dLac",
    "dAmm", "dmAb", "dV",
];
const OUT_COLUMNS: [&str; NS + 1] = ["time_s", "Xv", "Xd", "Glc", "Gln", "Lac", "Amm", "mAb", "V"];

pub use biotwin_core::bioreactor::xing2010::Rates;

/// The Monod-type rate model (`xing2010::rates`): specific rates from states
/// and parameters.
#[inline]
pub fn rates<T: Scalar>(p: &[T; NP], y: &[T; NS]) -> Rates<T> {
    xing2010::rates(p, y, None)
}

/// Rate corrections of the network at state `y` (none without one).
#[inline]
fn factors<T: Scalar>(
    net: Option<&RateNet>,
    y: &[T; NS],
    tangent: Option<usize>,
) -> Option<[T; 7]> {
    net.map(|n| {
        n.factors(
            [y[GLC].pos(), y[GLN].pos(), y[LAC].pos(), y[AMM].pos()],
            tangent,
        )
    })
}

/// The xing2010 mass balances with rates corrected by the network (`net`:
/// the rate network, `tangent`: its weight carrying a unit tangent).
#[inline]
fn balances<T: Scalar>(
    p: &[T; NP],
    y: &[T; NS],
    feed_rate: f64,
    feed: &[f64; NS],
    net: Option<&RateNet>,
    tangent: Option<usize>,
) -> [T; NS] {
    let r = xing2010::rates(p, y, factors(net, y, tangent).as_ref());
    xing2010::balances(p, y, &r, feed_rate, feed)
}

fn initial_state(c: &Composition, volume_m3: f64) -> Result<[f64; NS], NotReady> {
    let need = |s: Species| c.get(s).ok_or(NotReady::MissingInitial(s));
    let xv = need(Species::ViableCells)?;
    let xd = match (c.get(Species::DeadCells), c.get(Species::Viability)) {
        (Some(xd), _) => xd,
        (None, Some(v)) if v > 0.0 => xv * (1.0 - v) / v,
        _ => 0.0,
    };
    Ok([
        xv,
        xd,
        need(Species::Glucose)?,
        need(Species::Glutamine)?,
        c.get_or_zero(Species::Lactate),
        c.get_or_zero(Species::Ammonium),
        c.get_or_zero(Species::Product),
        volume_m3,
    ])
}

fn medium(m: &Composition) -> [f64; NS] {
    let mut f = [0.0; NS];
    f[GLC] = m.get_or_zero(Species::Glucose);
    f[GLN] = m.get_or_zero(Species::Glutamine);
    f[LAC] = m.get_or_zero(Species::Lactate);
    f[AMM] = m.get_or_zero(Species::Ammonium);
    f[MAB] = m.get_or_zero(Species::Product);
    f
}

fn quality(y: &[f64]) -> Vec<(&'static str, f64)> {
    vec![
        ("titer_g_per_l", y[MAB]),
        ("viability_pct", 100.0 * y[XV] / (y[XV] + y[XD])),
        ("ammonium_mm", y[AMM]),
        ("lactate_mm", y[LAC]),
    ]
}

/// The hybrid model as a culture the simulator can run.
#[derive(Debug, Clone, PartialEq)]
pub struct HybridCulture {
    /// Rate-model parameters, SI (`xing2010::PARAMS` order).
    pub params_si: [f64; NP],
    /// Rate network, if the rates are corrected.
    pub net: Option<RateNet>,
    feed_rate: f64,
    feed: [f64; NS],
    scales: SVector<f64, NS>,
}

impl HybridCulture {
    /// A culture with `params_si`, no rate network, state scales set for a
    /// start volume of `v0_m3` (m³).
    pub fn new(params_si: [f64; NP], v0_m3: f64) -> HybridCulture {
        let mut scales = SVector::from(SCALES);
        scales[V] = v0_m3.max(1e-9);
        HybridCulture {
            params_si,
            net: None,
            feed_rate: 0.0,
            feed: [0.0; NS],
            scales,
        }
    }
}

impl OdeSystem<NS> for HybridCulture {
    #[inline]
    fn rhs(&self, _t: f64, y: &SVector<f64, NS>, dy: &mut SVector<f64, NS>) {
        let yy: [f64; NS] = (*y).into();
        let d = balances(
            &self.params_si,
            &yy,
            self.feed_rate,
            &self.feed,
            self.net.as_ref(),
            None,
        );
        dy.copy_from_slice(&d);
    }
    fn scales(&self) -> SVector<f64, NS> {
        self.scales
    }
    fn non_negative(&self) -> [bool; NS] {
        [true; NS]
    }
    fn state_names(&self) -> [&'static str; NS] {
        STATE_NAMES
    }
}

impl Culture<NS> for HybridCulture {
    fn kinds(&self) -> [StateKind; NS] {
        let mut k = [StateKind::Concentration; NS];
        k[V] = StateKind::Volume;
        k
    }
    fn volume_index(&self) -> usize {
        V
    }
    fn initial_state(&self, c: &Composition, v: f64) -> Result<SVector<f64, NS>, NotReady> {
        initial_state(c, v).map(SVector::from)
    }
    fn medium_vector(&self, m: &Composition) -> SVector<f64, NS> {
        SVector::from(medium(m))
    }
    fn set_inflow(&mut self, rate: f64, composition: &SVector<f64, NS>) {
        self.feed_rate = rate;
        self.feed = (*composition).into();
    }
    fn set_setpoints(&mut self, _sp: &Setpoints) -> Result<(), NotReady> {
        Ok(())
    }
    fn output_columns(&self) -> Vec<&'static str> {
        OUT_COLUMNS.to_vec()
    }
    fn outputs(&self, t_s: f64, y: &SVector<f64, NS>, row: &mut Vec<f64>) {
        row.clear();
        row.push(t_s);
        row.extend_from_slice(y.as_slice());
    }
    fn quality(&self, y: &SVector<f64, NS>) -> Vec<(&'static str, f64)> {
        quality(y.as_slice())
    }
}

/// A direction of a forward sensitivity: θ = ln p_j of a rate-model
/// parameter, or θ = w of one weight of the rate network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// θ = ln p_j (j < NP).
    LnParam(usize),
    /// θ = w_i, the network's weight i.
    Weight(usize),
}

/// Which states carry tangents, in slot order, for each supported number
/// of carried states `S` (see [`SensitivityCultureN`]).
///
/// * S = 7: every state but V, in state order;
/// * S = 6: all but V and Xd (no rate reads Xd);
/// * S = 5: the states some rate reads (Xv, Glc, Gln, Lac, Amm): neither
///   Xd nor mAb feeds back.
const fn carried_states(s: usize) -> &'static [usize] {
    match s {
        7 => &[XV, XD, GLC, GLN, LAC, AMM, MAB],
        6 => &[XV, GLC, GLN, LAC, AMM, MAB],
        _ => &[XV, GLC, GLN, LAC, AMM],
    }
}

/// The fewest carried states (the `S` of [`SensitivityCultureN`]) whose
/// derivatives include those of `states` (state indices; V's derivative is
/// always zero and needs none).
pub fn carried_for(states: &[usize]) -> usize {
    if states.contains(&XD) {
        7
    } else if states.contains(&MAB) {
        6
    } else {
        5
    }
}

/// States and their sensitivities to K directions θ_k ([`Direction`]): z =
/// [y; S_1; …; S_K] with S_k = ∂y/∂θ_k of the `S` carried states
/// (`carried_states`, private), a `Culture<M>` (M = 8 + S K) for the same
/// simulator. One evaluation of the xing2010 equations on [`DualN`]
/// numbers gives every S_k′.
///
/// Which states carry tangents: V never does (dV/dt = F and the boluses
/// are the recipe's, so ∂V/∂θ = 0 exactly); Xd and mAb feed nothing back
/// (no rate reads them), so their tangents are carried only when a caller
/// reads their derivatives (S = 7 carries both, S = 6 mAb, S = 5 neither).
/// Dropping them changes no other derivative: the tangents of the other
/// states never read theirs.
///
/// The parameters' tangents (dp/dθ = p for θ = ln p) are constants of the
/// run, set up once.
///
/// Events: a bolus maps y_k → (y_k V + c_k ΔV)/(V + ΔV), so (V being
/// independent of θ) S_k → S_k V/(V + ΔV): a concentration of a medium with
/// zero content. Sampling leaves both unchanged. Continuous feeds contribute
/// −D S_k, again a concentration fed at zero content.
///
/// Step-size control sees the model's states only
/// ([`OdeSystem::error_components`]): the run takes the plain run's steps,
/// and its sensitivities are the exact derivatives of that discrete
/// solution, whatever the number of directions carried together.
#[derive(Debug, Clone, PartialEq)]
pub struct SensitivityCultureN<const K: usize, const S: usize, const M: usize> {
    base: HybridCulture,
    directions: [Direction; K],
    /// The parameters with their tangents along each direction.
    p: [DualN<K>; NP],
}

/// One direction per run, every state's sensitivity: the form the tests
/// use. z[8 + i] = ∂y_i/∂θ for the states i < 7 (V's is zero).
pub type SensitivityCulture = SensitivityCultureN<1, 7, { NS + 7 }>;

impl SensitivityCultureN<1, 7, { NS + 7 }> {
    /// Sensitivity to θ_j = ln p_j.
    pub fn new(params_si: [f64; NP], j: usize, v0_m3: f64) -> SensitivityCulture {
        SensitivityCultureN::along(params_si, None, [Direction::LnParam(j)], v0_m3)
    }

    /// Sensitivity to ln p_j (`Ok(j)`) or to weight w of the rate network
    /// (`Err(w)`), with the network correcting the rates.
    pub fn with_net(
        params_si: [f64; NP],
        net: Option<RateNet>,
        direction: Result<usize, usize>,
        v0_m3: f64,
    ) -> SensitivityCulture {
        let d = match direction {
            Ok(j) => Direction::LnParam(j),
            Err(w) => Direction::Weight(w),
        };
        SensitivityCultureN::along(params_si, net, [d], v0_m3)
    }
}

impl<const K: usize, const S: usize, const M: usize> SensitivityCultureN<K, S, M> {
    const LAYOUT: () = assert!(
        (S == 5 || S == 6 || S == 7) && M == NS + S * K,
        "S must be 5, 6 or 7 and M = NS + S K"
    );
    /// The carried states, slot order.
    const CARRIED: &'static [usize] = carried_states(S);

    /// Sensitivities along `directions`, with the network `net` (if any)
    /// correcting the rates.
    pub fn along(
        params_si: [f64; NP],
        net: Option<RateNet>,
        directions: [Direction; K],
        v0_m3: f64,
    ) -> Self {
        #[allow(clippy::let_unit_value)]
        let () = Self::LAYOUT;
        let mut base = HybridCulture::new(params_si, v0_m3);
        base.net = net;
        // dp/dθ = p for θ = ln p.
        let p = std::array::from_fn(|i| {
            let v = params_si[i];
            DualN::new(
                v,
                std::array::from_fn(|k| {
                    if directions[k] == Direction::LnParam(i) {
                        v
                    } else {
                        0.0
                    }
                }),
            )
        });
        SensitivityCultureN {
            base,
            directions,
            p,
        }
    }

    /// The tangent of a quantity along each direction: `hit(d)` is its
    /// derivative along direction d.
    #[inline]
    fn tangent(&self, hit: impl Fn(Direction) -> f64) -> [f64; K] {
        std::array::from_fn(|k| hit(self.directions[k]))
    }

    /// The state as dual numbers: the carried states with their tangents,
    /// the others constants.
    #[inline(always)]
    fn duals(z: &SVector<f64, M>) -> [DualN<K>; NS] {
        let mut y: [DualN<K>; NS] = std::array::from_fn(|i| DualN::cst(z[i]));
        for (j, &i) in Self::CARRIED.iter().enumerate() {
            for k in 0..K {
                y[i].d[k] = z[NS + S * k + j];
            }
        }
        y
    }

    /// The state whose value or tangent sits at position `j` of z.
    fn state_of(j: usize) -> usize {
        if j < NS {
            j
        } else {
            Self::CARRIED[(j - NS) % S]
        }
    }
}

impl<const K: usize, const S: usize, const M: usize> OdeSystem<M> for SensitivityCultureN<K, S, M> {
    #[inline]
    fn rhs(&self, _t: f64, z: &SVector<f64, M>, dz: &mut SVector<f64, M>) {
        let y = Self::duals(z);
        let f = self.base.net.as_ref().map(|n| {
            n.factors_with(
                [y[GLC].pos(), y[GLN].pos(), y[LAC].pos(), y[AMM].pos()],
                |i, w| {
                    DualN::new(
                        w,
                        self.tangent(|d| if d == Direction::Weight(i) { 1.0 } else { 0.0 }),
                    )
                },
            )
        });
        let r = xing2010::rates(&self.p, &y, f.as_ref());
        let d = xing2010::balances(&self.p, &y, &r, self.base.feed_rate, &self.base.feed);
        for i in 0..NS {
            dz[i] = d[i].v;
        }
        for (j, &i) in Self::CARRIED.iter().enumerate() {
            for k in 0..K {
                dz[NS + S * k + j] = d[i].d[k];
            }
        }
    }
    fn scales(&self) -> SVector<f64, M> {
        SVector::from_fn(|j, _| self.base.scales[Self::state_of(j)])
    }
    fn non_negative(&self) -> [bool; M] {
        let mut n = [false; M];
        n[..NS].fill(true);
        n
    }
    fn state_names(&self) -> [&'static str; M] {
        std::array::from_fn(|j| SENS_NAMES[if j < NS { j } else { NS + Self::state_of(j) }])
    }
    fn error_components(&self) -> usize {
        NS
    }
}

impl<const K: usize, const S: usize, const M: usize> Culture<M> for SensitivityCultureN<K, S, M> {
    fn kinds(&self) -> [StateKind; M] {
        // Every carried state is a concentration (V carries no tangent).
        let mut k = [StateKind::Concentration; M];
        k[V] = StateKind::Volume;
        k
    }
    fn volume_index(&self) -> usize {
        V
    }
    fn initial_state(&self, c: &Composition, v: f64) -> Result<SVector<f64, M>, NotReady> {
        let y = initial_state(c, v)?;
        Ok(SVector::from_fn(|i, _| if i < NS { y[i] } else { 0.0 }))
    }
    fn medium_vector(&self, m: &Composition) -> SVector<f64, M> {
        let f = medium(m);
        SVector::from_fn(|i, _| if i < NS { f[i] } else { 0.0 })
    }
    fn set_inflow(&mut self, rate: f64, composition: &SVector<f64, M>) {
        self.base.feed_rate = rate;
        for k in 0..NS {
            self.base.feed[k] = composition[k];
        }
    }
    fn set_setpoints(&mut self, _sp: &Setpoints) -> Result<(), NotReady> {
        Ok(())
    }
    /// `time_s`, the states, then each direction's sensitivities of the
    /// carried states (named `dXv`, … for every direction).
    fn output_columns(&self) -> Vec<&'static str> {
        std::iter::once("time_s")
            .chain(self.state_names())
            .collect()
    }
    fn outputs(&self, t_s: f64, z: &SVector<f64, M>, row: &mut Vec<f64>) {
        row.clear();
        self.append_outputs(t_s, z, row);
    }
    fn append_outputs(&self, t_s: f64, z: &SVector<f64, M>, row: &mut Vec<f64>) {
        row.push(t_s);
        row.extend_from_slice(z.as_slice());
    }
    fn quality(&self, z: &SVector<f64, M>) -> Vec<(&'static str, f64)> {
        quality(&z.as_slice()[..NS])
    }
}

/// A run's states and their sensitivities along every direction of
/// `directions`, up to 8 carried by one augmented run (more are split over
/// several runs, whose state parts are identical): output times (s), the
/// states per row (NS each), and per direction the derivatives of the
/// carried states per row ([`SensitivityRun::derivative`]).
pub struct SensitivityRun {
    /// Output times, s.
    pub times_s: Vec<f64>,
    /// States at each output time (SI).
    pub states: Vec<[f64; NS]>,
    /// The states whose derivatives were carried, in slot order.
    pub carried: &'static [usize],
    /// Per direction, row-major: the carried states' derivatives (slot
    /// order) at each output time.
    derivatives: Vec<Vec<f64>>,
}

impl SensitivityRun {
    /// ∂y_state/∂θ_k at output row `row`: `None` for a state whose
    /// derivative was not carried (not asked for, and feeding nothing
    /// back); V's is 0 (the volume depends on no parameter).
    pub fn derivative(&self, k: usize, row: usize, state: usize) -> Option<f64> {
        if state == V {
            return (k < self.derivatives.len() && row < self.times_s.len()).then_some(0.0);
        }
        let j = self.carried.iter().position(|&i| i == state)?;
        self.derivatives
            .get(k)?
            .get(row * self.carried.len() + j)
            .copied()
    }

    /// Row `row`'s derivatives along direction `k`, slot order (`carried`).
    pub fn derivative_row(&self, k: usize, row: usize) -> Option<&[f64]> {
        let w = self.carried.len();
        self.derivatives.get(k)?.get(row * w..(row + 1) * w)
    }
}

/// Runs `recipe` with sensitivities along `directions` (see
/// [`SensitivityRun`]). `states`: the states whose derivatives the caller
/// reads (an empty slice: all); Xd and mAb, which feed nothing back, carry
/// tangents only when asked for. `times`: output times (s, sorted, within
/// the recipe), or `None` for the options' output grid; a state written at
/// a time is the one written there with the grid (the steps do not depend
/// on the output times).
pub fn run_with_sensitivities(
    params_si: [f64; NP],
    net: Option<&RateNet>,
    directions: &[Direction],
    states: &[usize],
    times: Option<&[f64]>,
    recipe: &Recipe,
    opts: &RunOptions,
) -> Result<SensitivityRun, SolverFailure> {
    let s = if states.is_empty() {
        7
    } else {
        carried_for(states)
    };
    let mut out = SensitivityRun {
        times_s: Vec::new(),
        states: Vec::new(),
        carried: carried_states(s),
        derivatives: Vec::new(),
    };
    let times = match times {
        Some(t) => t.to_vec(),
        None => output_times(recipe, opts)?,
    };
    if directions.is_empty() {
        let mut m = HybridCulture::new(params_si, recipe.initial_volume_m3);
        m.net = net.cloned();
        let r = run_observed_at(&m, recipe, opts, times, |_, _, _| {})?;
        out.times_s = r.times;
        out.states = r.states;
        return Ok(out);
    }
    for chunk in directions.chunks(8) {
        macro_rules! with_k {
            ($($k:literal),*) => {
                match (chunk.len(), s) {
                    $(
                        ($k, 5) => augmented::<$k, 5, { NS + 5 * $k }>(params_si, net, chunk, &times, recipe, opts, &mut out)?,
                        ($k, 6) => augmented::<$k, 6, { NS + 6 * $k }>(params_si, net, chunk, &times, recipe, opts, &mut out)?,
                        ($k, _) => augmented::<$k, 7, { NS + 7 * $k }>(params_si, net, chunk, &times, recipe, opts, &mut out)?,
                    )*
                    _ => unreachable!("chunks of at most 8"),
                }
            };
        }
        with_k!(1, 2, 3, 4, 5, 6, 7, 8);
    }
    Ok(out)
}

fn augmented<const K: usize, const S: usize, const M: usize>(
    params_si: [f64; NP],
    net: Option<&RateNet>,
    chunk: &[Direction],
    times: &[f64],
    recipe: &Recipe,
    opts: &RunOptions,
    out: &mut SensitivityRun,
) -> Result<(), SolverFailure> {
    let dirs: [Direction; K] = std::array::from_fn(|k| chunk[k]);
    let m = SensitivityCultureN::<K, S, M>::along(
        params_si,
        net.cloned(),
        dirs,
        recipe.initial_volume_m3,
    );
    // The states at the output times are all a caller reads: no rows.
    let r = run_observed_at(&m, recipe, opts, times.to_vec(), |_, _, _| {})?;
    if out.times_s.is_empty() {
        out.times_s = r.times;
        out.states = r
            .states
            .iter()
            .map(|z| std::array::from_fn(|i| z[i]))
            .collect();
    }
    for k in 0..K {
        let mut d = Vec::with_capacity(r.states.len() * S);
        for z in &r.states {
            d.extend_from_slice(&z[NS + S * k..NS + S * (k + 1)]);
        }
        out.derivatives.push(d);
    }
    Ok(())
}

/// One measured batch: its recipe and sampled states.
#[derive(Debug, Clone)]
pub struct BatchObservations {
    /// Batch id.
    pub id: String,
    /// The batch's recipe (SI).
    pub recipe: Recipe,
    /// Sample times (s), each a multiple of the model's sample interval.
    pub times_s: Vec<f64>,
    /// Measured Xv, Xd, Glc, Gln, Lac, Amm, mAb (SI) at each time; NaN =
    /// not measured.
    pub values: Vec<[f64; NM]>,
}

/// Hyperparameters of the serial hybrid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SerialHybridParams {
    /// All rate-model parameters in SI (`xing2010::PARAMS` order): fixed
    /// values, and starting values (and L2 prior centre) of learned ones.
    pub initial_params_si: Vec<f64>,
    /// Names (from `xing2010::PARAMS`) of the parameters to learn.
    pub learned: Vec<String>,
    /// L2 weight λ on ‖θ − θ₀‖² (θ = ln p).
    pub l2: f64,
    /// Maximum Levenberg–Marquardt iterations.
    pub max_iter: usize,
    /// Stop after this many iterations without a lower validation error.
    pub patience: usize,
    /// Relative decrease of Φ below which training has converged.
    pub tol: f64,
    /// Grid on which samples lie (s).
    pub sample_interval_s: f64,
    /// Relative tolerance of the integrations.
    pub rtol: f64,
    /// Absolute tolerance of the integrations, on the scaled state (1 = the
    /// state's nominal scale).
    pub atol: f64,
    /// Neural-network correction of selected rates (`rate_net.rs`); its
    /// weights are learned with the named parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<RateNetSpec>,
}

impl SerialHybridParams {
    /// Defaults: λ = 1e-6, 50 iterations, patience 5, daily samples,
    /// rtol 1e-7.
    pub fn new(initial_params_si: Vec<f64>, learned: &[&str]) -> SerialHybridParams {
        SerialHybridParams {
            initial_params_si,
            learned: learned.iter().map(|s| s.to_string()).collect(),
            l2: 1e-6,
            max_iter: 50,
            patience: 5,
            tol: 1e-10,
            sample_interval_s: 86_400.0,
            rtol: 1e-7,
            atol: 1e-9,
            network: None,
        }
    }

    /// Solver settings and sample grid of this model's runs.
    pub fn run_options(&self) -> RunOptions {
        RunOptions {
            method: Method::Dopri5,
            tolerances: Tolerances {
                rtol: self.rtol,
                atol: self.atol,
                // 1e-3 of a state's scale (0.01 mM for substrates): with
                // half-saturation constants of ~0.05 mM an accepted step can
                // end a little below zero when a substrate runs out.
                negative_tolerance: 1e-3,
                ..Tolerances::default()
            },
            output_interval_s: Some(self.sample_interval_s),
        }
    }

    fn learned_index(&self) -> Result<Vec<usize>, SurrogateError> {
        if self.initial_params_si.len() != NP {
            return Err(SurrogateError::shape(
                "rate-model parameters",
                NP,
                self.initial_params_si.len(),
            ));
        }
        let mut idx = Vec::new();
        for name in &self.learned {
            let k = PARAMS.iter().position(|p| p.name == name).ok_or_else(|| {
                SurrogateError::Numerical(format!(
                    "unknown rate-model parameter `{name}` (one of {})",
                    PARAMS.iter().map(|p| p.name).collect::<Vec<_>>().join(", ")
                ))
            })?;
            if !(self.initial_params_si[k] > 0.0 && self.initial_params_si[k].is_finite()) {
                return Err(SurrogateError::Numerical(format!(
                    "learned parameter `{name}` needs a positive starting value"
                )));
            }
            if idx.contains(&k) {
                return Err(SurrogateError::Numerical(format!("`{name}` listed twice")));
            }
            idx.push(k);
        }
        if idx.is_empty() && self.network.is_none() {
            return Err(SurrogateError::shape(
                "learned parameters (or a rate network)",
                "at least 1",
                0,
            ));
        }
        Ok(idx)
    }
}

/// One Levenberg–Marquardt iteration.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrainingStep {
    /// Levenberg–Marquardt iteration number.
    pub iteration: usize,
    /// Φ on the training batches (data term + L2 term).
    pub train_objective: f64,
    /// Mean squared weighted residual on the validation batches.
    pub validation_mse: Option<f64>,
    /// Levenberg–Marquardt damping μ of the iteration.
    pub damping: f64,
}

/// What training did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainingReport {
    /// Every accepted iteration, in order.
    pub history: Vec<TrainingStep>,
    /// Iteration whose parameters were kept.
    pub best_iteration: usize,
    /// Training stopped because the validation error did not improve for
    /// `patience` iterations.
    pub stopped_early: bool,
    /// The Levenberg–Marquardt search met its convergence test (relative
    /// decrease of Φ below `tol`).
    pub converged: bool,
    /// Sensitivity (augmented) integrations run.
    pub sensitivity_runs: usize,
    /// Plain forward integrations run.
    pub forward_runs: usize,
    /// Why training stopped early on a failed sensitivity run, if it did.
    #[serde(default)]
    pub failure: Option<String>,
    /// Wall-clock time of training, s.
    pub wall_s: f64,
}

/// A trained serial hybrid model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SerialHybrid {
    /// The hyperparameters it was trained with.
    pub hyperparameters: SerialHybridParams,
    /// Fitted rate-model parameters (SI, all of them).
    pub params_si: Vec<f64>,
    /// Residual weights w_k of the measured states.
    pub weights: Vec<f64>,
    /// What training did.
    pub report: TrainingReport,
    /// The trained rate network, if the rates are corrected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub net: Option<RateNet>,
}

/// A simulated trajectory on the sample grid.
#[derive(Debug, Clone, PartialEq)]
pub struct Trajectory {
    /// Sample times, s.
    pub times_s: Vec<f64>,
    /// States at each sample time (SI).
    pub states: Vec<[f64; NS]>,
    /// End-of-batch quality attributes (name with unit, value).
    pub quality: Vec<(&'static str, f64)>,
}

fn to_array(v: &[f64]) -> [f64; NP] {
    let mut a = [0.0; NP];
    a.copy_from_slice(v);
    a
}

fn fail(f: SolverFailure) -> SurrogateError {
    SurrogateError::Numerical(format!(
        "hybrid simulation failed at {:.2} h: {} {}",
        f.time_s / 3600.0,
        f.message,
        f.state
    ))
}

/// Simulates `recipe` with rate parameters `p`.
pub fn simulate(
    p: &[f64; NP],
    recipe: &Recipe,
    opts: &RunOptions,
) -> Result<Trajectory, SurrogateError> {
    simulate_with_net(p, None, recipe, opts)
}

/// Simulates `recipe` with rate parameters `p` and rates corrected by `net`.
pub fn simulate_with_net(
    p: &[f64; NP],
    net: Option<&RateNet>,
    recipe: &Recipe,
    opts: &RunOptions,
) -> Result<Trajectory, SurrogateError> {
    let mut m = HybridCulture::new(*p, recipe.initial_volume_m3);
    m.net = net.cloned();
    let r = run(&m, recipe, opts).map_err(fail)?;
    let mut times_s = Vec::new();
    let mut states = Vec::new();
    for row in r.rows.chunks_exact(NS + 1) {
        times_s.push(row[0]);
        let mut y = [0.0; NS];
        y.copy_from_slice(&row[1..]);
        states.push(y);
    }
    Ok(Trajectory {
        times_s,
        states,
        quality: m.quality(&r.final_state),
    })
}

/// Rows of the sample grid of each observation time.
fn grid_rows(b: &BatchObservations, dt: f64) -> Result<Vec<usize>, SurrogateError> {
    if b.times_s.len() != b.values.len() {
        return Err(SurrogateError::shape(
            format!("samples of batch {}", b.id),
            b.times_s.len(),
            b.values.len(),
        ));
    }
    b.times_s
        .iter()
        .map(|&t| {
            let k = (t / dt).round();
            if (t - k * dt).abs() > 1.0 || t < 0.0 || t > b.recipe.duration_s + 1.0 {
                Err(SurrogateError::Numerical(format!(
                    "batch {}: sample at {} h is not on the {} h sample grid",
                    b.id,
                    t / 3600.0,
                    dt / 3600.0
                )))
            } else {
                Ok(k as usize)
            }
        })
        .collect()
}

type Rows<'b> = Vec<(&'b BatchObservations, Vec<usize>)>;

fn with_rows(bs: &[BatchObservations], dt: f64) -> Result<Rows<'_>, SurrogateError> {
    bs.iter().map(|b| Ok((b, grid_rows(b, dt)?))).collect()
}

struct Problem<'a> {
    hp: &'a SerialHybridParams,
    opts: RunOptions,
    idx: Vec<usize>,
    base: [f64; NP],
    w: [f64; NM],
    /// Network whose weights follow the kinetic parameters in θ.
    net: Option<RateNet>,
}

impl Problem<'_> {
    fn params(&self, theta: &[f64]) -> [f64; NP] {
        let mut p = self.base;
        for (j, &k) in self.idx.iter().enumerate() {
            p[k] = theta[j].exp();
        }
        p
    }

    /// The network with the weights of θ (they follow the learned ln p).
    fn net(&self, theta: &[f64]) -> Option<RateNet> {
        self.net.as_ref().map(|n| {
            let mut n = n.clone();
            n.weights.copy_from_slice(&theta[self.idx.len()..]);
            n
        })
    }

    /// Σ r² and the number of residuals over `batches` (forward runs only).
    fn sse(
        &self,
        theta: &[f64],
        batches: &[(&BatchObservations, Vec<usize>)],
    ) -> Result<(f64, usize), SurrogateError> {
        let p = self.params(theta);
        let net = self.net(theta);
        let parts: Vec<Result<(f64, usize), SurrogateError>> = batches
            .par_iter()
            .map(|(b, rows)| {
                let tr = simulate_with_net(&p, net.as_ref(), &b.recipe, &self.opts)?;
                let mut s = 0.0;
                let mut n = 0;
                for (obs, &r) in b.values.iter().zip(rows) {
                    let y = tr.states.get(r).ok_or_else(|| {
                        SurrogateError::Numerical(format!("batch {}: sample beyond the run", b.id))
                    })?;
                    for k in 0..NM {
                        if obs[k].is_finite() {
                            let e = (y[k] - obs[k]) / self.w[k];
                            s += e * e;
                            n += 1;
                        }
                    }
                }
                Ok((s, n))
            })
            .collect();
        let mut s = 0.0;
        let mut n = 0;
        for p in parts {
            let (a, b) = p?;
            s += a;
            n += b;
        }
        Ok((s, n))
    }

    /// Gauss–Newton quantities of the data term: (JᵀJ, Jᵀr, Σr², n) from
    /// one sensitivity run per (batch, learned parameter).
    fn gauss_newton(
        &self,
        theta: &[f64],
        batches: &[(&BatchObservations, Vec<usize>)],
    ) -> Result<(DMatrix<f64>, DVector<f64>, f64, usize), SurrogateError> {
        let p = self.params(theta);
        let net = self.net(theta);
        let nk = self.idx.len();
        let np = theta.len();
        let directions: Vec<Direction> = (0..np)
            .map(|j| {
                if j < nk {
                    Direction::LnParam(self.idx[j])
                } else {
                    Direction::Weight(j - nk)
                }
            })
            .collect();
        // For each batch: the residual vector and ∂r/∂θ_j for every j, from
        // one augmented run per 8 directions.
        let per_batch: Vec<Result<(Vec<f64>, Vec<Vec<f64>>), SurrogateError>> = batches
            .par_iter()
            .map(|(b, rows)| {
                let r = run_with_sensitivities(
                    p,
                    net.as_ref(),
                    &directions,
                    &[],
                    None,
                    &b.recipe,
                    &self.opts,
                )
                .map_err(fail)?;
                let mut res = Vec::new();
                let mut jac = vec![Vec::new(); np];
                for (obs, &row) in b.values.iter().zip(rows) {
                    let y = r.states.get(row).ok_or_else(|| {
                        SurrogateError::Numerical(format!("batch {}: sample beyond the run", b.id))
                    })?;
                    for k in 0..NM {
                        if obs[k].is_finite() {
                            res.push((y[k] - obs[k]) / self.w[k]);
                            for (j, col) in jac.iter_mut().enumerate() {
                                let d = r.derivative(j, row, k).ok_or_else(|| {
                                    SurrogateError::Numerical(format!(
                                        "batch {}: a sensitivity not carried",
                                        b.id
                                    ))
                                })?;
                                col.push(d / self.w[k]);
                            }
                        }
                    }
                }
                Ok((res, jac))
            })
            .collect();
        let mut jtj = DMatrix::zeros(np, np);
        let mut jtr = DVector::zeros(np);
        let mut sse = 0.0;
        let mut n = 0;
        for x in per_batch {
            let (r, jb) = x?;
            for (i, ri) in r.iter().enumerate() {
                sse += ri * ri;
                for a in 0..np {
                    jtr[a] += jb[a][i] * ri;
                    for c in 0..=a {
                        jtj[(a, c)] += jb[a][i] * jb[c][i];
                    }
                }
            }
            n += r.len();
        }
        for a in 0..np {
            for c in 0..a {
                jtj[(c, a)] = jtj[(a, c)];
            }
        }
        Ok((jtj, jtr, sse, n))
    }
}

/// The training cost Φ(θ) = ½ mean r² + ½ Σ λ_a (θ_a − c_a)² as a
/// least-squares problem of the one estimator (`biotwin_core::fit::lm`).
struct Objective<'a, 'b> {
    prob: &'a Problem<'a>,
    train: &'a Rows<'b>,
    reg: &'a [f64],
    centre: &'a [f64],
    sens_runs: &'a Cell<usize>,
    fwd_runs: &'a Cell<usize>,
}

impl Objective<'_, '_> {
    fn penalty(&self, th: &[f64]) -> f64 {
        0.5 * th
            .iter()
            .zip(self.centre)
            .zip(self.reg)
            .map(|((a, b), l)| l * (a - b) * (a - b))
            .sum::<f64>()
    }
}

impl LeastSquares for Objective<'_, '_> {
    type Error = String;
    fn linearise(&self, theta: &[f64]) -> Result<Linearisation, String> {
        let (jtj, jtr, sse, n) = self
            .prob
            .gauss_newton(theta, self.train)
            .map_err(|e| e.to_string())?;
        let np = theta.len();
        self.sens_runs
            .set(self.sens_runs.get() + self.train.len() * np);
        let nf = n.max(1) as f64;
        Ok(Linearisation {
            cost: 0.5 * sse / nf + self.penalty(theta),
            hessian: jtj / nf + DMatrix::from_diagonal(&DVector::from_column_slice(self.reg)),
            gradient: jtr / nf
                + DVector::from_iterator(
                    np,
                    theta
                        .iter()
                        .zip(self.centre)
                        .zip(self.reg)
                        .map(|((a, b), l)| l * (a - b)),
                ),
        })
    }
    fn cost(&self, theta: &[f64]) -> Option<f64> {
        self.fwd_runs.set(self.fwd_runs.get() + self.train.len());
        let (s, n) = self.prob.sse(theta, self.train).ok()?;
        Some(0.5 * s / n.max(1) as f64 + self.penalty(theta))
    }
}

/// The data of the serial hybrid: whole measured batches (recipe and sampled
/// states), not feature rows, split into the batches it is fitted to and the
/// whole batches it stops early on.
#[derive(Debug, Clone, Copy)]
pub struct Trajectories<'a> {
    /// Batches the model is fitted to.
    pub train: &'a [BatchObservations],
    /// Held-out batches for early stopping (may be empty).
    pub validation: &'a [BatchObservations],
}

impl SerialHybridParams {
    /// Thin wrapper of [`Fit::fit`] on [`Trajectories`], kept for callers:
    /// trains on `train`, stopping early on `validation`.
    pub fn fit(
        &self,
        train: &[BatchObservations],
        validation: &[BatchObservations],
    ) -> Result<SerialHybrid, SurrogateError> {
        Fit::fit(self, &Trajectories { train, validation })
    }
}

/// Trains the learned parameters on the `train` batches, stopping early on
/// the whole held-out `validation` batches.
impl Fit<Trajectories<'_>> for SerialHybridParams {
    type Model = SerialHybrid;
    fn fit(&self, data: &Trajectories<'_>) -> Result<SerialHybrid, SurrogateError> {
        let Trajectories { train, validation } = *data;
        let start = Instant::now();
        let idx = self.learned_index()?;
        if train.is_empty() {
            return Err(SurrogateError::shape("training batches", "at least 1", 0));
        }
        if self.sample_interval_s.is_nan()
            || self.sample_interval_s <= 0.0
            || self.l2.is_nan()
            || self.l2 < 0.0
        {
            return Err(SurrogateError::Numerical(
                "sample interval must be positive and the L2 weight non-negative".into(),
            ));
        }
        let dt = self.sample_interval_s;
        let tr = with_rows(train, dt)?;
        let va = with_rows(validation, dt)?;
        // Weights: RMS of each measured variable over the training data.
        let mut w = [0.0; NM];
        let mut cnt = [0usize; NM];
        for b in train {
            for v in &b.values {
                for k in 0..NM {
                    if v[k].is_finite() {
                        w[k] += v[k] * v[k];
                        cnt[k] += 1;
                    }
                }
            }
        }
        for k in 0..NM {
            w[k] = if cnt[k] > 0 && w[k] > 0.0 {
                (w[k] / cnt[k] as f64).sqrt()
            } else {
                1.0
            };
        }
        let prob = Problem {
            hp: self,
            opts: self.run_options(),
            idx: idx.clone(),
            base: to_array(&self.initial_params_si),
            w,
            net: self.network.as_ref().map(RateNet::new).transpose()?,
        };
        let nk = idx.len();
        let mut theta0: Vec<f64> = idx
            .iter()
            .map(|&k| self.initial_params_si[k].ln())
            .collect();
        if let Some(n) = &prob.net {
            theta0.extend_from_slice(&n.weights);
        }
        let np = theta0.len();
        // L2 towards the starting values for ln p; weight decay towards 0
        // for the network.
        let l2 = prob.hp.l2;
        let decay = self.network.as_ref().map_or(0.0, |n| n.weight_decay);
        let reg: Vec<f64> = (0..np).map(|a| if a < nk { l2 } else { decay }).collect();
        let centre: Vec<f64> = (0..np)
            .map(|a| if a < nk { theta0[a] } else { 0.0 })
            .collect();
        let sens_runs = Cell::new(0usize);
        let fwd_runs = Cell::new(0usize);
        let val_mse = |th: &[f64]| -> Option<f64> {
            if va.is_empty() {
                return None;
            }
            fwd_runs.set(fwd_runs.get() + va.len());
            match prob.sse(th, &va) {
                Ok((s, n)) if n > 0 => Some(s / n as f64),
                _ => Some(f64::INFINITY),
            }
        };
        let mut best_val = val_mse(&theta0);
        let initial_val = best_val;
        let mut best_theta = theta0.clone();
        let mut best_iteration = 0;
        let mut since_best = 0;
        let mut stopped_early = false;
        let mut history = Vec::new();
        let ls = Objective {
            prob: &prob,
            train: &tr,
            reg: &reg,
            centre: &centre,
            sens_runs: &sens_runs,
            fwd_runs: &fwd_runs,
        };
        let opts = LmOptions {
            max_iter: self.max_iter,
            step_limit: StepLimit::MaxNorm(1.0),
            rel_tol: self.tol,
            ..LmOptions::default()
        };
        let out = levenberg_marquardt(&ls, &theta0, &opts, |it| {
            if !it.accepted {
                return Control::Continue;
            }
            let v = val_mse(it.theta);
            history.push(TrainingStep {
                iteration: it.iteration,
                train_objective: it.cost,
                validation_mse: v,
                damping: it.damping,
            });
            match (v, best_val) {
                (Some(v), Some(b)) if v >= b => {
                    since_best += 1;
                    if since_best >= self.patience {
                        stopped_early = true;
                        return Control::Stop;
                    }
                }
                _ => {
                    best_val = v;
                    best_theta = it.theta.to_vec();
                    best_iteration = it.iteration;
                    since_best = 0;
                }
            }
            Control::Continue
        })
        .map_err(SurrogateError::Numerical)?;
        history.insert(
            0,
            TrainingStep {
                iteration: 0,
                train_objective: out.initial_cost,
                validation_mse: initial_val,
                damping: opts.initial_damping,
            },
        );
        let converged = out.converged;
        let failure = out.failure;
        Ok(SerialHybrid {
            hyperparameters: self.clone(),
            params_si: prob.params(&best_theta).to_vec(),
            net: prob.net(&best_theta),
            weights: w.to_vec(),
            report: TrainingReport {
                history,
                best_iteration,
                stopped_early,
                converged,
                sensitivity_runs: sens_runs.get(),
                forward_runs: fwd_runs.get(),
                failure,
                wall_s: start.elapsed().as_secs_f64(),
            },
        })
    }
}

impl SerialHybrid {
    fn p(&self) -> [f64; NP] {
        to_array(&self.params_si)
    }

    /// The fitted value of a rate-model parameter, SI.
    pub fn param(&self, name: &str) -> Option<f64> {
        PARAMS
            .iter()
            .position(|p| p.name == name)
            .map(|k| self.params_si[k])
    }

    /// Specific rates at state `y` (SI), network corrections included.
    pub fn rates(&self, y: &[f64; NS]) -> Rates<f64> {
        xing2010::rates(&self.p(), y, factors(self.net.as_ref(), y, None).as_ref())
    }

    /// Simulates a recipe; states on the model's sample grid.
    pub fn predict(&self, recipe: &Recipe) -> Result<Trajectory, SurrogateError> {
        if self.params_si.len() != NP {
            return Err(SurrogateError::shape(
                "rate-model parameters",
                NP,
                self.params_si.len(),
            ));
        }
        if let Some(n) = &self.net {
            n.check()?;
        }
        simulate_with_net(
            &self.p(),
            self.net.as_ref(),
            recipe,
            &self.hyperparameters.run_options(),
        )
    }

    /// Root-mean-square weighted residual on `batches` (the training metric).
    pub fn weighted_rmse(&self, batches: &[BatchObservations]) -> Result<f64, SurrogateError> {
        let dt = self.hyperparameters.sample_interval_s;
        let rows = batches
            .iter()
            .map(|b| Ok((b, grid_rows(b, dt)?)))
            .collect::<Result<Vec<_>, SurrogateError>>()?;
        let prob =
            Problem {
                hp: &self.hyperparameters,
                opts: self.hyperparameters.run_options(),
                idx: vec![],
                base: self.p(),
                w: self.weights.clone().try_into().map_err(|_| {
                    SurrogateError::shape("residual weights", NM, self.weights.len())
                })?,
                net: self.net.clone(),
            };
        if let Some(n) = &self.net {
            n.check()?;
        }
        // θ of a trained model: no learned ln p here, the network's weights.
        let theta = self.net.as_ref().map_or(vec![], |n| n.weights.clone());
        let (s, n) = prob.sse(&theta, &rows)?;
        Ok((s / n.max(1) as f64).sqrt())
    }
}
