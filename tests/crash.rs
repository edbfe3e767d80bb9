//! `kill -9` at any moment loses nothing: the daemon is killed repeatedly in the middle
//! of a large digest run against a real SMTP server over TCP; after each restart only
//! the messages in flight at the kill may go out again. In the end every subscriber has
//! their digest, and duplicates are at most the concurrency for each kill.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SUBSCRIBERS: usize = 400;
const CONCURRENCY: usize = 4;
const KILLS: usize = 3;

fn crier(config: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_crier"));
    command.arg("--config").arg(config).env("RUST_LOG", "warn");
    command
}

fn start(config: &Path) -> Child {
    crier(config)
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn setup(smtp_url: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let articles = dir.path().join("articles");
    std::fs::create_dir(&articles).unwrap();
    let today = chrono::Utc::now().date_naive();
    for n in 0..3 {
        let day = today - chrono::Duration::days(n);
        let text = format!(
            "Acme · {} · Release · ~2 min read\nCrash-test article {n}\nWhat's actually new\n- Point {n}.\nWho should care\nHR teams.\n",
            day.format("%Y · %m · %d")
        );
        std::fs::write(articles.join(format!("crash-{n}.txt")), text).unwrap();
    }
    std::fs::copy(
        common::repo().join("subscribers/audiences.toml"),
        dir.path().join("audiences.toml"),
    )
    .unwrap();
    let config = dir.path().join("crier.toml");
    std::fs::write(
        &config,
        format!(
            "[site]\nbase_url = \"https://news.example.test/\"\n[store]\npath = \"articles\"\naudiences = \"audiences.toml\"\n\
             [http]\nlisten = \"127.0.0.1:0\"\n[database]\nurl = \"sqlite://crier.db\"\n[email]\nfrom = \"News <news@news.example.test>\"\n\
             [delivery]\nsmtp_url = \"{smtp_url}\"\nconcurrency = {CONCURRENCY}\n\
             [[digest]]\nname = \"weekly\"\ncron = \"* * * * *\"\nlookback_days = 7\n"
        ),
    )
    .unwrap();
    let mut csv = String::from("email,name,audiences,frequency,timezone\n");
    for n in 0..SUBSCRIBERS {
        csv.push_str(&format!(
            "reader{n:04}@example.org,Reader {n},hr,weekly,UTC\n"
        ));
    }
    std::fs::write(dir.path().join("subscribers.csv"), csv).unwrap();
    let status = crier(&config)
        .args(["subscribers", "import", "--active"])
        .arg(dir.path().join("subscribers.csv"))
        .status()
        .unwrap();
    assert!(status.success(), "import failed");
    (dir, config)
}

fn wait_until(what: &str, limit: Duration, done: impl Fn() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What the sink received, checked: everyone has their digest, at most
/// `CONCURRENCY` duplicates per kill, and a re-sent message keeps its Message-ID.
fn assert_everyone_once(received: &[common::smtp::Received]) {
    let mut per_recipient: HashMap<&str, Vec<String>> = HashMap::new();
    for message in received {
        let parsed = mail_parser::MessageParser::default()
            .parse(&message.data)
            .unwrap();
        per_recipient
            .entry(message.to[0].as_str())
            .or_default()
            .push(parsed.message_id().unwrap().to_string());
    }
    assert_eq!(
        per_recipient.len(),
        SUBSCRIBERS,
        "everyone got their digest"
    );
    let duplicates = received.len() - SUBSCRIBERS;
    assert!(
        duplicates <= CONCURRENCY * KILLS,
        "{duplicates} duplicates after {KILLS} kills at concurrency {CONCURRENCY}"
    );
    for (recipient, ids) in &per_recipient {
        assert!(
            ids.iter().all(|id| id == &ids[0]),
            "{recipient} got different Message-IDs: {ids:?}"
        );
    }
    eprintln!(
        "{} messages for {SUBSCRIBERS} subscribers: {duplicates} re-sent after {KILLS} kills",
        received.len()
    );
}

/// The same for `crier digest send`: a run killed three times, then run once more,
/// delivers to everyone. The next run takes over what the dead ones had claimed, as
/// the daemon does at start, instead of leaving it to their leases.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_digest_send_loses_nothing() {
    let (url, sink) = common::smtp::start_with_delay(Duration::from_millis(15)).await;
    let (_dir, config) = setup(&url);
    let count = || sink.received().len();
    let send = || {
        let mut command = crier(&config);
        command
            .args(["digest", "send", "--digest", "weekly"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        command
    };
    for kill in 0..KILLS {
        let before = count();
        let mut run = send().spawn().unwrap();
        wait_until("sends to start", Duration::from_secs(60), || {
            count() >= before + 40 + kill * 7
        });
        run.kill().unwrap();
        run.wait().unwrap();
        assert!(
            count() < SUBSCRIBERS,
            "the run finished before kill {kill}; the test needs a slower sink"
        );
    }
    let last = send().output().unwrap();
    let stdout = String::from_utf8_lossy(&last.stdout);
    assert!(last.status.success(), "{:?}\n{stdout}", last.status);
    assert!(stdout.contains("0 failed"), "{stdout}");
    assert!(
        !stdout.contains("due now") && !stdout.contains("claimed"),
        "{stdout}"
    );
    assert_everyone_once(&sink.received());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_a_run_loses_nothing() {
    let (url, sink) = common::smtp::start_with_delay(Duration::from_millis(15)).await;
    let (_dir, config) = setup(&url);
    let count = || sink.received().len();

    for kill in 0..KILLS {
        let before = count();
        let mut daemon = start(&config);
        // Let it send a batch, then kill it mid-run without warning.
        wait_until("sends to start", Duration::from_secs(60), || {
            count() >= before + 40 + kill * 7
        });
        daemon.kill().unwrap();
        daemon.wait().unwrap();
        assert!(
            count() < SUBSCRIBERS,
            "the run finished before kill {kill}; the test needs a slower sink"
        );
    }
    let mut daemon = start(&config);
    wait_until(
        "every subscriber's digest",
        Duration::from_secs(120),
        || {
            let received = sink.received();
            let unique: std::collections::HashSet<&String> =
                received.iter().map(|m| &m.to[0]).collect();
            unique.len() == SUBSCRIBERS
        },
    );
    // Give stragglers a moment, then stop cleanly.
    std::thread::sleep(Duration::from_millis(500));
    let _ = Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status();
    let status = daemon.wait().unwrap();
    assert!(status.success(), "clean exit after SIGTERM: {status:?}");

    assert_everyone_once(&sink.received());
}
