//! Tool-router sessions.

use async_trait::async_trait;
use chrono::Utc;

use super::{SqliteStore, to_json, ts};
use crate::{
    domain::{SessionId, session::SessionConfig},
    store::{
        ProjectId, SessionRecord, SessionStore, StoreResult,
        rows::{self, SESSION_SELECT},
    },
};

#[async_trait]
impl SessionStore for SqliteStore {
    async fn insert_session(&self, project: ProjectId, s: &SessionRecord) -> StoreResult<()> {
        sqlx::query(
            "insert into tool_router_session (id, project_id, user_id, config, config_version, created_at, updated_at)
             values ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(s.id.as_str())
        .bind(project.0.to_string())
        .bind(&s.user_id)
        .bind(to_json(&s.config)?)
        .bind(s.config_version)
        .bind(ts(s.created_at))
        .bind(ts(s.updated_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn session(&self, project: ProjectId, id: &SessionId) -> StoreResult<Option<SessionRecord>> {
        sqlx::query(&format!("{SESSION_SELECT} where project_id = $1 and id = $2 and deleted_at is null"))
            .bind(project.0.to_string())
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(|r| rows::session(r, ""))
            .transpose()
    }

    async fn update_session(
        &self,
        project: ProjectId,
        id: &SessionId,
        config: &SessionConfig,
        expected_version: i64,
    ) -> StoreResult<Option<SessionRecord>> {
        // fetch_all: a RETURNING statement runs to completion (and its implicit transaction ends).
        let rows = sqlx::query(
            "update tool_router_session
             set config = $3, config_version = config_version + 1, updated_at = $5
             where project_id = $1 and id = $2 and deleted_at is null and config_version = $4
             returning id, user_id, config, config_version, created_at, updated_at",
        )
        .bind(project.0.to_string())
        .bind(id.as_str())
        .bind(to_json(config)?)
        .bind(expected_version)
        .bind(ts(Utc::now()))
        .fetch_all(&self.pool)
        .await?;
        rows.first().map(|r| rows::session(r, "")).transpose()
    }

    async fn delete_session(&self, project: ProjectId, id: &SessionId) -> StoreResult<bool> {
        let done = sqlx::query(
            "update tool_router_session set deleted_at = $3
             where project_id = $1 and id = $2 and deleted_at is null",
        )
        .bind(project.0.to_string())
        .bind(id.as_str())
        .bind(ts(Utc::now()))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
