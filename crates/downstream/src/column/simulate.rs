//! Time integration of the semi-discrete column with diffsol's variable-order
//! BDF method and a sparse (faer) LU of the Jacobian.
//!
//! Inlet sections make the right-hand side discontinuous in time, so the
//! integrator is stopped exactly at each section boundary and restarted at
//! first order with the new inlet, as CADET does (SECTION_CONTINUITY = 0).
//! The Jacobian's sparsity is found once from the exact Jacobian-vector
//! product; diffsol then assembles it by graph colouring.

use std::cell::Cell;

use diffsol::{
    FaerSparseMat, FaerVec, OdeBuilder, OdeSolverMethod, OdeSolverStopReason, Vector, VectorHost,
};

use super::linsolve::ColumnLu;
use super::result::{ColumnBalance, ColumnResult, ComponentBalance, MeshReport, Pool};
use super::spec::ColumnSpec;
use super::system::ColumnSystem;
use crate::error::{ColumnFailure, Error};
use diffsol::error::DiffsolError;

type Mat = FaerSparseMat<f64>;
type Vect = FaerVec<f64>;

/// Most steps one run may take before it is reported as a numerical failure.
const MAX_STEPS: usize = 2_000_000;
/// First step after a section boundary, s: small, since the inlet jumps there.
const RESTART_STEP_S: f64 = 1e-3;
/// Pseudo-time over which binding sites relax onto their fast manifold at a
/// restart ([`ColumnSystem::relax_binding`]), s: relaxes binding modes faster
/// than 1e6/s; slower ones move by τ × their rate, below the tolerance.
const RELAX_TIME_S: f64 = 1e-6;

fn numerical(time_s: f64, failure: ColumnFailure) -> Error {
    Error::Column { time_s, failure }
}

/// A failed integration step, with where it happened and what helps.
fn step_failure(spec: &ColumnSpec, section: usize, t_s: f64, e: DiffsolError) -> Error {
    let sec = &spec.sections[section];
    let d = spec.discretisation;
    numerical(
        t_s,
        ColumnFailure::Step {
            section: sec.name.clone(),
            since_section_start_s: t_s - sec.start_s,
            elements: d.elements,
            polynomial_degree: d.polynomial_degree,
            rapid_equilibrium: spec.rapid_equilibrium,
            source: e,
        },
    )
}

/// Most axial elements the error-controlled mesh refines to.
const MAX_CONTROLLED_ELEMENTS: usize = 512;

/// Runs the column through all its inlet sections.
///
/// With `discretisation.accuracy` (the default of a file without
/// `elements`) the axial mesh is error-controlled: the run is repeated with
/// twice the elements, starting from `discretisation.elements`, until the
/// outlets of two successive meshes differ by at most the accuracy in
/// relative L2 (every component, over the output grid: the measure of the
/// CADET comparison); the finer run is returned. The DG error falls about
/// tenfold per doubling (docs/downstream.md, convergence study), so the
/// difference estimates the coarser mesh's error and the returned one is
/// well inside it. Costs about 1.5-2× the finest run.
///
/// # Errors
///
/// An input error ([`Error::Core`], file `<column spec>`) when a spec built
/// in code has an inconsistent shape (no component or section, vectors of
/// the wrong length); a spec from [`super::load`] always passes.
/// [`Error::Column`] when the integration fails: the time of the failure,
/// the section, and what usually helps ([`ColumnFailure`]).
///
/// # Example
///
/// The shipped Protein A case (CADET-Core's `a_lrm_langmuir`: load 20 CV of
/// 5 g/L mAb, wash, step elution on a 10 cm × 1 cm column): what was fed
/// comes back out, stays in the liquid or stays bound.
///
/// ```
/// use biotwin_downstream::column;
///
/// let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
///     .join("../../process-models/downstream/protein_a_column.toml");
/// let spec = column::load(&path)?;
/// let result = column::simulate(&spec)?;
///
/// for b in &result.mass_balance {
///     let fed = b.initial_mol + b.inlet_mol;
///     let defect = fed - b.outlet_mol - b.final_liquid_mol - b.final_bound_mol;
///     // BDF keeps the column's linear hold-up invariant to round-off.
///     assert!(fed > 0.0 && (defect / fed).abs() < 1e-9, "{b:?}");
///     assert!((defect / fed - b.relative_error).abs() < 1e-12);
/// }
/// // The eluate pool holds part of the mAb fed (20 CV overload the column:
/// // the rest broke through during the load).
/// let eluate = &result.pools[0];
/// assert!(eluate.recovery > 0.0 && eluate.recovery <= 1.0);
/// assert!(eluate.end_s > eluate.start_s && eluate.volume_m3 > 0.0);
/// // Outlet concentrations on the output grid, mol/m³.
/// let mab = result.outlet("mAb").unwrap();
/// assert_eq!(mab.len(), result.time_s.len());
/// # Ok::<(), biotwin_downstream::error::Error>(())
/// ```
pub fn simulate(spec: &ColumnSpec) -> Result<ColumnResult, Error> {
    let Some(accuracy) = spec.discretisation.accuracy else {
        return simulate_on_mesh(spec);
    };
    let on = |elements: usize| {
        let mut s = spec.clone();
        s.discretisation.elements = elements;
        s.discretisation.accuracy = None;
        simulate_on_mesh(&s)
    };
    let mut elements = spec.discretisation.elements.max(1);
    let mut tried = vec![elements];
    let mut coarse = on(elements)?;
    loop {
        let finer = 2 * elements;
        if finer > MAX_CONTROLLED_ELEMENTS {
            return Err(numerical(
                spec.end_time_s(),
                ColumnFailure::MeshLimit {
                    accuracy,
                    elements,
                    max_elements: MAX_CONTROLLED_ELEMENTS,
                },
            ));
        }
        let mut fine = on(finer)?;
        tried.push(finer);
        let difference = outlet_difference(&coarse, &fine, spec.solver.absolute_tolerance);
        if !difference.is_finite() {
            return Err(numerical(
                spec.end_time_s(),
                ColumnFailure::MeshNotFinite {
                    elements,
                    finer,
                    difference,
                },
            ));
        }
        if difference <= accuracy {
            fine.mesh.estimated_error = Some(difference);
            fine.mesh.elements_tried = tried;
            return Ok(fine);
        }
        if 2 * finer > MAX_CONTROLLED_ELEMENTS {
            return Err(numerical(
                spec.end_time_s(),
                ColumnFailure::MeshNotConverged {
                    accuracy,
                    elements,
                    finer,
                    difference,
                    max_elements: MAX_CONTROLLED_ELEMENTS,
                },
            ));
        }
        coarse = fine;
        elements = finer;
    }
}

/// Max over components of ‖a − b‖₂/‖b‖₂ on the output grid. A component
/// that barely leaves the column is measured against the solver's absolute
/// tolerance instead (‖b‖ floored at atol √n), so noise at that level does
/// not demand refinement.
fn outlet_difference(a: &ColumnResult, b: &ColumnResult, atol: f64) -> f64 {
    a.outlet_mol_per_m3
        .iter()
        .zip(&b.outlet_mol_per_m3)
        .map(|(x, y)| {
            let num: f64 = x.iter().zip(y).map(|(p, q)| (p - q).powi(2)).sum();
            let den: f64 = y.iter().map(|q| q * q).sum();
            num.sqrt() / den.sqrt().max(atol * (y.len() as f64).sqrt())
        })
        // NaN propagates (f64::max would skip it and call the mesh converged).
        .fold(0.0, |m: f64, x: f64| {
            if m.is_nan() || x.is_nan() {
                f64::NAN
            } else {
                m.max(x)
            }
        })
}

/// Runs the column on the mesh of `spec.discretisation` as given.
fn simulate_on_mesh(spec: &ColumnSpec) -> Result<ColumnResult, Error> {
    check_shape(spec)?;
    let sys = ColumnSystem::new(spec);
    let nc = sys.n_comp;
    let y0 = sys.initial_state(spec);
    let n = y0.len();
    let section = Cell::new(0usize);
    let inlet = |t: f64| {
        let mut c_in = vec![0.0; nc];
        spec.sections[section.get()].inlet_at(t, &mut c_in);
        c_in
    };
    let problem = OdeBuilder::<Mat>::new()
        .rtol(spec.solver.relative_tolerance)
        .atol([spec.solver.absolute_tolerance])
        .h0(RESTART_STEP_S)
        .t0(spec.sections[0].start_s)
        .rhs_implicit(
            |x: &Vect, _p: &Vect, t: f64, y: &mut Vect| {
                sys.rhs(x.as_slice(), &inlet(t), y.as_mut_slice())
            },
            |x: &Vect, _p: &Vect, _t: f64, v: &Vect, y: &mut Vect| {
                sys.jacobian_times(x.as_slice(), v.as_slice(), y.as_mut_slice())
            },
        )
        .mass(|v: &Vect, _p: &Vect, _t: f64, beta: f64, y: &mut Vect| {
            sys.mass_times(v.as_slice(), beta, y.as_mut_slice())
        })
        .init(
            |_p: &Vect, _t: f64, y: &mut Vect| y.as_mut_slice().copy_from_slice(&y0),
            n,
        )
        .build()
        .map_err(|e| numerical(0.0, ColumnFailure::Solver(e)))?;
    let mut problem = problem;
    // diffsol counts Newton failures over the whole run (not per step) and
    // stops at 50; a long column run with strongly nonlinear binding has
    // many benign ones (a stale Jacobian, refreshed on the first failure).
    // A step that really cannot converge still ends in a step size below
    // the minimum, which is reported.
    problem.ode_options.max_nonlinear_solver_failures = usize::MAX / 2;
    let mut solver = problem
        .bdf::<ColumnLu>()
        .map_err(|e| numerical(0.0, ColumnFailure::Solver(e)))?;

    let t_start = spec.sections[0].start_s;
    let t_end = spec.end_time_s();
    let dt = spec.solver.output_interval_s;
    let n_out = ((t_end - t_start) / dt + 1e-9).floor() as usize + 1;
    let times: Vec<f64> = (0..n_out).map(|i| t_start + i as f64 * dt).collect();
    let mut outlet = vec![Vec::with_capacity(n_out); nc];
    let mut integral = vec![Vec::with_capacity(n_out); nc];
    let mut section_integral_end = Vec::new();
    let mut next = 0;
    let mut steps = 0;
    // dense output is written into one buffer (no allocation per output time)
    let mut y_out = Vect::zeros(n, Default::default());

    for (s, sec) in spec.sections.iter().enumerate() {
        if s > 0 {
            section.set(s);
            let mut c_old = vec![0.0; nc];
            spec.sections[s - 1].inlet_at(sec.start_s, &mut c_old);
            let c_new = inlet(sec.start_s);
            let st = solver.state_mut();
            sys.relax_binding(
                st.y.as_mut_slice(),
                RELAX_TIME_S,
                spec.solver.relative_tolerance,
                spec.solver.absolute_tolerance,
            );
            if sys.equilibrium {
                let y = st.y.as_slice().to_vec();
                // y was just relaxed onto R = 0 (consistent algebraic states)
                sys.consistent_derivative(&y, &c_new, st.dy.as_mut_slice());
            } else {
                sys.restart_derivative(&c_old, &c_new, st.dy.as_mut_slice());
            }
            *st.t = sec.start_s;
            *st.h = RESTART_STEP_S.min(0.5 * (sec.end_s - sec.start_s));
        }
        solver
            .set_stop_time(sec.end_s)
            .map_err(|e| numerical(sec.start_s, ColumnFailure::Solver(e)))?;
        loop {
            let reason = solver
                .step()
                .map_err(|e| step_failure(spec, s, solver.state().t, e))?;
            steps += 1;
            let t_now = solver.state().t;
            if steps > MAX_STEPS {
                return Err(numerical(t_now, ColumnFailure::TooManySteps));
            }
            let done = matches!(reason, OdeSolverStopReason::TstopReached);
            while next < n_out && (times[next] <= t_now || (done && next + 1 == n_out)) {
                solver
                    .interpolate_inplace(times[next].min(t_now), &mut y_out)
                    .map_err(|e| numerical(t_now, ColumnFailure::Solver(e)))?;
                let y = y_out.as_slice();
                for k in 0..nc {
                    outlet[k].push(y[sys.outlet_index(k)]);
                    integral[k].push(y[sys.outlet_integral_index(k)]);
                }
                next += 1;
            }
            if done {
                break;
            }
        }
        let y = solver.state().y.as_slice();
        section_integral_end.push(
            (0..nc)
                .map(|k| y[sys.outlet_integral_index(k)])
                .collect::<Vec<f64>>(),
        );
    }
    // The first output is the initial state (t = t_start), which no step emits
    // when the grid starts exactly there; fill the grid if it came up short.
    if outlet[0].len() < n_out {
        return Err(numerical(t_end, ColumnFailure::OutletIncomplete));
    }

    let q = spec.flow_rate_m3_per_s;
    let y_final = solver.state().y.as_slice().to_vec();
    let (liq0, bound0) = sys.hold_up_mol(spec, &y0);
    let (liq1, bound1) = sys.hold_up_mol(spec, &y_final);
    let mut mass_balance = Vec::new();
    for k in 0..nc {
        let inlet_mol: f64 = spec.sections.iter().map(|s| q * s.inlet_integral(k)).sum();
        let initial = liq0[k] + bound0[k];
        let outlet_mol = q * y_final[sys.outlet_integral_index(k)];
        let defect = initial + inlet_mol - outlet_mol - liq1[k] - bound1[k];
        let scale = (initial.abs() + inlet_mol.abs()).max(f64::MIN_POSITIVE);
        mass_balance.push(ComponentBalance {
            component: spec.components[k].name.clone(),
            initial_mol: initial,
            inlet_mol,
            outlet_mol,
            final_liquid_mol: liq1[k],
            final_bound_mol: bound1[k],
            relative_error: defect / scale,
        });
    }
    let mut section_outlet_mol = Vec::new();
    let mut previous = vec![0.0; nc];
    for end in &section_integral_end {
        section_outlet_mol.push((0..nc).map(|k| q * (end[k] - previous[k])).collect());
        previous = end.clone();
    }
    let balance = ColumnBalance {
        times: &times,
        outlet: &outlet,
        integral: &integral,
        flow_rate_m3_per_s: q,
    };
    let uv_au_per_cm = uv_trace(spec, &outlet);
    let pools = spec
        .pools
        .iter()
        .map(|p| cut_pool(spec, p, &balance, &mass_balance))
        .collect();
    Ok(ColumnResult {
        component_names: spec.components.iter().map(|c| c.name.clone()).collect(),
        time_s: times,
        uv_au_per_cm,
        outlet_mol_per_m3: outlet,
        section_outlet_mol,
        pools,
        mass_balance,
        steps,
        mesh: MeshReport {
            elements: spec.discretisation.elements,
            polynomial_degree: spec.discretisation.polynomial_degree,
            estimated_error: None,
            elements_tried: vec![spec.discretisation.elements],
        },
    })
}

fn cut_pool(
    spec: &ColumnSpec,
    p: &super::spec::PoolSpec,
    b: &ColumnBalance,
    balance: &[ComponentBalance],
) -> Pool {
    let sec = &spec.sections[p.section];
    let uv: Vec<f64>;
    let c: &[f64] = if p.cut_on_uv {
        uv = uv_trace(spec, b.outlet);
        &uv
    } else {
        &b.outlet[p.component]
    };
    let in_section = |i: &usize| b.times[*i] >= sec.start_s && b.times[*i] <= sec.end_s;
    let idx: Vec<usize> = (0..b.times.len()).filter(in_section).collect();
    let start = idx.iter().copied().find(|&i| c[i] >= p.start_above);
    let (i1, i2) = match start {
        Some(i1) => {
            // The end cut is on the tail: after the peak that follows the start.
            let peak = idx
                .iter()
                .copied()
                .filter(|&i| i >= i1)
                .fold(i1, |best, i| if c[i] > c[best] { i } else { best });
            let i2 = idx
                .iter()
                .copied()
                .filter(|&i| i > peak)
                .find(|&i| c[i] < p.end_below)
                .unwrap_or(*idx.last().unwrap_or(&i1));
            (i1, i2)
        }
        None => (0, 0),
    };
    let nc = b.outlet.len();
    let amount_mol: Vec<f64> = (0..nc)
        .map(|k| b.flow_rate_m3_per_s * (b.integral[k][i2] - b.integral[k][i1]))
        .collect();
    let inlet = balance[p.component].inlet_mol;
    let mass = |k: usize| {
        spec.components[k]
            .molecular_weight_kg_per_mol
            .map(|mw| mw * amount_mol[k])
    };
    let total_mass: f64 = (0..nc).filter_map(mass).sum();
    let key_mass = mass(p.component);
    Pool {
        name: p.name.clone(),
        start_s: b.times[i1],
        end_s: b.times[i2],
        volume_m3: b.flow_rate_m3_per_s * (b.times[i2] - b.times[i1]),
        recovery: if inlet > 0.0 {
            amount_mol[p.component] / inlet
        } else {
            0.0
        },
        mass_purity: match key_mass {
            Some(m) if total_mass > 0.0 => m / total_mass,
            _ => 1.0,
        },
        amount_mol,
    }
}

/// UV absorbance of the outlet per cm of path: A/l = Σ_k ε_k c_k / 100.
fn uv_trace(spec: &ColumnSpec, outlet: &[Vec<f64>]) -> Vec<f64> {
    let n = outlet.first().map_or(0, |c| c.len());
    (0..n)
        .map(|i| {
            spec.components
                .iter()
                .zip(outlet)
                .map(|(comp, c)| comp.uv_absorptivity_m2_per_mol * c[i])
                .sum::<f64>()
                / 100.0
        })
        .collect()
}

/// Guards against a `ColumnSpec` built in code (not through the file reader)
/// whose shape would make the simulator index out of range or loop forever.
fn check_shape(spec: &ColumnSpec) -> Result<(), Error> {
    let bad = |field: &str, expected: &str, found: String| {
        Err(biotwin_core::error::Error::input("<column spec>", field, expected, found).into())
    };
    let nc = spec.components.len();
    if nc == 0 {
        return bad("components", "at least one component", "none".into());
    }
    if spec.sections.is_empty() {
        return bad("sections", "at least one section", "none".into());
    }
    for (s, sec) in spec.sections.iter().enumerate() {
        if sec.coefficients.iter().any(|c| c.len() != nc)
            || sec.end_s.partial_cmp(&sec.start_s) != Some(std::cmp::Ordering::Greater)
        {
            return bad(
                &format!("sections[{s}]"),
                "end after start and one inlet coefficient per component",
                format!("{sec:?}"),
            );
        }
    }
    let positive = [
        ("length_m", spec.length_m),
        ("cross_section_m2", spec.cross_section_m2),
        ("flow_rate_m3_per_s", spec.flow_rate_m3_per_s),
        ("solver.output_interval_s", spec.solver.output_interval_s),
        ("solver.relative_tolerance", spec.solver.relative_tolerance),
        ("solver.absolute_tolerance", spec.solver.absolute_tolerance),
    ];
    for (field, v) in positive {
        if !(v.is_finite() && v > 0.0) {
            return bad(field, "a positive number", v.to_string());
        }
    }
    if !(spec.mobile_porosity > 0.0 && spec.mobile_porosity < 1.0) {
        return bad(
            "mobile_porosity",
            "0 < ε < 1",
            spec.mobile_porosity.to_string(),
        );
    }
    if spec.discretisation.elements == 0 || spec.discretisation.polynomial_degree == 0 {
        return bad(
            "discretisation",
            "elements ≥ 1 and degree ≥ 1",
            format!("{:?}", spec.discretisation),
        );
    }
    let nb = spec.isotherm.bound_components().len();
    if spec.initial_bound_mol_per_m3.len() != nb {
        return bad(
            "initial_bound_mol_per_m3",
            &format!("{nb} values"),
            spec.initial_bound_mol_per_m3.len().to_string(),
        );
    }
    if spec
        .pools
        .iter()
        .any(|p| p.component >= nc || p.section >= spec.sections.len())
    {
        return bad(
            "pools",
            "existing component and section indices",
            format!("{:?}", spec.pools),
        );
    }
    Ok(())
}
