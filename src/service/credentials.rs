//! Connected accounts of the API key, bearer token and basic schemes: created directly through
//! the API (no page, as Composio allows), their credential replaced with `PATCH`, and read back.
//!
//! The submitted values are checked against the catalog's fields ([`validate_fields`]); the whole
//! set (secret and not) is sealed with the account id as associated data into the account's
//! `tokens_sealed` column, the same column and key as OAuth token sets, so key rotation re-seals
//! it and no dump ever holds it in clear. An account's `auth_scheme` tells the two shapes apart.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{
    catalog::{AuthScheme, FieldError as CatalogFieldError, Provider, validate_fields},
    domain::{AccountStatus, AccountType, AuthConfigId, ConnectedAccountId},
    error::{ApiError, ApiResult, FieldError},
    service::{
        context::ServiceContext,
        links::{self, LinkRequest},
    },
    store::{AccountRecord, AuthConfigRecord, ProjectId},
};

/// What is sealed for a non-OAuth account.
#[derive(Serialize, Deserialize)]
struct SealedFields {
    fields: BTreeMap<String, String>,
}

/// Whether an account's credential is a field set typed in by the user or app (API key, bearer,
/// basic): such accounts are created and replaced through the API, and never refresh.
pub fn is_field_scheme(auth_scheme: &str) -> bool {
    AuthScheme::parse(auth_scheme).is_some_and(AuthScheme::is_typed_in)
}

/// Whether an account's credential is sealed as a field set: the typed-in schemes, and OAuth
/// 1.0a, whose token credentials are the provider's parameters (`oauth_token`,
/// `oauth_token_secret`, `edam_*`, ...) rather than an OAuth 2.0 token set.
pub fn is_sealed_as_fields(auth_scheme: &str) -> bool {
    AuthScheme::parse(auth_scheme).is_some_and(|s| s != AuthScheme::OAuth2)
}

/// The catalog entry of a non-OAuth auth config (these exist only for catalog toolkits).
fn provider_of<'c>(ctx: &'c ServiceContext, ac: &AuthConfigRecord) -> ApiResult<&'c Provider> {
    ctx.catalog.get(&ac.toolkit).filter(|p| p.auth_scheme.as_str() == ac.auth_scheme).ok_or_else(|| {
        ApiError::InvalidAuthConfig(format!("toolkit {} has no {} entry in the catalog", ac.toolkit, ac.auth_scheme))
    })
}

/// Reads `connection.state.val` (or the legacy `data`) into field values: strings only, the
/// `status` Composio's SDKs add ignored, `generic_api_key` taken for the entry's credential
/// field when the entry has no field of that name. Errors name `{path}.{field}`.
pub fn values_from_val(
    provider: &Provider,
    val: &serde_json::Map<String, serde_json::Value>,
    path: &str,
) -> Result<BTreeMap<String, String>, Vec<FieldError>> {
    let mut values = BTreeMap::new();
    let mut errors = Vec::new();
    for (key, value) in val {
        if key == "status" {
            continue;
        }
        let name = match key.as_str() {
            "generic_api_key" if provider.field(key).is_none() => {
                provider.credential_field().map_or_else(|| key.clone(), |f| f.name.clone())
            }
            _ => key.clone(),
        };
        match value {
            serde_json::Value::String(s) => {
                values.insert(name, s.clone());
            }
            serde_json::Value::Null => {}
            _ => errors.push(FieldError::new(format!("{path}.{}", shown(key)), "must be a string")),
        }
    }
    if errors.is_empty() { Ok(values) } else { Err(errors) }
}

fn shown(name: &str) -> String {
    name.chars().filter(char::is_ascii_graphic).take(64).collect()
}

fn field_errors(path: &str, errors: Vec<CatalogFieldError>) -> ApiError {
    ApiError::Validation(
        errors.into_iter().map(|e| FieldError::new(format!("{path}.{}", e.field), e.message)).collect(),
    )
}

fn seal(ctx: &ServiceContext, id: &ConnectedAccountId, fields: BTreeMap<String, String>) -> ApiResult<String> {
    let json = serde_json::to_vec(&SealedFields { fields }).map_err(ApiError::internal)?;
    Ok(ctx.sealer.seal(id.as_str(), &json))
}

/// Seals a field set for an account as [`open`] reads it back (OAuth 1.0a token credentials).
pub(crate) fn seal_field_set(
    ctx: &ServiceContext,
    id: &ConnectedAccountId,
    fields: BTreeMap<String, String>,
) -> ApiResult<String> {
    seal(ctx, id, fields)
}

/// The field values of a non-OAuth account, opened (`None` for OAuth accounts and accounts
/// without a credential, e.g. revoked ones).
pub fn open(ctx: &ServiceContext, account: &AccountRecord) -> ApiResult<Option<BTreeMap<String, String>>> {
    if !is_sealed_as_fields(&account.auth_scheme) {
        return Ok(None);
    }
    let Some(sealed) = &account.tokens_sealed else { return Ok(None) };
    let bytes = ctx.sealer.open(account.id.as_str(), sealed).map_err(ApiError::internal)?;
    let opened: SealedFields = serde_json::from_slice(&bytes).map_err(ApiError::internal)?;
    Ok(Some(opened.fields))
}

/// What `POST connected_accounts` asks for an account of a non-OAuth auth config.
#[derive(Debug)]
pub struct DirectAccount {
    pub user_id: String,
    pub alias: Option<String>,
    pub account_type: AccountType,
    pub acl: Option<crate::domain::AclConfig>,
    /// Where the values came from in the request, for error paths (`connection.state.val`).
    pub path: &'static str,
    pub val: serde_json::Map<String, serde_json::Value>,
}

/// Creates an ACTIVE account for an API key, bearer or basic auth config: the values validated,
/// then an INITIATED account and its link written and completed at once with the sealed values,
/// so the account, its audit entry and its `connected_account.active` event are written exactly
/// as an OAuth completion writes them.
pub async fn connect(
    ctx: &ServiceContext,
    project: ProjectId,
    auth_config: &AuthConfigRecord,
    request: DirectAccount,
) -> ApiResult<AccountRecord> {
    let provider = provider_of(ctx, auth_config)?;
    let values = values_from_val(provider, &request.val, request.path).map_err(ApiError::Validation)?;
    let validated = validate_fields(provider, &values).map_err(|e| field_errors(request.path, e))?;
    let link_request = LinkRequest {
        alias: request.alias,
        callback_url: None,
        account_type: request.account_type,
        acl: request.acl,
        reconnect: None,
    };
    let link = links::create_for_user(ctx, project, &auth_config.id, &request.user_id, link_request).await?;
    let sealed = seal(ctx, &link.account.id, validated.into_values())?;
    let done = ctx.store.complete_link(project, &link.account.id, &link.token.hash(), &sealed, None).await?;
    if !done {
        return Err(ApiError::internal(std::io::Error::other("a fresh link could not be completed")));
    }
    tracing::info!(connected_account_id = %link.account.id, scheme = %auth_config.auth_scheme, "account connected directly");
    crate::telemetry::link_completed(auth_config.toolkit.as_str(), "active");
    super::accounts::get(ctx, project, &link.account.id).await
}

/// `PATCH connected_accounts/{id}` with `connection.val`: replaces the credential of an ACTIVE
/// API key, bearer or basic account under the account's refresh lock (so it cannot interleave
/// with a refresh or a revoke). Fields not sent keep their value; the result is validated whole.
pub async fn replace(
    ctx: &ServiceContext,
    project: ProjectId,
    id: &ConnectedAccountId,
    val: &serde_json::Map<String, serde_json::Value>,
    path: &str,
) -> ApiResult<AccountRecord> {
    let account = super::accounts::get(ctx, project, id).await?;
    if !is_field_scheme(&account.auth_scheme) {
        return Err(ApiError::Unsupported(format!(
            "{path}: {id} is an {} account, whose tokens come only from the provider (connect flow, refresh); to replace them, connect again (connected_accounts/link or session.authorize)",
            account.auth_scheme
        )));
    }
    let auth_config = ctx
        .store
        .auth_config(project, &account.auth_config_id)
        .await?
        .ok_or_else(|| ApiError::AuthConfigNotFound(account.auth_config_id.to_string()))?;
    let provider = provider_of(ctx, &auth_config)?;
    let update = values_from_val(provider, val, path).map_err(ApiError::Validation)?;
    let lease = ctx
        .store
        .begin_refresh(project, id)
        .await?
        .ok_or_else(|| ApiError::ConnectedAccountNotFound(id.to_string()))?;
    let locked = lease.account().clone();
    if locked.status != AccountStatus::Active {
        drop(lease);
        return Err(ApiError::BadRequest(format!(
            "Connected account {id} is {}, not ACTIVE: its credential cannot be replaced; create a new account instead",
            locked.status.as_str()
        )));
    }
    let mut values = open(ctx, &locked)?.unwrap_or_default();
    values.extend(update);
    let validated = validate_fields(provider, &values).map_err(|e| field_errors(path, e))?;
    let sealed = seal(ctx, id, validated.into_values())?;
    lease.save(sealed, None).await?;
    tracing::info!(connected_account_id = %id, "credential replaced");
    super::accounts::get(ctx, project, id).await
}

/// The auth config an API call names, enabled and of this project.
pub async fn enabled_auth_config(
    ctx: &ServiceContext,
    project: ProjectId,
    id: &AuthConfigId,
) -> ApiResult<AuthConfigRecord> {
    ctx.store
        .auth_config(project, id)
        .await?
        .filter(|ac| ac.is_enabled)
        .ok_or_else(|| ApiError::AuthConfigNotFound(id.to_string()))
}
