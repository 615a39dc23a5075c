//! Validation splits that hold out **whole batches**, and the loop that
//! fits on the training batches and predicts the held-out ones.
//!
//! Time points of one batch are strongly correlated; a model validated on
//! random time points is validated on data it has nearly seen. Every split
//! here is a partition of batch ids, mapped to rows through
//! [`TrainingSet::batch_ids`].

use std::collections::BTreeMap;

use nalgebra::DMatrix;

use super::metrics::{Metrics, metrics_by_target};
use super::{Fit, Predict, Prediction, SurrogateError, TrainingSet};

/// Training and held-out batches.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    /// Batches to train on.
    pub train: Vec<String>,
    /// Batches held out.
    pub test: Vec<String>,
}

/// Distinct batch ids in first-appearance order.
pub fn distinct(ids: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for id in ids {
        if !out.contains(id) {
            out.push(id.clone());
        }
    }
    out
}

/// One split per batch, holding out that batch.
pub fn leave_batch_out(ids: &[String]) -> Vec<Split> {
    let batches = distinct(ids);
    batches
        .iter()
        .map(|held| Split {
            train: batches.iter().filter(|b| *b != held).cloned().collect(),
            test: vec![held.clone()],
        })
        .collect()
}

/// k folds of batches: batch i (in sorted id order) goes to fold i mod k.
/// Deterministic, so a reported score can be recomputed exactly.
pub fn k_fold_by_batch(ids: &[String], k: usize) -> Result<Vec<Split>, SurrogateError> {
    let mut batches = distinct(ids);
    batches.sort();
    if k < 2 || k > batches.len() {
        return Err(SurrogateError::shape(
            "folds",
            format!("2..={} (the number of batches)", batches.len()),
            k,
        ));
    }
    Ok((0..k)
        .map(|f| {
            let (test, train): (Vec<_>, Vec<_>) =
                batches.iter().enumerate().partition(|(i, _)| i % k == f);
            Split {
                train: train.into_iter().map(|(_, b)| b.clone()).collect(),
                test: test.into_iter().map(|(_, b)| b.clone()).collect(),
            }
        })
        .collect())
}

/// "Edge of DoE" extrapolation split: hold out the `n_edge` batches farthest
/// from the centre of the design. `design` has one row per batch (in the
/// order of `batches`) and one column per design factor; factors are
/// standardised (sample std) and the distance is the largest |z| over the
/// factors (Chebyshev), so a batch with any one extreme factor counts as an
/// edge batch. Ties are broken by batch id.
pub fn edge_of_doe(
    batches: &[String],
    design: &DMatrix<f64>,
    n_edge: usize,
) -> Result<Split, SurrogateError> {
    if design.nrows() != batches.len() {
        return Err(SurrogateError::shape(
            "design rows",
            batches.len(),
            design.nrows(),
        ));
    }
    if n_edge == 0 || n_edge >= batches.len() {
        return Err(SurrogateError::shape(
            "edge batches",
            format!("1..{}", batches.len()),
            n_edge,
        ));
    }
    let z = super::standardise::Standardiser::fit(design, super::standardise::Scaling::SampleStd)
        .apply(design);
    let mut dist: Vec<(f64, &String)> = (0..batches.len())
        .map(|i| {
            (
                z.row(i).iter().fold(0.0f64, |a, v| a.max(v.abs())),
                &batches[i],
            )
        })
        .collect();
    dist.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    let test: Vec<String> = dist[..n_edge].iter().map(|(_, b)| (*b).clone()).collect();
    let train = batches
        .iter()
        .filter(|b| !test.contains(b))
        .cloned()
        .collect();
    Ok(Split { train, test })
}

/// Out-of-sample predictions of every held-out row and their metrics.
#[derive(Debug, Clone)]
pub struct CvResult {
    /// Rows of the training set that were held out, in the order predicted.
    pub rows: Vec<usize>,
    /// Batch of each held-out row (same order as `rows`).
    pub batch_ids: Vec<String>,
    /// Observed targets of the held-out rows (rows × targets, SI).
    pub observed: DMatrix<f64>,
    /// Out-of-sample predictions of those rows (mean and SD).
    pub prediction: Prediction,
    /// Metrics per target name.
    pub metrics: BTreeMap<String, Metrics>,
}

/// Fits `params` on each split's training batches and predicts its held-out
/// batches; a batch held out by several splits is predicted several times.
pub fn cross_validate<F: Fit>(
    params: &F,
    data: &TrainingSet,
    splits: &[Split],
) -> Result<CvResult, SurrogateError>
where
    F::Model: Predict,
{
    cross_validate_with(params, data, splits, |model, rows| {
        model.predict(&data.x.select_rows(rows))
    })
}

/// [`cross_validate`] with the held-out rows predicted by `predict(model,
/// rows)`: for models that predict from more than the feature rows (the
/// conditioned serial hybrid reads the held-out batches' records).
pub fn cross_validate_with<F: Fit>(
    params: &F,
    data: &TrainingSet,
    splits: &[Split],
    predict: impl Fn(&F::Model, &[usize]) -> Result<Prediction, SurrogateError>,
) -> Result<CvResult, SurrogateError> {
    let q = data.y.ncols();
    let mut rows = Vec::new();
    let mut means: Vec<Vec<f64>> = Vec::new();
    let mut stds: Vec<Vec<f64>> = Vec::new();
    for split in splits {
        let train_rows = data.rows_of(&split.train);
        let test_rows = data.rows_of(&split.test);
        if test_rows.is_empty() {
            continue;
        }
        if split.test.iter().any(|b| split.train.contains(b)) {
            return Err(SurrogateError::shape(
                "split",
                "disjoint training and held-out batches",
                "a batch in both",
            ));
        }
        let model = params.fit(&data.subset(&train_rows))?;
        let p = predict(&model, &test_rows)?;
        for (k, &r) in test_rows.iter().enumerate() {
            rows.push(r);
            means.push((0..q).map(|j| p.mean[(k, j)]).collect());
            stds.push((0..q).map(|j| p.std[(k, j)]).collect());
        }
    }
    let n = rows.len();
    let flat = |v: &Vec<Vec<f64>>| DMatrix::from_row_iterator(n, q, v.iter().flatten().copied());
    let prediction = Prediction {
        mean: flat(&means),
        std: flat(&stds),
    };
    let observed = data.y.select_rows(&rows);
    let metrics = metrics_by_target(&prediction, &observed, &data.target_names);
    Ok(CvResult {
        batch_ids: rows.iter().map(|&r| data.batch_ids[r].clone()).collect(),
        rows,
        observed,
        prediction,
        metrics,
    })
}

/// Makes the inner splits from an outer split's training batches.
pub type InnerSplits = dyn Fn(&[String]) -> Result<Vec<Split>, SurrogateError>;

/// Nested validation: for each outer split, pick the candidate with the
/// lowest inner-CV RMSE (summed over targets, each scaled by the training
/// targets' standard deviation) using only the outer split's training
/// batches, refit it on them and predict the held-out batches. The score is
/// then free of the optimism of choosing hyperparameters on the test batches.
/// Returns the outer result and the index of the candidate chosen per split.
pub fn nested_cross_validate<F: Fit>(
    candidates: &[F],
    data: &TrainingSet,
    outer: &[Split],
    inner: &InnerSplits,
) -> Result<(CvResult, Vec<usize>), SurrogateError>
where
    F::Model: Predict,
{
    if candidates.is_empty() {
        return Err(SurrogateError::shape("candidates", "at least one", 0));
    }
    let mut chosen_per_split = Vec::new();
    let mut chosen_splits = Vec::new();
    for split in outer {
        let train = data.subset(&data.rows_of(&split.train));
        let inner_splits = inner(&split.train)?;
        let scale: Vec<f64> = (0..train.y.ncols())
            .map(|j| {
                let c = train.y.column(j);
                let m = c.mean();
                let sd = (c.iter().map(|v| (v - m).powi(2)).sum::<f64>() / c.len() as f64).sqrt();
                if sd > 0.0 { sd } else { 1.0 }
            })
            .collect();
        let mut best: Option<(f64, usize)> = None;
        for (k, cand) in candidates.iter().enumerate() {
            // A candidate that cannot be fitted on some inner split is skipped.
            let Ok(r) = cross_validate(cand, &train, &inner_splits) else {
                continue;
            };
            let score: f64 = train
                .target_names
                .iter()
                .enumerate()
                .map(|(j, t)| r.metrics[t].rmse / scale[j])
                .sum();
            if best.is_none_or(|(b, _)| score < b) {
                best = Some((score, k));
            }
        }
        let (_, k) = best.ok_or_else(|| {
            SurrogateError::Numerical("no candidate could be fitted on the inner splits".into())
        })?;
        chosen_per_split.push(k);
        chosen_splits.push((k, split.clone()));
    }
    // Outer predictions with the chosen candidate of each split.
    let mut parts = Vec::new();
    for (k, split) in &chosen_splits {
        parts.push(cross_validate(
            &candidates[*k],
            data,
            std::slice::from_ref(split),
        )?);
    }
    Ok((merge(parts, data), chosen_per_split))
}

/// Concatenates per-split results and recomputes the metrics.
fn merge(parts: Vec<CvResult>, data: &TrainingSet) -> CvResult {
    let q = data.y.ncols();
    let rows: Vec<usize> = parts.iter().flat_map(|p| p.rows.clone()).collect();
    let n = rows.len();
    let stack = |f: &dyn Fn(&CvResult) -> &DMatrix<f64>| {
        let mut m = DMatrix::zeros(n, q);
        let mut i = 0;
        for p in &parts {
            let src = f(p);
            for r in 0..src.nrows() {
                m.set_row(i, &src.row(r));
                i += 1;
            }
        }
        m
    };
    let prediction = Prediction {
        mean: stack(&|p| &p.prediction.mean),
        std: stack(&|p| &p.prediction.std),
    };
    let observed = data.y.select_rows(&rows);
    let metrics = metrics_by_target(&prediction, &observed, &data.target_names);
    CvResult {
        batch_ids: rows.iter().map(|&r| data.batch_ids[r].clone()).collect(),
        rows,
        observed,
        prediction,
        metrics,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("B{i:02}")).collect()
    }

    #[test]
    fn leave_batch_out_holds_out_every_row_of_a_batch() {
        let rows: Vec<String> = ["B1", "B1", "B2", "B3", "B3"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let splits = leave_batch_out(&rows);
        assert_eq!(splits.len(), 3);
        assert_eq!(splits[0].test, vec!["B1"]);
        assert_eq!(splits[0].train, vec!["B2", "B3"]);
    }

    #[test]
    fn k_folds_partition_the_batches() {
        let b = ids(7);
        let splits = k_fold_by_batch(&b, 3).unwrap();
        let mut all: Vec<String> = splits.iter().flat_map(|s| s.test.clone()).collect();
        all.sort();
        assert_eq!(all, b);
        for s in &splits {
            assert_eq!(s.train.len() + s.test.len(), 7);
        }
        assert!(k_fold_by_batch(&b, 8).is_err());
    }

    #[test]
    fn edge_split_takes_the_extreme_batches() {
        let b = ids(5);
        // Batch 4 is extreme in factor 0, batch 2 in factor 1.
        let design =
            DMatrix::from_row_slice(5, 2, &[0.0, 0.0, 0.1, 3.0, -0.1, 0.1, 5.0, 0.0, 0.0, -0.1]);
        let s = edge_of_doe(&b, &design, 2).unwrap();
        let mut t = s.test.clone();
        t.sort();
        assert_eq!(t, vec!["B02", "B04"]);
        assert_eq!(s.train, vec!["B01", "B03", "B05"]);
    }
}
