//! The refresh lock on SQLite. SQLite locks the whole database for writing, and a refresh spans
//! a provider call of up to 15 s: far too long to hold that lock (it would stall every other
//! writer past the busy timeout). So a refresh takes a per-account lease instead
//! (`refresh_lease_owner`/`refresh_lease_until`, see `migrations/sqlite/…_refresh_lease.sql`) in
//! one short statement, waits by polling while another holder has it, and releases it with the
//! save. A lease its holder never releases (a crash) lapses after [`LEASE_TTL`].

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use sqlx::Sqlite;
use uuid::Uuid;

use super::{BEGIN_WRITE, audit, ts};
use crate::{
    domain::{ConnectedAccountId, EventType},
    store::{
        AccountRecord, AuditEvent, ProjectId, RefreshLease, StoreError, StoreResult, account_expired,
        credentials_updated, rows, rows::account_select,
    },
};

/// How long a lease lasts if its holder never releases it (a crash): longer than the provider
/// call it covers (15 s at most).
const LEASE_TTL: TimeDelta = TimeDelta::seconds(30);

/// How long a reader waits for another's refresh of the same account before giving up.
const LEASE_WAIT: Duration = Duration::from_secs(20);

/// Takes the account's lease, polling while another holder has it (up to [`LEASE_WAIT`]).
pub(super) async fn begin(
    pool: &crate::store::counted::CountedPool<sqlx::Sqlite>,
    project: ProjectId,
    id: &ConnectedAccountId,
) -> StoreResult<Option<Box<dyn RefreshLease>>> {
    // A lease on the account row, not the write lock: see migrations/sqlite/…_refresh_lease.sql.
    let owner = Uuid::new_v4().to_string();
    let deadline = tokio::time::Instant::now() + LEASE_WAIT;
    let mut pause = Duration::from_millis(10);
    loop {
        let now = Utc::now();
        let until = now + LEASE_TTL;
        let taken = sqlx::query(
            "update connected_account set refresh_lease_owner = $3, refresh_lease_until = $4
                 where project_id = $1 and id = $2 and deleted_at is null
                   and (refresh_lease_until is null or refresh_lease_until < $5)",
        )
        .bind(project.0.to_string())
        .bind(id.as_str())
        .bind(&owner)
        .bind(ts(until))
        .bind(ts(now))
        .execute(pool)
        .await?
        .rows_affected();
        if taken == 1 {
            break;
        }
        let exists: bool = sqlx::query_scalar(
            "select exists (select 1 from connected_account
                                where project_id = $1 and id = $2 and deleted_at is null)",
        )
        .bind(project.0.to_string())
        .bind(id.as_str())
        .fetch_one(pool)
        .await?;
        if !exists {
            return Ok(None);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(StoreError::Unavailable(sqlx::Error::PoolTimedOut));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(100));
    }
    // Armed from here on: an error reading the account releases the lease at once.
    let guard = LeaseGuard { pool: pool.clone(), project, id: id.clone(), owner, armed: true };
    let row = sqlx::query(&format!(
        "{} where a.project_id = $1 and a.id = $2 and a.deleted_at is null",
        account_select("$3")
    ))
    .bind(project.0.to_string())
    .bind(id.as_str())
    .bind(ts(Utc::now()))
    .fetch_one(pool)
    .await?;
    let account = rows::account(&row)?;
    Ok(Some(Box::new(SqliteRefreshLease { guard, account })))
}

/// A taken lease on one account; dropping it without `save` or `expire` releases it.
struct SqliteRefreshLease {
    guard: LeaseGuard,
    account: AccountRecord,
}

/// Releases the lease when dropped, unless `save` or `expire` already did (`armed` false).
struct LeaseGuard {
    pool: crate::store::counted::CountedPool<sqlx::Sqlite>,
    project: ProjectId,
    id: ConnectedAccountId,
    /// Written into the row when taken; only its owner may release it.
    owner: String,
    armed: bool,
}

type SqliteQuery<'q> = sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>>;

impl SqliteRefreshLease {
    /// Runs `update connected_account set <set>` and releases the lease, in one statement that
    /// only matches while this lease still owns the row. `$1` project, `$2` account, `$3` now,
    /// `$4` owner; `bind` adds the statement's own values from `$5` on.
    /// The change and its audit `event` commit together, and only while the lease is held.
    async fn finish(
        mut self: Box<Self>,
        set: &str,
        bind: impl for<'q> FnOnce(SqliteQuery<'q>) -> SqliteQuery<'q> + Send,
        event: impl for<'a> FnOnce(&'a ConnectedAccountId) -> AuditEvent<'a> + Send,
        emits: &[EventType],
    ) -> StoreResult<()> {
        let sql = format!(
            "update connected_account set {set}, updated_at = $3,
                    refresh_lease_owner = null, refresh_lease_until = null
             where project_id = $1 and id = $2 and refresh_lease_owner = $4"
        );
        let now = ts(Utc::now());
        let guard = &mut self.guard;
        let mut tx = guard.pool.begin_with(BEGIN_WRITE).await?;
        let query = sqlx::query(&sql)
            .bind(guard.project.0.to_string())
            .bind(guard.id.as_str().to_owned())
            .bind(now.clone())
            .bind(guard.owner.clone());
        let done = bind(query).execute(&mut *tx).await?;
        if done.rows_affected() == 1 {
            audit::record(&mut tx, guard.project, &event(&guard.id), &now).await?;
            for kind in emits {
                super::events::emit(&mut tx, guard.project, *kind, &guard.id, &now).await?;
            }
        }
        tx.commit().await?;
        guard.armed = false;
        Ok(())
    }
}

#[async_trait]
impl RefreshLease for SqliteRefreshLease {
    fn account(&self) -> &AccountRecord {
        &self.account
    }

    async fn save(self: Box<Self>, tokens_sealed: String, expires_at: Option<DateTime<Utc>>) -> StoreResult<()> {
        self.finish(
            "tokens_sealed = $5, token_expires_at = $6, refresh_retry_at = null, refresh_failures = 0",
            |q| q.bind(tokens_sealed).bind(expires_at.map(ts)),
            |id| credentials_updated(id, "refresh"),
            &[],
        )
        .await
    }

    async fn expire(self: Box<Self>, reason: &str) -> StoreResult<()> {
        let reason = reason.to_owned();
        let event_reason = reason.clone();
        self.finish(
            "status = 'EXPIRED', status_reason = $5",
            |q| q.bind(reason),
            move |id| account_expired(id, &event_reason),
            // Composio's `expired`, preceded by authlink's more specific `refresh_failed`.
            &[EventType::RefreshFailed, EventType::Expired],
        )
        .await
    }
}

/// A lease dropped without `save` or `expire` (nothing to store, or an error, the failed save
/// included) is released at once, in the background, so waiting readers do not sit out
/// [`LEASE_TTL`].
impl Drop for LeaseGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let (pool, project, id, owner) =
            (self.pool.clone(), self.project, self.id.clone(), std::mem::take(&mut self.owner));
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let released = sqlx::query(
                    "update connected_account set refresh_lease_owner = null, refresh_lease_until = null
                     where project_id = $1 and id = $2 and refresh_lease_owner = $3",
                )
                .bind(project.0.to_string())
                .bind(id.as_str().to_owned())
                .bind(owner)
                .execute(&pool)
                .await;
                if let Err(e) = released {
                    tracing::warn!(error = %e, "releasing a refresh lease failed; it expires on its own");
                }
            });
        }
    }
}
