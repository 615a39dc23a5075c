//! Bearer-token authentication: of users (a session from signing in, or a
//! user's API token, both looked up in the store's accounts) and of tenants
//! (the shared token of the site file, which opens the tenant's batches
//! read-only, as a sponsor viewer without a name).
//!
//! The server keeps only the SHA-256 of each tenant's token, so a leaked
//! configuration file does not leak tokens. A presented token is hashed and
//! compared with every tenant's hash in constant time (no early exit on the
//! first differing byte nor on the first matching tenant), so response
//! timing does not reveal how much of a hash was right.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::AppState;
use crate::Error;
use crate::TenantId;
use crate::users::{Principal, Role, Via};
use biotwin_core::error::{Diagnostic, Diagnostics};

/// Tenants with their decoded token hashes (`None`: malformed, never matches).
pub(crate) struct Tenants(Vec<(TenantId, Option<[u8; 32]>)>);

fn decode_hash(hex_digest: &str) -> Option<[u8; 32]> {
    let bytes = hex::decode(hex_digest.trim()).ok()?;
    bytes.try_into().ok()
}

/// SHA-256 of a token as 64 lowercase hex digits: what a site configuration
/// stores for a tenant.
pub fn token_sha256_hex(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Every tenant entry with an empty name, a malformed hash or a duplicate
/// name, as one error naming each.
pub fn check_tenants(tenants: &[(TenantId, String)]) -> Result<(), Error> {
    let mut d = Diagnostics::new();
    let file = "<tenants>";
    for (i, (name, hash)) in tenants.iter().enumerate() {
        if name.trim().is_empty() {
            d.push(Diagnostic::new(
                file,
                format!("tenants[{i}].name"),
                "a non-empty tenant name",
                "an empty string",
            ));
        }
        if decode_hash(hash).is_none() {
            d.push(Diagnostic::new(
                file,
                format!("tenants[{i}].token_sha256"),
                "the SHA-256 of the token as 64 hex digits",
                format!("`{hash}` ({} characters)", hash.len()),
            ));
        }
        if tenants[..i].iter().any(|(n, _)| n == name) {
            d.push(Diagnostic::new(
                file,
                format!("tenants[{i}].name"),
                "a name used once",
                format!("`{name}` again"),
            ));
        }
    }
    d.into_result(()).map_err(Error::Config)
}

impl Tenants {
    pub fn new(list: &[(TenantId, String)]) -> Self {
        Tenants(
            list.iter()
                .map(|(t, h)| (t.clone(), decode_hash(h)))
                .collect(),
        )
    }

    /// The tenant whose token this is, if any.
    pub fn authenticate(&self, token: &str) -> Option<TenantId> {
        let presented: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut found: Option<usize> = None;
        for (i, (_, hash)) in self.0.iter().enumerate() {
            // A malformed entry is compared against its own negation so
            // that it costs the same time and can never match.
            let expected = hash.unwrap_or_else(|| presented.map(|b| !b));
            let mut diff = 0u8;
            for (a, b) in presented.iter().zip(expected.iter()) {
                diff |= a ^ b;
            }
            let equal = std::hint::black_box(diff) == 0;
            if equal && found.is_none() {
                found = Some(i);
            }
        }
        found.map(|i| self.0[i].0.clone())
    }
}

/// The token of an `Authorization: Bearer TOKEN` header, if well formed.
pub(crate) fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// An authenticated request's tenant and principal: a handler that takes it
/// answers 401 to a request without a valid token before looking at
/// anything else.
pub(crate) struct Authed(pub TenantId, pub Principal);

impl FromRequestParts<AppState> for Authed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let unauthorized = || super::api::ApiError::Unauthorized.into_response();
        let Some(token) = bearer(&parts.headers).map(str::to_string) else {
            return Err(unauthorized());
        };
        if let Some(t) = state.tenants.authenticate(&token) {
            return Ok(Authed(
                t.clone(),
                Principal {
                    tenant: t,
                    user: None,
                    role: Role::SponsorViewer,
                    via: Via::SharedToken,
                    expires_unix_s: None,
                },
            ));
        }
        let store = state.store.clone();
        let found = tokio::task::spawn_blocking(move || match store.accounts() {
            Some(a) => a.resolve(&token, crate::users::now_unix_s()),
            None => Ok(None),
        })
        .await;
        match found {
            Ok(Ok(Some(p))) => Ok(Authed(p.tenant.clone(), p)),
            Ok(Ok(None)) => Err(unauthorized()),
            Ok(Err(e)) => {
                eprintln!("biotwin web: account lookup failed: {e}");
                Err(super::api::ApiError::Internal.into_response())
            }
            Err(e) => {
                eprintln!("biotwin web: account lookup task failed: {e}");
                Err(super::api::ApiError::Internal.into_response())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_right_token_finds_its_tenant_and_nothing_else_does() {
        let t = Tenants::new(&[
            ("a".into(), token_sha256_hex("token-a")),
            ("bad".into(), "not hex".into()),
            ("b".into(), token_sha256_hex("token-b").to_uppercase()),
        ]);
        assert_eq!(t.authenticate("token-a").as_deref(), Some("a"));
        assert_eq!(t.authenticate("token-b").as_deref(), Some("b"));
        assert_eq!(t.authenticate("token-c"), None);
        assert_eq!(t.authenticate(""), None);
        assert_eq!(t.authenticate(&token_sha256_hex("token-a")), None);
    }

    #[test]
    fn malformed_tenant_lists_are_reported_entry_by_entry() {
        let err = check_tenants(&[
            ("a".into(), token_sha256_hex("x")),
            ("".into(), "abc".into()),
            ("a".into(), token_sha256_hex("y")),
        ])
        .unwrap_err()
        .to_string();
        assert!(err.contains("tenants[1].name"), "{err}");
        assert!(err.contains("tenants[1].token_sha256"), "{err}");
        assert!(err.contains("tenants[2].name"), "{err}");
        assert!(!err.contains("tenants[0]"), "{err}");
        assert!(check_tenants(&[("a".into(), token_sha256_hex("x"))]).is_ok());
    }
}
