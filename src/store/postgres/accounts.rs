//! Connected accounts: reads, listings, patches (with the ACL audit entry) and soft deletes.

use async_trait::async_trait;
use sqlx::types::Json;

use super::{PgStore, audit, refresh, strings};
use crate::{
    domain::{AccountType, AclConfig, ConnectedAccountId, ToolkitSlug},
    store::{
        AccountFilter, AccountPatch, AccountRecord, AccountStore, ApiKeyId, AuditEvent, AuditKind, AuditSubject,
        OrderBy, Page, ProjectId, RefreshLease, StoreResult,
        rows::{self, account_select, effective_status},
    },
};

/// The read path's statement (`GET connected_accounts/{id}`, every tool call of an agent),
/// built once rather than formatted per request.
static ACCOUNT_BY_ID: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!("{} where a.project_id = $1 and a.id = $2 and a.deleted_at is null", account_select("now()"))
});

#[async_trait]
impl AccountStore for PgStore {
    async fn account(&self, project: ProjectId, id: &ConnectedAccountId) -> StoreResult<Option<AccountRecord>> {
        sqlx::query(&ACCOUNT_BY_ID)
            .bind(project.0)
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(rows::account)
            .transpose()
    }

    async fn accounts_by_ids(&self, project: ProjectId, ids: &[ConnectedAccountId]) -> StoreResult<Vec<AccountRecord>> {
        let rows = sqlx::query(&format!(
            "{} where a.project_id = $1 and a.id = any($2) and a.deleted_at is null",
            account_select("now()")
        ))
        .bind(project.0)
        .bind(strings(ids))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(rows::account).collect()
    }

    async fn list_accounts(&self, project: ProjectId, f: &AccountFilter) -> StoreResult<Page<AccountRecord>> {
        let status = effective_status("now()");
        let filters = format!(
            "a.project_id = $1 and a.deleted_at is null
             and (cardinality($2::text[]) = 0 or a.user_id = any($2))
             and (cardinality($3::text[]) = 0 or a.toolkit = any($3))
             and (cardinality($4::text[]) = 0 or ({status}) = any($4))
             and (cardinality($5::text[]) = 0 or a.auth_config_id = any($5))
             and (cardinality($6::text[]) = 0 or a.id = any($6))
             and ($7::text is null or a.account_type = $7)"
        );
        let statuses: Vec<String> = f.statuses.iter().map(|s| s.as_str().to_owned()).collect();
        let account_type = f.account_type.map(AccountType::as_str);
        let total: i64 = sqlx::query_scalar(&format!("select count(*) from connected_account a where {filters}"))
            .bind(project.0)
            .bind(&f.user_ids)
            .bind(strings(&f.toolkits))
            .bind(&statuses)
            .bind(strings(&f.auth_config_ids))
            .bind(strings(&f.ids))
            .bind(account_type)
            .fetch_one(&self.pool)
            .await?;
        let column = match f.order_by {
            OrderBy::CreatedAt => "a.created_at",
            OrderBy::UpdatedAt => "a.updated_at",
        };
        let (cmp, dir) = if f.descending { ("<", "desc") } else { (">", "asc") };
        let rows = sqlx::query(&format!(
            "{} where {filters}
               and ($8::timestamptz is null or ({column}, a.id) {cmp} ($8, $9))
             order by {column} {dir}, a.id {dir} limit $10",
            account_select("now()")
        ))
        .bind(project.0)
        .bind(&f.user_ids)
        .bind(strings(&f.toolkits))
        .bind(&statuses)
        .bind(strings(&f.auth_config_ids))
        .bind(strings(&f.ids))
        .bind(account_type)
        .bind(f.after.as_ref().map(|c| c.at))
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
        let mut tx = self.pool.begin().await?;
        let old: Option<(Option<Json<AclConfig>>,)> = sqlx::query_as(
            "select acl from connected_account where project_id = $1 and id = $2 and deleted_at is null for update",
        )
        .bind(project.0)
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
                 updated_at = now()
             where project_id = $1 and id = $2",
        )
        .bind(project.0)
        .bind(id.as_str())
        .bind(patch.alias.is_some())
        .bind(patch.alias.clone().flatten())
        .bind(patch.acl.as_ref().map(Json))
        .execute(&mut *tx)
        .await?;
        if let Some(new_acl) = &patch.acl {
            sqlx::query(
                "insert into audit_event (project_id, connected_account_id, kind, subject_type, subject_id, api_key_id,
                                          old_acl, new_acl)
                 values ($1, $2, 'acl_change', 'connected_account', $2, $3, $4, $5)",
            )
            .bind(project.0)
            .bind(id.as_str())
            .bind(actor.map(|a| a.0))
            .bind(old_acl)
            .bind(Json(new_acl))
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
        let status = effective_status("now()");
        let rows = sqlx::query(&format!(
            "select distinct on (a.toolkit) * from ({} where a.project_id = $1 and a.deleted_at is null
                 and a.user_id = $2 and a.account_type = 'PRIVATE' and a.toolkit = any($3) and not a.is_disabled
                 and ({status}) = 'ACTIVE') a
             order by a.toolkit, a.created_at desc, a.id desc",
            account_select("now()")
        ))
        .bind(project.0)
        .bind(user_id)
        .bind(strings(toolkits))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(rows::account).collect()
    }

    async fn delete_account(
        &self,
        project: ProjectId,
        id: &ConnectedAccountId,
        actor: Option<ApiKeyId>,
    ) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        // The sealed tokens go at once; the row stays (soft-deleted) until retention purges it.
        let done = sqlx::query(
            "update connected_account set deleted_at = now(), updated_at = now(), tokens_sealed = null, link_url_sealed = null,
                    fields_sealed = null,
                    token_expires_at = null
             where project_id = $1 and id = $2 and deleted_at is null",
        )
        .bind(project.0)
        .bind(id.as_str())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        let event =
            AuditEvent { kind: AuditKind::AccountDeleted, subject: AuditSubject::Account(id), actor, details: None };
        audit::record(&mut tx, project, &event).await?;
        super::events::emit(&mut tx, project, crate::domain::EventType::Deleted, id).await?;
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
