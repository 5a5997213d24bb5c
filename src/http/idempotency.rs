//! `Idempotency-Key` on the creates (draft-ietf-httpapi-idempotency-key-header): a client that
//! lost a create's response (a timeout, a dropped connection) sends it again with the same key
//! and gets the first response back instead of a second resource.
//!
//! - The key is the header's value, bare or as a structured-field string (`"…"`): 1 to 255
//!   visible ASCII characters. It is stored only as `SHA-256(project id, key)`, so keys are per
//!   project and a database dump does not hold them.
//! - The request is fingerprinted (method, path, and the body with JSON object keys sorted, so
//!   formatting and key order do not matter). Within 24 h of the first use:
//!   - same key, same request, first one finished with a 2xx → its status and body are replayed,
//!     with `Idempotency-Replayed: true` ([`REPLAYED`]);
//!   - same key, different request → 422 `Idempotency_KeyReused`;
//!   - same key while the first request still runs → 409 `Idempotency_RequestInProgress` with
//!     `Retry-After: 1` and `x-should-retry: true`.
//! - A first request that fails (any non-2xx: nothing was created) releases the key, so a retry
//!   runs afresh. One that never finishes (the process died) holds the key for [`LEASE`], after
//!   which a retry of the same request takes it over.
//! - The handler runs in its own task: a client that disconnects does not cancel it, so the
//!   create and the record of its response both happen, and the retry finds them.
//! - The stored response is sealed with the [`Sealer`](crate::crypto::Sealer) (a link response
//!   holds a link token), with the key's hash as associated data; key rotation re-seals it.
//! - Records live in the database, so every process sharing it sees them; the sweeper deletes
//!   them after 24 h.
//!
//! A route opts in with one call where it is registered: `.routes(idempotent(routes!(h)))`. Only
//! its POST handler is affected; its document gains the header and the 409/422 answers.

use std::time::Duration;

use axum::{
    Extension,
    body::{Body, Bytes},
    extract::{FromRequest, FromRequestParts, OriginalUri, Request},
    http::{HeaderValue, Method, StatusCode, header, request::Parts},
    middleware::{self, Next},
    response::{IntoResponse, Response},
};
use sha2::{Digest, Sha256};
use utoipa::openapi::{
    ContentBuilder, ObjectBuilder, Ref, Required, ResponseBuilder, Type,
    header::HeaderBuilder,
    path::{Operation, ParameterBuilder, ParameterIn},
};
use utoipa_axum::router::UtoipaMethodRouter;

use super::extract::{Project, body_rejection};
use crate::{
    AppState,
    error::ApiError,
    store::{IdempotencyClaim, ProjectId},
};

/// The request header.
pub const HEADER: &str = "idempotency-key";
/// The response header that marks a replayed response (value `true`).
pub const REPLAYED: &str = "idempotency-replayed";
/// How long a key is remembered.
pub const LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);
/// How long a running request holds its key: longer than the request timeout, so only a request
/// whose process died loses it.
pub const LEASE: Duration = Duration::from_secs(60);
/// Longest accepted key.
pub const MAX_KEY_LEN: usize = 255;

/// Makes a route's POST handler idempotent under `Idempotency-Key` and documents it.
pub fn idempotent(route: UtoipaMethodRouter<AppState>) -> UtoipaMethodRouter<AppState> {
    let (schemas, mut paths, method_router) = route;
    for item in paths.paths.values_mut() {
        if let Some(operation) = item.post.as_mut() {
            document(operation);
        }
    }
    (schemas, paths, method_router.layer(middleware::from_fn(guard)))
}

/// The key of a header value: bare, or a structured-field string without escapes.
pub fn parse_key(value: &HeaderValue) -> Result<&str, ApiError> {
    let invalid = || ApiError::field("Idempotency-Key", format!("must be 1 to {MAX_KEY_LEN} visible ASCII characters"));
    let text = value.to_str().map_err(|_| invalid())?;
    let key = match text.strip_prefix('"') {
        Some(rest) => rest.strip_suffix('"').filter(|k| !k.contains(['"', '\\'])).ok_or_else(invalid)?,
        None => text,
    };
    let visible = key.bytes().all(|b| (0x20..0x7f).contains(&b)) && !key.trim().is_empty();
    if key.len() > MAX_KEY_LEN || !visible {
        return Err(invalid());
    }
    Ok(key)
}

/// What "the same request" means: method, path and the body (JSON canonicalized).
pub fn fingerprint(method: &Method, path: &str, body: &[u8]) -> Vec<u8> {
    let mut hasher = Sha256::new();
    hasher.update(method.as_str().as_bytes());
    hasher.update(b" ");
    hasher.update(path.as_bytes());
    hasher.update(b"\n");
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(value) => canonical(&value, &mut hasher),
        Err(_) => hasher.update(body),
    }
    hasher.finalize().to_vec()
}

/// Feeds `value` to the hasher with object keys in sorted order.
fn canonical(value: &serde_json::Value, hasher: &mut Sha256) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            hasher.update(b"{");
            for (key, item) in entries {
                hasher.update(Value::String(key.clone()).to_string().as_bytes());
                hasher.update(b":");
                canonical(item, hasher);
                hasher.update(b",");
            }
            hasher.update(b"}");
        }
        Value::Array(items) => {
            hasher.update(b"[");
            for item in items {
                canonical(item, hasher);
                hasher.update(b",");
            }
            hasher.update(b"]");
        }
        other => hasher.update(other.to_string().as_bytes()),
    }
}

/// Where a key's record lives: `SHA-256(project id, key)`.
fn key_hash(project: ProjectId, key: &str) -> Vec<u8> {
    let mut hasher = Sha256::new();
    hasher.update(project.0.as_bytes());
    hasher.update(key.as_bytes());
    hasher.finalize().to_vec()
}

/// The associated data the stored response is sealed with.
pub fn owner(key_hash: &[u8]) -> String {
    key_hash.iter().map(|b| format!("{b:02x}")).collect()
}

async fn guard(Extension(state): Extension<AppState>, request: Request, next: Next) -> Response {
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    let mut values = request.headers().get_all(HEADER).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        if request.headers().contains_key(HEADER) {
            return ApiError::field("Idempotency-Key", "must be sent once").into_response();
        }
        return next.run(request).await;
    };
    let key = match parse_key(value) {
        Ok(key) => key.to_owned(),
        Err(e) => return e.into_response(),
    };
    let (mut parts, body) = request.into_parts();
    let project = match Project::from_request_parts(&mut parts, &state).await {
        Ok(Project(project, _)) => project,
        Err(e) => return e.into_response(),
    };
    let (parts, bytes) = match read_body(parts, body).await {
        Ok(read) => read,
        Err(response) => return response,
    };
    let hash = key_hash(project, &key);
    // The path as the client sent it: a nested router sees it without the `/api/v3…` prefix.
    let path = parts.extensions.get::<OriginalUri>().map_or(parts.uri.path(), |uri| uri.0.path());
    let print = fingerprint(&parts.method, path, &bytes);
    let request = Request::from_parts(parts, Body::from(bytes));
    // From the claim on, the work runs in its own task: a client that disconnects drops this
    // future, and a claim without its request (or a create without its record) must not follow.
    let task = tokio::spawn(claim_and_run(state.clone(), project, hash.clone(), print, next, request));
    match task.await {
        Ok(response) => response,
        Err(e) => {
            release(&state, project, &hash).await;
            ApiError::internal(e).into_response()
        }
    }
}

async fn claim_and_run(
    state: AppState,
    project: ProjectId,
    hash: Vec<u8>,
    print: Vec<u8>,
    next: Next,
    request: Request,
) -> Response {
    let now = chrono::Utc::now();
    let (lease, lifetime) = (chrono::Duration::from_std(LEASE), chrono::Duration::from_std(LIFETIME));
    let (Ok(lease), Ok(lifetime)) = (lease, lifetime) else {
        return ApiError::Internal("idempotency durations out of range".into()).into_response();
    };
    let claim = state.store.claim_idempotency_key(project, &hash, &print, now, now + lease, now - lifetime).await;
    match claim {
        Err(e) => ApiError::from(e).into_response(),
        Ok(IdempotencyClaim::Mismatch) => ApiError::IdempotencyKeyReused.into_response(),
        Ok(IdempotencyClaim::InProgress) => ApiError::IdempotencyInProgress.into_response(),
        Ok(IdempotencyClaim::Done { status, response_sealed }) => replay(&state, &hash, status, &response_sealed),
        Ok(IdempotencyClaim::Claimed) => run_claimed(state, project, hash, next, request).await,
    }
}

/// Reads the whole body under the API's size limit (the `DefaultBodyLimit` of the router, as
/// for `ValidatedJson`), answering a failure as `ValidatedJson` would.
async fn read_body(parts: Parts, body: Body) -> Result<(Parts, Bytes), Response> {
    let bytes =
        Bytes::from_request(Request::from_parts(parts.clone(), body), &()).await.map_err(|r| body_rejection(&r))?;
    Ok((parts, bytes))
}

/// Runs the handler holding the claim, then records its response (2xx) or releases the key.
async fn run_claimed(state: AppState, project: ProjectId, hash: Vec<u8>, next: Next, request: Request) -> Response {
    let response = next.run(request).await;
    let (parts, body) = response.into_parts();
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => bytes,
        Err(e) => {
            release(&state, project, &hash).await;
            return ApiError::internal(e).into_response();
        }
    };
    if parts.status.is_success() {
        let content_type = parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        let mut record = Vec::with_capacity(content_type.len() + 1 + bytes.len());
        record.extend_from_slice(content_type.as_bytes());
        record.push(b'\n');
        record.extend_from_slice(&bytes);
        let sealed = state.sealer.seal(&owner(&hash), &record);
        finish(&state, project, &hash, parts.status.as_u16(), &sealed).await;
    } else {
        release(&state, project, &hash).await;
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// Records the response, retrying briefly: a record not written leaves the key held until its
/// lease ends, after which a retry would run the create again.
async fn finish(state: &AppState, project: ProjectId, hash: &[u8], status: u16, sealed: &str) {
    for attempt in 1..=5u32 {
        match state.store.finish_idempotency_key(project, hash, status, sealed).await {
            Ok(()) => return,
            Err(e) if attempt == 5 => tracing::error!(error = %e, "idempotency record not written"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100) * attempt).await,
        }
    }
}

async fn release(state: &AppState, project: ProjectId, hash: &[u8]) {
    if let Err(e) = state.store.release_idempotency_key(project, hash).await {
        tracing::warn!(error = %e, "idempotency key not released; it lapses with its lease");
    }
}

/// The first response again, marked as a replay.
fn replay(state: &AppState, hash: &[u8], status: u16, sealed: &str) -> Response {
    let opened = state.sealer.open(&owner(hash), sealed);
    let Ok(record) = opened else {
        return ApiError::Internal("stored idempotent response cannot be opened".into()).into_response();
    };
    let split = record.iter().position(|b| *b == b'\n').unwrap_or(0);
    let (content_type, body) = (&record[..split], record.get(split + 1..).unwrap_or_default());
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let mut response = (status, Body::from(body.to_vec())).into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_bytes(content_type) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    headers.insert(REPLAYED, HeaderValue::from_static("true"));
    crate::telemetry::idempotent_replay();
    response
}

/// Adds the header and the answers it brings to a create's documentation.
fn document(operation: &mut Operation) {
    let schema = ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(MAX_KEY_LEN))
        .pattern(Some("^[!-~]([ -~]*[!-~])?$"));
    let parameter = ParameterBuilder::new()
        .name("Idempotency-Key")
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(
            "Makes a retry of this create safe: the same key with the same request within 24 h replays the \
             first (2xx) response, marked `Idempotency-Replayed: true`. Per project.",
        ))
        .schema(Some(schema))
        .build();
    operation.parameters.get_or_insert_with(Vec::new).push(parameter);
    let envelope = || ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorEnvelope"))).build();
    let responses = &mut operation.responses.responses;
    let conflict = ResponseBuilder::new()
        .description("A conflict; or a request with this Idempotency-Key is still running (with Retry-After)")
        .content("application/json", envelope())
        .header("Retry-After", HeaderBuilder::new().schema(ObjectBuilder::new().schema_type(Type::Integer)).build())
        .build();
    responses.insert("409".to_owned(), conflict.into());
    let reused = ResponseBuilder::new()
        .description("The Idempotency-Key was used with a different request")
        .content("application/json", envelope())
        .build();
    responses.insert("422".to_owned(), reused.into());
    for (status, response) in responses.iter_mut() {
        if let (true, utoipa::openapi::RefOr::T(response)) = (status.starts_with('2'), response) {
            let marker = HeaderBuilder::new()
                .schema(ObjectBuilder::new().schema_type(Type::String).enum_values(Some(["true"])))
                .description(Some("`true` on a response replayed for a repeated Idempotency-Key"))
                .build();
            response.headers.insert("Idempotency-Replayed".to_owned(), marker);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_bare_or_quoted() {
        let parse = |v: &str| parse_key(&HeaderValue::from_str(v).unwrap()).map(str::to_owned).ok();
        assert_eq!(parse("abc-123").as_deref(), Some("abc-123"));
        assert_eq!(parse("\"8e03978e-40d5\"").as_deref(), Some("8e03978e-40d5"));
        assert_eq!(parse(&"k".repeat(255)).as_deref(), Some("k".repeat(255).as_str()));
        for bad in ["", " ", "\"\"", "\"open", "\"a\\\"b\"", &"k".repeat(256)] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
        assert!(parse_key(&HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap()).is_err());
    }

    #[test]
    fn fingerprints_ignore_json_formatting_and_key_order() {
        let a = fingerprint(&Method::POST, "/x", br#"{"a":1,"b":{"c":[1,2],"d":"e"}}"#);
        let b = fingerprint(&Method::POST, "/x", b"{ \"b\": {\"d\":\"e\", \"c\":[1, 2]}, \"a\": 1 }");
        assert_eq!(a, b);
        assert_ne!(a, fingerprint(&Method::POST, "/y", br#"{"a":1,"b":{"c":[1,2],"d":"e"}}"#));
        assert_ne!(a, fingerprint(&Method::POST, "/x", br#"{"a":1,"b":{"c":[2,1],"d":"e"}}"#));
        assert_ne!(fingerprint(&Method::POST, "/x", b"not json"), fingerprint(&Method::POST, "/x", b"not json!"));
    }
}
