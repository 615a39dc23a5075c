//! [`Accounts`] in a PostgreSQL site store: the same accounts, roles,
//! sessions, lockout, API tokens and audit entries as [`super::sqlite`],
//! so a PostgreSQL site signs in and signs acknowledgements like a SQLite
//! one.
//!
//! Tables (migration 3 of [`crate::pg_store::MIGRATIONS`]; times Unix
//! seconds, UTC): `users`, `sessions`, `api_tokens`, with the SQLite
//! store's columns (`disabled` a `BOOLEAN`). Only Argon2id PHC strings and
//! token SHA-256s are stored. Every change to an account, each sign-in and
//! each refused password is one write transaction holding the site-wide
//! write lock ([`crate::pg_store::WRITE_LOCK_KEY`]) with its audit entry,
//! so simultaneous wrong passwords from several `serve` replicas are all
//! counted, and a lock is never lifted by a password checked before it.

use postgres::{GenericClient, Row};
use serde_json::json;

use super::{
    Accounts, ApiToken, LOCKOUT_S, MAX_FAILURES, NewUser, Principal, Refusal, Role, SESSION_IDLE_S,
    SESSION_MAX_S, User, Via, check_full_name, check_new_password, check_user_id, decoy_hash,
    hash_password, new_secret, token_sha256, verify_password,
};
use crate::Error;
use crate::pg_store::{E, PgStore, audit_in};
use crate::sqlite_store::now_unix_s;

/// Migration 3: the account tables.
pub(crate) const MIGRATION_SQL: &str = "
CREATE TABLE users (
    user_id TEXT PRIMARY KEY, tenant TEXT NOT NULL, full_name TEXT NOT NULL,
    role TEXT NOT NULL, password_phc TEXT NOT NULL,
    disabled BOOLEAN NOT NULL DEFAULT FALSE, failed_attempts INTEGER NOT NULL DEFAULT 0,
    locked_until_unix_s DOUBLE PRECISION, created_unix_s DOUBLE PRECISION NOT NULL);
CREATE TABLE sessions (
    token_sha256 TEXT PRIMARY KEY, user_id TEXT NOT NULL,
    created_unix_s DOUBLE PRECISION NOT NULL, last_used_unix_s DOUBLE PRECISION NOT NULL);
CREATE TABLE api_tokens (
    token_id TEXT PRIMARY KEY, token_sha256 TEXT NOT NULL UNIQUE, user_id TEXT NOT NULL,
    label TEXT NOT NULL, created_unix_s DOUBLE PRECISION NOT NULL,
    revoked_unix_s DOUBLE PRECISION);
";

const USER_COLS: &str = "user_id, tenant, full_name, role, disabled, failed_attempts, \
                         locked_until_unix_s, created_unix_s, password_phc";
const TOKEN_COLS: &str = "token_id, user_id, label, created_unix_s, revoked_unix_s";

fn user_row(r: &Row) -> (User, String) {
    let role: String = r.get(3);
    (
        User {
            user_id: r.get(0),
            tenant: r.get(1),
            full_name: r.get(2),
            // An unknown role text (an edited row) gets no more than viewing.
            role: Role::parse(&role).unwrap_or(Role::SponsorViewer),
            disabled: r.get(4),
            failed_attempts: r.get::<_, i32>(5).max(0) as u32,
            locked_until_unix_s: r.get(6),
            created_unix_s: r.get(7),
        },
        r.get(8),
    )
}

fn token_row(r: &Row) -> ApiToken {
    ApiToken {
        token_id: r.get(0),
        user_id: r.get(1),
        label: r.get(2),
        created_unix_s: r.get(3),
        revoked_unix_s: r.get(4),
    }
}

fn load_user(c: &mut impl GenericClient, user_id: &str) -> Result<Option<(User, String)>, E> {
    Ok(c.query_opt(
        &format!("SELECT {USER_COLS} FROM users WHERE user_id = $1"),
        &[&user_id],
    )?
    .map(|r| user_row(&r)))
}

fn input(field: &str, expected: impl Into<String>, found: impl Into<String>) -> Error {
    Error::account("<users>", field, expected.into(), found.into())
}

impl PgStore {
    fn existing_user(&self, user_id: &str) -> Result<User, Error> {
        self.client(|c| load_user(c, user_id))?
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

impl Accounts for PgStore {
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
        let added = self.write(|tx| {
            if load_user(tx, &new.user_id)?.is_some() {
                return Ok(false);
            }
            tx.execute(
                "INSERT INTO users (user_id, tenant, full_name, role, password_phc,
                 disabled, failed_attempts, locked_until_unix_s, created_unix_s)
                 VALUES ($1, $2, $3, $4, $5, FALSE, 0, NULL, $6)",
                &[
                    &new.user_id,
                    &new.tenant,
                    &new.full_name.trim(),
                    &new.role.as_str(),
                    &phc,
                    &now,
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
        self.write(|tx| {
            tx.execute(
                "UPDATE users SET disabled = $2 WHERE user_id = $1",
                &[&user_id, &disabled],
            )?;
            if disabled {
                // A disabled account's sessions end with it (its tokens
                // stop working: resolve refuses a disabled user).
                tx.execute("DELETE FROM sessions WHERE user_id = $1", &[&user_id])?;
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
        self.write(|tx| {
            tx.execute(
                "UPDATE users SET password_phc = $2, failed_attempts = 0,
                 locked_until_unix_s = NULL WHERE user_id = $1",
                &[&user_id, &phc],
            )?;
            tx.execute("DELETE FROM sessions WHERE user_id = $1", &[&user_id])?;
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
        self.client(|c| {
            Ok(c.query(
                &format!(
                    "SELECT {USER_COLS} FROM users WHERE ($1::text IS NULL OR tenant = $1)
                     ORDER BY tenant, user_id"
                ),
                &[&tenant],
            )?
            .iter()
            .map(|r| user_row(r).0)
            .collect())
        })
    }

    fn check_password(
        &self,
        user_id: &str,
        password: &str,
        purpose: &str,
        now: f64,
    ) -> Result<Result<User, Refusal>, Error> {
        let found = self.client(|c| load_user(c, user_id))?;
        let Some((user, phc)) = found else {
            // The same work as for an existing account.
            let _ = verify_password(password, decoy_hash());
            // Not the typed text (a password typed into the user field
            // would stay readable in the append-only trail).
            let shown = format!(
                "unknown ({} characters, sha256 {})",
                user_id.chars().count(),
                &token_sha256(user_id)[..12]
            );
            self.write(|tx| {
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
            self.write(|tx| {
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
            // Re-read under the write lock: a wrong password sent at the
            // same moment (to this or another replica) may have locked the
            // account while this one was being hashed.
            let locked = self.write(|tx| {
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
                         WHERE user_id = $1",
                        &[&user_id],
                    )?;
                }
                Ok(None)
            })?;
            if let Some(until_unix_s) = locked {
                return Ok(Err(Refusal::Locked { until_unix_s }));
            }
            return self.existing_user(user_id).map(Ok);
        }
        // Wrong: count it, lock at the limit, read and written under the
        // write lock so that simultaneous wrong passwords are all counted.
        let until = now + LOCKOUT_S;
        let (failures, lock) = self.write(|tx| {
            let (cur, _) = load_user(tx, user_id)?.unwrap_or((user.clone(), String::new()));
            if cur.locked_at(now) {
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
                "UPDATE users SET failed_attempts = $2, locked_until_unix_s = $3
                 WHERE user_id = $1",
                &[
                    &user_id,
                    &(if lock { 0 } else { failures as i32 }),
                    &lock.then_some(until),
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
                tx.execute("DELETE FROM sessions WHERE user_id = $1", &[&user_id])?;
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
        self.write(|tx| {
            // Sessions that ran out are deleted when presented; those never
            // presented again go here.
            tx.execute(
                "DELETE FROM sessions WHERE last_used_unix_s < $1 OR created_unix_s < $2",
                &[&(now - SESSION_IDLE_S), &(now - SESSION_MAX_S)],
            )?;
            tx.execute(
                "INSERT INTO sessions VALUES ($1, $2, $3, $3)",
                &[&sha, &user.user_id, &now],
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
        self.client(|c| {
            let session = c.query_opt(
                "SELECT user_id, created_unix_s, last_used_unix_s FROM sessions
                 WHERE token_sha256 = $1",
                &[&sha],
            )?;
            let (user_id, via, expires) = match session {
                Some(r) => {
                    let (user_id, created, last): (String, f64, f64) =
                        (r.get(0), r.get(1), r.get(2));
                    if now - last > SESSION_IDLE_S || now - created > SESSION_MAX_S {
                        c.execute("DELETE FROM sessions WHERE token_sha256 = $1", &[&sha])?;
                        return Ok(None);
                    }
                    c.execute(
                        "UPDATE sessions SET last_used_unix_s = $2 WHERE token_sha256 = $1",
                        &[&sha, &now],
                    )?;
                    let expires = (now + SESSION_IDLE_S).min(created + SESSION_MAX_S);
                    (user_id, Via::Session, Some(expires))
                }
                None => {
                    let t = c.query_opt(
                        "SELECT user_id FROM api_tokens
                         WHERE token_sha256 = $1 AND revoked_unix_s IS NULL",
                        &[&sha],
                    )?;
                    match t {
                        Some(r) => (r.get::<_, String>(0), Via::ApiToken, None),
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
        let user = self.client(|c| {
            Ok(c.query_opt(
                "SELECT s.user_id, u.tenant FROM sessions s JOIN users u USING (user_id)
                 WHERE s.token_sha256 = $1",
                &[&sha],
            )?
            .map(|r| (r.get::<_, String>(0), r.get::<_, String>(1))))
        })?;
        let Some((user_id, tenant)) = user else {
            return Ok(false);
        };
        self.write(|tx| {
            tx.execute("DELETE FROM sessions WHERE token_sha256 = $1", &[&sha])?;
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
        self.write(|tx| {
            tx.execute(
                "INSERT INTO api_tokens VALUES ($1, $2, $3, $4, $5, NULL)",
                &[&token_id, &sha, &user_id, &label.trim(), &now_unix_s()],
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
        let found = self.client(|c| {
            Ok(c.query_opt(
                "SELECT t.token_id, t.user_id, t.label, t.created_unix_s, t.revoked_unix_s, u.tenant
                 FROM api_tokens t JOIN users u USING (user_id) WHERE t.token_id = $1",
                &[&token_id],
            )?
            .map(|r| (token_row(&r), r.get::<_, String>(5))))
        })?;
        let Some((t, tenant)) = found else {
            return Err(input(
                "TOKEN_ID",
                "an issued token id (biotwin users tokens)",
                format!("`{token_id}`"),
            ));
        };
        if t.revoked_unix_s.is_none() {
            self.write(|tx| {
                tx.execute(
                    "UPDATE api_tokens SET revoked_unix_s = $2 WHERE token_id = $1",
                    &[&token_id, &now_unix_s()],
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
        self.client(|c| {
            Ok(token_row(&c.query_one(
                &format!("SELECT {TOKEN_COLS} FROM api_tokens WHERE token_id = $1"),
                &[&token_id],
            )?))
        })
    }

    fn tokens(&self, user_id: Option<&str>) -> Result<Vec<ApiToken>, Error> {
        self.client(|c| {
            Ok(c.query(
                &format!(
                    "SELECT {TOKEN_COLS} FROM api_tokens
                     WHERE ($1::text IS NULL OR user_id = $1) ORDER BY user_id, created_unix_s"
                ),
                &[&user_id],
            )?
            .iter()
            .map(token_row)
            .collect())
        })
    }
}
