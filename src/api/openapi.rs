//! The OpenAPI 3.1 document (generated from the handlers' annotations; committed as docs/openapi.json,
//! checked for drift by a test) and a small interactive page at `/docs` served by idv itself: no CDN.

use axum::response::Html;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{Modify, OpenApi};

use crate::service::error::ErrorCode;

#[derive(OpenApi)]
#[openapi(
    info(title = "idv", description = "Biometric identity verification: consents, verifications and their decision records, and the data-subject rights over them."),
    paths(
        super::consents::create, super::consents::get, super::consents::withdraw,
        super::verifications::create, super::verifications::get, super::challenges::create,
        super::subjects::export, super::subjects::erase, super::subjects::restrict,
        super::webhooks::create, super::webhooks::list, super::webhooks::remove,
        super::webhooks::deliveries, super::webhooks::redeliver,
        super::subjects::unrestrict, super::reviews::list, super::reviews::get,
        super::reviews::media, super::reviews::identity, super::reviews::resolve, super::invigilation::create,
        super::invigilation::frame, super::invigilation::get, super::invigilation::close,
        super::capture_links::create, super::capture_links::get,
    ),
    components(schemas(crate::http::error::Problem)),
    modifiers(&BearerAuth, &ErrorCodes, &ErrorResponses),
    tags((name = "consents"), (name = "verifications"), (name = "invigilation", description = "Remote invigilation: webcam frames checked against the enrolled candidate; flags go to a person"), (name = "reviews", description = "Human review of referred and sampled decisions (reviewer role)"), (name = "subjects", description = "Data-subject rights: access, erasure, restriction (auditor role)"), (name = "webhooks", description = "Signed event deliveries to your endpoints (admin role; README, Webhooks)"), (name = "capture", description = "One-time links to the applicant capture page (/capture/{token}): privacy notice and consent, document photo, challenge video and selfie from the browser's camera")),
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The error table (src/service/error.rs) as the `code` of the Problem schema: every code the server
/// answers, from any layer, with its status and title.
struct ErrorCodes;

impl Modify for ErrorCodes {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let problem = doc
            .components
            .as_mut()
            .and_then(|c| c.schemas.get_mut("Problem"));
        let Some(RefOr::T(Schema::Object(problem))) = problem else {
            return;
        };
        let Some(RefOr::T(Schema::Object(code))) = problem.properties.get_mut("code") else {
            return;
        };
        code.enum_values = Some(
            ErrorCode::ALL
                .iter()
                .map(|c| serde_json::Value::from(c.code()))
                .collect(),
        );
        let table: Vec<String> = ErrorCode::ALL
            .iter()
            .map(|c| format!("- `{}` ({}): {}", c.code(), c.status().as_u16(), c.title()))
            .collect();
        code.description = Some(format!(
            "The stable error code (clients may branch on it). Every error the server answers is \
             application/problem+json with one of these codes:\n\n{}",
            table.join("\n")
        ));
    }
}

/// Statuses a refusal of an operation can have beyond those every `/v1` operation can give, as
/// (method, path, statuses): the use cases' conflicts (409) and erased subjects or used links (410).
const CONFLICTS: &[(&str, &str, &[u16])] = &[
    ("post", "/v1/consents/{consent_ref}/withdraw", &[409]),
    ("post", "/v1/verifications", &[409, 410]),
    ("post", "/v1/capture-links", &[409, 410]),
    ("post", "/v1/invigilation/sessions", &[409, 410]),
    ("post", "/v1/invigilation/sessions/{id}/frames", &[409, 410]),
    ("post", "/v1/invigilation/sessions/{id}/close", &[409]),
    ("get", "/v1/reviews/{id}/media/{kind}", &[410]),
    ("get", "/v1/reviews/{id}/identity", &[410]),
    ("post", "/v1/reviews/{id}/resolution", &[409, 410]),
    ("delete", "/v1/subjects/{subject_ref}", &[410]),
    ("get", "/v1/subjects/{subject_ref}/export", &[410]),
    ("post", "/v1/subjects/{subject_ref}/restrict", &[409, 410]),
    ("post", "/v1/subjects/{subject_ref}/unrestrict", &[409, 410]),
    ("post", "/v1/webhooks", &[409]),
];

/// The error statuses an operation can answer: those of every authenticated call (a malformed request,
/// no or a wrong key, the wrong role, the time limit, rate limits and load, an unready server), 404 with
/// a path id, 413/415/422 with a body (422 with a query too), and the operation's own conflicts.
fn error_statuses(method: &str, path: &str, op: &utoipa::openapi::path::Operation) -> Vec<u16> {
    use utoipa::openapi::path::ParameterIn;
    let mut statuses = vec![400, 401, 403, 408, 429, 431, 500, 503];
    let params = op.parameters.as_deref().unwrap_or_default();
    if params.iter().any(|p| p.parameter_in == ParameterIn::Path) {
        statuses.push(404);
    }
    if op.request_body.is_some() {
        statuses.extend([413, 415, 422]);
    }
    if params.iter().any(|p| p.parameter_in == ParameterIn::Query) {
        statuses.push(422);
    }
    for (m, p, extra) in CONFLICTS {
        if *m == method && *p == path {
            statuses.extend(extra.iter());
        }
    }
    statuses.sort_unstable();
    statuses.dedup();
    statuses
}

/// Every `/v1` operation's error answers, each status declared on its own as `application/problem+json`
/// (the Problem schema with the code enum), its description naming the codes of that status; 429 with
/// its `Retry-After` header. Replaces the handlers' `4XX` placeholders.
struct ErrorResponses;

impl Modify for ErrorResponses {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::schema::{Object, Type};
        use utoipa::openapi::{Content, Header, Ref, ResponseBuilder};
        for (path, item) in doc.paths.paths.iter_mut() {
            let ops = [
                ("get", item.get.as_mut()),
                ("post", item.post.as_mut()),
                ("put", item.put.as_mut()),
                ("delete", item.delete.as_mut()),
                ("patch", item.patch.as_mut()),
            ];
            for (method, op) in ops {
                let Some(op) = op else { continue };
                op.responses
                    .responses
                    .retain(|status, _| !(status.starts_with('4') || status.starts_with('5')));
                for status in error_statuses(method, path, op) {
                    let codes: Vec<String> = ErrorCode::ALL
                        .iter()
                        .filter(|c| c.status().as_u16() == status)
                        .map(|c| format!("`{}`", c.code()))
                        .collect();
                    let mut response = ResponseBuilder::new()
                        .description(format!("Problem; `code` is one of {}", codes.join(", ")))
                        .content(
                            "application/problem+json",
                            Content::new(Some(Ref::from_schema_name("Problem"))),
                        );
                    if status == 429 {
                        let mut seconds = Header::new(Object::with_type(Type::Integer));
                        seconds.description = Some("Seconds to wait before retrying".into());
                        response = response.header("Retry-After", seconds);
                    }
                    op.responses
                        .responses
                        .insert(status.to_string(), response.build().into());
                }
            }
        }
    }
}

/// The document as served and as committed (pretty JSON with a trailing newline).
pub fn document() -> String {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    doc.to_pretty_json().expect("serialisable") + "\n"
}

pub async fn json() -> ([(axum::http::HeaderName, &'static str); 1], String) {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        document(),
    )
}

pub async fn page() -> Html<&'static str> {
    Html(include_str!("docs.html"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn committed_openapi_matches_the_code() {
        let committed =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.json"))
                .unwrap_or_default();
        let current = super::document();
        if committed != current {
            if std::env::var_os("IDV_UPDATE_OPENAPI").is_some() {
                std::fs::write(
                    concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.json"),
                    &current,
                )
                .unwrap();
                return;
            }
            panic!("docs/openapi.json is out of date: run `IDV_UPDATE_OPENAPI=1 cargo test --lib openapi` and commit it");
        }
        let v: serde_json::Value = serde_json::from_str(&current).unwrap();
        assert!(v["openapi"].as_str().unwrap().starts_with("3.1"));
        assert!(v["paths"]["/v1/verifications"]["post"].is_object());
        // Every operation declares its errors one status at a time, as problem+json.
        for (path, item) in v["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let responses = op["responses"].as_object().unwrap();
                assert!(!responses.contains_key("4XX"), "{method} {path}");
                for status in ["400", "401", "403", "429", "503"] {
                    let r = &responses[status];
                    assert!(
                        r["content"]["application/problem+json"]["schema"]["$ref"]
                            .as_str()
                            .is_some_and(|s| s.ends_with("/Problem")),
                        "{method} {path} {status}"
                    );
                }
                if path.contains('{') {
                    assert!(responses.contains_key("404"), "{method} {path}");
                }
                if op.get("requestBody").is_some() {
                    for status in ["413", "415", "422"] {
                        assert!(responses.contains_key(status), "{method} {path} {status}");
                    }
                }
            }
        }
        let resolve = &v["paths"]["/v1/reviews/{id}/resolution"]["post"]["responses"];
        assert!(resolve["409"]["description"]
            .as_str()
            .unwrap()
            .contains("review_already_resolved"));
        assert!(resolve["429"]["headers"]["Retry-After"].is_object());
        let codes = &v["components"]["schemas"]["Problem"]["properties"]["code"]["enum"];
        for code in crate::service::error::ErrorCode::ALL {
            assert!(
                codes.as_array().unwrap().contains(&code.code().into()),
                "{} is not in the OpenAPI document",
                code.code()
            );
        }
    }
}
