//! Endpoints of people: sign-in and sign-out, who am I, the electronically
//! signed acknowledgement of an alert, and the tenant's audit trail.
//!
//! * `POST /api/login` `{"user", "password"}`: a session token (shown once)
//!   for the page to send as `Authorization: Bearer`; one answer for every
//!   refusal.
//! * `POST /api/logout`: ends the session presented.
//! * `GET /api/me`: the principal and what its role may do.
//! * `POST /api/batches/{id}/alerts/{cqa}/ack` `{"password", "meaning",
//!   "reason"}`: an electronic signature. Another tenant's alert is answered
//!   as a nonexistent one (checked first); then the role must be one that
//!   signs (QA reviewer, process engineer) and the request must come from a
//!   signed-in person (not the shared token, not an API token); then the
//!   signer re-enters their password. The signature (printed name, user id,
//!   role, UTC time, meaning, reason) is recorded in the audit entry
//!   `alert.acknowledged` with the SHA-256 of the signed alert record, and
//!   every alert the API returns carries its signature.
//! * `GET /api/audit?batch=&since=&offset=&limit=`: the tenant's audit
//!   entries, newest first, for QA reviewers and administrators; a batch the
//!   tenant does not have is 404 like everywhere else. The header
//!   `X-Audit-Chain` says whether the whole chain verifies.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::api::{ApiError, ok, page_bounds, page_of, paged, with_store};
use super::auth::{Authed, bearer};
use crate::Error;
use crate::users::{Meaning, Permission, Principal, Role, Via, check_reason, signature_of};
use crate::{AlertRecord, AuditEntry, Store};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/login", post(login))
        .route("/api/logout", post(logout))
        .route("/api/me", get(me))
        .route("/api/audit", get(audit))
        .route("/api/batches/{id}/alerts/{cqa}/ack", post(acknowledge))
}

/// Who may do something, for a 403's text.
fn who_may(p: Permission) -> String {
    let roles: Vec<&str> = Role::ALL
        .into_iter()
        .filter(|r| r.may(p))
        .map(Role::label)
        .collect();
    roles.join(" and ")
}

fn require(p: &Principal, what: Permission, doing: &str) -> Result<(), ApiError> {
    if p.via == Via::SharedToken && !p.may(what) {
        return Err(ApiError::Forbidden(format!(
            "the sponsor's shared token opens batches read-only; {doing} needs a personal account of a {} (an administrator adds one with `biotwin users add`; see docs/live.md)",
            who_may(what)
        )));
    }
    if !p.may(what) {
        return Err(ApiError::Forbidden(format!(
            "a {} may not do this: {doing} is for the {}",
            p.role.label(),
            who_may(what)
        )));
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    user: String,
    password: String,
}

async fn login(State(st): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let b: LoginBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::BadRequest(format!(
            "expected a JSON body {{\"user\": ID, \"password\": PASSWORD}}; found: {e}"
        ))
    })?;
    // Sign-ins have no tenant yet: they share one place in the gate's turn
    // (a key no tenant id can be).
    let outcome = with_store(&st, "\0sign-in", move |s| match s.accounts() {
        Some(a) => a
            .login(b.user.trim(), &b.password, crate::users::now_unix_s())
            .map(Some),
        None => Ok(None),
    })
    .await?;
    match outcome {
        Some(Ok((token, p))) => Ok(ok(json!({
            "token": token,
            "expires_unix_s": p.expires_unix_s,
            "principal": principal_json(&p),
        }))),
        _ => Err(ApiError::SignInRefused),
    }
}

async fn logout(
    State(st): State<AppState>,
    Authed(t, p): Authed,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let token = bearer(&headers).unwrap_or_default().to_string();
    let ended = if p.via == Via::Session {
        with_store(&st, &t, move |s| match s.accounts() {
            Some(a) => a.logout(&token),
            None => Ok(false),
        })
        .await?
    } else {
        false
    };
    Ok(ok(json!({ "session_ended": ended })))
}

fn principal_json(p: &Principal) -> Value {
    let perms = [
        ("view_batches", Permission::ViewBatches),
        ("sign_alert", Permission::SignAlert),
        ("sign_promotion", Permission::SignPromotion),
        ("view_audit", Permission::ViewAudit),
    ];
    json!({
        "tenant": p.tenant,
        "user_id": p.user.as_ref().map(|u| &u.user_id),
        "full_name": p.user.as_ref().map(|u| &u.full_name),
        "role": p.role,
        "role_label": p.role.label(),
        "via": p.via,
        "expires_unix_s": p.expires_unix_s,
        "may": perms.iter().filter(|(_, x)| p.may(*x)).map(|(n, _)| *n).collect::<Vec<_>>(),
    })
}

async fn me(Authed(_, p): Authed) -> Response {
    ok(principal_json(&p))
}

/// Alerts with the signature of their acknowledgement, from the audit
/// trail (the entry that recorded it, by `audit_seq`).
pub(crate) fn with_signatures(
    s: &dyn Store,
    tenant: &str,
    alerts: Vec<AlertRecord>,
) -> Result<Vec<Value>, Error> {
    let signed: Vec<AuditEntry> = if alerts.iter().any(|a| a.acknowledged_by.is_some()) {
        s.audit()?
            .into_iter()
            .filter(|e| {
                e.action == "alert.acknowledged"
                    && e.tenant.as_deref() == Some(tenant)
                    && e.detail.get("signature").is_some()
            })
            .collect()
    } else {
        Vec::new()
    };
    Ok(alerts
        .into_iter()
        .map(|a| {
            let sig = signed.iter().find(|e| {
                e.detail["batch_id"].as_str() == Some(a.batch_id.as_str())
                    && e.detail["cqa"].as_str() == Some(a.cqa.as_str())
            });
            let mut v = serde_json::to_value(&a).unwrap_or(Value::Null);
            if let Some(o) = v.as_object_mut() {
                o.insert(
                    "signature".into(),
                    sig.map_or(Value::Null, |e| {
                        let mut s = e.detail["signature"].clone();
                        if let Some(so) = s.as_object_mut() {
                            so.insert("audit_seq".into(), json!(e.seq));
                        }
                        s
                    }),
                );
            }
            v
        })
        .collect())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignBody {
    password: String,
    meaning: String,
    reason: String,
}

const SIGN_EXPECTED: &str = "a JSON body {\"password\": YOUR PASSWORD, \"meaning\": \"reviewed\" or \"approved\", \"reason\": 1 to 500 characters}";

fn sign_body(body: &[u8]) -> Result<(String, Meaning, String), ApiError> {
    let b: SignBody = serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("expected {SIGN_EXPECTED}; found: {e}")))?;
    let meaning = Meaning::parse(&b.meaning).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "expected {SIGN_EXPECTED}; found meaning `{}`",
            b.meaning.chars().take(40).collect::<String>()
        ))
    })?;
    check_reason(&b.reason)
        .map_err(|e| ApiError::BadRequest(format!("expected {e} in \"reason\"")))?;
    Ok((b.password, meaning, b.reason))
}

/// Acknowledges an alert with the signer's electronic signature. Signing an
/// acknowledged alert again changes nothing and records nothing: the first
/// signature stands (answered 200 with it).
async fn acknowledge(
    State(st): State<AppState>,
    Authed(t, p): Authed,
    Path((id, cqa)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    // Existence first: another tenant's alert must give the same answer as
    // a nonexistent one whatever the role and body.
    let (tt, ii, cc) = (t.clone(), id.clone(), cqa.clone());
    let found = with_store(&st, &t, move |s| {
        Ok(s.alerts(&tt)?
            .into_iter()
            .any(|a| a.batch_id == ii && a.cqa == cc))
    })
    .await?;
    if !found {
        return Err(ApiError::NotFound);
    }
    require(
        &p,
        Permission::SignAlert,
        "acknowledging an alert (an electronic signature)",
    )?;
    let user = match (&p.user, p.via) {
        (Some(u), Via::Session) => u.clone(),
        _ => {
            return Err(ApiError::Forbidden(
                "an electronic signature needs a person signed in with user id and password, not an API token".into(),
            ));
        }
    };
    let (password, meaning, reason) = sign_body(&body)?;
    // One acknowledgement at a time, so that two people signing at once do
    // not both get an audit entry when only the first stands.
    let _one_at_a_time = st.ack_lock.lock().await;
    let tenant = t.clone();
    let result = with_store(&st, &tenant, move |s| {
        let Some(existing) = s
            .alerts(&t)?
            .into_iter()
            .find(|a| a.batch_id == id && a.cqa == cqa)
        else {
            return Ok(None);
        };
        if existing.acknowledged_by.is_some() {
            let alert = with_signatures(s, &t, vec![existing])?.pop();
            return Ok(Some(Ok(json!({ "alert": alert, "audit_seq": null }))));
        }
        let Some(accounts) = s.accounts() else {
            return Ok(Some(Err("this store keeps no user accounts".to_string())));
        };
        let now = crate::users::now_unix_s();
        let signer = match accounts.check_password(&user.user_id, &password, "signature", now)? {
            Ok(u) => u,
            Err(r) => return Ok(Some(Err(format!("signature refused: {r}")))),
        };
        let sig = signature_of(&signer, meaning, &reason, now);
        let shown = format!("{} ({})", signer.full_name, signer.user_id);
        // The acknowledgement and its signature entry in one write: a crash
        // cannot leave an acknowledged alert without its signature.
        let detail = |signed: &crate::AlertRecord| {
            json!({
                "batch_id": id,
                "cqa": cqa,
                "p_in_spec": existing.p_in_spec,
                "threshold": existing.threshold,
                "first_predicted_s": existing.first_predicted_s,
                "via": "web",
                "record": { "kind": "alert", "batch_id": id, "cqa": cqa,
                            "sha256": crate::audit::record_sha256(signed) },
                "signature": sig,
            })
        };
        let Some((signed, entry)) = s.acknowledge_alert_audited(
            &t,
            &id,
            &cqa,
            &shown,
            &signer.user_id,
            "alert.acknowledged",
            &detail,
        )?
        else {
            return Ok(None);
        };
        let alert = with_signatures(s, &t, vec![signed])?.pop();
        Ok(Some(Ok(json!({ "alert": alert, "audit_seq": entry.seq }))))
    })
    .await?
    .ok_or(ApiError::NotFound)?;
    match result {
        Ok(v) => Ok(ok(v)),
        Err(m) => Err(ApiError::Forbidden(m)),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    batch: Option<String>,
    since: Option<String>,
    offset: Option<usize>,
    limit: Option<usize>,
}

async fn audit(
    State(st): State<AppState>,
    Authed(t, p): Authed,
    Query(q): Query<AuditQuery>,
) -> Result<Response, ApiError> {
    require(&p, Permission::ViewAudit, "reading the audit trail")?;
    let (offset, limit) = page_bounds(q.offset, q.limit)?;
    let since = match q.since.as_deref() {
        Some(s) => Some(crate::audit::parse_since(s).map_err(|e| {
            ApiError::BadRequest(format!(
                "since: expected {}; found {e}",
                crate::audit::SINCE_EXPECTED
            ))
        })?),
        None => None,
    };
    let batch = q.batch;
    let tenant = t.clone();
    let found = with_store(&st, &tenant, move |s| {
        if let Some(b) = &batch
            && s.batch(&t, b)?.is_none()
        {
            return Ok(None);
        }
        let all = s.audit()?;
        let chain = match crate::audit::verify(&all) {
            // Not the count nor where: those would tell of other tenants.
            Ok(_) => "intact",
            Err(_) => "broken (run biotwin audit verify)",
        };
        let mut list: Vec<AuditEntry> =
            crate::audit::select(&all, Some(&t), batch.as_deref(), since)
                .into_iter()
                .cloned()
                .collect();
        list.reverse();
        Ok(Some((list, chain)))
    })
    .await?;
    let Some((list, chain)) = found else {
        return Err(ApiError::NotFound);
    };
    let (list, total) = page_of(list, offset, limit);
    let mut r = paged(list, offset, total);
    r.headers_mut()
        .insert("x-audit-chain", HeaderValue::from_static(chain));
    Ok(r)
}
