//! API key → project resolution with a short-lived in-memory cache.
//!
//! Every API request starts with this lookup; caching positive answers for a few seconds saves a
//! database round trip per request on the hot path. Keys are only ever created, never changed,
//! so a cached answer can at worst outlive a (future) revocation by the TTL.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use crate::store::{ApiKeyId, ProjectId, Store, StoreResult};

const TTL: Duration = Duration::from_secs(30);
const MAX_ENTRIES: usize = 10_000;

/// What a key resolves to, and when that was read.
type Entry = ((ProjectId, ApiKeyId), Instant);

/// Cache of key hash → project.
#[derive(Default)]
pub struct ApiKeyCache {
    entries: Mutex<HashMap<Vec<u8>, Entry>>,
}

impl ApiKeyCache {
    /// The project of a key hash, from the cache or the store.
    pub async fn project_for(&self, store: &dyn Store, key_hash: &[u8]) -> StoreResult<Option<(ProjectId, ApiKeyId)>> {
        if let Some(project) = self.cached(key_hash) {
            return Ok(Some(project));
        }
        let found = store.project_for_key(key_hash).await?;
        if let Some(project) = found {
            let mut entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if entries.len() >= MAX_ENTRIES {
                entries.retain(|_, (_, at)| at.elapsed() < TTL);
            }
            if entries.len() < MAX_ENTRIES {
                entries.insert(key_hash.to_vec(), (project, Instant::now()));
            }
        }
        Ok(found)
    }

    fn cached(&self, key_hash: &[u8]) -> Option<(ProjectId, ApiKeyId)> {
        let entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        entries.get(key_hash).filter(|(_, at)| at.elapsed() < TTL).map(|(p, _)| *p)
    }
}
