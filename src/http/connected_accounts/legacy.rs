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
    error::{ApiError, ApiResult, ErrorEnvelope},
    service::{
        credentials::{self, DirectAccount},
        links::{self, LinkRequest},
    },
};

#[derive(Debug, Deserialize, ToSchema)]
pub struct LegacyAuthConfigRef {
    #[schema(pattern = "^ac_[A-Za-z0-9_-]{12}$")]
    pub id: String,
    /// Takes a JSON object only, not an array of the fields in order.
    #[serde(flatten)]
    #[schema(ignore)]
    pub(crate) _object_only: crate::http::extract::ObjectOnly,
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
    /// `{authScheme, val}`: for an `API_KEY` / `BEARER_TOKEN` / `BASIC` auth config, `val` holds
    /// the account's fields (`api_key`, `token`, `username` and `password`, `subdomain`, ...) and
    /// the account is created ACTIVE at once, with no page.
    #[schema(value_type = Option<Object>)]
    pub state: Option<serde_json::Value>,
    /// The older form of `state.val`.
    #[schema(value_type = Option<Object>)]
    pub data: Option<serde_json::Value>,
    /// Takes a JSON object only, not an array of the fields in order.
    #[serde(flatten)]
    #[schema(ignore)]
    pub(crate) _object_only: crate::http::extract::ObjectOnly,
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
    /// The link for OAuth 2.0; `null` for an account created ACTIVE from its fields.
    pub redirect_url: Option<String>,
    pub redirect_uri: Option<String>,
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
    let auth_config = credentials::enabled_auth_config(&state, project, &auth_config_id).await?;
    if credentials::is_field_scheme(&auth_config.auth_scheme) {
        let (path, val) = match (c.state, c.data) {
            (Some(s), _) => ("connection.state.val", s.get("val").cloned()),
            (None, Some(d)) => ("connection.data", Some(d)),
            (None, None) => ("connection.state.val", None),
        };
        let Some(serde_json::Value::Object(val)) = val else {
            return Err(ApiError::field(
                path,
                format!("is required: a {} account is created from its fields", auth_config.auth_scheme),
            ));
        };
        let direct = DirectAccount { user_id: c.user_id, alias: c.alias, account_type, acl, path, val };
        let account = credentials::connect(&state, project, &auth_config, direct).await?;
        let fields = credentials::open(&state, &account)?.unwrap_or_default();
        let mut val = serde_json::Map::new();
        val.insert("status".into(), account.status.as_str().into());
        val.extend(fields.into_iter().map(|(k, v)| (k, v.into())));
        return Ok((
            StatusCode::CREATED,
            Json(LegacyCreateResponse {
                id: account.id.to_string(),
                connection_data: ConnectionData { auth_scheme: account.auth_scheme.clone(), val: val.into() },
                status: account.status,
                redirect_url: None,
                redirect_uri: None,
            }),
        ));
    }
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
            redirect_uri: Some(link.redirect_url.clone()),
            redirect_url: Some(link.redirect_url),
        }),
    ))
}
