//! The outbox on SQLite; see `postgres/events.rs`. [`emit`] writes the event and one delivery
//! per enabled subscription that wants it inside the caller's (write) transaction:
//! `events::emit(&mut tx, project, EventType::X, &id, &now).await?` after the change.

use crate::{
    domain::{ConnectedAccountId, EventType},
    store::{ProjectId, StoreResult, new_event_id},
};

/// Writes the event and its deliveries in `conn`'s transaction; `now` is the operation's time.
pub(crate) async fn emit(
    conn: &mut sqlx::SqliteConnection,
    project: ProjectId,
    event: EventType,
    account: &ConnectedAccountId,
    now: &str,
) -> StoreResult<()> {
    let id = new_event_id();
    let written = sqlx::query(
        "insert into webhook_event (id, project_id, event_type, connected_account_id, user_id, toolkit,
                                    auth_config_id, auth_scheme, is_composio_managed, status, status_reason,
                                    is_disabled, account_created_at, account_updated_at, created_at)
         select $3, a.project_id, $4, a.id, a.user_id, a.toolkit, a.auth_config_id, c.auth_scheme,
                c.is_composio_managed, a.status, a.status_reason, a.is_disabled, a.created_at, a.updated_at, $5
         from connected_account a join auth_config c on c.id = a.auth_config_id
         where a.project_id = $1 and a.id = $2
           and exists (select 1 from webhook_subscription w
                       where w.project_id = $1 and w.disabled_at is null
                         and exists (select 1 from json_each(w.enabled_events) where value = $4))",
    )
    .bind(project.0.to_string())
    .bind(account.as_str())
    .bind(&id)
    .bind(event.as_str())
    .bind(now)
    .execute(&mut *conn)
    .await?;
    if written.rows_affected() == 0 {
        return Ok(());
    }
    sqlx::query(
        "insert into webhook_delivery (event_id, subscription_id, project_id, next_attempt_at, created_at)
         select $2, s.id, s.project_id, $4, $4 from webhook_subscription s
         where s.project_id = $1 and s.disabled_at is null
           and exists (select 1 from json_each(s.enabled_events) where value = $3)",
    )
    .bind(project.0.to_string())
    .bind(&id)
    .bind(event.as_str())
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
