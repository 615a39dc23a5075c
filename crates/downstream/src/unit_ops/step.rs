//! What every unit operation reports: input, product stream, waste, species
//! converted into one another, buffer added, duration, and the per-species
//! mass and volume balances.
//!
//! Each step computes its waste from its own mechanism (liquid retained in a
//! filter cake, flow-through and strip, permeate, hold-up), never as
//! input − output, so the balance in + formed − out − waste = 0 is a check
//! of two independent computations, not an identity.

use super::stream::{SPECIES, Stream};

#[derive(Debug, Clone, PartialEq)]
pub struct StepReport {
    pub name: String,
    pub input: Stream,
    pub output: Stream,
    /// Everything that left the product stream (flow-through, filter cake,
    /// permeate, strip), kg per species and m³ of liquid; computed by the
    /// step from its own mechanism.
    pub waste: Stream,
    /// Liquid added to the process inside the step (elution and wash
    /// buffers, diafiltration buffer, titrant), m³.
    pub buffer_added_m3: f64,
    /// Net mass formed per species inside the step (kg); e.g. monomer → aggregate
    /// at low pH gives -x for monomer and +x for aggregate.
    pub formed_kg: [f64; 4],
    pub virus_lrv: f64,
    pub duration_s: f64,
    /// Step-specific figures (name, value, unit), e.g. cycles, membrane flux.
    pub details: Vec<(String, f64, String)>,
}

impl StepReport {
    /// Product step yield: product out / product in.
    pub fn product_yield(&self) -> f64 {
        self.output.product_kg() / self.input.product_kg().max(f64::MIN_POSITIVE)
    }

    /// Per species: (in + formed - out - waste) / max(in, out); zero when the
    /// step conserves mass.
    pub fn mass_balance_defects(&self) -> Vec<(&'static str, f64)> {
        (0..4)
            .map(|k| {
                let i = self.input.mass_kg[k];
                let o = self.output.mass_kg[k];
                let defect = i + self.formed_kg[k] - o - self.waste.mass_kg[k];
                (SPECIES[k], defect / i.max(o).max(f64::MIN_POSITIVE))
            })
            .collect()
    }

    /// (V_in + buffer added − V_out − V_waste) / max(V_in, V_out); zero when
    /// the step's liquid accounting closes.
    pub fn volume_balance_defect(&self) -> f64 {
        let (i, o) = (self.input.volume_m3, self.output.volume_m3);
        (i + self.buffer_added_m3 - o - self.waste.volume_m3) / i.max(o).max(f64::MIN_POSITIVE)
    }
}
