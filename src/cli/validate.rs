//! `biotwin validate`: checks files and reports every problem at once.

use std::path::{Path, PathBuf};

use crate::definition::kinetic::KineticModel;
use crate::definition::recipe::Recipe;
use crate::definition::source::SourceFile;
use crate::definition::specs::Specifications;
use crate::equipment::Equipment;
use crate::error::{Diagnostics, Error};
use crate::montecarlo;
use crate::simulation::{Family, Scenario, load_process};

#[derive(clap::Args, Debug)]
#[command(
    about = "Validate process, model, recipe, equipment or specification files",
    after_help = "Examples:\n  biotwin validate process-models/processes/cho-platform-3l.toml\n  biotwin validate process-models/equipment/*.toml\n  biotwin validate --registry models my-process.toml   (its model = \"registry:NAME\")\n\nEvery problem is listed with file, line, field, what was expected and what was found.\nExit code 2 if any file has a problem."
)]
pub struct Args {
    /// Files to check; the kind is recognised from the file's top-level tables.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// The model registry in which a process file's `model = "registry:NAME"`
    /// is looked up (its promoted version; the registry is verified).
    #[arg(long, default_value = "models")]
    pub registry: PathBuf,
}

/// What kind of biotwin file this is, from its top-level keys.
pub fn kind_of(path: &Path) -> Result<&'static str, Diagnostics> {
    let src = SourceFile::read(path)?;
    let table: toml::Table = match src.text.parse() {
        Ok(t) => t,
        Err(_) => return Err(src.parse::<toml::Table>().err().unwrap_or_default()),
    };
    let kind = if table.contains_key("process") {
        "process"
    } else if table.contains_key("model") {
        "kinetic model"
    } else if table.contains_key("recipe") {
        "recipe"
    } else if table.contains_key("specifications") {
        "specifications"
    } else if table.contains_key("site") && table.contains_key("store") {
        "live site"
    } else if table.contains_key("vessel") {
        "equipment"
    } else if table.contains_key("lot") {
        "raw-material lot"
    } else if table.contains_key("column") {
        "column"
    } else if table.contains_key("protein_a") || table.contains_key("harvest") {
        "downstream train"
    } else {
        return Err(src
            .diag("", "a biotwin file with a [process], [model], [recipe], [specifications], [vessel], [column], [harvest] or [lot] table", "none of them")
            .into());
    };
    Ok(kind)
}

/// Validates one file of any kind; a process file naming a registered model
/// (`model = "registry:NAME"`) is checked with that model from `registry`.
pub fn validate_file(path: &Path, registry: &Path) -> Result<&'static str, Diagnostics> {
    let kind = kind_of(path)?;
    match kind {
        "process" => {
            let def = if crate::definition::process::registry_model_of(path).is_some() {
                super::load_process_in(path, registry).map_err(into_diagnostics)?
            } else {
                load_process(path)?
            };
            let mut s = Scenario::from_definition(&def)?;
            montecarlo::uncertain_inputs(&def, &mut s)?;
        }
        "kinetic model" => {
            KineticModel::load(
                path,
                |f| Family::parse(f).map(|f| f.params()),
                &Family::names(),
            )?;
        }
        "recipe" => {
            Recipe::load(path)?;
        }
        "specifications" => {
            Specifications::load(path, None)?;
        }
        "column" => {
            crate::downstream::column::load(path).map_err(into_diagnostics)?;
        }
        "raw-material lot" => {
            crate::transfer::lots::Lots::load(path)?;
        }
        "live site" => {
            crate::live::config::SiteConfig::read(path)?;
        }
        "downstream train" => {
            crate::downstream::train::load_train(path).map_err(into_diagnostics)?;
        }
        _ => {
            Equipment::load(path)?;
        }
    }
    Ok(kind)
}

fn into_diagnostics(e: impl Into<super::CliError>) -> Diagnostics {
    use super::CliError;
    use crate::{downstream, transfer};
    let e = e.into();
    if let Some(d) = match &e {
        CliError::Ml(m) => m.diagnostics(),
        _ => None,
    } {
        return d.clone();
    }
    match e {
        CliError::Core(Error::Input(d))
        | CliError::Downstream(downstream::error::Error::Core(Error::Input(d)))
        | CliError::Transfer(transfer::Error::Core(Error::Input(d))) => d,
        CliError::Live(e) if e.diagnostics().is_some() => {
            e.diagnostics().cloned().unwrap_or_default()
        }
        other => crate::error::Diagnostic::new("", "", "a readable file", other.to_string()).into(),
    }
}

pub fn run(a: Args) -> Result<(), Error> {
    let mut all = Diagnostics::new();
    for f in &a.files {
        match validate_file(f, &a.registry) {
            Ok(kind) => outln!("{}: valid {kind} file", f.display()),
            Err(d) => all.extend(d),
        }
    }
    if all.is_empty() {
        Ok(())
    } else {
        Err(Error::Input(all))
    }
}
