//! The console's import below its pages: the preview reads a file as the import
//! will, and the import the console starts (the service's, the CLI's and the API's)
//! reports bad rows by line, over a real SQLite file.

mod common;

use common::{people, subscriber_csv};
use crier::model::Status;
use crier::subscriptions::preview_csv;

#[tokio::test]
async fn a_csv_with_two_bad_rows_reports_their_lines() {
    let p = people(None, false).await;
    // Rows 2 and 4 are lines 3 and 5 (the header is line 1).
    let csv = subscriber_csv(6, &[2, 4]);

    let preview = preview_csv(csv.as_bytes(), 3).unwrap();
    assert_eq!(preview.total, 6);
    assert_eq!(preview.rows.len(), 3);
    assert_eq!(preview.rows[0][0], "user1@example.org");
    assert_eq!(preview.mapping.ignored, ["source_id"]);
    assert_eq!(preview.mapping.column("timezone"), Some(4));

    let progress = std::sync::Mutex::new(Vec::new());
    let report = p
        .subscriptions
        .import_csv(csv.as_bytes(), false, &|rows| {
            progress.lock().unwrap().push(rows)
        })
        .await
        .unwrap();
    let lines: Vec<u64> = report.errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, [3, 5], "{:?}", report.errors);
    assert!(report.errors[0].message.contains("user2.example.org"));
    assert_eq!((report.rows, report.created), (6, 4));
    assert_eq!(report.confirmations, 4, "double opt-in mails each new row");
    assert_eq!(report.ignored_columns, ["source_id"]);
    assert_eq!(progress.lock().unwrap().last(), Some(&6));
    let user1 = p
        .store
        .subscriber_by_email("user1@example.org")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user1.status, Status::Pending);
    assert_eq!(user1.timezone, "Europe/Paris");
    assert_eq!(p.store.outbox_counts().await.unwrap().queued, 4);
}

#[tokio::test]
async fn a_file_without_an_email_column_is_refused_whole() {
    let p = people(None, false).await;
    let csv = "mail,name\nx@example.org,X\n";
    assert!(preview_csv(csv.as_bytes(), 5).is_err());
    let err = p
        .subscriptions
        .import_csv(csv.as_bytes(), true, &|_| {})
        .await
        .unwrap_err();
    assert!(err.to_string().contains("email"), "{err}");
    assert_eq!(p.store.stats().await.unwrap().total, 0);
}

/// Times an import of 100,000 rows as the console runs it (active, so that no
/// confirmation is queued): `cargo test --release --test console_import -- --ignored
/// --nocapture`. It asserts the outcome, not the time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a timing run"]
async fn import_100000_rows() {
    let p = people(None, false).await;
    let csv = subscriber_csv(100_000, &[]);
    let started = std::time::Instant::now();
    let preview = preview_csv(csv.as_bytes(), 10).unwrap();
    let previewed = started.elapsed();
    let report = p
        .subscriptions
        .import_csv(csv.as_bytes(), true, &|_| {})
        .await
        .unwrap();
    let imported = started.elapsed() - previewed;
    assert_eq!((preview.total, report.created), (100_000, 100_000));
    println!(
        "100,000 rows ({} MB): preview {previewed:.2?}, import {imported:.2?}",
        csv.len() / 1_000_000
    );
    // And with double opt-in, which queues a confirmation each, on a fresh store.
    let p = people(None, false).await;
    let started = std::time::Instant::now();
    let report = p
        .subscriptions
        .import_csv(csv.as_bytes(), false, &|_| {})
        .await
        .unwrap();
    assert_eq!(report.confirmations, 100_000);
    println!("100,000 rows with double opt-in: {:.2?}", started.elapsed());
}
