//! Link creation with group commit (see [`crate::store::batch`]): the links of concurrent
//! requests written in one transaction, one statement per link, one commit for all.
//!
//! Each link's statement cannot fail its neighbours: a taken alias is `on conflict do nothing`
//! (no row, answered as that link's 409) and a config deleted or disabled meanwhile writes no row
//! either (that link's 404). Any other statement error aborts the transaction; the batch is then
//! written again one link per transaction, so only the link at fault fails. A failure of the
//! database itself (connection lost, pool closed, commit refused) fails the whole batch, every
//! waiter alike, and nothing of it is written (one transaction).

use std::sync::Arc;

use sqlx::{PgConnection, PgPool, types::Json};

use super::events;
use crate::{
    domain::{EventType, SessionId},
    store::{
        AccountRecord, NewLink, ProjectId, StoreResult,
        batch::{self, Batcher, MAX_BATCH},
        error::{Constraint, StoreError},
        new_event_id,
        rows::{self, account_select},
    },
};

/// One link to write, with its project (a batch mixes projects).
pub(super) type LinkJob = (ProjectId, NewLink);
pub(super) type LinkBatcher = Batcher<LinkJob, StoreResult<AccountRecord>>;

/// The link writers of a pool: a quarter of its connections (one to four), so reads keep
/// connections while every writer commits.
pub(super) fn batcher(pool: PgPool, max_connections: u32) -> LinkBatcher {
    let workers = (max_connections as usize / 4).clamp(1, 4);
    Batcher::spawn(
        workers,
        MAX_BATCH,
        Arc::new(move |jobs| {
            let pool = pool.clone();
            Box::pin(async move { write(&pool, jobs).await })
        }),
    )
}

async fn write(pool: &PgPool, jobs: Vec<LinkJob>) -> Vec<StoreResult<AccountRecord>> {
    if jobs.len() == 1 {
        // Alone: its statement is its transaction, as without batching.
        return vec![single(pool, &jobs[0]).await];
    }
    match together(pool, &jobs).await {
        Ok(results) => results,
        Err(Failure::Database(err)) => batch::all_failed(&err, jobs.len()),
        Err(Failure::Row) => {
            // Rolled back: each link again on its own, so only the one at fault fails.
            let mut results = Vec::with_capacity(jobs.len());
            for job in &jobs {
                results.push(single(pool, job).await);
            }
            results
        }
    }
}

enum Failure {
    /// The database or the transaction failed: nothing is written, every link fails.
    Database(StoreError),
    /// One link's statement failed and aborted the transaction.
    Row,
}

async fn single(pool: &PgPool, (project, link): &LinkJob) -> StoreResult<AccountRecord> {
    let mut conn = pool.acquire().await?;
    insert(&mut conn, *project, link).await?.map_err(StoreError::Conflict)
}

async fn together(pool: &PgPool, jobs: &[LinkJob]) -> Result<Vec<StoreResult<AccountRecord>>, Failure> {
    let mut tx = pool.begin().await.map_err(|e| Failure::Database(e.into()))?;
    let mut results = Vec::with_capacity(jobs.len());
    for (project, link) in jobs {
        match insert(&mut tx, *project, link).await {
            Ok(written) => results.push(written.map_err(StoreError::Conflict)),
            Err(err) if err.is_unavailable() => return Err(Failure::Database(err)),
            // The transaction is aborted (or the row unreadable): written again one by one.
            Err(_) => return Err(Failure::Row),
        }
    }
    tx.commit().await.map_err(|e| Failure::Database(e.into()))?;
    Ok(results)
}

/// The account, its link and its `initiated` event in one statement; `Err(rule)` inside when
/// no row was written (the transaction stays usable). The auth config is
/// share-locked and must still be live and enabled: a concurrent delete or disable either waits
/// for this link (and then takes its account too) or wins, and then no account is written.
async fn insert(
    conn: &mut PgConnection,
    project: ProjectId,
    l: &NewLink,
) -> StoreResult<Result<AccountRecord, Constraint>> {
    let sql = format!(
        "with live as (
            select id from auth_config
            where id = $5 and project_id = $2 and deleted_at is null and is_enabled
            for share
         ), a as (
            insert into connected_account (id, project_id, user_id, toolkit, auth_config_id, alias, account_type,
                                           acl, status, initiation_expires_at, link_url_sealed)
            select $1, $2, $3, $4, live.id, $6, $7, $8, 'INITIATED', $9, $13 from live
            on conflict do nothing
            returning *
         ), l as (
            insert into link (token_hash, project_id, connected_account_id, session_id, callback_url, expires_at)
            select $10, $2, a.id, $11, $12, $9 from a
         ), {}
         {} ",
        // The `initiated` event, in the same statement (so the same transaction).
        events::ctes("a", "$2", "$14", "$15"),
        account_select("now()").replace("from connected_account a", "from a")
    );
    let row = sqlx::query(&sql)
        .bind(l.account_id.as_str())
        .bind(project.0)
        .bind(&l.user_id)
        .bind(l.toolkit.as_str())
        .bind(l.auth_config_id.as_str())
        .bind(&l.alias)
        .bind(l.account_type.as_str())
        .bind(l.acl.as_ref().map(Json))
        .bind(l.expires_at)
        .bind(&l.token_hash)
        .bind(l.session_id.as_ref().map(SessionId::as_str))
        .bind(&l.callback_url)
        .bind(&l.link_url_sealed)
        .bind(new_event_id())
        .bind(EventType::Initiated.as_str())
        .fetch_optional(&mut *conn)
        .await?;
    match row {
        Some(row) => Ok(Ok(rows::account(&row)?)),
        None => Ok(Err(not_written(conn, project, l).await?)),
    }
}

/// Why a link's account was not written: its config is gone, or (the config being live) the
/// alias is taken.
async fn not_written(conn: &mut PgConnection, project: ProjectId, l: &NewLink) -> StoreResult<Constraint> {
    let live: bool = sqlx::query_scalar(
        "select exists (select 1 from auth_config
                        where id = $1 and project_id = $2 and deleted_at is null and is_enabled)",
    )
    .bind(l.auth_config_id.as_str())
    .bind(project.0)
    .fetch_one(&mut *conn)
    .await?;
    Ok(if live { Constraint::AccountAlias } else { Constraint::AuthConfigGone })
}
