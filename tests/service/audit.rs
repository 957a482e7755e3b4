//! The audit trail against someone who can write the database but holds no key outside it: the server
//! signs checkpoints of the chain's head into a file, and `idv audit verify` checks the chain against
//! the last one. The attacks of the security probe (issue 14): an entry's actor edited with every later
//! hash and the head recomputed; the last entries deleted with the head fixed; a forged checkpoint.
//! Also: the files the server keeps are readable by their owner only.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use idv::audit::checkpoint::PublicKey;
use idv::audit::entry_hash;
use idv::store::Store;

use crate::harness::*;

/// A server that wrote some entries (keys, consents) and stopped: its database, the checkpoint file
/// (checked to hold a checkpoint of the whole chain, written on shutdown) and the chain's length.
async fn audited(db: Db) -> (String, PathBuf, usize) {
    let app = TestApp::spawn(db).await;
    let key = app.key("acme", "submitter").await;
    for s in ["s1", "s2", "s3"] {
        app.consent(&key, s, "ecs_application").await;
    }
    let db_url = app.db_url.clone();
    app.stop().await;
    let settings = settings_for(&db_url).await;
    let file = idv::audit::files::checkpoint_file(&settings.audit, &settings.privacy, &db_url)
        .expect("a default checkpoint file");
    let store = Store::connect(&db_url).await.unwrap();
    let n = store.audit_chain().await.unwrap().0.len();
    assert_eq!(n, 4, "a key and three consents");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains(&format!("idv/audit\n{n}\n")),
        "the shutdown checkpoint covers every entry: {text}"
    );
    (db_url, file, n)
}

fn verify(db_url: &str, extra: &[&str]) -> (bool, String, String) {
    let mut args = vec!["audit", "verify"];
    args.extend_from_slice(extra);
    let out = idv_on(db_url, &args);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Rewrites entries `from..` as a database writer would: the same content with `edit` applied, every
/// hash recomputed from the one before, and the head fixed, so the chain is consistent in itself.
async fn rewrite_chain(store: &Store, from: i64, edit: impl Fn(&mut idv::audit::AuditEntry)) {
    let (mut entries, _) = store.audit_chain().await.unwrap();
    let mut prev = entries[from as usize - 2].entry_hash.clone();
    for e in entries.iter_mut().filter(|e| e.seq >= from) {
        if e.seq == from {
            edit(e);
        }
        e.prev_hash = prev.clone();
        e.entry_hash = entry_hash(e, &prev);
        prev = e.entry_hash.clone();
        store
            .execute_raw(&format!(
                "UPDATE audit_log SET actor = '{}', prev_hash = '{}', entry_hash = '{}' WHERE seq = {}",
                e.actor, e.prev_hash, e.entry_hash, e.seq
            ))
            .await
            .unwrap();
    }
    store
        .execute_raw(&format!(
            "UPDATE audit_head SET hash = '{prev}' WHERE id = 1"
        ))
        .await
        .unwrap();
}

/// A server on a chain that no longer holds its last checkpoint signs nothing more: it does not start
/// (else its next checkpoint would vouch for the rewritten chain), and the file keeps the old one.
async fn refuses_to_start(db_url: &str) {
    let settings = settings_for(db_url).await;
    let file =
        idv::audit::files::checkpoint_file(&settings.audit, &settings.privacy, db_url).unwrap();
    let before = std::fs::read_to_string(&file).unwrap();
    let started = idv::http::Application::build(settings, shared_engine()).await;
    let err = format!("{:#}", started.err().expect("the server refuses to start"));
    assert!(
        err.contains("no longer contains the last checkpoint"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), before);
}

on_both!(
    an_untouched_chain_verifies_against_its_checkpoint,
    |db| async move {
        let (db_url, file, n) = audited(db).await;
        let (ok, out, err) = verify(&db_url, &[]);
        assert!(ok, "{err}");
        // It says what it checked: the entries, the checkpoint's size and time, the key.
        assert!(out.contains(&format!("chain: {n} entries")), "{out}");
        assert!(out.contains(&format!("{n} entries, taken ")), "{out}");
        assert!(
            out.contains("signature valid under key idv/audit+"),
            "{out}"
        );
        assert!(out.contains("audit chain intact"), "{out}");

        // An auditor keeps the public key and a copy of the checkpoints, and checks with those.
        let printed = idv_on(&db_url, &["audit", "public-key"]);
        assert!(printed.status.success());
        let public = String::from_utf8(printed.stdout).unwrap();
        let public = PublicKey::parse(&public).expect("the printed key parses");
        assert!(out.contains(&public.id()), "{out}");
        let kept = file.with_extension("auditors-copy");
        std::fs::copy(&file, &kept).unwrap();
        let (ok, out, err) = verify(
            &db_url,
            &[
                "--checkpoint",
                kept.to_str().unwrap(),
                "--public-key",
                &public.encode(),
            ],
        );
        assert!(ok, "{err}");
        assert!(
            out.contains("--public-key") && out.contains("auditors-copy"),
            "{out}"
        );

        // More entries after the checkpoint still pass: they are covered by the chain only, and said so.
        let store = Store::connect(&db_url).await.unwrap();
        create_key(&store, "acme", "auditor").await;
        let (ok, out, err) = verify(&db_url, &[]);
        assert!(ok, "{err}");
        assert!(out.contains("1 entries after it"), "{out}");
    }
);

on_both!(
    an_edited_actor_with_the_chain_recomputed_fails,
    |db| async move {
        let (db_url, _, n) = audited(db).await;
        let store = Store::connect(&db_url).await.unwrap();
        // Entry 3 (a consent) now names another actor; everything after it and the head recomputed.
        rewrite_chain(&store, 3, |e| e.actor = "key:someone-else".into()).await;
        let (entries, (seq, head)) = store.audit_chain().await.unwrap();
        assert_eq!(
            idv::audit::verify_chain(&entries, (seq, &head)),
            Ok(n),
            "the chain alone is consistent again: only the checkpoint can tell"
        );
        let (ok, out, err) = verify(&db_url, &[]);
        assert!(!ok, "{out}");
        assert!(
            err.contains("audit_checkpoint_mismatch") && err.contains("rewritten"),
            "{err}"
        );
        assert!(
            out.contains(&format!("chain: {n} entries")),
            "what passed is said: {out}"
        );
        refuses_to_start(&db_url).await;
    }
);

on_both!(
    deleted_last_entries_with_the_head_fixed_fail,
    |db| async move {
        let (db_url, _, n) = audited(db).await;
        let store = Store::connect(&db_url).await.unwrap();
        let (entries, _) = store.audit_chain().await.unwrap();
        let keep = n - 2;
        store
            .execute_raw(&format!("DELETE FROM audit_log WHERE seq > {keep}"))
            .await
            .unwrap();
        store
            .execute_raw(&format!(
                "UPDATE audit_head SET seq = {keep}, hash = '{}' WHERE id = 1",
                entries[keep - 1].entry_hash
            ))
            .await
            .unwrap();
        let (ok, out, err) = verify(&db_url, &[]);
        assert!(!ok, "{out}");
        assert!(
            err.contains("audit_checkpoint_mismatch")
                && err.contains(&format!("covers {n} entries but the chain has {keep}")),
            "{err}"
        );
        refuses_to_start(&db_url).await;
    }
);

on_both!(a_checkpoint_with_a_wrong_signature_fails, |db| async move {
    let (db_url, file, n) = audited(db).await;
    let text = std::fs::read_to_string(&file).unwrap();
    let last = idv::audit::checkpoint::last_note(&text)
        .unwrap()
        .to_string();
    // The same checkpoint with its signature changed (base64 character 20: past the 4-byte key id).
    let signature_line = last.lines().last().unwrap();
    let (prefix, blob) = signature_line.rsplit_once(' ').unwrap();
    let flipped = if &blob[20..21] == "A" { "B" } else { "A" };
    let forged = last.replace(
        signature_line,
        &format!("{prefix} {}{flipped}{}", &blob[..20], &blob[21..]),
    );
    let kept = file.with_extension("forged");
    std::fs::write(&kept, format!("{forged}\n")).unwrap();
    let (ok, _, err) = verify(&db_url, &["--checkpoint", kept.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        err.contains("audit_checkpoint_invalid") && err.contains("is not valid"),
        "{err}"
    );

    // A checkpoint a database writer made up for the rewritten chain, signed with a key of their own
    // under the right name: not signed by the server's key.
    let theirs = idv::audit::checkpoint::CheckpointKey::from_seed("idv/audit", &[9; 32]).unwrap();
    let made_up =
        idv::audit::checkpoint::Checkpoint::of_head("idv/audit", n as i64, &"ee".repeat(32), 0)
            .unwrap();
    std::fs::write(&kept, format!("{}\n", theirs.sign(&made_up).unwrap())).unwrap();
    let (ok, _, err) = verify(&db_url, &["--checkpoint", kept.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        err.contains("audit_checkpoint_invalid") && err.contains("no signature by key"),
        "{err}"
    );
    // And no checkpoint at all is a failure, not a pass.
    let (ok, _, err) = verify(&db_url, &["--checkpoint", "/nonexistent/checkpoints"]);
    assert!(!ok);
    assert!(err.contains("audit_checkpoint_missing"), "{err}");
});

on_both!(the_servers_files_are_owner_only, |db| async move {
    let db_url = fresh_database(db).await;
    let settings = settings_for(&db_url).await;
    let app = TestApp::spawn_with(settings.clone()).await;
    let key = app.key("acme", "submitter").await;
    app.consent(&key, "s1", "ecs_application").await;
    let mode = |p: &std::path::Path| {
        std::fs::metadata(p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .permissions()
            .mode()
            & 0o777
    };
    let mut files = vec![
        idv::audit::files::checkpoint_file(&settings.audit, &settings.privacy, &db_url).unwrap(),
        idv::audit::files::signing_key_file(&settings.audit, &settings.privacy, &db_url).unwrap(),
    ];
    if let Some(db_file) = db_url.strip_prefix("sqlite://") {
        // While the server runs and has written: the database, its WAL and shared-memory index.
        for suffix in ["", "-wal", "-shm"] {
            files.push(PathBuf::from(format!("{db_file}{suffix}")));
        }
        files.push(idv::vault::master_key_file(&settings.privacy, &db_url).unwrap());
    }
    for f in &files {
        assert_eq!(mode(f), 0o600, "{}", f.display());
    }
    app.stop().await;
});

on_both!(
    checkpoints_are_written_while_the_chain_grows,
    |db| async move {
        let db_url = fresh_database(db).await;
        let mut settings = settings_for(&db_url).await;
        settings.audit.checkpoint_interval_secs = 1;
        let file = idv::audit::files::checkpoint_file(&settings.audit, &settings.privacy, &db_url)
            .unwrap();
        let app = TestApp::spawn_with(settings).await;
        let key = app.key("acme", "submitter").await;
        app.consent(&key, "s1", "ecs_application").await;
        // Two entries (the key, the consent) after the start's checkpoint of none: the next interval's
        // checkpoint covers them, while the server runs.
        let mut text = String::new();
        for _ in 0..50 {
            text = std::fs::read_to_string(&file).unwrap();
            if text.contains("idv/audit\n2\n") {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(text.starts_with("idv/audit\n0\n"), "{text}");
        assert!(text.contains("idv/audit\n2\n"), "{text}");
        // An idle chain adds nothing.
        tokio::time::sleep(std::time::Duration::from_millis(2_200)).await;
        assert_eq!(std::fs::read_to_string(&file).unwrap(), text);
        app.stop().await;
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            text,
            "nothing new to sign at shutdown"
        );
    }
);

/// `idv serve` as operators run it: its checkpoints are in its log too, and SIGTERM writes the last one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idv_serve_logs_its_checkpoints_and_signs_one_on_sigterm() {
    use std::io::Read;
    let db_url = fresh_database(Db::Sqlite).await;
    let ServerProcess { mut child, .. } =
        start_server_with(&db_url, &["--log", "info"], std::process::Stdio::piped());
    let mut stderr = child.stderr.take().unwrap();
    let logs = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let store = Store::connect(&db_url).await.unwrap();
    create_key(&store, "acme", "submitter").await;
    // SIGTERM: the graceful shutdown.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    assert!(child.wait().unwrap().success());
    let logs = logs.join().unwrap();
    let lines: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("audit checkpoint"))
        .collect();
    assert_eq!(lines.len(), 2, "at start and on shutdown: {logs}");
    assert!(lines[0].contains("size=0"), "{}", lines[0]);
    assert!(lines[1].contains("size=1"), "{}", lines[1]);
    // The log line carries the whole signed note, the same as the file's last.
    let file = PathBuf::from(format!(
        "{}.checkpoints",
        db_url.strip_prefix("sqlite://").unwrap()
    ));
    let last = idv::audit::checkpoint::last_note(&std::fs::read_to_string(&file).unwrap())
        .unwrap()
        .to_string();
    assert!(lines[1].contains(&format!("{last:?}")), "{}", lines[1]);
    let out = idv_on(&db_url, &["audit", "verify"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
