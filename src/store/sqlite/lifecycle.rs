//! Enable, disable, revoke, patch and delete (issue 12), for SQLite.

use async_trait::async_trait;
use chrono::Utc;

use super::{SqliteStore, events, json_list, ts};
use crate::{
    domain::{AuthConfigId, ConnectedAccountId, EventType, ToolkitSlug},
    store::{
        AccountRecord, AccountStore, AuthConfigPatch, AuthConfigRecord, AuthConfigStore, LifecycleStore, ProjectId,
        StoreResult, error::corrupt,
    },
};

#[async_trait]
impl LifecycleStore for SqliteStore {
    async fn set_account_disabled(
        &self,
        project: ProjectId,
        id: &ConnectedAccountId,
        disabled: bool,
    ) -> StoreResult<Option<AccountRecord>> {
        // In one write transaction, so the event says what changed: switching to the state it
        // has emits nothing.
        let now = ts(Utc::now());
        let mut tx = self.begin_write().await?;
        let was: Option<bool> = sqlx::query_scalar(
            "select is_disabled from connected_account where project_id = $1 and id = $2 and deleted_at is null",
        )
        .bind(project.0.to_string())
        .bind(id.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(was) = was else { return Ok(None) };
        if was != disabled {
            sqlx::query(
                "update connected_account set is_disabled = $3, updated_at = $4 where project_id = $1 and id = $2",
            )
            .bind(project.0.to_string())
            .bind(id.as_str())
            .bind(disabled)
            .bind(&now)
            .execute(&mut *tx)
            .await?;
            let event = if disabled { EventType::Disabled } else { EventType::Enabled };
            events::emit(&mut tx, project, event, id, &now).await?;
        }
        tx.commit().await?;
        self.account(project, id).await
    }

    async fn revoke_account(&self, project: ProjectId, id: &ConnectedAccountId, reason: &str) -> StoreResult<bool> {
        // A refresh lease in flight is dropped with the tokens: its owner's final write matches
        // only while it holds the lease, so it cannot put tokens back. Only ACTIVE → REVOKED emits
        // `revoked`; revoking a revoked account again emits nothing.
        let now = ts(Utc::now());
        let mut tx = self.begin_write().await?;
        let status: Option<String> = sqlx::query_scalar(
            "select status from connected_account where project_id = $1 and id = $2 and deleted_at is null",
        )
        .bind(project.0.to_string())
        .bind(id.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let was_active = match status.as_deref() {
            Some("ACTIVE") => true,
            Some("REVOKED") => false,
            _ => return Ok(false),
        };
        sqlx::query(
            "update connected_account
             set status = 'REVOKED', status_reason = $3, tokens_sealed = null, token_expires_at = null,
                 link_url_sealed = null, refresh_lease_owner = null, refresh_lease_until = null, updated_at = $4
             where project_id = $1 and id = $2",
        )
        .bind(project.0.to_string())
        .bind(id.as_str())
        .bind(reason)
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        if was_active {
            events::emit(&mut tx, project, EventType::Revoked, id, &now).await?;
        }
        tx.commit().await?;
        Ok(true)
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
                client_auth = coalesce($11, client_auth), updated_at = $12
             where project_id = $1 and id = $2 and deleted_at is null",
        )
        .bind(project.0.to_string())
        .bind(id.as_str())
        .bind(&p.name)
        .bind(&p.client_id)
        .bind(&p.client_secret_sealed)
        .bind(p.scopes.as_deref().map(json_list))
        .bind(&p.authorization_url)
        .bind(&p.token_url)
        .bind(&p.revocation_url)
        .bind(&p.issuer)
        .bind(&p.client_auth)
        .bind(ts(Utc::now()))
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        self.auth_config(project, id).await
    }

    async fn set_auth_config_enabled(&self, project: ProjectId, id: &AuthConfigId, enabled: bool) -> StoreResult<bool> {
        let done = sqlx::query(
            "update auth_config set is_enabled = $3, updated_at = $4
             where project_id = $1 and id = $2 and deleted_at is null",
        )
        .bind(project.0.to_string())
        .bind(id.as_str())
        .bind(enabled)
        .bind(ts(Utc::now()))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_auth_config(&self, project: ProjectId, id: &AuthConfigId) -> StoreResult<Option<u64>> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "update auth_config set deleted_at = $3, updated_at = $3, client_secret_sealed = null,
                    is_enabled = false
             where project_id = $1 and id = $2 and deleted_at is null",
        )
        .bind(project.0.to_string())
        .bind(id.as_str())
        .bind(ts(Utc::now()))
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        let now = ts(Utc::now());
        let accounts: Vec<String> = sqlx::query_scalar(
            "update connected_account set deleted_at = $3, updated_at = $3, tokens_sealed = null, fields_sealed = null,
                    link_url_sealed = null, token_expires_at = null
             where project_id = $1 and auth_config_id = $2 and deleted_at is null
             returning id",
        )
        .bind(project.0.to_string())
        .bind(id.as_str())
        .bind(&now)
        .fetch_all(&mut *tx)
        .await?;
        // Each account taken with its config is a `deleted` event, in the same transaction.
        for account in &accounts {
            let account = ConnectedAccountId::parse(account).map_err(corrupt)?;
            events::emit(&mut tx, project, EventType::Deleted, &account, &now).await?;
        }
        tx.commit().await?;
        Ok(Some(u64::try_from(accounts.len()).unwrap_or(u64::MAX)))
    }

    async fn auth_config_toolkits(&self, project: ProjectId) -> StoreResult<Vec<ToolkitSlug>> {
        let found: Vec<String> =
            sqlx::query_scalar("select distinct toolkit from live_auth_config where project_id = $1 order by toolkit")
                .bind(project.0.to_string())
                .fetch_all(&self.pool)
                .await?;
        found.iter().map(|s| ToolkitSlug::parse(s).map_err(corrupt)).collect()
    }
}
