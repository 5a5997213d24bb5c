//! Retention (issue 11 item 4): what authlink stores only for a while. A background task runs
//! [`MaintenanceStore::purge`](crate::store::MaintenanceStore::purge) every
//! `AUTHLINK_RETENTION_INTERVAL_SECS`:
//!
//! - OAuth states and links go `AUTHLINK_RETENTION_LINK_GRACE_SECS` after they were used or
//!   expired. The connected account a link created stays (it is the app's record: an unfinished
//!   one reads EXPIRED, a failed one FAILED).
//! - Soft-deleted sessions and accounts go `AUTHLINK_RETENTION_DELETED_DAYS` after deletion, an
//!   account with its links, states and audit entries. An account's sealed tokens are erased at
//!   once when it is deleted, not at the purge.
//! - Audit entries go `AUTHLINK_RETENTION_AUDIT_DAYS` after they were written.
//! - Webhook events, with their deliveries and attempts, go `AUTHLINK_RETENTION_DELETED_DAYS`
//!   after they were written, unless a delivery is still pending.
//!
//! Deletes run in batches and skip rows another process is deleting, so every authlink process
//! sharing one PostgreSQL may run the task; the work is done once either way.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::{
    service::context::ServiceContext,
    store::{PurgeCounts, RetentionPolicy, Store, StoreResult},
};

/// One retention pass at `now`; what it removed.
pub async fn sweep(store: &dyn Store, policy: &RetentionPolicy, now: DateTime<Utc>) -> StoreResult<PurgeCounts> {
    let counts = store.purge(policy, now).await?;
    if counts.total() > 0 {
        tracing::info!(
            oauth_states = counts.oauth_states,
            links = counts.links,
            sessions = counts.sessions,
            accounts = counts.accounts,
            audit_events = counts.audit_events,
            webhook_events = counts.webhook_events,
            "retention purge"
        );
    }
    Ok(counts)
}

/// Runs [`sweep`] every `every` (the first pass at once), logging failures and carrying on.
pub fn spawn(ctx: &ServiceContext, policy: RetentionPolicy, every: Duration) -> tokio::task::JoinHandle<()> {
    let store = ctx.store.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = sweep(store.as_ref(), &policy, Utc::now()).await {
                tracing::warn!(error = %e, "retention purge failed");
            }
        }
    })
}
