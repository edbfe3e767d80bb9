//! `crier bounces …`: one raw message read and applied (`ingest`, for an MTA's pipe
//! transport or procmail), and the latest bounce events (`list`). Both go through the
//! `bounces` service and the store, as the daemon's mailbox and webhooks do.
//!
//! `ingest` answers the way a delivery agent must: 0 once the message is recorded
//! (whatever it turned out to be), 66 when the file cannot be read, 75 (EX_TEMPFAIL)
//! when the config or the database cannot take it, so that the MTA keeps the message
//! and tries again rather than returning it. Nothing it prints names an address.

use std::io::Read;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;

use super::{load_secret, open_store};
use crate::bounces::{Bounces, Outcome, Source};
use crate::cli::{BouncesArgs, BouncesCommand};
use crate::clock::SystemClock;
use crate::config::{Config, ConfigError};
use crate::model::normalize_email;
use crate::store::BounceFilter;
use crate::tokens::Signer;

/// The largest message `ingest` reads; a bounce quoting a huge message is cut there.
const MAX_MESSAGE_BYTES: u64 = 10 * 1024 * 1024;
const EX_NOINPUT: u8 = 66;
const EX_TEMPFAIL: u8 = 75;

pub(super) fn run(
    config: Result<Config, ConfigError>,
    args: BouncesArgs,
) -> anyhow::Result<ExitCode> {
    match args.command {
        BouncesCommand::Ingest { file, json } => {
            let raw = match read_message(file.as_deref()) {
                Ok(raw) => raw,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    return Ok(ExitCode::from(EX_NOINPUT));
                }
            };
            match block_on(ingest(config, &raw)) {
                Ok(outcomes) => {
                    print_outcomes(&outcomes, json);
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("error: {e:#}");
                    Ok(ExitCode::from(EX_TEMPFAIL))
                }
            }
        }
        BouncesCommand::List { email, limit, json } => {
            match block_on(list(config, email.as_deref(), limit, json)) {
                Ok(()) => Ok(ExitCode::SUCCESS),
                Err(e) => {
                    eprintln!("error: {e:#}");
                    Ok(ExitCode::from(1))
                }
            }
        }
    }
}

fn block_on<T>(future: impl std::future::Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(future)
}

fn read_message(file: Option<&std::path::Path>) -> anyhow::Result<Vec<u8>> {
    let mut raw = Vec::new();
    match file.filter(|f| f.as_os_str() != "-") {
        Some(path) => std::fs::File::open(path)
            .with_context(|| format!("cannot read {}", path.display()))?
            .take(MAX_MESSAGE_BYTES)
            .read_to_end(&mut raw)
            .with_context(|| format!("cannot read {}", path.display()))?,
        None => std::io::stdin()
            .take(MAX_MESSAGE_BYTES)
            .read_to_end(&mut raw)
            .context("cannot read the message from standard input")?,
    };
    Ok(raw)
}

async fn service(config: &Config) -> anyhow::Result<Bounces> {
    let store = open_store(config).await?;
    let signer = Signer::new(&load_secret(config, &store)?);
    Ok(Bounces::new(
        store,
        signer,
        Arc::new(SystemClock),
        config.bounces.clone(),
    ))
}

async fn ingest(config: Result<Config, ConfigError>, raw: &[u8]) -> anyhow::Result<Vec<Outcome>> {
    let config = config?;
    let bounces = service(&config).await?;
    let outcomes = bounces
        .ingest(Source::Pipe, raw)
        .await
        .context("cannot record the message")?;
    bounces.store().close().await;
    Ok(outcomes)
}

fn print_outcomes(outcomes: &[Outcome], json: bool) {
    if json {
        outln!(
            "{}",
            serde_json::to_string_pretty(outcomes).unwrap_or_default()
        );
        return;
    }
    for o in outcomes {
        let who = match (o.subscriber_id, o.outbox_id) {
            (Some(s), Some(m)) => {
                format!("subscriber {s}, message {m}, matched by {}", o.matched_by)
            }
            (Some(s), None) => format!("subscriber {s}, matched by {}", o.matched_by),
            (None, Some(m)) => format!("message {m}, no subscriber"),
            (None, None) => "no subscriber found".to_string(),
        };
        let soft = o
            .soft_count
            .map(|n| format!(" ({n} soft bounce{})", if n == 1 { "" } else { "s" }))
            .unwrap_or_default();
        let status = o
            .status
            .as_deref()
            .map(|s| format!(" [{s}]"))
            .unwrap_or_default();
        outln!(
            "{}: {who} → {}{soft}{status}",
            o.kind.as_str(),
            o.action.as_str()
        );
    }
}

async fn list(
    config: Result<Config, ConfigError>,
    email: Option<&str>,
    limit: usize,
    json: bool,
) -> anyhow::Result<()> {
    let config = config?;
    let store = open_store(&config).await?;
    let subscriber_id = match email {
        Some(email) => {
            let email = normalize_email(email).map_err(|e| anyhow::anyhow!("{e}"))?;
            let found = store.subscriber_by_email(&email).await?;
            Some(
                found
                    .with_context(|| format!("no subscriber has the address {email}"))?
                    .id,
            )
        }
        None => None,
    };
    let events = store
        .bounce_events(&BounceFilter {
            subscriber_id,
            limit: limit.max(1),
            ..BounceFilter::default()
        })
        .await?;
    store.close().await;
    if json {
        outln!("{}", serde_json::to_string_pretty(&events)?);
        return Ok(());
    }
    if events.is_empty() {
        outln!("no bounce events");
    }
    for e in &events {
        let subscriber = e
            .subscriber_id
            .map(|s| format!("subscriber {s}"))
            .unwrap_or_else(|| "no subscriber".into());
        outln!(
            "{}  {:<11} {:<9} {:<12} {subscriber}{}  {}",
            e.at.format("%Y-%m-%d %H:%M:%S"),
            e.kind,
            e.source,
            e.action,
            e.status_code
                .as_deref()
                .map(|s| format!(" [{s}]"))
                .unwrap_or_default(),
            e.reason
        );
    }
    Ok(())
}
