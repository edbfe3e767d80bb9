//! `crier digest plan|preview|send` and `crier deliveries` as an admin runs them, with
//! the sendmail transport: a real program that crier starts for every message, which
//! keeps what it was given, and refuses one recipient the way a full queue would.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn crier(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_crier"))
        .arg("--config")
        .arg(dir.join("crier.toml"))
        .args(args)
        .current_dir(dir)
        .env_remove("CRIER_CONFIG")
        .env("RUST_LOG", "warn")
        .output()
        .expect("the crier binary runs")
}

/// Runs crier, requires the exit code, and returns its standard output.
fn run(dir: &Path, args: &[&str], code: i32) -> String {
    let out = crier(dir, args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(code),
        "crier {args:?}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    stdout
}

/// A sendmail stand-in: each message and its arguments go to `sent/`, except that
/// mail to refuse@example.org fails with a message on standard error (exit 75,
/// EX_TEMPFAIL) until the file `accept-all` exists.
const SENDMAIL: &str = r#"#!/bin/sh
here=$(dirname "$0")
for arg in "$@"; do
    if [ "$arg" = refuse@example.org ] && [ ! -e "$here/accept-all" ]; then
        cat > /dev/null
        echo "sendmail: the queue directory is full" >&2
        exit 75
    fi
done
printf '%s\n' "$@" > "$here/sent/$$.args"
cat > "$here/sent/$$.eml"
"#;

fn setup() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir(root.join("articles")).unwrap();
    for entry in std::fs::read_dir(repo().join("tests/fixtures/valid")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "txt" || e == "md") {
            std::fs::copy(&path, root.join("articles").join(path.file_name().unwrap())).unwrap();
        }
    }
    std::fs::create_dir(root.join("sent")).unwrap();
    let sendmail = root.join("sendmail");
    std::fs::write(&sendmail, SENDMAIL).unwrap();
    std::fs::set_permissions(&sendmail, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(
        root.join("crier.toml"),
        format!(
            r#"[site]
title = "CLI News"
base_url = "https://news.example.test/"
[store]
path = "articles"
audiences = {:?}
[database]
url = "sqlite://crier.db"
[email]
from = "CLI News <news@news.example.test>"
postal_address = "1 Test Street, Testville"
[delivery]
sendmail = "sendmail"
max_attempts = 1
[[digest]]
name = "weekly"
cron = "0 7 * * 1"
lookback_days = 36500
"#,
            repo()
                .join("subscribers/audiences.toml")
                .display()
                .to_string()
        ),
    )
    .unwrap();
    std::fs::write(
        root.join("subscribers.csv"),
        "email,name,audiences,frequency,timezone\n\
         alice@example.org,Alice,security;hr,weekly,Europe/London\n\
         bob@example.org,,developers,weekly,Asia/Tokyo\n\
         carol@example.org,Carol,students,weekly,UTC\n\
         refuse@example.org,,security,weekly,UTC\n",
    )
    .unwrap();
    let imported = run(
        root,
        &["subscribers", "import", "--active", "subscribers.csv"],
        0,
    );
    assert!(imported.contains("4 rows: 4 added"), "{imported}");
    dir
}

/// The messages sendmail was given, with their arguments, oldest first.
fn sent(dir: &Path) -> Vec<(Vec<String>, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir.join("sent"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    files.sort_by_key(|p| std::fs::metadata(p).unwrap().modified().unwrap());
    files
        .iter()
        .map(|eml| {
            let args = std::fs::read_to_string(eml.with_extension("args")).unwrap();
            let args = args.lines().map(str::to_string).collect();
            (args, std::fs::read(eml).unwrap())
        })
        .collect()
}

/// The first line of `crier deliveries`, which exits 1 while due mail waits.
fn counts(dir: &Path) -> String {
    let out = crier(dir, &["deliveries"]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let due = stdout.contains("due now and not sent") || stdout.contains("claimed by a sender");
    assert_eq!(out.status.code(), Some(i32::from(due)), "{stdout}");
    stdout.lines().next().unwrap_or_default().to_string()
}

#[test]
fn plan_and_preview_send_nothing() {
    let dir = setup();
    let root = dir.path();

    // Monday 07:30 UTC: the 07:00 digest fired half an hour ago in London and UTC, but
    // 9.5 hours ago in Tokyo (Sunday 22:00 UTC), past the default max_lateness of 6 h.
    let at = "2026-11-23T07:30:00Z";
    let plan = run(
        root,
        &["digest", "plan", "--digest", "weekly", "--at", at],
        0,
    );
    let alice = plan
        .lines()
        .find(|l| l.starts_with("alice@example.org"))
        .unwrap_or_else(|| panic!("no line for alice:\n{plan}"));
    // Alice's audiences take three of the fixture articles, grouped in taxonomy order
    // (hr comes before security in audiences.toml).
    assert_eq!(
        alice,
        "alice@example.org  3 articles: HR teams (1), Security teams (2)"
    );
    assert!(plan.contains("refuse@example.org"), "{plan}");
    assert!(!plan.contains("carol@example.org"), "{plan}");
    assert!(!plan.contains("bob@example.org"), "{plan}");
    assert!(
        plan.contains("weekly: 2 to send, 1 with nothing new, 0 already planned, 1 too late"),
        "{plan}"
    );

    let json = run(
        root,
        &["digest", "plan", "--digest", "weekly", "--at", at, "--json"],
        0,
    );
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["plans"].as_array().unwrap().len(), 2);
    assert_eq!(json["plans"][0]["email"], "alice@example.org");
    assert_eq!(json["empty"], 1);
    assert_eq!(json["late"], 1);

    let bad = crier(
        root,
        &["digest", "plan", "--digest", "weekly", "--at", "monday"],
    );
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("`monday` is not a time"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );

    let html = root.join("preview.html");
    let preview = run(
        root,
        &[
            "digest",
            "preview",
            "--email",
            "Alice@Example.org",
            "--digest",
            "weekly",
            "--html",
            html.to_str().unwrap(),
        ],
        0,
    );
    assert!(preview.starts_with("Subject: "), "{preview}");
    assert!(preview.contains("Hello Alice."), "{preview}");
    assert!(
        preview.contains("Brightline Logistics swaps its dispatch desk"),
        "{preview}"
    );
    assert!(preview.contains("1 Test Street, Testville"), "{preview}");
    let html = std::fs::read_to_string(&html).unwrap();
    assert!(html.contains("Hello Alice."), "{html}");
    assert!(
        html.contains("https://news.example.test/unsubscribe"),
        "{html}"
    );

    let nothing = run(
        root,
        &[
            "digest",
            "preview",
            "--email",
            "carol@example.org",
            "--digest",
            "weekly",
        ],
        0,
    );
    assert!(nothing.contains("nothing new"), "{nothing}");
    let unknown = crier(
        root,
        &[
            "digest",
            "preview",
            "--email",
            "dan@example.org",
            "--digest",
            "weekly",
        ],
    );
    assert_ne!(unknown.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&unknown.stderr)
            .contains("no subscriber has the address dan@example.org")
    );
    let no_digest = crier(root, &["digest", "plan", "--digest", "daily"]);
    assert!(
        String::from_utf8_lossy(&no_digest.stderr).contains("there is no digest `daily`"),
        "{}",
        String::from_utf8_lossy(&no_digest.stderr)
    );

    let dry = run(
        root,
        &["digest", "send", "--digest", "weekly", "--dry-run"],
        0,
    );
    assert!(
        dry.contains("would send 3 digests (1 subscribers have nothing new); nothing was queued"),
        "{dry}"
    );
    assert_eq!(counts(root), "queued 0, sending 0, sent 0, failed 0");
    assert!(sent(root).is_empty());
}

#[test]
fn send_through_sendmail_then_retry_the_failed_one() {
    let dir = setup();
    let root = dir.path();

    // One recipient is refused; with max_attempts = 1 that is a failure at once.
    let out = run(root, &["digest", "send", "--digest", "weekly"], 1);
    assert!(
        out.contains("weekly: 3 digests queued (3 distinct contents), 1 with nothing new"),
        "{out}"
    );
    assert!(
        out.contains("2 sent, 0 deferred for a retry, 1 failed"),
        "{out}"
    );
    assert_eq!(counts(root), "queued 0, sending 0, sent 2, failed 1");

    let messages = sent(root);
    assert_eq!(messages.len(), 2);
    let mut recipients = Vec::new();
    for (args, raw) in &messages {
        // lettre's sendmail arguments: -i, the envelope sender, then the recipients.
        assert_eq!(
            args[..4],
            ["-i", "-f", "news@news.example.test", "--"],
            "{args:?}"
        );
        let message = mail_parser::MessageParser::default().parse(raw).unwrap();
        let to = message
            .to()
            .unwrap()
            .first()
            .unwrap()
            .address()
            .unwrap()
            .to_string();
        assert_eq!(args[4..], [to.as_str()]);
        assert!(
            message
                .header_raw("List-Unsubscribe-Post")
                .is_some_and(|v| v.trim() == "List-Unsubscribe=One-Click")
        );
        assert!(message.subject().unwrap().contains("weekly"));
        assert_eq!(message.text_body_count(), 1);
        assert_eq!(message.html_body_count(), 1);
        recipients.push(to);
    }
    recipients.sort();
    assert_eq!(recipients, ["alice@example.org", "bob@example.org"]);

    // The failure is listed with what sendmail said.
    let failed = run(root, &["deliveries", "--failed"], 0);
    let line = failed
        .lines()
        .find(|l| l.contains("refuse@example.org"))
        .unwrap_or_else(|| panic!("{failed}"));
    assert!(line.contains("failed"), "{line}");
    assert!(line.contains("the queue directory is full"), "{line}");
    assert!(line.contains("sendmail"), "{line}");
    assert!(!failed.contains("alice@example.org"), "{failed}");

    let refused = crier(root, &["deliveries", "retry"]);
    assert_ne!(refused.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("add --failed"));

    std::fs::write(root.join("accept-all"), "").unwrap();
    let retried = run(root, &["deliveries", "retry", "--failed"], 0);
    assert!(
        retried.contains("1 failed deliveries queued again"),
        "{retried}"
    );
    assert_eq!(counts(root), "queued 1, sending 0, sent 2, failed 0");
    let waiting = crier(root, &["deliveries"]);
    assert_eq!(waiting.status.code(), Some(1), "due mail waits");
    assert!(String::from_utf8_lossy(&waiting.stdout).contains("1 due now and not sent"));

    // While a daemon holds the database, `digest send` only plans.
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(root.join("crier.db.lock"))
        .unwrap();
    lock.lock().unwrap();
    let planned_only = run(root, &["digest", "send", "--digest", "weekly"], 0);
    assert!(
        planned_only.contains("A running `crier serve` holds the database; it will deliver them."),
        "{planned_only}"
    );
    assert_eq!(sent(root).len(), 2);
    lock.unlock().unwrap();

    // Nothing is new for anyone now; the retried message goes, and only it.
    let out = run(root, &["digest", "send", "--digest", "weekly"], 0);
    assert!(
        out.contains("weekly: 0 digests queued (0 distinct contents), 4 with nothing new"),
        "{out}"
    );
    assert!(
        out.contains("1 sent, 0 deferred for a retry, 0 failed"),
        "{out}"
    );
    assert_eq!(counts(root), "queued 0, sending 0, sent 3, failed 0");
    let messages = sent(root);
    assert_eq!(messages.len(), 3);
    assert_eq!(messages[2].0[4..], ["refuse@example.org".to_string()]);
}

/// The CLI refuses a name with a line break and an address with a display name, like
/// every other way in, and says why.
#[test]
fn subscribers_add_refuses_hostile_names_and_addresses() {
    let dir = setup();
    let root = dir.path();
    let add = |email: &str, name: &str| {
        crier(
            root,
            &[
                "subscribers",
                "add",
                email,
                "--name",
                name,
                "--audiences",
                "hr",
                "--active",
            ],
        )
    };
    let refused = add("eve@example.org", "Eve\r\nBcc: victim@example.org");
    assert_ne!(refused.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("line break (U+000D)"), "{stderr}");
    let refused = add("Eve <eve@example.org>", "Eve");
    assert_ne!(refused.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("angle brackets"));
    let listed = run(root, &["subscribers", "list"], 0);
    assert!(!listed.contains("eve@example.org"), "{listed}");
    run(
        root,
        &[
            "subscribers",
            "add",
            "eve@example.org",
            "--name",
            "Eve",
            "--audiences",
            "hr",
        ],
        0,
    );
}

/// `crier build` after a `crier digest send` writes the archive of that edition from
/// the database; without the database it writes the site alone.
#[test]
fn build_writes_the_archive_of_sent_editions() {
    let dir = setup();
    let root = dir.path();
    std::fs::write(root.join("accept-all"), "").unwrap();
    let out = run(root, &["digest", "send", "--digest", "weekly"], 0);
    assert!(out.contains("weekly: 3 digests queued"), "{out}");
    run(root, &["build", "--out", "site"], 0);
    let archive = root.join("site/archive");
    let weekly = archive.join("weekly");
    let mut editions: Vec<PathBuf> = std::fs::read_dir(&weekly)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("index.html").is_file() && p.file_name().unwrap() != "page")
        .collect();
    editions.sort();
    // Tokyo's Monday may not be London's day; one edition per local day.
    assert!(
        (1..=2).contains(&editions.len()),
        "{editions:?} in {}",
        weekly.display()
    );
    assert!(archive.join("index.html").is_file());
    assert!(weekly.join("index.html").is_file());
    let feed = std::fs::read(weekly.join("atom.xml")).unwrap();
    let feed = feed_rs::parser::parse(&feed[..]).unwrap();
    assert_eq!(feed.entries.len(), editions.len());
    // Each email's "View in browser" is one of the pages written.
    for (_, raw) in sent(root) {
        let message = mail_parser::MessageParser::default().parse(&raw).unwrap();
        let text = message.body_text(0).unwrap();
        let link = text
            .lines()
            .find_map(|l| l.strip_prefix("View in browser: "))
            .expect("a View in browser link");
        let path = link.strip_prefix("https://news.example.test/").unwrap();
        assert!(
            root.join("site").join(path).join("index.html").is_file(),
            "{link}"
        );
    }
    for page in editions.iter().map(|e| e.join("index.html")) {
        let html = std::fs::read_to_string(&page).unwrap();
        for personal in ["alice", "Alice", "bob@", "Carol", "example.org", "token="] {
            assert!(
                !html.contains(personal),
                "{} shows {personal}",
                page.display()
            );
        }
    }

    // No database: the site, and the archive's pages without editions.
    std::fs::remove_file(root.join("crier.db")).unwrap();
    let _ = std::fs::remove_file(root.join("crier.db-wal"));
    let _ = std::fs::remove_file(root.join("crier.db-shm"));
    run(root, &["build", "--out", "bare"], 0);
    assert!(root.join("bare/index.html").is_file());
    let index = std::fs::read_to_string(root.join("bare/archive/weekly/index.html")).unwrap();
    assert!(index.contains("No editions yet"), "{index}");
    let home = std::fs::read_to_string(root.join("bare/index.html")).unwrap();
    assert!(
        home.contains("href=\"https://news.example.test/archive/\""),
        "{home}"
    );
    assert!(root.join("bare/archive/index.html").is_file());
    assert!(!root.join("crier.db").exists(), "build made no database");
}
