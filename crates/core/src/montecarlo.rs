//! Monte Carlo over the declared uncertainty of a process: parameters,
//! initial conditions, set-points and raw-material (medium) compositions.
//!
//! Each run draws its inputs from a generator seeded by `(seed, run index)`
//! alone, so results are identical for a given seed whatever the number of
//! threads or the order in which rayon schedules runs. Runs whose simulation
//! fails are counted and the first failure is reported; they are not
//! silently dropped from the statistics without saying so.

use indicatif::{ProgressBar, ProgressStyle};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rayon::prelude::*;
use serde::Serialize;

use crate::definition::process::ProcessDefinition;
use crate::definition::specs::Specifications;
use crate::definition::uncertainty::Distribution;
use crate::error::Diagnostics;
use crate::simulation::Scenario;
use crate::simulation::address::Address;

/// One uncertain input: where it goes and how it is distributed.
#[derive(Debug, Clone, Serialize)]
pub struct UncertainInput {
    pub name: String,
    #[serde(skip)]
    pub address: Address,
    pub nominal: f64,
    pub distribution: Distribution,
}

/// Resolves the process file's `[[uncertainty]]` entries against a scenario.
pub fn uncertain_inputs(
    def: &ProcessDefinition,
    scenario: &mut Scenario,
) -> Result<Vec<UncertainInput>, Diagnostics> {
    let mut d = Diagnostics::new();
    let mut out = Vec::new();
    for (i, u) in def.uncertainty.iter().enumerate() {
        match resolve_input(scenario, &def.model.params.file_factor, u, None) {
            Ok(input) => out.push(input),
            Err((key, expected, found)) => {
                d.push(def.diag(&format!("uncertainty[{i}]{key}"), expected, found))
            }
        }
    }
    d.into_result(out)
}

/// One `[[uncertainty]]` entry (of a process or a lot file) as an input:
/// its address parsed, its distribution resolved around `nominal` (default:
/// the scenario's value) and checked against the address's rule. The error
/// is (field suffix such as `.parameter` or `` for the entry, expected,
/// found).
pub fn resolve_input(
    scenario: &mut Scenario,
    file_factor: &[f64],
    u: &crate::definition::uncertainty::UncertaintyFile,
    nominal: Option<f64>,
) -> Result<UncertainInput, (String, String, String)> {
    let address = scenario
        .address(&u.parameter, file_factor)
        .map_err(|e| (".parameter".to_string(), e, format!("`{}`", u.parameter)))?;
    let nominal = nominal.unwrap_or_else(|| scenario.get(&address));
    let distribution = u
        .resolve(nominal)
        .map_err(|(key, expected, found)| (format!(".{key}"), expected, found))?;
    check_support(scenario, &address, &distribution)
        .map_err(|(expected, found)| (String::new(), expected, found))?;
    Ok(UncertainInput {
        name: u.parameter.clone(),
        address,
        nominal,
        distribution,
    })
}

/// Probability outside the range checked at each end of an unbounded
/// distribution: a declaration is refused when more than this share of its
/// draws would break the rule of the address.
pub const SUPPORT_TAIL: f64 = 1e-4;

/// The values a declared distribution draws must pass the address's rule
/// (as a `--set` of them would): checked at its bounds, or for unbounded
/// distributions at the `SUPPORT_TAIL` and `1 − SUPPORT_TAIL` quantiles.
pub fn check_support(
    scenario: &Scenario,
    address: &Address,
    distribution: &Distribution,
) -> Result<(), (String, String)> {
    let lo = distribution.quantile(SUPPORT_TAIL);
    let hi = distribution.quantile(1.0 - SUPPORT_TAIL);
    for v in [lo, hi] {
        if let Err(expected) = scenario.check(address, v) {
            return Err((
                format!(
                    "a distribution whose draws are all admissible ({expected}; checked at its {}–{} % quantiles)",
                    SUPPORT_TAIL * 100.0,
                    100.0 - SUPPORT_TAIL * 100.0
                ),
                format!("draws from {lo:.6e} to {hi:.6e}"),
            ));
        }
    }
    Ok(())
}

/// Distribution summary of one quality attribute.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Summary {
    pub name: String,
    pub mean: f64,
    pub sd: f64,
    pub p05: f64,
    pub p50: f64,
    pub p95: f64,
    /// Fraction of successful runs within the specification, if one exists.
    pub prob_in_spec: Option<f64>,
    pub spec: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MonteCarloResult {
    pub runs: usize,
    pub seed: u64,
    pub failed: usize,
    pub first_failure: Option<String>,
    pub inputs: Vec<UncertainInput>,
    /// Quality attribute names, in column order of `outcomes`.
    pub quality_names: Vec<String>,
    /// Sampled input values per run (user units), `inputs.len()` per run.
    #[serde(skip)]
    pub samples: Vec<Vec<f64>>,
    /// End-of-batch quality per successful run (NaN row for a failed run).
    #[serde(skip)]
    pub outcomes: Vec<Vec<f64>>,
    pub summary: Vec<Summary>,
}

/// Deterministic per-run stream: SplitMix64 finaliser of (seed, index).
fn run_seed(seed: u64, run: u64) -> u64 {
    let mut z = seed
        ^ run
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(0xD1B5_4A32_D192_ED03);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Runs `runs` batches in parallel; `progress` shows a bar on stderr.
pub fn run(
    scenario: &Scenario,
    inputs: &[UncertainInput],
    specs: Option<&Specifications>,
    runs: usize,
    seed: u64,
    progress: bool,
) -> MonteCarloResult {
    let bar = if progress {
        let b = ProgressBar::new(runs as u64);
        b.set_style(
            ProgressStyle::with_template(
                "{spinner} Monte Carlo {bar:40} {pos}/{len} runs ({per_sec}, eta {eta})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b
    } else {
        ProgressBar::hidden()
    };
    let quality_names: Vec<String> = scenario
        .family
        .cqa_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    let results: Vec<(Vec<f64>, Result<Vec<f64>, String>)> = (0..runs)
        .into_par_iter()
        .map_init(
            || scenario.clone(),
            |s, i| {
                let mut rng = StdRng::seed_from_u64(run_seed(seed, i as u64));
                let mut sample = Vec::with_capacity(inputs.len());
                for inp in inputs {
                    let u: f64 = rng.random();
                    let v = inp.distribution.quantile(u);
                    s.set(&inp.address, v);
                    sample.push(v);
                }
                let out = s
                    .simulate(false)
                    .map(|o| o.quality.iter().map(|(_, v)| *v).collect())
                    .map_err(|e| e.to_string());
                // Restore nominal values for the next run on this thread.
                for inp in inputs {
                    s.set(&inp.address, inp.nominal);
                }
                bar.inc(1);
                (sample, out)
            },
        )
        .collect();
    bar.finish_and_clear();
    let mut failed = 0;
    let mut first_failure = None;
    let mut samples = Vec::with_capacity(runs);
    let mut outcomes = Vec::with_capacity(runs);
    for (i, (sample, out)) in results.into_iter().enumerate() {
        samples.push(sample);
        match out {
            Ok(q) => outcomes.push(q),
            Err(e) => {
                failed += 1;
                if first_failure.is_none() {
                    first_failure = Some(format!("run {i}: {e}"));
                }
                outcomes.push(vec![f64::NAN; quality_names.len()]);
            }
        }
    }
    let summary = summarise(&quality_names, &outcomes, specs);
    MonteCarloResult {
        runs,
        seed,
        failed,
        first_failure,
        inputs: inputs.to_vec(),
        quality_names,
        samples,
        outcomes,
        summary,
    }
}

/// Mean, sd, 5/50/95 % quantiles and probability within specification.
pub fn summarise(
    names: &[String],
    outcomes: &[Vec<f64>],
    specs: Option<&Specifications>,
) -> Vec<Summary> {
    names
        .iter()
        .enumerate()
        .map(|(j, name)| {
            let mut v: Vec<f64> = outcomes
                .iter()
                .map(|o| o[j])
                .filter(|x| x.is_finite())
                .collect();
            v.sort_by(f64::total_cmp);
            let n = v.len() as f64;
            let mean = v.iter().sum::<f64>() / n;
            let sd = if v.len() > 1 {
                (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
            } else {
                f64::NAN
            };
            let limit = specs.and_then(|s| s.limit(name));
            Summary {
                name: name.clone(),
                mean,
                sd,
                p05: quantile(&v, 0.05),
                p50: quantile(&v, 0.5),
                p95: quantile(&v, 0.95),
                prob_in_spec: limit
                    .map(|l| v.iter().filter(|&&x| l.contains(x)).count() as f64 / n),
                spec: limit.map(|l| l.describe()),
            }
        })
        .collect()
}

/// Linear-interpolation quantile (type 7) of sorted data.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let h = (sorted.len() - 1) as f64 * q;
    let lo = h.floor() as usize;
    let hi = h.ceil() as usize;
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(quantile(&v, 0.5), 3.0);
        assert_eq!(quantile(&v, 0.25), 2.0);
        assert!((quantile(&v, 0.05) - 1.2).abs() < 1e-12);
    }

    #[test]
    fn run_seeds_differ_and_repeat() {
        assert_eq!(run_seed(7, 3), run_seed(7, 3));
        assert_ne!(run_seed(7, 3), run_seed(7, 4));
        assert_ne!(run_seed(7, 3), run_seed(8, 3));
    }
}
