//! A small neural network that corrects specific rates of the serial hybrid
//! (docs/hybrid.md, "Neural-network rate correction").
//!
//! For each corrected rate k (a configurable subset of μ, μ_d, q_glc, q_gln,
//! q_lac, q_amm, q_p):
//!
//! r_k = r_k,mech(y; p) · exp(g_k(x)),   g(x) = W₂ tanh(W₁ x + b₁) + b₂,
//!
//! x = (Glc/20, Gln/2, Lac/20, Amm/5) in mM (positive parts), scaled so
//! each input is O(1) in a CHO fed-batch. A corrected μ is corrected before
//! the yield terms use it (q_glc = μ/Y_x_glc + m_glc, …), so the mass
//! balances stay consistent. W₂ and b₂ start at zero: the untrained network
//! is exactly the mechanistic rate model, and training moves away from it
//! only as far as the data and the weight decay allow. W₁ and b₁ start from
//! a seeded uniform draw in ±0.5 (tanh units need distinct inputs to learn
//! distinct features).
//!
//! Weights are plain f64s; a weight can carry a forward-mode tangent
//! ([`Scalar::var`]) so that the sensitivity system of the serial hybrid
//! gives ∂y/∂w exactly, as for the kinetic parameters. Evaluation uses
//! stack arrays only (no allocation in the right-hand side).

use serde::{Deserialize, Serialize};

use super::dual::Scalar;
use crate::surrogates::SurrogateError;
use biotwin_core::random::SplitMix64;

/// Rates that can be corrected, in `Rates` field order.
pub const RATE_NAMES: [&str; 7] = ["mu", "mu_d", "q_glc", "q_gln", "q_lac", "q_amm", "q_p"];
/// Network inputs (states, mM) and their scales.
pub const INPUT_NAMES: [&str; 4] = ["Glc", "Gln", "Lac", "Amm"];
const INPUT_SCALE_MM: [f64; 4] = [20.0, 2.0, 20.0, 5.0];
const NI: usize = 4;
/// Largest hidden layer (stack arrays).
pub const MAX_HIDDEN: usize = 16;

/// Settings of the rate network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateNetSpec {
    /// Rates to correct (names from [`RATE_NAMES`]).
    pub corrected: Vec<String>,
    /// Hidden tanh units, 1..=16.
    pub hidden: usize,
    /// Weight decay λ_w: ½ λ_w ‖w‖² is added to the objective.
    pub weight_decay: f64,
    /// Seed of the initial first-layer weights.
    pub seed: u64,
}

/// A rate network with its weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateNet {
    /// Indices into [`RATE_NAMES`] of the corrected rates (output order).
    pub corrected: Vec<usize>,
    /// Hidden tanh units (1 to 16).
    pub hidden: usize,
    /// W₁ (hidden × 4, row-major), b₁, W₂ (outputs × hidden), b₂.
    pub weights: Vec<f64>,
}

impl RateNet {
    /// The untrained network of `spec` (the mechanistic rates exactly).
    pub fn new(spec: &RateNetSpec) -> Result<RateNet, SurrogateError> {
        if spec.hidden == 0 || spec.hidden > MAX_HIDDEN {
            return Err(SurrogateError::shape(
                "rate network hidden units",
                format!("1..={MAX_HIDDEN}"),
                spec.hidden,
            ));
        }
        if !(spec.weight_decay >= 0.0 && spec.weight_decay.is_finite()) {
            return Err(SurrogateError::Numerical(format!(
                "rate network weight decay must be finite and >= 0, not {}",
                spec.weight_decay
            )));
        }
        let mut corrected = Vec::new();
        for name in &spec.corrected {
            let k = RATE_NAMES.iter().position(|r| r == name).ok_or_else(|| {
                SurrogateError::Numerical(format!(
                    "unknown rate `{name}` to correct (one of {})",
                    RATE_NAMES.join(", ")
                ))
            })?;
            if corrected.contains(&k) {
                return Err(SurrogateError::Numerical(format!(
                    "rate `{name}` listed twice"
                )));
            }
            corrected.push(k);
        }
        if corrected.is_empty() {
            return Err(SurrogateError::shape("corrected rates", "at least 1", 0));
        }
        let h = spec.hidden;
        let n = h * NI + h + corrected.len() * h + corrected.len();
        let mut rng = SplitMix64::new(spec.seed);
        let weights = (0..n)
            .map(|i| {
                if i < h * NI + h {
                    rng.uniform_open() - 0.5
                } else {
                    0.0
                }
            })
            .collect();
        Ok(RateNet {
            corrected,
            hidden: h,
            weights,
        })
    }

    /// Number of weights (all layers and biases).
    pub fn n_weights(&self) -> usize {
        self.weights.len()
    }

    /// Checks a loaded network's shape.
    pub fn check(&self) -> Result<(), SurrogateError> {
        let (h, no) = (self.hidden, self.corrected.len());
        if h == 0 || h > MAX_HIDDEN || no == 0 || self.corrected.iter().any(|&k| k >= 7) {
            return Err(SurrogateError::shape(
                "rate network",
                "1..=16 hidden units and known rates",
                format!("{h} hidden, rates {:?}", self.corrected),
            ));
        }
        let n = h * NI + h + no * h + no;
        if self.weights.len() != n {
            return Err(SurrogateError::shape(
                "rate network weights",
                n,
                self.weights.len(),
            ));
        }
        Ok(())
    }

    /// Multiplicative corrections exp(g_k) of all seven rates (1 for the
    /// uncorrected ones) at substrate/metabolite concentrations `c` (mM:
    /// Glc, Gln, Lac, Amm, positive parts). `tangent`: the weight that
    /// carries a unit tangent, if any.
    #[inline]
    pub fn factors<T: Scalar>(&self, c: [T; 4], tangent: Option<usize>) -> [T; 7] {
        self.factors_with(c, |i, w| {
            if tangent == Some(i) {
                T::var(w, 1.0)
            } else {
                T::cst(w)
            }
        })
    }

    /// As [`RateNet::factors`], with weight i entering as `weight(i, w_i)`
    /// (a dual number carrying whatever tangents the caller gives it).
    #[inline]
    pub fn factors_with<T: Scalar>(&self, c: [T; 4], weight: impl Fn(usize, f64) -> T) -> [T; 7] {
        let w = |i: usize| -> T { weight(i, self.weights[i]) };
        let h = self.hidden;
        let mut x = [T::cst(0.0); NI];
        for i in 0..NI {
            x[i] = c[i] / T::cst(INPUT_SCALE_MM[i]);
        }
        let mut a = [T::cst(0.0); MAX_HIDDEN];
        let b1 = h * NI;
        for (j, aj) in a.iter_mut().enumerate().take(h) {
            let mut s = w(b1 + j);
            for (i, xi) in x.iter().enumerate() {
                s = s + w(j * NI + i) * *xi;
            }
            *aj = s.tanh();
        }
        let w2 = b1 + h;
        let b2 = w2 + self.corrected.len() * h;
        let mut f = [T::cst(1.0); 7];
        for (o, &k) in self.corrected.iter().enumerate() {
            let mut s = w(b2 + o);
            for (j, aj) in a.iter().enumerate().take(h) {
                s = s + w(w2 + o * h + j) * *aj;
            }
            f[k] = s.exp();
        }
        f
    }
}

#[cfg(test)]
mod tests {
    use super::super::dual::Dual;
    use super::*;

    fn spec() -> RateNetSpec {
        RateNetSpec {
            corrected: vec!["mu".into(), "q_p".into()],
            hidden: 3,
            weight_decay: 1e-3,
            seed: 7,
        }
    }

    #[test]
    fn untrained_network_leaves_the_rates_unchanged() {
        let n = RateNet::new(&spec()).unwrap();
        assert_eq!(n.n_weights(), 3 * 4 + 3 + 2 * 3 + 2);
        let f = n.factors([10.0, 1.0, 20.0, 3.0], None);
        assert_eq!(f, [1.0; 7]);
    }

    #[test]
    fn weight_tangents_match_central_differences() {
        let mut n = RateNet::new(&spec()).unwrap();
        for (i, w) in n.weights.iter_mut().enumerate() {
            *w += 0.1 * ((i as f64) * 0.7).sin();
        }
        let c = [12.0, 0.8, 25.0, 4.0];
        for j in 0..n.n_weights() {
            let dual = n.factors(c.map(Dual::cst), Some(j));
            let h = 1e-6;
            let (mut up, mut dn) = (n.clone(), n.clone());
            up.weights[j] += h;
            dn.weights[j] -= h;
            let (fu, fd) = (up.factors(c, None), dn.factors(c, None));
            for k in 0..7 {
                let fdiff = (fu[k] - fd[k]) / (2.0 * h);
                assert!(
                    (dual[k].d - fdiff).abs() < 1e-8,
                    "w{j} rate {k}: {} vs {fdiff}",
                    dual[k].d
                );
            }
        }
    }

    #[test]
    fn bad_settings_are_named() {
        let mut s = spec();
        s.corrected.push("mu_x".into());
        assert!(RateNet::new(&s).unwrap_err().to_string().contains("mu_x"));
        let s = RateNetSpec {
            hidden: 40,
            ..spec()
        };
        assert!(RateNet::new(&s).is_err());
    }
}
