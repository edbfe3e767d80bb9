//! Configuration: a TOML file read into raw serde structs (unknown keys refused),
//! then checked once into [`Config`], whose values every other module trusts.
//! Without a file crier runs on embedded defaults: the demo store in `articles/`
//! and the taxonomy in `subscribers/audiences.toml`, relative to the working folder.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use url::Url;

/// The file crier looks for in the working folder when `--config` is not given.
pub const DEFAULT_FILE: &str = "crier.toml";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the config file {path}: {cause}")]
    Read {
        path: String,
        /// Shown in the message, so not a `source` that `{:#}` would print again.
        cause: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("{path}: `{key}` {message}")]
    Invalid {
        path: String,
        key: &'static str,
        message: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The file the config came from; `None` for the embedded defaults.
    pub source: Option<PathBuf>,
    pub site: Site,
    pub store: Store,
    pub http: Http,
    pub feeds: Feeds,
    pub database: Database,
    pub security: Security,
    pub admin: Admin,
    pub subscribers: Subscribers,
    pub email: Email,
    pub delivery: Delivery,
    /// The digest schedules; a subscriber's frequency names one.
    pub digests: Vec<Digest>,
}

#[derive(Debug, Clone)]
pub struct Digest {
    pub name: String,
    pub cron: crate::cron::CronSchedule,
    /// The subject line; by default one is made from the site title and the name.
    pub subject: Option<String>,
    /// How far back an article's publication may lie to count as news.
    pub lookback: chrono::Duration,
    /// A firing missed (the daemon was down) is still sent this late, not later.
    pub max_lateness: chrono::Duration,
    /// Articles per email; the rest are counted and linked.
    pub max_articles: usize,
}

impl PartialEq for Digest {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
            && self.cron.source == other.cron.source
            && self.subject == other.subject
            && self.lookback == other.lookback
            && self.max_lateness == other.max_lateness
            && self.max_articles == other.max_articles
    }
}

impl Eq for Digest {}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Database {
    /// The SQLite file; its folder also holds the generated secret.
    pub path: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Security {
    /// At least 32 characters; `None` means crier generates one in the data folder.
    pub secret: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admin {
    /// Bearer token for `/api/`; without one the admin API is off. Also guards
    /// `/metrics` on the public listener when no admin listener is set.
    pub token: Option<String>,
    /// A listener of its own for `/metrics` and `/api/`; when set, the public listener
    /// does not serve them.
    pub listen: Option<SocketAddr>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscribers {
    pub default_timezone: String,
    /// A label for the consent wording on the sign-up form, stored with each consent.
    pub consent_version: String,
    /// The frequencies a subscriber can choose: the names of the digest schedules.
    pub frequencies: Vec<String>,
    pub default_frequency: String,
    /// How long a confirmation link works.
    pub confirm_hours: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    /// The From header, `Name <address>`.
    pub from: lettre::message::Mailbox,
    pub reply_to: Option<lettre::message::Mailbox>,
    /// The sender's postal address, shown in every email (CAN-SPAM).
    pub postal_address: String,
    /// DKIM: the selector published under `<selector>._domainkey.<domain>`.
    pub dkim_selector: Option<String>,
    /// DKIM: a PKCS#1 RSA private key (PEM file).
    pub dkim_key: Option<PathBuf>,
}

impl Email {
    /// The domain of the From address: Message-IDs and List-Ids live under it.
    pub fn domain(&self) -> &str {
        self.from.email.domain()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// `smtp://`, `smtps://` URL; when unset, mail goes to the file outbox (or sendmail).
    pub smtp_url: Option<String>,
    /// Certificate authorities (PEM) to trust for the SMTP server's certificate, as
    /// well as the public ones: for a relay with a private CA.
    pub smtp_ca_file: Option<PathBuf>,
    /// A sendmail binary to pipe messages to, instead of SMTP.
    pub sendmail: Option<PathBuf>,
    /// The folder the file outbox writes `.eml` files to.
    pub outbox: PathBuf,
    /// Simultaneous SMTP connections.
    pub concurrency: usize,
    /// Messages per second at most; 0 for no limit.
    pub rate_per_second: f64,
    /// Attempts before a message is given up as failed.
    pub max_attempts: u32,
    /// Age after which a message is no longer retried.
    pub max_age_hours: u32,
    /// On SIGTERM, how long sends in flight may take to finish.
    pub shutdown_timeout_secs: u64,
    /// Days a sent or failed message is kept in the outbox; 0 keeps them for ever.
    pub keep_days: u32,
    /// Send every email to this address instead, naming the intended one in a header.
    pub test_recipient: Option<lettre::Address>,
    /// How a failed delivery's log line names its recipient.
    pub log_addresses: crate::delivery::AddressLog,
}

impl Eq for Delivery {}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    pub title: String,
    /// Absolute http(s) URL that public links are built on; always ends with `/`.
    pub base_url: Url,
    pub description: String,
    pub author: String,
    /// An address for the places that want one (RSS `author`, Atom `email`).
    pub author_email: Option<String>,
    /// A folder whose files override the embedded templates of the same name.
    pub templates: PathBuf,
}

/// `[store] max_file_bytes` when unset: 1 MiB, some hundred times a long article.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 1 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Store {
    /// The article folder.
    pub path: PathBuf,
    /// The audience taxonomy file.
    pub audiences: PathBuf,
    /// Larger article files are reported and skipped.
    pub max_file_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Http {
    pub listen: SocketAddr,
    /// Sign-ups accepted per client address per minute.
    pub subscribe_per_minute: u32,
    /// The reverse proxies whose `X-Forwarded-For` hops are believed; empty: none.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// From a connection's start, or from the first byte of a later request, until
    /// the request's headers are complete.
    pub header_read_timeout: Duration,
    /// How long a connection may sit between requests, or between two writes of an
    /// answer the client reads slowly.
    pub keep_alive_timeout: Duration,
    /// From complete headers to the answer, the request body's reading included.
    pub request_timeout: Duration,
    /// Open connections at most, over all listening threads.
    pub max_connections: usize,
    /// On SIGTERM, how long requests in progress may take before their connections
    /// are closed.
    pub shutdown_timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feeds {
    /// Entries per feed, newest first.
    pub limit: usize,
    /// The authority of `tag:` ids: by default the host of `site.base_url`.
    pub id_authority: String,
    /// The date in `tag:` ids of feeds (`YYYY-MM-DD`); entries use their own date.
    pub id_date: String,
    /// `Cache-Control: max-age` for feeds and pages, in seconds.
    pub max_age: u32,
    /// A WebSub hub to advertise and to notify when a feed changes.
    pub websub_hub: Option<Url>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawConfig {
    site: RawSite,
    store: RawStore,
    http: RawHttp,
    feeds: RawFeeds,
    database: RawDatabase,
    security: RawSecurity,
    admin: RawAdmin,
    subscribers: RawSubscribers,
    email: RawEmail,
    delivery: RawDelivery,
    digest: Option<Vec<RawDigest>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDigest {
    name: String,
    cron: String,
    subject: Option<String>,
    lookback_days: Option<u32>,
    #[serde(default = "default_lateness")]
    max_lateness_hours: u32,
    #[serde(default = "default_max_articles")]
    max_articles: usize,
}

fn default_lateness() -> u32 {
    6
}

fn default_max_articles() -> usize {
    20
}

fn default_digests() -> Vec<RawDigest> {
    let digest = |name: &str, cron: &str| RawDigest {
        name: name.into(),
        cron: cron.into(),
        subject: None,
        lookback_days: None,
        max_lateness_hours: default_lateness(),
        max_articles: default_max_articles(),
    };
    vec![digest("daily", "0 7 * * *"), digest("weekly", "0 7 * * 1")]
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawDatabase {
    url: String,
}

impl Default for RawDatabase {
    fn default() -> Self {
        RawDatabase {
            url: "sqlite://subscribers/crier.db".into(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawSecurity {
    secret: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawAdmin {
    token: Option<String>,
    listen: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawSubscribers {
    default_timezone: String,
    consent_version: String,
    default_frequency: Option<String>,
    confirm_hours: u32,
}

impl Default for RawSubscribers {
    fn default() -> Self {
        RawSubscribers {
            default_timezone: "UTC".into(),
            consent_version: "2026-11".into(),
            default_frequency: None,
            confirm_hours: 72,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawEmail {
    from: String,
    reply_to: Option<String>,
    postal_address: String,
    dkim_selector: Option<String>,
    dkim_key: Option<PathBuf>,
}

impl Default for RawEmail {
    fn default() -> Self {
        RawEmail {
            from: "crier demo <digest@crier.example>".into(),
            reply_to: None,
            postal_address: "crier demo desk, 1 Example Street, Exampleton EX1 2MP, United Kingdom"
                .into(),
            dkim_selector: None,
            dkim_key: None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawDelivery {
    smtp_url: Option<String>,
    smtp_ca_file: Option<PathBuf>,
    sendmail: Option<PathBuf>,
    outbox: PathBuf,
    concurrency: usize,
    rate_per_second: f64,
    max_attempts: u32,
    max_age_hours: u32,
    shutdown_timeout_secs: u64,
    keep_days: u32,
    test_recipient: Option<String>,
    log_addresses: crate::delivery::AddressLog,
}

impl Default for RawDelivery {
    fn default() -> Self {
        RawDelivery {
            smtp_url: None,
            smtp_ca_file: None,
            sendmail: None,
            outbox: "outbox".into(),
            concurrency: 8,
            rate_per_second: 0.0,
            max_attempts: 8,
            max_age_hours: 48,
            shutdown_timeout_secs: 30,
            keep_days: 90,
            test_recipient: None,
            log_addresses: crate::delivery::AddressLog::Plain,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawSite {
    title: String,
    base_url: String,
    description: String,
    author: String,
    author_email: Option<String>,
    templates: PathBuf,
}

impl Default for RawSite {
    fn default() -> Self {
        RawSite {
            title: "crier demo".into(),
            base_url: "http://127.0.0.1:8080/".into(),
            description: "Short briefs on AI at work, published by crier.".into(),
            author: "The crier demo desk".into(),
            author_email: None,
            templates: "templates".into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawStore {
    path: PathBuf,
    audiences: PathBuf,
    max_file_bytes: u64,
}

impl Default for RawStore {
    fn default() -> Self {
        RawStore {
            path: "articles".into(),
            audiences: "subscribers/audiences.toml".into(),
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawHttp {
    listen: String,
    subscribe_per_minute: u32,
    trusted_proxies: Vec<String>,
    /// Before `trusted_proxies`: `true` now means a proxy on this machine.
    trust_proxy: bool,
    header_read_timeout_secs: u64,
    keep_alive_timeout_secs: u64,
    request_timeout_secs: u64,
    max_connections: usize,
    shutdown_timeout_secs: u64,
}

impl Default for RawHttp {
    fn default() -> Self {
        RawHttp {
            listen: "127.0.0.1:8080".into(),
            subscribe_per_minute: 5,
            trusted_proxies: Vec::new(),
            trust_proxy: false,
            header_read_timeout_secs: 10,
            keep_alive_timeout_secs: 75,
            request_timeout_secs: 30,
            max_connections: 4096,
            shutdown_timeout_secs: 10,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawFeeds {
    limit: usize,
    id_authority: Option<String>,
    id_date: String,
    max_age: u32,
    websub_hub: Option<String>,
}

impl Default for RawFeeds {
    fn default() -> Self {
        RawFeeds {
            limit: 50,
            id_authority: None,
            id_date: "2026-01-01".into(),
            max_age: 300,
            websub_hub: None,
        }
    }
}

impl Config {
    /// The config for this run: the file given, else `./crier.toml` if there is one,
    /// else the embedded defaults.
    pub fn load(explicit: Option<&Path>) -> Result<Config, ConfigError> {
        let path = match explicit {
            Some(path) => Some(path.to_path_buf()),
            None => Some(PathBuf::from(DEFAULT_FILE)).filter(|p| p.is_file()),
        };
        match path {
            Some(path) => {
                let text = std::fs::read_to_string(&path).map_err(|cause| ConfigError::Read {
                    path: path.display().to_string(),
                    cause,
                })?;
                Config::parse(&text, Some(&path))
            }
            None => Config::defaults(),
        }
    }

    /// The embedded defaults.
    pub fn defaults() -> Result<Config, ConfigError> {
        Config::parse("", None)
    }

    /// Reads config text. Relative paths in a file are taken from the file's folder.
    pub fn parse(text: &str, source: Option<&Path>) -> Result<Config, ConfigError> {
        let name = source.map_or_else(
            || "embedded defaults".to_string(),
            |p| p.display().to_string(),
        );
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            ConfigError::Parse {
                path: match line {
                    Some(line) => format!("{name}:{line}"),
                    None => name.clone(),
                },
                message: e.message().trim().to_string(),
            }
        })?;
        let invalid = |key: &'static str, message: String| ConfigError::Invalid {
            path: name.clone(),
            key,
            message,
        };
        let base = source
            .and_then(Path::parent)
            .filter(|p| !p.as_os_str().is_empty())
            .map(Path::to_path_buf);
        let resolve = |p: PathBuf| match &base {
            Some(base) if p.is_relative() => base.join(p),
            _ => p,
        };

        let mut base_url = Url::parse(raw.site.base_url.trim())
            .map_err(|e| invalid("site.base_url", format!("is not an absolute URL: {e}")))?;
        if !matches!(base_url.scheme(), "http" | "https") || base_url.host_str().is_none() {
            return Err(invalid(
                "site.base_url",
                "must be an http:// or https:// URL with a host".into(),
            ));
        }
        if !base_url.path().ends_with('/') {
            let path = format!("{}/", base_url.path());
            base_url.set_path(&path);
        }
        let non_empty = |key: &'static str, value: String| {
            let value = value.trim().to_string();
            if value.is_empty() {
                Err(invalid(key, "must not be empty".into()))
            } else {
                Ok(value)
            }
        };
        let mut trusted_proxies = raw
            .http
            .trusted_proxies
            .iter()
            .map(|block| {
                let block = block.trim();
                block
                    .parse::<ipnet::IpNet>()
                    .or_else(|_| block.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| {
                        invalid(
                            "http.trusted_proxies",
                            format!("`{block}` is not an address or a CIDR block like 10.0.0.0/8"),
                        )
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if raw.http.trust_proxy {
            // The old switch believed any X-Forwarded-For; the proxy it was meant for
            // runs on the same machine.
            trusted_proxies.extend(
                ["127.0.0.0/8", "::1/128"]
                    .map(|b| b.parse::<ipnet::IpNet>().expect("a valid block")),
            );
        }
        let address = |key: &'static str, value: &str| {
            value.trim().parse::<SocketAddr>().map_err(|_| {
                invalid(
                    key,
                    format!("`{value}` is not an address like 127.0.0.1:8080"),
                )
            })
        };
        let listen = address("http.listen", &raw.http.listen)?;
        let admin_listen = raw
            .admin
            .listen
            .as_deref()
            .map(|a| address("admin.listen", a))
            .transpose()?;
        if admin_listen.is_some_and(|a| a.port() != 0 && a == listen) {
            return Err(invalid(
                "admin.listen",
                "must differ from http.listen".into(),
            ));
        }
        let http = &raw.http;
        for (key, secs) in [
            (
                "http.header_read_timeout_secs",
                http.header_read_timeout_secs,
            ),
            ("http.keep_alive_timeout_secs", http.keep_alive_timeout_secs),
            ("http.request_timeout_secs", http.request_timeout_secs),
        ] {
            // Zero would close every connection at once; "no limit" is not offered,
            // since it is the very gap these limits close.
            if secs == 0 {
                return Err(invalid(key, "must be at least 1".into()));
            }
        }
        if http.max_connections == 0 {
            return Err(invalid("http.max_connections", "must be at least 1".into()));
        }
        let author_email = match raw.site.author_email.map(|e| e.trim().to_string()) {
            Some(email) if email.is_empty() => None,
            Some(email) if !is_email_like(&email) => {
                return Err(invalid(
                    "site.author_email",
                    format!("`{email}` is not an email address"),
                ));
            }
            other => other,
        };
        if raw.feeds.limit == 0 {
            return Err(invalid("feeds.limit", "must be at least 1".into()));
        }
        let id_authority = match raw
            .feeds
            .id_authority
            .map(|a| a.trim().to_ascii_lowercase())
        {
            Some(a)
                if !a.is_empty()
                    && a.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-.@".contains(c)) =>
            {
                a
            }
            Some(a) => {
                return Err(invalid(
                    "feeds.id_authority",
                    format!("`{a}` is not a domain name or email address"),
                ));
            }
            None => base_url
                .host_str()
                .unwrap_or("localhost")
                .to_ascii_lowercase(),
        };
        let id_date = raw.feeds.id_date.trim().to_string();
        let valid_date = chrono::NaiveDate::parse_from_str(&id_date, "%Y-%m-%d").is_ok()
            || (id_date.len() == 4 && id_date.bytes().all(|b| b.is_ascii_digit()));
        if !valid_date {
            return Err(invalid(
                "feeds.id_date",
                format!("`{id_date}` is not a date like 2026-01-01"),
            ));
        }
        let websub_hub = match raw.feeds.websub_hub.map(|h| h.trim().to_string()) {
            Some(h) if h.is_empty() => None,
            Some(h) => {
                let url = Url::parse(&h)
                    .map_err(|e| invalid("feeds.websub_hub", format!("is not a URL: {e}")))?;
                if !matches!(url.scheme(), "http" | "https") {
                    return Err(invalid(
                        "feeds.websub_hub",
                        "must be an http:// or https:// URL".into(),
                    ));
                }
                Some(url)
            }
            None => None,
        };
        let database = {
            let url = raw.database.url.trim();
            let path = url
                .strip_prefix("sqlite://")
                .or_else(|| url.strip_prefix("sqlite:"))
                .ok_or_else(|| {
                    invalid("database.url", format!("`{url}` is not supported: crier stores its data in SQLite (`sqlite://path/to/crier.db`)"))
                })?;
            let path = path.split('?').next().unwrap_or(path);
            if path.is_empty() || path == ":memory:" {
                return Err(invalid("database.url", "must name a database file".into()));
            }
            Database {
                path: resolve(PathBuf::from(path)),
            }
        };
        let secret = raw.security.secret.filter(|s| !s.is_empty());
        if let Some(secret) = &secret
            && secret.chars().count() < 32
        {
            return Err(invalid(
                "security.secret",
                "must be at least 32 characters long".into(),
            ));
        }
        let token = raw
            .admin
            .token
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty());
        if let Some(token) = &token
            && token.len() < 16
        {
            return Err(invalid(
                "admin.token",
                "must be at least 16 characters long".into(),
            ));
        }
        let subs = raw.subscribers;
        if subs.default_timezone.parse::<chrono_tz::Tz>().is_err() {
            return Err(invalid(
                "subscribers.default_timezone",
                format!(
                    "`{}` is not an IANA time zone like Europe/London",
                    subs.default_timezone
                ),
            ));
        }
        let mut digests = Vec::new();
        for raw in raw.digest.unwrap_or_else(default_digests) {
            let name = raw.name.trim().to_string();
            if !crate::model::is_slug(&name) {
                return Err(invalid(
                    "digest.name",
                    format!("`{name}` should be a short lowercase name like `weekly`"),
                ));
            }
            if digests.iter().any(|d: &Digest| d.name == name) {
                return Err(invalid(
                    "digest.name",
                    format!("`{name}` is used by two digests"),
                ));
            }
            let cron = crate::cron::CronSchedule::parse(&raw.cron)
                .map_err(|e| invalid("digest.cron", format!("of `{name}`: {e}")))?;
            if raw.max_articles == 0 {
                return Err(invalid(
                    "digest.max_articles",
                    format!("of `{name}` must be at least 1"),
                ));
            }
            let lookback_days = raw
                .lookback_days
                .unwrap_or(if name == "daily" { 1 } else { 7 });
            digests.push(Digest {
                name,
                cron,
                subject: raw
                    .subject
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty()),
                lookback: chrono::Duration::days(i64::from(lookback_days.max(1))),
                max_lateness: chrono::Duration::hours(i64::from(raw.max_lateness_hours)),
                max_articles: raw.max_articles,
            });
        }
        if digests.is_empty() {
            return Err(invalid(
                "digest",
                "needs at least one [[digest]] table".into(),
            ));
        }
        let frequencies: Vec<String> = digests.iter().map(|d| d.name.clone()).collect();
        let default_frequency = subs.default_frequency.unwrap_or_else(|| {
            frequencies
                .iter()
                .find(|f| *f == "weekly")
                .unwrap_or(&frequencies[0])
                .clone()
        });
        if !frequencies.contains(&default_frequency) {
            return Err(invalid(
                "subscribers.default_frequency",
                format!("`{default_frequency}` is not one of the frequencies"),
            ));
        }
        if subs.confirm_hours == 0 {
            return Err(invalid(
                "subscribers.confirm_hours",
                "must be at least 1".into(),
            ));
        }
        let mailbox =
            |key: &'static str, value: &str| -> Result<lettre::message::Mailbox, ConfigError> {
                value.trim().parse().map_err(|e| {
                    invalid(
                        key,
                        format!("`{value}` is not an address like `Name <news@example.org>` ({e})"),
                    )
                })
            };
        let email = Email {
            from: mailbox("email.from", &raw.email.from)?,
            reply_to: raw
                .email
                .reply_to
                .as_deref()
                .map(|r| mailbox("email.reply_to", r))
                .transpose()?,
            postal_address: non_empty("email.postal_address", raw.email.postal_address)?,
            dkim_selector: raw
                .email
                .dkim_selector
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty()),
            dkim_key: raw.email.dkim_key.map(&resolve),
        };
        let d = raw.delivery;
        if d.concurrency == 0 || d.concurrency > 256 {
            return Err(invalid(
                "delivery.concurrency",
                "must be between 1 and 256".into(),
            ));
        }
        if !(d.rate_per_second >= 0.0 && d.rate_per_second.is_finite()) {
            return Err(invalid(
                "delivery.rate_per_second",
                "must be 0 (no limit) or more".into(),
            ));
        }
        if d.max_attempts == 0 {
            return Err(invalid(
                "delivery.max_attempts",
                "must be at least 1".into(),
            ));
        }
        let smtp_url = d
            .smtp_url
            .map(|u| u.trim().to_string())
            .filter(|u| !u.is_empty());
        if let Some(url) = &smtp_url {
            let parsed = Url::parse(url)
                .map_err(|e| invalid("delivery.smtp_url", format!("is not a URL: {e}")))?;
            if !matches!(parsed.scheme(), "smtp" | "smtps") || parsed.host_str().is_none() {
                return Err(invalid(
                    "delivery.smtp_url",
                    "must look like smtp://host:port or smtps://host:port".into(),
                ));
            }
        }
        let test_recipient = d
            .test_recipient
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .map(|t| {
                t.parse::<lettre::Address>().map_err(|e| {
                    invalid(
                        "delivery.test_recipient",
                        format!("`{t}` is not an email address ({e})"),
                    )
                })
            })
            .transpose()?;
        let delivery = Delivery {
            smtp_url,
            smtp_ca_file: d.smtp_ca_file.map(resolve),
            sendmail: d.sendmail.map(resolve),
            outbox: resolve(d.outbox),
            concurrency: d.concurrency,
            rate_per_second: d.rate_per_second,
            max_attempts: d.max_attempts,
            max_age_hours: d.max_age_hours,
            shutdown_timeout_secs: d.shutdown_timeout_secs,
            keep_days: d.keep_days,
            test_recipient,
            log_addresses: d.log_addresses,
        };
        Ok(Config {
            source: source.map(Path::to_path_buf),
            site: Site {
                title: non_empty("site.title", raw.site.title)?,
                base_url,
                description: raw.site.description.trim().to_string(),
                author: non_empty("site.author", raw.site.author)?,
                author_email,
                templates: resolve(raw.site.templates),
            },
            store: Store {
                path: resolve(raw.store.path),
                audiences: resolve(raw.store.audiences),
                max_file_bytes: match raw.store.max_file_bytes {
                    0 => return Err(invalid("store.max_file_bytes", "must be at least 1".into())),
                    n => n,
                },
            },
            http: Http {
                listen,
                subscribe_per_minute: raw.http.subscribe_per_minute,
                trusted_proxies,
                header_read_timeout: Duration::from_secs(raw.http.header_read_timeout_secs),
                keep_alive_timeout: Duration::from_secs(raw.http.keep_alive_timeout_secs),
                request_timeout: Duration::from_secs(raw.http.request_timeout_secs),
                max_connections: raw.http.max_connections,
                shutdown_timeout: Duration::from_secs(raw.http.shutdown_timeout_secs),
            },
            feeds: Feeds {
                limit: raw.feeds.limit,
                id_authority,
                id_date,
                max_age: raw.feeds.max_age,
                websub_hub,
            },
            database,
            security: Security { secret },
            admin: Admin {
                token,
                listen: admin_listen,
            },
            subscribers: Subscribers {
                default_timezone: subs.default_timezone,
                consent_version: subs.consent_version,
                frequencies,
                default_frequency,
                confirm_hours: subs.confirm_hours,
            },
            email,
            delivery,
            digests,
        })
    }
}

/// A light check for configured addresses: something@a.domain, no spaces or brackets.
pub fn is_email_like(s: &str) -> bool {
    s.split_once('@').is_some_and(|(user, host)| {
        !user.is_empty()
            && host.contains('.')
            && !host.starts_with('.')
            && !host.ends_with('.')
            && !s
                .chars()
                .any(|c| c.is_whitespace() || "<>()[],;:\\\"".contains(c))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_point_at_the_demo_store() {
        let c = Config::defaults().unwrap();
        assert_eq!(c.store.path, PathBuf::from("articles"));
        assert_eq!(
            c.store.audiences,
            PathBuf::from("subscribers/audiences.toml")
        );
        assert_eq!(c.http.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.site.base_url.as_str(), "http://127.0.0.1:8080/");
        assert_eq!(c.source, None);
        assert_eq!(c.feeds.limit, 50);
        assert_eq!(c.feeds.id_authority, "127.0.0.1");
        assert_eq!(c.feeds.websub_hub, None);
    }

    #[test]
    fn feed_settings() {
        let c = Config::parse(
            "[site]\nbase_url = \"https://News.Example.test/\"\nauthor_email = \"desk@news.example.test\"\n\
             [feeds]\nlimit = 5\nwebsub_hub = \"http://127.0.0.1:9/hub\"\n",
            None,
        )
        .unwrap();
        assert_eq!(c.feeds.id_authority, "news.example.test");
        assert_eq!(c.feeds.limit, 5);
        assert_eq!(
            c.site.author_email.as_deref(),
            Some("desk@news.example.test")
        );
        assert_eq!(
            c.feeds.websub_hub.unwrap().as_str(),
            "http://127.0.0.1:9/hub"
        );
        for bad in [
            "[feeds]\nlimit = 0\n",
            "[store]\nmax_file_bytes = 0\n",
            "[feeds]\nid_date = \"yesterday\"\n",
            "[feeds]\nwebsub_hub = \"ftp://x\"\n",
            "[site]\nauthor_email = \"not an address\"\n",
        ] {
            assert!(Config::parse(bad, None).is_err(), "{bad}");
        }
    }

    #[test]
    fn edge_limits_and_the_admin_listener() {
        let c = Config::parse(
            "[http]\nheader_read_timeout_secs = 3\nmax_connections = 7\n\
             [admin]\nlisten = \"127.0.0.1:9180\"\n",
            None,
        )
        .unwrap();
        assert_eq!(c.http.header_read_timeout, Duration::from_secs(3));
        assert_eq!(c.http.keep_alive_timeout, Duration::from_secs(75));
        assert_eq!(c.http.max_connections, 7);
        assert_eq!(c.admin.listen.unwrap().to_string(), "127.0.0.1:9180");
        for (bad, key) in [
            (
                "[http]\nheader_read_timeout_secs = 0\n",
                "http.header_read_timeout_secs",
            ),
            (
                "[http]\nrequest_timeout_secs = 0\n",
                "http.request_timeout_secs",
            ),
            ("[http]\nmax_connections = 0\n", "http.max_connections"),
            ("[admin]\nlisten = \"nowhere\"\n", "admin.listen"),
            ("[admin]\nlisten = \"127.0.0.1:8080\"\n", "admin.listen"),
        ] {
            let e = Config::parse(bad, None).unwrap_err().to_string();
            assert!(e.contains(&format!("`{key}`")), "{bad}: {e}");
        }
    }

    #[test]
    fn the_example_file_documents_the_defaults() {
        let example = include_str!("../deploy/crier.example.toml");
        assert_eq!(
            Config::parse(example, None).unwrap(),
            Config::defaults().unwrap()
        );
    }

    #[test]
    fn file_values_and_relative_paths() {
        let c = Config::parse(
            "[site]\ntitle = \"News\"\nbase_url = \"https://news.example.test/briefs\"\n\
             [store]\npath = \"store\"\naudiences = \"/etc/crier/aud.toml\"\n[http]\nlisten = \"[::1]:9000\"\n",
            Some(Path::new("/srv/crier/crier.toml")),
        )
        .unwrap();
        assert_eq!(c.site.title, "News");
        assert_eq!(
            c.site.base_url.as_str(),
            "https://news.example.test/briefs/"
        );
        assert_eq!(c.site.author, "The crier demo desk");
        assert_eq!(c.store.path, PathBuf::from("/srv/crier/store"));
        assert_eq!(c.store.audiences, PathBuf::from("/etc/crier/aud.toml"));
        assert_eq!(c.http.listen.to_string(), "[::1]:9000");
    }

    #[test]
    fn unknown_keys_are_named() {
        let e = Config::parse(
            "[site]\ntitle = \"x\"\ntitel = \"y\"\n",
            Some(Path::new("c.toml")),
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("c.toml:3: unknown field `titel`"), "{e}");
        let e = Config::parse("[sitee]\n", None).unwrap_err().to_string();
        assert!(e.contains("unknown field `sitee`"), "{e}");
    }

    #[test]
    fn bad_values_are_named() {
        let e = Config::parse("[site]\nbase_url = \"/relative\"\n", None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("`site.base_url` is not an absolute URL"), "{e}");
        let e = Config::parse("[site]\nbase_url = \"ftp://x.test/\"\n", None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("`site.base_url` must be an http"), "{e}");
        let e = Config::parse("[http]\nlisten = \"localhost\"\n", None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("`http.listen`"), "{e}");
        let e = Config::parse("[site]\ntitle = \" \"\n", None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("`site.title` must not be empty"), "{e}");
    }
}
