//! Random-forest regression (Breiman, Machine Learning 45 (2001) 5): the
//! tree ensemble among the surrogates.
//!
//! It is biotwin's own code because linfa 0.8 has no regression tree:
//! `linfa-trees` 0.8.1 grows classification trees only (Gini or entropy
//! splits over hashable labels) and `linfa-ensemble` 0.8.1 bags and boosts
//! classifiers by majority vote. Its public boundary is the same as the
//! linfa models' (`Fit` over a [`TrainingSet`], [`Predict`], and ndarray
//! through [`ArrayPredict`](super::ndarray_bridge::ArrayPredict)).
//!
//! Each of `n_trees` trees is a CART regression tree (Breiman et al.,
//! *Classification and Regression Trees*, 1984) grown on a bootstrap sample
//! (n draws with replacement) of the standardised features x̃ and targets
//! ỹ (sample standard deviations, as PLS). One tree predicts all targets
//! (multi-output, as scikit-learn's): a node splits on the feature and
//! threshold, among ⌈`max_features`·p⌉ features drawn without replacement at
//! that node, that most reduce Σ_targets SSE = Σ_j Σ_i (ỹᵢⱼ − ȳⱼ)², each
//! child keeping at least `min_samples_leaf` rows; thresholds are midpoints
//! between consecutive distinct values. A node becomes a leaf (the mean of
//! its ỹ) at `max_depth`, when it cannot be split so, or when its SSE is 0.
//! The forest predicts the mean of its trees.
//!
//! Uncertainty: std of target j = the out-of-bag RMSE (each training row
//! predicted by the trees whose bootstrap missed it), a constant per
//! target: an out-of-sample estimate of the error of a new batch like the
//! training ones (Breiman 2001, §3.1), not a local one.
//!
//! Random draws: biotwin's SplitMix64 stream, tree k seeded with
//! `run_seed(seed, k)`, so a forest is reproduced from its seed.

use biotwin_core::random::{SplitMix64, run_seed};
use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

use super::standardise::{Scaling, Standardiser};
use super::{Fit, Predict, Prediction, SurrogateError, TrainingSet};

/// Random-forest hyper-parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForestParams {
    /// Number of trees (≥ 1).
    pub n_trees: usize,
    /// Largest depth of a tree (root = 0); `None`: grown until the other
    /// rules stop it.
    pub max_depth: Option<usize>,
    /// Fewest training rows in a leaf (≥ 1).
    pub min_samples_leaf: usize,
    /// Share of the features tried at each split, in (0, 1].
    pub max_features: f64,
    /// Seed of the bootstrap samples and feature draws (the same seed gives
    /// the same forest).
    pub seed: u64,
}

impl Default for ForestParams {
    /// scikit-learn's `RandomForestRegressor()` defaults: 100 trees, no depth
    /// limit, 1 row per leaf, every feature tried at each split; seed 1. Not
    /// tuned on the CHO data.
    fn default() -> ForestParams {
        ForestParams {
            n_trees: 100,
            max_depth: None,
            min_samples_leaf: 1,
            max_features: 1.0,
            seed: 1,
        }
    }
}

impl ForestParams {
    /// Refuses an out-of-range hyper-parameter, naming it.
    pub fn check(&self) -> Result<(), SurrogateError> {
        if self.n_trees == 0 || self.n_trees > 100_000 {
            return Err(SurrogateError::shape(
                "n_trees",
                "1 to 100000",
                self.n_trees,
            ));
        }
        if self.min_samples_leaf == 0 {
            return Err(SurrogateError::shape("min_samples_leaf", "at least 1", 0));
        }
        if !(self.max_features > 0.0 && self.max_features <= 1.0) {
            return Err(SurrogateError::shape(
                "max_features",
                "a share of the features in (0, 1]",
                self.max_features,
            ));
        }
        if self.max_depth == Some(0) {
            return Err(SurrogateError::shape(
                "max_depth",
                "at least 1 (or none)",
                0,
            ));
        }
        Ok(())
    }
}

/// One node of a tree, stored in a flat list (children by index).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Node {
    /// A leaf.
    Leaf {
        /// Mean standardised target of the rows that reached it.
        value: Vec<f64>,
    },
    /// Rows with `x̃[feature] ≤ threshold` go left.
    Split {
        /// Index of the (standardised) feature the node splits on.
        feature: usize,
        /// Split value, in standardised units of that feature.
        threshold: f64,
        /// Index of the left child (rows at or below the threshold).
        left: usize,
        /// Index of the right child (rows above it).
        right: usize,
    },
}

/// A regression tree; node 0 is the root.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tree {
    /// Nodes in preorder: every child comes after its parent.
    pub nodes: Vec<Node>,
}

impl Tree {
    /// The leaf value for one standardised row; `None` when the tree is
    /// malformed (a child index out of range or not after its parent, a
    /// feature beyond the row): a grown tree lists nodes in preorder, so a
    /// well-formed one reaches a leaf in fewer steps than it has nodes and
    /// a crafted file can neither panic nor loop here.
    pub fn predict_row(&self, x: &[f64]) -> Option<&[f64]> {
        let mut k = 0;
        loop {
            match self.nodes.get(k)? {
                Node::Leaf { value } => return Some(value),
                Node::Split {
                    feature,
                    threshold,
                    left,
                    right,
                } => {
                    let next = if *x.get(*feature)? <= *threshold {
                        *left
                    } else {
                        *right
                    };
                    if next <= k {
                        return None;
                    }
                    k = next;
                }
            }
        }
    }
}

/// A fitted random forest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForestModel {
    /// The hyperparameters it was grown with.
    pub params: ForestParams,
    /// Standardiser of the features (the trees split on x̃).
    pub x_scaler: Standardiser,
    /// Standardiser of the targets (leaves hold ỹ).
    pub y_scaler: Standardiser,
    /// The trees; the prediction is the mean of their leaves.
    pub trees: Vec<Tree>,
    /// Out-of-bag RMSE of each target (original units): the predictive std.
    #[serde(with = "super::matrix_serde::vector")]
    pub oob_rmse: DVector<f64>,
    /// Training rows.
    pub n_train: usize,
}

/// Grows one tree on the rows `rows` (with repeats) of x̃, ỹ.
struct Grower<'a> {
    x: &'a DMatrix<f64>,
    y: &'a DMatrix<f64>,
    params: &'a ForestParams,
    n_try: usize,
    rng: SplitMix64,
    nodes: Vec<Node>,
}

impl Grower<'_> {
    fn leaf(&mut self, rows: &[usize]) -> usize {
        let q = self.y.ncols();
        let mut value = vec![0.0; q];
        for &r in rows {
            for (j, v) in value.iter_mut().enumerate() {
                *v += self.y[(r, j)];
            }
        }
        for v in &mut value {
            *v /= rows.len() as f64;
        }
        self.nodes.push(Node::Leaf { value });
        self.nodes.len() - 1
    }

    /// The best (gain, feature, threshold) over the features tried.
    fn best_split(&mut self, rows: &[usize]) -> Option<(f64, usize, f64)> {
        let (p, q) = (self.x.ncols(), self.y.ncols());
        let n = rows.len();
        let min_leaf = self.params.min_samples_leaf;
        // Partial Fisher–Yates: the first n_try of a shuffled feature list.
        let mut features: Vec<usize> = (0..p).collect();
        for i in 0..self.n_try {
            let j = i + ((self.rng.uniform() * (p - i) as f64) as usize).min(p - i - 1);
            features.swap(i, j);
        }
        let mut total = vec![0.0; q];
        for &r in rows {
            for (j, t) in total.iter_mut().enumerate() {
                *t += self.y[(r, j)];
            }
        }
        let parent: f64 = total.iter().map(|s| s * s).sum::<f64>() / n as f64;
        let mut best: Option<(f64, usize, f64)> = None;
        let mut order = rows.to_vec();
        for &f in &features[..self.n_try] {
            order.sort_by(|&a, &b| self.x[(a, f)].total_cmp(&self.x[(b, f)]));
            let mut left = vec![0.0; q];
            for k in 0..n - 1 {
                let r = order[k];
                for (j, l) in left.iter_mut().enumerate() {
                    *l += self.y[(r, j)];
                }
                let (nl, nr) = (k + 1, n - k - 1);
                let (a, b) = (self.x[(r, f)], self.x[(order[k + 1], f)]);
                if nl < min_leaf || nr < min_leaf || a == b {
                    continue;
                }
                // SSE reduction = Σ_j (S_L²/n_L + S_R²/n_R − S²/n).
                let gain: f64 = left
                    .iter()
                    .zip(&total)
                    .map(|(l, t)| l * l / nl as f64 + (t - l) * (t - l) / nr as f64)
                    .sum::<f64>()
                    - parent;
                if gain > 1e-12 && best.is_none_or(|(g, _, _)| gain > g) {
                    // The midpoint, unless it rounds to b (adjacent floats) or
                    // overflows: then a, which splits the rows alike.
                    let mid = 0.5 * (a + b);
                    let t = if mid < b && mid.is_finite() { mid } else { a };
                    best = Some((gain, f, t));
                }
            }
        }
        best
    }

    fn grow(&mut self, rows: &[usize], depth: usize) -> usize {
        let n = rows.len();
        let deep = self.params.max_depth.is_some_and(|d| depth >= d);
        if deep || n < 2 * self.params.min_samples_leaf {
            return self.leaf(rows);
        }
        let Some((_, feature, threshold)) = self.best_split(rows) else {
            return self.leaf(rows);
        };
        let (l, r): (Vec<usize>, Vec<usize>) = rows
            .iter()
            .partition(|&&i| self.x[(i, feature)] <= threshold);
        let k = self.nodes.len();
        self.nodes.push(Node::Leaf { value: vec![] }); // placeholder
        let left = self.grow(&l, depth + 1);
        let right = self.grow(&r, depth + 1);
        self.nodes[k] = Node::Split {
            feature,
            threshold,
            left,
            right,
        };
        k
    }
}

impl Fit for ForestParams {
    type Model = ForestModel;

    fn fit(&self, data: &TrainingSet) -> Result<ForestModel, SurrogateError> {
        self.check()?;
        data.check()?;
        let (n, p, q) = (data.x.nrows(), data.x.ncols(), data.y.ncols());
        if n < 2 || p == 0 {
            return Err(SurrogateError::shape(
                "training rows and features",
                "at least 2 rows and 1 feature",
                format!("{n} rows, {p} features"),
            ));
        }
        let x_scaler = Standardiser::fit(&data.x, Scaling::SampleStd);
        let y_scaler = Standardiser::fit(&data.y, Scaling::SampleStd);
        let x = x_scaler.apply(&data.x);
        let y = y_scaler.apply(&data.y);
        let n_try = ((self.max_features * p as f64).ceil() as usize).clamp(1, p);
        let mut trees = Vec::with_capacity(self.n_trees);
        let mut oob_sum = DMatrix::<f64>::zeros(n, q);
        let mut oob_count = vec![0usize; n];
        for k in 0..self.n_trees {
            let mut rng = SplitMix64::new(run_seed(self.seed, k as u64));
            let mut in_bag = vec![false; n];
            let rows: Vec<usize> = (0..n)
                .map(|_| {
                    let i = ((rng.uniform() * n as f64) as usize).min(n - 1);
                    in_bag[i] = true;
                    i
                })
                .collect();
            let mut g = Grower {
                x: &x,
                y: &y,
                params: self,
                n_try,
                rng,
                nodes: Vec::new(),
            };
            g.grow(&rows, 0);
            let tree = Tree { nodes: g.nodes };
            for i in (0..n).filter(|&i| !in_bag[i]) {
                let row: Vec<f64> = x.row(i).iter().copied().collect();
                let leaf = tree.predict_row(&row).ok_or_else(|| {
                    SurrogateError::Numerical("a grown tree is malformed (a bug)".into())
                })?;
                for (j, v) in leaf.iter().enumerate() {
                    oob_sum[(i, j)] += v;
                }
                oob_count[i] += 1;
            }
            trees.push(tree);
        }
        // Out-of-bag RMSE in original units over the rows some tree missed.
        let oob_rows: Vec<usize> = (0..n).filter(|&i| oob_count[i] > 0).collect();
        if oob_rows.is_empty() {
            return Err(SurrogateError::Numerical(
                "random forest: no row was out of bag in any tree; use more trees".into(),
            ));
        }
        let oob_rmse = DVector::from_fn(q, |j, _| {
            let sse: f64 = oob_rows
                .iter()
                .map(|&i| {
                    let pred = oob_sum[(i, j)] / oob_count[i] as f64;
                    let pred = pred * y_scaler.scale[j] + y_scaler.mean[j];
                    (data.y[(i, j)] - pred).powi(2)
                })
                .sum();
            (sse / oob_rows.len() as f64).sqrt()
        });
        Ok(ForestModel {
            params: self.clone(),
            x_scaler,
            y_scaler,
            trees,
            oob_rmse,
            n_train: n,
        })
    }
}

impl Predict for ForestModel {
    fn n_features(&self) -> usize {
        self.x_scaler.mean.len()
    }
    fn n_targets(&self) -> usize {
        self.y_scaler.mean.len()
    }
    fn predict(&self, x: &DMatrix<f64>) -> Result<Prediction, SurrogateError> {
        self.check_input(x)?;
        let xs = self.x_scaler.apply(x);
        let q = self.n_targets();
        let mut z = DMatrix::zeros(x.nrows(), q);
        for i in 0..x.nrows() {
            let row: Vec<f64> = xs.row(i).iter().copied().collect();
            for t in &self.trees {
                let leaf = t.predict_row(&row).filter(|v| v.len() == q).ok_or_else(|| {
                    SurrogateError::Numerical(format!(
                        "a malformed tree in the forest (a node out of order or range, or a leaf without {q} values)"
                    ))
                })?;
                for (j, v) in leaf.iter().enumerate() {
                    z[(i, j)] += v;
                }
            }
        }
        if self.trees.is_empty() || self.oob_rmse.len() != q {
            return Err(SurrogateError::Numerical(format!(
                "a forest with {} trees and {} out-of-bag errors for {q} targets",
                self.trees.len(),
                self.oob_rmse.len()
            )));
        }
        z /= self.trees.len() as f64;
        let mean = self.y_scaler.invert(&z);
        let std = DMatrix::from_fn(x.nrows(), q, |_, j| self.oob_rmse[j]);
        Ok(Prediction { mean, std })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_malformed_forest_is_an_error_not_a_hang_or_a_panic() {
        let n = 20;
        let x = DMatrix::from_fn(n, 2, |i, j| (i * (j + 1)) as f64);
        let y = DMatrix::from_fn(n, 1, |i, _| i as f64);
        let good = ForestParams::default()
            .fit(&TrainingSet::from_matrices(x, y))
            .unwrap();
        let t = DMatrix::from_row_slice(1, 2, &[3.0, 6.0]);
        assert!(good.predict(&t).unwrap().mean[(0, 0)].is_finite());
        let split = |feature, left, right| Node::Split {
            feature,
            threshold: 0.0,
            left,
            right,
        };
        let leaf = |n: usize| Node::Leaf {
            value: vec![0.0; n],
        };
        for nodes in [
            vec![split(0, 0, 0)],                          // a node that is its own child
            vec![split(0, 1, 2), split(0, 0, 0), leaf(1)], // a cycle back to the root
            vec![split(0, 9, 1), leaf(1)], // a child out of range (the row goes left)
            vec![split(7, 1, 2), leaf(1), leaf(1)], // a feature beyond the row
            vec![leaf(3)],                 // a leaf of the wrong width
            vec![],                        // no nodes
        ] {
            let mut bad = good.clone();
            bad.trees = vec![Tree {
                nodes: nodes.clone(),
            }];
            assert!(bad.predict(&t).is_err(), "{nodes:?}");
        }
        let mut none = good.clone();
        none.trees.clear();
        assert!(none.predict(&t).is_err());
    }

    #[test]
    fn a_forest_learns_a_step_and_reports_its_oob_error() {
        // y = 1 for x0 > 0.5 else 0, x1 is noise-free clutter.
        let n = 40;
        let x = DMatrix::from_fn(n, 2, |i, j| {
            if j == 0 {
                i as f64 / n as f64
            } else {
                ((i * 7) % 11) as f64
            }
        });
        let y = DMatrix::from_fn(n, 1, |i, _| if x[(i, 0)] > 0.5 { 1.0 } else { 0.0 });
        let m = ForestParams::default()
            .fit(&TrainingSet::from_matrices(x, y))
            .unwrap();
        let t = DMatrix::from_row_slice(2, 2, &[0.1, 3.0, 0.9, 3.0]);
        let p = m.predict(&t).unwrap();
        assert!(p.mean[(0, 0)] < 0.05, "{}", p.mean[(0, 0)]);
        assert!(p.mean[(1, 0)] > 0.95, "{}", p.mean[(1, 0)]);
        // A clean step is learnt out of bag except at the edge.
        assert!(m.oob_rmse[0] < 0.2, "{}", m.oob_rmse[0]);
    }

    #[test]
    fn bad_hyperparameters_are_named() {
        let p = ForestParams {
            max_features: 1.5,
            ..Default::default()
        };
        match p.check() {
            Err(SurrogateError::Shape { what, .. }) => assert_eq!(what, "max_features"),
            other => panic!("{other:?}"),
        }
    }
}
