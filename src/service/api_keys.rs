//! The rules of managed API keys, shared by the CLI and the admin API: names, expiry, and the
//! generated key with the only parts of it the store keeps (its hash and its last four
//! characters).

use chrono::{DateTime, Duration, Utc};

use crate::{
    crypto::{new_api_key, sha256},
    store::NewApiKey,
};

/// Longest key name, in characters.
pub const MAX_NAME_CHARS: usize = 128;
/// Longest lifetime `expires_in_days` may ask for (ten years).
pub const MAX_EXPIRES_IN_DAYS: i64 = 3650;

/// A key name: trimmed, at most [`MAX_NAME_CHARS`] characters, no control characters. Empty is
/// allowed (keys created before names existed have none).
pub fn name(raw: &str) -> Result<String, String> {
    let name = raw.trim();
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(format!("must be at most {MAX_NAME_CHARS} characters"));
    }
    if name.chars().any(char::is_control) {
        return Err("must not contain control characters".to_owned());
    }
    Ok(name.to_owned())
}

/// When a key created now with this lifetime expires; `None` never.
pub fn expiry(days: Option<i64>, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, String> {
    match days {
        None => Ok(None),
        Some(d) if (1..=MAX_EXPIRES_IN_DAYS).contains(&d) => Ok(Some(now + Duration::days(d))),
        Some(_) => Err(format!("must be an integer from 1 to {MAX_EXPIRES_IN_DAYS}")),
    }
}

/// The last four characters of a key: enough to tell keys apart, useless to an attacker.
pub fn hint(key: &str) -> String {
    let tail: Vec<char> = key.chars().rev().take(4).collect();
    tail.into_iter().rev().collect()
}

/// A fresh key and what the store keeps of it. The key itself is shown once and never stored.
pub fn generate(name: String, expires_at: Option<DateTime<Utc>>) -> (String, NewApiKey) {
    let key = new_api_key();
    let new = NewApiKey { key_hash: sha256(&key), hint: hint(&key), name, expires_at };
    (key, new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_expiries_and_hints() {
        assert_eq!(name("  ci deploy "), Ok("ci deploy".to_owned()));
        assert!(name(&"x".repeat(129)).is_err());
        assert!(name("a\nb").is_err());
        let now = Utc::now();
        assert_eq!(expiry(None, now), Ok(None));
        assert_eq!(expiry(Some(2), now), Ok(Some(now + Duration::days(2))));
        assert!(expiry(Some(0), now).is_err() && expiry(Some(3651), now).is_err());
        assert_eq!(hint("ak_abcdESjq"), "ESjq");
        let (key, new) = generate("n".into(), None);
        assert_eq!(new.key_hash, sha256(&key));
        assert!(key.ends_with(&new.hint));
    }
}
