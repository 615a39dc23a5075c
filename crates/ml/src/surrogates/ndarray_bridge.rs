//! The one place where biotwin's nalgebra matrices meet `ndarray` (0.16, the
//! version linfa 0.8 is built on).
//!
//! nalgebra stores a `DMatrix` column-major (Fortran order) in one slice, so
//! an ndarray *view* of it costs nothing: the same slice with strides
//! (1, nrows). The other way, an ndarray view becomes a nalgebra *view*
//! whenever its elements are one contiguous block (any C- or F-ordered
//! matrix, a transpose, a block of whole rows of a C-ordered one); a strided
//! slice is copied, and [`to_dmatrix`] copies by design when an owned
//! matrix is needed.
//!
//! The surrogates' public boundary in ndarray ([`ArrayPredict`],
//! [`TrainingSet::from_arrays`]) and the linfa models (`linfa_models.rs`) go
//! through these functions and no others.

use nalgebra::{DMatrix, DVector, Dyn, MatrixView};
use ndarray::{Array1, Array2, ArrayView1, ArrayView2, ShapeBuilder};

use super::{Predict, Prediction, SurrogateError, TrainingSet};

/// A zero-copy ndarray view of a nalgebra matrix (column-major strides).
pub fn view(m: &DMatrix<f64>) -> ArrayView2<'_, f64> {
    // A DMatrix's slice holds exactly nrows·ncols values in column-major
    // order, so the shape always fits.
    ArrayView2::from_shape((m.nrows(), m.ncols()).f(), m.as_slice())
        .expect("a DMatrix slice holds nrows × ncols values") // ok: invariant of DMatrix
}

/// A zero-copy ndarray view of a nalgebra vector.
pub fn view_vector(v: &DVector<f64>) -> ArrayView1<'_, f64> {
    ArrayView1::from(v.as_slice())
}

/// A nalgebra matrix view with any row and column strides.
pub type StridedView<'a> = MatrixView<'a, f64, Dyn, Dyn, Dyn, Dyn>;

/// A nalgebra view of an ndarray view, without copying, when its elements
/// are one contiguous block (C- or Fortran-ordered, as every owned ndarray
/// matrix and its transpose); `None` for a strided slice (use
/// [`to_dmatrix`]).
pub fn nalgebra_view<'a>(a: &ArrayView2<'a, f64>) -> Option<StridedView<'a>> {
    let (r, c) = a.dim();
    let data = a.to_slice_memory_order()?;
    let s = a.strides();
    // Contiguous in memory order: both strides are non-negative (an axis
    // of length 1 may carry any stride; nalgebra ignores it then).
    let stride = |k: isize, len: usize| if len <= 1 { 1 } else { k as usize };
    if s.iter().zip([r, c]).any(|(&k, len)| len > 1 && k < 0) {
        return None;
    }
    Some(StridedView::from_slice_with_strides_generic(
        data,
        Dyn(r),
        Dyn(c),
        Dyn(stride(s[0], r)),
        Dyn(stride(s[1], c)),
    ))
}

/// An owned nalgebra matrix from any ndarray view (one copy).
pub fn to_dmatrix(a: &ArrayView2<'_, f64>) -> DMatrix<f64> {
    let (r, c) = a.dim();
    match nalgebra_view(a) {
        Some(v) => v.into_owned(),
        None => DMatrix::from_fn(r, c, |i, j| a[[i, j]]),
    }
}

/// An owned ndarray matrix (column-major, like nalgebra's) from a nalgebra
/// matrix.
pub fn to_array(m: &DMatrix<f64>) -> Array2<f64> {
    view(m).to_owned()
}

/// An owned nalgebra vector from an ndarray vector.
pub fn to_dvector(a: &ArrayView1<'_, f64>) -> DVector<f64> {
    DVector::from_iterator(a.len(), a.iter().copied())
}

/// A prediction as ndarray matrices, n × q each.
#[derive(Debug, Clone, PartialEq)]
pub struct ArrayPrediction {
    /// Predictive means.
    pub mean: Array2<f64>,
    /// Predictive standard deviations of a new observation.
    pub std: Array2<f64>,
}

impl From<Prediction> for ArrayPrediction {
    fn from(p: Prediction) -> ArrayPrediction {
        ArrayPrediction {
            mean: to_array(&p.mean),
            std: to_array(&p.std),
        }
    }
}

/// Every fitted surrogate predicts from an ndarray matrix (n × p), so a
/// researcher working in ndarray/linfa never touches nalgebra.
pub trait ArrayPredict: Predict {
    /// Predictions for the rows of `x`, as ndarray.
    fn predict_array(&self, x: ArrayView2<'_, f64>) -> Result<ArrayPrediction, SurrogateError> {
        Ok(self.predict(&to_dmatrix(&x))?.into())
    }
}

impl<T: Predict + ?Sized> ArrayPredict for T {}

impl TrainingSet {
    /// A training set from ndarray matrices (each row its own batch
    /// `row<i>`, as [`TrainingSet::from_matrices`]).
    pub fn from_arrays(x: ArrayView2<'_, f64>, y: ArrayView2<'_, f64>) -> TrainingSet {
        TrainingSet::from_matrices(to_dmatrix(&x), to_dmatrix(&y))
    }

    /// Zero-copy ndarray views of the features and targets.
    pub fn arrays(&self) -> (ArrayView2<'_, f64>, ArrayView2<'_, f64>) {
        (view(&self.x), view(&self.y))
    }

    /// Column `j` of the targets as an owned ndarray vector (a target of a
    /// single-output linfa model).
    pub fn target_column(&self, j: usize) -> Array1<f64> {
        view(&self.y).column(j).to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, s};

    fn sample() -> DMatrix<f64> {
        DMatrix::from_fn(4, 3, |i, j| (10 * i + j) as f64)
    }

    #[test]
    fn a_view_shares_the_nalgebra_storage() {
        let m = sample();
        let v = view(&m);
        assert_eq!(v.dim(), (4, 3));
        assert_eq!(v.as_ptr(), m.as_slice().as_ptr());
        for i in 0..4 {
            for j in 0..3 {
                assert_eq!(v[[i, j]], m[(i, j)]);
            }
        }
    }

    #[test]
    fn ndarray_views_become_nalgebra_views_without_a_copy() {
        let c_order = Array2::from_shape_fn((4, 3), |(i, j)| (10 * i + j) as f64);
        for a in [c_order.view(), c_order.t(), c_order.slice(s![1..3, ..])] {
            let n = nalgebra_view(&a).expect("non-negative strides");
            assert_eq!(n.shape(), a.dim());
            assert_eq!(n.as_ptr(), a.as_ptr());
            for i in 0..a.nrows() {
                for j in 0..a.ncols() {
                    assert_eq!(n[(i, j)], a[[i, j]]);
                }
            }
            assert_eq!(to_dmatrix(&a), n.into_owned());
        }
        // Strided or reversed: no view, but a copy.
        let every_other = c_order.slice(s![..;2, ..]);
        assert!(nalgebra_view(&every_other).is_none());
        assert_eq!(to_dmatrix(&every_other)[(1, 2)], 22.0);
        let rev = c_order.slice(s![..;-1, ..]);
        assert!(nalgebra_view(&rev).is_none());
        let m = to_dmatrix(&rev);
        assert_eq!(m[(0, 2)], 32.0);
        assert_eq!(m[(3, 0)], 0.0);
    }

    #[test]
    fn round_trip_is_exact() {
        let m = sample();
        assert_eq!(to_dmatrix(&to_array(&m).view()), m);
        let v = DVector::from_vec(vec![1.5, -2.0, 3.25]);
        assert_eq!(to_dvector(&view_vector(&v)), v);
        let empty = DMatrix::<f64>::zeros(0, 3);
        assert_eq!(to_dmatrix(&view(&empty)), empty);
    }
}
