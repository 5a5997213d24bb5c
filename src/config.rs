//! Typed configuration read from the environment (and the matching command-line flags).
//!
//! Every setting is both a flag and an environment variable so that operators can use whichever
//! fits their deployment; clap names the variable in every parse error. Secrets are redacted from
//! `Debug` and from `--help` so they never end up in logs.

use std::{fmt, net::SocketAddr, path::PathBuf, time::Duration};

use url::Url;

mod secrets;

pub use secrets::{EncryptionKey, predictable_secret, redact_url};

use crate::{
    domain::{
        OriginAllowlist,
        callback::{CallbackAllowlist, LinkUrlAllowlist},
    },
    http::limits,
    outbound::{EndpointAllowlist, OutboundPolicy},
    store::RetentionPolicy,
};

/// Settings every subcommand needs: where the database is.
#[derive(Clone, clap::Args)]
pub struct DatabaseArgs {
    /// Database URL: `postgres://…` for PostgreSQL, `sqlite://PATH` for a SQLite file. Unset: the
    /// embedded SQLite database `{AUTHLINK_DATA_DIR}/authlink.db`.
    #[arg(long, env = "DATABASE_URL", value_name = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// Directory of the embedded SQLite database and of its generated encryption key.
    #[arg(long, env = "AUTHLINK_DATA_DIR", value_name = "AUTHLINK_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// Largest number of pooled database connections.
    #[arg(long, env = "AUTHLINK_DB_MAX_CONNECTIONS", value_name = "AUTHLINK_DB_MAX_CONNECTIONS", default_value_t = 16,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub db_max_connections: u32,
}

impl fmt::Debug for DatabaseArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseArgs")
            .field("database_url", &self.database_url.as_deref().map(redact_url))
            .field("data_dir", &self.data_dir)
            .field("db_max_connections", &self.db_max_connections)
            .finish()
    }
}

/// Which store to open, decided by the scheme of `DATABASE_URL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseLocation {
    /// `postgres://…` or `postgresql://…`: the production store.
    Postgres(String),
    /// `sqlite://…` or `sqlite:…`: a SQLite file named by URL.
    SqliteUrl(String),
    /// No `DATABASE_URL`: `{AUTHLINK_DATA_DIR}/authlink.db`, zero setup.
    Embedded(PathBuf),
}

impl DatabaseLocation {
    /// SQLite, either way: the encryption key may then be generated and kept in the data directory.
    pub fn is_sqlite(&self) -> bool {
        !matches!(self, Self::Postgres(_))
    }

    /// For the start-up log line: the backend and, for SQLite, the file (no credentials).
    pub fn describe(&self) -> String {
        match self {
            Self::Postgres(url) => format!("postgres {}", redact_url(url)),
            Self::SqliteUrl(url) => format!("sqlite {url}"),
            Self::Embedded(path) => format!("sqlite {} (embedded)", path.display()),
        }
    }
}

impl DatabaseArgs {
    /// Where the data lives; an error names `DATABASE_URL` when its scheme is unknown.
    pub fn location(&self) -> Result<DatabaseLocation, String> {
        let Some(url) = self.database_url.as_deref().map(str::trim).filter(|u| !u.is_empty()) else {
            return Ok(DatabaseLocation::Embedded(self.data_dir.join("authlink.db")));
        };
        let scheme = url.split_once(':').map(|(scheme, _)| scheme.to_ascii_lowercase()).unwrap_or_default();
        match scheme.as_str() {
            "postgres" | "postgresql" => Ok(DatabaseLocation::Postgres(url.to_owned())),
            "sqlite" => Ok(DatabaseLocation::SqliteUrl(url.to_owned())),
            _ => Err(format!(
                "DATABASE_URL must start with postgres://, postgresql:// or sqlite:// (got scheme `{}`); \
                 leave it unset for the embedded SQLite database",
                scheme.chars().take(20).collect::<String>()
            )),
        }
    }
}

/// Settings of the HTTP service.
#[derive(Clone, clap::Args)]
pub struct ServeArgs {
    /// Socket address the HTTP server binds to.
    #[arg(long, env = "AUTHLINK_LISTEN", value_name = "AUTHLINK_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Public base URL of this service: the base of every `redirect_url` and `mcp.url`.
    /// Defaults to `http://{AUTHLINK_LISTEN}`.
    #[arg(long, env = "AUTHLINK_PUBLIC_URL", value_name = "AUTHLINK_PUBLIC_URL")]
    pub public_url: Option<Url>,

    /// 32-byte key, base64-encoded, that seals secrets (client secrets, OAuth tokens) at rest.
    /// Generate one with `openssl rand -base64 32`.
    #[arg(long, env = "AUTHLINK_ENCRYPTION_KEY", value_name = "AUTHLINK_ENCRYPTION_KEY", hide_env_values = true)]
    pub encryption_key: Option<String>,

    /// Comma-separated older keys (base64) that still open values sealed before a key rotation.
    /// `authlink rotate-keys` re-seals everything under the current key; then drop them.
    #[arg(
        long,
        env = "AUTHLINK_ENCRYPTION_OLD_KEYS",
        value_name = "AUTHLINK_ENCRYPTION_OLD_KEYS",
        hide_env_values = true
    )]
    pub encryption_old_keys: Option<String>,

    /// Lifetime of a link token in seconds.
    #[arg(long, env = "AUTHLINK_LINK_TTL_SECS", value_name = "AUTHLINK_LINK_TTL_SECS", default_value_t = 600,
          value_parser = clap::value_parser!(u64).range(30..=86_400))]
    pub link_ttl_secs: u64,

    /// Comma-separated URL prefixes that `callback_url` values must match (scheme, host, port and
    /// whole path segments). When empty, only loopback callback URLs are accepted.
    #[arg(long, env = "AUTHLINK_CALLBACK_ALLOWLIST", value_name = "AUTHLINK_CALLBACK_ALLOWLIST", default_value = "")]
    pub callback_allowlist: CallbackAllowlist,

    /// Comma-separated origins (`scheme://host[:port]`) authlink may call even when they are
    /// loopback, private or plain http: local or in-house OAuth providers, test servers. Every
    /// other tenant-set endpoint must be https and resolve to public addresses only.
    #[arg(long, env = "AUTHLINK_ENDPOINT_ALLOWLIST", value_name = "AUTHLINK_ENDPOINT_ALLOWLIST", default_value = "")]
    pub endpoint_allowlist: EndpointAllowlist,

    /// Whether auth configs may set their own provider endpoints (`authorization_url`,
    /// `token_url`, …): `allowed`, or `forbidden` to use only the catalog's endpoints.
    #[arg(long, env = "AUTHLINK_TENANT_ENDPOINTS", value_name = "AUTHLINK_TENANT_ENDPOINTS", value_enum,
          default_value_t = TenantEndpoints::Allowed)]
    pub tenant_endpoints: TenantEndpoints,

    /// On first start (no API key in the database), the key of the `default` project instead of a
    /// generated one: for scripts and compose files. At least 32 printable characters.
    #[arg(long, env = "AUTHLINK_BOOTSTRAP_API_KEY", value_name = "AUTHLINK_BOOTSTRAP_API_KEY", hide_env_values = true)]
    pub bootstrap_api_key: Option<String>,

    // Retention (see `service::retention`).
    /// Seconds a used or expired link (and its OAuth states) is kept before it is purged.
    #[arg(long, env = "AUTHLINK_RETENTION_LINK_GRACE_SECS", value_name = "AUTHLINK_RETENTION_LINK_GRACE_SECS",
          default_value_t = 86_400, value_parser = clap::value_parser!(u64).range(0..=31_536_000))]
    pub retention_link_grace_secs: u64,

    /// Days a deleted session or connected account is kept before it is purged (a deleted
    /// account's tokens are erased at once).
    #[arg(long, env = "AUTHLINK_RETENTION_DELETED_DAYS", value_name = "AUTHLINK_RETENTION_DELETED_DAYS",
          default_value_t = 30, value_parser = clap::value_parser!(u32).range(0..=36_500))]
    pub retention_deleted_days: u32,

    /// Days an audit entry is kept.
    #[arg(long, env = "AUTHLINK_RETENTION_AUDIT_DAYS", value_name = "AUTHLINK_RETENTION_AUDIT_DAYS",
          default_value_t = 365, value_parser = clap::value_parser!(u32).range(1..=36_500))]
    pub retention_audit_days: u32,

    /// Seconds between two retention passes.
    #[arg(long, env = "AUTHLINK_RETENTION_INTERVAL_SECS", value_name = "AUTHLINK_RETENTION_INTERVAL_SECS",
          default_value_t = 3_600, value_parser = clap::value_parser!(u64).range(10..=86_400))]
    pub retention_interval_secs: u64,

    // Rate limits and listener limits (design §5, `http::limits`). Rate limits are per minute and
    // per process; 0 switches one off.
    /// API requests per minute per API key (0 = off).
    #[arg(long, env = "AUTHLINK_RATE_LIMIT_API_PER_KEY", value_name = "AUTHLINK_RATE_LIMIT_API_PER_KEY",
          default_value_t = limits::DEFAULT_API_PER_KEY)]
    pub rate_limit_api_per_key: u32,

    /// API requests per minute per client IP (0 = off).
    #[arg(long, env = "AUTHLINK_RATE_LIMIT_API_PER_IP", value_name = "AUTHLINK_RATE_LIMIT_API_PER_IP",
          default_value_t = limits::DEFAULT_API_PER_IP)]
    pub rate_limit_api_per_ip: u32,

    /// Requests per minute per client IP to the link page, Continue and the OAuth callback (0 = off).
    #[arg(long, env = "AUTHLINK_RATE_LIMIT_PAGES_PER_IP", value_name = "AUTHLINK_RATE_LIMIT_PAGES_PER_IP",
          default_value_t = limits::DEFAULT_PAGES_PER_IP)]
    pub rate_limit_pages_per_ip: u32,

    /// Requests per minute per link token to the link page and Continue (0 = off).
    #[arg(long, env = "AUTHLINK_RATE_LIMIT_PAGES_PER_LINK", value_name = "AUTHLINK_RATE_LIMIT_PAGES_PER_LINK",
          default_value_t = limits::DEFAULT_PAGES_PER_LINK)]
    pub rate_limit_pages_per_link: u32,

    /// Failed API-key attempts (401s) per minute per client IP; beyond them the IP is answered 429
    /// before its key is checked (0 = off).
    #[arg(long, env = "AUTHLINK_RATE_LIMIT_FAILED_AUTH_PER_IP", value_name = "AUTHLINK_RATE_LIMIT_FAILED_AUTH_PER_IP",
          default_value_t = limits::DEFAULT_FAILED_AUTH_PER_IP)]
    pub rate_limit_failed_auth_per_ip: u32,

    /// Seconds a client has to send a request's headers, after connecting or after the previous
    /// response on a keep-alive connection; then the connection is closed.
    #[arg(long, env = "AUTHLINK_HEADER_READ_TIMEOUT_SECS", value_name = "AUTHLINK_HEADER_READ_TIMEOUT_SECS",
          default_value_t = limits::DEFAULT_HEADER_READ_TIMEOUT_SECS, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub header_read_timeout_secs: u64,

    /// Largest number of open client connections; more wait in the listen backlog.
    #[arg(long, env = "AUTHLINK_MAX_CONNECTIONS", value_name = "AUTHLINK_MAX_CONNECTIONS",
          default_value_t = limits::DEFAULT_MAX_CONNECTIONS, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: u32,

    // Issue 11 item 8(c).
    /// Comma-separated origins or URL prefixes (scheme, host, port and whole path segments) that a
    /// session's `experimental.link_url_overwrite` must match. Empty: the origin of
    /// `AUTHLINK_PUBLIC_URL` only.
    #[arg(long, env = "AUTHLINK_LINK_URL_ALLOWLIST", value_name = "AUTHLINK_LINK_URL_ALLOWLIST", default_value = "")]
    pub link_url_allowlist: LinkUrlAllowlist,

    // Issue 13.
    /// Comma-separated browser origins (`scheme://host[:port]`) allowed to call the MCP endpoints
    /// besides the origin of `AUTHLINK_PUBLIC_URL`; a request with any other `Origin` header is
    /// refused (DNS-rebinding defence). Requests without `Origin` (non-browser clients) pass.
    #[arg(long, env = "AUTHLINK_MCP_ALLOWED_ORIGINS", value_name = "AUTHLINK_MCP_ALLOWED_ORIGINS", default_value = "")]
    pub mcp_allowed_origins: OriginAllowlist,
    // Issue 17.
    /// Bearer token `GET /metrics` requires (`Authorization: Bearer …`); unset or empty: open.
    #[arg(long, env = "AUTHLINK_METRICS_TOKEN", value_name = "AUTHLINK_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    // Webhooks and background refresh (issue 14, `service::webhooks`, `service::refresher`).
    /// Seconds a webhook delivery is retried before it gives up; a subscription whose every
    /// attempt failed this long is disabled.
    #[arg(long, env = "AUTHLINK_WEBHOOK_HORIZON_SECS", value_name = "AUTHLINK_WEBHOOK_HORIZON_SECS",
          default_value_t = 86_400, value_parser = clap::value_parser!(u64).range(10..=2_592_000))]
    pub webhook_horizon_secs: u64,

    /// Milliseconds the delivery worker waits between polls when nothing is due.
    #[arg(long, env = "AUTHLINK_WEBHOOK_POLL_MS", value_name = "AUTHLINK_WEBHOOK_POLL_MS",
          default_value_t = 500, value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub webhook_poll_ms: u64,

    /// Milliseconds before the first retry of a failed delivery; doubled per attempt, with jitter.
    #[arg(long, env = "AUTHLINK_WEBHOOK_RETRY_BASE_MS", value_name = "AUTHLINK_WEBHOOK_RETRY_BASE_MS",
          default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(10..=3_600_000))]
    pub webhook_retry_base_ms: u64,

    /// Longest pause, in seconds, between two attempts of a delivery.
    #[arg(long, env = "AUTHLINK_WEBHOOK_RETRY_MAX_SECS", value_name = "AUTHLINK_WEBHOOK_RETRY_MAX_SECS",
          default_value_t = 3_600, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub webhook_retry_max_secs: u64,

    /// Tokens expiring within this many seconds are refreshed ahead of time by the background
    /// sweeper (0 switches it off).
    #[arg(long, env = "AUTHLINK_REFRESH_AHEAD_SECS", value_name = "AUTHLINK_REFRESH_AHEAD_SECS",
          default_value_t = 600, value_parser = clap::value_parser!(u64).range(0..=86_400))]
    pub refresh_ahead_secs: u64,

    /// Seconds between two passes of the expiry sweep, which persists EXPIRED (and emits
    /// `composio.connected_account.expired`) for links that ran out unfinished.
    #[arg(long, env = "AUTHLINK_EXPIRE_INTERVAL_SECS", value_name = "AUTHLINK_EXPIRE_INTERVAL_SECS",
          default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3_600))]
    pub expire_interval_secs: u64,

    /// Seconds between two passes of the refresh sweeper.
    #[arg(long, env = "AUTHLINK_REFRESH_INTERVAL_SECS", value_name = "AUTHLINK_REFRESH_INTERVAL_SECS",
          default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3_600))]
    pub refresh_interval_secs: u64,

    /// Seconds a shutdown (SIGTERM, Ctrl-C) gives open connections to finish: no new connection
    /// is accepted, in-flight requests complete, each connection's next response says
    /// `Connection: close`; then the process exits 0.
    #[arg(long, env = "AUTHLINK_SHUTDOWN_DRAIN_SECS", value_name = "AUTHLINK_SHUTDOWN_DRAIN_SECS",
          default_value_t = limits::DEFAULT_DRAIN_SECS, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub shutdown_drain_secs: u64,
    // Issue 16.
    /// Directory of extra catalog files (`*.yaml`/`*.yml`, authlink's `toolkits:` format or
    /// Nango's `providers.yaml` format) that add or override catalog entries at start; an invalid
    /// file stops the server with its file, line and field.
    #[arg(long, env = "AUTHLINK_CATALOG_DIR", value_name = "AUTHLINK_CATALOG_DIR")]
    pub catalog_dir: Option<std::path::PathBuf>,
}

impl fmt::Debug for ServeArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServeArgs")
            .field("listen", &self.listen)
            .field("public_url", &self.public_url)
            .field("encryption_key", &"<redacted>")
            .field("encryption_old_keys", &"<redacted>")
            .field("link_ttl_secs", &self.link_ttl_secs)
            .field("callback_allowlist", &self.callback_allowlist)
            .field("endpoint_allowlist", &self.endpoint_allowlist)
            .field("tenant_endpoints", &self.tenant_endpoints)
            .field("bootstrap_api_key", &"<redacted>")
            .field("retention_link_grace_secs", &self.retention_link_grace_secs)
            .field("retention_deleted_days", &self.retention_deleted_days)
            .field("retention_audit_days", &self.retention_audit_days)
            .field("retention_interval_secs", &self.retention_interval_secs)
            .field("rate_limit_api_per_key", &self.rate_limit_api_per_key)
            .field("rate_limit_api_per_ip", &self.rate_limit_api_per_ip)
            .field("rate_limit_pages_per_ip", &self.rate_limit_pages_per_ip)
            .field("rate_limit_pages_per_link", &self.rate_limit_pages_per_link)
            .field("rate_limit_failed_auth_per_ip", &self.rate_limit_failed_auth_per_ip)
            .field("header_read_timeout_secs", &self.header_read_timeout_secs)
            .field("max_connections", &self.max_connections)
            .field("link_url_allowlist", &self.link_url_allowlist)
            .field("mcp_allowed_origins", &self.mcp_allowed_origins)
            .field("metrics_token", &self.metrics_token.as_ref().map(|_| "<redacted>"))
            .field("webhook_horizon_secs", &self.webhook_horizon_secs)
            .field("webhook_poll_ms", &self.webhook_poll_ms)
            .field("webhook_retry_base_ms", &self.webhook_retry_base_ms)
            .field("webhook_retry_max_secs", &self.webhook_retry_max_secs)
            .field("refresh_ahead_secs", &self.refresh_ahead_secs)
            .field("refresh_interval_secs", &self.refresh_interval_secs)
            .field("expire_interval_secs", &self.expire_interval_secs)
            .field("shutdown_drain_secs", &self.shutdown_drain_secs)
            .field("catalog_dir", &self.catalog_dir)
            .finish()
    }
}

impl ServeArgs {
    /// The public base URL without a trailing slash, derived from the listen address when unset.
    pub fn public_base(&self) -> String {
        match &self.public_url {
            Some(url) => url.as_str().trim_end_matches('/').to_owned(),
            None => format!("http://{}", self.listen),
        }
    }

    /// The sealing key, if set. Parsed here rather than by clap so a bad value is never echoed.
    pub fn encryption_key(&self) -> Result<Option<EncryptionKey>, String> {
        match self.encryption_key.as_deref().map(str::trim).filter(|k| !k.is_empty()) {
            None => Ok(None),
            Some(raw) => raw.parse().map(Some).map_err(|e| format!("AUTHLINK_ENCRYPTION_KEY {e}")),
        }
    }

    /// The bootstrap key, checked for strength without echoing it.
    pub fn bootstrap_api_key(&self) -> Result<Option<String>, String> {
        let Some(key) = self.bootstrap_api_key.as_deref().map(str::trim).filter(|k| !k.is_empty()) else {
            return Ok(None);
        };
        if !(32..=256).contains(&key.len()) || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("AUTHLINK_BOOTSTRAP_API_KEY must be 32 to 256 printable ASCII characters without spaces \
                        (try `openssl rand -hex 24`)"
                .to_owned());
        }
        if let Some(reason) = predictable_secret(key) {
            return Err(format!(
                "AUTHLINK_BOOTSTRAP_API_KEY has too little entropy ({reason}); use a random value \
                 (try `openssl rand -hex 24`)"
            ));
        }
        Ok(Some(key.to_owned()))
    }

    /// Older keys that may still open sealed values.
    pub fn old_keys(&self) -> Result<Vec<EncryptionKey>, String> {
        self.encryption_old_keys
            .as_deref()
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .enumerate()
            .map(|(i, k)| k.parse().map_err(|e| format!("AUTHLINK_ENCRYPTION_OLD_KEYS item {i}: {e}")))
            .collect()
    }

    /// Link lifetime as a `Duration`.
    pub fn link_ttl(&self) -> Duration {
        Duration::from_secs(self.link_ttl_secs)
    }

    /// What authlink may call on a tenant's behalf.
    pub fn outbound_policy(&self) -> OutboundPolicy {
        OutboundPolicy::new(self.endpoint_allowlist.clone(), self.tenant_endpoints == TenantEndpoints::Forbidden)
    }
}

impl ServeArgs {
    /// How long rows outlive their use (the `AUTHLINK_RETENTION_*` settings).
    pub fn retention_policy(&self) -> RetentionPolicy {
        RetentionPolicy {
            link_grace: chrono::Duration::seconds(i64::try_from(self.retention_link_grace_secs).unwrap_or(i64::MAX)),
            deleted_after: chrono::Duration::days(i64::from(self.retention_deleted_days)),
            audit_after: chrono::Duration::days(i64::from(self.retention_audit_days)),
            ..RetentionPolicy::default()
        }
    }

    /// Time between retention passes.
    pub fn retention_interval(&self) -> Duration {
        Duration::from_secs(self.retention_interval_secs)
    }
}

/// `AUTHLINK_TENANT_ENDPOINTS`: may auth configs name their own provider endpoints?
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum TenantEndpoints {
    /// Auth configs may set endpoints (https, public addresses, or allowlisted origins).
    #[default]
    Allowed,
    /// Only the catalog's provider endpoints are used; endpoint fields are refused.
    Forbidden,
}

impl ServeArgs {
    /// The webhook delivery worker's pacing (the `AUTHLINK_WEBHOOK_*` settings).
    pub fn webhook_settings(&self) -> crate::service::webhooks::delivery::WebhookSettings {
        crate::service::webhooks::delivery::WebhookSettings {
            horizon: Duration::from_secs(self.webhook_horizon_secs),
            poll_interval: Duration::from_millis(self.webhook_poll_ms),
            retry_base: Duration::from_millis(self.webhook_retry_base_ms),
            retry_max: Duration::from_secs(self.webhook_retry_max_secs),
            ..Default::default()
        }
    }

    /// The background refresh sweeper's settings; `None` when switched off.
    pub fn refresh_settings(&self) -> Option<crate::service::refresher::RefreshSettings> {
        (self.refresh_ahead_secs > 0).then(|| crate::service::refresher::RefreshSettings {
            ahead: Duration::from_secs(self.refresh_ahead_secs),
            interval: Duration::from_secs(self.refresh_interval_secs),
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod entropy_tests {
    use super::predictable_secret;

    #[test]
    fn predictable_bootstrap_keys_are_refused_and_random_ones_pass() {
        let refused = [
            "a".repeat(32),
            "ab".repeat(16),
            "password".repeat(4),
            "correcthorsebatterystaple".repeat(2),
            "0123456789abcdef".repeat(2),
            "abcdefghijklmnopqrstuvwxyzABCDEF".to_owned(),
            "acegikmoqsuwy".repeat(3),
        ];
        for key in &refused {
            assert!(predictable_secret(key).is_some(), "{key} should be refused");
        }
        for alphabet in [&b"0123456789"[..], b"0123456789abcdef"] {
            for _ in 0..500 {
                for len in [32, 48, 256] {
                    let key: String =
                        (0..len).map(|_| char::from(alphabet[rand::random::<usize>() % alphabet.len()])).collect();
                    assert_eq!(predictable_secret(&key), None, "{key}");
                }
            }
        }
        let key = crate::crypto::new_api_key();
        assert_eq!(predictable_secret(&key), None, "{key}");
        assert_eq!(predictable_secret("k3y-for-ci-9f2c61d0a7b54e38b1d2c3f4"), None);
    }
}
