//! Runs one chromatography column file and writes its outlet profile.
//!
//! `cargo run --release --example column -- COLUMN.toml [OUT.csv] [OUT.svg]`
//!
//! Prints the wall time of the simulation alone (reading and writing files
//! excluded), the pools and the mass balance. `validation/cadet/` uses it to
//! compare biotwin with CADET-Core side by side.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use biotwin::downstream::column;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(input) = args.first() else {
        eprintln!("usage: column COLUMN.toml [OUT.csv] [OUT.svg]");
        return ExitCode::from(2);
    };
    let spec = match column::load(input) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(e.exit_code() as u8);
        }
    };
    let start = Instant::now();
    let result = match column::simulate(&spec) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(e.exit_code() as u8);
        }
    };
    let seconds = start.elapsed().as_secs_f64();
    // A closed pipe (e.g. `| head`) must not panic: write errors are ignored.
    let mut out = std::io::stdout().lock();
    macro_rules! println {
        ($($arg:tt)*) => {{ let _ = writeln!(out, $($arg)*); }};
    }
    println!("simulation_wall_s = {seconds:.6}");
    println!("steps = {}", result.steps);
    let m = &result.mesh;
    match m.estimated_error {
        Some(e) => println!(
            "mesh = {} x {} (error-controlled: elements {:?}, last two outlets differ by {e:.2e})",
            m.elements, m.polynomial_degree, m.elements_tried
        ),
        None => println!("mesh = {} x {}", m.elements, m.polynomial_degree),
    }
    for b in &result.mass_balance {
        println!(
            "mass balance {}: in {:.6e} mol + initial {:.6e} = out {:.6e} + liquid {:.6e} + bound {:.6e} (rel. error {:.2e})",
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
        println!(
            "pool {}: {:.1}-{:.1} s, {:.3} mL, recovery {:.4}, amounts {:?} mol",
            p.name,
            p.start_s,
            p.end_s,
            p.volume_m3 * 1e6,
            p.recovery,
            p.amount_mol
        );
    }
    if let Some(Err(e)) = args
        .get(1)
        .map(|out| result.write_outlet_csv(&PathBuf::from(out)))
    {
        eprintln!("{e}");
        return ExitCode::from(e.exit_code() as u8);
    }
    if let Some(svg) = args.get(2) {
        let ends: Vec<f64> = spec.sections.iter().map(|s| s.end_s).collect();
        if let Err(e) = column::write_chromatogram_svg(&result, &ends, &PathBuf::from(svg)) {
            eprintln!("{e}");
            return ExitCode::from(e.exit_code() as u8);
        }
    }
    ExitCode::SUCCESS
}
