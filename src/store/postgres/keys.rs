//! Projects and API keys.

use async_trait::async_trait;
use uuid::Uuid;

use chrono::{DateTime, Utc};

use super::{PgStore, audit};
use crate::store::{
    ApiKeyAuth, ApiKeyId, ApiKeyRecord, KeyStore, NewApiKey, ProjectId, StoreResult, key_created, key_revoked,
    new_redirect_key,
    rows::{self, API_KEY_SELECT},
};

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
        // Every start but the first finds a key: one round trip instead of a locked transaction
        // (keys are revoked, never deleted, so a key seen here stays).
        let any: bool = sqlx::query_scalar("select exists (select 1 from api_key)").fetch_one(&self.pool).await?;
        if any {
            return Ok(false);
        }
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

    async fn create_project_api_key(&self, project_name: &str, new: &NewApiKey) -> StoreResult<ApiKeyRecord> {
        let mut tx = self.pool.begin().await?;
        // As `create_api_key`: project creation is serialized with first starts.
        sqlx::query("select pg_advisory_xact_lock(hashtext('authlink.bootstrap'))").execute(&mut *tx).await?;
        let project = upsert_project(&mut tx, project_name).await?;
        let record = insert_named_key(&mut tx, project, new).await?;
        tx.commit().await?;
        Ok(record)
    }

    async fn add_api_key(&self, project: ProjectId, new: &NewApiKey) -> StoreResult<ApiKeyRecord> {
        let mut tx = self.pool.begin().await?;
        let record = insert_named_key(&mut tx, project, new).await?;
        tx.commit().await?;
        Ok(record)
    }

    async fn project_by_name(&self, name: &str) -> StoreResult<Option<ProjectId>> {
        let id: Option<Uuid> =
            sqlx::query_scalar("select id from project where name = $1").bind(name).fetch_optional(&self.pool).await?;
        Ok(id.map(ProjectId))
    }

    async fn list_api_keys(&self, project: Option<ProjectId>) -> StoreResult<Vec<ApiKeyRecord>> {
        let rows = sqlx::query(&format!(
            "{API_KEY_SELECT} where $1::uuid is null or k.project_id = $1 order by k.created_at desc, k.id desc"
        ))
        .bind(project.map(|p| p.0))
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
        let mut tx = self.pool.begin().await?;
        // Only the first revoke changes the row (and is audited); a repeat returns the record.
        let newly = sqlx::query(
            "update api_key set revoked_at = now()
             where id = $1 and ($2::uuid is null or project_id = $2) and revoked_at is null",
        )
        .bind(id.0)
        .bind(project.map(|p| p.0))
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        let Some(row) =
            sqlx::query(&format!("{API_KEY_SELECT} where k.id = $1 and ($2::uuid is null or k.project_id = $2)"))
                .bind(id.0)
                .bind(project.map(|p| p.0))
                .fetch_optional(&mut *tx)
                .await?
        else {
            return Ok(None);
        };
        let record = rows::api_key(&row)?;
        if newly {
            audit::record(&mut tx, record.project, &key_revoked(id.0, actor)).await?;
        }
        tx.commit().await?;
        Ok(Some(record))
    }

    async fn api_key_auth(&self, key_hash: &[u8]) -> StoreResult<Option<ApiKeyAuth>> {
        let row: Option<(Uuid, Uuid, Option<DateTime<Utc>>)> =
            sqlx::query_as("select id, project_id, expires_at from api_key where key_hash = $1 and revoked_at is null")
                .bind(key_hash)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(id, project, expires_at)| ApiKeyAuth {
            id: ApiKeyId(id),
            project: ProjectId(project),
            expires_at,
        }))
    }

    async fn touch_api_key(&self, id: ApiKeyId, at: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query(
            "update api_key set last_used_at = $2
             where id = $1 and (last_used_at is null or last_used_at < $2 - interval '50 seconds')",
        )
        .bind(id.0)
        .bind(at)
        .execute(&self.pool)
        .await?;
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

/// Creates the project if needed (the first one keeps the shared redirect URI), inside the
/// caller's transaction.
async fn upsert_project(tx: &mut sqlx::Transaction<'_, sqlx::Postgres>, name: &str) -> StoreResult<ProjectId> {
    let project: Uuid = sqlx::query_scalar(
        "insert into project (id, name, redirect_key)
         values ($1, $2, case when exists (select 1 from project) then $3 end)
         on conflict (name) do update set name = excluded.name returning id",
    )
    .bind(Uuid::new_v4())
    .bind(name)
    .bind(new_redirect_key())
    .fetch_one(&mut **tx)
    .await?;
    Ok(ProjectId(project))
}

/// Adds a named key to a project and reads it back, inside the caller's transaction.
async fn insert_named_key(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    project: ProjectId,
    new: &NewApiKey,
) -> StoreResult<ApiKeyRecord> {
    let id = Uuid::new_v4();
    sqlx::query(
        "insert into api_key (id, project_id, key_hash, hint, name, expires_at) values ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(project.0)
    .bind(&new.key_hash)
    .bind(&new.hint)
    .bind(&new.name)
    .bind(new.expires_at)
    .execute(&mut **tx)
    .await?;
    audit::record(tx, project, &key_created(id, &new.hint)).await?;
    let row = sqlx::query(&format!("{API_KEY_SELECT} where k.id = $1")).bind(id).fetch_one(&mut **tx).await?;
    rows::api_key(&row)
}
