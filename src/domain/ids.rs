//! Prefixed public identifiers (`trs_`, `ca_`, `ac_`) in Composio's format: prefix + 12-character
//! nanoid over `[A-Za-z0-9_-]`. Generated from the OS CSPRNG.

use std::fmt;

use rand::{Rng, rngs::OsRng};
use serde::{Deserialize, Serialize};

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
const NANOID_LEN: usize = 12;

/// Generates a 12-character nanoid. 64 symbols map exactly onto 6 random bits, so no bias.
fn nanoid() -> String {
    (0..NANOID_LEN).map(|_| ALPHABET[OsRng.gen_range(0..ALPHABET.len())] as char).collect()
}

fn is_nanoid(s: &str) -> bool {
    s.len() == NANOID_LEN && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Why a string is not an id of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a valid {kind} id: please pass this in {prefix} prefix format")]
pub struct InvalidId {
    pub kind: &'static str,
    pub prefix: &'static str,
    pub value: String,
}

macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The id's prefix, including the underscore.
            pub const PREFIX: &'static str = $prefix;

            /// The id's shape as an ECMA-262 regular expression, for the OpenAPI document.
            pub fn pattern() -> String {
                format!("^{}[A-Za-z0-9_-]{{{NANOID_LEN}}}$", $prefix)
            }

            /// A fresh random id.
            pub fn generate() -> Self {
                Self(format!("{}{}", $prefix, nanoid()))
            }

            /// Parses an id, checking prefix and nanoid shape.
            pub fn parse(value: &str) -> Result<Self, InvalidId> {
                match value.strip_prefix($prefix) {
                    Some(rest) if is_nanoid(rest) => Ok(Self(value.to_owned())),
                    _ => Err(InvalidId { kind: $kind, prefix: $prefix, value: value.chars().take(64).collect() }),
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidId;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

prefixed_id!(
    /// A tool-router session id, `trs_…`.
    SessionId, "trs_", "session"
);
prefixed_id!(
    /// A connected account id, `ca_…`.
    ConnectedAccountId, "ca_", "connected account"
);
prefixed_id!(
    /// An auth config id, `ac_…`.
    AuthConfigId, "ac_", "auth config"
);
prefixed_id!(
    /// A webhook subscription id, `ws_…` (authlink's prefix; Composio's ids are opaque strings).
    WebhookSubscriptionId, "ws_", "webhook subscription"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_pattern_is_the_parser() {
        assert_eq!(SessionId::pattern(), "^trs_[A-Za-z0-9_-]{12}$");
        assert_eq!(ConnectedAccountId::pattern(), "^ca_[A-Za-z0-9_-]{12}$");
        assert_eq!(AuthConfigId::pattern(), "^ac_[A-Za-z0-9_-]{12}$");
        assert_eq!(WebhookSubscriptionId::pattern(), "^ws_[A-Za-z0-9_-]{12}$");
    }

    #[test]
    fn generated_ids_parse_back() {
        for _ in 0..200 {
            let id = SessionId::generate();
            assert_eq!(SessionId::parse(id.as_str()).unwrap(), id);
            assert_eq!(id.as_str().len(), 16);
        }
        assert!(ConnectedAccountId::generate().as_str().starts_with("ca_"));
        assert!(AuthConfigId::generate().as_str().starts_with("ac_"));
    }

    #[test]
    fn malformed_ids_are_rejected() {
        for bad in
            ["", "trs_", "trs_short", "trs_0xJb8Y4nexHE1", "ca_0xJb8Y4nexHE", "trs_0xJb8Y4nex E", "TRS_0xJb8Y4nexHE"]
        {
            let err = SessionId::parse(bad).unwrap_err();
            assert!(err.to_string().contains("trs_ prefix format"), "{bad}: {err}");
        }
        assert!(SessionId::parse("trs_0xJb8Y4nexHE").is_ok());
        assert!(SessionId::parse("trs_XKI7uBm-Oo1q").is_ok());
    }
}
