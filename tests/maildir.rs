//! `[bounces] maildir`: the daemon's Maildir loop over a real folder and a real
//! SQLite store. A bounce already in `new/` at start and one delivered while it
//! runs (the way an MTA delivers: written in `tmp/`, renamed into `new/`) are both
//! recorded, bounce their subscriber, and end in `cur/` marked seen. A message the
//! database cannot take stays in `new/`.

mod common;

use std::path::Path;
use std::time::Duration;

use common::bounced::{eventually, fixture};
use crier::intake::maildir::{Maildir, MaildirError, Swept};
use crier::model::Status;

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// Delivers a message as an MTA does: written in `tmp/`, then renamed into `new/`.
fn deliver(maildir: &Path, name: &str, raw: &[u8]) {
    let tmp = maildir.join("tmp").join(name);
    std::fs::write(&tmp, raw).unwrap();
    std::fs::rename(&tmp, maildir.join("new").join(name)).unwrap();
}

#[tokio::test]
async fn bounces_in_new_are_recorded_and_moved_to_cur_as_seen() {
    let f = fixture("").await;
    let ada = f.reader("ada@example.org").await;
    let bob = f.reader("bob@example.org").await;
    let carol = f.reader("carol@example.org").await;
    let folder = f.p.dir.path().join("Maildir");
    std::fs::create_dir(&folder).unwrap();
    // `open` makes tmp/, new/ and cur/ in an empty folder.
    let maildir = Maildir::open(&folder, f.bounces.clone())
        .unwrap()
        // Long enough that only the file system watch can explain a quick pick-up.
        .with_rescan(Duration::from_secs(600));
    for sub in ["tmp", "new", "cur"] {
        assert!(folder.join(sub).is_dir(), "{sub}/ made");
    }

    // Waiting before the daemon starts.
    deliver(&folder, "1760346842.M1P1.mx", &f.hard_bounce(&ada));
    std::fs::write(folder.join("new/.hidden"), b"not a message").unwrap();

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(maildir.run(stop_rx));

    let cur = folder.join("cur");
    eventually(10, "the waiting bounce moved to cur/", async || {
        names(&cur) == ["1760346842.M1P1.mx:2,S"]
    })
    .await;

    // Delivered while the loop runs: the watch wakes it.
    deliver(&folder, "1760346900.M2P1.mx", &f.hard_bounce(&bob));
    eventually(10, "the new bounce moved to cur/", async || {
        names(&cur).len() == 2
    })
    .await;
    assert_eq!(
        names(&cur),
        ["1760346842.M1P1.mx:2,S", "1760346900.M2P1.mx:2,S"]
    );
    assert_eq!(names(&folder.join("new")), [".hidden"]);
    assert!(names(&folder.join("tmp")).is_empty());
    // The messages are moved, not rewritten.
    assert_eq!(
        std::fs::read(cur.join("1760346900.M2P1.mx:2,S")).unwrap(),
        f.hard_bounce(&bob)
    );

    assert_eq!(f.all_sources().await, ["maildir", "maildir"]);
    // A hard bounce about the message its Return-Path names (needs bounce::classify).
    assert_eq!(f.event_sources(&ada).await, ["maildir"]);
    assert_eq!(f.event_sources(&bob).await, ["maildir"]);
    assert!(f.event_sources(&carol).await.is_empty());
    assert_eq!(f.status(&ada).await, Status::Bounced);
    assert_eq!(f.status(&bob).await, Status::Bounced);
    assert_eq!(f.status(&carol).await, Status::Active);

    stop_tx.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the loop stops when the daemon does")
        .unwrap();
}

#[tokio::test]
async fn a_bounce_the_database_cannot_take_stays_in_new() {
    let f = fixture("").await;
    let ada = f.reader("ada@example.org").await;
    let folder = f.p.dir.path().join("Maildir");
    std::fs::create_dir(&folder).unwrap();
    let maildir = Maildir::open(&folder, f.bounces.clone()).unwrap();
    deliver(&folder, "1.M1.mx", &f.hard_bounce(&ada));
    let (_stop_tx, stop_rx) = tokio::sync::watch::channel(false);

    f.p.store.close().await;
    let e = maildir.sweep(&stop_rx).await.unwrap_err();
    assert!(e.to_string().contains("stays in new/"), "{e}");
    assert_eq!(names(&folder.join("new")), ["1.M1.mx"]);
    assert!(names(&folder.join("cur")).is_empty());
}

#[tokio::test]
async fn a_sweep_takes_every_waiting_message_once() {
    let f = fixture("").await;
    let ada = f.reader("ada@example.org").await;
    let folder = f.p.dir.path().join("Maildir");
    std::fs::create_dir(&folder).unwrap();
    let maildir = Maildir::open(&folder, f.bounces.clone()).unwrap();
    deliver(&folder, "1.M1.mx", &f.hard_bounce(&ada));
    deliver(
        &folder,
        "2.M1.mx",
        b"Subject: not a bounce\r\n\r\nHello\r\n",
    );
    let (_stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    assert_eq!(
        maildir.sweep(&stop_rx).await.unwrap(),
        Swept {
            recorded: 2,
            skipped: 0
        }
    );
    assert_eq!(maildir.sweep(&stop_rx).await.unwrap(), Swept::default());
    assert_eq!(f.all_sources().await, ["maildir", "maildir"]);
    // Attributed by its Return-Path (needs bounce::classify).
    assert_eq!(f.event_sources(&ada).await, ["maildir"]);
}

#[test]
fn a_missing_maildir_is_an_error_that_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-Maildir");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let f = runtime.block_on(fixture(""));
    let Err(e) = Maildir::open(&missing, f.bounces.clone()) else {
        panic!("a missing folder was accepted")
    };
    assert!(matches!(e, MaildirError::Missing(_)), "{e}");
    assert!(e.to_string().contains("no-such-Maildir"), "{e}");
    assert!(!missing.exists(), "nothing was made");

    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let Err(e) = Maildir::open(&file, f.bounces.clone()) else {
        panic!("a file was accepted")
    };
    assert!(matches!(e, MaildirError::NotAFolder(_)), "{e}");
}

/// `crier serve` itself: a Maildir in its config is read while it runs and the
/// daemon still stops cleanly on SIGTERM; a missing one stops it at start, named.
#[cfg(unix)]
#[test]
fn the_daemon_reads_its_maildir_and_refuses_a_missing_one() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    use std::time::Instant;

    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir(root.join("articles")).unwrap();
    std::fs::create_dir(root.join("subscribers")).unwrap();
    std::fs::copy(
        common::repo().join("subscribers/audiences.toml"),
        root.join("audiences.toml"),
    )
    .unwrap();
    let config = |maildir: &str| {
        let path = root.join(format!("{maildir}.toml"));
        std::fs::write(
            &path,
            format!(
                "[site]\nbase_url = \"http://news.example.test/\"\n\
                 [store]\npath = \"articles\"\naudiences = \"audiences.toml\"\n\
                 [http]\nlisten = \"127.0.0.1:0\"\n\
                 [bounces]\naddress = \"bounces@news.example.test\"\nmaildir = \"{maildir}\"\n"
            ),
        )
        .unwrap();
        path
    };

    let missing = Command::new(env!("CARGO_BIN_EXE_crier"))
        .args(["--config", config("NoMaildir").to_str().unwrap(), "serve"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(!missing.status.success(), "{stderr}");
    assert!(
        stderr.contains("NoMaildir") && stderr.contains("does not exist"),
        "{stderr}"
    );
    assert!(!root.join("NoMaildir").exists(), "nothing was made");

    std::fs::create_dir(root.join("Maildir")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_crier"))
        .args(["--config", config("Maildir").to_str().unwrap(), "serve"])
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let kept = std::sync::Arc::clone(&log);
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let mut log = kept.lock().unwrap();
            log.push_str(&line);
            log.push('\n');
        }
    });
    let wait = |what: &str, check: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !check() {
            assert!(
                Instant::now() < deadline,
                "not within 30s: {what}\n{}",
                log.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    wait("the daemon listens", &|| {
        log.lock().unwrap().contains("listening on")
    });
    let body = "Subject: Re: This week\r\n\r\nA private reply that must not be logged.\r\n";
    deliver(&root.join("Maildir"), "1760346842.M1P1.mx", body.as_bytes());
    let cur = root.join("Maildir/cur");
    wait("the message moved to cur/", &|| {
        names(&cur) == ["1760346842.M1P1.mx:2,S"]
    });

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the daemon did not stop on SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "exit status {status:?}");
    let log = log.lock().unwrap().clone();
    assert!(log.contains("bounce recorded from the Maildir"), "{log}");
    assert!(!log.contains("private reply"), "{log}");
}
