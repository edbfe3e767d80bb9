//! What a digest email says, as a reader previews it: the preheader, each item's
//! date, a count that says what the email holds (and where the rest are when the
//! digest's limit leaves some out), the dark-mode block beside the inlined light
//! colours, and Everything: the articles that match no audience, under "More", for
//! those who chose it and nobody else.

mod common;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use common::{SECRET, current, fixtures, library};
use crier::clock::FixedClock;
use crier::config::Digest;
use crier::digests::Digests;
use crier::model::{NewContent, Subscriber};
use crier::store::Store;
use crier::subscriptions::{Request, Subscriptions};
use crier::templates::Templates;

/// An article whose "Who should care" names no audience of the demo taxonomy.
const UNMATCHED: &str = "Fernhill·2026·11·20·Impact·2 min read
Fernhill paints its delivery vans with a solar coating
honest take
A small saving, and a nice colour.
WHAT'S ACTUALLY NEW
- Every van in the fleet gets the coating by March.
who should care
- Anyone who likes the colour green.
";

fn weekly(max_articles: usize) -> Digest {
    Digest {
        max_articles,
        ..common::weekly_digest()
    }
}

struct Setup {
    _dir: tempfile::TempDir,
    store: Store,
    subscriptions: Subscriptions,
    digests: Digests,
}

/// The valid fixtures and one article that matches no audience, in a new store.
async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let articles = dir.path().join("articles");
    std::fs::create_dir(&articles).unwrap();
    for entry in std::fs::read_dir(fixtures("valid")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, articles.join(path.file_name().unwrap())).unwrap();
    }
    std::fs::write(articles.join("fernhill-vans.txt"), UNMATCHED).unwrap();
    let store = Store::open(&dir.path().join("crier.db")).await.unwrap();
    let now: DateTime<Utc> = "2026-11-23T08:00:00Z".parse().unwrap();
    let clock = Arc::new(FixedClock::new(now));
    let templates = Arc::new(Templates::embedded());
    let current = current(library(&articles));
    let subscriptions = Subscriptions::new(
        store.clone(),
        crier::tokens::Signer::new(SECRET),
        Arc::clone(&templates),
        clock.clone(),
        current.clone(),
        common::subscription_settings(),
    );
    let digests = Digests::new(
        subscriptions.clone(),
        templates,
        current,
        vec![weekly(20)],
        clock,
        "news@news.example.test".into(),
        None,
    );
    Setup {
        _dir: dir,
        store,
        subscriptions,
        digests,
    }
}

async fn add(s: &Setup, email: &str, audiences: &[&str]) -> Subscriber {
    let request = Request {
        email: email.into(),
        name: Some("Sam".into()),
        audiences: audiences.iter().map(|a| a.to_string()).collect(),
        frequency: Some("weekly".into()),
        ..Request::default()
    };
    let id = s.subscriptions.add(&request, true).await.unwrap().id;
    let subscriber = s.store.subscriber_by_email(email).await.unwrap().unwrap();
    assert_eq!(subscriber.id, id);
    subscriber
}

/// The preview, its text part as a reflowing reader shows it (RFC 3676: without the
/// soft breaks and the stuffing, so an indented line has one space).
async fn preview(s: &Setup, max_articles: usize, subscriber: &Subscriber) -> NewContent {
    let mut content = s
        .digests
        .preview(&weekly(max_articles), subscriber)
        .await
        .unwrap()
        .expect("something new");
    content.text = crier::email::flowed::decode(&content.text);
    content
}

/// Every `href="…"` of an HTML body.
fn hrefs(html: &str) -> Vec<&str> {
    html.split("href=\"")
        .skip(1)
        .map(|rest| &rest[..rest.find('"').unwrap()])
        .collect()
}

#[tokio::test]
async fn the_email_opens_with_a_preheader_and_dates_each_item() {
    let s = setup().await;
    let reader = add(&s, "sec@example.org", &["security"]).await;
    let email = preview(&s, 20, &reader).await;

    // The preheader is the body's first element, out of sight but not display:none.
    let body = &email.html[email.html.find("<body").unwrap()..];
    let first = &body[body.find('>').unwrap() + 1..].trim_start();
    assert!(first.starts_with("<div class=\"preheader\""), "{first}");
    let preheader = &first[..first.find("</div>").unwrap()];
    assert!(
        preheader.contains("2 new briefs for Security teams: Quillon fixes"),
        "{preheader}"
    );
    assert!(preheader.contains("opacity: 0"), "{preheader}");
    assert!(!preheader.contains("display: none"), "{preheader}");
    // The text part opens with the heading and the count instead.
    assert!(
        email
            .text
            .starts_with("Weekly digest (Monday 23 November 2026)")
    );
    assert!(
        !email
            .text
            .contains("Quillon fixes a prompt-injection hole in its mail assistant: ")
    );
    assert!(
        email.text.contains("Hello Sam. 2 new briefs."),
        "{}",
        email.text
    );

    // Each item shows its published date, in words and as a machine-readable date.
    assert!(
        email.text.contains(" 30 Sep 2026 · Quillon"),
        "{}",
        email.text
    );
    assert!(
        email
            .html
            .contains("<time datetime=\"2026-09-30\">30 Sep 2026</time> · Quillon"),
        "{}",
        email.html
    );
    assert!(!email.text.contains("the rest are on the site"));
    assert!(!email.html.contains("the rest are on the site"));

    // Every link is absolute; the dark-mode block survives inlining.
    let links = hrefs(&email.html);
    assert!(links.len() >= 4, "{links:?}");
    for link in links {
        assert!(link.starts_with("https://news.example.test/"), "{link}");
    }
    assert!(
        email
            .html
            .contains("<meta name=\"color-scheme\" content=\"light dark\">")
    );
    assert!(email.html.contains("@media (prefers-color-scheme: dark)"));
    assert_eq!(email.html.matches("<style").count(), 1);
    assert!(
        !email.html.contains("<img"),
        "no image, so none without alt text"
    );
}

#[tokio::test]
async fn a_capped_email_says_so_and_links_the_readers_audiences() {
    let s = setup().await;
    let reader = add(
        &s,
        "cap@example.org",
        &["security", "hr", "customer-service"],
    )
    .await;
    let all = preview(&s, 20, &reader).await;
    assert!(
        all.text.contains("Hello Sam. 3 new briefs."),
        "{}",
        all.text
    );

    let capped = preview(&s, 1, &reader).await;
    assert!(
        capped
            .text
            .contains("Hello Sam. 1 of 3 new briefs; the rest are on the site."),
        "{}",
        capped.text
    );
    // The newest listed is Quillon (security); the two left out are under
    // Customer service, the first of the reader's audiences each fits.
    assert!(
        capped.text.contains(
            "2 more new briefs are on the site:\n Customer service: \
             https://news.example.test/audiences/customer-service/\n"
        ),
        "{}",
        capped.text
    );
    assert!(
        capped.html.contains(
            "1 of 3 new briefs; the rest are on the site: <a href=\"https://news.example.test/audiences/customer-service/\""
        ),
        "{}",
        capped.html
    );
    assert!(
        capped.html.contains("preheader")
            && capped
                .html
                .contains(">1 of 3 new briefs for Security teams: ")
    );
    // Not the home page: the rest are on the reader's audiences' pages.
    assert!(!hrefs(&capped.html).contains(&"https://news.example.test/"));
}

#[tokio::test]
async fn everything_gets_the_unmatched_articles_under_more() {
    let s = setup().await;
    let everything = add(&s, "all@example.org", &["everything"]).await;
    let email = preview(&s, 20, &everything).await;
    assert!(
        email.text.contains(
            "== More ==\n\n* Fernhill paints its delivery vans with a solar coating\n 20 Nov 2026 · Fernhill"
        ),
        "{}",
        email.text
    );
    assert!(email.html.contains(">More</h2>"), "{}", email.html);
    assert!(
        email.text.contains("Hello Sam. 9 new briefs."),
        "{}",
        email.text
    );
    // More comes last, after the audiences in the taxonomy's order.
    let more = email.text.find("== More ==").unwrap();
    assert_eq!(
        email.text.matches("== ").count() - 1,
        email.text[..more].matches("== ").count()
    );
    assert!(
        !email.html.contains("for More"),
        "More is not an audience in the preheader"
    );

    // A reader of every audience of the taxonomy, without Everything, does not get it.
    let taxonomy = s.subscriptions.taxonomy();
    let every: Vec<&str> = taxonomy
        .audiences()
        .iter()
        .map(|a| a.slug.as_str())
        .collect();
    let reader = add(&s, "every@example.org", &every).await;
    let email = preview(&s, 20, &reader).await;
    assert!(!email.text.contains("Fernhill"), "{}", email.text);
    assert!(!email.text.contains("== More =="));
    assert!(
        email.text.contains("Hello Sam. 8 new briefs."),
        "{}",
        email.text
    );

    // Only the unmatched article is new for someone who chose one audience and
    // Everything: it still reaches them, and the audience changes nothing.
    let both = add(&s, "both@example.org", &["hr", "everything"]).await;
    let email = preview(&s, 20, &both).await;
    assert!(email.text.contains("Fernhill"));
    assert!(email.text.contains("Hello Sam. 9 new briefs."));
}

#[tokio::test]
async fn everything_is_a_choice_where_audiences_are_given() {
    let s = setup().await;
    let csv = "email,audiences\nimported@example.org,everything\nmixed@example.org,hr;everything\n";
    let report = s
        .subscriptions
        .import_csv(csv.as_bytes(), true, &|_| {})
        .await
        .unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.created, 2);
    let imported = s
        .store
        .subscriber_by_email("imported@example.org")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(imported.audiences, ["everything"]);
    // An unknown slug is still refused.
    let request = Request {
        email: "x@example.org".into(),
        audiences: vec!["everyone".into()],
        ..Request::default()
    };
    assert!(s.subscriptions.add(&request, true).await.is_err());
}
