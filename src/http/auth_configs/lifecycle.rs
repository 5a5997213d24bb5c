//! Patch, enable/disable and delete an auth config (issue 12).

use axum::{
    Json,
    extract::{Path, State},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::http::extract::{FieldErrors, IdPath, Project, ValidatedJson};
use crate::{
    AppState,
    catalog::ClientAuth,
    domain::AuthConfigId,
    error::{ApiError, ApiResult, ErrorEnvelope, FieldError},
    service::auth_configs::{
        self,
        EndpointKind::{Authorization, Endpoint, Identifier},
    },
};

use super::{Scopes, endpoint};

/// `credentials` of `PATCH auth_configs/{id}`: every field optional; an omitted client secret is
/// kept.
#[derive(Debug, Default, Deserialize, Validate, ToSchema)]
pub struct CredentialsUpdate {
    #[validate(length(min = 1, max = 512))]
    #[schema(min_length = 1, max_length = 512)]
    pub client_id: Option<String>,
    #[validate(length(min = 1, max = 4096))]
    #[schema(min_length = 1, max_length = 4096)]
    pub client_secret: Option<String>,
    pub scopes: Option<Scopes>,
    pub authorization_url: Option<String>,
    pub token_url: Option<String>,
    #[schema(value_type = Option<String>, example = "client_secret_post")]
    pub client_auth: Option<ClientAuth>,
    pub issuer: Option<String>,
    pub revocation_url: Option<String>,
    /// Takes a JSON object only, not an array of the fields in order.
    #[serde(flatten)]
    #[schema(ignore)]
    pub(crate) _object_only: crate::http::extract::ObjectOnly,
}

/// Body of `PATCH auth_configs/{id}`, as the SDKs send it (`type` is `custom` for every authlink
/// config; `default`, Composio's managed kind, is refused).
#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct UpdateAuthConfigRequest {
    /// `custom` (or absent).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    #[validate(length(min = 1, max = 256))]
    #[schema(min_length = 1, max_length = 256)]
    pub name: Option<String>,
    #[validate(nested)]
    pub credentials: Option<CredentialsUpdate>,
    /// Replaces the scopes (also accepted inside `credentials`).
    pub scopes: Option<Scopes>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SuccessResponse {
    pub success: bool,
    pub message: String,
}

/// Changes an auth config's name, credentials or scopes. The secret is sealed and never returned.
#[utoipa::path(patch, path = "/auth_configs/{id}", tag = "auth_configs", operation_id = "update_auth_config",
    params(("id" = String, Path, description = "`ac_…` id")),
    request_body = UpdateAuthConfigRequest,
    responses(
        (status = 200, body = SuccessResponse),
        (status = 400, body = ErrorEnvelope),
        (status = 401, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope),
    ))]
pub async fn update(
    State(state): State<AppState>,
    Project(project, _): Project,
    IdPath(id): IdPath<AuthConfigId>,
    ValidatedJson(body): ValidatedJson<UpdateAuthConfigRequest>,
) -> ApiResult<Json<SuccessResponse>> {
    let mut errors = Vec::new();
    match body.kind.as_deref() {
        None | Some("custom") => {}
        Some("default") => {
            return Err(ApiError::Unsupported(
                "type default is a Composio-managed auth config: authlink manages no OAuth apps, and every authlink auth config is custom; send type custom".into(),
            ));
        }
        Some(_) => errors.push(FieldError::new("type", "must be custom")),
    }
    let creds = body.credentials.unwrap_or_default();
    super::no_control_characters(&mut errors, "credentials.client_id", creds.client_id.as_deref());
    super::no_control_characters(&mut errors, "credentials.client_secret", creds.client_secret.as_deref());
    let policy = &state.settings.outbound;
    let update = auth_configs::OAuth2ConfigUpdate {
        authorization_url: endpoint(
            &mut errors,
            policy,
            "credentials.authorization_url",
            creds.authorization_url,
            Authorization,
        ),
        token_url: endpoint(&mut errors, policy, "credentials.token_url", creds.token_url, Endpoint),
        issuer: endpoint(&mut errors, policy, "credentials.issuer", creds.issuer, Identifier),
        revocation_url: endpoint(&mut errors, policy, "credentials.revocation_url", creds.revocation_url, Endpoint),
        name: body.name,
        client_id: creds.client_id,
        client_secret: creds.client_secret,
        scopes: creds.scopes.or(body.scopes).map(Scopes::into_vec),
        client_auth: creds.client_auth,
    };
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    auth_configs::update(&state, project, &id, update).await?;
    Ok(Json(SuccessResponse { success: true, message: format!("Auth config {id} updated") }))
}

/// Enables or disables an auth config: a disabled one is never picked for new links.
#[utoipa::path(patch, path = "/auth_configs/{id}/{status}", tag = "auth_configs", operation_id = "update_auth_config_status",
    params(("id" = String, Path, description = "`ac_…` id"),
           ("status" = String, Path, description = "`ENABLED` or `DISABLED`")),
    responses(
        (status = 200, body = SuccessResponse),
        (status = 400, body = ErrorEnvelope),
        (status = 401, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope),
    ))]
pub async fn update_status(
    State(state): State<AppState>,
    Project(project, _): Project,
    Path((id, status)): Path<(String, String)>,
) -> ApiResult<Json<SuccessResponse>> {
    let mut e = FieldErrors::default();
    let id = e.check("id", AuthConfigId::parse(&id));
    let enabled = match status.as_str() {
        "ENABLED" => Some(true),
        "DISABLED" => Some(false),
        _ => {
            e.push("status", "must be ENABLED or DISABLED");
            None
        }
    };
    e.finish()?;
    let (Some(id), Some(enabled)) = (id, enabled) else { return Err(ApiError::field("status", "is invalid")) };
    auth_configs::set_enabled(&state, project, &id, enabled).await?;
    Ok(Json(SuccessResponse { success: true, message: format!("Auth config {id} is now {status}") }))
}

/// Deletes an auth config together with every connected account using it (one transaction;
/// the client secret and the accounts' tokens are erased at once).
#[utoipa::path(delete, path = "/auth_configs/{id}", tag = "auth_configs", operation_id = "delete_auth_config",
    params(("id" = String, Path, description = "`ac_…` id")),
    responses(
        (status = 200, body = SuccessResponse),
        (status = 400, body = ErrorEnvelope),
        (status = 401, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope),
    ))]
pub async fn delete(
    State(state): State<AppState>,
    Project(project, _): Project,
    IdPath(id): IdPath<AuthConfigId>,
) -> ApiResult<Json<SuccessResponse>> {
    let accounts = auth_configs::delete(&state, project, &id).await?;
    Ok(Json(SuccessResponse {
        success: true,
        message: format!("Auth config {id} deleted with its {accounts} connected account(s)"),
    }))
}
