//! Reconnect (issue 14 item 5), the callback's half: a reconnect link's flow ends by updating
//! the existing account in place (`LinkStore::complete_reconnect`), so its `ca_…` id, alias,
//! ACL, session pins and audit trail stay. A provider that tells the user's identity (the
//! `sub` of the `id_token` it returns) must tell the same one the account's last tokens carry:
//! reconnecting someone else's account at the provider is refused and changes nothing.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};

use super::{
    connect::{Outcome, Stop, fail, finish},
    context::ServiceContext,
    oauth::TokenSet,
};
use crate::store::{LinkView, Reconnected};

/// The `sub` claim of an `id_token`, unverified. The token came straight from the provider's
/// token endpoint over the guarded client (`OpenID` Connect Core §3.1.3.7 lets TLS stand in for
/// the signature there), and it is only compared, never trusted for access.
pub fn subject(id_token: Option<&str>) -> Option<String> {
    let payload = id_token?.split('.').nth(1)?;
    let claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?).ok()?;
    claims.get("sub")?.as_str().map(str::to_owned)
}

/// The identity of the account's current tokens, when they are held and say it.
fn previous_subject(ctx: &ServiceContext, link: &LinkView) -> Option<String> {
    let sealed = link.account.tokens_sealed.as_deref()?;
    let bytes = ctx.sealer.open(link.account.id.as_str(), sealed).ok()?;
    let tokens: TokenSet = serde_json::from_slice(&bytes).ok()?;
    subject(tokens.id_token.as_deref())
}

/// Stores the reconnect's tokens on the account, or refuses it.
pub(super) async fn complete(
    ctx: &ServiceContext,
    link: &LinkView,
    tokens: &TokenSet,
    sealed: String,
    expires_at: Option<DateTime<Utc>>,
    user_bound: bool,
    provider: String,
) -> Result<Outcome, Stop> {
    if user_bound {
        let reason = "The project's completion became user-bound after this reconnect link was made; create a new link";
        return fail(ctx, link, "reconnect_not_allowed", reason).await;
    }
    if let (Some(before), Some(now)) = (previous_subject(ctx, link), subject(tokens.id_token.as_deref())) {
        if before != now {
            tracing::warn!(connected_account_id = %link.account.id, "reconnect with another provider identity refused");
            let reason =
                "The provider signed in another user than the one this account belongs to; the account was not changed";
            return fail(ctx, link, "identity_mismatch", reason).await;
        }
    }
    match ctx.store.complete_reconnect(link.project, &link.account.id, &link.token_hash, &sealed, expires_at).await? {
        Reconnected::Done(before) => {
            tracing::info!(connected_account_id = %link.account.id, previous = before.as_str(), "account reconnected");
            Ok(finish(link, "success", None, provider))
        }
        Reconnected::Gone => Err(if link.expires_at <= Utc::now() { Stop::LinkExpired } else { Stop::LinkUsed }),
    }
}

#[cfg(test)]
mod tests {
    use super::subject;

    #[test]
    fn subject_of_an_id_token() {
        let token = |claims: &str| {
            format!(
                "eyJhbGciOiJSUzI1NiJ9.{}.sig",
                base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, claims)
            )
        };
        assert_eq!(subject(Some(&token(r#"{"sub":"user-1","iss":"x"}"#))).as_deref(), Some("user-1"));
        assert_eq!(subject(Some(&token(r#"{"iss":"x"}"#))), None);
        assert_eq!(subject(Some(&token("not json"))), None);
        assert_eq!(subject(Some("opaque")), None);
        assert_eq!(subject(None), None);
    }
}
