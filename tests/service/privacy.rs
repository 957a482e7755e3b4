//! Data protection by design, end to end on the real server (SQLite always; PostgreSQL when
//! IDV_TEST_POSTGRES_URL is set): encryption at rest, export, erasure, restriction, consent
//! withdrawal, retention, and logs without biometric data.

use std::collections::HashSet;
use std::io::Read;
use std::process::{Command, Stdio};

use base64::Engine as _;
use idv::http::Application;
use idv::store::{now_ms, Store};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::harness::*;
use crate::support::sample;

const DAY_MS: i64 = 86_400_000;

/// Every byte the database holds, as a backup would: the SQLite file with its WAL, or `pg_dump`'s
/// output with each bytea literal also decoded to raw bytes.
fn database_bytes(db_url: &str) -> Vec<u8> {
    if let Some(path) = db_url.strip_prefix("sqlite://") {
        let mut all = Vec::new();
        for suffix in ["", "-wal", "-shm"] {
            if let Ok(b) = std::fs::read(format!("{path}{suffix}")) {
                all.extend(b);
            }
        }
        assert!(all.len() > 4096, "the database file is there");
        return all;
    }
    let out = Command::new("pg_dump")
        .args(["--no-owner", "--dbname", db_url])
        .output()
        .expect("pg_dump runs");
    assert!(
        out.status.success(),
        "pg_dump: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        text.contains("COPY public.media"),
        "the dump holds the media table"
    );
    let mut all = out.stdout.clone();
    for literal in text.split("\\\\x").skip(1) {
        let hex: String = literal
            .chars()
            .take_while(|c| c.is_ascii_hexdigit())
            .collect();
        if let Ok(b) = hex::decode(&hex[..hex.len() / 2 * 2]) {
            all.extend(b);
        }
    }
    all
}

/// Whether any `width`-byte run of `needle` occurs in `haystack` (runs with little variety, such as
/// padding, are skipped: they occur anywhere).
fn shares_a_run(haystack: &[u8], needle: &[u8], width: usize) -> bool {
    let runs: HashSet<&[u8]> = needle
        .windows(width)
        .filter(|w| w.iter().collect::<HashSet<_>>().len() >= width / 2)
        .collect();
    assert!(!runs.is_empty());
    haystack.windows(width).any(|w| runs.contains(w))
}

async fn auditor_export(app: &TestApp, key: &str, subject: &str, media: bool) -> Value {
    let (status, v) = app
        .get(
            key,
            &format!("/v1/subjects/{subject}/export?include_media={media}"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    v
}

fn embedding_bytes(export: &Value) -> Vec<Vec<u8>> {
    export["media"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["embedding"].as_array())
        .map(|e| {
            e.iter()
                .flat_map(|f| (f.as_f64().unwrap() as f32).to_le_bytes())
                .collect()
        })
        .collect()
}

on_both!(
    nothing_biometric_or_identifying_is_stored_in_clear,
    |db| async move {
        let app = TestApp::spawn(db).await;
        let submitter = app.key("acme", "submitter").await;
        let auditor = app.key("acme", "auditor").await;
        let subject = "applicant-7f3a9c-cleartext-probe";
        let consent = app.consent(&submitter, subject, "ecs_application").await;
        let (status, sync) = app
            .verify(
                &submitter,
                &fields(subject, &consent, "ecs_application"),
                "obama3.jpg",
                &[],
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{sync}");
        let (status, pending) = app
            .verify(
                &submitter,
                &fields(subject, &consent, "ecs_application"),
                "obama2.jpg",
                &[("prefer", "respond-async")],
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED);
        app.wait_decided(&submitter, pending["id"].as_str().unwrap())
            .await;

        let export = auditor_export(&app, &auditor, subject, true).await;
        let embeddings = embedding_bytes(&export);
        assert_eq!(embeddings.len(), 4, "two faces per verification are kept");
        assert!(embeddings.iter().all(|e| e.len() == 512 * 4));
        let raw = database_bytes(&app.db_url);
        // The probe sees what is stored: the sealed form of an upload is found.
        let stored = app
            .store
            .verification_media(sync["id"].as_str().unwrap())
            .await
            .unwrap();
        assert!(
            shares_a_run(&raw, &stored[0].sealed, 32),
            "the search reads the stored bytes"
        );
        for jpeg in ["obama.jpg", "obama3.jpg", "obama2.jpg"] {
            let bytes = std::fs::read(sample(jpeg)).unwrap();
            assert!(
                !shares_a_run(&raw, &bytes, 32),
                "{jpeg}: JPEG bytes in the database"
            );
        }
        for e in &embeddings {
            assert!(
                !shares_a_run(&raw, e, 16),
                "embedding floats in the database"
            );
        }
        assert!(
            !raw.windows(subject.len()).any(|w| w == subject.as_bytes()),
            "the subject reference in clear"
        );
        app.stop().await;
    }
);

on_both!(
    export_holds_every_record_of_the_subject_and_no_other,
    |db| async move {
        let app = TestApp::spawn(db).await;
        let submitter = app.key("acme", "submitter").await;
        let auditor = app.key("acme", "auditor").await;
        let mut ids = Vec::new();
        for (subject, selfie) in [("subject-a", "obama3.jpg"), ("subject-b", "biden.jpg")] {
            let consent = app.consent(&submitter, subject, "ecs_application").await;
            let (status, v) = app
                .verify(
                    &submitter,
                    &fields(subject, &consent, "ecs_application"),
                    selfie,
                    &[],
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{v}");
            ids.push((consent, v["id"].as_str().unwrap().to_string(), v));
        }
        let (status, _) = app.get(&submitter, "/v1/subjects/subject-a/export").await;
        assert_eq!(status, StatusCode::FORBIDDEN, "auditors only");

        let export = auditor_export(&app, &auditor, "subject-a", true).await;
        let text = export.to_string();
        let (a_consent, a_id, a_view) = &ids[0];
        let (b_consent, b_id, _) = &ids[1];
        assert_eq!(export["subject_ref"], "subject-a");
        assert_eq!(export["consents"].as_array().unwrap().len(), 1);
        assert_eq!(export["consents"][0]["consent_ref"], a_consent.as_str());
        assert_eq!(export["verifications"].as_array().unwrap().len(), 1);
        assert_eq!(export["verifications"][0]["id"], a_id.as_str());
        assert_eq!(export["verifications"][0]["scores"], a_view["scores"]);
        assert!(!text.contains(b_consent.as_str()) && !text.contains(b_id.as_str()));
        assert!(!text.contains("subject-b"));
        let events: Vec<&str> = export["audit_events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["event"].as_str().unwrap())
            .collect();
        assert_eq!(
            events,
            [
                "consent.recorded",
                "verification.requested",
                "verification.decided"
            ]
        );
        // The media are the uploads themselves, and the embeddings the ones compared.
        let media = export["media"].as_array().unwrap();
        let kinds: HashSet<&str> = media.iter().map(|m| m["kind"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            HashSet::from([
                "document",
                "selfie",
                "document_embedding",
                "selfie_embedding"
            ])
        );
        for (kind, file) in [("document", "obama.jpg"), ("selfie", "obama3.jpg")] {
            let m = media.iter().find(|m| m["kind"] == kind).unwrap();
            let content = base64::engine::general_purpose::STANDARD
                .decode(m["content_base64"].as_str().unwrap())
                .unwrap();
            assert_eq!(content, std::fs::read(sample(file)).unwrap());
        }
        let emb = |kind: &str| -> Vec<f64> {
            let m = media.iter().find(|m| m["kind"] == kind).unwrap();
            m["embedding"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f.as_f64().unwrap())
                .collect()
        };
        let cosine: f64 = emb("document_embedding")
            .iter()
            .zip(emb("selfie_embedding"))
            .map(|(a, b)| a * b)
            .sum();
        let similarity = a_view["scores"]["similarity"].as_f64().unwrap();
        assert!(
            (cosine - similarity).abs() < 1e-4,
            "{cosine} vs {similarity}"
        );
        // Without include_media: the inventory, not the content.
        let bare = auditor_export(&app, &auditor, "subject-a", false).await;
        assert_eq!(bare["media"].as_array().unwrap().len(), 4);
        assert!(bare["media"][0].get("content_base64").is_none());
        assert_eq!(app.events("subject.exported").await.len(), 2);
        app.stop().await;
    }
);

on_both!(
    erasure_shreds_the_key_leaves_a_tombstone_and_the_chain_verifies,
    |db| async move {
        let app = TestApp::spawn(db).await;
        let submitter = app.key("acme", "submitter").await;
        let auditor = app.key("acme", "auditor").await;
        let consent = app
            .consent(&submitter, "subject-e", "ecs_application")
            .await;
        let (status, v) = app
            .verify(
                &submitter,
                &fields("subject-e", &consent, "ecs_application"),
                "obama3.jpg",
                &[],
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let id = v["id"].as_str().unwrap().to_string();
        let other = app
            .consent(&submitter, "subject-kept", "ecs_application")
            .await;
        let (_, kept) = app
            .verify(
                &submitter,
                &fields("subject-kept", &other, "ecs_application"),
                "obama3.jpg",
                &[],
            )
            .await;

        // What a backup taken now would hold: the wrapped key and the sealed items.
        let row = app
            .store
            .get_verification_unscoped(&id)
            .await
            .unwrap()
            .unwrap();
        let subject_id = row.subject_id.clone();
        let wrapped = app
            .store
            .subject(&subject_id)
            .await
            .unwrap()
            .unwrap()
            .wrapped_key;
        let sealed: Vec<Vec<u8>> = app
            .store
            .verification_media(&id)
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.sealed)
            .collect();
        assert_eq!(sealed.len(), 4);

        let (status, _) = app
            .send_json(
                "DELETE",
                &submitter,
                "/v1/subjects/subject-e",
                json!({"reason": "request 42"}),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = app
            .send_json("DELETE", &auditor, "/v1/subjects/subject-e", json!({}))
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "a reason is required"
        );
        let (status, erased) = app
            .send_json(
                "DELETE",
                &auditor,
                "/v1/subjects/subject-e",
                json!({"reason": "erasure request 42"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{erased}");
        assert_eq!(erased["counts"]["media"], 2);
        assert_eq!(erased["counts"]["embeddings"], 2);
        assert_eq!(erased["counts"]["verifications_reduced"], 1);
        assert_eq!(erased["counts"]["data_key_destroyed"], true);

        // Nothing decryptable remains: no key, no sealed item, in the tables or the bytes of the files.
        assert!(app.store.subject(&subject_id).await.unwrap().is_none());
        assert!(app.store.verification_media(&id).await.unwrap().is_empty());
        let raw = database_bytes(&app.db_url);
        assert!(
            !shares_a_run(&raw, &wrapped, 32),
            "the wrapped data key is still in the database"
        );
        for s in &sealed {
            assert!(
                !shares_a_run(&raw, s, 32),
                "a sealed item is still in the database"
            );
        }
        // The decision is reduced to the bare fact; the tombstone and the audit entry exist.
        let (status, view) = app
            .get(&submitter, &format!("/v1/verifications/{id}"))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(view["status"], "erased");
        assert!(view["subject_ref"].is_null());
        assert!(view["scores"]["similarity"].is_null());
        assert_eq!(view["input_digests"]["document"], "erased");
        assert_eq!(view["decision"], v["decision"]);
        assert_eq!(app.events("subject.erased").await.len(), 1);
        let export = auditor_export(&app, &auditor, "subject-e", true).await;
        assert_eq!(export["erasures"].as_array().unwrap().len(), 1);
        assert_eq!(export["erasures"][0]["reason"], "erasure request 42");
        assert!(export["media"].as_array().unwrap().is_empty());
        let (status, again) = app
            .send_json(
                "DELETE",
                &auditor,
                "/v1/subjects/subject-e",
                json!({"reason": "again"}),
            )
            .await;
        assert_eq!(
            (status, again["code"].as_str()),
            (StatusCode::GONE, Some("subject_erased"))
        );
        // Another subject is untouched.
        let (_, still) = app
            .get(
                &submitter,
                &format!("/v1/verifications/{}", kept["id"].as_str().unwrap()),
            )
            .await;
        assert_eq!(still["status"], "decided");
        assert_eq!(still["subject_ref"], "subject-kept");
        audit_verify_passes(&app.db_url);
        app.stop().await;
    }
);

fn audit_verify_passes(db_url: &str) {
    let out = idv_on(db_url, &["audit", "verify"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn table_counts(store: &Store) -> Vec<i64> {
    let mut counts = Vec::new();
    for table in [
        "subjects",
        "verifications",
        "media",
        "jobs",
        "audit_log",
        "review_cases",
    ] {
        counts.push(store.count_rows(table).await.unwrap());
    }
    counts
}

on_both!(
    a_restricted_subject_is_refused_and_nothing_is_stored,
    |db| async move {
        let app = TestApp::spawn(db).await;
        let submitter = app.key("acme", "submitter").await;
        let auditor = app.key("acme", "auditor").await;
        let consent = app
            .consent(&submitter, "subject-r", "ecs_application")
            .await;
        let (status, _) = app
            .send_json(
                "POST",
                &submitter,
                "/v1/subjects/subject-r/restrict",
                json!({"reason": "x"}),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        // A subject idv holds nothing about is not found (and no record of them is made).
        let (status, r) = app
            .send_json(
                "POST",
                &auditor,
                "/v1/subjects/nobody-known/restrict",
                json!({"reason": "x"}),
            )
            .await;
        assert_eq!(
            (status, r["code"].as_str()),
            (StatusCode::NOT_FOUND, Some("not_found"))
        );
        let (status, r) = app
            .send_json(
                "POST",
                &auditor,
                "/v1/subjects/subject-r/restrict",
                json!({"reason": "accuracy contested"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{r}");
        assert_eq!(r["restricted"], true);
        let (status, _) = app
            .send_json(
                "POST",
                &auditor,
                "/v1/subjects/subject-r/restrict",
                json!({"reason": "again"}),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT);

        let before = table_counts(&app.store).await;
        for headers in [vec![], vec![("prefer", "respond-async")]] {
            let (status, v) = app
                .verify(
                    &submitter,
                    &fields("subject-r", &consent, "ecs_application"),
                    "obama3.jpg",
                    &headers,
                )
                .await;
            assert_eq!(status, StatusCode::CONFLICT);
            assert_eq!(v["code"], "processing_restricted");
        }
        assert_eq!(table_counts(&app.store).await, before, "nothing stored");

        let (status, _) = app
            .send_json(
                "POST",
                &auditor,
                "/v1/subjects/subject-r/unrestrict",
                json!({"reason": "resolved"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let (status, _) = app
            .verify(
                &submitter,
                &fields("subject-r", &consent, "ecs_application"),
                "obama3.jpg",
                &[],
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(app.events("subject.restricted").await.len(), 1);
        assert_eq!(app.events("subject.unrestricted").await.len(), 1);
        app.stop().await;
    }
);

on_both!(
    withdrawing_consent_purges_unless_another_basis_covers,
    |db| async move {
        let app = TestApp::spawn(db).await;
        let submitter = app.key("acme", "submitter").await;
        let auditor = app.key("acme", "auditor").await;
        let withdraw = |consent: String| {
            let app = &app;
            let key = submitter.clone();
            async move {
                let (status, v) = app
                    .send_json(
                        "POST",
                        &key,
                        &format!("/v1/consents/{consent}/withdraw"),
                        json!({"reason": "applicant asked by phone"}),
                    )
                    .await;
                assert_eq!(status, StatusCode::OK, "{v}");
            }
        };
        let media_of = |subject: &'static str| {
            let app = &app;
            let key = auditor.clone();
            async move {
                auditor_export(app, &key, subject, false).await["media"]
                    .as_array()
                    .unwrap()
                    .len()
            }
        };

        // Only consent: the data collected under it goes.
        let c1 = app
            .consent(&submitter, "subject-w", "ecs_application")
            .await;
        app.verify(
            &submitter,
            &fields("subject-w", &c1, "ecs_application"),
            "obama3.jpg",
            &[],
        )
        .await;
        assert_eq!(media_of("subject-w").await, 4);
        withdraw(c1.clone()).await;
        assert_eq!(media_of("subject-w").await, 0);
        let (entries, _) = app.store.audit_chain().await.unwrap();
        let withdrawn = entries
            .iter()
            .find(|e| e.event == "consent.withdrawn" && e.entity == c1)
            .unwrap();
        assert!(
            withdrawn.details.contains("applicant asked by phone"),
            "the reason is recorded: {}",
            withdrawn.details
        );

        // Another recorded basis for the same purpose: kept, and the audit entry says under what.
        let c2 = app
            .consent(&submitter, "subject-v", "ecs_application")
            .await;
        let (status, basis) = app
            .send_json(
                "POST",
                &submitter,
                "/v1/consents",
                json!({
        "subject_ref": "subject-v", "purpose": "ecs_application",
        "lawful_basis": "substantial_public_interest", "notice_version": "2026-10"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
        app.verify(
            &submitter,
            &fields("subject-v", &c2, "ecs_application"),
            "obama3.jpg",
            &[],
        )
        .await;
        withdraw(c2.clone()).await;
        assert_eq!(media_of("subject-v").await, 4);

        let (entries, _) = app.store.audit_chain().await.unwrap();
        let details = |consent: &str| -> Value {
            let e = entries
                .iter()
                .find(|e| e.event == "consent.withdrawn" && e.entity == consent)
                .unwrap();
            serde_json::from_str(&e.details).unwrap()
        };
        assert_eq!(details(&c1)["purged"], json!({"media": 2, "embeddings": 2}));
        assert_eq!(details(&c2)["purged"], false);
        assert_eq!(
            details(&c2)["retained_under"][0]["consent_ref"],
            basis["consent_ref"]
        );
        assert_eq!(
            details(&c2)["retained_under"][0]["lawful_basis"],
            "substantial_public_interest"
        );
        app.stop().await;
    }
);

on_both!(
    the_retention_sweep_deletes_exactly_what_is_due,
    |db| async move {
        let app = TestApp::spawn(db).await;
        let submitter = app.key("acme", "submitter").await;
        let auditor = app.key("acme", "auditor").await;
        let ecs = app
            .consent(&submitter, "subject-t", "ecs_application")
            .await;
        let inv = app
            .consent(&submitter, "subject-t", "remote_invigilation")
            .await;
        let (_, a) = app
            .verify(
                &submitter,
                &fields("subject-t", &ecs, "ecs_application"),
                "obama3.jpg",
                &[],
            )
            .await;
        let (_, b) = app
            .verify(
                &submitter,
                &fields("subject-t", &inv, "remote_invigilation"),
                "obama3.jpg",
                &[],
            )
            .await;
        let policies = idv::settings::RetentionSettings::default().policies();
        let kinds = || {
            let app = &app;
            let key = auditor.clone();
            async move {
                let e = auditor_export(app, &key, "subject-t", false).await;
                let mut k: Vec<String> = e["media"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|m| {
                        format!(
                            "{}:{}",
                            m["purpose"].as_str().unwrap(),
                            m["kind"].as_str().unwrap()
                        )
                    })
                    .collect();
                k.sort();
                (k, e["verifications"].as_array().unwrap().len())
            }
        };
        let now = now_ms();
        let sweep = |days: i64, dry: bool| {
            let store = app.store.clone();
            let policies = policies.clone();
            async move {
                store
                    .sweep(now + days * DAY_MS, &policies, dry)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|c| (c.purpose, c.media, c.embeddings, c.decision_records))
                    .collect::<Vec<_>>()
            }
        };
        let p = |s: &str| s.to_string();
        // Nothing is due today.
        assert_eq!(
            sweep(0, false).await,
            [
                (p("ecs_application"), 0, 0, 0),
                (p("remote_invigilation"), 0, 0, 0)
            ]
        );
        // After 31 days: both purposes' uploads, and invigilation's embeddings (30 days); a dry run first.
        let due = [
            (p("ecs_application"), 2, 0, 0),
            (p("remote_invigilation"), 2, 2, 0),
        ];
        assert_eq!(sweep(31, true).await, due);
        assert_eq!(kinds().await.0.len(), 8, "a dry run deletes nothing");
        assert_eq!(sweep(31, false).await, due);
        assert_eq!(
            kinds().await,
            (
                vec![
                    p("ecs_application:document_embedding"),
                    p("ecs_application:selfie_embedding")
                ],
                2
            )
        );
        // After a year and a day: the application's embeddings; after two, invigilation's record.
        assert_eq!(
            sweep(366, false).await,
            [
                (p("ecs_application"), 0, 2, 0),
                (p("remote_invigilation"), 0, 0, 0)
            ]
        );
        assert_eq!(
            sweep(731, false).await,
            [
                (p("ecs_application"), 0, 0, 0),
                (p("remote_invigilation"), 0, 0, 1)
            ]
        );
        let (status, _) = app
            .get(
                &submitter,
                &format!("/v1/verifications/{}", b["id"].as_str().unwrap()),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        // Six years and a day, through the CLI: the application's record.
        let when = time::OffsetDateTime::from_unix_timestamp((now + 2191 * DAY_MS) / 1000)
            .unwrap()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_idv"))
            .args([
                "retention",
                "run",
                "--json",
                "--now",
                &when,
                "--database",
                &app.db_url,
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["purposes"][0]["decision_records"], 1);
        let (status, _) = app
            .get(
                &submitter,
                &format!("/v1/verifications/{}", a["id"].as_str().unwrap()),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(app.events("retention.purged").await.len(), 5);
        audit_verify_passes(&app.db_url);
        app.stop().await;
    }
);

/// A full run of `idv serve` at debug level: its logs hold no subject reference, no image bytes (raw
/// or base64) and no embedding value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_of_an_end_to_end_run_carry_no_biometric_data() {
    let db_url = fresh_database(Db::Sqlite).await;
    let ServerProcess { mut child, base } =
        start_server_with(&db_url, &["--log", "debug"], Stdio::piped());
    let mut stderr = child.stderr.take().unwrap();
    let logs = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = stderr.read_to_end(&mut s);
        s
    });
    let store = Store::connect(&db_url).await.unwrap();
    let submitter = create_key(&store, "acme", "submitter").await;
    let auditor = create_key(&store, "acme", "auditor").await;
    let app = TestApp::attach(&base, &db_url, store);
    let subject = "applicant-log-probe-93d1";
    let consent = app.consent(&submitter, subject, "ecs_application").await;
    let (status, sync) = app
        .verify(
            &submitter,
            &fields(subject, &consent, "ecs_application"),
            "obama3.jpg",
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, pending) = app
        .verify(
            &submitter,
            &fields(subject, &consent, "ecs_application"),
            "biden.jpg",
            &[("prefer", "respond-async")],
        )
        .await;
    app.wait_decided(&submitter, pending["id"].as_str().unwrap())
        .await;
    app.get(
        &submitter,
        &format!("/v1/verifications/{}", sync["id"].as_str().unwrap()),
    )
    .await;
    let export = auditor_export(&app, &auditor, subject, true).await;
    app.send_json(
        "POST",
        &auditor,
        &format!("/v1/subjects/{subject}/restrict"),
        json!({"reason": "r"}),
    )
    .await;
    app.verify(
        &submitter,
        &fields(subject, &consent, "ecs_application"),
        "obama3.jpg",
        &[],
    )
    .await;
    app.send_json(
        "DELETE",
        &auditor,
        &format!("/v1/subjects/{subject}"),
        json!({"reason": "r"}),
    )
    .await;

    child.kill().unwrap();
    let _ = child.wait();
    let logs = logs.join().unwrap();
    let text = String::from_utf8_lossy(&logs);
    assert!(
        text.contains("verification") || text.contains("http"),
        "debug logs were written: {}",
        text.len()
    );
    assert!(!text.contains(subject), "a subject reference in the logs");
    assert!(!text.contains("/9j/"), "base64 JPEG in the logs");
    assert!(
        !logs.windows(3).any(|w| w == [0xff, 0xd8, 0xff]),
        "JPEG bytes in the logs"
    );
    let mut values = 0;
    for m in export["media"].as_array().unwrap() {
        for f in m["embedding"].as_array().into_iter().flatten() {
            let shown = format!("{}", f.as_f64().unwrap() as f32);
            if shown.len() >= 8 {
                values += 1;
                assert!(
                    !text.contains(&shown),
                    "an embedding value ({shown}) in the logs"
                );
            }
        }
    }
    assert!(values > 500, "the export's embeddings were checked");
}

on_both!(
    the_master_key_rotates_and_data_stays_readable,
    |db| async move {
        let app = TestApp::spawn(db).await;
        let db_url = app.db_url.clone();
        let submitter = app.key("acme", "submitter").await;
        let consent = app
            .consent(&submitter, "subject-k", "ecs_application")
            .await;
        let (_, v) = app
            .verify(
                &submitter,
                &fields("subject-k", &consent, "ecs_application"),
                "obama3.jpg",
                &[],
            )
            .await;
        let id = v["id"].as_str().unwrap().to_string();
        app.stop().await;

        let new_key = std::env::temp_dir()
            .join(format!("idv-rotated-{}", uuid::Uuid::new_v4().simple()))
            .join("master.key");
        let mut rotate = Command::new(env!("CARGO_BIN_EXE_idv"));
        rotate
            .args([
                "keys",
                "rotate-master",
                "--database",
                &db_url,
                "--new-key-file",
            ])
            .arg(&new_key);
        if db_url.starts_with("postgres") {
            rotate.env("IDV_MASTER_KEY_FILE", postgres_key_file());
        }
        let out = rotate.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("re-wrapped 4 keys"),
            "the subject's key, the subject-index key, the reviewer-secrets key and the webhook-secrets key"
        );

        // The old key no longer opens anything; the new one opens everything.
        let mut settings = settings_for(&db_url).await;
        settings.privacy.master_key_file = Some(new_key.display().to_string());
        let app = TestApp::spawn_with(settings).await;
        let (status, view) = app
            .get(&submitter, &format!("/v1/verifications/{id}"))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(view["subject_ref"], "subject-k");
        let auditor = app.key("acme", "auditor").await;
        let export = auditor_export(&app, &auditor, "subject-k", true).await;
        assert_eq!(embedding_bytes(&export).len(), 2);
        app.stop().await;
        let old = Application::build(settings_for(&db_url).await, shared_engine()).await;
        assert!(
            old.is_err(),
            "the retired master key cannot open the subject index"
        );
        audit_verify_passes(&db_url);
    }
);
