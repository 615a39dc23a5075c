//! Dormand–Prince 5(4) with its order-4 continuous extension, written for
//! this crate's fixed-size systems.
//!
//! Why our own instead of `ode_solvers::Dopri5`: a 14-day Xing run takes a
//! few hundred steps of an 8-state system, so per-step bookkeeping, not the
//! right-hand side, dominated: the crate integrates a scaled copy of the
//! state (two extra vector products per evaluation) and pushes every dense
//! output point into growing vectors that we then search. Here the state
//! stays in SI, tolerances are per component (`atol·scale + rtol·|y|`, which
//! is exactly the crate's scaled error control), nothing is allocated, and
//! output points go straight to the caller's callback.
//!
//! The method is the one of Hairer, Nørsett & Wanner, *Solving Ordinary
//! Differential Equations I* (2nd ed., 1993), §II.4–II.6 and their DOPRI5
//! code: Dormand–Prince tableau, FSAL, RMS error norm, PI step-size control
//! (β = 0.04, safety 0.9, step ratio within [0.2, 10]), the initial step of
//! their `HINIT`, and the dense output of §II.6 (Shampine's coefficients).
//! Stiffness detection is not carried over: the upstream models are
//! non-stiff (dissolved gases are quasi-steady), and a runaway step count
//! is still caught by `max_steps`.

use nalgebra::SVector;

// Butcher tableau (Dormand & Prince 1980).
const C2: f64 = 1.0 / 5.0;
const C3: f64 = 3.0 / 10.0;
const C4: f64 = 4.0 / 5.0;
const C5: f64 = 8.0 / 9.0;
const A21: f64 = 1.0 / 5.0;
const A31: f64 = 3.0 / 40.0;
const A32: f64 = 9.0 / 40.0;
const A41: f64 = 44.0 / 45.0;
const A42: f64 = -56.0 / 15.0;
const A43: f64 = 32.0 / 9.0;
const A51: f64 = 19372.0 / 6561.0;
const A52: f64 = -25360.0 / 2187.0;
const A53: f64 = 64448.0 / 6561.0;
const A54: f64 = -212.0 / 729.0;
const A61: f64 = 9017.0 / 3168.0;
const A62: f64 = -355.0 / 33.0;
const A63: f64 = 46732.0 / 5247.0;
const A64: f64 = 49.0 / 176.0;
const A65: f64 = -5103.0 / 18656.0;
const A71: f64 = 35.0 / 384.0;
const A73: f64 = 500.0 / 1113.0;
const A74: f64 = 125.0 / 192.0;
const A75: f64 = -2187.0 / 6784.0;
const A76: f64 = 11.0 / 84.0;
// Error estimate: 5th-order minus embedded 4th-order weights.
const E1: f64 = 71.0 / 57600.0;
const E3: f64 = -71.0 / 16695.0;
const E4: f64 = 71.0 / 1920.0;
const E5: f64 = -17253.0 / 339200.0;
const E6: f64 = 22.0 / 525.0;
const E7: f64 = -1.0 / 40.0;
// Dense output (Hairer et al. §II.6).
const D1: f64 = -12715105075.0 / 11282082432.0;
const D3: f64 = 87487479700.0 / 32700410799.0;
const D4: f64 = -10690763975.0 / 1880347072.0;
const D5: f64 = 701980252875.0 / 199316789632.0;
const D6: f64 = -1453857185.0 / 822651844.0;
const D7: f64 = 69997945.0 / 29380423.0;

const SAFETY: f64 = 0.9;
/// ln(SAFETY).
const LN_SAFETY: f64 = -0.10536051565782628;
const BETA: f64 = 0.04;
/// Step ratio limits: h_new / h within [1/FAC_INV_MAX, 1/FAC_INV_MIN].
const FAC_INV_MAX: f64 = 1.0 / 0.2;
const FAC_INV_MIN: f64 = 1.0 / 10.0;
/// ln(1e-4): floor of the previous error in the PI controller.
const LN_FAC_OLD_MIN: f64 = -9.210340371976184;

/// Tolerance and limits of one integration.
#[derive(Debug, Clone, Copy)]
pub struct Settings<const N: usize> {
    /// Relative tolerance.
    pub rtol: f64,
    /// Absolute tolerance per component, in the component's unit.
    pub atol: SVector<f64, N>,
    /// Most steps before giving up.
    pub max_steps: u32,
    /// The error norm covers the first `controlled` components (N: all).
    /// Forward sensitivities appended to a model's states are left out, so
    /// the augmented system takes the plain run's steps and its
    /// sensitivities are the exact derivatives of that discrete solution
    /// (internal numerical differentiation).
    pub controlled: usize,
}

/// Work done.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Right-hand-side evaluations.
    pub rhs_evaluations: u64,
    /// Steps accepted.
    pub accepted_steps: u64,
    /// Steps rejected by the error control.
    pub rejected_steps: u64,
}

/// Why an integration stopped early.
#[derive(Debug, Clone, PartialEq)]
pub enum Stop<E> {
    /// More than `max_steps` steps.
    MaxSteps {
        /// Time reached, in the system's time unit.
        t: f64,
        /// Steps taken.
        steps: u32,
    },
    /// The step became too small for the time's floating-point resolution.
    StepUnderflow {
        /// Time reached, in the system's time unit.
        t: f64,
    },
    /// The caller's check of an accepted step failed.
    Rejected(E),
}

/// Integrates dy/dt = f(t, y) from `t0` to `t1` (> t0).
///
/// * `h0`: first step to try (0: estimated).
/// * `grid`: sorted output times; for each in (t0, t1], in order, the
///   continuous extension there (the exact step end where they coincide) is
///   pushed onto `out`. Pushed, not passed to a callback: each point goes
///   straight to where it stays.
/// * `check`: called with every accepted step's end; an `Err` stops.
///
/// Returns y(t1), the counts and the mean accepted step.
#[allow(clippy::too_many_arguments)]
pub fn integrate<const N: usize, E>(
    f: &mut impl FnMut(f64, &SVector<f64, N>, &mut SVector<f64, N>),
    t0: f64,
    t1: f64,
    y0: &SVector<f64, N>,
    h0: f64,
    settings: &Settings<N>,
    grid: &[f64],
    out: &mut Vec<[f64; N]>,
    check: &mut impl FnMut(f64, &SVector<f64, N>) -> Result<(), E>,
) -> Result<(SVector<f64, N>, Counts), Stop<E>> {
    let mut counts = Counts::default();
    let span = t1 - t0;
    if span <= 0.0 {
        return Ok((*y0, counts));
    }
    let h_max = span;
    let rtol = settings.rtol;
    let atol = &settings.atol;
    let nc = settings.controlled.clamp(1, N);
    let g = grid.partition_point(|&x| x <= t0);
    let grid = &grid[..grid.partition_point(|&x| x <= t1)];
    out.reserve(grid.len() - g);

    let mut y = *y0;
    let mut k1 = SVector::<f64, N>::zeros();
    let (mut k2, mut k3, mut k4, mut k5, mut k6, mut k7) = (k1, k1, k1, k1, k1, k1);
    f(t0, &y, &mut k1);
    counts.rhs_evaluations += 1;

    let mut h = if h0 > 0.0 {
        h0.min(h_max)
    } else {
        counts.rhs_evaluations += 1;
        initial_step(f, t0, &y, &k1, rtol, atol, nc, h_max, &mut k2, &mut k3)
    };
    let expo1 = 0.2 - BETA * 0.75;
    // ln of the previous accepted error, floored at 1e-4 (Hairer's FACOLD).
    let mut ln_fac_old: f64 = LN_FAC_OLD_MIN;
    let mut rejected_last = false;
    let mut t = t0;
    let mut steps: u32 = 0;
    // Output points of the last accepted step not yet written.
    let zero = SVector::<f64, N>::zeros();
    let mut dense = Dense {
        t,
        inv_h: 0.0,
        t_new: t,
        coincide: 0.0,
        y: zero,
        dy: zero,
        bspl: zero,
        r4: zero,
        r5: zero,
        y_new: zero,
        next: g,
        quota: 0,
    };
    let mut ys = SVector::<f64, N>::zeros();
    let mut y_new = SVector::<f64, N>::zeros();
    loop {
        if steps >= settings.max_steps {
            return Err(Stop::MaxSteps {
                t,
                steps: settings.max_steps,
            });
        }
        if 0.1 * h.abs() <= t.abs() * f64::EPSILON {
            return Err(Stop::StepUnderflow { t });
        }
        let last = t + 1.01 * h >= t1;
        if last {
            h = t1 - t;
        }
        steps += 1;

        // Stages as plain component loops (no vector temporaries).
        // `ys` and `y_new` are scratch, fully overwritten below (declared
        // once: zeroing them every step was a visible cost for the
        // 168-state sensitivity systems).
        for i in 0..N {
            ys[i] = y[i] + h * (A21 * k1[i]);
        }
        f(t + C2 * h, &ys, &mut k2);
        dense.write(grid, out, dense.quota);
        for i in 0..N {
            ys[i] = y[i] + h * (A31 * k1[i] + A32 * k2[i]);
        }
        f(t + C3 * h, &ys, &mut k3);
        dense.write(grid, out, dense.quota);
        for i in 0..N {
            ys[i] = y[i] + h * (A41 * k1[i] + A42 * k2[i] + A43 * k3[i]);
        }
        f(t + C4 * h, &ys, &mut k4);
        dense.write(grid, out, dense.quota);
        for i in 0..N {
            ys[i] = y[i] + h * (A51 * k1[i] + A52 * k2[i] + A53 * k3[i] + A54 * k4[i]);
        }
        f(t + C5 * h, &ys, &mut k5);
        dense.write(grid, out, dense.quota);
        for i in 0..N {
            ys[i] =
                y[i] + h * (A61 * k1[i] + A62 * k2[i] + A63 * k3[i] + A64 * k4[i] + A65 * k5[i]);
        }
        let t_new = if last { t1 } else { t + h };
        f(t_new, &ys, &mut k6);
        dense.write(grid, out, dense.quota);
        for i in 0..N {
            y_new[i] =
                y[i] + h * (A71 * k1[i] + A73 * k3[i] + A74 * k4[i] + A75 * k5[i] + A76 * k6[i]);
        }
        f(t_new, &y_new, &mut k7);
        dense.write(grid, out, dense.quota);
        counts.rhs_evaluations += 6;

        let mut sum = 0.0;
        for i in 0..nc {
            let e =
                h * (E1 * k1[i] + E3 * k3[i] + E4 * k4[i] + E5 * k5[i] + E6 * k6[i] + E7 * k7[i]);
            let sk = atol[i] + rtol * y[i].abs().max(y_new[i].abs());
            sum += (e / sk) * (e / sk);
        }
        // The RMS error is err = sqrt(err_sq); only its logarithm is used
        // (and err <= 1 is err_sq <= 1), so the square root is not taken:
        // it sat on the chain from one step's last stage to the next step's
        // first (err -> ln -> exp -> h), where the core waits on each result.
        let err_sq = sum / nc as f64;
        // err^expo1 and the PI factor from one logarithm (two powf per step
        // were a visible share of a short run).
        let ln_err = 0.5 * err_sq.max(1e-300).ln();
        let fac11 = (expo1 * ln_err).exp();

        if err_sq <= 1.0 {
            // Accepted. h_new = h / fac with fac = err^expo1 / errold^BETA
            // / SAFETY, clamped: computed as h times the ratio 1/fac, with
            // SAFETY inside the exponential, so no division waits on exp.
            let ratio = (BETA * ln_fac_old - expo1 * ln_err + LN_SAFETY)
                .exp()
                .clamp(1.0 / FAC_INV_MAX, 1.0 / FAC_INV_MIN);
            let mut h_new = h * ratio;
            ln_fac_old = ln_err.max(LN_FAC_OLD_MIN);
            counts.accepted_steps += 1;
            // Whatever the stages did not write of the previous step.
            dense.finish(grid, out);
            let g = dense.next;
            if g < grid.len() && grid[g] <= t_new {
                // Continuous extension on [t, t + h], computed in place.
                let d = &mut dense;
                for i in 0..N {
                    d.dy[i] = y_new[i] - y[i];
                    d.bspl[i] = h * k1[i] - d.dy[i];
                    d.r4[i] = d.dy[i] - h * k7[i] - d.bspl[i];
                    d.r5[i] = h
                        * (D1 * k1[i]
                            + D3 * k3[i]
                            + D4 * k4[i]
                            + D5 * k5[i]
                            + D6 * k6[i]
                            + D7 * k7[i]);
                }
                // Points per stage of the next step: the step's points
                // estimated from the local grid spacing, over six stages (a
                // guess: what is left is written at the next acceptance).
                let spacing = grid.get(g + 1).map_or(h, |&x| x - grid[g]);
                let points = ((t_new - grid[g]) / spacing).min(1e9) as usize + 1;
                d.t = t;
                d.inv_h = 1.0 / h;
                d.t_new = t_new;
                // A grid time this close to the step end takes y_new.
                d.coincide = 1e-12 * t_new.abs().max(1.0);
                d.y = y;
                d.y_new = y_new;
                d.next = g;
                d.quota = points.div_ceil(6);
            }
            check(t_new, &y_new).map_err(Stop::Rejected)?;
            k1 = k7;
            y = y_new;
            t = t_new;
            if last {
                dense.finish(grid, out);
                return Ok((y, counts));
            }
            h_new = h_new.min(h_max);
            if rejected_last {
                h_new = h_new.min(h);
            }
            rejected_last = false;
            h = h_new;
        } else {
            h /= FAC_INV_MAX.min(fac11 / SAFETY);
            if counts.accepted_steps >= 1 {
                counts.rejected_steps += 1;
            }
            rejected_last = true;
        }
    }
}

/// The continuous extension of an accepted step and the grid times in it
/// still to be written (from `next` on; those within `coincide` of the step
/// end take `y_new` itself).
///
/// Why deferred: a step's stages are one chain of dependent evaluations
/// (divisions, then the next stage's arguments), so the core mostly waits;
/// the output points are independent arithmetic. Written a few per stage of
/// the next step they run in that wait instead of after it.
struct Dense<const N: usize> {
    t: f64,
    inv_h: f64,
    t_new: f64,
    coincide: f64,
    y: SVector<f64, N>,
    dy: SVector<f64, N>,
    bspl: SVector<f64, N>,
    r4: SVector<f64, N>,
    r5: SVector<f64, N>,
    y_new: SVector<f64, N>,
    /// Next grid index to write.
    next: usize,
    /// Points to write per stage.
    quota: usize,
}

impl<const N: usize> Dense<N> {
    /// Writes up to `n` of the step's remaining grid times.
    #[inline(always)]
    fn write(&mut self, grid: &[f64], out: &mut Vec<[f64; N]>, n: usize) {
        if n > 0 {
            self.write_some(grid, out, n);
        }
    }

    #[inline(never)]
    fn write_some(&mut self, grid: &[f64], out: &mut Vec<[f64; N]>, n: usize) {
        // Locals, not fields, in the loop: fewer loads and stores.
        let mut next = self.next;
        let stop = next.saturating_add(n).min(grid.len());
        let (t, inv_h, t_new, coincide) = (self.t, self.inv_h, self.t_new, self.coincide);
        while next < stop {
            let tg = grid[next];
            // t_new - tg falls as tg rises, so the times strictly inside
            // come first (and t_new - tg > coincide implies tg < t_new).
            if t_new - tg > coincide {
                let th = (tg - t) * inv_h;
                let th1 = 1.0 - th;
                let (y, dy, bspl, r4, r5) = (&self.y, &self.dy, &self.bspl, &self.r4, &self.r5);
                // Component loop: no vector temporaries per point.
                let mut o = [0.0; N];
                for i in 0..N {
                    o[i] = y[i] + th * (dy[i] + th1 * (bspl[i] + th * (r4[i] + th1 * r5[i])));
                }
                out.push(o);
            } else if tg <= t_new {
                out.push(self.y_new.into());
            } else {
                // Past the step: nothing left.
                self.quota = 0;
                break;
            }
            next += 1;
        }
        self.next = next;
    }

    /// Writes the rest.
    #[inline(always)]
    fn finish(&mut self, grid: &[f64], out: &mut Vec<[f64; N]>) {
        // Usually nothing is left: test that here, without the call.
        if grid.get(self.next).is_some_and(|&tg| tg <= self.t_new) {
            self.write_some(grid, out, usize::MAX);
        }
    }
}

/// First step by Hairer's `HINIT`: an explicit Euler step estimates the
/// second derivative, and the step makes the local error of order 5 about
/// the tolerance. `work_y`, `work_f`: scratch.
#[allow(clippy::too_many_arguments)]
fn initial_step<const N: usize>(
    f: &mut impl FnMut(f64, &SVector<f64, N>, &mut SVector<f64, N>),
    t0: f64,
    y0: &SVector<f64, N>,
    f0: &SVector<f64, N>,
    rtol: f64,
    atol: &SVector<f64, N>,
    nc: usize,
    h_max: f64,
    work_y: &mut SVector<f64, N>,
    work_f: &mut SVector<f64, N>,
) -> f64 {
    let (mut dnf, mut dny) = (0.0, 0.0);
    for i in 0..nc {
        let sk = atol[i] + rtol * y0[i].abs();
        dnf += (f0[i] / sk).powi(2);
        dny += (y0[i] / sk).powi(2);
    }
    let mut h = if dnf <= 1e-10 || dny <= 1e-10 {
        1e-6
    } else {
        (dny / dnf).sqrt() * 0.01
    };
    h = h.min(h_max);
    *work_y = y0 + h * f0;
    f(t0 + h, work_y, work_f);
    let mut der2 = 0.0;
    for i in 0..nc {
        let sk = atol[i] + rtol * y0[i].abs();
        der2 += ((work_f[i] - f0[i]) / sk).powi(2);
    }
    let der2 = der2.sqrt() / h;
    let der12 = der2.abs().max(dnf.sqrt());
    let h1 = if der12 <= 1e-15 {
        (h * 1e-3).max(1e-6)
    } else {
        (0.01 / der12).powf(1.0 / 5.0)
    };
    (100.0 * h).min(h1).min(h_max)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// dy/dt = −0.7 y, y(0) = 1, on [0, 10], output at `grid`.
    fn decay(rtol: f64, grid: &[f64]) -> (Vec<[f64; 1]>, f64, Counts) {
        let mut f = |_t: f64, y: &SVector<f64, 1>, dy: &mut SVector<f64, 1>| dy[0] = -0.7 * y[0];
        let settings = Settings {
            rtol,
            atol: SVector::from([1e-14]),
            max_steps: 100_000,
            controlled: 1,
        };
        let mut out = Vec::new();
        let (y1, c) = integrate(
            &mut f,
            0.0,
            10.0,
            &SVector::from([1.0]),
            0.0,
            &settings,
            grid,
            &mut out,
            &mut |_, _| Ok::<(), ()>(()),
        )
        .unwrap();
        (out, y1[0], c)
    }

    fn run_decay(rtol: f64) -> (Vec<(f64, f64)>, f64, Counts) {
        let grid: Vec<f64> = (1..=20).map(|i| i as f64 * 0.5).collect();
        let (out, y1, c) = decay(rtol, &grid);
        let out = grid.iter().zip(&out).map(|(&t, y)| (t, y[0])).collect();
        (out, y1, c)
    }

    #[test]
    fn matches_the_exponential_at_step_ends_and_between_them() {
        let (out, y1, c) = run_decay(1e-10);
        assert_eq!(out.len(), 20);
        for (t, y) in out {
            let exact = (-0.7 * t).exp();
            assert!((y - exact).abs() <= 1e-8 * exact, "t={t}: {y} vs {exact}");
        }
        assert!((y1 - (-7.0f64).exp()).abs() <= 1e-9 * (-7.0f64).exp());
        assert!(c.accepted_steps > 10);
        // FSAL: six new evaluations per attempted step, plus the first
        // evaluation and the one of the initial-step estimate.
        assert!(c.rhs_evaluations >= 2 + 6 * (c.accepted_steps + c.rejected_steps));
    }

    #[test]
    fn global_error_falls_as_the_fifth_power_of_the_tolerance_ratio() {
        // Halving the tolerance by 10^5 should cut the error by roughly 10^4
        // to 10^5 for an order-5 method with order-4 error control.
        let exact = (-7.0f64).exp();
        let (_, a, ca) = run_decay(1e-5);
        let (_, b, cb) = run_decay(1e-10);
        let (ea, eb) = ((a - exact).abs(), (b - exact).abs());
        assert!(ea > 100.0 * eb, "errors {ea} vs {eb}");
        // Steps grow like tol^(-1/5): about 10x for 10^5.
        let ratio = cb.accepted_steps as f64 / ca.accepted_steps as f64;
        assert!((5.0..20.0).contains(&ratio), "step ratio {ratio}");
    }

    #[test]
    fn every_grid_time_is_written_once_in_order_however_many_per_step() {
        // Output points are written a few per stage of the following step
        // (as many as the first spacing suggests, the rest at the next
        // acceptance); a grid with hundreds of points in some steps, none in
        // others, uneven spacing and a time on the end must still come out
        // whole.
        let mut grid: Vec<f64> = (1..=400).map(|i| i as f64 * 1e-3).collect();
        grid.extend([0.5, 0.5000001, 2.0, 3.3, 5.95]);
        grid.extend((1..=300).map(|i| 6.0 + i as f64 * 0.01));
        grid.push(10.0);
        let (out, _, c) = decay(1e-7, &grid);
        assert_eq!(out.len(), grid.len());
        assert!(4 * c.accepted_steps < grid.len() as u64, "{c:?}");
        for (t, y) in grid.iter().zip(&out) {
            let exact = (-0.7 * t).exp();
            assert!(
                (y[0] - exact).abs() <= 1e-5 * exact,
                "t={t}: {} vs {exact}",
                y[0]
            );
        }
    }

    #[test]
    fn a_failed_check_stops_with_its_error() {
        let mut f = |_t: f64, _y: &SVector<f64, 1>, dy: &mut SVector<f64, 1>| dy[0] = -1.0;
        let settings = Settings {
            rtol: 1e-8,
            atol: SVector::from([1e-12]),
            max_steps: 1000,
            controlled: 1,
        };
        let r = integrate(
            &mut f,
            0.0,
            5.0,
            &SVector::from([1.0]),
            0.0,
            &settings,
            &[],
            &mut Vec::new(),
            &mut |t, y: &SVector<f64, 1>| if y[0] < 0.0 { Err(t) } else { Ok(()) },
        );
        match r {
            Err(Stop::Rejected(t)) => assert!(t > 1.0 && t <= 5.0),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn too_few_steps_is_reported() {
        let mut f =
            |_t: f64, y: &SVector<f64, 1>, dy: &mut SVector<f64, 1>| dy[0] = y[0].cos() * 50.0;
        let settings = Settings {
            rtol: 1e-12,
            atol: SVector::from([1e-14]),
            max_steps: 5,
            controlled: 1,
        };
        let r = integrate(
            &mut f,
            0.0,
            100.0,
            &SVector::from([0.0]),
            0.0,
            &settings,
            &[],
            &mut Vec::new(),
            &mut |_, _| Ok::<(), ()>(()),
        );
        assert!(matches!(r, Err(Stop::MaxSteps { steps: 5, .. })), "{r:?}");
    }
}
