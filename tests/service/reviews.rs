//! Review cases through the API, on the real server (SQLite always; PostgreSQL when configured): a
//! referred decision is listed, read, its images viewed (audited) and resolved, the automated decision
//! left unchanged; organisations and roles are kept apart; verified decisions are sampled.

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::*;
use crate::support::sample;

on_both!(a_referred_case_is_reviewed_and_resolved, |db| async move {
    let app = TestApp::spawn(db).await;
    let submitter = app.key("acme", "submitter").await;
    let reviewer = app.key("acme", "reviewer").await;
    let auditor = app.key("acme", "auditor").await;
    let outsider = app.key("globex", "reviewer").await;
    let consent = app
        .consent(&submitter, "subject-1", "ecs_application")
        .await;
    let (status, v) = app
        .verify(
            &submitter,
            &fields("subject-1", &consent, "ecs_application"),
            "biden.jpg",
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["decision"], "referred");
    let case_id = v["review_case_id"].as_str().unwrap().to_string();

    // The queue: reviewers and auditors of the organisation, not submitters or other organisations.
    let (status, list) = app.get(&reviewer, "/v1/reviews?status=open").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["reviews"][0]["id"], case_id.as_str());
    assert_eq!(list["reviews"][0]["kind"], "referred");
    assert_eq!(list["reviews"][0]["reasons"], v["reasons"]);
    assert_eq!(
        app.get(&submitter, "/v1/reviews").await.0,
        StatusCode::FORBIDDEN
    );
    let (_, theirs) = app.get(&outsider, "/v1/reviews").await;
    assert_eq!(theirs["reviews"], json!([]));
    let path = format!("/v1/reviews/{case_id}");
    assert_eq!(app.get(&outsider, &path).await.0, StatusCode::NOT_FOUND);

    // The case: the decision record with scores and thresholds, and links to both images.
    let (status, case) = app.get(&reviewer, &path).await;
    assert_eq!(status, StatusCode::OK, "{case}");
    assert_eq!(case["verification"]["scores"], v["scores"]);
    assert_eq!(case["verification"]["thresholds"], v["thresholds"]);
    let kinds: Vec<&str> = case["media"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.len(), 2);
    assert!(kinds.contains(&"document") && kinds.contains(&"selfie"));

    // An image: the upload itself, never cached, its view audited with the reviewer's key.
    let r = app
        .http
        .get(format!("{}{path}/media/selfie", app.base))
        .bearer_auth(&reviewer)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(r.headers()["content-type"], "image/jpeg");
    assert_eq!(
        r.bytes().await.unwrap().to_vec(),
        std::fs::read(sample("biden.jpg")).unwrap()
    );
    let (entries, _) = app.store.audit_chain().await.unwrap();
    let viewed = entries
        .iter()
        .find(|e| e.event == "review.media_viewed")
        .unwrap();
    assert_eq!(viewed.entity, case_id);
    assert!(viewed.actor.starts_with("key:"));
    let media_of = |key: &str| {
        let url = format!("{}{path}/media/document", app.base);
        let req = app.http.get(url).bearer_auth(key.to_string());
        async move { req.send().await.unwrap().status() }
    };
    assert_eq!(media_of(&auditor).await, StatusCode::FORBIDDEN);
    assert_eq!(media_of(&outsider).await, StatusCode::NOT_FOUND);

    // The resolution: reviewers only, with a reason, once.
    let resolution = format!("{path}/resolution");
    let body = json!({"outcome": "confirmed_mismatch", "reason": "different person: jaw line and ears differ"});
    assert_eq!(
        app.post_json(&submitter, &resolution, body.clone()).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.post_json(&outsider, &resolution, body.clone()).await.0,
        StatusCode::NOT_FOUND
    );
    let (status, _) = app
        .post_json(
            &reviewer,
            &resolution,
            json!({"outcome": "confirmed_mismatch", "reason": " "}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a reason is required"
    );
    let (status, _) = app
        .post_json(
            &reviewer,
            &resolution,
            json!({"outcome": "rejected", "reason": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "unknown outcome");
    let (status, resolved) = app.post_json(&reviewer, &resolution, body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{resolved}");
    assert_eq!(resolved["status"], "resolved");
    assert_eq!(resolved["resolution"]["outcome"], "confirmed_mismatch");
    assert!(resolved["resolution"]["resolved_by"]
        .as_str()
        .unwrap()
        .starts_with("key:"));
    let (status, again) = app.post_json(&reviewer, &resolution, body).await;
    assert_eq!(
        (status, again["code"].as_str()),
        (StatusCode::CONFLICT, Some("review_already_resolved"))
    );

    // The automated decision is unchanged; the resolution is linked to it and audited.
    let (_, after) = app
        .get(
            &submitter,
            &format!("/v1/verifications/{}", v["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(after["decision"], "referred");
    assert_eq!(after["review_case_id"], case_id.as_str());
    assert_eq!(app.events("review.resolved").await, vec![case_id.clone()]);
    let (_, open) = app.get(&reviewer, "/v1/reviews").await;
    assert_eq!(open["reviews"], json!([]));
    let (_, done) = app.get(&auditor, "/v1/reviews?status=resolved").await;
    assert_eq!(
        done["reviews"][0]["resolution"]["reason"],
        "different person: jaw line and ears differ"
    );
    app.stop().await;
});

on_both!(
    a_share_of_verified_decisions_is_sampled_for_review,
    |db| async move {
        let db_url = fresh_database(db).await;
        let mut settings = settings_for(&db_url).await;
        settings.review.sample_verified_share = 1.0;
        let app = TestApp::spawn_with(settings).await;
        let submitter = app.key("acme", "submitter").await;
        let reviewer = app.key("acme", "reviewer").await;
        let consent = app
            .consent(&submitter, "subject-2", "ecs_application")
            .await;
        let (_, v) = app
            .verify(
                &submitter,
                &fields("subject-2", &consent, "ecs_application"),
                "obama3.jpg",
                &[],
            )
            .await;
        assert_eq!(
            v["decision"], "verified",
            "a sample does not change the decision"
        );
        let (_, list) = app.get(&reviewer, "/v1/reviews").await;
        assert_eq!(list["reviews"][0]["kind"], "sample");
        assert_eq!(
            list["reviews"][0]["reasons"],
            json!(["quality_control_sample"])
        );
        assert_eq!(list["reviews"][0]["id"], v["review_case_id"]);
        app.stop().await;
    }
);
