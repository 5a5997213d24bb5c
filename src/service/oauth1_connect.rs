//! The OAuth 1.0a connect flow (RFC 5849 §2): Continue gets temporary credentials and sends the
//! user to the provider; the callback exchanges them, with `oauth_verifier`, for token
//! credentials, sealed on the account.
//!
//! The attempt is stored like an OAuth 2.0 one ([`OAuthStateRecord`]), so it gets the same
//! guarantees from the same code in both stores: keyed by a hash (here of the temporary
//! `oauth_token`, the value the provider echoes back), bound to the browser that pressed
//! Continue, single use, short-lived. The temporary token secret is sealed with the account id
//! as associated data in the slot a PKCE verifier uses. Token credentials are sealed as a field
//! set (`service::credentials`): `oauth_token`, `oauth_token_secret` and every other parameter
//! the provider returned (Evernote's `edam_*`), which is what `state.val` shows, as Composio
//! shapes an OAUTH1 account.

use std::collections::BTreeMap;

use chrono::{Duration, Utc};
use url::Url;

use super::{
    completion::{self, VerifierError},
    connect::{Outcome, Stop, claim_attempt, fail, finish, usability},
    oauth::TokenSet,
    oauth1::{self, Signer},
};
use crate::{
    catalog::{OAuth1Facts, SignatureMethod, Transmission},
    crypto::sha256,
    service::context::ServiceContext,
    store::{AuthConfigRecord, LinkView, OAuthStateRecord},
};

/// Longest time between pressing Continue and coming back from the provider.
const ATTEMPT_TTL_MINUTES: i64 = 10;

/// The scheme name auth configs and accounts store.
pub const SCHEME: &str = "OAUTH1";

/// One OAuth 1.0a provider with one auth config's client credentials.
pub struct OAuth1Provider {
    pub name: String,
    pub facts: OAuth1Facts,
    pub consumer_key: String,
    consumer_secret: String,
}

impl OAuth1Provider {
    fn signer<'a>(&'a self, token: Option<(&'a str, &'a str)>) -> Signer<'a> {
        Signer {
            consumer_key: &self.consumer_key,
            consumer_secret: &self.consumer_secret,
            token,
            method: self.facts.signature_method,
        }
    }
}

/// The catalog's OAuth 1.0a facts with the auth config's endpoint overrides (all three for a
/// toolkit outside the catalog, which then signs with HMAC-SHA1 in the `Authorization` header).
pub fn provider_for(ctx: &ServiceContext, ac: &AuthConfigRecord) -> Result<OAuth1Provider, String> {
    let entry = ctx.catalog.get(&ac.toolkit);
    let facts = entry.and_then(|p| p.oauth1.clone());
    let pick = |own: &Option<String>, catalog: Option<&String>| own.clone().or_else(|| catalog.cloned());
    let (Some(request_token_url), Some(authorize_url), Some(access_token_url)) = (
        pick(&ac.request_token_url, facts.as_ref().map(|f| &f.request_token_url)),
        pick(&ac.authorization_url, facts.as_ref().map(|f| &f.authorize_url)),
        pick(&ac.token_url, facts.as_ref().map(|f| &f.access_token_url)),
    ) else {
        return Err(format!("toolkit {} has no OAuth 1.0a endpoints", ac.toolkit));
    };
    let consumer_secret = match &ac.client_secret_sealed {
        Some(sealed) => ctx
            .sealer
            .open(ac.id.as_str(), sealed)
            .map(|s| String::from_utf8_lossy(&s).into_owned())
            .map_err(|e| format!("the auth config's consumer secret cannot be opened: {e}"))?,
        None => String::new(),
    };
    Ok(OAuth1Provider {
        name: entry.map_or_else(|| ac.toolkit.to_string(), |p| p.name.clone()),
        facts: OAuth1Facts {
            request_token_url,
            authorize_url,
            access_token_url,
            signature_method: facts.as_ref().map_or(SignatureMethod::HmacSha1, |f| f.signature_method),
            transmission: facts.as_ref().map_or(Transmission::Header, |f| f.transmission),
        },
        consumer_key: ac.client_id.clone(),
        consumer_secret,
    })
}

/// The hash an attempt is stored under: of the temporary token, in a namespace of its own so it
/// can never meet an OAuth 2.0 `state`.
fn attempt_hash(temporary_token: &str) -> Vec<u8> {
    sha256(&format!("oauth1:{temporary_token}"))
}

/// Continue on an OAUTH1 link: temporary credentials from the provider (signed, with our
/// callback), the attempt stored, then the provider's authorization URL.
pub async fn start(ctx: &ServiceContext, link: &LinkView, binding: &str) -> Result<Url, Stop> {
    let provider = provider_for(ctx, &link.auth_config).map_err(Stop::CannotStart)?;
    let Some(http) = ctx.oauth.outbound() else {
        return Err(Stop::CannotStart("Outbound calls are disabled on this server.".into()));
    };
    let callback = ctx.settings.callback_uri(link.redirect_key.as_deref());
    let temporary = oauth1::request(
        http,
        &provider.facts,
        &provider.facts.request_token_url,
        &provider.signer(None),
        &[("oauth_callback", &callback)],
    )
    .await
    .map_err(|e| {
        tracing::warn!(connected_account_id = %link.account.id, error = %e, "temporary credentials request failed");
        Stop::CannotStart(format!("{} did not start the sign-in: {e}.", provider.name))
    })?;
    // RFC 5849 §2.1: a server that did not take our callback speaks OAuth 1.0 (no verifier),
    // whose flow is open to session fixation.
    if temporary.extra.get("oauth_callback_confirmed").map(String::as_str) != Some("true") {
        return Err(Stop::CannotStart(format!("{} did not confirm the callback (OAuth 1.0a).", provider.name)));
    }
    let mut url = Url::parse(&provider.facts.authorize_url)
        .map_err(|_| Stop::CannotStart("The provider's authorization URL is invalid.".into()))?;
    url.query_pairs_mut().append_pair("oauth_token", &temporary.token);
    let record = OAuthStateRecord {
        state_hash: attempt_hash(&temporary.token),
        project: link.project,
        link_token_hash: link.token_hash.clone(),
        account_id: link.account.id.clone(),
        binding_hash: sha256(binding),
        verifier_sealed: Some(ctx.sealer.seal(link.account.id.as_str(), temporary.secret.as_bytes())),
        expires_at: (Utc::now() + Duration::minutes(ATTEMPT_TTL_MINUTES)).min(link.expires_at + Duration::minutes(1)),
        used_at: None,
        // The values of templated endpoints: OAuth 1.0a entries take no fields.
        fields_sealed: None,
    };
    ctx.store.insert_oauth_state(&record).await?;
    tracing::info!(connected_account_id = %link.account.id, "OAuth 1.0a authorization started");
    Ok(url)
}

/// The callback of an OAuth 1.0a attempt (`oauth_token` and, once the user approved,
/// `oauth_verifier`). The attempt is spent whatever happens next.
pub async fn callback(
    ctx: &ServiceContext,
    token: &str,
    verifier: Option<&str>,
    bindings: &[&str],
    redirect_key: Option<&str>,
) -> Result<Outcome, Stop> {
    if token.is_empty() || token.len() > 1024 {
        return Err(Stop::MissingState);
    }
    let (st, link) = claim_attempt(ctx, &attempt_hash(token), bindings, redirect_key).await?;
    usability(&link).map_err(|stop| if matches!(stop, Stop::LinkExpired) { stop } else { Stop::LinkUsed })?;
    if link.auth_config.auth_scheme != SCHEME {
        return Err(Stop::BadAttempt("The sign-in attempt does not belong to an OAuth 1.0a connection.".into()));
    }
    let provider = provider_for(ctx, &link.auth_config).map_err(Stop::BadAttempt)?;
    // RFC 5849 §2.2: no verifier means the user did not approve (Evernote sends the token alone).
    let Some(verifier) = verifier.filter(|v| !v.is_empty() && v.len() <= 1024) else {
        return fail(ctx, &link, "access_denied", "The user did not authorize the connection (no oauth_verifier)")
            .await;
    };
    let completion_verifier = match completion::verifier(ctx, link.project).await {
        Ok(v) => v,
        Err(VerifierError::Store(e)) => return Err(e.into()),
        Err(VerifierError::NotAllowed(why)) => {
            let reason = format!("The project's verifier URL {why}");
            return fail(ctx, &link, "verifier_not_allowed", &reason).await;
        }
    };
    let temporary_secret = match &st.verifier_sealed {
        Some(sealed) => ctx
            .sealer
            .open(link.account.id.as_str(), sealed)
            .map(|v| String::from_utf8_lossy(&v).into_owned())
            .map_err(|e| Stop::BadAttempt(format!("The sign-in attempt cannot be read: {e}")))?,
        None => return Err(Stop::BadAttempt("The sign-in attempt has no temporary secret.".into())),
    };
    let Some(http) = ctx.oauth.outbound() else {
        return fail(ctx, &link, "temporarily_unavailable", "Outbound calls are disabled on this server").await;
    };
    let signer = provider.signer(Some((token, &temporary_secret)));
    let issued = match oauth1::request(
        http,
        &provider.facts,
        &provider.facts.access_token_url,
        &signer,
        &[("oauth_verifier", verifier)],
    )
    .await
    {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(connected_account_id = %link.account.id, error = %e, "OAuth 1.0a token exchange failed");
            let reason = format!("OAuth 1.0a callback failed during token exchange: {e}");
            return fail(ctx, &link, e.code(), &reason).await;
        }
    };
    let mut fields: BTreeMap<String, String> = issued.extra;
    fields.insert("oauth_token".into(), issued.token.clone());
    fields.insert("oauth_token_secret".into(), issued.secret);
    let sealed = super::credentials::seal_field_set(ctx, &link.account.id, fields).map_err(|_| Stop::Internal)?;
    // OAuth 1.0a tokens do not refresh: no expiry is recorded for the refresher (Evernote's
    // `edam_expires` is in `state.val` for the app to read).
    if link.reconnect {
        // The reconnect path compares OpenID subjects; OAuth 1.0a has none to compare.
        let tokens = TokenSet {
            access_token: issued.token,
            refresh_token: None,
            expires_in: None,
            scope: None,
            token_type: None,
            id_token: None,
        };
        let bound = completion_verifier.is_some();
        return super::reconnect::complete(ctx, &link, &tokens, sealed, None, bound, provider.name).await;
    }
    if let Some(v) = completion_verifier {
        return match completion::defer(ctx, &link, &v, sealed, None).await? {
            Some(url) => Ok(Outcome::Redirect(url)),
            None => Err(super::connect_form::spent(&link)),
        };
    }
    if !ctx.store.complete_link(link.project, &link.account.id, &link.token_hash, &sealed, None).await? {
        return Err(super::connect_form::spent(&link));
    }
    tracing::info!(connected_account_id = %link.account.id, "account connected (OAuth 1.0a)");
    crate::telemetry::link_completed(link.auth_config.toolkit.as_str(), "active");
    Ok(finish(&link, "success", None, provider.name))
}
