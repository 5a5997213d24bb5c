//! `POST tool_router/session/{id}/link` and `POST connected_accounts/link` (contract §6, §7.5).

use axum::{Json, extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::{Validate, ValidationError};

use super::{
    common::{ExperimentalOut, LinkExperimental, callback, iso},
    extract::{IdPath, Project, ValidatedJson},
};
use crate::{
    AppState,
    domain::{AuthConfigId, ConnectedAccountId, SessionId, ToolkitSlug},
    error::{ApiError, ApiResult, ErrorEnvelope, FieldError},
    service::links::{self, CreatedLink, LinkRequest},
};

fn toolkit_slug(value: &str) -> Result<(), ValidationError> {
    ToolkitSlug::parse(value).map(|_| ()).map_err(|e| {
        let mut err = ValidationError::new("slug");
        err.message = Some(e.to_string().into());
        err
    })
}

/// Body of `POST tool_router/session/{id}/link`.
#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct SessionLinkRequest {
    /// Toolkit slug, matched case-insensitively.
    #[validate(length(min = 1, max = 64), custom(function = "toolkit_slug"))]
    #[schema(min_length = 1, max_length = 64)]
    pub toolkit: String,
    /// Unique per (user, toolkit) among accounts not deleted.
    #[validate(length(min = 1, max = 256))]
    #[schema(min_length = 1, max_length = 256)]
    pub alias: Option<String>,
    /// Where the user lands after the flow; defaults to the session's
    /// `manage_connections.callback_url`. Must match the operator's allowlist.
    pub callback_url: Option<String>,
    #[validate(nested)]
    pub experimental: Option<LinkExperimental>,
    /// authlink extension (reconnect): `ca_…` id of an existing account of the session's user
    /// and this toolkit's auth config. The flow runs again and, on success, updates that
    /// account in place (same id; alias, ACL, pins and audit trail kept), emitting
    /// `composio.connected_account.recovered` when it was EXPIRED or FAILED. Refused when the
    /// provider reports another identity (`sub` of the `id_token`) than the account had. Not with
    /// `alias` or `experimental`.
    #[schema(pattern = "^ca_[A-Za-z0-9_-]{12}$")]
    pub connected_account_id: Option<String>,
}

/// Body of `POST connected_accounts/link`.
#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct UserLinkRequest {
    /// `ac_…` id of the auth config to connect with.
    #[schema(pattern = "^ac_[A-Za-z0-9_-]{12}$")]
    pub auth_config_id: String,
    #[validate(length(min = 1, max = 256))]
    #[schema(min_length = 1, max_length = 256)]
    pub user_id: String,
    #[validate(length(min = 1, max = 256))]
    #[schema(min_length = 1, max_length = 256)]
    pub alias: Option<String>,
    pub callback_url: Option<String>,
    /// Pre-filled connection fields; accepted and ignored for OAuth2.
    #[schema(value_type = Option<Object>)]
    pub connection_data: Option<serde_json::Value>,
    #[validate(nested)]
    pub experimental: Option<LinkExperimental>,
    /// authlink extension (reconnect): `ca_…` id of an existing account of this user and auth
    /// config, updated in place on success; see the session link's field of the same name.
    #[schema(pattern = "^ca_[A-Za-z0-9_-]{12}$")]
    pub connected_account_id: Option<String>,
}

/// The reconnect extension's account, refused together with fields the account keeps.
fn reconnect(raw: Option<&str>, alias: bool, experimental: bool) -> ApiResult<Option<ConnectedAccountId>> {
    let Some(raw) = raw else { return Ok(None) };
    let id = ConnectedAccountId::parse(raw).map_err(|e| ApiError::field("connected_account_id", e.to_string()))?;
    let mut errors = Vec::new();
    if alias {
        errors
            .push(FieldError::new("alias", "cannot be set when reconnecting: the account keeps its alias (PATCH it)"));
    }
    if experimental {
        errors.push(FieldError::new(
            "experimental",
            "cannot be set when reconnecting: the account keeps its type and ACL",
        ));
    }
    if errors.is_empty() { Ok(Some(id)) } else { Err(ApiError::Validation(errors)) }
}

/// 201 response of both link endpoints.
#[derive(Debug, Serialize, ToSchema)]
pub struct LinkResponse {
    /// The new connected account, INITIATED (with `connected_account_id` in the request: that
    /// account, unchanged until the flow succeeds).
    pub connected_account_id: String,
    /// Single-use bearer token (`ln_…`); authlink keeps only its hash.
    pub link_token: String,
    /// `{public base or link_url_overwrite}/link/{link_token}`.
    pub redirect_url: String,
    /// Only on `connected_accounts/link`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    pub experimental: ExperimentalOut,
}

impl LinkResponse {
    fn new(link: CreatedLink, with_expiry: bool) -> Self {
        Self {
            connected_account_id: link.account.id.to_string(),
            experimental: ExperimentalOut::new(link.account.account_type, link.account.acl.as_ref()),
            link_token: link.token.as_str().to_owned(),
            redirect_url: link.redirect_url,
            expires_at: with_expiry.then(|| iso(link.expires_at)),
        }
    }
}

/// Creates a single-use link for a session's user and a toolkit.
#[utoipa::path(post, path = "/tool_router/session/{session_id}/link", tag = "tool_router", operation_id = "create_session_link",
    params(("session_id" = String, Path, description = "`trs_…` session id")),
    request_body = SessionLinkRequest,
    responses(
        (status = 201, body = LinkResponse),
        (status = 400, description = "Invalid body, toolkit, callback URL or ACL", body = ErrorEnvelope),
        (status = 401, body = ErrorEnvelope),
        (status = 404, description = "Session not found", body = ErrorEnvelope),
        (status = 409, description = "Alias already used for this user and toolkit", body = ErrorEnvelope),
    ))]
pub async fn create_for_session(
    State(state): State<AppState>,
    Project(project, _): Project,
    IdPath(session_id): IdPath<SessionId>,
    ValidatedJson(body): ValidatedJson<SessionLinkRequest>,
) -> ApiResult<(StatusCode, Json<LinkResponse>)> {
    // Checked by `ValidatedJson` already; parsed again for the typed slug.
    let toolkit = ToolkitSlug::parse(&body.toolkit)
        .map_err(|e| ApiError::Validation(vec![FieldError::new("toolkit", e.to_string())]))?;
    let reconnect = reconnect(body.connected_account_id.as_deref(), body.alias.is_some(), body.experimental.is_some())?;
    let (account_type, acl) = LinkExperimental::resolve(body.experimental)?;
    let callback_url = callback(&state.settings.callback_allowlist, "callback_url", body.callback_url.as_deref())?;
    let request = LinkRequest { alias: body.alias, callback_url, account_type, acl, reconnect };
    let link = links::create_for_session(&state, project, &session_id, &toolkit, request).await?;
    tracing::info!(connected_account_id = %link.account.id, toolkit = %toolkit, "link created");
    Ok((StatusCode::CREATED, Json(LinkResponse::new(link, false))))
}

/// Creates a single-use link for a user and an auth config, without a session.
#[utoipa::path(post, path = "/connected_accounts/link", tag = "connected_accounts", operation_id = "create_connected_account_link",
    request_body = UserLinkRequest,
    responses(
        (status = 201, body = LinkResponse),
        (status = 400, body = ErrorEnvelope),
        (status = 401, body = ErrorEnvelope),
        (status = 404, description = "Auth config not found", body = ErrorEnvelope),
        (status = 409, body = ErrorEnvelope),
    ))]
pub async fn create_for_user(
    State(state): State<AppState>,
    Project(project, _): Project,
    ValidatedJson(body): ValidatedJson<UserLinkRequest>,
) -> ApiResult<(StatusCode, Json<LinkResponse>)> {
    let auth_config_id = AuthConfigId::parse(&body.auth_config_id)?;
    let reconnect = reconnect(body.connected_account_id.as_deref(), body.alias.is_some(), body.experimental.is_some())?;
    let (account_type, acl) = LinkExperimental::resolve(body.experimental)?;
    let callback_url = callback(&state.settings.callback_allowlist, "callback_url", body.callback_url.as_deref())?;
    let request = LinkRequest { alias: body.alias, callback_url, account_type, acl, reconnect };
    let link = links::create_for_user(&state, project, &auth_config_id, &body.user_id, request).await?;
    tracing::info!(connected_account_id = %link.account.id, "link created");
    Ok((StatusCode::CREATED, Json(LinkResponse::new(link, true))))
}
