//! An IndPenSim batch from its record in a data set directory
//! (`training-data/indpensim`): the initial state and kinetic parameters
//! from `initial_conditions.csv`, the recipe from `recipes.json` (schema in
//! `docs/data-format.md`), and the per-step disturbances from the `dist_*`
//! columns of `batches/<id>_wide.csv.gz`.

use std::path::{Path, PathBuf};

use crate::error::Error;
use biotwin_core::bioreactor::indpensim::recipe::RECIPE_INPUTS;
use biotwin_core::bioreactor::indpensim::{
    Batch, Disturbances, InitialState, Kinetics, N_STEPS, Profile, Recipe,
};

use super::csv_source::read_all;

/// A wide file: its header and its rows of numbers.
#[derive(Debug, Clone)]
pub struct WideTable {
    /// The file read (for messages).
    pub path: PathBuf,
    /// Column names of the header, in file order.
    pub columns: Vec<String>,
    /// One row of numbers per data line, each as long as `columns`.
    pub rows: Vec<Vec<f64>>,
}

impl WideTable {
    /// Index of a column; an error names the file and the column.
    pub fn index(&self, name: &str) -> Result<usize, Error> {
        self.columns.iter().position(|c| c == name).ok_or_else(|| {
            Error::in_dataset(
                &self.path,
                "header",
                format!("a column `{name}`"),
                "no such column",
            )
        })
    }

    /// One column's values.
    pub fn column(&self, name: &str) -> Result<Vec<f64>, Error> {
        let i = self.index(name)?;
        Ok(self.rows.iter().map(|r| r[i]).collect())
    }
}

/// Reads a (gzip or plain) wide CSV file of numbers.
pub fn read_wide(path: &Path) -> Result<WideTable, Error> {
    let bytes = read_all(path).map_err(Error::Dataset)?;
    let text = String::from_utf8(bytes)
        .map_err(|e| Error::in_dataset(path, "", "UTF-8 text", e.to_string()))?;
    let mut lines = text.lines();
    let header = lines
        .next()
        .ok_or_else(|| Error::in_dataset(path, "line 1", "a header", "an empty file"))?;
    let columns: Vec<String> = header.split(',').map(|s| s.trim().to_string()).collect();
    let mut rows = Vec::new();
    for (i, line) in lines.enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let mut row = Vec::with_capacity(columns.len());
        for (j, cell) in line.split(',').enumerate() {
            let v: f64 = cell.trim().parse().map_err(|_| {
                Error::in_dataset(
                    path,
                    format!(
                        "line {}, column `{}`",
                        i + 2,
                        columns.get(j).map_or("?", |c| c)
                    ),
                    "a number",
                    format!("`{cell}`"),
                )
            })?;
            row.push(v);
        }
        if row.len() != columns.len() {
            return Err(Error::in_dataset(
                path,
                format!("line {}", i + 2),
                format!("{} fields", columns.len()),
                format!("{} fields", row.len()),
            ));
        }
        rows.push(row);
    }
    Ok(WideTable {
        path: path.to_path_buf(),
        columns,
        rows,
    })
}

/// The columns of `initial_conditions.csv` a batch needs.
const IC_COLUMNS: [&str; 18] = [
    "S0_gL",
    "DO2_0_mgL",
    "O2_offgas0",
    "P0_gL",
    "V0_L",
    "Wt0_kg",
    "pH0",
    "T0_K",
    "a0_0_gL",
    "a1_0_gL",
    "CO2_offgas0_pct",
    "PAA0_mgL",
    "NH3_0_mgL",
    "mu_p",
    "mux_max",
    "alpha_kla",
    "N_conc_paa",
    "PAA_c",
];

/// Initial state and kinetic parameters of `batch_id`.
pub fn read_initial_conditions(
    path: &Path,
    batch_id: &str,
) -> Result<(InitialState, Kinetics), Error> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines
        .next()
        .ok_or_else(|| Error::in_dataset(path, "line 1", "a header", "an empty file"))?
        .split(',')
        .map(str::trim)
        .collect();
    let col = |name: &str| {
        header.iter().position(|h| *h == name).ok_or_else(|| {
            Error::in_dataset(
                path,
                "header",
                format!("a column `{name}`"),
                "no such column",
            )
        })
    };
    let id_col = col("batch_id")?;
    let idx: Vec<usize> = IC_COLUMNS
        .iter()
        .map(|c| col(c))
        .collect::<Result<_, _>>()?;
    for (i, line) in lines.enumerate() {
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        if cells.get(id_col) != Some(&batch_id) {
            continue;
        }
        let mut v = [0.0; IC_COLUMNS.len()];
        for (k, &j) in idx.iter().enumerate() {
            let cell = cells.get(j).copied().unwrap_or("");
            v[k] = cell
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .ok_or_else(|| {
                    Error::in_dataset(
                        path,
                        format!("line {}, column `{}`", i + 2, IC_COLUMNS[k]),
                        "a finite number",
                        format!("`{cell}`"),
                    )
                })?;
        }
        let initial = InitialState {
            s_g_per_l: v[0],
            do2_mg_per_l: v[1],
            o2_offgas_mol_per_mol: v[2],
            p_g_per_l: v[3],
            v_l: v[4],
            wt_kg: v[5],
            ph: v[6],
            t_k: v[7],
            a0_g_per_l: v[8],
            a1_g_per_l: v[9],
            co2_offgas_pct: v[10],
            paa_mg_per_l: v[11],
            nh3_mg_per_l: v[12],
        };
        let kinetics = Kinetics {
            mu_p: v[13],
            mux_max: v[14],
            alpha_kla: v[15],
            n_conc_paa: v[16],
            paa_c: v[17],
        };
        return Ok((initial, kinetics));
    }
    Err(Error::in_dataset(
        path,
        "batch_id",
        format!("a row for batch `{batch_id}`"),
        "none",
    ))
}

#[derive(serde::Deserialize)]
struct RecipesFile {
    fill_method: String,
    time_unit: String,
    /// Unit of each input's values; checked against the model's.
    #[serde(default)]
    units: std::collections::BTreeMap<String, String>,
    batches: Vec<RecipeEntry>,
}

/// The unit of each recipe input's values and the least value it may take
/// (`true`: strictly above it): flows and aeration cannot be negative, the
/// culture needs aeration, the head pressure is gauge and not below vacuum.
const INPUT_UNITS: [(&str, &str, f64, bool); 7] = [
    ("Fs", "L/h", 0.0, false),
    ("Foil", "L/h", 0.0, false),
    ("Fg", "m3/h", 0.0, true),
    ("pressure", "bar", 0.0, false),
    ("discharge", "L/h", 0.0, false),
    ("Fw", "L/h", 0.0, false),
    ("Fpaa", "L/h", 0.0, false),
];

#[derive(serde::Deserialize)]
struct RecipeEntry {
    batch_id: String,
    profiles: std::collections::BTreeMap<String, Vec<SetPoint>>,
}

#[derive(serde::Deserialize)]
struct SetPoint {
    time: f64,
    value: f64,
}

/// The recipe of `batch_id` from a recipes file (docs/data-format.md).
pub fn read_recipe(path: &Path, batch_id: &str) -> Result<Recipe, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let file: RecipesFile = serde_json::from_str(&text).map_err(|e| {
        Error::in_dataset(
            path,
            format!("line {}", e.line()),
            "the IndPenSim recipes schema (fill_method, time_unit, batches[{batch_id, profiles}])",
            e.to_string(),
        )
    })?;
    if file.fill_method != "backward" {
        return Err(Error::in_dataset(
            path,
            "fill_method",
            "`backward`",
            format!("`{}`", file.fill_method),
        ));
    }
    if file.time_unit != "h" {
        return Err(Error::in_dataset(
            path,
            "time_unit",
            "`h`",
            format!("`{}`", file.time_unit),
        ));
    }
    for (name, unit) in &file.units {
        match INPUT_UNITS.iter().find(|u| u.0 == name) {
            Some(u) if u.1 == unit => {}
            Some(u) => {
                return Err(Error::in_dataset(
                    path,
                    format!("units.{name}"),
                    format!("`{}` (the model's unit; values are not converted)", u.1),
                    format!("`{unit}`"),
                ));
            }
            None => {
                return Err(Error::in_dataset(
                    path,
                    format!("units.{name}"),
                    format!("one of {}", RECIPE_INPUTS.join(", ")),
                    format!("`{name}`"),
                ));
            }
        }
    }
    let matching = file
        .batches
        .iter()
        .filter(|b| b.batch_id == batch_id)
        .count();
    if matching > 1 {
        return Err(Error::in_dataset(
            path,
            "batches",
            format!("one entry for batch `{batch_id}`"),
            format!("{matching}"),
        ));
    }
    let entry = file
        .batches
        .iter()
        .find(|b| b.batch_id == batch_id)
        .ok_or_else(|| {
            Error::in_dataset(
                path,
                "batches",
                format!("an entry for batch `{batch_id}`"),
                "none",
            )
        })?;
    let mut recipe = Recipe::indpensim_default();
    for name in RECIPE_INPUTS {
        let points = entry.profiles.get(name).ok_or_else(|| {
            Error::in_dataset(
                path,
                format!("batches[{batch_id}].profiles"),
                format!("a profile `{name}`"),
                "none",
            )
        })?;
        let (_, unit, least, strict) = INPUT_UNITS
            .iter()
            .find(|u| u.0 == name)
            .copied()
            .expect("every recipe input has a unit");
        for (i, p) in points.iter().enumerate() {
            let bad = if strict {
                p.value <= least
            } else {
                p.value < least
            };
            if bad {
                return Err(Error::in_dataset(
                    path,
                    format!("batches[{batch_id}].profiles.{name}[{i}].value"),
                    format!("a value {} {least} {unit}", if strict { ">" } else { "≥" }),
                    format!("{}", p.value),
                ));
            }
        }
        let what = format!("{}: batches[{batch_id}].profiles.{name}", path.display());
        let profile = Profile::new(points.iter().map(|p| (p.time, p.value)).collect(), &what)?;
        *recipe.profile_mut(name).expect("a recipe input") = profile;
    }
    if let Some(extra) = entry
        .profiles
        .keys()
        .find(|k| !RECIPE_INPUTS.contains(&k.as_str()))
    {
        return Err(Error::in_dataset(
            path,
            format!("batches[{batch_id}].profiles.{extra}"),
            format!("one of {}", RECIPE_INPUTS.join(", ")),
            format!("`{extra}`"),
        ));
    }
    Ok(recipe)
}

/// Disturbance columns of a wide file, in [`Disturbances`] field order.
pub const DIST_COLUMNS: [&str; 8] = [
    "dist_muP",
    "dist_muX",
    "dist_cs",
    "dist_coil",
    "dist_abc",
    "dist_PAA",
    "dist_Tcin",
    "dist_O2in",
];

/// The per-step disturbances recorded in a wide file.
pub fn disturbances_of(wide: &WideTable) -> Result<Vec<Disturbances>, Error> {
    let idx: Vec<usize> = DIST_COLUMNS
        .iter()
        .map(|c| wide.index(c))
        .collect::<Result<_, _>>()?;
    Ok(wide
        .rows
        .iter()
        .map(|r| Disturbances {
            mu_p: r[idx[0]],
            mu_x: r[idx[1]],
            c_s: r[idx[2]],
            c_oil: r[idx[3]],
            abc: r[idx[4]],
            paa: r[idx[5]],
            t_cin: r[idx[6]],
            o2_in: r[idx[7]],
        })
        .collect())
}

/// A batch from its record in `dir`, with its wide file (for the
/// disturbances and for comparisons).
pub fn load_batch(dir: &Path, batch_id: &str) -> Result<(Batch, WideTable), Error> {
    let (initial, kinetics) =
        read_initial_conditions(&dir.join("initial_conditions.csv"), batch_id)?;
    let recipe = read_recipe(&dir.join("recipes.json"), batch_id)?;
    let wide = read_wide(&dir.join("batches").join(format!("{batch_id}_wide.csv.gz")))?;
    let disturbances = disturbances_of(&wide)?;
    if disturbances.len() != N_STEPS {
        return Err(Error::in_dataset(
            &wide.path,
            "rows",
            format!("{N_STEPS} steps of 0.2 h"),
            format!("{} rows", disturbances.len()),
        ));
    }
    let batch = Batch {
        initial,
        kinetics,
        recipe,
        disturbances,
        n_steps: N_STEPS,
    };
    Ok((batch, wide))
}
