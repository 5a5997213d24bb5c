//! The OAuth 2.0 client side: which endpoints and parameters a toolkit uses, the authorization
//! URL, and the token endpoint calls (code exchange, refresh).
//!
//! Outbound calls go through [`crate::outbound::OutboundClient`] (design §5, issue 11): connect
//! timeout 5 s, total 15 s, no redirects followed, responses capped at 256 KiB, forbidden
//! addresses refused at every connection. Nothing here logs a code, token, verifier or secret.

use std::collections::BTreeMap;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use rand::{RngCore, rngs::OsRng};
use serde::{Deserialize, Deserializer, Serialize};
use sha2::{Digest, Sha256};
use url::Url;

use crate::{
    catalog::ClientAuth,
    outbound::{OutboundClient, OutboundError, OutboundLimits, OutboundPolicy, OutboundRefusal},
    service::context::ServiceContext,
    store::AuthConfigRecord,
};

const MAX_RESPONSE_BYTES: usize = 256 * 1024;

/// Everything needed to talk to one provider with one OAuth app.
#[derive(Clone)]
pub struct ProviderConfig {
    pub name: String,
    pub authorization_url: String,
    pub token_url: String,
    pub scopes: Vec<String>,
    pub scope_separator: String,
    pub pkce: bool,
    pub client_auth: ClientAuth,
    pub extra_params: BTreeMap<String, String>,
    pub client_id: String,
    pub client_secret: String,
    /// The `iss` an authorization response must carry when it carries one (RFC 9207).
    pub issuer: String,
    /// RFC 7009 revocation endpoint: the auth config's, else the catalog's, else none.
    pub revocation_url: Option<String>,
    /// The catalog's token-response quirks for the toolkit.
    pub token_response: TokenResponseQuirks,
    /// The client id parameter's name on the authorization URL and in every form this client
    /// posts: `client_id`, or the catalog's `client_id_param` (TikTok's `client_key`).
    pub client_id_param: String,
}

/// How to read a provider's token responses beyond RFC 6749 (catalog `quirks` and
/// `token_response_nested`); the default is the RFC's JSON object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenResponseQuirks {
    /// `token_response_form`: parse the body as form-encoded whatever its content type.
    pub form: bool,
    /// `token_response_nested`: take the tokens from this member when the top level has none.
    pub nested: Option<String>,
    /// `non_expiring_tokens`: ignore `expires_in`.
    pub non_expiring: bool,
}

impl TokenResponseQuirks {
    pub fn of(provider: &crate::catalog::OAuthFacts) -> Self {
        use crate::catalog::Quirk;
        Self {
            form: provider.quirks.contains(&Quirk::TokenResponseForm),
            nested: provider.token_response_nested.clone(),
            non_expiring: provider.quirks.contains(&Quirk::NonExpiringTokens),
        }
    }
}

impl std::fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderConfig").field("name", &self.name).field("token_url", &self.token_url).finish()
    }
}

/// Why a provider could not be configured from an auth config.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("toolkit {0} has no authorization or token URL")]
    MissingEndpoints(String),
    #[error("toolkit {0} needs per-tenant fields ({1}) that this link does not provide")]
    NeedsFields(String, String),
    #[error("toolkit {0}: field {1}")]
    BadField(String, crate::catalog::FieldError),
    #[error("the auth config's client secret cannot be opened: {0}")]
    Secret(#[from] crate::crypto::SealError),
}

/// Combines the catalog entry (if any) with the auth config's own settings, which win.
pub fn provider_for(ctx: &ServiceContext, ac: &AuthConfigRecord) -> Result<ProviderConfig, ProviderError> {
    provider_with_fields(ctx, ac, None)
}

/// [`provider_for`] for a connection that supplied field values (a tenant `subdomain`): the
/// catalog's `{field}` URL templates are filled in with [`expand_template`], which checks each
/// value against its field and keeps every URL on the template's host.
///
/// [`expand_template`]: crate::catalog::expand_template
pub fn provider_with_fields(
    ctx: &ServiceContext,
    ac: &AuthConfigRecord,
    fields: Option<&std::collections::BTreeMap<String, String>>,
) -> Result<ProviderConfig, ProviderError> {
    let catalogued = ctx.catalog.get(&ac.toolkit);
    let entry = catalogued.and_then(crate::catalog::Provider::oauth);
    let authorization_url = ac
        .authorization_url
        .clone()
        .or_else(|| entry.map(|p| p.authorization_url.clone()))
        .ok_or_else(|| ProviderError::MissingEndpoints(ac.toolkit.to_string()))?;
    let token_url = ac
        .token_url
        .clone()
        .or_else(|| entry.map(|p| p.token_url.clone()))
        .ok_or_else(|| ProviderError::MissingEndpoints(ac.toolkit.to_string()))?;
    let (authorization_url, token_url, catalog_revocation) = match (fields, catalogued) {
        (Some(values), Some(p)) => {
            let expand = |url: String| -> Result<String, ProviderError> {
                if !url.contains('{') {
                    return Ok(url);
                }
                crate::catalog::expand_template(&url, values, &p.fields)
                    .map(String::from)
                    .map_err(|e| ProviderError::BadField(ac.toolkit.to_string(), e))
            };
            let revocation = entry.and_then(|o| o.revocation_url.clone()).map(expand).transpose()?;
            (expand(authorization_url)?, expand(token_url)?, revocation)
        }
        _ => (authorization_url, token_url, entry.and_then(|o| o.revocation_url.clone())),
    };
    if authorization_url.contains('{') || token_url.contains('{') {
        let fields = catalogued.map(|p| p.template_fields().join(", ")).unwrap_or_default();
        return Err(ProviderError::NeedsFields(ac.toolkit.to_string(), fields));
    }
    let mut scopes: Vec<String> = entry.map(|p| p.default_scopes.clone()).unwrap_or_default();
    for s in &ac.scopes {
        if !scopes.contains(s) {
            scopes.push(s.clone());
        }
    }
    let client_secret = match &ac.client_secret_sealed {
        Some(sealed) => String::from_utf8_lossy(&ctx.sealer.open(ac.id.as_str(), sealed)?).into_owned(),
        None => String::new(),
    };
    let issuer = ac.issuer.clone().unwrap_or_else(|| origin(&authorization_url));
    Ok(ProviderConfig {
        name: catalogued.map_or_else(|| ac.toolkit.to_string(), |p| p.name.clone()),
        scope_separator: entry.map_or_else(|| " ".to_owned(), |p| p.scope_separator.clone()),
        pkce: entry.is_none_or(|p| p.pkce),
        client_auth: ac
            .client_auth
            .as_deref()
            .and_then(ClientAuth::parse)
            .or_else(|| entry.map(|p| p.client_auth))
            .unwrap_or(ClientAuth::ClientSecretBasic),
        extra_params: entry.map(|p| p.extra_authorization_params.clone()).unwrap_or_default(),
        authorization_url,
        token_url,
        scopes,
        client_id: ac.client_id.clone(),
        client_secret,
        issuer,
        revocation_url: ac.revocation_url.clone().or(catalog_revocation).filter(|u| !u.contains('{')),
        token_response: entry.map(TokenResponseQuirks::of).unwrap_or_default(),
        client_id_param: entry.map_or("client_id", |p| p.client_id_param()).to_owned(),
    })
}

fn origin(url: &str) -> String {
    Url::parse(url).map(|u| u.origin().ascii_serialization()).unwrap_or_default()
}

/// Whether an `iss` parameter names the expected issuer (trailing slashes ignored).
pub fn issuer_matches(expected: &str, got: &str) -> bool {
    expected.trim_end_matches('/') == got.trim_end_matches('/')
}

/// 256 random bits, base64url: used for `state`, PKCE verifiers and browser-binding cookies.
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The S256 PKCE challenge of a verifier.
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// The provider authorization URL for a new attempt.
pub fn authorize_url(p: &ProviderConfig, redirect_uri: &str, state: &str, verifier: Option<&str>) -> Option<Url> {
    let mut url = Url::parse(&p.authorization_url).ok()?;
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("response_type", "code");
        q.append_pair(&p.client_id_param, &p.client_id);
        q.append_pair("redirect_uri", redirect_uri);
        if !p.scopes.is_empty() {
            q.append_pair("scope", &p.scopes.join(&p.scope_separator));
        }
        q.append_pair("state", state);
        if let Some(v) = verifier {
            q.append_pair("code_challenge", &pkce_challenge(v));
            q.append_pair("code_challenge_method", "S256");
        }
        for (k, v) in &p.extra_params {
            q.append_pair(k, v);
        }
    }
    Some(url)
}

/// What a token endpoint returned; sealed as a whole on the account.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenSet {
    pub access_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(default, deserialize_with = "number_or_string", skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenSet(<redacted>)")
    }
}

fn number_or_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum N {
        Int(i64),
        Float(f64),
        Str(String),
    }
    Ok(match Option::<N>::deserialize(d)? {
        Some(N::Int(n)) => Some(n),
        #[expect(
            clippy::cast_possible_truncation,
            reason = "a second count: the fraction is dropped, out-of-range values saturate"
        )]
        Some(N::Float(f)) => Some(f as i64),
        Some(N::Str(s)) => s.trim().parse().ok(),
        None => None,
    })
}

#[derive(Deserialize)]
struct ErrorResponse {
    error: String,
    error_description: Option<String>,
}

/// Why a token endpoint call failed.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The provider answered with an OAuth error (`invalid_grant`, …).
    #[error("provider error {error}{}", .description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Provider { error: String, description: Option<String> },
    /// No usable answer: refused by the outbound policy, unreachable, too slow or too large.
    /// One text for all of them, so `status_reason` and API errors cannot be used to probe the
    /// operator's network (the cause is in the source and the debug log).
    #[error("the token endpoint could not be used")]
    Transport(#[source] OutboundError),
    #[error("unusable token endpoint response: {0}")]
    InvalidResponse(String),
}

impl TokenError {
    /// A short code for callbacks (`error=` parameter).
    pub fn code(&self) -> &str {
        match self {
            Self::Provider { error, .. } => error,
            Self::Transport(_) => "temporarily_unavailable",
            Self::InvalidResponse(_) => "server_error",
        }
    }
}

/// Token endpoint calls, through the one guarded outbound client (design §5): timeouts, no
/// redirects, capped responses, and no loopback/private/metadata address unless allowlisted,
/// checked again at every connection. Catalog endpoints take the same path.
#[derive(Debug, Clone)]
pub struct OAuthClient {
    http: Option<OutboundClient>,
}

impl OAuthClient {
    /// Fails only when the TLS backend cannot be set up.
    pub fn new(policy: OutboundPolicy) -> Result<Self, reqwest::Error> {
        let limits = OutboundLimits { max_response_bytes: MAX_RESPONSE_BYTES, ..OutboundLimits::default() };
        Ok(Self { http: Some(OutboundClient::new(policy, limits)?) })
    }

    /// The guarded client itself, for the OAuth 1.0a calls (`service::oauth1`); `None` when
    /// disabled.
    pub fn outbound(&self) -> Option<&OutboundClient> {
        self.http.as_ref()
    }

    /// A client that refuses every call (when the real one cannot be built).
    pub fn disabled() -> Self {
        Self { http: None }
    }

    /// Authorization-code grant, with the PKCE verifier when one was used.
    pub async fn exchange_code(
        &self,
        p: &ProviderConfig,
        code: &str,
        redirect_uri: &str,
        verifier: Option<&str>,
    ) -> Result<TokenSet, TokenError> {
        let mut form = vec![("grant_type", "authorization_code"), ("code", code), ("redirect_uri", redirect_uri)];
        if let Some(v) = verifier {
            form.push(("code_verifier", v));
        }
        self.token_request(p, form).await
    }

    /// Refresh-token grant.
    pub async fn refresh(&self, p: &ProviderConfig, refresh_token: &str) -> Result<TokenSet, TokenError> {
        self.token_request(p, vec![("grant_type", "refresh_token"), ("refresh_token", refresh_token)]).await
    }

    /// RFC 7009 revocation of one token at the provider's revocation endpoint, authenticated as
    /// the auth config's client. `Ok` only for a 200 answer (which RFC 7009 §2.2 also gives for
    /// a token the server no longer knows).
    pub async fn revoke(&self, p: &ProviderConfig, url: &str, token: &str, hint: &str) -> Result<(), TokenError> {
        let form = vec![("token", token), ("token_type_hint", hint)];
        let response = self.authenticated_post(p, url, form).await?;
        if response.status == 200 {
            return Ok(());
        }
        if let Ok(err) = serde_json::from_slice::<ErrorResponse>(&response.body) {
            return Err(TokenError::Provider { error: err.error, description: err.error_description });
        }
        Err(TokenError::InvalidResponse(format!("HTTP {}", response.status)))
    }

    /// A form POST to one of the provider's endpoints with the client's credentials, as the
    /// provider takes them (RFC 6749 §2.3.1).
    async fn authenticated_post(
        &self,
        p: &ProviderConfig,
        endpoint: &str,
        mut form: Vec<(&str, &str)>,
    ) -> Result<crate::outbound::OutboundResponse, TokenError> {
        let Some(http) = &self.http else {
            return Err(TokenError::Transport(OutboundError::Refused(OutboundRefusal::NotAllowlisted)));
        };
        let url =
            Url::parse(endpoint).map_err(|_| TokenError::Transport(OutboundError::Refused(OutboundRefusal::NoHost)))?;
        // RFC 6749 §2.3.1: form-urlencode id and secret before Basic encoding.
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let (basic_id, basic_secret);
        let basic = match p.client_auth {
            ClientAuth::ClientSecretBasic => {
                basic_id = enc(&p.client_id);
                basic_secret = enc(&p.client_secret);
                Some((basic_id.as_str(), basic_secret.as_str()))
            }
            ClientAuth::ClientSecretPost => {
                form.push((p.client_id_param.as_str(), &p.client_id));
                form.push(("client_secret", &p.client_secret));
                None
            }
        };
        http.post_form(&url, &form, basic).await.map_err(|e| {
            tracing::debug!(provider = %p.name, reason = e.public_reason(), "provider endpoint call failed");
            TokenError::Transport(e)
        })
    }

    async fn token_request(&self, p: &ProviderConfig, form: Vec<(&str, &str)>) -> Result<TokenSet, TokenError> {
        let response = self.authenticated_post(p, &p.token_url, form).await?;
        let is_form = p.token_response.form
            || response.content_type.as_deref().is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        let bytes = &response.body;
        let value: serde_json::Value = if is_form {
            let map: serde_json::Map<String, serde_json::Value> = url::form_urlencoded::parse(bytes)
                .map(|(k, v)| (k.into_owned(), serde_json::Value::String(v.into_owned())))
                .collect();
            serde_json::Value::Object(map)
        } else {
            serde_json::from_slice(bytes).map_err(|_| {
                TokenError::InvalidResponse(format!("HTTP {} with a body that is not JSON", response.status))
            })?
        };
        if let Ok(err) = serde_json::from_value::<ErrorResponse>(value.clone()) {
            return Err(TokenError::Provider { error: err.error, description: err.error_description });
        }
        if !response.is_success() {
            return Err(TokenError::InvalidResponse(format!("HTTP {}", response.status)));
        }
        let value = match &p.token_response.nested {
            Some(member) if value.get("access_token").is_none() => value.get(member).cloned().unwrap_or(value),
            _ => value,
        };
        let mut tokens: TokenSet =
            serde_json::from_value(value).map_err(|_| TokenError::InvalidResponse("no access_token".into()))?;
        if p.token_response.non_expiring {
            tokens.expires_in = None;
        }
        Ok(tokens)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_matches_rfc7636_example() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn token_sets_parse_numbers_and_strings() {
        let t: TokenSet = serde_json::from_str(r#"{"access_token":"a","expires_in":"3600"}"#).unwrap();
        assert_eq!(t.expires_in, Some(3600));
        let t: TokenSet = serde_json::from_str(r#"{"access_token":"a","expires_in":3599.9}"#).unwrap();
        assert_eq!(t.expires_in, Some(3599));
        assert_eq!(format!("{t:?}"), "TokenSet(<redacted>)");
        assert_eq!(random_secret().len(), 43);
        assert!(issuer_matches("http://127.0.0.1:1/", "http://127.0.0.1:1"));
        assert!(!issuer_matches("http://127.0.0.1:1", "http://evil"));
    }

    fn provider(token_url: String) -> ProviderConfig {
        ProviderConfig {
            name: "test".into(),
            authorization_url: "https://idp.example.com/authorize".into(),
            token_url,
            scopes: vec![],
            scope_separator: " ".into(),
            pkce: true,
            client_auth: ClientAuth::ClientSecretBasic,
            extra_params: BTreeMap::new(),
            client_id: "id".into(),
            client_secret: "secret".into(),
            issuer: "https://idp.example.com".into(),
            revocation_url: None,
            token_response: TokenResponseQuirks::default(),
            client_id_param: "client_id".into(),
        }
    }

    /// A real HTTP token endpoint on 127.0.0.1 answering every POST with `content_type` and
    /// `body`, recording the requests' `Authorization` header and form; with a client allowed
    /// to call it.
    async fn stand_in(
        content_type: &'static str,
        body: &'static str,
    ) -> (String, OAuthClient, std::sync::Arc<std::sync::Mutex<Vec<(Option<String>, String)>>>) {
        use axum::{http::HeaderMap, routing::post};
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let record = seen.clone();
        let app = axum::Router::new().route(
            "/token",
            post(move |headers: HeaderMap, form: String| {
                let record = record.clone();
                async move {
                    let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned);
                    record.lock().unwrap().push((auth, form));
                    ([("content-type", content_type)], body)
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let policy = OutboundPolicy::new(origin.parse().unwrap(), false);
        (format!("{origin}/token"), OAuthClient::new(policy).unwrap(), seen)
    }

    /// Table: each quirk changes what a token response means, and only with the quirk declared.
    #[tokio::test]
    async fn token_response_quirks_each_have_one_implementation() {
        type Case =
            (&'static str, &'static str, &'static str, TokenResponseQuirks, Result<(&'static str, Option<i64>), ()>);
        let form = TokenResponseQuirks { form: true, ..Default::default() };
        let nested = TokenResponseQuirks { nested: Some("authed_user".into()), ..Default::default() };
        let never = TokenResponseQuirks { non_expiring: true, ..Default::default() };
        let slack_user =
            r#"{"ok":true,"authed_user":{"id":"U1","access_token":"xoxp-1","scope":"chat:write","token_type":"user"}}"#;
        let slack_bot = r#"{"ok":true,"access_token":"xoxb-1","authed_user":{"access_token":"xoxp-1"}}"#;
        let cases: [Case; 8] = [
            (
                "form body sent as text/plain",
                "text/plain",
                "access_token=f1&expires_in=60",
                form.clone(),
                Ok(("f1", Some(60))),
            ),
            (
                "the same without the quirk",
                "text/plain",
                "access_token=f1&expires_in=60",
                TokenResponseQuirks::default(),
                Err(()),
            ),
            (
                "a form content type needs no quirk",
                "application/x-www-form-urlencoded",
                "access_token=f2",
                TokenResponseQuirks::default(),
                Ok(("f2", None)),
            ),
            ("Slack user token", "application/json", slack_user, nested.clone(), Ok(("xoxp-1", None))),
            ("Slack user token, no quirk", "application/json", slack_user, TokenResponseQuirks::default(), Err(())),
            ("a top-level token wins", "application/json", slack_bot, nested, Ok(("xoxb-1", None))),
            (
                "expires_in 0 of a never-expiring token",
                "application/json",
                r#"{"access_token":"n1","expires_in":0}"#,
                never,
                Ok(("n1", None)),
            ),
            (
                "expires_in kept otherwise",
                "application/json",
                r#"{"access_token":"n1","expires_in":0}"#,
                TokenResponseQuirks::default(),
                Ok(("n1", Some(0))),
            ),
        ];
        for (name, content_type, body, quirks, expected) in cases {
            let (url, client, _) = stand_in(content_type, body).await;
            let mut p = provider(url);
            p.token_response = quirks;
            let got = client.exchange_code(&p, "code", "https://cb", None).await;
            match (got, expected) {
                (Ok(t), Ok((token, expires_in))) => {
                    assert_eq!((t.access_token.as_str(), t.expires_in), (token, expires_in), "{name}");
                }
                (Err(e), Err(())) => assert!(matches!(e, TokenError::InvalidResponse(_)), "{name}: {e:?}"),
                (got, expected) => panic!("{name}: got {got:?}, expected {expected:?}"),
            }
        }
    }

    /// Basic puts the form-encoded id and secret in `Authorization`; post puts them in the body.
    #[tokio::test]
    async fn client_authentication_basic_and_post() {
        use base64::Engine as _;
        let (url, client, seen) = stand_in("application/json", r#"{"access_token":"t"}"#).await;
        let mut p = provider(url);
        p.client_id = "id:1".into();
        p.client_secret = "s&2".into();
        client.exchange_code(&p, "c", "https://cb", None).await.unwrap();
        p.client_auth = ClientAuth::ClientSecretPost;
        client.refresh(&p, "rt").await.unwrap();
        let seen = seen.lock().unwrap().clone();
        let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("id%3A1:s%262"));
        assert_eq!(seen[0].0.as_deref(), Some(basic.as_str()));
        assert!(!seen[0].1.contains("client_secret"), "{}", seen[0].1);
        assert_eq!(seen[1].0, None);
        assert!(seen[1].1.contains("client_id=id%3A1") && seen[1].1.contains("client_secret=s%262"), "{}", seen[1].1);
        assert!(seen[1].1.contains("grant_type=refresh_token"), "{}", seen[1].1);
    }

    /// The token call goes through the guard: a URL refused as written never leaves, and a name
    /// that resolves to a forbidden address (this machine's host name usually maps to 127.0.0.1
    /// or a private address) is refused at connect time, with the one public text.
    #[tokio::test]
    async fn token_calls_are_refused_before_and_after_dns() {
        let client = OAuthClient::new(OutboundPolicy::default()).unwrap();
        for url in ["http://127.0.0.1:9/token", "https://169.254.169.254/token", "https://localhost/t", "not a url"] {
            let err = client.exchange_code(&provider(url.into()), "code", "https://cb", None).await.unwrap_err();
            assert!(matches!(err, TokenError::Transport(OutboundError::Refused(_))), "{url}: {err:?}");
            assert_eq!(err.to_string(), "the token endpoint could not be used");
            assert_eq!(err.code(), "temporarily_unavailable");
        }
        let name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default().trim().to_owned();
        let resolves_forbidden = match tokio::net::lookup_host((name.as_str(), 443)).await {
            Ok(addrs) => {
                let addrs: Vec<_> = addrs.collect();
                !addrs.is_empty() && addrs.iter().all(|a| crate::outbound::is_forbidden(a.ip()))
            }
            Err(_) => false,
        };
        if name.is_empty() || name == "localhost" || !resolves_forbidden {
            eprintln!("skipped the DNS half: the host name does not resolve to a forbidden address");
            return;
        }
        let err = client.refresh(&provider(format!("https://{name}:9/token")), "rt").await.unwrap_err();
        assert!(
            matches!(err, TokenError::Transport(OutboundError::Refused(OutboundRefusal::ResolvesToForbidden { .. }))),
            "{err:?}"
        );
        assert_eq!(err.to_string(), "the token endpoint could not be used");
    }

    /// With a disabled client nothing is sent and the failure reads like any other.
    #[tokio::test]
    async fn a_disabled_client_refuses_with_the_public_text() {
        let err =
            OAuthClient::disabled().refresh(&provider("https://idp.example.com/t".into()), "rt").await.unwrap_err();
        assert_eq!(err.to_string(), "the token endpoint could not be used");
    }

    /// Scope separators, PKCE on and off and extra parameters, as the catalog declares them.
    #[test]
    fn authorization_urls_follow_the_catalog_entry() {
        let query = |url: Url| -> BTreeMap<String, String> { url.query_pairs().into_owned().collect() };
        let mut p = provider("https://idp.example.com/token".into());
        p.scopes = vec!["channels:read".into(), "chat:write".into()];
        for (separator, joined) in [(" ", "channels:read chat:write"), (",", "channels:read,chat:write")] {
            p.scope_separator = separator.into();
            let q = query(authorize_url(&p, "https://cb", "st", Some("verifier")).unwrap());
            assert_eq!(q.get("scope").map(String::as_str), Some(joined));
            assert_eq!(q.get("code_challenge_method").map(String::as_str), Some("S256"));
            assert_eq!(q.get("code_challenge"), Some(&pkce_challenge("verifier")));
        }
        // PKCE off (the connect flow passes no verifier when the entry says `pkce: false`).
        p.extra_params =
            BTreeMap::from([("access_type".into(), "offline".into()), ("prompt".into(), "consent".into())]);
        let q = query(authorize_url(&p, "https://cb", "st", None).unwrap());
        assert!(!q.contains_key("code_challenge") && !q.contains_key("code_challenge_method"), "{q:?}");
        assert_eq!(q.get("access_type").map(String::as_str), Some("offline"));
        assert_eq!(q.get("prompt").map(String::as_str), Some("consent"));
        assert_eq!(q.get("client_id").map(String::as_str), Some("id"));
    }

    /// `client_id_param` (TikTok's `client_key`) renames the client id everywhere this client
    /// sends it, and nowhere leaves a `client_id` behind: the authorization URL, the code
    /// exchange, the refresh and the revocation, each against a real HTTP endpoint.
    #[tokio::test]
    async fn a_renamed_client_id_parameter_is_used_by_every_call() {
        let (url, client, seen) = stand_in("application/json", r#"{"access_token":"t","refresh_token":"r"}"#).await;
        let mut p = provider(url.clone());
        p.client_auth = ClientAuth::ClientSecretPost;
        p.client_id = "ck 1".into();
        p.client_id_param = "client_key".into();
        let q: BTreeMap<String, String> =
            authorize_url(&p, "https://cb", "st", None).unwrap().query_pairs().into_owned().collect();
        assert_eq!(q.get("client_key").map(String::as_str), Some("ck 1"), "{q:?}");
        assert!(!q.contains_key("client_id"), "{q:?}");
        client.exchange_code(&p, "c", "https://cb", None).await.unwrap();
        client.refresh(&p, "rt").await.unwrap();
        client.revoke(&p, &url, "t", "access_token").await.unwrap();
        let seen = seen.lock().unwrap().clone();
        let calls = [("grant_type", "authorization_code"), ("grant_type", "refresh_token"), ("token", "t")];
        assert_eq!(seen.len(), calls.len());
        for ((auth, form), call) in seen.iter().zip(calls) {
            let form: BTreeMap<String, String> = url::form_urlencoded::parse(form.as_bytes()).into_owned().collect();
            assert_eq!(form.get(call.0).map(String::as_str), Some(call.1), "{call:?}: {form:?}");
            assert_eq!(form.get("client_key").map(String::as_str), Some("ck 1"), "{call:?}: {form:?}");
            assert_eq!(form.get("client_secret").map(String::as_str), Some("secret"), "{call:?}");
            assert!(!form.contains_key("client_id") && auth.is_none(), "{call:?}: {form:?}");
        }
        // Without the rename nothing changes: `client_id`, as RFC 6749 names it.
        p.client_id_param = "client_id".into();
        let q: BTreeMap<String, String> =
            authorize_url(&p, "https://cb", "st", None).unwrap().query_pairs().into_owned().collect();
        assert!(q.contains_key("client_id") && !q.contains_key("client_key"), "{q:?}");
    }
}
