//! Harvest clarification: centrifugation followed by depth filtration.
//!
//! Removes cells and debris completely (not tracked); the liquid retained in
//! the sediment and filters takes product with it, so product and volume
//! leave with the same yield Y (PRIMER §5: 90-98 %). Depth filters adsorb part
//! of the HCP and DNA (Yigzaw et al., Biotechnol. Prog. 22 (2006) 288: DNA
//! reduced ~1 log, HCP by 10-40 %):
//!
//! V_out = Y V_in;  m_out,i = Y m_in,i (monomer, aggregate);
//! HCP_out = Y (1 - f_HCP) HCP_in;  DNA_out = Y 10^{-LRV_DNA} DNA_in.
//!
//! Waste, from the same mechanism: the retained liquid (1 - Y) of volume and
//! of every species, plus what the depth filter adsorbed from the liquid
//! that passed, Y f_HCP HCP_in and Y (1 - 10^{-LRV_DNA}) DNA_in.
//!
//! Duration: V_in / Q at the stated processing flow rate.

use super::step::StepReport;
use super::stream::{Stream, after_lrv};

/// Clarification parameters, read from the train file's `[clarification]`
/// table (typical ranges in the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct Clarification {
    /// Yield Y of product and liquid through centrifuge and depth filters, 0-1
    /// (PRIMER §5: 0.90-0.98).
    pub product_yield: f64,
    /// Fraction f_HCP of HCP adsorbed by the depth filters from the liquid that
    /// passes, 0-1 (Yigzaw et al. 2006: 0.1-0.4).
    pub hcp_removal_fraction: f64,
    /// Log10 reduction of host-cell DNA on the depth filters (Yigzaw et al. 2006: ~1).
    pub dna_lrv: f64,
    /// Processing flow rate, m³/s (sets the duration only).
    pub flow_rate_m3_per_s: f64,
}

impl Clarification {
    /// Clarifies `input`: product and waste streams by the equations of the
    /// module docs. Never fails; the train reader keeps the parameters in range.
    pub fn run(&self, input: &Stream) -> StepReport {
        let y = self.product_yield;
        let output = input.scaled(
            y,
            [
                y,
                y,
                y * (1.0 - self.hcp_removal_fraction),
                y * after_lrv(self.dna_lrv),
            ],
        );
        StepReport {
            name: "clarification".into(),
            input: *input,
            output,
            waste: self.waste(input),
            buffer_added_m3: 0.0,
            formed_kg: [0.0; 4],
            virus_lrv: 0.0,
            duration_s: input.volume_m3 / self.flow_rate_m3_per_s,
            details: vec![],
        }
    }
}

impl Clarification {
    /// Retained liquid (with everything dissolved in it) plus what the depth
    /// filter adsorbed from the liquid that passed.
    fn waste(&self, input: &Stream) -> Stream {
        let retained = 1.0 - self.product_yield;
        let passed = self.product_yield;
        let m = input.mass_kg;
        Stream {
            volume_m3: retained * input.volume_m3,
            mass_kg: [
                retained * m[0],
                retained * m[1],
                retained * m[2] + passed * self.hcp_removal_fraction * m[2],
                retained * m[3] + passed * (1.0 - after_lrv(self.dna_lrv)) * m[3],
            ],
            log10_virus: f64::NEG_INFINITY,
        }
    }
}

/// What a step with per-species recoveries `r` sends to waste: the
/// unrecovered part (1 - r_i) m_i of each species, kg.
pub(crate) fn unrecovered(input: &Stream, r: [f64; 4]) -> [f64; 4] {
    let mut w = [0.0; 4];
    for k in 0..4 {
        w[k] = (1.0 - r[k]) * input.mass_kg[k];
    }
    w
}
