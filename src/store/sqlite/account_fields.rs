//! Connection fields of OAuth accounts (see [`crate::store::account_fields`]).

use async_trait::async_trait;
use chrono::Utc;

use super::SqliteStore;
use super::ts;
use crate::{
    domain::ConnectedAccountId,
    store::{AccountFieldsStore, ProjectId, StoreResult},
};

#[async_trait]
impl AccountFieldsStore for SqliteStore {
    async fn set_account_fields(
        &self,
        project: ProjectId,
        id: &ConnectedAccountId,
        fields_sealed: &str,
        only_initiated: bool,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "update connected_account set fields_sealed = $3, updated_at = $5
             where project_id = $1 and id = $2 and deleted_at is null and (not $4 or status = 'INITIATED')",
        )
        .bind(project.0.to_string())
        .bind(id.as_str())
        .bind(fields_sealed)
        .bind(only_initiated)
        .bind(ts(Utc::now()))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn account_fields(&self, project: ProjectId, id: &ConnectedAccountId) -> StoreResult<Option<String>> {
        let found: Option<(Option<String>,)> = sqlx::query_as(
            "select fields_sealed from connected_account where project_id = $1 and id = $2 and deleted_at is null",
        )
        .bind(project.0.to_string())
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.and_then(|(f,)| f))
    }
}
