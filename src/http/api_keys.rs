//! `api_keys`: a project manages its own keys with one of them (authlink's addition; Composio
//! has no such API). Listings show keys masked (their last four characters), never the key nor
//! its hash; a created key is returned once. Revoking takes effect at once in this process and
//! within [`crate::api_keys::TTL`] in every other one.

use axum::{
    Json,
    extract::State,
    http::{StatusCode, request::Parts},
    response::{IntoResponse, Response},
};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use validator::Validate;

use super::{
    common::{ListResponse, iso},
    extract::{IdPath, PathId, Project, ValidatedJson},
};
use crate::{
    AppState,
    error::{ApiError, ApiResult, ErrorEnvelope, FieldError},
    service::api_keys,
    store::{ApiKeyId, ApiKeyRecord},
};

/// A key as listed: masked.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyResponse {
    /// The key's id (a UUID): what `DELETE api_keys/{id}` and `authlink api-key revoke` take.
    pub id: String,
    pub name: String,
    /// `****` and the key's last four characters.
    pub masked_key: String,
    /// `ACTIVE`, `EXPIRED` or `REVOKED`.
    pub status: &'static str,
    pub created_at: String,
    /// Recorded at most about once a minute, so up to a minute behind.
    pub last_used_at: Option<String>,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
}

impl From<ApiKeyRecord> for ApiKeyResponse {
    fn from(k: ApiKeyRecord) -> Self {
        Self {
            id: k.id.0.to_string(),
            masked_key: k.masked(),
            status: k.status(Utc::now()).as_str(),
            created_at: iso(k.created_at),
            last_used_at: k.last_used_at.map(iso),
            expires_at: k.expires_at.map(iso),
            revoked_at: k.revoked_at.map(iso),
            name: k.name,
        }
    }
}

/// Body of `POST api_keys`.
#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct CreateApiKeyRequest {
    /// 1 to 128 characters, to tell keys apart: not only spaces, no control characters
    /// (surrounding spaces are trimmed).
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub name: String,
    /// Days until the key stops working (1 to 3650); never when absent.
    #[schema(minimum = 1, maximum = 3650)]
    #[serde(default, deserialize_with = "super::common::whole_number")]
    pub expires_in_days: Option<i64>,
}

/// A created key: the only time the key itself is shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApiKeyResponse {
    /// Send it as `x-api-key`; authlink keeps only its SHA-256 hash.
    pub key: String,
    #[serde(flatten)]
    pub api_key: ApiKeyResponse,
}

/// Key ids are UUIDs; anything else is a 400 naming the parameter.
impl PathId for ApiKeyId {
    fn from_path(name: &str, raw: Option<&str>, _: &Parts) -> Result<Self, Response> {
        raw.and_then(|r| Uuid::parse_str(r).ok()).map(Self).ok_or_else(|| {
            ApiError::field(name, "must be an API key id (a UUID, as GET api_keys lists)").into_response()
        })
    }
}

/// Lists the project's keys, revoked and expired ones included, newest first.
#[utoipa::path(get, path = "/api_keys", tag = "api_keys", operation_id = "list_api_keys",
    responses(
        (status = 200, body = ListResponse<ApiKeyResponse>),
        (status = 400, body = ErrorEnvelope),
        (status = 401, body = ErrorEnvelope),
    ))]
pub async fn list(
    State(state): State<AppState>,
    Project(project, _): Project,
) -> ApiResult<Json<ListResponse<ApiKeyResponse>>> {
    let keys = state.store.list_api_keys(Some(project)).await?;
    let total = i64::try_from(keys.len()).unwrap_or(i64::MAX);
    Ok(Json(ListResponse {
        items: keys.into_iter().map(Into::into).collect(),
        next_cursor: None,
        total_pages: i64::from(total > 0),
        current_page: 1,
        total_items: total,
    }))
}

/// Creates a key for the caller's project; the key is in the response, and only there.
#[utoipa::path(post, path = "/api_keys", tag = "api_keys", operation_id = "create_api_key",
    request_body = CreateApiKeyRequest,
    responses(
        (status = 201, body = CreatedApiKeyResponse),
        (status = 400, body = ErrorEnvelope),
        (status = 401, body = ErrorEnvelope),
    ))]
pub async fn create(
    State(state): State<AppState>,
    Project(project, _): Project,
    ValidatedJson(body): ValidatedJson<CreateApiKeyRequest>,
) -> ApiResult<(StatusCode, Json<CreatedApiKeyResponse>)> {
    let (name, expires_at) =
        match (api_keys::name(&body.name).and_then(non_empty), api_keys::expiry(body.expires_in_days, Utc::now())) {
            (Ok(name), Ok(expires_at)) => (name, expires_at),
            (name, expires_at) => {
                let mut errors = Vec::new();
                if let Err(m) = name {
                    errors.push(FieldError::new("name", m));
                }
                if let Err(m) = expires_at {
                    errors.push(FieldError::new("expires_in_days", m));
                }
                return Err(ApiError::Validation(errors));
            }
        };
    let (key, new) = api_keys::generate(name, expires_at);
    let record = state.store.add_api_key(project, &new).await?;
    tracing::info!(api_key_id = %record.id.0, "API key created");
    Ok((StatusCode::CREATED, Json(CreatedApiKeyResponse { key, api_key: record.into() })))
}

fn non_empty(name: String) -> Result<String, String> {
    if name.is_empty() { Err("must not be empty".to_owned()) } else { Ok(name) }
}

/// Revokes one of the project's keys (the calling key included): it stops working at once here
/// and within 5 s in every other authlink process. Revoking again answers the same record.
#[utoipa::path(delete, path = "/api_keys/{id}", tag = "api_keys", operation_id = "revoke_api_key",
    params(("id" = String, Path, description = "the key's id (a UUID)")),
    responses(
        (status = 200, body = ApiKeyResponse),
        (status = 400, body = ErrorEnvelope),
        (status = 401, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope),
    ))]
pub async fn revoke(
    State(state): State<AppState>,
    Project(project, actor): Project,
    IdPath(id): IdPath<ApiKeyId>,
) -> ApiResult<Json<ApiKeyResponse>> {
    let record = state
        .store
        .revoke_api_key(Some(project), id, Some(actor))
        .await?
        .ok_or_else(|| ApiError::ApiKeyNotFound(id.0.to_string()))?;
    state.api_keys.forget(id);
    tracing::info!(api_key_id = %id.0, "API key revoked");
    Ok(Json(record.into()))
}
