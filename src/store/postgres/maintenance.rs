//! Readiness, the expiry sweep, retention and key rotation's access to sealed values.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::PgStore;
use crate::store::{
    EXPIRED_REASON, MaintenanceStore, PoolStats, ProjectId, PurgeCounts, RetentionPolicy, SealedColumn, SealedValue,
    StoreResult, sealed,
};

/// The purge statements, in foreign-key order: states before their links, links before the
/// sessions they name, accounts (taking their remaining links, states and audit entries by
/// cascade) before audit retention. `$1` is the cut-off, `$2` the batch size. Each deletes at
/// most one batch of rows that it could lock without waiting (`skip locked`): concurrent purges
/// of processes sharing the database take different rows, and a row gone already is not an error.
const OAUTH_STATES: &str = "delete from oauth_state where ctid in (
        select ctid from oauth_state where expires_at < $1 or used_at < $1 limit $2 for update skip locked)";
const LINKS: &str = "delete from link where ctid in (
        select ctid from link where expires_at < $1 or consumed_at < $1 limit $2 for update skip locked)";
const ACCOUNTS: &str = "delete from connected_account where ctid in (
        select ctid from connected_account where deleted_at < $1 limit $2 for update skip locked)";
// A session still named by a link (which is live, or within its grace) waits for the link's purge.
const SESSIONS: &str = "delete from tool_router_session where ctid in (
        select s.ctid from tool_router_session s
        where s.deleted_at < $1 and not exists (select 1 from link l where l.session_id = s.id)
        limit $2 for update of s skip locked)";
const AUDIT: &str = "delete from audit_event where ctid in (
        select ctid from audit_event where created_at < $1 limit $2 for update skip locked)";

// Webhook events written before the cut-off with no delivery still pending (the horizon is at
// most 30 days), with their deliveries and attempts by cascade.
const WEBHOOK_EVENTS: &str = "delete from webhook_event where ctid in (
        select e.ctid from webhook_event e
        where e.created_at < $1
          and not exists (select 1 from webhook_delivery d where d.event_id = e.id and d.state = 'PENDING')
        limit $2 for update of e skip locked)";

impl PgStore {
    /// Runs one purge statement until a batch comes back short; the rows it deleted.
    async fn purge_all(&self, sql: &str, cutoff: DateTime<Utc>, batch: i64) -> StoreResult<u64> {
        let batch = batch.max(1);
        let mut total = 0;
        loop {
            let done = sqlx::query(sql).bind(cutoff).bind(batch).execute(&self.pool).await?.rows_affected();
            total += done;
            if done < batch.unsigned_abs() {
                return Ok(total);
            }
        }
    }
}

#[async_trait]
impl MaintenanceStore for PgStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("select 1").execute(&self.pool).await?;
        Ok(())
    }

    fn pool_stats(&self) -> PoolStats {
        let idle = u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX);
        PoolStats {
            size: self.pool.size(),
            idle,
            max: self.pool.options().get_max_connections(),
            waiting: self.pool.waiting(),
        }
    }

    async fn expire_stale_initiations(&self) -> StoreResult<u64> {
        // The accounts expired and their `expired` events commit together.
        let mut tx = self.pool.begin().await?;
        let expired: Vec<(uuid::Uuid, String)> = sqlx::query_as(
            "update connected_account
             set status = 'EXPIRED', status_reason = $1, tokens_sealed = null, link_url_sealed = null, token_expires_at = null,
                 updated_at = now()
             where status = 'INITIATED' and initiation_expires_at < now()
             returning project_id, id",
        )
        .bind(EXPIRED_REASON)
        .fetch_all(&mut *tx)
        .await?;
        for (project, id) in &expired {
            let id = crate::domain::ConnectedAccountId::parse(id).map_err(crate::store::error::corrupt)?;
            super::events::emit(&mut tx, ProjectId(*project), crate::domain::EventType::Expired, &id).await?;
        }
        tx.commit().await?;
        Ok(expired.len() as u64)
    }

    async fn purge(&self, policy: &RetentionPolicy, now: DateTime<Utc>) -> StoreResult<PurgeCounts> {
        let cut = policy.cutoffs(now);
        Ok(PurgeCounts {
            oauth_states: self.purge_all(OAUTH_STATES, cut.links, policy.batch).await?,
            links: self.purge_all(LINKS, cut.links, policy.batch).await?,
            accounts: self.purge_all(ACCOUNTS, cut.deleted, policy.batch).await?,
            sessions: self.purge_all(SESSIONS, cut.deleted, policy.batch).await?,
            audit_events: self.purge_all(AUDIT, cut.audit, policy.batch).await?,
            webhook_events: self.purge_all(WEBHOOK_EVENTS, cut.deleted, policy.batch).await?,
        })
    }

    async fn sealed_values(&self) -> StoreResult<Vec<SealedValue>> {
        let rows: Vec<(String, String, String, String)> =
            sqlx::query_as(&sealed::listing_sql("encode(state_hash, 'hex')")).fetch_all(&self.pool).await?;
        rows.into_iter().map(SealedValue::from_listing).collect()
    }

    async fn replace_sealed(&self, old: &SealedValue, new_value: &str) -> StoreResult<bool> {
        let query = sqlx::query(sealed::replace_sql(old.column));
        let query = match old.column {
            SealedColumn::StateVerifier | SealedColumn::StateFields | SealedColumn::IdempotencyResponse => {
                query.bind(old.state_hash()?)
            }
            SealedColumn::AuthConfigSecret
            | SealedColumn::AccountTokens
            | SealedColumn::AccountLinkUrl
            | SealedColumn::AccountFields
            | SealedColumn::WebhookSecret
            | SealedColumn::WebhookPreviousSecret => query.bind(old.row.as_str()),
        };
        let done = query.bind(old.value.as_str()).bind(new_value).execute(&self.pool).await?;
        Ok(done.rows_affected() == 1)
    }
}
