//! The real server on port 0 with a fresh database per test (SQLite always; PostgreSQL when
//! IDV_TEST_POSTGRES_URL is set), and a client for it: shared by every module of the service tests.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use idv::domain::clock::Clock;
use idv::domain::token::{generate_secret, new_id, token_hash};
use idv::http::Application;
use idv::inference::Engine;
use idv::models::ModelKind;
use idv::settings::Settings;
use idv::store::{now_ms, KeyRow, NewAudit, Store};
use reqwest::multipart::{Form, Part};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::{engine_config, eventually, root, sample};

/// The master key file every PostgreSQL test shares (servers on one database need the same key);
/// SQLite tests use the default, created beside each fresh database.
pub fn postgres_key_file() -> String {
    root()
        .join("target/test-keys/postgres-master.key")
        .display()
        .to_string()
}

pub fn shared_engine() -> Arc<Engine> {
    static ENGINE: OnceLock<Arc<Engine>> = OnceLock::new();
    ENGINE
        .get_or_init(|| {
            std::env::set_current_dir(root()).unwrap();
            Arc::new(
                Engine::load(&engine_config(), &ModelKind::EVERY)
                    .expect("models (run `make setup`)"),
            )
        })
        .clone()
}

#[derive(Clone, Copy, Debug)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// A fresh, empty database URL. PostgreSQL needs IDV_TEST_POSTGRES_URL: its tests are compiled as
/// ignored without it (see `on_both!`), so reaching here without it is a failure, never a silent pass.
pub async fn fresh_database(db: Db) -> String {
    match db {
        Db::Sqlite => {
            let dir =
                std::env::temp_dir().join(format!("idv-test-{}", uuid::Uuid::new_v4().simple()));
            std::fs::create_dir_all(&dir).unwrap();
            format!("sqlite://{}", dir.join("idv.db").display())
        }
        Db::Postgres => {
            let admin = std::env::var("IDV_TEST_POSTGRES_URL")
                .ok()
                .filter(|u| !u.is_empty())
                .expect(
                    "IDV_TEST_POSTGRES_URL is not set, but this binary was built with it: \
                     run the tests through cargo, which rebuilds them when it changes",
                );
            let name = format!("idv_test_{}", uuid::Uuid::new_v4().simple());
            let store = Store::connect_unmigrated_for_tests(&admin)
                .await
                .expect("IDV_TEST_POSTGRES_URL reachable");
            store
                .execute_raw(&format!("CREATE DATABASE {name}"))
                .await
                .unwrap();
            let base = admin.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap();
            format!("{base}/{name}")
        }
    }
}

pub struct TestApp {
    pub base: String,
    pub db_url: String,
    pub store: Store,
    pub http: reqwest::Client,
    pub stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub task: tokio::task::JoinHandle<()>,
}

pub async fn settings_for(db_url: &str) -> Settings {
    let mut s = Settings::default();
    s.service.listen = "127.0.0.1:0".into();
    s.service.database = db_url.into();
    s.service.job_workers = 1;
    s.service.rate_limit_burst = 1000.0;
    s.service.rate_limit_per_sec = 1000.0;
    // Tests send wrong keys on purpose; tests/service/edge.rs sets a low limit to test the throttle.
    s.service.auth_failure_limit = 1_000_000;
    s.review.sample_verified_share = 0.0; // no random review cases: tests count them
                                          // The face photos most tests send as "documents" are not documents: reading one would refer every
                                          // case with `document_mrz_not_found`. tests/service/documents.rs turns it on with specimens.
    s.document.read_mrz = false;
    if db_url.starts_with("postgres") {
        s.privacy.master_key_file = Some(postgres_key_file());
    }
    s
}

impl TestApp {
    pub async fn spawn(db: Db) -> TestApp {
        TestApp::spawn_on(&fresh_database(db).await).await
    }

    pub async fn spawn_on(db_url: &str) -> TestApp {
        TestApp::spawn_with(settings_for(db_url).await).await
    }

    pub async fn spawn_with(settings: Settings) -> TestApp {
        TestApp::spawn_with_clock(settings, Clock::system()).await
    }

    /// With a clock the test moves (`Clock::manual`) instead of waiting for real time to pass.
    pub async fn spawn_with_clock(settings: Settings, clock: Clock) -> TestApp {
        let db_url = settings.service.database.clone();
        let app = Application::build(settings, shared_engine())
            .await
            .expect("app builds")
            .with_clock(clock);
        let base = format!("http://{}", app.local_addr());
        let store = app.store().clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            app.run_until(async move {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
        TestApp {
            base,
            db_url,
            store,
            http: client(),
            stop: Some(tx),
            task,
        }
    }

    /// A client for a server started some other way (e.g. `idv serve` as a child process).
    pub fn attach(base: &str, db_url: &str, store: Store) -> TestApp {
        TestApp {
            base: base.into(),
            db_url: db_url.into(),
            store,
            http: client(),
            stop: None,
            task: tokio::spawn(async {}),
        }
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }

    pub async fn key(&self, org: &str, role: &str) -> String {
        create_key(&self.store, org, role).await
    }

    pub async fn consent(&self, key: &str, subject: &str, purpose: &str) -> String {
        let r = self
            .http
            .post(format!("{}/v1/consents", self.base))
            .bearer_auth(key)
            .json(&json!({"subject_ref": subject, "purpose": purpose, "lawful_basis": "explicit_consent", "notice_version": "2026-10"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        r.json::<Value>().await.unwrap()["consent_ref"]
            .as_str()
            .unwrap()
            .to_string()
    }

    pub async fn verify(
        &self,
        key: &str,
        fields: &[(&str, &str)],
        selfie: &str,
        headers: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let mut form = Form::new()
            .part(
                "document",
                Part::bytes(std::fs::read(sample("obama.jpg")).unwrap()).file_name("doc.jpg"),
            )
            .part(
                "selfie",
                Part::bytes(std::fs::read(sample(selfie)).unwrap()).file_name("selfie.jpg"),
            );
        for (k, v) in fields {
            form = form.text(k.to_string(), v.to_string());
        }
        let mut req = self
            .http
            .post(format!("{}/v1/verifications", self.base))
            .bearer_auth(key)
            .multipart(form);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let r = req.send().await.unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Sends a JSON body with `method` (POST, DELETE, …) and returns the status and the JSON answer.
    pub async fn send_json(
        &self,
        method: &str,
        key: &str,
        path: &str,
        body: Value,
    ) -> (StatusCode, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let r = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(key)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn post_json(&self, key: &str, path: &str, body: Value) -> (StatusCode, Value) {
        self.send_json("POST", key, path, body).await
    }

    pub async fn get(&self, key: &str, path: &str) -> (StatusCode, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn wait_decided(&self, key: &str, id: &str) -> Value {
        eventually(
            Duration::from_secs(60),
            &format!("verification {id} to be decided"),
            || async {
                let (status, v) = self.get(key, &format!("/v1/verifications/{id}")).await;
                // A child `idv serve` has the default per-key rate limit: a 429 means ask again later.
                if status == StatusCode::TOO_MANY_REQUESTS {
                    return None;
                }
                assert_eq!(status, StatusCode::OK, "{v}");
                (v["status"] != "pending").then_some(v)
            },
        )
        .await
    }

    pub async fn events(&self, event: &str) -> Vec<String> {
        let (entries, _) = self.store.audit_chain().await.unwrap();
        entries
            .into_iter()
            .filter(|e| e.event == event)
            .map(|e| e.entity)
            .collect()
    }
}

/// One Chromium at a time: the browser tests (console, capture) share this binary, and two headless
/// browsers, one with a fake camera, would slow each other past their steps' timeouts on a small machine.
pub async fn one_browser() -> tokio::sync::MutexGuard<'static, ()> {
    static BROWSER: OnceLock<tokio::sync::Mutex<()>> = OnceLock::new();
    BROWSER
        .get_or_init(|| tokio::sync::Mutex::new(()))
        .lock()
        .await
}

/// No connection reuse: a server that refuses a request before reading its body (401, 403) closes the
/// connection, and a pooled client would trip over it on its next request.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

pub async fn create_key(store: &Store, org: &str, role: &str) -> String {
    create_key_with_id(store, org, role).await.1
}

/// A new key's id (to revoke it) and secret.
pub async fn create_key_with_id(store: &Store, org: &str, role: &str) -> (String, String) {
    let secret = generate_secret();
    let key = KeyRow {
        id: new_id("key"),
        org: org.into(),
        role: role.into(),
        label: None,
        key_hash: token_hash(&secret),
        created_at: now_ms(),
    };
    let audit = NewAudit {
        at: now_ms(),
        org: org.into(),
        actor: "test".into(),
        event: "key.created",
        entity: key.id.clone(),
        subject_digest: None,
        details: json!({}),
    };
    store.create_key(&key, &audit).await.unwrap();
    (key.id, secret)
}

pub fn fields<'a>(subject: &'a str, consent: &'a str, purpose: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("subject_ref", subject),
        ("consent_ref", consent),
        ("purpose", purpose),
    ]
}

/// Runs a test body on SQLite, and on PostgreSQL when IDV_TEST_POSTGRES_URL is set at build time
/// (build.rs turns it into `cfg(idv_test_postgres)`); without it the PostgreSQL twin is reported as
/// ignored, not as passed.
macro_rules! on_both {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                ($body)(Db::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[cfg_attr(not(idv_test_postgres), ignore = "set IDV_TEST_POSTGRES_URL to run")]
            async fn postgres() {
                ($body)(Db::Postgres).await
            }
        }
    };
}

/// `idv serve` as a child process, with the address it printed.
pub struct ServerProcess {
    pub child: std::process::Child,
    pub base: String,
}

/// Starts `idv serve` on port 0 with `extra` flags, its log (stderr) going to `stderr`.
pub fn start_server_with(
    db_url: &str,
    extra: &[&str],
    stderr: std::process::Stdio,
) -> ServerProcess {
    use std::io::{BufRead, BufReader};
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_idv"))
        .current_dir(root())
        .env("IDV_MASTER_KEY_FILE", postgres_key_file())
        .env("IDV_CONFIG", root().join("tests/service/faces_only.toml"))
        .args(["serve", "--listen", "127.0.0.1:0", "--database", db_url])
        .args(extra)
        .stdout(std::process::Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .trim()
        .strip_prefix("idv listening on ")
        .expect("address line")
        .to_string();
    ServerProcess { child, base }
}

/// `idv ARGS` on `db_url`, as an operator runs it beside the server: with PostgreSQL, the shared
/// master key file names the folder of the audit signing key and checkpoints (SQLite: the database's).
pub fn idv_on(db_url: &str, args: &[&str]) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_idv"));
    if db_url.starts_with("postgres") {
        cmd.env("IDV_MASTER_KEY_FILE", postgres_key_file());
    }
    cmd.env_remove("IDV_AUDIT_SIGNING_KEY")
        .args(args)
        .args(["--database", db_url])
        .output()
        .unwrap()
}
