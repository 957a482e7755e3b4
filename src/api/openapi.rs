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
    modifiers(&BearerAuth, &ErrorCodes),
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
