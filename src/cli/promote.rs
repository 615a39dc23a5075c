//! `biotwin promote`: make a registered model the serving model of its name,
//! with a recorded who, when, why and the model it replaces.

use std::path::PathBuf;

use super::CliError;
use crate::error::Error;
use crate::live::Store;
use crate::live::sqlite_store::SqliteStore;
use crate::live::users::{Accounts, Meaning, Permission, Signature};
use crate::registry::{Registry, current_user};

#[derive(clap::Args, Debug)]
#[command(
    about = "Promote a registered model to serving (recorded: who, when, why, previous model)",
    after_help = "Examples:\n  biotwin promote cho-titer-v2 --registry models --reason \"lower held-out RMSE than v1 on B21-B24\" --sign-as eng.raj --accounts live.sqlite\n  biotwin promote cho-titer-v2 --registry models --reason \"...\" --user jdoe   (unsigned, development only)\n\nOnly promoted models serve predictions. The model must load intact (file hash and\ncontent hash as registered) and the registry log's hash chain must verify.\n\nWith --sign-as the promotion is electronically signed (21 CFR Part 11): the\nsigner, a QA reviewer or process engineer with an account in the live store\ngiven by --accounts, re-enters their password (at a prompt that does not echo,\nor as one line on stdin; never on the command line), and the signature\n(full name, user id, role, UTC time, --meaning, --reason) is recorded in the\npromotion's registry log entry and in the store's audit trail (model.promoted)."
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
    /// Sign the promotion as this user (see biotwin users); needs --accounts.
    #[arg(long, requires = "accounts", conflicts_with = "user")]
    pub sign_as: Option<String>,
    /// The live store that holds the signer's account.
    #[arg(long, requires = "sign_as")]
    pub accounts: Option<PathBuf>,
    /// What the signature means: reviewed or approved.
    #[arg(long, default_value = "approved", requires = "sign_as")]
    pub meaning: String,
}

/// Re-authenticates the signer against the store's accounts and makes the
/// signature (nothing is promoted if this fails).
fn sign(
    user_id: &str,
    store: &std::path::Path,
    meaning: &str,
    reason: &str,
) -> Result<(SqliteStore, Signature), CliError> {
    let meaning = Meaning::parse(meaning).ok_or_else(|| {
        Error::input(
            "<command line>",
            "--meaning",
            "reviewed or approved",
            format!("`{meaning}`"),
        )
    })?;
    crate::live::users::check_reason(reason)
        .map_err(|e| Error::input("<command line>", "--reason", e.to_string(), "-"))?;
    if !store.is_file() {
        return Err(Error::input(
            "<command line>",
            "--accounts",
            "an existing live store holding user accounts",
            format!("`{}` (no such file)", store.display()),
        )
        .into());
    }
    let s = SqliteStore::open(store)?;
    let user = s
        .users(None)?
        .into_iter()
        .find(|u| u.user_id == user_id)
        .ok_or_else(|| {
            Error::input(
                "<command line>",
                "--sign-as",
                format!("a user of {} (biotwin users list)", store.display()),
                format!("`{user_id}`"),
            )
        })?;
    if !user.role.may(Permission::SignPromotion) {
        return Err(Error::input(
            "<command line>",
            "--sign-as",
            "a QA reviewer or process engineer (roles that sign promotions)",
            format!("`{user_id}`, a {}", user.role.label()),
        )
        .into());
    }
    let pw = super::users::read_password(&format!("Password of {user_id} (signing): "), false)?;
    let now = crate::live::users::now_unix_s();
    let signer = s
        .check_password(user_id, &pw, "signature", now)?
        .map_err(|r| crate::live::Error::Account {
            diagnostics: crate::error::Diagnostic::new(
                "<password>",
                "--sign-as",
                format!("the password of {user_id}"),
                format!("signature refused: {r}"),
            )
            .into(),
            refusal: Some(r),
        })?;
    Ok((
        s,
        crate::live::users::signature_of(&signer, meaning, reason, now),
    ))
}

pub fn run(a: Args) -> Result<(), CliError> {
    let user = match &a.sign_as {
        Some(u) => u.clone(),
        None => current_user(a.user.as_deref())?,
    };
    let reg = Registry::new(&a.registry);
    if !reg.log_path().is_file() {
        return Err(CliError::from(Error::input(
            "<command line>",
            "--registry",
            "a model registry (a folder with registry.jsonl)",
            format!("{}: no registry log", a.registry.display()),
        )));
    }
    let signing = match (&a.sign_as, &a.accounts) {
        (Some(u), Some(store)) => Some(sign(u, store, &a.meaning, &a.reason)?),
        _ => {
            eprintln!(
                "note: an unsigned promotion (no --sign-as): fine for development, not for GMP use (docs/part11.md)"
            );
            None
        }
    };
    let user = signing
        .as_ref()
        .map_or(user, |(_, sig)| sig.user_id.clone());
    let e = reg.promote_signed(
        &a.model,
        &a.reason,
        &user,
        signing.as_ref().map(|(_, sig)| sig.clone()),
    )?;
    if let Some((store, sig)) = &signing {
        let dir = std::fs::canonicalize(&a.registry).unwrap_or(a.registry.clone());
        let entry = store.append_audit(
            &sig.user_id,
            Some(&sig.tenant),
            "model.promoted",
            serde_json::json!({
                "model": a.model,
                "registry": dir.display().to_string(),
                "record": { "kind": "registry_promotion", "log_seq": e.seq, "sha256": e.sha256 },
                "signature": sig,
            }),
        )?;
        outln!(
            "signed: {} by {} ({}) at {}; store audit entry {}",
            sig.meaning.as_str(),
            sig.full_name,
            sig.user_id,
            sig.signed_at,
            entry.seq
        );
    }
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
