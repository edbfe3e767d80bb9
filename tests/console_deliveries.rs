//! The console's deliveries section: the outbox listing it shares with `crier
//! deliveries`, "Retry failed" and lifting a suppression, in the store and the
//! service over a real SQLite file, then through the pages as a signed-in admin.

mod common;

use common::people;
use crier::model::{OutboxStatus, Status};
use crier::store::DeliveryFilter;
use crier::subscriptions::Request;

fn request(email: &str) -> Request {
    Request {
        email: email.into(),
        audiences: vec!["hr".into()],
        ..Request::default()
    }
}

/// Five pending subscribers, each with a queued confirmation; the first two fail.
async fn outbox(p: &common::People) -> Vec<i64> {
    for i in 0..5 {
        p.subscriptions
            .add(&request(&format!("user{i}@example.org")), false)
            .await
            .unwrap();
    }
    let mut ids: Vec<i64> = p
        .store
        .deliveries_where(&DeliveryFilter {
            limit: 100,
            ..DeliveryFilter::default()
        })
        .await
        .unwrap()
        .iter()
        .map(|d| d.row.id)
        .collect();
    ids.sort();
    assert_eq!(ids.len(), 5);
    for &id in &ids[..2] {
        p.store
            .mark_failed(id, "550 mailbox unavailable")
            .await
            .unwrap();
    }
    ids
}

#[tokio::test]
async fn the_outbox_filters_and_pages() {
    let p = people(None, false).await;
    let ids = outbox(&p).await;

    let failed = p
        .store
        .deliveries_where(&DeliveryFilter {
            status: Some(OutboxStatus::Failed),
            limit: 100,
            ..DeliveryFilter::default()
        })
        .await
        .unwrap();
    let failed_ids: Vec<i64> = failed.iter().map(|d| d.row.id).collect();
    assert_eq!(failed_ids, [ids[1], ids[0]], "newest first");
    assert_eq!(
        failed[0].row.last_error.as_deref(),
        Some("550 mailbox unavailable")
    );
    assert!(
        failed[0].subject.as_deref().is_some_and(|s| !s.is_empty()),
        "{:?}",
        failed[0].subject
    );
    // The CLI's listing reads the same rows.
    let cli: Vec<i64> = p
        .store
        .deliveries(true, 10)
        .await
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(cli, failed_ids);

    let one = p
        .store
        .deliveries_where(&DeliveryFilter {
            address: Some("user3@example.org".into()),
            limit: 100,
            ..DeliveryFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].row.recipient, "user3@example.org");

    let page = |before| DeliveryFilter {
        before,
        limit: 2,
        ..DeliveryFilter::default()
    };
    let first = p.store.deliveries_where(&page(None)).await.unwrap();
    let second = p
        .store
        .deliveries_where(&page(Some(first[1].row.id)))
        .await
        .unwrap();
    let seen: Vec<i64> = first.iter().chain(&second).map(|d| d.row.id).collect();
    assert_eq!(seen, [ids[4], ids[3], ids[2], ids[1]]);

    // A status and an address together, and a status page after a page.
    let failed_of_user0 = p
        .store
        .deliveries_where(&DeliveryFilter {
            status: Some(OutboxStatus::Failed),
            address: Some("user0@example.org".into()),
            limit: 100,
            ..DeliveryFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(failed_of_user0.len(), 1);
    assert_eq!(failed_of_user0[0].row.recipient, "user0@example.org");
    let queued_after = p
        .store
        .deliveries_where(&DeliveryFilter {
            status: Some(OutboxStatus::Queued),
            before: Some(ids[4]),
            limit: 100,
            ..DeliveryFilter::default()
        })
        .await
        .unwrap();
    let queued_ids: Vec<i64> = queued_after.iter().map(|d| d.row.id).collect();
    assert_eq!(queued_ids, [ids[3], ids[2]]);
    assert!(
        queued_after[0].digest.is_none(),
        "a confirmation has no digest"
    );
}

#[tokio::test]
async fn retry_failed_requeues_exactly_the_failed_rows() {
    let p = people(None, false).await;
    let ids = outbox(&p).await;
    let before = p.store.deliveries(false, 100).await.unwrap();

    assert_eq!(p.subscriptions.retry_failed_deliveries().await.unwrap(), 2);

    let after = p.store.deliveries(false, 100).await.unwrap();
    for row in &after {
        let was = before.iter().find(|r| r.id == row.id).unwrap();
        assert_eq!(row.status, OutboxStatus::Queued, "row {}", row.id);
        if ids[..2].contains(&row.id) {
            assert_eq!(was.status, OutboxStatus::Failed);
            assert_eq!((row.attempts, row.last_error.as_deref()), (0, None));
        } else {
            assert_eq!(row, was, "a row that had not failed is untouched");
        }
    }
    assert_eq!(p.store.outbox_counts().await.unwrap().failed, 0);
    assert_eq!(p.subscriptions.retry_failed_deliveries().await.unwrap(), 0);
}

#[tokio::test]
async fn lifting_a_suppression_removes_it_and_lets_the_address_back() {
    let p = people(None, false).await;
    let ada = p
        .subscriptions
        .add(&request("ada@example.org"), true)
        .await
        .unwrap();
    let bob = p
        .subscriptions
        .add(&request("bob@example.org"), true)
        .await
        .unwrap();
    for s in [&ada, &bob] {
        p.subscriptions
            .unsubscribe_subscriber(s, "test")
            .await
            .unwrap();
    }
    assert_eq!(p.store.suppression_count().await.unwrap(), 2);
    let list = p.store.suppressions(None, 10).await.unwrap();
    assert_eq!(list.len(), 2);
    assert!(list[0].position > list[1].position, "newest first");
    assert_eq!(list[0].reason, "unsubscribed");
    let older = p
        .store
        .suppressions(Some(list[0].position), 10)
        .await
        .unwrap();
    assert_eq!(older, list[1..]);

    // The lookup takes the address as typed.
    let (hash, entry) = p
        .subscriptions
        .suppression_of("  Ada@Example.org ")
        .await
        .unwrap();
    assert_eq!(hash, p.subscriptions.signer().email_hash("ada@example.org"));
    assert_eq!(entry.unwrap().reason, "unsubscribed");
    assert!(
        p.subscriptions
            .suppression_of("not an address")
            .await
            .is_err()
    );

    assert!(p.subscriptions.lift_suppression(&hash).await.unwrap());
    assert!(!p.subscriptions.lift_suppression(&hash).await.unwrap());
    assert!(!p.store.is_suppressed(&hash).await.unwrap());
    assert_eq!(p.store.suppression_count().await.unwrap(), 1);
    assert!(
        p.subscriptions
            .suppression_of("ada@example.org")
            .await
            .unwrap()
            .1
            .is_none()
    );
    let bob_hash = p.subscriptions.signer().email_hash("bob@example.org");
    assert!(
        p.store.is_suppressed(&bob_hash).await.unwrap(),
        "only Ada's"
    );

    // The record keeps its status; an admin may now activate it again.
    let ada = p.store.subscriber_by_id(ada.id).await.unwrap().unwrap();
    assert_eq!(ada.status, Status::Unsubscribed);
    let changes = crier::store::SubscriberChanges {
        status: Some(Status::Active),
        ..Default::default()
    };
    let back = p.subscriptions.update(&ada, changes).await.unwrap();
    assert_eq!(back.status, Status::Active);
}

/// The console's pages over the signed-in harness.
mod pages {
    use super::*;
    use reqwest::StatusCode;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn retry_failed_from_the_console_requeues_the_failed_rows() {
        let c = common::console::signed_in().await;
        let app = &c.app;
        for i in 0..4 {
            app.subscriptions
                .add(&request(&format!("user{i}@example.org")), false)
                .await
                .unwrap();
        }
        let rows = app.store.deliveries(false, 10).await.unwrap();
        let failed: Vec<i64> = rows.iter().take(2).map(|r| r.id).collect();
        for &id in &failed {
            app.store
                .mark_failed(id, "550 <unknown> mailbox unavailable")
                .await
                .unwrap();
        }

        let (status, _, page) = c.get("/admin/deliveries").await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("Retry failed (2)"), "{page}");
        assert!(page.contains("user0@example.org"), "{page}");
        assert!(
            page.contains("550 &lt;unknown&gt; mailbox unavailable"),
            "the last error, escaped: {page}"
        );
        let (_, _, page) = c.get("/admin/deliveries?status=failed").await;
        assert!(page.contains("user3@example.org") && page.contains("user2@example.org"));
        assert!(!page.contains("user0@example.org"), "{page}");
        let (_, _, page) = c.get("/admin/deliveries?address=USER1@example.org").await;
        assert!(page.contains("user1@example.org") && !page.contains("user2@example.org"));
        let (status, _, page) = c.get("/admin/deliveries?address=nobody").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(page.contains(r#"role="alert""#), "{page}");

        // Without the token: refused, nothing requeued.
        let (status, _, _) = c.post_form_raw("/admin/deliveries/retry", &[]).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(app.store.outbox_counts().await.unwrap().failed, 2);

        let before = app.store.deliveries(false, 10).await.unwrap();
        let (status, headers, _) = c.post_form("/admin/deliveries/retry", &[]).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let location = headers["location"].to_str().unwrap().to_string();
        assert_eq!(location, "/admin/deliveries?retried=2");
        let (_, _, page) = c.get(&location).await;
        assert!(page.contains("2 failed deliveries queued again."), "{page}");
        let after = app.store.deliveries(false, 10).await.unwrap();
        for (was, now) in before.iter().zip(&after) {
            assert_eq!(now.status, OutboxStatus::Queued);
            if failed.contains(&was.id) {
                assert_eq!((now.attempts, now.last_error.as_deref()), (0, None));
            } else {
                assert_eq!(now, was);
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn what_came_back_shows_on_the_outbox_and_the_subscribers_page() {
        let c = common::console::signed_in().await;
        let app = &c.app;
        let ada = app
            .subscriptions
            .add(&request("ada@example.org"), false)
            .await
            .unwrap();
        app.worker.drain().await;
        let row = app.store.deliveries(false, 10).await.unwrap()[0].clone();
        assert!(row.sent_at.is_some());
        let bounces = crier::bounces::Bounces::new(
            app.store.clone(),
            app.subscriptions.signer().clone(),
            app.clock.clone(),
            crier::config::Config::defaults().unwrap().bounces,
        );
        let finding = crier::bounce::Finding {
            kind: crier::bounce::Kind::Hard,
            recipient: None,
            message_id: Some(row.message_id.clone()),
            status: Some("5.1.1".into()),
            reason: "smtp; 550 5.1.1 <ada@example.org>: no such user".into(),
        };
        bounces
            .record(
                crier::bounces::Source::Imap,
                crier::bounce::Report {
                    delivered_to: vec![],
                    findings: vec![finding.clone()],
                },
            )
            .await
            .unwrap();

        let (status, _, page) = c.get("/admin/deliveries").await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("came back: hard (imap)"), "{page}");

        let (status, _, page) = c.get(&format!("/admin/subscribers/{}", ada.id)).await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("Bounces and complaints"), "{page}");
        assert!(
            page.contains("smtp; 550 5.1.1 &lt;ada@example.org&gt;: no such user"),
            "the reason, escaped: {page}"
        );
        assert!(
            page.contains("<strong class=\"bad\">hard</strong>"),
            "{page}"
        );
        assert_eq!(
            app.store
                .subscriber_by_id(ada.id)
                .await
                .unwrap()
                .unwrap()
                .status,
            Status::Bounced
        );
        common::console::assert_sane_html("subscriber detail", &page);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn lifting_a_suppression_from_the_console_removes_it() {
        let c = common::console::signed_in().await;
        let app = &c.app;
        let ada = app
            .subscriptions
            .add(&request("ada@example.org"), true)
            .await
            .unwrap();
        app.subscriptions
            .unsubscribe_subscriber(&ada, "test")
            .await
            .unwrap();
        let hash = app.subscriptions.signer().email_hash("ada@example.org");

        let (status, _, page) = c.get("/admin/deliveries/suppressions").await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            page.contains(&hash) && page.contains("unsubscribed"),
            "{page}"
        );
        assert!(
            !page.contains("ada@example.org"),
            "the list shows hashes only"
        );
        let (_, _, page) = c
            .get("/admin/deliveries/suppressions?address=ada%40example.org")
            .await;
        assert!(page.contains("is suppressed (unsubscribed"), "{page}");

        let (status, _, _) = c
            .post_form_raw(
                "/admin/deliveries/suppressions/lift",
                &[("email_hash", &hash)],
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(app.store.is_suppressed(&hash).await.unwrap());

        let (status, headers, _) = c
            .post_form(
                "/admin/deliveries/suppressions/lift",
                &[("email_hash", &hash)],
            )
            .await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let location = headers["location"].to_str().unwrap().to_string();
        assert!(!app.store.is_suppressed(&hash).await.unwrap());
        let (_, _, page) = c.get(&location).await;
        assert!(page.contains("The suppression was lifted."), "{page}");
        assert!(page.contains("The list is empty."), "{page}");
        let (_, _, page) = c
            .get("/admin/deliveries/suppressions?address=ada%40example.org")
            .await;
        assert!(page.contains("is not suppressed"), "{page}");
    }
}
