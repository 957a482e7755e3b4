//! Webhooks end to end: a receiver (an axum server on port 0 in the test) registered through the API
//! gets the events signed as Standard Webhooks says, checked by the `standardwebhooks` Python package
//! (the specification's reference verifier, in .idv/venv from scripts/setup.sh --with-reference); retries
//! after failures, delivery after a crash, two servers sharing one PostgreSQL, and nothing for a
//! rolled-back change. SQLite and PostgreSQL.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use idv::domain::clock::Clock;
use idv::settings::Settings;
use idv::store::now_ms;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::capture::{capture_link, page, post_page, shown_version, submit};
use crate::harness::{fields, fresh_database, idv_on, settings_for, Db, TestApp};
use crate::support::{eventually, root};

/// One message as the receiver got it.
#[derive(Clone, Debug, serde::Serialize)]
struct Message {
    id: String,
    timestamp: String,
    signature: String,
    body: String,
}

impl Message {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

#[derive(Clone, Default)]
struct Inbox {
    got: Arc<Mutex<Vec<Message>>>,
    hits: Arc<AtomicUsize>,
    /// Answer 500 to this many requests first.
    fail_first: usize,
}

/// A webhook receiver on port 0: answers 500 to the first `fail_first` requests, then 204.
struct Receiver {
    url: String,
    inbox: Inbox,
}

impl Receiver {
    async fn start(fail_first: usize) -> Receiver {
        let inbox = Inbox {
            fail_first,
            ..Inbox::default()
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(inbox.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { url, inbox }
    }

    fn messages(&self) -> Vec<Message> {
        self.inbox.got.lock().unwrap().clone()
    }

    fn hits(&self) -> usize {
        self.inbox.hits.load(Ordering::SeqCst)
    }

    /// Waits until `n` messages were accepted, and returns them.
    async fn wait_for(&self, n: usize) -> Vec<Message> {
        eventually(
            Duration::from_secs(90),
            &format!("{n} webhook messages"),
            || async {
                let got = self.messages();
                (got.len() >= n).then_some(got)
            },
        )
        .await
    }
}

async fn receive(State(inbox): State<Inbox>, headers: HeaderMap, body: String) -> AxumStatus {
    let n = inbox.hits.fetch_add(1, Ordering::SeqCst);
    if n < inbox.fail_first {
        return AxumStatus::INTERNAL_SERVER_ERROR;
    }
    let header = |name: &str| {
        headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    };
    inbox.got.lock().unwrap().push(Message {
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp"),
        signature: header("webhook-signature"),
        body,
    });
    AxumStatus::NO_CONTENT
}

/// Settings that let deliveries go to the test's receiver (plain http on loopback).
async fn local_settings(db_url: &str) -> Settings {
    let mut s = settings_for(db_url).await;
    s.webhooks.allow_http = true;
    s.webhooks.allow_private_addresses = true;
    s
}

/// Registers the receiver for `events` with an admin key; the secret.
async fn register(app: &TestApp, org: &str, url: &str, events: &[&str]) -> (String, String) {
    let admin = app.key(org, "admin").await;
    let (status, v) = app
        .post_json(
            &admin,
            "/v1/webhooks",
            json!({"url": url, "events": events}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    (
        v["id"].as_str().unwrap().to_string(),
        v["secret"].as_str().unwrap().to_string(),
    )
}

/// Each message verified by the Standard Webhooks reference library (Python `standardwebhooks`), which
/// also refuses a tampered body and a wrong secret; returns the types it read.
fn verified_by_standardwebhooks(secret: &str, messages: &[Message]) -> Vec<String> {
    let python = root().join(".idv/venv/bin/python");
    assert!(
        python.is_file(),
        "{} is missing: run scripts/setup.sh --with-reference",
        python.display()
    );
    let script = r#"
import json, sys
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
req = json.load(sys.stdin)
wh = Webhook(req["secret"])
other = Webhook("whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=")
types = []
for m in req["messages"]:
    headers = {"webhook-id": m["id"], "webhook-timestamp": m["timestamp"], "webhook-signature": m["signature"]}
    types.append(wh.verify(m["body"], headers)["type"])
    for verifier, body in ((wh, m["body"] + " "), (other, m["body"])):
        try:
            verifier.verify(body, headers)
            sys.exit("a tampered message or a wrong secret was accepted")
        except WebhookVerificationError:
            pass
print(json.dumps(types))
"#;
    let mut child = std::process::Command::new(python)
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let input = json!({"secret": secret, "messages": messages}).to_string();
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "standardwebhooks refused: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// What a payload must never hold: the subject's reference, scores, digests, images.
fn assert_no_personal_data(m: &Message, subject: &str) {
    for needle in [
        subject,
        "subject_ref",
        "subject_digest",
        "similarity",
        "input_digests",
        "base64",
    ] {
        assert!(!m.body.contains(needle), "{needle} in {}", m.body);
    }
    assert!(m.body.len() < 2_000, "{}", m.body);
}

on_both!(
    verifications_sync_and_async_are_announced_signed,
    |db: Db| async move {
        let rx = Receiver::start(0).await;
        let app = TestApp::spawn_with(local_settings(&fresh_database(db).await).await).await;
        let (hook, secret) = register(&app, "scheme", &rx.url, &["verification.decided"]).await;
        assert!(secret.starts_with("whsec_"), "{secret}");
        let key = app.key("scheme", "submitter").await;
        let consent = app.consent(&key, "applicant-9", "ecs_application").await;
        let f = fields("applicant-9", &consent, "ecs_application");
        let (status, sync) = app.verify(&key, &f, "obama2.jpg", &[]).await;
        assert_eq!(status, StatusCode::OK, "{sync}");
        let (status, queued) = app
            .verify(&key, &f, "obama2.jpg", &[("Prefer", "respond-async")])
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
        let decided = app.wait_decided(&key, queued["id"].as_str().unwrap()).await;

        let got = rx.wait_for(2).await;
        let ids: HashSet<String> = got
            .iter()
            .map(|m| {
                m.json()["data"]["verification_id"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        let expected: HashSet<String> = [&sync["id"], &decided["id"]]
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        assert_eq!(ids, expected);
        for m in &got {
            let b = m.json();
            assert_eq!(b["type"], "verification.decided");
            assert_eq!(b["data"]["status"], "decided");
            assert_eq!(b["data"]["decision"], sync["decision"]);
            assert!(m.id.starts_with("msg_"), "{}", m.id);
            assert_no_personal_data(m, "applicant-9");
        }
        assert_eq!(
            verified_by_standardwebhooks(&secret, &got),
            vec!["verification.decided"; 2]
        );

        // The history: both delivered at the first attempt; another organisation sees nothing.
        let admin = app.key("scheme", "admin").await;
        let (status, list) = app
            .get(&admin, &format!("/v1/webhooks/{hook}/deliveries"))
            .await;
        assert_eq!(status, StatusCode::OK, "{list}");
        let deliveries = list["deliveries"].as_array().unwrap();
        assert_eq!(deliveries.len(), 2, "{list}");
        for d in deliveries {
            assert_eq!(
                (d["status"].as_str(), d["attempts"].as_i64()),
                (Some("delivered"), Some(1))
            );
            assert_eq!(d["last_status"], 204);
        }
        let stranger = app.key("other", "admin").await;
        let (status, _) = app
            .get(&stranger, &format!("/v1/webhooks/{hook}/deliveries"))
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        // Metrics by event and result, nothing about subjects.
        let metrics = idv::http::metrics::prometheus().render();
        assert!(
            metrics.contains(
                "idv_webhook_deliveries_total{event=\"verification.decided\",result=\"delivered\"}"
            ),
            "{metrics}"
        );
        app.stop().await;
    }
);

on_both!(
    a_capture_page_submission_is_announced,
    |db: Db| async move {
        let rx = Receiver::start(0).await;
        let app = TestApp::spawn_with(local_settings(&fresh_database(db).await).await).await;
        let (_, secret) = register(
            &app,
            "scheme",
            &rx.url,
            &["capture_link.submitted", "consent.withdrawn"],
        )
        .await;
        let key = app.key("scheme", "submitter").await;
        let (link_id, url) = capture_link(&app, &key, "applicant-3", json!({})).await;
        let (_, html, _) = page(&app, &url).await;
        let version = shown_version(&html);
        let (status, c) = post_page(
            &app,
            &url,
            "consent",
            Some(json!({"notice_version": version})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{c}");
        let (status, chl) = post_page(&app, &url, "challenge", None).await;
        assert_eq!(status, StatusCode::CREATED, "{chl}");
        let (status, s) = submit(&app, &url, chl["challenge_id"].as_str().unwrap(), "k1").await;
        assert_eq!(status, StatusCode::ACCEPTED, "{s}");
        let (_, link) = app.get(&key, &format!("/v1/capture-links/{link_id}")).await;
        let verification = link["verification_id"].as_str().unwrap().to_string();

        let got = rx.wait_for(1).await;
        let b = got[0].json();
        assert_eq!(b["type"], "capture_link.submitted");
        assert_eq!(b["data"]["capture_link_id"], link_id.as_str());
        assert_eq!(b["data"]["verification_id"], verification.as_str());
        assert_no_personal_data(&got[0], "applicant-3");
        assert_eq!(
            verified_by_standardwebhooks(&secret, &got),
            vec!["capture_link.submitted"]
        );
        // Only the subscribed events: the decision of that submission is not sent here.
        app.wait_decided(&key, &verification).await;
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert_eq!(rx.messages().len(), 1);
        app.stop().await;
    }
);

/// Withdraws a new consent of `subject` (an event that needs no model): its consent_ref.
async fn withdrawn_consent(app: &TestApp, key: &str, subject: &str) -> String {
    let consent = app.consent(key, subject, "ecs_application").await;
    let (status, v) = app
        .post_json(
            key,
            &format!("/v1/consents/{consent}/withdraw"),
            json!({"reason": "asked by phone"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    consent
}

on_both!(
    a_receiver_failing_three_times_gets_the_event_once_more,
    |db: Db| async move {
        let rx = Receiver::start(3).await;
        let clock = Clock::manual(now_ms());
        let app = TestApp::spawn_with_clock(
            local_settings(&fresh_database(db).await).await,
            clock.clone(),
        )
        .await;
        let (hook, secret) = register(&app, "scheme", &rx.url, &["consent.withdrawn"]).await;
        let key = app.key("scheme", "submitter").await;
        let consent = withdrawn_consent(&app, &key, "applicant-5").await;
        for failures in 1..=3 {
            eventually(
                Duration::from_secs(30),
                &format!("attempt {failures}"),
                || async { (rx.hits() >= failures).then_some(()) },
            )
            .await;
            // Not retried before its time comes (the retry is seconds to an hour away on this clock).
            tokio::time::sleep(Duration::from_millis(500)).await;
            assert_eq!(rx.hits(), failures);
            clock.advance(2 * 3_600_000);
        }
        let got = rx.wait_for(1).await;
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert_eq!((rx.hits(), rx.messages().len()), (4, 1));
        assert_eq!(got[0].json()["data"]["consent_ref"], consent.as_str());
        assert_eq!(got[0].json()["data"]["purged"], true);
        assert!(
            !got[0].body.contains("asked by phone"),
            "free text stays in the audit log"
        );
        verified_by_standardwebhooks(&secret, &got);
        let admin = app.key("scheme", "admin").await;
        let (_, list) = app
            .get(&admin, &format!("/v1/webhooks/{hook}/deliveries"))
            .await;
        let d = &list["deliveries"][0];
        assert_eq!(
            (
                d["status"].as_str(),
                d["attempts"].as_i64(),
                d["id"].as_str()
            ),
            (Some("delivered"), Some(4), Some(got[0].id.as_str()))
        );
        app.stop().await;
    }
);

on_both!(
    a_delivery_is_dead_lettered_after_a_day_and_redelivered_on_request,
    |db: Db| async move {
        let rx = Receiver::start(usize::MAX).await;
        let clock = Clock::manual(now_ms());
        let app = TestApp::spawn_with_clock(
            local_settings(&fresh_database(db).await).await,
            clock.clone(),
        )
        .await;
        let (hook, _) = register(&app, "scheme", &rx.url, &["consent.withdrawn"]).await;
        let key = app.key("scheme", "submitter").await;
        withdrawn_consent(&app, &key, "applicant-6").await;
        let admin = app.key("scheme", "admin").await;
        let path = format!("/v1/webhooks/{hook}/deliveries");
        eventually(Duration::from_secs(30), "the first attempt", || async {
            (rx.hits() >= 1).then_some(())
        })
        .await;
        clock.advance(25 * 3_600_000);
        let dead = eventually(Duration::from_secs(30), "dead-lettering", || async {
            let (_, list) = app.get(&admin, &path).await;
            let d = list["deliveries"][0].clone();
            (d["status"] == "dead").then_some(d)
        })
        .await;
        assert_eq!(dead["attempts"], 2);
        assert_eq!(dead["last_status"], 500);
        assert_eq!(dead["last_error"], "http_status");
        let hits = rx.hits();
        let id = dead["id"].as_str().unwrap();
        let (status, again) = app
            .post_json(&admin, &format!("{path}/{id}/redeliver"), json!({}))
            .await;
        assert_eq!(
            (status, again["status"].as_str()),
            (StatusCode::ACCEPTED, Some("pending")),
            "{again}"
        );
        eventually(Duration::from_secs(30), "the redelivery", || async {
            (rx.hits() > hits).then_some(())
        })
        .await;
        let (status, _) = app
            .post_json(&admin, &format!("{path}/msg_nope/redeliver"), json!({}))
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        app.stop().await;
    }
);

on_both!(
    a_committed_event_is_delivered_after_a_crash,
    |db: Db| async move {
        let rx = Receiver::start(0).await;
        let db_url = fresh_database(db).await;
        // The first server commits the event and dies before any worker of its sends it.
        let mut quiet = local_settings(&db_url).await;
        quiet.webhooks.workers = 0;
        let first = TestApp::spawn_with(quiet).await;
        register(&first, "scheme", &rx.url, &["consent.withdrawn"]).await;
        let key = first.key("scheme", "submitter").await;
        let sent_first = withdrawn_consent(&first, &key, "applicant-7").await;
        let sent_second = withdrawn_consent(&first, &key, "applicant-8").await;
        first.task.abort();
        // A worker of another process had leased one when it died: its lease runs out and it is taken over.
        let leased = first
            .store
            .claim_delivery(
                "crashed-server",
                i64::MAX / 2,
                now_ms(),
                Duration::from_secs(2),
            )
            .await
            .unwrap();
        assert!(leased.is_some());
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(rx.hits(), 0);

        let second = TestApp::spawn_with(local_settings(&db_url).await).await;
        let got = rx.wait_for(2).await;
        let consents: HashSet<String> = got
            .iter()
            .map(|m| {
                m.json()["data"]["consent_ref"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(consents, HashSet::from([sent_first, sent_second]));
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert_eq!(rx.messages().len(), 2);
        second.stop().await;
    }
);

on_both!(
    a_rolled_back_request_announces_nothing,
    |db: Db| async move {
        let rx = Receiver::start(0).await;
        let app = TestApp::spawn_with(local_settings(&fresh_database(db).await).await).await;
        register(&app, "scheme", &rx.url, &["verification.decided"]).await;
        let key = app.key("scheme", "submitter").await;
        let consent = app.consent(&key, "applicant-4", "ecs_application").await;
        let f = fields("applicant-4", &consent, "ecs_application");
        // The decision's transaction fails after its audit entries (and outbox rows) are written: on the
        // uploads' insert.
        match db {
            Db::Sqlite => {
                app.store
                    .execute_raw("CREATE TRIGGER fail_media BEFORE INSERT ON media BEGIN SELECT RAISE(ABORT, 'injected'); END")
                    .await
                    .unwrap();
            }
            Db::Postgres => {
                app.store
                    .execute_raw("CREATE FUNCTION fail_media() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'injected'; END $$ LANGUAGE plpgsql")
                    .await
                    .unwrap();
                app.store
                    .execute_raw("CREATE TRIGGER fail_media BEFORE INSERT ON media FOR EACH ROW EXECUTE FUNCTION fail_media()")
                    .await
                    .unwrap();
            }
        }
        let (status, v) = app.verify(&key, &f, "obama2.jpg", &[]).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{v}");
        assert_eq!(app.store.count_rows("webhook_deliveries").await.unwrap(), 0);
        app.store
            .execute_raw("DROP TRIGGER fail_media ON media")
            .await
            .ok();
        app.store.execute_raw("DROP TRIGGER fail_media").await.ok();
        let (status, ok) = app.verify(&key, &f, "obama2.jpg", &[]).await;
        assert_eq!(status, StatusCode::OK, "{ok}");
        let got = rx.wait_for(1).await;
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert_eq!(rx.messages().len(), 1);
        assert_eq!(got[0].json()["data"]["verification_id"], ok["id"]);
        app.stop().await;
    }
);

/// Two servers on one PostgreSQL, two delivery workers each: every event is sent once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(idv_test_postgres), ignore = "set IDV_TEST_POSTGRES_URL to run")]
async fn two_servers_on_one_postgres_deliver_each_event_once() {
    let rx = Receiver::start(0).await;
    let db_url = fresh_database(Db::Postgres).await;
    let mut s = local_settings(&db_url).await;
    s.webhooks.workers = 2;
    let a = TestApp::spawn_with(s.clone()).await;
    let b = TestApp::spawn_with(s).await;
    register(&a, "scheme", &rx.url, &["consent.withdrawn"]).await;
    let key = a.key("scheme", "submitter").await;
    let mut sent = HashSet::new();
    for i in 0..12 {
        let server = if i % 2 == 0 { &a } else { &b };
        sent.insert(withdrawn_consent(server, &key, &format!("applicant-{i}")).await);
    }
    let got = rx.wait_for(12).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let got_now = rx.messages();
    assert_eq!(got_now.len(), 12, "{got:?}");
    let ids: HashSet<&str> = got_now.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids.len(), 12);
    let consents: HashSet<String> = got_now
        .iter()
        .map(|m| {
            m.json()["data"]["consent_ref"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(consents, sent);
    a.stop().await;
    b.stop().await;
}

on_both!(
    endpoints_are_managed_by_an_admin_within_the_url_policy,
    |db: Db| async move {
        // The default policy: https to public addresses only.
        let app = TestApp::spawn(db).await;
        let admin = app.key("scheme", "admin").await;
        for (body, code) in [
            (
                json!({"url": "http://hooks.example.org/x", "events": ["review.resolved"]}),
                "webhook_url_refused",
            ),
            (
                json!({"url": "https://127.0.0.1/x", "events": ["review.resolved"]}),
                "webhook_url_refused",
            ),
            (
                json!({"url": "https://10.1.1.1/x", "events": ["review.resolved"]}),
                "webhook_url_refused",
            ),
            (
                json!({"url": "https://localhost/x", "events": ["review.resolved"]}),
                "webhook_url_refused",
            ),
            (
                json!({"url": "https://hooks.example.org/x", "events": []}),
                "invalid_field",
            ),
            (
                json!({"url": "https://hooks.example.org/x", "events": ["verification.requested"]}),
                "invalid_field",
            ),
            (
                json!({"url": "https://hooks.example.org/x"}),
                "invalid_field",
            ),
        ] {
            let (status, e) = app.post_json(&admin, "/v1/webhooks", body.clone()).await;
            assert_eq!(
                (status, e["code"].as_str()),
                (StatusCode::UNPROCESSABLE_ENTITY, Some(code)),
                "{body}: {e}"
            );
        }
        let (status, created) = app
            .post_json(&admin, "/v1/webhooks", json!({"url": "https://hooks.example.org/x", "events": ["review.resolved", "review.resolved", "subject.erased"]}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        assert_eq!(
            created["events"],
            json!(["review.resolved", "subject.erased"])
        );
        // From the command line too; the secret is its last line.
        let out = idv_on(
            &app.db_url,
            &[
                "webhooks",
                "add",
                "--org",
                "scheme",
                "--url",
                "https://apps.example.org/idv",
                "--event",
                "verification.decided,verification.failed",
            ],
        );
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout
                .trim_end()
                .lines()
                .last()
                .unwrap()
                .starts_with("whsec_"),
            "{stdout}"
        );
        let refused = idv_on(
            &app.db_url,
            &[
                "webhooks",
                "add",
                "--org",
                "scheme",
                "--url",
                "http://apps.example.org/idv",
                "--event",
                "verification.decided",
            ],
        );
        assert_eq!(refused.status.code(), Some(3));
        assert!(String::from_utf8_lossy(&refused.stderr).contains("webhook_url_refused"));

        let (status, list) = app.get(&admin, "/v1/webhooks").await;
        assert_eq!(status, StatusCode::OK);
        let hooks = list["webhooks"].as_array().unwrap();
        assert_eq!(hooks.len(), 2, "{list}");
        assert!(
            !list.to_string().contains("whsec_"),
            "secrets are shown once"
        );
        let listed = idv_on(&app.db_url, &["webhooks", "list", "--org", "scheme"]);
        assert_eq!(String::from_utf8_lossy(&listed.stdout).lines().count(), 2);
        // Another organisation's admin sees none of them and cannot remove them.
        let other = app.key("other", "admin").await;
        let (_, theirs) = app.get(&other, "/v1/webhooks").await;
        assert_eq!(theirs["webhooks"], json!([]));
        let id = created["id"].as_str().unwrap();
        let (status, _) = app
            .send_json("DELETE", &other, &format!("/v1/webhooks/{id}"), json!({}))
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = app
            .send_json("DELETE", &admin, &format!("/v1/webhooks/{id}"), json!({}))
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, _) = app
            .send_json("DELETE", &admin, &format!("/v1/webhooks/{id}"), json!({}))
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let removed = idv_on(
            &app.db_url,
            &[
                "webhooks",
                "remove",
                "--org",
                "scheme",
                hooks[1]["id"].as_str().unwrap(),
            ],
        );
        assert!(removed.status.success());
        let (_, list) = app.get(&admin, "/v1/webhooks").await;
        assert_eq!(list["webhooks"], json!([]));
        assert_eq!(app.events("webhook.created").await.len(), 2);
        assert_eq!(app.events("webhook.deleted").await.len(), 2);
        app.stop().await;
    }
);
