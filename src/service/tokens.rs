//! Reading an account's tokens, refreshing them first when they are about to expire.
//!
//! Refreshes are serialized per account by the store's refresh lease (a row lock on PostgreSQL,
//! a lease column on SQLite): concurrent readers of an expiring account queue on it, the first
//! refreshes, the others find a fresh token once they get it, so the provider sees one call.

use chrono::{Duration, Utc};

use super::{
    connect::seal_tokens,
    oauth::{TokenError, TokenSet},
    oauth_fields::provider_for_account,
};
use crate::{
    domain::{AccountStatus, ConnectedAccountId},
    error::{ApiError, ApiResult},
    service::context::ServiceContext,
    store::{AccountRecord, ProjectId},
};

/// Tokens expiring within this window are refreshed before they are handed out.
const REFRESH_WINDOW_SECS: i64 = 300;

fn expiring(account: &AccountRecord) -> bool {
    account.token_expires_at.is_some_and(|at| at <= Utc::now() + Duration::seconds(REFRESH_WINDOW_SECS))
}

/// The sealed token set of an account, opened.
/// API key, bearer and basic accounts hold a field set there instead (`service::credentials`):
/// they have no token set.
pub fn open(ctx: &ServiceContext, account: &AccountRecord) -> ApiResult<Option<TokenSet>> {
    if super::credentials::is_sealed_as_fields(&account.auth_scheme) {
        return Ok(None);
    }
    let Some(sealed) = &account.tokens_sealed else { return Ok(None) };
    let bytes = ctx.sealer.open(account.id.as_str(), sealed).map_err(ApiError::internal)?;
    serde_json::from_slice(&bytes).map(Some).map_err(ApiError::internal)
}

/// The account and, when ACTIVE, its current tokens. `force` refreshes whatever the expiry.
#[tracing::instrument(name = "tokens::read", skip_all, fields(project = %project.0, id = %id))]
pub async fn read(
    ctx: &ServiceContext,
    project: ProjectId,
    id: &ConnectedAccountId,
    force: bool,
) -> ApiResult<(AccountRecord, Option<TokenSet>)> {
    let account = super::accounts::get(ctx, project, id).await?;
    if account.auth_scheme == super::oauth1_connect::SCHEME {
        if force {
            return Err(ApiError::BadRequest(format!(
                "Connected account {id} is an OAUTH1 account: OAuth 1.0a tokens do not refresh (they stay valid until the provider's expiry, edam_expires for Evernote); when they end, connect again"
            )));
        }
        return Ok((account, None));
    }
    if super::credentials::is_field_scheme(&account.auth_scheme) {
        if force {
            return Err(ApiError::BadRequest(format!(
                "Connected account {id} is an {} account: its credential does not expire and has nothing to refresh; replace it with PATCH connected_accounts/{id} (connection.val)",
                account.auth_scheme
            )));
        }
        return Ok((account, None));
    }
    if account.status != AccountStatus::Active {
        if force {
            return Err(ApiError::AccountNotActive(account.status.as_str().to_owned()));
        }
        return Ok((account, None));
    }
    // A disabled account is never refreshed (issue 12): reads show what is stored.
    if account.is_disabled && force {
        return Err(ApiError::BadRequest(format!(
            "Connected account {id} is disabled: enable it (PATCH connected_accounts/{id}/status) before refreshing it."
        )));
    }
    if account.is_disabled || (!force && !expiring(&account)) {
        let tokens = open(ctx, &account)?;
        return Ok((account, tokens));
    }

    // Everything the refresh needs from the store is read before the lease: on PostgreSQL a lease
    // holds a pooled connection (its row lock's transaction) while concurrent readers of the same
    // account wait holding theirs, so asking the pool for another connection under the lease can
    // starve until the pool's acquire timeout. (SQLite's lease is a row value, held by no
    // connection.)
    let auth_config = ctx
        .store
        .auth_config(project, &account.auth_config_id)
        .await?
        .ok_or_else(|| ApiError::internal(std::io::Error::other("account's auth config is missing")))?;
    let provider = provider_for_account(ctx, project, id, &auth_config).await?;

    let lease = ctx
        .store
        .begin_refresh(project, id)
        .await?
        .ok_or_else(|| ApiError::ConnectedAccountNotFound(id.to_string()))?;
    let locked = lease.account().clone();
    let tokens = open(ctx, &locked)?;
    if locked.status != AccountStatus::Active {
        drop(lease);
        return if force {
            Err(ApiError::AccountNotActive(locked.status.as_str().to_owned()))
        } else {
            Ok((locked, None))
        };
    }
    if !force && !expiring(&locked) {
        drop(lease);
        return Ok((locked, tokens));
    }
    let Some(current) = tokens else {
        return Err(ApiError::internal(std::io::Error::other("ACTIVE account without tokens")));
    };
    let Some(refresh_token) = current.refresh_token.clone() else {
        drop(lease);
        if force {
            return Err(ApiError::RefreshFailed("the provider issued no refresh token for this account".into()));
        }
        return Ok((locked, Some(current)));
    };
    match ctx.oauth.refresh(&provider, &refresh_token).await {
        Ok(mut fresh) => {
            // Providers that do not rotate refresh tokens omit them; keep the one we have.
            fresh.refresh_token = fresh.refresh_token.or(current.refresh_token);
            fresh.id_token = fresh.id_token.or(current.id_token);
            let (sealed, expires_at) = seal_tokens(ctx, id, &fresh);
            lease.save(sealed, expires_at).await?;
            crate::telemetry::refresh("refreshed");
            tracing::info!(connected_account_id = %id, "tokens refreshed");
            let account = super::accounts::get(ctx, project, id).await?;
            Ok((account, Some(fresh)))
        }
        Err(TokenError::Provider { error, description }) if error == "invalid_grant" => {
            let reason = format!(
                "The provider rejected the refresh token (invalid_grant{}); the user must connect again",
                description
                    .map(|d| format!(": {}", d.chars().filter(|c| !c.is_control()).take(200).collect::<String>()))
                    .unwrap_or_default()
            );
            lease.expire(&reason).await?;
            crate::telemetry::refresh("expired");
            tracing::info!(connected_account_id = %id, "refresh token rejected; account expired");
            if force {
                return Err(ApiError::RefreshFailed(reason));
            }
            let account = super::accounts::get(ctx, project, id).await?;
            Ok((account, None))
        }
        Err(e) => {
            drop(lease);
            crate::telemetry::refresh("provider_error");
            tracing::warn!(connected_account_id = %id, error = %e, "token refresh failed");
            if force {
                return Err(ApiError::ProviderUnavailable(e.to_string()));
            }
            Ok((locked, Some(current)))
        }
    }
}

/// How a background refresh of one account ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AheadOutcome {
    /// New tokens stored.
    Refreshed,
    /// Nothing to do: not ACTIVE any more, gone, or already refreshed by someone else.
    Skipped,
    /// The provider issued no refresh token: nothing can be done ahead of time.
    NoRefreshToken,
    /// The provider refused the refresh token: the account is EXPIRED (events emitted).
    Expired,
    /// A transient failure (provider down, timeout): retry later, the account stays ACTIVE.
    Transient(String),
}

/// The background sweeper's refresh of one account whose token expires before `before`, under
/// the same per-account lease as request-time refreshes (so the provider sees one call).
#[tracing::instrument(name = "tokens::refresh_ahead", skip_all, fields(project = %project.0, id = %id))]
pub async fn refresh_ahead(
    ctx: &ServiceContext,
    project: ProjectId,
    id: &ConnectedAccountId,
    before: chrono::DateTime<Utc>,
) -> ApiResult<AheadOutcome> {
    let Some(account) = ctx.store.account(project, id).await? else { return Ok(AheadOutcome::Skipped) };
    let Some(auth_config) = ctx.store.auth_config(project, &account.auth_config_id).await? else {
        return Ok(AheadOutcome::Skipped);
    };
    let provider = provider_for_account(ctx, project, id, &auth_config).await?;
    let Some(lease) = ctx.store.begin_refresh(project, id).await? else { return Ok(AheadOutcome::Skipped) };
    let locked = lease.account().clone();
    if locked.status != AccountStatus::Active || locked.token_expires_at.is_none_or(|at| at >= before) {
        return Ok(AheadOutcome::Skipped);
    }
    let Some(current) = open(ctx, &locked)? else { return Ok(AheadOutcome::Skipped) };
    let Some(refresh_token) = current.refresh_token.clone() else { return Ok(AheadOutcome::NoRefreshToken) };
    match ctx.oauth.refresh(&provider, &refresh_token).await {
        Ok(mut fresh) => {
            fresh.refresh_token = fresh.refresh_token.or(current.refresh_token);
            fresh.id_token = fresh.id_token.or(current.id_token);
            let (sealed, expires_at) = seal_tokens(ctx, id, &fresh);
            lease.save(sealed, expires_at).await?;
            tracing::info!(connected_account_id = %id, "tokens refreshed ahead of expiry");
            Ok(AheadOutcome::Refreshed)
        }
        Err(TokenError::Provider { error, description }) if error == "invalid_grant" => {
            let reason = format!(
                "The provider rejected the refresh token (invalid_grant{}); the user must connect again",
                description
                    .map(|d| format!(": {}", d.chars().filter(|c| !c.is_control()).take(200).collect::<String>()))
                    .unwrap_or_default()
            );
            lease.expire(&reason).await?;
            tracing::info!(connected_account_id = %id, "refresh token rejected in the background; account expired");
            Ok(AheadOutcome::Expired)
        }
        Err(e) => {
            drop(lease);
            tracing::warn!(connected_account_id = %id, error = %e, "background token refresh failed; will retry");
            Ok(AheadOutcome::Transient(e.to_string()))
        }
    }
}
