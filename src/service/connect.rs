//! The end user's side of a link: the link page, the start of the authorization-code flow and
//! the callback that completes it (design §5, RFC 9700).
//!
//! Outcomes are plain values; the HTTP layer renders them as pages or redirects. Codes, tokens,
//! verifiers and secrets are never logged.

use chrono::{Duration, Utc};
use url::Url;

use super::oauth::{TokenSet, authorize_url, issuer_matches, provider_for, random_secret};
use crate::{
    AppState,
    crypto::sha256,
    domain::{AccountStatus, CallbackUrl, LinkToken},
    store::{LinkView, OAuthStateRecord, StoreError},
};

/// Longest time between pressing Continue and coming back from the provider.
const STATE_TTL_MINUTES: i64 = 10;

/// What the link page shows.
#[derive(Debug)]
pub enum LinkPage {
    NotFound,
    Expired,
    Used,
    Ready { provider: String, toolkit: String, return_host: Option<String> },
}

/// A page to show instead of a redirect, with its HTTP status.
#[derive(Debug)]
pub struct Problem {
    pub status: u16,
    pub title: &'static str,
    pub message: String,
}

impl Problem {
    fn new(status: u16, title: &'static str, message: impl Into<String>) -> Self {
        Self { status, title, message: message.into() }
    }
}

impl From<StoreError> for Problem {
    fn from(err: StoreError) -> Self {
        tracing::error!(error.cause = %err, error.debug = ?err, "connect flow storage failure");
        Self::new(500, "Something went wrong", "authlink could not complete this step. Please try again later.")
    }
}

/// Where the callback sends the browser.
#[derive(Debug)]
pub enum Outcome {
    Redirect(Url),
    Done { provider: String },
}

async fn find_link(state: &AppState, token: &str) -> Result<Option<LinkView>, StoreError> {
    match LinkToken::parse(token) {
        Some(t) => state.store.link_by_token(&t.hash()).await,
        None => Ok(None),
    }
}

fn usability(link: &LinkView) -> Result<(), LinkPage> {
    if link.account_deleted {
        return Err(LinkPage::NotFound);
    }
    if link.consumed_at.is_some() || !matches!(link.account.status, AccountStatus::Initiated) {
        return Err(if link.account.status == AccountStatus::Expired { LinkPage::Expired } else { LinkPage::Used });
    }
    if link.expires_at <= Utc::now() {
        return Err(LinkPage::Expired);
    }
    Ok(())
}

/// `GET /link/{token}`.
pub async fn link_page(state: &AppState, token: &str) -> Result<LinkPage, Problem> {
    let Some(link) = find_link(state, token).await? else { return Ok(LinkPage::NotFound) };
    if let Err(page) = usability(&link) {
        return Ok(page);
    }
    let provider = state
        .catalog
        .get(&link.auth_config.toolkit)
        .map_or_else(|| link.auth_config.toolkit.to_string(), |p| p.name.clone());
    let return_host = link.callback_url.as_deref().and_then(|u| Url::parse(u).ok()).and_then(|u| {
        u.host_str().map(|h| match u.port() {
            Some(p) => format!("{h}:{p}"),
            None => h.to_owned(),
        })
    });
    Ok(LinkPage::Ready { provider, toolkit: link.auth_config.toolkit.to_string(), return_host })
}

/// `POST /link/{token}/continue`: a fresh state (bound to the browser) and PKCE verifier, then
/// the provider's authorization URL. Pressing twice makes two states for the same account.
pub async fn start(state: &AppState, token: &str, binding: &str) -> Result<Url, Problem> {
    let Some(link) = find_link(state, token).await? else {
        return Err(Problem::new(404, "Link not found", "This link does not exist. Ask the app for a new one."));
    };
    match usability(&link) {
        Ok(()) => {}
        Err(LinkPage::Expired) => return Err(expired()),
        Err(LinkPage::Used) => return Err(used()),
        Err(_) => return Err(Problem::new(404, "Link not found", "This link does not exist.")),
    }
    let provider = provider_for(state, &link.auth_config).map_err(|e| {
        tracing::warn!(error = %e, "provider not usable");
        Problem::new(400, "This connection cannot start", e.to_string())
    })?;
    let state_value = random_secret();
    let verifier = provider.pkce.then(random_secret);
    let redirect_uri = callback_uri(state);
    let url = authorize_url(&provider, &redirect_uri, &state_value, verifier.as_deref()).ok_or_else(|| {
        Problem::new(400, "This connection cannot start", "The provider's authorization URL is invalid.")
    })?;
    let record = OAuthStateRecord {
        state_hash: sha256(&state_value),
        project: link.project,
        link_token_hash: link.token_hash.clone(),
        account_id: link.account.id.clone(),
        binding_hash: sha256(binding),
        verifier_sealed: verifier.as_deref().map(|v| state.sealer.seal(link.account.id.as_str(), v.as_bytes())),
        expires_at: (Utc::now() + Duration::minutes(STATE_TTL_MINUTES)).min(link.expires_at + Duration::minutes(1)),
        used_at: None,
    };
    state.store.insert_oauth_state(&record).await?;
    tracing::info!(connected_account_id = %link.account.id, "authorization started");
    Ok(url)
}

/// The one fixed redirect URI registered with every provider.
pub fn callback_uri(state: &AppState) -> String {
    format!("{}/oauth/callback", state.settings.public_base)
}

fn expired() -> Problem {
    Problem::new(410, "This link has expired", "The connection was not completed in time. Ask the app for a new link.")
}

fn used() -> Problem {
    Problem::new(410, "This link was already used", "Each link works once. Ask the app for a new link if you need one.")
}

fn bad_state(message: &str) -> Problem {
    Problem::new(400, "This sign-in cannot be completed", message)
}

/// Query parameters of `GET /oauth/callback`.
#[derive(Debug, Default, serde::Deserialize)]
pub struct CallbackParams {
    pub state: Option<String>,
    pub code: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
    pub iss: Option<String>,
}

/// `GET /oauth/callback`.
pub async fn callback(state: &AppState, params: CallbackParams, binding: Option<&str>) -> Result<Outcome, Problem> {
    let Some(state_value) = params.state.as_deref().filter(|s| !s.is_empty() && s.len() <= 512) else {
        return Err(bad_state("The provider did not send back a state parameter."));
    };
    let state_hash = sha256(state_value);
    let Some(st) = state.store.oauth_state(&state_hash).await? else {
        return Err(bad_state("This sign-in attempt is unknown. Start again from the app's link."));
    };
    if st.used_at.is_some() {
        return Err(bad_state("This sign-in attempt was already completed."));
    }
    if st.expires_at <= Utc::now() {
        return Err(bad_state("This sign-in attempt has expired. Start again from the app's link."));
    }
    if binding.map(sha256).as_deref() != Some(st.binding_hash.as_slice()) {
        tracing::warn!(connected_account_id = %st.account_id, "state presented without its browser binding");
        return Err(bad_state("This sign-in was started in a different browser. Open the link again here."));
    }
    if !state.store.consume_oauth_state(&state_hash).await? {
        return Err(bad_state("This sign-in attempt was already completed."));
    }
    let link = state
        .store
        .link_by_token(&st.link_token_hash)
        .await?
        .filter(|l| l.account.id == st.account_id && !l.account_deleted)
        .ok_or_else(|| bad_state("The connection this sign-in belongs to no longer exists."))?;
    match usability(&link) {
        Ok(()) => {}
        // The link ran out while the user was at the provider: the account already reads
        // EXPIRED to the app, so it must not turn ACTIVE now.
        Err(LinkPage::Expired) => return Err(expired()),
        Err(_) => return Err(used()),
    }
    let provider = provider_for(state, &link.auth_config).map_err(|e| bad_state(&e.to_string()))?;

    if let Some(iss) = params.iss.as_deref() {
        if !issuer_matches(&provider.issuer, iss) {
            return fail(state, &link, "invalid_issuer", "The authorization response came from an unexpected issuer")
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
        return fail(state, &link, &code, &reason).await;
    }
    let Some(code) = params.code.as_deref().filter(|c| !c.is_empty()) else {
        return fail(state, &link, "invalid_request", "The provider sent neither a code nor an error").await;
    };
    let verifier = match &st.verifier_sealed {
        Some(sealed) => Some(
            state
                .sealer
                .open(link.account.id.as_str(), sealed)
                .map(|v| String::from_utf8_lossy(&v).into_owned())
                .map_err(|e| bad_state(&format!("The sign-in attempt cannot be read: {e}")))?,
        ),
        None => None,
    };
    let tokens = match state.oauth.exchange_code(&provider, code, &callback_uri(state), verifier.as_deref()).await {
        Ok(tokens) => tokens,
        Err(e) => {
            tracing::warn!(connected_account_id = %link.account.id, error = %e, "token exchange failed");
            let reason = format!("OAuth callback failed during token exchange: {e}");
            return fail(state, &link, &sanitize_code(e.code()), &reason).await;
        }
    };
    let (sealed, expires_at) = seal_tokens(state, &link.account.id, &tokens);
    if !state.store.complete_link(link.project, &link.account.id, &link.token_hash, &sealed, expires_at).await? {
        // The exchange can take seconds: the link may have expired meanwhile (the tokens are
        // dropped, never stored) or another callback may have won.
        return Err(if link.expires_at <= Utc::now() { expired() } else { used() });
    }
    tracing::info!(connected_account_id = %link.account.id, "account connected");
    Ok(finish(link, "success", None, provider.name))
}

/// Seals a token set for an account; returns it with the access token's expiry.
pub fn seal_tokens(
    state: &AppState,
    account: &crate::domain::ConnectedAccountId,
    tokens: &TokenSet,
) -> (String, Option<chrono::DateTime<Utc>>) {
    let json = serde_json::to_vec(tokens).expect("token sets serialize");
    let expires_at = tokens.expires_in.map(|s| Utc::now() + Duration::seconds(s.clamp(0, 10 * 365 * 86_400)));
    (state.sealer.seal(account.as_str(), &json), expires_at)
}

async fn fail(state: &AppState, link: &LinkView, code: &str, reason: &str) -> Result<Outcome, Problem> {
    let reason: String = reason.chars().filter(|c| !c.is_control()).take(500).collect();
    let reason = reason.as_str();
    state.store.fail_link(link.project, &link.account.id, &link.token_hash, reason).await?;
    tracing::info!(connected_account_id = %link.account.id, error.code = code, "connection failed");
    let provider = state
        .catalog
        .get(&link.auth_config.toolkit)
        .map_or_else(|| link.auth_config.toolkit.to_string(), |p| p.name.clone());
    match finish(link.clone(), "failed", Some(code), provider) {
        Outcome::Done { .. } => Err(Problem::new(400, "The connection failed", reason.to_owned())),
        redirect => Ok(redirect),
    }
}

fn finish(link: LinkView, status: &str, error: Option<&str>, provider: String) -> Outcome {
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
