//! The Xing et al. (2010) CHO fed-batch kinetics, exactly as in
//! `shared/reference/cho/README.md` (the SciPy reference implementation).
//!
//! Z. Xing, B. M. Bishop, K. Leister, Z. J. Li, "Modeling kinetics of a
//! large-scale fed-batch CHO cell culture by Markov chain Monte Carlo method",
//! *Biotechnol. Prog.* 26(1):208–219 (2010), doi:10.1002/btpr.284; constant
//! specific productivity from *Bioengineering* 5(1):25 (2018), Table 2.
//!
//! States (SI): Xv, Xd \[cells/m³\]; Glc, Gln, Lac, Amm \[mol/m³ = mM\];
//! mAb \[kg/m³ = g/L\]; V \[m³\]. With D = F/V:
//!
//! ```text
//! mu    = mu_max · Glc/(K_glc+Glc) · Gln/(K_gln+Gln) · KI_lac/(KI_lac+Lac) · KI_amm/(KI_amm+Amm)
//! mu_d  = mu_d_max · Lac/(KD_lac+Lac) · Amm/(KD_amm+Amm)
//! m_gln = a1 · Gln/(a2+Gln);  q_glc = mu/Y_x_glc + m_glc·s(Glc);  q_gln = mu/Y_x_gln + m_gln
//! dXv/dt  = (mu − mu_d) Xv − D Xv             dXd/dt = mu_d Xv − D Xd
//! dGlc/dt = −q_glc Xv + D (Glc_in − Glc)      dGln/dt = −q_gln Xv − k_dgln Gln + D (Gln_in − Gln)
//! dLac/dt = Y_lac_glc q_glc Xv − D Lac        dAmm/dt = (Y_amm_gln mu/Y_x_gln − r_amm·s(Amm)) Xv + k_dgln Gln − D Amm
//! dmAb/dt = q_mab Xv − D mAb                  dV/dt = F
//! s(c)  = 1 for c ≥ 0.1 mM, x (2 − x) with x = c/0.1 mM below (substrate depletion, see DEPLETION_RAMP_MM)
//! ```
//! Parameter values and units are in `process-models/models/xing2010.toml`.
//! The kinetics ([`rates`], [`balances`]) are written once, generic over
//! dual numbers: the serial hybrid and `biotwin fit` differentiate this
//! same code for their forward sensitivities.

use nalgebra::SVector;

use super::{Culture, NotReady, StateKind};
use crate::definition::kinetic::ParamSpec;
use crate::definition::recipe::Setpoints;
use crate::definition::species::{Composition, Species};
use crate::fit::dual::Scalar;
use crate::solver::OdeSystem;

/// Number of states (viable and dead cells, glucose, glutamine, lactate, ammonium, product, volume).
pub const N: usize = 8;
const XV: usize = 0;
const XD: usize = 1;
const GLC: usize = 2;
const GLN: usize = 3;
const LAC: usize = 4;
const AMM: usize = 5;
const MAB: usize = 6;
const V: usize = 7;

/// End-of-batch quality attributes reported by `quality`.
pub const QUALITY: &[&str] = &[
    "titer_g_per_l",
    "viability_pct",
    "ammonium_mm",
    "lactate_mm",
];

/// Parameter table of the family (order = `Xing2010Params` fields).
pub const PARAMS: &[ParamSpec] = &[
    ParamSpec {
        name: "mu_max",
        unit: "1/h",
        min: 0.0,
        max: 0.2,
        absent: None,
        meaning: "maximum specific growth rate",
    },
    ParamSpec {
        name: "mu_d_max",
        unit: "1/h",
        min: 0.0,
        max: 0.2,
        absent: None,
        meaning: "maximum specific death rate",
    },
    ParamSpec {
        name: "K_glc",
        unit: "mM",
        min: 0.0,
        max: 100.0,
        absent: None,
        meaning: "Monod constant glucose",
    },
    ParamSpec {
        name: "K_gln",
        unit: "mM",
        min: 0.0,
        max: 100.0,
        absent: None,
        meaning: "Monod constant glutamine",
    },
    ParamSpec {
        name: "KI_lac",
        unit: "mM",
        min: 1e-6,
        max: 1e9,
        absent: None,
        meaning: "lactate growth-inhibition constant",
    },
    ParamSpec {
        name: "KI_amm",
        unit: "mM",
        min: 1e-6,
        max: 1e9,
        absent: None,
        meaning: "ammonium growth-inhibition constant",
    },
    ParamSpec {
        name: "KD_lac",
        unit: "mM",
        min: 0.0,
        max: 1e9,
        absent: None,
        meaning: "lactate constant in death rate",
    },
    ParamSpec {
        name: "KD_amm",
        unit: "mM",
        min: 0.0,
        max: 1e9,
        absent: None,
        meaning: "ammonium constant in death rate",
    },
    ParamSpec {
        name: "Y_x_glc",
        unit: "cells/mmol",
        min: 1e6,
        max: 1e11,
        absent: None,
        meaning: "cell yield on glucose",
    },
    ParamSpec {
        name: "Y_x_gln",
        unit: "cells/mmol",
        min: 1e6,
        max: 1e12,
        absent: None,
        meaning: "cell yield on glutamine",
    },
    ParamSpec {
        name: "Y_lac_glc",
        unit: "mmol/mmol",
        min: 0.0,
        max: 2.0,
        absent: None,
        meaning: "lactate yield on glucose",
    },
    ParamSpec {
        name: "Y_amm_gln",
        unit: "mmol/mmol",
        min: 0.0,
        max: 2.0,
        absent: None,
        meaning: "ammonium yield on glutamine",
    },
    ParamSpec {
        name: "m_glc",
        unit: "mmol/(cell h)",
        min: 0.0,
        max: 1e-9,
        absent: None,
        meaning: "glucose maintenance coefficient",
    },
    ParamSpec {
        name: "a1",
        unit: "mmol/(cell h)",
        min: 0.0,
        max: 1e-9,
        absent: None,
        meaning: "glutamine maintenance coefficient",
    },
    ParamSpec {
        name: "a2",
        unit: "mM",
        min: 0.0,
        max: 100.0,
        absent: None,
        meaning: "glutamine maintenance constant",
    },
    ParamSpec {
        name: "k_dgln",
        unit: "1/h",
        min: 0.0,
        max: 1.0,
        absent: None,
        meaning: "spontaneous glutamine degradation",
    },
    ParamSpec {
        name: "r_amm",
        unit: "mmol/(cell h)",
        min: 0.0,
        max: 1e-9,
        absent: None,
        meaning: "ammonium removal rate",
    },
    ParamSpec {
        name: "q_mab",
        unit: "g/(cell h)",
        min: 0.0,
        max: 1e-10,
        absent: None,
        meaning: "specific antibody production rate",
    },
];

/// Parameters in SI (1/s, mol/m³, cells/mol, mol/(cell s), kg/(cell s)).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Xing2010Params {
    /// Maximum specific growth rate, 1/s.
    pub mu_max: f64,
    /// Maximum specific death rate, 1/s.
    pub mu_d_max: f64,
    /// Monod constant for glucose, mol/m³.
    pub k_glc: f64,
    /// Monod constant for glutamine, mol/m³.
    pub k_gln: f64,
    /// Lactate growth-inhibition constant, mol/m³.
    pub ki_lac: f64,
    /// Ammonium growth-inhibition constant, mol/m³.
    pub ki_amm: f64,
    /// Lactate constant in the death rate, mol/m³.
    pub kd_lac: f64,
    /// Ammonium constant in the death rate, mol/m³.
    pub kd_amm: f64,
    /// Cell yield on glucose, cells/mol.
    pub y_x_glc: f64,
    /// Cell yield on glutamine, cells/mol.
    pub y_x_gln: f64,
    /// Lactate yield on glucose, mol/mol.
    pub y_lac_glc: f64,
    /// Ammonium yield on glutamine, mol/mol.
    pub y_amm_gln: f64,
    /// Glucose maintenance coefficient, mol/(cell s).
    pub m_glc: f64,
    /// Glutamine maintenance coefficient a1, mol/(cell s).
    pub a1: f64,
    /// Glutamine maintenance constant a2, mol/m³.
    pub a2: f64,
    /// Spontaneous glutamine degradation rate, 1/s.
    pub k_dgln: f64,
    /// Ammonium removal rate, mol/(cell s).
    pub r_amm: f64,
    /// Specific antibody production rate, kg/(cell s).
    pub q_mab: f64,
}

impl Xing2010Params {
    /// From SI values in `PARAMS` order.
    pub fn from_si(v: &[f64]) -> Xing2010Params {
        Xing2010Params {
            mu_max: v[0],
            mu_d_max: v[1],
            k_glc: v[2],
            k_gln: v[3],
            ki_lac: v[4],
            ki_amm: v[5],
            kd_lac: v[6],
            kd_amm: v[7],
            y_x_glc: v[8],
            y_x_gln: v[9],
            y_lac_glc: v[10],
            y_amm_gln: v[11],
            m_glc: v[12],
            a1: v[13],
            a2: v[14],
            k_dgln: v[15],
            r_amm: v[16],
            q_mab: v[17],
        }
    }
}

/// Number of parameters (`PARAMS`).
pub const NP: usize = 18;

/// Substrate depletion (biotwin's assumption, not in Xing 2010): below this
/// concentration (mol/m³ = mM) the constant maintenance terms — glucose
/// maintenance uptake `m_glc` and ammonium removal `r_amm` — ramp smoothly
/// to zero, as `x (2 − x)` with x = c / 0.1 mM (value and slope continuous at
/// 0.1 mM, zero at 0). Without it a culture that runs out of glucose keeps
/// consuming it and the state turns negative. Above 0.1 mM the model is
/// exactly the published one (the SciPy reference trajectory stays far above).
pub const DEPLETION_RAMP_MM: f64 = 0.1;

/// 1 at or above `DEPLETION_RAMP_MM`, x (2 − x) below (x = c / ramp).
#[inline]
fn depletion<T: Scalar>(c: T) -> T {
    if c.value() >= DEPLETION_RAMP_MM {
        T::cst(1.0)
    } else {
        let x = c / T::cst(DEPLETION_RAMP_MM);
        x * (T::cst(2.0) - x)
    }
}

/// Specific rates (SI: 1/s, mol/(cell s), kg/(cell s)).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rates<T> {
    /// Specific growth rate μ, 1/s.
    pub mu: T,
    /// Specific death rate μd, 1/s.
    pub mu_d: T,
    /// Specific glucose uptake rate, mol/(cell s).
    pub q_glc: T,
    /// Specific glutamine uptake rate, mol/(cell s).
    pub q_gln: T,
    /// Specific lactate production rate, mol/(cell s).
    pub q_lac: T,
    /// Specific ammonium production rate, mol/(cell s).
    pub q_amm: T,
    /// Specific product formation rate, kg/(cell s).
    pub q_p: T,
}

/// The kinetics (the equations above), generic over [`Scalar`] so that the
/// same code gives values (f64) and exact directional derivatives (dual
/// numbers: forward sensitivities). `p`: SI values in `PARAMS` order; `f`:
/// a factor on each rate in `Rates` field order (`None` for the published
/// model, the same as factors of one but without the multiplications,
/// which on dual numbers are not free; the serial hybrid's rate network
/// corrects them; a corrected μ enters the yield terms corrected).
#[inline]
pub fn rates<T: Scalar>(p: &[T; NP], y: &[T; N], f: Option<&[T; 7]>) -> Rates<T> {
    // x · f_i, or x itself without factors (x · 1 = x exactly in f64).
    let by = |x: T, i: usize| match f {
        Some(f) => x * f[i],
        None => x,
    };
    // Positive parts: near a substrate's exhaustion the integrator may step
    // a hair below zero (tolerated by `negative_tolerance`); the rates must
    // then be those at zero, not of a negative concentration.
    let (glc, gln, lac, amm) = (y[GLC].pos(), y[GLN].pos(), y[LAC].pos(), y[AMM].pos());
    // Each product of Monod and inhibition fractions is one division:
    // divisions dominate the cost of this right-hand side.
    let mu = by(
        p[0] * p[4] * p[5] * glc * gln
            / ((p[2] + glc) * (p[3] + gln) * (p[4] + lac) * (p[5] + amm)),
        0,
    );
    let mu_d = by(p[1] * lac * amm / ((p[6] + lac) * (p[7] + amm)), 1);
    let q_glc = by(mu / p[8] + p[12] * depletion(glc), 2);
    let q_gln = by(mu / p[9] + p[13] * gln / (p[14] + gln), 3);
    Rates {
        mu,
        mu_d,
        q_glc,
        q_gln,
        q_lac: by(p[10] * q_glc, 4),
        q_amm: by(p[11] * mu / p[9] - p[16] * depletion(amm), 5),
        q_p: by(p[17], 6),
    }
}

/// The mass balances at state `y` with rates `r`, inflow `feed_rate` (m³/s)
/// of composition `feed` (D = F/V).
///
/// The volume depends on no parameter (dV/dt = F and the boluses are the
/// recipe's), so D is a plain number: its tangent is zero, and the
/// dilution terms scale by it without dual-number division.
#[inline]
pub fn balances<T: Scalar>(
    p: &[T; NP],
    y: &[T; N],
    r: &Rates<T>,
    feed_rate: f64,
    feed: &[f64; N],
) -> [T; N] {
    let xv = y[XV];
    let k_dgln = p[15];
    let mut dy = [T::cst(0.0); N];
    dy[XV] = (r.mu - r.mu_d) * xv;
    dy[XD] = r.mu_d * xv;
    dy[GLC] = -(r.q_glc * xv);
    dy[GLN] = -(r.q_gln * xv) - k_dgln * y[GLN];
    dy[LAC] = r.q_lac * xv;
    dy[AMM] = r.q_amm * xv + k_dgln * y[GLN];
    dy[MAB] = r.q_p * xv;
    if feed_rate > 0.0 {
        let d = feed_rate / y[V].value();
        for i in 0..V {
            dy[i] = dy[i] + (T::cst(feed[i]) - y[i]).scale(d);
        }
    }
    dy[V] = T::cst(feed_rate);
    dy
}

/// The Xing et al. (2010) CHO fed-batch model (implements [`Culture`]); parameter values and sources in `process-models/models/`.
#[derive(Debug, Clone, PartialEq)]
pub struct Xing2010 {
    /// Parameters in SI.
    pub p: Xing2010Params,
    /// The same parameters in `PARAMS` order, for [`rates`].
    si: [f64; NP],
    feed_rate: f64,
    feed: [f64; N],
    scales: SVector<f64, N>,
}

impl Xing2010 {
    /// A model with parameters `p` (SI, in [`Xing2010Params`] field order).
    pub fn new(p: Xing2010Params) -> Xing2010 {
        Xing2010 {
            p,
            si: [
                p.mu_max,
                p.mu_d_max,
                p.k_glc,
                p.k_gln,
                p.ki_lac,
                p.ki_amm,
                p.kd_lac,
                p.kd_amm,
                p.y_x_glc,
                p.y_x_gln,
                p.y_lac_glc,
                p.y_amm_gln,
                p.m_glc,
                p.a1,
                p.a2,
                p.k_dgln,
                p.r_amm,
                p.q_mab,
            ],
            feed_rate: 0.0,
            feed: [0.0; N],
            // Typical magnitudes: 1e6 cells/mL, 10 mM, 1 g/L, 1 m³.
            scales: SVector::from([1e12, 1e12, 10.0, 10.0, 10.0, 10.0, 1.0, 1.0]),
        }
    }

    /// Set-points override `scales[V]` per recipe so volume error control
    /// is relative to the actual vessel size.
    pub fn with_volume_scale(mut self, v0_m3: f64) -> Xing2010 {
        self.scales[V] = v0_m3.max(1e-9);
        self
    }

    /// The specific rates at state `y`.
    #[inline]
    pub fn rates(&self, y: &SVector<f64, N>) -> Rates<f64> {
        let yy: [f64; N] = (*y).into();
        rates(&self.si, &yy, None)
    }
}

impl OdeSystem<N> for Xing2010 {
    #[inline]
    fn rhs(&self, _t: f64, y: &SVector<f64, N>, dy: &mut SVector<f64, N>) {
        let yy: [f64; N] = (*y).into();
        let r = rates(&self.si, &yy, None);
        dy.copy_from_slice(&balances(&self.si, &yy, &r, self.feed_rate, &self.feed));
    }
    fn scales(&self) -> SVector<f64, N> {
        self.scales
    }
    fn non_negative(&self) -> [bool; N] {
        [true; N]
    }
    fn state_names(&self) -> [&'static str; N] {
        ["Xv", "Xd", "Glc", "Gln", "Lac", "Amm", "mAb", "V"]
    }
}

impl Culture<N> for Xing2010 {
    fn kinds(&self) -> [StateKind; N] {
        let mut k = [StateKind::Concentration; N];
        k[V] = StateKind::Volume;
        k
    }
    fn volume_index(&self) -> usize {
        V
    }
    fn initial_state(&self, c: &Composition, volume_m3: f64) -> Result<SVector<f64, N>, NotReady> {
        let need = |s: Species| c.get(s).ok_or(NotReady::MissingInitial(s));
        let xv = need(Species::ViableCells)?;
        let xd = match (c.get(Species::DeadCells), c.get(Species::Viability)) {
            (Some(xd), _) => xd,
            (None, Some(v)) if v > 0.0 => xv * (1.0 - v) / v,
            _ => 0.0,
        };
        Ok(SVector::from([
            xv,
            xd,
            need(Species::Glucose)?,
            need(Species::Glutamine)?,
            c.get_or_zero(Species::Lactate),
            c.get_or_zero(Species::Ammonium),
            c.get_or_zero(Species::Product),
            volume_m3,
        ]))
    }
    fn medium_vector(&self, m: &Composition) -> SVector<f64, N> {
        let mut f = SVector::zeros();
        f[GLC] = m.get_or_zero(Species::Glucose);
        f[GLN] = m.get_or_zero(Species::Glutamine);
        f[LAC] = m.get_or_zero(Species::Lactate);
        f[AMM] = m.get_or_zero(Species::Ammonium);
        f[MAB] = m.get_or_zero(Species::Product);
        f
    }
    fn set_inflow(&mut self, rate: f64, composition: &SVector<f64, N>) {
        self.feed_rate = rate;
        self.feed = (*composition).into();
    }
    fn set_setpoints(&mut self, _sp: &Setpoints) -> Result<(), NotReady> {
        Ok(()) // No temperature, pH or gas dependence in this model.
    }
    fn output_columns(&self) -> Vec<&'static str> {
        vec![
            "time_h",
            "volume_l",
            "xv_1e6_cells_per_ml",
            "xd_1e6_cells_per_ml",
            "viability_pct",
            "glucose_mm",
            "glutamine_mm",
            "lactate_mm",
            "ammonium_mm",
            "titer_g_per_l",
            "mu_per_h",
            "mu_d_per_h",
        ]
    }
    fn outputs(&self, t_s: f64, y: &SVector<f64, N>, row: &mut Vec<f64>) {
        row.clear();
        self.append_outputs(t_s, y, row);
    }
    fn append_outputs(&self, t_s: f64, y: &SVector<f64, N>, row: &mut Vec<f64>) {
        let Rates { mu, mu_d, .. } = self.rates(y);
        row.extend_from_slice(&[
            t_s / 3600.0,
            y[V] * 1e3,
            y[XV] * 1e-12,
            y[XD] * 1e-12,
            100.0 * y[XV] / (y[XV] + y[XD]),
            y[GLC],
            y[GLN],
            y[LAC],
            y[AMM],
            y[MAB],
            mu * 3600.0,
            mu_d * 3600.0,
        ]);
    }
    fn quality(&self, y: &SVector<f64, N>) -> Vec<(&'static str, f64)> {
        vec![
            ("titer_g_per_l", y[MAB]),
            ("viability_pct", 100.0 * y[XV] / (y[XV] + y[XD])),
            ("ammonium_mm", y[AMM]),
            ("lactate_mm", y[LAC]),
        ]
    }
}
