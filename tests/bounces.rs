//! The bounces service over a real SQLite file: attribution (a signed VERP token, a
//! Message-ID, a recipient), the policy (hard, complaint, soft with its limit, window
//! and reset, mailed unsubscribes) and what refuses to count (forged tokens, claims
//! without a signed address). Messages are queued and sent through the real worker
//! into a file outbox, so each bounce names a real sent row.

mod common;

use chrono::Duration;
use crier::bounce::{Finding, Kind, Report};
use crier::bounces::{Action, Source};
use crier::clock::Clock;
use crier::model::{NewContent, NewMessage, OutboxRow, Status};
use crier::store::BounceFilter;
use crier::tokens::{Signer, Verp};

use common::bounced::{DOMAIN, Fixture, fixture};

impl Fixture {
    async fn status_of(&self, id: i64) -> Status {
        self.p
            .store
            .subscriber_by_id(id)
            .await
            .unwrap()
            .unwrap()
            .status
    }

    async fn suppressed(&self, email: &str) -> bool {
        self.p
            .store
            .is_suppressed(&self.signer.email_hash(email))
            .await
            .unwrap()
    }

    fn later(&self, hours: i64) {
        self.p
            .clock
            .set(self.p.clock.now() + Duration::hours(hours));
    }
}

fn finding(kind: Kind, recipient: Option<&str>) -> Finding {
    Finding {
        kind,
        recipient: recipient.map(str::to_string),
        message_id: None,
        status: Some(if kind == Kind::Soft { "4.2.2" } else { "5.1.1" }.into()),
        reason: "smtp; 550 5.1.1 mailbox unknown".into(),
    }
}

fn report(delivered_to: &[String], findings: Vec<Finding>) -> Report {
    Report {
        delivered_to: delivered_to.to_vec(),
        findings,
    }
}

#[tokio::test]
async fn a_hard_bounce_through_its_verp_address_bounces_exactly_that_subscriber() {
    let f = fixture("").await;
    let ada = f.subscriber("ada@example.org").await;
    let bob = f.subscriber("bob@example.org").await;
    let row = f.sent(ada, "ada@example.org", "1").await;
    f.sent(bob, "bob@example.org", "2").await;

    // The report names someone else in its body: the signed address decides.
    let outcomes = f
        .bounces
        .record(
            Source::Imap,
            report(
                &[f.return_path_of(&row)],
                vec![finding(Kind::Hard, Some("bob@example.org"))],
            ),
        )
        .await
        .unwrap();
    assert_eq!(outcomes.len(), 1);
    assert_eq!(outcomes[0].action, Action::Bounced);
    assert_eq!(outcomes[0].matched_by, "verp");
    assert_eq!(outcomes[0].outbox_id, Some(row.id));
    assert_eq!(f.status_of(ada).await, Status::Bounced);
    assert!(f.suppressed("ada@example.org").await);
    assert_eq!(f.status_of(bob).await, Status::Active);
    assert!(!f.suppressed("bob@example.org").await);

    let events =
        f.p.store
            .bounce_events(&BounceFilter {
                subscriber_id: Some(ada),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(
        (
            events[0].kind.as_str(),
            events[0].source.as_str(),
            events[0].action.as_str()
        ),
        ("hard", "imap", "bounced")
    );
    assert_eq!(events[0].status_code.as_deref(), Some("5.1.1"));
    assert_eq!(events[0].outbox_id, Some(row.id));
}

#[tokio::test]
async fn forged_and_foreign_tokens_name_nobody() {
    let f = fixture("").await;
    let ada = f.subscriber("ada@example.org").await;
    let row = f.sent(ada, "ada@example.org", "1").await;
    let genuine = f.signer.verp(row.id, Verp::Bounce);
    let other = Signer::new(b"a different deployment's secret!!");
    let forged = [
        // Another row's number under this row's signature.
        format!(
            "bounces+{}@{DOMAIN}",
            genuine.replacen(&row.id.to_string(), &(row.id + 1).to_string(), 1)
        ),
        // Another deployment's signature.
        format!("bounces+{}@{DOMAIN}", other.verp(row.id, Verp::Bounce)),
        // The unsubscribe signature used as a bounce address's.
        format!(
            "bounces+{}@{DOMAIN}",
            f.signer.verp(row.id, Verp::Unsubscribe)
        ),
        // The right token under another domain.
        format!("bounces+{genuine}@elsewhere.example"),
    ];
    for address in forged {
        let outcomes = f
            .bounces
            .record(
                Source::Pipe,
                report(
                    std::slice::from_ref(&address),
                    vec![finding(Kind::Hard, None)],
                ),
            )
            .await
            .unwrap();
        assert_eq!(outcomes[0].action, Action::Unmatched, "{address}");
        assert_eq!(outcomes[0].matched_by, "none");
    }
    assert_eq!(f.status_of(ada).await, Status::Active);
}

#[tokio::test]
async fn a_complaint_found_by_message_id_suppresses_at_once_and_drops_queued_mail() {
    let f = fixture("").await;
    let ada = f.subscriber("ada@example.org").await;
    let row = f.sent(ada, "ada@example.org", "1").await;
    // A message still queued for her: a complaint must stop it.
    let content =
        f.p.store
            .save_contents(
                &[NewContent {
                    subject: "Next".into(),
                    text: "t".into(),
                    html: "<p>t</p>".into(),
                }],
                f.p.clock.now(),
            )
            .await
            .unwrap()[0];
    f.p.store
        .enqueue(
            [NewMessage {
                dedup_key: "test:queued".into(),
                kind: "digest".into(),
                subscriber_id: Some(ada),
                recipient: "ada@example.org".into(),
                content_id: content,
                vars: "{}".into(),
                digest: None,
            }],
            &f.signer.message_ids(DOMAIN),
            f.p.clock.now(),
        )
        .await
        .unwrap();
    let mut complaint = finding(Kind::Complaint, None);
    complaint.message_id = Some(row.message_id.clone());
    let outcomes = f
        .bounces
        .record(Source::Ses, report(&[], vec![complaint]))
        .await
        .unwrap();
    assert_eq!(outcomes[0].action, Action::Complained);
    assert_eq!(outcomes[0].matched_by, "message-id");
    assert_eq!(f.status_of(ada).await, Status::Complained);
    assert!(f.suppressed("ada@example.org").await);
    assert!(
        f.p.store
            .messages_with_key_prefix("test:queued")
            .await
            .unwrap()
            .is_empty(),
        "nothing further is queued for a complainer"
    );
    // A later hard bounce leaves the stronger status alone.
    f.bounces
        .record(
            Source::Pipe,
            report(&[f.return_path_of(&row)], vec![finding(Kind::Hard, None)]),
        )
        .await
        .unwrap();
    assert_eq!(f.status_of(ada).await, Status::Complained);
}

#[tokio::test]
async fn the_recipient_is_the_last_resort_and_unknown_addresses_are_recorded_unmatched() {
    let f = fixture("").await;
    let ada = f.subscriber("ada@example.org").await;
    let outcomes = f
        .bounces
        .record(
            Source::Postmark,
            report(
                &[],
                vec![
                    finding(Kind::Hard, Some("ADA@Example.org")),
                    finding(Kind::Hard, Some("nobody@example.org")),
                ],
            ),
        )
        .await
        .unwrap();
    assert_eq!(outcomes[0].matched_by, "recipient");
    assert_eq!(outcomes[0].action, Action::Bounced);
    assert_eq!(outcomes[1].action, Action::Unmatched);
    assert_eq!(f.status_of(ada).await, Status::Bounced);
    let all =
        f.p.store
            .bounce_events(&BounceFilter {
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
    assert_eq!(all.len(), 2, "the unmatched one is recorded too");
}

#[tokio::test]
async fn soft_bounces_reach_the_limit_only_without_a_delivery_between_them() {
    let f = fixture("soft_limit = 3\nsoft_window_days = 30").await;
    let ada = f.subscriber("ada@example.org").await;
    let soft = |row: &OutboxRow| report(&[f.return_path_of(row)], vec![finding(Kind::Soft, None)]);

    // Two soft bounces, then a message that arrived, then two more: no limit.
    let m1 = f.sent(ada, "ada@example.org", "1").await;
    f.later(24);
    let m2 = f.sent(ada, "ada@example.org", "2").await;
    f.later(24);
    let _delivered = f.sent(ada, "ada@example.org", "3").await;
    f.later(24);
    let m4 = f.sent(ada, "ada@example.org", "4").await;
    f.later(24);
    let m5 = f.sent(ada, "ada@example.org", "5").await;
    f.later(1);
    for row in [&m1, &m2] {
        let o = f.bounces.record(Source::Imap, soft(row)).await.unwrap();
        assert_eq!(o[0].action, Action::Counted);
    }
    let o = f.bounces.record(Source::Imap, soft(&m4)).await.unwrap();
    assert_eq!(
        o[0].soft_count,
        Some(1),
        "the delivery of message 3 reset the count"
    );
    // The same message bouncing again (a second delay notice) counts once.
    let o = f.bounces.record(Source::Imap, soft(&m4)).await.unwrap();
    assert_eq!(o[0].soft_count, Some(1));
    let o = f.bounces.record(Source::Imap, soft(&m5)).await.unwrap();
    assert_eq!((o[0].soft_count, o[0].action), (Some(2), Action::Counted));
    assert_eq!(f.status_of(ada).await, Status::Active);

    // A third in a row makes her bounced.
    f.later(24);
    let m6 = f.sent(ada, "ada@example.org", "6").await;
    let o = f.bounces.record(Source::Imap, soft(&m6)).await.unwrap();
    assert_eq!((o[0].soft_count, o[0].action), (Some(3), Action::Bounced));
    assert_eq!(f.status_of(ada).await, Status::Bounced);
    assert!(f.suppressed("ada@example.org").await);
}

#[tokio::test]
async fn soft_bounces_older_than_the_window_do_not_count() {
    let f = fixture("soft_limit = 2\nsoft_window_days = 7").await;
    let ada = f.subscriber("ada@example.org").await;
    let m1 = f.sent(ada, "ada@example.org", "1").await;
    f.bounces
        .record(
            Source::Imap,
            report(&[f.return_path_of(&m1)], vec![finding(Kind::Soft, None)]),
        )
        .await
        .unwrap();
    f.later(24 * 8);
    let m2 = f.sent(ada, "ada@example.org", "2").await;
    let o = f
        .bounces
        .record(
            Source::Imap,
            report(&[f.return_path_of(&m2)], vec![finding(Kind::Soft, None)]),
        )
        .await
        .unwrap();
    assert_eq!((o[0].soft_count, o[0].action), (Some(1), Action::Counted));
    assert_eq!(f.status_of(ada).await, Status::Active);
}

#[tokio::test]
async fn a_message_to_the_signed_unsubscribe_address_unsubscribes_and_a_claim_alone_does_not() {
    let f = fixture("").await;
    let ada = f.subscriber("ada@example.org").await;
    let bob = f.subscriber("bob@example.org").await;
    let row = f.sent(ada, "ada@example.org", "1").await;

    // Bob's address in the body, no signed address: nothing happens.
    let o = f
        .bounces
        .record(
            Source::Pipe,
            report(
                &[format!("unsubscribe@{DOMAIN}")],
                vec![finding(Kind::Unsubscribe, Some("bob@example.org"))],
            ),
        )
        .await
        .unwrap();
    assert_eq!(o[0].action, Action::Ignored);
    assert_eq!(f.status_of(bob).await, Status::Active);

    let address = format!(
        "unsubscribe+{}@{DOMAIN}",
        f.signer.verp(row.id, Verp::Unsubscribe)
    );
    let o = f
        .bounces
        .record(
            Source::Pipe,
            report(
                std::slice::from_ref(&address),
                vec![finding(Kind::Unknown, None)],
            ),
        )
        .await
        .unwrap();
    assert_eq!(o[0].action, Action::Unsubscribed);
    assert_eq!(f.status_of(ada).await, Status::Unsubscribed);
    assert!(f.suppressed("ada@example.org").await);
    // An out-of-office reply to that address is no request.
    let carol = f.subscriber("carol@example.org").await;
    let row = f.sent(carol, "carol@example.org", "2").await;
    let address = format!(
        "unsubscribe+{}@{DOMAIN}",
        f.signer.verp(row.id, Verp::Unsubscribe)
    );
    let o = f
        .bounces
        .record(
            Source::Pipe,
            report(&[address], vec![finding(Kind::AutoReply, None)]),
        )
        .await
        .unwrap();
    assert_eq!(o[0].action, Action::Ignored);
    assert_eq!(f.status_of(carol).await, Status::Active);
}

#[tokio::test]
async fn composed_messages_carry_their_own_signed_envelope_sender_and_mailto() {
    let f = fixture("").await;
    let composer = crier::email::Composer::new(
        "Fixture News <news@news.example.test>".parse().unwrap(),
        None,
        None,
        None,
    )
    .unwrap()
    .with_verp(crier::email::VerpSettings {
        signer: f.signer.clone(),
        bounce: f.bounces.settings().address.clone(),
        unsubscribe: f.bounces.settings().unsubscribe.clone(),
    });
    let ada = f.subscriber("ada@example.org").await;
    let row = f.sent(ada, "ada@example.org", "1").await;
    let mut row = row;
    row.vars = serde_json::json!({
        "unsubscribe_url": "https://news.example.test/unsubscribe?token=t",
        "unsubscribe_mailto": "mailto:news@news.example.test?subject=unsubscribe",
    })
    .to_string();
    let content = f.p.store.content(row.content_id).await.unwrap().unwrap();
    let message = composer
        .compose(&row, &content, &composer.encode(&content))
        .unwrap();
    let from = message.envelope().from().unwrap().to_string();
    assert_eq!(from, f.return_path_of(&row));
    let token = from
        .strip_prefix("bounces+")
        .and_then(|t| t.split('@').next())
        .unwrap();
    assert_eq!(f.signer.verify_verp(token, Verp::Bounce), Ok(row.id));
    // Headers unfolded: a long value continues on lines that start with a space.
    let raw = String::from_utf8(message.formatted())
        .unwrap()
        .replace("\r\n ", " ")
        .replace("\r\n\t", " ");
    let header = raw
        .lines()
        .find(|l| l.starts_with("List-Unsubscribe:"))
        .unwrap();
    let expected = format!(
        "<mailto:unsubscribe+{}@{DOMAIN}?subject=unsubscribe>",
        f.signer.verp(row.id, Verp::Unsubscribe)
    );
    assert!(header.contains(&expected), "{header}");
    // The From header stays the list's own.
    assert!(
        raw.lines()
            .any(|l| l.starts_with("From:") && l.contains("<news@news.example.test>"))
    );
    // Composing again gives the same bytes: a retry is the same message.
    let again = composer
        .compose(&row, &content, &composer.encode(&content))
        .unwrap();
    assert_eq!(again.formatted(), message.formatted());
    assert_eq!(again.envelope(), message.envelope());
}

#[tokio::test]
async fn without_a_bounce_address_the_envelope_sender_is_the_from_address() {
    let f = fixture("").await;
    let composer = crier::email::Composer::new(
        "Fixture News <news@news.example.test>".parse().unwrap(),
        None,
        None,
        None,
    )
    .unwrap();
    let ada = f.subscriber("ada@example.org").await;
    let row = f.sent(ada, "ada@example.org", "1").await;
    let content = f.p.store.content(row.content_id).await.unwrap().unwrap();
    let message = composer
        .compose(&row, &content, &composer.encode(&content))
        .unwrap();
    assert_eq!(
        message.envelope().from().unwrap().to_string(),
        "news@news.example.test"
    );
}

#[tokio::test]
async fn the_admin_api_lists_bounce_events_with_totals_and_per_subscriber() {
    let f = fixture("").await;
    let ada = f.subscriber("ada@example.org").await;
    let bob = f.subscriber("bob@example.org").await;
    let row = f.sent(ada, "ada@example.org", "1").await;
    f.bounces
        .record(
            Source::Imap,
            report(&[f.return_path_of(&row)], vec![finding(Kind::Hard, None)]),
        )
        .await
        .unwrap();
    f.bounces
        .record(
            Source::Mailgun,
            report(&[], vec![finding(Kind::Complaint, Some("bob@example.org"))]),
        )
        .await
        .unwrap();
    let auth = [("authorization", "Bearer api-token")];
    let (status, _, body) = common::call(&f.p.router, "GET", "/api/bounces", &auth, "").await;
    assert_eq!(status, 200);
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["totals"]["hard"], 1);
    assert_eq!(json["totals"]["complaint"], 1);
    assert_eq!(json["events"].as_array().unwrap().len(), 2);
    assert_eq!(json["events"][0]["source"], "mailgun");
    assert_eq!(json["events"][0]["subscriber_id"], bob);

    let (status, _, body) = common::call(
        &f.p.router,
        "GET",
        "/api/subscribers/ada@example.org/bounces?limit=1",
        &auth,
        "",
    )
    .await;
    assert_eq!(status, 200);
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let events = json["events"].as_array().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["outbox_id"], row.id);
    assert_eq!(events[0]["action"], "bounced");

    let (status, _, _) = common::call(&f.p.router, "GET", "/api/bounces", &[], "").await;
    assert_eq!(status, 401, "the API still needs its token");
    let (status, _, _) =
        common::call(&f.p.router, "GET", "/api/bounces?limit=many", &auth, "").await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn a_verified_providers_unsubscribe_event_unsubscribes_by_recipient() {
    let f = fixture("").await;
    let ada = f.subscriber("ada@example.org").await;
    let o = f
        .bounces
        .record(
            Source::Sendgrid,
            report(
                &[],
                vec![finding(Kind::Unsubscribe, Some("ada@example.org"))],
            ),
        )
        .await
        .unwrap();
    assert_eq!(
        (o[0].action, o[0].matched_by),
        (Action::Unsubscribed, "recipient")
    );
    assert_eq!(f.status_of(ada).await, Status::Unsubscribed);
    // The same claim through a mailbox is no request.
    let bob = f.subscriber("bob@example.org").await;
    let o = f
        .bounces
        .record(
            Source::Imap,
            report(
                &[],
                vec![finding(Kind::Unsubscribe, Some("bob@example.org"))],
            ),
        )
        .await
        .unwrap();
    assert_eq!(o[0].action, Action::Ignored);
    assert_eq!(f.status_of(bob).await, Status::Active);
}
