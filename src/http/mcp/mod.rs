//! The MCP endpoints, on `rmcp`'s Streamable HTTP transport: `/mcp` (management, the project's
//! API key) and `/tool_router/{session_id}/mcp` (a session's `mcp.url`, its connection meta
//! tools). Both run stateless (no `Mcp-Session-Id`, every POST answered on its own with a JSON
//! body), so any authlink process behind a load balancer can answer any request.
//!
//! Before a request reaches the transport this module checks, in order: the `Origin` header
//! (DNS-rebinding defence: only the public origin and `AUTHLINK_MCP_ALLOWED_ORIGINS`), the API
//! key (`x-api-key`, or `Authorization: Bearer ak_…`), and for the session endpoint that the
//! session exists in the key's project. Each refusal is a plain HTTP error in the contract's
//! envelope; everything after is JSON-RPC.

mod management;
mod schema;
mod server;
mod session;

use std::sync::Arc;

use axum::{
    extract::{FromRequestParts, Request, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    response::{IntoResponse, Response},
};
use rmcp::transport::streamable_http_server::{
    StreamableHttpServerConfig, StreamableHttpService, session::never::NeverSessionManager,
};
use tower::ServiceExt;

use super::{
    extract::{PathId, Project},
    request_id::RequestId,
};
use crate::{
    AppState,
    domain::SessionId,
    error::{ApiError, ErrorEnvelope},
    service::sessions,
};

pub use server::{Caller, McpServer};
pub use session::{execute_meta_tool, meta_tool_definitions};

/// Whether `path` is one of the MCP endpoints (they are rate-limited like the API).
pub fn is_mcp_path(path: &str) -> bool {
    path == "/mcp"
        || path
            .strip_prefix("/tool_router/")
            .and_then(|rest| rest.strip_suffix("/mcp"))
            .is_some_and(|id| !id.is_empty() && !id.contains('/'))
}

/// The key of an `Authorization: Bearer …` header, which MCP clients configured with a bearer
/// token send instead of `x-api-key`.
pub fn bearer_key(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The management endpoint: the API's operations as MCP tools, `tool_router.session.link.create`
/// with the published input schema among them.
#[utoipa::path(post, path = "/mcp", tag = "mcp", operation_id = "mcp_management",
    request_body(content = Object, description = "A JSON-RPC 2.0 message of the Model Context Protocol (Streamable HTTP, stateless)"),
    responses(
        (status = 200, description = "The JSON-RPC response (`application/json`)"),
        (status = 202, description = "A notification or response was accepted"),
        (status = 400, description = "The body is not a JSON-RPC message: a JSON-RPC error with the envelope as `data`", body = Object),
        (status = 413, description = "The body is over the size limit: a JSON-RPC error", body = Object),
        (status = 401, body = ErrorEnvelope),
        (status = 403, description = "`Origin` not allowed", body = ErrorEnvelope),
        (status = 406, description = "`Accept` does not name both `application/json` and `text/event-stream`: a JSON-RPC error", body = Object),
        (status = 415, description = "The body is not `application/json`: a JSON-RPC error", body = Object),
    ))]
pub async fn management(State(state): State<AppState>, request: Request) -> Response {
    let (mut parts, body) = request.into_parts();
    let project = match admit(&state, &mut parts).await {
        Ok(project) => project,
        Err(e) => return e.into_response(),
    };
    let caller = Caller::Management { project };
    forward(state, caller, Request::from_parts(parts, body)).await
}

/// A session's `mcp.url`: Composio's connection meta tools, scoped to the session's user,
/// toolkits, auth configs and pins.
#[utoipa::path(post, path = "/tool_router/{session_id}/mcp", tag = "mcp", operation_id = "mcp_session",
    params(("session_id" = String, Path, description = "`trs_…` session id")),
    request_body(content = Object, description = "A JSON-RPC 2.0 message of the Model Context Protocol (Streamable HTTP, stateless)"),
    responses(
        (status = 200, description = "The JSON-RPC response (`application/json`)"),
        (status = 202, description = "A notification or response was accepted"),
        (status = 400, description = "Malformed session id (the envelope), or a body that is not a JSON-RPC message (a JSON-RPC error with the envelope as `data`)", body = Object),
        (status = 413, description = "The body is over the size limit: a JSON-RPC error", body = Object),
        (status = 401, body = ErrorEnvelope),
        (status = 403, description = "`Origin` not allowed", body = ErrorEnvelope),
        (status = 404, description = "Session not found in the key's project (or deleted)", body = ErrorEnvelope),
        (status = 406, description = "`Accept` does not name both `application/json` and `text/event-stream`: a JSON-RPC error", body = Object),
        (status = 415, description = "The body is not `application/json`: a JSON-RPC error", body = Object),
    ))]
pub async fn session_endpoint(State(state): State<AppState>, request: Request) -> Response {
    let (mut parts, body) = request.into_parts();
    let project = match admit(&state, &mut parts).await {
        Ok(project) => project,
        Err(e) => return e.into_response(),
    };
    let id = match super::extract::IdPath::<SessionId>::from_request_parts(&mut parts, &state).await {
        Ok(super::extract::IdPath(id)) => id,
        Err(rejection) => return rejection,
    };
    let session = match sessions::get(&state, project.0, &id).await {
        Ok(session) => session,
        Err(e) => return e.into_response(),
    };
    let caller = Caller::Session { project, session: Box::new(session) };
    forward(state, caller, Request::from_parts(parts, body)).await
}

/// The `Origin` check, then the API key (a bearer token counts as `x-api-key`).
async fn admit(state: &AppState, parts: &mut axum::http::request::Parts) -> Result<Project, ApiError> {
    if let Some(origin) = parts.headers.get(header::ORIGIN) {
        let raw = origin.to_str().unwrap_or("");
        if !state.settings.mcp_allowed_origins.allows(raw, &state.settings.public_base) {
            return Err(ApiError::OriginNotAllowed(raw.chars().take(200).collect()));
        }
    }
    let keyless = ["x-api-key", "x-user-api-key", "x-org-api-key"].iter().all(|h| !parts.headers.contains_key(*h));
    if keyless {
        if let Some(key) = bearer_key(&parts.headers).and_then(|k| HeaderValue::from_str(k).ok()) {
            parts.headers.insert("x-api-key", key);
        }
    }
    Project::from_request_parts(parts, state).await
}

/// Hands the request to a fresh stateless `rmcp` service for this caller.
async fn forward(state: AppState, caller: Caller, request: Request) -> Response {
    let request_id = request.extensions().get::<RequestId>().map(|r| r.0.clone()).unwrap_or_default();
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, super::extract::MAX_BODY_BYTES).await else {
        let error = ApiError::field("body", format!("must be at most {} bytes", super::extract::MAX_BODY_BYTES));
        return jsonrpc_error(StatusCode::PAYLOAD_TOO_LARGE, PARSE_ERROR, &error, &request_id);
    };
    let parse_error =
        (parts.method == Method::POST).then(|| serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).err()).flatten();
    if let Some(e) = parse_error {
        let error = ApiError::field("body", format!("is not valid JSON ({e})"));
        return jsonrpc_error(StatusCode::BAD_REQUEST, PARSE_ERROR, &error, &request_id);
    }
    if parts.method == Method::POST && super::extract::holds_nul(&bytes) {
        return jsonrpc_error(StatusCode::BAD_REQUEST, INVALID_REQUEST, &super::extract::nul_in_body(), &request_id);
    }
    // A JSON body that is no JSON-RPC message is a bad request; the transport would call it
    // an unsupported media type (415), which it is not.
    // Before parsing: a request whose id is `3.0` would otherwise be read as a notification.
    let bytes = if parts.method == Method::POST { whole_number_id(&bytes).unwrap_or(bytes) } else { bytes };
    let not_a_message = (parts.method == Method::POST)
        .then(|| serde_json::from_slice::<rmcp::model::ClientJsonRpcMessage>(&bytes).err())
        .flatten();
    if let Some(e) = not_a_message {
        let error = ApiError::field("body", format!("is not a JSON-RPC 2.0 message ({e})"));
        return jsonrpc_error(StatusCode::BAD_REQUEST, INVALID_REQUEST, &error, &request_id);
    }
    let handler = McpServer::new(state.clone(), caller, request_id.clone());
    let config = StreamableHttpServerConfig::default()
        .with_stateful_mode(false)
        .with_json_response(true)
        .with_sse_keep_alive(None)
        // `Origin` was checked above against the operator's list; `Host` is whatever the reverse
        // proxy in front sends, and the API key is required anyway.
        .disable_allowed_hosts()
        .disable_allowed_origins();
    let service =
        StreamableHttpService::new(move || Ok(handler.clone()), Arc::new(NeverSessionManager::default()), config);
    let response = match service.oneshot(Request::from_parts(parts, axum::body::Body::from(bytes))).await {
        Ok(response) => response.map(axum::body::Body::new),
        Err(never) => match never {},
    };
    let json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/event-stream"));
    if response.status().is_success() || json {
        return response;
    }
    // The transport's own refusals (not a JSON-RPC message, wrong content type or `Accept`,
    // unknown protocol version) are plain text: answer them as JSON-RPC errors instead, with the
    // transport's status and words, and the contract's envelope as `data`.
    let status = response.status();
    let text = match axum::body::to_bytes(response.into_body(), 4096).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(_) => status.to_string(),
    };
    jsonrpc_error(status, INVALID_REQUEST, &ApiError::BadRequest(text), &request_id)
}

/// The message with its integers (`id`, an error's `code`) written as whole floats (`7.0`) as
/// the integers they are, when that makes it a message: JSON (and JSON Schema's `integer`) count
/// `7.0` as 7, the transport's parser only `7`. The answer then carries `"id": 7`, the same
/// JSON number.
fn whole_number_id(bytes: &[u8]) -> Option<axum::body::Bytes> {
    let mut message: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    let mut changed = false;
    for pointer in ["/id", "/error/code"] {
        let Some(value) = message.pointer_mut(pointer) else { continue };
        let whole = value
            .as_f64()
            .filter(|f| value.as_i64().is_none() && f.fract() == 0.0 && f.abs() <= 9_007_199_254_740_992.0);
        if let Some(whole) = whole {
            #[expect(clippy::cast_possible_truncation, reason = "a whole number within ±2^53, checked above")]
            let integer = whole as i64;
            *value = integer.into();
            changed = true;
        }
    }
    if !changed {
        return None;
    }
    let fixed = serde_json::to_vec(&message).ok()?;
    serde_json::from_slice::<rmcp::model::ClientJsonRpcMessage>(&fixed).ok()?;
    Some(fixed.into())
}

/// JSON-RPC's codes for a body that is not JSON, and for JSON that is not a valid request.
const PARSE_ERROR: i32 = -32700;
const INVALID_REQUEST: i32 = -32600;

fn jsonrpc_error(status: StatusCode, code: i32, error: &ApiError, request_id: &str) -> Response {
    let envelope = api_envelope(error, request_id);
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": {"code": code, "message": envelope.error.message, "data": envelope},
    });
    (status, axum::Json(body)).into_response()
}

/// The error envelope a rejected request renders as (extractors answer with a response that
/// keeps its envelope in the extensions), with the request's id: what a tool error carries.
fn envelope_of(response: &Response, request_id: &str) -> ErrorEnvelope {
    let mut envelope = response
        .extensions()
        .get::<ErrorEnvelope>()
        .cloned()
        .unwrap_or_else(|| ApiError::Internal("a rejection without an error envelope".into()).envelope());
    request_id.clone_into(&mut envelope.error.request_id);
    envelope
}

/// The envelope of a failed tool call, with the request's id; internal causes are logged here,
/// as the HTTP layer logs them for a failed request.
fn api_envelope(error: &ApiError, request_id: &str) -> ErrorEnvelope {
    match error {
        ApiError::Internal(cause) => tracing::error!(error.cause = %cause, "MCP tool call failed"),
        ApiError::Unavailable => tracing::warn!("MCP tool call answered unavailable"),
        other => tracing::info!(error.message = %other, "MCP tool call rejected"),
    }
    let mut envelope = error.envelope();
    request_id.clone_into(&mut envelope.error.request_id);
    envelope
}

/// Parses a tool's id argument as the REST path parameter of the same name is parsed.
fn id_argument<T: PathId>(
    args: &serde_json::Map<String, serde_json::Value>,
    name: &str,
    request_id: &str,
) -> Result<T, ErrorEnvelope> {
    let parts = Request::new(()).into_parts().0;
    match args.get(name) {
        None | Some(serde_json::Value::Null) => Err(api_envelope(&ApiError::field(name, "is required"), request_id)),
        Some(serde_json::Value::String(raw)) => {
            T::from_path(name, Some(raw), &parts).map_err(|response| envelope_of(&response, request_id))
        }
        Some(_) => Err(api_envelope(&ApiError::field(name, "must be a string"), request_id)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_float_ids_are_integers() {
        let fixed = whole_number_id(br#"{"jsonrpc":"2.0","id":7.0,"method":"ping"}"#).unwrap();
        assert_eq!(serde_json::from_slice::<serde_json::Value>(&fixed).unwrap()["id"], 7);
        let fixed = whole_number_id(br#"{"jsonrpc":"2.0","id":"a","error":{"code":-568.0,"message":"m"}}"#).unwrap();
        assert_eq!(serde_json::from_slice::<serde_json::Value>(&fixed).unwrap()["error"]["code"], -568);
        for bad in [
            &br#"{"jsonrpc":"2.0","id":7.5,"method":"ping"}"#[..],
            br#"{"jsonrpc":"1.0","id":7.0,"method":"ping"}"#,
            b"[]",
        ] {
            assert!(whole_number_id(bad).is_none(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn mcp_paths() {
        assert!(is_mcp_path("/mcp"));
        assert!(is_mcp_path("/tool_router/trs_abc/mcp"));
        for other in ["/mcp/", "/tool_router//mcp", "/tool_router/a/b/mcp", "/api/v3/mcp", "/tool_router/mcp"] {
            assert!(!is_mcp_path(other), "{other}");
        }
    }

    #[test]
    fn bearer_keys() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer_key(&h), None);
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer ak_x"));
        assert_eq!(bearer_key(&h), Some("ak_x"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("bearer  ak_y "));
        assert_eq!(bearer_key(&h), Some("ak_y"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer_key(&h), None);
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer "));
        assert_eq!(bearer_key(&h), None);
    }
}
