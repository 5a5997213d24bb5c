//! Auth schemes and where a credential goes on API calls.

use serde::{Deserialize, Deserializer, de};

/// How a connection authenticates, named as Composio names it on the wire (`authScheme`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
pub enum AuthScheme {
    #[default]
    #[serde(rename = "OAUTH2")]
    OAuth2,
    #[serde(rename = "API_KEY")]
    ApiKey,
    #[serde(rename = "BEARER_TOKEN")]
    BearerToken,
    #[serde(rename = "BASIC")]
    Basic,
    /// OAuth 1.0a (RFC 5849): a redirect flow like OAuth 2.0, with signed requests and token
    /// credentials that do not refresh.
    #[serde(rename = "OAUTH1")]
    OAuth1,
}

impl AuthScheme {
    pub const ALL: [Self; 5] = [Self::OAuth2, Self::ApiKey, Self::BearerToken, Self::Basic, Self::OAuth1];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::OAuth2 => "OAUTH2",
            Self::ApiKey => "API_KEY",
            Self::BearerToken => "BEARER_TOKEN",
            Self::Basic => "BASIC",
            Self::OAuth1 => "OAUTH1",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }

    /// OAuth 2.0 only: OAuth 1.0a has its own facts and flow (`service::oauth1`).
    pub fn is_oauth(self) -> bool {
        self == Self::OAuth2
    }

    /// Whether the account's credential is a set of field values the user or app typed in
    /// (API key, bearer token, basic), rather than one a provider issued in a redirect flow.
    pub fn is_typed_in(self) -> bool {
        matches!(self, Self::ApiKey | Self::BearerToken | Self::Basic)
    }
}

impl std::fmt::Display for AuthScheme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One place an API key, bearer token or companion value goes on the provider's API calls.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Credential {
    #[serde(rename = "in")]
    pub location: CredentialIn,
    /// The header or query parameter name.
    pub name: String,
    /// Prepended to the value (`"Bearer "`).
    #[serde(default)]
    pub prefix: Option<String>,
    /// Which field is placed (default: the first secret field; required in a list of several).
    #[serde(default)]
    pub field: Option<String>,
}

/// `credential` as written: one placement (`{in, name, ...}`) or a list of them, for providers
/// that take two values on every call (Trello's `key` and `token` query parameters, Datadog's
/// `DD-API-KEY` and `DD-APPLICATION-KEY` headers, Plaid's client id and secret). The single form
/// stays accepted so existing catalog files keep loading. A hand-written `Deserialize` (rather
/// than an untagged enum) keeps serde's precise errors, which name the failing key and line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placements(pub Vec<Credential>);

impl<'de> Deserialize<'de> for Placements {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct OneOrMany;
        impl<'de> de::Visitor<'de> for OneOrMany {
            type Value = Placements;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a placement {in, name, prefix, field} or a list of them")
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Placements, A::Error> {
                Credential::deserialize(de::value::MapAccessDeserializer::new(map)).map(|c| Placements(vec![c]))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Placements, A::Error> {
                Vec::<Credential>::deserialize(de::value::SeqAccessDeserializer::new(seq)).map(Placements)
            }
        }
        d.deserialize_any(OneOrMany)
    }
}

/// `credential.in`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialIn {
    Header,
    Query,
}

impl CredentialIn {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Header => "header",
            Self::Query => "query",
        }
    }
}
