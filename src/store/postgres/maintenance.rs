//! Readiness, the expiry sweep and key rotation's access to sealed values.

use async_trait::async_trait;

use super::PgStore;
use crate::store::{EXPIRED_REASON, MaintenanceStore, SealedColumn, SealedValue, StoreResult, sealed};

#[async_trait]
impl MaintenanceStore for PgStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("select 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn expire_stale_initiations(&self) -> StoreResult<u64> {
        let done = sqlx::query(
            "update connected_account
             set status = 'EXPIRED', status_reason = $1, tokens_sealed = null, token_expires_at = null,
                 updated_at = now()
             where status = 'INITIATED' and initiation_expires_at < now()",
        )
        .bind(EXPIRED_REASON)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn sealed_values(&self) -> StoreResult<Vec<SealedValue>> {
        let rows: Vec<(String, String, String, String)> =
            sqlx::query_as(&sealed::listing_sql("encode(state_hash, 'hex')")).fetch_all(&self.pool).await?;
        rows.into_iter().map(SealedValue::from_listing).collect()
    }

    async fn replace_sealed(&self, old: &SealedValue, new_value: &str) -> StoreResult<bool> {
        let query = sqlx::query(sealed::replace_sql(old.column));
        let query = match old.column {
            SealedColumn::StateVerifier => query.bind(old.state_hash()?),
            SealedColumn::AuthConfigSecret | SealedColumn::AccountTokens => query.bind(old.row.as_str()),
        };
        let done = query.bind(old.value.as_str()).bind(new_value).execute(&self.pool).await?;
        Ok(done.rows_affected() == 1)
    }
}
