//! `GET /metrics` (Prometheus text format) and the middleware that measures every request.
//!
//! With `AUTHLINK_METRICS_TOKEN` set, a scrape must send `Authorization: Bearer <token>`;
//! anything else is 401. Without it the endpoint is open (bind it to a private network, or
//! set the token). Not rate limited, like the probes.

use std::time::Instant;

use axum::{
    extract::{MatchedPath, Request, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use sha2::{Digest, Sha256};

use crate::{AppState, error::ApiError, telemetry};

/// The content type of the Prometheus text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `GET /metrics`.
#[utoipa::path(get, path = "/metrics", tag = "health", operation_id = "metrics",
    responses(
        (status = 200, description = "Prometheus text exposition format (version 0.0.4)", content_type = "text/plain", body = String),
        (status = 401, description = "AUTHLINK_METRICS_TOKEN is set and the request's bearer token is not it", body = crate::error::ErrorEnvelope),
    ))]
pub async fn scrape(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(expected) = state.metrics_token.as_deref() {
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        // Compared as digests, so the time taken says nothing about the token.
        let matches = presented.is_some_and(|p| Sha256::digest(p.as_bytes()) == Sha256::digest(expected.as_bytes()));
        if !matches {
            let mut response = ApiError::BadRequest("A valid metrics bearer token is required.".into()).into_response();
            *response.status_mut() = StatusCode::UNAUTHORIZED;
            if let Some(envelope) = response.extensions_mut().get_mut::<crate::error::ErrorEnvelope>() {
                envelope.error.status = 401;
                envelope.error.code = 10401;
                envelope.error.slug = "HTTP_Unauthorized";
            }
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return response;
        }
    }
    telemetry::pool(state.store.pool_stats());
    let body = telemetry::render().unwrap_or_default();
    ([(header::CONTENT_TYPE, CONTENT_TYPE), (header::CACHE_CONTROL, "no-store")], body).into_response()
}

/// Counts and times every request by method, matched route and status.
pub async fn track(request: Request, next: Next) -> Response {
    let route =
        request.extensions().get::<MatchedPath>().map_or_else(|| "<unmatched>".to_owned(), |p| p.as_str().to_owned());
    let method = method_label(request.method());
    let started = Instant::now();
    telemetry::in_flight(1.0);
    let response = next.run(request).await;
    telemetry::in_flight(-1.0);
    telemetry::http_request(method, route, response.status().as_u16(), started.elapsed());
    response
}

/// The method as a label from a fixed set (a client may send any token as a method).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PATCH => "PATCH",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}
