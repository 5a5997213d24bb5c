//! Background refresh (issue 14 item 4): tokens that expire within `ahead` are refreshed before
//! a request needs them, so reads almost never wait on a provider, and a dead grant is found by
//! authlink (EXPIRED, with `refresh_failed` and `expired` events) before an agent finds it.
//!
//! One sweeper at a time across processes: each pass first takes the `refresh_sweeper` worker
//! lease (a row in `worker_lease`, renewed by its holder, taken over when it lapses). Each
//! account is refreshed under the per-account refresh lease ([`tokens::refresh_ahead`]).
//! Transient provider errors leave the account ACTIVE and push its next try back with jittered
//! exponential backoff (`refresh_retry_at`).

use std::{sync::Arc, time::Duration};

use chrono::Utc;
use rand::Rng;

use super::tokens::{self, AheadOutcome};
use crate::{service::context::ServiceContext, store::StoreResult};

/// The name of the sweeper's row in `worker_lease`.
pub const LEASE_NAME: &str = "refresh_sweeper";

/// The sweeper's settings (`AUTHLINK_REFRESH_AHEAD_SECS`, `AUTHLINK_REFRESH_INTERVAL_SECS`).
#[derive(Debug, Clone, Copy)]
pub struct RefreshSettings {
    /// Tokens expiring within this window are refreshed.
    pub ahead: Duration,
    /// Time between passes.
    pub interval: Duration,
    /// Accounts per pass at most.
    pub batch: i64,
    /// Pause after a transient failure (jittered 50–100 %).
    pub retry_after: Duration,
}

impl Default for RefreshSettings {
    fn default() -> Self {
        Self {
            ahead: Duration::from_secs(600),
            interval: Duration::from_secs(30),
            batch: 100,
            retry_after: Duration::from_secs(60),
        }
    }
}

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepCounts {
    /// `false` when another process holds the sweeper lease (nothing was done).
    pub ran: bool,
    pub refreshed: usize,
    pub expired: usize,
    pub deferred: usize,
}

/// One pass as `owner` (a per-process id).
pub async fn sweep_once(ctx: &ServiceContext, settings: &RefreshSettings, owner: &str) -> StoreResult<SweepCounts> {
    let ttl = chrono::Duration::from_std(settings.interval * 3).unwrap_or(chrono::Duration::minutes(5));
    if !ctx.store.take_worker_lease(LEASE_NAME, owner, ttl).await? {
        return Ok(SweepCounts::default());
    }
    let mut counts = SweepCounts { ran: true, ..SweepCounts::default() };
    let ahead = chrono::Duration::from_std(settings.ahead).unwrap_or(chrono::Duration::minutes(10));
    let before = Utc::now() + ahead;
    for (project, id) in ctx.store.accounts_due_for_refresh(before, settings.batch).await? {
        let outcome = match tokens::refresh_ahead(ctx, project, &id, before).await {
            Ok(outcome) => outcome,
            Err(e) => AheadOutcome::Transient(e.to_string()),
        };
        match outcome {
            AheadOutcome::Refreshed => counts.refreshed += 1,
            AheadOutcome::Expired => counts.expired += 1,
            AheadOutcome::Skipped => {}
            AheadOutcome::NoRefreshToken => {
                // Nothing to refresh with: look again only after the token has run out.
                ctx.store.defer_refresh(project, &id, before + ahead).await?;
            }
            AheadOutcome::Transient(_) => {
                let pause = settings.retry_after.mul_f64(rand::thread_rng().gen_range(0.5..=1.0));
                let until = Utc::now() + chrono::Duration::from_std(pause).unwrap_or(chrono::Duration::minutes(1));
                ctx.store.defer_refresh(project, &id, until).await?;
                counts.deferred += 1;
            }
        }
    }
    Ok(counts)
}

/// Runs [`sweep_once`] every `interval` until aborted.
pub fn spawn(ctx: Arc<ServiceContext>, settings: RefreshSettings) -> tokio::task::JoinHandle<()> {
    let owner = uuid::Uuid::new_v4().to_string();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(settings.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match sweep_once(&ctx, &settings, &owner).await {
                Ok(c) if c.refreshed + c.expired + c.deferred > 0 => {
                    tracing::info!(
                        refreshed = c.refreshed,
                        expired = c.expired,
                        deferred = c.deferred,
                        "refresh sweep"
                    );
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "refresh sweep failed"),
            }
        }
    })
}
