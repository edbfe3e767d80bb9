//! The command line, as clap derive structs. Parsing only; `app` acts on it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "crier",
    version,
    about = "Publishes a folder of articles as feeds and email digests",
    propagate_version = true
)]
pub struct Cli {
    /// Config file (TOML). Without it crier reads ./crier.toml if present, else its
    /// embedded defaults.
    #[arg(
        long,
        short = 'c',
        global = true,
        value_name = "FILE",
        env = "CRIER_CONFIG"
    )]
    pub config: Option<PathBuf>,

    /// The database, in place of the config's `[database] url`
    /// (`postgres://user:password@host/db` or `sqlite://path`). Its value is never
    /// printed, since it may hold a password.
    #[arg(
        long,
        global = true,
        value_name = "URL",
        env = "CRIER_DATABASE_URL",
        hide_env_values = true
    )]
    pub database_url: Option<String>,

    /// This instance's own folder, in place of the config's `[database] state_dir`.
    #[arg(long, global = true, value_name = "DIR", env = "CRIER_STATE_DIR")]
    pub state_dir: Option<PathBuf>,

    /// This instance's name on a shared PostgreSQL database, in place of the config's
    /// `[database] instance`: one per running instance (a systemd template's `%i`).
    #[arg(long, global = true, value_name = "NAME", env = "CRIER_INSTANCE")]
    pub instance: Option<String>,

    /// How logs are written to standard error.
    #[arg(long, global = true, value_enum, default_value = "human")]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: watch the store, serve feeds and pages, keep subscribers, send digests.
    Serve {
        /// Add a `demo` digest that fires every two minutes, and a demo subscriber to
        /// receive it, so digests land in the outbox soon after starting.
        #[arg(long)]
        demo: bool,
    },
    /// Write every feed and page as static files, with the bytes `serve` sends.
    Build(BuildArgs),
    /// Check the config, the audience taxonomy and every article; exit 1 on any error.
    Check(CheckArgs),
    /// Manage subscribers: add, list, show, update, remove, import, export.
    Subscribers(SubscribersArgs),
    /// Manage the admin console's accounts: add, list, remove, passwd.
    Admins(AdminsArgs),
    /// Read returned mail, complaints and mailed unsubscribes, or list what came in.
    Bounces(BouncesArgs),
    /// Plan, preview or send a digest by hand.
    Digest(DigestArgs),
    /// Show recent deliveries, or retry the failed ones.
    Deliveries(DeliveriesArgs),
    /// List the audiences with their article counts, then the "Who should care"
    /// sentences that match no audience.
    Audiences(AudiencesArgs),
    /// Show when a cron line fires: its next firings on a time zone's clock. Exit 1
    /// when the line is not a schedule.
    Cron(CronArgs),
    /// The database itself: copy the SQLite database into PostgreSQL.
    Db(DbArgs),
}

#[derive(Debug, Args)]
pub struct DbArgs {
    #[command(subcommand)]
    pub command: DbCommand,
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Copy the configured SQLite database (subscribers, consent records,
    /// suppressions, the outbox with its contents, bounce events, admins and the
    /// generated secret) into an empty PostgreSQL database, in one transaction, and
    /// print the rows copied per table. Stop `crier serve` first.
    MigrateTo {
        /// postgres://user:password@host:port/database
        url: String,
    },
}

/// Where to read articles and the taxonomy from, overriding the config.
#[derive(Debug, Clone, Default, Args)]
pub struct StoreArgs {
    /// Article folder to read instead of `[store] path`.
    #[arg(long, value_name = "DIR")]
    pub store: Option<PathBuf>,
    /// Taxonomy file to use instead of `[store] audiences`.
    #[arg(long, value_name = "FILE")]
    pub audiences: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Print one JSON document: {"articles": [...], "errors": [...], "unmatched": [...]}.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The folder to write into (created when missing).
    #[arg(long, value_name = "DIR")]
    pub out: std::path::PathBuf,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Args)]
pub struct AudiencesArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Args)]
pub struct CronArgs {
    /// The schedule, as `[[digest]] cron` takes it: a crontab line such as
    /// '0 7 * * 1' (quote it, or its stars become file names) or @daily, @weekly ….
    #[arg(required = true, num_args = 1.., value_name = "EXPR")]
    pub expr: Vec<String>,
    /// How many firings to show.
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub next: usize,
    /// The wall clock it runs on: an IANA time zone such as Europe/London.
    #[arg(long, default_value = "UTC", value_name = "TZ")]
    pub tz: String,
    /// Firings after this time (RFC 3339, e.g. 2026-01-01T00:00:00Z) instead of now.
    #[arg(long, value_name = "TIME")]
    pub after: Option<String>,
    /// Print one JSON array of {"utc": …, "local": …} RFC 3339 times.
    #[arg(long)]
    pub json: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn config_flag_goes_before_or_after_the_subcommand() {
        let before = Cli::try_parse_from(["crier", "--config", "a.toml", "check"]).unwrap();
        let after =
            Cli::try_parse_from(["crier", "check", "--config", "a.toml", "--json"]).unwrap();
        assert_eq!(before.config, Some(PathBuf::from("a.toml")));
        assert_eq!(after.config, Some(PathBuf::from("a.toml")));
        assert!(matches!(
            after.command,
            Command::Check(CheckArgs { json: true, .. })
        ));
    }

    #[test]
    fn a_cron_line_comes_quoted_or_as_separate_words() {
        for args in [
            &["crier", "cron", "0 7 1 * 1", "--next", "3"][..],
            &["crier", "cron", "0", "7", "1", "*", "1", "--next", "3"],
        ] {
            let Command::Cron(cron) = Cli::try_parse_from(args).unwrap().command else {
                panic!("not the cron command");
            };
            assert_eq!((cron.expr.join(" "), cron.next), ("0 7 1 * 1".into(), 3));
        }
    }
}

#[derive(Debug, Args)]
pub struct AdminsArgs {
    #[command(subcommand)]
    pub command: AdminsCommand,
}

/// The password of `add` and `passwd` is read from standard input (its first line)
/// when that is not a terminal, else prompted for twice without echo.
#[derive(Debug, Subcommand)]
pub enum AdminsCommand {
    /// Add an admin who can log in to the console at /admin.
    Add { email: String },
    /// List the admins.
    List,
    /// Remove an admin and end their sessions.
    Remove { email: String },
    /// Set an admin's password and end their sessions.
    Passwd { email: String },
}

#[derive(Debug, Args)]
pub struct BouncesArgs {
    #[command(subcommand)]
    pub command: BouncesCommand,
}

#[derive(Debug, Subcommand)]
pub enum BouncesCommand {
    /// Read one raw message (a bounce, a complaint, an auto-reply or a mailed
    /// unsubscribe) and apply it: for Postfix's pipe transport or procmail. Exits 0
    /// once it is recorded, whatever it was, and 75 (EX_TEMPFAIL, so the MTA tries
    /// again) when the database cannot take it.
    Ingest {
        /// The message file; `-` or nothing reads standard input.
        file: Option<std::path::PathBuf>,
        /// Print what it did as JSON.
        #[arg(long)]
        json: bool,
    },
    /// The latest bounce events, newest first.
    List {
        /// Only this subscriber's (by address).
        #[arg(long)]
        email: Option<String>,
        /// How many.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct SubscribersArgs {
    #[command(subcommand)]
    pub command: SubscribersCommand,
}

/// What a subscriber is, as flags.
#[derive(Debug, Clone, Default, Args)]
pub struct SubscriberFields {
    /// The subscriber's name.
    #[arg(long)]
    pub name: Option<String>,
    /// Audience slugs, separated by commas or semicolons.
    #[arg(long, value_name = "SLUGS")]
    pub audiences: Option<String>,
    /// The digest they get: a schedule name such as daily or weekly.
    #[arg(long)]
    pub frequency: Option<String>,
    /// An IANA time zone such as Europe/London.
    #[arg(long)]
    pub timezone: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum SubscribersCommand {
    /// Add a subscriber: pending with a confirmation email, or active with --active.
    Add {
        email: String,
        #[command(flatten)]
        fields: SubscriberFields,
        /// Skip double opt-in: you have their consent already.
        #[arg(long)]
        active: bool,
    },
    /// List subscribers, newest first.
    List {
        /// Part of an address or name.
        #[arg(long, short)]
        query: Option<String>,
        /// Only this status: pending, active, unsubscribed, bounced, complained.
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 1)]
        page: u32,
        #[arg(long, default_value_t = 50)]
        per_page: u32,
        #[arg(long)]
        json: bool,
    },
    /// Show one subscriber.
    Show {
        email: String,
        #[arg(long)]
        json: bool,
    },
    /// Change a subscriber's choices or status.
    Update {
        email: String,
        #[command(flatten)]
        fields: SubscriberFields,
        /// pending, active, unsubscribed, bounced or complained.
        #[arg(long)]
        status: Option<String>,
    },
    /// Erase a subscriber; a keyed hash of the address stays on the suppression list.
    Remove { email: String },
    /// Lift the suppression of an address (unsubscribed, bounced, complained or
    /// erased), so that it can be added or activated again.
    Unsuppress { email: String },
    /// Import a CSV with the header email,name,audiences,frequency,timezone (`-` reads
    /// standard input); audiences are separated by `;`. Only email is required; other
    /// columns are left out and named.
    Import {
        file: std::path::PathBuf,
        /// Import as active, without double opt-in (the consent source is "import").
        #[arg(long)]
        active: bool,
    },
    /// Export every subscriber as CSV or JSON.
    Export {
        #[arg(long, value_enum, default_value = "csv")]
        format: ExportFormat,
        /// Write here instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<std::path::PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    Csv,
    Json,
}

#[derive(Debug, Args)]
pub struct DigestArgs {
    #[command(subcommand)]
    pub command: DigestCommand,
}

#[derive(Debug, Subcommand)]
pub enum DigestCommand {
    /// Show who would get what; sends nothing.
    Plan {
        /// The digest's name.
        #[arg(long)]
        digest: String,
        /// Plan as of this time (RFC 3339, e.g. 2026-11-23T07:00:00Z) instead of now.
        #[arg(long)]
        at: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Render the digest one subscriber would get now, as text (and HTML to a file).
    Preview {
        #[arg(long)]
        email: String,
        #[arg(long)]
        digest: String,
        /// Write the HTML part here.
        #[arg(long, value_name = "FILE")]
        html: Option<std::path::PathBuf>,
    },
    /// Plan the digest now and deliver it (or leave it to a running daemon).
    Send {
        #[arg(long)]
        digest: String,
        /// Plan and show, queue nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Args)]
pub struct DeliveriesArgs {
    #[command(subcommand)]
    pub command: Option<DeliveriesCommand>,
    /// Only failed deliveries.
    #[arg(long)]
    pub failed: bool,
    /// How many to show.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
}

#[derive(Debug, Subcommand)]
pub enum DeliveriesCommand {
    /// Queue the failed deliveries again.
    Retry {
        /// Required: only failed deliveries are ever retried.
        #[arg(long)]
        failed: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Human,
    Json,
}
