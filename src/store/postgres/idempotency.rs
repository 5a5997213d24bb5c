//! `Idempotency-Key` records.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;

use super::PgStore;
use crate::store::{IdempotencyClaim, IdempotencyStore, ProjectId, StoreResult, error::corrupt};

/// Inserts the claim, or takes over a lapsed record (older than `$6`) or an abandoned one (still
/// running past its `locked_until`, for the same request): one statement, so of concurrent
/// claims exactly one returns a row.
const CLAIM: &str = "insert into idempotency_key (key_hash, project_id, fingerprint, locked_until, created_at)
     values ($1, $2, $3, $4, $5)
     on conflict (key_hash) do update
       set fingerprint = excluded.fingerprint, locked_until = excluded.locked_until,
           created_at = excluded.created_at, status = null, response_sealed = null
     where idempotency_key.project_id = excluded.project_id
       and (idempotency_key.created_at < $6
            or (idempotency_key.status is null and idempotency_key.locked_until < $5
                and idempotency_key.fingerprint = excluded.fingerprint))
     returning 1";

#[async_trait]
impl IdempotencyStore for PgStore {
    async fn claim_idempotency_key(
        &self,
        project: ProjectId,
        key_hash: &[u8],
        fingerprint: &[u8],
        now: DateTime<Utc>,
        locked_until: DateTime<Utc>,
        lapsed_before: DateTime<Utc>,
    ) -> StoreResult<IdempotencyClaim> {
        // A record released between the two statements is claimed on the next round.
        for _ in 0..3 {
            let claimed = sqlx::query(CLAIM)
                .bind(key_hash)
                .bind(project.0)
                .bind(fingerprint)
                .bind(locked_until)
                .bind(now)
                .bind(lapsed_before)
                .fetch_optional(&self.pool)
                .await?;
            if claimed.is_some() {
                return Ok(IdempotencyClaim::Claimed);
            }
            let row = sqlx::query(
                "select fingerprint, status, response_sealed from idempotency_key
                 where key_hash = $1 and project_id = $2",
            )
            .bind(key_hash)
            .bind(project.0)
            .fetch_optional(&self.pool)
            .await?;
            let Some(row) = row else { continue };
            let stored: Vec<u8> = row.try_get("fingerprint")?;
            let status: Option<i32> = row.try_get("status")?;
            let sealed: Option<String> = row.try_get("response_sealed")?;
            return super::super::idempotency_claim(&stored, fingerprint, status, sealed);
        }
        Err(corrupt("idempotency key claimed and released three times in a row"))
    }

    async fn finish_idempotency_key(
        &self,
        project: ProjectId,
        key_hash: &[u8],
        status: u16,
        response_sealed: &str,
    ) -> StoreResult<()> {
        sqlx::query(
            "update idempotency_key set status = $3, response_sealed = $4
             where key_hash = $1 and project_id = $2 and status is null",
        )
        .bind(key_hash)
        .bind(project.0)
        .bind(i32::from(status))
        .bind(response_sealed)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn release_idempotency_key(&self, project: ProjectId, key_hash: &[u8]) -> StoreResult<()> {
        sqlx::query("delete from idempotency_key where key_hash = $1 and project_id = $2 and status is null")
            .bind(key_hash)
            .bind(project.0)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn purge_idempotency_keys(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let done =
            sqlx::query("delete from idempotency_key where created_at < $1").bind(before).execute(&self.pool).await?;
        Ok(done.rows_affected())
    }
}
