//! People: user accounts within each tenant, their roles, sessions, API
//! tokens and electronic signatures (21 CFR Part 11, EU GMP Annex 11).
//!
//! * A user belongs to one tenant and has one [`Role`]; what a role may do
//!   is [`Role::may`], the one place the permission matrix is written.
//! * Passwords are stored only as Argon2id PHC strings (the `argon2` crate,
//!   a random salt each); sign-in gives a session token that expires
//!   [`SESSION_IDLE_S`] after its last use and [`SESSION_MAX_S`] after sign-in.
//! * [`MAX_FAILURES`] wrong passwords in a row (at sign-in or when signing)
//!   lock the account for [`LOCKOUT_S`]; a new password (`biotwin users
//!   passwd`) unlocks it.
//! * Machine clients use per-user API tokens, revocable one by one; the
//!   store keeps only the SHA-256 of a session or API token, never the token.
//! * An electronic signature is made only after the signer re-enters their
//!   password, and is recorded as a [`Signature`] (printed name, user id,
//!   role, UTC time, meaning, reason) in the hash-chained audit trail with
//!   a link to the signed record.
//!
//! The accounts live in the site's store: SQLite ([`sqlite`], tables
//! created on first open of an older store, migrated forward) or
//! PostgreSQL ([`pg`], migration 3, applied by `biotwin store migrate`).

pub mod pg;
pub mod sqlite;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use biotwin_ml::registry::{Meaning, Signature};

use crate::error::AccountCheck;

/// Consecutive wrong passwords that lock an account.
pub const MAX_FAILURES: u32 = 5;
/// How long a locked account stays locked, s.
pub const LOCKOUT_S: f64 = 15.0 * 60.0;
/// A session ends this long after its last use, s.
pub const SESSION_IDLE_S: f64 = 30.0 * 60.0;
/// ... and at the latest this long after sign-in, s.
pub const SESSION_MAX_S: f64 = 12.0 * 3600.0;
/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 10;

/// What a person does in the QA workflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Follows the sponsor's batches; changes nothing.
    SponsorViewer,
    /// Reviews alerts and signs them; reads the audit trail.
    QaReviewer,
    /// Responds to alerts and signs them; signs model promotions.
    ProcessEngineer,
    /// Reads the audit trail (accounts are managed with `biotwin users`);
    /// signs nothing, so that administering accounts and approving records
    /// stay separate duties.
    Administrator,
}

/// Everything the page, the API and the CLI check a role for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Batches, forecasts, readings, plots and alerts of the own tenant.
    ViewBatches,
    /// Acknowledge an alert with an electronic signature.
    SignAlert,
    /// Promote a model with an electronic signature.
    SignPromotion,
    /// Read the tenant's audit trail.
    ViewAudit,
}

impl Role {
    /// Every role, in the order the permission matrix lists them.
    pub const ALL: [Role; 4] = [
        Role::SponsorViewer,
        Role::QaReviewer,
        Role::ProcessEngineer,
        Role::Administrator,
    ];

    /// The permission matrix (docs/part11.md prints it).
    pub fn may(self, p: Permission) -> bool {
        use Permission::*;
        use Role::*;
        match p {
            ViewBatches => true,
            SignAlert | SignPromotion => matches!(self, QaReviewer | ProcessEngineer),
            ViewAudit => matches!(self, QaReviewer | Administrator),
        }
    }

    /// Name as stored and given on the command line (`qa_reviewer`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::SponsorViewer => "sponsor_viewer",
            Role::QaReviewer => "qa_reviewer",
            Role::ProcessEngineer => "process_engineer",
            Role::Administrator => "administrator",
        }
    }

    /// For people: "QA reviewer".
    pub fn label(self) -> &'static str {
        match self {
            Role::SponsorViewer => "sponsor viewer",
            Role::QaReviewer => "QA reviewer",
            Role::ProcessEngineer => "process engineer",
            Role::Administrator => "administrator",
        }
    }

    /// The role named `text` (surrounding whitespace ignored); `None` for an
    /// unknown name.
    pub fn parse(text: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == text.trim())
    }
}

/// A user account as listed (never with its password hash).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// Account id, unique across the site (what the user signs in with).
    pub user_id: String,
    /// Tenant the user belongs to; the user sees only its batches.
    pub tenant: String,
    /// Full name, as printed on electronic signatures.
    pub full_name: String,
    /// Role, which fixes the permissions ([`Role::may`]).
    pub role: Role,
    /// A disabled account cannot sign in, and its tokens are not accepted.
    pub disabled: bool,
    /// Wrong passwords since the last right one.
    pub failed_attempts: u32,
    /// Locked until then (Unix s), if locked.
    pub locked_until_unix_s: Option<f64>,
    /// When the account was created, Unix s (UTC).
    pub created_unix_s: f64,
}

impl User {
    /// Whether the account is locked at `now_unix_s` (Unix s): a lock is set
    /// and has not yet expired.
    pub fn locked_at(&self, now_unix_s: f64) -> bool {
        self.locked_until_unix_s.is_some_and(|t| t > now_unix_s)
    }
}

/// How a request was authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    /// A session from signing in with user id and password.
    Session,
    /// A user's API token (machine client).
    ApiToken,
    /// The tenant's shared token of the site file: read-only viewing.
    SharedToken,
}

/// Who is asking: always a tenant; a user unless the shared token was used.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Principal {
    /// Tenant whose data the request may see.
    pub tenant: String,
    /// The signed-in user; `None` for the tenant's shared token.
    pub user: Option<User>,
    /// Role the permissions come from (a shared token: sponsor viewer).
    pub role: Role,
    /// How the request was authenticated.
    pub via: Via,
    /// When the session ends if unused (sessions only).
    pub expires_unix_s: Option<f64>,
}

impl Principal {
    /// Whether the principal's role grants `p`.
    pub fn may(&self, p: Permission) -> bool {
        self.role.may(p)
    }
}

/// Why a password was not accepted. The web answers all alike (nothing
/// tells whether an account exists); the audit trail records which.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// No account with this id.
    UnknownUser,
    /// The account is disabled.
    Disabled,
    /// The account is locked after [`MAX_FAILURES`] wrong passwords.
    Locked {
        /// End of the lock, Unix s (UTC).
        until_unix_s: f64,
    },
    /// Wrong password; the account locks when `left` reaches 0.
    WrongPassword {
        /// Wrong passwords still allowed before the lock.
        left: u32,
    },
}

impl Refusal {
    /// Short code of the refusal as the audit trail records it
    /// (`unknown_user`, `disabled`, `locked`, `wrong_password`).
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::UnknownUser => "unknown_user",
            Refusal::Disabled => "disabled",
            Refusal::Locked { .. } => "locked",
            Refusal::WrongPassword { .. } => "wrong_password",
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::UnknownUser => write!(f, "no such user"),
            Refusal::Disabled => write!(f, "the account is disabled"),
            Refusal::Locked { until_unix_s } => write!(
                f,
                "the account is locked after {MAX_FAILURES} wrong passwords until {}",
                biotwin_ml::data::timestamp::format_rfc3339(*until_unix_s)
            ),
            Refusal::WrongPassword { left } => write!(
                f,
                "wrong password ({left} more wrong and the account is locked for {} min)",
                LOCKOUT_S / 60.0
            ),
        }
    }
}

/// A new account.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Account id (checked on creation: see [`Accounts::add_user`]).
    pub user_id: String,
    /// Tenant the user belongs to (not empty).
    pub tenant: String,
    /// Full name, for signatures.
    pub full_name: String,
    /// Role of the account.
    pub role: Role,
}

/// A user's API token as listed (the token itself is shown once, at issue).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApiToken {
    /// Token id (public: listed and used to revoke; not the token).
    pub token_id: String,
    /// Account the token acts for.
    pub user_id: String,
    /// Free label given at issue (what the token is for).
    pub label: String,
    /// When the token was issued, Unix s (UTC).
    pub created_unix_s: f64,
    /// When it was revoked, Unix s (UTC); `None` while valid.
    pub revoked_unix_s: Option<f64>,
}

/// Account storage and checks. Every change is recorded in the audit trail
/// with `actor` (who made it).
pub trait Accounts: Send + Sync {
    /// Creates an account with `password` (Argon2id-hashed). Errors
    /// (`Error::Account`): an invalid user id or full name, an empty tenant, a
    /// password that fails the policy ([`check_new_password`]), an id taken.
    fn add_user(&self, new: &NewUser, password: &str, actor: &str) -> Result<User, crate::Error>;
    /// Disables or re-enables an account; errors when there is no such user.
    fn set_disabled(
        &self,
        user_id: &str,
        disabled: bool,
        actor: &str,
    ) -> Result<User, crate::Error>;
    /// Sets a new password, clearing failures and any lock.
    fn set_password(
        &self,
        user_id: &str,
        password: &str,
        actor: &str,
    ) -> Result<User, crate::Error>;
    /// Every user, or a tenant's, by tenant then id.
    fn users(&self, tenant: Option<&str>) -> Result<Vec<User>, crate::Error>;
    /// Checks a password (sign-in or re-authentication for a signature):
    /// counts a wrong one, locks at [`MAX_FAILURES`], records the outcome
    /// in the audit trail as `purpose` (`login`, `signature`).
    fn check_password(
        &self,
        user_id: &str,
        password: &str,
        purpose: &str,
        now_unix_s: f64,
    ) -> Result<Result<User, Refusal>, crate::Error>;
    /// Signs in: a new session token (returned once) and when it expires.
    fn login(
        &self,
        user_id: &str,
        password: &str,
        now_unix_s: f64,
    ) -> Result<Result<(String, Principal), Refusal>, crate::Error>;
    /// The principal of a session or API token, if it is valid now (a
    /// session's idle clock restarts).
    fn resolve(&self, token: &str, now_unix_s: f64) -> Result<Option<Principal>, crate::Error>;
    /// Ends a session; `false` if it was not one.
    fn logout(&self, token: &str) -> Result<bool, crate::Error>;
    /// A new API token for a user: (token id, the token, shown once).
    fn issue_token(
        &self,
        user_id: &str,
        label: &str,
        actor: &str,
    ) -> Result<(String, String), crate::Error>;
    /// Revokes an API token (revoking a revoked one changes nothing); errors
    /// when there is no such token.
    fn revoke_token(&self, token_id: &str, actor: &str) -> Result<ApiToken, crate::Error>;
    /// API tokens (never the tokens themselves), all or one user's.
    fn tokens(&self, user_id: Option<&str>) -> Result<Vec<ApiToken>, crate::Error>;
}

/// Argon2id PHC string of a password, with a fresh random salt.
pub fn hash_password(password: &str) -> Result<String, AccountCheck> {
    use argon2::password_hash::PasswordHasher;
    argon2::Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| AccountCheck::Hash(e.to_string()))
}

/// Whether `password` matches the PHC string (false for a malformed one).
pub fn verify_password(password: &str, phc: &str) -> bool {
    use argon2::password_hash::PasswordVerifier;
    match argon2::password_hash::phc::PasswordHash::new(phc) {
        Ok(h) => argon2::Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok(),
        Err(_) => false,
    }
}

/// A PHC string no password matches, verified against for an unknown user
/// so that sign-in takes the same time whether the account exists or not.
pub(crate) fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password("decoy password that is never stored").unwrap_or_default())
}

/// 32 random bytes from the operating system as 64 hex digits.
pub fn new_secret() -> Result<String, AccountCheck> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(AccountCheck::NoRandomness)?;
    Ok(hex::encode(b))
}

/// What the store keeps of a token.
pub fn token_sha256(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A password fit to set: at least [`MIN_PASSWORD_CHARS`] characters, not
/// the user id. The error is (expected, found), never the password itself.
pub fn check_new_password(user_id: &str, password: &str) -> Result<(), (String, String)> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_CHARS {
        return Err((
            format!("a password of at least {MIN_PASSWORD_CHARS} characters"),
            format!("{n} characters"),
        ));
    }
    if password.trim() == user_id.trim() {
        return Err((
            "a password other than the user id".into(),
            "the user id".into(),
        ));
    }
    Ok(())
}

/// A user id: 2 to 64 of letters, digits, `.`, `_`, `-`, `@`.
pub fn check_user_id(id: &str) -> Result<(), AccountCheck> {
    let n = id.chars().count();
    if (2..=64).contains(&n)
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c))
    {
        Ok(())
    } else {
        Err(AccountCheck::UserId {
            found: id.chars().take(80).collect(),
        })
    }
}

/// A full name as printed with a signature: 1 to 100 characters, no control
/// characters.
pub fn check_full_name(name: &str) -> Result<(), AccountCheck> {
    let n = name.trim().chars().count();
    if (1..=100).contains(&n) && !name.chars().any(char::is_control) {
        Ok(())
    } else {
        Err(AccountCheck::FullName { chars: n })
    }
}

/// The reason given with a signature: 1 to 500 characters, no control
/// characters other than newlines.
pub fn check_reason(reason: &str) -> Result<(), AccountCheck> {
    let n = reason.trim().chars().count();
    if (1..=500).contains(&n) && !reason.chars().any(|c| c.is_control() && c != '\n') {
        Ok(())
    } else {
        Err(AccountCheck::Reason { chars: n })
    }
}

/// The signature of `user` now, after they re-entered their password.
pub fn signature_of(user: &User, meaning: Meaning, reason: &str, now_unix_s: f64) -> Signature {
    let at = now_unix_s.floor().max(0.0);
    Signature {
        full_name: user.full_name.clone(),
        user_id: user.user_id.clone(),
        tenant: user.tenant.clone(),
        role: user.role.as_str().to_string(),
        meaning,
        reason: reason.trim().to_string(),
        signed_at_unix_s: at as u64,
        signed_at: biotwin_ml::data::timestamp::format_rfc3339(at),
    }
}

/// The current wall-clock time, Unix s (0 if the clock is before 1970).
pub fn now_unix_s() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_with_argon2id_and_a_fresh_salt() {
        let a = hash_password("correct horse battery").unwrap();
        let b = hash_password("correct horse battery").unwrap();
        assert!(a.starts_with("$argon2id$"), "{a}");
        assert_ne!(a, b, "a fresh salt each time");
        assert!(verify_password("correct horse battery", &a));
        assert!(!verify_password("correct horse batterx", &a));
        assert!(!verify_password("anything", "not a phc string"));
        assert!(!verify_password("decoy", decoy_hash()));
    }

    #[test]
    fn the_permission_matrix() {
        use Permission::*;
        let row = |r: Role| [ViewBatches, SignAlert, SignPromotion, ViewAudit].map(|p| r.may(p));
        assert_eq!(row(Role::SponsorViewer), [true, false, false, false]);
        assert_eq!(row(Role::QaReviewer), [true, true, true, true]);
        assert_eq!(row(Role::ProcessEngineer), [true, true, true, false]);
        assert_eq!(row(Role::Administrator), [true, false, false, true]);
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
    }

    #[test]
    fn input_checks_say_what_is_expected() {
        assert!(
            check_new_password("anna", "short")
                .unwrap_err()
                .0
                .contains("10")
        );
        assert!(check_new_password("anna.lee.qa", "anna.lee.qa").is_err());
        assert!(check_new_password("anna", "a long enough one").is_ok());
        assert!(check_user_id("qa.anna").is_ok());
        assert!(check_user_id("a b").is_err());
        assert!(check_full_name("Anna Lee").is_ok());
        assert!(check_full_name(" ").is_err());
        assert!(check_reason("trend confirmed").is_ok());
        assert!(check_reason("").is_err());
        assert_eq!(new_secret().unwrap().len(), 64);
        assert_ne!(new_secret().unwrap(), new_secret().unwrap());
    }
}
