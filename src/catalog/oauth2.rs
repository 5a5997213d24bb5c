//! The OAuth 2.0 side of an `OAUTH2` catalog entry: endpoints, scopes, PKCE, how the client
//! authenticates at the token endpoint and the named token-endpoint quirks.
//!
//! Kept apart from [`super::Provider`] (what every entry has) and from the OAuth 1.0a facts
//! (`oauth1.rs`) because it is the one part of the catalog the OAuth client (`service::oauth`)
//! reads, and it grows with each provider quirk; the rest of the catalog need not change with it.

use std::collections::BTreeMap;

use serde::Deserialize;

/// Authorization parameters the broker sets itself; a catalog entry may not override them.
pub(super) const RESERVED_AUTHORIZATION_PARAMS: &[&str] =
    &["client_id", "redirect_uri", "response_type", "scope", "state", "code_challenge", "code_challenge_method"];

/// The OAuth 2.0 side of an `OAUTH2` catalog entry.
#[derive(Debug, Clone)]
pub struct OAuthFacts {
    /// Absolute https URL; may contain `{field}` placeholders naming [`super::Provider::fields`].
    pub authorization_url: String,
    /// Absolute https URL; may contain `{field}` placeholders naming [`super::Provider::fields`].
    pub token_url: String,
    /// Requested when an auth config names no scopes. Empty only for providers without scopes.
    pub default_scopes: Vec<String>,
    /// Exactly what the provider expects between scopes in the `scope` parameter.
    pub scope_separator: String,
    /// Whether to send a PKCE S256 challenge and verifier.
    pub pkce: bool,
    /// Why PKCE is off: required when [`OAuthFacts::pkce`] is false, refused when it is true
    /// (design §5: PKCE on every provider that accepts it).
    pub pkce_off_reason: Option<String>,
    pub client_auth: ClientAuth,
    /// Added verbatim to the authorization URL's query.
    pub extra_authorization_params: BTreeMap<String, String>,
    /// RFC 7009 token revocation endpoint, when the provider has one.
    pub revocation_url: Option<String>,
    /// Token-endpoint behaviours outside RFC 6749 (see [`Quirk`]); each has one implementation
    /// in the OAuth client (`service::oauth`).
    pub quirks: Vec<Quirk>,
    /// The member of the token response holding the tokens when the top level has no
    /// `access_token` (Slack's `authed_user` for user tokens).
    pub token_response_nested: Option<String>,
    /// The name the provider gives the client id parameter, on the authorization URL and in
    /// every token-endpoint and revocation form (TikTok's `client_key`); `None` is RFC 6749's
    /// `client_id`. See [`OAuthFacts::client_id_param`].
    pub client_id_param: Option<String>,
}

impl OAuthFacts {
    /// The client id parameter's name: `client_id`, or the entry's `client_id_param`.
    pub fn client_id_param(&self) -> &str {
        self.client_id_param.as_deref().unwrap_or("client_id")
    }
}

/// A named token-endpoint quirk a catalog entry may declare (unknown names are refused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Quirk {
    /// The token response is form-encoded (`a=b&c=d`) whatever its `Content-Type` says.
    TokenResponseForm,
    /// Access tokens never expire: an `expires_in` the provider sends (some send `0`) is ignored,
    /// so the account is never treated as expired nor refreshed.
    NonExpiringTokens,
}

/// How the provider wants client credentials at its token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    /// HTTP Basic `Authorization` header (RFC 6749 §2.3.1).
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
}

impl ClientAuth {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "client_secret_basic" => Some(Self::ClientSecretBasic),
            "client_secret_post" => Some(Self::ClientSecretPost),
            _ => None,
        }
    }
}
