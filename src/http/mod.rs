//! The HTTP layer: one module per resource, each exposing its handlers; [`app`] wires them under
//! both `/api/v3` and `/api/v3.1` (contract §1, §12), plus the health probes, the OpenAPI
//! document and the end user's connect pages (`connect`), which take no API key.

pub mod api_keys;
pub mod audit;
pub mod auth_configs;
pub mod common;
pub mod completion;
pub mod connect;
pub mod connect_form;
pub mod connected_accounts;
pub mod docs;
pub mod extract;
pub mod health;
pub mod idempotency;
pub mod limits;
pub mod links;
pub mod mcp;
pub mod metrics;
pub mod openapi;
mod openapi_bodies;
mod openapi_deployment;
mod openapi_params;
pub mod pages;
pub mod request_id;
pub mod session_toolkits;
pub mod session_tools;
pub mod sessions;
pub mod toolkits;
mod webhook_schemas;
pub mod webhooks;

use std::time::Duration;

use axum::{
    Extension, Router,
    extract::{DefaultBodyLimit, MatchedPath, Request},
    http::{HeaderValue, Method, StatusCode, Uri, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
};
use tower_http::{catch_panic::CatchPanicLayer, timeout::TimeoutLayer, trace::TraceLayer};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{AppState, error::ApiError};
use idempotency::idempotent;

/// Which API generation a request came in on; v3 echoes session pins as scalars, v3.1 as arrays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiVersion {
    V3,
    V31,
}

/// Requests taking longer are answered 408 so graceful shutdown cannot hang on them.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The resource routes, mounted once per API version. Each `routes!` call registers one path
/// with every handler serving it, and documents them from their `#[utoipa::path]`.
fn api_routes(version: ApiVersion) -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(idempotent(routes!(sessions::create)))
        .routes(routes!(sessions::get, sessions::update, sessions::delete))
        .routes(idempotent(routes!(links::create_for_session)))
        .routes(routes!(session_toolkits::list))
        .routes(idempotent(routes!(auth_configs::create, auth_configs::list)))
        .routes(routes!(auth_configs::get, auth_configs::lifecycle::update, auth_configs::lifecycle::delete))
        .routes(idempotent(routes!(connected_accounts::list, connected_accounts::legacy::legacy_create)))
        .routes(idempotent(routes!(links::create_for_user)))
        .routes(routes!(completion::complete_auth))
        .routes(routes!(connected_accounts::get, connected_accounts::update, connected_accounts::delete))
        .routes(routes!(audit::list))
        .routes(routes!(connected_accounts::refresh))
        .routes(idempotent(routes!(api_keys::list, api_keys::create)))
        .routes(routes!(api_keys::revoke))
        .routes(routes!(toolkits::list))
        .routes(routes!(toolkits::get))
        .routes(routes!(toolkits::multi))
        .routes(routes!(toolkits::categories))
        .routes(routes!(toolkits::changelog))
        .routes(routes!(toolkits::recommend_scopes))
        .routes(routes!(toolkits::grant_context))
        .routes(routes!(auth_configs::lifecycle::update_status))
        .routes(routes!(connected_accounts::lifecycle::update_status))
        .routes(routes!(connected_accounts::lifecycle::revoke))
        .routes(routes!(session_tools::list))
        .routes(routes!(session_tools::execute))
        .routes(routes!(session_tools::execute_meta))
        .routes(idempotent(routes!(webhooks::create, webhooks::list)))
        .routes(routes!(webhooks::event_types))
        .routes(routes!(webhooks::get, webhooks::update, webhooks::delete))
        .routes(routes!(webhooks::rotate_secret))
        .routes(routes!(webhooks::deliveries))
        .routes(routes!(webhooks::replay))
        .routes(routes!(pages::branding::get, pages::branding::update))
        .routes(routes!(pages::branding::put_logo, pages::branding::delete_logo))
        .layer(Extension(version))
}

/// Every route with its documentation: the one list of what authlink serves. The served router
/// and the OpenAPI document are the two halves of its [`OpenApiRouter::split_for_parts`].
pub fn routes() -> OpenApiRouter<AppState> {
    let mut v3 = api_routes(ApiVersion::V3);
    openapi::suffix_operation_ids(v3.get_openapi_mut(), "_v3");
    OpenApiRouter::with_openapi(openapi::base())
        .nest("/api/v3.1", api_routes(ApiVersion::V31))
        .nest("/api/v3", v3)
        .routes(routes!(connect::link_page))
        .routes(routes!(connect::start))
        .routes(routes!(connect_form::submit))
        .routes(routes!(connect::callback))
        .routes(routes!(connect::callback_for_project))
        .routes(routes!(connect::stylesheet))
        .routes(routes!(pages::assets::accent))
        .routes(routes!(pages::assets::logo))
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(openapi::document))
        .routes(routes!(mcp::management))
        .routes(routes!(mcp::session_endpoint))
        .routes(routes!(metrics::scrape))
        .routes(routes!(docs::page))
        .routes(routes!(docs::bundle))
        .routes(routes!(docs::stylesheet))
        .routes(routes!(docs::init))
}

/// The OpenAPI document of everything [`app`] serves.
pub fn spec() -> utoipa::openapi::OpenApi {
    openapi::finish(routes().split_for_parts().1)
}

/// The whole application. Shared by `main` and the tests.
pub fn app(state: AppState) -> Router {
    crate::telemetry::init();
    crate::i18n::load();
    let (router, doc) = routes().split_for_parts();
    let mut doc = openapi::finish(doc);
    openapi_deployment::add(&mut doc, &state.catalog, &state.settings);
    let document = openapi::Document::new(&doc);
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(Extension(document))
        // For per-route middleware, which runs without the router's state (`idempotency`).
        .layer(Extension(state.clone()))
        .with_state(state.clone())
        .layer(middleware::from_fn(extract::refuse_nul_in_query))
        .layer(DefaultBodyLimit::max(extract::MAX_BODY_BYTES))
        .layer(CatchPanicLayer::custom(|_| ApiError::Internal("handler panicked".into()).into_response()))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, REQUEST_TIMEOUT))
        .layer(middleware::from_fn_with_state(state, limits::enforce))
        .layer(TraceLayer::new_for_http().make_span_with(make_span))
        .layer(middleware::from_fn(metrics::track))
        .layer(middleware::from_fn(request_id::assign))
        .layer(middleware::from_fn(api_headers))
}

/// Every response under `/api` (link tokens, redirect URLs, account state; errors, 404s and
/// answers of the outer layers included) is `Cache-Control: no-store`, so no browser or proxy
/// keeps a copy, and `X-Content-Type-Options: nosniff`, so none is ever read as HTML.
async fn api_headers(request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let api = path == "/api" || path.starts_with("/api/");
    let has_body = request.headers().contains_key(header::TRANSFER_ENCODING)
        || request.headers().get(header::CONTENT_LENGTH).is_some_and(|v| v.as_bytes() != b"0");
    let mut response = next.run(request).await;
    // A request refused before its body was read (a malformed path id, a missing key, a limit)
    // leaves hyper unable to reuse the connection, and it closes it after the answer. Saying so
    // keeps a client from sending its next request down that dying connection (it would see
    // "server disconnected" instead of an answer).
    if has_body && (response.status().is_client_error() || response.status().is_server_error()) {
        response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    if api {
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    }
    response
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

#[cfg(test)]
mod tests {
    /// The router is built here only through `routes!`, which documents what it registers; a
    /// plain axum registration would serve a route the document does not list.
    #[test]
    fn routes_are_registered_only_with_their_documentation() {
        let source = include_str!("mod.rs");
        let code = source.split("#[cfg(test)]").next().unwrap_or(source);
        for undocumented in [".route(", ".route_service(", ".nest_service(", ".merge(", ".fallback_service("] {
            assert!(!code.contains(undocumented), "src/http/mod.rs registers a route with `{undocumented}`");
        }
    }

    #[test]
    fn operation_ids_are_unique_and_every_api_route_is_in_both_versions() {
        let doc = super::spec();
        let mut ids = std::collections::BTreeSet::new();
        let json = serde_json::to_value(&doc).unwrap();
        for (path, item) in json["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let id = op["operationId"].as_str().unwrap_or_else(|| panic!("{method} {path}: no operationId"));
                assert!(ids.insert(id.to_owned()), "duplicate operationId {id}");
            }
            if let Some(rest) = path.strip_prefix("/api/v3.1/") {
                assert!(json["paths"][format!("/api/v3/{rest}")].is_object(), "{path} has no /api/v3 twin");
            }
        }
    }
}
