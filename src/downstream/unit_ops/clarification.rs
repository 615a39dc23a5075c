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
//! Duration: V_in / Q at the stated processing flow rate.

use super::step::StepReport;
use super::stream::{Stream, after_lrv};

#[derive(Debug, Clone, PartialEq)]
pub struct Clarification {
    pub product_yield: f64,
    pub hcp_removal_fraction: f64,
    pub dna_lrv: f64,
    pub flow_rate_m3_per_s: f64,
}

impl Clarification {
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
            waste: difference(input, &output),
            formed_kg: [0.0; 4],
            virus_lrv: 0.0,
            duration_s: input.volume_m3 / self.flow_rate_m3_per_s,
            details: vec![],
        }
    }
}

/// What left the product stream: input minus output, per species and volume.
pub(crate) fn difference(input: &Stream, output: &Stream) -> Stream {
    let mut w = Stream::empty();
    w.volume_m3 = input.volume_m3 - output.volume_m3;
    for k in 0..4 {
        w.mass_kg[k] = input.mass_kg[k] - output.mass_kg[k];
    }
    w
}
