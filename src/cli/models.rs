//! `biotwin models`: what ships in a process-models tree.

use std::path::{Path, PathBuf};

use crate::definition::process::list_ids;
use crate::error::Error;

#[derive(clap::Args, Debug)]
#[command(
    about = "List the shipped kinetic models, recipes, processes, equipment, specifications, downstream files and raw-material lots",
    after_help = "Example:\n  biotwin models --dir process-models"
)]
pub struct Args {
    /// The process-models folder to list.
    #[arg(long, default_value = "process-models")]
    pub dir: PathBuf,
}

fn describe(path: &Path, keys: &[&str]) -> String {
    let Ok(text) = std::fs::read_to_string(path) else {
        return "(unreadable)".into();
    };
    let Ok(t) = text.parse::<toml::Table>() else {
        return "(not valid TOML: run biotwin validate)".into();
    };
    for k in keys {
        let mut v: Option<&toml::Value> = None;
        for (i, part) in k.split('.').enumerate() {
            v = if i == 0 {
                t.get(part)
            } else {
                v.and_then(|x| x.get(part))
            };
        }
        if let Some(s) = v.and_then(|x| x.as_str()) {
            if !s.is_empty() {
                return s.to_string();
            }
        }
    }
    String::new()
}

pub fn run(a: Args) -> Result<(), Error> {
    if !a.dir.is_dir() {
        return Err(Error::input(
            &a.dir,
            "--dir",
            "a process-models folder",
            "no such folder",
        ));
    }
    let sections: [(&str, &str, &[&str]); 7] = [
        (
            "kinetic models",
            "models",
            &["model.description", "model.family"],
        ),
        ("recipes", "recipes", &["recipe.description"]),
        ("processes", "processes", &["process.name"]),
        ("equipment", "equipment", &["name"]),
        ("specifications", "specs", &["specifications.description"]),
        (
            "downstream trains and columns",
            "downstream",
            &["name", "column.name", "description"],
        ),
        ("raw-material lots", "lots", &["lot.description"]),
    ];
    for (title, sub, keys) in sections {
        let dir = a.dir.join(sub);
        let ids = list_ids(&dir);
        if ids.is_empty() {
            continue;
        }
        outln!("{title} ({}):", dir.display());
        for id in ids {
            outln!(
                "  {:<28} {}",
                id,
                describe(&dir.join(format!("{id}.toml")), keys)
            );
        }
        outln!("");
    }
    Ok(())
}
