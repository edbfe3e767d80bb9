//! `crier admins …`: the console's accounts. Addresses are normalised as
//! subscribers' are; passwords are checked for length and stored as Argon2id
//! hashes. Removing an admin or changing their password ends their sessions. Every
//! failure exits with status 1 and a message that names the problem.

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use anyhow::{Context, bail};

use super::open_store;
use crate::cli::{AdminsArgs, AdminsCommand};
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, ConfigError};
use crate::model::normalize_email;
use crate::store::Store;
use crate::tokens::passwords;

pub(super) fn run(
    config: Result<Config, ConfigError>,
    args: AdminsArgs,
) -> anyhow::Result<ExitCode> {
    match command(config, args) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) => {
            eprintln!("error: {e:#}");
            Ok(ExitCode::from(1))
        }
    }
}

fn command(config: Result<Config, ConfigError>, args: AdminsArgs) -> anyhow::Result<()> {
    let config = config?;
    // The address and the password are checked before the database is opened.
    let (email, password) = match &args.command {
        AdminsCommand::Add { email } | AdminsCommand::Passwd { email } => {
            let email = address(email)?;
            (Some(email.clone()), Some(new_password(&email)?))
        }
        AdminsCommand::Remove { email } => (Some(address(email)?), None),
        AdminsCommand::List => (None, None),
    };
    let hash = password.map(|p| passwords::hash_password(&p)).transpose()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let store = open_store(&config).await?;
        let result = act(&store, &args.command, email, hash).await;
        store.close().await;
        result
    })
}

async fn act(
    store: &Store,
    command: &AdminsCommand,
    email: Option<String>,
    hash: Option<String>,
) -> anyhow::Result<()> {
    let now = SystemClock.now();
    let email = email.unwrap_or_default();
    let hash = hash.unwrap_or_default();
    match command {
        AdminsCommand::Add { .. } => {
            store.add_admin(&email, &hash, now).await?;
            outln!("added the admin {email}; they can log in at /admin/login");
        }
        AdminsCommand::Passwd { .. } => {
            store.set_admin_password(&email, &hash, now).await?;
            outln!("changed the password of {email} and ended their sessions");
        }
        AdminsCommand::Remove { .. } => {
            store.remove_admin(&email).await?;
            outln!("removed the admin {email} and ended their sessions");
        }
        AdminsCommand::List => {
            let admins = store.admins().await?;
            if admins.is_empty() {
                outln!("no admins yet: add one with `crier admins add EMAIL`");
            }
            for admin in admins {
                outln!(
                    "{}\tadded {}\tpassword set {}\t{} session{}",
                    admin.email,
                    admin.created_at.format("%Y-%m-%d %H:%M UTC"),
                    admin.password_changed_at.format("%Y-%m-%d %H:%M UTC"),
                    admin.sessions,
                    if admin.sessions == 1 { "" } else { "s" }
                );
            }
        }
    }
    Ok(())
}

fn address(raw: &str) -> anyhow::Result<String> {
    normalize_email(raw).with_context(|| format!("`{raw}` is not an admin's address"))
}

/// The new password: standard input's first line when it is not a terminal, else
/// typed twice at a prompt without echo.
fn new_password(email: &str) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    let password = if stdin.is_terminal() {
        let first = rpassword::prompt_password(format!("New password for {email}: "))
            .context("cannot read the password")?;
        passwords::check_password(&first)?;
        let again = rpassword::prompt_password("The same password again: ")
            .context("cannot read the password")?;
        if first != again {
            bail!("the two passwords differ");
        }
        first
    } else {
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from standard input")?;
        line.trim_end_matches(['\r', '\n']).to_string()
    };
    passwords::check_password(&password)?;
    Ok(password)
}
