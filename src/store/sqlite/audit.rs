//! The audit trail of connected accounts.

use async_trait::async_trait;
use chrono::Utc;

use super::{SqliteStore, to_json, ts};
use crate::{
    domain::ConnectedAccountId,
    store::{
        AccessDecision, AuditEvent, AuditRecord, AuditStore, Cursor, Page, ProjectId, StoreResult,
        error::corrupt,
        rows::{self, AUDIT_SELECT},
    },
};

#[async_trait]
impl AuditStore for SqliteStore {
    async fn record_access_decisions(&self, project: ProjectId, decisions: &[AccessDecision]) -> StoreResult<()> {
        if decisions.is_empty() {
            return Ok(());
        }
        let now = ts(Utc::now());
        let mut tx = self.begin_write().await?;
        for d in decisions {
            sqlx::query(
                "insert into audit_event (project_id, connected_account_id, kind, subject_type, subject_id, user_id,
                                          session_id, allowed, rule, created_at)
                 values ($1, $2, 'access_decision', 'connected_account', $2, $3, $4, $5, $6, $7)",
            )
            .bind(project.0.to_string())
            .bind(d.account_id.as_str())
            .bind(&d.user_id)
            .bind(d.session_id.as_str())
            .bind(d.allowed)
            .bind(rows::rule_name(d.rule))
            .bind(&now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn audit_log(
        &self,
        project: ProjectId,
        id: &ConnectedAccountId,
        limit: i64,
        after: Option<&Cursor>,
    ) -> StoreResult<Page<AuditRecord>> {
        let filters = "project_id = $1 and connected_account_id = $2";
        let total: i64 = sqlx::query_scalar(&format!("select count(*) from audit_event where {filters}"))
            .bind(project.0.to_string())
            .bind(id.as_str())
            .fetch_one(&self.pool)
            .await?;
        let before: Option<i64> = after.map(|c| c.id.parse().map_err(corrupt)).transpose()?;
        let rows = sqlx::query(&format!(
            "{AUDIT_SELECT} where {filters} and ($3 is null or id < $3)
             order by id desc limit $4"
        ))
        .bind(project.0.to_string())
        .bind(id.as_str())
        .bind(before)
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await?;
        let items = rows.iter().map(rows::audit).collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_rows(items, limit, total, after, |a| (a.created_at, a.id.to_string())))
    }
}

/// Appends an audit event inside the caller's transaction (the change it records commits or rolls
/// back with it).
pub(super) async fn record(
    conn: &mut sqlx::SqliteConnection,
    project: ProjectId,
    event: &AuditEvent<'_>,
    now: &str,
) -> StoreResult<()> {
    sqlx::query(
        "insert into audit_event (project_id, connected_account_id, kind, subject_type, subject_id, api_key_id, details,
                                  created_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(project.0.to_string())
    .bind(event.subject.account())
    .bind(event.kind.as_str())
    .bind(event.subject.kind())
    .bind(event.subject.id())
    .bind(event.actor.map(|a| a.0.to_string()))
    .bind(event.details.as_ref().map(to_json).transpose()?)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}
