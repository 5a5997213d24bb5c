//! Projects and API keys.

use async_trait::async_trait;
use uuid::Uuid;

use super::{PgStore, audit};
use crate::store::{ApiKeyId, KeyStore, ProjectId, StoreResult, key_created, new_redirect_key};

#[async_trait]
impl KeyStore for PgStore {
    async fn create_api_key(&self, project_name: &str, key_hash: &[u8], hint: &str) -> StoreResult<ProjectId> {
        let mut tx = self.pool.begin().await?;
        // Project creation is serialized with first starts: who is first decides who keeps the
        // shared redirect URI.
        sqlx::query("select pg_advisory_xact_lock(hashtext('authlink.bootstrap'))").execute(&mut *tx).await?;
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

    async fn redirect_key(&self, project: ProjectId) -> StoreResult<Option<String>> {
        Ok(sqlx::query_scalar("select redirect_key from project where id = $1")
            .bind(project.0)
            .fetch_optional(&self.pool)
            .await?
            .flatten())
    }

    async fn project_for_key(&self, key_hash: &[u8]) -> StoreResult<Option<(ProjectId, ApiKeyId)>> {
        let row: Option<(Uuid, Uuid)> =
            sqlx::query_as("select project_id, id from api_key where key_hash = $1 and revoked_at is null")
                .bind(key_hash)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(p, k)| (ProjectId(p), ApiKeyId(k))))
    }
}

/// Creates the project if needed and adds a key hash to it, inside the caller's transaction.
async fn insert_project_key(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    project_name: &str,
    key_hash: &[u8],
    hint: &str,
) -> StoreResult<ProjectId> {
    // The first project keeps the shared redirect URI; later ones get their own key.
    let project: Uuid = sqlx::query_scalar(
        "insert into project (id, name, redirect_key)
         values ($1, $2, case when exists (select 1 from project) then $3 end)
         on conflict (name) do update set name = excluded.name returning id",
    )
    .bind(Uuid::new_v4())
    .bind(project_name)
    .bind(new_redirect_key())
    .fetch_one(&mut **tx)
    .await?;
    let key = Uuid::new_v4();
    sqlx::query("insert into api_key (id, project_id, key_hash, hint) values ($1, $2, $3, $4)")
        .bind(key)
        .bind(project)
        .bind(key_hash)
        .bind(hint)
        .execute(&mut **tx)
        .await?;
    let project = ProjectId(project);
    audit::record(tx, project, &key_created(key, hint)).await?;
    Ok(project)
}
