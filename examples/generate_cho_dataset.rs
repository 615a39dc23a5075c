//! Rebuilds `training-data/cho-platform/` from the platform CHO model, or
//! with `--structural` first, `training-data/cho-structural/` from the
//! structurally different plant (`datagen::structural`, docs/hybrid.md).
//!
//! ```text
//! cargo run --release --example generate_cho_dataset -- [--structural] [OUT_DIR] [SEED] [N_INTERIOR] [N_EDGE]
//! ```
//! Defaults: `training-data/cho-platform` (`training-data/cho-structural`
//! with `--structural`), seed 20251122, 30 interior and 6 edge batches. Same
//! arguments, same files (see the dataset's README.md).

use biotwin::datagen::structural::StructuralPlant;
use biotwin::datagen::{ChoDoeOptions, Plant, write_cho_dataset};

fn main() -> std::process::ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let structural = args.first().is_some_and(|a| a == "--structural");
    if structural {
        args.remove(0);
    }
    let out = args.first().cloned().unwrap_or_else(|| {
        if structural {
            "training-data/cho-structural".into()
        } else {
            "training-data/cho-platform".into()
        }
    });
    let mut opts = ChoDoeOptions::new("process-models/processes/cho-platform-3l.toml");
    if structural {
        // The structural plant keeps the backbone it was pre-registered
        // against (platform model 1.0.0; training-data/cho-structural/backbone).
        opts.process = "training-data/cho-structural/backbone/cho-platform-3l.toml".into();
        opts.plant = Plant::Structural(StructuralPlant::protocol());
    }
    let num = |i: usize, name: &str| -> Option<Result<u64, String>> {
        args.get(i).map(|s| {
            s.parse::<u64>()
                .map_err(|_| format!("{name}: not a whole number: `{s}`"))
        })
    };
    for (i, name) in [(1, "SEED"), (2, "N_INTERIOR"), (3, "N_EDGE")] {
        match num(i, name) {
            None => {}
            Some(Err(e)) => {
                eprintln!("error: {e}");
                return std::process::ExitCode::from(2);
            }
            Some(Ok(v)) => match i {
                1 => opts.seed = v,
                2 => opts.n_interior = v as usize,
                _ => opts.n_edge = v as usize,
            },
        }
    }
    match write_cho_dataset(std::path::Path::new(&out), &opts) {
        Ok(()) => {
            println!(
                "wrote {} batches to {out} (seed {})",
                opts.n_interior + opts.n_edge,
                opts.seed
            );
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::from(e.exit_code() as u8)
        }
    }
}
