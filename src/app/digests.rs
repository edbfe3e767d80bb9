//! `crier digest plan|preview|send` and `crier deliveries`: digests by hand. The work
//! is the digests service's (`crate::digests`), the same the daemon's scheduler calls;
//! this file reads the arguments and prints. `send` delivers in this process only
//! when no daemon holds the database; otherwise it only plans and leaves delivery to
//! the daemon.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use chrono::{DateTime, Utc};

use super::lock::DaemonLock;
use super::{
    composer, digests_service, load_store, mailer, open_store, subscriptions, worker_settings,
};
use crate::cli::{DeliveriesArgs, DeliveriesCommand, DigestArgs, DigestCommand, StoreArgs};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::delivery::Worker;
use crate::digests::Firing;
use crate::model::normalize_email;
use crate::store::Undelivered;
use crate::templates::Templates;

pub(super) fn run_digest(config: &Config, args: DigestArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(digest(config, args))
}

async fn digest(config: &Config, args: DigestArgs) -> anyhow::Result<ExitCode> {
    let (_, library) = load_store(config, &StoreArgs::default())?;
    let store = open_store(config).await?;
    let templates = Arc::new(Templates::load(Some(&config.site.templates))?);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    // A command sees the library as it was loaded: nothing sends on the channel.
    let library = tokio::sync::watch::channel(library).1;
    let subscriptions = subscriptions(
        config,
        store.clone(),
        Arc::clone(&templates),
        Arc::clone(&clock),
        library.clone(),
    )?;
    let service = digests_service(
        config,
        subscriptions.clone(),
        Arc::clone(&templates),
        library,
        Arc::clone(&clock),
        None,
    );
    let name = match &args.command {
        DigestCommand::Plan { digest, .. }
        | DigestCommand::Preview { digest, .. }
        | DigestCommand::Send { digest, .. } => digest.clone(),
    };
    let Some(digest) = service.digest(&name).cloned() else {
        let names: Vec<&str> = service.digests().iter().map(|d| d.name.as_str()).collect();
        anyhow::bail!(
            "there is no digest `{name}`; the digests are {}",
            names.join(", ")
        );
    };
    let code = match args.command {
        DigestCommand::Plan { at, json, .. } => {
            let now = match at {
                Some(at) => DateTime::parse_from_rfc3339(&at)
                    .with_context(|| format!("`{at}` is not a time like 2026-11-23T07:00:00Z"))?
                    .with_timezone(&Utc),
                None => clock.now(),
            };
            let planning = service.plan(&digest, now, Firing::Scheduled, None).await?;
            if json {
                let plans: Vec<_> = planning
                    .plans
                    .iter()
                    .map(|p| serde_json::json!({"email": p.email, "period": p.period, "groups": *p.groups, "more": p.more}))
                    .collect();
                outln!(
                    "{}",
                    serde_json::to_string_pretty(
                        &serde_json::json!({"plans": plans, "empty": planning.empty.len(), "already_planned": planning.done, "late": planning.late.len()})
                    )?
                );
            } else {
                for p in &planning.plans {
                    let groups: Vec<String> = p
                        .groups
                        .iter()
                        .map(|g| format!("{} ({})", g.name, g.articles.len()))
                        .collect();
                    let more = if p.more > 0 {
                        format!(", {} more", p.more)
                    } else {
                        String::new()
                    };
                    outln!(
                        "{}  {} articles: {}{more}",
                        p.email,
                        p.articles(),
                        groups.join(", ")
                    );
                }
                outln!(
                    "\n{}: {} to send, {} with nothing new, {} already planned, {} too late",
                    digest.name,
                    planning.plans.len(),
                    planning.empty.len(),
                    planning.done,
                    planning.late.len()
                );
            }
            ExitCode::SUCCESS
        }
        DigestCommand::Preview { email, html, .. } => {
            let email = normalize_email(&email).map_err(anyhow::Error::msg)?;
            let subscriber = store
                .subscriber_by_email(&email)
                .await?
                .with_context(|| format!("no subscriber has the address {email}"))?;
            let Some(preview) = service.preview(&digest, &subscriber).await? else {
                outln!("{email} has nothing new for the {} digest.", digest.name);
                return Ok(ExitCode::SUCCESS);
            };
            outln!("Subject: {}\n\n{}", preview.subject, preview.text);
            if let Some(path) = html {
                std::fs::write(&path, &preview.html)
                    .with_context(|| format!("cannot write {}", path.display()))?;
                eprintln!(
                    "HTML written to {} ({} bytes)",
                    path.display(),
                    preview.html.len()
                );
            }
            ExitCode::SUCCESS
        }
        DigestCommand::Send { dry_run: true, .. } => {
            let dry = service.dry_run(&digest, 0).await?;
            outln!(
                "{}: would send {} digests ({} subscribers have nothing new); nothing was queued",
                digest.name,
                dry.digests,
                dry.nothing_new
            );
            outln!("{} distinct contents", dry.contents);
            ExitCode::SUCCESS
        }
        DigestCommand::Send { .. } => {
            let now = clock.now();
            let planning = service.plan(&digest, now, Firing::Manual, None).await?;
            let report = service.enqueue(&digest, &planning).await?;
            drop(planning);
            outln!(
                "{}: {} digests queued ({} distinct contents), {} with nothing new",
                digest.name,
                report.queued,
                report.contents,
                report.empty
            );
            // On PostgreSQL several senders may share the outbox; on SQLite a
            // running daemon delivers what was queued.
            let _lock = match config.database.sqlite_path() {
                Some(path) if DaemonLock::is_held(path) => {
                    outln!("A running `crier serve` holds the database; it will deliver them.");
                    return Ok(ExitCode::SUCCESS);
                }
                Some(path) => Some(DaemonLock::acquire(path)?),
                None => None,
            };
            super::install_tls_provider();
            let worker_store = store.dedicated().await?;
            let worker = Worker::new(
                worker_store.clone(),
                mailer(config)?,
                Arc::new(composer(config, subscriptions.signer())?),
                clock,
                subscriptions.signer().clone(),
                worker_settings(config),
            );
            let worker = super::named_worker(worker, config, &store).await?;
            let bar = indicatif::ProgressBar::new(report.queued as u64);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:40} {pos}/{len} sent ({per_sec}, {eta} left)",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            let progress = {
                let bar = bar.clone();
                let worker = worker.clone();
                tokio::spawn(async move {
                    loop {
                        let o = worker.outcome();
                        bar.set_position(o.sent + o.failed);
                        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                    }
                })
            };
            let outcome = worker.drain().await;
            service.settle().await;
            progress.abort();
            let left = worker_store.undelivered(SystemClock.now()).await?;
            // Closed, not just dropped: the last connection to close checkpoints the
            // write-ahead log and removes it.
            worker_store.close().await;
            bar.finish_and_clear();
            outln!(
                "{} sent, {} deferred for a retry, {} failed",
                outcome.sent,
                outcome.retried,
                outcome.failed
            );
            report_undelivered(&left);
            // Success means every message is delivered: nothing failed, and nothing is
            // left waiting for a retry that no process here will make.
            if outcome.failed > 0 || left.any_due() || left.deferred > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
    };
    store.close().await;
    Ok(code)
}

/// Says what is still on its way: due, claimed by a sender, waiting for a retry.
fn report_undelivered(left: &Undelivered) {
    if left.due > 0 {
        outln!(
            "{} due now and not sent: run `crier digest send` again, or start `crier serve`",
            left.due
        );
    }
    if left.claimed > 0 {
        outln!(
            "{} claimed by a sender (a running `crier serve`, or one that stopped: the next start sends them)",
            left.claimed
        );
    }
    if let Some(next) = left.next_retry {
        outln!(
            "{} waiting for a retry, the first at {}",
            left.deferred,
            next.format("%Y-%m-%d %H:%M:%S UTC")
        );
    }
}

pub(super) fn run_deliveries(config: &Config, args: DeliveriesArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let store = open_store(config).await?;
        let code = match args.command {
            Some(DeliveriesCommand::Retry { failed }) => {
                anyhow::ensure!(
                    failed,
                    "only failed deliveries can be retried: add --failed"
                );
                let n = store.retry_failed(SystemClock.now()).await?;
                outln!("{n} failed deliveries queued again");
                ExitCode::SUCCESS
            }
            None => {
                let counts = store.outbox_counts().await?;
                let left = store.undelivered(SystemClock.now()).await?;
                outln!(
                    "queued {}, sending {}, sent {}, failed {}",
                    counts.queued,
                    counts.sending,
                    counts.sent,
                    counts.failed
                );
                report_undelivered(&left);
                outln!();
                for row in store.deliveries(args.failed, args.limit).await? {
                    outln!(
                        "{:>6}  {:<8}  {:<12}  {:<32}  attempts {}  {}",
                        row.id,
                        row.status.as_str(),
                        row.kind,
                        row.recipient,
                        row.attempts,
                        row.last_error.as_deref().unwrap_or("")
                    );
                }
                // Like a health check: non-zero while mail that is due waits.
                if left.any_due() {
                    ExitCode::from(1)
                } else {
                    ExitCode::SUCCESS
                }
            }
        };
        store.close().await;
        Ok(code)
    })
}
