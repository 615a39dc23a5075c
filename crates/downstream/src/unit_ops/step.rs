//! What every unit operation reports: input, product stream, waste, species
//! converted into one another, buffer added, duration, and the per-species
//! mass and volume balances.
//!
//! Each step computes its waste from its own mechanism (liquid retained in a
//! filter cake, flow-through and strip, permeate, hold-up), never as
//! input − output, so the balance in + formed − out − waste = 0 is a check
//! of two independent computations, not an identity.

use super::stream::{SPECIES, Stream};

/// What one unit operation did to a [`Stream`] (see the module docs for the
/// balance it must close).
#[derive(Debug, Clone, PartialEq)]
pub struct StepReport {
    /// Step name as reported (e.g. `clarification`, `protein A capture`).
    pub name: String,
    /// The stream that entered the step.
    pub input: Stream,
    /// The product stream leaving the step (the next step's input).
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
    /// Virus log10 reduction credited to this step (0 for steps without a claim).
    pub virus_lrv: f64,
    /// Processing time of the step, s (all cycles for Protein A).
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
