//! Auth schemes and where a credential goes on API calls.

use serde::Deserialize;

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
}

impl AuthScheme {
    pub const ALL: [Self; 4] = [Self::OAuth2, Self::ApiKey, Self::BearerToken, Self::Basic];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::OAuth2 => "OAUTH2",
            Self::ApiKey => "API_KEY",
            Self::BearerToken => "BEARER_TOKEN",
            Self::Basic => "BASIC",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }

    pub fn is_oauth(self) -> bool {
        self == Self::OAuth2
    }
}

impl std::fmt::Display for AuthScheme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where an API key or bearer token goes on the provider's API calls.
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
    /// Which field is the credential (default: the first secret field).
    #[serde(default)]
    pub field: Option<String>,
}

/// `credential.in`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialIn {
    Header,
    Query,
}
