//! `biotwin models`: what ships in a process-models tree.

use std::path::{Path, PathBuf};

use super::CliError;
use crate::definition::process::list_ids;
use crate::error::Error;

#[derive(clap::Args, Debug)]
#[command(
    about = "List the shipped kinetic models, recipes, processes, equipment, specifications, downstream files and raw-material lots, or a model registry",
    after_help = "Examples:\n  biotwin models --dir process-models\n  biotwin models --registry models\n\nWith --registry: the registered models (id, version, kind, targets, training-data\nhash, metrics, created at/by), which one serves, the promotions, and whether the\naudit trail's hash chain and the artifact files verify."
)]
pub struct Args {
    /// The process-models folder to list.
    #[arg(long, default_value = "process-models")]
    pub dir: PathBuf,
    /// List the models of this registry instead.
    #[arg(long)]
    pub registry: Option<PathBuf>,
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
        if let Some(s) = v.and_then(|x| x.as_str())
            && !s.is_empty()
        {
            return s.to_string();
        }
    }
    String::new()
}

pub fn run(a: Args) -> Result<(), CliError> {
    if let Some(dir) = &a.registry {
        return list_registry(dir);
    }
    if !a.dir.is_dir() {
        return Err(CliError::from(Error::input(
            &a.dir,
            "--dir",
            "a process-models folder",
            "no such folder",
        )));
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

/// `biotwin models --registry DIR`: the registry listing.
fn list_registry(dir: &Path) -> Result<(), CliError> {
    use crate::registry::{Registry, verify};
    let reg = Registry::new(dir);
    if !reg.log_path().is_file() {
        return Err(CliError::from(Error::input(
            dir,
            "--registry",
            "a model registry (a folder with registry.jsonl)",
            "no registry log",
        )));
    }
    let st = reg.state()?;
    outln!("registered models ({}):", dir.display());
    outln!(
        "  {:<28} {:>3} {:<4} {:<30} {:<14} {:<22} {:<12} serving",
        "id",
        "ver",
        "kind",
        "targets",
        "data hash",
        "created at",
        "by"
    );
    for m in &st.models {
        let serving = st.serving.get(&m.name) == Some(&m.id);
        outln!(
            "  {:<28} {:>3} {:<4} {:<30} {:<14} {:<22} {:<12} {}",
            m.id,
            m.version,
            m.kind,
            m.targets.join(","),
            m.training_data_hash
                .as_deref()
                .map(|h| &h[..h.len().min(12)])
                .unwrap_or("-"),
            crate::data::timestamp::format_rfc3339(m.created_at_unix_s as f64),
            m.created_by,
            if serving { "SERVING" } else { "" }
        );
        let metrics: Vec<String> = m
            .metrics
            .iter()
            .filter(|(k, _)| !k.starts_with("train/"))
            .map(|(k, v)| format!("{k}: RMSE {}", crate::output::format_sig(v.rmse)))
            .collect();
        if !metrics.is_empty() {
            outln!("      {}", metrics.join("; "));
        }
    }
    if !st.promotions.is_empty() {
        outln!("");
        outln!("promotions:");
        for (e, p) in &st.promotions {
            outln!(
                "  {} {} promoted {} (previous: {}): {}",
                e.at,
                e.user,
                p.model,
                p.previous.as_deref().unwrap_or("none"),
                p.reason
            );
        }
    }
    outln!("");
    match verify(dir) {
        Ok(v) => outln!(
            "audit trail verified: {} entries, {} artifacts, head {}",
            v.entries,
            v.artifacts,
            &v.head[..12]
        ),
        Err(e) => {
            outln!("AUDIT TRAIL DOES NOT VERIFY");
            return Err(e.into());
        }
    }
    Ok(())
}
