//! `biotwin users`: user accounts of a live store (add, disable, enable,
//! passwd, list) and their API tokens (token, revoke, tokens).
//!
//! Passwords never come from the command line (argv is visible to every
//! user of the machine in `ps`): they are read from a prompt that does not
//! echo, or as one line from standard input when it is not a terminal.

use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};

use super::CliError;
use crate::error::Error;
use crate::live::sqlite_store::SqliteStore;
use crate::live::users::{Accounts, NewUser, Role, User};

#[derive(clap::Args, Debug)]
#[command(
    about = "User accounts of a live store: people with roles, passwords and API tokens",
    after_help = "Examples:\n  biotwin users add --store live.sqlite --tenant sponsor-a --user qa.anna --name \"Anna Lee\" --role qa_reviewer\n  printf '%s\\n' \"$NEW_PASSWORD\" | biotwin users add --store live.sqlite --tenant sponsor-a --user eng.raj --name \"Raj Patel\" --role process_engineer\n  biotwin users passwd --store live.sqlite qa.anna      (also unlocks a locked account)\n  biotwin users disable --store live.sqlite qa.anna\n  biotwin users list --store live.sqlite\n  biotwin users token --store live.sqlite lims.bot --label \"LIMS export job\"\n  biotwin users revoke --store live.sqlite tok-3f2a9c01b7de\n\nRoles: sponsor_viewer (views batches), qa_reviewer (views, signs alert\nacknowledgements and model promotions, reads the audit trail),\nprocess_engineer (views, signs), administrator (views, reads the audit trail).\n\nPasswords are never taken from the command line: they are asked for at a\nprompt that does not echo (twice, to confirm), or read as one line from\nstandard input when it is not a terminal (a pipe, as in the second example).\nAt least 10 characters. Five wrong passwords in a row lock an account for\n15 minutes. Every change is recorded in the store's audit trail with the\noperating-system user who made it.\n\n--store is a SQLite file or a PostgreSQL site database\n(postgres://user@host:port/db, password from PGPASSWORD, schema made by\n`biotwin store migrate`)."
)]
pub struct Args {
    #[command(subcommand)]
    pub command: UsersCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum UsersCommand {
    /// Add a user to a tenant (password from a prompt or stdin).
    Add {
        #[arg(long)]
        store: PathBuf,
        /// The tenant (sponsor) the user belongs to, as in the site file's [[tenants]].
        #[arg(long)]
        tenant: String,
        /// User id, unique across tenants (letters, digits, . _ - @).
        #[arg(long)]
        user: String,
        /// Full name, printed with every signature the user makes.
        #[arg(long)]
        name: String,
        /// sponsor_viewer, qa_reviewer, process_engineer or administrator.
        #[arg(long)]
        role: String,
    },
    /// Disable a user: no sign-in, sessions end, API tokens stop working.
    Disable {
        #[arg(long)]
        store: PathBuf,
        user: String,
    },
    /// Enable a disabled user again.
    Enable {
        #[arg(long)]
        store: PathBuf,
        user: String,
    },
    /// Set a user's password (from a prompt or stdin); unlocks the account
    /// and ends its sessions.
    Passwd {
        #[arg(long)]
        store: PathBuf,
        user: String,
    },
    /// List users (never their password hashes).
    List {
        #[arg(long)]
        store: PathBuf,
        /// Only this tenant's users.
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Issue an API token for a machine client acting as USER (printed once;
    /// the store keeps only its SHA-256).
    Token {
        #[arg(long)]
        store: PathBuf,
        user: String,
        /// Which client holds it (recorded).
        #[arg(long)]
        label: String,
    },
    /// Revoke an API token by its id (see `biotwin users tokens`).
    Revoke {
        #[arg(long)]
        store: PathBuf,
        token_id: String,
    },
    /// List API tokens (ids, labels, revoked or not; never the tokens).
    Tokens {
        #[arg(long)]
        store: PathBuf,
        user: Option<String>,
    },
}

/// Who runs the command, for the audit trail.
fn actor() -> String {
    let u = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_default();
    format!(
        "cli:{}",
        if u.trim().is_empty() {
            "unknown"
        } else {
            u.trim()
        }
    )
}

/// An existing store (only `add` may create a SQLite one): a SQLite file,
/// or a PostgreSQL site database (`postgres://user@host:port/db`, password
/// from `PGPASSWORD`; migrated with `biotwin store migrate`).
fn open(store: &Path, create: bool) -> Result<Box<dyn Accounts>, CliError> {
    if let Some(url) = store.to_str().filter(|s| crate::live::pg_store::is_url(s)) {
        let t = crate::live::pg_store::PgTarget::new(url, None);
        return Ok(Box::new(crate::live::pg_store::PgStore::open(&t)?));
    }
    if !store.is_file() && !create {
        return Err(Error::input(
            "<command line>",
            "--store",
            "an existing live store (made by `biotwin live` or `biotwin users add`)",
            format!("`{}` (no such file)", store.display()),
        )
        .into());
    }
    if !store.is_file() {
        eprintln!(
            "note: {} does not exist; creating a new store",
            store.display()
        );
    }
    Ok(Box::new(SqliteStore::open(store)?))
}

/// A password from a prompt without echo (asked twice when `confirm`), or
/// one line of standard input when it is not a terminal.
pub(crate) fn read_password(prompt: &str, confirm: bool) -> Result<String, CliError> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .map_err(|e| Error::io("<stdin>", e))?;
        let pw = line.trim_end_matches(['\n', '\r']).to_string();
        if pw.is_empty() {
            return Err(Error::input(
                "<stdin>",
                "password",
                "the password as one line on standard input (or run in a terminal for a prompt)",
                "nothing",
            )
            .into());
        }
        return Ok(pw);
    }
    let pw = rpassword::prompt_password(prompt).map_err(|e| Error::io("<terminal>", e))?;
    if confirm {
        let again =
            rpassword::prompt_password("Again: ").map_err(|e| Error::io("<terminal>", e))?;
        if again != pw {
            return Err(Error::input(
                "<terminal>",
                "password",
                "the same password twice",
                "two different ones",
            )
            .into());
        }
    }
    Ok(pw)
}

fn show(u: &User) -> String {
    let now = crate::live::users::now_unix_s();
    let state = if u.disabled {
        "disabled".to_string()
    } else if u.locked_at(now) {
        format!(
            "locked until {}",
            crate::data::timestamp::format_rfc3339(u.locked_until_unix_s.unwrap_or(now))
        )
    } else {
        "active".to_string()
    };
    format!(
        "{:<20} {:<14} {:<17} {:<28} {}",
        u.user_id,
        u.tenant,
        u.role.as_str(),
        u.full_name,
        state
    )
}

pub fn run(a: Args) -> Result<(), CliError> {
    match a.command {
        UsersCommand::Add {
            store,
            tenant,
            user,
            name,
            role,
        } => {
            let role = Role::parse(&role).ok_or_else(|| {
                Error::input(
                    "<command line>",
                    "--role",
                    "sponsor_viewer, qa_reviewer, process_engineer or administrator",
                    format!("`{role}`"),
                )
            })?;
            // Check the id and name before asking for a password.
            crate::live::users::check_user_id(&user).map_err(|e| {
                Error::input(
                    "<command line>",
                    "--user",
                    e.to_string(),
                    format!("`{user}`"),
                )
            })?;
            crate::live::users::check_full_name(&name).map_err(|e| {
                Error::input(
                    "<command line>",
                    "--name",
                    e.to_string(),
                    format!("`{name}`"),
                )
            })?;
            let pw = read_password(&format!("Password for {user}: "), true)?;
            crate::live::users::check_new_password(&user, &pw)
                .map_err(|(e, f)| Error::input("<password>", "password", e, f))?;
            let s = open(&store, true)?;
            let u = s.add_user(
                &NewUser {
                    user_id: user,
                    tenant,
                    full_name: name,
                    role,
                },
                &pw,
                &actor(),
            )?;
            outln!("added {}", show(&u));
        }
        UsersCommand::Disable { store, user } => {
            let u = open(&store, false)?.set_disabled(&user, true, &actor())?;
            outln!("disabled {}", show(&u));
        }
        UsersCommand::Enable { store, user } => {
            let u = open(&store, false)?.set_disabled(&user, false, &actor())?;
            outln!("enabled {}", show(&u));
        }
        UsersCommand::Passwd { store, user } => {
            let s = open(&store, false)?;
            s.users(None)?
                .iter()
                .find(|u| u.user_id == user)
                .ok_or_else(|| {
                    Error::input(
                        "<command line>",
                        "USER",
                        "an existing user id (biotwin users list)",
                        format!("`{user}`"),
                    )
                })?;
            let pw = read_password(&format!("New password for {user}: "), true)?;
            let u = s.set_password(&user, &pw, &actor())?;
            outln!("password set (sessions ended, unlocked): {}", show(&u));
        }
        UsersCommand::List {
            store,
            tenant,
            json,
        } => {
            let users = open(&store, false)?.users(tenant.as_deref())?;
            if json {
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&users).unwrap_or_default()
                );
            } else {
                outln!(
                    "{:<20} {:<14} {:<17} {:<28} state",
                    "user",
                    "tenant",
                    "role",
                    "full name"
                );
                for u in &users {
                    outln!("{}", show(u));
                }
                if users.is_empty() {
                    outln!("(no users; add one with biotwin users add)");
                }
            }
        }
        UsersCommand::Token { store, user, label } => {
            let (id, token) = open(&store, false)?.issue_token(&user, &label, &actor())?;
            eprintln!(
                "API token {id} for {user} ({label}); shown this once, the store keeps only its SHA-256:"
            );
            outln!("{token}");
        }
        UsersCommand::Revoke { store, token_id } => {
            let t = open(&store, false)?.revoke_token(&token_id, &actor())?;
            outln!("revoked {} ({} - {})", t.token_id, t.user_id, t.label);
        }
        UsersCommand::Tokens { store, user } => {
            let list = open(&store, false)?.tokens(user.as_deref())?;
            outln!("{:<18} {:<20} {:<9} label", "token id", "user", "state");
            for t in &list {
                outln!(
                    "{:<18} {:<20} {:<9} {}",
                    t.token_id,
                    t.user_id,
                    if t.revoked_unix_s.is_some() {
                        "revoked"
                    } else {
                        "active"
                    },
                    t.label
                );
            }
        }
    }
    Ok(())
}
