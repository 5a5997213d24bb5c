//! Webhook subscriptions, the event outbox and deliveries: the records the stores read and
//! write, and [`WebhookStore`]. Events themselves are written by the store method that makes the
//! state change, in its transaction (`postgres/events.rs`, `sqlite/events.rs`), never here.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{Page, ProjectId, StoreResult};
use crate::domain::{ConnectedAccountId, EventType, WebhookSubscriptionId};

/// A stored subscription; the secrets stay sealed (with the subscription id as associated data).
#[derive(Debug, Clone)]
pub struct SubscriptionRecord {
    pub id: WebhookSubscriptionId,
    pub webhook_url: String,
    pub version: String,
    pub enabled_events: Vec<String>,
    pub secret_sealed: String,
    /// The secret before the last rotation, still signed with until `previous_secret_until`.
    pub previous_secret_sealed: Option<String>,
    pub previous_secret_until: Option<DateTime<Utc>>,
    /// First failed attempt since the last success.
    pub failing_since: Option<DateTime<Utc>>,
    pub disabled_at: Option<DateTime<Utc>>,
    pub disabled_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What creating a subscription writes.
#[derive(Debug, Clone)]
pub struct NewSubscription {
    pub id: WebhookSubscriptionId,
    pub webhook_url: String,
    pub version: String,
    pub enabled_events: Vec<String>,
    pub secret_sealed: String,
}

/// Changes to a subscription; `None` leaves a field as it is. `enable` clears a disabling
/// (and the failure streak that caused it).
#[derive(Debug, Clone, Default)]
pub struct SubscriptionPatch {
    pub webhook_url: Option<String>,
    pub version: Option<String>,
    pub enabled_events: Option<Vec<String>>,
    pub enable: bool,
}

/// One event of the outbox: the account as it was right after the change.
#[derive(Debug, Clone)]
pub struct EventRecord {
    /// `msg_…`: the payload's `id` and the `webhook-id` of every attempt.
    pub id: String,
    pub event_type: String,
    pub account_id: String,
    pub user_id: String,
    pub toolkit: String,
    pub auth_config_id: String,
    pub auth_scheme: String,
    pub is_composio_managed: bool,
    pub status: String,
    pub status_reason: Option<String>,
    pub is_disabled: bool,
    pub account_created_at: DateTime<Utc>,
    pub account_updated_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

/// A delivery a worker claimed: everything one attempt needs.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    pub id: i64,
    pub project: ProjectId,
    /// This attempt's number (1 for the first).
    pub attempt: i64,
    pub created_at: DateTime<Utc>,
    pub event: EventRecord,
    pub subscription: SubscriptionRecord,
}

/// How an attempt ended and what comes next.
#[derive(Debug, Clone)]
pub struct AttemptResult {
    pub delivery_id: i64,
    pub subscription_id: WebhookSubscriptionId,
    pub attempt: i64,
    pub started_at: DateTime<Utc>,
    pub duration_ms: i64,
    pub response_status: Option<i64>,
    /// Why it failed (never a response body); `None` on success.
    pub error: Option<String>,
    pub next: NextStep,
    /// A subscription failing since before this is disabled (now minus the horizon).
    pub disable_failing_since: DateTime<Utc>,
}

/// What a delivery does after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextStep {
    Delivered,
    RetryAt(DateTime<Utc>),
    /// Past the horizon: FAILED for good (a replay can still send it).
    GiveUp,
}

/// One recorded attempt.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    pub attempt: i64,
    pub started_at: DateTime<Utc>,
    pub duration_ms: i64,
    pub response_status: Option<i64>,
    pub error: Option<String>,
    pub success: bool,
}

/// A delivery with its attempts, as listed.
#[derive(Debug, Clone)]
pub struct DeliveryRecord {
    pub id: i64,
    pub event_id: String,
    pub event_type: String,
    pub connected_account_id: String,
    pub state: String,
    pub attempts: Vec<AttemptRecord>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// Subscriptions, deliveries and the background workers' bookkeeping.
#[async_trait]
pub trait WebhookStore: Send + Sync {
    async fn insert_subscription(&self, project: ProjectId, new: &NewSubscription) -> StoreResult<SubscriptionRecord>;
    async fn subscription(
        &self,
        project: ProjectId,
        id: &WebhookSubscriptionId,
    ) -> StoreResult<Option<SubscriptionRecord>>;
    /// Newest first.
    async fn list_subscriptions(&self, project: ProjectId) -> StoreResult<Vec<SubscriptionRecord>>;
    async fn count_subscriptions(&self, project: ProjectId) -> StoreResult<i64>;
    async fn update_subscription(
        &self,
        project: ProjectId,
        id: &WebhookSubscriptionId,
        patch: &SubscriptionPatch,
    ) -> StoreResult<Option<SubscriptionRecord>>;
    /// Deletes the subscription with its deliveries; `false` when there was none.
    async fn delete_subscription(&self, project: ProjectId, id: &WebhookSubscriptionId) -> StoreResult<bool>;
    /// Makes `new_sealed` the secret; the current one becomes the previous one, valid until
    /// `previous_until`.
    async fn rotate_subscription_secret(
        &self,
        project: ProjectId,
        id: &WebhookSubscriptionId,
        new_sealed: &str,
        previous_until: DateTime<Utc>,
    ) -> StoreResult<Option<SubscriptionRecord>>;
    /// Claims up to `limit` due deliveries of enabled subscriptions for `lease`: each is
    /// claimed by one worker (PostgreSQL: `for update skip locked`; SQLite: one writer), its
    /// attempt counter moved on, and it falls due again when the lease runs out unfinished.
    async fn claim_deliveries(&self, limit: i64, lease: chrono::Duration) -> StoreResult<Vec<ClaimedDelivery>>;
    /// Records an attempt and moves the delivery (and its subscription's failure streak) on, in
    /// one transaction; nothing changes if another worker has claimed the delivery since.
    async fn finish_attempt(&self, result: &AttemptResult) -> StoreResult<()>;
    /// The subscription's deliveries with their attempts, newest first; `before` is the last
    /// delivery id of the previous page.
    async fn list_deliveries(
        &self,
        project: ProjectId,
        id: &WebhookSubscriptionId,
        limit: i64,
        before: Option<i64>,
    ) -> StoreResult<Page<DeliveryRecord>>;
    /// Sends a delivery again (same `webhook-id`): PENDING and due now. `None` when unknown.
    async fn replay_delivery(&self, project: ProjectId, delivery: i64) -> StoreResult<Option<DeliveryRecord>>;
    /// Takes (or renews) the named singleton lease for `owner` until `now + ttl`; `false` while
    /// another owner holds it.
    async fn take_worker_lease(&self, name: &str, owner: &str, ttl: chrono::Duration) -> StoreResult<bool>;
    /// ACTIVE accounts whose tokens expire before `before` and that are not waiting out a
    /// backoff, soonest first.
    async fn accounts_due_for_refresh(
        &self,
        before: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<(ProjectId, ConnectedAccountId)>>;
    /// After a transient refresh failure: not before `until` again; counts the failure.
    async fn defer_refresh(&self, project: ProjectId, id: &ConnectedAccountId, until: DateTime<Utc>)
    -> StoreResult<()>;
}

/// The event types a subscription asks for, checked against [`EventType::ALL`] by the service.
pub fn wants(subscription: &SubscriptionRecord, event: EventType) -> bool {
    subscription.enabled_events.iter().any(|e| e == event.as_str())
}

/// A fresh event id, `msg_` and a random UUID: the payload's `id` and every attempt's
/// `webhook-id`.
pub fn new_event_id() -> String {
    format!("msg_{}", uuid::Uuid::new_v4())
}

/// The `disabled_reason` of a subscription whose every attempt failed for the whole horizon.
pub const DISABLED_REASON: &str =
    "Disabled: every delivery attempt failed for the whole delivery horizon (AUTHLINK_WEBHOOK_HORIZON_SECS)";
