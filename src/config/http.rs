//! `[http]` and `[admin]`: the listeners, the limits of the HTTP edge and who may
//! reach the admin API. The two sections sit together because the admin listener
//! must not take the public one's address.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

use super::{ConfigError, Origin};

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
pub struct Admin {
    /// Bearer token for `/api/`; without one the admin API is off. Also guards
    /// `/metrics` on the public listener when no admin listener is set.
    pub token: Option<String>,
    /// A listener of its own for `/metrics` and `/api/`; when set, the public listener
    /// does not serve them.
    pub listen: Option<SocketAddr>,
    /// A console session unused this long has ended.
    pub session_idle: Duration,
    /// A console session ends this long after its login, used or not.
    pub session_lifetime: Duration,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawHttp {
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
pub(super) struct RawAdmin {
    token: Option<String>,
    listen: Option<String>,
    session_idle_minutes: u64,
    session_hours: u64,
}

impl Default for RawAdmin {
    fn default() -> Self {
        RawAdmin {
            token: None,
            listen: None,
            session_idle_minutes: 30,
            session_hours: 12,
        }
    }
}

fn address(origin: &Origin, key: &'static str, value: &str) -> Result<SocketAddr, ConfigError> {
    value.trim().parse::<SocketAddr>().map_err(|_| {
        origin.invalid(
            key,
            format!("`{value}` is not an address like 127.0.0.1:8080"),
        )
    })
}

impl RawHttp {
    pub(super) fn validate(self, origin: &Origin) -> Result<Http, ConfigError> {
        let mut trusted_proxies = self
            .trusted_proxies
            .iter()
            .map(|block| {
                let block = block.trim();
                block
                    .parse::<ipnet::IpNet>()
                    .or_else(|_| block.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| {
                        origin.invalid(
                            "http.trusted_proxies",
                            format!("`{block}` is not an address or a CIDR block like 10.0.0.0/8"),
                        )
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if self.trust_proxy {
            // The old switch believed any X-Forwarded-For; the proxy it was meant for
            // runs on the same machine.
            trusted_proxies.extend(
                ["127.0.0.0/8", "::1/128"]
                    .map(|b| b.parse::<ipnet::IpNet>().expect("a valid block")),
            );
        }
        let listen = address(origin, "http.listen", &self.listen)?;
        for (key, secs) in [
            (
                "http.header_read_timeout_secs",
                self.header_read_timeout_secs,
            ),
            ("http.keep_alive_timeout_secs", self.keep_alive_timeout_secs),
            ("http.request_timeout_secs", self.request_timeout_secs),
        ] {
            // Zero would close every connection at once; "no limit" is not offered,
            // since it is the very gap these limits close.
            if secs == 0 {
                return Err(origin.invalid(key, "must be at least 1"));
            }
        }
        if self.max_connections == 0 {
            return Err(origin.invalid("http.max_connections", "must be at least 1"));
        }
        Ok(Http {
            listen,
            subscribe_per_minute: self.subscribe_per_minute,
            trusted_proxies,
            header_read_timeout: Duration::from_secs(self.header_read_timeout_secs),
            keep_alive_timeout: Duration::from_secs(self.keep_alive_timeout_secs),
            request_timeout: Duration::from_secs(self.request_timeout_secs),
            max_connections: self.max_connections,
            shutdown_timeout: Duration::from_secs(self.shutdown_timeout_secs),
        })
    }
}

impl RawAdmin {
    pub(super) fn validate(self, origin: &Origin, http: &Http) -> Result<Admin, ConfigError> {
        let listen = self
            .listen
            .as_deref()
            .map(|a| address(origin, "admin.listen", a))
            .transpose()?;
        // Port 0 asks the system for a free port, so two of them never clash.
        if listen.is_some_and(|a| a.port() != 0 && a == http.listen) {
            return Err(origin.invalid("admin.listen", "must differ from http.listen"));
        }
        let token = self
            .token
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty());
        if token.as_ref().is_some_and(|t| t.len() < 16) {
            return Err(origin.invalid("admin.token", "must be at least 16 characters long"));
        }
        if self.session_idle_minutes == 0 {
            return Err(origin.invalid("admin.session_idle_minutes", "must be at least 1"));
        }
        if self.session_hours == 0 {
            return Err(origin.invalid("admin.session_hours", "must be at least 1"));
        }
        // Past a year a session is as good as forever; a cap also keeps the arithmetic
        // on times far from overflowing.
        if self.session_hours > 24 * 366 || self.session_idle_minutes > 60 * 24 * 366 {
            return Err(origin.invalid(
                "admin.session_hours",
                "sessions may last a year at most (session_hours, session_idle_minutes)",
            ));
        }
        Ok(Admin {
            token,
            listen,
            session_idle: Duration::from_secs(self.session_idle_minutes * 60),
            session_lifetime: Duration::from_secs(self.session_hours * 60 * 60),
        })
    }
}
