//! Link creation, the heart of authlink: resolve the toolkit and its auth config, pick the
//! callback, and write an INITIATED account plus a single-use link token atomically.

use chrono::{DateTime, Utc};

use crate::{
    domain::{
        AccountType, AclConfig, AuthConfigId, CallbackUrl, ConnectedAccountId, LinkToken, LinkUrlAllowlist, SessionId,
        ToolkitSlug,
    },
    error::{ApiError, ApiResult},
    service::context::ServiceContext,
    store::{AccountRecord, AuthConfigRecord, Constraint, NewLink, NewReconnectLink, ProjectId, StoreError},
};

/// What the caller asked for, already parsed.
#[derive(Debug, Clone)]
pub struct LinkRequest {
    pub alias: Option<String>,
    pub callback_url: Option<CallbackUrl>,
    pub account_type: AccountType,
    /// Only ever set for SHARED accounts (the edge rejects it on PRIVATE).
    pub acl: Option<AclConfig>,
    /// authlink's reconnect: run the flow again for this existing account, updating it in place
    /// (the edge refuses `alias` and `experimental` with it: the account keeps its own).
    pub reconnect: Option<ConnectedAccountId>,
}

/// A created link: the token exists only here, in memory, and in the response.
#[derive(Debug)]
pub struct CreatedLink {
    pub account: AccountRecord,
    pub token: LinkToken,
    pub redirect_url: String,
    pub expires_at: DateTime<Utc>,
}

/// `POST tool_router/session/{id}/link`.
#[tracing::instrument(name = "links::create_for_session", skip_all, fields(project = %project.0, session_id = %session_id, toolkit = %toolkit))]
pub async fn create_for_session(
    ctx: &ServiceContext,
    project: ProjectId,
    session_id: &SessionId,
    toolkit: &ToolkitSlug,
    request: LinkRequest,
) -> ApiResult<CreatedLink> {
    let (session, auth_config) = ctx
        .store
        .link_context(project, session_id, toolkit)
        .await?
        .ok_or_else(|| ApiError::SessionNotFound(session_id.to_string()))?;
    // A toolkit with an auth config is known; only look further when there is none.
    if auth_config.is_none() {
        super::toolkits::ensure_known(ctx, project, [toolkit]).await?;
    }
    if !session.config.toolkit_enabled(toolkit) {
        return Err(ApiError::ToolkitNotEnabled { toolkit: toolkit.to_string(), session: session_id.to_string() });
    }
    let auth_config = auth_config.ok_or_else(|| ApiError::NoManagedAuth(toolkit.to_string()))?;

    let fallback = session.config.manage_connections.callback_url.as_deref();
    let callback_url = match (request.callback_url.clone(), fallback) {
        (Some(url), _) => Some(url),
        (None, Some(raw)) => Some(ctx.settings.callback_allowlist.check(raw).map_err(|e| {
            ApiError::field("callback_url", format!("the session's manage_connections.callback_url {e}"))
        })?),
        (None, None) => None,
    };
    // Checked when the session was written; again here, for sessions written before the
    // operator's allowlist existed or changed.
    let base = match session.config.link_url_overwrite.clone() {
        Some(overwrite) if !ctx.settings.link_url_allowed(&overwrite) => {
            return Err(ApiError::field(
                "experimental.link_url_overwrite",
                format!("the session's experimental.link_url_overwrite {}", LinkUrlAllowlist::REFUSAL),
            ));
        }
        Some(overwrite) => overwrite,
        None => ctx.settings.public_base.clone(),
    };
    write(
        ctx,
        project,
        &session.user_id,
        &auth_config,
        LinkRequest { callback_url, ..request },
        Some(session_id),
        &base,
    )
    .await
}

/// `POST connected_accounts/link`: a link for a user and an explicit auth config, no session.
#[tracing::instrument(name = "links::create_for_user", skip_all, fields(project = %project.0, auth_config_id = %auth_config_id))]
pub async fn create_for_user(
    ctx: &ServiceContext,
    project: ProjectId,
    auth_config_id: &AuthConfigId,
    user_id: &str,
    request: LinkRequest,
) -> ApiResult<CreatedLink> {
    let auth_config = ctx
        .store
        .auth_config(project, auth_config_id)
        .await?
        .filter(|ac| ac.is_enabled)
        .ok_or_else(|| ApiError::AuthConfigNotFound(auth_config_id.to_string()))?;
    let base = ctx.settings.public_base.clone();
    write(ctx, project, user_id, &auth_config, request, None, &base).await
}

async fn write(
    ctx: &ServiceContext,
    project: ProjectId,
    user_id: &str,
    auth_config: &AuthConfigRecord,
    request: LinkRequest,
    session_id: Option<&SessionId>,
    base: &str,
) -> ApiResult<CreatedLink> {
    let token = LinkToken::generate();
    let expires_at = Utc::now() + ctx.settings.link_ttl;
    if let Some(id) = &request.reconnect {
        let account = reconnectable(ctx, project, id, user_id, auth_config).await?;
        let new = NewReconnectLink {
            account_id: id.clone(),
            token_hash: token.hash(),
            expires_at,
            callback_url: request.callback_url.as_ref().map(|c| c.as_str().to_owned()),
            session_id: session_id.cloned(),
        };
        ctx.store.create_reconnect_link(project, &new).await?;
        let redirect_url = format!("{}/link/{}", base.trim_end_matches('/'), token.as_str());
        return Ok(CreatedLink { account, token, redirect_url, expires_at });
    }
    let account_id = ConnectedAccountId::generate();
    let redirect_url = format!("{}/link/{}", base.trim_end_matches('/'), token.as_str());
    let link_url_sealed = Some(ctx.sealer.seal(account_id.as_str(), redirect_url.as_bytes()));
    let new = NewLink {
        account_id,
        user_id: user_id.to_owned(),
        toolkit: auth_config.toolkit.clone(),
        auth_config_id: auth_config.id.clone(),
        alias: request.alias.clone(),
        account_type: request.account_type,
        acl: match request.account_type {
            AccountType::Shared => Some(request.acl.clone().unwrap_or_default()),
            AccountType::Private => None,
        },
        token_hash: token.hash(),
        expires_at,
        callback_url: request.callback_url.as_ref().map(|c| c.as_str().to_owned()),
        session_id: session_id.cloned(),
        link_url_sealed,
    };
    let account = ctx.store.create_link(project, &new).await.map_err(|err| match err {
        StoreError::Conflict(Constraint::AccountAlias) => ApiError::AliasTaken {
            alias: request.alias.clone().unwrap_or_default(),
            toolkit: auth_config.toolkit.to_string(),
        },
        StoreError::Conflict(Constraint::AuthConfigGone) => ApiError::AuthConfigNotFound(auth_config.id.to_string()),
        other => other.into(),
    })?;
    crate::telemetry::link_created(auth_config.toolkit.as_str());
    Ok(CreatedLink { account, token, redirect_url, expires_at })
}

/// The account a reconnect names, if it may be reconnected with this user and auth config: the
/// same user and auth config, no connection in progress, and no user-bound completion (whose
/// check of the logged-in user a reconnect would bypass).
async fn reconnectable(
    ctx: &ServiceContext,
    project: ProjectId,
    id: &ConnectedAccountId,
    user_id: &str,
    auth_config: &AuthConfigRecord,
) -> ApiResult<AccountRecord> {
    const FIELD: &str = "connected_account_id";
    let account =
        ctx.store.account(project, id).await?.ok_or_else(|| ApiError::ConnectedAccountNotFound(id.to_string()))?;
    if account.user_id != user_id {
        return Err(ApiError::field(FIELD, "belongs to another user than the link's"));
    }
    if account.auth_config_id != auth_config.id {
        return Err(ApiError::field(
            FIELD,
            format!("uses auth config {}, not {}: reconnect with its own", account.auth_config_id, auth_config.id),
        ));
    }
    if account.status == crate::domain::AccountStatus::Initiated {
        return Err(ApiError::field(FIELD, "has a connection in progress (INITIATED); wait for it to end"));
    }
    if ctx.store.verifier_url(project).await?.is_some() {
        return Err(ApiError::field(FIELD, "cannot be reconnected while the project's completion is user-bound"));
    }
    Ok(account)
}
