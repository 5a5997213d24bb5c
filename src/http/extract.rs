//! Extractors that turn every rejection into the contract's error envelope: JSON bodies with
//! field paths in their errors, the API key → project lookup, typed path ids, lenient query
//! strings, and the one collector of field errors the listings report their query errors with.

use std::{borrow::Cow, fmt::Display};

use axum::{
    body::Bytes,
    extract::{
        FromRequest, FromRequestParts, Path, Request,
        path::ErrorKind,
        rejection::{BytesRejection, PathRejection},
    },
    http::{HeaderValue, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, de::DeserializeOwned};
use validator::{Validate, ValidationErrors, ValidationErrorsKind};

use crate::{
    AppState,
    api_keys::KeyCheck,
    crypto::{mask_key, sha256},
    domain::{AuthConfigId, ConnectedAccountId, SessionId, WebhookSubscriptionId},
    error::{ApiError, ApiResult, FieldError},
    store::{ApiKeyId, ProjectId},
};

/// Largest accepted request body. A maximal SHARED ACL (2 × 1000 ids of 256 bytes) fits.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A JSON body, deserialized with field paths in its errors and then checked with `validator`.
/// The content type is not enforced: curl users often forget it, and the API key header already
/// rules out cross-site form posts.
#[derive(Debug)]
pub struct ValidatedJson<T>(pub T);

impl<S, T> FromRequest<S> for ValidatedJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Validate,
{
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|r| body_rejection(&r))?;
        let value: T = parse_json(&bytes).map_err(IntoResponse::into_response)?;
        value.validate().map_err(|e| ApiError::Validation(flatten(&e)).into_response())?;
        Ok(Self(value))
    }
}

/// A body that could not be read in full leaves unread bytes on the connection, so the answer
/// says `Connection: close`: a client must not reuse a connection the server is about to drop.
pub(crate) fn body_rejection(rejection: &BytesRejection) -> Response {
    let error = if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::field("body", format!("must be at most {MAX_BODY_BYTES} bytes"))
    } else {
        ApiError::field("body", "could not be read")
    };
    let mut response = error.into_response();
    response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// A marker field (`#[serde(flatten)] #[schema(ignore)]`) that makes a derived struct take a
/// JSON object only. serde's derived structs also read a JSON array as their fields in order, so
/// `"toolkits": [null, null]` would pass as an empty filter; a struct with a flattened field is
/// read through `deserialize_map`, which refuses an array ("invalid type: sequence, expected a
/// map"). It keeps nothing: the unknown keys it sees are ignored, as everywhere else.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectOnly;

impl<'de> Deserialize<'de> for ObjectOnly {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(serde::de::IgnoredAny).map(|_| Self)
    }
}

/// Whether a JSON text holds NUL in a string or key (escaped: JSON has no raw control
/// characters). PostgreSQL text cannot hold NUL; bodies are refused before they reach the store.
pub fn holds_nul(json: &[u8]) -> bool {
    json.windows(6).any(|w| w.eq_ignore_ascii_case(b"\\u0000"))
}

pub fn nul_in_body() -> ApiError {
    ApiError::field("body", "strings must not contain NUL characters (\\u0000)")
}

/// Deserializes JSON, naming the field that failed.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // serde would accept a struct written as an array; the API only takes objects.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') && !bytes.iter().all(u8::is_ascii_whitespace) {
        if serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_err() {
            return Err(ApiError::field("body", "is not valid JSON"));
        }
        return Err(ApiError::field("body", "must be a JSON object"));
    }
    if holds_nul(bytes) {
        return Err(nul_in_body());
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut *de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.inner();
        if inner.is_eof() && bytes.iter().all(u8::is_ascii_whitespace) {
            return ApiError::field("body", "must be a JSON object");
        }
        if inner.is_syntax() || inner.is_eof() {
            return ApiError::field("body", format!("is not valid JSON ({inner})"));
        }
        let message = inner.to_string();
        let message = message.split(" at line ").next().unwrap_or(&message).to_owned();
        if let Some(field) = message.strip_prefix("missing field `").and_then(|m| m.strip_suffix('`')) {
            let full = if path == "." { field.to_owned() } else { format!("{path}.{field}") };
            return ApiError::field(full, "is required");
        }
        let at = if path == "." { "body".to_owned() } else { path };
        ApiError::field(at, plain_expectation(&message))
    })?;
    de.end().map_err(|_| ApiError::field("body", "has trailing characters after the JSON object"))?;
    Ok(value)
}

/// serde names the Rust type it expected (`expected struct ToolkitsInput`); a caller knows JSON.
fn plain_expectation(message: &str) -> Cow<'_, str> {
    match message.split_once(", expected struct ") {
        Some((head, _)) => Cow::Owned(format!("{head}, expected a JSON object")),
        None => Cow::Borrowed(message),
    }
}

/// Flattens `validator`'s nested errors into `path: rule` entries, sorted for stable output.
pub fn flatten(errors: &ValidationErrors) -> Vec<FieldError> {
    let mut out = Vec::new();
    walk(errors, "", &mut out);
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

fn walk(errors: &ValidationErrors, prefix: &str, out: &mut Vec<FieldError>) {
    for (field, kind) in errors.errors() {
        let path = if prefix.is_empty() { field.to_string() } else { format!("{prefix}.{field}") };
        match kind {
            ValidationErrorsKind::Field(list) => {
                for e in list {
                    let at = match e.params.get("index") {
                        Some(i) => format!("{path}[{i}]"),
                        None => path.clone(),
                    };
                    out.push(FieldError::new(at, describe(e)));
                }
            }
            ValidationErrorsKind::Struct(inner) => walk(inner, &path, out),
            ValidationErrorsKind::List(items) => {
                for (i, inner) in items {
                    walk(inner, &format!("{path}[{i}]"), out);
                }
            }
        }
    }
}

fn describe(e: &validator::ValidationError) -> String {
    if let Some(message) = &e.message {
        return message.to_string();
    }
    let param = |k: &str| e.params.get(k).map(ToString::to_string);
    match (e.code.as_ref(), param("min"), param("max")) {
        ("length", Some(min), Some(max)) => format!("length must be {min}..{max}"),
        ("length", Some(min), None) => format!("length must be at least {min}"),
        ("length", None, Some(max)) => format!("length must be at most {max}"),
        ("range", Some(min), Some(max)) => format!("must be between {min} and {max}"),
        ("url", _, _) => "must be an absolute URL".to_owned(),
        (code, _, _) => Cow::from(code).into_owned(),
    }
}

/// The caller's project, from `x-api-key`. Exactly one credential header is accepted, as
/// Composio does; user and org keys are not supported by authlink.
#[derive(Debug, Clone, Copy)]
pub struct Project(pub ProjectId, pub ApiKeyId);

impl FromRequestParts<AppState> for Project {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let headers = &parts.headers;
        let present: Vec<&'static str> =
            ["x-api-key", "x-user-api-key", "x-org-api-key"].into_iter().filter(|h| headers.contains_key(*h)).collect();
        match present.as_slice() {
            [] => return Err(ApiError::NoApiKey),
            ["x-api-key"] => {}
            [single] => return Err(ApiError::UnsupportedAuthMode(single)),
            _ => return Err(ApiError::MultipleAuthModes),
        }
        let raw = headers.get("x-api-key").map_or(&b""[..], HeaderValue::as_bytes);
        // A key that is not text was sent all the same: it is a wrong key, not a missing one.
        let Ok(key) = std::str::from_utf8(raw).map(str::trim) else {
            return Err(ApiError::InvalidApiKey(mask_key(&String::from_utf8_lossy(raw))));
        };
        if key.is_empty() {
            return Err(ApiError::NoApiKey);
        }
        match state.api_keys.check(&state.store, &sha256(key)).await? {
            KeyCheck::Valid(project, key) => Ok(Self(project, key)),
            KeyCheck::Expired => Err(ApiError::ApiKeyExpired(mask_key(key))),
            KeyCheck::Unknown => Err(ApiError::InvalidApiKey(mask_key(key))),
        }
    }
}

/// Refuses a query string holding NUL (`%00`) anywhere under `/api` and on the MCP endpoints,
/// whatever the handler reads of it: no parameter may hold NUL (PostgreSQL text cannot), and one a
/// handler ignores (`version` on a toolkit) is still the caller's mistake, not something to drop.
pub async fn refuse_nul_in_query(request: Request, next: axum::middleware::Next) -> Response {
    let path = request.uri().path();
    let json_api = path.starts_with("/api/") || super::mcp::is_mcp_path(path);
    if let (true, Some(query)) = (json_api, request.uri().query())
        && let Some((key, _)) =
            url::form_urlencoded::parse(query.as_bytes()).find(|(k, v)| k.contains('\0') || v.contains('\0'))
    {
        let key = key.replace('\0', "");
        return ApiError::field(
            if key.is_empty() { "query".to_owned() } else { key },
            "must not contain NUL characters",
        )
        .into_response();
    }
    next.run(request).await
}

/// A query string parsed into `T` with contract-envelope errors naming the parameter. Empty
/// values (`key=`, which the TypeScript client sends for null) are dropped first, so they read
/// as absent.
#[derive(Debug)]
pub struct LenientQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for LenientQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let raw = parts.uri.query().unwrap_or("");
        let pairs: Vec<(String, String)> =
            url::form_urlencoded::parse(raw.as_bytes()).into_owned().filter(|(_, v)| !v.is_empty()).collect();
        if let Some((key, _)) = pairs.iter().find(|(k, v)| k.contains('\0') || v.contains('\0')) {
            return Err(ApiError::field(key.replace('\0', ""), "must not contain NUL characters"));
        }
        let encoded = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(&pairs).finish();
        let de = serde_urlencoded::Deserializer::new(url::form_urlencoded::parse(encoded.as_bytes()));
        serde_path_to_error::deserialize(de).map(Self).map_err(|err| {
            let path = err.path().to_string();
            let at = if path == "." { "query".to_owned() } else { path };
            ApiError::field(at, err.into_inner().to_string())
        })
    }
}

/// Collects every field error of a request before failing, so a caller fixes them all at once.
/// Every listing reports its query errors through one of these.
#[derive(Debug, Default)]
pub struct FieldErrors(Vec<FieldError>);

impl FieldErrors {
    pub fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError::new(path, message));
    }

    /// The value, or `None` with the error recorded under `path`.
    pub fn check<T, E: Display>(&mut self, path: impl Into<String>, result: Result<T, E>) -> Option<T> {
        result.map_err(|e| self.push(path, e.to_string())).ok()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(())` when nothing was recorded, else one 400 listing every field.
    pub fn finish(self) -> ApiResult<()> {
        if self.0.is_empty() { Ok(()) } else { Err(ApiError::Validation(self.0)) }
    }
}

/// A route's one path parameter as a domain id, so handlers never see an unparsed string. The
/// rejection names the parameter, whether the value is malformed or not even UTF-8 once
/// percent-decoded (which axum's `Path` would answer in text/plain).
#[derive(Debug)]
pub struct IdPath<T>(pub T);

/// A type a route parameter parses into, and how a bad value is answered.
pub trait PathId: Sized {
    /// `raw` is the percent-decoded value, `None` when its bytes are not UTF-8. `parts` is there
    /// for rejections that depend on the request (the link pages answer a page, not JSON).
    #[expect(clippy::result_large_err, reason = "the rejection is the response itself, as axum's own extractors")]
    fn from_path(name: &str, raw: Option<&str>, parts: &Parts) -> Result<Self, Response>;
}

impl<S: Send + Sync, T: PathId> FromRequestParts<S> for IdPath<T> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let misrouted = || ApiError::Internal("IdPath needs a route with exactly one parameter".into()).into_response();
        match Path::<Vec<(String, String)>>::from_request_parts(parts, state).await {
            Ok(Path(params)) => match params.as_slice() {
                [(name, raw)] => T::from_path(name, Some(raw), parts).map(Self),
                _ => Err(misrouted()),
            },
            Err(PathRejection::FailedToDeserializePathParams(err)) => match err.into_kind() {
                ErrorKind::InvalidUtf8InPathParam { key } => T::from_path(&key, None, parts).map(Self),
                _ => Err(misrouted()),
            },
            Err(_) => Err(misrouted()),
        }
    }
}

/// The API's ids answer a 400 envelope naming the parameter.
macro_rules! api_path_id {
    ($($id:ty),*) => {$(
        impl PathId for $id {
            fn from_path(name: &str, raw: Option<&str>, _: &Parts) -> Result<Self, Response> {
                let error = match raw.map(<$id>::parse) {
                    Some(Ok(id)) => return Ok(id),
                    Some(Err(e)) => ApiError::field(name, e.to_string()),
                    None => ApiError::field(
                        name,
                        format!("is not valid UTF-8: please pass this in {} prefix format", <$id>::PREFIX),
                    ),
                };
                Err(error.into_response())
            }
        }
    )*};
}
api_path_id!(SessionId, ConnectedAccountId, AuthConfigId, WebhookSubscriptionId);

/// Most items a comma-joined query array may hold (a request's whole URI is at most 64 KiB, the
/// limit of the HTTP layer, which answers a longer one 414 before authlink sees it).
pub const MAX_LIST_ITEMS: usize = 20_000;

/// Splits a comma-joined query array (`user_ids=u1%2Cu2`), dropping empty items.
pub fn comma_list(value: Option<&str>) -> Vec<String> {
    value
        .map(|v| v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[expect(dead_code, reason = "the fields are only deserialized, to exercise the error paths")]
    struct Body {
        toolkit: String,
        nested: Option<Nested>,
    }
    #[derive(Debug, Deserialize)]
    #[expect(dead_code, reason = "the fields are only deserialized, to exercise the error paths")]
    struct Nested {
        flag: bool,
    }

    fn err(json: &str) -> Vec<String> {
        match parse_json::<Body>(json.as_bytes()).unwrap_err() {
            ApiError::Validation(f) => f.iter().map(ToString::to_string).collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn json_errors_name_the_field() {
        assert_eq!(err(""), ["body: must be a JSON object"]);
        assert!(err("{").first().unwrap().starts_with("body: is not valid JSON"));
        assert_eq!(err("{}"), ["toolkit: is required"]);
        assert_eq!(err(r#"{"toolkit":1}"#), ["toolkit: invalid type: integer `1`, expected a string"]);
        assert_eq!(err(r#"{"toolkit":"x","nested":{}}"#), ["nested.flag: is required"]);
        assert_eq!(
            err(r#"{"toolkit":"x","nested":{"flag":"yes"}}"#),
            ["nested.flag: invalid type: string \"yes\", expected a boolean"]
        );
        assert_eq!(err("[]"), ["body: must be a JSON object"]);
        assert_eq!(err("\"x\""), ["body: must be a JSON object"]);
        assert_eq!(err("nope"), ["body: is not valid JSON"]);
        assert_eq!(err(r#"{"toolkit":"x"} true"#), ["body: has trailing characters after the JSON object"]);
        assert_eq!(err(r#"{"toolkit":"a\u0000b"}"#), ["body: strings must not contain NUL characters (\\u0000)"]);
    }

    #[derive(Debug, Deserialize)]
    struct Outer {
        inner: Option<Filter>,
    }
    #[derive(Debug, Deserialize)]
    struct Filter {
        enable: Option<Vec<String>>,
        #[serde(flatten)]
        _object_only: ObjectOnly,
    }

    #[test]
    fn object_only_structs_refuse_arrays_and_keep_paths() {
        let parse = |json: &str| parse_json::<Outer>(json.as_bytes());
        let messages = |json: &str| match parse(json).unwrap_err() {
            ApiError::Validation(f) => f.iter().map(ToString::to_string).collect::<Vec<_>>(),
            other => panic!("{other:?}"),
        };
        assert_eq!(messages(r#"{"inner":[null,null]}"#), ["inner: invalid type: sequence, expected a JSON object"]);
        assert_eq!(messages(r#"{"inner":[["a"]]}"#), ["inner: invalid type: sequence, expected a JSON object"]);
        assert_eq!(
            messages(r#"{"inner":{"enable":[1]}}"#),
            ["inner.enable[0]: invalid type: integer `1`, expected a string"]
        );
        let ok = parse(r#"{"inner":{"enable":["a"],"unknown":[1]}}"#).unwrap();
        assert_eq!(ok.inner.unwrap().enable, Some(vec!["a".to_owned()]));
        assert!(parse(r#"{"inner":null}"#).unwrap().inner.is_none());
    }

    #[test]
    fn comma_lists() {
        assert_eq!(comma_list(Some("a,b,,c ")), ["a", "b", "c"]);
        assert!(comma_list(None).is_empty());
    }
}
