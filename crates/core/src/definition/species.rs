//! Culture species and the unit suffixes their concentrations may carry in
//! input files (`glucose_g_per_l`, `glutamine_mm`, `xv_1e6_cells_per_ml`).
//!
//! Each species has one SI basis: cells/m³, mol/m³, kg/m³ or mol/kg
//! (osmolality). Molar species given in g/L are converted with the molar mass.

use crate::error::Reason;
use std::fmt;

/// Species that can appear in initial conditions and media.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Species {
    /// Viable cells; SI cells/m³ (file: `xv_1e6_cells_per_ml`, …).
    ViableCells,
    /// Dead cells; SI cells/m³.
    DeadCells,
    /// Viability, a fraction (file: `viability_pct`).
    Viability,
    /// Glucose; SI mol/m³ (180.156 g/mol).
    Glucose,
    /// Glutamine; SI mol/m³ (146.146 g/mol).
    Glutamine,
    /// Lactate; SI mol/m³ (89.07 g/mol).
    Lactate,
    /// Ammonium; SI mol/m³ (18.04 g/mol).
    Ammonium,
    /// Product (antibody); SI kg/m³ (file: `titer_g_per_l`).
    Product,
    /// Galactose; SI mol/m³ (180.156 g/mol).
    Galactose,
    /// Manganese; SI mol/m³ (54.938 g/mol).
    Manganese,
    /// Osmolality; SI mol/kg (file: `osmolality_mosm_per_kg`).
    Osmolality,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Basis {
    Cells,
    Molar { mw_kg_per_mol: f64 },
    Mass,
    Osmolal,
    Fraction,
}

struct SpeciesInfo {
    species: Species,
    key: &'static str,
    basis: Basis,
}

/// Molar masses: glucose and galactose C6H12O6 180.156 g/mol; L-glutamine
/// 146.146 g/mol; lactate anion C3H5O3⁻ 89.07 g/mol (analysers report lactate);
/// ammonium NH4⁺ 18.04 g/mol; manganese 54.938 g/mol.
const TABLE: &[SpeciesInfo] = &[
    SpeciesInfo {
        species: Species::ViableCells,
        key: "xv",
        basis: Basis::Cells,
    },
    SpeciesInfo {
        species: Species::DeadCells,
        key: "xd",
        basis: Basis::Cells,
    },
    SpeciesInfo {
        species: Species::Viability,
        key: "viability",
        basis: Basis::Fraction,
    },
    SpeciesInfo {
        species: Species::Glucose,
        key: "glucose",
        basis: Basis::Molar {
            mw_kg_per_mol: 0.180_156,
        },
    },
    SpeciesInfo {
        species: Species::Glutamine,
        key: "glutamine",
        basis: Basis::Molar {
            mw_kg_per_mol: 0.146_146,
        },
    },
    SpeciesInfo {
        species: Species::Lactate,
        key: "lactate",
        basis: Basis::Molar {
            mw_kg_per_mol: 0.089_07,
        },
    },
    SpeciesInfo {
        species: Species::Ammonium,
        key: "ammonium",
        basis: Basis::Molar {
            mw_kg_per_mol: 0.018_04,
        },
    },
    SpeciesInfo {
        species: Species::Product,
        key: "titer",
        basis: Basis::Mass,
    },
    SpeciesInfo {
        species: Species::Galactose,
        key: "galactose",
        basis: Basis::Molar {
            mw_kg_per_mol: 0.180_156,
        },
    },
    SpeciesInfo {
        species: Species::Manganese,
        key: "manganese",
        basis: Basis::Molar {
            mw_kg_per_mol: 0.054_938,
        },
    },
    SpeciesInfo {
        species: Species::Osmolality,
        key: "osmolality",
        basis: Basis::Osmolal,
    },
];

fn suffixes(basis: Basis) -> &'static [(&'static str, f64)] {
    match basis {
        Basis::Cells => &[
            ("1e6_cells_per_ml", 1e12),
            ("cells_per_ml", 1e6),
            ("cells_per_l", 1e3),
        ],
        Basis::Molar { .. } => &[
            ("mm", 1.0),
            ("um", 1e-3),
            ("g_per_l", f64::NAN),
            ("mg_per_l", f64::NAN),
        ],
        Basis::Mass => &[("g_per_l", 1.0), ("mg_per_l", 1e-3)],
        Basis::Osmolal => &[("mosm_per_kg", 1e-3)],
        Basis::Fraction => &[("pct", 0.01)],
    }
}

impl Species {
    /// The key stem used in files, e.g. `glucose`.
    pub fn key(self) -> &'static str {
        info(self).key
    }
    /// SI unit of the species' basis, for messages.
    pub fn si_unit(self) -> &'static str {
        match info(self).basis {
            Basis::Cells => "cells/m³",
            Basis::Molar { .. } => "mol/m³",
            Basis::Mass => "kg/m³",
            Basis::Osmolal => "mol/kg",
            Basis::Fraction => "fraction",
        }
    }
    /// Molar mass in kg/mol, for molar species.
    pub fn molar_mass(self) -> Option<f64> {
        match info(self).basis {
            Basis::Molar { mw_kg_per_mol } => Some(mw_kg_per_mol),
            _ => None,
        }
    }
}

impl fmt::Display for Species {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

fn info(s: Species) -> &'static SpeciesInfo {
    // The table covers every variant; the fallback is unreachable by construction.
    TABLE.iter().find(|i| i.species == s).unwrap_or(&TABLE[0])
}

/// Every accepted key, for messages (`glucose_g_per_l | glucose_mm | ...`).
pub fn accepted_keys(species: Species) -> String {
    let i = info(species);
    suffixes(i.basis)
        .iter()
        .map(|(s, _)| format!("{}_{}", i.key, s))
        .collect::<Vec<_>>()
        .join(" | ")
}

/// Parses `glucose_g_per_l` into the species and the factor converting the
/// value to SI.
pub fn parse_key(key: &str) -> Result<(Species, f64), Reason> {
    let Some(info) = TABLE
        .iter()
        .filter(|i| key.starts_with(i.key) && key[i.key.len()..].starts_with('_'))
        .max_by_key(|i| i.key.len())
    else {
        let known: Vec<_> = TABLE.iter().map(|i| i.key).collect();
        return Err(Reason::from(format!(
            "a species key <species>_<unit> with species one of {}",
            known.join(", ")
        )));
    };
    let suffix = &key[info.key.len() + 1..];
    for &(s, factor) in suffixes(info.basis) {
        if s == suffix {
            let factor = match (info.basis, s) {
                (Basis::Molar { mw_kg_per_mol }, "g_per_l") => 1.0 / mw_kg_per_mol,
                (Basis::Molar { mw_kg_per_mol }, "mg_per_l") => 1e-3 / mw_kg_per_mol,
                _ => factor,
            };
            return Ok((info.species, factor));
        }
    }
    Err(Reason::from(format!(
        "one of {}",
        accepted_keys(info.species)
    )))
}

/// Concentrations of a medium or an initial condition, in SI.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Composition(pub Vec<(Species, f64)>);

impl Composition {
    /// The value of species `s`, if set.
    pub fn get(&self, s: Species) -> Option<f64> {
        self.0.iter().find(|(k, _)| *k == s).map(|(_, v)| *v)
    }
    /// The value of species `s`, or 0 when not set.
    pub fn get_or_zero(&self, s: Species) -> f64 {
        self.get(s).unwrap_or(0.0)
    }
    /// Sets species `s` to `v` (SI), adding it if absent.
    pub fn set(&mut self, s: Species, v: f64) {
        match self.0.iter_mut().find(|(k, _)| *k == s) {
            Some(e) => e.1 = v,
            None => self.0.push((s, v)),
        }
    }
    /// Mutable access to species `s`, if set.
    pub fn get_mut(&mut self, s: Species) -> Option<&mut f64> {
        self.0.iter_mut().find(|(k, _)| *k == s).map(|(_, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_keys_and_converts() {
        let (s, f) = parse_key("glucose_g_per_l").unwrap();
        assert_eq!(s, Species::Glucose);
        assert!((6.0 * f - 6.0 / 0.180_156).abs() < 1e-12);
        let (s, f) = parse_key("xv_1e6_cells_per_ml").unwrap();
        assert_eq!((s, f), (Species::ViableCells, 1e12));
        assert_eq!(parse_key("titer_g_per_l").unwrap(), (Species::Product, 1.0));
    }

    #[test]
    fn wrong_unit_names_the_accepted_ones() {
        let e = parse_key("glucose_furlongs").unwrap_err();
        assert!(e.contains("glucose_g_per_l"), "{e}");
        let e = parse_key("unobtainium_mm").unwrap_err();
        assert!(e.contains("species one of"), "{e}");
    }
}
