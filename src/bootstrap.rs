//! First start without setup: the store chosen by `DATABASE_URL`, a generated encryption key for
//! the embedded SQLite database, and the `default` project's first API key.
//!
//! These are conveniences for a newcomer's laptop and for compose files; production with
//! PostgreSQL still requires `AUTHLINK_ENCRYPTION_KEY`, so a key can never be silently lost with a
//! container's disk.

use std::{io::Write, path::Path, sync::Arc};

use base64::{Engine, engine::general_purpose::STANDARD};
use rand::RngCore;

use crate::{
    config::{DatabaseArgs, DatabaseLocation, EncryptionKey, ServeArgs},
    crypto::{Sealer, new_api_key, sha256},
    store::{Store, StoreResult, postgres::PgStore, sqlite::SqliteStore},
};

/// The project a first start creates.
pub const DEFAULT_PROJECT: &str = "default";

/// Name of the generated key file inside `AUTHLINK_DATA_DIR`.
pub const KEY_FILE: &str = "encryption.key";

/// Opens (and migrates) the store `DATABASE_URL` names.
pub async fn open_store(db: &DatabaseArgs) -> Result<Arc<dyn Store>, String> {
    let location = db.location()?;
    let max = db.db_max_connections;
    let store: Arc<dyn Store> = match &location {
        DatabaseLocation::Postgres(url) => Arc::new(PgStore::connect(url, max).await.map_err(|e| database(&e))?),
        DatabaseLocation::SqliteUrl(url) => Arc::new(SqliteStore::connect(url, max).await.map_err(|e| database(&e))?),
        DatabaseLocation::Embedded(path) => {
            Arc::new(SqliteStore::connect_file(path, max).await.map_err(|e| database(&e))?)
        }
    };
    Ok(store)
}

fn database(err: &crate::store::StoreError) -> String {
    format!("database: {err}")
}

/// The sealer: `AUTHLINK_ENCRYPTION_KEY` when set; with SQLite, otherwise the key kept in
/// `{AUTHLINK_DATA_DIR}/encryption.key`, generated (0600) when `generate` and missing.
pub fn sealer(serve: &ServeArgs, db: &DatabaseArgs, generate: bool) -> Result<Sealer, String> {
    let old = serve.old_keys()?;
    if let Some(key) = serve.encryption_key()? {
        return Ok(Sealer::new(&key, &old));
    }
    if !db.location()?.is_sqlite() {
        return Err("AUTHLINK_ENCRYPTION_KEY is required with PostgreSQL: 32 bytes, base64 \
                    (try `openssl rand -base64 32`)"
            .to_owned());
    }
    let path = db.data_dir.join(KEY_FILE);
    let key = match read_key_file(&path)? {
        Some(key) => key,
        None if generate => generate_key_file(&path)?,
        None => {
            return Err(format!(
                "AUTHLINK_ENCRYPTION_KEY is unset and {} does not exist (start `authlink serve` once \
                 or set the variable)",
                path.display()
            ));
        }
    };
    tracing::warn!(
        key_file = %path.display(),
        "AUTHLINK_ENCRYPTION_KEY is unset: using the key kept in the data directory; \
         production must set AUTHLINK_ENCRYPTION_KEY"
    );
    Ok(Sealer::new(&key, &old))
}

fn read_key_file(path: &Path) -> Result<Option<EncryptionKey>, String> {
    let raw = match std::fs::read_to_string(path) {
        Ok(raw) => raw,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    warn_if_readable_by_others(path);
    raw.parse().map(Some).map_err(|e| format!("{} {e}", path.display()))
}

/// Writes a new random key, readable by the owner only. `create_new` makes two processes starting
/// together agree: the loser reads the winner's key.
fn generate_key_file(path: &Path) -> Result<EncryptionKey, String> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| format!("AUTHLINK_DATA_DIR: cannot create {}: {e}", dir.display()))?;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut file) => {
            file.write_all(format!("{}\n", STANDARD.encode(bytes)).as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            tracing::warn!(key_file = %path.display(), "generated an encryption key (mode 0600)");
            Ok(EncryptionKey(bytes))
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            read_key_file(path)?.ok_or_else(|| format!("{} vanished while reading it", path.display()))
        }
        Err(e) => Err(format!("cannot create {}: {e}", path.display())),
    }
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(key_file = %path.display(), "the key file is readable by other users; chmod 600 it");
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path) {}

/// What a first start did about API keys.
#[derive(Debug, PartialEq, Eq)]
pub enum Bootstrap {
    /// The database already had a key: nothing done.
    Existing,
    /// Created `default` with the key from `AUTHLINK_BOOTSTRAP_API_KEY`.
    Configured,
    /// Created `default` with this generated key, to be shown once.
    Generated(String),
}

/// Creates the `default` project and its first key when the database has no API key at all.
pub async fn ensure_api_key(store: &dyn Store, configured: Option<String>) -> StoreResult<Bootstrap> {
    let (key, generated) = match configured {
        Some(key) => (key, false),
        None => (new_api_key(), true),
    };
    let hint: String = key.chars().rev().take(4).collect::<String>().chars().rev().collect();
    if !store.bootstrap_api_key(DEFAULT_PROJECT, &sha256(&key), &hint).await? {
        return Ok(Bootstrap::Existing);
    }
    Ok(if generated { Bootstrap::Generated(key) } else { Bootstrap::Configured })
}
