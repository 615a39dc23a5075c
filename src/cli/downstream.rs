//! Downstream pieces of `biotwin simulate`: a single column file
//! (chromatogram), a train file on its own, and the train run on the harvest
//! of a simulated batch (the whole-process flowsheet).

use std::path::Path;

use super::CliError;
use crate::downstream::column;
use crate::downstream::train::{self, Train};
use crate::downstream::unit_ops::Stream;
use crate::error::Error;
use crate::simulation::Outcome;

/// Simulates a column file; `out` gets the outlet CSV, `plot` the chromatogram.
pub fn run_column(path: &Path, out: Option<&Path>, plot: Option<&Path>) -> Result<(), CliError> {
    let spec = column::load(path)?;
    let result = column::simulate(&spec)?;
    outln!("{}: {} solver steps", path.display(), result.steps);
    let m = &result.mesh;
    match m.estimated_error {
        Some(e) => outln!(
            "axial mesh {} x degree {} (error-controlled: elements {:?}, last two outlets differ by {e:.1e})",
            m.elements,
            m.polynomial_degree,
            m.elements_tried
        ),
        None => outln!("axial mesh {} x degree {}", m.elements, m.polynomial_degree),
    }
    for b in &result.mass_balance {
        outln!(
            "mass balance {:<12} in {:.6e} mol + initial {:.6e} = out {:.6e} + liquid {:.6e} + bound {:.6e}  (rel. error {:.1e})",
            b.component,
            b.inlet_mol,
            b.initial_mol,
            b.outlet_mol,
            b.final_liquid_mol,
            b.final_bound_mol,
            b.relative_error
        );
    }
    for p in &result.pools {
        outln!(
            "pool {:<12} {:.1}–{:.1} s, {:.3} mL, recovery {:.4}",
            p.name,
            p.start_s,
            p.end_s,
            p.volume_m3 * 1e6,
            p.recovery
        );
    }
    if let Some(o) = out {
        result.write_outlet_csv(o)?;
        outln!("outlet profile written to {}", o.display());
    }
    if let Some(p) = plot {
        let ends: Vec<f64> = spec.sections.iter().map(|s| s.end_s).collect();
        column::write_chromatogram_svg(&result, &ends, p)?;
        outln!("chromatogram written to {}", p.display());
    }
    Ok(())
}

/// Runs a train file as written (its own [harvest]).
pub fn run_train_file(path: &Path) -> Result<(), CliError> {
    let t = train::load_train(path)?;
    let r = train::run_train(&t)?;
    out!("{}", r.format_table(&t));
    Ok(())
}

/// The harvest of a simulated batch as a downstream feed stream. Virus load
/// is not modelled upstream, so the train file's harvest value is kept.
pub fn harvest_from(outcome: &Outcome, template: &Stream) -> Result<Stream, CliError> {
    let q = |n: &str| outcome.quality_value(n);
    let volume_l = outcome.column("volume_l").and_then(|v| v.last().copied());
    match (
        volume_l,
        q("titer_g_per_l"),
        q("hmw_pct"),
        q("hcp_mg_per_l"),
        q("dna_mg_per_l"),
    ) {
        (Some(v), Some(titer), Some(hmw), Some(hcp), Some(dna)) => Ok(Stream::harvest(
            v * 1e-3,
            titer,
            hmw / 100.0,
            hcp * 1e-3,
            dna * 1e-3,
            template.log10_virus - (template.volume_m3.max(1e-300)).log10(),
        )),
        _ => Err(Error::input(
            "<process>",
            "process.downstream",
            "an upstream model that reports volume, titer, HMW, HCP and DNA (family cho_platform)",
            "a model without them",
        )
        .into()),
    }
}

/// Runs the train on the batch's harvest and prints the flowsheet table.
pub fn run_flowsheet(train_path: &Path, outcome: &Outcome) -> Result<(), CliError> {
    let mut t: Train = train::load_train(train_path)?;
    t.harvest = harvest_from(outcome, &t.harvest)?;
    let r = train::run_train(&t)?;
    outln!(
        "\nDownstream ({}), fed with this batch's harvest:",
        train_path.display()
    );
    out!("{}", r.format_table(&t));
    Ok(())
}
