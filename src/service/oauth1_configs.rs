//! OAUTH1 auth configs: the app's consumer key and secret for a toolkit (RFC 5849 "client
//! credentials"), sealed like an OAuth 2.0 client secret, with optional endpoint overrides.

use crate::{
    catalog::AuthScheme,
    domain::{AuthConfigId, ToolkitSlug},
    error::{ApiError, ApiResult},
    service::context::ServiceContext,
    store::{ApiKeyId, AuthConfigRecord, NewAuthConfig, ProjectId},
};

/// A validated OAUTH1 auth config request (URLs already checked against the outbound policy).
#[derive(Debug)]
pub struct NewOAuth1Config {
    pub toolkit: ToolkitSlug,
    pub name: Option<String>,
    pub consumer_key: String,
    pub consumer_secret: String,
    pub request_token_url: Option<String>,
    pub authorize_url: Option<String>,
    pub access_token_url: Option<String>,
}

/// Creates the auth config. A catalog toolkit must be an OAUTH1 one; a toolkit outside the
/// catalog must name all three endpoints (and the operator must allow tenant endpoints).
pub async fn create(
    ctx: &ServiceContext,
    project: ProjectId,
    new: NewOAuth1Config,
    actor: ApiKeyId,
) -> ApiResult<AuthConfigRecord> {
    let provider = ctx.catalog.get(&new.toolkit);
    if let Some(p) = provider.filter(|p| p.auth_scheme != AuthScheme::OAuth1) {
        return Err(ApiError::field(
            "auth_config.authScheme",
            format!(
                "toolkit {} uses {}, not OAUTH1: create the auth config with authScheme {}",
                p.slug, p.auth_scheme, p.auth_scheme
            ),
        ));
    }
    if provider.is_none() {
        if ctx.settings.outbound.tenant_endpoints_forbidden() {
            return Err(ApiError::InvalidAuthConfig(format!(
                "toolkit {} is not in authlink's catalog, and this server uses only the catalog's provider endpoints",
                new.toolkit
            )));
        }
        if new.request_token_url.is_none() || new.authorize_url.is_none() || new.access_token_url.is_none() {
            return Err(ApiError::InvalidAuthConfig(format!(
                "toolkit {} is not in authlink's catalog: give credentials.request_token_url, credentials.authorization_url and credentials.token_url",
                new.toolkit
            )));
        }
    }
    let id = AuthConfigId::generate();
    let name =
        new.name.unwrap_or_else(|| format!("{} (custom)", provider.map_or(new.toolkit.as_str(), |p| p.name.as_str())));
    let sealed = ctx.sealer.seal(id.as_str(), new.consumer_secret.as_bytes());
    let record = NewAuthConfig {
        id,
        toolkit: new.toolkit,
        name,
        auth_scheme: AuthScheme::OAuth1.as_str().to_owned(),
        client_id: new.consumer_key,
        client_secret_sealed: Some(sealed),
        scopes: Vec::new(),
        authorization_url: new.authorize_url,
        token_url: new.access_token_url,
        client_auth: None,
        issuer: None,
        revocation_url: None,
        request_token_url: new.request_token_url,
    };
    Ok(ctx.store.insert_auth_config(project, &record, Some(actor)).await?)
}
