//! Projects and API keys.

use async_trait::async_trait;
use chrono::Utc;
use sqlx::{Sqlite, Transaction};
use uuid::Uuid;

use super::{SqliteStore, audit, ts};
use crate::store::{
    ApiKeyId, KeyStore, ProjectId, StoreResult, error::corrupt, key_created, new_redirect_key, rows::Columns,
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
