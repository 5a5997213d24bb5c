//! Rate limits (design §5) and the listener's limits (header-read timeout, connection cap).
//!
//! Two classes of routes are limited, each by keyed GCRA limiters from `governor`:
//!
//! - the API (`/api/…`): per API key (the SHA-256 of the presented `x-api-key`, never the key),
//!   per client IP, and failed API-key attempts per client IP (401s to requests that presented a
//!   key): once an IP has spent that quota, its next requests are answered 429 before any key is
//!   looked at;
//! - the end user's pages (`/link/…`, including Continue and any form post under it, and
//!   `/oauth/…`): per client IP and, under `/link/{token}`, per link (the SHA-256 of the token).
//!
//! Every response of a limited route carries `RateLimit-Policy` and `RateLimit`
//! (draft-ietf-httpapi-ratelimit-headers-10/-11 syntax: `"api-key";q=6000;w=60` and
//! `"api-key";r=5999;t=1`); a 429 adds `Retry-After`. The API answers 429 in the contract's
//! envelope (`RateLimit_Exceeded`, code 429), the pages with an HTML page.
//!
//! The client IP is the TCP peer address ([`ConnectInfo`]); an IPv6 client counts as its /64.
//! No forwarding header is trusted: behind a reverse proxy every client shares the proxy's
//! address, so raise or switch off the per-IP limits there. A request without `ConnectInfo`
//! (the router driven in-process) skips the per-IP limits. Limits are per process.

use std::{
    collections::HashMap,
    hash::Hash,
    net::{IpAddr, Ipv6Addr, SocketAddr},
    num::NonZeroU32,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    extract::{ConnectInfo, Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use governor::{
    Quota, RateLimiter,
    clock::{Clock, DefaultClock},
    middleware::StateInformationMiddleware,
    state::keyed::DefaultKeyedStateStore,
};
use sha2::{Digest, Sha256};

use crate::{AppState, config::ServeArgs, error::ApiError};

/// Default API requests per minute per API key: 100/s sustained, a minute's worth in a burst.
pub const DEFAULT_API_PER_KEY: u32 = 6_000;
/// Default API requests per minute per client IP (an app server may hold several keys).
pub const DEFAULT_API_PER_IP: u32 = 12_000;
/// Default page requests (link page, Continue, callback) per minute per client IP.
pub const DEFAULT_PAGES_PER_IP: u32 = 600;
/// Default page requests per minute per link token.
pub const DEFAULT_PAGES_PER_LINK: u32 = 60;
/// Default failed API-key attempts (401s) per minute per client IP.
pub const DEFAULT_FAILED_AUTH_PER_IP: u32 = 30;
/// Default time a client has to send a request's headers, also the longest idle keep-alive.
pub const DEFAULT_HEADER_READ_TIMEOUT_SECS: u64 = 10;
/// Default longest shutdown drain, in seconds.
pub const DEFAULT_DRAIN_SECS: u64 = 10;
/// Default largest number of open client connections.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 1_024;

/// Every quota is per minute.
const WINDOW: Duration = Duration::from_secs(60);
/// How often idle limiter entries are dropped.
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(60);

/// The rate limits, in requests per minute; 0 switches one off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitSettings {
    pub api_per_key: u32,
    pub api_per_ip: u32,
    pub pages_per_ip: u32,
    pub pages_per_link: u32,
    pub failed_auth_per_ip: u32,
}

impl RateLimitSettings {
    /// No rate limit at all.
    pub const OFF: Self =
        Self { api_per_key: 0, api_per_ip: 0, pages_per_ip: 0, pages_per_link: 0, failed_auth_per_ip: 0 };
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            api_per_key: DEFAULT_API_PER_KEY,
            api_per_ip: DEFAULT_API_PER_IP,
            pages_per_ip: DEFAULT_PAGES_PER_IP,
            pages_per_link: DEFAULT_PAGES_PER_LINK,
            failed_auth_per_ip: DEFAULT_FAILED_AUTH_PER_IP,
        }
    }
}

/// What the listener of [`crate::serve`] enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerSettings {
    /// A connection that has not sent a request's complete headers this long after it opened,
    /// or after its previous response (idle keep-alive), is closed.
    pub header_read_timeout: Duration,
    /// Connections beyond this many wait in the listen backlog until one closes.
    pub max_connections: usize,
    /// On shutdown, the longest time open connections get to finish (see [`crate::serve`]).
    pub drain_timeout: Duration,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(DEFAULT_HEADER_READ_TIMEOUT_SECS),
            max_connections: DEFAULT_MAX_CONNECTIONS as usize,
            drain_timeout: Duration::from_secs(DEFAULT_DRAIN_SECS),
        }
    }
}

type Keyed<K> = RateLimiter<K, DefaultKeyedStateStore<K>, DefaultClock, StateInformationMiddleware>;

/// One named quota and its limiter.
struct Policy<K: Hash + Eq + Clone> {
    name: &'static str,
    quota: u32,
    limiter: Keyed<K>,
}

/// The state of one policy for one request: an item of the `RateLimit` field.
#[derive(Debug, Clone, Copy)]
struct Item {
    name: &'static str,
    quota: u32,
    remaining: u32,
    /// Seconds until the quota is whole again (or, when exhausted, until the next request fits).
    reset_secs: u64,
}

impl<K: Hash + Eq + Clone> Policy<K> {
    fn new(name: &'static str, per_minute: u32) -> Option<Self> {
        let burst = NonZeroU32::new(per_minute)?;
        let limiter = RateLimiter::keyed(Quota::per_minute(burst)).with_middleware::<StateInformationMiddleware>();
        Some(Self { name, quota: per_minute, limiter })
    }

    /// Takes one request from `key`'s quota: `Err` (remaining 0) when there is none left.
    fn check(&self, key: &K) -> Result<Item, Item> {
        match self.limiter.check_key(key) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                let used = u64::from(self.quota.saturating_sub(remaining));
                let reset_secs = (used * WINDOW.as_secs()).div_ceil(u64::from(self.quota));
                Ok(Item { name: self.name, quota: self.quota, remaining, reset_secs })
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.limiter.clock().now());
                Err(Item { name: self.name, quota: self.quota, remaining: 0, reset_secs: whole_secs(wait) })
            }
        }
    }

    /// The time one request's worth of quota takes to come back.
    fn interval(&self) -> Duration {
        WINDOW / self.quota
    }

    fn housekeep(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

/// Retry-After and `t` are whole seconds, rounded up, at least 1.
fn whole_secs(d: Duration) -> u64 {
    (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1)
}

/// The limiters of one process, shared by every request through [`AppState`].
pub struct Limits {
    pub server: ServerSettings,
    pub rate: RateLimitSettings,
    api_key: Option<Policy<[u8; 32]>>,
    api_ip: Option<Policy<IpAddr>>,
    failed_auth: Option<Policy<IpAddr>>,
    page_ip: Option<Policy<IpAddr>>,
    page_link: Option<Policy<[u8; 32]>>,
    /// Client IPs that spent their failed-attempt quota, until when.
    blocked: Mutex<HashMap<IpAddr, Instant>>,
}

impl Default for Limits {
    fn default() -> Self {
        Self::new(RateLimitSettings::default(), ServerSettings::default())
    }
}

impl From<&ServeArgs> for Limits {
    fn from(args: &ServeArgs) -> Self {
        Self::new(
            RateLimitSettings {
                api_per_key: args.rate_limit_api_per_key,
                api_per_ip: args.rate_limit_api_per_ip,
                pages_per_ip: args.rate_limit_pages_per_ip,
                pages_per_link: args.rate_limit_pages_per_link,
                failed_auth_per_ip: args.rate_limit_failed_auth_per_ip,
            },
            ServerSettings {
                header_read_timeout: Duration::from_secs(args.header_read_timeout_secs),
                max_connections: args.max_connections as usize,
                drain_timeout: Duration::from_secs(args.shutdown_drain_secs),
            },
        )
    }
}

impl std::fmt::Debug for Limits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limits").field("server", &self.server).field("rate", &self.rate).finish_non_exhaustive()
    }
}

impl Limits {
    pub fn new(rate: RateLimitSettings, server: ServerSettings) -> Self {
        Self {
            server,
            rate,
            api_key: Policy::new("api-key", rate.api_per_key),
            api_ip: Policy::new("api-ip", rate.api_per_ip),
            failed_auth: Policy::new("failed-auth-ip", rate.failed_auth_per_ip),
            page_ip: Policy::new("page-ip", rate.pages_per_ip),
            page_link: Policy::new("page-link", rate.pages_per_link),
            blocked: Mutex::new(HashMap::new()),
        }
    }

    /// Drops the state of keys that are back to a full quota, and expired blocks.
    pub fn housekeep(&self) {
        for policy in [&self.api_ip, &self.failed_auth, &self.page_ip].into_iter().flatten() {
            policy.housekeep();
        }
        for policy in [&self.api_key, &self.page_link].into_iter().flatten() {
            policy.housekeep();
        }
        let now = Instant::now();
        self.blocked.lock().unwrap_or_else(std::sync::PoisonError::into_inner).retain(|_, until| *until > now);
    }

    /// Runs [`Self::housekeep`] every minute, for as long as the task is not aborted.
    pub fn spawn_housekeeping(self: Arc<Self>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(HOUSEKEEPING_EVERY);
            tick.tick().await;
            loop {
                tick.tick().await;
                self.housekeep();
            }
        })
    }

    /// How long `ip` is still refused for failed API-key attempts.
    fn blocked_for(&self, ip: IpAddr) -> Option<Duration> {
        let blocked = self.blocked.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        blocked.get(&ip).and_then(|until| until.checked_duration_since(Instant::now())).filter(|d| !d.is_zero())
    }

    fn block(&self, ip: IpAddr, wait: Duration) {
        let mut blocked = self.blocked.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        blocked.insert(ip, Instant::now() + wait);
    }
}

/// Which limits a path falls under.
enum Class {
    Api,
    /// A page; the token's hash when the path is under `/link/{token}`.
    Page(Option<[u8; 32]>),
}

impl Class {
    fn of(path: &str) -> Option<Self> {
        if path.starts_with("/api/") || super::mcp::is_mcp_path(path) {
            return Some(Self::Api);
        }
        if let Some(rest) = path.strip_prefix("/link/") {
            let token = rest.split('/').next().unwrap_or("");
            return Some(Self::Page((!token.is_empty()).then(|| hash(token))));
        }
        path.starts_with("/oauth/").then_some(Self::Page(None))
    }
}

fn hash(value: &str) -> [u8; 32] {
    Sha256::digest(value.as_bytes()).into()
}

/// The key a client IP is counted under: IPv6 clients by their /64, IPv4-mapped as IPv4.
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(v6.to_bits() & !u128::from(u64::MAX))),
        },
    }
}

/// The project key a request presents: `x-api-key`, or (on the MCP endpoints, which accept it)
/// `Authorization: Bearer …`.
fn presented_key(headers: &HeaderMap) -> Option<&str> {
    headers.get("x-api-key").and_then(|v| v.to_str().ok()).map(str::trim).or_else(|| super::mcp::bearer_key(headers))
}

/// The middleware: applies the limits of the request's class and adds the `RateLimit` fields.
pub async fn enforce(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(class) = Class::of(request.uri().path()) else {
        return next.run(request).await;
    };
    let limits = &state.limits;
    let ip = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(peer)| client_key(peer.ip()));
    match class {
        Class::Api => api(limits, ip, request, next).await,
        Class::Page(link) => page(limits, ip, link, request, next).await,
    }
}

async fn api(limits: &Limits, ip: Option<IpAddr>, request: Request, next: Next) -> Response {
    let mut items = Vec::new();
    if let (Some(ip), Some(failed)) = (ip, &limits.failed_auth) {
        if let Some(wait) = limits.blocked_for(ip) {
            let item = Item { name: failed.name, quota: failed.quota, remaining: 0, reset_secs: whole_secs(wait) };
            return api_rejection(item, "of failed API-key attempts from this IP address", &items);
        }
    }
    if let (Some(ip), Some(policy)) = (ip, &limits.api_ip) {
        match policy.check(&ip) {
            Ok(item) => items.push(item),
            Err(item) => return api_rejection(item, "from this IP address", &items),
        }
    }
    if let Some(policy) = &limits.api_key {
        if let Some(key) = presented_key(request.headers()) {
            match policy.check(&hash(key)) {
                Ok(item) => items.push(item),
                Err(item) => return api_rejection(item, "for this API key", &items),
            }
        }
    }
    // A request without any key is refused too, but guesses nothing: only presented keys count.
    let presented = ["x-api-key", "x-user-api-key", "x-org-api-key"]
        .iter()
        .any(|name| request.headers().get(*name).is_some_and(|v| !v.as_bytes().trim_ascii().is_empty()))
        || presented_key(request.headers()).is_some();
    let mut response = next.run(request).await;
    if presented && response.status() == StatusCode::UNAUTHORIZED {
        if let (Some(ip), Some(failed)) = (ip, &limits.failed_auth) {
            // The attempt that spends the quota blocks the IP until one attempt's worth is back.
            match failed.check(&ip) {
                Ok(item) => {
                    if item.remaining == 0 {
                        limits.block(ip, failed.interval());
                    }
                    items.push(item);
                }
                Err(item) => {
                    limits.block(ip, Duration::from_secs(item.reset_secs));
                    items.push(item);
                }
            }
        }
    }
    set_fields(response.headers_mut(), &items);
    response
}

fn api_rejection(exhausted: Item, scope: &'static str, passed: &[Item]) -> Response {
    let retry_after_secs = exhausted.reset_secs;
    crate::telemetry::rate_limited(exhausted.name);
    let mut response = ApiError::RateLimited { limit: exhausted.quota, scope, retry_after_secs }.into_response();
    set_fields(response.headers_mut(), &[passed, &[exhausted]].concat());
    response
}

async fn page(limits: &Limits, ip: Option<IpAddr>, link: Option<[u8; 32]>, request: Request, next: Next) -> Response {
    let mut items = Vec::new();
    let mut exhausted = None;
    if let (Some(ip), Some(policy)) = (ip, &limits.page_ip) {
        match policy.check(&ip) {
            Ok(item) => items.push(item),
            Err(item) => exhausted = Some(item),
        }
    }
    if let (None, Some(link), Some(policy)) = (exhausted, link, &limits.page_link) {
        match policy.check(&link) {
            Ok(item) => items.push(item),
            Err(item) => exhausted = Some(item),
        }
    }
    let mut response = match exhausted {
        None => next.run(request).await,
        Some(item) => {
            crate::telemetry::rate_limited(item.name);
            items.push(item);
            let mut response = super::pages::rate_limited_page(request.uri(), request.headers(), item.reset_secs);
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(item.reset_secs));
            response
        }
    };
    set_fields(response.headers_mut(), &items);
    response
}

/// `RateLimit-Policy` and `RateLimit`, one list member per policy applied to the request.
fn set_fields(headers: &mut HeaderMap, items: &[Item]) {
    if items.is_empty() {
        return;
    }
    let join = |f: &dyn Fn(&Item) -> String| items.iter().map(f).collect::<Vec<_>>().join(", ");
    let window = WINDOW.as_secs();
    let policy = join(&|i| format!("\"{}\";q={};w={window}", i.name, i.quota));
    let state = join(&|i| format!("\"{}\";r={};t={}", i.name, i.remaining, i.reset_secs));
    for (name, value) in [("ratelimit-policy", policy), ("ratelimit", state)] {
        if let Ok(value) = HeaderValue::try_from(value) {
            headers.insert(name, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_by_path() {
        assert!(matches!(Class::of("/api/v3.1/auth_configs"), Some(Class::Api)));
        assert!(matches!(Class::of("/link/ln_abc"), Some(Class::Page(Some(_)))));
        assert!(matches!(Class::of("/link/ln_abc/continue"), Some(Class::Page(Some(h))) if h == hash("ln_abc")));
        assert!(matches!(Class::of("/oauth/callback"), Some(Class::Page(None))));
        for free in ["/healthz", "/readyz", "/openapi.json", "/assets/authlink.css", "/"] {
            assert!(Class::of(free).is_none(), "{free}");
        }
    }

    #[test]
    fn ipv6_clients_count_by_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        assert_eq!(client_key(a), client_key(b));
        assert_eq!(client_key("::ffff:10.0.0.1".parse().unwrap()), "10.0.0.1".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn whole_seconds_round_up() {
        assert_eq!(whole_secs(Duration::ZERO), 1);
        assert_eq!(whole_secs(Duration::from_millis(10)), 1);
        assert_eq!(whole_secs(Duration::from_secs(2)), 2);
        assert_eq!(whole_secs(Duration::from_millis(2001)), 3);
    }

    #[test]
    fn a_policy_counts_down_and_refuses_when_spent() {
        let policy = Policy::<u8>::new("p", 3).unwrap();
        let remaining: Vec<u32> = (0..3).map(|_| policy.check(&1).unwrap().remaining).collect();
        assert_eq!(remaining, [2, 1, 0]);
        let refused = policy.check(&1).unwrap_err();
        assert_eq!((refused.remaining, refused.reset_secs), (0, 20));
        assert_eq!(policy.check(&2).unwrap().remaining, 2, "another key has its own quota");
        assert!(Policy::<u8>::new("off", 0).is_none());
    }
}
