//! The `/v1` API: thin handlers that authenticate the key, parse the request, call the use case in
//! `service` and answer JSON (errors as problem+json); and the API's OpenAPI document and `/docs`.

pub mod auth;
pub mod capture_links;
pub mod challenges;
pub mod consents;
pub mod invigilation;
pub mod openapi;
pub mod reviews;
pub mod subjects;
pub mod verifications;
pub mod webhooks;

use axum::middleware::from_fn_with_state;
use axum::routing::{delete, get, post};
use axum::Router;

use crate::domain::Role;
use crate::service::state::AppState;

const SUBMITTER: &[Role] = &[Role::Submitter];
const READERS: &[Role] = &[Role::Submitter, Role::Reviewer, Role::Auditor];
const REVIEW_READERS: &[Role] = &[Role::Reviewer, Role::Auditor];
const REVIEWER: &[Role] = &[Role::Reviewer];
const AUDITOR: &[Role] = &[Role::Auditor];
const ADMIN: &[Role] = &[Role::Admin];

/// The API's routes, grouped by the roles they admit (the README's table; `admin` has only the webhook
/// endpoints, which hold no personal data: it runs the service and touches none), to merge into the service's
/// router. Each group authenticates and checks the role before its handlers read anything.
pub fn router(state: &AppState) -> Router<AppState> {
    let only = |roles: &'static [Role]| from_fn_with_state((state.clone(), roles), auth::admit);
    let submitter = Router::new()
        .route("/v1/consents", post(consents::create))
        .route(
            "/v1/consents/{consent_ref}/withdraw",
            post(consents::withdraw),
        )
        .route("/v1/verifications", post(verifications::create))
        .route("/v1/challenges", post(challenges::create))
        .route("/v1/capture-links", post(capture_links::create))
        .route("/v1/invigilation/sessions", post(invigilation::create))
        .route(
            "/v1/invigilation/sessions/{id}/frames",
            post(invigilation::frame),
        )
        .route(
            "/v1/invigilation/sessions/{id}/close",
            post(invigilation::close),
        )
        .route_layer(only(SUBMITTER));
    let readers = Router::new()
        .route("/v1/consents/{consent_ref}", get(consents::get))
        .route("/v1/verifications/{id}", get(verifications::get))
        .route("/v1/capture-links/{id}", get(capture_links::get))
        .route("/v1/invigilation/sessions/{id}", get(invigilation::get))
        .route_layer(only(READERS));
    let review_readers = Router::new()
        .route("/v1/reviews", get(reviews::list))
        .route("/v1/reviews/{id}", get(reviews::get))
        .route_layer(only(REVIEW_READERS));
    let reviewer = Router::new()
        .route("/v1/reviews/{id}/media/{kind}", get(reviews::media))
        .route("/v1/reviews/{id}/identity", get(reviews::identity))
        .route("/v1/reviews/{id}/resolution", post(reviews::resolve))
        .route_layer(only(REVIEWER));
    let auditor = Router::new()
        .route("/v1/subjects/{subject_ref}", delete(subjects::erase))
        .route("/v1/subjects/{subject_ref}/export", get(subjects::export))
        .route(
            "/v1/subjects/{subject_ref}/restrict",
            post(subjects::restrict),
        )
        .route(
            "/v1/subjects/{subject_ref}/unrestrict",
            post(subjects::unrestrict),
        )
        .route_layer(only(AUDITOR));
    let admin = Router::new()
        .route("/v1/webhooks", post(webhooks::create).get(webhooks::list))
        .route("/v1/webhooks/{id}", delete(webhooks::remove))
        .route("/v1/webhooks/{id}/deliveries", get(webhooks::deliveries))
        .route(
            "/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver",
            post(webhooks::redeliver),
        )
        .route_layer(only(ADMIN));
    Router::new()
        .merge(submitter)
        .merge(readers)
        .merge(review_readers)
        .merge(reviewer)
        .merge(auditor)
        .merge(admin)
        .route("/openapi.json", get(openapi::json))
        .route("/docs", get(openapi::page))
}
