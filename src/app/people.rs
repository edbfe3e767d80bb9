//! `crier subscribers …`: the admin's command line for the lists. Changes go through
//! the same checks as the web pages and the API; confirmation emails are queued in
//! the outbox, and the daemon delivers them.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;

use super::{open_store, subscriptions};
use crate::articles::Library;
use crate::audience::Taxonomy;
use crate::cli::{ExportFormat, SubscriberFields, SubscribersArgs, SubscribersCommand};
use crate::clock::SystemClock;
use crate::config::Config;
use crate::model::{Source, Status, Subscriber, normalize_email};
use crate::store::{SubscriberChanges, SubscriberQuery};
use crate::subscriptions::{Request, SubscriptionError, Subscriptions};
use crate::templates::Templates;

pub(super) fn run(config: &Config, args: SubscribersArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let store = open_store(config).await?;
        let taxonomy = Arc::new(Taxonomy::load(&config.store.audiences)?);
        // The lists need the taxonomy, not the articles: a library of none carries it.
        let library = Arc::new(Library::new(Vec::new(), Vec::new(), taxonomy));
        let templates = Arc::new(Templates::load(Some(&config.site.templates))?);
        let service = subscriptions(
            config,
            store.clone(),
            templates,
            Arc::new(SystemClock),
            tokio::sync::watch::channel(library).1,
        )?;
        let result = command(&service, args.command).await;
        store.close().await;
        result
    })
}

fn split_audiences(list: &str) -> Vec<String> {
    list.split([',', ';'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn request(email: &str, fields: &SubscriberFields) -> Request {
    Request {
        email: email.to_string(),
        name: fields.name.clone(),
        audiences: fields
            .audiences
            .as_deref()
            .map(split_audiences)
            .unwrap_or_default(),
        frequency: fields.frequency.clone(),
        timezone: fields.timezone.clone(),
        source: Some(Source::Cli),
        ..Request::default()
    }
}

fn report_error(e: SubscriptionError) -> anyhow::Result<ExitCode> {
    match e {
        SubscriptionError::Invalid(problems) => {
            for problem in problems {
                eprintln!("error: {problem}");
            }
            Ok(ExitCode::from(1))
        }
        other => Err(other.into()),
    }
}

async fn find(service: &Subscriptions, email: &str) -> anyhow::Result<Option<Subscriber>> {
    let email = normalize_email(email).map_err(anyhow::Error::msg)?;
    Ok(service.store().subscriber_by_email(&email).await?)
}

fn line(s: &Subscriber) -> String {
    format!(
        "{:<36} {:<12} {:<8} {:<20} {}",
        s.email,
        s.status.as_str(),
        s.frequency,
        s.timezone,
        s.audiences.join(",")
    )
}

async fn command(service: &Subscriptions, command: SubscribersCommand) -> anyhow::Result<ExitCode> {
    match command {
        SubscribersCommand::Add {
            email,
            fields,
            active,
        } => match service.add(&request(&email, &fields), active).await {
            Ok(s) if active => {
                outln!("added {} (active)", s.email);
                Ok(ExitCode::SUCCESS)
            }
            Ok(s) => {
                outln!(
                    "added {} (pending): a confirmation email is queued; `crier serve` delivers it",
                    s.email
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => report_error(e),
        },
        SubscribersCommand::List {
            query,
            status,
            page,
            per_page,
            json,
        } => {
            let status = match status.as_deref() {
                Some(s) => {
                    Some(Status::parse(s).with_context(|| format!("`{s}` is not a status"))?)
                }
                None => None,
            };
            let query = SubscriberQuery {
                q: query.unwrap_or_default(),
                status,
                page,
                per_page,
                ..SubscriberQuery::default()
            };
            let page = service.store().subscribers(&query).await?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&page)?);
            } else {
                outln!(
                    "{:<36} {:<12} {:<8} {:<20} AUDIENCES",
                    "EMAIL",
                    "STATUS",
                    "DIGEST",
                    "TIME ZONE"
                );
                for s in &page.subscribers {
                    outln!("{}", line(s));
                }
                let shown = page.subscribers.len() as u64;
                outln!(
                    "\n{shown} of {} (page {}, {} per page)",
                    page.total,
                    page.page,
                    page.per_page
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        SubscribersCommand::Show { email, json } => match find(service, &email).await? {
            Some(s) if json => {
                outln!("{}", serde_json::to_string_pretty(&s)?);
                Ok(ExitCode::SUCCESS)
            }
            Some(s) => {
                outln!("email:       {}", s.email);
                outln!("name:        {}", s.name.as_deref().unwrap_or("-"));
                outln!("status:      {}", s.status.as_str());
                outln!("audiences:   {}", s.audiences.join(", "));
                outln!("digest:      {}", s.frequency);
                outln!("time zone:   {}", s.timezone);
                outln!("created:     {}", s.created_at.to_rfc3339());
                outln!(
                    "confirmed:   {}",
                    s.confirmed_at.map_or("-".into(), |t| t.to_rfc3339())
                );
                outln!(
                    "left:        {}",
                    s.unsubscribed_at.map_or("-".into(), |t| t.to_rfc3339())
                );
                outln!(
                    "consent:     {} via {} (text {}){}",
                    s.consent.at.to_rfc3339(),
                    s.consent.source.as_str(),
                    s.consent.text_version,
                    s.consent
                        .ip
                        .as_deref()
                        .map(|ip| format!(" from {ip}"))
                        .unwrap_or_default()
                );
                Ok(ExitCode::SUCCESS)
            }
            None => {
                eprintln!("error: no subscriber has the address {email}");
                Ok(ExitCode::from(1))
            }
        },
        SubscribersCommand::Update {
            email,
            fields,
            status,
        } => {
            let Some(subscriber) = find(service, &email).await? else {
                eprintln!("error: no subscriber has the address {email}");
                return Ok(ExitCode::from(1));
            };
            let status = match status.as_deref() {
                Some(s) => {
                    Some(Status::parse(s).with_context(|| format!("`{s}` is not a status"))?)
                }
                None => None,
            };
            let changes = SubscriberChanges {
                name: fields.name.map(|n| Some(n).filter(|n| !n.is_empty())),
                audiences: fields.audiences.as_deref().map(split_audiences),
                frequency: fields.frequency,
                timezone: fields.timezone,
                status,
            };
            match service.update(&subscriber, changes).await {
                Ok(s) => {
                    outln!("{}", line(&s));
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => report_error(e),
            }
        }
        SubscribersCommand::Remove { email } => {
            let Some(subscriber) = find(service, &email).await? else {
                eprintln!("error: no subscriber has the address {email}");
                return Ok(ExitCode::from(1));
            };
            service.erase(&subscriber).await?;
            outln!("erased {}; the address stays suppressed", subscriber.email);
            Ok(ExitCode::SUCCESS)
        }
        SubscribersCommand::Unsuppress { email } => {
            let (hash, found) = match service.suppression_of(&email).await {
                Ok(found) => found,
                Err(e) => return report_error(e),
            };
            let Some(entry) = found else {
                eprintln!("error: {email} is not on the suppression list");
                return Ok(ExitCode::from(1));
            };
            service.lift_suppression(&hash).await?;
            outln!(
                "{email} is no longer suppressed (it was: {}); its subscriber record keeps its status",
                entry.reason
            );
            Ok(ExitCode::SUCCESS)
        }
        SubscribersCommand::Import { file, active } => {
            let input: Box<dyn std::io::Read + Send> = if file.as_os_str() == "-" {
                Box::new(std::io::stdin())
            } else {
                Box::new(
                    std::fs::File::open(&file)
                        .with_context(|| format!("cannot open {}", file.display()))?,
                )
            };
            let bar = indicatif::ProgressBar::new_spinner();
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} {pos} rows read ({per_sec}) {elapsed}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
            );
            let progress = |rows: u64| bar.set_position(rows);
            let result = service
                .import_csv(std::io::BufReader::new(input), active, &progress)
                .await;
            bar.finish_and_clear();
            let report = match result {
                Ok(report) => report,
                Err(e) => return report_error(e),
            };
            if !report.ignored_columns.is_empty() {
                eprintln!(
                    "{}:1: columns left out (not read by the import): {}",
                    file.display(),
                    report.ignored_columns.join(", ")
                );
            }
            for error in &report.errors {
                eprintln!("{}:{}: {}", file.display(), error.line, error.message);
            }
            outln!(
                "{} rows: {} added, {} updated, {} with errors{}",
                report.rows,
                report.created,
                report.updated,
                report.errors.len(),
                if active {
                    String::new()
                } else {
                    format!(", {} confirmation emails queued", report.confirmations)
                }
            );
            Ok(if report.errors.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        SubscribersCommand::Export { format, out } => {
            let subscribers = service.store().all_subscribers().await?;
            let mut writer: Box<dyn Write> = match &out {
                Some(path) => Box::new(std::io::BufWriter::new(
                    std::fs::File::create(path)
                        .with_context(|| format!("cannot create {}", path.display()))?,
                )),
                None => Box::new(std::io::stdout().lock()),
            };
            match format {
                ExportFormat::Json => {
                    serde_json::to_writer_pretty(&mut writer, &subscribers)?;
                    writeln!(writer)?;
                }
                ExportFormat::Csv => crate::subscriptions::write_csv(&mut writer, &subscribers)?,
            }
            if let Some(path) = out {
                eprintln!(
                    "exported {} subscribers to {}",
                    subscribers.len(),
                    path.display()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
