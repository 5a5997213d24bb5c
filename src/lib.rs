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
pub mod i18n;
pub mod outbound;
pub mod service;
pub mod store;
pub mod telemetry;

use std::{
    future::Future,
    net::SocketAddr,
    ops::Deref,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use axum::{
    extract::Request,
    http::{HeaderValue, header},
};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    server::graceful::GracefulShutdown,
};
use tokio::{net::TcpListener, sync::Semaphore};
use tower::{Service, ServiceExt};

pub use http::app;

use crate::{api_keys::ApiKeyCache, catalog::Catalog, crypto::Sealer, http::limits::Limits, store::Store};

pub use service::context::{ServiceContext, Settings};

/// What a request handler may need, cheap to clone: the services' context, plus what only the
/// HTTP layer uses (the API-key cache, the limits). Derefs to the [`ServiceContext`], so handlers pass
/// `&state` where a service wants `&ServiceContext`.
#[derive(Clone)]
pub struct AppState {
    services: Arc<ServiceContext>,
    pub api_keys: Arc<ApiKeyCache>,
    /// Rate limiters and listener limits, [`Limits::default`] unless set with [`Self::with_limits`].
    pub limits: Arc<Limits>,
    /// `AUTHLINK_METRICS_TOKEN`: the bearer token `GET /metrics` requires, if any.
    pub metrics_token: Option<Arc<str>>,
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
        Self {
            services: Arc::new(services),
            api_keys: Arc::new(ApiKeyCache::default()),
            limits: Arc::new(Limits::default()),
            metrics_token: None,
        }
    }

    /// The same state with `GET /metrics` requiring this bearer token.
    #[must_use]
    pub fn with_metrics_token(mut self, token: Option<&str>) -> Self {
        self.metrics_token = token.map(Arc::from);
        self
    }

    /// The services' context, shared, for background workers (webhook deliveries, refresh).
    pub fn services(&self) -> Arc<ServiceContext> {
        self.services.clone()
    }

    /// The same state with other rate limits and listener limits.
    #[must_use]
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = Arc::new(limits);
        self
    }
}

impl Deref for AppState {
    type Target = ServiceContext;
    fn deref(&self) -> &ServiceContext {
        &self.services
    }
}

/// Persists EXPIRED on unfinished accounts whose link ran out, every `every`. Reads already show
/// them as EXPIRED; this makes the stored state (and anything reading the table) agree. Also
/// deletes `Idempotency-Key` records past their 24 h (a lapsed one is ignored meanwhile).
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
            let lapsed = chrono::Duration::from_std(http::idempotency::LIFETIME).map(|d| chrono::Utc::now() - d);
            if let Ok(before) = lapsed {
                match store.purge_idempotency_keys(before).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(keys = n, "purged lapsed idempotency keys"),
                    Err(e) => tracing::warn!(error = %e, "idempotency key purge failed"),
                }
            }
        }
    })
}

/// The shutdown drain (issue 17 item 2), once the listener is closed (new connections are
/// refused): every response from now on says `Connection: close`, so each kept-alive connection
/// ends after its next answer. For a short grace (a quarter of the drain, at most 1 s) idle
/// connections stay open, so a request already on its way on one is read and answered rather
/// than cut; then idle connections are closed and in-flight requests finish, until `timeout`
/// after the signal at the latest.
async fn drain(graceful: GracefulShutdown, draining: &AtomicBool, timeout: Duration) {
    let started = tokio::time::Instant::now();
    draining.store(true, Ordering::Relaxed);
    let grace = (timeout / 4).min(Duration::from_secs(1));
    while graceful.count() > 0 && started.elapsed() < grace {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let open = graceful.count();
    if tokio::time::timeout_at(started + timeout, graceful.shutdown()).await.is_err() {
        tracing::warn!(connections = open, ?timeout, "drain time over: closing the remaining connections");
    }
}

/// Serves the app on `listener` until `shutdown` resolves, then drains (see [`drain`]).
///
/// HTTP/1.1 with keep-alive, through hyper directly rather than `axum::serve`, for the limits of
/// design §5 ([`Limits::server`]): a connection must send each request's headers within the
/// header-read timeout, counted from when it opens and again from each response, so neither a
/// slowloris client nor an idle keep-alive connection holds its slot longer; and at most
/// `max_connections` are open at once, the next ones waiting in the listen backlog. (HTTP/2
/// without TLS, which `axum::serve` would also speak, is not offered: its preface detection has
/// no timeout.) Each request carries the peer address as `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = state.limits.clone();
    let housekeeping = limits.clone().spawn_housekeeping();
    let mut make_service = app(state).into_make_service_with_connect_info::<SocketAddr>();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(limits.server.header_read_timeout).keep_alive(true);
    let slots = Arc::new(Semaphore::new(limits.server.max_connections));
    let graceful = GracefulShutdown::new();
    let draining = Arc::new(AtomicBool::new(false));
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.map_err(std::io::Error::other)?,
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors or a connection reset before accept: go on shortly.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let router = match make_service.call(peer).await {
            Ok(router) => router,
            Err(never) => match never {},
        };
        let draining = draining.clone();
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            let (router, draining) = (router.clone(), draining.clone());
            async move {
                let mut response = router.oneshot(request.map(axum::body::Body::new)).await?;
                if draining.load(Ordering::Relaxed) {
                    // hyper closes the connection after this response; the client knows not to
                    // send another request on it.
                    response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
                }
                Ok::<_, std::convert::Infallible>(response)
            }
        });
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    drain(graceful, &draining, limits.server.drain_timeout).await;
    housekeeping.abort();
    Ok(())
}
