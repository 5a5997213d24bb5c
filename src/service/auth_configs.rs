//! Auth configs: an OAuth app (client id + sealed secret) for a toolkit. authlink manages no
//! OAuth apps of its own, so every config is `use_custom_auth`.

use crate::{
    catalog::ClientAuth,
    domain::{AuthConfigId, ToolkitSlug},
    error::{ApiError, ApiResult},
    service::context::ServiceContext,
    store::{AuthConfigFilter, AuthConfigRecord, NewAuthConfig, Page, ProjectId},
};

/// A new OAuth2 auth config, validated at the edge except for catalog membership.
#[derive(Debug)]
pub struct NewOAuth2Config {
    pub toolkit: ToolkitSlug,
    pub name: Option<String>,
    pub client_id: String,
    pub client_secret: String,
    pub scopes: Vec<String>,
    pub authorization_url: Option<String>,
    pub token_url: Option<String>,
    pub client_auth: Option<ClientAuth>,
    pub issuer: Option<String>,
}

pub async fn create(ctx: &ServiceContext, project: ProjectId, new: NewOAuth2Config) -> ApiResult<AuthConfigRecord> {
    let provider = ctx.catalog.get(&new.toolkit);
    if provider.is_none() && (new.authorization_url.is_none() || new.token_url.is_none()) {
        return Err(ApiError::InvalidAuthConfig(format!(
            "toolkit {} is not in authlink's catalog: give credentials.authorization_url and credentials.token_url",
            new.toolkit
        )));
    }
    let id = AuthConfigId::generate();
    let name =
        new.name.unwrap_or_else(|| format!("{} (custom)", provider.map_or(new.toolkit.as_str(), |p| p.name.as_str())));
    let sealed = ctx.sealer.seal(id.as_str(), new.client_secret.as_bytes());
    let record = NewAuthConfig {
        id,
        toolkit: new.toolkit,
        name,
        auth_scheme: "OAUTH2".to_owned(),
        client_id: new.client_id,
        client_secret_sealed: Some(sealed),
        scopes: new.scopes,
        authorization_url: new.authorization_url,
        token_url: new.token_url,
        client_auth: new.client_auth.map(|c| c.as_str().to_owned()),
        issuer: new.issuer,
    };
    Ok(ctx.store.insert_auth_config(project, &record).await?)
}

pub async fn get(ctx: &ServiceContext, project: ProjectId, id: &AuthConfigId) -> ApiResult<AuthConfigRecord> {
    ctx.store.auth_config(project, id).await?.ok_or_else(|| ApiError::AuthConfigNotFound(id.to_string()))
}

pub async fn list(
    ctx: &ServiceContext,
    project: ProjectId,
    filter: &AuthConfigFilter,
) -> ApiResult<Page<AuthConfigRecord>> {
    Ok(ctx.store.list_auth_configs(project, filter).await?)
}
