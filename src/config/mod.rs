//! Configuration: a TOML file read into raw serde structs (unknown keys refused),
//! then checked once into [`Config`], whose values every other module trusts.
//! Without a file crier runs on embedded defaults: the demo store in `articles/`
//! and the taxonomy in `subscribers/audiences.toml`, relative to the working folder.
//!
//! Each section has a file of its own with its raw and its validated type; a section
//! validates itself and names the file and the key in its error. This module only
//! reads the text, hands each section its part and the [`Origin`] of the file, and
//! orders the sections that read another's validated values (feeds read the site,
//! the admin listener the public one, subscribers the digests). Config reads no
//! store, sends nothing and uses no other crier module but `model` and `cron`.

mod bounces;
mod delivery;
mod digest;
mod email;
mod feeds;
mod http;
mod site;
mod store;
mod subscribers;

use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use bounces::{Bounces, Imap, Mailgun, Postmark, Secret, Sendgrid, Ses, Verp};
pub use delivery::Delivery;
pub use digest::Digest;
pub use email::Email;
pub use feeds::Feeds;
pub use http::{Admin, Http};
pub use site::Site;
pub use store::{DEFAULT_MAX_FILE_BYTES, Database, Security, Store};
pub use subscribers::Subscribers;

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
    pub bounces: Bounces,
    /// The digest schedules; a subscriber's frequency names one.
    pub digests: Vec<Digest>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawConfig {
    site: site::RawSite,
    store: store::RawStore,
    http: http::RawHttp,
    feeds: feeds::RawFeeds,
    database: store::RawDatabase,
    security: store::RawSecurity,
    admin: http::RawAdmin,
    subscribers: subscribers::RawSubscribers,
    email: email::RawEmail,
    delivery: delivery::RawDelivery,
    bounces: bounces::RawBounces,
    digest: Option<Vec<digest::RawDigest>>,
}

/// Where the text came from: the name errors carry, and the folder that relative
/// paths in it are taken from.
struct Origin {
    name: String,
    base: Option<PathBuf>,
}

impl Origin {
    fn new(source: Option<&Path>) -> Origin {
        Origin {
            name: source.map_or_else(
                || "embedded defaults".to_string(),
                |p| p.display().to_string(),
            ),
            base: source
                .and_then(Path::parent)
                .filter(|p| !p.as_os_str().is_empty())
                .map(Path::to_path_buf),
        }
    }

    fn invalid(&self, key: &'static str, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            path: self.name.clone(),
            key,
            message: message.into(),
        }
    }

    fn resolve(&self, path: PathBuf) -> PathBuf {
        match &self.base {
            Some(base) if path.is_relative() => base.join(path),
            _ => path,
        }
    }

    /// `value` trimmed, or the error that `key` must not be empty.
    fn non_empty(&self, key: &'static str, value: String) -> Result<String, ConfigError> {
        let value = value.trim().to_string();
        if value.is_empty() {
            Err(self.invalid(key, "must not be empty"))
        } else {
            Ok(value)
        }
    }
}

/// Settings given outside the file, which win over it: what a container or a
/// systemd unit passes in its environment (`CRIER_DATABASE_URL`, `CRIER_STATE_DIR`).
#[derive(Clone, Default)]
pub struct Overrides {
    /// Takes the place of `[database] url`.
    pub database_url: Option<String>,
    /// Takes the place of `[database] state_dir`.
    pub state_dir: Option<PathBuf>,
    /// Takes the place of `[database] instance` (`CRIER_INSTANCE`).
    pub instance: Option<String>,
}

impl std::fmt::Debug for Overrides {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold a password.
        f.debug_struct("Overrides")
            .field("database_url", &self.database_url.as_ref().map(|_| "…"))
            .field("state_dir", &self.state_dir)
            .field("instance", &self.instance)
            .finish()
    }
}

impl Config {
    /// The config for this run: the file given, else `./crier.toml` if there is one,
    /// else the embedded defaults.
    pub fn load(explicit: Option<&Path>) -> Result<Config, ConfigError> {
        Config::load_with(explicit, &Overrides::default())
    }

    /// [`Config::load`], with `overrides` (from the command line or the environment)
    /// taking the place of what the file says.
    pub fn load_with(
        explicit: Option<&Path>,
        overrides: &Overrides,
    ) -> Result<Config, ConfigError> {
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
                Config::parse_with(&text, Some(&path), overrides)
            }
            None => Config::parse_with("", None, overrides),
        }
    }

    /// The embedded defaults.
    pub fn defaults() -> Result<Config, ConfigError> {
        Config::parse("", None)
    }

    /// Reads config text. Relative paths in a file are taken from the file's folder.
    pub fn parse(text: &str, source: Option<&Path>) -> Result<Config, ConfigError> {
        Config::parse_with(text, source, &Overrides::default())
    }

    /// [`Config::parse`] with `overrides` applied before the values are checked.
    pub fn parse_with(
        text: &str,
        source: Option<&Path>,
        overrides: &Overrides,
    ) -> Result<Config, ConfigError> {
        let origin = Origin::new(source);
        let mut raw: RawConfig = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            ConfigError::Parse {
                path: match line {
                    Some(line) => format!("{}:{line}", origin.name),
                    None => origin.name.clone(),
                },
                message: e.message().trim().to_string(),
            }
        })?;
        let site = raw.site.validate(&origin)?;
        let http = raw.http.validate(&origin)?;
        let admin = raw.admin.validate(&origin, &http)?;
        let feeds = raw.feeds.validate(&origin, &site)?;
        raw.database.apply(overrides);
        let database = raw.database.validate(&origin)?;
        let security = raw.security.validate(&origin)?;
        let digests = digest::validate(raw.digest, &origin)?;
        let subscribers = raw.subscribers.validate(&origin, &digests)?;
        let email = raw.email.validate(&origin)?;
        let delivery = raw.delivery.validate(&origin)?;
        let bounces = raw.bounces.validate(&origin)?;
        let store = raw.store.validate(&origin)?;
        Ok(Config {
            source: source.map(Path::to_path_buf),
            site,
            store,
            http,
            feeds,
            database,
            security,
            admin,
            subscribers,
            email,
            delivery,
            bounces,
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
    use std::time::Duration;

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
    fn a_claim_lasts_lease_seconds_within_bounds() {
        assert_eq!(Config::defaults().unwrap().delivery.lease_seconds, 300);
        let c = Config::parse("[delivery]\nlease_seconds = 20\n", None).unwrap();
        assert_eq!(c.delivery.lease_seconds, 20);
        for bad in ["5", "100000"] {
            let e = Config::parse(&format!("[delivery]\nlease_seconds = {bad}\n"), None)
                .unwrap_err()
                .to_string();
            assert!(e.contains("delivery.lease_seconds"), "{e}");
        }
    }

    #[test]
    fn the_environment_takes_the_place_of_the_database_keys() {
        let text = "[database]\nurl = \"sqlite://a.db\"\n";
        let overrides = Overrides {
            database_url: Some("postgres://u:pw@db.example/crier".into()),
            state_dir: Some(PathBuf::from("/var/lib/crier/state")),
            instance: Some("web-2".into()),
        };
        let c = Config::parse_with(text, None, &overrides).unwrap();
        assert!(
            matches!(&c.database, Database::Postgres { instance: Some(i), .. } if i == "web-2"),
            "{:?}",
            c.database
        );
        assert!(
            matches!(c.database, Database::Postgres { .. }),
            "{:?}",
            c.database
        );
        assert!(!format!("{overrides:?}").contains("pw"));
        let only_url = Overrides {
            state_dir: None,
            ..overrides
        };
        let e = Config::parse_with(text, None, &only_url)
            .unwrap_err()
            .to_string();
        assert!(e.contains("state_dir") && !e.contains(":pw@"), "{e}");
    }

    #[test]
    fn the_database_is_sqlite_or_postgres_with_a_state_folder() {
        let c = Config::defaults().unwrap();
        assert_eq!(
            c.database.sqlite_path(),
            Some(Path::new("subscribers/crier.db"))
        );
        let c = Config::parse(
            "[database]\nurl = \"postgres://crier:s3cret-pass@db.example.test:5433/crier\"\nstate_dir = \"/var/lib/crier\"\n",
            None,
        )
        .unwrap();
        let Database::Postgres { url, state_dir, .. } = &c.database else {
            panic!("{:?}", c.database);
        };
        assert_eq!(
            url.expose(),
            "postgres://crier:s3cret-pass@db.example.test:5433/crier"
        );
        assert_eq!(state_dir, Path::new("/var/lib/crier"));
        // The password is in neither the Debug form nor the Display form.
        for shown in [format!("{c:?}"), url.to_string()] {
            assert!(!shown.contains("s3cret-pass"), "{shown}");
        }
        assert_eq!(
            url.to_string(),
            "postgres://crier:***@db.example.test:5433/crier"
        );

        let refused = |toml: &str| Config::parse(toml, None).unwrap_err().to_string();
        let err = refused("[database]\nurl = \"postgresql://u:pw1234@h/db\"\n");
        assert!(err.contains("state_dir"), "{err}");
        assert!(!err.contains("pw1234"), "{err}");
        let err = refused("[database]\nurl = \"sqlite://x.db\"\nstate_dir = \"s\"\n");
        assert!(err.contains("PostgreSQL only"), "{err}");
        let err = refused("[database]\nurl = \"sqlite://x.db\"\ninstance = \"a\"\n");
        assert!(
            err.contains("database.instance") && err.contains("PostgreSQL only"),
            "{err}"
        );
        let pg = "[database]\nurl = \"postgres://h/db\"\nstate_dir = \"s\"\n";
        for bad in ["", "web 1", "a/b", &"x".repeat(129)] {
            let err = refused(&format!("{pg}instance = \"{bad}\"\n"));
            assert!(err.contains("database.instance"), "{bad:?}: {err}");
        }
        let err = refused("[database]\nurl = \"mysql://u:pw1234@h/db\"\n");
        assert!(
            err.contains("not supported") && !err.contains("pw1234"),
            "{err}"
        );
        let err =
            refused("[database]\nurl = \"postgres:///db?password=pw1234\"\nstate_dir = \"s\"\n");
        assert!(
            err.contains("names no host") && !err.contains("pw1234"),
            "{err}"
        );
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
    fn the_privacy_policy_is_an_absolute_web_address() {
        let c = Config::parse(
            "[site]\nprivacy_url = \"https://news.example.test/privacy\"\n",
            None,
        )
        .unwrap();
        assert_eq!(
            c.site.privacy_url.map(|u| u.to_string()).as_deref(),
            Some("https://news.example.test/privacy")
        );
        assert_eq!(Config::defaults().unwrap().site.privacy_url, None);
        for bad in ["/privacy", "mailto:dpo@example.org", "not a url"] {
            let e = Config::parse(&format!("[site]\nprivacy_url = \"{bad}\"\n"), None)
                .unwrap_err()
                .to_string();
            assert!(e.contains("`site.privacy_url`"), "{bad}: {e}");
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
        assert_eq!(c.admin.session_idle, Duration::from_secs(30 * 60));
        assert_eq!(c.admin.session_lifetime, Duration::from_secs(12 * 60 * 60));
        let c = Config::parse(
            "[admin]\nsession_idle_minutes = 5\nsession_hours = 2\n",
            None,
        )
        .unwrap();
        assert_eq!(c.admin.session_idle, Duration::from_secs(5 * 60));
        assert_eq!(c.admin.session_lifetime, Duration::from_secs(2 * 60 * 60));
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
            (
                "[admin]\nsession_idle_minutes = 0\n",
                "admin.session_idle_minutes",
            ),
            ("[admin]\nsession_hours = 0\n", "admin.session_hours"),
            ("[admin]\nsession_hours = 100000\n", "admin.session_hours"),
        ] {
            let e = Config::parse(bad, None).unwrap_err().to_string();
            assert!(e.contains(&format!("`{key}`")), "{bad}: {e}");
        }
    }

    #[test]
    fn the_example_file_documents_the_defaults() {
        let example = include_str!("../../deploy/crier.example.toml");
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
