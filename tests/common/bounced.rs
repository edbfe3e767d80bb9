//! Returned mail for the intake tests (the Maildir, the IMAP mailbox): subscribers
//! with a sent message each, over the real store and worker, and delivery status
//! notifications about those messages, written the way Postfix writes them.

use chrono::Utc;
use crier::bounces::Bounces;
use crier::clock::Clock;
use crier::config::Config;
use crier::model::{Consent, NewContent, NewMessage, OutboxRow, Source as Channel, Status};
use crier::store::{BounceFilter, NewSubscriber};
use crier::tokens::{Signer, Verp};

pub const DOMAIN: &str = "news.example.test";

/// `[bounces]` with the VERP address set, and `extra` lines.
pub fn settings(extra: &str) -> crier::config::Bounces {
    Config::parse(
        &format!("[bounces]\naddress = \"bounces@{DOMAIN}\"\n{extra}"),
        None,
    )
    .unwrap()
    .bounces
}

pub struct Fixture {
    pub p: super::People,
    pub bounces: Bounces,
    pub signer: Signer,
}

/// The people harness (with the admin API's token `api-token`) and a bounces service
/// over its store with `[bounces]` as `extra` says.
pub async fn fixture(extra: &str) -> Fixture {
    let p = super::people(Some("api-token"), false).await;
    let signer = Signer::new(super::SECRET);
    let bounces = Bounces::new(
        p.store.clone(),
        signer.clone(),
        p.clock.clone(),
        settings(extra),
    );
    Fixture { p, bounces, signer }
}

/// One subscriber and the message they were sent.
pub struct Reader {
    pub id: i64,
    pub email: String,
    pub row: OutboxRow,
}

impl Fixture {
    /// An active subscriber of the developers' audience; returns their id.
    pub async fn subscriber(&self, email: &str) -> i64 {
        self.p
            .store
            .add_subscriber(
                &NewSubscriber {
                    email: email.into(),
                    email_hash: self.signer.email_hash(email),
                    name: None,
                    audiences: vec!["developers".into()],
                    frequency: "weekly".into(),
                    timezone: "UTC".into(),
                    status: Status::Active,
                    consent: Consent {
                        at: Utc::now(),
                        source: Channel::Import,
                        ip: None,
                        user_agent: None,
                        text_version: "test-1".into(),
                    },
                },
                self.p.clock.now(),
            )
            .await
            .unwrap()
            .id
    }

    /// Queues one message (`key` names it) to the subscriber, sends it through the
    /// worker, and returns its row.
    pub async fn sent(&self, subscriber: i64, email: &str, key: &str) -> OutboxRow {
        let now = self.p.clock.now();
        let content = self
            .p
            .store
            .save_contents(
                &[NewContent {
                    subject: format!("Issue {key}"),
                    text: "Hello".into(),
                    html: "<p>Hello</p>".into(),
                }],
                now,
            )
            .await
            .unwrap()[0];
        self.p
            .store
            .enqueue(
                [NewMessage {
                    dedup_key: format!("test:{key}"),
                    kind: "digest".into(),
                    subscriber_id: Some(subscriber),
                    recipient: email.into(),
                    content_id: content,
                    vars: "{}".into(),
                    digest: None,
                }],
                &self.signer.message_ids(DOMAIN),
                now,
            )
            .await
            .unwrap();
        self.p.worker.drain().await;
        let row = self
            .p
            .store
            .messages_with_key_prefix(&format!("test:{key}"))
            .await
            .unwrap()
            .pop()
            .unwrap();
        assert!(row.sent_at.is_some(), "the message was sent");
        row
    }

    /// An active subscriber who was sent one message.
    pub async fn reader(&self, email: &str) -> Reader {
        let id = self.subscriber(email).await;
        let row = self.sent(id, email, &format!("intake {email}")).await;
        Reader {
            id,
            email: email.into(),
            row,
        }
    }

    /// The envelope sender a message went out with.
    pub fn return_path_of(&self, row: &OutboxRow) -> String {
        format!(
            "bounces+{}@{DOMAIN}",
            self.signer.verp(row.id, Verp::Bounce)
        )
    }

    /// The envelope sender the reader's message went out with.
    pub fn return_path(&self, reader: &Reader) -> String {
        self.return_path_of(&reader.row)
    }

    /// A Postfix delivery status notification: the reader's mailbox does not exist
    /// (5.1.1), sent back to the message's own Return-Path.
    pub fn hard_bounce(&self, reader: &Reader) -> Vec<u8> {
        let to = self.return_path(reader);
        let rcpt = &reader.email;
        let message_id = &reader.row.message_id;
        format!(
            "Return-Path: <>\r\n\
             Delivered-To: {to}\r\n\
             Date: Tue, 13 Oct 2026 09:14:02 +0000 (UTC)\r\n\
             From: MAILER-DAEMON@mx.example.org (Mail Delivery System)\r\n\
             Subject: Undelivered Mail Returned to Sender\r\n\
             To: {to}\r\n\
             MIME-Version: 1.0\r\n\
             Content-Type: multipart/report; report-type=delivery-status;\r\n\
             \tboundary=\"4C1A92F0.1700000000/mx.example.org\"\r\n\
             Message-Id: <20261013091402.4C1A92F0@mx.example.org>\r\n\
             \r\n\
             This is a MIME-encapsulated message.\r\n\
             \r\n\
             --4C1A92F0.1700000000/mx.example.org\r\n\
             Content-Description: Notification\r\n\
             Content-Type: text/plain; charset=us-ascii\r\n\
             \r\n\
             This is the mail system at host mx.example.org.\r\n\
             \r\n\
             I'm sorry to have to inform you that your message could not\r\n\
             be delivered to one or more recipients.\r\n\
             \r\n\
             <{rcpt}>: host mx.example.org[192.0.2.25] said: 550 5.1.1\r\n\
             \x20   <{rcpt}>: Recipient address rejected: User unknown (in reply to\r\n\
             \x20   RCPT TO command)\r\n\
             \r\n\
             --4C1A92F0.1700000000/mx.example.org\r\n\
             Content-Description: Delivery report\r\n\
             Content-Type: message/delivery-status\r\n\
             \r\n\
             Reporting-MTA: dns; mx.example.org\r\n\
             X-Postfix-Queue-ID: 4C1A92F0\r\n\
             X-Postfix-Sender: rfc822; {to}\r\n\
             Arrival-Date: Tue, 13 Oct 2026 09:14:01 +0000 (UTC)\r\n\
             \r\n\
             Final-Recipient: rfc822; {rcpt}\r\n\
             Original-Recipient: rfc822;{rcpt}\r\n\
             Action: failed\r\n\
             Status: 5.1.1\r\n\
             Remote-MTA: dns; mx.example.org\r\n\
             Diagnostic-Code: smtp; 550 5.1.1 <{rcpt}>: Recipient address rejected:\r\n\
             \x20   User unknown\r\n\
             \r\n\
             --4C1A92F0.1700000000/mx.example.org\r\n\
             Content-Description: Undelivered Message Headers\r\n\
             Content-Type: text/rfc822-headers\r\n\
             \r\n\
             Return-Path: <{to}>\r\n\
             From: Fixture News <news@{DOMAIN}>\r\n\
             To: {rcpt}\r\n\
             Subject: This week\r\n\
             Message-ID: {message_id}\r\n\
             \r\n\
             --4C1A92F0.1700000000/mx.example.org--\r\n"
        )
        .into_bytes()
    }

    pub async fn status(&self, reader: &Reader) -> Status {
        self.p
            .store
            .subscriber_by_id(reader.id)
            .await
            .unwrap()
            .unwrap()
            .status
    }

    /// The sources of the bounce events recorded about the reader's message.
    pub async fn event_sources(&self, reader: &Reader) -> Vec<String> {
        self.p
            .store
            .bounce_events(&BounceFilter {
                outbox_id: Some(reader.row.id),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.source)
            .collect()
    }
}

impl Fixture {
    /// The sources of every bounce event recorded, oldest first.
    pub async fn all_sources(&self) -> Vec<String> {
        let mut events = self
            .p
            .store
            .bounce_events(&BounceFilter {
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap();
        events.sort_by_key(|e| e.id);
        events.into_iter().map(|e| e.source).collect()
    }
}

/// Polls `check` every 50 ms until it holds, for at most `secs` seconds.
pub async fn eventually(secs: u64, what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while !check().await {
        assert!(
            std::time::Instant::now() < deadline,
            "not within {secs}s: {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
