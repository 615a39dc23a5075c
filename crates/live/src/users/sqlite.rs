//! [`Accounts`] in the site's SQLite store.
//!
//! Tables (times Unix seconds, UTC):
//! * `users(user_id, tenant, full_name, role, password_phc, disabled,
//!   failed_attempts, locked_until_unix_s, created_unix_s)`: `password_phc`
//!   is the Argon2id PHC string, never the password;
//! * `sessions(token_sha256, user_id, created_unix_s, last_used_unix_s)`;
//! * `api_tokens(token_id, token_sha256, user_id, label, created_unix_s,
//!   revoked_unix_s)`.
//!
//! They are created with `CREATE TABLE IF NOT EXISTS` when a store is
//! opened, the store's migration mechanism: a store written before accounts
//! existed gains them (and a `store.migrated` audit entry) on its next open
//! and keeps everything it had. Each change to an account, each sign-in and
//! each refused password is one transaction with its audit entry.

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::json;

use super::{
    Accounts, ApiToken, LOCKOUT_S, MAX_FAILURES, NewUser, Principal, Refusal, Role, SESSION_IDLE_S,
    SESSION_MAX_S, User, Via, check_full_name, check_new_password, check_user_id, decoy_hash,
    hash_password, new_secret, token_sha256, verify_password,
};
use crate::Error;
use crate::ledger;
use crate::sqlite_store::{SqliteStore, audit_in, now_unix_s};

const TABLES: [&str; 3] = ["users", "sessions", "api_tokens"];

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS users (
    user_id TEXT PRIMARY KEY, tenant TEXT NOT NULL, full_name TEXT NOT NULL,
    role TEXT NOT NULL, password_phc TEXT NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0, failed_attempts INTEGER NOT NULL DEFAULT 0,
    locked_until_unix_s REAL, created_unix_s REAL NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    token_sha256 TEXT PRIMARY KEY, user_id TEXT NOT NULL,
    created_unix_s REAL NOT NULL, last_used_unix_s REAL NOT NULL);
CREATE TABLE IF NOT EXISTS api_tokens (
    token_id TEXT PRIMARY KEY, token_sha256 TEXT NOT NULL UNIQUE, user_id TEXT NOT NULL,
    label TEXT NOT NULL, created_unix_s REAL NOT NULL, revoked_unix_s REAL);
";

/// Creates the account tables where missing. `true` when an existing store
/// (one with batches or audit entries) gained them now: a migration to
/// record.
pub(crate) fn create_tables(c: &Connection) -> rusqlite::Result<bool> {
    let missing: i64 = c.query_row(
        "SELECT 3 - COUNT(*) FROM sqlite_master WHERE type = 'table'
         AND name IN ('users', 'sessions', 'api_tokens')",
        [],
        |r| r.get(0),
    )?;
    let had_content: i64 = c.query_row(
        "SELECT (SELECT COUNT(*) FROM batches) + (SELECT COUNT(*) FROM audit)",
        [],
        |r| r.get(0),
    )?;
    c.execute_batch(SCHEMA)?;
    Ok(missing > 0 && had_content > 0)
}

/// The audit entry of a store that gained the account tables.
pub(crate) fn record_migration(s: &SqliteStore) -> Result<(), Error> {
    eprintln!(
        "a store written before user accounts: tables {} added (audit entry store.migrated); add users with `biotwin users add`",
        TABLES.join(", ")
    );
    s.with_audit(|tx| {
        audit_in(
            tx,
            "biotwin-live",
            None,
            "store.migrated",
            json!({
                "added_tables": TABLES,
                "reason": "user accounts, sessions, API tokens and electronic signatures (issue 16)",
            }),
        )?;
        Ok(())
    })
}

const USER_COLS: &str = "user_id, tenant, full_name, role, disabled, failed_attempts, \
                         locked_until_unix_s, created_unix_s, password_phc";

fn user_row(r: &rusqlite::Row) -> rusqlite::Result<(User, String)> {
    let role: String = r.get(3)?;
    Ok((
        User {
            user_id: r.get(0)?,
            tenant: r.get(1)?,
            full_name: r.get(2)?,
            // An unknown role text (an edited row) gets no more than viewing.
            role: Role::parse(&role).unwrap_or(Role::SponsorViewer),
            disabled: r.get::<_, i64>(4)? != 0,
            failed_attempts: r.get::<_, i64>(5)?.max(0) as u32,
            locked_until_unix_s: r.get(6)?,
            created_unix_s: r.get(7)?,
        },
        r.get(8)?,
    ))
}

fn load_user(c: &Connection, user_id: &str) -> rusqlite::Result<Option<(User, String)>> {
    c.query_row(
        &format!("SELECT {USER_COLS} FROM users WHERE user_id = ?1"),
        [user_id],
        user_row,
    )
    .optional()
}

fn input(field: &str, expected: impl Into<String>, found: impl Into<String>) -> Error {
    Error::account("<users>", field, expected.into(), found.into())
}

fn token_row(r: &rusqlite::Row) -> rusqlite::Result<ApiToken> {
    Ok(ApiToken {
        token_id: r.get(0)?,
        user_id: r.get(1)?,
        label: r.get(2)?,
        created_unix_s: r.get(3)?,
        revoked_unix_s: r.get(4)?,
    })
}

impl SqliteStore {
    /// Runs `f` in one immediate transaction that may append audit entries,
    /// then writes the anchor.
    pub(crate) fn with_audit<T>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, Error> {
        let (v, anchor) = self.with(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let v = f(&tx)?;
            let anchor = ledger::anchor_now(&tx, now_unix_s())?;
            tx.commit()?;
            Ok((v, anchor))
        })?;
        self.anchor_write(Some(anchor))?;
        Ok(v)
    }

    fn existing_user(&self, user_id: &str) -> Result<User, Error> {
        self.with(|c| load_user(c, user_id))?
            .map(|(u, _)| u)
            .ok_or_else(|| {
                input(
                    "USER",
                    "an existing user id (biotwin users list)",
                    format!("`{user_id}`"),
                )
            })
    }
}

impl Accounts for SqliteStore {
    fn add_user(&self, new: &NewUser, password: &str, actor: &str) -> Result<User, Error> {
        check_user_id(&new.user_id).map_err(|e| input("--user", e.to_string(), &new.user_id))?;
        check_full_name(&new.full_name)
            .map_err(|e| input("--name", e.to_string(), &new.full_name))?;
        if new.tenant.trim().is_empty() {
            return Err(input("--tenant", "a tenant id", "an empty text"));
        }
        check_new_password(&new.user_id, password).map_err(|(e, f)| input("password", e, f))?;
        let phc =
            hash_password(password).map_err(|e| input("password", "a password", e.to_string()))?;
        let now = now_unix_s();
        let added = self.with_audit(|tx| {
            if load_user(tx, &new.user_id)?.is_some() {
                return Ok(false);
            }
            tx.execute(
                "INSERT INTO users (user_id, tenant, full_name, role, password_phc,
                 disabled, failed_attempts, locked_until_unix_s, created_unix_s)
                 VALUES (?1, ?2, ?3, ?4, ?5, 0, 0, NULL, ?6)",
                params![
                    new.user_id,
                    new.tenant,
                    new.full_name.trim(),
                    new.role.as_str(),
                    phc,
                    now
                ],
            )?;
            audit_in(
                tx,
                actor,
                Some(&new.tenant),
                "user.added",
                json!({"user_id": new.user_id, "full_name": new.full_name.trim(),
                       "role": new.role.as_str()}),
            )?;
            Ok(true)
        })?;
        if !added {
            return Err(input(
                "--user",
                "a user id not yet taken (user ids are unique across tenants)",
                format!("`{}` exists", new.user_id),
            ));
        }
        self.existing_user(&new.user_id)
    }

    fn set_disabled(&self, user_id: &str, disabled: bool, actor: &str) -> Result<User, Error> {
        let u = self.existing_user(user_id)?;
        self.with_audit(|tx| {
            tx.execute(
                "UPDATE users SET disabled = ?2 WHERE user_id = ?1",
                params![user_id, disabled as i64],
            )?;
            if disabled {
                // A disabled account's sessions and tokens end with it.
                tx.execute("DELETE FROM sessions WHERE user_id = ?1", [user_id])?;
            }
            audit_in(
                tx,
                actor,
                Some(&u.tenant),
                if disabled {
                    "user.disabled"
                } else {
                    "user.enabled"
                },
                json!({"user_id": user_id}),
            )?;
            Ok(())
        })?;
        self.existing_user(user_id)
    }

    fn set_password(&self, user_id: &str, password: &str, actor: &str) -> Result<User, Error> {
        let u = self.existing_user(user_id)?;
        check_new_password(user_id, password).map_err(|(e, f)| input("password", e, f))?;
        let phc =
            hash_password(password).map_err(|e| input("password", "a password", e.to_string()))?;
        self.with_audit(|tx| {
            tx.execute(
                "UPDATE users SET password_phc = ?2, failed_attempts = 0,
                 locked_until_unix_s = NULL WHERE user_id = ?1",
                params![user_id, phc],
            )?;
            tx.execute("DELETE FROM sessions WHERE user_id = ?1", [user_id])?;
            audit_in(
                tx,
                actor,
                Some(&u.tenant),
                "user.password_set",
                json!({"user_id": user_id, "unlocked": u.locked_until_unix_s.is_some()}),
            )?;
            Ok(())
        })?;
        self.existing_user(user_id)
    }

    fn users(&self, tenant: Option<&str>) -> Result<Vec<User>, Error> {
        self.with(|c| {
            let mut st = c.prepare(&format!(
                "SELECT {USER_COLS} FROM users WHERE (?1 IS NULL OR tenant = ?1)
                 ORDER BY tenant, user_id"
            ))?;
            st.query_map([tenant], user_row)?
                .map(|r| r.map(|(u, _)| u))
                .collect()
        })
    }

    fn check_password(
        &self,
        user_id: &str,
        password: &str,
        purpose: &str,
        now: f64,
    ) -> Result<Result<User, Refusal>, Error> {
        let found = self.with(|c| load_user(c, user_id))?;
        let Some((user, phc)) = found else {
            // The same work as for an existing account.
            let _ = verify_password(password, decoy_hash());
            // Not the typed text: a password typed into the user field
            // would otherwise stay readable in the append-only trail.
            // Its length and a hash prefix are enough to correlate attempts.
            let shown = format!(
                "unknown ({} characters, sha256 {})",
                user_id.chars().count(),
                &token_sha256(user_id)[..12]
            );
            self.with_audit(|tx| {
                audit_in(
                    tx,
                    "biotwin-live",
                    None,
                    "auth.failed",
                    json!({"user_id": shown, "purpose": purpose, "reason": "unknown_user"}),
                )
            })?;
            return Ok(Err(Refusal::UnknownUser));
        };
        let refused = if user.disabled {
            let _ = verify_password(password, decoy_hash());
            Some(Refusal::Disabled)
        } else if user.locked_at(now) {
            let _ = verify_password(password, decoy_hash());
            Some(Refusal::Locked {
                until_unix_s: user.locked_until_unix_s.unwrap_or(now),
            })
        } else {
            None
        };
        if let Some(r) = refused {
            self.with_audit(|tx| {
                audit_in(
                    tx,
                    &user.user_id,
                    Some(&user.tenant),
                    "auth.failed",
                    json!({"user_id": user.user_id, "purpose": purpose, "reason": r.code()}),
                )
            })?;
            return Ok(Err(r));
        }
        if verify_password(password, &phc) {
            // Re-read inside one immediate transaction: a wrong password
            // sent at the same moment may have locked the account while
            // this one was being hashed, and a lock is never lifted by a
            // password that was checked before it (that would let parallel
            // guesses keep an account open).
            let locked = self.with_audit(|tx| {
                let (cur, _) = load_user(tx, user_id)?.unwrap_or((user.clone(), String::new()));
                if cur.locked_at(now) {
                    audit_in(
                        tx,
                        &user.user_id,
                        Some(&user.tenant),
                        "auth.failed",
                        json!({"user_id": user.user_id, "purpose": purpose, "reason": "locked"}),
                    )?;
                    return Ok(Some(cur.locked_until_unix_s.unwrap_or(now)));
                }
                if cur.failed_attempts > 0 || cur.locked_until_unix_s.is_some() {
                    tx.execute(
                        "UPDATE users SET failed_attempts = 0, locked_until_unix_s = NULL
                         WHERE user_id = ?1",
                        [user_id],
                    )?;
                }
                Ok(None)
            })?;
            if let Some(until_unix_s) = locked {
                return Ok(Err(Refusal::Locked { until_unix_s }));
            }
            return self.existing_user(user_id).map(Ok);
        }
        // Wrong: count it, lock at the limit (a lock that ran out starts
        // the count again). Read and written in one immediate transaction,
        // so that simultaneous wrong passwords are all counted.
        let until = now + LOCKOUT_S;
        let (failures, lock) = self.with_audit(|tx| {
            let (cur, _) = load_user(tx, user_id)?.unwrap_or((user.clone(), String::new()));
            if cur.locked_at(now) {
                // Locked by a simultaneous attempt while this one was being
                // hashed: refused as locked, and the lock stays as it is.
                audit_in(
                    tx,
                    &user.user_id,
                    Some(&user.tenant),
                    "auth.failed",
                    json!({"user_id": user.user_id, "purpose": purpose, "reason": "locked"}),
                )?;
                return Ok((MAX_FAILURES, cur.locked_until_unix_s));
            }
            // A lock that ran out starts the count again.
            let before = if cur.locked_until_unix_s.is_some() {
                0
            } else {
                cur.failed_attempts
            };
            let failures = before + 1;
            let lock = failures >= MAX_FAILURES;
            tx.execute(
                "UPDATE users SET failed_attempts = ?2, locked_until_unix_s = ?3
                 WHERE user_id = ?1",
                params![
                    user_id,
                    if lock { 0 } else { failures as i64 },
                    lock.then_some(until)
                ],
            )?;
            audit_in(
                tx,
                &user.user_id,
                Some(&user.tenant),
                "auth.failed",
                json!({"user_id": user.user_id, "purpose": purpose,
                       "reason": "wrong_password", "consecutive": failures}),
            )?;
            if lock {
                tx.execute("DELETE FROM sessions WHERE user_id = ?1", [user_id])?;
                audit_in(
                    tx,
                    "biotwin-live",
                    Some(&user.tenant),
                    "user.locked",
                    json!({"user_id": user.user_id, "after_failures": failures,
                           "locked_until_unix_s": until}),
                )?;
            }
            Ok((failures, lock.then_some(until)))
        })?;
        Ok(Err(if let Some(until_unix_s) = lock {
            Refusal::Locked { until_unix_s }
        } else {
            Refusal::WrongPassword {
                left: MAX_FAILURES - failures,
            }
        }))
    }

    fn login(
        &self,
        user_id: &str,
        password: &str,
        now: f64,
    ) -> Result<Result<(String, Principal), Refusal>, Error> {
        let user = match self.check_password(user_id, password, "login", now)? {
            Ok(u) => u,
            Err(r) => return Ok(Err(r)),
        };
        let token = new_secret().map_err(|e| self.err(e))?;
        let sha = token_sha256(&token);
        self.with_audit(|tx| {
            // Sessions that ran out are deleted when presented; those never
            // presented again go here.
            tx.execute(
                "DELETE FROM sessions WHERE last_used_unix_s < ?1 OR created_unix_s < ?2",
                params![now - SESSION_IDLE_S, now - SESSION_MAX_S],
            )?;
            tx.execute(
                "INSERT INTO sessions VALUES (?1, ?2, ?3, ?3)",
                params![sha, user.user_id, now],
            )?;
            audit_in(
                tx,
                &user.user_id,
                Some(&user.tenant),
                "user.login",
                json!({"user_id": user.user_id, "session": &sha[..12]}),
            )
        })?;
        Ok(Ok((
            token,
            Principal {
                tenant: user.tenant.clone(),
                role: user.role,
                user: Some(user),
                via: Via::Session,
                expires_unix_s: Some(now + SESSION_IDLE_S),
            },
        )))
    }

    fn resolve(&self, token: &str, now: f64) -> Result<Option<Principal>, Error> {
        let sha = token_sha256(token);
        self.with(|c| {
            let session: Option<(String, f64, f64)> = c
                .query_row(
                    "SELECT user_id, created_unix_s, last_used_unix_s FROM sessions
                     WHERE token_sha256 = ?1",
                    [&sha],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            let (user_id, via, expires) = match session {
                Some((user_id, created, last)) => {
                    if now - last > SESSION_IDLE_S || now - created > SESSION_MAX_S {
                        c.execute("DELETE FROM sessions WHERE token_sha256 = ?1", [&sha])?;
                        return Ok(None);
                    }
                    c.execute(
                        "UPDATE sessions SET last_used_unix_s = ?2 WHERE token_sha256 = ?1",
                        params![sha, now],
                    )?;
                    let expires = (now + SESSION_IDLE_S).min(created + SESSION_MAX_S);
                    (user_id, Via::Session, Some(expires))
                }
                None => {
                    let t: Option<String> = c
                        .query_row(
                            "SELECT user_id FROM api_tokens
                             WHERE token_sha256 = ?1 AND revoked_unix_s IS NULL",
                            [&sha],
                            |r| r.get(0),
                        )
                        .optional()?;
                    match t {
                        Some(u) => (u, Via::ApiToken, None),
                        None => return Ok(None),
                    }
                }
            };
            let Some((user, _)) = load_user(c, &user_id)? else {
                return Ok(None);
            };
            if user.disabled || user.locked_at(now) {
                return Ok(None);
            }
            Ok(Some(Principal {
                tenant: user.tenant.clone(),
                role: user.role,
                user: Some(user),
                via,
                expires_unix_s: expires,
            }))
        })
    }

    fn logout(&self, token: &str) -> Result<bool, Error> {
        let sha = token_sha256(token);
        let user: Option<(String, String)> = self.with(|c| {
            c.query_row(
                "SELECT s.user_id, u.tenant FROM sessions s JOIN users u USING (user_id)
                 WHERE s.token_sha256 = ?1",
                [&sha],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
        })?;
        let Some((user_id, tenant)) = user else {
            return Ok(false);
        };
        self.with_audit(|tx| {
            tx.execute("DELETE FROM sessions WHERE token_sha256 = ?1", [&sha])?;
            audit_in(
                tx,
                &user_id,
                Some(&tenant),
                "user.logout",
                json!({"user_id": user_id, "session": &sha[..12]}),
            )
        })?;
        Ok(true)
    }

    fn issue_token(
        &self,
        user_id: &str,
        label: &str,
        actor: &str,
    ) -> Result<(String, String), Error> {
        let u = self.existing_user(user_id)?;
        if label.trim().is_empty() || label.chars().count() > 100 {
            return Err(input(
                "--label",
                "a label of 1 to 100 characters saying which client holds the token",
                format!("{} characters", label.chars().count()),
            ));
        }
        let secret = new_secret().map_err(|e| self.err(e))?;
        let token = format!("bt_{secret}");
        let sha = token_sha256(&token);
        let token_id = format!("tok-{}", &sha[..12]);
        self.with_audit(|tx| {
            tx.execute(
                "INSERT INTO api_tokens VALUES (?1, ?2, ?3, ?4, ?5, NULL)",
                params![token_id, sha, user_id, label.trim(), now_unix_s()],
            )?;
            audit_in(
                tx,
                actor,
                Some(&u.tenant),
                "token.issued",
                json!({"token_id": token_id, "user_id": user_id, "label": label.trim()}),
            )
        })?;
        Ok((token_id, token))
    }

    fn revoke_token(&self, token_id: &str, actor: &str) -> Result<ApiToken, Error> {
        let found: Option<(ApiToken, String)> = self.with(|c| {
            c.query_row(
                "SELECT t.token_id, t.user_id, t.label, t.created_unix_s, t.revoked_unix_s, u.tenant
                 FROM api_tokens t JOIN users u USING (user_id) WHERE t.token_id = ?1",
                [token_id],
                |r| Ok((token_row(r)?, r.get(5)?)),
            )
            .optional()
        })?;
        let Some((t, tenant)) = found else {
            return Err(input(
                "TOKEN_ID",
                "an issued token id (biotwin users tokens)",
                format!("`{token_id}`"),
            ));
        };
        if t.revoked_unix_s.is_none() {
            self.with_audit(|tx| {
                tx.execute(
                    "UPDATE api_tokens SET revoked_unix_s = ?2 WHERE token_id = ?1",
                    params![token_id, now_unix_s()],
                )?;
                audit_in(
                    tx,
                    actor,
                    Some(&tenant),
                    "token.revoked",
                    json!({"token_id": token_id, "user_id": t.user_id}),
                )
            })?;
        }
        self.with(|c| {
            c.query_row(
                "SELECT token_id, user_id, label, created_unix_s, revoked_unix_s
                 FROM api_tokens WHERE token_id = ?1",
                [token_id],
                token_row,
            )
        })
    }

    fn tokens(&self, user_id: Option<&str>) -> Result<Vec<ApiToken>, Error> {
        self.with(|c| {
            let mut st = c.prepare(
                "SELECT token_id, user_id, label, created_unix_s, revoked_unix_s FROM api_tokens
                 WHERE (?1 IS NULL OR user_id = ?1) ORDER BY user_id, created_unix_s",
            )?;
            st.query_map([user_id], token_row)?.collect()
        })
    }
}
