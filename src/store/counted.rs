//! A connection pool that counts the requests waiting for one of its connections: sqlx keeps no
//! such figure, and it is the one that says a pool is too small (issue 17 item 3, the
//! `authlink_db_pool_connections{state="waiting"}` gauge). Every store query goes through it:
//! `&CountedPool` is an [`Executor`] like `&Pool`, and [`CountedPool::begin`] replaces
//! `Pool::begin`; everything else is the pool's own (through `Deref`).

use std::{
    ops::Deref,
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
};

use futures::{StreamExt, future::BoxFuture, stream::BoxStream};
use sqlx::{Database, Describe, Either, Error, Execute, Executor, Pool, Transaction, pool::PoolConnection};

#[derive(Debug)]
pub struct CountedPool<DB: Database> {
    pool: Pool<DB>,
    waiting: Arc<AtomicU32>,
}

impl<DB: Database> Clone for CountedPool<DB> {
    fn clone(&self) -> Self {
        Self { pool: self.pool.clone(), waiting: self.waiting.clone() }
    }
}

/// One waiter, counted from its creation until it is dropped (connection got, or gave up).
struct Waiting(Arc<AtomicU32>);

impl Waiting {
    fn enter(count: &Arc<AtomicU32>) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Self(count.clone())
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl<DB: Database> CountedPool<DB> {
    pub fn new(pool: Pool<DB>) -> Self {
        Self { pool, waiting: Arc::default() }
    }

    /// The pool itself (its acquisitions are not counted).
    pub fn inner(&self) -> &Pool<DB> {
        &self.pool
    }

    /// Requests waiting for a connection now.
    pub fn waiting(&self) -> u32 {
        self.waiting.load(Ordering::Relaxed)
    }

    pub async fn acquire(&self) -> Result<PoolConnection<DB>, Error> {
        let _waiting = Waiting::enter(&self.waiting);
        self.pool.acquire().await
    }

    pub async fn begin(&self) -> Result<Transaction<'static, DB>, Error> {
        let _waiting = Waiting::enter(&self.waiting);
        self.pool.begin().await
    }
}

impl<DB: Database> Deref for CountedPool<DB> {
    type Target = Pool<DB>;

    fn deref(&self) -> &Pool<DB> {
        &self.pool
    }
}

/// As sqlx's `impl Executor for &Pool`, with a counted acquisition. A query's rows are read off
/// the connection before they are handed on (the store reads whole results anyway).
impl<'p, DB: Database> Executor<'p> for &'_ CountedPool<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    type Database = DB;

    fn fetch_many<'e, 'q: 'e, E>(self, query: E) -> BoxStream<'e, Result<Either<DB::QueryResult, DB::Row>, Error>>
    where
        E: 'q + Execute<'q, DB>,
    {
        let pool = self.clone();
        let rows = async move {
            match pool.acquire().await {
                Ok(mut conn) => conn.fetch_many(query).collect::<Vec<_>>().await,
                Err(e) => vec![Err(e)],
            }
        };
        Box::pin(futures::stream::once(rows).flat_map(futures::stream::iter))
    }

    fn fetch_optional<'e, 'q: 'e, E>(self, query: E) -> BoxFuture<'e, Result<Option<DB::Row>, Error>>
    where
        E: 'q + Execute<'q, DB>,
    {
        let pool = self.clone();
        Box::pin(async move { pool.acquire().await?.fetch_optional(query).await })
    }

    fn prepare_with<'e, 'q: 'e>(
        self,
        sql: &'q str,
        parameters: &'e [DB::TypeInfo],
    ) -> BoxFuture<'e, Result<DB::Statement<'q>, Error>> {
        let pool = self.clone();
        Box::pin(async move { pool.acquire().await?.prepare_with(sql, parameters).await })
    }

    fn describe<'e, 'q: 'e>(self, sql: &'q str) -> BoxFuture<'e, Result<Describe<DB>, Error>> {
        let pool = self.clone();
        Box::pin(async move { pool.acquire().await?.describe(sql).await })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use sqlx::sqlite::SqlitePoolOptions;

    use super::*;

    #[tokio::test]
    async fn waiters_are_counted_until_they_get_a_connection() {
        let pool = SqlitePoolOptions::new().max_connections(1).connect("sqlite::memory:").await.unwrap();
        let pool = CountedPool::new(pool);
        let held = pool.acquire().await.unwrap();
        assert_eq!(pool.waiting(), 0, "a connection that was free was waited for");
        let waiter = {
            let pool = pool.clone();
            tokio::spawn(async move { sqlx::query("select 1").execute(&pool).await.map(|_| ()) })
        };
        let until = tokio::time::Instant::now() + Duration::from_secs(5);
        while pool.waiting() == 0 {
            assert!(tokio::time::Instant::now() < until, "the query never waited");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(pool.waiting(), 1);
        drop(held);
        waiter.await.unwrap().unwrap();
        assert_eq!(pool.waiting(), 0);
    }
}
