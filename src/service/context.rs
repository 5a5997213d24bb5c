//! What the services work with, handed to them as one value instead of the HTTP layer's state:
//! the store, the sealer, the catalog, the settings and the OAuth client. The CLI, the sweeper
//! and the tests can build one without axum.

use std::{sync::Arc, time::Duration};

use crate::{
    catalog::Catalog,
    config::ServeArgs,
    crypto::Sealer,
    domain::{CallbackAllowlist, LinkUrlAllowlist, OriginAllowlist},
    outbound::OutboundPolicy,
    service::oauth::OAuthClient,
    store::Store,
};

/// Runtime settings the services read.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Base of `redirect_url` and `mcp.url`, without trailing slash.
    pub public_base: String,
    pub link_ttl: Duration,
    pub callback_allowlist: CallbackAllowlist,
    /// What outbound calls may reach: `AUTHLINK_ENDPOINT_ALLOWLIST` and `AUTHLINK_TENANT_ENDPOINTS`.
    pub outbound: OutboundPolicy,
    /// What a session's `experimental.link_url_overwrite` may name: `AUTHLINK_LINK_URL_ALLOWLIST`.
    pub link_url_allowlist: LinkUrlAllowlist,
    /// Browser origins besides the public one that may call the MCP endpoints: `AUTHLINK_MCP_ALLOWED_ORIGINS`.
    pub mcp_allowed_origins: OriginAllowlist,
}

impl Settings {
    pub fn from_args(args: &ServeArgs) -> Self {
        Self {
            public_base: args.public_base(),
            link_ttl: args.link_ttl(),
            callback_allowlist: args.callback_allowlist.clone(),
            outbound: args.outbound_policy(),
            link_url_allowlist: args.link_url_allowlist.clone(),
            mcp_allowed_origins: args.mcp_allowed_origins.clone(),
        }
    }

    /// Whether a session's `experimental.link_url_overwrite` may be the base of its links.
    pub fn link_url_allowed(&self, raw: &str) -> bool {
        self.link_url_allowlist.allows(raw, &self.public_base)
    }

    /// The OAuth redirect URI of a project, registered with its providers: the shared
    /// `{public}/oauth/callback` for the project without a redirect key, else
    /// `{public}/oauth/callback/{key}`.
    pub fn callback_uri(&self, redirect_key: Option<&str>) -> String {
        match redirect_key {
            Some(key) => format!("{}/oauth/callback/{key}", self.public_base),
            None => format!("{}/oauth/callback", self.public_base),
        }
    }
}

/// The dependencies of every service function.
pub struct ServiceContext {
    pub store: Arc<dyn Store>,
    pub catalog: Catalog,
    pub sealer: Sealer,
    pub settings: Settings,
    pub oauth: OAuthClient,
}

impl ServiceContext {
    /// Fails only when the HTTP client's TLS backend cannot be set up (a startup error).
    pub fn try_new(
        store: Arc<dyn Store>,
        catalog: Catalog,
        sealer: Sealer,
        settings: Settings,
    ) -> Result<Self, reqwest::Error> {
        let oauth = OAuthClient::new(settings.outbound.clone())?;
        Ok(Self { store, catalog, sealer, settings, oauth })
    }

    /// Like [`Self::try_new`]; should the TLS backend fail, the OAuth client refuses every call
    /// (the failure is logged) instead of panicking. `authlink serve` uses `try_new` and stops.
    pub fn new(store: Arc<dyn Store>, catalog: Catalog, sealer: Sealer, settings: Settings) -> Self {
        let oauth = OAuthClient::new(settings.outbound.clone()).unwrap_or_else(|e| {
            tracing::error!(error = %e, "cannot build the outbound HTTP client; token endpoint calls will fail");
            OAuthClient::disabled()
        });
        Self { store, catalog, sealer, settings, oauth }
    }
}
