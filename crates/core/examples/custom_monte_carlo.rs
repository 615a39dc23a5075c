//! A Monte Carlo of one's own with `biotwin-core` alone (no async runtime,
//! database, web server or Parquet): the xing2010 reference process with
//! the maximum growth rate and the feed glucose drawn jointly (correlated
//! normal), each run checked against the address's own validation rule,
//! and the final titer's quantiles printed.
//!
//! ```text
//! cargo run --release -p biotwin-core --example custom_monte_carlo
//! ```

use std::path::Path;

use biotwin_core::simulation::{Scenario, load_process};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// A standard normal draw (Box–Muller) from the seeded stream.
fn normal(rng: &mut StdRng) -> f64 {
    let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let def = load_process(&root.join("process-models/processes/xing2010-reference.toml"))?;
    let mut scenario = Scenario::from_definition(&def)?;
    let ff = &def.model.params.file_factor;
    let mu = scenario.address("model.mu_max", ff)?;
    let scale = scenario.address("feeds.scale", ff)?;
    let (mu0, scale0) = (scenario.get(&mu), scenario.get(&scale));

    // ln mu_max and the feed scale: 5 % and 10 % CV, correlation -0.5.
    let (sd_mu, sd_scale, rho) = (0.05, 0.10, -0.5);
    let mut rng = StdRng::seed_from_u64(7);
    let mut titers = Vec::new();
    let mut refused = 0;
    for _ in 0..2_000 {
        let (z1, z2) = (normal(&mut rng), normal(&mut rng));
        let mu_v = mu0 * (sd_mu * z1).exp();
        let scale_v = scale0 * (1.0 + sd_scale * (rho * z1 + (1.0 - rho * rho).sqrt() * z2));
        // Every value passes the rule it has in its own file.
        if scenario.check(&mu, mu_v).is_err() || scenario.check(&scale, scale_v).is_err() {
            refused += 1;
            continue;
        }
        scenario.set(&mu, mu_v);
        scenario.set(&scale, scale_v);
        let outcome = scenario.simulate(false)?;
        titers.push(outcome.quality_value("titer_g_per_l").unwrap_or(f64::NAN));
    }
    titers.retain(|t| t.is_finite());
    titers.sort_by(f64::total_cmp);
    let q = |p: f64| titers[((titers.len() - 1) as f64 * p).round() as usize];
    println!(
        "{} runs ({} draws refused by the address rules): final titer g/L 5 % {:.4}, median {:.4}, 95 % {:.4}",
        titers.len(),
        refused,
        q(0.05),
        q(0.5),
        q(0.95)
    );
    Ok(())
}
