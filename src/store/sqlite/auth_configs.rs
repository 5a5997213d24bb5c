//! Auth configs and the toolkits they make known.

use async_trait::async_trait;
use chrono::Utc;

use super::{SqliteStore, audit, json_list, ts};
use crate::{
    domain::{AuthConfigId, ToolkitSlug},
    store::{
        ApiKeyId, AuditEvent, AuditKind, AuditSubject, AuthConfigFilter, AuthConfigRecord, AuthConfigStore,
        NewAuthConfig, Page, ProjectId, StoreResult,
        error::corrupt,
        rows::{self, auth_config_light, auth_config_select},
    },
};

#[async_trait]
impl AuthConfigStore for SqliteStore {
    async fn insert_auth_config(
        &self,
        project: ProjectId,
        new: &NewAuthConfig,
        actor: Option<ApiKeyId>,
    ) -> StoreResult<AuthConfigRecord> {
        let now = ts(Utc::now());
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "insert into auth_config (id, project_id, toolkit, name, auth_scheme, client_id, client_secret_sealed,
                                      scopes, authorization_url, token_url, client_auth, issuer, created_at,
                                      updated_at, revocation_url, request_token_url)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13, $14, $15)",
        )
        .bind(new.id.as_str())
        .bind(project.0.to_string())
        .bind(new.toolkit.as_str())
        .bind(&new.name)
        .bind(&new.auth_scheme)
        .bind(&new.client_id)
        .bind(&new.client_secret_sealed)
        .bind(json_list(&new.scopes))
        .bind(&new.authorization_url)
        .bind(&new.token_url)
        .bind(&new.client_auth)
        .bind(&new.issuer)
        .bind(&now)
        .bind(&new.revocation_url)
        .bind(&new.request_token_url)
        .execute(&mut *tx)
        .await?;
        let event = AuditEvent {
            kind: AuditKind::AuthConfigCreated,
            subject: AuditSubject::AuthConfig(&new.id),
            actor,
            details: Some(new.audit_details()),
        };
        audit::record(&mut tx, project, &event, &now).await?;
        tx.commit().await?;
        self.auth_config(project, &new.id).await?.ok_or_else(|| corrupt("auth config vanished after insert"))
    }

    async fn auth_config(&self, project: ProjectId, id: &AuthConfigId) -> StoreResult<Option<AuthConfigRecord>> {
        sqlx::query(&format!("{} where c.project_id = $1 and c.id = $2", auth_config_select()))
            .bind(project.0.to_string())
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(rows::auth_config)
            .transpose()
    }

    async fn list_auth_configs(&self, project: ProjectId, f: &AuthConfigFilter) -> StoreResult<Page<AuthConfigRecord>> {
        // LIKE is case-insensitive for ASCII in SQLite, standing in for PostgreSQL's ILIKE.
        let filters = "c.project_id = $1
            and ($2 is null or c.toolkit = $2)
            and ($3 is null or c.is_composio_managed = $3)
            and ($4 or c.is_enabled)
            and ($5 is null or c.name like '%' || $5 || '%' or c.toolkit like '%' || $5 || '%')";
        let total: i64 = sqlx::query_scalar(&format!("select count(*) from live_auth_config c where {filters}"))
            .bind(project.0.to_string())
            .bind(f.toolkit.as_ref().map(ToolkitSlug::as_str))
            .bind(f.is_composio_managed)
            .bind(f.show_disabled)
            .bind(f.search.as_deref())
            .fetch_one(&self.pool)
            .await?;
        let rows = sqlx::query(&format!(
            "{} where {filters}
               and ($6 is null or (c.created_at, c.id) < ($6, $7))
             order by c.created_at desc, c.id desc limit $8",
            auth_config_select()
        ))
        .bind(project.0.to_string())
        .bind(f.toolkit.as_ref().map(ToolkitSlug::as_str))
        .bind(f.is_composio_managed)
        .bind(f.show_disabled)
        .bind(f.search.as_deref())
        .bind(f.after.as_ref().map(|c| ts(c.at)))
        .bind(f.after.as_ref().map(|c| c.id.as_str()))
        .bind(f.limit + 1)
        .fetch_all(&self.pool)
        .await?;
        let items = rows.iter().map(rows::auth_config).collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_rows(items, f.limit, total, f.after.as_ref(), |c| (c.created_at, c.id.to_string())))
    }

    async fn newest_enabled_auth_config(
        &self,
        project: ProjectId,
        toolkit: &ToolkitSlug,
    ) -> StoreResult<Option<AuthConfigRecord>> {
        sqlx::query(&format!(
            "{} where c.project_id = $1 and c.toolkit = $2 and c.is_enabled
             order by c.created_at desc, c.id desc limit 1",
            auth_config_light()
        ))
        .bind(project.0.to_string())
        .bind(toolkit.as_str())
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(rows::auth_config)
        .transpose()
    }

    async fn toolkits_with_auth_configs(
        &self,
        project: ProjectId,
        toolkits: &[ToolkitSlug],
    ) -> StoreResult<Vec<ToolkitSlug>> {
        let found: Vec<String> = sqlx::query_scalar(
            "select distinct toolkit from live_auth_config
             where project_id = $1 and toolkit in (select value from json_each($2))",
        )
        .bind(project.0.to_string())
        .bind(json_list(toolkits))
        .fetch_all(&self.pool)
        .await?;
        found.iter().map(|s| ToolkitSlug::parse(s).map_err(corrupt)).collect()
    }
}
