//! Morris trajectories in the unit hypercube and their selection for spread.
//!
//! A trajectory (Morris 1991) is k + 1 points on the p-level grid
//! {0, 1/(p−1), …, 1}^k; consecutive points differ in one coordinate by
//! ±Δ with Δ = p / (2(p − 1)), each coordinate moving exactly once, in random
//! order and direction from a random base point. This is the matrix
//! B* = (J x* + (Δ/2)[(2B − J)D* + J]) P* of Morris (1991), built step by step.
//!
//! Improved spread (Campolongo, Cariboni & Saltelli 2007): draw M candidate
//! trajectories and keep the r that maximise Σ d_ml² over kept pairs, where
//! d_ml is the sum of Euclidean distances between all points of trajectories
//! m and l. The exact search is combinatorial; we use the greedy removal in
//! the spirit of Ruano, Ribes, Seco & Ferrer (2012): repeatedly drop the
//! candidate whose squared distances to the others still kept sum to the
//! least, which is the candidate whose removal costs the least spread.

use rand::rngs::Xoshiro256PlusPlus;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use rayon::prelude::*;

use crate::random::mix as splitmix64;

/// One trajectory: k + 1 unit-cube points and, for each step s, the factor
/// that moved between points s and s + 1 and its signed change.
#[derive(Debug, Clone, PartialEq)]
pub struct Trajectory {
    /// The k + 1 points in the unit cube.
    pub points: Vec<Vec<f64>>,
    /// Factor moved at each step.
    pub moved: Vec<usize>,
    /// Signed change of that factor at each step (±Δ).
    pub step: Vec<f64>,
}

/// The Morris step Δ = p / (2(p − 1)) for `levels` = p (even).
pub fn delta(levels: usize) -> f64 {
    levels as f64 / (2.0 * (levels as f64 - 1.0))
}

/// A random trajectory for `k` factors on a `levels`-level grid.
pub fn random_trajectory(rng: &mut Xoshiro256PlusPlus, k: usize, levels: usize) -> Trajectory {
    let d = delta(levels);
    let grid = (levels - 1) as f64;
    // Base values x* on {0, …, 1 − Δ} so that x* + Δ stays on the grid.
    let base_levels = levels / 2;
    let mut x: Vec<f64> = Vec::with_capacity(k);
    let mut direction = Vec::with_capacity(k);
    for _ in 0..k {
        let base = rng.random_range(0..base_levels) as f64 / grid;
        let up = rng.random_bool(0.5);
        // Going down starts from x* + Δ and ends at x*.
        x.push(if up { base } else { base + d });
        direction.push(if up { d } else { -d });
    }
    let mut order: Vec<usize> = (0..k).collect();
    order.shuffle(rng);

    let mut points = Vec::with_capacity(k + 1);
    points.push(x.clone());
    let mut step = Vec::with_capacity(k);
    for &i in &order {
        x[i] += direction[i];
        // Snap to the grid so that rounding never leaves [0, 1].
        x[i] = (x[i] * grid).round() / grid;
        points.push(x.clone());
        step.push(direction[i]);
    }
    Trajectory {
        points,
        moved: order,
        step,
    }
}

/// `count` trajectories, reproducible from `seed`.
pub fn random_trajectories(count: usize, k: usize, levels: usize, seed: u64) -> Vec<Trajectory> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(splitmix64(seed ^ 0x0000_40bb_1500));
    (0..count)
        .map(|_| random_trajectory(&mut rng, k, levels))
        .collect()
}

/// Sum of Euclidean distances between all point pairs of two trajectories.
pub fn trajectory_distance(a: &Trajectory, b: &Trajectory) -> f64 {
    a.points
        .iter()
        .flat_map(|p| {
            b.points.iter().map(move |q| {
                p.iter()
                    .zip(q)
                    .map(|(x, y)| (x - y).powi(2))
                    .sum::<f64>()
                    .sqrt()
            })
        })
        .sum()
}

/// Indices (ascending) of `keep` candidates chosen for spread by greedy
/// removal.
pub fn select_for_spread(candidates: &[Trajectory], keep: usize) -> Vec<usize> {
    let m = candidates.len();
    // O(M² k³) work, the bulk of the selection: rows in parallel, each entry
    // computed on its own, so the result does not depend on the threads.
    let d2: Vec<Vec<f64>> = (0..m)
        .into_par_iter()
        .map(|a| {
            (0..m)
                .map(|b| {
                    if a == b {
                        0.0
                    } else {
                        trajectory_distance(&candidates[a], &candidates[b]).powi(2)
                    }
                })
                .collect()
        })
        .collect();
    let mut kept: Vec<usize> = (0..m).collect();
    let mut contribution: Vec<f64> = (0..m).map(|a| d2[a].iter().sum()).collect();
    while kept.len() > keep {
        // First minimum wins ties, so the choice is deterministic.
        let (pos, _) = kept
            .iter()
            .enumerate()
            .fold((0, f64::INFINITY), |best, (pos, &a)| {
                if contribution[a] < best.1 {
                    (pos, contribution[a])
                } else {
                    best
                }
            });
        let dropped = kept.remove(pos);
        for &a in &kept {
            contribution[a] -= d2[a][dropped];
        }
    }
    kept
}

/// Total spread Σ d_ml² over pairs of the given trajectories.
pub fn spread(trajectories: &[&Trajectory]) -> f64 {
    let mut s = 0.0;
    for a in 0..trajectories.len() {
        for b in a + 1..trajectories.len() {
            s += trajectory_distance(trajectories[a], trajectories[b]).powi(2);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trajectories_move_each_factor_once_by_delta_on_the_grid() {
        for levels in [2, 4, 6, 8] {
            let d = delta(levels);
            for t in random_trajectories(50, 5, levels, 11) {
                assert_eq!(t.points.len(), 6);
                let mut moved = t.moved.clone();
                moved.sort();
                assert_eq!(moved, vec![0, 1, 2, 3, 4]);
                for s in 0..5 {
                    let (p, q) = (&t.points[s], &t.points[s + 1]);
                    for i in 0..5 {
                        let change = q[i] - p[i];
                        if i == t.moved[s] {
                            assert!((change - t.step[s]).abs() < 1e-12);
                            assert!((change.abs() - d).abs() < 1e-12);
                        } else {
                            assert_eq!(change, 0.0);
                        }
                    }
                }
                for p in &t.points {
                    for &x in p {
                        let level = x * (levels - 1) as f64;
                        assert!((0.0..=1.0).contains(&x));
                        assert!((level - level.round()).abs() < 1e-9);
                    }
                }
            }
        }
    }

    #[test]
    fn greedy_selection_beats_the_first_r_candidates() {
        let cands = random_trajectories(40, 4, 4, 5);
        let chosen = select_for_spread(&cands, 10);
        assert_eq!(chosen.len(), 10);
        let picked: Vec<&Trajectory> = chosen.iter().map(|&i| &cands[i]).collect();
        let naive: Vec<&Trajectory> = cands.iter().take(10).collect();
        assert!(spread(&picked) > spread(&naive));
    }

    #[test]
    fn greedy_selection_keeps_the_far_pair() {
        // Three trajectories of one factor: two far apart, one in the middle.
        let t = |a: f64, b: f64| Trajectory {
            points: vec![vec![a], vec![b]],
            moved: vec![0],
            step: vec![b - a],
        };
        let cands = vec![t(0.0, 0.5), t(0.25, 0.75), t(0.5, 1.0)];
        assert_eq!(select_for_spread(&cands, 2), vec![0, 2]);
    }
}
