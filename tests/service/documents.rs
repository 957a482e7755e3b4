//! Reading the identity document through the service: specimen passports (drawn with the OCR-B font,
//! photographed with perspective and blur by `idv::eval::specimen`) carrying a sample face; the declared
//! identity compared with the MRZ; expiry; a photo that is no document; the reviewer's identity view;
//! the subject's export and erasure; a capture link made with a declared identity.

use idv::document::mrz::parse;
use idv::eval::specimen::{
    mrz_lines, photograph, portrait_crop, render, Shot, SpecimenHolder, SpecimenKind,
};
use idv::pipeline::face::Faces;
use idv::pipeline::FaceAnalyzer;
use idv::vision::detect::DetectorConfig;
use reqwest::multipart::{Form, Part};
use reqwest::StatusCode;
use time::macros::date;
use time::Date;

use super::console::{code_now, sign_in};
use super::harness::*;
use super::support::*;
use idv::settings::Settings;

/// A photographed specimen passport of `holder` with obama.jpg's face as its portrait (the models run
/// on this thread: called from a test's runtime, it steps out of it).
fn passport(holder: &SpecimenHolder, seed: u64) -> Vec<u8> {
    tokio::task::block_in_place(|| draw_passport(holder, seed))
}

fn draw_passport(holder: &SpecimenHolder, seed: u64) -> Vec<u8> {
    let font_bytes = std::fs::read(idv::eval::specimen::OCR_B_FONT)
        .expect("the OCR-B font (fonts-ocr-b; run `make setup`)");
    let font = ab_glyph::FontRef::try_from_slice(&font_bytes).unwrap();
    let photo = image::open(sample("obama.jpg")).unwrap().to_rgb8();
    let engine = shared_engine();
    let analysis = FaceAnalyzer::new(&engine, DetectorConfig::default())
        .analyse(&photo, Faces::Primary)
        .unwrap();
    let face = portrait_crop(&photo, &analysis.primary().unwrap().bbox);
    let page = render(SpecimenKind::Passport, holder, &face, &font);
    photograph(
        &page,
        &Shot {
            seed,
            rotation: if seed.is_multiple_of(2) { 90 } else { 0 },
            ..Shot::default()
        },
    )
}

fn obama(expiry: Date) -> SpecimenHolder {
    SpecimenHolder {
        surname: "Obama".into(),
        given_names: "Barack Hussein".into(),
        date_of_birth: date!(1961 - 08 - 04),
        sex: 'M',
        expiry_date: expiry,
        document_number: "X4K7P2Q91".into(),
        issuing_state: "UTO".into(),
        nationality: "UTO".into(),
    }
}

async fn submit(
    app: &TestApp,
    key: &str,
    subject: &str,
    consent: &str,
    document: Vec<u8>,
    declared: Option<serde_json::Value>,
) -> serde_json::Value {
    let mut form = Form::new()
        .part("document", Part::bytes(document).file_name("passport.jpg"))
        .part(
            "selfie",
            Part::bytes(std::fs::read(sample("obama3.jpg")).unwrap()).file_name("selfie.jpg"),
        )
        .text("subject_ref", subject.to_string())
        .text("consent_ref", consent.to_string())
        .text("purpose", "ecs_application");
    if let Some(d) = declared {
        form = form.part(
            "declared",
            Part::text(d.to_string())
                .mime_str("application/json")
                .unwrap(),
        );
    }
    let r = app
        .http
        .post(format!("{}/v1/verifications", app.base))
        .bearer_auth(key)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn reading_app(db: Db) -> (TestApp, Settings) {
    let mut settings = settings_for(&fresh_database(db).await).await;
    settings.document.read_mrz = true;
    (TestApp::spawn_with(settings.clone()).await, settings)
}

on_both!(
    a_specimen_passport_is_read_checked_and_kept_sealed,
    |db| async move {
        let (app, settings) = reading_app(db).await;
        let key = app.key("org1", "submitter").await;
        let reviewer = app.key("org1", "reviewer").await;
        let auditor = app.key("org1", "auditor").await;
        let declared = serde_json::json!({"surname": "Obama", "given_names": "Barack Hussein", "date_of_birth": "1961-08-04"});

        // The right person, the identity they declared, a valid document: verified.
        let consent = app.consent(&key, "applicant-1", "ecs_application").await;
        let v = submit(
            &app,
            &key,
            "applicant-1",
            &consent,
            passport(&obama(date!(2034 - 01 - 31)), 1),
            Some(declared.clone()),
        )
        .await;
        assert_eq!(v["decision"], "verified", "{v}");
        let doc = &v["document"];
        assert_eq!(doc["mrz_found"], true, "{v}");
        assert_eq!(doc["format"], "TD3");
        assert_eq!(doc["mrz_valid"], true);
        assert_eq!(doc["expired"], false);
        assert_eq!(doc["portrait_on_mrz_page"], true);
        assert_eq!(doc["declared_compared"], true);
        assert_eq!(doc["reasons"], serde_json::json!([]));
        // The record holds no personal data: no name, no number, no MRZ line.
        let text = v.to_string();
        assert!(
            !text.contains("OBAMA") && !text.contains("X4K7P2Q91"),
            "{text}"
        );

        // Someone else's name declared, on an expired document (turned 90°): referred, with both reasons.
        let consent2 = app.consent(&key, "applicant-2", "ecs_application").await;
        let other = serde_json::json!({"surname": "Müller-Lüdenscheidt", "given_names": "Zoë", "date_of_birth": "1961-08-04"});
        let v2 = submit(
            &app,
            &key,
            "applicant-2",
            &consent2,
            passport(&obama(date!(2020 - 06 - 30)), 2),
            Some(other),
        )
        .await;
        assert_eq!(v2["decision"], "referred", "{v2}");
        let reasons = v2["reasons"].as_array().unwrap();
        for r in ["document_expired", "declared_name_mismatch"] {
            assert!(reasons.iter().any(|x| x == r), "{r} missing: {v2}");
        }
        assert!(
            !reasons
                .iter()
                .any(|x| x == "declared_date_of_birth_mismatch"),
            "{v2}"
        );

        // A face photo is no document: referred, never rejected, and no error.
        let consent3 = app.consent(&key, "applicant-3", "ecs_application").await;
        let v3 = submit(
            &app,
            &key,
            "applicant-3",
            &consent3,
            std::fs::read(sample("obama.jpg")).unwrap(),
            Some(declared),
        )
        .await;
        assert_eq!(v3["decision"], "referred");
        assert_eq!(
            v3["document"]["reasons"],
            serde_json::json!(["document_mrz_not_found"])
        );

        // The reviewer sees declared against read, field by field; the view is audited.
        let case = v2["review_case_id"].as_str().unwrap();
        let (status, identity) = app
            .get(&reviewer, &format!("/v1/reviews/{case}/identity"))
            .await;
        assert_eq!(status, StatusCode::OK, "{identity}");
        assert_eq!(identity["read"]["fields"]["surname"], "OBAMA");
        assert_eq!(identity["read"]["fields"]["given_names"], "BARACK HUSSEIN");
        assert_eq!(identity["read"]["fields"]["expiry_date"], "2020-06-30");
        assert_eq!(identity["declared"]["surname"], "Müller-Lüdenscheidt");
        let agrees: Vec<(String, bool)> = identity["comparison"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["field"].as_str().unwrap().to_string(),
                    c["agrees"].as_bool().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            agrees,
            [
                ("surname".to_string(), false),
                ("given_names".to_string(), false),
                ("date_of_birth".to_string(), true)
            ]
        );
        assert_eq!(app.events("review.identity_viewed").await, [case]);
        let (status, _) = app.get(&key, &format!("/v1/reviews/{case}/identity")).await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "a submitter does not read identities"
        );

        // The console's case page shows each check and declared against read.
        let alice = crate::console::reviewer(&app, &settings, "org1", "alice").await;
        let session = sign_in(&app, "alice", &alice.password, &code_now(&alice))
            .await
            .unwrap();
        let page = app
            .http
            .get(format!("{}/review/cases/{case}", app.base))
            .header(reqwest::header::COOKIE, &session.cookie)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        for shown in [
            "id=\"declared-vs-read\"",
            "Müller-Lüdenscheidt",
            "<strong>differs</strong>",
            "expired",
            "id=\"mrz-lines\"",
            "Check digit: composite",
        ] {
            assert!(
                page.contains(shown),
                "{shown} missing from the case page: {page}"
            );
        }

        // The export shows what was declared and what was read; erasure removes both.
        let (status, export) = app.get(&auditor, "/v1/subjects/applicant-2/export").await;
        assert_eq!(status, StatusCode::OK);
        let item = |kind: &str| {
            export["media"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["kind"] == kind)
                .cloned()
                .unwrap_or_else(|| panic!("{kind} missing from {export}"))
        };
        assert_eq!(item("declared_identity")["data"]["given_names"], "Zoë");
        let lines = item("document_data")["data"]["mrz"]["lines"].clone();
        let printed = mrz_lines(SpecimenKind::Passport, &obama(date!(2020 - 06 - 30)));
        assert_eq!(lines, serde_json::json!(printed), "read exactly as printed");
        let (status, erased) = app
            .send_json(
                "DELETE",
                &auditor,
                "/v1/subjects/applicant-2",
                serde_json::json!({"reason": "request 7"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{erased}");
        let (_, after) = app.get(&auditor, "/v1/subjects/applicant-2/export").await;
        assert_eq!(after["media"], serde_json::json!([]), "{after}");
        app.stop().await;
    }
);

on_both!(
    a_capture_link_carries_the_declared_identity,
    |db| async move {
        let (app, _) = reading_app(db).await;
        let key = app.key("org1", "submitter").await;
        let auditor = app.key("org1", "auditor").await;
        let (status, bad) = app
            .post_json(
                &key,
                "/v1/capture-links",
                serde_json::json!({"subject_ref": "applicant-9", "purpose": "ecs_application",
            "declared": {"surname": " ", "given_names": "A", "date_of_birth": "1990-01-01"}}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert_eq!(bad["code"], "invalid_field");
        let (status, link) = app
        .post_json(&key, "/v1/capture-links", serde_json::json!({"subject_ref": "applicant-9", "purpose": "ecs_application",
            "declared": {"surname": "O'Brien", "given_names": "Siobhán", "date_of_birth": "1990-01-01"}}))
        .await;
        assert_eq!(status, StatusCode::CREATED, "{link}");
        let (_, export) = app.get(&auditor, "/v1/subjects/applicant-9/export").await;
        assert_eq!(
            export["capture_links"][0]["declared"]["surname"], "O'Brien",
            "{export}"
        );
        // Sealed at rest: the link's row holds ciphertext, not the name.
        let link_id = link["id"].as_str().unwrap();
        let row = app
            .store
            .get_capture_link("org1", link_id)
            .await
            .unwrap()
            .unwrap();
        let sealed = row.declared_sealed.expect("sealed");
        assert!(!sealed.windows(7).any(|w| w == b"O'Brien"));
        app.stop().await;
    }
);

#[test]
fn the_specimen_mrz_is_valid_icao() {
    let lines = mrz_lines(SpecimenKind::Passport, &obama(date!(2034 - 01 - 31)));
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let read = parse(&refs).expect("a TD3");
    assert!(read.valid, "{lines:?}");
    let card = mrz_lines(SpecimenKind::IdCard, &obama(date!(2034 - 01 - 31)));
    let refs: Vec<&str> = card.iter().map(String::as_str).collect();
    assert!(parse(&refs).expect("a TD1").valid, "{card:?}");
}
