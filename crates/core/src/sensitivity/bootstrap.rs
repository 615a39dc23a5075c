//! Bootstrap percentile confidence intervals (Efron & Tibshirani 1993, ch. 13).
//!
//! A resample draws, with replacement, as many units (base samples for Sobol,
//! trajectories for Morris) as there are, and recomputes the statistic. Each
//! resample has its own generator seeded from (seed, resample index), so the
//! resamples can run in parallel and still give bit-identical results for a
//! given seed whatever the thread count.

use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use rayon::prelude::*;
use serde::Serialize;

use crate::random::mix as splitmix64;

/// A point estimate with its bootstrap percentile interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Estimate {
    /// Point estimate.
    pub value: f64,
    /// Lower end of the confidence interval.
    pub ci_low: f64,
    /// Upper end of the confidence interval.
    pub ci_high: f64,
}

impl Estimate {
    /// Whether `x` lies in the interval widened by `margin` on both sides.
    pub fn covers(&self, x: f64, margin: f64) -> bool {
        x >= self.ci_low - margin && x <= self.ci_high + margin
    }
}

/// The generator of resample `b` under `seed`; independent of thread count.
pub fn resample_rng(seed: u64, stream: u64, b: usize) -> Xoshiro256PlusPlus {
    Xoshiro256PlusPlus::seed_from_u64(splitmix64(splitmix64(seed ^ stream) ^ b as u64))
}

/// `n` indices drawn uniformly with replacement from `0..n`.
pub fn resample_indices(rng: &mut Xoshiro256PlusPlus, n: usize) -> Vec<usize> {
    (0..n).map(|_| rng.random_range(0..n)).collect()
}

/// Runs `statistic` on `resamples` index sets drawn from `0..n`, in parallel,
/// and returns the statistic vectors in resample order.
pub fn bootstrap<S>(
    n: usize,
    resamples: usize,
    seed: u64,
    stream: u64,
    statistic: S,
) -> Vec<Vec<f64>>
where
    S: Fn(&[usize]) -> Vec<f64> + Sync,
{
    (0..resamples)
        .into_par_iter()
        .map(|b| {
            let mut rng = resample_rng(seed, stream, b);
            statistic(&resample_indices(&mut rng, n))
        })
        .collect()
}

/// Quantile `q` of sorted data, linear interpolation between order
/// statistics (Hyndman & Fan 1996, type 7).
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let h = (sorted.len() - 1) as f64 * q.clamp(0.0, 1.0);
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

/// Percentile intervals at `level` (e.g. 0.95) for every component of the
/// statistic, given the point estimates and the bootstrap replicates.
pub fn percentile_intervals(point: &[f64], replicates: &[Vec<f64>], level: f64) -> Vec<Estimate> {
    let alpha = 1.0 - level;
    point
        .iter()
        .enumerate()
        .map(|(c, &value)| {
            let mut column: Vec<f64> = replicates.iter().map(|r| r[c]).collect();
            column.sort_by(f64::total_cmp);
            Estimate {
                value,
                ci_low: quantile_sorted(&column, alpha / 2.0),
                ci_high: quantile_sorted(&column, 1.0 - alpha / 2.0),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type7_quantiles() {
        let s = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(quantile_sorted(&s, 0.0), 1.0);
        assert_eq!(quantile_sorted(&s, 0.5), 3.0);
        assert_eq!(quantile_sorted(&s, 0.625), 3.5);
        assert_eq!(quantile_sorted(&s, 1.0), 5.0);
    }

    #[test]
    fn bootstrap_of_a_mean_has_the_textbook_width() {
        // Mean of n iid values with sd 1: the 95 % interval is about ±1.96/√n.
        let n = 400;
        let data: Vec<f64> = (0..n)
            .map(|i| {
                super::super::distribution::standard_normal_quantile((i as f64 + 0.5) / n as f64)
            })
            .collect();
        let mean =
            |idx: &[usize]| vec![idx.iter().map(|&i| data[i]).sum::<f64>() / idx.len() as f64];
        let reps = bootstrap(n, 2000, 9, 0, mean);
        let ci = percentile_intervals(&mean(&(0..n).collect::<Vec<_>>()), &reps, 0.95)[0];
        let half = 0.5 * (ci.ci_high - ci.ci_low);
        let expected = 1.96 / (n as f64).sqrt();
        assert!(
            (half / expected - 1.0).abs() < 0.1,
            "half width {half}, expected {expected}"
        );
    }

    #[test]
    fn same_seed_same_replicates() {
        let stat = |idx: &[usize]| vec![idx.iter().sum::<usize>() as f64];
        assert_eq!(bootstrap(50, 20, 3, 1, stat), bootstrap(50, 20, 3, 1, stat));
        assert_ne!(bootstrap(50, 20, 3, 1, stat), bootstrap(50, 20, 4, 1, stat));
    }
}
