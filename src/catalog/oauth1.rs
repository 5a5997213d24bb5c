//! The OAuth 1.0a side of an `OAUTH1` catalog entry (RFC 5849): the three endpoints, how requests
//! are signed and where the protocol parameters travel.
//!
//! Kept apart from the OAuth 2.0 facts because nothing is shared: no scopes, no PKCE, no client
//! authentication method, and token credentials that never refresh.

use serde::Deserialize;

/// RFC 5849 §3.4 signature methods authlink can produce. `RSA-SHA1` needs a per-app private key
/// that no catalog provider asks for, so it is not offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
pub enum SignatureMethod {
    #[serde(rename = "HMAC-SHA1")]
    HmacSha1,
    /// Only over https (RFC 5849 §3.4.4): the signature is the secrets themselves.
    #[serde(rename = "PLAINTEXT")]
    Plaintext,
}

impl SignatureMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HmacSha1 => "HMAC-SHA1",
            Self::Plaintext => "PLAINTEXT",
        }
    }
}

/// Where the `oauth_*` protocol parameters go (RFC 5849 §3.5).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Transmission {
    /// `Authorization: OAuth ...` on a POST (§3.5.1), what most providers take.
    #[default]
    Header,
    /// In the query of a GET (§3.5.3): Evernote documents its endpoints this way.
    Query,
}

/// The `oauth1` block of a catalog entry, as written.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuth1Facts {
    /// Temporary credentials (RFC 5849 §2.1), absolute https URL.
    pub request_token_url: String,
    /// Resource owner authorization (§2.2): the user is sent here with `oauth_token`.
    pub authorize_url: String,
    /// Token credentials (§2.3), exchanged for the temporary ones and `oauth_verifier`.
    pub access_token_url: String,
    pub signature_method: SignatureMethod,
    #[serde(default)]
    pub transmission: Transmission,
}

#[cfg(test)]
mod tests {
    use crate::{
        catalog::{AuthScheme, Catalog},
        domain::ToolkitSlug,
    };

    use super::{SignatureMethod, Transmission};

    const ENTRY: &str = "
toolkits:
  - slug: notes
    name: Notes
    source: https://notes.example/docs
    auth_scheme: OAUTH1
    oauth1:
      request_token_url: https://notes.example/oauth
      authorize_url: https://notes.example/OAuth.action
      access_token_url: https://notes.example/oauth
      signature_method: HMAC-SHA1
";

    #[test]
    fn an_oauth1_entry_parses_and_evernote_is_one() {
        let parsed = Catalog::from_yaml(ENTRY).unwrap();
        let notes = parsed.get(&ToolkitSlug::parse("notes").unwrap()).unwrap();
        let facts = notes.oauth1.as_ref().unwrap();
        assert_eq!((facts.signature_method, facts.transmission), (SignatureMethod::HmacSha1, Transmission::Header));
        assert!(notes.oauth().is_none());
        let catalog = Catalog::embedded().unwrap();
        let evernote = catalog.get(&ToolkitSlug::parse("evernote").unwrap()).unwrap();
        assert_eq!(evernote.auth_scheme, AuthScheme::OAuth1);
        let facts = evernote.oauth1.as_ref().unwrap();
        assert_eq!(facts.request_token_url, "https://www.evernote.com/oauth");
        assert_eq!(facts.authorize_url, "https://www.evernote.com/OAuth.action");
        assert_eq!(facts.transmission, Transmission::Query);
        assert!(evernote.source.starts_with("https://dev.evernote.com/"));
    }

    /// Table: every OAUTH1 rule refuses the entry, naming the field.
    #[test]
    fn oauth1_rules_refuse_bad_entries() {
        let cases: [(&str, &str, &str, &str); 8] = [
            ("    oauth1:\n", "    other:\n", "other", "unknown field"),
            ("      signature_method: HMAC-SHA1\n", "      signature_method: RSA-SHA1\n", "oauth1", "unknown variant"),
            ("      signature_method: HMAC-SHA1\n", "", "oauth1", "signature_method"),
            (
                "https://notes.example/OAuth.action",
                "http://notes.example/OAuth.action",
                "oauth1.authorize_url",
                "https",
            ),
            ("      access_token_url: https://notes.example/oauth\n", "", "oauth1", "access_token_url"),
            (
                "    auth_scheme: OAUTH1\n",
                "    auth_scheme: OAUTH1\n    token_url: https://notes.example/t\n",
                "token_url",
                "OAuth 2.0 key",
            ),
            ("    auth_scheme: OAUTH1\n", "    auth_scheme: API_KEY\n", "oauth1", "only allowed on OAUTH1"),
            (
                "    auth_scheme: OAUTH1\n",
                "    auth_scheme: OAUTH1\n    fields:\n      - name: org\n        display_name: Org\n        pattern: \"[a-z]+\"\n",
                "fields",
                "take no fields",
            ),
        ];
        for (from, to, field, rule) in cases {
            let text = ENTRY.replacen(from, to, 1);
            assert_ne!(text, ENTRY, "{from:?} not found");
            let message = Catalog::from_yaml(&text).expect_err(to).to_string();
            assert!(message.contains(field) && message.contains(rule), "{to}: {message}");
        }
        let missing = ENTRY.split("    oauth1:").next().unwrap().to_owned();
        let message = Catalog::from_yaml(&missing).expect_err("no oauth1 block").to_string();
        assert!(message.contains("`oauth1`") && message.contains("required on OAUTH1"), "{message}");
    }
}
