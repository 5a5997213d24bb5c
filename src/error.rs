//! The one error type of the HTTP API and its mapping to the contract's envelope:
//! `{"error":{"message","code","slug","status","request_id","suggested_fix","errors"}}`.
//!
//! What the client sees is decided here, per variant; causes of internal errors are logged inside
//! the request's span and never sent. Codes and slugs reuse Composio's where they are known
//! (contract §3) so SDKs that match on them keep working.

use std::fmt;

use axum::{
    Json,
    http::{HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use serde::Serialize;

use crate::{domain::ids::InvalidId, store::StoreError};

/// `Retry-After` of a 503: the database is usually back (failover, restart) within seconds.
pub const RETRY_AFTER_SECS: &str = "2";

/// `Retry-After` of a 409 for an `Idempotency-Key` whose first request still runs: creates take
/// milliseconds, a second is plenty.
pub const IN_PROGRESS_RETRY_AFTER_SECS: &str = "1";

/// Result alias used by handlers and services.
pub type ApiResult<T> = Result<T, ApiError>;

/// One bad field of a request: rendered as `path: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub path: String,
    pub message: String,
}

impl FieldError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self { path: path.into(), message: message.into() }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Everything an API request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Fields of the request broke their rules; each entry names the field and the rule.
    #[error("Invalid request: {}", join(.0))]
    Validation(Vec<FieldError>),
    /// A request that is well-formed but asks for something authlink does not do.
    #[error("{0}")]
    BadRequest(String),
    /// Toolkits neither in the catalog nor known through one of the project's auth configs.
    #[error("Invalid toolkit slugs: {}. Please provide valid toolkit slugs.", .0.join(", "))]
    InvalidToolkitSlugs(Vec<String>),
    /// A link for a toolkit the session's `toolkits` filter leaves out.
    #[error("Toolkit {toolkit} is not enabled for session {session}.")]
    ToolkitNotEnabled { toolkit: String, session: String },
    /// No usable auth config for the toolkit (authlink manages no OAuth apps of its own).
    #[error(
        "authlink has no auth config for toolkit {0}: create one with POST /api/v3.1/auth_configs (use_custom_auth, OAUTH2) or pin one in the session's auth_configs."
    )]
    NoManagedAuth(String),
    /// Pinned accounts that do not exist, are of another user or toolkit, or deny the user.
    #[error("Could not use connected account(s): {0}")]
    InvalidConnectedAccountIds(String),
    /// An auth config that cannot be created as given.
    #[error("Invalid auth config: {0}")]
    InvalidAuthConfig(String),
    /// An ACL sent for a PRIVATE account (SDKs match this message).
    #[error("acl_config_for_shared is only valid on SHARED accounts (this account is PRIVATE).")]
    AclOnlyForShared,
    /// A malformed id (`trs_…`, `ca_…`, `ac_…`) in a path or body.
    #[error("{0}")]
    InvalidId(#[from] InvalidId),

    /// No credential header at all.
    #[error("No API key provided: send your project key in the x-api-key header.")]
    NoApiKey,
    /// A key that is unknown or revoked; the message shows only its masked form.
    #[error("Invalid API key: {0}")]
    InvalidApiKey(String),
    /// A key past its `expires_at` (set at creation); a new key is needed, as with Composio's
    /// expired keys. The message shows only the masked form.
    #[error("API key has expired: {0}")]
    ApiKeyExpired(String),
    /// More than one credential header, which Composio refuses too.
    #[error(
        "Multiple authentication modes were provided; send exactly one of x-api-key, x-user-api-key, x-org-api-key."
    )]
    MultipleAuthModes,
    /// A user or organisation key, which authlink does not issue.
    #[error("{0} is not supported by authlink; send a project key in x-api-key.")]
    UnsupportedAuthMode(&'static str),

    /// No such session in the caller's project (or it was deleted).
    #[error("Tool router session {0} not found.")]
    SessionNotFound(String),
    /// No such account in the caller's project (ts-core maps code 1803 to its own error).
    #[error("No connected account found with id {0}.")]
    ConnectedAccountNotFound(String),
    /// No such API key in the caller's project (authlink's own code: Composio has no key API).
    #[error("API key {0} not found.")]
    ApiKeyNotFound(String),
    /// No such auth config in the caller's project.
    #[error("Auth config {0} not found.")]
    AuthConfigNotFound(String),

    #[error(
        "Toolkit {0} not found: it is neither in authlink's catalog nor configured by an auth config of this project."
    )]
    ToolkitNotFound(String),
    /// No such webhook subscription in the caller's project.
    #[error("Webhook subscription {0} not found.")]
    WebhookSubscriptionNotFound(String),
    /// No such delivery of that subscription.
    #[error("Webhook delivery {0} not found.")]
    WebhookDeliveryNotFound(String),
    /// No such link-page asset: an unknown project, colour, or a logo that is not the project's
    /// current one (authlink's own code).
    #[error("Link page asset {0} not found.")]
    LinkAssetNotFound(String),
    /// The fallback of the router: no route has this path.
    #[error("No route for {0}.")]
    RouteNotFound(String),
    /// `complete_auth` with a `session_uri` unknown in the caller's project, already spent or
    /// past its ten minutes (one answer for all, so a caller learns nothing about other values).
    #[error("No pending authorization for this session_uri: it is unknown, already used or expired.")]
    CompletionSessionNotFound,
    /// `complete_auth` named a user other than the account's: the account is FAILED by then.
    #[error("user_id does not match the user connected account {0} was created for; the connection is now FAILED.")]
    CompletionUserMismatch(String),
    /// A browser `Origin` the MCP endpoints do not accept (the transport's DNS-rebinding defence).
    #[error(
        "Origin {0} may not call this MCP endpoint: only this server's public origin and the origins in AUTHLINK_MCP_ALLOWED_ORIGINS may."
    )]
    OriginNotAllowed(String),
    /// A `tools/call` (or REST tool execution) naming a tool the endpoint or session does not serve.
    #[error(
        "Unknown tool {0}: no tool of that name is served here (see tools/list, or the session's tool_router_tools)."
    )]
    UnknownTool(String),
    /// The path exists, the method does not.
    #[error("Method {0} is not allowed on this path.")]
    MethodNotAllowed(String),

    /// The alias is taken for this user and toolkit (a unique rule of the store).
    #[error("A connected account with alias `{alias}` already exists for this user and toolkit {toolkit}.")]
    AliasTaken { alias: String, toolkit: String },
    /// Optimistic concurrency: another update of the session won.
    #[error("The session was changed concurrently (config_version {0}); read it again and retry.")]
    SessionVersionConflict(i64),

    /// A refresh of an account that has no live tokens.
    #[error("Connected account is {0}, not ACTIVE; its tokens cannot be refreshed.")]
    AccountNotActive(String),
    /// The provider refused the refresh (e.g. `invalid_grant`); the account is now EXPIRED.
    #[error("Token refresh failed: {0}")]
    RefreshFailed(String),

    /// Composio documents revoke for ACTIVE (and, idempotently, REVOKED) accounts only.
    #[error("Connected account is {0}: only an ACTIVE or REVOKED account can be revoked.")]
    NotRevocable(String),

    /// A documented Composio call or option that authlink deliberately does not serve.
    #[error("{0}")]
    Unsupported(String),
    /// The provider could not be reached or answered nonsense; worth retrying later.
    #[error("The provider's token endpoint could not be used: {0}")]
    ProviderUnavailable(String),

    /// A rate limit of design §5 was exceeded (`scope` says which): 429 with `Retry-After` in
    /// whole seconds; the limiter adds the `RateLimit-Policy` / `RateLimit` fields.
    #[error("Too many requests: more than {limit} per minute {scope}. Retry in {retry_after_secs} s.")]
    RateLimited { limit: u32, scope: &'static str, retry_after_secs: u64 },

    /// An `Idempotency-Key` already used with a different request (method, path or body) in
    /// the last 24 h.
    #[error("Idempotency-Key was already used with a different request; use a new key for a new request.")]
    IdempotencyKeyReused,
    /// An `Idempotency-Key` whose first request is still running: 409 with `Retry-After`.
    #[error("A request with this Idempotency-Key is still being processed; retry after it finishes.")]
    IdempotencyInProgress,

    /// The database cannot be used right now: 503 with `Retry-After`.
    #[error("The database is not reachable.")]
    Unavailable,
    /// A bug or a broken invariant; the cause is logged, the client sees a generic message.
    #[error("Internal server error.")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

fn join(errors: &[FieldError]) -> String {
    errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

impl ApiError {
    /// A single-field validation error.
    pub fn field(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(path, message)])
    }

    /// Wraps any unexpected failure; the cause is logged, the client sees a generic message.
    pub fn internal(err: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Internal(Box::new(err))
    }

    /// HTTP status, Composio numeric code and slug of each variant.
    pub fn parts(&self) -> (StatusCode, u32, &'static str) {
        use StatusCode as S;
        match self {
            Self::Validation(_) | Self::BadRequest(_) => (S::BAD_REQUEST, 4300, "ToolRouterV2_BadRequest"),
            Self::InvalidToolkitSlugs(_) => (S::BAD_REQUEST, 4305, "ToolRouterV2_InvalidToolkitSlugs"),
            Self::ToolkitNotEnabled { .. } => (S::BAD_REQUEST, 4306, "ToolRouterV2_ToolkitNotEnabled"),
            Self::NoManagedAuth(_) => (S::BAD_REQUEST, 4308, "ToolRouterV2_NoManagedAuth"),
            Self::InvalidConnectedAccountIds(_) => (S::BAD_REQUEST, 4309, "ToolRouterV2_InvalidConnectedAccountIds"),
            Self::InvalidAuthConfig(_) => (S::BAD_REQUEST, 1900, "AuthConfig_BadRequest"),
            Self::AclOnlyForShared => (S::BAD_REQUEST, 4310, "ConnectedAccount_AclOnlyForShared"),
            Self::InvalidId(_) => (S::BAD_REQUEST, 4300, "ToolRouterV2_BadRequest"),
            Self::NoApiKey => (S::UNAUTHORIZED, 906, "Auth_NoAuthProvided"),
            Self::InvalidApiKey(_) => (S::UNAUTHORIZED, 801, "APIKey_InvalidAPIKey"),
            Self::ApiKeyExpired(_) => (S::UNAUTHORIZED, 811, "APIKey_APIKeyExpired"),
            Self::MultipleAuthModes | Self::UnsupportedAuthMode(_) => (S::UNAUTHORIZED, 10401, "HTTP_Unauthorized"),
            Self::SessionNotFound(_) => (S::NOT_FOUND, 4304, "ToolRouterV2_SessionNotFound"),
            Self::ConnectedAccountNotFound(_) => (S::NOT_FOUND, 1803, "ConnectedAccount_NotFound"),
            Self::ApiKeyNotFound(_) => (S::NOT_FOUND, 804, "APIKey_NotFound"),
            Self::AuthConfigNotFound(_) => (S::NOT_FOUND, 1903, "AuthConfig_NotFound"),
            Self::ToolkitNotFound(_) => (S::NOT_FOUND, 1551, "Toolkit_NotFound"),
            Self::RouteNotFound(_) => (S::NOT_FOUND, 404, "HTTP_NotFound"),
            Self::LinkAssetNotFound(_) => (S::NOT_FOUND, 2304, "LinkPage_AssetNotFound"),
            Self::WebhookSubscriptionNotFound(_) => (S::NOT_FOUND, 2203, "WebhookSubscription_NotFound"),
            Self::WebhookDeliveryNotFound(_) => (S::NOT_FOUND, 2204, "WebhookDelivery_NotFound"),
            Self::CompletionSessionNotFound => (S::NOT_FOUND, 1807, "ConnectedAccount_CompleteAuthSessionNotFound"),
            Self::CompletionUserMismatch(_) => (S::BAD_REQUEST, 1808, "ConnectedAccount_CompleteAuthUserMismatch"),
            Self::OriginNotAllowed(_) => (S::FORBIDDEN, 403, "MCP_OriginNotAllowed"),
            Self::UnknownTool(_) => (S::NOT_FOUND, 4312, "ToolRouterV2_ToolNotFound"),
            Self::MethodNotAllowed(_) => (S::METHOD_NOT_ALLOWED, 405, "HTTP_MethodNotAllowed"),
            Self::AliasTaken { .. } => (S::CONFLICT, 1810, "ConnectedAccount_AliasAlreadyExists"),
            Self::SessionVersionConflict(_) => (S::CONFLICT, 4311, "ToolRouterV2_ConfigVersionConflict"),
            Self::AccountNotActive(_) => (S::BAD_REQUEST, 1804, "ConnectedAccount_NotActive"),
            Self::RefreshFailed(_) => (S::BAD_REQUEST, 1805, "ConnectedAccount_RefreshFailed"),
            Self::NotRevocable(_) => (S::CONFLICT, 1811, "ConnectedAccount_NotRevocable"),
            Self::Unsupported(_) => (S::BAD_REQUEST, 4312, "Authlink_Unsupported"),
            Self::ProviderUnavailable(_) => (S::BAD_GATEWAY, 1806, "ConnectedAccount_ProviderUnavailable"),
            Self::RateLimited { .. } => (S::TOO_MANY_REQUESTS, 429, "RateLimit_Exceeded"),
            Self::IdempotencyKeyReused => (S::UNPROCESSABLE_ENTITY, 4220, "Idempotency_KeyReused"),
            Self::IdempotencyInProgress => (S::CONFLICT, 4090, "Idempotency_RequestInProgress"),
            Self::Unavailable => (S::SERVICE_UNAVAILABLE, 503, "HTTP_ServiceUnavailable"),
            Self::Internal(_) => (S::INTERNAL_SERVER_ERROR, 500, "HTTP_InternalServerError"),
        }
    }
}

/// Store failures a service did not turn into a rule of its own: the database being away is a
/// 503 the client may retry; anything else (a conflict no rule expected, a corrupt row) is a
/// 500 whose cause is logged.
impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        if err.is_unavailable() {
            tracing::warn!(error.cause = %err, "database unavailable");
            Self::Unavailable
        } else {
            Self::internal(err)
        }
    }
}

/// The envelope's inner object.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Human-readable; SDKs substring-match some messages.
    pub message: String,
    /// Composio numeric error code.
    pub code: u32,
    /// Stable machine-readable name of the error.
    pub slug: &'static str,
    /// Equal to the HTTP status.
    pub status: u16,
    /// The request id, also sent as the `x-request-id` header (filled in by the request-id
    /// middleware, which finds the envelope in the response's extensions).
    pub request_id: String,
    pub suggested_fix: String,
    /// One entry per bad field, `path: rule`.
    pub errors: Vec<String>,
}

/// `{"error": ErrorBody}`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ErrorEnvelope {
    pub error: ErrorBody,
}

impl ErrorEnvelope {
    /// The JSON body of an error response.
    pub fn to_body(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

impl ApiError {
    /// The envelope this error renders as (its `request_id` still empty).
    pub fn envelope(&self) -> ErrorEnvelope {
        let (status, code, slug) = self.parts();
        let errors = match self {
            Self::Validation(fields) => fields.iter().map(ToString::to_string).collect(),
            _ => Vec::new(),
        };
        ErrorEnvelope {
            error: ErrorBody {
                message: self.to_string(),
                code,
                slug,
                status: status.as_u16(),
                request_id: String::new(),
                suggested_fix: String::new(),
                errors,
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, _, slug) = self.parts();
        match &self {
            Self::Internal(cause) => tracing::error!(error.cause = %cause, error.debug = ?cause, "request failed"),
            Self::Unavailable => tracing::warn!(error.slug = slug, "answered 503"),
            _ => tracing::info!(error.slug = slug, error.message = %self, "request rejected"),
        }
        let body = self.envelope();
        let mut response = (status, Json(body.clone())).into_response();
        // The request-id middleware rewrites the body with the request's id.
        response.extensions_mut().insert(body);
        let headers = response.headers_mut();
        if let Self::IdempotencyInProgress = &self {
            headers.insert("x-should-retry", HeaderValue::from_static("true"));
            headers.insert("retry-after", HeaderValue::from_static(IN_PROGRESS_RETRY_AFTER_SECS));
        } else if status == StatusCode::CONFLICT {
            headers.insert("x-should-retry", HeaderValue::from_static("false"));
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert("retry-after", HeaderValue::from_static(RETRY_AFTER_SECS));
        }
        if let Self::RateLimited { retry_after_secs, .. } = &self {
            headers.insert("retry-after", HeaderValue::from(*retry_after_secs));
        }
        if status == StatusCode::UNAUTHORIZED {
            headers.insert("www-authenticate", HeaderValue::from_static("ApiKey header=\"x-api-key\""));
        }
        response
    }
}
