//! Link creation with group commit (see [`crate::store::batch`]): the links of concurrent
//! requests written in one transaction by one statement (the batch's columns bound as arrays and
//! expanded by `unnest`), one commit for all.
//!
//! No link can fail its neighbours: a taken alias is `on conflict do nothing` row by row (that
//! row is not written, answered as that link's 409; two links of one batch racing for one new
//! alias: the first is written, the second is the conflict) and a link whose config was deleted
//! or disabled meanwhile writes no row either (that link's 404). Any other statement error aborts
//! the transaction; the batch is then
//! written again one link per transaction, so only the link at fault fails. A failure of the
//! database itself (connection lost, pool closed, commit refused) fails the whole batch, every
//! waiter alike, and nothing of it is written (one transaction).

use std::{
    collections::HashMap,
    sync::{Arc, LazyLock},
};

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
    let written = match insert_many(&mut tx, jobs).await {
        Ok(written) => written,
        Err(err) if err.is_unavailable() => return Err(Failure::Database(err)),
        // The transaction is aborted (or a row unreadable): written again one by one.
        Err(_) => return Err(Failure::Row),
    };
    let mut by_id: HashMap<String, AccountRecord> =
        written.into_iter().map(|account| (account.id.as_str().to_owned(), account)).collect();
    let mut results = Vec::with_capacity(jobs.len());
    for (project, link) in jobs {
        match by_id.remove(link.account_id.as_str()) {
            Some(account) => results.push(Ok(account)),
            // Not written: its own conflict, asked in the same transaction (it is still usable).
            None => match not_written(&mut tx, *project, link).await {
                Ok(rule) => results.push(Err(StoreError::Conflict(rule))),
                Err(err) if err.is_unavailable() => return Err(Failure::Database(err)),
                Err(_) => return Err(Failure::Row),
            },
        }
    }
    tx.commit().await.map_err(|e| Failure::Database(e.into()))?;
    Ok(results)
}

/// Every link of a batch, with its account and `initiated` event, in one statement: the columns
/// bound as arrays (one element per link, in the jobs' order) and expanded by `unnest`. Returns
/// the accounts written; a link with no account returned was not written (see [`not_written`]).
/// The auth configs are share-locked as in [`insert`]; `on conflict do nothing` skips only the
/// rows that conflict (a taken alias), row by row, so the rest of the batch is written.
async fn insert_many(conn: &mut PgConnection, jobs: &[LinkJob]) -> StoreResult<Vec<AccountRecord>> {
    let acls = jobs
        .iter()
        .map(|(_, l)| l.acl.as_ref().map(serde_json::to_string).transpose())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| crate::store::error::corrupt(format!("acl: {e}")))?;
    let column = |f: fn(&LinkJob) -> Option<String>| jobs.iter().map(f).collect::<Vec<_>>();
    let rows = sqlx::query(&MANY_SQL)
        .bind(column(|(_, l)| Some(l.account_id.to_string())))
        .bind(jobs.iter().map(|(p, _)| p.0).collect::<Vec<_>>())
        .bind(column(|(_, l)| Some(l.user_id.clone())))
        .bind(column(|(_, l)| Some(l.toolkit.to_string())))
        .bind(column(|(_, l)| Some(l.auth_config_id.to_string())))
        .bind(column(|(_, l)| l.alias.clone()))
        .bind(column(|(_, l)| Some(l.account_type.as_str().to_owned())))
        .bind(acls)
        .bind(jobs.iter().map(|(_, l)| l.expires_at).collect::<Vec<_>>())
        .bind(jobs.iter().map(|(_, l)| l.token_hash.clone()).collect::<Vec<_>>())
        .bind(column(|(_, l)| l.session_id.as_ref().map(|s| s.as_str().to_owned())))
        .bind(column(|(_, l)| l.callback_url.clone()))
        .bind(column(|(_, l)| l.link_url_sealed.clone()))
        .bind(jobs.iter().map(|_| new_event_id()).collect::<Vec<_>>())
        .bind(EventType::Initiated.as_str())
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(rows::account).collect()
}

/// The statement of [`insert_many`], built once.
static MANY_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "with input as (
            select * from unnest($1::text[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[],
                                 $7::text[], $8::text[], $9::timestamptz[], $10::bytea[], $11::text[],
                                 $12::text[], $13::text[], $14::text[])
                with ordinality
                as i(id, project_id, user_id, toolkit, auth_config_id, alias, account_type, acl, expires_at,
                     token_hash, session_id, callback_url, link_url_sealed, event_id, n)
         ), live as (
            select c.id, c.project_id from auth_config c
            where (c.id, c.project_id) in (select auth_config_id, project_id from input)
              and c.deleted_at is null and c.is_enabled
            for share of c
         ), a as (
            insert into connected_account (id, project_id, user_id, toolkit, auth_config_id, alias, account_type,
                                           acl, status, initiation_expires_at, link_url_sealed)
            select i.id, i.project_id, i.user_id, i.toolkit, live.id, i.alias, i.account_type, i.acl::jsonb,
                   'INITIATED', i.expires_at, i.link_url_sealed
            from input i join live on live.id = i.auth_config_id and live.project_id = i.project_id
            order by i.n
            on conflict do nothing
            returning *
         ), l as (
            insert into link (token_hash, project_id, connected_account_id, session_id, callback_url, expires_at)
            select i.token_hash, a.project_id, a.id, i.session_id, i.callback_url, i.expires_at
            from a join input i on i.id = a.id
         ), {}
         {} ",
        // The `initiated` events, each with its own id, in the same statement.
        events::ctes("a join input i on i.id = a.id", "i.event_id", "$15"),
        account_select("now()").replace("from connected_account a", "from a")
    )
});

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
        events::ctes("a", "$14", "$15"),
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
