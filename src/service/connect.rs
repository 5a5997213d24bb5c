//! The end user's side of a link: the link page, the start of the authorization-code flow and
//! the callback that completes it (design §5, RFC 9700).
//!
//! Outcomes are plain values: an [`Outcome`] (redirect to the app, or done) or a [`Stop`] saying
//! why the flow ended, which `http::connect` renders as a page or a redirect. Codes, tokens,
//! verifiers and secrets are never logged.

use chrono::{Duration, Utc};
use url::Url;

use super::{
    completion::{self, VerifierError},
    oauth::{
        ProviderConfig, TokenSet, authorize_url, issuer_matches, provider_for, provider_with_fields, random_secret,
    },
    oauth_fields,
};
use crate::{
    crypto::sha256,
    domain::{AccountStatus, CallbackUrl, LinkToken},
    service::context::ServiceContext,
    store::{LinkView, OAuthStateRecord, StoreError},
};

/// Longest time between pressing Continue and coming back from the provider.
const STATE_TTL_MINUTES: i64 = 10;

/// What the page of a usable link shows.
#[derive(Debug)]
pub struct LinkPage {
    /// The link's project, whose branding the page shows.
    pub project: crate::store::ProjectId,
    pub provider: String,
    pub toolkit: String,
    /// The access asked for: the catalog's default scopes, then the auth config's.
    pub scopes: Vec<String>,
    /// Host (and port) of the app's callback URL, so the user knows where they will land.
    pub return_host: Option<String>,
    /// Origin of the provider's authorization endpoint (`https://idp.example`), where Continue
    /// redirects: the page's CSP `form-action` allows it. `None` when the URL is not usable yet.
    pub authorization_origin: Option<String>,
    /// Origin of the app's callback URL: a provider that asks the user nothing redirects straight
    /// back, and authlink on to the app, all within Continue's navigation.
    pub callback_origin: Option<String>,
}

/// Why a step of the connect flow stopped; the HTTP layer turns each into a page.
#[derive(Debug)]
pub enum Stop {
    LinkNotFound,
    LinkExpired,
    LinkUsed,
    /// The link's provider cannot be used (a bad auth config or catalog entry).
    CannotStart(String),
    /// The callback carried no `state`.
    MissingState,
    UnknownState,
    StateUsed,
    StateExpired,
    /// The state came back to a browser other than the one that pressed Continue.
    ForeignBrowser,
    /// The account or link the state belongs to is gone.
    ConnectionGone,
    /// The provider delivered the state to another project's redirect URI than the one the
    /// authorization request named: never exchange such a code.
    WrongCallback,
    /// The sign-in attempt's stored values cannot be used (a bad auth config, or a sealed
    /// verifier that does not open).
    BadAttempt(String),
    /// The attempt ended in FAILED (provider error, issuer mismatch, exchange failure) and there
    /// is no callback URL to report it to.
    Failed(String),
    /// The database cannot be used right now.
    Unavailable,
    /// Anything else the store reported; logged here, never shown.
    Internal,
}

impl From<StoreError> for Stop {
    fn from(err: StoreError) -> Self {
        if err.is_unavailable() {
            tracing::warn!(error.cause = %err, "connect flow: database unavailable");
            Self::Unavailable
        } else {
            tracing::error!(error.cause = %err, error.debug = ?err, "connect flow storage failure");
            Self::Internal
        }
    }
}

/// Where the callback sends the browser.
#[derive(Debug)]
pub enum Outcome {
    Redirect(Url),
    Done { provider: String },
}

pub(super) async fn find_link(ctx: &ServiceContext, token: &str) -> Result<Option<LinkView>, StoreError> {
    match LinkToken::parse(token) {
        Some(t) => ctx.store.link_by_token(&t.hash()).await,
        None => Ok(None),
    }
}

pub(super) fn usability(link: &LinkView) -> Result<(), Stop> {
    if link.account_deleted {
        return Err(Stop::LinkNotFound);
    }
    if link.reconnect {
        // A reconnect link is for an account of any status; only its own use and expiry count.
        if link.consumed_at.is_some() {
            return Err(Stop::LinkUsed);
        }
    } else if link.consumed_at.is_some() || !matches!(link.account.status, AccountStatus::Initiated) {
        return Err(if link.account.status == AccountStatus::Expired { Stop::LinkExpired } else { Stop::LinkUsed });
    }
    if link.expires_at <= Utc::now() {
        return Err(Stop::LinkExpired);
    }
    Ok(())
}

/// `GET /link/{token}`.
#[tracing::instrument(name = "connect::link_page", skip_all)]
pub async fn link_page(ctx: &ServiceContext, token: &str) -> Result<LinkPage, Stop> {
    let Some(link) = find_link(ctx, token).await? else { return Err(Stop::LinkNotFound) };
    usability(&link)?;
    let provider = ctx
        .catalog
        .get(&link.auth_config.toolkit)
        .map_or_else(|| link.auth_config.toolkit.to_string(), |p| p.name.clone());
    let callback = link.callback_url.as_deref().and_then(|u| Url::parse(u).ok());
    let callback_origin = callback.as_ref().map(|u| u.origin().ascii_serialization());
    let return_host = callback.and_then(|u| {
        u.host_str().map(|h| match u.port() {
            Some(p) => format!("{h}:{p}"),
            None => h.to_owned(),
        })
    });
    let authorization_origin = link
        .auth_config
        .authorization_url
        .clone()
        .or_else(|| {
            let entry = ctx.catalog.get(&link.auth_config.toolkit);
            entry.and_then(|p| p.oauth()).map(|o| o.authorization_url.clone()).or_else(|| {
                // OAUTH1: the auth config's `authorization_url` is its authorize URL override.
                entry.and_then(|p| p.oauth1.as_ref()).map(|o| o.authorize_url.clone())
            })
        })
        .filter(|u| !u.contains('{'))
        .and_then(|u| Url::parse(&u).ok())
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .map(|u| u.origin().ascii_serialization());
    let mut scopes: Vec<String> = ctx
        .catalog
        .get(&link.auth_config.toolkit)
        .and_then(|p| p.oauth())
        .map(|o| o.default_scopes.clone())
        .unwrap_or_default();
    for s in &link.auth_config.scopes {
        if !scopes.contains(s) {
            scopes.push(s.clone());
        }
    }
    Ok(LinkPage {
        project: link.project,
        provider,
        toolkit: link.auth_config.toolkit.to_string(),
        scopes,
        return_host,
        authorization_origin,
        callback_origin,
    })
}

/// `POST /link/{token}/continue`: a fresh state (bound to the browser) and PKCE verifier, then
/// the provider's authorization URL. Pressing twice makes two states for the same account.
#[tracing::instrument(name = "connect::start", skip_all)]
pub async fn start(ctx: &ServiceContext, token: &str, binding: &str) -> Result<Url, Stop> {
    let Some(link) = find_link(ctx, token).await? else { return Err(Stop::LinkNotFound) };
    usability(&link)?;
    if link.auth_config.auth_scheme == super::oauth1_connect::SCHEME {
        return super::oauth1_connect::start(ctx, &link, binding).await;
    }
    let provider = provider_for(ctx, &link.auth_config).map_err(|e| {
        tracing::warn!(error = %e, "provider not usable");
        Stop::CannotStart(e.to_string())
    })?;
    start_with(ctx, &link, &provider, None, binding).await
}

/// The start of a sign-in at `provider`, shared by Continue and the hosted form (whose values
/// filled the provider's templated endpoints, passed as `fields`): a fresh state bound to the
/// browser, a PKCE verifier, and the authorization URL. The state keeps the sealed `fields`, so
/// its callback exchanges the code at the endpoint this authorization request used.
pub async fn start_with(
    ctx: &ServiceContext,
    link: &LinkView,
    provider: &ProviderConfig,
    fields: Option<&oauth_fields::FieldValues>,
    binding: &str,
) -> Result<Url, Stop> {
    let state_value = random_secret();
    let verifier = provider.pkce.then(random_secret);
    let redirect_uri = ctx.settings.callback_uri(link.redirect_key.as_deref());
    let url = authorize_url(provider, &redirect_uri, &state_value, verifier.as_deref())
        .ok_or_else(|| Stop::CannotStart("The provider's authorization URL is invalid.".to_owned()))?;
    let record = OAuthStateRecord {
        state_hash: sha256(&state_value),
        project: link.project,
        link_token_hash: link.token_hash.clone(),
        account_id: link.account.id.clone(),
        binding_hash: sha256(binding),
        verifier_sealed: verifier.as_deref().map(|v| ctx.sealer.seal(link.account.id.as_str(), v.as_bytes())),
        fields_sealed: fields.map(|f| oauth_fields::seal(ctx, &link.account.id, f)),
        expires_at: (Utc::now() + Duration::minutes(STATE_TTL_MINUTES)).min(link.expires_at + Duration::minutes(1)),
        used_at: None,
    };
    ctx.store.insert_oauth_state(&record).await?;
    tracing::info!(connected_account_id = %link.account.id, "authorization started");
    Ok(url)
}

/// Query parameters of `GET /oauth/callback`.
#[derive(Debug, Default, serde::Deserialize)]
pub struct CallbackParams {
    pub state: Option<String>,
    pub code: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
    pub iss: Option<String>,
    /// OAuth 1.0a (RFC 5849 §2.2): the temporary token, echoed back instead of a `state`.
    pub oauth_token: Option<String>,
    /// OAuth 1.0a: present once the user approved.
    pub oauth_verifier: Option<String>,
}

/// Spends the sign-in attempt a callback names (by the hash of its `state`, or of an OAuth 1.0a
/// temporary token) and returns it with its link, after every check both callbacks share: the
/// attempt is known, unused and unexpired, the browser is the one that pressed Continue, no
/// concurrent callback spent it first, the link and its account still exist, and it came back
/// on the redirect URI of the link's project.
pub(super) async fn claim_attempt(
    ctx: &ServiceContext,
    hash: &[u8],
    bindings: &[&str],
    redirect_key: Option<&str>,
) -> Result<(OAuthStateRecord, LinkView), Stop> {
    let Some(st) = ctx.store.oauth_state(hash).await? else { return Err(Stop::UnknownState) };
    if st.used_at.is_some() {
        return Err(Stop::StateUsed);
    }
    if st.expires_at <= Utc::now() {
        return Err(Stop::StateExpired);
    }
    if !bindings.iter().any(|b| sha256(b) == st.binding_hash) {
        tracing::warn!(connected_account_id = %st.account_id, "sign-in attempt presented without its browser binding");
        return Err(Stop::ForeignBrowser);
    }
    if !ctx.store.consume_oauth_state(hash).await? {
        return Err(Stop::StateUsed);
    }
    let link = ctx
        .store
        .link_by_token(&st.link_token_hash)
        .await?
        .filter(|l| l.account.id == st.account_id && !l.account_deleted)
        .ok_or(Stop::ConnectionGone)?;
    if link.redirect_key.as_deref() != redirect_key {
        tracing::warn!(connected_account_id = %link.account.id, "sign-in attempt delivered to another project's redirect URI");
        return Err(Stop::WrongCallback);
    }
    Ok((st, link))
}

/// `GET /oauth/callback`.
#[tracing::instrument(name = "connect::callback", skip_all)]
///
/// `redirect_key` is the last segment of the redirect URI the browser came back on (`None` for
/// the shared `/oauth/callback`); it must be the one of the link's project, which its
/// authorization request named. The state is spent either way.
pub async fn callback(
    ctx: &ServiceContext,
    params: CallbackParams,
    bindings: &[&str],
    redirect_key: Option<&str>,
) -> Result<Outcome, Stop> {
    if let (None, Some(token)) = (params.state.as_deref(), params.oauth_token.as_deref()) {
        let verifier = params.oauth_verifier.as_deref();
        return super::oauth1_connect::callback(ctx, token, verifier, bindings, redirect_key).await;
    }
    let Some(state_value) = params.state.as_deref().filter(|s| !s.is_empty() && s.len() <= 512) else {
        return Err(Stop::MissingState);
    };
    let (st, link) = claim_attempt(ctx, &sha256(state_value), bindings, redirect_key).await?;
    // A link that ran out while the user was at the provider already reads EXPIRED to the app,
    // so it must not turn ACTIVE now.
    usability(&link).map_err(|stop| if matches!(stop, Stop::LinkExpired) { stop } else { Stop::LinkUsed })?;
    // The fields the sign-in started with (a tenant `subdomain`), for the endpoints it used.
    let fields = match &st.fields_sealed {
        Some(sealed) => Some(
            oauth_fields::open(ctx, &link.account.id, sealed)
                .map_err(|e| Stop::BadAttempt(format!("The sign-in attempt cannot be read: {e}")))?,
        ),
        None => None,
    };
    let provider =
        provider_with_fields(ctx, &link.auth_config, fields.as_ref()).map_err(|e| Stop::BadAttempt(e.to_string()))?;

    if let Some(iss) = params.iss.as_deref() {
        if !issuer_matches(&provider.issuer, iss) {
            return fail(ctx, &link, "invalid_issuer", "The authorization response came from an unexpected issuer")
                .await;
        }
    }
    if let Some(error) = params.error.as_deref() {
        let code = sanitize_code(error);
        let reason = match params.error_description.as_deref() {
            Some(d) => format!(
                "Provider returned {code}: {}",
                d.chars().filter(|c| !c.is_control()).take(200).collect::<String>()
            ),
            None => format!("Provider returned {code}"),
        };
        return fail(ctx, &link, &code, &reason).await;
    }
    let Some(code) = params.code.as_deref().filter(|c| !c.is_empty()) else {
        return fail(ctx, &link, "invalid_request", "The provider sent neither a code nor an error").await;
    };
    // Looked up before the exchange: a verifier the allowlist refuses means no tokens are fetched.
    let verifier = match completion::verifier(ctx, link.project).await {
        Ok(v) => v,
        Err(VerifierError::Store(e)) => return Err(e.into()),
        Err(VerifierError::NotAllowed(why)) => {
            tracing::warn!(connected_account_id = %link.account.id, "the project's verifier URL {why}");
            let reason = format!("The project's verifier URL {why}");
            return fail(ctx, &link, "verifier_not_allowed", &reason).await;
        }
    };
    let pkce_verifier = match &st.verifier_sealed {
        Some(sealed) => Some(
            ctx.sealer
                .open(link.account.id.as_str(), sealed)
                .map(|v| String::from_utf8_lossy(&v).into_owned())
                .map_err(|e| Stop::BadAttempt(format!("The sign-in attempt cannot be read: {e}")))?,
        ),
        None => None,
    };
    let tokens = match ctx
        .oauth
        .exchange_code(
            &provider,
            code,
            &ctx.settings.callback_uri(link.redirect_key.as_deref()),
            pkce_verifier.as_deref(),
        )
        .await
    {
        Ok(tokens) => tokens,
        Err(e) => {
            tracing::warn!(connected_account_id = %link.account.id, error = %e, "token exchange failed");
            let reason = format!("OAuth callback failed during token exchange: {e}");
            return fail(ctx, &link, &sanitize_code(e.code()), &reason).await;
        }
    };
    let (sealed, expires_at) = seal_tokens(ctx, &link.account.id, &tokens);
    // A reconnect keeps the account's fields (`oauth_fields::keep_on_account` refused others).
    if link.reconnect {
        return super::reconnect::complete(ctx, &link, &tokens, sealed, expires_at, verifier.is_some(), provider.name)
            .await;
    }
    if let Some(verifier) = verifier {
        return match completion::defer(ctx, &link, &verifier, sealed, expires_at).await? {
            Some(url) => {
                if let Some(fields) = &fields {
                    oauth_fields::confirm_on_account(ctx, &link, fields).await?;
                }
                crate::telemetry::link_completed(link.auth_config.toolkit.as_str(), "pending_verification");
                Ok(Outcome::Redirect(url))
            }
            None => Err(if link.expires_at <= Utc::now() { Stop::LinkExpired } else { Stop::LinkUsed }),
        };
    }
    if !ctx.store.complete_link(link.project, &link.account.id, &link.token_hash, &sealed, expires_at).await? {
        // The exchange can take seconds: the link may have expired meanwhile (the tokens are
        // dropped, never stored) or another callback may have won.
        return Err(if link.expires_at <= Utc::now() { Stop::LinkExpired } else { Stop::LinkUsed });
    }
    if let Some(fields) = &fields {
        oauth_fields::confirm_on_account(ctx, &link, fields).await?;
    }
    tracing::info!(connected_account_id = %link.account.id, "account connected");
    crate::telemetry::link_completed(link.auth_config.toolkit.as_str(), "active");
    Ok(finish(&link, "success", None, provider.name))
}

/// Seals a token set for an account; returns it with the access token's expiry.
#[expect(clippy::expect_used, reason = "a TokenSet is strings and integers, which serde_json always writes")]
pub fn seal_tokens(
    ctx: &ServiceContext,
    account: &crate::domain::ConnectedAccountId,
    tokens: &TokenSet,
) -> (String, Option<chrono::DateTime<Utc>>) {
    let json = serde_json::to_vec(tokens).expect("token sets serialize");
    let expires_at = tokens.expires_in.map(|s| Utc::now() + Duration::seconds(s.clamp(0, 10 * 365 * 86_400)));
    (ctx.sealer.seal(account.as_str(), &json), expires_at)
}

pub(super) async fn fail(ctx: &ServiceContext, link: &LinkView, code: &str, reason: &str) -> Result<Outcome, Stop> {
    let reason: String = reason.chars().filter(|c| !c.is_control()).take(500).collect();
    let reason = reason.as_str();
    ctx.store.fail_link(link.project, &link.account.id, &link.token_hash, reason).await?;
    crate::telemetry::link_completed(link.auth_config.toolkit.as_str(), "failed");
    tracing::info!(connected_account_id = %link.account.id, error.code = code, "connection failed");
    let provider = ctx
        .catalog
        .get(&link.auth_config.toolkit)
        .map_or_else(|| link.auth_config.toolkit.to_string(), |p| p.name.clone());
    match finish(link, "failed", Some(code), provider) {
        Outcome::Done { .. } => Err(Stop::Failed(reason.to_owned())),
        redirect @ Outcome::Redirect(_) => Ok(redirect),
    }
}

pub(super) fn finish(link: &LinkView, status: &str, error: Option<&str>, provider: String) -> Outcome {
    let id = link.account.id.to_string();
    match link.callback_url.as_deref().and_then(CallbackUrl::from_stored) {
        Some(cb) => {
            let mut params = vec![("status", status), ("connected_account_id", id.as_str())];
            if let Some(e) = error {
                params.push(("error", e));
            }
            Outcome::Redirect(cb.with_params(&params))
        }
        None => Outcome::Done { provider },
    }
}

/// Error codes from providers are echoed to the app; keep them to a safe alphabet and length.
fn sanitize_code(code: &str) -> String {
    let clean: String = code.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').take(64).collect();
    if clean.is_empty() { "server_error".to_owned() } else { clean }
}
