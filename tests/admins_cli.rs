//! `crier admins …` as an admin runs it: the real binary over a real database file,
//! the password on standard input, exit codes and messages, and the sessions that
//! `passwd` and `remove` end.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use crier::store::Store;
use crier::tokens::passwords;

fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("crier.toml"),
        "[database]\nurl = \"sqlite://crier.db\"\n",
    )
    .unwrap();
    dir
}

/// Runs `crier --config DIR/crier.toml ARGS` with `stdin` as its standard input.
fn crier(dir: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_crier"))
        .arg("--config")
        .arg(dir.join("crier.toml"))
        .args(args)
        .current_dir(dir)
        .env_remove("CRIER_CONFIG")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the crier binary runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// Runs crier, requires the exit code, and gives standard output and error.
fn run(dir: &Path, args: &[&str], stdin: &str, code: i32) -> (String, String) {
    let out = crier(dir, args, stdin);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(code),
        "crier {args:?}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    (stdout, stderr)
}

async fn store(dir: &Path) -> Store {
    Store::open(&dir.join("crier.db")).await.unwrap()
}

#[test]
fn add_list_and_refusals() {
    let dir = setup();
    let root = dir.path();
    let (out, _) = run(root, &["admins", "list"], "", 0);
    assert!(out.contains("no admins yet"), "{out}");

    let (out, _) = run(
        root,
        &["admins", "add", "  Ops@Example.ORG "],
        "a long enough password\nignored second line\n",
        0,
    );
    assert!(out.contains("added the admin ops@example.org"), "{out}");
    let (out, _) = run(root, &["admins", "list"], "", 0);
    assert!(out.starts_with("ops@example.org\t"), "{out}");
    assert!(out.contains("0 sessions"), "{out}");

    let (_, err) = run(
        root,
        &["admins", "add", "ops@example.org"],
        "another long password\n",
        1,
    );
    assert!(
        err.contains("an admin with the address ops@example.org already exists"),
        "{err}"
    );
    let (_, err) = run(root, &["admins", "add", "new@example.org"], "short\n", 1);
    assert!(
        err.contains("too short") && err.contains("10 characters"),
        "{err}"
    );
    let (_, err) = run(root, &["admins", "add", "new@example.org"], "", 1);
    assert!(err.contains("the password is empty"), "{err}");
    let (_, err) = run(
        root,
        &["admins", "add", "not an address"],
        "a long enough password\n",
        1,
    );
    assert!(
        err.contains("`not an address` is not an admin's address"),
        "{err}"
    );
    let (out, _) = run(root, &["admins", "list"], "", 0);
    assert_eq!(out.lines().count(), 1, "nothing else was added: {out}");

    // The stored password is an Argon2id hash of the first line only.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = store(root).await;
        let account = store
            .admin_credentials("ops@example.org")
            .await
            .unwrap()
            .unwrap();
        assert!(account.password_hash.starts_with("$argon2id$"));
        assert!(passwords::verify_password(
            "a long enough password",
            &account.password_hash
        ));
        store.close().await;
    });
}

#[test]
fn passwd_and_remove_end_the_admins_sessions() {
    let dir = setup();
    let root = dir.path();
    run(
        root,
        &["admins", "add", "a@example.org"],
        "first password!\n",
        0,
    );
    run(
        root,
        &["admins", "add", "b@example.org"],
        "second password!\n",
        0,
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (a, b) = ([1u8; 32], [2u8; 32]);
    runtime.block_on(async {
        let store = store(root).await;
        let now = chrono::Utc::now();
        for (email, session) in [("a@example.org", &a), ("b@example.org", &b)] {
            let id = store.admin_credentials(email).await.unwrap().unwrap().id;
            store
                .add_admin_session(session, id, "csrf", now)
                .await
                .unwrap();
        }
        store.close().await;
    });

    let (out, _) = run(
        root,
        &["admins", "passwd", "A@example.org"],
        "a brand new password\n",
        0,
    );
    assert!(
        out.contains("changed the password of a@example.org"),
        "{out}"
    );
    runtime.block_on(async {
        let store = store(root).await;
        assert!(
            store.admin_session(&a).await.unwrap().is_none(),
            "a's session ended"
        );
        assert!(
            store.admin_session(&b).await.unwrap().is_some(),
            "b's did not"
        );
        let account = store
            .admin_credentials("a@example.org")
            .await
            .unwrap()
            .unwrap();
        assert!(passwords::verify_password(
            "a brand new password",
            &account.password_hash
        ));
        assert!(!passwords::verify_password(
            "first password!",
            &account.password_hash
        ));
        store.close().await;
    });
    let (_, err) = run(root, &["admins", "passwd", "a@example.org"], "short\n", 1);
    assert!(err.contains("too short"), "{err}");
    let (_, err) = run(
        root,
        &["admins", "passwd", "c@example.org"],
        "a long enough password\n",
        1,
    );
    assert!(
        err.contains("no admin has the address c@example.org"),
        "{err}"
    );

    let (out, _) = run(root, &["admins", "remove", "b@example.org"], "", 0);
    assert!(out.contains("removed the admin b@example.org"), "{out}");
    runtime.block_on(async {
        let store = store(root).await;
        assert!(store.admin_session(&b).await.unwrap().is_none());
        assert!(
            store
                .admin_credentials("b@example.org")
                .await
                .unwrap()
                .is_none()
        );
        store.close().await;
    });
    let (_, err) = run(root, &["admins", "remove", "b@example.org"], "", 1);
    assert!(
        err.contains("no admin has the address b@example.org"),
        "{err}"
    );
    let (out, _) = run(root, &["admins", "list"], "", 0);
    assert!(
        out.starts_with("a@example.org\t") && out.lines().count() == 1,
        "{out}"
    );
}

#[test]
fn a_broken_config_is_an_error_with_status_1() {
    let dir = setup();
    std::fs::write(
        dir.path().join("crier.toml"),
        "[admin]\nsession_hours = 0\n",
    )
    .unwrap();
    let (_, err) = run(dir.path(), &["admins", "list"], "", 1);
    assert!(err.contains("admin.session_hours"), "{err}");
}
