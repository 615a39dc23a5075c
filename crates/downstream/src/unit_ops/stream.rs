//! A process stream between downstream steps: liquid volume, the mass of each
//! tracked species and the virus load.
//!
//! Species (all kg): mAb monomer, aggregate (high-molecular-weight species,
//! HMW), host-cell protein (HCP) and host-cell DNA. Virus is carried as
//! log10 of the number of infectious particles, since clearance is reported
//! as log reduction values (LRV).

/// Index of each tracked species in [`Stream::mass_kg`].
pub const MONOMER: usize = 0;
/// Aggregate (HMW species) index.
pub const AGGREGATE: usize = 1;
/// Host-cell protein index.
pub const HCP: usize = 2;
/// Host-cell DNA index.
pub const DNA: usize = 3;
/// Species names in index order, as used in reports and balance checks.
pub const SPECIES: [&str; 4] = ["monomer", "aggregate", "hcp", "dna"];

/// The liquid leaving one step and entering the next (SI: m³ and kg).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stream {
    /// Liquid volume, m³.
    pub volume_m3: f64,
    /// Mass of each species, kg, indexed by [`MONOMER`], [`AGGREGATE`], [`HCP`], [`DNA`].
    pub mass_kg: [f64; 4],
    /// log10 of infectious virus particles in the stream.
    pub log10_virus: f64,
}

impl Stream {
    /// No liquid, no mass, no virus (log10 load -∞).
    pub fn empty() -> Stream {
        Stream {
            volume_m3: 0.0,
            mass_kg: [0.0; 4],
            log10_virus: f64::NEG_INFINITY,
        }
    }

    /// A harvest stream from bioreactor figures (for the flowsheet): volume in
    /// m³, titer in kg/m³ (= g/L), HMW as a fraction of product, HCP and DNA in
    /// kg/m³, virus as log10 particles per m³.
    pub fn harvest(
        volume_m3: f64,
        titer_kg_per_m3: f64,
        hmw_fraction: f64,
        hcp_kg_per_m3: f64,
        dna_kg_per_m3: f64,
        log10_virus_per_m3: f64,
    ) -> Stream {
        let product = titer_kg_per_m3 * volume_m3;
        Stream {
            volume_m3,
            mass_kg: [
                product * (1.0 - hmw_fraction),
                product * hmw_fraction,
                hcp_kg_per_m3 * volume_m3,
                dna_kg_per_m3 * volume_m3,
            ],
            log10_virus: log10_virus_per_m3 + volume_m3.log10(),
        }
    }

    /// Product (monomer + aggregate), kg.
    pub fn product_kg(&self) -> f64 {
        self.mass_kg[MONOMER] + self.mass_kg[AGGREGATE]
    }

    /// Product concentration, kg/m³ (= g/L).
    pub fn product_g_per_l(&self) -> f64 {
        if self.volume_m3 > 0.0 {
            self.product_kg() / self.volume_m3
        } else {
            0.0
        }
    }

    /// Aggregate share of product, % (HMW by SEC).
    pub fn hmw_percent(&self) -> f64 {
        100.0 * self.mass_kg[AGGREGATE] / self.product_kg().max(f64::MIN_POSITIVE)
    }

    /// Host-cell protein per product, ppm (ng HCP per mg product).
    pub fn hcp_ppm(&self) -> f64 {
        1e6 * self.mass_kg[HCP] / self.product_kg().max(f64::MIN_POSITIVE)
    }

    /// Host-cell DNA per product, ppb (pg DNA per mg product).
    pub fn dna_ppb(&self) -> f64 {
        1e9 * self.mass_kg[DNA] / self.product_kg().max(f64::MIN_POSITIVE)
    }

    /// Each species scaled by its own fraction (volume by `volume_fraction`).
    pub fn scaled(&self, volume_fraction: f64, fractions: [f64; 4]) -> Stream {
        let mut s = *self;
        s.volume_m3 *= volume_fraction;
        for (m, f) in s.mass_kg.iter_mut().zip(fractions) {
            *m *= f;
        }
        s
    }
}

/// Fraction left after a log10 reduction.
pub fn after_lrv(lrv: f64) -> f64 {
    10f64.powf(-lrv)
}
