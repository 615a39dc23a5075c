//! The column file: one chromatography column with its buffers, sections and
//! pools, in TOML. Field names carry their units. Example (the reference case):
//!
//! ```toml
//! name = "Protein A capture"
//!
//! [column]
//! model = "lumped_rate_without_pores"
//! length_m = 0.1
//! inner_diameter_m = 0.01
//! total_porosity = 0.7
//! flow_rate_ml_per_min = 3.9269908169872414
//!
//! [binding]
//! model = "langmuir"          # none | linear | langmuir | sma
//! modulator = true            # component 0 modulates ka and kd (MPM)
//!
//! [[components]]
//! name = "modifier"
//! axial_dispersion_m2_per_s = 2e-7
//! initial_mol_per_m3 = 1.0
//!
//! [[components]]
//! name = "mAb"
//! molecular_weight_kg_per_mol = 150.0
//! axial_dispersion_m2_per_s = 2e-7
//! [components.binding]
//! ka_m3_per_mol_s = 0.4946163812100384
//! kd_per_s = 2e-5
//! qmax_mol_per_m3 = 1.333333333333333
//! gamma_m3_per_mol = -0.5
//! beta = 3.0
//!
//! [[sections]]
//! name = "load"
//! duration_s = 2400
//! inlet_mol_per_m3 = [1.0, 0.03333333333333333]
//! # gradient_mol_per_m3_per_s = [0.0, 0.0]   (linear change within the section)
//!
//! [discretisation]            # optional; without it: accuracy = 1e-3
//! elements = 16               # a fixed mesh; or accuracy = 1e-3 (refined to it)
//! polynomial_degree = 4
//!
//! [solver]
//! relative_tolerance = 1e-6
//! absolute_tolerance_mol_per_m3 = 1e-8
//! output_interval_s = 1.0
//!
//! [[pools]]
//! name = "eluate"
//! component = "mAb"
//! section = "elute"
//! start_above_mol_per_m3 = 1e-3
//! end_below_mol_per_m3 = 1e-3
//! ```
//!
//! A pool may instead cut on the UV trace, A/l = Σ_k ε_k c_k (AU per cm of
//! path), with `start_above_au_per_cm`/`end_below_au_per_cm` and
//! `uv_absorptivity_m2_per_mol` (ε) on the absorbing components (mAb at
//! 280 nm: 1.4 L/(g·cm) × 150 kg/mol = 2.1e4 m²/mol).
//!
//! Per-component binding parameters by model: `linear`: `ka_per_s`, `kd_per_s`;
//! `langmuir`: `ka_m3_per_mol_s`, `kd_per_s`, `qmax_mol_per_m3`, optional
//! `gamma_m3_per_mol`, `beta` (modulator exponents); `sma` (component 0 is
//! salt): `sma_ka`, `sma_kd` (CADET units at the reference concentrations),
//! `characteristic_charge`, `steric_factor`, with `ionic_capacity_mol_per_m3`
//! and optionally `reference_liquid_mol_per_m3`, `reference_solid_mol_per_m3`
//! (CADET SMA_REFC0, SMA_REFQ; default 1) in `[binding]`. A component without
//! `[components.binding]` does not bind. `kinetic = false` in `[binding]`
//! selects rapid equilibrium for any column and binding model. A section may
//! add `quadratic_mol_per_m3_per_s2` and `cubic_mol_per_m3_per_s3` to its
//! linear `gradient_mol_per_m3_per_s` (CADET's piecewise cubic inlet). The
//! full table is in docs/file-formats.md.

use std::path::Path;

use serde::Deserialize;

use super::spec::{
    ColumnSpec, Component, Discretisation, Particle, PoolSpec, Section, SolverSettings,
    TransportModel,
};
use crate::binding::{Isotherm, LinearBinding, ModulatedLangmuir, StericMassAction};
use crate::error::Error;
use biotwin_core::definition::source::SourceFile;
use biotwin_core::error::Diagnostics;

#[derive(Debug, Deserialize)]
struct ColumnFile {
    name: String,
    column: ColumnTable,
    #[serde(default)]
    binding: Option<BindingTable>,
    components: Vec<ComponentTable>,
    sections: Vec<SectionTable>,
    #[serde(default)]
    discretisation: Option<DiscretisationTable>,
    #[serde(default)]
    solver: Option<SolverTable>,
    #[serde(default)]
    pools: Vec<PoolTable>,
}

#[derive(Debug, Deserialize)]
struct ColumnTable {
    model: String,
    length_m: f64,
    inner_diameter_m: f64,
    flow_rate_ml_per_min: f64,
    #[serde(default)]
    total_porosity: Option<f64>,
    #[serde(default)]
    bed_porosity: Option<f64>,
    #[serde(default)]
    particle_porosity: Option<f64>,
    #[serde(default)]
    particle_radius_m: Option<f64>,
    #[serde(default)]
    radial_cells: Option<i64>,
    #[serde(default)]
    radial_polynomial_degree: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct BindingTable {
    model: String,
    #[serde(default)]
    modulator: bool,
    /// false: rapid equilibrium (0 = R(c, q) at every instant, a DAE).
    #[serde(default)]
    kinetic: Option<bool>,
    #[serde(default)]
    ionic_capacity_mol_per_m3: Option<f64>,
    /// SMA reference concentrations (CADET SMA_REFC0, SMA_REFQ), default 1.
    #[serde(default)]
    reference_liquid_mol_per_m3: Option<f64>,
    #[serde(default)]
    reference_solid_mol_per_m3: Option<f64>,
}

#[derive(Debug, Deserialize)]
struct ComponentTable {
    name: String,
    #[serde(default)]
    molecular_weight_kg_per_mol: Option<f64>,
    axial_dispersion_m2_per_s: f64,
    #[serde(default)]
    initial_mol_per_m3: f64,
    #[serde(default)]
    initial_bound_mol_per_m3: f64,
    #[serde(default)]
    uv_absorptivity_m2_per_mol: Option<f64>,
    #[serde(default)]
    film_transfer_m_per_s: Option<f64>,
    #[serde(default)]
    pore_diffusion_m2_per_s: Option<f64>,
    #[serde(default)]
    surface_diffusion_m2_per_s: Option<f64>,
    #[serde(default)]
    binding: Option<ComponentBinding>,
}

#[derive(Debug, Deserialize, Default, Clone)]
struct ComponentBinding {
    ka_per_s: Option<f64>,
    ka_m3_per_mol_s: Option<f64>,
    kd_per_s: Option<f64>,
    qmax_mol_per_m3: Option<f64>,
    gamma_m3_per_mol: Option<f64>,
    beta: Option<f64>,
    sma_ka: Option<f64>,
    sma_kd: Option<f64>,
    characteristic_charge: Option<f64>,
    steric_factor: Option<f64>,
}

#[derive(Debug, Deserialize)]
struct SectionTable {
    name: String,
    duration_s: f64,
    inlet_mol_per_m3: Vec<f64>,
    #[serde(default)]
    gradient_mol_per_m3_per_s: Option<Vec<f64>>,
    /// τ² and τ³ coefficients of a polynomial inlet (CADET's QUAD_COEFF,
    /// CUBE_COEFF), τ the time since the section start.
    #[serde(default)]
    quadratic_mol_per_m3_per_s2: Option<Vec<f64>>,
    #[serde(default)]
    cubic_mol_per_m3_per_s3: Option<Vec<f64>>,
}

#[derive(Debug, Deserialize)]
struct DiscretisationTable {
    #[serde(default)]
    elements: Option<i64>,
    #[serde(default)]
    polynomial_degree: Option<i64>,
    #[serde(default)]
    accuracy: Option<f64>,
}

#[derive(Debug, Deserialize)]
struct SolverTable {
    relative_tolerance: f64,
    absolute_tolerance_mol_per_m3: f64,
    output_interval_s: f64,
}

#[derive(Debug, Deserialize)]
struct PoolTable {
    name: String,
    component: String,
    section: String,
    #[serde(default)]
    start_above_mol_per_m3: Option<f64>,
    #[serde(default)]
    end_below_mol_per_m3: Option<f64>,
    #[serde(default)]
    start_above_au_per_cm: Option<f64>,
    #[serde(default)]
    end_below_au_per_cm: Option<f64>,
}

/// Reads and validates a column file.
pub fn load(path: impl AsRef<Path>) -> Result<ColumnSpec, Error> {
    let src = SourceFile::read(path)?;
    Ok(validate(&src)?)
}

/// Validates column-file text (for tests and embedding); `path` names it in
/// diagnostics.
pub fn parse_column_text(path: impl AsRef<Path>, text: &str) -> Result<ColumnSpec, Diagnostics> {
    let src = SourceFile::from_text(path.as_ref().to_path_buf(), text.to_string());
    validate(&src)
}

/// Collects every problem of the file before returning.
fn validate(src: &SourceFile) -> Result<ColumnSpec, Diagnostics> {
    let file: ColumnFile = src.parse()?;
    let mut d = Diagnostics::new();
    let positive = |d: &mut Diagnostics, field: &str, v: f64, what: &str| {
        if !(v.is_finite() && v > 0.0) {
            d.push(src.diag(field, format!("{what} > 0"), v.to_string()));
        }
    };

    let c = &file.column;
    let model = match c.model.as_str() {
        "lumped_rate_without_pores" | "equilibrium_dispersive" => {
            Some(TransportModel::LumpedRateWithoutPores)
        }
        "lumped_rate_with_pores" => Some(TransportModel::LumpedRateWithPores),
        "general_rate" => Some(TransportModel::GeneralRate),
        other => {
            d.push(src.diag(
                "column.model",
                "one of \"equilibrium_dispersive\", \"lumped_rate_without_pores\", \"lumped_rate_with_pores\", \"general_rate\"",
                format!("\"{other}\""),
            ));
            None
        }
    };
    positive(
        &mut d,
        "column.length_m",
        c.length_m,
        "a column length in m",
    );
    positive(
        &mut d,
        "column.inner_diameter_m",
        c.inner_diameter_m,
        "an inner diameter in m",
    );
    positive(
        &mut d,
        "column.flow_rate_ml_per_min",
        c.flow_rate_ml_per_min,
        "a flow rate in mL/min",
    );
    let fraction = |d: &mut Diagnostics, field: &str, v: Option<f64>, what: &str| -> f64 {
        match v {
            Some(x) if x > 0.0 && x < 1.0 => x,
            Some(x) => {
                d.push(src.diag(
                    field,
                    format!("{what}, a volume fraction 0 < ε < 1"),
                    x.to_string(),
                ));
                0.5
            }
            None => {
                d.push(src.diag(
                    field,
                    format!("{what}, a volume fraction 0 < ε < 1"),
                    "nothing",
                ));
                0.5
            }
        }
    };
    let with_pores = matches!(
        model,
        Some(TransportModel::LumpedRateWithPores | TransportModel::GeneralRate)
    );
    let unused = |d: &mut Diagnostics, field: &str, given: bool| {
        if given {
            d.push(src.diag(
                field,
                format!("no such field for model \"{}\"", c.model),
                "a value",
            ));
        }
    };
    let mobile_porosity;
    if with_pores {
        mobile_porosity = fraction(
            &mut d,
            "column.bed_porosity",
            c.bed_porosity,
            "bed porosity ε_c",
        );
        unused(&mut d, "column.total_porosity", c.total_porosity.is_some());
    } else {
        mobile_porosity = fraction(
            &mut d,
            "column.total_porosity",
            c.total_porosity,
            "total porosity ε_t",
        );
        unused(&mut d, "column.bed_porosity", c.bed_porosity.is_some());
        unused(
            &mut d,
            "column.particle_porosity",
            c.particle_porosity.is_some(),
        );
        unused(
            &mut d,
            "column.particle_radius_m",
            c.particle_radius_m.is_some(),
        );
        unused(&mut d, "column.radial_cells", c.radial_cells.is_some());
    }
    let particle = if with_pores {
        let porosity = fraction(
            &mut d,
            "column.particle_porosity",
            c.particle_porosity,
            "particle porosity ε_p",
        );
        let radius = c.particle_radius_m.unwrap_or(f64::NAN);
        positive(
            &mut d,
            "column.particle_radius_m",
            radius,
            "a particle radius in m",
        );
        let general = model == Some(TransportModel::GeneralRate);
        let radial_polynomial_degree = match (general, c.radial_polynomial_degree) {
            (true, Some(deg)) => {
                if !(1..=20).contains(&deg) {
                    d.push(src.diag(
                        "column.radial_polynomial_degree",
                        "an integer degree, 1 to 20",
                        deg.to_string(),
                    ));
                }
                if c.radial_cells.is_some() {
                    d.push(src.diag("column.radial_cells", "either radial_cells (finite volumes) or radial_polynomial_degree (spectral), not both", "both"));
                }
                Some(deg.clamp(1, 20) as usize)
            }
            (false, Some(_)) => {
                unused(&mut d, "column.radial_polynomial_degree", true);
                None
            }
            // default for the GRM: spectral degree 4 unless shells are asked for
            (true, None) if c.radial_cells.is_none() => Some(4),
            (_, None) => None,
        };
        let radial_cells = if general {
            let n = c.radial_cells.unwrap_or(8);
            if !(1..=1000).contains(&n) {
                d.push(src.diag(
                    "column.radial_cells",
                    "an integer number of shells, 1 to 1000",
                    n.to_string(),
                ));
            }
            n.clamp(1, 1000) as usize
        } else {
            unused(&mut d, "column.radial_cells", c.radial_cells.is_some());
            1
        };
        let mut film = Vec::new();
        let mut pore = Vec::new();
        let mut surface = Vec::new();
        for (i, comp) in file.components.iter().enumerate() {
            let field = format!("components[{i}].surface_diffusion_m2_per_s");
            match comp.surface_diffusion_m2_per_s {
                Some(ds) if general => {
                    // Protein surface diffusivities lie around 1e-16 to
                    // 1e-12 m²/s, far below free-solution diffusion
                    // (~1e-10 for an IgG, ~1e-9 for salts); 1e-8 bounds
                    // what any solute could do.
                    if !(ds.is_finite() && (0.0..=1e-8).contains(&ds)) {
                        d.push(src.diag(
                            &field,
                            "a surface diffusion coefficient in m²/s, 0 to 1e-8 (proteins: \
                             ~1e-16 to 1e-12)",
                            ds.to_string(),
                        ));
                    } else if ds > 0.0 && comp.binding.is_none() {
                        d.push(src.diag(
                            &field,
                            "surface diffusion only on a component that binds (it moves \
                             bound molecules): a [components.binding] table, or no \
                             surface diffusion",
                            format!("{ds} on a component without binding"),
                        ));
                    }
                    surface.push(ds);
                }
                Some(_) => unused(&mut d, &field, true),
                None => surface.push(0.0),
            }
            let kf = comp.film_transfer_m_per_s.unwrap_or(f64::NAN);
            positive(
                &mut d,
                &format!("components[{i}].film_transfer_m_per_s"),
                kf,
                "a film transfer coefficient in m/s",
            );
            film.push(kf);
            if general {
                let dp = comp.pore_diffusion_m2_per_s.unwrap_or(f64::NAN);
                positive(
                    &mut d,
                    &format!("components[{i}].pore_diffusion_m2_per_s"),
                    dp,
                    "a pore diffusion coefficient in m²/s",
                );
                pore.push(dp);
            } else {
                unused(
                    &mut d,
                    &format!("components[{i}].pore_diffusion_m2_per_s"),
                    comp.pore_diffusion_m2_per_s.is_some(),
                );
            }
        }
        Some(Particle {
            porosity,
            radius_m: radius,
            film_transfer_m_per_s: film,
            pore_diffusion_m2_per_s: general.then_some(pore),
            surface_diffusion_m2_per_s: (general && surface.iter().any(|&ds| ds > 0.0))
                .then_some(surface),
            radial_cells,
            radial_polynomial_degree,
        })
    } else {
        for (i, comp) in file.components.iter().enumerate() {
            unused(
                &mut d,
                &format!("components[{i}].film_transfer_m_per_s"),
                comp.film_transfer_m_per_s.is_some(),
            );
            unused(
                &mut d,
                &format!("components[{i}].pore_diffusion_m2_per_s"),
                comp.pore_diffusion_m2_per_s.is_some(),
            );
            unused(
                &mut d,
                &format!("components[{i}].surface_diffusion_m2_per_s"),
                comp.surface_diffusion_m2_per_s.is_some(),
            );
        }
        None
    };

    let nc = file.components.len();
    if nc == 0 {
        d.push(src.diag("components", "at least one [[components]] table", "none"));
    }
    for (i, comp) in file.components.iter().enumerate() {
        let f = |k: &str| format!("components[{i}].{k}");
        if comp.name.trim().is_empty() {
            d.push(src.diag(&f("name"), "a non-empty name", "\"\""));
        }
        if file.components[..i].iter().any(|o| o.name == comp.name) {
            d.push(src.diag(
                &f("name"),
                "a name used once",
                format!("\"{}\" again", comp.name),
            ));
        }
        if !(comp.axial_dispersion_m2_per_s.is_finite() && comp.axial_dispersion_m2_per_s >= 0.0) {
            d.push(src.diag(
                &f("axial_dispersion_m2_per_s"),
                "an axial dispersion coefficient ≥ 0 m²/s",
                comp.axial_dispersion_m2_per_s.to_string(),
            ));
        }
        if !(comp.initial_mol_per_m3.is_finite() && comp.initial_mol_per_m3 >= 0.0) {
            d.push(src.diag(
                &f("initial_mol_per_m3"),
                "a concentration ≥ 0 mol/m³",
                comp.initial_mol_per_m3.to_string(),
            ));
        }
        if let Some(mw) = comp.molecular_weight_kg_per_mol {
            positive(
                &mut d,
                &f("molecular_weight_kg_per_mol"),
                mw,
                "a molar mass in kg/mol",
            );
        }
    }

    let isotherm = binding(src, &file, &mut d);

    let mut sections = Vec::new();
    let mut t = 0.0;
    if file.sections.is_empty() {
        d.push(src.diag("sections", "at least one [[sections]] table", "none"));
    }
    for (s, sec) in file.sections.iter().enumerate() {
        let f = |k: &str| format!("sections[{s}].{k}");
        positive(&mut d, &f("duration_s"), sec.duration_s, "a duration in s");
        if sec.inlet_mol_per_m3.len() != nc {
            d.push(src.diag(
                &f("inlet_mol_per_m3"),
                format!("{nc} concentrations (one per component)"),
                format!("{}", sec.inlet_mol_per_m3.len()),
            ));
        }
        let grad = sec
            .gradient_mol_per_m3_per_s
            .clone()
            .unwrap_or_else(|| vec![0.0; nc]);
        if grad.len() != nc {
            d.push(src.diag(
                &f("gradient_mol_per_m3_per_s"),
                format!("{nc} slopes (one per component)"),
                format!("{}", grad.len()),
            ));
        }
        if sec.inlet_mol_per_m3.len() == nc && grad.len() == nc {
            for (k, (&c0, &g)) in sec.inlet_mol_per_m3.iter().zip(&grad).enumerate() {
                if !(c0.is_finite() && c0 >= 0.0) {
                    d.push(src.diag(
                        &f("inlet_mol_per_m3"),
                        format!("concentrations ≥ 0 mol/m³ ({})", file.components[k].name),
                        c0.to_string(),
                    ));
                }
                let end = c0 + g * sec.duration_s.max(0.0);
                // with quadratic or cubic terms the polynomial check below applies
                let polynomial = sec.quadratic_mol_per_m3_per_s2.is_some()
                    || sec.cubic_mol_per_m3_per_s3.is_some();
                if !(g.is_finite() && (end >= 0.0 || polynomial)) {
                    d.push(src.diag(
                        &f("gradient_mol_per_m3_per_s"),
                        format!(
                            "a slope that keeps {} ≥ 0 mol/m³ over the section (≥ {:.4e} mol/m³/s)",
                            file.components[k].name,
                            -c0 / sec.duration_s.max(f64::MIN_POSITIVE)
                        ),
                        format!("{g} (reaches {end:.4} mol/m³ at the section end)"),
                    ));
                }
            }
        }
        if file.sections[..s].iter().any(|o| o.name == sec.name) {
            d.push(src.diag(
                &f("name"),
                "a section name used once",
                format!("\"{}\" again", sec.name),
            ));
        }
        let mut higher = [vec![0.0; nc], vec![0.0; nc]];
        for (slot, key, given) in [
            (
                0,
                "quadratic_mol_per_m3_per_s2",
                &sec.quadratic_mol_per_m3_per_s2,
            ),
            (1, "cubic_mol_per_m3_per_s3", &sec.cubic_mol_per_m3_per_s3),
        ] {
            let Some(v) = given else { continue };
            if v.len() != nc || v.iter().any(|x| !x.is_finite()) {
                d.push(src.diag(
                    &f(key),
                    format!("{nc} finite coefficients (one per component)"),
                    format!("{v:?}"),
                ));
            } else {
                higher[slot] = v.clone();
            }
        }
        let [quadratic, cubic] = higher;
        let polynomial =
            sec.quadratic_mol_per_m3_per_s2.is_some() || sec.cubic_mol_per_m3_per_s3.is_some();
        let section = Section {
            name: sec.name.clone(),
            start_s: t,
            end_s: t + sec.duration_s,
            coefficients: [sec.inlet_mol_per_m3.clone(), grad, quadratic, cubic],
        };
        if polynomial && sec.duration_s > 0.0 && section.coefficients.iter().all(|c| c.len() == nc)
        {
            if let Some((k, tau, value)) = negative_inlet(&section) {
                d.push(src.diag(
                    &f("cubic_mol_per_m3_per_s3"),
                    format!(
                        "polynomial inlet coefficients that keep {} ≥ 0 mol/m³ over the section",
                        file.components[k].name
                    ),
                    format!("{value:.4e} mol/m³ at {tau:.4} s into the section"),
                ));
            }
        }
        sections.push(section);
        t += sec.duration_s.max(0.0);
    }

    let discretisation = match &file.discretisation {
        None => Discretisation {
            elements: Discretisation::DEFAULT_FIRST_ELEMENTS,
            polynomial_degree: 4,
            accuracy: Some(Discretisation::DEFAULT_ACCURACY),
        },
        Some(t) => {
            let elements = t
                .elements
                .unwrap_or(Discretisation::DEFAULT_FIRST_ELEMENTS as i64);
            let degree = t.polynomial_degree.unwrap_or(4);
            if !(1..=100_000).contains(&elements) {
                d.push(src.diag(
                    "discretisation.elements",
                    "an integer number of DG elements, 1 to 100000",
                    elements.to_string(),
                ));
            }
            if !(1..=12).contains(&degree) {
                d.push(src.diag(
                    "discretisation.polynomial_degree",
                    "an integer polynomial degree, 1 to 12",
                    degree.to_string(),
                ));
            }
            // elements given and no accuracy: that mesh; otherwise the mesh
            // is refined to the accuracy (default 1e-3)
            let accuracy = match (t.accuracy, t.elements) {
                (Some(a), given) => {
                    if !(1e-8..=0.1).contains(&a) {
                        d.push(src.diag(
                            "discretisation.accuracy",
                            "a relative L2 accuracy of the outlet, 1e-8 to 0.1",
                            a.to_string(),
                        ));
                    }
                    // Refinement doubles the mesh up to 512 elements.
                    if let Some(e) = given.filter(|&e| e > 256) {
                        d.push(src.diag(
                            "discretisation.elements",
                            "at most 256 elements to start the refinement from (it doubles \
                             the mesh up to 512) with discretisation.accuracy; or no accuracy \
                             for a fixed mesh",
                            e.to_string(),
                        ));
                    }
                    Some(a)
                }
                (None, Some(_)) => None,
                (None, None) => Some(Discretisation::DEFAULT_ACCURACY),
            };
            Discretisation {
                elements: elements.clamp(1, 100_000) as usize,
                polynomial_degree: degree.clamp(1, 12) as usize,
                accuracy,
            }
        }
    };
    let solver = match &file.solver {
        None => SolverSettings {
            relative_tolerance: 1e-6,
            absolute_tolerance: 1e-8,
            output_interval_s: 1.0,
        },
        Some(s) => {
            if !(s.relative_tolerance > 0.0 && s.relative_tolerance <= 1e-2) {
                d.push(src.diag(
                    "solver.relative_tolerance",
                    "a relative tolerance in (0, 1e-2]",
                    s.relative_tolerance.to_string(),
                ));
            }
            positive(
                &mut d,
                "solver.absolute_tolerance_mol_per_m3",
                s.absolute_tolerance_mol_per_m3,
                "an absolute tolerance in mol/m³",
            );
            positive(
                &mut d,
                "solver.output_interval_s",
                s.output_interval_s,
                "an interval in s",
            );
            if s.output_interval_s > t && t > 0.0 {
                d.push(src.diag(
                    "solver.output_interval_s",
                    format!("an interval no longer than the run ({t} s)"),
                    s.output_interval_s.to_string(),
                ));
            }
            SolverSettings {
                relative_tolerance: s.relative_tolerance,
                absolute_tolerance: s.absolute_tolerance_mol_per_m3,
                output_interval_s: s.output_interval_s,
            }
        }
    };
    // Successive meshes' outlets cannot be told apart below about ten times
    // the time integrator's relative tolerance.
    if let Some(a) = discretisation.accuracy
        && a < 10.0 * solver.relative_tolerance
    {
        d.push(src.diag(
            "discretisation.accuracy",
            format!(
                "an accuracy of at least 10 × solver.relative_tolerance ({:e}); tighten the \
                 solver's tolerance first",
                10.0 * solver.relative_tolerance
            ),
            a.to_string(),
        ));
    }

    let mut pools = Vec::new();
    for (p, pool) in file.pools.iter().enumerate() {
        let f = |k: &str| format!("pools[{p}].{k}");
        let component = file
            .components
            .iter()
            .position(|c| c.name == pool.component);
        if component.is_none() {
            d.push(src.diag(
                &f("component"),
                "the name of a component",
                format!("\"{}\"", pool.component),
            ));
        }
        let section = file.sections.iter().position(|s| s.name == pool.section);
        if section.is_none() {
            d.push(src.diag(
                &f("section"),
                "the name of a section",
                format!("\"{}\"", pool.section),
            ));
        }
        // Cut on the key component's concentration, or on the UV trace.
        let (cut_on_uv, start, end) = match (
            pool.start_above_mol_per_m3,
            pool.end_below_mol_per_m3,
            pool.start_above_au_per_cm,
            pool.end_below_au_per_cm,
        ) {
            (Some(a), Some(b), None, None) => (false, a, b),
            (None, None, Some(a), Some(b)) => {
                if file
                    .components
                    .iter()
                    .all(|c| c.uv_absorptivity_m2_per_mol.is_none())
                {
                    d.push(src.diag(
                        &f("start_above_au_per_cm"),
                        "uv_absorptivity_m2_per_mol on at least one component for a UV cut",
                        "no component absorbs",
                    ));
                }
                (true, a, b)
            }
            _ => {
                d.push(src.diag(
                    &f("name"),
                    "either start_above_mol_per_m3 and end_below_mol_per_m3 (concentration cut) or start_above_au_per_cm and end_below_au_per_cm (UV cut)",
                    "another combination",
                ));
                (false, 1.0, 1.0)
            }
        };
        let unit = if cut_on_uv { "AU/cm" } else { "mol/m³" };
        for (key, v) in [("start_above", start), ("end_below", end)] {
            let key = if cut_on_uv {
                format!("{key}_au_per_cm")
            } else {
                format!("{key}_mol_per_m3")
            };
            positive(&mut d, &f(&key), v, &format!("a cut level in {unit}"));
        }
        pools.push(PoolSpec {
            name: pool.name.clone(),
            component: component.unwrap_or(0),
            section: section.unwrap_or(0),
            cut_on_uv,
            start_above: start,
            end_below: end,
        });
    }

    let kinetic = file.binding.as_ref().and_then(|b| b.kinetic);
    let rapid_equilibrium = c.model == "equilibrium_dispersive" || kinetic == Some(false);
    if c.model == "equilibrium_dispersive" && kinetic == Some(true) {
        d.push(src.diag(
            "binding.kinetic",
            "false or absent: the equilibrium-dispersive model has binding at equilibrium",
            "true",
        ));
    }
    if rapid_equilibrium {
        // the bound phase starts in equilibrium with the initial liquid
        for (i, comp) in file.components.iter().enumerate() {
            if comp.initial_bound_mol_per_m3 != 0.0 {
                d.push(src.diag(
                    &format!("components[{i}].initial_bound_mol_per_m3"),
                    "no initial bound state with rapid equilibrium (kinetic = false): the bound phase starts in equilibrium with initial_mol_per_m3",
                    comp.initial_bound_mol_per_m3.to_string(),
                ));
            }
        }
    }
    let (Some(model), Some(isotherm)) = (model, isotherm) else {
        return Err(d);
    };
    let initial_bound_mol_per_m3 = isotherm
        .bound_components()
        .iter()
        .map(|&k| file.components[k].initial_bound_mol_per_m3)
        .collect();
    let spec = ColumnSpec {
        name: file.name.clone(),
        model,
        length_m: c.length_m,
        cross_section_m2: std::f64::consts::PI * c.inner_diameter_m.powi(2) / 4.0,
        mobile_porosity,
        particle,
        flow_rate_m3_per_s: c.flow_rate_ml_per_min * 1e-6 / 60.0,
        components: file
            .components
            .iter()
            .map(|c| Component {
                name: c.name.clone(),
                molecular_weight_kg_per_mol: c.molecular_weight_kg_per_mol,
                axial_dispersion_m2_per_s: c.axial_dispersion_m2_per_s,
                initial_mol_per_m3: c.initial_mol_per_m3,
                uv_absorptivity_m2_per_mol: c.uv_absorptivity_m2_per_mol.unwrap_or(0.0),
            })
            .collect(),
        isotherm,
        rapid_equilibrium,
        initial_bound_mol_per_m3,
        sections,
        discretisation,
        solver,
        pools,
    };
    d.into_result(spec)
}

/// The first component whose polynomial inlet goes below zero within the
/// section, with the time into the section and the value there: the cubic's
/// minimum lies at an end or where its derivative vanishes.
fn negative_inlet(section: &Section) -> Option<(usize, f64, f64)> {
    let duration = section.end_s - section.start_s;
    let nc = section.coefficients[0].len();
    (0..nc).find_map(|k| {
        let [a, b, c, dd] = [0, 1, 2, 3].map(|j| section.coefficients[j][k]);
        let value = |tau: f64| a + tau * (b + tau * (c + tau * dd));
        // roots of b + 2c τ + 3d τ² = 0
        let mut candidates = vec![0.0, duration];
        if dd != 0.0 {
            let disc = 4.0 * c * c - 12.0 * dd * b;
            if disc >= 0.0 {
                for sign in [-1.0, 1.0] {
                    candidates.push((-2.0 * c + sign * disc.sqrt()) / (6.0 * dd));
                }
            }
        } else if c != 0.0 {
            candidates.push(-b / (2.0 * c));
        }
        candidates
            .into_iter()
            .filter(|tau| (0.0..=duration).contains(tau))
            .map(|tau| (tau, value(tau)))
            .find(|(_, v)| *v < -1e-12 * a.abs().max(1.0))
            .map(|(tau, v)| (k, tau, v))
    })
}

/// Builds the isotherm; None (with diagnostics) when it cannot be built.
fn binding(src: &SourceFile, file: &ColumnFile, d: &mut Diagnostics) -> Option<Isotherm> {
    let nc = file.components.len();
    let Some(b) = &file.binding else {
        for (i, c) in file.components.iter().enumerate() {
            if c.binding.is_some() {
                d.push(src.diag(
                    &format!("components[{i}].binding"),
                    "no per-component binding without a [binding] table naming the model",
                    "a binding table",
                ));
            }
        }
        return Some(Isotherm::None);
    };
    if b.model != "sma" {
        for (field, given) in [
            (
                "binding.reference_liquid_mol_per_m3",
                b.reference_liquid_mol_per_m3,
            ),
            (
                "binding.reference_solid_mol_per_m3",
                b.reference_solid_mol_per_m3,
            ),
        ] {
            if given.is_some() {
                d.push(src.diag(
                    field,
                    format!("no such field for binding model \"{}\" (SMA only)", b.model),
                    "a value",
                ));
            }
        }
    }
    let params: Vec<Option<ComponentBinding>> =
        file.components.iter().map(|c| c.binding.clone()).collect();
    let n_before = d.len();
    let model = b.model.as_str();
    let get = |d: &mut Diagnostics, i: usize, name: &str, v: Option<f64>, rule: Rule| {
        required(src, d, model, i, name, v, rule)
    };
    let pos: Rule = ("a value > 0", |x| x > 0.0);
    let nonneg: Rule = ("a value ≥ 0", |x| x >= 0.0);
    let any: Rule = ("a finite value", |_| true);
    let iso = match b.model.as_str() {
        "none" => Isotherm::None,
        "linear" => {
            let mut m = LinearBinding {
                binds: vec![false; nc],
                ka_per_s: vec![0.0; nc],
                kd_per_s: vec![0.0; nc],
            };
            for (i, p) in params.iter().enumerate() {
                if let Some(p) = p {
                    m.binds[i] = true;
                    m.ka_per_s[i] = get(d, i, "ka_per_s", p.ka_per_s, nonneg);
                    m.kd_per_s[i] = get(d, i, "kd_per_s", p.kd_per_s, pos);
                }
            }
            Isotherm::Linear(m)
        }
        "langmuir" => {
            let mut m = ModulatedLangmuir {
                modulator: b.modulator,
                binds: vec![false; nc],
                ka_m3_per_mol_s: vec![0.0; nc],
                kd_per_s: vec![0.0; nc],
                qmax_mol_per_m3: vec![1.0; nc],
                gamma_m3_per_mol: vec![0.0; nc],
                beta: vec![0.0; nc],
            };
            for (i, p) in params.iter().enumerate() {
                let Some(p) = p else { continue };
                if b.modulator && i == 0 {
                    d.push(src.diag(
                        "components[0].binding",
                        "no binding parameters for the modulator (component 0 does not bind)",
                        "a binding table",
                    ));
                    continue;
                }
                m.binds[i] = true;
                m.ka_m3_per_mol_s[i] = get(d, i, "ka_m3_per_mol_s", p.ka_m3_per_mol_s, nonneg);
                m.kd_per_s[i] = get(d, i, "kd_per_s", p.kd_per_s, pos);
                m.qmax_mol_per_m3[i] = get(d, i, "qmax_mol_per_m3", p.qmax_mol_per_m3, pos);
                m.gamma_m3_per_mol[i] = get(
                    d,
                    i,
                    "gamma_m3_per_mol",
                    p.gamma_m3_per_mol.or(Some(0.0)),
                    any,
                );
                m.beta[i] = get(d, i, "beta", p.beta.or(Some(0.0)), nonneg);
            }
            if b.modulator && nc < 2 {
                d.push(src.diag(
                    "binding.modulator",
                    "at least two components (modulator first)",
                    format!("{nc} component(s)"),
                ));
            }
            Isotherm::Langmuir(m)
        }
        "sma" => {
            let mut m = StericMassAction {
                lambda_mol_per_m3: 0.0,
                ka: vec![0.0; nc],
                kd: vec![0.0; nc],
                nu: vec![0.0; nc],
                sigma: vec![0.0; nc],
                reference_liquid_mol_per_m3: 1.0,
                reference_solid_mol_per_m3: 1.0,
            };
            for (field, given, slot) in [
                (
                    "binding.reference_liquid_mol_per_m3",
                    b.reference_liquid_mol_per_m3,
                    &mut m.reference_liquid_mol_per_m3,
                ),
                (
                    "binding.reference_solid_mol_per_m3",
                    b.reference_solid_mol_per_m3,
                    &mut m.reference_solid_mol_per_m3,
                ),
            ] {
                match given {
                    None => {}
                    Some(v) if v.is_finite() && v > 0.0 => *slot = v,
                    Some(v) => d.push(src.diag(
                        field,
                        "a reference concentration > 0 mol/m³",
                        v.to_string(),
                    )),
                }
            }
            match b.ionic_capacity_mol_per_m3 {
                Some(l) if l.is_finite() && l > 0.0 => m.lambda_mol_per_m3 = l,
                other => d.push(
                    src.diag(
                        "binding.ionic_capacity_mol_per_m3",
                        "an ionic capacity Λ > 0 mol/m³ of solid",
                        other
                            .map(|x| x.to_string())
                            .unwrap_or_else(|| "nothing".into()),
                    ),
                ),
            }
            if nc < 2 {
                d.push(src.diag(
                    "components",
                    "salt (component 0) and at least one protein",
                    format!("{nc} component(s)"),
                ));
            }
            for (i, p) in params.iter().enumerate() {
                if i == 0 {
                    if p.is_some() {
                        d.push(src.diag(
                            "components[0].binding",
                            "no binding table for the salt (component 0)",
                            "a binding table",
                        ));
                    }
                    continue;
                }
                let p = p.clone().unwrap_or_default();
                m.ka[i] = get(d, i, "sma_ka", p.sma_ka, nonneg);
                m.kd[i] = get(d, i, "sma_kd", p.sma_kd, pos);
                m.nu[i] = get(d, i, "characteristic_charge", p.characteristic_charge, pos);
                m.sigma[i] = get(d, i, "steric_factor", p.steric_factor, nonneg);
            }
            Isotherm::Sma(m)
        }
        other => {
            d.push(src.diag(
                "binding.model",
                "one of \"none\", \"linear\", \"langmuir\", \"sma\"",
                format!("\"{other}\""),
            ));
            return None;
        }
    };
    (d.len() == n_before).then_some(iso)
}

/// A sign rule for a parameter: its description and its test.
type Rule = (&'static str, fn(f64) -> bool);

/// A required per-component binding parameter, checked against `rule`.
fn required(
    src: &SourceFile,
    d: &mut Diagnostics,
    model: &str,
    i: usize,
    name: &str,
    v: Option<f64>,
    rule: Rule,
) -> f64 {
    let field = format!("components[{i}].binding.{name}");
    match v {
        None => {
            d.push(src.diag(
                &field,
                format!("{} for model \"{model}\"", rule.0),
                "nothing",
            ));
            0.0
        }
        Some(x) if !(x.is_finite() && rule.1(x)) => {
            d.push(src.diag(&field, rule.0, x.to_string()));
            0.0
        }
        Some(x) => x,
    }
}
