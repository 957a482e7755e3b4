//! The OpenAPI 3.1 document (generated from the handlers' annotations; committed as docs/openapi.json,
//! checked for drift by a test) and a small interactive page at `/docs` served by idv itself: no CDN.

use axum::response::Html;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "idv", description = "Biometric identity verification: consents, verifications and their decision records, and the data-subject rights over them."),
    paths(
        super::consents::create, super::consents::get, super::consents::withdraw,
        super::verifications::create, super::verifications::get, super::challenges::create,
        super::subjects::export, super::subjects::erase, super::subjects::restrict,
        super::subjects::unrestrict, super::reviews::list, super::reviews::get,
        super::reviews::media, super::reviews::identity, super::reviews::resolve, super::invigilation::create,
        super::invigilation::frame, super::invigilation::get, super::invigilation::close,
        super::capture_links::create, super::capture_links::get,
    ),
    components(schemas(crate::http::error::Problem)),
    modifiers(&BearerAuth),
    tags((name = "consents"), (name = "verifications"), (name = "invigilation", description = "Remote invigilation: webcam frames checked against the enrolled candidate; flags go to a person"), (name = "reviews", description = "Human review of referred and sampled decisions (reviewer role)"), (name = "subjects", description = "Data-subject rights: access, erasure, restriction (auditor role)"), (name = "capture", description = "One-time links to the applicant capture page (/capture/{token}): privacy notice and consent, document photo, challenge video and selfie from the browser's camera")),
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
    }
}
