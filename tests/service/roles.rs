//! Every API route against every kind of caller (the four roles, no key, a malformed header, a revoked
//! key), on SQLite and PostgreSQL: the table in the README, enforced. A role may only be refused with
//! `forbidden_role` (403) and a caller without a valid key only with `unauthenticated` (401); an allowed
//! role gets past both (its request may still fail on the made-up ids and bodies used here). `admin`
//! has no data route at all (separation of duties), only the webhook endpoints, which hold none. Every
//! answer is also checked against the OpenAPI document: a status it declares for the operation, and
//! errors as application/problem+json.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::harness::{create_key_with_id, Db, TestApp};

/// (method, path, roles allowed), as the README's API table says.
const ROUTES: &[(&str, &str, &[&str])] = &[
    ("POST", "/v1/consents", &["submitter"]),
    (
        "GET",
        "/v1/consents/cns_x",
        &["submitter", "reviewer", "auditor"],
    ),
    ("POST", "/v1/consents/cns_x/withdraw", &["submitter"]),
    ("POST", "/v1/verifications", &["submitter"]),
    (
        "GET",
        "/v1/verifications/ver_x",
        &["submitter", "reviewer", "auditor"],
    ),
    ("POST", "/v1/challenges", &["submitter"]),
    ("POST", "/v1/capture-links", &["submitter"]),
    (
        "GET",
        "/v1/capture-links/cl_x",
        &["submitter", "reviewer", "auditor"],
    ),
    ("POST", "/v1/invigilation/sessions", &["submitter"]),
    (
        "GET",
        "/v1/invigilation/sessions/ses_x",
        &["submitter", "reviewer", "auditor"],
    ),
    (
        "POST",
        "/v1/invigilation/sessions/ses_x/frames",
        &["submitter"],
    ),
    (
        "POST",
        "/v1/invigilation/sessions/ses_x/close",
        &["submitter"],
    ),
    ("GET", "/v1/reviews", &["reviewer", "auditor"]),
    ("GET", "/v1/reviews/rev_x", &["reviewer", "auditor"]),
    ("GET", "/v1/reviews/rev_x/media/document", &["reviewer"]),
    ("GET", "/v1/reviews/rev_x/identity", &["reviewer"]),
    ("POST", "/v1/reviews/rev_x/resolution", &["reviewer"]),
    ("DELETE", "/v1/subjects/subj-x", &["auditor"]),
    ("GET", "/v1/subjects/subj-x/export", &["auditor"]),
    ("POST", "/v1/subjects/subj-x/restrict", &["auditor"]),
    ("POST", "/v1/subjects/subj-x/unrestrict", &["auditor"]),
    ("POST", "/v1/webhooks", &["admin"]),
    ("GET", "/v1/webhooks", &["admin"]),
    ("DELETE", "/v1/webhooks/wh_x", &["admin"]),
    ("GET", "/v1/webhooks/wh_x/deliveries", &["admin"]),
    (
        "POST",
        "/v1/webhooks/wh_x/deliveries/msg_x/redeliver",
        &["admin"],
    ),
];

const ROLES: [&str; 4] = ["submitter", "reviewer", "auditor", "admin"];

async fn call(app: &TestApp, method: &str, path: &str, auth: Option<&str>) -> (StatusCode, Value) {
    let url = format!("{}{path}", app.base);
    let mut req = match method {
        "GET" => app.http.get(&url),
        "DELETE" => app.http.delete(&url).json(&json!({"reason": "matrix"})),
        _ if path.ends_with("/frames") => app.http.post(&url).body(vec![0u8; 16]),
        _ if path == "/v1/verifications" => app
            .http
            .post(&url)
            .multipart(reqwest::multipart::Form::new().text("subject_ref", "s")),
        _ => app.http.post(&url).json(&json!({"reason": "matrix"})),
    };
    if let Some(value) = auth {
        req = req.header("authorization", value);
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    // The contract: the status is one the OpenAPI document declares for the operation, and an error
    // is application/problem+json, as the document says.
    let declared = declared_statuses(method, path);
    assert!(
        declared.contains(&status.as_str().to_string()),
        "{method} {path}: {status} is not declared ({declared:?})"
    );
    if !status.is_success() {
        let content_type = r.headers()["content-type"].to_str().unwrap().to_string();
        assert!(
            content_type.starts_with("application/problem+json"),
            "{method} {path}: {status} as {content_type}"
        );
    }
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The statuses the OpenAPI document declares for the operation that serves `path`.
fn declared_statuses(method: &str, path: &str) -> Vec<String> {
    let doc: Value = serde_json::from_str(&idv::api::openapi::document()).unwrap();
    let wanted: Vec<&str> = path.split('/').collect();
    for (template, item) in doc["paths"].as_object().unwrap() {
        let parts: Vec<&str> = template.split('/').collect();
        let matches = parts.len() == wanted.len()
            && parts
                .iter()
                .zip(&wanted)
                .all(|(t, p)| t == p || t.starts_with('{'));
        if let (true, Some(op)) = (matches, item.get(method.to_lowercase())) {
            return op["responses"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect();
        }
    }
    panic!("{method} {path} is not in the OpenAPI document")
}

on_both!(
    every_route_admits_exactly_the_roles_the_readme_lists,
    |db| async move {
        let app = TestApp::spawn(db).await;
        let mut keys = Vec::new();
        for role in ROLES {
            let (_, secret) = create_key_with_id(&app.store, "acme", role).await;
            keys.push((role, secret));
        }
        let (revoked_id, revoked) = create_key_with_id(&app.store, "acme", "submitter").await;
        let audit = idv::store::NewAudit {
            at: idv::store::now_ms(),
            org: "acme".into(),
            actor: "test".into(),
            event: "key.revoked",
            entity: revoked_id.clone(),
            subject_digest: None,
            details: json!({}),
        };
        assert!(app.store.revoke_key(&revoked_id, &audit).await.unwrap());

        for (method, path, allowed) in ROUTES {
            for (role, secret) in &keys {
                let (status, body) =
                    call(&app, method, path, Some(&format!("Bearer {secret}"))).await;
                if allowed.contains(role) {
                    assert!(
                        status != StatusCode::FORBIDDEN && status != StatusCode::UNAUTHORIZED,
                        "{method} {path} as {role}: {status} {body}"
                    );
                } else {
                    assert_eq!(
                        (status, body["code"].as_str()),
                        (StatusCode::FORBIDDEN, Some("forbidden_role")),
                        "{method} {path} as {role}"
                    );
                }
            }
            let unauthenticated = [
                None,
                Some("Bearer not-a-key".to_string()),
                Some("Basic YWxhZGRpbjpvcGVuc2VzYW1l".to_string()),
                Some(format!("Bearer {revoked}")),
            ];
            for auth in &unauthenticated {
                let (status, body) = call(&app, method, path, auth.as_deref()).await;
                assert_eq!(
                    (status, body["code"].as_str()),
                    (StatusCode::UNAUTHORIZED, Some("unauthenticated")),
                    "{method} {path} with {auth:?}"
                );
            }
        }
        app.stop().await;
    }
);
