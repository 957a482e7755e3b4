//! The HTTP edge: connections timed out and capped, every error as problem+json with a code of the
//! error table, no-store on what carries subject data, Retry-After on 429s, key guessing throttled.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use idv::domain::clock::Clock;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::*;

fn addr(app: &TestApp) -> SocketAddr {
    app.base.trim_start_matches("http://").parse().unwrap()
}

/// Reads until the server closes the connection (or `limit` passes: then None).
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Vec<u8>> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(seen),
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

/// Reads one response head and its `Content-Length` body from a kept-alive connection.
async fn read_response(stream: &mut TcpStream) -> String {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
            .await
            .expect("a response in time")
            .unwrap();
        assert!(n > 0, "closed before a full response");
        seen.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&seen).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            if body.len() >= length {
                return text;
            }
        }
    }
}

async fn spawn_edge(db: Db, edit: impl FnOnce(&mut idv::settings::Settings)) -> TestApp {
    let mut settings = settings_for(&fresh_database(db).await).await;
    edit(&mut settings);
    TestApp::spawn_with(settings).await
}

on_both!(slow_and_idle_connections_are_closed, |db| async move {
    let app = spawn_edge(db, |s| {
        s.service.header_read_timeout_secs = 1;
        s.service.keep_alive_idle_secs = 2;
    })
    .await;
    // Half a request head, then nothing: closed a second after its first byte, with no answer.
    let mut slow = TcpStream::connect(addr(&app)).await.unwrap();
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: idv\r\nX-Slow: ")
        .await
        .unwrap();
    let started = Instant::now();
    let answer = closed_within(&mut slow, Duration::from_secs(5))
        .await
        .expect("a slow head is closed");
    assert!(answer.is_empty(), "no response to half a head");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "{took:?}"
    );

    // A kept-alive connection that goes quiet after its response: closed after the idle limit.
    let mut idle = TcpStream::connect(addr(&app)).await.unwrap();
    idle.write_all(b"GET /health HTTP/1.1\r\nHost: idv\r\n\r\n")
        .await
        .unwrap();
    assert!(read_response(&mut idle).await.starts_with("HTTP/1.1 200"));
    let answered = Instant::now();
    assert!(closed_within(&mut idle, Duration::from_secs(6))
        .await
        .is_some());
    let idle_for = answered.elapsed();
    assert!(
        idle_for >= Duration::from_millis(1900) && idle_for < Duration::from_secs(4),
        "{idle_for:?}"
    );

    // A connection that never sends a byte: the idle limit too.
    let mut silent = TcpStream::connect(addr(&app)).await.unwrap();
    assert!(closed_within(&mut silent, Duration::from_secs(6))
        .await
        .is_some());

    // A request that takes longer than either limit is not cut: the connection is busy, not idle.
    let key = app.key("acme", "submitter").await;
    let consent = app.consent(&key, "s1", "ecs_application").await;
    let (status, v) = app
        .verify(
            &key,
            &fields("s1", &consent, "ecs_application"),
            "obama2.jpg",
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    app.stop().await;
});

on_both!(
    connections_past_the_cap_wait_until_one_closes,
    |db| async move {
        let app = spawn_edge(db, |s| s.service.max_connections = 2).await;
        let mut held = Vec::new();
        for _ in 0..2 {
            let mut c = TcpStream::connect(addr(&app)).await.unwrap();
            c.write_all(b"GET /health HTTP/1.1\r\nHost: idv\r\n\r\n")
                .await
                .unwrap();
            assert!(read_response(&mut c).await.starts_with("HTTP/1.1 200"));
            held.push(c);
        }
        // The third is queued in the backlog, unanswered while both are open...
        let mut third = TcpStream::connect(addr(&app)).await.unwrap();
        third
            .write_all(b"GET /health HTTP/1.1\r\nHost: idv\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 64];
        assert!(
            tokio::time::timeout(Duration::from_millis(700), third.read(&mut buf))
                .await
                .is_err(),
            "answered past the cap"
        );
        // ...and served as soon as one closes.
        drop(held.pop());
        assert!(read_response(&mut third).await.starts_with("HTTP/1.1 200"));
        app.stop().await;
    }
);

/// The status, content type, headers and body of a response, checked to be problem+json.
async fn problem(r: reqwest::Response) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let status = r.status();
    let headers = r.headers().clone();
    assert_eq!(
        headers["content-type"], "application/problem+json",
        "{status}"
    );
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["status"], status.as_u16());
    let code = v["code"].as_str().unwrap().to_string();
    let doc: Value = serde_json::from_str(&idv::api::openapi::document()).unwrap();
    let listed = &doc["components"]["schemas"]["Problem"]["properties"]["code"]["enum"];
    assert!(
        listed.as_array().unwrap().contains(&json!(code)),
        "{code} not in the OpenAPI document"
    );
    (status, headers, v)
}

/// A raw request (what reqwest will not send: a body it does not send, a path it would re-encode).
async fn raw(app: &TestApp, request: &str) -> String {
    let mut c = TcpStream::connect(addr(app)).await.unwrap();
    c.write_all(request.as_bytes()).await.unwrap();
    read_response(&mut c).await
}

on_both!(
    every_error_is_problem_json_with_a_listed_code,
    |db| async move {
        let app = spawn_edge(db, |s| s.service.request_timeout_secs = 1).await;
        let key = app.key("acme", "submitter").await;
        let reviewer = app.key("acme", "reviewer").await;
        let get = |path: &str, key: &str| {
            app.http
                .get(format!("{}{path}", app.base))
                .bearer_auth(key)
                .send()
        };

        let (status, _, v) = problem(get("/v1/reviews?limit=abc", &reviewer).await.unwrap()).await;
        assert_eq!(
            (status, v["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_field"))
        );
        assert!(v["detail"].as_str().unwrap().contains("limit"), "{v}");
        let (status, _, v) =
            problem(get("/v1/reviews?purpose=bogus", &reviewer).await.unwrap()).await;
        assert_eq!(
            (status, v["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_field"))
        );

        // Invalid UTF-8 in a path segment: refused without quoting it.
        let (status, _, v) = problem(get("/v1/verifications/%FF%FE", &key).await.unwrap()).await;
        assert_eq!(
            (status, v["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_request"))
        );
        assert!(!v.to_string().contains("FF"), "{v}");
        let (status, _, v) = problem(get("/v1/nothing/%FF", &key).await.unwrap()).await;
        assert_eq!(
            (status, v["code"].as_str()),
            (StatusCode::NOT_FOUND, Some("not_found"))
        );

        // A wrong method: 405 with Allow.
        let r = app
            .http
            .delete(format!("{}/v1/verifications", app.base))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        let (status, headers, v) = problem(r).await;
        assert_eq!(
            (status, v["code"].as_str()),
            (StatusCode::METHOD_NOT_ALLOWED, Some("method_not_allowed"))
        );
        assert!(
            headers["allow"].to_str().unwrap().contains("POST"),
            "{headers:?}"
        );

        // A 20 KiB header: 431.
        let r = app
            .http
            .get(format!("{}/health", app.base))
            .header("x-filler", "a".repeat(20 << 10))
            .send()
            .await
            .unwrap();
        let (status, _, v) = problem(r).await;
        assert_eq!(
            (status, v["code"].as_str()),
            (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                Some("header_too_large")
            )
        );

        // Bodies over their route's limit: a JSON route's 64 KiB (a streamed one: http::extract's tests)...
        let big = json!({"subject_ref": "s".repeat(100 << 10)});
        let r = app
            .http
            .post(format!("{}/v1/consents", app.base))
            .bearer_auth(&key)
            .json(&big)
            .send()
            .await
            .unwrap();
        let (status, _, v) = problem(r).await;
        assert_eq!(
            (status, v["code"].as_str()),
            (StatusCode::PAYLOAD_TOO_LARGE, Some("body_too_large"))
        );
        // ...and a frame over the image limit, refused from its Content-Length before a byte is read.
        let answer = raw(
        &app,
        &format!(
            "POST /v1/invigilation/sessions/ses_x/frames HTTP/1.1\r\nHost: idv\r\nAuthorization: Bearer {key}\r\n\
             Content-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n",
            (20 << 20) + 1
        ),
    )
    .await;
        assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
        assert!(
            answer.contains("application/problem+json") && answer.contains("\"image_too_large\""),
            "{answer}"
        );

        // A body that never finishes: the request's time limit (request_timeout_secs + 5), 408.
        let answer = raw(
            &app,
            &format!(
                "POST /v1/consents HTTP/1.1\r\nHost: idv\r\nAuthorization: Bearer {key}\r\n\
             Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"subject_ref\""
            ),
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(
            answer.contains("application/problem+json") && answer.contains("\"request_timeout\""),
            "{answer}"
        );

        // No key, and an unknown route.
        let r = app
            .http
            .get(format!("{}/v1/reviews", app.base))
            .send()
            .await
            .unwrap();
        let (status, _, v) = problem(r).await;
        assert_eq!(
            (status, v["code"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("unauthenticated"))
        );
        let (status, _, _) = problem(get("/nope", &key).await.unwrap()).await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        // The console keeps its pages: a wrong method there is an HTML page with the code and Allow.
        let r = app
            .http
            .put(format!("{}/review/signin", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert!(r.headers()["allow"].to_str().unwrap().contains("GET"));
        assert!(r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        assert!(r.text().await.unwrap().contains("method_not_allowed"));
        app.stop().await;
    }
);

on_both!(subject_data_is_never_cached, |db| async move {
    let app = TestApp::spawn(db).await;
    let key = app.key("acme", "submitter").await;
    let auditor = app.key("acme", "auditor").await;
    let consent = app.consent(&key, "s1", "ecs_application").await;
    let (status, v) = app
        .verify(
            &key,
            &fields("s1", &consent, "ecs_application"),
            "obama2.jpg",
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let id = v["id"].as_str().unwrap();
    for (who, path) in [
        (&key, format!("/v1/verifications/{id}")),
        (&key, format!("/v1/consents/{consent}")),
        (&auditor, "/v1/subjects/s1/export".to_string()),
        (&key, "/v1/verifications/ver_unknown".to_string()),
    ] {
        let r = app
            .http
            .get(format!("{}{path}", app.base))
            .bearer_auth(who)
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.headers()["cache-control"],
            "no-store",
            "{path}: {}",
            r.status()
        );
    }
    for public in ["/health", "/openapi.json"] {
        let r = app
            .http
            .get(format!("{}{public}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert!(r.headers().get("cache-control").is_none(), "{public}");
    }
    app.stop().await;
});

/// A client whose connections come from `from` (any 127.x address reaches the server).
fn client_from(from: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .local_address(from.parse::<IpAddr>().unwrap())
        .build()
        .unwrap()
}

on_both!(
    key_guessing_is_throttled_per_address_across_replicas,
    |db| async move {
        let db_url = fresh_database(db).await;
        let clock = Clock::manual(1_800_000_000_000);
        let mut settings = settings_for(&db_url).await;
        settings.service.auth_failure_limit = 3;
        settings.service.auth_failure_window_secs = 60;
        let one = TestApp::spawn_with_clock(settings.clone(), clock.clone()).await;
        let other = TestApp::spawn_with_clock(settings, clock.clone()).await;
        let key = one.key("acme", "submitter").await;
        let guesser = client_from("127.0.0.2");
        let bystander = client_from("127.0.0.3");
        let status_of = |client: &reqwest::Client, base: &str, key: &str| {
            let req = client
                .get(format!("{base}/v1/verifications/ver_x"))
                .bearer_auth(key)
                .send();
            async move { req.await.unwrap() }
        };
        // Three wrong keys, spread over both servers: 401 each.
        for (n, base) in [&one.base, &other.base, &one.base].into_iter().enumerate() {
            let r = status_of(&guesser, base, &format!("guess-{n}")).await;
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        }
        // Now even the right key is refused from that address, on either server, with Retry-After.
        for base in [&one.base, &other.base] {
            let r = status_of(&guesser, base, &key).await;
            let (status, headers, v) = problem(r).await;
            assert_eq!(
                (status, v["code"].as_str()),
                (StatusCode::TOO_MANY_REQUESTS, Some("auth_throttled"))
            );
            let secs: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
            assert!((1..=60).contains(&secs), "{secs}");
        }
        // Another address is not affected.
        assert_eq!(
            status_of(&bystander, &one.base, &key).await.status(),
            StatusCode::NOT_FOUND
        );
        // When the window ends, the right key works again.
        clock.advance(61_000);
        assert_eq!(
            status_of(&guesser, &other.base, &key).await.status(),
            StatusCode::NOT_FOUND
        );
        one.stop().await;
        other.stop().await;
    }
);

on_both!(
    a_keys_rate_limit_is_shared_by_replicas_on_postgresql,
    |db| async move {
        // Two servers on one database, a key allowed a burst of 4 and then one request a minute (the
        // clock stands still, so nothing refills).
        let postgres = matches!(db, Db::Postgres);
        let db_url = fresh_database(db).await;
        let clock = Clock::manual(1_800_000_000_000);
        let mut settings = settings_for(&db_url).await;
        settings.service.rate_limit_burst = 4.0;
        settings.service.rate_limit_per_sec = 1.0 / 60.0;
        let one = TestApp::spawn_with_clock(settings.clone(), clock.clone()).await;
        let other = TestApp::spawn_with_clock(settings, clock.clone()).await;
        let key = one.key("acme", "submitter").await;
        let mut statuses = Vec::new();
        for n in 0..8 {
            let app = if n % 2 == 0 { &one } else { &other };
            let r = app
                .http
                .get(format!("{}/v1/verifications/ver_x", app.base))
                .bearer_auth(&key)
                .send()
                .await
                .unwrap();
            let retry_after = r.headers().get("retry-after").cloned();
            let (status, v) = (r.status(), r.json::<Value>().await.unwrap());
            if status == StatusCode::TOO_MANY_REQUESTS {
                assert_eq!(v["code"], "rate_limited");
                assert_eq!(retry_after.unwrap(), "60");
            }
            statuses.push(status);
        }
        let allowed = statuses
            .iter()
            .filter(|s| **s == StatusCode::NOT_FOUND)
            .count();
        // PostgreSQL: one bucket for both servers. SQLite (one server per database in production):
        // each process keeps its own, so two of them allow twice the burst.
        assert_eq!(allowed, if postgres { 4 } else { 8 }, "{statuses:?}");
        other.stop().await;
        one.stop().await;
    }
);
