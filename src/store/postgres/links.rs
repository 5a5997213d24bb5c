//! Links and OAuth states: what link creation writes and the connect flow reads and completes.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{PgStore, events};
use crate::{
    domain::{AccountStatus, ConnectedAccountId, EventType, SessionId, ToolkitSlug},
    store::{
        AccountRecord, AuthConfigRecord, LinkStore, LinkView, NewLink, NewReconnectLink, OAuthStateRecord, ProjectId,
        Reconnected, SessionRecord, StoreResult,
        error::{StoreError, corrupt},
        rows::{self, Columns, LINK_SELECT, OAUTH_STATE_SELECT, account_select, auth_config_light},
    },
};

#[async_trait]
impl LinkStore for PgStore {
    async fn link_context(
        &self,
        project: ProjectId,
        id: &SessionId,
        toolkit: &ToolkitSlug,
    ) -> StoreResult<Option<(SessionRecord, Option<AuthConfigRecord>)>> {
        // One round trip: the session and the auth config a link would use (the session's
        // override for the toolkit, else the project's newest enabled one).
        let row = sqlx::query(&format!(
            "select s.id as s_id, s.user_id as s_user_id, s.config as s_config, s.config_version as s_config_version,
                    s.created_at as s_created_at, s.updated_at as s_updated_at, ac.*
             from tool_router_session s
             left join lateral (
                 {} where c.project_id = s.project_id and c.toolkit = $3 and c.is_enabled
                   and (s.config->'auth_configs'->>$3 is null or c.id = s.config->'auth_configs'->>$3)
                 order by c.created_at desc, c.id desc limit 1
             ) ac on true
             where s.project_id = $1 and s.id = $2 and s.deleted_at is null",
            auth_config_light()
        ))
        .bind(project.0)
        .bind(id.as_str())
        .bind(toolkit.as_str())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let session = rows::session(&row, "s_")?;
        let auth_config = match row.opt_text("id")? {
            Some(_) => Some(rows::auth_config(&row)?),
            None => None,
        };
        Ok(Some((session, auth_config)))
    }

    async fn create_link(&self, project: ProjectId, l: &NewLink) -> StoreResult<AccountRecord> {
        // Written with the links of concurrent requests, in one transaction (group commit).
        self.links
            .submit((project, l.clone()))
            .await
            .unwrap_or_else(|| Err(StoreError::Unavailable(sqlx::Error::PoolClosed)))
    }

    async fn link_by_token(&self, token_hash: &[u8]) -> StoreResult<Option<LinkView>> {
        let Some(link) = sqlx::query(&format!("{LINK_SELECT} where token_hash = $1"))
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let project = ProjectId(link.uuid("project_id")?);
        let account_row = sqlx::query(&format!("{} where a.project_id = $1 and a.id = $2", account_select("now()")))
            .bind(project.0)
            .bind(link.text("connected_account_id")?)
            .fetch_one(&self.pool)
            .await?;
        let auth_config = sqlx::query(&format!("{} where c.project_id = $1 and c.id = $2", auth_config_light()))
            .bind(project.0)
            .bind(account_row.text("auth_config_id")?)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| corrupt("link's auth config is missing"))?;
        Ok(Some(rows::link_view(&link, &account_row, rows::auth_config(&auth_config)?, token_hash)?))
    }

    async fn insert_oauth_state(&self, st: &OAuthStateRecord) -> StoreResult<()> {
        sqlx::query(
            "insert into oauth_state (state_hash, project_id, link_token_hash, connected_account_id, binding_hash,
                                      verifier_sealed, fields_sealed, expires_at)
             values ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&st.state_hash)
        .bind(st.project.0)
        .bind(&st.link_token_hash)
        .bind(st.account_id.as_str())
        .bind(&st.binding_hash)
        .bind(&st.verifier_sealed)
        .bind(&st.fields_sealed)
        .bind(st.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn oauth_state(&self, state_hash: &[u8]) -> StoreResult<Option<OAuthStateRecord>> {
        sqlx::query(&format!("{OAUTH_STATE_SELECT} where state_hash = $1"))
            .bind(state_hash)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(rows::oauth_state)
            .transpose()
    }

    async fn consume_oauth_state(&self, state_hash: &[u8]) -> StoreResult<bool> {
        let done = sqlx::query("update oauth_state set used_at = now() where state_hash = $1 and used_at is null")
            .bind(state_hash)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn complete_link(
        &self,
        project: ProjectId,
        account: &ConnectedAccountId,
        link_token_hash: &[u8],
        tokens_sealed: &str,
        token_expires_at: Option<DateTime<Utc>>,
    ) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        let link = sqlx::query(
            "update link set consumed_at = now()
             where token_hash = $1 and project_id = $2 and connected_account_id = $3 and consumed_at is null
               and expires_at > now()",
        )
        .bind(link_token_hash)
        .bind(project.0)
        .bind(account.as_str())
        .execute(&mut *tx)
        .await?;
        let acc = sqlx::query(
            "update connected_account
             set status = 'ACTIVE', status_reason = null, tokens_sealed = $3, link_url_sealed = null, token_expires_at = $4, updated_at = now()
             where project_id = $1 and id = $2 and status = 'INITIATED' and deleted_at is null",
        )
        .bind(project.0)
        .bind(account.as_str())
        .bind(tokens_sealed)
        .bind(token_expires_at)
        .execute(&mut *tx)
        .await?;
        if link.rows_affected() == 1 && acc.rows_affected() == 1 {
            // The audit entry commits with the completion, or not at all.
            let event = crate::store::credentials_updated(account, "link");
            super::audit::record(&mut tx, project, &event).await?;
            events::emit(&mut tx, project, EventType::Active, account).await?;
            tx.commit().await?;
            Ok(true)
        } else {
            tx.rollback().await?;
            Ok(false)
        }
    }

    async fn create_reconnect_link(&self, project: ProjectId, l: &NewReconnectLink) -> StoreResult<()> {
        sqlx::query(
            "insert into link (token_hash, project_id, connected_account_id, session_id, callback_url, expires_at,
                               reconnect)
             values ($1, $2, $3, $4, $5, $6, true)",
        )
        .bind(&l.token_hash)
        .bind(project.0)
        .bind(l.account_id.as_str())
        .bind(l.session_id.as_ref().map(SessionId::as_str))
        .bind(&l.callback_url)
        .bind(l.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn complete_reconnect(
        &self,
        project: ProjectId,
        account: &ConnectedAccountId,
        link_token_hash: &[u8],
        tokens_sealed: &str,
        token_expires_at: Option<DateTime<Utc>>,
    ) -> StoreResult<Reconnected> {
        let mut tx = self.pool.begin().await?;
        let link = sqlx::query(
            "update link set consumed_at = now()
             where token_hash = $1 and project_id = $2 and connected_account_id = $3 and consumed_at is null
               and expires_at > now() and reconnect",
        )
        .bind(link_token_hash)
        .bind(project.0)
        .bind(account.as_str())
        .execute(&mut *tx)
        .await?;
        let before: Option<String> = sqlx::query_scalar(
            "select status from connected_account where project_id = $1 and id = $2 and deleted_at is null
             for update",
        )
        .bind(project.0)
        .bind(account.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let (1, Some(before)) = (link.rows_affected(), before) else {
            tx.rollback().await?;
            return Ok(Reconnected::Gone);
        };
        let before = AccountStatus::parse(&before).ok_or_else(|| corrupt(&before))?;
        sqlx::query(
            "update connected_account
             set status = 'ACTIVE', status_reason = null, tokens_sealed = $3, token_expires_at = $4,
                 refresh_retry_at = null, refresh_failures = 0, updated_at = now()
             where project_id = $1 and id = $2",
        )
        .bind(project.0)
        .bind(account.as_str())
        .bind(tokens_sealed)
        .bind(token_expires_at)
        .execute(&mut *tx)
        .await?;
        let event = crate::store::credentials_updated(account, "reconnect");
        super::audit::record(&mut tx, project, &event).await?;
        // An INITIATED account here is one whose link ran out (it read EXPIRED when the
        // reconnect was asked for; live initiations are refused then).
        let kind = if matches!(before, AccountStatus::Expired | AccountStatus::Failed | AccountStatus::Initiated) {
            EventType::Recovered
        } else {
            EventType::Active
        };
        events::emit(&mut tx, project, kind, account).await?;
        tx.commit().await?;
        Ok(Reconnected::Done(before))
    }

    async fn fail_link(
        &self,
        project: ProjectId,
        account: &ConnectedAccountId,
        link_token_hash: &[u8],
        reason: &str,
    ) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "update link set consumed_at = coalesce(consumed_at, now())
             where token_hash = $1 and project_id = $2 and connected_account_id = $3",
        )
        .bind(link_token_hash)
        .bind(project.0)
        .bind(account.as_str())
        .execute(&mut *tx)
        .await?;
        let acc = sqlx::query(
            "update connected_account set status = 'FAILED', status_reason = $3, link_url_sealed = null, updated_at = now()
             where project_id = $1 and id = $2 and status = 'INITIATED'",
        )
        .bind(project.0)
        .bind(account.as_str())
        .bind(reason)
        .execute(&mut *tx)
        .await?;
        if acc.rows_affected() == 1 {
            events::emit(&mut tx, project, EventType::Failed, account).await?;
        }
        tx.commit().await?;
        Ok(acc.rows_affected() == 1)
    }
}
