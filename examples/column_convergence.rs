//! Convergence study of the column discretisation against a reference outlet.
//!
//! `cargo run --release --example column_convergence -- COLUMN.toml REFERENCE.csv`
//!
//! Re-runs the column with 2-64 DG elements (degree 3 and 4) and two solver
//! tolerances and prints, per run, the relative L2 error of every component's
//! outlet against the reference CSV (same time grid; first column time) and
//! the wall time of the simulation. The table in docs/downstream.md comes from
//! this program with the CADET reference case.

use std::time::Instant;

use biotwin::downstream::column;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() != 2 {
        eprintln!("usage: column_convergence COLUMN.toml REFERENCE.csv");
        std::process::exit(2);
    }
    let base = column::load(&args[0])?;
    let mut rdr = csv::Reader::from_path(&args[1])?;
    let mut reference: Vec<Vec<f64>> = Vec::new();
    for rec in rdr.records() {
        let rec = rec?;
        reference.push(rec.iter().map(|x| x.parse().unwrap_or(f64::NAN)).collect());
    }
    println!("degree elements nodes rtol  wall_s    steps  rel_L2 per component");
    for (degree, rtol, atol) in [(4, 1e-6, 1e-8), (4, 1e-8, 1e-10), (3, 1e-6, 1e-8)] {
        for elements in [2, 4, 8, 16, 32, 64] {
            let mut spec = base.clone();
            spec.discretisation.elements = elements;
            spec.discretisation.polynomial_degree = degree;
            spec.solver.relative_tolerance = rtol;
            spec.solver.absolute_tolerance = atol;
            let start = Instant::now();
            let r = match column::simulate(&spec) {
                Ok(r) => r,
                Err(e) => {
                    println!("{degree} {elements} failed: {e}");
                    continue;
                }
            };
            let wall = start.elapsed().as_secs_f64();
            let errors: Vec<String> = (0..r.component_names.len())
                .map(|k| {
                    let (mut num, mut den) = (0.0, 0.0);
                    for (i, row) in reference.iter().enumerate().take(r.time_s.len()) {
                        num += (r.outlet_mol_per_m3[k][i] - row[k + 1]).powi(2);
                        den += row[k + 1].powi(2);
                    }
                    format!("{:.2e}", (num / den).sqrt())
                })
                .collect();
            println!(
                "{degree:6} {elements:8} {:5} {rtol:.0e} {wall:8.4} {:6}  {}",
                elements * (degree + 1),
                r.steps,
                errors.join(" ")
            );
        }
    }
    Ok(())
}
