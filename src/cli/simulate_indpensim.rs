//! `biotwin simulate <dataset dir> --batch Bnn`: one IndPenSim batch from its
//! record (initial state and kinetics, recipe, recorded disturbances), its
//! trajectory written as CSV (one row per 0.2-h step, units in the names).

use std::fmt::Write as _;
use std::path::Path;

use crate::bioreactor::indpensim::simulate::COLUMNS;
use crate::bioreactor::indpensim::{self, Accuracy};
use crate::data::indpensim::load_batch;
use crate::output;
use biotwin_ml::Error;

/// Whether `path` is an IndPenSim data set directory (it holds the files a
/// batch record needs).
pub fn is_dataset(path: &Path) -> bool {
    path.is_dir()
        && path.join("recipes.json").is_file()
        && path.join("initial_conditions.csv").is_file()
}

pub fn run(dir: &Path, batch_id: &str, out: Option<&Path>) -> Result<(), Error> {
    if !is_dataset(dir) {
        return Err(Error::input(
            dir,
            "<process>",
            "with --batch, an IndPenSim data set directory holding recipes.json, initial_conditions.csv and batches/<id>_wide.csv.gz",
            "no such directory or files",
        ));
    }
    if let Some(p) = out
        && p.extension().and_then(|e| e.to_str()) != Some("csv")
    {
        return Err(Error::input(
            "<command line>",
            "--out",
            "a .csv path (IndPenSim trajectories are written as CSV)",
            p.display().to_string(),
        ));
    }
    let (batch, _) = load_batch(dir, batch_id)?;
    let t0 = std::time::Instant::now();
    let traj = indpensim::run(&batch, &Accuracy::default())?;
    let elapsed = t0.elapsed().as_secs_f64();
    // A batch record always has steps; an empty run is an error, not a panic.
    let Some(last) = traj.rows.last() else {
        return Err(Error::input(
            dir,
            batch_id,
            "a batch record with at least one 0.2 h step",
            "none",
        ));
    };
    let col = |n: &str| -> Result<f64, Error> {
        indpensim::Trajectory::column(n)
            .map(|c| last[c])
            .ok_or_else(|| Error::input("<simulator>", n, "an IndPenSim output column", "none"))
    };
    outln!(
        "IndPenSim batch {batch_id}: {} h simulated in {} steps, {} RHS evaluations, {:.3} s",
        col("time_h")?,
        traj.rows.len(),
        traj.rhs_evaluations,
        elapsed
    );
    outln!(
        "final: penicillin {:.4} g/L, biomass {:.4} g/L, volume {:.1} L, weight {:.1} kg",
        col("penicillin_g_per_l")?,
        col("biomass_g_per_l")?,
        col("volume_l")?,
        col("weight_kg")?
    );
    if let Some(path) = out {
        let mut text = String::new();
        let header: Vec<&str> = COLUMNS.iter().map(|(c, _)| *c).collect();
        text.push_str(&header.join(","));
        text.push('\n');
        for row in &traj.rows {
            for (i, v) in row.iter().enumerate() {
                if i > 0 {
                    text.push(',');
                }
                let _ = write!(text, "{v:e}");
            }
            text.push('\n');
        }
        output::write_atomic(path, text.as_bytes())?;
        outln!("trajectory written to {}", path.display());
    }
    Ok(())
}
