//! Connected accounts: reads, listings, patches (with the ACL audit entry) and soft deletes.

use async_trait::async_trait;
use chrono::Utc;

use super::{SqliteStore, audit, json_list, refresh, to_json, ts};
use crate::{
    domain::{AccountType, ConnectedAccountId, ToolkitSlug},
    store::{
        AccountFilter, AccountPatch, AccountRecord, AccountStore, ApiKeyId, AuditEvent, AuditKind, AuditSubject,
        OrderBy, Page, ProjectId, RefreshLease, StoreResult,
        rows::{self, account_select, effective_status},
    },
};

/// The read path's statement (`GET connected_accounts/{id}`, every tool call of an agent),
/// built once rather than formatted per request.
static ACCOUNT_BY_ID: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!("{} where a.project_id = $1 and a.id = $2 and a.deleted_at is null", account_select("$3"))
});

#[async_trait]
impl AccountStore for SqliteStore {
    async fn account(&self, project: ProjectId, id: &ConnectedAccountId) -> StoreResult<Option<AccountRecord>> {
        sqlx::query(&ACCOUNT_BY_ID)
            .bind(project.0.to_string())
            .bind(id.as_str())
            .bind(ts(Utc::now()))
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(rows::account)
            .transpose()
    }

    async fn accounts_by_ids(&self, project: ProjectId, ids: &[ConnectedAccountId]) -> StoreResult<Vec<AccountRecord>> {
        let rows = sqlx::query(&format!(
            "{} where a.project_id = $1 and a.id in (select value from json_each($2)) and a.deleted_at is null",
            account_select("$3")
        ))
        .bind(project.0.to_string())
        .bind(json_list(ids))
        .bind(ts(Utc::now()))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(rows::account).collect()
    }

    async fn list_accounts(&self, project: ProjectId, f: &AccountFilter) -> StoreResult<Page<AccountRecord>> {
        // `$8` is the current time in both statements.
        let status = effective_status("$8");
        let filters = format!(
            "a.project_id = $1 and a.deleted_at is null
             and (json_array_length($2) = 0 or a.user_id in (select value from json_each($2)))
             and (json_array_length($3) = 0 or a.toolkit in (select value from json_each($3)))
             and (json_array_length($4) = 0 or ({status}) in (select value from json_each($4)))
             and (json_array_length($5) = 0 or a.auth_config_id in (select value from json_each($5)))
             and (json_array_length($6) = 0 or a.id in (select value from json_each($6)))
             and ($7 is null or a.account_type = $7)"
        );
        let statuses: Vec<&str> = f.statuses.iter().map(|s| s.as_str()).collect();
        let account_type = f.account_type.map(AccountType::as_str);
        let now = ts(Utc::now());
        let total: i64 = sqlx::query_scalar(&format!("select count(*) from connected_account a where {filters}"))
            .bind(project.0.to_string())
            .bind(json_list(&f.user_ids))
            .bind(json_list(&f.toolkits))
            .bind(json_list(&statuses))
            .bind(json_list(&f.auth_config_ids))
            .bind(json_list(&f.ids))
            .bind(account_type)
            .bind(&now)
            .fetch_one(&self.pool)
            .await?;
        let column = match f.order_by {
            OrderBy::CreatedAt => "a.created_at",
            OrderBy::UpdatedAt => "a.updated_at",
        };
        let (cmp, dir) = if f.descending { ("<", "desc") } else { (">", "asc") };
        let rows = sqlx::query(&format!(
            "{} where {filters}
               and ($9 is null or ({column}, a.id) {cmp} ($9, $10))
             order by {column} {dir}, a.id {dir} limit $11",
            account_select("$8")
        ))
        .bind(project.0.to_string())
        .bind(json_list(&f.user_ids))
        .bind(json_list(&f.toolkits))
        .bind(json_list(&statuses))
        .bind(json_list(&f.auth_config_ids))
        .bind(json_list(&f.ids))
        .bind(account_type)
        .bind(&now)
        .bind(f.after.as_ref().map(|c| ts(c.at)))
        .bind(f.after.as_ref().map(|c| c.id.as_str()))
        .bind(f.limit + 1)
        .fetch_all(&self.pool)
        .await?;
        let items = rows.iter().map(rows::account).collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_rows(items, f.limit, total, f.after.as_ref(), |a| (f.order_by.of(a), a.id.to_string())))
    }

    async fn update_account(
        &self,
        project: ProjectId,
        id: &ConnectedAccountId,
        patch: &AccountPatch,
        actor: Option<ApiKeyId>,
    ) -> StoreResult<Option<AccountRecord>> {
        let now = ts(Utc::now());
        // The write lock is held from BEGIN, so the old ACL read here is the one this change
        // replaces: concurrent changes serialize and the audit trail chains.
        let mut tx = self.begin_write().await?;
        let old: Option<(Option<String>,)> = sqlx::query_as(
            "select acl from connected_account where project_id = $1 and id = $2 and deleted_at is null",
        )
        .bind(project.0.to_string())
        .bind(id.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let Some((old_acl,)) = old else {
            return Ok(None);
        };
        sqlx::query(
            "update connected_account
             set alias = case when $3 then $4 else alias end,
                 acl = coalesce($5, acl),
                 updated_at = $6
             where project_id = $1 and id = $2",
        )
        .bind(project.0.to_string())
        .bind(id.as_str())
        .bind(patch.alias.is_some())
        .bind(patch.alias.clone().flatten())
        .bind(patch.acl.as_ref().map(to_json).transpose()?)
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        if let Some(new_acl) = &patch.acl {
            sqlx::query(
                "insert into audit_event (project_id, connected_account_id, kind, subject_type, subject_id, api_key_id,
                                          old_acl, new_acl, created_at)
                 values ($1, $2, 'acl_change', 'connected_account', $2, $3, $4, $5, $6)",
            )
            .bind(project.0.to_string())
            .bind(id.as_str())
            .bind(actor.map(|a| a.0.to_string()))
            .bind(old_acl)
            .bind(to_json(new_acl)?)
            .bind(&now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.account(project, id).await
    }

    async fn active_private_accounts(
        &self,
        project: ProjectId,
        user_id: &str,
        toolkits: &[ToolkitSlug],
    ) -> StoreResult<Vec<AccountRecord>> {
        // PostgreSQL's `distinct on (toolkit)`: rows come newest first within each toolkit, and
        // the first of each toolkit is kept.
        let rows = sqlx::query(&format!(
            "{} where a.project_id = $1 and a.deleted_at is null
                 and a.user_id = $2 and a.account_type = 'PRIVATE' and a.toolkit in (select value from json_each($3))
                 and not a.is_disabled and ({}) = 'ACTIVE'
             order by a.toolkit, a.created_at desc, a.id desc",
            account_select("$4"),
            effective_status("$4")
        ))
        .bind(project.0.to_string())
        .bind(user_id)
        .bind(json_list(toolkits))
        .bind(ts(Utc::now()))
        .fetch_all(&self.pool)
        .await?;
        let mut accounts: Vec<AccountRecord> = Vec::new();
        for row in &rows {
            let account = rows::account(row)?;
            if accounts.last().is_none_or(|last| last.toolkit != account.toolkit) {
                accounts.push(account);
            }
        }
        Ok(accounts)
    }

    async fn delete_account(
        &self,
        project: ProjectId,
        id: &ConnectedAccountId,
        actor: Option<ApiKeyId>,
    ) -> StoreResult<bool> {
        let now = ts(Utc::now());
        let mut tx = self.begin_write().await?;
        // The sealed tokens go at once; the row stays (soft-deleted) until retention purges it.
        let done = sqlx::query(
            "update connected_account set deleted_at = $3, updated_at = $3, tokens_sealed = null, link_url_sealed = null,
                    fields_sealed = null,
                    token_expires_at = null
             where project_id = $1 and id = $2 and deleted_at is null",
        )
        .bind(project.0.to_string())
        .bind(id.as_str())
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        let event =
            AuditEvent { kind: AuditKind::AccountDeleted, subject: AuditSubject::Account(id), actor, details: None };
        audit::record(&mut tx, project, &event, &now).await?;
        super::events::emit(&mut tx, project, crate::domain::EventType::Deleted, id, &now).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn begin_refresh(
        &self,
        project: ProjectId,
        id: &ConnectedAccountId,
    ) -> StoreResult<Option<Box<dyn RefreshLease>>> {
        refresh::begin(&self.pool, project, id).await
    }
}
