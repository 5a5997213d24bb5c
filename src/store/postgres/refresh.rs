//! The refresh lock on PostgreSQL: `select … for update` on the account row, held by the open
//! transaction the lease owns; saving commits, dropping rolls back. Other processes sharing the
//! database wait on the same row lock, so one refresh of an account runs at a time.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::audit;
use crate::{
    domain::{ConnectedAccountId, EventType},
    store::{
        AccountRecord, ProjectId, RefreshLease, StoreResult, account_expired, credentials_updated, rows,
        rows::account_select,
    },
};

/// Locks the account's row in a transaction that the lease keeps open.
pub(super) async fn begin(
    pool: &crate::store::counted::CountedPool<sqlx::Postgres>,
    project: ProjectId,
    id: &ConnectedAccountId,
) -> StoreResult<Option<Box<dyn RefreshLease>>> {
    let mut tx = pool.begin().await?;
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
    let row = sqlx::query(&format!("{} where a.project_id = $1 and a.id = $2", account_select("now()")))
        .bind(project.0)
        .bind(id.as_str())
        .fetch_one(&mut *tx)
        .await?;
    let account = rows::account(&row)?;
    Ok(Some(Box::new(PgRefreshLease { tx, project, account })))
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
            "update connected_account set tokens_sealed = $3, token_expires_at = $4, updated_at = now(),
                    refresh_retry_at = null, refresh_failures = 0
             where project_id = $1 and id = $2",
        )
        .bind(self.project.0)
        .bind(self.account.id.as_str())
        .bind(tokens_sealed)
        .bind(expires_at)
        .execute(&mut *self.tx)
        .await?;
        let event = credentials_updated(&self.account.id, "refresh");
        audit::record(&mut self.tx, self.project, &event).await?;
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
        let event = account_expired(&self.account.id, reason);
        audit::record(&mut self.tx, self.project, &event).await?;
        // Composio's `expired`, preceded by authlink's more specific `refresh_failed`.
        super::events::emit(&mut self.tx, self.project, EventType::RefreshFailed, &self.account.id).await?;
        super::events::emit(&mut self.tx, self.project, EventType::Expired, &self.account.id).await?;
        self.tx.commit().await?;
        Ok(())
    }
}
