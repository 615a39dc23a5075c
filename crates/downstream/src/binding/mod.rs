//! Binding models (adsorption isotherms) of chromatography media.
//!
//! Every model is written as a rate, `dq_b/dt = R_b(c, q)`, one rate per bound
//! state `b` (a component that binds has one bound state; a non-binding
//! component such as salt or a pH modifier has none). Concentrations are SI:
//! `c` in mol per m³ of liquid, `q` in mol per m³ of solid phase (CADET's
//! convention, so parameters carry over unchanged).
//!
//! The column model needs the rates and their exact partial derivatives
//! (∂R/∂c, ∂R/∂q) for the Newton iteration of the implicit integrator.

pub mod langmuir;
pub mod linear;
pub mod sma;

pub use langmuir::ModulatedLangmuir;
pub use linear::LinearBinding;
pub use sma::StericMassAction;

/// One of the supported binding models, with its parameters in SI.
#[derive(Debug, Clone, PartialEq)]
pub enum Isotherm {
    /// No component binds.
    None,
    /// Linear isotherm (low-loading limit; analytical test cases).
    Linear(LinearBinding),
    /// Competitive Langmuir, optionally with a mobile-phase modulator
    /// (Protein A capture with pH or salt elution).
    Langmuir(ModulatedLangmuir),
    /// Steric mass action for ion exchange (component 0 is salt).
    Sma(StericMassAction),
}

impl Isotherm {
    /// For each bound state, the index of the liquid-phase component it belongs to.
    pub fn bound_components(&self) -> Vec<usize> {
        match self {
            Isotherm::None => Vec::new(),
            Isotherm::Linear(m) => m.bound_components(),
            Isotherm::Langmuir(m) => m.bound_components(),
            Isotherm::Sma(m) => m.bound_components(),
        }
    }

    /// How bound-state rates act on the liquid phase: `(component, bound state,
    /// coefficient)`, so that dc_k/dt gets -F Σ coef R_b. A bound state takes its
    /// own component out of the liquid (coefficient 1); SMA binding also releases
    /// ν counter-ions of salt (component 0, coefficient -ν).
    pub fn liquid_coupling(&self) -> Vec<(usize, usize, f64)> {
        let mut out: Vec<(usize, usize, f64)> = self
            .bound_components()
            .into_iter()
            .enumerate()
            .map(|(b, k)| (k, b, 1.0))
            .collect();
        if let Isotherm::Sma(m) = self {
            for (b, nu) in m.salt_release().into_iter().enumerate() {
                out.push((0, b, -nu));
            }
        }
        out
    }

    /// A rate scale per bound state, 1/s: the size of ∂R_b/∂c where it is
    /// large, for scaling the kinetic binding rows of the column's Newton
    /// matrix. SMA: ka_i (Λ/q_ref)^{ν_i} (1e16/s at CADET's LWE rates); 1 for
    /// linear and Langmuir binding (no scaling).
    pub fn rate_scales(&self) -> Vec<f64> {
        match self {
            Isotherm::Sma(m) => m
                .bound_components()
                .iter()
                .map(|&i| {
                    m.ka[i] * (m.lambda_mol_per_m3 / m.reference_solid_mol_per_m3).powf(m.nu[i])
                })
                .collect(),
            _ => vec![1.0; self.bound_components().len()],
        }
    }

    /// Rates dq/dt (mol/(m³ solid · s)) at liquid `c` and bound `q`.
    pub fn rates(&self, c: &[f64], q: &[f64], dq: &mut [f64]) {
        match self {
            Isotherm::None => {}
            Isotherm::Linear(m) => m.rates(c, q, dq),
            Isotherm::Langmuir(m) => m.rates(c, q, dq),
            Isotherm::Sma(m) => m.rates(c, q, dq),
        }
    }

    /// Partial derivatives: `dr_dc` is n_bound × n_comp, `dr_dq` is n_bound × n_bound,
    /// both row-major and overwritten.
    pub fn jacobian(&self, c: &[f64], q: &[f64], dr_dc: &mut [f64], dr_dq: &mut [f64]) {
        dr_dc.fill(0.0);
        dr_dq.fill(0.0);
        match self {
            Isotherm::None => {}
            Isotherm::Linear(m) => m.jacobian(c, q, dr_dc, dr_dq),
            Isotherm::Langmuir(m) => m.jacobian(c, q, dr_dc, dr_dq),
            Isotherm::Sma(m) => m.jacobian(c, q, dr_dc, dr_dq),
        }
    }

    /// Bound state in equilibrium with liquid `c` (used for initial states and
    /// for tests), found from the rate expression.
    pub fn equilibrium(&self, c: &[f64], q: &mut [f64]) {
        match self {
            Isotherm::None => {}
            Isotherm::Linear(m) => m.equilibrium(c, q),
            Isotherm::Langmuir(m) => m.equilibrium(c, q),
            Isotherm::Sma(m) => m.equilibrium(c, q),
        }
    }
}

#[cfg(test)]
pub(crate) mod check {
    use super::Isotherm;

    /// Compares the analytic Jacobian with central finite differences.
    pub fn jacobian_matches_fd(iso: &Isotherm, c: &[f64], q: &[f64]) {
        let nb = iso.bound_components().len();
        let nc = c.len();
        let mut dr_dc = vec![0.0; nb * nc];
        let mut dr_dq = vec![0.0; nb * nb];
        iso.jacobian(c, q, &mut dr_dc, &mut dr_dq);
        let rate = |c: &[f64], q: &[f64]| {
            let mut r = vec![0.0; nb];
            iso.rates(c, q, &mut r);
            r
        };
        for j in 0..nc {
            let h = 1e-6 * c[j].abs().max(1e-3);
            let (mut cp, mut cm) = (c.to_vec(), c.to_vec());
            cp[j] += h;
            cm[j] -= h;
            let (rp, rm) = (rate(&cp, q), rate(&cm, q));
            for b in 0..nb {
                let fd = (rp[b] - rm[b]) / (2.0 * h);
                let an = dr_dc[b * nc + j];
                assert!(
                    (fd - an).abs() <= 1e-5 * an.abs().max(fd.abs()).max(1e-8),
                    "dR{b}/dc{j}: analytic {an}, fd {fd}"
                );
            }
        }
        for j in 0..nb {
            let h = 1e-6 * q[j].abs().max(1e-3);
            let (mut qp, mut qm) = (q.to_vec(), q.to_vec());
            qp[j] += h;
            qm[j] -= h;
            let (rp, rm) = (rate(c, &qp), rate(c, &qm));
            for b in 0..nb {
                let fd = (rp[b] - rm[b]) / (2.0 * h);
                let an = dr_dq[b * nb + j];
                assert!(
                    (fd - an).abs() <= 1e-5 * an.abs().max(fd.abs()).max(1e-8),
                    "dR{b}/dq{j}: analytic {an}, fd {fd}"
                );
            }
        }
    }
}
