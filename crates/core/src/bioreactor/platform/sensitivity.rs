//! Exact forward sensitivities of the CHO platform model.
//!
//! For parameters θ_k (θ = ln p or p itself), the augmented state
//! z = [y; S_1; …; S_K] with S_k = ∂y/∂θ_k obeys
//!
//! ```text
//! dy/dt   = f(y, p(θ))
//! dS_k/dt = ∂f/∂y · S_k + ∂f/∂θ_k,      S_k(0) = ∂y₀/∂θ_k
//! ```
//!
//! The right-hand side of every S_k comes from one evaluation of the
//! model's own equations ([`super::Equations`]) on [`DualN`] numbers
//! carrying K tangents: no second copy of the kinetics, no hand-written
//! Jacobian. The quantities computed once per segment from the parameters
//! (temperature and pH factors, deamidation and aggregation rates, the
//! bicarbonate equilibrium, reference glycan logits) carry tangents too.
//!
//! Recipe events, through the one event engine
//! ([`crate::bioreactor::events`]):
//! * a bolus maps c → (c V + c_f ΔV)/(V + ΔV); with V itself dependent on θ
//!   (base addition follows lactate production),
//!   S_c → S_c V/(V + ΔV) + S_V (c − c_new)/(V + ΔV) — the first term is the
//!   engine's mixing of a zero-content medium, the second
//!   [`Culture::after_bolus`]; S_V is unchanged (ΔV does not depend on θ);
//! * a sample removes volume at the broth's composition: nothing changes;
//! * continuous feeds enter through the right-hand side (their rate and
//!   composition are constants of θ);
//! * at each segment's start the model fixes kLa, the mean pressure and the
//!   DO set-point at the current volume V₀; their tangents are
//!   (dg/dV)(V₀) S_V(t₀), dg/dV a central difference of the vessel's
//!   closed-form correlations.
//!
//! Step-size control sees the model's states only
//! ([`OdeSystem::error_components`]): the augmented run takes exactly the
//! plain run's steps, its state part is bit-identical to the plain run's,
//! and its sensitivities are the exact derivatives of that discrete
//! solution (internal numerical differentiation, Bock 1981) — what a
//! least-squares solver needs for a consistent Jacobian.

use nalgebra::SVector;

use super::{
    AlgebraicOf, ChoPlatform, Derived, Equations, Gas, N, N_OUTPUTS, OUTPUT_COLUMNS, P, P_ACID,
    P_AFUC, P_GAL, P_HMW, P_MAN5, Params, V, Variant,
};
use crate::bioreactor::simulate::{RunOptions, run};
use crate::bioreactor::{Culture, NotReady, StateKind};
use crate::definition::recipe::{Recipe, Setpoints};
use crate::definition::species::Composition;
use crate::fit::dual::{DualN, Scalar};
use crate::solver::{OdeSystem, SolverFailure};

/// The platform model with K forward sensitivities of its first `S`
/// states; `M` must be N + S K.
///
/// States from index 17 on (HCP, DNA and the cumulative balances) feed
/// nothing back: no other state's rate reads them. A run whose written
/// columns need none of them carries tangents for the first 17 states only
/// (`S` = 17), a quarter less work in every stage, dense output and check;
/// otherwise `S` = N.
#[derive(Debug, Clone)]
pub(crate) struct PlatformSensitivity<const K: usize, const S: usize, const M: usize> {
    base: ChoPlatform,
    p: Params<DualN<K>>,
    d: Derived<DualN<K>>,
    /// The segment's gas transfer with its dependence on the volume at the
    /// segment's start.
    g: Gas<DualN<K>>,
    /// Output columns written (indices into [`OUTPUT_COLUMNS`]).
    columns: Vec<usize>,
    /// Whether a written column needs the algebraic quantities.
    algebraic: bool,
}

impl<const K: usize, const S: usize, const M: usize> PlatformSensitivity<K, S, M> {
    const LAYOUT: () = assert!(
        M == N + S * K && S <= N && S >= FED_BACK,
        "M must be N + S K, with FED_BACK <= S <= N"
    );

    /// Position of ∂y_i/∂θ_k in the augmented state (i < S).
    #[inline(always)]
    const fn at(k: usize, i: usize) -> usize {
        N + S * k + i
    }

    /// The model state whose value or tangent sits at position `j`.
    #[inline(always)]
    const fn state_of(j: usize) -> usize {
        if j < N { j } else { (j - N) % S }
    }

    /// Sensitivities to the parameters `directions[k] = (index in
    /// `platform::PARAMS`, dp/dθ_k)` — p for θ = ln p, 1 for θ = p.
    pub fn new(base: &ChoPlatform, directions: [(usize, f64); K]) -> Self {
        #[allow(clippy::let_unit_value)]
        let () = Self::LAYOUT;
        let p = base.p.map(|i, v| {
            let mut d = [0.0; K];
            for (k, &(j, dp)) in directions.iter().enumerate() {
                if j == i {
                    d[k] = dp;
                }
            }
            DualN::new(v, d)
        });
        let g0 = base.gas();
        PlatformSensitivity {
            base: base.clone(),
            d: Derived::initial(&p),
            p,
            g: Gas {
                kla_o2: DualN::cst(g0.kla_o2),
                pressure_pa: DualN::cst(g0.pressure_pa),
                do_setpoint: DualN::cst(g0.do_setpoint),
            },
            columns: (0..N_OUTPUTS).collect(),
            algebraic: true,
        }
    }

    /// Writes only these output columns (indices into [`OUTPUT_COLUMNS`]):
    /// a fit needs a few of the thirty.
    pub fn with_columns(mut self, columns: &[usize]) -> Self {
        self.columns = columns.iter().copied().filter(|&c| c < N_OUTPUTS).collect();
        self.algebraic = self.columns.iter().any(|c| ALGEBRAIC_COLUMNS.contains(c));
        self
    }

    #[inline]
    fn equations(&self) -> Equations<'_, DualN<K>> {
        Equations {
            p: &self.p,
            d: &self.d,
            c: &self.base.c,
            g: self.g,
            variant: Variant::NOMINAL,
        }
    }

    #[inline]
    fn duals(z: &SVector<f64, M>) -> [DualN<K>; N] {
        std::array::from_fn(|i| {
            if i < S {
                DualN::new(z[i], std::array::from_fn(|k| z[Self::at(k, i)]))
            } else {
                DualN::cst(z[i])
            }
        })
    }

    fn head(z: &SVector<f64, M>) -> SVector<f64, N> {
        SVector::from_fn(|i, _| z[i])
    }
}

impl<const K: usize, const S: usize, const M: usize> OdeSystem<M> for PlatformSensitivity<K, S, M> {
    #[inline]
    fn rhs(&self, _t: f64, z: &SVector<f64, M>, dz: &mut SVector<f64, M>) {
        let y = Self::duals(z);
        let mut dy = [DualN::<K>::cst(0.0); N];
        self.equations()
            .rhs(&y, self.base.feed_rate, &self.base.feed, &mut dy);
        for (i, d) in dy.iter().enumerate() {
            dz[i] = d.v;
            if i < S {
                for k in 0..K {
                    dz[Self::at(k, i)] = d.d[k];
                }
            }
        }
    }
    fn scales(&self) -> SVector<f64, M> {
        SVector::from_fn(|i, _| self.base.scales[Self::state_of(i)])
    }
    fn non_negative(&self) -> [bool; M] {
        let mut n = [false; M];
        n[..N].fill(true);
        n
    }
    fn state_names(&self) -> [&'static str; M] {
        let names = self.base.state_names();
        let mut s = ["a sensitivity"; M];
        s[..N].copy_from_slice(&names);
        s
    }
    fn error_components(&self) -> usize {
        N
    }
}

impl<const K: usize, const S: usize, const M: usize> Culture<M> for PlatformSensitivity<K, S, M> {
    fn kinds(&self) -> [StateKind; M] {
        let base = self.base.kinds();
        let mut k = [StateKind::Amount; M];
        for (i, kind) in k.iter_mut().enumerate() {
            *kind = match (i < N, base[Self::state_of(i)]) {
                (true, b) => b,
                // S_V is not diluted or sampled; S of a concentration mixes
                // like a zero-content concentration (module docs).
                (false, StateKind::Concentration) => StateKind::Concentration,
                (false, _) => StateKind::Amount,
            };
        }
        k
    }
    fn volume_index(&self) -> usize {
        V
    }
    fn initial_state(&self, c: &Composition, volume_m3: f64) -> Result<SVector<f64, M>, NotReady> {
        let y = self.base.initial_state(c, volume_m3)?;
        let mut z = SVector::<f64, M>::zeros();
        for i in 0..N {
            z[i] = y[i];
        }
        // Carried-over product at the reference profile: y₀ = f(θ) P₀.
        let p0 = DualN::<K>::cst(y[P]);
        let p = &self.p;
        for (i, v) in [
            (P_GAL, p.gal_ref * p0),
            (P_AFUC, p.afuc_ref * p0),
            (P_MAN5, p.man5_ref * p0),
            (P_ACID, p.f_acid0 * p0),
            (P_HMW, p.f_hmw0 * p0),
        ] {
            for k in 0..K {
                z[Self::at(k, i)] = v.d[k];
            }
        }
        Ok(z)
    }
    fn medium_vector(&self, m: &Composition) -> SVector<f64, M> {
        let f = self.base.medium_vector(m);
        SVector::from_fn(|i, _| if i < N { f[i] } else { 0.0 })
    }
    fn set_inflow(&mut self, rate: f64, composition: &SVector<f64, M>) {
        self.base.set_inflow(rate, &Self::head(composition));
    }
    fn set_setpoints(&mut self, sp: &Setpoints) -> Result<(), NotReady> {
        self.base.set_setpoints(sp)?;
        let c = &self.base.c;
        let (t, ph, h_co2) = (c.temperature_k, c.ph, c.h_co2);
        self.d.at(&self.p, t, ph, h_co2);
        // Values for outputs before the next segment (the initial row, where
        // every sensitivity is zero); `begin_segment` adds the tangents.
        let g = self.base.gas();
        self.g = Gas {
            kla_o2: DualN::cst(g.kla_o2),
            pressure_pa: DualN::cst(g.pressure_pa),
            do_setpoint: DualN::cst(g.do_setpoint),
        };
        Ok(())
    }
    fn begin_segment(&mut self, z: &SVector<f64, M>) {
        self.base.begin_segment(&Self::head(z));
        // kLa, pressure and the DO set-point are held at their values at the
        // segment's starting volume V₀, which depends on θ through base
        // addition: ∂g/∂θ_k = (dg/dV)(V₀) S_V,k(t₀). dg/dV is a central
        // difference of the vessel's correlations (smooth closed forms;
        // relative step 1e-5, error ~1e-10 relative).
        let v = z[V];
        let g = self.base.gas();
        let dv = 1e-5 * v;
        let (hi, lo) = (self.base.gas_at(v + dv), self.base.gas_at(v - dv));
        let slope = |a: f64, b: f64| (a - b) / (2.0 * dv);
        let (dk, dp, ds) = (
            slope(hi.kla_o2, lo.kla_o2),
            slope(hi.pressure_pa, lo.pressure_pa),
            slope(hi.do_setpoint, lo.do_setpoint),
        );
        let tangent = |d: f64| {
            let mut t = [0.0; K];
            for (k, x) in t.iter_mut().enumerate() {
                *x = d * z[Self::at(k, V)];
            }
            t
        };
        self.g = Gas {
            kla_o2: DualN::new(g.kla_o2, tangent(dk)),
            pressure_pa: DualN::new(g.pressure_pa, tangent(dp)),
            do_setpoint: DualN::new(g.do_setpoint, tangent(ds)),
        };
    }
    fn after_bolus(&self, before: &SVector<f64, M>, z: &mut SVector<f64, M>) {
        let kinds = self.base.kinds();
        let v_new = z[V];
        for k in 0..K {
            let s_v = before[Self::at(k, V)];
            if s_v == 0.0 {
                continue;
            }
            for i in 0..S {
                if kinds[i] == StateKind::Concentration {
                    z[Self::at(k, i)] += s_v * (before[i] - z[i]) / v_new;
                }
            }
        }
    }
    fn output_columns(&self) -> Vec<&'static str> {
        OUTPUT_COLUMNS.to_vec()
    }
    /// The written output columns' values, then their derivatives along
    /// each direction: (K + 1) × the number of columns.
    fn outputs(&self, t_s: f64, z: &SVector<f64, M>, row: &mut Vec<f64>) {
        row.clear();
        self.append_outputs(t_s, z, row);
    }
    fn append_outputs(&self, t_s: f64, z: &SVector<f64, M>, row: &mut Vec<f64>) {
        let e = self.equations();
        let y = Self::duals(z);
        let a = if self.algebraic {
            e.algebraic(&y)
        } else {
            AlgebraicOf::default()
        };
        let nc = self.columns.len();
        let start = row.len();
        row.resize(start + nc * (K + 1), 0.0);
        for (j, &c) in self.columns.iter().enumerate() {
            let o = e.output(c, t_s, &y, &a);
            row[start + j] = o.v;
            for k in 0..K {
                row[start + nc * (k + 1) + j] = o.d[k];
            }
        }
    }
    fn quality(&self, z: &SVector<f64, M>) -> Vec<(&'static str, f64)> {
        self.base.quality(&Self::head(z))
    }
}

/// Output columns that need the algebraic quantities (rates, gas state,
/// osmolality); the others are functions of the state alone.
const ALGEBRAIC_COLUMNS: [usize; 8] = [10, 11, 14, 15, 16, 17, 18, 19];

/// States 0..FED_BACK are the ones some state's rate reads (or the product
/// shares, read by the glycan and charge columns); HCP, DNA and the
/// cumulative balances after them feed nothing back.
pub(crate) const FED_BACK: usize = 17;

/// Output columns that read a state from [`FED_BACK`] on: base added (the
/// cumulative base), HCP and DNA.
const LEAF_COLUMNS: [usize; 3] = [20, 28, 29];

/// A run's output columns and their derivatives with respect to each
/// requested θ, at the run's output times.
#[derive(Debug, Clone, PartialEq)]
pub struct SensitivityTable {
    /// Indices into [`OUTPUT_COLUMNS`] of the columns held.
    pub columns: Vec<usize>,
    /// Output times, h.
    pub times_h: Vec<f64>,
    /// Row-major, `columns.len()` per row.
    pub values: Vec<f64>,
    /// Per direction, row-major like `values`.
    pub derivatives: Vec<Vec<f64>>,
}

impl SensitivityTable {
    /// Column index of an output name in [`OUTPUT_COLUMNS`].
    pub fn column(name: &str) -> Option<usize> {
        OUTPUT_COLUMNS.iter().position(|c| *c == name)
    }
    /// Position of output column `c` (an [`OUTPUT_COLUMNS`] index) in
    /// this table's rows.
    pub fn position(&self, c: usize) -> Option<usize> {
        self.columns.iter().position(|&x| x == c)
    }
    /// Column `c`'s values over time and its derivatives along each
    /// direction.
    pub fn series(&self, c: usize) -> Option<(Vec<f64>, Vec<Vec<f64>>)> {
        let j = self.position(c)?;
        let w = self.columns.len();
        let pick = |d: &[f64]| d.chunks_exact(w).map(|r| r[j]).collect::<Vec<f64>>();
        Some((
            pick(&self.values),
            self.derivatives.iter().map(|d| pick(d)).collect(),
        ))
    }
}

/// Runs `recipe` on `model` with the sensitivities to
/// `directions[k] = (parameter index, dp/dθ_k)` of the output `columns`
/// (indices into [`OUTPUT_COLUMNS`]; `None`: all), up to 8 directions per
/// augmented run (more are split into several runs; the state part is
/// identical in all).
pub fn run_with_sensitivities(
    model: &ChoPlatform,
    directions: &[(usize, f64)],
    columns: Option<&[usize]>,
    recipe: &Recipe,
    opts: &RunOptions,
) -> Result<SensitivityTable, SolverFailure> {
    // Indices beyond the output row are dropped here, once, so the table's
    // columns are exactly those written (a caller asking for one finds it
    // missing through `position`).
    let columns: Vec<usize> = match columns {
        Some(c) => c.iter().copied().filter(|&c| c < N_OUTPUTS).collect(),
        None => (0..N_OUTPUTS).collect(),
    };
    let columns = columns.as_slice();
    let mut table = SensitivityTable {
        columns: columns.to_vec(),
        times_h: Vec::new(),
        values: Vec::new(),
        derivatives: Vec::new(),
    };
    if directions.is_empty() {
        let r = run(model, recipe, opts)?;
        table.times_h = r.times.iter().map(|t| t / 3600.0).collect();
        table.values = r
            .rows
            .chunks_exact(N_OUTPUTS)
            .flat_map(|row| columns.iter().map(move |&c| row[c]))
            .collect();
        return Ok(table);
    }
    // Tangents of the first FED_BACK states suffice unless a written
    // column reads a later one (type docs).
    let short = !table.columns.iter().any(|c| LEAF_COLUMNS.contains(c));
    for chunk in directions.chunks(8) {
        macro_rules! with_k {
            ($($k:literal),*) => {
                match (chunk.len(), short) {
                    $(
                        ($k, true) => augmented::<$k, FED_BACK, { N + FED_BACK * $k }>(
                            model, chunk, recipe, opts, &mut table,
                        )?,
                        ($k, false) => augmented::<$k, N, { N * ($k + 1) }>(
                            model, chunk, recipe, opts, &mut table,
                        )?,
                    )*
                    _ => unreachable!("chunks of at most 8"),
                }
            };
        }
        with_k!(1, 2, 3, 4, 5, 6, 7, 8);
    }
    Ok(table)
}

fn augmented<const K: usize, const S: usize, const M: usize>(
    model: &ChoPlatform,
    chunk: &[(usize, f64)],
    recipe: &Recipe,
    opts: &RunOptions,
    table: &mut SensitivityTable,
) -> Result<(), SolverFailure> {
    let dirs: [(usize, f64); K] = chunk.try_into().expect("a chunk of K directions");
    let m = PlatformSensitivity::<K, S, M>::new(model, dirs).with_columns(&table.columns);
    let r = run(&m, recipe, opts)?;
    let nc = table.columns.len();
    let w = nc * (K + 1);
    let rows = r.times.len();
    if table.times_h.is_empty() {
        table.times_h = r.times.iter().map(|t| t / 3600.0).collect();
        table.values = Vec::with_capacity(rows * nc);
        for row in r.rows.chunks_exact(w) {
            table.values.extend_from_slice(&row[..nc]);
        }
    }
    for k in 0..K {
        let mut d = Vec::with_capacity(rows * nc);
        for row in r.rows.chunks_exact(w) {
            d.extend_from_slice(&row[nc * (k + 1)..nc * (k + 2)]);
        }
        table.derivatives.push(d);
    }
    Ok(())
}
