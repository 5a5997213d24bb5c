//! The audit trail of connected accounts.

use async_trait::async_trait;

use super::PgStore;
use crate::{
    domain::ConnectedAccountId,
    store::{
        AccessDecision, AuditEvent, AuditRecord, AuditStore, Cursor, Page, ProjectId, StoreResult,
        error::corrupt,
        rows::{self, AUDIT_SELECT},
    },
};

#[async_trait]
impl AuditStore for PgStore {
    async fn record_access_decisions(&self, project: ProjectId, decisions: &[AccessDecision]) -> StoreResult<()> {
        if decisions.is_empty() {
            return Ok(());
        }
        let ids: Vec<String> = decisions.iter().map(|d| d.account_id.to_string()).collect();
        let users: Vec<String> = decisions.iter().map(|d| d.user_id.clone()).collect();
        let sessions: Vec<String> = decisions.iter().map(|d| d.session_id.to_string()).collect();
        let allowed: Vec<bool> = decisions.iter().map(|d| d.allowed).collect();
        let rules: Vec<String> = decisions.iter().map(|d| rows::rule_name(d.rule)).collect();
        sqlx::query(
            "insert into audit_event (project_id, connected_account_id, kind, subject_type, subject_id, user_id, session_id,
                                      allowed, rule)
             select $1, t.id, 'access_decision', 'connected_account', t.id, t.user_id, t.session_id, t.allowed, t.rule
             from unnest($2::text[], $3::text[], $4::text[], $5::boolean[], $6::text[])
                  as t(id, user_id, session_id, allowed, rule)",
        )
        .bind(project.0)
        .bind(ids)
        .bind(users)
        .bind(sessions)
        .bind(allowed)
        .bind(rules)
        .execute(&self.pool)
        .await?;
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
            .bind(project.0)
            .bind(id.as_str())
            .fetch_one(&self.pool)
            .await?;
        let before: Option<i64> = after.map(|c| c.id.parse().map_err(corrupt)).transpose()?;
        let rows = sqlx::query(&format!(
            "{AUDIT_SELECT} where {filters} and ($3::bigint is null or id < $3)
             order by id desc limit $4"
        ))
        .bind(project.0)
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
    conn: &mut sqlx::PgConnection,
    project: ProjectId,
    event: &AuditEvent<'_>,
) -> StoreResult<()> {
    sqlx::query(
        "insert into audit_event (project_id, connected_account_id, kind, subject_type, subject_id, api_key_id, details)
         values ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(project.0)
    .bind(event.subject.account())
    .bind(event.kind.as_str())
    .bind(event.subject.kind())
    .bind(event.subject.id())
    .bind(event.actor.map(|a| a.0))
    .bind(event.details.as_ref().map(sqlx::types::Json))
    .execute(conn)
    .await?;
    Ok(())
}
