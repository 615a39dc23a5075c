//! libtorch (tch) engine for one member of the neural-network ensemble
//! (`nn.rs`), behind cargo feature `torch`.
//!
//! Same network, loss and optimiser as the pure-Rust engine, so that the
//! saved model is the same artifact and needs no libtorch to predict:
//!
//! ```text
//! h = tanh(x̃ W1ᵀ + b1),  ỹ_hat = h W2ᵀ + b2
//! loss = ½ mean_rows ‖ỹ_hat − ỹ‖² + ½ λ (‖W1‖² + ‖W2‖²)
//! ```
//!
//! Full-batch Adam (β1 0.9, β2 0.999, ε 1e-8, bias-corrected) written out
//! here rather than `tch::nn::Adam`, whose weight decay and ε placement
//! differ in detail; autograd supplies the gradients. Tensors are f64, so
//! the CPU result matches the Rust engine to round-off. The initial weights
//! come from the caller (the Rust Glorot draw) and the trained weights are
//! copied back into it.

use nalgebra::DMatrix;
use tch::{Device, Kind, Tensor};

use super::SurrogateError;
use super::nn::{Mlp, NnParams};

fn torch_err(e: tch::TchError) -> SurrogateError {
    SurrogateError::Numerical(format!("libtorch: {e}"))
}

/// Row-major (r × c) tensor of a column-major nalgebra matrix.
fn to_tensor(m: &DMatrix<f64>, dev: Device) -> Result<Tensor, SurrogateError> {
    let rm = m.transpose();
    Tensor::from_slice(rm.as_slice())
        .f_reshape([m.nrows() as i64, m.ncols() as i64])
        .and_then(|t| t.f_to_device(dev))
        .map_err(torch_err)
}

fn to_matrix(t: &Tensor, rows: usize, cols: usize) -> Result<DMatrix<f64>, SurrogateError> {
    let flat = t
        .f_to_device(Device::Cpu)
        .and_then(|t| t.f_contiguous())
        .and_then(|t| t.f_view([-1]))
        .map_err(torch_err)?;
    let v = Vec::<f64>::try_from(&flat).map_err(torch_err)?;
    if v.len() != rows * cols {
        return Err(SurrogateError::shape(
            "libtorch weights",
            rows * cols,
            v.len(),
        ));
    }
    Ok(DMatrix::from_row_slice(rows, cols, &v))
}

/// The libtorch device for `cuda`, or a clear error when CUDA is absent.
pub fn device(cuda: bool) -> Result<Device, SurrogateError> {
    if !cuda {
        return Ok(Device::Cpu);
    }
    if !tch::Cuda::is_available() {
        return Err(SurrogateError::Numerical(
            "--device cuda: libtorch sees no CUDA device (no GPU, no CUDA driver, or a CPU-only libtorch)"
                .into(),
        ));
    }
    Ok(Device::Cuda(0))
}

/// Trains `net` in place on standardised `x` (n × p) and `y` (n × q).
pub fn train_member(
    net: &mut Mlp,
    x: &DMatrix<f64>,
    y: &DMatrix<f64>,
    hp: &NnParams,
    cuda: bool,
) -> Result<(), SurrogateError> {
    let dev = device(cuda)?;
    let (h, p, q) = (net.w1.nrows(), net.w1.ncols(), net.w2.nrows());
    let xt = to_tensor(x, dev)?;
    let yt = to_tensor(y, dev)?;
    let b1m = DMatrix::from_column_slice(1, h, net.b1.as_slice());
    let b2m = DMatrix::from_column_slice(1, q, net.b2.as_slice());
    // Parameters in the order w1, b1, w2, b2 (biases as 1 × k rows).
    let mut params: Vec<Tensor> = [&net.w1, &b1m, &net.w2, &b2m]
        .into_iter()
        .map(|m| to_tensor(m, dev).map(|t| t.set_requires_grad(true)))
        .collect::<Result<_, _>>()?;
    let opts = (Kind::Double, dev);
    let mut m: Vec<Tensor> = params
        .iter()
        .map(|t| Tensor::zeros(t.size(), opts))
        .collect();
    let mut v: Vec<Tensor> = params
        .iter()
        .map(|t| Tensor::zeros(t.size(), opts))
        .collect();
    let n = x.nrows() as f64;
    let (beta1, beta2, eps): (f64, f64, f64) = (0.9, 0.999, 1e-8);
    for t in 1..=hp.epochs {
        let hidden = (xt.matmul(&params[0].tr()) + &params[1]).tanh();
        let out = hidden.matmul(&params[2].tr()) + &params[3];
        let fit = (out - &yt).square().sum(Kind::Double) * (0.5 / n);
        let decay = (params[0].square().sum(Kind::Double) + params[2].square().sum(Kind::Double))
            * (0.5 * hp.l2);
        let loss = fit + decay;
        for p in params.iter_mut() {
            p.zero_grad();
        }
        loss.f_backward().map_err(torch_err)?;
        let (c1, c2) = (1.0 - beta1.powi(t as i32), 1.0 - beta2.powi(t as i32));
        tch::no_grad(|| -> Result<(), SurrogateError> {
            for k in 0..params.len() {
                let g = params[k].grad();
                m[k] = &m[k] * beta1 + &g * (1.0 - beta1);
                v[k] = &v[k] * beta2 + g.square() * (1.0 - beta2);
                let step = (&m[k] / c1) / ((&v[k] / c2).sqrt() + eps) * hp.learning_rate;
                let _ = params[k].f_sub_(&step).map_err(torch_err)?;
            }
            Ok(())
        })?;
    }
    net.w1 = to_matrix(&params[0], h, p)?;
    net.b1 = to_matrix(&params[1], 1, h)?
        .transpose()
        .column(0)
        .into_owned();
    net.w2 = to_matrix(&params[2], q, h)?;
    net.b2 = to_matrix(&params[3], 1, q)?
        .transpose()
        .column(0)
        .into_owned();
    Ok(())
}
