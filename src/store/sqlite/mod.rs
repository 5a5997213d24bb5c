//! The embedded SQLite store: the same contract as [`super::postgres::PgStore`] on one local file,
//! so authlink runs without a database server. One file per resource; runtime-checked queries.
//!
//! How PostgreSQL's features map here:
//! - Types (see `migrations/sqlite/`): uuids are hyphenated text, JSON and text arrays are JSON
//!   text, timestamps are RFC 3339 text in UTC with exactly six fractional digits, so text order
//!   is time order and keyset comparisons work on the strings.
//! - `now()`: every operation takes one `Utc::now()` and binds it, so all rows an operation writes
//!   share one timestamp, as with PostgreSQL's transaction time.
//! - `= any($n)` over arrays: a JSON array bound as text, read with `json_each`.
//! - Row locks: SQLite locks the whole database for writing. Every read-then-write transaction
//!   starts with `BEGIN IMMEDIATE`, which takes the write lock before the first read, so
//!   concurrent ACL changes serialize (waiting up to the 5 s busy timeout). The refresh lock is a
//!   lease on the row instead (see `refresh.rs`).
//! - Unique violations: SQLite names columns, not the index; [`Constraint::from_sqlite`]
//!   (one table for both dialects) maps them to the same rules as PostgreSQL's names.
//!
//! [`Constraint::from_sqlite`]: crate::store::Constraint::from_sqlite

mod account_fields;
mod accounts;
mod audit;
mod auth_configs;
mod branding;
mod completion;
pub(crate) mod events;
mod idempotency;
mod keys;
mod lifecycle;
mod link_batch;
mod links;
mod maintenance;
mod refresh;
mod sessions;
mod webhooks;

use std::{path::Path, str::FromStr, time::Duration};

use chrono::{DateTime, Utc};
use serde::{Serialize, de::DeserializeOwned};
use sqlx::{
    Row, Sqlite, SqlitePool, Transaction,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous},
};
use uuid::Uuid;

use super::{
    StoreError, StoreResult,
    error::corrupt,
    rows::{Columns, native_columns},
};

/// Embedded migrations, applied by [`SqliteStore::connect`].
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// How long a statement waits for another connection's write lock before failing (and the
/// store reporting itself unavailable).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Page cache per connection, in KiB (see [`SqliteStore::open`]).
const CACHE_KIB: u32 = 1024;

/// How long a request waits for a pooled connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// Starts a transaction holding the database write lock from its first statement on.
const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";

/// The SQLite implementation of [`Store`](super::Store).
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: crate::store::counted::CountedPool<sqlx::Sqlite>,
    /// Link creation's group commit (see [`link_batch`]).
    links: link_batch::LinkBatcher,
}

impl SqliteStore {
    /// Opens (creating it and its directory if missing) the database file of a `sqlite://path`
    /// URL, connects a pool and applies pending migrations.
    pub async fn connect(url: &str, max_connections: u32) -> StoreResult<Self> {
        Self::open(SqliteConnectOptions::from_str(url)?, max_connections).await
    }

    /// [`Self::connect`] for a file path, which needs no URL escaping.
    pub async fn connect_file(path: &Path, max_connections: u32) -> StoreResult<Self> {
        Self::open(SqliteConnectOptions::new().filename(path), max_connections).await
    }

    async fn open(options: SqliteConnectOptions, max_connections: u32) -> StoreResult<Self> {
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a committed transaction survives a power loss (NORMAL may lose the last ones).
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            // Each pooled connection keeps its own page cache (SQLite's default: 2 MiB); with
            // the default 16 connections that alone could reach 32 MiB, the whole footprint
            // target of issue 18. Pages a connection does not keep are read from the OS page
            // cache (the file is hot), so a smaller cache costs a copy, not a disk read.
            .pragma("cache_size", format!("-{CACHE_KIB}"))
            .busy_timeout(BUSY_TIMEOUT);
        let file = options.get_filename();
        if file != Path::new(":memory:") {
            if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
                create_dir(dir)?;
            }
            create_file(file)?;
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        let links = link_batch::batcher(pool.clone());
        Ok(Self { pool: crate::store::counted::CountedPool::new(pool), links })
    }

    pub fn pool(&self) -> &SqlitePool {
        self.pool.inner()
    }

    /// A transaction that holds the write lock from the start (see the module docs).
    async fn begin_write(&self) -> StoreResult<Transaction<'static, Sqlite>> {
        Ok(self.pool.begin_with(BEGIN_WRITE).await?)
    }
}

/// Creates the database's directory, private to the owner (it holds sealed secrets and hashes).
fn create_dir(dir: &Path) -> StoreResult<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(StoreError::Directory)
}

/// Creates the database file, if missing, readable and writable by the owner only (0600), before
/// SQLite opens it: SQLite would create it under the process umask (typically 0644). SQLite
/// creates the `-wal` and `-shm` files with the database file's mode, so they are 0600 too. An
/// existing file keeps the mode its operator gave it.
fn create_file(file: &Path) -> StoreResult<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(file) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::File(e)),
    }
}

/// The stored form of a timestamp: RFC 3339, UTC, microseconds (truncated), fixed width.
fn ts(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

fn parse_ts(raw: &str) -> StoreResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(raw).map(|t| t.with_timezone(&Utc)).map_err(|_| corrupt(format!("timestamp `{raw}`")))
}

fn parse_uuid(raw: &str) -> StoreResult<Uuid> {
    Uuid::parse_str(raw).map_err(|_| corrupt(format!("uuid `{raw}`")))
}

fn to_json<T: Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(corrupt)
}

/// A JSON array of strings, the bind form of a list (read in SQL with `json_each`).
fn json_list<T: AsRef<str>>(items: &[T]) -> String {
    let items: Vec<&str> = items.iter().map(AsRef::as_ref).collect();
    serde_json::Value::from(items).to_string()
}

impl Columns for SqliteRow {
    native_columns!();

    fn time(&self, column: &str) -> StoreResult<DateTime<Utc>> {
        parse_ts(&self.try_get::<String, _>(column)?)
    }

    fn opt_time(&self, column: &str) -> StoreResult<Option<DateTime<Utc>>> {
        self.try_get::<Option<String>, _>(column)?.as_deref().map(parse_ts).transpose()
    }

    fn uuid(&self, column: &str) -> StoreResult<Uuid> {
        parse_uuid(&self.try_get::<String, _>(column)?)
    }

    fn opt_uuid(&self, column: &str) -> StoreResult<Option<Uuid>> {
        self.try_get::<Option<String>, _>(column)?.as_deref().map(parse_uuid).transpose()
    }

    fn opt_json<T: DeserializeOwned>(&self, column: &str) -> StoreResult<Option<T>> {
        let raw: Option<String> = self.try_get(column)?;
        raw.map(|r| serde_json::from_str(&r).map_err(|e| corrupt(format!("{column}: {e}")))).transpose()
    }

    fn strings(&self, column: &str) -> StoreResult<Vec<String>> {
        self.json(column)
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    #[test]
    fn timestamps_are_fixed_width_and_round_trip() {
        let at = DateTime::from_timestamp_micros(1_700_000_000_000_001).unwrap();
        assert_eq!(ts(at), "2023-11-14T22:13:20.000001Z");
        assert_eq!(parse_ts(&ts(at)).unwrap(), at);
        let whole = DateTime::from_timestamp_micros(1_700_000_000_000_000).unwrap();
        assert_eq!(ts(whole), "2023-11-14T22:13:20.000000Z");
        // Nanoseconds are truncated to the stored microseconds.
        let nanos = DateTime::from_timestamp(1_700_000_000, 999_999_999).unwrap();
        assert_eq!(ts(nanos), "2023-11-14T22:13:20.999999Z");
        assert!(ts(whole) < ts(at));
    }

    /// Issue 11 item 8(g): the data directory is 0700; the database file and its WAL and
    /// shared-memory files are 0600 whatever the process umask; an existing file keeps its mode.
    #[cfg(unix)]
    #[tokio::test]
    async fn the_directory_and_database_files_are_private_to_the_owner() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let root = std::env::temp_dir().join(format!("authlink-perms-{}-{nanos}", std::process::id()));
        let dir = root.join("data");
        let file = dir.join("authlink.db");
        let store = SqliteStore::connect_file(&file, 2).await.unwrap();
        // A write, so the WAL holds frames and both side files exist while the pool is open.
        sqlx::query("create table t (x text)").execute(store.pool()).await.unwrap();
        sqlx::query("insert into t values ('x')").execute(store.pool()).await.unwrap();
        assert_eq!(mode(&dir), 0o700, "data directory");
        for suffix in ["", "-wal", "-shm"] {
            let path = PathBuf::from(format!("{}{suffix}", file.display()));
            assert!(path.exists(), "{} missing", path.display());
            assert_eq!(mode(&path), 0o600, "{}", path.display());
        }
        store.pool().close().await;

        // A file the operator made (here 0640) is left as it is.
        let own = root.join("own.db");
        std::fs::write(&own, b"").unwrap();
        std::fs::set_permissions(&own, std::fs::Permissions::from_mode(0o640)).unwrap();
        let store = SqliteStore::connect_file(&own, 1).await.unwrap();
        assert_eq!(mode(&own), 0o640);
        store.pool().close().await;
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn lists_bind_as_json_arrays() {
        assert_eq!(json_list(&["a", "b\"c"]), r#"["a","b\"c"]"#);
        assert_eq!(json_list::<&str>(&[]), "[]");
    }

    /// Every pooled connection keeps the durability settings (WAL, `synchronous=FULL`) and the
    /// bounded page cache, whichever connection a request gets.
    #[tokio::test]
    async fn every_connection_is_durable_with_a_bounded_cache() {
        let dir = std::env::temp_dir().join(format!("authlink-pragmas-{}", Uuid::new_v4()));
        let store = SqliteStore::connect_file(&dir.join("db.sqlite"), 3).await.unwrap();
        let mut held = Vec::new();
        for _ in 0..3 {
            let mut conn = store.pool().acquire().await.unwrap();
            let journal: String = sqlx::query_scalar("pragma journal_mode").fetch_one(&mut *conn).await.unwrap();
            let synchronous: i64 = sqlx::query_scalar("pragma synchronous").fetch_one(&mut *conn).await.unwrap();
            let cache: i64 = sqlx::query_scalar("pragma cache_size").fetch_one(&mut *conn).await.unwrap();
            assert_eq!(journal, "wal");
            assert_eq!(synchronous, 2, "FULL");
            assert_eq!(cache, -i64::from(CACHE_KIB));
            held.push(conn);
        }
        drop(held);
        store.pool().close().await;
        std::fs::remove_dir_all(dir).unwrap();
    }
}
