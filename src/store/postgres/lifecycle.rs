//! Enable, disable, revoke, patch and delete (issue 12), for PostgreSQL.

use async_trait::async_trait;

use super::PgStore;
use crate::{
    domain::{AuthConfigId, ConnectedAccountId, ToolkitSlug},
    store::{
        AccountRecord, AccountStore, AuthConfigPatch, AuthConfigRecord, AuthConfigStore, LifecycleStore, ProjectId,
        StoreResult, error::corrupt,
    },
};

#[async_trait]
impl LifecycleStore for PgStore {
    async fn set_account_disabled(
        &self,
        project: ProjectId,
        id: &ConnectedAccountId,
        disabled: bool,
    ) -> StoreResult<Option<AccountRecord>> {
        let done = sqlx::query(
            "update connected_account set is_disabled = $3, updated_at = now()
             where project_id = $1 and id = $2 and deleted_at is null",
        )
        .bind(project.0)
        .bind(id.as_str())
        .bind(disabled)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        self.account(project, id).await
    }

    async fn revoke_account(&self, project: ProjectId, id: &ConnectedAccountId, reason: &str) -> StoreResult<bool> {
        // The row lock of a refresh in flight (`begin_refresh`) makes this wait for it, so the
        // tokens it saves are erased here too.
        let done = sqlx::query(
            "update connected_account
             set status = 'REVOKED', status_reason = $3, tokens_sealed = null, token_expires_at = null,
                 link_url_sealed = null, updated_at = now()
             where project_id = $1 and id = $2 and deleted_at is null and status in ('ACTIVE', 'REVOKED')",
        )
        .bind(project.0)
        .bind(id.as_str())
        .bind(reason)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn update_auth_config(
        &self,
        project: ProjectId,
        id: &AuthConfigId,
        p: &AuthConfigPatch,
    ) -> StoreResult<Option<AuthConfigRecord>> {
        let done = sqlx::query(
            "update auth_config set
                name = coalesce($3, name), client_id = coalesce($4, client_id),
                client_secret_sealed = coalesce($5, client_secret_sealed), scopes = coalesce($6, scopes),
                authorization_url = coalesce($7, authorization_url), token_url = coalesce($8, token_url),
                revocation_url = coalesce($9, revocation_url), issuer = coalesce($10, issuer),
                client_auth = coalesce($11, client_auth), updated_at = now()
             where project_id = $1 and id = $2 and deleted_at is null",
        )
        .bind(project.0)
        .bind(id.as_str())
        .bind(&p.name)
        .bind(&p.client_id)
        .bind(&p.client_secret_sealed)
        .bind(&p.scopes)
        .bind(&p.authorization_url)
        .bind(&p.token_url)
        .bind(&p.revocation_url)
        .bind(&p.issuer)
        .bind(&p.client_auth)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        self.auth_config(project, id).await
    }

    async fn set_auth_config_enabled(&self, project: ProjectId, id: &AuthConfigId, enabled: bool) -> StoreResult<bool> {
        let done = sqlx::query(
            "update auth_config set is_enabled = $3, updated_at = now()
             where project_id = $1 and id = $2 and deleted_at is null",
        )
        .bind(project.0)
        .bind(id.as_str())
        .bind(enabled)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_auth_config(&self, project: ProjectId, id: &AuthConfigId) -> StoreResult<Option<u64>> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "update auth_config set deleted_at = now(), updated_at = now(), client_secret_sealed = null,
                    is_enabled = false
             where project_id = $1 and id = $2 and deleted_at is null",
        )
        .bind(project.0)
        .bind(id.as_str())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        let accounts = sqlx::query(
            "update connected_account set deleted_at = now(), updated_at = now(), tokens_sealed = null,
                    link_url_sealed = null, token_expires_at = null
             where project_id = $1 and auth_config_id = $2 and deleted_at is null",
        )
        .bind(project.0)
        .bind(id.as_str())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(accounts.rows_affected()))
    }

    async fn auth_config_toolkits(&self, project: ProjectId) -> StoreResult<Vec<ToolkitSlug>> {
        let found: Vec<String> =
            sqlx::query_scalar("select distinct toolkit from live_auth_config where project_id = $1 order by toolkit")
                .bind(project.0)
                .fetch_all(&self.pool)
                .await?;
        found.iter().map(|s| ToolkitSlug::parse(s).map_err(corrupt)).collect()
    }
}
