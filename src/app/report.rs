//! `crier check` and `crier audiences`: load everything once and report on it, as
//! JSON for scripts or as text for a person.

use std::process::ExitCode;

use serde::Serialize;

use super::load_store;
use crate::articles::report::{UnmatchedSentence, audience_rows, unmatched, unreached};
use crate::audience::TaxonomyError;
use crate::cli::{AudiencesArgs, CheckArgs};
use crate::config::Config;
use crate::model::{EVERYTHING, FileError};

#[derive(Serialize)]
struct CheckReport<'a> {
    articles: Vec<ArticleSummary<'a>>,
    errors: &'a [FileError],
    unmatched: Vec<UnmatchedSentence<'a>>,
    /// Files of the articles that match no audience: only Everything subscribers get
    /// them.
    no_audience: Vec<&'a str>,
}

/// The warning for an article that matches no audience; `crier check` has no
/// database, so it cannot say whether anyone chose Everything.
const NO_AUDIENCE: &str = "matches no audience; only Everything subscribers get it";

#[derive(Serialize)]
struct ArticleSummary<'a> {
    file: &'a str,
    slug: &'a str,
    title: &'a str,
    subject: &'a str,
    published: String,
    category: &'a str,
    reading_minutes: u32,
    audiences: &'a [String],
    last_verified: Option<String>,
}

pub(super) fn check(config: &Config, args: &CheckArgs) -> anyhow::Result<ExitCode> {
    // Every template must compile (strict mode) before any article is looked at.
    if let Err(e) = crate::templates::Templates::load(Some(&config.site.templates)) {
        eprintln!("error: {e}");
        return Ok(ExitCode::from(1));
    }
    // So must the SMTP settings (the URL, the CA file); nothing is connected to here.
    if config.delivery.smtp_url.is_some()
        && let Err(e) = super::mailer(config)
    {
        eprintln!("error: {e:#}");
        return Ok(ExitCode::from(1));
    }
    if let Err(e) = super::check_bounces(config) {
        eprintln!("error: {e:#}");
        return Ok(ExitCode::from(1));
    }
    let library = match load_store(config, &args.store) {
        Ok((_, library)) => library,
        Err(e) if e.downcast_ref::<TaxonomyError>().is_some() => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(1));
        }
        Err(e) => return Err(e),
    };
    let mut articles: Vec<ArticleSummary> = library
        .articles()
        .iter()
        .map(|a| ArticleSummary {
            file: &a.file,
            slug: &a.slug,
            title: &a.title,
            subject: &a.subject,
            published: a.published.to_string(),
            category: &a.category,
            reading_minutes: a.reading_minutes,
            audiences: &a.audiences,
            last_verified: a.last_verified.map(|d| d.to_string()),
        })
        .collect();
    articles.sort_by(|a, b| a.file.cmp(b.file));
    let no_audience = articles
        .iter()
        .filter(|a| a.audiences.is_empty())
        .map(|a| a.file)
        .collect();
    let report = CheckReport {
        articles,
        errors: library.errors(),
        unmatched: unmatched(&library),
        no_audience,
    };

    if args.json {
        outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for a in &report.articles {
            outln!(
                "{}  {}  {}  [{}]  {}",
                a.published,
                a.category,
                a.slug,
                a.audiences.join(", "),
                a.title
            );
        }
        if !report.unmatched.is_empty() {
            outln!("\n\"Who should care\" sentences that match no audience:");
            for u in &report.unmatched {
                outln!("  {}:{}: {}", u.file, u.line, u.text);
            }
        }
        if !report.no_audience.is_empty() {
            outln!();
            for file in &report.no_audience {
                outln!("warning: {file}: {NO_AUDIENCE}");
            }
        }
        if !report.errors.is_empty() {
            outln!("\nErrors:");
            for e in report.errors {
                outln!("  {e}");
            }
        }
        outln!(
            "\n{} articles, {} with errors, {} unmatched sentences.",
            report.articles.len(),
            report.errors.len(),
            report.unmatched.len()
        );
    }
    Ok(if report.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Active subscribers per audience, when there is a database to ask.
fn subscriber_counts(config: &Config) -> anyhow::Result<std::collections::BTreeMap<String, u64>> {
    if config
        .database
        .sqlite_path()
        .is_some_and(|path| !path.exists())
    {
        return Ok(Default::default());
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let store = super::open_store(config).await?;
        let stats = store.stats().await?;
        store.close().await;
        Ok(stats.by_audience)
    })
}

pub(super) fn audiences(config: &Config, args: &AudiencesArgs) -> anyhow::Result<ExitCode> {
    let (_, library) = load_store(config, &args.store)?;
    let counts = subscriber_counts(config)?;
    let rows = audience_rows(&library, &counts);
    let unmatched = unmatched(&library);
    let everything = counts.get(EVERYTHING).copied().unwrap_or(0);
    let unreached = unreached(&library, &counts);
    if args.json {
        let unreached: Vec<_> = unreached
            .iter()
            .map(|a| serde_json::json!({"file": a.file, "slug": a.slug, "title": a.title}))
            .collect();
        let doc = serde_json::json!({
            "audiences": rows,
            "everything": {"subscribers": everything},
            "unmatched": unmatched,
            "unreached": unreached,
        });
        outln!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(ExitCode::SUCCESS);
    }
    let width = rows.iter().map(|r| r.slug.len()).max().unwrap_or(8).max(8);
    outln!(
        "{:<width$}  {:>8}  {:>11}  NAME",
        "AUDIENCE",
        "ARTICLES",
        "SUBSCRIBERS"
    );
    for r in &rows {
        outln!(
            "{:<width$}  {:>8}  {:>11}  {}",
            r.slug,
            r.articles,
            r.subscribers,
            r.name
        );
    }
    outln!(
        "{:<width$}  {:>8}  {:>11}  Everything (every article, those that match no audience too)",
        EVERYTHING,
        library.articles().len(),
        everything
    );
    if !unreached.is_empty() {
        outln!("\n{} articles no subscriber gets:", unreached.len());
        for a in &unreached {
            if a.audiences.is_empty() {
                outln!("  {}: {NO_AUDIENCE}", a.file);
            } else {
                outln!(
                    "  {}: for {}, which no one chose",
                    a.file,
                    a.audiences.join(", ")
                );
            }
        }
    }
    outln!(
        "\n{} \"Who should care\" sentences match no audience:",
        unmatched.len()
    );
    for u in &unmatched {
        outln!("  {}:{}: {}", u.file, u.line, u.text);
        if let Some(s) = &u.suggestion {
            match &s.audience {
                Some(slug) => outln!("      would match {slug} with the phrase \"{}\"", s.phrase),
                None => outln!(
                    "      no audience is close; a new one could match \"{}\"",
                    s.phrase
                ),
            }
        }
    }
    if !library.errors().is_empty() {
        eprintln!(
            "\n{} files could not be read; run `crier check` for details.",
            library.errors().len()
        );
    }
    Ok(ExitCode::SUCCESS)
}
