//! Link creation with group commit (see [`crate::store::batch`]): SQLite has one writer, so
//! one worker writes the links of concurrent requests in one `BEGIN IMMEDIATE` transaction, one
//! commit (one fsync of the WAL, `synchronous=FULL`) for all of them.
//!
//! Each link is written under its own savepoint: a link that fails (an alias taken, a config
//! deleted or disabled meanwhile, any statement error) is rolled back to its savepoint alone and
//! answered with its own error; its neighbours are written. A failure of the database itself
//! (pool closed, commit refused, an I/O error) fails the whole batch, every waiter alike, and
//! nothing of it is written (one transaction).

use std::sync::Arc;

use chrono::Utc;
use sqlx::{SqliteConnection, SqlitePool};

use super::{BEGIN_WRITE, to_json, ts};
use crate::{
    domain::{EventType, SessionId},
    store::{
        AccountRecord, NewLink, ProjectId, StoreResult,
        batch::{self, Batcher, MAX_BATCH},
        error::{Constraint, StoreError},
        rows::{self, account_select},
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
    let mut results = Vec::with_capacity(jobs.len());
    if let [(project, link)] = jobs {
        // Alone: no savepoint needed, the transaction is the link's.
        match insert(&mut tx, *project, link).await {
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
            match insert(&mut tx, *project, link).await {
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

/// The account, its link and its `initiated` event; the auth config must still be live and
/// enabled (writes are serialized, so this check and a delete cannot interleave).
async fn insert(conn: &mut SqliteConnection, project: ProjectId, l: &NewLink) -> StoreResult<AccountRecord> {
    let now = ts(Utc::now());
    let written = sqlx::query(
        "insert into connected_account (id, project_id, user_id, toolkit, auth_config_id, alias, account_type,
                                        acl, status, initiation_expires_at, created_at, updated_at,
                                        link_url_sealed)
         select $1, $2, $3, $4, $5, $6, $7, $8, 'INITIATED', $9, $10, $10, $11
         where exists (select 1 from auth_config
                       where id = $5 and project_id = $2 and deleted_at is null and is_enabled)",
    )
    .bind(l.account_id.as_str())
    .bind(project.0.to_string())
    .bind(&l.user_id)
    .bind(l.toolkit.as_str())
    .bind(l.auth_config_id.as_str())
    .bind(&l.alias)
    .bind(l.account_type.as_str())
    .bind(l.acl.as_ref().map(to_json).transpose()?)
    .bind(ts(l.expires_at))
    .bind(&now)
    .bind(&l.link_url_sealed)
    .execute(&mut *conn)
    .await?;
    if written.rows_affected() != 1 {
        return Err(StoreError::Conflict(Constraint::AuthConfigGone));
    }
    sqlx::query(
        "insert into link (token_hash, project_id, connected_account_id, session_id, callback_url, expires_at,
                           created_at)
         values ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&l.token_hash)
    .bind(project.0.to_string())
    .bind(l.account_id.as_str())
    .bind(l.session_id.as_ref().map(SessionId::as_str))
    .bind(&l.callback_url)
    .bind(ts(l.expires_at))
    .bind(&now)
    .execute(&mut *conn)
    .await?;
    let row = sqlx::query(&format!("{} where a.project_id = $1 and a.id = $2", account_select("$3")))
        .bind(project.0.to_string())
        .bind(l.account_id.as_str())
        .bind(&now)
        .fetch_one(&mut *conn)
        .await?;
    let account = rows::account(&row)?;
    super::events::emit(conn, project, EventType::Initiated, &l.account_id, &now).await?;
    Ok(account)
}
