//! Observation model: a dataset variable (SI, names of the dataset tag maps,
//! e.g. `training-data/cho-platform/tags.toml`) is one of the model's output
//! columns times a unit factor, measured with an absolute plus a relative
//! error.
//!
//! Default errors are the instrument errors the tag map documents (they are
//! also what the synthetic plant of `src/datagen` adds): cell counter CV 5 %,
//! viability SD 0.01, metabolite analyser CV 3-5 %, Protein A HPLC CV 3 %,
//! osmometer CV 1 %, optical DO probe SD 0.01, pCO2 CV 3 %, load cell CV
//! 0.5 %. The absolute parts are floors (a detection-limit-sized error) so
//! that a value near zero is not trusted absolutely.

/// How one variable is measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Noise {
    /// Absolute standard deviation, SI.
    pub abs: f64,
    /// Relative standard deviation (of the predicted value).
    pub rel: f64,
}

impl Noise {
    /// Variance of a measurement whose predicted value is `h`.
    pub fn variance(&self, h: f64) -> f64 {
        let r = self.rel * h.abs();
        self.abs * self.abs + r * r
    }
}

/// (variable, candidate output columns with their factor to SI, noise).
/// The first column the model has wins.
const TABLE: &[(&str, &[(&str, f64)], Noise)] = &[
    (
        "viable_cells",
        &[("xv_1e6_cells_per_ml", 1e12)],
        Noise {
            abs: 1e10,
            rel: 0.05,
        },
    ),
    (
        "viability",
        &[("viability_pct", 0.01)],
        Noise {
            abs: 0.01,
            rel: 0.0,
        },
    ),
    // Glucose 180.16 g/mol, lactate 90.08 g/mol: mM × M / 1000 = kg/m³.
    (
        "glucose",
        &[("glucose_g_per_l", 1.0), ("glucose_mm", 0.180_16)],
        Noise {
            abs: 0.01,
            rel: 0.03,
        },
    ),
    (
        "glutamine",
        &[("glutamine_mm", 1.0)],
        Noise {
            abs: 0.02,
            rel: 0.05,
        },
    ),
    (
        "lactate",
        &[("lactate_g_per_l", 1.0), ("lactate_mm", 0.090_08)],
        Noise {
            abs: 0.01,
            rel: 0.04,
        },
    ),
    (
        "ammonium",
        &[("ammonium_mm", 1.0)],
        Noise {
            abs: 0.05,
            rel: 0.05,
        },
    ),
    (
        "titer",
        &[("titer_g_per_l", 1.0)],
        Noise {
            abs: 0.005,
            rel: 0.03,
        },
    ),
    (
        "osmolality",
        &[("osmolality_mosm_per_kg", 1e-3)],
        Noise {
            abs: 0.002,
            rel: 0.01,
        },
    ),
    (
        "dissolved_o2",
        &[("do_pct", 0.01)],
        Noise {
            abs: 0.01,
            rel: 0.0,
        },
    ),
    (
        "pco2",
        &[("pco2_mmhg", biotwin_core::units::PA_PER_MMHG)],
        Noise {
            abs: 50.0,
            rel: 0.03,
        },
    ),
    (
        "volume",
        &[("volume_l", 1e-3)],
        Noise {
            abs: 1e-6,
            rel: 0.005,
        },
    ),
];

/// One observable variable of a given model.
#[derive(Debug, Clone, PartialEq)]
pub struct Observable {
    /// Dataset variable name (`glucose`, `xv`, ...).
    pub variable: &'static str,
    /// Index into the model's output row.
    pub column: usize,
    /// Factor from the output column's unit to the variable's SI unit.
    pub factor: f64,
    /// Measurement noise (absolute plus relative SD).
    pub noise: Noise,
}

/// The variables this model can be observed through, in table order.
pub fn observables(columns: &[&str]) -> Vec<Observable> {
    let mut out = Vec::new();
    for (variable, candidates, noise) in TABLE {
        if let Some((column, factor)) = candidates
            .iter()
            .find_map(|(c, f)| columns.iter().position(|x| x == c).map(|i| (i, *f)))
        {
            out.push(Observable {
                variable,
                column,
                factor,
                noise: *noise,
            });
        }
    }
    out
}

/// Every variable name the table knows (for error messages).
pub fn known_variables() -> Vec<&'static str> {
    TABLE.iter().map(|(v, _, _)| *v).collect()
}
