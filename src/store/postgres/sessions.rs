//! Tool-router sessions.

use async_trait::async_trait;
use sqlx::types::Json;

use super::PgStore;
use crate::{
    domain::{SessionId, session::SessionConfig},
    store::{
        ProjectId, SessionRecord, SessionStore, StoreResult,
        rows::{self, SESSION_SELECT},
    },
};

#[async_trait]
impl SessionStore for PgStore {
    async fn insert_session(&self, project: ProjectId, s: &SessionRecord) -> StoreResult<()> {
        sqlx::query(
            "insert into tool_router_session (id, project_id, user_id, config, config_version, created_at, updated_at)
             values ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(s.id.as_str())
        .bind(project.0)
        .bind(&s.user_id)
        .bind(Json(&s.config))
        .bind(s.config_version)
        .bind(s.created_at)
        .bind(s.updated_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn session(&self, project: ProjectId, id: &SessionId) -> StoreResult<Option<SessionRecord>> {
        sqlx::query(&format!("{SESSION_SELECT} where project_id = $1 and id = $2 and deleted_at is null"))
            .bind(project.0)
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
        sqlx::query(
            "update tool_router_session
             set config = $3, config_version = config_version + 1, updated_at = now()
             where project_id = $1 and id = $2 and deleted_at is null and config_version = $4
             returning id, user_id, config, config_version, created_at, updated_at",
        )
        .bind(project.0)
        .bind(id.as_str())
        .bind(Json(config))
        .bind(expected_version)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(|r| rows::session(r, ""))
        .transpose()
    }

    async fn delete_session(&self, project: ProjectId, id: &SessionId) -> StoreResult<bool> {
        let done = sqlx::query(
            "update tool_router_session set deleted_at = now()
             where project_id = $1 and id = $2 and deleted_at is null",
        )
        .bind(project.0)
        .bind(id.as_str())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
