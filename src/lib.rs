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

use crate::{api_keys::ApiKeyCache, catalog::Catalog, crypto::Sealer, store::Store};

pub use service::context::{ServiceContext, Settings};

/// What a request handler may need, cheap to clone: the services' context, plus what only the
/// HTTP layer uses (the API-key cache). Derefs to the [`ServiceContext`], so handlers pass
/// `&state` where a service wants `&ServiceContext`.
#[derive(Clone)]
pub struct AppState {
    services: Arc<ServiceContext>,
    pub api_keys: Arc<ApiKeyCache>,
}

impl AppState {
    pub fn new(store: Arc<dyn Store>, catalog: Catalog, sealer: Sealer, settings: Settings) -> Self {
        Self::from_context(ServiceContext::new(store, catalog, sealer, settings))
    }

    /// As `new`, but failing when the outbound HTTP client cannot be built (used by `serve`).
    pub fn try_new(
        store: Arc<dyn Store>,
        catalog: Catalog,
        sealer: Sealer,
        settings: Settings,
    ) -> Result<Self, reqwest::Error> {
        Ok(Self::from_context(ServiceContext::try_new(store, catalog, sealer, settings)?))
    }

    fn from_context(services: ServiceContext) -> Self {
        Self { services: Arc::new(services), api_keys: Arc::new(ApiKeyCache::default()) }
    }
}

impl Deref for AppState {
    type Target = ServiceContext;
    fn deref(&self) -> &ServiceContext {
        &self.services
    }
}

/// Persists EXPIRED on unfinished accounts whose link ran out, every `every`. Reads already show
/// them as EXPIRED; this makes the stored state (and anything reading the table) agree.
pub fn spawn_sweeper(ctx: &ServiceContext, every: Duration) -> tokio::task::JoinHandle<()> {
    let store = ctx.store.clone();
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
