//! The console's import: the preview reads a file as the import will, the import
//! the console starts (the service's, the CLI's and the API's) reports bad rows by
//! line, and the whole round through the pages as a signed-in admin.

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

/// A `multipart/form-data` body of the upload form: (boundary, body).
fn multipart(csrf: Option<&str>, mode: &str, file: &[u8]) -> (String, Vec<u8>) {
    let boundary = "----crier-test-boundary-7d1f".to_string();
    let mut body = Vec::new();
    let mut field = |name: &str, value: &str| {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    };
    if let Some(csrf) = csrf {
        field("csrf", csrf);
    }
    field("mode", mode);
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"list.csv\"\r\n\
             Content-Type: text/csv\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (boundary, body)
}

async fn upload(
    c: &common::console::Client,
    csrf: Option<&str>,
    mode: &str,
    file: &[u8],
) -> common::console::Reply {
    let (boundary, body) = multipart(csrf, mode, file);
    let content_type = format!("multipart/form-data; boundary={boundary}");
    c.request(
        reqwest::Method::POST,
        "/admin/import",
        &[("content-type", &content_type)],
        body,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_through_the_console_ends_with_its_report() {
    use reqwest::StatusCode;
    let c = common::console::signed_in().await;
    let csrf = c.csrf().unwrap();
    let (status, _, page) = c.get("/admin/import").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(r#"enctype="multipart/form-data""#), "{page}");

    let csv = subscriber_csv(6, &[2, 4]);
    // Without the CSRF field: refused, and no job is kept.
    let (status, _, _) = upload(&c, None, "active", csv.as_bytes()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = upload(&c, Some("not-the-token"), "active", csv.as_bytes()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, _, page) = c.get("/admin/import").await;
    assert!(!page.contains("list.csv"), "{page}");

    let (status, headers, _) = upload(&c, Some(&csrf), "active", csv.as_bytes()).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let job = headers["location"].to_str().unwrap().to_string();
    assert!(job.starts_with("/admin/import/"), "{job}");

    // The preview: the mapping, the ignored column, the first rows; nothing imported.
    let (status, _, page) = c.get(&job).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("6 rows after the header"), "{page}");
    assert!(page.contains("column 5 (timezone)"), "{page}");
    assert!(page.contains("<code>source_id</code>"), "{page}");
    assert!(page.contains("user1@example.org"), "{page}");
    assert!(page.contains(r#"value="active" checked"#), "{page}");
    assert_eq!(c.app.store.stats().await.unwrap().total, 0);

    // Start needs the token too.
    let start = format!("{job}/start");
    let (status, _, _) = c.post_form_raw(&start, &[("mode", "active")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, _, page) = c.get(&job).await;
    assert!(page.contains("Start import"), "still waiting: {page}");

    let (status, headers, _) = c.post_form(&start, &[("mode", "active")]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers["location"], job.as_str());
    let mut result = String::new();
    for _ in 0..500 {
        let (status, _, page) = c.get(&job).await;
        assert_eq!(status, StatusCode::OK);
        if page.contains("Import of list.csv") {
            result = page;
            break;
        }
        assert!(
            page.contains(r#"<meta http-equiv="refresh" content="2">"#),
            "a running import's page reloads itself: {page}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(
        result.contains("6 rows, 4 added, 0 updated, 2 bad"),
        "{result}"
    );
    assert!(
        !result.contains("http-equiv"),
        "a finished import stops reloading"
    );
    assert!(result.contains("<td class=\"num\">3</td>"), "{result}");
    assert!(result.contains("<td class=\"num\">5</td>"), "{result}");
    assert!(result.contains("user2.example.org"), "{result}");

    let (status, headers, report) = c.get(&format!("{job}/report.csv")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "text/csv; charset=utf-8");
    assert!(
        headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    let lines: Vec<&str> = report.lines().collect();
    assert_eq!(lines.len(), 3, "{report}");
    assert_eq!(lines[0], "line,message");
    assert!(lines[1].starts_with("3,") && lines[1].contains("user2.example.org"));
    assert!(lines[2].starts_with("5,") && lines[2].contains("user4.example.org"));

    let stats = c.app.store.stats().await.unwrap();
    assert_eq!(stats.by_status["active"], 4);

    // A second start changes nothing; the list names the job as done.
    let (status, _, _) = c.post_form(&start, &[("mode", "active")]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, _, page) = c.get("/admin/import").await;
    assert!(page.contains("list.csv") && page.contains("done"), "{page}");
    assert_eq!(c.app.store.stats().await.unwrap().total, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_refuses_a_bad_header_and_a_file_too_large() {
    use reqwest::StatusCode;
    let c = common::console::signed_in().await;
    let csrf = c.csrf().unwrap();
    let (status, _, page) =
        upload(&c, Some(&csrf), "active", b"mail,name\nx@example.org,X\n").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("must name an email column"), "{page}");

    let mut big = subscriber_csv(10, &[]).into_bytes();
    big.resize(50 * 1024 * 1024 + 1, b'\n');
    let (status, _, page) = upload(&c, Some(&csrf), "active", &big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(page.contains("larger than 50 MB"), "{page}");
    assert_eq!(c.app.store.stats().await.unwrap().total, 0);

    let (status, _, _) = c.get("/admin/import/999").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = c.get("/admin/import/999/report.csv").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
