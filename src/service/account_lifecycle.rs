//! A connected account's life after creation (issue 12): enable, disable and revoke. Each
//! transition is one function around one store transaction, where the event a webhook reports
//! can be written too.

use crate::{
    domain::{AccountStatus, ConnectedAccountId},
    error::{ApiError, ApiResult},
    service::{context::ServiceContext, oauth_fields::provider_for_account, tokens},
    store::{AccountRecord, ProjectId},
};

/// `status_reason` of a revoked account.
pub const REVOKED_REASON: &str = "Revoked through the API; the user must connect again";

/// Enables or disables an account. A disabled account is never resolved for a session, pinned
/// or refreshed; its status is kept and `is_disabled` says so.
#[tracing::instrument(name = "account_lifecycle::set_enabled", skip_all, fields(project = %project.0, id = %id))]
pub async fn set_enabled(
    ctx: &ServiceContext,
    project: ProjectId,
    id: &ConnectedAccountId,
    enabled: bool,
) -> ApiResult<AccountRecord> {
    let account = ctx
        .store
        .set_account_disabled(project, id, !enabled)
        .await?
        .ok_or_else(|| ApiError::ConnectedAccountNotFound(id.to_string()))?;
    tracing::info!(connected_account_id = %id, enabled, "connected account status changed");
    Ok(account)
}

/// What a revocation did.
#[derive(Debug)]
pub struct Revocation {
    pub account: AccountRecord,
    /// The tokens the provider confirmed revoked (`refresh_token`, `access_token`), in that order.
    pub revoked_tokens: Vec<&'static str>,
}

/// Revokes an ACTIVE account (a REVOKED one again, harmlessly): its tokens are revoked at the
/// provider (RFC 7009) when the catalog or the auth config names a revocation endpoint, then
/// erased here in every case, and the account becomes REVOKED. Any other status is a 409.
#[tracing::instrument(name = "account_lifecycle::revoke", skip_all, fields(project = %project.0, id = %id))]
pub async fn revoke(ctx: &ServiceContext, project: ProjectId, id: &ConnectedAccountId) -> ApiResult<Revocation> {
    let account = super::accounts::get(ctx, project, id).await?;
    if !matches!(account.status, AccountStatus::Active | AccountStatus::Revoked) {
        return Err(ApiError::NotRevocable(account.status.as_str().to_owned()));
    }
    let mut revoked_tokens = Vec::new();
    if account.status == AccountStatus::Active
        && let Some(set) = tokens::open(ctx, &account)?
    {
        let auth_config = ctx.store.auth_config(project, &account.auth_config_id).await?;
        let provider = match &auth_config {
            Some(ac) => Some(provider_for_account(ctx, project, id, ac).await?),
            None => None,
        };
        if let Some(provider) = provider
            && let Some(url) = provider.revocation_url.clone()
        {
            // The refresh token first: revoking it usually ends the whole grant (RFC 7009 §2.1).
            let candidates =
                [("refresh_token", set.refresh_token.as_deref()), ("access_token", Some(&*set.access_token))];
            for (hint, token) in candidates {
                let Some(token) = token else { continue };
                match ctx.oauth.revoke(&provider, &url, token, hint).await {
                    Ok(()) => revoked_tokens.push(hint),
                    Err(e) => {
                        tracing::warn!(connected_account_id = %id, token = hint, error = %e, "revocation at the provider failed");
                    }
                }
            }
        }
    }
    if !ctx.store.revoke_account(project, id, REVOKED_REASON).await? {
        // Deleted or changed (expired, say) since it was read.
        let now = super::accounts::get(ctx, project, id).await?;
        return Err(ApiError::NotRevocable(now.status.as_str().to_owned()));
    }
    tracing::info!(connected_account_id = %id, revoked_at_provider = revoked_tokens.len(), "connected account revoked");
    let account = super::accounts::get(ctx, project, id).await?;
    Ok(Revocation { account, revoked_tokens })
}
