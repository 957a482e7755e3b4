//! The reviewer console end to end on the real server (SQLite): a referred case made from real images
//! through the API (obama's portrait vs biden's selfie) is resolved in Debian's Chromium, driven by
//! tests/browser/console.mjs (playwright-core; `scripts/setup.sh` installs both); the resolution and
//! the audit entries are then checked through the API and the audit log. Plain HTTP requests check
//! what the console refuses: no session, an API key, a missing or wrong CSRF token, another
//! organisation's case, wrong or replayed codes, repeated failures (lock).
//!
//! The walk also opens a liveness-video case and an invigilation case, resolves with "record and open
//! next", runs axe-core on every page and saves screenshots at 1280×800 and 390×844 in
//! target/screenshots/console/.

use idv::domain::totp;
use idv::service::reviewers::{create_reviewer, Enrolment};
use idv::settings::Settings;
use idv::vault::{resolve_master_key, Vault};
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::multipart::{Form, Part};
use reqwest::{redirect, StatusCode};
use serde_json::Value;

use crate::harness::*;
use crate::support::{ffmpeg, root, sample, shared_data};

/// A client that shows redirects instead of following them, and keeps no cookies of its own.
fn raw_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(redirect::Policy::none())
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

pub(crate) async fn reviewer(
    app: &TestApp,
    settings: &Settings,
    org: &str,
    name: &str,
) -> Enrolment {
    // The same code `idv reviewers create` runs.
    let (master, _) = resolve_master_key(&settings.privacy, &app.db_url).unwrap();
    let vault = Vault::open(&app.store, master).await.unwrap();
    create_reviewer(&app.store, &vault, org, name, "test")
        .await
        .unwrap()
}

pub(crate) fn code_now(e: &Enrolment) -> String {
    let secret = totp::base32_decode(&e.totp_secret).unwrap();
    totp::code_at(&secret, idv::store::now_ms() / 1000)
}

fn hidden_csrf(html: &str) -> String {
    let start = html.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
    html[start..].split('"').next().unwrap().to_string()
}

fn set_cookies(r: &reqwest::Response) -> Vec<String> {
    r.headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_string()
}

/// A signed-in console session over plain HTTP: its cookie and its CSRF token.
pub(crate) struct Session {
    pub(crate) cookie: String,
    csrf: String,
}

/// Signs in through the form; `Err(status)` when refused.
pub(crate) async fn sign_in(
    app: &TestApp,
    user: &str,
    password: &str,
    code: &str,
) -> Result<Session, StatusCode> {
    let http = raw_client();
    let r = http
        .get(format!("{}/review/signin", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let pre = cookie_pair(&set_cookies(&r)[0]);
    let token = hidden_csrf(&r.text().await.unwrap());
    let r = http
        .post(format!("{}/review/signin", app.base))
        .header(COOKIE, pre)
        .form(&[
            ("csrf", token.as_str()),
            ("username", user),
            ("password", password),
            ("code", code),
        ])
        .send()
        .await
        .unwrap();
    if r.status() != StatusCode::SEE_OTHER {
        let status = r.status();
        let body = r.text().await.unwrap();
        assert!(
            body.contains("Sign-in failed."),
            "the generic message: {body}"
        );
        return Err(status);
    }
    assert_eq!(r.headers()[LOCATION], "/review/queue");
    let session = set_cookies(&r)
        .into_iter()
        .find(|c| c.starts_with("idv_review="))
        .expect("a session cookie");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/review"] {
        assert!(session.contains(attr), "{session} lacks {attr}");
    }
    let cookie = cookie_pair(&session);
    let queue = http
        .get(format!("{}/review/queue", app.base))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(queue.status(), StatusCode::OK);
    let csrf = hidden_csrf(&queue.text().await.unwrap());
    Ok(Session { cookie, csrf })
}

async fn console_get(
    app: &TestApp,
    path: &str,
    cookie: Option<&str>,
    bearer: Option<&str>,
) -> reqwest::Response {
    let mut req = raw_client().get(format!("{}{path}", app.base));
    if let Some(c) = cookie {
        req = req.header(COOKIE, c);
    }
    if let Some(k) = bearer {
        req = req.bearer_auth(k);
    }
    req.send().await.unwrap()
}

async fn console_post(
    app: &TestApp,
    path: &str,
    cookie: Option<&str>,
    form: &[(&str, &str)],
) -> reqwest::Response {
    let mut req = raw_client().post(format!("{}{path}", app.base)).form(form);
    if let Some(c) = cookie {
        req = req.header(COOKIE, c);
    }
    req.send().await.unwrap()
}

fn assert_to_signin(r: &reqwest::Response, what: &str) {
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{what}");
    assert_eq!(r.headers()[LOCATION], "/review/signin", "{what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reviewer_resolves_a_referred_case_in_chromium() {
    let db_url = fresh_database(Db::Sqlite).await;
    let mut settings = settings_for(&db_url).await;
    settings.review.console_secure_cookie = false; // plain HTTP on 127.0.0.1
    settings.review.sample_verified_share = 0.0; // the queue holds exactly the cases made here
    let app = TestApp::spawn_with(settings.clone()).await;
    let submitter = app.key("acme", "submitter").await;
    let api_reviewer = app.key("acme", "reviewer").await;

    // A referred case from real images, through the API.
    let consent = app
        .consent(&submitter, "subject-c1", "ecs_application")
        .await;
    let (status, v) = app
        .verify(
            &submitter,
            &fields("subject-c1", &consent, "ecs_application"),
            "biden.jpg",
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["decision"], "referred");
    let case_id = v["review_case_id"].as_str().unwrap().to_string();
    let case_path = format!("/review/cases/{case_id}");
    let resolution_path = format!("{case_path}/resolution");

    let alice = reviewer(&app, &settings, "acme", "alice").await;
    let bob = reviewer(&app, &settings, "acme", "bob").await;
    let carol = reviewer(&app, &settings, "globex", "carol").await;
    let dave = reviewer(&app, &settings, "acme", "dave").await;

    // No session, or an API key instead of one: sent to sign in, no data.
    let media_path = format!("{case_path}/media/selfie");
    for path in ["/review/queue", case_path.as_str(), media_path.as_str()] {
        let r = console_get(&app, path, None, None).await;
        assert_to_signin(&r, path);
        assert!(!r.text().await.unwrap().contains(&case_id));
        for key in [&submitter, &api_reviewer] {
            let r = console_get(&app, path, None, Some(key.as_str())).await;
            assert_to_signin(&r, &format!("{path} with an API key"));
        }
    }
    let r = console_post(
        &app,
        &resolution_path,
        None,
        &[("outcome", "confirmed_match"), ("reason", "x")],
    )
    .await;
    assert_to_signin(&r, "an unauthenticated resolution");
    let r = console_get(&app, "/review/queue", Some("idv_review=forged"), None).await;
    assert_to_signin(&r, "a forged session cookie");

    // Sign-in refusals: a wrong password, a wrong code, a replayed code; repeated failures lock.
    assert_eq!(
        sign_in(&app, "bob", "wrong-password", &code_now(&bob))
            .await
            .err(),
        Some(StatusCode::UNAUTHORIZED)
    );
    assert_eq!(
        sign_in(&app, "nobody", "x", "123456").await.err(),
        Some(StatusCode::UNAUTHORIZED)
    );
    let bob_code = code_now(&bob);
    let bob_s = sign_in(&app, "bob", &bob.password, &bob_code)
        .await
        .unwrap();
    assert_eq!(
        sign_in(&app, "bob", &bob.password, &bob_code).await.err(),
        Some(StatusCode::UNAUTHORIZED),
        "a code works once"
    );
    let dave_secret = totp::base32_decode(&dave.totp_secret).unwrap();
    let stale = totp::code_at(&dave_secret, idv::store::now_ms() / 1000 - 3600);
    for _ in 0..settings.review.console_max_failed_signins {
        assert!(sign_in(&app, "dave", &dave.password, &stale).await.is_err());
    }
    assert_eq!(
        sign_in(&app, "dave", &dave.password, &code_now(&dave))
            .await
            .err(),
        Some(StatusCode::UNAUTHORIZED),
        "locked after repeated wrong codes, even with the right password and code"
    );

    // Console pages: no caching, nothing from elsewhere.
    let r = console_get(&app, &case_path, Some(&bob_s.cookie), None).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert!(r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .starts_with("default-src 'self'"));

    // A resolution without the CSRF token, or with a wrong one: 403, nothing recorded.
    for form in [
        vec![("outcome", "confirmed_match"), ("reason", "looks alike")],
        vec![
            ("csrf", "not-the-token"),
            ("outcome", "confirmed_match"),
            ("reason", "looks alike"),
        ],
    ] {
        let r = console_post(&app, &resolution_path, Some(&bob_s.cookie), &form).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert!(r.text().await.unwrap().contains("csrf_failed"));
    }
    let (_, open) = app
        .get(&api_reviewer, &format!("/v1/reviews/{case_id}"))
        .await;
    assert_eq!(open["status"], "open");
    assert!(app.events("review.resolved").await.is_empty());
    // A sign-out needs the token too.
    let r = console_post(&app, "/review/signout", Some(&bob_s.cookie), &[]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // Another organisation's reviewer: the case does not exist for them.
    let carol_s = sign_in(&app, "carol", &carol.password, &code_now(&carol))
        .await
        .unwrap();
    let queue = console_get(&app, "/review/queue", Some(&carol_s.cookie), None).await;
    assert!(!queue.text().await.unwrap().contains(&case_id));
    for path in [case_path.clone(), format!("{case_path}/media/document")] {
        let r = console_get(&app, &path, Some(&carol_s.cookie), None).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
        assert!(r.text().await.unwrap().contains("not_found"));
    }
    let r = console_post(
        &app,
        &resolution_path,
        Some(&carol_s.cookie),
        &[
            ("csrf", carol_s.csrf.as_str()),
            ("outcome", "confirmed_match"),
            ("reason", "x"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(
        app.events("review.media_viewed").await.is_empty(),
        "no image was shown yet"
    );

    // A liveness-video case: the clip (as WebM, which every browser plays) performs its challenge, but
    // the document shows someone else, so the decision is referred.
    let video_case = video_case(&app, &submitter).await;

    // An invigilation case: an enrolled candidate, then three frames of other people.
    let invigilation_case = invigilation_case(&app, &submitter, &api_reviewer).await;

    // Chromium: alice signs in, reads the queue, opens the still case (crops), the video case (plays its
    // clip from the console, key frames), the invigilation case (evidence frames), resolves the still
    // case and opens the next. Screenshots at 1280×800 and 390×844, axe-core on every page.
    let shots = root().join("target/screenshots/console");
    let browser = one_browser().await;
    let out = tokio::process::Command::new("node")
        .arg(root().join("tests/browser/console.mjs"))
        .args([
            &app.base,
            "alice",
            &alice.password,
            &alice.totp_secret,
            &case_id,
        ])
        .arg(&shots)
        .args([&video_case, &invigilation_case])
        .output()
        .await
        .expect("node runs (run scripts/setup.sh)");
    drop(browser);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the browser run failed (screenshot in {}): {}{stdout}",
        shots.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let shown: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    let similarity = v["scores"]["similarity"].as_f64().unwrap();
    assert!(
        (shown["similarity"].as_f64().unwrap() - similarity).abs() < 0.001,
        "{shown}"
    );
    for (shown_key, key) in [
        ("match_at", "match_at"),
        ("no_match_below", "no_match_below"),
    ] {
        let expected = v["thresholds"][key].as_f64().unwrap();
        assert!(
            (shown[shown_key].as_f64().unwrap() - expected).abs() < 0.001,
            "{shown}"
        );
    }
    // The similarity in words, against the thresholds of the record.
    let words = shown["similarity_words"].as_str().unwrap();
    assert!(
        words.starts_with(&format!("similarity {similarity:.2} — ")),
        "{words}"
    );
    assert!(
        shown["crop_widths"]
            .as_array()
            .unwrap()
            .iter()
            .all(|w| w.as_u64() == Some(360)),
        "{shown}"
    );
    // Every queue row says why; the no_match case says no_match.
    let queue = shown["queue"].as_array().unwrap();
    assert_eq!(queue.len(), 3, "{shown}");
    assert!(queue.iter().all(|row| !row[1].as_str().unwrap().is_empty()));
    let comparison = v["comparison"].as_str().unwrap();
    assert!(
        queue[0][1].as_str().unwrap().contains(comparison),
        "{shown}"
    );
    for page in [
        "signin",
        "queue",
        "case-still",
        "case-video",
        "case-invigilation",
    ] {
        for width in [1280, 390] {
            let shot = shots.join(format!("{page}-{width}.png"));
            assert!(shot.is_file(), "{}", shot.display());
        }
        assert!(shown["sideways"][page].as_u64().unwrap() <= 390, "{shown}");
    }
    assert!(shown["video_ready_state"].as_u64().unwrap() >= 2, "{shown}");
    assert!(shown["video_width"].as_u64().unwrap() > 0, "{shown}");
    assert!(shown["key_frames"].as_u64().unwrap() >= 2, "{shown}");
    assert_eq!(shown["video_crop_width"], 360, "{shown}");
    assert!(shown["evidence_frames"].as_u64().unwrap() >= 3, "{shown}");
    // Resolve and open next: the oldest open case left, the video case.
    assert_eq!(shown["next_case"], video_case.as_str(), "{shown}");

    let (entries, _) = app.store.audit_chain().await.unwrap();
    let views_of = |case: &str| -> Vec<serde_json::Value> {
        entries
            .iter()
            .filter(|e| e.event == "review.media_viewed" && e.entity == case)
            .map(|e| {
                assert_eq!(e.actor, "reviewer:alice", "every view names the reviewer");
                serde_json::from_str(&e.details).unwrap()
            })
            .collect()
    };
    let kinds = |views: &[serde_json::Value]| -> Vec<String> {
        views
            .iter()
            .map(|d| {
                format!(
                    "{}/{}",
                    d["kind"].as_str().unwrap(),
                    d["view"].as_str().unwrap_or("whole")
                )
            })
            .collect()
    };
    // The still case: its two crops, per page view (to look, then to resolve); the whole images were
    // never opened, so never logged.
    let still = kinds(&views_of(&case_id));
    assert_eq!(
        still.iter().filter(|k| *k == "document/face_crop").count(),
        2,
        "{still:?}"
    );
    assert_eq!(
        still.iter().filter(|k| *k == "selfie/face_crop").count(),
        2,
        "{still:?}"
    );
    assert_eq!(still.len(), 4, "{still:?}");
    // Nothing of the resolved case was served after its resolution (the redirect went elsewhere).
    let resolved_at = entries
        .iter()
        .position(|e| e.event == "review.resolved" && e.entity == case_id)
        .expect("resolved");
    assert!(!entries[resolved_at..]
        .iter()
        .any(|e| e.event == "review.media_viewed" && e.entity == case_id));
    // The video case: the clip itself, the live face crop, the poster and key frames.
    let video = kinds(&views_of(&video_case));
    assert!(video.iter().any(|k| k == "video/whole"), "{video:?}");
    assert!(video.iter().any(|k| k == "video/face_crop"), "{video:?}");
    assert!(
        video
            .iter()
            .filter(|k| k.starts_with("video/frame_at_"))
            .count()
            >= 2,
        "{video:?}"
    );
    // The invigilation case: each evidence frame shown.
    let frames = kinds(&views_of(&invigilation_case));
    assert!(
        frames.iter().filter(|k| k.starts_with("frame-")).count() >= 3,
        "{frames:?}"
    );

    // Through the API: the resolution is recorded beside the unchanged decision, by alice.
    let (_, case) = app
        .get(&api_reviewer, &format!("/v1/reviews/{case_id}"))
        .await;
    assert_eq!(case["status"], "resolved");
    assert_eq!(case["resolution"]["outcome"], "confirmed_mismatch");
    assert_eq!(case["resolution"]["resolved_by"], "reviewer:alice");
    assert!(case["resolution"]["reason"]
        .as_str()
        .unwrap()
        .starts_with("Different people"));
    assert_eq!(case["verification"]["decision"], "referred");
    let by_alice = |event: &str| {
        entries
            .iter()
            .filter(|e| e.event == event && e.actor == "reviewer:alice" && e.entity == case_id)
            .count()
    };
    assert_eq!(by_alice("review.resolved"), 1);
    assert!(entries
        .iter()
        .all(|e| e.event != "review.media_viewed" || e.actor == "reviewer:alice"));

    // Signing out ends the session.
    let r = console_post(
        &app,
        "/review/signout",
        Some(&bob_s.cookie),
        &[("csrf", bob_s.csrf.as_str())],
    )
    .await;
    assert_to_signin(&r, "sign-out");
    let r = console_get(&app, "/review/queue", Some(&bob_s.cookie), None).await;
    assert_to_signin(&r, "after sign-out");
    app.stop().await;
}

/// An invigilation case: a candidate enrolled by a verified (or reviewer-confirmed) decision, then a
/// session whose frames show another person three times running.
async fn invigilation_case(app: &TestApp, submitter: &str, api_reviewer: &str) -> String {
    let data = shared_data();
    let jolie = |f: &str| data.join("deepface/angelina_jolie").join(f);
    let enrol = app
        .consent(submitter, "candidate-c1", "ecs_application")
        .await;
    let form = Form::new()
        .part(
            "document",
            Part::bytes(std::fs::read(jolie("img1.jpg")).unwrap()).file_name("d.jpg"),
        )
        .part(
            "selfie",
            Part::bytes(std::fs::read(jolie("img2.jpg")).unwrap()).file_name("s.jpg"),
        )
        .text("subject_ref", "candidate-c1")
        .text("consent_ref", enrol)
        .text("purpose", "ecs_application");
    let v: Value = app
        .http
        .post(format!("{}/v1/verifications", app.base))
        .bearer_auth(submitter)
        .multipart(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    if v["decision"] == "referred" {
        let case = v["review_case_id"].as_str().unwrap();
        let (status, _) = app
            .post_json(
                api_reviewer,
                &format!("/v1/reviews/{case}/resolution"),
                serde_json::json!({"outcome": "confirmed_match", "reason": "same person"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    let consent = app
        .consent(submitter, "candidate-c1", "remote_invigilation")
        .await;
    let (status, session) = app
        .post_json(
            submitter,
            "/v1/invigilation/sessions",
            serde_json::json!({"subject_ref": "candidate-c1", "consent_ref": consent,
                "reference_verification_id": v["id"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{session}");
    let id = session["id"].as_str().unwrap();
    let mut case = None;
    for file in [
        data.join("face_recognition/biden/biden.jpg"),
        data.join("face_recognition/kit_harington/john1.jpeg"),
        data.join("face_recognition/rose_leslie/img1.jpg"),
    ] {
        let r: Value = app
            .http
            .post(format!("{}/v1/invigilation/sessions/{id}/frames", app.base))
            .bearer_auth(submitter)
            .header("content-type", "image/jpeg")
            .body(std::fs::read(file).unwrap())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        case = r["review_case_id"].as_str().map(str::to_string).or(case);
    }
    case.expect("three frames of another person open a case")
}

/// A referred case with a liveness video: the shared d3 clip as WebM (VP8), answering a challenge it
/// performs, against another person's document.
async fn video_case(app: &TestApp, submitter: &str) -> String {
    let webm = root().join("target/test-media/console/d3.webm");
    if !webm.is_file() {
        std::fs::create_dir_all(webm.parent().unwrap()).unwrap();
        let clip = shared_data().join("liveportrait/video/d3.mp4");
        ffmpeg(&[
            "-i",
            &clip.display().to_string(),
            "-an",
            "-c:v",
            "libvpx",
            "-deadline",
            "realtime",
            "-cpu-used",
            "8",
            "-b:v",
            "1M",
            &webm.display().to_string(),
        ]);
    }
    let challenge_id = crate::capture::challenge(app, "acme", crate::capture::D3_SCHEDULE).await;
    let consent = app
        .consent(submitter, "subject-v1", "ecs_application")
        .await;
    let form = Form::new()
        .part(
            "document",
            Part::bytes(std::fs::read(sample("biden.jpg")).unwrap()).file_name("document.jpg"),
        )
        .part(
            "video",
            Part::bytes(std::fs::read(&webm).unwrap()).file_name("video.webm"),
        )
        .text("subject_ref", "subject-v1")
        .text("consent_ref", consent)
        .text("purpose", "ecs_application")
        .text("challenge_id", challenge_id);
    let r = app
        .http
        .post(format!("{}/v1/verifications", app.base))
        .bearer_auth(submitter)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let v: Value = r.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["decision"], "referred", "{v}");
    v["review_case_id"].as_str().unwrap().to_string()
}

#[test]
fn idv_reviewers_create_prints_the_password_secret_and_uri_last() {
    let dir = std::env::temp_dir().join(format!("idv-reviewers-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = format!("sqlite://{}", dir.join("idv.db").display());
    let run = |name: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_idv"))
            .args([
                "reviewers",
                "create",
                "--org",
                "acme",
                "--username",
                name,
                "--database",
                &db,
            ])
            .output()
            .unwrap()
    };
    let out = run("erin");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    let [password, secret, uri] = lines[lines.len() - 3..] else {
        unreachable!()
    };
    assert_eq!(password.len(), 20);
    assert!(totp::base32_decode(secret).is_some_and(|s| s.len() == 20));
    assert_eq!(
        uri,
        format!("otpauth://totp/idv:erin?secret={secret}&issuer=idv")
    );
    let again = run("erin");
    assert_eq!(again.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&again.stderr).contains("username_taken"));
    let bad = run("Erin Smith");
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid_username"));
}

/// A refused sign-in's page with its form token blanked (it differs per attempt), and how long it took.
async fn refused_signin(
    app: &TestApp,
    user: &str,
    password: &str,
    code: &str,
) -> (StatusCode, String, std::time::Duration) {
    let http = raw_client();
    let r = http
        .get(format!("{}/review/signin", app.base))
        .send()
        .await
        .unwrap();
    let pre = cookie_pair(&set_cookies(&r)[0]);
    let token = hidden_csrf(&r.text().await.unwrap());
    let started = std::time::Instant::now();
    let r = http
        .post(format!("{}/review/signin", app.base))
        .header(COOKIE, pre)
        .form(&[
            ("csrf", token.as_str()),
            ("username", user),
            ("password", password),
            ("code", code),
        ])
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body = r.text().await.unwrap().replace(&token, "TOKEN");
    (status, body, started.elapsed())
}

on_both!(
    every_failed_signin_is_audited_and_answered_alike,
    |db| async move {
        let db_url = fresh_database(db).await;
        let settings = settings_for(&db_url).await;
        let app = TestApp::spawn_with(settings.clone()).await;
        let erin = reviewer(&app, &settings, "acme", "erin").await;
        let frank = reviewer(&app, &settings, "acme", "frank").await;
        let secret = totp::base32_decode(&erin.totp_secret).unwrap();
        let stale_code = totp::code_at(&secret, idv::store::now_ms() / 1000 - 3600);

        let unknown = refused_signin(&app, "nobody", "x", "123456").await;
        let attempts = [
            refused_signin(&app, "erin", "wrong-password", &code_now(&erin)).await,
            refused_signin(&app, "erin", &erin.password, &stale_code).await,
        ];
        // The same answer, byte for byte, whatever was wrong.
        for known in &attempts {
            assert_eq!((known.0, &known.1), (unknown.0, &unknown.1));
        }
        assert_eq!(unknown.0, StatusCode::UNAUTHORIZED);
        assert!(unknown.1.contains("Sign-in failed."));

        // Lock frank (his password, wrong codes), then try him with his right password and code.
        let frank_secret = totp::base32_decode(&frank.totp_secret).unwrap();
        let frank_stale = totp::code_at(&frank_secret, idv::store::now_ms() / 1000 - 3600);
        for _ in 0..settings.review.console_max_failed_signins {
            refused_signin(&app, "frank", &frank.password, &frank_stale).await;
        }
        let locked = refused_signin(&app, "frank", &frank.password, &code_now(&frank)).await;
        assert_eq!((locked.0, &locked.1), (unknown.0, &unknown.1));
        // A name that could not be a username is audited without it.
        refused_signin(&app, "Not A Username!", "x", "123456").await;

        let (entries, _) = app.store.audit_chain().await.unwrap();
        let failures: Vec<(String, String, serde_json::Value)> = entries
            .iter()
            .filter(|e| e.event == "console.signin_failed")
            .map(|e| {
                (
                    e.actor.clone(),
                    e.org.clone(),
                    serde_json::from_str(&e.details).unwrap(),
                )
            })
            .collect();
        let reasons: Vec<&str> = failures
            .iter()
            .map(|(_, _, d)| d["reason"].as_str().unwrap())
            .collect();
        let max = settings.review.console_max_failed_signins as usize;
        let mut expected = vec!["unknown_username", "wrong_password", "wrong_code"];
        expected.extend(std::iter::repeat_n("wrong_code", max));
        expected.extend(["account_locked", "unknown_username"]);
        assert_eq!(reasons, expected);
        assert_eq!(failures[0].0, "anonymous");
        assert_eq!(
            failures[0].1, "",
            "an unknown name belongs to no organisation"
        );
        assert_eq!(failures[0].2["username"], "nobody");
        assert_eq!(failures[1].0, "reviewer:erin");
        assert_eq!(failures[1].1, "acme");
        assert!(failures[3 + max].2["locked_until"].is_i64());
        assert!(failures[4 + max].2["username"].is_null());
        // Nothing the caller typed as a password or code is in the log.
        for (_, _, d) in &failures {
            let text = d.to_string();
            assert!(!text.contains("wrong-password") && !text.contains(&erin.password));
        }

        // An unknown name costs about what a known one does (a decoy password hash, one audit write): the
        // fastest of three of each, within a factor of three (loose: the machine is shared).
        let mut unknown_t = Vec::new();
        let mut known_t = Vec::new();
        for _ in 0..3 {
            unknown_t.push(refused_signin(&app, "nobody", "x", "123456").await.2);
            known_t.push(refused_signin(&app, "erin", "wrong", "123456").await.2);
        }
        let (u, k) = (
            *unknown_t.iter().min().unwrap(),
            *known_t.iter().min().unwrap(),
        );
        assert!(u * 3 > k && k * 3 > u, "unknown {u:?} vs known {k:?}");
        app.stop().await;
    }
);

/// A sign-in attempt from `addr` (through the proxy header the settings trust): its status.
async fn signin_from(
    app: &TestApp,
    addr: &str,
    user: &str,
    password: &str,
    code: &str,
) -> reqwest::Response {
    let http = raw_client();
    let r = http
        .get(format!("{}/review/signin", app.base))
        .header("x-forwarded-for", addr)
        .send()
        .await
        .unwrap();
    let pre = cookie_pair(&set_cookies(&r)[0]);
    let token = hidden_csrf(&r.text().await.unwrap());
    http.post(format!("{}/review/signin", app.base))
        .header(COOKIE, pre)
        .header("x-forwarded-for", addr)
        .form(&[
            ("csrf", token.as_str()),
            ("username", user),
            ("password", password),
            ("code", code),
        ])
        .send()
        .await
        .unwrap()
}

on_both!(
    signins_are_throttled_per_address_and_a_name_alone_locks_no_one,
    |db| async move {
        let db_url = fresh_database(db).await;
        let mut settings = settings_for(&db_url).await;
        settings.service.client_address_header = Some("x-forwarded-for".into());
        settings.service.auth_failure_limit = 3;
        let app = TestApp::spawn_with(settings.clone()).await;
        let gina = reviewer(&app, &settings, "acme", "gina").await;
        let max = settings.review.console_max_failed_signins;

        // A stranger who knows only gina's name, from one address: throttled after three failures
        // (429 auth_throttled with Retry-After), her right password and code included.
        for _ in 0..3 {
            let r = signin_from(&app, "203.0.113.5", "gina", "guess", "123456").await;
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        }
        let r = signin_from(
            &app,
            "203.0.113.5",
            "gina",
            &gina.password,
            &code_now(&gina),
        )
        .await;
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(r.headers().contains_key("retry-after"));
        assert!(r.text().await.unwrap().contains("auth_throttled"));

        // The same stranger from many addresses: more wrong passwords than the account's lock allows,
        // and gina is not locked out: she signs in from her own address.
        for i in 0..=max {
            let addr = format!("198.51.100.{}", 10 + i);
            let r = signin_from(&app, &addr, "gina", "guess", "123456").await;
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        }
        let r = signin_from(&app, "192.0.2.1", "gina", &gina.password, &code_now(&gina)).await;
        assert_eq!(
            r.status(),
            StatusCode::SEE_OTHER,
            "a name alone locks no one"
        );

        // Unknown names count against the address too.
        for _ in 0..3 {
            signin_from(&app, "203.0.113.77", "nobody", "x", "123456").await;
        }
        let r = signin_from(&app, "203.0.113.77", "nobody", "x", "123456").await;
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        app.stop().await;
    }
);

/// Runs `idv reviewers …` on the test's database with its master key; stdout, or the failure.
fn idv_reviewers(settings: &Settings, db_url: &str, args: &[&str]) -> Result<String, String> {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_idv"));
    cmd.arg("reviewers").args(args).args(["--database", db_url]);
    if let Some(key) = &settings.privacy.master_key_file {
        cmd.args(["--master-key-file", key]);
    }
    let out = cmd.env_remove("IDV_MASTER_KEY").output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    if out.status.success() {
        Ok(stdout)
    } else {
        Err(format!(
            "{:?}: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

on_both!(
    operators_list_disable_enable_and_reset_reviewers,
    |db| async move {
        let db_url = fresh_database(db).await;
        let settings = settings_for(&db_url).await;
        let app = TestApp::spawn_with(settings.clone()).await;
        let hana = reviewer(&app, &settings, "acme", "hana").await;
        let ivan = reviewer(&app, &settings, "globex", "ivan").await;
        let hana_s = sign_in(&app, "hana", &hana.password, &code_now(&hana))
            .await
            .unwrap();

        // list: both, with their organisation and state.
        let list = idv_reviewers(&settings, &app.db_url, &["list"]).unwrap();
        let rows: Vec<Vec<&str>> = list
            .lines()
            .skip(1)
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(rows.len(), 2, "{list}");
        assert_eq!(&rows[0][..3], ["acme", "hana", "active"], "{list}");
        assert_eq!(&rows[1][..3], ["globex", "ivan", "active"], "{list}");

        // disable: her session ends and she cannot sign in; list says so; enable: active again.
        idv_reviewers(&settings, &app.db_url, &["disable", "--username", "hana"]).unwrap();
        let r = console_get(&app, "/review/queue", Some(&hana_s.cookie), None).await;
        assert_to_signin(&r, "a disabled reviewer's session");
        assert!(sign_in(&app, "hana", &hana.password, &code_now(&hana))
            .await
            .is_err());
        let list = idv_reviewers(&settings, &app.db_url, &["list"]).unwrap();
        assert!(
            list.lines()
                .any(|l| l.contains("hana") && l.contains("disabled")),
            "{list}"
        );
        idv_reviewers(&settings, &app.db_url, &["enable", "--username", "hana"]).unwrap();
        let list = idv_reviewers(&settings, &app.db_url, &["list"]).unwrap();
        assert!(
            list.lines()
                .any(|l| l.contains("hana") && l.contains("active")),
            "{list}"
        );

        // reset-totp for hana: codes from the old secret fail, from the new one work at once.
        let out = idv_reviewers(
            &settings,
            &app.db_url,
            &["reset-totp", "--username", "hana"],
        )
        .unwrap();
        let lines: Vec<&str> = out.lines().collect();
        let [secret, uri] = lines[lines.len() - 2..] else {
            unreachable!()
        };
        assert!(uri.starts_with("otpauth://totp/idv:hana?secret="));
        let old_code = code_now(&hana);
        let new_totp = Enrolment {
            totp_secret: secret.to_string(),
            ..hana
        };
        assert!(sign_in(&app, "hana", &new_totp.password, &old_code)
            .await
            .is_err());
        assert!(
            sign_in(&app, "hana", &new_totp.password, &code_now(&new_totp))
                .await
                .is_ok()
        );

        // reset-password for ivan: his session ends, the old password fails, the new one works.
        let ivan_s = sign_in(&app, "ivan", &ivan.password, &code_now(&ivan))
            .await
            .unwrap();
        let step = idv::store::now_ms() / 30_000;
        let out = idv_reviewers(
            &settings,
            &app.db_url,
            &["reset-password", "--username", "ivan"],
        )
        .unwrap();
        let password = out.lines().last().unwrap().to_string();
        assert_eq!(password.len(), 20);
        let r = console_get(&app, "/review/queue", Some(&ivan_s.cookie), None).await;
        assert_to_signin(&r, "after a password reset");
        assert!(sign_in(&app, "ivan", &ivan.password, &code_now(&ivan))
            .await
            .is_err());
        // His last code was used in this 30 s step: sign in with the next one.
        while idv::store::now_ms() / 30_000 == step {
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
        let ivan_new = Enrolment { password, ..ivan };
        assert!(
            sign_in(&app, "ivan", &ivan_new.password, &code_now(&ivan_new))
                .await
                .is_ok()
        );

        // An unknown name: a stable code, exit 3.
        let err = idv_reviewers(&settings, &app.db_url, &["disable", "--username", "nobody"])
            .unwrap_err();
        assert!(
            err.starts_with("Some(3)") && err.contains("unknown_reviewer"),
            "{err}"
        );

        // Each change is audited, by the operator's command, naming the account.
        let (entries, _) = app.store.audit_chain().await.unwrap();
        let events: Vec<(&str, &str)> = entries
            .iter()
            .filter(|e| e.event.starts_with("reviewer.") && e.event != "reviewer.created")
            .map(|e| (e.event.as_str(), e.actor.as_str()))
            .collect();
        assert_eq!(
            events,
            [
                ("reviewer.disabled", "cli"),
                ("reviewer.enabled", "cli"),
                ("reviewer.totp_reset", "cli"),
                ("reviewer.password_reset", "cli"),
            ]
        );
        app.stop().await;
    }
);
