//! Platform CHO fed-batch model (family `cho_platform`): viable and dead cells
//! with lysis, glucose, glutamine, lactate production *and* consumption,
//! ammonium, product, temperature-shift effects, dissolved O₂ and CO₂ coupled
//! to the vessel, base addition and osmolality, and product-quality states.
//!
//! Equations, units and parameter sources are in `docs/models.md`; parameter
//! values in `process-models/models/cho-platform.toml`. Summary (SI inside):
//!
//! ```text
//! f_T     = exp(−Ea_mu/R (1/T − 1/T_ref))                  growth vs temperature
//! f_qp    = 1 + g_qp (T_ref − T)                            productivity gain on cooling
//! mu      = mu_max f_T f_pH · Glc/(K_glc+Glc) · Gln/(K_gln+Gln) · KI_lac/(KI_lac+Lac)
//!           · KI_amm/(KI_amm+Amm) · K_co2²/(K_co2²+pCO2²) · 1/(1+max(0,Osm−Osm_0)/K_osm) · DO/(K_do+DO)
//! mu_d    = k_d + k_d_amm Amm^n/(KD_amm^n+Amm^n) + k_d_glc K_starve/(K_starve+Glc),  n = n_d_amm
//! phi     = mu / (mu_max f_T)                                growth saturation, 0…1
//! q_glc   = mu/Y_x_glc + m_glc Glc/(K_m_glc+Glc)
//! q_gln   = mu/Y_x_gln + m_gln Gln/(K_m_gln+Gln)
//! q_lac   = Y_lac_glc q_glc phi − q_lac_max Lac/(K_lac_up+Lac) (1 − phi)   production → consumption
//! q_amm   = Y_amm_gln q_gln
//! q_p     = (alpha_lp mu + beta_lp) f_qp                     Luedeking–Piret
//! OUR     = q_o2 Xv DO/(K_o2+DO);  CPR = RQ · OUR
//! DO      : held at set-point by O₂ enrichment while kLa (C*(y_O2=1) − DO_sp) ≥ OUR, else the
//!           quasi-steady root of kLa (C*(1) − DO) = q_o2 Xv DO/(K_o2+DO)
//! pCO2    = pCO2_0 + CPR/(kLa_CO2 H_CO2) + p_mean CPR V / G            (gas_transfer)
//! dXv/dt  = (mu − mu_d) Xv − D Xv            dXd/dt = mu_d Xv − k_lys Xd − D Xd
//! dGlc/dt = −q_glc Xv + D (Glc_f − Glc)      dGln/dt = −q_gln Xv − k_dgln Gln + D (Gln_f − Gln)
//! dLac/dt = q_lac Xv − D Lac                 dAmm/dt = q_amm Xv + k_dgln Gln − D Amm
//! dP/dt   = q_p Xv − D P                     dV/dt = F + F_base,  F_base = max(q_lac Xv,0) V / c_base
//! dNa/dt  = max(q_lac Xv, 0) + D (Na_f − Na)  (base neutralising lactic acid; Na_f from the base stream)
//! Osm     = Osm_inert + 10⁻³ (Glc + Gln + Lac + Amm + Na + Gal + 2 ΔHCO3)  [mol/kg]
//! quality : dP_x/dt = f_x q_p Xv − D P_x for x ∈ {gal, afuc, man5} with logistic f_x(Amm, pH, Osm, pCO2, Mn, Gal);
//!           dP_acid/dt = f_acid0 q_p Xv + k_deam(T, pH) (P − P_acid) − D P_acid;
//!           dP_hmw/dt  = f_hmw0 q_p Xv + k_agg(T) (P − P_hmw) − D P_hmw;
//!           dHCP/dt = q_hcp Xv + hcp_lys k_lys Xd − D HCP;  dDNA/dt = dna_lys k_lys Xd − D DNA
//! ```
//! with D = (F + F_base)/V. Five cumulative amounts (product made, cells
//! grown, cells lysed, glucose consumed, base volume added) are integrated
//! alongside, so mass balances can be checked independently.

pub mod sensitivity;

use std::sync::Arc;

use nalgebra::SVector;

use super::gas_transfer::{henry_co2, henry_o2, slpm_to_mol_per_s, steady_do_with_monod_uptake};
use super::vessel::Vessel;
use super::{Culture, NotReady, StateKind};
use crate::definition::kinetic::ParamSpec;
use crate::definition::recipe::Setpoints;
use crate::definition::species::{Composition, Species};
use crate::fit::dual::Scalar;
use crate::solver::OdeSystem;
use crate::units::{GAS_CONSTANT, PA_PER_MMHG};

/// Number of states of the model.
pub const N: usize = 24;
/// State index: viable cells, cells/m³.
pub const XV: usize = 0;
/// State index: dead (non-lysed) cells, cells/m³.
pub const XD: usize = 1;
/// State index: glucose, mol/m³.
pub const GLC: usize = 2;
/// State index: glutamine, mol/m³.
pub const GLN: usize = 3;
/// State index: lactate, mol/m³.
pub const LAC: usize = 4;
/// State index: ammonium, mol/m³.
pub const AMM: usize = 5;
/// State index: product (titer), kg/m³.
pub const P: usize = 6;
/// State index: broth volume, m³.
pub const V: usize = 7;
/// State index: sodium from base addition and media, mol/m³.
pub const NA: usize = 8;
/// State index: inert (non-metabolite) osmolality, mol/kg; changes only by dilution.
pub const OSM: usize = 9;
/// State index: galactose, mol/m³.
pub const GAL: usize = 10;
/// State index: manganese, mol/m³.
pub const MN: usize = 11;
/// State index: galactosylated product, kg/m³.
pub const P_GAL: usize = 12;
/// State index: afucosylated product, kg/m³.
pub const P_AFUC: usize = 13;
/// State index: high-mannose (Man5) product, kg/m³.
pub const P_MAN5: usize = 14;
/// State index: acidic charge-variant product, kg/m³.
pub const P_ACID: usize = 15;
/// State index: high-molecular-weight (aggregated) product, kg/m³.
pub const P_HMW: usize = 16;
/// State index: host-cell protein, kg/m³.
pub const HCP: usize = 17;
/// State index: host-cell DNA, kg/m³.
pub const DNA: usize = 18;
/// State index: cumulative product made, kg (for mass-balance checks).
pub const CUM_PRODUCT: usize = 19;
/// State index: cumulative cells grown.
pub const CUM_GROWN: usize = 20;
/// State index: cumulative cells lysed.
pub const CUM_LYSED: usize = 21;
/// State index: cumulative glucose consumed, mol.
pub const CUM_GLC: usize = 22;
/// State index: cumulative base volume added, m³.
pub const CUM_BASE: usize = 23;

/// Parameters added after model files of this family existed, with the
/// value that reproduces the earlier law (model 1.0.0 had no `n_d_amm`:
/// its ammonium-induced death was the Michaelis form, n = 1).
const fn absent(name: &str) -> Option<f64> {
    match name.as_bytes() {
        b"n_d_amm" => Some(1.0),
        _ => None,
    }
}

macro_rules! params {
    ($( $field:ident : $unit:literal, $min:expr, $max:expr, $meaning:literal; )*) => {
        /// Parameter table of the family, in `PlatformParams` field order.
        pub const PARAMS: &[ParamSpec] = &[
            $( ParamSpec { name: stringify!($field), unit: $unit, min: $min, max: $max, meaning: $meaning, absent: absent(stringify!($field)) }, )*
        ];
        /// Parameters in SI, generic over the number type so the same
        /// equations run on `f64` and on dual numbers (sensitivities).
        #[derive(Debug, Clone, Copy, PartialEq)]
        #[allow(non_snake_case)]
        pub struct Params<T> { $( #[doc = concat!($meaning, " (canonical unit ", $unit, "; held in SI).")] pub $field: T, )* }
        impl PlatformParams {
            /// From SI values in `PARAMS` order.
            pub fn from_si(v: &[f64]) -> PlatformParams {
                let mut it = v.iter().copied();
                Params { $( $field: it.next().unwrap_or(f64::NAN), )* }
            }
        }
        impl<T: Copy> Params<T> {
            /// Each parameter through `f(index in PARAMS, value)`.
            #[allow(unused_assignments)]
            pub fn map<U>(&self, mut f: impl FnMut(usize, T) -> U) -> Params<U> {
                let mut i = 0usize;
                Params { $( $field: { let u = f(i, self.$field); i += 1; u }, )* }
            }
        }
    };
}

params! {
    mu_max: "1/h", 0.0, 0.2, "maximum specific growth rate at T_ref";
    T_ref: "K", 300.0, 315.0, "reference temperature of rates";
    Ea_mu: "kJ/mol", 0.0, 300.0, "apparent activation energy of growth";
    pH_opt: "1", 6.5, 7.5, "pH of fastest growth";
    pH_width: "1", 0.05, 2.0, "width of the Gaussian pH factor on growth";
    K_glc: "mM", 0.0, 20.0, "Monod constant glucose";
    K_gln: "mM", 0.0, 20.0, "Monod constant glutamine";
    KI_lac: "mM", 1.0, 1e6, "lactate growth-inhibition constant";
    KI_amm: "mM", 0.1, 1e6, "ammonium growth-inhibition constant";
    K_pco2: "mmHg", 10.0, 1e5, "pCO2 at which growth is halved (Hill n = 2)";
    Osm_0: "mOsm/kg", 200.0, 600.0, "osmolality above which growth slows";
    K_osm: "mOsm/kg", 1.0, 1e5, "osmolality excess that halves growth";
    K_do: "mM", 0.0, 0.2, "Monod constant dissolved O2 on growth";
    k_d: "1/h", 0.0, 0.1, "basal specific death rate";
    k_d_amm: "1/h", 0.0, 0.5, "maximum ammonium-induced death rate";
    KD_amm: "mM", 0.1, 1e4, "ammonium constant of death";
    n_d_amm: "1", 1.0, 6.0, "Hill exponent of ammonium-induced death (1: Michaelis form)";
    k_d_glc: "1/h", 0.0, 0.5, "maximum death rate under glucose starvation";
    K_starve: "mM", 0.0, 10.0, "glucose level at which starvation death is half-maximal";
    k_lys: "1/h", 0.0, 0.5, "lysis rate of dead cells";
    Y_x_glc: "cells/mmol", 1e6, 1e11, "cell yield on glucose";
    m_glc: "mmol/(cell h)", 0.0, 1e-9, "glucose maintenance coefficient";
    K_m_glc: "mM", 0.0, 20.0, "saturation constant of glucose maintenance";
    Y_x_gln: "cells/mmol", 1e6, 1e12, "cell yield on glutamine";
    m_gln: "mmol/(cell h)", 0.0, 1e-9, "glutamine maintenance coefficient";
    K_m_gln: "mM", 0.0, 20.0, "saturation constant of glutamine maintenance";
    k_dgln: "1/h", 0.0, 0.1, "spontaneous glutamine degradation to ammonium";
    Y_lac_glc: "mmol/mmol", 0.0, 2.0, "lactate yield on glucose while growing";
    q_lac_max: "mmol/(cell h)", 0.0, 1e-9, "maximum specific lactate consumption";
    K_lac_up: "mM", 0.0, 100.0, "saturation constant of lactate consumption";
    Y_amm_gln: "mmol/mmol", 0.0, 2.0, "ammonium yield on glutamine";
    alpha_lp: "pg/cell", 0.0, 1e4, "growth-associated product yield (Luedeking–Piret)";
    beta_lp: "pg/(cell d)", 0.0, 200.0, "non-growth-associated specific productivity";
    g_qp: "1/K", 0.0, 1.0, "relative gain of productivity per kelvin below T_ref";
    q_o2: "pmol/(cell h)", 0.0, 5.0, "specific oxygen uptake rate";
    K_o2: "mM", 0.0, 0.1, "Monod constant of O2 uptake";
    RQ: "mol/mol", 0.5, 1.5, "respiratory quotient CPR/OUR";
    kla_co2_ratio: "1", 0.5, 1.0, "kLa of CO2 relative to O2";
    pco2_0: "mmHg", 0.0, 200.0, "pCO2 from medium bicarbonate and pH-control CO2 at zero respiration";
    pK_co2: "1", 5.5, 6.8, "apparent first dissociation constant of CO2 in medium";
    gal_ref: "%", 0.1, 99.9, "galactosylated fraction at reference conditions";
    afuc_ref: "%", 0.1, 99.9, "afucosylated fraction at reference conditions";
    man5_ref: "%", 0.1, 99.9, "high-mannose fraction at reference conditions";
    gal_amm: "1/mM", -2.0, 2.0, "logit change of galactosylation per mM ammonium";
    gal_ph: "1", -10.0, 10.0, "logit change of galactosylation per pH unit above 7";
    gal_osm: "1/(mOsm/kg)", -0.1, 0.1, "logit change of galactosylation per mOsm/kg above 300";
    gal_pco2: "1/mmHg", -0.1, 0.1, "logit change of galactosylation per mmHg above 50";
    gal_mn: "1", -10.0, 10.0, "logit gain of galactosylation at saturating manganese";
    K_mn: "uM", 0.0, 1e3, "manganese level of half the effect";
    gal_gal: "1", -10.0, 10.0, "logit gain of galactosylation at saturating galactose";
    K_gal: "mM", 0.0, 1e3, "galactose level of half the effect";
    afuc_osm: "1/(mOsm/kg)", -0.1, 0.1, "logit change of afucosylation per mOsm/kg above 300";
    afuc_amm: "1/mM", -2.0, 2.0, "logit change of afucosylation per mM ammonium";
    man5_osm: "1/(mOsm/kg)", -0.1, 0.1, "logit change of high mannose per mOsm/kg above 300";
    man5_amm: "1/mM", -2.0, 2.0, "logit change of high mannose per mM ammonium";
    man5_mn: "1", -10.0, 10.0, "logit change of high mannose at saturating manganese";
    q_gal: "mmol/(cell h)", 0.0, 1e-9, "specific galactose uptake at saturation";
    f_acid0: "%", 0.0, 100.0, "acidic variants in newly secreted product";
    k_deam: "1/d", 0.0, 1.0, "deamidation (acidic-variant formation) rate at T_ref, pH 7";
    Ea_deam: "kJ/mol", 0.0, 300.0, "activation energy of deamidation";
    b_ph_deam: "1", 0.0, 3.0, "log10 rate increase of deamidation per pH unit";
    f_hmw0: "%", 0.0, 100.0, "HMW species in newly secreted product";
    k_agg: "1/d", 0.0, 1.0, "aggregation rate of product in culture at T_ref";
    Ea_agg: "kJ/mol", 0.0, 300.0, "activation energy of aggregation";
    q_hcp: "pg/(cell d)", 0.0, 100.0, "HCP secretion by viable cells";
    hcp_lys: "pg/cell", 0.0, 1e3, "HCP released per lysed cell";
    dna_lys: "pg/cell", 0.0, 100.0, "DNA released per lysed cell";
}

/// The parameters in SI as numbers.
pub type PlatformParams = Params<f64>;

/// End-of-batch quality attributes reported by `quality`.
pub const QUALITY: &[&str] = &[
    "titer_g_per_l",
    "viability_pct",
    "galactosylated_pct",
    "afucosylated_pct",
    "high_mannose_pct",
    "acidic_variants_pct",
    "hmw_pct",
    "hcp_mg_per_l",
    "dna_mg_per_l",
    "osmolality_mosm_per_kg",
    "ammonium_mm",
    "lactate_g_per_l",
];

/// Operating conditions fixed within a segment (independent of the model
/// parameters; what depends on them is in [`Derived`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Conditions {
    temperature_k: f64,
    ph: f64,
    do_fraction: f64,
    do_setpoint: f64,
    agitation_rps: f64,
    sparge_slpm: f64,
    base_mol_per_m3: f64,
    // Derived once per segment.
    kla_o2: f64,
    kla_ref_volume: f64,
    pressure_pa: f64,
    gas_mol_per_s: f64,
    h_o2: f64,
    h_co2: f64,
}

/// The vessel's gas transfer in a segment, evaluated at the volume at its
/// start (generic: through that volume it depends on the parameters).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gas<T> {
    /// Oxygen volumetric mass-transfer coefficient kLa, 1/s.
    pub kla_o2: T,
    /// Absolute gas pressure in the vessel, Pa.
    pub pressure_pa: T,
    /// Dissolved-O₂ set-point, mol/m³.
    pub do_setpoint: T,
}

/// Quantities computed once per segment from the parameters and the
/// set-points (generic, so sensitivities pass through them).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Derived<T> {
    f_t_mu: T,
    f_ph: T,
    f_qp: T,
    k_deam: T,
    k_agg: T,
    hco3_per_co2: T,
    /// Bicarbonate at the start of the batch, mol/m³ (osmolality baseline).
    hco3_0: T,
    logit_gal: T,
    logit_afuc: T,
    logit_man5: T,
}

impl<T: Scalar> Derived<T> {
    /// Before any set-points: reference conditions.
    fn initial(p: &Params<T>) -> Derived<T> {
        Derived {
            f_t_mu: T::cst(1.0),
            f_ph: T::cst(1.0),
            f_qp: T::cst(1.0),
            k_deam: T::cst(0.0),
            k_agg: T::cst(0.0),
            hco3_per_co2: T::cst(0.0),
            hco3_0: T::cst(0.0),
            logit_gal: logit(p.gal_ref),
            logit_afuc: logit(p.afuc_ref),
            logit_man5: logit(p.man5_ref),
        }
    }

    /// At set-points temperature `t` (K) and `ph`; the batch-start
    /// bicarbonate is fixed at the first set-points that give one.
    fn at(&mut self, p: &Params<T>, t: f64, ph: f64, h_co2: f64) {
        // Written in the operation order of the f64 model it replaced, so
        // plain runs stay bit-identical.
        let inv = T::cst(1.0 / t) - T::cst(1.0) / p.T_ref;
        let r = T::cst(GAS_CONSTANT);
        let ten = T::cst(10.0);
        self.f_t_mu = (-p.Ea_mu / r * inv).exp();
        let z = (T::cst(ph) - p.pH_opt) / p.pH_width;
        self.f_ph = (-(z * z)).exp();
        self.f_qp = (T::cst(1.0) + p.g_qp * (p.T_ref - T::cst(t))).pos();
        self.k_deam =
            p.k_deam * (-p.Ea_deam / r * inv).exp() * ten.powf(p.b_ph_deam * T::cst(ph - 7.0));
        self.k_agg = p.k_agg * (-p.Ea_agg / r * inv).exp();
        self.hco3_per_co2 = ten.powf(T::cst(ph) - p.pK_co2);
        if self.hco3_0.value() == 0.0 {
            self.hco3_0 = self.hco3_per_co2 * T::cst(h_co2) * p.pco2_0;
        }
    }
}

/// The platform CHO model bound to its vessel (implements [`Culture`]).
#[derive(Debug, Clone)]
pub struct ChoPlatform {
    /// Parameters in SI.
    pub p: PlatformParams,
    vessel: Arc<dyn Vessel>,
    c: Conditions,
    d: Derived<f64>,
    feed_rate: f64,
    feed: SVector<f64, N>,
    scales: SVector<f64, N>,
}

/// Mechanisms the nominal model lacks, for a plant that must differ from it
/// in *structure*, not only in parameter values (the structural-mismatch
/// plant of `biotwin_ml::datagen::structural`, docs/hybrid.md). The nominal
/// model is [`Variant::NOMINAL`]; nothing else sets a variant.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Variant {
    /// Lactate metabolism has switched to consumption: q_lac =
    /// −q_lac_max Lac/(K_lac_up + Lac), the nominal uptake term at full
    /// capacity, no production.
    pub lactate_consuming: bool,
    /// Basal and ammonium death k_d (1 + (Amm/K)²) with this K (mol/m³ =
    /// mM) in place of the nominal k_d + k_d_amm Amm/(KD_amm + Amm); the
    /// starvation term k_d_glc K_starve/(K_starve + Glc) is kept.
    pub quadratic_ammonium_death_mol_per_m3: Option<f64>,
}

impl Variant {
    /// The nominal model's mechanisms.
    pub const NOMINAL: Variant = Variant {
        lactate_consuming: false,
        quadratic_ammonium_death_mol_per_m3: None,
    };
}

/// Algebraic quantities of a state: used by the RHS and by outputs.
pub type Algebraic = AlgebraicOf<f64>;

/// [`Algebraic`] for any number type.
#[derive(Debug, Clone, Copy, Default)]
pub struct AlgebraicOf<T> {
    /// Specific growth rate μ, 1/s.
    pub mu: T,
    /// Specific death rate μd, 1/s.
    pub mu_d: T,
    /// Specific glucose uptake rate, mol/(cell s).
    pub q_glc: T,
    /// Specific glutamine uptake rate, mol/(cell s).
    pub q_gln: T,
    /// Specific lactate rate (positive: production), mol/(cell s).
    pub q_lac: T,
    /// Specific product formation rate, kg/(cell s).
    pub q_p: T,
    /// Oxygen uptake rate OUR, mol/(m³ s).
    pub our: T,
    /// Dissolved O₂, mol/m³.
    pub do_mol_per_m3: T,
    /// O₂ fraction of the sparge gas (the controller's output; no
    /// sensitivity is carried through it).
    pub o2_fraction: f64,
    /// Partial pressure of dissolved CO₂, Pa.
    pub pco2_pa: T,
    /// Osmolality, mol/kg.
    pub osm_mol_per_kg: T,
    /// Oxygen kLa, 1/s.
    pub kla_o2: T,
}

/// Hill saturation c^n/(K^n + c^n) of a non-negative level `c` (n = 1 is
/// the Michaelis form; written as 1/(1 + (K/c)^n) so large n cannot
/// overflow).
#[inline]
fn hill<T: Scalar>(c: T, k: T, n: T) -> T {
    if c.value() <= 0.0 {
        return T::cst(0.0);
    }
    if n.value() == 1.0 && n.is_constant() {
        return c / (k + c);
    }
    T::cst(1.0) / (T::cst(1.0) + (k / c).powf(n))
}

#[inline]
fn logistic<T: Scalar>(x: T) -> T {
    T::cst(1.0) / (T::cst(1.0) + (-x).exp())
}
#[inline]
fn logit<T: Scalar>(p: T) -> T {
    (p / (T::cst(1.0) - p)).ln()
}

/// The model's equations (module docs), generic over the number type: one
/// implementation for plain runs (`f64`) and for forward sensitivities
/// (dual numbers, [`crate::fit::dual`]). Parameters reach the right-hand
/// side as an argument.
pub struct Equations<'a, T> {
    /// Parameters.
    pub p: &'a Params<T>,
    /// Quantities derived once per segment from parameters and set-points.
    pub d: &'a Derived<T>,
    c: &'a Conditions,
    /// Gas transfer of the segment.
    pub g: Gas<T>,
    /// Which variant of the equations runs.
    pub variant: Variant,
}

impl<T: Scalar> Equations<'_, T> {
    /// Quasi-steady gas state, rates and osmolality at state `y`.
    #[inline]
    pub fn algebraic(&self, y: &[T; N]) -> AlgebraicOf<T> {
        let p = self.p;
        let c = self.c;
        let d = self.d;
        let xv = y[XV].pos();
        let (glc, gln, lac, amm) = (y[GLC].pos(), y[GLN].pos(), y[LAC].pos(), y[AMM].pos());
        // Dissolved O2: the controller holds the set-point while pure O2 suffices.
        let g = self.g;
        let kla = g.kla_o2;
        let c_star_o2 = T::cst(c.h_o2) * g.pressure_pa; // y_O2 = 1
        let our_max = p.q_o2 * xv;
        let do_sp = g.do_setpoint;
        let our_at_sp = our_max * do_sp / (p.K_o2 + do_sp);
        let (do_c, o2_fraction) =
            if kla.value() * (c_star_o2.value() - do_sp.value()) >= our_at_sp.value() {
                let y_req = (our_at_sp.value() / kla.value().max(1e-30) + do_sp.value())
                    / c_star_o2.value();
                (do_sp, y_req.clamp(super::gas_transfer::Y_O2_AIR, 1.0))
            } else {
                (
                    steady_do_with_monod_uptake(kla, c_star_o2, our_max, p.K_o2),
                    1.0,
                )
            };
        let our = our_max * do_c / (p.K_o2 + do_c);
        let cpr = p.RQ * our;
        let v = y[V];
        let pco2_pa = p.pco2_0
            + if c.gas_mol_per_s > 0.0 && kla.value() > 0.0 {
                cpr / (p.kla_co2_ratio * kla).scale(c.h_co2)
                    + (g.pressure_pa * cpr * v).over(c.gas_mol_per_s)
            } else {
                T::cst(0.0)
            };
        let hco3 = d.hco3_per_co2.scale(c.h_co2) * pco2_pa;
        let osm = y[OSM]
            + (glc
                + gln
                + lac
                + amm
                + y[NA].pos()
                + y[GAL].pos()
                + (hco3 - d.hco3_0).pos().scale(2.0))
            .scale(1e-3);
        let k2 = p.K_pco2 * p.K_pco2;
        let f_pco2 = k2 / (k2 + pco2_pa * pco2_pa);
        let f_osm = T::cst(1.0) / (T::cst(1.0) + (osm - p.Osm_0).pos() / p.K_osm);
        let mu_sat = d.f_t_mu * d.f_ph * p.mu_max;
        // One division for the whole Monod/inhibition product.
        let phi = glc * gln * p.KI_lac * p.KI_amm * do_c * f_pco2 * f_osm
            / ((p.K_glc + glc)
                * (p.K_gln + gln)
                * (p.KI_lac + lac)
                * (p.KI_amm + amm)
                * (p.K_do + do_c));
        let mu = mu_sat * phi;
        let ammonium_death = match self.variant.quadratic_ammonium_death_mol_per_m3 {
            Some(k) => {
                let r = amm / T::cst(k);
                p.k_d * (T::cst(1.0) + r * r)
            }
            None => p.k_d + p.k_d_amm * hill(amm, p.KD_amm, p.n_d_amm),
        };
        let mu_d = ammonium_death + p.k_d_glc * p.K_starve / (p.K_starve + glc);
        let q_glc = mu / p.Y_x_glc + p.m_glc * glc / (p.K_m_glc + glc);
        let q_gln = mu / p.Y_x_gln + p.m_gln * gln / (p.K_m_gln + gln);
        let q_lac = if self.variant.lactate_consuming {
            -p.q_lac_max * lac / (p.K_lac_up + lac)
        } else {
            p.Y_lac_glc * q_glc * phi - p.q_lac_max * lac / (p.K_lac_up + lac) * (T::cst(1.0) - phi)
        };
        let q_p = (p.alpha_lp * mu + p.beta_lp) * d.f_qp;
        AlgebraicOf {
            mu,
            mu_d,
            q_glc,
            q_gln,
            q_lac,
            q_p,
            our,
            do_mol_per_m3: do_c,
            o2_fraction,
            pco2_pa,
            osm_mol_per_kg: osm,
            kla_o2: kla,
        }
    }

    /// Glycan fractions of newly made product: (galactosylated, afucosylated, high mannose).
    #[inline]
    fn glycan_fractions(&self, y: &[T; N], a: &AlgebraicOf<T>) -> (T, T, T) {
        let p = self.p;
        let d = self.d;
        let amm = y[AMM].pos();
        // Reference conditions of the logistic responses: 300 mOsm/kg, 50 mmHg.
        let d_osm = a.osm_mol_per_kg - T::cst(0.300);
        let d_pco2 = a.pco2_pa - T::cst(50.0 * PA_PER_MMHG);
        let mn_sat = y[MN].pos() / (p.K_mn + y[MN].pos());
        let gal_sat = y[GAL].pos() / (p.K_gal + y[GAL].pos());
        let gal = logistic(
            d.logit_gal
                + p.gal_amm * amm
                + p.gal_ph * T::cst(self.c.ph - 7.0)
                + p.gal_osm * d_osm
                + p.gal_pco2 * d_pco2
                + p.gal_mn * mn_sat
                + p.gal_gal * gal_sat,
        );
        let afuc = logistic(d.logit_afuc + p.afuc_osm * d_osm + p.afuc_amm * amm);
        let man5 =
            logistic(d.logit_man5 + p.man5_osm * d_osm + p.man5_amm * amm + p.man5_mn * mn_sat);
        (gal, afuc, man5)
    }

    /// The right-hand side with a continuous inflow of `feed_rate` (m³/s)
    /// of composition `feed`; returns the rates it used.
    #[inline]
    pub fn rhs(
        &self,
        y: &[T; N],
        feed_rate: f64,
        feed: &SVector<f64, N>,
        dy: &mut [T; N],
    ) -> AlgebraicOf<T> {
        let p = self.p;
        let d = self.d;
        let a = self.algebraic(y);
        let xv = y[XV];
        let xd = y[XD];
        let v = y[V];
        let r_lac = a.q_lac * xv;
        let base = r_lac.pos(); // mol/(m³ s) of Na⁺ to neutralise lactic acid
        let f_base = (base * v).over(self.c.base_mol_per_m3);
        let dil = (T::cst(feed_rate) + f_base) / v;
        let r_p = a.q_p * xv;
        let lysis = p.k_lys * xd;
        let (f_gal, f_afuc, f_man5) = self.glycan_fractions(y, &a);
        dy[XV] = (a.mu - a.mu_d) * xv;
        dy[XD] = a.mu_d * xv - lysis;
        dy[GLC] = -a.q_glc * xv;
        dy[GLN] = -a.q_gln * xv - p.k_dgln * y[GLN];
        dy[LAC] = r_lac;
        dy[AMM] = p.Y_amm_gln * a.q_gln * xv + p.k_dgln * y[GLN];
        dy[P] = r_p;
        dy[NA] = base;
        dy[OSM] = T::cst(0.0);
        dy[GAL] = -p.q_gal * y[GAL].pos() / (p.K_gal + y[GAL].pos()) * xv;
        dy[MN] = T::cst(0.0);
        dy[P_GAL] = f_gal * r_p;
        dy[P_AFUC] = f_afuc * r_p;
        dy[P_MAN5] = f_man5 * r_p;
        dy[P_ACID] = p.f_acid0 * r_p + d.k_deam * (y[P] - y[P_ACID]);
        dy[P_HMW] = p.f_hmw0 * r_p + d.k_agg * (y[P] - y[P_HMW]);
        dy[HCP] = p.q_hcp * xv + p.hcp_lys * lysis;
        dy[DNA] = p.dna_lys * lysis;
        // Dilution by feed and base: d (c_in − c) with the inflow's mixed
        // composition c_in = feed · F/(F + F_base); the base stream's Na⁺ is
        // in dy[NA] already.
        if dil.value() > 0.0 {
            let share = T::cst(feed_rate) / (T::cst(feed_rate) + f_base);
            for i in (0..V).chain(NA..CUM_PRODUCT) {
                dy[i] = dy[i] + dil * (share.scale(feed[i]) - y[i]);
            }
        }
        dy[V] = T::cst(feed_rate) + f_base;
        dy[CUM_PRODUCT] = r_p * v;
        dy[CUM_GROWN] = a.mu * xv * v;
        dy[CUM_LYSED] = lysis * v;
        dy[CUM_GLC] = a.q_glc * xv * v;
        dy[CUM_BASE] = f_base;
        a
    }

    /// The output row (the columns of `output_columns`) at state `y`.
    #[inline]
    pub fn outputs(&self, t_s: f64, y: &[T; N], a: &AlgebraicOf<T>) -> [T; N_OUTPUTS] {
        // Literal indices: each call folds to its column's expression.
        macro_rules! columns {
            ($($c:literal),*) => { [$(self.output($c, t_s, y, a)),*] };
        }
        columns!(
            0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23,
            24, 25, 26, 27, 28, 29
        )
    }

    /// Output column `c` (an index into [`OUTPUT_COLUMNS`]) at state `y`:
    /// the one definition of every column, so that a caller needing a few
    /// columns (a fit's sensitivity run) computes only those.
    #[inline(always)]
    pub fn output(&self, c: usize, t_s: f64, y: &[T; N], a: &AlgebraicOf<T>) -> T {
        let k = self.c;
        let frac = |i: usize| {
            if y[P].value() > 0.0 {
                T::cst(100.0) * y[i] / y[P]
            } else {
                T::cst(f64::NAN)
            }
        };
        match c {
            0 => T::cst(t_s / 3600.0),
            1 => y[V] * T::cst(1e3),
            2 => y[XV] * T::cst(1e-12),
            3 => y[XD] * T::cst(1e-12),
            4 => T::cst(100.0) * y[XV] / (y[XV] + y[XD]),
            5 => y[GLC] * T::cst(0.180_156),
            6 => y[GLN],
            7 => y[LAC] * T::cst(0.089_07),
            8 => y[AMM],
            9 => y[P],
            10 => a.mu * T::cst(86400.0),
            11 => a.q_p * T::cst(1e15) * T::cst(86400.0),
            12 => T::cst(k.temperature_k - 273.15),
            13 => T::cst(k.ph),
            14 => {
                let air_sat = T::cst(k.h_o2 * super::gas_transfer::Y_O2_AIR) * self.g.pressure_pa;
                T::cst(100.0) * a.do_mol_per_m3 / air_sat
            }
            15 => T::cst(100.0 * a.o2_fraction),
            16 => a.kla_o2 * T::cst(3600.0),
            17 => a.our * T::cst(3600.0),
            18 => a.pco2_pa / T::cst(PA_PER_MMHG),
            19 => a.osm_mol_per_kg * T::cst(1e3),
            20 => y[CUM_BASE] * T::cst(1e3),
            21 => y[GAL],
            22 => y[MN] * T::cst(1e3),
            23 => frac(P_GAL),
            24 => frac(P_AFUC),
            25 => frac(P_MAN5),
            26 => frac(P_ACID),
            27 => frac(P_HMW),
            28 => y[HCP] * T::cst(1e3),
            29 => y[DNA] * T::cst(1e3),
            _ => T::cst(f64::NAN),
        }
    }
}

/// Number of output columns.
pub const N_OUTPUTS: usize = 30;

/// Names of the output columns, units in the names.
pub const OUTPUT_COLUMNS: [&str; N_OUTPUTS] = [
    "time_h",
    "volume_l",
    "xv_1e6_cells_per_ml",
    "xd_1e6_cells_per_ml",
    "viability_pct",
    "glucose_g_per_l",
    "glutamine_mm",
    "lactate_g_per_l",
    "ammonium_mm",
    "titer_g_per_l",
    "mu_per_d",
    "qp_pg_per_cell_per_d",
    "temperature_c",
    "ph",
    "do_pct",
    "o2_in_sparge_pct",
    "kla_per_h",
    "our_mmol_per_l_per_h",
    "pco2_mmhg",
    "osmolality_mosm_per_kg",
    "base_added_l",
    "galactose_mm",
    "manganese_um",
    "galactosylated_pct",
    "afucosylated_pct",
    "high_mannose_pct",
    "acidic_variants_pct",
    "hmw_pct",
    "hcp_mg_per_l",
    "dna_mg_per_l",
];

#[inline]
fn as_array<const K: usize>(y: &SVector<f64, K>) -> &[f64; K] {
    y.as_slice().try_into().expect("an SVector holds K values")
}

impl ChoPlatform {
    /// A model with SI parameters `p` on `vessel`, whose broth starts at `v0_m3` (m³).
    pub fn new(p: PlatformParams, vessel: Arc<dyn Vessel>, v0_m3: f64) -> ChoPlatform {
        let mut scales = SVector::from([1.0; N]);
        for (i, s) in [
            (XV, 1e12),
            (XD, 1e12),
            (GLC, 10.0),
            (GLN, 1.0),
            (LAC, 10.0),
            (AMM, 1.0),
            (P, 1.0),
            (V, v0_m3),
            (NA, 10.0),
            (OSM, 0.3),
            (GAL, 1.0),
            (MN, 1e-3),
            (P_GAL, 0.3),
            (P_AFUC, 0.1),
            (P_MAN5, 0.05),
            (P_ACID, 0.3),
            (P_HMW, 0.02),
            (HCP, 0.1),
            (DNA, 0.01),
            (CUM_PRODUCT, v0_m3),
            (CUM_GROWN, 1e13 * v0_m3),
            (CUM_LYSED, 1e12 * v0_m3),
            (CUM_GLC, 10.0 * v0_m3),
            (CUM_BASE, 0.01 * v0_m3),
        ] {
            scales[i] = s;
        }
        let mut m = ChoPlatform {
            p,
            vessel,
            c: Conditions {
                temperature_k: p.T_ref,
                ph: 7.0,
                do_fraction: 0.0,
                do_setpoint: 0.0,
                agitation_rps: 0.0,
                sparge_slpm: 0.0,
                base_mol_per_m3: 1000.0,
                kla_o2: 0.0,
                kla_ref_volume: v0_m3,
                pressure_pa: 101_325.0,
                gas_mol_per_s: 0.0,
                h_o2: henry_o2(p.T_ref),
                h_co2: henry_co2(p.T_ref),
            },
            d: Derived::initial(&p),
            feed_rate: 0.0,
            feed: SVector::zeros(),
            scales,
        };
        m.update_gas(v0_m3);
        m
    }

    /// Pressure, kLa and DO set-point (mol/m³) at broth volume `volume_m3`
    /// with the current set-points.
    fn gas_at(&self, volume_m3: f64) -> Gas<f64> {
        let c = &self.c;
        let pressure_pa = self.vessel.mean_pressure_pa(volume_m3);
        let q_actual =
            c.sparge_slpm * 1e-3 / 60.0 * (c.temperature_k / 273.15) * (101_325.0 / pressure_pa);
        Gas {
            pressure_pa,
            kla_o2: self
                .vessel
                .kla_o2_per_s(c.agitation_rps, q_actual, volume_m3),
            // 100 % DO is air saturation at the mean liquid pressure.
            do_setpoint: c.do_fraction * c.h_o2 * super::gas_transfer::Y_O2_AIR * pressure_pa,
        }
    }

    fn update_gas(&mut self, volume_m3: f64) {
        let g = self.gas_at(volume_m3);
        let c = &mut self.c;
        c.pressure_pa = g.pressure_pa;
        c.kla_o2 = g.kla_o2;
        c.kla_ref_volume = volume_m3;
        c.gas_mol_per_s = slpm_to_mol_per_s(c.sparge_slpm);
        c.do_setpoint = g.do_setpoint;
    }

    #[inline]
    fn gas(&self) -> Gas<f64> {
        Gas {
            kla_o2: self.c.kla_o2,
            pressure_pa: self.c.pressure_pa,
            do_setpoint: self.c.do_setpoint,
        }
    }

    /// The equations with this model's parameters and conditions.
    #[inline]
    fn equations(&self, variant: Variant) -> Equations<'_, f64> {
        Equations {
            p: &self.p,
            d: &self.d,
            c: &self.c,
            g: self.gas(),
            variant,
        }
    }

    /// Quasi-steady gas state, rates and osmolality at state `y`.
    #[inline]
    pub fn algebraic(&self, y: &SVector<f64, N>) -> Algebraic {
        self.algebraic_with(y, Variant::NOMINAL)
    }

    /// As [`ChoPlatform::algebraic`], with the mechanisms of `variant` in place
    /// of the nominal ones (only the death rate and q_lac can differ).
    #[inline]
    pub fn algebraic_with(&self, y: &SVector<f64, N>, variant: Variant) -> Algebraic {
        self.equations(variant).algebraic(as_array(y))
    }

    /// The right-hand side with the mechanisms of `variant` (the nominal model's
    /// is `Variant::NOMINAL`); returns the rates it used.
    #[inline]
    pub fn rhs_with(
        &self,
        y: &SVector<f64, N>,
        variant: Variant,
        dy: &mut SVector<f64, N>,
    ) -> Algebraic {
        let dy: &mut [f64; N] = dy
            .as_mut_slice()
            .try_into()
            .expect("an SVector holds N values");
        self.equations(variant)
            .rhs(as_array(y), self.feed_rate, &self.feed, dy)
    }
}

impl OdeSystem<N> for ChoPlatform {
    #[inline]
    fn rhs(&self, _t: f64, y: &SVector<f64, N>, dy: &mut SVector<f64, N>) {
        self.rhs_with(y, Variant::NOMINAL, dy);
    }
    fn scales(&self) -> SVector<f64, N> {
        self.scales
    }
    fn non_negative(&self) -> [bool; N] {
        [true; N]
    }
    fn state_names(&self) -> [&'static str; N] {
        [
            "Xv",
            "Xd",
            "Glc",
            "Gln",
            "Lac",
            "Amm",
            "P",
            "V",
            "Na",
            "Osm_inert",
            "Gal",
            "Mn",
            "P_gal",
            "P_afuc",
            "P_man5",
            "P_acid",
            "P_hmw",
            "HCP",
            "DNA",
            "cum_product",
            "cum_grown",
            "cum_lysed",
            "cum_glc",
            "cum_base",
        ]
    }
}

/// Osmotically active concentration of the tracked solutes of a composition, mol/kg.
fn tracked_osm(c: &Composition) -> f64 {
    1e-3 * [
        Species::Glucose,
        Species::Glutamine,
        Species::Lactate,
        Species::Ammonium,
        Species::Galactose,
    ]
    .iter()
    .map(|&s| c.get_or_zero(s))
    .sum::<f64>()
}

impl Culture<N> for ChoPlatform {
    fn kinds(&self) -> [StateKind; N] {
        let mut k = [StateKind::Concentration; N];
        k[V] = StateKind::Volume;
        for i in CUM_PRODUCT..N {
            k[i] = StateKind::Amount;
        }
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
        let osm_total = need(Species::Osmolality)?;
        let inert = osm_total - tracked_osm(c);
        if inert < 0.0 {
            return Err(NotReady::OutOfRange {
                field: "initial.osmolality_mosm_per_kg",
                expected: format!(
                    "at least {:.0} mOsm/kg (the listed solutes alone)",
                    tracked_osm(c) * 1e3
                ),
                found: format!("{:.0} mOsm/kg", osm_total * 1e3),
            });
        }
        let p = c.get_or_zero(Species::Product);
        let mut y = SVector::zeros();
        y[XV] = xv;
        y[XD] = xd;
        y[GLC] = need(Species::Glucose)?;
        y[GLN] = need(Species::Glutamine)?;
        y[LAC] = c.get_or_zero(Species::Lactate);
        y[AMM] = c.get_or_zero(Species::Ammonium);
        y[P] = p;
        y[V] = volume_m3;
        y[OSM] = inert;
        y[GAL] = c.get_or_zero(Species::Galactose);
        y[MN] = c.get_or_zero(Species::Manganese);
        // Carried-over product is taken at the reference glycan profile.
        y[P_GAL] = self.p.gal_ref * p;
        y[P_AFUC] = self.p.afuc_ref * p;
        y[P_MAN5] = self.p.man5_ref * p;
        y[P_ACID] = self.p.f_acid0 * p;
        y[P_HMW] = self.p.f_hmw0 * p;
        Ok(y)
    }
    fn medium_vector(&self, m: &Composition) -> SVector<f64, N> {
        let mut f = SVector::zeros();
        f[GLC] = m.get_or_zero(Species::Glucose);
        f[GLN] = m.get_or_zero(Species::Glutamine);
        f[LAC] = m.get_or_zero(Species::Lactate);
        f[AMM] = m.get_or_zero(Species::Ammonium);
        f[GAL] = m.get_or_zero(Species::Galactose);
        f[MN] = m.get_or_zero(Species::Manganese);
        // A medium without a stated osmolality contributes only its tracked solutes.
        f[OSM] = m
            .get(Species::Osmolality)
            .map(|o| (o - tracked_osm(m)).max(0.0))
            .unwrap_or(0.0);
        f
    }
    fn set_inflow(&mut self, rate: f64, composition: &SVector<f64, N>) {
        self.feed_rate = rate;
        self.feed = *composition;
    }
    fn set_setpoints(&mut self, sp: &Setpoints) -> Result<(), NotReady> {
        let missing = |setpoint: &'static str| NotReady::MissingSetpoint {
            setpoint,
            model: "cho_platform",
        };
        let t = sp.temperature_k.ok_or_else(|| missing("temperature_c"))?;
        let ph = sp.ph.ok_or_else(|| missing("ph"))?;
        let do_frac = sp.do_fraction.ok_or_else(|| missing("do_pct"))?;
        let n = sp.agitation_rps.ok_or_else(|| missing("agitation_rpm"))?;
        let q = sp.sparge_slpm.ok_or_else(|| missing("sparge_slpm"))?;
        if q <= 0.0 {
            return Err(NotReady::OutOfRange {
                field: "setpoints.sparge_slpm",
                expected: "a positive gas flow (CO2 is stripped by the sparge gas)".into(),
                found: format!("{q} slpm"),
            });
        }
        let c = &mut self.c;
        c.temperature_k = t;
        c.ph = ph;
        c.agitation_rps = n;
        c.sparge_slpm = q;
        c.base_mol_per_m3 = sp.base_concentration_mol_per_m3.unwrap_or(1000.0);
        c.h_o2 = henry_o2(t);
        c.h_co2 = henry_co2(t);
        c.do_fraction = do_frac;
        let h_co2 = c.h_co2;
        self.d.at(&self.p, t, ph, h_co2);
        let v = self.c.kla_ref_volume;
        self.update_gas(v);
        Ok(())
    }
    fn begin_segment(&mut self, y: &SVector<f64, N>) {
        self.update_gas(y[V]);
    }
    fn output_columns(&self) -> Vec<&'static str> {
        OUTPUT_COLUMNS.to_vec()
    }
    fn outputs(&self, t_s: f64, y: &SVector<f64, N>, row: &mut Vec<f64>) {
        row.clear();
        self.append_outputs(t_s, y, row);
    }
    fn append_outputs(&self, t_s: f64, y: &SVector<f64, N>, row: &mut Vec<f64>) {
        let e = self.equations(Variant::NOMINAL);
        let y = as_array(y);
        let a = e.algebraic(y);
        row.extend_from_slice(&e.outputs(t_s, y, &a));
    }
    fn quality(&self, y: &SVector<f64, N>) -> Vec<(&'static str, f64)> {
        let a = self.algebraic(y);
        let frac = |i: usize| {
            if y[P] > 0.0 {
                100.0 * y[i] / y[P]
            } else {
                f64::NAN
            }
        };
        vec![
            ("titer_g_per_l", y[P]),
            ("viability_pct", 100.0 * y[XV] / (y[XV] + y[XD])),
            ("galactosylated_pct", frac(P_GAL)),
            ("afucosylated_pct", frac(P_AFUC)),
            ("high_mannose_pct", frac(P_MAN5)),
            ("acidic_variants_pct", frac(P_ACID)),
            ("hmw_pct", frac(P_HMW)),
            ("hcp_mg_per_l", y[HCP] * 1e3),
            ("dna_mg_per_l", y[DNA] * 1e3),
            ("osmolality_mosm_per_kg", a.osm_mol_per_kg * 1e3),
            ("ammonium_mm", y[AMM]),
            ("lactate_g_per_l", y[LAC] * 0.089_07),
        ]
    }
}
