//! Secret-shaped settings: the encryption key, API-key strength, and URLs with their passwords
//! hidden for logs.

use std::{fmt, str::FromStr};

use base64::{Engine, engine::general_purpose::STANDARD};
use url::Url;

/// A 32-byte AES-256 key. Its `Debug` never shows the bytes.
#[derive(Clone)]
pub struct EncryptionKey(pub [u8; 32]);

impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EncryptionKey(<redacted>)")
    }
}

impl FromStr for EncryptionKey {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes =
            STANDARD.decode(s.trim()).map_err(|_| "must be base64 (try `openssl rand -base64 32`)".to_owned())?;
        let key: [u8; 32] =
            bytes.try_into().map_err(|b: Vec<u8>| format!("must decode to 32 bytes, got {}", b.len()))?;
        Ok(Self(key))
    }
}

/// Hides the password of a database URL for logs.
pub fn redact_url(raw: &str) -> String {
    match Url::parse(raw) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("****"));
            url.to_string()
        }
        Ok(url) => url.to_string(),
        Err(_) => "<unparseable>".to_owned(),
    }
}

/// Why a secret is too predictable to be an API key, if it is: few distinct characters
/// (`aaaa…`, `abab…`), a repeated unit (a word typed several times) or a run (`abcd…`, `1234…`,
/// `aceg…`). Random keys of 32 to 256 characters over an alphabet of 10 or more symbols (decimal,
/// hex, base64) pass every rule with a wide margin.
pub fn predictable_secret(key: &str) -> Option<&'static str> {
    let bytes = key.as_bytes();
    if bytes.iter().collect::<std::collections::BTreeSet<_>>().len() < 6 {
        return Some("fewer than 6 distinct characters");
    }
    // A repeated unit of length p has at most p distinct substrings of three characters.
    if !varied(bytes.windows(3), 3) {
        return Some("a repeated pattern");
    }
    // A run has the same step between neighbours again and again.
    let steps: Vec<i16> = bytes.windows(2).map(|w| i16::from(w[1]) - i16::from(w[0])).collect();
    if !varied(steps.windows(2), 1) {
        return Some("a run of evenly spaced characters");
    }
    None
}

/// Whether at least `quarters` quarters of the windows are distinct, or at least 48 of them
/// (enough variety in a long key over a small alphabet).
fn varied<'a, T: Ord + 'a>(windows: impl Iterator<Item = &'a [T]>, quarters: usize) -> bool {
    let all: Vec<&[T]> = windows.collect();
    let distinct = all.iter().collect::<std::collections::BTreeSet<_>>().len();
    distinct >= 48 || distinct * 4 >= all.len() * quarters
}
