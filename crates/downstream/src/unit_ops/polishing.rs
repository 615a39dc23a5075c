//! Chromatographic polishing steps described by their clearance:
//! cation exchange bind/elute (aggregate removal) and anion exchange
//! flow-through (HCP, DNA and virus removal).
//!
//! Each species leaves with its own recovery r_i: monomer and aggregate
//! recoveries, HCP and DNA as LRVs (r = 10^{-LRV}), virus as an LRV. Typical
//! values (PRIMER §5; Shukla et al., J. Chromatogr. B 848 (2007) 28):
//! CEX monomer yield 85-95 %, aggregate cleared from 2-5 % to < 1 %, HCP and
//! DNA ~1 log; AEX flow-through yield 95-99 %, HCP 1-2 log, DNA ≥ 3 log,
//! enveloped virus ≥ 4-5 log.
//!
//! The CEX recoveries can come from a mechanistic run instead
//! ([`ClearanceStep::with_column_pool`]): the SMA column's pool gives the
//! monomer and aggregate recoveries at its cut points.

use super::clarification::unrecovered;
use super::step::StepReport;
use super::stream::{Stream, after_lrv};
use crate::column::ColumnResult;

/// A polishing step (CEX or AEX) given by its recoveries and clearances,
/// read from the train file's `[cex]` or `[aex]` table (typical values in the
/// module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct ClearanceStep {
    /// Step name as reported (e.g. `cation exchange (bind/elute)`).
    pub name: String,
    /// Fraction of monomer recovered in the product, 0-1.
    pub monomer_yield: f64,
    /// Fraction of aggregate recovered in the product, 0-1 (below the monomer
    /// yield for a step that clears aggregate).
    pub aggregate_yield: f64,
    /// Log10 reduction of HCP.
    pub hcp_lrv: f64,
    /// Log10 reduction of host-cell DNA.
    pub dna_lrv: f64,
    /// Log10 reduction of virus credited to the step.
    pub virus_lrv: f64,
    /// Output volume over input volume (elution pool, chase).
    pub volume_ratio: f64,
    /// Processing flow rate, m³/s (sets the duration only).
    pub flow_rate_m3_per_s: f64,
}

impl ClearanceStep {
    /// Takes monomer and aggregate recoveries from pool `pool` of a column run,
    /// relative to what was loaded (linear scaling to the process stream).
    pub fn with_column_pool(
        mut self,
        result: &ColumnResult,
        pool: usize,
        monomer: usize,
        aggregate: usize,
    ) -> Option<ClearanceStep> {
        let p = result.pools.get(pool)?;
        let loaded = |k: usize| result.mass_balance[k].inlet_mol;
        self.monomer_yield = p.amount_mol[monomer] / loaded(monomer);
        self.aggregate_yield = p.amount_mol[aggregate] / loaded(aggregate);
        Some(self)
    }

    /// Waste: the unrecovered part of each species (flow-through, wash and
    /// strip of a bind/elute step; what stays bound in flow-through mode).
    /// Liquid: a pool smaller than the load leaves (1 - ratio) V_in in the
    /// flow-through; a larger one (elution or chase) adds (ratio - 1) V_in of
    /// buffer.
    pub fn run(&self, input: &Stream) -> StepReport {
        let recovery = [
            self.monomer_yield,
            self.aggregate_yield,
            after_lrv(self.hcp_lrv),
            after_lrv(self.dna_lrv),
        ];
        let mut output = input.scaled(self.volume_ratio, recovery);
        output.log10_virus = input.log10_virus - self.virus_lrv;
        let waste = Stream {
            volume_m3: (1.0 - self.volume_ratio).max(0.0) * input.volume_m3,
            mass_kg: unrecovered(input, recovery),
            log10_virus: f64::NEG_INFINITY,
        };
        StepReport {
            name: self.name.clone(),
            input: *input,
            output,
            waste,
            buffer_added_m3: (self.volume_ratio - 1.0).max(0.0) * input.volume_m3,
            formed_kg: [0.0; 4],
            virus_lrv: self.virus_lrv,
            duration_s: input.volume_m3 / self.flow_rate_m3_per_s,
            details: vec![],
        }
    }
}
