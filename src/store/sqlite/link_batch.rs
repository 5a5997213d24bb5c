//! Link creation with group commit (see [`crate::store::batch`]): SQLite has one writer, so
//! one worker writes the links of concurrent requests in one `BEGIN IMMEDIATE` transaction, one
//! commit (one fsync of the WAL, `synchronous=FULL`) for all of them.
//!
//! Each link is written under its own savepoint: a link that fails (an alias taken, a config
//! deleted or disabled meanwhile, any statement error) is rolled back to its savepoint alone and
//! answered with its own error; its neighbours are written. A failure of the database itself
//! (pool closed, commit refused, an I/O error) fails the whole batch, every waiter alike, and
//! nothing of it is written (one transaction).
//!
//! The writer is SQLite's bottleneck (one at a time), so each link costs as few statements as
//! its rules allow: the account is inserted and read back in one statement (`returning`), and
//! whether any subscription wants `initiated` events is asked once per batch, so a link that
//! nobody listens to writes no event statement at all.

use std::{
    collections::HashSet,
    sync::{Arc, LazyLock},
};

use chrono::Utc;
use sqlx::{SqliteConnection, SqlitePool};

use super::{BEGIN_WRITE, to_json, ts};
use crate::{
    domain::{EventType, SessionId},
    store::{
        AccountRecord, NewLink, ProjectId, StoreResult,
        batch::{self, Batcher, MAX_BATCH},
        error::{Constraint, StoreError},
        records::EXPIRED_REASON,
        rows,
    },
};

/// One link to write, with its project (a batch mixes projects).
pub(super) type LinkJob = (ProjectId, NewLink);
pub(super) type LinkBatcher = Batcher<LinkJob, StoreResult<AccountRecord>>;

/// The link writer of a pool: one, as SQLite writes one transaction at a time.
pub(super) fn batcher(pool: SqlitePool) -> LinkBatcher {
    Batcher::spawn(
        1,
        MAX_BATCH,
        Arc::new(move |jobs| {
            let pool = pool.clone();
            Box::pin(async move { write(&pool, jobs).await })
        }),
    )
}

async fn write(pool: &SqlitePool, jobs: Vec<LinkJob>) -> Vec<StoreResult<AccountRecord>> {
    match together(pool, &jobs).await {
        Ok(results) => results,
        Err(err) => batch::all_failed(&err, jobs.len()),
    }
}

async fn together(pool: &SqlitePool, jobs: &[LinkJob]) -> StoreResult<Vec<StoreResult<AccountRecord>>> {
    let mut tx = pool.begin_with(BEGIN_WRITE).await?;
    let now = ts(Utc::now());
    let listened = listening_projects(&mut tx).await?;
    let mut results = Vec::with_capacity(jobs.len());
    if let [(project, link)] = jobs {
        // Alone: no savepoint needed, the transaction is the link's.
        match insert(&mut tx, *project, link, &now, &listened).await {
            Err(err) if err.is_unavailable() => return Err(err),
            Err(err) => {
                tx.rollback().await?;
                return Ok(vec![Err(err)]);
            }
            Ok(account) => results.push(Ok(account)),
        }
    } else {
        for (project, link) in jobs {
            sqlx::query("savepoint link").execute(&mut *tx).await?;
            match insert(&mut tx, *project, link, &now, &listened).await {
                Err(err) if err.is_unavailable() => return Err(err),
                Err(err) => {
                    sqlx::query("rollback to link").execute(&mut *tx).await?;
                    results.push(Err(err));
                }
                Ok(account) => results.push(Ok(account)),
            }
            sqlx::query("release link").execute(&mut *tx).await?;
        }
    }
    tx.commit().await?;
    Ok(results)
}

/// The projects with an enabled subscription wanting `initiated` events, read in the batch's
/// write transaction (so no subscription can change under it): the others' links write no event.
async fn listening_projects(conn: &mut SqliteConnection) -> StoreResult<HashSet<String>> {
    let projects: Vec<String> = sqlx::query_scalar(
        "select distinct w.project_id from webhook_subscription w
         where w.disabled_at is null and exists (select 1 from json_each(w.enabled_events) where value = $1)",
    )
    .bind(EventType::Initiated.as_str())
    .fetch_all(&mut *conn)
    .await?;
    Ok(projects.into_iter().collect())
}

/// The account (read back by the insert itself, in the shape [`rows::account`] parses, its
/// effective status included), its link and, when its project listens, its `initiated` event;
/// the auth config must still be live and enabled (writes are serialized, so this check and a
/// delete cannot interleave).
async fn insert(
    conn: &mut SqliteConnection,
    project: ProjectId,
    l: &NewLink,
    now: &str,
    listened: &HashSet<String>,
) -> StoreResult<AccountRecord> {
    let project_text = project.0.to_string();
    let written = sqlx::query(&INSERT_ACCOUNT)
        .bind(l.account_id.as_str())
        .bind(&project_text)
        .bind(&l.user_id)
        .bind(l.toolkit.as_str())
        .bind(l.auth_config_id.as_str())
        .bind(&l.alias)
        .bind(l.account_type.as_str())
        .bind(l.acl.as_ref().map(to_json).transpose()?)
        .bind(ts(l.expires_at))
        .bind(now)
        .bind(&l.link_url_sealed)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(row) = written else {
        return Err(StoreError::Conflict(Constraint::AuthConfigGone));
    };
    let account = rows::account(&row)?;
    sqlx::query(
        "insert into link (token_hash, project_id, connected_account_id, session_id, callback_url, expires_at,
                           created_at)
         values ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&l.token_hash)
    .bind(&project_text)
    .bind(l.account_id.as_str())
    .bind(l.session_id.as_ref().map(SessionId::as_str))
    .bind(&l.callback_url)
    .bind(ts(l.expires_at))
    .bind(now)
    .execute(&mut *conn)
    .await?;
    if listened.contains(&project_text) {
        super::events::emit(conn, project, EventType::Initiated, &l.account_id, now).await?;
    }
    Ok(account)
}

/// The account insert of [`insert`], returning the columns of [`rows::account_select`]: the
/// auth config's by subqueries (`returning` sees only the inserted row), the status as
/// [`rows::effective_status`] computes it (`$10` is the operation's time).
static INSERT_ACCOUNT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "insert into connected_account (id, project_id, user_id, toolkit, auth_config_id, alias, account_type,
                                        acl, status, initiation_expires_at, created_at, updated_at,
                                        link_url_sealed)
         select $1, $2, $3, $4, $5, $6, $7, $8, 'INITIATED', $9, $10, $10, $11
         where exists (select 1 from auth_config
                       where id = $5 and project_id = $2 and deleted_at is null and is_enabled)
         returning id, user_id, toolkit, auth_config_id,
                   (select c.auth_scheme from auth_config c where c.id = connected_account.auth_config_id)
                       as auth_scheme,
                   (select c.is_composio_managed from auth_config c
                    where c.id = connected_account.auth_config_id) as is_composio_managed,
                   (select not c.is_enabled from auth_config c where c.id = connected_account.auth_config_id)
                       as auth_config_is_disabled,
                   alias, account_type, acl, {status} as status,
                   case when ({status}) = 'EXPIRED' and status = 'INITIATED'
                        then '{EXPIRED_REASON}' else status_reason end as status_reason,
                   is_disabled, tokens_sealed, token_expires_at, link_url_sealed, created_at, updated_at,
                   deleted_at is not null as deleted",
        status = "case when status = 'INITIATED' and initiation_expires_at < $10 then 'EXPIRED' else status end",
    )
});
