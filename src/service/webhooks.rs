//! Webhook endpoints, registered by an organisation's admin (API or `idv webhooks`): the URL policy
//! (https only, public addresses only, unless the settings allow them), the signing secret shown once
//! and kept sealed, the deliveries' history and redelivery. Sending is `service::delivery`.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::caller::Caller;
use super::error::{ApiError, ErrorCode};
use crate::domain::clock::rfc3339;
use crate::domain::token::new_id;
use crate::domain::webhook::{new_secret, secret_key, WebhookEvent};
use crate::domain::Role;
use crate::settings::WebhookSettings;
use crate::store::{events_column, DeliveryRow, Store, WebhookRow};
use crate::vault::Vault;

/// The longest endpoint URL accepted.
pub const MAX_URL_LEN: usize = 2048;
/// Deliveries listed per endpoint (the newest).
const DELIVERIES_LISTED: i64 = 100;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    /// Where events are POSTed: `https://` (plain `http://` only where the service allows it), a
    /// public address (loopback and private addresses only where the service allows them).
    #[schema(
        min_length = 1,
        max_length = 2048,
        example = "https://applications.example.org/idv-events"
    )]
    pub url: String,
    /// The events to send, at least one, each once.
    #[schema(min_items = 1, max_items = 7)]
    pub events: Vec<WebhookEventName>,
}

/// An event an endpoint can subscribe to.
#[derive(Deserialize, Serialize, ToSchema, Clone, Copy)]
pub enum WebhookEventName {
    #[serde(rename = "verification.decided")]
    VerificationDecided,
    #[serde(rename = "verification.failed")]
    VerificationFailed,
    #[serde(rename = "review.resolved")]
    ReviewResolved,
    #[serde(rename = "capture_link.submitted")]
    CaptureLinkSubmitted,
    #[serde(rename = "consent.withdrawn")]
    ConsentWithdrawn,
    #[serde(rename = "subject.erased")]
    SubjectErased,
    #[serde(rename = "invigilation.flagged")]
    InvigilationFlagged,
}

impl WebhookEventName {
    pub fn event(self) -> WebhookEvent {
        match self {
            WebhookEventName::VerificationDecided => WebhookEvent::VerificationDecided,
            WebhookEventName::VerificationFailed => WebhookEvent::VerificationFailed,
            WebhookEventName::ReviewResolved => WebhookEvent::ReviewResolved,
            WebhookEventName::CaptureLinkSubmitted => WebhookEvent::CaptureLinkSubmitted,
            WebhookEventName::ConsentWithdrawn => WebhookEvent::ConsentWithdrawn,
            WebhookEventName::SubjectErased => WebhookEvent::SubjectErased,
            WebhookEventName::InvigilationFlagged => WebhookEvent::InvigilationFlagged,
        }
    }
}

#[derive(Serialize, ToSchema, Debug)]
pub struct WebhookView {
    pub id: String,
    pub url: String,
    pub events: Vec<String>,
    pub created_at: String,
}

impl From<&WebhookRow> for WebhookView {
    fn from(w: &WebhookRow) -> Self {
        WebhookView {
            id: w.id.clone(),
            url: w.url.clone(),
            events: w.event_names(),
            created_at: rfc3339(w.created_at),
        }
    }
}

/// A new endpoint, with its signing secret: shown this once, never again.
#[derive(Serialize, ToSchema, Debug)]
pub struct CreatedWebhook {
    pub id: String,
    pub url: String,
    pub events: Vec<String>,
    pub created_at: String,
    /// `whsec_` and base64: the key of the `webhook-signature` HMAC (Standard Webhooks).
    #[schema(example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]
    pub secret: String,
}

#[derive(Serialize, ToSchema)]
pub struct WebhookList {
    pub webhooks: Vec<WebhookView>,
}

/// One event sent (or being sent) to one endpoint. Its id is the `webhook-id` header.
#[derive(Serialize, ToSchema, Debug)]
pub struct DeliveryView {
    pub id: String,
    pub event_type: String,
    /// `pending` (being retried), `delivered` or `dead` (retries ran out).
    pub status: String,
    pub attempts: i64,
    pub created_at: String,
    pub last_attempt_at: Option<String>,
    /// The receiver's HTTP status at the last attempt (none: no answer).
    pub last_status: Option<i64>,
    /// Why the last attempt failed: `http_status`, `timeout`, `connect`, `address_refused`, `request`.
    pub last_error: Option<String>,
    /// When the next attempt is due (pending only).
    pub next_attempt_at: Option<String>,
    pub delivered_at: Option<String>,
}

impl From<&DeliveryRow> for DeliveryView {
    fn from(d: &DeliveryRow) -> Self {
        DeliveryView {
            id: d.id.clone(),
            event_type: d.event_type.clone(),
            status: d.status.clone(),
            attempts: d.attempts,
            created_at: rfc3339(d.created_at),
            last_attempt_at: d.last_attempt_at.map(rfc3339),
            last_status: d.last_status,
            last_error: d.last_error.clone(),
            next_attempt_at: (d.status == "pending").then(|| rfc3339(d.next_attempt_at)),
            delivered_at: d.delivered_at.map(rfc3339),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct DeliveryList {
    /// The newest first (at most 100).
    pub deliveries: Vec<DeliveryView>,
}

/// What a use case of this file needs: the database, the vault (secrets), the settings and now.
pub struct Hooks<'a> {
    pub store: &'a Store,
    pub vault: &'a Vault,
    pub settings: &'a WebhookSettings,
    pub now: i64,
}

/// Whether `ip` is a public unicast address (not loopback, private, link-local, shared, multicast,
/// documentation, benchmarking, reserved or unspecified; IPv4-mapped IPv6 judged as IPv4).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            !(v4.is_unspecified()
                || v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_multicast()
                || a == 0
                || a >= 240
                || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
                || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
                || (a == 198 && (b == 18 || b == 19))) // benchmarking
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            !(v6.is_unspecified()
                || v6.is_loopback()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link-local
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || (s[0] == 0x0064 && s[1] == 0xff9b) // NAT64 (reaches IPv4 space)
                || s[0] == 0) // IPv4-compatible and other reserved
        }
    }
}

/// Checks an endpoint URL against the policy; the error says what is wrong (no part of the URL).
pub fn check_url(url: &str, s: &WebhookSettings) -> Result<reqwest::Url, &'static str> {
    if url.is_empty() || url.len() > MAX_URL_LEN {
        return Err("`url` must be 1-2048 characters");
    }
    let parsed = reqwest::Url::parse(url).map_err(|_| "`url` is not an absolute URL")?;
    match parsed.scheme() {
        "https" => {}
        "http" if s.allow_http => {}
        _ => return Err("`url` must be https"),
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("`url` must not hold credentials");
    }
    if parsed.fragment().is_some() {
        return Err("`url` must not have a fragment");
    }
    let public = match parsed.host() {
        None => return Err("`url` must name a host"),
        Some(url::Host::Ipv4(ip)) => is_public(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => is_public(IpAddr::V6(ip)),
        Some(url::Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d != "localhost" && !d.ends_with(".localhost") && d.contains('.')
        }
    };
    if !public && !s.allow_private_addresses {
        return Err("`url` must be a public address (no loopback, private or local host)");
    }
    Ok(parsed)
}

fn refused(why: &str) -> ApiError {
    ApiError::detail(ErrorCode::WebhookUrlRefused, why)
}

/// Register an endpoint for `events`; the answer holds the signing secret, shown this once.
pub async fn register(
    h: &Hooks<'_>,
    caller: &Caller,
    body: NewWebhook,
) -> Result<CreatedWebhook, ApiError> {
    caller.require(&[Role::Admin])?;
    let url = check_url(body.url.trim(), h.settings).map_err(refused)?;
    if body.events.is_empty() {
        return Err(ApiError::detail(
            ErrorCode::InvalidField,
            "`events` must name at least one event",
        ));
    }
    let mut events: Vec<&str> = Vec::new();
    for e in &body.events {
        let name = e.event().as_str();
        if !events.contains(&name) {
            events.push(name);
        }
    }
    if h.store.webhooks(&caller.org).await?.len() >= h.settings.max_endpoints {
        return Err(ApiError::new(ErrorCode::WebhookLimitReached));
    }
    let id = new_id("wh");
    let secret = new_secret();
    let key = secret_key(&secret).ok_or_else(|| ApiError::internal("new secret unreadable"))?;
    let row = WebhookRow {
        id: id.clone(),
        org: caller.org.clone(),
        url: url.to_string(),
        events: events_column(&events),
        secret_sealed: h.vault.seal_webhook_secret(&id, &key),
        created_at: h.now,
    };
    let audit = crate::store::NewAudit {
        details: json!({"url": row.url, "events": events}),
        ..caller.audit(h.now, "webhook.created", &id)
    };
    h.store.create_webhook(&row, &audit).await?;
    let view = WebhookView::from(&row);
    Ok(CreatedWebhook {
        id: view.id,
        url: view.url,
        events: view.events,
        created_at: view.created_at,
        secret,
    })
}

/// The organisation's endpoints (never their secrets).
pub async fn list(h: &Hooks<'_>, caller: &Caller) -> Result<WebhookList, ApiError> {
    caller.require(&[Role::Admin])?;
    let rows = h.store.webhooks(&caller.org).await?;
    Ok(WebhookList {
        webhooks: rows.iter().map(WebhookView::from).collect(),
    })
}

/// Remove an endpoint: nothing more is sent to it, pending deliveries included.
pub async fn remove(h: &Hooks<'_>, caller: &Caller, id: &str) -> Result<(), ApiError> {
    caller.require(&[Role::Admin])?;
    let audit = caller.audit(h.now, "webhook.deleted", id);
    if h.store.delete_webhook(&caller.org, id, &audit).await? {
        Ok(())
    } else {
        Err(ApiError::new(ErrorCode::NotFound))
    }
}

/// An endpoint's deliveries, newest first.
pub async fn deliveries(
    h: &Hooks<'_>,
    caller: &Caller,
    id: &str,
) -> Result<DeliveryList, ApiError> {
    caller.require(&[Role::Admin])?;
    if h.store.webhook(&caller.org, id).await?.is_none() {
        return Err(ApiError::new(ErrorCode::NotFound));
    }
    let rows = h
        .store
        .deliveries(&caller.org, id, DELIVERIES_LISTED)
        .await?;
    Ok(DeliveryList {
        deliveries: rows.iter().map(DeliveryView::from).collect(),
    })
}

/// Send a delivery again now (with the same `webhook-id`, so a receiver that had it can tell), with a
/// new retry window.
pub async fn redeliver(
    h: &Hooks<'_>,
    caller: &Caller,
    id: &str,
    delivery_id: &str,
) -> Result<DeliveryView, ApiError> {
    caller.require(&[Role::Admin])?;
    let audit = caller.audit(h.now, "webhook.redelivered", delivery_id);
    if !h
        .store
        .redeliver(&caller.org, id, delivery_id, h.now, &audit)
        .await?
    {
        return Err(ApiError::new(ErrorCode::NotFound));
    }
    let row = h
        .store
        .delivery(&caller.org, id, delivery_id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound))?;
    Ok(DeliveryView::from(&row))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strict() -> WebhookSettings {
        WebhookSettings::default()
    }

    #[test]
    fn public_addresses_only() {
        for ip in ["8.8.8.8", "1.1.1.1", "2606:4700::1111", "::ffff:8.8.8.8"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.2.1",
            "198.18.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn urls_must_be_https_and_public_unless_allowed() {
        assert!(check_url("https://hooks.example.org/idv", &strict()).is_ok());
        for bad in [
            "http://hooks.example.org/idv",
            "ftp://hooks.example.org/",
            "https://127.0.0.1/x",
            "https://[::1]/x",
            "https://10.0.0.5/x",
            "https://169.254.169.254/latest/meta-data",
            "https://localhost/x",
            "https://api.localhost/x",
            "https://intranet/x",
            "https://user:pw@hooks.example.org/",
            "https://hooks.example.org/#frag",
            "not a url",
            "",
        ] {
            assert!(check_url(bad, &strict()).is_err(), "{bad}");
        }
        let long = format!("https://hooks.example.org/{}", "a".repeat(MAX_URL_LEN));
        assert!(check_url(&long, &strict()).is_err());
        let lax = WebhookSettings {
            allow_http: true,
            allow_private_addresses: true,
            ..strict()
        };
        assert!(check_url("http://127.0.0.1:8080/hook", &lax).is_ok());
        assert!(check_url("ftp://127.0.0.1/", &lax).is_err());
    }
}
