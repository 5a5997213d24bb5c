//! User-bound completion: the project's verifier URL and single-use completion sessions.

use async_trait::async_trait;

use super::PgStore;
use crate::{
    domain::ConnectedAccountId,
    store::{CompletionStore, DeferredCompletion, ProjectId, Redemption, StoreResult, error::corrupt},
};

#[async_trait]
impl CompletionStore for PgStore {
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
            .bind(project.0)
            .fetch_optional(&self.pool)
            .await?
            .flatten())
    }

    async fn defer_link(&self, project: ProjectId, d: &DeferredCompletion) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        let link = sqlx::query(
            "update link set consumed_at = now()
             where token_hash = $1 and project_id = $2 and connected_account_id = $3 and consumed_at is null
               and expires_at > now()",
        )
        .bind(&d.link_token_hash)
        .bind(project.0)
        .bind(d.account.as_str())
        .execute(&mut *tx)
        .await?;
        let acc = sqlx::query(
            "update connected_account
             set tokens_sealed = $3, token_expires_at = $4, initiation_expires_at = $5, updated_at = now()
             where project_id = $1 and id = $2 and status = 'INITIATED' and deleted_at is null",
        )
        .bind(project.0)
        .bind(d.account.as_str())
        .bind(&d.tokens_sealed)
        .bind(d.token_expires_at)
        .bind(d.expires_at)
        .execute(&mut *tx)
        .await?;
        if link.rows_affected() != 1 || acc.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        sqlx::query(
            "insert into completion_session (session_hash, project_id, connected_account_id, expires_at)
             values ($1, $2, $3, $4)",
        )
        .bind(&d.session_hash)
        .bind(project.0)
        .bind(d.account.as_str())
        .bind(d.expires_at)
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
        let mut tx = self.pool.begin().await?;
        // The row lock makes a concurrent redeemer wait here and then find `used_at` set.
        let account: Option<String> = sqlx::query_scalar(
            "update completion_session set used_at = now()
             where session_hash = $1 and project_id = $2 and used_at is null and expires_at > now()
             returning connected_account_id",
        )
        .bind(session_hash)
        .bind(project.0)
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
               and initiation_expires_at > now()
             for update",
        )
        .bind(project.0)
        .bind(&account)
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
                     updated_at = now()
                 where project_id = $1 and id = $2",
            )
            .bind(project.0)
            .bind(&account)
            .bind(mismatch_reason)
            .execute(&mut *tx)
            .await?;
            super::events::emit(&mut tx, project, crate::domain::EventType::Failed, &id).await?;
            tx.commit().await?;
            return Ok(Redemption::Mismatch(id));
        }
        sqlx::query(
            "update connected_account set status = 'ACTIVE', status_reason = null, updated_at = now()
             where project_id = $1 and id = $2",
        )
        .bind(project.0)
        .bind(&account)
        .execute(&mut *tx)
        .await?;
        super::events::emit(&mut tx, project, crate::domain::EventType::Active, &id).await?;
        tx.commit().await?;
        Ok(Redemption::Completed(id))
    }
}
