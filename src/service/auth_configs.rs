//! Auth configs: an OAuth app (client id + sealed secret) for a toolkit. authlink manages no
//! OAuth apps of its own, so every config is `use_custom_auth`.

use url::Url;

use crate::{
    catalog::{AuthScheme, ClientAuth},
    domain::{AuthConfigId, ToolkitSlug},
    error::{ApiError, ApiResult, FieldError},
    outbound::OutboundPolicy,
    service::context::ServiceContext,
    store::{ApiKeyId, AuthConfigFilter, AuthConfigPatch, AuthConfigRecord, NewAuthConfig, Page, ProjectId},
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
    pub revocation_url: Option<String>,
}

/// Which kind of URL a field of an auth config holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointKind {
    /// Called by authlink or sent to the browser (authorization, token, revocation, userinfo):
    /// refused when the operator forbids tenant endpoints (`AUTHLINK_TENANT_ENDPOINTS=forbidden`).
    Endpoint,
    /// An [`Self::Endpoint`] that authlink adds the OAuth parameters to: it may not carry them itself.
    Authorization,
    /// Only compared, never called (`issuer`): checked as written, allowed in catalog-only mode.
    Identifier,
}

/// The parameters authlink puts on every authorization request. An `authorization_url` carrying
/// one would make the provider see two values (which one wins is the provider's choice), so a
/// tenant could pin another `redirect_uri`, a fixed `state` or a known PKCE challenge.
pub const OAUTH_AUTHORIZATION_PARAMS: &[&str] =
    &["redirect_uri", "state", "code_challenge", "code_challenge_method", "response_type", "client_id"];

/// Checks one URL field of an auth config as written (issue 11): https, no user info, no
/// localhost, cloud metadata name or forbidden IP literal, unless its origin is on
/// `AUTHLINK_ENDPOINT_ALLOWLIST`. What the host resolves to is checked again at every
/// connection by the outbound client. `path` names the field in the 400.
pub fn check_url_field(policy: &OutboundPolicy, path: &str, raw: &str, kind: EndpointKind) -> Result<Url, FieldError> {
    let url = Url::parse(raw).map_err(|_| FieldError::new(path, "must be an absolute https URL"))?;
    let checked = match kind {
        EndpointKind::Endpoint | EndpointKind::Authorization => policy.check_tenant_endpoint(&url),
        EndpointKind::Identifier => policy.check_url_as_written(&url),
    };
    checked.map_err(|refusal| FieldError::new(path, refusal.to_string()))?;
    if kind == EndpointKind::Authorization
        && let Some((name, _)) = url.query_pairs().find(|(k, _)| OAUTH_AUTHORIZATION_PARAMS.contains(&k.as_ref()))
    {
        return Err(FieldError::new(
            path,
            format!("must not carry the OAuth parameter `{name}`: authlink sets it on every authorization request"),
        ));
    }
    Ok(url)
}

/// Creates the config; the store records `auth_config_created` by `actor` in the same transaction.
pub async fn create(
    ctx: &ServiceContext,
    project: ProjectId,
    new: NewOAuth2Config,
    actor: ApiKeyId,
) -> ApiResult<AuthConfigRecord> {
    let policy = &ctx.settings.outbound;
    // The HTTP layer checks these too, naming the request's full paths; this keeps every other
    // caller to the same rule.
    let fields = [
        ("credentials.authorization_url", &new.authorization_url, EndpointKind::Authorization),
        ("credentials.token_url", &new.token_url, EndpointKind::Endpoint),
        ("credentials.issuer", &new.issuer, EndpointKind::Identifier),
        ("credentials.revocation_url", &new.revocation_url, EndpointKind::Endpoint),
    ];
    let errors: Vec<FieldError> = fields
        .into_iter()
        .filter_map(|(path, raw, kind)| raw.as_deref().and_then(|r| check_url_field(policy, path, r, kind).err()))
        .collect();
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let provider = ctx.catalog.get(&new.toolkit);
    if let Some(p) = provider.filter(|p| !p.auth_scheme.is_oauth()) {
        return Err(ApiError::field(
            "auth_config.authScheme",
            format!(
                "toolkit {} uses {}, not OAUTH2: create the auth config with authScheme {}",
                p.slug, p.auth_scheme, p.auth_scheme
            ),
        ));
    }
    if provider.is_none() && policy.tenant_endpoints_forbidden() {
        return Err(ApiError::InvalidAuthConfig(format!(
            "toolkit {} is not in authlink's catalog, and this server uses only the catalog's provider endpoints",
            new.toolkit
        )));
    }
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
        revocation_url: new.revocation_url,
        request_token_url: None,
    };
    Ok(ctx.store.insert_auth_config(project, &record, Some(actor)).await?)
}

/// Creates an API key, bearer token or basic auth config for a catalog toolkit of that scheme:
/// no client credentials (each connected account brings its own secret).
pub async fn create_for_scheme(
    ctx: &ServiceContext,
    project: ProjectId,
    toolkit: ToolkitSlug,
    scheme: AuthScheme,
    name: Option<String>,
    actor: ApiKeyId,
) -> ApiResult<AuthConfigRecord> {
    let provider =
        ctx.catalog.get(&toolkit).filter(|p| p.auth_scheme == scheme).ok_or_else(|| {
            ApiError::field("auth_config.authScheme", format!("toolkit {toolkit} does not use {scheme}"))
        })?;
    let id = AuthConfigId::generate();
    let record = NewAuthConfig {
        id,
        name: name.unwrap_or_else(|| format!("{} ({})", provider.name, scheme)),
        toolkit,
        auth_scheme: scheme.as_str().to_owned(),
        client_id: String::new(),
        client_secret_sealed: None,
        scopes: Vec::new(),
        authorization_url: None,
        token_url: None,
        client_auth: None,
        issuer: None,
        revocation_url: None,
        request_token_url: None,
    };
    Ok(ctx.store.insert_auth_config(project, &record, Some(actor)).await?)
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

/// Changes to an auth config, validated at the edge; `None` keeps a field. A new client secret
/// is sealed here; an omitted one is kept.
#[derive(Debug, Default)]
pub struct OAuth2ConfigUpdate {
    pub name: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub scopes: Option<Vec<String>>,
    pub authorization_url: Option<String>,
    pub token_url: Option<String>,
    pub revocation_url: Option<String>,
    pub issuer: Option<String>,
    pub client_auth: Option<ClientAuth>,
}

/// Applies an update (`PATCH auth_configs/{id}`). Links already made keep working; new links and
/// refreshes use the new settings.
pub async fn update(
    ctx: &ServiceContext,
    project: ProjectId,
    id: &AuthConfigId,
    update: OAuth2ConfigUpdate,
) -> ApiResult<AuthConfigRecord> {
    let policy = &ctx.settings.outbound;
    let fields = [
        ("credentials.authorization_url", &update.authorization_url, EndpointKind::Authorization),
        ("credentials.token_url", &update.token_url, EndpointKind::Endpoint),
        ("credentials.issuer", &update.issuer, EndpointKind::Identifier),
        ("credentials.revocation_url", &update.revocation_url, EndpointKind::Endpoint),
    ];
    let errors: Vec<FieldError> = fields
        .into_iter()
        .filter_map(|(path, raw, kind)| raw.as_deref().and_then(|r| check_url_field(policy, path, r, kind).err()))
        .collect();
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let patch = AuthConfigPatch {
        name: update.name,
        client_id: update.client_id,
        client_secret_sealed: update.client_secret.map(|secret| ctx.sealer.seal(id.as_str(), secret.as_bytes())),
        scopes: update.scopes,
        authorization_url: update.authorization_url,
        token_url: update.token_url,
        revocation_url: update.revocation_url,
        issuer: update.issuer,
        client_auth: update.client_auth.map(|c| c.as_str().to_owned()),
    };
    let updated = ctx
        .store
        .update_auth_config(project, id, &patch)
        .await?
        .ok_or_else(|| ApiError::AuthConfigNotFound(id.to_string()))?;
    tracing::info!(auth_config_id = %id, "auth config updated");
    Ok(updated)
}

/// `PATCH auth_configs/{id}/{ENABLED|DISABLED}`. A disabled config is never picked for new links
/// (neither as a session override nor as the toolkit's default) and reads as `DISABLED`; links
/// already made and accounts already connected keep working.
pub async fn set_enabled(ctx: &ServiceContext, project: ProjectId, id: &AuthConfigId, enabled: bool) -> ApiResult<()> {
    if ctx.store.set_auth_config_enabled(project, id, enabled).await? {
        tracing::info!(auth_config_id = %id, enabled, "auth config status changed");
        Ok(())
    } else {
        Err(ApiError::AuthConfigNotFound(id.to_string()))
    }
}

/// `DELETE auth_configs/{id}`: the config and every connected account using it are deleted
/// together (one transaction; secrets and tokens erased at once, rows purged by retention), so
/// no account is left pointing at a config that is gone. Returns how many accounts went.
pub async fn delete(ctx: &ServiceContext, project: ProjectId, id: &AuthConfigId) -> ApiResult<u64> {
    let accounts =
        ctx.store.delete_auth_config(project, id).await?.ok_or_else(|| ApiError::AuthConfigNotFound(id.to_string()))?;
    tracing::info!(auth_config_id = %id, accounts, "auth config deleted with its connected accounts");
    Ok(accounts)
}
