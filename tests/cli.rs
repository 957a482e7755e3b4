//! The `idv` binary as a user runs it: outputs, exit codes and error codes, and accuracy on the shared
//! labelled data.

mod support;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use support::{root, sample, shared_data};

fn idv(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_idv"))
        .current_dir(root())
        .args(args)
        .env_remove("IDV_CONFIG")
        .output()
        .expect("idv runs")
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn stdout_json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

#[test]
fn verify_json_reports_outcome_faces_and_timings() {
    let (doc, selfie) = (sample("obama.jpg"), sample("obama2.jpg"));
    let v = stdout_json(&idv(&[
        "verify",
        "--document",
        path(&doc),
        "--selfie",
        path(&selfie),
        "--json",
    ]));
    assert_eq!(v["outcome"], "match");
    let similarity = v["similarity"].as_f64().unwrap();
    assert!(similarity > v["thresholds"]["match_at"].as_f64().unwrap());
    for role in ["document", "selfie"] {
        assert_eq!(v[role]["face_found"], true);
        assert_eq!(v[role]["box"].as_array().unwrap().len(), 4);
        assert!(v[role]["score"].as_f64().unwrap() > 0.9);
        assert!(v[role]["timings_ms"]["embed"].as_f64().unwrap() > 0.0);
    }
    assert_eq!(v["document"]["rotation"], 0);
    // A face photo is no identity document: its MRZ is looked for, not found, and that is a reason.
    assert_eq!(v["document_check"]["mrz"], Value::Null);
    assert_eq!(
        v["document_check"]["reasons"],
        serde_json::json!(["document_mrz_not_found"])
    );
    assert!(v["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r == "document_mrz_not_found"));
    assert!(v["timings_ms"]["total"].as_f64().unwrap() > 0.0);
    assert!(v["policy_version"].is_string());
    assert!(
        v.get("embedding").is_none() && v["selfie"].get("embedding").is_none(),
        "no biometrics in the report"
    );
}

#[test]
fn verify_human_output_says_no_match_for_different_people() {
    let (doc, selfie) = (sample("obama.jpg"), sample("biden.jpg"));
    let out = idv(&[
        "verify",
        "--document",
        path(&doc),
        "--selfie",
        path(&selfie),
    ]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("outcome: no_match"), "{text}");
}

#[test]
fn thresholds_from_flags_change_the_outcome() {
    let (doc, selfie) = (sample("obama.jpg"), sample("obama2.jpg"));
    let args = [
        "verify",
        "--document",
        path(&doc),
        "--selfie",
        path(&selfie),
        "--json",
        "--match-at",
        "0.99",
    ];
    let v = stdout_json(&idv(&args));
    assert_eq!(v["outcome"], "uncertain");
    assert_eq!(v["thresholds"]["match_at"], 0.99);
}

#[test]
fn embed_writes_one_json_line_per_file_and_reports_bad_files() {
    let dir = std::env::temp_dir().join(format!("idv-cli-embed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = dir.join("notes.jpg");
    std::fs::write(&text, "this is not an image").unwrap();
    let good = sample("obama.jpg");
    let truncated = dir.join("truncated.jpg");
    let bytes = std::fs::read(&good).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 3]).unwrap();
    let missing = dir.join("missing.jpg");

    let out = idv(&[
        "embed",
        "--json",
        path(&good),
        path(&text),
        path(&truncated),
        path(&missing),
    ]);
    assert_eq!(out.status.code(), Some(3), "some files failed");
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[0]["file"], path(&good), "the path exactly as given");
    assert_eq!(lines[0]["error"], Value::Null);
    let face = &lines[0]["faces"][0];
    let emb: Vec<f64> = face["embedding"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(emb.len(), 512);
    assert!((emb.iter().map(|v| v * v).sum::<f64>() - 1.0).abs() < 1e-3);
    assert_eq!(face["landmarks"].as_array().unwrap().len(), 5);
    assert!(face["norm"].as_f64().unwrap() > 2.0);
    assert_eq!(lines[1]["error"], "image_unsupported_format");
    assert_eq!(lines[2]["error"], "image_corrupt");
    assert_eq!(lines[3]["error"], "file_unreadable");
    for l in &lines[1..] {
        assert_eq!(l["faces"].as_array().unwrap().len(), 0);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn missing_models_say_how_to_fetch_them() {
    let doc = sample("obama.jpg");
    let out = idv(&[
        "verify",
        "--models",
        "/nonexistent",
        "--document",
        path(&doc),
        "--selfie",
        path(&doc),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("error[model_unavailable]") && err.contains("make setup"),
        "{err}"
    );
}

#[test]
fn a_missing_runtime_library_is_a_clear_error() {
    let doc = sample("obama.jpg");
    let out = idv(&[
        "embed",
        "--ort-lib",
        "/nonexistent/libonnxruntime.so",
        path(&doc),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("error[runtime_unavailable]"), "{err}");
}

#[test]
fn cuda_without_a_cuda_build_fails_instead_of_running_on_the_cpu() {
    let doc = sample("obama.jpg");
    let out = idv(&["embed", "--device", "cuda", path(&doc)]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("error[device_unavailable]"), "{err}");
}

/// The accuracy bound of the face-verification issue, on the shared labelled data.
#[test]
fn eval_on_the_shared_data_meets_the_accuracy_bounds() {
    let data = shared_data();
    let plot = std::env::temp_dir().join(format!("idv-det-{}.png", std::process::id()));
    let pairs = data.join("pairs.csv");
    let v = stdout_json(&idv(&[
        "eval",
        "--pairs",
        path(&pairs),
        "--root",
        path(&data),
        "--json",
        "--plot",
        path(&plot),
    ]));
    assert_eq!(
        v["enrolled"], v["images"],
        "every image enrolled: {}",
        v["failures_to_enrol"]
    );
    assert!(v["rates"]["genuine_pairs"].as_u64().unwrap() > 100);
    let eer = v["rates"]["eer"].as_f64().unwrap();
    assert!(eer <= 0.005, "EER {eer}");
    let at_1e3 = v["rates"]["at_fmr"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["target_fmr"] == 1e-3)
        .unwrap();
    assert!(at_1e3["fnmr"].as_f64().unwrap() <= 0.02, "{at_1e3}");
    let png = std::fs::read(&plot).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    std::fs::remove_file(&plot).unwrap();
}

/// A scratch folder for one test, removed by the test when it passes.
fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("idv-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_closed_stdout_ends_the_command_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let clip = shared_data().join("liveportrait/video/d0.mp4");
    let mut child = Command::new(env!("CARGO_BIN_EXE_idv"))
        .current_dir(root())
        .args(["liveness", path(&clip)])
        .env_remove("IDV_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("idv runs");
    // The reader goes away before the report is written, as `| head -3` does after three lines.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        out.status.success() || out.status.signal() == Some(libc::SIGPIPE),
        "{:?}: {stderr}",
        out.status
    );
}

#[test]
fn eval_names_rows_it_cannot_read_and_never_prints_nan() {
    let dir = scratch("eval");
    let faces = root().join("testdata/face_recognition");
    let pairs = dir.join("pairs.csv");
    std::fs::write(
        &pairs,
        "identity,file\nobama,obama.jpg\nobama,obama2.jpg\nbiden,missing.jpg\n",
    )
    .unwrap();
    // One genuine pair is scored; no impostor pair is (its only other image is unreadable).
    let out = idv(&["eval", "--pairs", path(&pairs), "--root", path(&faces)]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{}:4 (missing.jpg): file_unreadable",
            pairs.display()
        )),
        "{stderr}"
    );
    assert!(!stdout.contains("NaN"), "{stdout}");
    assert!(stdout.contains("EER:    n/a"), "{stdout}");

    // No pair at all: refused, on stdout as well with --json.
    std::fs::write(&pairs, "obama,obama.jpg\nbiden,missing.jpg\n").unwrap();
    let out = idv(&["eval", "--pairs", path(&pairs), "--root", path(&faces)]);
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("error[no_pairs_scored]"), "{stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("NaN"));
    let out = idv(&[
        "eval",
        "--pairs",
        path(&pairs),
        "--root",
        path(&faces),
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(3));
    let v: Value = serde_json::from_slice(&out.stdout).expect("a JSON error on stdout");
    assert_eq!(v["error"]["code"], "no_pairs_scored");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn verify_names_the_input_it_cannot_use_also_in_json() {
    let dir = scratch("verify-input");
    let selfie = dir.join("selfie.jpg");
    std::fs::write(&selfie, "this is not an image").unwrap();
    let doc = sample("obama.jpg");
    let args = [
        "verify",
        "--document",
        path(&doc),
        "--selfie",
        path(&selfie),
    ];
    let out = idv(&args);
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "error[image_unsupported_format]: selfie {}:",
            selfie.display()
        )),
        "{stderr}"
    );
    let out = idv(&[&args[..], &["--json"]].concat());
    assert_eq!(out.status.code(), Some(3));
    let v: Value = serde_json::from_slice(&out.stdout).expect("a JSON error on stdout");
    assert_eq!(v["error"]["code"], "image_unsupported_format");
    assert_eq!(v["error"]["input"], "selfie");
    assert_eq!(v["error"]["path"], path(&selfie));
    assert!(v["error"]["message"].as_str().unwrap().contains("selfie"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn document_json_reads_the_mrz_and_refuses_bad_input_with_a_stable_code() {
    let specimen = shared_data().join("passporteye/tests/passport-td2.png");
    let v = stdout_json(&idv(&["document", path(&specimen), "--json"]));
    assert_eq!(v["mrz"]["format"], "TD2");
    assert_eq!(v["mrz"]["valid"], true);
    assert_eq!(
        v["mrz"]["lines"],
        serde_json::json!([
            "I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<",
            "D231458907UTO7408122F1204159<<<<<<<6"
        ])
    );
    assert_eq!(v["mrz"]["check_digits"]["document_number"]["valid"], true);
    assert_eq!(v["mrz"]["rotation_degrees"], 0);
    assert_eq!(v["mrz"]["quad"].as_array().unwrap().len(), 4);
    assert!(v["timings_ms"]["total"].as_f64().unwrap() > 0.0);

    let out = idv(&["document", path(&sample("obama.jpg")), "--json"]);
    let v = stdout_json(&out);
    assert_eq!(v["mrz"], Value::Null, "a face photo has no MRZ");

    let dir = scratch("document-input");
    let text = dir.join("not-an-image.jpg");
    std::fs::write(&text, "this is not an image").unwrap();
    let truncated = dir.join("truncated.png");
    let png = std::fs::read(&specimen).unwrap();
    std::fs::write(&truncated, &png[..png.len() / 3]).unwrap();
    for (file, code) in [
        (&text, "image_unsupported_format"),
        (&truncated, "image_corrupt"),
    ] {
        let out = idv(&["document", path(file), "--json"]);
        assert_eq!(out.status.code(), Some(3), "{}", file.display());
        let v: Value = serde_json::from_slice(&out.stdout).expect("a JSON error on stdout");
        assert_eq!(v["error"]["code"], code, "{v}");
        assert_eq!(v["error"]["input"], "document");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn only_the_subcommands_that_run_models_take_the_engine_flags() {
    let help = |args: &[&str]| {
        let out = idv(&[args, &["--help"]].concat());
        assert!(out.status.success(), "{args:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    for args in [
        &["verify"][..],
        &["embed"],
        &["eval"],
        &["liveness"],
        &["serve"],
        &["document"],
        &["eval-documents"],
    ] {
        let text = help(args);
        assert!(
            text.contains("--models") && text.contains("--ort-lib"),
            "{args:?}: {text}"
        );
    }
    for args in [
        &["reviewers", "create"][..],
        &["keys", "create"],
        &["keys", "list"],
        &["audit", "verify"],
        &["retention", "run"],
        &["webhooks", "add"],
        &["webhooks", "list"],
        &["webhooks", "remove"],
    ] {
        let text = help(args);
        assert!(
            !text.contains("--models") && !text.contains("--device"),
            "{args:?}: {text}"
        );
    }
}

#[test]
fn logs_written_to_a_pipe_have_no_colour_codes() {
    let doc = sample("obama.jpg");
    let out = idv(&["embed", "--log", "info", path(&doc)]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("models loaded"), "{stderr}");
    assert!(!stderr.contains('\x1b'), "{stderr:?}");
}

#[test]
fn serve_on_a_busy_port_names_the_address_and_leaves_nothing_behind() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    let dir = scratch("busy-port");
    let db = dir.join("idv.db");
    let url = format!("sqlite://{}", db.display());
    let out = idv(&["serve", "--listen", &addr, "--database", &url]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&addr),
        "the error names the address: {stderr}"
    );
    assert!(!db.exists(), "no database was created");
    assert!(
        !dir.join("idv-master.key").exists(),
        "no master key was created"
    );
}
