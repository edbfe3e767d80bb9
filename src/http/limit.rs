//! Who the client is, and how often it may sign up.
//!
//! The client is the socket peer, or, when the peer is a trusted proxy, the
//! rightmost `X-Forwarded-For` hop that is not a trusted proxy: proxies append, so
//! every hop left of the first untrusted one may have been written by the client.
//!
//! The sign-up limit is governor's GCRA per client key: an IPv4 address, or an IPv6
//! /64 (one subscriber line hands out a whole /64, so its addresses are one client).
//! The table of keys is sharded, so HTTP threads do not queue on one lock, and it is
//! bounded: past `MAX_KEYS` recent clients, the new ones share one bucket.
//!
//! Several instances on one database share their counts instead ([`SharedCounts`]):
//! fixed windows in the database, one upsert per request that raises the window's
//! count and reads it back, keyed by a keyed hash of the client (never its address).
//! A fixed window lets a client spend a window's quota at its end and the next one's
//! at its start: up to twice the limit in a short burst, never more per window.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use std::sync::Arc;

use axum::http::HeaderMap;
use chrono::TimeZone;
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota};
use ipnet::IpNet;

use crate::clock::Clock;
use crate::store::Store;
use crate::tokens::Signer;

/// Clients remembered at most; about 100 bytes each.
const MAX_KEYS: usize = 100_000;

pub struct RateLimiter {
    /// The counts every instance shares, when several do; the buckets below are
    /// then unused.
    shared: Option<(SharedCounts, u32)>,
    clients: DefaultKeyedRateLimiter<IpAddr>,
    /// For clients that find the table full of recent ones.
    overflow: DefaultDirectRateLimiter,
    max_keys: usize,
    /// When the table was last swept of clients whose buckets are full again.
    swept: Mutex<Instant>,
}

impl RateLimiter {
    /// At most `limit` sign-ups a minute per client, in a burst or spread out.
    pub fn per_minute(limit: u32) -> RateLimiter {
        RateLimiter::bounded(limit, MAX_KEYS)
    }

    fn bounded(limit: u32, max_keys: usize) -> RateLimiter {
        let quota = Quota::per_minute(NonZeroU32::new(limit.max(1)).unwrap_or(NonZeroU32::MIN));
        RateLimiter {
            shared: None,
            clients: governor::RateLimiter::keyed(quota),
            overflow: governor::RateLimiter::direct(quota),
            max_keys,
            swept: Mutex::new(Instant::now()),
        }
    }

    /// At most `limit` sign-ups per client in each minute, counted in the database
    /// for every instance that shares it.
    pub fn shared_per_minute(counts: SharedCounts, limit: u32) -> RateLimiter {
        RateLimiter {
            shared: Some((counts, limit.max(1))),
            ..RateLimiter::per_minute(limit)
        }
    }

    /// Counts a request from `ip`; false when its client has used up its quota.
    pub async fn allow(&self, ip: IpAddr) -> bool {
        let key = client_key(ip);
        if let Some((counts, limit)) = &self.shared {
            return counts
                .allow("sign-up", &key.to_string(), *limit, SIGN_UP_WINDOW)
                .await;
        }
        if self.clients.len() >= self.max_keys {
            self.sweep();
            if self.clients.len() >= self.max_keys {
                return self.overflow.check().is_ok();
            }
        }
        self.clients.check_key(&key).is_ok()
    }

    /// Forgets the clients whose buckets are full again, at most once a second (a
    /// sweep reads the whole table).
    fn sweep(&self) {
        let mut swept = self.swept.lock().unwrap_or_else(|e| e.into_inner());
        if swept.elapsed() < Duration::from_secs(1) {
            return;
        }
        *swept = Instant::now();
        self.clients.retain_recent();
        self.clients.shrink_to_fit();
    }
}

/// The window the shared sign-up limit counts in, in seconds.
const SIGN_UP_WINDOW: i64 = 60;

/// Request counts kept in the database, so that every instance on it counts the same
/// requests: fixed windows, each a row per kind and client, raised and read in one
/// statement.
#[derive(Clone)]
pub struct SharedCounts {
    store: Store,
    /// Keys the hash that stands for a client in the table.
    signer: Signer,
    clock: Arc<dyn Clock>,
}

impl SharedCounts {
    pub fn new(store: Store, signer: Signer, clock: Arc<dyn Clock>) -> SharedCounts {
        SharedCounts {
            store,
            signer,
            clock,
        }
    }

    /// Counts a `kind` of request (`sign-up`, `login-client` …) by `client` in the
    /// current window of `window_secs`; false when the window's count passes
    /// `limit`. A database that cannot count lets the request through, and says so
    /// in the log: the request needs the database anyway and fails on its own.
    pub(crate) async fn allow(
        &self,
        kind: &str,
        client: &str,
        limit: u32,
        window_secs: i64,
    ) -> bool {
        let now = self.clock.now().timestamp();
        let start = now - now.rem_euclid(window_secs.max(1));
        let start = chrono::Utc
            .timestamp_opt(start, 0)
            .single()
            .unwrap_or_default();
        let key = format!(
            "{kind}:{}",
            self.signer.rate_key(&format!("{kind}:{client}"))
        );
        match self.store.hit(&key, start).await {
            Ok(count) => count <= i64::from(limit),
            Err(e) => {
                tracing::warn!(
                    kind,
                    "cannot count the request in the database; let through: {e}"
                );
                true
            }
        }
    }
}

/// The key a client is limited by: an IPv4 address (IPv4-mapped IPv6 included), or
/// the /64 an IPv6 address belongs to.
pub(crate) fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & (u128::MAX << 64);
                IpAddr::V6(Ipv6Addr::from(prefix))
            }
        },
        v4 => v4,
    }
}

/// The client's address (see the module's doc). `None` without a peer address.
pub fn client_ip(
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
    trusted: &[IpNet],
) -> Option<IpAddr> {
    let peer = unmapped(peer?.ip());
    let is_trusted = |ip: IpAddr| trusted.iter().any(|block| block.contains(&ip));
    if !is_trusted(peer) {
        return Some(peer);
    }
    // Every X-Forwarded-For header, in order, as one list of hops.
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        // A hop that is not an address ends the walk: nothing left of it is believed.
        let Some(ip) = parse_hop(hop) else {
            break;
        };
        client = ip;
        if !is_trusted(ip) {
            break;
        }
    }
    Some(client)
}

/// An `X-Forwarded-For` entry: an address, possibly with a port (`[::1]:80`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .or_else(|_| hop.parse::<SocketAddr>().map(|s| s.ip()))
        .ok()
        .map(unmapped)
}

fn unmapped(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[tokio::test]
    async fn each_client_has_its_own_quota() {
        let limiter = RateLimiter::per_minute(2);
        assert!(limiter.allow(ip("192.0.2.1")).await);
        assert!(limiter.allow(ip("192.0.2.1")).await);
        assert!(!limiter.allow(ip("192.0.2.1")).await);
        assert!(limiter.allow(ip("192.0.2.2")).await);
    }

    #[tokio::test]
    async fn an_ipv6_client_is_its_slash_64() {
        let limiter = RateLimiter::per_minute(2);
        assert!(limiter.allow(ip("2001:db8:1:2::1")).await);
        assert!(limiter.allow(ip("2001:db8:1:2:ffff::9")).await);
        assert!(!limiter.allow(ip("2001:db8:1:2:abcd::1")).await, "same /64");
        assert!(limiter.allow(ip("2001:db8:1:3::1")).await, "another /64");
        assert_eq!(client_key(ip("::ffff:192.0.2.7")), ip("192.0.2.7"));
    }

    #[tokio::test]
    async fn a_full_table_sends_new_clients_to_one_shared_bucket() {
        let limiter = RateLimiter::bounded(1, 3);
        for n in 1..=3 {
            assert!(limiter.allow(ip(&format!("192.0.2.{n}"))).await);
        }
        // Three recent clients fill the table; new ones share one bucket of 1.
        assert!(limiter.allow(ip("198.51.100.1")).await);
        assert!(!limiter.allow(ip("198.51.100.2")).await);
        assert_eq!(limiter.clients.len(), 3, "the table does not grow");
    }

    #[test]
    fn only_hops_from_trusted_proxies_are_believed() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let with = |xff: &[&str]| {
            let mut headers = HeaderMap::new();
            for value in xff {
                headers.append("x-forwarded-for", value.parse().unwrap());
            }
            headers
        };
        let proxy: SocketAddr = "10.0.0.5:4000".parse().unwrap();
        let stranger: SocketAddr = "203.0.113.9:4000".parse().unwrap();
        // A client that writes its own X-Forwarded-For: the proxy appends the real one.
        let spoofed = with(&["1.2.3.4, 198.51.100.7"]);
        assert_eq!(
            client_ip(&spoofed, Some(proxy), &trusted),
            Some(ip("198.51.100.7"))
        );
        // Straight from the internet, the header means nothing.
        assert_eq!(
            client_ip(&spoofed, Some(stranger), &trusted),
            Some(ip("203.0.113.9"))
        );
        // Two proxies in a row, and the header split over two lines.
        let chain = with(&["198.51.100.7", "10.1.1.1"]);
        assert_eq!(
            client_ip(&chain, Some(proxy), &trusted),
            Some(ip("198.51.100.7"))
        );
        // Garbage ends the walk at the last hop believed.
        let garbage = with(&["1.2.3.4, not-an-ip, 10.1.1.1"]);
        assert_eq!(
            client_ip(&garbage, Some(proxy), &trusted),
            Some(ip("10.1.1.1"))
        );
        // No trusted proxies: the peer, whatever the header says.
        assert_eq!(client_ip(&spoofed, Some(proxy), &[]), Some(ip("10.0.0.5")));
        assert_eq!(client_ip(&spoofed, None, &trusted), None);
        let ported = with(&["[2001:db8::1]:443"]);
        assert_eq!(
            client_ip(&ported, Some(proxy), &trusted),
            Some(ip("2001:db8::1"))
        );
    }
}
