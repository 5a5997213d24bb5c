//! User-bound completion: the project's verifier URL and single-use completion sessions. Writes
//! run under the database's write lock (`BEGIN IMMEDIATE`), so redeeming is single-use.

use async_trait::async_trait;
use chrono::Utc;

use super::{SqliteStore, ts};
use crate::{
    domain::ConnectedAccountId,
    store::{CompletionStore, DeferredCompletion, ProjectId, Redemption, StoreResult, error::corrupt},
};

#[async_trait]
impl CompletionStore for SqliteStore {
    async fn set_verifier_url(&self, project_name: &str, url: Option<&str>) -> StoreResult<bool> {
        let done = sqlx::query("update project set verifier_url = $2 where name = $1")
            .bind(project_name)
            .bind(url)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn verifier_url(&self, project: ProjectId) -> StoreResult<Option<String>> {
        Ok(sqlx::query_scalar("select verifier_url from project where id = $1")
            .bind(project.0.to_string())
            .fetch_optional(&self.pool)
            .await?
            .flatten())
    }

    async fn defer_link(&self, project: ProjectId, d: &DeferredCompletion) -> StoreResult<bool> {
        let now = ts(Utc::now());
        let mut tx = self.begin_write().await?;
        let link = sqlx::query(
            "update link set consumed_at = $4
             where token_hash = $1 and project_id = $2 and connected_account_id = $3 and consumed_at is null
               and expires_at > $4",
        )
        .bind(&d.link_token_hash)
        .bind(project.0.to_string())
        .bind(d.account.as_str())
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        let acc = sqlx::query(
            "update connected_account
             set tokens_sealed = $3, token_expires_at = $4, initiation_expires_at = $5, updated_at = $6
             where project_id = $1 and id = $2 and status = 'INITIATED' and deleted_at is null",
        )
        .bind(project.0.to_string())
        .bind(d.account.as_str())
        .bind(&d.tokens_sealed)
        .bind(d.token_expires_at.map(ts))
        .bind(ts(d.expires_at))
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        if link.rows_affected() != 1 || acc.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        sqlx::query(
            "insert into completion_session (session_hash, project_id, connected_account_id, expires_at, created_at)
             values ($1, $2, $3, $4, $5)",
        )
        .bind(&d.session_hash)
        .bind(project.0.to_string())
        .bind(d.account.as_str())
        .bind(ts(d.expires_at))
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn redeem_completion(
        &self,
        project: ProjectId,
        session_hash: &[u8],
        user_id: &str,
        mismatch_reason: &str,
    ) -> StoreResult<Redemption> {
        let now = ts(Utc::now());
        let mut tx = self.begin_write().await?;
        let account: Option<String> = sqlx::query_scalar(
            "update completion_session set used_at = $3
             where session_hash = $1 and project_id = $2 and used_at is null and expires_at > $3
             returning connected_account_id",
        )
        .bind(session_hash)
        .bind(project.0.to_string())
        .bind(&now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(account) = account else {
            tx.rollback().await?;
            return Ok(Redemption::Unknown);
        };
        let id = ConnectedAccountId::parse(&account).map_err(corrupt)?;
        let owner: Option<String> = sqlx::query_scalar(
            "select user_id from connected_account
             where project_id = $1 and id = $2 and status = 'INITIATED' and deleted_at is null
               and initiation_expires_at > $3",
        )
        .bind(project.0.to_string())
        .bind(&account)
        .bind(&now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(owner) = owner else {
            // Deleted or expired meanwhile: the session is spent all the same.
            tx.commit().await?;
            return Ok(Redemption::Unknown);
        };
        if owner != user_id {
            sqlx::query(
                "update connected_account
                 set status = 'FAILED', status_reason = $3, tokens_sealed = null, link_url_sealed = null, token_expires_at = null,
                     updated_at = $4
                 where project_id = $1 and id = $2",
            )
            .bind(project.0.to_string())
            .bind(&account)
            .bind(mismatch_reason)
            .bind(&now)
            .execute(&mut *tx)
            .await?;
            super::events::emit(&mut tx, project, crate::domain::EventType::Failed, &id, &now).await?;
            tx.commit().await?;
            return Ok(Redemption::Mismatch(id));
        }
        sqlx::query(
            "update connected_account set status = 'ACTIVE', status_reason = null, updated_at = $3
             where project_id = $1 and id = $2",
        )
        .bind(project.0.to_string())
        .bind(&account)
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        super::events::emit(&mut tx, project, crate::domain::EventType::Active, &id, &now).await?;
        tx.commit().await?;
        Ok(Redemption::Completed(id))
    }
}
