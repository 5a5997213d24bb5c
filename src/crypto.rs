//! Secrets at rest: AES-256-GCM sealing with key ids, and API key minting/hashing.
//!
//! A sealed value is `v1.<key id>.<base64(nonce ‖ ciphertext)>`. The key id (first 8 hex
//! characters of SHA-256 of the key) tells which key opens it, so keys can rotate without a
//! flag day; the owning row's id is the associated data, so a sealed value copied onto another
//! row does not open.

use aes_gcm::{
    Aes256Gcm, Key, Nonce,
    aead::{Aead, AeadCore, KeyInit, OsRng, Payload},
};
use base64::{Engine, engine::general_purpose::STANDARD, engine::general_purpose::URL_SAFE_NO_PAD};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::config::EncryptionKey;

/// Why a sealed value could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("sealed value is malformed")]
    Malformed,
    #[error("no key with id {0} is configured")]
    UnknownKey(String),
    #[error("sealed value failed authentication (wrong key or wrong owner)")]
    Authentication,
}

struct SealingKey {
    id: String,
    cipher: Aes256Gcm,
}

impl SealingKey {
    fn new(key: &EncryptionKey) -> Self {
        let digest = Sha256::digest(key.0);
        let id = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
        Self { id, cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&key.0)) }
    }
}

/// Seals with the current key; opens with the current or any older key.
pub struct Sealer {
    current: SealingKey,
    old: Vec<SealingKey>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer").field("current_key_id", &self.current.id).finish_non_exhaustive()
    }
}

impl Sealer {
    pub fn new(current: &EncryptionKey, old: &[EncryptionKey]) -> Self {
        Self { current: SealingKey::new(current), old: old.iter().map(SealingKey::new).collect() }
    }

    /// Id of the key new values are sealed with.
    pub fn current_key_id(&self) -> &str {
        &self.current.id
    }

    /// Encrypts `plaintext`, bound to `owner` (the id of the row that holds it).
    #[expect(clippy::expect_used, reason = "AES-GCM fails only on a plaintext over 64 GiB; secrets are bytes long")]
    pub fn seal(&self, owner: &str, plaintext: &[u8]) -> String {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let ciphertext = self
            .current
            .cipher
            .encrypt(&nonce, Payload { msg: plaintext, aad: owner.as_bytes() })
            .expect("AES-GCM encrypts any plaintext under 64 GiB");
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&ciphertext);
        format!("v1.{}.{}", self.current.id, STANDARD.encode(blob))
    }

    /// Id of the key a sealed value was sealed with, if it is well-formed.
    pub fn key_id_of(sealed: &str) -> Option<&str> {
        let mut parts = sealed.splitn(3, '.');
        (parts.next() == Some("v1")).then(|| parts.next()).flatten()
    }

    /// Decrypts a value sealed for `owner`.
    pub fn open(&self, owner: &str, sealed: &str) -> Result<Vec<u8>, SealError> {
        let mut parts = sealed.splitn(3, '.');
        let (Some("v1"), Some(kid), Some(b64)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(SealError::Malformed);
        };
        let blob = STANDARD.decode(b64).map_err(|_| SealError::Malformed)?;
        if blob.len() < 12 + 16 {
            return Err(SealError::Malformed);
        }
        let key = std::iter::once(&self.current)
            .chain(&self.old)
            .find(|k| k.id == kid)
            .ok_or_else(|| SealError::UnknownKey(kid.to_owned()))?;
        let (nonce, ciphertext) = blob.split_at(12);
        key.cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ciphertext, aad: owner.as_bytes() })
            .map_err(|_| SealError::Authentication)
    }
}

/// Mints a project API key: `ak_` + 192 random bits, base64url.
pub fn new_api_key() -> String {
    let mut bytes = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("ak_{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// The stored form of an API key or any other bearer secret that only needs comparing.
pub fn sha256(value: &str) -> Vec<u8> {
    Sha256::digest(value.as_bytes()).to_vec()
}

/// A harmless way to name a key in messages: `ak_**ESjq`.
pub fn mask_key(key: &str) -> String {
    let tail: String = key.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
    let prefix = key.split_once('_').map_or("", |(p, _)| p);
    if key.chars().count() <= 8 || prefix.is_empty() { "****".to_owned() } else { format!("{prefix}_**{tail}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> EncryptionKey {
        EncryptionKey([byte; 32])
    }

    #[test]
    fn seal_round_trip_and_binding() {
        let sealer = Sealer::new(&key(1), &[]);
        let sealed = sealer.seal("ac_1", b"s3cr3t");
        assert!(sealed.starts_with(&format!("v1.{}.", sealer.current_key_id())));
        assert!(!sealed.contains("s3cr3t"));
        assert_eq!(sealer.open("ac_1", &sealed).unwrap(), b"s3cr3t");
        assert!(matches!(sealer.open("ac_2", &sealed), Err(SealError::Authentication)));
        assert_ne!(sealer.seal("ac_1", b"s3cr3t"), sealed, "nonces must differ");
    }

    #[test]
    fn old_keys_open_and_unknown_keys_are_named() {
        let old = Sealer::new(&key(1), &[]);
        let sealed = old.seal("x", b"v");
        let rotated = Sealer::new(&key(2), &[key(1)]);
        assert_eq!(rotated.open("x", &sealed).unwrap(), b"v");
        let fresh = Sealer::new(&key(2), &[]);
        assert!(matches!(fresh.open("x", &sealed), Err(SealError::UnknownKey(_))));
        assert!(matches!(fresh.open("x", "v2.a.b"), Err(SealError::Malformed)));
        assert!(matches!(fresh.open("x", "v1.a.!!"), Err(SealError::Malformed)));
    }

    #[test]
    fn api_keys_and_masks() {
        let k = new_api_key();
        assert!(k.starts_with("ak_") && k.len() == 35);
        assert_ne!(k, new_api_key());
        assert_eq!(sha256(&k).len(), 32);
        assert_eq!(mask_key("ak_abcdefghESjq"), "ak_**ESjq");
        assert_eq!(mask_key("short"), "****");
    }
}
