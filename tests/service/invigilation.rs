//! Remote invigilation end to end on the real server (SQLite always; PostgreSQL when configured): a
//! candidate enrolled by a verified decision, then a session replaying real frames from ../shared/data:
//! the candidate, another person, no face (the back of an ID card), a group photo. Each frame gets the
//! right result and the sustained anomalies open exactly one review case, with the frames as evidence.

use std::path::PathBuf;

use reqwest::multipart::{Form, Part};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::harness::*;
use crate::support::shared_data;

async fn verify_files(
    app: &TestApp,
    key: &str,
    subject: &str,
    consent: &str,
    document: &PathBuf,
    selfie: &PathBuf,
) -> Value {
    let form = Form::new()
        .part(
            "document",
            Part::bytes(std::fs::read(document).unwrap()).file_name("d.jpg"),
        )
        .part(
            "selfie",
            Part::bytes(std::fs::read(selfie).unwrap()).file_name("s.jpg"),
        )
        .text("subject_ref", subject.to_string())
        .text("consent_ref", consent.to_string())
        .text("purpose", "ecs_application");
    let r = app
        .http
        .post(format!("{}/v1/verifications", app.base))
        .bearer_auth(key)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

async fn send_frame(
    app: &TestApp,
    key: &str,
    session: &str,
    file: &PathBuf,
) -> (StatusCode, Value) {
    let r = app
        .http
        .post(format!(
            "{}/v1/invigilation/sessions/{session}/frames",
            app.base
        ))
        .bearer_auth(key)
        .header(
            "content-type",
            if file.extension().unwrap() == "png" {
                "image/png"
            } else {
                "image/jpeg"
            },
        )
        .body(std::fs::read(file).unwrap())
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

on_both!(
    a_session_flags_sustained_anomalies_once_for_a_person,
    |db| async move {
        let app = TestApp::spawn(db).await;
        let submitter = app.key("acme", "submitter").await;
        let reviewer = app.key("acme", "reviewer").await;
        let data = shared_data();
        let jolie = |f: &str| data.join("deepface/angelina_jolie").join(f);

        // Enrolment: the card application's verification, confirmed by a reviewer if the machine referred it.
        let enrol = app
            .consent(&submitter, "candidate-1", "ecs_application")
            .await;
        let v = verify_files(
            &app,
            &submitter,
            "candidate-1",
            &enrol,
            &jolie("img1.jpg"),
            &jolie("img2.jpg"),
        )
        .await;
        if v["decision"] == "referred" {
            let case = v["review_case_id"].as_str().unwrap();
            let (status, _) = app.post_json(&reviewer, &format!("/v1/reviews/{case}/resolution"),
            json!({"outcome": "confirmed_match", "reason": "same person, document photo older"})).await;
            assert_eq!(status, StatusCode::OK);
        }
        let reference = v["id"].as_str().unwrap();
        let consent = app
            .consent(&submitter, "candidate-1", "remote_invigilation")
            .await;

        // A reference that is not the candidate's is refused, as is a consent for another purpose.
        let other = app
            .consent(&submitter, "someone-else", "ecs_application")
            .await;
        let theirs = verify_files(
            &app,
            &submitter,
            "someone-else",
            &other,
            &jolie("img1.jpg"),
            &jolie("img4.jpg"),
        )
        .await;
        let (status, e) = app.post_json(&submitter, "/v1/invigilation/sessions", json!({
        "subject_ref": "candidate-1", "consent_ref": consent, "reference_verification_id": theirs["id"]})).await;
        assert_eq!(
            (status, e["code"].as_str()),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("reference_not_verified")
            )
        );
        let (status, e) = app.post_json(&submitter, "/v1/invigilation/sessions", json!({
        "subject_ref": "candidate-1", "consent_ref": enrol, "reference_verification_id": reference})).await;
        assert_eq!(
            (status, e["code"].as_str()),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("consent_purpose_mismatch")
            )
        );

        let (status, session) = app.post_json(&submitter, "/v1/invigilation/sessions", json!({
        "subject_ref": "candidate-1", "consent_ref": consent, "reference_verification_id": reference})).await;
        assert_eq!(status, StatusCode::CREATED, "{session}");
        let id = session["id"].as_str().unwrap().to_string();

        let candidate = ["img4.jpg", "img5.jpg", "img6.jpg"].map(jolie);
        let another = [
            data.join("face_recognition/biden/biden.jpg"),
            data.join("face_recognition/kit_harington/john1.jpeg"),
            data.join("face_recognition/rose_leslie/img1.jpg"),
        ];
        let no_face = ["100_id-che.jpg", "100_id-mac.jpg", "0_id-esp.png"]
            .map(|f| data.join("passporteye/testdata").join(f));
        let group = ["bbt1.jpg", "bbt2.jpg", "bbt3.jpg"]
            .map(|f| data.join("face_api_js/multi_face").join(f));

        let mut case_id: Option<String> = None;
        for (i, file) in candidate.iter().enumerate() {
            let (status, r) = send_frame(&app, &submitter, &id, file).await;
            assert_eq!(status, StatusCode::OK, "{r}");
            assert_eq!(r["seq"], i as i64 + 1);
            assert_eq!(r["face_count"], 1, "{file:?}: {r}");
            assert_eq!(r["same_person"], true, "{file:?}: {r}");
            assert!(
                r["anomaly"].is_null() && r["review_case_id"].is_null(),
                "{r}"
            );
        }
        for (run, files, anomaly) in [
            (0, &another, "different_person"),
            (1, &no_face, "no_face"),
            (2, &group, "multiple_faces"),
        ] {
            for (i, file) in files.iter().enumerate() {
                let (status, r) = send_frame(&app, &submitter, &id, file).await;
                assert_eq!(status, StatusCode::OK, "{r}");
                assert_eq!(r["anomaly"], anomaly, "{file:?}: {r}");
                match anomaly {
                    "different_person" => {
                        assert_eq!(r["face_count"], 1, "{file:?}: {r}");
                        assert_eq!(r["same_person"], false);
                    }
                    "no_face" => assert_eq!(r["face_count"], 0, "{file:?}: {r}"),
                    _ => assert!(r["face_count"].as_u64().unwrap() > 1, "{file:?}: {r}"),
                }
                // The first run opens the case on its third frame; later runs add to the same case.
                if run == 0 && i < 2 {
                    assert!(r["review_case_id"].is_null());
                } else {
                    let case = r["review_case_id"].as_str().unwrap().to_string();
                    assert_eq!(
                        case_id.get_or_insert(case.clone()),
                        &case,
                        "one case per session"
                    );
                }
            }
        }
        let case_id = case_id.unwrap();

        // The timeline, and exactly one review case, with the enrolled images and the nine anomalous frames.
        let (_, timeline) = app
            .get(&submitter, &format!("/v1/invigilation/sessions/{id}"))
            .await;
        let frames = timeline["frames"].as_array().unwrap();
        assert_eq!(frames.len(), 12);
        assert_eq!(frames.iter().filter(|f| f["evidence"] == true).count(), 9);
        assert_eq!(timeline["review_case_id"], case_id.as_str());
        let (_, queue) = app.get(&reviewer, "/v1/reviews").await;
        let cases: Vec<&Value> = queue["reviews"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["kind"] == "invigilation")
            .collect();
        assert_eq!(cases.len(), 1);
        assert_eq!(cases[0]["id"], case_id.as_str());
        assert_eq!(
            cases[0]["reasons"],
            json!([
                "invigilation_different_person",
                "invigilation_no_face",
                "invigilation_multiple_faces"
            ])
        );
        let (_, case) = app.get(&reviewer, &format!("/v1/reviews/{case_id}")).await;
        let links: Vec<&str> = case["media"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["kind"].as_str().unwrap())
            .collect();
        assert_eq!(links.iter().filter(|k| k.starts_with("frame-")).count(), 9);
        let r = app
            .http
            .get(format!("{}/v1/reviews/{case_id}/media/frame-4", app.base))
            .bearer_auth(&reviewer)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(
            r.bytes().await.unwrap().to_vec(),
            std::fs::read(&another[0]).unwrap()
        );
        assert_eq!(app.events("invigilation.flagged").await.len(), 1);

        // Closing summarises; no further frames are taken; nothing ended the assessment but the caller.
        let (status, closed) = app
            .post_json(
                &submitter,
                &format!("/v1/invigilation/sessions/{id}/close"),
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(closed["status"], "closed");
        assert_eq!(closed["summary"]["frames"], 12);
        assert_eq!(closed["summary"]["same_person"], 3);
        assert_eq!(
            closed["summary"]["anomalies"],
            json!({"no_face": 3, "multiple_faces": 3, "different_person": 3})
        );
        let (status, e) = send_frame(&app, &submitter, &id, &candidate[0]).await;
        assert_eq!(
            (status, e["code"].as_str()),
            (StatusCode::CONFLICT, Some("session_closed"))
        );
        // The subject's access export holds the session with every frame's result.
        let auditor = app.key("acme", "auditor").await;
        let (_, export) = app.get(&auditor, "/v1/subjects/candidate-1/export").await;
        assert_eq!(export["invigilation_sessions"][0]["id"], id.as_str());
        assert_eq!(
            export["invigilation_sessions"][0]["frames"]
                .as_array()
                .unwrap()
                .len(),
            12
        );
        // Another organisation sees nothing.
        let outsider = app.key("globex", "submitter").await;
        assert_eq!(
            app.get(&outsider, &format!("/v1/invigilation/sessions/{id}"))
                .await
                .0,
            StatusCode::NOT_FOUND
        );
        app.stop().await;
    }
);
