//! Row parsing of the webhook tables, shared by both backends (see `rows.rs`).

use super::{
    AttemptRecord, ClaimedDelivery, DeliveryRecord, EventRecord, ProjectId, StoreResult, SubscriptionRecord,
    error::corrupt, rows::Columns,
};
use crate::domain::WebhookSubscriptionId;

pub(crate) const SUBSCRIPTION_COLUMNS: &str = "s.id, s.webhook_url, s.version, s.enabled_events, s.secret_sealed,
        s.previous_secret_sealed, s.previous_secret_until, s.failing_since, s.disabled_at, s.disabled_reason,
        s.created_at, s.updated_at";

pub(crate) const EVENT_COLUMNS: &str = "e.id as event_id, e.event_type, e.connected_account_id, e.user_id, e.toolkit,
        e.auth_config_id, e.auth_scheme, e.is_composio_managed, e.status, e.status_reason, e.is_disabled,
        e.account_created_at, e.account_updated_at, e.created_at as event_created_at";

pub(crate) fn subscription(row: &impl Columns) -> StoreResult<SubscriptionRecord> {
    Ok(SubscriptionRecord {
        id: WebhookSubscriptionId::parse(&row.text("id")?).map_err(corrupt)?,
        webhook_url: row.text("webhook_url")?,
        version: row.text("version")?,
        enabled_events: row.strings("enabled_events")?,
        secret_sealed: row.text("secret_sealed")?,
        previous_secret_sealed: row.opt_text("previous_secret_sealed")?,
        previous_secret_until: row.opt_time("previous_secret_until")?,
        failing_since: row.opt_time("failing_since")?,
        disabled_at: row.opt_time("disabled_at")?,
        disabled_reason: row.opt_text("disabled_reason")?,
        created_at: row.time("created_at")?,
        updated_at: row.time("updated_at")?,
    })
}

pub(crate) fn event(row: &impl Columns) -> StoreResult<EventRecord> {
    Ok(EventRecord {
        id: row.text("event_id")?,
        event_type: row.text("event_type")?,
        account_id: row.text("connected_account_id")?,
        user_id: row.text("user_id")?,
        toolkit: row.text("toolkit")?,
        auth_config_id: row.text("auth_config_id")?,
        auth_scheme: row.text("auth_scheme")?,
        is_composio_managed: row.flag("is_composio_managed")?,
        status: row.text("status")?,
        status_reason: row.opt_text("status_reason")?,
        is_disabled: row.flag("is_disabled")?,
        account_created_at: row.time("account_created_at")?,
        account_updated_at: row.time("account_updated_at")?,
        created_at: row.time("event_created_at")?,
    })
}

/// A claimed delivery: `d.id as delivery_id, d.project_id, d.attempts, d.created_at as
/// delivery_created_at`, the event's and the subscription's columns.
pub(crate) fn claimed(row: &impl Columns) -> StoreResult<ClaimedDelivery> {
    Ok(ClaimedDelivery {
        id: row.int("delivery_id")?,
        project: ProjectId(row.uuid("project_id")?),
        attempt: row.int("attempts")?,
        created_at: row.time("delivery_created_at")?,
        event: event(row)?,
        subscription: subscription(row)?,
    })
}

pub(crate) const DELIVERY_COLUMNS: &str = "d.id, d.event_id, e.event_type, e.connected_account_id, d.state,
        d.next_attempt_at, d.last_error, d.delivered_at, d.created_at";

pub(crate) fn delivery(row: &impl Columns) -> StoreResult<DeliveryRecord> {
    let state = row.text("state")?;
    Ok(DeliveryRecord {
        id: row.int("id")?,
        event_id: row.text("event_id")?,
        event_type: row.text("event_type")?,
        connected_account_id: row.text("connected_account_id")?,
        next_attempt_at: if state == "PENDING" { Some(row.time("next_attempt_at")?) } else { None },
        state,
        attempts: Vec::new(),
        last_error: row.opt_text("last_error")?,
        delivered_at: row.opt_time("delivered_at")?,
        created_at: row.time("created_at")?,
    })
}

pub(crate) const ATTEMPT_COLUMNS: &str =
    "delivery_id, attempt, started_at, duration_ms, response_status, error, success";

/// An attempt row and the delivery it belongs to.
pub(crate) fn attempt(row: &impl Columns) -> StoreResult<(i64, AttemptRecord)> {
    Ok((
        row.int("delivery_id")?,
        AttemptRecord {
            attempt: row.int("attempt")?,
            started_at: row.time("started_at")?,
            duration_ms: row.int("duration_ms")?,
            response_status: row.opt_int("response_status")?,
            error: row.opt_text("error")?,
            success: row.flag("success")?,
        },
    ))
}

/// Puts each attempt under its delivery (attempts in order).
pub(crate) fn attach(deliveries: &mut [DeliveryRecord], attempts: Vec<(i64, AttemptRecord)>) {
    for (id, a) in attempts {
        if let Some(d) = deliveries.iter_mut().find(|d| d.id == id) {
            d.attempts.push(a);
        }
    }
}
