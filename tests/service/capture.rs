//! Video verifications through the API and the applicant capture page: the real server on port 0 (SQLite,
//! and PostgreSQL when IDV_TEST_POSTGRES_URL is set) with the shared d3 selfie video, whose footage holds a
//! right turn, a blink and a left turn in that order (docs/LIVENESS.md). The page itself is driven in
//! Chromium by tests/browser/capture.mjs with a fake camera fed by that clip.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use idv::domain::clock::Clock;
use idv::liveness::schedule::parse_schedule;
use idv::store::{now_ms, ChallengeRow};
use reqwest::multipart::{Form, Part};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::harness::{fields, fresh_database, one_browser, settings_for, Db, TestApp};
use crate::support::{ffmpeg, root, sample, shared_data};

/// The bona fide clip, and a frame of it standing in for the document portrait (the clip's person has
/// no document in the shared data; the test is of the plumbing, the accuracy is `idv eval`'s).
struct Media {
    video: PathBuf,
    document: PathBuf,
}

fn media() -> &'static Media {
    static MEDIA: OnceLock<Media> = OnceLock::new();
    MEDIA.get_or_init(|| {
        let dir = root().join("target/test-media/capture");
        std::fs::create_dir_all(&dir).unwrap();
        let video = shared_data().join("liveportrait/video/d3.mp4");
        let document = dir.join("d3-portrait.jpg");
        if !document.is_file() {
            let video = video.display().to_string();
            let out = document.display().to_string();
            ffmpeg(&[
                "-ss",
                "3",
                "-i",
                &video,
                "-frames:v",
                "1",
                "-q:v",
                "2",
                &out,
            ]);
        }
        Media { video, document }
    })
}

/// The d3 clip's own actions and timing, each prompted half a second before it is seen (`idv
/// eval-liveness` lists them: a right turn at 0.60 s, a blink at 1.33 s, left turns at 4.93 and 8.27 s):
/// the schedule the clip answers. All four: a turn nobody asked for would refer.
pub(crate) const D3_SCHEDULE: &str = "turn_right@0.1,blink@0.8,turn_left@4.4,turn_left@7.7";

fn sha256_file(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

/// A challenge with the schedule given (`turn_right@0,blink@0.8`), stored as `POST /v1/challenges`
/// would (its schedule is random there; these are the clip's own actions and timing). Untimed actions
/// (`turn_right,blink`) are stored as challenges were before they had schedules: a plain list.
pub(crate) async fn challenge(app: &TestApp, org: &str, schedule: &str) -> String {
    let schedule = parse_schedule(schedule, 3.0).unwrap();
    let stored = if schedule.actions.iter().all(|a| a.at_s.is_none()) {
        let names: Vec<&str> = schedule.actions().map(|a| a.as_str()).collect();
        serde_json::to_string(&names).unwrap()
    } else {
        schedule.to_stored()
    };
    let row = ChallengeRow {
        id: format!("chl_{}", uuid::Uuid::new_v4().simple()),
        org: org.into(),
        nonce: "test".into(),
        actions: stored,
        created_at: now_ms(),
        expires_at: now_ms() + 300_000,
        capture_link_id: None,
    };
    app.store.create_challenge(&row).await.unwrap();
    row.id
}

fn file(path: &Path, name: &str) -> Part {
    Part::bytes(std::fs::read(path).unwrap()).file_name(name.to_string())
}

async fn post_video(
    app: &TestApp,
    key: &str,
    text: &[(&str, &str)],
    video: &Path,
    headers: &[(&str, &str)],
) -> (StatusCode, Value) {
    let mut form = Form::new()
        .part("document", file(&media().document, "document.jpg"))
        .part("video", file(video, "video.mp4"));
    for (k, v) in text {
        form = form.text(k.to_string(), v.to_string());
    }
    let mut req = app
        .http
        .post(format!("{}/v1/verifications", app.base))
        .bearer_auth(key)
        .multipart(form);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

on_both!(
    a_video_verification_answers_its_challenge,
    |db: Db| async move {
        let app = TestApp::spawn(db).await;
        let key = app.key("scheme", "submitter").await;
        let consent = app.consent(&key, "ecs-1", "ecs_application").await;
        let m = media();

        // Synchronous: the clip performs the challenge, and its best frame matches the portrait.
        let chl = challenge(&app, "scheme", D3_SCHEDULE).await;
        let mut text = fields("ecs-1", &consent, "ecs_application");
        text.push(("challenge_id", &chl));
        let (status, v) = post_video(&app, &key, &text, &m.video, &[]).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        let l = &v["liveness"];
        assert_eq!(l["verdict"], "pass", "{v}");
        assert_eq!(l["challenge_id"], chl.as_str());
        assert_eq!(l["window_s"], 3.0);
        // Per action: when it was prompted, and when it was seen (within the window after).
        let asked = parse_schedule(D3_SCHEDULE, 3.0).unwrap();
        for (a, want) in l["actions"].as_array().unwrap().iter().zip(&asked.actions) {
            assert_eq!(
                (
                    &a["action"],
                    &a["done"],
                    &a["timing"],
                    a["prompted_at_s"].as_f64()
                ),
                (
                    &json!(want.action),
                    &json!(true),
                    &json!("on_time"),
                    want.at_s
                ),
                "{l}"
            );
            let seen = a["seen_at_s"].as_f64().unwrap() - want.at_s.unwrap();
            assert!((0.0..=3.0).contains(&seen), "{a}");
        }
        assert_eq!(l["actions"].as_array().unwrap().len(), 4);
        assert!(l["frames_analysed"].as_u64().unwrap() > 100, "{l}");
        assert_eq!(l["video"]["codec"], "h264");
        assert_eq!(v["input_digests"]["video"], sha256_file(&m.video).as_str());
        assert!(v["input_digests"]["selfie"].is_null());
        assert!(v["scores"]["similarity"].as_f64().unwrap() > 0.6, "{v}");
        assert_eq!(v["decision"], "verified", "{v}");

        // The challenge was used up: the same answer again is refused before anything is stored.
        let before = app.store.count_rows("verifications").await.unwrap();
        let (status, e) = post_video(&app, &key, &text, &m.video, &[]).await;
        assert_eq!(
            (status, e["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("challenge_invalid"))
        );
        assert_eq!(app.store.count_rows("verifications").await.unwrap(), before);

        // A challenge stored before challenges had schedules is still answered: its actions are found
        // in order, anywhere, and marked untimed, so a person looks (a replay cannot be excluded).
        let old = challenge(&app, "scheme", "turn_right,blink").await;
        let mut text = fields("ecs-1", &consent, "ecs_application");
        text.push(("challenge_id", &old));
        let (status, v) = post_video(&app, &key, &text, &m.video, &[]).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        let l = &v["liveness"];
        assert_eq!(l["verdict"], "refer", "{l}");
        assert!(
            l["reasons"]
                .as_array()
                .unwrap()
                .contains(&json!("challenge_untimed")),
            "{l}"
        );
        assert_eq!(
            l["actions"],
            json!([
                {"action": "turn_right", "done": true, "timing": "untimed", "seen_at_s": l["actions"][0]["seen_at_s"]},
                {"action": "blink", "done": true, "timing": "untimed", "seen_at_s": l["actions"][1]["seen_at_s"]}
            ])
        );
        assert!(l["window_s"].is_null(), "{l}");
        assert_eq!(v["decision"], "referred", "{v}");

        // Asynchronous, through a job: a clip that does not perform the challenge (d0 never turns its head)
        // goes to a person, with the still selfie of someone else flagged; nobody is rejected.
        let chl = challenge(&app, "scheme", "turn_left@1,turn_right@3.5").await;
        let mut text = fields("ecs-1", &consent, "ecs_application");
        text.push(("challenge_id", &chl));
        let form = Form::new()
            .part("document", file(&m.document, "document.jpg"))
            .part(
                "video",
                file(
                    &shared_data().join("liveportrait/video/d0.mp4"),
                    "video.mp4",
                ),
            )
            .part("selfie", file(&sample("biden.jpg"), "selfie.jpg"));
        let form = text
            .iter()
            .fold(form, |f, (k, v)| f.text(k.to_string(), v.to_string()));
        let r = app
            .http
            .post(format!("{}/v1/verifications", app.base))
            .bearer_auth(&key)
            .header("Prefer", "respond-async")
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        let id = r.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        let v = app.wait_decided(&key, &id).await;
        assert_eq!(v["decision"], "referred", "{v}");
        assert_eq!(v["liveness"]["verdict"], "fail", "{v}");
        let reasons: Vec<&str> = v["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(reasons.contains(&"challenge_not_performed"), "{reasons:?}");
        assert!(reasons.contains(&"selfie_not_in_video"), "{reasons:?}");
        assert!(
            v["liveness"]["selfie_to_video"].as_f64().unwrap() < 0.3,
            "{v}"
        );
        assert!(v["review_case_id"].is_string());
        app.stop().await;
    }
);

on_both!(
    a_job_longer_than_its_lease_completes_once_while_a_second_server_runs,
    |db: Db| async move {
        // Two servers on one database, a one-second lease and no second attempt allowed: a video job
        // takes several seconds, so without its lease renewed the second server would take it over
        // (attempt 2 > 1: failed) or both would work on it.
        let url = fresh_database(db).await;
        let mut settings = settings_for(&url).await;
        settings.service.job_lease_secs = 1;
        settings.service.job_max_attempts = 1;
        let first = TestApp::spawn_with(settings.clone()).await;
        let second = TestApp::spawn_with(settings).await;
        let key = first.key("scheme", "submitter").await;
        let consent = first.consent(&key, "ecs-1", "ecs_application").await;
        let chl = challenge(&first, "scheme", D3_SCHEDULE).await;
        let mut text = fields("ecs-1", &consent, "ecs_application");
        text.push(("challenge_id", &chl));
        let started = std::time::Instant::now();
        let (status, v) = post_video(
            &first,
            &key,
            &text,
            &media().video,
            &[("Prefer", "respond-async")],
        )
        .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{v}");
        let id = v["id"].as_str().unwrap().to_string();
        let v = second.wait_decided(&key, &id).await;
        assert!(
            started.elapsed() > std::time::Duration::from_secs(2),
            "the job outlasted its lease"
        );
        assert_eq!(v["status"], "decided", "{v}");
        assert_eq!(v["liveness"]["verdict"], "pass", "{v}");
        assert_eq!(first.events("verification.decided").await, vec![id]);
        assert!(first.events("verification.failed").await.is_empty());
        second.stop().await;
        first.stop().await;
    }
);

on_both!(bad_video_requests_get_their_codes, |db: Db| async move {
    let app = TestApp::spawn(db).await;
    let key = app.key("scheme", "submitter").await;
    let consent = app.consent(&key, "ecs-2", "ecs_application").await;
    let m = media();
    let text = fields("ecs-2", &consent, "ecs_application");

    let (status, e) = post_video(&app, &key, &text, &m.video, &[]).await;
    assert_eq!(
        (status, e["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("challenge_required"))
    );

    let mut unknown = text.clone();
    unknown.push(("challenge_id", "chl_unknown"));
    let (status, e) = post_video(&app, &key, &unknown, &m.video, &[]).await;
    assert_eq!(
        (status, e["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("challenge_invalid"))
    );

    // Another organisation's challenge does not exist here.
    let theirs = challenge(&app, "other", "blink@1,turn_left@3").await;
    let mut other = text.clone();
    other.push(("challenge_id", &theirs));
    let (_, e) = post_video(&app, &key, &other, &m.video, &[]).await;
    assert_eq!(e["code"], "challenge_invalid");

    // A truncated video: its code, nothing decided, the service still answers.
    let truncated = root().join("target/test-media/capture/truncated.mp4");
    let bytes = std::fs::read(&m.video).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 40]).unwrap();
    let chl = challenge(&app, "scheme", "blink@1,turn_left@3").await;
    let mut text2 = text.clone();
    text2.push(("challenge_id", &chl));
    let (status, e) = post_video(&app, &key, &text2, &truncated, &[]).await;
    assert!(status.is_client_error(), "{status} {e}");
    assert!(e["code"].as_str().unwrap().starts_with("video_"), "{e}");
    assert_eq!(app.store.count_rows("verifications").await.unwrap(), 0);

    // Not a video at all.
    let chl = challenge(&app, "scheme", "blink@1,turn_left@3").await;
    let mut text3 = text.clone();
    text3.push(("challenge_id", &chl));
    let (status, e) = post_video(&app, &key, &text3, &sample("obama.jpg"), &[]).await;
    assert_eq!(
        (status, e["code"].as_str()),
        (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Some("video_unsupported")
        )
    );
    let (status, _) = app.get(&key, "/health").await;
    assert_eq!(status, StatusCode::OK);
    app.stop().await;
});

// ------------------------------------------------------------------------------------------ capture links

/// A capture link made through the API, and the token in its URL.
pub(crate) async fn capture_link(
    app: &TestApp,
    key: &str,
    subject: &str,
    extra: Value,
) -> (String, String) {
    let mut body =
        json!({"subject_ref": subject, "purpose": "ecs_application", "external_ref": "app-77"});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let (status, v) = app.post_json(key, "/v1/capture-links", body).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let url = v["url"].as_str().unwrap().to_string();
    assert!(url.starts_with(&format!("{}/capture/", app.base)), "{url}");
    (v["id"].as_str().unwrap().to_string(), url)
}

pub(crate) async fn page(
    app: &TestApp,
    url: &str,
) -> (StatusCode, String, reqwest::header::HeaderMap) {
    let r = app.http.get(url).send().await.unwrap();
    let (status, headers) = (r.status(), r.headers().clone());
    (status, r.text().await.unwrap(), headers)
}

/// The notice version a page shows (from its data attribute).
pub(crate) fn shown_version(html: &str) -> String {
    let at = html
        .find("data-notice-version=\"")
        .expect("the version on the page")
        + 21;
    html[at..at + html[at..].find('"').unwrap()].to_string()
}

pub(crate) async fn post_page(
    app: &TestApp,
    url: &str,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = app.http.post(format!("{url}/{path}"));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// What the page sends: document, video, still selfie and the challenge id.
pub(crate) async fn submit(
    app: &TestApp,
    url: &str,
    challenge_id: &str,
    idempotency_key: &str,
) -> (StatusCode, Value) {
    let m = media();
    let form = Form::new()
        .part("document", file(&m.document, "document.jpg"))
        .part("video", file(&m.video, "capture.mp4"))
        .part("selfie", file(&m.document, "selfie.jpg"))
        .text("challenge_id", challenge_id.to_string());
    post_submission(app, url, form, Some(idempotency_key)).await
}

async fn post_submission(
    app: &TestApp,
    url: &str,
    form: Form,
    idempotency_key: Option<&str>,
) -> (StatusCode, Value) {
    let mut req = app.http.post(format!("{url}/submission")).multipart(form);
    if let Some(key) = idempotency_key {
        req = req.header("Idempotency-Key", key);
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

on_both!(
    a_capture_link_takes_one_consented_submission,
    |db: Db| async move {
        let app = TestApp::spawn(db).await;
        let key = app.key("scheme", "submitter").await;
        let reviewer = app.key("scheme", "reviewer").await;
        let (id, url) = capture_link(&app, &key, "applicant-1", json!({})).await;

        // The page: the notice with its version, served with a strict policy; nothing stored by looking.
        let (status, html, headers) = page(&app, &url).await;
        assert_eq!(status, StatusCode::OK);
        let version = shown_version(&html);
        assert!(version.starts_with("ecs-application-"), "{version}");
        assert!(html.contains("explicit consent"));
        assert!(headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("script-src 'self'"));
        assert_eq!(headers["referrer-policy"], "no-referrer");
        assert_eq!(headers["cache-control"], "no-store");
        for asset in ["capture.js", "capture.css"] {
            let r = app
                .http
                .get(format!("{}/capture/static/{asset}", app.base))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK, "{asset}");
        }
        assert_eq!(app.store.count_rows("consents").await.unwrap(), 0);

        // Nothing before the consent.
        let (status, e) = post_page(&app, &url, "challenge", None).await;
        assert_eq!(
            (status, e["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("consent_required"))
        );
        let (status, e) = submit(&app, &url, "chl_x", "k0").await;
        assert_eq!(
            (status, e["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("consent_required"))
        );

        // Agreeing to another version than the one shown now is refused; the shown one is recorded once.
        let (status, e) = post_page(
            &app,
            &url,
            "consent",
            Some(json!({"notice_version": "ecs-application-2020"})),
        )
        .await;
        assert_eq!(
            (status, e["code"].as_str()),
            (StatusCode::CONFLICT, Some("notice_changed"))
        );
        let (status, c) = post_page(
            &app,
            &url,
            "consent",
            Some(json!({"notice_version": version})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{c}");
        let consent_ref = c["consent_ref"].as_str().unwrap().to_string();
        let (status, again) = post_page(
            &app,
            &url,
            "consent",
            Some(json!({"notice_version": version})),
        )
        .await;
        assert_eq!(
            (status, again["consent_ref"].as_str()),
            (StatusCode::OK, Some(consent_ref.as_str()))
        );
        let (_, consent) = app.get(&key, &format!("/v1/consents/{consent_ref}")).await;
        assert_eq!(consent["notice_version"], version.as_str());
        assert_eq!(consent["lawful_basis"], "explicit_consent");
        assert_eq!(consent["subject_ref"], "applicant-1");
        let (_, link) = app.get(&key, &format!("/v1/capture-links/{id}")).await;
        assert_eq!(
            (link["status"].as_str(), link["consent_ref"].as_str()),
            (Some("consented"), Some(consent_ref.as_str()))
        );
        let (_, html, _) = page(&app, &url).await;
        assert!(html.contains("data-consented=\"true\""));

        // The challenge, then the submission; a retry with the same key is answered the same.
        let (status, chl) = post_page(&app, &url, "challenge", None).await;
        assert_eq!(status, StatusCode::CREATED, "{chl}");
        let actions = chl["actions"].as_array().unwrap();
        assert_eq!(actions.len(), 3, "{chl}");
        let times: Vec<f64> = actions
            .iter()
            .map(|a| a["at_s"].as_f64().unwrap())
            .collect();
        assert!(
            times[0] >= 1.0 && times.windows(2).all(|w| w[1] - w[0] >= 2.0),
            "{chl}"
        );
        assert_eq!(chl["window_s"], 3.0);
        assert_eq!(
            chl["recording_s"].as_f64().unwrap(),
            times[2] + 3.5,
            "{chl}"
        );
        let chl_id = chl["challenge_id"].as_str().unwrap();
        // The page names no subject, consent or purpose: the link does.
        let form = Form::new()
            .text("subject_ref", "someone-else")
            .text("challenge_id", chl_id.to_string())
            .part("document", file(&media().document, "d.jpg"));
        let (status, e) = post_submission(&app, &url, form, None).await;
        assert_eq!(
            (status, e["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_field"))
        );
        // A file that is no video is refused at once, before the link or the challenge is used up.
        let form = Form::new()
            .part("document", file(&media().document, "d.jpg"))
            .part("video", file(&media().document, "capture.webm"))
            .text("challenge_id", chl_id.to_string());
        let (status, e) = post_submission(&app, &url, form, None).await;
        assert_eq!(
            (status, e["code"].as_str()),
            (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                Some("video_unsupported")
            )
        );
        assert!(e["detail"].as_str().unwrap().starts_with("video: "), "{e}");
        // The page's challenge answers only this link, and an API challenge does not answer the page.
        let consent_api = app.consent(&key, "applicant-1", "ecs_application").await;
        let mut text = fields("applicant-1", &consent_api, "ecs_application");
        text.push(("challenge_id", chl_id));
        let (_, e) = post_video(&app, &key, &text, &media().video, &[]).await;
        assert_eq!(e["code"], "challenge_invalid", "{e}");
        let (_, api_chl) = app.post_json(&key, "/v1/challenges", json!({})).await;
        let (status, e) = submit(&app, &url, api_chl["challenge_id"].as_str().unwrap(), "k1").await;
        assert_eq!(
            (status, e["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("challenge_invalid"))
        );
        let (status, s) = submit(&app, &url, chl_id, "attempt-1").await;
        assert_eq!(
            (status, s["status"].as_str()),
            (StatusCode::ACCEPTED, Some("received")),
            "{s}"
        );
        let (status, s) = submit(&app, &url, chl_id, "attempt-1").await;
        assert_eq!(
            (status, s["status"].as_str()),
            (StatusCode::ACCEPTED, Some("received")),
            "{s}"
        );
        assert_eq!(app.store.count_rows("verifications").await.unwrap(), 1);

        // Used: the page, its calls and another submission are refused.
        let (status, html, _) = page(&app, &url).await;
        assert_eq!(status, StatusCode::GONE);
        assert!(html.contains("capture_link_used"), "{html}");
        let (status, e) = submit(&app, &url, chl_id, "attempt-2").await;
        assert_eq!(
            (status, e["code"].as_str()),
            (StatusCode::GONE, Some("capture_link_used"))
        );
        let (_, e) = post_page(&app, &url, "challenge", None).await;
        assert_eq!(e["code"], "capture_link_used");

        // The verification ran liveness on the submitted video, under the link's consent and reference.
        let (_, link) = app.get(&reviewer, &format!("/v1/capture-links/{id}")).await;
        assert_eq!(link["status"], "submitted");
        let vid = link["verification_id"].as_str().unwrap();
        let v = app.wait_decided(&reviewer, vid).await;
        assert_eq!(v["consent_ref"], consent_ref.as_str());
        assert_eq!(v["external_ref"], "app-77");
        assert_eq!(v["subject_ref"], "applicant-1");
        assert_eq!(v["liveness"]["challenge_id"], chl_id);
        assert_eq!(
            v["input_digests"]["video"],
            sha256_file(&media().video).as_str()
        );
        assert!(v["liveness"]["frames_analysed"].as_u64().unwrap() > 100);
        assert!(app
            .events("verification.requested")
            .await
            .contains(&vid.to_string()));

        // The subject's access export lists the link; erasure deletes it.
        let auditor = app.key("scheme", "auditor").await;
        let (status, export) = app.get(&auditor, "/v1/subjects/applicant-1/export").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            export["capture_links"][0]["id"],
            id.as_str(),
            "{}",
            export["capture_links"]
        );
        assert_eq!(export["capture_links"][0]["verification_id"], vid);
        let (status, erased) = app
            .send_json(
                "DELETE",
                &auditor,
                "/v1/subjects/applicant-1",
                json!({"reason": "erasure request"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{erased}");
        assert_eq!(erased["counts"]["capture_links"], 1, "{erased}");
        let (status, _) = app.get(&key, &format!("/v1/capture-links/{id}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _, _) = page(&app, &url).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        app.stop().await;
    }
);

on_both!(expired_and_unknown_links_are_refused, |db: Db| async move {
    let clock = Clock::manual(now_ms());
    let settings = settings_for(&fresh_database(db).await).await;
    let app = TestApp::spawn_with_clock(settings, clock.clone()).await;
    let key = app.key("scheme", "submitter").await;
    let (_, url) = capture_link(&app, &key, "applicant-2", json!({"expires_in_secs": 1})).await;
    let (status, _) = app
        .post_json(
            &key,
            "/v1/capture-links",
            json!({"subject_ref": "a", "purpose": "ecs_application", "expires_in_secs": 0}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    clock.advance(1100);
    let (status, html, _) = page(&app, &url).await;
    assert_eq!(status, StatusCode::GONE);
    assert!(html.contains("capture_link_expired"));
    let (status, e) = post_page(&app, &url, "consent", Some(json!({"notice_version": "x"}))).await;
    assert_eq!(
        (status, e["code"].as_str()),
        (StatusCode::GONE, Some("capture_link_expired"))
    );
    assert_eq!(app.store.count_rows("consents").await.unwrap(), 0);

    let unknown = format!("{}/capture/{}", app.base, "A".repeat(43));
    let (status, html, _) = page(&app, &unknown).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(html.contains("capture_link_not_found"));
    let (status, _, _) = page(&app, &format!("{}/capture/short", app.base)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The expired, unused link is swept once it has been expired for the media period (30 days).
    let policies = idv::settings::Settings::default().retention.policies();
    const DAY_MS: i64 = 86_400_000;
    let swept = |days: i64, dry_run: bool| {
        let (store, policies) = (app.store.clone(), policies.clone());
        async move {
            let counts = store
                .sweep(now_ms() + days * DAY_MS, &policies, dry_run)
                .await
                .unwrap();
            counts.iter().map(|c| c.capture_links).sum::<u64>()
        }
    };
    assert_eq!(swept(29, false).await, 0);
    assert_eq!(swept(31, true).await, 1);
    assert_eq!(
        app.store.count_rows("capture_links").await.unwrap(),
        1,
        "a dry run deletes nothing"
    );
    assert_eq!(swept(31, false).await, 1);
    assert_eq!(app.store.count_rows("capture_links").await.unwrap(), 0);
    app.stop().await;
});

// ------------------------------------------------------------------------------------------ in Chromium

/// The shared d3 clip as a y4m for Chromium's fake camera (made once, under target/).
fn fake_camera() -> PathBuf {
    let y4m = root().join("target/test-media/capture/d3-camera.y4m");
    if !y4m.is_file() {
        let clip = media().video.display().to_string();
        let out = y4m.display().to_string();
        ffmpeg(&[
            "-i",
            &clip,
            "-t",
            "11",
            "-vf",
            "fps=15,scale=640:640",
            "-pix_fmt",
            "yuv420p",
            &out,
        ]);
    }
    y4m
}

/// Runs tests/browser/capture.mjs in one mode and returns the JSON line it printed.
async fn browser(mode: &str, url: &str, width: u32) -> Value {
    let shots = root().join("target/screenshots/capture");
    let camera = fake_camera();
    let _browser = one_browser().await;
    let out = tokio::process::Command::new("node")
        .arg(root().join("tests/browser/capture.mjs"))
        .args([mode, url, &width.to_string()])
        .arg(&shots)
        .arg(&media().document)
        .arg(camera)
        .output()
        .await
        .expect("node runs (run scripts/setup.sh)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the {mode} run at {width} px failed (screenshots in {}): {}{stdout}",
        shots.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.lines().last().expect("a JSON line")).unwrap()
}

/// An applicant on the page: agrees, photographs the document, follows the challenge in front of a
/// camera playing a real clip, submits (the first upload is cut off and retried); then the consent with
/// the notice version the page showed and a verification whose liveness ran on the recorded video are
/// read back through the API. Also: declining stores nothing, used and expired links are refused, and a
/// missing or refused camera has its message. At 1280 and 360 px.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_applicant_completes_the_capture_page_in_chromium() {
    let db_url = fresh_database(Db::Sqlite).await;
    let mut settings = settings_for(&db_url).await;
    // Every decision gets a review case, so the recording is reachable by a reviewer whatever the
    // fake camera's footage made of the random challenge.
    settings.review.sample_verified_share = 1.0;
    let app = TestApp::spawn_with(settings).await;
    let key = app.key("scheme", "submitter").await;
    let reviewer = app.key("scheme", "reviewer").await;
    // Expired by real time: the browser runs below take far longer than its second, so nothing waits.
    let (_, expiring) = capture_link(
        &app,
        &key,
        "applicant-expired",
        json!({"expires_in_secs": 1}),
    )
    .await;

    for width in [1280, 360] {
        let subject = format!("applicant-{width}");
        let (id, url) = capture_link(&app, &key, &subject, json!({})).await;
        let shown = browser("submit", &url, width).await;
        assert_eq!(shown["done"], true, "{shown}");
        assert!(
            shown["submission_attempts"].as_u64().unwrap() >= 2,
            "the retry was not exercised: {shown}"
        );

        let (_, link) = app.get(&key, &format!("/v1/capture-links/{id}")).await;
        assert_eq!(link["status"], "submitted", "{link}");
        let (_, consent) = app
            .get(
                &key,
                &format!("/v1/consents/{}", link["consent_ref"].as_str().unwrap()),
            )
            .await;
        assert_eq!(
            consent["notice_version"], shown["notice_version"],
            "{consent}"
        );
        assert_eq!(
            (consent["subject_ref"].as_str(), consent["status"].as_str()),
            (Some(subject.as_str()), Some("active"))
        );

        let v = app
            .wait_decided(&key, link["verification_id"].as_str().unwrap())
            .await;
        assert_eq!(v["status"], "decided", "{v}");
        let l = &v["liveness"];
        eprintln!(
            "{width} px: asked {} at {} s (prompts late by {} ms), liveness {} {}, decision {} {}",
            shown["actions_shown"],
            shown["at_s"],
            shown["prompt_late_ms"],
            l["verdict"],
            l["reasons"],
            v["decision"],
            v["reasons"]
        );
        // The prompts the page showed are the challenge's, at its times (capture.mjs checks the times).
        assert_eq!(shown["at_s"].as_array().unwrap().len(), 3, "{shown}");
        assert_eq!(l["video"]["container"], "webm", "{v}");
        assert!(
            ["vp8", "vp9"].contains(&l["video"]["codec"].as_str().unwrap()),
            "{l}"
        );
        assert!(l["frames_analysed"].as_u64().unwrap() >= 24, "{l}");
        assert!(l["video"]["duration_s"].as_f64().unwrap() >= 5.0, "{l}");
        let asked: Vec<Value> = l["actions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["action"].clone())
            .collect();
        assert_eq!(
            Value::Array(asked),
            shown["actions_shown"],
            "the page showed the challenge's actions"
        );
        assert!(
            v["scores"]["document_face_score"].as_f64().is_some(),
            "the document face was found: {v}"
        );
        assert!(
            v["input_digests"]["selfie"].is_string() && v["input_digests"]["video"].is_string()
        );
        // The recorded applicant is the person of the clip, and so of its portrait used as the document.
        assert!(v["scores"]["similarity"].as_f64().unwrap() > 0.5, "{v}");
        assert!(l["selfie_to_video"].as_f64().unwrap() > 0.5, "{l}");

        // A reviewer can play the recording the page made: the stored bytes are the ones decided on.
        let case = v["review_case_id"]
            .as_str()
            .expect("every decision has a case here");
        let r = app
            .http
            .get(format!("{}/v1/reviews/{case}/media/video", app.base))
            .bearer_auth(&reviewer)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["content-type"], "video/webm");
        let recorded = r.bytes().await.unwrap();
        assert_eq!(
            v["input_digests"]["video"],
            hex::encode(Sha256::digest(&recorded)).as_str()
        );

        // Used now: the link shows why.
        let refused = browser("refused", &url, width).await;
        assert_eq!(refused["code"], "capture_link_used", "{refused}");
    }

    // Declining: the alternative is shown and nothing is stored.
    let consents = app.store.count_rows("consents").await.unwrap();
    let verifications = app.store.count_rows("verifications").await.unwrap();
    let (id, url) = capture_link(&app, &key, "applicant-declines", json!({})).await;
    for width in [360, 1280] {
        let declined = browser("decline", &url, width).await;
        assert_eq!(declined["posts"], 0, "{declined}");
    }
    assert_eq!(app.store.count_rows("consents").await.unwrap(), consents);
    assert_eq!(
        app.store.count_rows("verifications").await.unwrap(),
        verifications
    );
    let (_, link) = app.get(&key, &format!("/v1/capture-links/{id}")).await;
    assert_eq!(
        (link["status"].as_str(), &link["consent_ref"]),
        (Some("open"), &Value::Null)
    );

    let expired = browser("refused", &expiring, 360).await;
    assert_eq!(expired["code"], "capture_link_expired", "{expired}");

    // No camera, and the permission refused: each has its message (the consent is answered in the page).
    let (_, url) = capture_link(&app, &key, "applicant-camera", json!({})).await;
    let none = browser("no-camera", &url, 360).await;
    assert_eq!(none["camera_error"], "no_camera", "{none}");
    let denied = browser("denied", &url, 1280).await;
    assert_eq!(denied["camera_error"], "camera_denied", "{denied}");
    assert_eq!(app.store.count_rows("consents").await.unwrap(), consents);
    app.stop().await;
}

on_both!(
    a_link_asks_for_a_bounded_number_of_challenges,
    |db: Db| async move {
        let app = TestApp::spawn(db).await;
        let key = app.key("scheme", "submitter").await;
        let (_, url) = capture_link(&app, &key, "applicant-3", json!({})).await;
        let (_, html, _) = page(&app, &url).await;
        let version = shown_version(&html);
        let (status, _) = post_page(
            &app,
            &url,
            "consent",
            Some(json!({"notice_version": version})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED);
        let max = idv::settings::Settings::default()
            .capture
            .max_challenges_per_link;
        for _ in 0..max {
            let (status, _) = post_page(&app, &url, "challenge", None).await;
            assert_eq!(status, StatusCode::CREATED);
        }
        let (status, e) = post_page(&app, &url, "challenge", None).await;
        assert_eq!(
            (status, e["code"].as_str()),
            (
                StatusCode::TOO_MANY_REQUESTS,
                Some("capture_attempts_exceeded")
            )
        );
        assert_eq!(
            app.store.count_rows("challenges").await.unwrap(),
            i64::from(max)
        );
        app.stop().await;
    }
);
