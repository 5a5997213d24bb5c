//! User-bound completion, Composio's "OAuth callback verifier": a project may name a verifier URL
//! (an endpoint of the app, set with `authlink project set-verifier`). Then a successful code
//! exchange does not activate the account: the tokens are sealed onto the still-INITIATED
//! account, and the browser goes to `{verifier}?session_uri=…&connected_account_id=…` with a
//! single-use session valid for ten minutes. The app checks who is logged in in that browser and
//! calls `POST connected_accounts/complete_auth` with `{session_uri, user_id}`: the account turns
//! ACTIVE only when `user_id` is the user the link was made for. So a link opened by someone
//! else (forwarded, phished) cannot attach their provider account to the app's user.

use chrono::{Duration, Utc};
use url::Url;

use super::oauth::random_secret;
use crate::{
    crypto::sha256,
    domain::{CallbackUrl, ConnectedAccountId},
    error::{ApiError, ApiResult},
    service::context::ServiceContext,
    store::{DeferredCompletion, LinkView, ProjectId, Redemption, StoreError},
};

/// Lifetime of a `session_uri`.
pub const SESSION_TTL_MINUTES: i64 = 10;

/// `status_reason` of an account whose completion named another user.
pub const MISMATCH_REASON: &str =
    "User verification failed: complete_auth named a user_id other than the one this connection was created for";

/// The project's verifier, when its completion is user-bound. A stored URL the operator's
/// allowlist no longer accepts is refused (`Err` with the allowlist's reason), never followed.
pub async fn verifier(ctx: &ServiceContext, project: ProjectId) -> Result<Option<CallbackUrl>, VerifierError> {
    let Some(raw) = ctx.store.verifier_url(project).await.map_err(VerifierError::Store)? else { return Ok(None) };
    ctx.settings.callback_allowlist.check(&raw).map(Some).map_err(|e| VerifierError::NotAllowed(e.to_string()))
}

/// Why the project's verifier cannot be used.
#[derive(Debug)]
pub enum VerifierError {
    Store(StoreError),
    NotAllowed(String),
}

/// The callback's half: stores the sealed tokens on the pending account with a fresh session and
/// returns where to send the browser. `None` when the link was used or ran out meanwhile.
pub async fn defer(
    ctx: &ServiceContext,
    link: &LinkView,
    verifier: &CallbackUrl,
    tokens_sealed: String,
    token_expires_at: Option<chrono::DateTime<Utc>>,
) -> Result<Option<Url>, StoreError> {
    let session_uri = random_secret();
    let deferred = DeferredCompletion {
        account: link.account.id.clone(),
        link_token_hash: link.token_hash.clone(),
        tokens_sealed,
        token_expires_at,
        session_hash: sha256(&session_uri),
        expires_at: Utc::now() + Duration::minutes(SESSION_TTL_MINUTES),
    };
    if !ctx.store.defer_link(link.project, &deferred).await? {
        return Ok(None);
    }
    tracing::info!(connected_account_id = %link.account.id, "authorized; waiting for the app's user verification");
    let id = link.account.id.to_string();
    Ok(Some(verifier.with_params(&[("session_uri", session_uri.as_str()), ("connected_account_id", id.as_str())])))
}

/// `POST connected_accounts/complete_auth`: the account made ACTIVE, or why not. Spent either way
/// once found: a mismatch cannot be retried with another `user_id`.
#[tracing::instrument(name = "completion::complete", skip_all, fields(project = %project.0))]
pub async fn complete(
    ctx: &ServiceContext,
    project: ProjectId,
    session_uri: &str,
    user_id: &str,
) -> ApiResult<ConnectedAccountId> {
    match ctx.store.redeem_completion(project, &sha256(session_uri), user_id, MISMATCH_REASON).await? {
        Redemption::Completed(id) => {
            tracing::info!(connected_account_id = %id, "user verified; account connected");
            Ok(id)
        }
        Redemption::Mismatch(id) => {
            tracing::warn!(connected_account_id = %id, "user verification failed: user_id mismatch");
            Err(ApiError::CompletionUserMismatch(id.to_string()))
        }
        Redemption::Unknown => Err(ApiError::CompletionSessionNotFound),
    }
}
