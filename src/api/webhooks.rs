//! Webhook endpoints through the API (admin role): register, list, remove; an endpoint's deliveries
//! and redelivery. The events themselves are sent by `service::delivery`.

use crate::http::extract::Path;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

use crate::http::extract::JsonBody;
use crate::service::caller::Caller;
use crate::service::error::ApiError;
use crate::service::state::AppState;
use crate::service::webhooks::{
    self, CreatedWebhook, DeliveryList, DeliveryView, Hooks, NewWebhook, WebhookList,
};

fn hooks(state: &AppState) -> Hooks<'_> {
    Hooks {
        store: &state.store,
        vault: &state.vault,
        settings: &state.settings.webhooks,
        now: state.clock.now_ms(),
    }
}

/// Register an endpoint for events of your organisation. The answer holds the signing secret
/// (`whsec_…`), shown this once: each delivery is signed with it as Standard Webhooks says.
#[utoipa::path(post, path = "/v1/webhooks", request_body = NewWebhook, tag = "webhooks",
    responses((status = 201, body = CreatedWebhook), (status = "4XX", body = crate::http::error::Problem)),
    security(("api_key" = [])))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<NewWebhook>,
) -> Result<(StatusCode, Json<CreatedWebhook>), ApiError> {
    let created = webhooks::register(&hooks(&state), &caller, body).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Your organisation's endpoints (never their secrets).
#[utoipa::path(get, path = "/v1/webhooks", tag = "webhooks",
    responses((status = 200, body = WebhookList), (status = "4XX", body = crate::http::error::Problem)),
    security(("api_key" = [])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<WebhookList>, ApiError> {
    Ok(Json(webhooks::list(&hooks(&state), &caller).await?))
}

/// Remove an endpoint: nothing more is sent to it, pending deliveries included.
#[utoipa::path(delete, path = "/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = String, Path)),
    responses((status = 204), (status = "4XX", body = crate::http::error::Problem)),
    security(("api_key" = [])))]
pub async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    webhooks::remove(&hooks(&state), &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An endpoint's deliveries, newest first: each event, its status and its last attempt.
#[utoipa::path(get, path = "/v1/webhooks/{id}/deliveries", tag = "webhooks",
    params(("id" = String, Path)),
    responses((status = 200, body = DeliveryList), (status = "4XX", body = crate::http::error::Problem)),
    security(("api_key" = [])))]
pub async fn deliveries(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<DeliveryList>, ApiError> {
    Ok(Json(
        webhooks::deliveries(&hooks(&state), &caller, &id).await?,
    ))
}

/// Send a delivery again now (a dead-lettered one too), with the same `webhook-id` and a new retry window.
#[utoipa::path(post, path = "/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver", tag = "webhooks",
    params(("id" = String, Path), ("delivery_id" = String, Path)),
    responses((status = 202, body = DeliveryView), (status = "4XX", body = crate::http::error::Problem)),
    security(("api_key" = [])))]
pub async fn redeliver(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, delivery_id)): Path<(String, String)>,
) -> Result<(StatusCode, Json<DeliveryView>), ApiError> {
    let view = webhooks::redeliver(&hooks(&state), &caller, &id, &delivery_id).await?;
    Ok((StatusCode::ACCEPTED, Json(view)))
}
