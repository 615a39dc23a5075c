//! `biotwin promote`: make a registered model the serving model of its name,
//! with a recorded who, when, why and the model it replaces.

use std::path::PathBuf;

use crate::error::Error;
use crate::registry::{Registry, current_user};

#[derive(clap::Args, Debug)]
#[command(
    about = "Promote a registered model to serving (recorded: who, when, why, previous model)",
    after_help = "Example:\n  biotwin promote cho-titer-v2 --registry models --reason \"lower held-out RMSE than v1 on B21-B24\" --user jdoe\n\nOnly promoted models serve predictions. The model must load intact (file hash and\ncontent hash as registered) and the registry log's hash chain must verify."
)]
pub struct Args {
    /// Registered model id (see biotwin models --registry DIR).
    pub model: String,
    /// Why this model is promoted (recorded in the audit trail).
    #[arg(long)]
    pub reason: String,
    /// Who promotes (default $USER).
    #[arg(long)]
    pub user: Option<String>,
    /// The registry directory.
    #[arg(long, default_value = "models")]
    pub registry: PathBuf,
}

pub fn run(a: Args) -> Result<(), Error> {
    let user = current_user(a.user.as_deref())?;
    let reg = Registry::new(&a.registry);
    if !reg.log_path().is_file() {
        return Err(Error::input(
            "<command line>",
            "--registry",
            "a model registry (a folder with registry.jsonl)",
            format!("{}: no registry log", a.registry.display()),
        ));
    }
    let e = reg.promote(&a.model, &a.reason, &user)?;
    let p = e.promotion.as_ref();
    outln!(
        "{} now serves `{}` (promoted by {} at {}; previous: {}; reason: {})",
        a.model,
        p.map(|p| p.name.as_str()).unwrap_or(""),
        e.user,
        e.at,
        p.and_then(|p| p.previous.as_deref()).unwrap_or("none"),
        a.reason
    );
    outln!("log entry {} sha256 {}", e.seq, e.sha256);
    Ok(())
}
