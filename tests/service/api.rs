//! The HTTP service end to end: the real server on port 0 with a fresh database per test, on SQLite
//! always and on PostgreSQL when IDV_TEST_POSTGRES_URL is set (.ci/run sets it).

use std::process::Stdio;
use std::time::Duration;

use idv::http::Application;
use idv::store::{now_ms, Store};
use reqwest::multipart::{Form, Part};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::harness::*;
use crate::support::{eventually, sample};

on_both!(consent_then_sync_and_async_verifications, |db| async move {
    let app = TestApp::spawn(db).await;
    let key = app.key("acme", "submitter").await;
    let consent = app.consent(&key, "applicant-1", "ecs_application").await;
    let (consent_status, c) = app.get(&key, &format!("/v1/consents/{consent}")).await;
    assert_eq!(consent_status, StatusCode::OK);
    assert_eq!(c["notice_version"], "2026-10");

    let (status, v) = app
        .verify(
            &key,
            &fields("applicant-1", &consent, "ecs_application"),
            "obama3.jpg",
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["decision"], "verified", "{v}");
    assert_eq!(v["consent_ref"], consent.as_str());
    assert_eq!(v["comparison"], "match");
    assert!(v["scores"]["similarity"].as_f64().unwrap() > 0.4);
    let models = v["models"].as_array().unwrap();
    assert!(models
        .iter()
        .any(|m| m["name"] == "feature" && m["sha256"].as_str().unwrap().len() == 64));
    assert_eq!(v["input_digests"]["document"].as_str().unwrap().len(), 64);
    let id = v["id"].as_str().unwrap();
    let (_, again) = app.get(&key, &format!("/v1/verifications/{id}")).await;
    assert_eq!(again["decision"], "verified");
    assert_eq!(again["consent_ref"], consent.as_str());

    // Asynchronous, different person: referred to a person, never rejected.
    let (status, pending) = app
        .verify(
            &key,
            &fields("applicant-1", &consent, "ecs_application"),
            "biden.jpg",
            &[("Prefer", "respond-async")],
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let decided = app
        .wait_decided(&key, pending["id"].as_str().unwrap())
        .await;
    assert_eq!(decided["decision"], "referred");
    assert_eq!(decided["comparison"], "no_match");
    assert!(decided["review_case_id"]
        .as_str()
        .unwrap()
        .starts_with("rev_"));
    assert_eq!(decided["consent_ref"], consent.as_str());
    app.stop().await;
});

on_both!(idempotency_key_replays_and_refuses_reuse, |db| async move {
    let app = TestApp::spawn(db).await;
    let key = app.key("acme", "submitter").await;
    let consent = app.consent(&key, "s1", "ecs_application").await;
    let f = fields("s1", &consent, "ecs_application");
    let (s1, first) = app
        .verify(&key, &f, "obama2.jpg", &[("Idempotency-Key", "k-1")])
        .await;
    let (s2, second) = app
        .verify(&key, &f, "obama2.jpg", &[("Idempotency-Key", "k-1")])
        .await;
    assert_eq!((s1, s2), (StatusCode::OK, StatusCode::OK));
    assert_eq!(first["id"], second["id"]);
    let (s3, err) = app
        .verify(&key, &f, "biden.jpg", &[("Idempotency-Key", "k-1")])
        .await;
    assert_eq!(s3, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(err["code"], "idempotency_key_reused");
    assert_eq!(app.events("verification.decided").await.len(), 1);
    app.stop().await;
});

on_both!(
    consent_problems_are_refused_before_processing,
    |db| async move {
        let app = TestApp::spawn(db).await;
        let key = app.key("acme", "submitter").await;
        let consent = app.consent(&key, "s1", "ecs_application").await;
        let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
            (
                vec![("subject_ref", "s1"), ("purpose", "ecs_application")],
                "consent_required",
            ),
            (
                fields("s1", "cns_unknown", "ecs_application"),
                "consent_not_found",
            ),
            (
                fields("s1", &consent, "remote_invigilation"),
                "consent_purpose_mismatch",
            ),
            (
                fields("someone-else", &consent, "ecs_application"),
                "consent_subject_mismatch",
            ),
        ];
        for (f, code) in cases {
            let (status, v) = app.verify(&key, &f, "obama2.jpg", &[]).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{code}: {v}");
            assert_eq!(v["code"], code);
        }
        let r = app
            .http
            .post(format!("{}/v1/consents/{consent}/withdraw", app.base))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let (status, v) = app
            .verify(
                &key,
                &fields("s1", &consent, "ecs_application"),
                "obama2.jpg",
                &[("Prefer", "respond-async")],
            )
            .await;
        assert_eq!(
            (status, v["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("consent_withdrawn"))
        );
        // Nothing was stored or processed for any of them.
        assert!(app.events("verification.requested").await.is_empty());
        assert!(app.events("verification.decided").await.is_empty());
        app.stop().await;
    }
);

on_both!(organisations_and_roles_are_enforced, |db| async move {
    let app = TestApp::spawn(db).await;
    let acme = app.key("acme", "submitter").await;
    let other = app.key("globex", "auditor").await;
    let reviewer = app.key("acme", "reviewer").await;
    let consent = app.consent(&acme, "s1", "ecs_application").await;
    let (_, v) = app
        .verify(
            &acme,
            &fields("s1", &consent, "ecs_application"),
            "obama2.jpg",
            &[],
        )
        .await;
    let id = v["id"].as_str().unwrap();

    for path in [
        format!("/v1/verifications/{id}"),
        format!("/v1/consents/{consent}"),
    ] {
        let (status, body) = app.get(&other, &path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(body["code"], "not_found");
    }
    let (status, _) = app.get(&reviewer, &format!("/v1/verifications/{id}")).await;
    assert_eq!(status, StatusCode::OK, "a reviewer may read");
    // The role is refused before the body is read, so the server may close the connection while a
    // large upload is still being written: send a small one, as a client using `Expect` would.
    let form = Form::new()
        .text("subject_ref", "s1")
        .text("consent_ref", consent.clone())
        .text("purpose", "ecs_application");
    let r = app
        .http
        .post(format!("{}/v1/verifications", app.base))
        .bearer_auth(&reviewer)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "forbidden_role");
    let r = app
        .http
        .get(format!("{}/v1/verifications/{id}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    app.stop().await;
});

on_both!(audit_verify_detects_an_edited_row, |db| async move {
    let app = TestApp::spawn(db).await;
    let key = app.key("acme", "submitter").await;
    let consent = app.consent(&key, "s1", "ecs_application").await;
    app.verify(
        &key,
        &fields("s1", &consent, "ecs_application"),
        "obama2.jpg",
        &[],
    )
    .await;
    let db_url = app.db_url.clone();
    app.stop().await;
    let store = Store::connect(&db_url).await.unwrap();

    let audit = |url: &str| idv_on(url, &["audit", "verify"]);
    let ok = audit(&db_url);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("intact"));

    store
        .execute_raw("UPDATE audit_log SET details = '{\"purpose\":\"marketing\"}' WHERE seq = 2")
        .await
        .unwrap();
    let bad = audit(&db_url);
    assert_eq!(bad.status.code(), Some(1));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("audit_chain_broken") && err.contains("entry 2"),
        "{err}"
    );
});

on_both!(bad_requests_get_their_codes, |db| async move {
    let app = TestApp::spawn(db).await;
    let key = app.key("acme", "submitter").await;
    let consent = app.consent(&key, "s1", "ecs_application").await;
    // JSON where multipart is expected.
    let r = app
        .http
        .post(format!("{}/v1/verifications", app.base))
        .bearer_auth(&key)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // A broken multipart body.
    let r = app
        .http
        .post(format!("{}/v1/verifications", app.base))
        .bearer_auth(&key)
        .header("content-type", "multipart/form-data; boundary=xyz")
        .body("--xyz\r\nContent-Disposition: form-data; name=\"selfie\"\r\n\r\nabc")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        r.json::<Value>().await.unwrap()["code"],
        "malformed_multipart"
    );
    // A text file as an image: the request cannot be evaluated, nothing is decided.
    let form = Form::new()
        .part("document", Part::bytes(b"not an image".to_vec()))
        .part(
            "selfie",
            Part::bytes(std::fs::read(sample("obama2.jpg")).unwrap()),
        )
        .text("subject_ref", "s1")
        .text("consent_ref", consent.clone())
        .text("purpose", "ecs_application");
    let r = app
        .http
        .post(format!("{}/v1/verifications", app.base))
        .bearer_auth(&key)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["code"], "image_unsupported_format");
    assert!(v["detail"].as_str().unwrap().starts_with("document:"));
    // A consent body with an unknown purpose.
    let r = app
        .http
        .post(format!("{}/v1/consents", app.base))
        .bearer_auth(&key)
        .json(&json!({"subject_ref": "s", "purpose": "marketing", "lawful_basis": "explicit_consent", "notice_version": "1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "invalid_field");
    app.stop().await;
});

fn start_server(db_url: &str) -> ServerProcess {
    start_server_with(
        db_url,
        &["--job-workers", "1", "--job-lease-secs", "2"],
        Stdio::null(),
    )
}

/// Submits `n` asynchronous verifications and returns their ids.
async fn submit_jobs(client: &TestApp, key: &str, consent: &str, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for _ in 0..n {
        let (status, v) = client
            .verify(
                key,
                &fields("s1", consent, "ecs_application"),
                "obama3.jpg",
                &[("Prefer", "respond-async")],
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED);
        ids.push(v["id"].as_str().unwrap().to_string());
    }
    ids
}

on_both!(
    a_job_interrupted_by_sigkill_completes_once_after_restart,
    |db| async move {
        let db_url = fresh_database(db).await;
        // A first server creates the schema; jobs are submitted to it and it is killed while working on them.
        let mut server = start_server(&db_url);
        let store = Store::connect(&db_url).await.unwrap();
        let key = create_key(&store, "acme", "submitter").await;
        let client = TestApp {
            base: server.base.clone(),
            db_url: db_url.clone(),
            store: store.clone(),
            http: client(),
            stop: None,
            task: tokio::spawn(async {}),
        };
        let consent = client.consent(&key, "s1", "ecs_application").await;
        let mut ids = submit_jobs(&client, &key, &consent, 12).await;
        // Kill it once it has decided some but not all: the one it is working on is interrupted. Should a
        // slow test runner look only after the last job was done, another batch gives it one to interrupt.
        let mut decided_before = 0;
        for batch in 1.. {
            let c = &client;
            let done = eventually(
                Duration::from_secs(60),
                "a job of the batch to be decided",
                move || async move {
                    let done = c.events("verification.decided").await.len();
                    (done > decided_before).then_some(done)
                },
            )
            .await;
            if done < ids.len() || batch == 3 {
                assert!(
                    done < ids.len(),
                    "the server finished everything before it could be killed"
                );
                break;
            }
            decided_before = done;
            ids.extend(submit_jobs(&client, &key, &consent, 12).await);
        }
        server.child.kill().unwrap(); // SIGKILL
        server.child.wait().unwrap();

        let mut restarted = start_server(&db_url);
        let client = TestApp {
            base: restarted.base.clone(),
            ..client
        };
        for id in &ids {
            let v = client.wait_decided(&key, id).await;
            assert_eq!(v["decision"], "verified", "{v}");
        }
        restarted.child.kill().unwrap();
        restarted.child.wait().unwrap();
        let mut decided = client.events("verification.decided").await;
        decided.sort();
        let mut expected = ids.clone();
        expected.sort();
        assert_eq!(decided, expected, "every job decided exactly once");
        let (entries, head) = store.audit_chain().await.unwrap();
        assert!(idv::audit::verify_chain(&entries, (head.0, &head.1)).is_ok());
    }
);

/// Two servers on one PostgreSQL share the jobs table: 50 jobs, none lost, none done twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(idv_test_postgres), ignore = "set IDV_TEST_POSTGRES_URL to run")]
async fn two_servers_on_one_postgres_share_50_jobs() {
    let db_url = fresh_database(Db::Postgres).await;
    let a = TestApp::spawn_on(&db_url).await;
    let b = TestApp::spawn_on(&db_url).await;
    let key = a.key("acme", "submitter").await;
    let consent = a.consent(&key, "s1", "ecs_application").await;
    let mut ids = Vec::new();
    for i in 0..50 {
        let app = if i % 2 == 0 { &a } else { &b };
        let selfie = if i % 5 == 0 {
            "biden.jpg"
        } else {
            "obama2.jpg"
        };
        let (status, v) = app
            .verify(
                &key,
                &fields("s1", &consent, "ecs_application"),
                selfie,
                &[("Prefer", "respond-async")],
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED);
        ids.push(v["id"].as_str().unwrap().to_string());
    }
    for id in &ids {
        a.wait_decided(&key, id).await;
    }
    let mut decided = a.events("verification.decided").await;
    decided.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(decided, expected, "50 decisions, one per job");
    a.stop().await;
    b.stop().await;
}

/// Past its capacity the service answers 429 with Retry-After at once instead of queueing without bound;
/// oversized parts are refused while streaming; health, readiness, metrics and the API document are served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overload_limits_and_operational_endpoints() {
    let db_url = fresh_database(Db::Sqlite).await;
    let mut settings = settings_for(&db_url).await;
    settings.service.max_in_flight = 1;
    settings.service.max_queue = 0;
    settings.service.metrics_listen = Some("127.0.0.1:0".into());
    settings.limits.max_bytes = 300_000; // obama2.jpg (184 KB) fits, obama3.jpg (596 KB) does not
    let app = Application::build(settings, shared_engine()).await.unwrap();
    let base = format!("http://{}", app.local_addr());
    let metrics_url = format!("http://{}/metrics", app.metrics_addr().unwrap());
    let store = app.store().clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        app.run_until(async move {
            let _ = rx.await;
        })
        .await
        .unwrap()
    });
    let t = TestApp {
        base: base.clone(),
        db_url,
        store,
        http: client(),
        stop: Some(tx),
        task,
    };
    let key = t.key("acme", "submitter").await;
    let consent = t.consent(&key, "s1", "ecs_application").await;

    let f = fields("s1", &consent, "ecs_application");
    let mut statuses = Vec::new();
    let mut retry_after = None;
    // Six at once: whether they overlap is the scheduler's to say, so a round in which they happened
    // not to (no 429, or no 200) is sent again, a few times at most.
    for _round in 0..5 {
        let requests: Vec<_> = (0..6)
            .map(|_| {
                let form = Form::new()
                    .part(
                        "document",
                        Part::bytes(std::fs::read(sample("obama2.jpg")).unwrap()),
                    )
                    .part(
                        "selfie",
                        Part::bytes(std::fs::read(sample("obama2.jpg")).unwrap()),
                    )
                    .text("subject_ref", f[0].1.to_string())
                    .text("consent_ref", f[1].1.to_string())
                    .text("purpose", f[2].1.to_string());
                client()
                    .post(format!("{base}/v1/verifications"))
                    .bearer_auth(&key)
                    .multipart(form)
                    .send()
            })
            .collect();
        for r in futures_join(requests).await {
            let r = r.unwrap();
            let status = r.status();
            statuses.push(status);
            if status == StatusCode::TOO_MANY_REQUESTS {
                retry_after = r
                    .headers()
                    .get("retry-after")
                    .map(|v| v.to_str().unwrap().to_string());
                assert_eq!(r.json::<Value>().await.unwrap()["code"], "overloaded");
            }
        }
        if statuses.contains(&StatusCode::OK) && statuses.contains(&StatusCode::TOO_MANY_REQUESTS) {
            break;
        }
    }
    assert!(statuses.contains(&StatusCode::OK), "{statuses:?}");
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    assert!(retry_after.unwrap().parse::<u64>().unwrap() >= 1);

    let (status, v) = t.verify(&key, &f, "obama3.jpg", &[]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(v["code"], "part_too_large");

    let health = client().get(format!("{base}/health")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let ready: Value = client()
        .get(format!("{base}/ready"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["status"], "ready");
    let doc = client()
        .get(format!("{base}/openapi.json"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(doc, idv::api::openapi::document());
    let page = client()
        .get(format!("{base}/docs"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("/openapi.json") && !page.contains("https://cdn"));
    let metrics = client()
        .get(&metrics_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for name in [
        "idv_decisions_total",
        "idv_stage_seconds",
        "idv_rejected_requests_total",
        "idv_http_requests_total",
    ] {
        assert!(metrics.contains(name), "{name} missing from /metrics");
    }
    assert!(
        !metrics.contains("s1"),
        "no subject reference in metric labels"
    );
    t.stop().await;
}

async fn futures_join<F: std::future::Future + Send + 'static>(fs: Vec<F>) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let handles: Vec<_> = fs.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

on_both!(
    challenges_are_issued_once_per_request_and_used_once,
    |db| async move {
        let app = TestApp::spawn(db).await;
        let key = app.key("acme", "submitter").await;
        let reviewer = app.key("acme", "reviewer").await;
        let post = |k: String| {
            app.http
                .post(format!("{}/v1/challenges", app.base))
                .bearer_auth(k)
                .send()
        };
        let r = post(key.clone()).await.unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let c: Value = r.json().await.unwrap();
        // Three actions, each with the moment it is prompted: after a lead-in, 2 to 4 s apart.
        let actions = c["actions"].as_array().unwrap();
        assert_eq!(actions.len(), 3, "{c}");
        let mut last = 0.0;
        for (i, a) in actions.iter().enumerate() {
            assert!(["blink", "turn_left", "turn_right"].contains(&a["action"].as_str().unwrap()));
            let at = a["at_s"].as_f64().unwrap();
            let gap = at - last;
            assert!(
                if i == 0 {
                    (1.0..=2.0).contains(&gap)
                } else {
                    (2.0..=4.0).contains(&gap)
                },
                "{c}"
            );
            last = at;
        }
        assert_eq!(c["window_s"], 3.0);
        assert_eq!(c["recording_s"].as_f64().unwrap(), last + 3.5);
        assert!(c["expires_at"].as_str().unwrap().ends_with('Z'));
        let other: Value = post(key.clone()).await.unwrap().json().await.unwrap();
        assert_ne!(other["challenge_id"], c["challenge_id"]);
        assert_eq!(
            post(reviewer).await.unwrap().status(),
            StatusCode::FORBIDDEN
        );

        let id = c["challenge_id"].as_str().unwrap();
        assert!(
            app.store
                .take_challenge("globex", id, now_ms(), None)
                .await
                .unwrap()
                .is_none(),
            "another organisation's"
        );
        assert!(app
            .store
            .take_challenge("acme", id, now_ms(), None)
            .await
            .unwrap()
            .is_some());
        assert!(
            app.store
                .take_challenge("acme", id, now_ms(), None)
                .await
                .unwrap()
                .is_none(),
            "used once"
        );
        let later = now_ms() + 3_600_000;
        let fresh = other["challenge_id"].as_str().unwrap();
        assert!(
            app.store
                .take_challenge("acme", fresh, later, None)
                .await
                .unwrap()
                .is_none(),
            "expired"
        );
        app.stop().await;
    }
);
