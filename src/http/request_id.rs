//! Request ids: taken from `x-request-id` when the client sent a sane one (the Python SDK does),
//! generated otherwise; echoed in the response header and written into every error envelope
//! (which [`ApiError`](crate::error::ApiError) leaves in the response's extensions for this).

use axum::{
    body::Body,
    extract::Request,
    http::{HeaderName, HeaderValue, header},
    middleware::Next,
    response::Response,
};
use uuid::Uuid;

use crate::error::ErrorEnvelope;

pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The request id as a request extension, for the trace span.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

fn acceptable(id: &str) -> bool {
    (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

/// Outermost middleware: assigns the id, runs the request, echoes the id and puts it in the
/// error envelope of a failed request.
pub async fn assign(mut request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| acceptable(v))
        .map_or_else(|| Uuid::new_v4().to_string(), str::to_owned);
    request.extensions_mut().insert(RequestId(id.clone()));
    let mut response = next.run(request).await;
    if let Some(mut envelope) = response.extensions_mut().remove::<ErrorEnvelope>() {
        envelope.error.request_id.clone_from(&id);
        let (mut parts, _) = response.into_parts();
        parts.headers.remove(header::CONTENT_LENGTH);
        response = Response::from_parts(parts, Body::from(envelope.to_body()));
    }
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(X_REQUEST_ID.clone(), value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::acceptable;

    #[test]
    fn only_sane_ids_are_kept() {
        assert!(acceptable("8b628209-81f4-414a-a1c2-28806e2d7480"));
        assert!(acceptable("0123456789abcdef0123456789abcdef"));
        assert!(!acceptable(""));
        assert!(!acceptable("has space"));
        assert!(!acceptable(&"a".repeat(129)));
    }
}
