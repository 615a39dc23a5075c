//! Owen-scrambled Sobol points in the unit hypercube and their mapping onto
//! factors.
//!
//! The sequence is Sobol's with the Joe–Kuo direction numbers and hash-based
//! Owen scrambling (Burley 2020), taken from the `sobol_burley` crate. That
//! crate's `sample` returns `f32` (23 bits); we rebuild it from its public
//! `parts` to keep all 32 scrambled bits and return the midpoint of the
//! 2⁻³² cell, so coordinates are strictly inside (0, 1) and an unbounded
//! quantile function never sees 0 or 1.
//!
//! Limits inherited from the crate: at most 2¹⁶ points and 256 dimensions.

use sobol_burley::parts::{hash, owen_scramble_rev, sobol_rev};

use super::factor::Factor;
use crate::error::Diagnostics;

/// Largest number of points one scrambled sequence provides.
pub const MAX_POINTS: usize = 1 << 16;
/// Largest dimension of one scrambled sequence.
pub const MAX_DIMENSIONS: usize = sobol_burley::NUM_DIMENSIONS as usize;

/// Folds a 64-bit user seed into the 32-bit scramble seed, mixing both
/// halves so that seeds differing only in the high bits give different
/// sequences.
pub fn scramble_seed(seed: u64) -> u32 {
    let mixed = crate::random::mix(seed);
    (mixed ^ (mixed >> 32)) as u32
}

/// Coordinate `dimension` of point `index` of the scrambled Sobol sequence
/// selected by `seed`, in (0, 1). Mirrors `sobol_burley::sample` step by
/// step, with a 32-bit instead of a 23-bit result.
///
/// The caller keeps `index < MAX_POINTS` and `dimension < MAX_DIMENSIONS`.
pub fn sobol_coordinate(index: u32, dimension: u32, seed: u32) -> f64 {
    let shuffled_rev_index = owen_scramble_rev(index.reverse_bits(), hash(seed ^ 0x79c6_8e4a));
    let sobol = sobol_rev(shuffled_rev_index, dimension);
    let scramble = {
        let seed = seed.wrapping_mul(0x9c8f_2d3b);
        let ds = dimension >> 2;
        ds ^ seed ^ [0x912f_69ba, 0x174f_18ab, 0x691e_72ca, 0xb40c_c1b8][dimension as usize & 0b11]
    };
    let bits = owen_scramble_rev(sobol, hash(scramble)).reverse_bits();
    (bits as f64 + 0.5) / 4_294_967_296.0
}

/// Point `index` of the scrambled sequence, dimensions `first..first+count`.
pub fn sobol_point(index: usize, first: usize, count: usize, seed: u32) -> Vec<f64> {
    (first..first + count)
        .map(|d| sobol_coordinate(index as u32, d as u32, seed))
        .collect()
}

/// Maps a unit-hypercube point onto factor values by each factor's quantile
/// function.
pub fn to_factor_space(unit: &[f64], factors: &[Factor]) -> Vec<f64> {
    unit.iter()
        .zip(factors)
        .map(|(&u, f)| f.distribution.quantile(u))
        .collect()
}

/// `count` joint draws of the factors for Monte Carlo propagation: a
/// randomised quasi-Monte Carlo design (scrambled Sobol points mapped by
/// inverse CDF), which converges faster than independent draws for smooth
/// models and is reproducible from `seed`. Rows are factor values in factor
/// order; evaluate them with [`evaluate_points`](super::evaluate_points).
pub fn sample_factors(
    factors: &[Factor],
    count: usize,
    seed: u64,
) -> Result<Vec<Vec<f64>>, Diagnostics> {
    let mut problems = Diagnostics::new();
    if let Err(d) = super::setup_problem(factors) {
        problems.extend(d);
    }
    if !(1..=MAX_POINTS).contains(&count) {
        problems.push(super::setup_diagnostic(
            "samples",
            format!("a sample count in [1, {MAX_POINTS}]"),
            count.to_string(),
        ));
    }
    if factors.len() > MAX_DIMENSIONS {
        problems.push(super::setup_diagnostic(
            "factors",
            format!("at most {MAX_DIMENSIONS} factors"),
            format!("{} factors", factors.len()),
        ));
    }
    problems.into_result(())?;
    let scramble = scramble_seed(seed);
    Ok((0..count)
        .map(|i| to_factor_space(&sobol_point(i, 0, factors.len(), scramble), factors))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sensitivity::Distribution;

    #[test]
    fn monte_carlo_sample_has_the_distributions_moments() {
        let factors = vec![
            Factor::new("n", Distribution::Normal { mean: 3.0, sd: 0.5 }),
            Factor::new(
                "t",
                Distribution::Triangular {
                    low: 0.0,
                    mode: 1.0,
                    high: 4.0,
                },
            ),
        ];
        let rows = sample_factors(&factors, 4096, 5).expect("valid");
        for (c, f) in factors.iter().enumerate() {
            let n = rows.len() as f64;
            let mean = rows.iter().map(|r| r[c]).sum::<f64>() / n;
            let var = rows.iter().map(|r| (r[c] - mean).powi(2)).sum::<f64>() / (n - 1.0);
            let d = &f.distribution;
            // QMC error at n = 4096 is far below the iid 1/√n.
            assert!(
                (mean - d.mean()).abs() < 1e-3 * d.variance().sqrt(),
                "{mean}"
            );
            assert!((var / d.variance() - 1.0).abs() < 1e-2, "{var}");
        }
        assert_eq!(rows, sample_factors(&factors, 4096, 5).expect("valid"));
        assert!(sample_factors(&factors, 0, 5).is_err());
    }

    #[test]
    fn agrees_with_the_crate_to_f32_precision() {
        for i in [0u32, 1, 7, 1000, 65535] {
            for d in [0u32, 3, 4, 17, 255] {
                let ours = sobol_coordinate(i, d, 42);
                let theirs = sobol_burley::sample(i, d, 42) as f64;
                assert!(ours > 0.0 && ours < 1.0);
                assert!((ours - theirs).abs() < 2.0f64.powi(-23), "{ours} {theirs}");
            }
        }
    }

    #[test]
    fn is_stratified_in_every_dimension() {
        // A (0, m, 1)-net: each of 2^m points falls in its own 1/2^m interval.
        let n = 256;
        for d in 0..6u32 {
            let mut seen = vec![false; n];
            for i in 0..n as u32 {
                let cell = (sobol_coordinate(i, d, 7) * n as f64) as usize;
                assert!(!seen[cell], "dimension {d}: two points in cell {cell}");
                seen[cell] = true;
            }
        }
    }

    #[test]
    fn seeds_give_different_sequences() {
        assert_ne!(scramble_seed(1), scramble_seed(1 << 40));
        assert_ne!(sobol_coordinate(5, 0, 1), sobol_coordinate(5, 0, 2));
    }
}
