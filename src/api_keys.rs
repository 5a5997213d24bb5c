//! API key → project resolution with a short-lived in-memory cache, and the "last used" stamp.
//!
//! Every API request starts with this lookup; caching positive answers saves a database round
//! trip per request on the hot path. Keys can be revoked (by this process's admin API, by the CLI
//! or by another process sharing the database), so a positive answer is trusted for at most
//! [`TTL`] = 4 s after it was read: a revocation anywhere stops the key in every process within
//! 5 s (the promise), with a second to spare for the read itself and the clock. A revocation through this process's API also drops the entry at once
//! ([`ApiKeyCache::forget`]). Expiry needs no database read: the cached expiry is compared with
//! the clock on every request. Negative answers are never cached, so a new key works at once.
//!
//! `last_used_at` is written off the request path, at most once per [`TOUCH_EVERY`] per key and
//! process (and the store skips the write when another process stamped the key moments ago).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use chrono::Utc;

use crate::store::{ApiKeyAuth, ApiKeyId, ProjectId, Store, StoreResult};

/// How long a positive answer is trusted: how late a revocation elsewhere takes effect here.
pub const TTL: Duration = Duration::from_secs(4);
/// How often one process stamps a key's `last_used_at`.
pub const TOUCH_EVERY: Duration = Duration::from_secs(60);
const MAX_ENTRIES: usize = 10_000;

/// What a key resolves to, and when that was read from the store.
type Entry = (ApiKeyAuth, Instant);

/// The outcome of checking a presented key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyCheck {
    /// A live key of this project.
    Valid(ProjectId, ApiKeyId),
    /// A key that is not revoked but whose `expires_at` has passed.
    Expired,
    /// Unknown or revoked.
    Unknown,
}

/// Cache of key hash → project, and when each key was last stamped as used.
#[derive(Default)]
pub struct ApiKeyCache {
    entries: Mutex<HashMap<Vec<u8>, Entry>>,
    touched: Mutex<HashMap<ApiKeyId, Instant>>,
}

impl ApiKeyCache {
    /// Checks a key hash, from the cache or the store, and stamps the key as used when due.
    pub async fn check(&self, store: &Arc<dyn Store>, key_hash: &[u8]) -> StoreResult<KeyCheck> {
        let auth = match self.cached(key_hash) {
            Some(auth) => auth,
            None => {
                // The entry's age counts from before the read, so a revocation that lands while
                // the read is in flight is still seen within TTL.
                let read_at = Instant::now();
                let Some(auth) = store.api_key_auth(key_hash).await? else {
                    return Ok(KeyCheck::Unknown);
                };
                self.insert(key_hash, auth, read_at);
                auth
            }
        };
        if auth.expires_at.is_some_and(|at| at <= Utc::now()) {
            return Ok(KeyCheck::Expired);
        }
        self.touch_if_due(store, auth.id);
        Ok(KeyCheck::Valid(auth.project, auth.id))
    }

    /// Drops a key from the cache: its revocation in this process takes effect at once.
    pub fn forget(&self, id: ApiKeyId) {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner).retain(|_, (auth, _)| auth.id != id);
    }

    fn cached(&self, key_hash: &[u8]) -> Option<ApiKeyAuth> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.get(key_hash).filter(|(_, at)| at.elapsed() < TTL).map(|(auth, _)| *auth)
    }

    fn insert(&self, key_hash: &[u8], auth: ApiKeyAuth, read_at: Instant) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, (_, at)| at.elapsed() < TTL);
        }
        if entries.len() < MAX_ENTRIES {
            entries.insert(key_hash.to_vec(), (auth, read_at));
        }
    }

    /// Stamps `last_used_at` in the background when this process has not done so for
    /// [`TOUCH_EVERY`]; a failed write is logged and retried a minute later.
    fn touch_if_due(&self, store: &Arc<dyn Store>, id: ApiKeyId) {
        {
            let mut touched = self.touched.lock().unwrap_or_else(PoisonError::into_inner);
            let now = Instant::now();
            if touched.get(&id).is_some_and(|at| now.duration_since(*at) < TOUCH_EVERY) {
                return;
            }
            if touched.len() >= MAX_ENTRIES {
                touched.retain(|_, at| now.duration_since(*at) < TOUCH_EVERY);
            }
            touched.insert(id, now);
        }
        let store = Arc::clone(store);
        tokio::spawn(async move {
            if let Err(e) = store.touch_api_key(id, Utc::now()).await {
                tracing::warn!(api_key_id = %id.0, error.cause = %e, "could not record the API key's last use");
            }
        });
    }
}
