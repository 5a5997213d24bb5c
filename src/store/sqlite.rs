//! The embedded SQLite store: the same contract as [`super::postgres::PgStore`] on one local file,
//! so authlink runs without a database server. Runtime-checked queries, like the PostgreSQL store.
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
//!   concurrent ACL changes serialize (waiting up to the 5 s busy timeout). A token refresh spans
//!   a provider call of up to 15 s, too long to hold that lock: it takes a per-account lease
//!   (`refresh_lease_owner`/`refresh_lease_until`) in one short statement instead, waits by polling
//!   while another holder has it, and releases it with the save.
//! - Unique violations: SQLite names columns, not the index, so [`constraint_name`] maps them
//!   back to PostgreSQL's constraint names (`connected_account_alias_key`, `<table>_pkey`, ...).

use std::{path::Path, str::FromStr, time::Duration};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Serialize, de::DeserializeOwned};
use sqlx::{
    Row, Sqlite, SqlitePool, Transaction,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous},
};
use uuid::Uuid;

use super::{
    AccessDecision, AccountFilter, AccountPatch, AccountRecord, ApiKeyId, AuditKind, AuditRecord, AuthConfigFilter,
    AuthConfigRecord, Cursor, LinkView, NewAuthConfig, NewLink, OAuthStateRecord, OrderBy, Page, ProjectId,
    RefreshLease, SealedColumn, SealedValue, SessionRecord, Store, StoreError, StoreResult, postgres::EXPIRED_REASON,
};
use crate::domain::{
    AccountStatus, AccountType, AuthConfigId, ConnectedAccountId, SessionId, ToolkitSlug, session::SessionConfig,
};

/// Embedded migrations, applied by [`SqliteStore::connect`].
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// How long a statement waits for another connection's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Starts a transaction holding the database write lock from its first statement on.
const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";

/// How long a refresh lease lasts if its holder never releases it (a crash): longer than the
/// provider call it covers (15 s at most).
const LEASE_TTL: Duration = Duration::from_secs(30);

/// How long a reader waits for another's refresh of the same account before giving up.
const LEASE_WAIT: Duration = Duration::from_secs(20);

/// The SQLite implementation of [`Store`].
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
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
            .busy_timeout(BUSY_TIMEOUT);
        if let Some(dir) = options.get_filename().parent().filter(|d| !d.as_os_str().is_empty()) {
            create_dir(dir)?;
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Self { pool })
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
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
    builder.create(dir).map_err(|e| StoreError::Database(sqlx::Error::Io(e)))
}

/// Maps unique violations to [`StoreError::Conflict`] carrying PostgreSQL's constraint name.
fn map_unique(err: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &err {
        if db.is_unique_violation() {
            return StoreError::Conflict(constraint_name(db.message()));
        }
    }
    StoreError::Database(err)
}

/// The name PostgreSQL gives the rule behind a SQLite unique-violation message such as
/// `UNIQUE constraint failed: connected_account.project_id, connected_account.user_id, ...`.
fn constraint_name(message: &str) -> String {
    let Some(rest) = message.strip_prefix("UNIQUE constraint failed: ") else { return "unknown".to_owned() };
    // Indexes on expressions are reported by name.
    if let Some(name) = rest.strip_prefix("index '").and_then(|r| r.strip_suffix('\'')) {
        return name.to_owned();
    }
    let columns: Vec<(&str, &str)> = rest.split(", ").filter_map(|c| c.split_once('.')).collect();
    let Some(&(table, _)) = columns.first() else { return "unknown".to_owned() };
    let names: Vec<&str> = columns.iter().map(|(_, column)| *column).collect();
    match (table, names.as_slice()) {
        ("connected_account", ["project_id", "user_id", "toolkit", "alias"]) => {
            "connected_account_alias_key".to_owned()
        }
        ("link", ["token_hash"]) | ("oauth_state", ["state_hash"]) => format!("{table}_pkey"),
        (_, ["id"]) => format!("{table}_pkey"),
        _ => format!("{table}_{}_key", names.join("_")),
    }
}

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

/// The stored form of a timestamp: RFC 3339, UTC, microseconds (truncated), fixed width.
fn ts(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

fn parse_ts(raw: &str) -> StoreResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(raw).map(|t| t.with_timezone(&Utc)).map_err(|_| corrupt(format!("timestamp `{raw}`")))
}

fn get_ts(row: &SqliteRow, column: &str) -> StoreResult<DateTime<Utc>> {
    parse_ts(&row.try_get::<String, _>(column)?)
}

fn get_opt_ts(row: &SqliteRow, column: &str) -> StoreResult<Option<DateTime<Utc>>> {
    row.try_get::<Option<String>, _>(column)?.as_deref().map(parse_ts).transpose()
}

fn get_uuid(row: &SqliteRow, column: &str) -> StoreResult<Uuid> {
    let raw: String = row.try_get(column)?;
    Uuid::parse_str(&raw).map_err(|_| corrupt(format!("uuid `{raw}`")))
}

fn to_json<T: Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(corrupt)
}

fn get_json<T: DeserializeOwned>(row: &SqliteRow, column: &str) -> StoreResult<T> {
    let raw: String = row.try_get(column)?;
    serde_json::from_str(&raw).map_err(|e| corrupt(format!("{column}: {e}")))
}

fn get_opt_json<T: DeserializeOwned>(row: &SqliteRow, column: &str) -> StoreResult<Option<T>> {
    let raw: Option<String> = row.try_get(column)?;
    raw.map(|r| serde_json::from_str(&r).map_err(|e| corrupt(format!("{column}: {e}")))).transpose()
}

/// A JSON array of strings, the bind form of a list (read in SQL with `json_each`).
fn json_list<T: AsRef<str>>(items: &[T]) -> String {
    let items: Vec<&str> = items.iter().map(AsRef::as_ref).collect();
    serde_json::to_string(&items).expect("a list of strings serializes")
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 || !text.is_ascii() {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok()).collect()
}

/// The effective status of account `a`, with the current time bound at `now` (e.g. `$3`).
fn effective_status(now: &str) -> String {
    format!("case when a.status = 'INITIATED' and a.initiation_expires_at < {now} then 'EXPIRED' else a.status end")
}

/// The account select, with the current time bound at `now`.
fn account_select(now: &str) -> String {
    let status = effective_status(now);
    format!(
        "select a.id, a.user_id, a.toolkit, a.auth_config_id, c.auth_scheme, c.is_composio_managed,
                not c.is_enabled as auth_config_is_disabled, a.alias, a.account_type, a.acl,
                {status} as status,
                case when ({status}) = 'EXPIRED' and a.status = 'INITIATED'
                     then '{EXPIRED_REASON}' else a.status_reason end as status_reason,
                a.is_disabled, a.tokens_sealed, a.token_expires_at, a.created_at, a.updated_at,
                a.deleted_at is not null as deleted
         from connected_account a join auth_config c on c.id = a.auth_config_id"
    )
}

fn account_from_row(row: &SqliteRow) -> StoreResult<AccountRecord> {
    let id: String = row.try_get("id")?;
    let toolkit: String = row.try_get("toolkit")?;
    let auth_config_id: String = row.try_get("auth_config_id")?;
    let account_type: String = row.try_get("account_type")?;
    let status: String = row.try_get("status")?;
    Ok(AccountRecord {
        id: ConnectedAccountId::parse(&id).map_err(corrupt)?,
        user_id: row.try_get("user_id")?,
        toolkit: ToolkitSlug::parse(&toolkit).map_err(corrupt)?,
        auth_config_id: AuthConfigId::parse(&auth_config_id).map_err(corrupt)?,
        auth_scheme: row.try_get("auth_scheme")?,
        auth_config_is_managed: row.try_get("is_composio_managed")?,
        auth_config_is_disabled: row.try_get("auth_config_is_disabled")?,
        alias: row.try_get("alias")?,
        account_type: AccountType::parse(&account_type).ok_or_else(|| corrupt(&account_type))?,
        acl: get_opt_json(row, "acl")?,
        status: AccountStatus::parse(&status).ok_or_else(|| corrupt(&status))?,
        status_reason: row.try_get("status_reason")?,
        is_disabled: row.try_get("is_disabled")?,
        tokens_sealed: row.try_get("tokens_sealed")?,
        token_expires_at: get_opt_ts(row, "token_expires_at")?,
        created_at: get_ts(row, "created_at")?,
        updated_at: get_ts(row, "updated_at")?,
    })
}

const AUTH_CONFIG_COLUMNS: &str = "c.id, c.toolkit, c.name, c.auth_scheme, c.is_composio_managed, c.client_id,
        c.client_secret_sealed, c.scopes, c.authorization_url, c.token_url, c.is_enabled, c.client_auth, c.issuer,
        c.created_at, c.updated_at";

/// With `no_of_connections`, for the auth config endpoints.
fn auth_config_select() -> String {
    format!(
        "select {AUTH_CONFIG_COLUMNS},
            (select count(*) from connected_account a where a.auth_config_id = c.id and a.deleted_at is null)
                as no_of_connections
         from auth_config c"
    )
}

/// Without the count, for hot paths (link creation, the link page).
fn auth_config_light() -> String {
    format!("select {AUTH_CONFIG_COLUMNS} from auth_config c")
}

fn auth_config_from_row(row: &SqliteRow) -> StoreResult<AuthConfigRecord> {
    let id: String = row.try_get("id")?;
    let toolkit: String = row.try_get("toolkit")?;
    Ok(AuthConfigRecord {
        id: AuthConfigId::parse(&id).map_err(corrupt)?,
        toolkit: ToolkitSlug::parse(&toolkit).map_err(corrupt)?,
        name: row.try_get("name")?,
        auth_scheme: row.try_get("auth_scheme")?,
        is_composio_managed: row.try_get("is_composio_managed")?,
        client_id: row.try_get("client_id")?,
        client_secret_sealed: row.try_get("client_secret_sealed")?,
        scopes: get_json(row, "scopes")?,
        authorization_url: row.try_get("authorization_url")?,
        token_url: row.try_get("token_url")?,
        is_enabled: row.try_get("is_enabled")?,
        client_auth: row.try_get("client_auth")?,
        issuer: row.try_get("issuer")?,
        created_at: get_ts(row, "created_at")?,
        updated_at: get_ts(row, "updated_at")?,
        // Absent from the light select (hot paths do not need it).
        no_of_connections: row.try_get("no_of_connections").unwrap_or(0),
    })
}

const SESSION_SELECT: &str =
    "select id, user_id, config, config_version, created_at, updated_at from tool_router_session";

fn session_from_row(row: &SqliteRow) -> StoreResult<SessionRecord> {
    let id: String = row.try_get("id")?;
    Ok(SessionRecord {
        id: SessionId::parse(&id).map_err(corrupt)?,
        user_id: row.try_get("user_id")?,
        config: get_json(row, "config")?,
        config_version: row.try_get("config_version")?,
        created_at: get_ts(row, "created_at")?,
        updated_at: get_ts(row, "updated_at")?,
    })
}

fn audit_from_row(row: &SqliteRow) -> StoreResult<AuditRecord> {
    let kind: String = row.try_get("kind")?;
    let api_key_id: Option<String> = row.try_get("api_key_id")?;
    Ok(AuditRecord {
        id: row.try_get("id")?,
        kind: if kind == "acl_change" { AuditKind::AclChange } else { AuditKind::AccessDecision },
        api_key_id: api_key_id.map(|k| Uuid::parse_str(&k).map_err(|_| corrupt(format!("uuid `{k}`")))).transpose()?,
        old_acl: get_opt_json(row, "old_acl")?,
        new_acl: get_opt_json(row, "new_acl")?,
        user_id: row.try_get("user_id")?,
        session_id: row.try_get("session_id")?,
        allowed: row.try_get("allowed")?,
        rule: row.try_get("rule")?,
        created_at: get_ts(row, "created_at")?,
    })
}

/// Builds the page envelope from `limit + 1` fetched rows (as the PostgreSQL store does).
fn page<T>(
    mut items: Vec<T>,
    limit: i64,
    total_items: i64,
    after: Option<&Cursor>,
    key: impl Fn(&T) -> (DateTime<Utc>, String),
) -> Page<T> {
    let current_page = after.map_or(1, |c| c.page + 1);
    let has_more = items.len() as i64 > limit;
    items.truncate(limit.max(0) as usize);
    let next_cursor = if has_more {
        items.last().map(|last| {
            let (at, id) = key(last);
            Cursor { page: current_page, at, id }.encode()
        })
    } else {
        None
    };
    Page { items, total_items, current_page, next_cursor }
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("select 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn create_api_key(&self, project_name: &str, key_hash: &[u8], hint: &str) -> StoreResult<ProjectId> {
        let mut tx = self.begin_write().await?;
        let project = insert_project_key(&mut tx, project_name, key_hash, hint).await?;
        tx.commit().await?;
        Ok(project)
    }

    async fn bootstrap_api_key(&self, project_name: &str, key_hash: &[u8], hint: &str) -> StoreResult<bool> {
        // BEGIN IMMEDIATE: the write lock is held from the check to the commit.
        let mut tx = self.begin_write().await?;
        let any: bool = sqlx::query_scalar("select exists (select 1 from api_key)").fetch_one(&mut *tx).await?;
        if any {
            return Ok(false);
        }
        insert_project_key(&mut tx, project_name, key_hash, hint).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn project_for_key(&self, key_hash: &[u8]) -> StoreResult<Option<(ProjectId, ApiKeyId)>> {
        let Some(row) = sqlx::query("select project_id, id from api_key where key_hash = $1 and revoked_at is null")
            .bind(key_hash)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        Ok(Some((ProjectId(get_uuid(&row, "project_id")?), ApiKeyId(get_uuid(&row, "id")?))))
    }

    async fn insert_auth_config(&self, project: ProjectId, new: &NewAuthConfig) -> StoreResult<AuthConfigRecord> {
        let now = ts(Utc::now());
        sqlx::query(
            "insert into auth_config (id, project_id, toolkit, name, auth_scheme, client_id, client_secret_sealed,
                                      scopes, authorization_url, token_url, client_auth, issuer, created_at,
                                      updated_at)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)",
        )
        .bind(new.id.as_str())
        .bind(project.0.to_string())
        .bind(new.toolkit.as_str())
        .bind(&new.name)
        .bind(&new.auth_scheme)
        .bind(&new.client_id)
        .bind(&new.client_secret_sealed)
        .bind(json_list(&new.scopes))
        .bind(&new.authorization_url)
        .bind(&new.token_url)
        .bind(&new.client_auth)
        .bind(&new.issuer)
        .bind(&now)
        .execute(&self.pool)
        .await
        .map_err(map_unique)?;
        self.auth_config(project, &new.id).await?.ok_or_else(|| corrupt("auth config vanished after insert"))
    }

    async fn auth_config(&self, project: ProjectId, id: &AuthConfigId) -> StoreResult<Option<AuthConfigRecord>> {
        sqlx::query(&format!("{} where c.project_id = $1 and c.id = $2", auth_config_select()))
            .bind(project.0.to_string())
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(auth_config_from_row)
            .transpose()
    }

    async fn list_auth_configs(&self, project: ProjectId, f: &AuthConfigFilter) -> StoreResult<Page<AuthConfigRecord>> {
        // LIKE is case-insensitive for ASCII in SQLite, standing in for PostgreSQL's ILIKE.
        let filters = "c.project_id = $1
            and ($2 is null or c.toolkit = $2)
            and ($3 is null or c.is_composio_managed = $3)
            and ($4 or c.is_enabled)
            and ($5 is null or c.name like '%' || $5 || '%' or c.toolkit like '%' || $5 || '%')";
        let total: i64 = sqlx::query_scalar(&format!("select count(*) from auth_config c where {filters}"))
            .bind(project.0.to_string())
            .bind(f.toolkit.as_ref().map(ToolkitSlug::as_str))
            .bind(f.is_composio_managed)
            .bind(f.show_disabled)
            .bind(f.search.as_deref())
            .fetch_one(&self.pool)
            .await?;
        let rows = sqlx::query(&format!(
            "{} where {filters}
               and ($6 is null or (c.created_at, c.id) < ($6, $7))
             order by c.created_at desc, c.id desc limit $8",
            auth_config_select()
        ))
        .bind(project.0.to_string())
        .bind(f.toolkit.as_ref().map(ToolkitSlug::as_str))
        .bind(f.is_composio_managed)
        .bind(f.show_disabled)
        .bind(f.search.as_deref())
        .bind(f.after.as_ref().map(|c| ts(c.at)))
        .bind(f.after.as_ref().map(|c| c.id.as_str()))
        .bind(f.limit + 1)
        .fetch_all(&self.pool)
        .await?;
        let items = rows.iter().map(auth_config_from_row).collect::<StoreResult<Vec<_>>>()?;
        Ok(page(items, f.limit, total, f.after.as_ref(), |c| (c.created_at, c.id.to_string())))
    }

    async fn newest_enabled_auth_config(
        &self,
        project: ProjectId,
        toolkit: &ToolkitSlug,
    ) -> StoreResult<Option<AuthConfigRecord>> {
        sqlx::query(&format!(
            "{} where c.project_id = $1 and c.toolkit = $2 and c.is_enabled
             order by c.created_at desc, c.id desc limit 1",
            auth_config_light()
        ))
        .bind(project.0.to_string())
        .bind(toolkit.as_str())
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(auth_config_from_row)
        .transpose()
    }

    async fn link_context(
        &self,
        project: ProjectId,
        id: &SessionId,
        toolkit: &ToolkitSlug,
    ) -> StoreResult<Option<(SessionRecord, Option<AuthConfigRecord>)>> {
        // Two reads in one read transaction (one snapshot), with the PostgreSQL store's rule: the
        // session's override for the toolkit if it is an enabled config of that toolkit, else
        // (no override) the project's newest enabled one.
        let mut tx = self.pool.begin().await?;
        let Some(session) =
            sqlx::query(&format!("{SESSION_SELECT} where project_id = $1 and id = $2 and deleted_at is null"))
                .bind(project.0.to_string())
                .bind(id.as_str())
                .fetch_optional(&mut *tx)
                .await?
                .as_ref()
                .map(session_from_row)
                .transpose()?
        else {
            return Ok(None);
        };
        let overridden = session.config.auth_configs.get(toolkit).map(AuthConfigId::as_str);
        let auth_config = sqlx::query(&format!(
            "{} where c.project_id = $1 and c.toolkit = $2 and c.is_enabled and ($3 is null or c.id = $3)
             order by c.created_at desc, c.id desc limit 1",
            auth_config_light()
        ))
        .bind(project.0.to_string())
        .bind(toolkit.as_str())
        .bind(overridden)
        .fetch_optional(&mut *tx)
        .await?
        .as_ref()
        .map(auth_config_from_row)
        .transpose()?;
        tx.commit().await?;
        Ok(Some((session, auth_config)))
    }

    async fn toolkits_with_auth_configs(
        &self,
        project: ProjectId,
        toolkits: &[ToolkitSlug],
    ) -> StoreResult<Vec<ToolkitSlug>> {
        let found: Vec<String> = sqlx::query_scalar(
            "select distinct toolkit from auth_config
             where project_id = $1 and toolkit in (select value from json_each($2))",
        )
        .bind(project.0.to_string())
        .bind(json_list(toolkits))
        .fetch_all(&self.pool)
        .await?;
        found.iter().map(|s| ToolkitSlug::parse(s).map_err(corrupt)).collect()
    }

    async fn insert_session(&self, project: ProjectId, s: &SessionRecord) -> StoreResult<()> {
        sqlx::query(
            "insert into tool_router_session (id, project_id, user_id, config, config_version, created_at, updated_at)
             values ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(s.id.as_str())
        .bind(project.0.to_string())
        .bind(&s.user_id)
        .bind(to_json(&s.config)?)
        .bind(s.config_version)
        .bind(ts(s.created_at))
        .bind(ts(s.updated_at))
        .execute(&self.pool)
        .await
        .map_err(map_unique)?;
        Ok(())
    }

    async fn session(&self, project: ProjectId, id: &SessionId) -> StoreResult<Option<SessionRecord>> {
        sqlx::query(&format!("{SESSION_SELECT} where project_id = $1 and id = $2 and deleted_at is null"))
            .bind(project.0.to_string())
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(session_from_row)
            .transpose()
    }

    async fn update_session(
        &self,
        project: ProjectId,
        id: &SessionId,
        config: &SessionConfig,
        expected_version: i64,
    ) -> StoreResult<Option<SessionRecord>> {
        // fetch_all: a RETURNING statement runs to completion (and its implicit transaction ends).
        let rows = sqlx::query(
            "update tool_router_session
             set config = $3, config_version = config_version + 1, updated_at = $5
             where project_id = $1 and id = $2 and deleted_at is null and config_version = $4
             returning id, user_id, config, config_version, created_at, updated_at",
        )
        .bind(project.0.to_string())
        .bind(id.as_str())
        .bind(to_json(config)?)
        .bind(expected_version)
        .bind(ts(Utc::now()))
        .fetch_all(&self.pool)
        .await?;
        rows.first().map(session_from_row).transpose()
    }

    async fn delete_session(&self, project: ProjectId, id: &SessionId) -> StoreResult<bool> {
        let done = sqlx::query(
            "update tool_router_session set deleted_at = $3
             where project_id = $1 and id = $2 and deleted_at is null",
        )
        .bind(project.0.to_string())
        .bind(id.as_str())
        .bind(ts(Utc::now()))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn create_link(&self, project: ProjectId, l: &NewLink) -> StoreResult<AccountRecord> {
        // One transaction, so the account and its link are written together or not at all.
        let now = ts(Utc::now());
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "insert into connected_account (id, project_id, user_id, toolkit, auth_config_id, alias, account_type,
                                            acl, status, initiation_expires_at, created_at, updated_at)
             values ($1, $2, $3, $4, $5, $6, $7, $8, 'INITIATED', $9, $10, $10)",
        )
        .bind(l.account_id.as_str())
        .bind(project.0.to_string())
        .bind(&l.user_id)
        .bind(l.toolkit.as_str())
        .bind(l.auth_config_id.as_str())
        .bind(&l.alias)
        .bind(l.account_type.as_str())
        .bind(l.acl.as_ref().map(to_json).transpose()?)
        .bind(ts(l.expires_at))
        .bind(&now)
        .execute(&mut *tx)
        .await
        .map_err(map_unique)?;
        sqlx::query(
            "insert into link (token_hash, project_id, connected_account_id, session_id, callback_url, expires_at,
                               created_at)
             values ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&l.token_hash)
        .bind(project.0.to_string())
        .bind(l.account_id.as_str())
        .bind(l.session_id.as_ref().map(SessionId::as_str))
        .bind(&l.callback_url)
        .bind(ts(l.expires_at))
        .bind(&now)
        .execute(&mut *tx)
        .await
        .map_err(map_unique)?;
        let row = sqlx::query(&format!("{} where a.project_id = $1 and a.id = $2", account_select("$3")))
            .bind(project.0.to_string())
            .bind(l.account_id.as_str())
            .bind(&now)
            .fetch_one(&mut *tx)
            .await?;
        let account = account_from_row(&row)?;
        tx.commit().await?;
        Ok(account)
    }

    async fn account(&self, project: ProjectId, id: &ConnectedAccountId) -> StoreResult<Option<AccountRecord>> {
        sqlx::query(&format!("{} where a.project_id = $1 and a.id = $2 and a.deleted_at is null", account_select("$3")))
            .bind(project.0.to_string())
            .bind(id.as_str())
            .bind(ts(Utc::now()))
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(account_from_row)
            .transpose()
    }

    async fn accounts_by_ids(&self, project: ProjectId, ids: &[ConnectedAccountId]) -> StoreResult<Vec<AccountRecord>> {
        let rows = sqlx::query(&format!(
            "{} where a.project_id = $1 and a.id in (select value from json_each($2)) and a.deleted_at is null",
            account_select("$3")
        ))
        .bind(project.0.to_string())
        .bind(json_list(ids))
        .bind(ts(Utc::now()))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(account_from_row).collect()
    }

    async fn list_accounts(&self, project: ProjectId, f: &AccountFilter) -> StoreResult<Page<AccountRecord>> {
        // `$8` is the current time in both statements.
        let status = effective_status("$8");
        let filters = format!(
            "a.project_id = $1 and a.deleted_at is null
             and (json_array_length($2) = 0 or a.user_id in (select value from json_each($2)))
             and (json_array_length($3) = 0 or a.toolkit in (select value from json_each($3)))
             and (json_array_length($4) = 0 or ({status}) in (select value from json_each($4)))
             and (json_array_length($5) = 0 or a.auth_config_id in (select value from json_each($5)))
             and (json_array_length($6) = 0 or a.id in (select value from json_each($6)))
             and ($7 is null or a.account_type = $7)"
        );
        let statuses: Vec<&str> = f.statuses.iter().map(|s| s.as_str()).collect();
        let account_type = f.account_type.map(AccountType::as_str);
        let now = ts(Utc::now());
        let total: i64 = sqlx::query_scalar(&format!("select count(*) from connected_account a where {filters}"))
            .bind(project.0.to_string())
            .bind(json_list(&f.user_ids))
            .bind(json_list(&f.toolkits))
            .bind(json_list(&statuses))
            .bind(json_list(&f.auth_config_ids))
            .bind(json_list(&f.ids))
            .bind(account_type)
            .bind(&now)
            .fetch_one(&self.pool)
            .await?;
        let column = match f.order_by {
            OrderBy::CreatedAt => "a.created_at",
            OrderBy::UpdatedAt => "a.updated_at",
        };
        let (cmp, dir) = if f.descending { ("<", "desc") } else { (">", "asc") };
        let rows = sqlx::query(&format!(
            "{} where {filters}
               and ($9 is null or ({column}, a.id) {cmp} ($9, $10))
             order by {column} {dir}, a.id {dir} limit $11",
            account_select("$8")
        ))
        .bind(project.0.to_string())
        .bind(json_list(&f.user_ids))
        .bind(json_list(&f.toolkits))
        .bind(json_list(&statuses))
        .bind(json_list(&f.auth_config_ids))
        .bind(json_list(&f.ids))
        .bind(account_type)
        .bind(&now)
        .bind(f.after.as_ref().map(|c| ts(c.at)))
        .bind(f.after.as_ref().map(|c| c.id.as_str()))
        .bind(f.limit + 1)
        .fetch_all(&self.pool)
        .await?;
        let items = rows.iter().map(account_from_row).collect::<StoreResult<Vec<_>>>()?;
        let order_by = f.order_by;
        Ok(page(items, f.limit, total, f.after.as_ref(), move |a| {
            let at = match order_by {
                OrderBy::CreatedAt => a.created_at,
                OrderBy::UpdatedAt => a.updated_at,
            };
            (at, a.id.to_string())
        }))
    }

    async fn update_account(
        &self,
        project: ProjectId,
        id: &ConnectedAccountId,
        patch: &AccountPatch,
        actor: Option<ApiKeyId>,
    ) -> StoreResult<Option<AccountRecord>> {
        let now = ts(Utc::now());
        // The write lock is held from BEGIN, so the old ACL read here is the one this change
        // replaces: concurrent changes serialize and the audit trail chains.
        let mut tx = self.begin_write().await?;
        let old: Option<(Option<String>,)> = sqlx::query_as(
            "select acl from connected_account where project_id = $1 and id = $2 and deleted_at is null",
        )
        .bind(project.0.to_string())
        .bind(id.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let Some((old_acl,)) = old else {
            return Ok(None);
        };
        sqlx::query(
            "update connected_account
             set alias = case when $3 then $4 else alias end,
                 acl = coalesce($5, acl),
                 updated_at = $6
             where project_id = $1 and id = $2",
        )
        .bind(project.0.to_string())
        .bind(id.as_str())
        .bind(patch.alias.is_some())
        .bind(patch.alias.clone().flatten())
        .bind(patch.acl.as_ref().map(to_json).transpose()?)
        .bind(&now)
        .execute(&mut *tx)
        .await
        .map_err(map_unique)?;
        if let Some(new_acl) = &patch.acl {
            sqlx::query(
                "insert into acl_audit (project_id, connected_account_id, kind, api_key_id, old_acl, new_acl,
                                        created_at)
                 values ($1, $2, 'acl_change', $3, $4, $5, $6)",
            )
            .bind(project.0.to_string())
            .bind(id.as_str())
            .bind(actor.map(|a| a.0.to_string()))
            .bind(old_acl)
            .bind(to_json(new_acl)?)
            .bind(&now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.account(project, id).await
    }

    async fn active_private_accounts(
        &self,
        project: ProjectId,
        user_id: &str,
        toolkits: &[ToolkitSlug],
    ) -> StoreResult<Vec<AccountRecord>> {
        // PostgreSQL's `distinct on (toolkit)`: rows come newest first within each toolkit, and
        // the first of each toolkit is kept.
        let rows = sqlx::query(&format!(
            "{} where a.project_id = $1 and a.deleted_at is null
                 and a.user_id = $2 and a.account_type = 'PRIVATE' and a.toolkit in (select value from json_each($3))
                 and not a.is_disabled and ({}) = 'ACTIVE'
             order by a.toolkit, a.created_at desc, a.id desc",
            account_select("$4"),
            effective_status("$4")
        ))
        .bind(project.0.to_string())
        .bind(user_id)
        .bind(json_list(toolkits))
        .bind(ts(Utc::now()))
        .fetch_all(&self.pool)
        .await?;
        let mut accounts: Vec<AccountRecord> = Vec::new();
        for row in &rows {
            let account = account_from_row(row)?;
            if accounts.last().is_none_or(|last| last.toolkit != account.toolkit) {
                accounts.push(account);
            }
        }
        Ok(accounts)
    }

    async fn record_access_decisions(&self, project: ProjectId, decisions: &[AccessDecision]) -> StoreResult<()> {
        if decisions.is_empty() {
            return Ok(());
        }
        let now = ts(Utc::now());
        let mut tx = self.begin_write().await?;
        for d in decisions {
            let rule =
                serde_json::to_value(d.rule).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
            sqlx::query(
                "insert into acl_audit (project_id, connected_account_id, kind, user_id, session_id, allowed, rule,
                                        created_at)
                 values ($1, $2, 'access_decision', $3, $4, $5, $6, $7)",
            )
            .bind(project.0.to_string())
            .bind(d.account_id.as_str())
            .bind(&d.user_id)
            .bind(d.session_id.as_str())
            .bind(d.allowed)
            .bind(rule)
            .bind(&now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn audit_log(
        &self,
        project: ProjectId,
        id: &ConnectedAccountId,
        limit: i64,
        after: Option<&Cursor>,
    ) -> StoreResult<Page<AuditRecord>> {
        let filters = "project_id = $1 and connected_account_id = $2";
        let total: i64 = sqlx::query_scalar(&format!("select count(*) from acl_audit where {filters}"))
            .bind(project.0.to_string())
            .bind(id.as_str())
            .fetch_one(&self.pool)
            .await?;
        let before: Option<i64> = after.map(|c| c.id.parse().map_err(corrupt)).transpose()?;
        let rows = sqlx::query(&format!(
            "select id, kind, api_key_id, old_acl, new_acl, user_id, session_id, allowed, rule, created_at
             from acl_audit where {filters} and ($3 is null or id < $3)
             order by id desc limit $4"
        ))
        .bind(project.0.to_string())
        .bind(id.as_str())
        .bind(before)
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await?;
        let items = rows.iter().map(audit_from_row).collect::<StoreResult<Vec<_>>>()?;
        Ok(page(items, limit, total, after, |a| (a.created_at, a.id.to_string())))
    }

    async fn delete_account(&self, project: ProjectId, id: &ConnectedAccountId) -> StoreResult<bool> {
        let done = sqlx::query(
            "update connected_account set deleted_at = $3, updated_at = $3
             where project_id = $1 and id = $2 and deleted_at is null",
        )
        .bind(project.0.to_string())
        .bind(id.as_str())
        .bind(ts(Utc::now()))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn link_by_token(&self, token_hash: &[u8]) -> StoreResult<Option<LinkView>> {
        let Some(row) = sqlx::query(
            "select project_id, connected_account_id, callback_url, expires_at, consumed_at from link where token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let project = ProjectId(get_uuid(&row, "project_id")?);
        let account_id: String = row.try_get("connected_account_id")?;
        let account_row = sqlx::query(&format!("{} where a.project_id = $1 and a.id = $2", account_select("$3")))
            .bind(project.0.to_string())
            .bind(&account_id)
            .bind(ts(Utc::now()))
            .fetch_one(&self.pool)
            .await?;
        let account = account_from_row(&account_row)?;
        let account_deleted: bool = account_row.try_get("deleted")?;
        let auth_config = sqlx::query(&format!("{} where c.project_id = $1 and c.id = $2", auth_config_light()))
            .bind(project.0.to_string())
            .bind(account.auth_config_id.as_str())
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(auth_config_from_row)
            .transpose()?
            .ok_or_else(|| corrupt("link's auth config is missing"))?;
        Ok(Some(LinkView {
            project,
            token_hash: token_hash.to_vec(),
            account,
            auth_config,
            callback_url: row.try_get("callback_url")?,
            expires_at: get_ts(&row, "expires_at")?,
            consumed_at: get_opt_ts(&row, "consumed_at")?,
            account_deleted,
        }))
    }

    async fn insert_oauth_state(&self, st: &OAuthStateRecord) -> StoreResult<()> {
        sqlx::query(
            "insert into oauth_state (state_hash, project_id, link_token_hash, connected_account_id, binding_hash,
                                      verifier_sealed, expires_at, created_at)
             values ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&st.state_hash)
        .bind(st.project.0.to_string())
        .bind(&st.link_token_hash)
        .bind(st.account_id.as_str())
        .bind(&st.binding_hash)
        .bind(&st.verifier_sealed)
        .bind(ts(st.expires_at))
        .bind(ts(Utc::now()))
        .execute(&self.pool)
        .await
        .map_err(map_unique)?;
        Ok(())
    }

    async fn oauth_state(&self, state_hash: &[u8]) -> StoreResult<Option<OAuthStateRecord>> {
        let Some(row) = sqlx::query(
            "select state_hash, project_id, link_token_hash, connected_account_id, binding_hash, verifier_sealed,
                    expires_at, used_at
             from oauth_state where state_hash = $1",
        )
        .bind(state_hash)
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let account: String = row.try_get("connected_account_id")?;
        Ok(Some(OAuthStateRecord {
            state_hash: row.try_get("state_hash")?,
            project: ProjectId(get_uuid(&row, "project_id")?),
            link_token_hash: row.try_get("link_token_hash")?,
            account_id: ConnectedAccountId::parse(&account).map_err(corrupt)?,
            binding_hash: row.try_get("binding_hash")?,
            verifier_sealed: row.try_get("verifier_sealed")?,
            expires_at: get_ts(&row, "expires_at")?,
            used_at: get_opt_ts(&row, "used_at")?,
        }))
    }

    async fn consume_oauth_state(&self, state_hash: &[u8]) -> StoreResult<bool> {
        let done = sqlx::query("update oauth_state set used_at = $2 where state_hash = $1 and used_at is null")
            .bind(state_hash)
            .bind(ts(Utc::now()))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn complete_link(
        &self,
        project: ProjectId,
        account: &ConnectedAccountId,
        link_token_hash: &[u8],
        tokens_sealed: &str,
        token_expires_at: Option<DateTime<Utc>>,
    ) -> StoreResult<bool> {
        let now = ts(Utc::now());
        let mut tx = self.begin_write().await?;
        let link = sqlx::query(
            "update link set consumed_at = $4
             where token_hash = $1 and project_id = $2 and connected_account_id = $3 and consumed_at is null
               and expires_at > $4",
        )
        .bind(link_token_hash)
        .bind(project.0.to_string())
        .bind(account.as_str())
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        let acc = sqlx::query(
            "update connected_account
             set status = 'ACTIVE', status_reason = null, tokens_sealed = $3, token_expires_at = $4, updated_at = $5
             where project_id = $1 and id = $2 and status = 'INITIATED' and deleted_at is null",
        )
        .bind(project.0.to_string())
        .bind(account.as_str())
        .bind(tokens_sealed)
        .bind(token_expires_at.map(ts))
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        if link.rows_affected() == 1 && acc.rows_affected() == 1 {
            tx.commit().await?;
            Ok(true)
        } else {
            tx.rollback().await?;
            Ok(false)
        }
    }

    async fn fail_link(
        &self,
        project: ProjectId,
        account: &ConnectedAccountId,
        link_token_hash: &[u8],
        reason: &str,
    ) -> StoreResult<bool> {
        let now = ts(Utc::now());
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "update link set consumed_at = coalesce(consumed_at, $4)
             where token_hash = $1 and project_id = $2 and connected_account_id = $3",
        )
        .bind(link_token_hash)
        .bind(project.0.to_string())
        .bind(account.as_str())
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        let acc = sqlx::query(
            "update connected_account set status = 'FAILED', status_reason = $3, updated_at = $4
             where project_id = $1 and id = $2 and status = 'INITIATED'",
        )
        .bind(project.0.to_string())
        .bind(account.as_str())
        .bind(reason)
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(acc.rows_affected() == 1)
    }

    async fn expire_stale_initiations(&self) -> StoreResult<u64> {
        let done = sqlx::query(
            "update connected_account set status = 'EXPIRED', status_reason = $1, updated_at = $2
             where status = 'INITIATED' and initiation_expires_at < $2",
        )
        .bind(EXPIRED_REASON)
        .bind(ts(Utc::now()))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn begin_refresh(
        &self,
        project: ProjectId,
        id: &ConnectedAccountId,
    ) -> StoreResult<Option<Box<dyn RefreshLease>>> {
        // A lease row, not the write lock: see migrations/sqlite/…_refresh_lease.sql.
        let owner = Uuid::new_v4().to_string();
        let deadline = tokio::time::Instant::now() + LEASE_WAIT;
        let mut pause = Duration::from_millis(10);
        loop {
            let now = Utc::now();
            let until = now + chrono::Duration::from_std(LEASE_TTL).expect("lease ttl fits");
            let taken = sqlx::query(
                "update connected_account set refresh_lease_owner = $3, refresh_lease_until = $4
                 where project_id = $1 and id = $2 and deleted_at is null
                   and (refresh_lease_until is null or refresh_lease_until < $5)",
            )
            .bind(project.0.to_string())
            .bind(id.as_str())
            .bind(&owner)
            .bind(ts(until))
            .bind(ts(now))
            .execute(&self.pool)
            .await?
            .rows_affected();
            if taken == 1 {
                break;
            }
            let exists: bool = sqlx::query_scalar(
                "select exists (select 1 from connected_account
                                where project_id = $1 and id = $2 and deleted_at is null)",
            )
            .bind(project.0.to_string())
            .bind(id.as_str())
            .fetch_one(&self.pool)
            .await?;
            if !exists {
                return Ok(None);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(StoreError::Database(sqlx::Error::PoolTimedOut));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(100));
        }
        let mut lease = SqliteRefreshLease { pool: self.pool.clone(), project, owner, account: None };
        let row = sqlx::query(&format!(
            "{} where a.project_id = $1 and a.id = $2 and a.deleted_at is null",
            account_select("$3")
        ))
        .bind(project.0.to_string())
        .bind(id.as_str())
        .bind(ts(Utc::now()))
        .fetch_one(&self.pool)
        .await?;
        lease.account = Some(account_from_row(&row)?);
        Ok(Some(Box::new(lease)))
    }

    async fn sealed_values(&self) -> StoreResult<Vec<SealedValue>> {
        let rows: Vec<(String, String, String, String)> = sqlx::query_as(
            "select 'ac', id, id, client_secret_sealed from auth_config where client_secret_sealed is not null
             union all
             select 'ca', id, id, tokens_sealed from connected_account where tokens_sealed is not null
             union all
             select 'st', lower(hex(state_hash)), connected_account_id, verifier_sealed
               from oauth_state where verifier_sealed is not null",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(kind, row, owner, value)| SealedValue {
                column: match kind.as_str() {
                    "ac" => SealedColumn::AuthConfigSecret,
                    "ca" => SealedColumn::AccountTokens,
                    _ => SealedColumn::StateVerifier,
                },
                row,
                owner,
                value,
            })
            .collect())
    }

    async fn replace_sealed(&self, old: &SealedValue, new_value: &str) -> StoreResult<bool> {
        let query = match old.column {
            SealedColumn::AuthConfigSecret => sqlx::query(
                "update auth_config set client_secret_sealed = $3 where id = $1 and client_secret_sealed = $2",
            )
            .bind(old.row.as_str()),
            SealedColumn::AccountTokens => {
                sqlx::query("update connected_account set tokens_sealed = $3 where id = $1 and tokens_sealed = $2")
                    .bind(old.row.as_str())
            }
            SealedColumn::StateVerifier => {
                let state_hash = unhex(&old.row).ok_or_else(|| corrupt(format!("state hash `{}`", old.row)))?;
                sqlx::query(
                    "update oauth_state set verifier_sealed = $3 where state_hash = $1 and verifier_sealed = $2",
                )
                .bind(state_hash)
            }
        };
        let done = query.bind(old.value.as_str()).bind(new_value).execute(&self.pool).await?;
        Ok(done.rows_affected() == 1)
    }
}

/// The database write lock, held by an open `BEGIN IMMEDIATE` transaction; dropping the lease
/// rolls it back and releases the lock.
struct SqliteRefreshLease {
    pool: SqlitePool,
    project: ProjectId,
    /// Written into the row when taken; only its owner may release it.
    owner: String,
    /// `None` only while being built and after release.
    account: Option<AccountRecord>,
}

type SqliteQuery<'q> = sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>>;

impl SqliteRefreshLease {
    /// Runs `update connected_account set <set>` and releases the lease, in one statement that
    /// only matches while this lease still owns the row. `$1` project, `$2` account, `$3` now,
    /// `$4` owner; `bind` adds the statement's own values from `$5` on.
    async fn finish(
        mut self: Box<Self>,
        set: &str,
        bind: impl for<'q> FnOnce(SqliteQuery<'q>) -> SqliteQuery<'q> + Send,
    ) -> StoreResult<()> {
        let account = self.account.take().expect("a live lease has its account");
        let sql = format!(
            "update connected_account set {set}, updated_at = $3,
                    refresh_lease_owner = null, refresh_lease_until = null
             where project_id = $1 and id = $2 and refresh_lease_owner = $4"
        );
        let query = sqlx::query(&sql)
            .bind(self.project.0.to_string())
            .bind(account.id.as_str().to_owned())
            .bind(ts(Utc::now()))
            .bind(std::mem::take(&mut self.owner));
        bind(query).execute(&self.pool).await?;
        Ok(())
    }
}

#[async_trait]
impl RefreshLease for SqliteRefreshLease {
    fn account(&self) -> &AccountRecord {
        self.account.as_ref().expect("a live lease has its account")
    }

    async fn save(self: Box<Self>, tokens_sealed: String, expires_at: Option<DateTime<Utc>>) -> StoreResult<()> {
        self.finish("tokens_sealed = $5, token_expires_at = $6", |q| q.bind(tokens_sealed).bind(expires_at.map(ts)))
            .await
    }

    async fn expire(self: Box<Self>, reason: &str) -> StoreResult<()> {
        let reason = reason.to_owned();
        self.finish("status = 'EXPIRED', status_reason = $5", |q| q.bind(reason)).await
    }
}

/// A lease dropped without `save` or `expire` (nothing to store, or an error) is released at
/// once, in the background, so waiting readers do not sit out [`LEASE_TTL`].
impl Drop for SqliteRefreshLease {
    fn drop(&mut self) {
        let Some(account) = self.account.take() else {
            return;
        };
        let (pool, project, owner) = (self.pool.clone(), self.project, std::mem::take(&mut self.owner));
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let released = sqlx::query(
                    "update connected_account set refresh_lease_owner = null, refresh_lease_until = null
                     where project_id = $1 and id = $2 and refresh_lease_owner = $3",
                )
                .bind(project.0.to_string())
                .bind(account.id.as_str())
                .bind(owner)
                .execute(&pool)
                .await;
                if let Err(e) = released {
                    tracing::warn!(error = %e, "releasing a refresh lease failed; it expires on its own");
                }
            });
        }
    }
}

/// Creates the project if needed and adds a key hash to it, inside the caller's transaction.
async fn insert_project_key(
    tx: &mut Transaction<'static, Sqlite>,
    project_name: &str,
    key_hash: &[u8],
    hint: &str,
) -> StoreResult<ProjectId> {
    let now = ts(Utc::now());
    let project: String = sqlx::query_scalar(
        "insert into project (id, name, created_at) values ($1, $2, $3)
         on conflict (name) do update set name = excluded.name returning id",
    )
    .bind(Uuid::new_v4().to_string())
    .bind(project_name)
    .bind(&now)
    .fetch_one(&mut **tx)
    .await?;
    let project = Uuid::parse_str(&project).map_err(|_| corrupt(format!("uuid `{project}`")))?;
    sqlx::query("insert into api_key (id, project_id, key_hash, hint, created_at) values ($1, $2, $3, $4, $5)")
        .bind(Uuid::new_v4().to_string())
        .bind(project.to_string())
        .bind(key_hash)
        .bind(hint)
        .bind(&now)
        .execute(&mut **tx)
        .await
        .map_err(map_unique)?;
    Ok(ProjectId(project))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_messages_map_to_postgres_names() {
        assert_eq!(
            constraint_name(
                "UNIQUE constraint failed: connected_account.project_id, connected_account.user_id, \
                 connected_account.toolkit, connected_account.alias"
            ),
            "connected_account_alias_key"
        );
        assert_eq!(constraint_name("UNIQUE constraint failed: auth_config.id"), "auth_config_pkey");
        assert_eq!(constraint_name("UNIQUE constraint failed: link.token_hash"), "link_pkey");
        assert_eq!(constraint_name("UNIQUE constraint failed: oauth_state.state_hash"), "oauth_state_pkey");
        assert_eq!(constraint_name("UNIQUE constraint failed: project.name"), "project_name_key");
        assert_eq!(constraint_name("UNIQUE constraint failed: api_key.key_hash"), "api_key_key_hash_key");
        assert_eq!(constraint_name("UNIQUE constraint failed: index 'some_expr_idx'"), "some_expr_idx");
        assert_eq!(constraint_name("something else"), "unknown");
    }

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

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn hex_round_trip() {
        let bytes = vec![0u8, 1, 0xab, 0xff];
        assert_eq!(hex(&bytes), "0001abff");
        assert_eq!(unhex("0001abff"), Some(bytes.clone()));
        assert_eq!(unhex("0001ABFF"), Some(bytes));
        assert_eq!(unhex("abc"), None);
        assert_eq!(unhex("zz"), None);
    }
}
