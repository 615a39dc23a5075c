//! People through the binary: `biotwin users` (passwords from stdin, never
//! argv), `biotwin audit show`, a signed alert acknowledgement whose altered
//! signature `biotwin audit verify` finds, and a signed model promotion
//! recorded in the registry log and the store's audit trail.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, header};
use biotwin::live::sqlite_store::SqliteStore;
use biotwin::live::web::router;
use biotwin::live::{AlertRecord, BatchInfo, Store};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

/// Runs the binary with `stdin` on its standard input (a pipe, so that
/// passwords are read from it): (exit code, stdout, stderr).
fn biotwin(args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_biotwin"))
        .args(args)
        .env("USER", "it-admin")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A command that does not read its input may have exited already: a
    // broken pipe then is no failure of the test.
    let mut pipe = child.stdin.take().unwrap();
    if !stdin.is_empty() {
        let _ = pipe.write_all(stdin.as_bytes());
    }
    drop(pipe);
    let o = child.wait_with_output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn add(store: &str, tenant: &str, user: &str, name: &str, role: &str, pw: &str) {
    let (code, out, err) = biotwin(
        &[
            "users", "add", "--store", store, "--tenant", tenant, "--user", user, "--name", name,
            "--role", role,
        ],
        &format!("{pw}\n"),
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&format!("added {user}")), "{out}");
}

#[test]
fn users_are_managed_from_stdin_and_audit_show_reads_the_trail() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("live.sqlite");
    let s = store.to_str().unwrap();

    let (code, help, _) = biotwin(&["users", "--help"], "");
    assert_eq!(code, 0);
    assert!(help.contains("never taken from the command line"), "{help}");
    assert!(
        help.contains("| biotwin users add"),
        "an example with stdin: {help}"
    );

    // A bad password is refused before anything is created.
    let (code, _, err) = biotwin(
        &[
            "users",
            "add",
            "--store",
            s,
            "--tenant",
            "sponsor-a",
            "--user",
            "qa.anna",
            "--name",
            "Anna Lee",
            "--role",
            "qa_reviewer",
        ],
        "short\n",
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("password") && err.contains("10 characters"),
        "{err}"
    );
    assert!(!err.contains("short"), "the password is not echoed: {err}");
    assert!(!store.exists());
    let (code, _, err) = biotwin(
        &[
            "users",
            "add",
            "--store",
            s,
            "--tenant",
            "sponsor-a",
            "--user",
            "qa.anna",
            "--name",
            "Anna Lee",
            "--role",
            "auditor",
        ],
        "anna-password-1\n",
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("--role") && err.contains("qa_reviewer"),
        "{err}"
    );

    add(
        s,
        "sponsor-a",
        "qa.anna",
        "Anna Lee",
        "qa_reviewer",
        "anna-password-1",
    );
    add(
        s,
        "sponsor-a",
        "eng.raj",
        "Raj Patel",
        "process_engineer",
        "raj-password-22",
    );
    let (code, _, err) = biotwin(
        &[
            "users",
            "add",
            "--store",
            s,
            "--tenant",
            "sponsor-b",
            "--user",
            "qa.anna",
            "--name",
            "Other Anna",
            "--role",
            "qa_reviewer",
        ],
        "another-password\n",
    );
    assert_eq!(code, 2, "a user id is unique across tenants");
    assert!(err.contains("qa.anna") && err.contains("exists"), "{err}");

    let (code, _, err) = biotwin(
        &["users", "passwd", "--store", s, "eng.raj"],
        "raj-password-33\n",
    );
    assert_eq!(code, 0, "{err}");
    let (code, out, _) = biotwin(&["users", "disable", "--store", s, "eng.raj"], "");
    assert_eq!(code, 0);
    assert!(out.contains("disabled"), "{out}");
    let (code, out, _) = biotwin(&["users", "list", "--store", s, "--json"], "");
    assert_eq!(code, 0);
    let users: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(users.as_array().unwrap().len(), 2);
    assert!(!out.contains("argon2"), "no password hash is listed");
    assert_eq!(users[0]["user_id"], json!("eng.raj"));
    assert_eq!(users[0]["disabled"], json!(true));
    let (code, token, err) = biotwin(
        &[
            "users",
            "token",
            "--store",
            s,
            "qa.anna",
            "--label",
            "LIMS export",
        ],
        "",
    );
    assert_eq!(code, 0);
    let token = token.trim().to_string();
    assert!(token.starts_with("bt_") && token.len() == 67, "{token}");
    let id = err.split_whitespace().nth(2).unwrap().to_string();
    assert!(id.starts_with("tok-"), "{err}");
    let (code, out, _) = biotwin(&["users", "revoke", "--store", s, &id], "");
    assert_eq!(code, 0);
    assert!(out.contains("revoked"));
    let (_, out, _) = biotwin(&["users", "tokens", "--store", s], "");
    assert!(out.contains(&id) && out.contains("revoked"), "{out}");

    // Entries about a batch, and audit show's filters.
    {
        let st = SqliteStore::open(&store).unwrap();
        st.append_audit(
            "biotwin-live",
            Some("sponsor-a"),
            "batch.started",
            json!({"batch": "B01"}),
        )
        .unwrap();
        st.append_audit(
            "biotwin-live",
            Some("sponsor-a"),
            "batch.started",
            json!({"batch": "B02"}),
        )
        .unwrap();
    }
    let (code, out, _) = biotwin(&["audit", "show", "--store", s], "");
    assert_eq!(code, 0);
    assert!(out.starts_with("chain intact:"), "{out}");
    for action in [
        "user.added",
        "user.password_set",
        "user.disabled",
        "token.issued",
        "token.revoked",
    ] {
        assert!(out.contains(action), "{action} in {out}");
    }
    assert!(
        out.contains("cli:it-admin"),
        "the OS user is the actor: {out}"
    );
    let (code, out, err) = biotwin(
        &["audit", "show", "--store", s, "--batch", "B02", "--json"],
        "",
    );
    assert_eq!(code, 0);
    assert!(err.contains("chain intact"), "{err}");
    let picked: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(picked.as_array().unwrap().len(), 1);
    assert_eq!(picked[0]["detail"]["batch"], json!("B02"));
    let (_, out, _) = biotwin(
        &[
            "audit",
            "show",
            "--store",
            s,
            "--since",
            "2999-01-01T00:00:00Z",
        ],
        "",
    );
    assert!(out.contains("; 0 shown"), "{out}");
    let (code, _, err) = biotwin(&["audit", "show", "--store", s, "--since", "last week"], "");
    assert_eq!(code, 2);
    assert!(err.contains("--since") && err.contains("RFC 3339"), "{err}");
}

async fn post(app: &axum::Router, uri: &str, auth: Option<&str>, body: Value) -> (u16, Value) {
    let mut req = Request::builder()
        .method("POST")
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(t) = auth {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let res = app
        .clone()
        .oneshot(req.body(Body::from(body.to_string())).unwrap())
        .await
        .unwrap();
    let status = res.status().as_u16();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// A signature made on the web, verified by the binary, then altered in the
/// file: `biotwin audit verify` exits 2 naming the entry.
#[test]
fn an_altered_signature_is_found_by_audit_verify() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("live.sqlite");
    let s = store.to_str().unwrap();
    add(
        s,
        "sponsor-a",
        "qa.anna",
        "Anna Lee",
        "qa_reviewer",
        "anna-password-1",
    );
    let seq = {
        let st = Arc::new(SqliteStore::open(&store).unwrap());
        st.upsert_batch(&BatchInfo {
            tenant: "sponsor-a".into(),
            batch_id: "B01".into(),
            unit: "BR1".into(),
            start_unix_s: 1.7e9,
            end_unix_s: 1.7e9 + 14.0 * 86400.0,
            finished: false,
        })
        .unwrap();
        st.insert_alert(&AlertRecord {
            tenant: "sponsor-a".into(),
            batch_id: "B01".into(),
            cqa: "galactosylation_pct".into(),
            first_predicted_s: 300.0 * 3600.0,
            p_in_spec: 0.6,
            threshold: 0.8,
            acknowledged_by: None,
        })
        .unwrap();
        let app = router(st.clone() as Arc<dyn Store>, vec![]);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (code, login) = post(
                &app,
                "/api/login",
                None,
                json!({"user": "qa.anna", "password": "anna-password-1"}),
            )
            .await;
            assert_eq!(code, 200, "{login}");
            let token = login["token"].as_str().unwrap().to_string();
            let (code, signed) = post(
                &app,
                "/api/batches/B01/alerts/galactosylation_pct/ack",
                Some(&token),
                json!({"password": "anna-password-1", "meaning": "reviewed",
                       "reason": "band artefact near batch end; actual within spec"}),
            )
            .await;
            assert_eq!(code, 200, "{signed}");
            signed["audit_seq"].as_u64().unwrap()
        })
    };
    let (code, out, err) = biotwin(&["audit", "verify", "--store", s], "");
    assert_eq!(code, 0, "{out}{err}");
    let (_, shown, _) = biotwin(&["audit", "show", "--store", s, "--batch", "B01"], "");
    assert!(
        shown.contains("signed: reviewed by Anna Lee (qa.anna, qa_reviewer)")
            && shown.contains("band artefact near batch end"),
        "{shown}"
    );

    // Alter only the signature's reason, in the stored entry.
    alter(&store, seq, "band artefact near batch end", "all fine");
    let (code, out, err) = biotwin(&["audit", "verify", "--store", s], "");
    assert_eq!(code, 2, "{out}");
    assert!(
        err.contains(&format!("audit[{seq}]")) && err.contains("altered"),
        "{err}"
    );
    let (_, shown, _) = biotwin(&["audit", "show", "--store", s], "");
    assert!(shown.starts_with("CHAIN BROKEN"), "{shown}");
}

fn alter(store: &Path, seq: u64, from: &str, to: &str) {
    let c = rusqlite::Connection::open(store).unwrap();
    let n = c
        .execute(
            "UPDATE audit SET entry_json = replace(entry_json, ?2, ?3) WHERE seq = ?1",
            rusqlite::params![seq as i64, from, to],
        )
        .unwrap();
    assert_eq!(n, 1);
}

#[test]
fn a_signed_promotion_is_recorded_in_both_trails() {
    use biotwin::data::Dataset;
    use biotwin::registry::Registry;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("live.sqlite");
    let s = store.to_str().unwrap();
    let reg_dir = dir.path().join("models");
    let r = Registry::new(&reg_dir);
    let ds = Dataset::load(super::registry::CHO).unwrap();
    let rec = r
        .register(
            "titer",
            &super::registry::artifact(&ds),
            "holdout",
            &Vec::<String>::new(),
            None,
            "trainer",
        )
        .unwrap();
    let reg = reg_dir.to_str().unwrap();
    add(
        s,
        "sponsor-a",
        "eng.raj",
        "Raj Patel",
        "process_engineer",
        "raj-password-22",
    );
    add(
        s,
        "sponsor-a",
        "view.vic",
        "Vic Viewer",
        "sponsor_viewer",
        "vic-password-22",
    );
    let promote = |user: &str, pw: &str| {
        biotwin(
            &[
                "promote",
                &rec.id,
                "--registry",
                reg,
                "--reason",
                "best held-out RMSE",
                "--sign-as",
                user,
                "--accounts",
                s,
                "--meaning",
                "approved",
            ],
            &format!("{pw}\n"),
        )
    };
    // A viewer may not sign; a wrong password is refused: nothing promoted.
    let (code, _, err) = promote("view.vic", "vic-password-22");
    assert_eq!(code, 2);
    assert!(err.contains("sponsor viewer"), "{err}");
    let (code, _, err) = promote("eng.raj", "not-the-password");
    assert_eq!(code, 2);
    assert!(err.contains("signature refused: wrong password"), "{err}");
    assert!(r.state().unwrap().serving.is_empty());

    let (code, out, err) = promote("eng.raj", "raj-password-22");
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("signed: approved by Raj Patel (eng.raj)"),
        "{out}"
    );
    let entries = r.entries().unwrap();
    let e = entries.last().unwrap();
    let sig = e.promotion.as_ref().unwrap().signature.as_ref().unwrap();
    assert_eq!(
        (
            sig.full_name.as_str(),
            sig.user_id.as_str(),
            sig.role.as_str()
        ),
        ("Raj Patel", "eng.raj", "process_engineer")
    );
    assert_eq!(sig.reason, "best held-out RMSE");
    assert_eq!(e.user, "eng.raj");
    let st = SqliteStore::open_existing(&store).unwrap();
    let trail = st.audit().unwrap();
    let p = trail.iter().find(|e| e.action == "model.promoted").unwrap();
    assert_eq!(p.detail["record"]["log_seq"], json!(e.seq));
    assert_eq!(p.detail["record"]["sha256"], json!(e.sha256));
    assert_eq!(p.detail["signature"]["meaning"], json!("approved"));
    drop(st);
    let (code, out, err) = biotwin(&["audit", "verify", "--store", s, "--registry", reg], "");
    assert_eq!(code, 0, "{out}{err}");

    // Altering the signature in the registry log is found there too.
    let log = reg_dir.join(biotwin::registry::LOG_FILE);
    let text = std::fs::read_to_string(&log).unwrap();
    std::fs::write(&log, text.replace("Raj Patel", "Someone Else")).unwrap();
    let (code, _, err) = biotwin(&["audit", "verify", "--registry", reg], "");
    assert_eq!(code, 2, "{err}");
}
