//! The outbox on PostgreSQL: [`emit`] writes an event, and one delivery per enabled
//! subscription that wants it, inside the caller's transaction, from the account row as the
//! transaction sees it (after its change). The change and its event commit together or not at
//! all. An event no enabled subscription wants is not written at all (nobody could receive it;
//! a subscription made later starts with later events). To report a new state change: `events::emit(&mut tx, project, EventType::X, &id).await?`
//! after the change's statements, before the commit. A single-statement write (link creation)
//! splices [`ctes`] into its own `with` instead, to stay one round trip.

use crate::{
    domain::{ConnectedAccountId, EventType},
    store::{ProjectId, StoreResult, new_event_id},
};

/// The `ev` and `ev_deliveries` common table expressions (to follow other CTEs after a comma)
/// writing one event per row of `accounts` (a from-list of `connected_account` rows aliased `a`,
/// possibly joined with other inputs) and its deliveries; `event_id` and `event_type` are SQL
/// expressions (parameters, or a column of `accounts` when each row has its own id). Each event
/// goes to the subscriptions of its own account's project, so one statement may write the events
/// of several projects (a group commit's batch).
pub(crate) fn ctes(accounts: &str, event_id: &str, event_type: &str) -> String {
    format!(
        "ev as (
             insert into webhook_event (id, project_id, event_type, connected_account_id, user_id, toolkit,
                                        auth_config_id, auth_scheme, is_composio_managed, status, status_reason,
                                        is_disabled, account_created_at, account_updated_at)
             select {event_id}, a.project_id, {event_type}, a.id, a.user_id, a.toolkit, a.auth_config_id,
                    c.auth_scheme, c.is_composio_managed, a.status, a.status_reason, a.is_disabled, a.created_at,
                    a.updated_at
             from {accounts} join auth_config c on c.id = a.auth_config_id
             -- only when some enabled subscription wants it: no outbox row nobody would receive
             where exists (select 1 from webhook_subscription w
                           where w.project_id = a.project_id and w.disabled_at is null
                             and {event_type} = any(w.enabled_events))
             returning id, project_id
         ), ev_deliveries as (
             insert into webhook_delivery (event_id, subscription_id, project_id)
             select ev.id, s.id, s.project_id from ev join webhook_subscription s on s.project_id = ev.project_id
             where s.disabled_at is null and {event_type} = any(s.enabled_events)
         )"
    )
}

/// Writes the event and its deliveries in `conn`'s transaction. An account that is not there
/// (a concurrent purge) emits nothing.
pub(crate) async fn emit(
    conn: &mut sqlx::PgConnection,
    project: ProjectId,
    event: EventType,
    account: &ConnectedAccountId,
) -> StoreResult<()> {
    let accounts = "(select * from connected_account where project_id = $1 and id = $2) a";
    sqlx::query(&format!("with {} select 1", ctes(accounts, "$3", "$4")))
        .bind(project.0)
        .bind(account.as_str())
        .bind(new_event_id())
        .bind(event.as_str())
        .execute(conn)
        .await?;
    Ok(())
}
