//! The retired legacy `POST connected_accounts` (what `toolkits.authorize` / `initiate` send),
//! answered the way Composio answers it.

use axum::{Json, extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::http::{
    common::{LinkExperimental, callback},
    extract::{Project, ValidatedJson},
};
use crate::{
    AppState,
    domain::{AccountStatus, AuthConfigId},
    error::{ApiResult, ErrorEnvelope},
    service::links::{self, LinkRequest},
};

#[derive(Debug, Deserialize, ToSchema)]
pub struct LegacyAuthConfigRef {
    #[schema(pattern = "^ac_[A-Za-z0-9_-]{12}$")]
    pub id: String,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct LegacyConnection {
    #[serde(alias = "entity_id")]
    #[validate(length(min = 1, max = 256))]
    #[schema(min_length = 1, max_length = 256)]
    pub user_id: String,
    pub callback_url: Option<String>,
    #[validate(length(min = 1, max = 256))]
    #[schema(min_length = 1, max_length = 256)]
    pub alias: Option<String>,
    #[validate(nested)]
    pub experimental: Option<LinkExperimental>,
}

/// Body of the legacy `POST connected_accounts` (what `toolkits.authorize` / `initiate` send).
#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct LegacyCreateRequest {
    pub auth_config: LegacyAuthConfigRef,
    #[validate(nested)]
    pub connection: LegacyConnection,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionData {
    #[serde(rename = "authScheme")]
    pub auth_scheme: String,
    #[schema(value_type = Object)]
    pub val: serde_json::Value,
}

/// 201 of the legacy create: camelCase `connectionData`, as Composio.
#[derive(Debug, Serialize, ToSchema)]
pub struct LegacyCreateResponse {
    pub id: String,
    #[serde(rename = "connectionData")]
    pub connection_data: ConnectionData,
    pub status: AccountStatus,
    pub redirect_url: String,
    pub redirect_uri: String,
}

/// The legacy initiate call: the same as `connected_accounts/link`, in the older request and
/// response shapes, so SDK helpers built on it (`toolkits.authorize`, `initiate`) work.
#[utoipa::path(post, path = "/connected_accounts", tag = "connected_accounts", operation_id = "create_connected_account",
    request_body = LegacyCreateRequest,
    responses(
        (status = 201, body = LegacyCreateResponse),
        (status = 400, body = ErrorEnvelope),
        (status = 401, body = ErrorEnvelope),
        (status = 404, description = "Auth config not found", body = ErrorEnvelope),
        (status = 409, body = ErrorEnvelope),
    ))]
pub async fn legacy_create(
    State(state): State<AppState>,
    Project(project, _): Project,
    ValidatedJson(body): ValidatedJson<LegacyCreateRequest>,
) -> ApiResult<(StatusCode, Json<LegacyCreateResponse>)> {
    let auth_config_id = AuthConfigId::parse(&body.auth_config.id)?;
    let c = body.connection;
    let (account_type, acl) = LinkExperimental::resolve(c.experimental)?;
    let callback_url =
        callback(&state.settings.callback_allowlist, "connection.callback_url", c.callback_url.as_deref())?;
    let request = LinkRequest { alias: c.alias, callback_url, account_type, acl, reconnect: None };
    let link = links::create_for_user(&state, project, &auth_config_id, &c.user_id, request).await?;
    let status = link.account.status;
    Ok((
        StatusCode::CREATED,
        Json(LegacyCreateResponse {
            id: link.account.id.to_string(),
            connection_data: ConnectionData {
                auth_scheme: link.account.auth_scheme.clone(),
                val: serde_json::json!({"status": status.as_str(), "redirectUrl": link.redirect_url}),
            },
            status,
            redirect_uri: link.redirect_url.clone(),
            redirect_url: link.redirect_url,
        }),
    ))
}
