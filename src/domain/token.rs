//! Link tokens: bearer capabilities, so 192 CSPRNG bits and only a SHA-256 hash at rest.

use std::fmt;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use rand::{RngCore, rngs::OsRng};
use sha2::{Digest, Sha256};

/// A freshly minted or presented link token (`ln_` + 32 base64url characters = 192 bits).
/// `Debug` hides it so it cannot reach a log by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct LinkToken(String);

impl LinkToken {
    pub const PREFIX: &'static str = "ln_";

    pub fn generate() -> Self {
        let mut bytes = [0u8; 24];
        OsRng.fill_bytes(&mut bytes);
        Self(format!("{}{}", Self::PREFIX, URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// Accepts a presented token if it has the right shape; anything else cannot match a hash.
    pub fn parse(value: &str) -> Option<Self> {
        let rest = value.strip_prefix(Self::PREFIX)?;
        (rest.len() == 32 && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'))
            .then(|| Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The value stored in the database.
    pub fn hash(&self) -> Vec<u8> {
        Sha256::digest(self.0.as_bytes()).to_vec()
    }
}

impl fmt::Debug for LinkToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LinkToken(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_unique_and_hash_stably() {
        let a = LinkToken::generate();
        let b = LinkToken::generate();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 35);
        assert_eq!(LinkToken::parse(a.as_str()).unwrap().hash(), a.hash());
        assert_eq!(a.hash().len(), 32);
        assert!(LinkToken::parse("ln_short").is_none());
        assert!(!format!("{a:?}").contains(a.as_str()));
    }
}
