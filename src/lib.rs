//! authlink: a self-hosted auth-link broker, wire-compatible with Composio's v3/v3.1 API.
//!
//! The request path is `http` (routing, extraction, response shapes) → `service` (the rules) →
//! `store` (SQL). [`app`] builds the whole router from an [`AppState`]; `main` and the tests
//! share it, and [`serve`] runs it on any listener with graceful shutdown.
#![forbid(unsafe_code)]

pub mod api_keys;
pub mod bootstrap;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod domain;
pub mod error;
pub mod http;
pub mod outbound;
pub mod service;
pub mod store;

use std::{future::Future, ops::Deref, sync::Arc, time::Duration};

use tokio::net::TcpListener;

pub use http::app;

use crate::{
    api_keys::ApiKeyCache, catalog::Catalog, config::ServeArgs, crypto::Sealer, domain::CallbackAllowlist, store::Store,
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
}

/// Everything a request handler may need, cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

/// The shared parts behind [`AppState`].
pub struct Inner {
    pub store: Arc<dyn Store>,
    pub catalog: Catalog,
    pub sealer: Sealer,
    pub settings: Settings,
    pub api_keys: ApiKeyCache,
    pub oauth: service::oauth::OAuthClient,
}

impl AppState {
    pub fn new(store: Arc<dyn Store>, catalog: Catalog, sealer: Sealer, settings: Settings) -> Self {
        Self(Arc::new(Inner {
            store,
            catalog,
            sealer,
            settings,
            api_keys: ApiKeyCache::default(),
            oauth: service::oauth::OAuthClient::new(),
        }))
    }
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// Persists EXPIRED on unfinished accounts whose link ran out, every `every`. Reads already show
/// them as EXPIRED; this makes the stored state (and anything reading the table) agree.
pub fn spawn_sweeper(state: &AppState, every: Duration) -> tokio::task::JoinHandle<()> {
    let store = state.store.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            match store.expire_stale_initiations().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(accounts = n, "expired unfinished connections"),
                Err(e) => tracing::warn!(error = %e, "expiry sweep failed"),
            }
        }
    })
}

/// Serves the app on `listener` until `shutdown` resolves, then drains in-flight requests.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(state)).with_graceful_shutdown(shutdown).await
}
