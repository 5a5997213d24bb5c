//! The HTTP layer: one module per resource, each exposing its handlers; [`app`] wires them under
//! both `/api/v3` and `/api/v3.1` (contract §1, §12) plus health and OpenAPI routes.

pub mod audit;
pub mod auth_configs;
pub mod common;
pub mod connect;
pub mod connected_accounts;
pub mod extract;
pub mod health;
pub mod links;
pub mod openapi;
pub mod request_id;
pub mod session_toolkits;
pub mod sessions;

use std::time::Duration;

use axum::{
    Extension, Router,
    extract::{DefaultBodyLimit, MatchedPath, Request},
    http::{Method, StatusCode, Uri},
    middleware,
    response::IntoResponse,
    routing::{get, post},
};
use tower_http::{catch_panic::CatchPanicLayer, timeout::TimeoutLayer, trace::TraceLayer};

use crate::{AppState, error::ApiError};

/// Which API generation a request came in on; v3 echoes session pins as scalars, v3.1 as arrays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiVersion {
    V3,
    V31,
}

/// Requests taking longer are answered 408 so graceful shutdown cannot hang on them.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The resource routes, mounted once per API version.
fn api_routes(version: ApiVersion) -> Router<AppState> {
    Router::new()
        .route("/tool_router/session", post(sessions::create))
        .route("/tool_router/session/{id}", get(sessions::get).patch(sessions::update).delete(sessions::delete))
        .route("/tool_router/session/{id}/link", post(links::create_for_session))
        .route("/tool_router/session/{id}/toolkits", get(session_toolkits::list))
        .route("/auth_configs", post(auth_configs::create).get(auth_configs::list))
        .route("/auth_configs/{id}", get(auth_configs::get))
        .route("/connected_accounts", get(connected_accounts::list).post(connected_accounts::legacy_create))
        .route("/connected_accounts/link", post(links::create_for_user))
        .route(
            "/connected_accounts/{id}",
            get(connected_accounts::get).patch(connected_accounts::update).delete(connected_accounts::delete),
        )
        .route("/connected_accounts/{id}/audit", get(audit::list))
        .route("/connected_accounts/{id}/refresh", post(connected_accounts::refresh))
        .method_not_allowed_fallback(method_not_allowed)
        .layer(Extension(version))
}

/// The whole application. Shared by `main` and the tests.
pub fn app(state: AppState) -> Router {
    Router::new()
        .nest("/api/v3.1", api_routes(ApiVersion::V31))
        .nest("/api/v3", api_routes(ApiVersion::V3))
        .route("/link/{token}", get(connect::link_page))
        .route("/link/{token}/continue", post(connect::start))
        .route("/oauth/callback", get(connect::callback))
        .route("/assets/authlink.css", get(connect::stylesheet))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/openapi.json", get(openapi::document))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        .layer(DefaultBodyLimit::max(extract::MAX_BODY_BYTES))
        .layer(CatchPanicLayer::custom(|_| ApiError::Internal("handler panicked".into()).into_response()))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, REQUEST_TIMEOUT))
        .layer(TraceLayer::new_for_http().make_span_with(make_span))
        .layer(middleware::from_fn(request_id::assign))
}

/// One span per request, keyed on the matched route (low cardinality) and the request id.
fn make_span(request: &Request) -> tracing::Span {
    let route = request.extensions().get::<MatchedPath>().map_or("<unmatched>", MatchedPath::as_str);
    let id = request.extensions().get::<request_id::RequestId>().map_or("", |r| r.0.as_str());
    tracing::info_span!("http", method = %request.method(), route, request_id = id)
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::RouteNotFound(uri.path().chars().take(200).collect())
}

async fn method_not_allowed(method: Method) -> ApiError {
    ApiError::MethodNotAllowed(method.to_string())
}
