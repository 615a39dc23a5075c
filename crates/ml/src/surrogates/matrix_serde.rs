//! Serialising nalgebra matrices as `{ "rows", "cols", "data" (row-major) }`,
//! readable in a JSON artifact without nalgebra's serde feature.

use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Plain {
    rows: usize,
    cols: usize,
    data: Vec<f64>,
}

/// Writes `m` as `{ "rows", "cols", "data" }`, data row-major.
pub fn serialize<S: Serializer>(m: &DMatrix<f64>, s: S) -> Result<S::Ok, S::Error> {
    let mut data = Vec::with_capacity(m.len());
    for i in 0..m.nrows() {
        for j in 0..m.ncols() {
            data.push(m[(i, j)]);
        }
    }
    Plain {
        rows: m.nrows(),
        cols: m.ncols(),
        data,
    }
    .serialize(s)
}

/// Reads a matrix written by [`serialize`]; errors when `data` does not
/// hold `rows × cols` values.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DMatrix<f64>, D::Error> {
    let p = Plain::deserialize(d)?;
    if p.rows * p.cols != p.data.len() {
        return Err(serde::de::Error::custom(format!(
            "matrix of {}x{} needs {} numbers, found {}",
            p.rows,
            p.cols,
            p.rows * p.cols,
            p.data.len()
        )));
    }
    Ok(DMatrix::from_row_slice(p.rows, p.cols, &p.data))
}

/// The same for column vectors, written as plain arrays.
pub mod vector {
    use super::*;

    /// Writes `v` as a plain array.
    pub fn serialize<S: Serializer>(v: &DVector<f64>, s: S) -> Result<S::Ok, S::Error> {
        v.as_slice().serialize(s)
    }

    /// Reads a plain array as a column vector.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DVector<f64>, D::Error> {
        Ok(DVector::from_vec(Vec::<f64>::deserialize(d)?))
    }
}
