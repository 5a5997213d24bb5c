//! Typed configuration read from the environment (and the matching command-line flags).
//!
//! Every setting is both a flag and an environment variable so that operators can use whichever
//! fits their deployment; clap names the variable in every parse error. Secrets are redacted from
//! `Debug` and from `--help` so they never end up in logs.

use std::{fmt, net::SocketAddr, str::FromStr, time::Duration};

use base64::{Engine, engine::general_purpose::STANDARD};
use url::Url;

use crate::domain::callback::CallbackAllowlist;

/// Settings every subcommand needs: where the database is.
#[derive(Clone, clap::Args)]
pub struct DatabaseArgs {
    /// PostgreSQL connection URL, e.g. postgres://authlink@127.0.0.1:5432/authlink.
    #[arg(long, env = "DATABASE_URL", value_name = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// Largest number of pooled database connections.
    #[arg(long, env = "AUTHLINK_DB_MAX_CONNECTIONS", value_name = "AUTHLINK_DB_MAX_CONNECTIONS", default_value_t = 16,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub db_max_connections: u32,
}

impl fmt::Debug for DatabaseArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseArgs")
            .field("database_url", &self.database_url.as_deref().map(redact_url))
            .field("db_max_connections", &self.db_max_connections)
            .finish()
    }
}

/// Settings of the HTTP service.
#[derive(Clone, clap::Args)]
pub struct ServeArgs {
    /// Socket address the HTTP server binds to.
    #[arg(long, env = "AUTHLINK_LISTEN", value_name = "AUTHLINK_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Public base URL of this service: the base of every `redirect_url` and `mcp.url`.
    /// Defaults to http://{AUTHLINK_LISTEN}.
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

    /// The sealing key. Parsed here rather than by clap so a bad value is never echoed.
    pub fn encryption_key(&self) -> Result<EncryptionKey, String> {
        let raw = self.encryption_key.as_deref().filter(|k| !k.trim().is_empty()).ok_or_else(|| {
            "AUTHLINK_ENCRYPTION_KEY is required to serve: 32 bytes, base64 (try `openssl rand -base64 32`)".to_owned()
        })?;
        raw.parse().map_err(|e| format!("AUTHLINK_ENCRYPTION_KEY {e}"))
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

    /// The sealer for these keys.
    pub fn sealer(&self) -> Result<crate::crypto::Sealer, String> {
        Ok(crate::crypto::Sealer::new(&self.encryption_key()?, &self.old_keys()?))
    }

    /// Link lifetime as a `Duration`.
    pub fn link_ttl(&self) -> Duration {
        Duration::from_secs(self.link_ttl_secs)
    }
}

/// A 32-byte AES-256 key. Its `Debug` never shows the bytes.
#[derive(Clone)]
pub struct EncryptionKey(pub [u8; 32]);

impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EncryptionKey(<redacted>)")
    }
}

impl FromStr for EncryptionKey {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes =
            STANDARD.decode(s.trim()).map_err(|_| "must be base64 (try `openssl rand -base64 32`)".to_owned())?;
        let key: [u8; 32] =
            bytes.try_into().map_err(|b: Vec<u8>| format!("must decode to 32 bytes, got {}", b.len()))?;
        Ok(Self(key))
    }
}

/// Hides the password of a database URL for logs.
pub fn redact_url(raw: &str) -> String {
    match Url::parse(raw) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("****"));
            url.to_string()
        }
        Ok(url) => url.to_string(),
        Err(_) => "<unparseable>".to_owned(),
    }
}
