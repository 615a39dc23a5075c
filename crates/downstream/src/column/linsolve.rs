//! The sparse LU that the column's BDF integrator solves its Newton systems
//! with: faer's sparse LU (fill-reducing COLAMD column order, partial
//! pivoting), as diffsol's `FaerSparseLU`, but without that wrapper's
//! per-solve costs.
//!
//! Profiling the GRM Langmuir case with callgrind (issue 18) put 26 % of all
//! instructions in the 2500 solves of a 221-state system, almost half of it
//! in faer's row permutation: diffsol hands faer its vector as a one-column
//! matrix whose column stride is not larger than its row stride, and faer
//! then permutes it row by row through the general matrix copy (~60
//! instructions per entry). Each solve also allocated its scratch memory.
//! Here the right-hand side is viewed as a column-major n × 1 matrix
//! (element-wise permutation), the scratch memory is allocated once, and
//! every call runs sequentially (`Par::Seq`: one thread, as in the CADET
//! comparison). A factorisation that fails (a structurally singular Newton
//! matrix) or a solve that is not finite (a numerically singular one) is
//! reported as a failed solve, which diffsol answers with a smaller step,
//! instead of a panic or a NaN state.

use std::cell::RefCell;

use diffsol::error::{DiffsolError, LinearSolverError};
use diffsol::{FaerSparseMat, FaerVec, LinearSolver, Matrix, NonLinearOpJacobian, VectorHost};
use faer::dyn_stack::{MemBuffer, MemStack};
use faer::mat::MatMut;
use faer::sparse::SparseColMatRef;
use faer::sparse::linalg::lu::{LuRef, NumericLu, SymbolicLu, factorize_symbolic_lu};
use faer::{Conj, Par};

type Mat = FaerSparseMat<f64>;

/// diffsol linear solver for the column's Newton matrix M - γhJ: the sparse
/// LU described in the module docs. Created empty by `Default`; diffsol
/// sets its sparsity and factorises it on each new Newton matrix.
#[derive(Default)]
pub struct ColumnLu {
    /// The Newton matrix, with the sparsity of the operator's Jacobian.
    matrix: Option<Mat>,
    /// Its values in compressed-column order (the order of its sparsity).
    values: Vec<f64>,
    symbolic: Option<SymbolicLu<usize>>,
    numeric: NumericLu<usize, f64>,
    /// Whether `numeric` holds a factorisation of the current matrix.
    factorised: bool,
    /// Scratch memory for the numeric factorisation.
    factor_scratch: Option<MemBuffer>,
    /// Scratch memory for a solve (`solve_in_place` takes `&self`).
    solve_scratch: RefCell<Option<MemBuffer>>,
}

impl LinearSolver<Mat> for ColumnLu {
    fn set_problem<
        C: NonLinearOpJacobian<V = FaerVec<f64>, T = f64, M = Mat, C = diffsol::FaerContext>,
    >(
        &mut self,
        op: &C,
    ) {
        let matrix = Mat::new_from_sparsity(
            op.nout(),
            op.nstates(),
            op.jacobian_sparsity(),
            *op.context(),
        );
        let sparsity = matrix
            .sparsity()
            .expect("a sparse matrix always has a sparsity");
        // SymbolicLu::try_new in diffsol does the same with default parameters.
        let symbolic = factorize_symbolic_lu(sparsity, Default::default()).ok();
        if let Some(s) = &symbolic {
            self.factor_scratch = Some(MemBuffer::new(
                s.factorize_numeric_lu_scratch::<f64>(Par::Seq, Default::default()),
            ));
            *self.solve_scratch.borrow_mut() =
                Some(MemBuffer::new(s.solve_in_place_scratch::<f64>(1, Par::Seq)));
        }
        self.values = vec![0.0; sparsity.row_idx().len()];
        self.symbolic = symbolic;
        self.matrix = Some(matrix);
        self.factorised = false;
    }

    fn set_linearisation<
        C: NonLinearOpJacobian<V = FaerVec<f64>, T = f64, M = Mat, C = diffsol::FaerContext>,
    >(
        &mut self,
        op: &C,
        x: &FaerVec<f64>,
        t: f64,
    ) {
        self.factorised = false;
        let (Some(matrix), Some(symbolic), Some(scratch)) = (
            self.matrix.as_mut(),
            self.symbolic.as_ref(),
            self.factor_scratch.as_mut(),
        ) else {
            return;
        };
        op.jacobian_inplace(x, t, matrix);
        for (v, (_, _, a)) in self.values.iter_mut().zip(matrix.triplet_iter()) {
            *v = a;
        }
        let Some(sparsity) = matrix.sparsity() else {
            return;
        };
        let a = SparseColMatRef::new(sparsity, &self.values);
        self.factorised = symbolic
            .factorize_numeric_lu(
                &mut self.numeric,
                a,
                Par::Seq,
                MemStack::new(scratch),
                Default::default(),
            )
            .is_ok();
    }

    fn solve_in_place(&self, b: &mut FaerVec<f64>) -> Result<(), DiffsolError> {
        let symbolic = match (&self.symbolic, self.factorised) {
            (Some(s), true) => s,
            _ => return Err(DiffsolError::from(LinearSolverError::LuSolveFailed)),
        };
        let mut scratch = self.solve_scratch.borrow_mut();
        let Some(scratch) = scratch.as_mut() else {
            return Err(DiffsolError::from(LinearSolverError::LinearSolverNotSetup));
        };
        let x = b.as_mut_slice();
        let n = x.len();
        let rhs = MatMut::from_column_major_slice_mut(x, n, 1);
        LuRef::new_unchecked(symbolic, &self.numeric).solve_in_place_with_conj(
            Conj::No,
            rhs,
            Par::Seq,
            MemStack::new(scratch),
        );
        // A numerically singular Newton matrix factorises (faer refuses
        // only structural singularity) but solves to inf/NaN: report it as
        // a failed solve, which diffsol answers with a smaller step.
        if x.iter().all(|v| v.is_finite()) {
            Ok(())
        } else {
            Err(DiffsolError::from(LinearSolverError::LuSolveFailed))
        }
    }
}
