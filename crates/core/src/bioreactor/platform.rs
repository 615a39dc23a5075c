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

use std::sync::Arc;

use nalgebra::SVector;

use super::gas_transfer::{henry_co2, henry_o2, slpm_to_mol_per_s, steady_do_with_monod_uptake};
use super::vessel::Vessel;
use super::{Culture, StateKind};
use crate::definition::kinetic::ParamSpec;
use crate::definition::recipe::Setpoints;
use crate::definition::species::{Composition, Species};
use crate::solver::OdeSystem;
use crate::units::{GAS_CONSTANT, PA_PER_MMHG};

pub const N: usize = 24;
pub const XV: usize = 0;
pub const XD: usize = 1;
pub const GLC: usize = 2;
pub const GLN: usize = 3;
pub const LAC: usize = 4;
pub const AMM: usize = 5;
pub const P: usize = 6;
pub const V: usize = 7;
pub const NA: usize = 8;
pub const OSM: usize = 9;
pub const GAL: usize = 10;
pub const MN: usize = 11;
pub const P_GAL: usize = 12;
pub const P_AFUC: usize = 13;
pub const P_MAN5: usize = 14;
pub const P_ACID: usize = 15;
pub const P_HMW: usize = 16;
pub const HCP: usize = 17;
pub const DNA: usize = 18;
pub const CUM_PRODUCT: usize = 19;
pub const CUM_GROWN: usize = 20;
pub const CUM_LYSED: usize = 21;
pub const CUM_GLC: usize = 22;
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
        /// Parameters in SI.
        #[derive(Debug, Clone, Copy, PartialEq)]
        #[allow(non_snake_case)]
        pub struct PlatformParams { $( pub $field: f64, )* }
        impl PlatformParams {
            /// From SI values in `PARAMS` order.
            pub fn from_si(v: &[f64]) -> PlatformParams {
                let mut it = v.iter().copied();
                PlatformParams { $( $field: it.next().unwrap_or(f64::NAN), )* }
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

/// Operating conditions fixed within a segment.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Conditions {
    temperature_k: f64,
    ph: f64,
    do_fraction: f64,
    do_setpoint: f64,
    agitation_rps: f64,
    sparge_slpm: f64,
    base_mol_per_m3: f64,
    // Derived once per segment.
    f_t_mu: f64,
    f_ph: f64,
    f_qp: f64,
    k_deam: f64,
    k_agg: f64,
    kla_o2: f64,
    kla_ref_volume: f64,
    pressure_pa: f64,
    gas_mol_per_s: f64,
    h_o2: f64,
    h_co2: f64,
    hco3_per_co2: f64,
}

#[derive(Debug, Clone)]
pub struct ChoPlatform {
    pub p: PlatformParams,
    vessel: Arc<dyn Vessel>,
    c: Conditions,
    feed_rate: f64,
    feed: SVector<f64, N>,
    scales: SVector<f64, N>,
    /// Bicarbonate at the start of the batch, mol/m³ (osmolality baseline).
    hco3_0: f64,
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
#[derive(Debug, Clone, Copy, Default)]
pub struct Algebraic {
    pub mu: f64,
    pub mu_d: f64,
    pub q_glc: f64,
    pub q_gln: f64,
    pub q_lac: f64,
    pub q_p: f64,
    pub our: f64,
    pub do_mol_per_m3: f64,
    pub o2_fraction: f64,
    pub pco2_pa: f64,
    pub osm_mol_per_kg: f64,
    pub kla_o2: f64,
}

/// Hill saturation c^n/(K^n + c^n) of a non-negative level `c` (n = 1 is
/// the Michaelis form; written as 1/(1 + (K/c)^n) so large n cannot
/// overflow).
#[inline]
fn hill(c: f64, k: f64, n: f64) -> f64 {
    if c <= 0.0 {
        return 0.0;
    }
    if n == 1.0 {
        return c / (k + c);
    }
    1.0 / (1.0 + (k / c).powf(n))
}

fn logistic(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}
fn logit(p: f64) -> f64 {
    (p / (1.0 - p)).ln()
}

impl ChoPlatform {
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
                f_t_mu: 1.0,
                f_ph: 1.0,
                f_qp: 1.0,
                k_deam: 0.0,
                k_agg: 0.0,
                kla_o2: 0.0,
                kla_ref_volume: v0_m3,
                pressure_pa: 101_325.0,
                gas_mol_per_s: 0.0,
                h_o2: henry_o2(p.T_ref),
                h_co2: henry_co2(p.T_ref),
                hco3_per_co2: 0.0,
            },
            feed_rate: 0.0,
            feed: SVector::zeros(),
            scales,
            hco3_0: 0.0,
        };
        m.update_gas(v0_m3);
        m
    }

    fn update_gas(&mut self, volume_m3: f64) {
        let c = &mut self.c;
        c.pressure_pa = self.vessel.mean_pressure_pa(volume_m3);
        let q_actual =
            c.sparge_slpm * 1e-3 / 60.0 * (c.temperature_k / 273.15) * (101_325.0 / c.pressure_pa);
        c.kla_o2 = self
            .vessel
            .kla_o2_per_s(c.agitation_rps, q_actual, volume_m3);
        c.kla_ref_volume = volume_m3;
        c.gas_mol_per_s = slpm_to_mol_per_s(c.sparge_slpm);
        // 100 % DO is air saturation at the mean liquid pressure.
        c.do_setpoint = c.do_fraction * c.h_o2 * super::gas_transfer::Y_O2_AIR * c.pressure_pa;
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
        let p = &self.p;
        let c = &self.c;
        let xv = y[XV].max(0.0);
        let (glc, gln, lac, amm) = (
            y[GLC].max(0.0),
            y[GLN].max(0.0),
            y[LAC].max(0.0),
            y[AMM].max(0.0),
        );
        // Dissolved O2: the controller holds the set-point while pure O2 suffices.
        let kla = c.kla_o2;
        let c_star_o2 = c.h_o2 * c.pressure_pa; // y_O2 = 1
        let our_max = p.q_o2 * xv;
        let our_at_sp = our_max * c.do_setpoint / (p.K_o2 + c.do_setpoint);
        let (do_c, o2_fraction) = if kla * (c_star_o2 - c.do_setpoint) >= our_at_sp {
            let y_req = (our_at_sp / kla.max(1e-30) + c.do_setpoint) / c_star_o2;
            (
                c.do_setpoint,
                y_req.clamp(super::gas_transfer::Y_O2_AIR, 1.0),
            )
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
            + if c.gas_mol_per_s > 0.0 && kla > 0.0 {
                cpr / (p.kla_co2_ratio * kla * c.h_co2) + c.pressure_pa * cpr * v / c.gas_mol_per_s
            } else {
                0.0
            };
        let hco3 = c.hco3_per_co2 * c.h_co2 * pco2_pa;
        let osm = y[OSM]
            + 1e-3
                * (glc
                    + gln
                    + lac
                    + amm
                    + y[NA].max(0.0)
                    + y[GAL].max(0.0)
                    + 2.0 * (hco3 - self.hco3_0).max(0.0));
        let k2 = p.K_pco2 * p.K_pco2;
        let f_pco2 = k2 / (k2 + pco2_pa * pco2_pa);
        let f_osm = 1.0 / (1.0 + (osm - p.Osm_0).max(0.0) / p.K_osm);
        let mu_sat = c.f_t_mu * c.f_ph * p.mu_max;
        // One division for the whole Monod/inhibition product.
        let phi = glc * gln * p.KI_lac * p.KI_amm * do_c * f_pco2 * f_osm
            / ((p.K_glc + glc)
                * (p.K_gln + gln)
                * (p.KI_lac + lac)
                * (p.KI_amm + amm)
                * (p.K_do + do_c));
        let mu = mu_sat * phi;
        let ammonium_death = match variant.quadratic_ammonium_death_mol_per_m3 {
            Some(k) => p.k_d * (1.0 + (amm / k).powi(2)),
            None => p.k_d + p.k_d_amm * hill(amm, p.KD_amm, p.n_d_amm),
        };
        let mu_d = ammonium_death + p.k_d_glc * p.K_starve / (p.K_starve + glc);
        let q_glc = mu / p.Y_x_glc + p.m_glc * glc / (p.K_m_glc + glc);
        let q_gln = mu / p.Y_x_gln + p.m_gln * gln / (p.K_m_gln + gln);
        let q_lac = if variant.lactate_consuming {
            -p.q_lac_max * lac / (p.K_lac_up + lac)
        } else {
            p.Y_lac_glc * q_glc * phi - p.q_lac_max * lac / (p.K_lac_up + lac) * (1.0 - phi)
        };
        let q_p = (p.alpha_lp * mu + p.beta_lp) * c.f_qp;
        Algebraic {
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
    fn glycan_fractions(&self, y: &SVector<f64, N>, a: &Algebraic) -> (f64, f64, f64) {
        let p = &self.p;
        let amm = y[AMM].max(0.0);
        // Reference conditions of the logistic responses: 300 mOsm/kg, 50 mmHg.
        let d_osm = a.osm_mol_per_kg - 0.300;
        let d_pco2 = a.pco2_pa - 50.0 * PA_PER_MMHG;
        let mn_sat = y[MN].max(0.0) / (p.K_mn + y[MN].max(0.0));
        let gal_sat = y[GAL].max(0.0) / (p.K_gal + y[GAL].max(0.0));
        let gal = logistic(
            logit(p.gal_ref)
                + p.gal_amm * amm
                + p.gal_ph * (self.c.ph - 7.0)
                + p.gal_osm * d_osm
                + p.gal_pco2 * d_pco2
                + p.gal_mn * mn_sat
                + p.gal_gal * gal_sat,
        );
        let afuc = logistic(logit(p.afuc_ref) + p.afuc_osm * d_osm + p.afuc_amm * amm);
        let man5 = logistic(
            logit(p.man5_ref) + p.man5_osm * d_osm + p.man5_amm * amm + p.man5_mn * mn_sat,
        );
        (gal, afuc, man5)
    }
}

impl ChoPlatform {
    /// The right-hand side with the mechanisms of `variant` (the nominal model's
    /// is `Variant::NOMINAL`); returns the rates it used.
    #[inline]
    pub fn rhs_with(
        &self,
        y: &SVector<f64, N>,
        variant: Variant,
        dy: &mut SVector<f64, N>,
    ) -> Algebraic {
        let p = &self.p;
        let c = &self.c;
        let a = self.algebraic_with(y, variant);
        let xv = y[XV];
        let xd = y[XD];
        let v = y[V];
        let r_lac = a.q_lac * xv;
        let base = r_lac.max(0.0); // mol/(m³ s) of Na⁺ to neutralise lactic acid
        let f_base = base * v / c.base_mol_per_m3;
        let d = (self.feed_rate + f_base) / v;
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
        dy[OSM] = 0.0;
        dy[GAL] = -p.q_gal * y[GAL].max(0.0) / (p.K_gal + y[GAL].max(0.0)) * xv;
        dy[MN] = 0.0;
        dy[P_GAL] = f_gal * r_p;
        dy[P_AFUC] = f_afuc * r_p;
        dy[P_MAN5] = f_man5 * r_p;
        dy[P_ACID] = p.f_acid0 * r_p + c.k_deam * (y[P] - y[P_ACID]);
        dy[P_HMW] = p.f_hmw0 * r_p + c.k_agg * (y[P] - y[P_HMW]);
        dy[HCP] = p.q_hcp * xv + p.hcp_lys * lysis;
        dy[DNA] = p.dna_lys * lysis;
        // Dilution by feed and base: d (c_in − c) with the inflow's mixed
        // composition c_in = feed · F/(F + F_base); the base stream's Na⁺ is
        // in dy[NA] already.
        if d > 0.0 {
            let share = self.feed_rate / (self.feed_rate + f_base);
            for i in (0..V).chain(NA..CUM_PRODUCT) {
                dy[i] += d * (self.feed[i] * share - y[i]);
            }
        }
        dy[V] = self.feed_rate + f_base;
        dy[CUM_PRODUCT] = r_p * v;
        dy[CUM_GROWN] = a.mu * xv * v;
        dy[CUM_LYSED] = lysis * v;
        dy[CUM_GLC] = a.q_glc * xv * v;
        dy[CUM_BASE] = f_base;
        a
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
    fn initial_state(&self, c: &Composition, volume_m3: f64) -> Result<SVector<f64, N>, String> {
        let need = |s: Species| c.get(s).ok_or_else(|| format!("initial {s} concentration"));
        let xv = need(Species::ViableCells)?;
        let xd = match (c.get(Species::DeadCells), c.get(Species::Viability)) {
            (Some(xd), _) => xd,
            (None, Some(v)) if v > 0.0 => xv * (1.0 - v) / v,
            _ => 0.0,
        };
        let osm_total = need(Species::Osmolality)?;
        let inert = osm_total - tracked_osm(c);
        if inert < 0.0 {
            return Err(format!(
                "initial osmolality of at least {:.0} mOsm/kg (the listed solutes alone)",
                tracked_osm(c) * 1e3
            ));
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
    fn set_setpoints(&mut self, sp: &Setpoints) -> Result<(), String> {
        let missing = |n: &str| format!("set-point {n} (the cho_platform model needs it)");
        let t = sp.temperature_k.ok_or_else(|| missing("temperature_c"))?;
        let ph = sp.ph.ok_or_else(|| missing("ph"))?;
        let do_frac = sp.do_fraction.ok_or_else(|| missing("do_pct"))?;
        let n = sp.agitation_rps.ok_or_else(|| missing("agitation_rpm"))?;
        let q = sp.sparge_slpm.ok_or_else(|| missing("sparge_slpm"))?;
        if q <= 0.0 {
            return Err("a positive sparge_slpm (CO2 is stripped by the sparge gas)".into());
        }
        let p = &self.p;
        let c = &mut self.c;
        let inv = 1.0 / t - 1.0 / p.T_ref;
        c.temperature_k = t;
        c.ph = ph;
        c.agitation_rps = n;
        c.sparge_slpm = q;
        c.base_mol_per_m3 = sp.base_concentration_mol_per_m3.unwrap_or(1000.0);
        c.f_t_mu = (-p.Ea_mu / GAS_CONSTANT * inv).exp();
        c.f_ph = (-((ph - p.pH_opt) / p.pH_width).powi(2)).exp();
        c.f_qp = (1.0 + p.g_qp * (p.T_ref - t)).max(0.0);
        c.k_deam = p.k_deam
            * (-p.Ea_deam / GAS_CONSTANT * inv).exp()
            * 10f64.powf(p.b_ph_deam * (ph - 7.0));
        c.k_agg = p.k_agg * (-p.Ea_agg / GAS_CONSTANT * inv).exp();
        c.h_o2 = henry_o2(t);
        c.h_co2 = henry_co2(t);
        c.hco3_per_co2 = 10f64.powf(ph - p.pK_co2);
        c.do_fraction = do_frac;
        let v = c.kla_ref_volume;
        self.update_gas(v);
        if self.hco3_0 == 0.0 {
            self.hco3_0 = self.c.hco3_per_co2 * self.c.h_co2 * self.p.pco2_0;
        }
        Ok(())
    }
    fn begin_segment(&mut self, y: &SVector<f64, N>) {
        self.update_gas(y[V]);
    }
    fn output_columns(&self) -> Vec<&'static str> {
        vec![
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
        ]
    }
    fn outputs(&self, t_s: f64, y: &SVector<f64, N>, row: &mut Vec<f64>) {
        row.clear();
        self.append_outputs(t_s, y, row);
    }
    fn append_outputs(&self, t_s: f64, y: &SVector<f64, N>, row: &mut Vec<f64>) {
        let a = self.algebraic(y);
        let c = &self.c;
        let frac = |i: usize| {
            if y[P] > 0.0 {
                100.0 * y[i] / y[P]
            } else {
                f64::NAN
            }
        };
        let air_sat = c.h_o2 * super::gas_transfer::Y_O2_AIR * c.pressure_pa;
        row.extend_from_slice(&[
            t_s / 3600.0,
            y[V] * 1e3,
            y[XV] * 1e-12,
            y[XD] * 1e-12,
            100.0 * y[XV] / (y[XV] + y[XD]),
            y[GLC] * 0.180_156,
            y[GLN],
            y[LAC] * 0.089_07,
            y[AMM],
            y[P],
            a.mu * 86400.0,
            a.q_p * 1e15 * 86400.0,
            c.temperature_k - 273.15,
            c.ph,
            100.0 * a.do_mol_per_m3 / air_sat,
            100.0 * a.o2_fraction,
            a.kla_o2 * 3600.0,
            a.our * 3600.0,
            a.pco2_pa / PA_PER_MMHG,
            a.osm_mol_per_kg * 1e3,
            y[CUM_BASE] * 1e3,
            y[GAL],
            y[MN] * 1e3,
            frac(P_GAL),
            frac(P_AFUC),
            frac(P_MAN5),
            frac(P_ACID),
            frac(P_HMW),
            y[HCP] * 1e3,
            y[DNA] * 1e3,
        ]);
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
