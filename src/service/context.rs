//! What the services work with, handed to them as one value instead of the HTTP layer's state:
//! the store, the sealer, the catalog, the settings and the OAuth client. The CLI, the sweeper
//! and the tests can build one without axum.

use std::{sync::Arc, time::Duration};

use crate::{
    catalog::Catalog, config::ServeArgs, crypto::Sealer, domain::CallbackAllowlist, service::oauth::OAuthClient,
    store::Store,
};

/// Runtime settings the services read.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Base of `redirect_url` and `mcp.url`, without trailing slash.
    pub public_base: String,
    pub link_ttl: Duration,
    pub callback_allowlist: CallbackAllowlist,
}

impl Settings {
    pub fn from_args(args: &ServeArgs) -> Self {
        Self {
            public_base: args.public_base(),
            link_ttl: args.link_ttl(),
            callback_allowlist: args.callback_allowlist.clone(),
        }
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
    pub fn new(store: Arc<dyn Store>, catalog: Catalog, sealer: Sealer, settings: Settings) -> Self {
        Self { store, catalog, sealer, settings, oauth: OAuthClient::new() }
    }
}
