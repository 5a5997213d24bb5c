//! The PostgreSQL store. Runtime-checked queries (`sqlx::query`) so one SQL text per operation
//! stays readable here and the crate builds without a database.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{
    PgPool, Row,
    postgres::{PgConnectOptions, PgPoolOptions, PgRow},
    types::Json,
};
use uuid::Uuid;

use super::{
    AccessDecision, AccountFilter, AccountPatch, AccountRecord, ApiKeyId, AuditKind, AuditRecord, AuthConfigFilter,
    AuthConfigRecord, Cursor, LinkView, NewAuthConfig, NewLink, OAuthStateRecord, OrderBy, Page, ProjectId,
    RefreshLease, SealedColumn, SealedValue, SessionRecord, Store, StoreError, StoreResult,
};
use crate::domain::{
    AccountStatus, AccountType, AclConfig, AuthConfigId, ConnectedAccountId, SessionId, ToolkitSlug,
    session::SessionConfig,
};

/// Embedded migrations, applied at start (`authlink serve`) or by `authlink migrate`.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Shown as `status_reason` of an INITIATED account whose link ran out.
pub const EXPIRED_REASON: &str = "Connection initiation did not complete before the link expired";

/// The PostgreSQL implementation of [`Store`].
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects a pool and applies pending migrations.
    pub async fn connect(url: &str, max_connections: u32) -> StoreResult<Self> {
        let options: PgConnectOptions = url.parse()?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Self { pool })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// Maps unique violations to [`StoreError::Conflict`] carrying the constraint name.
fn map_unique(err: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &err {
        if db.is_unique_violation() {
            return StoreError::Conflict(db.constraint().unwrap_or("unknown").to_owned());
        }
    }
    StoreError::Database(err)
}

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

const EFFECTIVE_STATUS: &str =
    "case when a.status = 'INITIATED' and a.initiation_expires_at < now() then 'EXPIRED' else a.status end";

fn account_select() -> String {
    format!(
        "select a.id, a.user_id, a.toolkit, a.auth_config_id, c.auth_scheme, c.is_composio_managed,
                not c.is_enabled as auth_config_is_disabled, a.alias, a.account_type, a.acl,
                {EFFECTIVE_STATUS} as status,
                case when ({EFFECTIVE_STATUS}) = 'EXPIRED' and a.status = 'INITIATED'
                     then '{EXPIRED_REASON}' else a.status_reason end as status_reason,
                a.is_disabled, a.tokens_sealed, a.token_expires_at, a.created_at, a.updated_at,
                a.deleted_at is not null as deleted
         from connected_account a join auth_config c on c.id = a.auth_config_id"
    )
}

fn account_from_row(row: &PgRow) -> StoreResult<AccountRecord> {
    let id: String = row.try_get("id")?;
    let toolkit: String = row.try_get("toolkit")?;
    let auth_config_id: String = row.try_get("auth_config_id")?;
    let account_type: String = row.try_get("account_type")?;
    let status: String = row.try_get("status")?;
    let acl: Option<Json<AclConfig>> = row.try_get("acl")?;
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
        acl: acl.map(|j| j.0),
        status: AccountStatus::parse(&status).ok_or_else(|| corrupt(&status))?,
        status_reason: row.try_get("status_reason")?,
        is_disabled: row.try_get("is_disabled")?,
        tokens_sealed: row.try_get("tokens_sealed")?,
        token_expires_at: row.try_get("token_expires_at")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

const AUTH_CONFIG_COLUMNS: &str = "c.id, c.toolkit, c.name, c.auth_scheme, c.is_composio_managed, c.client_id,
        c.client_secret_sealed, c.scopes, c.authorization_url, c.token_url, c.is_enabled, c.client_auth, c.issuer,
        c.created_at, c.updated_at";

/// With `no_of_connections`, for the auth config endpoints.
const AUTH_CONFIG_SELECT: &str = "select c.id, c.toolkit, c.name, c.auth_scheme, c.is_composio_managed, c.client_id,
        c.client_secret_sealed, c.scopes, c.authorization_url, c.token_url, c.is_enabled, c.client_auth, c.issuer,
        c.created_at, c.updated_at,
        (select count(*) from connected_account a where a.auth_config_id = c.id and a.deleted_at is null)
            as no_of_connections
     from auth_config c";

/// Without the count, for hot paths (link creation, the link page).
fn auth_config_light() -> String {
    format!("select {AUTH_CONFIG_COLUMNS} from auth_config c")
}

fn auth_config_from_row(row: &PgRow) -> StoreResult<AuthConfigRecord> {
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
        scopes: row.try_get("scopes")?,
        authorization_url: row.try_get("authorization_url")?,
        token_url: row.try_get("token_url")?,
        is_enabled: row.try_get("is_enabled")?,
        client_auth: row.try_get("client_auth")?,
        issuer: row.try_get("issuer")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        // Absent from the light select (hot paths do not need it).
        no_of_connections: row.try_get("no_of_connections").unwrap_or(0),
    })
}

const SESSION_SELECT: &str =
    "select id, user_id, config, config_version, created_at, updated_at from tool_router_session";

fn session_from_row(row: &PgRow) -> StoreResult<SessionRecord> {
    let id: String = row.try_get("id")?;
    let config: Json<SessionConfig> = row.try_get("config")?;
    Ok(SessionRecord {
        id: SessionId::parse(&id).map_err(corrupt)?,
        user_id: row.try_get("user_id")?,
        config: config.0,
        config_version: row.try_get("config_version")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn strings<T: AsRef<str>>(items: &[T]) -> Vec<String> {
    items.iter().map(|s| s.as_ref().to_owned()).collect()
}

/// Builds the page envelope from `limit + 1` fetched rows.
fn page<T>(
    mut items: Vec<T>,
    limit: i64,
    total_items: i64,
    after: Option<&Cursor>,
    key: impl Fn(&T) -> (DateTime<Utc>, String),
) -> Page<T> {
    let current_page = after.map_or(1, |c| c.page + 1);
    let has_more = items.len() as i64 > limit;
    items.truncate(limit as usize);
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
impl Store for PgStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("select 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn create_api_key(&self, project_name: &str, key_hash: &[u8], hint: &str) -> StoreResult<ProjectId> {
        let mut tx = self.pool.begin().await?;
        let project = insert_project_key(&mut tx, project_name, key_hash, hint).await?;
        tx.commit().await?;
        Ok(project)
    }

    async fn bootstrap_api_key(&self, project_name: &str, key_hash: &[u8], hint: &str) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        // Serializes concurrent first starts; released at commit.
        sqlx::query("select pg_advisory_xact_lock(hashtext('authlink.bootstrap'))").execute(&mut *tx).await?;
        let any: bool = sqlx::query_scalar("select exists (select 1 from api_key)").fetch_one(&mut *tx).await?;
        if any {
            return Ok(false);
        }
        insert_project_key(&mut tx, project_name, key_hash, hint).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn project_for_key(&self, key_hash: &[u8]) -> StoreResult<Option<(ProjectId, ApiKeyId)>> {
        let row: Option<(Uuid, Uuid)> =
            sqlx::query_as("select project_id, id from api_key where key_hash = $1 and revoked_at is null")
                .bind(key_hash)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(p, k)| (ProjectId(p), ApiKeyId(k))))
    }

    async fn insert_auth_config(&self, project: ProjectId, new: &NewAuthConfig) -> StoreResult<AuthConfigRecord> {
        sqlx::query(
            "insert into auth_config (id, project_id, toolkit, name, auth_scheme, client_id, client_secret_sealed,
                                      scopes, authorization_url, token_url, client_auth, issuer)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(new.id.as_str())
        .bind(project.0)
        .bind(new.toolkit.as_str())
        .bind(&new.name)
        .bind(&new.auth_scheme)
        .bind(&new.client_id)
        .bind(&new.client_secret_sealed)
        .bind(&new.scopes)
        .bind(&new.authorization_url)
        .bind(&new.token_url)
        .bind(&new.client_auth)
        .bind(&new.issuer)
        .execute(&self.pool)
        .await
        .map_err(map_unique)?;
        self.auth_config(project, &new.id).await?.ok_or_else(|| corrupt("auth config vanished after insert"))
    }

    async fn auth_config(&self, project: ProjectId, id: &AuthConfigId) -> StoreResult<Option<AuthConfigRecord>> {
        sqlx::query(&format!("{AUTH_CONFIG_SELECT} where c.project_id = $1 and c.id = $2"))
            .bind(project.0)
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(auth_config_from_row)
            .transpose()
    }

    async fn list_auth_configs(&self, project: ProjectId, f: &AuthConfigFilter) -> StoreResult<Page<AuthConfigRecord>> {
        let filters = "c.project_id = $1
            and ($2::text is null or c.toolkit = $2)
            and ($3::boolean is null or c.is_composio_managed = $3)
            and ($4 or c.is_enabled)
            and ($5::text is null or c.name ilike '%' || $5 || '%' or c.toolkit ilike '%' || $5 || '%')";
        let total: i64 = sqlx::query_scalar(&format!("select count(*) from auth_config c where {filters}"))
            .bind(project.0)
            .bind(f.toolkit.as_ref().map(ToolkitSlug::as_str))
            .bind(f.is_composio_managed)
            .bind(f.show_disabled)
            .bind(f.search.as_deref())
            .fetch_one(&self.pool)
            .await?;
        let rows = sqlx::query(&format!(
            "{AUTH_CONFIG_SELECT} where {filters}
               and ($6::timestamptz is null or (c.created_at, c.id) < ($6, $7))
             order by c.created_at desc, c.id desc limit $8"
        ))
        .bind(project.0)
        .bind(f.toolkit.as_ref().map(ToolkitSlug::as_str))
        .bind(f.is_composio_managed)
        .bind(f.show_disabled)
        .bind(f.search.as_deref())
        .bind(f.after.as_ref().map(|c| c.at))
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
        .bind(project.0)
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
        // One round trip: the session and the auth config a link would use (the session's
        // override for the toolkit, else the project's newest enabled one).
        let row = sqlx::query(&format!(
            "select s.id as s_id, s.user_id as s_user_id, s.config as s_config, s.config_version as s_config_version,
                    s.created_at as s_created_at, s.updated_at as s_updated_at, ac.*
             from tool_router_session s
             left join lateral (
                 {} where c.project_id = s.project_id and c.toolkit = $3 and c.is_enabled
                   and (s.config->'auth_configs'->>$3 is null or c.id = s.config->'auth_configs'->>$3)
                 order by c.created_at desc, c.id desc limit 1
             ) ac on true
             where s.project_id = $1 and s.id = $2 and s.deleted_at is null",
            auth_config_light()
        ))
        .bind(project.0)
        .bind(id.as_str())
        .bind(toolkit.as_str())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let session_id: String = row.try_get("s_id")?;
        let config: Json<SessionConfig> = row.try_get("s_config")?;
        let session = SessionRecord {
            id: SessionId::parse(&session_id).map_err(corrupt)?,
            user_id: row.try_get("s_user_id")?,
            config: config.0,
            config_version: row.try_get("s_config_version")?,
            created_at: row.try_get("s_created_at")?,
            updated_at: row.try_get("s_updated_at")?,
        };
        let has_config: Option<String> = row.try_get("id")?;
        let auth_config = match has_config {
            Some(_) => Some(auth_config_from_row(&row)?),
            None => None,
        };
        Ok(Some((session, auth_config)))
    }

    async fn toolkits_with_auth_configs(
        &self,
        project: ProjectId,
        toolkits: &[ToolkitSlug],
    ) -> StoreResult<Vec<ToolkitSlug>> {
        let found: Vec<String> =
            sqlx::query_scalar("select distinct toolkit from auth_config where project_id = $1 and toolkit = any($2)")
                .bind(project.0)
                .bind(strings(toolkits))
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
        .bind(project.0)
        .bind(&s.user_id)
        .bind(Json(&s.config))
        .bind(s.config_version)
        .bind(s.created_at)
        .bind(s.updated_at)
        .execute(&self.pool)
        .await
        .map_err(map_unique)?;
        Ok(())
    }

    async fn session(&self, project: ProjectId, id: &SessionId) -> StoreResult<Option<SessionRecord>> {
        sqlx::query(&format!("{SESSION_SELECT} where project_id = $1 and id = $2 and deleted_at is null"))
            .bind(project.0)
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
        sqlx::query(
            "update tool_router_session
             set config = $3, config_version = config_version + 1, updated_at = now()
             where project_id = $1 and id = $2 and deleted_at is null and config_version = $4
             returning id, user_id, config, config_version, created_at, updated_at",
        )
        .bind(project.0)
        .bind(id.as_str())
        .bind(Json(config))
        .bind(expected_version)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(session_from_row)
        .transpose()
    }

    async fn delete_session(&self, project: ProjectId, id: &SessionId) -> StoreResult<bool> {
        let done = sqlx::query(
            "update tool_router_session set deleted_at = now()
             where project_id = $1 and id = $2 and deleted_at is null",
        )
        .bind(project.0)
        .bind(id.as_str())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn create_link(&self, project: ProjectId, l: &NewLink) -> StoreResult<AccountRecord> {
        // One statement, so the account and its link are written together or not at all.
        let sql = format!(
            "with a as (
                insert into connected_account (id, project_id, user_id, toolkit, auth_config_id, alias, account_type,
                                               acl, status, initiation_expires_at)
                values ($1, $2, $3, $4, $5, $6, $7, $8, 'INITIATED', $9)
                returning *
             ), l as (
                insert into link (token_hash, project_id, connected_account_id, session_id, callback_url, expires_at)
                select $10, $2, a.id, $11, $12, $9 from a
             )
             {} ",
            account_select().replace("from connected_account a", "from a")
        );
        let row = sqlx::query(&sql)
            .bind(l.account_id.as_str())
            .bind(project.0)
            .bind(&l.user_id)
            .bind(l.toolkit.as_str())
            .bind(l.auth_config_id.as_str())
            .bind(&l.alias)
            .bind(l.account_type.as_str())
            .bind(l.acl.as_ref().map(Json))
            .bind(l.expires_at)
            .bind(&l.token_hash)
            .bind(l.session_id.as_ref().map(SessionId::as_str))
            .bind(&l.callback_url)
            .fetch_one(&self.pool)
            .await
            .map_err(map_unique)?;
        account_from_row(&row)
    }

    async fn account(&self, project: ProjectId, id: &ConnectedAccountId) -> StoreResult<Option<AccountRecord>> {
        sqlx::query(&format!("{} where a.project_id = $1 and a.id = $2 and a.deleted_at is null", account_select()))
            .bind(project.0)
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(account_from_row)
            .transpose()
    }

    async fn accounts_by_ids(&self, project: ProjectId, ids: &[ConnectedAccountId]) -> StoreResult<Vec<AccountRecord>> {
        let rows = sqlx::query(&format!(
            "{} where a.project_id = $1 and a.id = any($2) and a.deleted_at is null",
            account_select()
        ))
        .bind(project.0)
        .bind(strings(ids))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(account_from_row).collect()
    }

    async fn list_accounts(&self, project: ProjectId, f: &AccountFilter) -> StoreResult<Page<AccountRecord>> {
        let filters = format!(
            "a.project_id = $1 and a.deleted_at is null
             and (cardinality($2::text[]) = 0 or a.user_id = any($2))
             and (cardinality($3::text[]) = 0 or a.toolkit = any($3))
             and (cardinality($4::text[]) = 0 or ({EFFECTIVE_STATUS}) = any($4))
             and (cardinality($5::text[]) = 0 or a.auth_config_id = any($5))
             and (cardinality($6::text[]) = 0 or a.id = any($6))
             and ($7::text is null or a.account_type = $7)"
        );
        let statuses: Vec<String> = f.statuses.iter().map(|s| s.as_str().to_owned()).collect();
        let account_type = f.account_type.map(AccountType::as_str);
        let total: i64 = sqlx::query_scalar(&format!("select count(*) from connected_account a where {filters}"))
            .bind(project.0)
            .bind(&f.user_ids)
            .bind(strings(&f.toolkits))
            .bind(&statuses)
            .bind(strings(&f.auth_config_ids))
            .bind(strings(&f.ids))
            .bind(account_type)
            .fetch_one(&self.pool)
            .await?;
        let column = match f.order_by {
            OrderBy::CreatedAt => "a.created_at",
            OrderBy::UpdatedAt => "a.updated_at",
        };
        let (cmp, dir) = if f.descending { ("<", "desc") } else { (">", "asc") };
        let rows = sqlx::query(&format!(
            "{} where {filters}
               and ($8::timestamptz is null or ({column}, a.id) {cmp} ($8, $9))
             order by {column} {dir}, a.id {dir} limit $10",
            account_select()
        ))
        .bind(project.0)
        .bind(&f.user_ids)
        .bind(strings(&f.toolkits))
        .bind(&statuses)
        .bind(strings(&f.auth_config_ids))
        .bind(strings(&f.ids))
        .bind(account_type)
        .bind(f.after.as_ref().map(|c| c.at))
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
        let mut tx = self.pool.begin().await?;
        let old: Option<(Option<Json<AclConfig>>,)> = sqlx::query_as(
            "select acl from connected_account where project_id = $1 and id = $2 and deleted_at is null for update",
        )
        .bind(project.0)
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
                 updated_at = now()
             where project_id = $1 and id = $2",
        )
        .bind(project.0)
        .bind(id.as_str())
        .bind(patch.alias.is_some())
        .bind(patch.alias.clone().flatten())
        .bind(patch.acl.as_ref().map(Json))
        .execute(&mut *tx)
        .await
        .map_err(map_unique)?;
        if let Some(new_acl) = &patch.acl {
            sqlx::query(
                "insert into acl_audit (project_id, connected_account_id, kind, api_key_id, old_acl, new_acl)
                 values ($1, $2, 'acl_change', $3, $4, $5)",
            )
            .bind(project.0)
            .bind(id.as_str())
            .bind(actor.map(|a| a.0))
            .bind(old_acl)
            .bind(Json(new_acl))
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
        let rows = sqlx::query(&format!(
            "select distinct on (a.toolkit) * from ({} where a.project_id = $1 and a.deleted_at is null
                 and a.user_id = $2 and a.account_type = 'PRIVATE' and a.toolkit = any($3) and not a.is_disabled
                 and ({EFFECTIVE_STATUS}) = 'ACTIVE') a
             order by a.toolkit, a.created_at desc, a.id desc",
            account_select()
        ))
        .bind(project.0)
        .bind(user_id)
        .bind(strings(toolkits))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(account_from_row).collect()
    }

    async fn record_access_decisions(&self, project: ProjectId, decisions: &[AccessDecision]) -> StoreResult<()> {
        if decisions.is_empty() {
            return Ok(());
        }
        let ids: Vec<String> = decisions.iter().map(|d| d.account_id.to_string()).collect();
        let users: Vec<String> = decisions.iter().map(|d| d.user_id.clone()).collect();
        let sessions: Vec<String> = decisions.iter().map(|d| d.session_id.to_string()).collect();
        let allowed: Vec<bool> = decisions.iter().map(|d| d.allowed).collect();
        let rules: Vec<String> = decisions
            .iter()
            .map(|d| serde_json::to_value(d.rule).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default())
            .collect();
        sqlx::query(
            "insert into acl_audit (project_id, connected_account_id, kind, user_id, session_id, allowed, rule)
             select $1, t.id, 'access_decision', t.user_id, t.session_id, t.allowed, t.rule
             from unnest($2::text[], $3::text[], $4::text[], $5::boolean[], $6::text[])
                  as t(id, user_id, session_id, allowed, rule)",
        )
        .bind(project.0)
        .bind(ids)
        .bind(users)
        .bind(sessions)
        .bind(allowed)
        .bind(rules)
        .execute(&self.pool)
        .await?;
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
            .bind(project.0)
            .bind(id.as_str())
            .fetch_one(&self.pool)
            .await?;
        let before: Option<i64> = after.map(|c| c.id.parse().map_err(corrupt)).transpose()?;
        let rows = sqlx::query(&format!(
            "select id, kind, api_key_id, old_acl, new_acl, user_id, session_id, allowed, rule, created_at
             from acl_audit where {filters} and ($3::bigint is null or id < $3)
             order by id desc limit $4"
        ))
        .bind(project.0)
        .bind(id.as_str())
        .bind(before)
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await?;
        let items = rows
            .iter()
            .map(|row| {
                let kind: String = row.try_get("kind")?;
                let old_acl: Option<Json<AclConfig>> = row.try_get("old_acl")?;
                let new_acl: Option<Json<AclConfig>> = row.try_get("new_acl")?;
                Ok(AuditRecord {
                    id: row.try_get("id")?,
                    kind: if kind == "acl_change" { AuditKind::AclChange } else { AuditKind::AccessDecision },
                    api_key_id: row.try_get("api_key_id")?,
                    old_acl: old_acl.map(|j| j.0),
                    new_acl: new_acl.map(|j| j.0),
                    user_id: row.try_get("user_id")?,
                    session_id: row.try_get("session_id")?,
                    allowed: row.try_get("allowed")?,
                    rule: row.try_get("rule")?,
                    created_at: row.try_get("created_at")?,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(page(items, limit, total, after, |a| (a.created_at, a.id.to_string())))
    }

    async fn delete_account(&self, project: ProjectId, id: &ConnectedAccountId) -> StoreResult<bool> {
        let done = sqlx::query(
            "update connected_account set deleted_at = now(), updated_at = now()
             where project_id = $1 and id = $2 and deleted_at is null",
        )
        .bind(project.0)
        .bind(id.as_str())
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
        let project = ProjectId(row.try_get("project_id")?);
        let account_id: String = row.try_get("connected_account_id")?;
        let account_row = sqlx::query(&format!("{} where a.project_id = $1 and a.id = $2", account_select()))
            .bind(project.0)
            .bind(&account_id)
            .fetch_one(&self.pool)
            .await?;
        let account = account_from_row(&account_row)?;
        let account_deleted: bool = account_row.try_get("deleted")?;
        let auth_config = sqlx::query(&format!("{} where c.project_id = $1 and c.id = $2", auth_config_light()))
            .bind(project.0)
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
            expires_at: row.try_get("expires_at")?,
            consumed_at: row.try_get("consumed_at")?,
            account_deleted,
        }))
    }

    async fn insert_oauth_state(&self, st: &OAuthStateRecord) -> StoreResult<()> {
        sqlx::query(
            "insert into oauth_state (state_hash, project_id, link_token_hash, connected_account_id, binding_hash,
                                      verifier_sealed, expires_at)
             values ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&st.state_hash)
        .bind(st.project.0)
        .bind(&st.link_token_hash)
        .bind(st.account_id.as_str())
        .bind(&st.binding_hash)
        .bind(&st.verifier_sealed)
        .bind(st.expires_at)
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
            project: ProjectId(row.try_get("project_id")?),
            link_token_hash: row.try_get("link_token_hash")?,
            account_id: ConnectedAccountId::parse(&account).map_err(corrupt)?,
            binding_hash: row.try_get("binding_hash")?,
            verifier_sealed: row.try_get("verifier_sealed")?,
            expires_at: row.try_get("expires_at")?,
            used_at: row.try_get("used_at")?,
        }))
    }

    async fn consume_oauth_state(&self, state_hash: &[u8]) -> StoreResult<bool> {
        let done = sqlx::query("update oauth_state set used_at = now() where state_hash = $1 and used_at is null")
            .bind(state_hash)
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
        let mut tx = self.pool.begin().await?;
        let link = sqlx::query(
            "update link set consumed_at = now()
             where token_hash = $1 and project_id = $2 and connected_account_id = $3 and consumed_at is null
               and expires_at > now()",
        )
        .bind(link_token_hash)
        .bind(project.0)
        .bind(account.as_str())
        .execute(&mut *tx)
        .await?;
        let acc = sqlx::query(
            "update connected_account
             set status = 'ACTIVE', status_reason = null, tokens_sealed = $3, token_expires_at = $4, updated_at = now()
             where project_id = $1 and id = $2 and status = 'INITIATED' and deleted_at is null",
        )
        .bind(project.0)
        .bind(account.as_str())
        .bind(tokens_sealed)
        .bind(token_expires_at)
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
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "update link set consumed_at = coalesce(consumed_at, now())
             where token_hash = $1 and project_id = $2 and connected_account_id = $3",
        )
        .bind(link_token_hash)
        .bind(project.0)
        .bind(account.as_str())
        .execute(&mut *tx)
        .await?;
        let acc = sqlx::query(
            "update connected_account set status = 'FAILED', status_reason = $3, updated_at = now()
             where project_id = $1 and id = $2 and status = 'INITIATED'",
        )
        .bind(project.0)
        .bind(account.as_str())
        .bind(reason)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(acc.rows_affected() == 1)
    }

    async fn expire_stale_initiations(&self) -> StoreResult<u64> {
        let done = sqlx::query(
            "update connected_account set status = 'EXPIRED', status_reason = $1, updated_at = now()
             where status = 'INITIATED' and initiation_expires_at < now()",
        )
        .bind(EXPIRED_REASON)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn begin_refresh(
        &self,
        project: ProjectId,
        id: &ConnectedAccountId,
    ) -> StoreResult<Option<Box<dyn RefreshLease>>> {
        let mut tx = self.pool.begin().await?;
        let locked: Option<String> = sqlx::query_scalar(
            "select id from connected_account where project_id = $1 and id = $2 and deleted_at is null for update",
        )
        .bind(project.0)
        .bind(id.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        if locked.is_none() {
            return Ok(None);
        }
        let row = sqlx::query(&format!("{} where a.project_id = $1 and a.id = $2", account_select()))
            .bind(project.0)
            .bind(id.as_str())
            .fetch_one(&mut *tx)
            .await?;
        let account = account_from_row(&row)?;
        Ok(Some(Box::new(PgRefreshLease { tx, project, account })))
    }

    async fn sealed_values(&self) -> StoreResult<Vec<SealedValue>> {
        let rows: Vec<(String, String, String, String)> = sqlx::query_as(
            "select 'ac', id, id, client_secret_sealed from auth_config where client_secret_sealed is not null
             union all
             select 'ca', id, id, tokens_sealed from connected_account where tokens_sealed is not null
             union all
             select 'st', encode(state_hash, 'hex'), connected_account_id, verifier_sealed
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
        let sql = match old.column {
            SealedColumn::AuthConfigSecret => {
                "update auth_config set client_secret_sealed = $3 where id = $1 and client_secret_sealed = $2"
            }
            SealedColumn::AccountTokens => {
                "update connected_account set tokens_sealed = $3 where id = $1 and tokens_sealed = $2"
            }
            SealedColumn::StateVerifier => {
                "update oauth_state set verifier_sealed = $3
                 where state_hash = decode($1, 'hex') and verifier_sealed = $2"
            }
        };
        let done = sqlx::query(sql).bind(&old.row).bind(&old.value).bind(new_value).execute(&self.pool).await?;
        Ok(done.rows_affected() == 1)
    }
}

/// A row lock on a connected account, held by an open transaction.
struct PgRefreshLease {
    tx: sqlx::Transaction<'static, sqlx::Postgres>,
    project: ProjectId,
    account: AccountRecord,
}

#[async_trait]
impl RefreshLease for PgRefreshLease {
    fn account(&self) -> &AccountRecord {
        &self.account
    }

    async fn save(mut self: Box<Self>, tokens_sealed: String, expires_at: Option<DateTime<Utc>>) -> StoreResult<()> {
        sqlx::query(
            "update connected_account set tokens_sealed = $3, token_expires_at = $4, updated_at = now()
             where project_id = $1 and id = $2",
        )
        .bind(self.project.0)
        .bind(self.account.id.as_str())
        .bind(tokens_sealed)
        .bind(expires_at)
        .execute(&mut *self.tx)
        .await?;
        self.tx.commit().await?;
        Ok(())
    }

    async fn expire(mut self: Box<Self>, reason: &str) -> StoreResult<()> {
        sqlx::query(
            "update connected_account set status = 'EXPIRED', status_reason = $3, updated_at = now()
             where project_id = $1 and id = $2",
        )
        .bind(self.project.0)
        .bind(self.account.id.as_str())
        .bind(reason)
        .execute(&mut *self.tx)
        .await?;
        self.tx.commit().await?;
        Ok(())
    }
}

/// Creates the project if needed and adds a key hash to it, inside the caller's transaction.
async fn insert_project_key(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    project_name: &str,
    key_hash: &[u8],
    hint: &str,
) -> StoreResult<ProjectId> {
    let project: Uuid = sqlx::query_scalar(
        "insert into project (id, name) values ($1, $2)
         on conflict (name) do update set name = excluded.name returning id",
    )
    .bind(Uuid::new_v4())
    .bind(project_name)
    .fetch_one(&mut **tx)
    .await?;
    sqlx::query("insert into api_key (id, project_id, key_hash, hint) values ($1, $2, $3, $4)")
        .bind(Uuid::new_v4())
        .bind(project)
        .bind(key_hash)
        .bind(hint)
        .execute(&mut **tx)
        .await
        .map_err(map_unique)?;
    Ok(ProjectId(project))
}
