//! Raw-material lots: a different supplier's lot distribution, declared in a
//! file of `[[uncertainty]]` entries on `media.*` addresses, replacing the
//! process file's entries for the same addresses (and adding the others).
//!
//! ```toml
//! [lot]
//! id = "feed-a-supplier-b"
//! supplier = "Supplier B"
//! description = "..."
//!
//! [[uncertainty]]
//! parameter = "media.feed_a.glucose_g_per_l"
//! distribution = "normal"
//! mean = 112.0
//! sd = 8.0
//! ```
//!
//! The comparison runs the target's Monte Carlo twice with the same seed,
//! once with the current declared uncertainty and once with the lots', so
//! the two differ only by the lot distributions (common random numbers).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use biotwin_core::definition::process::file_sha256;
use biotwin_core::definition::source::SourceFile;
use biotwin_core::definition::uncertainty::UncertaintyFile;
use biotwin_core::error::Diagnostics;
use biotwin_core::montecarlo::InputSet;
use biotwin_core::simulation::Scenario;

#[derive(Debug, Deserialize)]
struct LotFile {
    lot: LotHeader,
    #[serde(default)]
    uncertainty: Vec<UncertaintyFile>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
struct LotHeader {
    id: String,
    #[serde(default)]
    supplier: String,
    #[serde(default)]
    description: String,
}

/// A validated lot file.
#[derive(Debug, Clone)]
pub struct Lots {
    /// Lot id (`[lot] id`).
    pub id: String,
    /// Supplier name (`[lot] supplier`; empty when not given).
    pub supplier: String,
    /// Free-text description (`[lot] description`; empty when not given).
    pub description: String,
    /// The lot file read.
    pub path: PathBuf,
    /// sha256 of the lot file's bytes (recorded in `transfer.json`).
    pub sha256: String,
    /// The file's `[[uncertainty]]` entries (at least one), each with valid
    /// distribution numbers on a `media.*` address.
    pub entries: Vec<UncertaintyFile>,
}

impl Lots {
    /// Reads a lot file; every entry must address a medium (`media.`).
    pub fn load(path: &Path) -> Result<Lots, Diagnostics> {
        let src = SourceFile::read(path)?;
        let file: LotFile = src.parse()?;
        let mut d = Diagnostics::new();
        if file.uncertainty.is_empty() {
            d.push(src.diag(
                "uncertainty",
                "at least one [[uncertainty]] entry on a media.<medium>.<species>_<unit> address",
                "none",
            ));
        }
        for (i, u) in file.uncertainty.iter().enumerate() {
            if let Err((key, expected, found)) = u.check_numbers() {
                d.push(src.diag(&format!("uncertainty[{i}].{key}"), expected, found));
            }
            if !u.parameter.starts_with("media.") {
                d.push(src.diag(
                    &format!("uncertainty[{i}].parameter"),
                    "a raw-material address media.<medium>.<species>_<unit>",
                    format!("`{}`", u.parameter),
                ));
            }
        }
        d.into_result(Lots {
            id: file.lot.id,
            supplier: file.lot.supplier,
            description: file.lot.description,
            path: path.to_path_buf(),
            sha256: file_sha256(path),
            entries: file.uncertainty,
        })
    }

    /// The inputs with the lots' distributions: `current` with every
    /// address the lot file names replaced, then the lot file's others.
    pub fn alternative_inputs(
        &self,
        scenario: &mut Scenario,
        file_factor: &[f64],
        current: &InputSet,
    ) -> Result<InputSet, Diagnostics> {
        let mut d = Diagnostics::new();
        let mut lot_inputs = Vec::new();
        for (i, u) in self.entries.iter().enumerate() {
            let field = format!("uncertainty[{i}]");
            let diag = |f: String, e: String, found: String| {
                biotwin_core::error::Diagnostic::new(&self.path, f, e, found)
            };
            // The nominal is the process's value, not a previous draw.
            let nominal = scenario
                .address(&u.parameter, file_factor)
                .ok()
                .and_then(|a| current.iter().find(|c| c.address == a).map(|c| c.nominal));
            match biotwin_core::montecarlo::resolve_input(scenario, file_factor, u, nominal) {
                Ok(input) => lot_inputs.push(input),
                Err((key, expected, found)) => {
                    d.push(diag(format!("{field}{key}"), expected, found))
                }
            }
        }
        let out = current.with_replaced(lot_inputs);
        d.into_result(out)
    }
}

/// Current versus alternative lots on the target, for the package.
#[derive(Debug, Clone, Serialize)]
pub struct LotComparison {
    /// Lot id.
    pub id: String,
    /// Supplier name.
    pub supplier: String,
    /// Free-text description.
    pub description: String,
    /// The lot file, as given.
    pub file: String,
    /// sha256 of the lot file's bytes.
    pub sha256: String,
    /// Addresses whose distribution the lot file sets.
    pub addresses: Vec<String>,
    /// Target Monte Carlo with the process file's declared uncertainty.
    pub current: super::study::ArmStudy,
    /// Target Monte Carlo with the lot file's distributions (same seed).
    pub alternative: super::study::ArmStudy,
}
