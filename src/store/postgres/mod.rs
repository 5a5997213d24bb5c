//! The PostgreSQL store, one file per resource. Runtime-checked queries (`sqlx::query`) so one
//! SQL text per operation stays readable and the crate builds without a database.

mod account_fields;
mod accounts;
mod audit;
mod auth_configs;
mod branding;
mod completion;
pub(crate) mod events;
mod idempotency;
mod keys;
mod lifecycle;
mod link_batch;
mod links;
mod maintenance;
mod refresh;
mod sessions;
mod webhooks;

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use sqlx::{
    PgPool, Row,
    postgres::{PgConnectOptions, PgPoolOptions, PgRow},
    types::Json,
};
use uuid::Uuid;

use super::{
    StoreResult,
    error::corrupt,
    rows::{Columns, native_columns},
};

/// Embedded migrations, applied at start (`authlink serve`) or by `authlink migrate`.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// How long a request waits for a pooled connection (or for a new one to be opened, or for the
/// ping that checks a pooled one) before the store reports itself unavailable: short, so a
/// database that is away is a 503 with `Retry-After` within a second (issue 17 item 2), not a
/// hung request. Under load a connection is free within milliseconds, far below this.
const ACQUIRE_TIMEOUT: Duration = Duration::from_millis(800);

/// The PostgreSQL implementation of [`Store`](super::Store).
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: crate::store::counted::CountedPool<sqlx::Postgres>,
    /// Link creation's group commit (see [`link_batch`]).
    links: link_batch::LinkBatcher,
}

impl PgStore {
    /// Connects a pool and applies pending migrations.
    pub async fn connect(url: &str, max_connections: u32) -> StoreResult<Self> {
        let options: PgConnectOptions = url.parse()?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        migrate(&pool).await?;
        let links = link_batch::batcher(pool.clone(), max_connections);
        Ok(Self { pool: crate::store::counted::CountedPool::new(pool), links })
    }

    pub fn pool(&self) -> &PgPool {
        self.pool.inner()
    }
}

/// Applies pending migrations. At a start the database is almost always up to date (`authlink
/// migrate` ran, or an earlier start did): then one query comparing the applied versions and
/// checksums with the embedded ones is enough, instead of the migrator's six round trips
/// (advisory lock, create table, two selects, unlock), a third of the time to `/readyz` on a
/// loaded machine. Anything else (a pending, failed or changed migration, one this binary does
/// not know, no migrations table yet) runs the migrator, which applies it or reports it exactly
/// as before.
async fn migrate(pool: &PgPool) -> StoreResult<()> {
    let applied: Result<Vec<(i64, Vec<u8>, bool)>, _> =
        sqlx::query_as("select version, checksum, success from _sqlx_migrations order by version")
            .fetch_all(pool)
            .await;
    if applied.is_ok_and(|applied| up_to_date(&MIGRATOR, &applied)) {
        return Ok(());
    }
    MIGRATOR.run(pool).await?;
    Ok(())
}

/// Whether `applied` (version, checksum, success) is exactly the migrator's migrations, each
/// applied successfully with the same checksum.
fn up_to_date(migrator: &sqlx::migrate::Migrator, applied: &[(i64, Vec<u8>, bool)]) -> bool {
    let expected: Vec<_> = migrator.iter().filter(|m| m.migration_type.is_up_migration()).collect();
    expected.len() == applied.len()
        && expected.iter().zip(applied).all(|(m, (version, checksum, success))| {
            *success && m.version == *version && m.checksum.as_ref() == checksum.as_slice()
        })
}

impl Columns for PgRow {
    native_columns!();

    fn time(&self, column: &str) -> StoreResult<DateTime<Utc>> {
        Ok(self.try_get(column)?)
    }

    fn opt_time(&self, column: &str) -> StoreResult<Option<DateTime<Utc>>> {
        Ok(self.try_get(column)?)
    }

    fn uuid(&self, column: &str) -> StoreResult<Uuid> {
        Ok(self.try_get(column)?)
    }

    fn opt_uuid(&self, column: &str) -> StoreResult<Option<Uuid>> {
        Ok(self.try_get(column)?)
    }

    fn opt_json<T: DeserializeOwned>(&self, column: &str) -> StoreResult<Option<T>> {
        let value: Option<Json<serde_json::Value>> = self.try_get(column)?;
        value.map(|Json(v)| serde_json::from_value(v).map_err(|e| corrupt(format!("{column}: {e}")))).transpose()
    }

    fn strings(&self, column: &str) -> StoreResult<Vec<String>> {
        Ok(self.try_get(column)?)
    }
}

/// A list bound as `text[]` (for `= any($n)`).
fn strings<T: AsRef<str>>(items: &[T]) -> Vec<String> {
    items.iter().map(|s| s.as_ref().to_owned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied() -> Vec<(i64, Vec<u8>, bool)> {
        MIGRATOR
            .iter()
            .filter(|m| m.migration_type.is_up_migration())
            .map(|m| (m.version, m.checksum.to_vec(), true))
            .collect()
    }

    #[test]
    fn only_the_exact_applied_set_skips_the_migrator() {
        assert!(up_to_date(&MIGRATOR, &applied()));
        let mut pending = applied();
        pending.pop();
        assert!(!up_to_date(&MIGRATOR, &pending), "a pending migration");
        let mut failed = applied();
        failed[0].2 = false;
        assert!(!up_to_date(&MIGRATOR, &failed), "a failed (dirty) migration");
        let mut changed = applied();
        changed[1].1[0] ^= 1;
        assert!(!up_to_date(&MIGRATOR, &changed), "a changed checksum");
        let mut unknown = applied();
        unknown.push((99_991_231_000_000, vec![0; 48], true));
        assert!(!up_to_date(&MIGRATOR, &unknown), "a migration this binary does not know");
        assert!(!up_to_date(&MIGRATOR, &[]), "a fresh database");
    }
}
