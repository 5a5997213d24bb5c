//! Enable, disable and revoke a connected account (issue 12).

use axum::{Json, extract::State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::http::extract::{IdPath, Project, ValidatedJson};
use crate::{
    AppState,
    domain::{AccountStatus, ConnectedAccountId},
    error::{ApiResult, ErrorEnvelope},
    service::account_lifecycle,
};

/// Body of `PATCH connected_accounts/{id}/status`.
#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct UpdateStatusRequest {
    pub enabled: bool,
    /// Accepted, not stored.
    #[validate(length(max = 1000))]
    #[schema(max_length = 1000)]
    pub reason: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UpdateStatusResponse {
    pub success: bool,
    pub id: String,
    pub status: AccountStatus,
    pub is_disabled: bool,
}

/// Enables or disables an account: a disabled one is never resolved, pinned or refreshed.
#[utoipa::path(patch, path = "/connected_accounts/{id}/status", tag = "connected_accounts", operation_id = "update_connected_account_status",
    params(("id" = String, Path, description = "`ca_…` id")),
    request_body = UpdateStatusRequest,
    responses(
        (status = 200, body = UpdateStatusResponse),
        (status = 400, body = ErrorEnvelope),
        (status = 401, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope),
    ))]
pub async fn update_status(
    State(state): State<AppState>,
    Project(project, _): Project,
    IdPath(id): IdPath<ConnectedAccountId>,
    ValidatedJson(body): ValidatedJson<UpdateStatusRequest>,
) -> ApiResult<Json<UpdateStatusResponse>> {
    let account = account_lifecycle::set_enabled(&state, project, &id, body.enabled).await?;
    Ok(Json(UpdateStatusResponse {
        success: true,
        id: account.id.to_string(),
        status: account.status,
        is_disabled: account.is_disabled,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RevokedAccount {
    pub id: String,
    pub status: AccountStatus,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RevokeResponse {
    /// The tokens the provider confirmed revoked (RFC 7009): `refresh_token`, `access_token`.
    /// Empty when the provider has no revocation endpoint or the account was already REVOKED;
    /// the tokens are erased here in every case.
    pub revoked_tokens: Vec<&'static str>,
    pub connected_account: RevokedAccount,
}

/// Revokes an account's tokens at the provider where it has a revocation endpoint, erases them
/// here and marks the account REVOKED.
#[utoipa::path(post, path = "/connected_accounts/{id}/revoke", tag = "connected_accounts", operation_id = "revoke_connected_account",
    params(("id" = String, Path, description = "`ca_…` id")),
    responses(
        (status = 200, body = RevokeResponse),
        (status = 400, body = ErrorEnvelope),
        (status = 401, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope),
        (status = 409, description = "Not ACTIVE or REVOKED", body = ErrorEnvelope),
    ))]
pub async fn revoke(
    State(state): State<AppState>,
    Project(project, _): Project,
    IdPath(id): IdPath<ConnectedAccountId>,
) -> ApiResult<Json<RevokeResponse>> {
    let done = account_lifecycle::revoke(&state, project, &id).await?;
    Ok(Json(RevokeResponse {
        revoked_tokens: done.revoked_tokens,
        connected_account: RevokedAccount { id: done.account.id.to_string(), status: done.account.status },
    }))
}
