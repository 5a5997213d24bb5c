//! Projects and API keys.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{Sqlite, Transaction};
use uuid::Uuid;

use super::{SqliteStore, audit, parse_uuid, ts};
use crate::store::{
    ApiKeyAuth, ApiKeyId, ApiKeyRecord, KeyStore, NewApiKey, ProjectId, StoreResult,
    error::corrupt,
    key_created, key_revoked, new_redirect_key,
    rows::{self, API_KEY_SELECT, Columns},
};

#[async_trait]
impl KeyStore for SqliteStore {
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

    async fn redirect_key(&self, project: ProjectId) -> StoreResult<Option<String>> {
        Ok(sqlx::query_scalar("select redirect_key from project where id = $1")
            .bind(project.0.to_string())
            .fetch_optional(&self.pool)
            .await?
            .flatten())
    }

    async fn project_for_key(&self, key_hash: &[u8]) -> StoreResult<Option<(ProjectId, ApiKeyId)>> {
        let Some(row) = sqlx::query("select project_id, id from api_key where key_hash = $1 and revoked_at is null")
            .bind(key_hash)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        Ok(Some((ProjectId(row.uuid("project_id")?), ApiKeyId(row.uuid("id")?))))
    }

    async fn create_project_api_key(&self, project_name: &str, new: &NewApiKey) -> StoreResult<ApiKeyRecord> {
        let mut tx = self.begin_write().await?;
        let project = upsert_project(&mut tx, project_name).await?;
        let record = insert_named_key(&mut tx, project, new).await?;
        tx.commit().await?;
        Ok(record)
    }

    async fn add_api_key(&self, project: ProjectId, new: &NewApiKey) -> StoreResult<ApiKeyRecord> {
        let mut tx = self.begin_write().await?;
        let record = insert_named_key(&mut tx, project, new).await?;
        tx.commit().await?;
        Ok(record)
    }

    async fn project_by_name(&self, name: &str) -> StoreResult<Option<ProjectId>> {
        let id: Option<String> =
            sqlx::query_scalar("select id from project where name = $1").bind(name).fetch_optional(&self.pool).await?;
        id.as_deref().map(|id| parse_uuid(id).map(ProjectId)).transpose()
    }

    async fn list_api_keys(&self, project: Option<ProjectId>) -> StoreResult<Vec<ApiKeyRecord>> {
        let rows = sqlx::query(&format!(
            "{API_KEY_SELECT} where $1 is null or k.project_id = $1 order by k.created_at desc, k.id desc"
        ))
        .bind(project.map(|p| p.0.to_string()))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(rows::api_key).collect()
    }

    async fn revoke_api_key(
        &self,
        project: Option<ProjectId>,
        id: ApiKeyId,
        actor: Option<ApiKeyId>,
    ) -> StoreResult<Option<ApiKeyRecord>> {
        let now = ts(Utc::now());
        let mut tx = self.begin_write().await?;
        // Only the first revoke changes the row (and is audited); a repeat returns the record.
        let newly = sqlx::query(
            "update api_key set revoked_at = $3
             where id = $1 and ($2 is null or project_id = $2) and revoked_at is null",
        )
        .bind(id.0.to_string())
        .bind(project.map(|p| p.0.to_string()))
        .bind(&now)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        let Some(row) = sqlx::query(&format!("{API_KEY_SELECT} where k.id = $1 and ($2 is null or k.project_id = $2)"))
            .bind(id.0.to_string())
            .bind(project.map(|p| p.0.to_string()))
            .fetch_optional(&mut *tx)
            .await?
        else {
            return Ok(None);
        };
        let record = rows::api_key(&row)?;
        if newly {
            audit::record(&mut tx, record.project, &key_revoked(id.0, actor), &now).await?;
        }
        tx.commit().await?;
        Ok(Some(record))
    }

    async fn api_key_auth(&self, key_hash: &[u8]) -> StoreResult<Option<ApiKeyAuth>> {
        let Some(row) =
            sqlx::query("select id, project_id, expires_at from api_key where key_hash = $1 and revoked_at is null")
                .bind(key_hash)
                .fetch_optional(&self.pool)
                .await?
        else {
            return Ok(None);
        };
        Ok(Some(ApiKeyAuth {
            id: ApiKeyId(row.uuid("id")?),
            project: ProjectId(row.uuid("project_id")?),
            expires_at: row.opt_time("expires_at")?,
        }))
    }

    async fn touch_api_key(&self, id: ApiKeyId, at: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query(
            "update api_key set last_used_at = $2
             where id = $1 and (last_used_at is null or last_used_at < $3)",
        )
        .bind(id.0.to_string())
        .bind(ts(at))
        .bind(ts(at - chrono::Duration::seconds(50)))
        .execute(&self.pool)
        .await?;
        Ok(())
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
    // The first project keeps the shared redirect URI; later ones get their own key.
    let project: String = sqlx::query_scalar(
        "insert into project (id, name, created_at, redirect_key)
         values ($1, $2, $3, case when exists (select 1 from project) then $4 end)
         on conflict (name) do update set name = excluded.name returning id",
    )
    .bind(Uuid::new_v4().to_string())
    .bind(project_name)
    .bind(&now)
    .bind(new_redirect_key())
    .fetch_one(&mut **tx)
    .await?;
    let project = Uuid::parse_str(&project).map_err(|_| corrupt(format!("uuid `{project}`")))?;
    let key = Uuid::new_v4();
    sqlx::query("insert into api_key (id, project_id, key_hash, hint, created_at) values ($1, $2, $3, $4, $5)")
        .bind(key.to_string())
        .bind(project.to_string())
        .bind(key_hash)
        .bind(hint)
        .bind(&now)
        .execute(&mut **tx)
        .await?;
    let project = ProjectId(project);
    audit::record(tx, project, &key_created(key, hint), &now).await?;
    Ok(project)
}

/// Creates the project if needed (the first one keeps the shared redirect URI), inside the
/// caller's write transaction.
async fn upsert_project(tx: &mut Transaction<'static, Sqlite>, name: &str) -> StoreResult<ProjectId> {
    let project: String = sqlx::query_scalar(
        "insert into project (id, name, created_at, redirect_key)
         values ($1, $2, $3, case when exists (select 1 from project) then $4 end)
         on conflict (name) do update set name = excluded.name returning id",
    )
    .bind(Uuid::new_v4().to_string())
    .bind(name)
    .bind(ts(Utc::now()))
    .bind(new_redirect_key())
    .fetch_one(&mut **tx)
    .await?;
    parse_uuid(&project).map(ProjectId)
}

/// Adds a named key to a project and reads it back, inside the caller's write transaction.
async fn insert_named_key(
    tx: &mut Transaction<'static, Sqlite>,
    project: ProjectId,
    new: &NewApiKey,
) -> StoreResult<ApiKeyRecord> {
    let key = Uuid::new_v4();
    let id = key.to_string();
    let now = ts(Utc::now());
    sqlx::query(
        "insert into api_key (id, project_id, key_hash, hint, name, expires_at, created_at)
         values ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&id)
    .bind(project.0.to_string())
    .bind(&new.key_hash)
    .bind(&new.hint)
    .bind(&new.name)
    .bind(new.expires_at.map(ts))
    .bind(&now)
    .execute(&mut **tx)
    .await?;
    audit::record(tx, project, &key_created(key, &new.hint), &now).await?;
    let row = sqlx::query(&format!("{API_KEY_SELECT} where k.id = $1")).bind(&id).fetch_one(&mut **tx).await?;
    rows::api_key(&row)
}
