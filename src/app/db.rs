//! `crier db migrate-to URL`: the configured SQLite database copied into an empty
//! PostgreSQL one, with the generated secret, while no daemon runs on it.

use std::process::ExitCode;

use anyhow::{Context, bail};

use super::lock::DaemonLock;
use super::open_store;
use crate::cli::{DbArgs, DbCommand};
use crate::config::Config;

pub(super) fn run(config: &Config, args: DbArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        DbCommand::MigrateTo { url } => migrate_to(config, &url),
    }
}

fn migrate_to(config: &Config, url: &str) -> anyhow::Result<ExitCode> {
    let shown = crate::store::redact_url(url);
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        bail!("`{shown}` is not a PostgreSQL URL (postgres://user:password@host/db)");
    }
    let Some(path) = config.database.sqlite_path() else {
        bail!("the configured database is PostgreSQL already; `db migrate-to` copies a SQLite one");
    };
    if !path.exists() {
        bail!("the database {} does not exist", path.display());
    }
    // No daemon may write while the copy reads: what it wrote after would be lost.
    let _lock =
        DaemonLock::acquire(path).context("stop `crier serve` before copying the database")?;
    let secret = sqlite_secret(config, path)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let copied = runtime.block_on(async {
        let store = open_store(config).await?;
        let copied = store.copy_to_postgres(url, secret.as_deref()).await;
        store.close().await;
        copied.with_context(|| format!("cannot copy into {shown}"))
    })?;
    println!("copied {} into {shown}:", path.display());
    for (table, rows) in &copied.tables {
        println!("  {table:<22} {rows:>10} rows");
    }
    if copied.secret {
        println!("  the generated secret, as the instances' shared secret");
    }
    println!("Every table's count in PostgreSQL matches SQLite's.");
    Ok(ExitCode::SUCCESS)
}

/// The secret generated beside the SQLite database, when crier made one and the
/// config sets none: links already mailed are signed with it.
fn sqlite_secret(config: &Config, database: &std::path::Path) -> anyhow::Result<Option<String>> {
    if config.security.secret.is_some() {
        return Ok(None);
    }
    let path = super::secret_file(database)?;
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Some(text.trim().to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}
