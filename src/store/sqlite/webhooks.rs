//! Webhook subscriptions and deliveries on SQLite; see `postgres/webhooks.rs`. SQLite has one
//! writer at a time: a claim is one `BEGIN IMMEDIATE` transaction that moves the claimed
//! deliveries' `next_attempt_at` past the attempt, so two workers (or two processes on one
//! file) never claim the same delivery.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{SqliteStore, json_list, ts};
use crate::{
    domain::{ConnectedAccountId, WebhookSubscriptionId},
    store::{
        AttemptResult, ClaimedDelivery, DeliveryRecord, NewSubscription, NextStep, Page, ProjectId, StoreResult,
        SubscriptionPatch, SubscriptionRecord, WebhookStore,
        error::corrupt,
        webhook_rows::{self, ATTEMPT_COLUMNS, DELIVERY_COLUMNS, EVENT_COLUMNS, SUBSCRIPTION_COLUMNS},
    },
};

fn sub_select() -> String {
    format!("select {SUBSCRIPTION_COLUMNS} from webhook_subscription s")
}

impl SqliteStore {
    async fn subscription_by_id(&self, project: ProjectId, id: &str) -> StoreResult<Option<SubscriptionRecord>> {
        sqlx::query(&format!("{} where s.project_id = $1 and s.id = $2", sub_select()))
            .bind(project.0.to_string())
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(webhook_rows::subscription)
            .transpose()
    }
}

#[async_trait]
impl WebhookStore for SqliteStore {
    async fn insert_subscription(&self, project: ProjectId, new: &NewSubscription) -> StoreResult<SubscriptionRecord> {
        let now = ts(Utc::now());
        sqlx::query(
            "insert into webhook_subscription (id, project_id, webhook_url, version, enabled_events, secret_sealed,
                                               created_at, updated_at)
             values ($1, $2, $3, $4, $5, $6, $7, $7)",
        )
        .bind(new.id.as_str())
        .bind(project.0.to_string())
        .bind(&new.webhook_url)
        .bind(&new.version)
        .bind(json_list(&new.enabled_events))
        .bind(&new.secret_sealed)
        .bind(&now)
        .execute(&self.pool)
        .await?;
        self.subscription_by_id(project, new.id.as_str())
            .await?
            .ok_or_else(|| corrupt("inserted subscription vanished"))
    }

    async fn subscription(
        &self,
        project: ProjectId,
        id: &WebhookSubscriptionId,
    ) -> StoreResult<Option<SubscriptionRecord>> {
        self.subscription_by_id(project, id.as_str()).await
    }

    async fn list_subscriptions(&self, project: ProjectId) -> StoreResult<Vec<SubscriptionRecord>> {
        let rows =
            sqlx::query(&format!("{} where s.project_id = $1 order by s.created_at desc, s.id desc", sub_select()))
                .bind(project.0.to_string())
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(webhook_rows::subscription).collect()
    }

    async fn count_subscriptions(&self, project: ProjectId) -> StoreResult<i64> {
        Ok(sqlx::query_scalar("select count(*) from webhook_subscription where project_id = $1")
            .bind(project.0.to_string())
            .fetch_one(&self.pool)
            .await?)
    }

    async fn update_subscription(
        &self,
        project: ProjectId,
        id: &WebhookSubscriptionId,
        patch: &SubscriptionPatch,
    ) -> StoreResult<Option<SubscriptionRecord>> {
        let done = sqlx::query(
            "update webhook_subscription set
                 webhook_url = coalesce($3, webhook_url),
                 version = coalesce($4, version),
                 enabled_events = coalesce($5, enabled_events),
                 disabled_at = case when $6 then null else disabled_at end,
                 disabled_reason = case when $6 then null else disabled_reason end,
                 failing_since = case when $6 then null else failing_since end,
                 updated_at = $7
             where project_id = $1 and id = $2",
        )
        .bind(project.0.to_string())
        .bind(id.as_str())
        .bind(&patch.webhook_url)
        .bind(&patch.version)
        .bind(patch.enabled_events.as_deref().map(json_list))
        .bind(patch.enable)
        .bind(ts(Utc::now()))
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        self.subscription_by_id(project, id.as_str()).await
    }

    async fn delete_subscription(&self, project: ProjectId, id: &WebhookSubscriptionId) -> StoreResult<bool> {
        let done = sqlx::query("delete from webhook_subscription where project_id = $1 and id = $2")
            .bind(project.0.to_string())
            .bind(id.as_str())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn rotate_subscription_secret(
        &self,
        project: ProjectId,
        id: &WebhookSubscriptionId,
        new_sealed: &str,
        previous_until: DateTime<Utc>,
    ) -> StoreResult<Option<SubscriptionRecord>> {
        let done = sqlx::query(
            "update webhook_subscription set previous_secret_sealed = secret_sealed, secret_sealed = $3,
                    previous_secret_until = $4, updated_at = $5
             where project_id = $1 and id = $2",
        )
        .bind(project.0.to_string())
        .bind(id.as_str())
        .bind(new_sealed)
        .bind(ts(previous_until))
        .bind(ts(Utc::now()))
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        self.subscription_by_id(project, id.as_str()).await
    }

    async fn claim_deliveries(&self, limit: i64, lease: chrono::Duration) -> StoreResult<Vec<ClaimedDelivery>> {
        let now = Utc::now();
        let mut tx = self.begin_write().await?;
        let ids: Vec<i64> = sqlx::query_scalar(
            "update webhook_delivery set attempts = attempts + 1, next_attempt_at = $3
             where id in (
                 select d.id from webhook_delivery d
                 join webhook_subscription s on s.id = d.subscription_id and s.disabled_at is null
                 where d.state = 'PENDING' and d.next_attempt_at <= $2
                 order by d.next_attempt_at limit $1)
             returning id",
        )
        .bind(limit)
        .bind(ts(now))
        .bind(ts(now + lease))
        .fetch_all(&mut *tx)
        .await?;
        let rows = sqlx::query(&format!(
            "select d.id as delivery_id, d.project_id, d.attempts, d.created_at as delivery_created_at,
                    {EVENT_COLUMNS}, {SUBSCRIPTION_COLUMNS}
             from webhook_delivery d join webhook_event e on e.id = d.event_id
             join webhook_subscription s on s.id = d.subscription_id
             where d.id in (select value from json_each($1))
             order by d.id"
        ))
        .bind(serde_json::Value::from(ids).to_string())
        .fetch_all(&mut *tx)
        .await?;
        let claimed = rows.iter().map(webhook_rows::claimed).collect::<StoreResult<Vec<_>>>()?;
        tx.commit().await?;
        Ok(claimed)
    }

    async fn finish_attempt(&self, r: &AttemptResult) -> StoreResult<()> {
        let now = ts(Utc::now());
        let mut tx = self.begin_write().await?;
        let (state, next_at) = match r.next {
            NextStep::Delivered => ("DELIVERED", None),
            NextStep::RetryAt(at) => ("PENDING", Some(ts(at))),
            NextStep::GiveUp => ("FAILED", None),
        };
        let moved = sqlx::query(
            "update webhook_delivery set state = $3, next_attempt_at = coalesce($4, next_attempt_at),
                    last_error = $5, delivered_at = case when $3 = 'DELIVERED' then $6 else delivered_at end
             where id = $1 and attempts = $2 and state = 'PENDING'",
        )
        .bind(r.delivery_id)
        .bind(r.attempt)
        .bind(state)
        .bind(next_at)
        .bind(&r.error)
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        if moved.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(());
        }
        sqlx::query(
            "insert into webhook_attempt (delivery_id, attempt, started_at, duration_ms, response_status, error, success)
             values ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(r.delivery_id)
        .bind(r.attempt)
        .bind(ts(r.started_at))
        .bind(r.duration_ms)
        .bind(r.response_status)
        .bind(&r.error)
        .bind(r.next == NextStep::Delivered)
        .execute(&mut *tx)
        .await?;
        if r.next == NextStep::Delivered {
            sqlx::query(
                "update webhook_subscription set failing_since = null where id = $1 and failing_since is not null",
            )
            .bind(r.subscription_id.as_str())
            .execute(&mut *tx)
            .await?;
        } else {
            sqlx::query(
                "update webhook_subscription set
                        disabled_at = case when disabled_at is null and coalesce(failing_since, $2) <= $3
                                           then $5 else disabled_at end,
                        disabled_reason = case when disabled_at is null and coalesce(failing_since, $2) <= $3
                                               then $4 else disabled_reason end,
                        failing_since = coalesce(failing_since, $2)
                 where id = $1",
            )
            .bind(r.subscription_id.as_str())
            .bind(ts(r.started_at))
            .bind(ts(r.disable_failing_since))
            .bind(crate::store::DISABLED_REASON)
            .bind(&now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn list_deliveries(
        &self,
        project: ProjectId,
        id: &WebhookSubscriptionId,
        limit: i64,
        before: Option<i64>,
    ) -> StoreResult<Page<DeliveryRecord>> {
        let total: i64 =
            sqlx::query_scalar("select count(*) from webhook_delivery where project_id = $1 and subscription_id = $2")
                .bind(project.0.to_string())
                .bind(id.as_str())
                .fetch_one(&self.pool)
                .await?;
        let rows = sqlx::query(&format!(
            "select {DELIVERY_COLUMNS} from webhook_delivery d join webhook_event e on e.id = d.event_id
             where d.project_id = $1 and d.subscription_id = $2 and ($3 is null or d.id < $3)
             order by d.id desc limit $4"
        ))
        .bind(project.0.to_string())
        .bind(id.as_str())
        .bind(before)
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await?;
        let mut items = rows.iter().map(webhook_rows::delivery).collect::<StoreResult<Vec<_>>>()?;
        let ids: Vec<i64> = items.iter().map(|d| d.id).collect();
        let attempts = sqlx::query(&format!(
            "select {ATTEMPT_COLUMNS} from webhook_attempt where delivery_id in (select value from json_each($1))
             order by delivery_id, attempt, id"
        ))
        .bind(serde_json::Value::from(ids).to_string())
        .fetch_all(&self.pool)
        .await?;
        let attempts = attempts.iter().map(webhook_rows::attempt).collect::<StoreResult<Vec<_>>>()?;
        webhook_rows::attach(&mut items, attempts);
        let after = before.map(|b| crate::store::Cursor { page: 1, at: Utc::now(), id: b.to_string() });
        Ok(Page::from_rows(items, limit, total, after.as_ref(), |d| (d.created_at, d.id.to_string())))
    }

    async fn replay_delivery(&self, project: ProjectId, delivery: i64) -> StoreResult<Option<DeliveryRecord>> {
        let done: Option<String> = sqlx::query_scalar(
            "update webhook_delivery set state = 'PENDING', next_attempt_at = $3
             where project_id = $1 and id = $2
             returning subscription_id",
        )
        .bind(project.0.to_string())
        .bind(delivery)
        .bind(ts(Utc::now()))
        .fetch_optional(&self.pool)
        .await?;
        let Some(subscription) = done else { return Ok(None) };
        let id = WebhookSubscriptionId::parse(&subscription).map_err(corrupt)?;
        let page = self.list_deliveries(project, &id, 1, Some(delivery + 1)).await?;
        page.items.into_iter().next().map(Some).ok_or_else(|| corrupt("replayed delivery vanished"))
    }

    async fn take_worker_lease(&self, name: &str, owner: &str, ttl: chrono::Duration) -> StoreResult<bool> {
        let now = Utc::now();
        let done = sqlx::query(
            "update worker_lease set owner = $2, lease_until = $3
             where name = $1 and (owner = $2 or lease_until is null or lease_until < $4)",
        )
        .bind(name)
        .bind(owner)
        .bind(ts(now + ttl))
        .bind(ts(now))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn accounts_due_for_refresh(
        &self,
        before: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<(ProjectId, ConnectedAccountId)>> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "select project_id, id from connected_account
             where status = 'ACTIVE' and deleted_at is null and token_expires_at is not null
               and token_expires_at < $1 and (refresh_retry_at is null or refresh_retry_at <= $3)
             order by token_expires_at limit $2",
        )
        .bind(ts(before))
        .bind(limit)
        .bind(ts(Utc::now()))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(p, id)| {
                let project = uuid::Uuid::parse_str(&p).map_err(corrupt)?;
                Ok((ProjectId(project), ConnectedAccountId::parse(&id).map_err(corrupt)?))
            })
            .collect()
    }

    async fn defer_refresh(
        &self,
        project: ProjectId,
        id: &ConnectedAccountId,
        until: DateTime<Utc>,
    ) -> StoreResult<()> {
        sqlx::query(
            "update connected_account set refresh_retry_at = $3, refresh_failures = refresh_failures + 1
             where project_id = $1 and id = $2",
        )
        .bind(project.0.to_string())
        .bind(id.as_str())
        .bind(ts(until))
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
